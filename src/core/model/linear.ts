/**
 * Linear layers on prepared weights: x·Wᵀ + b with W held transposed ([in, out], so each product
 * stays on the wasm fast path), and the wide output layer held as column blocks.
 */
import * as tf from '@tensorflow/tfjs';

import type {HostTensor} from '../io/tensor.js';
import {addBias, matMul2d} from './grads.js';
import {GEMV_MAX_M, GEMV_MAX_N, linearGemv} from './kernels.js';

export interface Linear {
  wT: tf.Tensor2D; // [in, out]
  b: tf.Tensor1D; // [out]
}
/** A wide linear stored as column blocks [in, ≤ OUT_BLOCK] in order (inference): each block's product keeps its output in L1. */
export interface BlockedLinear {
  blocks: Linear[];
}
/** Column-block width of a blocked linear. */
export const OUT_BLOCK = 2048;

const FUSED_LINEAR = {transposeA: false, transposeB: false, activation: 'linear'} as unknown as tf.NamedAttrMap;

/**
 * x·Wᵀ + b on the last axis; x [..., in] → [..., out]. `fast` (inference): without the gradient
 * wrapper; a few rows against a matrix up to GEMV_MAX_N wide go through our gemv (kernels.ts),
 * anything else through one fused matMul with the bias (XNNPACK).
 */
export function linear(x: tf.Tensor, w: Linear, fast = false): tf.Tensor {
  const [K, N] = w.wT.shape as [number, number];
  const x2 = (x.rank === 2 ? x : x.reshape([-1, K])) as tf.Tensor2D; // [M, K]
  const M = x2.shape[0];
  let y: tf.Tensor; // [M, N]
  if (!fast) y = addBias(matMul2d(x2, w.wT), w.b);
  else if (M <= GEMV_MAX_M && N <= GEMV_MAX_N)
    y = linearGemv(x2, w.wT, w.b); // a decode step: stream W once per row, where it lies
  else
    y = (
      tf
        .engine()
        .runKernel(
          '_FusedMatMul',
          {a: x2.reshape([1, M, K]), b: w.wT.reshape([1, K, N]), bias: w.b},
          FUSED_LINEAR,
        ) as tf.Tensor
    ).reshape([M, N]);
  return x.rank === 2 ? y : y.reshape([...x.shape.slice(0, -1), N]);
}

/** The output layer: one linear, or the concatenation of its column blocks' products. */
export function outputLayer(x: tf.Tensor, w: Linear | BlockedLinear, fast = false): tf.Tensor {
  if (!('blocks' in w)) return linear(x, w, fast);
  const K = x.shape[x.rank - 1]!;
  const x2 = x.reshape([-1, K]); // once, not per block
  const y = tf.concat(
    w.blocks.map((b) => linear(x2, b, fast)),
    -1,
  ); // [M, V]
  return y.reshape([...x.shape.slice(0, -1), y.shape[1]!]);
}

/**
 * A host linear W [out, in], b [out] wider than GEMV_MAX_N (the output layer) as column blocks of
 * Wᵀ, each cut and transposed on the host and uploaded (kept) as it is made: its reference layout
 * never reaches the backend. Undefined for a narrower one.
 */
export function blockedFromHost(W: HostTensor, bias: HostTensor): BlockedLinear | undefined {
  if (W.shape[0]! <= GEMV_MAX_N) return undefined;
  const [N, K] = W.shape as [number, number];
  const src = W.data as Float32Array;
  const blocks: Linear[] = [];
  for (let from = 0; from < N; from += OUT_BLOCK) {
    const n = Math.min(OUT_BLOCK, N - from);
    const t = new Float32Array(K * n); // [K, n] = rows from…from+n of W, transposed
    for (let i = 0; i < n; i++) for (let j = 0, row = (from + i) * K; j < K; j++) t[j * n + i] = src[row + j]!;
    blocks.push({
      wT: tf.keep(tf.tensor2d(t, [K, n])),
      b: tf.keep(tf.tensor1d((bias.data as Float32Array).slice(from, from + n))),
    });
  }
  return {blocks};
}
