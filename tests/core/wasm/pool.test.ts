/**
 * The kernel pool (wasm/pool.ts): a job cut over threads gives the bits of one thread,
 * directly on a shared memory of our own, and through the batched products of the threaded wasm
 * backend (a child process per thread count on the built code, as tests/core/threads.test.ts).
 */
import {availableParallelism} from 'node:os';
import {join} from 'node:path';
import {pathToFileURL} from 'node:url';

import {describe, expect, it} from 'vitest';

import {WASM_SHARED_BASE64} from '../../../src/core/wasm/gemv-bytes.js';
import {KernelPool, type PoolCall} from '../../../src/core/wasm/pool.js';
import {ROOT, runScriptJson} from '../../helpers.js';

const lcg = (seed: number) => () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;

describe('KernelPool on a shared memory', () => {
  const memory = new WebAssembly.Memory({initial: 64, maximum: 65536, shared: true} as WebAssembly.MemoryDescriptor);
  const module = new WebAssembly.Module(Buffer.from(WASM_SHARED_BASE64, 'base64'));
  const exports = new WebAssembly.Instance(module, {env: {memory}}).exports as unknown as ConstructorParameters<
    typeof KernelPool
  >[2];
  const heap = new Float32Array(memory.buffer);
  const next = lcg(7);
  for (let i = 0; i < 1 << 19; i++) heap[i] = next(); // inputs in the first 2 MiB, outputs above
  const out = (at: number, n: number) => Array.from(heap.subarray(at / 4, at / 4 + n));

  it('whole matrices and whole column blocks, split over two threads, give the bits of one', async () => {
    const one = new KernelPool(module, memory, exports, 0);
    const two = new KernelPool(module, memory, exports, 1);
    expect(await two.ready).toBe(2);
    const [K, M, N, n] = [40, 7, 37, 9]; // odd sizes: bmm's tails in rows and columns
    // A [n, M, K] at 0, B [n, K, N] at 64 KiB, C [n, M, N] at 2 MiB; W [K, 203] at 512 KiB, y [3, 203] at 3 MiB
    const bmm = (i0: number, i1: number): PoolCall => ['bmm', 0, 1 << 16, 2 << 20, M, K, N, K * N, i0, i1];
    const cols = (c0: number, c1: number): PoolCall => ['gemvCols', 0, 1 << 19, 3 << 20, K, 203, 3, 203, c0, c1];
    const results = (pool: KernelPool, calls: PoolCall[], work: number[]) => {
      heap.fill(0, (2 << 20) / 4, (4 << 20) / 4);
      pool.run(calls, work, 0, 100);
      return [out(2 << 20, n * M * N), out(3 << 20, 3 * 203)];
    };
    const expected = results(one, [bmm(0, n), cols(0, 203)], [1, 1]);
    expect(expected[0]!.every(Number.isFinite) && expected[0]!.some((v) => v !== 0)).toBe(true);
    // the same outputs cut into calls of unequal work: each thread's run is a different mix
    const calls = [bmm(0, 2), bmm(2, 3), cols(0, 16), bmm(3, 9), cols(16, 200), cols(200, 203)];
    for (const work of [
      [2, 1, 1, 6, 9, 1],
      [1, 1, 1, 1, 1, 1],
      [100, 1, 1, 1, 1, 1],
    ])
      expect(results(two, calls, work)).toEqual(expected);
  });

  it('a call that fails in a worker fails the job in one line instead of hanging it', async () => {
    const pool = new KernelPool(module, memory, exports, 1);
    await pool.ready;
    const beyond = memory.buffer.byteLength; // every row read from past the end of the memory
    const bad: PoolCall = ['gemvCols', 0, beyond, 3 << 20, 4, 8, 1, 8, 0, 8];
    const ok: PoolCall = ['gemvCols', 0, 1 << 19, 3 << 20, 4, 8, 1, 8, 0, 8];
    expect(() => pool.run([ok, bad], [1, 1], 0, 100)).toThrow(/^a thread of the kernel pool failed$/);
  });
});

/**
 * Batched products (PldrBatchMatMul) in a fresh process at `threads`: many matrices (split by
 * matrix), one matrix of odd size (split by blocks of four rows, then the last rows), and one B for
 * all. Prints the pool's threads, every output's float32 bits, and the largest difference from tfjs's matMul.
 */
function batched(threads: number): {threads: number; bits: string[]; maxDiff: number} {
  const dist = (p: string) => pathToFileURL(join(ROOT, 'dist', p)).href;
  const script = `
    import * as tf from '@tensorflow/tfjs';
    import {initBackend} from '${dist('core/backend.js')}';
    import {batchMatMulFused, kernelThreads} from '${dist('core/model/kernels.js')}';
    await initBackend('wasm', ${threads});
    let s = 99;
    const values = (n) => Float32Array.from({length: n}, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5);
    const shapes = [[24, 32, 48, 40, 24], [1, 130, 96, 203, 1], [24, 13, 40, 37, 1], [1, 2, 300, 1001, 1]];
    let maxDiff = 0;
    const bits = shapes.map(([n, M, K, N, nb]) => {
      const a = tf.tensor3d(values(n * M * K), [n, M, K]), b = tf.tensor3d(values(nb * K * N), [nb, K, N]);
      const c = batchMatMulFused(a, b);
      maxDiff = Math.max(maxDiff, tf.max(tf.abs(tf.sub(c, tf.matMul(a, nb === n ? b : tf.tile(b, [n, 1, 1]))))).dataSync()[0]);
      return Buffer.from(c.dataSync().buffer).toString('hex');
    });
    console.log(JSON.stringify({threads: kernelThreads(), bits, maxDiff}));
  `;
  return runScriptJson(script);
}

describe('the pooled batched products of the threaded backend', () => {
  it('run on two threads and give the bits of one thread', () => {
    const one = batched(1);
    const two = batched(2);
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(Math.min(2, availableParallelism()));
    expect(one.maxDiff).toBeLessThan(1e-5); // right, not only alike: tfjs's matMul sums in another order
    expect(two.bits.map((b) => b.length)).toEqual([24 * 32 * 40 * 8, 130 * 203 * 8, 24 * 13 * 37 * 8, 2 * 1001 * 8]);
    for (let i = 0; i < one.bits.length; i++) expect(two.bits[i] === one.bits[i], `product ${i}`).toBe(true);
  });
});
