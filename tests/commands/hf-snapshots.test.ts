/**
 * Every command takes a Hugging Face snapshot folder where it takes a model: the ones no other test
 * covers. A tiny model directory with our tokenizer is written `pldr convert --to hf`; eval and
 * export-g must give the model directory's numbers exactly on its snapshot, and bench paper runs it.
 * (generate, info, convert: snapshot-cli.test.ts; train --init-from: init-from.test.ts; classify:
 * tests/heads/.) And convert --to pth of a v52 snapshot warns that the reference's code would lose its RoPE style.
 */
import {cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {readSafetensors} from '../../src/core/io/safetensors.js';
import {makeModelDir} from './models.js';
import {ok} from './run.js';
import {ROOT} from '../helpers.js';
import {expectSameBits} from '../core/io/hf/bits.js';

const TASKS = join(ROOT, 'fixtures', 'eval-tasks');
let tmp: string;
let model: string;
let snap: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pldr-hf-commands-'));
  model = makeModelDir(join(tmp, 'model'));
  snap = join(tmp, 'snap');
  ok(['convert', model, snap, '--to', 'hf']);
});
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

/** `pldr eval` of one model on a few of our task items: the results file with every request. */
function evalRun(m: string, name: string): any {
  const out = join(tmp, `${name}.json`);
  ok([
    'eval',
    '--model',
    m,
    '--data-dir',
    TASKS,
    '--tasks',
    'arc_easy,winogrande,truthfulqa_mc2',
    '--limit',
    '3',
    '--output',
    out,
    '--log-samples',
  ]);
  return JSON.parse(readFileSync(out, 'utf8'));
}

describe('commands on a snapshot folder', () => {
  it('eval: every per-request log-likelihood and every score as the model directory gives them, exactly', () => {
    const dir = evalRun(model, 'eval-dir');
    const hf = evalRun(snap, 'eval-hf');
    const requests = (r: any) =>
      r.samples.map((s: any) => ({
        task: s.task,
        doc: s.doc,
        choice: s.choice,
        ids: [...s.context_ids, ...s.continuation_ids],
        ll: s.ll,
        greedy: s.is_greedy,
      }));
    expect(hf.samples.length).toBeGreaterThan(10);
    // the snapshot's tokenizer files encode the texts as tokenizer.model did
    expect(requests(hf)).toEqual(requests(dir));
    expect(hf.results).toEqual(dir.results);
  });

  it('bench paper --quick -m runs the snapshot and writes its report', () => {
    ok([
      'bench',
      'paper',
      '--quick',
      '-m',
      snap,
      '--modes',
      'none,kv+g',
      '-r',
      '1',
      '-n',
      '1',
      '--warmup',
      '0',
      '--no-bandwidth',
      '--results-dir',
      tmp,
      '--out',
      'bench-hf',
    ]);
    const report = JSON.parse(readFileSync(join(tmp, 'bench-hf.json'), 'utf8'));
    expect(report.suite).toBe('paper');
    expect(report.models).toHaveLength(1);
    // its own weights and its tokenizer (the prompt was encoded, not the fixed ids)
    expect(report.models[0]).toMatchObject({random_weights: false, config: {num_layers: 2, d_model: 16, num_heads: 2}});
    expect(report.models[0].prompt_source).toBe('tokenizer');
    expect(report.scenarios.map((s: {mode: string}) => s.mode)).toEqual(['none', 'kv+g']);
    for (const ext of ['md', 'svg', 'png']) expect(existsSync(join(tmp, `bench-hf.${ext}`)), ext).toBe(true);
  });

  it("export-g: the snapshot's G is the model directory's, bit for bit", () => {
    const g = (m: string, name: string) => {
      const out = join(tmp, `${name}.safetensors`);
      ok(['export-g', m, '--prompt', 'The river runs', '--with-a', '--out', out]);
      return readSafetensors(out).tensors;
    };
    const fromDir = g(model, 'g-dir');
    expect(fromDir.size).toBeGreaterThan(0);
    expectSameBits(fromDir, g(snap, 'g-hf'));
  });
});

describe('convert --to pth of a v52 model', () => {
  it("warns in one line that the reference's code would run it with interleaved RoPE; a v51 model converts silently", () => {
    // the same snapshot with reference_rope false: PLDR-LLM v52
    const v52 = join(tmp, 'snap-v52');
    cpSync(snap, v52, {recursive: true});
    const file = join(v52, 'config.json');
    writeFileSync(file, JSON.stringify({...JSON.parse(readFileSync(file, 'utf8')), reference_rope: false}));
    const pth = join(tmp, 'pth-v52', 'model.pth');
    const r = ok(['convert', v52, pth, '--to', 'pth']);
    expect(r.stderr).toMatch(
      /^warning: this is a v52 model \(rope neox, rotate-half\): the reference's code ignores "rope" .* interleaved RoPE.* --to hf keeps it \(reference_rope false\)\n$/,
    );
    // pldr itself reads the style back from the hparams file, and --to hf writes it where Transformers reads it
    const hf = join(tmp, 'hf-v52');
    expect(ok(['convert', pth, hf, '--to', 'hf']).stderr).toBe('');
    expect(JSON.parse(readFileSync(join(hf, 'config.json'), 'utf8')).reference_rope).toBe(false);
    expect(ok(['convert', snap, join(tmp, 'pth-v51', 'model.pth'), '--to', 'pth']).stderr).toBe('');
  });
});
