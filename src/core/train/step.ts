/**
 * One optimisation step (docs/spec.md §6.2–§6.7) and the validation loss (§6.8), for a model whose
 * parameters are tf.Variables keyed by their reference names.
 *
 * A step: for each micro-batch of token windows [B][L+1], input = ids[:, :−1], target =
 * ids[:, 1:], mask = createMask(input); forward on the variables; loss = masked CE (+ the DAG terms
 * for a v510_dag model, or for any PLGA model when recipe.dag has a positive coefficient);
 * gradients averaged over the micro-batches; if the loss or any gradient is non-finite, no update
 * (as the reference's gradient scaler skips the step); else clip by value and AdamW at
 * η₀·λ(update−1).
 *
 * Gradient accumulation: the micro-batches' losses (and gradients) are averaged with equal
 * weights. Each micro-batch loss is already a mean over its own non-pad targets, so with
 * gradAccum = k the step equals one step on the concatenated batch only when every micro-batch has
 * the same number of non-pad targets (always true for the reference's packed data, which has no
 * padding).
 *
 * Skipped steps: the optimiser's step count and moments do not advance, but the caller should
 * still count the update (the reference's scheduler steps even when the scaler skips).
 */
import * as tf from '@tensorflow/tfjs';

import {PldrError} from '../errors.js';
import {type PldrModel} from '../model/pldr.js';
import {createMask, forwardWith} from '../model/forward.js';
import {prepareWeights} from '../model/weights.js';
import {checkDagCoeffs, type DagCoeffs, dagLoss, type DagTerms} from './dag.js';
import {maskedAccuracy, maskedLoss} from './loss.js';
import {type AdamW, clipByValue} from './optim.js';
import {lrForUpdate} from './schedule.js';

export interface Recipe {
  /** Peak learning rate η₀. */
  lr: number;
  warmup: number;
  totalSteps: number;
  alpha: number;
  /** AdamW decoupled weight decay (the optimiser is built with it; recorded here for the run). */
  weightDecay: number;
  /** Clip gradients by value to [−clip, clip] (1.0 in the reference). */
  clip: number;
  /** DAG coefficients (c_A, c_AP, c_G); for a v510_dag model the default is the model's DAG_reg_coeffs, else all 0. */
  dag?: [number, number, number];
  /** Micro-batches per update. */
  gradAccum: number;
}

export interface StepResult {
  /** The optimised loss (CE + the active DAG terms), mean over micro-batches. */
  loss: number;
  /** The masked cross-entropy part alone. */
  ce: number;
  accuracy: number;
  /** The three d_X (means over micro-batches), whenever DAG terms were computed. */
  dag?: DagTerms<number>;
  /** The learning rate of this update (also reported for a skipped one). */
  lr: number;
  /** Gradient elements clipped (|g| > clip); 0 for a skipped step. */
  clipped: number;
  /** false: the loss or a gradient was non-finite and the parameters were left unchanged. */
  finite: boolean;
}

/** Variables for training, one per parameter, keyed by reference name (auto-named, so several models may coexist). */
export function modelVariables(model: PldrModel): Map<string, tf.Variable> {
  const vars = new Map<string, tf.Variable>();
  for (const [k, p] of model.params) vars.set(k, tf.variable(p, true, undefined, 'float32'));
  return vars;
}

/** The coefficients to use, or undefined when no DAG term is computed. */
function dagCoeffsFor(model: PldrModel, recipe: {dag?: readonly number[]}): DagCoeffs | undefined {
  const given = recipe.dag ? checkDagCoeffs(recipe.dag) : undefined;
  if (model.isDag) return given ?? (model.cfg.DAG_reg_coeffs ? checkDagCoeffs(model.cfg.DAG_reg_coeffs) : [0, 0, 0]);
  if (!given || !given.some((c) => c > 0)) return undefined;
  if (model.isG) throw new PldrError('the DAG regulariser needs PLGA deductive outputs: a PLDRv51G model has none');
  return given;
}

function checkWindows(model: PldrModel, batch: number[][], what: string): void {
  if (batch.length === 0) throw new PldrError(`${what} is empty`);
  const n = batch[0].length;
  if (n < 2) throw new PldrError(`${what}: a training window needs at least 2 ids (input and target), got ${n}`);
  if (n - 1 > model.cfg.max_seq_len)
    throw new PldrError(`${what}: ${n - 1} input positions exceed max_seq_len ${model.cfg.max_seq_len}`);
  const V = model.cfg.input_vocab_size;
  for (const row of batch) {
    if (row.length !== n) throw new PldrError(`${what}: all windows must have the same length`);
    for (const id of row)
      if (!Number.isInteger(id) || id < 0 || id >= V)
        throw new PldrError(`${what}: token id ${id} is outside the vocabulary (0..${V - 1})`);
  }
}

/** Host values of a batch's loss (mean over micro-batches or validation batches). */
export interface LossValues {
  loss: number;
  ce: number;
  accuracy: number;
  dag?: DagTerms<number>;
}

/**
 * The loss of one batch on the given parameter tensors. No tidy here (the caller's tidy or
 * gradient function owns the tensors); host values are written to `out`.
 */
function batchLoss(
  model: PldrModel,
  get: (k: string) => tf.Tensor,
  windows: number[][],
  coeffs: DagCoeffs | undefined,
  out: LossValues,
): tf.Scalar {
  const inp = windows.map((r) => r.slice(0, -1));
  const tar = tf.tensor2d(
    windows.map((r) => r.slice(1)),
    undefined,
    'int32',
  );
  const mask = createMask(inp);
  const r = forwardWith(model, prepareWeights(model.cfg, get, {G: model.G}), inp, {mask});
  const ce = maskedLoss(r.logits, tar);
  out.ce = ce.dataSync()[0];
  out.accuracy = maskedAccuracy(r.logits, tar).dataSync()[0];
  if (!coeffs) {
    out.loss = out.ce;
    return ce;
  }
  const {total, terms} = dagLoss(ce, r.deductive!, coeffs);
  out.loss = total.dataSync()[0];
  out.dag = {A_LM: terms.A_LM.dataSync()[0], A_P: terms.A_P.dataSync()[0], G_LM: terms.G_LM.dataSync()[0]};
  return total;
}

function meanOf(outs: LossValues[]): LossValues {
  const k = outs.length;
  const avg = (f: (o: LossValues) => number) => outs.reduce((s, o) => s + f(o), 0) / k;
  const m: LossValues = {loss: avg((o) => o.loss), ce: avg((o) => o.ce), accuracy: avg((o) => o.accuracy)};
  if (outs[0].dag) m.dag = {A_LM: avg((o) => o.dag!.A_LM), A_P: avg((o) => o.dag!.A_P), G_LM: avg((o) => o.dag!.G_LM)};
  return m;
}

/** Averaged gradients of one update and the host values of its losses (see computeGradients). */
export interface Gradients extends LossValues {
  /** Mean over micro-batches of d loss/d parameter, by reference name; the caller disposes them. */
  grads: Map<string, tf.Tensor>;
  /** Per micro-batch losses, for the finiteness check. */
  losses: number[];
}

/**
 * The gradients of the loss (before clipping), averaged over the micro-batches, with respect to
 * the given parameter tensors (usually the training variables). DAG terms as in trainStep.
 */
export function computeGradients(
  model: PldrModel,
  params: Map<string, tf.Tensor>,
  microBatches: number[][][],
  opts: {dag?: readonly number[]} = {},
): Gradients {
  if (microBatches.length === 0) throw new PldrError('a training step needs at least one micro-batch');
  microBatches.forEach((b, i) => checkWindows(model, b, `micro-batch ${i + 1}`));
  for (const k of model.params.keys()) if (!params.has(k)) throw new PldrError(`no variable for parameter ${k}`);
  const coeffs = dagCoeffsFor(model, opts);
  const names = [...model.params.keys()]; // extra entries in params are ignored
  const xs = names.map((k) => params.get(k)!);
  const outs: LossValues[] = [];
  let sum: tf.Tensor[] | null = null;
  for (const windows of microBatches) {
    const out: LossValues = {loss: NaN, ce: NaN, accuracy: NaN};
    const {value, grads} = tf.valueAndGrads((...ts: tf.Tensor[]) => {
      const byName = new Map(names.map((k, i) => [k, ts[i]]));
      return batchLoss(model, (k) => byName.get(k)!, windows, coeffs, out);
    })(xs);
    value.dispose();
    outs.push(out);
    if (sum === null) sum = grads;
    else {
      const prev: tf.Tensor[] = sum;
      sum = prev.map((s, i) => tf.add(s, grads[i]));
      tf.dispose([...prev, ...grads]);
    }
  }
  const k = microBatches.length;
  const avg: tf.Tensor[] = k === 1 ? sum! : sum!.map((s) => tf.div(s, k));
  if (k > 1) tf.dispose(sum!);
  return {...meanOf(outs), grads: new Map(names.map((n, i) => [n, avg[i]])), losses: outs.map((o) => o.loss)};
}

/**
 * One optimisation step (update is 1-based: update 1 runs at lr 0 when warmup > 0, spec T6).
 * The parameters change in place through `vars`; nothing else is kept.
 */
export function trainStep(
  model: PldrModel,
  vars: Map<string, tf.Variable>,
  opt: AdamW,
  microBatches: number[][][],
  update: number,
  recipe: Recipe,
): StepResult {
  if (microBatches.length !== recipe.gradAccum)
    throw new PldrError(`gradAccum is ${recipe.gradAccum} but ${microBatches.length} micro-batches were given`);
  if (opt.opts.weightDecay !== recipe.weightDecay)
    throw new PldrError(
      `the optimiser was built with weight decay ${opt.opts.weightDecay} but the recipe says ${recipe.weightDecay}`,
    );
  const lr = lrForUpdate(update, recipe);
  const g = computeGradients(model, vars, microBatches, recipe);
  const result: StepResult = {loss: g.loss, ce: g.ce, accuracy: g.accuracy, lr, clipped: 0, finite: false};
  if (g.dag) result.dag = g.dag;
  try {
    if (!g.losses.every(Number.isFinite) || !allFinite([...g.grads.values()])) return result;
    const clipped = clipByValue(g.grads, recipe.clip);
    try {
      opt.step(clipped.grads, lr);
    } finally {
      tf.dispose([...clipped.grads.values()]);
    }
    result.clipped = clipped.clipped;
    result.finite = true;
    return result;
  } finally {
    tf.dispose([...g.grads.values()]);
  }
}

function allFinite(ts: tf.Tensor[]): boolean {
  const flag = tf.tidy(() => tf.min(tf.stack(ts.map((t) => tf.all(tf.isFinite(t)).toFloat()))));
  const ok = flag.dataSync()[0] === 1;
  flag.dispose();
  return ok;
}

/**
 * Validation (docs/spec.md §6.8): the loss and accuracy of each batch of windows [B][L+1], then the mean
 * over batches (each batch counts equally). Eval mode (the model has no dropout), no gradients.
 * `params` may be the training variables or the model's own params. With `dag` coefficients (or
 * for a v510_dag model: its DAG_reg_coeffs) the loss includes the active DAG terms, as the
 * reference's validation uses the training loss.
 */
export function evalLoss(
  model: PldrModel,
  params: Map<string, tf.Tensor>,
  batches: number[][][],
  opts: {dag?: [number, number, number]} = {},
): {loss: number; ce: number; accuracy: number; dag?: DagTerms<number>} {
  if (batches.length === 0) throw new PldrError('validation needs at least one batch');
  batches.forEach((b, i) => checkWindows(model, b, `validation batch ${i + 1}`));
  for (const k of model.params.keys()) if (!params.has(k)) throw new PldrError(`no tensor for parameter ${k}`);
  const coeffs = dagCoeffsFor(model, opts);
  const outs: LossValues[] = [];
  for (const windows of batches) {
    const out: LossValues = {loss: NaN, ce: NaN, accuracy: NaN};
    tf.tidy(() => {
      batchLoss(model, (k) => params.get(k)!, windows, coeffs, out);
    });
    outs.push(out);
  }
  return meanOf(outs);
}
