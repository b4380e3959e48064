/**
 * Micro-benchmarks of the pieces of a PLDR-LLM step, measured with mitata's `measure` (its
 * sampling loop, without its printer): the metric learner, PLGA (A → A_LM → A_P → G_LM),
 * attention with a cached G against SDPA, one cached decode step, the full forward on a prompt,
 * and the output projection.
 *
 * The metric learner, PLGA and the output projection are the model's own functions
 * (model/pldr.ts) on its prepared weights; the attention is composed here from the model's batched
 * product. The decode step and the full forward call the model itself.
 */
import * as tf from '@tensorflow/tfjs';
import {measure} from 'mitata';

import {PldrError} from '../errors.js';
import {type PldrModel} from '../model/pldr.js';
import {bmm} from '../model/grads.js';
import {createMask, metricLearner, plga} from '../model/forward.js';
import {disposeAllBut, type GCache, type KVCache} from '../model/cache.js';
import {outputLayer} from '../model/linear.js';
import {fixedPromptIds, loadBenchModel} from './models.js';
import {type BenchModelInfo, modelInfo} from './paper.js';
import type {ModelSpec} from './presets.js';
import {PAPER_PROMPT_LENGTH} from './protocol.js';
import {round} from './stats.js';

type MitataStats = Awaited<ReturnType<typeof measure>>;

// ---------------------------------------------------------------------------------------------
// The pieces: the model's own functions (model/pldr.ts), and the attention they feed

/** §3.7 without a mask: softmax(q·G·Kᵀ/√dk)·V, or SDPA when G is null. */
function attention(q: tf.Tensor, G: tf.Tensor | null, kT: tf.Tensor, v: tf.Tensor, dk: number): tf.Tensor {
  const qG = G ? bmm(q, G) : q;
  return bmm(tf.softmax(tf.div(bmm(qG, kT), Math.fround(Math.sqrt(dk)))), v);
}

// ---------------------------------------------------------------------------------------------

export interface MicroOptions {
  models: ModelSpec[];
  /** Tokens of the prompt the metric learner and the full forward see; default 10 (the paper prompt). */
  promptLength?: number;
  /** Cached positions of the attention and decode-step benchmarks; default 110 (prompt + 100 tokens). */
  context?: number;
  /** mitata's minimum measuring time per benchmark, ms; default 1000. */
  minTimeMs?: number;
  /** Fewer samples: for tests. */
  quick?: boolean;
  seed?: number;
  onProgress?: (message: string) => void;
}

export interface MicroBenchmark {
  id: string;
  model: string;
  name: string;
  description: string;
  /** Nanoseconds per call (mitata trims the 2 fastest and 2 slowest samples when it has more than 12). */
  avg_ns: number;
  min_ns: number;
  max_ns: number;
  p25_ns: number;
  p50_ns: number;
  p75_ns: number;
  p99_ns: number;
  /** Calls timed. */
  ticks: number;
  samples_ns: number[];
}

export interface MicroRatio {
  id: string;
  label: string;
  value: number;
}

export interface MicroResult {
  suite: 'micro';
  protocol: {
    prompt_length: number;
    context: number;
    min_time_ms: number;
    min_samples: number;
    max_samples: number;
    tool: string;
    readback: string;
  };
  models: (BenchModelInfo & {prompt_length: number; context: number})[];
  benchmarks: MicroBenchmark[];
  ratios: MicroRatio[];
  notes: string[];
}

interface Case {
  name: string;
  description: string;
  fn: () => void;
}

export async function runMicro(opts: MicroOptions): Promise<MicroResult> {
  const seed = opts.seed ?? 0;
  const quick = opts.quick ?? false;
  const minTime = opts.minTimeMs ?? (quick ? 20 : 1000);
  if (!(minTime > 0)) throw new PldrError(`--min-time must be a positive number of ms, got ${minTime}`);
  const minSamples = quick ? 3 : 12;
  const maxSamples = quick ? 20 : 2000;
  const say = opts.onProgress ?? (() => {});
  if (opts.models.length === 0) throw new PldrError('no model to time: give --model DIR or --preset NAME');

  const models: MicroResult['models'] = [];
  const benchmarks: MicroBenchmark[] = [];
  const ratios: MicroRatio[] = [];
  let usedP = 0;
  let usedC = 0;
  for (const spec of opts.models) {
    say(`loading ${'dir' in spec ? spec.dir : `preset ${spec.preset} (random weights)`}`);
    const m = await loadBenchModel(spec, seed);
    const model = m.model;
    const cfg = m.config;
    const H = cfg.num_heads;
    const dk = model.dk;
    const P = Math.min(opts.promptLength ?? PAPER_PROMPT_LENGTH, cfg.max_seq_len);
    const C = Math.min(opts.context ?? PAPER_PROMPT_LENGTH + 100, cfg.max_seq_len);
    if (C < 2) throw new PldrError(`--context must be at least 2, got ${C}`);
    usedP = P;
    usedC = C;
    const held: tf.Tensor[] = [];
    const hold = <T extends tf.Tensor>(t: T): T => (held.push(t), t);
    try {
      const lw = model.w.layers[0];
      const isG = model.isG;
      const q = hold(tf.randomNormal([1, H, P, dk], 0, 1, 'float32', seed));
      const q1 = hold(tf.randomNormal([1, H, 1, dk], 0, 1, 'float32', seed + 1));
      const kT = hold(tf.randomNormal([1, H, dk, C], 0, 1, 'float32', seed + 2));
      const v = hold(tf.randomNormal([1, H, C, dk], 0, 1, 'float32', seed + 3));
      const h = hold(tf.randomNormal([1, cfg.d_model], 0, 1, 'float32', seed + 4));
      const A = isG ? undefined : hold(tf.tidy(() => metricLearner(q as tf.Tensor4D, lw)));
      const G = hold(isG ? lw.G!.clone() : tf.tidy(() => plga(A! as tf.Tensor4D, lw.plga!).G_LM));

      // caches for the decode steps: the prompt call on C − 1 tokens
      const ids = fixedPromptIds(cfg.input_vocab_size, C - 1);
      const mask = hold(createMask([ids]));
      const pre = model.forward([ids], {mask, lastOnly: true});
      const kv: KVCache[] = pre.kv;
      const g: GCache[] | undefined = pre.deductive?.map((d) => ({
        A_LM: d.A_LM,
        G_LM: d.G_LM,
        ...(d.A_P ? {A_P: d.A_P} : {}),
      }));
      const keep = new Set<tf.Tensor>();
      for (const c of kv) [c.K, c.V, c.A].forEach((t) => t && keep.add(t));
      for (const c of g ?? []) [c.A_LM, c.G_LM, c.A_P].forEach((t) => t && keep.add(t));
      disposeAllBut(pre, keep);
      held.push(...keep);
      const promptIds = fixedPromptIds(cfg.input_vocab_size, P);
      const promptMask = hold(createMask([promptIds]));
      const next = [[ids[0]]];

      const read = (make: () => tf.Tensor) => () => {
        const out = tf.tidy(make);
        out.dataSync();
        out.dispose();
      };
      const call = (fOpts: Parameters<PldrModel['forward']>[1], input: number[][]) => () => {
        const r = model.forward(input, fOpts);
        r.logits.dataSync();
        disposeAllBut(r, keep);
      };
      const cases: Case[] = [];
      if (!isG) {
        cases.push({
          name: 'metric learner',
          description: `A = ResNet(LN(QᵀQ)), ${cfg.num_reslayerA}×${cfg.num_denseA} GLUs of width ${cfg.A_dff}, on a ${P}-token prompt; one layer`,
          fn: read(() => metricLearner(q as tf.Tensor4D, lw)),
        });
        cases.push({
          name: 'PLGA',
          description: `A → A_LM → A_P → G_LM for ${H} heads of ${dk}×${dk}; one layer`,
          fn: read(() => plga(A! as tf.Tensor4D, lw.plga!).G_LM),
        });
      }
      cases.push({
        name: 'attention, cached G',
        description: `softmax(q·G·Kᵀ/√d_k)·V for one token against ${C} cached positions; one layer`,
        fn: read(() => attention(q1, G, kT, v, dk)),
      });
      cases.push({
        name: 'attention, SDPA',
        description: `softmax(q·Kᵀ/√d_k)·V for one token against ${C} cached positions; one layer`,
        fn: read(() => attention(q1, null, kT, v, dk)),
      });
      if (!isG)
        cases.push({
          name: 'decode step, KV+G',
          description: `one model call, all ${cfg.num_layers} layers, one token with KV- and G-cache at context ${C}, logits read back`,
          fn: call({kv, g, lastOnly: true}, next),
        });
      cases.push({
        name: 'decode step, KV',
        description: `one model call, all ${cfg.num_layers} layers, one token with the KV-cache at context ${C}${isG ? '' : ' (PLGA recomputed)'}, logits read back`,
        fn: call({kv, lastOnly: true}, next),
      });
      cases.push({
        name: 'full forward',
        description: `the prompt step: all ${cfg.num_layers} layers on ${P} tokens with the mask, last position's logits read back`,
        fn: call({mask: promptMask, lastOnly: true}, [promptIds]),
      });
      cases.push({
        name: 'output projection',
        description: `final layer d ${cfg.d_model} → V ${cfg.input_vocab_size} for one position`,
        fn: read(() => outputLayer(h, model.w.final, true)),
      });

      models.push({...modelInfo(m, [], []), prompt_length: P, context: C});
      const before = tf.memory().numTensors;
      for (const c of cases) {
        say(`${m.label}: ${c.name}`);
        for (let i = 0; i < 3; i++) c.fn(); // warm-up
        const s: MitataStats = await measure(c.fn, {
          min_cpu_time: minTime * 1e6,
          min_samples: minSamples,
          max_samples: maxSamples,
          gc: false,
          batch_threshold: 0,
          warmup_samples: 0,
        });
        benchmarks.push(entry(m.label, c, s));
      }
      if (tf.memory().numTensors !== before)
        throw new Error(`micro benchmarks leaked ${tf.memory().numTensors - before} tensors`);
      const avg = (name: string) => benchmarks.find((b) => b.model === m.label && b.name === name)?.avg_ns;
      const addRatio = (a: string, b: string, label: string) => {
        const x = avg(a);
        const y = avg(b);
        if (x !== undefined && y !== undefined)
          ratios.push({id: `${m.label}: ${a} ÷ ${b}`, label: `${m.label}: ${label}`, value: round(x / y)});
      };
      addRatio('attention, cached G', 'attention, SDPA', 'attention with a cached G ÷ SDPA attention');
      addRatio('decode step, KV', 'decode step, KV+G', 'decode step KV ÷ KV+G (the cost of recomputing PLGA)');
      addRatio(
        'output projection',
        isG ? 'decode step, KV' : 'decode step, KV+G',
        'output projection ÷ cached decode step (its share of a step)',
      );
      addRatio(
        'full forward',
        isG ? 'decode step, KV' : 'decode step, KV+G',
        `full forward on ${P} tokens ÷ cached decode step`,
      );
    } finally {
      tf.dispose(held);
      model.dispose();
    }
  }
  return {
    suite: 'micro',
    protocol: {
      prompt_length: usedP,
      context: usedC,
      min_time_ms: minTime,
      min_samples: minSamples,
      max_samples: maxSamples,
      tool: 'mitata measure() (one call per sample, no batching, no forced GC; 3 untimed calls first)',
      readback:
        'every call reads its result back to the host (dataSync), so asynchronous backends are timed to completion',
    },
    models,
    benchmarks,
    ratios,
    notes: [
      'Metric learner, PLGA and attention are timed on layer 0 with random inputs of the right shapes; they call the model’s own functions (model/pldr.ts).',
      'Decode steps run the model on one token with caches built from a prompt call of context − 1 tokens; the caches are reused for every call.',
    ],
  };
}

function entry(model: string, c: Case, s: MitataStats): MicroBenchmark {
  const r = (x: number) => round(x, 1);
  return {
    id: `${model}/${c.name}`,
    model,
    name: c.name,
    description: c.description,
    avg_ns: r(s.avg),
    min_ns: r(s.min),
    max_ns: r(s.max),
    p25_ns: r(s.p25),
    p50_ns: r(s.p50),
    p75_ns: r(s.p75),
    p99_ns: r(s.p99),
    ticks: s.ticks,
    samples_ns: s.samples.slice(0, 2000).map(r),
  };
}
