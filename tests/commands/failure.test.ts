/** How a failure is reported (src/cli/errors.ts): which errors are the user's, and the line each prints. */
import {describe, expect, it} from 'vitest';

import {failureLine, failureOf, wantsJson} from '../../src/cli/errors.js';
import {PldrError} from '../../src/core/errors.js';

describe('failureOf', () => {
  it('a PldrError exits 1 with its message; a usage error 2, in one line pointing at --help', () => {
    expect(failureOf(new PldrError('--top-p must be in (0, 1]'))).toEqual({
      message: '--top-p must be in (0, 1]',
      exit: 1,
    });
    const usage = Object.assign(new Error('Nonexistent flag: --bogus\nSee more help with --help'), {oclif: {exit: 2}});
    expect(failureOf(usage)).toEqual({message: 'Nonexistent flag: --bogus (see --help)', exit: 2});
  });

  it("running out of wasm memory is the user's problem (exit 1); any other error is a bug", () => {
    expect(
      failureOf(new RangeError('WebAssembly.Memory.grow(): Cannot allocate Wasm memory for new instance\n  at x')),
    ).toEqual({
      message:
        'the tensor backend ran out of memory (WebAssembly.Memory.grow(): Cannot allocate Wasm memory for new instance)',
      exit: 1,
    });
    expect(failureOf(new TypeError('x is not a function'))).toBeUndefined();
  });
});

describe('failureLine', () => {
  it('"error: <message>" or, with --json, one JSON object with the exit code', () => {
    expect(failureLine({message: 'no prompt', exit: 1}, false)).toBe('error: no prompt\n');
    expect(failureLine({message: 'the "x" flag', exit: 2}, true)).toBe('{"error":"the \\"x\\" flag","exit":2}\n');
    expect(wantsJson(['--model', 'm', '--json'])).toBe(true);
    expect(wantsJson(['--model', 'm', '--', '--json'])).toBe(false);
  });
});
