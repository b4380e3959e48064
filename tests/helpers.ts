import {spawnSync} from 'node:child_process';
/** Shared helpers for the parity tests: fixture loading and tolerance checks. */
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {dirname, join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';

import {afterAll, expect} from 'vitest';

import {PldrError} from '../src/core/errors.js';

import {readSafetensors} from '../src/core/io/safetensors.js';
import type {HostTensor} from '../src/core/io/tensor.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REFERENCE = join(ROOT, 'fixtures', 'reference');
/** ../shared beside the checkout: present on developers' machines and in CI, never on a user's. */
export const SHARED = resolve(ROOT, '..', 'shared');
/** The harness fixture (lm-evaluation-harness on the reference model) and the paper's tokenizer, both in ../shared. */
export const EVAL = join(SHARED, 'fixtures', 'eval');
export const PAPER_TOKENIZER = join(
  SHARED,
  'fixtures',
  'tokenizer',
  'refinedweb-tokenizer-model-pldrllm-kvg-cache-paper.model',
);
export const HAVE_HARNESS_FIXTURE = existsSync(join(EVAL, 'expected.json')) && existsSync(PAPER_TOKENIZER);

/** The paper tokenizer's first six pieces and their SentencePiece types (docs/spec.md §2). */
export const SPECIAL_PIECES = ['[PAD]', '[UNK]', '[START]', '[END]', '[SEP]', '[CLS]'];
export const SPECIAL_TYPES = ['control', 'unknown', 'control', 'control', 'user_defined', 'user_defined'];

/**
 * A fresh temporary folder `pldr-<prefix>-…`, removed after the tests of the file or describe block
 * that calls it: call it at a test file's top level or in a describe, not inside a test or a hook.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `pldr-${prefix}-`));
  afterAll(() => rmSync(dir, {recursive: true, force: true}));
  return dir;
}

export type FixtureName = 'tiny-public' | 'tiny-G-identity' | 'tiny-G-random';

export interface Fixture {
  dir: string;
  checkpoint: string;
  tensors: Map<string, HostTensor>;
  json: any; // expected.json
  t(name: string): Float32Array;
  ids(name: string): number[][];
}

const cache = new Map<string, Fixture>();

export function fixture(name: FixtureName): Fixture {
  const hit = cache.get(name);
  if (hit) return hit;
  const dir = join(REFERENCE, name);
  const {tensors} = readSafetensors(join(dir, 'expected.safetensors'));
  const f: Fixture = {
    dir,
    checkpoint: join(dir, 'checkpoint.pth'),
    tensors,
    json: JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')),
    t(n) {
      const x = tensors.get(n);
      if (!x) throw new Error(`fixture ${name} has no tensor ${n}`);
      return x.data instanceof Float32Array ? x.data : Float32Array.from(x.data as Float64Array);
    },
    ids(n) {
      const x = tensors.get(n);
      if (!x) throw new Error(`fixture ${name} has no tensor ${n}`);
      const flat = Array.from(x.data as BigInt64Array, Number);
      const L = x.shape[x.shape.length - 1];
      const rows: number[][] = [];
      for (let i = 0; i < flat.length; i += L) rows.push(flat.slice(i, i + L));
      return rows;
    },
  };
  cache.set(name, f);
  return f;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length, 'lengths differ').toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Every element within atol; the message names the tensor and the worst difference. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, what: string): void {
  const d = maxAbsDiff(actual, expected);
  expect(d, `${what}: max |diff| ${d} > ${atol}`).toBeLessThanOrEqual(atol);
}

/**
 * The train batch (input.train_ids) has A_LM entries near the 1e-9 floor (1.6e-7) raised to a
 * negative power (T15): there the float32 reference itself is 1.2e-4 (relative) from an exact
 * float64 evaluation in A_P of layer 1, and 2.4e-5 in the logits — above the spec's 1e-4 and 2e-5.
 * We apply the fixtures' own policy, 10 × the reference's float32 noise, measured on this batch
 * (float64 evaluation of docs/spec.md §3 in torch 1.13, float32-rounded √d and √d_k).
 */
export const TRAIN_BATCH_TOL = {logits: 2.4e-4, A_P_rel: 1.2e-3};

/** The message of the PldrError that fn throws; fails unless it throws one, of one line. */
export function pldrMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e, 'expected a PldrError').toBeInstanceOf(PldrError);
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('expected a PldrError');
}

/** As pldrMessage, for a promise (or a function returning one) that must reject. */
export async function pldrRejection(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(e, 'expected a PldrError').toBeInstanceOf(PldrError);
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('expected a PldrError');
}

export async function expectRejection(p: Promise<unknown> | (() => unknown), pattern: RegExp): Promise<void> {
  expect(await pldrRejection(p)).toMatch(pattern);
}

/**
 * Run an ES-module script in a fresh Node process (the wasm backend, and its thread count, are made
 * once per process) and parse the JSON its last stdout line prints.
 */
export function runScriptJson<T>(script: string): T {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 16 * 2 ** 20,
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as T;
}
