/**
 * Charts for `pldr train` (loss and accuracy curves) and `pldr bench` (timings): SVG written by
 * hand, PNG through resvg, and terminal charts through asciichart. Pure: nothing here prints or
 * touches the file system; callers write the strings and bytes where they want them.
 *
 * - `lineChartSvg`: curves with "nice" 1-2-5 ticks, grid, legend, optional log y axis. Points with
 *   a non-finite coordinate (or y <= 0 on a log axis) are skipped and leave a gap in the line.
 * - `barChartSvg`: horizontal labelled bars with their values (one or several series).
 * - `multiPanelSvg`: several charts side by side or stacked in one image.
 * - `svgToPng`: rasterise any of the above with resvg.
 * - `terminalChart`: the same curves as text, for a terminal.
 *
 * Fonts: the SVGs name a generic font-family list ending in `sans-serif`, so any viewer finds a
 * face. resvg has no built-in font: it loads the system's fonts (fontconfig directories such as
 * /usr/share/fonts) and falls back to any face it found for an unmatched family. On a machine
 * with no fonts at all the PNG is still produced, with lines and bars but without text;
 * `pngTextRenders()` says which case applies, and `svgToPng` accepts font files or directories.
 */
import { createRequire } from 'node:module';

import { PldrError } from './errors.js';

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
    | { bars: ReadonlyArray<BarDatum>; categories?: undefined; series?: undefined }
    | { categories: ReadonlyArray<string>; series: ReadonlyArray<BarSeries>; bars?: undefined }
  );

export type PanelSpec = (LineChartSpec & { type?: 'line' }) | (BarChartSpec & { type: 'bar' });

export interface MultiPanelOptions {
  /** Panels per row: default all in one row (side by side); 1 stacks them. */
  columns?: number;
  /** A title above all panels. */
  title?: string;
  /** Pixels between panels; default 8. */
  gap?: number;
}

export interface PngOptions {
  /** Output width in pixels (height follows the aspect ratio); default the SVG's own width. */
  width?: number;
  /** Extra fonts for the text; system fonts are loaded too unless `loadSystemFonts` is false. */
  fontFiles?: string[];
  fontDirs?: string[];
  loadSystemFonts?: boolean;
  /** Default white. */
  background?: string;
}

export interface TerminalSeries {
  name: string;
  values: ReadonlyArray<number>;
}

export interface TerminalChartOptions {
  /** Lines of the chart itself (the legend comes after them); default 12, at least 2. */
  height?: number;
  /** Columns of the whole chart, y labels included; default 80. Longer series are averaged down. */
  width?: number;
  /** ANSI colours per series (only for a terminal that shows them); default false. */
  color?: boolean;
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
// Ticks

export interface TickSet {
  /** The range the ticks were made for (widened when min == max). */
  min: number;
  max: number;
  /** Distance between ticks: 1, 2 or 5 times a power of ten (a decade stride on log axes). */
  step: number;
  ticks: number[];
}

/** Rounds away binary noise: 3 * 0.1 → 0.3. */
function clean(v: number): number {
  const r = Number(v.toPrecision(12));
  return r === 0 ? 0 : r; // no -0
}

/** A 1-2-5 step that cuts `span` into about `target` parts. */
export function niceStep(span: number, target = 5): number {
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const r = raw / mag;
  // Geometric midpoints between 1, 2, 5 and 10 pick the closest nice factor.
  const f = r >= Math.SQRT1_2 * 10 ? 10 : r >= Math.sqrt(10) ? 5 : r >= Math.SQRT2 ? 2 : 1;
  return clean(f * mag);
}

function widen(min: number, max: number): [number, number] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (min > max) [min, max] = [max, min];
  if (min === max) {
    if (min === 0) return [-1, 1];
    const mag = 10 ** Math.floor(Math.log10(Math.abs(min)));
    return [min - mag / 2, max + mag / 2];
  }
  return [min, max];
}

function ticksBetween(lo: number, hi: number, step: number): number[] {
  const eps = 1e-9;
  const i0 = Math.ceil(lo / step - eps);
  const i1 = Math.floor(hi / step + eps);
  const out: number[] = [];
  for (let i = i0; i <= i1 && out.length < 1000; i++) out.push(clean(i * step));
  return out;
}

/**
 * Nice tick values inside [min, max] (both ends included when they fall on a tick), with a
 * 1-2-5 step for about `target` intervals. niceTicks(0.5, 4.3) → step 1, ticks 1, 2, 3, 4.
 */
export function niceTicks(min: number, max: number, target = 5): TickSet {
  const [lo, hi] = widen(min, max);
  const step = niceStep(hi - lo, target);
  return { min: lo, max: hi, step, ticks: ticksBetween(lo, hi, step) };
}

/**
 * Like `niceTicks`, but the range is widened outwards to whole steps, so that the axis starts
 * and ends on a tick: niceDomain(0.5, 4.3) → 0 … 5, ticks 0, 1, 2, 3, 4, 5.
 */
export function niceDomain(min: number, max: number, target = 5): TickSet {
  const [lo, hi] = widen(min, max);
  const step = niceStep(hi - lo, target);
  const a = clean(Math.floor(lo / step + 1e-9) * step);
  const b = clean(Math.ceil(hi / step - 1e-9) * step);
  return { min: a, max: b, step, ticks: ticksBetween(a, b, step) };
}

/**
 * Log-axis ticks: the range widened to whole decades, ticks at powers of ten (every k-th decade
 * when there are more than `maxTicks`), and `minor` at 2…9 × 10^k when there are few decades.
 * Both bounds must be > 0.
 */
export function logTicks(min: number, max: number, maxTicks = 8): TickSet & { minor: number[] } {
  if (!(min > 0) || !(max > 0) || !Number.isFinite(min) || !Number.isFinite(max)) {
    min = 1;
    max = 10;
  }
  if (min > max) [min, max] = [max, min];
  const eps = 1e-9;
  let lo = Math.floor(Math.log10(min) + eps);
  let hi = Math.ceil(Math.log10(max) - eps);
  if (hi <= lo) hi = lo + 1;
  const stride = Math.max(1, Math.ceil((hi - lo) / Math.max(1, maxTicks - 1)));
  lo = Math.floor(lo / stride) * stride;
  hi = Math.ceil(hi / stride) * stride;
  const ticks: number[] = [];
  for (let k = lo; k <= hi; k += stride) ticks.push(clean(10 ** k));
  const minor: number[] = [];
  if (stride === 1 && hi - lo <= 6) {
    for (let k = lo; k < hi; k++) for (let j = 2; j <= 9; j++) minor.push(clean(j * 10 ** k));
  }
  return { min: clean(10 ** lo), max: clean(10 ** hi), step: stride, ticks, minor };
}

// ---------------------------------------------------------------------------------------------
// Number formatting

function expForm(v: number, digits: number): string {
  const [m, e] = v.toExponential(digits).split('e');
  const mant = m!.includes('.') ? m!.replace(/0+$/, '').replace(/\.$/, '') : m!;
  return `${mant}e${Number(e)}`;
}

/**
 * A tick label: decimals enough for `step` (0.5 → "1.5"), exponent form for very large or small
 * magnitudes ("1e-5", "2.5e6"). Without a step, up to 4 significant digits.
 */
export function formatTick(v: number, step?: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-4)) return expForm(v, 3);
  if (step !== undefined && step > 0 && Number.isFinite(step) && step < 1e6) {
    const d = Math.min(10, Math.max(0, Math.ceil(-Math.log10(step) - 1e-9)));
    const s = v.toFixed(d);
    return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
  }
  return formatValue(v);
}

/** A value written beside a bar or in a legend: 4 significant digits, no exponent in 1e-4…1e6. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return expForm(v, 3);
  return String(Number(v.toPrecision(4)));
}

// ---------------------------------------------------------------------------------------------
// SVG helpers

const esc = (s: string): string =>
  s
    // Characters XML 1.0 does not allow at all.
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** Coordinates with one decimal, never "NaN" (callers only pass finite numbers). */
const n1 = (v: number): string => {
  const r = Math.round(v * 10) / 10;
  return Number.isFinite(r) ? String(r === 0 ? 0 : r) : '0';
};

/** Rough text width for layout: DejaVu Sans averages a little under 0.6 em per character. */
const textWidth = (s: string, size: number): number => s.length * size * 0.6;

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, Math.max(1, max - 1))}…`;
}

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
  o: { size?: number; anchor?: 'start' | 'middle' | 'end'; weight?: string; fill?: string; rotate?: boolean } = {},
): string {
  const size = o.size ?? 12;
  const anchor = o.anchor ?? 'start';
  const place = o.rotate ? `transform="translate(${n1(x)} ${n1(y)}) rotate(-90)" x="0" y="0"` : `x="${n1(x)}" y="${n1(y)}"`;
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

function legendSize(entries: LegendEntry[]): { w: number; h: number } {
  const longest = Math.max(...entries.map((e) => textWidth(e.name + (e.empty ? ' (no data)' : ''), LEGEND_FONT)));
  return { w: 10 + LEGEND_SAMPLE + 6 + longest + 10, h: entries.length * LEGEND_ROW + 8 };
}

function legendBox(x: number, y: number, entries: LegendEntry[]): string {
  const { w, h } = legendSize(entries);
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
  const usable = (x: number, y: number): boolean =>
    Number.isFinite(x) && Number.isFinite(y) && (!log || y > 0);

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
  if (spec.title) s += text(W / 2, 26, spec.title, { size: 16, anchor: 'middle', weight: 'bold' });

  // Grid.
  s += `<g class="grid">\n`;
  if (log && 'minor' in yTicks) {
    for (const m of (yTicks as { minor: number[] }).minor) s += line(x0, py(m), x1, py(m), '#f0f0f0');
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
    entries.push({ name: truncate(ser.name, 48), color, dashed, empty: counts[i] === 0 });
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
  if (!hasData) s += text((x0 + x1) / 2, (y0 + y1) / 2, 'no data', { size: 14, anchor: 'middle', fill: '#888888' });

  // Axes, ticks and their labels.
  s += `<g class="axes">\n`;
  s += line(x0, y1, x1, y1, '#333333');
  s += line(x0, y0, x0, y1, '#333333');
  yTicks.ticks.forEach((t, k) => {
    const y = py(t);
    s += line(x0 - 5, y, x0, y, '#333333');
    s += text(x0 - 8, y + 4, yLabels[k]!, { size: 11, anchor: 'end' });
  });
  for (const t of xTicks.ticks) {
    const x = px(t);
    s += line(x, y1, x, y1 + 5, '#333333');
    s += text(x, y1 + 18, formatTick(t, xTicks.step), { size: 11, anchor: 'middle' });
  }
  if (spec.xLabel) s += text((x0 + x1) / 2, H - 10, spec.xLabel, { size: 13, anchor: 'middle' });
  if (spec.yLabel) s += text(18, (y0 + y1) / 2, spec.yLabel, { size: 13, anchor: 'middle', rotate: true });
  s += `</g>\n`;

  // Legend in the corner with the fewest points under it.
  if (entries.length) {
    const { w, h } = legendSize(entries);
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
      for (const [x, y] of occupied) if (x >= c[0] - 4 && x <= c[0] + w + 4 && y >= c[1] - 4 && y <= c[1] + h + 4) count++;
      if (count < bestCount) {
        best = c;
        bestCount = count;
      }
    }
    s += legendBox(best[0], best[1], entries);
  }
  s += `</g>\n`;
  return { width: W, height: H, body: s };
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
  let series: Array<{ name: string; values: ReadonlyArray<number>; color: string }>;
  if (spec.bars) {
    categories = spec.bars.map((b) => b.label);
    series = [{ name: '', values: spec.bars.map((b) => b.value), color: PALETTE[0]! }];
  } else {
    categories = [...spec.categories];
    series = spec.series.map((s, i) => ({ name: s.name, values: s.values, color: s.color ?? PALETTE[i % PALETTE.length]! }));
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
  const legendEntries: LegendEntry[] = series.map((s) => ({ name: truncate(s.name, 40), color: s.color, dashed: false, empty: false }));
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
  if (spec.title) s += text(W / 2, 26, spec.title, { size: 16, anchor: 'middle', weight: 'bold' });
  if (showLegend) {
    // One row of entries under the title.
    let x = x0;
    const cy = titleH + LEGEND_ROW / 2;
    for (const e of legendEntries) {
      s += `<rect x="${n1(x)}" y="${n1(cy - 6)}" width="12" height="12" fill="${esc(e.color)}"/>\n`;
      s += text(x + 17, cy + 4, e.name, { size: LEGEND_FONT });
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
    labels += text(x0 - 8 - negW, y0 + rowH * (c + 0.5) + 4, catLabels[c]!, { size: 12, anchor: 'end' });
    series.forEach((ser, j) => {
      const v = ser.values[c] ?? NaN;
      const y = top + j * barH;
      const t = valueTexts[j * categories.length + c]!;
      if (!Number.isFinite(v)) {
        labels += text(zero + 4, y + barH / 2 + 4, t, { size: 11, fill: '#888888' });
        return;
      }
      const a = Math.min(zero, px(v));
      const b = Math.max(zero, px(v));
      bars += `<rect x="${n1(a)}" y="${n1(y + 1)}" width="${n1(Math.max(b - a, 0.5))}" height="${n1(barH - 2)}" fill="${esc(ser.color)}"/>\n`;
      labels +=
        v >= 0
          ? text(b + 4, y + barH / 2 + 4, t, { size: 11 })
          : text(a - 4, y + barH / 2 + 4, t, { size: 11, anchor: 'end' });
    });
  });
  s += `<g class="bars" clip-path="url(#${esc(clip)})">\n${bars}</g>\n`;
  if (!categories.length) s += text((x0 + x1) / 2, (y0 + y1) / 2, 'no data', { size: 14, anchor: 'middle', fill: '#888888' });
  s += `<g class="axes">\n`;
  s += line(x0, y1, x1, y1, '#333333');
  s += line(zero, y0, zero, y1, '#333333');
  for (const t of ticks.ticks) {
    s += line(px(t), y1, px(t), y1 + 5, '#333333');
    s += text(px(t), y1 + 18, formatTick(t, ticks.step), { size: 11, anchor: 'middle' });
  }
  if (spec.valueLabel) s += text((x0 + x1) / 2, H - 10, spec.valueLabel, { size: 13, anchor: 'middle' });
  s += `</g>\n${labels}</g>\n`;
  return { width: W, height: H, body: s };
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
  if (!panels.length) return lineChartSvg({ title: opts.title ?? '', xLabel: '', yLabel: '', series: [] });
  const cols = Math.max(1, Math.min(panels.length, Math.floor(opts.columns ?? panels.length)));
  const rendered = panels.map((p, i) =>
    p.type === 'bar' ? renderBarPanel(p, p.id ?? `panel${i}`) : renderLinePanel(p, p.id ?? `panel${i}`),
  );
  const rows = Math.ceil(rendered.length / cols);
  const colW = Array.from({ length: cols }, (_, c) => Math.max(...rendered.filter((_, i) => i % cols === c).map((p) => p.width)));
  const rowH = Array.from({ length: rows }, (_, r) => Math.max(...rendered.slice(r * cols, (r + 1) * cols).map((p) => p.height)));
  const colX = colW.map((_, c) => colW.slice(0, c).reduce((a, w) => a + w + gap, 0));
  const titleH = opts.title ? 36 : 0;
  const rowY = rowH.map((_, r) => titleH + rowH.slice(0, r).reduce((a, h) => a + h + gap, 0));
  const W = colW.reduce((a, w) => a + w, 0) + (cols - 1) * gap;
  const H = titleH + rowH.reduce((a, h) => a + h, 0) + (rows - 1) * gap;
  let body = opts.title ? text(W / 2, 24, opts.title, { size: 18, anchor: 'middle', weight: 'bold' }) : '';
  rendered.forEach((p, i) => {
    const c = i % cols;
    const r = Math.floor(i / cols);
    const x = colX[c]! + (colW[c]! - p.width) / 2;
    const y = rowY[r]! + (rowH[r]! - p.height) / 2;
    body += `<g transform="translate(${n1(x)} ${n1(y)})">\n${p.body}</g>\n`;
  });
  return svgDocument(W, H, body);
}

// ---------------------------------------------------------------------------------------------
// PNG

interface ResvgModule {
  Resvg: new (
    svg: string,
    options?: {
      fitTo?: { mode: 'original' } | { mode: 'width'; value: number };
      background?: string;
      font?: { loadSystemFonts?: boolean; fontFiles?: string[]; fontDirs?: string[] };
      logLevel?: 'off' | 'error' | 'warn';
    },
  ) => { render(): { asPng(): Uint8Array; pixels: Uint8Array; width: number; height: number } };
}

const requireCjs = createRequire(import.meta.url);
let resvg: ResvgModule | undefined;

/** resvg is a native addon: loaded on first use, so that importing this module stays cheap. */
function loadResvg(): ResvgModule {
  if (!resvg) {
    try {
      resvg = requireCjs('@resvg/resvg-js') as ResvgModule;
    } catch (e) {
      throw new PldrError(`cannot load @resvg/resvg-js for PNG output (${(e as Error).message}); write SVG instead`);
    }
  }
  return resvg;
}

function resvgOptions(opts: PngOptions) {
  return {
    background: opts.background ?? '#ffffff',
    font: {
      loadSystemFonts: opts.loadSystemFonts ?? true,
      ...(opts.fontFiles ? { fontFiles: opts.fontFiles } : {}),
      ...(opts.fontDirs ? { fontDirs: opts.fontDirs } : {}),
    },
    logLevel: 'off' as const,
  };
}

/** Rasterises an SVG to PNG bytes with resvg; `width` scales it (height follows). */
export function svgToPng(svg: string, opts: PngOptions = {}): Uint8Array {
  if (opts.width !== undefined && !(Number.isInteger(opts.width) && opts.width >= 1 && opts.width <= 20000)) {
    throw new PldrError(`PNG width must be an integer from 1 to 20000, got ${opts.width}`);
  }
  const { Resvg } = loadResvg();
  let png: Uint8Array;
  try {
    const r = new Resvg(svg, {
      ...resvgOptions(opts),
      fitTo: opts.width !== undefined ? { mode: 'width', value: opts.width } : { mode: 'original' },
    });
    png = r.render().asPng();
  } catch (e) {
    throw new PldrError(`cannot render the chart to PNG: ${(e as Error).message}`);
  }
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

const textRenders = new Map<string, boolean>();

/**
 * Whether resvg finds a font here, i.e. whether PNGs carry their text (true where the system has
 * any font resvg can load, or with `fontFiles`/`fontDirs`). Renders a word once and looks for ink.
 */
export function pngTextRenders(opts: Pick<PngOptions, 'fontFiles' | 'fontDirs' | 'loadSystemFonts'> = {}): boolean {
  const key = JSON.stringify([opts.fontFiles ?? [], opts.fontDirs ?? [], opts.loadSystemFonts ?? true]);
  const hit = textRenders.get(key);
  if (hit !== undefined) return hit;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="80" height="30">` +
    `<text x="4" y="22" font-size="18" font-family="${esc(FONT_FAMILY)}" fill="#000000">Hg1</text></svg>`;
  const { Resvg } = loadResvg();
  const px = new Resvg(svg, resvgOptions(opts)).render().pixels;
  let ink = false;
  for (let i = 0; i < px.length; i += 4) {
    if (px[i]! < 128) {
      ink = true;
      break;
    }
  }
  textRenders.set(key, ink);
  return ink;
}

// ---------------------------------------------------------------------------------------------
// Terminal chart

interface AsciichartModule {
  plot(
    series: number[][],
    cfg: {
      height: number;
      offset: number;
      min: number;
      max: number;
      colors?: string[];
      symbols?: string[];
      format: (x: number, i: number) => string;
    },
  ): string;
  reset: string;
  [color: string]: unknown;
}

let asciichart: AsciichartModule | undefined;
const loadAsciichart = (): AsciichartModule => (asciichart ??= requireCjs('asciichart') as AsciichartModule);

const ANSI = ['blue', 'lightred', 'green', 'yellow', 'magenta', 'cyan', 'default', 'darkgray'];

/**
 * Resamples a series onto `n` columns spanning its whole length: averages of the finite values
 * per column when longer (a column without one is NaN), linear interpolation when shorter.
 */
function resample(values: ReadonlyArray<number>, n: number): number[] {
  const len = values.length;
  if (len === 0) return [];
  if (len === n) return Array.from(values);
  const out: number[] = [];
  if (len > n) {
    for (let b = 0; b < n; b++) {
      const a = Math.floor((b * len) / n);
      const e = Math.floor(((b + 1) * len) / n);
      let sum = 0;
      let cnt = 0;
      for (let i = a; i < e; i++) {
        const v = values[i]!;
        if (Number.isFinite(v)) {
          sum += v;
          cnt++;
        }
      }
      out.push(cnt ? sum / cnt : NaN);
    }
    return out;
  }
  for (let c = 0; c < n; c++) {
    const pos = len === 1 ? 0 : (c * (len - 1)) / (n - 1);
    const i = Math.floor(pos);
    const f = pos - i;
    const a = values[i]!;
    const b = values[Math.min(i + 1, len - 1)]!;
    out.push(f === 0 ? a : a + (b - a) * f); // NaN when a neighbour is not finite
  }
  return out;
}

/** Bridges non-finite entries linearly between finite neighbours, holding at the ends. */
function fillGaps(v: number[]): number[] {
  const idx: number[] = [];
  v.forEach((x, i) => Number.isFinite(x) && idx.push(i));
  if (!idx.length) return [];
  const out = v.slice();
  for (let i = 0; i < idx[0]!; i++) out[i] = v[idx[0]!]!;
  for (let i = idx[idx.length - 1]! + 1; i < v.length; i++) out[i] = v[idx[idx.length - 1]!]!;
  for (let k = 0; k + 1 < idx.length; k++) {
    const a = idx[k]!;
    const b = idx[k + 1]!;
    for (let i = a + 1; i < b; i++) out[i] = v[a]! + ((v[b]! - v[a]!) * (i - a)) / (b - a);
  }
  return out;
}

/**
 * Series as a text chart (asciichart): exactly `height` chart lines at most `width` columns wide,
 * then one or more legend lines ("── name (last 2.31)"). Series have no x values: each one is
 * stretched over the whole width (a validation loss logged 50 times spans the same run as a
 * training loss logged 5000 times), averaged down when longer than the plot is wide. NaN and ±Inf
 * are bridged from their neighbours and counted in the legend; a series without any finite value
 * is listed as "(no data)". Without `color` several series are drawn in the same colour.
 */
export function terminalChart(series: ReadonlyArray<TerminalSeries>, opts: TerminalChartOptions = {}): string {
  const height = Math.max(2, Math.floor(opts.height ?? 12));
  const width = Math.max(20, Math.floor(opts.width ?? 80));
  const color = opts.color === true;
  const ac = loadAsciichart();
  const colorOf = (i: number): string | undefined => (color ? (ac[ANSI[i % ANSI.length]!] as string) : undefined);
  const paint = (s: string, c: string | undefined): string => (c ? c + s + ac.reset : s);

  let lo = Infinity;
  let hi = -Infinity;
  const bad = series.map((s) => {
    let nb = 0;
    for (const v of s.values) {
      if (!Number.isFinite(v)) nb++;
      else {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    return nb;
  });

  // Legend, wrapped to the width.
  const items = series.map((s, i) => {
    const last = [...s.values].reverse().find((v) => Number.isFinite(v));
    const notes: string[] = [];
    if (last === undefined) notes.push('no data');
    else notes.push(`last ${formatValue(last)}`);
    if (bad[i]! > 0 && last !== undefined) notes.push(`${bad[i]} non-finite skipped`);
    const label = `${truncate(s.name, 40)} (${notes.join(', ')})`;
    return { plain: `── ${label}`, painted: `${paint('──', colorOf(i))} ${label}` };
  });
  const legend: string[] = [];
  let cur = '';
  let curLen = 0;
  for (const it of items) {
    if (curLen && curLen + 3 + it.plain.length > width) {
      legend.push(cur);
      cur = '';
      curLen = 0;
    }
    cur += (curLen ? '   ' : '') + it.painted;
    curLen += (curLen ? 3 : 0) + it.plain.length;
  }
  if (curLen || !legend.length) legend.push(cur || '(no series)');

  if (!(lo <= hi)) {
    const rows = Array.from({ length: height }, (_, r) => (r === Math.floor(height / 2) ? '  (no data)' : ''));
    return [...rows, ...legend].join('\n');
  }
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.05;
    lo -= pad;
    hi += pad;
  }

  // y labels, all the same width.
  const rowStep = (hi - lo) / (height - 1);
  const big = Math.max(Math.abs(lo), Math.abs(hi));
  const useExp = big >= 1e7 || big < 1e-3;
  const dec = Math.max(0, Math.min(6, 1 - Math.floor(Math.log10(rowStep))));
  const label = (v: number): string => {
    const t = useExp ? v.toExponential(2) : v.toFixed(dec);
    return /^-0(\.0*)?$/.test(t) ? t.slice(1) : t;
  };
  let L = 1;
  for (let r = 0; r < height; r++) L = Math.max(L, label(lo + r * rowStep).length);
  // Columns: as many as the longest series has values, at most what the width leaves.
  const longest = Math.max(...series.map((s) => s.values.length));
  const n = Math.max(2, Math.min(longest, width - L - 1));

  const plotted: number[][] = [];
  const colors: string[] = [];
  series.forEach((s, i) => {
    const filled = fillGaps(resample(s.values, n));
    if (!filled.length) return;
    plotted.push(filled);
    const c = colorOf(i);
    if (c) colors.push(c);
  });

  const base = {
    offset: 2,
    // asciichart marks the row it takes for zero, and each series' first value, with '┼'; with
    // ranges away from zero that row is wrong, so every axis cell is drawn as '┤'.
    symbols: ['┤', '┤', '╶', '╴', '─', '╰', '╭', '╮', '╯', '│'],
    colors: color ? colors : undefined,
    format: (x: number): string => `${label(x).padStart(L)} `,
  };
  // asciichart draws round(max·r) − round(min·r) + 1 rows for r = height/range; floating-point
  // rounding can add or drop one, so nudge the range until exactly `height` lines come out.
  let chart: string[] = [];
  for (let attempt = 0; attempt < 8; attempt++) {
    const nudge = attempt * 1e-7 * (hi - lo);
    chart = ac.plot(plotted, { ...base, height: height - 1, min: lo - nudge, max: hi + nudge }).split('\n');
    if (chart.length === height) break;
  }
  while (chart.length < height) chart.push('');
  chart = chart.slice(0, height).map((l) => l.replace(/\s+$/, ''));
  return [...chart, ...legend].join('\n');
}
