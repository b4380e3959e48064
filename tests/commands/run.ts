/** Runs the built CLI (`npm test` builds it first through the pretest script). */
import {spawnSync} from 'node:child_process';
import {join} from 'node:path';

import {expect} from 'vitest';

import {wantsJson} from '../../src/cli/errors.js';
import {ROOT} from '../helpers.js';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** --json was given: errors come as one JSON object {"error", "exit"} instead of an `error:` line. */
  json?: boolean;
}

export function pldr(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'run.js'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: {...process.env, NODE_NO_WARNINGS: '1', ...env},
    timeout: 120_000,
  });
  return {code: r.status, stdout: r.stdout, stderr: r.stderr, json: wantsJson(args)};
}

/**
 * The contract for bad input: a non-zero exit, exactly one line on stderr starting "error:" (with
 * --json: one JSON object {"error": …, "exit": <the exit code>}), no stack trace. Returns the line
 * in the "error: <message>" form either way.
 */
export function oneLineError(r: CliResult): string {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  const line = lines.length === 1 && r.json ? jsonErrorLine(lines[0], r.code) : lines[0];
  if (
    r.code === 0 ||
    r.code === null ||
    lines.length !== 1 ||
    !line?.startsWith('error: ') ||
    /\n\s+at /.test(r.stderr)
  )
    throw new Error(
      `expected one ${r.json ? 'JSON error' : '"error:"'} line and a non-zero exit, got exit ${r.code} with stderr:\n${r.stderr}`,
    );
  return line;
}

/** {"error": message, "exit": code} → "error: message"; undefined when the line is not that. */
function jsonErrorLine(line: string, code: number | null): string | undefined {
  try {
    const e = JSON.parse(line);
    return typeof e.error === 'string' && e.exit === code && Object.keys(e).length === 2
      ? `error: ${e.error}`
      : undefined;
  } catch {
    return undefined;
  }
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
