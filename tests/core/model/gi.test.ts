/**
 * External G and PLDRv51Gi (docs/spec.md §4.3, §4.4 items 3 and 7, §5.5, A20): a Gi model built from
 * tiny-public and its empty-prompt G computes the same function as tiny-public given that G.
 */
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import * as tf from '@tensorflow/tfjs';
import {beforeAll, describe, expect, it} from 'vitest';

import {initBackend} from '../../../src/core/backend.js';
import {inferDeductive, gListOf} from '../../../src/core/export-g.js';
import {generate, promptIds} from '../../../src/core/generate.js';
import type {PldrModel} from '../../../src/core/model/pldr.js';

/** The reference's generate_Glst: the G-cache of one call on the (empty) prompt. */
const generateGList = async (model: PldrModel, prompt: number[] = []) =>
  gListOf(inferDeductive(model, promptIds(prompt)), {withAP: model.isDag});
import {instantiate, readModelFiles, toGi, writeModelDir} from '../../../src/core/io/model-files.js';
import {fixture, maxAbsDiff} from '../../helpers.js';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('PLDRv51Gi and external G', () => {
  const f = fixture('tiny-public');
  const prompt = f.json.generation.gen.prompt_ids as number[];
  const greedy = {maxNewTokens: 16, greedy: true, keepLogits: true} as const;

  it('a Gi model equals its source given the same G (ids exact, logits ≤ 1e-6); its keys are the v510G key set', async () => {
    const files = readModelFiles(f.checkpoint);
    const source = instantiate(files);
    const G = await generateGList(source);
    expect(G.kind).toBe('pairs');
    expect(G.layers[0].G_LM.shape).toEqual([1, 2, 8, 8]);

    const gi = toGi(
      files,
      G.layers.map((l) => l.G_LM),
      'tiny-public (empty prompt)',
    );
    const giKeys = fixture('tiny-G-identity');
    const expectedKeys = (
      await import(join(giKeys.dir, 'state_dict_keys.json'), {with: {type: 'json'}})
    ).default.keys.map((k: {key: string}) => k.key);
    expect([...gi.weights.keys()]).toEqual(expectedKeys);

    const giModel = instantiate(gi);
    const a = await generate(giModel, prompt, {...greedy, cache: 'kv'});
    const b = await generate(source, prompt, {...greedy, cache: 'kv', gInit: G});
    expect(a.ids).toEqual(b.ids);
    a.logits!.forEach((z, i) => expect(maxAbsDiff(z, b.logits![i]), `step ${i}`).toBeLessThanOrEqual(1e-6));

    // and through a model directory on disk
    const dir = mkdtempSync(join(tmpdir(), 'pldr-gi-'));
    try {
      writeModelDir(join(dir, 'gi'), gi);
      const back = instantiate(readModelFiles(join(dir, 'gi')));
      const c = await generate(back, prompt, {...greedy, cache: 'none'});
      expect(c.ids).toEqual(a.ids);
      back.dispose();
    } finally {
      rmSync(dir, {recursive: true, force: true});
    }
    giModel.dispose();
    source.dispose();
  });

  it('an external G gives the same function with and without the KV-cache, whatever the G flag', async () => {
    const model = instantiate(readModelFiles(f.checkpoint));
    const G = await generateGList(model, [5, 6, 7]);
    const before = tf.memory().numTensors;
    const runs = [];
    for (const cache of ['none', 'kv', 'g', 'kv+g'] as const)
      runs.push(await generate(model, prompt, {...greedy, cache, gInit: G}));
    expect(tf.memory().numTensors).toBe(before);
    for (const r of runs.slice(1)) {
      expect(r.ids).toEqual(runs[0].ids);
      r.logits!.forEach((z, i) => expect(maxAbsDiff(z, runs[0].logits![i]), `step ${i}`).toBeLessThanOrEqual(1e-6));
    }
    // ... and it is really used: a different G changes the logits
    const other = await generate(model, prompt, {...greedy, cache: 'kv', gInit: await generateGList(model, [9])});
    expect(maxAbsDiff(other.logits![0], runs[0].logits![0])).toBeGreaterThan(1e-3);
    model.dispose();
  });
});

describe('the DAG variant holds G-cache triples', () => {
  it('kv and kv+g stay bit-identical, and its G list carries A_P', async () => {
    const f = fixture('tiny-public');
    const model = instantiate(readModelFiles(f.checkpoint, {variant: 'v510_dag'}));
    const prompt = f.json.generation.gen.prompt_ids as number[];
    const kv = await generate(model, prompt, {maxNewTokens: 8, greedy: true, cache: 'kv', keepLogits: true});
    const kvg = await generate(model, prompt, {maxNewTokens: 8, greedy: true, cache: 'kv+g', keepLogits: true});
    expect(kvg.ids).toEqual(kv.ids);
    kv.logits!.forEach((z, i) => expect(maxAbsDiff(z, kvg.logits![i])).toBe(0));
    // DAG and v510 are the same function on the same weights
    expect(kv.ids).toEqual(f.json.generation.gen.modes.kv.ids.slice(0, prompt.length + 8));
    const G = await generateGList(model);
    expect(G.kind).toBe('triples');
    expect(G.layers.every((l) => l.A_P !== undefined)).toBe(true);
    model.dispose();
  });
});

describe('inferDeductive is the reference generate_Glst', () => {
  it('the empty-prompt G equals the G-cache the reference held after gen_empty (A_LM 1e-5, G_LM 3e-4)', () => {
    const f = fixture('tiny-public');
    const model = instantiate(readModelFiles(f.checkpoint));
    const d = inferDeductive(model, promptIds([]));
    d.layers.forEach((l, i) => {
      expect(maxAbsDiff(l.A_LM!, f.t(`gen_empty.kv_g.Gcache.layer.${i}.A_LM`))).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(l.G_LM, f.t(`gen_empty.kv_g.Gcache.layer.${i}.G_LM`))).toBeLessThanOrEqual(3e-4);
    });
    model.dispose();
  });
});
