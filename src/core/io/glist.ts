/**
 * External / predefined G lists (spec §5.6). Three list formats exist and must not be confused:
 * a list of tensors G_LM (v510G construction), a list of [A_LM, G_LM] pairs (v510 external
 * G-cache) and a list of [A_LM, G_LM, A_P] triples (DAG external G-cache).
 *
 * Files are recognised by content: safetensors (`layer.<i>` or `layer.<i>.{A_LM,G_LM[,A_P]}`), the
 * reference's plain pickles of torch tensors (storages embedded via torch.storage._load_from_bytes),
 * or a torch.save file (zip or legacy) holding such a list.
 */
import {PldrError} from '../errors.js';
import {readFileBytes} from './fsutil.js';
import {unpickle} from './pickle.js';
import {parseSafetensors, writeSafetensors} from './safetensors.js';
import {HostTensor, StateDict} from './tensor.js';
import {TorchLoad, isLegacyTorchStream, isTorchTensor, loadTorchFile, makeTorchResolver} from './torch-serialization.js';
import {ZipArchive} from './zip.js';

export interface GLayer {
  G_LM: HostTensor;
  A_LM?: HostTensor;
  A_P?: HostTensor;
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
  if (ZipArchive.isZip(buf) || isLegacyTorchStream(buf)) return gListFromObject(loadTorchFile(buf, path), path, 'torch.save');
  if (buf.length > 0 && (buf[0] === 0x80 || buf[0] === 0x28 || buf[0] === 0x5d)) {
    return gListFromObject(loadPlainPickle(buf, path), path, 'pickle');
  }
  throw new PldrError(`${path}: not a G list: expected safetensors, a pickled list of torch tensors, or a torch.save file`);
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

const KEY = /^layer\.(0|[1-9]\d*)(?:\.(A_LM|G_LM|A_P))?$/;

function gListFromSafetensors(tensors: StateDict, metadata: Record<string, string>, source: string): GList {
  const byLayer = new Map<number, Map<string, HostTensor>>();
  let plain = 0;
  let parts = 0;
  for (const [name, t] of tensors) {
    const m = KEY.exec(name);
    if (!m) throw new PldrError(`${source}: unexpected tensor "${name}" in a G list (expected layer.<i> or layer.<i>.A_LM / G_LM / A_P)`);
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
    if (!byLayer.has(i)) throw new PldrError(`${source}: G list layers are not numbered 0..${n - 1} (layer.${i} is missing)`);
  }
  let kind: GList['kind'] = 'tensors';
  if (parts) kind = byLayer.get(0)!.has('A_P') ? 'triples' : 'pairs';
  const layers: GLayer[] = [];
  for (let i = 0; i < n; i++) {
    const l = byLayer.get(i)!;
    if (kind !== 'tensors') {
      const want = kind === 'triples' ? ['A_LM', 'G_LM', 'A_P'] : ['A_LM', 'G_LM'];
      const have = [...l.keys()];
      if (have.length !== want.length || !want.every((w) => l.has(w))) {
        const like = i > 0 ? ' (like layer 0)' : '';
        throw new PldrError(`${source}: G list layer ${i} has ${have.sort().join(', ')}, expected ${want.join(', ')}${like}`);
      }
    }
    layers.push(kind === 'tensors' ? {G_LM: l.get('G_LM')!} : {A_LM: l.get('A_LM')!, G_LM: l.get('G_LM')!, ...(kind === 'triples' ? {A_P: l.get('A_P')!} : {})});
  }
  return {kind, layers, metadata};
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
