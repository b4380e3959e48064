/**
 * The reference's checkpoint.pth: `torch.save({'model_state_dict': OrderedDict, 'optimizer_state_dict':
 * None, 'loss': float, 'accuracy': float})` in torch's zip format.
 *
 * Reading accepts torch 1.x and 2.x files (any folder name and entry order, `byteorder` and
 * `.data/serialization_id` records, with or without the optimizer key, a bare state dict, and the
 * legacy non-zip format). Writing reproduces torch 1.13's bytes: the same pickle opcodes and memo
 * numbering as CPython's C pickler at protocol 2, and the same zip layout (see zip.ts).
 */
import * as nodePath from 'node:path';

import {PldrError} from '../errors.js';
import {readFileBytes, writeFileAtomic} from './fsutil.js';
import {PickleWriter} from './pickle/writer.js';
import {checkHostTensor} from './safetensors.js';
import {HostTensor, StateDict, numel} from './tensor.js';
import {
  STORAGE_TYPE_FOR,
  contiguousStride,
  isTorchTensor,
  loadTorchFile,
  moduleVersionsOf,
} from './torch-serialization.js';
import {TorchZipWriter, type ZipReadOptions} from './zip.js';

export interface Checkpoint {
  stateDict: StateDict;
  loss?: number;
  accuracy?: number;
  hasOptimizerKey: boolean;
  /**
   * The state dict's `_metadata` (module prefix → torch module version), when the file has one.
   * Pass it back to writePth to reproduce the file exactly; without it writePth derives the module
   * list from the key names (torch loads either).
   */
  moduleVersions?: Map<string, number>;
}

export interface PthToWrite {
  stateDict: StateDict;
  loss?: number;
  accuracy?: number;
  /** Write `optimizer_state_dict: None` as the reference's single-device saver does (default true); false omits the key, as its FSDP saver does. */
  optimizerStateDictNone?: boolean;
  /** The state dict's `_metadata`; default: every module prefix of the keys, version 1. */
  moduleVersions?: Map<string, number>;
}

/** `zipOptions.maxEntryBytes`: what the caller knows one record may hold at most (the largest tensor). */
export function readPth(path: string, zipOptions: ZipReadOptions = {}): Checkpoint {
  const {value} = loadTorchFile(readFileBytes(path), path, zipOptions);
  return checkpointFromObject(value, path);
}

/** Interprets an unpickled torch.save object as a checkpoint. */
export function checkpointFromObject(obj: unknown, source: string): Checkpoint {
  if (!(obj instanceof Map)) throw new PldrError(`${source}: not a checkpoint: the saved object is not a dict`);
  let sd: unknown = obj;
  const ckpt: Omit<Checkpoint, 'stateDict'> = {hasOptimizerKey: false};
  if (obj.has('model_state_dict')) {
    sd = obj.get('model_state_dict');
    if (!(sd instanceof Map)) throw new PldrError(`${source}: model_state_dict is not a dict`);
    ckpt.hasOptimizerKey = obj.has('optimizer_state_dict');
    const loss = scalar(obj.get('loss'), 'loss', source);
    const accuracy = scalar(obj.get('accuracy'), 'accuracy', source);
    if (loss !== undefined) ckpt.loss = loss;
    if (accuracy !== undefined) ckpt.accuracy = accuracy;
  } else if (![...obj.values()].every(isTorchTensor) || obj.size === 0) {
    const keys = [...obj.keys()].slice(0, 5).map(String).join(', ');
    throw new PldrError(
      `${source}: not a checkpoint: no model_state_dict and not a state dict of tensors (keys: ${keys || 'none'})`,
    );
  }
  const stateDict: StateDict = new Map();
  for (const [k, v] of sd as Map<unknown, unknown>) {
    if (typeof k !== 'string') throw new PldrError(`${source}: state dict has a non-string key ${String(k)}`);
    if (!isTorchTensor(v)) throw new PldrError(`${source}: state dict entry ${k} is not a tensor`);
    stateDict.set(k, {dtype: v.dtype, shape: v.shape, data: v.data});
  }
  const moduleVersions = moduleVersionsOf(sd);
  return {stateDict, ...ckpt, ...(moduleVersions ? {moduleVersions} : {})};
}

function scalar(v: unknown, name: string, source: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return v;
  if (isTorchTensor(v) && v.data.length === 1 && (v.dtype === 'F32' || v.dtype === 'F64')) return Number(v.data[0]);
  throw new PldrError(`${source}: ${name} is not a number`);
}

export function writePth(path: string, ckpt: PthToWrite): void {
  for (const [name, t] of ckpt.stateDict) checkHostTensor(name, t);
  // torch names the zip's folder after the file (basename without extension), never the temp file.
  const base = nodePath.basename(path);
  const dot = base.lastIndexOf('.');
  const folder = dot >= 0 ? base.slice(0, dot) : base;
  const entries = [...ckpt.stateDict];
  const zip = new TorchZipWriter();
  zip.addRecord(`${folder}/data.pkl`, checkpointPickle(ckpt));
  // torch 1.13 writes storages in sorted key order ('0', '1', '10', '100', ...).
  const keys = entries.map((_e, i) => String(i)).sort();
  for (const key of keys) {
    const t = entries[Number(key)][1];
    zip.addRecord(`${folder}/data/${key}`, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  zip.addRecord(`${folder}/version`, new TextEncoder().encode('3\n'));
  writeFileAtomic(path, zip.finish());
}

/** Every module prefix of the keys, parents first, in order of first appearance ('' = the root). */
export function deriveModuleVersions(keys: Iterable<string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const key of keys) {
    const parts = key.split('.').slice(0, -1);
    for (let i = 0; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join('.');
      if (!out.has(prefix)) out.set(prefix, 1);
    }
  }
  return out;
}

// Python holds these strings as single (interned) objects, so the C pickler memoizes them once.
const STORAGE = Symbol('storage');
const CPU = Symbol('cpu');
const VERSION = Symbol('version');

/** data.pkl exactly as torch 1.13 + CPython 3.11's C pickler write it at protocol 2. */
function checkpointPickle(ckpt: PthToWrite): Uint8Array {
  const w = new PickleWriter();
  const orderedDict = () => w.globalRef('collections', 'OrderedDict').emptyTuple().reduce().put();

  const tensor = (t: HostTensor, key: string) => {
    const stride = contiguousStride(t.shape);
    w.globalRef('torch._utils', '_rebuild_tensor_v2');
    w.tuple(6, () => {
      w.tuple(5, () => {
        w.str('storage', STORAGE);
        w.globalRef('torch', STORAGE_TYPE_FOR[t.dtype]);
        w.str(key);
        w.str('cpu', CPU);
        w.int(numel(t.shape));
      });
      w.binpersid();
      w.int(0);
      w.tuple(t.shape.length, () => t.shape.forEach((d) => w.int(d)));
      w.tuple(stride.length, () => stride.forEach((d) => w.int(d)));
      w.bool(false);
      orderedDict(); // backward_hooks
    });
    w.reduce().put();
  };

  const stateDict = () => {
    orderedDict();
    const entries = [...ckpt.stateDict].map(([k, t], i) => ({k, t, key: String(i)}));
    w.dictItems(entries, ({k, t, key}) => {
      w.str(k);
      tensor(t, key);
    });
    // OrderedDict's __reduce__ state: {'_metadata': OrderedDict(prefix -> {'version': v})}, set by BUILD.
    const versions = [...(ckpt.moduleVersions ?? deriveModuleVersions(ckpt.stateDict.keys()))];
    w.emptyDict().put();
    w.exactDictItems([null], () => {
      w.str('_metadata');
      orderedDict();
      w.dictItems(versions, ([prefix, version]) => {
        w.str(prefix);
        w.emptyDict().put();
        w.exactDictItems([version], (v) => {
          w.str('version', VERSION);
          w.int(v);
        });
      });
    });
    w.build();
  };

  const top: [string, () => void][] = [['model_state_dict', stateDict]];
  if (ckpt.optimizerStateDictNone ?? true) top.push(['optimizer_state_dict', () => w.none()]);
  if (ckpt.loss !== undefined) top.push(['loss', () => w.float(ckpt.loss!)]);
  if (ckpt.accuracy !== undefined) top.push(['accuracy', () => w.float(ckpt.accuracy!)]);

  w.proto(2);
  w.emptyDict().put();
  w.exactDictItems(top, ([k, emit]) => {
    w.str(k);
    emit();
  });
  w.stop();
  return w.bytes();
}
