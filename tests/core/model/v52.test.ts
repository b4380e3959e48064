/**
 * PLDR-LLM v52: GPT-NeoX "rotate-half" RoPE (Transformers' `reference_rope: false`).
 *
 * fixtures/v52/expected.json holds the tiny-public weights run with rotate-half RoPE by an
 * independent float64/float32 forward pass (scripts/v52-expected.py, which first reproduces
 * tiny-public's own reference numbers). Here: forward logits within 2e-5 of float64, greedy ids
 * exact in every cache mode (none, kv, g, kv+g, in-place and concatenated KV, external G), Gi and
 * config.json keep the style, and a training step's gradients agree between the wasm and cpu
 * backends. The rotation itself, its fused kernel and its gradient are tested in rope.test.ts.
 */
import {readFileSync} from 'node:fs';
import {join} from 'node:path';

import * as tf from '@tensorflow/tfjs';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {initBackend} from '../../../src/core/backend.js';
import {configFromHparams, hparamsFromConfig, type ModelConfig, ropeStyle} from '../../../src/core/config.js';
import {gListOf, inferDeductive} from '../../../src/core/export-g.js';
import {type CacheMode, generate, promptIds} from '../../../src/core/generate.js';
import {instantiate, type ModelFiles, readModelFiles, toGi} from '../../../src/core/io/model-files.js';
import {makeConfigJson, parseConfigJson} from '../../../src/core/io/modelconfig.js';
import {type PldrModel} from '../../../src/core/model/pldr.js';
import {createMask, forwardWith} from '../../../src/core/model/forward.js';
import {prepareWeights} from '../../../src/core/model/weights.js';
import {maskedLoss} from '../../../src/core/train/loss.js';
import {expectClose, fixture, maxAbsDiff, pldrMessage, ROOT} from '../../helpers.js';

interface V52Expected {
  forward: {ids: number[][]; logits_float64: number[][][]; float32_vs_float64_max_abs_diff: number};
  generation: Record<string, {prompt_ids: number[]; modes: Record<string, {new_ids: number[]}>}>;
}
const v52 = JSON.parse(readFileSync(join(ROOT, 'fixtures', 'v52', 'expected.json'), 'utf8')) as V52Expected;
const MODE_FLAG: Record<string, CacheMode> = {nocache: 'none', kv: 'kv', kv_g: 'kv+g', g: 'g'};
/** Our float32 logits against the float64 numbers: the float32 pass of the script itself is 1.5e-6 off. */
const LOGIT_TOL = 2e-5;

/** tiny-public's weights as a v52 model: the same files, the config's RoPE style switched. */
function neoxFiles(): ModelFiles {
  const files = readModelFiles(fixture('tiny-public').checkpoint);
  return {...files, config: {...files.config, rope: 'neox'}};
}

describe('PLDR-LLM v52 on the tiny-public weights (fixtures/v52)', () => {
  let model: PldrModel;
  beforeAll(async () => {
    await initBackend('wasm');
    model = instantiate(neoxFiles());
  });
  afterAll(() => model.dispose());

  it('forward logits are within 2e-5 of the float64 rotate-half numbers, fused and composite alike', () => {
    const ids = v52.forward.ids;
    const want = Float64Array.from(v52.forward.logits_float64.flat(2));
    const mask = createMask(ids);
    const logits = [false, true].map((fast) => {
      const r = forwardWith(model, model.w, ids, {mask, fast});
      const z = r.logits.dataSync();
      expectClose(z, want, LOGIT_TOL, `logits (fast ${fast})`);
      tf.dispose(r.logits);
      return z;
    });
    // fused gemv/LayerNorm kernels round differently from the composite ops: the two paths agree to 2e-5
    expect(maxAbsDiff(logits[0], logits[1])).toBeLessThanOrEqual(LOGIT_TOL);
    // the same weights with the reference's RoPE are a different function
    const ref = instantiate(readModelFiles(fixture('tiny-public').checkpoint));
    const r = forwardWith(ref, ref.w, ids, {mask});
    expect(maxAbsDiff(r.logits.dataSync(), want)).toBeGreaterThan(0.1);
    tf.dispose([r.logits, mask]);
    ref.dispose();
  });

  for (const [name, c] of Object.entries(v52.generation)) {
    for (const [mode, e] of Object.entries(c.modes)) {
      it(`${name} / ${mode}: greedy ids exact`, async () => {
        const r = await generate(model, c.prompt_ids, {maxNewTokens: 16, greedy: true, cache: MODE_FLAG[mode]});
        expect(r.generated).toEqual(e.new_ids);
        if (mode === 'kv' || mode === 'kv_g') {
          // the reference's concatenated KV-cache gives the same ids as the in-place one
          const concat = await generate(model, c.prompt_ids, {
            maxNewTokens: 16,
            greedy: true,
            cache: MODE_FLAG[mode],
            inPlaceKV: false,
          });
          expect(concat.generated).toEqual(e.new_ids);
        }
      });
    }
  }

  it('external G: the prompt pass G given as a G list reproduces kv+g', async () => {
    const c = v52.generation.gen;
    const G = gListOf(inferDeductive(model, promptIds(c.prompt_ids)), {withAP: false});
    for (const cache of ['kv', 'none'] as const) {
      const r = await generate(model, c.prompt_ids, {maxNewTokens: 16, greedy: true, cache, gInit: G});
      expect(r.generated, `external G, cache ${cache}`).toEqual(c.modes.kv_g.new_ids);
    }
  });

  it('a Gi model built from a v52 model keeps the rotate-half RoPE and equals its source given that G', async () => {
    const files = neoxFiles();
    const G = gListOf(inferDeductive(model, promptIds([])), {withAP: false});
    const gi = toGi(
      files,
      G.layers.map((l) => l.G_LM),
      'tiny-public v52 (empty prompt)',
    );
    expect(ropeStyle(gi.config)).toBe('neox');
    const giModel = instantiate(gi);
    const prompt = v52.generation.gen.prompt_ids;
    const a = await generate(giModel, prompt, {maxNewTokens: 16, greedy: true, cache: 'kv', keepLogits: true});
    const b = await generate(model, prompt, {maxNewTokens: 16, greedy: true, cache: 'kv', gInit: G, keepLogits: true});
    expect(a.ids).toEqual(b.ids);
    a.logits!.forEach((z, i) => expect(maxAbsDiff(z, b.logits![i]), `step ${i}`).toBeLessThanOrEqual(1e-6));
    giModel.dispose();
  });
});

describe('the RoPE style in configs', () => {
  const base = readModelFiles(fixture('tiny-public').checkpoint).config;

  it('config.json and hparams keep it; a reference model writes no rope key; an unknown style is one line', () => {
    const neox: ModelConfig = {...base, rope: 'neox'};
    const json = makeConfigJson(neox);
    expect(json.hparams.rope).toBe('neox');
    expect(ropeStyle(parseConfigJson(JSON.parse(JSON.stringify(json)), 'config.json'))).toBe('neox');
    expect(makeConfigJson(base).hparams.rope).toBeUndefined();
    expect(ropeStyle(parseConfigJson(makeConfigJson(base), 'config.json'))).toBe('reference');
    expect(ropeStyle(configFromHparams(hparamsFromConfig(neox)))).toBe('neox');
    const msg = pldrMessage(() =>
      configFromHparams({...hparamsFromConfig(base), rope: 'rotate-half'}, undefined, 'config.json'),
    );
    expect(msg).toBe('config.json: rope must be one of reference, neox, got "rotate-half"');
  });
});

describe('training with rotate-half RoPE', () => {
  async function lossAndGrads(backend: string) {
    await initBackend(backend);
    const f = fixture('tiny-public');
    const model = instantiate(neoxFiles());
    const rows = f.ids('input.train_ids');
    const inp = rows.map((r) => r.slice(0, -1));
    const tar = tf.tensor2d(
      rows.map((r) => r.slice(1)),
      undefined,
      'int32',
    );
    const mask = createMask(inp);
    const names = [...model.params.keys()];
    const lossOf = (...xs: tf.Tensor[]) => {
      const byName = new Map(names.map((k, i) => [k, xs[i]]));
      return maskedLoss(
        forwardWith(
          model,
          prepareWeights(model.cfg, (k) => byName.get(k)!),
          inp,
          {mask},
        ).logits,
        tar,
      );
    };
    const {value, grads} = tf.valueAndGrads(lossOf)(names.map((k) => model.params.get(k)!));
    const out = {
      loss: value.dataSync()[0],
      grads: new Map(names.map((k, i) => [k, grads[i].dataSync() as Float32Array])),
    };
    tf.dispose([value, ...grads, mask, tar]);
    model.dispose();
    return out;
  }

  afterAll(async () => {
    await initBackend('wasm');
  });

  it('gradients through the rotate-half agree between wasm and cpu (≤ 1e-4·max(1, |g|)) and reach wq and wk', async () => {
    const cpu = await lossAndGrads('cpu');
    const wasm = await lossAndGrads('wasm');
    expect(Number.isFinite(wasm.loss)).toBe(true);
    expect(Math.abs(wasm.loss - cpu.loss)).toBeLessThanOrEqual(1e-6);
    for (const [k, gw] of wasm.grads) {
      const gc = cpu.grads.get(k)!;
      const scale = Math.max(1, ...Array.from(gc, Math.abs));
      expect(maxAbsDiff(gw, gc), `wasm vs cpu gradient of ${k}`).toBeLessThanOrEqual(1e-4 * scale);
    }
    for (const k of ['decoder.dec_layers.0.mha1.wq.weight', 'decoder.dec_layers.0.mha1.wk.weight']) {
      expect(Math.max(...Array.from(wasm.grads.get(k)!, Math.abs)), k).toBeGreaterThan(0);
    }
  });
});
