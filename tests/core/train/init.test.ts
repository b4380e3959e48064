/** Initialisation distributions of docs/spec.md §3.13, the W_v quirk included (T1). */
import {describe, expect, it} from 'vitest';

import {getPreset, stateDictSpec} from '../../../src/core/config.js';
import {initWeights} from '../../../src/core/train/init.js';

const stats = (x: Float32Array) => {
  let m = 0;
  for (const v of x) m += v;
  m /= x.length;
  let s = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of x) {
    s += (v - m) ** 2;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return {mean: m, std: Math.sqrt(s / x.length), lo, hi};
};

/** Within 5 % — the sample std of a few thousand draws. */
const near = (x: number, want: number) => expect(Math.abs(x - want) / want).toBeLessThan(0.05);

describe('initWeights', () => {
  const cfg = getPreset('tiny');
  const sd = initWeights(cfg, 1234);
  const d = cfg.d_model;
  const dk = d / cfg.num_heads;

  it('has every key of the spec with its shape, and is deterministic per seed', () => {
    expect([...sd.keys()]).toEqual(stateDictSpec(cfg).map((k) => k.key));
    for (const {key, shape} of stateDictSpec(cfg)) expect(sd.get(key)!.shape).toEqual(shape);
    const again = initWeights(cfg, 1234);
    expect(again.get('decoder.dec_layers.0.mha1.wq.weight')!.data).toEqual(
      sd.get('decoder.dec_layers.0.mha1.wq.weight')!.data,
    );
    expect(initWeights(cfg, 1).get('decoder.dec_layers.0.mha1.wq.weight')!.data).not.toEqual(
      sd.get('decoder.dec_layers.0.mha1.wq.weight')!.data,
    );
  });

  it('draws each parameter from the reference distribution', () => {
    const a = Math.sqrt(6 / (d + d));
    const wq = stats(sd.get('decoder.dec_layers.0.mha1.wq.weight')!.data as Float32Array);
    expect(wq.hi).toBeLessThanOrEqual(a);
    near(wq.std, a / Math.sqrt(3)); // U(−a, a)
    // the W_v trap: PyTorch's default init, weight AND bias U(±1/√d), not Xavier
    const wv = stats(sd.get('decoder.dec_layers.0.mha1.wv.weight')!.data as Float32Array);
    expect(wv.hi).toBeLessThanOrEqual(1 / Math.sqrt(d));
    near(wv.std, 1 / Math.sqrt(d) / Math.sqrt(3));
    const wvb = stats(sd.get('decoder.dec_layers.0.mha1.wv.bias')!.data as Float32Array);
    expect(wvb.std).toBeGreaterThan(0.02);
    expect(stats(sd.get('decoder.dec_layers.0.mha1.wq.bias')!.data as Float32Array).std).toBe(0);
    const emb = stats(sd.get('decoder.embedding.weight')!.data as Float32Array);
    near(emb.std, 1);
    const W = stats(sd.get('decoder.dec_layers.0.mha1.plgatt_layer.pwlst')!.data as Float32Array);
    near(W.std, Math.sqrt(2 / (dk * dk + cfg.num_heads * dk)));
    expect(stats(sd.get('decoder.dec_layers.0.mha1.plgatt_layer.balst')!.data as Float32Array).std).toBe(0);
    expect(Array.from(sd.get('decoder.layernorm1.weight')!.data as Float32Array).every((v) => v === 1)).toBe(true);
  });
});
