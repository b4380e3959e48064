/** Test matrices for the deductive metrics: seeded random streams and small hand-built matrices. */
import {Rng} from '../../../src/core/sampling.js';
/** A reproducible uniform [0, 1) stream: the project's seeded generator. */
export function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

export function randn(r: () => number): number {
  const u = Math.max(r(), 1e-300);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

export function diag(values: number[]): Float64Array {
  const n = values.length;
  const m = new Float64Array(n * n);
  values.forEach((v, i) => (m[i * n + i] = v));
  return m;
}

export function fromRows(rows: number[][]): Float64Array {
  return Float64Array.from(rows.flat());
}

export function identity(n: number): Float64Array {
  return diag(new Array(n).fill(1));
}

/** Stacks head matrices into one [H, dk, dk] layer. */
export function stack(heads: ArrayLike<number>[]): Float64Array {
  const n = heads[0].length;
  const out = new Float64Array(heads.length * n);
  heads.forEach((h, i) => out.set(Array.from(h), i * n));
  return out;
}

export function constant(dk: number, c: number): Float64Array {
  return new Float64Array(dk * dk).fill(c);
}
