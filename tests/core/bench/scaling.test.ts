/** `pldr bench scaling` from outside on tiny models, and its binning and slope. */
import {describe, expect, it} from 'vitest';

import {PAPER_PROMPT_LENGTH} from '../../../src/core/bench/protocol.js';
import {binned, slope} from '../../../src/core/bench/scaling.js';
import {expectEnvironment, expectFiles, isPositive, readJson, run, useResultsDir} from './helpers.js';

useResultsDir();

describe('pldr bench scaling --quick', () => {
  it('ms per token against position for none, kv and kv+g, with bins, slope, report files', () => {
    run(['scaling', '--quick', '--out', 's1']);
    const r = readJson('s1');
    expectEnvironment(r);
    if (r.suite !== 'scaling') throw new Error('not a scaling report');
    expect(r.series.map((s) => s.id)).toEqual(['tiny/none', 'tiny/kv', 'tiny/kv+g', 'tiny-SDPA/none', 'tiny-SDPA/kv']);
    for (const s of r.series) {
      const first = PAPER_PROMPT_LENGTH + 1;
      expect(s.positions[0]).toBe(first);
      expect(s.positions[s.positions.length - 1]).toBe(24); // --quick: up to position 24
      expect(s.samples_ms).toHaveLength(1);
      expect(s.samples_ms[0]).toHaveLength(s.positions.length);
      expect(s.median_ms).toHaveLength(s.positions.length);
      expect(s.tokens).toBe(24 - PAPER_PROMPT_LENGTH + 1);
      expect(s.bins.length).toBeGreaterThan(1);
      expect(s.bins[0].from).toBe(first);
      expect(s.bins[s.bins.length - 1].to).toBe(24);
      expect(Number.isFinite(s.slope_us_per_position)).toBe(true);
      expect(isPositive(s.last_over_first)).toBe(true);
      s.median_ms.forEach((v) => expect(isPositive(v)).toBe(true));
    }
    expectFiles('s1');
  });

  it('binning and the fitted slope', () => {
    expect(slope([1, 2, 3, 4], [3, 5, 7, 9])).toBeCloseTo(2, 12);
    expect(binned([1, 2, 3, 4, 5, 6], [1, 1, 5, 5, 9, 100], 3)).toEqual([
      {from: 1, to: 2, median_ms: 1},
      {from: 3, to: 4, median_ms: 5},
      {from: 5, to: 6, median_ms: 54.5},
    ]);
  });
});
