/**
 * As real processes: absurd sizes in a config.json, an hparams.json beside a
 * .pth, a run's run.json or on the train command line end at once with one `error:` line naming
 * the field and the limit (they used to crawl into V8's heap limit for ~40 s, or print a raw
 * RangeError). The 30 s per-test timeout is what catches a crawl; no timing is asserted.
 */
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {makeModelDir, TOKENIZER} from './models.js';
import {ok, oneLineError, pldr} from './run.js';

const CORPUS = join(import.meta.dirname, '../../fixtures/tokenizer/corpus.txt');
const QUICK = 30_000;

let tmp: string;
let base: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pldr-sizes-'));
  base = makeModelDir(join(tmp, 'base'));
});
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

/** A copy of the tiny model whose config.json has `hparams` changed: the weights stay those of the tiny model. */
function modelWith(name: string, hparams: Record<string, unknown>): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  const config = JSON.parse(readFileSync(join(base, 'config.json'), 'utf8'));
  config.hparams = {...config.hparams, ...hparams};
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(join(dir, 'model.safetensors'), readFileSync(join(base, 'model.safetensors')));
  return dir;
}

describe('a config.json with an absurd size', () => {
  it.each([
    [
      'num_layers 1e6',
      {num_layers: 1e6},
      /config\.json: num_layers 1000000, num_reslayerA 2, num_denseA 2 make 53,000,005 tensors, over the 500,000 a model file can list .*: lower num_layers$/,
    ],
    [
      'num_layers 2^31',
      {num_layers: 2 ** 31},
      /config\.json: num_layers 2147483648, .* tensors, over the 500,000 a model file can list/,
    ],
    [
      'd_model 1e6',
      {d_model: 1e6},
      /config\.json: [\d,]+ parameters, over the 500,000,000 pldr can hold \(a model file is read whole, at most 2 GiB\): most come from num_layers 2 × d_model 1000000 squared, so lower those$/,
    ],
    [
      'input_vocab_size 1e300',
      {input_vocab_size: 1e300},
      /config\.json: input_vocab_size 1e\+300 is over 9007199254740991, the largest whole number JavaScript counts exactly$/,
    ],
    [
      'max_seq_len 1e9',
      {max_seq_len: 1e9},
      /config\.json: max_seq_len 1000000000 × d_k 8 = 8,000,000,000 RoPE table entries, over the 4,294,967,296 a JavaScript typed array holds: lower max_seq_len$/,
    ],
  ])('%s: info and generate end with one error line naming it', {timeout: 2 * QUICK}, (name, hparams, pattern) => {
    const dir = modelWith(name.replace(/\W/g, '_'), hparams);
    for (const args of [
      ['info', dir],
      ['generate', '--model', dir, '--ids', '1', '--max-new-tokens', '2'],
    ]) {
      const r = pldr(args);
      expect(r.code, args[0]).toBe(1);
      expect(oneLineError(r)).toMatch(pattern);
    }
  });

  it(
    'a RoPE table over the wasm heap: info describes the model, generate refuses it before allocating',
    {timeout: QUICK},
    () => {
      const dir = modelWith('P1e8', {max_seq_len: 1e8});
      expect(ok(['info', dir]).stdout).toMatch(/max_seq_len\s+100000000/);
      const r = pldr(['generate', '--model', dir, '--ids', '1', '--max-new-tokens', '2']);
      expect(r.code).toBe(1);
      expect(oneLineError(r)).toBe(
        'error: the model: loading it needs about 6.4 GB (0.1 MB for 27,400 parameters; 6.4 GB for the RoPE tables of max_seq_len 100000000), over the 4 GiB heap of the wasm backend: use a smaller model, or --backend tensorflow',
      );
    },
  );
});

describe('generate with a prompt too long for the backend', () => {
  it('a 20000-token prompt on a model with 65536 positions is refused before the prompt pass', {timeout: QUICK}, () => {
    const dir = modelWith('P64k', {max_seq_len: 65536});
    const r = pldr(['generate', '--model', dir, '--ids', Array(20000).fill('5').join(','), '--max-new-tokens', '2']);
    expect(r.code).toBe(1);
    expect(oneLineError(r)).toBe(
      'error: the model: generating needs about 28.8 GB (0.1 MB for 27,400 parameters; 28.8 GB for a 20000-token prompt pass and a KV cache of 20001 positions; 4.2 MB for the RoPE tables of max_seq_len 65536), over the 4 GiB heap of the wasm backend: use a smaller model, a shorter prompt or fewer new tokens, or --backend tensorflow',
    );
    expect(ok(['generate', '--model', dir, '--ids', '5,6,7', '--max-new-tokens', '3']).stdout).toMatch(
      /^5,6,7,\d+,\d+,\d+$/m,
    );
  });
});

describe('an hparams.json beside a reference .pth', () => {
  it('num_layers 1e6 is refused before the checkpoint is read', {timeout: QUICK}, () => {
    const dir = join(tmp, 'pth');
    mkdirSync(dir);
    const hp = JSON.parse(readFileSync(join(base, 'config.json'), 'utf8')).hparams;
    writeFileSync(join(dir, 'hparams.json'), JSON.stringify({...hp, num_layers: 1e6}));
    writeFileSync(join(dir, 'model.pth'), 'not read');
    for (const args of [
      ['info', join(dir, 'model.pth')],
      ['generate', '--model', join(dir, 'model.pth'), '--ids', '1'],
    ]) {
      expect(oneLineError(pldr(args))).toMatch(
        /^error: .*hparams\.json: num_layers 1000000, .* tensors, over the 500,000 a model file can list/,
      );
    }
  });
});

describe('train with absurd sizes', () => {
  const train = (out: string, ...flags: string[]) =>
    pldr(['train', '--corpus', CORPUS, '--tokenizer', TOKENIZER, '--out', out, '--max-steps', '1', ...flags]);

  it.each([
    [
      ['--layers', '100000000', '--d-model', '64', '--heads', '2'],
      /^error: the model: num_layers 100000000, num_reslayerA 2, num_denseA 2 make [\d,]+ tensors, over the 500,000 a model file can list .*: lower num_layers$/,
    ],
    [
      ['--d-model', '1000000'],
      /^error: the model: [\d,]+ parameters, over the 500,000,000 pldr can hold .*: most come from num_layers 2 × .*d_k 500000, so lower those$/,
    ],
    [
      ['--layers', '24', '--d-model', '1024', '--heads', '16', '--batch-size', '1', '--context', '8'],
      /^error: the model: training needs about 14\.0 GB \(13\.8 GB for 314,389,856 parameters, their gradients, AdamW's moments and a step's temporaries; [\d.]+ MB for the activations of 1 × 8 positions; .*\), over the 4 GiB heap of the wasm backend: use a smaller model, --batch-size or --context, or --backend tensorflow$/,
    ],
    [
      ['--context', '100000000'],
      /^error: the model: training needs about .* TB \(.*; 25\.6 GB for the RoPE tables of max_seq_len 100000001\), over the 4 GiB heap of the wasm backend/,
    ],
  ])('%j ends with one error line and no run folder', {timeout: QUICK}, (flags, pattern) => {
    const out = join(tmp, `run-${flags.join('_')}`);
    const r = train(out, ...flags);
    expect(r.code).toBe(1);
    expect(oneLineError(r)).toMatch(pattern);
    expect(existsSync(out)).toBe(false);
  });

  it(
    'a micro-batch over the wasm heap is refused before the corpus is read (it used to run out of wasm memory)',
    {timeout: QUICK},
    () => {
      const corpus = join(tmp, 'corpus3.txt');
      writeFileSync(corpus, readFileSync(CORPUS, 'utf8').repeat(3)); // 3 windows of 16385 tokens
      const out = join(tmp, 'run-batch');
      const r = pldr([
        'train',
        '--corpus',
        corpus,
        '--tokenizer',
        TOKENIZER,
        '--out',
        out,
        '--max-steps',
        '1',
        '--context',
        '16384',
        '--batch-size',
        '1',
        '--validation',
        '1',
      ]);
      expect(oneLineError(r)).toMatch(
        /^error: the model: training needs about 4\d\.\d GB \(.*; 4\d\.\d GB for the activations of 1 × 16384 positions; .*\), over the 4 GiB heap of the wasm backend: use a smaller model, --batch-size or --context, or --backend tensorflow$/,
      );
      expect(r.stderr).not.toMatch(/^data:/m);
      expect(existsSync(out)).toBe(false);
    },
  );

  it(
    'bench train --batch 100000 is refused before the model is built (it used to run out of wasm memory after ~50 s)',
    {timeout: QUICK},
    () => {
      const r = pldr([
        'bench',
        'train',
        '--preset',
        'tiny',
        '--batch',
        '100000',
        '--quick',
        '--results-dir',
        join(tmp, 'bench'),
      ]);
      expect(oneLineError(r)).toMatch(
        /^error: tiny: training needs about 5\.2 TB \(.*; 5\.2 TB for the activations of 100000 × 32 positions; .*\), over the 4 GiB heap of the wasm backend: use a smaller model, --batch or --context, or --backend tensorflow$/,
      );
    },
  );

  it('--resume of a run whose run.json was given an absurd size', {timeout: QUICK}, () => {
    const run = join(tmp, 'run-edited');
    mkdirSync(run);
    const config = {
      ...JSON.parse(readFileSync(join(base, 'config.json'), 'utf8')).hparams,
      variant: 'v510',
      num_layers: 1e6,
    };
    writeFileSync(join(run, 'run.json'), JSON.stringify({format: 'pldr-run', version: 1, config}));
    expect(oneLineError(pldr(['train', '--resume', run]))).toMatch(
      /^error: .*run\.json: num_layers 1000000, .* tensors, over the 500,000 a model file can list/,
    );
  });
});
