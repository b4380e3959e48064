/**
 * A batch's PLGA (docs/spec.md §3.6) and a given G on inference: the [1, H, dk, dk] parameters are copied
 * per row, not broadcast (Tile and broadcasting Pow/Add run element by element on wasm, ~100× the
 * cost at batch 8 of a 104M model). Copying must not move a bit: each row equals its own call.
 */
import * as tf from '@tensorflow/tfjs';
import {beforeAll, describe, expect, it} from 'vitest';

import {initBackend} from '../../../src/core/backend.js';
import {DEMO_MODEL} from '../../../src/core/demo.js';
import {loadModel} from '../../../src/core/io/model-files.js';
import {createMask, plga} from '../../../src/core/model/forward.js';

beforeAll(async () => {
  await initBackend('wasm');
});

/** Names of the kernels `f` runs. */
async function kernelsOf(f: () => tf.Tensor | tf.Tensor[]): Promise<Set<string>> {
  const info = await tf.profile(f);
  return new Set(info.kernels.map((k) => k.name));
}

describe('batched PLGA and given G', () => {
  it('plga on a batch: every row bit for bit as its own call and as the broadcasting path, and no Tile', async () => {
    const model = loadModel(DEMO_MODEL);
    const {num_heads: H, d_model: d} = model.cfg;
    const dk = d / H;
    const p = model.w.layers[0]!.plga!;
    const B = 3;
    const A = tf.tidy(() => tf.randomUniform([B, H, dk, dk], 0.1, 2, 'float32', 5)) as tf.Tensor4D;
    const batched = plga(A, p, true);
    const broadcast = plga(A, p, false);
    for (const key of ['A_LM', 'A_P', 'G_LM'] as const) {
      expect(batched[key].shape).toEqual([B, H, dk, dk]);
      expect(batched[key].dataSync()).toEqual(broadcast[key].dataSync());
    }
    for (let b = 0; b < B; b++) {
      const row = plga(A.slice([b, 0, 0, 0], [1, H, dk, dk]) as tf.Tensor4D, p, true);
      const want = batched.G_LM.slice([b, 0, 0, 0], [1, H, dk, dk]);
      expect(row.G_LM.dataSync(), `row ${b}`).toEqual(want.dataSync());
      tf.dispose([row, want]);
    }
    const names = await kernelsOf(() => Object.values(plga(A, p, true)));
    expect(names.has('Pow')).toBe(true);
    expect(names.has('Tile')).toBe(false);
    tf.dispose([A, batched, broadcast]);
    model.dispose();
  });

  it('a forward of batch 3 with a given [1, H, dk, dk] G runs no Tile', async () => {
    const model = loadModel(DEMO_MODEL);
    const {num_heads: H, d_model: d, num_layers} = model.cfg;
    const dk = d / H;
    const g = Array.from({length: num_layers}, () => {
      const G_LM = tf.eye(dk).reshape([1, 1, dk, dk]).tile([1, H, 1, 1]) as tf.Tensor4D;
      return {A_LM: G_LM, G_LM};
    });
    const ids = [
      [5, 6, 7],
      [8, 9, 10],
      [11, 12, 13],
    ];
    const mask = createMask(ids);
    const names = await kernelsOf(() => model.forward(ids, {mask, g, noCache: true}).logits);
    expect(names.has('PldrBatchMatMul')).toBe(true);
    expect(names.has('Tile')).toBe(false);
    tf.dispose([mask, ...g.map((c) => c.G_LM)]);
    model.dispose();
  });
});
