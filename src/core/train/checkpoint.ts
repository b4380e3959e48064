/**
 * Training checkpoints: RUN_DIR/checkpoint/ is a model directory that `pldr generate` reads as is
 * (config.json, model.safetensors, tokenizer.model), plus what a resumed run needs to continue
 * exactly: optimizer.safetensors (AdamW's m and v per parameter) and progress.json (updates done,
 * tokens seen, the data position, the optimizer's step count).
 *
 * Written atomically by writeDirAtomic: everything goes to a temporary sibling first
 * (checkpoint.tmp-PID), is flushed to disk, and then replaces the old checkpoint by rename (the old
 * one moves to checkpoint.old-PID first), so an interruption at any moment leaves a whole checkpoint:
 * checkpoint/ itself, or, when a kill falls between the two renames, checkpoint.old-PID, which
 * recoverCheckpoint puts back.
 */
import {existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {PldrError} from '../errors.js';
import {writeDirAtomic} from '../io/fsutil.js';
import {type ModelFiles, readModelFiles, writeModelFiles} from '../io/model-files.js';
import {readSafetensors, writeSafetensors} from '../io/safetensors.js';
import type {StateDict} from '../io/tensor.js';
import type {AdamWState} from './optim.js';

export interface Progress {
  /** Optimiser updates done (the next update is number `updates + 1`). */
  updates: number;
  /** Training tokens consumed (model inputs). */
  tokens: number;
  /** Wall time spent training so far, over all sessions of the run. */
  elapsedS: number;
  /** Where the batch iterator stands; opaque here. */
  data: unknown;
  /** Last validation loss, if any. */
  valLoss?: number;
}

export interface Checkpoint {
  files: ModelFiles;
  optimizer: AdamWState;
  progress: Progress;
}

export const CHECKPOINT_DIR = 'checkpoint';
/** The previous checkpoint as writeCheckpoint leaves it between its two renames: checkpoint.old-PID. */
const PREVIOUS = new RegExp(`^${CHECKPOINT_DIR}\\.old-\\d+$`);

export function checkpointPath(runDir: string): string {
  return join(runDir, CHECKPOINT_DIR);
}

export function writeCheckpoint(runDir: string, c: Checkpoint): void {
  writeDirAtomic(
    checkpointPath(runDir),
    (tmp) => {
      writeModelFiles(tmp, c.files);
      const moments: StateDict = new Map();
      for (const [k, m] of c.optimizer.m) moments.set(`m.${k}`, {dtype: 'F32', shape: [m.length], data: m});
      for (const [k, v] of c.optimizer.v) moments.set(`v.${k}`, {dtype: 'F32', shape: [v.length], data: v});
      writeSafetensors(join(tmp, 'optimizer.safetensors'), moments, {t: String(c.optimizer.t)});
      writeFileSync(join(tmp, 'progress.json'), JSON.stringify(c.progress, null, 1) + '\n');
    },
    {replace: true},
  );
}

/** Why the checkpoint folder `dir` cannot be resumed from, or undefined when it is whole. */
function incomplete(dir: string): string | undefined {
  for (const f of ['config.json', 'model.safetensors', 'optimizer.safetensors', 'progress.json'])
    if (!existsSync(join(dir, f))) return `${f} is missing`;
  try {
    readProgress(dir);
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

function readProgress(dir: string): Progress {
  let p: Progress;
  try {
    p = JSON.parse(readFileSync(join(dir, 'progress.json'), 'utf8'));
  } catch (e) {
    throw new PldrError(`progress.json is unreadable: ${(e as Error).message.split('\n')[0]}`);
  }
  const count = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (!count(p?.updates) || !count(p.tokens) || !(p.elapsedS >= 0) || p.data === undefined)
    throw new PldrError('progress.json lacks the updates, tokens, elapsed time or data position');
  return p;
}

/**
 * Make RUN_DIR's checkpoint whole after an interruption (hold the run's lock), and say whether the
 * run has one. checkpoint/ whole: the leftovers of cut-short writes (checkpoint.tmp-*,
 * checkpoint.old-*) are removed. checkpoint/ missing: the previous checkpoint, left as
 * checkpoint.old-PID by a kill between writeCheckpoint's renames, is put back; an unfinished
 * checkpoint.tmp-PID never counts. checkpoint/ present but not whole: refused, nothing changed.
 */
export function recoverCheckpoint(runDir: string): boolean {
  const dir = checkpointPath(runDir);
  const leftovers = readdirSync(runDir).filter(
    (n) => n.startsWith(`${CHECKPOINT_DIR}.tmp-`) || n.startsWith(`${CHECKPOINT_DIR}.old-`),
  );
  if (existsSync(dir)) {
    const why = incomplete(dir);
    if (why)
      throw new PldrError(
        `cannot resume ${runDir}: its checkpoint is incomplete (${why}) and no earlier one is beside it; nothing was changed (train it anew with --out ${runDir} --force, or use another --out)`,
      );
  } else {
    const previous = previousCheckpoint(runDir);
    if (previous) renameSync(join(runDir, previous), dir);
  }
  for (const n of leftovers) rmSync(join(runDir, n), {recursive: true, force: true});
  return existsSync(dir);
}

/**
 * Whether RUN_DIR holds a checkpoint: checkpoint/ itself, or, beside a cut-short write, a whole
 * previous one that recoverCheckpoint would put back (an incomplete checkpoint.old-PID does not count).
 */
export function hasCheckpoint(runDir: string): boolean {
  return existsSync(checkpointPath(runDir)) || previousCheckpoint(runDir) !== undefined;
}

/** The whole checkpoint.old-PID that a kill between writeCheckpoint's renames left in RUN_DIR, if any. */
function previousCheckpoint(runDir: string): string | undefined {
  if (!existsSync(runDir)) return undefined;
  return readdirSync(runDir).find((n) => PREVIOUS.test(n) && incomplete(join(runDir, n)) === undefined);
}

export function readCheckpoint(runDir: string): Checkpoint {
  const dir = checkpointPath(runDir);
  if (!existsSync(join(dir, 'progress.json')))
    throw new PldrError(`${runDir} has no checkpoint to resume from (no ${CHECKPOINT_DIR}/progress.json)`);
  const files = readModelFiles(dir);
  const {tensors, metadata} = readSafetensors(join(dir, 'optimizer.safetensors'));
  const optimizer: AdamWState = {t: Number(metadata.t), m: new Map(), v: new Map()};
  for (const [k, t] of tensors) {
    const which = k.slice(0, 2);
    if (which === 'm.') optimizer.m.set(k.slice(2), t.data as Float32Array);
    else if (which === 'v.') optimizer.v.set(k.slice(2), t.data as Float32Array);
  }
  return {files, optimizer, progress: readProgress(dir)};
}
