/**
 * Training throughput: tokens per second of whole optimisation steps (forward, backward, gradient
 * clipping by value, AdamW) on random token windows, for a few configurations. The data does not
 * change the cost of a step, so no corpus is needed.
 *
 * The `ref-small` configuration is the one the authors' implementation was timed on:
 * 4 layers, 4 heads, d_model 128, A_dff 42, 8 residual units of 2 GLUs, vocabulary 8000,
 * batch 8 × context 256. With `reference`, the reference (scripts/torch-reference.py, PyTorch) is
 * timed on every configuration right after pldr, and the target is judged against it.
 */
import * as tf from '@tensorflow/tfjs';

import {backendThreads, checkModelFits} from '../backend.js';
import {type ModelConfig, paramCounts, validateConfig} from '../config.js';
import {PldrError} from '../errors.js';
import {instantiate} from '../io/model-files.js';
import {initWeights} from '../train/init.js';
import {AdamW} from '../train/optim.js';
import {modelVariables, type Recipe, trainStep} from '../train/step.js';
import {runAtOneThread} from './one-thread.js';
import {findBenchPreset} from './presets.js';
import {nonNegativeInt, positiveInt, round, roundSummary, type Summary, summarize} from './stats.js';
import {
  describeReference,
  type ReferenceOptions,
  referenceRuns,
  type ReferenceTrain,
  runReference,
} from './reference.js';
import type {Target} from './targets.js';

export interface TrainBenchConfig {
  name: string;
  description: string;
  config: ModelConfig;
  batch: number;
  /** Tokens per window fed to the model (each window holds context + 1 ids: inputs and targets). */
  context: number;
}

const REF_SMALL: ModelConfig = validateConfig(
  {
    variant: 'v510',
    num_layers: 4,
    d_model: 128,
    num_heads: 4,
    dff: 341,
    num_reslayerA: 8,
    num_denseA: 2,
    A_dff: 42,
    input_vocab_size: 8000,
    max_seq_len: 256,
  },
  'bench preset ref-small',
);

/** The reference's figure for ref-small, measured once on a 2-core machine of this type (PyTorch 1.13, OpenBLAS, 2 threads). */
const REFERENCE_TRAIN = {tokens_s: 1714};

/**
 * Configurations by name: ref-small, or any model preset at batch 4 × context 128 (a 32k
 * vocabulary at 8 × 256 needs [2048, 32000] logits, their one-hot targets and gradients: more than
 * the wasm backend's 4 GB).
 */
export function trainBenchConfig(name: string): TrainBenchConfig {
  if (name.toLowerCase() === 'ref-small')
    return {
      name: 'ref-small',
      description:
        "the configuration the authors' implementation was timed on: v510, 4 layers x 4 heads, d_model 128, A_dff 42, 8 residual units of 2 GLUs, vocabulary 8000",
      config: REF_SMALL,
      batch: 8,
      context: 256,
    };
  const p = findBenchPreset(name);
  return {
    name: p.name,
    description: p.description,
    config: p.config,
    batch: 4,
    context: Math.min(128, p.config.max_seq_len),
  };
}

export const TRAIN_DEFAULT_CONFIGS = ['ref-small', 'tiny', 'small'];

export interface TrainBenchOptions {
  configs: string[];
  /** Timed steps per configuration (default 5). */
  steps?: number;
  /** Untimed steps first (default 1). */
  warmup?: number;
  batch?: number;
  context?: number;
  seed?: number;
  /** Time the reference (PyTorch) on every configuration too, after pldr's own timings. */
  reference?: ReferenceOptions;
  /** On more than one thread, also time every configuration on one thread, in a child process (default true). */
  oneThread?: boolean;
  onProgress?: (message: string) => void;
}

export interface TrainBenchRun {
  model: string;
  description: string;
  variant: ModelConfig['variant'];
  params: number;
  config: ModelConfig;
  batch: number;
  context: number;
  tokens_per_step: number;
  step_ms: number[];
  stats: Summary;
  /** Tokens per step ÷ median step time. */
  tokens_per_s: number;
  /** The reference on the same configuration, steps and seed (--reference). */
  reference?: ReferenceTrain;
  /** The same steps on one thread (a run on more threads), and tokens_per_s ÷ its tokens/s. */
  one_thread?: {tokens_per_s: number; stats: Summary; speedup: number};
}

export interface TrainBenchResult {
  suite: 'train';
  /** The wasm backend's threads for pldr's timings (absent in older reports). */
  threads?: number;
  protocol: {steps: number; warmup: number; seed: number; optimiser: string; data: string};
  runs: TrainBenchRun[];
  targets: Target[];
  notes: string[];
}

const RECIPE: Recipe = {
  lr: 1e-3,
  warmup: 0,
  totalSteps: 1_000_000,
  alpha: 0,
  weightDecay: 0.1,
  clip: 1.0,
  gradAccum: 1,
};

/** Random windows of context + 1 ids, avoiding the special ids 0–3 (0 would be padding). */
function randomWindows(batch: number, context: number, vocab: number, seed: number): number[][] {
  let s = seed >>> 0 || 1;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s);
  return Array.from({length: batch}, () => Array.from({length: context + 1}, () => 4 + (next() % (vocab - 4))));
}

export async function runTrainBench(opts: TrainBenchOptions): Promise<TrainBenchResult> {
  const steps = positiveInt(opts.steps ?? 5, 'timed steps (-r)');
  const warmup = nonNegativeInt(opts.warmup ?? 1, 'warm-up steps');
  const seed = opts.seed ?? 0;
  const say = opts.onProgress ?? (() => {});
  const configs = opts.configs.map(trainBenchConfig); // every name checked before anything runs
  const runs: TrainBenchRun[] = [];
  for (const c of configs) {
    const batch = opts.batch !== undefined ? positiveInt(opts.batch, '--batch') : c.batch;
    const context = opts.context !== undefined ? positiveInt(opts.context, '--context') : c.context;
    if (context > c.config.max_seq_len)
      throw new PldrError(`${c.name}: context ${context} exceeds max_seq_len ${c.config.max_seq_len}`);
    checkModelFits(c.config, {rows: batch, context, flags: ['--batch', '--context']}, c.name);
    say(`${c.name}: building the model`);
    const model = instantiate({config: c.config, weights: initWeights(c.config, seed), source: `bench ${c.name}`});
    const vars = modelVariables(model);
    const opt = new AdamW(vars, {weightDecay: RECIPE.weightDecay});
    const times: number[] = [];
    try {
      for (let i = 0; i < warmup + steps; i++) {
        say(
          `${c.name}: ${i < warmup ? 'warm-up' : 'step'} ${i < warmup ? i + 1 : i - warmup + 1}/${i < warmup ? warmup : steps}`,
        );
        const windows = randomWindows(batch, context, c.config.input_vocab_size, seed + i + 1);
        const t0 = performance.now();
        let r: ReturnType<typeof trainStep>;
        try {
          r = trainStep(model, vars, opt, [windows], i + 1, RECIPE);
        } catch (e) {
          if (/memory access out of bounds|out of memory|Aborted/i.test(String(e)))
            throw new PldrError(
              `${c.name}: a step of ${batch} × ${context} tokens ran out of the backend's memory: use a smaller --batch or --context`,
            );
          throw e;
        }
        const ms = performance.now() - t0;
        if (!r.finite) throw new PldrError(`${c.name}: a training step gave a non-finite loss`);
        if (i >= warmup) times.push(round(ms, 3));
      }
    } finally {
      opt.dispose();
      tf.dispose([...vars.values()]);
      model.dispose();
    }
    const stats = summarize(times);
    const tokens = batch * context;
    runs.push({
      model: c.name,
      description: c.description,
      variant: c.config.variant,
      params: paramCounts(c.config).total,
      config: c.config,
      batch,
      context,
      tokens_per_step: tokens,
      step_ms: times,
      stats: roundSummary(stats),
      tokens_per_s: round((tokens * 1000) / stats.median, 1),
    });
  }
  const threads = backendThreads();
  if (threads > 1 && opts.oneThread !== false) {
    say('the same steps on one thread (a child process)');
    const base = await runAtOneThread<TrainBenchResult>(
      {module: 'train.js', fn: 'runTrainBench'},
      {...opts, reference: undefined, oneThread: false, onProgress: undefined},
      say,
    );
    runs.forEach((run, i) => {
      const one = base.runs[i]!;
      run.one_thread = {
        tokens_per_s: one.tokens_per_s,
        stats: one.stats,
        speedup: round(run.tokens_per_s / one.tokens_per_s, 2),
      };
    });
  }
  if (opts.reference)
    for (const run of runs) {
      if (!referenceRuns(run.config)) continue;
      say(`${run.model}: the reference (PyTorch)`);
      const args = [
        '--batch',
        run.batch,
        '--context',
        run.context,
        '--steps',
        steps,
        '--warmup',
        warmup,
        '--seed',
        seed,
      ].map(String);
      run.reference = runReference<ReferenceTrain>('train', run.config, args, opts.reference);
    }
  return {
    suite: 'train',
    threads,
    protocol: {
      steps,
      warmup,
      seed,
      optimiser: `AdamW (β 0.9/0.95, ε 1e-5, weight decay ${RECIPE.weightDecay}), gradients clipped by value to ±${RECIPE.clip}, one micro-batch per update`,
      data: 'random token windows (ids 4…V−1, no padding): the cost of a step does not depend on the data',
    },
    runs,
    targets: trainTargets(runs),
    notes: [
      'A step is timed from handing over the windows to the updated parameters: forward, loss, backward, finiteness check, clipping and the AdamW update.',
      'Seeded random initial weights; the first steps are untimed warm-up (kernel set-up, first allocations).',
    ],
  };
}

/**
 * Training at least as fast as the reference: every configuration the reference was
 * run on in this run; without it, ref-small at 8 × 256 against that fixed figure.
 */
export function trainTargets(runs: TrainBenchRun[]): Target[] {
  const out: Target[] = [];
  for (const run of runs) {
    const measured = `${run.tokens_per_s} tokens/s (${run.stats.median.toFixed(0)} ms a step of ${run.tokens_per_step} tokens)`;
    if (run.reference) {
      const ratio = run.tokens_per_s / run.reference.tokens_per_s;
      out.push({
        id: `train/${run.model}`,
        target: `${run.model} training throughput ÷ the reference's on the same configuration, measured in this run`,
        measured: `${ratio.toFixed(2)}× (${measured}; the reference ${run.reference.tokens_per_s} tokens/s, ${run.reference.stats.median.toFixed(0)} ms a step)`,
        goal: '≥ 1.0×',
        met: ratio >= 1,
        note: `the reference: scripts/torch-reference.py on ${describeReference(run.reference)}`,
      });
    } else if (run.model === 'ref-small' && run.batch === 8 && run.context === 256) {
      const ratio = run.tokens_per_s / REFERENCE_TRAIN.tokens_s;
      out.push({
        id: 'train/ref-small',
        target:
          "ref-small training throughput ÷ the reference's (PyTorch 1.13, OpenBLAS, 2 threads) on this machine type",
        measured: `${ratio.toFixed(2)}× (${measured}; the reference ${REFERENCE_TRAIN.tokens_s} tokens/s)`,
        goal: '≥ 1.0×',
        met: ratio >= 1,
        note: 'the reference figure is a fixed one measured earlier on a 2-core machine, not re-measured in this run (--reference measures it)',
      });
    }
  }
  return out;
}
