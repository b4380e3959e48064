/**
 * Corpus resolution and document streaming (src/core/train/corpus.ts): files, folders, globs, the
 * plain-text splits, JSON Lines / JSON with a custom field and bad lines, Parquet (written by our
 * own minimal writer, tests/core/train/parquet.ts), and the one-line errors.
 */
import {chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {expectRejection as rejects} from '../../helpers.js';

import {
  type CorpusDocument,
  type CorpusOptions,
  corpusBytes,
  globToRegExp,
  matchGlob,
  readDocuments,
  resolveCorpus,
} from '../../../src/core/train/corpus.js';
import {writeParquet} from './parquet.js';

let dir: string;

function put(rel: string, content: string | Uint8Array): string {
  const p = join(dir, rel);
  mkdirSync(join(p, '..'), {recursive: true});
  writeFileSync(p, content);
  return p;
}

async function docs(inputs: string | string[], opts: CorpusOptions = {}): Promise<CorpusDocument[]> {
  const out: CorpusDocument[] = [];
  for await (const d of readDocuments(resolveCorpus(inputs, {cwd: dir}), opts)) out.push(d);
  return out;
}

const texts = async (inputs: string | string[], opts: CorpusOptions = {}) =>
  (await docs(inputs, opts)).map((d) => d.text);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pldr-corpus-'));
  put('tree/b.txt', 'B one\n\nB two\n');
  put('tree/a.md', '# A\n');
  put('tree/sub/c.txt', 'C\n');
  put('tree/sub/deeper/d.jsonl', '{"text": "D"}\n');
  put('tree/sub/skip.bin', 'binary');
  put('tree/.hidden/h.txt', 'hidden\n');
  put('tree/.h.txt', 'hidden\n');
  put('tree/a.md.bak', 'backup\n');
  mkdirSync(join(dir, 'empty-folder'));
  put('other/x1.txt', 'x1\n');
  put('other/x2.txt', 'x2\n');
  put('other/x10.txt', 'x10\n');
  put('other/notes.data', 'explicitly named files of any extension are text\n');
});

afterAll(() => {
  rmSync(dir, {recursive: true, force: true});
});

describe('glob matcher', () => {
  it('*, ? and ** segments', () => {
    expect(matchGlob('*.txt', 'a.txt')).toBe(true);
    expect(matchGlob('*.txt', 'sub/a.txt')).toBe(false);
    expect(matchGlob('x?.txt', 'x1.txt')).toBe(true);
    expect(matchGlob('x?.txt', 'x10.txt')).toBe(false);
    expect(matchGlob('**/*.txt', 'a.txt')).toBe(true);
    expect(matchGlob('**/*.txt', 'a/b/c.txt')).toBe(true);
    expect(matchGlob('a/**/c.txt', 'a/c.txt')).toBe(true);
    expect(matchGlob('a/**/c.txt', 'a/x/y/c.txt')).toBe(true);
    expect(matchGlob('a/**/c.txt', 'b/x/c.txt')).toBe(false);
    expect(matchGlob('a/**', 'a/x/y')).toBe(true);
    expect(matchGlob('data.(1)+.txt', 'data.(1)+.txt')).toBe(true); // regex characters are literal
    expect(matchGlob('data.txt', 'dataXtxt')).toBe(false);
    expect(globToRegExp('*').test('a/b')).toBe(false);
  });
});

describe('resolveCorpus', () => {
  it('a file, a folder (recursive, sorted, corpus extensions only, hidden skipped)', () => {
    const rel = (inputs: string | string[]) =>
      resolveCorpus(inputs, {cwd: dir}).map((s) => s.path.slice(dir.length + 1));
    expect(rel('tree')).toEqual(['tree/a.md', 'tree/b.txt', 'tree/sub/c.txt', 'tree/sub/deeper/d.jsonl']);
    expect(rel('other/notes.data')).toEqual(['other/notes.data']);
    const [src] = resolveCorpus(join(dir, 'tree/b.txt'));
    expect(src.kind).toBe('text');
    expect(src.size).toBe(statSync(join(dir, 'tree/b.txt')).size);
    expect(resolveCorpus('tree/sub/deeper/d.jsonl', {cwd: dir})[0].kind).toBe('jsonl');
  });

  it('globs: *, ?, ** and folders matched by a glob; inputs keep their order; duplicates once', () => {
    const rel = (inputs: string | string[]) =>
      resolveCorpus(inputs, {cwd: dir}).map((s) => s.path.slice(dir.length + 1));
    expect(rel('other/*.txt')).toEqual(['other/x1.txt', 'other/x10.txt', 'other/x2.txt']);
    expect(rel('other/x?.txt')).toEqual(['other/x1.txt', 'other/x2.txt']);
    expect(rel('tree/**/*.txt')).toEqual(['tree/b.txt', 'tree/sub/c.txt']);
    expect(rel('**/*.jsonl')).toEqual(['tree/sub/deeper/d.jsonl']);
    expect(rel('tree/s*')).toEqual(['tree/sub/c.txt', 'tree/sub/deeper/d.jsonl']);
    expect(rel(join(dir, 'other', 'x1*'))).toEqual(['other/x1.txt', 'other/x10.txt']); // absolute glob
    expect(rel(['other/x2.txt', 'other/*.txt', 'tree/a.md'])).toEqual([
      'other/x2.txt',
      'other/x1.txt',
      'other/x10.txt',
      'tree/a.md',
    ]);
  });

  it('missing paths, empty folders and globs matching nothing are one-line errors', async () => {
    await rejects(() => resolveCorpus('nope.txt', {cwd: dir}), /corpus path not found: nope\.txt/);
    await rejects(
      () => resolveCorpus('empty-folder', {cwd: dir}),
      /corpus folder empty-folder has no \.txt, \.md, \.jsonl, \.json, \.parquet files/,
    );
    await rejects(() => resolveCorpus('other/*.csv', {cwd: dir}), /no corpus files .* match other\/\*\.csv/);
    await rejects(() => resolveCorpus([], {cwd: dir}), /no corpus given/);
  });
});

describe('plain text', () => {
  it('paragraphs (default), lines, file; CRLF and a BOM; blank documents skipped', async () => {
    put('t/p.txt', '\uFEFFFirst para\nsecond line\r\n\r\n\n  \nSecond para\n\n\nThird\n');
    expect(await texts('t/p.txt')).toEqual(['First para\nsecond line', 'Second para', 'Third']);
    expect(await texts('t/p.txt', {split: 'lines'})).toEqual(['First para', 'second line', 'Second para', 'Third']);
    expect(await texts('t/p.txt', {split: 'file'})).toEqual([
      'First para\nsecond line\n\n\n  \nSecond para\n\n\nThird',
    ]);
    const d = await docs('t/p.txt');
    expect(d.map((x) => x.location.slice(dir.length + 1))).toEqual(['t/p.txt:1', 't/p.txt:6', 't/p.txt:9']);
    expect(d[d.length - 1].bytesRead).toBe(statSync(join(dir, 't/p.txt')).size);
  });

  it('no final newline; multibyte characters across read chunks', async () => {
    const long = 'é'.repeat(700_000); // 1.4 MB: crosses the 1 MiB read chunk inside a character
    put('t/long.txt', `${long}\nlast`);
    expect(await texts('t/long.txt', {split: 'lines'})).toEqual([long, 'last']);
  });

  it('documents over the size limit are a one-line error naming the file', async () => {
    put('t/big.txt', `${'x'.repeat(50)}\n`.repeat(100));
    await rejects(
      texts('t/big.txt', {maxDocumentChars: 1000}),
      /t\/big\.txt:1: document longer than 1000 characters; read it with split "lines"/,
    );
    await rejects(
      texts('t/big.txt', {split: 'file', maxDocumentChars: 1000}),
      /t\/big\.txt:1: document longer than 1000 characters; read it with split "paragraphs"/,
    );
    expect(await texts('t/big.txt', {split: 'lines', maxDocumentChars: 1000})).toHaveLength(100);
    put('t/line.txt', 'y'.repeat(5000));
    await rejects(
      texts('t/line.txt', {split: 'lines', maxDocumentChars: 1000}),
      /t\/line\.txt:1: a line longer than 1000 characters/,
    );
  });

  it('a file gone between resolution and reading is a one-line error', async () => {
    const p = put('t/gone.txt', 'soon gone\n');
    const sources = resolveCorpus(p);
    rmSync(p);
    await rejects(readDocuments(sources).next(), /cannot read .*gone\.txt: no such file or directory/);
  });

  it('an unreadable file is a one-line error', async () => {
    if (process.getuid?.() === 0) {
      console.log('[corpus] running as root, which reads any file: skipping the permission test');
      return;
    }
    const p = put('t/secret.txt', 'secret\n');
    chmodSync(p, 0o000);
    try {
      await rejects(texts('t/secret.txt'), /cannot read .*secret\.txt: permission denied/);
    } finally {
      chmodSync(p, 0o644);
    }
  });

  it('several inputs stream in order, bytesRead counting across files', async () => {
    const d = await docs(['other/x2.txt', 'other/x1.txt']);
    expect(d.map((x) => x.text)).toEqual(['x2', 'x1']);
    const sources = resolveCorpus(['other/x2.txt', 'other/x1.txt'], {cwd: dir});
    expect(d[1].bytesRead).toBe(corpusBytes(sources));
  });
});

describe('JSON Lines and JSON', () => {
  it('a custom text field; null skipped; blank lines ignored', async () => {
    put('j/a.jsonl', '{"content": "one", "id": 1}\n\n{"content": null}\n{"id": 3, "content": "three"}\n');
    const d = await docs('j/a.jsonl', {textField: 'content'});
    expect(d.map((x) => x.text)).toEqual(['one', 'three']);
    expect(d.map((x) => x.location.slice(dir.length + 1))).toEqual(['j/a.jsonl:1', 'j/a.jsonl:4']);
  });

  it('a line without the field, a non-string value, bad JSON: PldrError naming file:line', async () => {
    put('j/missing.jsonl', '{"text": "ok"}\n{"content": "no text field"}\n');
    await rejects(texts('j/missing.jsonl'), /j\/missing\.jsonl:2: no "text" field/);
    put('j/number.jsonl', '{"text": "ok"}\n{"text": 42}\n');
    await rejects(texts('j/number.jsonl'), /j\/number\.jsonl:2: field "text" is a number, not a string/);
    put('j/bad.jsonl', '{"text": "ok"}\n{"text": "unterminated\n');
    await rejects(texts('j/bad.jsonl'), /j\/bad\.jsonl:2: not valid JSON/);
    put('j/array-line.jsonl', '["text"]\n');
    await rejects(texts('j/array-line.jsonl'), /j\/array-line\.jsonl:1: expected a JSON object with a "text" field/);
  });

  it('.json: an array of objects or strings, JSON Lines under a .json name, one pretty-printed object', async () => {
    put('j/arr.json', ' [{"body": "x"}, {"body": "y"}]');
    expect(await texts('j/arr.json', {textField: 'body'})).toEqual(['x', 'y']);
    put('j/strings.json', '["s1", "", "s2"]');
    expect(await texts('j/strings.json')).toEqual(['s1', 's2']);
    put('j/lines.json', '{"text": "l1"}\n{"text": "l2"}\n');
    expect(await texts('j/lines.json')).toEqual(['l1', 'l2']);
    put('j/pretty.json', '{\n  "text": "whole",\n  "meta": {"a": 1}\n}\n');
    expect(await texts('j/pretty.json')).toEqual(['whole']);
    put('j/bad-arr.json', '[{"body": "x"}, {"other": 1}]');
    await rejects(texts('j/bad-arr.json', {textField: 'body'}), /j\/bad-arr\.json#1: no "body" field/);
  });
});

describe('Parquet', () => {
  const content = ['first document', null, 'third', '', 'fifth', 'sixth', 'seventh'];
  const ids = content.map((_, i) => i);

  it('reads the text column row group by row group; nulls and empty strings skipped', async () => {
    put(
      'p/plain.parquet',
      writeParquet(
        [
          {name: 'id', type: 'int32', values: ids},
          {name: 'content', type: 'utf8', optional: true, values: content},
        ],
        {rowGroupSize: 3},
      ),
    );
    const d = await docs('p/plain.parquet', {textField: 'content'});
    expect(d.map((x) => x.text)).toEqual(['first document', 'third', 'fifth', 'sixth', 'seventh']);
    expect(d.map((x) => x.location.split('#')[1])).toEqual(['0', '2', '4', '5', '6']);
    expect(d[d.length - 1].bytesRead).toBeGreaterThan(0);
  });

  it('GZIP-compressed pages; a folder mixing formats', async () => {
    put('p/mixed/a.parquet', writeParquet([{name: 'text', type: 'utf8', values: ['pa', 'pb']}], {gzip: true}));
    put('p/mixed/b.txt', 'tb\n');
    put('p/mixed/c.jsonl', '{"text": "jc"}\n');
    expect(await texts('p/mixed')).toEqual(['pa', 'pb', 'tb', 'jc']);
  });

  it('a missing column and a non-Parquet file are one-line errors', async () => {
    put(
      'p/ids.parquet',
      writeParquet([
        {name: 'id', type: 'int32', values: [1, 2]},
        {name: 'body', type: 'utf8', values: ['a', 'b']},
      ]),
    );
    await rejects(texts('p/ids.parquet'), /p\/ids\.parquet has no column "text" \(columns: id, body\)/);
    await rejects(texts('p/ids.parquet', {textField: 'id'}), /column "id" holds number values, not text/);
    put('p/fake.parquet', 'not parquet at all');
    await rejects(texts('p/fake.parquet'), /p\/fake\.parquet is not a readable Parquet file/);
  });
});
