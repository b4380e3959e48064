import {readFileSync, readdirSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {zipSync, type Zippable} from 'fflate';
import {afterAll, describe, expect, it} from 'vitest';

import {PickleWriter} from '../../../src/core/io/pickle/writer.js';
import {deriveModuleVersions, readPth, writePth} from '../../../src/core/io/pth.js';
import {HostTensor, StateDict, numel} from '../../../src/core/io/tensor.js';
import {ZipArchive} from '../../../src/core/io/zip.js';
import {REFERENCE, bytesEqual, expectPldrError, tempDir} from './helpers.js';

const tmp = tempDir();
afterAll(tmp.cleanup);

const MODELS = [
  {name: 'tiny-public', params: 13705, tensors: 111, loss: 4.340072154998779, accuracy: 0.10000000149011612},
  {name: 'tiny-G-identity', params: 9769, tensors: 41},
  {name: 'tiny-G-random', params: 9769, tensors: 41},
];

interface KeyInfo {
  key: string;
  shape: number[];
  dtype: string;
  numel: number;
}

function expectSameTensors(a: StateDict, b: StateDict): void {
  expect([...b.keys()]).toEqual([...a.keys()]);
  for (const [k, t] of a) {
    const u = b.get(k)!;
    expect(u.dtype, k).toBe(t.dtype);
    expect(u.shape, k).toEqual(t.shape);
    expect(bytesEqual(u.data, t.data), k).toBe(true);
  }
}

/** Re-zips `entries` the way a torch 2 writer (or any other zip tool) might: other folder, other order, deflated. */
function rezip(entries: Record<string, Uint8Array>, deflateAll: boolean): Uint8Array {
  const files: Zippable = {};
  for (const [name, data] of Object.entries(entries))
    files[name] = [data, {level: deflateAll || name.endsWith('.pkl') ? 6 : 0}];
  return zipSync(files);
}

describe('readPth on the reference fixtures', () => {
  for (const m of MODELS) {
    it(`${m.name}: keys, order, shapes, dtypes and parameter count match state_dict_keys.json`, () => {
      const ckpt = readPth(join(REFERENCE, m.name, 'checkpoint.pth'));
      const info = JSON.parse(readFileSync(join(REFERENCE, m.name, 'state_dict_keys.json'), 'utf8')) as {
        num_tensors: number;
        num_parameters: number;
        keys: KeyInfo[];
      };
      expect([...ckpt.stateDict.keys()]).toEqual(info.keys.map((k) => k.key));
      for (const k of info.keys) {
        const t = ckpt.stateDict.get(k.key)!;
        expect(t.shape).toEqual(k.shape);
        expect(t.dtype).toBe('F32');
        expect(k.dtype).toBe('float32');
        expect(t.data).toBeInstanceOf(Float32Array);
        expect(t.data.length).toBe(k.numel);
      }
      const total = [...ckpt.stateDict.values()].reduce((s, t) => s + numel(t.shape), 0);
      expect(total).toBe(m.params);
      expect(ckpt.stateDict.size).toBe(m.tensors);
      expect(ckpt.hasOptimizerKey).toBe(true);
      expect(ckpt.moduleVersions?.get('')).toBe(1);
      if (m.loss !== undefined) {
        expect(ckpt.loss).toBe(m.loss);
        // stored as float64 of the float32 accuracy 0.1
        expect(ckpt.accuracy).toBe(m.accuracy);
        expect(ckpt.accuracy).toBeCloseTo(0.1, 7);
      }
    });
  }

  it('gives finite, non-trivial weights', () => {
    const ckpt = readPth(join(REFERENCE, 'tiny-public/checkpoint.pth'));
    const emb = ckpt.stateDict.get('decoder.embedding.weight')!.data as Float32Array;
    expect(emb.every(Number.isFinite)).toBe(true);
    expect(new Set(emb).size).toBeGreaterThan(1000);
  });
});

describe('writePth', () => {
  for (const m of MODELS) {
    it(`${m.name}: read → write → read is bit-identical, and the file is byte-identical to the reference`, () => {
      const src = join(REFERENCE, m.name, 'checkpoint.pth');
      const ckpt = readPth(src);
      const out = join(tmp.dir, 'checkpoint.pth');
      writePth(out, {
        stateDict: ckpt.stateDict,
        loss: ckpt.loss,
        accuracy: ckpt.accuracy,
        optimizerStateDictNone: ckpt.hasOptimizerKey,
        moduleVersions: ckpt.moduleVersions,
      });
      const back = readPth(out);
      expectSameTensors(ckpt.stateDict, back.stateDict);
      expect(back.loss).toBe(ckpt.loss);
      expect(back.accuracy).toBe(ckpt.accuracy);
      expect(back.hasOptimizerKey).toBe(true);
      expect(bytesEqual(readFileSync(out), readFileSync(src))).toBe(true);
      expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    });
  }

  it('without module metadata derives it from the keys and follows the reference layout', () => {
    const ckpt = readPth(join(REFERENCE, 'tiny-G-random/checkpoint.pth'));
    const out = join(tmp.dir, 'my-model.v2.pth');
    writePth(out, {stateDict: ckpt.stateDict, loss: 1.5, accuracy: 0.25});
    const zip = new ZipArchive(readFileSync(out), out);
    const names = zip.entries.map((e) => e.name);
    expect(names[0]).toBe('my-model.v2/data.pkl');
    expect(names.slice(1, 4)).toEqual(['my-model.v2/data/0', 'my-model.v2/data/1', 'my-model.v2/data/10']);
    expect(names[names.length - 1]).toBe('my-model.v2/version');
    expect(new TextDecoder().decode(zip.read('my-model.v2/version'))).toBe('3\n');
    for (const e of zip.entries) {
      expect(e.method).toBe(0);
      const buf = readFileSync(out);
      const at = e.localHeaderOffset;
      const dataStart = at + 30 + buf.readUInt16LE(at + 26) + buf.readUInt16LE(at + 28);
      expect(dataStart % 64).toBe(0);
    }
    const back = readPth(out);
    expectSameTensors(ckpt.stateDict, back.stateDict);
    expect(back.loss).toBe(1.5);
    expect(back.accuracy).toBe(0.25);
    expect([...back.moduleVersions!.keys()]).toEqual([...deriveModuleVersions(ckpt.stateDict.keys()).keys()]);
    expect(back.moduleVersions!.get('decoder.dec_layers.0.mha1')).toBe(1);
  });

  it('round-trips every dtype (F16/BF16 come back widened to F32), scalars and empty tensors', () => {
    const sd: StateDict = new Map<string, HostTensor>([
      ['f32', {dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, NaN])}],
      ['f64', {dtype: 'F64', shape: [2], data: Float64Array.from([Math.PI, -0])}],
      ['i64', {dtype: 'I64', shape: [3], data: BigInt64Array.from([1n, -1n, 2n ** 40n])}],
      ['i32', {dtype: 'I32', shape: [1, 1], data: Int32Array.from([-5])}],
      ['u8', {dtype: 'U8', shape: [2], data: Uint8Array.from([0, 255])}],
      ['bool', {dtype: 'BOOL', shape: [2], data: Uint8Array.from([1, 0])}],
      ['scalar', {dtype: 'F32', shape: [], data: Float32Array.from([7])}],
      ['empty', {dtype: 'F32', shape: [0, 3], data: new Float32Array(0)}],
      ['half', {dtype: 'F16', shape: [4], data: Uint16Array.from([0x3c00, 0xc000, 0x7c00, 0x0001])}],
      ['bf16', {dtype: 'BF16', shape: [2], data: Uint16Array.from([0x3f80, 0xc0a0])}],
      ['big', {dtype: 'F32', shape: [2, 2, 2, 2, 2], data: Float32Array.from({length: 32}, (_v, i) => i / 3)}],
    ]);
    const out = join(tmp.dir, 'mixed.pth');
    writePth(out, {stateDict: sd, optimizerStateDictNone: false});
    const back = readPth(out);
    expect(back.hasOptimizerKey).toBe(false);
    expect(back.loss).toBeUndefined();
    const widened = new Map(sd);
    widened.set('half', {dtype: 'F32', shape: [4], data: Float32Array.from([1, -2, Infinity, 2 ** -24])});
    widened.set('bf16', {dtype: 'F32', shape: [2], data: Float32Array.from([1, -5])});
    expectSameTensors(widened, back.stateDict);
  });

  it('refuses tensors whose data does not match their shape', () => {
    const sd: StateDict = new Map([['w', {dtype: 'F32', shape: [4], data: new Float32Array(3)} as HostTensor]]);
    expectPldrError(() => writePth(join(tmp.dir, 'bad.pth'), {stateDict: sd}), 'w', 'needs 4');
  });
});

describe("readPth on other writers' layouts", () => {
  /** Entries of a checkpoint we wrote, with the folder prefix stripped. */
  function entriesOf(path: string): Record<string, Uint8Array> {
    const zip = new ZipArchive(readFileSync(path), path);
    const out: Record<string, Uint8Array> = {};
    for (const e of zip.entries) out[e.name.slice(e.name.indexOf('/') + 1)] = zip.readEntry(e).slice();
    return out;
  }

  it('reads a torch-2-style archive: other folder name, shuffled entries, byteorder and serialization_id, no optimizer key, deflated', () => {
    const ckpt = readPth(join(REFERENCE, 'tiny-public/checkpoint.pth'));
    const plain = join(tmp.dir, 'plain.pth');
    writePth(plain, {
      stateDict: ckpt.stateDict,
      loss: ckpt.loss,
      accuracy: ckpt.accuracy,
      optimizerStateDictNone: false,
    });
    const inner = entriesOf(plain);
    inner['byteorder'] = new TextEncoder().encode('little');
    inner['.data/serialization_id'] = new TextEncoder().encode('1234567890123456789012345678901234567890');
    inner['.data/version'] = new TextEncoder().encode('3\n');
    // deterministic shuffle
    const names = Object.keys(inner).sort(
      (a, b) =>
        ((a.length * 7919 + a.charCodeAt(a.length - 1)) % 13) - ((b.length * 7919 + b.charCodeAt(b.length - 1)) % 13),
    );
    for (const deflateAll of [false, true]) {
      const files: Record<string, Uint8Array> = {};
      for (const n of names) files[`archive/${n}`] = inner[n];
      const out = join(tmp.dir, `torch2-${deflateAll}.pth`);
      writeFileSync(out, rezip(files, deflateAll));
      const back = readPth(out);
      expectSameTensors(ckpt.stateDict, back.stateDict);
      expect(back.hasOptimizerKey).toBe(false);
      expect(back.loss).toBe(ckpt.loss);
      expect(back.accuracy).toBe(ckpt.accuracy);
    }
  });

  it('reads a bare state dict (OrderedDict of tensors at top level) with a shared, offset storage', () => {
    // Two tensors over one 6-float storage: t1 = s[0:4] as [2,2]; t2 = s[1:6:2] (offset 1, stride 2).
    const storage = Float32Array.from([10, 11, 12, 13, 14, 15]);
    const w = new PickleWriter();
    const pid = () =>
      w.tuple(5, () => {
        w.str('storage').globalRef('torch', 'FloatStorage').str('0').str('cpu').int(6);
      });
    const tensor = (offset: number, size: number[], stride: number[]) => {
      w.globalRef('torch._utils', '_rebuild_tensor_v2');
      w.tuple(6, () => {
        pid();
        w.binpersid().int(offset);
        w.tuple(size.length, () => size.forEach((d) => w.int(d)));
        w.tuple(stride.length, () => stride.forEach((d) => w.int(d)));
        w.bool(false).globalRef('collections', 'OrderedDict').emptyTuple().reduce().put();
      });
      w.reduce().put();
    };
    w.proto(2).globalRef('collections', 'OrderedDict').emptyTuple().reduce().put();
    w.mark().str('a.weight');
    tensor(0, [2, 2], [2, 1]);
    w.str('b.bias');
    tensor(1, [3], [2]);
    w.setitems().stop();
    const out = join(tmp.dir, 'bare.pth');
    writeFileSync(
      out,
      rezip(
        {
          'bare/data.pkl': w.bytes(),
          'bare/data/0': new Uint8Array(storage.buffer),
          'bare/version': new TextEncoder().encode('3\n'),
        },
        false,
      ),
    );
    const back = readPth(out);
    expect(back.hasOptimizerKey).toBe(false);
    expect(back.moduleVersions).toBeUndefined();
    expect([...back.stateDict.keys()]).toEqual(['a.weight', 'b.bias']);
    expect([...back.stateDict.get('a.weight')!.data]).toEqual([10, 11, 12, 13]);
    expect([...back.stateDict.get('b.bias')!.data]).toEqual([11, 13, 15]);
  });
});

describe('readPth rejects bad input with one-line PldrErrors', () => {
  const fixture = () => readFileSync(join(REFERENCE, 'tiny-G-identity/checkpoint.pth'));

  it('a missing file', () => {
    const p = join(tmp.dir, 'missing.pth');
    expectPldrError(() => readPth(p), `cannot read ${p}`);
  });

  it('a truncated file', () => {
    const p = join(tmp.dir, 'truncated.pth');
    const buf = fixture();
    for (const n of [0, 3, 100, buf.length >> 1, buf.length - 10]) {
      writeFileSync(p, buf.subarray(0, n));
      expectPldrError(() => readPth(p), p);
    }
  });

  it('a corrupt zip (damaged data, damaged directory)', () => {
    const p = join(tmp.dir, 'corrupt.pth');
    const buf = Buffer.from(fixture());
    const zip = new ZipArchive(buf, p);
    const e = zip.entries.find((x) => x.name.endsWith('data/3'))!;
    const damaged = Buffer.from(buf);
    const at = e.localHeaderOffset;
    damaged[at + 30 + buf.readUInt16LE(at + 26) + buf.readUInt16LE(at + 28) + 1] ^= 0xff;
    writeFileSync(p, damaged);
    expectPldrError(() => readPth(p), p, 'corrupt zip archive', 'CRC mismatch');
    const dir = Buffer.from(buf);
    dir.writeUInt32LE(0x12345678, dir.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])));
    writeFileSync(p, dir);
    expectPldrError(() => readPth(p), p, 'corrupt zip archive');
  });

  it('files that are not checkpoints', () => {
    const p = join(tmp.dir, 'junk.pth');
    writeFileSync(p, 'this is not a checkpoint at all');
    expectPldrError(() => readPth(p), p, 'not a PyTorch file');
    writeFileSync(p, rezip({'x/readme.txt': new TextEncoder().encode('hi')}, false));
    expectPldrError(() => readPth(p), p, 'data.pkl');
    const w = new PickleWriter();
    w.proto(2).emptyList().stop();
    writeFileSync(p, rezip({'x/data.pkl': w.bytes()}, false));
    expectPldrError(() => readPth(p), p, 'not a dict');
  });

  it('a pickle that names a disallowed global', () => {
    const p = join(tmp.dir, 'evil.pth');
    const w = new PickleWriter();
    w.proto(2)
      .global('os', 'system')
      .put()
      .tuple(1, () => w.str('echo hi'))
      .reduce()
      .stop();
    writeFileSync(p, rezip({'evil/data.pkl': w.bytes()}, false));
    expectPldrError(() => readPth(p), p, 'os.system', 'not allowed');
  });

  it('a storage record that is missing or too short', () => {
    const p = join(tmp.dir, 'short.pth');
    const zip = new ZipArchive(fixture(), 'fixture');
    const files: Record<string, Uint8Array> = {};
    for (const e of zip.entries) files[e.name] = zip.readEntry(e).slice();
    files['checkpoint/data/0'] = files['checkpoint/data/0'].subarray(0, 8);
    writeFileSync(p, rezip(files, false));
    expectPldrError(() => readPth(p), p, 'storage checkpoint/data/0 has 8 bytes');
    delete files['checkpoint/data/0'];
    writeFileSync(p, rezip(files, false));
    expectPldrError(() => readPth(p), p, 'missing');
  });
});
