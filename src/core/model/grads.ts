/**
 * Matrix products with hand-written gradients (training runs through these; inference too, where
 * the gradient wrapper costs nothing). tfjs's own gradients multiply by transposed operands
 * (transposeA/B), which the wasm backend runs far slower than plain products: each gradient here
 * transposes explicitly first and multiplies plainly (docs/design.md §2).
 */
import * as tf from '@tensorflow/tfjs';

import {batchMatMulFused, fusedKernelsActive} from './kernels.js';

/** a [m, k] @ b [k, n]; dA = dC·Bᵀ, dB = Aᵀ·dC, each a plain product. */
export const matMul2d = tf.customGrad((a, b, save) => {
  (save as tf.GradSaveFunc)([a as tf.Tensor, b as tf.Tensor]);
  return {
    value: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D),
    gradFunc: (dy, saved) => {
      const [A, B] = saved as tf.Tensor2D[];
      return [tf.matMul(dy as tf.Tensor2D, B.transpose()), tf.matMul(A.transpose(), dy as tf.Tensor2D)];
    },
  };
}) as (a: tf.Tensor, b: tf.Tensor) => tf.Tensor2D;

/**
 * y [M, N] + b [N], whose bias gradient is one product, ones [1, M]·dy: tfjs sums dy over its rows
 * by transposing it first, a full copy of dy (for the output layer of a training batch, [2048, V]);
 * the product streams dy once.
 */
export const addBias = tf.customGrad((y, b) => ({
  value: tf.add(y as tf.Tensor, b as tf.Tensor),
  gradFunc: (dy) => {
    const d = dy as tf.Tensor2D;
    const [M, N] = d.shape;
    const ones = tf.ones([1, M]);
    // our batched kernel runs a single row as one gemv; XNNPACK would pack all of dy first
    const db = fusedKernelsActive()
      ? batchMatMulFused(ones.reshape([1, 1, M]), d.reshape([1, M, N]))
      : tf.matMul(ones, d);
    return [d, db.reshape([N])];
  },
})) as (y: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

/**
 * a [n, M, K] @ b [n, K, N] with our wasm kernel, differentiable: the gradients are the same kernel
 * on explicitly transposed operands (dA = dC·Bᵀ, dB = Aᵀ·dC), as matMul2d's are.
 */
const batchMatMul = tf.customGrad((a, b, save) => {
  (save as tf.GradSaveFunc)([a as tf.Tensor, b as tf.Tensor]);
  return {
    value: batchMatMulFused(a as tf.Tensor3D, b as tf.Tensor3D),
    gradFunc: (dy, saved) => {
      const [A, B] = saved as tf.Tensor3D[];
      const dC = dy as tf.Tensor3D;
      return [batchMatMulFused(dC, B!.transpose([0, 2, 1])), batchMatMulFused(A!.transpose([0, 2, 1]), dC)];
    },
  };
}) as (a: tf.Tensor3D, b: tf.Tensor3D) => tf.Tensor3D;

/**
 * a @ b over leading batch dims, which may broadcast (size 1 against size n): a [..., m, k],
 * b [..., k, n] → [..., m, n]. One matrix is a 2-D matMul. Several go to our batched kernel on
 * wasm, which beat both tfjs's own batched matMul and one 2-D matMul per matrix at every size
 * measured, from a decode step's heads to a training batch's (docs/design.md §2, results/).
 */
export function bmm(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const r = a.rank;
  const [m, k] = a.shape.slice(r - 2);
  const n = b.shape[r - 1];
  const batchA = a.shape.slice(0, r - 2);
  const batchB = b.shape.slice(0, r - 2);
  const batch = batchA.map((x, i) => Math.max(x, batchB[i]));
  const count = batch.reduce((x, y) => x * y, 1);
  if (count === 1) return matMul2d(a.reshape([m, k]), b.reshape([k, n])).reshape([...batch, m, n]);
  const A = batchA.every((x, i) => x === batch[i]) ? a : tf.broadcastTo(a, [...batch, m, k]);
  const B = batchB.every((x, i) => x === batch[i]) ? b : tf.broadcastTo(b, [...batch, k, n]);
  if (!fusedKernelsActive()) return tf.matMul(A, B);
  return batchMatMul(A.reshape([count, m, k]) as tf.Tensor3D, B.reshape([count, k, n]) as tf.Tensor3D).reshape([
    ...batch,
    m,
    n,
  ]);
}
