/**
 * The wasm backend (default) and the pure-JS cpu backend give the same forward and the same
 * gradients, and both match the reference's gradients (spec A12–A13 tolerances). On wasm this
 * needs our UnsortedSegmentSum kernel (the embedding's gradient).
 */
import * as tf from '@tensorflow/tfjs';
import {describe, expect, it} from 'vitest';

import {initBackend, parseBackendName} from '../../src/core/backend.js';
import {PldrError} from '../../src/core/errors.js';
import {instantiate, readModelFiles} from '../../src/core/io/model-files.js';
import {createMask, forwardWith} from '../../src/core/model/forward.js';
import {prepareWeights} from '../../src/core/model/weights.js';
import {maskedAccuracy, maskedLoss} from '../../src/core/train/loss.js';
import {expectClose, fixture, maxAbsDiff, TRAIN_BATCH_TOL} from '../helpers.js';

interface Outcome {
  logits: Float32Array;
  loss: number;
  accuracy: number;
  grads: Map<string, Float32Array>;
}

async function lossAndGrads(backend: string): Promise<Outcome> {
  await initBackend(backend);
  const f = fixture('tiny-public');
  const model = instantiate(readModelFiles(f.checkpoint));
  const rows = f.ids('input.train_ids');
  const inp = rows.map((r) => r.slice(0, -1)); // tar_inp
  const tar = tf.tensor2d(
    rows.map((r) => r.slice(1)),
    undefined,
    'int32',
  ); // tar_real
  const mask = createMask(inp);
  const names = [...model.params.keys()];
  let logits!: Float32Array;
  let accuracy = 0;
  const lossOf = (...xs: tf.Tensor[]) => {
    const byName = new Map(names.map((k, i) => [k, xs[i]]));
    const r = forwardWith(
      model,
      prepareWeights(model.cfg, (k) => byName.get(k)!),
      inp,
      {mask},
    );
    logits = r.logits.dataSync() as Float32Array;
    accuracy = maskedAccuracy(r.logits, tar).dataSync()[0];
    return maskedLoss(r.logits, tar);
  };
  const {value, grads} = tf.valueAndGrads(lossOf)(names.map((k) => model.params.get(k)!));
  const out: Outcome = {logits, loss: value.dataSync()[0], accuracy, grads: new Map()};
  names.forEach((k, i) => out.grads.set(k, grads[i].dataSync() as Float32Array));
  tf.dispose([value, ...grads, mask, tar]);
  model.dispose();
  return out;
}

describe('backends', () => {
  it('rejects an unknown backend with one clear line', () => {
    expect(() => parseBackendName('metal')).toThrowError(PldrError);
    expect(() => parseBackendName('metal')).toThrowError(
      /unknown backend "metal": use one of wasm, cpu, tensorflow, tensorflow-gpu/,
    );
  });

  it('wasm and cpu give the same forward and gradients, and both match the reference', async () => {
    const f = fixture('tiny-public');
    const cpu = await lossAndGrads('cpu');
    const wasm = await lossAndGrads('wasm');
    expect(maxAbsDiff(wasm.logits, cpu.logits)).toBeLessThanOrEqual(1e-5);
    expect(Math.abs(wasm.loss - cpu.loss)).toBeLessThanOrEqual(1e-6);
    expect(wasm.accuracy).toBe(cpu.accuracy);
    for (const o of [cpu, wasm]) {
      expectClose(o.logits, f.t('train.logits_before'), TRAIN_BATCH_TOL.logits, 'train.logits_before');
      expect(Math.abs(o.loss - f.json.train.loss_before) / f.json.train.loss_before).toBeLessThanOrEqual(1e-6);
      expect(o.accuracy).toBeCloseTo(f.json.train.accuracy_before, 7);
    }
    // Gradients before clipping, per tensor: atol = 1e-3·max(1, max|g_ref|) (spec A13).
    let compared = 0;
    for (const [k, gw] of wasm.grads) {
      const ref = f.tensors.get(`train.grad.${k}`);
      const gc = cpu.grads.get(k)!;
      const scale = Math.max(1, ...Array.from(gc, Math.abs));
      expect(maxAbsDiff(gw, gc), `wasm vs cpu gradient of ${k}`).toBeLessThanOrEqual(1e-4 * scale);
      if (!ref) continue;
      const g = ref.data as Float32Array;
      const atol = 1e-3 * Math.max(1, ...Array.from(g, Math.abs));
      expectClose(gw, g, atol, `gradient of ${k}`);
      compared++;
    }
    expect(compared).toBe(wasm.grads.size); // every parameter has a reference gradient
  });
});
