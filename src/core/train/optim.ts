/**
 * AdamW with PyTorch's semantics (docs/spec.md §6.3, T7) and clipping by value (docs/spec.md §6.5, T8).
 *
 * One parameter group holding every parameter: embeddings, biases, LayerNorm γ/β and the PLGA
 * tensors (the power P too) are all decayed. At step t ≥ 1, with learning rate η and the clipped
 * gradient g, in the order of torch's single-tensor AdamW (the CPU path the fixtures ran):
 *
 *     p ← p·(1 − η·wd)                                   decoupled decay, applied first
 *     m ← β₁·m + (1−β₁)·g ;  v ← β₂·v + (1−β₂)·g²
 *     p ← p − (η/(1−β₁ᵗ)) · m / ( sqrt(v)/sqrt(1−β₂ᵗ) + ε )
 *
 * The scalar factors are computed in float64 (as torch does for Python scalars) and enter the
 * float32 tensor arithmetic once each.
 */
import * as tf from '@tensorflow/tfjs';

import {PldrError} from '../errors.js';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/** The reference's settings (docs/spec.md §6.3); wd = `adamw_decay`, 0.1 in the paper. */
export const ADAMW_DEFAULTS: AdamWOptions = {beta1: 0.9, beta2: 0.95, eps: 1e-5, weightDecay: 0.1};

/** The optimiser state on the host, for checkpoints: the moments per parameter name, and the step count. */
export interface AdamWState {
  t: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export class AdamW {
  readonly opts: AdamWOptions;
  private readonly vars: Map<string, tf.Variable>;
  private m = new Map<string, tf.Tensor>();
  private v = new Map<string, tf.Tensor>();
  private t = 0;

  constructor(vars: Map<string, tf.Variable>, opts: Partial<AdamWOptions> = {}) {
    this.opts = {...ADAMW_DEFAULTS, ...opts};
    const {beta1, beta2, eps, weightDecay} = this.opts;
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
      throw new PldrError(`AdamW betas must be in [0, 1), got (${beta1}, ${beta2})`);
    if (!(eps >= 0)) throw new PldrError(`AdamW eps must be >= 0, got ${eps}`);
    if (!(weightDecay >= 0)) throw new PldrError(`AdamW weight decay must be >= 0, got ${weightDecay}`);
    this.vars = vars;
    for (const [k, p] of vars) {
      this.m.set(k, tf.zerosLike(p));
      this.v.set(k, tf.zerosLike(p));
    }
  }

  /** Number of updates taken so far (Adam's t). */
  get step_count(): number {
    return this.t;
  }

  /**
   * One update of every parameter with its gradient (already clipped) at learning rate lr.
   * Every parameter must have a gradient: this port keeps one step count for the whole group.
   * The gradients are not disposed (they belong to the caller).
   */
  step(grads: Map<string, tf.Tensor>, lr: number): void {
    if (!(lr >= 0) || !Number.isFinite(lr))
      throw new PldrError(`learning rate must be a finite number >= 0, got ${lr}`);
    for (const k of this.vars.keys()) if (!grads.has(k)) throw new PldrError(`AdamW.step: no gradient for ${k}`);
    const {beta1, beta2, eps, weightDecay} = this.opts;
    this.t += 1;
    const t = this.t;
    const decay = 1 - lr * weightDecay;
    const bc1 = 1 - beta1 ** t;
    const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
    const stepSize = lr / bc1;
    for (const [k, p] of this.vars) {
      const g = grads.get(k)!;
      if (g.size !== p.size)
        throw new PldrError(`AdamW.step: gradient of ${k} has shape [${g.shape}], parameter [${p.shape}]`);
      const m0 = this.m.get(k)!;
      const v0 = this.v.get(k)!;
      const [p1, m1, v1] = tf.tidy(() => {
        const gr = g.reshape(p.shape);
        const pd = weightDecay !== 0 ? tf.mul(p, decay) : p;
        const m = tf.add(tf.mul(m0, beta1), tf.mul(gr, 1 - beta1));
        const v = tf.add(tf.mul(v0, beta2), tf.mul(tf.mul(gr, gr), 1 - beta2));
        const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), eps);
        const pn = tf.sub(pd, tf.mul(tf.div(m, denom), stepSize));
        return [pn, m, v];
      });
      p.assign(p1);
      p1.dispose();
      m0.dispose();
      v0.dispose();
      this.m.set(k, m1);
      this.v.set(k, v1);
    }
  }

  /** Copy the state to host arrays (for a checkpoint). */
  state(): AdamWState {
    const m = new Map<string, Float32Array>();
    const v = new Map<string, Float32Array>();
    for (const k of this.vars.keys()) {
      m.set(k, Float32Array.from(this.m.get(k)!.dataSync() as Float32Array));
      v.set(k, Float32Array.from(this.v.get(k)!.dataSync() as Float32Array));
    }
    return {t: this.t, m, v};
  }

  /** Restore a state written by state(): every parameter needs both moments, of the right size. */
  loadState(s: AdamWState): void {
    if (!Number.isInteger(s.t) || s.t < 0)
      throw new PldrError(`optimiser state: step count must be an integer >= 0, got ${s.t}`);
    for (const [k, p] of this.vars) {
      const m = s.m.get(k);
      const v = s.v.get(k);
      if (!m || !v) throw new PldrError(`optimiser state has no moments for ${k}`);
      if (m.length !== p.size || v.length !== p.size)
        throw new PldrError(`optimiser state for ${k} has ${m.length}/${v.length} elements, the parameter ${p.size}`);
    }
    for (const [k, p] of this.vars) {
      this.m.get(k)!.dispose();
      this.v.get(k)!.dispose();
      this.m.set(k, tf.tensor(s.m.get(k)!, p.shape, 'float32'));
      this.v.set(k, tf.tensor(s.v.get(k)!, p.shape, 'float32'));
    }
    this.t = s.t;
  }

  /** Free the moments (not the parameters, which belong to the caller). */
  dispose(): void {
    for (const x of this.m.values()) x.dispose();
    for (const x of this.v.values()) x.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/**
 * Clip by value (torch's clip_grad_value_): every element clamped to [−clip, clip]. Returns new
 * tensors (the inputs are left to the caller) and how many elements lay strictly outside the range.
 * NaN stays NaN (the caller checks finiteness before clipping).
 */
export function clipByValue(
  grads: Map<string, tf.Tensor>,
  clip: number,
): {grads: Map<string, tf.Tensor>; clipped: number} {
  if (!(clip > 0)) throw new PldrError(`clip value must be > 0, got ${clip}`);
  const out = new Map<string, tf.Tensor>();
  const counts: tf.Tensor[] = [];
  for (const [k, g] of grads) {
    out.set(k, tf.clipByValue(g, -clip, clip));
    counts.push(tf.tidy(() => tf.sum(tf.greater(tf.abs(g), clip).toInt())));
  }
  let clipped = 0;
  if (counts.length > 0) {
    const total = tf.tidy(() => tf.addN(counts));
    clipped = total.dataSync()[0];
    total.dispose();
  }
  tf.dispose(counts);
  return {grads: out, clipped};
}
