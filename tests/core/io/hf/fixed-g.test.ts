/**
 * Fixed-G snapshots (config.json custom_G_type identity / random / external): G_LM lives in the
 * persistent buffer decoder.past_G_values [N, 3, 1, H, d_k, d_k] (slot 2; slots 0 and 1 are A and
 * A_LM, unused for a fixed G) beside decoder.past_G_values_status [N] (bool).
 *
 * Compared: a snapshot written from the reference's tiny-G-* checkpoints ≡ the checkpoint itself
 * (G bit for bit; generate --ids greedy: ids exact — and equal to the reference's own ids —,
 * log-probs within 1e-5) in both of a v510G model's cache modes; a hand-made 'random' snapshot with
 * junk in the unused slots ≡ the same; export-g / --g-init / --to-gi interoperate with snapshots.
 */
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {initBackend} from '../../../../src/core/backend.js';
import {type CacheMode, generate} from '../../../../src/core/generate.js';
import {HF_G_STATUS, HF_G_VALUES} from '../../../../src/core/io/hf/config.js';
import {readGList} from '../../../../src/core/io/glist.js';
import {instantiate, readModelFiles, writeHfModelDir} from '../../../../src/core/io/model-files.js';
import {readSafetensors, writeSafetensors} from '../../../../src/core/io/safetensors.js';
import {oneLineError, ok, pldr} from '../../../commands/run.js';
import {fixture, type FixtureName} from '../../../helpers.js';
import {expectSameBits} from './bits.js';

let tmp: string;
beforeAll(async () => {
  await initBackend('wasm');
  tmp = mkdtempSync(join(tmpdir(), 'pldr-fixed-g-'));
});
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

const LOGPROB_TOL = 1e-5;

interface Run {
  ids: number[];
  logprobs: number[];
}

/** generate --ids PROMPT --greedy --max-new-tokens 16 on the command line (for what must go through the CLI). */
function genCli(model: string, prompt: number[], cache: string, extra: string[] = []): Run {
  return JSON.parse(
    ok([
      'generate',
      '--model',
      model,
      '--ids',
      prompt.join(','),
      '--greedy',
      '--max-new-tokens',
      '16',
      '--cache',
      cache,
      '--json',
      ...extra,
    ]).stdout,
  );
}

/** The same, in this process: the model read as the commands read it (faster than a CLI run). */
async function gen(model: string, prompt: number[], cache: CacheMode, gInit?: string): Promise<Run> {
  const m = instantiate(readModelFiles(model));
  try {
    return await generate(m, prompt, {
      maxNewTokens: 16,
      greedy: true,
      cache,
      gInit: gInit ? readGList(gInit) : undefined,
    });
  } finally {
    m.dispose();
  }
}

function expectSameRun(a: Run, b: Run, what: string): void {
  expect(a.ids, what).toEqual(b.ids);
  expect(a.logprobs.length).toBe(b.logprobs.length);
  a.logprobs.forEach((lp, i) =>
    expect(Math.abs(lp - b.logprobs[i]!), `${what}: log-prob ${i}`).toBeLessThanOrEqual(LOGPROB_TOL),
  );
}

function configOf(dir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
}

for (const name of ['tiny-G-random', 'tiny-G-identity'] as FixtureName[]) {
  describe(`a fixed-G snapshot of ${name}`, () => {
    const f = fixture(name);
    let snap: string;
    beforeAll(() => {
      snap = join(tmp, name);
      writeHfModelDir(snap, readModelFiles(f.checkpoint));
    });

    it('stores G in slot 2 of past_G_values, zeros in slots 0 and 1, every status true', () => {
      const {tensors} = readSafetensors(join(snap, 'model.safetensors'));
      const values = tensors.get(HF_G_VALUES)!;
      expect(values.dtype).toBe('F32');
      expect(values.shape).toEqual([2, 3, 1, 2, 8, 8]);
      const status = tensors.get(HF_G_STATUS)!;
      expect(status.dtype).toBe('BOOL');
      expect(Array.from(status.data as Uint8Array)).toEqual([1, 1]);
      const G = readGList(join(f.dir, 'G_LM.safetensors')).layers.map((l) => l.G_LM.data as Float32Array);
      const v = values.data as Float32Array;
      const per = 2 * 8 * 8;
      for (let l = 0; l < 2; l++) {
        expect(v.subarray((l * 3 + 0) * per, (l * 3 + 2) * per).every((x) => x === 0)).toBe(true);
        expect(Array.from(v.subarray((l * 3 + 2) * per, (l * 3 + 3) * per))).toEqual(Array.from(G[l]!));
      }
      // the model has no metric learner or PLGA weights
      expect([...tensors.keys()].some((k) => /plgatt_layer|reslayerAs|mha1\.layernorm1/.test(k))).toBe(false);
    });

    it('reads back as the v510G model with that G, bit for bit', () => {
      const back = readModelFiles(snap);
      const orig = readModelFiles(f.checkpoint);
      expect(back.config.variant).toBe('v510G');
      back.G!.forEach((g, l) =>
        expect(Array.from(g.data as Float32Array)).toEqual(Array.from(orig.G![l]!.data as Float32Array)),
      );
      for (const [k, t] of orig.weights)
        expect(Array.from(back.weights.get(k)!.data as Float32Array), k).toEqual(Array.from(t.data as Float32Array));
    });

    it('generates what the checkpoint generates, and the reference ids, in both cache modes', async () => {
      const prompt = f.json.generation.gen.prompt_ids as number[];
      for (const [mode, cache] of [
        ['nocache', 'none'],
        ['kv', 'kv'],
      ] as const) {
        const fromSnap = await gen(snap, prompt, cache);
        expect(fromSnap.ids, mode).toEqual(f.json.generation.gen.modes[mode].ids);
        expectSameRun(fromSnap, await gen(f.checkpoint, prompt, cache), `${name} ${mode}`);
      }
      expectSameRun(genCli(snap, prompt, 'kv'), await gen(f.checkpoint, prompt, 'kv'), `${name} kv, pldr generate`);
    });

    it('export-g of the snapshot gives its G; --g-init with it changes nothing', async () => {
      const file = join(tmp, `${name}-g.safetensors`);
      ok(['export-g', snap, '--out', file]);
      const exported = readGList(file).layers.map((l) => Array.from(l.G_LM.data as Float32Array));
      const G = readModelFiles(snap).G!.map((g) => Array.from(g.data as Float32Array));
      expect(exported).toEqual(G);
      const prompt = f.json.generation.gen.prompt_ids as number[];
      expectSameRun(await gen(snap, prompt, 'kv', file), await gen(snap, prompt, 'kv'), `${name} --g-init`);
    });
  });
}

describe('custom_G_type', () => {
  it('is written as identity for an identity G, external for a G from elsewhere', () => {
    expect(configOf(join(tmp, 'tiny-G-identity')).custom_G_type).toBe('identity');
    expect(configOf(join(tmp, 'tiny-G-random')).custom_G_type).toBe('external');
  });

  it("a 'random' snapshot with junk in the unused A / A_LM slots ≡ the same G (only slot 2 is read)", async () => {
    const f = fixture('tiny-G-random');
    const src = join(tmp, 'tiny-G-random');
    const dir = join(tmp, 'random-junk');
    mkdirSync(dir);
    const config = {...configOf(src), custom_G_type: 'random'};
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
    const {tensors, metadata} = readSafetensors(join(src, 'model.safetensors'));
    const v = tensors.get(HF_G_VALUES)!.data as Float32Array;
    const per = 2 * 8 * 8;
    for (let l = 0; l < 2; l++) for (let i = 0; i < 2 * per; i++) v[l * 3 * per + i] = Math.sin(i + l);
    writeSafetensors(join(dir, 'model.safetensors'), tensors, metadata);
    const prompt = f.json.generation.gen.prompt_ids as number[];
    expectSameRun(await gen(dir, prompt, 'kv'), await gen(f.checkpoint, prompt, 'kv'), 'random with junk slots');
  });
});

describe('fixed-G round trips', () => {
  it('snapshot -> convert --to hf keeps custom_G_type and every tensor bit for bit (identity, random, external)', () => {
    const src = join(tmp, 'tiny-G-random');
    const random = join(tmp, 'random-type');
    mkdirSync(random);
    writeFileSync(join(random, 'config.json'), JSON.stringify({...configOf(src), custom_G_type: 'random'}, null, 2));
    writeFileSync(join(random, 'model.safetensors'), readFileSync(join(src, 'model.safetensors')));
    for (const dir of [join(tmp, 'tiny-G-identity'), src, random]) {
      const out = `${dir}-again`;
      ok(['convert', dir, out, '--to', 'hf']);
      expect(configOf(out).custom_G_type).toBe(configOf(dir).custom_G_type);
      const a = readSafetensors(join(dir, 'model.safetensors')).tensors;
      const b = readSafetensors(join(out, 'model.safetensors')).tensors;
      expect([...b.keys()]).toEqual([...a.keys()]); // laid out as save_pretrained does, both times
      expectSameBits(a, b);
    }
  });
});

describe('Gi through the Hugging Face format', () => {
  it('export-g --to-gi from a v51 snapshot, converted to hf: an external-G snapshot that generates as the Gi model and as --g-init', async () => {
    const f = fixture('tiny-public');
    const v51 = join(tmp, 'v51');
    writeHfModelDir(v51, readModelFiles(f.checkpoint));
    const gFile = join(tmp, 'v51-g.safetensors');
    const gi = join(tmp, 'v51-gi');
    ok(['export-g', v51, '--out', gFile, '--to-gi', gi]);
    const giHf = join(tmp, 'v51-gi-hf');
    ok(['convert', gi, giHf, '--to', 'hf']);
    expect(configOf(giHf).custom_G_type).toBe('external');
    const prompt = f.json.generation.gen.prompt_ids as number[];
    const fromGi = await gen(gi, prompt, 'kv');
    expectSameRun(await gen(giHf, prompt, 'kv'), fromGi, 'Gi snapshot vs Gi folder');
    expectSameRun(await gen(giHf, prompt, 'none'), await gen(gi, prompt, 'none'), 'Gi snapshot vs Gi folder, no cache');
    expectSameRun(
      genCli(v51, prompt, 'kv', ['--g-init', gFile]),
      fromGi,
      'v51 snapshot with pldr generate --g-init vs Gi',
    );
  });
});

describe('broken fixed-G snapshots: one line each', () => {
  function broken(name: string, change: (config: Record<string, unknown>, tensors: Map<string, any>) => void): string {
    const src = join(tmp, 'tiny-G-random');
    const dir = join(tmp, name);
    mkdirSync(dir);
    const config = configOf(src);
    const {tensors, metadata} = readSafetensors(join(src, 'model.safetensors'));
    change(config, tensors);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
    writeSafetensors(join(dir, 'model.safetensors'), tensors, metadata);
    return dir;
  }
  const run = (dir: string) =>
    oneLineError(pldr(['generate', '--model', dir, '--ids', '5,6', '--greedy', '--max-new-tokens', '2']));

  it('an unknown custom_G_type', () => {
    expect(run(broken('g-unknown', (c) => (c.custom_G_type = 'learned')))).toMatch(
      /custom_G_type "learned" is unknown/,
    );
  });
  it('no past_G_values', () => {
    expect(run(broken('g-missing', (_, t) => t.delete(HF_G_VALUES)))).toMatch(/past_G_values/);
  });
  it('a past_G_values whose shape disagrees with the config', () => {
    expect(run(broken('g-shape', (c) => (c.num_hidden_layers = 3)))).toMatch(
      /past_G_values is F32 \[2,3,1,2,8,8\], expected F32 \[3,3,1,2,8,8\]/,
    );
    expect(
      run(
        broken('g-shape-2', (_, t) => {
          const v = t.get(HF_G_VALUES);
          t.set(HF_G_VALUES, {...v, shape: [2, 3, 2, 8, 8], data: v.data});
        }),
      ),
    ).toMatch(/past_G_values is F32 \[2,3,2,8,8\], expected/);
  });
});
