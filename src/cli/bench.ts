/**
 * What the five `pldr bench` suites share (src/commands/bench/*.ts): the flags every suite takes, the
 * reference's flags (train, paper, eval), the notes at the end of each suite's help, and the run: one
 * core call (core/bench/run.ts `runBench`), then the summary on stdout and where the report went on stderr.
 */
import {Flags, type Interfaces} from '@oclif/core';

import {benchPresetNames, QUICK_PRESETS} from '../core/bench/presets.js';
import {DEFAULT_PYTHON, DEFAULT_REFERENCE_THREADS} from '../core/bench/reference.js';
import {DEFAULT_RESULTS_DIR, type Suite} from '../core/bench/report.js';
import {type BenchSettings, referenceSettings, runBench} from '../core/bench/run.js';
import {PldrError} from '../core/errors.js';
import {PldrCommand} from './base.js';
import type {SUITE_COMMANDS} from './bench-suites.js';
import {switchFlag} from './flags.js';
import {ProgressDisplay} from './progress.js';

/** -r, as in Python's timeit: timed samples per scenario (what a sample is, and the default, depend on the suite). */
export const repeatsFlag = (description: string) => Flags.integer({char: 'r', description});

/** Every suite's flags. */
export const benchFlags = {
  model: Flags.string({
    char: 'm',
    multiple: true,
    description: 'a model directory (or reference .pth with hparams.json beside it); repeatable',
  }),
  preset: Flags.string({
    multiple: true,
    delimiter: ',',
    description: `a preset with seeded random weights; repeatable or comma-separated (${benchPresetNames().join(', ')})`,
  }),
  repeats: repeatsFlag('timed samples per scenario'),
  warmup: Flags.integer({description: 'untimed runs per scenario first (default 1)'}),
  seed: Flags.integer({description: 'seed of the random weights and of sampling', default: 0}),
  quick: switchFlag(`a tiny model pair (${QUICK_PRESETS.join(', ')}) and little work: runs in seconds`),
  out: Flags.string({
    char: 'o',
    description: 'report name: writes NAME.json, NAME.md, NAME.svg, NAME.png (default <suite>-<backend>-<date>)',
  }),
  'results-dir': Flags.string({
    description:
      'folder for the reports (the default is ignored by git; give --results-dir results for a report meant to be committed)',
    default: DEFAULT_RESULTS_DIR,
  }),
  compare: Flags.string({description: 'an earlier report (.json) of the same suite: print the change per scenario'}),
  json: switchFlag('print the whole report as JSON on stdout'),
};

/** The flags of the suites that can time the reference beside pldr (train, paper, eval). */
export const referenceFlags = {
  reference: switchFlag(
    "also time the reference (scripts/torch-reference.py: PyTorch, from a checkout) on the same configuration after pldr's timings, and judge the targets against it",
  ),
  python: Flags.string({description: `--reference: the python that has torch (default ${DEFAULT_PYTHON})`}),
  'reference-threads': Flags.integer({
    description: `--reference: torch threads (default ${DEFAULT_REFERENCE_THREADS})`,
  }),
  'reference-blas-threads': Flags.integer({
    description: "--reference: OpenBLAS's own threads (default: --reference-threads, as OMP_NUM_THREADS sets both)",
  }),
};

/** train and paper: the same work again on one thread, for the speed-up of --threads. */
export const oneThreadFlag = Flags.boolean({
  description:
    'on more than one thread (--threads), also time the same work on one thread, in a child process, and report the speed-up over it',
  default: true,
  allowNo: true,
});

/** The notes every suite's help ends with. */
export const BENCH_NOTES = `Every suite writes <results-dir>/<name>.json (every sample, the flags, the environment: backend, CPU,
memory, Node and tfjs versions, git commit), <name>.md (a readable summary) and a chart (<name>.svg
and <name>.png). Reports go to ./${DEFAULT_RESULTS_DIR}/ (ignored by git), so a trial run never touches the
repository's results/; give --results-dir results for a report meant to be committed. The folder is
checked before the suite runs. --compare OLD.json prints the change per scenario.

Models: --model DIR (a trained model; its tokenizer is used when it has one), or --preset NAME with
seeded random weights (timing does not depend on the weights). Models without a tokenizer get a
fixed prompt of 10 token ids, the paper prompt's length. --quick runs a tiny model pair with little
work, in seconds: a check that everything works, not a measurement. Compare ratios, not absolute
times, across machines.`;

/** The notes of the suites that take --reference. */
export const REFERENCE_NOTES = `--reference also times the reference after pldr, on the same configuration:
scripts/torch-reference.py, a PyTorch implementation checked against the reference fixture, on
--reference-threads torch threads (default ${DEFAULT_REFERENCE_THREADS}), with ${DEFAULT_PYTHON} or --python PATH
(apt install python3-torch; run from a checkout). It inherits the environment: on few cores
OMP_WAIT_POLICY=PASSIVE makes it much faster (torch's idle OpenMP threads stop spinning beside
OpenBLAS's). Its numbers, torch version, threads, BLAS and those variables go into the report, and
the targets are judged against them; without it, against a figure measured once for the reference
on a 2-core machine of this type, and the targets say so.`;

/**
 * The parsed flags a suite may have, inferred from their definitions: those every suite takes (benchFlags,
 * --backend, --threads), and the rest as optional, since only some suites declare them (cli/bench-suites.ts).
 */
type Suites = typeof SUITE_COMMANDS;
type AnySuiteFlags = Suites['paper']['flags'] &
  Suites['scaling']['flags'] &
  Suites['micro']['flags'] &
  Suites['train']['flags'] &
  Suites['eval']['flags'];
export type BenchFlagValues = Interfaces.InferredFlags<typeof benchFlags & typeof PldrCommand.baseFlags> &
  Partial<Interfaces.InferredFlags<AnySuiteFlags>>;

export abstract class BenchCommand extends PldrCommand {
  /** Run `suite` with the parsed flags: one core call, then the summary (or the report as JSON). */
  protected async runSuite(suite: Suite, flags: BenchFlagValues): Promise<void> {
    if (flags.repeats !== undefined && flags.repeats < 1)
      throw new PldrError(`-r must be at least 1, got ${flags.repeats}`);
    if (flags.loops !== undefined && flags.loops < 1) throw new PldrError(`-n must be at least 1, got ${flags.loops}`);
    const reference = referenceSettings({...flags, reference: flags.reference ?? false});
    await this.useBackend(flags.backend, flags.threads, suite === 'train' || suite === 'eval' ? 'compute' : 'decode');
    const settings: BenchSettings = {
      suite,
      models: flags.model ?? [],
      presets: flags.preset ?? [],
      modes: flags.modes,
      repeats: flags.repeats,
      loops: flags.loops,
      warmup: flags.warmup,
      tokens: flags.tokens,
      long: flags.long ?? 0,
      bandwidth: flags.bandwidth ?? true,
      oneThread: flags['one-thread'] ?? true,
      maxPositions: flags['max-positions'],
      context: flags.context,
      batch: flags.batch,
      lengths: flags.lengths,
      requests: flags.requests,
      minTimeMs: flags['min-time'],
      seed: flags.seed,
      quick: flags.quick,
      out: flags.out,
      resultsDir: flags['results-dir'],
      compare: flags.compare,
      reference,
      argv: [suite, ...this.argv],
      flags: {suite, ...flags},
    };
    const status = new ProgressDisplay();
    const {report, files, compareText, summary} = await runBench(settings, (m) =>
      m ? status.update(`bench: ${m}`, null) : status.done(),
    );
    status.done();
    if (flags.json) {
      this.log(JSON.stringify(report));
    } else {
      this.log(summary);
      if (compareText) this.log(`\n${compareText}`);
    }
    process.stderr.write(
      `report written to ${files.json} (and ${[files.md, files.svg, files.png].filter(Boolean).join(', ')})\n`,
    );
    if (files.pngError) process.stderr.write(`no PNG: ${files.pngError}\n`);
  }
}
