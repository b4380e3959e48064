/**
 * What the training-recipe tests share: the tiny-public fixture's batch, the recipes, and a
 * trainer (model, variables, AdamW) on its checkpoint.
 */
import type * as tf from '@tensorflow/tfjs';

import {instantiate, readModelFiles} from '../../../src/core/io/model-files.js';
import type {PldrModel} from '../../../src/core/model/pldr.js';
import {AdamW} from '../../../src/core/train/optim.js';
import {modelVariables, type Recipe} from '../../../src/core/train/step.js';
import {fixture} from '../../helpers.js';

export const f = fixture('tiny-public');
export const rows = f.ids('input.train_ids');
export const tarInp = rows.map((r) => r.slice(0, -1));
export const tarReal = rows.map((r) => r.slice(1));
export const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
export const scalar = (name: string) => f.t(name)[0];

/** One step at a fixed lr: a schedule with no warm-up and α = 1 is constant. */
export const ONE_STEP: Recipe = {lr: 1e-3, warmup: 0, totalSteps: 1, alpha: 1, weightDecay: 0.1, clip: 1, gradAccum: 1};
export const SCHED: Recipe = {lr: 1e-3, warmup: 2, totalSteps: 10, alpha: 0.1, weightDecay: 0.1, clip: 1, gradAccum: 1};

export interface Trainer {
  model: PldrModel;
  vars: Map<string, tf.Variable>;
  opt: AdamW;
  dispose(): void;
}

export function trainer(variant?: 'v510_dag'): Trainer {
  const model = instantiate(readModelFiles(f.checkpoint, variant ? {variant} : {}));
  const vars = modelVariables(model);
  const opt = new AdamW(vars, {weightDecay: 0.1});
  return {
    model,
    vars,
    opt,
    dispose() {
      opt.dispose();
      for (const v of vars.values()) v.dispose();
      model.dispose();
    },
  };
}

export const host = (vars: Map<string, tf.Tensor>) =>
  new Map([...vars].map(([k, v]) => [k, Float32Array.from(v.dataSync() as Float32Array)]));
