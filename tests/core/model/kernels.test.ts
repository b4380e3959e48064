/**
 * The fused inference kernels (model/kernels.ts) against tfjs's own ops, on random inputs with the
 * awkward sizes (tails of 1–7 columns, a single row, several rows). The model-level parity with the
 * reference fixtures is in forward.test.ts.
 */
import {execFileSync} from 'node:child_process';
import {join} from 'node:path';

import * as tf from '@tensorflow/tfjs';
import {beforeAll, describe, expect, it} from 'vitest';

import {initBackend} from '../../../src/core/backend.js';
import {LN_EPS} from '../../../src/core/model/constants.js';
import {bmm} from '../../../src/core/model/grads.js';
import {
  batchMatMulFused,
  cachedAttention,
  fusedKernelsActive,
  GEMV_MAX_N,
  layerNormFused,
  linearGemv,
} from '../../../src/core/model/kernels.js';
import {maxAbsDiff, ROOT} from '../../helpers.js';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('PldrLinear: our gemv on the wasm heap', () => {
  it('is active on wasm', () => {
    expect(fusedKernelsActive()).toBe(true);
  });

  it('equals x·W + b computed by tfjs (XNNPACK) for every tail of columns and several rows', () => {
    for (const [M, K, N] of [
      [1, 1, 1],
      [1, 5, 7],
      [3, 13, 9],
      [1, 64, 170],
      [2, 37, 12],
      [1, 768, 2304],
      [4, 2048, 768],
      [1, 16, GEMV_MAX_N],
    ]) {
      const x = tf.randomNormal([M, K], 0, 1, 'float32', 1);
      const W = tf.randomNormal([K, N], 0, 1, 'float32', 2);
      const b = tf.randomNormal([N], 0, 1, 'float32', 3);
      const ours = linearGemv(x as tf.Tensor2D, W as tf.Tensor2D, b as tf.Tensor1D);
      const ref = tf.add(tf.matMul(x, W), b);
      expect(ours.shape).toEqual([M, N]);
      // float32 sums of K products: a few ulps of √K-sized values
      expect(maxAbsDiff(ours.dataSync(), ref.dataSync()), `${M}×${K}×${N}`).toBeLessThanOrEqual(
        1e-6 * Math.max(1, Math.sqrt(K)) * 8,
      );
      tf.dispose([x, W, b, ours, ref]);
    }
  });

  it("gives bit for bit what XNNPACK's fused matMul with bias gives for one row (same products, same order)", () => {
    for (const [K, N] of [
      [768, 2304],
      [2048, 768],
      [64, 170],
      [13, 9],
    ]) {
      const x = tf.randomNormal([1, K], 0, 1, 'float32', 8);
      const W = tf.randomNormal([K, N], 0, 1, 'float32', 9);
      const b = tf.randomNormal([N], 0, 1, 'float32', 10);
      const ours = linearGemv(x as tf.Tensor2D, W as tf.Tensor2D, b as tf.Tensor1D);
      const xnn = tf.engine().runKernel('_FusedMatMul', {a: x.reshape([1, 1, K]), b: W.reshape([1, K, N]), bias: b}, {
        transposeA: false,
        transposeB: false,
        activation: 'linear',
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
      expect(Array.from(ours.dataSync()), `${K}×${N}`).toEqual(Array.from(xnn.dataSync()));
      tf.dispose([x, W, b, ours, xnn]);
    }
  });

  it('reads the weights in place: repeated calls leave W and the tensor count as they were', () => {
    const x = tf.randomNormal([1, 33]);
    const W = tf.randomNormal([33, 21]);
    const b = tf.zeros([21]);
    const before = Array.from(W.dataSync());
    const n = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) linearGemv(x as tf.Tensor2D, W as tf.Tensor2D, b as tf.Tensor1D).dispose();
    expect(Array.from(W.dataSync())).toEqual(before);
    expect(tf.memory().numTensors).toBe(n);
    tf.dispose([x, W, b]);
  });

  it('the committed gemv-bytes.ts is what gemv.wat assembles to', () => {
    const out = execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-wasm.mjs'), '--check'], {
      encoding: 'utf8',
    });
    expect(out).toBe('');
  });
});

describe('q·G per head for one query row (a cached step): bmm through the batched kernel', () => {
  it('equals the batched product, for one G shared by every row and for one G per row', async () => {
    for (const gRows of [1, 3]) {
      const q = tf.randomNormal([3, 5, 1, 12], 0, 1, 'float32', 11) as tf.Tensor4D;
      const G = tf.randomNormal([gRows, 5, 12, 12], 0, 1, 'float32', 12) as tf.Tensor4D;
      const ours = bmm(q, G);
      const ref = tf.matMul(q, gRows === 1 ? tf.broadcastTo(G, [3, 5, 12, 12]) : G);
      expect(ours.shape).toEqual([3, 5, 1, 12]);
      expect(maxAbsDiff(ours.dataSync(), ref.dataSync()), `G rows ${gRows}`).toBeLessThanOrEqual(1e-5);
      const p = await tf.profile(() => tf.dispose(bmm(q, G)));
      expect(p.kernels.map((k) => k.name)).toContain('PldrBatchMatMul');
      tf.dispose([q, G, ours, ref]);
    }
  });
});

describe('PldrLayerNorm', () => {
  it('LayerNorm (with and without a residual) matches the composite float32 ops', () => {
    const x = tf.randomNormal([3, 5, 48], 0.3, 2, 'float32', 4);
    const r = tf.randomNormal([3, 5, 48], 0, 1, 'float32', 5);
    const g = tf.randomNormal([48], 1, 0.1, 'float32', 6);
    const b = tf.randomNormal([48], 0, 0.1, 'float32', 7);
    const composite = (y: tf.Tensor) => {
      const {mean, variance} = tf.moments(y, -1, true);
      return tf.add(tf.mul(tf.mul(tf.sub(y, mean), tf.rsqrt(tf.add(variance, LN_EPS))), g), b);
    };
    expect(
      maxAbsDiff(layerNormFused(x, g, b, undefined, LN_EPS).dataSync(), composite(x).dataSync()),
    ).toBeLessThanOrEqual(2e-6);
    expect(
      maxAbsDiff(layerNormFused(x, g, b, r, LN_EPS).dataSync(), composite(tf.add(x, r)).dataSync()),
    ).toBeLessThanOrEqual(2e-6);
  });
});

describe('PldrCachedAttention: one token over an in-place KV-cache', () => {
  // The reference's step (docs/spec.md §3.7): append k, v to the cache, S = qG·Kᵀ/√dk, O = softmax(S)·V.
  function reference(qG: tf.Tensor4D, K: tf.Tensor4D, V: tf.Tensor4D) {
    // qG [B, H, 1, dk]; K, V [B, n, H, dk] (the concatenated cache)
    const dk = qG.shape[3];
    const S = tf.div(tf.matMul(qG, K.transpose([0, 2, 3, 1])), Math.fround(Math.sqrt(dk)));
    const O = tf.matMul(tf.softmax(S), V.transpose([0, 2, 1, 3])); // [B, H, 1, dk]
    return {S, O: O.reshape([qG.shape[0], 1, -1])};
  }

  it('writes k and v at the position in place and matches the concatenated cache, at every column tail', () => {
    for (const [B, H, dk, cap] of [
      [1, 2, 8, 21],
      [2, 3, 4, 13],
      [1, 4, 16, 40],
    ]) {
      const K = tf.randomNormal([B, cap, H, dk], 0, 1, 'float32', 21) as tf.Tensor4D; // the keys every position will hold
      const V = tf.randomNormal([B, cap, H, dk], 0, 1, 'float32', 22) as tf.Tensor4D;
      const Kt = tf.zeros([B, H, dk, cap]) as tf.Tensor4D;
      const Vb = tf.zeros([B, H, cap, dk]) as tf.Tensor4D;
      for (let pos = 0; pos < cap; pos++) {
        const qG = tf.randomNormal([B, H, 1, dk], 0, 2, 'float32', 100 + pos) as tf.Tensor4D;
        const k = K.slice([0, pos, 0, 0], [B, 1, H, dk]) as tf.Tensor4D;
        const v = V.slice([0, pos, 0, 0], [B, 1, H, dk]) as tf.Tensor4D;
        const ours = cachedAttention(qG, k, v, Kt, Vb, pos);
        const ref = reference(
          qG,
          K.slice([0, 0, 0, 0], [B, pos + 1, H, dk]) as tf.Tensor4D,
          V.slice([0, 0, 0, 0], [B, pos + 1, H, dk]) as tf.Tensor4D,
        );
        expect(ours.S.shape).toEqual([B, H, 1, pos + 1]);
        expect(ours.O.shape).toEqual([B, 1, H * dk]);
        expect(maxAbsDiff(ours.S.dataSync(), ref.S.dataSync()), `S at ${pos}`).toBeLessThan(2e-6 * Math.sqrt(dk));
        expect(maxAbsDiff(ours.O.dataSync(), ref.O.dataSync()), `O at ${pos}`).toBeLessThan(2e-6);
        tf.dispose([qG, k, v, ours.S, ours.O, ref.S, ref.O]);
      }
      // every position was written where it belongs, and nothing else
      expect(Array.from(Kt.dataSync())).toEqual(Array.from(K.transpose([0, 2, 3, 1]).dataSync()));
      expect(Array.from(Vb.dataSync())).toEqual(Array.from(V.transpose([0, 2, 1, 3]).dataSync()));
      tf.dispose([K, V, Kt, Vb]);
    }
  });

  it('leaves the positions beyond the one written untouched and no tensor behind', () => {
    const [B, H, dk, cap] = [1, 2, 4, 9];
    const Kt = tf.fill([B, H, dk, cap], 7) as tf.Tensor4D;
    const Vb = tf.fill([B, H, cap, dk], 7) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const qG = tf.ones([B, H, 1, dk]) as tf.Tensor4D;
    const k = tf.zeros([B, 1, H, dk]) as tf.Tensor4D;
    const r = cachedAttention(qG, k, k, Kt, Vb, 3);
    tf.dispose([qG, k, r.S, r.O]);
    expect(tf.memory().numTensors).toBe(before);
    const kt = Kt.arraySync()[0]![1]!; // head 1: [dk][cap]
    for (const row of kt) expect(row).toEqual([7, 7, 7, 0, 7, 7, 7, 7, 7]);
    const vb = Vb.arraySync()[0]![1]!; // [cap][dk]
    vb.forEach((row, p) => expect(row).toEqual(p === 3 ? [0, 0, 0, 0] : [7, 7, 7, 7]));
    tf.dispose([Kt, Vb]);
  });
});

describe('PldrBatchMatMul: batched products for training attention', () => {
  it("equals tfjs's matMul for every row and column tail, one b per matrix or one for all", () => {
    for (const [n, M, K, N, shared] of [
      [1, 1, 1, 1, false],
      [3, 4, 8, 8, false],
      [2, 7, 5, 13, false],
      [32, 256, 32, 256, false],
      [5, 9, 33, 21, true],
      [4, 6, 3, 40, true],
    ] as const) {
      const a = tf.randomNormal([n, M, K], 0, 1, 'float32', 31) as tf.Tensor3D;
      const b = tf.randomNormal([shared ? 1 : n, K, N], 0, 1, 'float32', 32) as tf.Tensor3D;
      const ours = batchMatMulFused(a, b);
      const ref = tf.matMul(a, shared ? tf.broadcastTo(b, [n, K, N]) : b);
      expect(ours.shape).toEqual([n, M, N]);
      expect(maxAbsDiff(ours.dataSync(), ref.dataSync()), `${n}×${M}×${K}×${N}`).toBeLessThanOrEqual(
        1e-6 * Math.sqrt(K) * 8,
      );
      tf.dispose([a, b, ours, ref]);
    }
  });

  it("bmm uses it on wasm, and its gradients equal tfjs's matMul gradients", async () => {
    // 32 matrices (a training batch's B·H heads): bmm takes the batched route
    const a = tf.randomNormal([4, 8, 12, 16], 0, 1, 'float32', 41);
    const b = tf.randomNormal([4, 8, 16, 10], 0, 1, 'float32', 42);
    const dy = tf.randomNormal([4, 8, 12, 10], 0, 1, 'float32', 43);
    const loss = (f: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor) =>
      tf.sum(tf.mul(f(x, y), dy));
    const before = tf.memory().numTensors;
    const ours = tf.grads(loss(bmm))([a, b]);
    const ref = tf.grads(loss((x, y) => tf.matMul(x, y)))([a, b]);
    for (let i = 0; i < 2; i++)
      expect(maxAbsDiff(ours[i]!.dataSync(), ref[i]!.dataSync()), `gradient ${i}`).toBeLessThan(1e-5);
    tf.dispose([...ours, ...ref]);
    expect(tf.memory().numTensors).toBe(before);
    const p = await tf.profile(() => tf.dispose(bmm(a, b)));
    expect(p.kernels.map((k) => k.name)).toContain('PldrBatchMatMul');
    expect(p.kernels.map((k) => k.name)).not.toContain('BatchMatMul');
    tf.dispose([a, b, dy]);
  });
});
