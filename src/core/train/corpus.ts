/**
 * Corpus inputs → an ordered, deterministic stream of documents (docs/spec.md §6.1: the reference tokenises
 * each sample of its dataset; here a "sample" is a document read from local files).
 *
 * Resolution (`resolveCorpus`): each input, in the order given, is
 *   - a file: taken whatever its extension (unknown extensions are read as plain text);
 *   - a folder: every file below it with a corpus extension (.txt, .md, .jsonl, .json, .parquet),
 *     recursively, sorted by relative path (code-point order, locale-independent);
 *   - a glob (contains `*` or `?`): `*` matches within one path segment, `?` one character of a
 *     segment, a `**` segment any number of segments (zero included). Matched files must have a
 *     corpus extension; a matched folder is expanded like a folder input. Sorted as above.
 * Hidden entries (names starting with ".") are skipped when walking folders and globs. A file
 * reached twice (e.g. by a folder and a glob) is read once, at its first place.
 *
 * Documents (`readDocuments`), one at a time, never the whole corpus in memory:
 *   - plain text (.txt, .md, anything else): `split` decides what a document is —
 *       'paragraphs' (the default): blocks of lines separated by blank (whitespace-only) lines. It
 *         keeps memory bounded on big files, matches how prose corpora separate documents, and a
 *         file without blank lines is simply one document;
 *       'lines': every non-blank line (one-document-per-line corpora);
 *       'file': the whole file.
 *   - JSON Lines (.jsonl): one document per line, the string at `textField` (default "text").
 *     A line that is not a JSON object with that field, or whose value is not a string, is a
 *     PldrError naming file:line. A null value is skipped (as a null cell in Parquet).
 *   - .json: a file starting with "[" is one JSON array of strings or of objects with `textField`
 *     (read whole, so it is limited to `maxDocumentChars` bytes); otherwise it is read as JSON Lines,
 *     which is what `datasets`' to_json writes under a .json name; a single pretty-printed object
 *     with `textField` is one document.
 *   - .parquet: the `textField` column, read row group by row group with hyparquet (nulls skipped).
 *     SNAPPY, GZIP, BROTLI and uncompressed files are read; ZSTD/LZ4 cannot be on Node 20.
 * Whitespace-only documents are skipped in every format. Lines end at "\n" ("\r\n" accepted); a
 * UTF-8 BOM is dropped; invalid UTF-8 becomes U+FFFD.
 */
import {promises as fsp, statSync, readdirSync, type Stats} from 'node:fs';
import {extname, isAbsolute, join, resolve, sep} from 'node:path';

import {oneLine, PldrError} from '../errors.js';
import {COMPRESSORS, notParquet, unreadableRows} from '../io/parquet.js';
import {fsMessage} from '../io/fsutil.js';

export type TextSplit = 'paragraphs' | 'lines' | 'file';
export type SourceKind = 'text' | 'jsonl' | 'json' | 'parquet';

export interface CorpusOptions {
  /** What a document is in plain-text files (default 'paragraphs'). */
  split?: TextSplit;
  /** Field (JSONL/JSON) or column (Parquet) holding the text (default "text"). */
  textField?: string;
  /** Largest document or line accepted, in characters (UTF-16 code units); also the largest whole-file JSON array, in bytes (default 2^28). */
  maxDocumentChars?: number;
}

export interface CorpusSource {
  /** Absolute path. */
  path: string;
  kind: SourceKind;
  size: number;
  mtimeMs: number;
}

export interface CorpusDocument {
  text: string;
  /** The file the document came from (absolute path). */
  source: string;
  /** Where in the file: "path:line" (text, JSON Lines; the first line of a paragraph), "path#index" (JSON array element, Parquet row, 0-based). */
  location: string;
  /** Bytes of the corpus read so far, all files together (for progress). */
  bytesRead: number;
}

export const CORPUS_EXTENSIONS: readonly string[] = ['.txt', '.md', '.jsonl', '.json', '.parquet'];
export const DEFAULT_SPLIT: TextSplit = 'paragraphs';
export const DEFAULT_TEXT_FIELD = 'text';
const DEFAULT_MAX_DOCUMENT_CHARS = 1 << 28;
const CHUNK_BYTES = 1 << 20;

export function sourceKind(path: string): SourceKind {
  const ext = extname(path).toLowerCase();
  if (ext === '.jsonl') return 'jsonl';
  if (ext === '.json') return 'json';
  if (ext === '.parquet') return 'parquet';
  return 'text';
}

function hasCorpusExtension(path: string): boolean {
  return CORPUS_EXTENSIONS.includes(extname(path).toLowerCase());
}

export function isGlob(input: string): boolean {
  return /[*?]/.test(input);
}

/**
 * A glob (`*`, `?`, `**` segments; "/" separates segments, "\" too on Windows) as a RegExp over
 * "/"-separated relative paths. Everything else matches literally.
 */
export function globToRegExp(pattern: string): RegExp {
  const segments = splitSegments(pattern);
  let src = '';
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    const last = i === segments.length - 1;
    if (seg === '**') {
      src += last ? '.*' : '(?:[^/]+/)*';
      continue;
    }
    for (const ch of seg) {
      if (ch === '*') src += '[^/]*';
      else if (ch === '?') src += '[^/]';
      else src += ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    }
    if (!last) src += '/';
  }
  return new RegExp(`^${src}$`, 'u');
}

/** Whether a "/"-separated relative path matches the glob. */
export function matchGlob(pattern: string, path: string): boolean {
  return globToRegExp(pattern).test(path.split(sep).join('/'));
}

function splitSegments(p: string): string[] {
  return p.split(sep === '\\' ? /[\\/]/ : /\//).filter((s, i) => s !== '' || i === 0);
}

/** Resolve corpus inputs (files, folders, globs) to an ordered list of source files. PldrError on a missing input or an empty result. */
export function resolveCorpus(inputs: string | readonly string[], opts: {cwd?: string} = {}): CorpusSource[] {
  const list = typeof inputs === 'string' ? [inputs] : [...inputs];
  if (list.length === 0) throw new PldrError('no corpus given: name at least one file, folder or glob');
  const cwd = opts.cwd ?? process.cwd();
  const out: CorpusSource[] = [];
  const seen = new Set<string>();
  const add = (path: string, st: Stats) => {
    if (seen.has(path)) return;
    seen.add(path);
    out.push({path, kind: sourceKind(path), size: st.size, mtimeMs: st.mtimeMs});
  };
  for (const input of list) {
    if (input.trim() === '') throw new PldrError('empty corpus path');
    const abs = resolve(cwd, input);
    const st = statOrUndefined(abs);
    let found: [string, Stats][];
    if (st?.isFile()) {
      found = [[abs, st]];
    } else if (st?.isDirectory()) {
      found = walkFolder(abs);
      if (found.length === 0)
        throw new PldrError(`corpus folder ${input} has no ${CORPUS_EXTENSIONS.join(', ')} files`);
    } else if (st) {
      throw new PldrError(`corpus path ${input} is neither a file nor a folder`);
    } else if (isGlob(input)) {
      found = expandGlob(input, cwd);
      if (found.length === 0) throw new PldrError(`no corpus files (${CORPUS_EXTENSIONS.join(', ')}) match ${input}`);
    } else {
      throw new PldrError(`corpus path not found: ${input}`);
    }
    for (const [p, s] of found) add(p, s);
  }
  return out;
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new PldrError(`cannot read corpus path ${path}: ${fsMessage(e)}`);
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => !n.startsWith('.'));
  } catch (e) {
    throw new PldrError(`cannot read corpus folder ${dir}: ${fsMessage(e)}`);
  }
}

/** Every corpus file below `dir`, sorted by "/"-separated relative path. */
function walkFolder(dir: string): [string, Stats][] {
  const files: [string, string, Stats][] = []; // [relative, absolute, stats]
  const visit = (abs: string, rel: string) => {
    for (const name of listDir(abs)) {
      const a = join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = statOrUndefined(a);
      if (!st) continue; // a dangling link
      if (st.isDirectory()) visit(a, r);
      else if (st.isFile() && hasCorpusExtension(name)) files.push([r, a, st]);
    }
  };
  visit(dir, '');
  files.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return files.map(([, a, st]) => [a, st]);
}

function expandGlob(pattern: string, cwd: string): [string, Stats][] {
  const segments = splitSegments(pattern);
  // The leading segments without wildcards are the folder the walk starts from.
  let k = 0;
  while (k < segments.length - 1 && !isGlob(segments[k])) k++;
  const baseSegs = segments.slice(0, k);
  const rest = segments.slice(k);
  let base = baseSegs.join('/');
  if (base === '' && isAbsolute(pattern)) base = pattern.startsWith('/') ? '/' : `${pattern.slice(0, 2)}\\`;
  const baseAbs = resolve(cwd, base === '' ? '.' : base);
  const re = globToRegExp(rest.join('/'));
  const maxDepth = rest.includes('**') ? Infinity : rest.length;
  const st = statOrUndefined(baseAbs);
  if (!st?.isDirectory()) return [];
  const files: [string, string, Stats][] = [];
  const visit = (abs: string, rel: string, depth: number) => {
    for (const name of listDir(abs)) {
      const a = join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const s = statOrUndefined(a);
      if (!s) continue;
      if (s.isDirectory()) {
        if (re.test(r))
          for (const [p, fs] of walkFolder(a))
            files.push([
              `${r}/${p
                .slice(a.length + 1)
                .split(sep)
                .join('/')}`,
              p,
              fs,
            ]);
        else if (depth + 1 < maxDepth) visit(a, r, depth + 1);
      } else if (s.isFile() && re.test(r) && hasCorpusExtension(name)) {
        files.push([r, a, s]);
      }
    }
  };
  visit(baseAbs, '', 0);
  files.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return files.map(([, a, s]) => [a, s]);
}

/** Total bytes of the sources (the denominator of a progress bar over bytesRead). */
export function corpusBytes(sources: readonly CorpusSource[]): number {
  return sources.reduce((a, s) => a + s.size, 0);
}

/**
 * The documents of the sources, in order, one at a time. PldrError (one line) on an unreadable file,
 * a bad JSON line or a missing field/column; the error names file:line (or file#row).
 */
export async function* readDocuments(
  sources: readonly CorpusSource[],
  opts: CorpusOptions = {},
): AsyncGenerator<CorpusDocument> {
  const split = opts.split ?? DEFAULT_SPLIT;
  if (!['paragraphs', 'lines', 'file'].includes(split))
    throw new PldrError(`unknown split "${split}" (use paragraphs, lines or file)`);
  const field = opts.textField ?? DEFAULT_TEXT_FIELD;
  const maxChars = opts.maxDocumentChars ?? DEFAULT_MAX_DOCUMENT_CHARS;
  const counter = {before: 0, file: 0};
  const doc = (text: string, source: string, location: string): CorpusDocument => ({
    text,
    source,
    location,
    bytesRead: counter.before + counter.file,
  });
  for (const src of sources) {
    counter.file = 0;
    const name = src.path;
    if (src.kind === 'parquet') {
      for await (const [row, text] of parquetTexts(src, field, counter)) {
        if (text.trim() !== '') yield doc(text, name, `${name}#${row}`);
      }
    } else if (src.kind === 'text') {
      yield* textDocuments(src.path, split, maxChars, counter, doc);
    } else {
      yield* jsonDocuments(src, field, maxChars, counter, doc);
    }
    counter.before += counter.file;
  }
}

/** Open a corpus file, or say in one line why it cannot be read. */
async function openForReading(path: string): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(path, 'r');
  } catch (e) {
    throw new PldrError(`cannot read ${path}: ${fsMessage(e)}`);
  }
}

type MakeDoc = (text: string, source: string, location: string) => CorpusDocument;

/** Lines of a file with their 1-based numbers, read in chunks; `counter.file` tracks the bytes read. */
async function* fileLines(path: string, maxChars: number, counter: {file: number}): AsyncGenerator<[string, number]> {
  const fh = await openForReading(path);
  try {
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    const decoder = new TextDecoder('utf-8');
    let pending = '';
    let no = 1;
    for (;;) {
      let n: number;
      try {
        n = (await fh.read(buf, 0, CHUNK_BYTES, null)).bytesRead;
      } catch (e) {
        throw new PldrError(`cannot read ${path}: ${fsMessage(e)}`);
      }
      counter.file += n;
      pending += n > 0 ? decoder.decode(buf.subarray(0, n), {stream: true}) : decoder.decode();
      let start = 0;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n', start)) {
        const end = nl > start && pending.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
        yield [pending.slice(start, end), no++];
        start = nl + 1;
      }
      pending = pending.slice(start);
      if (pending.length > maxChars)
        throw new PldrError(`${path}:${no}: a line longer than ${maxChars} characters; is this a text file?`);
      if (n === 0) break;
    }
    if (pending.length > 0) yield [pending.endsWith('\r') ? pending.slice(0, -1) : pending, no];
  } finally {
    await fh.close();
  }
}

async function* textDocuments(
  path: string,
  split: TextSplit,
  maxChars: number,
  counter: {file: number},
  doc: MakeDoc,
): AsyncGenerator<CorpusDocument> {
  let lines: string[] = [];
  let size = 0;
  let first = 0;
  const tooBig = (no: number) =>
    new PldrError(
      `${path}:${no}: document longer than ${maxChars} characters; read it with split "${split === 'file' ? 'paragraphs' : 'lines'}"`,
    );
  for await (const [line, no] of fileLines(path, maxChars, counter)) {
    if (split === 'lines') {
      if (line.trim() !== '') yield doc(line, path, `${path}:${no}`);
      continue;
    }
    if (split === 'paragraphs' && line.trim() === '') {
      if (lines.length > 0) yield doc(lines.join('\n'), path, `${path}:${first}`);
      lines = [];
      size = 0;
      continue;
    }
    if (lines.length === 0) first = no;
    lines.push(line);
    size += line.length + 1;
    if (size > maxChars) throw tooBig(first);
  }
  if (lines.length > 0) {
    const text = lines.join('\n');
    if (text.trim() !== '') yield doc(text, path, `${path}:${first}`);
  }
}

async function* jsonDocuments(
  src: CorpusSource,
  field: string,
  maxChars: number,
  counter: {file: number},
  doc: MakeDoc,
): AsyncGenerator<CorpusDocument> {
  const path = src.path;
  if (src.kind === 'json' && (await firstNonSpace(path)) === '[') {
    if (src.size > maxChars)
      throw new PldrError(
        `${path} is a ${src.size}-byte JSON array, over the ${maxChars}-byte limit; convert it to JSON Lines`,
      );
    let value: unknown;
    let raw: string;
    try {
      raw = await fsp.readFile(path, 'utf8');
    } catch (e) {
      throw new PldrError(`cannot read ${path}: ${fsMessage(e)}`);
    }
    counter.file = src.size;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      throw new PldrError(`${path}: not valid JSON (${oneLine((e as Error).message)})`);
    }
    if (!Array.isArray(value)) throw new PldrError(`${path}: expected a JSON array`);
    for (let i = 0; i < value.length; i++) {
      const el: unknown = value[i];
      const text = typeof el === 'string' ? el : fieldText(el, field, `${path}#${i}`);
      if (text !== null && text.trim() !== '') yield doc(text, path, `${path}#${i}`);
    }
    return;
  }
  const whole: string[] = []; // lines kept in case this .json turns out to be one pretty-printed object
  let wholeMode = false;
  for await (const [line, no] of fileLines(path, maxChars, counter)) {
    if (wholeMode) {
      whole.push(line);
      continue;
    }
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      if (src.kind === 'json' && no === 1 && line.trim().startsWith('{')) {
        wholeMode = true;
        whole.push(line);
        continue;
      }
      throw new PldrError(`${path}:${no}: not valid JSON (${oneLine((e as Error).message)})`);
    }
    const text = fieldText(value, field, `${path}:${no}`);
    if (text !== null && text.trim() !== '') yield doc(text, path, `${path}:${no}`);
  }
  if (wholeMode) {
    let value: unknown;
    try {
      value = JSON.parse(whole.join('\n'));
    } catch (e) {
      throw new PldrError(`${path}: not valid JSON or JSON Lines (${oneLine((e as Error).message)})`);
    }
    const text = fieldText(value, field, path);
    if (text !== null && text.trim() !== '') yield doc(text, path, `${path}:1`);
  }
}

/** The string at `field`; null for a null value; PldrError otherwise. */
function fieldText(value: unknown, field: string, where: string): string | null {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new PldrError(`${where}: expected a JSON object with a "${field}" field`);
  }
  if (!Object.prototype.hasOwnProperty.call(value, field)) {
    throw new PldrError(`${where}: no "${field}" field (choose the text field with textField / --text-field)`);
  }
  const v = (value as Record<string, unknown>)[field];
  if (v === null) return null;
  if (typeof v !== 'string') throw new PldrError(`${where}: field "${field}" is a ${typeof v}, not a string`);
  return v;
}

async function firstNonSpace(path: string): Promise<string> {
  const fh = await openForReading(path);
  try {
    const buf = Buffer.alloc(4096);
    let pos = 0;
    for (;;) {
      const {bytesRead} = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) return '';
      for (let i = 0; i < bytesRead; i++) {
        const c = buf[i];
        if (c === 0xef || c === 0xbb || c === 0xbf) continue; // BOM
        if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return String.fromCharCode(c);
      }
      pos += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Parquet (hyparquet), one row group at a time.
// ---------------------------------------------------------------------------------------------

type Hyparquet = typeof import('hyparquet');
let hyparquet: Promise<Hyparquet> | undefined;

async function* parquetTexts(
  src: CorpusSource,
  field: string,
  counter: {file: number},
): AsyncGenerator<[number, string]> {
  const path = src.path;
  hyparquet ??= import('hyparquet');
  const hp = await hyparquet;
  const fh = await openForReading(path);
  try {
    const file = {
      byteLength: src.size,
      async slice(start: number, end?: number): Promise<ArrayBuffer> {
        const stop = Math.min(end ?? src.size, src.size);
        const buf = new Uint8Array(Math.max(0, stop - start));
        let done = 0;
        while (done < buf.length) {
          const {bytesRead} = await fh.read(buf, done, buf.length - done, start + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        counter.file = Math.min(src.size, counter.file + done);
        return buf.buffer;
      },
    };
    let metadata: Awaited<ReturnType<Hyparquet['parquetMetadataAsync']>>;
    try {
      metadata = await hp.parquetMetadataAsync(file);
    } catch (e) {
      throw notParquet(path, e);
    }
    const root = metadata.schema[0];
    const top: string[] = [];
    for (let i = 1, left = root?.num_children ?? 0; i < metadata.schema.length && left > 0; left--) {
      top.push(metadata.schema[i].name);
      i = skipSchema(metadata.schema, i);
    }
    if (!top.includes(field)) {
      throw new PldrError(
        `${path} has no column "${field}" (columns: ${top.join(', ') || 'none'}); choose it with textField / --text-field`,
      );
    }
    let rowStart = 0;
    for (const group of metadata.row_groups) {
      const rowEnd = rowStart + Number(group.num_rows);
      let rows: unknown[][] = [];
      try {
        await hp.parquetRead({
          file,
          metadata,
          columns: [field],
          rowStart,
          rowEnd,
          compressors: COMPRESSORS,
          onComplete: (r: unknown[][]) => {
            rows = r;
          },
        });
      } catch (e) {
        throw unreadableRows(path, `rows ${rowStart}-${rowEnd - 1}`, e);
      }
      for (let i = 0; i < rows.length; i++) {
        const v = rows[i][0];
        const at = `${path}#${rowStart + i}`;
        if (v === null || v === undefined) continue;
        if (typeof v === 'string') yield [rowStart + i, v];
        else if (v instanceof Uint8Array) yield [rowStart + i, new TextDecoder('utf-8').decode(v)];
        else throw new PldrError(`${at}: column "${field}" holds ${typeof v} values, not text`);
      }
      rowStart = rowEnd;
    }
  } finally {
    await fh.close();
  }
}

/** Index of the schema element after element i and all its descendants. */
function skipSchema(schema: readonly {num_children?: number}[], i: number): number {
  let next = i + 1;
  for (let c = schema[i].num_children ?? 0; c > 0; c--) next = skipSchema(schema, next);
  return next;
}
