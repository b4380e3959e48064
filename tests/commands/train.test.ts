/**
 * `pldr train` end to end on our own small corpus: a run, its checkpoint and curves; exact resume;
 * Ctrl-C; a non-finite loss; tokenizer training; the refusals.
 */
import {spawn} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {readSafetensors} from '../../src/core/io/safetensors.js';
import {Tokenizer} from '../../src/core/tokenizer.js';
import {findSpmTrain} from '../../src/core/train/spm.js';
import {ROOT} from '../helpers.js';
import {TOKENIZER} from './models.js';
import {ok, okJson, oneLineError, pldr} from './run.js';

const CORPUS = join(ROOT, 'fixtures', 'tokenizer', 'corpus.txt');
const SMALL = [
  '--layers',
  '2',
  '--d-model',
  '32',
  '--heads',
  '2',
  '--context',
  '32',
  '--batch-size',
  '4',
  '--warmup',
  '5',
  '--log-every',
  '1',
];
let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pldr-train-'));
});
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

/** A small run; flags given here replace those of SMALL. */
const train = (...args: string[]) => {
  const given = new Set(args.filter((a) => a.startsWith('--')));
  const base: string[] = [];
  for (let i = 0; i < SMALL.length; i += 2) if (!given.has(SMALL[i])) base.push(SMALL[i], SMALL[i + 1]);
  return ['train', '--corpus', CORPUS, '--tokenizer', TOKENIZER, ...base, ...args];
};
const weights = (run: string) => readSafetensors(join(run, 'checkpoint', 'model.safetensors')).tensors;
const events = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

describe('pldr train', () => {
  it('trains, validates, checkpoints a model pldr generate reads, logs metrics and draws the curves', () => {
    const run = join(tmp, 'basic');
    const ev = events(
      ok(train('--out', run, '--max-steps', '12', '--val-every', '6', '--ckpt-every', '6', '--json')).stdout,
    );
    const steps = ev.filter((e) => e.type === 'step');
    expect(steps.map((e) => e.update)).toEqual(Array.from({length: 12}, (_, i) => i + 1));
    expect(steps[0].lr).toBe(0); // the first update runs at lr 0 (T6)
    expect(steps[5].lr).toBeCloseTo(1e-3, 12); // update 6: the 5 warm-up updates are done
    expect(ev.filter((e) => e.type === 'val').map((e) => e.update)).toEqual([6, 12]);
    expect(ev.at(-1)).toMatchObject({type: 'stop', reason: 'max-steps', update: 12});
    expect(steps.at(-1).loss).toBeLessThan(steps[0].loss);
    const metrics = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(metrics.filter((m) => m.type === 'train')).toHaveLength(12);
    expect(readFileSync(join(run, 'curves.svg'), 'utf8')).toMatch(/<svg/);
    expect(readFileSync(join(run, 'curves.png')).subarray(1, 4).toString()).toBe('PNG');
    const out = okJson(['generate', '--model', join(run, 'checkpoint'), 'The river', '--greedy', '-n', '5']);
    expect(out.generated.length).toBeGreaterThan(0);
    // the plain display: a summary, a terminal chart, where the curves are
    const text = ok(['train', '--resume', run, '--max-steps', '13']);
    expect(text.stderr).toMatch(/resuming at update 12/);
    expect(text.stdout).toMatch(/curves: .*curves\.svg/);
  });

  it('resumes exactly: 2N updates in one run equal N, then a resume for N more', () => {
    const a = join(tmp, 'A');
    const b = join(tmp, 'B');
    ok(train('--out', a, '--max-steps', '10', '--ckpt-every', '3', '--val-every', '4', '--json'));
    ok(train('--out', b, '--max-steps', '5', '--total-steps', '10', '--ckpt-every', '3', '--val-every', '4', '--json'));
    ok(['train', '--resume', b, '--max-steps', '10', '--json']);
    const wa = weights(a);
    const wb = weights(b);
    expect([...wb.keys()]).toEqual([...wa.keys()]);
    for (const [k, t] of wa)
      expect(
        Buffer.from((wb.get(k)!.data as Float32Array).buffer).equals(Buffer.from((t.data as Float32Array).buffer)),
        k,
      ).toBe(true);
    const progress = JSON.parse(readFileSync(join(b, 'checkpoint', 'progress.json'), 'utf8'));
    expect(progress.updates).toBe(10);
  });

  it('Ctrl-C writes a checkpoint and exits cleanly; the run resumes from it', async () => {
    const run = join(tmp, 'sigint');
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'bin', 'run.js'),
        ...train('--out', run, '--max-steps', '100000', '--ckpt-every', '0', '--val-every', '0', '--json'),
      ],
      {cwd: ROOT},
    );
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d) => {
        out += d;
        if (/"type":"step","update":3\b/.test(out)) resolve();
      });
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(code).toBe(130);
    expect(err).toMatch(/resume with: pldr train --resume/);
    const stop = events(out).find((e) => e.type === 'stop');
    expect(stop.reason).toBe('interrupted');
    const progress = JSON.parse(readFileSync(join(run, 'checkpoint', 'progress.json'), 'utf8'));
    expect(progress.updates).toBe(stop.update);
    const ev = events(ok(['train', '--resume', run, '--max-steps', String(stop.update + 2), '--json']).stdout);
    expect(ev.find((e) => e.type === 'start').resumedAt).toBe(stop.update);
    expect(ev.at(-1).update).toBe(stop.update + 2);
  }, 60_000);

  it('a non-finite loss stops the run with a clear message and keeps the last good checkpoint', () => {
    const run = join(tmp, 'nan');
    const r = pldr(
      train(
        '--out',
        run,
        '--max-steps',
        '50',
        '--lr',
        '1e38',
        '--warmup',
        '1',
        '--ckpt-every',
        '1',
        '--val-every',
        '0',
      ),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /update \d+ (gave a non-finite loss or gradient|made a parameter non-finite).*last good checkpoint is kept/,
    );
    const progress = JSON.parse(readFileSync(join(run, 'checkpoint', 'progress.json'), 'utf8'));
    const failed = Number(/update (\d+) (gave|made)/.exec(r.stderr)![1]);
    expect(progress.updates).toBe(failed - 1);
    for (const t of weights(run).values()) expect(Array.from(t.data as Float32Array).every(Number.isFinite)).toBe(true);
  });

  it('PLDRv51G with G = identity, a DAG-regularised model, a token budget and a time limit', () => {
    const g = events(
      ok(
        train(
          '--out',
          join(tmp, 'sdpa'),
          '--variant',
          'v510G',
          '--g-init',
          'identity',
          '--max-tokens',
          '640',
          '--json',
        ),
      ).stdout,
    );
    expect(g.at(-1)).toMatchObject({type: 'stop', reason: 'max-tokens', update: 5}); // 4 rows × 32 tokens per update
    const G = readSafetensors(join(tmp, 'sdpa', 'checkpoint', 'model.safetensors')).tensors.get('G_LM.layer.0')!;
    expect(Array.from(G.data as Float32Array).slice(0, 18)).toEqual([1, ...Array(16).fill(0), 1]); // d_k = 16
    const d = events(
      ok(
        train('--out', join(tmp, 'dag'), '--variant', 'v510_dag', '--dag', '0.05,0,0.05', '--max-steps', '3', '--json'),
      ).stdout,
    );
    expect(d.find((e) => e.type === 'step').dag).toHaveProperty('G_LM');
    const t = events(
      ok(train('--out', join(tmp, 'timed'), '--max-steps', '100000', '--time-limit', '2s', '--json')).stdout,
    );
    expect(t.at(-1).reason).toBe('time-limit');
  });

  it('trains on the cpu backend too, to the same numbers as on wasm', () => {
    const runs = ['wasm', 'cpu'].map((backend) => {
      const run = join(tmp, `backend-${backend}`);
      return events(
        ok(train('--out', run, '--max-steps', '3', '--val-every', '0', '--backend', backend, '--json')).stdout,
      ).filter((e) => e.type === 'step');
    });
    runs[0].forEach((e, i) => expect(Math.abs(e.loss - runs[1][i].loss)).toBeLessThan(1e-4));
  });

  it('JSON lines with --text-field, and a tokenizer trained with spm_train', async () => {
    const jsonl = join(tmp, 'docs.jsonl');
    const lines = readFileSync(CORPUS, 'utf8').split('\n').filter(Boolean);
    writeFileSync(jsonl, lines.map((l) => JSON.stringify({body: l})).join('\n') + '\n');
    const run = join(tmp, 'jsonl');
    ok([
      'train',
      '--corpus',
      jsonl,
      '--text-field',
      'body',
      '--tokenizer',
      TOKENIZER,
      ...SMALL,
      '--out',
      run,
      '--max-steps',
      '2',
      '--json',
    ]);
    expect(JSON.parse(readFileSync(join(run, 'data', 'index.json'), 'utf8')).documents).toBe(lines.length);
    if (!findSpmTrain()) {
      console.warn(
        '[tests/commands/train] skipping tokenizer training: spm_train is not installed (apt-get install sentencepiece)',
      );
      return;
    }
    const spm = join(tmp, 'spm');
    ok(['train', '--corpus', CORPUS, '--vocab-size', '400', ...SMALL, '--out', spm, '--max-steps', '1', '--json']);
    const tok = await Tokenizer.load(join(spm, 'tokenizer.model'));
    expect(tok.vocabSize).toBe(400);
    expect([0, 1, 2, 3, 4, 5].map((i) => tok.idToPiece(i)).join(' ')).toBe('[PAD] [UNK] [START] [END] [SEP] [CLS]');
  });

  it('refuses bad requests with one line', () => {
    expect(oneLineError(pldr(['train', '--resume', tmp]))).toMatch(/not a training run/);
    expect(oneLineError(pldr(['train', '--corpus', CORPUS]))).toMatch(/--out/);
    expect(oneLineError(pldr(['train', '--out', join(tmp, 'x')]))).toMatch(/--corpus/);
    expect(oneLineError(pldr(train('--out', join(tmp, 'basic'))))).toMatch(/already holds a run/);
    expect(oneLineError(pldr(['train', '--corpus', join(tmp, 'missing.txt'), '--out', join(tmp, 'y')]))).toMatch(
      /missing\.txt/,
    );
    expect(oneLineError(pldr(train('--out', join(tmp, 'z1'), '--g-init', 'identity')))).toMatch(/--variant v510G/);
    expect(oneLineError(pldr(train('--out', join(tmp, 'z2'), '--time-limit', 'soon')))).toMatch(/--time-limit/);
    expect(oneLineError(pldr(train('--out', join(tmp, 'z3'), '--dag', '1,2')))).toMatch(/--dag/);
    expect(oneLineError(pldr(train('--out', join(tmp, 'z4'), '--batch-size', '1000', '--json')))).toMatch(
      /fewer than one update/,
    );
    // that run never trained, so the same --out may be used again, with settings that work
    ok(train('--out', join(tmp, 'z4'), '--max-steps', '1', '--json'));
    expect(existsSync(join(tmp, 'z1'))).toBe(false);
    // spm_train's own complaint, in one line
    if (findSpmTrain()) {
      // after the progress line saying a tokenizer is being trained
      const r = pldr(['train', '--corpus', CORPUS, '--vocab-size', '300', ...SMALL, '--out', join(tmp, 'z5')]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n').at(-1)).toMatch(
        /^error: spm_train failed: Vocabulary size is smaller than required_chars/,
      );
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('a resume too large for memory is told what a resume can change (the backend), not the flags it refuses', () => {
    const run = join(tmp, 'huge');
    mkdirSync(run);
    const config = {
      variant: 'v510',
      num_layers: 2,
      d_model: 64,
      num_heads: 2,
      dff: 170,
      num_reslayerA: 2,
      num_denseA: 2,
      A_dff: 85,
      input_vocab_size: 1000,
      max_seq_len: 4097,
    };
    const recipe = {lr: 1e-3, warmup: 0, totalSteps: 10, alpha: 0.1, weightDecay: 0.1, clip: 1, gradAccum: 1};
    const settings = {
      format: 'pldr-run',
      version: 1,
      corpus: [CORPUS],
      corpusOptions: {split: 'paragraphs', textField: 'text'},
      config,
      recipe,
      batchSize: 64,
      context: 4096,
      seed: 1,
      validation: 0.02,
      valEvery: 0,
      valBatches: 1,
      ckptEvery: 0,
      logEvery: 1,
    };
    writeFileSync(join(run, 'run.json'), JSON.stringify(settings));
    const line = oneLineError(pldr(['train', '--resume', run]));
    expect(line).toMatch(
      /over the 4 GiB heap of the wasm backend; a resume keeps the run's model, batch size and context: resume with --backend tensorflow, or start a new run \(--out\)/,
    );
    // what the advice asks of the resume itself, a resume takes
    expect(oneLineError(pldr(['train', '--resume', run, '--batch-size', '1']))).toMatch(
      /--batch-size does not apply to a resume/,
    );
  });
});
