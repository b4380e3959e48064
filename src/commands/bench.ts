import {Args, Flags} from '@oclif/core';
import {switchFlag} from '../cli/flags.js';

import {PldrCommand} from '../cli/base.js';
import {EVAL_DEFAULTS} from '../core/bench/eval.js';
import {benchPresetNames, PAPER_DEFAULT_PRESETS, QUICK_PRESETS} from '../core/bench/presets.js';
import {BENCH_MODES} from '../core/bench/protocol.js';
import {DEFAULT_PYTHON, DEFAULT_REFERENCE_THREADS} from '../core/bench/reference.js';
import {DEFAULT_RESULTS_DIR, type Suite, SUITES} from '../core/bench/report.js';
import {type BenchSettings, MICRO_DEFAULTS, referenceSettings, runBench} from '../core/bench/run.js';
import {PldrError} from '../core/errors.js';

export default class Bench extends PldrCommand {
  static override summary =
    "Time generation: the paper's experiment (Appendix B), cost against position, and micro-benchmarks; reports in ./pldr-bench/ (or --results-dir).";

  static override description = `Five suites, each writing <results-dir>/<name>.json (every sample, the flags, the environment:
backend, CPU, memory, Node and tfjs versions, git commit), <name>.md (a readable summary) and a chart
(<name>.svg and <name>.png):

  paper    the paper's inference-time experiment (docs/spec.md §9): prompt "Write a letter requesting people use
           language models responsibly.", temperature 1.0, top-k 0, top-p 0.8, exactly --tokens new
           tokens (default 100; the end token is suppressed so no run stops early), in the modes
           none, kv, kv+g, g and ext-g (an external G list with the KV-cache). Reports median, min, max
           and spread of the whole generation, prompt-step ms, ms per token, tokens/s, peak memory,
           and the paper's ratios (no cache ÷ KV+G; PLDR ÷ SDPA) measured in the same run.
  scaling  ms per generated token against its position, up to max_seq_len (or --max-positions),
           for none, kv and kv+g.
  micro    mitata micro-benchmarks: metric learner, PLGA, attention with a cached G vs SDPA, one
           cached decode step, a full forward, the output projection.
  train    training throughput: tokens/s of whole optimisation steps (forward, backward, clipping,
           AdamW) on random windows, for ref-small (the configuration the authors' code was timed
           on: 4 layers, d 128, vocabulary 8000, batch 8 x 256), tiny and small (~10M parameters).
  eval     requests per second of \`pldr eval --mode full\` scoring (forward, log-softmax, is-greedy)
           on seeded synthetic requests of --lengths tokens, one at a time and batched by equal
           length (--batch, no padding), and for a PLDRv51 model also with the empty prompt's G
           given (the Gi setting of --g-init).

A paper run also measures the memory bandwidth after its timings and judges each cached step
against streaming the weights it reads once, a cached G against SDPA of the same size, the caches'
speed-up and the first model's memory (the "Targets" section); --long N adds one N-token generation
per model that checks nothing grows but the KV-cache.

Models: --model DIR (a trained model; its tokenizer is used when it has one), or --preset NAME with
seeded random weights (timing does not depend on the weights). Default presets: ${PAPER_DEFAULT_PRESETS.join(', ')}
(the SDPA ones are PLDRv51G with G = identity). Models without a tokenizer get a fixed prompt of 10
token ids, the paper prompt's length.

-r and -n work like Python's timeit: -r timed samples per scenario, each the mean of -n generations.
--quick runs a tiny model pair with few tokens, in seconds: a check that everything works, not a
measurement. Compare ratios, not absolute times, across machines; --compare OLD.json prints the
change per scenario.

--reference (train, paper, eval) also times the reference after pldr, on the same configuration:
scripts/torch-reference.py, a PyTorch implementation checked against the reference fixture, on
--reference-threads torch threads (default ${DEFAULT_REFERENCE_THREADS}), with ${DEFAULT_PYTHON} or --python PATH
(apt install python3-torch; run from a checkout). It inherits the environment: on few cores
OMP_WAIT_POLICY=PASSIVE makes it much faster (torch's idle OpenMP threads stop spinning beside
OpenBLAS's). Its numbers, torch version, threads, BLAS and those variables go into the report,
and the targets are judged against them; without it, against the reference's figures quoted for
this machine type, and the targets say so.

Reports go to ./${DEFAULT_RESULTS_DIR}/ (ignored by git), so a trial run never touches the repository's
results/; give --results-dir results for a report meant to be committed. The folder is checked
before the suite runs.`;

  static override examples = [
    '<%= config.bin %> bench paper --quick',
    '<%= config.bin %> bench paper                                      # the paper presets, all modes (takes a while)',
    '<%= config.bin %> bench paper --preset PLDRv51-104M --preset SDPA-GPT-Neo-125M --modes none,kv+g,kv -r 10',
    '<%= config.bin %> bench paper --model models/demo --out demo-wasm',
    '<%= config.bin %> bench paper --preset PLDRv51-104M,SDPA-104M --modes kv+g,kv --long 1000   # targets incl. memory over 1000 tokens',
    '<%= config.bin %> bench paper --quick --compare pldr-bench/paper-quick-wasm-20250101-120000.json',
    '# a report meant to be committed goes to results/ explicitly',
    '<%= config.bin %> bench paper --preset PLDRv51-104M --results-dir results --out paper-104m-wasm',
    '<%= config.bin %> bench scaling --preset PLDRv51-110M-1 --max-positions 512',
    '<%= config.bin %> bench micro --preset PLDRv51-104M --json > micro.json',
    '<%= config.bin %> bench train                                      # ref-small, tiny, small',
    '<%= config.bin %> bench train --preset ref-small -r 10',
    '<%= config.bin %> bench train --preset ref-small --threads 2       # also on one thread (a child process): the speed-up',
    '<%= config.bin %> bench eval --preset PLDRv51-104M --lengths 10,16,32,64 --requests 16 --batch 16',
    '# the reference (PyTorch on 2 threads, from a checkout) timed in the same run, and the targets judged against it',
    '<%= config.bin %> bench train --preset ref-small --reference',
  ];

  static override args = {
    suite: Args.string({ignoreStdin: true, description: 'which suite to run', options: [...SUITES], required: true}),
  };

  static override flags = {
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
    modes: Flags.string({
      description: `comma-separated modes (paper: ${BENCH_MODES.join(', ')}; scaling: none, kv, kv+g); default all`,
    }),
    repeats: Flags.integer({char: 'r', description: 'timed samples per scenario (paper default 5; scaling default 1)'}),
    loops: Flags.integer({
      char: 'n',
      description: 'paper: generations per sample, the sample being their mean (default 1)',
    }),
    warmup: Flags.integer({description: 'untimed generations per scenario first (default 1)'}),
    tokens: Flags.integer({description: "paper: new tokens per generation (default 100, the paper's)"}),
    long: Flags.integer({
      description:
        'paper: also generate this many tokens once per model (KV+G; KV for a baseline) and record memory every 50 tokens: the no-growth check',
      default: 0,
    }),
    bandwidth: Flags.boolean({
      description:
        'paper: measure the memory bandwidth after the timings and judge each cached step against streaming its weights once',
      default: true,
      allowNo: true,
    }),
    'max-positions': Flags.integer({description: 'scaling: last position to reach (default max_seq_len)'}),
    context: Flags.integer({
      description: `micro: cached positions for attention and decode steps (default ${MICRO_DEFAULTS.context}); train: tokens per window (default 256)`,
    }),
    'min-time': Flags.integer({
      description: `micro: minimum measuring time per benchmark in ms (default ${MICRO_DEFAULTS.minTimeMs})`,
    }),
    batch: Flags.integer({
      description: `train: windows per step (default 8); eval: requests per forward in the batched setting (default ${EVAL_DEFAULTS.batch})`,
    }),
    lengths: Flags.string({
      description: `eval: comma-separated request lengths in tokens, context + continuation (default ${EVAL_DEFAULTS.lengths.join(',')})`,
    }),
    requests: Flags.integer({description: `eval: synthetic requests per length (default ${EVAL_DEFAULTS.requests})`}),
    seed: Flags.integer({description: 'seed of the random weights and of sampling', default: 0}),
    quick: Flags.boolean({
      description: `a tiny model pair (${QUICK_PRESETS.join(', ')}) and few tokens: runs in seconds`,
      default: false,
    }),
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
    'one-thread': Flags.boolean({
      description:
        'train, paper: on more than one thread (--threads), also time the same work on one thread, in a child process, and report the speed-up over it',
      default: true,
      allowNo: true,
    }),
    reference: Flags.boolean({
      description:
        "train, paper, eval: also time the reference (scripts/torch-reference.py: PyTorch, from a checkout) on the same configuration after pldr's timings, and judge the targets against it",
      default: false,
    }),
    python: Flags.string({description: `--reference: the python that has torch (default ${DEFAULT_PYTHON})`}),
    'reference-threads': Flags.integer({
      description: `--reference: torch threads (default ${DEFAULT_REFERENCE_THREADS})`,
    }),
    'reference-blas-threads': Flags.integer({
      description: "--reference: OpenBLAS's own threads (default: --reference-threads, as OMP_NUM_THREADS sets both)",
    }),
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Bench);
    if (flags.repeats !== undefined && flags.repeats < 1)
      throw new PldrError(`-r must be at least 1, got ${flags.repeats}`);
    if (flags.loops !== undefined && flags.loops < 1) throw new PldrError(`-n must be at least 1, got ${flags.loops}`);
    const reference = referenceSettings(args.suite, flags);
    await this.useBackend(
      flags.backend,
      flags.threads,
      args.suite === 'train' || args.suite === 'eval' ? 'compute' : 'decode',
    );
    const settings: BenchSettings = {
      suite: args.suite as Suite,
      models: flags.model ?? [],
      presets: flags.preset ?? [],
      modes: flags.modes,
      repeats: flags.repeats,
      loops: flags.loops,
      warmup: flags.warmup,
      tokens: flags.tokens,
      long: flags.long,
      bandwidth: flags.bandwidth,
      oneThread: flags['one-thread'],
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
      argv: this.argv,
      flags: {suite: args.suite, ...flags},
    };
    const {report, files, compareText, summary} = await runBench(settings, progress());
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

/** One overwritten status line on a terminal's stderr; silent otherwise. */
function progress(): (m: string) => void {
  if (!process.stderr.isTTY) return () => {};
  return (m: string) => process.stderr.write(`\r\x1b[K${m ? `bench: ${m}` : ''}`);
}
