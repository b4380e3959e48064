/**
 * The one-thread baseline of a bench suite run on more threads. The wasm module is made once per
 * process with its thread count, so the baseline runs the same suite function, with the same
 * options, in a fresh Node process started on one thread; the suite's result comes back as JSON.
 */
import {spawn} from 'node:child_process';

import {PldrError} from '../errors.js';

/** A suite function exported by a module of this folder, e.g. ('train.js', 'runTrainBench'). */
export interface SuiteRef {
  module: string;
  fn: string;
}

/**
 * Run `suite(options)` in a child process on one wasm thread and return its result. `options` must
 * be plain JSON (callbacks are dropped); the child's progress lines are passed to `onProgress`.
 */
export async function runAtOneThread<T>(
  suite: SuiteRef,
  options: object,
  onProgress?: (message: string) => void,
): Promise<T> {
  const backend = new URL('../backend.js', import.meta.url).href;
  const module = new URL(suite.module, import.meta.url).href;
  const script = `
    const {initBackend} = await import(${JSON.stringify(backend)});
    const suite = (await import(${JSON.stringify(module)}))[${JSON.stringify(suite.fn)}];
    await initBackend('wasm', 1);
    const options = JSON.parse(process.argv[1]);
    options.onProgress = (m) => process.stderr.write(m + '\\n');
    process.stdout.write(JSON.stringify(await suite(options)));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(options)], {
    env: {...process.env, PLDR_THREADS: '1'},
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    for (const line of d.split('\n')) if (line.trim() !== '') onProgress?.(`one thread: ${line.trim()}`);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) {
    const last =
      stderr
        .trim()
        .split('\n')
        .filter((l) => !/^\s+at /.test(l))
        .pop() ?? `exit ${code}`;
    throw new PldrError(`the one-thread baseline failed (${last}): rerun with --threads 1, or without the baseline`);
  }
  return JSON.parse(stdout) as T;
}
