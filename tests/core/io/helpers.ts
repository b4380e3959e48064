/** Shared bits of the io tests: fixture paths, temp dirs, and whether a real torch is available. */
import {spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {dirname, join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';

import {expect} from 'vitest';

import {PldrError} from '../../../src/core/errors.js';
import type {GList} from '../../../src/core/io/glist.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const REFERENCE = join(ROOT, 'fixtures/reference');
export const GLISTS = join(ROOT, 'fixtures/glists');
export const SHARED_PREDEFINED_G = resolve(ROOT, '../shared/fixtures/predefined-G');

/** Debian's torch lives with the system python (the `python3` on PATH may be another one); PLDR_TORCH_PYTHON overrides. */
export const SYSTEM_PYTHON = process.env.PLDR_TORCH_PYTHON ?? '/usr/bin/python3';

let torchChecked: boolean | undefined;
export function hasTorch(): boolean {
  if (torchChecked === undefined) {
    const r = existsSync(SYSTEM_PYTHON)
      ? spawnSync(SYSTEM_PYTHON, ['-c', 'import torch'], {encoding: 'utf8'})
      : undefined;
    torchChecked = r?.status === 0;
    if (!torchChecked)
      console.warn(`[tests/io] skipping torch cross-checks: \`${SYSTEM_PYTHON} -c "import torch"\` failed`);
  }
  return torchChecked;
}

export function runPython(args: string[], input?: string): string {
  const r = spawnSync(SYSTEM_PYTHON, args, {encoding: 'utf8', input, maxBuffer: 64 << 20});
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export function tempDir(): {dir: string; cleanup: () => void} {
  const dir = mkdtempSync(join(tmpdir(), 'pldr-io-'));
  return {dir, cleanup: () => rmSync(dir, {recursive: true, force: true})};
}

/** Asserts that `fn` throws a one-line PldrError whose message contains every fragment. */
export function expectPldrError(fn: () => unknown, ...fragments: string[]): PldrError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a PldrError').toBeInstanceOf(PldrError);
  const msg = (caught as PldrError).message;
  expect(msg).not.toContain('\n');
  for (const f of fragments) expect(msg).toContain(f);
  return caught as PldrError;
}

export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function bytesEqual(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.compare(bytesOf(a), bytesOf(b)) === 0;
}

export interface ExpectedGList {
  kind: GList['kind'];
  locations: string[];
  layers: {shape: number[]; dtype: string; values: number[]}[][];
}

/** Compares a G list with what python wrote (values are float64 images of the stored floats). */
export function expectGListMatches(g: GList, e: ExpectedGList, label: string): void {
  expect(g.kind, label).toBe(e.kind);
  expect(g.layers.length, label).toBe(e.layers.length);
  g.layers.forEach((layer, i) => {
    const parts =
      g.kind === 'tensors'
        ? [layer.G_LM]
        : g.kind === 'pairs'
          ? [layer.A_LM, layer.G_LM]
          : [layer.A_LM, layer.G_LM, layer.A_P];
    if (g.kind === 'tensors') expect(layer.A_LM).toBeUndefined();
    if (g.kind !== 'triples') expect(layer.A_P).toBeUndefined();
    parts.forEach((t, j) => {
      const want = e.layers[i][j];
      expect(t, `${label} [${i}][${j}]`).toBeDefined();
      expect(t!.shape, `${label} [${i}][${j}]`).toEqual(want.shape);
      expect(t!.dtype).toBe(want.dtype === 'float64' ? 'F64' : 'F32');
      const values = want.dtype === 'float64' ? Float64Array.from(want.values) : Float32Array.from(want.values);
      expect(bytesEqual(t!.data, values), `${label} [${i}][${j}] values`).toBe(true);
    });
  });
  if (g.metadata.storage_locations !== undefined)
    expect(g.metadata.storage_locations.split(','), label).toEqual(e.locations);
}
