import {existsSync, readFileSync, readdirSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {afterAll, describe, expect, it} from 'vitest';

import {
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  writeSafetensors,
} from '../../../src/core/io/safetensors.js';
import {HostTensor, StateDict} from '../../../src/core/io/tensor.js';
import {REFERENCE, bytesEqual, expectPldrError, tempDir} from './helpers.js';

const tmp = tempDir();
afterAll(tmp.cleanup);

function sample(): StateDict {
  return new Map<string, HostTensor>([
    ['b.bool', {dtype: 'BOOL', shape: [3], data: Uint8Array.from([1, 0, 1])}],
    ['10', {dtype: 'F32', shape: [2, 2], data: Float32Array.from([1, -2.5, 3e-8, Infinity])}],
    ['2', {dtype: 'F64', shape: [1], data: Float64Array.from([Math.PI])}],
    ['ids', {dtype: 'I64', shape: [2, 1], data: BigInt64Array.from([3n, -(2n ** 62n)])}],
    ['half', {dtype: 'F16', shape: [2], data: Uint16Array.from([0x3c00, 0xc000])}],
    ['bf', {dtype: 'BF16', shape: [1], data: Uint16Array.from([0x3f80])}],
    ['i32', {dtype: 'I32', shape: [], data: Int32Array.from([-7])}],
    ['bytes', {dtype: 'U8', shape: [0, 4], data: new Uint8Array(0)}],
  ]);
}

describe('safetensors', () => {
  it('round-trips every dtype, keeping header order (even integer-like names) and metadata', () => {
    const tensors = sample();
    const buf = serializeSafetensors(tensors, {format: 'pt', note: 'ü'});
    const n = Number(new DataView(buf.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const back = parseSafetensors(buf);
    expect([...back.tensors.keys()]).toEqual([...tensors.keys()]);
    expect(back.metadata).toEqual({format: 'pt', note: 'ü'});
    for (const [k, t] of tensors) {
      const u = back.tensors.get(k)!;
      expect(u.dtype).toBe(t.dtype);
      expect(u.shape).toEqual(t.shape);
      expect(u.data.constructor).toBe(t.data.constructor);
      expect(bytesEqual(u.data, t.data)).toBe(true);
    }
  });

  it('aligns every tensor to its element size (largest first, then insertion order)', () => {
    const buf = serializeSafetensors(sample());
    const n = Number(new DataView(buf.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + n))) as Record<
      string,
      {dtype: string; data_offsets: number[]}
    >;
    const size: Record<string, number> = {F64: 8, I64: 8, F32: 4, I32: 4, F16: 2, BF16: 2, U8: 1, BOOL: 1};
    for (const v of Object.values(header)) expect(v.data_offsets[0] % size[v.dtype]).toBe(0);
    expect(header['2'].data_offsets[0]).toBe(0); // the first F64
    expect('__metadata__' in header).toBe(false);
  });

  it('reads the reference fixtures and rewrites them with identical tensors', () => {
    const file = join(REFERENCE, 'tiny-G-random/G_LM.safetensors');
    const st = readSafetensors(file);
    expect([...st.tensors.keys()]).toEqual(['layer.0', 'layer.1']);
    expect(st.tensors.get('layer.0')!.shape).toEqual([1, 2, 8, 8]);
    const out = join(tmp.dir, 'g.safetensors');
    writeSafetensors(out, st.tensors, st.metadata);
    const again = readSafetensors(out);
    for (const [k, t] of st.tensors) expect(bytesEqual(again.tensors.get(k)!.data, t.data)).toBe(true);
    // The fixtures were written with the same layout rules, so the bytes match too.
    expect(bytesEqual(readFileSync(out), readFileSync(file))).toBe(true);
  });

  it('copes with Node Buffers (pooled, offset, slice() = view) as input', () => {
    const file = join(REFERENCE, 'tiny-G-random/G_LM.safetensors');
    const fromBuffer = parseSafetensors(readFileSync(file), file);
    const fromFile = readSafetensors(file);
    for (const [k, t] of fromFile.tensors) {
      const u = fromBuffer.tensors.get(k)!;
      expect(u.data.byteOffset).toBe(0);
      expect(u.data.buffer.byteLength).toBe(u.data.byteLength);
      expect(bytesEqual(u.data, t.data)).toBe(true);
    }
  });

  it('writes atomically: no temp file left behind', () => {
    const out = join(tmp.dir, 'atomic.safetensors');
    writeSafetensors(out, sample());
    writeSafetensors(out, sample(), {v: '2'});
    expect(readSafetensors(out).metadata).toEqual({v: '2'});
    expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('rejects malformed files with one-line PldrErrors', () => {
    const good = serializeSafetensors(sample());
    expectPldrError(() => parseSafetensors(good.subarray(0, 5), 'x.st'), 'x.st', 'shorter than the 8-byte');
    expectPldrError(() => parseSafetensors(good.subarray(0, 40), 'x.st'), 'x.st', 'header length');
    const garbage = good.slice();
    garbage.fill(0x41, 8, 20);
    expectPldrError(() => parseSafetensors(garbage, 'x.st'), 'x.st', 'not JSON');
    expectPldrError(() => parseSafetensors(good.subarray(0, good.length - 3), 'x.st'), 'outside');
    const make = (header: unknown, dataLen = 16) => {
      const h = new TextEncoder().encode(JSON.stringify(header));
      const b = new Uint8Array(8 + h.length + dataLen);
      new DataView(b.buffer).setBigUint64(0, BigInt(h.length), true);
      b.set(h, 8);
      return b;
    };
    expectPldrError(() => parseSafetensors(make({a: {dtype: 'F32', shape: [3], data_offsets: [0, 16]}})), 'needs 12');
    expectPldrError(
      () => parseSafetensors(make({a: {dtype: 'Q7', shape: [1], data_offsets: [0, 1]}})),
      'unsupported dtype',
    );
    expectPldrError(
      () => parseSafetensors(make({a: {dtype: 'F32', shape: [-1], data_offsets: [0, 4]}})),
      'invalid shape',
    );
    expectPldrError(() => parseSafetensors(make({a: {dtype: 'F32', shape: [1], data_offsets: [8, 4]}})), 'outside');
    expectPldrError(() => parseSafetensors(make([1, 2])), 'not a JSON object');
    expectPldrError(() => parseSafetensors(make({__metadata__: {a: 1}})), '__metadata__');
    const missing = join(tmp.dir, 'nope.safetensors');
    expect(existsSync(missing)).toBe(false);
    expectPldrError(() => readSafetensors(missing), `cannot read ${missing}`, 'no such file');
    const bad = join(tmp.dir, 'bad.safetensors');
    writeFileSync(bad, 'hello');
    expectPldrError(() => readSafetensors(bad), bad);
  });

  it('refuses to write inconsistent tensors', () => {
    const t = new Map<string, HostTensor>([['x', {dtype: 'F32', shape: [3], data: new Float32Array(2)}]]);
    expectPldrError(() => serializeSafetensors(t), 'x', 'needs 3');
    const u = new Map<string, HostTensor>([['x', {dtype: 'F64', shape: [2], data: new Float32Array(2)}]]);
    expectPldrError(() => serializeSafetensors(u), 'Float64Array');
  });
});
