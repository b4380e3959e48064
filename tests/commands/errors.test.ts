/**
 * Bad input gets one clear line and a non-zero exit, never a stack trace.
 */
import {copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {readSafetensors, writeSafetensors} from '../../src/core/io/safetensors.js';
import {fixture} from '../helpers.js';
import {oneLineError, pldr} from './run.js';

const f = fixture('tiny-public');
let tmp: string;
let dir: string; // a good model directory converted from tiny-public

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pldr-bad-'));
  dir = join(tmp, 'good');
  const r = pldr(['convert', f.checkpoint, dir]);
  expect(r.code, r.stderr).toBe(0);
});
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

/** A copy of the good model directory with model.safetensors replaced. */
function variantDir(name: string, edit: (tensors: ReturnType<typeof readSafetensors>['tensors']) => void): string {
  const d = join(tmp, name);
  mkdirSync(d, {recursive: true});
  copyFileSync(join(dir, 'config.json'), join(d, 'config.json'));
  const {tensors, metadata} = readSafetensors(join(dir, 'model.safetensors'));
  edit(tensors);
  writeSafetensors(join(d, 'model.safetensors'), tensors, metadata);
  return d;
}

const gen = (model: string, ...rest: string[]) =>
  pldr(['generate', '--model', model, '--ids', '5,17,42', '--greedy', '--max-new-tokens', '4', ...rest]);

describe('bad input: one line, non-zero exit', () => {
  it('an unknown backend (flag and PLDR_BACKEND)', () => {
    expect(oneLineError(gen(f.checkpoint, '--backend', 'metal'))).toMatch(/metal/);
    expect(oneLineError(pldr(['generate', '--model', f.checkpoint, '--ids', '5'], {PLDR_BACKEND: 'metal'}))).toMatch(
      /metal/,
    );
  });

  it('an opt-in backend that is not installed names the install command', () => {
    expect(oneLineError(gen(f.checkpoint, '--backend', 'tensorflow'))).toMatch(
      /npm install @tensorflow\/tfjs-node@4\.22\.0/,
    );
    expect(oneLineError(gen(f.checkpoint, '--backend', 'tensorflow-gpu'))).toMatch(
      /npm install @tensorflow\/tfjs-node-gpu@4\.22\.0/,
    );
  });

  it('a truncated safetensors file', () => {
    const d = join(tmp, 'truncated');
    mkdirSync(d);
    copyFileSync(join(dir, 'config.json'), join(d, 'config.json'));
    const bytes = readFileSync(join(dir, 'model.safetensors'));
    writeFileSync(join(d, 'model.safetensors'), bytes.subarray(0, bytes.length - 100));
    expect(oneLineError(gen(d))).toMatch(/model\.safetensors/);
  });

  it('a corrupt safetensors header', () => {
    const d = join(tmp, 'corrupt');
    mkdirSync(d);
    copyFileSync(join(dir, 'config.json'), join(d, 'config.json'));
    const bytes = Buffer.from(readFileSync(join(dir, 'model.safetensors')));
    bytes.write('!!!!', 10, 'latin1');
    writeFileSync(join(d, 'model.safetensors'), bytes);
    expect(oneLineError(gen(d))).toMatch(/model\.safetensors/);
  });

  it('a truncated .pth and a .pth that is not a zip', () => {
    const bytes = readFileSync(f.checkpoint);
    const p1 = join(tmp, 'trunc.pth');
    writeFileSync(p1, bytes.subarray(0, 5000));
    copyFileSync(join(f.dir, 'hparams.json'), join(tmp, 'hparams.json'));
    expect(oneLineError(gen(p1))).toMatch(/trunc\.pth/);
    const p2 = join(tmp, 'garbage.pth');
    writeFileSync(p2, 'this is not a checkpoint');
    expect(oneLineError(gen(p2))).toMatch(/garbage\.pth/);
  });

  it('missing and unexpected keys are named', () => {
    const missing = variantDir('missing', (t) => t.delete('decoder.dec_layers.1.mha1.wv.bias'));
    expect(oneLineError(gen(missing))).toMatch(/decoder\.dec_layers\.1\.mha1\.wv\.bias/);
    const extra = variantDir('extra', (t) =>
      t.set('decoder.extra.weight', {dtype: 'F32', shape: [2], data: new Float32Array(2)}),
    );
    expect(oneLineError(gen(extra))).toMatch(/decoder\.extra\.weight/);
  });

  it('tensors whose shapes disagree with the hyper-parameters', () => {
    const d = variantDir('shape', (t) =>
      t.set('final_layer.bias', {dtype: 'F32', shape: [96], data: new Float32Array(96)}),
    );
    expect(oneLineError(gen(d))).toMatch(/final_layer\.bias.*97|97.*final_layer\.bias/);
    // hparams that disagree with a good checkpoint
    const hp = JSON.parse(readFileSync(join(f.dir, 'hparams.json'), 'utf8'));
    hp.dff = 40;
    writeFileSync(join(tmp, 'bad_hparams.json'), JSON.stringify(hp));
    expect(oneLineError(gen(f.checkpoint, '--hparams', join(tmp, 'bad_hparams.json')))).toMatch(/ffn/);
  });

  it('token ids outside the vocabulary, a prompt longer than max_seq_len, a generation past it', () => {
    expect(oneLineError(pldr(['generate', '--model', f.checkpoint, '--ids', '5,97', '--greedy']))).toMatch(
      /97.*vocabulary/,
    );
    const long = Array.from({length: 65}, (_, i) => 5 + (i % 80)).join(',');
    expect(oneLineError(pldr(['generate', '--model', f.checkpoint, '--ids', long, '--greedy']))).toMatch(
      /max_seq_len 64/,
    );
    expect(
      oneLineError(pldr(['generate', '--model', f.checkpoint, '--ids', '5,6,7', '--max-new-tokens', '63'])),
    ).toMatch(/--max-new-tokens 62/);
    expect(oneLineError(pldr(['generate', '--model', f.checkpoint, '--ids', '5,x']))).toMatch(/--ids/);
  });

  it('out-of-range sampling settings', () => {
    expect(oneLineError(pldr(['generate', '--model', f.checkpoint, '--ids', '5', '--temperature', '0']))).toMatch(
      /temperature/,
    );
    expect(oneLineError(pldr(['generate', '--model', f.checkpoint, '--ids', '5', '--top-p', '1.5']))).toMatch(/top_p/);
    expect(oneLineError(pldr(['generate', '--model', f.checkpoint, '--ids', '5', '--top-k', '-1']))).toMatch(
      /top_k|top-k/,
    );
  });

  it('a model path that does not exist, and a .pth without hyper-parameters', () => {
    expect(oneLineError(gen(join(tmp, 'nope')))).toMatch(/nope/);
    const lonely = join(tmp, 'alone');
    mkdirSync(lonely);
    copyFileSync(f.checkpoint, join(lonely, 'model.pth'));
    expect(oneLineError(gen(join(lonely, 'model.pth')))).toMatch(/--hparams/);
  });
});

describe('with --json, an error is one JSON object on stderr', () => {
  const jsonError = (r: ReturnType<typeof pldr>) => {
    expect(r.stdout).toBe('');
    expect(r.stderr.endsWith('\n') && r.stderr.trim().split('\n')).toHaveLength(1);
    return JSON.parse(r.stderr);
  };

  it('a PldrError: {"error", "exit": 1}, exit code 1', () => {
    const r = gen(join(tmp, 'nope'), '--json');
    expect(r.code).toBe(1);
    const e = jsonError(r);
    expect(e).toEqual({error: expect.stringMatching(/nope/), exit: 1});
    // the same message as the plain line
    expect(oneLineError(gen(join(tmp, 'nope')))).toBe(`error: ${e.error}`);
  });

  it('a usage error: {"error", "exit": 2}, exit code 2', () => {
    for (const args of [
      ['info', '--preset', 'tiny', '--bogus', '--json'],
      ['generate', '--cache', 'sideways', '--json'],
      ['bogus', '--json'],
    ]) {
      const r = pldr(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(jsonError(r)).toEqual({error: expect.stringMatching(/see --help/), exit: 2});
    }
  });

  it('an unknown command is a usage error like any other: one line, exit 2', () => {
    const r = pldr(['bogus']);
    expect(r.code).toBe(2);
    expect(oneLineError(r)).toBe('error: command bogus not found (see --help)');
  });

  it('a --json after `--` is an argument, not the flag: the plain line', () => {
    expect(oneLineError(pldr(['generate', '--model', join(tmp, 'nope'), '--', '--json']))).toMatch(/^error: /);
  });
});
