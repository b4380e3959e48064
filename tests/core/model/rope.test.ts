/**
 * Rotary position embedding (model/rope.ts) in the rotate-half style of PLDR-LLM v52 (GPT-NeoX,
 * Transformers' `reference_rope: false`): the rotation itself against a direct computation from the
 * reference table, the fused wasm QKV kernel against the composite ops, and the gradient. The
 * model-level parity on the v52 fixtures is in v52.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import {beforeAll, describe, expect, it} from 'vitest';

import {initBackend} from '../../../src/core/backend.js';
import {fusedKernelsActive, qkvRopeFused} from '../../../src/core/model/kernels.js';
import {Rope, ropeTable} from '../../../src/core/model/rope.js';
import {maxAbsDiff} from '../../helpers.js';

describe('rotate-half RoPE (unit)', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('pairs component i with i + d_k/2 at the reference frequencies: x·cos + rotate_half(x)·sin', () => {
    const [P, dk, start, L] = [16, 8, 5, 3];
    const x = tf.randomNormal([1, L, 2, dk], 0, 1, 'float32', 7) as tf.Tensor4D; // [B, L, H, dk]
    const rope = new Rope(P, dk, 'neox');
    const got = rope.apply(x, start).dataSync();
    const xs = x.dataSync();
    const table = ropeTable(P, dk); // [P, dk/2, 2] = (cos, sin)
    const want = new Float32Array(xs.length);
    for (let t = 0; t < L; t++)
      for (let h = 0; h < 2; h++)
        for (let i = 0; i < dk / 2; i++) {
          const o = (t * 2 + h) * dk;
          const c = table[((start + t) * (dk / 2) + i) * 2];
          const s = table[((start + t) * (dk / 2) + i) * 2 + 1];
          want[o + i] = Math.fround(xs[o + i] * c) - Math.fround(xs[o + i + dk / 2] * s);
          want[o + i + dk / 2] = Math.fround(xs[o + i + dk / 2] * c) + Math.fround(xs[o + i] * s);
        }
    expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-6);
    // the reference style on the same input is a different rotation
    const ref = new Rope(P, dk, 'reference');
    expect(maxAbsDiff(ref.apply(x, start).dataSync(), got)).toBeGreaterThan(1e-2);
    tf.dispose([x]);
    rope.dispose();
    ref.dispose();
  });

  it('the fused wasm QKV kernel rotates q and k exactly as the composite ops do', () => {
    expect(fusedKernelsActive()).toBe(true);
    const [B, L, H, dk, start] = [2, 3, 2, 8, 4];
    const d = H * dk;
    const rope = new Rope(16, dk, 'neox');
    const y = tf.randomNormal([B * L, 3 * d], 0, 1, 'float32', 9) as tf.Tensor2D; // Q | K | V rows
    const [q, k, v] = qkvRopeFused(y, rope.cos, rope.sin, B, L, H, start, rope.style); // q [B, H, L, dk], k, v [B, L, H, dk]
    const [Qp, Kp, Vp] = tf.split(y, 3, 1).map((t) => t.reshape([B, L, H, dk]) as tf.Tensor4D);
    expect(maxAbsDiff(q.dataSync(), rope.apply(Qp, start).transpose([0, 2, 1, 3]).dataSync())).toBe(0);
    expect(maxAbsDiff(k.dataSync(), rope.apply(Kp, start).dataSync())).toBe(0);
    expect(maxAbsDiff(v.dataSync(), Vp.dataSync())).toBe(0);
    tf.dispose([y, q, k, v, Qp, Kp, Vp]);
    rope.dispose();
  });

  it('its gradient is the inverse rotation: d/dx Σ w ∘ rope(x) = Rᵀw', () => {
    const [P, dk, start, L] = [8, 8, 2, 2];
    const rope = new Rope(P, dk, 'neox');
    const x = tf.randomNormal([1, L, 1, dk], 0, 1, 'float32', 3) as tf.Tensor4D;
    const w = tf.randomNormal([1, L, 1, dk], 0, 1, 'float32', 4);
    const g = tf
      .grad((v: tf.Tensor) => tf.sum(tf.mul(w, rope.apply(v as tf.Tensor4D, start))))(x)
      .dataSync();
    const ws = w.dataSync();
    const table = ropeTable(P, dk);
    const want = new Float32Array(ws.length);
    for (let t = 0; t < L; t++)
      for (let i = 0; i < dk / 2; i++) {
        const [c, s] = [table[((start + t) * (dk / 2) + i) * 2], table[((start + t) * (dk / 2) + i) * 2 + 1]];
        const [u, v] = [t * dk + i, t * dk + i + dk / 2];
        want[u] = ws[u] * c + ws[v] * s;
        want[v] = ws[v] * c - ws[u] * s;
      }
    expect(maxAbsDiff(g, want)).toBeLessThanOrEqual(1e-6);
    tf.dispose([x, w]);
    rope.dispose();
  });
});
