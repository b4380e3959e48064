/**
 * scripts/torch-reference.py, the reference `pldr bench --reference` times, must compute the
 * reference's function: its forward, its greedy generation in every cache mode and one training
 * step are compared with the reference fixture tiny-public (made by the authors' code). Then the
 * bench's use of it: the report carries its numbers and the targets are judged against them.
 * Needs torch on /usr/bin/python3 (Debian: apt install python3-torch); skipped with a message without it.
 */
import {spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {evalTargets, type EvalBenchResult, type EvalScenario} from '../../../src/core/bench/eval.js';
import {
  checkReference,
  REFERENCE_SCRIPT,
  type ReferenceForward,
  type ReferenceTrain,
} from '../../../src/core/bench/reference.js';
import {type TrainBenchRun, trainTargets} from '../../../src/core/bench/train.js';
import {PldrError} from '../../../src/core/errors.js';
import {fixture, maxAbsDiff, ROOT} from '../../helpers.js';
import {hasTorch, SYSTEM_PYTHON} from '../io/helpers.js';

/** The fixture's own float32-vs-float64 noise in logits is 1.6e-6 (spec T15); a port of the same graph stays well inside this. */
const LOGITS_TOL = 1e-5;
/** One AdamW step's loss, float32 (the fixture's loss is float32; summation order differs by BLAS). */
const LOSS_TOL = 1e-5;

describe.skipIf(!hasTorch())('scripts/torch-reference.py computes the reference function (tiny-public)', () => {
  const f = fixture('tiny-public');
  let out: {
    torch: string;
    threads: number;
    blas: {name: string};
    forward_logits: number[];
    generation: Record<string, Record<string, number[]>>;
    train: Record<string, number>;
  };
  beforeAll(() => {
    const r = spawnSync(SYSTEM_PYTHON, [REFERENCE_SCRIPT, 'check', '--fixture', f.dir, '--threads', '1'], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    if (r.status !== 0) throw new Error(`torch-reference.py check failed: ${r.stderr}`);
    out = JSON.parse(r.stdout);
  });

  it('reports torch, its threads and the BLAS it calls', () => {
    expect(out.torch).toMatch(/^\d+\.\d+/);
    expect(out.threads).toBe(1);
    expect(out.blas.name).not.toBe('unknown');
  });

  it(`forward logits equal the fixture's within ${LOGITS_TOL} (float32 and float64 references)`, () => {
    const want32 = f.t('forward.logits');
    expect(out.forward_logits).toHaveLength(want32.length);
    expect(maxAbsDiff(out.forward_logits, want32)).toBeLessThan(LOGITS_TOL);
    expect(maxAbsDiff(out.forward_logits, f.t('forward64.logits'))).toBeLessThan(LOGITS_TOL);
  });

  it('greedy generation gives the fixture ids in every cache mode, KV+G included (the mode the paper suite times)', () => {
    const names = Object.keys(f.json.generation);
    expect(names.length).toBeGreaterThanOrEqual(4);
    for (const name of names)
      for (const mode of ['nocache', 'kv', 'kv_g', 'g'])
        expect(out.generation[name]![mode], `${name} ${mode}`).toEqual(f.json.generation[name].modes[mode].new_ids);
  });

  it(`one training step (masked cross-entropy, clipping by value, AdamW) gives the fixture's losses within ${LOSS_TOL}`, () => {
    const t = f.json.train;
    expect(Math.abs(out.train.loss_before! - t.loss_before)).toBeLessThan(LOSS_TOL);
    expect(Math.abs(out.train.loss_after! - t.loss_after)).toBeLessThan(LOSS_TOL);
    expect(t.loss_after).toBeLessThan(t.loss_before - 0.05); // the step moved the loss: a no-op optimiser would fail
    expect(out.train.accuracy_after).toBeCloseTo(t.accuracy_after, 6);
  });
});

describe.skipIf(hasTorch())('scripts/torch-reference.py (skipped)', () => {
  it.skip(`needs torch on ${SYSTEM_PYTHON}: apt install python3-torch`, () => {});
});

describe('targets against the reference', () => {
  const stats = {n: 1, median: 1000, mean: 1000, std: 0, min: 1000, max: 1000, spread_pct: 0};
  const blas = {torch_build: 'BLAS_INFO=generic', name: 'OpenBLAS', openblas_threads: 2};
  const head = {torch: '1.13.0a0', threads: 2, blas, python: '3.11', config: {}, duration_s: 1};

  it('train: measured reference → ratio on every configuration it ran on; otherwise ref-small against the quoted figure', () => {
    const run = (model: string, tokensPerS: number, reference?: number): TrainBenchRun =>
      ({
        model,
        batch: 8,
        context: 256,
        tokens_per_step: 2048,
        tokens_per_s: tokensPerS,
        stats,
        ...(reference
          ? {
              reference: {
                ...head,
                suite: 'train',
                tokens_per_s: reference,
                step_ms: [],
                stats: {median: 2048_000 / reference, min: 0, max: 0},
              } as ReferenceTrain,
            }
          : {}),
      }) as TrainBenchRun;
    const [a, b] = trainTargets([run('ref-small', 2000, 1900), run('tiny', 900, 1000)]);
    expect(a).toMatchObject({id: 'train/ref-small', goal: '≥ 1.0×', met: true});
    expect(a!.measured).toMatch(/^1\.05× /);
    expect(a!.note).toContain('PyTorch 1.13.0a0, 2 threads, OpenBLAS (2 threads)');
    expect(b).toMatchObject({id: 'train/tiny', met: false});
    const quoted = trainTargets([run('ref-small', 1500), run('tiny', 900)]);
    expect(quoted).toHaveLength(1); // only ref-small has a quoted figure
    expect(quoted[0]).toMatchObject({id: 'train/ref-small', met: false});
    expect(quoted[0]!.note).toMatch(/measured earlier.*not re-measured/);
  });

  it('eval: pldr full at its fastest batch ÷ the reference, goal 3×; the quoted figure only for 10-token requests on PLDRv51-104M', () => {
    const sc = (model: string, setting: 'full' | 'gi', batch: number, rps: number) =>
      ({model, setting, batch, requests_per_s: rps}) as EvalScenario;
    const scenarios = [
      sc('PLDRv51-104M', 'full', 1, 6),
      sc('PLDRv51-104M', 'full', 8, 20),
      sc('PLDRv51-104M', 'gi', 1, 30),
    ];
    const ref = {
      ...head,
      suite: 'forward',
      requests_per_s: 1.9,
      ms_per_request: 526,
      metric_learner_share: 0.83,
    } as ReferenceForward;
    const models: EvalBenchResult['models'] = [{label: 'PLDRv51-104M', description: '', params: 104e6, reference: ref}];
    const [t] = evalTargets(scenarios, models, [16, 32]);
    expect(t).toMatchObject({id: 'eval/PLDRv51-104M', goal: '≥ 3×', met: true}); // batch 8: 20 ÷ 1.9 = 10.53
    expect(t!.measured).toMatch(
      /^10\.53× \(20 requests\/s \(full, batch 8; batch 1: 6\); .*83% of it in the metric learner/,
    );
    expect(evalTargets([sc('PLDRv51-104M', 'full', 1, 5)], models, [16])[0]!.met).toBe(false);
    const bare = [{...models[0]!, reference: undefined}];
    expect(evalTargets(scenarios, bare, [16, 32])).toEqual([]);
    expect(evalTargets(scenarios, bare, [11])[0]).toMatchObject({met: true}); // 20 against 1000 / 527 = 1.90 requests/s: 10.5×
  });

  it('a missing python is refused in one line that names the fix', () => {
    expect(() => checkReference({python: '/nonexistent/python3'})).toThrow(PldrError);
    expect(() => checkReference({python: '/nonexistent/python3'})).toThrow(
      /^--reference: no python at \/nonexistent\/python3: apt install python3-torch \(Debian\), or give --python PATH/,
    );
    if (existsSync('/bin/sh'))
      expect(() => checkReference({python: '/bin/false'})).toThrow(/cannot import torch: apt install python3-torch/);
  });
});

describe.skipIf(!hasTorch() || !existsSync(join(ROOT, 'dist', 'commands', 'bench', 'train.js')))(
  'pldr bench train --reference (built CLI)',
  () => {
    const tmp = mkdtempSync(join(tmpdir(), 'pldr-bench-ref-'));
    afterAll(() => rmSync(tmp, {recursive: true, force: true}));
    const pldr = (args: string[]) =>
      spawnSync(process.execPath, [join(ROOT, 'bin', 'run.js'), ...args], {encoding: 'utf8', cwd: ROOT});

    it("stores the reference run beside pldr's and judges the target against it", () => {
      const r = pldr([
        'bench',
        'train',
        '--quick',
        '--preset',
        'tiny',
        '--reference',
        '--python',
        SYSTEM_PYTHON,
        '--reference-threads',
        '1',
        '--results-dir',
        tmp,
        '--out',
        'ref',
      ]);
      expect(r.status, r.stderr).toBe(0);
      const report = JSON.parse(readFileSync(join(tmp, 'ref.json'), 'utf8'));
      const run = report.runs[0];
      expect(run.reference).toMatchObject({
        suite: 'train',
        threads: 1,
        protocol: {batch: 2, context: 32, steps: 2, warmup: 1},
      });
      expect(run.reference.step_ms).toHaveLength(2);
      expect(run.reference.tokens_per_s).toBeGreaterThan(0);
      expect(run.reference.config).toMatchObject({
        num_layers: run.config.num_layers,
        d_model: run.config.d_model,
        input_vocab_size: run.config.input_vocab_size,
      });
      expect(report.targets.map((t: {id: string}) => t.id)).toEqual(['train/tiny']);
      expect(report.targets[0].note).toMatch(/^the reference: scripts\/torch-reference\.py on PyTorch /);
      expect(r.stdout).toMatch(/\[(met|NOT met)\] tiny training throughput ÷ the reference's/);
    });

    it('bench eval: the reference scores the very requests pldr scored, one per forward', () => {
      const r = pldr([
        'bench',
        'eval',
        '--quick',
        '--preset',
        'tiny',
        '--reference',
        '--reference-threads',
        '1',
        '--results-dir',
        tmp,
        '--out',
        'eref',
      ]);
      expect(r.status, r.stderr).toBe(0);
      const report = JSON.parse(readFileSync(join(tmp, 'eref.json'), 'utf8'));
      type Scored = {setting: string; batch: number; requests: number; requests_per_s: number};
      const full = (report.scenarios as Scored[]).filter((s) => s.setting === 'full');
      const own = full.reduce((a, b) => (b.requests_per_s > a.requests_per_s ? b : a)); // the target takes pldr's fastest full scoring
      const one = full.find((s) => s.batch === 1)!;
      const ref = report.models[0].reference;
      expect(ref).toMatchObject({
        suite: 'forward',
        threads: 1,
        protocol: {requests: one.requests, batch: 1, repeats: 1, warmup: 0},
      });
      expect(ref.protocol.tokens_fed).toBe(
        report.protocol.lengths.reduce((a: number, n: number) => a + (n - 1) * report.protocol.requests_per_length, 0),
      );
      expect(report.targets.map((t: {id: string}) => t.id)).toEqual(['eval/tiny']);
      const batches = own === one ? 'batch 1' : `batch ${own.batch}; batch 1: ${one.requests_per_s}`;
      expect(report.targets[0].measured).toMatch(
        new RegExp(
          `^\\d+\\.\\d\\d× \\(${own.requests_per_s} requests/s \\(full, ${batches}\\); the reference ${ref.requests_per_s} requests/s`,
        ),
      );
    });

    it('refuses --reference where it does not apply, and its settings without it', () => {
      const a = pldr(['bench', 'scaling', '--quick', '--reference', '--results-dir', tmp]);
      expect(a.status).toBe(2); // a usage error: bench scaling has no such flag
      expect(a.stderr.trim()).toMatch(/Nonexistent flag: --reference/);
      const b = pldr(['bench', 'train', '--quick', '--python', SYSTEM_PYTHON, '--results-dir', tmp]);
      expect(b.stderr.trim()).toMatch(/--python applies to --reference: add --reference/);
    });
  },
);
