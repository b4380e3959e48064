/**
 * `pldr bench paper` from outside, on tiny models: the report's structure, the end-token suppression, --compare,
 * the one-thread comparison. Never asserts a timing: only that times are there.
 */
import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {beforeAll, describe, expect, it} from 'vitest';

import {BENCH_MODES, PAPER_PROMPT_LENGTH} from '../../../src/core/bench/protocol.js';
import {compareReports, type BenchReport} from '../../../src/core/bench/report.js';
import {makeModelDir} from '../../commands/models.js';
import {oneLineError, pldr} from '../../commands/run.js';
import {
  expectEnvironment,
  expectFiles,
  isPositive,
  QUICK_REPEATS,
  QUICK_TOKENS,
  readJson,
  run,
  useResultsDir,
} from './helpers.js';

const results = useResultsDir();
let tmp: string;
beforeAll(() => {
  tmp = results();
});

describe('pldr bench paper --quick', () => {
  it('writes the JSON (scenarios, every sample, environment, ratios), the Markdown and the chart', () => {
    const printed = run(['paper', '--quick', '--long', '20', '--out', 'p1']).stdout;
    const r = readJson('p1');
    expectEnvironment(r);
    if (r.suite !== 'paper') throw new Error('not a paper report');
    expect(r.protocol).toMatchObject({
      new_tokens: QUICK_TOKENS,
      repeats: QUICK_REPEATS,
      loops: 1,
      sampling: {temperature: 1, top_k: 0, top_p: 0.8},
    });
    expect(r.protocol.end_token).toMatch(/suppressed/);
    expect(r.models.map((m) => [m.label, m.family])).toEqual([
      ['tiny', 'pldr'],
      ['tiny-SDPA', 'sdpa'],
    ]);
    for (const m of r.models) {
      expect(m.prompt_source).toBe('fixed ids');
      expect(m.prompt_ids).toHaveLength(PAPER_PROMPT_LENGTH);
    }
    // every mode for the PLDR model; none and kv for the constant-G baseline
    expect(r.scenarios.map((s) => s.id)).toEqual([
      ...BENCH_MODES.map((m) => `tiny/${m}`),
      'tiny-SDPA/none',
      'tiny-SDPA/kv',
    ]);
    for (const s of r.scenarios) {
      expect(s.samples).toHaveLength(QUICK_REPEATS);
      for (const x of s.samples) {
        // exactly the requested tokens in every timed run: the end token never came
        expect(x.tokens, s.id).toBe(QUICK_TOKENS);
        expect(x.end_tokens).toBe(0);
        expect(x.stop).toBe('length');
        expect(x.step_ms).toHaveLength(QUICK_TOKENS - 1);
        for (const v of [x.total_ms, x.prompt_ms, x.decode_ms]) expect(isPositive(v)).toBe(true);
      }
      const st = s.stats;
      for (const v of [
        st.total_ms.median,
        st.total_ms.min,
        st.total_ms.max,
        st.prompt_ms.median,
        st.ms_per_token.median,
        st.tokens_per_s,
      ])
        expect(isPositive(v), s.id).toBe(true);
      expect(st.total_ms.n).toBe(QUICK_REPEATS);
      expect(st.repeat_mean_ms).toHaveLength(QUICK_REPEATS);
      expect(st.tokens).toBe(QUICK_TOKENS);
      expect(isPositive(s.memory.rss_peak_mb)).toBe(true);
      expect(isPositive(s.memory.tensor_mb_peak)).toBe(true);
      expect(s.memory.tensors_leaked).toBe(0);
    }
    const kinds = r.ratios.map((x) => x.kind);
    expect(kinds).toEqual(['cache', 'pldr-vs-baseline']);
    expect(r.ratios[0].label).toBe('tiny: no cache ÷ KV+G');
    expect(r.ratios[0].paper).toMatch(/3×/);
    for (const x of r.ratios) {
      expect(isPositive(x.value)).toBe(true);
      expect(isPositive(x.per_token)).toBe(true);
      expect(x.per_repeat).toHaveLength(QUICK_REPEATS);
      x.per_repeat.forEach((v) => expect(isPositive(v)).toBe(true));
    }
    // the targets: bandwidth measured in the run, each cached step against streaming its weights,
    // G-cache against SDPA of the same size, memory of the first model, no growth over --long tokens
    expect(isPositive(r.bandwidth?.copy_gb_s)).toBe(true);
    expect(isPositive(r.bandwidth?.gemv_gb_s)).toBe(true);
    expect(r.stream?.map((x) => `${x.model}/${x.mode}`)).toEqual(['tiny/kv+g', 'tiny-SDPA/kv']);
    const ids = r.targets!.map((t) => t.id);
    // no memory target: the first model also ran without caches (whole sequences: packed weights, a higher water mark)
    expect(ids).toEqual(['stream/tiny', 'cache/tiny', 'g-vs-sdpa/tiny', 'growth/tiny', 'growth/tiny-SDPA']);
    // the paper's speed and memory goals are for ~100M-parameter models: n/a for the tiny pair, with why;
    // the no-growth check holds for any model
    for (const t of r.targets!.filter((x) => !x.id.startsWith('growth/'))) {
      expect(t.met, t.id).toBeNull();
      expect(t.not_applicable, t.id).toMatch(
        /^tiny has \d+\.\dM parameters: a model this small is timed by per-call overhead/,
      );
    }
    const targetLines = printed.split('\n').filter((l) => /^\s+\[(n\/a|met|NOT met)\]/.test(l));
    expect(
      targetLines.map((l) =>
        l
          .trim()
          .match(/^\[([^\]]+)\] (\S+)/)!
          .slice(1)
          .join(' '),
      ),
    ).toEqual(['n/a tiny:', 'n/a tiny:', 'n/a tiny', 'met tiny:', 'met tiny-SDPA:']);
    for (const l of targetLines.filter((x) => x.includes('[n/a]')))
      expect(l).toMatch(/; n\/a: tiny has .*paper's ~100M-parameter models\)$/);
    expect(r.long_runs!.map((x) => [x.model, x.mode, x.tokens, x.every])).toEqual([
      ['tiny', 'kv+g', 20, 2],
      ['tiny-SDPA', 'kv', 20, 2],
    ]);
    for (const run of r.long_runs!) {
      expect(run.rows.map((x) => x.token)).toEqual([1, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
      // the in-place KV-cache holds all P + 20 − 1 positions from the prompt call on; nothing grows
      const {d_model, num_layers, num_heads} = r.models[0]!.config;
      const pldrModel = r.models.find((m) => m.label === run.model)!.family === 'pldr';
      const A = pldrModel ? num_heads * (d_model / num_heads) ** 2 : 0; // v510 keeps the prompt's A
      for (const x of run.rows)
        expect(x.kv_bytes).toBe(num_layers * (2 * (PAPER_PROMPT_LENGTH + 19) * d_model + A) * 4);
      expect(new Set(run.rows.map((x) => x.tensor_bytes)).size).toBe(1);
    }
    for (const s of r.scenarios.filter((x) => x.mode === 'kv' || x.mode === 'kv+g'))
      expect(s.samples[0]!.kv_capacity, s.id).toBe(PAPER_PROMPT_LENGTH + QUICK_TOKENS - 1);
    for (const s of r.scenarios.filter((x) => x.mode === 'none' || x.mode === 'g'))
      expect(s.samples[0]!.kv_capacity, s.id).toBeUndefined();
    expect(r.targets!.filter((t) => t.id.startsWith('growth/')).every((t) => t.met)).toBe(true);
    expectFiles('p1');
    const md = readFileSync(join(tmp, 'p1.md'), 'utf8');
    expect(md).toContain('## Targets');
    expect(md).toContain('Memory bandwidth of one core: each model is judged against');
    for (const m of r.models) expect(isPositive(m.copy_bandwidth_gb_s), m.label).toBe(true);
    expect(r.stream!.map((x) => x.bandwidth_gb_s)).toEqual(r.models.map((m) => m.copy_bandwidth_gb_s));
    expect(md).toContain('## Memory over a long generation: tiny, 20 tokens (KV+G)');
    expect(md).toContain('## Headline ratios');
    expect(md).toContain('tiny: no cache ÷ KV+G');
    expect(md).toMatch(/end token/i);
    expect(md).toContain('fixed prompt of 10 token ids');
  });

  it('--compare prints the change per scenario and records it', () => {
    const r = run(['paper', '--quick', '--modes', 'none,kv+g', '--out', 'p2', '--compare', join(tmp, 'p1.json')]);
    const ids = ['tiny/none', 'tiny/kv+g', 'tiny-SDPA/none'];
    expect(r.stdout).toContain('change since');
    for (const id of ids)
      expect(r.stdout).toMatch(
        new RegExp(`^${id.replace(/[+]/g, '\\+')}\\s+median ms\\s+\\S+\\s+\\S+\\s+[+-]?\\d+\\.\\d%$`, 'm'),
      );
    expect(r.stdout).toMatch(/^tiny\/kv\s+median ms\s+\S+\s+n\/a\s+gone$/m); // in the old run only
    const rep = readJson('p2');
    expect(rep.compare?.against).toBe(join(tmp, 'p1.json'));
    for (const id of ids)
      expect(rep.compare!.rows.find((x) => x.id === id && x.metric === 'median ms')?.change_pct).toEqual(
        expect.any(Number),
      );
    expect(readFileSync(join(tmp, 'p2.md'), 'utf8')).toContain('## Change since');
  });

  it('a model directory with a tokenizer: the paper prompt tokenized, still exactly the requested tokens', () => {
    const dir = makeModelDir(join(tmp, 'model'));
    run([
      'paper',
      '--quick',
      '--model',
      dir,
      '--modes',
      'none,kv+g,ext-g',
      '-r',
      '1',
      '-n',
      '2',
      '--warmup',
      '0',
      '--out',
      'p3',
    ]);
    const r = readJson('p3');
    if (r.suite !== 'paper') throw new Error('not a paper report');
    expect(r.models[0]).toMatchObject({
      label: 'model',
      tokenizer: true,
      prompt_source: 'tokenizer',
      random_weights: false,
      family: 'pldr',
    });
    expect(r.scenarios.map((s) => s.mode)).toEqual(['none', 'kv+g', 'ext-g']);
    for (const s of r.scenarios) {
      expect(s.samples.map((x) => [x.repeat, x.loop])).toEqual([
        [0, 0],
        [0, 1],
      ]);
      for (const x of s.samples) expect([x.tokens, x.end_tokens]).toEqual([QUICK_TOKENS, 0]);
    }
    expect(r.ratios.map((x) => x.kind)).toEqual(['cache']); // no baseline in this run
  });

  it('bad input: one line, before anything runs', () => {
    expect(oneLineError(pldr(['bench', 'paper', '--preset', 'tiny,nope', '--results-dir', tmp]))).toMatch(
      /unknown preset "nope"/,
    );
    expect(oneLineError(pldr(['bench', 'paper', '--quick', '--modes', 'kv,fast', '--results-dir', tmp]))).toMatch(
      /unknown mode "fast"/,
    );
    expect(oneLineError(pldr(['bench', 'paper', '--quick', '--out', '../x', '--results-dir', tmp]))).toMatch(/--out/);
    writeFileSync(join(tmp, 'junk.json'), '{"hello": 1}');
    expect(
      oneLineError(pldr(['bench', 'paper', '--quick', '--compare', join(tmp, 'junk.json'), '--results-dir', tmp])),
    ).toMatch(/not a pldr bench report/);
    expect(
      oneLineError(pldr(['bench', 'scaling', '--quick', '--compare', join(tmp, 'p1.json'), '--results-dir', tmp])),
    ).toMatch(/paper report/);
    expect(oneLineError(pldr(['bench', 'scaling', '--quick', '--modes', 'g', '--results-dir', tmp]))).toMatch(
      /scaling times none, kv, kv\+g/,
    );
    expect(existsSync(join(tmp, 'x.json'))).toBe(false);
  });
});

describe('pldr bench paper --threads 2', () => {
  it('also times every scenario on one thread (a child process) and reports the speed-up over it', () => {
    const out = run([
      'paper',
      '--quick',
      '--modes',
      'none,kv+g',
      '-r',
      '1',
      '--warmup',
      '0',
      '--no-bandwidth',
      '--threads',
      '2',
      '--out',
      'pt2',
    ]);
    const r = readJson('pt2');
    if (r.suite !== 'paper') throw new Error('not a paper report');
    expect(r.threads).toBe(2);
    expect(r.scenarios.length).toBeGreaterThan(0);
    for (const s of r.scenarios) {
      const one = s.one_thread!;
      expect(isPositive(one.total_ms) && isPositive(one.ms_per_token), s.id).toBe(true);
      expect(one.speedup).toBeCloseTo(one.total_ms / s.stats.total_ms.median, 2);
      expect(one.speedup_per_token).toBeCloseTo(one.ms_per_token / s.stats.ms_per_token.median, 2);
    }
    expect(out.stdout).toMatch(/tokens\s+1 thread ms\s+× 1 thread\s+per token$/m);
    expect(readFileSync(join(tmp, 'pt2.md'), 'utf8')).toMatch(
      /## Threads\n\nThis run used 2 threads; every scenario ran again on one thread/,
    );
  });
});

describe('compareReports', () => {
  it('compareReports: rows for both runs, warnings when the machine differs', () => {
    const base = JSON.parse(readFileSync(join(tmp, 'p1.json'), 'utf8')) as BenchReport;
    const other = {...base, environment: {...base.environment, cpu: 'Other CPU'}} as BenchReport;
    const {rows, warnings} = compareReports(base, other);
    expect(rows.filter((x) => x.metric === 'median ms').map((x) => x.change_pct)).toEqual(Array(7).fill(0));
    expect(warnings.join(' ')).toMatch(/machine differs/);
  });
});
