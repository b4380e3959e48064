/**
 * The reference measured in the same run (`pldr bench … --reference`): scripts/torch-reference.py,
 * a float32 PyTorch implementation of PLDR-LLM written from the spec that computes the way the
 * authors' PyTorch code does (checked against the reference fixture by tests/core/bench/reference.test.ts),
 * run on the configuration pldr has just timed. The script prints one JSON object, which goes into
 * the report as it is.
 */
import {spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';

import type {ModelConfig} from '../config.js';
import {PldrError} from '../errors.js';
import type {BenchModelInfo} from './paper.js';

/** Where Debian's PyTorch lives (the `python3` on PATH may be another one). */
export const DEFAULT_PYTHON = '/usr/bin/python3';
/** The reference as it was timed: PyTorch on 2 threads. */
export const DEFAULT_REFERENCE_THREADS = 2;
/** In a checkout: src/core/bench/ or dist/core/bench/ → scripts/ (not shipped in the npm package). */
export const REFERENCE_SCRIPT = fileURLToPath(new URL('../../../scripts/torch-reference.py', import.meta.url));

export interface ReferenceOptions {
  python?: string;
  /** torch.set_num_threads (default 2). */
  threads?: number;
  /** OpenBLAS's own threads (default: the same as `threads`, as OMP_NUM_THREADS sets both). */
  blasThreads?: number;
}

/** What every suite of the script reports, beside its own numbers. */
export interface ReferenceRun {
  suite: 'train' | 'decode' | 'forward';
  torch: string;
  threads: number;
  blas: {torch_build: string; name: string; library?: string; openblas_config?: string; openblas_threads?: number};
  python: string;
  /** The thread variables the script saw (OMP_WAIT_POLICY, OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, GOMP_SPINCOUNT), when set. */
  environment?: Record<string, string>;
  config: Record<string, unknown>;
  duration_s: number;
  [key: string]: unknown;
}

export interface ReferenceTrain extends ReferenceRun {
  tokens_per_s: number;
  step_ms: number[];
  stats: {median: number; min: number; max: number};
}

export interface ReferenceDecode extends ReferenceRun {
  total_s: number;
  stats: {total_ms: {median: number}; prompt_ms: {median: number}; ms_per_token: {median: number}};
}

export interface ReferenceForward extends ReferenceRun {
  requests_per_s: number;
  ms_per_request: number;
  metric_learner_share: number;
}

/** Only the variants the script implements (the reference's v510 and v510_dag, interleaved RoPE). */
export function referenceRuns(cfg: ModelConfig): boolean {
  return (cfg.variant === 'v510' || cfg.variant === 'v510_dag') && (cfg.rope ?? 'reference') === 'reference';
}

/** The reference in a few words, for the targets: "PyTorch 1.13.0a0, 2 threads, OpenBLAS (2 threads)". */
export function describeReference(r: ReferenceRun): string {
  const blas =
    r.blas.name +
    (r.blas.openblas_threads !== undefined
      ? ` (${r.blas.openblas_threads} thread${r.blas.openblas_threads === 1 ? '' : 's'})`
      : '');
  const env = Object.entries(r.environment ?? {}).map(([k, v]) => `${k}=${v}`);
  return `PyTorch ${r.torch}, ${r.threads} thread${r.threads === 1 ? '' : 's'}, ${blas}${env.length ? `, ${env.join(' ')}` : ''}`;
}

/** The hyper-parameters the reference script reads, in this order. */
// prettier-ignore
const REFERENCE_CONFIG_KEYS = ['variant', 'num_layers', 'd_model', 'num_heads', 'dff', 'num_reslayerA', 'num_denseA', 'A_dff', 'input_vocab_size', 'max_seq_len'] as const;

function configJson(cfg: ModelConfig): string {
  return JSON.stringify(Object.fromEntries(REFERENCE_CONFIG_KEYS.map((k) => [k, cfg[k]])));
}

/** Fail in one line, before anything is timed, when the script, python or torch is missing. */
export function checkReference(opts: ReferenceOptions = {}): void {
  if (!existsSync(REFERENCE_SCRIPT))
    throw new PldrError(
      '--reference runs scripts/torch-reference.py, which is not part of the installed package: run pldr from a checkout of its repository',
    );
  const python = opts.python ?? DEFAULT_PYTHON;
  const r = spawnSync(python, ['-c', 'import torch'], {encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe']});
  if (r.error)
    throw new PldrError(
      `--reference: no python at ${python}: apt install python3-torch (Debian), or give --python PATH of a python that has torch`,
    );
  if (r.status !== 0)
    throw new PldrError(
      `--reference: ${python} cannot import torch: apt install python3-torch (Debian), or give --python PATH of a python that has torch`,
    );
}

/**
 * Run one suite of the script on `cfg` with extra arguments; `files` are written to a temporary
 * folder first and their paths substituted for `{name}` in `args`. Fails in one line when python,
 * torch or the script is missing.
 */
export function runReference<T extends ReferenceRun>(
  suite: ReferenceRun['suite'],
  cfg: ModelConfig,
  args: string[],
  opts: ReferenceOptions = {},
  files: Record<string, string> = {},
): T {
  checkReference(opts);
  const python = opts.python ?? DEFAULT_PYTHON;
  const threads = opts.threads ?? DEFAULT_REFERENCE_THREADS;
  const dir = mkdtempSync(join(tmpdir(), 'pldr-reference-'));
  try {
    const named = Object.fromEntries(
      Object.entries(files).map(([name, text]) => {
        const path = join(dir, name);
        writeFileSync(path, text);
        return [name, path];
      }),
    );
    const argv = [
      REFERENCE_SCRIPT,
      suite,
      '--config',
      configJson(cfg),
      '--threads',
      String(threads),
      ...(opts.blasThreads !== undefined ? ['--blas-threads', String(opts.blasThreads)] : []),
      ...args.map((a) => a.replace(/^\{([\w.-]+)\}$/, (m, k: string) => named[k] ?? m)),
    ];
    const r = spawnSync(python, argv, {encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'pipe']});
    if (r.error) throw new PldrError(`--reference: could not start ${python}: ${r.error.message}`);
    if (r.status !== 0) {
      const last = r.stderr.trim().split('\n').pop() ?? '';
      throw new PldrError(
        `--reference: scripts/torch-reference.py ${suite} failed (exit ${r.status ?? r.signal}): ${last}`,
      );
    }
    try {
      return JSON.parse(r.stdout) as T;
    } catch {
      throw new PldrError(
        `--reference: scripts/torch-reference.py ${suite} printed no JSON: ${r.stdout.slice(0, 200)}`,
      );
    }
  } finally {
    rmSync(dir, {recursive: true, force: true});
  }
}

/**
 * The paper protocol in KV+G on every PLDR model of a paper run that was timed in KV+G, with the
 * same prompt ids, new tokens, samples and seed; stored as each model's `reference`.
 */
export function timeReferenceDecodes(
  models: BenchModelInfo[],
  p: {newTokens: number; repeats: number; warmup: number; seed: number},
  opts: ReferenceOptions,
  say: (m: string) => void,
): void {
  for (const m of models) {
    if (m.family !== 'pldr' || !m.modes.includes('kv+g') || !referenceRuns(m.config)) continue;
    say(`${m.label}: the reference (PyTorch), KV+G`);
    const args = [
      '--cache',
      'kv+g',
      '--prompt-ids',
      m.prompt_ids.join(','),
      '--tokens',
      String(p.newTokens),
      '--repeats',
      String(p.repeats),
      '--warmup',
      String(p.warmup),
      '--seed',
      String(p.seed),
    ];
    m.reference = runReference<ReferenceDecode>('decode', m.config, args, opts);
  }
}
