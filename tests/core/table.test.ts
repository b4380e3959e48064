import {describe, expect, it} from 'vitest';

import {table, tableLines} from '../../src/core/table.js';

// Each expected string is the output of one of the four table functions the renderer replaced, on the same input.
describe('table renderer', () => {
  it('markdown: the bench reports’ tables (pipes escaped, first column left, the rest right)', () => {
    const rows = [
      ['pldrv51-tiny', 'kv+g', '12.3', 'x\ny'],
      ['sdpa', 'kv', '9.87', ''],
    ];
    expect(table(rows, {head: ['model', 'mode', 'median ms', 'a|b'], style: 'markdown'})).toBe(
      '| model | mode | median ms | a\\|b |\n|:---|---:|---:|---:|\n| pldrv51-tiny | kv+g | 12.3 | x y |\n| sdpa | kv | 9.87 |  |',
    );
    expect(
      table([['decode', '3.1×', 'yes']], {
        head: ['target', 'measured', 'met'],
        align: ['l', 'l', 'r'],
        style: 'markdown',
      }),
    ).toBe('| target | measured | met |\n|:---|:---|---:|\n| decode | 3.1× | yes |');
  });

  it('text: the bench terminal summary (padded, trailing spaces dropped, short rows allowed)', () => {
    const rows = [
      ['tiny none', '120', '118', ''],
      ['tiny kv+g', '8.5', '8.1', '20.4'],
      ['short', '1'],
    ];
    expect(table(rows, {head: ['scenario', 'median ms', 'min', '1 thread ms'], trimEnd: true})).toBe(
      'scenario   median ms  min  1 thread ms\ntiny none        120  118\ntiny kv+g        8.5  8.1         20.4\nshort              1',
    );
  });

  it('text: export-g’s report tables (indented, trailing spaces kept)', () => {
    const rows = [
      ['layer 0', '1.0000e-7', '0.0012', '0.0100'],
      ['overall', '2.5000e-7', '0.0020', ''],
    ];
    expect(table(rows, {head: ['', 'max |diff|', 'RMS diff', 'relative RMS'], indent: '  '})).toBe(
      '           max |diff|  RMS diff  relative RMS\n  layer 0   1.0000e-7    0.0012        0.0100\n  overall   2.5000e-7    0.0020              ',
    );
  });

  it('text without a head: info’s label/value lists and preset list (a left-aligned last column is not padded)', () => {
    const numbers = [
      ['num_layers', '5'],
      ['d_model', '896'],
      ['dk (d_model / num_heads)', '64'],
    ];
    expect(tableLines(numbers, {indent: '  '})).toEqual([
      '  num_layers                  5',
      '  d_model                   896',
      '  dk (d_model / num_heads)   64',
    ]);
    const text = [
      ['variant', 'pldrv51'],
      ['rope', 'llama3 scaled'],
    ];
    expect(tableLines(text, {indent: '  ', align: ['l', 'l']})).toEqual([
      '  variant  pldrv51',
      '  rope     llama3 scaled',
    ]);
    const presets = [
      ['tiny', '1,234,567', 'for tests'],
      ['pldrv51-110m', '110,123,456', 'the paper'],
    ];
    expect(tableLines(presets, {align: ['l', 'r', 'l']})).toEqual([
      'tiny            1,234,567  for tests',
      'pldrv51-110m  110,123,456  the paper',
    ]);
  });

  it('grid: eval’s lm-eval-harness table (fixed widths, centred head, ± counted two wide)', () => {
    const rows = [
      ['arc_easy', '0 ', 'acc', '0.5000', '± ', '0.0123'],
      ['', '', 'acc_norm', '0.4568', '± ', '0.0100'],
      ['', '', 'acc_bytes', '   N/A', '± ', '   N/A'],
      ['truthfulqa_mc2', '0 ', 'mc2', '0.4123', '± ', '0.0151'],
    ];
    const measure = (s: string) => s.length + (s.match(/±/g)?.length ?? 0);
    expect(
      table(rows, {
        head: ['Tasks', 'n-shot', 'Metric', 'Value', '', 'Stderr'],
        align: ['l', 'r', 'l', 'r', 'l', 'r'],
        style: 'grid',
        minWidth: [16, 8, 10, 8, 3, 8],
        measure,
      }),
    ).toBe(
      '|     Tasks      | n-shot |  Metric  | Value  |   | Stderr |\n|----------------|-------:|----------|-------:|---|-------:|\n|arc_easy        |      0 |acc       |  0.5000|± |  0.0123|\n|                |        |acc_norm  |  0.4568|± |  0.0100|\n|                |        |acc_bytes |     N/A|± |     N/A|\n|truthfulqa_mc2  |      0 |mc2       |  0.4123|± |  0.0151|',
    );
  });

  it('columns grow to the widest cell, centred cells split the room left-first', () => {
    expect(table([['a', 'bb']], {head: ['x', 'y'], align: ['c', 'c'], style: 'grid'})).toBe('|x|y |\n|-|--|\n|a|bb|');
    expect(() => table([['a']], {style: 'markdown'})).toThrow(/head/);
  });
});
