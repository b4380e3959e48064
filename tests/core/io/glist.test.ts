import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {afterAll, describe, expect, it} from 'vitest';

import {GList, readGList, writeGListSafetensors} from '../../../src/core/io/glist.js';
import {PickleWriter} from '../../../src/core/io/pickle/writer.js';
import {writeSafetensors} from '../../../src/core/io/safetensors.js';
import {HostTensor} from '../../../src/core/io/tensor.js';
import {
  ExpectedGList,
  GLISTS,
  REFERENCE,
  SHARED_PREDEFINED_G,
  bytesEqual,
  expectGListMatches,
  expectPldrError,
  tempDir,
} from './helpers.js';

const tmp = tempDir();
afterAll(tmp.cleanup);

const f32 = (shape: number[], fill: (i: number) => number): HostTensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  return {dtype: 'F32', shape, data: Float32Array.from({length: n}, (_v, i) => fill(i))};
};

describe('readGList: committed pickles (no torch needed)', () => {
  const expected = JSON.parse(readFileSync(join(GLISTS, 'expected.json'), 'utf8')) as Record<string, ExpectedGList>;

  it('has the two fixtures', () => {
    expect(Object.keys(expected).sort()).toEqual(['tiny-pairs.pkl', 'tiny-tensors.pkl']);
  });

  for (const name of ['tiny-tensors.pkl', 'tiny-pairs.pkl']) {
    it(`${name} (${name.includes('pairs') ? 'protocol 2, pairs' : 'protocol 5, tensors'}) matches the values python pickled`, () => {
      const g = readGList(join(GLISTS, name));
      expectGListMatches(g, expected[name], name);
      expect(g.layers[0].G_LM.shape).toEqual([1, 2, 8, 8]);
      expect(g.metadata).toEqual({source_format: 'pickle', storage_locations: 'cpu'});
    });
  }

  it('converts to safetensors and back without change', () => {
    for (const name of ['tiny-tensors.pkl', 'tiny-pairs.pkl']) {
      const g = readGList(join(GLISTS, name));
      const out = join(tmp.dir, `${name}.safetensors`);
      writeGListSafetensors(out, g, {note: 'converted'});
      const back = readGList(out);
      expect(back.kind).toBe(g.kind);
      expect(back.metadata).toEqual({...g.metadata, note: 'converted'});
      back.layers.forEach((l, i) => {
        expect(bytesEqual(l.G_LM.data, g.layers[i].G_LM.data)).toBe(true);
        if (g.kind === 'pairs') expect(bytesEqual(l.A_LM!.data, g.layers[i].A_LM!.data)).toBe(true);
      });
    }
  });

  it('rejects truncated pickles and pickles that are not lists of tensors', () => {
    const buf = readFileSync(join(GLISTS, 'tiny-tensors.pkl'));
    const p = join(tmp.dir, 'cut.pkl');
    for (const n of [2, 60, 400, buf.length - 1]) {
      writeFileSync(p, buf.subarray(0, n));
      expectPldrError(() => readGList(p), p);
    }
    const w = new PickleWriter();
    w.proto(2).emptyDict().stop();
    writeFileSync(p, w.bytes());
    expectPldrError(() => readGList(p), p, 'not a list');
    const v = new PickleWriter();
    v.proto(2).emptyList().put().mark().int(1).int(2).appends().stop();
    writeFileSync(p, v.bytes());
    expectPldrError(() => readGList(p), p, 'element 0');
    const evil = new PickleWriter();
    evil
      .proto(2)
      .global('subprocess', 'call')
      .tuple(1, () => evil.str('ls'))
      .reduce()
      .stop();
    writeFileSync(p, evil.bytes());
    expectPldrError(() => readGList(p), p, 'subprocess.call', 'not allowed');
    writeFileSync(p, 'plain text');
    expectPldrError(() => readGList(p), p, 'not a G list');
    expectPldrError(() => readGList(join(tmp.dir, 'absent.pkl')), 'cannot read');
  });
});

describe('readGList: safetensors', () => {
  it('reads the fixture G_LM.safetensors as a list of tensors', () => {
    const g = readGList(join(REFERENCE, 'tiny-G-identity/G_LM.safetensors'));
    expect(g.kind).toBe('tensors');
    expect(g.layers.length).toBe(2);
    const d = g.layers[1].G_LM.data as Float32Array;
    expect(d[0]).toBe(1);
    expect(d[1]).toBe(0);
    expect(d[9]).toBe(1);
  });

  it('tells pairs, triples and tensors apart and round-trips them', () => {
    const t = (s: number) => f32([1, 2, 2, 2], (i) => s + i);
    const lists: GList[] = [
      {kind: 'tensors', layers: [{G_LM: t(0)}, {G_LM: t(10)}], metadata: {}},
      {kind: 'pairs', layers: [0, 1, 2].map((l) => ({A_LM: t(l), G_LM: t(100 + l)})), metadata: {a: 'b'}},
      {kind: 'triples', layers: [{A_LM: t(1), G_LM: t(2), A_P: t(3)}], metadata: {}},
    ];
    for (const g of lists) {
      const out = join(tmp.dir, `${g.kind}.safetensors`);
      writeGListSafetensors(out, g);
      const back = readGList(out);
      expect(back.kind).toBe(g.kind);
      expect(back.metadata).toEqual(g.metadata);
      expect(back.layers).toEqual(g.layers);
    }
  });

  it('accepts layer keys in any order but insists on 0..N-1 and one consistent kind', () => {
    const t = f32([1, 1, 2, 2], (i) => i);
    const p = join(tmp.dir, 'g.safetensors');
    writeSafetensors(
      p,
      new Map([
        ['layer.1', t],
        ['layer.0', t],
      ]),
    );
    expect(readGList(p).layers.length).toBe(2);
    const cases: [Map<string, HostTensor>, string][] = [
      [
        new Map([
          ['layer.0', t],
          ['layer.2', t],
        ]),
        'layer.1 is missing',
      ],
      [new Map([['layer.1', t]]), 'layer.0 is missing'],
      [
        new Map([
          ['layer.0', t],
          ['layer.1.G_LM', t],
          ['layer.1.A_LM', t],
        ]),
        'mixes',
      ],
      [
        new Map([
          ['layer.0.A_LM', t],
          ['layer.0.G_LM', t],
          ['layer.1.G_LM', t],
        ]),
        'layer 1',
      ],
      [
        new Map([
          ['layer.0.A_LM', t],
          ['layer.0.G_LM', t],
          ['layer.0.A_P', t],
          ['layer.1.A_LM', t],
          ['layer.1.G_LM', t],
        ]),
        'layer 1',
      ],
      [new Map([['G_LM', t]]), 'unexpected tensor "G_LM"'],
      [new Map([['layer.01', t]]), 'unexpected tensor'],
      [new Map([['layer.0', {dtype: 'I32', shape: [1], data: Int32Array.from([1])} as HostTensor]]), 'float'],
      [new Map(), 'no tensors'],
    ];
    for (const [tensors, fragment] of cases) {
      writeSafetensors(p, tensors);
      expectPldrError(() => readGList(p), p, fragment);
    }
  });
});

interface PredefinedStats {
  files: {
    output: string;
    element: string[];
    tensors: Record<
      string,
      {shape: number[]; mean: number; std: number; min: number; max: number; is_identity: boolean; all_zero: boolean}
    >;
  }[];
}

describe.skipIf(!existsSync(SHARED_PREDEFINED_G))(
  "readGList: the reference's predefined G lists (converted, in ../shared)",
  () => {
    const stats = (
      existsSync(SHARED_PREDEFINED_G)
        ? JSON.parse(readFileSync(join(SHARED_PREDEFINED_G, 'predefined_G.json'), 'utf8'))
        : {files: []}
    ) as PredefinedStats;

    for (const file of stats.files) {
      it(`${file.output}: kind, shapes and statistics`, () => {
        const g = readGList(join(SHARED_PREDEFINED_G, file.output));
        const pairs = file.element[0] !== 'tensor';
        expect(g.kind).toBe(pairs ? 'pairs' : 'tensors');
        expect(g.layers.length).toBe(5);
        g.layers.forEach((layer, i) => {
          const parts: [string, HostTensor | undefined][] = pairs
            ? [
                [`layer.${i}.A_LM`, layer.A_LM],
                [`layer.${i}.G_LM`, layer.G_LM],
              ]
            : [[`layer.${i}`, layer.G_LM]];
          for (const [key, t] of parts) {
            const want = file.tensors[key];
            expect(t!.shape).toEqual([1, 14, 64, 64]);
            const d = t!.data as Float32Array;
            let sum = 0;
            let min = Infinity;
            let max = -Infinity;
            for (const v of d) {
              sum += v;
              if (v < min) min = v;
              if (v > max) max = v;
            }
            const mean = sum / d.length;
            let ss = 0;
            for (const v of d) ss += (v - mean) ** 2;
            const std = Math.sqrt(ss / (d.length - 1)); // torch.std: unbiased
            expect(min, key).toBe(want.min);
            expect(max, key).toBe(want.max);
            expect(Math.abs(mean - want.mean), key).toBeLessThan(1e-6 + 1e-5 * Math.abs(want.mean));
            expect(Math.abs(std - want.std), key).toBeLessThan(1e-6 + 1e-5 * want.std);
            if (want.all_zero) expect(d.every((v) => v === 0)).toBe(true);
            if (want.is_identity) {
              for (let h = 0; h < 14; h++)
                for (let r = 0; r < 64; r++)
                  for (let c = 0; c < 64; c++) {
                    if (d[h * 4096 + r * 64 + c] !== (r === c ? 1 : 0))
                      throw new Error(`${key} is not the identity at ${h},${r},${c}`);
                  }
            }
          }
          if (pairs) expect(file.tensors[`layer.${i}.A_LM`].all_zero).toBe(true);
        });
      });
    }
  },
);
if (!existsSync(SHARED_PREDEFINED_G))
  console.warn(`[tests/io] skipping predefined-G checks: ${SHARED_PREDEFINED_G} is absent`);
