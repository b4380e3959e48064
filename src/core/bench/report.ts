/**
 * Bench reports (docs/design.md §4): every run becomes `<dir>/<name>.json` (every sample, the flags and
 * the environment: backend, CPU, memory, Node and tfjs versions, git commit), `<name>.md` (a
 * summary for someone who has not seen the code) and a chart (`<name>.svg`, `<name>.png`).
 * `compareReports` lines up two runs of the same suite scenario by scenario.
 *
 * Pure apart from `collectEnvironment` (asks git and the OS) and `writeReport` (writes the files).
 */
import {execFileSync} from 'node:child_process';
import {existsSync, mkdirSync, readFileSync} from 'node:fs';
import {cpus, loadavg, release, totalmem} from 'node:os';
import {dirname, join, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';

import * as tf from '@tensorflow/tfjs';

import {backendThreads} from '../backend.js';
import {PldrError} from '../errors.js';
import {checkWritableFolder, writeFileAtomic} from '../io/fsutil.js';
import {svgToPng} from '../plot/png.js';
import {type BarChartSpec, type BarDatum, type LineChartSpec, multiPanelSvg, type PanelSpec} from '../plot/svg.js';
import {type Align, table as renderTable} from '../table.js';
import type {MicroResult} from './micro.js';
import type {PaperResult, PaperScenario} from './paper.js';
import {BENCH_MODES, MODE_INFO} from './protocol.js';
import {round} from './stats.js';
import type {ScalingResult, ScalingSeries} from './scaling.js';
import type {Target} from './targets.js';
import type {TrainBenchResult} from './train.js';
import type {EvalBenchResult} from './eval.js';

export type BenchResult = PaperResult | ScalingResult | MicroResult | TrainBenchResult | EvalBenchResult;
export type Suite = BenchResult['suite'];
export const SUITES: readonly Suite[] = ['paper', 'scaling', 'micro', 'train', 'eval'];

export interface Environment {
  backend: string;
  wasm_simd?: boolean;
  wasm_threads?: boolean;
  /** Threads the backend's products use (--threads / PLDR_THREADS; 1 for the single-threaded builds). */
  threads?: number;
  cpu: string;
  cores: number;
  memory_gb: number;
  platform: string;
  arch: string;
  os_release: string;
  node: string;
  tfjs: string;
  pldr: string;
  git_commit: string | null;
  /** True when tracked files differ from the commit (the numbers may not be the commit's). */
  git_dirty: boolean | null;
  /** 1-, 5- and 15-minute load averages when the run started: a busy machine gives slower, noisier times. */
  load_average_start: number[];
  load_average_end?: number[];
  date: string;
}

export interface ReportMeta {
  kind: 'pldr-bench';
  schema: 1;
  name: string;
  created: string;
  /** The command line as run. */
  command: string;
  flags: Record<string, unknown>;
  environment: Environment;
  duration_s?: number;
  compare?: {against: string; rows: CompareRow[]; warnings: string[]};
}

export type BenchReport = ReportMeta & BenchResult;

/** The package root: src/core/bench/ or dist/core/bench/, three levels up. */
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, {
      cwd: PACKAGE_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    }).trim();
  } catch {
    return null;
  }
}

function flag(name: string): boolean | undefined {
  try {
    return tf.env().getBool(name);
  } catch {
    return undefined;
  }
}

export function collectEnvironment(): Environment {
  let pldr = 'unknown';
  try {
    pldr =
      (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as {version?: string}).version ?? 'unknown';
  } catch {
    /* not in a package */
  }
  const commit = git(['rev-parse', 'HEAD']);
  const status = commit ? git(['status', '--porcelain', '--untracked-files=no']) : null;
  const backend = tf.getBackend();
  const wasm =
    backend === 'wasm'
      ? {wasm_simd: flag('WASM_HAS_SIMD_SUPPORT'), wasm_threads: flag('WASM_HAS_MULTITHREAD_SUPPORT')}
      : {};
  return {
    backend,
    ...Object.fromEntries(Object.entries(wasm).filter(([, v]) => v !== undefined)),
    threads: backendThreads(),
    cpu: cpus()[0]?.model?.trim() ?? 'unknown',
    cores: cpus().length,
    memory_gb: round(totalmem() / 2 ** 30, 1),
    platform: process.platform,
    arch: process.arch,
    os_release: release(),
    node: process.version,
    tfjs: tf.version_core,
    pldr,
    git_commit: commit,
    git_dirty: status === null ? null : status.length > 0,
    load_average_start: loadavg().map((x) => round(x, 2)),
    date: new Date().toISOString(),
  };
}

export function makeReport(
  result: BenchResult,
  meta: {name: string; command: string; flags: Record<string, unknown>; environment: Environment; duration_s?: number},
): BenchReport {
  return {
    kind: 'pldr-bench',
    schema: 1,
    name: meta.name,
    created: new Date().toISOString(),
    command: meta.command,
    flags: meta.flags,
    environment: meta.environment,
    ...(meta.duration_s !== undefined ? {duration_s: round(meta.duration_s, 1)} : {}),
    ...result,
  };
}

/** `<suite>[-quick]-<backend>-<UTC date and time>`, e.g. paper-wasm-20250101-120000. */
export function defaultName(suite: Suite, backend: string, quick: boolean, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${suite}${quick ? '-quick' : ''}-${backend}-${stamp}`;
}

export function checkName(name: string): string {
  const n = name.replace(/\.(json|md)$/, '');
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(n))
    throw new PldrError(
      `--out "${name}": use a plain file name (letters, digits, . _ + -), without a directory; --results-dir sets the folder`,
    );
  return n;
}

/** Where reports go unless --results-dir says otherwise: ignored by git, so a trial run never litters the tracked results/. */
export const DEFAULT_RESULTS_DIR = 'pldr-bench';

/** Checked before a suite runs: a report that cannot be written is found before the long part. */
export function checkResultsDir(dir: string): void {
  checkWritableFolder(dir, `--results-dir ${dir}`, true);
}

function writeAtomic(path: string, data: string | Uint8Array): void {
  writeFileAtomic(path, [typeof data === 'string' ? Buffer.from(data) : data]);
}

export interface WrittenFiles {
  json: string;
  md: string;
  svg: string;
  png?: string;
  /** Why there is no PNG, when there is none. */
  pngError?: string;
}

/** Write the JSON, the chart (SVG, and PNG when resvg works here) and the Markdown summary. */
export async function writeReport(report: BenchReport, dir: string): Promise<WrittenFiles> {
  try {
    mkdirSync(dir, {recursive: true});
  } catch (e) {
    throw new PldrError(
      `cannot create the results folder ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const base = join(dir, report.name);
  const files: WrittenFiles = {json: `${base}.json`, md: `${base}.md`, svg: `${base}.svg`};
  const svg = await chartSvg(report);
  writeAtomic(files.svg, svg);
  try {
    writeAtomic(`${base}.png`, svgToPng(svg));
    files.png = `${base}.png`;
  } catch (e) {
    files.pngError = (e as Error).message;
  }
  writeAtomic(files.json, JSON.stringify(report, null, 1) + '\n');
  writeAtomic(
    files.md,
    renderMarkdown(report, {svg: `${report.name}.svg`, ...(files.png ? {png: `${report.name}.png`} : {})}),
  );
  return files;
}

export function readReport(path: string): BenchReport {
  if (!existsSync(path)) throw new PldrError(`no such report: ${path} (give a .json written by pldr bench)`);
  let r: Partial<BenchReport>;
  try {
    r = JSON.parse(readFileSync(path, 'utf8')) as Partial<BenchReport>;
  } catch (e) {
    throw new PldrError(`${path} is not JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  if (r?.kind !== 'pldr-bench' || !SUITES.includes(r.suite as Suite))
    throw new PldrError(`${path} is not a pldr bench report (no kind "pldr-bench" with a suite)`);
  return r as BenchReport;
}

// ---------------------------------------------------------------------------------------------
// Formatting

/** A number for tables: 3–4 significant figures, "n/a" when missing. */
export function num(x: number | undefined | null, digits?: number): string {
  if (x === undefined || x === null || !Number.isFinite(x)) return 'n/a';
  const a = Math.abs(x);
  const d = digits ?? (a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3);
  return x.toFixed(d);
}

const pct = (x: number): string => (Number.isFinite(x) ? `${x > 0 ? '+' : ''}${x.toFixed(1)}%` : 'n/a');
const times = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}×` : 'n/a');
/** Markdown table for the report file; first column left, the rest right unless `align` says otherwise. */
const table = (head: string[], rows: string[][], align?: Align[]): string =>
  renderTable(rows, {head, align, style: 'markdown'});

/** Plain-text table for a terminal: columns padded, first left-aligned. */
const textTable = (head: string[], rows: string[][]): string => renderTable(rows, {head, trimEnd: true});

const onOff = (b: boolean | undefined): string => (b === undefined ? 'unknown' : b ? 'on' : 'off');

/** ", 2 threads" (older reports, without the field, show nothing). */
const threadsNote = (e: Environment): string =>
  e.threads === undefined ? '' : `, ${e.threads} thread${e.threads === 1 ? '' : 's'}`;

function envLine(e: Environment): string {
  const wasm = e.backend === 'wasm' ? ` (SIMD ${onOff(e.wasm_simd)}, threads ${onOff(e.wasm_threads)})` : '';
  const commit = e.git_commit
    ? `commit ${e.git_commit.slice(0, 12)}${e.git_dirty ? ' with uncommitted changes' : ''}`
    : 'no git commit';
  return `${e.cpu}, ${e.cores} cores, ${e.memory_gb} GB; backend ${e.backend}${wasm}${threadsNote(e)}; Node ${e.node}, tfjs ${e.tfjs}, pldr ${e.pldr}, ${commit}; ${e.date}`;
}

function envTable(e: Environment): string {
  const rows: [string, string][] = [
    [
      'backend',
      e.backend +
        (e.backend === 'wasm' ? ` (SIMD ${onOff(e.wasm_simd)}, threads ${onOff(e.wasm_threads)})` : '') +
        threadsNote(e),
    ],
    ['CPU', `${e.cpu} × ${e.cores} logical cores`],
    ['memory', `${e.memory_gb} GB`],
    ['OS', `${e.platform} ${e.os_release} (${e.arch})`],
    ['Node / tfjs / pldr', `${e.node} / ${e.tfjs} / ${e.pldr}`],
    ['git commit', e.git_commit ? `${e.git_commit}${e.git_dirty ? ' (uncommitted changes present)' : ''}` : 'n/a'],
    [
      'load average (1, 5, 15 min)',
      `start ${e.load_average_start.join(', ')}${e.load_average_end ? `; end ${e.load_average_end.join(', ')}` : ''}`,
    ],
    ['date', e.date],
  ];
  return table(
    ['what', 'value'],
    rows.map((r) => [...r]),
    ['l', 'l'],
  );
}

// ---------------------------------------------------------------------------------------------
// Summaries for the terminal

export function renderSummary(r: BenchReport): string {
  if (r.suite === 'paper') {
    const one = r.scenarios.some((s) => s.one_thread);
    const oneCells = (s: PaperScenario) =>
      !one
        ? []
        : s.one_thread
          ? [num(s.one_thread.total_ms), times(s.one_thread.speedup), times(s.one_thread.speedup_per_token)]
          : ['', '', ''];
    const rows = r.scenarios.map((s) => [
      s.id,
      num(s.stats.total_ms.median),
      num(s.stats.total_ms.min),
      num(s.stats.total_ms.max),
      num(s.stats.prompt_ms.median),
      num(s.stats.ms_per_token.median),
      num(s.stats.tokens_per_s),
      String(s.stats.tokens),
      ...oneCells(s),
    ]);
    const ratios = r.ratios.map((x) => [x.label, times(x.value), times(x.per_token), x.paper ?? '']);
    return [
      textTable(
        [
          'scenario',
          'median ms',
          'min',
          'max',
          'prompt ms',
          'ms/token',
          'tokens/s',
          'tokens',
          ...(one ? ['1 thread ms', '× 1 thread', 'per token'] : []),
        ],
        rows,
      ),
      '',
      ratios.length
        ? textTable(['ratio (whole generation, median)', 'value', 'per token', 'paper'], ratios)
        : 'no ratios: run a PLDR model in modes none and kv+g, and an SDPA baseline in kv, together',
      ...targetLines(r.targets ?? []),
    ].join('\n');
  }
  if (r.suite === 'train') {
    const {header, cells} = trainComparisons(r);
    const rows = r.runs.map((x, i) => [x.model, ...trainCells(x, cells[i]!)]);
    return [
      textTable(
        ['configuration', 'parameters', 'batch × context', 'median ms/step', 'min', 'max', 'tokens/s', ...header],
        rows,
      ),
      ...targetLines(r.targets),
    ].join('\n');
  }
  if (r.suite === 'eval') return evalSummary(r);
  if (r.suite === 'scaling') {
    const rows = r.series.map((s) => [...scalingCells(s), String(s.positions[s.positions.length - 1] ?? '')]);
    return textTable(
      [
        'series',
        'prompt ms',
        'first bin ms/token',
        'last bin ms/token',
        'slope µs/position',
        'last ÷ first',
        'to position',
      ],
      rows,
    );
  }
  const rows = r.benchmarks.map((b) => [
    b.id,
    num(b.avg_ns / 1000),
    num(b.p50_ns / 1000),
    num(b.min_ns / 1000),
    num(b.p99_ns / 1000),
    String(b.ticks),
  ]);
  return [
    textTable(['benchmark', 'avg µs', 'p50 µs', 'min µs', 'p99 µs', 'calls'], rows),
    '',
    textTable(
      ['ratio', 'value'],
      r.ratios.map((x) => [x.label, times(x.value)]),
    ),
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Charts

async function chartSvg(r: BenchReport): Promise<string> {
  const title = `pldr bench ${r.suite}: ${r.name} (${r.environment.backend}, ${r.environment.cpu})`;
  /** One bar panel (the train and eval suites). */
  const barChart = (panelTitle: string, valueLabel: string, bars: readonly BarDatum[]): Promise<string> =>
    multiPanelSvg([{type: 'bar', title: panelTitle, valueLabel, bars}], {columns: 1, title});
  if (r.suite === 'paper') {
    const models = r.models.filter((m) => m.modes.length > 0).map((m) => m.label);
    const modes = BENCH_MODES.filter((mode) => r.scenarios.some((s) => s.mode === mode));
    const value = (model: string, mode: string, f: (s: PaperResult['scenarios'][number]) => number) => {
      const s = r.scenarios.find((x) => x.model === model && x.mode === mode);
      return s ? f(s) : NaN;
    };
    const panel = (t: string, label: string, f: (s: PaperResult['scenarios'][number]) => number): PanelSpec => ({
      type: 'bar',
      title: t,
      valueLabel: label,
      categories: models,
      series: modes.map((mode) => ({name: MODE_INFO[mode].title, values: models.map((m) => value(m, mode, f))})),
    });
    return multiPanelSvg(
      [
        panel(
          `Whole generation of ${r.protocol.new_tokens} tokens (median of ${r.protocol.repeats * r.protocol.loops})`,
          'ms per generation (lower is faster)',
          (s) => s.stats.total_ms.median,
        ),
        panel(
          'Each generated token after the prompt (median)',
          'ms per token (lower is faster)',
          (s) => s.stats.ms_per_token.median,
        ),
      ],
      {columns: 1, title},
    );
  }
  if (r.suite === 'train') {
    const bars = r.runs.map((x) => ({label: `${x.model} (${x.batch}×${x.context})`, value: x.tokens_per_s}));
    return barChart('Training throughput (whole optimisation steps)', 'tokens per second (higher is faster)', bars);
  }
  if (r.suite === 'eval') {
    const bars = r.scenarios.map((x) => ({label: x.id, value: x.requests_per_s}));
    return barChart('Scoring throughput (full-mode requests)', 'requests per second (higher is faster)', bars);
  }
  if (r.suite === 'scaling') {
    const panels: PanelSpec[] = r.models.map((m): LineChartSpec => ({
      title: `${m.label}: cost of a token against its position`,
      xLabel: 'position (context length at the step)',
      yLabel: 'ms per generated token',
      yMin: 0,
      series: r.series
        .filter((s) => s.model === m.label)
        .map((s) => ({name: MODE_INFO[s.mode].title, points: s.positions.map((p, j) => [p, s.median_ms[j]] as const)})),
    }));
    return multiPanelSvg(panels, {columns: 1, title});
  }
  const models = r.models.map((m) => m.label);
  const panels: PanelSpec[] = models.map((label): BarChartSpec & {type: 'bar'} => ({
    type: 'bar',
    title: label,
    valueLabel: 'µs per call (mean; lower is faster)',
    bars: r.benchmarks.filter((b) => b.model === label).map((b) => ({label: b.name, value: b.avg_ns / 1000})),
  }));
  return multiPanelSvg(panels, {columns: 1, title});
}

// ---------------------------------------------------------------------------------------------
// Markdown

function renderMarkdown(r: BenchReport, charts: {svg: string; png?: string}): string {
  const parts: string[] = [];
  const body =
    r.suite === 'paper'
      ? paperMarkdown(r)
      : r.suite === 'scaling'
        ? scalingMarkdown(r)
        : r.suite === 'train'
          ? trainMarkdown(r)
          : r.suite === 'eval'
            ? evalMarkdown(r)
            : microMarkdown(r);
  parts.push(body.head);
  parts.push(`![${r.suite} chart](${charts.svg})` + (charts.png ? `\n\n(also as [PNG](${charts.png}))` : ''));
  parts.push(...body.sections);
  if (r.compare)
    parts.push(`## Change since ${r.compare.against}\n\n${compareMarkdown(r.compare.rows, r.compare.warnings)}`);
  parts.push(`## Environment\n\n${envTable(r.environment)}`);
  parts.push(
    `## Reproduce\n\n\`\`\`sh\n${r.command}\n\`\`\`\n\nEvery sample, the flags and the environment are in \`${r.name}.json\`${r.duration_s !== undefined ? `; the run took ${r.duration_s} s` : ''}.`,
  );
  return parts.join('\n\n') + '\n';
}

interface MdBody {
  head: string;
  sections: string[];
}

function paperMarkdown(r: BenchReport & PaperResult): MdBody {
  const p = r.protocol;
  const head = [
    `# Inference time: the PLDR-LLM paper's experiment (Appendix B), run \`${r.name}\``,
    '',
    `How long does it take to generate ${p.new_tokens} tokens, with and without the KV- and G-caches, and how does a PLDR-LLM compare with a standard-attention (SDPA) model of similar size? ` +
      `Each model generated exactly ${p.new_tokens} new tokens from the prompt *"${p.prompt}"* with temperature ${p.sampling.temperature}, top-k ${p.sampling.top_k} (off) and top-p ${p.sampling.top_p}, ` +
      `${p.repeats} time${p.repeats > 1 ? 's' : ''}${p.loops > 1 ? ` × ${p.loops} loops` : ''} per mode after ${p.warmup} warm-up run${p.warmup === 1 ? '' : 's'}.`,
    '',
    `Machine: ${envLine(r.environment)}.`,
    '',
    'Absolute times depend on this machine and its load; the **ratios** below were measured inside this one run and are what to compare with the paper.',
  ].join('\n');
  const sections: string[] = [];

  const ratioRows = r.ratios.map((x) => {
    const range =
      x.per_repeat.length > 1 ? `${num(Math.min(...x.per_repeat), 2)}–${num(Math.max(...x.per_repeat), 2)}` : 'n/a';
    const v =
      x.kind === 'pldr-vs-baseline' && Number.isFinite(x.value)
        ? `**${times(x.value)}** (${x.value < 1 ? `${((1 - x.value) * 100).toFixed(0)}% less time` : `${((x.value - 1) * 100).toFixed(0)}% more time`})`
        : `**${times(x.value)}**`;
    return [x.label, v, range, times(x.per_token), x.paper ?? '—'];
  });
  sections.push(
    `## Headline ratios\n\n` +
      (ratioRows.length
        ? table(
            ['ratio of median times', 'this run', 'range over repeats', 'per token', 'paper (docs/spec.md §9)'],
            ratioRows,
            ['l', 'r', 'r', 'r', 'l'],
          ) +
          '\n\n*No cache ÷ KV+G* above 1 means the caches make generation faster by that factor. *PLDR ÷ baseline* below 1 means the PLDR model with both caches generates faster than the baseline with its KV-cache. ' +
          '"Per token" is the same ratio for the decode steps alone (the prompt step excluded). "Range over repeats" pairs the repeats\' mean times.'
        : 'No ratio could be formed: that needs a PLDR model timed in modes none and kv+g, and a baseline (PLDRv51G) in kv, in the same run.'),
  );

  if (r.targets?.length) sections.push(`## Targets\n\n${targetsMarkdown(r)}`);
  if (r.long_runs?.length)
    for (const run of r.long_runs)
      sections.push(
        `## Memory over a long generation: ${run.model}, ${run.tokens} tokens (${run.mode.toUpperCase()})\n\n` +
          table(
            [
              'after token',
              'tensors',
              'tensor MB',
              'of which KV-cache MB',
              'tensor MB − KV',
              'JS heap MB',
              'RSS MB',
              'wasm heap MB',
            ],
            run.rows.map((x) => [
              String(x.token),
              String(x.tensors),
              num(x.tensor_mb, 2),
              num(x.kv_mb, 2),
              num(x.tensor_mb - x.kv_mb, 2),
              num(x.js_heap_mb, 1),
              num(x.rss_mb, 0),
              x.wasm_heap_mb !== undefined ? num(x.wasm_heap_mb, 0) : 'n/a',
            ]),
            ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
          ) +
          `\n\nms per token: ${run.ms_per_token_first_100} over the first 100 steps, ${run.ms_per_token_last_100} over the last 100 (attention reads a KV-cache that grows with position). ` +
          'The wasm heap never shrinks: it is the high-water mark of everything the backend allocated, and it grows in large steps when the KV-cache needs room.',
      );

  const rows = r.scenarios.map((s) => {
    const st = s.stats;
    return [
      s.model,
      MODE_INFO[s.mode].title,
      num(st.total_ms.median),
      num(st.total_ms.min),
      num(st.total_ms.max),
      `${num(st.total_ms.spread_pct, 0)}%`,
      num(st.prompt_ms.median),
      num(st.ms_per_token.median),
      num(st.tokens_per_s, 1),
      `${st.tokens}`,
      num(s.memory.rss_peak_mb, 0),
      num(s.memory.tensor_mb_peak, 1),
    ];
  });
  sections.push(
    `## Every scenario\n\n` +
      table(
        [
          'model',
          'mode',
          'median ms',
          'min ms',
          'max ms',
          'spread',
          'prompt ms',
          'ms/token',
          'tokens/s',
          'tokens',
          'peak RSS MB',
          'tensor MB',
        ],
        rows,
        ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ) +
      `\n\n*median/min/max ms*: the whole generation (from tokenizing the prompt to detokenizing the output; from fixed ids to ids for models without a tokenizer), over ${p.repeats * p.loops} timed generations; *spread*: (max − min) ÷ median; ` +
      `*prompt ms*: the first model call on the whole prompt; *ms/token*: each later step (one new token); *tokens/s*: new tokens ÷ median time of the whole generation; *tokens*: new tokens per generation (the end token was suppressed, so it is always ${p.new_tokens}). ` +
      `*peak RSS*: the process's resident memory, sampled after every step of one extra generation; *tensor MB*: tfjs tensor memory at its peak then (weights + caches).`,
  );

  const oneThread = r.scenarios.filter((s) => s.one_thread);
  if (oneThread.length)
    sections.push(
      `## Threads\n\n` +
        `This run used ${r.threads} threads; every scenario ran again on one thread, in a child process, right after (same protocol, no memory or bandwidth runs).\n\n` +
        table(
          [
            'model',
            'mode',
            `median ms (${r.threads} threads)`,
            'median ms (1 thread)',
            'speed-up',
            `ms/token (${r.threads} threads)`,
            'ms/token (1 thread)',
            'speed-up per token',
          ],
          oneThread.map((s) => [
            s.model,
            MODE_INFO[s.mode].title,
            num(s.stats.total_ms.median),
            num(s.one_thread!.total_ms),
            times(s.one_thread!.speedup),
            num(s.stats.ms_per_token.median),
            num(s.one_thread!.ms_per_token),
            times(s.one_thread!.speedup_per_token),
          ]),
          ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
        ),
    );

  sections.push(
    `## Models\n\n` +
      table(
        ['model', 'what it is', 'parameters', 'layers × heads × d', 'vocab', 'weights', 'prompt'],
        r.models.map((m) => [
          m.label,
          m.description,
          `${(m.params / 1e6).toFixed(1)}M`,
          `${m.config.num_layers} × ${m.config.num_heads} × ${m.config.d_model}`,
          String(m.config.input_vocab_size),
          m.random_weights ? 'seeded random' : 'from the model directory',
          `${m.prompt_ids.length} ids (${m.prompt_source})`,
        ]),
        ['l', 'l', 'r', 'r', 'r', 'l', 'l'],
      ) +
      (r.models.some((m) => m.skipped_modes.length)
        ? `\n\nModes not run: ${r.models
            .filter((m) => m.skipped_modes.length)
            .map(
              (m) =>
                `${m.label} — ${m.skipped_modes.map((s) => s.mode).join(', ')} (${m.skipped_modes[0].why.replace(/:.*/, '')})`,
            )
            .join('; ')}.`
        : ''),
  );

  const used = BENCH_MODES.filter((mode) => r.scenarios.some((s) => s.mode === mode));
  sections.push(`## Modes\n\n${used.map((mode) => `- **${mode}** — ${MODE_INFO[mode].description}.`).join('\n')}`);
  sections.push(
    `## Protocol\n\n` +
      [
        `- End token: ${p.end_token}.`,
        `- Timing: ${p.timing}.`,
        `- Order: ${p.order}.`,
        `- Sampling seed ${p.seed} (each generation draws with its own seed).`,
        ...r.notes.map((n) => `- ${n}`),
      ].join('\n'),
  );
  return {head, sections};
}

/** The targets for the terminal: a line each, after an empty line (nothing without targets). */
function targetLines(targets: Target[]): string[] {
  return targets.length
    ? [
        '',
        'targets:',
        ...targets.map(
          (t) =>
            `  [${t.met === null ? 'n/a' : t.met ? 'met' : 'NOT met'}] ${t.target}: ${t.measured} (goal ${t.goal}${t.not_applicable ? `; n/a: ${t.not_applicable}` : ''})`,
        ),
      ]
    : [];
}

function targetsTable(targets: Target[]): string {
  const rows = targets.map((t) => [
    t.target + (t.note ? ` (${t.note})` : ''),
    t.measured,
    t.goal,
    t.met === null ? `n/a${t.not_applicable ? ` (${t.not_applicable})` : ''}` : t.met ? 'yes' : '**no**',
  ]);
  return table(['target', 'measured in this run', 'goal', 'met'], rows, ['l', 'l', 'l', 'l']);
}

function targetsMarkdown(r: BenchReport & PaperResult): string {
  const bw = r.bandwidth;
  const lines = [targetsTable(r.targets!)];
  if (bw)
    lines.push(
      `Memory bandwidth of one core: each model is judged against the median of 5 copies of ${bw.buffer_mb} MiB made just before it was timed (bytes read + written ÷ time; the figure per model is in the table below), ` +
        `because this shared machine's bandwidth drifts during a run. After the timings: **${bw.copy_gb_s} GB/s** copying (${bw.method}); tfjs's matMul streamed a weight matrix at ${bw.gemv_gb_s} GB/s. ` +
        'Streaming time = the bytes of parameters a cached step reads (every projection, norm and FFN weight, the output layer, one embedding row, and G_LM where a product with it is done) ÷ the copy bandwidth; the KV-cache is not counted.' +
        (bw.threads
          ? ` Our kernels' products ran on ${bw.threads} threads (wasm/pool.ts), so each step is judged against the copy bandwidth of ${bw.threads} threads together, each copying its slice of the buffer, measured with the one-core figure (after the timings: **${bw.copy_threads_gb_s} GB/s**).`
          : ''),
    );
  if (r.stream?.length) {
    const threads = r.stream.some((x) => x.threads);
    lines.push(
      table(
        [
          'model',
          'mode',
          'MB read per step',
          ...(threads
            ? ['copy GB/s of one core', 'threads', 'copy GB/s of the threads (judged against)']
            : ['copy GB/s before timing it']),
          'streaming ms',
          'ms per token',
          'ratio',
        ],
        r.stream.map((x) => [
          x.model,
          x.mode.toUpperCase(),
          num(x.bytes_per_step / 1e6, 1),
          ...(threads ? [num(x.bandwidth_one_core_gb_s ?? x.bandwidth_gb_s, 2), String(x.threads ?? 1)] : []),
          num(x.bandwidth_gb_s, 2),
          num(x.stream_ms, 2),
          num(x.ms_per_token, 2),
          times(x.value),
        ]),
        ['l', 'l', ...Array<'r'>(threads ? 7 : 5).fill('r')],
      ),
    );
  }
  return lines.join('\n\n');
}

/** A train run's cells after its name: parameters, batch × context, step times, tokens/s, then `more`. */
function trainCells(x: TrainBenchResult['runs'][number], more: string[]): string[] {
  return [
    `${(x.params / 1e6).toFixed(2)}M`,
    `${x.batch} × ${x.context}`,
    num(x.stats.median),
    num(x.stats.min),
    num(x.stats.max),
    num(x.tokens_per_s, 0),
    ...more,
  ];
}

/**
 * The columns a train run adds beside pldr's own tokens/s: the same steps on one thread (a run on
 * more threads) and the reference (--reference), each with the ratio to it.
 */
function trainComparisons(r: TrainBenchResult): {header: string[]; cells: string[][]} {
  const oneThread = r.runs.some((x) => x.one_thread);
  const reference = r.runs.some((x) => x.reference);
  const header = [
    ...(oneThread ? ['1 thread tokens/s', '× 1 thread'] : []),
    ...(reference ? ['reference tokens/s', '× reference'] : []),
  ];
  const cells = r.runs.map((x) => [
    ...(oneThread ? (x.one_thread ? [num(x.one_thread.tokens_per_s, 0), times(x.one_thread.speedup)] : ['', '']) : []),
    ...(reference
      ? x.reference
        ? [num(x.reference.tokens_per_s, 0), times(x.tokens_per_s / x.reference.tokens_per_s)]
        : ['', '']
      : []),
  ]);
  return {header, cells};
}

function trainMarkdown(r: BenchReport & TrainBenchResult): MdBody {
  const p = r.protocol;
  const head = [
    `# Training throughput, run \`${r.name}\``,
    '',
    `Tokens per second of whole optimisation steps, ${p.steps} timed step${p.steps > 1 ? 's' : ''} per configuration after ${p.warmup} warm-up step${p.warmup === 1 ? '' : 's'}` +
      (r.threads === undefined
        ? '.'
        : `, on ${r.threads} thread${r.threads === 1 ? '' : 's'}${r.runs.some((x) => x.one_thread) ? ' and again on one thread in a child process (the speed-up over one thread)' : ''}.`),
    '',
    `Machine: ${envLine(r.environment)}.`,
  ].join('\n');
  const sections: string[] = [];
  if (r.targets.length) sections.push(`## Targets\n\n${targetsTable(r.targets)}`);
  const {header, cells} = trainComparisons(r);
  sections.push(
    `## Configurations\n\n` +
      table(
        [
          'configuration',
          'what it is',
          'parameters',
          'batch × context',
          'median ms/step',
          'min ms',
          'max ms',
          'tokens/s',
          ...header,
        ],
        r.runs.map((x, i) => [x.model, x.description, ...trainCells(x, cells[i]!)]),
        ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', ...header.map(() => 'r' as const)],
      ),
  );
  sections.push(
    `## Protocol\n\n` +
      [`- Optimiser: ${p.optimiser}.`, `- Data: ${p.data}.`, `- Seed ${p.seed}.`, ...r.notes.map((n) => `- ${n}`)].join(
        '\n',
      ),
  );
  return {head, sections};
}

function evalRows(r: EvalBenchResult): string[][] {
  return r.scenarios.map((x) => [
    x.id,
    String(x.requests),
    num(x.stats.median, 3),
    num(x.stats.min, 3),
    num(x.stats.max, 3),
    num(x.requests_per_s),
    num(x.tokens_per_s, 0),
    x.max_abs_ll_diff_vs_batch1 === 0 ? '0 (bit for bit)' : x.max_abs_ll_diff_vs_batch1.toExponential(2),
  ]);
}
const EVAL_HEADER = [
  'scenario',
  'requests',
  'median s',
  'min s',
  'max s',
  'requests/s',
  'tokens/s',
  'max |Δll| vs batch 1',
];

function evalSummary(r: EvalBenchResult): string {
  return [
    textTable(EVAL_HEADER, evalRows(r)),
    '',
    textTable(
      ['ratio (requests/s)', 'value'],
      r.ratios.map((x) => [x.label, times(x.value)]),
    ),
    ...targetLines(r.targets ?? []),
  ].join('\n');
}

function evalMarkdown(r: BenchReport & EvalBenchResult): MdBody {
  const p = r.protocol;
  const head = [
    `# Eval scoring throughput, run \`${r.name}\``,
    '',
    `Requests per second of \`pldr eval --mode full\` scoring on ${p.requests_per_length} seeded synthetic requests of each length ${p.lengths.join(', ')} (context + continuation tokens), one at a time and batched by equal length (batch ${p.batch}); median of ${p.repeats} repeat${p.repeats > 1 ? 's' : ''} after ${p.warmup} warm-up.`,
    '',
    `Machine: ${envLine(r.environment)}.`,
  ].join('\n');
  const sections = [
    ...(r.targets?.length ? [`## Targets\n\n${targetsTable(r.targets)}`] : []),
    `## Scenarios\n\n${table(EVAL_HEADER, evalRows(r), ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'])}`,
    ...(r.ratios.length
      ? [
          `## Ratios\n\n${table(
            ['ratio of requests per second', 'value'],
            r.ratios.map((x) => [x.label, times(x.value)]),
          )}`,
        ]
      : []),
    `## Models\n\n${table(
      ['model', 'what it is', 'parameters'],
      r.models.map((m) => [m.label, m.description, `${(m.params / 1e6).toFixed(2)}M`]),
      ['l', 'l', 'r'],
    )}`,
    `## Protocol\n\n` +
      [`- Continuation: ${p.continuation}.`, `- Seed ${p.seed}.`, ...r.notes.map((n) => `- ${n}`)].join('\n'),
  ];
  return {head, sections};
}

/** A series' cells shared by the summary and the markdown: id, prompt, first and last bin, slope, last ÷ first. */
function scalingCells(s: ScalingSeries): string[] {
  return [
    s.id,
    num(s.prompt_ms[0]),
    num(s.bins[0]?.median_ms),
    num(s.bins[s.bins.length - 1]?.median_ms),
    num(s.slope_us_per_position),
    times(s.last_over_first),
  ];
}

function scalingMarkdown(r: BenchReport & ScalingResult): MdBody {
  const head = [
    `# Cost of a generated token against its position, run \`${r.name}\``,
    '',
    'Without a cache every step reruns the whole sequence, so a token costs more the later it comes; with the KV-cache a step feeds one token and its cost should stay nearly flat. ' +
      'Each model generated from its prompt up to the last position, the end token suppressed, and every step was timed.',
    '',
    `Machine: ${envLine(r.environment)}.`,
  ].join('\n');
  const sections: string[] = [];
  sections.push(
    `## Summary\n\n` +
      table(
        [
          'series',
          'prompt ms',
          'first bin ms/token',
          'last bin ms/token',
          'slope µs per position',
          'last ÷ first',
          'positions',
        ],
        r.series.map((s) => [
          ...scalingCells(s),
          `${s.positions[0] ?? ''}–${s.positions[s.positions.length - 1] ?? ''}`,
        ]),
      ) +
      '\n\n*Slope*: least-squares fit of ms per token against position, in microseconds per extra position of context. *Last ÷ first*: mean ms per token in the last bin of positions over the first.',
  );
  for (const m of r.models) {
    const ser = r.series.filter((s) => s.model === m.label);
    if (!ser.length) continue;
    const bins = ser[0].bins;
    sections.push(
      `## ${m.label}\n\n${m.description}; prompt of ${m.prompt_length} ids (${m.prompt_source}), up to position ${m.last_position}.\n\n` +
        table(
          ['positions', ...ser.map((s) => `${MODE_INFO[s.mode].title} ms/token`)],
          bins.map((b, i) => [`${b.from}–${b.to}`, ...ser.map((s) => num(s.bins[i]?.median_ms))]),
        ),
    );
  }
  sections.push(
    `## Protocol\n\n` +
      [
        `- Sampling: temperature ${r.protocol.sampling.temperature}, top-k ${r.protocol.sampling.top_k}, top-p ${r.protocol.sampling.top_p}.`,
        `- End token: ${r.protocol.end_token}.`,
        `- ${r.protocol.repeats} repeat(s), ${r.protocol.warmup} short warm-up run(s) per mode; per position the median over repeats.`,
        `- Order: ${r.protocol.order}.`,
        ...r.notes.map((n) => `- ${n}`),
      ].join('\n'),
  );
  return {head, sections};
}

function microMarkdown(r: BenchReport & MicroResult): MdBody {
  const head = [
    `# Micro-benchmarks of a PLDR-LLM step, run \`${r.name}\``,
    '',
    `The pieces of a generation step timed one by one with mitata: the metric learner, PLGA, attention with a cached G against plain SDPA attention, one cached decode step, the full forward on a ${r.protocol.prompt_length}-token prompt and the output projection (context ${r.protocol.context} where it applies).`,
    '',
    `Machine: ${envLine(r.environment)}.`,
  ].join('\n');
  const sections: string[] = [];
  for (const m of r.models) {
    const rows = r.benchmarks
      .filter((b) => b.model === m.label)
      .map((b) => [
        b.name,
        b.description,
        num(b.avg_ns / 1000),
        num(b.p50_ns / 1000),
        num(b.min_ns / 1000),
        num(b.p99_ns / 1000),
        String(b.ticks),
      ]);
    sections.push(
      `## ${m.label}\n\n${m.description}.\n\n` +
        table(['benchmark', 'what', 'mean µs', 'median µs', 'min µs', 'p99 µs', 'calls'], rows, [
          'l',
          'l',
          'r',
          'r',
          'r',
          'r',
          'r',
        ]),
    );
  }
  if (r.ratios.length)
    sections.push(
      `## Ratios\n\n` +
        table(
          ['ratio of mean times', 'value'],
          r.ratios.map((x) => [x.label, times(x.value)]),
        ),
    );
  sections.push(
    `## Protocol\n\n` +
      [
        `- ${r.protocol.tool}; at least ${r.protocol.min_time_ms} ms and ${r.protocol.min_samples} calls per benchmark, at most ${r.protocol.max_samples}.`,
        `- ${r.protocol.readback}.`,
        ...r.notes.map((n) => `- ${n}`),
      ].join('\n'),
  );
  return {head, sections};
}

// ---------------------------------------------------------------------------------------------
// Comparing two runs

export interface CompareRow {
  id: string;
  metric: string;
  old: number | null;
  new: number | null;
  /** (new − old) ÷ old in percent; null when either side is missing. */
  change_pct: number | null;
}

function keyed(r: BenchReport): {id: string; metric: string; value: number}[] {
  if (r.suite === 'paper')
    return [
      ...r.scenarios.flatMap((s) => [
        {id: s.id, metric: 'median ms', value: s.stats.total_ms.median},
        {id: s.id, metric: 'ms/token', value: s.stats.ms_per_token.median},
      ]),
      ...r.ratios.map((x) => ({id: x.label, metric: 'ratio', value: x.value})),
    ];
  if (r.suite === 'train')
    return r.runs.flatMap((x) => [
      {id: `${x.model} ${x.batch}x${x.context}`, metric: 'median ms/step', value: x.stats.median},
    ]);
  if (r.suite === 'eval')
    return [
      ...r.scenarios.map((x) => ({id: x.id, metric: 'median s', value: x.stats.median})),
      ...r.ratios.map((x) => ({id: x.label, metric: 'ratio', value: x.value})),
    ];
  if (r.suite === 'scaling')
    return r.series.flatMap((s) => [
      {
        id: s.id,
        metric: 'mean ms/token',
        value: round(s.median_ms.reduce((a, b) => a + b, 0) / Math.max(1, s.median_ms.length)),
      },
      {id: s.id, metric: 'slope µs/position', value: s.slope_us_per_position},
    ]);
  return [
    ...r.benchmarks.map((b) => ({id: b.id, metric: 'mean µs', value: round(b.avg_ns / 1000)})),
    ...r.ratios.map((x) => ({id: x.label, metric: 'ratio', value: x.value})),
  ];
}

/** Every scenario (and ratio) of either run, with the change from `old` to `cur`. */
export function compareReports(old: BenchReport, cur: BenchReport): {rows: CompareRow[]; warnings: string[]} {
  if (old.suite !== cur.suite)
    throw new PldrError(
      `cannot compare a ${cur.suite} run with a ${old.suite} report: give a report of the same suite`,
    );
  const a = keyed(old);
  const b = keyed(cur);
  const key = (x: {id: string; metric: string}) => `${x.id}\u0000${x.metric}`;
  const oldMap = new Map(a.map((x) => [key(x), x.value]));
  const rows: CompareRow[] = [];
  for (const x of b) {
    const o = oldMap.get(key(x));
    rows.push({
      id: x.id,
      metric: x.metric,
      old: o ?? null,
      new: x.value,
      change_pct:
        o !== undefined && o !== 0 && Number.isFinite(o) && Number.isFinite(x.value)
          ? round(((x.value - o) / o) * 100, 2)
          : null,
    });
    oldMap.delete(key(x));
  }
  for (const x of a)
    if (oldMap.has(key(x))) rows.push({id: x.id, metric: x.metric, old: x.value, new: null, change_pct: null});
  const warnings: string[] = [];
  const eo = old.environment;
  const en = cur.environment;
  if (eo.backend !== en.backend) warnings.push(`backend differs: ${eo.backend} then, ${en.backend} now`);
  if (eo.threads !== undefined && en.threads !== undefined && eo.threads !== en.threads)
    warnings.push(`threads differ: ${eo.threads} then, ${en.threads} now`);
  if (eo.cpu !== en.cpu || eo.cores !== en.cores)
    warnings.push(
      `machine differs: ${eo.cpu} × ${eo.cores} then, ${en.cpu} × ${en.cores} now; compare ratios, not times`,
    );
  if (old.suite === 'paper' && cur.suite === 'paper' && old.protocol.new_tokens !== cur.protocol.new_tokens)
    warnings.push(`new tokens differ: ${old.protocol.new_tokens} then, ${cur.protocol.new_tokens} now`);
  return {rows, warnings};
}

function changeText(x: CompareRow): string {
  if (x.old === null) return 'new';
  if (x.new === null) return 'gone';
  return pct(x.change_pct ?? NaN);
}

export function renderCompare(rows: CompareRow[], warnings: string[], against: string): string {
  return [
    `change since ${against} (negative = less time):`,
    textTable(
      ['scenario', 'metric', 'old', 'new', 'change'],
      rows.map((x) => [x.id, x.metric, num(x.old), num(x.new), changeText(x)]),
    ),
    ...warnings.map((w) => `note: ${w}`),
  ].join('\n');
}

function compareMarkdown(rows: CompareRow[], warnings: string[]): string {
  return (
    table(
      ['scenario', 'metric', 'old', 'new', 'change'],
      rows.map((x) => [x.id, x.metric, num(x.old), num(x.new), changeText(x)]),
    ) +
    '\n\nFor times, a negative change means this run was faster. ' +
    warnings.map((w) => `Note: ${w}.`).join(' ')
  );
}
