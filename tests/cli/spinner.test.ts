/** The status spinner (src/cli/spinner.ts): on a terminal only, only after ~1 s, its line cleared when it stops. */
import {closeSync, mkdtempSync, openSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {spinner, withSpinner} from '../../src/cli/spinner.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pldr-spinner-'));
});
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

/** Work that blocks the thread, as loading a model does. */
function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

/** A fake stream backed by a file: what the spinner drew is the file's text. */
function fakeStream(name: string, isTTY: boolean) {
  const path = join(tmp, name);
  const fd = openSync(path, 'w');
  return {stream: {isTTY, fd}, drawn: () => (closeSync(fd), readFileSync(path, 'utf8'))};
}

describe('spinner', () => {
  it('on a terminal, draws frames with its label during long blocking work and clears its line at stop', () => {
    const {stream, drawn} = fakeStream('tty', true);
    const s = spinner('loading the model', {stream, delayMs: 200, frameMs: 20});
    busy(1200);
    s.stop();
    const text = drawn();
    expect(text).toMatch(/^\r[|/\-\\] loading the model/);
    expect(text.split('\r').filter((f) => f.includes('loading the model')).length).toBeGreaterThan(1);
    expect(text.endsWith('\r\x1b[K')).toBe(true);
  });

  it('shows nothing for work shorter than the delay', () => {
    const {stream, drawn} = fakeStream('short', true);
    const s = spinner('loading the model', {stream, delayMs: 1000});
    busy(100);
    s.stop();
    busy(1200); // past the delay: still nothing once stopped
    expect(drawn()).toBe('');
  });

  it('is silent when the stream is not a terminal (a pipe, a file)', () => {
    const {stream, drawn} = fakeStream('pipe', false);
    const s = spinner('loading the model', {stream, delayMs: 50, frameMs: 10});
    busy(400);
    s.stop();
    expect(drawn()).toBe('');
  });

  it('withSpinner stops when the work throws, and after a promise settles', async () => {
    const a = fakeStream('throws', true);
    expect(() =>
      withSpinner(
        'loading',
        () => {
          busy(500);
          throw new Error('corrupt');
        },
        {stream: a.stream, delayMs: 100, frameMs: 20},
      ),
    ).toThrow('corrupt');
    expect(a.drawn().endsWith('\r\x1b[K')).toBe(true);
    const b = fakeStream('promise', true);
    expect(
      await withSpinner('prompt pass', async () => (busy(400), 7), {stream: b.stream, delayMs: 100, frameMs: 20}),
    ).toBe(7);
    expect(b.drawn()).toMatch(/prompt pass[^]*\r\x1b\[K$/);
  });
});
