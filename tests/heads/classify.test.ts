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
import {spawnSync} from 'node:child_process';
import {cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync} from 'node:fs';
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
import {instantiate, readModelFiles, writeHfModelDir} from '../../src/core/io/model-files.js';
import {readSafetensors} from '../../src/core/io/safetensors.js';
import type {PldrModel} from '../../src/core/model/pldr.js';
import {Tokenizer} from '../../src/core/tokenizer.js';
import {makeModelDir, TOKENIZER} from '../cli/models.js';
import {oneLineError, ok, pldr} from '../cli/run.js';
import {fixture, pldrMessage, ROOT} from '../helpers.js';
import {expectSameBits} from '../hf/bits.js';
import {seededHead, writeClassifierSnapshot} from './snapshots.js';

const f = fixture('tiny-public');
const D = 16;
const SEQ_LABELS = ['NEGATIVE', 'NEUTRAL', 'POSITIVE'];
const TOK_LABELS = ['O', 'B-PER', 'I-PER', 'B-LOC'];

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

/** The fixture tolerance of our dec_output against the reference's (tests/model/forward.test.ts). */
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
  const base = readModelFiles(f.checkpoint);
  seqDir = writeClassifierSnapshot(join(tmp, 'seq'), base, seededHead('sequence-classification', SEQ_LABELS, D, 11));
  tokDir = writeClassifierSnapshot(join(tmp, 'tok'), base, seededHead('token-classification', TOK_LABELS, D, 23));
  lmDir = join(tmp, 'lm');
  writeHfModelDir(lmDir, base);
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

describe('convert --to hf of a classifier', () => {
  const tensorsOf = (dir: string) => readSafetensors(join(dir, 'model.safetensors')).tensors;
  const headFields = (dir: string) => {
    const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    return {
      architectures: c.architectures,
      id2label: c.id2label,
      label2id: c.label2id,
      problem_type: c.problem_type,
      custom_G_type: c.custom_G_type,
    };
  };

  it('keeps the base, the head and the labels bit for bit (a fixed-G base too); --to pth is refused', () => {
    const g = fixture('tiny-G-random');
    const seqG = writeClassifierSnapshot(
      join(tmp, 'seq-g-src'),
      readModelFiles(g.checkpoint),
      seededHead('sequence-classification', SEQ_LABELS, D, 43),
    );
    for (const src of [seqDir, tokDir, seqG]) {
      const dst = `${src}-converted`;
      ok(['convert', src, dst, '--to', 'hf']);
      expectSameBits(tensorsOf(src), tensorsOf(dst));
      expect(headFields(dst)).toEqual(headFields(src));
    }
    expect(headFields(`${seqG}-converted`).custom_G_type).toBe('external');
    expect(oneLineError(pldr(['convert', seqDir, join(tmp, 'seq.pth'), '--to', 'pth']))).toMatch(
      /is a classifier: its task head has no place in a reference \.pth; convert it --to hf/,
    );
  });
});

describe('what is not a classifier, and broken classifiers: one line each', () => {
  const base = () => readModelFiles(f.checkpoint);
  const head = () => seededHead('sequence-classification', SEQ_LABELS, D, 11);

  it('a causal LM snapshot or a .pth given to classify', () => {
    expect(oneLineError(pldr(['classify', lmDir, '--ids', '5,6']))).toMatch(
      /is a PldrllmForCausalLM, not a classifier/,
    );
    expect(oneLineError(pldr(['classify', f.checkpoint, '--ids', '5,6']))).toMatch(/is not a classifier/);
  });

  it('a classifier given to generate', () => {
    expect(oneLineError(pldr(['generate', '--model', seqDir, '--ids', '5,6', '--greedy']))).toMatch(
      /is a PldrllmForSequenceClassification \(a classifier, not a language model\): run it with pldr classify/,
    );
  });

  it('a missing score layer, a score of the wrong shape, labels that disagree, an unknown problem_type', () => {
    const cases: [string, Parameters<typeof writeClassifierSnapshot>[3], RegExp][] = [
      ['no-score', {drop: ['score.weight']}, /lacks score\.weight/],
      [
        'bad-shape',
        {config: {id2label: {0: 'A', 1: 'B'}, label2id: {A: 0, B: 1}, num_labels: 2}},
        /score\.weight has shape \[3, 16\], the config needs \[2, 16\]/,
      ],
      ['num-labels', {config: {num_labels: 5}}, /num_labels 5 disagrees with id2label's 3 labels/],
      ['problem', {config: {problem_type: 'ranking'}}, /problem_type "ranking" is unknown/],
      [
        'seq-bias',
        {add: new Map([['score.bias', {dtype: 'F32', shape: [3], data: new Float32Array(3)}]])},
        /has no bias/,
      ],
    ];
    for (const [name, opts, want] of cases) {
      const dir = writeClassifierSnapshot(join(tmp, name), base(), head(), opts);
      expect(
        pldrMessage(() => readClassifierFiles(dir)),
        name,
      ).toMatch(want);
    }
    expect(oneLineError(pldr(['classify', join(tmp, 'no-score'), '--ids', '5,6']))).toMatch(/lacks score\.weight/);
  });

  it('bad flags', () => {
    expect(oneLineError(pldr(['classify', tokDir, '--ids', '5,6', '--top-k', '2']))).toMatch(
      /--top-k is for sequence classification/,
    );
    expect(oneLineError(pldr(['classify', seqDir, '--ids', '']))).toMatch(/--ids is empty/);
    writeFileSync(join(tmp, 'text.txt'), 'hello');
    expect(oneLineError(pldr(['classify', seqDir, 'hi', '--prompt-file', join(tmp, 'text.txt')]))).toMatch(/one way/);
  });
});

describe('text in: the snapshot tokenizer with its special tokens (pldr-tiny, a fresh 512-token model)', () => {
  let tok: Tokenizer;
  let seqText: string;
  let tokText: string;
  const TEXT = 'the old man said hello';
  beforeAll(async () => {
    makeModelDir(join(tmp, 'tiny'), 'v510', undefined, 5);
    const base = readModelFiles(join(tmp, 'tiny'));
    tok = await Tokenizer.load(TOKENIZER);
    seqText = writeClassifierSnapshot(
      join(tmp, 'seq-text'),
      base,
      seededHead('sequence-classification', SEQ_LABELS, D, 31),
      {tokenizer: TOKENIZER, addBos: true},
    );
    tokText = writeClassifierSnapshot(
      join(tmp, 'tok-text'),
      base,
      seededHead('token-classification', TOK_LABELS, D, 37),
      {tokenizer: TOKENIZER, addBos: false},
    );
  });

  it('a sequence classifier prepends [START] (add_bos_token) and reads text from an argument or standard input', () => {
    const want = [2, ...tok.encode(TEXT)];
    const r = JSON.parse(ok(['classify', seqText, TEXT, '--json']).stdout);
    expect(r.ids).toEqual(want);
    expect(r.position).toBe(want.length - 1);
    const byIds = JSON.parse(ok(['classify', seqText, '--ids', want.join(','), '--json']).stdout);
    expect(byIds.labels).toEqual(r.labels);
    const piped = spawnSync(process.execPath, [join(ROOT, 'bin', 'run.js'), 'classify', seqText, '--json'], {
      input: TEXT,
      encoding: 'utf8',
      env: {...process.env, NODE_NO_WARNINGS: '1'},
    });
    expect(piped.status, piped.stderr).toBe(0);
    expect(JSON.parse(piped.stdout).labels).toEqual(r.labels);
  });

  it('--prompts classifies every text of a file, one JSON line each, as one text at a time', () => {
    const texts = [TEXT, 'a cat sat on the mat'];
    const file = join(tmp, 'texts.jsonl');
    writeFileSync(file, texts.map((t, i) => JSON.stringify({id: i, prompt: t})).join('\n') + '\n');
    const lines = ok(['classify', seqText, '--prompts', file, '--all'])
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.id, l.text])).toEqual(texts.map((t, i) => [i, t]));
    lines.forEach((l, i) =>
      expect(l.labels).toEqual(JSON.parse(ok(['classify', seqText, texts[i]!, '--all', '--json']).stdout).labels),
    );
  });

  it('a bad --prompts file is reported before the model is read', () => {
    // a snapshot whose weights cannot be read: reading the model first would fail on them instead
    const broken = join(tmp, 'seq-broken-weights');
    cpSync(seqText, broken, {recursive: true});
    truncateSync(join(broken, 'model.safetensors'), 16);
    const file = join(tmp, 'bad.jsonl');
    writeFileSync(file, '{"prompt": "fine"}\n{"prompt": \n');
    expect(oneLineError(pldr(['classify', broken, '--prompts', file]))).toMatch(/bad\.jsonl:2: not valid JSON/);
  });

  it('a token classifier gives one row per piece, with the piece and where it is in the text', () => {
    const pieces = tok.pieces(TEXT);
    const r = JSON.parse(ok(['classify', tokText, TEXT, '--all', '--json']).stdout);
    expect(r.ids).toEqual(tok.encode(TEXT)); // add_bos_token false
    expect(r.entities.map((e: {word: string}) => e.word)).toEqual(pieces);
    // offsets tile the text: each piece's "▁" is the space before it, except the first piece's dummy prefix
    const spans = (r.entities as {word: string; start: number; end: number}[]).map((e) => [e.start, e.end]);
    expect(spans[0]![0]).toBe(0);
    expect(spans.at(-1)![1]).toBe(TEXT.length);
    spans.slice(1).forEach(([start], i) => expect(start).toBe(spans[i]![1]));
    (r.entities as {word: string; start: number; end: number}[]).forEach((e, i) =>
      expect(TEXT.slice(e.start, e.end)).toBe(i === 0 ? e.word.replace(/^\u2581/, '') : e.word.replace(/\u2581/g, ' ')),
    );
    const plain = ok(['classify', tokText, TEXT, '--all']).stdout.trim().split('\n');
    expect(plain).toHaveLength(pieces.length);
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
    expect(worst).toBeLessThanOrEqual(2e-5); // tests/model/v52.test.ts's tolerance for these logits
    model.dispose();
  });
});
