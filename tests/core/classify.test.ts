/**
 * Task heads (PldrllmForSequenceClassification / ...TokenClassification) on the reference's
 * tiny-public weights plus a seeded `score` head.
 *
 * What is compared, and how closely:
 * - head logits vs the reference's own last hidden state (expected.safetensors forward.dec_output,
 *   from the authors' code) times the head weights, summed by hand in float64: within
 *   2e-5 × max_c Σ_j |W_cj| (the fixture's dec_output tolerance carried through the head);
 * - head logits vs our engine's hidden state at the pooled position times the head weights, by hand
 *   on host arrays: within 1e-5; scores (softmax / sigmoid) within 1e-5; labels exact;
 * - the CLI (`pldr classify --ids`) against the in-process result: scores within 1e-5, labels exact.
 */
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {initBackend} from '../../src/core/backend.js';
import {
  applyScore,
  classifySequence,
  classifyTokens,
  lastHiddenState,
  pooledPosition,
  scoreFunction,
  softmax,
  topLabels,
} from '../../src/core/classify.js';
import {readClassifierFiles} from '../../src/core/io/hf/classifier.js';
import {instantiate, readModelFiles} from '../../src/core/io/model-files.js';
import type {PldrModel} from '../../src/core/model/pldr.js';
import {ok} from '../commands/run.js';
import {fixture, ROOT} from '../helpers.js';
import {
  D,
  SEQ_LABELS,
  seededHead,
  TOK_LABELS,
  writeClassifierSnapshot,
  writeTinyPublicSnapshots,
} from './io/hf/snapshots.js';

const f = fixture('tiny-public');

let tmp: string;
let seqDir: string;
let tokDir: string;
let lmDir: string;

/** W·h (+ b) in float64 on host arrays. */
function byHand(W: Float32Array, b: Float32Array | undefined, h: ArrayLike<number>, C: number): number[] {
  return Array.from({length: C}, (_, c) => {
    let s = b ? b[c]! : 0;
    for (let j = 0; j < D; j++) s += W[c * D + j]! * h[j]!;
    return s;
  });
}

function maxDiff(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  return Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));
}

/** The fixture tolerance of our dec_output against the reference's (tests/core/model/forward.test.ts). */
const REF_HIDDEN_TOL = 2e-5;

/** max_c Σ_j |W_cj|: how far an error of 1 in every hidden value can move a logit. */
function rowSum(W: Float32Array, C: number): number {
  return Math.max(
    ...Array.from({length: C}, (_, c) => W.subarray(c * D, (c + 1) * D).reduce((s, x) => s + Math.abs(x), 0)),
  );
}

const argmax = (v: number[]) => v.indexOf(Math.max(...v));

beforeAll(async () => {
  await initBackend('wasm');
  tmp = mkdtempSync(join(tmpdir(), 'pldr-heads-'));
  ({seqDir, tokDir, lmDir} = writeTinyPublicSnapshots(tmp));
});

afterAll(() => rmSync(tmp, {recursive: true, force: true}));

describe('reading a classifier snapshot', () => {
  it('reads the head, its labels and the base model of a sequence classifier', () => {
    const c = readClassifierFiles(seqDir);
    expect(c.head.task).toBe('sequence-classification');
    expect(c.head.labels).toEqual(SEQ_LABELS);
    expect(c.head.weight.shape).toEqual([3, D]);
    expect(c.head.bias).toBeUndefined();
    expect(c.head.padTokenId).toBe(0);
    expect(scoreFunction(c.head)).toBe('softmax');
  });

  it('pldr info names the task, what it reads, the labels and the problem type', () => {
    const seq = JSON.parse(ok(['info', seqDir, '--json']).stdout).task;
    expect(seq).toEqual({
      task: 'sequence-classification',
      pooling: 'the last token that is not pad_token_id 0',
      labels: SEQ_LABELS,
      problem_type: null,
    });
    expect(JSON.parse(ok(['info', tokDir, '--json']).stdout).task.pooling).toBe('every token');
    expect(ok(['info', seqDir]).stdout).toMatch(/labels\s+0 NEGATIVE, 1 NEUTRAL, 2 POSITIVE/);
    expect(JSON.parse(ok(['info', lmDir, '--json']).stdout).task).toBeUndefined();
  });

  it('reads a token classifier, with its bias', () => {
    const c = readClassifierFiles(tokDir);
    expect(c.head.task).toBe('token-classification');
    expect(c.head.labels).toEqual(TOK_LABELS);
    expect(c.head.bias!.shape).toEqual([4]);
  });
});

describe('sequence classification on tiny-public', () => {
  let model: PldrModel;
  const head = () => readClassifierFiles(seqDir).head;
  beforeAll(() => {
    model = instantiate(readClassifierFiles(seqDir));
  });
  afterAll(() => model.dispose());

  const rows = f.ids('input.forward_ids'); // row 1 ends in three padding ids (0)
  for (const b of [0, 1]) {
    it(`row ${b}: pools the last non-pad token and matches the reference's hidden state × W`, () => {
      const ids = rows[b]!;
      const p = pooledPosition(ids, 0);
      expect(p).toBe(b === 0 ? 11 : 8);
      const h = head();
      const r = classifySequence(model, h, {ids, special: ids.map(() => false)});
      expect(r.position).toBe(p);
      const W = h.weight.data as Float32Array;
      const ref = f.t('forward.dec_output').subarray((b * 12 + p) * D, (b * 12 + p + 1) * D);
      expect(maxDiff(r.logits, byHand(W, undefined, ref, 3))).toBeLessThanOrEqual(REF_HIDDEN_TOL * rowSum(W, 3));
      const ours = lastHiddenState(model, ids)[p]!;
      const expected = byHand(W, undefined, ours, 3);
      expect(maxDiff(r.logits, expected)).toBeLessThanOrEqual(1e-5);
      expect(
        maxDiff(
          r.scores.map((s) => s.score),
          softmax(expected),
        ),
      ).toBeLessThanOrEqual(1e-5);
      expect(topLabels(r.scores, undefined)[0]!.label).toBe(SEQ_LABELS[argmax(expected)]);
    });
  }

  it('pools the last token when the config has no pad id, and sigmoid scores for multi-label heads', () => {
    const ids = rows[1]!;
    const h = {...head(), padTokenId: null, problemType: 'multi_label_classification' as const};
    const r = classifySequence(model, h, {ids, special: ids.map(() => false)});
    expect(r.position).toBe(11);
    expect(r.function).toBe('sigmoid');
    const expected = byHand(h.weight.data as Float32Array, undefined, lastHiddenState(model, ids)[11]!, 3);
    expect(
      maxDiff(
        r.scores.map((s) => s.score),
        expected.map((x) => 1 / (1 + Math.exp(-x))),
      ),
    ).toBeLessThanOrEqual(1e-5);
    expect(scoreFunction({...h, problemType: 'regression'})).toBe('none');
    expect(scoreFunction({...h, problemType: null, labels: ['SCORE']})).toBe('sigmoid');
    expect(applyScore('none', [1.5, -2])).toEqual([1.5, -2]);
  });

  it('pldr classify --ids prints the top label, --all every label sorted, --json the numbers', () => {
    const ids = rows[0]!;
    const h = head();
    const expected = softmax(byHand(h.weight.data as Float32Array, undefined, lastHiddenState(model, ids)[11]!, 3));
    const order = [0, 1, 2].sort((a, b) => expected[b]! - expected[a]!);
    const plain = ok(['classify', seqDir, '--ids', ids.join(',')])
      .stdout.trim()
      .split('\n');
    expect(plain).toHaveLength(1);
    expect(plain[0]!.split('\t')[0]).toBe(SEQ_LABELS[order[0]!]);
    const all = JSON.parse(ok(['classify', seqDir, '--ids', ids.join(','), '--all', '--json']).stdout);
    expect(all.labels.map((l: {label: string}) => l.label)).toEqual(order.map((i) => SEQ_LABELS[i]));
    expect(
      maxDiff(
        all.labels.map((l: {score: number}) => l.score),
        order.map((i) => expected[i]!),
      ),
    ).toBeLessThanOrEqual(1e-5);
    expect(all.position).toBe(11);
    const two = JSON.parse(ok(['classify', seqDir, '--ids', ids.join(','), '--top-k', '2', '--json']).stdout);
    expect(two.labels).toHaveLength(2);
  });
});

describe('token classification on tiny-public', () => {
  let model: PldrModel;
  beforeAll(() => {
    model = instantiate(readClassifierFiles(tokDir));
  });
  afterAll(() => model.dispose());

  it('scores every token: W·h + b against the reference hidden states and ours, labels exact, "O" left out', () => {
    const h = readClassifierFiles(tokDir).head;
    const ids = f.ids('input.forward_ids')[0]!;
    const W = h.weight.data as Float32Array;
    const bias = h.bias!.data as Float32Array;
    const ref = f.t('forward.dec_output');
    const ours = lastHiddenState(model, ids);
    const all = classifyTokens(model, h, {ids, special: ids.map(() => false)}, []);
    const kept = classifyTokens(model, h, {ids, special: ids.map(() => false)});
    expect(all.entities).toHaveLength(ids.length);
    ids.forEach((_, t) => {
      const mine = all.logits[t]!;
      expect(maxDiff(mine, byHand(W, bias, ref.subarray(t * D, (t + 1) * D), 4))).toBeLessThanOrEqual(
        REF_HIDDEN_TOL * rowSum(W, 4),
      );
      const expected = byHand(W, bias, ours[t]!, 4);
      expect(maxDiff(mine, expected)).toBeLessThanOrEqual(1e-5);
      const e = all.entities[t]!;
      expect(e.index).toBe(t);
      expect(e.entity).toBe(TOK_LABELS[argmax(expected)]);
      expect(Math.abs(e.score - Math.max(...softmax(expected)))).toBeLessThanOrEqual(1e-5);
    });
    expect(kept.entities).toEqual(all.entities.filter((e) => e.entity !== 'O'));
  });

  it('leaves out the special tokens the tokenizer added', () => {
    const h = readClassifierFiles(tokDir).head;
    const ids = [2, 74, 82, 59, 3];
    const r = classifyTokens(model, h, {ids, special: [true, false, false, false, true]}, []);
    expect(r.entities.map((e) => e.index)).toEqual([1, 2, 3]);
  });

  it('pldr classify --ids --all --json gives one row per token', () => {
    const ids = f.ids('input.forward_ids')[0]!;
    const r = JSON.parse(ok(['classify', tokDir, '--ids', ids.join(','), '--all', '--json']).stdout);
    expect(r.task).toBe('token-classification');
    expect(r.entities).toHaveLength(ids.length);
    const h = readClassifierFiles(tokDir).head;
    const ours = lastHiddenState(model, ids);
    r.entities.forEach((e: {entity: string; score: number; index: number}, t: number) => {
      const expected = byHand(h.weight.data as Float32Array, h.bias!.data as Float32Array, ours[t]!, 4);
      expect(e.entity).toBe(TOK_LABELS[argmax(expected)]);
      expect(Math.abs(e.score - Math.max(...softmax(expected)))).toBeLessThanOrEqual(1e-5);
    });
  });
});

describe('a classifier on a fixed-G base (tiny-G-random)', () => {
  it('reads the G from past_G_values and scores as the v510G model does', () => {
    const g = fixture('tiny-G-random');
    const base = readModelFiles(g.checkpoint);
    const dir = writeClassifierSnapshot(
      join(tmp, 'seq-g'),
      base,
      seededHead('sequence-classification', SEQ_LABELS, D, 41),
    );
    const c = readClassifierFiles(dir);
    expect(c.config.variant).toBe('v510G');
    c.G!.forEach((t, l) =>
      expect(Array.from(t.data as Float32Array)).toEqual(Array.from(base.G![l]!.data as Float32Array)),
    );
    const model = instantiate(c);
    const ids = g.ids('input.forward_ids')[0]!;
    const r = classifySequence(model, c.head, {ids, special: ids.map(() => false)});
    const ref = g.t('forward.dec_output').subarray(11 * D, 12 * D);
    const W = c.head.weight.data as Float32Array;
    expect(maxDiff(r.logits, byHand(W, undefined, ref, 3))).toBeLessThanOrEqual(REF_HIDDEN_TOL * rowSum(W, 3));
    model.dispose();
  });
});

describe('a v52 classifier (reference_rope false)', () => {
  it("runs its base with rotate-half RoPE: the hidden states give fixtures/v52's float64 logits through tiny-public's LM head", () => {
    const v52 = JSON.parse(readFileSync(join(ROOT, 'fixtures', 'v52', 'expected.json'), 'utf8')) as {
      forward: {ids: number[][]; logits_float64: number[][][]};
    };
    const base = readModelFiles(f.checkpoint);
    const dir = writeClassifierSnapshot(
      join(tmp, 'seq-v52'),
      base,
      seededHead('sequence-classification', SEQ_LABELS, D, 47),
      {config: {reference_rope: false}},
    );
    const c = readClassifierFiles(dir);
    expect(c.config.rope).toBe('neox');
    const model = instantiate(c);
    const Wf = base.weights.get('final_layer.weight')!.data as Float32Array;
    const bf = base.weights.get('final_layer.bias')!.data as Float32Array;
    const V = 97;
    let worst = 0;
    v52.forward.ids.forEach((ids, b) => {
      const h = lastHiddenState(model, ids);
      h.forEach((ht, t) => {
        for (let v = 0; v < V; v++) {
          let s = bf[v]!;
          for (let j = 0; j < D; j++) s += Wf[v * D + j]! * ht[j]!;
          worst = Math.max(worst, Math.abs(s - v52.forward.logits_float64[b]![t]![v]!));
        }
      });
      const r = classifySequence(model, c.head, {ids, special: ids.map(() => false)});
      expect(
        maxDiff(r.logits, byHand(c.head.weight.data as Float32Array, undefined, h[r.position]!, 3)),
      ).toBeLessThanOrEqual(1e-5);
    });
    expect(worst).toBeLessThanOrEqual(2e-5); // tests/core/model/v52.test.ts's tolerance for these logits
    model.dispose();
  });
});
