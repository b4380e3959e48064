/**
 * The learning-rate schedule (docs/spec.md §6.6, Appendix A14, T6): its multipliers, the first update at
 * lr 0, and three scheduled steps against the reference.
 */
import {beforeAll, describe, expect, it} from 'vitest';

import {initBackend} from '../../../src/core/backend.js';
import {lrForUpdate, lrMultiplier} from '../../../src/core/train/schedule.js';
import {evalLoss, trainStep} from '../../../src/core/train/step.js';
import {maxAbsDiff} from '../../helpers.js';
import {f, rel, rows, scalar, SCHED, trainer} from './recipe-fixture.js';

describe('recipe on wasm', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('schedule multipliers and learning rates (A14, T6)', () => {
    for (const {step, multiplier} of f.json.train.schedule_multipliers as {step: number; multiplier: number}[])
      expect(Math.abs(lrMultiplier(step, 2, 10, 0.1) - multiplier), `λ(${step})`).toBeLessThanOrEqual(1e-12);
    expect([1, 2, 3].map((n) => lrForUpdate(n, SCHED))).toEqual([0, 5e-4, 1e-3]);
    expect(lrForUpdate(11, SCHED)).toBeCloseTo(1e-4, 15);
    expect(lrForUpdate(500, SCHED)).toBeCloseTo(1e-4, 15);
    expect(() => lrForUpdate(0, SCHED)).toThrow(/start at 1/);
  });

  it('three scheduled steps (A14)', () => {
    const t = trainer();
    try {
      const results = [1, 2, 3].map((n) => trainStep(t.model, t.vars, t.opt, [rows], n, SCHED));
      expect(results.map((r) => r.lr)).toEqual([0, 5e-4, 1e-3]);
      expect(results.every((r) => r.finite)).toBe(true);
      // update 1 runs at lr 0: the loss before update 2 is the loss before update 1, bit for bit
      expect(results[1].loss).toBe(results[0].loss);
      const steps = f.json.train.scheduled_run.steps as {loss: number; accuracy: number}[];
      results.forEach((r, i) => {
        expect(rel(r.loss, steps[i].loss), `loss before update ${i + 1}`).toBeLessThanOrEqual(1e-5);
        expect(r.accuracy).toBe(Math.fround(steps[i].accuracy));
      });
      const after = evalLoss(t.model, t.vars, [rows]);
      let worst = 0;
      let compared = 0;
      for (const [k, v] of t.vars) {
        const ref = f.tensors.get(`train_sched.param_after_3_steps.${k}`);
        if (!ref) continue; // the fixture holds a subset of the parameters
        const d = maxAbsDiff(v.dataSync(), ref.data as Float32Array);
        worst = Math.max(worst, d);
        compared++;
        expect(d, `parameter ${k} after 3 scheduled steps`).toBeLessThanOrEqual(2e-4);
      }
      expect(compared).toBeGreaterThan(0);
      console.log(`[wasm] scheduled: compared ${compared} parameters`);
      const dl = rel(after.loss, scalar('train_sched.loss_after_3_steps'));
      console.log(
        `[wasm] scheduled: params max|diff| ${worst.toExponential(2)}, loss_after_3_steps rel ${dl.toExponential(2)}`,
      );
      expect(dl).toBeLessThanOrEqual(1e-5);
      expect(t.opt.step_count).toBe(3);
    } finally {
      t.dispose();
    }
  });
});
