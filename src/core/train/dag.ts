/**
 * The DAG regulariser of PLDRv51-DAG (docs/spec.md §6.7, T12), in float32 with tf ops so it is
 * differentiable:
 *
 *     d_X = mean over (layer, batch, head) of | log( tr( expm(X ∘ X) ) / d_k ) |
 *     total = CE + Σ_{X : c_X > 0} c_X · d_X          X ∈ {A_LM, A_P, G_LM}
 *
 * expm is scaling and squaring with a degree-18 Taylor polynomial (Paterson–Stockmeyer form). X∘X is
 * elementwise non-negative, so every Taylor term and every squaring is a sum of non-negative
 * products: there is no cancellation, and a trace that does not fit in float32 becomes +inf, as in
 * the reference's float32 torch.matrix_exp (fixture `dag.dagAp` = inf on tiny-public).
 *
 * None of these functions tidies: call them inside tf.tidy or a gradient function (valueAndGrads).
 * They read small host values (the matrices' norms, the traces) with dataSync.
 *
 * Deviation from the reference (documented, docs/spec.md §6.7): with all three coefficients 0 the
 * reference raises UnboundLocalError (and [0, 0, 0] is its default); dagLoss returns the plain CE
 * loss instead and still reports the three d_X.
 */
import * as tf from '@tensorflow/tfjs';

import {PldrError} from '../errors.js';

/** Degree of the Taylor polynomial and the 1-norm up to which it is used without scaling. */
const TAYLOR_DEGREE = 18;
/**
 * torch's θ₁₈ for float32 (Bader, Blanes & Casas): the Taylor-18 truncation error at ‖M‖₁ ≤ θ is
 * below float32 rounding. Using the same θ and s = ⌈log₂(‖M‖₁/θ)⌉ gives the same number of
 * squarings as torch.matrix_exp, so the rounding error grows the same way (≈ 2ˢ ulp).
 */
const THETA = 3.010066362817634;

/** Coefficients (c_A, c_AP, c_G), each ≥ 0 (docs/spec.md §6.7). */
export type DagCoeffs = [number, number, number];

export function checkDagCoeffs(c: readonly number[]): DagCoeffs {
  if (c.length !== 3 || !c.every((x) => Number.isFinite(x) && x >= 0))
    throw new PldrError(`DAG coefficients must be 3 finite numbers >= 0 (c_A, c_AP, c_G), got [${c.join(', ')}]`);
  return [c[0], c[1], c[2]];
}

/**
 * The matrix exponential of every [n, n] matrix of M [..., n, n] (float32, differentiable).
 * The number of squarings is chosen per matrix from its 1-norm (read to the host), so the
 * squarings of a batch run together with the matrices that need fewer left untouched.
 */
export function expm(M: tf.Tensor): tf.Tensor {
  const shape = M.shape;
  const n = shape[shape.length - 1];
  if (shape.length < 2 || shape[shape.length - 2] !== n)
    throw new PldrError(`expm needs square matrices, got shape [${shape}]`);
  const count = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  if (count === 0) return tf.clone(M);
  const X = M.reshape([count, n, n]);
  // s_i = max(0, ⌈log₂(‖M_i‖₁/θ)⌉), ‖·‖₁ = largest column sum of |M_i|
  const norms = tf.tidy(() => tf.max(tf.sum(tf.abs(X), 1), 1));
  const nv = norms.dataSync();
  norms.dispose();
  const s = Array.from(nv, (x) => (Number.isFinite(x) && x > THETA ? Math.max(0, Math.ceil(Math.log2(x / THETA))) : 0));
  const maxS = Math.max(...s);
  const scale = tf.tensor3d(
    s.map((k) => 2 ** -k),
    [count, 1, 1],
  ); // powers of two: exact
  const Xs = maxS > 0 ? tf.mul(X, scale) : X;
  scale.dispose();
  let T = taylor(Xs, n);
  // square matrix i s_i times
  for (let j = 0; j < maxS; j++) {
    const sq = tf.matMul(T, T);
    if (s.every((k) => k > j)) {
      T = sq;
    } else {
      const active = tf
        .tensor3d(
          s.map((k) => (k > j ? 1 : 0)),
          [count, 1, 1],
          'int32',
        )
        .cast('bool');
      T = tf.where(active, sq, T);
    }
  }
  return T.reshape(shape);
}

/**
 * Σ_{k=0}^{18} X^k/k! by Paterson–Stockmeyer with blocks of 4: X², X³, X⁴, then Horner in X⁴ over
 * the blocks B_j = Σ_{i<4} X^i/(4j+i)! — 7 matrix products instead of Horner's 17.
 */
function taylor(X: tf.Tensor, n: number): tf.Tensor {
  const c: number[] = [1];
  for (let k = 1; k <= TAYLOR_DEGREE; k++) c.push(c[k - 1] / k);
  const eye = tf.eye(n).reshape([1, n, n]);
  const P = [eye, X, tf.matMul(X, X)];
  P.push(tf.matMul(P[2], X));
  const X4 = tf.matMul(P[2], P[2]);
  const block = (j: number) => {
    let b: tf.Tensor | null = null;
    for (let i = 0; i < 4 && 4 * j + i <= TAYLOR_DEGREE; i++) {
      const t = tf.mul(P[i], c[4 * j + i]);
      b = b === null ? t : tf.add(b, t);
    }
    return b!;
  };
  const top = Math.floor(TAYLOR_DEGREE / 4);
  let T = block(top);
  for (let j = top - 1; j >= 0; j--) T = tf.add(block(j), tf.matMul(X4, T));
  return T;
}

/**
 * tr(expm(M)) per matrix of M [..., n, n] → [...]. For a finite, element-wise non-negative M
 * (the DAG case) a NaN can only come from an overflowed entry times an exact zero in a product;
 * the true trace is then ≥ the overflowed entry, so it is reported as +inf.
 */
export function traceExpm(M: tf.Tensor): tf.Tensor {
  const n = M.shape[M.rank - 1];
  const E = expm(M);
  const diagMask = tf.eye(n).cast('bool'); // where, not a product with I: inf·0 off the diagonal would be NaN
  const tr = tf.sum(tf.where(diagMask, E, tf.zerosLike(E)), [-2, -1]);
  const trv = tr.dataSync();
  if (!trv.some(Number.isNaN)) return tr;
  const finiteNonNeg = tf.tidy(() =>
    tf.logicalAnd(tf.all(tf.isFinite(M), [-2, -1]), tf.all(tf.greaterEqual(M, 0), [-2, -1])),
  );
  const fn = finiteNonNeg.dataSync();
  finiteNonNeg.dispose();
  const overflow = Array.from(trv, (x, i) => Number.isNaN(x) && fn[i] === 1);
  if (!overflow.some((x) => x)) return tr;
  const ov = tf.tensor(overflow.map(Number), tr.shape, 'int32').cast('bool');
  return tf.where(ov, tf.fill(tr.shape, Infinity), tr);
}

/**
 * One DAG term: X [..., d_k, d_k] (the layers stacked, or concatenated on the batch axis) →
 * mean over all leading axes of |log(tr(expm(X∘X))/d_k)|. A scalar, float32, differentiable.
 */
export function dagTerm(X: tf.Tensor): tf.Scalar {
  const dk = X.shape[X.rank - 1];
  const tr = traceExpm(tf.mul(X, X));
  return tf.mean(tf.abs(tf.log(tf.div(tr, dk)))) as tf.Scalar;
}

/**
 * What a layer gives the regulariser: the attention's A_LM and G_LM, and A_P — the DAG
 * variant's 7th entry, or else A_LM^∘P from the layer's power P. `Deductive` fits.
 */
export interface DagInputs {
  A_LM: tf.Tensor;
  G_LM: tf.Tensor;
  A_P?: tf.Tensor;
  P?: tf.Tensor;
}

export interface DagTerms<T = tf.Scalar> {
  A_LM: T;
  A_P: T;
  G_LM: T;
}

/** The three d_X over the layers' deductive outputs (docs/spec.md §6.7), each a float32 scalar tensor. */
export function dagTerms(layers: readonly DagInputs[]): DagTerms {
  if (layers.length === 0) throw new PldrError('the DAG terms need the deductive outputs of at least one layer');
  const ap = layers.map((l, i) => {
    if (l.A_P) return l.A_P;
    if (l.P) return tf.pow(l.A_LM, l.P);
    throw new PldrError(`layer ${i} has neither A_P nor the power P for the DAG term of A_P`);
  });
  const stack = (xs: tf.Tensor[]) => (xs.length === 1 ? xs[0] : tf.stack(xs)); // [N, B, H, dk, dk]
  return {
    A_LM: dagTerm(stack(layers.map((l) => l.A_LM))),
    A_P: dagTerm(stack(ap)),
    G_LM: dagTerm(stack(layers.map((l) => l.G_LM))),
  };
}

/**
 * total = CE + Σ_{c_X > 0} c_X·d_X (a zero coefficient skips its term, so an infinite d_X with
 * c_X = 0 does not poison the loss). All three d_X are always computed and returned. All-zero
 * coefficients return (a copy of) CE — the reference crashes there (documented deviation).
 * No tidy here: call it inside the caller's tidy or gradient function.
 */
export function dagLoss(
  ce: tf.Scalar,
  layers: readonly DagInputs[],
  coeffs: readonly number[],
): {total: tf.Scalar; terms: DagTerms} {
  const c = checkDagCoeffs(coeffs);
  const terms = dagTerms(layers);
  const parts: tf.Scalar[] = [];
  ([terms.A_LM, terms.A_P, terms.G_LM] as tf.Scalar[]).forEach((d, i) => {
    if (c[i] > 0) parts.push(tf.mul(d, c[i]) as tf.Scalar);
  });
  const total =
    parts.length === 0
      ? (tf.clone(ce) as tf.Scalar)
      : (tf.add(ce, parts.length === 1 ? parts[0] : tf.addN(parts)) as tf.Scalar);
  return {total, terms};
}
