/**
 * Reading what torch.save and pickled torch tensors contain, without torch.
 *
 * Two containers: the zip format (torch >= 1.6 default: `<folder>/data.pkl` + `<folder>/data/<key>`)
 * and the legacy stream (magic, protocol and sys-info pickles, the object pickle, the storage-key
 * list, then per storage an 8-byte element count and the raw data). The legacy stream is also what
 * `torch.storage._load_from_bytes(b'...')` holds when a tensor is pickled with plain `pickle`.
 *
 * Tensors come back as HostTensors materialised in C order (views and strides resolved);
 * F16/BF16 are widened to F32 because the model works in float32.
 */
import {PldrError} from '../errors.js';
import {plainBytes} from './fsutil.js';
import {attributesOf, codecsEncode, unpickle} from './pickle/reader.js';
import {ITEM_SIZE, typedView} from './safetensors.js';
import {DType, HostTensor, numel} from './tensor.js';
import {ZipArchive, type ZipReadOptions} from './zip.js';

/** A torch storage class named in a persistent id (`torch.FloatStorage` ...). */
export class StorageType {
  constructor(
    readonly name: string,
    readonly dtype: DType,
  ) {}
}

export const STORAGE_TYPES: Record<string, DType> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
  // torch 2's untyped storages count bytes; a tensor over one would be uint8.
  UntypedStorage: 'U8',
};

export const STORAGE_TYPE_FOR: Record<DType, string> = {
  F32: 'FloatStorage',
  F64: 'DoubleStorage',
  F16: 'HalfStorage',
  BF16: 'BFloat16Storage',
  I64: 'LongStorage',
  I32: 'IntStorage',
  U8: 'ByteStorage',
  BOOL: 'BoolStorage',
};

const storageTypes = new Map(Object.entries(STORAGE_TYPES).map(([n, d]) => [n, new StorageType(n, d)]));

/** Raw storage bytes, which in the legacy format only arrive after the pickle that uses them. */
interface RootStorage {
  dtype: DType;
  numel: number;
  bytes: Uint8Array | null;
  /** Tensors built before the bytes were known, completed once they are. */
  pending: (() => void)[];
}

/** What a persistent id resolves to: a storage, or (legacy) a view into one. */
export class TorchStorage {
  constructor(
    readonly root: RootStorage,
    readonly elementOffset: number,
    readonly numel: number,
    readonly location: string,
  ) {}
  get dtype(): DType {
    return this.root.dtype;
  }
}

const tensors = new WeakSet<object>();

export function isTorchTensor(x: unknown): x is HostTensor {
  return x !== null && typeof x === 'object' && tensors.has(x);
}

export interface TorchLoad {
  value: unknown;
  /** Storage locations seen ('cpu', 'cuda:0', ...), in order of first appearance. */
  locations: string[];
}

/** Loads a torch.save file (zip or legacy), or fails with a PldrError that says what it is not. */
export function loadTorchFile(input: Uint8Array, source: string, zipOptions: ZipReadOptions = {}): TorchLoad {
  const buf = plainBytes(input);
  if (ZipArchive.isZip(buf)) return loadTorchZip(buf, source, zipOptions);
  if (isLegacyTorchStream(buf)) {
    const ctx = new LoadContext(source);
    return {value: ctx.loadLegacy(buf, source), locations: ctx.locations};
  }
  if (buf.length < 4) throw new PldrError(`${source}: file is too short (${buf.length} bytes) to be a PyTorch file`);
  throw new PldrError(
    `${source}: not a PyTorch file (neither a torch.save zip archive nor a legacy torch.save stream)`,
  );
}

/** Legacy torch.save streams open with a protocol-2 pickle of the magic number 0x1950a86a20f9469cfc6c. */
const LEGACY_PREFIX = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e];
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

export function isLegacyTorchStream(buf: Uint8Array): boolean {
  return buf.length >= LEGACY_PREFIX.length && LEGACY_PREFIX.every((b, i) => buf[i] === b);
}

export function loadTorchZip(input: Uint8Array, source: string, zipOptions: ZipReadOptions = {}): TorchLoad {
  const buf = plainBytes(input);
  const zip = new ZipArchive(buf, source, zipOptions);
  // The folder name is whatever the writer chose (file basename, "archive", ...): find data.pkl.
  const pkls = zip.entries.filter((e) => /^[^/]*\/data\.pkl$/.test(e.name));
  if (pkls.length === 0)
    throw new PldrError(`${source}: zip archive has no <folder>/data.pkl: not a torch.save checkpoint`);
  if (pkls.length > 1) throw new PldrError(`${source}: zip archive has ${pkls.length} data.pkl records`);
  const prefix = pkls[0].name.slice(0, -'data.pkl'.length);
  let bigEndian = false;
  if (zip.has(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim();
    if (order !== 'little' && order !== 'big') throw new PldrError(`${source}: unknown byteorder record "${order}"`);
    bigEndian = order === 'big';
  }
  const ctx = new LoadContext(source);
  const storages = new Map<string, TorchStorage>();
  const value = unpickle(zip.read(pkls[0].name), {
    source: `${source} (${pkls[0].name})`,
    resolveGlobal: ctx.resolveGlobal,
    persistentLoad: (pid) => {
      const {type, key, location, count} = parseStoragePid(pid, source, false);
      const known = storages.get(key);
      if (known) return known;
      const name = `${prefix}data/${key}`;
      if (!zip.has(name)) throw new PldrError(`${source}: storage record ${name} is missing`);
      const data = zip.read(name);
      const nbytes = count * ITEM_SIZE[type.dtype];
      if (data.length < nbytes) {
        throw new PldrError(`${source}: storage ${name} has ${data.length} bytes, the pickle needs ${nbytes}`);
      }
      // A view is enough: rebuildTensor copies into the tensor's own buffer. Swapping needs a copy.
      let bytes = data.subarray(0, nbytes);
      if (bigEndian) swapBytes((bytes = bytes.slice()), ITEM_SIZE[type.dtype]);
      const s = new TorchStorage({dtype: type.dtype, numel: count, bytes, pending: []}, 0, count, location);
      ctx.noteLocation(location);
      storages.set(key, s);
      return s;
    },
  }).value;
  return {value, locations: ctx.locations};
}

/** The globals torch files may name, for unpickling a plain pickle of tensors; `locations` fills as storages load. */
export function makeTorchResolver(source: string): {
  resolveGlobal: (module: string, name: string) => unknown;
  locations: string[];
} {
  const ctx = new LoadContext(source);
  return {resolveGlobal: ctx.resolveGlobal, locations: ctx.locations};
}

function parseStoragePid(pid: unknown, source: string, legacy: boolean) {
  const bad = (): never => {
    throw new PldrError(`${source}: unsupported persistent id in pickle: ${describe(pid)}`);
  };
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) bad();
  const [, type, key, location, count] = pid as unknown[];
  if (!(type instanceof StorageType) || typeof key !== 'string' || typeof location !== 'string') bad();
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) bad();
  const view = legacy ? (pid as unknown[])[5] : null;
  return {type: type as StorageType, key: key as string, location: location as string, count: count as number, view};
}

class LoadContext {
  readonly locations: string[] = [];

  constructor(private readonly source: string) {}

  noteLocation(loc: string): void {
    if (!this.locations.includes(loc)) this.locations.push(loc);
  }

  /** The only globals a torch file may name; anything else is refused by the unpickler. */
  readonly resolveGlobal = (module: string, name: string): unknown => {
    if (module === 'collections' && name === 'OrderedDict') return () => new Map();
    if (module === 'torch._utils') {
      if (name === '_rebuild_tensor_v2' || name === '_rebuild_tensor') {
        return (storage: unknown, offset: unknown, size: unknown, stride: unknown) =>
          rebuildTensor(storage, offset, size, stride, this.source);
      }
      if (name === '_rebuild_parameter' || name === '_rebuild_parameter_with_state') {
        return (data: unknown) => {
          if (!isTorchTensor(data)) throw new PldrError(`${this.source}: a parameter whose data is not a tensor`);
          return data;
        };
      }
    }
    if (module === 'torch' && storageTypes.has(name)) return storageTypes.get(name);
    if (module === 'torch.storage' && name === '_load_from_bytes') {
      return (b: unknown) => {
        if (!(b instanceof Uint8Array)) throw new PldrError(`${this.source}: _load_from_bytes without bytes`);
        return this.loadLegacy(b, `${this.source} (embedded storage)`);
      };
    }
    if (module === '_codecs' && name === 'encode') return codecsEncode;
    return undefined;
  };

  /** Parses a legacy torch.save stream that fills the whole of `buf`, returning its object. */
  loadLegacy(input: Uint8Array, source: string): unknown {
    const buf = plainBytes(input);
    const header = (offset: number, what: string) => {
      try {
        return unpickle(buf, {source, offset, resolveGlobal: () => undefined});
      } catch (err) {
        throw new PldrError(`${source}: bad legacy torch.save ${what}: ${(err as Error).message}`);
      }
    };
    const magic = header(0, 'magic number');
    if (magic.value !== LEGACY_MAGIC)
      throw new PldrError(`${source}: not a legacy torch.save stream (wrong magic number)`);
    const proto = header(magic.end, 'protocol version');
    if (proto.value !== 1001)
      throw new PldrError(`${source}: unsupported legacy torch.save protocol ${describe(proto.value)}`);
    const sysInfo = header(proto.end, 'system info');
    if (sysInfo.value instanceof Map && sysInfo.value.get('little_endian') === false) {
      throw new PldrError(`${source}: big-endian legacy torch.save streams are not supported`);
    }

    const roots = new Map<string, RootStorage>();
    const views = new Map<string, TorchStorage>();
    const main = unpickle(buf, {
      source,
      offset: sysInfo.end,
      resolveGlobal: this.resolveGlobal,
      persistentLoad: (pid) => {
        const {type, key, location, count, view} = parseStoragePid(pid, source, true);
        this.noteLocation(location);
        let root = roots.get(key);
        if (!root) {
          root = {dtype: type.dtype, numel: count, bytes: null, pending: []};
          roots.set(key, root);
        }
        if (view === null || view === undefined) return new TorchStorage(root, 0, root.numel, location);
        // (view_key, offset, view_size) in elements of the root storage's type
        if (!Array.isArray(view) || view.length !== 3)
          throw new PldrError(`${source}: bad storage view ${describe(view)}`);
        const [viewKey, off, len] = view as unknown[];
        if (typeof viewKey !== 'string' || !isCount(off) || !isCount(len) || off + len > root.numel) {
          throw new PldrError(`${source}: bad storage view ${describe(view)}`);
        }
        let v = views.get(viewKey);
        if (!v) views.set(viewKey, (v = new TorchStorage(root, off, len, location)));
        return v;
      },
    });
    const keysPickle = unpickle(buf, {source, offset: main.end, resolveGlobal: () => undefined});
    const keys = keysPickle.value;
    if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string')) {
      throw new PldrError(`${source}: legacy torch.save storage-key list is malformed`);
    }
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let pos = keysPickle.end;
    for (const key of keys as string[]) {
      const root = roots.get(key);
      if (!root) throw new PldrError(`${source}: storage ${key} has data but is not used by the pickle`);
      if (pos + 8 > buf.length) throw new PldrError(`${source}: storage data ends early (truncated file?)`);
      const count = Number(dv.getBigUint64(pos, true));
      if (count !== root.numel) {
        throw new PldrError(`${source}: storage ${key} holds ${count} elements, the pickle says ${root.numel}`);
      }
      const nbytes = count * ITEM_SIZE[root.dtype];
      if (pos + 8 + nbytes > buf.length) throw new PldrError(`${source}: storage data ends early (truncated file?)`);
      root.bytes = buf.subarray(pos + 8, pos + 8 + nbytes); // rebuildTensor copies out of it
      pos += 8 + nbytes;
      for (const done of root.pending.splice(0)) done();
    }
    for (const [key, root] of roots) {
      if (!root.bytes) throw new PldrError(`${source}: storage ${key} is used but its data is missing`);
    }
    return main.value;
  }
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function describe(x: unknown): string {
  try {
    const s = JSON.stringify(x, (_k, v: unknown) =>
      typeof v === 'bigint'
        ? v.toString()
        : v instanceof StorageType
          ? `torch.${v.name}`
          : v instanceof Uint8Array
            ? `<${v.length} bytes>`
            : v,
    );
    return s === undefined ? String(x) : s.length > 120 ? `${s.slice(0, 117)}...` : s;
  } catch {
    return String(x);
  }
}

/** torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, ...): a C-order copy. */
function rebuildTensor(storage: unknown, offset: unknown, size: unknown, stride: unknown, source: string): HostTensor {
  const bad = (problem: string): never => {
    throw new PldrError(`${source}: cannot rebuild tensor: ${problem}`);
  };
  if (!(storage instanceof TorchStorage)) return bad('its storage is not a torch storage');
  if (!isCount(offset)) return bad(`bad storage offset ${describe(offset)}`);
  if (!Array.isArray(size) || !size.every(isCount)) return bad(`bad size ${describe(size)}`);
  if (!Array.isArray(stride) || stride.length !== size.length || !stride.every(isCount))
    return bad(`bad stride ${describe(stride)}`);
  const shape = (size as number[]).slice();
  const strides = stride as number[];
  const n = numel(shape);
  if (n > 0) {
    const last = offset + shape.reduce((acc, d, i) => acc + (d - 1) * strides[i], 0);
    if (last >= storage.numel) {
      bad(
        `shape [${shape.join(', ')}] with stride (${strides.join(', ')}) at offset ${offset} needs more than the storage's ${storage.numel} elements`,
      );
    }
  }
  const dtype = storage.dtype;
  const outDtype: DType = dtype === 'F16' || dtype === 'BF16' ? 'F32' : dtype;
  const tensor: HostTensor = {dtype: outDtype, shape, data: typedView(outDtype, new ArrayBuffer(0), 0)};
  tensors.add(tensor);
  const fill = () => {
    const raw = gather(storage.root.bytes!, ITEM_SIZE[dtype], storage.elementOffset + offset, shape, strides);
    tensor.data = widen(dtype, raw, n);
  };
  if (storage.root.bytes) fill();
  else storage.root.pending.push(fill);
  return tensor;
}

/** Copies the strided elements into a fresh, aligned, C-order buffer. */
function gather(bytes: Uint8Array, itemSize: number, offset: number, shape: number[], strides: number[]): ArrayBuffer {
  const n = numel(shape);
  const out = new Uint8Array(n * itemSize);
  if (n === 0) return out.buffer;
  let contiguous = true;
  for (let i = shape.length - 1, expect = 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== expect) contiguous = false;
    expect *= shape[i];
  }
  if (contiguous) {
    out.set(bytes.subarray(offset * itemSize, (offset + n) * itemSize));
    return out.buffer;
  }
  // Element-wise copy through integer views (bit-exact, no float canonicalisation of NaNs).
  const src = bytes.byteOffset % 4 === 0 ? bytes : bytes.slice();
  const words = itemSize === 8 ? 2 : 1;
  const unit = itemSize === 1 ? 1 : itemSize === 2 ? 2 : 4;
  const make = (b: ArrayBufferLike, off: number, len: number) =>
    unit === 1 ? new Uint8Array(b, off, len) : unit === 2 ? new Uint16Array(b, off, len) : new Uint32Array(b, off, len);
  const s = make(src.buffer, src.byteOffset, src.byteLength / unit);
  const d = make(out.buffer, 0, out.byteLength / unit);
  const idx = new Array<number>(shape.length).fill(0);
  let at = offset;
  for (let k = 0; k < n; k++) {
    for (let w = 0; w < words; w++) d[k * words + w] = s[at * words + w];
    // odometer increment over the dims, last dim fastest
    for (let i = shape.length - 1; i >= 0; i--) {
      if (++idx[i] < shape[i]) {
        at += strides[i];
        break;
      }
      at -= (shape[i] - 1) * strides[i];
      idx[i] = 0;
    }
  }
  return out.buffer;
}

let halfTable: Float32Array | undefined;

/** F16 / BF16 raw patterns → F32 values; other dtypes are wrapped as they are. */
export function widen(dtype: DType, raw: ArrayBuffer, n: number) {
  if (dtype === 'BF16') {
    const src = new Uint16Array(raw, 0, n);
    const bits = new Uint32Array(n);
    for (let i = 0; i < n; i++) bits[i] = src[i] << 16;
    return new Float32Array(bits.buffer);
  }
  if (dtype === 'F16') {
    if (!halfTable) {
      halfTable = new Float32Array(65536);
      for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h);
    }
    const src = new Uint16Array(raw, 0, n);
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = halfTable[src[i]];
    return out;
  }
  return typedView(dtype, raw, n);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function swapBytes(b: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i + size <= b.length; i += size) b.subarray(i, i + size).reverse();
}

/** The `_metadata` attribute of a state dict, as module prefix → version (torch's per-module version numbers). */
export function moduleVersionsOf(stateDict: unknown): Map<string, number> | undefined {
  const md = attributesOf(stateDict)?.get('_metadata');
  if (!(md instanceof Map)) return undefined;
  const out = new Map<string, number>();
  for (const [k, v] of md) {
    if (typeof k !== 'string' || !(v instanceof Map) || typeof v.get('version') !== 'number') return undefined;
    out.set(k, v.get('version') as number);
  }
  return out;
}

/** torch's contiguous strides (a zero-sized dim counts as 1, as in torch). */
export function contiguousStride(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    stride[i] = acc;
    acc *= Math.max(shape[i], 1);
  }
  return stride;
}
