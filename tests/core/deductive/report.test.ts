/**
 * The deductive report (docs/spec.md §7, T14, T15). Expected values are worked out here by hand or by
 * an independent route (closed forms, the variance shortcut, Σσ² = ‖M‖_F²), never by calling the
 * function under test a second time.
 */
import {describe, expect, it} from 'vitest';

import {A_LM_FLOOR} from '../../../src/core/model/constants.js';
import {PldrError} from '../../../src/core/errors.js';
import {fromJsonNum, jsonSafe} from '../../../src/core/deductive/json.js';
import {deductiveReport} from '../../../src/core/deductive/report.js';
import {compareG} from '../../../src/core/deductive/compare.js';
import {rng} from './helpers.js';

describe('deductiveReport', () => {
  const H = 3;
  const dk = 4;

  function rank1Layer(seed: number): Float32Array {
    const r = rng(seed);
    const v = Array.from({length: dk}, () => r() + 0.5);
    // every head: identical rows v scaled by (h+1) → rank 1, λ₁ = row sum
    const out = new Float32Array(H * dk * dk);
    for (let h = 0; h < H; h++)
      for (let i = 0; i < dk; i++) for (let j = 0; j < dk; j++) out[h * dk * dk + i * dk + j] = (h + 1) * v[j];
    return out;
  }

  function positiveLayer(seed: number): Float32Array {
    const r = rng(seed);
    return Float32Array.from({length: H * dk * dk}, () => r() + A_LM_FLOOR);
  }

  it('reports every output present, survives JSON unchanged, and encodes ∞ as "inf"', () => {
    const A_P0 = positiveLayer(30);
    A_P0[5] = Infinity;
    const layers = [
      {A: positiveLayer(10), A_LM: positiveLayer(20), A_P: A_P0, G_LM: rank1Layer(40)},
      {A: positiveLayer(11), A_LM: positiveLayer(21), A_P: positiveLayer(31), G_LM: rank1Layer(41)},
    ];
    const rep = deductiveReport({H, dk, layers}, {includeHeads: true});
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
    expect(sp.overall.rank).toEqual({mean: 1, max: 1, min: 1});
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
    const rep = deductiveReport({H, dk, layers: [{G_LM: rank1Layer(1)}]});
    expect(Object.keys(rep.outputs)).toEqual(['G_LM']);
    expect(rep.A_LM_perron).toBeUndefined();
    expect(rep.G_LM_spectral!.layers[0].heads).toBeUndefined();
  });

  it('an output given for only some layers, or of the wrong size → PldrError', () => {
    expect(() =>
      deductiveReport({H, dk, layers: [{G_LM: rank1Layer(1), A: positiveLayer(2)}, {G_LM: rank1Layer(3)}]}),
    ).toThrow(/A is given for 1 of 2 layers/);
    expect(() => deductiveReport({H, dk, layers: [{G_LM: new Float32Array(3)}]})).toThrow(PldrError);
  });

  it('jsonSafe encodes compareG / gVariation results and typed arrays', () => {
    const z = [new Float64Array(4)];
    const out = jsonSafe(compareG(z, [Float64Array.from([1, 0, 0, 0])])) as {overall: {relRms: unknown}};
    expect(out.overall.relRms).toBe('inf');
    expect(jsonSafe(new Float32Array([1, NaN, -Infinity]))).toEqual([1, 'nan', '-inf']);
  });
});
