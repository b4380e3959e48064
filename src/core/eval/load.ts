/**
 * Benchmark documents from local files (no network: the user downloads the Hugging Face splits).
 *
 * Where a task's file is found:
 *   - `name=FILE` (e.g. `hellaswag=~/data/hellaswag/validation.jsonl`) names it explicitly;
 *   - otherwise `--data-dir DIR` holds `<task>.jsonl`, `<task>.json` or `<task>.parquet` (exactly
 *     one of them).
 * Formats:
 *   - .jsonl: one JSON object per line; blank lines are skipped; a document is named `file:line`;
 *   - .json: a JSON array of objects (each named by the line its element starts on), or, when
 *     the file does not start with "[", JSON Lines (what `datasets`' `to_json` writes);
 *   - any other extension (a `task=FILE` name) is read as JSON Lines;
 *   - .parquet: rows read with hyparquet (nested struct/list columns become objects/arrays, INT64
 *     becomes a number); a row is named `file: row N` (1-based). SNAPPY, GZIP, BROTLI and
 *     uncompressed files are read; ZSTD/LZ4 cannot be on Node 20.
 * A UTF-8 BOM is dropped; invalid UTF-8 becomes U+FFFD. `limit` keeps the first N documents
 * (harness `--limit`: an integer N, or a fraction 0 < f < 1 of the file, rounded up), and only
 * those are validated. Every problem is a PldrError of one line naming the file (and the line).
 */
import {promises as fsp, statSync} from 'node:fs';
import {extname, join} from 'node:path';

import {oneLine, PldrError} from '../errors.js';
import {COMPRESSORS, notParquet, unreadableRows} from '../io/parquet.js';
import {buildTaskDoc, isTaskName, TASK_NAMES, type TaskDoc, type TaskName} from './tasks.js';
import {fsMessage} from '../io/fsutil.js';

export const TASK_FILE_EXTENSIONS: readonly string[] = ['.jsonl', '.json', '.parquet'];

/** One record of a task file, before validation. */
export interface RawRecord {
  value: unknown;
  /** `file:line` or `file: row N`. */
  where: string;
}

export interface LoadedTask {
  task: TaskName;
  path: string;
  /** Records in the file (before --limit). */
  total: number;
  docs: TaskDoc[];
}

export interface LoadOptions {
  /** Folder with `<task>.jsonl|.json|.parquet`. */
  dataDir?: string;
  /** Explicit `task=FILE` entries; they win over dataDir. */
  files?: readonly string[];
  /** Harness --limit: first N documents, or a fraction (0, 1) of each file, rounded up. */
  limit?: number;
}

/** `--limit` text → number; PldrError unless a positive integer or a fraction in (0, 1). */
export function parseLimit(value: string | number | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n =
    typeof value === 'number' ? value : /^\s*[0-9]*\.?[0-9]+(e[+-]?[0-9]+)?\s*$/i.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n <= 0 || (n >= 1 && !Number.isInteger(n))) {
    throw new PldrError(
      `--limit must be a positive whole number of documents or a fraction between 0 and 1, not "${value}"`,
    );
  }
  return n;
}

/** How many of `total` documents a limit keeps (harness: a fraction is ceil(total · f)). */
export function applyLimit(total: number, limit: number | undefined): number {
  if (limit === undefined) return total;
  return Math.min(total, limit < 1 ? Math.ceil(total * limit) : limit);
}

/** `task=FILE` → its parts; PldrError for anything else. */
export function parseTaskFile(spec: string): {task: TaskName; path: string} {
  const eq = spec.indexOf('=');
  if (eq <= 0 || eq === spec.length - 1)
    throw new PldrError(`"${spec}" is not TASK=FILE (tasks: ${TASK_NAMES.join(', ')})`);
  const task = spec.slice(0, eq).trim();
  if (!isTaskName(task)) throw new PldrError(`"${spec}": unknown task "${task}" (tasks: ${TASK_NAMES.join(', ')})`);
  return {task, path: spec.slice(eq + 1)};
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The file each task is read from. PldrError when one is missing or ambiguous. */
export function resolveTaskFiles(
  tasks: readonly TaskName[],
  opts: Pick<LoadOptions, 'dataDir' | 'files'>,
): Map<TaskName, string> {
  const explicit = new Map<TaskName, string>();
  for (const spec of opts.files ?? []) {
    const {task, path} = parseTaskFile(spec);
    if (explicit.has(task)) throw new PldrError(`${task} is given twice (${explicit.get(task)} and ${path})`);
    explicit.set(task, path);
  }
  if (opts.dataDir !== undefined) {
    let isDir = false;
    try {
      isDir = statSync(opts.dataDir).isDirectory();
    } catch {
      // reported below
    }
    if (!isDir) throw new PldrError(`--data-dir ${opts.dataDir} is not a folder`);
  }
  const out = new Map<TaskName, string>();
  for (const task of tasks) {
    const named = explicit.get(task);
    if (named !== undefined) {
      if (!isFile(named)) throw new PldrError(`${task}: file not found: ${named}`);
      out.set(task, named);
      continue;
    }
    if (opts.dataDir === undefined)
      throw new PldrError(
        `no file for ${task}: give --data-dir DIR with ${task}.jsonl (or .json, .parquet), or ${task}=FILE`,
      );
    const found = TASK_FILE_EXTENSIONS.map((ext) => join(opts.dataDir!, task + ext)).filter(isFile);
    if (found.length === 0)
      throw new PldrError(
        `no ${task}.jsonl, ${task}.json or ${task}.parquet in ${opts.dataDir} (or name it with ${task}=FILE)`,
      );
    if (found.length > 1)
      throw new PldrError(
        `${opts.dataDir} has ${found.map((f) => f.slice(opts.dataDir!.length + 1)).join(' and ')}; keep one, or name it with ${task}=FILE`,
      );
    out.set(task, found[0]);
  }
  return out;
}

/** Read the records of a task file (JSON Lines, JSON array or Parquet), in file order. */
export async function readTaskRecords(path: string): Promise<RawRecord[]> {
  const ext = extname(path).toLowerCase();
  const records =
    ext === '.parquet' ? await parquetRecords(path) : jsonRecords(path, await readText(path), ext === '.json');
  if (records.length === 0) throw new PldrError(`${path}: no documents`);
  return records;
}

/** Read, limit and validate one task's documents. */
export async function loadTaskDocs(task: TaskName, path: string, limit?: number): Promise<LoadedTask> {
  const records = await readTaskRecords(path);
  const keep = applyLimit(records.length, limit);
  const docs = records.slice(0, keep).map((r, i) => buildTaskDoc(task, r.value, i, r.where));
  return {task, path, total: records.length, docs};
}

/** Every task's documents, in the order of `tasks`. */
export async function loadTasks(tasks: readonly TaskName[], opts: LoadOptions): Promise<LoadedTask[]> {
  const files = resolveTaskFiles(tasks, opts);
  const out: LoadedTask[] = [];
  for (const task of tasks) out.push(await loadTaskDocs(task, files.get(task)!, opts.limit));
  return out;
}

// ---------------------------------------------------------------------------------------------
// JSON / JSON Lines
// ---------------------------------------------------------------------------------------------

async function readText(path: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await fsp.readFile(path);
  } catch (e) {
    throw new PldrError(`cannot read ${path}: ${fsMessage(e)}`);
  }
  const text = new TextDecoder('utf-8').decode(bytes);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function jsonRecords(path: string, text: string, maybeArray: boolean): RawRecord[] {
  const start = text.search(/\S/);
  if (maybeArray && start >= 0 && text[start] === '[') return jsonArrayRecords(path, text);
  const out: RawRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      const hint = i === 0 && line.trim().startsWith('[') ? '; a JSON array must be in a .json file' : '';
      throw new PldrError(
        `${path}:${i + 1}: not valid JSON (${oneLine((e as Error).message)})${hint}; expected one JSON object per line`,
      );
    }
    out.push({value, where: `${path}:${i + 1}`});
  }
  return out;
}

function jsonArrayRecords(path: string, text: string): RawRecord[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new PldrError(`${path}: not valid JSON (${oneLine((e as Error).message)})`);
  }
  if (!Array.isArray(value)) throw new PldrError(`${path}: expected a JSON array of documents`);
  const lines = elementLines(text);
  return value.map((v, i) => ({value: v, where: `${path}:${lines[i] ?? 1}`}));
}

/** 1-based line on which each element of the top-level JSON array starts (text is valid JSON). */
function elementLines(text: string): number[] {
  const out: number[] = [];
  let line = 1;
  let depth = 0;
  let inString = false;
  let expectValue = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') continue;
    if (depth === 1 && expectValue && c !== ']') {
      out.push(line);
      expectValue = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1) expectValue = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectValue = true;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parquet (hyparquet)
// ---------------------------------------------------------------------------------------------

async function parquetRecords(path: string): Promise<RawRecord[]> {
  const hp = await import('hyparquet');
  let file: Awaited<ReturnType<typeof hp.asyncBufferFromFile>>;
  try {
    file = await hp.asyncBufferFromFile(path);
  } catch (e) {
    throw new PldrError(`cannot read ${path}: ${fsMessage(e)}`);
  }
  let metadata: Awaited<ReturnType<typeof hp.parquetMetadataAsync>>;
  try {
    metadata = await hp.parquetMetadataAsync(file);
  } catch (e) {
    throw notParquet(path, e);
  }
  let rows: Record<string, unknown>[];
  try {
    rows = await hp.parquetReadObjects({file, metadata, compressors: COMPRESSORS});
  } catch (e) {
    throw unreadableRows(path, 'its rows', e);
  }
  return rows.map((row, i) => ({value: plain(row), where: `${path}: row ${i + 1}`}));
}

/** Parquet values → JSON-like values: bigint → number, UTF-8 bytes → string, typed arrays → arrays. */
function plain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Uint8Array) return new TextDecoder('utf-8').decode(v);
  if (Array.isArray(v)) return v.map(plain);
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number | bigint>, (x) => plain(x));
  if (v !== null && typeof v === 'object' && !(v instanceof Date)) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = plain(x);
    return o;
  }
  return v;
}
