/**
 * A small pickle virtual machine (protocols 0-5): the reader half of io/pickle (writer.ts writes).
 *
 * The unpickler executes nothing on its own: every GLOBAL / STACK_GLOBAL is looked up through a
 * caller-supplied resolver, and only what that resolver returns can be called by REDUCE / NEWOBJ /
 * BUILD. Persistent ids (torch's storages) go to a caller-supplied `persistentLoad`.
 *
 * Python values map to JavaScript as: None → null, bool → boolean, int → number (bigint beyond
 * 2^53), float → number, str → string, bytes/bytearray → Uint8Array, list → array, tuple → frozen
 * array (see `isTuple`), dict → Map (insertion order kept), set/frozenset → Set. Attributes set by
 * BUILD on objects without `__setstate__` are kept aside and read with `attributesOf`.
 */
import {PldrError} from '../../errors.js';
import {plainBytes} from '../fsutil.js';
import {SIMPLE_ESCAPES} from '../pyliteral.js';

export type GlobalResolver = (module: string, name: string) => unknown;

export interface UnpickleOptions {
  /** Names the input in error messages (a path, or "path: entry"). */
  source?: string;
  /** Returns the callable/value for `module.name`, or undefined when it is not allowed. */
  resolveGlobal: GlobalResolver;
  /** Turns a persistent id (PERSID / BINPERSID) into an object; absent = persistent ids are an error. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Where the pickle starts in `buf` (several pickles may follow each other). Default 0. */
  offset?: number;
}

export interface UnpickleResult {
  value: unknown;
  /** Offset just past the STOP opcode: where a following pickle would start. */
  end: number;
}

const attributes = new WeakMap<object, Map<unknown, unknown>>();

/** Attributes that BUILD set on `obj` (e.g. the `_metadata` of a torch state dict). */
export function attributesOf(obj: unknown): Map<unknown, unknown> | undefined {
  return obj !== null && typeof obj === 'object' ? attributes.get(obj) : undefined;
}

export function isTuple(x: unknown): x is readonly unknown[] {
  return Array.isArray(x) && Object.isFrozen(x);
}

/** Python 3's `bytes` pickled at protocol < 3 arrives as `_codecs.encode(text, 'latin1')`. */
export function codecsEncode(text: unknown, encoding: unknown = 'utf-8'): Uint8Array {
  if (typeof text !== 'string') throw new PldrError('_codecs.encode expects a str');
  const enc = String(encoding).toLowerCase().replace(/[-_]/g, '');
  if (enc === 'latin1' || enc === 'iso88591') {
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c > 255) throw new PldrError('_codecs.encode: character outside latin-1');
      out[i] = c;
    }
    return out;
  }
  if (enc === 'utf8') return new TextEncoder().encode(text);
  throw new PldrError(`_codecs.encode: unsupported encoding ${String(encoding)}`);
}

const utf8 = new TextDecoder('utf-8');

/** Runs one pickle from `opts.offset` up to its STOP opcode. */
export function unpickle(input: Uint8Array, opts: UnpickleOptions): UnpickleResult {
  const buf = plainBytes(input);
  const source = opts.source ?? '<pickle>';
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = opts.offset ?? 0;
  let opPos = pos;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const fail = (problem: string): never => {
    throw new PldrError(`${source}: malformed pickle at byte ${opPos}: ${problem}`);
  };
  const need = (n: number): void => {
    if (n < 0 || pos + n > buf.byteLength) fail('data ends in the middle of an opcode (truncated file?)');
  };
  const u8 = (): number => {
    need(1);
    return buf[pos++];
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const i32 = (): number => {
    need(4);
    const v = view.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('length field too large');
    return Number(v);
  };
  const bytes = (n: number): Uint8Array => {
    need(n);
    const b = buf.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const line = (): string => {
    const nl = buf.indexOf(0x0a, pos);
    if (nl < 0) fail('missing newline (truncated file?)');
    const s = latin1(buf.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };
  // Not `stack.push(...)`: an argument that pops a MARK reassigns `stack` after the member was read.
  const push = (v: unknown): void => {
    stack.push(v);
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = metastack.pop();
    if (prev === undefined) fail('no MARK on the stack');
    stack = prev!;
    return items;
  };
  const memoGet = (i: number): unknown => {
    if (!memo.has(i)) fail(`memo entry ${i} is undefined`);
    return memo.get(i);
  };
  const findGlobal = (module: string, name: string): unknown => {
    const v = opts.resolveGlobal(module, name);
    if (v === undefined) {
      throw new PldrError(`${source}: pickle refers to ${module}.${name}, which is not allowed here`);
    }
    return v;
  };
  const call = (fn: unknown, args: unknown, what: string): unknown => {
    if (typeof fn !== 'function') fail(`${what} of an object that is not callable`);
    if (!Array.isArray(args)) fail(`${what} with arguments that are not a tuple`);
    return (fn as (...a: unknown[]) => unknown)(...(args as unknown[]));
  };
  const setItems = (dict: unknown, items: unknown[]): void => {
    if (!(dict instanceof Map)) fail('SETITEM(S) on an object that is not a dict');
    if (items.length % 2) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) (dict as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  const appendItems = (list: unknown, items: unknown[]): void => {
    if (!Array.isArray(list) || Object.isFrozen(list)) fail('APPEND(S) on an object that is not a list');
    (list as unknown[]).push(...items);
  };
  const build = (inst: unknown, state: unknown): void => {
    if (inst === null || typeof inst !== 'object') fail('BUILD on a value that cannot take attributes');
    const setstate = (inst as {__setstate__?: unknown}).__setstate__;
    if (typeof setstate === 'function') {
      setstate.call(inst, state);
      return;
    }
    let dictState = state;
    let slotState: unknown = null;
    if (isTuple(state) && state.length === 2) [dictState, slotState] = state;
    const attrs = attributes.get(inst as object) ?? new Map<unknown, unknown>();
    for (const part of [dictState, slotState]) {
      if (part === null) continue;
      if (!(part instanceof Map)) fail('BUILD state is not a dict');
      for (const [k, v] of part as Map<unknown, unknown>) attrs.set(k, v);
    }
    attributes.set(inst as object, attrs);
  };

  try {
    for (;;) {
      opPos = pos;
      const op = u8();
      switch (op) {
        case 0x80: {
          // PROTO
          const v = u8();
          if (v > 5) fail(`unsupported pickle protocol ${v}`);
          break;
        }
        case 0x95: // FRAME: framing is only a buffering hint
          u64();
          break;
        case 0x2e: // STOP
          if (stack.length !== 1 || metastack.length) fail(`STOP with ${stack.length} values on the stack`);
          return {value: stack[0], end: pos};
        case 0x28: // MARK
          metastack.push(stack);
          stack = [];
          break;
        case 0x30: // POP
          if (stack.length) stack.pop();
          else popMark();
          break;
        case 0x31: // POP_MARK
          popMark();
          break;
        case 0x32: // DUP
          push(top());
          break;

        case 0x4e: // NONE
          push(null);
          break;
        case 0x88: // NEWTRUE
          push(true);
          break;
        case 0x89: // NEWFALSE
          push(false);
          break;
        case 0x4b: // BININT1
          push(u8());
          break;
        case 0x4d: // BININT2
          push(u16());
          break;
        case 0x4a: // BININT
          push(i32());
          break;
        case 0x8a: // LONG1
          push(decodeLong(bytes(u8())));
          break;
        case 0x8b: {
          // LONG4
          const n = i32();
          if (n < 0) fail('negative LONG4 length');
          push(decodeLong(bytes(n)));
          break;
        }
        case 0x49: // INT (protocol 0; "00"/"01" are False/True)
          push(parseIntLine(line(), fail));
          break;
        case 0x4c: // LONG (protocol 0)
          push(parseIntLine(line().replace(/L$/, ''), fail));
          break;
        case 0x47: {
          // BINFLOAT: big-endian IEEE double
          need(8);
          push(view.getFloat64(pos, false));
          pos += 8;
          break;
        }
        case 0x46: // FLOAT (protocol 0)
          push(parseFloatLine(line(), fail));
          break;

        case 0x58: // BINUNICODE
          push(utf8.decode(bytes(u32())));
          break;
        case 0x8c: // SHORT_BINUNICODE
          push(utf8.decode(bytes(u8())));
          break;
        case 0x8d: // BINUNICODE8
          push(utf8.decode(bytes(u64())));
          break;
        case 0x56: // UNICODE (protocol 0, raw-unicode-escape)
          push(rawUnicodeUnescape(line()));
          break;
        case 0x53: // STRING (protocol 0, a quoted repr)
          push(unquotePy2String(line(), fail));
          break;
        case 0x54: {
          // BINSTRING (Python 2 str; decoded as latin-1 like Python 3 with encoding='latin1')
          const n = i32();
          if (n < 0) fail('negative BINSTRING length');
          push(latin1(bytes(n)));
          break;
        }
        case 0x55: // SHORT_BINSTRING
          push(latin1(bytes(u8())));
          break;
        case 0x42: // BINBYTES
          push(bytes(u32()));
          break;
        case 0x43: // SHORT_BINBYTES
          push(bytes(u8()));
          break;
        case 0x8e: // BINBYTES8
          push(bytes(u64()));
          break;
        case 0x96: // BYTEARRAY8
          push(bytes(u64()).slice());
          break;
        case 0x97: // NEXT_BUFFER
          fail('out-of-band buffers (pickle protocol 5 NEXT_BUFFER) are not supported');
          break;
        case 0x98: // READONLY_BUFFER
          break;

        case 0x29: // EMPTY_TUPLE
          push(Object.freeze([]));
          break;
        case 0x85: // TUPLE1
          push(Object.freeze([pop()]));
          break;
        case 0x86: {
          // TUPLE2
          const b = pop();
          const a = pop();
          push(Object.freeze([a, b]));
          break;
        }
        case 0x87: {
          // TUPLE3
          const c = pop();
          const b = pop();
          const a = pop();
          push(Object.freeze([a, b, c]));
          break;
        }
        case 0x74: // TUPLE
          push(Object.freeze(popMark()));
          break;
        case 0x5d: // EMPTY_LIST
          push([]);
          break;
        case 0x6c: // LIST
          push(popMark());
          break;
        case 0x61: {
          // APPEND
          const v = pop();
          appendItems(top(), [v]);
          break;
        }
        case 0x65: {
          // APPENDS
          const items = popMark();
          appendItems(top(), items);
          break;
        }
        case 0x7d: // EMPTY_DICT
          push(new Map());
          break;
        case 0x64: {
          // DICT
          const d = new Map();
          setItems(d, popMark());
          push(d);
          break;
        }
        case 0x73: {
          // SETITEM
          const v = pop();
          const k = pop();
          setItems(top(), [k, v]);
          break;
        }
        case 0x75: {
          // SETITEMS
          const items = popMark();
          setItems(top(), items);
          break;
        }
        case 0x8f: // EMPTY_SET
          push(new Set());
          break;
        case 0x90: {
          // ADDITEMS
          const items = popMark();
          const s = top();
          if (!(s instanceof Set)) fail('ADDITEMS on an object that is not a set');
          for (const it of items) (s as Set<unknown>).add(it);
          break;
        }
        case 0x91: // FROZENSET
          push(new Set(popMark()));
          break;

        case 0x70: // PUT
          memo.set(parseIndexLine(line(), fail), top());
          break;
        case 0x71: // BINPUT
          memo.set(u8(), top());
          break;
        case 0x72: // LONG_BINPUT
          memo.set(u32(), top());
          break;
        case 0x94: // MEMOIZE
          memo.set(memo.size, top());
          break;
        case 0x67: // GET
          push(memoGet(parseIndexLine(line(), fail)));
          break;
        case 0x68: // BINGET
          push(memoGet(u8()));
          break;
        case 0x6a: // LONG_BINGET
          push(memoGet(u32()));
          break;

        case 0x63: {
          // GLOBAL: "module\nname\n"
          const module = utf8.decode(latin1Bytes(line()));
          const name = utf8.decode(latin1Bytes(line()));
          push(findGlobal(module, name));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = pop();
          const module = pop();
          if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
          push(findGlobal(module as string, name as string));
          break;
        }
        case 0x52: {
          // REDUCE
          const args = pop();
          const fn = pop();
          push(call(fn, args, 'REDUCE'));
          break;
        }
        case 0x81: {
          // NEWOBJ: cls.__new__(cls, *args), which the resolver's callable stands for
          const args = pop();
          const cls = pop();
          push(call(cls, args, 'NEWOBJ'));
          break;
        }
        case 0x92: {
          // NEWOBJ_EX
          const kwargs = pop();
          const args = pop();
          const cls = pop();
          if (kwargs instanceof Map && kwargs.size) fail('NEWOBJ_EX with keyword arguments is not supported');
          push(call(cls, args, 'NEWOBJ_EX'));
          break;
        }
        case 0x69: {
          // INST (protocol 0): "module\nname\n", args since MARK
          const module = line();
          const name = line();
          const args = Object.freeze(popMark());
          push(call(findGlobal(module, name), args, 'INST'));
          break;
        }
        case 0x6f: {
          // OBJ (protocol 1): class and args since MARK
          const items = popMark();
          if (!items.length) fail('OBJ without a class');
          const cls = items.shift();
          push(call(cls, Object.freeze(items), 'OBJ'));
          break;
        }
        case 0x62: {
          // BUILD
          const state = pop();
          build(top(), state);
          break;
        }
        case 0x50: // PERSID
          push(persistent(line()));
          break;
        case 0x51: // BINPERSID
          push(persistent(pop()));
          break;
        case 0x82:
        case 0x83:
        case 0x84: // EXT1/2/4
          fail('the copyreg extension registry (EXT opcodes) is not supported');
          break;
        default:
          fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  } catch (err) {
    if (err instanceof PldrError) throw err;
    // A callable choked on its arguments, or similar: still a malformed input, not a crash.
    throw new PldrError(`${source}: malformed pickle at byte ${opPos}: ${oneLine(err)}`);
  }

  function persistent(pid: unknown): unknown {
    if (!opts.persistentLoad) fail('persistent ids are not allowed here');
    return opts.persistentLoad!(pid);
  }
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Little-endian two's complement, as LONG1/LONG4 store Python ints. */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return toNumberIfSafe(v);
}

function toNumberIfSafe(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function parseIntLine(s: string, fail: (p: string) => never): number | bigint | boolean {
  if (s === '00') return false;
  if (s === '01') return true;
  if (!/^[+-]?\d+$/.test(s)) fail(`bad integer literal ${JSON.stringify(s)}`);
  return toNumberIfSafe(BigInt(s));
}

function parseIndexLine(s: string, fail: (p: string) => never): number {
  if (!/^\d+$/.test(s)) fail(`bad memo index ${JSON.stringify(s)}`);
  return Number(s);
}

function parseFloatLine(s: string, fail: (p: string) => never): number {
  const t = s.trim().toLowerCase();
  if (t === 'inf' || t === '+inf') return Infinity;
  if (t === '-inf') return -Infinity;
  if (t === 'nan' || t === '-nan' || t === '+nan') return NaN;
  const v = Number(t);
  if (t === '' || Number.isNaN(v)) fail(`bad float literal ${JSON.stringify(s)}`);
  return v;
}

/** raw-unicode-escape: characters below 256 are their latin-1 byte, others (and \\, \n ...) \uXXXX escapes. */
function rawUnicodeUnescape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a: string | undefined, b: string | undefined) =>
    String.fromCodePoint(parseInt((a ?? b)!, 16)),
  );
}

function unquotePy2String(s: string, fail: (p: string) => never): string {
  const q = s[0];
  if ((q !== "'" && q !== '"') || s.length < 2 || s[s.length - 1] !== q) fail('STRING argument is not quoted');
  const body = s.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = body[++i];
    if (n === undefined) fail('STRING ends with a backslash');
    if (n in SIMPLE_ESCAPES) out += SIMPLE_ESCAPES[n];
    else if (n === 'x') {
      out += String.fromCharCode(parseInt(body.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (/[0-7]/.test(n)) {
      const m = /^[0-7]{1,3}/.exec(body.slice(i))![0];
      out += String.fromCharCode(parseInt(m, 8));
      i += m.length - 1;
    } else out += '\\' + n;
  }
  return out;
}
