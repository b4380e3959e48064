import {describe, expect, it} from 'vitest';

import {terminalChart} from '../../../src/core/plot/terminal.js';

describe('terminalChart', () => {
  const strip = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');

  it('has the requested height and a legend', () => {
    const a = Array.from({length: 1000}, (_, i) => 0.5 + 3.8 * Math.exp(-i / 200));
    const b = Array.from({length: 100}, (_, i) => 0.7 + 3.6 * Math.exp(-i / 20));
    for (const height of [2, 5, 10, 12, 17, 30]) {
      const out = terminalChart(
        [
          {name: 'train loss', values: a},
          {name: 'val loss', values: b},
        ],
        {height, width: 70},
      );
      const lines = out.split('\n');
      expect(lines).toHaveLength(height + 1);
      expect(lines[height]).toContain('train loss');
      expect(lines[height]).toContain('val loss');
      for (const l of lines.slice(0, height)) expect(l.length).toBeLessThanOrEqual(70);
    }
    const out = terminalChart([{name: 'train loss', values: a}], {height: 10, width: 60});
    expect(out).toContain('4.30');
    expect(out).toContain('0.53'); // the smallest value, 0.5 + 3.8·e^−5
    expect(out.split('\n').at(-1)).toBe('── train loss (last 0.5257)');
  });

  it('stretches every series over the width and keeps short series short', () => {
    const zeros = Array.from({length: 1000}, () => 0);
    const ones = Array.from({length: 10}, () => 1);
    const lines = terminalChart(
      [
        {name: 'long', values: zeros},
        {name: 'short', values: ones},
      ],
      {height: 6, width: 50},
    ).split('\n');
    expect(lines).toHaveLength(7);
    // The 10-value series (top row) runs as far right as the 1000-value one (bottom row).
    expect(lines[0]!.length).toBeGreaterThanOrEqual(48);
    expect(lines[5]!.length).toBe(lines[0]!.length);
    const few = terminalChart([{name: 'few', values: [3, 1, 2, 0, 4]}], {height: 5, width: 50}).split('\n');
    expect(Math.max(...few.slice(0, 5).map((l) => l.length))).toBeLessThanOrEqual(12);
  });

  it('handles NaN and Inf, empty and constant series', () => {
    const v = [1, 2, NaN, 4, Infinity, 3, -Infinity, 2];
    const out = terminalChart(
      [
        {name: 'loss', values: v},
        {name: 'empty', values: []},
      ],
      {height: 8, width: 80},
    );
    const lines = out.split('\n');
    expect(lines).toHaveLength(9);
    expect(out).not.toMatch(/NaN|Infinity/);
    expect(lines[8]).toContain('loss (last 2, 3 non-finite skipped)');
    expect(lines[8]).toContain('empty (no data)');
    const none = terminalChart([{name: 'x', values: [NaN]}], {height: 6}).split('\n');
    expect(none).toHaveLength(7);
    expect(none.join('\n')).toContain('(no data)');
    expect(terminalChart([{name: 'flat', values: [2, 2, 2]}], {height: 5}).split('\n')).toHaveLength(6);
    expect(terminalChart([], {height: 4}).split('\n')).toHaveLength(5);
  });

  it('colours series only when asked', () => {
    const s = [
      {name: 'a', values: [1, 2, 3]},
      {name: 'b', values: [3, 2, 1]},
    ];
    expect(terminalChart(s)).not.toContain('\x1b[');
    const coloured = terminalChart(s, {color: true, height: 6});
    expect(coloured).toContain('\x1b[');
    expect(strip(coloured).split('\n')).toHaveLength(7);
  });
});
