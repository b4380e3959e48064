/**
 * Benchmark metrics (src/core/eval/metrics.ts).
 *
 * (a) With ../shared present: the fixture's per-request log-likelihoods (and is_greedy) of every
 *     variant fed into our metrics reproduce every per-doc metric and prediction, every task
 *     metric and stderr, the headline values, Avg-1, Avg-2 and the harness's group line — with
 *     `toBe`, i.e. bit for bit in float64.
 * (b) Always: hand-computed cases (ties, NaN, characters vs bytes, mc2, stderr, averages).
 */
import {existsSync, readFileSync} from 'node:fs';
import {join, resolve} from 'node:path';

import {describe, expect, it} from 'vitest';

import {loadTaskDocs} from '../../../src/core/eval/load.js';
import {
  aggregateTask,
  argmax,
  mc2Score,
  mean,
  meanStderr,
  pooledSampleStderr,
  scoreDoc,
  scoreTask,
  summarize,
  type TaskScore,
} from '../../../src/core/eval/metrics.js';
import {buildTaskDoc, PAPER_ORDER, type TaskDoc, type TaskName} from '../../../src/core/eval/tasks.js';
import {ROOT, SHARED} from '../../helpers.js';

const OWN = join(ROOT, 'fixtures', 'eval-tasks');
const EXPECTED = join(SHARED, 'fixtures', 'eval', 'expected.json');
const HAVE_SHARED = existsSync(EXPECTED);
if (!HAVE_SHARED) console.log(`[eval] ${EXPECTED} is absent: skipping the metric comparisons with the harness fixture`);

// -------------------------------------------------------------------------------------------------
// (a) the harness fixture
// -------------------------------------------------------------------------------------------------

describe.skipIf(!HAVE_SHARED)('metrics reproduce the harness fixture bit for bit', () => {
  const oracle = HAVE_SHARED ? JSON.parse(readFileSync(EXPECTED, 'utf8')) : {runs: [], item_sets: {}};
  for (const run of oracle.runs) {
    const tasks = Object.keys(run.tasks) as TaskName[];
    const paths = tasks
      .map((t) => oracle.item_sets[run.items]?.[t]?.path)
      .map((p) => (p ? resolve(SHARED, '..', p) : ''));
    const present = paths.every((p) => p !== '' && existsSync(p));
    if (!present) console.log(`[eval] ${run.name}: some item files are absent, metrics skipped`);
    for (const variant of Object.keys(run.summary)) {
      it.skipIf(!present)(`${run.name} ${variant}`, async () => {
        const scores: TaskScore[] = [];
        let docsChecked = 0;
        for (const [ti, task] of tasks.entries()) {
          const exp = run.tasks[task];
          const {docs} = await loadTaskDocs(task, paths[ti]);
          const results = exp.docs.map((d: any) =>
            d.requests.map((r: any) => ({ll: r[variant].ll, isGreedy: r[variant].is_greedy})),
          );
          const {docs: scored, task: ts} = scoreTask(docs, results);
          for (const [k, s] of scored.entries()) {
            const e = exp.docs[k][variant];
            const at = `${variant} ${task} doc ${k}`;
            // The harness's own process_results dict, key for key.
            const harness: Record<string, number> = {acc: s.acc};
            if (s.acc_norm !== undefined) harness.acc_norm = s.acc_norm;
            expect(harness, at).toEqual(e.harness_process_results);
            if (task === 'truthfulqa_mc2') {
              expect(s.mc2, at).toBe(e.mc2);
            } else {
              expect([s.gold, s.pred, s.predNorm, s.predBytes], at).toEqual([
                e.gold,
                e.pred_acc,
                e.pred_acc_norm,
                e.pred_acc_bytes,
              ]);
              expect([s.acc, s.acc_norm, s.acc_bytes], at).toEqual([e.acc, e.acc_norm, e.acc_bytes]);
              // The wrong normalisations the fixture records do give other predictions where it says so,
              // so the agreement above is not an accident of the items.
              const utf16 = argmax(s.lls.map((ll, i) => ll / docs[k].choices[i].length));
              expect(utf16, `${at} utf16`).toBe(e.diag_pred_norm_utf16_units);
              const withDelim = argmax(s.lls.map((ll, i) => ll / (docs[k].normLengths[i] + 1)));
              expect(withDelim, `${at} with delimiter`).toBe(e.diag_pred_norm_chars_with_delimiter);
            }
            expect(s.isGreedy).toEqual(exp.docs[k].requests.map((r: any) => r[variant].is_greedy));
            docsChecked++;
          }
          const em = exp.metrics[variant];
          const ours: Record<string, number | null | undefined> = {acc: ts.acc, acc_stderr: ts.acc_stderr};
          if (task !== 'truthfulqa_mc2')
            Object.assign(ours, {
              acc_norm: ts.acc_norm,
              acc_norm_stderr: ts.acc_norm_stderr,
              acc_bytes: ts.acc_bytes,
              acc_bytes_stderr: ts.acc_bytes_stderr,
            });
          expect(ours, `${variant} ${task} task metrics`).toEqual(em);
          for (const [key, value] of Object.entries(em))
            expect(Object.is(ours[key], value), `${variant} ${task} ${key}`).toBe(true);
          scores.push(ts);
        }
        expect(docsChecked).toBe(run.stats.num_docs);
        const sum = summarize(scores);
        const es = run.summary[variant];
        expect(sum.headline).toEqual(es.headline);
        for (const t of tasks) expect(sum.headline[t], `headline ${t}`).toBe(es.headline[t]);
        expect(sum.avg1).toBe(es.avg1);
        expect(sum.avg2).toBe(es.avg2);
        const g = sum.harnessGroup!;
        expect({
          acc: g.acc,
          acc_stderr: g.acc_stderr,
          acc_norm: g.acc_norm,
          acc_norm_stderr: g.acc_norm_stderr,
        }).toEqual(es.harness_group_pldrllm_zeroshot);
        expect(g.acc).toBe(es.harness_group_pldrllm_zeroshot.acc);
        expect(g.acc_stderr).toBe(es.harness_group_pldrllm_zeroshot.acc_stderr);
        expect(g.acc_norm_stderr).toBe(es.harness_group_pldrllm_zeroshot.acc_norm_stderr);
      });
    }
  }
});

// -------------------------------------------------------------------------------------------------
// (b) hand-computed cases
// -------------------------------------------------------------------------------------------------

function doc(task: TaskName, raw: unknown): TaskDoc {
  return buildTaskDoc(task, raw, 0, 'hand:1');
}

const arcDoc = (texts: string[], answerKey: string) =>
  doc('arc_easy', {
    question: 'q',
    choices: {text: texts, label: texts.map((_, i) => String.fromCharCode(65 + i))},
    answerKey,
  });

describe('hand-computed metrics', () => {
  it("argmax is numpy's: the first maximum, and a NaN wins", () => {
    expect(argmax([-5, -5, -6])).toBe(0);
    expect(argmax([-7, -5, -5])).toBe(1);
    expect(argmax([1, NaN, 3, NaN])).toBe(1);
    expect(argmax([-Infinity, -Infinity])).toBe(0);
  });

  it('ties go to the first choice, for acc and acc_norm alike', () => {
    const d = arcDoc(['ab', 'cd', 'efg'], 'B');
    const s = scoreDoc(d, [-5, -5, -9]); // raw: -5, -5; normalised: -2.5, -2.5, -3
    expect([s.pred, s.predNorm, s.acc, s.acc_norm]).toEqual([0, 0, 0, 0]);
    const t = scoreDoc(d, [-6, -4, -6]); // normalised -3, -2, -2: the tie goes to B
    expect([t.pred, t.predNorm, t.acc, t.acc_norm]).toEqual([1, 1, 1, 1]);
  });

  it('acc_norm divides by characters (code points), not bytes or UTF-16 units', () => {
    // "ééé": 3 characters, 6 bytes; "abcd": 4 characters, 4 bytes.
    const d = arcDoc(['ééé', 'abcd'], 'B');
    expect(d.normLengths).toEqual([3, 4]);
    expect(d.byteLengths).toEqual([6, 4]);
    const s = scoreDoc(d, [-6, -7]); // chars: -2 vs -1.75 → B; bytes: -1 vs -1.75 → A; raw: A
    expect([s.pred, s.predNorm, s.predBytes]).toEqual([0, 1, 0]);
    expect([s.acc, s.acc_norm, s.acc_bytes]).toEqual([0, 1, 0]);
    // An astral character is one code point but two UTF-16 units.
    const e = arcDoc(['𝔐𝔬', 'abc'], 'A');
    expect(e.normLengths).toEqual([2, 3]);
    const t = scoreDoc(e, [-5, -7]); // chars: -2.5 vs -2.33 → B; UTF-16 (4 units) would give -1.25 → A
    expect(t.predNorm).toBe(1);
  });

  it("winogrande acc_norm divides the shared continuation by each context's length", () => {
    const d = doc('winogrande', {
      sentence: 'Al gave Bo a cup because _ was thirsty.',
      option1: 'Bo',
      option2: 'Alexander',
      answer: '2',
    });
    expect(d.normLengths).toEqual([27, 34]);
    const s = scoreDoc(d, [-10, -12]); // -0.370 vs -0.353
    expect([s.pred, s.predNorm, s.acc, s.acc_norm]).toEqual([0, 1, 0, 1]);
  });

  it('mc2 on 2 true / 3 false answers', () => {
    const p = [0.2, 0.1, 0.3, 0.25, 0.15];
    const d = doc('truthfulqa_mc2', {
      question: 'q',
      mc2_targets: {choices: ['a', 'b', 'c', 'd', 'e'], labels: [1, 1, 0, 0, 0]},
    });
    const s = scoreDoc(d, p.map(Math.log));
    expect(s.mc2).toBeCloseTo(0.3, 15);
    expect(s.acc).toBe(s.mc2);
    expect(s.acc_norm).toBeUndefined();
    // exp(ll) is not normalised: only ratios matter.
    expect(
      mc2Score(
        p.map((x) => Math.log(x) - 3),
        [1, 1, 0, 0, 0],
      ),
    ).toBeCloseTo(0.3, 14);
    // A true answer after the first 0 counts as false (the harness splits at labels.index(0)).
    expect(mc2Score(p.map(Math.log), [1, 0, 1, 0, 0])).toBeCloseTo(0.2, 15);
    // Exactly the harness's float operations: p_true / denominator, then summed.
    const lls = [-1.5, -2.25, -0.75, -3, -1];
    const e = lls.map(Math.exp);
    const denom = e[0] + e[1] + (e[2] + e[3] + e[4]);
    expect(mc2Score(lls, [1, 1, 0, 0, 0])).toBe(e[0] / denom + e[1] / denom);
  });

  it('task mean and stderr (sample std / √n; "N/A" = null for one document)', () => {
    expect(mean([1, 0, 1, 1])).toBe(0.75);
    expect(meanStderr([1, 0, 1, 1])).toBe(0.25); // sqrt((3·0.0625 + 0.5625) / 3) / 2
    expect(meanStderr([0, 0, 0])).toBe(0);
    expect(meanStderr([1])).toBeNull();
    const d = arcDoc(['a', 'bb'], 'A');
    const one = aggregateTask('arc_easy', [scoreDoc(d, [-1, -2])]);
    expect(one).toMatchObject({n: 1, acc: 1, acc_stderr: null, acc_norm: 1, acc_norm_stderr: null, headline: 1});
  });

  it('Avg-1 (seven tasks, paper order), Avg-2 (with TruthfulQA mc2) and the harness group line', () => {
    const values: Record<TaskName, number> = {
      arc_challenge: 0.25,
      arc_easy: 0.5,
      hellaswag: 0.25,
      openbookqa: 0,
      piqa: 0.75,
      social_iqa: 0.5,
      winogrande: 0.5,
      truthfulqa_mc2: 0.6,
    };
    const scores: TaskScore[] = PAPER_ORDER.map((t) =>
      t === 'truthfulqa_mc2'
        ? {task: t, n: 5, acc: values[t], acc_stderr: 0.1, headline: values[t]}
        : {task: t, n: 4, acc: 0.25, acc_stderr: 0.25, acc_norm: values[t], acc_norm_stderr: 0.25, headline: values[t]},
    );
    const s = summarize(scores);
    expect(s.avg1).toBe(2.75 / 7);
    expect(s.avg2).toBe((2.75 + 0.6) / 8);
    expect(s.headline.truthfulqa_mc2).toBe(0.6);
    const g = s.harnessGroup!;
    expect(g.n).toBe(33);
    expect(g.acc).toBeCloseTo((7 * 4 * 0.25 + 5 * 0.6) / 33, 15);
    expect(g.acc_norm).toBeCloseTo((4 * 2.75) / 28, 15);
    expect(g.acc_norm_stderr).toBe(pooledSampleStderr(Array(7).fill(0.25), Array(7).fill(4)));
    // pooled: sqrt(Σ (n−1)·se²·n / (N − k) / N)
    expect(g.acc_stderr).toBeCloseTo(Math.sqrt((7 * 3 * 0.0625 * 4 + 4 * 0.01 * 5) / (33 - 8) / 33), 15);
    // Seven tasks without TruthfulQA: Avg-1 only.
    const s7 = summarize(scores.slice(0, 7));
    expect(s7.avg1).toBe(s.avg1);
    expect(s7.avg2).toBeNull();
    // A subset: no averages; a stderr of "N/A" makes the group's "N/A".
    const sub = summarize([{...scores[0], acc_stderr: null}]);
    expect([sub.avg1, sub.avg2, sub.harnessGroup!.acc_stderr]).toEqual([null, null, null]);
  });

  it('scores our own items end to end', async () => {
    const {docs} = await loadTaskDocs('hellaswag', join(OWN, 'hellaswag.jsonl'));
    // doc 0: lengths [44, 35, 23, 26]; the longest ending wins only after normalisation.
    const {docs: scored, task} = scoreTask(docs, [
      [-30, -29, -20, -25],
      [-3, -4],
      [-9, -7],
    ]);
    expect(scored.map((s) => [s.pred, s.predNorm])).toEqual([
      [2, 0],
      [0, 0],
      [1, 1],
    ]);
    expect(task).toMatchObject({n: 3, acc: 2 / 3, acc_norm: 1, acc_norm_stderr: 0});
    expect(() => scoreDoc(docs[0], [-1])).toThrow(/1 results for 4 requests/);
  });
});
