/**
 * `pldr bench`'s work apart from parsing flags and printing: settings → the suite → the report written →
 * the comparison with an earlier report. Nothing printed; progress goes to a callback.
 */
import {loadavg} from 'node:os';

import * as tf from '@tensorflow/tfjs';

import {PldrError} from '../errors.js';
import {runEvalBench} from './eval.js';
import {runMicro} from './micro.js';
import {runPaper} from './paper.js';
import {checkSpecs, type ModelSpec, PAPER_DEFAULT_PRESETS, QUICK_PRESETS} from './presets.js';
import {parseModes} from './protocol.js';
import {checkReference, type ReferenceOptions} from './reference.js';
import {
  type BenchReport,
  type BenchResult,
  checkName,
  checkResultsDir,
  collectEnvironment,
  compareReports,
  defaultName,
  makeReport,
  readReport,
  renderCompare,
  renderSummary,
  type Suite,
  writeReport,
  type WrittenFiles,
} from './report.js';
import {parseScalingModes, runScaling, SCALING_MODES} from './scaling.js';
import {runTrainBench, TRAIN_DEFAULT_CONFIGS} from './train.js';

/** micro's defaults: cached positions, and the least measuring time per benchmark in ms. */
export const MICRO_DEFAULTS = {context: 110, minTimeMs: 1000};
/** What --quick changes: a tiny model pair, few tokens, few samples. */
const QUICK_SETTINGS = {
  tokens: 8,
  repeats: 2,
  loops: 1,
  warmup: 1,
  maxPositions: 24,
  context: 16,
  bandwidthMb: 16,
};
/** The models of each suite when none is given. */
const DEFAULT_PRESETS: Record<Suite, string[]> = {
  paper: PAPER_DEFAULT_PRESETS,
  scaling: ['PLDRv51-104M', 'PLDRv51-110M-1'],
  micro: ['PLDRv51-104M', 'PLDRv51-110M-1'],
  train: TRAIN_DEFAULT_CONFIGS,
  eval: ['PLDRv51-104M'],
};
/** What --quick changes for bench eval: two short lengths, few requests, one repeat. */
const EVAL_QUICK = {lengths: [8, 12], requests: 3, batch: 3, repeats: 1, warmup: 0};

export interface BenchSettings {
  suite: Suite;
  models: string[];
  presets: string[];
  modes?: string;
  repeats?: number;
  loops?: number;
  warmup?: number;
  tokens?: number;
  long?: number;
  bandwidth?: boolean;
  /** On more than one thread, also time the same work on one thread (train, paper). */
  oneThread?: boolean;
  maxPositions?: number;
  context?: number;
  batch?: number;
  lengths?: string;
  requests?: number;
  minTimeMs?: number;
  seed: number;
  quick: boolean;
  out?: string;
  resultsDir: string;
  compare?: string;
  /** Time the reference too (train, paper, eval). */
  reference?: ReferenceOptions;
  argv: string[];
  flags: Record<string, unknown>;
}

const shellQuote = (a: string): string => (/^[A-Za-z0-9_./:=+,@%-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

/** Run a suite, write its report, compare it with an earlier one. Nothing printed: progress goes to `say`. */
export async function runBench(
  s: BenchSettings,
  say: (m: string) => void = () => {},
): Promise<{report: BenchReport; files: WrittenFiles; compareText?: string; summary: string}> {
  const name = s.out !== undefined ? checkName(s.out) : undefined;
  const old = s.compare !== undefined ? readReport(s.compare) : undefined; // fail before the long part
  checkResultsDir(s.resultsDir);
  if (old && old.suite !== s.suite)
    throw new PldrError(`--compare ${s.compare} is a ${old.suite} report; this is a ${s.suite} run`);
  if (s.reference) checkReference(s.reference);
  const specs: ModelSpec[] = [...s.models.map((dir) => ({dir})), ...s.presets.map((preset) => ({preset}))];
  if (s.suite !== 'train') {
    if (specs.length === 0)
      specs.push(...(s.quick ? QUICK_PRESETS : DEFAULT_PRESETS[s.suite]).map((preset) => ({preset})));
    checkSpecs(specs);
  }
  const q = s.quick ? QUICK_SETTINGS : undefined;
  const environment = collectEnvironment();
  const t0 = performance.now();
  let result: BenchResult;
  if (s.suite === 'paper') {
    result = await runPaper({
      models: specs,
      modes: parseModes(s.modes),
      newTokens: s.tokens ?? q?.tokens,
      repeats: s.repeats ?? q?.repeats,
      loops: s.loops ?? q?.loops,
      warmup: s.warmup ?? q?.warmup,
      seed: s.seed,
      long: s.long,
      bandwidth: s.bandwidth,
      oneThread: s.oneThread,
      ...(q ? {bandwidthMb: QUICK_SETTINGS.bandwidthMb} : {}),
      reference: s.reference,
      onProgress: say,
    });
  } else if (s.suite === 'scaling') {
    const modes = parseScalingModes(parseModes(s.modes, SCALING_MODES));
    result = await runScaling({
      models: specs,
      modes,
      maxPositions: s.maxPositions ?? q?.maxPositions,
      repeats: s.repeats ?? 1,
      warmup: s.warmup ?? q?.warmup,
      seed: s.seed,
      onProgress: say,
    });
  } else if (s.suite === 'train') {
    if (s.models.length)
      throw new PldrError(
        'bench train times configurations, not model directories: use --preset (ref-small or a model preset)',
      );
    const configs = s.presets.length ? s.presets : s.quick ? ['tiny'] : DEFAULT_PRESETS.train;
    result = await runTrainBench({
      configs,
      steps: s.repeats ?? (s.quick ? 2 : undefined),
      warmup: s.warmup ?? (s.quick ? 1 : undefined),
      batch: s.batch ?? (s.quick ? 2 : undefined),
      context: s.context ?? (s.quick ? 32 : undefined),
      seed: s.seed,
      reference: s.reference,
      oneThread: s.oneThread,
      onProgress: say,
    });
  } else if (s.suite === 'eval') {
    const e = s.quick ? EVAL_QUICK : undefined;
    const lengths = s.lengths !== undefined ? parseLengths(s.lengths) : e?.lengths;
    result = await runEvalBench({
      models: specs,
      lengths,
      requests: s.requests ?? e?.requests,
      batch: s.batch ?? e?.batch,
      repeats: s.repeats ?? e?.repeats,
      warmup: s.warmup ?? e?.warmup,
      seed: s.seed,
      reference: s.reference,
      onProgress: say,
    });
  } else {
    result = await runMicro({
      models: specs,
      context: s.context ?? q?.context ?? MICRO_DEFAULTS.context,
      minTimeMs: s.minTimeMs ?? (s.quick ? undefined : MICRO_DEFAULTS.minTimeMs),
      quick: s.quick,
      seed: s.seed,
      onProgress: say,
    });
  }
  say('');
  environment.load_average_end = loadavg().map((x) => Math.round(x * 100) / 100);
  const report = makeReport(result, {
    name: name ?? defaultName(s.suite, tf.getBackend(), s.quick),
    command: ['pldr', 'bench', ...s.argv].map(shellQuote).join(' '),
    flags: s.flags,
    environment,
    duration_s: (performance.now() - t0) / 1000,
  });
  let compareText: string | undefined;
  if (old) {
    const c = compareReports(old, report);
    report.compare = {against: s.compare!, ...c};
    compareText = renderCompare(c.rows, c.warnings, s.compare!);
  }
  const files = await writeReport(report, s.resultsDir);
  return {report, files, compareText, summary: renderSummary(report)};
}

/** --reference and its settings; the settings alone are refused. (Only train, paper and eval declare these flags.) */
export function referenceSettings(flags: {
  reference: boolean;
  python?: string;
  'reference-threads'?: number;
  'reference-blas-threads'?: number;
}): ReferenceOptions | undefined {
  const given = (['python', 'reference-threads', 'reference-blas-threads'] as const).find(
    (k) => flags[k] !== undefined,
  );
  if (!flags.reference) {
    if (given) throw new PldrError(`--${given} applies to --reference: add --reference`);
    return undefined;
  }
  for (const k of ['reference-threads', 'reference-blas-threads'] as const)
    if (flags[k] !== undefined && flags[k]! < 1) throw new PldrError(`--${k} must be at least 1, got ${flags[k]}`);
  return {python: flags.python, threads: flags['reference-threads'], blasThreads: flags['reference-blas-threads']};
}

function parseLengths(s: string): number[] {
  const parts = s.split(',').map((x) => x.trim());
  if (parts.some((x) => !/^\d+$/.test(x)))
    throw new PldrError(`--lengths takes comma-separated token counts, e.g. 16,32,64; got "${s}"`);
  return parts.map(Number);
}
