/**
 * An opcode-level pickle writer: the writer half of io/pickle (reader.ts reads). It emits protocol-2
 * opcodes the way CPython's C pickler does, so pth.ts and glist.ts can write files byte for byte as
 * torch.save does.
 */
import {PldrError} from '../../errors.js';

/**
 * Emits pickle opcodes one by one, with the memo bookkeeping CPython's C pickler does, so a caller
 * can reproduce another writer's byte stream exactly (see pth.ts). Values are memoized by a caller-
 * chosen identity key, which stands in for CPython's "same object" test.
 */
export class PickleWriter {
  private buf = new Uint8Array(1024);
  private len = 0;
  private memoCount = 0;
  private readonly memoIds = new Map<unknown, number>();

  bytes(): Uint8Array {
    return this.buf.slice(0, this.len);
  }

  op(...codes: number[]): this {
    this.reserve(codes.length);
    for (const c of codes) this.buf[this.len++] = c;
    return this;
  }

  raw(b: Uint8Array): this {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  proto(v: number): this {
    return this.op(0x80, v);
  }
  mark(): this {
    return this.op(0x28);
  }
  stop(): this {
    return this.op(0x2e);
  }
  none(): this {
    return this.op(0x4e);
  }
  bool(b: boolean): this {
    return this.op(b ? 0x88 : 0x89);
  }
  emptyTuple(): this {
    return this.op(0x29);
  }
  emptyDict(): this {
    return this.op(0x7d);
  }
  emptyList(): this {
    return this.op(0x5d);
  }
  reduce(): this {
    return this.op(0x52);
  }
  build(): this {
    return this.op(0x62);
  }
  setitem(): this {
    return this.op(0x73);
  }
  setitems(): this {
    return this.op(0x75);
  }
  append(): this {
    return this.op(0x61);
  }
  appends(): this {
    return this.op(0x65);
  }
  binpersid(): this {
    return this.op(0x51);
  }

  /** The int opcodes CPython picks at protocol >= 2: BININT1/BININT2/BININT, else LONG1. */
  int(n: number | bigint): this {
    if (typeof n === 'number' && !Number.isInteger(n)) throw new PldrError(`pickle: ${n} is not an integer`);
    const v = BigInt(n);
    if (v >= 0n && v <= 0xffn) return this.op(0x4b, Number(v));
    if (v >= 0n && v <= 0xffffn) return this.op(0x4d, Number(v & 0xffn), Number(v >> 8n));
    if (v >= -(2n ** 31n) && v < 2n ** 31n) {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setInt32(0, Number(v), true);
      return this.op(0x4a).raw(b);
    }
    const enc = encodeLong(v);
    if (enc.length > 255) throw new PldrError('pickle: integer too large');
    return this.op(0x8a, enc.length).raw(enc);
  }

  /** BINFLOAT: big-endian double. */
  float(x: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, false);
    return this.op(0x47).raw(b);
  }

  /** BINUNICODE (protocol 2 has no shorter string opcode); not memoized by itself. */
  unicode(s: string): this {
    const b = new TextEncoder().encode(s);
    const n = new Uint8Array(4);
    new DataView(n.buffer).setUint32(0, b.length, true);
    return this.op(0x58).raw(n).raw(b);
  }

  /** GLOBAL "module\nname\n"; not memoized by itself. */
  global(module: string, name: string): this {
    return this.op(0x63).raw(new TextEncoder().encode(`${module}\n${name}\n`));
  }

  /** BINPUT / LONG_BINPUT with the next memo index (see `putIndex` for the index itself). */
  put(): this {
    this.putIndex();
    return this;
  }

  /** Like `put`, returning the memo index used. */
  putIndex(): number {
    const i = this.memoCount++;
    if (i < 256) this.op(0x71, i);
    else {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, i, true);
      this.op(0x72).raw(b);
    }
    return i;
  }

  /** BINGET / LONG_BINGET. */
  get(i: number): this {
    if (i < 256) return this.op(0x68, i);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, i, true);
    return this.op(0x6a).raw(b);
  }

  /**
   * Save a memoizable object: the first time `key` is seen, `emit` writes it and it is memoized
   * (BINPUT); later it is fetched from the memo (BINGET), as CPython does for the same object.
   */
  memoized(key: unknown, emit: () => void): this {
    const known = this.memoIds.get(key);
    if (known !== undefined) return this.get(known);
    emit();
    this.memoIds.set(key, this.putIndex());
    return this;
  }

  /** A string object: memoized; pass the same `key` for what Python would hold as one object. */
  str(s: string, key: unknown = Symbol(s)): this {
    return this.memoized(key, () => this.unicode(s));
  }

  /** A global, memoized under its qualified name (one class object per name). */
  globalRef(module: string, name: string): this {
    return this.memoized(`global:${module}.${name}`, () => this.global(module, name));
  }

  /** A tuple as CPython's save_tuple writes it at protocol 2: () unmemoized, else TUPLE1-3 or MARK...TUPLE, then memoized. */
  tuple(n: number, emitItems: () => void): this {
    if (n === 0) return this.emptyTuple();
    if (n <= 3) {
      emitItems();
      this.op(0x84 + n); // TUPLE1 = 0x85
    } else {
      this.mark();
      emitItems();
      this.op(0x74);
    }
    this.put();
    return this;
  }

  /**
   * The items of a dict subclass saved through __reduce__ (CPython's batch_dict): batches of 1000,
   * a batch of one item as a bare SETITEM, larger batches as MARK ... SETITEMS.
   */
  dictItems<T>(items: readonly T[], emitPair: (item: T) => void): this {
    for (let i = 0; i < items.length; i += 1000) {
      const batch = items.slice(i, i + 1000);
      if (batch.length === 1) {
        emitPair(batch[0]);
        this.setitem();
      } else {
        this.mark();
        batch.forEach(emitPair);
        this.setitems();
      }
    }
    return this;
  }

  /** The items of an exact dict (CPython's batch_dict_exact): one item as SETITEM, else MARK ... SETITEMS batches. */
  exactDictItems<T>(items: readonly T[], emitPair: (item: T) => void): this {
    if (items.length === 0) return this;
    if (items.length === 1) {
      emitPair(items[0]);
      return this.setitem();
    }
    // Like CPython, a dict of exactly k*1000 items ends with an empty MARK SETITEMS batch.
    for (let i = 0; ; i += 1000) {
      const batch = items.slice(i, i + 1000);
      this.mark();
      batch.forEach(emitPair);
      this.setitems();
      if (batch.length < 1000) return this;
    }
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }
}

/** Minimal little-endian two's complement bytes for LONG1 (CPython's encode_long). */
function encodeLong(v: bigint): Uint8Array {
  if (v === 0n) return new Uint8Array(0);
  const out: number[] = [];
  let x = v;
  for (;;) {
    out.push(Number(x & 0xffn));
    x >>= 8n;
    const last = out[out.length - 1];
    if ((x === 0n && !(last & 0x80)) || (x === -1n && last & 0x80)) break;
  }
  return Uint8Array.from(out);
}
