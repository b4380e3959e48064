/**
 * The G-cache as an artifact (spec §4.1, §5.4, §7): infer A, A_LM, A_P and G_LM once from a prompt
 * — the prompt call of generate_text with caches on, which is the call generate_Glst keeps — and
 * hand them over as host arrays (batch row 0, each [H, dk, dk]).
 */
import * as tf from '@tensorflow/tfjs';

import {PldrError} from './errors.js';
import type {GList} from './io/glist.js';
import type {HostTensor, StateDict} from './io/tensor.js';
import {createMask, type PldrModel} from './model/pldr.js';

export interface DeductiveLayer {
  A?: Float32Array; // KV entry 2: the metric learner's output (v510 only)
  A_LM?: Float32Array;
  A_P?: Float32Array;
  G_LM: Float32Array;
}
export interface DeductiveSet {
  H: number;
  dk: number;
  layers: DeductiveLayer[];
}

/**
 * One model call on the fed ids with the standard mask: per layer A, A_LM, A_P = A_LM^∘P and G_LM.
 * A PLDRv51G model has only its constant G_LM.
 */
export function inferDeductive(model: PldrModel, fed: number[]): DeductiveSet {
  const H = model.cfg.num_heads;
  const dk = model.dk;
  if (fed.length === 0) throw new PldrError('inferring G needs at least one token (the empty prompt is fed as [END])');
  if (model.isG) return checkFinite({H, dk, layers: model.G!.map((g) => ({G_LM: g.dataSync() as Float32Array}))});
  const mask = createMask([fed]);
  const r = model.forward([fed], {mask, lastOnly: true});
  try {
    const layers = r.deductive!.map((d, l) => {
      const A_P = d.A_P ?? tf.tidy(() => tf.pow(d.A_LM, d.P));
      const out: DeductiveLayer = {A: r.kv[l].A!.dataSync() as Float32Array, A_LM: d.A_LM.dataSync() as Float32Array, A_P: A_P.dataSync() as Float32Array, G_LM: d.G_LM.dataSync() as Float32Array};
      if (A_P !== d.A_P) A_P.dispose();
      return out;
    });
    return checkFinite({H, dk, layers});
  } finally {
    mask.dispose();
    tf.dispose(r as unknown as tf.TensorContainer);
  }
}

/**
 * A G (or A_LM) with a NaN or an infinity is no G: every later use of it would be silently wrong, so
 * it is refused here, before anything is written.
 */
function checkFinite(d: DeductiveSet): DeductiveSet {
  d.layers.forEach((layer, l) => {
    for (const name of ['A_LM', 'G_LM'] as const) {
      const v = layer[name];
      if (v && !v.every(Number.isFinite))
        throw new PldrError(`${name} of layer ${l} is not finite (NaN or infinity): the model's weights are probably not finite; check them, or retrain from a good checkpoint`);
    }
  });
  return d;
}

/**
 * The G-cache list a v510 model takes as an external G: [A_LM, G_LM] pairs, or triples with A_P
 * (the DAG variant's cache, or on request). A PLDRv51G model gives a bare G_LM list.
 */
export function gListOf(d: DeductiveSet, opts: {withAP?: boolean} = {}): GList {
  const shape = [1, d.H, d.dk, d.dk];
  const t = (data: Float32Array): HostTensor => ({dtype: 'F32', shape, data});
  if (d.layers.every((l) => l.A_LM === undefined)) return {kind: 'tensors', layers: d.layers.map((l) => ({G_LM: t(l.G_LM)})), metadata: {}};
  return {
    kind: opts.withAP ? 'triples' : 'pairs',
    layers: d.layers.map((l) => ({A_LM: t(l.A_LM!), G_LM: t(l.G_LM), ...(opts.withAP ? {A_P: t(l.A_P!)} : {})})),
    metadata: {},
  };
}

/** The export file's tensors: layer.<i>.A_LM and layer.<i>.G_LM, and on request .A and .A_P. */
export function exportTensors(d: DeductiveSet, opts: {withA?: boolean; withAP?: boolean} = {}): StateDict {
  const shape = [1, d.H, d.dk, d.dk];
  const out: StateDict = new Map();
  d.layers.forEach((l, i) => {
    if (l.A_LM === undefined) {
      out.set(`layer.${i}`, {dtype: 'F32', shape, data: l.G_LM});
      return;
    }
    out.set(`layer.${i}.A_LM`, {dtype: 'F32', shape, data: l.A_LM});
    out.set(`layer.${i}.G_LM`, {dtype: 'F32', shape, data: l.G_LM});
    if (opts.withA) out.set(`layer.${i}.A`, {dtype: 'F32', shape, data: l.A!});
    if (opts.withAP) out.set(`layer.${i}.A_P`, {dtype: 'F32', shape, data: l.A_P!});
  });
  return out;
}
