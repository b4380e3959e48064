/**
 * Micro-benchmarks of the pieces of a PLDR-LLM step, measured with mitata's `measure` (its
 * sampling loop, without its printer): the metric learner, PLGA (A → A_LM → A_P → G_LM),
 * attention with a cached G against SDPA, one cached decode step, the full forward on a prompt,
 * and the output projection.
 *
 * The metric learner, PLGA and attention are private to model/pldr.ts; the functions below repeat
 * their arithmetic op for op (same tfjs ops, same batched-product rule through `bmmTuning`) on the
 * model's own prepared weights, so they cost what the model's pieces cost. The decode step, the
 * full forward and the output projection call the model itself.
 */
import * as tf from '@tensorflow/tfjs';
import {measure} from 'mitata';

import {PldrError} from '../errors.js';
import {bmmTuning, createMask, type ForwardResult, type GCache, type KVCache, type PldrModel, type Weights} from '../model/pldr.js';
import {type BenchModelInfo, fixedPromptIds, loadBenchModel, modelInfo, type ModelSpec, PAPER_PROMPT_LENGTH, round} from './paper.js';

type LayerWeights = Weights['layers'][number];
type Linear = LayerWeights['wq'];
type Norm = LayerWeights['ln1'];
type Glu = LayerWeights['ffn'];
type Plga = NonNullable<LayerWeights['plga']>;
type MitataStats = Awaited<ReturnType<typeof measure>>;

// ---------------------------------------------------------------------------------------------
// The model's pieces, op for op as in model/pldr.ts (inference only: no custom gradients)

function linear(x: tf.Tensor, w: Linear): tf.Tensor {
  const shape = x.shape;
  const y = tf.add(tf.matMul(x.reshape([-1, shape[shape.length - 1]]) as tf.Tensor2D, w.wT), w.b);
  return y.reshape([...shape.slice(0, -1), w.wT.shape[1]]);
}

function layerNorm(x: tf.Tensor, n: Norm): tf.Tensor {
  const {mean, variance} = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-6))), n.g), n.b);
}

function glu(x: tf.Tensor, g: Glu): tf.Tensor {
  const a = linear(x, g.w1);
  return linear(tf.mul(tf.mul(a, tf.sigmoid(a)), linear(x, g.w2)), g.w3);
}

function bmm(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const r = a.rank;
  const [m, k] = a.shape.slice(r - 2);
  const n = b.shape[r - 1];
  const batchA = a.shape.slice(0, r - 2);
  const batchB = b.shape.slice(0, r - 2);
  const batch = batchA.map((x, i) => Math.max(x, batchB[i]));
  const count = batch.reduce((x, y) => x * y, 1);
  if (count === 1) return tf.matMul(a.reshape([m, k]) as tf.Tensor2D, b.reshape([k, n]) as tf.Tensor2D).reshape([...batch, m, n]);
  if (m * k * n < bmmTuning.splitMacs) {
    const A = batchA.every((x, i) => x === batch[i]) ? a : tf.broadcastTo(a, [...batch, m, k]);
    const B = batchB.every((x, i) => x === batch[i]) ? b : tf.broadcastTo(b, [...batch, k, n]);
    return tf.matMul(A, B);
  }
  // pldr.ts splits into one 2-D product per matrix here; every product timed below has equal batches.
  if (batchA.some((x, i) => x !== batchB[i])) throw new Error('micro bmm: broadcast batches are not used by these benchmarks');
  const as = tf.unstack(a.reshape([-1, m, k]));
  const bs = tf.unstack(b.reshape([-1, k, n]));
  const out: tf.Tensor[] = [];
  for (let i = 0; i < count; i++) out.push(tf.matMul(as[i] as tf.Tensor2D, bs[i] as tf.Tensor2D));
  return tf.stack(out).reshape([...batch, m, n]);
}

/** §3.5: A = ResNet(LN_A0(QᵀQ)) from rotated queries q [1, H, L, dk]. */
function metricLearner(q: tf.Tensor, lw: LayerWeights): tf.Tensor {
  let A = layerNorm(bmm(q.transpose([0, 1, 3, 2]), q), lw.lnA!);
  for (const unit of lw.resA!) {
    let Z = A;
    for (const g of unit.glus) Z = glu(Z, g);
    A = layerNorm(tf.add(Z, A), unit.ln);
  }
  return A;
}

/** §3.6: A_LM = iSwiGLU(W·A + b) + 1e-9; A_P = A_LM^∘P; G_LM = a·A_P + b_a. */
function plga(A: tf.Tensor, p: Plga): tf.Tensor {
  const x = tf.add(bmm(p.W, A), p.b);
  const A_LM = tf.add(tf.mul(x, tf.mul(x, tf.sigmoid(x))), Math.fround(1e-9));
  return tf.add(bmm(p.a, tf.pow(A_LM, p.P)), p.ba);
}

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
  protocol: {prompt_length: number; context: number; min_time_ms: number; min_samples: number; max_samples: number; tool: string; readback: string};
  models: (BenchModelInfo & {prompt_length: number; context: number})[];
  benchmarks: MicroBenchmark[];
  ratios: MicroRatio[];
  notes: string[];
}

/** Dispose every tensor of a forward result except the caches that were passed in. */
function disposeExcept(r: ForwardResult, keep: Set<tf.Tensor>): void {
  const seen = new Set<tf.Tensor>();
  const walk = (x: unknown): void => {
    if (x instanceof tf.Tensor) {
      if (!keep.has(x) && !seen.has(x)) {
        seen.add(x);
        x.dispose();
      }
    } else if (Array.isArray(x)) x.forEach(walk);
    else if (x && typeof x === 'object') Object.values(x).forEach(walk);
  };
  walk(r);
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
      const A = isG ? undefined : hold(tf.tidy(() => metricLearner(q, lw)));
      const G = hold(isG ? lw.G!.clone() : tf.tidy(() => plga(A!, lw.plga!)));

      // caches for the decode steps: the prompt call on C − 1 tokens
      const ids = fixedPromptIds(cfg.input_vocab_size, C - 1);
      const mask = hold(createMask([ids]));
      const pre = model.forward([ids], {mask, lastOnly: true});
      const kv: KVCache[] = pre.kv;
      const g: GCache[] | undefined = pre.deductive?.map((d) => ({A_LM: d.A_LM, G_LM: d.G_LM, ...(d.A_P ? {A_P: d.A_P} : {})}));
      const keep = new Set<tf.Tensor>();
      for (const c of kv) [c.K, c.V, c.A].forEach((t) => t && keep.add(t));
      for (const c of g ?? []) [c.A_LM, c.G_LM, c.A_P].forEach((t) => t && keep.add(t));
      disposeExcept(pre, keep);
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
        disposeExcept(r, keep);
      };
      const cases: Case[] = [];
      if (!isG) {
        cases.push({name: 'metric learner', description: `A = ResNet(LN(QᵀQ)), ${cfg.num_reslayerA}×${cfg.num_denseA} GLUs of width ${cfg.A_dff}, on a ${P}-token prompt; one layer`, fn: read(() => metricLearner(q, lw))});
        cases.push({name: 'PLGA', description: `A → A_LM → A_P → G_LM for ${H} heads of ${dk}×${dk}; one layer`, fn: read(() => plga(A!, lw.plga!))});
      }
      cases.push({name: 'attention, cached G', description: `softmax(q·G·Kᵀ/√d_k)·V for one token against ${C} cached positions; one layer`, fn: read(() => attention(q1, G, kT, v, dk))});
      cases.push({name: 'attention, SDPA', description: `softmax(q·Kᵀ/√d_k)·V for one token against ${C} cached positions; one layer`, fn: read(() => attention(q1, null, kT, v, dk))});
      if (!isG) cases.push({name: 'decode step, KV+G', description: `one model call, all ${cfg.num_layers} layers, one token with KV- and G-cache at context ${C}, logits read back`, fn: call({kv, g, lastOnly: true}, next)});
      cases.push({name: 'decode step, KV', description: `one model call, all ${cfg.num_layers} layers, one token with the KV-cache at context ${C}${isG ? '' : ' (PLGA recomputed)'}, logits read back`, fn: call({kv, lastOnly: true}, next)});
      cases.push({name: 'full forward', description: `the prompt step: all ${cfg.num_layers} layers on ${P} tokens with the mask, last position's logits read back`, fn: call({mask: promptMask, lastOnly: true}, [promptIds])});
      cases.push({name: 'output projection', description: `final layer d ${cfg.d_model} → V ${cfg.input_vocab_size} for one position`, fn: read(() => linear(h, model.w.final))});

      models.push({...modelInfo(m, [], []), prompt_length: P, context: C});
      const before = tf.memory().numTensors;
      for (const c of cases) {
        say(`${m.label}: ${c.name}`);
        for (let i = 0; i < 3; i++) c.fn(); // warm-up
        const s: MitataStats = await measure(c.fn, {min_cpu_time: minTime * 1e6, min_samples: minSamples, max_samples: maxSamples, gc: false, batch_threshold: 0, warmup_samples: 0});
        benchmarks.push(entry(m.label, c, s));
      }
      if (tf.memory().numTensors !== before) throw new Error(`micro benchmarks leaked ${tf.memory().numTensors - before} tensors`);
      const avg = (name: string) => benchmarks.find((b) => b.model === m.label && b.name === name)?.avg_ns;
      const addRatio = (a: string, b: string, label: string) => {
        const x = avg(a);
        const y = avg(b);
        if (x !== undefined && y !== undefined) ratios.push({id: `${m.label}: ${a} ÷ ${b}`, label: `${m.label}: ${label}`, value: round(x / y)});
      };
      addRatio('attention, cached G', 'attention, SDPA', 'attention with a cached G ÷ SDPA attention');
      addRatio('decode step, KV', 'decode step, KV+G', 'decode step KV ÷ KV+G (the cost of recomputing PLGA)');
      addRatio('output projection', isG ? 'decode step, KV' : 'decode step, KV+G', 'output projection ÷ cached decode step (its share of a step)');
      addRatio('full forward', isG ? 'decode step, KV' : 'decode step, KV+G', `full forward on ${P} tokens ÷ cached decode step`);
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
      tool: "mitata measure() (one call per sample, no batching, no forced GC; 3 untimed calls first)",
      readback: 'every call reads its result back to the host (dataSync), so asynchronous backends are timed to completion',
    },
    models,
    benchmarks,
    ratios,
    notes: [
      'Metric learner, PLGA and attention are timed on layer 0 with random inputs of the right shapes; they repeat model/pldr.ts op for op.',
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
