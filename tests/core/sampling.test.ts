import {readFileSync} from 'node:fs';
import {fileURLToPath} from 'node:url';
import {describe, expect, it} from 'vitest';
import {PldrError} from '../../src/core/errors.js';
import {
  GREEDY,
  REMOVED,
  Rng,
  applyFilters,
  argmax,
  isGreedy,
  logSoftmax,
  logSoftmaxAt,
  sortedDescending,
  sampleCategorical,
  sampleNext,
  validateSampling,
  type SamplingOptions,
} from '../../src/core/sampling.js';

const FIXTURE_DIR = fileURLToPath(new URL('../../fixtures/reference/tiny-public/', import.meta.url));

/** Minimal safetensors reader for F32 tensors (format in shared/fixtures/README.md). */
function readF32Tensors(path: string): Map<string, Float32Array> {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('ascii')) as Record<
    string,
    {dtype: string; data_offsets: [number, number]}
  >;
  const out = new Map<string, Float32Array>();
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__' || e.dtype !== 'F32') continue;
    const [b, end] = e.data_offsets;
    // Copy so the view is 4-byte aligned regardless of the Buffer's pool offset.
    const bytes = buf.subarray(8 + n + b, 8 + n + end);
    out.set(name, new Float32Array(Uint8Array.from(bytes).buffer));
  }
  return out;
}

interface FilterCase {
  name: string;
  temperature: number;
  top_p: number;
  top_k: number;
  kept: number;
}

const tensors = readF32Tensors(FIXTURE_DIR + 'expected.safetensors');
const expected = JSON.parse(readFileSync(FIXTURE_DIR + 'expected.json', 'utf8')) as {
  sampling_filters: FilterCase[];
};
const input = tensors.get('sampling.input_logits')!;

const opts = (temperature: number, topP: number, topK: number): SamplingOptions => ({temperature, topP, topK});

describe('applyFilters against the reference fixtures (§5.3)', () => {
  it('has the input row and all six cases', () => {
    expect(input.length).toBe(97);
    expect(expected.sampling_filters.map((c) => c.name).sort()).toEqual(
      ['temp_0.7', 'temp_0.7_top_p_0.9_top_k_5', 'top_k_1', 'top_k_5', 'top_p_0.5', 'top_p_0.9'].sort(),
    );
  });

  for (const c of expected.sampling_filters) {
    it(`${c.name}: same removed set, kept values within 1 ulp, ${c.kept} kept`, () => {
      const want = tensors.get(`sampling.${c.name}`)!;
      const got = applyFilters(input, opts(c.temperature, c.top_p, c.top_k));
      expect(got).not.toBe(input);
      expect(got.length).toBe(want.length);

      const removed = (row: Float32Array) => [...row.keys()].filter((i) => row[i] === REMOVED);
      expect(removed(got)).toEqual(removed(want));
      expect(got.length - removed(got).length).toBe(c.kept);

      for (let i = 0; i < want.length; i++) {
        if (want[i] === REMOVED) continue;
        expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(Math.abs(want[i]!) * 2 ** -23);
      }
    });
  }

  it('reproduces the temperature division bit for bit (divisor cast to float32 as torch does)', () => {
    const want = tensors.get('sampling.temp_0.7')!;
    expect(Array.from(applyFilters(input, opts(0.7, 1, 0)))).toEqual(Array.from(want));
  });

  it('keeps one token fewer than HF would (26 at p=0.5, 73 at p=0.9; T9)', () => {
    const kept = (p: number) => applyFilters(input, opts(1, p, 0)).filter((v) => v !== REMOVED).length;
    expect(kept(0.5)).toBe(26);
    expect(kept(0.9)).toBe(73);
  });

  it('leaves the row unchanged (as a copy) when every filter is off', () => {
    const got = applyFilters(input, opts(1, 1, 0));
    expect(got).not.toBe(input);
    expect(Array.from(got)).toEqual(Array.from(input));
  });
});

describe('filter semantics on small rows', () => {
  const row = (xs: number[]) => Float32Array.from(xs);

  it('top-k keeps ties with the k-th value', () => {
    const got = applyFilters(row([1, 3, 2, 2, 0]), opts(1, 1, 2));
    expect(Array.from(got)).toEqual([REMOVED, 3, 2, 2, REMOVED]);
  });

  it('top-p keeps at least the top token, and its ties', () => {
    // probabilities ≈ [0.49, 0.49, 0.02]: c = [0.49, 0.98, 1]; p=0.1 → n=0, threshold 5, tie kept
    expect(Array.from(applyFilters(row([5, 5, 1]), opts(1, 0.1, 0)))).toEqual([5, 5, REMOVED]);
    expect(Array.from(applyFilters(row([0, 9, 1]), opts(1, 0.01, 0)))).toEqual([REMOVED, 9, REMOVED]);
  });

  it('top-k = V removes nothing', () => {
    expect(Array.from(applyFilters(row([1, 2, 3]), opts(1, 1, 3)))).toEqual([1, 2, 3]);
  });
});

describe('sortedDescending (the radix sort behind top-p)', () => {
  const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(Float32Array.from(a).buffer));
  it('orders exactly as Float32Array.prototype.sort reversed, bit for bit (−0, ±∞, NaN, ties, subnormals)', () => {
    const special = [0, -0, Infinity, -Infinity, NaN, 1e-45, -1e-45, 3.4e38, -3.4e38, 1, 1, -1, REMOVED];
    const rng = new Rng(7);
    for (const n of [0, 1, 2, 13, 500, 32000]) {
      const z = new Float32Array(n);
      for (let i = 0; i < n; i++)
        z[i] = i % 17 === 0 ? special[i % special.length]! : (rng.next() - 0.5) * 10 ** Math.floor(rng.next() * 12 - 6);
      const expected = Float32Array.from(z).sort().reverse();
      const got = sortedDescending(z);
      // NaN payloads aside (the sort keeps them, we write the canonical one), the bits agree
      expect(bitsOf(got).map((b, i) => (Number.isNaN(got[i]!) ? 0x7fc00000 : b))).toEqual(
        bitsOf(expected).map((b, i) => (Number.isNaN(expected[i]!) ? 0x7fc00000 : b)),
      );
    }
  });
  it('leaves its input unchanged', () => {
    const z = Float32Array.from([3, -1, 2]);
    expect(Array.from(sortedDescending(z))).toEqual([3, 2, -1]);
    expect(Array.from(z)).toEqual([3, -1, 2]);
  });
});

describe('validateSampling (§5.1, T22)', () => {
  const bad: [SamplingOptions, RegExp][] = [
    [opts(0, 1, 0), /temperature must be in \(0, 1\], got 0/],
    [opts(-0.5, 1, 0), /temperature/],
    [opts(1.5, 1, 0), /temperature must be in \(0, 1\], got 1.5/],
    [opts(NaN, 1, 0), /temperature.*NaN/],
    [opts(1, 0, 0), /top_p must be in \(0, 1\], got 0/],
    [opts(1, 1.01, 0), /top_p/],
    [opts(1, NaN, 0), /top_p/],
    [opts(1, 1, -1), /top_k must be a non-negative integer/],
    [opts(1, 1, 2.5), /top_k must be a non-negative integer.*2.5/],
    [opts(1, 1, 98), /top_k must be at most the vocabulary size 97, got 98/],
  ];
  for (const [o, msg] of bad) {
    it(`rejects ${JSON.stringify(o)} with a PldrError`, () => {
      let err: unknown;
      try {
        validateSampling(o, 97);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PldrError);
      expect((err as Error).message).toMatch(msg);
      expect((err as Error).message).not.toContain('\n');
      expect(() => applyFilters(input, o)).toThrow(PldrError);
    });
  }

  it('accepts the boundaries', () => {
    expect(() => validateSampling(opts(1, 1, 0), 97)).not.toThrow();
    expect(() => validateSampling(opts(1e-6, 1e-6, 97), 97)).not.toThrow();
  });
});

describe('logSoftmax and argmax', () => {
  it('logSoftmax is stable and normalised', () => {
    const ls = logSoftmax(Float32Array.from([1000, 1000, 0]));
    expect(ls[0]).toBeCloseTo(Math.log(0.5), 12);
    expect(ls[1]).toBeCloseTo(Math.log(0.5), 12);
    const ls2 = logSoftmax(input);
    expect(ls2.reduce((a, v) => a + Math.exp(v), 0)).toBeCloseTo(1, 12);
    expect(ls2).toBeInstanceOf(Float64Array);
    for (const i of [0, 5, input.length - 1]) expect(logSoftmaxAt(input, i)).toBe(ls2[i]);
  });

  it('argmax returns the first maximal index', () => {
    expect(argmax(Float32Array.from([0, 3, 1, 3]))).toBe(1);
    expect(argmax(Float32Array.from([-Infinity, -Infinity]))).toBe(0);
    expect(argmax(input)).toBe(argmax(tensors.get('sampling.top_k_1')!));
  });
});

describe('Rng', () => {
  const take = (r: Rng, n: number) => Array.from({length: n}, () => r.next());

  it('is xoshiro128** (reference test vector from state 1,2,3,4)', () => {
    const r = Rng.fromState('xoshiro128**:00000001000000020000000300000004');
    const out = Array.from({length: 10}, () => r.nextUint32());
    expect(out).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ]);
  });

  it('is seeded through splitmix64 (first output for seed 0 is 0xe220a8397b1dcdaf)', () => {
    // state words are (low, high) 32-bit halves of the splitmix64 outputs
    expect(new Rng(0).state().startsWith('xoshiro128**:7b1dcdafe220a839')).toBe(true);
  });

  it('same seed ⇒ same sequence; different seeds differ; number and bigint seeds agree', () => {
    expect(take(new Rng(42), 100)).toEqual(take(new Rng(42), 100));
    expect(take(new Rng(42n), 100)).toEqual(take(new Rng(42), 100));
    expect(take(new Rng(42), 100)).not.toEqual(take(new Rng(43), 100));
  });

  it('next() is in [0, 1) with a sane mean', () => {
    const xs = take(new Rng(7), 20000);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.reduce((a, v) => a + v, 0) / xs.length).toBeCloseTo(0.5, 1);
  });

  it('round-trips its state', () => {
    const r = new Rng(123);
    take(r, 17);
    const copy = Rng.fromState(r.state());
    expect(take(copy, 50)).toEqual(take(r, 50));
  });

  it('rejects bad seeds and states', () => {
    expect(() => new Rng(1.5)).toThrow(PldrError);
    expect(() => Rng.fromState('nope')).toThrow(PldrError);
    expect(() => Rng.fromState('xoshiro128**:' + '0'.repeat(32))).toThrow(PldrError);
  });
});

describe('sampleCategorical / sampleNext', () => {
  it('draws from softmax(logits): 20k draws of [0.5, 0.3, 0.2] within 0.02; −1e10 never drawn', () => {
    const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), REMOVED, Math.log(0.2)]);
    const rng = new Rng(2024);
    const counts = [0, 0, 0, 0];
    const N = 20000;
    for (let i = 0; i < N; i++) counts[sampleCategorical(logits, rng)]!++;
    expect(counts[2]).toBe(0);
    expect(Math.abs(counts[0]! / N - 0.5)).toBeLessThan(0.02);
    expect(Math.abs(counts[1]! / N - 0.3)).toBeLessThan(0.02);
    expect(Math.abs(counts[3]! / N - 0.2)).toBeLessThan(0.02);
  });

  it('returns the only kept entry without consuming the rng', () => {
    const rng = new Rng(5);
    const before = rng.state();
    expect(sampleCategorical(Float32Array.from([REMOVED, 0.3, REMOVED]), rng)).toBe(1);
    expect(rng.state()).toBe(before);
  });

  it('greedy returns the argmax; exact ties stay random among the tied (§5.3)', () => {
    expect(isGreedy(GREEDY)).toBe(true);
    expect(isGreedy(opts(1, 1, 2))).toBe(false);
    expect(isGreedy(opts(0.7, 1, 1))).toBe(false);
    const rng = new Rng(9);
    expect(sampleNext(input, GREEDY, rng)).toBe(argmax(input));
    const tied = Float32Array.from([0, 2, 1, 2]);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(sampleNext(tied, GREEDY, rng));
    expect([...seen].sort()).toEqual([1, 3]);
  });

  it('is deterministic for a seed and only draws kept tokens', () => {
    const o = opts(0.7, 0.9, 5);
    const kept = new Set([...applyFilters(input, o).keys()].filter((i) => applyFilters(input, o)[i] !== REMOVED));
    const run = (seed: number) => {
      const rng = new Rng(seed);
      return Array.from({length: 200}, () => sampleNext(input, o, rng));
    };
    const a = run(11);
    expect(run(11)).toEqual(a);
    for (const id of a) expect(kept.has(id)).toBe(true);
  });

  it('rejects NaN logits', () => {
    expect(() => sampleCategorical(Float32Array.from([0, NaN]), new Rng(1))).toThrow(PldrError);
  });
});
