/** io/pickle/writer.ts: the opcodes CPython's C pickler would write, read back through the reader. */
import {describe, expect, it} from 'vitest';

import {unpickle} from '../../../../src/core/io/pickle/reader.js';
import {PickleWriter} from '../../../../src/core/io/pickle/writer.js';

const noGlobals = () => undefined;

describe('PickleWriter', () => {
  it('chooses the same int opcodes as CPython', () => {
    const enc = (n: number | bigint) => [...new PickleWriter().int(n).bytes()];
    expect(enc(5)).toEqual([0x4b, 5]);
    expect(enc(1552)).toEqual([0x4d, 0x10, 0x06]);
    expect(enc(-1)).toEqual([0x4a, 0xff, 0xff, 0xff, 0xff]);
    expect(enc(2 ** 31)).toEqual([0x8a, 5, 0, 0, 0, 0x80, 0]);
    expect(enc(-(2 ** 31) - 1)).toEqual([0x8a, 5, 0xff, 0xff, 0xff, 0x7f, 0xff]);
    expect(enc(255)).toEqual([0x4b, 0xff]);
  });

  it('memoizes by identity key and switches to LONG_BINPUT/LONG_BINGET past 255', () => {
    const w = new PickleWriter();
    w.proto(2).emptyList().put().mark();
    for (let i = 0; i < 300; i++) w.str(`s${i}`);
    const shared = Symbol('shared');
    w.str('x', shared).str('x', shared).appends().stop();
    const b = w.bytes();
    expect(b[b.length - 7]).toBe(0x6a); // LONG_BINGET 301
    const v = unpickle(b, {resolveGlobal: noGlobals}).value as string[];
    expect(v.length).toBe(302);
    expect(v[299]).toBe('s299');
    expect(v.slice(300)).toEqual(['x', 'x']);
  });
});
