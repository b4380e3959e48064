/**
 * The float64 linear algebra under the deductive metrics (docs/spec.md §7, T14). Expected values are worked out here by hand or by
 * an independent route (closed forms, the variance shortcut, Σσ² = ‖M‖_F²), never by calling the
 * function under test a second time.
 */
import {describe, expect, it} from 'vitest';

import {A_LM_FLOOR} from '../../../src/core/model/constants.js';
import {logAbsDet, numericalRank, perronRoot, singularValues} from '../../../src/core/deductive/linalg.js';
import {formatDet, maxAbsDet} from '../../../src/core/deductive/metrics.js';
import {diag, fromRows, randn, rng} from './helpers.js';

describe('logAbsDet (LU with partial pivoting, float64)', () => {
  it('upper-triangular: product of the diagonal, with its sign', () => {
    const M = fromRows([
      [2, 7, -1, 4],
      [0, 3, 5, 9],
      [0, 0, -1, 8],
      [0, 0, 0, 0.5],
    ]);
    const r = logAbsDet(M, 4);
    // det = 2·3·(−1)·0.5 = −3
    expect(r.sign).toBe(-1);
    expect(r.logAbsDet).toBeCloseTo(Math.log(3), 14);
  });

  it('block-diagonal: product of the block determinants', () => {
    // blocks [[4,1],[2,3]] (det 10) and [[0,2],[5,1]] (det −10) → det −100
    const M = fromRows([
      [4, 1, 0, 0],
      [2, 3, 0, 0],
      [0, 0, 0, 2],
      [0, 0, 5, 1],
    ]);
    const r = logAbsDet(M, 4);
    expect(r.sign).toBe(-1);
    expect(r.logAbsDet).toBeCloseTo(Math.log(100), 13);
  });

  it('a row permutation of a diagonal flips the sign', () => {
    // rows 0 and 2 of diag(2,3,4) swapped: det = −24
    const M = fromRows([
      [0, 0, 4],
      [0, 3, 0],
      [2, 0, 0],
    ]);
    const r = logAbsDet(M, 3);
    expect(r.sign).toBe(-1);
    expect(r.logAbsDet).toBeCloseTo(Math.log(24), 14);
    // a 3-cycle is even: det = +24
    const C = fromRows([
      [0, 3, 0],
      [0, 0, 4],
      [2, 0, 0],
    ]);
    expect(logAbsDet(C, 3).sign).toBe(1);
    expect(logAbsDet(C, 3).logAbsDet).toBeCloseTo(Math.log(24), 14);
  });

  it('does not modify its input', () => {
    const M = fromRows([
      [1, 2],
      [3, 4],
    ]);
    const copy = M.slice();
    logAbsDet(M, 2);
    expect(Array.from(M)).toEqual(Array.from(copy));
  });

  it('exactly singular (two equal rows) → −∞, sign 0', () => {
    const M = fromRows([
      [1, 2, 3],
      [4, 5, 6],
      [1, 2, 3],
    ]);
    expect(logAbsDet(M, 3)).toEqual({logAbsDet: -Infinity, sign: 0});
  });

  it('64×64 diagonal 0.1: det 1e-64, beyond float32, prints as 0 in the fixed style', () => {
    const M = diag(new Array(64).fill(0.1));
    const r = logAbsDet(M, 64);
    expect(r.sign).toBe(1);
    expect(Math.abs(r.logAbsDet / Math.LN10 + 64)).toBeLessThan(1e-12);
    const md = maxAbsDet([M], 1, 64);
    expect(Math.abs(md.log10 + 64)).toBeLessThan(1e-12);
    expect(md.value / 1e-64).toBeCloseTo(1, 10);
    const f = formatDet(md);
    expect(f.fixed).toBe('0.000000000000000');
    expect(f.scientific).toBe('1.000000e-64');
  });

  it('a Float32Array head is read exactly in float64', () => {
    const M = new Float32Array([0.1, 0, 0, 0.1]);
    const r = logAbsDet(M, 2);
    expect(r.logAbsDet).toBe(2 * Math.log(Math.fround(0.1)));
  });

  it('non-finite entries → NaN, sign 0', () => {
    const r = logAbsDet(new Float64Array([1, Infinity, 0, 1]), 2);
    expect(Number.isNaN(r.logAbsDet)).toBe(true);
    expect(r.sign).toBe(0);
  });
});

describe('singular values (one-sided Jacobi)', () => {
  it('a 2×2 with known singular values', () => {
    // MᵀM = [[25,20],[20,25]]: eigenvalues 45 and 5
    const s = singularValues(
      fromRows([
        [3, 0],
        [4, 5],
      ]),
      2,
      2,
    );
    expect(s[0]).toBeCloseTo(Math.sqrt(45), 14);
    expect(s[1]).toBeCloseTo(Math.sqrt(5), 14);
  });

  it('a rectangular matrix: Σσ² = ‖M‖_F² and σ of diag-like blocks', () => {
    const M = fromRows([
      [0, 2, 0],
      [-3, 0, 0],
    ]);
    const s = singularValues(M, 2, 3);
    expect(Array.from(s)).toEqual([3, 2]);
  });

  it('random 64×64: log|det| from LU = Σ log σ_i (1e-8 relative), Σσ² = ‖M‖_F²', () => {
    const r = rng(2025);
    const n = 64;
    const M = Float64Array.from({length: n * n}, () => randn(r));
    const s = singularValues(M, n, n);
    let logSigma = 0;
    let s2 = 0;
    for (const v of s) {
      logSigma += Math.log(v);
      s2 += v * v;
    }
    let f2 = 0;
    for (const v of M) f2 += v * v;
    const ld = logAbsDet(M, n).logAbsDet;
    expect(Math.abs(ld - logSigma) / Math.abs(ld)).toBeLessThan(1e-8);
    expect(s2 / f2).toBeCloseTo(1, 12);
    for (let i = 1; i < n; i++) expect(s[i]).toBeLessThanOrEqual(s[i - 1]);
  });

  it('scales: entries of 1e200 neither overflow nor lose the ratio', () => {
    const s = singularValues(
      fromRows([
        [3e200, 0],
        [4e200, 5e200],
      ]),
      2,
      2,
    );
    expect(s[0] / 1e200).toBeCloseTo(Math.sqrt(45), 12);
    expect(s[1] / 1e200).toBeCloseTo(Math.sqrt(5), 12);
  });

  it('numerical rank uses σ₁·n·eps', () => {
    expect(numericalRank([1, 1e-13, 1e-15], 64)).toBe(2);
    expect(numericalRank([0, 0], 2)).toBe(0);
  });
});

describe('the Perron root (power iteration, Collatz–Wielandt bounds)', () => {
  it('2×2 positive matrix: ρ = (a+d)/2 + sqrt(((a−d)/2)² + bc), between the row sums', () => {
    const [a, b, c, d] = [2, 1, 3, 4];
    const rho = (a + d) / 2 + Math.sqrt(((a - d) / 2) ** 2 + b * c);
    const p = perronRoot(new Float64Array([a, b, c, d]), 2);
    expect(p.converged).toBe(true);
    expect(p.rho!).toBeCloseTo(rho, 10);
    expect(p.minRowSum).toBe(3);
    expect(p.maxRowSum).toBe(7);
    expect(p.withinRowSumBounds).toBe(true);
    expect(p.lower).toBeLessThanOrEqual(rho + 1e-12);
    expect(p.upper).toBeGreaterThanOrEqual(rho - 1e-12);
  });

  it('random positive 64×64: min row sum ≤ ρ ≤ max row sum, and ρ is an eigenvalue (det(A − ρI) ≈ 0)', () => {
    const r = rng(5);
    const n = 64;
    const A = Float64Array.from({length: n * n}, () => r() + A_LM_FLOOR);
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += A[i * n + j];
      lo = Math.min(lo, s);
      hi = Math.max(hi, s);
    }
    const p = perronRoot(A, n);
    expect(p.rho!).toBeGreaterThanOrEqual(lo);
    expect(p.rho!).toBeLessThanOrEqual(hi);
    // ρ ± 1e-6 brackets a sign change of det(A − tI) (ρ is a simple root)
    const shifted = (t: number) => {
      const B = A.slice();
      for (let i = 0; i < n; i++) B[i * n + i] -= t;
      return logAbsDet(B, n).sign;
    };
    expect(shifted(p.rho! - 1e-6)).toBe(-shifted(p.rho! + 1e-6));
  });

  it('constant row sums: ρ is that sum, exactly, at once', () => {
    // every row sums to 10
    const A = fromRows([
      [1, 2, 7],
      [5, 4, 1],
      [3, 3, 4],
    ]);
    const p = perronRoot(A, 3);
    expect(p.rho).toBe(10);
    expect(p.iterations).toBe(0);
  });

  it('all-zero (the NAB ablation A_LM) → ρ = 0; negative entries → null with a reason', () => {
    expect(perronRoot(new Float64Array(4), 2).rho).toBe(0);
    const neg = perronRoot(new Float64Array([1, -1, 1, 1]), 2);
    expect(neg.rho).toBeNull();
    expect(neg.reason).toMatch(/negative entries/);
  });

  it('nonnegative with zeros (reducible) still converges through the shift', () => {
    // upper-triangular [[2,1],[0,3]]: eigenvalues 2 and 3 → ρ = 3
    const p = perronRoot(new Float64Array([2, 1, 0, 3]), 2);
    expect(p.rho!).toBeCloseTo(3, 9);
  });
});
