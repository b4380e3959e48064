/**
 * Charts for `pldr train` (loss and accuracy curves) and `pldr bench` (timings), one file per
 * concern under plot/:
 *
 * - plot/ticks.ts: "nice" 1-2-5 ticks, decades on log axes, how numbers are written.
 * - plot/svg.ts: line charts, bar charts and several panels in one SVG, as vega-lite specs that vega renders.
 * - plot/png.ts: `svgToPng` through resvg, and `pngTextRenders` (does this machine draw text).
 * - plot/terminal.ts: `terminalChart`, the same curves as text (asciichart).
 *
 * Pure: nothing here prints or touches the file system; callers write the strings and bytes
 * where they want them.
 */
export {formatTick, formatValue, logTicks, niceDomain, niceStep, niceTicks, type TickSet} from './plot/ticks.js';
export {
  barChartSvg,
  FONT_FAMILY,
  lineChartSvg,
  multiPanelSvg,
  PALETTE,
  type BarChartSpec,
  type BarDatum,
  type BarSeries,
  type LineChartSpec,
  type LineSeries,
  type MultiPanelOptions,
  type PanelSpec,
} from './plot/svg.js';
export {pngTextRenders, svgToPng, type PngOptions} from './plot/png.js';
export {terminalChart, type TerminalChartOptions, type TerminalSeries} from './plot/terminal.js';
