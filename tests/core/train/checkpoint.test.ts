/** RUN_DIR/checkpoint: what counts as a checkpoint after an interruption, and what recovery puts back. */
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterEach, beforeEach, describe, expect, it} from 'vitest';

import {hasCheckpoint, recoverCheckpoint} from '../../../src/core/train/checkpoint.js';

let runDir: string;
beforeEach(() => {
  runDir = mkdtempSync(join(tmpdir(), 'pldr-ckpt-'));
});
afterEach(() => rmSync(runDir, {recursive: true, force: true}));

/** A checkpoint folder with the files a resume needs (their contents are not read here, but progress.json's). */
function checkpointFolder(
  name: string,
  updates: number,
  files = ['config.json', 'model.safetensors', 'optimizer.safetensors'],
): string {
  const dir = join(runDir, name);
  mkdirSync(dir);
  for (const f of files) writeFileSync(join(dir, f), '');
  writeFileSync(join(dir, 'progress.json'), JSON.stringify({updates, tokens: 8 * updates, elapsedS: 1, data: {}}));
  return dir;
}

const updatesIn = (dir: string) => JSON.parse(readFileSync(join(dir, 'progress.json'), 'utf8')).updates;

describe('hasCheckpoint and recoverCheckpoint agree', () => {
  it('an empty run folder has none', () => {
    expect(hasCheckpoint(runDir)).toBe(false);
    expect(recoverCheckpoint(runDir)).toBe(false);
  });

  it('a whole checkpoint.old-PID left between the two renames counts, and recovery puts it back', () => {
    checkpointFolder('checkpoint.old-4242', 3);
    checkpointFolder('checkpoint.tmp-4242', 4, ['config.json']); // the unfinished new one never counts
    expect(hasCheckpoint(runDir)).toBe(true);
    expect(recoverCheckpoint(runDir)).toBe(true);
    expect(readdirSync(runDir)).toEqual(['checkpoint']);
    expect(updatesIn(join(runDir, 'checkpoint'))).toBe(3);
    expect(hasCheckpoint(runDir)).toBe(true);
  });

  it('an incomplete checkpoint.old-PID (its removal cut short) counts for neither, and is cleared', () => {
    checkpointFolder('checkpoint.old-4242', 3, ['config.json']);
    expect(hasCheckpoint(runDir)).toBe(false);
    expect(recoverCheckpoint(runDir)).toBe(false);
    expect(readdirSync(runDir)).toEqual([]);
  });

  it('a whole checkpoint/ wins over the leftovers beside it, which are removed', () => {
    checkpointFolder('checkpoint', 5);
    checkpointFolder('checkpoint.old-4242', 4);
    expect(hasCheckpoint(runDir)).toBe(true);
    expect(recoverCheckpoint(runDir)).toBe(true);
    expect(readdirSync(runDir)).toEqual(['checkpoint']);
    expect(updatesIn(join(runDir, 'checkpoint'))).toBe(5);
  });

  it('an incomplete checkpoint/ is refused by recovery and nothing is changed', () => {
    checkpointFolder('checkpoint', 5, ['config.json']);
    checkpointFolder('checkpoint.old-4242', 4);
    expect(() => recoverCheckpoint(runDir)).toThrow(/its checkpoint is incomplete \(model\.safetensors is missing\)/);
    expect(readdirSync(runDir).sort()).toEqual(['checkpoint', 'checkpoint.old-4242']);
    expect(existsSync(join(runDir, 'checkpoint', 'progress.json'))).toBe(true);
  });
});
