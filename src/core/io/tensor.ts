/** Host-side tensors as they sit in files: the currency between readers, writers and the model. */

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8' | 'BOOL';

export type TypedData = Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

export interface HostTensor {
  dtype: DType;
  shape: number[];
  /** C-order, little-endian values. F16/BF16 hold the raw 16-bit patterns. */
  data: TypedData;
}

/** Insertion order is state-dict order, which the reference's checkpoints preserve. */
export type StateDict = Map<string, HostTensor>;

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function f32(shape: number[], data: Float32Array): HostTensor {
  return {dtype: 'F32', shape, data};
}
