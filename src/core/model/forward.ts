/**
 * The PLDR-LLM forward pass, read top to bottom as docs/spec.md §3 and §4.2 write it: embedding, then per
 * decoder layer the projections and RoPE, the metric learner, PLGA, attention through G_LM and the
 * feed-forward block, then the output layer. One file for the mathematics; the weights it reads are
 * prepared in weights.ts, the caches it reads and returns are described in cache.ts.
 *
 * Variants: PLDRv51 (v510), PLDRv51-DAG (v510_dag: also returns A_P), PLDRv51G (v510G: a constant
 * G_LM per layer, no metric learner or PLGA; G = identity is SDPA) and PLDRv51Gi (a v510G built from
 * a trained v510 plus its G list).
 *
 * Shapes: B batch, L tokens in this call, L_c tokens already cached, H heads, dk head width,
 * d = H·dk, V vocabulary. `fast` (inference only, never under gradients) uses the fused wasm kernels
 * of kernels.ts where the backend has them.
 */
import * as tf from '@tensorflow/tfjs';

import type {ModelConfig} from '../config.js';
import {PldrError} from '../errors.js';
import {cachedLength, type GCache, type KVBuffer, type KVCache} from './cache.js';
import {A_LM_FLOOR, LN_EPS} from './constants.js';
import {bmm} from './grads.js';
import {cachedAttention, fusedKernelsActive, layerNormFused, qkvRopeFused} from './kernels.js';
import {linear, outputLayer} from './linear.js';
import type {Rope} from './rope.js';
import type {Glu, LayerWeights, Norm, Plga, Weights} from './weights.js';

// ---------------------------------------------------------------------------------------------
// Constants (LN_EPS and A_LM_FLOOR: constants.ts)

/** What a blocked position adds to its score before the softmax (docs/spec.md §3.7). */
const MASK_NEG = -1e9;

// ---------------------------------------------------------------------------------------------
// What a call takes and returns

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
  hidden?: Hidden;
}
interface Hidden {
  embedLn: tf.Tensor3D;
  attnOut: tf.Tensor3D[];
  out: tf.Tensor3D[];
}

// ---------------------------------------------------------------------------------------------
// Basic operators (docs/spec.md §0)

/**
 * LayerNorm over the last axis, biased variance, ε = LN_EPS; LN(x + r) with a residual.
 * `fast`: one fused kernel instead of a chain of ops.
 */
function layerNorm(x: tf.Tensor, n: Norm, r?: tf.Tensor, fast = false): tf.Tensor {
  if (fast) return layerNormFused(x, n.g, n.b, r, LN_EPS);
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

/** x [1, …] → [n, …]: n copies one after another (a plain copy, where tf.broadcastTo runs Tile). */
function repeatBatch<T extends tf.Tensor>(x: T, n: number): T {
  return (n === 1 ? x : tf.concat(new Array<T>(n).fill(x), 0)) as T;
}

// ---------------------------------------------------------------------------------------------
// §3.1 Embedding

/** LN_emb( Emb[ids] · float32(√d) ): ids [B][L] → [B, L, d]. */
function embed(w: Weights, ids: number[][], fast: boolean): tf.Tensor3D {
  const d = w.embedding.shape[1];
  const idsT = tf.tensor2d(ids.flat(), [ids.length, ids[0]!.length], 'int32'); // [B, L]
  return layerNorm(
    tf.mul(tf.gather(w.embedding, idsT), Math.fround(Math.sqrt(d))),
    w.lnEmb,
    undefined,
    fast,
  ) as tf.Tensor3D;
}

// ---------------------------------------------------------------------------------------------
// §3.3–3.4 Projections, head split, RoPE

/**
 * Q, K, V from h [B, L, d]; Q and K rotated at positions start…start+L−1.
 * Returns q per head [B, H, L, dk] and the new K̃, Vv rows [B, L, H, dk] for the cache.
 */
function projectQKV(
  h: tf.Tensor,
  lw: LayerWeights,
  rope: Rope,
  H: number,
  start: number,
  fast: boolean,
): {q: tf.Tensor4D; Knew: tf.Tensor4D; Vnew: tf.Tensor4D} {
  const [B, L, d] = h.shape as [number, number, number];
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
  const Q = rope.apply(Qp.reshape([B, L, H, dk]) as tf.Tensor4D, start); // [B, L, H, dk]
  const Knew = rope.apply(Kp.reshape([B, L, H, dk]) as tf.Tensor4D, start);
  const q = (L === 1 ? Q.reshape([B, H, 1, dk]) : Q.transpose([0, 2, 1, 3])) as tf.Tensor4D;
  return {q, Knew, Vnew: Vp.reshape([B, L, H, dk]) as tf.Tensor4D};
}

// ---------------------------------------------------------------------------------------------
// §3.5 Metric learner

/** A = ResNet(LN_A0(Q̃ᵀQ̃)), from the rotated queries q [B, H, L, dk] → [B, H, dk, dk]. */
export function metricLearner(q: tf.Tensor4D, lw: LayerWeights, fast = false): tf.Tensor4D {
  // A⁰ sums over all L positions: no causal or padding mask (T3)
  let A = layerNorm(bmm(q.transpose([0, 1, 3, 2]), q), lw.lnA!, undefined, fast); // [B, H, dk, L] @ [B, H, L, dk]
  for (const unit of lw.resA!) {
    const Ain = A; // [B, H, dk, dk]
    // one tidy per unit: a long prompt makes megabytes of intermediates per unit
    A = tf.tidy(() => {
      let Z = Ain;
      for (const g of unit.glus) Z = glu(Z, g, fast);
      return layerNorm(Z, unit.ln, Ain, fast);
    });
  }
  return A as tf.Tensor4D;
}

// ---------------------------------------------------------------------------------------------
// §3.6 Power law graph attention (PLGA)

/**
 * A_LM = iSwiGLU(W·A + b) + 1e-9; A_P = A_LM^∘P; G_LM = a·A_P + b_a (per-head left products).
 * A [B, H, dk, dk]; the parameters are [1, H, dk, dk]. `fast` (inference): a batch's parameters are
 * copied B times first, so the products and the power run as for B = 1 (bit for bit each row) rather
 * than through Tile and broadcasting Pow and Add, which wasm runs element by element with index arithmetic.
 */
export function plga(A: tf.Tensor4D, p: Plga, fast = false): {A_LM: tf.Tensor4D; A_P: tf.Tensor4D; G_LM: tf.Tensor4D} {
  const per = (x: tf.Tensor4D) => (fast ? repeatBatch(x, A.shape[0]) : x);
  const A_LM = tf.add(iSwiGLU(tf.add(bmm(per(p.W), A), per(p.b))), A_LM_FLOOR) as tf.Tensor4D; // [B, H, dk, dk]
  const A_P = tf.pow(A_LM, per(p.P)) as tf.Tensor4D;
  const G_LM = tf.add(bmm(per(p.a), A_P), per(p.ba)) as tf.Tensor4D;
  return {A_LM, A_P, G_LM};
}

/** What a layer deduces: the G_LM its attention goes through, and (v510) the A and A_LM (, A_P) behind it. */
type Deduced = {
  A?: tf.Tensor4D; // [B, H, dk, dk], for the KV-cache
  A_LM?: tf.Tensor4D;
  G_LM: tf.Tensor4D; // [B or 1, H, dk, dk]
  A_P?: tf.Tensor4D;
};

/**
 * §3.5–3.6 for one layer, and what the caches skip (§4.2). v510G: the constant G_LM, or the external
 * G list's. v510: a G-cache gives A_LM, G_LM (, A_P) and skips PLGA; the metric learner's A then only
 * goes into the KV-cache (`keepA`). A KV-cache holds the prompt's A (`cachedA`): it is never updated.
 * Inference frees the intermediates at once; training keeps them for the gradients.
 */
function deduce(
  q: tf.Tensor4D,
  lw: LayerWeights,
  cachedA: tf.Tensor4D | undefined,
  gIn: GCache | undefined,
  keepA: boolean,
  fast: boolean,
): Deduced {
  if (!lw.plga) return {G_LM: gIn?.G_LM ?? lw.G!};
  const step = (): Deduced => {
    if (gIn)
      return {
        A: cachedA ?? (keepA ? metricLearner(q, lw, fast) : undefined),
        A_LM: gIn.A_LM,
        G_LM: gIn.G_LM,
        A_P: gIn.A_P,
      };
    const A = cachedA ?? metricLearner(q, lw, fast);
    return {A, ...plga(A, lw.plga!, fast)};
  };
  return fast ? tf.tidy(step) : step();
}

/** §3.10 the layer's deductive outputs, with its pre-mask scores S [B, H, L, L_c+L]. */
function deductiveOf(lw: LayerWeights, {A_LM, G_LM, A_P}: Deduced, S: tf.Tensor4D, isDag: boolean): Deductive {
  const p = lw.plga!;
  const [, H, dk] = p.P.shape;
  const perHead = (x: tf.Tensor4D) => x.reshape([H, dk, dk]) as tf.Tensor3D;
  return {
    A_LM: A_LM!,
    P: perHead(p.P),
    a: perHead(p.a),
    ba: perHead(p.ba),
    G_LM,
    S,
    ...(isDag ? {A_P: A_P ?? (tf.pow(A_LM!, p.P) as tf.Tensor4D)} : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// §3.7 Attention through G_LM

/**
 * q·G_LM per head: q [B, H, L, dk] → [B, H, L, dk]. A given G [1, H, dk, dk] serves every row of a
 * batch: copied, not broadcast (see plga). An identity G (SDPA) is skipped unless a G list replaced it.
 */
function throughG(
  q: tf.Tensor4D,
  G_LM: tf.Tensor4D,
  lw: LayerWeights,
  gIn: GCache | undefined,
  fast: boolean,
): tf.Tensor4D {
  if (lw.identityG && !gIn) return q;
  const B = q.shape[0];
  return bmm(q, fast && G_LM.shape[0] < B ? repeatBatch(G_LM, B) : G_LM) as tf.Tensor4D;
}

/**
 * Scores S = qG·K̃ᵀ/√dk [B, H, L, L_c+L], masked softmax, E·Vv, heads merged → O [B, L, d]; the
 * new K̃, Vv rows [B, L, H, dk] appended to a KV-cache's (concatenated: the returned K, V are the
 * layer's new KV-cache [B, L_c+L, H, dk]).
 */
function attend(
  qG: tf.Tensor4D,
  Knew: tf.Tensor4D,
  Vnew: tf.Tensor4D,
  kvIn: KVCache | undefined,
  mask: tf.Tensor | null,
): {O: tf.Tensor3D; S: tf.Tensor4D; K: tf.Tensor4D; V: tf.Tensor4D} {
  const [B, H, L, dk] = qG.shape;
  const K = kvIn ? (tf.concat([kvIn.K, Knew], 1) as tf.Tensor4D) : Knew; // [B, L_c+L, H, dk]
  const V = kvIn ? (tf.concat([kvIn.V, Vnew], 1) as tf.Tensor4D) : Vnew;
  const kT = K.transpose([0, 2, 3, 1]); // [B, H, dk, L_c+L]
  const v = V.transpose([0, 2, 1, 3]); // [B, H, L_c+L, dk]
  const S = tf.div(bmm(qG, kT), Math.fround(Math.sqrt(dk))) as tf.Tensor4D;
  const E = tf.softmax(mask ? tf.add(S, tf.mul(mask, MASK_NEG)) : S);
  const Oh = bmm(E, v); // [B, H, L, dk]
  const O = (L === 1 ? Oh : Oh.transpose([0, 2, 1, 3])).reshape([B, L, H * dk]) as tf.Tensor3D;
  return {O, S, K, V};
}

// ---------------------------------------------------------------------------------------------
// §3.2, §3.8 The rest of a decoder layer

/** Post-norm residual block after attention: u = LN₁(a + h), then LN₂(GLU_ffn(u) + u). a, h [B, L, d]. */
function feedForward(h: tf.Tensor3D, a: tf.Tensor, lw: LayerWeights, fast: boolean): tf.Tensor3D {
  const u = layerNorm(a, lw.ln1, h, fast);
  return layerNorm(glu(u, lw.ffn, fast), lw.ln2, u, fast) as tf.Tensor3D;
}

// ---------------------------------------------------------------------------------------------
// The whole call

/**
 * The forward pass on given weights (no tidy here: callers wrap it, training differentiates it).
 * A call given an in-place KV-cache is a decode step (`decodeStep`).
 */
export function forwardWith(
  model: {cfg: ModelConfig; rope: Rope},
  w: Weights,
  ids: number[][],
  opts: ForwardOptions = {},
): ForwardResult {
  const fast = opts.fast === true && fusedKernelsActive();
  if (opts.kvBuffer) {
    if (!(fast && ids[0]!.length === 1))
      throw new PldrError('an in-place KV-cache takes one new token, on the fused kernels of the wasm backend');
    return decodeStep(model, w, ids, opts.kvBuffer, opts.g, opts.hidden);
  }
  const {cfg, rope} = model;
  const L = ids[0]!.length;
  const Lc = cachedLength(opts);
  const deductive: Deductive[] = [];
  const kv: KVCache[] = [];
  let h = embed(w, ids, fast); // [B, L, d]
  const hidden: Hidden | undefined = opts.hidden ? {embedLn: h, attnOut: [], out: []} : undefined;
  for (let l = 0; l < cfg.num_layers; l++) {
    const lw = w.layers[l]!;
    const kvIn = opts.kv?.[l];
    const gIn = opts.g?.[l];
    const {q, Knew, Vnew} = projectQKV(h, lw, rope, cfg.num_heads, Lc, fast); // q [B, H, L, dk]; Knew, Vnew [B, L, H, dk]
    const ded = deduce(q, lw, kvIn?.A, gIn, !opts.noCache, fast); // G_LM [B or 1, H, dk, dk]
    const {O, S, K, V} = attend(throughG(q, ded.G_LM, lw, gIn, fast), Knew, Vnew, kvIn, opts.mask ?? null); // O [B, L, d]
    kv.push(ded.A ? {K, V, A: ded.A} : {K, V});
    if (lw.plga) deductive.push(deductiveOf(lw, ded, S, cfg.variant === 'v510_dag'));
    const a = linear(O, lw.dense, fast) as tf.Tensor3D; // [B, L, d]
    h = feedForward(h, a, lw, fast);
    hidden?.attnOut.push(a);
    hidden?.out.push(h);
  }
  const from = opts.lastOnly ? L - 1 : (opts.logitsFrom ?? 0);
  const last = from > 0 ? h.slice([0, from, 0], [ids.length, L - from, cfg.d_model]) : h;
  const logits = outputLayer(last, w.final, fast) as tf.Tensor3D; // [B, L − from, V]
  return {logits, decOutput: h, deductive: cfg.variant === 'v510G' ? null : deductive, kv, ...(hidden ? {hidden} : {})};
}

/**
 * One decode step of generation: one new token per row, ids [B][1], at position L_c = buf.length,
 * on the in-place KV-cache and the fused kernels — with a G-cache (mode kv+g), attention goes
 * through the cached G_LM and neither the metric learner nor PLGA runs; without one (mode kv),
 * PLGA runs on the prompt's A held in the cache. Appends the token's K̃, Vv to `buf`.
 */
export function decodeStep(
  model: {cfg: ModelConfig; rope: Rope},
  w: Weights,
  ids: number[][],
  buf: KVBuffer,
  g?: GCache[],
  keepHidden = false,
): ForwardResult {
  const {cfg, rope} = model;
  const Lc = buf.length;
  const deductive: Deductive[] = [];
  let h = embed(w, ids, true); // [B, 1, d]
  const hidden: Hidden | undefined = keepHidden ? {embedLn: h, attnOut: [], out: []} : undefined;
  for (let l = 0; l < cfg.num_layers; l++) {
    const lw = w.layers[l]!;
    const slot = buf.layers[l]!; // Kt [B, H, dk, capacity], V [B, H, capacity, dk], A [B, H, dk, dk]
    const gIn = g?.[l]; // A_LM, G_LM (, A_P) [B, H, dk, dk]
    const {q, Knew, Vnew} = projectQKV(h, lw, rope, cfg.num_heads, Lc, true); // q [B, H, 1, dk]; Knew, Vnew [B, 1, H, dk]
    const ded = deduce(q, lw, slot.A, gIn, false, true); // G_LM from the G-cache, or PLGA(A)
    const {O, S} = cachedAttention(throughG(q, ded.G_LM, lw, gIn, true), Knew, Vnew, slot.Kt, slot.V, Lc); // writes K̃, Vv at L_c; O [B, 1, d], S [B, H, 1, L_c+1]
    if (lw.plga) deductive.push(deductiveOf(lw, ded, S, cfg.variant === 'v510_dag'));
    const a = linear(O, lw.dense, true) as tf.Tensor3D; // [B, 1, d]
    h = feedForward(h, a, lw, true);
    hidden?.attnOut.push(a);
    hidden?.out.push(h);
  }
  buf.length = Lc + 1; // every layer has written position L_c
  const logits = outputLayer(h, w.final, true) as tf.Tensor3D; // [B, 1, V]
  return {
    logits,
    decOutput: h,
    deductive: cfg.variant === 'v510G' ? null : deductive,
    kv: [],
    ...(hidden ? {hidden} : {}),
  };
}

/** The standard mask of docs/spec.md §3.7: max(key padding (id 0), look-ahead), 1 = blocked, [B, 1, L, L]. */
export function createMask(ids: number[][]): tf.Tensor4D {
  const B = ids.length;
  const L = ids[0]!.length;
  const m = new Float32Array(B * L * L);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) m[(b * L + i) * L + j] = j > i || ids[b]![j] === 0 ? 1 : 0;
  return tf.tensor4d(m, [B, 1, L, L]);
}
