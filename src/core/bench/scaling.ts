/**
 * Cost of a generated token against its position (docs/design.md §4): generate up to
 * max_seq_len (or a cap) with the end token suppressed and record every step's time. Without a
 * cache a step reruns the whole sequence, so its cost grows with the position; with the KV-cache
 * a step feeds one token, so it should stay nearly flat (attention over the cache grows, slowly).
 */
import {PldrError} from '../errors.js';
import {generate} from '../generate.js';
import {applicableModes, loadBenchModel, suppressEnd} from './models.js';
import {type BenchModelInfo, modelInfo} from './paper.js';
import type {ModelSpec} from './presets.js';
import {type BenchMode, MODE_INFO, PAPER_SAMPLING} from './protocol.js';
import {positiveInt, round} from './stats.js';

export const SCALING_MODES = ['none', 'kv', 'kv+g'] as const satisfies readonly BenchMode[];
export type ScalingMode = (typeof SCALING_MODES)[number];

export interface ScalingOptions {
  models: ModelSpec[];
  modes?: ScalingMode[];
  /** Last position to reach (context length of the last step); default and upper bound: max_seq_len. */
  maxPositions?: number;
  repeats?: number;
  /** Untimed short generations per mode first. */
  warmup?: number;
  seed?: number;
  /** Bins of the summary table. */
  bins?: number;
  onProgress?: (message: string) => void;
}

export interface ScalingBin {
  from: number;
  to: number;
  /** Median ms per token over the bin's positions (robust to a stray GC pause). */
  median_ms: number;
}

export interface ScalingSeries {
  id: string;
  model: string;
  mode: ScalingMode;
  mode_description: string;
  /** Context length the model saw at each decode step: prompt length + tokens generated before it. */
  positions: number[];
  /** Per repeat, the decode step times in ms, aligned with `positions`. */
  samples_ms: number[][];
  /** Per position, the median over repeats. */
  median_ms: number[];
  /** Per repeat, the prompt step. */
  prompt_ms: number[];
  /** Per repeat, the whole generation. */
  total_ms: number[];
  bins: ScalingBin[];
  /** Least-squares slope of median ms against position, in microseconds per extra position. */
  slope_us_per_position: number;
  /** The last bin's median ms per token ÷ the first bin's. */
  last_over_first: number;
  tokens: number;
}

export interface ScalingResult {
  suite: 'scaling';
  protocol: {
    sampling: {temperature: number; top_k: number; top_p: number};
    max_positions: number | null;
    repeats: number;
    warmup: number;
    seed: number;
    end_token: string;
    order: string;
  };
  models: (BenchModelInfo & {prompt_length: number; last_position: number})[];
  series: ScalingSeries[];
  notes: string[];
}

export function parseScalingModes(modes: BenchMode[]): ScalingMode[] {
  const bad = modes.filter((m) => !(SCALING_MODES as readonly string[]).includes(m));
  if (bad.length)
    throw new PldrError(`scaling times ${SCALING_MODES.join(', ')} only; drop ${bad.join(', ')} from --modes`);
  return modes as ScalingMode[];
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/** Slope of the least-squares line through (x, y). */
export function slope(x: number[], y: number[]): number {
  const n = x.length;
  if (n < 2) return NaN;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
  }
  return sxx > 0 ? sxy / sxx : NaN;
}

/** The median of y over `count` equal runs of consecutive points. */
export function binned(x: number[], y: number[], count: number): ScalingBin[] {
  const n = x.length;
  const k = Math.max(1, Math.min(count, n));
  const out: ScalingBin[] = [];
  for (let b = 0; b < k; b++) {
    const lo = Math.floor((b * n) / k);
    const hi = Math.floor(((b + 1) * n) / k);
    if (hi <= lo) continue;
    out.push({from: x[lo], to: x[hi - 1], median_ms: round(median(y.slice(lo, hi)))});
  }
  return out;
}

export async function runScaling(opts: ScalingOptions): Promise<ScalingResult> {
  const requested = opts.modes ?? [...SCALING_MODES];
  const repeats = positiveInt(opts.repeats ?? 1, 'repeats (-r)');
  const warmup = opts.warmup ?? 1;
  if (!Number.isInteger(warmup) || warmup < 0)
    throw new PldrError(`warm-up runs must be a non-negative integer, got ${warmup}`);
  const seed = opts.seed ?? 0;
  const cap = opts.maxPositions !== undefined ? positiveInt(opts.maxPositions, '--max-positions') : undefined;
  const say = opts.onProgress ?? (() => {});
  if (opts.models.length === 0) throw new PldrError('no model to time: give --model DIR or --preset NAME');

  const models: ScalingResult['models'] = [];
  const series: ScalingSeries[] = [];
  for (const spec of opts.models) {
    say(`loading ${'dir' in spec ? spec.dir : `preset ${spec.preset} (random weights)`}`);
    const m = await loadBenchModel(spec, seed);
    const view = suppressEnd(m.model, m.endId);
    try {
      const P = m.promptIds.length;
      const last = Math.min(cap ?? m.config.max_seq_len, m.config.max_seq_len);
      if (last < P + 1)
        throw new PldrError(
          `${m.label}: --max-positions ${last} leaves no room after the ${P}-token prompt: use at least ${P + 1}`,
        );
      const n = last - P + 1; // P + n − 1 = last positions used
      const modes = applicableModes(m.family, requested) as ScalingMode[];
      models.push({...modelInfo(m, modes, requested), prompt_length: P, last_position: last});
      const run = async (mode: ScalingMode, tokens: number, s: number) =>
        generate(view.model, m.promptIds, {
          maxNewTokens: tokens,
          sampling: {...PAPER_SAMPLING},
          seed: s,
          cache: MODE_INFO[mode].cache,
          endId: m.endId,
        });
      for (let w = 0; w < warmup; w++)
        for (const mode of modes) {
          say(`${m.label}: warm-up ${w + 1}/${warmup}, ${mode}`);
          await run(mode, Math.min(n, 8), seed + 1_000_000 + w);
        }
      const per = new Map<ScalingMode, {steps: number[][]; prompt: number[]; total: number[]; tokens: number}>(
        modes.map((x) => [x, {steps: [], prompt: [], total: [], tokens: 0}]),
      );
      for (let rep = 0; rep < repeats; rep++)
        for (const mode of modes) {
          say(`${m.label}: repeat ${rep + 1}/${repeats}, ${mode}, ${n} tokens to position ${last}`);
          const t0 = performance.now();
          const r = await run(mode, n, seed + rep);
          const rec = per.get(mode)!;
          rec.total.push(round(performance.now() - t0));
          rec.prompt.push(round(r.timings.promptMs));
          rec.steps.push(r.timings.stepMs.map((x) => round(x, 3)));
          rec.tokens = r.generated.length;
        }
      const positions = Array.from({length: n - 1}, (_, i) => P + 1 + i);
      for (const mode of modes) {
        const rec = per.get(mode)!;
        const med = positions.map((_, i) =>
          round(median(rec.steps.map((s) => s[i]).filter((v) => v !== undefined)), 3),
        );
        const bins = binned(positions, med, opts.bins ?? 8);
        series.push({
          id: `${m.label}/${mode}`,
          model: m.label,
          mode,
          mode_description: MODE_INFO[mode].description,
          positions,
          samples_ms: rec.steps,
          median_ms: med,
          prompt_ms: rec.prompt,
          total_ms: rec.total,
          bins,
          slope_us_per_position: round(slope(positions, med) * 1000, 3),
          last_over_first: bins.length ? round(bins[bins.length - 1].median_ms / bins[0].median_ms) : NaN,
          tokens: rec.tokens,
        });
      }
    } finally {
      view.dispose();
      m.model.dispose();
    }
  }
  return {
    suite: 'scaling',
    protocol: {
      sampling: {temperature: PAPER_SAMPLING.temperature, top_k: PAPER_SAMPLING.topK, top_p: PAPER_SAMPLING.topP},
      max_positions: cap ?? null,
      repeats,
      warmup,
      seed,
      end_token: 'suppressed (logit −1e10 before sampling): every generation runs to the last position',
      order: 'models one after another; within a model, each repeat runs every mode in turn',
    },
    models,
    series,
    notes: [
      'Position = the context length the model sees at that step (prompt + tokens generated before it). The prompt step is reported apart (prompt_ms).',
      'Without a cache a step reruns the whole sequence, so its cost grows with the position; KV steps feed one token, so only attention over the cache grows.',
      'Step times are single measurements per repeat and are noisy; the bins take the median over consecutive positions, the slope is a least-squares fit over all of them.',
    ],
  };
}
