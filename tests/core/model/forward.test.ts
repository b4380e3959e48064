/**
 * Forward-pass parity with the reference (spec Appendix A: A3–A6). Tolerances are the spec's
 * float32 ones: max(1e-5, 10 × the reference's own float32 noise) per tensor.
 */
import * as tf from '@tensorflow/tfjs';
import {beforeAll, describe, expect, it} from 'vitest';

import {initBackend} from '../../../src/core/backend.js';
import {loadModel, readModelFiles, instantiate} from '../../../src/core/io/model-files.js';
import {type PldrModel} from '../../../src/core/model/pldr.js';
import {createMask, forwardWith} from '../../../src/core/model/forward.js';
import {disposeAllBut} from '../../../src/core/model/cache.js';
import {linearSources} from '../../../src/core/model/weights.js';
import {fusedKernelsActive} from '../../../src/core/model/kernels.js';
import {ropeTable} from '../../../src/core/model/rope.js';
import {expectClose, fixture, maxAbsDiff, TRAIN_BATCH_TOL} from '../../helpers.js';

const TOL = {logits: 2e-5, hidden: 2e-5, A: 1e-5, A_LM: 1e-5, G_LM: 3e-4, E_p: 3e-4, logitsG: 1e-5};

beforeAll(async () => {
  await initBackend('wasm');
});

describe('PLDRv51 (tiny-public) forward', () => {
  const f = fixture('tiny-public');
  let model: PldrModel;
  let r: ReturnType<PldrModel['forward']>;
  beforeAll(() => {
    model = loadModel(f.checkpoint);
    const ids = f.ids('input.forward_ids');
    const mask = createMask(ids);
    r = model.forward(ids, {mask, hidden: true});
    mask.dispose();
  });

  it('builds the reference mask: padding on keys, look-ahead, 1 = blocked', () => {
    const mask = createMask(f.ids('input.forward_ids'));
    expect(Array.from(mask.dataSync())).toEqual(Array.from(f.t('forward.mask')));
    mask.dispose();
    const train = f.ids('input.train_ids').map((row) => row.slice(0, -1));
    const tm = createMask(train);
    expect(Array.from(tm.dataSync())).toEqual(Array.from(f.t('train.mask')));
    tm.dispose();
  });

  it('reproduces the RoPE table to 1 ulp', () => {
    const {max_seq_len, d_model, num_heads} = model.cfg;
    expectClose(ropeTable(max_seq_len, d_model / num_heads), f.t('rope.cache'), 1e-7, 'rope.cache');
  });

  it('matches logits, embedding and decoder output', () => {
    expectClose(r.logits.dataSync(), f.t('forward.logits'), TOL.logits, 'logits');
    expectClose(r.hidden!.embedLn.dataSync(), f.t('forward.embed_ln'), TOL.hidden, 'embed_ln');
    expectClose(r.decOutput.dataSync(), f.t('forward.dec_output'), TOL.hidden, 'dec_output');
  });

  for (const l of [0, 1]) {
    it(`matches every layer-${l} tensor (KV entries, A, A_LM, G_LM, E_p, attention and layer outputs)`, () => {
      const ex = (n: string) => f.t(`forward.layer.${l}.${n}`);
      expectClose(r.kv[l].K.dataSync(), ex('k_cache'), TOL.hidden, 'k_cache');
      expectClose(r.kv[l].V.dataSync(), ex('v_cache'), TOL.hidden, 'v_cache');
      expectClose(r.kv[l].A!.dataSync(), ex('A'), TOL.A, 'A');
      const d = r.deductive![l];
      expectClose(d.A_LM.dataSync(), ex('A_LM'), TOL.A_LM, 'A_LM');
      expectClose(d.G_LM.dataSync(), ex('G_LM'), TOL.G_LM, 'G_LM');
      expectClose(d.S.dataSync(), ex('E_p'), TOL.E_p, 'E_p');
      expectClose(r.hidden!.attnOut[l].dataSync(), ex('attn_out'), TOL.hidden, 'attn_out');
      expectClose(r.hidden!.out[l].dataSync(), ex('out'), TOL.hidden, 'out');
      // The parameters echoed in the deductive list are the checkpoint's, exactly.
      expect(Array.from(d.P.dataSync())).toEqual(Array.from(ex('pw')));
      expect(Array.from(d.a.dataSync())).toEqual(Array.from(ex('a_vec')));
      expect(Array.from(d.ba.dataSync())).toEqual(Array.from(ex('ba')));
    });
  }

  it('is sensitive to a wrong bias: the logits check fails when final_layer.bias moves by 1e-3', () => {
    const files = readModelFiles(f.checkpoint);
    const b = files.weights.get('final_layer.bias')!.data as Float32Array;
    b[5] += 1e-3;
    const m = instantiate(files);
    const ids = f.ids('input.forward_ids');
    const mask = createMask(ids);
    const out = m.forward(ids, {mask});
    expect(maxAbsDiff(out.logits.dataSync(), f.t('forward.logits'))).toBeGreaterThan(TOL.logits);
    tf.dispose([mask, out as unknown as tf.TensorContainer]);
    m.dispose();
  });
});

for (const name of ['tiny-G-identity', 'tiny-G-random'] as const) {
  describe(`PLDRv51G (${name}) forward`, () => {
    const f = fixture(name);
    it('matches logits, KV entries and every layer output; G comes from G_LM.safetensors', () => {
      const model = loadModel(f.checkpoint);
      const G = model.G!.map((g) => g.dataSync());
      G.forEach((g, l) => expect(Array.from(g)).toEqual(Array.from(f.t(`input.G_LM.layer.${l}`))));
      // the SDPA special case skips the Q·G product; a random G does not
      expect(model.w.layers.map((lw) => lw.identityG)).toEqual(model.w.layers.map(() => name === 'tiny-G-identity'));
      expect(model.isSdpa).toBe(name === 'tiny-G-identity');
      const ids = f.ids('input.forward_ids');
      const mask = createMask(ids);
      const r = model.forward(ids, {mask, hidden: true});
      expect(r.deductive).toBeNull();
      expectClose(r.logits.dataSync(), f.t('forward.logits'), TOL.logitsG, 'logits');
      expectClose(r.hidden!.embedLn.dataSync(), f.t('forward.embed_ln'), TOL.hidden, 'embed_ln');
      expectClose(r.decOutput.dataSync(), f.t('forward.dec_output'), TOL.hidden, 'dec_output');
      for (const l of [0, 1]) {
        expectClose(r.kv[l].K.dataSync(), f.t(`forward.layer.${l}.k_cache`), TOL.hidden, `layer ${l} k_cache`);
        expectClose(r.kv[l].V.dataSync(), f.t(`forward.layer.${l}.v_cache`), TOL.hidden, `layer ${l} v_cache`);
        expect(r.kv[l].A).toBeUndefined();
        expectClose(
          r.hidden!.attnOut[l].dataSync(),
          f.t(`forward.layer.${l}.attn_out`),
          TOL.hidden,
          `layer ${l} attn_out`,
        );
        expectClose(r.hidden!.out[l].dataSync(), f.t(`forward.layer.${l}.out`), TOL.hidden, `layer ${l} out`);
      }
      tf.dispose([mask, r as unknown as tf.TensorContainer]);
      model.dispose();
    });
  });
}

describe('fused inference kernels (kernels.ts) against the composite ops', () => {
  it('are active on wasm, and both paths match the reference: prompt call and a cached step', () => {
    expect(fusedKernelsActive()).toBe(true);
    const f = fixture('tiny-public');
    const model = loadModel(f.checkpoint);
    const ids = f.ids('input.forward_ids');
    const mask = createMask(ids);
    const run = (fast: boolean) =>
      tf.tidy(
        () => forwardWith(model, model.w, ids, {mask, fast}) as unknown as tf.TensorContainer,
      ) as unknown as ReturnType<PldrModel['forward']>;
    const slow = run(false);
    const fast = run(true);
    expectClose(slow.logits.dataSync(), f.t('forward.logits'), TOL.logits, 'logits (composite ops)');
    expectClose(fast.logits.dataSync(), f.t('forward.logits'), TOL.logits, 'logits (fused kernels)');
    expect(maxAbsDiff(fast.logits.dataSync(), slow.logits.dataSync())).toBeLessThanOrEqual(1e-5);
    for (let l = 0; l < model.cfg.num_layers; l++) {
      expect(maxAbsDiff(fast.kv[l]!.K.dataSync(), slow.kv[l]!.K.dataSync()), `K ${l}`).toBeLessThanOrEqual(1e-5);
      expect(
        maxAbsDiff(fast.deductive![l]!.G_LM.dataSync(), slow.deductive![l]!.G_LM.dataSync()),
        `G_LM ${l}`,
      ).toBeLessThanOrEqual(3e-5);
    }
    // one cached step (KV + G) for row 0, both ways
    const row0 = (t: tf.Tensor) => t.slice(0, 1) as tf.Tensor4D;
    const kv = slow.kv.map((c) => ({K: row0(c.K), V: row0(c.V), A: row0(c.A!)}));
    const g = slow.deductive!.map((d) => ({A_LM: row0(d.A_LM), G_LM: row0(d.G_LM)}));
    const step = (fastStep: boolean) =>
      tf.tidy(() => forwardWith(model, model.w, [[7]], {kv, g, fast: fastStep, lastOnly: true}).logits);
    const a = step(false);
    const b = step(true);
    expect(a.shape).toEqual([1, 1, model.cfg.input_vocab_size]);
    expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(a.dataSync(), new Float32Array(a.size))).toBeGreaterThan(1e-3); // not a degenerate row
    disposeAllBut([slow, fast, kv, g, a, b, mask]);
    model.dispose();
  });
});

describe('the model holds each matrix once', () => {
  it('frees the reference layout of every linear weight after preparing, and rebuilds it exactly when params is read', () => {
    const f = fixture('tiny-public');
    const files = readModelFiles(f.checkpoint);
    const before = tf.memory().numBytes;
    const model = instantiate(files);
    const linears = [...linearSources(model.cfg, model.w).keys()];
    expect(linears).toContain('final_layer.weight');
    expect(linears).toContain('decoder.dec_layers.1.mha1.wv.weight');
    expect(linears).toContain('decoder.dec_layers.0.mha1.reslayerAs.0.denseAs.1.gluw3.weight');
    const loaded = tf.memory().numBytes - before;
    const all = [...files.weights.values()].reduce((a, t) => a + t.data.length * 4, 0);
    const linearBytes = linears.reduce((a, k) => a + files.weights.get(k)!.data.length * 4, 0);
    expect(linearBytes).toBeGreaterThan(all / 2);
    // each matrix once: holding both layouts would add linearBytes; RoPE tables and small views add a little
    expect(loaded).toBeLessThan(all + linearBytes / 2);
    const params = model.params; // rebuilt here
    expect([...params.keys()]).toEqual([...files.weights.keys()]); // state-dict order kept
    for (const [k, t] of files.weights)
      expect(Array.from(params.get(k)!.dataSync()), k).toEqual(Array.from(t.data as Float32Array));
    model.dispose();
    expect(tf.memory().numBytes).toBe(before);
  });
});

describe('PLDRv51-DAG (tiny-public weights through the DAG variant)', () => {
  it('returns A_P = A_LM^∘P as a seventh deductive output, matching the reference (rel 1e-4)', () => {
    const f = fixture('tiny-public');
    const model = loadModel(f.checkpoint, {variant: 'v510_dag'});
    expect(model.isDag).toBe(true);
    const inp = f.ids('input.train_ids').map((row) => row.slice(0, -1)); // tar_inp
    const mask = createMask(inp);
    const r = model.forward(inp, {mask});
    for (const l of [0, 1]) {
      const ours = r.deductive![l].A_P!.dataSync();
      const ref = f.t(`dag.layer.${l}.Ap`);
      let worst = 0;
      for (let i = 0; i < ref.length; i++)
        worst = Math.max(worst, Math.abs(ours[i] - ref[i]) / Math.max(Math.abs(ref[i]), 1e-6));
      expect(worst, `layer ${l} A_P relative error`).toBeLessThanOrEqual(TRAIN_BATCH_TOL.A_P_rel);
    }
    tf.dispose([mask, r as unknown as tf.TensorContainer]);
    model.dispose();
  });
});
