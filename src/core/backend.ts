/**
 * Choosing and initialising the tfjs backend (design.md §2).
 *
 * wasm is the default: it ships its .wasm in the npm package and is ~40x faster than the pure-JS
 * cpu backend on matMul. It lacks a few kernels the model's gradients need; we register them here.
 * The tensorflow backends are opt-in packages the user installs; we load them by dynamic import.
 */
import {totalmem} from 'node:os';

import * as tf from '@tensorflow/tfjs';

import {type BackendName, parseBackendName} from './backend-names.js';
import {backendBytes, type Batch, type Generation, type ModelConfig, paramCounts} from './config.js';
import {PldrError} from './errors.js';
import {registerFusedKernels} from './model/kernels.js';

export {BACKENDS, type BackendName, parseBackendName} from './backend-names.js';

const OPT_IN: Record<string, string> = {
  tensorflow: '@tensorflow/tfjs-node',
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
};

export async function initBackend(name: string = process.env.PLDR_BACKEND ?? 'wasm'): Promise<BackendName> {
  const backend = parseBackendName(name);
  if (backend === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
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

/** The wasm backend's heap: 32-bit addresses, and tfjs builds it to grow to 4 GiB less one 64 KiB page. */
export const WASM_HEAP_BYTES = 4 * 2 ** 30 - 2 ** 16;

/** What the active backend can hold: the wasm heap, else the machine's memory. */
export function backendCapacity(): {name: string; bytes: number} {
  const name = tf.getBackend();
  return {name, bytes: name === 'wasm' ? WASM_HEAP_BYTES : totalmem()};
}

/** "38.2 GB", "1.0 MB", "1.3e+4 TB". */
function size(bytes: number): string {
  const [unit, scale] = ([['TB', 1e12], ['GB', 1e9]] as const).find(([, s]) => bytes >= s) ?? ['MB', 1e6];
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
    parts = [`${size(need.weights)} for ${params}, their gradients, AdamW's moments and a step's temporaries`, `${size(need.activations)} for the activations of ${work.rows} × ${work.context} positions`];
    const [rowsFlag, contextFlag] = work.flags ?? ['--batch-size', '--context'];
    fix += `, ${rowsFlag} or ${contextFlag}`;
  } else {
    parts = [`${size(need.weights)} for ${params}`];
    if (work !== undefined) {
      parts.push(`${size(need.activations)} for a ${work.prompt}-token prompt pass and a KV cache of ${work.positions} positions`);
      fix += ', a shorter prompt or fewer new tokens';
    }
  }
  parts.push(`${size(need.rope)} for the RoPE tables of max_seq_len ${cfg.max_seq_len}`);
  const limit = name === 'wasm' ? 'the 4 GiB heap of the wasm backend' : `the ${size(bytes)} of this machine's memory`;
  const what = work === undefined ? 'loading it' : 'rows' in work ? 'training' : 'generating';
  throw new PldrError(`${where}: ${what} needs about ${size(need.total)} (${parts.join('; ')}), over ${limit}: ${fix}${name === 'wasm' ? ', or --backend tensorflow' : ''}`);
}

let registered = false;

/**
 * Kernels the wasm backend lacks. UnsortedSegmentSum is the gradient of gather (the embedding
 * lookup); without it training on wasm throws. A JS loop over the wasm heap is plenty for the
 * [V, d] embedding gradient.
 */
function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
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
