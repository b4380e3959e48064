/**
 * Comparing G lists (docs/spec.md §7). Expected values are worked out here by hand or by
 * an independent route (closed forms, the variance shortcut, Σσ² = ‖M‖_F²), never by calling the
 * function under test a second time.
 */
import {describe, expect, it} from 'vitest';

import {PldrError} from '../../../src/core/errors.js';
import {compareG, gVariation} from '../../../src/core/deductive/compare.js';
import {randn, rng} from './helpers.js';

describe('compareG and gVariation', () => {
  const n = 2 * 3 * 3; // H = 2, dk = 3

  function layer(seed: number): Float64Array {
    const r = rng(seed);
    return Float64Array.from({length: n}, () => randn(r));
  }

  it('compareG: known differences per layer and overall', () => {
    const a = [Float64Array.from({length: n}, () => 2), Float64Array.from({length: n}, () => -1)];
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
    expect(compareG(a, a).overall).toEqual({maxAbsDiff: 0, rmsDiff: 0, relRms: 0});
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
