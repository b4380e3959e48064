/**
 * The caches of a model call (docs/spec.md §4): the KV-cache, the G-cache and the in-place KV buffer.
 *
 * Per layer, the KV-cache holds the rotated keys K̃ and the values Vv of every position seen so far
 * (and, for v510, the metric learner's A from the prompt: it is never recomputed). The G-cache holds
 * what PLGA made from that A — A_LM and G_LM, and A_P for the DAG variant — so a call given it skips
 * PLGA. The metric learner still runs, as in the reference, because its A goes into the returned
 * KV-cache; only a caller that discards that cache (`noCache`, eval's scoring) skips it too. The cache modes of generation (docs/spec.md §4.3), per call:
 *
 *   mode       prompt call                           each later call (one new token unless "none")
 *   none       whole prompt, mask; keeps nothing     whole sequence again, mask rebuilt; keeps nothing
 *   kv         whole prompt, mask; keeps K̃, Vv, A    reads K̃, Vv, A; appends the token's K̃, Vv; PLGA
 *                                                    runs on the cached A
 *   g          whole prompt, mask; keeps A_LM, G_LM  whole sequence again, mask rebuilt; reads the
 *                                                    G-cache: no PLGA (the metric learner runs)
 *   kv+g       whole prompt, mask; keeps both        reads both: appends K̃, Vv; attention through
 *                                                    the cached G_LM (`decodeStep` in forward.ts)
 *   G list     an external G list is the G-cache of every call, the first included; with a
 *              KV-cache too (kv, kv+g) as above, otherwise as "g"
 *
 * PLDRv51G has a constant G_LM per layer: its "g" is "none" and its "kv+g" is "kv"; an external
 * G list replaces the constant one. Where the fused kernels run, generation holds the KV-cache in
 * place (`KVBuffer`): room for every position is allocated after the prompt call and each step
 * writes its token's K̃ and Vv there, rather than concatenating a new cache per token.
 */
import * as tf from '@tensorflow/tfjs';

import {PldrError} from '../errors.js';
import {checkGShape, type GList} from '../io/glist.js';
import type {HostTensor} from '../io/tensor.js';
import type {Deductive} from './forward.js';
import type {PldrModel} from './pldr.js';

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
  layers: KVSlot[];
}
/** One layer of a KVBuffer: Kt [B, H, dk, capacity], V [B, H, capacity, dk], A [B, H, dk, dk] (v510 only). */
export interface KVSlot {
  Kt: tf.Tensor4D;
  V: tf.Tensor4D;
  A?: tf.Tensor4D;
}

/** G-cache of one layer, each [B, H, dk, dk]. A_P is held by the DAG variant. */
export interface GCache {
  A_LM: tf.Tensor4D;
  G_LM: tf.Tensor4D;
  A_P?: tf.Tensor4D;
}

/** The G-cache a call's deductive outputs give for the next call (docs/spec.md §5.2 step 4.4): [A_LM, G_LM (, A_P)]. */
export function gCacheOf(deductive: Deductive[]): GCache[] {
  return deductive.map((d) => ({A_LM: d.A_LM, G_LM: d.G_LM, ...(d.A_P ? {A_P: d.A_P} : {})}));
}

/** Positions a call's KV-cache already holds. */
export function cachedLength(opts: {kv?: KVCache[]; kvBuffer?: KVBuffer}): number {
  return opts.kvBuffer ? opts.kvBuffer.length : opts.kv ? opts.kv[0]!.K.shape[1] : 0;
}

/**
 * An in-place KV-cache with room for `capacity` positions, holding what `kv` holds (a prompt
 * call's cache). The buffers are new tensors: writing into them leaves `kv` as it was.
 */
export function kvBufferOf(kv: KVCache[], capacity: number): KVBuffer {
  const Lc = kv[0]!.K.shape[1];
  if (capacity <= Lc) throw new PldrError(`an in-place KV-cache needs room beyond the ${Lc} positions it starts with`);
  const layers = kv.map((c) =>
    tf.tidy(() => ({
      Kt: tf.pad(c.K.transpose([0, 2, 3, 1]), [
        [0, 0],
        [0, 0],
        [0, 0],
        [0, capacity - Lc],
      ]) as tf.Tensor4D, // [B, H, dk, capacity]
      V: tf.pad(c.V.transpose([0, 2, 1, 3]), [
        [0, 0],
        [0, 0],
        [0, capacity - Lc],
        [0, 0],
      ]) as tf.Tensor4D, // [B, H, capacity, dk]
    })),
  );
  return {length: Lc, capacity, layers: layers.map((x, l) => (kv[l]!.A ? {...x, A: kv[l]!.A} : x))};
}

/**
 * An external G list as the per-layer G-cache of this model (docs/spec.md §4.3, §5.6). Accepts bare G_LM
 * lists (A_LM then zero, as in the reference's NAB lists), pairs, and triples; a DAG model without
 * A_P in the list gets A_LM^∘P.
 */
export function gCacheFromList(model: PldrModel, glist: GList): GCache[] {
  const {num_layers: N, num_heads: H} = model.cfg;
  const dk = model.dk;
  if (glist.layers.length !== N)
    throw new PldrError(`the G list has ${glist.layers.length} layers, the model has ${N}`);
  const toT = (t: HostTensor, what: string, l: number): tf.Tensor4D => {
    checkGShape(t, H, dk, `G list layer ${l} ${what}`);
    return tf.tensor4d(Float32Array.from(t.data as Float32Array), [1, H, dk, dk]);
  };
  return glist.layers.map((layer, l) => {
    const G_LM = toT(layer.G_LM, 'G_LM', l);
    const A_LM = layer.A_LM ? toT(layer.A_LM, 'A_LM', l) : (tf.zeros([1, H, dk, dk]) as tf.Tensor4D);
    if (!model.isDag) return {A_LM, G_LM};
    const A_P = layer.A_P
      ? toT(layer.A_P, 'A_P', l)
      : (tf.tidy(() => tf.pow(A_LM, model.w.layers[l]!.plga!.P)) as tf.Tensor4D);
    return {A_LM, G_LM, A_P};
  });
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
