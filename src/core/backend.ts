/**
 * Choosing and initialising the tfjs backend (docs/design.md §2).
 *
 * wasm is the default: it ships its .wasm in the npm package and is ~40x faster than the pure-JS
 * cpu backend on matMul. It lacks a few kernels the model's gradients need; we register them here.
 * The tensorflow backends are opt-in packages the user installs; we load them by dynamic import.
 */
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os, {tmpdir, totalmem} from 'node:os';
import {join} from 'node:path';
import type {Worker} from 'node:worker_threads';

import * as tf from '@tensorflow/tfjs';

import {type BackendName, parseBackendName} from './backend-names.js';
import {backendBytes, type Batch, type Generation, type ModelConfig, paramCounts} from './config.js';
import {PldrError} from './errors.js';
import {registerFusedKernels, startKernelPool} from './model/kernels.js';

export {BACKENDS, type BackendName, parseBackendName} from './backend-names.js';

const OPT_IN: Record<string, string> = {
  tensorflow: '@tensorflow/tfjs-node',
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
};

let wasmStarted = false;

/**
 * Initialise the backend. `threads` > 1 on wasm loads tfjs's multi-threaded build (XNNPACK's
 * products split over a pool of worker threads); 1 keeps the single-threaded build. The wasm
 * module is made once per process: the first call's thread count stays.
 */
export async function initBackend(
  name: string = process.env.PLDR_BACKEND ?? 'wasm',
  threads = 1,
): Promise<BackendName> {
  const backend = parseBackendName(name);
  if (backend === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (!wasmStarted && threads > 1) {
      await startThreadedWasm(wasm.setThreadsCount, threads);
      await startKernelPool(threads); // our kernels' products split over the threads too
    }
    wasmStarted = true;
    registerWasmKernels();
    registerFusedKernels();
  } else if (backend !== 'cpu') {
    const pkg = OPT_IN[backend];
    try {
      await import(pkg);
    } catch {
      throw new PldrError(
        `backend "${backend}" needs ${pkg}, which is not installed: run \`npm install ${pkg}@${tf.version_core}\``,
      );
    }
  }
  const tfName = backend === 'tensorflow-gpu' ? 'tensorflow' : backend;
  if (tf.getBackend() !== tfName) {
    const ok = await tf.setBackend(tfName);
    if (!ok) throw new PldrError(`backend "${backend}" failed to initialise`);
  }
  await tf.ready();
  return backend;
}

/** The threads the wasm backend's products use (1 for the other backends and before initialising). */
export function backendThreads(): number {
  if (tf.getBackend() !== 'wasm') return 1;
  return (tf.backend() as unknown as {wasm: {tfjs: {getThreadsCount(): number}}}).wasm.tfjs.getThreadsCount();
}

/** The threaded wasm build could not start; the single-threaded one still can (initBackend with 1 thread). */
export class ThreadedStartError extends PldrError {
  constructor(
    readonly threads: number,
    /** Why, without the way out: "cannot make a folder in /tmp for its worker scripts: ENOSPC". */
    readonly reason: string,
  ) {
    super(
      `the wasm backend could not start ${threads} threads (${reason}): free or fix the temporary folder (TMPDIR), or use --threads 1`,
    );
  }
}

/**
 * Start tfjs's multi-threaded wasm build under Node (it is made for browsers). Three things stand
 * in its way, each worked around only while the backend starts:
 * - tfjs hands its pthread workers `blob:` URLs, which Node's worker_threads refuse: the worker
 *   script and the module's factory are written to files in a temporary folder instead (the
 *   factory with the names of the node bundle it refers to: require$$0…, commonjsGlobal);
 * - the C++ side caps its thread pool at half of `os.cpus().length` (it assumes two hyperthreads a
 *   core), so one thread on a 2-core machine whatever setThreadsCount says: it is shown 2 × threads;
 * - the build is only chosen when the WASM_HAS_MULTITHREAD_SUPPORT flag is true.
 */
async function startThreadedWasm(setThreadsCount: (n: number) => void, threads: number): Promise<void> {
  const refuse = (why: string) => new ThreadedStartError(threads, why);
  let dir: string;
  try {
    dir = mkdtempSync(join(tmpdir(), 'pldr-wasm-threads-'));
  } catch (err) {
    throw refuse(
      `cannot make a folder in ${tmpdir()} for its worker scripts: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  process.once('exit', () => rmSync(dir, {recursive: true, force: true}));
  let failed: unknown; // a worker script that could not be written (tfjs reports it only as a failed start)
  const factory = join(dir, 'factory.js');
  const write = (file: string, text: string) => {
    try {
      writeFileSync(file, text);
    } catch (err) {
      failed ??= err;
      throw err;
    }
  };
  const NodeBlob = globalThis.Blob;
  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  globalThis.Blob = class extends NodeBlob {
    readonly source: string;
    constructor(parts: string[], options?: BlobPropertyBag) {
      super(parts, options);
      this.source = parts.join('');
      if (this.source.startsWith('var WasmBackendModuleThreadedSimd'))
        write(
          factory,
          "var require$$0 = require('fs'), require$$1 = require('path'), require$$3 = require('perf_hooks'), require$$4 = require('os'), commonjsGlobal = globalThis;\n" +
            this.source,
        );
    }
  } as typeof Blob;
  let scripts = 0;
  URL.createObjectURL = (blob: Blob) => {
    const source = (blob as Blob & {source?: string}).source;
    if (source === undefined) return createObjectURL(blob);
    const file = join(dir, `worker-${scripts++}.js`); // the pthread worker, loading the factory from its file
    write(file, source.replace('importScripts(objectUrl)', `importScripts(${JSON.stringify(factory)})`));
    return file;
  };
  const shown = cpus().slice(0, 1);
  os.cpus = () => Array.from({length: 2 * threads}, () => shown[0]!);
  const warn = console.warn; // tfjs prints a failed start's stack trace there; the refusal below says it in one line
  let started = false;
  try {
    console.warn = () => {};
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    setThreadsCount(threads);
    try {
      started = await tf.setBackend('wasm');
    } catch (err) {
      failed ??= err;
    }
    if (!started) {
      const code = (failed as NodeJS.ErrnoException | undefined)?.code;
      throw refuse(
        failed === undefined
          ? 'tfjs gave no reason'
          : `writing its worker scripts to ${dir}: ${code ?? (failed as Error).message}`,
      );
    }
    // The pool's threads wait for work forever; they must not keep the process alive once it is done.
    const pool = (tf.backend() as unknown as {wasm: {PThread?: {runningWorkers: Worker[]; unusedWorkers: Worker[]}}})
      .wasm.PThread;
    for (const worker of [...(pool?.runningWorkers ?? []), ...(pool?.unusedWorkers ?? [])]) worker.unref();
  } finally {
    if (!started) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false); // a later start takes the single-threaded build
    console.warn = warn;
    globalThis.Blob = NodeBlob;
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
  }
}

/** The wasm backend's heap: 32-bit addresses, and tfjs builds it to grow to 4 GiB less one 64 KiB page. */
export const WASM_HEAP_BYTES = 4 * 2 ** 30 - 2 ** 16;

/** What the active backend can hold: the wasm heap, else the machine's memory. */
export function backendCapacity(): {name: string; bytes: number} {
  const name = tf.getBackend();
  return {name, bytes: name === 'wasm' ? WASM_HEAP_BYTES : totalmem()};
}

/** "38.2 GB", "1.0 MB", "1.3e+4 TB". */
function size(bytes: number): string {
  const [unit, scale] = (
    [
      ['TB', 1e12],
      ['GB', 1e9],
    ] as const
  ).find(([, s]) => bytes >= s) ?? ['MB', 1e6];
  const n = bytes / scale;
  return `${n >= 1e4 ? n.toExponential(1) : n.toFixed(1)} ${unit}`;
}

/**
 * Refuse a model the active backend cannot hold, before anything is allocated for it: held, trained
 * on micro-batches (`Batch`), or generating (`Generation`).
 */
export function checkModelFits(cfg: ModelConfig, work?: Batch | Generation, where = 'the model'): void {
  const need = backendBytes(cfg, work);
  const {name, bytes} = backendCapacity();
  if (need.total <= bytes) return;
  const params = `${paramCounts(cfg).total.toLocaleString('en-US')} parameters`;
  let parts: string[];
  let fix = 'use a smaller model';
  if (work !== undefined && 'rows' in work) {
    parts = [
      `${size(need.weights)} for ${params}, their gradients, AdamW's moments and a step's temporaries`,
      `${size(need.activations)} for the activations of ${work.rows} × ${work.context} positions`,
    ];
    const [rowsFlag, contextFlag] = work.flags ?? ['--batch-size', '--context'];
    fix += `, ${rowsFlag} or ${contextFlag}`;
  } else {
    parts = [`${size(need.weights)} for ${params}`];
    if (work !== undefined) {
      parts.push(
        `${size(need.activations)} for a ${work.prompt}-token prompt pass and a KV cache of ${work.positions} positions`,
      );
      fix += ', a shorter prompt or fewer new tokens';
    }
  }
  parts.push(`${size(need.rope)} for the RoPE tables of max_seq_len ${cfg.max_seq_len}`);
  const limit = name === 'wasm' ? 'the 4 GiB heap of the wasm backend' : `the ${size(bytes)} of this machine's memory`;
  const what = work === undefined ? 'loading it' : 'rows' in work ? 'training' : 'generating';
  throw new PldrError(
    `${where}: ${what} needs about ${size(need.total)} (${parts.join('; ')}), over ${limit}: ${fix}${name === 'wasm' ? ', or --backend tensorflow' : ''}`,
  );
}

let registered = false;

/**
 * Kernels the wasm backend lacks. UnsortedSegmentSum is the gradient of gather (the embedding
 * lookup); without it training on wasm throws. A JS loop over the wasm heap is plenty for the
 * [V, d] embedding gradient.
 *
 * And two that copy where nothing needs a copy: Identity and a Cast to the tensor's own dtype.
 * tfjs's engine clones (Identity) every tensor it saves for a gradient, and its gradients cast
 * float32 to float32; the wasm backend copies the whole tensor each time. Tensors are immutable
 * (a Variable's assign takes the new tensor's buffer), so these share the input's buffer as the
 * cpu backend's do and as Reshape does: the buffer's reference count goes up, and it is freed
 * with the last tensor on it. A kernel that writes into an input in place (the in-place
 * KV-cache) must therefore be given a buffer no other tensor shares.
 */
function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  const share = (x: tf.TensorInfo, backend: unknown): tf.TensorInfo => {
    (backend as {incRef(id: unknown): void}).incRef(x.dataId);
    return {dataId: x.dataId, shape: x.shape, dtype: x.dtype};
  };
  const copyingCast = tf.getKernel('Cast', 'wasm');
  if (copyingCast !== undefined && tf.getKernel('Identity', 'wasm') !== undefined) {
    tf.unregisterKernel('Identity', 'wasm');
    tf.registerKernel({
      kernelName: 'Identity',
      backendName: 'wasm',
      kernelFunc: ({inputs, backend}) => share((inputs as {x: tf.TensorInfo}).x, backend),
    });
    tf.unregisterKernel('Cast', 'wasm');
    tf.registerKernel({
      kernelName: 'Cast',
      backendName: 'wasm',
      kernelFunc: (args) => {
        const x = (args.inputs as {x: tf.TensorInfo}).x;
        return x.dtype === (args.attrs as {dtype: string}).dtype
          ? share(x, args.backend)
          : copyingCast.kernelFunc(args);
      },
    });
  }
  const generalTranspose = tf.getKernel('Transpose', 'wasm');
  if (generalTranspose !== undefined) {
    tf.unregisterKernel('Transpose', 'wasm');
    tf.registerKernel({
      ...generalTranspose,
      kernelFunc: (args) => swapLastTwo(args) ?? generalTranspose.kernelFunc(args),
    }); // its setupFunc binds the wasm function
  }
  if (tf.getKernel('UnsortedSegmentSum', 'wasm') === undefined) {
    tf.registerKernel({
      kernelName: 'UnsortedSegmentSum',
      backendName: 'wasm',
      kernelFunc: ({inputs, backend, attrs}) => {
        const {x, segmentIds} = inputs as {x: tf.TensorInfo; segmentIds: tf.TensorInfo};
        const numSegments = (attrs as {numSegments: number}).numSegments;
        const wasm = backend as unknown as {
          readSync(id: unknown): Float32Array | Int32Array;
          makeOutput(shape: number[], dtype: string): tf.TensorInfo;
          typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
        };
        const xv = wasm.readSync(x.dataId) as Float32Array;
        const ids = wasm.readSync(segmentIds.dataId);
        const rows = segmentIds.shape.reduce((a, b) => a * b, 1);
        const inner = rows === 0 ? 0 : xv.length / rows;
        const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
        const out = wasm.makeOutput(outShape, x.dtype);
        const ov = wasm.typedArrayFromHeap(out);
        ov.fill(0);
        for (let r = 0; r < rows; r++) {
          const s = ids[r];
          if (s < 0 || s >= numSegments) continue;
          const src = r * inner;
          const dst = s * inner;
          for (let j = 0; j < inner; j++) ov[dst + j] += xv[src + j];
        }
        return out;
      },
    });
  }
}

const TILE = 32;

/**
 * The transposes of a training step's gradients (xᵀ for dW = xᵀ·dy, Bᵀ of a batch of matrices)
 * swap the last two axes: [..., m, n] → [..., n, m]. The wasm backend's Transpose walks any
 * permutation element by element; this moves 32 × 32 tiles, reading and writing whole lines of
 * them. Other permutations, strings and matrices wider than tall return undefined, for the
 * backend's own kernel.
 */
function swapLastTwo({
  inputs,
  backend,
  attrs,
}: {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}): tf.TensorInfo | undefined {
  const x = inputs.x as tf.TensorInfo;
  const perm = (attrs as {perm: number[]}).perm;
  const r = x.shape.length;
  if (r < 2 || x.dtype === 'string' || !perm.every((p, i) => p === (i < r - 2 ? i : 2 * r - 3 - i))) return undefined;
  const [m, n] = [x.shape[r - 2]!, x.shape[r - 1]!];
  if (n > m) return undefined; // wide rows ([d, V] of the output layer): the backend's kernel is faster there
  const wasm = backend as {
    makeOutput(shape: number[], dtype: string): tf.TensorInfo;
    typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  };
  const out = wasm.makeOutput([...x.shape.slice(0, r - 2), n, m], x.dtype);
  const src = wasm.typedArrayFromHeap(x); // after makeOutput: growing the heap replaces the views
  const dst = wasm.typedArrayFromHeap(out);
  for (let o = 0; o < src.length; o += m * n)
    for (let i0 = 0; i0 < m; i0 += TILE)
      for (let j0 = 0; j0 < n; j0 += TILE) {
        const i1 = Math.min(i0 + TILE, m);
        const j1 = Math.min(j0 + TILE, n);
        for (let j = j0; j < j1; j++)
          for (let i = i0, d = o + j * m + i0; i < i1; i++, d++) dst[d] = src[o + i * n + j]!;
      }
  return out;
}
