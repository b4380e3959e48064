/**
 * SVG charts: line charts, horizontal bar charts and several of them in one image. Each chart is
 * a vega-lite spec (data inline, nothing fetched) that vega renders to SVG; vega and vega-lite are
 * imported on first use, so that importing this module stays cheap. Pure: returns strings;
 * callers write them where they want.
 *
 * - `lineChartSvg`: curves with "nice" 1-2-5 ticks, grid, legend, optional log y axis. Points with
 *   a non-finite coordinate (or y <= 0 on a log axis) leave a gap in the line; long series are
 *   thinned to the pixel width first (vega draws every point it is given).
 * - `barChartSvg`: horizontal labelled bars with their values (one or several series).
 * - `multiPanelSvg`: several charts side by side or stacked in one image, each with its own scales.
 *
 * Ticks and their labels are ours (ticks.ts), passed to vega as tick values and a registered
 * expression function `pldrTick`, so that labels read "1000" and "1e-5" as in the terminal charts.
 *
 * Fonts: the SVGs name a generic font-family list ending in `sans-serif`, so any viewer finds a
 * face (see png.ts for what resvg does with it).
 */
import type {TopLevelSpec} from 'vega-lite';

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
// Rendering through vega

/** A vega-lite spec under construction: plain JSON, checked by vega-lite when compiled. */
type Json = Record<string, unknown>;

export const esc = (s: string): string =>
  s
    // Characters XML 1.0 does not allow at all.
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
    .replace(/[&<>"']/g, (c) => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'})[c]!);

/** Rough text width for layout: DejaVu Sans averages a little under 0.6 em per character. */
const textWidth = (s: string, size: number): number => s.length * size * 0.6;

function dim(v: number | undefined, dflt: number, min: number, what: string): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v < min || v > 20000) {
    throw new PldrError(`chart ${what} must be between ${min} and 20000 pixels, got ${v}`);
  }
  return Math.round(v);
}

const INK = '#222222';
const MUTED = '#888888';
const NO_DATA = ' (no data)';

const CONFIG: Json = {
  font: FONT_FAMILY,
  view: {stroke: null},
  title: {fontSize: 16, color: INK, anchor: 'middle'},
  axis: {
    labelFontSize: 11,
    labelColor: INK,
    labelFlush: false,
    titleFontSize: 13,
    titleFontWeight: 'normal',
    titleColor: INK,
    gridColor: '#dddddd',
    domainColor: '#333333',
    tickColor: '#333333',
  },
  legend: {labelFontSize: 12, labelColor: INK, labelLimit: 0},
};

let modules: Promise<{vega: typeof import('vega'); vl: typeof import('vega-lite')}> | undefined;

/** vega and vega-lite on first use, with our tick labels registered as `pldrTick(value, step?)`. */
function loadVega(): Promise<{vega: typeof import('vega'); vl: typeof import('vega-lite')}> {
  modules ??= Promise.all([import('vega'), import('vega-lite')]).then(([vega, vl]) => {
    vega.expressionFunction('pldrTick', (v: number, step?: number) => formatTick(v, step ?? undefined));
    return {vega, vl};
  });
  return modules;
}

/** A vega-lite spec (inline data only) as an SVG document, on a white background. */
async function render(spec: Json): Promise<string> {
  const {vega, vl} = await loadVega();
  // Core never prints: vega's warnings are dropped, its errors still throw.
  const quiet = vega.logger(vega.None);
  // A single assertion: vega-lite checks the spec itself when it compiles it.
  const top: unknown = {...spec, background: '#ffffff', padding: 8, config: CONFIG};
  const view = new vega.View(vega.parse(vl.compile(top as TopLevelSpec, {logger: quiet}).spec), {
    renderer: 'none',
    logger: quiet,
  });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** An axis on our ticks: `values` from ticks.ts, labels through `formatTick` (no "1,000"). */
function axis(values: number[], step: number | undefined, title: string): Json {
  const label = step === undefined ? 'pldrTick(datum.value)' : `pldrTick(datum.value, ${step})`;
  return {values, labelExpr: label, title: title || null, grid: true};
}

const title = (t: string): Json => (t ? {title: {text: t}} : {});

/** Legend names made unique (vega keys series by name), "(no data)" for series without points. */
function legendNames(names: string[]): string[] {
  const seen = new Map<string, number>();
  return names.map((n) => {
    const k = (seen.get(n) ?? 0) + 1;
    seen.set(n, k);
    return k === 1 ? n : `${n} (${k})`;
  });
}

// ---------------------------------------------------------------------------------------------
// Line chart

/** Splits a series into runs of drawable points, in the given order. */
function runsOf(
  points: ReadonlyArray<readonly [number, number]>,
  usable: (x: number, y: number) => boolean,
): Array<Array<[number, number]>> {
  const runs: Array<Array<[number, number]>> = [];
  let cur: Array<[number, number]> = [];
  for (const [x, y] of points) {
    if (usable(x, y)) {
      cur.push([x, y]);
      continue;
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
function decimate(
  run: Array<[number, number]>,
  column: (x: number) => number,
  columns: number,
): Array<[number, number]> {
  if (run.length <= 4 * columns) return run;
  for (let i = 1; i < run.length; i++) if (run[i]![0] < run[i - 1]![0]) return run; // x not monotone
  const out: Array<[number, number]> = [];
  let i = 0;
  while (i < run.length) {
    const col = Math.floor(column(run[i]![0]));
    let j = i;
    let lo = i;
    let hi = i;
    while (j < run.length && Math.floor(column(run[j]![0])) === col) {
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

const LEGEND_FONT = 12;
const LEGEND_ROW = 18;

/** The legend's corner inside the plot: the one with the fewest points under it. */
function quietCorner(occupied: Array<[number, number]>, names: string[], pw: number, ph: number): string {
  const w = 10 + 24 + 6 + Math.max(...names.map((n) => textWidth(n, LEGEND_FONT))) + 10;
  const h = names.length * LEGEND_ROW + 8;
  const inset = 8;
  const corners: Array<[string, number, number]> = [
    ['top-right', pw - inset - w, inset],
    ['bottom-right', pw - inset - w, ph - inset - h],
    ['top-left', inset, inset],
    ['bottom-left', inset, ph - inset - h],
  ];
  let best = corners[0]!;
  let bestCount = Infinity;
  for (const c of corners) {
    let count = 0;
    for (const [x, y] of occupied)
      if (x >= c[1] - 4 && x <= c[1] + w + 4 && y >= c[2] - 4 && y <= c[2] + h + 4) count++;
    if (count < bestCount) {
      best = c;
      bestCount = count;
    }
  }
  return best[0];
}

/** A chart as a vega-lite spec: `spec` sized by its plot area, about `width` × `height` in all. */
interface Panel {
  spec: Json;
  width: number;
  height: number;
}

/** A panel around its layers: title, plot size, data, and "no data" in the middle when empty. */
function panel(
  t: string,
  size: {W: number; H: number; pw: number; ph: number},
  rows: object[],
  layers: Json[],
  empty: boolean,
): Panel {
  const noData = {
    data: {values: [{}]},
    mark: {type: 'text', text: 'no data', fontSize: 14, color: MUTED},
    encoding: {x: {value: size.pw / 2}, y: {value: size.ph / 2}},
  };
  return {
    spec: {
      ...title(t),
      width: size.pw,
      height: size.ph,
      data: {values: rows},
      layer: empty ? [...layers, noData] : layers,
    },
    width: size.W,
    height: size.H,
  };
}

/** One chart alone: vega fits the whole image, axes and titles included, to the panel's size. */
const alone = (p: Panel): Promise<string> =>
  render({...p.spec, width: p.width, height: p.height, autosize: {type: 'fit', contains: 'padding'}});

/** One line chart as a vega-lite layer spec, its plot area what is left of W × H by the margins. */
function linePanel(spec: LineChartSpec): Panel {
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
    for (const [x, y] of s.points) {
      if (!usable(x, y)) continue;
      c++;
      xmin = Math.min(xmin, x);
      xmax = Math.max(xmax, x);
      ymin = Math.min(ymin, y);
      ymax = Math.max(ymax, y);
    }
    return c;
  });
  const hasData = xmin <= xmax;
  const okY = (v: number | undefined): v is number => v !== undefined && Number.isFinite(v) && (!log || v > 0);
  let ylo = okY(spec.yMin) ? spec.yMin : hasData ? ymin : log ? 1 : 0;
  let yhi = okY(spec.yMax) ? spec.yMax : hasData ? ymax : log ? 10 : 1;
  if (ylo > yhi) [ylo, yhi] = [yhi, ylo];

  // Margins as the text needs them; the plot area gets the rest.
  const titleH = spec.title ? 40 : 14;
  const bottom = 30 + (spec.xLabel ? 22 : 0);
  const ph = Math.max(1, H - titleH - bottom);
  const yTarget = Math.max(2, Math.min(10, Math.round(ph / 60)));
  const yTicks = log ? logTicks(ylo, yhi, Math.max(3, yTarget + 2)) : niceDomain(ylo, yhi, yTarget);
  const yLabelW = Math.max(...yTicks.ticks.map((t) => textWidth(formatTick(t, log ? undefined : yTicks.step), 11)), 10);
  const pw = Math.max(1, W - (12 + (spec.yLabel ? 22 : 0) + yLabelW + 10) - 20);
  const xTicks = hasData ? niceTicks(xmin, xmax, Math.max(2, Math.min(10, Math.round(pw / 100)))) : niceTicks(0, 1);
  const px = (x: number): number => ((x - xTicks.min) / (xTicks.max - xTicks.min)) * pw;
  const lyl = Math.log10(yTicks.min);
  const lyh = Math.log10(yTicks.max);
  const py = log
    ? (y: number): number => ph - ((Math.log10(y) - lyl) / (lyh - lyl)) * ph
    : (y: number): number => ph - ((y - yTicks.min) / (yTicks.max - yTicks.min)) * ph;

  // One row per drawn point; a row without coordinates between runs breaks the line there.
  const names = legendNames(spec.series.map((s, i) => truncate(s.name, 48) + (counts[i] === 0 ? NO_DATA : '')));
  const rows: Array<{s: string; i: number; x: number | null; y: number | null; m: boolean}> = [];
  const occupied: Array<[number, number]> = [];
  spec.series.forEach((ser, k) => {
    const markers = ser.markers ?? counts[k]! <= 40;
    runsOf(ser.points, usable).forEach((run0, r) => {
      if (r > 0) rows.push({s: names[k]!, i: rows.length, x: null, y: null, m: false});
      const run = decimate(run0, px, pw);
      for (const [x, y] of run) rows.push({s: names[k]!, i: rows.length, x, y, m: markers || run.length === 1});
      const stride = Math.max(1, Math.floor(run.length / 2000));
      for (let j = 0; j < run.length; j += stride) occupied.push([px(run[j]![0]), py(run[j]![1])]);
    });
  });

  const colors = spec.series.map((s, i) => s.color ?? PALETTE[i % PALETTE.length]!);
  const legend = names.length
    ? {
        orient: quietCorner(occupied, names, pw, ph),
        title: null,
        symbolType: 'stroke',
        symbolStrokeWidth: 2.5,
        symbolSize: 400,
        fillColor: 'rgba(255,255,255,0.88)',
        strokeColor: '#bbbbbb',
        padding: 6,
        cornerRadius: 3,
        // Series without points: their entry in grey.
        encode: {labels: {update: {fill: {signal: `indexof(datum.label, '${NO_DATA}') >= 0 ? '${MUTED}' : '${INK}'`}}}},
        offset: 8,
      }
    : null;
  const x = {
    field: 'x',
    type: 'quantitative',
    scale: {domain: [xTicks.min, xTicks.max], nice: false, zero: false},
    axis: axis(xTicks.ticks, xTicks.step, spec.xLabel),
  };
  const y = {
    field: 'y',
    type: 'quantitative',
    scale: {type: log ? 'log' : 'linear', domain: [yTicks.min, yTicks.max], nice: false, ...(log ? {} : {zero: false})},
    axis: axis(yTicks.ticks, log ? undefined : yTicks.step, spec.yLabel),
  };
  const color = {field: 's', type: 'nominal', scale: {domain: names, range: colors}, legend};
  const layers: Json[] = [
    {
      mark: {
        type: 'line',
        clip: true,
        strokeWidth: 1.8,
        strokeJoin: 'round',
        strokeCap: 'round',
        invalid: 'break-paths-show-domains',
      },
      encoding: {
        x,
        y,
        color,
        strokeDash: {
          field: 's',
          type: 'nominal',
          scale: {domain: names, range: spec.series.map((s) => (s.dashed ? [7, 4] : [1, 0]))},
          legend,
        },
        order: {field: 'i', type: 'quantitative'},
      },
    },
    {
      transform: [{filter: 'datum.m'}],
      mark: {type: 'circle', clip: true, size: 21, opacity: 1},
      encoding: {x, y, color},
    },
  ];
  return panel(spec.title, {W, H, pw, ph}, rows, layers, !hasData);
}

/**
 * A line chart as a complete SVG document: title, axis labels, 1-2-5 ticks (powers of ten when
 * `yLog`), grid, legend. Non-finite points leave gaps; series without points are listed in the
 * legend as "(no data)"; series with 10k+ points are thinned per pixel column.
 */
export async function lineChartSvg(spec: LineChartSpec): Promise<string> {
  return alone(linePanel(spec));
}

// ---------------------------------------------------------------------------------------------
// Bar chart

/** One bar chart (one bar per label, or categories × series) as a vega-lite layer spec. */
function barPanel(spec: BarChartSpec): Panel {
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
  const groupH = k * barH + 10;
  const showLegend = !spec.bars && series.length > 1;

  const catLabels = legendNames(categories.map((c) => truncate(c, 32)));
  const seriesNames = legendNames(series.map((s) => truncate(s.name, 40)));
  const rows = series.flatMap((s, j) =>
    categories.map((_, c) => {
      const v = s.values[c] ?? NaN;
      return {
        c: catLabels[c]!,
        s: seriesNames[j]!,
        v: Number.isFinite(v) ? v : null,
        t: Number.isFinite(v) ? fmt(v) : 'n/a',
      };
    }),
  );
  const finite = rows.flatMap((r) => (r.v === null ? [] : [r.v]));
  const vmin = Math.min(0, ...finite);
  const vmax = Math.max(0, ...finite);

  const W = dim(spec.width, 720, 200, 'width');
  const titleH = spec.title ? 40 : 14;
  const legendH = showLegend ? LEGEND_ROW + 8 : 0;
  const bottom = 30 + (spec.valueLabel ? 22 : 0);
  const autoH = titleH + legendH + Math.max(1, categories.length) * groupH + 10 + bottom;
  const H = dim(spec.height, Math.round(autoH), 100, 'height');
  const negW = Math.max(0, ...rows.filter((r) => r.v !== null && r.v < 0).map((r) => textWidth(r.t, 11) + 6));
  const left = 12 + Math.max(20, ...catLabels.map((c) => textWidth(c, 12))) + 10 + negW;
  const right = 16 + Math.max(...rows.map((r) => textWidth(r.t, 11)), 20);
  const pw = Math.max(1, W - left - right);
  const ph = Math.max(1, H - titleH - legendH - bottom);
  const ticks = niceDomain(vmin, vmax === vmin ? vmin + 1 : vmax, Math.max(2, Math.min(8, Math.round(pw / 90))));
  const rowH = ph / Math.max(1, categories.length);
  const padding = Math.max(0, Math.min(0.9, 1 - (k * barH) / rowH));

  const x = {
    field: 'v',
    type: 'quantitative',
    scale: {domain: [ticks.min, ticks.max], nice: false, zero: true},
    axis: axis(ticks.ticks, ticks.step, spec.valueLabel ?? ''),
  };
  const y = {
    field: 'c',
    type: 'nominal',
    sort: catLabels,
    scale: {domain: catLabels, paddingInner: padding, paddingOuter: padding / 2},
    axis: {title: null, labelFontSize: 12, labelLimit: 0, ticks: false, domain: false, labelPadding: 8 + negW},
  };
  const yOffset = {field: 's', type: 'nominal', sort: seriesNames, scale: {domain: seriesNames, paddingInner: 0.1}};
  const place = {y, ...(k > 1 ? {yOffset} : {})};
  const color = showLegend
    ? {
        field: 's',
        type: 'nominal',
        scale: {domain: seriesNames, range: series.map((s) => s.color)},
        legend: {orient: 'top', direction: 'horizontal', title: null, symbolType: 'square'},
      }
    : k > 1
      ? {field: 's', type: 'nominal', scale: {domain: seriesNames, range: series.map((s) => s.color)}, legend: null}
      : {value: series[0]!.color};
  // Values at the end of the bar: right of positive bars, left of negative ones, "n/a" at zero.
  const valueText = (filter: string, align: 'left' | 'right', at: Json, fill = INK): Json => ({
    transform: [{filter}],
    mark: {type: 'text', align, dx: align === 'left' ? 4 : -4, fontSize: 11, color: fill},
    encoding: {...place, x: at, text: {field: 't'}},
  });
  const layers: Json[] = [
    {mark: {type: 'bar', clip: true}, encoding: {...place, x, color}},
    valueText('isValid(datum.v) && datum.v >= 0', 'left', x),
    valueText('isValid(datum.v) && datum.v < 0', 'right', x),
    valueText('!isValid(datum.v)', 'left', {datum: 0, type: 'quantitative'}, MUTED),
  ];
  return panel(spec.title, {W, H, pw, ph}, rows, layers, !categories.length);
}

/**
 * Horizontal bars with their values written at the end, one row per label (or per category,
 * with one bar per series and a legend). The value axis always includes 0.
 */
export async function barChartSvg(spec: BarChartSpec): Promise<string> {
  return alone(barPanel(spec));
}

// ---------------------------------------------------------------------------------------------
// Several panels

/**
 * Several charts in one SVG: side by side by default, `columns: 1` stacks them, `columns: 2`
 * makes a grid. Each panel keeps its own size (defaults as for the single charts) and its own
 * scales, axes and legend.
 */
export async function multiPanelSvg(panels: ReadonlyArray<PanelSpec>, opts: MultiPanelOptions = {}): Promise<string> {
  if (!panels.length) return lineChartSvg({title: opts.title ?? '', xLabel: '', yLabel: '', series: []});
  const columns = Math.max(1, Math.min(panels.length, Math.floor(opts.columns ?? panels.length)));
  const own = 'independent';
  return render({
    ...(opts.title ? {title: {text: opts.title, fontSize: 18, offset: 16}} : {}),
    columns,
    spacing: opts.gap ?? 8,
    concat: panels.map((p) => (p.type === 'bar' ? barPanel(p) : linePanel(p)).spec),
    resolve: {
      scale: {x: own, y: own, color: own, strokeDash: own, yOffset: own},
      axis: {x: own, y: own},
      legend: {color: own, strokeDash: own},
    },
  });
}
