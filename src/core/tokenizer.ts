/**
 * The tokenizer: a SentencePiece model, run by the emscripten build of the C++ library
 * (`@sctg/sentencepiece-js`), with the reference's conventions on top (docs/spec.md §2):
 *
 *   encode(text)    plain SentencePiece ids: no [START], no [END]
 *   tokenize(text)  the reference's tokenize: encode(text) + [END]
 *   promptIds(text) the reference's generate_text prompt: tokenize(text) without its trailing [END],
 *                   unless [END] is the only id (the empty prompt is fed as [END])
 *   decode(ids)     SentencePiece decode: control pieces vanish, [UNK] is " ⁇ ", invalid UTF-8 from
 *                   byte pieces is U+FFFD per byte
 *
 * Encoding and decoding are the C++ library's own. The library's binding exposes no piece table, so
 * the piece list, the piece types and the special ids are read from the model file (a protobuf
 * ModelProto) by the small reader below. `StreamDecoder` turns ids into printable text one id at a
 * time, for streaming generation.
 */
import {readFileSync, statSync} from 'node:fs';

import {oneLine, PldrError} from './errors.js';

export type PieceType = 'normal' | 'unknown' | 'control' | 'user_defined' | 'unused' | 'byte';

/** Facts read from the model file (the fields a SentencePiece model stores, with its defaults). */
export interface TokenizerInfo {
  modelType: 'unigram' | 'bpe' | 'word' | 'char' | 'unknown';
  vocabSize: number;
  byteFallback: boolean;
  splitDigits: boolean;
  treatWhitespaceAsSuffix: boolean;
  normalizer: string;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  unkSurface: string;
}

/** The part of `@sctg/sentencepiece-js`'s SentencePieceProcessor this module uses. */
interface SpmProcessor {
  loadFromB64StringModel(b64model: string): Promise<void>;
  encodeIds(text: string): number[];
  encodePieces(text: string): string[];
  decodeIds(ids: Int32Array): unknown;
  processor: {status(): {ToString(): string; delete(): void}} | undefined;
}

let library: Promise<new () => SpmProcessor> | undefined;

/** The library module (4 MB of JavaScript with the wasm inlined): imported once, on first load. */
function spmLibrary(): Promise<new () => SpmProcessor> {
  library ??= import('@sctg/sentencepiece-js').then(
    (m) => m.SentencePieceProcessor as unknown as new () => SpmProcessor,
  );
  return library;
}

const SPACE = '\u2581'; // ▁
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export class Tokenizer {
  /** Where the model came from (a path, or a label given to fromBytes). */
  readonly source: string;
  readonly vocabSize: number;
  /** The id appended by tokenize and that ends generation: the model's eos id ([END] = 3 for the paper tokenizer). */
  readonly endId: number;
  /** unk/bos/pad ids as stored in the model (-1 when disabled). */
  readonly unkId: number;
  readonly bosId: number;
  readonly padId: number;
  readonly info: TokenizerInfo;

  private readonly spm: SpmProcessor;
  private readonly pieceList: string[];
  private readonly types: PieceType[];
  private readonly byteOf: Int16Array; // byte value of a byte piece, -1 otherwise
  private readonly idOf: Map<string, number>;
  /** A normal piece without "▁" whose decode is its own text (used by StreamDecoder); -1 if none. */
  readonly anchorId: number;
  readonly anchorText: string;

  private constructor(source: string, spm: SpmProcessor, model: ParsedModel) {
    this.source = source;
    this.spm = spm;
    this.pieceList = model.pieces;
    this.types = model.types;
    this.vocabSize = model.pieces.length;
    this.info = model.info;
    this.unkId = model.unkId;
    this.bosId = model.bosId;
    this.padId = model.padId;
    this.idOf = new Map();
    this.byteOf = new Int16Array(this.vocabSize).fill(-1);
    for (let i = 0; i < this.vocabSize; i++) {
      const p = this.pieceList[i];
      if (!this.idOf.has(p)) this.idOf.set(p, i);
      if (this.types[i] === 'byte') {
        const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(p);
        if (m) this.byteOf[i] = parseInt(m[1], 16);
      }
    }
    const end = model.eosId >= 0 && model.eosId < this.vocabSize ? model.eosId : (this.idOf.get('[END]') ?? -1);
    if (end < 0)
      throw new PldrError(`${source} has no end-of-sequence piece (its eos id is disabled and it has no [END] piece)`);
    this.endId = end;

    let anchor = -1;
    for (let i = 0; i < this.vocabSize && anchor < 0; i++) {
      const p = this.pieceList[i];
      if (this.types[i] === 'normal' && p.length > 0 && !p.includes(SPACE) && this.decode([i]) === p) anchor = i;
    }
    this.anchorId = anchor;
    this.anchorText = anchor >= 0 ? this.pieceList[anchor] : '';
  }

  /** Load a SentencePiece .model file. PldrError when it is missing, unreadable or not a SentencePiece model. */
  static async load(path: string): Promise<Tokenizer> {
    let bytes: Buffer;
    try {
      if (statSync(path).isDirectory())
        throw new PldrError(`tokenizer model ${path} is a directory, not a SentencePiece .model file`);
      bytes = readFileSync(path);
    } catch (e) {
      if (e instanceof PldrError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new PldrError(`tokenizer model not found: ${path}`);
      throw new PldrError(`cannot read tokenizer model ${path}: ${code ?? oneLine((e as Error).message)}`);
    }
    return Tokenizer.fromBytes(bytes, path);
  }

  /** A tokenizer from the bytes of a .model file; `source` names it in error messages. */
  static async fromBytes(bytes: Uint8Array, source = 'tokenizer model'): Promise<Tokenizer> {
    let model: ParsedModel;
    try {
      model = parseModelProto(bytes);
    } catch (e) {
      throw new PldrError(`${source} is not a SentencePiece model (${oneLine((e as Error).message)})`);
    }
    const Processor = await spmLibrary();
    const spm = new Processor();
    await spm.loadFromB64StringModel(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'));
    const status = spm.processor?.status();
    const message = status ? status.ToString() : 'no processor';
    status?.delete();
    if (message !== 'OK') throw new PldrError(`${source} is not a SentencePiece model (${oneLine(message)})`);
    return new Tokenizer(source, spm, model);
  }

  /** SentencePiece ids of the text: no [START], no [END]. */
  encode(text: string): number[] {
    return this.spm.encodeIds(wellFormed(text));
  }

  /** The reference's tokenize: encode(text) followed by [END]. */
  tokenize(text: string): number[] {
    const ids = this.encode(text);
    ids.push(this.endId);
    return ids;
  }

  /** The prompt the reference's generate_text feeds: tokenize(text) minus the trailing [END], except that text encoding to nothing is fed as [END]. */
  promptIds(text: string): number[] {
    const ids = this.tokenize(text);
    if (ids.length > 1) ids.pop();
    return ids;
  }

  /**
   * A Hugging Face tokenizer_config.json's convention instead of the reference's: encode(text) with
   * the bos piece's id before it when `addBos` and the eos piece's id after it when `addEos` (pieces
   * by name, e.g. "[START]"; default the model's own bos / end ids). Text that encodes to nothing and
   * gets no special token is fed as [END], as the reference feeds the empty prompt.
   */
  snapshotPromptIds(text: string, opts: {addBos: boolean; addEos: boolean; bos?: string; eos?: string}): number[] {
    const special = (piece: string | undefined, fallback: number, role: string): number => {
      const id = piece === undefined ? fallback : this.pieceToId(piece);
      if (id === undefined || id < 0)
        throw new PldrError(
          `${this.source} has no ${role} piece ${piece ?? ''} for tokenizer_config.json's add_${role}_token`.replace(
            '  ',
            ' ',
          ),
        );
      return id;
    };
    const ids = this.encode(text);
    if (opts.addBos) ids.unshift(special(opts.bos, this.bosId, 'bos'));
    if (opts.addEos) ids.push(special(opts.eos, this.endId, 'eos'));
    return ids.length > 0 ? ids : [this.endId];
  }

  /** The pieces of encode(text). */
  pieces(text: string): string[] {
    return this.spm.encodePieces(wellFormed(text));
  }

  /** SentencePiece decode. PldrError for an id outside the vocabulary. */
  decode(ids: readonly number[]): string {
    if (ids.length === 0) return '';
    for (const id of ids) this.check(id);
    const out = this.spm.decodeIds(Int32Array.from(ids));
    if (typeof out !== 'string') throw new Error(`SentencePiece decode returned ${typeof out}`);
    return out;
  }

  idToPiece(id: number): string {
    return this.pieceList[this.check(id)];
  }

  /** The id of a piece, or undefined when the vocabulary has no such piece. */
  pieceToId(piece: string): number | undefined {
    return this.idOf.get(piece);
  }

  pieceType(id: number): PieceType {
    return this.types[this.check(id)];
  }

  /** The byte a byte-fallback piece (<0xHH>) stands for, or undefined for any other piece. */
  byteValue(id: number): number | undefined {
    const b = this.byteOf[this.check(id)];
    return b >= 0 ? b : undefined;
  }

  /** A decoder for streaming the continuation of `context` (e.g. the prompt as fed). */
  streamDecoder(context: readonly number[] = []): StreamDecoder {
    return new StreamDecoder(this, context);
  }

  private check(id: number): number {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new PldrError(`token id ${id} is outside the vocabulary of ${this.source} (0-${this.vocabSize - 1})`);
    }
    return id;
  }
}

/**
 * Streaming decode. Invariant: prefix() + push(a) + push(b) + … + flush() === decode(context + [a, b, …]),
 * and every chunk ends on a whole character, so no chunk holds a U+FFFD that the final text lacks.
 *
 * How. SentencePiece decode is a left-to-right function of the pieces except for two things:
 *  1. the "▁" of the first piece that yields text is dropped (add_dummy_prefix), and
 *  2. a run of byte pieces is decoded as one UTF-8 byte string, an invalid or incomplete sequence
 *     giving U+FFFD per byte.
 * So after each id we hold back the trailing byte pieces that form an incomplete but still completable
 * UTF-8 sequence (at most 3), and emit decode(ids up to there) beyond what was already emitted. The
 * held bytes are emitted as soon as they complete a character, or as U+FFFDs once a later id (or
 * flush) shows they cannot. That is, the text emitted so far is always decode(all ids but the held ones).
 *
 * To keep each step O(new ids) instead of O(all ids), once the text so far is non-empty (rule 1 has
 * been applied) the ids before the held bytes are dropped, and the rest is decoded after an anchor
 * piece (a normal piece without "▁", e.g. "a") whose text is then cut off: decode([anchor, …rest])
 * = anchor + the text rest adds after non-empty text. Byte runs never straddle that cut since it lies
 * on a character boundary.
 */
export class StreamDecoder {
  private readonly tok: Tokenizer;
  /** Ids not yet folded into emitted text (the window), starting at a character boundary. */
  private ids: number[] = [];
  /** Whether text before the window is non-empty (then the window is decoded after the anchor). */
  private started = false;
  /** Characters of the window's decode already emitted (only without an anchor piece). */
  private emitted = 0;
  private readonly head: string;
  private done = false;

  constructor(tokenizer: Tokenizer, context: readonly number[] = []) {
    this.tok = tokenizer;
    for (const id of context) {
      tokenizer.idToPiece(id); // range check
      this.ids.push(id);
    }
    this.head = this.advance(this.ids.length - this.held());
  }

  /** The text of the context (up to its last whole character): print it before the first push. */
  prefix(): string {
    return this.head;
  }

  /** Feed one id; returns the text that can be printed now (often '', e.g. for [END] or a partial character). */
  push(id: number): string {
    if (this.done) throw new Error('StreamDecoder.push after flush');
    this.tok.idToPiece(id); // range check
    this.ids.push(id);
    return this.advance(this.ids.length - this.held());
  }

  /** End of stream: the held bytes, as U+FFFD per byte. */
  flush(): string {
    if (this.done) return '';
    this.done = true;
    return this.advance(this.ids.length);
  }

  /** Emit the window's text up to id `stable` (exclusive), and fold those ids away where possible. */
  private advance(stable: number): string {
    if (stable <= 0) return '';
    const part = this.ids.slice(0, stable);
    const tok = this.tok;
    const text = this.started ? tok.decode([tok.anchorId, ...part]).slice(tok.anchorText.length) : tok.decode(part);
    const out = text.slice(this.emitted);
    if ((this.started || text.length > 0) && tok.anchorId >= 0) {
      this.ids = this.ids.slice(stable);
      this.started = true;
      this.emitted = 0;
    } else {
      this.emitted = text.length;
    }
    return out;
  }

  /** How many trailing ids are byte pieces forming an incomplete UTF-8 sequence that later bytes could still complete. */
  private held(): number {
    const bytes: number[] = [];
    for (let i = this.ids.length - 1; i >= 0; i--) {
      const b = this.tok.byteValue(this.ids[i]);
      if (b === undefined) break;
      bytes.push(b);
    }
    bytes.reverse(); // the trailing byte run, from a character boundary (window start or a non-byte piece)
    return incompleteTail(bytes);
  }
}

// ---------------------------------------------------------------------------------------------
// UTF-8 as SentencePiece decodes byte pieces (util.cc DecodeUTF8): a sequence is valid when its
// continuation bytes are 10xxxxxx and its code point is not overlong, not a surrogate and at most
// U+10FFFF; anything else is one U+FFFD per byte.
// ---------------------------------------------------------------------------------------------

function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if ((lead & 0xe0) === 0xc0) return 2;
  if ((lead & 0xf0) === 0xe0) return 3;
  if ((lead & 0xf8) === 0xf0) return 4;
  return 0; // a continuation byte or F8–FF: never a lead
}

const isTrail = (b: number) => (b & 0xc0) === 0x80;

/** Whether b[p .. p+n) is one valid UTF-8 sequence of length n = sequenceLength(b[p]). */
function validSequence(b: readonly number[], p: number, n: number): boolean {
  if (n === 1) return true;
  let cp = b[p] & (n === 2 ? 0x1f : n === 3 ? 0x0f : 0x07);
  for (let k = 1; k < n; k++) {
    if (!isTrail(b[p + k])) return false;
    cp = (cp << 6) | (b[p + k] & 0x3f);
  }
  const min = n === 2 ? 0x80 : n === 3 ? 0x800 : 0x10000;
  return cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
}

/** Length of the tail of `b` that is a proper prefix of some valid sequence (0 if none), decoding greedily from b[0]. */
export function incompleteTail(b: readonly number[]): number {
  let p = 0;
  while (p < b.length) {
    const n = sequenceLength(b[p]);
    if (n === 0) {
      p++;
    } else if (p + n <= b.length) {
      p += validSequence(b, p, n) ? n : 1;
    } else if (completable(b.slice(p), n)) {
      return b.length - p;
    } else {
      p++;
    }
  }
  return 0;
}

/** Whether some continuation bytes turn the partial sequence `head` into a valid n-byte sequence. */
function completable(head: number[], n: number): boolean {
  // Only the lead and the second byte constrain the code point (overlong, surrogates, > U+10FFFF);
  // validSequence checks that the bytes present after the lead are continuation bytes.
  const seconds = head.length >= 2 ? [head[1]] : Array.from({length: 64}, (_, i) => 0x80 + i);
  for (const s of seconds) {
    const full = [head[0], s, ...head.slice(2)];
    while (full.length < n) full.push(0x80);
    if (validSequence(full, 0, n)) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The model file: a protobuf ModelProto (sentencepiece_model.proto). Only what we use is read.
// ---------------------------------------------------------------------------------------------

interface ParsedModel {
  pieces: string[];
  types: PieceType[];
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  info: TokenizerInfo;
}

const PIECE_TYPES: Record<number, PieceType> = {
  1: 'normal',
  2: 'unknown',
  3: 'control',
  4: 'user_defined',
  5: 'unused',
  6: 'byte',
};
const MODEL_TYPES: Record<number, TokenizerInfo['modelType']> = {1: 'unigram', 2: 'bpe', 3: 'word', 4: 'char'};

interface Field {
  no: number;
  varint?: bigint;
  bytes?: Uint8Array;
  fixed32?: DataView;
}

/** The fields of one protobuf message, in order. Throws on anything malformed. */
function* fields(buf: Uint8Array): Generator<Field> {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      if (pos >= buf.length) throw new Error('truncated varint');
      if (shift > 63n) throw new Error('varint too long');
      const byte = buf[pos++];
      v |= BigInt(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const no = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (no === 0) throw new Error('field number 0');
    if (wire === 0) {
      yield {no, varint: varint()};
    } else if (wire === 2) {
      const len = Number(varint());
      if (pos + len > buf.length) throw new Error('truncated field');
      yield {no, bytes: buf.subarray(pos, pos + len)};
      pos += len;
    } else if (wire === 5) {
      if (pos + 4 > buf.length) throw new Error('truncated field');
      yield {no, fixed32: new DataView(view.buffer, view.byteOffset + pos, 4)};
      pos += 4;
    } else if (wire === 1) {
      if (pos + 8 > buf.length) throw new Error('truncated field');
      pos += 8;
    } else {
      throw new Error(`unexpected wire type ${wire}`);
    }
  }
}

const utf8 = new TextDecoder('utf-8', {fatal: true});
const str = (f: Field): string => {
  if (!f.bytes) throw new Error(`field ${f.no} is not a string`);
  return utf8.decode(f.bytes);
};
const int32 = (f: Field): number => {
  if (f.varint === undefined) throw new Error(`field ${f.no} is not an integer`);
  return Number(BigInt.asIntN(32, f.varint));
};
const bool = (f: Field): boolean => int32(f) !== 0;

function parseModelProto(buf: Uint8Array): ParsedModel {
  const pieces: string[] = [];
  const types: PieceType[] = [];
  // sentencepiece_model.proto defaults
  const t = {
    modelType: 1,
    unk: 0,
    bos: 1,
    eos: 2,
    pad: -1,
    byteFallback: false,
    splitDigits: false,
    suffix: false,
    unkSurface: ' \u2047 ',
  };
  const n = {name: '', addDummyPrefix: true, removeExtraWhitespaces: true};
  for (const f of fields(buf)) {
    if (f.no === 1) {
      let piece: string | undefined;
      let type = 1;
      for (const g of fields(f.bytes ?? fail('pieces'))) {
        if (g.no === 1) piece = str(g);
        else if (g.no === 3) type = int32(g);
      }
      if (piece === undefined || piece === '') throw new Error(`piece ${pieces.length} has no text`);
      const pt = PIECE_TYPES[type];
      if (!pt) throw new Error(`piece ${pieces.length} has unknown type ${type}`);
      pieces.push(piece);
      types.push(pt);
    } else if (f.no === 2) {
      for (const g of fields(f.bytes ?? fail('trainer_spec'))) {
        if (g.no === 3) t.modelType = int32(g);
        else if (g.no === 40) t.unk = int32(g);
        else if (g.no === 41) t.bos = int32(g);
        else if (g.no === 42) t.eos = int32(g);
        else if (g.no === 43) t.pad = int32(g);
        else if (g.no === 35) t.byteFallback = bool(g);
        else if (g.no === 25) t.splitDigits = bool(g);
        else if (g.no === 24) t.suffix = bool(g);
        else if (g.no === 44) t.unkSurface = str(g);
      }
    } else if (f.no === 3) {
      for (const g of fields(f.bytes ?? fail('normalizer_spec'))) {
        if (g.no === 1) n.name = str(g);
        else if (g.no === 3) n.addDummyPrefix = bool(g);
        else if (g.no === 4) n.removeExtraWhitespaces = bool(g);
      }
    }
  }
  if (pieces.length === 0) throw new Error('no pieces');
  return {
    pieces,
    types,
    unkId: t.unk,
    bosId: t.bos,
    eosId: t.eos,
    padId: t.pad,
    info: {
      modelType: MODEL_TYPES[t.modelType] ?? 'unknown',
      vocabSize: pieces.length,
      byteFallback: t.byteFallback,
      splitDigits: t.splitDigits,
      treatWhitespaceAsSuffix: t.suffix,
      normalizer: n.name,
      addDummyPrefix: n.addDummyPrefix,
      removeExtraWhitespaces: n.removeExtraWhitespaces,
      unkSurface: t.unkSurface,
    },
  };
}

function fail(what: string): never {
  throw new Error(`${what} is not a message`);
}

/**
 * The library hands text to C++ as UTF-8, and its encoder joins a lone surrogate with the next
 * character into one bogus code point. A lone surrogate cannot come from UTF-8 text (files, stdin),
 * so it is replaced by U+FFFD, as a UTF-8 decoder would.
 */
function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}
