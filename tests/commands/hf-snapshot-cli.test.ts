/**
 * Hugging Face snapshots from outside, as a user runs them: a v51 snapshot written from the
 * reference's tiny-public checkpoint generates what the .pth does in every cache mode (ids exact,
 * log-probs within 1e-5), round trips are bit-identical, sharded and pytorch_model.bin snapshots
 * read the same tensors, and bad snapshots fail with one line each.
 */
import {spawnSync} from 'node:child_process';
import {copyFileSync, cpSync, mkdirSync, readFileSync, unlinkSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {beforeAll, describe, expect, it} from 'vitest';

import {readPth} from '../../src/core/io/pth.js';
import {readSafetensors, writeSafetensors} from '../../src/core/io/safetensors.js';
import {oneLineError, ok, okJson, pldr} from './run.js';
import {fixture, tempDir} from '../helpers.js';
import {expectSameBits} from '../core/io/hf/bits.js';

const LOGPROB_TOL = 1e-5;
const f = fixture('tiny-public');
const tmp = tempDir('hf-cli');
let snap: string;

beforeAll(() => {
  snap = join(tmp, 'snap');
  ok(['convert', f.checkpoint, snap, '--to', 'hf']);
});

/** A copy of the snapshot with `edit` applied to its config.json. */
function withConfig(name: string, edit: (c: Record<string, unknown>) => Record<string, unknown>): string {
  const dir = join(tmp, name);
  cpSync(snap, dir, {recursive: true});
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(edit(JSON.parse(readFileSync(file, 'utf8')))));
  return dir;
}

function generateIds(
  model: string,
  c: string,
  cache: string,
  extra: string[] = [],
): {ids: number[]; logprobs: number[]} {
  return okJson([
    'generate',
    '--model',
    model,
    '--ids',
    f.json.generation[c].prompt_ids.join(','),
    '--max-new-tokens',
    '16',
    '--cache',
    cache,
    ...extra,
  ]);
}

describe('a v51 snapshot generates what the .pth does', () => {
  it('in every cache mode: ids exact (and the reference ids), log-probs within 1e-5', () => {
    for (const [mode, cache] of [
      ['nocache', 'none'],
      ['kv', 'kv'],
      ['g', 'g'],
      ['kv_g', 'kv+g'],
    ]) {
      for (const c of ['gen', 'gen_stop']) {
        const fromPth = generateIds(f.checkpoint, c, cache, ['--greedy']);
        const fromHf = generateIds(snap, c, cache, ['--greedy']);
        expect(fromHf.ids, `${c} ${mode}`).toEqual(f.json.generation[c].modes[mode].ids);
        expect(fromHf.ids).toEqual(fromPth.ids);
        fromHf.logprobs.forEach((lp, i) =>
          expect(Math.abs(lp - fromPth.logprobs[i]), `${c} ${mode} step ${i}`).toBeLessThanOrEqual(LOGPROB_TOL),
        );
      }
    }
  });

  it("takes generation_config.json's do_sample false as greedy when no flag says otherwise, and says so", () => {
    const dir = join(tmp, 'gen-config');
    cpSync(snap, dir, {recursive: true});
    writeFileSync(
      join(dir, 'generation_config.json'),
      JSON.stringify({do_sample: false, max_new_tokens: 16, repetition_penalty: 1.3}),
    );
    const r = ok(['generate', '--model', dir, '--ids', f.json.generation.gen.prompt_ids.join(','), '--json']);
    expect(JSON.parse(r.stdout).ids).toEqual(f.json.generation.gen.modes.kv_g.ids);
    expect(r.stderr).toMatch(
      /generation_config\.json: using greedy \(do_sample false\), max_new_tokens 16 .*ignored repetition_penalty 1\.3/,
    );
    // a flag wins over the file
    const short = JSON.parse(
      ok(['generate', '--model', dir, '--ids', '5,6', '--max-new-tokens', '3', '--json']).stdout,
    );
    expect(short.generated).toHaveLength(3);
  });
});

describe('round trips', () => {
  it('.pth → hf → pldr → hf: tensors bit for bit, the two snapshots byte for byte', () => {
    const dir = join(tmp, 'rt-pldr');
    const again = join(tmp, 'rt-hf');
    ok(['convert', snap, dir, '--to', 'pldr']);
    ok(['convert', dir, again, '--to', 'hf']);
    const ref = readPth(f.checkpoint).stateDict;
    expectSameBits(ref, readSafetensors(join(snap, 'model.safetensors')).tensors);
    expectSameBits(ref, readSafetensors(join(dir, 'model.safetensors')).tensors);
    expect(readFileSync(join(again, 'model.safetensors')).equals(readFileSync(join(snap, 'model.safetensors')))).toBe(
      true,
    );
    expect(readFileSync(join(again, 'config.json'), 'utf8')).toBe(readFileSync(join(snap, 'config.json'), 'utf8'));
  });

  it('hf → pth: the reference state dict, keys in the reference order', () => {
    const out = join(tmp, 'back', 'tiny.pth');
    ok(['convert', snap, out, '--to', 'pth']);
    const back = readPth(out).stateDict;
    const ref = readPth(f.checkpoint).stateDict;
    expect([...back.keys()]).toEqual([...ref.keys()]);
    expectSameBits(ref, back);
  });

  it('the snapshot holds exactly the keys PldrllmForCausalLM has (the reference module names)', () => {
    const names = JSON.parse(readFileSync(join(f.dir, 'state_dict_keys.json'), 'utf8')).keys.map(
      (k: {key: string}) => k.key,
    );
    expect([...readSafetensors(join(snap, 'model.safetensors')).tensors.keys()].sort()).toEqual([...names].sort());
  });
});

describe('weights files', () => {
  /** The snapshot's tensors split into two shards with an index, as save_pretrained shards. */
  function sharded(name: string): string {
    const dir = join(tmp, name);
    mkdirSync(dir);
    for (const file of ['config.json', 'generation_config.json']) copyFileSync(join(snap, file), join(dir, file));
    const {tensors} = readSafetensors(join(snap, 'model.safetensors'));
    const names = [...tensors.keys()];
    const half = Math.ceil(names.length / 2);
    const shards = [names.slice(0, half), names.slice(half)];
    const weight_map: Record<string, string> = {};
    shards.forEach((keys, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      writeSafetensors(join(dir, file), new Map(keys.map((k) => [k, tensors.get(k)!])), {format: 'pt'});
      for (const k of keys) weight_map[k] = file;
    });
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({metadata: {total_size: 0}, weight_map}));
    return dir;
  }

  it('a sharded snapshot reads the same tensors and generates the same ids', () => {
    const dir = sharded('sharded');
    const out = join(tmp, 'sharded-back');
    ok(['convert', dir, out, '--to', 'pldr']);
    expectSameBits(readPth(f.checkpoint).stateDict, readSafetensors(join(out, 'model.safetensors')).tensors);
    expect(generateIds(dir, 'gen', 'kv+g', ['--greedy']).ids).toEqual(f.json.generation.gen.modes.kv_g.ids);
    const info = okJson(['info', dir]);
    expect(info.snapshot.weights).toEqual([
      'model.safetensors.index.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
    ]);
  });

  it('a missing shard, and an index that puts a key in the wrong shard: one line each', () => {
    const gone = sharded('shard-missing');
    unlinkSync(join(gone, 'model-00002-of-00002.safetensors'));
    expect(oneLineError(pldr(['convert', gone, join(tmp, 'x1'), '--to', 'pldr']))).toMatch(
      /names 1 shard\(s\) that are not in .*model-00002-of-00002\.safetensors/,
    );

    const wrong = sharded('shard-wrong');
    const indexFile = join(wrong, 'model.safetensors.index.json');
    const index = JSON.parse(readFileSync(indexFile, 'utf8'));
    index.weight_map['final_layer.weight'] = 'model-00001-of-00002.safetensors';
    writeFileSync(indexFile, JSON.stringify(index));
    expect(oneLineError(pldr(['convert', wrong, join(tmp, 'x2'), '--to', 'pldr']))).toMatch(
      /puts final_layer\.weight in model-00001-of-00002\.safetensors, which does not hold it/,
    );

    const outside = sharded('shard-outside');
    writeFileSync(
      join(outside, 'model.safetensors.index.json'),
      JSON.stringify({weight_map: {'final_layer.weight': '../model.safetensors'}}),
    );
    expect(oneLineError(pldr(['convert', outside, join(tmp, 'x3'), '--to', 'pldr']))).toMatch(
      /not a file name in the snapshot/,
    );
  });

  it('an older snapshot with pytorch_model.bin (a plain torch state dict)', (ctx) => {
    const dir = join(tmp, 'bin');
    mkdirSync(dir);
    copyFileSync(join(snap, 'config.json'), join(dir, 'config.json'));
    const py = spawnSync(
      '/usr/bin/python3',
      [
        '-c',
        'import sys, torch; c = torch.load(sys.argv[1]); torch.save(c["model_state_dict"], sys.argv[2])',
        f.checkpoint,
        join(dir, 'pytorch_model.bin'),
      ],
      {encoding: 'utf8'},
    );
    if (py.status !== 0) {
      ctx.skip(`python3 with torch is needed to write pytorch_model.bin: ${py.stderr.trim().split('\n').pop()}`);
      return;
    }
    expect(generateIds(dir, 'gen', 'kv', ['--greedy']).ids).toEqual(f.json.generation.gen.modes.kv.ids);
  });
});

describe('bad snapshots: one line each', () => {
  it('a config of another model_type', () => {
    const dir = withConfig('llama', (c) => ({...c, model_type: 'llama'}));
    expect(oneLineError(pldr(['info', dir]))).toMatch(/model_type is "llama", not "pldrllm"/);
    expect(oneLineError(pldr(['generate', '--model', dir, '--ids', '5']))).toMatch(/not a PLDR-LLM snapshot/);
  });

  it('shapes that disagree with the config', () => {
    // head_dim 4 with 4 heads is consistent in the config, but the weights have 2 heads of 8
    const heads = withConfig('heads', (c) => ({...c, num_attention_heads: 4, head_dim: 4}));
    expect(oneLineError(pldr(['generate', '--model', heads, '--ids', '5']))).toMatch(
      /shape mismatch: .*plgatt_layer\.Wlst expected \[4,4,4\], found \[2,8,8\]/,
    );
    const wide = withConfig('wide', (c) => ({...c, hidden_size: 32, head_dim: 16}));
    expect(oneLineError(pldr(['generate', '--model', wide, '--ids', '5']))).toMatch(
      /shape mismatch: decoder\.embedding\.weight expected \[97,32\], found \[97,16\]/,
    );
    const vocab = withConfig('vocab', (c) => ({...c, vocab_size: 98}));
    expect(oneLineError(pldr(['generate', '--model', vocab, '--ids', '5']))).toMatch(
      /shape mismatch: decoder\.embedding\.weight expected \[98,16\]/,
    );
  });

  it('a head_dim the config itself contradicts', () => {
    const dir = withConfig('head-dim', (c) => ({...c, head_dim: 4}));
    expect(oneLineError(pldr(['info', dir]))).toMatch(/head_dim 4 × num_attention_heads 2 = 8 is not hidden_size 16/);
  });

  it('no weights at all', () => {
    const dir = join(tmp, 'empty');
    mkdirSync(dir);
    copyFileSync(join(snap, 'config.json'), join(dir, 'config.json'));
    expect(oneLineError(pldr(['generate', '--model', dir, '--ids', '5']))).toMatch(
      /has a Hugging Face config\.json but no weights/,
    );
  });
});

describe('pldr info SNAPSHOT', () => {
  it('says what the snapshot is and which files it ignores', () => {
    const dir = withConfig('info', (c) => ({
      ...c,
      _name_or_path: 'fromthesky/PLDR-LLM-v51-110M-1',
      transformers_version: '4.56.0',
    }));
    writeFileSync(join(dir, 'modeling_pldrllm.py'), 'raise SystemExit("never run")\n');
    writeFileSync(join(dir, 'README.md'), '# model card\n');
    const out = okJson(['info', dir]);
    expect(out.snapshot).toMatchObject({
      format: 'Hugging Face pldrllm snapshot',
      name_or_path: 'fromthesky/PLDR-LLM-v51-110M-1',
      architecture: 'PldrllmForCausalLM',
      rope: 'reference',
      weights: ['model.safetensors'],
      ignored: ['README.md', 'modeling_pldrllm.py'],
    });
    expect(out.snapshot.family).toMatch(/^v51/);
    expect(out.params.total).toBe(13705);
    const text = ok(['info', dir]).stdout;
    expect(text).toMatch(/from\s+fromthesky\/PLDR-LLM-v51-110M-1/);
    expect(text).toMatch(/ignored\s+README\.md, modeling_pldrllm\.py/);
  });
});
