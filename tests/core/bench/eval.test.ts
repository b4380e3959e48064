/**
 * `pldr bench eval --quick` on a tiny preset: the report's structure (scenarios at batch 1 and
 * batched, full and Gi, ratios, files), the batched scores equal to batch 1's, and bad input.
 * Never asserts a timing: only that times are there.
 */
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {syntheticRequests} from '../../../src/core/bench/eval.js';
import type {BenchReport} from '../../../src/core/bench/report.js';
import {oneLineError, pldr} from '../../commands/run.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pldr-bench-eval-'));
});
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

describe('pldr bench eval --quick', () => {
  it('requests/s one at a time and batched, full and Gi, with ratios and the report files', () => {
    const r = pldr([
      'bench',
      'eval',
      '--quick',
      '--preset',
      'tiny',
      '--lengths',
      '6,9',
      '--requests',
      '4',
      '--batch',
      '3',
      '-r',
      '2',
      '--out',
      'e1',
      '--results-dir',
      tmp,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(readFileSync(join(tmp, 'e1.json'), 'utf8')) as BenchReport;
    if (rep.suite !== 'eval') throw new Error('not an eval report');
    expect(rep.protocol).toMatchObject({lengths: [6, 9], requests_per_length: 4, batch: 3, repeats: 2});
    expect(rep.scenarios.map((s) => [s.id, s.requests])).toEqual([
      ['tiny full batch 1', 8],
      ['tiny full batch 3', 8],
      ['tiny gi batch 1', 8],
      ['tiny gi batch 3', 8],
    ]);
    for (const s of rep.scenarios) {
      expect(s.seconds).toHaveLength(2);
      expect(s.requests_per_s).toBeGreaterThan(0);
      expect(s.requests_per_s).toBeCloseTo(8 / s.stats.median, 0);
      expect(s.max_abs_ll_diff_vs_batch1).toBe(0); // no padding: each row is the one-request forward
    }
    expect(rep.ratios.map((x) => x.label)).toEqual([
      'tiny full: batch 3 ÷ batch 1',
      'tiny gi: batch 3 ÷ batch 1',
      'tiny batch 1: Gi ÷ full',
      'tiny batch 3: Gi ÷ full',
    ]);
    expect(r.stdout).toMatch(/^tiny full batch 3\s+8\s/m);
    for (const ext of ['json', 'md', 'svg']) expect(existsSync(join(tmp, `e1.${ext}`))).toBe(true);
    expect(readFileSync(join(tmp, 'e1.md'), 'utf8')).toContain('## Scenarios');
  });

  it('bad lengths: one error line before anything runs', () => {
    expect(oneLineError(pldr(['bench', 'eval', '--quick', '--lengths', '8,x', '--results-dir', tmp]))).toMatch(
      /--lengths/,
    );
    expect(oneLineError(pldr(['bench', 'eval', '--quick', '--lengths', '1', '--results-dir', tmp]))).toMatch(
      /--lengths/,
    );
    expect(
      oneLineError(pldr(['bench', 'eval', '--preset', 'tiny', '--lengths', '100000', '--results-dir', tmp])),
    ).toMatch(/max_seq_len/);
  });

  it('synthetic requests: seeded, of the given lengths, a continuation of up to 5 tokens', () => {
    const a = syntheticRequests([2, 12], 2, 100, 1);
    expect(a.map((e) => [e.inp.length, e.ctxlen, e.contIds.length])).toEqual([
      [2, 1, 1],
      [2, 1, 1],
      [12, 7, 5],
      [12, 7, 5],
    ]);
    expect(syntheticRequests([2, 12], 2, 100, 1)).toEqual(a);
    expect(a.every((e) => e.inp.every((id) => id >= 4 && id < 100))).toBe(true);
  });
});
