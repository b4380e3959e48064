/**
 * PLDR-LLM v52 (rotate-half RoPE) through the commands: the style comes from the model's file and
 * survives convert (to .pth, back, to a Hugging Face snapshot), export-g --to-gi and training; generate gives fixtures/v52's greedy ids.
 */
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {readModelFiles, writeModelDir} from '../../src/core/io/model-files.js';
import {fixture, ROOT} from '../helpers.js';
import {TOKENIZER} from './models.js';
import {ok, okJson, oneLineError, pldr} from './run.js';

const v52 = JSON.parse(readFileSync(join(ROOT, 'fixtures', 'v52', 'expected.json'), 'utf8'));
const gen = v52.generation.gen;
const greedy = ['--ids', gen.prompt_ids.join(','), '--greedy', '--max-new-tokens', '16', '--json'];
let tmp: string;
let model: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pldr-v52-'));
  // tiny-public's weights as a v52 model directory: only config.json says rotate-half
  const files = readModelFiles(fixture('tiny-public').checkpoint);
  model = join(tmp, 'v52');
  writeModelDir(model, {...files, config: {...files.config, rope: 'neox'}});
});
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

describe('v52 models at the command line', () => {
  it('info names the style; generate gives the fixture ids in every cache mode; convert --to pth and back keeps the style', () => {
    expect(ok(['info', model]).stdout).toMatch(/rope\s+neox \(rotate-half, v52\)/);
    expect(ok(['info', fixture('tiny-public').checkpoint]).stdout).toMatch(/rope\s+reference \(interleaved pairs\)/);
    expect(okJson(['info', model, '--json']).config.rope).toBe('neox');
    for (const [mode, cache] of [
      ['nocache', 'none'],
      ['kv', 'kv'],
      ['kv_g', 'kv+g'],
      ['g', 'g'],
    ]) {
      expect(okJson(['generate', '--model', model, ...greedy, '--cache', cache]).generated, mode).toEqual(
        gen.modes[mode].new_ids,
      );
    }
    const pth = join(tmp, 'pth', 'model.pth');
    ok(['convert', model, pth, '--to', 'pth']);
    expect(okJson(['info', pth, '--json']).config.rope).toBe('neox');
    const back = join(tmp, 'back');
    ok(['convert', pth, back]);
    expect(okJson(['generate', '--model', back, ...greedy, '--cache', 'kv+g']).generated).toEqual(
      gen.modes.kv_g.new_ids,
    );
    // and as a Hugging Face snapshot: reference_rope false, read back as neox
    const hf = join(tmp, 'hf');
    ok(['convert', model, hf, '--to', 'hf']);
    expect(JSON.parse(readFileSync(join(hf, 'config.json'), 'utf8')).reference_rope).toBe(false);
    expect(ok(['info', hf]).stdout).toMatch(/rope\s+neox \(rotate-half, v52\)/);
    expect(okJson(['generate', '--model', hf, ...greedy, '--cache', 'none']).generated).toEqual(
      gen.modes.nocache.new_ids,
    );
  });

  it('export-g: the prompt G given back with --g-init reproduces kv+g in every mode; --to-gi keeps the style', () => {
    const g = join(tmp, 'g.safetensors');
    const gi = join(tmp, 'gi');
    ok(['export-g', model, '--ids', gen.prompt_ids.join(','), '--out', g, '--to-gi', gi]);
    for (const cache of ['none', 'kv', 'kv+g']) {
      expect(
        okJson(['generate', '--model', model, ...greedy, '--cache', cache, '--g-init', g]).generated,
        cache,
      ).toEqual(gen.modes.kv_g.new_ids);
    }
    expect(okJson(['info', gi, '--json']).config).toMatchObject({variant: 'v510G', rope: 'neox'});
    expect(okJson(['generate', '--model', gi, ...greedy, '--cache', 'kv']).generated).toEqual(gen.modes.kv_g.new_ids);
  });

  it('train --rope neox trains a rotate-half model that generate, eval and bench run; an unknown --rope is one error line', () => {
    const run = join(tmp, 'run');
    const small = [
      '--corpus',
      join(ROOT, 'fixtures', 'tokenizer', 'corpus.txt'),
      '--tokenizer',
      TOKENIZER,
      '--layers',
      '1',
      '--d-model',
      '16',
      '--heads',
      '2',
      '--context',
      '64',
      '--batch-size',
      '2',
      '--validation',
      '2',
    ];
    ok(['train', ...small, '--out', run, '--rope', 'neox', '--max-steps', '2', '--json']);
    expect(okJson(['info', join(run, 'checkpoint'), '--json']).config.rope).toBe('neox');
    const ckpt = join(run, 'checkpoint');
    expect(
      okJson(['generate', '--model', ckpt, '--ids', '5,6,7', '--greedy', '-n', '3', '--json']).generated.length,
    ).toBeGreaterThan(0);
    // eval and bench run it too (the checkpoint carries its tokenizer)
    const tasks = join(ROOT, 'fixtures', 'eval-tasks');
    expect(
      okJson(['eval', '--model', ckpt, '--data-dir', tasks, '--tasks', 'arc_easy', '--limit', '2']).settings.mode,
    ).toBe('full');
    ok([
      'bench',
      'paper',
      '--quick',
      '--model',
      ckpt,
      '--modes',
      'none,kv+g',
      '-r',
      '1',
      '-n',
      '2',
      '--warmup',
      '0',
      '--results-dir',
      tmp,
      '--out',
      'bench-v52',
    ]);
    expect(
      JSON.parse(readFileSync(join(tmp, 'bench-v52.json'), 'utf8')).scenarios.map((x: {mode: string}) => x.mode),
    ).toEqual(['none', 'kv+g']);
    expect(oneLineError(pldr(['train', ...small, '--out', join(tmp, 'bad'), '--rope', 'rotate-half']))).toMatch(/rope/);
  });
});
