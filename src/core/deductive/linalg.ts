/**
 * Dense linear algebra in float64 for the deductive metrics (docs/spec.md §7, trap T14): ln|det| by LU,
 * singular values by one-sided Jacobi, the dominant eigenvalue and the Perron root by power
 * iteration, row statistics. Matrices are row-major host arrays (any ArrayLike<number>; Float32Array
 * inputs are widened exactly). No tensor library, no printing; inputs are never modified.
 */
import {PldrError} from '../errors.js';

/** Whether every entry of M is finite. */
export function allFinite(M: ArrayLike<number>): boolean {
  for (let i = 0; i < M.length; i++) if (!Number.isFinite(M[i])) return false;
  return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Determinants                                                                               */
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
  if (!allFinite(M)) return {logAbsDet: NaN, sign: 0};
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
    if (best === 0) return {logAbsDet: -Infinity, sign: 0};
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
  return {logAbsDet: logSum, sign};
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
  if (M.length !== m * cols)
    throw new PldrError(`singular values: expected ${m}×${cols} = ${m * cols} values, got ${M.length}`);
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
      if (transpose)
        U[i * r + j] = v; // column i of Mᵀ = row i of M
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
  if (M.length !== n * n)
    throw new PldrError(`dominant eigenvalue: expected ${n}×${n} = ${n * n} values, got ${M.length}`);
  const maxIt = opts.maxIterations ?? 1000;
  const tol = opts.tol ?? 1e-10;
  if (!allFinite(M))
    return {value: null, converged: false, iterations: 0, relResidual: NaN, reason: 'matrix has non-finite entries'};
  const normM = norm2(M);
  if (normM === 0) return {value: 0, converged: true, iterations: 0, relResidual: 0};
  let x: Float64Array = startVector(n);
  const nx = norm2(x);
  for (let i = 0; i < n; i++) x[i] /= nx;
  let y: Float64Array = new Float64Array(n);
  let rel = Infinity;
  for (let it = 1; it <= maxIt; it++) {
    matVec(M, n, x, y);
    let lambda = 0;
    for (let i = 0; i < n; i++) lambda += x[i] * y[i];
    let r2 = 0;
    for (let i = 0; i < n; i++) {
      const d = y[i] - lambda * x[i];
      r2 += d * d;
    }
    rel = Math.sqrt(r2) / normM;
    if (rel <= tol) return {value: lambda, converged: true, iterations: it, relResidual: rel};
    const ny = norm2(y);
    if (ny === 0) return {value: 0, converged: true, iterations: it, relResidual: 0}; // nilpotent on the iterate
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
  if (M.length !== rows * cols)
    throw new PldrError(`row spread: expected ${rows}×${cols} = ${rows * cols} values, got ${M.length}`);
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
/* The Perron root of a nonnegative matrix                                                    */
/* ------------------------------------------------------------------------------------------ */

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
  const base = {
    lower: NaN,
    upper: NaN,
    minRowSum: minRow,
    maxRowSum: maxRow,
    withinRowSumBounds: null,
    converged: false,
    iterations: 0,
  };
  if (!allFinite(M)) return {...base, rho: null, reason: 'matrix has non-finite entries'};
  if (minEntry < 0) return {...base, rho: null, reason: 'matrix has negative entries: Perron–Frobenius does not apply'};
  if (maxRow === 0) return {...base, rho: 0, lower: 0, upper: 0, withinRowSumBounds: true, converged: true};
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
      return {
        ...base,
        rho,
        lower: lo,
        upper: hi,
        withinRowSumBounds: rho >= minRow - slack && rho <= maxRow + slack,
        converged: true,
        iterations: it,
      };
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
