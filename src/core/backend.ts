/**
 * Choosing and initialising the tfjs backend (design.md §2).
 *
 * wasm is the default: it ships its .wasm in the npm package and is ~40x faster than the pure-JS
 * cpu backend on matMul. It lacks a few kernels the model's gradients need; we register them here.
 * The tensorflow backends are opt-in packages the user installs; we load them by dynamic import.
 */
import * as tf from '@tensorflow/tfjs';

import {type BackendName, parseBackendName} from './backend-names.js';
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
