/** `pldr bench micro` from outside on tiny models. */
import {describe, expect, it} from 'vitest';

import type {BenchReport} from '../../../src/core/bench/report.js';
import {expectEnvironment, expectFiles, isPositive, readJson, run, useResultsDir} from './helpers.js';

useResultsDir();

describe('pldr bench micro --quick', () => {
  it('prints the mitata results as JSON and writes the report', () => {
    const r = JSON.parse(run(['micro', '--quick', '--json', '--out', 'm1']).stdout) as BenchReport;
    expectEnvironment(r);
    if (r.suite !== 'micro') throw new Error('not a micro report');
    const names = (model: string) => r.benchmarks.filter((b) => b.model === model).map((b) => b.name);
    expect(names('tiny')).toEqual([
      'metric learner',
      'PLGA',
      'attention, cached G',
      'attention, SDPA',
      'decode step, KV+G',
      'decode step, KV',
      'full forward',
      'output projection',
    ]);
    expect(names('tiny-SDPA')).toEqual([
      'attention, cached G',
      'attention, SDPA',
      'decode step, KV',
      'full forward',
      'output projection',
    ]);
    for (const b of r.benchmarks) {
      for (const v of [b.avg_ns, b.min_ns, b.p50_ns, b.max_ns]) expect(isPositive(v), b.id).toBe(true);
      expect(b.ticks).toBeGreaterThanOrEqual(3);
      expect(b.samples_ns.length).toBeGreaterThan(0);
    }
    expect(r.ratios.map((x) => x.id)).toContain('tiny: attention, cached G ÷ attention, SDPA');
    r.ratios.forEach((x) => expect(isPositive(x.value)).toBe(true));
    expect(readJson('m1')).toEqual(r);
    expectFiles('m1');
  });
});
