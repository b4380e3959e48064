/**
 * Deductive-output metrics (spec §7, T14, T15). Expected values are worked out here by hand or by
 * an independent route (closed forms, the variance shortcut, Σσ² = ‖M‖_F²), never by calling the
 * function under test a second time.
 */
import { describe, expect, it } from 'vitest';

import {Rng} from '../../src/core/sampling.js';
import { PldrError } from '../../src/core/errors.js';
import {
  A_LM_FLOOR,
  compareG,
  deductiveReport,
  dominantEigenvalue,
  formatDet,
  fromJsonNum,
  gVariation,
  jsonSafe,
  logAbsDet,
  maxAbsDet,
  numericalRank,
  perronRoot,
  pooledRmse,
  positivity,
  rmseBetweenHeads,
  rowSpread,
  singularValues,
  spectralFacts,
} from '../../src/core/deductive.js';

/** A reproducible uniform [0, 1) stream: the project's seeded generator. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

function randn(r: () => number): number {
  const u = Math.max(r(), 1e-300);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

function diag(values: number[]): Float64Array {
  const n = values.length;
  const m = new Float64Array(n * n);
  values.forEach((v, i) => (m[i * n + i] = v));
  return m;
}

function fromRows(rows: number[][]): Float64Array {
  return Float64Array.from(rows.flat());
}

function identity(n: number): Float64Array {
  return diag(new Array(n).fill(1));
}

/** Stacks head matrices into one [H, dk, dk] layer. */
function stack(heads: ArrayLike<number>[]): Float64Array {
  const n = heads[0].length;
  const out = new Float64Array(heads.length * n);
  heads.forEach((h, i) => out.set(Array.from(h), i * n));
  return out;
}

function constant(dk: number, c: number): Float64Array {
  return new Float64Array(dk * dk).fill(c);
}

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
    expect(logAbsDet(M, 3)).toEqual({ logAbsDet: -Infinity, sign: 0 });
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
    expect(formatDet(md)).toEqual({ scientific: '0.000000e+0', fixed: '0.000000000000000' });
  });

  it('above double range: value ∞, log10 kept, scientific from the logarithm', () => {
    const md = maxAbsDet([diag(new Array(64).fill(1e10))], 1, 64);
    expect(md.value).toBe(Infinity);
    expect(md.log10).toBeCloseTo(640, 10);
    expect(formatDet(md)).toEqual({ scientific: '1.000000e+640', fixed: 'inf' });
  });

  it('formats the 15-decimal fixed style with the 5e-16 cut', () => {
    expect(formatDet(1.5).fixed).toBe('1.500000000000000');
    expect(formatDet(4.9e-16).fixed).toBe('0.000000000000000');
    expect(formatDet(6e-16).fixed).toBe('0.000000000000001');
    expect(formatDet(8e17).fixed).toBe('800000000000000000.000000000000000');
    expect(formatDet(8e17).scientific).toBe('8.000000e+17');
    expect(formatDet(1e22).fixed).toBe('10000000000000000000000.000000000000000');
    expect(formatDet({ value: 0, log10: -400 }).scientific).toBe('1.000000e-400');
    expect(formatDet({ value: 0, log10: -400 }).fixed).toBe('0.000000000000000');
    expect(formatDet(NaN)).toEqual({ scientific: 'nan', fixed: 'nan' });
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
    const X = Float32Array.from({ length: H * dk * dk }, () => randn(r) * 3 + 1);
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

describe('singular values (one-sided Jacobi)', () => {
  it('a 2×2 with known singular values', () => {
    // MᵀM = [[25,20],[20,25]]: eigenvalues 45 and 5
    const s = singularValues(fromRows([
      [3, 0],
      [4, 5],
    ]), 2, 2);
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
    const M = Float64Array.from({ length: n * n }, () => randn(r));
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
    const s = singularValues(fromRows([
      [3e200, 0],
      [4e200, 5e200],
    ]), 2, 2);
    expect(s[0] / 1e200).toBeCloseTo(Math.sqrt(45), 12);
    expect(s[1] / 1e200).toBeCloseTo(Math.sqrt(5), 12);
  });

  it('numerical rank uses σ₁·n·eps', () => {
    expect(numericalRank([1, 1e-13, 1e-15], 64)).toBe(2);
    expect(numericalRank([0, 0], 2)).toBe(0);
  });
});

describe('spectral facts of a G head', () => {
  it('rank-1 G = u vᵀ: σ₂/σ₁ ≈ 0, rank 1, λ₁ = vᵀu, σ₁ = ‖u‖‖v‖', () => {
    const r = rng(11);
    const n = 64;
    const u = Array.from({ length: n }, () => randn(r));
    const v = Array.from({ length: n }, () => randn(r) + 0.3);
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
    const G = Float64Array.from({ length: n * n }, (_, k) => rowv[k % n]);
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
    const a = dominantEigenvalue(rot, 3, { maxIterations: 200 });
    expect(a.value).toBeNull();
    expect(a.converged).toBe(false);
    expect(a.reason).toMatch(/did not converge in 200 steps/);
    const tie = dominantEigenvalue(diag([1, -1]), 2, { maxIterations: 200 });
    expect(tie.value).toBeNull();
  });

  it('row spread across heads: identical rows everywhere → 0; one changed row measured exactly', () => {
    const rows = 6;
    const cols = 3;
    const M = Float64Array.from({ length: rows * cols }, (_, k) => [1, 2, 2][k % cols]);
    expect(rowSpread(M, rows, cols)).toBe(0);
    // add (6, 0, 0) to row 0: mean row = (2, 2, 2), ‖ḡ‖ = sqrt(12); row 0 − ḡ = (5, 0, 0), others (−1, 0, 0)
    M[0] += 6;
    expect(rowSpread(M, rows, cols)).toBeCloseTo(5 / Math.sqrt(12), 14);
  });
});

describe('A_LM: positivity and the Perron root', () => {
  it('counts entries at the 1e-9 floor and non-positive entries', () => {
    const X = [A_LM_FLOOR, 1e-9, 2e-9, 0, -1, 0.3];
    const p = positivity(X);
    expect(p).toEqual({ minEntry: -1, nonPositive: 2, atFloor: 2, entries: 6 });
  });

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
    const A = Float64Array.from({ length: n * n }, () => r() + A_LM_FLOOR);
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

describe('compareG and gVariation', () => {
  const n = 2 * 3 * 3; // H = 2, dk = 3

  function layer(seed: number): Float64Array {
    const r = rng(seed);
    return Float64Array.from({ length: n }, () => randn(r));
  }

  it('compareG: known differences per layer and overall', () => {
    const a = [Float64Array.from({ length: n }, () => 2), Float64Array.from({ length: n }, () => -1)];
    const b = [a[0].slice(), a[1].slice()];
    b[0][3] += 0.5; // one entry off by 0.5
    for (let i = 0; i < n; i++) b[1][i] += 0.1; // every entry off by 0.1
    const c = compareG(a, b);
    expect(c.layers[0].maxAbsDiff).toBe(0.5);
    expect(c.layers[0].rmsDiff).toBeCloseTo(Math.sqrt(0.25 / n), 15);
    expect(c.layers[0].relRms).toBeCloseTo(Math.sqrt(0.25 / n) / 2, 15);
    expect(c.layers[1].maxAbsDiff).toBeCloseTo(0.1, 15);
    expect(c.layers[1].rmsDiff).toBeCloseTo(0.1, 15);
    expect(c.layers[1].relRms).toBeCloseTo(0.1, 15);
    expect(c.overall.maxAbsDiff).toBe(0.5);
    const rms = Math.sqrt((0.25 + n * 0.01) / (2 * n));
    expect(c.overall.rmsDiff).toBeCloseTo(rms, 15);
    expect(c.overall.relRms).toBeCloseTo(rms / Math.sqrt((4 * n + n) / (2 * n)), 15);
    expect(compareG(a, a).overall).toEqual({ maxAbsDiff: 0, rmsDiff: 0, relRms: 0 });
  });

  it('compareG: shape mismatch → one-line PldrError', () => {
    const a = [layer(1), layer(2)];
    expect(() => compareG(a, [layer(1)])).toThrow(PldrError);
    expect(() => compareG(a, [layer(1)])).toThrow(/^[^\n]*2 layers against 1[^\n]*$/);
    expect(() => compareG(a, [layer(1), new Float64Array(5)])).toThrow(/layer 1 has 18 values against 5/);
  });

  it('gVariation: identical lists → 0', () => {
    const g = [layer(3), layer(4)];
    const exact = gVariation([g, g.map((x) => x.slice()), g]);
    expect(exact.overall.maxAbsDev).toBe(0);
    expect(exact.overall.relFrobRms).toBe(0);
    expect(exact.layers.every((l) => l.maxAbsDev === 0 && l.relFrobRms === 0)).toBe(true);
    expect(exact.overall.perPromptRelFrob).toEqual([0, 0, 0]);
  });

  it('gVariation: G ± d gives Ḡ = G, max |d| and ‖d‖/‖G‖', () => {
    const G = [layer(5), layer(6)];
    const d = [layer(7).map((x) => x * 1e-3), layer(8).map((x) => x * 2e-3)];
    const plus = G.map((g, l) => g.map((x, i) => x + d[l][i]));
    const minus = G.map((g, l) => g.map((x, i) => x - d[l][i]));
    const v = gVariation([plus, minus]);
    const frob = (x: ArrayLike<number>) => Math.sqrt(Array.from(x).reduce((s, y) => s + y * y, 0));
    for (let l = 0; l < 2; l++) {
      const maxd = Math.max(...Array.from(d[l], Math.abs));
      expect(v.layers[l].maxAbsDev).toBeCloseTo(maxd, 12);
      expect(v.layers[l].relFrobRms / (frob(d[l]) / frob(G[l]))).toBeCloseTo(1, 9);
    }
    const whole = Math.sqrt(frob(d[0]) ** 2 + frob(d[1]) ** 2) / Math.sqrt(frob(G[0]) ** 2 + frob(G[1]) ** 2);
    expect(v.overall.relFrobRms / whole).toBeCloseTo(1, 9);
    expect(v.overall.perPromptRelFrob[0] / whole).toBeCloseTo(1, 9);
    expect(v.overall.maxAbsDev).toBeCloseTo(Math.max(...Array.from(d[1], Math.abs), ...Array.from(d[0], Math.abs)), 12);
  });

  it('gVariation: no lists, or lists of different shapes → PldrError', () => {
    expect(() => gVariation([])).toThrow(PldrError);
    expect(() => gVariation([[layer(1)], [layer(1), layer(2)]])).toThrow(PldrError);
  });
});

describe('deductiveReport', () => {
  const H = 3;
  const dk = 4;

  function rank1Layer(seed: number): Float32Array {
    const r = rng(seed);
    const v = Array.from({ length: dk }, () => r() + 0.5);
    // every head: identical rows v scaled by (h+1) → rank 1, λ₁ = row sum
    const out = new Float32Array(H * dk * dk);
    for (let h = 0; h < H; h++) for (let i = 0; i < dk; i++) for (let j = 0; j < dk; j++) out[h * dk * dk + i * dk + j] = (h + 1) * v[j];
    return out;
  }

  function positiveLayer(seed: number): Float32Array {
    const r = rng(seed);
    return Float32Array.from({ length: H * dk * dk }, () => r() + A_LM_FLOOR);
  }

  it('reports every output present, survives JSON unchanged, and encodes ∞ as "inf"', () => {
    const A_P0 = positiveLayer(30);
    A_P0[5] = Infinity;
    const layers = [
      { A: positiveLayer(10), A_LM: positiveLayer(20), A_P: A_P0, G_LM: rank1Layer(40) },
      { A: positiveLayer(11), A_LM: positiveLayer(21), A_P: positiveLayer(31), G_LM: rank1Layer(41) },
    ];
    const rep = deductiveReport({ H, dk, layers }, { includeHeads: true });
    expect(JSON.parse(JSON.stringify(rep))).toEqual(rep);
    expect(Object.keys(rep.outputs).sort()).toEqual(['A', 'A_LM', 'A_P', 'G_LM']);
    expect(rep.layers).toBe(2);

    // A_P: the ∞ entry shows up as a count, an RMSE of "inf", and a skipped head
    expect(rep.outputs.A_P!.nonFiniteEntries).toBe(1);
    expect(rep.outputs.A_P!.rmse.perLayer[0]).toBe('inf');
    expect(rep.outputs.A_P!.rmse.pooled).toBe('inf');
    expect(rep.outputs.A_P!.maxAbsDet.nonFiniteHeads).toBe(1);

    // G_LM: rank-1 heads, singular, λ₁ = row sum, rows identical within heads
    const g = rep.outputs.G_LM!;
    expect(g.maxAbsDet.singularHeads).toBe(2 * H);
    expect(g.maxAbsDet.log10).toBe('-inf');
    expect(g.maxAbsDet.fixed).toBe('0.000000000000000');
    const sp = rep.G_LM_spectral!;
    expect(sp.overall.rank).toEqual({ mean: 1, max: 1, min: 1 });
    expect(fromJsonNum(sp.overall.sigma2OverSigma1.max)).toBeLessThan(1e-12);
    expect(sp.overall.lambda1.converged).toBe(2 * H);
    expect(fromJsonNum(sp.overall.lambda1.relGapToRowSum.max)).toBeLessThan(1e-9);
    expect(sp.overall.rowSpreadWithinHeads.max).toBe(0);
    // across heads the rows are v, 2v, 3v: mean 2v, the worst row is off by ‖v‖ → spread 1/2
    expect(fromJsonNum(sp.layers[0].rowSpreadAcrossHeads)).toBeCloseTo(0.5, 6);
    expect(sp.layers[0].heads).toHaveLength(H);

    // G_LM RMSE between heads: heads (h+1)·v differ by v, v, 2v → RMSE² = (1 + 1 + 4)/3 · mean(v²)
    const v0 = Array.from(layers[0].G_LM.subarray(0, dk));
    const mv2 = v0.reduce((s, x) => s + x * x, 0) / dk;
    expect(fromJsonNum(g.rmse.perLayer[0])).toBeCloseTo(Math.sqrt(2 * mv2), 6);

    // A_LM: positive, Perron root within the row sums for every head
    const alm = rep.A_LM_perron!;
    expect(alm.overall.nonPositive).toBe(0);
    expect(alm.overall.entries).toBe(2 * H * dk * dk);
    expect(alm.overall.converged).toBe(2 * H);
    expect(alm.overall.withinRowSumBounds).toBe(2 * H);
    expect(alm.layers[1].heads![0].withinRowSumBounds).toBe(true);
  });

  it('G-only input (a Gi model) reports G_LM alone', () => {
    const rep = deductiveReport({ H, dk, layers: [{ G_LM: rank1Layer(1) }] });
    expect(Object.keys(rep.outputs)).toEqual(['G_LM']);
    expect(rep.A_LM_perron).toBeUndefined();
    expect(rep.G_LM_spectral!.layers[0].heads).toBeUndefined();
  });

  it('an output given for only some layers, or of the wrong size → PldrError', () => {
    expect(() => deductiveReport({ H, dk, layers: [{ G_LM: rank1Layer(1), A: positiveLayer(2) }, { G_LM: rank1Layer(3) }] })).toThrow(
      /A is given for 1 of 2 layers/,
    );
    expect(() => deductiveReport({ H, dk, layers: [{ G_LM: new Float32Array(3) }] })).toThrow(PldrError);
  });

  it('jsonSafe encodes compareG / gVariation results and typed arrays', () => {
    const z = [new Float64Array(4)];
    const out = jsonSafe(compareG(z, [Float64Array.from([1, 0, 0, 0])])) as { overall: { relRms: unknown } };
    expect(out.overall.relRms).toBe('inf');
    expect(jsonSafe(new Float32Array([1, NaN, -Infinity]))).toEqual([1, 'nan', '-inf']);
  });
});
