/**
 * Training steps (docs/spec.md §6.2–§6.5, Appendix A12, A13): loss and accuracy, gradients, clipping by
 * value, one AdamW step on wasm and cpu; skipped non-finite steps, gradient accumulation, the
 * optimiser's state and tensor bookkeeping.
 */
import * as tf from '@tensorflow/tfjs';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {initBackend} from '../../../src/core/backend.js';
import {clipByValue} from '../../../src/core/train/optim.js';
import {computeGradients, evalLoss, type Recipe, trainStep} from '../../../src/core/train/step.js';
import {maxAbsDiff} from '../../helpers.js';
import {f, host, ONE_STEP, rel, rows, scalar, SCHED, trainer, type Trainer} from './recipe-fixture.js';

function singleStepChecks(backend: string): void {
  describe(`one AdamW step on ${backend} (A12, A13)`, () => {
    let t: Trainer;
    beforeAll(async () => {
      await initBackend(backend);
      t = trainer();
    });
    afterAll(() => t?.dispose());

    it('loss, accuracy, gradients and the clipped count match the reference', () => {
      const g = computeGradients(t.model, t.vars, [rows]);
      const dl = rel(g.loss, scalar('train.loss_before'));
      console.log(
        `[${backend}] loss_before rel ${dl.toExponential(2)}, accuracy ${g.accuracy} vs ${scalar('train.accuracy_before')}`,
      );
      expect(dl).toBeLessThanOrEqual(1e-6);
      expect(g.accuracy).toBe(scalar('train.accuracy_before'));
      let worst = 0;
      let worstName = '';
      for (const [k, gt] of g.grads) {
        const ref = f.t(`train.grad.${k}`);
        const scale = Math.max(1, ...Array.from(ref, Math.abs));
        const d = maxAbsDiff(gt.dataSync(), ref);
        if (d / scale > worst) [worst, worstName] = [d / scale, k];
        expect(d, `gradient of ${k}`).toBeLessThanOrEqual(1e-3 * scale);
      }
      console.log(`[${backend}] worst gradient |diff|/max(1,max|g|) ${worst.toExponential(2)} (${worstName})`);
      const c = clipByValue(g.grads, 1.0);
      console.log(`[${backend}] clipped ${c.clipped} vs ${f.json.train.clipped_gradient_elements}`);
      expect(c.clipped).toBe(f.json.train.clipped_gradient_elements);
      tf.dispose([...g.grads.values(), ...c.grads.values()]);
    });

    it('one step at lr 1e-3, wd 0.1: parameters, loss and accuracy after', () => {
      const r = trainStep(t.model, t.vars, t.opt, [rows], 1, ONE_STEP);
      expect(r.finite).toBe(true);
      expect(r.lr).toBe(1e-3);
      expect(r.clipped).toBe(36);
      let worst = 0;
      let worstName = '';
      for (const [k, v] of t.vars) {
        const d = maxAbsDiff(v.dataSync(), f.t(`train.param_after.${k}`));
        if (d > worst) [worst, worstName] = [d, k];
        expect(d, `parameter ${k} after one step`).toBeLessThanOrEqual(1e-4);
      }
      const after = evalLoss(t.model, t.vars, [rows]);
      console.log(
        `[${backend}] param_after max|diff| ${worst.toExponential(2)} (${worstName}), loss_after rel ${rel(after.loss, scalar('train.loss_after')).toExponential(2)}`,
      );
      expect(rel(after.loss, scalar('train.loss_after'))).toBeLessThanOrEqual(1e-5);
      expect(after.accuracy).toBe(scalar('train.accuracy_after'));
    });
  });
}

singleStepChecks('wasm');
singleStepChecks('cpu');

// ---------------------------------------------------------------------------------------------
// Skipped steps, accumulation, optimiser state, tensor bookkeeping

describe('training steps on wasm', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('a non-finite loss skips the update (NaN in a parameter; +inf from a DAG term with c > 0)', () => {
    const t = trainer('v510_dag');
    try {
      // d_AP = +inf on these weights: with c_AP > 0 the loss is +inf
      const before = host(t.vars);
      const r = trainStep(t.model, t.vars, t.opt, [rows], 3, {...ONE_STEP, dag: [0, 1, 0]});
      expect(r.finite).toBe(false);
      expect(r.loss).toBe(Infinity);
      expect(r.dag!.A_P).toBe(Infinity);
      expect(r.clipped).toBe(0);
      expect(t.opt.step_count).toBe(0);
      for (const [k, v] of t.vars) expect(maxAbsDiff(v.dataSync(), before.get(k)!), k).toBe(0);

      // NaN in one parameter: NaN loss and gradients
      const bias = t.vars.get('final_layer.bias')!;
      const b = Float32Array.from(bias.dataSync() as Float32Array);
      b[5] = NaN;
      tf.tidy(() => bias.assign(tf.tensor1d(b)));
      const before2 = host(t.vars);
      const r2 = trainStep(t.model, t.vars, t.opt, [rows], 4, {...ONE_STEP, dag: [0, 0, 0]});
      expect(r2.finite).toBe(false);
      expect(Number.isNaN(r2.loss)).toBe(true);
      expect(t.opt.step_count).toBe(0);
      for (const [k, v] of t.vars) {
        const now = v.dataSync();
        const was = before2.get(k)!;
        for (let i = 0; i < now.length; i++)
          expect(Object.is(now[i], was[i]) || now[i] === was[i], `${k}[${i}]`).toBe(true);
      }
    } finally {
      t.dispose();
    }
  });

  it('the DAG model trains with finite coefficients; gradient accumulation of identical micro-batches equals one batch', () => {
    const a = trainer('v510_dag');
    const b = trainer('v510_dag');
    try {
      const recipe = {...SCHED, dag: [0.5, 0, 0.125] as [number, number, number]};
      for (const n of [1, 2, 3]) {
        const ra = trainStep(a.model, a.vars, a.opt, [rows], n, recipe);
        const rb = trainStep(b.model, b.vars, b.opt, [rows, rows], n, {...recipe, gradAccum: 2});
        expect(ra.finite && rb.finite).toBe(true);
        expect(rb.loss).toBe(ra.loss);
        if (n === 1) {
          // before any update: the fixture's values (d_AP = +inf is skipped by c_AP = 0)
          expect(ra.dag!.A_P).toBe(Infinity);
          expect(rel(ra.loss, scalar('dag.loss_total'))).toBeLessThanOrEqual(1e-5);
        }
      }
      for (const [k, v] of a.vars) expect(maxAbsDiff(v.dataSync(), b.vars.get(k)!.dataSync()), k).toBe(0);
      expect(() => trainStep(a.model, a.vars, a.opt, [rows], 4, {...recipe, gradAccum: 2})).toThrow(/gradAccum/);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('optimiser state round-trips through host arrays', () => {
    const a = trainer();
    const b = trainer();
    try {
      trainStep(a.model, a.vars, a.opt, [rows], 2, SCHED);
      const s = a.opt.state();
      expect(s.t).toBe(1);
      expect(s.m.size).toBe(a.vars.size);
      for (const [k, v] of a.vars) b.vars.get(k)!.assign(v);
      b.opt.loadState(s);
      trainStep(a.model, a.vars, a.opt, [rows], 3, SCHED);
      trainStep(b.model, b.vars, b.opt, [rows], 3, SCHED);
      for (const [k, v] of a.vars) expect(maxAbsDiff(v.dataSync(), b.vars.get(k)!.dataSync()), k).toBe(0);
      expect(b.opt.step_count).toBe(2);
      const bad = {...s, m: new Map(s.m)};
      bad.m.delete('final_layer.bias');
      expect(() => b.opt.loadState(bad)).toThrow(/final_layer.bias/);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('keeps the number of tensors stable across steps (v510 and DAG, accumulation, skipped steps, validation)', () => {
    for (const variant of [undefined, 'v510_dag'] as const) {
      const t = trainer(variant);
      try {
        const recipe: Recipe = {
          ...SCHED,
          gradAccum: 2,
          ...(variant ? {dag: [0.5, 0, 0.125] as [number, number, number]} : {}),
        };
        trainStep(t.model, t.vars, t.opt, [rows, rows], 1, recipe);
        const n0 = tf.memory().numTensors;
        for (const n of [2, 3, 4]) trainStep(t.model, t.vars, t.opt, [rows, rows], n, recipe);
        if (variant) trainStep(t.model, t.vars, t.opt, [rows], 5, {...recipe, gradAccum: 1, dag: [0, 1, 0]}); // skipped
        evalLoss(t.model, t.vars, [rows, rows]);
        expect(tf.memory().numTensors, `tensors after steps (${variant ?? 'v510'})`).toBe(n0);
      } finally {
        t.dispose();
      }
    }
  });
});
