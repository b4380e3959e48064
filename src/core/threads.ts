/**
 * How many threads the tensor backend uses (issue 13): `--threads N` or PLDR_THREADS. The default is
 * 1 for now, the single-threaded build: above 1, tfjs's threaded build speeds training's products up
 * (1.40x at 2 threads) but not the cached decode step (its products run on our one-thread gemv; it
 * measured ~25 % slower above 2 threads), it starts 8 workers per run (~150 ms) and writes their
 * scripts to the temporary folder. Kept free of tfjs so that the CLI can validate the flag before
 * loading it.
 */
import {availableParallelism} from 'node:os';

import {PldrError} from './errors.js';

/** The cores Node reports. */
export function cores(): number {
  return Math.max(1, availableParallelism());
}

/** The default thread count: one, the single-threaded build (see above). */
export function defaultThreads(): number {
  return 1;
}

/** The most threads accepted: four per core (more only adds contention). */
export function maxThreads(): number {
  return 4 * cores();
}

/** A thread count from the flag or PLDR_THREADS; undefined or '' means the default. */
export function parseThreads(raw: string | number | undefined, where = '--threads'): number {
  if (raw === undefined || raw === '') return defaultThreads();
  const text = String(raw).trim();
  const n = Number(text);
  const max = maxThreads();
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1 || n > max)
    throw new PldrError(`${where} "${text}" is not a thread count: give a whole number from 1 to ${max} (${cores()} cores here)`);
  return n;
}
