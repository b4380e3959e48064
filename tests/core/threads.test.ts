/**
 * --threads / PLDR_THREADS: the flag's validation, and that the products give the same
 * bits at 1 and 2 threads. The wasm module is made once per process, so each thread count runs in
 * a child process on the built code (dist/, as the CLI tests).
 */
import {spawnSync} from 'node:child_process';
import {mkdtempSync, writeFileSync} from 'node:fs';
import {availableParallelism, tmpdir} from 'node:os';
import {join} from 'node:path';
import {pathToFileURL} from 'node:url';

import {describe, expect, it} from 'vitest';

import {defaultThreads, parseThreads} from '../../src/core/threads.js';
import {oneLineError, pldr} from '../commands/run.js';
import {ROOT, runScriptJson} from '../helpers.js';

describe('parseThreads', () => {
  it('defaults to every core for compute work and one thread for decoding, and accepts 1 to 4 per core', () => {
    expect(defaultThreads('compute')).toBe(availableParallelism());
    expect(defaultThreads('decode')).toBe(1);
    expect(parseThreads(undefined)).toBe(1);
    expect(parseThreads('', '--threads', 'compute')).toBe(availableParallelism());
    expect(parseThreads(undefined, '--threads', 'decode')).toBe(1);
    expect(parseThreads('1', '--threads', 'compute')).toBe(1);
    expect(parseThreads('1')).toBe(1);
    expect(parseThreads(` ${4 * availableParallelism()} `)).toBe(4 * availableParallelism());
  });

  it('refuses anything else in one line naming the range', () => {
    for (const bad of ['0', '-1', '1.5', 'two', String(4 * availableParallelism() + 1)])
      expect(() => parseThreads(bad)).toThrow(
        new RegExp(
          `--threads "${bad}" is not a thread count: give a whole number from 1 to ${4 * availableParallelism()}`,
        ),
      );
  });

  it('pldr bench train runs on every core by default, bench paper on one; PLDR_THREADS overrides both', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pldr-threads-'));
    const only: Record<string, string[]> = {train: [], paper: ['--modes', 'kv+g', '--no-bandwidth']};
    const threadsOf = (suite: 'train' | 'paper', env: Record<string, string> = {}) => {
      const r = pldr(
        [
          'bench',
          suite,
          '--quick',
          '-r',
          '1',
          '--warmup',
          '0',
          '--no-one-thread',
          ...only[suite]!,
          '--json',
          '--results-dir',
          dir,
        ],
        {PLDR_THREADS: '', ...env},
      );
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout).environment.threads;
    };
    expect(threadsOf('train')).toBe(availableParallelism());
    expect(threadsOf('paper')).toBe(1);
    expect(threadsOf('train', {PLDR_THREADS: '1'})).toBe(1);
  });

  it('pldr refuses a bad --threads or PLDR_THREADS with one error line', () => {
    expect(oneLineError(pldr(['generate', '--threads', '0', '-n', '2', 'x']))).toMatch(
      /^error: --threads "0" is not a thread count/,
    );
    expect(oneLineError(pldr(['generate', '-n', '2', 'x'], {PLDR_THREADS: 'many'}))).toMatch(
      /^error: --threads "many" is not a thread count/,
    );
  });
});

/**
 * Products over deterministic inputs in a fresh process at `threads`: XNNPACK's matMul and its
 * gradient (training), our gemm4 (batched attention products) and gemv (decode), all on the wasm
 * heap. Prints the threads in use and every output's float32 bits as hex.
 */
function products(threads: number): {threads: number; bits: string[]} {
  const dist = (p: string) => pathToFileURL(join(ROOT, 'dist', p)).href;
  const script = `
    import * as tf from '@tensorflow/tfjs';
    import {backendThreads, initBackend} from '${dist('core/backend.js')}';
    import {batchMatMulFused, linearGemv} from '${dist('core/model/kernels.js')}';
    await initBackend('wasm', ${threads});
    let s = 12345;
    const values = (n) => Float32Array.from({length: n}, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5);
    const a = tf.tensor2d(values(130 * 96), [130, 96]), b = tf.tensor2d(values(96 * 200), [96, 200]);
    const grad = tf.grad((x) => tf.sum(tf.square(tf.matMul(x, b))))(a);
    const a3 = tf.tensor3d(values(4 * 12 * 40), [4, 12, 40]), b3 = tf.tensor3d(values(4 * 40 * 36), [4, 40, 36]);
    const x = tf.tensor2d(values(3 * 96), [3, 96]), bias = tf.tensor1d(values(200));
    const outs = [tf.matMul(a, b), grad, batchMatMulFused(a3, b3), linearGemv(x, b, bias)];
    const bits = outs.map((t) => Buffer.from(t.dataSync().buffer).toString('hex'));
    console.log(JSON.stringify({threads: backendThreads(), bits}));
  `;
  return runScriptJson(script);
}

describe('threads', () => {
  it('the products at 2 threads equal those at 1 thread bit for bit', () => {
    const one = products(1);
    const two = products(2);
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(two.bits.map((b) => b.length)).toEqual([130 * 200 * 8, 130 * 96 * 8, 4 * 12 * 36 * 8, 3 * 200 * 8]);
    for (let i = 0; i < one.bits.length; i++) expect(two.bits[i] === one.bits[i], `output ${i}`).toBe(true);
  });

  it('pldr generate gives the same tokens and log-probabilities at 1 and 2 threads', () => {
    const run = (threads: string) => {
      const r = pldr(['generate', '--greedy', '-n', '12', '--json', 'The cat'], {PLDR_THREADS: threads});
      expect(r.code, r.stderr).toBe(0);
      const {timings: _timings, ...rest} = JSON.parse(r.stdout);
      return rest;
    };
    expect(run('2')).toEqual(run('1'));
  });

  it('a threaded start that cannot write its worker scripts is refused in one line, naming the way out', () => {
    // The temporary folder is not a folder.
    const notDir = join(mkdtempSync(join(tmpdir(), 'pldr-threads-')), 'file');
    writeFileSync(notDir, '');
    expect(oneLineError(pldr(['generate', '-n', '2', 'x'], {PLDR_THREADS: '2', TMPDIR: notDir}))).toMatch(
      /^error: the wasm backend could not start 2 threads \(cannot make a folder in .* for its worker scripts: ENOTDIR\): .*or use --threads 1$/,
    );
    // The scripts cannot be written whole (a file-size limit of 512 bytes stands in for a full disk).
    const r = spawnSync('sh', ['-c', `ulimit -f 1 && exec "${process.execPath}" bin/run.js generate -n 2 x`], {
      cwd: ROOT,
      encoding: 'utf8',
      env: {...process.env, NODE_NO_WARNINGS: '1', PLDR_THREADS: '2'},
    });
    expect(oneLineError({code: r.status, stdout: r.stdout, stderr: r.stderr, json: false})).toMatch(
      /^error: the wasm backend could not start 2 threads \(writing its worker scripts to .*: EFBIG\): .*or use --threads 1$/,
    );
  });

  it.skipIf(availableParallelism() < 2)(
    'threads that were only the default are not worth failing over: one note line, then the work on one thread',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'pldr-threads-'));
      const notDir = join(dir, 'file');
      writeFileSync(notDir, '');
      const r = pldr(['bench', 'train', '--quick', '-r', '1', '--warmup', '0', '--json', '--results-dir', dir], {
        PLDR_THREADS: '',
        TMPDIR: notDir,
      });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).environment.threads).toBe(1);
      expect(r.stderr).toMatch(
        /^note: the wasm backend could not start \d+ threads \(cannot make a folder in .*: ENOTDIR\); running on one thread$/m,
      );
    },
  );
});
