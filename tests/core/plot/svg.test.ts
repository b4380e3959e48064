import {describe, expect, it} from 'vitest';

import {svgToPng} from '../../../src/core/plot/png.js';
import {barChartSvg, lineChartSvg, multiPanelSvg, PALETTE, type LineChartSpec} from '../../../src/core/plot/svg.js';
import {assertWellFormed, lossCurves, pngSize, texts} from './helpers.js';

/** The `d` of each drawn mark of a kind vega names in aria-roledescription ("line mark", "bar", "circle"). */
const marks = (svg: string, kind: string): string[] =>
  [...svg.matchAll(/<path [^>]*aria-roledescription="([^"]*)"[^>]*d="([^"]*)"[^>]*>/g)]
    .filter((m) => m[1] === kind)
    .map((m) => m[2]!);

/** The SVG's own size. */
const size = (svg: string): {width: number; height: number} => {
  const m = /^<svg[^>]* width="(\d+)" height="(\d+)"/.exec(svg)!;
  return {width: Number(m[1]), height: Number(m[2])};
};

describe('lineChartSvg', () => {
  it('writes a chart with title, labels, legend and 1-2-5 ticks that resvg renders', async () => {
    const spec = lossCurves();
    spec.series = [
      {
        name: 'train',
        points: [
          [0, 4.3],
          [50, 2.2],
          [100, 0.5],
        ],
      },
      {
        name: 'val <b> & "co"',
        points: [
          [0, 4.1],
          [100, 1.0],
        ],
        dashed: true,
      },
    ];
    const svg = await lineChartSvg(spec);
    assertWellFormed(svg);
    expect(size(svg)).toEqual({width: 800, height: 480});
    expect(pngSize(svgToPng(svg))).toEqual({width: 800, height: 480});
    const t = texts(svg);
    for (const s of ['Training loss', 'step', 'cross-entropy loss', 'train', 'val <b> & "co"']) expect(t).toContain(s);
    // y data 0.5 … 4.3 on the plot's height (about 6 intervals) → 0.5 … 4.5 in steps of 0.5.
    for (const label of ['0.5', '1.0', '1.5', '2.0', '2.5', '3.0', '3.5', '4.0', '4.5']) expect(t).toContain(label);
    expect(t).not.toContain('0.0');
    expect(t).not.toContain('5.0');
    for (const label of ['0', '20', '40', '60', '80', '100']) expect(t).toContain(label);
    const lines = [...svg.matchAll(/<path [^>]*aria-roledescription="line mark"[^>]*>/g)].map((m) => m[0]);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain(`stroke="${PALETTE[0]}"`);
    expect(lines[1]).toContain(`stroke="${PALETTE[1]}"`);
    expect(lines[1]).toContain('stroke-dasharray="7,4"'); // dashed series
    expect(lines[0]).not.toContain('stroke-dasharray="7,4"');
    expect(svg).toContain('font-family=');
    expect(svg).toContain('sans-serif');
  });

  it('breaks the line at non-finite points and never writes NaN', async () => {
    const svg = await lineChartSvg({
      title: 'gaps',
      xLabel: 'x',
      yLabel: 'y',
      series: [
        {
          name: 'a',
          points: [
            [0, 1],
            [1, 2],
            [2, NaN],
            [3, Infinity],
            [4, 3],
            [5, 4],
            [NaN, 5],
            [6, -Infinity],
            [7, 2],
          ],
        },
      ],
    });
    assertWellFormed(svg);
    expect(svg).not.toMatch(/NaN|Infinity/);
    const lines = marks(svg, 'line mark');
    expect(lines).toHaveLength(1);
    // Three runs, each starting with a move: (0,1)-(1,2), (4,3)-(5,4) and the lone (7,2).
    expect(lines[0]!.match(/M/g)).toHaveLength(3);
    expect(lines[0]!.match(/L/g)).toHaveLength(2);
    // Every drawable point shows as a dot (markers are on for short series), the lone one too.
    expect(marks(svg, 'circle')).toHaveLength(5);
  });

  it('lists empty series as "(no data)" and says so on a chart without data', async () => {
    const svg = await lineChartSvg({
      title: 'nothing yet',
      xLabel: 'step',
      yLabel: 'loss',
      series: [
        {name: 'train', points: []},
        {name: 'val', points: [[1, NaN]]},
      ],
    });
    assertWellFormed(svg);
    expect(svg).not.toMatch(/NaN|Infinity/);
    const t = texts(svg);
    for (const s of ['train (no data)', 'val (no data)', 'no data']) expect(t).toContain(s);
    expect(svg).toMatch(/<text[^>]*fill="#888888"[^>]*>train \(no data\)<\/text>/); // in grey
    expect(marks(svg, 'line mark').join('')).toBe('');
    assertWellFormed(await lineChartSvg({title: '', xLabel: '', yLabel: '', series: []}));
  });

  it('draws a log y axis with power-of-ten ticks and skips y <= 0', async () => {
    const pts: Array<[number, number]> = [];
    for (let i = 0; i <= 100; i++) pts.push([i, 50 * Math.exp(-i / 12)]);
    pts.push([101, 0], [102, -1]);
    const svg = await lineChartSvg({
      title: 'log',
      xLabel: 'step',
      yLabel: 'loss',
      yLog: true,
      series: [{name: 'l', points: pts}],
    });
    assertWellFormed(svg);
    expect(svg).not.toMatch(/NaN|Infinity/);
    const t = texts(svg);
    // 50·e^(−100/12) ≈ 0.012 … 50 → decades 0.01 … 100.
    for (const label of ['0.01', '0.1', '1', '10', '100']) expect(t).toContain(label);
    expect(t).not.toContain('50');
    expect(marks(svg, 'line mark')[0]!.match(/M/g)).toHaveLength(1); // y <= 0 at the end: no new run
  });

  it('thins 10k+ points to the pixel width and writes ticks without thousands separators', async () => {
    const pts: Array<[number, number]> = [];
    for (let i = 0; i < 50_000; i++) pts.push([i, 3 + Math.sin(i / 500) + 0.3 * Math.sin(i * 7.3)]);
    const svg = await lineChartSvg({
      title: 'many',
      xLabel: 'step',
      yLabel: 'loss',
      series: [{name: 'noisy', points: pts}],
    });
    assertWellFormed(svg);
    expect(svg.length).toBeLessThan(200_000);
    const drawn = marks(svg, 'line mark')[0]!.match(/[ML]/g)!.length;
    expect(drawn).toBeGreaterThan(800); // the envelope per pixel column …
    expect(drawn).toBeLessThanOrEqual(4 * 800); // … at most 4 points per column
    expect(marks(svg, 'circle')).toHaveLength(0); // no markers on long series
    const t = texts(svg);
    expect(t).toEqual(expect.arrayContaining(['0', '10000', '40000'])); // ticks inside 0 … 49999
    expect(t.some((s) => s.includes(','))).toBe(false);
  });

  it('honours fixed y bounds and rejects silly sizes', async () => {
    const svg = await lineChartSvg({
      title: 'acc',
      xLabel: 'step',
      yLabel: 'accuracy',
      yMin: 0,
      yMax: 1,
      series: [
        {
          name: 'acc',
          points: [
            [0, 0.31],
            [1, 0.42],
          ],
        },
      ],
    });
    const t = texts(svg);
    for (const label of ['0.0', '0.2', '0.4', '0.6', '0.8', '1.0']) expect(t).toContain(label);
    await expect(lineChartSvg({...lossCurves(), width: 0})).rejects.toThrow(/width/);
  });
});

describe('barChartSvg', () => {
  it('labels bars with their values and writes n/a for a missing one', async () => {
    const svg = await barChartSvg({
      title: 'Final validation loss',
      valueLabel: 'loss',
      bars: [
        {label: 'pldrv51-110M', value: 3.2104},
        {label: 'pldrv51-G-identity', value: 3.4},
        {label: 'broken', value: NaN},
      ],
    });
    assertWellFormed(svg);
    expect(svg).not.toMatch(/NaN|Infinity/);
    expect(size(svg).width).toBe(720);
    const t = texts(svg);
    for (const s of [
      'Final validation loss',
      'loss',
      'pldrv51-110M',
      'pldrv51-G-identity',
      'broken',
      '3.21',
      '3.4',
      'n/a',
    ]) {
      expect(t).toContain(s);
    }
    const bars = [...svg.matchAll(/<path [^>]*aria-roledescription="bar"[^>]*>/g)].map((m) => m[0]);
    expect(bars).toHaveLength(2);
    for (const b of bars) expect(b).toContain(`fill="${PALETTE[0]}"`);
  });

  it('groups several series with a legend and writes negative values', async () => {
    const svg = await barChartSvg({
      title: 'ms per token',
      valueLabel: 'ms',
      categories: ['no cache', 'kv', 'g', 'kv+g'],
      series: [
        {name: 'cpu', values: [12.5, 6.1, 5.2, -3.9]},
        {name: 'wasm', values: [20.1, 9.9, 8.7, 6.6]},
      ],
      format: (v) => `${v.toFixed(1)} ms`,
    });
    assertWellFormed(svg);
    const t = texts(svg);
    for (const s of ['no cache', 'kv+g', 'cpu', 'wasm', '12.5 ms', '6.6 ms', '-3.9 ms']) expect(t).toContain(s);
    const bars = [...svg.matchAll(/<path [^>]*aria-roledescription="bar"[^>]*>/g)].map((m) => m[0]);
    expect(bars.filter((b) => b.includes(`fill="${PALETTE[0]}"`))).toHaveLength(4);
    expect(bars.filter((b) => b.includes(`fill="${PALETTE[1]}"`))).toHaveLength(4);
  });
});

describe('multiPanelSvg', () => {
  it('puts panels side by side or stacked, each with its own scales', async () => {
    const loss = lossCurves();
    const acc: LineChartSpec = {
      title: 'Accuracy',
      xLabel: 'step',
      yLabel: 'token accuracy',
      series: [{name: 'train', points: loss.series[0]!.points.map(([x, y]) => [x, 1 - y / 5] as [number, number])}],
    };
    const row = await multiPanelSvg([loss, acc], {title: 'run 1'});
    assertWellFormed(row);
    const t = texts(row);
    expect(t).toEqual(
      expect.arrayContaining(['run 1', 'Training loss', 'Accuracy', 'cross-entropy loss', 'token accuracy']),
    );
    // Independent y scales: the loss axis reaches 4, the accuracy axis stays below 1 in steps of 0.1.
    expect(t).toEqual(expect.arrayContaining(['4.5', '0.9']));
    expect(marks(row, 'line mark')).toHaveLength(3);
    const wide = size(row);
    expect(wide.width).toBeGreaterThan(1500);
    expect(wide.height).toBeLessThan(600);
    expect(pngSize(svgToPng(row))).toEqual(wide);

    const col = await multiPanelSvg([loss, {type: 'bar', title: 'final', bars: [{label: 'a', value: 1}]}], {
      columns: 1,
    });
    assertWellFormed(col);
    expect(texts(col)).toEqual(expect.arrayContaining(['Training loss', 'final', 'a', '1']));
    const tall = size(col);
    expect(tall.width).toBeLessThan(900);
    expect(tall.height).toBeGreaterThan(wide.height + 50); // the bar panel under the line chart
  });
});
