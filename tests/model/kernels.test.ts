/**
 * The fused inference kernels (model/kernels.ts) against tfjs's own ops, on random inputs with the
 * awkward sizes (tails of 1–7 columns, a single row, several rows). The model-level parity with the
 * reference fixtures is in forward.test.ts.
 */
import {execFileSync} from 'node:child_process';
import {join} from 'node:path';

import * as tf from '@tensorflow/tfjs';
import {beforeAll, describe, expect, it} from 'vitest';

import {initBackend} from '../../src/core/backend.js';
import {fusedKernelsActive, GEMV_MAX_N, headsGemv, layerNormFused, linearGemv, siluGateFused} from '../../src/core/model/kernels.js';
import {maxAbsDiff, ROOT} from '../helpers.js';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('PldrLinear: our gemv on the wasm heap', () => {
  it('is active on wasm', () => {
    expect(fusedKernelsActive()).toBe(true);
  });

  it('equals x·W + b computed by tfjs (XNNPACK) for every tail of columns and several rows', () => {
    for (const [M, K, N] of [[1, 1, 1], [1, 5, 7], [3, 13, 9], [1, 64, 170], [2, 37, 12], [1, 768, 2304], [4, 2048, 768], [1, 16, GEMV_MAX_N]]) {
      const x = tf.randomNormal([M, K], 0, 1, 'float32', 1);
      const W = tf.randomNormal([K, N], 0, 1, 'float32', 2);
      const b = tf.randomNormal([N], 0, 1, 'float32', 3);
      const ours = linearGemv(x as tf.Tensor2D, W as tf.Tensor2D, b as tf.Tensor1D);
      const ref = tf.add(tf.matMul(x, W), b);
      expect(ours.shape).toEqual([M, N]);
      // float32 sums of K products: a few ulps of √K-sized values
      expect(maxAbsDiff(ours.dataSync(), ref.dataSync()), `${M}×${K}×${N}`).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.sqrt(K)) * 8);
      tf.dispose([x, W, b, ours, ref]);
    }
  });

  it('gives bit for bit what XNNPACK\'s fused matMul with bias gives for one row (same products, same order)', () => {
    for (const [K, N] of [[768, 2304], [2048, 768], [64, 170], [13, 9]]) {
      const x = tf.randomNormal([1, K], 0, 1, 'float32', 8);
      const W = tf.randomNormal([K, N], 0, 1, 'float32', 9);
      const b = tf.randomNormal([N], 0, 1, 'float32', 10);
      const ours = linearGemv(x as tf.Tensor2D, W as tf.Tensor2D, b as tf.Tensor1D);
      const xnn = tf.engine().runKernel('_FusedMatMul', {a: x.reshape([1, 1, K]), b: W.reshape([1, K, N]), bias: b}, {transposeA: false, transposeB: false, activation: 'linear'} as unknown as tf.NamedAttrMap) as tf.Tensor;
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
    const out = execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-wasm.mjs'), '--check'], {encoding: 'utf8'});
    expect(out).toBe('');
  });
});

describe('PldrHeadsGemv: q·G per head for one query row', () => {
  it('equals the batched product, for one G shared by every row and for one G per row', () => {
    for (const gRows of [1, 3]) {
      const q = tf.randomNormal([3, 5, 1, 12], 0, 1, 'float32', 11) as tf.Tensor4D;
      const G = tf.randomNormal([gRows, 5, 12, 12], 0, 1, 'float32', 12) as tf.Tensor4D;
      const ours = headsGemv(q, G);
      const ref = tf.matMul(q, gRows === 1 ? tf.broadcastTo(G, [3, 5, 12, 12]) : G);
      expect(ours.shape).toEqual([3, 5, 1, 12]);
      expect(maxAbsDiff(ours.dataSync(), ref.dataSync()), `G rows ${gRows}`).toBeLessThanOrEqual(1e-5);
      tf.dispose([q, G, ours, ref]);
    }
  });
});

describe('PldrLayerNorm and PldrSiluGate', () => {
  it('LayerNorm (with and without a residual) matches the composite float32 ops', () => {
    const x = tf.randomNormal([3, 5, 48], 0.3, 2, 'float32', 4);
    const r = tf.randomNormal([3, 5, 48], 0, 1, 'float32', 5);
    const g = tf.randomNormal([48], 1, 0.1, 'float32', 6);
    const b = tf.randomNormal([48], 0, 0.1, 'float32', 7);
    const composite = (y: tf.Tensor) => {
      const {mean, variance} = tf.moments(y, -1, true);
      return tf.add(tf.mul(tf.mul(tf.sub(y, mean), tf.rsqrt(tf.add(variance, 1e-6))), g), b);
    };
    expect(maxAbsDiff(layerNormFused(x, g, b).dataSync(), composite(x).dataSync())).toBeLessThanOrEqual(2e-6);
    expect(maxAbsDiff(layerNormFused(x, g, b, r).dataSync(), composite(tf.add(x, r)).dataSync())).toBeLessThanOrEqual(2e-6);
  });

  it('SiLU gate silu(a)·b matches a·sigmoid(a)·b, including large negative a', () => {
    const a = tf.tensor1d([-1000, -30, -1, 0, 0.5, 3, 80]);
    const b = tf.tensor1d([2, 2, 2, 2, 2, 2, 2]);
    const ours = siluGateFused(a, b).dataSync();
    const ref = tf.mul(tf.mul(a, tf.sigmoid(a)), b).dataSync();
    expect(maxAbsDiff(ours, ref)).toBeLessThanOrEqual(1e-5);
    expect(ours.every(Number.isFinite)).toBe(true);
  });
});
