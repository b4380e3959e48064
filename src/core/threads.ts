/**
 * How many threads the tensor backend uses: `--threads N` or PLDR_THREADS. Above 1, tfjs's
 * threaded wasm build runs XNNPACK's products on N threads and our batched products take a pool of
 * workers (src/core/wasm/pool.ts). What that buys depends on the work, so the default does too:
 * - `compute` (train, eval, classify, export-g, bench train|eval): every core Node reports — the
 *   large products of training steps and uncached forwards split well;
 * - `decode` (generate, bench paper|scaling|micro): one thread — a cached decode step streams each
 *   weight matrix once through our one-thread gemv, which splitting slowed down (results/README.md
 *   has the measurements), and the threaded build's start and small ops only add to it.
 * Kept free of tfjs so that the CLI can validate the flag before loading it.
 */
import {availableParallelism} from 'node:os';

import {PldrError} from './errors.js';

/** The cores Node reports. */
export function cores(): number {
  return Math.max(1, availableParallelism());
}

/** What a command mostly does, which decides its default thread count (above). */
export type ThreadsWork = 'compute' | 'decode';

/** The default thread count for a kind of work. */
export function defaultThreads(work: ThreadsWork = 'decode'): number {
  return work === 'compute' ? cores() : 1;
}

/** The most threads accepted: four per core (more only adds contention). */
export function maxThreads(): number {
  return 4 * cores();
}

/** A thread count from the flag or PLDR_THREADS; undefined or '' means the default for `work`. */
export function parseThreads(
  raw: string | number | undefined,
  where = '--threads',
  work: ThreadsWork = 'decode',
): number {
  if (raw === undefined || raw === '') return defaultThreads(work);
  const text = String(raw).trim();
  const n = Number(text);
  const max = maxThreads();
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1 || n > max)
    throw new PldrError(
      `${where} "${text}" is not a thread count: give a whole number from 1 to ${max} (${cores()} cores here)`,
    );
  return n;
}
