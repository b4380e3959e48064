/**
 * How many threads the tensor backend uses (issue 13): `--threads N` or PLDR_THREADS, by default
 * the cores Node reports. Kept free of tfjs so that the CLI can validate the flag before loading it.
 */
import {availableParallelism} from 'node:os';

import {PldrError} from './errors.js';

/** The cores Node reports: the default thread count. */
export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/** The most threads accepted: four per core (more only adds contention). */
export function maxThreads(): number {
  return 4 * defaultThreads();
}

/** A thread count from the flag or PLDR_THREADS; undefined or '' means the default. */
export function parseThreads(raw: string | number | undefined, where = '--threads'): number {
  if (raw === undefined || raw === '') return defaultThreads();
  const text = String(raw).trim();
  const n = Number(text);
  const max = maxThreads();
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1 || n > max)
    throw new PldrError(`${where} "${text}" is not a thread count: give a whole number from 1 to ${max} (${defaultThreads()} cores here)`);
  return n;
}
