/**
 * A run's settings from `pldr train`'s flags (docs/spec.md §6): the model (a preset, the flags, or the model
 * --init-from names), the recipe, the data split and the stopping rules, each checked before any
 * long work. A resume takes only its limits (RESUME_FLAGS); everything else is fixed in run.json.
 */
import {existsSync} from 'node:fs';
import {resolve} from 'node:path';

import {defaultAdff, defaultDff, getPreset, type ModelConfig, validateConfig, type Variant} from '../config.js';
import {PldrError} from '../errors.js';
import {readModelFiles} from '../io/model-files.js';
import {Tokenizer} from '../tokenizer.js';
import {resolveCorpus} from './corpus.js';
import {checkRunOut, type RunLimits, type RunSettings} from './trainer.js';

/** --vocab-size when not given: fitted down to what the corpus supports. */
export const DEFAULT_VOCAB_SIZE = 4000;

/** The flags a resume takes (the run's limits, and where it computes); every other setting is fixed when the run is created. */
const RESUME_FLAGS: ReadonlySet<string> = new Set([
  'resume',
  'max-steps',
  'max-tokens',
  'time-limit',
  'total-steps',
  'json',
  'backend',
  'threads',
]);

/** Flags that shape the model: with --init-from the model brings its own. */
const ARCHITECTURE_FLAGS = [
  'preset',
  'variant',
  'layers',
  'd-model',
  'heads',
  'dff',
  'reslayers',
  'dense-a',
  'a-dff',
  'rope',
  'g-init',
  'vocab-size',
];

/** The flags a run is made from, as the command parses them (kebab-case names). */
export interface TrainFlags {
  corpus?: string[];
  force: boolean;
  tokenizer?: string;
  'init-from'?: string;
  split: string;
  'text-field': string;
  preset?: string;
  variant?: string;
  layers?: number;
  'd-model'?: number;
  heads?: number;
  dff?: number;
  reslayers?: number;
  'dense-a'?: number;
  'a-dff'?: number;
  rope: string;
  'g-init'?: string;
  dag?: string;
  context: number;
  'batch-size': number;
  'grad-accum': number;
  lr: string;
  warmup: number;
  'lr-alpha': string;
  'weight-decay': string;
  validation: string;
  'val-every': number;
  'val-batches': number;
  'ckpt-every': number;
  'log-every': number;
  seed: number;
  'vocab-size'?: number;
}

/** The flags given on the command line, by name (oclif's raw tokens of type 'flag'). */
type GivenFlags = readonly {type: string; flag?: string}[];

/** Refuse a resume given a flag it cannot take, naming those it can. */
export function checkResumeFlags(raw: GivenFlags): void {
  const fixed = raw.find((t) => t.type === 'flag' && !RESUME_FLAGS.has(t.flag!));
  if (fixed)
    throw new PldrError(
      `--${fixed.flag} does not apply to a resume (a run's settings are fixed when it is created): a resume takes only ${[
        ...RESUME_FLAGS,
      ]
        .filter((f) => f !== 'resume')
        .map((f) => `--${f}`)
        .join(', ')}`,
    );
}

/** The run's limits from the command line: the stopping rules and --total-steps, each checked. */
export function limitsFromFlags(flags: {
  'max-steps'?: number;
  'max-tokens'?: number;
  'time-limit'?: string;
  'total-steps'?: number;
}): RunLimits {
  for (const k of ['max-steps', 'max-tokens', 'total-steps'] as const)
    if (flags[k] !== undefined && flags[k] < 1) throw new PldrError(`--${k} must be at least 1, got ${flags[k]}`);
  const timeLimitS = flags['time-limit'] !== undefined ? parseDuration(flags['time-limit']) : undefined;
  if (timeLimitS !== undefined && !(timeLimitS > 0))
    throw new PldrError(`--time-limit must be more than 0, got "${flags['time-limit']}"`);
  return {maxSteps: flags['max-steps'], maxTokens: flags['max-tokens'], timeLimitS, totalSteps: flags['total-steps']};
}

/** "90", "90s", "30m", "2h", "1h30m" → seconds. */
export function parseDuration(s: string): number {
  const m = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$/.exec(s.trim());
  if (!m || s.trim() === '' || (m[1] === undefined && m[2] === undefined && m[3] === undefined))
    throw new PldrError(`--time-limit must look like 90s, 30m, 2h or 1h30m, got "${s}"`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

function parseDag(s: string): [number, number, number] {
  const v = s.split(',').map((x) => Number(x.trim()));
  if (v.length !== 3 || v.some((x) => !Number.isFinite(x) || x < 0))
    throw new PldrError(`--dag takes three coefficients ≥ 0 for A_LM,A_P,G_LM, e.g. 0.05,0.05,0.05; got "${s}"`);
  return v as [number, number, number];
}

/** A number flag given as text (--lr 1e-3). */
function numberFlag(s: string, flag: string): number {
  const v = Number(s);
  if (s.trim() === '' || Number.isNaN(v)) throw new PldrError(`${flag} must be a number, got "${s}"`);
  return v;
}

/** The model --init-from names: its config and tokenizer (the weights are read again when training starts). */
export interface InitModel {
  path: string;
  config: ModelConfig;
  tokenizer?: string;
}

/**
 * The model --init-from names. Flags that would reshape it are refused, and so is a model without a
 * tokenizer when none is given.
 */
function initModel(path: string, raw: GivenFlags, tokenizer: string | undefined): InitModel {
  const clash = raw.find((t) => t.type === 'flag' && ARCHITECTURE_FLAGS.includes(t.flag!));
  if (clash)
    throw new PldrError(
      `--${clash.flag} does not apply with --init-from: the model's architecture, RoPE, G and vocabulary come from ${path}`,
    );
  const files = readModelFiles(path);
  if (!files.tokenizer && !tokenizer)
    throw new PldrError(`${path} has no tokenizer.model: give the tokenizer it was trained with, --tokenizer FILE`);
  return {path, config: files.config, tokenizer: files.tokenizer};
}

/** The model's config: the model --init-from names, else the preset (default tiny) with the flags over it. */
function modelConfig(f: TrainFlags, init: ModelConfig | undefined): ModelConfig {
  const base: ModelConfig = init ? {...init} : getPreset(f.preset ?? 'tiny');
  const variant = (f.variant as Variant | undefined) ?? base.variant;
  const d = f['d-model'] ?? base.d_model;
  const H = f.heads ?? base.num_heads;
  const full = variant !== 'v510G';
  const config: ModelConfig = {
    variant,
    num_layers: f.layers ?? base.num_layers,
    d_model: d,
    num_heads: H,
    dff: f.dff ?? (f['d-model'] !== undefined ? defaultDff(d) : base.dff),
    num_reslayerA: full ? (f.reslayers ?? (base.num_reslayerA || 2)) : 0,
    num_denseA: full ? (f['dense-a'] ?? (base.num_denseA || 2)) : 0,
    A_dff: full
      ? (f['a-dff'] ??
        (f['d-model'] !== undefined || f.heads !== undefined || !base.A_dff ? defaultAdff(d / H) : base.A_dff))
      : 0,
    input_vocab_size: base.input_vocab_size,
    max_seq_len: f.context + 1,
  };
  if (f.rope === 'neox') config.rope = 'neox';
  if (init) {
    // the model's own architecture, RoPE table and G; the context must fit its positions
    Object.assign(config, init); // --dag below may still set the regulariser
    if (f.context + 1 > init.max_seq_len)
      throw new PldrError(
        `--context ${f.context} needs ${f.context + 1} positions but the model was built for ${init.max_seq_len} (max_seq_len): lower --context to ${init.max_seq_len - 1} or less`,
      );
  }
  if (variant !== 'v510G' && f['g-init'] !== undefined)
    throw new PldrError('--g-init sets the constant G of a PLDRv51G model: add --variant v510G');
  const dag = f.dag !== undefined ? parseDag(f.dag) : base.DAG_reg_coeffs;
  if (dag) config.DAG_reg_coeffs = dag;
  return config;
}

/** Refuse a flag below its least value: a count of updates, positions or layers. */
function checkLeast(f: TrainFlags): void {
  const values = f as unknown as Record<string, number | undefined>;
  const atLeast = (min: number, names: string[]) => {
    for (const k of names)
      if (values[k] !== undefined && values[k] < min)
        throw new PldrError(`--${k} must be at least ${min}, got ${values[k]}`);
  };
  atLeast(1, [
    'context',
    'batch-size',
    'grad-accum',
    'log-every',
    'val-batches',
    'layers',
    'd-model',
    'heads',
    'dff',
    'a-dff',
  ]);
  atLeast(0, ['warmup', 'val-every', 'ckpt-every', 'reslayers', 'dense-a']);
  atLeast(263, ['vocab-size']); // 6 special and 256 byte pieces come first
}

/**
 * A new run's settings from its flags, every one checked. The vocabulary is the preset's until the
 * tokenizer is known (the caller sets config.input_vocab_size); `init` is the --init-from model.
 */
export function settingsFromFlags(f: TrainFlags, limits: RunLimits, init?: InitModel): RunSettings {
  const config = modelConfig(f, init?.config);
  checkLeast(f);
  const validation = numberFlag(f.validation, '--validation');
  if (!(validation > 0) || (validation >= 1 && !Number.isInteger(validation)))
    throw new PldrError(`--validation must be a whole count ≥ 1 or a fraction in (0, 1), got ${f.validation}`);
  const lr = numberFlag(f.lr, '--lr');
  const alpha = numberFlag(f['lr-alpha'], '--lr-alpha');
  const weightDecay = numberFlag(f['weight-decay'], '--weight-decay');
  if (!(lr > 0 && Number.isFinite(lr))) throw new PldrError(`--lr must be a number above 0, got ${f.lr}`);
  if (!(alpha >= 0 && alpha <= 1)) throw new PldrError(`--lr-alpha must be between 0 and 1, got ${f['lr-alpha']}`);
  if (!(weightDecay >= 0 && Number.isFinite(weightDecay)))
    throw new PldrError(`--weight-decay must be a number ≥ 0, got ${f['weight-decay']}`);
  const dag = config.DAG_reg_coeffs;
  const settings: RunSettings = {
    format: 'pldr-run',
    version: 1,
    corpus: f.corpus!,
    corpusOptions: {split: f.split as 'paragraphs', textField: f['text-field']},
    config,
    ...(config.variant === 'v510G' && !init ? {gInit: f['g-init'] ?? 'identity'} : {}),
    recipe: {
      lr,
      warmup: f.warmup,
      totalSteps: limits.totalSteps ?? limits.maxSteps ?? 0,
      alpha,
      weightDecay,
      clip: 1,
      gradAccum: f['grad-accum'],
      ...(dag ? {dag} : {}),
    },
    batchSize: f['batch-size'],
    context: f.context,
    seed: f.seed,
    validation,
    valEvery: f['val-every'],
    valBatches: f['val-batches'],
    ckptEvery: f['ckpt-every'],
    logEvery: f['log-every'],
    stop: {maxSteps: limits.maxSteps, maxTokens: limits.maxTokens, timeLimitS: limits.timeLimitS},
  };
  if (init) settings.initFrom = resolve(init.path);
  return settings;
}

/** A new run, checked: its settings, and the tokenizer it is given (none: one is trained on the corpus). */
export interface NewRun {
  settings: RunSettings;
  tokenizer?: string;
}

/**
 * Check a new run into `runDir` before any long work (training a tokenizer can take minutes): its
 * flags, the --init-from model, the corpus paths, the folder, and the vocabulary against the model.
 */
export async function planNewRun(runDir: string, f: TrainFlags, raw: GivenFlags, limits: RunLimits): Promise<NewRun> {
  if (!f.corpus || f.corpus.length === 0)
    throw new PldrError('give the training text with --corpus PATH (files, folders, globs, .jsonl, .parquet)');
  const init = f['init-from'] !== undefined ? initModel(f['init-from'], raw, f.tokenizer) : undefined;
  const settings = settingsFromFlags(f, limits, init);
  const tokenizer = f.tokenizer ?? init?.tokenizer;
  const sources = resolveCorpus(f.corpus); // fail on a missing path before training a tokenizer
  const inputs = [...f.corpus, tokenizer, settings.gInit, f['init-from']].filter(
    (p): p is string => p !== undefined && existsSync(p),
  );
  checkRunOut(runDir, {force: f.force, inputs: [...inputs, ...sources.map((src) => src.path)]});
  const vocab = tokenizer ? (await Tokenizer.load(tokenizer)).vocabSize : (f['vocab-size'] ?? DEFAULT_VOCAB_SIZE);
  if (init && vocab !== init.config.input_vocab_size)
    throw new PldrError(
      `the tokenizer ${tokenizer} has ${vocab} pieces but the model ${f['init-from']} has a vocabulary of ${init.config.input_vocab_size}: give the tokenizer it was trained with`,
    );
  settings.config.input_vocab_size = vocab;
  validateConfig(settings.config, 'the model');
  return {settings, tokenizer};
}
