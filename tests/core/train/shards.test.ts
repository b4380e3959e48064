/**
 * Token cache and packing (src/core/train/shards.ts): a hand-computed packing example, windows read
 * across shard files against the tokenizer's own stream, the validation split, per-seed shuffles,
 * resuming the batch stream, cache reuse and rebuilds, and the uint32 path for a big vocabulary.
 */
import {
  appendFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import {join} from 'node:path';

import {beforeAll, describe, expect, it} from 'vitest';

import {
  type Batch,
  type BatchPosition,
  type BuildProgress,
  buildTokenCache,
  dataDir,
  dtypeFor,
  PackedDataset,
  TokenCache,
  type TokenizerLike,
} from '../../../src/core/train/shards.js';
import {Tokenizer} from '../../../src/core/tokenizer.js';
import {expectRejection as rejects, ROOT, tempDir} from '../../helpers.js';

const TINY_MODEL = join(ROOT, 'fixtures', 'tokenizer', 'pldr-tiny.model');
const TINY_CORPUS = join(ROOT, 'fixtures', 'tokenizer', 'corpus.txt');

const dir = tempDir('shards');
let tiny: Tokenizer;

/** Words → ids from a table, + [END] = 3; counts its calls. */
class FakeTokenizer implements TokenizerLike {
  readonly endId = 3;
  calls = 0;
  constructor(
    readonly vocabSize: number,
    private readonly table: Record<string, number>,
  ) {}
  tokenize(text: string): number[] {
    this.calls++;
    return [
      ...text
        .split(/\s+/)
        .filter(Boolean)
        .map((w) => this.table[w] ?? 1),
      this.endId,
    ];
  }
}

function file(rel: string, content: string): string {
  const p = join(dir, rel);
  mkdirSync(join(p, '..'), {recursive: true});
  writeFileSync(p, content);
  return p;
}

const take = <T>(gen: Generator<T>, n: number): T[] => {
  const out: T[] = [];
  for (const x of gen) {
    out.push(x);
    if (out.length === n) break;
  }
  return out;
};

beforeAll(async () => {
  tiny = await Tokenizer.load(TINY_MODEL);
});

describe('packing (hand-computed)', () => {
  // Documents [a b] and [c d e], each followed by [END] = 3: the stream is a b END c d e END
  // = 10 11 3 12 13 14 3 (7 tokens).
  const table = {a: 10, b: 11, c: 12, d: 13, e: 14};

  async function packed(context: number, shardTokens?: number) {
    const corpus = file('hand/docs.txt', 'a b\nc d e\n');
    const fakeModel = file('hand/fake.model', 'fake tokenizer v1');
    const cache = await buildTokenCache({
      dir: join(dir, `hand/run-${context}-${shardTokens}/data`),
      inputs: corpus,
      corpus: {split: 'lines'},
      tokenizerPath: fakeModel,
      tokenizer: new FakeTokenizer(32, table),
      shardTokens,
    });
    return new PackedDataset(cache, {context, shuffle: false});
  }

  it('the stream is each document + [END]; windows of context+1 tokens; the last partial window dropped', async () => {
    const ds2 = await packed(2);
    expect(Array.from(ds2.cache.read(0, 7))).toEqual([10, 11, 3, 12, 13, 14, 3]);
    expect(ds2.windowLength).toBe(3);
    expect(ds2.numWindows).toBe(2);
    expect([ds2.window(0), ds2.window(1)]).toEqual([
      [10, 11, 3],
      [12, 13, 14],
    ]); // remainder [3] dropped
    const ds1 = await packed(1, 2); // 2-token shards: windows straddle shard files
    expect(ds1.numWindows).toBe(3);
    expect([0, 1, 2].map((w) => ds1.window(w))).toEqual([
      [10, 11],
      [3, 12],
      [13, 14],
    ]);
    expect(ds1.cache.index.shards.map((s) => s.tokens)).toEqual([2, 2, 2, 1]);
    const ds5 = await packed(5);
    expect(ds5.numWindows).toBe(1);
    expect(ds5.window(0)).toEqual([10, 11, 3, 12, 13, 14]); // input 10 11 3 12 13, target 11 3 12 13 14
    expect(() => ds5.window(1)).toThrow(RangeError);
    await rejects(packed(7), /7 tokens, fewer than one window of context \+ 1 = 8/);
  });

  it('batches are B consecutive windows (no shuffle) with the incomplete last batch dropped', async () => {
    const ds = await packed(1);
    const epoch = take(ds.batches(2), 2);
    expect(epoch[0].rows).toEqual([
      [10, 11],
      [3, 12],
    ]);
    expect(epoch[0].epoch).toBe(0);
    expect(epoch[1].epoch).toBe(1); // the 3rd window never forms a full batch
    expect(epoch[1].rows).toEqual(epoch[0].rows);
    expect(ds.batchesPerEpoch(2)).toBe(1);
  });
});

describe('token cache of a real corpus', () => {
  it('tokenizes each document once with [END]; windows read across shard files equal the stream', async () => {
    const cache = await buildTokenCache({
      dir: join(dir, 'real/data'),
      inputs: TINY_CORPUS,
      corpus: {split: 'lines'},
      tokenizerPath: TINY_MODEL,
      tokenizer: tiny,
      shardTokens: 1000,
    });
    const lines = readFileSync(TINY_CORPUS, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
    const stream = lines.flatMap((l) => tiny.tokenize(l));
    expect(cache.index.documents).toBe(lines.length);
    expect(cache.totalTokens).toBe(stream.length);
    expect(cache.dtype).toBe('uint16');
    expect(cache.index.shards.length).toBe(Math.ceil(stream.length / 1000));
    expect(cache.index.tokenizer.vocabSize).toBe(512);
    for (const s of cache.index.shards) expect(statSync(join(cache.dir, s.file)).size).toBe(2 * s.tokens);
    expect(Array.from(cache.read(0, stream.length))).toEqual(stream);

    const context = 63;
    const ds = new PackedDataset(cache, {context});
    expect(ds.numWindows).toBe(Math.floor(stream.length / 64));
    for (const w of [0, 1, 15, 16, ds.numWindows - 1]) expect(ds.window(w)).toEqual(stream.slice(w * 64, (w + 1) * 64));
    cache.close();
    // TokenCache.open reads the same cache without the corpus
    const again = TokenCache.open(join(dir, 'real/data'));
    expect(Array.from(again.read(990, 20))).toEqual(stream.slice(990, 1010));
    again.close();
  });
});

describe('validation split, shuffle, resume', () => {
  let cache: TokenCache;
  beforeAll(async () => {
    cache = await buildTokenCache({
      dir: join(dir, 'split/data'),
      inputs: TINY_CORPUS,
      tokenizerPath: TINY_MODEL,
      tokenizer: tiny,
    });
  });

  it('validation windows (tail or seeded random) are disjoint from training and never batched', () => {
    const total = new PackedDataset(cache, {context: 31}).numWindows;
    expect(total).toBeGreaterThan(100);
    for (const validation of [
      {fraction: 0.1},
      {count: 7, select: 'random' as const},
      {fraction: 0.05, select: 'random' as const},
    ]) {
      const ds = new PackedDataset(cache, {context: 31, validation, seed: 5});
      const val = Array.from(ds.valIds);
      const train = Array.from(ds.trainIds);
      expect(val.length).toBe(validation.count ?? Math.round((validation.fraction ?? 0) * total));
      expect(new Set([...val, ...train]).size).toBe(total); // a partition of all windows
      expect(val.length + train.length).toBe(total);
      const valSet = new Set(val);
      for (const b of take(ds.batches(8), 3 * ds.batchesPerEpoch(8)))
        for (const w of b.windows) expect(valSet.has(w)).toBe(false);
      const valRows = [...ds.valBatches(4)].flat();
      expect(valRows).toEqual(val.map((w) => ds.window(w)));
    }
    const tail = new PackedDataset(cache, {context: 31, validation: {count: 5}});
    expect(Array.from(tail.valIds)).toEqual([total - 5, total - 4, total - 3, total - 2, total - 1]);
    const r1 = new PackedDataset(cache, {context: 31, validation: {count: 5, select: 'random'}, seed: 1});
    const r1b = new PackedDataset(cache, {context: 31, validation: {count: 5, select: 'random'}, seed: 1});
    const r2 = new PackedDataset(cache, {context: 31, validation: {count: 5, select: 'random'}, seed: 2});
    expect(Array.from(r1.valIds)).toEqual(Array.from(r1b.valIds));
    expect(Array.from(r1.valIds)).not.toEqual(Array.from(r2.valIds));
    expect([...tail.valBatches(2)].map((b) => b.length)).toEqual([2, 2, 1]);
    expect([...tail.valBatches(2, {dropLast: true})].map((b) => b.length)).toEqual([2, 2]);
  });

  it('bad splits are one-line errors', async () => {
    await rejects(
      () => new PackedDataset(cache, {context: 31, validation: {count: 1, fraction: 0.1}}),
      /count or a fraction, not both/,
    );
    await rejects(
      () => new PackedDataset(cache, {context: 31, validation: {fraction: 1}}),
      /fraction must be in \[0, 1\)/,
    );
    await rejects(() => new PackedDataset(cache, {context: 31, validation: {count: 1e9}}), /leaving none for training/);
  });

  it('the shuffle is a permutation per epoch, the same for the same seed, different across seeds and epochs', () => {
    const ds = (seed: number) => new PackedDataset(cache, {context: 31, validation: {fraction: 0.1}, seed});
    const a = ds(7);
    const per = a.batchesPerEpoch(4);
    const seq = (d: PackedDataset) => take(d.batches(4), 2 * per).map((b) => b.windows);
    const s7 = seq(a);
    expect(seq(ds(7))).toEqual(s7);
    expect(seq(ds(8))).not.toEqual(s7);
    const e0 = s7.slice(0, per).flat();
    const e1 = s7.slice(per).flat();
    expect(new Set(e0).size).toBe(per * 4);
    expect(e0.every((w) => a.trainIds.includes(w))).toBe(true);
    expect(e0).not.toEqual(e1);
    expect(e0).not.toEqual(Array.from(a.trainIds).slice(0, per * 4)); // shuffled
    const all = take(a.batches(4), 2 * per);
    expect(all.slice(0, per).every((b) => b.epoch === 0)).toBe(true);
    expect(all.slice(per).every((b) => b.epoch === 1)).toBe(true);
    expect(all[0].rows[0]).toEqual(a.window(all[0].windows[0]));
    expect(all[0].rows[0]).toHaveLength(32);
  });

  it('a saved position resumes with exactly the next batch, within an epoch and across epochs, after JSON', () => {
    const make = () =>
      new PackedDataset(TokenCache.open(join(dir, 'split/data')), {context: 31, validation: {fraction: 0.1}, seed: 3});
    const ds = make();
    const per = ds.batchesPerEpoch(5);
    const straight = take(ds.batches(5), 3 * per);
    for (const k of [1, 2, per - 1, per, per + 3]) {
      const saved: BatchPosition = JSON.parse(JSON.stringify(straight[k - 1].next));
      const resumed = take(make().batches(5, saved), 4);
      expect(resumed.map((b: Batch) => b.windows)).toEqual(straight.slice(k, k + 4).map((b) => b.windows));
      expect(resumed.map((b) => [b.epoch, b.index])).toEqual(straight.slice(k, k + 4).map((b) => [b.epoch, b.index]));
      expect(resumed[0].rows).toEqual(straight[k].rows);
    }
    expect(straight[per - 1].next).toMatchObject({epoch: 1, index: 0});
    expect(take(ds.batches(5, ds.startPosition()), 2).map((b) => b.windows)).toEqual(
      straight.slice(0, 2).map((b) => b.windows),
    );
  });

  it('a position from different data, a bad RNG state or a batch larger than the data are one-line errors', async () => {
    const ds = new PackedDataset(cache, {context: 31, seed: 3});
    const pos = ds.startPosition();
    await rejects(
      () => ds.batches(4, {...pos, trainWindows: pos.trainWindows + 1}).next(),
      /the data changed since it was saved/,
    );
    await rejects(() => ds.batches(4, {...pos, rng: 'nonsense'}).next(), /invalid RNG state/);
    await rejects(() => ds.batches(1e6).next(), /fewer than the batch size 1000000/);
  });
});

describe('cache reuse and rebuild', () => {
  it('a second build with the same inputs reuses the cache; changed inputs or tokenizer rebuild it', async () => {
    const run = join(dir, 'reuse-run');
    const corpus = file('reuse/corpus.txt', readFileSync(TINY_CORPUS, 'utf8'));
    const events: BuildProgress[] = [];
    const build = (extra: Partial<Parameters<typeof buildTokenCache>[0]> = {}) =>
      buildTokenCache({
        dir: dataDir(run),
        inputs: [join(dir, 'reuse')],
        tokenizerPath: TINY_MODEL,
        onProgress: (p) => events.push(p),
        progressIntervalMs: 0,
        ...extra,
      });

    const first = await build();
    expect(first.reused).toBe(false);
    expect(events.filter((e) => e.phase === 'tokenize').length).toBe(first.index.documents);
    const done = events[events.length - 1];
    expect(done).toMatchObject({
      phase: 'done',
      tokens: first.totalTokens,
      bytesRead: statSync(corpus).size,
      bytesTotal: statSync(corpus).size,
    });
    const shardFile = join(dataDir(run), first.index.shards[0].file);
    const mtime = statSync(shardFile).mtimeMs;

    events.length = 0;
    const fake = new FakeTokenizer(512, {});
    const second = await build({tokenizer: fake});
    expect(second.reused).toBe(true);
    expect(fake.calls).toBe(0);
    expect(events.map((e) => e.phase)).toEqual(['reused']);
    expect(statSync(shardFile).mtimeMs).toBe(mtime);
    expect(second.index).toEqual(first.index);

    // changed content → rebuilt
    appendFileSync(corpus, '\nA new paragraph about the harbour.\n');
    events.length = 0;
    const third = await build();
    expect(third.reused).toBe(false);
    expect(third.totalTokens).toBeGreaterThan(first.totalTokens);
    expect(events.some((e) => e.phase === 'tokenize')).toBe(true);
    expect((await build()).reused).toBe(true);

    // same size, new mtime → rebuilt; a new file in the folder → rebuilt
    utimesSync(corpus, new Date(), new Date(Date.now() + 5000));
    expect((await build()).reused).toBe(false);
    file('reuse/more.txt', 'More text.\n');
    const withMore = await build();
    expect(withMore.reused).toBe(false);
    expect(withMore.index.corpus.sources.map((s) => s.path)).toEqual([corpus, join(dir, 'reuse/more.txt')]);

    // another split, another tokenizer file → rebuilt
    expect((await build({corpus: {split: 'lines'}})).reused).toBe(false);
    expect((await build({corpus: {split: 'lines'}})).reused).toBe(true);
    const otherModel = file('reuse-model/other.model', 'another tokenizer file');
    const other = await build({
      corpus: {split: 'lines'},
      tokenizerPath: otherModel,
      tokenizer: new FakeTokenizer(512, {}),
    });
    expect(other.reused).toBe(false);

    // a damaged shard → rebuilt; the stale shards of a bigger earlier build are gone
    const good = await build({shardTokens: 500});
    expect(good.reused).toBe(false);
    const nShards = good.index.shards.length;
    const goodTokens = Array.from(good.read(0, good.totalTokens));
    good.close();
    truncateSync(join(dataDir(run), good.index.shards[0].file), 10);
    const repaired = await build({shardTokens: 100_000});
    expect(repaired.reused).toBe(false);
    expect(repaired.index.shards.length).toBe(1);
    expect(nShards).toBeGreaterThan(1);
    const left = readdirSync(dataDir(run)).sort();
    expect(left).toEqual(['index.json', 'shard-00000.bin']);
    expect(Array.from(repaired.read(0, repaired.totalTokens))).toEqual(goodTokens);
    repaired.close();
  });

  it('an empty corpus is a one-line error and leaves no index', async () => {
    file('empty/blank.txt', '\n  \n\n');
    const d = join(dir, 'empty-run/data');
    await rejects(
      buildTokenCache({dir: d, inputs: join(dir, 'empty/blank.txt'), tokenizerPath: TINY_MODEL, tokenizer: tiny}),
      /the corpus has no documents/,
    );
    await rejects(() => TokenCache.open(d), /holds no complete token cache/);
  });
});

describe('big vocabularies', () => {
  it('uint32 tokens when the vocabulary has more than 65536 ids', async () => {
    expect(dtypeFor(32000)).toBe('uint16');
    expect(dtypeFor(65536)).toBe('uint16');
    expect(dtypeFor(65537)).toBe('uint32');
    const table = {big: 69_999, mid: 65_536, small: 7, edge: 65_535};
    const corpus = file('big/docs.txt', 'big mid\nsmall edge big\n');
    const model = file('big/fake.model', 'fake 70k tokenizer');
    const cache = await buildTokenCache({
      dir: join(dir, 'big/data'),
      inputs: corpus,
      corpus: {split: 'lines'},
      tokenizerPath: model,
      tokenizer: new FakeTokenizer(70_000, table),
      shardTokens: 3,
    });
    expect(cache.dtype).toBe('uint32');
    const stream = [69_999, 65_536, 3, 7, 65_535, 69_999, 3];
    expect(cache.totalTokens).toBe(7);
    for (const s of cache.index.shards) expect(statSync(join(cache.dir, s.file)).size).toBe(4 * s.tokens);
    expect(Array.from(cache.read(0, 7))).toEqual(stream);
    const ds = new PackedDataset(cache, {context: 2, shuffle: false});
    expect([ds.window(0), ds.window(1)]).toEqual([stream.slice(0, 3), stream.slice(3, 6)]);
    const reopened = TokenCache.open(join(dir, 'big/data'));
    expect(Array.from(reopened.read(2, 4))).toEqual(stream.slice(2, 6));
    reopened.close();
  });
});
