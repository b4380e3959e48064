/** The engine checked from outside: `pldr generate --ids … --json` and `pldr convert`, as a user runs them. */
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {writeGListSafetensors} from '../../src/core/io/glist.js';
import {readPth} from '../../src/core/io/pth.js';
import {fixture} from '../helpers.js';
import {ok, pldr} from './run.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pldr-cli-'));
});
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

const json = (args: string[]) => JSON.parse(ok(args).stdout);

/** `pldr generate --json` of 16 greedy tokens after the prompt `ids` (the fixtures' setting), with `flags` added. */
const greedy = (model: string, ids: number[], ...flags: string[]) =>
  json([
    'generate',
    '--model',
    model,
    '--ids',
    ids.join(','),
    '--greedy',
    '--max-new-tokens',
    '16',
    ...flags,
    '--json',
  ]);

describe('pldr generate --ids', () => {
  const f = fixture('tiny-public');

  it('gives the reference ids in every cache mode, with logprobs and the stop reason', () => {
    for (const [mode, flag] of [
      ['nocache', 'none'],
      ['kv', 'kv'],
      ['kv_g', 'kv+g'],
      ['g', 'g'],
    ]) {
      for (const c of ['gen', 'gen_stop']) {
        const e = f.json.generation[c].modes[mode];
        const out = greedy(f.checkpoint, f.json.generation[c].prompt_ids, '--cache', flag);
        expect(out.ids, `${c} ${mode}`).toEqual(e.ids);
        expect(out.generated).toEqual(e.new_ids);
        expect(out.stop).toBe(e.stopped_on_end ? 'end' : 'length');
        expect(out.logprobs).toHaveLength(e.new_ids.length);
        for (const lp of out.logprobs) expect(lp).toBeLessThanOrEqual(0);
      }
    }
  });

  it('the empty prompt is fed as [END]', () => {
    const e = f.json.generation.gen_empty.modes.kv_g;
    const out = greedy(f.checkpoint, []);
    expect(out.ids).toEqual(e.ids);
  });

  it('a PLDRv51G checkpoint, and a model directory converted from it', () => {
    const g = fixture('tiny-G-random');
    const e = g.json.generation.gen.modes.kv;
    const prompt = g.json.generation.gen.prompt_ids;
    expect(greedy(g.checkpoint, prompt, '--cache', 'kv').ids).toEqual(e.ids);
    const dir = join(tmp, 'g-random');
    expect(pldr(['convert', g.checkpoint, dir]).code).toBe(0);
    expect(greedy(dir, prompt, '--cache', 'kv').ids).toEqual(e.ids);
  });

  it('--g-init reads a G file and every mode then agrees', () => {
    // tiny-public's own prompt G, from the kv_g fixture, given from outside
    const layers = [0, 1].map((l) => ({
      A_LM: {dtype: 'F32' as const, shape: [1, 2, 8, 8], data: f.t(`gen.kv_g.Gcache.layer.${l}.A_LM`)},
      G_LM: {dtype: 'F32' as const, shape: [1, 2, 8, 8], data: f.t(`gen.kv_g.Gcache.layer.${l}.G_LM`)},
    }));
    const file = join(tmp, 'g.safetensors');
    writeGListSafetensors(file, {kind: 'pairs', layers, metadata: {}});
    const outs = ['none', 'kv', 'kv+g'].map((cache) =>
      greedy(f.checkpoint, f.json.generation.gen.prompt_ids, '--cache', cache, '--g-init', file),
    );
    // With the prompt's own G given, every mode computes what kv+g computes.
    for (const o of outs) expect(o.ids).toEqual(f.json.generation.gen.modes.kv_g.ids);
  });

  it('same seed, same sampled ids', () => {
    const args = [
      'generate',
      '--model',
      f.checkpoint,
      '--ids',
      '5,17,42',
      '--temperature',
      '0.9',
      '--top-p',
      '0.95',
      '--seed',
      '11',
      '--max-new-tokens',
      '12',
      '--json',
    ];
    expect(json(args).ids).toEqual(json(args).ids);
  });
});

describe('pldr convert', () => {
  it('.pth → directory → .pth gives back the reference file byte for byte, with the hyper-parameters beside it', () => {
    const f = fixture('tiny-public');
    const dir = join(tmp, 'tp');
    const back = join(tmp, 'export', 'checkpoint.pth'); // the zip's folder is named after the file
    expect(pldr(['convert', f.checkpoint, dir]).code).toBe(0);
    const r = pldr(['convert', dir, back, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).written).toContain(join(tmp, 'export', 'checkpoint_hparams.json'));
    expect(readFileSync(back).equals(readFileSync(f.checkpoint))).toBe(true);
    const a = readPth(f.checkpoint).stateDict;
    const b = readPth(back).stateDict;
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, t] of a) {
      expect(b.get(k)!.shape).toEqual(t.shape);
      const bytes = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
      expect(bytes(b.get(k)!.data as Float32Array).equals(bytes(t.data as Float32Array)), k).toBe(true);
    }
    // and the exported checkpoint generates like the original
    const e = f.json.generation.gen.modes.kv;
    expect(greedy(back, f.json.generation.gen.prompt_ids, '--cache', 'kv').ids).toEqual(e.ids);
  });

  it('--help shows examples for every command', () => {
    for (const cmd of ['generate', 'convert', 'info']) {
      const r = pldr([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/EXAMPLES/);
    }
    expect(pldr(['--help']).stdout).toMatch(/generate/);
  });
});
