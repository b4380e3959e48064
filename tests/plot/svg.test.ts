import {describe, expect, it} from 'vitest';

import {barChartSvg, lineChartSvg, multiPanelSvg, PALETTE, type LineChartSpec} from '../../src/core/plot/svg.js';
import {assertWellFormed, lossCurves, texts} from './helpers.js';

describe('lineChartSvg', () => {
  it('writes a well-formed chart with title, labels, legend and ticks', () => {
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
    const svg = lineChartSvg(spec);
    assertWellFormed(svg);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('width="800" height="480"');
    const t = texts(svg);
    expect(t).toContain('Training loss');
    expect(t).toContain('step');
    expect(t).toContain('cross-entropy loss');
    expect(t).toContain('train');
    expect(t).toContain('val <b> & "co"');
    expect(svg).toContain('val &lt;b&gt; &amp; &quot;co&quot;');
    // y data 0.5 … 4.3 on a 388-pixel axis (about 6 intervals) → 0.5 … 4.5 in steps of 0.5.
    for (const label of ['0.5', '1.0', '1.5', '2.0', '2.5', '3.0', '3.5', '4.0', '4.5']) expect(t).toContain(label);
    expect(t).not.toContain('0.0');
    expect(t).not.toContain('5.0');
    // x data 0 … 100.
    for (const label of ['0', '20', '40', '60', '80', '100']) expect(t).toContain(label);
    expect(svg).toContain('stroke-dasharray="7 4"'); // dashed series
    expect(svg).toContain(PALETTE[0]);
    expect(svg).toContain(PALETTE[1]);
    expect(svg).toContain('font-family=');
    expect(svg).toContain('sans-serif');
  });

  it('skips non-finite points with a gap and never writes NaN', () => {
    const svg = lineChartSvg({
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
    const paths = [...svg.matchAll(/<path d="([^"]*)"/g)].map((m) => m[1]!);
    expect(paths).toHaveLength(1);
    expect(paths[0]!.match(/M/g)).toHaveLength(2); // two runs: (0,1)-(1,2) and (4,3)-(5,4)
    // The lone point (7, 2) still shows, as a dot (markers are on for short series anyway).
    expect(svg.match(/<circle/g)!.length).toBe(5);
  });

  it('handles empty series and a chart without data', () => {
    const svg = lineChartSvg({
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
    expect(t).toContain('train (no data)');
    expect(t).toContain('val (no data)');
    expect(t).toContain('no data');
    expect(svg).not.toContain('<path');
    assertWellFormed(lineChartSvg({title: '', xLabel: '', yLabel: '', series: []}));
  });

  it('draws a log y axis with power-of-ten ticks and skips y <= 0', () => {
    const pts: Array<[number, number]> = [];
    for (let i = 0; i <= 100; i++) pts.push([i, 50 * Math.exp(-i / 12)]);
    pts.push([101, 0], [102, -1]);
    const svg = lineChartSvg({
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
  });

  it('keeps 10k+ points small and fast', () => {
    const pts: Array<[number, number]> = [];
    for (let i = 0; i < 50_000; i++) pts.push([i, 3 + Math.sin(i / 500) + 0.3 * Math.sin(i * 7.3)]);
    const t0 = performance.now();
    const svg = lineChartSvg({title: 'many', xLabel: 'step', yLabel: 'loss', series: [{name: 'noisy', points: pts}]});
    expect(performance.now() - t0).toBeLessThan(2000);
    assertWellFormed(svg);
    expect(svg.length).toBeLessThan(200_000);
    expect(svg).not.toContain('<circle'); // no markers on long series
    expect(texts(svg)).toEqual(expect.arrayContaining(['0', '10000', '40000'])); // ticks inside 0 … 49999
  });

  it('honours fixed y bounds and rejects silly sizes', () => {
    const svg = lineChartSvg({
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
    expect(() => lineChartSvg({...lossCurves(), width: 0})).toThrow(/width/);
  });
});

describe('barChartSvg', () => {
  it('labels bars with their values', () => {
    const svg = barChartSvg({
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
    expect(svg.match(/<rect[^>]*fill="#0072B2"/g)).toHaveLength(2);
  });

  it('groups several series with a legend', () => {
    const svg = barChartSvg({
      title: 'ms per token',
      valueLabel: 'ms',
      categories: ['no cache', 'kv', 'g', 'kv+g'],
      series: [
        {name: 'cpu', values: [12.5, 6.1, 5.2, 3.9]},
        {name: 'wasm', values: [20.1, 9.9, 8.7, 6.6]},
      ],
      format: (v) => `${v.toFixed(1)} ms`,
    });
    assertWellFormed(svg);
    const t = texts(svg);
    for (const s of ['no cache', 'kv+g', 'cpu', 'wasm', '12.5 ms', '6.6 ms']) expect(t).toContain(s);
  });
});

describe('multiPanelSvg', () => {
  it('puts panels side by side or stacked', () => {
    const loss = lossCurves();
    const acc: LineChartSpec = {
      title: 'Accuracy',
      xLabel: 'step',
      yLabel: 'token accuracy',
      series: [{name: 'train', points: loss.series[0]!.points.map(([x, y]) => [x, 1 - y / 5] as [number, number])}],
    };
    const row = multiPanelSvg([loss, acc], {title: 'run 1'});
    assertWellFormed(row);
    expect(row).toMatch(/^<svg[^>]*width="1608" height="516"/);
    expect(texts(row)).toEqual(expect.arrayContaining(['run 1', 'Training loss', 'Accuracy']));
    expect(row).toContain('id="panel0-clip"');
    expect(row).toContain('id="panel1-clip"');
    const col = multiPanelSvg([loss, {type: 'bar', title: 'final', bars: [{label: 'a', value: 1}]}], {columns: 1});
    assertWellFormed(col);
    // 800 × 480 over 800 × 110 (a one-bar chart's own height), 8 pixels apart.
    expect(col).toMatch(/^<svg[^>]*width="800" height="598"/);
    const bar = barChartSvg({title: 'final', bars: [{label: 'a', value: 1}]});
    expect(bar).toMatch(/^<svg[^>]*width="720" height="110"/);
  });
});
