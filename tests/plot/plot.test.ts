import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import {
  PALETTE,
  barChartSvg,
  formatTick,
  lineChartSvg,
  logTicks,
  multiPanelSvg,
  niceDomain,
  niceStep,
  niceTicks,
  pngTextRenders,
  svgToPng,
  terminalChart,
  type LineChartSpec,
} from '../../src/core/plot.js';

/**
 * A tiny well-formedness check: every tag closes in order, attributes are quoted, no stray
 * '<' or '&' in text. Enough for the SVG this module writes (no comments, CDATA or DOCTYPE).
 */
function assertWellFormed(xml: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  let roots = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const textPart = xml.slice(i, lt < 0 ? xml.length : lt);
    expect(textPart, 'bare & in text').not.toMatch(/&(?!(amp|lt|gt|quot|#\d+);)/);
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(xml);
    if (!m) throw new Error(`malformed tag at ${lt}: ${xml.slice(lt, lt + 60)}`);
    const [, close, name, , selfClose] = m;
    if (close) {
      expect(stack.pop(), `closing </${name}>`).toBe(name);
    } else if (!selfClose) {
      if (!stack.length) roots++;
      stack.push(name!);
    } else if (!stack.length) roots++;
    i = tag.lastIndex;
  }
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
}

/** Width and height from the IHDR chunk, after checking the PNG signature. */
function pngSize(png: Uint8Array): { width: number; height: number } {
  expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const v = new DataView(png.buffer, png.byteOffset, png.byteLength);
  expect(String.fromCharCode(...png.subarray(12, 16))).toBe('IHDR');
  return { width: v.getUint32(16), height: v.getUint32(20) };
}

/** Text contents of all <text> elements, unescaped. */
function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) =>
    m[1]!.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&'),
  );
}

function lossCurves(n = 200): LineChartSpec {
  const train: Array<[number, number]> = [];
  const val: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    const step = i * 10;
    train.push([step, 0.6 + 3.7 * Math.exp(-i / 40) + 0.05 * Math.sin(i)]);
    if (i % 20 === 0) val.push([step, 0.7 + 3.6 * Math.exp(-i / 40)]);
  }
  return {
    title: 'Training loss',
    xLabel: 'step',
    yLabel: 'cross-entropy loss',
    series: [
      { name: 'train', points: train },
      { name: 'validation', points: val, dashed: true },
    ],
  };
}

describe('nice ticks', () => {
  it('picks 1-2-5 steps', () => {
    expect(niceStep(3.8, 5)).toBe(1);
    expect(niceStep(1, 5)).toBe(0.2);
    expect(niceStep(10000, 5)).toBe(2000);
    expect(niceStep(0.04, 5)).toBe(0.01);
    expect(niceStep(8, 5)).toBe(2);
    expect(niceStep(7, 5)).toBe(1); // 1.4 per part: 1 is nearer than 2 (geometrically)
    expect(niceStep(2.3, 5)).toBe(0.5);
  });

  it('gives ticks inside a range', () => {
    expect(niceTicks(0.5, 4.3)).toMatchObject({ step: 1, ticks: [1, 2, 3, 4] });
    expect(niceTicks(0.5, 4.3, 8).ticks).toEqual([0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4]);
    expect(niceTicks(0, 1).ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 10000).ticks).toEqual([0, 2000, 4000, 6000, 8000, 10000]);
    expect(niceTicks(-3, 3).ticks).toEqual([-3, -2, -1, 0, 1, 2, 3]);
    expect(niceTicks(0.1, 0.7).ticks).toEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]); // no 0.30000000000000004
    expect(niceTicks(4.3, 0.5).ticks).toEqual([1, 2, 3, 4]); // reversed bounds
  });

  it('widens a single value and bad bounds', () => {
    const t = niceTicks(2.5, 2.5);
    expect(t.min).toBeLessThan(2.5);
    expect(t.max).toBeGreaterThan(2.5);
    expect(t.ticks.length).toBeGreaterThanOrEqual(2);
    expect(niceTicks(0, 0).ticks).toContain(0);
    expect(niceTicks(NaN, Infinity).ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  });

  it('extends a domain to whole steps', () => {
    expect(niceDomain(0.5, 4.3)).toEqual({ min: 0, max: 5, step: 1, ticks: [0, 1, 2, 3, 4, 5] });
    expect(niceDomain(0.03, 0.97)).toMatchObject({ min: 0, max: 1, step: 0.2 });
    expect(niceDomain(-0.7, 2.2)).toMatchObject({ min: -1, max: 2.5, step: 0.5 });
  });

  it('puts log ticks on powers of ten', () => {
    const t = logTicks(0.003, 42);
    expect(t.ticks).toEqual([0.001, 0.01, 0.1, 1, 10, 100]);
    expect(t.min).toBe(0.001);
    expect(t.max).toBe(100);
    expect(t.minor).toContain(0.002);
    expect(t.minor).toContain(50);
    expect(logTicks(2, 8).ticks).toEqual([1, 10]);
    const wide = logTicks(1e-12, 1e12);
    expect(wide.ticks.length).toBeLessThanOrEqual(9);
    for (const v of wide.ticks) expect(Math.abs(Math.log10(v) - Math.round(Math.log10(v)))).toBeLessThan(1e-9);
  });

  it('formats tick labels', () => {
    expect(formatTick(1.5, 0.5)).toBe('1.5');
    expect(formatTick(2, 0.5)).toBe('2.0');
    expect(formatTick(4000, 2000)).toBe('4000');
    expect(formatTick(0.3, 0.1)).toBe('0.3');
    expect(formatTick(1e-5)).toBe('1e-5');
    expect(formatTick(2.5e6)).toBe('2.5e6');
    expect(formatTick(0.001)).toBe('0.001');
    expect(formatTick(-0.00000000001, 0.5)).toBe('-1e-11');
  });
});

describe('lineChartSvg', () => {
  it('writes a well-formed chart with title, labels, legend and ticks', () => {
    const spec = lossCurves();
    spec.series = [
      { name: 'train', points: [[0, 4.3], [50, 2.2], [100, 0.5]] },
      { name: 'val <b> & "co"', points: [[0, 4.1], [100, 1.0]], dashed: true },
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
          points: [[0, 1], [1, 2], [2, NaN], [3, Infinity], [4, 3], [5, 4], [NaN, 5], [6, -Infinity], [7, 2]],
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
        { name: 'train', points: [] },
        { name: 'val', points: [[1, NaN]] },
      ],
    });
    assertWellFormed(svg);
    expect(svg).not.toMatch(/NaN|Infinity/);
    const t = texts(svg);
    expect(t).toContain('train (no data)');
    expect(t).toContain('val (no data)');
    expect(t).toContain('no data');
    expect(svg).not.toContain('<path');
    assertWellFormed(lineChartSvg({ title: '', xLabel: '', yLabel: '', series: [] }));
  });

  it('draws a log y axis with power-of-ten ticks and skips y <= 0', () => {
    const pts: Array<[number, number]> = [];
    for (let i = 0; i <= 100; i++) pts.push([i, 50 * Math.exp(-i / 12)]);
    pts.push([101, 0], [102, -1]);
    const svg = lineChartSvg({ title: 'log', xLabel: 'step', yLabel: 'loss', yLog: true, series: [{ name: 'l', points: pts }] });
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
    const svg = lineChartSvg({ title: 'many', xLabel: 'step', yLabel: 'loss', series: [{ name: 'noisy', points: pts }] });
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
      series: [{ name: 'acc', points: [[0, 0.31], [1, 0.42]] }],
    });
    const t = texts(svg);
    for (const label of ['0.0', '0.2', '0.4', '0.6', '0.8', '1.0']) expect(t).toContain(label);
    expect(() => lineChartSvg({ ...lossCurves(), width: 0 })).toThrow(/width/);
  });
});

describe('barChartSvg', () => {
  it('labels bars with their values', () => {
    const svg = barChartSvg({
      title: 'Final validation loss',
      valueLabel: 'loss',
      bars: [
        { label: 'pldrv51-110M', value: 3.2104 },
        { label: 'pldrv51-G-identity', value: 3.4 },
        { label: 'broken', value: NaN },
      ],
    });
    assertWellFormed(svg);
    expect(svg).not.toMatch(/NaN|Infinity/);
    const t = texts(svg);
    for (const s of ['Final validation loss', 'loss', 'pldrv51-110M', 'pldrv51-G-identity', 'broken', '3.21', '3.4', 'n/a']) {
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
        { name: 'cpu', values: [12.5, 6.1, 5.2, 3.9] },
        { name: 'wasm', values: [20.1, 9.9, 8.7, 6.6] },
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
      series: [{ name: 'train', points: loss.series[0]!.points.map(([x, y]) => [x, 1 - y / 5] as [number, number]) }],
    };
    const row = multiPanelSvg([loss, acc], { title: 'run 1' });
    assertWellFormed(row);
    expect(row).toMatch(/^<svg[^>]*width="1608" height="516"/);
    expect(texts(row)).toEqual(expect.arrayContaining(['run 1', 'Training loss', 'Accuracy']));
    expect(row).toContain('id="panel0-clip"');
    expect(row).toContain('id="panel1-clip"');
    const col = multiPanelSvg([loss, { type: 'bar', title: 'final', bars: [{ label: 'a', value: 1 }] }], { columns: 1 });
    assertWellFormed(col);
    // 800 × 480 over 800 × 110 (a one-bar chart's own height), 8 pixels apart.
    expect(col).toMatch(/^<svg[^>]*width="800" height="598"/);
    const bar = barChartSvg({ title: 'final', bars: [{ label: 'a', value: 1 }] });
    expect(bar).toMatch(/^<svg[^>]*width="720" height="110"/);
  });
});

describe('svgToPng', () => {
  it('renders a PNG of the requested width', () => {
    const svg = lineChartSvg(lossCurves());
    const full = pngSize(svgToPng(svg));
    expect(full).toEqual({ width: 800, height: 480 });
    const small = pngSize(svgToPng(svg, { width: 400 }));
    expect(small).toEqual({ width: 400, height: 240 });
    expect(() => svgToPng(svg, { width: 0 })).toThrow(/width/);
    expect(() => svgToPng('<svg')).toThrow(/PNG/);
  });

  it('renders text when resvg finds a font, and still a PNG without fonts', () => {
    // Where the machine has fonts (fontconfig directories), text is drawn; without any font
    // resvg drops the text but the PNG still comes out.
    expect(typeof pngTextRenders()).toBe('boolean');
    expect(pngTextRenders({ loadSystemFonts: false })).toBe(false);
    const png = svgToPng(barChartSvg({ title: 't', bars: [{ label: 'a', value: 1 }] }), { loadSystemFonts: false });
    expect(pngSize(png).width).toBe(720);
  });

  // Set PLDR_PLOT_DEMO_DIR to keep the pictures and look at them; otherwise they are removed.
  it('writes example PNGs to a temp dir', () => {
    const keep = process.env.PLDR_PLOT_DEMO_DIR;
    const dir = keep ?? mkdtempSync(join(tmpdir(), 'pldr-plot-'));
    const base = lossCurves(1200);
    // A stretch of non-finite losses (steps 3000 … 3990) must leave a visible gap.
    const train = base.series[0]!.points.map(([x, y], i) => [x, i >= 300 && i < 400 ? NaN : y] as [number, number]);
    const loss: LineChartSpec = { ...base, series: [{ ...base.series[0]!, points: train }, base.series[1]!] };
    const acc: LineChartSpec = {
      title: 'Token accuracy',
      xLabel: 'step',
      yLabel: 'accuracy',
      yMin: 0,
      yMax: 1,
      series: loss.series.map((s) => ({ ...s, points: s.points.map(([x, y]) => [x, Math.max(0, 1 - y / 4.5)] as [number, number]) })),
    };
    const files = {
      'curves.png': multiPanelSvg([loss, acc], { title: 'pldr train: demo run' }),
      'log.png': lineChartSvg({ ...loss, title: 'Training loss (log y)', yLog: true }),
      'bars.png': barChartSvg({
        title: 'Generation speed',
        valueLabel: 'ms per token',
        categories: ['no cache', 'kv', 'g', 'kv+g'],
        series: [
          { name: '110M', values: [41.2, 12.5, 11.9, 9.7] },
          { name: '110M G-identity', values: [39.8, 12.1, NaN, 9.1] },
        ],
      }),
    };
    for (const [name, svg] of Object.entries(files)) {
      const png = svgToPng(svg);
      writeFileSync(join(dir, name), png);
      writeFileSync(join(dir, name.replace(/png$/, 'svg')), svg);
      expect(pngSize(readFileSync(join(dir, name))).width).toBeGreaterThan(0);
    }
    if (!keep) rmSync(dir, { recursive: true, force: true });
  });
});

describe('terminalChart', () => {
  const strip = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');

  it('has the requested height and a legend', () => {
    const a = Array.from({ length: 1000 }, (_, i) => 0.5 + 3.8 * Math.exp(-i / 200));
    const b = Array.from({ length: 100 }, (_, i) => 0.7 + 3.6 * Math.exp(-i / 20));
    for (const height of [2, 5, 10, 12, 17, 30]) {
      const out = terminalChart([{ name: 'train loss', values: a }, { name: 'val loss', values: b }], { height, width: 70 });
      const lines = out.split('\n');
      expect(lines).toHaveLength(height + 1);
      expect(lines[height]).toContain('train loss');
      expect(lines[height]).toContain('val loss');
      for (const l of lines.slice(0, height)) expect(l.length).toBeLessThanOrEqual(70);
    }
    const out = terminalChart([{ name: 'train loss', values: a }], { height: 10, width: 60 });
    expect(out).toContain('4.30');
    expect(out).toContain('0.53'); // the smallest value, 0.5 + 3.8·e^−5
    expect(out.split('\n').at(-1)).toBe('── train loss (last 0.5257)');
  });

  it('stretches every series over the width and keeps short series short', () => {
    const zeros = Array.from({ length: 1000 }, () => 0);
    const ones = Array.from({ length: 10 }, () => 1);
    const lines = terminalChart([{ name: 'long', values: zeros }, { name: 'short', values: ones }], { height: 6, width: 50 }).split('\n');
    expect(lines).toHaveLength(7);
    // The 10-value series (top row) runs as far right as the 1000-value one (bottom row).
    expect(lines[0]!.length).toBeGreaterThanOrEqual(48);
    expect(lines[5]!.length).toBe(lines[0]!.length);
    const few = terminalChart([{ name: 'few', values: [3, 1, 2, 0, 4] }], { height: 5, width: 50 }).split('\n');
    expect(Math.max(...few.slice(0, 5).map((l) => l.length))).toBeLessThanOrEqual(12);
  });

  it('handles NaN and Inf, empty and constant series', () => {
    const v = [1, 2, NaN, 4, Infinity, 3, -Infinity, 2];
    const out = terminalChart([{ name: 'loss', values: v }, { name: 'empty', values: [] }], { height: 8, width: 80 });
    const lines = out.split('\n');
    expect(lines).toHaveLength(9);
    expect(out).not.toMatch(/NaN|Infinity/);
    expect(lines[8]).toContain('loss (last 2, 3 non-finite skipped)');
    expect(lines[8]).toContain('empty (no data)');
    const none = terminalChart([{ name: 'x', values: [NaN] }], { height: 6 }).split('\n');
    expect(none).toHaveLength(7);
    expect(none.join('\n')).toContain('(no data)');
    expect(terminalChart([{ name: 'flat', values: [2, 2, 2] }], { height: 5 }).split('\n')).toHaveLength(6);
    expect(terminalChart([], { height: 4 }).split('\n')).toHaveLength(5);
  });

  it('colours series only when asked', () => {
    const s = [{ name: 'a', values: [1, 2, 3] }, { name: 'b', values: [3, 2, 1] }];
    expect(terminalChart(s)).not.toContain('\x1b[');
    const coloured = terminalChart(s, { color: true, height: 6 });
    expect(coloured).toContain('\x1b[');
    expect(strip(coloured).split('\n')).toHaveLength(7);
  });
});
