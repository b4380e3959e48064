/**
 * JSON-safe numbers for the deductive report (docs/spec.md §7). JSON.stringify turns a number that is not
 * finite into null, which would lose the difference between +∞ (e.g. A_P overflowing at the 1e-9
 * floor, T15) and a 0/0; here such numbers are written as the strings "inf", "-inf" and "nan" (type
 * `JsonNum`), so an exact-singular determinant reads `log10: "-inf"`, `value: 0`. `compareG`,
 * `gVariation` and the linear-algebra helpers return plain numbers (which may be non-finite): pass
 * their results through `jsonSafe` before serialising if that matters.
 */

/** A number that survives JSON: finite numbers as themselves, the rest as "inf" | "-inf" | "nan". */
export type JsonNum = number | 'inf' | '-inf' | 'nan';

/** Encodes one number for JSON (see the module comment). */
export function jsonNum(x: number): JsonNum {
  if (Number.isFinite(x)) return x;
  if (Number.isNaN(x)) return 'nan';
  return x > 0 ? 'inf' : '-inf';
}

/** Decodes a `JsonNum` back to a number. */
export function fromJsonNum(x: JsonNum): number {
  if (typeof x === 'number') return x;
  return x === 'inf' ? Infinity : x === '-inf' ? -Infinity : NaN;
}

/**
 * Deep copy of a value with every non-finite number replaced as `jsonNum` does; typed arrays
 * become plain arrays. For `compareG` / `gVariation` results and the single-matrix helpers.
 */
export function jsonSafe(v: unknown): unknown {
  if (typeof v === 'number') return jsonNum(v);
  if (v === null || typeof v !== 'object') return v;
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>, jsonNum);
  if (Array.isArray(v)) return v.map(jsonSafe);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (x !== undefined) out[k] = jsonSafe(x);
  return out;
}
