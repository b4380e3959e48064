/**
 * Prepared weights. Parameters are kept under the reference's state-dict names (reference shapes)
 * and prepared once for the forward pass: every linear weight transposed to [in, out] so each
 * matMul stays on the wasm fast path (docs/design.md §2), and, for inference, Q, K and V as one product.
 * Shapes: H heads, dk head width, d = H·dk, V vocabulary.
 */
import * as tf from '@tensorflow/tfjs';

import type {ModelConfig} from '../config.js';
import {PldrError} from '../errors.js';
import type {BlockedLinear, Linear} from './linear.js';

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
    linOf(
      ks,
      tf.tidy(() =>
        tf
          .concat(
            ks.map((k) => p(`${k}.weight`)),
            0,
          )
          .transpose(),
      ),
      tf.concat(ks.map((k) => p(`${k}.bias`))),
    );
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
      layer.plga = {
        W: perHead(`${q}.Wlst`),
        b: perHead(`${q}.blst`),
        P: perHead(`${q}.pwlst`),
        a: perHead(`${q}.alst`),
        ba: perHead(`${q}.balst`),
      };
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
export function linearSources(
  cfg: ModelConfig,
  w: Weights,
): Map<string, {lin: Linear; from: number; to: number} | BlockedLinear> {
  const out = new Map<string, {lin: Linear; from: number; to: number} | BlockedLinear>();
  const whole = (k: string, lin: Linear) => out.set(`${k}.weight`, {lin, from: 0, to: lin.wT.shape[1]});
  const glu = (k: string, g: Glu) =>
    ['gluw1', 'gluw2', 'gluw3'].forEach((n, i) => whole(`${k}.${n}`, [g.w1, g.w2, g.w3][i]!));
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

/** True when every head of g ([..., dk, dk]) is exactly the identity matrix. */
export function isIdentity(g: tf.Tensor, dk: number): boolean {
  const v = g.dataSync();
  for (let i = 0; i < v.length; i++) if (v[i] !== ((i % (dk * dk)) % (dk + 1) === 0 ? 1 : 0)) return false;
  return true;
}
