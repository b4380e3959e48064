/**
 * Deductive-output metrics (spec §7, traps T14 and T15): RMSE between heads, maximum |det|, and
 * the spectral facts the paper states about G_LM and A_LM. Pure functions on plain host arrays,
 * computed in float64 whatever the input type (Float32Array inputs are widened exactly). No
 * tensor library, no printing.
 *
 * Layout: every per-layer tensor is [H, dk, dk] row-major, so head h, row i, column j is at
 * h·dk² + i·dk + j.
 *
 * JSON: `deductiveReport` returns an object that survives JSON.stringify unchanged. Numbers that
 * are not finite are written as the strings "inf", "-inf" and "nan" (type `JsonNum`); JSON.stringify
 * would otherwise turn them into null and lose the difference between +∞ (e.g. A_P overflowing at
 * the 1e-9 floor, T15) and a 0/0. Exact-singular determinants therefore read `log10: "-inf"`,
 * `value: 0`. `compareG`, `gVariation` and the single-matrix helpers return plain numbers (which
 * may be non-finite); pass their results through `jsonSafe` before serialising if that matters.
 */
import { PldrError } from './errors.js';

/* ------------------------------------------------------------------------------------------ */
/* JSON-safe numbers                                                                           */
/* ------------------------------------------------------------------------------------------ */

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

/* ------------------------------------------------------------------------------------------ */
/* Shapes                                                                                      */
/* ------------------------------------------------------------------------------------------ */

function checkDims(H: number, dk: number, where: string): void {
  if (!Number.isInteger(H) || H < 1 || !Number.isInteger(dk) || dk < 1)
    throw new PldrError(`${where}: H and dk must be positive integers (got H=${H}, dk=${dk})`);
}

function checkLayer(X: ArrayLike<number>, H: number, dk: number, where: string): void {
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

function allFinite(M: ArrayLike<number>): boolean {
  for (let i = 0; i < M.length; i++) if (!Number.isFinite(M[i])) return false;
  return true;
}

function countNonFinite(M: ArrayLike<number>): number {
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
/* Determinants                                                                                */
/* ------------------------------------------------------------------------------------------ */

export interface LogDet {
  /** ln|det M|: −∞ when exactly singular, NaN when M has a non-finite entry. */
  logAbsDet: number;
  /** Sign of det M; 0 when exactly singular or when M has a non-finite entry. */
  sign: -1 | 0 | 1;
}

/**
 * ln|det M| of an n×n row-major matrix by LU with partial pivoting in float64 (T14): the sum of
 * ln|U_ii|, never the product, so 64×64 heads anywhere in 1e-400…1e400 are fine. M is not modified.
 */
export function logAbsDet(M: ArrayLike<number>, n: number): LogDet {
  if (M.length !== n * n) throw new PldrError(`determinant: expected ${n}×${n} = ${n * n} values, got ${M.length}`);
  if (!allFinite(M)) return { logAbsDet: NaN, sign: 0 };
  const a = Float64Array.from(M);
  let logSum = 0;
  let sign: -1 | 1 = 1;
  for (let k = 0; k < n; k++) {
    let p = k;
    let best = Math.abs(a[k * n + k]);
    for (let i = k + 1; i < n; i++) {
      const v = Math.abs(a[i * n + k]);
      if (v > best) {
        best = v;
        p = i;
      }
    }
    if (best === 0) return { logAbsDet: -Infinity, sign: 0 };
    if (p !== k) {
      const rp = p * n;
      const rk = k * n;
      for (let j = 0; j < n; j++) {
        const t = a[rk + j];
        a[rk + j] = a[rp + j];
        a[rp + j] = t;
      }
      sign = sign === 1 ? -1 : 1;
    }
    const rk = k * n;
    const piv = a[rk + k];
    if (piv < 0) sign = sign === 1 ? -1 : 1;
    logSum += Math.log(Math.abs(piv));
    for (let i = k + 1; i < n; i++) {
      const ri = i * n;
      const f = a[ri + k] / piv;
      if (f === 0) continue;
      a[ri + k] = 0;
      for (let j = k + 1; j < n; j++) a[ri + j] -= f * a[rk + j];
    }
  }
  return { logAbsDet: logSum, sign };
}

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
  perLayer: Array<{ log10: number; head: number }>;
}

/** max over layers ℓ and heads h of |det X_h^(ℓ)|, through log|det| (spec §7, T14). */
export function maxAbsDet(layers: ArrayLike<number>[], H: number, dk: number): MaxAbsDet {
  checkDims(H, dk, 'maximum |det|');
  let best = -Infinity;
  let bestLayer = -1;
  let bestHead = -1;
  let singularHeads = 0;
  let nonFiniteHeads = 0;
  let anyEvaluated = false;
  const perLayer: Array<{ log10: number; head: number }> = [];
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
    perLayer.push({ log10: layerEvaluated ? lb / Math.LN10 : NaN, head: lh });
  });
  if (!anyEvaluated) return { value: NaN, log10: NaN, layer: -1, head: -1, singularHeads, nonFiniteHeads, perLayer };
  return { value: Math.exp(best), log10: best / Math.LN10, layer: bestLayer, head: bestHead, singularHeads, nonFiniteHeads, perLayer };
}

/**
 * A determinant in scientific notation and in the paper's 15-decimal fixed style (T14: anything
 * below 5e-16 prints as 0.000000000000000). Give `{value, log10}` (as `maxAbsDet` returns) to
 * format values outside double range from their logarithm; a plain number is formatted as is.
 * The fixed style of a value that overflowed double range is "inf", as printf/numpy would print.
 */
export function formatDet(x: number | { value: number; log10: number }, digits = 6): { scientific: string; fixed: string } {
  const value = typeof x === 'number' ? x : x.value;
  const log10 = typeof x === 'number' ? Math.log10(Math.abs(x)) : x.log10;
  if (Number.isNaN(value) || Number.isNaN(log10)) return { scientific: 'nan', fixed: 'nan' };
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
  return { scientific, fixed };
}

/* ------------------------------------------------------------------------------------------ */
/* Singular values: one-sided Jacobi (Hestenes)                                                */
/* ------------------------------------------------------------------------------------------ */

const EPS = 2 ** -52;

/**
 * Singular values of an m×n row-major matrix (m ≥ 1, n ≥ 1), descending, by one-sided Jacobi in
 * float64: columns are rotated pairwise until orthogonal to working precision, and the σ are
 * their norms. High relative accuracy, robust for 64×64. The matrix is scaled by its largest
 * |entry| first, so huge or tiny entries neither overflow nor underflow. Returns min(m, n) values;
 * NaN everywhere when M has a non-finite entry.
 */
export function singularValues(M: ArrayLike<number>, m: number, n?: number): Float64Array {
  const cols = n ?? m;
  if (M.length !== m * cols) throw new PldrError(`singular values: expected ${m}×${cols} = ${m * cols} values, got ${M.length}`);
  const k = Math.min(m, cols);
  if (!allFinite(M)) return new Float64Array(k).fill(NaN);
  // Work on the taller orientation: columns of U (length r) with c ≤ r columns.
  const transpose = cols > m;
  const r = transpose ? cols : m;
  const c = transpose ? m : cols;
  let scale = 0;
  for (let i = 0; i < M.length; i++) scale = Math.max(scale, Math.abs(M[i]));
  if (scale === 0) return new Float64Array(k);
  // U column-major: column j at j*r.
  const U = new Float64Array(r * c);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < cols; j++) {
      const v = M[i * cols + j] / scale;
      if (transpose) U[i * r + j] = v; // column i of Mᵀ = row i of M
      else U[j * r + i] = v;
    }
  }
  const tol = EPS * r;
  for (let sweep = 0; sweep < 80; sweep++) {
    let rotated = false;
    for (let p = 0; p < c - 1; p++) {
      const op = p * r;
      for (let q = p + 1; q < c; q++) {
        const oq = q * r;
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < r; i++) {
          const up = U[op + i];
          const uq = U[oq + i];
          alpha += up * up;
          beta += uq * uq;
          gamma += up * uq;
        }
        if (gamma === 0 || alpha === 0 || beta === 0) continue;
        if (Math.abs(gamma) <= tol * Math.sqrt(alpha) * Math.sqrt(beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.hypot(1, zeta));
        const cs = 1 / Math.sqrt(1 + t * t);
        const sn = cs * t;
        for (let i = 0; i < r; i++) {
          const up = U[op + i];
          const uq = U[oq + i];
          U[op + i] = cs * up - sn * uq;
          U[oq + i] = sn * up + cs * uq;
        }
      }
    }
    if (!rotated) break;
  }
  const s = new Float64Array(c);
  for (let j = 0; j < c; j++) {
    let ss = 0;
    const o = j * r;
    // scaled two-norm (columns are O(1) after the global scaling, but stay careful)
    let cmax = 0;
    for (let i = 0; i < r; i++) cmax = Math.max(cmax, Math.abs(U[o + i]));
    if (cmax === 0) {
      s[j] = 0;
      continue;
    }
    for (let i = 0; i < r; i++) {
      const v = U[o + i] / cmax;
      ss += v * v;
    }
    s[j] = cmax * Math.sqrt(ss) * scale;
  }
  s.sort((a, b) => b - a);
  return s.subarray(0, k).slice();
}

/** Numerical rank: the number of σ_i > σ_1·n·eps (n = the larger dimension). */
export function numericalRank(sigma: ArrayLike<number>, n: number): number {
  if (sigma.length === 0 || !(sigma[0] > 0)) return 0;
  const thr = sigma[0] * n * EPS;
  let r = 0;
  for (let i = 0; i < sigma.length; i++) if (sigma[i] > thr) r++;
  return r;
}

/* ------------------------------------------------------------------------------------------ */
/* Dominant eigenvalue by power iteration                                                      */
/* ------------------------------------------------------------------------------------------ */

export interface IterationOptions {
  /** Iteration cap (default 1000). */
  maxIterations?: number;
  /** Relative tolerance (default 1e-10 for power iteration, 1e-12 for the Perron root). */
  tol?: number;
}

export interface DominantEigen {
  /** λ₁, or null when it could not be established (see `reason`). */
  value: number | null;
  converged: boolean;
  iterations: number;
  /** ‖Gx − λx‖ / ‖G‖_F at the last step, x unit. */
  relResidual: number;
  reason?: string;
}

/** Deterministic start vector in [0.5, 1.5): generic, so never orthogonal to an eigenvector in practice. */
function startVector(n: number): Float64Array {
  const x = new Float64Array(n);
  let s = 0x9e3779b9 >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = 0.5 + s / 2 ** 32;
  }
  return x;
}

function matVec(M: ArrayLike<number>, n: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * n;
    for (let j = 0; j < n; j++) s += M[o + j] * x[j];
    y[i] = s;
  }
}

function norm2(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  if (m === 0 || !Number.isFinite(m)) return m;
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i] / m;
    s += v * v;
  }
  return m * Math.sqrt(s);
}

/**
 * Dominant eigenvalue λ₁ (largest |λ|) of a real n×n matrix by power iteration with a Rayleigh
 * quotient. Converged when ‖Gx − λx‖ ≤ tol·‖G‖_F for the unit iterate x. A complex dominant pair,
 * a ±λ tie or a ratio |λ₂/λ₁| too close to 1 keeps the residual up; then `value` is null with the
 * reason, never a wrong number.
 */
export function dominantEigenvalue(M: ArrayLike<number>, n: number, opts: IterationOptions = {}): DominantEigen {
  if (M.length !== n * n) throw new PldrError(`dominant eigenvalue: expected ${n}×${n} = ${n * n} values, got ${M.length}`);
  const maxIt = opts.maxIterations ?? 1000;
  const tol = opts.tol ?? 1e-10;
  if (!allFinite(M)) return { value: null, converged: false, iterations: 0, relResidual: NaN, reason: 'matrix has non-finite entries' };
  const normM = norm2(M);
  if (normM === 0) return { value: 0, converged: true, iterations: 0, relResidual: 0 };
  let x: Float64Array = startVector(n);
  const nx = norm2(x);
  for (let i = 0; i < n; i++) x[i] /= nx;
  let y: Float64Array = new Float64Array(n);
  let lambda = 0;
  let rel = Infinity;
  for (let it = 1; it <= maxIt; it++) {
    matVec(M, n, x, y);
    lambda = 0;
    for (let i = 0; i < n; i++) lambda += x[i] * y[i];
    let r2 = 0;
    for (let i = 0; i < n; i++) {
      const d = y[i] - lambda * x[i];
      r2 += d * d;
    }
    rel = Math.sqrt(r2) / normM;
    if (rel <= tol) return { value: lambda, converged: true, iterations: it, relResidual: rel };
    const ny = norm2(y);
    if (ny === 0) return { value: 0, converged: true, iterations: it, relResidual: 0 }; // nilpotent on the iterate
    for (let i = 0; i < n; i++) y[i] /= ny;
    const t = x;
    x = y;
    y = t;
  }
  return {
    value: null,
    converged: false,
    iterations: maxIt,
    relResidual: rel,
    reason: `power iteration did not converge in ${maxIt} steps (relative residual ${rel.toExponential(2)}): the dominant eigenvalue is complex, not unique in modulus, or |λ2/λ1| is close to 1`,
  };
}

/* ------------------------------------------------------------------------------------------ */
/* Row statistics                                                                              */
/* ------------------------------------------------------------------------------------------ */

/** (1/n) Σ_ij M_ij: the mean row sum of an n×n matrix. */
export function meanRowSum(M: ArrayLike<number>, n: number): number {
  let s = 0;
  for (let i = 0; i < n * n; i++) s += M[i];
  return s / n;
}

/**
 * max_i ‖row_i − ḡ‖ / ‖ḡ‖ over the rows of a rows×cols row-major matrix, ḡ the mean row. For a
 * layer [H, dk, dk] pass rows = H·dk to get the spread across heads. ∞ when ḡ = 0 and some row
 * differs from it; NaN when every row is 0.
 */
export function rowSpread(M: ArrayLike<number>, rows: number, cols: number): number {
  if (M.length !== rows * cols) throw new PldrError(`row spread: expected ${rows}×${cols} = ${rows * cols} values, got ${M.length}`);
  const mean = new Float64Array(cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) mean[j] += M[i * cols + j];
  for (let j = 0; j < cols; j++) mean[j] /= rows;
  const nm = norm2(mean);
  let worst = 0;
  const d = new Float64Array(cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) d[j] = M[i * cols + j] - mean[j];
    const nd = norm2(d);
    if (Number.isNaN(nd)) return NaN;
    worst = Math.max(worst, nd);
  }
  return worst / nm;
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

/** Spectral facts of one n×n head G (spec §7, "Spectral facts"). */
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
/* A_LM: positivity and the Perron root                                                        */
/* ------------------------------------------------------------------------------------------ */

/** The A_LM floor: the float32 value nearest to 1e-9 (spec §3.6). */
export const A_LM_FLOOR = Math.fround(1e-9);

export interface Positivity {
  minEntry: number;
  /** Entries ≤ 0 (NaN entries count too; minEntry ignores them). */
  nonPositive: number;
  /** Entries within `floorRelTol` (relative) of the float32 floor fround(1e-9) or of the double 1e-9. */
  atFloor: number;
  entries: number;
}

/** Positivity facts of any array (A_LM > 0 by construction: iSwiGLU + 1e-9). */
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
  return { minEntry: X.length === 0 ? NaN : minEntry, nonPositive, atFloor, entries: X.length };
}

export interface PerronRoot {
  /** ρ (midpoint of the final Collatz–Wielandt bounds), or null (see `reason`). */
  rho: number | null;
  /** Final Collatz–Wielandt bounds min_i (Ax)_i/x_i ≤ ρ ≤ max_i (Ax)_i/x_i. */
  lower: number;
  upper: number;
  minRowSum: number;
  maxRowSum: number;
  /** minRowSum ≤ ρ ≤ maxRowSum (with a 1e-12 relative slack); null without ρ. */
  withinRowSumBounds: boolean | null;
  converged: boolean;
  iterations: number;
  reason?: string;
}

/**
 * Perron root of a nonnegative n×n matrix by power iteration from the all-ones vector, stopped by
 * the Collatz–Wielandt bounds (upper − lower ≤ tol·upper). Step 0 gives exactly the row-sum bounds,
 * so a matrix with constant row sums is exact at once. A matrix with zero entries is iterated as
 * A + sI (s = max row sum), which keeps the iterate positive; the bounds are those of A.
 * Negative or non-finite entries: ρ is null with the reason.
 */
export function perronRoot(M: ArrayLike<number>, n: number, opts: IterationOptions = {}): PerronRoot {
  if (M.length !== n * n) throw new PldrError(`Perron root: expected ${n}×${n} = ${n * n} values, got ${M.length}`);
  const maxIt = opts.maxIterations ?? 1000;
  const tol = opts.tol ?? 1e-12;
  let minRow = Infinity;
  let maxRow = -Infinity;
  let minEntry = Infinity;
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) {
      const v = M[i * n + j];
      s += v;
      if (!(v >= minEntry)) minEntry = v;
    }
    minRow = Math.min(minRow, s);
    maxRow = Math.max(maxRow, s);
  }
  const base = { lower: NaN, upper: NaN, minRowSum: minRow, maxRowSum: maxRow, withinRowSumBounds: null, converged: false, iterations: 0 };
  if (!allFinite(M)) return { ...base, rho: null, reason: 'matrix has non-finite entries' };
  if (minEntry < 0) return { ...base, rho: null, reason: 'matrix has negative entries: Perron–Frobenius does not apply' };
  if (maxRow === 0) return { ...base, rho: 0, lower: 0, upper: 0, withinRowSumBounds: true, converged: true };
  const shift = minEntry > 0 ? 0 : maxRow;
  let x: Float64Array = new Float64Array(n).fill(1);
  let y: Float64Array = new Float64Array(n);
  let lo = NaN;
  let hi = NaN;
  for (let it = 0; it <= maxIt; it++) {
    matVec(M, n, x, y);
    lo = Infinity;
    hi = -Infinity;
    for (let i = 0; i < n; i++) {
      const q = y[i] / x[i];
      lo = Math.min(lo, q);
      hi = Math.max(hi, q);
    }
    if (hi - lo <= tol * hi) {
      const rho = (lo + hi) / 2;
      const slack = 1e-12 * Math.max(Math.abs(minRow), Math.abs(maxRow));
      return { ...base, rho, lower: lo, upper: hi, withinRowSumBounds: rho >= minRow - slack && rho <= maxRow + slack, converged: true, iterations: it };
    }
    let s = 0;
    for (let i = 0; i < n; i++) {
      y[i] += shift * x[i];
      s = Math.max(s, y[i]);
    }
    for (let i = 0; i < n; i++) y[i] /= s;
    const t = x;
    x = y;
    y = t;
  }
  return {
    ...base,
    rho: null,
    lower: lo,
    upper: hi,
    iterations: maxIt,
    reason: `Collatz–Wielandt bounds did not meet in ${maxIt} steps (${lo.toExponential(6)} ≤ ρ ≤ ${hi.toExponential(6)}): reducible or |λ2/ρ| close to 1`,
  };
}

/* ------------------------------------------------------------------------------------------ */
/* The report                                                                                  */
/* ------------------------------------------------------------------------------------------ */

export const DEDUCTIVE_OUTPUTS = ['A', 'A_LM', 'A_P', 'G_LM'] as const;
export type DeductiveOutput = (typeof DEDUCTIVE_OUTPUTS)[number];

export interface DeductiveInput {
  H: number;
  dk: number;
  /** Per layer, each present output [H, dk, dk] row-major. An output is in every layer or in none. */
  layers: Array<Partial<Record<DeductiveOutput, ArrayLike<number>>>>;
}

export interface ReportOptions {
  /** Power-iteration cap for λ₁ and ρ (default 1000). */
  maxIterations?: number;
  /** Relative tolerance of λ₁'s residual (default 1e-10). */
  tol?: number;
  /** Add per-head detail to the G_LM and A_LM sections (default false). */
  includeHeads?: boolean;
}

export interface Stat {
  mean: JsonNum;
  max: JsonNum;
}
export interface StatMin extends Stat {
  min: JsonNum;
}

export interface OutputReport {
  /** spec §7: per layer RMSE_ℓ, and pooled sqrt(mean RMSE_ℓ²). */
  rmse: { perLayer: JsonNum[]; pooled: JsonNum };
  maxAbsDet: {
    value: JsonNum;
    log10: JsonNum;
    /** Scientific notation and the paper's 15-decimal fixed style (formatDet). */
    scientific: string;
    fixed: string;
    layer: number;
    head: number;
    singularHeads: number;
    nonFiniteHeads: number;
    perLayer: Array<{ log10: JsonNum; head: number }>;
  };
  /** Non-finite entries over all layers (e.g. A_P = A_LM^P overflowing at the floor, T15). */
  nonFiniteEntries: number;
}

export interface GHeadReport {
  head: number;
  sigma2OverSigma1: JsonNum;
  sigmaMinOverSigma1: JsonNum;
  rank: JsonNum;
  lambda1: JsonNum | null;
  lambda1Reason?: string;
  meanRowSum: JsonNum;
  lambdaRowSumRelGap: JsonNum | null;
  rowSpread: JsonNum;
}

export interface GLayerReport {
  layer: number;
  sigma2OverSigma1: Stat;
  sigmaMinOverSigma1: Stat;
  rank: StatMin;
  /** λ₁ against the mean row sum, over the heads where λ₁ converged. */
  lambda1: {
    converged: number;
    notConverged: number;
    /** Distinct reasons for the heads without λ₁. */
    reasons: string[];
    relGapToRowSum: Stat;
  };
  rowSpreadWithinHeads: Stat;
  /** max over all H·dk rows of the layer, against the layer's mean row. */
  rowSpreadAcrossHeads: JsonNum;
  /** Heads skipped for non-finite entries. */
  nonFiniteHeads: number;
  heads?: GHeadReport[];
}

export interface GSpectralReport {
  layers: GLayerReport[];
  overall: {
    sigma2OverSigma1: Stat;
    sigmaMinOverSigma1: Stat;
    rank: StatMin;
    lambda1: { converged: number; notConverged: number; relGapToRowSum: Stat };
    rowSpreadWithinHeads: Stat;
    rowSpreadAcrossHeads: Stat;
  };
}

export interface ALMHeadReport {
  head: number;
  minEntry: JsonNum;
  rho: JsonNum | null;
  rhoReason?: string;
  minRowSum: JsonNum;
  maxRowSum: JsonNum;
  withinRowSumBounds: boolean | null;
  sigmaMinOverSigma1: JsonNum;
}

export interface ALMLayerReport {
  layer: number;
  minEntry: JsonNum;
  nonPositive: number;
  atFloor: number;
  entries: number;
  perron: {
    rho: StatMin;
    converged: number;
    notConverged: number;
    reasons: string[];
    /** Heads whose ρ lies within [min row sum, max row sum] (all converged heads, by theory). */
    withinRowSumBounds: number;
  };
  sigmaMinOverSigma1: StatMin;
  heads?: ALMHeadReport[];
}

export interface ALMReport {
  layers: ALMLayerReport[];
  overall: {
    minEntry: JsonNum;
    nonPositive: number;
    atFloor: number;
    entries: number;
    rho: StatMin;
    converged: number;
    notConverged: number;
    withinRowSumBounds: number;
    sigmaMinOverSigma1: StatMin;
  };
}

export interface DeductiveReport {
  H: number;
  dk: number;
  layers: number;
  /** How non-finite numbers are written in this object. */
  encoding: string;
  /** One entry per output present in the input. */
  outputs: Partial<Record<DeductiveOutput, OutputReport>>;
  /** When G_LM is present. */
  G_LM_spectral?: GSpectralReport;
  /** When A_LM is present. */
  A_LM_perron?: ALMReport;
}

const ENCODING = 'non-finite numbers are the strings "inf", "-inf", "nan"; null marks a value that could not be established (see the reasons)';

class Acc {
  private s = 0;
  private n = 0;
  private mx = -Infinity;
  private mn = Infinity;
  private nan = false;
  add(x: number): void {
    if (Number.isNaN(x)) {
      this.nan = true;
      return;
    }
    this.s += x;
    this.n++;
    this.mx = Math.max(this.mx, x);
    this.mn = Math.min(this.mn, x);
  }
  stat(): Stat {
    if (this.n === 0) return { mean: 'nan', max: 'nan' };
    return { mean: jsonNum(this.s / this.n), max: jsonNum(this.mx) };
  }
  statMin(): StatMin {
    if (this.n === 0) return { mean: 'nan', max: 'nan', min: 'nan' };
    return { mean: jsonNum(this.s / this.n), max: jsonNum(this.mx), min: jsonNum(this.mn) };
  }
  get sawNaN(): boolean {
    return this.nan;
  }
}

function outputReport(layers: ArrayLike<number>[], H: number, dk: number): OutputReport {
  const per = layers.map((X) => rmseBetweenHeads(X, H, dk));
  const md = maxAbsDet(layers, H, dk);
  const f = formatDet(md);
  let nonFiniteEntries = 0;
  for (const X of layers) nonFiniteEntries += countNonFinite(X);
  return {
    rmse: { perLayer: per.map(jsonNum), pooled: jsonNum(pooledRmse(per)) },
    maxAbsDet: {
      value: jsonNum(md.value),
      log10: jsonNum(md.log10),
      scientific: f.scientific,
      fixed: f.fixed,
      layer: md.layer,
      head: md.head,
      singularHeads: md.singularHeads,
      nonFiniteHeads: md.nonFiniteHeads,
      perLayer: md.perLayer.map((p) => ({ log10: jsonNum(p.log10), head: p.head })),
    },
    nonFiniteEntries,
  };
}

function gSpectral(layers: ArrayLike<number>[], H: number, dk: number, opts: ReportOptions): GSpectralReport {
  const it: IterationOptions = { maxIterations: opts.maxIterations, tol: opts.tol };
  const o = { s2: new Acc(), smin: new Acc(), rank: new Acc(), gap: new Acc(), within: new Acc(), across: new Acc(), conv: 0, notConv: 0 };
  const out: GLayerReport[] = layers.map((X, l) => {
    const s2 = new Acc();
    const smin = new Acc();
    const rank = new Acc();
    const gap = new Acc();
    const within = new Acc();
    let conv = 0;
    let notConv = 0;
    let nonFiniteHeads = 0;
    const reasons = new Set<string>();
    const heads: GHeadReport[] = [];
    for (let h = 0; h < H; h++) {
      const G = headMatrix(X, h, dk);
      if (!allFinite(G)) {
        nonFiniteHeads++;
        continue;
      }
      const f = spectralFacts(G, dk, it);
      s2.add(f.sigma2OverSigma1);
      o.s2.add(f.sigma2OverSigma1);
      smin.add(f.sigmaMinOverSigma1);
      o.smin.add(f.sigmaMinOverSigma1);
      rank.add(f.rank);
      o.rank.add(f.rank);
      within.add(f.rowSpread);
      o.within.add(f.rowSpread);
      if (f.lambdaRowSumRelGap !== null) {
        conv++;
        gap.add(f.lambdaRowSumRelGap);
        o.gap.add(f.lambdaRowSumRelGap);
      } else {
        notConv++;
        if (f.lambda1.reason) reasons.add(f.lambda1.reason.replace(/ \(relative residual [^)]*\)/, ''));
      }
      if (opts.includeHeads) {
        heads.push({
          head: h,
          sigma2OverSigma1: jsonNum(f.sigma2OverSigma1),
          sigmaMinOverSigma1: jsonNum(f.sigmaMinOverSigma1),
          rank: jsonNum(f.rank),
          lambda1: f.lambda1.value === null ? null : jsonNum(f.lambda1.value),
          ...(f.lambda1.reason ? { lambda1Reason: f.lambda1.reason } : {}),
          meanRowSum: jsonNum(f.meanRowSum),
          lambdaRowSumRelGap: f.lambdaRowSumRelGap === null ? null : jsonNum(f.lambdaRowSumRelGap),
          rowSpread: jsonNum(f.rowSpread),
        });
      }
    }
    o.conv += conv;
    o.notConv += notConv;
    const across = allFinite(X) ? rowSpread(X, H * dk, dk) : NaN;
    o.across.add(across);
    return {
      layer: l,
      sigma2OverSigma1: s2.stat(),
      sigmaMinOverSigma1: smin.stat(),
      rank: rank.statMin(),
      lambda1: { converged: conv, notConverged: notConv, reasons: [...reasons], relGapToRowSum: gap.stat() },
      rowSpreadWithinHeads: within.stat(),
      rowSpreadAcrossHeads: jsonNum(across),
      nonFiniteHeads,
      ...(opts.includeHeads ? { heads } : {}),
    };
  });
  return {
    layers: out,
    overall: {
      sigma2OverSigma1: o.s2.stat(),
      sigmaMinOverSigma1: o.smin.stat(),
      rank: o.rank.statMin(),
      lambda1: { converged: o.conv, notConverged: o.notConv, relGapToRowSum: o.gap.stat() },
      rowSpreadWithinHeads: o.within.stat(),
      rowSpreadAcrossHeads: o.across.stat(),
    },
  };
}

function almReport(layers: ArrayLike<number>[], H: number, dk: number, opts: ReportOptions): ALMReport {
  const it: IterationOptions = { maxIterations: opts.maxIterations };
  const o = { rho: new Acc(), smin: new Acc(), conv: 0, notConv: 0, within: 0, minEntry: Infinity, nonPositive: 0, atFloor: 0, entries: 0 };
  const out: ALMLayerReport[] = layers.map((X, l) => {
    const pos = positivity(X);
    o.minEntry = Math.min(o.minEntry, pos.minEntry);
    o.nonPositive += pos.nonPositive;
    o.atFloor += pos.atFloor;
    o.entries += pos.entries;
    const rho = new Acc();
    const smin = new Acc();
    let conv = 0;
    let notConv = 0;
    let within = 0;
    const reasons = new Set<string>();
    const heads: ALMHeadReport[] = [];
    for (let h = 0; h < H; h++) {
      const A = headMatrix(X, h, dk);
      const p = perronRoot(A, dk, it);
      const sv = singularValues(A, dk, dk);
      const sm = sv[dk - 1] / sv[0];
      smin.add(sm);
      o.smin.add(sm);
      if (p.rho !== null) {
        conv++;
        rho.add(p.rho);
        o.rho.add(p.rho);
        if (p.withinRowSumBounds) within++;
      } else {
        notConv++;
        if (p.reason) reasons.add(p.reason.replace(/ \([^)]*ρ[^)]*\)/, ''));
      }
      if (opts.includeHeads) {
        heads.push({
          head: h,
          minEntry: jsonNum(positivity(A).minEntry),
          rho: p.rho === null ? null : jsonNum(p.rho),
          ...(p.reason ? { rhoReason: p.reason } : {}),
          minRowSum: jsonNum(p.minRowSum),
          maxRowSum: jsonNum(p.maxRowSum),
          withinRowSumBounds: p.withinRowSumBounds,
          sigmaMinOverSigma1: jsonNum(sm),
        });
      }
    }
    o.conv += conv;
    o.notConv += notConv;
    o.within += within;
    return {
      layer: l,
      minEntry: jsonNum(pos.minEntry),
      nonPositive: pos.nonPositive,
      atFloor: pos.atFloor,
      entries: pos.entries,
      perron: { rho: rho.statMin(), converged: conv, notConverged: notConv, reasons: [...reasons], withinRowSumBounds: within },
      sigmaMinOverSigma1: smin.statMin(),
      ...(opts.includeHeads ? { heads } : {}),
    };
  });
  return {
    layers: out,
    overall: {
      minEntry: jsonNum(o.entries === 0 ? NaN : o.minEntry),
      nonPositive: o.nonPositive,
      atFloor: o.atFloor,
      entries: o.entries,
      rho: o.rho.statMin(),
      converged: o.conv,
      notConverged: o.notConv,
      withinRowSumBounds: o.within,
      sigmaMinOverSigma1: o.smin.statMin(),
    },
  };
}

/**
 * The spec §7 report for one set of deductive outputs: per output present, the per-layer and
 * pooled RMSE between heads, the maximum |det| (value, log10, where, both print styles); for G_LM
 * the spectral summary per layer and overall; for A_LM positivity and Perron facts. The result is
 * JSON-safe (see the module comment).
 */
export function deductiveReport(input: DeductiveInput, opts: ReportOptions = {}): DeductiveReport {
  const { H, dk, layers } = input;
  checkDims(H, dk, 'deductive report');
  const report: DeductiveReport = { H, dk, layers: layers.length, encoding: ENCODING, outputs: {} };
  for (const name of DEDUCTIVE_OUTPUTS) {
    const present = layers.filter((l) => l[name] !== undefined).length;
    if (present === 0) continue;
    if (present !== layers.length)
      throw new PldrError(`deductive report: ${name} is given for ${present} of ${layers.length} layers; give it for every layer or for none`);
    const arrays = layers.map((l, i) => {
      const X = l[name]!;
      checkLayer(X, H, dk, `deductive report, ${name} of layer ${i}`);
      return X;
    });
    report.outputs[name] = outputReport(arrays, H, dk);
    if (name === 'G_LM') report.G_LM_spectral = gSpectral(arrays, H, dk, opts);
    if (name === 'A_LM') report.A_LM_perron = almReport(arrays, H, dk, opts);
  }
  return report;
}

/* ------------------------------------------------------------------------------------------ */
/* Comparing G lists                                                                           */
/* ------------------------------------------------------------------------------------------ */

/** Per-layer arrays, all the same length across the lists being compared. */
export type GLayers = ArrayLike<number>[];

export interface GDiff {
  /** max |a − b|. */
  maxAbsDiff: number;
  /** sqrt(mean (a − b)²). */
  rmsDiff: number;
  /** rmsDiff / sqrt(mean a²) (∞ or NaN when a is all zeros). */
  relRms: number;
}

export interface GCompare {
  layers: GDiff[];
  /** Over every entry of every layer. */
  overall: GDiff;
}

function checkSameShape(a: GLayers, b: GLayers, what: string): void {
  if (a.length !== b.length) throw new PldrError(`${what}: ${a.length} layers against ${b.length}; the G lists must have the same number of layers`);
  for (let l = 0; l < a.length; l++)
    if (a[l].length !== b[l].length)
      throw new PldrError(`${what}: layer ${l} has ${a[l].length} values against ${b[l].length}; the G lists must have the same shape`);
}

/** Differences between two G lists (b against the reference a), per layer and overall. */
export function compareG(a: GLayers, b: GLayers): GCompare {
  checkSameShape(a, b, 'compare G');
  let tMax = 0;
  let tD2 = 0;
  let tA2 = 0;
  let tN = 0;
  const layers = a.map((x, l) => {
    const y = b[l];
    let mx = 0;
    let d2 = 0;
    let a2 = 0;
    for (let i = 0; i < x.length; i++) {
      const d = x[i] - y[i];
      const ad = Math.abs(d);
      if (ad > mx || Number.isNaN(ad)) mx = Number.isNaN(mx) ? mx : ad;
      d2 += d * d;
      a2 += x[i] * x[i];
    }
    tMax = Number.isNaN(tMax) || Number.isNaN(mx) ? NaN : Math.max(tMax, mx);
    tD2 += d2;
    tA2 += a2;
    tN += x.length;
    const n = x.length;
    return { maxAbsDiff: mx, rmsDiff: Math.sqrt(d2 / n), relRms: Math.sqrt(d2 / n) / Math.sqrt(a2 / n) };
  });
  return { layers, overall: { maxAbsDiff: tMax, rmsDiff: Math.sqrt(tD2 / tN), relRms: Math.sqrt(tD2 / tN) / Math.sqrt(tA2 / tN) } };
}

export interface GVariationLayer {
  /** max over prompts p of max |G_p − Ḡ|. */
  maxAbsDev: number;
  /** sqrt(mean over p of (‖G_p − Ḡ‖_F / ‖Ḡ‖_F)²). */
  relFrobRms: number;
  /** ‖Ḡ‖_F of the layer. */
  meanFrob: number;
}

export interface GVariation {
  /** Ḡ is the elementwise mean over the prompts, per layer. */
  layers: GVariationLayer[];
  overall: {
    maxAbsDev: number;
    /** As per layer, with every layer of a list taken together as one vector. */
    relFrobRms: number;
    /** Per prompt, ‖G_p − Ḡ‖_F / ‖Ḡ‖_F over all layers together: finds the outlying prompt. */
    perPromptRelFrob: number[];
  };
}

/**
 * How much G_LM moves across prompts (the quantitative test of the paper's invariance claim):
 * `lists[p]` is the per-layer G_LM list of prompt p. Needs at least one list; all of the same shape.
 */
export function gVariation(lists: GLayers[]): GVariation {
  if (lists.length === 0) throw new PldrError('G variation: no G lists given; export G_LM for at least one prompt');
  for (let p = 1; p < lists.length; p++) checkSameShape(lists[0], lists[p], `G variation, prompt ${p} against prompt 0`);
  const P = lists.length;
  const L = lists[0].length;
  const promptDev2 = new Float64Array(P);
  let totalMean2 = 0;
  let totalMax = 0;
  const layers: GVariationLayer[] = [];
  for (let l = 0; l < L; l++) {
    const n = lists[0][l].length;
    // Ḡ = G_0 + mean_p (G_p − G_0): exactly G_0 when every list is identical, so the deviations are 0.
    const X0 = lists[0][l];
    const mean = new Float64Array(n);
    for (let p = 1; p < P; p++) {
      const X = lists[p][l];
      for (let i = 0; i < n; i++) mean[i] += X[i] - X0[i];
    }
    let m2 = 0;
    for (let i = 0; i < n; i++) {
      mean[i] = X0[i] + mean[i] / P;
      m2 += mean[i] * mean[i];
    }
    totalMean2 += m2;
    let mx = 0;
    let rel2 = 0;
    for (let p = 0; p < P; p++) {
      const X = lists[p][l];
      let d2 = 0;
      for (let i = 0; i < n; i++) {
        const d = X[i] - mean[i];
        const ad = Math.abs(d);
        if (!(ad <= mx)) mx = Number.isNaN(mx) ? mx : ad;
        d2 += d * d;
      }
      promptDev2[p] += d2;
      if (d2 !== 0) rel2 += d2 / m2;
    }
    totalMax = Number.isNaN(totalMax) || Number.isNaN(mx) ? NaN : Math.max(totalMax, mx);
    layers.push({ maxAbsDev: mx, relFrobRms: Math.sqrt(rel2 / P), meanFrob: Math.sqrt(m2) });
  }
  const perPromptRelFrob = Array.from(promptDev2, (d2) => (d2 === 0 ? 0 : Math.sqrt(d2 / totalMean2)));
  let r2 = 0;
  for (const r of perPromptRelFrob) r2 += r * r;
  return { layers, overall: { maxAbsDev: totalMax, relFrobRms: Math.sqrt(r2 / P), perPromptRelFrob } };
}
