/** Statistics of timed samples, rounding for reports, and the memory figures (garbage collection, RSS, wasm heap). */
import {runInNewContext} from 'node:vm';
import * as v8 from 'node:v8';

import * as tf from '@tensorflow/tfjs';

import {PldrError} from '../errors.js';

export interface Summary {
  n: number;
  median: number;
  mean: number;
  std: number;
  min: number;
  max: number;
  /** (max − min) / median, in percent. */
  spread_pct: number;
}

export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  if (n === 0) return {n: 0, median: NaN, mean: NaN, std: NaN, min: NaN, max: NaN, spread_pct: NaN};
  const s = [...values].sort((a, b) => a - b);
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  const mean = s.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return {
    n,
    median,
    mean,
    std,
    min: s[0],
    max: s[n - 1],
    spread_pct: median > 0 ? ((s[n - 1] - s[0]) / median) * 100 : NaN,
  };
}

export const round = (x: number, digits = 4): number => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);

export function roundSummary(s: Summary): Summary {
  return Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === 'n' ? v : round(v)])) as unknown as Summary;
}

export const MB = 2 ** 20;

/**
 * A full garbage collection, so that memory figures count what is held rather than what the
 * collector has not reached yet (V8's gc, exposed for this through its flags; a no-op if refused).
 */
let gcFn: (() => void) | null | undefined;
export function collectGarbage(): void {
  if (gcFn === undefined) {
    try {
      v8.setFlagsFromString('--expose-gc');
      gcFn = runInNewContext('gc') as () => void;
    } catch {
      gcFn = null;
    }
  }
  gcFn?.();
}

export function wasmHeapMb(): number | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const heap = (tf.backend() as unknown as {wasm?: {HEAPU8?: Uint8Array}}).wasm?.HEAPU8;
  return heap ? round(heap.length / MB, 1) : undefined;
}

export function maxRssMb(): number {
  return round(process.resourceUsage().maxRSS / 1024, 1); // maxRSS is in kilobytes
}

export function positiveInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 1) throw new PldrError(`${what} must be a positive integer, got ${v}`);
  return v;
}

export function nonNegativeInt(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0) throw new PldrError(`${what} must be a non-negative integer, got ${v}`);
  return v;
}
