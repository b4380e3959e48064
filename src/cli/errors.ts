/**
 * What the user sees when a command fails: one line on stderr, `error: <message>`, or with --json
 * one JSON object `{"error": "<message>", "exit": <code>}` so that a script reading JSON reads the
 * failure too. The exit codes are those EXIT_CODES lists.
 */
import {PldrError} from '../core/errors.js';

/** Exit codes of every command, shown by --help. */
export const EXIT_CODES: Array<[number, string]> = [
  [0, 'success'],
  [1, 'error: bad input, a failed check (eval --check-invariance), a non-finite training loss, out of memory'],
  [2, 'usage error: unknown command or flag, bad flag value, missing argument'],
  [130, 'interrupted (Ctrl-C); pldr train first writes a checkpoint to resume from'],
  [143, 'stopped by SIGTERM; pldr train first writes a checkpoint to resume from'],
];

export interface Failure {
  message: string;
  exit: number;
}

/** The user-facing failure an error stands for, or undefined for a bug (which keeps its stack trace). */
export function failureOf(err: Error & {oclif?: {exit?: number}}): Failure | undefined {
  if (err instanceof PldrError) return {message: err.message, exit: 1};
  // oclif's own usage errors (unknown flag, value not among the options, missing argument): one line
  // as well, pointing at --help.
  if (err.oclif?.exit === 2) {
    const message = err.message
      .split('\n')
      .map((l) => l.trim().replace(/^Error:\s*/, ''))
      .filter((l) => l && !/^(See more help|The following errors? occurred)/.test(l))
      .join('; ');
    return {message: `${message} (see --help)`, exit: 2};
  }
  // Running out of memory in the tensor backend is the user's problem, not a bug.
  if (/out of memory|Cannot allocate Wasm memory/i.test(err.message))
    return {message: `the tensor backend ran out of memory (${err.message.split('\n')[0]})`, exit: 1};
  return undefined;
}

/** The line a failure prints on stderr. */
export function failureLine(f: Failure, json: boolean): string {
  return (json ? JSON.stringify({error: f.message, exit: f.exit}) : `error: ${f.message}`) + '\n';
}

/** Whether the command line asks for JSON output (--json before any `--`). */
export function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}
