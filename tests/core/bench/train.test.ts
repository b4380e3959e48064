/** `pldr bench train` from outside on the tiny preset, and the ref-small configuration. */
import {readFileSync} from 'node:fs';
import {join} from 'node:path';

import {beforeAll, describe, expect, it} from 'vitest';

import {trainBenchConfig} from '../../../src/core/bench/train.js';
import {paramCounts} from '../../../src/core/config.js';
import {oneLineError, pldr} from '../../commands/run.js';
import {expectFiles, isPositive, readJson, run, useResultsDir} from './helpers.js';

const results = useResultsDir();
let tmp: string;
beforeAll(() => {
  tmp = results();
});

describe('pldr bench train --quick', () => {
  it('times whole optimisation steps and reports tokens/s per configuration', () => {
    const out = run(['train', '--quick', '--preset', 'tiny', '-r', '2', '--out', 't1']);
    const r = readJson('t1');
    if (r.suite !== 'train') throw new Error('not a train report');
    expect(r.runs.map((x) => [x.model, x.batch, x.context, x.tokens_per_step])).toEqual([['tiny', 2, 32, 64]]);
    const x = r.runs[0]!;
    expect(x.step_ms).toHaveLength(2);
    x.step_ms.forEach((v) => expect(isPositive(v)).toBe(true));
    expect(x.tokens_per_s).toBeCloseTo((64 * 1000) / x.stats.median, 0);
    expect(r.targets).toEqual([]); // the ref-small target needs ref-small at batch 8 × 256
    expect(out.stdout).toMatch(/^tiny\s+\S+M\s+2 × 32\s/m);
    expectFiles('t1');
    expect(readFileSync(join(tmp, 't1.md'), 'utf8')).toContain('## Configurations');
  });

  it('on 2 threads it also times the same steps on one thread (a child process) and reports the speed-up; --no-one-thread skips that', () => {
    const out = run(['train', '--quick', '--preset', 'tiny', '-r', '2', '--threads', '2', '--out', 't2']);
    const r = readJson('t2');
    if (r.suite !== 'train') throw new Error('not a train report');
    expect(r.threads).toBe(2);
    expect(r.environment.threads).toBe(2);
    const x = r.runs[0]!;
    expect(isPositive(x.one_thread?.tokens_per_s)).toBe(true);
    expect(x.one_thread!.stats.n).toBe(2);
    expect(x.one_thread!.speedup).toBeCloseTo(x.tokens_per_s / x.one_thread!.tokens_per_s, 2);
    expect(out.stdout).toMatch(/tokens\/s\s+1 thread tokens\/s\s+× 1 thread$/m);
    expect(readFileSync(join(tmp, 't2.md'), 'utf8')).toContain('on 2 threads and again on one thread');
    run(['train', '--quick', '--preset', 'tiny', '-r', '1', '--threads', '2', '--no-one-thread', '--out', 't3']);
    const skipped = readJson('t3');
    if (skipped.suite !== 'train') throw new Error('not a train report');
    expect(skipped.runs[0]!.one_thread).toBeUndefined();
  });

  it('ref-small is the configuration the reference was timed on; unknown names and model directories are refused', () => {
    const r = pldr(['bench', 'train', '--preset', 'no-such-config', '--results-dir', tmp]);
    expect(r.code).not.toBe(0);
    expect(oneLineError(r)).toMatch(/no-such-config/);
    const m = pldr(['bench', 'train', '--model', tmp, '--results-dir', tmp]);
    expect(oneLineError(m)).toMatch(/--preset/);
  });
});

describe('train configurations', () => {
  it('ref-small: 4 layers, 4 heads, d 128, A_dff 42, 8 units of 2 GLUs, vocabulary 8000, batch 8 × 256', () => {
    const c = trainBenchConfig('ref-small');
    expect(c.config).toMatchObject({
      variant: 'v510',
      num_layers: 4,
      num_heads: 4,
      d_model: 128,
      A_dff: 42,
      num_reslayerA: 8,
      num_denseA: 2,
      input_vocab_size: 8000,
    });
    expect([c.batch, c.context]).toEqual([8, 256]);
    expect(paramCounts(c.config).total).toBeGreaterThan(2e6);
    expect([trainBenchConfig('small').batch, trainBenchConfig('small').context]).toEqual([4, 128]);
  });
});
