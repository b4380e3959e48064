/**
 * Next-token sampling for generation (docs/spec.md §5.1–§5.3, traps T9 and T22): the reference's
 * temperature → top-p → top-k filters on one row of V float32 logits, a seeded RNG and the
 * categorical draw. Plain TypeScript on typed arrays: one row per step, no tensor library.
 *
 * The filters reproduce what the reference computes in float32 with torch on CPU, so that the
 * removed set matches `sampling.*` in the fixtures even when a cumulative probability sits
 * close to top_p. Every float32 operation below is written as `Math.fround` of the exact
 * double result, which is the correctly rounded float32 result for +, −, ×, ÷.
 */
import {PldrError} from './errors.js';

export interface SamplingOptions {
  /** In (0, 1]; applied only when < 1 (§5.3). */
  temperature: number;
  /** 0 = off; otherwise 1..V (§5.1). */
  topK: number;
  /** In (0, 1]; applied only when < 1 (§5.3). */
  topP: number;
}

/** The reference's greedy setting (§5.3): top_k 1 with temperature 1 and top_p 1. */
export const GREEDY: Readonly<SamplingOptions> = Object.freeze({temperature: 1, topK: 1, topP: 1});

/** Value given to removed entries: −1e10, not −∞ (§5.3, T9). Exactly representable in float32. */
export const REMOVED = -1e10;

/** Rejects what the reference asserts against (§5.1, T22), with one line naming the fix. */
export function validateSampling(o: SamplingOptions, vocabSize: number): void {
  const t = o.temperature;
  if (typeof t !== 'number' || !(t > 0 && t <= 1)) {
    throw new PldrError(`temperature must be in (0, 1], got ${t}`);
  }
  const p = o.topP;
  if (typeof p !== 'number' || !(p > 0 && p <= 1)) {
    throw new PldrError(`top_p must be in (0, 1], got ${p}`);
  }
  const k = o.topK;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 0) {
    throw new PldrError(`top_k must be a non-negative integer (0 = off), got ${k}`);
  }
  if (k > vocabSize) {
    throw new PldrError(`top_k must be at most the vocabulary size ${vocabSize}, got ${k}`);
  }
}

/** True for the reference's greedy setting (§5.3). Exact ties with the max stay random. */
export function isGreedy(o: SamplingOptions): boolean {
  return o.topK === 1 && o.temperature === 1 && o.topP === 1;
}

/**
 * Applies temperature (if < 1), then top-p (if < 1), then top-k (if > 0), in that fixed order
 * (§5.3, T9), and returns a new row; removed entries are −1e10. Ties with a threshold are kept.
 */
export function applyFilters(logits: Float32Array, o: SamplingOptions): Float32Array {
  validateSampling(o, logits.length);
  const z = Float32Array.from(logits);
  if (o.temperature < 1) {
    // torch divides a float32 tensor by a Python float by first casting the scalar to float32,
    // so the divisor is fround(t), not t (checked on sampling.temp_0.7: 19 values differ otherwise).
    const t = Math.fround(o.temperature);
    for (let i = 0; i < z.length; i++) z[i] = z[i]! / t; // Float32Array store rounds to float32
  }
  if (o.topP < 1) removeBelow(z, topPThreshold(z, o.topP));
  if (o.topK > 0) removeBelow(z, sortedDescending(z)[o.topK - 1]!);
  return z;
}

function removeBelow(z: Float32Array, threshold: number): void {
  for (let i = 0; i < z.length; i++) if (z[i]! < threshold) z[i] = REMOVED;
}

/**
 * z sorted descending, exactly as `Float32Array.from(z).sort().reverse()` (NaN first, +0 before
 * −0), by an LSD radix sort on the float bits: two 16-bit passes instead of a comparison sort, on
 * a 32,000-entry row several times faster, which matters once per generated token. Each float maps
 * to an unsigned key whose ascending order is the floats' descending order: a negative float keeps
 * its bits, a positive one has every bit but the sign flipped, and every NaN is 0 (first).
 */
export function sortedDescending(z: Float32Array): Float32Array {
  const n = z.length;
  let keys = new Uint32Array(n);
  let tmp = new Uint32Array(n);
  const bits = new Uint32Array(z.buffer, z.byteOffset, n);
  const lo = new Uint32Array(65536);
  const hi = new Uint32Array(65536);
  for (let i = 0; i < n; i++) {
    const b = bits[i]!;
    const k = Number.isNaN(z[i]!) ? 0 : b & 0x80000000 ? b : ~b & 0x7fffffff;
    keys[i] = k;
    lo[k & 0xffff]!++;
    hi[k >>> 16]!++;
  }
  for (const [count, shift] of [
    [lo, 0],
    [hi, 16],
  ] as const) {
    for (let d = 0, sum = 0; d < 65536; d++) {
      const c = count[d]!;
      count[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      tmp[count[(k >>> shift) & 0xffff]!++] = k;
    }
    [keys, tmp] = [tmp, keys];
  }
  const out = new Float32Array(n);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    outBits[i] = k === 0 ? 0x7fc00000 : k & 0x80000000 ? k : ~k & 0x7fffffff;
  }
  return out;
}

/**
 * The reference's nucleus threshold (§5.3): s = z sorted descending, c = cumsum(softmax(s)),
 * n = max(count(c ≤ p) − 1, 0), threshold = s[n]. This keeps the longest prefix whose
 * cumulative probability is ≤ p (at least the top token): one token fewer than HF (T9).
 */
function topPThreshold(z: Float32Array, p: number): number {
  const s = sortedDescending(z);
  // softmax(s) as torch 1.13's CPU kernel computes it (_vec_softmax_lastdim): m = max;
  // e = exp(s − m) in float32; sum = vectorized float32 reduction; prob = e × float32(1/sum).
  // The sum is emulated with 8 float32 lanes (AVX2), folded lane by lane; torch's exp (SLEEF,
  // ≤ 1 ulp) and its lane fold may still differ by an ulp, which only matters for a cumulative
  // probability within ~1e-7 of p.
  const n = s.length;
  const m = s[0]!;
  const e = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = Math.fround(s[i]! - m);
    if (x < -110) break; // exp underflows to 0 in float32 here, and s is descending
    e[i] = Math.exp(x);
  }
  const inv = Math.fround(1 / laneSumF32(e));
  // torch's CPU cumsum accumulates float32 input in a double (acc_type<float> on CPU is double)
  // and rounds each output to float32; the comparison `cum <= p` casts the Python float p to
  // float32 (comparisons use the common dtype), so 0.9 is compared as 0.89999998.
  const pf = Math.fround(p);
  let acc = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    acc += Math.fround(e[i]! * inv);
    if (Math.fround(acc) > pf) break; // probabilities are ≥ 0: the running sum never comes back
    count++;
  }
  return s[Math.max(count - 1, 0)]!;
}

/** float32 sum as at::vec::reduce_all does it with 8-wide vectors. */
function laneSumF32(v: Float32Array): number {
  const W = 8;
  const n = v.length;
  if (n < W) {
    let acc = n > 0 ? v[0]! : 0;
    for (let i = 1; i < n; i++) acc = Math.fround(acc + v[i]!);
    return acc;
  }
  const lanes = new Float32Array(W);
  for (let i = 0; i < n; i++) lanes[i % W] = lanes[i % W]! + v[i]!;
  let acc = lanes[0]!;
  for (let j = 1; j < W; j++) acc = Math.fround(acc + lanes[j]!);
  return acc;
}

/** Numerically stable log-softmax of the raw logits, in float64 (for per-token log-probs). */
export function logSoftmax(logits: Float32Array): Float64Array {
  const lse = logSumExp(logits);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - lse;
  return out;
}

/** One entry of logSoftmax: what a generation step reports, without a row of V doubles per token. */
export function logSoftmaxAt(logits: Float32Array, index: number): number {
  return logits[index]! - logSumExp(logits);
}

function logSumExp(logits: Float32Array): number {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > m) m = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - m);
  return m + Math.log(sum);
}

/** Index of the first maximal entry (−1 for an empty row). NaN entries never win. */
export function argmax(logits: Float32Array): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (best < 0 ? !Number.isNaN(v) : v > bestValue) {
      best = i;
      bestValue = v;
    }
  }
  return best;
}

const MASK64 = (1n << 64n) - 1n;

/** splitmix64 step, used only to expand a seed into generator state (Steele et al.). */
function splitmix64(state: bigint): [next: bigint, out: bigint] {
  const next = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let x = next;
  x = ((x ^ (x >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  x = ((x ^ (x >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [next, x ^ (x >> 31n)];
}

const STATE_PREFIX = 'xoshiro128**:';

/**
 * xoshiro128** (Blackman & Vigna) with 32-bit integer arithmetic only, so the sequence is the
 * same on every platform. The seed (any integer, taken modulo 2^64) is expanded by splitmix64.
 * The framework's RNG of the reference cannot be reproduced anyway (§5.3); this one only has
 * to be deterministic for a given seed and resumable from state().
 */
export class Rng {
  private s: Uint32Array;

  constructor(seed: number | bigint) {
    if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
      throw new PldrError(`seed must be an integer, got ${seed}`);
    }
    let sm = BigInt.asUintN(64, BigInt(seed));
    this.s = new Uint32Array(4);
    for (let i = 0; i < 4; i += 2) {
      const [next, out] = splitmix64(sm);
      sm = next;
      this.s[i] = Number(out & 0xffffffffn);
      this.s[i + 1] = Number(out >> 32n);
    }
    // splitmix64 output of two consecutive states is never all zero, but guard the invariant.
    if (this.s.every((w) => w === 0)) this.s[0] = 1;
  }

  /** Next raw 32-bit output. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2] ^= s[0]!;
    s[3] ^= s[1]!;
    s[1] ^= s[2]!;
    s[0] ^= s[3]!;
    s[2] ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits (two 32-bit outputs). */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992; // (hi·2^26 + lo) / 2^53
  }

  /** The full generator state, e.g. to resume a run; restore with Rng.fromState. */
  state(): string {
    return STATE_PREFIX + Array.from(this.s, (w) => w.toString(16).padStart(8, '0')).join('');
  }

  static fromState(state: string): Rng {
    const hex = state.startsWith(STATE_PREFIX) ? state.slice(STATE_PREFIX.length) : '';
    if (!/^[0-9a-f]{32}$/.test(hex) || /^0{32}$/.test(hex)) {
      throw new PldrError(`invalid RNG state "${state}" (expected ${STATE_PREFIX} + 32 hex digits, not all zero)`);
    }
    const rng = new Rng(0);
    for (let i = 0; i < 4; i++) rng.s[i] = parseInt(hex.slice(8 * i, 8 * i + 8), 16);
    return rng;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * One draw from Categorical(softmax(logits)) (§5.2 step 9), computed in float64:
 * w_i = exp(z_i − max), so entries at −1e10 get weight exactly 0 and are never drawn.
 *
 * RNG use: when only one entry has non-zero weight (e.g. greedy with a unique max) that entry
 * is returned without drawing, so the rng is not advanced; otherwise exactly one next() is
 * consumed. The stream position therefore depends on the data, which is fine for
 * reproducibility: same seed + same logits ⇒ same ids.
 */
export function sampleCategorical(logits: Float32Array, rng: Rng): number {
  const n = logits.length;
  if (n === 0) throw new PldrError('cannot sample from an empty logits row');
  let m = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logits[i]!;
    if (Number.isNaN(v)) throw new PldrError('logits contain NaN; the model output is not finite');
    if (v > m) m = v;
  }
  if (m === Infinity) throw new PldrError('logits contain +Infinity; the model output is not finite');
  const w = new Float64Array(n);
  let total = 0;
  let nonzero = 0;
  let last = -1;
  for (let i = 0; i < n; i++) {
    // m = −∞ only if every entry is −∞: treat them as equally likely rather than NaN.
    const x = logits[i]! - m;
    const wi = m === -Infinity ? 1 : x < -746 ? 0 : Math.exp(x); // exp(x < −745.2) is 0 in double
    w[i] = wi;
    total += wi;
    if (wi > 0) {
      nonzero++;
      last = i;
    }
  }
  if (nonzero === 1) return last;
  const u = rng.next() * total;
  let cum = 0;
  for (let i = 0; i < n; i++) {
    cum += w[i]!;
    if (u < cum) return i;
  }
  return last; // u landed in the rounding slack at the top: the last possible entry
}

/** One generation step's choice: applyFilters then sampleCategorical. */
export function sampleNext(logits: Float32Array, o: SamplingOptions, rng: Rng): number {
  return sampleCategorical(applyFilters(logits, o), rng);
}
