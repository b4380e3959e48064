/**
 * Rotary position embedding, in the two styles PLDR-LLMs use (docs/spec.md §3.4):
 * - 'reference' (v51, Transformers' `reference_rope: true`): exactly torchtune v0.5.0's
 *   RotaryPositionalEmbeddings, interleaved adjacent pairs (2i, 2i+1);
 * - 'neox' (v52, `reference_rope: false`): GPT-NeoX / LLaMA "rotate-half", component i paired
 *   with i + d_k/2.
 * Both use the same frequencies θ_i = 10000^(−2i/d_k) and the same float32 table, with the angle
 * rounded to float32 before cos/sin; only which two components form a pair differs.
 */
import * as tf from '@tensorflow/tfjs';

import type {RopeStyle} from '../config.js';
import {ROPE_THETA} from './constants.js';

const f = Math.fround;

/** x [n, dk] · P: each pair of columns exchanged. P is symmetric, so the gradient is dy · P (a plain product, no transposed operand). */
const swapPairs = tf.customGrad((x, P, save) => {
  (save as tf.GradSaveFunc)([P as tf.Tensor]);
  return {
    value: tf.matMul(x as tf.Tensor, P as tf.Tensor),
    gradFunc: (dy, saved) => [tf.matMul(dy as tf.Tensor, saved[0]!), tf.zerosLike(saved[0]!)],
  };
}) as (x: tf.Tensor2D, P: tf.Tensor2D) => tf.Tensor2D;

/** The reference's table [P_max, dk/2, 2] = (cos, sin), float32. Computed in float64, rounded. */
export function ropeTable(maxSeqLen: number, dk: number): Float32Array {
  const half = dk / 2;
  const theta = new Float64Array(half);
  for (let i = 0; i < half; i++) {
    const e = f(f(2 * i) / dk); // torch.arange(0, dim, 2)[: dim // 2].float() / dim
    theta[i] = f(1 / f(ROPE_THETA ** e));
  }
  const table = new Float32Array(maxSeqLen * half * 2);
  for (let p = 0; p < maxSeqLen; p++) {
    for (let i = 0; i < half; i++) {
      const angle = f(p * theta[i]);
      table[(p * half + i) * 2] = Math.cos(angle);
      table[(p * half + i) * 2 + 1] = Math.sin(angle);
    }
  }
  return table;
}

/**
 * The two components of pair i (frequency θ_i) and the partner of component j, per style:
 * reference (2i, 2i+1), partner j ^ 1; neox (i, i + d_k/2), partner (j + d_k/2) mod d_k.
 */
export function ropePair(style: RopeStyle, dk: number, i: number): [number, number] {
  return style === 'neox' ? [i, i + dk / 2] : [2 * i, 2 * i + 1];
}

export function ropePartner(style: RopeStyle, dk: number, j: number): number {
  return style === 'neox' ? (j + dk / 2) % dk : j ^ 1;
}

const partnerTables = new Map<string, Int32Array>();

/** ropePartner for every component j < dk, made once per (style, dk): the fused kernel reads it at every step. */
export function ropePartners(style: RopeStyle, dk: number): Int32Array {
  const key = `${style}/${dk}`;
  let t = partnerTables.get(key);
  if (!t) partnerTables.set(key, (t = Int32Array.from({length: dk}, (_, j) => ropePartner(style, dk, j)))); // [dk]
  return t;
}

/**
 * Everything a layer needs to rotate Q and K, precomputed once per model. For each pair (u, v)
 * of frequency i (see ropePair) with (c, s) = table[p, i]:
 *   x'[u] = x[u]·c − x[v]·s
 *   x'[v] = x[v]·c + x[u]·s
 * computed as x·C + swap(x)·S, with C[p][u] = C[p][v] = c, S[p][u] = −s, S[p][v] = s and swap
 * exchanging each pair. For neox this is x·cos + rotate_half(x)·sin, rotate_half(x) = (−x₂, x₁).
 * Negating s is exact, so this is bit-identical to the reference.
 * The swap is a product with the pair-swap permutation matrix: exact for finite values (one product
 * by 1, the rest exact zeros) and faster on wasm than a gather along the last axis.
 */
export class Rope {
  readonly cos: tf.Tensor2D; // [P_max, dk]
  readonly sin: tf.Tensor2D; // [P_max, dk] with the sign of each pair folded in
  readonly swap: tf.Tensor2D; // [dk, dk] permutation matrix: column j holds a 1 in row ropePartner(j)

  constructor(
    readonly maxSeqLen: number,
    readonly dk: number,
    readonly style: RopeStyle = 'reference',
  ) {
    const table = ropeTable(maxSeqLen, dk);
    const c = new Float32Array(maxSeqLen * dk);
    const s = new Float32Array(maxSeqLen * dk);
    for (let p = 0; p < maxSeqLen; p++) {
      for (let i = 0; i < dk / 2; i++) {
        const cv = table[p * dk + 2 * i]; // table is [P_max, dk/2, 2]: row p starts at p·dk
        const sv = table[p * dk + 2 * i + 1];
        const [u, v] = ropePair(style, dk, i);
        c[p * dk + u] = cv;
        c[p * dk + v] = cv;
        s[p * dk + u] = -sv;
        s[p * dk + v] = sv;
      }
    }
    this.cos = tf.keep(tf.tensor2d(c, [maxSeqLen, dk]));
    this.sin = tf.keep(tf.tensor2d(s, [maxSeqLen, dk]));
    const P = new Float32Array(dk * dk);
    for (let j = 0; j < dk; j++) P[ropePartner(style, dk, j) * dk + j] = 1;
    this.swap = tf.keep(tf.tensor2d(P, [dk, dk]));
  }

  /** Rotate x [B, L, H, dk] whose positions are start..start+L−1. */
  apply(x: tf.Tensor4D, start: number): tf.Tensor4D {
    const L = x.shape[1];
    const c = this.cos.slice([start, 0], [L, this.dk]).reshape([1, L, 1, this.dk]);
    const s = this.sin.slice([start, 0], [L, this.dk]).reshape([1, L, 1, this.dk]);
    const swapped = swapPairs(x.reshape([-1, this.dk]) as tf.Tensor2D, this.swap).reshape(x.shape);
    return tf.add(tf.mul(x, c), tf.mul(swapped, s));
  }

  dispose(): void {
    this.cos.dispose();
    this.sin.dispose();
    this.swap.dispose();
  }
}
