/**
 * The five `pldr bench` suites as commands: each one's help (summary, description, examples) and the
 * flags it takes beside those every suite shares (cli/bench.ts). src/commands/bench/<suite>.ts makes
 * the command from its entry here.
 */
import {Flags, type Interfaces} from '@oclif/core';

import {EVAL_DEFAULTS} from '../core/bench/eval.js';
import {PAPER_DEFAULT_PRESETS} from '../core/bench/presets.js';
import {BENCH_MODES} from '../core/bench/protocol.js';
import type {Suite} from '../core/bench/report.js';
import {MICRO_DEFAULTS} from '../core/bench/run.js';
import {
  BENCH_NOTES,
  BenchCommand,
  type BenchFlagValues,
  benchFlags,
  oneThreadFlag,
  REFERENCE_NOTES,
  referenceFlags,
  repeatsFlag,
} from './bench.js';

export const SUITE_COMMANDS = {
  paper: {
    summary: "The paper's inference-time experiment (Appendix B): generation timed in every cache mode.",
    description: `The paper's inference-time experiment (docs/spec.md §9): prompt "Write a letter requesting people
use language models responsibly.", temperature 1.0, top-k 0, top-p 0.8, exactly --tokens new tokens
(default 100; the end token is suppressed so no run stops early), in the modes none, kv, kv+g, g and
ext-g (an external G list with the KV-cache). Reports median, min, max and spread of the whole
generation, prompt-step ms, ms per token, tokens/s, peak memory, and the paper's ratios (no cache ÷
KV+G; PLDR ÷ SDPA) measured in the same run. Default presets: ${PAPER_DEFAULT_PRESETS.join(', ')} (the SDPA
ones are PLDRv51G with G = identity).

The run also measures the memory bandwidth after its timings and judges each cached step against
streaming the weights it reads once, a cached G against SDPA of the same size, the caches' speed-up
and the first model's memory (the "Targets" section); --long N adds one N-token generation per model
that checks nothing grows but the KV-cache. -r and -n work like Python's timeit: -r timed samples per
scenario, each the mean of -n generations.

${BENCH_NOTES}

${REFERENCE_NOTES}`,
    examples: [
      '<%= config.bin %> bench paper --quick',
      '<%= config.bin %> bench paper                                      # the paper presets, all modes (takes a while)',
      '<%= config.bin %> bench paper --preset PLDRv51-104M --preset SDPA-GPT-Neo-125M --modes none,kv+g,kv -r 10',
      '<%= config.bin %> bench paper --model models/demo --out demo-wasm',
      '<%= config.bin %> bench paper --preset PLDRv51-104M,SDPA-104M --modes kv+g,kv --long 1000   # targets incl. memory over 1000 tokens',
      '<%= config.bin %> bench paper --quick --compare pldr-bench/paper-quick-wasm-20250101-120000.json',
      '# a report meant to be committed goes to results/ explicitly',
      '<%= config.bin %> bench paper --preset PLDRv51-104M --results-dir results --out paper-104m-wasm',
      '# the reference (PyTorch on 2 threads, from a checkout) timed in the same run',
      '<%= config.bin %> bench paper --preset PLDRv51-104M --modes kv+g --reference',
    ],
    flags: {
      ...benchFlags,
      repeats: repeatsFlag('timed samples per scenario (default 5)'),
      modes: Flags.string({description: `comma-separated modes: ${BENCH_MODES.join(', ')} (default all)`}),
      loops: Flags.integer({char: 'n', description: 'generations per sample, the sample being their mean (default 1)'}),
      tokens: Flags.integer({description: "new tokens per generation (default 100, the paper's)"}),
      long: Flags.integer({
        description:
          'also generate this many tokens once per model (KV+G; KV for a baseline) and record memory every 50 tokens: the no-growth check',
        default: 0,
      }),
      bandwidth: Flags.boolean({
        description:
          'measure the memory bandwidth after the timings and judge each cached step against streaming its weights once',
        default: true,
        allowNo: true,
      }),
      'one-thread': oneThreadFlag,
      ...referenceFlags,
    },
  },
  scaling: {
    summary: 'Milliseconds per generated token against its position, with and without the caches.',
    description: `Milliseconds per generated token against its position, up to max_seq_len (or --max-positions), for
the modes none, kv and kv+g: what each cache saves as the sequence grows.

${BENCH_NOTES}`,
    examples: [
      '<%= config.bin %> bench scaling --quick',
      '<%= config.bin %> bench scaling --preset PLDRv51-110M-1 --max-positions 512',
    ],
    flags: {
      ...benchFlags,
      repeats: repeatsFlag('timed generations per mode (default 1)'),
      modes: Flags.string({description: 'comma-separated modes: none, kv, kv+g (default all)'}),
      'max-positions': Flags.integer({description: 'last position to reach (default max_seq_len)'}),
    },
  },
  micro: {
    summary: 'mitata micro-benchmarks of the pieces of a PLDR-LLM call.',
    description: `mitata micro-benchmarks: the metric learner, PLGA, attention with a cached G against SDPA, one
cached decode step, a full forward, the output projection.

${BENCH_NOTES}`,
    examples: [
      '<%= config.bin %> bench micro --quick',
      '<%= config.bin %> bench micro --preset PLDRv51-104M --json > micro.json',
    ],
    flags: {
      ...benchFlags,
      context: Flags.integer({
        description: `cached positions for the attention and decode steps (default ${MICRO_DEFAULTS.context})`,
      }),
      'min-time': Flags.integer({
        description: `minimum measuring time per benchmark in ms (default ${MICRO_DEFAULTS.minTimeMs})`,
      }),
    },
  },
  train: {
    summary: 'Training throughput: tokens per second of whole optimisation steps.',
    description: `Training throughput: tokens/s of whole optimisation steps (forward, backward, clipping, AdamW) on
random windows, for ref-small (the configuration the authors' code was timed on: 4 layers, d 128,
vocabulary 8000, batch 8 x 256), tiny and small (~10M parameters).

${BENCH_NOTES}

${REFERENCE_NOTES}`,
    examples: [
      '<%= config.bin %> bench train                                      # ref-small, tiny, small',
      '<%= config.bin %> bench train --preset ref-small -r 10',
      '<%= config.bin %> bench train --preset ref-small --threads 2       # also on one thread (a child process): the speed-up',
      '# the reference (PyTorch on 2 threads, from a checkout) timed in the same run, and the targets judged against it',
      '<%= config.bin %> bench train --preset ref-small --reference',
    ],
    flags: {
      ...benchFlags,
      repeats: repeatsFlag('timed steps per configuration (default 5)'),
      context: Flags.integer({description: 'tokens per window (default 256)'}),
      batch: Flags.integer({description: 'windows per step (default 8)'}),
      'one-thread': oneThreadFlag,
      ...referenceFlags,
    },
  },
  eval: {
    summary: 'Requests per second of pldr eval scoring, one at a time and batched.',
    description: `Requests per second of \`pldr eval --mode full\` scoring (forward, log-softmax, is-greedy) on seeded
synthetic requests of --lengths tokens, one at a time and batched by equal length (--batch, no
padding), and for a PLDRv51 model also with the empty prompt's G given (the Gi setting of --g-init).

${BENCH_NOTES}

${REFERENCE_NOTES}`,
    examples: [
      '<%= config.bin %> bench eval --quick',
      '<%= config.bin %> bench eval --preset PLDRv51-104M --lengths 10,16,32,64 --requests 16 --batch 16',
      '<%= config.bin %> bench eval --preset PLDRv51-104M --lengths 11 --requests 32 --reference',
    ],
    flags: {
      ...benchFlags,
      repeats: repeatsFlag(`timed repeats per setting (default ${EVAL_DEFAULTS.repeats})`),
      batch: Flags.integer({
        description: `requests per forward in the batched setting (default ${EVAL_DEFAULTS.batch})`,
      }),
      lengths: Flags.string({
        description: `comma-separated request lengths in tokens, context + continuation (default ${EVAL_DEFAULTS.lengths.join(',')})`,
      }),
      requests: Flags.integer({description: `synthetic requests per length (default ${EVAL_DEFAULTS.requests})`}),
      ...referenceFlags,
    },
  },
};

/** The command of one suite: its help and flags from SUITE_COMMANDS, the run shared by all (BenchCommand). */
export function suiteCommand(suite: Suite): typeof BenchCommand {
  const {summary, description, examples, flags} = SUITE_COMMANDS[suite];
  class SuiteCommand extends BenchCommand {
    static override summary = summary;
    static override description = description;
    static override examples = examples;
    static override flags: Interfaces.FlagInput = flags;

    async run(): Promise<void> {
      const parsed = await this.parse(SuiteCommand);
      await this.runSuite(suite, parsed.flags as BenchFlagValues);
    }
  }
  return SuiteCommand;
}
