/**
 * The tokenizer against the C++ SentencePiece library: the paper's tokenizer against
 * ../shared/fixtures/tokenizer/tokenizer_expectations.json (skipped without ../shared), our own
 * pldr-tiny tokenizer against fixtures/tokenizer/expectations.json (always), the reference's
 * [END] conventions, streaming decode, and bad model files.
 */
import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {beforeAll, describe, expect, it} from 'vitest';

import {Rng} from '../../src/core/sampling.js';

import {PldrError} from '../../src/core/errors.js';
import {incompleteTail, type PieceType, StreamDecoder, Tokenizer} from '../../src/core/tokenizer.js';
import {ROOT, SHARED, SPECIAL_PIECES, SPECIAL_TYPES, tempDir} from '../helpers.js';

interface EncodeCase {
  text: string;
  ids: number[];
  pieces: string[];
  decoded: string;
  reference_tokenize?: number[];
  decoded_reference_tokenize?: string;
}
interface DecodeCase {
  ids: number[];
  decoded: string;
  pieces?: string[];
}

const PAPER_DIR = join(SHARED, 'fixtures', 'tokenizer');
const PAPER_MODEL = join(PAPER_DIR, 'refinedweb-tokenizer-model-pldrllm-kvg-cache-paper.model');
const PAPER_EXPECT = join(PAPER_DIR, 'tokenizer_expectations.json');
const HAVE_PAPER = existsSync(PAPER_MODEL) && existsSync(PAPER_EXPECT);
if (!HAVE_PAPER) {
  console.warn(
    `[tokenizer] ${PAPER_DIR} not found: skipping the paper-tokenizer parity tests (they need ../shared beside the checkout)`,
  );
}

const TINY_DIR = join(ROOT, 'fixtures', 'tokenizer');
const TINY_MODEL = join(TINY_DIR, 'pldr-tiny.model');
const tinyExpect = JSON.parse(readFileSync(join(TINY_DIR, 'expectations.json'), 'utf8')) as {
  special: {vocab_size: number; first_pieces: string[]};
  encode_cases: EncodeCase[];
  decode_cases: DecodeCase[];
};

const FFFD = '\uFFFD';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** A reproducible uniform [0, 1) stream: the project's seeded generator. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}

function utf8Bytes(cp: number): number[] {
  return Array.from(Buffer.from(String.fromCodePoint(cp), 'utf8'));
}

/** Random ids: normal pieces, specials, whole characters as byte pieces, cut characters, stray bytes. */
function randomIds(tok: Tokenizer, rand: () => number, n: number): number[] {
  const byteId = (b: number) => tok.pieceToId(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)!;
  const space = tok.pieceToId('\u2581');
  const out: number[] = [];
  while (out.length < n) {
    const r = rand();
    if (r < 0.3) out.push(Math.floor(rand() * tok.vocabSize));
    else if (r < 0.4)
      out.push(Math.floor(rand() * 6)); // [PAD] [UNK] [START] [END] [SEP] [CLS]
    else if (r < 0.45 && space !== undefined) out.push(space);
    else if (r < 0.75) {
      // a whole 2-, 3- or 4-byte character
      const k = rand();
      const cp =
        k < 0.33
          ? 0x80 + Math.floor(rand() * 0x780)
          : k < 0.66
            ? 0x4e00 + Math.floor(rand() * 0x5000)
            : 0x1f300 + Math.floor(rand() * 0x300);
      out.push(...utf8Bytes(cp).map(byteId));
    } else if (r < 0.9) {
      // a character cut short
      const bytes = utf8Bytes(0x1f300 + Math.floor(rand() * 0x300));
      out.push(...bytes.slice(0, 1 + Math.floor(rand() * 3)).map(byteId));
    } else out.push(byteId(Math.floor(rand() * 256)));
  }
  return out.slice(0, n);
}

/**
 * Stream `gen` after `context` and check the stream against decode: the chunks add up to the
 * full decode, each step's text so far is decode(all ids so far) less at most 3 held U+FFFDs, and
 * no chunk holds a U+FFFD that the full decode lacks at that place.
 */
function checkStream(tok: Tokenizer, context: number[], gen: number[]): void {
  const full = tok.decode([...context, ...gen]);
  const dec = tok.streamDecoder(context);
  let printed = dec.prefix();
  const contextText = tok.decode(context);
  expect(contextText.startsWith(printed)).toBe(true);
  expect(contextText.slice(printed.length)).toMatch(/^\uFFFD{0,3}$/);
  for (let i = 0; i < gen.length; i++) {
    const chunk = dec.push(gen[i]);
    for (let k = 0; k < chunk.length; k++) {
      if (chunk[k] === FFFD) expect(full[printed.length + k], `U+FFFD at ${printed.length + k}`).toBe(FFFD);
    }
    printed += chunk;
    const sofar = tok.decode([...context, ...gen.slice(0, i + 1)]);
    expect(sofar.startsWith(printed), `step ${i}: ${JSON.stringify(printed)} vs ${JSON.stringify(sofar)}`).toBe(true);
    expect(sofar.slice(printed.length), `step ${i}: held back more than an incomplete character`).toMatch(
      /^\uFFFD{0,3}$/,
    );
    expect(full.startsWith(printed)).toBe(true);
  }
  printed += dec.flush();
  expect(printed).toBe(full);
}

function propertyTest(tok: () => Tokenizer, seed: number, cases: number): void {
  const rand = rng(seed);
  for (let c = 0; c < cases; c++) {
    const context = randomIds(tok(), rand, Math.floor(rand() * 6));
    const gen = randomIds(tok(), rand, Math.floor(rand() * 40));
    checkStream(tok(), context, gen);
  }
}

function typeCounts(tok: Tokenizer): Record<string, number> {
  const counts: Partial<Record<PieceType, number>> = {};
  for (let i = 0; i < tok.vocabSize; i++) counts[tok.pieceType(i)] = (counts[tok.pieceType(i)] ?? 0) + 1;
  return counts;
}

// ---------------------------------------------------------------------------------------------
// The paper's tokenizer (../shared)
// ---------------------------------------------------------------------------------------------

describe.skipIf(!HAVE_PAPER)('paper tokenizer against the C++ library', () => {
  const exp = HAVE_PAPER ? JSON.parse(readFileSync(PAPER_EXPECT, 'utf8')) : {encode_cases: [], decode_cases: []};
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await Tokenizer.load(PAPER_MODEL);
  });

  it('has the vocabulary, special ids and settings of docs/spec.md §2', () => {
    expect(tok.vocabSize).toBe(32000);
    expect(tok.vocabSize).toBe(exp.special.vocab_size);
    expect([tok.padId, tok.unkId, tok.bosId, tok.endId]).toEqual([0, 1, 2, 3]);
    expect([0, 1, 2, 3, 4, 5].map((i) => tok.idToPiece(i))).toEqual(SPECIAL_PIECES);
    expect([0, 1, 2, 3, 4, 5].map((i) => tok.pieceType(i))).toEqual(SPECIAL_TYPES);
    for (const p of exp.special.first_pieces) expect(tok.idToPiece(p.id)).toBe(p.piece);
    for (let b = 0; b < 256; b++) {
      expect(tok.idToPiece(6 + b)).toBe(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
      expect(tok.byteValue(6 + b)).toBe(b);
    }
    expect(tok.byteValue(262)).toBeUndefined();
    const mp = exp.model_proto;
    expect(typeCounts(tok)).toEqual({
      control: mp.piece_type_counts.CONTROL,
      unknown: mp.piece_type_counts.UNKNOWN,
      user_defined: mp.piece_type_counts.USER_DEFINED,
      byte: mp.piece_type_counts.BYTE,
      normal: mp.piece_type_counts.NORMAL,
    });
    expect(tok.info).toEqual({
      modelType: 'unigram',
      vocabSize: 32000,
      byteFallback: mp.byte_fallback,
      splitDigits: mp.split_digits,
      treatWhitespaceAsSuffix: mp.treat_whitespace_as_suffix,
      normalizer: mp.normalizer.name,
      addDummyPrefix: mp.normalizer.add_dummy_prefix,
      removeExtraWhitespaces: mp.normalizer.remove_extra_whitespaces,
      unkSurface: mp.unk_surface,
    });
  });

  it.each(exp.encode_cases as EncodeCase[])('encodes $text', (c) => {
    expect(tok.encode(c.text)).toEqual(c.ids);
    expect(tok.pieces(c.text)).toEqual(c.pieces);
    expect(c.ids.map((i) => tok.idToPiece(i))).toEqual(c.pieces);
    expect(tok.tokenize(c.text)).toEqual(c.reference_tokenize);
    expect(tok.decode(c.ids)).toBe(c.decoded);
    expect(tok.decode(c.reference_tokenize!)).toBe(c.decoded_reference_tokenize);
  });

  it.each(exp.decode_cases as DecodeCase[])('decodes $ids', (c) => {
    expect(tok.decode(c.ids)).toBe(c.decoded);
    expect(c.ids.map((i) => tok.idToPiece(i))).toEqual(c.pieces);
  });

  it('gives the Appendix-B prompt ids; the empty prompt is [END]', () => {
    const text = 'Write a letter requesting people use language models responsibly.';
    const ids = [6159, 270, 1943, 17057, 372, 404, 1554, 2192, 28095, 262];
    expect(tok.encode(text)).toEqual(ids);
    expect(tok.tokenize(text)).toEqual([...ids, 3]);
    expect(tok.promptIds(text)).toEqual(ids);
    expect(tok.promptIds('')).toEqual([3]);
    expect(tok.promptIds(' \n')).toEqual([3]);
    expect(tok.tokenize('')[0]).toBe(3); // the reference's stop id
  });

  it('streams like decode on random id sequences', () => {
    propertyTest(() => tok, 7, 120);
  });
});

// ---------------------------------------------------------------------------------------------
// Our tokenizer (fixtures/tokenizer)
// ---------------------------------------------------------------------------------------------

describe('pldr-tiny tokenizer against the C++ library', () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await Tokenizer.load(TINY_MODEL);
  });

  it('has the paper layout: specials 0-5, byte pieces 6-261', () => {
    expect(tok.vocabSize).toBe(512);
    expect(tok.vocabSize).toBe(tinyExpect.special.vocab_size);
    expect([0, 1, 2, 3, 4, 5].map((i) => tok.idToPiece(i))).toEqual(tinyExpect.special.first_pieces);
    expect([0, 1, 2, 3, 4, 5].map((i) => tok.pieceType(i))).toEqual(SPECIAL_TYPES);
    expect([tok.padId, tok.unkId, tok.bosId, tok.endId]).toEqual([0, 1, 2, 3]);
    for (let b = 0; b < 256; b++) {
      expect(tok.pieceType(6 + b)).toBe('byte');
      expect(tok.byteValue(6 + b)).toBe(b);
    }
    expect(typeCounts(tok)).toEqual({control: 3, unknown: 1, user_defined: 2, byte: 256, normal: 250});
    expect(tok.info).toMatchObject({
      modelType: 'unigram',
      byteFallback: true,
      splitDigits: true,
      normalizer: 'nmt_nfkc',
      addDummyPrefix: true,
      removeExtraWhitespaces: true,
    });
    expect(tok.pieceToId('[SEP]')).toBe(4);
    expect(tok.pieceToId('no such piece')).toBeUndefined();
  });

  it.each(tinyExpect.encode_cases)('encodes $text', (c) => {
    expect(tok.encode(c.text)).toEqual(c.ids);
    expect(tok.pieces(c.text)).toEqual(c.pieces);
    expect(c.ids.map((i) => tok.idToPiece(i))).toEqual(c.pieces);
    expect(tok.decode(c.ids)).toBe(c.decoded);
    expect(tok.tokenize(c.text)).toEqual([...c.ids, 3]);
    expect(tok.decode(tok.tokenize(c.text))).toBe(c.decoded);
  });

  it.each(tinyExpect.decode_cases)('decodes $ids', (c) => {
    expect(tok.decode(c.ids)).toBe(c.decoded);
  });

  it('follows the reference prompt rule', () => {
    expect(tok.promptIds('')).toEqual([3]);
    expect(tok.promptIds('   ')).toEqual([3]);
    expect(tok.promptIds('\n\t')).toEqual([3]);
    const text = 'The baker sold a loaf of bread.';
    const ids = tok.encode(text);
    expect(ids.length).toBeGreaterThan(1);
    expect(tok.promptIds(text)).toEqual(ids);
    expect(tok.tokenize(text)).toEqual([...ids, 3]);
    expect(tok.promptIds('a')).toEqual(tok.encode('a'));
  });

  it('never encodes to [PAD], [UNK], [START] or [END]', () => {
    const rand = rng(99);
    const texts = [
      ...readFileSync(join(TINY_DIR, 'corpus.txt'), 'utf8').split('\n'),
      '[START] [UNK] [PAD] [END]',
      '<unk> <s> </s>',
    ];
    for (let k = 0; k < 200; k++) {
      let s = '';
      for (let j = 0; j < 20; j++)
        s += String.fromCodePoint(
          rand() < 0.5 ? 0x20 + Math.floor(rand() * 0x60) : Math.floor(rand() * 0x2ffff) % 0xd800,
        );
      texts.push(s);
    }
    for (const t of texts) {
      const ids = tok.encode(t);
      for (const special of [0, 1, 2, 3]) expect(ids, JSON.stringify(t)).not.toContain(special);
    }
  });

  it('matches [SEP] and [CLS] literally but not [END]', () => {
    expect(tok.encode('[SEP]')).toContain(4);
    expect(tok.encode('x [CLS] y')).toContain(5);
    expect(tok.encode('[END]')).not.toContain(3);
    expect(tok.decode(tok.encode('[END]'))).toBe('[END]');
  });

  it('replaces lone surrogates instead of swallowing the next character', () => {
    expect(tok.decode(tok.encode('a\uD800b'))).toBe(tok.decode(tok.encode('a\uFFFDb')));
    expect(tok.decode(tok.encode('a\uD800b'))).toContain('b');
  });

  it('rejects ids outside the vocabulary with a PldrError', () => {
    expect(() => tok.decode([5, 512])).toThrow(PldrError);
    expect(() => tok.decode([-1])).toThrow(PldrError);
    expect(() => tok.decode([1.5])).toThrow(PldrError);
    expect(() => tok.idToPiece(512)).toThrow(/outside the vocabulary/);
  });

  describe('StreamDecoder', () => {
    const ids = (pieces: string[]) => pieces.map((p) => tok.pieceToId(p)!);

    it('holds the bytes of a character until it is complete', () => {
      const emoji = ids(['<0xF0>', '<0x9F>', '<0x98>', '<0x80>']);
      expect(emoji.map((i) => tok.idToPiece(i))).toEqual(['<0xF0>', '<0x9F>', '<0x98>', '<0x80>']);
      const dec = new StreamDecoder(tok, tok.promptIds('The baker'));
      expect(dec.prefix()).toBe('The baker');
      expect(emoji.map((i) => dec.push(i))).toEqual(['', '', '', '😀']);
      expect(dec.push(tok.pieceToId('\u2581a')!)).toBe(' a');
      expect(dec.push(3)).toBe('');
      expect(dec.flush()).toBe('');
    });

    it('emits a character split across the prompt and the continuation', () => {
      const emoji = ids(['<0xF0>', '<0x9F>', '<0x98>', '<0x80>']);
      const dec = tok.streamDecoder([...tok.encode('the'), ...emoji.slice(0, 2)]);
      expect(dec.prefix()).toBe('the');
      expect(dec.push(emoji[2])).toBe('');
      expect(dec.push(emoji[3])).toBe('😀');
    });

    it('gives U+FFFD per byte once a sequence cannot complete, and at flush', () => {
      const [f0, x9f, x98] = ids(['<0xF0>', '<0x9F>', '<0x98>']);
      let dec = tok.streamDecoder();
      expect([dec.push(f0), dec.push(x9f)]).toEqual(['', '']);
      expect(dec.push(tok.pieceToId('<0x41>')!)).toBe(`${FFFD}${FFFD}A`);
      dec = tok.streamDecoder();
      [f0, x9f, x98].forEach((i) => expect(dec.push(i)).toBe(''));
      expect(dec.flush()).toBe(FFFD.repeat(3));
      expect(() => dec.push(f0)).toThrow(/after flush/);
      dec = tok.streamDecoder();
      expect(dec.push(tok.pieceToId('<0xFF>')!)).toBe(FFFD); // never a lead byte: not held
      expect(dec.push(f0)).toBe('');
      expect(dec.push(3)).toBe(FFFD); // a control piece ends the byte run
    });

    it('drops the leading space only at the very start, as decode does', () => {
      const the = tok.pieceToId('\u2581the')!;
      let dec = tok.streamDecoder([3]); // the empty prompt
      expect(dec.prefix()).toBe('');
      expect(dec.push(the)).toBe('the');
      expect(dec.push(the)).toBe(' the');
      dec = tok.streamDecoder(tok.promptIds('bread'));
      expect(dec.push(the)).toBe(' the');
      dec = tok.streamDecoder();
      expect([dec.push(tok.pieceToId('\u2581')!), dec.push(the), dec.push(the)]).toEqual(['', 'the', ' the']);
      expect(tok.decode(ids(['\u2581', '\u2581the', '\u2581the']))).toBe('the the');
    });

    it('rejects ids outside the vocabulary', () => {
      expect(() => tok.streamDecoder().push(512)).toThrow(PldrError);
      expect(() => tok.streamDecoder([9999])).toThrow(PldrError);
    });

    it('streams like decode on 400 random id sequences', () => {
      propertyTest(() => tok, 2024, 400);
    });
  });
});

describe('incompleteTail (SentencePiece UTF-8 rules)', () => {
  it.each([
    [[], 0],
    [[0x41], 0],
    [[0xe2], 1],
    [[0xe2, 0x82], 2],
    [[0xe2, 0x82, 0xac], 0],
    [[0xf0, 0x9f], 2],
    [[0xf0, 0x9f, 0x98], 3],
    [[0xf0, 0x9f, 0x98, 0x41], 0],
    [[0xf0, 0x8f], 0], // only overlong completions
    [[0xe0, 0x9f], 0], // overlong
    [[0xe0, 0xa0], 2],
    [[0xed, 0xa0], 0], // surrogates
    [[0xed, 0x9f], 2],
    [[0xf4, 0x90], 0], // above U+10FFFF
    [[0xf4, 0x8f], 2],
    [[0xf5], 0],
    [[0xc1], 0],
    [[0xc2], 1],
    [[0x80], 0],
    [[0xc3, 0xa9, 0xe2, 0x82], 2],
    [[0xe2, 0xc3], 1], // E2 is dead, C3 may still complete
  ])('%j → %i', (bytes, n) => {
    expect(incompleteTail(bytes)).toBe(n);
  });
});

// ---------------------------------------------------------------------------------------------
// Bad model files
// ---------------------------------------------------------------------------------------------

describe('Tokenizer.load on bad input', () => {
  const dir = tempDir('tok');
  const oneLine = async (path: string, pattern: RegExp) => {
    const err = await Tokenizer.load(path).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PldrError);
    expect((err as Error).message).toMatch(pattern);
    expect((err as Error).message).not.toContain('\n');
  };

  it('a missing file', async () => {
    await oneLine(join(dir, 'nope.model'), /not found/);
  });

  it('a directory', async () => {
    await oneLine(dir, /directory/);
  });

  it('a text file', async () => {
    const p = join(dir, 'text.model');
    writeFileSync(p, 'this is not a SentencePiece model\nat all\n');
    await oneLine(p, /not a SentencePiece model/);
  });

  it('an empty file', async () => {
    const p = join(dir, 'empty.model');
    writeFileSync(p, '');
    await oneLine(p, /not a SentencePiece model/);
  });

  it('a truncated model', async () => {
    const p = join(dir, 'cut.model');
    writeFileSync(p, readFileSync(TINY_MODEL).subarray(0, 3000));
    await oneLine(p, /not a SentencePiece model/);
  });

  it('random bytes', async () => {
    const rand = rng(5);
    const p = join(dir, 'random.model');
    writeFileSync(
      p,
      Uint8Array.from({length: 4096}, () => Math.floor(rand() * 256)),
    );
    await oneLine(p, /not a SentencePiece model/);
  });

  it('a valid protobuf that the library rejects', async () => {
    // one piece, no trainer spec: parses, but SentencePiece refuses it (no unk piece)
    const piece = Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x63, 0x18, 0x01]);
    const p = join(dir, 'tiny-proto.model');
    writeFileSync(p, Buffer.concat([Buffer.from([0x0a, piece.length]), piece]));
    await oneLine(p, /not a SentencePiece model/);
  });
});
