/**
 * The paper's inference-time experiment (docs/spec.md §9, Appendix B; docs/design.md §4), reproducible on any
 * machine: generate exactly `newTokens` tokens from the paper prompt with temperature 1.0, top-k 0
 * and top-p 0.8, in each cache mode, for trained model directories or for presets with seeded
 * random weights (timing does not depend on the weights), and report the ratios the paper states
 * (no cache ÷ KV+G; PLDR ÷ SDPA) computed inside the same run.
 *
 * Shared with the other suites: the protocol (protocol.ts), the presets (presets.ts), model loading
 * (models.ts) and the statistics (stats.ts). Core never prints: progress goes to `onProgress`.
 */
import * as tf from '@tensorflow/tfjs';

import {backendThreads} from '../backend.js';
import {type ModelConfig} from '../config.js';
import {PldrError} from '../errors.js';
import {
  type Bandwidth,
  kvBytes,
  measureBandwidth,
  measureCopyBandwidth,
  measureCopyBandwidthThreads,
  paperTargets,
  type StreamRatio,
  streamRatios,
  type Target,
} from './targets.js';
import {generate, type GenerateResult} from '../generate.js';
import type {GList} from '../io/glist.js';
import {kernelThreads} from '../model/kernels.js';
import type {PldrModel} from '../model/pldr.js';
import {runAtOneThread} from './one-thread.js';
import {type ReferenceDecode, type ReferenceOptions, timeReferenceDecodes} from './reference.js';
import {
  PAPER_PROMPT,
  PAPER_SAMPLING,
  PAPER_NEW_TOKENS,
  PAPER_PROMPT_LENGTH,
  BENCH_MODES,
  type BenchMode,
  MODE_INFO,
} from './protocol.js';
import {type ModelFamily, type ModelSpec} from './presets.js';
import {type BenchModel, loadBenchModel, applicableModes, suppressEnd, emptyPromptGList} from './models.js';
import {
  type Summary,
  summarize,
  round,
  roundSummary,
  MB,
  collectGarbage,
  wasmHeapMb,
  maxRssMb,
  nonNegativeInt,
  positiveInt,
} from './stats.js';

// ---------------------------------------------------------------------------------------------
// The paper suite

export interface PaperOptions {
  models: ModelSpec[];
  modes?: BenchMode[];
  newTokens?: number;
  /** Timed samples per scenario (timeit's -r). */
  repeats?: number;
  /** Generations per sample (timeit's -n); a sample is their mean. */
  loops?: number;
  /** Untimed generations per scenario before timing. */
  warmup?: number;
  seed?: number;
  /** Measure the memory bandwidth at the end of the run and judge the targets against it (default true). */
  bandwidth?: boolean;
  /** Buffer size of the bandwidth measurement (default 128 MiB; --quick uses less, and is no measurement). */
  bandwidthMb?: number;
  /** Also generate this many tokens once per model (KV+G, or KV for a baseline), recording memory as it goes (0 = off). */
  long?: number;
  /** Time the reference (PyTorch) in KV+G on every PLDR model too, after pldr's own timings. */
  reference?: ReferenceOptions;
  /** On more than one thread, also time every scenario on one thread, in a child process (default true). */
  oneThread?: boolean;
  onProgress?: (message: string) => void;
}

export interface RunSample {
  repeat: number;
  loop: number;
  /** The whole call: tokenization, generation, detokenization. */
  total_ms: number;
  /** The prompt step (the first model call and its draw). */
  prompt_ms: number;
  /** The steps after the prompt. */
  decode_ms: number;
  tokens: number;
  /** [END] tokens among the generated ones: 0 when suppression works. */
  end_tokens: number;
  stop: GenerateResult['stop'];
  step_ms: number[];
  /** Positions the in-place KV-cache was allocated for; absent where the cache grows by concatenation. */
  kv_capacity?: number;
}

export interface MemoryStats {
  /** Process resident set: before the scenario's memory run, and its peak sampled after every step. */
  rss_before_mb: number;
  rss_peak_mb: number;
  /** The OS's high-water mark of the process so far (monotonic across scenarios). */
  process_max_rss_mb: number;
  /** tfjs tensor memory (tf.memory()): held before (the weights), and the peak after any step (weights + caches). */
  tensor_mb_before: number;
  tensor_mb_peak: number;
  tensors_before: number;
  /** Process resident set just before the model was loaded: peak − this is what the model costs (first model of a process). */
  rss_at_load_mb?: number;
  /** Tensors left over after the scenario (0: no leak). */
  tensors_leaked: number;
  /** The wasm backend's heap: never shrinks, so it is the peak of everything the backend allocated. */
  wasm_heap_mb?: number;
}

export interface PaperScenario {
  id: string;
  model: string;
  family: ModelFamily;
  mode: BenchMode;
  mode_description: string;
  samples: RunSample[];
  stats: {
    /** Over every generation (repeats × loops). */
    total_ms: Summary;
    /** timeit's view: the mean per loop in each repeat. */
    repeat_mean_ms: number[];
    prompt_ms: Summary;
    /** Decode steps only (the prompt step excluded). */
    ms_per_token: Summary;
    /** Generated tokens per second of the whole call. */
    tokens_per_s: number;
    tokens: number;
  };
  memory: MemoryStats;
  /** The same scenario on one thread (a run on more threads): medians, and how many times faster this run is. */
  one_thread?: {total_ms: number; ms_per_token: number; speedup: number; speedup_per_token: number};
}

export interface Ratio {
  id: string;
  kind: 'cache' | 'pldr-vs-baseline';
  label: string;
  numerator: {model: string; mode: BenchMode};
  denominator: {model: string; mode: BenchMode};
  /** median total ms of the numerator ÷ that of the denominator. */
  value: number;
  /** The same ratio repeat by repeat, from the repeats' mean times (two modes of one model ran back to back in each repeat). */
  per_repeat: number[];
  /** The ratio of decode ms per token. */
  per_token: number;
  paper?: string;
}

export interface BenchModelInfo {
  label: string;
  source: string;
  description: string;
  family: ModelFamily;
  variant: ModelConfig['variant'];
  params: number;
  random_weights: boolean;
  config: ModelConfig;
  tokenizer: boolean;
  prompt_ids: number[];
  prompt_source: 'tokenizer' | 'fixed ids';
  modes: BenchMode[];
  skipped_modes: {mode: BenchMode; why: string}[];
  /** Copy bandwidth measured just before this model was timed, GB/s (targets.ts). */
  copy_bandwidth_gb_s?: number;
  /** Where our kernels' products ran on more than one thread: their number, and the copy bandwidth of as many threads together, measured with the one above. */
  bandwidth_threads?: number;
  copy_bandwidth_threads_gb_s?: number;
  /** The reference on the same protocol in KV+G (--reference). */
  reference?: ReferenceDecode;
}

export interface PaperResult {
  suite: 'paper';
  /** The wasm backend's threads for pldr's timings (absent in older reports). */
  threads?: number;
  protocol: {
    prompt: string;
    sampling: {temperature: number; top_k: number; top_p: number};
    new_tokens: number;
    end_token: string;
    repeats: number;
    loops: number;
    warmup: number;
    seed: number;
    timing: string;
    order: string;
  };
  models: BenchModelInfo[];
  scenarios: PaperScenario[];
  ratios: Ratio[];
  /** Measured after the timings (absent with bandwidth: false). */
  bandwidth?: Bandwidth;
  stream?: StreamRatio[];
  long_runs?: LongRun[];
  targets?: Target[];
  notes: string[];
}

/** Memory as a long generation goes on: one row every `every` tokens. */
export interface LongRun {
  model: string;
  mode: BenchMode;
  tokens: number;
  every: number;
  rows: {
    token: number;
    tensors: number;
    tensor_bytes: number;
    kv_bytes: number;
    tensor_mb: number;
    kv_mb: number;
    js_heap_mb: number;
    rss_mb: number;
    wasm_heap_mb?: number;
  }[];
  ms_per_token_first_100: number;
  ms_per_token_last_100: number;
}

/** One generation as the paper times it: tokenize (when there is a tokenizer), generate, detokenize. */
async function oneGeneration(
  m: BenchModel,
  view: PldrModel,
  mode: BenchMode,
  n: number,
  seed: number,
  gList: GList | undefined,
  onToken?: () => void,
): Promise<Omit<RunSample, 'repeat' | 'loop'>> {
  const info = MODE_INFO[mode];
  const t0 = performance.now();
  const fed = m.tokenizer ? m.tokenizer.promptIds(PAPER_PROMPT) : m.promptIds;
  const r = await generate(view, fed, {
    maxNewTokens: n,
    sampling: {...PAPER_SAMPLING},
    seed,
    cache: info.cache,
    endId: m.endId,
    ...(info.external && gList ? {gInit: gList} : {}),
    ...(onToken ? {onToken} : {}),
  });
  if (m.tokenizer) m.tokenizer.decode(r.ids);
  const total = performance.now() - t0;
  const decode = r.timings.stepMs.reduce((a, b) => a + b, 0);
  return {
    total_ms: round(total),
    prompt_ms: round(r.timings.promptMs),
    decode_ms: round(decode),
    tokens: r.generated.length,
    end_tokens: r.generated.filter((id) => id === m.endId).length,
    stop: r.stop,
    step_ms: r.timings.stepMs.map((x) => round(x, 3)),
    ...(r.kvCapacity !== undefined ? {kv_capacity: r.kvCapacity} : {}),
  };
}

export function modelInfo(m: BenchModel, modes: BenchMode[], requested: readonly BenchMode[]): BenchModelInfo {
  return {
    label: m.label,
    source: m.source,
    description: m.description,
    family: m.family,
    variant: m.config.variant,
    params: m.params,
    random_weights: m.randomWeights,
    config: m.config,
    tokenizer: m.tokenizer !== undefined,
    prompt_ids: m.promptIds,
    prompt_source: m.promptSource,
    modes,
    skipped_modes: requested
      .filter((x) => !modes.includes(x))
      .map((mode) => ({
        mode,
        why: `a PLDRv51G model's G is constant: ${mode === 'g' ? 'g is the same computation as none' : mode === 'kv+g' ? 'kv+g is the same computation as kv' : 'an external G costs what kv costs'}`,
      })),
  };
}

/** Run the Appendix-B experiment. Models are loaded one at a time; modes are interleaved within each repeat. */
export async function runPaper(opts: PaperOptions): Promise<PaperResult> {
  const requested = opts.modes ?? [...BENCH_MODES];
  const n = positiveInt(opts.newTokens ?? PAPER_NEW_TOKENS, 'the number of new tokens');
  const repeats = positiveInt(opts.repeats ?? 5, 'repeats (-r)');
  const loops = positiveInt(opts.loops ?? 1, 'loops (-n)');
  const warmup = nonNegativeInt(opts.warmup ?? 1, 'warm-up runs');
  const seed = opts.seed ?? 0;
  const say = opts.onProgress ?? (() => {});
  if (opts.models.length === 0) throw new PldrError('no model to time: give --model DIR or --preset NAME');

  const models: BenchModelInfo[] = [];
  const scenarios: PaperScenario[] = [];
  const longRuns: LongRun[] = [];
  for (const spec of opts.models) {
    say(`loading ${'dir' in spec ? spec.dir : `preset ${spec.preset} (random weights)`}`);
    collectGarbage();
    const rssAtLoad = process.memoryUsage.rss();
    const m = await loadBenchModel(spec, seed);
    const view = suppressEnd(m.model, m.endId);
    try {
      if (m.promptIds.length + n - 1 > m.config.max_seq_len)
        throw new PldrError(
          `${m.label}: prompt (${m.promptIds.length}) + ${n} new tokens exceed max_seq_len ${m.config.max_seq_len}: use fewer --tokens`,
        );
      const modes = applicableModes(m.family, requested);
      models.push(modelInfo(m, modes, requested));
      if (modes.length === 0) continue;
      if (opts.bandwidth !== false) {
        say(`${m.label}: memory bandwidth`);
        const info = models[models.length - 1]!;
        info.copy_bandwidth_gb_s = measureCopyBandwidth(opts.bandwidthMb);
        const threads = kernelThreads();
        if (threads > 1)
          Object.assign(info, {
            bandwidth_threads: threads,
            copy_bandwidth_threads_gb_s: await measureCopyBandwidthThreads(threads, opts.bandwidthMb),
          });
      }
      const gList = modes.includes('ext-g') ? emptyPromptGList(m) : undefined;
      const tensorsBefore = tf.memory().numTensors;
      const samples = new Map<BenchMode, RunSample[]>(modes.map((x) => [x, []]));

      for (let w = 0; w < warmup; w++)
        for (const mode of modes) {
          say(`${m.label}: warm-up ${w + 1}/${warmup}, ${mode}`);
          await oneGeneration(m, view.model, mode, n, seed + 1_000_000 + w, gList);
        }
      let k = 0;
      for (let rep = 0; rep < repeats; rep++) {
        say(`${m.label}: repeat ${rep + 1}/${repeats} (${modes.join(', ')})`);
        for (const mode of modes)
          for (let loop = 0; loop < loops; loop++)
            samples
              .get(mode)!
              .push({repeat: rep, loop, ...(await oneGeneration(m, view.model, mode, n, seed + k++, gList))});
      }
      for (const mode of modes) {
        say(`${m.label}: memory, ${mode}`);
        const memory = await memoryRun(m, view.model, mode, n, seed, gList);
        scenarios.push(scenario(m, mode, samples.get(mode)!, memory));
      }
      const leaked = tf.memory().numTensors - tensorsBefore;
      for (const s of scenarios)
        if (s.model === m.label) {
          s.memory.tensors_leaked = leaked;
          s.memory.rss_at_load_mb = round(rssAtLoad / MB, 1);
        }
      if (opts.long) {
        const mode: BenchMode = m.family === 'pldr' ? 'kv+g' : 'kv';
        say(`${m.label}: ${opts.long} tokens in one ${mode} generation, recording memory`);
        longRuns.push(await longRun(m, view.model, mode, opts.long, seed));
      }
    } finally {
      view.dispose();
      m.model.dispose();
    }
  }
  const threads = backendThreads();
  if (threads > 1 && opts.oneThread !== false) {
    say('the same scenarios on one thread (a child process)');
    const base = await runAtOneThread<PaperResult>(
      {module: 'paper.js', fn: 'runPaper'},
      {...opts, reference: undefined, bandwidth: false, long: 0, oneThread: false, onProgress: undefined},
      say,
    );
    for (const sc of scenarios) {
      const one = base.scenarios.find((b) => b.id === sc.id);
      if (!one) continue;
      const [total, perToken] = [one.stats.total_ms.median, one.stats.ms_per_token.median];
      sc.one_thread = {
        total_ms: total,
        ms_per_token: perToken,
        speedup: round(total / sc.stats.total_ms.median, 2),
        speedup_per_token: round(perToken / sc.stats.ms_per_token.median, 2),
      };
    }
  }
  if (opts.reference)
    timeReferenceDecodes(models, {newTokens: n, repeats: repeats * loops, warmup, seed}, opts.reference, say);
  let bandwidth: Bandwidth | undefined;
  if (opts.bandwidth !== false) {
    say('memory bandwidth (copy and matMul of 128 MiB)');
    bandwidth = measureBandwidth(opts.bandwidthMb);
    const threads = kernelThreads();
    if (threads > 1)
      Object.assign(bandwidth, {
        threads,
        copy_threads_gb_s: await measureCopyBandwidthThreads(threads, opts.bandwidthMb),
      });
  }
  const ratios = paperRatios(scenarios, models);
  const stream = bandwidth ? streamRatios(scenarios, models, bandwidth) : undefined;
  return {
    suite: 'paper',
    threads,
    protocol: {
      prompt: PAPER_PROMPT,
      sampling: {temperature: PAPER_SAMPLING.temperature, top_k: PAPER_SAMPLING.topK, top_p: PAPER_SAMPLING.topP},
      new_tokens: n,
      end_token: `suppressed: its logit is set to −1e10 before sampling, so every generation has exactly ${n} new tokens`,
      repeats,
      loops,
      warmup,
      seed,
      timing:
        'one sample = the mean of `loops` generations; a generation is timed from tokenizing the prompt to detokenizing the output (as the paper), or from the fixed ids to the generated ids when the model has no tokenizer',
      order:
        'models one after another; within a model, each repeat runs every mode in turn (interleaved), after `warmup` untimed generations per mode; memory is measured in one more, untimed, generation per mode',
    },
    models,
    scenarios,
    ratios,
    ...(bandwidth ? {bandwidth, stream} : {}),
    ...(longRuns.length ? {long_runs: longRuns} : {}),
    targets: [...paperTargets(scenarios, models, ratios, stream ?? [], n), ...longRuns.map(longTarget)],
    notes: paperNotes(models),
  };
}

/** One long generation; tensors, tensor bytes, JS heap, RSS and the wasm heap every 50 tokens (every n/10 below 500). */
async function longRun(m: BenchModel, view: PldrModel, mode: BenchMode, n: number, seed: number): Promise<LongRun> {
  const every = n >= 500 ? 50 : Math.max(1, Math.floor(n / 10));
  const P = m.promptIds.length;
  if (P + n - 1 > m.config.max_seq_len)
    throw new PldrError(
      `${m.label}: --long ${n} exceeds max_seq_len ${m.config.max_seq_len} with a ${P}-token prompt: use at most ${m.config.max_seq_len - P + 1}`,
    );
  const rows: LongRun['rows'] = [];
  let token = 0;
  const probe = () => {
    token++;
    if (token % every !== 0 && token !== 1) return;
    const heap = wasmHeapMb();
    const bytes = tf.memory().numBytes;
    rows.push({
      token,
      tensors: tf.memory().numTensors,
      tensor_bytes: bytes,
      kv_bytes: 0, // below: only the finished run tells whether the cache was allocated in place
      tensor_mb: round(bytes / MB, 2),
      kv_mb: 0,
      js_heap_mb: round(process.memoryUsage().heapUsed / MB, 1),
      rss_mb: round(process.memoryUsage.rss() / MB, 1),
      ...(heap !== undefined ? {wasm_heap_mb: heap} : {}),
    });
  };
  const r = await oneGeneration(m, view, mode, n, seed, undefined, probe);
  for (const row of rows) {
    // an in-place cache holds its capacity from the prompt call on; a concatenated one what was fed
    row.kv_bytes = kvBytes(m.config, r.kv_capacity ?? P + row.token - 1);
    row.kv_mb = round(row.kv_bytes / MB, 2);
  }
  const mean = (v: number[]) => round(v.reduce((a, b) => a + b, 0) / Math.max(1, v.length), 3);
  return {
    model: m.label,
    mode,
    tokens: n,
    every,
    rows,
    ms_per_token_first_100: mean(r.step_ms.slice(0, 100)),
    ms_per_token_last_100: mean(r.step_ms.slice(-100)),
  };
}

/** No growth: the tensor count is constant, and tensor bytes grow by exactly the KV-cache's growth. */
function longTarget(run: LongRun): Target {
  const rows = run.rows.length > 1 ? run.rows.slice(1) : run.rows; // after the first token every cache exists
  const counts = new Set(rows.map((x) => x.tensors));
  const extra = rows.map((x) => x.tensor_bytes - x.kv_bytes);
  const drift = Math.max(...extra) - Math.min(...extra);
  const js = rows.map((x) => x.js_heap_mb);
  const first = rows[0]!;
  const last = rows[rows.length - 1]!;
  return {
    id: `growth/${run.model}`,
    target: `${run.model}: no growth over ${run.tokens} generated tokens (${run.mode.toUpperCase()})`,
    measured:
      `tensors ${[...counts].join(', ')}; tensor bytes beyond the KV-cache vary by ${drift} bytes; JS heap ${Math.min(...js).toFixed(0)}–${Math.max(...js).toFixed(0)} MB; ` +
      `RSS ${first.rss_mb.toFixed(0)} → ${last.rss_mb.toFixed(0)} MB while the KV-cache grew ${(last.kv_mb - first.kv_mb).toFixed(0)} MB; ms/token ${run.ms_per_token_first_100} (first 100) → ${run.ms_per_token_last_100} (last 100)`,
    goal: 'constant tensor count; tensor bytes = weights + KV-cache',
    met: counts.size === 1 && drift === 0,
  };
}

async function memoryRun(
  m: BenchModel,
  view: PldrModel,
  mode: BenchMode,
  n: number,
  seed: number,
  gList: GList | undefined,
): Promise<MemoryStats> {
  collectGarbage(); // the host copies of the weights and the timed runs' garbage are not the model's memory
  const before = tf.memory();
  const rssBefore = process.memoryUsage.rss();
  let rssPeak = rssBefore;
  let tensorPeak = before.numBytes;
  const probe = () => {
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    tensorPeak = Math.max(tensorPeak, tf.memory().numBytes);
  };
  await oneGeneration(m, view, mode, n, seed, gList, probe);
  const heap = wasmHeapMb();
  return {
    rss_before_mb: round(rssBefore / MB, 1),
    rss_peak_mb: round(rssPeak / MB, 1),
    process_max_rss_mb: maxRssMb(),
    tensor_mb_before: round(before.numBytes / MB, 2),
    tensor_mb_peak: round(tensorPeak / MB, 2),
    tensors_before: before.numTensors,
    tensors_leaked: 0,
    ...(heap !== undefined ? {wasm_heap_mb: heap} : {}),
  };
}

function scenario(m: BenchModel, mode: BenchMode, samples: RunSample[], memory: MemoryStats): PaperScenario {
  const byRepeat = new Map<number, number[]>();
  for (const s of samples) byRepeat.set(s.repeat, [...(byRepeat.get(s.repeat) ?? []), s.total_ms]);
  const total = summarize(samples.map((s) => s.total_ms));
  const tokens = samples[0]?.tokens ?? 0;
  return {
    id: `${m.label}/${mode}`,
    model: m.label,
    family: m.family,
    mode,
    mode_description: MODE_INFO[mode].description,
    samples,
    stats: {
      total_ms: roundSummary(total),
      repeat_mean_ms: [...byRepeat.values()].map((v) => round(v.reduce((a, b) => a + b, 0) / v.length)),
      prompt_ms: roundSummary(summarize(samples.map((s) => s.prompt_ms))),
      ms_per_token: roundSummary(
        summarize(samples.map((s) => (s.tokens > 1 ? s.decode_ms / (s.tokens - 1) : NaN)).filter(Number.isFinite)),
      ),
      tokens_per_s: round(total.median > 0 ? (tokens * 1000) / total.median : NaN, 2),
      tokens,
    },
    memory,
  };
}

const CACHE_CLAIM = 'caching makes PLDR-LLM inference about 3× faster (no cache ÷ KV+G ≈ 3)';
const BASELINE_CLAIMS: Record<string, string> = {
  'PLDRv51-104M': 'with both caches, PLDRv51-104M is up to 27% faster than GPT-Neo-125M',
  'PLDRv51-110M-1': 'with both caches, PLDRv51-110M-1 is up to 39% faster than GPT-Neo-125M',
};

function ratio(kind: Ratio['kind'], label: string, a: PaperScenario, b: PaperScenario, paper?: string): Ratio {
  const ra = a.stats.repeat_mean_ms;
  const rb = b.stats.repeat_mean_ms;
  return {
    id: `${a.id} ÷ ${b.id}`,
    kind,
    label,
    numerator: {model: a.model, mode: a.mode},
    denominator: {model: b.model, mode: b.mode},
    value: round(a.stats.total_ms.median / b.stats.total_ms.median),
    per_repeat: ra.slice(0, Math.min(ra.length, rb.length)).map((x, i) => round(x / rb[i])),
    per_token: round(a.stats.ms_per_token.median / b.stats.ms_per_token.median),
    ...(paper ? {paper} : {}),
  };
}

/** The paper's ratios: per PLDR model no cache ÷ KV+G; per (PLDR, baseline) pair PLDR KV+G ÷ baseline KV. */
function paperRatios(scenarios: PaperScenario[], models: BenchModelInfo[]): Ratio[] {
  const find = (model: string, mode: BenchMode) => scenarios.find((s) => s.model === model && s.mode === mode);
  const out: Ratio[] = [];
  const pldr = models.filter((m) => m.family === 'pldr');
  const base = models.filter((m) => m.family !== 'pldr');
  for (const m of pldr) {
    const a = find(m.label, 'none');
    const b = find(m.label, 'kv+g');
    if (a && b) out.push(ratio('cache', `${m.label}: no cache ÷ KV+G`, a, b, CACHE_CLAIM));
  }
  for (const m of pldr)
    for (const s of base) {
      const a = find(m.label, 'kv+g');
      const b = find(s.label, 'kv');
      const claim = s.label === 'SDPA-GPT-Neo-125M' ? BASELINE_CLAIMS[m.label] : undefined;
      const what = s.family === 'sdpa' ? 'SDPA' : 'constant G';
      if (a && b) out.push(ratio('pldr-vs-baseline', `${m.label} (KV+G) ÷ ${s.label} (${what}, KV)`, a, b, claim));
    }
  return out;
}

function paperNotes(models: BenchModelInfo[]): string[] {
  const notes = [
    'Absolute times depend on the machine, the backend and its load; compare ratios measured in the same run (docs/spec.md §9).',
    'The paper stops on [END]; here the end token is suppressed so that every generation has the same length and ms per token is comparable across modes.',
    'The SDPA baselines run through this engine as PLDRv51G with G = identity (docs/spec.md §1): attention is softmax(Q·I·Kᵀ/√d_k)·V, so they do one more small product per layer than a dedicated SDPA kernel would.',
    "Ratios against a baseline use the PLDR model's KV+G time and the baseline's KV time (a constant-G model has nothing else to cache), as the paper compared both caches on against GPT-Neo with use_cache=True.",
    'ext-g includes handing the G list to the backend at the start of every generation (N·H·d_k² floats per tensor), as generate takes it from the host.',
  ];
  if (models.some((m) => m.prompt_source === 'fixed ids'))
    notes.push(
      `Models without a tokenizer (the presets with random weights) are fed a fixed prompt of ${PAPER_PROMPT_LENGTH} token ids, the paper prompt's length with the paper tokenizer; their timing then excludes tokenization.`,
    );
  if (models.some((m) => m.random_weights))
    notes.push(
      'Presets have seeded random weights: the cost of a step does not depend on the weights, only on the shapes.',
    );
  return notes;
}
