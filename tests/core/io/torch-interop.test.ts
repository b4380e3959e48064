/**
 * Cross-checks against the real torch (Debian's 1.13 on /usr/bin/python3): torch loads what we
 * write, and we load what torch pickles. Skipped, with a message, where torch is not installed.
 */
import {createHash} from 'node:crypto';
import {readFileSync} from 'node:fs';
import {join} from 'node:path';

import {afterAll, describe, expect, it} from 'vitest';

import {readGList} from '../../../src/core/io/glist.js';
import {readPth, writePth} from '../../../src/core/io/pth.js';
import {HostTensor, StateDict} from '../../../src/core/io/tensor.js';
import {
  ExpectedGList,
  GLISTS,
  REFERENCE,
  bytesOf,
  expectGListMatches,
  hasTorch,
  runPython,
  tempDir,
} from './helpers.js';

const tmp = tempDir();
afterAll(tmp.cleanup);

/** Loads each .pth with torch.load, reports keys/shapes/dtypes/sha256 and a strict load into a module tree. */
const LOAD_SCRIPT = String.raw`
import hashlib, json, sys, torch, torch.nn as nn

def digest(t):
    t = t.contiguous()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.view(torch.int16)
    return hashlib.sha256(t.numpy().tobytes()).hexdigest()

def module_for(sd):
    # stand-in for the reference class: nested modules named after the dotted keys
    root = nn.Module()
    for key, v in sd.items():
        *path, name = key.split('.')
        m = root
        for p in path:
            if not hasattr(m, p):
                m.add_module(p, nn.Module())
            m = getattr(m, p)
        if v.is_floating_point():
            m.register_parameter(name, nn.Parameter(torch.zeros_like(v)))
        else:
            m.register_buffer(name, torch.zeros_like(v))
    return root

out = {}
for path in sys.argv[1:]:
    c = torch.load(path, map_location='cpu')
    top = list(c.keys()) if 'model_state_dict' in c else None
    sd = c['model_state_dict'] if top else c
    m = module_for(sd)
    res = m.load_state_dict(sd, strict=True)
    same = all(torch.equal(m.state_dict()[k], v) or (v.is_floating_point() and torch.equal(m.state_dict()[k].isnan(), v.isnan()))
               for k, v in sd.items())
    out[path] = {
        'top': top,
        'loss': c.get('loss') if top else None,
        'accuracy': c.get('accuracy') if top else None,
        'metadata_modules': len(getattr(sd, '_metadata', {})),
        'tensors': [[k, list(v.shape), str(v.dtype).replace('torch.', ''), digest(v)] for k, v in sd.items()],
        'strict_load': str(res), 'loaded_values_equal': same,
    }
print(json.dumps(out))
`;

/** Writes torch's own checkpoints (zip, legacy, bare state dict) from the fixture for readPth. */
const SAVE_SCRIPT = String.raw`
import sys, torch
c = torch.load(sys.argv[1])
sd = c['model_state_dict']
torch.save(c, sys.argv[2] + '/torch-zip.pth')
torch.save(c, sys.argv[2] + '/torch-legacy.pth', _use_new_zipfile_serialization=False)
torch.save(sd, sys.argv[2] + '/torch-bare.pth')
# views: tensors sharing one storage, with offsets and non-contiguous strides
base = torch.arange(48, dtype=torch.float32).reshape(4, 12)
torch.save({'model_state_dict': {'a': base[1:3], 'b': base.t()[2:5], 'c': base[:, 3], 'd': base.double()[0, ::5]},
            'loss': 2.5, 'accuracy': 0.5}, sys.argv[2] + '/torch-views.pth')
`;

const DTYPE_NAME: Record<string, string> = {
  F32: 'float32',
  F64: 'float64',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  U8: 'uint8',
  BOOL: 'bool',
};

function sha256(t: HostTensor): string {
  return createHash('sha256').update(bytesOf(t.data)).digest('hex');
}

interface TorchView {
  top: string[] | null;
  loss: number | null;
  accuracy: number | null;
  metadata_modules: number;
  tensors: [string, number[], string, string][];
  strict_load: string;
  loaded_values_equal: boolean;
}

function expectTorchSees(view: TorchView, sd: StateDict): void {
  expect(view.tensors.map((t) => t[0])).toEqual([...sd.keys()]);
  for (const [key, shape, dtype, digest] of view.tensors) {
    const t = sd.get(key)!;
    expect(shape, key).toEqual(t.shape);
    expect(dtype, key).toBe(DTYPE_NAME[t.dtype]);
    expect(digest, key).toBe(sha256(t));
  }
  expect(view.strict_load).toBe('<All keys matched successfully>');
  expect(view.loaded_values_equal).toBe(true);
}

describe.skipIf(!hasTorch())('torch cross-checks (real torch on /usr/bin/python3)', () => {
  it('torch.load reads our .pth files: keys, shapes, dtypes, values, and a strict load_state_dict', () => {
    const ckpt = readPth(join(REFERENCE, 'tiny-public/checkpoint.pth'));
    const ours = join(tmp.dir, 'ours.pth');
    // no moduleVersions: the derived _metadata must be good enough for torch
    writePth(ours, {stateDict: ckpt.stateDict, loss: ckpt.loss, accuracy: ckpt.accuracy});
    const mixed: StateDict = new Map<string, HostTensor>([
      ['enc.w', {dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, -0])}],
      ['enc.sub.0.d', {dtype: 'F64', shape: [3], data: Float64Array.from([Math.E, 1e-300, -1])}],
      ['enc.sub.0.h', {dtype: 'F16', shape: [2], data: Uint16Array.from([0x3c00, 0x8001])}],
      ['enc.sub.1.b', {dtype: 'BF16', shape: [1, 1, 1], data: Uint16Array.from([0x4049])}],
      ['ids', {dtype: 'I64', shape: [2, 2], data: BigInt64Array.from([1n, -2n, 2n ** 50n, 0n])}],
      ['i32', {dtype: 'I32', shape: [1], data: Int32Array.from([123456])}],
      ['u8', {dtype: 'U8', shape: [3], data: Uint8Array.from([0, 128, 255])}],
      ['mask', {dtype: 'BOOL', shape: [2], data: Uint8Array.from([0, 1])}],
      ['scalar', {dtype: 'F32', shape: [], data: Float32Array.from([0.5])}],
      ['empty', {dtype: 'F32', shape: [2, 0], data: new Float32Array(0)}],
      ['deep', {dtype: 'F32', shape: [1, 2, 1, 2, 1], data: Float32Array.from([1, 2, 3, 4])}],
    ]);
    const mixedPath = join(tmp.dir, 'mixed.pth');
    writePth(mixedPath, {stateDict: mixed, optimizerStateDictNone: false, accuracy: 0.75});

    const views = JSON.parse(runPython(['-c', LOAD_SCRIPT, ours, mixedPath])) as Record<string, TorchView>;
    const a = views[ours];
    expect(a.top).toEqual(['model_state_dict', 'optimizer_state_dict', 'loss', 'accuracy']);
    expect(a.loss).toBe(ckpt.loss);
    expect(a.accuracy).toBe(ckpt.accuracy);
    expect(a.metadata_modules).toBeGreaterThan(50);
    expectTorchSees(a, ckpt.stateDict);
    const b = views[mixedPath];
    expect(b.top).toEqual(['model_state_dict', 'accuracy']);
    expect(b.accuracy).toBe(0.75);
    expectTorchSees(b, mixed);
  });

  it("readPth reads torch's own zip, legacy, bare and view-sharing checkpoints", () => {
    const src = join(REFERENCE, 'tiny-G-random/checkpoint.pth');
    runPython(['-c', SAVE_SCRIPT, src, tmp.dir]);
    const ref = readPth(src);
    for (const name of ['torch-zip.pth', 'torch-legacy.pth', 'torch-bare.pth']) {
      const c = readPth(join(tmp.dir, name));
      expect([...c.stateDict.keys()], name).toEqual([...ref.stateDict.keys()]);
      for (const [k, t] of ref.stateDict)
        expect(Buffer.compare(bytesOf(c.stateDict.get(k)!.data), bytesOf(t.data)), `${name} ${k}`).toBe(0);
      if (name !== 'torch-bare.pth') {
        expect(c.loss).toBe(ref.loss);
        expect(c.hasOptimizerKey).toBe(true);
      }
    }
    const v = readPth(join(tmp.dir, 'torch-views.pth'));
    const row = (r: number, c0: number, c1: number) => Array.from({length: c1 - c0}, (_x, i) => r * 12 + c0 + i);
    expect(v.stateDict.get('a')!.shape).toEqual([2, 12]);
    expect([...v.stateDict.get('a')!.data]).toEqual([...row(1, 0, 12), ...row(2, 0, 12)]);
    expect(v.stateDict.get('b')!.shape).toEqual([3, 4]);
    expect([...v.stateDict.get('b')!.data]).toEqual([2, 14, 26, 38, 3, 15, 27, 39, 4, 16, 28, 40]);
    expect([...v.stateDict.get('c')!.data]).toEqual([3, 15, 27, 39]);
    expect(v.stateDict.get('d')!.dtype).toBe('F64');
    expect([...v.stateDict.get('d')!.data]).toEqual([0, 5, 10]);
    expect(v.loss).toBe(2.5);
  });

  it('readGList reads the pickles torch writes: tensors/pairs/triples, protocols 0-5, views, half, cuda:0, torch.save', () => {
    const dir = join(tmp.dir, 'glists');
    runPython([join(GLISTS, 'generate.py'), dir, '--all']);
    const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Record<string, ExpectedGList>;
    expect(Object.keys(expected).length).toBeGreaterThan(15);
    for (const [name, e] of Object.entries(expected)) {
      const g = readGList(join(dir, name));
      expectGListMatches(g, e, name);
      expect(g.metadata.source_format).toBe(name.endsWith('.pt') ? 'torch.save' : 'pickle');
    }
    // the committed fixtures' values are reproducible from the seed
    const committed = JSON.parse(readFileSync(join(GLISTS, 'expected.json'), 'utf8')) as Record<string, ExpectedGList>;
    for (const name of Object.keys(committed)) expect(expected[name]).toEqual(committed[name]);
  });
});

if (!hasTorch()) {
  it.skip('torch cross-checks need torch on /usr/bin/python3 (not installed here)', () => {});
}
