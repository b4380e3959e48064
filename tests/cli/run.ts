/** Runs the built CLI (`npm test` builds it first through the pretest script). */
import {spawnSync} from 'node:child_process';
import {join} from 'node:path';

import {expect} from 'vitest';

import {ROOT} from '../helpers.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function pldr(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'run.js'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: {...process.env, NODE_NO_WARNINGS: '1', ...env},
    timeout: 120_000,
  });
  return {code: r.status, stdout: r.stdout, stderr: r.stderr};
}

/** The contract for bad input: a non-zero exit, exactly one line on stderr starting "error:", no stack trace. */
export function oneLineError(r: CliResult): string {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  if (r.code === 0 || r.code === null || lines.length !== 1 || !lines[0].startsWith('error: ') || /\n\s+at /.test(r.stderr))
    throw new Error(`expected one "error:" line and a non-zero exit, got exit ${r.code} with stderr:\n${r.stderr}`);
  return lines[0];
}

/** Run and expect success. */
export function ok(args: string[], env: Record<string, string> = {}): CliResult {
  const r = pldr(args, env);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

/** Run with --json appended and parse what it printed. */
export function okJson(args: string[]): any {
  return JSON.parse(ok([...args, '--json']).stdout);
}
