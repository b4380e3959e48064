/**
 * SVG charts laid out by hand: line charts, horizontal bar charts and several of them in one
 * image. Pure: returns strings; callers write them where they want.
 *
 * - `lineChartSvg`: curves with "nice" 1-2-5 ticks, grid, legend, optional log y axis. Points with
 *   a non-finite coordinate (or y <= 0 on a log axis) are skipped and leave a gap in the line.
 * - `barChartSvg`: horizontal labelled bars with their values (one or several series).
 * - `multiPanelSvg`: several charts side by side or stacked in one image.
 *
 * Fonts: the SVGs name a generic font-family list ending in `sans-serif`, so any viewer finds a
 * face (see png.ts for what resvg does with it).
 */
import {PldrError} from '../errors.js';
import {formatTick, formatValue, logTicks, niceDomain, niceTicks, truncate} from './ticks.js';

// ---------------------------------------------------------------------------------------------
// Public types

export interface LineSeries {
  name: string;
  /** [x, y] pairs, drawn in the given order. Non-finite pairs are skipped and break the line. */
  points: ReadonlyArray<readonly [number, number]>;
  dashed?: boolean;
  /** CSS colour; default: the next colour of `PALETTE`. */
  color?: string;
  /** Dots on every point; default: only when the series has at most 40 points. */
  markers?: boolean;
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ReadonlyArray<LineSeries>;
  /** Pixels; default 800 × 480. */
  width?: number;
  height?: number;
  /** Logarithmic y axis, ticks at powers of ten; points with y <= 0 are skipped. */
  yLog?: boolean;
  /** Fixed y range (e.g. 0 and 1 for an accuracy); otherwise taken from the data. */
  yMin?: number;
  yMax?: number;
  /** Prefix for the ids inside the SVG (clip paths); default "chart". */
  id?: string;
}

export interface BarDatum {
  label: string;
  value: number;
}

export interface BarSeries {
  name: string;
  /** One value per category; a non-finite value draws no bar and reads "n/a". */
  values: ReadonlyArray<number>;
  color?: string;
}

interface BarChartBase {
  title: string;
  /** Label of the value axis, e.g. "ms per token" or "validation loss". */
  valueLabel?: string;
  /** Pixels; default width 720, height from the number of bars. */
  width?: number;
  height?: number;
  /** How values are written at the end of the bars; default: 4 significant digits. */
  format?: (value: number) => string;
  id?: string;
}

/** Either one series of labelled bars, or categories × series (grouped bars with a legend). */
export type BarChartSpec = BarChartBase &
  (
    | {bars: ReadonlyArray<BarDatum>; categories?: undefined; series?: undefined}
    | {categories: ReadonlyArray<string>; series: ReadonlyArray<BarSeries>; bars?: undefined}
  );

export type PanelSpec = (LineChartSpec & {type?: 'line'}) | (BarChartSpec & {type: 'bar'});

export interface MultiPanelOptions {
  /** Panels per row: default all in one row (side by side); 1 stacks them. */
  columns?: number;
  /** A title above all panels. */
  title?: string;
  /** Pixels between panels; default 8. */
  gap?: number;
}

/**
 * Okabe–Ito colours, told apart with the common colour-vision deficiencies; yellow is left out
 * (too pale on white) and a grey takes its place.
 */
export const PALETTE: readonly string[] = Object.freeze([
  '#0072B2', // blue
  '#D55E00', // vermillion
  '#009E73', // bluish green
  '#E69F00', // orange
  '#CC79A7', // reddish purple
  '#56B4E9', // sky blue
  '#000000', // black
  '#7F7F7F', // grey
]);

/** Font list written into every SVG: common faces first, the generic family last. */
export const FONT_FAMILY = "'DejaVu Sans', 'Liberation Sans', 'Helvetica Neue', Helvetica, Arial, sans-serif";

// ---------------------------------------------------------------------------------------------
// SVG helpers

export const esc = (s: string): string =>
  s
    // Characters XML 1.0 does not allow at all.
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
    .replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c]!);

/** Coordinates with one decimal, never "NaN" (callers only pass finite numbers). */
const n1 = (v: number): string => {
  const r = Math.round(v * 10) / 10;
  return Number.isFinite(r) ? String(r === 0 ? 0 : r) : '0';
};

/** Rough text width for layout: DejaVu Sans averages a little under 0.6 em per character. */
const textWidth = (s: string, size: number): number => s.length * size * 0.6;

function dim(v: number | undefined, dflt: number, min: number, what: string): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v < min || v > 20000) {
    throw new PldrError(`chart ${what} must be between ${min} and 20000 pixels, got ${v}`);
  }
  return Math.round(v);
}

function svgDocument(width: number, height: number, body: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="${esc(FONT_FAMILY)}">\n` +
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>\n` +
    `${body}</svg>\n`
  );
}

function text(
  x: number,
  y: number,
  s: string,
  o: {size?: number; anchor?: 'start' | 'middle' | 'end'; weight?: string; fill?: string; rotate?: boolean} = {},
): string {
  const size = o.size ?? 12;
  const anchor = o.anchor ?? 'start';
  const place = o.rotate
    ? `transform="translate(${n1(x)} ${n1(y)}) rotate(-90)" x="0" y="0"`
    : `x="${n1(x)}" y="${n1(y)}"`;
  return (
    `<text ${place} font-size="${size}" text-anchor="${anchor}"` +
    (o.weight ? ` font-weight="${o.weight}"` : '') +
    ` fill="${o.fill ?? '#222222'}">${esc(s)}</text>\n`
  );
}

const line = (x1: number, y1: number, x2: number, y2: number, stroke: string, width = 1, extra = ''): string =>
  `<line x1="${n1(x1)}" y1="${n1(y1)}" x2="${n1(x2)}" y2="${n1(y2)}" stroke="${stroke}" stroke-width="${width}"${extra}/>\n`;

interface Panel {
  width: number;
  height: number;
  /** Elements in panel coordinates (origin at the panel's top left). */
  body: string;
}

interface LegendEntry {
  name: string;
  color: string;
  dashed: boolean;
  empty: boolean;
}

const LEGEND_FONT = 12;
const LEGEND_ROW = 18;
const LEGEND_SAMPLE = 24;

function legendSize(entries: LegendEntry[]): {w: number; h: number} {
  const longest = Math.max(...entries.map((e) => textWidth(e.name + (e.empty ? ' (no data)' : ''), LEGEND_FONT)));
  return {w: 10 + LEGEND_SAMPLE + 6 + longest + 10, h: entries.length * LEGEND_ROW + 8};
}

function legendBox(x: number, y: number, entries: LegendEntry[]): string {
  const {w, h} = legendSize(entries);
  let s = `<g class="legend">\n`;
  s += `<rect x="${n1(x)}" y="${n1(y)}" width="${n1(w)}" height="${n1(h)}" fill="#ffffff" fill-opacity="0.88" stroke="#bbbbbb" stroke-width="1" rx="3"/>\n`;
  entries.forEach((e, i) => {
    const cy = y + 4 + LEGEND_ROW * i + LEGEND_ROW / 2;
    s += line(x + 10, cy, x + 10 + LEGEND_SAMPLE, cy, e.color, 2.5, e.dashed ? ' stroke-dasharray="6 4"' : '');
    s += text(x + 10 + LEGEND_SAMPLE + 6, cy + LEGEND_FONT * 0.35, e.name + (e.empty ? ' (no data)' : ''), {
      size: LEGEND_FONT,
      fill: e.empty ? '#888888' : '#222222',
    });
  });
  return s + `</g>\n`;
}

// ---------------------------------------------------------------------------------------------
// Line chart

/** Splits a series into runs of drawable points, in pixel coordinates. */
function pixelRuns(
  points: ReadonlyArray<readonly [number, number]>,
  usable: (x: number, y: number) => boolean,
  px: (x: number) => number,
  py: (y: number) => number,
): Array<Array<[number, number]>> {
  const runs: Array<Array<[number, number]>> = [];
  let cur: Array<[number, number]> = [];
  for (const p of points) {
    const x = p[0];
    const y = p[1];
    if (usable(x, y)) {
      const X = px(x);
      const Y = py(y);
      if (Number.isFinite(X) && Number.isFinite(Y)) {
        cur.push([X, Y]);
        continue;
      }
    }
    if (cur.length) runs.push(cur);
    cur = [];
  }
  if (cur.length) runs.push(cur);
  return runs;
}

/**
 * Thins a run with many more points than pixel columns: per column, the first, lowest, highest
 * and last point, in their order. The drawn envelope is unchanged; the SVG stays small.
 */
function decimate(run: Array<[number, number]>, columns: number): Array<[number, number]> {
  if (run.length <= 4 * columns) return run;
  for (let i = 1; i < run.length; i++) if (run[i]![0] < run[i - 1]![0]) return run; // x not monotone
  const out: Array<[number, number]> = [];
  let i = 0;
  while (i < run.length) {
    const col = Math.floor(run[i]![0]);
    let j = i;
    let lo = i;
    let hi = i;
    while (j < run.length && Math.floor(run[j]![0]) === col) {
      if (run[j]![1] < run[lo]![1]) lo = j;
      if (run[j]![1] > run[hi]![1]) hi = j;
      j++;
    }
    const keep = [...new Set([i, lo, hi, j - 1])].sort((a, b) => a - b);
    for (const k of keep) out.push(run[k]!);
    i = j;
  }
  return out;
}

function renderLinePanel(spec: LineChartSpec, id: string): Panel {
  const W = dim(spec.width, 800, 160, 'width');
  const H = dim(spec.height, 480, 120, 'height');
  const log = spec.yLog === true;
  const usable = (x: number, y: number): boolean => Number.isFinite(x) && Number.isFinite(y) && (!log || y > 0);

  let xmin = Infinity;
  let xmax = -Infinity;
  let ymin = Infinity;
  let ymax = -Infinity;
  const counts = spec.series.map((s) => {
    let c = 0;
    for (const p of s.points) {
      const x = p[0];
      const y = p[1];
      if (!usable(x, y)) continue;
      c++;
      if (x < xmin) xmin = x;
      if (x > xmax) xmax = x;
      if (y < ymin) ymin = y;
      if (y > ymax) ymax = y;
    }
    return c;
  });
  const hasData = xmin <= xmax;
  const okY = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v) && (!log || v > 0);
  let ylo = okY(spec.yMin) ? spec.yMin : hasData ? ymin : log ? 1 : 0;
  let yhi = okY(spec.yMax) ? spec.yMax : hasData ? ymax : log ? 10 : 1;
  if (ylo > yhi) [ylo, yhi] = [yhi, ylo];

  const titleH = spec.title ? 40 : 14;
  const bottom = 30 + (spec.xLabel ? 22 : 0);
  const plotH0 = H - titleH - bottom;
  const yTarget = Math.max(2, Math.min(10, Math.round(plotH0 / 60)));
  const yTicks = log ? logTicks(ylo, yhi, Math.max(3, yTarget + 2)) : niceDomain(ylo, yhi, yTarget);
  const yLabels = yTicks.ticks.map((t) => formatTick(t, log ? undefined : yTicks.step));
  const yLabelW = Math.max(...yLabels.map((s) => textWidth(s, 11)), 10);
  const left = 12 + (spec.yLabel ? 22 : 0) + yLabelW + 10;
  const right = 20;
  const x0 = left;
  const x1 = W - right;
  const y0 = titleH;
  const y1 = H - bottom;
  const pw = Math.max(1, x1 - x0);
  const ph = Math.max(1, y1 - y0);

  const xTarget = Math.max(2, Math.min(10, Math.round(pw / 100)));
  const xTicks = hasData ? niceTicks(xmin, xmax, xTarget) : niceTicks(0, 1, xTarget);
  const xlo = xTicks.min;
  const xhi = xTicks.max;
  const px = (x: number): number => x0 + ((x - xlo) / (xhi - xlo)) * pw;
  const lyl = Math.log10(yTicks.min);
  const lyh = Math.log10(yTicks.max);
  const py = log
    ? (y: number): number => y1 - ((Math.log10(y) - lyl) / (lyh - lyl)) * ph
    : (y: number): number => y1 - ((y - yTicks.min) / (yTicks.max - yTicks.min)) * ph;

  let s = `<g class="line-chart">\n`;
  if (spec.title) s += text(W / 2, 26, spec.title, {size: 16, anchor: 'middle', weight: 'bold'});

  // Grid.
  s += `<g class="grid">\n`;
  if (log && 'minor' in yTicks) {
    for (const m of (yTicks as {minor: number[]}).minor) s += line(x0, py(m), x1, py(m), '#f0f0f0');
  }
  for (const t of yTicks.ticks) s += line(x0, py(t), x1, py(t), '#dddddd');
  for (const t of xTicks.ticks) s += line(px(t), y0, px(t), y1, '#dddddd');
  s += `</g>\n`;

  // Series, clipped to the plot area.
  const clip = `${id}-clip`;
  // A little wider than the plot area, so that dots on its edge stay whole.
  s += `<defs><clipPath id="${esc(clip)}"><rect x="${n1(x0 - 4)}" y="${n1(y0 - 4)}" width="${n1(pw + 8)}" height="${n1(ph + 8)}"/></clipPath></defs>\n`;
  s += `<g class="series" clip-path="url(#${esc(clip)})">\n`;
  const entries: LegendEntry[] = [];
  const occupied: Array<[number, number]> = [];
  spec.series.forEach((ser, i) => {
    const color = ser.color ?? PALETTE[i % PALETTE.length]!;
    const dashed = ser.dashed ?? false;
    entries.push({name: truncate(ser.name, 48), color, dashed, empty: counts[i] === 0});
    if (counts[i] === 0) return;
    const runs = pixelRuns(ser.points, usable, px, py);
    const markers = ser.markers ?? counts[i]! <= 40;
    let d = '';
    const dots: Array<[number, number]> = [];
    for (const run0 of runs) {
      const run = decimate(run0, pw);
      if (run.length === 1 || markers) dots.push(...run0);
      if (run.length > 1) {
        d += `M${n1(run[0]![0])} ${n1(run[0]![1])}`;
        for (let k = 1; k < run.length; k++) d += `L${n1(run[k]![0])} ${n1(run[k]![1])}`;
      }
      const stride = Math.max(1, Math.floor(run.length / 2000));
      for (let k = 0; k < run.length; k += stride) occupied.push(run[k]!);
    }
    if (d) {
      s +=
        `<path d="${d}" fill="none" stroke="${esc(color)}" stroke-width="1.8" stroke-linejoin="round" stroke-linecap="round"` +
        (dashed ? ' stroke-dasharray="7 4"' : '') +
        `/>\n`;
    }
    for (const [x, y] of dots) s += `<circle cx="${n1(x)}" cy="${n1(y)}" r="2.6" fill="${esc(color)}"/>\n`;
  });
  s += `</g>\n`;
  if (!hasData) s += text((x0 + x1) / 2, (y0 + y1) / 2, 'no data', {size: 14, anchor: 'middle', fill: '#888888'});

  // Axes, ticks and their labels.
  s += `<g class="axes">\n`;
  s += line(x0, y1, x1, y1, '#333333');
  s += line(x0, y0, x0, y1, '#333333');
  yTicks.ticks.forEach((t, k) => {
    const y = py(t);
    s += line(x0 - 5, y, x0, y, '#333333');
    s += text(x0 - 8, y + 4, yLabels[k]!, {size: 11, anchor: 'end'});
  });
  for (const t of xTicks.ticks) {
    const x = px(t);
    s += line(x, y1, x, y1 + 5, '#333333');
    s += text(x, y1 + 18, formatTick(t, xTicks.step), {size: 11, anchor: 'middle'});
  }
  if (spec.xLabel) s += text((x0 + x1) / 2, H - 10, spec.xLabel, {size: 13, anchor: 'middle'});
  if (spec.yLabel) s += text(18, (y0 + y1) / 2, spec.yLabel, {size: 13, anchor: 'middle', rotate: true});
  s += `</g>\n`;

  // Legend in the corner with the fewest points under it.
  if (entries.length) {
    const {w, h} = legendSize(entries);
    const inset = 8;
    const corners: Array<[number, number]> = [
      [x1 - inset - w, y0 + inset], // top right
      [x1 - inset - w, y1 - inset - h], // bottom right
      [x0 + inset, y0 + inset], // top left
      [x0 + inset, y1 - inset - h], // bottom left
    ];
    let best = corners[0]!;
    let bestCount = Infinity;
    for (const c of corners) {
      let count = 0;
      for (const [x, y] of occupied)
        if (x >= c[0] - 4 && x <= c[0] + w + 4 && y >= c[1] - 4 && y <= c[1] + h + 4) count++;
      if (count < bestCount) {
        best = c;
        bestCount = count;
      }
    }
    s += legendBox(best[0], best[1], entries);
  }
  s += `</g>\n`;
  return {width: W, height: H, body: s};
}

/**
 * A line chart as a complete SVG document: title, axis labels, 1-2-5 ticks (powers of ten when
 * `yLog`), grid, legend. Non-finite points leave gaps; series without points are listed in the
 * legend as "(no data)"; series with 10k+ points are thinned per pixel column.
 */
export function lineChartSvg(spec: LineChartSpec): string {
  const p = renderLinePanel(spec, spec.id ?? 'chart');
  return svgDocument(p.width, p.height, p.body);
}

// ---------------------------------------------------------------------------------------------
// Bar chart

function renderBarPanel(spec: BarChartSpec, id: string): Panel {
  const fmt = spec.format ?? formatValue;
  let categories: string[];
  let series: Array<{name: string; values: ReadonlyArray<number>; color: string}>;
  if (spec.bars) {
    categories = spec.bars.map((b) => b.label);
    series = [{name: '', values: spec.bars.map((b) => b.value), color: PALETTE[0]!}];
  } else {
    categories = [...spec.categories];
    series = spec.series.map((s, i) => ({
      name: s.name,
      values: s.values,
      color: s.color ?? PALETTE[i % PALETTE.length]!,
    }));
  }
  const k = Math.max(1, series.length);
  const barH = k === 1 ? 20 : Math.max(10, 18 - 2 * (k - 1));
  const groupGap = 10;
  const groupH = k * barH + groupGap;
  const showLegend = !spec.bars && series.length > 1;

  const values = series.flatMap((s) => categories.map((_, c) => s.values[c] ?? NaN));
  const finite = values.filter((v) => Number.isFinite(v));
  const vmin = Math.min(0, ...finite);
  const vmax = Math.max(0, ...finite);
  const W = dim(spec.width, 720, 200, 'width');
  const titleH = spec.title ? 40 : 14;
  const legendEntries: LegendEntry[] = series.map((s) => ({
    name: truncate(s.name, 40),
    color: s.color,
    dashed: false,
    empty: false,
  }));
  const legendH = showLegend ? LEGEND_ROW + 8 : 0;
  const bottom = 30 + (spec.valueLabel ? 22 : 0);
  const autoH = titleH + legendH + Math.max(1, categories.length) * groupH + 10 + bottom;
  const H = dim(spec.height, Math.round(autoH), 100, 'height');

  const catLabels = categories.map((c) => truncate(c, 32));
  const valueTexts = values.map((v) => (Number.isFinite(v) ? fmt(v) : 'n/a'));
  // Values of negative bars are written left of the bar: keep room for them beside the labels.
  const negW = Math.max(0, ...valueTexts.filter((_, i) => values[i]! < 0).map((t) => textWidth(t, 11) + 6));
  const left = 12 + Math.max(20, ...catLabels.map((c) => textWidth(c, 12))) + 10 + negW;
  const right = 16 + Math.max(...valueTexts.map((t) => textWidth(t, 11)), 20);
  const x0 = left;
  const x1 = W - right;
  const y0 = titleH + legendH;
  const y1 = H - bottom;
  const pw = Math.max(1, x1 - x0);
  const ticks = niceDomain(vmin, vmax === vmin ? vmin + 1 : vmax, Math.max(2, Math.min(8, Math.round(pw / 90))));
  const px = (v: number): number => x0 + ((v - ticks.min) / (ticks.max - ticks.min)) * pw;
  const rowH = categories.length ? (y1 - y0) / categories.length : 0;

  let s = `<g class="bar-chart">\n`;
  if (spec.title) s += text(W / 2, 26, spec.title, {size: 16, anchor: 'middle', weight: 'bold'});
  if (showLegend) {
    // One row of entries under the title.
    let x = x0;
    const cy = titleH + LEGEND_ROW / 2;
    for (const e of legendEntries) {
      s += `<rect x="${n1(x)}" y="${n1(cy - 6)}" width="12" height="12" fill="${esc(e.color)}"/>\n`;
      s += text(x + 17, cy + 4, e.name, {size: LEGEND_FONT});
      x += 17 + textWidth(e.name, LEGEND_FONT) + 18;
    }
  }
  s += `<g class="grid">\n`;
  for (const t of ticks.ticks) s += line(px(t), y0, px(t), y1, '#dddddd');
  s += `</g>\n`;
  const clip = `${id}-clip`;
  s += `<defs><clipPath id="${esc(clip)}"><rect x="${n1(x0)}" y="${n1(y0)}" width="${n1(pw)}" height="${n1(y1 - y0)}"/></clipPath></defs>\n`;
  const zero = px(0);
  let bars = '';
  let labels = '';
  categories.forEach((_, c) => {
    const top = y0 + rowH * c + (rowH - k * barH) / 2;
    labels += text(x0 - 8 - negW, y0 + rowH * (c + 0.5) + 4, catLabels[c]!, {size: 12, anchor: 'end'});
    series.forEach((ser, j) => {
      const v = ser.values[c] ?? NaN;
      const y = top + j * barH;
      const t = valueTexts[j * categories.length + c]!;
      if (!Number.isFinite(v)) {
        labels += text(zero + 4, y + barH / 2 + 4, t, {size: 11, fill: '#888888'});
        return;
      }
      const a = Math.min(zero, px(v));
      const b = Math.max(zero, px(v));
      bars += `<rect x="${n1(a)}" y="${n1(y + 1)}" width="${n1(Math.max(b - a, 0.5))}" height="${n1(barH - 2)}" fill="${esc(ser.color)}"/>\n`;
      labels +=
        v >= 0
          ? text(b + 4, y + barH / 2 + 4, t, {size: 11})
          : text(a - 4, y + barH / 2 + 4, t, {size: 11, anchor: 'end'});
    });
  });
  s += `<g class="bars" clip-path="url(#${esc(clip)})">\n${bars}</g>\n`;
  if (!categories.length)
    s += text((x0 + x1) / 2, (y0 + y1) / 2, 'no data', {size: 14, anchor: 'middle', fill: '#888888'});
  s += `<g class="axes">\n`;
  s += line(x0, y1, x1, y1, '#333333');
  s += line(zero, y0, zero, y1, '#333333');
  for (const t of ticks.ticks) {
    s += line(px(t), y1, px(t), y1 + 5, '#333333');
    s += text(px(t), y1 + 18, formatTick(t, ticks.step), {size: 11, anchor: 'middle'});
  }
  if (spec.valueLabel) s += text((x0 + x1) / 2, H - 10, spec.valueLabel, {size: 13, anchor: 'middle'});
  s += `</g>\n${labels}</g>\n`;
  return {width: W, height: H, body: s};
}

/**
 * Horizontal bars with their values written at the end, one row per label (or per category,
 * with one bar per series and a legend). The value axis always includes 0.
 */
export function barChartSvg(spec: BarChartSpec): string {
  const p = renderBarPanel(spec, spec.id ?? 'chart');
  return svgDocument(p.width, p.height, p.body);
}

// ---------------------------------------------------------------------------------------------
// Several panels

/**
 * Several charts in one SVG: side by side by default, `columns: 1` stacks them, `columns: 2`
 * makes a grid. Each panel keeps its own size (defaults as for the single charts); a column is
 * as wide as its widest panel, a row as tall as its tallest, and smaller panels are centred.
 */
export function multiPanelSvg(panels: ReadonlyArray<PanelSpec>, opts: MultiPanelOptions = {}): string {
  const gap = opts.gap ?? 8;
  if (!panels.length) return lineChartSvg({title: opts.title ?? '', xLabel: '', yLabel: '', series: []});
  const cols = Math.max(1, Math.min(panels.length, Math.floor(opts.columns ?? panels.length)));
  const rendered = panels.map((p, i) =>
    p.type === 'bar' ? renderBarPanel(p, p.id ?? `panel${i}`) : renderLinePanel(p, p.id ?? `panel${i}`),
  );
  const rows = Math.ceil(rendered.length / cols);
  const colW = Array.from({length: cols}, (_, c) =>
    Math.max(...rendered.filter((_, i) => i % cols === c).map((p) => p.width)),
  );
  const rowH = Array.from({length: rows}, (_, r) =>
    Math.max(...rendered.slice(r * cols, (r + 1) * cols).map((p) => p.height)),
  );
  const colX = colW.map((_, c) => colW.slice(0, c).reduce((a, w) => a + w + gap, 0));
  const titleH = opts.title ? 36 : 0;
  const rowY = rowH.map((_, r) => titleH + rowH.slice(0, r).reduce((a, h) => a + h + gap, 0));
  const W = colW.reduce((a, w) => a + w, 0) + (cols - 1) * gap;
  const H = titleH + rowH.reduce((a, h) => a + h, 0) + (rows - 1) * gap;
  let body = opts.title ? text(W / 2, 24, opts.title, {size: 18, anchor: 'middle', weight: 'bold'}) : '';
  rendered.forEach((p, i) => {
    const c = i % cols;
    const r = Math.floor(i / cols);
    const x = colX[c]! + (colW[c]! - p.width) / 2;
    const y = rowY[r]! + (rowH[r]! - p.height) / 2;
    body += `<g transform="translate(${n1(x)} ${n1(y)})">\n${p.body}</g>\n`;
  });
  return svgDocument(W, H, body);
}
