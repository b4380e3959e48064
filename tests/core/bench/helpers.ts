/** What the bench CLI tests share: a results folder per test file, running `pldr bench`, and checks of a report. */
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import * as tf from '@tensorflow/tfjs';
import {afterAll, beforeAll, expect} from 'vitest';

import type {BenchReport} from '../../../src/core/bench/report.js';
import {pldr} from '../../commands/run.js';

export const QUICK_TOKENS = 8;
export const QUICK_REPEATS = 2;

let tmp: string;

/** A fresh results folder for this test file, removed after it; returns a getter (the folder exists from beforeAll on). */
export function useResultsDir(): () => string {
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'pldr-bench-'));
  });
  afterAll(() => rmSync(tmp, {recursive: true, force: true}));
  return () => tmp;
}

/** `pldr bench ARGS --results-dir <folder>`, which must succeed. */
export function run(args: string[]): {stdout: string; stderr: string} {
  const r = pldr(['bench', ...args, '--results-dir', tmp]);
  expect(r.code, r.stderr).toBe(0);
  return r;
}
export const readJson = (name: string): BenchReport => JSON.parse(readFileSync(join(tmp, `${name}.json`), 'utf8'));
export const isPositive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;

export function expectFiles(name: string): void {
  const md = readFileSync(join(tmp, `${name}.md`), 'utf8');
  expect(md).toMatch(/^# /);
  expect(md).toContain(`](${name}.svg)`);
  expect(md).toContain('## Environment');
  expect(md).toContain('## Reproduce');
  expect(readFileSync(join(tmp, `${name}.svg`), 'utf8')).toMatch(/^<svg|^<\?xml/);
  const png = readFileSync(join(tmp, `${name}.png`));
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
}

export function expectEnvironment(r: BenchReport): void {
  expect(r.kind).toBe('pldr-bench');
  expect(r.schema).toBe(1);
  const e = r.environment;
  expect(e.backend).toBe('wasm');
  expect(typeof e.cpu).toBe('string');
  expect(e.cores).toBeGreaterThan(0);
  expect(e.memory_gb).toBeGreaterThan(0);
  expect(e.node).toBe(process.version);
  expect(e.tfjs).toBe(tf.version_core);
  expect('git_commit' in e).toBe(true);
  if (e.git_commit !== null) expect(e.git_commit).toMatch(/^[0-9a-f]{40}$/);
  expect(e.load_average_start).toHaveLength(3);
  expect(r.flags).toMatchObject({quick: true});
  expect(r.command).toMatch(/^pldr bench /);
}
