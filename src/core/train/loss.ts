/**
 * Masked cross-entropy and accuracy (spec §6.2): only target id 0 is ignored; the loss is the mean
 * over all non-pad targets of the batch, not a mean of per-row means.
 */
import * as tf from '@tensorflow/tfjs';

/** logits [B, L, V], targets [B, L] int32 → scalar loss. Differentiable. */
export function maskedLoss(logits: tf.Tensor3D, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const V = logits.shape[2];
    const z = logits.reshape([-1, V]);
    const y = targets.reshape([-1]);
    const m = tf.notEqual(y, 0).toFloat();
    const ce = tf.sub(tf.logSumExp(z, -1), tf.sum(tf.mul(z, tf.oneHot(y, V)), -1)); // logsumexp(z) − z_y
    return tf.div(tf.sum(tf.mul(ce, m)), tf.sum(m)) as tf.Scalar;
  });
}

/** Σ m·[argmax z == y] / Σ m, argmax taking the first maximal index. */
export function maskedAccuracy(logits: tf.Tensor3D, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const y = targets.reshape([-1]);
    const m = tf.notEqual(y, 0).toFloat();
    const hit = tf.equal(tf.argMax(logits.reshape([-1, logits.shape[2]]), -1), y).toFloat();
    return tf.div(tf.sum(tf.mul(hit, m)), tf.sum(m)) as tf.Scalar;
  });
}
