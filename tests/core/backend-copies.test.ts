/**
 * The wasm backend's Identity and same-dtype Cast share the input's buffer (backend.ts): tfjs's
 * engine clones every tensor it saves for a gradient, and a training step paid a copy of each.
 * Sharing must keep the values, free the buffer with the last tensor on it, and leave real
 * conversions (int32 → float32) converting.
 */
import * as tf from '@tensorflow/tfjs';
import {beforeAll, describe, expect, it} from 'vitest';

import {initBackend} from '../../src/core/backend.js';

type WasmData = {dataIdMap: {has(id: unknown): boolean; get(id: unknown): {refCount: number}}};
const buffers = () => (tf.backend() as unknown as WasmData).dataIdMap;

describe('wasm Identity and Cast without copies', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('a clone and a cast to float32 of a float32 tensor share its buffer, which lives until the last is disposed', () => {
    const before = tf.memory();
    const x = tf.tensor1d([1.5, -2, 3]);
    const c = tf.clone(x);
    const f = x.cast('float32');
    expect(c.dataId).toBe(x.dataId);
    expect(f.dataId).toBe(x.dataId);
    expect(buffers().get(x.dataId).refCount).toBe(3);
    x.dispose();
    f.dispose();
    expect([...c.dataSync()]).toEqual([1.5, -2, 3]);
    c.dispose();
    expect(buffers().has(c.dataId)).toBe(false);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.memory().numBytes).toBe(before.numBytes);
  });

  it('a cast to another dtype still converts into a buffer of its own', () => {
    const i = tf.tensor1d([7, -3, 0], 'int32');
    const f = i.cast('float32');
    expect(f.dataId).not.toBe(i.dataId);
    expect(f.dtype).toBe('float32');
    expect([...f.dataSync()]).toEqual([7, -3, 0]);
    const b = tf.tensor1d([1, 0, 1], 'bool').cast('float32');
    expect([...b.dataSync()]).toEqual([1, 0, 1]);
    tf.dispose([i, f, b]);
  });

  it('gradients through saved (shared) tensors are unchanged, and the tape frees them', () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor2d([0.5, -1, 2, 3], [2, 2]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.exp(t), t)))(x); // d/dt t·e^t = e^t (1 + t)
    const want = [0.5, -1, 2, 3].map((t) => Math.fround(Math.exp(t)) * (1 + t));
    [...g.dataSync()].forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
    tf.dispose([x, g]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a transpose of the last two axes (tiled, or by the backend for wide matrices) moves every element', () => {
    for (const [shape, dtype] of [
      [[37, 70], 'float32'],
      [[3, 45, 33], 'int32'],
      [[2, 1, 5, 40], 'float32'],
      [[6, 200], 'float32'],
    ] as const) {
      const [m, n] = shape.slice(-2) as [number, number];
      const size = shape.reduce((a, b) => a * b, 1);
      const x = tf.tensor(
        Array.from({length: size}, (_, i) => i - 50),
        [...shape],
        dtype,
      );
      const perm = shape.map((_, i) => (i < shape.length - 2 ? i : 2 * shape.length - 3 - i));
      const want = Array.from({length: size}, (_, k) => {
        const o = k - (k % (m * n));
        const [j, i] = [Math.floor((k - o) / m), (k - o) % m]; // out [.., n, m] at (j, i) is x at (i, j)
        return o + i * n + j - 50;
      });
      const y = x.transpose(perm);
      expect(y.shape).toEqual([...shape.slice(0, -2), n, m]);
      expect([...y.dataSync()]).toEqual(want);
      tf.dispose([x, y]);
    }
  });
});
