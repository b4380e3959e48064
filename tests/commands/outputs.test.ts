/**
 * What commands write: never over what we did not create, never onto the input, refused
 * with one line before the long work; results written atomically, with no temporary file left.
 */
import {spawnSync} from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {benchFlags} from '../../src/cli/bench.js';
import {readModelFiles, writeModelDir} from '../../src/core/io/model-files.js';
import {fixture, ROOT} from '../helpers.js';
import {makeModelDir, tinyConfig} from './models.js';
import {ok, oneLineError, pldr} from './run.js';

const TASKS = join(ROOT, 'fixtures', 'eval-tasks');
let tmp: string;
let model: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pldr-outputs-'));
  model = makeModelDir(join(tmp, 'model'));
});
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

/** Every file under `dir` with its bytes, to show nothing changed. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir, {recursive: true}) as string[]) {
    const p = join(dir, name);
    try {
      out[name] = readFileSync(p).toString('base64');
    } catch {
      out[name] = '<dir>';
    }
  }
  return out;
}

function folderWithNotes(name: string): string {
  const d = join(tmp, name);
  mkdirSync(d, {recursive: true});
  writeFileSync(join(d, 'notes.txt'), 'x\n');
  return d;
}

describe('export-g --to-gi and convert never replace a folder they did not create', () => {
  it('export-g --to-gi into a non-empty folder: one error line, notes.txt survives', () => {
    const d = folderWithNotes('notes-gi');
    const line = oneLineError(pldr(['export-g', model, '--to-gi', d]));
    expect(line).toMatch(/^error: .*notes-gi is not empty: .*--force/);
    expect(readdirSync(d)).toEqual(['notes.txt']);
    expect(readFileSync(join(d, 'notes.txt'), 'utf8')).toBe('x\n');
  });

  it('the folder is refused before the model is read (a broken model is not even looked at)', () => {
    const broken = join(tmp, 'broken');
    mkdirSync(broken, {recursive: true});
    writeFileSync(join(broken, 'config.json'), '{');
    expect(oneLineError(pldr(['export-g', broken, '--to-gi', folderWithNotes('notes-gi-2')]))).toMatch(/is not empty/);
    expect(oneLineError(pldr(['convert', broken, join(broken, 'x.pth')]))).toMatch(/would overwrite the input/);
  });

  it('export-g --to-gi at the checkpoint itself is refused, even with --force; nothing changes', () => {
    const ckpt = makeModelDir(join(tmp, 'run', 'checkpoint'));
    writeFileSync(join(ckpt, 'progress.json'), '{"step": 100}\n');
    writeFileSync(join(ckpt, 'optimizer.safetensors'), 'state');
    const before = snapshot(ckpt);
    for (const extra of [[], ['--force']]) {
      expect(oneLineError(pldr(['export-g', ckpt, '--to-gi', ckpt, ...extra]))).toMatch(/would overlap the input/);
      expect(oneLineError(pldr(['export-g', ckpt, '--to-gi', join(ckpt, 'gi'), ...extra]))).toMatch(
        /would overlap the input/,
      );
    }
    expect(snapshot(ckpt)).toEqual(before);
  });

  it('export-g --to-gi --force replaces a non-empty folder with the Gi model', () => {
    const d = folderWithNotes('notes-gi-force');
    ok(['export-g', model, '--to-gi', d, '--force']);
    expect(existsSync(join(d, 'notes.txt'))).toBe(false);
    expect(readModelFiles(d).config.variant).toBe('v510G');
  });

  it('export-g --out never overwrites its own input model file', () => {
    const f = fixture('tiny-public');
    const dir = join(tmp, 'pth');
    mkdirSync(dir, {recursive: true});
    copyFileSync(f.checkpoint, join(dir, 'checkpoint.pth'));
    copyFileSync(join(f.dir, 'hparams.json'), join(dir, 'hparams.json'));
    const before = snapshot(dir);
    expect(oneLineError(pldr(['export-g', join(dir, 'checkpoint.pth'), '--out', join(dir, 'checkpoint.pth')]))).toMatch(
      /--out .*would overwrite the input/,
    );
    expect(oneLineError(pldr(['export-g', model, '--out', join(model, 'model.safetensors')]))).toMatch(
      /--out .*would overwrite the input/,
    );
    // nor lies in the --to-gi folder, which --force would replace whole
    const gi = folderWithNotes('gi-with-g');
    expect(
      oneLineError(pldr(['export-g', model, '--out', join(gi, 'g.safetensors'), '--to-gi', gi, '--force'])),
    ).toMatch(/--out .*lies inside --to-gi/);
    expect(readdirSync(gi)).toEqual(['notes.txt']);
    expect(snapshot(dir)).toEqual(before);
  });

  it('convert into a non-empty folder is refused; with --force it is replaced; never onto its own source', () => {
    const f = fixture('tiny-public');
    const d = folderWithNotes('notes-convert');
    expect(oneLineError(pldr(['convert', f.checkpoint, d]))).toMatch(/notes-convert is not empty: .*--force/);
    expect(readdirSync(d)).toEqual(['notes.txt']);
    ok(['convert', f.checkpoint, d, '--force']);
    expect(existsSync(join(d, 'notes.txt'))).toBe(false);
    expect(readModelFiles(d).weights.size).toBeGreaterThan(0);
    // a .pth written into the model directory it comes from would sit inside its own input
    const before = snapshot(d);
    expect(oneLineError(pldr(['convert', d, join(d, 'model.pth')]))).toMatch(/would overwrite the input/);
    expect(snapshot(d)).toEqual(before);
    // a model directory written over the folder holding its .pth source
    const src = join(tmp, 'src-dir');
    mkdirSync(src, {recursive: true});
    copyFileSync(f.checkpoint, join(src, 'checkpoint.pth'));
    copyFileSync(join(f.dir, 'hparams.json'), join(src, 'hparams.json'));
    expect(oneLineError(pldr(['convert', join(src, 'checkpoint.pth'), src, '--force']))).toMatch(
      /would overlap the input/,
    );
    expect(readdirSync(src).sort()).toEqual(['checkpoint.pth', 'hparams.json']);
  });
});

describe('eval --output is checked before scoring and written atomically', () => {
  const args = ['eval', '--tasks', 'arc_easy', '--data-dir', TASKS, '--limit', '2'];

  it('a missing folder, a folder as the file, or the model itself: one line, at once', () => {
    expect(oneLineError(pldr([...args, '--output', join(tmp, 'no-such-dir', 'r.json')]))).toMatch(
      /^error: --output .*no-such-dir.* does not exist/,
    );
    expect(oneLineError(pldr([...args, '--output', tmp]))).toMatch(/^error: --output .* is a folder/);
    expect(oneLineError(pldr([...args, '--model', model, '--output', join(model, 'config.json')]))).toMatch(
      /would overwrite the input/,
    );
    const task = join(tmp, 'arc_easy.jsonl');
    copyFileSync(join(TASKS, 'arc_easy.jsonl'), task);
    const before = readFileSync(task);
    expect(oneLineError(pldr(['eval', '--tasks', 'arc_easy', '--task', `arc_easy=${task}`, '--output', task]))).toMatch(
      /would overwrite the input/,
    );
    expect(readFileSync(task).equals(before)).toBe(true);
  });

  it('a disk that fills up mid-write: one line, and no temporary file left behind', () => {
    const dir = join(tmp, 'full');
    mkdirSync(dir, {recursive: true});
    // a 1 KiB file-size limit stands in for a full disk: the results with samples are larger
    const cmd = `ulimit -f 1 && exec "${process.execPath}" bin/run.js ${[...args, '--log-samples', '--output', join(dir, 'r.json')].map((a) => `'${a}'`).join(' ')}`;
    // one thread: the limit would stop a threaded start's worker scripts first (tests/core/threads.test.ts covers that)
    const r = spawnSync('bash', ['-c', cmd], {
      cwd: ROOT,
      encoding: 'utf8',
      env: {...process.env, NODE_NO_WARNINGS: '1', PLDR_THREADS: '1'},
    });
    expect(oneLineError({code: r.status, stdout: r.stdout, stderr: r.stderr})).toMatch(
      /^error: cannot write .*r\.json/,
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('bench writes its reports outside the tracked results/ by default', () => {
  it('the default folder is ./pldr-bench/, which git ignores', () => {
    expect(benchFlags['results-dir'].default).toBe('pldr-bench');
    expect(readFileSync(join(ROOT, '.gitignore'), 'utf8').split('\n')).toContain('/pldr-bench/');
  });

  it('a results folder that cannot be made is refused before the suite runs', () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, '');
    expect(oneLineError(pldr(['bench', 'paper', '--quick', '--results-dir', join(file, 'sub')]))).toMatch(
      /^error: --results-dir .*a-file is not a folder/,
    );
  });
});

describe('a model whose weights are not finite', () => {
  it('export-g refuses to write a G that is not finite, naming the layer', () => {
    const config = tinyConfig('v510');
    const files = readModelFiles(model);
    const weights = new Map(files.weights);
    for (const [k, t] of weights)
      if (k.includes('embedding')) weights.set(k, {...t, data: new Float32Array(t.data.length).fill(NaN)});
    const nan = join(tmp, 'nan-model');
    writeModelDir(nan, {config, weights, source: 'test'});
    const out = join(tmp, 'nan-g.safetensors');
    expect(oneLineError(pldr(['export-g', nan, '--ids', '5,6', '--out', out]))).toMatch(
      /^error: .*layer 0 .*not finite.*weights/,
    );
    expect(existsSync(out)).toBe(false);
  });
});
