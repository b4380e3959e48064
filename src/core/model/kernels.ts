/**
 * Fused inference kernels for the wasm backend: plain loops over the wasm heap that
 * replace chains of small tfjs ops. A cached decode step works on one token, so its elementwise
 * work is a few thousand floats per op and tfjs's fixed cost per op dominated it. The kernels have
 * no gradients: inference (`PldrModel.forward`) uses them, training keeps the composite ops —
 * except PldrBatchMatMul, which grads.ts's bmm wraps with its gradients.
 *
 *   PldrLayerNorm  LN(x [+ r]) over the last axis, ε given, biased variance      x, r [R, n]
 *   PldrQkvRope    split a fused Q|K|V projection, rotate Q and K (docs/spec.md §3.4) and lay Q out per head
 *                  qkv [B·L, 3d] → q [B, H, L, dk], k [B, L, H, dk], v [B, L, H, dk]
 *   PldrCachedAttention  one new token's attention over an in-place KV-cache (docs/spec.md §3.7, L = 1):
 *                  writes k, v at `position` of Kt [B, H, dk, cap] and V [B, H, cap, dk], then
 *                  S = qG·Kt/√dk, E = softmax(S), O = E·V per head → O [B, 1, d], S [B, H, 1, position+1]
 *   PldrBatchMatMul  a [n, M, K] · b [n or 1, K, N] → [n, M, N] with our 4 × 8 register-blocked wasm
 *                  loop (wasm/gemv.wat), faster than tfjs's batched matMul on wasm; training
 *                  attention is all batched products (B·H of them per layer, forward and backward)
 *   PldrLinear     x·W + b for a few rows x [M, K], W [K, N] ≤ GEMV_MAX_N wide: our own wasm loop
 *                  (wasm/gemv.wat) streaming W once per row, where it lies — no packed copy of W
 *
 * Statistics are accumulated in float64 and every output rounded to float32 once, so they agree
 * with the composite float32 ops to within an ulp or two (tests compare both paths and the fixtures).
 */
import * as tf from '@tensorflow/tfjs';

import type {RopeStyle} from '../config.js';
import {cores} from '../threads.js';
import {WASM_BASE64, WASM_SHARED_BASE64} from '../wasm/gemv-bytes.js';
import {KernelPool, type PoolCall} from '../wasm/pool.js';
import {ropePartners} from './rope.js';

interface HeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  dataIdMap: {get(id: unknown): {memoryOffset: number}};
  /** The single-threaded build exports its memory (asm.memory); the multi-threaded one imports a shared one (wasmMemory). */
  wasm: {asm?: {memory?: WebAssembly.Memory}; wasmMemory?: WebAssembly.Memory; HEAPF32: Float32Array};
}

/** PldrLinear serves products with at most this many rows and columns; wider or taller ones go to XNNPACK. */
export const GEMV_MAX_M = 16;
export const GEMV_MAX_N = 3072;

interface Gemv {
  /** y[0:N] += x[0:K] · W[K, 0:N] for rows of W `stride` floats apart; byte offsets into the heap. */
  gemvs(x: number, w: number, y: number, K: number, N: number, stride: number): void;
  /** Columns c0…c1 of y[m] += x[m] · W for m < M (rows of W `stride` floats apart, of y `yStride`). */
  gemvCols(
    x: number,
    w: number,
    y: number,
    K: number,
    stride: number,
    M: number,
    yStride: number,
    c0: number,
    c1: number,
  ): void;
  /** C[i] = A[i] · B[i] for i0 ≤ i < i1: A [n, M, K], B [n, K, N] (bStep K·N) or [1, K, N] (bStep 0). */
  bmm(a: number, b: number, c: number, M: number, K: number, N: number, bStep: number, i0: number, i1: number): void;
}
/** Our kernels on the backend's memory, and the pool that splits the large products over threads. */
let gemvFns: {fns: Gemv; pool: KernelPool; module: WebAssembly.Module; memory: WebAssembly.Memory} | null | undefined;

/** Our gemv, instantiated on the wasm backend's own memory; null when that memory cannot be reached. */
function gemvOn(be: HeapBackend): Gemv | null {
  if (gemvFns !== undefined) return gemvFns?.fns ?? null;
  const memory = be.wasm.asm?.memory ?? be.wasm.wasmMemory;
  try {
    if (!(memory instanceof WebAssembly.Memory)) throw new Error('no memory');
    const mod = new WebAssembly.Module(Buffer.from(isShared(memory) ? WASM_SHARED_BASE64 : WASM_BASE64, 'base64'));
    const fns = new WebAssembly.Instance(mod, {env: {memory}}).exports as unknown as Gemv;
    gemvFns = {fns, pool: new KernelPool(mod, memory, fns, 0), module: mod, memory};
  } catch {
    gemvFns = null;
  }
  return gemvFns?.fns ?? null;
}

const isShared = (memory: WebAssembly.Memory) =>
  typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;

/**
 * Split our kernels' large products over `threads` threads (wasm/pool.ts), on the threaded
 * backend's shared memory; at most one per core (more would only wait for each other). Settles to
 * the threads a pooled product runs on: 1 when the memory is not shared or a worker failed to start.
 */
export function startKernelPool(threads: number): Promise<number> {
  if (!gemvOn(tf.backend() as unknown as HeapBackend) || !isShared(gemvFns!.memory)) return Promise.resolve(1);
  const {fns, module, memory} = gemvFns!;
  gemvFns!.pool = new KernelPool(module, memory, fns, Math.min(threads, cores()) - 1);
  return gemvFns!.pool.ready;
}

/** The threads our pooled kernels run on (1 before startKernelPool, or without it). */
export function kernelThreads(): number {
  return gemvFns?.pool.threads ?? 1;
}

/**
 * The pool splits a batched product (PldrBatchMatMul) from this many multiply-adds: below, the
 * dispatch costs more than it saves. The caller spins this long for the workers, and idle workers
 * as long for the next job, before they sleep: longer starved XNNPACK's own threads of the cores.
 * A decode step's products (PldrLinear) stay on the calling thread: one matrix cut into column
 * slices streamed at half the bandwidth (wasm/pool.ts).
 */
const MIN_POOLED_WORK = 128 * 1024;
const SPIN_US = 200;

/** `parts` runs [lo, hi) of near-equal length covering 0…n. */
const runs = (n: number, parts: number): [number, number][] =>
  Array.from({length: parts}, (_, t) => [Math.floor((n * t) / parts), Math.floor((n * (t + 1)) / parts)]);

/**
 * For kernels that hand pointers to our gemv: make the output first (allocating may grow the heap),
 * then read every tensor's byte offset in the heap.
 */
function withOffsets(
  backend: unknown,
  inputs: tf.TensorInfo[],
  outShape: number[],
  body: (be: HeapBackend, ins: number[], out: number) => void,
): tf.TensorInfo {
  const be = backend as HeapBackend;
  const y = be.makeOutput(outShape, 'float32');
  const at = (t: tf.TensorInfo) => be.dataIdMap.get(t.dataId).memoryOffset;
  body(be, inputs.map(at), at(y));
  return y;
}

/** Make the outputs first (allocating may grow the heap and detach older views), then view the inputs. */
function withHeap(
  backend: unknown,
  inputs: tf.TensorInfo[],
  outShapes: number[][],
  body: (ins: Float32Array[], outs: Float32Array[]) => void,
): tf.TensorInfo[] {
  const be = backend as HeapBackend;
  const outs = outShapes.map((s) => be.makeOutput(s, 'float32'));
  body(
    inputs.map((t) => be.typedArrayFromHeap(t)),
    outs.map((t) => be.typedArrayFromHeap(t)),
  );
  return outs;
}

let registered = false;

/** Register the kernels on the wasm backend (idempotent). */
export function registerFusedKernels(): void {
  if (registered) return;
  registered = true;

  tf.registerKernel({
    kernelName: 'PldrLayerNorm',
    backendName: 'wasm',
    kernelFunc: ({inputs, backend, attrs}) => {
      const {x, g, b, r} = inputs as Record<string, tf.TensorInfo>;
      const {eps} = attrs as unknown as {eps: number};
      const n = x.shape[x.shape.length - 1]!;
      const ins = r ? [x, g, b, r] : [x, g, b];
      return withHeap(backend, ins, [x.shape], ([xv, gv, bv, rv], [out]) => {
        const rows = xv.length / n;
        const row = new Float64Array(n);
        for (let i = 0; i < rows; i++) {
          const o = i * n;
          let sum = 0;
          for (let j = 0; j < n; j++) {
            const v = rv ? Math.fround(xv[o + j]! + rv[o + j]!) : xv[o + j]!; // the residual sum is a float32 add
            row[j] = v;
            sum += v;
          }
          const mean = sum / n;
          let sq = 0;
          for (let j = 0; j < n; j++) sq += (row[j]! - mean) ** 2;
          const inv = 1 / Math.sqrt(sq / n + eps);
          for (let j = 0; j < n; j++) out![o + j] = (row[j]! - mean) * inv * gv![j]! + bv![j]!;
        }
      })[0]!;
    },
  });

  tf.registerKernel({
    kernelName: 'PldrLinear',
    backendName: 'wasm',
    kernelFunc: ({inputs, backend}) => {
      const {x, w, b} = inputs as Record<string, tf.TensorInfo>;
      const [M, K] = x.shape as [number, number];
      const N = w.shape[1]!;
      return withOffsets(backend, [x, w, b], [M, N], (be, [xo, wo, bo], yo) => {
        const {gemvCols} = gemvOn(be)!;
        for (let m = 0; m < M; m++) be.wasm.HEAPF32.copyWithin(yo / 4 + m * N, bo! / 4, bo! / 4 + N); // y = b, then y += x·W
        gemvCols(xo!, wo!, yo, K, N, M, N, 0, N);
      });
    },
  });

  tf.registerKernel({
    kernelName: 'PldrBatchMatMul',
    backendName: 'wasm',
    kernelFunc: ({inputs, backend}) => {
      const {a, b} = inputs as Record<string, tf.TensorInfo>;
      const [n, M, K] = a.shape as [number, number, number];
      const N = b.shape[2]!;
      const bStep = b.shape[0] === 1 ? 0 : K * N; // one b for every matrix of a, or one each
      return withOffsets(backend, [a, b], [n, M, N], (be, [ao, bo], co) => {
        gemvOn(be);
        const {pool} = gemvFns!;
        const calls: PoolCall[] = [];
        if (n > 1) {
          for (const [i0, i1] of runs(n, pool.threads)) calls.push(['bmm', ao!, bo!, co, M, K, N, bStep, i0, i1]); // whole matrices to each thread
        } else {
          // one product: its rows in blocks of four as a batch of [4, K] · [K, N] products (bmm takes
          // rows four at a time from the first: the same blocks), then the last M mod 4 rows
          const M4 = M & ~3;
          for (const [i0, i1] of runs(M4 / 4, pool.threads))
            if (i1 > i0) calls.push(['bmm', ao!, bo!, co, 4, K, N, 0, i0, i1]);
          be.wasm.HEAPF32.fill(0, co / 4 + M4 * N, co / 4 + M * N);
          if (M4 < M) calls.push(['gemvCols', ao! + 4 * M4 * K, bo!, co + 4 * M4 * N, K, N, M - M4, N, 0, N]);
        }
        const rows = (call: PoolCall) => (call[0] === 'bmm' ? call[4] * (call[9] - call[8]) : call[6]);
        pool.run(
          calls,
          calls.map((call) => rows(call) * K * N),
          MIN_POOLED_WORK,
          SPIN_US,
        );
      });
    },
  });

  tf.registerKernel({
    kernelName: 'PldrCachedAttention',
    backendName: 'wasm',
    kernelFunc: ({inputs, backend, attrs}) => {
      const {qG, k, v, Kt, V} = inputs as Record<string, tf.TensorInfo>;
      const {position} = attrs as unknown as {position: number};
      const [B, H, , dk] = qG.shape as [number, number, number, number];
      const cap = V.shape[2]!;
      const n = position + 1; // keys and values after this token's are written
      const be = backend as HeapBackend;
      // O, S, and E (the softmax, scratch for the second product: the caller drops it)
      const outs = [
        [B, 1, H * dk],
        [B, H, 1, n],
        [B, H, 1, n],
      ].map((s) => be.makeOutput(s, 'float32'));
      const at = (t: tf.TensorInfo) => be.dataIdMap.get(t.dataId).memoryOffset / 4; // float index
      const [qo, ko, vo, Kto, Vo] = [qG, k, v, Kt, V].map(at) as [number, number, number, number, number];
      const [Oo, So, Eo] = outs.map(at) as [number, number, number];
      const heap = be.wasm.HEAPF32; // after allocating: growing the heap replaces the view
      const {gemvs} = gemvOn(be)!;
      const scale = Math.fround(Math.sqrt(dk));
      heap.fill(0, Oo, Oo + B * H * dk);
      heap.fill(0, So, So + B * H * n);
      for (let bh = 0; bh < B * H; bh++) {
        const kt = Kto + bh * dk * cap; // Kt[b, h]: [dk, cap]
        const vv = Vo + bh * cap * dk; // V[b, h]: [cap, dk]
        const src = bh * dk; // k[b, 0, h], v[b, 0, h], qG[b, h, 0] and O[b, 0, h·dk…] all start here
        for (let j = 0; j < dk; j++) heap[kt + j * cap + position] = heap[ko + src + j]!;
        heap.copyWithin(vv + position * dk, vo + src, vo + src + dk);
        const s = So + bh * n;
        const e = Eo + bh * n;
        gemvs(4 * (qo + src), 4 * kt, 4 * s, dk, n, cap); // S = qG · Kt[:, 0:n]
        let max = -Infinity;
        for (let i = 0; i < n; i++) {
          const x = Math.fround(heap[s + i]! / scale);
          heap[s + i] = x;
          if (x > max) max = x;
        }
        let sum = 0;
        for (let i = 0; i < n; i++) {
          const x = Math.fround(Math.exp(heap[s + i]! - max));
          heap[e + i] = x;
          sum += x;
        }
        for (let i = 0; i < n; i++) heap[e + i] = heap[e + i]! / sum;
        gemvs(4 * e, 4 * vv, 4 * (Oo + src), n, dk, dk); // O = E · V[0:n]
      }
      return outs;
    },
  });

  tf.registerKernel({
    kernelName: 'PldrQkvRope',
    backendName: 'wasm',
    kernelFunc: ({inputs, backend, attrs}) => {
      const {qkv, cos, sin} = inputs as Record<string, tf.TensorInfo>;
      const {B, L, H, start, style} = attrs as unknown as {
        B: number;
        L: number;
        H: number;
        start: number;
        style: RopeStyle;
      };
      const d = qkv.shape[1]! / 3;
      const dk = d / H;
      const partner = ropePartners(style, dk); // [dk]
      return withHeap(
        backend,
        [qkv, cos, sin],
        [
          [B, H, L, dk],
          [B, L, H, dk],
          [B, L, H, dk],
        ],
        ([y, C, S], [q, k, v]) => {
          // x'[j] = x[j]·c + x[partner j]·s, with S's pair signs folded in (rope.ts)
          for (let bb = 0; bb < B; bb++)
            for (let t = 0; t < L; t++) {
              const row = (bb * L + t) * 3 * d;
              const p = (start + t) * dk;
              for (let h = 0; h < H; h++) {
                const qo = ((bb * H + h) * L + t) * dk;
                const ko = ((bb * L + t) * H + h) * dk;
                for (let j = 0; j < dk; j++) {
                  const c = C![p + j]!;
                  const s = S![p + j]!;
                  const src = row + h * dk + j;
                  const pair = row + h * dk + partner[j]!;
                  q![qo + j] = Math.fround(y![src]! * c) + Math.fround(y![pair]! * s);
                  k![ko + j] = Math.fround(y![src + d]! * c) + Math.fround(y![pair + d]! * s);
                  v![ko + j] = y![src + 2 * d]!;
                }
              }
            }
        },
      );
    },
  });
}

/** True where the fused kernels can run: the wasm backend, with them registered and our gemv on its memory. */
export function fusedKernelsActive(): boolean {
  return registered && tf.getBackend() === 'wasm' && gemvOn(tf.backend() as unknown as HeapBackend) !== null;
}

/** LN(x [+ residual]) over the last axis with gain g, bias b and ε `eps` (check `fusedKernelsActive` first). */
export function layerNormFused(
  x: tf.Tensor,
  g: tf.Tensor,
  b: tf.Tensor,
  residual: tf.Tensor | undefined,
  eps: number,
): tf.Tensor {
  const inputs: tf.NamedTensorMap = residual ? {x, g, b, r: residual} : {x, g, b};
  return tf.engine().runKernel('PldrLayerNorm', inputs, {eps} as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** x [M, K]·wT [K, N] + b with our gemv (check `fusedKernelsActive` and the size limits first). */
export function linearGemv(x: tf.Tensor2D, wT: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  return tf.engine().runKernel('PldrLinear', {x, w: wT, b}) as tf.Tensor2D;
}

/** a [n, M, K] · b [n or 1, K, N] → [n, M, N] (check `fusedKernelsActive` first; no gradient: see grads.ts's bmm). */
export function batchMatMulFused(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return tf.engine().runKernel('PldrBatchMatMul', {a, b}) as tf.Tensor3D;
}

/**
 * One new token's attention over an in-place KV-cache (check `fusedKernelsActive` first): writes
 * k, v [B, 1, H, dk] at `position` of Kt [B, H, dk, cap] and V [B, H, cap, dk] — in place: the two
 * tensors change — and returns O [B, 1, d] (heads merged) and the pre-mask scores S [B, H, 1, position+1].
 */
export function cachedAttention(
  qG: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  Kt: tf.Tensor4D,
  V: tf.Tensor4D,
  position: number,
): {O: tf.Tensor3D; S: tf.Tensor4D} {
  const [O, S, E] = tf.engine().runKernel('PldrCachedAttention', {qG, k, v, Kt, V}, {
    position,
  } as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
  E!.dispose();
  return {O: O as tf.Tensor3D, S: S as tf.Tensor4D};
}

/** qkv [B·L, 3d] → [q [B, H, L, dk], k [B, L, H, dk], v [B, L, H, dk]], Q and K rotated (in `style`) at positions start…start+L−1. */
export function qkvRopeFused(
  qkv: tf.Tensor2D,
  cos: tf.Tensor2D,
  sin: tf.Tensor2D,
  B: number,
  L: number,
  H: number,
  start: number,
  style: RopeStyle,
): tf.Tensor4D[] {
  return tf.engine().runKernel('PldrQkvRope', {qkv, cos, sin}, {
    B,
    L,
    H,
    start,
    style,
  } as unknown as tf.NamedAttrMap) as unknown as tf.Tensor4D[];
}
