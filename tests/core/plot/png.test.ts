import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {describe, expect, it} from 'vitest';

import {pngTextRenders, svgToPng} from '../../../src/core/plot/png.js';
import {barChartSvg, lineChartSvg, multiPanelSvg, type LineChartSpec} from '../../../src/core/plot/svg.js';
import {lossCurves, pngSize} from './helpers.js';

describe('svgToPng', () => {
  it('renders a PNG of the requested width', async () => {
    const svg = await lineChartSvg(lossCurves());
    const full = pngSize(svgToPng(svg));
    expect(full).toEqual({width: 800, height: 480});
    const small = pngSize(svgToPng(svg, {width: 400}));
    expect(small).toEqual({width: 400, height: 240});
    expect(() => svgToPng(svg, {width: 0})).toThrow(/width/);
    expect(() => svgToPng('<svg')).toThrow(/PNG/);
  });

  it('renders text when resvg finds a font, and still a PNG without fonts', async () => {
    // Where the machine has fonts (fontconfig directories), text is drawn; without any font
    // resvg drops the text but the PNG still comes out.
    expect(typeof pngTextRenders()).toBe('boolean');
    expect(pngTextRenders({loadSystemFonts: false})).toBe(false);
    const png = svgToPng(await barChartSvg({title: 't', bars: [{label: 'a', value: 1}]}), {loadSystemFonts: false});
    expect(pngSize(png).width).toBe(720);
  });

  // Set PLDR_PLOT_DEMO_DIR to keep the pictures and look at them; otherwise they are removed.
  it('writes example PNGs to a temp dir', async () => {
    const keep = process.env.PLDR_PLOT_DEMO_DIR;
    const dir = keep ?? mkdtempSync(join(tmpdir(), 'pldr-plot-'));
    const base = lossCurves(1200);
    // A stretch of non-finite losses (steps 3000 … 3990) must leave a visible gap.
    const train = base.series[0]!.points.map(([x, y], i) => [x, i >= 300 && i < 400 ? NaN : y] as [number, number]);
    const loss: LineChartSpec = {...base, series: [{...base.series[0]!, points: train}, base.series[1]!]};
    const acc: LineChartSpec = {
      title: 'Token accuracy',
      xLabel: 'step',
      yLabel: 'accuracy',
      yMin: 0,
      yMax: 1,
      series: loss.series.map((s) => ({
        ...s,
        points: s.points.map(([x, y]) => [x, Math.max(0, 1 - y / 4.5)] as [number, number]),
      })),
    };
    const files = {
      'curves.png': await multiPanelSvg([loss, acc], {title: 'pldr train: demo run'}),
      'log.png': await lineChartSvg({...loss, title: 'Training loss (log y)', yLog: true}),
      'bars.png': await barChartSvg({
        title: 'Generation speed',
        valueLabel: 'ms per token',
        categories: ['no cache', 'kv', 'g', 'kv+g'],
        series: [
          {name: '110M', values: [41.2, 12.5, 11.9, 9.7]},
          {name: '110M G-identity', values: [39.8, 12.1, NaN, 9.1]},
        ],
      }),
    };
    for (const [name, svg] of Object.entries(files)) {
      const png = svgToPng(svg);
      writeFileSync(join(dir, name), png);
      writeFileSync(join(dir, name.replace(/png$/, 'svg')), svg);
      expect(pngSize(readFileSync(join(dir, name))).width).toBeGreaterThan(0);
    }
    if (!keep) rmSync(dir, {recursive: true, force: true});
  });
});
