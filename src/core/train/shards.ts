/**
 * Training data: a binary token cache of the corpus, and the reference's packing on top of it
 * (docs/spec.md §6.1).
 *
 * ## Token cache (`buildTokenCache`)
 *
 * The documents (corpus.ts) are tokenised once, each as the reference's tokenize: ids + [END]. The
 * token stream goes to `<run>/data/` (`dataDir(run)`):
 *
 *   shard-00000.bin, shard-00001.bin, …   the stream, cut every `shardTokens` tokens (default 2^23);
 *                                         little-endian uint16 per token, or uint32 when the vocabulary
 *                                         has more than 65536 ids (ids above 65535)
 *   index.json                            {format: "pldr-token-cache", version: 1,
 *                                          tokenizer: {path, sha256, vocabSize, endId},
 *                                          corpus: {split, textField, sources: [{path, kind, size, mtimeMs}]},
 *                                          dtype: "uint16" | "uint32", shards: [{file, tokens}],
 *                                          totalTokens, documents, bytesRead, created}
 *
 * A build with the same inputs (the same resolved files with the same sizes and mtimes, the same
 * split and text field) and the same tokenizer file (sha256) reuses the cache: no file is read and
 * no document is tokenised. Anything else rebuilds it. Every file is written to a temporary name and
 * renamed; index.json is removed first and written last, so an interrupted build is never mistaken
 * for a complete one.
 *
 * ## Windows: `context` vs the reference's chunks
 *
 * The reference cuts the concatenated stream into chunks of exactly `context_length` ids (1024) and
 * trains on input = chunk[:-1], target = chunk[1:]: 1023 model input positions per row (§6.1,
 * "Input and targets"). Here `context` is the number of model input positions per row, so a
 * window is `context + 1` consecutive tokens and is exactly one reference chunk:
 *
 *     reference context_length = context + 1        (1024 ↔ context 1023)
 *     window w = stream[w·(context+1), (w+1)·(context+1))
 *     input    = window[0 .. context)   target = window[1 .. context]
 *
 * The reference's groups of B·agg samples with the leftover carried to the next group cut the
 * stream at the same places as cutting the whole stream at once, so windows are consecutive and
 * disjoint, no padding, documents separated only by [END], cut anywhere; the last partial window is
 * dropped (the reference's "very last remainder").
 *
 * ## Split, order, batches (`PackedDataset`)
 *
 * Validation: `validation.count` windows, or `round(fraction · windows)` (at least 1 when the
 * fraction is > 0), selected by `validation.select`:
 *   'tail' (default): the last windows of the stream, like the reference's validation samples taken
 *     straight after the training interval;
 *   'random': a seeded uniform choice (seed derived from `seed`), for corpora whose tail is not
 *     representative (e.g. one file per topic).
 * Validation windows are never in the training order (windows are disjoint, so no validation token
 * is ever a training token; a document may straddle the boundary).
 *
 * Training order: a seeded Fisher–Yates shuffle of the training windows per epoch (`shuffle: false`
 * keeps stream order, the reference's default). Batches are B consecutive windows of that order; an
 * incomplete last batch of an epoch is dropped (as the reference). A batch carries `next`, a
 * serialisable BatchPosition {epoch, index, rng, trainWindows}: `rng` is the shuffle generator's
 * state at the start of that epoch (before its shuffle), `index` the offset into the epoch's order.
 * `batches(B, next)` re-creates the epoch's order from `rng` and continues with exactly the batch
 * after the saved one; the next epoch's generator state is the state after this epoch's shuffle.
 *
 * Windows are read with positioned reads from the shard files (fs.readSync with an offset): the
 * shards are never loaded as a whole.
 */
import {createHash} from 'node:crypto';
import * as fs from 'node:fs';
import {join, resolve} from 'node:path';

import {PldrError} from '../errors.js';
import {writeFileAtomic} from '../io/fsutil.js';
import {Rng} from '../sampling.js';
import {Tokenizer} from '../tokenizer.js';
import {
  type CorpusOptions,
  type CorpusSource,
  corpusBytes,
  DEFAULT_SPLIT,
  DEFAULT_TEXT_FIELD,
  readDocuments,
  resolveCorpus,
} from './corpus.js';

/** What the cache needs of a tokenizer (the real Tokenizer fits). */
export interface TokenizerLike {
  readonly vocabSize: number;
  readonly endId: number;
  /** ids of the text followed by endId (the reference's tokenize). */
  tokenize(text: string): number[];
}

export type TokenDtype = 'uint16' | 'uint32';

export interface TokenCacheIndex {
  format: 'pldr-token-cache';
  version: 1;
  tokenizer: {path: string; sha256: string; vocabSize: number; endId: number};
  corpus: {split: string; textField: string; sources: CorpusSource[]};
  dtype: TokenDtype;
  shards: {file: string; tokens: number}[];
  totalTokens: number;
  documents: number;
  bytesRead: number;
  created: string;
}

export interface BuildProgress {
  /** 'tokenize' while building, 'done' at the end of a build, 'reused' when the cache was valid. */
  phase: 'tokenize' | 'done' | 'reused';
  documents: number;
  tokens: number;
  /** Corpus bytes read so far, and in all (for a progress bar). */
  bytesRead: number;
  bytesTotal: number;
  /** The file being read (tokenize phase). */
  source?: string;
}

export interface BuildTokenCacheOptions {
  /** The cache folder; the trainer uses dataDir(run) = <run>/data. */
  dir: string;
  /** Corpus inputs (files, folders, globs), or sources already resolved by resolveCorpus. */
  inputs: string | readonly string[] | readonly CorpusSource[];
  corpus?: CorpusOptions;
  /** The tokenizer's .model file: its sha256 keys the cache. */
  tokenizerPath: string;
  /** The tokenizer itself when already loaded (otherwise loaded from tokenizerPath, only if a build is needed). */
  tokenizer?: TokenizerLike;
  /** Tokens per shard file (default 2^23). */
  shardTokens?: number;
  onProgress?: (p: BuildProgress) => void;
  /** Least time between two 'tokenize' progress calls (default 250 ms; 0 = after every document). */
  progressIntervalMs?: number;
}

export const INDEX_FILE = 'index.json';
const DEFAULT_SHARD_TOKENS = 1 << 23;

/** The token cache folder of a run. */
export function dataDir(runDir: string): string {
  return join(runDir, 'data');
}

/** Tokens are stored as uint16 while every id fits, i.e. vocabulary size ≤ 65536. */
export function dtypeFor(vocabSize: number): TokenDtype {
  return vocabSize > 65536 ? 'uint32' : 'uint16';
}

const bytesPer = (d: TokenDtype) => (d === 'uint16' ? 2 : 4);
const shardName = (i: number) => `shard-${String(i).padStart(5, '0')}.bin`;

/** sha256 (hex) of a file. */
export function fileSha256(path: string): string {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new PldrError(
      code === 'ENOENT' ? `tokenizer model not found: ${path}` : `cannot read tokenizer model ${path}: ${code ?? e}`,
    );
  }
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The token cache for these inputs and this tokenizer: reused when `dir` holds a valid one, built
 * (and the old one replaced) otherwise. `cache.reused` tells which.
 */
export async function buildTokenCache(opts: BuildTokenCacheOptions): Promise<TokenCache> {
  const dir = resolve(opts.dir);
  const sources = isSourceList(opts.inputs) ? [...opts.inputs] : resolveCorpus(opts.inputs);
  const split = opts.corpus?.split ?? DEFAULT_SPLIT;
  const textField = opts.corpus?.textField ?? DEFAULT_TEXT_FIELD;
  const tokenizerPath = resolve(opts.tokenizerPath);
  const sha256 = fileSha256(tokenizerPath);
  const bytesTotal = corpusBytes(sources);

  const existing = readIndex(dir);
  if (
    existing &&
    existing.tokenizer.sha256 === sha256 &&
    (opts.tokenizer === undefined ||
      (opts.tokenizer.vocabSize === existing.tokenizer.vocabSize &&
        opts.tokenizer.endId === existing.tokenizer.endId)) &&
    existing.corpus.split === split &&
    existing.corpus.textField === textField &&
    sameSources(existing.corpus.sources, sources) &&
    shardsIntact(dir, existing)
  ) {
    opts.onProgress?.({
      phase: 'reused',
      documents: existing.documents,
      tokens: existing.totalTokens,
      bytesRead: 0,
      bytesTotal,
    });
    return new TokenCache(dir, existing, true);
  }

  const tokenizer = opts.tokenizer ?? (await Tokenizer.load(tokenizerPath));
  const vocabSize = tokenizer.vocabSize;
  const dtype = dtypeFor(vocabSize);
  const bpt = bytesPer(dtype);
  const shardTokens = opts.shardTokens ?? DEFAULT_SHARD_TOKENS;
  if (!Number.isInteger(shardTokens) || shardTokens < 1)
    throw new PldrError(`shardTokens must be a positive integer, got ${shardTokens}`);

  try {
    fs.mkdirSync(dir, {recursive: true});
    fs.rmSync(join(dir, INDEX_FILE), {force: true});
    for (const name of fs.readdirSync(dir)) {
      if (/^shard-\d+\.bin(\.tmp-\d+)?$/.test(name) || /^index\.json\.tmp-\d+$/.test(name))
        fs.rmSync(join(dir, name), {force: true});
    }
  } catch (e) {
    throw new PldrError(`cannot prepare the token cache folder ${dir}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }

  const staging = new Uint8Array(shardTokens * bpt);
  const view = new DataView(staging.buffer);
  let fill = 0; // tokens in staging
  const shards: {file: string; tokens: number}[] = [];
  const flush = () => {
    if (fill === 0) return;
    const file = shardName(shards.length);
    writeFileAtomic(join(dir, file), [staging.subarray(0, fill * bpt)]);
    shards.push({file, tokens: fill});
    fill = 0;
  };

  const interval = opts.progressIntervalMs ?? 250;
  let last = -Infinity;
  let documents = 0;
  let tokens = 0;
  for await (const doc of readDocuments(sources, opts.corpus)) {
    const ids = tokenizer.tokenize(doc.text);
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
        throw new Error(`tokenizer produced id ${id} outside its vocabulary of ${vocabSize}`);
      if (bpt === 2) view.setUint16(fill * 2, id, true);
      else view.setUint32(fill * 4, id, true);
      if (++fill === shardTokens) flush();
    }
    documents++;
    tokens += ids.length;
    const bytesRead = doc.bytesRead;
    if (opts.onProgress) {
      const now = Date.now();
      if (now - last >= interval) {
        last = now;
        opts.onProgress({phase: 'tokenize', documents, tokens, bytesRead, bytesTotal, source: doc.source});
      }
    }
  }
  flush();
  if (documents === 0) {
    throw new PldrError(
      `the corpus has no documents: ${sources.length === 1 ? sources[0].path : `all ${sources.length} files`} ${sources.length === 1 ? 'is' : 'are'} empty`,
    );
  }

  const index: TokenCacheIndex = {
    format: 'pldr-token-cache',
    version: 1,
    tokenizer: {path: tokenizerPath, sha256, vocabSize, endId: tokenizer.endId},
    corpus: {split, textField, sources: sources.map(({path, kind, size, mtimeMs}) => ({path, kind, size, mtimeMs}))},
    dtype,
    shards,
    totalTokens: tokens,
    documents,
    bytesRead: bytesTotal, // every file was read to its end
    created: new Date().toISOString(),
  };
  writeFileAtomic(join(dir, INDEX_FILE), [Buffer.from(`${JSON.stringify(index, null, 1)}\n`)]);
  opts.onProgress?.({phase: 'done', documents, tokens, bytesRead: bytesTotal, bytesTotal});
  return new TokenCache(dir, index, false);
}

function isSourceList(x: BuildTokenCacheOptions['inputs']): x is readonly CorpusSource[] {
  return typeof x !== 'string' && x.length > 0 && typeof x[0] === 'object';
}

function readIndex(dir: string): TokenCacheIndex | undefined {
  let raw: string;
  try {
    raw = fs.readFileSync(join(dir, INDEX_FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const idx = JSON.parse(raw) as TokenCacheIndex;
    if (
      idx?.format !== 'pldr-token-cache' ||
      idx.version !== 1 ||
      !Array.isArray(idx.shards) ||
      !Array.isArray(idx.corpus?.sources)
    )
      return undefined;
    if (idx.dtype !== 'uint16' && idx.dtype !== 'uint32') return undefined;
    if (idx.shards.reduce((a, s) => a + s.tokens, 0) !== idx.totalTokens) return undefined;
    return idx;
  } catch {
    return undefined;
  }
}

function sameSources(a: readonly CorpusSource[], b: readonly CorpusSource[]): boolean {
  return (
    a.length === b.length &&
    a.every(
      (s, i) => s.path === b[i].path && s.kind === b[i].kind && s.size === b[i].size && s.mtimeMs === b[i].mtimeMs,
    )
  );
}

function shardsIntact(dir: string, idx: TokenCacheIndex): boolean {
  const bpt = bytesPer(idx.dtype);
  return idx.shards.every((s) => {
    try {
      return /^shard-\d+\.bin$/.test(s.file) && fs.statSync(join(dir, s.file)).size === s.tokens * bpt;
    } catch {
      return false;
    }
  });
}

/** Read access to a built cache: positioned reads from the shard files, file descriptors opened on demand. */
export class TokenCache {
  readonly dir: string;
  readonly index: TokenCacheIndex;
  /** True when buildTokenCache found the cache valid and built nothing. */
  readonly reused: boolean;
  private readonly starts: number[]; // first stream offset of each shard, plus the total at the end
  private readonly fds: (number | undefined)[];
  private readonly bpt: number;

  constructor(dir: string, index: TokenCacheIndex, reused = false) {
    this.dir = dir;
    this.index = index;
    this.reused = reused;
    this.bpt = bytesPer(index.dtype);
    this.starts = [0];
    for (const s of index.shards) this.starts.push(this.starts[this.starts.length - 1] + s.tokens);
    this.fds = index.shards.map(() => undefined);
  }

  /** Open an existing cache folder (no check against the corpus; buildTokenCache does that). */
  static open(dir: string): TokenCache {
    const idx = readIndex(resolve(dir));
    if (!idx) throw new PldrError(`${dir} holds no complete token cache (${INDEX_FILE} missing or invalid)`);
    if (!shardsIntact(resolve(dir), idx))
      throw new PldrError(
        `the token cache in ${dir} is damaged (a shard file is missing or has the wrong size); delete it to rebuild`,
      );
    return new TokenCache(resolve(dir), idx);
  }

  get totalTokens(): number {
    return this.index.totalTokens;
  }

  get vocabSize(): number {
    return this.index.tokenizer.vocabSize;
  }

  get dtype(): TokenDtype {
    return this.index.dtype;
  }

  /** Tokens [start, start+count) of the stream. */
  read(start: number, count: number): Uint32Array {
    if (
      !Number.isInteger(start) ||
      !Number.isInteger(count) ||
      start < 0 ||
      count < 0 ||
      start + count > this.totalTokens
    ) {
      throw new RangeError(`token range [${start}, ${start + count}) outside the cache's ${this.totalTokens} tokens`);
    }
    const out = new Uint32Array(count);
    let s = this.shardOf(start);
    let pos = start;
    let o = 0;
    while (o < count) {
      const n = Math.min(count - o, this.starts[s + 1] - pos);
      const bytes = Buffer.allocUnsafe(n * this.bpt);
      const fd = this.fd(s);
      const at = (pos - this.starts[s]) * this.bpt;
      let got = 0;
      while (got < bytes.length) {
        const r = fs.readSync(fd, bytes, got, bytes.length - got, at + got);
        if (r === 0)
          throw new PldrError(
            `token cache shard ${join(this.dir, this.index.shards[s].file)} is shorter than its index says; delete ${this.dir} to rebuild`,
          );
        got += r;
      }
      if (this.bpt === 2) for (let i = 0; i < n; i++) out[o + i] = bytes[2 * i] | (bytes[2 * i + 1] << 8);
      else for (let i = 0; i < n; i++) out[o + i] = bytes.readUInt32LE(4 * i);
      o += n;
      pos += n;
      s++;
    }
    return out;
  }

  close(): void {
    for (let i = 0; i < this.fds.length; i++) {
      const fd = this.fds[i];
      if (fd !== undefined) fs.closeSync(fd);
      this.fds[i] = undefined;
    }
  }

  private shardOf(pos: number): number {
    let lo = 0;
    let hi = this.index.shards.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private fd(s: number): number {
    let fd = this.fds[s];
    if (fd === undefined) {
      const path = join(this.dir, this.index.shards[s].file);
      try {
        fd = fs.openSync(path, 'r');
      } catch (e) {
        throw new PldrError(
          `cannot read token cache shard ${path}: ${(e as NodeJS.ErrnoException).code ?? e}; delete ${this.dir} to rebuild`,
        );
      }
      this.fds[s] = fd;
    }
    return fd;
  }
}

// ---------------------------------------------------------------------------------------------
// Packing, split, order, batches
// ---------------------------------------------------------------------------------------------

export interface PackOptions {
  /** Model input positions per row; a window is context + 1 tokens (a reference chunk of context_length = context + 1). */
  context: number;
  /** Validation windows: a count, or a fraction of all windows; and how they are chosen (default 'tail'). */
  validation?: {count?: number; fraction?: number; select?: 'tail' | 'random'};
  /** Seed of the shuffle (and of a random validation choice). Default 0. */
  seed?: number;
  /** Shuffle the training windows each epoch (default true). */
  shuffle?: boolean;
}

/** Where the batch stream stands; JSON-serialisable. */
export interface BatchPosition {
  epoch: number;
  /** Offset into this epoch's window order of the next batch. */
  index: number;
  /** Shuffle generator state at the start of this epoch (Rng.state()). */
  rng: string;
  /** Training windows when the position was taken (checked on resume). */
  trainWindows: number;
}

export interface Batch {
  /** B rows of context + 1 ids: input = row[0..context), target = row[1..context]. */
  rows: number[][];
  /** The window ids of the rows. */
  windows: number[];
  epoch: number;
  /** Offset of this batch in the epoch's order. */
  index: number;
  /** The position of the batch after this one: save it to resume there. */
  next: BatchPosition;
}

const VAL_SEED_SALT = 0x76616c69646174n; // "validat"

export class PackedDataset {
  readonly cache: TokenCache;
  readonly context: number;
  /** Tokens per window: context + 1. */
  readonly windowLength: number;
  readonly numWindows: number;
  readonly seed: number;
  readonly shuffle: boolean;
  /** Training window ids (stream order) and validation window ids (stream order). */
  readonly trainIds: Uint32Array;
  readonly valIds: Uint32Array;

  constructor(cache: TokenCache, opts: PackOptions) {
    const {context} = opts;
    if (!Number.isInteger(context) || context < 1)
      throw new PldrError(`context must be a positive integer, got ${context}`);
    this.cache = cache;
    this.context = context;
    this.windowLength = context + 1;
    this.numWindows = Math.floor(cache.totalTokens / this.windowLength);
    this.seed = opts.seed ?? 0;
    this.shuffle = opts.shuffle ?? true;
    if (!Number.isSafeInteger(this.seed)) throw new PldrError(`seed must be an integer, got ${this.seed}`);
    if (this.numWindows === 0) {
      throw new PldrError(
        `the corpus has ${cache.totalTokens} tokens, fewer than one window of context + 1 = ${this.windowLength}; use more text or a smaller context`,
      );
    }
    const nVal = validationCount(opts.validation, this.numWindows);
    const isVal = new Uint8Array(this.numWindows);
    if ((opts.validation?.select ?? 'tail') === 'tail') {
      for (let w = this.numWindows - nVal; w < this.numWindows; w++) isVal[w] = 1;
    } else if (opts.validation?.select === 'random') {
      const rng = new Rng(BigInt.asUintN(64, BigInt(this.seed) ^ VAL_SEED_SALT));
      const ids = Uint32Array.from({length: this.numWindows}, (_, i) => i);
      for (let i = 0; i < nVal; i++) {
        const j = i + Math.floor(rng.next() * (this.numWindows - i));
        const t = ids[i];
        ids[i] = ids[j];
        ids[j] = t;
        isVal[ids[i]] = 1;
      }
    } else {
      throw new PldrError(`unknown validation selection "${opts.validation?.select}" (use tail or random)`);
    }
    this.trainIds = new Uint32Array(this.numWindows - nVal);
    this.valIds = new Uint32Array(nVal);
    for (let w = 0, t = 0, v = 0; w < this.numWindows; w++) {
      if (isVal[w]) this.valIds[v++] = w;
      else this.trainIds[t++] = w;
    }
  }

  get trainCount(): number {
    return this.trainIds.length;
  }

  get valCount(): number {
    return this.valIds.length;
  }

  /** Window w: context + 1 ids. */
  window(w: number): number[] {
    if (!Number.isInteger(w) || w < 0 || w >= this.numWindows)
      throw new RangeError(`window ${w} outside 0..${this.numWindows - 1}`);
    return Array.from(this.cache.read(w * this.windowLength, this.windowLength));
  }

  /** Full batches per epoch (the incomplete last batch is dropped). */
  batchesPerEpoch(batchSize: number): number {
    return Math.floor(this.trainCount / batchSize);
  }

  /** The position of the very first batch. */
  startPosition(): BatchPosition {
    return {epoch: 0, index: 0, rng: new Rng(this.seed).state(), trainWindows: this.trainCount};
  }

  /** The training window order of the epoch whose generator state is `rng`, and the state for the next epoch. */
  epochOrder(rng: string): {order: Uint32Array; nextRng: string} {
    if (!this.shuffle) return {order: this.trainIds, nextRng: rng};
    const r = Rng.fromState(rng);
    const order = this.trainIds.slice();
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(r.next() * (i + 1));
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    return {order, nextRng: r.state()};
  }

  /**
   * Training batches, endlessly (epoch after epoch), from `from` (default: the start). Each batch's
   * `next` resumes the stream right after it.
   */
  *batches(batchSize: number, from?: BatchPosition): Generator<Batch> {
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new PldrError(`batch size must be a positive integer, got ${batchSize}`);
    if (batchSize > this.trainCount) {
      throw new PldrError(
        `the corpus gives ${this.trainCount} training windows of ${this.windowLength} tokens, fewer than the batch size ${batchSize}; use more text, a smaller batch or a smaller context`,
      );
    }
    let pos = from ? this.checkPosition(from) : this.startPosition();
    for (;;) {
      const {order, nextRng} = this.epochOrder(pos.rng);
      for (let index = pos.index; index + batchSize <= order.length; index += batchSize) {
        const windows = Array.from(order.subarray(index, index + batchSize));
        const rows = windows.map((w) => this.window(w));
        const after = index + batchSize;
        const next: BatchPosition =
          after + batchSize <= order.length
            ? {epoch: pos.epoch, index: after, rng: pos.rng, trainWindows: this.trainCount}
            : {epoch: pos.epoch + 1, index: 0, rng: nextRng, trainWindows: this.trainCount};
        yield {rows, windows, epoch: pos.epoch, index, next};
      }
      pos = {epoch: pos.epoch + 1, index: 0, rng: nextRng, trainWindows: this.trainCount};
    }
  }

  /** Validation batches in stream order, each window once; the last batch may be short unless dropLast. */
  *valBatches(batchSize: number, opts: {dropLast?: boolean} = {}): Generator<number[][]> {
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new PldrError(`batch size must be a positive integer, got ${batchSize}`);
    for (let i = 0; i < this.valCount; i += batchSize) {
      const ids = this.valIds.subarray(i, Math.min(i + batchSize, this.valCount));
      if (ids.length < batchSize && opts.dropLast) return;
      yield Array.from(ids, (w) => this.window(w));
    }
  }

  private checkPosition(p: BatchPosition): BatchPosition {
    const bad = (why: string) => new PldrError(`cannot resume the data stream: ${why}`);
    if (p === null || typeof p !== 'object') throw bad('the saved position is not an object');
    if (!Number.isInteger(p.epoch) || p.epoch < 0) throw bad(`bad epoch ${p.epoch}`);
    if (!Number.isInteger(p.index) || p.index < 0 || p.index > this.trainCount) throw bad(`bad index ${p.index}`);
    if (typeof p.rng !== 'string') throw bad('no RNG state');
    Rng.fromState(p.rng); // PldrError when malformed
    if (p.trainWindows !== undefined && p.trainWindows !== this.trainCount) {
      throw bad(
        `the data changed since it was saved (${p.trainWindows} training windows then, ${this.trainCount} now)`,
      );
    }
    return {epoch: p.epoch, index: p.index, rng: p.rng, trainWindows: this.trainCount};
  }
}

function validationCount(v: PackOptions['validation'], numWindows: number): number {
  if (!v || (v.count === undefined && v.fraction === undefined)) return 0;
  if (v.count !== undefined && v.fraction !== undefined)
    throw new PldrError('give the validation split as a count or a fraction, not both');
  let n: number;
  if (v.count !== undefined) {
    if (!Number.isInteger(v.count) || v.count < 0)
      throw new PldrError(`validation count must be a non-negative integer, got ${v.count}`);
    n = v.count;
  } else {
    const f = v.fraction as number;
    if (!(f >= 0 && f < 1)) throw new PldrError(`validation fraction must be in [0, 1), got ${f}`);
    n = f > 0 ? Math.max(1, Math.round(f * numWindows)) : 0;
  }
  if (n >= numWindows) {
    throw new PldrError(
      `the validation split takes ${n} of the corpus' ${numWindows} windows, leaving none for training; use more text or a smaller split`,
    );
  }
  return n;
}
