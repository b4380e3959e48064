/**
 * Initial weights for training from scratch (docs/spec.md §3.13), with the reference's W_v quirk: wv keeps
 * PyTorch's default Linear init because the reference Xavier-initialises wk twice (T1). PyTorch's
 * random stream cannot be reproduced, so only the distributions match; the draw is seeded.
 */
import {type ModelConfig, stateDictSpec} from '../config.js';
import type {StateDict} from '../io/tensor.js';
import {Rng} from '../sampling.js';

export function initWeights(cfg: ModelConfig, seed: number): StateDict {
  const rng = new Rng(seed);
  const uniform = (n: number, a: number) => Float32Array.from({length: n}, () => (2 * rng.next() - 1) * a);
  const normal = (n: number, std: number) =>
    Float32Array.from(
      {length: n},
      () => std * Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next()),
    );
  const H = cfg.num_heads;
  const dk = cfg.d_model / H;
  const sd: StateDict = new Map();
  for (const {key, shape} of stateDictSpec(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    const [out, inp] = shape;
    if (key === 'decoder.embedding.weight')
      data = normal(n, 1); // nn.Embedding: N(0, 1)
    else if (/\.mha1\.wv\.(weight|bias)$/.test(key))
      data = uniform(n, 1 / Math.sqrt(cfg.d_model)); // PyTorch default, both
    else if (/plgatt_layer\.(Wlst|pwlst|alst)$/.test(key))
      data = normal(n, Math.sqrt(2 / (dk * dk + H * dk))); // Xavier-normal, 3-D fans
    else if (/(layernorm\w*|layernormA)\.weight$/.test(key)) data = new Float32Array(n).fill(1);
    else if (key.endsWith('.weight') && shape.length === 2)
      data = uniform(n, Math.sqrt(6 / (inp + out))); // Xavier-uniform
    else data = new Float32Array(n); // biases, blst, balst, LayerNorm β
    sd.set(key, {dtype: 'F32', shape, data});
  }
  return sd;
}
