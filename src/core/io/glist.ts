/**
 * External / predefined G lists (docs/spec.md §5.6). Three list formats exist and must not be confused:
 * a list of tensors G_LM (v510G construction), a list of [A_LM, G_LM] pairs (v510 external
 * G-cache) and a list of [A_LM, G_LM, A_P] triples (DAG external G-cache).
 *
 * Files are recognised by content: safetensors (`layer.<i>` or `layer.<i>.{A_LM,G_LM[,A_P]}`), the
 * reference's plain pickles of torch tensors (storages embedded via torch.storage._load_from_bytes),
 * or a torch.save file (zip or legacy) holding such a list.
 *
 * Files are written as safetensors (`writeGListSafetensors`) or as the reference's own pickled lists
 * (`writeGListPickle`), which its code reads with `pickle.load(open(f, 'rb'))`.
 */
import {PldrError} from '../errors.js';
import {readFileBytes, writeFileAtomic} from './fsutil.js';
import {unpickle} from './pickle/reader.js';
import {PickleWriter} from './pickle/writer.js';
import {checkHostTensor, parseSafetensors, writeSafetensors} from './safetensors.js';
import {HostTensor, StateDict} from './tensor.js';
import {
  TorchLoad,
  contiguousStride,
  isLegacyTorchStream,
  isTorchTensor,
  loadTorchFile,
  makeTorchResolver,
} from './torch-serialization.js';
import {ZipArchive} from './zip.js';

export interface GLayer {
  G_LM: HostTensor;
  A_LM?: HostTensor;
  A_P?: HostTensor;
  /** The metric learner's output, when an export carried it (`pldr export-g --with-a`); never part of a cache. */
  A?: HostTensor;
}

export interface GList {
  kind: 'tensors' | 'pairs' | 'triples';
  layers: GLayer[];
  metadata: Record<string, string>;
}

export function readGList(path: string): GList {
  const buf = readFileBytes(path);
  if (looksLikeSafetensors(buf)) {
    const {tensors, metadata} = parseSafetensors(buf, path);
    return gListFromSafetensors(tensors, metadata, path);
  }
  if (ZipArchive.isZip(buf) || isLegacyTorchStream(buf))
    return gListFromObject(loadTorchFile(buf, path), path, 'torch.save');
  if (buf.length > 0 && (buf[0] === 0x80 || buf[0] === 0x28 || buf[0] === 0x5d)) {
    return gListFromObject(loadPlainPickle(buf, path), path, 'pickle');
  }
  throw new PldrError(
    `${path}: not a G list: expected safetensors, a pickled list of torch tensors, or a torch.save file`,
  );
}

export function writeGListSafetensors(path: string, g: GList, metadata?: Record<string, string>): void {
  const tensors: StateDict = new Map();
  g.layers.forEach((layer, i) => {
    if (g.kind === 'tensors') {
      tensors.set(`layer.${i}`, layer.G_LM);
      return;
    }
    if (!layer.A_LM) throw new PldrError(`G list layer ${i} has no A_LM, which a ${g.kind} list needs`);
    tensors.set(`layer.${i}.A_LM`, layer.A_LM);
    tensors.set(`layer.${i}.G_LM`, layer.G_LM);
    if (g.kind === 'triples') {
      if (!layer.A_P) throw new PldrError(`G list layer ${i} has no A_P, which a triples list needs`);
      tensors.set(`layer.${i}.A_P`, layer.A_P);
    }
  });
  writeSafetensors(path, tensors, {...g.metadata, ...metadata});
}

/** A safetensors header length (8 bytes LE) followed by '{'. */
function looksLikeSafetensors(buf: Uint8Array): boolean {
  if (buf.length < 9) return false;
  const n = new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true);
  return n > 0n && n <= BigInt(buf.length - 8) && buf[8] === 0x7b;
}

const KEY = /^layer\.(0|[1-9]\d*)(?:\.(A_LM|G_LM|A_P|A))?$/;

function gListFromSafetensors(tensors: StateDict, metadata: Record<string, string>, source: string): GList {
  const byLayer = new Map<number, Map<string, HostTensor>>();
  let plain = 0;
  let parts = 0;
  for (const [name, t] of tensors) {
    const m = KEY.exec(name);
    if (!m)
      throw new PldrError(
        `${source}: unexpected tensor "${name}" in a G list (expected layer.<i> or layer.<i>.A_LM / G_LM / A_P / A)`,
      );
    const i = Number(m[1]);
    const field = m[2] ?? 'G_LM';
    if (m[2]) parts++;
    else plain++;
    const layer = byLayer.get(i) ?? new Map<string, HostTensor>();
    layer.set(field, checkFloat(t, name, source));
    byLayer.set(i, layer);
  }
  if (tensors.size === 0) throw new PldrError(`${source}: G list file holds no tensors`);
  if (plain && parts) throw new PldrError(`${source}: G list mixes layer.<i> and layer.<i>.<part> keys`);
  const n = byLayer.size;
  for (let i = 0; i < n; i++) {
    if (!byLayer.has(i))
      throw new PldrError(`${source}: G list layers are not numbered 0..${n - 1} (layer.${i} is missing)`);
  }
  let kind: GList['kind'] = 'tensors';
  if (parts) kind = byLayer.get(0)!.has('A_P') ? 'triples' : 'pairs';
  const layers: GLayer[] = [];
  for (let i = 0; i < n; i++) {
    const l = byLayer.get(i)!;
    const A = l.get('A');
    l.delete('A');
    if (kind !== 'tensors') {
      const want = kind === 'triples' ? ['A_LM', 'G_LM', 'A_P'] : ['A_LM', 'G_LM'];
      const have = [...l.keys()];
      if (have.length !== want.length || !want.every((w) => l.has(w))) {
        const like = i > 0 ? ' (like layer 0)' : '';
        throw new PldrError(
          `${source}: G list layer ${i} has ${have.sort().join(', ')}, expected ${want.join(', ')}${like}`,
        );
      }
    }
    const layer: GLayer =
      kind === 'tensors'
        ? {G_LM: l.get('G_LM')!}
        : {A_LM: l.get('A_LM')!, G_LM: l.get('G_LM')!, ...(kind === 'triples' ? {A_P: l.get('A_P')!} : {})};
    if (A) layer.A = A;
    layers.push(layer);
  }
  return {kind, layers, metadata};
}

/**
 * A layer's G_LM, A_LM or A_P for a model with H heads of size dk must have exactly the shape
 * [1, H, dk, dk] (the reference's pickles and our files) or [H, dk, dk] (the same without the batch
 * row). The right number of values is not enough: [1, dk, H, dk] or [H·dk, dk] would put other
 * numbers in each head. `what` names the tensor for the message (file, layer and part).
 */
export function checkGShape(t: HostTensor, H: number, dk: number, what: string): void {
  const s = t.shape;
  const ok =
    (s.length === 4 && s[0] === 1 && s[1] === H && s[2] === dk && s[3] === dk) ||
    (s.length === 3 && s[0] === H && s[1] === dk && s[2] === dk);
  if (!ok)
    throw new PldrError(
      `${what} has shape [${s.join(', ')}], the model needs [1, ${H}, ${dk}, ${dk}] (or [${H}, ${dk}, ${dk}])`,
    );
}

function checkFloat(t: HostTensor, name: string, source: string): HostTensor {
  if (t.dtype !== 'F32' && t.dtype !== 'F64') {
    throw new PldrError(`${source}: G list tensor ${name} is ${t.dtype}; expected a float tensor`);
  }
  return t;
}

/** A plain `pickle.dump` whose only torch objects are tensors with embedded legacy storages. */
function loadPlainPickle(buf: Uint8Array, source: string): TorchLoad {
  const {resolveGlobal, locations} = makeTorchResolver(source);
  const {value, end} = unpickle(buf, {source, resolveGlobal});
  if (end !== buf.length) throw new PldrError(`${source}: ${buf.length - end} unexpected bytes after the pickle`);
  return {value, locations};
}

function gListFromObject(load: TorchLoad, source: string, format: string): GList {
  const list = load.value;
  if (!Array.isArray(list)) throw new PldrError(`${source}: not a G list: the pickled object is not a list`);
  if (list.length === 0) throw new PldrError(`${source}: the G list is empty`);
  const first = list[0];
  let kind: GList['kind'];
  if (isTorchTensor(first)) kind = 'tensors';
  else if (Array.isArray(first) && first.length === 2) kind = 'pairs';
  else if (Array.isArray(first) && first.length === 3) kind = 'triples';
  else throw new PldrError(`${source}: not a G list: element 0 is neither a tensor nor a list of 2 or 3 tensors`);
  const layers = list.map((el: unknown, i): GLayer => {
    if (kind === 'tensors') {
      if (!isTorchTensor(el)) throw new PldrError(`${source}: G list element ${i} is not a tensor like element 0`);
      return {G_LM: plain(checkFloat(el, `[${i}]`, source))};
    }
    const n = kind === 'pairs' ? 2 : 3;
    if (!Array.isArray(el) || el.length !== n || !el.every(isTorchTensor)) {
      throw new PldrError(`${source}: G list element ${i} is not a list of ${n} tensors like element 0`);
    }
    const [a, g, p] = (el as HostTensor[]).map((t, j) => plain(checkFloat(t, `[${i}][${j}]`, source)));
    return kind === 'pairs' ? {A_LM: a, G_LM: g} : {A_LM: a, G_LM: g, A_P: p};
  });
  const metadata: Record<string, string> = {source_format: format};
  if (load.locations.length) metadata.storage_locations = load.locations.join(',');
  return {kind, layers, metadata};
}

function plain(t: HostTensor): HostTensor {
  return {dtype: t.dtype, shape: t.shape, data: t.data};
}

// ---------------------------------------------------------------------------------------------
// Writing the reference's pickled lists
// ---------------------------------------------------------------------------------------------

export interface GListPickleOptions {
  /**
   * 'tensors': a list of G_LM tensors (what `generate_Glst` pickles; v510G's `Gcachelst`).
   * 'pairs': a list of [A_LM, G_LM] lists (v510's `Gcachelst_init`), or of [A_LM, G_LM, A_P]
   * lists for a triples G list (the DAG G-cache).
   * 'auto' (default): 'tensors' for a list of tensors, else the pairs / triples as held.
   */
  list?: 'auto' | 'tensors' | 'pairs';
  /**
   * The key of the n-th embedded storage (n = 0, 1, ... in file order); default String(n). torch
   * names a storage after its memory address, so any string does; this only makes byte-exact
   * comparisons with a file torch wrote possible.
   */
  storageKey?: (n: number) => string;
}

/**
 * The G list as the reference pickles it: `pickle.dump(lst, f)` of torch tensors, at pickle protocol
 * 4 (Python 3.8-3.13's default, and readable by every Python 3 the reference runs on), each tensor
 * as torch's `__reduce_ex__` writes it:
 *
 *     torch._utils._rebuild_tensor_v2(
 *         torch.storage._load_from_bytes(b'<legacy torch.save stream of a FloatStorage>'),
 *         0, (1, H, dk, dk), (H*dk*dk, dk*dk, dk, 1), False, collections.OrderedDict())
 *
 * The opcodes, memo use and framing are those of CPython's C pickler for such a list under torch
 * 1.13 (checked against `pickle.dumps` in tests/core/io/glist-pickle.test.ts); only the storage keys,
 * which torch takes from memory addresses, are ours (0, 1, 2, ... in file order, or `opts.storageKey`).
 *
 * Tensors are written as contiguous float32 CPU tensors, shape [1, H, d_k, d_k] (the same for every
 * tensor of the list), requires_grad False; F64 tensors are narrowed to float32 (the reference's G
 * tensors are float32), other dtypes are refused. Each list element is its own tensor, even where
 * the GList shares one HostTensor between several places.
 */
export function serializeGListPickle(g: GList, opts: GListPickleOptions = {}): Uint8Array {
  const chunks = gListPickleChunks(g, opts);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** `serializeGListPickle` into `path`, atomically (a temp file renamed over `path`). */
export function writeGListPickle(path: string, g: GList, opts: GListPickleOptions = {}): void {
  writeFileAtomic(path, gListPickleChunks(g, opts));
}

function gListPickleChunks(g: GList, opts: GListPickleOptions): Uint8Array[] {
  const mode = opts.list ?? 'auto';
  if (mode !== 'auto' && mode !== 'tensors' && mode !== 'pairs') {
    throw new PldrError(`unknown G list pickle layout ${JSON.stringify(mode)} (expected auto, tensors or pairs)`);
  }
  if (g.kind !== 'tensors' && g.kind !== 'pairs' && g.kind !== 'triples') {
    throw new PldrError(`unknown G list kind ${JSON.stringify(g.kind)} (expected tensors, pairs or triples)`);
  }
  if (g.layers.length === 0) throw new PldrError('cannot write an empty G list: it needs one entry per decoder layer');
  const nested = mode === 'pairs' || (mode === 'auto' && g.kind !== 'tensors');
  if (nested && g.kind === 'tensors') {
    throw new PldrError('cannot write a list of tensors as [A_LM, G_LM] pairs: it holds no A_LM (write it as tensors)');
  }
  const parts: (keyof GLayer)[] = !nested
    ? ['G_LM']
    : g.kind === 'triples'
      ? ['A_LM', 'G_LM', 'A_P']
      : ['A_LM', 'G_LM'];
  let shape: number[] | undefined;
  const elements = g.layers.map((layer, i) =>
    parts.map((part) => {
      const t = pickleTensor(
        layer[part],
        nested ? `layer ${i} ${part}` : `layer ${i}`,
        nested ? g.kind : 'tensors',
        part,
      );
      if (!shape) shape = t.shape;
      else if (t.shape.join() !== shape.join()) {
        throw new PldrError(
          `G list layer ${i} ${part} has shape [${t.shape.join(', ')}], unlike the list's first tensor [${shape.join(', ')}]`,
        );
      }
      return t;
    }),
  );

  const w = new Proto4Pickle();
  let n = 0;
  const nextKey = (): string => {
    const key = opts.storageKey ? opts.storageKey(n) : String(n);
    if (typeof key !== 'string' || key === '')
      throw new PldrError(`G list pickle: storage key ${n} is not a non-empty string`);
    n++;
    return key;
  };
  w.save(() => {
    w.emptyList();
    w.batchAppends(elements, (el) => {
      if (!nested) w.save(() => w.tensor(el[0], nextKey()));
      else {
        w.save(() => {
          w.emptyList();
          w.batchAppends(el, (t) => w.save(() => w.tensor(t, nextKey())));
        });
      }
    });
  });
  return w.finish();
}

interface PickleTensor {
  shape: number[];
  data: Float32Array;
}

function pickleTensor(t: HostTensor | undefined, name: string, kind: GList['kind'], part: string): PickleTensor {
  if (!t) throw new PldrError(`G list ${name} is missing: a ${kind} list needs ${part} in every layer`);
  checkHostTensor(`G list ${name}`, t);
  const s = t.shape;
  if (s.length !== 4 || s[0] !== 1 || s[2] !== s[3] || s[1] < 1 || s[2] < 1) {
    throw new PldrError(`G list ${name} has shape [${s.join(', ')}]; expected [1, H, d_k, d_k]`);
  }
  if (t.dtype === 'F32') return {shape: s.slice(), data: t.data as Float32Array};
  if (t.dtype === 'F64') return {shape: s.slice(), data: Float32Array.from(t.data as Float64Array)};
  throw new PldrError(
    `G list ${name} is ${t.dtype}; the reference's G lists hold float32 tensors (F32, or F64 to narrow)`,
  );
}

/** Legacy torch.save prefix: the magic number, protocol version 1001 and the sys_info dict, as torch 1.13 writes them. */
const LEGACY_HEADER = Uint8Array.from([
  // pickle.dump(0x1950a86a20f9469cfc6c, protocol=2)
  0x80,
  0x02,
  0x8a,
  0x0a,
  0x6c,
  0xfc,
  0x9c,
  0x46,
  0xf9,
  0x20,
  0x6a,
  0xa8,
  0x50,
  0x19,
  0x2e,
  // pickle.dump(1001, protocol=2)
  0x80,
  0x02,
  0x4d,
  0xe9,
  0x03,
  0x2e,
  // {'protocol_version': 1001, 'little_endian': True, 'type_sizes': {'short': 2, 'int': 4, 'long': 4}}
  ...latin1Of('\x80\x02}q\x00(X\x10\x00\x00\x00protocol_versionq\x01M\xe9\x03X\r\x00\x00\x00little_endianq\x02\x88'),
  ...latin1Of('X\n\x00\x00\x00type_sizesq\x03}q\x04(X\x05\x00\x00\x00shortq\x05K\x02X\x03\x00\x00\x00intq\x06K\x04'),
  ...latin1Of('X\x04\x00\x00\x00longq\x07K\x04uu.'),
]);

function latin1Of(s: string): number[] {
  return Array.from(s, (c) => c.charCodeAt(0));
}

/**
 * What `torch.storage._load_from_bytes` gets: `torch.save(storage, b, _use_new_zipfile_serialization=False)`
 * of one CPU FloatStorage: header pickles, the object pickle (a persistent id), the key list, then
 * the element count (int64 LE) and the raw little-endian floats.
 */
function legacyStorageStream(data: Float32Array, key: string): Uint8Array[] {
  const obj = new PickleWriter();
  obj.proto(2).mark();
  obj.str('storage').global('torch', 'FloatStorage').put().str(key).str('cpu').int(data.length).none();
  obj.op(0x74).put(); // TUPLE (6 items), memoized
  obj.binpersid().stop();
  const keys = new PickleWriter();
  keys.proto(2).emptyList().put().str(key).append().stop();
  const count = new Uint8Array(8);
  new DataView(count.buffer).setBigUint64(0, BigInt(data.length), true);
  return [
    LEGACY_HEADER,
    obj.bytes(),
    keys.bytes(),
    count,
    new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  ];
}

const FRAME_SIZE_TARGET = 64 * 1024;
const FRAME_SIZE_MIN = 4;

/**
 * A protocol-4 pickle written the way CPython's pickler does it: MEMOIZE after every memoizable
 * object, STACK_GLOBAL for globals, and framing (a frame is closed at the start of a save() once
 * it holds 64 KiB; a bytes object of 64 KiB or more closes the current frame and goes out of frame).
 * Callers wrap each Python-level save() in `save` so the frame boundaries fall where CPython's do.
 */
class Proto4Pickle {
  private readonly out: Uint8Array[] = [Uint8Array.of(0x80, 4)];
  private frame = new Uint8Array(4096);
  private frameLen = 0;
  private memoSize = 0;
  private readonly globals = new Map<string, number>();

  save(emit: () => void): void {
    if (this.frameLen >= FRAME_SIZE_TARGET) this.commitFrame();
    emit();
  }

  finish(): Uint8Array[] {
    this.write(0x2e); // STOP
    this.commitFrame();
    return this.out;
  }

  emptyList(): void {
    this.write(0x5d);
    this.memoize();
  }

  /** CPython's batch_list_exact: one item + APPEND, else MARK ... APPENDS in batches of 1000. */
  batchAppends<T>(items: readonly T[], saveItem: (item: T) => void): void {
    if (items.length === 1) {
      saveItem(items[0]);
      this.write(0x61);
      return;
    }
    for (let i = 0; i < items.length; i += 1000) {
      this.write(0x28);
      items.slice(i, i + 1000).forEach(saveItem);
      this.write(0x65);
    }
  }

  /** torch.Tensor.__reduce_ex__ for a contiguous CPU float32 tensor. */
  tensor(t: PickleTensor, key: string): void {
    this.save(() => this.global('torch._utils', '_rebuild_tensor_v2'));
    this.save(() => {
      this.write(0x28); // MARK: a 6-tuple
      this.save(() => {
        // TypedStorage.__reduce__: (_load_from_bytes, (legacy stream,))
        this.save(() => this.global('torch.storage', '_load_from_bytes'));
        this.save(() => {
          this.save(() => this.bytesObject(legacyStorageStream(t.data, key)));
          this.write(0x85); // TUPLE1
          this.memoize();
        });
        this.write(0x52); // REDUCE
        this.memoize();
      });
      this.save(() => this.int(0)); // storage offset
      this.save(() => this.intTuple(t.shape));
      this.save(() => this.intTuple(contiguousStride(t.shape)));
      this.save(() => this.write(0x89)); // requires_grad: NEWFALSE
      this.save(() => {
        // backward_hooks: OrderedDict(), reduced as (OrderedDict, ()) with no items
        this.save(() => this.global('collections', 'OrderedDict'));
        this.save(() => this.write(0x29)); // EMPTY_TUPLE (not memoized)
        this.write(0x52);
        this.memoize();
      });
      this.write(0x74); // TUPLE
      this.memoize();
    });
    this.write(0x52); // REDUCE
    this.memoize();
  }

  private global(module: string, name: string): void {
    const known = this.globals.get(`${module}\n${name}`);
    if (known !== undefined) {
      this.get(known);
      return;
    }
    this.save(() => this.shortString(module));
    this.save(() => this.shortString(name));
    this.write(0x93); // STACK_GLOBAL
    this.globals.set(`${module}\n${name}`, this.memoize());
  }

  private shortString(s: string): void {
    const b = new TextEncoder().encode(s);
    if (b.length > 255) throw new PldrError(`pickle: string too long for SHORT_BINUNICODE: ${s.slice(0, 40)}`);
    this.write(0x8c, b.length);
    this.writeBytes(b);
    this.memoize();
  }

  /** A tuple of ints, as save_tuple writes it: TUPLE1-3 after the items, else MARK ... TUPLE; memoized. */
  private intTuple(values: readonly number[]): void {
    if (values.length === 0) {
      this.write(0x29);
      return;
    }
    if (values.length > 3) this.write(0x28);
    for (const v of values) this.save(() => this.int(v));
    this.write(values.length > 3 ? 0x74 : 0x84 + values.length);
    this.memoize();
  }

  private int(n: number): void {
    this.writeBytes(new PickleWriter().int(n).bytes());
  }

  /** save_bytes at protocol 4: SHORT_BINBYTES / BINBYTES in the frame, or out of frame from 64 KiB on; memoized. */
  private bytesObject(parts: Uint8Array[]): void {
    const n = parts.reduce((a, p) => a + p.byteLength, 0);
    const header = new Uint8Array(n <= 0xff ? 2 : n > 0xffffffff ? 9 : 5);
    const dv = new DataView(header.buffer);
    if (n <= 0xff) header.set([0x43, n]);
    else if (n > 0xffffffff) {
      header[0] = 0x8e;
      dv.setBigUint64(1, BigInt(n), true);
    } else {
      header[0] = 0x42;
      dv.setUint32(1, n, true);
    }
    if (n >= FRAME_SIZE_TARGET) {
      this.commitFrame();
      this.out.push(header, ...parts);
    } else {
      this.writeBytes(header);
      for (const p of parts) this.writeBytes(p);
    }
    this.memoize();
  }

  private memoize(): number {
    this.write(0x94);
    return this.memoSize++;
  }

  private get(i: number): void {
    if (i < 256) this.write(0x68, i);
    else {
      this.write(0x6a);
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, i, true);
      this.writeBytes(b);
    }
  }

  private write(...codes: number[]): void {
    this.writeBytes(Uint8Array.from(codes));
  }

  private writeBytes(b: Uint8Array): void {
    if (this.frameLen + b.byteLength > this.frame.length) {
      const next = new Uint8Array(Math.max(this.frame.length * 2, this.frameLen + b.byteLength));
      next.set(this.frame.subarray(0, this.frameLen));
      this.frame = next;
    }
    this.frame.set(b, this.frameLen);
    this.frameLen += b.byteLength;
  }

  private commitFrame(): void {
    if (this.frameLen >= FRAME_SIZE_MIN) {
      const header = new Uint8Array(9);
      header[0] = 0x95;
      new DataView(header.buffer).setBigUint64(1, BigInt(this.frameLen), true);
      this.out.push(header);
    }
    if (this.frameLen > 0) this.out.push(this.frame.slice(0, this.frameLen));
    this.frameLen = 0;
  }
}
