/**
 * pldr classify and the commands around it on classifier snapshots: convert --to hf keeps a classifier bit for bit, what
 * is not a classifier (or a broken one) is refused in one line, and text goes in through the snapshot's tokenizer with
 * its special tokens. The numbers themselves are checked against the reference in classify.test.ts.
 */
import {spawnSync} from 'node:child_process';
import {cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {readClassifierFiles} from '../../src/core/io/hf/classifier.js';
import {readModelFiles} from '../../src/core/io/model-files.js';
import {readSafetensors} from '../../src/core/io/safetensors.js';
import {Tokenizer} from '../../src/core/tokenizer.js';
import {makeModelDir, TOKENIZER} from './models.js';
import {oneLineError, ok, pldr} from './run.js';
import {fixture, pldrMessage, ROOT} from '../helpers.js';
import {expectSameBits} from '../core/io/hf/bits.js';
import {
  D,
  SEQ_LABELS,
  seededHead,
  TOK_LABELS,
  writeClassifierSnapshot,
  writeTinyPublicSnapshots,
} from '../core/io/hf/snapshots.js';

const f = fixture('tiny-public');

let tmp: string;
let seqDir: string;
let tokDir: string;
let lmDir: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pldr-heads-cli-'));
  ({seqDir, tokDir, lmDir} = writeTinyPublicSnapshots(tmp));
});

afterAll(() => rmSync(tmp, {recursive: true, force: true}));

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
