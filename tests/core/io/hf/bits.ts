/** Tensor comparisons for the Hugging Face tests: same names, shapes and bytes. */
import {expect} from 'vitest';

import type {HostTensor, StateDict} from '../../../../src/core/io/tensor.js';

const bytes = (t: HostTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** `b` holds exactly `a`'s tensors (any order), each bit for bit. */
export function expectSameBits(a: StateDict, b: StateDict): void {
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  for (const [k, t] of a) {
    const u = b.get(k)!;
    expect(u.shape, k).toEqual(t.shape);
    expect(bytes(u).equals(bytes(t)), k).toBe(true);
  }
}
