/**
 * A training run (docs/spec.md §6). RUN_DIR holds everything a run needs and makes:
 *
 *   run.json          the settings, fixed when the run is created (a resume reads them back)
 *   tokenizer.model   the SentencePiece model the data was tokenized with
 *   data/             the token cache (shards.ts)
 *   checkpoint/       the latest checkpoint: a model directory + optimizer state + progress
 *   lock              the process training in it (lock.ts): one training per folder
 *   metrics.jsonl     one line per logged step and per validation
 *   curves.svg/.png   loss and accuracy curves, written at the end
 *
 * The loop reports through events and never prints; stopping is asked through `interrupted()`.
 */
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import {join} from 'node:path';

import * as tf from '@tensorflow/tfjs';

import {backendCapacity, checkModelFits} from '../backend.js';
import {backendBytes, type ModelConfig, ropeStyle, stateDictSpec, validateConfig} from '../config.js';
import {PldrError} from '../errors.js';
import {checkOutputDir, fsMessage, writeFileAtomic} from '../io/fsutil.js';
import {checkGShape, readGList} from '../io/glist.js';
import {checkModelFiles, instantiate, type ModelFiles, readModelFiles} from '../io/model-files.js';
import type {HostTensor, StateDict} from '../io/tensor.js';
import {svgToPng} from '../plot/png.js';
import {multiPanelSvg} from '../plot/svg.js';
import {terminalChart} from '../plot/terminal.js';
import {Rng} from '../sampling.js';
import {Tokenizer} from '../tokenizer.js';
import {
  type Checkpoint,
  hasCheckpoint,
  type Progress,
  readCheckpoint,
  recoverCheckpoint,
  writeCheckpoint,
} from './checkpoint.js';
import type {CorpusOptions} from './corpus.js';
import {initWeights} from './init.js';
import {LOCK_FILE, lockRun} from './lock.js';
import {AdamW} from './optim.js';
import {type BatchPosition, buildTokenCache, dataDir, PackedDataset} from './shards.js';
import {evalLoss, modelVariables, type Recipe, trainStep} from './step.js';

export interface RunSettings {
  format: 'pldr-run';
  version: 1;
  corpus: string[];
  corpusOptions: CorpusOptions;
  config: ModelConfig;
  /** v510G only: where the constant G comes from (identity, random, or a G file). */
  gInit?: string;
  /**
   * Start from this model's weights (and a v510G model's G) instead of fresh ones: a model
   * directory, a reference .pth or a Hugging Face snapshot, by absolute path (pldr train --init-from).
   */
  initFrom?: string;
  recipe: Recipe;
  batchSize: number;
  /** Model input positions per row; windows hold context + 1 tokens. */
  context: number;
  seed: number;
  /** Windows held out for validation: a count (≥ 1) or a fraction (< 1). */
  validation: number;
  valEvery: number;
  valBatches: number;
  ckptEvery: number;
  logEvery: number;
  /** The run's own stopping rules: they hold on every resume unless the resume overrides them. */
  stop?: StopRules;
}

export interface StopRules {
  maxSteps?: number;
  maxTokens?: number;
  timeLimitS?: number;
}

/** What a resume may change: the stopping rules and the schedule's length. */
export type RunLimits = StopRules & {totalSteps?: number};

/** 'finished': a resumed run had already met its stopping rule; nothing was done. */
export type StopReason = 'max-steps' | 'max-tokens' | 'time-limit' | 'interrupted' | 'non-finite' | 'end' | 'finished';

export type TrainEvent =
  | {type: 'data'; phase: string; documents: number; tokens: number; bytesRead: number; bytesTotal: number}
  | {
      type: 'start';
      params: number;
      trainWindows: number;
      valWindows: number;
      batchesPerEpoch: number;
      resumedAt: number;
      totalTokens: number;
    }
  | {
      type: 'step';
      update: number;
      loss: number;
      accuracy: number;
      lr: number;
      tokens: number;
      tokensPerS: number;
      elapsedS: number;
      etaS: number | null;
      progress: number | null;
      dag?: {A_LM: number; A_P: number; G_LM: number};
    }
  | {type: 'val'; update: number; loss: number; accuracy: number; perplexity: number}
  | {type: 'checkpoint'; update: number; path: string}
  | {type: 'stop'; reason: StopReason; update: number; message: string};

export interface RunHooks {
  onEvent?: (e: TrainEvent) => void;
  /** Polled after every update; true stops the run after a checkpoint (Ctrl-C). */
  interrupted?: () => boolean;
}

export interface RunResult {
  reason: StopReason;
  updates: number;
  tokens: number;
  valLoss?: number;
  curves?: {svg: string; png: string; terminal: string};
}

const RUN_FILE = 'run.json';

/**
 * Check `train --out DIR` before any work A folder holding a pldr run is ours:
 * with a checkpoint it is refused (resume it instead) unless `force`; without one (a run that never
 * reached its first checkpoint) it is set up anew. Any other folder follows checkOutputDir: never
 * one of the inputs, never a non-empty folder unless `force`.
 */
export function checkRunOut(dir: string, opts: {force: boolean; inputs: string[]}): void {
  const ours = existsSync(join(dir, RUN_FILE));
  checkOutputDir(dir, {force: opts.force || ours, inputs: opts.inputs, flag: '--out'});
  if (ours && !opts.force && hasCheckpoint(dir))
    throw new PldrError(
      `${dir} already holds a run: resume it with --resume ${dir}, or choose another --out (--force replaces it)`,
    );
}

/** What a new run made of its folder: the folder itself, everything in it, or neither (a run set up anew). */
export interface NewRunDir {
  made: 'folder' | 'contents' | 'none';
  release: () => void;
}

/**
 * Create (or take) the folder of a new run and lock it, after checkRunOut. With `force`, whatever
 * the folder held is removed now, once every check has passed.
 */
export function makeRunDir(dir: string, opts: {force: boolean}): NewRunDir {
  const existed = existsSync(dir);
  try {
    mkdirSync(dir, {recursive: true});
  } catch (e) {
    throw new PldrError(`cannot create the run folder ${dir}: ${fsMessage(e)}`);
  }
  const release = lockRun(dir);
  const others = readdirSync(dir).filter((n) => n !== LOCK_FILE);
  if (opts.force) for (const n of others) rmSync(join(dir, n), {recursive: true, force: true});
  return {made: !existed ? 'folder' : opts.force || others.length === 0 ? 'contents' : 'none', release};
}

/** Remove what a new run made, when it failed before saving anything: never what it did not make. */
export function discardRunDir(dir: string, r: NewRunDir): void {
  if (hasCheckpoint(dir)) return;
  r.release();
  if (r.made === 'folder') rmSync(dir, {recursive: true, force: true});
  else if (r.made === 'contents')
    for (const n of readdirSync(dir)) rmSync(join(dir, n), {recursive: true, force: true});
}

export function readRunSettings(runDir: string): RunSettings {
  const file = join(runDir, RUN_FILE);
  if (!existsSync(file)) throw new PldrError(`${runDir} is not a training run (no ${RUN_FILE})`);
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as RunSettings;
    if (s.format !== 'pldr-run') throw new Error('not a pldr run');
    return s;
  } catch (e) {
    throw new PldrError(`${file} is not a pldr run file: ${(e as Error).message.split('\n')[0]}`);
  }
}

/**
 * Write RUN_DIR's settings and tokenizer (the folder made by makeRunDir), the model's vocabulary being the
 * tokenizer's. A run that never reached a checkpoint is set up anew (its token cache is reused when it still matches).
 */
export async function createRun(runDir: string, settings: RunSettings, tokenizer: string): Promise<void> {
  settings.config.input_vocab_size = (await Tokenizer.load(tokenizer)).vocabSize;
  validateConfig(settings.config, 'the model');
  try {
    copyFileSync(tokenizer, join(runDir, 'tokenizer.model'));
    writeRunSettings(runDir, settings);
  } catch (e) {
    if (e instanceof PldrError) throw e;
    throw new PldrError(`cannot write the run folder ${runDir}: ${fsMessage(e)}`);
  }
}

function writeRunSettings(runDir: string, s: RunSettings): void {
  writeFileAtomic(join(runDir, RUN_FILE), [Buffer.from(JSON.stringify(s, null, 1) + '\n')]); // a kill mid-write must not lose the run
}

/** The constant G of a v510G model: identity, "random" (uniform [0, 1), as the reference's files: T11), or a G file. */
export function constantG(cfg: ModelConfig, gInit: string, seed: number): HostTensor[] {
  const H = cfg.num_heads;
  const dk = cfg.d_model / H;
  const shape = [1, H, dk, dk];
  if (gInit === 'identity' || gInit === 'random') {
    const rng = new Rng(seed + 7919);
    return Array.from({length: cfg.num_layers}, () => {
      const data = new Float32Array(H * dk * dk);
      for (let i = 0; i < data.length; i++)
        data[i] = gInit === 'identity' ? (Math.floor(i / dk) % dk === i % dk ? 1 : 0) : rng.next();
      return {dtype: 'F32' as const, shape, data};
    });
  }
  const g = readGList(gInit);
  if (g.layers.length !== cfg.num_layers)
    throw new PldrError(`${gInit} holds ${g.layers.length} layers of G, the model has ${cfg.num_layers}`);
  return g.layers.map((l, i) => {
    checkGShape(l.G_LM, H, dk, `${gInit}: layer ${i} G_LM`);
    return {dtype: 'F32' as const, shape, data: Float32Array.from(l.G_LM.data as Float32Array)};
  });
}

/**
 * The weights a run starts from with --init-from: the model's own, checked against the run's config
 * (its keys and shapes, its RoPE style), so a model changed since the run was created is refused.
 */
function initialFilesFrom(path: string, config: ModelConfig, runDir: string): ModelFiles {
  const init = readModelFiles(path);
  if (ropeStyle(init.config) !== ropeStyle(config))
    throw new PldrError(
      `${path} now has ${ropeStyle(init.config)} RoPE, the run ${runDir} was made for ${ropeStyle(config)}`,
    );
  const files: ModelFiles = {config, weights: init.weights, G: init.G, source: runDir};
  checkModelFiles(files);
  return files;
}

/**
 * Train RUN_DIR (hold its lock): a new run from update 1, or, with `resume`, from its checkpoint,
 * which must be whole (recoverCheckpoint) or the resume is refused before anything changes. The
 * run's stopping rules come from run.json; `limits` overrides them (and is then kept there). A
 * resumed run that already met its rule returns at once with reason 'finished', changing nothing.
 */
export async function runTraining(
  runDir: string,
  opts: {resume: boolean; limits: RunLimits},
  hooks: RunHooks = {},
): Promise<RunResult> {
  const s = readRunSettings(runDir);
  validateConfig(s.config, join(runDir, RUN_FILE)); // a run file's sizes are checked like a config.json's
  checkRunFits(s, runDir, opts.resume);
  const emit = hooks.onEvent ?? (() => {});
  const tokenizerPath = join(runDir, 'tokenizer.model');
  const {totalSteps, ...overrides} = opts.limits;
  const stop: StopRules = {
    ...s.stop,
    ...Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined)),
  };

  // Leftovers of a cut-short checkpoint write are cleared (or the previous checkpoint put back) either way.
  const hasSaved = recoverCheckpoint(runDir);
  let saved: Checkpoint | undefined;
  if (opts.resume) {
    if (!hasSaved)
      throw new PldrError(
        `${runDir} has no checkpoint to resume from (the run stopped before its first one): start it again with --out ${runDir}`,
      );
    saved = readCheckpoint(runDir);
    const done = stopReason(stop, saved.progress, saved.progress.elapsedS);
    if (done) {
      const message = `${runDir} has already finished: it ${done[1]}; nothing to do (raise that limit on the resume command line to train further)`;
      emit({type: 'stop', reason: 'finished', update: saved.progress.updates, message});
      return {
        reason: 'finished',
        updates: saved.progress.updates,
        tokens: saved.progress.tokens,
        valLoss: saved.progress.valLoss,
      };
    }
  }
  s.stop = stop;
  if (totalSteps !== undefined) s.recipe.totalSteps = totalSteps;
  writeRunSettings(runDir, s);

  // Data: tokenized once into the cache, then windows of context + 1 tokens.
  const cache = await buildTokenCache({
    dir: dataDir(runDir),
    inputs: s.corpus,
    corpus: s.corpusOptions,
    tokenizerPath,
    onProgress: (p) =>
      emit({
        type: 'data',
        phase: p.phase,
        documents: p.documents,
        tokens: p.tokens,
        bytesRead: p.bytesRead,
        bytesTotal: p.bytesTotal,
      }),
  });
  if (cache.vocabSize !== s.config.input_vocab_size)
    throw new PldrError(
      `the tokenizer has ${cache.vocabSize} pieces but the model's vocabulary is ${s.config.input_vocab_size}`,
    );
  const validation = s.validation >= 1 ? {count: Math.floor(s.validation)} : {fraction: s.validation};
  const data = new PackedDataset(cache, {context: s.context, validation, seed: s.seed});
  if (data.trainCount < s.batchSize * s.recipe.gradAccum)
    throw new PldrError(
      `the corpus gives ${data.trainCount} training windows of ${s.context + 1} tokens, fewer than one update needs (${s.batchSize * s.recipe.gradAccum}): use more text, a smaller --context or --batch-size`,
    );

  // The schedule's length T, when not given: one epoch of updates, fixed in run.json for resumes.
  if (!(s.recipe.totalSteps > 0)) {
    s.recipe.totalSteps = Math.max(1, Math.floor(data.batchesPerEpoch(s.batchSize) / s.recipe.gradAccum));
    writeRunSettings(runDir, s);
  }

  // Model and optimiser: fresh, or from the checkpoint.
  let files: ModelFiles;
  let progress: Progress;
  let optState;
  if (saved) {
    files = saved.files;
    progress = saved.progress;
    optState = saved.optimizer;
  } else {
    files = s.initFrom
      ? initialFilesFrom(s.initFrom, s.config, runDir)
      : {
          config: s.config,
          weights: initWeights(s.config, s.seed),
          G: s.config.variant === 'v510G' ? constantG(s.config, s.gInit ?? 'identity', s.seed) : undefined,
          tokenizer: tokenizerPath,
          source: runDir,
        };
    progress = {updates: 0, tokens: 0, elapsedS: 0, data: data.startPosition()};
  }
  files.tokenizer = tokenizerPath;
  const model = instantiate(files);
  const vars = modelVariables(model);
  const opt = new AdamW(vars, {weightDecay: s.recipe.weightDecay});
  if (optState) opt.loadState(optState);
  truncateMetrics(runDir, progress.updates);

  let params = 0;
  for (const t of files.weights.values()) params += t.data.length;
  emit({
    type: 'start',
    params,
    trainWindows: data.trainCount,
    valWindows: data.valCount,
    batchesPerEpoch: data.batchesPerEpoch(s.batchSize),
    resumedAt: progress.updates,
    totalTokens: cache.totalTokens,
  });

  const tokensPerUpdate = s.batchSize * s.recipe.gradAccum * s.context;
  const valSet = [...data.valBatches(s.batchSize, {dropLast: false})].slice(0, s.valBatches);
  const batches = data.batches(s.batchSize, progress.data as BatchPosition);
  const started = performance.now();
  const elapsedBefore = progress.elapsedS; // the earlier sessions' time; progress.elapsedS moves on at each checkpoint
  const elapsed = () => elapsedBefore + (performance.now() - started) / 1000;
  let reason: StopReason;
  let message: string;
  let sinceLog: {loss: number; accuracy: number; n: number} = {loss: 0, accuracy: 0, n: 0};
  const sessionStart = {updates: progress.updates, tokens: progress.tokens};

  const validate = (): number | undefined => {
    if (valSet.length === 0) return undefined;
    const v = evalLoss(
      model,
      vars as unknown as Map<string, tf.Tensor>,
      valSet,
      s.recipe.dag ? {dag: s.recipe.dag} : {},
    );
    const line = {
      type: 'val',
      update: progress.updates,
      loss: v.loss,
      ce: v.ce,
      accuracy: v.accuracy,
      perplexity: Math.exp(v.ce),
      tokens: progress.tokens,
      elapsed_s: elapsed(),
    };
    appendFileSync(join(runDir, 'metrics.jsonl'), JSON.stringify(line) + '\n');
    emit({type: 'val', update: progress.updates, loss: v.loss, accuracy: v.accuracy, perplexity: Math.exp(v.ce)});
    progress.valLoss = v.loss;
    return v.loss;
  };
  let lastCheckpoint = -1;
  let lastSaved = saved?.progress.updates;
  const checkpoint = () => {
    if (lastCheckpoint === progress.updates) return;
    lastCheckpoint = progress.updates;
    lastSaved = progress.updates;
    progress.elapsedS = elapsed();
    writeCheckpoint(runDir, {
      files: {...files, weights: hostWeights(s.config, vars)},
      optimizer: opt.state(),
      progress: {...progress},
    });
    emit({type: 'checkpoint', update: progress.updates, path: join(runDir, 'checkpoint')});
  };

  try {
    for (;;) {
      const stopNow = stopReason(stop, progress, elapsed());
      if (stopNow) {
        [reason, message] = stopNow;
        break;
      }
      const micro: number[][][] = [];
      let next = progress.data as BatchPosition;
      for (let i = 0; i < s.recipe.gradAccum; i++) {
        const b = batches.next().value!;
        micro.push(b.rows);
        next = b.next;
      }
      const r = trainStep(model, vars, opt, micro, progress.updates + 1, s.recipe);
      const broke = !r.finite
        ? `gave a non-finite loss or gradient (loss ${r.loss})`
        : !allFinite(vars)
          ? `made a parameter non-finite (loss before it ${r.loss})`
          : undefined;
      if (broke) {
        const fix = r.finite ? 'lower --lr' : 'lower --lr or check the data';
        if (!hasCheckpoint(runDir))
          throw new PldrError(
            `update ${progress.updates + 1} ${broke} before the run's first checkpoint, so nothing was saved: ${fix}`,
          );
        reason = 'non-finite';
        message = `update ${progress.updates + 1} ${broke}: stopped; the last good checkpoint is kept, from update ${lastSaved} (${fix})`;
        break;
      }
      progress.updates++;
      progress.tokens += tokensPerUpdate;
      progress.data = next;
      sinceLog.loss += r.loss;
      sinceLog.accuracy += r.accuracy;
      sinceLog.n++;

      if (progress.updates % s.logEvery === 0 || progress.updates === 1) {
        const el = elapsed();
        const sessionS = (performance.now() - started) / 1000;
        const tps = (progress.tokens - sessionStart.tokens) / Math.max(sessionS, 1e-9);
        const frac = fractionDone(stop, progress, el);
        const etaS =
          frac !== null && frac > 0
            ? (sessionS * (1 - frac)) / Math.max(frac - fractionAt(stop, sessionStart, elapsedBefore), 1e-9)
            : null;
        const line = {
          type: 'train',
          update: progress.updates,
          loss: sinceLog.loss / sinceLog.n,
          accuracy: sinceLog.accuracy / sinceLog.n,
          lr: r.lr,
          tokens: progress.tokens,
          elapsed_s: el,
          ...(r.dag ? {dag: r.dag} : {}),
        };
        appendFileSync(join(runDir, 'metrics.jsonl'), JSON.stringify(line) + '\n');
        emit({
          type: 'step',
          update: progress.updates,
          loss: line.loss,
          accuracy: line.accuracy,
          lr: r.lr,
          tokens: progress.tokens,
          tokensPerS: tps,
          elapsedS: el,
          etaS,
          progress: frac,
          ...(r.dag ? {dag: r.dag} : {}),
        });
        sinceLog = {loss: 0, accuracy: 0, n: 0};
      }
      if (s.valEvery > 0 && progress.updates % s.valEvery === 0) validate();
      if (s.ckptEvery > 0 && progress.updates % s.ckptEvery === 0) checkpoint();
      // Let the event loop breathe: progress output reaches a pipe, and Ctrl-C's handler can run.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (hooks.interrupted?.()) {
        reason = 'interrupted';
        message = `interrupted after update ${progress.updates}`;
        break;
      }
    }
    if (reason !== 'non-finite') {
      if (progress.valLoss === undefined || (s.valEvery > 0 && progress.updates % s.valEvery !== 0) || s.valEvery === 0)
        validate();
      checkpoint();
    }
  } finally {
    tf.dispose([...vars.values()]);
    model.dispose();
    opt.dispose();
    cache.close();
  }
  emit({type: 'stop', reason, update: progress.updates, message});
  const curves = await writeCurves(runDir);
  return {reason, updates: progress.updates, tokens: progress.tokens, valLoss: progress.valLoss, curves};
}

/**
 * Refuse a run the backend cannot hold. A resume keeps the run's model, batch size and context
 * (fixed when it is created; the resume refuses --batch-size and --context), so its advice names
 * only what a resume can change, the backend, or a new run.
 */
function checkRunFits(s: RunSettings, runDir: string, resume: boolean): void {
  const work = {rows: s.batchSize, context: s.context};
  if (!resume) return checkModelFits(s.config, work);
  const need = backendBytes(s.config, work).total;
  const {name, bytes} = backendCapacity();
  if (need <= bytes) return;
  const gb = (n: number) => `${(n / 1e9).toFixed(1)} GB`;
  const limit = name === 'wasm' ? 'the 4 GiB heap of the wasm backend' : `the ${gb(bytes)} of this machine's memory`;
  const ways = `${name === 'wasm' ? 'resume with --backend tensorflow, or ' : ''}start a new run (--out) with a smaller model, --batch-size or --context`;
  throw new PldrError(
    `${runDir}: training needs about ${gb(need)} for ${s.batchSize} × ${s.context} positions, over ${limit}; a resume keeps the run's model, batch size and context: ${ways}`,
  );
}

function stopReason(
  stop: StopRules,
  p: {updates: number; tokens: number},
  elapsedS: number,
): [StopReason, string] | undefined {
  if (stop.maxSteps !== undefined && p.updates >= stop.maxSteps)
    return ['max-steps', `reached ${stop.maxSteps} updates (--max-steps)`];
  if (stop.maxTokens !== undefined && p.tokens >= stop.maxTokens)
    return ['max-tokens', `reached ${stop.maxTokens} training tokens (--max-tokens)`];
  if (stop.timeLimitS !== undefined && elapsedS >= stop.timeLimitS)
    return ['time-limit', `reached the time limit of ${stop.timeLimitS} s (--time-limit)`];
  return undefined;
}

/** How far the binding stop rule is, in [0, 1], or null when the run has no limit. */
function fractionDone(stop: StopRules, p: {updates: number; tokens: number}, elapsedS: number): number | null {
  const f: number[] = [];
  if (stop.maxSteps) f.push(p.updates / stop.maxSteps);
  if (stop.maxTokens) f.push(p.tokens / stop.maxTokens);
  if (stop.timeLimitS) f.push(elapsedS / stop.timeLimitS);
  return f.length ? Math.min(1, Math.max(...f)) : null;
}
function fractionAt(stop: StopRules, p: {updates: number; tokens: number}, elapsedS: number): number {
  return fractionDone(stop, p, elapsedS) ?? 0;
}

function allFinite(vars: Map<string, tf.Variable>): boolean {
  const flag = tf.tidy(() => tf.min(tf.stack([...vars.values()].map((v) => tf.all(tf.isFinite(v)).toFloat()))));
  const ok = flag.dataSync()[0] === 1;
  flag.dispose();
  return ok;
}

/** The training variables as reference-named host tensors in state-dict order. */
function hostWeights(cfg: ModelConfig, vars: Map<string, tf.Variable>): StateDict {
  const sd: StateDict = new Map();
  for (const {key, shape} of stateDictSpec(cfg))
    sd.set(key, {dtype: 'F32', shape, data: vars.get(key)!.dataSync() as Float32Array});
  return sd;
}

/** Drop metric lines logged after the checkpoint a resumed run starts from, so the log has no repeats. */
function truncateMetrics(runDir: string, updates: number): void {
  const file = join(runDir, 'metrics.jsonl');
  if (!existsSync(file)) return;
  const kept = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .filter((l) => {
      try {
        return (JSON.parse(l) as {update: number}).update <= updates;
      } catch {
        return false;
      }
    });
  writeFileAtomic(file, [Buffer.from(kept.map((l) => l + '\n').join(''))]);
}

interface MetricLine {
  type: 'train' | 'val';
  update: number;
  loss: number;
  accuracy: number;
}

export function readMetrics(runDir: string): MetricLine[] {
  const file = join(runDir, 'metrics.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as MetricLine);
}

/** Loss and accuracy against updates, train and validation: SVG, PNG, and a terminal chart. */
export async function writeCurves(runDir: string): Promise<{svg: string; png: string; terminal: string} | undefined> {
  const m = readMetrics(runDir);
  if (m.length === 0) return undefined;
  const series = (type: 'train' | 'val', key: 'loss' | 'accuracy') =>
    m.filter((x) => x.type === type).map((x) => [x.update, x[key]] as [number, number]);
  const panel = (key: 'loss' | 'accuracy', title: string) => ({
    title,
    xLabel: 'update',
    yLabel: key,
    series: [
      {name: 'train', points: series('train', key)},
      {name: 'validation', points: series('val', key), dashed: true},
    ],
    ...(key === 'accuracy' ? {yMin: 0} : {}),
  });
  const svg = await multiPanelSvg([panel('loss', 'Loss'), panel('accuracy', 'Accuracy')], {
    title: `pldr train — ${runDir}`,
  });
  const svgPath = join(runDir, 'curves.svg');
  const pngPath = join(runDir, 'curves.png');
  writeFileSync(svgPath, svg);
  writeFileSync(pngPath, svgToPng(svg, {width: 1400}));
  const terminal = terminalChart(
    [
      {name: 'train loss', values: series('train', 'loss').map((p) => p[1])},
      {name: 'validation loss', values: series('val', 'loss').map((p) => p[1])},
    ],
    {height: 10, width: 70},
  );
  return {svg: svgPath, png: pngPath, terminal};
}
