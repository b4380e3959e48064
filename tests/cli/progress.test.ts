/**
 * The one progress display (src/cli/progress.ts): plain lines where stderr is not a terminal, a
 * bar rewritten in place where it is, and the durations its ETAs are written in.
 */
import {Writable} from 'node:stream';

import {describe, expect, it} from 'vitest';

import {formatDuration, ProgressDisplay} from '../../src/cli/progress.js';

/** A stream that keeps what is written to it, a terminal or not. */
function sink(tty: boolean): NodeJS.WriteStream & {text: () => string} {
  const chunks: string[] = [];
  const s = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return Object.assign(s, {isTTY: tty, columns: 100, text: () => chunks.join('')}) as unknown as NodeJS.WriteStream & {
    text: () => string;
  };
}

describe('ProgressDisplay', () => {
  it('elsewhere than a terminal: lines only, the bar text only when asked to stand as a line', () => {
    const s = sink(false);
    const p = new ProgressDisplay(s);
    expect(p.tty).toBe(false);
    p.update('tokenizing: 10%', null);
    p.update('50.0% update 1', 0.5, {orLine: true});
    p.line('validation at update 1');
    p.done();
    expect(s.text()).toBe('50.0% update 1\nvalidation at update 1\n');
  });

  it('on a terminal: a bar of 20 with the text beside it, ended by the next line, which stays', () => {
    const s = sink(true);
    const p = new ProgressDisplay(s);
    p.update('update 1', 0.5, {orLine: true});
    p.update('update 2', 1);
    p.line('validation at update 2');
    const text = s.text();
    expect(text).toContain('[##########..........] update 1');
    expect(text).toContain('[####################] update 2');
    expect(text.endsWith('\nvalidation at update 2\n')).toBe(true);
    expect(text.match(/validation/g)).toHaveLength(1);
  });
});

describe('formatDuration', () => {
  it('seconds, minutes and hours; "?" when unknown', () => {
    expect([45, 725, 7380, 3600].map(formatDuration)).toEqual(['45s', '12m05s', '2h03m', '1h00m']);
    expect(formatDuration(null)).toBe('?');
    expect(formatDuration(Infinity)).toBe('?');
  });
});
