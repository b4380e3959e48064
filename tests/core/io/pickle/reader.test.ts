/** io/pickle/reader.ts: streams built opcode by opcode (PickleWriter, or by hand as pickletools lists them), and malformed ones. */
import {describe, expect, it} from 'vitest';

import {attributesOf, isTuple, unpickle} from '../../../../src/core/io/pickle/reader.js';
import {PickleWriter} from '../../../../src/core/io/pickle/writer.js';
import {expectPldrError} from '../helpers.js';

const noGlobals = () => undefined;

/** Hand-written opcode streams, as Python's pickletools would list them. */
function bytes(...parts: (number | string | number[])[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else if (typeof p === 'string') for (const c of p) out.push(c.charCodeAt(0));
    else out.push(...p);
  }
  return Uint8Array.from(out);
}

describe('unpickle', () => {
  it('builds Python containers and scalars (protocol 2 opcodes)', () => {
    const w = new PickleWriter();
    w.proto(2).emptyDict().put();
    w.mark();
    w.str('ints')
      .mark()
      .int(0)
      .int(255)
      .int(256)
      .int(65535)
      .int(65536)
      .int(-1)
      .int(2 ** 40)
      .int(-(2n ** 70n))
      .op(0x74)
      .put(); // TUPLE
    w.str('float').float(-1.25);
    w.str('flags').none().bool(true).bool(false).op(0x87).put(); // TUPLE3
    w.str('list').emptyList().put().mark().str('a').str('b').appends();
    w.setitems().stop();
    const {value, end} = unpickle(w.bytes(), {resolveGlobal: noGlobals});
    expect(end).toBe(w.bytes().length);
    const d = value as Map<string, unknown>;
    expect([...d.keys()]).toEqual(['ints', 'float', 'flags', 'list']);
    expect(d.get('ints')).toEqual([0, 255, 256, 65535, 65536, -1, 2 ** 40, -(2n ** 70n)]);
    expect(isTuple(d.get('ints'))).toBe(true);
    expect(d.get('float')).toBe(-1.25);
    expect(d.get('flags')).toEqual([null, true, false]);
    expect(d.get('list')).toEqual(['a', 'b']);
    expect(isTuple(d.get('list'))).toBe(false);
  });

  it('handles protocol 4/5 framing, STACK_GLOBAL, MEMOIZE, bytes and sets', () => {
    const buf = bytes(
      0x80,
      5,
      0x95,
      [0, 0, 0, 0, 0, 0, 0, 0],
      0x8c,
      1,
      'm',
      0x94,
      0x8c,
      1,
      'f',
      0x94,
      0x93,
      0x94, // m.f
      0x43,
      3,
      'abc',
      0x94,
      0x85,
      0x94,
      0x52,
      0x94, // f((b'abc',))
      0x8f,
      0x94,
      0x28,
      0x4b,
      1,
      0x4b,
      2,
      0x90, // {1, 2}
      0x68,
      3, // BINGET the bytes again
      0x87,
      0x2e,
    );
    const called: unknown[] = [];
    const value = unpickle(buf, {
      resolveGlobal: (m, n) => (m === 'm' && n === 'f' ? (x: unknown) => (called.push(x), 'ok') : undefined),
    }).value as unknown[];
    expect(value[0]).toBe('ok');
    expect(called[0]).toEqual(new Uint8Array([97, 98, 99]));
    expect(value[1]).toEqual(new Set([1, 2]));
    expect(value[2]).toEqual(new Uint8Array([97, 98, 99]));
  });

  it('reads protocol 0 text opcodes', () => {
    const buf = bytes("(lp0\nI42\naI01\naF0.5\naL12345678901234567890L\naS'a\\\\b\\n'\np1\naVx\\u20acy\np2\nag1\na.");
    expect(unpickle(buf, {resolveGlobal: noGlobals}).value).toEqual([
      42,
      true,
      0.5,
      12345678901234567890n,
      'a\\b\n',
      'x€y',
      'a\\b\n',
    ]);
  });

  it("keeps BUILD state as attributes (a state dict's _metadata)", () => {
    const w = new PickleWriter();
    w.proto(2).globalRef('collections', 'OrderedDict').emptyTuple().reduce().put();
    w.emptyDict().put().str('_metadata').int(7).setitem().build().stop();
    const od = unpickle(w.bytes(), {
      resolveGlobal: (m, n) => (m === 'collections' && n === 'OrderedDict' ? () => new Map() : undefined),
    }).value;
    expect(od).toBeInstanceOf(Map);
    expect(attributesOf(od)?.get('_metadata')).toBe(7);
  });

  it('passes persistent ids to persistentLoad', () => {
    const w = new PickleWriter();
    w.proto(2)
      .tuple(2, () => w.str('storage').int(3))
      .binpersid()
      .stop();
    const value = unpickle(w.bytes(), {resolveGlobal: noGlobals, persistentLoad: (pid) => ({pid})}).value;
    expect(value).toEqual({pid: ['storage', 3]});
    expectPldrError(
      () => unpickle(w.bytes(), {resolveGlobal: noGlobals, source: 'p.pkl'}),
      'p.pkl',
      'persistent ids are not allowed',
    );
  });

  it('refuses globals the caller did not allow, naming them', () => {
    const evil = bytes(0x80, 2, 'cos\nsystem\n', 'X', [2, 0, 0, 0], 'ls', 0x85, 0x52, 0x2e);
    expectPldrError(
      () => unpickle(evil, {resolveGlobal: noGlobals, source: 'evil.pkl'}),
      'evil.pkl',
      'os.system',
      'not allowed',
    );
  });

  it('reports malformed streams as one-line PldrErrors', () => {
    const w = new PickleWriter();
    w.proto(2).emptyList().put().mark().str('a').int(1).appends().stop();
    const good = w.bytes();
    for (let cut = 1; cut < good.length; cut++) {
      expectPldrError(() => unpickle(good.subarray(0, cut), {resolveGlobal: noGlobals, source: 't.pkl'}), 't.pkl');
    }
    expectPldrError(() => unpickle(bytes(0x80, 2, 0xff), {resolveGlobal: noGlobals}), 'unknown opcode 0xff');
    expectPldrError(() => unpickle(bytes(0x80, 9), {resolveGlobal: noGlobals}), 'protocol 9');
    expectPldrError(() => unpickle(bytes(0x68, 5, 0x2e), {resolveGlobal: noGlobals}), 'memo entry 5');
    expectPldrError(() => unpickle(bytes(0x73, 0x2e), {resolveGlobal: noGlobals}), 'stack underflow');
    expectPldrError(() => unpickle(bytes(0x4b, 1, 0x4b, 2, 0x2e), {resolveGlobal: noGlobals}), 'STOP with 2 values');
    // REDUCE on something that is not callable
    expectPldrError(() => unpickle(bytes(0x4b, 1, 0x29, 0x52, 0x2e), {resolveGlobal: noGlobals}), 'not callable');
  });
});
