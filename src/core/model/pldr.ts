/**
 * The PLDR-LLM family in one file (spec §1, §3, §4): PLDRv51 (v510), PLDRv51-DAG (v510_dag),
 * PLDRv51G (v510G: a constant G_LM per layer; G = identity is SDPA) and PLDRv51Gi (a v510G built
 * from a trained v510 plus its G list).
 *
 * Shapes: B batch, L tokens in this call, L_c tokens already cached, H heads, dk head width,
 * d = H·dk, F FFN width, F_A metric-learner width, V vocabulary.
 *
 * Weights are kept under the reference's state-dict names (reference shapes, `params`), and
 * prepared once for the forward pass (`Weights`): every linear weight transposed to [in, out] so
 * each matMul stays on the wasm fast path (design.md §2).
 */
import * as tf from '@tensorflow/tfjs';

import {checkModelFits} from '../backend.js';
import {type ModelConfig, ropeStyle} from '../config.js';
import {PldrError} from '../errors.js';
import type {HostTensor} from '../io/tensor.js';
import {batchMatMulFused, cachedAttention, fusedKernelsActive, GEMV_MAX_M, GEMV_MAX_N, layerNormFused, linearGemv, qkvRopeFused} from './kernels.js';
import {Rope} from './rope.js';

const LN_EPS = 1e-6;
const A_LM_FLOOR = Math.fround(1e-9);
const MASK_NEG = -1e9;

// ---------------------------------------------------------------------------------------------
// Prepared weights

export interface Linear {
  wT: tf.Tensor2D; // [in, out]
  b: tf.Tensor1D; // [out]
}
export interface Norm {
  g: tf.Tensor1D;
  b: tf.Tensor1D;
}
export interface Glu {
  w1: Linear; // silu branch
  w2: Linear; // linear gate
  w3: Linear; // output projection
}
export interface Plga {
  W: tf.Tensor4D; // [1, H, dk, dk] Wlst
  b: tf.Tensor4D; // blst
  P: tf.Tensor4D; // pwlst, the power
  a: tf.Tensor4D; // alst, the coupling
  ba: tf.Tensor4D; // balst, the coupling bias
}
/** Either wq, wk, wv (training) or all three in one product, wqkv = [wq | wk | wv] (inference). */
export interface LayerWeights {
  wq?: Linear;
  wk?: Linear;
  wv?: Linear;
  wqkv?: Linear; // [d, 3d]
  dense: Linear;
  lnA?: Norm; // mha1.layernorm1 [dk] — v510 only
  resA?: {glus: Glu[]; ln: Norm}[]; // metric learner, R units of D GLUs — v510 only
  plga?: Plga; // v510 only
  G?: tf.Tensor4D; // [1, H, dk, dk] constant G_LM — v510G only
  /** v510G whose G is exactly the identity (the SDPA special case): Q·G is Q, the product is skipped. */
  identityG?: boolean;
  ffn: Glu;
  ln1: Norm;
  ln2: Norm;
}
export interface Weights {
  embedding: tf.Tensor2D; // [V, d]
  lnEmb: Norm; // decoder.layernorm1 [d]
  layers: LayerWeights[];
  final: Linear | BlockedLinear; // [d, V]
}
/** A wide linear stored as column blocks [in, ≤ OUT_BLOCK] in order (inference): each block's product keeps its output in L1. */
export interface BlockedLinear {
  blocks: Linear[];
}
/** Column-block width of a blocked linear. */
export const OUT_BLOCK = 2048;

/** How prepareWeights arranges things. */
export interface PrepareOptions {
  /** v510G: the constant G_LM per layer. */
  G?: tf.Tensor[];
  /** Inference: Q, K, V as one [d, 3d] product. */
  fuse?: boolean;
  /** Hears of each weight once its transposed copy exists (the model frees the original then). */
  copied?: (keys: string[]) => void;
  /** Supplies a linear (by module name) already as column blocks, or undefined to prepare it here. */
  blocked?: (module: string) => BlockedLinear | undefined;
}

/**
 * Build the prepared weights from reference-named tensors. Differentiable: training calls it
 * inside its loss. With `fuse` (inference), the Q, K, V projections become one [d, 3d] product:
 * one matMul instead of three in a decode step.
 */
export function prepareWeights(cfg: ModelConfig, p: (key: string) => tf.Tensor, opts: PrepareOptions = {}): Weights {
  const {G, fuse, copied} = opts;
  const H = cfg.num_heads;
  const dk = cfg.d_model / H;
  const linOf = (ks: string[], wT: tf.Tensor, b: tf.Tensor): Linear => {
    copied?.(ks.map((k) => `${k}.weight`));
    return {wT: wT as tf.Tensor2D, b: b as tf.Tensor1D};
  };
  const lin = (k: string): Linear => linOf([k], p(`${k}.weight`).transpose(), p(`${k}.bias`));
  const fused = (ks: string[]): Linear =>
    linOf(ks, tf.tidy(() => tf.concat(ks.map((k) => p(`${k}.weight`)), 0).transpose()), tf.concat(ks.map((k) => p(`${k}.bias`))));
  const norm = (k: string): Norm => ({g: p(`${k}.weight`) as tf.Tensor1D, b: p(`${k}.bias`) as tf.Tensor1D});
  const glu = (k: string): Glu => ({w1: lin(`${k}.gluw1`), w2: lin(`${k}.gluw2`), w3: lin(`${k}.gluw3`)});
  const perHead = (k: string) => p(k).reshape([1, H, dk, dk]) as tf.Tensor4D;
  const layers: LayerWeights[] = [];
  for (let l = 0; l < cfg.num_layers; l++) {
    const k = `decoder.dec_layers.${l}`;
    const qkv = [`${k}.mha1.wq`, `${k}.mha1.wk`, `${k}.mha1.wv`];
    const layer: LayerWeights = {
      ...(fuse ? {wqkv: fused(qkv)} : {wq: lin(qkv[0]!), wk: lin(qkv[1]!), wv: lin(qkv[2]!)}),
      dense: lin(`${k}.mha1.dense`),
      ffn: glu(`${k}.ffn`),
      ln1: norm(`${k}.layernorm1`),
      ln2: norm(`${k}.layernorm2`),
    };
    if (cfg.variant === 'v510G') {
      if (!G || !G[l]) throw new PldrError(`a PLDRv51G model needs a G_LM for layer ${l}`);
      layer.G = G[l].reshape([1, H, dk, dk]) as tf.Tensor4D;
    } else {
      layer.lnA = norm(`${k}.mha1.layernorm1`);
      layer.resA = [];
      for (let r = 0; r < cfg.num_reslayerA; r++) {
        const glus: Glu[] = [];
        for (let j = 0; j < cfg.num_denseA; j++) glus.push(glu(`${k}.mha1.reslayerAs.${r}.denseAs.${j}`));
        layer.resA.push({glus, ln: norm(`${k}.mha1.reslayerAs.${r}.layernormA`)});
      }
      const q = `${k}.mha1.plgatt_layer`;
      layer.plga = {W: perHead(`${q}.Wlst`), b: perHead(`${q}.blst`), P: perHead(`${q}.pwlst`), a: perHead(`${q}.alst`), ba: perHead(`${q}.balst`)};
    }
    layers.push(layer);
  }
  const final = opts.blocked?.('final_layer') ?? lin('final_layer');
  return {embedding: p('decoder.embedding.weight') as tf.Tensor2D, lnEmb: norm('decoder.layernorm1'), layers, final};
}

/**
 * Where each reference linear weight lives in prepared weights: key → the prepared Linear and the
 * columns of its wT [in, out] that hold it (Q, K and V share one), or its column blocks. The naming
 * mirrors prepareWeights.
 */
export function linearSources(cfg: ModelConfig, w: Weights): Map<string, {lin: Linear; from: number; to: number} | BlockedLinear> {
  const out = new Map<string, {lin: Linear; from: number; to: number} | BlockedLinear>();
  const whole = (k: string, lin: Linear) => out.set(`${k}.weight`, {lin, from: 0, to: lin.wT.shape[1]});
  const glu = (k: string, g: Glu) => ['gluw1', 'gluw2', 'gluw3'].forEach((n, i) => whole(`${k}.${n}`, [g.w1, g.w2, g.w3][i]!));
  const d = cfg.d_model;
  w.layers.forEach((lw, l) => {
    const k = `decoder.dec_layers.${l}`;
    ['wq', 'wk', 'wv'].forEach((n, i) => {
      if (lw.wqkv) out.set(`${k}.mha1.${n}.weight`, {lin: lw.wqkv, from: i * d, to: (i + 1) * d});
      else whole(`${k}.mha1.${n}`, [lw.wq!, lw.wk!, lw.wv!][i]!);
    });
    whole(`${k}.mha1.dense`, lw.dense);
    glu(`${k}.ffn`, lw.ffn);
    lw.resA?.forEach((unit, r) => unit.glus.forEach((g, j) => glu(`${k}.mha1.reslayerAs.${r}.denseAs.${j}`, g)));
  });
  if ('blocks' in w.final) out.set('final_layer.weight', w.final);
  else whole('final_layer', w.final);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Basic operators (spec §0)

/**
 * a [m, k] @ b [k, n] whose gradients stay on the wasm fast path: tfjs's own matMul gradient
 * multiplies by transposed operands (transposeA/B), which wasm runs 10× slower than a plain
 * product; transposing explicitly first and multiplying plainly is much faster (design.md §2).
 */
const matMul2d = tf.customGrad((a, b, save) => {
  (save as tf.GradSaveFunc)([a as tf.Tensor, b as tf.Tensor]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy, saved) => {
      const [A, B] = saved as tf.Tensor2D[];
      return [tf.matMul(dy as tf.Tensor2D, B.transpose()), tf.matMul(A.transpose(), dy as tf.Tensor2D)];
    },
  };
}) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;

/**
 * y [M, N] + b [N], whose bias gradient is one product, ones [1, M]·dy: tfjs sums dy over its rows
 * by transposing it first, which for the output layer of a training batch ([2048, 8000]) took a
 * ~170 ms copy; the product streams dy once.
 */
const addBias = tf.customGrad((y, b) => ({
  value: tf.add(y as tf.Tensor, b as tf.Tensor),
  gradFunc: (dy) => {
    const d = dy as tf.Tensor2D;
    const [M, N] = d.shape;
    const ones = tf.ones([1, M]);
    // our batched kernel runs a single row as one gemv; XNNPACK would pack all of dy first
    const db = fusedKernelsActive() ? batchMatMulFused(ones.reshape([1, 1, M]), d.reshape([1, M, N])) : tf.matMul(ones, d);
    return [d, db.reshape([N])];
  },
})) as (y: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

const FUSED_LINEAR = {transposeA: false, transposeB: false, activation: 'linear'} as unknown as tf.NamedAttrMap;

/**
 * x·Wᵀ + b on the last axis; x [..., in] → [..., out]. `fast` (inference): without the gradient
 * wrapper; a few rows against a matrix up to GEMV_MAX_N wide go through our gemv (kernels.ts),
 * anything else through one fused matMul with the bias (XNNPACK).
 */
export function linear(x: tf.Tensor, w: Linear, fast = false): tf.Tensor {
  const [K, N] = w.wT.shape as [number, number];
  const x2 = (x.rank === 2 ? x : x.reshape([-1, K])) as tf.Tensor2D; // [M, K]
  const M = x2.shape[0];
  let y: tf.Tensor; // [M, N]
  if (!fast) y = addBias(matMul2d(x2, w.wT), w.b);
  else if (M <= GEMV_MAX_M && N <= GEMV_MAX_N) y = linearGemv(x2, w.wT, w.b); // a decode step: stream W once per row, where it lies
  else y = (tf.engine().runKernel('_FusedMatMul', {a: x2.reshape([1, M, K]), b: w.wT.reshape([1, K, N]), bias: w.b}, FUSED_LINEAR) as tf.Tensor).reshape([M, N]);
  return x.rank === 2 ? y : y.reshape([...x.shape.slice(0, -1), N]);
}

/** The output layer: one linear, or the concatenation of its column blocks' products. */
export function outputLayer(x: tf.Tensor, w: Linear | BlockedLinear, fast = false): tf.Tensor {
  if (!('blocks' in w)) return linear(x, w, fast);
  const K = x.shape[x.rank - 1]!;
  const x2 = x.reshape([-1, K]); // once, not per block
  const y = tf.concat(w.blocks.map((b) => linear(x2, b, fast)), -1); // [M, V]
  return y.reshape([...x.shape.slice(0, -1), y.shape[1]!]);
}

/**
 * LayerNorm over the last axis, biased variance, ε = 1e-6 everywhere; LN(x + r) with a residual.
 * `fast`: one fused kernel (kernels.ts) instead of ~8 ops.
 */
function layerNorm(x: tf.Tensor, n: Norm, r?: tf.Tensor, fast = false): tf.Tensor {
  if (fast) return layerNormFused(x, n.g, n.b, r);
  const y = r ? tf.add(x, r) : x;
  const {mean, variance} = tf.moments(y, -1, true);
  return tf.add(tf.mul(tf.mul(tf.sub(y, mean), tf.rsqrt(tf.add(variance, LN_EPS))), n.g), n.b);
}

/** GLU(x) = gluw3( silu(gluw1 x) ∘ gluw2 x ). */
function glu(x: tf.Tensor, g: Glu, fast = false): tf.Tensor {
  const a = linear(x, g.w1, fast);
  const b = linear(x, g.w2, fast);
  const gate = tf.mul(tf.mul(a, tf.sigmoid(a)), b);
  return linear(gate, g.w3, fast);
}

/** iSwiGLU(x) = x·silu(x). */
function iSwiGLU(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.mul(x, tf.sigmoid(x)));
}

// ---------------------------------------------------------------------------------------------
// Caches and outputs (spec §3.10, §4.1)

/** KV-cache of one layer. K̃ (after RoPE) and Vv are [B, L_c, H, dk]; A [B, H, dk, dk] (v510 only). */
export interface KVCache {
  K: tf.Tensor4D;
  V: tf.Tensor4D;
  A?: tf.Tensor4D;
}
/**
 * A KV-cache written in place (inference with the fused kernels): room for `capacity` positions is
 * allocated once and each cached call writes its token's K̃ and Vv at position `length`, then
 * advances it — no copy of the whole cache per token, and no heap growth. Keys are held transposed
 * so that a step's scores are one strided gemv per head.
 */
export interface KVBuffer {
  length: number; // positions written
  capacity: number;
  layers: {Kt: tf.Tensor4D; V: tf.Tensor4D; A?: tf.Tensor4D}[]; // Kt [B, H, dk, capacity], V [B, H, capacity, dk]
}
/** G-cache of one layer, each [B, H, dk, dk]. A_P is held by the DAG variant. */
export interface GCache {
  A_LM: tf.Tensor4D;
  G_LM: tf.Tensor4D;
  A_P?: tf.Tensor4D;
}
/** What a layer's attention reports: the reference's list [A_LM, P, a, b_a, G_LM, S (, A_P)], named. */
export interface Deductive {
  A_LM: tf.Tensor4D; // [B, H, dk, dk]
  P: tf.Tensor3D; // [H, dk, dk] the parameters themselves
  a: tf.Tensor3D;
  ba: tf.Tensor3D;
  G_LM: tf.Tensor4D; // [B, H, dk, dk]
  S: tf.Tensor4D; // [B, H, L, L_c + L] pre-mask scores ("E_p")
  A_P?: tf.Tensor4D; // DAG variant only
}
export interface ForwardOptions {
  /** [B, 1, L, L] with 1 = blocked, or null for none (cached calls pass none). */
  mask?: tf.Tensor | null;
  kv?: KVCache[];
  /** Instead of `kv`: an in-place KV-cache, which this call (one new token) appends to. */
  kvBuffer?: KVBuffer;
  g?: GCache[];
  /** Compute logits for the last position only ([B, 1, V]): what generation needs. */
  lastOnly?: boolean;
  /** Compute logits from this position on only ([B, L − from, V]): what scoring a continuation needs. */
  logitsFrom?: number;
  /** Also return per-layer hidden states (embed_ln, attn_out, out) for probing and tests. */
  hidden?: boolean;
  /** Use the fused inference kernels where the backend has them (no gradients: never in training). */
  fast?: boolean;
  /**
   * The caller discards the returned KV-cache (one uncached forward, as eval's full mode). With a
   * G given, the metric learner is then skipped: its A feeds only PLGA, which the G replaces, and the
   * KV-cache, which nobody keeps. The returned cache then holds no A.
   */
  noCache?: boolean;
}
export interface ForwardResult {
  logits: tf.Tensor3D; // [B, L, V] (or [B, 1, V] with lastOnly, [B, L − from, V] with logitsFrom)
  decOutput: tf.Tensor3D; // [B, L, d]
  deductive: Deductive[] | null; // null for v510G
  kv: KVCache[]; // empty for a call given a kvBuffer (the buffer holds the cache)
  hidden?: {embedLn: tf.Tensor3D; attnOut: tf.Tensor3D[]; out: tf.Tensor3D[]};
}

/** The G-cache a call's deductive outputs give for the next call (spec §5.2 step 4.4): [A_LM, G_LM (, A_P)]. */
export function gCacheOf(deductive: Deductive[]): GCache[] {
  return deductive.map((d) => ({A_LM: d.A_LM, G_LM: d.G_LM, ...(d.A_P ? {A_P: d.A_P} : {})}));
}

/** Every tensor reachable from `x` (results, caches, lists and objects of them), each once. */
export function tensorsOf(x: unknown, into: Set<tf.Tensor> = new Set()): Set<tf.Tensor> {
  if (x instanceof tf.Tensor) into.add(x);
  else if (Array.isArray(x)) x.forEach((y) => tensorsOf(y, into));
  else if (x && typeof x === 'object' && !ArrayBuffer.isView(x)) Object.values(x).forEach((y) => tensorsOf(y, into));
  return into;
}

/**
 * Dispose every tensor reachable from `things` except those in `keep`. A call's results pass the
 * caches it was given through (a G-cache returns itself, a KV call returns the cached A), so
 * callers free results this way rather than with tf.dispose.
 */
export function disposeAllBut(things: unknown, keep: Iterable<tf.Tensor> = []): void {
  const protect = new Set(keep);
  for (const t of tensorsOf(things)) if (!protect.has(t)) t.dispose();
}

/** True when every head of g ([..., dk, dk]) is exactly the identity matrix. */
function isIdentity(g: tf.Tensor, dk: number): boolean {
  const v = g.dataSync();
  for (let i = 0; i < v.length; i++) if (v[i] !== ((i % (dk * dk)) % (dk + 1) === 0 ? 1 : 0)) return false;
  return true;
}

/** The standard mask of spec §3.7: max(key padding (id 0), look-ahead), 1 = blocked, [B, 1, L, L]. */
export function createMask(ids: number[][]): tf.Tensor4D {
  const B = ids.length;
  const L = ids[0].length;
  const m = new Float32Array(B * L * L);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < L; i++)
      for (let j = 0; j < L; j++) m[(b * L + i) * L + j] = j > i || ids[b][j] === 0 ? 1 : 0;
  return tf.tensor4d(m, [B, 1, L, L]);
}

// ---------------------------------------------------------------------------------------------
// The model

export class PldrModel {
  readonly dk: number;
  readonly rope: Rope;
  /** Prepared weights for inference: every linear weight transposed (Q, K, V as one). */
  readonly w: Weights;
  /** Parameter names in state-dict order. */
  private readonly keys: string[];
  /** Parameters held in the reference layout: everything but the linear weights, until `params` is read. */
  private readonly own = new Map<string, tf.Tensor>();
  /** Linear weights held only as prepared copies: rebuilt from `w` when `params` is read. */
  private readonly freed = new Set<string>();

  constructor(
    readonly cfg: ModelConfig,
    /** Reference-named parameters in state-dict order, float32 on the host. */
    weights: Map<string, HostTensor>,
    /** v510G: the constant G_LM per layer, each [1, H, dk, dk]. */
    readonly G?: tf.Tensor4D[],
  ) {
    checkModelFits(cfg); // before the RoPE tables and the first upload
    this.dk = cfg.d_model / cfg.num_heads;
    this.rope = new Rope(cfg.max_seq_len, this.dk, ropeStyle(cfg));
    // Each parameter reaches the backend when preparing first asks for it, so at most a matrix or
    // two are held in both layouts at any time while loading.
    const params = this.own;
    const upload = (k: string, t: HostTensor) => tf.keep(tf.tensor(t.data as Float32Array, t.shape, 'float32'));
    this.keys = [...weights.keys()];
    this.w = tf.tidy(() => {
      const get = (k: string) => {
        const host = weights.get(k);
        if (!host) throw new PldrError(`missing weight ${k}`);
        if (!params.has(k)) params.set(k, upload(k, host));
        return params.get(k)!;
      };
      // Inference reads only the prepared copies: holding the reference layout too would double the
      // memory of every matrix. Each is freed as soon as its copy exists, so loading never holds both
      // layouts of the whole model at once; `params` rebuilds them when training or a test asks.
      const free = (keys: string[]) =>
        keys.forEach((k) => {
          params.get(k)!.dispose();
          params.delete(k);
          this.freed.add(k);
        });
      const w = prepareWeights(cfg, get, {G, fuse: true, copied: free, blocked: (m) => this.blockedFromHost(weights, m)});
      if (G) w.layers.forEach((lw, l) => (lw.identityG = isIdentity(G[l]!, this.dk)));
      return w as unknown as tf.TensorContainer;
    }) as unknown as Weights;
    // any parameter preparing did not ask for
    for (const [k, host] of weights) if (!params.has(k) && !this.freed.has(k)) params.set(k, upload(k, host));
  }

  /**
   * A linear wider than GEMV_MAX_N (the output layer) as column blocks, each cut and transposed on
   * the host and uploaded as it is made: its reference layout never reaches the backend.
   */
  private blockedFromHost(weights: Map<string, HostTensor>, module: string): BlockedLinear | undefined {
    const W = weights.get(`${module}.weight`);
    const bias = weights.get(`${module}.bias`);
    if (!W || !bias || W.shape[0]! <= GEMV_MAX_N) return undefined;
    const [N, K] = W.shape as [number, number];
    const src = W.data as Float32Array;
    const blocks: Linear[] = [];
    for (let from = 0; from < N; from += OUT_BLOCK) {
      const n = Math.min(OUT_BLOCK, N - from);
      const t = new Float32Array(K * n); // [K, n] = rows from…from+n of W, transposed
      for (let i = 0; i < n; i++) for (let j = 0, row = (from + i) * K; j < K; j++) t[j * n + i] = src[row + j]!;
      blocks.push({wT: tf.keep(tf.tensor2d(t, [K, n])), b: tf.keep(tf.tensor1d((bias.data as Float32Array).slice(from, from + n)))});
    }
    this.freed.add(`${module}.weight`);
    return {blocks};
  }

  /**
   * Reference-named parameters in state-dict order (training, tests). The first read after loading
   * rebuilds each linear weight from its prepared, transposed copy: exact, at the cost of that memory.
   */
  get params(): Map<string, tf.Tensor> {
    if (this.freed.size) {
      const sources = linearSources(this.cfg, this.w);
      for (const k of this.freed) {
        const src = sources.get(k)!;
        if ('blocks' in src) this.own.set(k, tf.tidy(() => tf.concat(src.blocks.map((b) => b.wT.transpose()), 0)));
        else this.own.set(k, tf.tidy(() => src.lin.wT.slice([0, src.from], [src.lin.wT.shape[0], src.to - src.from]).transpose()));
      }
      this.freed.clear();
      this.ordered = undefined;
    }
    return (this.ordered ??= new Map(this.keys.map((k) => [k, this.own.get(k)!])));
  }
  private ordered?: Map<string, tf.Tensor>;

  get isG(): boolean {
    return this.cfg.variant === 'v510G';
  }
  get isDag(): boolean {
    return this.cfg.variant === 'v510_dag';
  }
  /** The SDPA special case: a PLDRv51G model whose G is exactly the identity in every layer. */
  get isSdpa(): boolean {
    return this.isG && this.w.layers.every((lw) => lw.identityG === true);
  }

  /** One model call (spec §3, §4.2). ids is [B][L]; cached calls take exactly one token. */
  forward(ids: number[][], opts: ForwardOptions = {}): ForwardResult {
    this.checkCall(ids, opts);
    return tf.tidy(() => forwardWith(this, this.w, ids, {fast: true, ...opts}) as unknown as tf.TensorContainer) as unknown as ForwardResult;
  }

  private checkCall(ids: number[][], opts: ForwardOptions): void {
    const B = ids.length;
    const L = B > 0 ? ids[0].length : 0;
    if (B === 0 || L === 0) throw new PldrError('a model call needs at least one token');
    const V = this.cfg.input_vocab_size;
    for (const row of ids) {
      if (row.length !== L) throw new PldrError('all rows of a batch must have the same length');
      for (const id of row)
        if (!Number.isInteger(id) || id < 0 || id >= V)
          throw new PldrError(`token id ${id} is outside the vocabulary (0..${V - 1})`);
    }
    const Lc = cachedLength(opts);
    if ((opts.kv || opts.kvBuffer) && L !== 1)
      throw new PldrError(`a call with a KV-cache takes exactly one new token, got ${L} (spec §3.4, T5)`);
    if (opts.kvBuffer && Lc >= opts.kvBuffer.capacity)
      throw new PldrError(`the in-place KV-cache is full (${opts.kvBuffer.capacity} positions)`);
    if (Lc + L > this.cfg.max_seq_len)
      throw new PldrError(
        `sequence of ${Lc + L} tokens exceeds max_seq_len ${this.cfg.max_seq_len}: positions must be < ${this.cfg.max_seq_len}`,
      );
  }

  /** Free every tensor the model holds (its parameters, prepared copies, G list and RoPE tables). */
  dispose(): void {
    tf.dispose(this.w as unknown as tf.TensorContainer);
    for (const t of this.own.values()) t.dispose();
    if (this.G) tf.dispose(this.G);
    this.rope.dispose();
  }
}

/**
 * The forward pass on given weights (no tidy here: callers wrap it, training differentiates it).
 * Follows spec §3 line by line.
 */
export function forwardWith(model: {cfg: ModelConfig; rope: Rope}, w: Weights, ids: number[][], opts: ForwardOptions = {}): ForwardResult {
  const {cfg, rope} = model;
  const B = ids.length;
  const L = ids[0].length;
  const H = cfg.num_heads;
  const d = cfg.d_model;
  const dk = d / H;
  const isG = cfg.variant === 'v510G';
  const isDag = cfg.variant === 'v510_dag';
  const Lc = cachedLength(opts);
  const mask = opts.mask ?? null;
  const fast = opts.fast === true && fusedKernelsActive();
  const buf = opts.kvBuffer;
  if (buf && !(fast && L === 1)) throw new PldrError('an in-place KV-cache takes one new token, on the fused kernels of the wasm backend');

  // §3.1 embedding: LN_emb( Emb[X] · float32(√d) )
  const idsT = tf.tensor2d(ids.flat(), [B, L], 'int32');
  let h = layerNorm(tf.mul(tf.gather(w.embedding, idsT), Math.fround(Math.sqrt(d))), w.lnEmb, undefined, fast); // [B, L, d]
  const embedLn = h as tf.Tensor3D;

  const deductive: Deductive[] = [];
  const kvOut: KVCache[] = [];
  const attnOuts: tf.Tensor3D[] = [];
  const outs: tf.Tensor3D[] = [];

  for (let l = 0; l < cfg.num_layers; l++) {
    const lw = w.layers[l];
    const kvIn = opts.kv?.[l];
    const slot = buf?.layers[l];
    const gIn = opts.g?.[l];

    // §3.3–3.4 projections, head split [B, L, H, dk], RoPE on Q and K at positions L_c…L_c+L−1
    const {q, Knew, Vnew} = projectQKV(h, lw, rope, B, L, H, Lc, fast); // q [B, H, L, dk]

    let G_LM: tf.Tensor4D; // [B or 1, H, dk, dk]
    let A: tf.Tensor4D | undefined;
    if (isG) {
      G_LM = gIn?.G_LM ?? lw.G!; // an external G list overrides the constant one
    } else {
      const deduce = () => {
        // §3.6 PLGA — or §4.2: a G-cache skips it; the returned list carries the cached tensors
        if (gIn) {
          // §3.5 metric learner: with a G given, its A only goes into the KV-cache (skipped when the caller keeps none)
          const A = kvIn?.A ?? slot?.A ?? (opts.noCache ? undefined : metricLearner(q, lw, fast));
          return {A, A_LM: gIn.A_LM, G_LM: gIn.G_LM, A_P: gIn.A_P};
        }
        // §3.5 metric learner — skipped when a KV-cache holds A (the prompt's A is never updated)
        const A = kvIn?.A ?? slot?.A ?? metricLearner(q, lw, fast);
        return {A, ...plga(A, lw.plga!, fast)};
      };
      // Inference frees the intermediates at once (a prompt leaves ~9 MB of them per layer of a
      // 104M model until the call ends); training keeps them for the gradients.
      let A_LM: tf.Tensor4D, A_P: tf.Tensor4D | undefined;
      ({A, A_LM, A_P, G_LM} = fast ? tf.tidy(deduce) : deduce());
      const p = lw.plga!;
      deductive.push({
        A_LM,
        P: p.P.reshape([H, dk, dk]) as tf.Tensor3D,
        a: p.a.reshape([H, dk, dk]) as tf.Tensor3D,
        ba: p.ba.reshape([H, dk, dk]) as tf.Tensor3D,
        G_LM,
        S: undefined as unknown as tf.Tensor4D, // filled below
        ...(isDag ? {A_P: A_P ?? (tf.pow(A_LM, p.P) as tf.Tensor4D)} : {}),
      });
    }

    // §3.7 scores, mask, softmax, output
    // a given G [1, H, dk, dk] serves every row of a batch: copied, not broadcast (see plga)
    const G = fast && G_LM.shape[0] < B ? repeatBatch(G_LM, B) : G_LM;
    const qG = (lw.identityG && !gIn ? q : bmm(q, G)) as tf.Tensor4D; // [B, H, L, dk]; one gemv per head in a cached step
    let O: tf.Tensor; // [B, L, d], heads merged
    let S: tf.Tensor4D; // [B, H, L, L_c+L]
    if (slot) {
      ({O, S} = cachedAttention(qG, Knew, Vnew, slot.Kt, slot.V, Lc)); // writes K̃, Vv at position L_c
    } else {
      const K = kvIn ? (tf.concat([kvIn.K, Knew], 1) as tf.Tensor4D) : Knew; // [B, L_c+L, H, dk]
      const V = kvIn ? (tf.concat([kvIn.V, Vnew], 1) as tf.Tensor4D) : Vnew;
      const kT = K.transpose([0, 2, 3, 1]); // [B, H, dk, L_c+L]
      const v = V.transpose([0, 2, 1, 3]); // [B, H, L_c+L, dk]
      S = tf.div(bmm(qG, kT), Math.fround(Math.sqrt(dk))) as tf.Tensor4D;
      const E = tf.softmax(mask ? tf.add(S, tf.mul(mask, MASK_NEG)) : S);
      const Oh = bmm(E, v); // [B, H, L, dk]
      O = (L === 1 ? Oh : Oh.transpose([0, 2, 1, 3])).reshape([B, L, d]);
      kvOut.push(isG || !A ? {K, V} : {K, V, A});
    }
    const a = linear(O, lw.dense, fast) as tf.Tensor3D;
    if (!isG) deductive[l].S = S;

    // §3.2 post-norm residual block
    const u = layerNorm(a, lw.ln1, h, fast);
    h = layerNorm(glu(u, lw.ffn, fast), lw.ln2, u, fast);
    if (opts.hidden) {
      attnOuts.push(a);
      outs.push(h as tf.Tensor3D);
    }
  }

  if (buf) buf.length = Lc + 1; // every layer has written position L_c

  const decOutput = h as tf.Tensor3D;
  const from = opts.lastOnly ? L - 1 : (opts.logitsFrom ?? 0);
  const last = from > 0 ? decOutput.slice([0, from, 0], [B, L - from, d]) : decOutput;
  const logits = outputLayer(last, w.final, fast) as tf.Tensor3D; // [B, L, V]
  return {
    logits,
    decOutput,
    deductive: isG ? null : deductive,
    kv: kvOut,
    ...(opts.hidden ? {hidden: {embedLn: embedLn, attnOut: attnOuts, out: outs}} : {}),
  };
}

/** Positions a call's KV-cache already holds. */
function cachedLength(opts: ForwardOptions): number {
  return opts.kvBuffer ? opts.kvBuffer.length : opts.kv ? opts.kv[0].K.shape[1] : 0;
}

/**
 * An in-place KV-cache with room for `capacity` positions, holding what `kv` holds (a prompt
 * call's cache). The buffers are new tensors: writing into them leaves `kv` as it was.
 */
export function kvBufferOf(kv: KVCache[], capacity: number): KVBuffer {
  const Lc = kv[0].K.shape[1];
  if (capacity <= Lc) throw new PldrError(`an in-place KV-cache needs room beyond the ${Lc} positions it starts with`);
  const layers = kv.map((c) =>
    tf.tidy(() => ({
      Kt: tf.pad(c.K.transpose([0, 2, 3, 1]), [[0, 0], [0, 0], [0, 0], [0, capacity - Lc]]) as tf.Tensor4D, // [B, H, dk, capacity]
      V: tf.pad(c.V.transpose([0, 2, 1, 3]), [[0, 0], [0, 0], [0, capacity - Lc], [0, 0]]) as tf.Tensor4D, // [B, H, capacity, dk]
    })),
  );
  return {length: Lc, capacity, layers: layers.map((x, l) => (kv[l].A ? {...x, A: kv[l].A} : x))};
}

/**
 * §3.3–3.4: Q, K, V from h [B, L, d]; Q and K rotated at positions start…start+L−1.
 * Returns q per head [B, H, L, dk] and the new K, V rows [B, L, H, dk] for the cache.
 */
function projectQKV(h: tf.Tensor, lw: LayerWeights, rope: Rope, B: number, L: number, H: number, start: number, fast: boolean): {q: tf.Tensor4D; Knew: tf.Tensor4D; Vnew: tf.Tensor4D} {
  const d = h.shape[2]!;
  const dk = d / H;
  const h2 = h.reshape([B * L, d]);
  let Qp: tf.Tensor, Kp: tf.Tensor, Vp: tf.Tensor; // [B·L, d] each
  if (lw.wqkv) {
    const y = linear(h2, lw.wqkv, fast); // [B·L, 3d]
    if (fast) {
      const [q, Knew, Vnew] = qkvRopeFused(y as tf.Tensor2D, rope.cos, rope.sin, B, L, H, start, rope.style);
      return {q: q!, Knew: Knew!, Vnew: Vnew!};
    }
    [Qp, Kp, Vp] = tf.split(y, 3, 1) as [tf.Tensor, tf.Tensor, tf.Tensor];
  } else [Qp, Kp, Vp] = [linear(h2, lw.wq!), linear(h2, lw.wk!), linear(h2, lw.wv!)];
  const Q = rope.apply(Qp.reshape([B, L, H, dk]) as tf.Tensor4D, start);
  const Knew = rope.apply(Kp.reshape([B, L, H, dk]) as tf.Tensor4D, start);
  const q = (L === 1 ? Q.reshape([B, H, 1, dk]) : Q.transpose([0, 2, 1, 3])) as tf.Tensor4D;
  return {q, Knew, Vnew: Vp.reshape([B, L, H, dk]) as tf.Tensor4D};
}

/** §3.5: A = ResNet(LN_A0(Q̃ᵀQ̃)), from the rotated queries q [B, H, L, dk] → [B, H, dk, dk]. */
export function metricLearner(q: tf.Tensor4D, lw: LayerWeights, fast = false): tf.Tensor4D {
  // A⁰ sums over all L positions: no causal or padding mask (T3)
  let A = layerNorm(bmm(q.transpose([0, 1, 3, 2]), q), lw.lnA!, undefined, fast); // [B, H, dk, L] @ [B, H, L, dk]
  for (const unit of lw.resA!) {
    const Ain = A;
    // one tidy per unit: a prompt makes ~4 MB of intermediates per unit of a 104M model
    A = tf.tidy(() => {
      let Z = Ain;
      for (const g of unit.glus) Z = glu(Z, g, fast);
      return layerNorm(Z, unit.ln, Ain, fast);
    });
  }
  return A as tf.Tensor4D;
}

/**
 * §3.6: A_LM = iSwiGLU(W·A + b) + 1e-9; A_P = A_LM^∘P; G_LM = a·A_P + b_a (per-head left products).
 * A [B, H, dk, dk]; the parameters are [1, H, dk, dk]. `fast` (inference): a batch's parameters are
 * copied B times first, so the products and the power run as for B = 1 (bit for bit each row) rather
 * than through Tile and broadcasting Pow and Add, which wasm runs element by element with index arithmetic.
 */
export function plga(A: tf.Tensor4D, p: Plga, fast = false): {A_LM: tf.Tensor4D; A_P: tf.Tensor4D; G_LM: tf.Tensor4D} {
  const per = (x: tf.Tensor4D) => (fast ? repeatBatch(x, A.shape[0]) : x);
  const A_LM = tf.add(iSwiGLU(tf.add(bmm(per(p.W), A), per(p.b))), A_LM_FLOOR) as tf.Tensor4D;
  const A_P = tf.pow(A_LM, per(p.P)) as tf.Tensor4D;
  const G_LM = tf.add(bmm(per(p.a), A_P), per(p.ba)) as tf.Tensor4D;
  return {A_LM, A_P, G_LM};
}

/** x [1, …] → [n, …]: n copies one after another (a plain copy, where tf.broadcastTo runs Tile). */
function repeatBatch<T extends tf.Tensor>(x: T, n: number): T {
  return (n === 1 ? x : tf.concat(new Array<T>(n).fill(x), 0)) as T;
}

/**
 * a [n, M, K] @ b [n, K, N] with our wasm kernel, differentiable: the gradients are the same kernel
 * on explicitly transposed operands (dA = dC·Bᵀ, dB = Aᵀ·dC), as matMul2d's are.
 */
const batchMatMul = tf.customGrad((a, b, save) => {
  (save as tf.GradSaveFunc)([a as tf.Tensor, b as tf.Tensor]);
  return {
    value: batchMatMulFused(a as tf.Tensor3D, b as tf.Tensor3D),
    gradFunc: (dy, saved) => {
      const [A, B] = saved as tf.Tensor3D[];
      const dC = dy as tf.Tensor3D;
      return [batchMatMulFused(dC, B!.transpose([0, 2, 1])), batchMatMulFused(A!.transpose([0, 2, 1]), dC)];
    },
  };
}) as (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D;

/**
 * a @ b over leading batch dims, which may broadcast (size 1 against size n): a [..., m, k],
 * b [..., k, n] → [..., m, n]. One matrix is a 2-D matMul. Several go to our batched kernel on
 * wasm, whose own batched matMul runs ~1 GMAC/s (design.md §2): ours runs ~10, and beat splitting
 * into one 2-D matMul per matrix at every size measured (12 × 10×64×64: 0.06 vs 1.6 ms;
 * 12 × 256×64×256: 2.8 vs 19 ms; 32 × 256×256×32, a training batch's heads: 4.6 ms vs 66 batched).
 */
export function bmm(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const r = a.rank;
  const [m, k] = a.shape.slice(r - 2);
  const n = b.shape[r - 1];
  const batchA = a.shape.slice(0, r - 2);
  const batchB = b.shape.slice(0, r - 2);
  const batch = batchA.map((x, i) => Math.max(x, batchB[i]));
  const count = batch.reduce((x, y) => x * y, 1);
  if (count === 1) return matMul2d(a.reshape([m, k]), b.reshape([k, n])).reshape([...batch, m, n]);
  const A = batchA.every((x, i) => x === batch[i]) ? a : tf.broadcastTo(a, [...batch, m, k]);
  const B = batchB.every((x, i) => x === batch[i]) ? b : tf.broadcastTo(b, [...batch, k, n]);
  if (!fusedKernelsActive()) return tf.matMul(A, B);
  return batchMatMul(A.reshape([count, m, k]) as tf.Tensor3D, B.reshape([count, k, n]) as tf.Tensor3D).reshape([...batch, m, n]);
}
