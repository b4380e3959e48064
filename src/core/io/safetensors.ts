/**
 * safetensors: 8-byte little-endian header length N, N bytes of JSON (space-padded), then the data.
 * We keep the header's key order (JSON.parse would move integer-like names to the front), copy each
 * tensor into its own aligned buffer, and lay out written data so every tensor is aligned to its
 * element size.
 */
import {PldrError} from '../errors.js';
import {plainBytes, readFileBytes, writeFileAtomic} from './fsutil.js';
import {DType, HostTensor, StateDict, TypedData, numel} from './tensor.js';

export interface Safetensors {
  tensors: StateDict;
  metadata: Record<string, string>;
}

export const ITEM_SIZE: Record<DType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  U8: 1,
  BOOL: 1,
};

/** Wrap a freshly copied, offset-0 buffer in the typed array that `dtype` calls for. */
export function typedView(dtype: DType, buffer: ArrayBuffer, count: number): TypedData {
  switch (dtype) {
    case 'F64':
      return new Float64Array(buffer, 0, count);
    case 'F32':
      return new Float32Array(buffer, 0, count);
    case 'F16':
    case 'BF16':
      return new Uint16Array(buffer, 0, count);
    case 'I64':
      return new BigInt64Array(buffer, 0, count);
    case 'I32':
      return new Int32Array(buffer, 0, count);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buffer, 0, count);
  }
}

/** The typed array a dtype must be stored in, to catch mismatched tensors before writing them. */
function expectedArray(dtype: DType): string {
  return typedView(dtype, new ArrayBuffer(0), 0).constructor.name;
}

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(ITEM_SIZE, s);
}

export function parseSafetensors(input: Uint8Array, source = '<buffer>'): Safetensors {
  const buf = plainBytes(input);
  const fail = (problem: string): never => {
    throw new PldrError(`${source}: not a valid safetensors file: ${problem}`);
  };
  if (buf.byteLength < 8) fail(`file is ${buf.byteLength} bytes, shorter than the 8-byte header length`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = view.getBigUint64(0, true);
  if (headerLen > BigInt(buf.byteLength - 8)) {
    fail(`header length ${headerLen} runs past the end of the file (${buf.byteLength} bytes)`);
  }
  const n = Number(headerLen);
  let text: string;
  try {
    text = new TextDecoder('utf-8', {fatal: true}).decode(buf.subarray(8, 8 + n));
  } catch {
    return fail('header is not UTF-8 text');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    return fail(`header is not JSON (${(err as Error).message.split('\n')[0]})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const entries = header as Record<string, unknown>;
  const dataStart = 8 + n;
  const dataLen = buf.byteLength - dataStart;

  const metadata: Record<string, string> = {};
  const rawMeta = entries['__metadata__'];
  if (rawMeta !== undefined) {
    if (!rawMeta || typeof rawMeta !== 'object' || Array.isArray(rawMeta)) fail('__metadata__ is not an object');
    for (const [k, v] of Object.entries(rawMeta as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`__metadata__ value of "${k}" is not a string`);
      metadata[k] = v as string;
    }
  }

  const tensors: StateDict = new Map();
  for (const name of topLevelKeys(text)) {
    if (name === '__metadata__') continue;
    if (tensors.has(name)) fail(`tensor "${name}" appears twice`);
    const info = entries[name] as {dtype?: unknown; shape?: unknown; data_offsets?: unknown} | null;
    if (!info || typeof info !== 'object') fail(`entry "${name}" is not an object`);
    const {dtype, shape, data_offsets: offsets} = info as {dtype?: unknown; shape?: unknown; data_offsets?: unknown};
    if (!isDType(dtype)) fail(`tensor "${name}" has unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const dt = dtype as DType;
    const dims = shape as number[];
    const [begin, end] = offsets as number[];
    if (begin > end || end > dataLen) {
      fail(`tensor "${name}" data_offsets [${begin}, ${end}] lie outside the ${dataLen}-byte data buffer`);
    }
    const count = numel(dims);
    if (end - begin !== count * ITEM_SIZE[dt]) {
      fail(
        `tensor "${name}" has ${end - begin} bytes but shape [${dims.join(', ')}] of ${dt} needs ${count * ITEM_SIZE[dt]}`,
      );
    }
    // slice() copies into a fresh ArrayBuffer at offset 0, so any element size is aligned.
    const bytes = buf.slice(dataStart + begin, dataStart + end);
    tensors.set(name, {dtype: dt, shape: dims.slice(), data: typedView(dt, bytes.buffer, count)});
  }
  return {tensors, metadata};
}

export function readSafetensors(path: string): Safetensors {
  return parseSafetensors(readFileBytes(path), path);
}

export function serializeSafetensors(tensors: StateDict, metadata?: Record<string, string>): Uint8Array {
  const names = [...tensors.keys()];
  for (const name of names) checkHostTensor(name, tensors.get(name)!);
  // Decreasing element size, then insertion order (sort is stable): every tensor starts aligned.
  const layout = names
    .map((name, i) => ({name, i, t: tensors.get(name)!}))
    .sort((a, b) => ITEM_SIZE[b.t.dtype] - ITEM_SIZE[a.t.dtype] || a.i - b.i);
  const offsets = new Map<string, [number, number]>();
  let pos = 0;
  for (const {name, t} of layout) {
    offsets.set(name, [pos, pos + t.data.byteLength]);
    pos += t.data.byteLength;
  }
  const parts: string[] = [];
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new PldrError(`safetensors metadata value of "${k}" is not a string`);
    }
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  for (const name of names) {
    if (name === '__metadata__') throw new PldrError('a tensor cannot be named "__metadata__" in safetensors');
    const t = tensors.get(name)!;
    parts.push(
      `${JSON.stringify(name)}:${JSON.stringify({dtype: t.dtype, shape: t.shape, data_offsets: offsets.get(name)})}`,
    );
  }
  const headerBytes = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = Math.ceil(headerBytes.byteLength / 8) * 8;
  const out = new Uint8Array(8 + padded + pos);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(headerBytes, 8);
  out.fill(0x20, 8 + headerBytes.byteLength, 8 + padded);
  for (const {name, t} of layout) {
    const [begin] = offsets.get(name)!;
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), 8 + padded + begin);
  }
  return out;
}

export function writeSafetensors(path: string, tensors: StateDict, metadata?: Record<string, string>): void {
  writeFileAtomic(path, [serializeSafetensors(tensors, metadata)]);
}

/** Throws a PldrError unless `t` is a well-formed tensor: known dtype, matching typed array, data length = numel. */
export function checkHostTensor(name: string, t: HostTensor): void {
  if (!isDType(t.dtype)) throw new PldrError(`tensor "${name}" has unsupported dtype ${JSON.stringify(t.dtype)}`);
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new PldrError(`tensor "${name}" has an invalid shape [${t.shape.join(', ')}]`);
  }
  const want = expectedArray(t.dtype);
  if (t.data.constructor.name !== want) {
    throw new PldrError(`tensor "${name}" is ${t.dtype} but holds a ${t.data.constructor.name} (expected ${want})`);
  }
  if (t.data.length !== numel(t.shape)) {
    throw new PldrError(
      `tensor "${name}" has ${t.data.length} values but shape [${t.shape.join(', ')}] needs ${numel(t.shape)}`,
    );
  }
}

/**
 * The keys of a JSON object's top level, in file order. Only called on text JSON.parse accepted, so
 * it need not validate: it tracks nesting and string state and decodes each depth-1 key.
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        keys.push(JSON.parse(text.slice(i, j + 1)) as string);
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = depth === 1 && c === '{';
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}
