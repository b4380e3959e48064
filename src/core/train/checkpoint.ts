/**
 * Training checkpoints: RUN_DIR/checkpoint/ is a model directory that `pldr generate` reads as is
 * (config.json, model.safetensors, tokenizer.model), plus what a resumed run needs to continue
 * exactly: optimizer.safetensors (AdamW's m and v per parameter) and progress.json (updates done,
 * tokens seen, the data position, the optimizer's step count).
 *
 * Written atomically: everything goes to a temporary sibling first, which then replaces the old
 * checkpoint by rename, so an interruption at any moment leaves the last good checkpoint whole.
 */
import {existsSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {PldrError} from '../errors.js';
import {type ModelFiles, readModelFiles, writeModelDir} from '../io/model-files.js';
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

export function checkpointPath(runDir: string): string {
  return join(runDir, CHECKPOINT_DIR);
}

export function writeCheckpoint(runDir: string, c: Checkpoint): void {
  const final = checkpointPath(runDir);
  const tmp = `${final}.tmp-${process.pid}`;
  rmSync(tmp, {recursive: true, force: true});
  try {
    writeModelDir(tmp, c.files);
    const moments: StateDict = new Map();
    for (const [k, m] of c.optimizer.m) moments.set(`m.${k}`, {dtype: 'F32', shape: [m.length], data: m});
    for (const [k, v] of c.optimizer.v) moments.set(`v.${k}`, {dtype: 'F32', shape: [v.length], data: v});
    writeSafetensors(join(tmp, 'optimizer.safetensors'), moments, {t: String(c.optimizer.t)});
    writeFileSync(join(tmp, 'progress.json'), JSON.stringify(c.progress, null, 1) + '\n');
    // Swap: the old checkpoint moves aside only once the new one is complete.
    const old = `${final}.old-${process.pid}`;
    if (existsSync(final)) renameSync(final, old);
    renameSync(tmp, final);
    rmSync(old, {recursive: true, force: true});
  } catch (e) {
    rmSync(tmp, {recursive: true, force: true});
    throw e;
  }
}

export function readCheckpoint(runDir: string): Checkpoint {
  const dir = checkpointPath(runDir);
  if (!existsSync(join(dir, 'progress.json'))) throw new PldrError(`${runDir} has no checkpoint to resume from (no ${CHECKPOINT_DIR}/progress.json)`);
  const files = readModelFiles(dir);
  const {tensors, metadata} = readSafetensors(join(dir, 'optimizer.safetensors'));
  const optimizer: AdamWState = {t: Number(metadata.t), m: new Map(), v: new Map()};
  for (const [k, t] of tensors) {
    const which = k.slice(0, 2);
    if (which === 'm.') optimizer.m.set(k.slice(2), t.data as Float32Array);
    else if (which === 'v.') optimizer.v.set(k.slice(2), t.data as Float32Array);
  }
  let progress: Progress;
  try {
    progress = JSON.parse(readFileSync(join(dir, 'progress.json'), 'utf8'));
  } catch (e) {
    throw new PldrError(`${dir}/progress.json is not valid JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  return {files, optimizer, progress};
}
