/**
 * The per-layer deductive metrics (docs/spec.md §7, T14, T15). Expected values are worked out here by hand or by
 * an independent route (closed forms, the variance shortcut, Σσ² = ‖M‖_F²), never by calling the
 * function under test a second time.
 */
import {describe, expect, it} from 'vitest';

import {A_LM_FLOOR} from '../../../src/core/model/constants.js';
import {PldrError} from '../../../src/core/errors.js';
import {dominantEigenvalue, rowSpread} from '../../../src/core/deductive/linalg.js';
import {
  formatDet,
  maxAbsDet,
  pooledRmse,
  positivity,
  rmseBetweenHeads,
  spectralFacts,
} from '../../../src/core/deductive/metrics.js';
import {constant, diag, fromRows, identity, randn, rng, stack} from './helpers.js';

describe('maxAbsDet and formatDet', () => {
  it('finds the layer and head of the largest |det|', () => {
    const dk = 3;
    // layer 0: dets 6, −2 ; layer 1: 0 (singular), −50
    const l0 = stack([diag([1, 2, 3]), diag([-1, 1, 2])]);
    const l1 = stack([
      fromRows([
        [1, 1, 1],
        [1, 1, 1],
        [0, 0, 1],
      ]),
      diag([5, -5, 2]),
    ]);
    const md = maxAbsDet([l0, l1], 2, dk);
    expect(md.layer).toBe(1);
    expect(md.head).toBe(1);
    expect(md.value).toBeCloseTo(50, 10);
    expect(md.log10).toBeCloseTo(Math.log10(50), 13);
    expect(md.singularHeads).toBe(1);
    expect(md.perLayer[0].head).toBe(0);
    expect(md.perLayer[0].log10).toBeCloseTo(Math.log10(6), 13);
  });

  it('every head singular → value 0, log10 −∞', () => {
    const md = maxAbsDet([stack([constant(2, 1), constant(2, 3)])], 2, 2);
    expect(md.value).toBe(0);
    expect(md.log10).toBe(-Infinity);
    expect(md.singularHeads).toBe(2);
    expect(formatDet(md)).toEqual({scientific: '0.000000e+0', fixed: '0.000000000000000'});
  });

  it('above double range: value ∞, log10 kept, scientific from the logarithm', () => {
    const md = maxAbsDet([diag(new Array(64).fill(1e10))], 1, 64);
    expect(md.value).toBe(Infinity);
    expect(md.log10).toBeCloseTo(640, 10);
    expect(formatDet(md)).toEqual({scientific: '1.000000e+640', fixed: 'inf'});
  });

  it('formats the 15-decimal fixed style with the 5e-16 cut', () => {
    expect(formatDet(1.5).fixed).toBe('1.500000000000000');
    expect(formatDet(4.9e-16).fixed).toBe('0.000000000000000');
    expect(formatDet(6e-16).fixed).toBe('0.000000000000001');
    expect(formatDet(8e17).fixed).toBe('800000000000000000.000000000000000');
    expect(formatDet(8e17).scientific).toBe('8.000000e+17');
    expect(formatDet(1e22).fixed).toBe('10000000000000000000000.000000000000000');
    expect(formatDet({value: 0, log10: -400}).scientific).toBe('1.000000e-400');
    expect(formatDet({value: 0, log10: -400}).fixed).toBe('0.000000000000000');
    expect(formatDet(NaN)).toEqual({scientific: 'nan', fixed: 'nan'});
  });
});

describe('RMSE between heads', () => {
  it('three constant heads: RMSE² = mean over pairs of (ci − cj)²', () => {
    const dk = 4;
    const [c1, c2, c3] = [0.5, -1.25, 2];
    const X = stack([constant(dk, c1), constant(dk, c2), constant(dk, c3)]);
    const expected = Math.sqrt(((c1 - c2) ** 2 + (c1 - c3) ** 2 + (c2 - c3) ** 2) / 3);
    expect(rmseBetweenHeads(X, 3, dk)).toBeCloseTo(expected, 14);
  });

  it('equals the 2H/(H−1) × variance-across-heads shortcut on random data', () => {
    const r = rng(7);
    const H = 5;
    const dk = 6;
    const X = Float32Array.from({length: H * dk * dk}, () => randn(r) * 3 + 1);
    let meanVar = 0;
    for (let e = 0; e < dk * dk; e++) {
      let m = 0;
      for (let h = 0; h < H; h++) m += X[h * dk * dk + e];
      m /= H;
      let v = 0;
      for (let h = 0; h < H; h++) v += (X[h * dk * dk + e] - m) ** 2;
      meanVar += v / H;
    }
    meanVar /= dk * dk;
    const shortcut = Math.sqrt(((2 * H) / (H - 1)) * meanVar);
    expect(rmseBetweenHeads(X, H, dk) / shortcut).toBeCloseTo(1, 12);
  });

  it('pooled over layers: sqrt(mean of squares); one head has no pairs', () => {
    expect(pooledRmse([3, 4])).toBeCloseTo(Math.sqrt(12.5), 14);
    expect(Number.isNaN(rmseBetweenHeads(constant(2, 1), 1, 2))).toBe(true);
  });

  it('rejects a layer of the wrong size with a one-line PldrError', () => {
    expect(() => rmseBetweenHeads(new Float64Array(7), 2, 2)).toThrow(PldrError);
    expect(() => rmseBetweenHeads(new Float64Array(7), 2, 2)).toThrow(/^[^\n]*expected 2×2×2 = 8 values, got 7$/);
  });
});

describe('spectral facts of a G head', () => {
  it('rank-1 G = u vᵀ: σ₂/σ₁ ≈ 0, rank 1, λ₁ = vᵀu, σ₁ = ‖u‖‖v‖', () => {
    const r = rng(11);
    const n = 64;
    const u = Array.from({length: n}, () => randn(r));
    const v = Array.from({length: n}, () => randn(r) + 0.3);
    const G = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) G[i * n + j] = u[i] * v[j];
    const f = spectralFacts(G, n);
    const vu = u.reduce((s, ui, i) => s + ui * v[i], 0);
    const nu = Math.sqrt(u.reduce((s, x) => s + x * x, 0));
    const nv = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
    expect(f.sigma2OverSigma1).toBeLessThan(1e-12);
    expect(f.rank).toBe(1);
    expect(f.sigma1 / (nu * nv)).toBeCloseTo(1, 12);
    expect(f.lambda1.converged).toBe(true);
    expect(f.lambda1.value! / vu).toBeCloseTo(1, 9);
    // the mean row sum of u vᵀ is (Σu)(Σv)/n
    const su = u.reduce((s, x) => s + x, 0);
    const sv = v.reduce((s, x) => s + x, 0);
    expect(f.meanRowSum).toBeCloseTo((su * sv) / n, 10);
  });

  it('identical rows r: λ₁ = Σ r_j = the row sum, row spread 0', () => {
    const rowv = [0.5, -0.25, 2, 1.5, 0.75];
    const n = rowv.length;
    const G = Float64Array.from({length: n * n}, (_, k) => rowv[k % n]);
    const sum = rowv.reduce((s, x) => s + x, 0);
    const f = spectralFacts(G, n);
    expect(f.lambda1.value!).toBeCloseTo(sum, 12);
    expect(f.meanRowSum).toBeCloseTo(sum, 14);
    expect(f.lambdaRowSumRelGap!).toBeLessThan(1e-12);
    expect(f.rowSpread).toBe(0);
    expect(f.rank).toBe(1);
  });

  it('identity: σ₂/σ₁ = 1, λ₁ = 1, mean row sum (1/dk)·dk = 1, full rank', () => {
    const n = 16;
    const f = spectralFacts(identity(n), n);
    expect(f.sigma2OverSigma1).toBe(1);
    expect(f.sigmaMinOverSigma1).toBe(1);
    expect(f.rank).toBe(n);
    expect(f.lambda1.value).toBeCloseTo(1, 14);
    expect(f.meanRowSum).toBe(1);
    expect(f.lambdaRowSumRelGap).toBeCloseTo(0, 14);
    // rows e_i against the mean row (1/n)·1: ‖e_i − 1/n‖ / ‖1/n‖ = sqrt(n − 1)
    expect(f.rowSpread).toBeCloseTo(Math.sqrt(n - 1), 12);
  });

  it('negative dominant eigenvalue is found with its sign', () => {
    const e = dominantEigenvalue(diag([-3, 1, 0.5]), 3);
    expect(e.converged).toBe(true);
    expect(e.value!).toBeCloseTo(-3, 9);
  });

  it('complex dominant pair or a ±λ tie → null with a reason, not a wrong number', () => {
    const rot = fromRows([
      [0, -1, 0],
      [1, 0, 0],
      [0, 0, 0.5],
    ]);
    const a = dominantEigenvalue(rot, 3, {maxIterations: 200});
    expect(a.value).toBeNull();
    expect(a.converged).toBe(false);
    expect(a.reason).toMatch(/did not converge in 200 steps/);
    const tie = dominantEigenvalue(diag([1, -1]), 2, {maxIterations: 200});
    expect(tie.value).toBeNull();
  });

  it('row spread across heads: identical rows everywhere → 0; one changed row measured exactly', () => {
    const rows = 6;
    const cols = 3;
    const M = Float64Array.from({length: rows * cols}, (_, k) => [1, 2, 2][k % cols]);
    expect(rowSpread(M, rows, cols)).toBe(0);
    // add (6, 0, 0) to row 0: mean row = (2, 2, 2), ‖ḡ‖ = sqrt(12); row 0 − ḡ = (5, 0, 0), others (−1, 0, 0)
    M[0] += 6;
    expect(rowSpread(M, rows, cols)).toBeCloseTo(5 / Math.sqrt(12), 14);
  });
});

describe('A_LM: positivity', () => {
  it('counts entries at the 1e-9 floor and non-positive entries', () => {
    const X = [A_LM_FLOOR, 1e-9, 2e-9, 0, -1, 0.3];
    const p = positivity(X);
    expect(p).toEqual({minEntry: -1, nonPositive: 2, atFloor: 2, entries: 6});
  });
});
