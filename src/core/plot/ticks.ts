/**
 * Axis ticks and number labels for the charts: "nice" 1-2-5 steps, decades on log axes, and the
 * way values are written beside ticks, bars and legend entries. Pure arithmetic, no layout.
 */

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
  return {min: lo, max: hi, step, ticks: ticksBetween(lo, hi, step)};
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
  return {min: a, max: b, step, ticks: ticksBetween(a, b, step)};
}

/**
 * Log-axis ticks: the range widened to whole decades, ticks at powers of ten (every k-th decade
 * when there are more than `maxTicks`), and `minor` at 2…9 × 10^k when there are few decades.
 * Both bounds must be > 0.
 */
export function logTicks(min: number, max: number, maxTicks = 8): TickSet & {minor: number[]} {
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
  return {min: clean(10 ** lo), max: clean(10 ** hi), step: stride, ticks, minor};
}

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

/** Shortens a label to `max` characters with an ellipsis. */
export function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, Math.max(1, max - 1))}…`;
}
