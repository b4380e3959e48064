/**
 * pldr train --init-from: a run that starts from a model's weights, here a Hugging Face snapshot
 * written from a small trained run. The first update runs at lr 0, so after it the checkpoint must
 * hold the snapshot's tensors bit for bit; a generate on the snapshot uses its tokenizer files.
 */
import {cpSync, readFileSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {beforeAll, describe, expect, it} from 'vitest';

import {readSafetensors} from '../../src/core/io/safetensors.js';
import {TOKENIZER} from './models.js';
import {ok, okJson, oneLineError, pldr} from './run.js';
import {ROOT, tempDir} from '../helpers.js';
import {expectSameBits} from '../core/io/hf/bits.js';

const CORPUS = join(ROOT, 'fixtures', 'tokenizer', 'corpus.txt');
const RUN = ['--corpus', CORPUS, '--batch-size', '2', '--warmup', '2', '--log-every', '1', '--json'];
const tmp = tempDir('hf-init');
let snap: string;

beforeAll(() => {
  const first = join(tmp, 'first');
  const model = '--context 16 --layers 1 --d-model 16 --heads 2 --reslayers 1 --dense-a 1 --max-steps 2'.split(' ');
  ok(['train', ...RUN, ...model, '--tokenizer', TOKENIZER, '--out', first]);
  snap = join(tmp, 'snap');
  ok(['convert', join(first, 'checkpoint'), snap, '--to', 'hf']);
});

describe('pldr train --init-from', () => {
  it("starts from a snapshot's weights and tokenizer", () => {
    const tensors = (file: string) => readSafetensors(file).tensors;
    const run = join(tmp, 'tuned');
    ok(['train', ...RUN, '--context', '16', '--init-from', snap, '--out', run, '--max-steps', '1']);
    expectSameBits(tensors(join(snap, 'model.safetensors')), tensors(join(run, 'checkpoint', 'model.safetensors')));
    expect(readFileSync(join(run, 'tokenizer.model')).equals(readFileSync(join(snap, 'tokenizer.model')))).toBe(true);
    // and it trains on from there
    const ev = ok(['train', '--resume', run, '--max-steps', '3', '--json'])
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(ev.filter((e) => e.type === 'step').map((e) => e.update)).toEqual([2, 3]);
  });

  it('the snapshot carries the tokenizer files and generates from text', () => {
    expect(JSON.parse(readFileSync(join(snap, 'tokenizer_config.json'), 'utf8'))).toMatchObject({
      add_bos_token: false,
      add_eos_token: false,
      tokenizer_class: 'PldrllmTokenizer',
    });
    const out = okJson(['generate', '--model', snap, 'The river', '--greedy', '-n', '3']);
    expect(out.generated.length).toBeGreaterThan(0);
    const prompt = out.ids.slice(0, out.ids.length - out.generated.length);
    // add_bos_token true: the bos piece ([START], id 2) comes first, then the same text ids
    const withBos = join(tmp, 'with-bos');
    cpSync(snap, withBos, {recursive: true});
    const file = join(withBos, 'tokenizer_config.json');
    writeFileSync(file, JSON.stringify({...JSON.parse(readFileSync(file, 'utf8')), add_bos_token: true}));
    const bos = okJson(['generate', '--model', withBos, 'The river', '--greedy', '-n', '3']);
    expect(bos.ids.slice(0, prompt.length + 1)).toEqual([2, ...prompt]);
  });

  it('refuses flags that would reshape the model, and a context beyond its positions', () => {
    expect(
      oneLineError(
        pldr(['train', ...RUN, '--context', '16', '--init-from', snap, '--layers', '3', '--out', join(tmp, 'x')]),
      ),
    ).toMatch(/--layers does not apply with --init-from/);
    expect(
      oneLineError(pldr(['train', ...RUN, '--init-from', snap, '--context', '64', '--out', join(tmp, 'y')])),
    ).toMatch(/--context 64 needs 65 positions but the model was built for 17/);
  });
});
