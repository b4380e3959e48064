/**
 * The deductive-output metrics of docs/spec.md §7 (traps T14 and T15) on per-layer host arrays: RMSE between
 * heads, the maximum |det| and its two print styles, the spectral facts the paper states about a
 * G_LM head, and A_LM's positivity. Computed in float64 whatever the input type; the linear algebra
 * underneath is in linalg.ts.
 *
 * Layout: every per-layer tensor is [H, dk, dk] row-major, so head h, row i, column j is at
 * h·dk² + i·dk + j.
 */
import {PldrError} from '../errors.js';
import {A_LM_FLOOR} from '../model/constants.js';
import {
  type DominantEigen,
  dominantEigenvalue,
  type IterationOptions,
  logAbsDet,
  meanRowSum,
  numericalRank,
  rowSpread,
  singularValues,
} from './linalg.js';

/* ------------------------------------------------------------------------------------------ */
/* Shapes                                                                                      */
/* ------------------------------------------------------------------------------------------ */

export function checkDims(H: number, dk: number, where: string): void {
  if (!Number.isInteger(H) || H < 1 || !Number.isInteger(dk) || dk < 1)
    throw new PldrError(`${where}: H and dk must be positive integers (got H=${H}, dk=${dk})`);
}

export function checkLayer(X: ArrayLike<number>, H: number, dk: number, where: string): void {
  if (X.length !== H * dk * dk)
    throw new PldrError(`${where}: expected ${H}×${dk}×${dk} = ${H * dk * dk} values, got ${X.length}`);
}

/** Head h of a [H, dk, dk] layer as a fresh float64 dk×dk matrix. */
export function headMatrix(X: ArrayLike<number>, h: number, dk: number): Float64Array {
  const n = dk * dk;
  const out = new Float64Array(n);
  const o = h * n;
  for (let e = 0; e < n; e++) out[e] = X[o + e];
  return out;
}

export function countNonFinite(M: ArrayLike<number>): number {
  let c = 0;
  for (let i = 0; i < M.length; i++) if (!Number.isFinite(M[i])) c++;
  return c;
}

/* ------------------------------------------------------------------------------------------ */
/* RMSE between heads                                                                          */
/* ------------------------------------------------------------------------------------------ */

/**
 * Spec §7 for one layer:
 *   RMSE_ℓ = sqrt( (2/(H(H−1))) Σ_{h<h'} (1/dk²) Σ_ij (X_h[i,j] − X_h'[i,j])² ).
 * NaN when H < 2 (no pairs). Non-finite entries propagate (∞ or NaN).
 */
export function rmseBetweenHeads(X: ArrayLike<number>, H: number, dk: number): number {
  checkDims(H, dk, 'RMSE between heads');
  checkLayer(X, H, dk, 'RMSE between heads');
  if (H < 2) return NaN;
  const n = dk * dk;
  let sum = 0;
  for (let h = 0; h < H; h++) {
    for (let g = h + 1; g < H; g++) {
      const a = h * n;
      const b = g * n;
      for (let e = 0; e < n; e++) {
        const d = X[a + e] - X[b + e];
        sum += d * d;
      }
    }
  }
  return Math.sqrt(((2 / (H * (H - 1))) * sum) / n);
}

/** Pooled over layers: sqrt(mean of squares). NaN for an empty list. */
export function pooledRmse(perLayer: number[]): number {
  if (perLayer.length === 0) return NaN;
  let s = 0;
  for (const r of perLayer) s += r * r;
  return Math.sqrt(s / perLayer.length);
}
/* ------------------------------------------------------------------------------------------ */
/* The maximum |det|                                                                          */
/* ------------------------------------------------------------------------------------------ */

export interface MaxAbsDet {
  /** exp(ln|det|): may be Infinity (above ~1.8e308) or 0 (below ~5e-324) although log10 is finite. */
  value: number;
  /** log10 |det|; −∞ when every head is exactly singular, NaN when no head could be evaluated. */
  log10: number;
  /** Layer and head of the maximum (the first singular head when all are singular; −1 when no head could be evaluated). */
  layer: number;
  head: number;
  /** Heads that were exactly singular (pivot 0 in float64). */
  singularHeads: number;
  /** Heads skipped because they hold a non-finite entry. */
  nonFiniteHeads: number;
  /** Per layer: the maximum over that layer's heads. */
  perLayer: Array<{log10: number; head: number}>;
}

/** max over layers ℓ and heads h of |det X_h^(ℓ)|, through log|det| (docs/spec.md §7, T14). */
export function maxAbsDet(layers: ArrayLike<number>[], H: number, dk: number): MaxAbsDet {
  checkDims(H, dk, 'maximum |det|');
  let best = -Infinity;
  let bestLayer = -1;
  let bestHead = -1;
  let singularHeads = 0;
  let nonFiniteHeads = 0;
  let anyEvaluated = false;
  const perLayer: Array<{log10: number; head: number}> = [];
  layers.forEach((X, l) => {
    checkLayer(X, H, dk, `maximum |det|, layer ${l}`);
    let lb = -Infinity;
    let lh = -1;
    let layerEvaluated = false;
    for (let h = 0; h < H; h++) {
      const r = logAbsDet(headMatrix(X, h, dk), dk);
      if (Number.isNaN(r.logAbsDet)) {
        nonFiniteHeads++;
        continue;
      }
      layerEvaluated = true;
      anyEvaluated = true;
      if (r.sign === 0) {
        singularHeads++;
        if (lh < 0) lh = h;
        if (bestLayer < 0) {
          bestLayer = l;
          bestHead = h;
        }
        continue;
      }
      if (r.logAbsDet > lb) {
        lb = r.logAbsDet;
        lh = h;
      }
      if (r.logAbsDet > best) {
        best = r.logAbsDet;
        bestLayer = l;
        bestHead = h;
      }
    }
    perLayer.push({log10: layerEvaluated ? lb / Math.LN10 : NaN, head: lh});
  });
  if (!anyEvaluated) return {value: NaN, log10: NaN, layer: -1, head: -1, singularHeads, nonFiniteHeads, perLayer};
  return {
    value: Math.exp(best),
    log10: best / Math.LN10,
    layer: bestLayer,
    head: bestHead,
    singularHeads,
    nonFiniteHeads,
    perLayer,
  };
}

/**
 * A determinant in scientific notation and in the paper's 15-decimal fixed style (T14: anything
 * below 5e-16 prints as 0.000000000000000). Give `{value, log10}` (as `maxAbsDet` returns) to
 * format values outside double range from their logarithm; a plain number is formatted as is.
 * The fixed style of a value that overflowed double range is "inf", as printf/numpy would print.
 */
export function formatDet(x: number | {value: number; log10: number}, digits = 6): {scientific: string; fixed: string} {
  const value = typeof x === 'number' ? x : x.value;
  const log10 = typeof x === 'number' ? Math.log10(Math.abs(x)) : x.log10;
  if (Number.isNaN(value) || Number.isNaN(log10)) return {scientific: 'nan', fixed: 'nan'};
  const neg = value < 0;
  let scientific: string;
  if (log10 === -Infinity) scientific = (0).toExponential(digits);
  else if (Number.isFinite(value) && value !== 0 && Math.abs(value) >= 1e-300) scientific = value.toExponential(digits);
  else if (log10 === Infinity) scientific = neg ? '-inf' : 'inf';
  else {
    let e = Math.floor(log10);
    let m = Math.pow(10, log10 - e);
    let ms = m.toFixed(digits);
    if (Number(ms) >= 10) {
      e += 1;
      m /= 10;
      ms = m.toFixed(digits);
    }
    scientific = `${neg ? '-' : ''}${ms}e${e >= 0 ? '+' : '-'}${Math.abs(e)}`;
  }
  let fixed: string;
  if (!Number.isFinite(value)) fixed = value > 0 ? 'inf' : '-inf';
  else if (Math.abs(value) < 1e21) fixed = value.toFixed(15);
  else fixed = `${BigInt(value).toString()}.000000000000000`;
  return {scientific, fixed};
}
/* ------------------------------------------------------------------------------------------ */
/* Spectral facts of one G head                                                                */
/* ------------------------------------------------------------------------------------------ */

export interface SpectralFacts {
  /** Descending. */
  singularValues: Float64Array;
  sigma1: number;
  /** σ₂/σ₁ (0 when n = 1). */
  sigma2OverSigma1: number;
  sigmaMinOverSigma1: number;
  /** σ_i > σ₁·n·eps. */
  rank: number;
  lambda1: DominantEigen;
  /** (1/n) Σ_ij G_ij. */
  meanRowSum: number;
  /** |λ₁ − mean row sum| / max(|λ₁|, |mean row sum|); 0 when both are 0; null without λ₁. */
  lambdaRowSumRelGap: number | null;
  /** max_i ‖G[i,:] − ḡ‖/‖ḡ‖ within the head. */
  rowSpread: number;
}

/** Spectral facts of one n×n head G (docs/spec.md §7, "Spectral facts"). */
export function spectralFacts(G: ArrayLike<number>, n: number, opts: IterationOptions = {}): SpectralFacts {
  const sv = singularValues(G, n, n);
  const s1 = sv[0];
  const lambda1 = dominantEigenvalue(G, n, opts);
  const mrs = meanRowSum(G, n);
  let gap: number | null = null;
  if (lambda1.value !== null) {
    const den = Math.max(Math.abs(lambda1.value), Math.abs(mrs));
    gap = den === 0 ? 0 : Math.abs(lambda1.value - mrs) / den;
  }
  return {
    singularValues: sv,
    sigma1: s1,
    sigma2OverSigma1: n > 1 ? sv[1] / s1 : 0,
    sigmaMinOverSigma1: sv[n - 1] / s1,
    rank: Number.isNaN(s1) ? NaN : numericalRank(sv, n),
    lambda1,
    meanRowSum: mrs,
    lambdaRowSumRelGap: gap,
    rowSpread: rowSpread(G, n, n),
  };
}

/* ------------------------------------------------------------------------------------------ */
/* A_LM: positivity                                                                           */
/* ------------------------------------------------------------------------------------------ */

export interface Positivity {
  minEntry: number;
  /** Entries ≤ 0 (NaN entries count too; minEntry ignores them). */
  nonPositive: number;
  /** Entries within `floorRelTol` (relative) of the float32 floor fround(1e-9) or of the double 1e-9. */
  atFloor: number;
  entries: number;
}

/** Positivity facts of any array (A_LM > 0 by construction: iSwiGLU + A_LM_FLOOR, the float32 value nearest to 1e-9). */
export function positivity(X: ArrayLike<number>, floorRelTol = 1e-12): Positivity {
  let minEntry = Infinity;
  let nonPositive = 0;
  let atFloor = 0;
  const f32 = A_LM_FLOOR;
  const f64 = 1e-9;
  for (let i = 0; i < X.length; i++) {
    const v = X[i];
    if (v < minEntry) minEntry = v;
    if (!(v > 0)) nonPositive++;
    if (Math.abs(v - f32) <= floorRelTol * f32 || Math.abs(v - f64) <= floorRelTol * f64) atFloor++;
  }
  return {minEntry: X.length === 0 ? NaN : minEntry, nonPositive, atFloor, entries: X.length};
}
