/**
 * Writing G lists as the reference's pickles (serializeGListPickle / writeGListPickle): round trips
 * through readGList, refusals, byte equality with a pickle python wrote, and, where torch is
 * installed, what python's `pickle.load` makes of our files and how they compare, opcode for
 * opcode, with torch 1.13's own `pickle.dumps` of the same list.
 */
import {createHash} from 'node:crypto';
import {readFileSync, readdirSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {afterAll, describe, expect, it} from 'vitest';

import {GLayer, GList, readGList, serializeGListPickle, writeGListPickle} from '../../../src/core/io/glist.js';
import {HostTensor} from '../../../src/core/io/tensor.js';
import {GLISTS, bytesEqual, bytesOf, expectPldrError, hasTorch, runPython, tempDir} from './helpers.js';

const tmp = tempDir();
afterAll(tmp.cleanup);

const SHAPE = [1, 2, 8, 8];

/** Seeded float32 values; `special` mixes in -0, ±Inf, subnormals, the extremes and (optionally) a NaN with a payload. */
function tensor(seed: number, shape = SHAPE, special = false, nan = false): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  let s = seed * 7919 + 1;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    data[i] = (s / 2147483648 - 0.5) * 8;
  }
  if (special) {
    const extras = [
      -0,
      Infinity,
      -Infinity,
      1e-45,
      -1.17549421e-38,
      3.4028234663852886e38,
      -3.4028234663852886e38,
      1,
      0,
    ];
    extras.forEach((v, i) => (data[(i * 7) % n] = v));
  }
  if (nan) new Uint32Array(data.buffer)[3] = 0x7fc01234;
  return {dtype: 'F32', shape: shape.slice(), data};
}

function gList(kind: GList['kind'], layers = 2, shape = SHAPE, special = true, nan = false): GList {
  const make = (i: number): GLayer => {
    const t = (j: number) => tensor(10 * i + j, shape, special, nan);
    if (kind === 'tensors') return {G_LM: t(0)};
    if (kind === 'pairs') return {A_LM: t(1), G_LM: t(0)};
    return {A_LM: t(1), G_LM: t(0), A_P: t(2)};
  };
  return {kind, layers: Array.from({length: layers}, (_x, i) => make(i)), metadata: {}};
}

function partsOf(kind: GList['kind'], layer: GLayer): HostTensor[] {
  return kind === 'tensors'
    ? [layer.G_LM]
    : kind === 'pairs'
      ? [layer.A_LM!, layer.G_LM]
      : [layer.A_LM!, layer.G_LM, layer.A_P!];
}

function expectSameLayers(back: GList, kind: GList['kind'], want: GLayer[], label: string): void {
  expect(back.kind, label).toBe(kind);
  expect(back.layers.length, label).toBe(want.length);
  back.layers.forEach((layer, i) => {
    if (kind === 'tensors') expect(layer.A_LM, label).toBeUndefined();
    if (kind !== 'triples') expect(layer.A_P, label).toBeUndefined();
    const got = partsOf(kind, layer);
    partsOf(kind, want[i]).forEach((t, j) => {
      expect(got[j].dtype, `${label} [${i}][${j}]`).toBe('F32');
      expect(got[j].shape, `${label} [${i}][${j}]`).toEqual(t.shape);
      expect(bytesEqual(got[j].data, t.data), `${label} [${i}][${j}] bits`).toBe(true);
    });
  });
}

function countOf(haystack: Uint8Array, needle: string): number {
  const text = Buffer.from(haystack).toString('latin1');
  return text.split(needle).length - 1;
}

describe('serializeGListPickle / writeGListPickle (no torch needed)', () => {
  it('round-trips tensors, pairs and triples through readGList bit for bit (-0, ±Inf, subnormals, NaN payloads)', () => {
    for (const kind of ['tensors', 'pairs', 'triples'] as const) {
      const g = gList(kind, 3, SHAPE, true, true);
      const path = join(tmp.dir, `rt-${kind}.pkl`);
      writeGListPickle(path, g);
      const back = readGList(path);
      expectSameLayers(back, kind, g.layers, kind);
      expect(back.metadata).toEqual({source_format: 'pickle', storage_locations: 'cpu'});
      expect(bytesEqual(readFileSync(path), serializeGListPickle(g)), `${kind}: file = serializeGListPickle`).toBe(
        true,
      );
    }
  });

  it('writes pickle protocol 4 with framing, the torch reduce structure, one embedded storage per tensor, and is deterministic', () => {
    const g = gList('pairs', 3);
    const b = serializeGListPickle(g);
    expect([...b.subarray(0, 3)]).toEqual([0x80, 0x04, 0x95]); // PROTO 4, FRAME
    expect(b[b.length - 1]).toBe(0x2e); // STOP
    for (const name of [
      'torch._utils',
      '_rebuild_tensor_v2',
      'torch.storage',
      '_load_from_bytes',
      'collections',
      'OrderedDict',
    ]) {
      expect(countOf(b, name), name).toBe(1); // globals are memoized, named once
    }
    expect(countOf(b, 'ctorch\nFloatStorage\n')).toBe(6);
    expect(countOf(b, 'protocol_version')).toBe(6);
    expect(bytesEqual(serializeGListPickle(g), b)).toBe(true);
    // a HostTensor shared between layers is still written as separate tensors
    const shared = tensor(1);
    const s = serializeGListPickle({
      kind: 'pairs',
      layers: [
        {A_LM: shared, G_LM: shared},
        {A_LM: shared, G_LM: tensor(2)},
      ],
      metadata: {},
    });
    expect(countOf(s, 'ctorch\nFloatStorage\n')).toBe(4);
  });

  it('chooses the list layout: auto, tensors (G_LM only) and pairs (as held: pairs or triples)', () => {
    const cases: [GList['kind'], 'auto' | 'tensors' | 'pairs' | undefined, GList['kind']][] = [
      ['tensors', undefined, 'tensors'],
      ['tensors', 'auto', 'tensors'],
      ['tensors', 'tensors', 'tensors'],
      ['pairs', undefined, 'pairs'],
      ['pairs', 'pairs', 'pairs'],
      ['pairs', 'tensors', 'tensors'],
      ['triples', 'auto', 'triples'],
      ['triples', 'pairs', 'triples'],
      ['triples', 'tensors', 'tensors'],
    ];
    for (const [kind, list, want] of cases) {
      const g = gList(kind);
      const path = join(tmp.dir, `layout-${kind}-${list}.pkl`);
      writeGListPickle(path, g, list === undefined ? undefined : {list});
      const back = readGList(path);
      const label = `${kind} as ${list}`;
      if (want === 'tensors')
        expectSameLayers(
          back,
          'tensors',
          g.layers.map((l) => ({G_LM: l.G_LM})),
          label,
        );
      else expectSameLayers(back, want, g.layers, label);
    }
  });

  it('refuses to write a list of tensors as pairs, and leaves an existing file alone', () => {
    const path = join(tmp.dir, 'refused.pkl');
    writeFileSync(path, 'old');
    expectPldrError(() => writeGListPickle(path, gList('tensors'), {list: 'pairs'}), 'no A_LM');
    expectPldrError(() => serializeGListPickle(gList('tensors'), {list: 'pairs'}), 'pairs', 'no A_LM');
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect(readdirSync(tmp.dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('refuses lists the reference could not use, with one-line errors', () => {
    const t = tensor(0);
    const list = (kind: GList['kind'], layers: GLayer[]): GList => ({kind, layers, metadata: {}});
    const i32: HostTensor = {dtype: 'I32', shape: SHAPE, data: new Int32Array(128)};
    const f16: HostTensor = {dtype: 'F16', shape: SHAPE, data: new Uint16Array(128)};
    const cases: [GList, string[]][] = [
      [list('tensors', []), ['empty G list']],
      [list('pairs', [{G_LM: t}]), ['layer 0 A_LM', 'missing']],
      [list('triples', [{A_LM: t, G_LM: t}]), ['layer 0 A_P', 'missing']],
      [list('tensors', [{G_LM: tensor(0, [2, 8, 8])}]), ['[2, 8, 8]', '[1, H, d_k, d_k]']],
      [list('tensors', [{G_LM: tensor(0, [2, 2, 8, 8])}]), ['[1, H, d_k, d_k]']],
      [list('tensors', [{G_LM: tensor(0, [1, 2, 8, 4])}]), ['[1, 2, 8, 4]']],
      [list('tensors', [{G_LM: t}, {G_LM: tensor(0, [1, 4, 8, 8])}]), ['layer 1', 'unlike']],
      [list('tensors', [{G_LM: i32}]), ['I32', 'float32']],
      [list('tensors', [{G_LM: f16}]), ['F16']],
      [list('tensors', [{G_LM: {dtype: 'F32', shape: SHAPE, data: new Float32Array(3)}}]), ['3 values']],
    ];
    for (const [g, fragments] of cases) expectPldrError(() => serializeGListPickle(g), ...fragments);
    expectPldrError(() => serializeGListPickle(gList('tensors'), {list: 'triples' as 'pairs'}), 'unknown', 'triples');
  });

  it('narrows F64 tensors to float32', () => {
    const d = Float64Array.from({length: 128}, (_x, i) => Math.PI * (i - 64) + 1e-12);
    const g: GList = {kind: 'tensors', layers: [{G_LM: {dtype: 'F64', shape: SHAPE, data: d}}], metadata: {}};
    const path = join(tmp.dir, 'f64.pkl');
    writeGListPickle(path, g);
    const back = readGList(path);
    expect(back.layers[0].G_LM.dtype).toBe('F32');
    expect(bytesEqual(back.layers[0].G_LM.data, Float32Array.from(d))).toBe(true);
  });

  it("reproduces python's own pickle of the committed fixture byte for byte (given torch's storage keys)", () => {
    // tiny-tensors.pkl is torch 1.13's `pickle.dumps(list, protocol=5)`, which for tensors is protocol 4 but for the PROTO byte.
    const fixture = readFileSync(join(GLISTS, 'tiny-tensors.pkl'));
    const keys = [
      ...fixture.toString('latin1').matchAll(/storageq\x00ctorch\nFloatStorage\nq\x01X....([0-9]+)q\x02/gs),
    ].map((m) => m[1]);
    expect(keys.length).toBe(2);
    const ours = serializeGListPickle(readGList(join(GLISTS, 'tiny-tensors.pkl')), {storageKey: (n) => keys[n]});
    expect(ours[1]).toBe(4);
    expect(fixture[1]).toBe(5);
    const patched = Uint8Array.from(ours);
    patched[1] = 5;
    expect(bytesEqual(patched, fixture)).toBe(true);
  });
});

/** Loads each file with pickle.load and reports its structure and every tensor's properties. */
const LOAD_SCRIPT = String.raw`
import hashlib, json, pickle, sys, torch

cases = json.load(sys.stdin)
out = {}
for c in cases:
    with open(c['path'], 'rb') as f:
        obj = pickle.load(f)
    rep = {'type': type(obj).__name__, 'len': len(obj), 'elements': []}
    for i, el in enumerate(obj):
        parts = [el] if isinstance(el, torch.Tensor) else el
        e = {'type': type(el).__name__, 'tensors': []}
        for j, t in enumerate(parts):
            raw = bytes.fromhex(c['hex'][i][j])
            want = torch.frombuffer(bytearray(raw), dtype=torch.float32).reshape(c['shape'])
            e['tensors'].append({
                'class': type(t).__name__, 'dtype': str(t.dtype), 'shape': list(t.shape), 'stride': list(t.stride()),
                'device': str(t.device), 'requires_grad': t.requires_grad, 'contiguous': t.is_contiguous(),
                'storage_offset': t.storage_offset(),
                'sha256': hashlib.sha256(t.numpy().tobytes()).hexdigest(),
                'equal': bool(torch.equal(t, want)),
            })
        rep['elements'].append(e)
    out[c['path']] = rep
print(json.dumps(out))
`;

/**
 * Re-pickles what pickle.load made of our file with torch's own pickle.dumps(protocol=4), the
 * storages' __reduce__ wrapped only to name each storage 0, 1, 2, ... (as ours are) instead of by
 * its memory address, and compares the two files byte for byte: opcodes, memo, framing, the
 * embedded legacy torch.save streams. On a difference it reports the first differing opcode.
 */
const COMPARE_SCRIPT = String.raw`
import json, pickle, pickletools, struct, sys, torch, torch.storage

original = torch.storage.TypedStorage.__reduce__
counter = [0]

def renamed_reduce(self):
    fn, (b,) = original(self)
    old = str(self._storage._cdata).encode()
    new = str(counter[0]).encode()
    counter[0] += 1
    token = lambda k: b'X' + struct.pack('<I', len(k)) + k
    assert b.count(token(old)) == 2, 'storage key not found twice in the legacy stream'
    return fn, (b.replace(token(old), token(new)),)

torch.storage.TypedStorage.__reduce__ = renamed_reduce

out = {}
for path in sys.argv[1:]:
    ours = open(path, 'rb').read()
    counter[0] = 0
    theirs = pickle.dumps(pickle.loads(ours), protocol=4)
    diff = None
    if ours != theirs:
        a = [(op.name, arg, pos) for op, arg, pos in pickletools.genops(ours)]
        b = [(op.name, arg, pos) for op, arg, pos in pickletools.genops(theirs)]
        i = next((i for i, (x, y) in enumerate(zip(a, b)) if x[:2] != y[:2]), min(len(a), len(b)))
        diff = 'sizes %d / %d; op %d: ours %s, torch %s' % (len(ours), len(theirs), i, str(a[i:i + 1])[:200], str(b[i:i + 1])[:200])
    ops = list(pickletools.genops(ours))
    out[path] = {'bytes': len(ours), 'frames': sum(1 for op, _a, _p in ops if op.name == 'FRAME'),
                 'large_bytes': sum(1 for op, arg, _p in ops if op.name == 'BINBYTES' and len(arg) >= 65536), 'diff': diff}
print(json.dumps(out))
`;

interface TensorReport {
  class: string;
  dtype: string;
  shape: number[];
  stride: number[];
  device: string;
  requires_grad: boolean;
  contiguous: boolean;
  storage_offset: number;
  sha256: string;
  equal: boolean;
}

interface LoadReport {
  type: string;
  len: number;
  elements: {type: string; tensors: TensorReport[]}[];
}

const sha256 = (t: HostTensor) => createHash('sha256').update(bytesOf(t.data)).digest('hex');

describe.skipIf(!hasTorch())('python pickle.load of our G list pickles (real torch on /usr/bin/python3)', () => {
  it('gives a list of tensors / of [A_LM, G_LM] lists / of [A_LM, G_LM, A_P] lists: float32 [1,2,8,8], bit for bit, torch.equal', () => {
    const files: {path: string; kind: GList['kind']; g: GList; list?: 'tensors'}[] = [];
    for (const kind of ['tensors', 'pairs', 'triples'] as const) {
      files.push({path: join(tmp.dir, `py-${kind}.pkl`), kind, g: gList(kind, 3)});
    }
    // a G-cache written as a v510G construction list
    files.push({
      path: join(tmp.dir, 'py-pairs-as-tensors.pkl'),
      kind: 'tensors',
      g: gList('pairs', 2),
      list: 'tensors',
    });
    for (const f of files) writeGListPickle(f.path, f.g, f.list ? {list: f.list} : {});
    const input = files.map((f) => ({
      path: f.path,
      shape: SHAPE,
      hex: f.g.layers.map((l) => partsOf(f.kind, l).map((t) => Buffer.from(bytesOf(t.data)).toString('hex'))),
    }));
    const reports = JSON.parse(runPython(['-c', LOAD_SCRIPT], JSON.stringify(input))) as Record<string, LoadReport>;
    for (const f of files) {
      const r = reports[f.path];
      const label = `${f.path} (${f.kind})`;
      expect(r.type, label).toBe('list');
      expect(r.len, label).toBe(f.g.layers.length);
      r.elements.forEach((e, i) => {
        const want = partsOf(f.kind, f.g.layers[i]);
        expect(e.type, `${label} [${i}]`).toBe(f.kind === 'tensors' ? 'Tensor' : 'list');
        expect(e.tensors.length, `${label} [${i}]`).toBe(want.length);
        e.tensors.forEach((t, j) => {
          const at = `${label} [${i}][${j}]`;
          expect(t, at).toEqual({
            class: 'Tensor',
            dtype: 'torch.float32',
            shape: [1, 2, 8, 8],
            stride: [128, 64, 8, 1],
            device: 'cpu',
            requires_grad: false,
            contiguous: true,
            storage_offset: 0,
            sha256: sha256(want[j]),
            equal: true,
          });
        });
      });
    }
  });

  it('keeps NaN payloads bit for bit', () => {
    const g = gList('tensors', 1, SHAPE, true, true);
    const path = join(tmp.dir, 'py-nan.pkl');
    writeGListPickle(path, g);
    const input = [{path, shape: SHAPE, hex: [[Buffer.from(bytesOf(g.layers[0].G_LM.data)).toString('hex')]]}];
    const r = (JSON.parse(runPython(['-c', LOAD_SCRIPT], JSON.stringify(input))) as Record<string, LoadReport>)[path];
    expect(r.elements[0].tensors[0].sha256).toBe(sha256(g.layers[0].G_LM));
  });

  it("is byte for byte what torch 1.13's own pickle.dumps(protocol=4) writes (storage keys aside), framing included", () => {
    const cases: [string, GList][] = [
      ['cmp-tensors.pkl', gList('tensors', 2)],
      ['cmp-pairs.pkl', gList('pairs', 2)],
      ['cmp-triples.pkl', gList('triples', 1)],
      // many small objects: frames close at the first save() past 64 KiB
      ['cmp-many.pkl', gList('tensors', 200)],
      // 32 KiB storages: frames close at 64 KiB between objects
      ['cmp-frames.pkl', gList('tensors', 5, [1, 2, 64, 64], false)],
      // 64 KiB+ storages: written out of frame, as CPython does with large bytes
      ['cmp-large.pkl', gList('pairs', 2, [1, 4, 64, 64], false)],
    ];
    const paths = cases.map(([name, g]) => {
      const p = join(tmp.dir, name);
      writeGListPickle(p, g);
      return p;
    });
    const reports = JSON.parse(runPython(['-c', COMPARE_SCRIPT, ...paths])) as Record<
      string,
      {bytes: number; frames: number; large_bytes: number; diff: string | null}
    >;
    for (const p of paths) expect(reports[p].diff, p).toBeNull();
    expect(reports[paths[3]].frames).toBeGreaterThan(2);
    expect(reports[paths[4]].frames).toBeGreaterThan(2);
    expect(reports[paths[5]].large_bytes).toBe(4);
  });
});

if (!hasTorch()) {
  it.skip('python pickle.load checks need torch on /usr/bin/python3 (not installed here)', () => {});
}
