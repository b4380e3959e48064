/**
 * The learning-rate schedule of the reference (docs/spec.md §6.4, T6): linear warm-up then cosine decay to
 * α·η₀, as a LambdaLR multiplier, with the reference's off-by-one — update n (1-based) runs with
 * η₀·λ(n−1), so the first update runs at lr 0 (it still advances Adam's moments and step count).
 */
import {PldrError} from '../errors.js';

/**
 * λ(s): s' = min(s, T); s'/W while s' ≤ W, else α + (1−α)·½·(1 + cos(π·(s'−W)/(T−W))).
 * W = 0 means no warm-up (λ(0) = 1: the cosine branch at s' = W). T ≤ W: the warm-up ends the schedule.
 */
export function lrMultiplier(s: number, warmup: number, total: number, alpha: number): number {
  if (!(s >= 0) || !(warmup >= 0) || !(total >= 0))
    throw new PldrError(`lrMultiplier: step, warmup and total must be >= 0 (got ${s}, ${warmup}, ${total})`);
  const sc = Math.min(s, total);
  if (sc <= warmup) return warmup > 0 ? sc / warmup : 1;
  return alpha + (1 - alpha) * 0.5 * (1 + Math.cos((Math.PI * (sc - warmup)) / (total - warmup)));
}

/** The schedule fields of a training recipe (step.ts's Recipe has them all). */
export interface ScheduleRecipe {
  lr: number;
  warmup: number;
  totalSteps: number;
  alpha: number;
}

/** The learning rate of 1-based update n: η₀·λ(n−1). Update 1 runs at lr 0 (when W > 0). */
export function lrForUpdate(n: number, recipe: ScheduleRecipe): number {
  if (!Number.isInteger(n) || n < 1) throw new PldrError(`update numbers start at 1, got ${n}`);
  return recipe.lr * lrMultiplier(n - 1, recipe.warmup, recipe.totalSteps, recipe.alpha);
}
