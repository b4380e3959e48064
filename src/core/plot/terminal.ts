/**
 * Terminal charts through asciichart: the same curves as the SVG line charts, as text.
 */
import {createRequire} from 'node:module';

import {formatValue, truncate} from './ticks.js';

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

const requireCjs = createRequire(import.meta.url);
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
    return {plain: `── ${label}`, painted: `${paint('──', colorOf(i))} ${label}`};
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
    const rows = Array.from({length: height}, (_, r) => (r === Math.floor(height / 2) ? '  (no data)' : ''));
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
    chart = ac.plot(plotted, {...base, height: height - 1, min: lo - nudge, max: hi + nudge}).split('\n');
    if (chart.length === height) break;
  }
  while (chart.length < height) chart.push('');
  chart = chart.slice(0, height).map((l) => l.replace(/\s+$/, ''));
  return [...chart, ...legend].join('\n');
}
