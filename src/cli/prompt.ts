/** Where a command's prompt comes from, and the tokenizer that turns it into ids. */
import {existsSync, readFileSync} from 'node:fs';

import {PldrError} from '../core/errors.js';
import {Tokenizer} from '../core/tokenizer.js';

/** "5,17,42" → [5, 17, 42]; "" → [] (the empty prompt). */
export function parseIds(s: string, flag = '--ids'): number[] {
  if (s.trim() === '') return [];
  return s.split(',').map((x) => {
    const v = Number(x.trim());
    if (x.trim() === '' || !Number.isInteger(v) || v < 0)
      throw new PldrError(`${flag} must be comma-separated non-negative integers, got "${x.trim()}"`);
    return v;
  });
}

export function parseNumber(s: string, flag: string): number {
  const v = Number(s);
  if (s.trim() === '' || Number.isNaN(v)) throw new PldrError(`${flag} must be a number, got "${s}"`);
  return v;
}

/** The tokenizer of a model: --tokenizer, else tokenizer.model in the model directory. */
export async function loadTokenizer(
  explicit: string | undefined,
  fromModel: string | undefined,
  why: string,
  vocabSize: number,
): Promise<Tokenizer> {
  const path = explicit ?? fromModel;
  if (!path)
    throw new PldrError(
      `${why} needs a tokenizer: the model has no tokenizer.model, so pass --tokenizer FILE (or give token ids with --ids)`,
    );
  if (!existsSync(path)) throw new PldrError(`tokenizer not found: ${path}`);
  const tok = await Tokenizer.load(path);
  // A model emits ids below its vocabulary size; a tokenizer of another size cannot decode them all.
  if (tok.vocabSize !== vocabSize)
    throw new PldrError(
      `the tokenizer ${path} has ${tok.vocabSize} pieces but the model's vocabulary is ${vocabSize}: they do not belong together`,
    );
  return tok;
}

export function readTextFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new PldrError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** All of standard input, as text. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Prompts from a file: JSON lines (`{"prompt": "..."}` or a JSON string per line) when the file
 * ends in .jsonl or every line parses as JSON; otherwise one prompt per non-empty line.
 */
export function readPrompts(path: string): {prompt: string; id?: unknown; line: number}[] {
  const text = readTextFile(path, 'prompts file');
  const lines = text
    .split(/\r?\n/)
    .map((l, i) => ({l, line: i + 1}))
    .filter(({l}) => l.trim() !== '');
  if (lines.length === 0) throw new PldrError(`${path} holds no prompts`);
  const jsonl = path.endsWith('.jsonl') || lines.every(({l}) => /^\s*[{"]/.test(l));
  if (!jsonl) return lines.map(({l, line}) => ({prompt: l, line}));
  return lines.map(({l, line}) => {
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch (e) {
      throw new PldrError(`${path}:${line}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
    }
    if (typeof v === 'string') return {prompt: v, line};
    if (v && typeof v === 'object' && typeof (v as {prompt?: unknown}).prompt === 'string')
      return {prompt: (v as {prompt: string}).prompt, id: (v as {id?: unknown}).id, line};
    throw new PldrError(`${path}:${line}: expected a JSON string or an object with a "prompt" string`);
  });
}

/** Where a command that reads one text gets it from: an argument, --prompt-file, --ids or --prompts (at most one). */
export interface TextSources {
  arg?: string;
  file?: string;
  ids?: string;
  prompts?: string;
}

/** The input read: the text, or the ids, or the file of prompts. */
export interface TextInput {
  text?: string;
  ids?: number[];
  many?: ReturnType<typeof readPrompts>;
}

/**
 * Read a command's one input, `what` naming it ("prompt", "text"): from the source given, else from standard input
 * (refused on a terminal). All of it is read and checked here, before any model is.
 */
export async function readTextInput(given: TextSources, what: string): Promise<TextInput> {
  const ways = [given.arg, given.file, given.ids, given.prompts].filter((x) => x !== undefined).length;
  if (ways > 1) throw new PldrError(`give the ${what} one way: an argument, --prompt-file, --ids or --prompts`);
  if (given.ids !== undefined) return {ids: parseIds(given.ids)};
  if (given.prompts !== undefined) return {many: readPrompts(given.prompts)};
  if (given.arg !== undefined) return {text: given.arg};
  if (given.file !== undefined) return {text: readTextFile(given.file, `${what} file`)};
  if (process.stdin.isTTY)
    throw new PldrError(`no ${what}: give it as an argument, with --prompt-file, on standard input, or as --ids`);
  return {text: await readStdin()};
}
