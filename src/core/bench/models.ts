/**
 * Models for timing: a trained model directory or a preset with seeded random weights, the end-token suppression
 * that makes every run generate exactly the tokens asked for, and the external G list of the ext-g mode.
 */
import {basename, resolve} from 'node:path';

import * as tf from '@tensorflow/tfjs';

import {dk as headWidth, type ModelConfig, paramCounts} from '../config.js';
import {PldrError} from '../errors.js';
import {gListOf, inferDeductive} from '../export-g.js';
import {END_ID, promptIds as feedRule} from '../generate.js';
import type {GList} from '../io/glist.js';
import {instantiate, readModelFiles} from '../io/model-files.js';
import type {HostTensor} from '../io/tensor.js';
import type {PldrModel} from '../model/pldr.js';
import type {ForwardOptions, ForwardResult} from '../model/forward.js';
import {REMOVED} from '../sampling.js';
import {Tokenizer} from '../tokenizer.js';
import {initWeights} from '../train/init.js';
import {PAPER_PROMPT, PAPER_PROMPT_LENGTH, type BenchMode} from './protocol.js';
import {type ModelFamily, findBenchPreset, type ModelSpec} from './presets.js';

export interface BenchModel {
  /** Short name used in tables and scenario ids. */
  label: string;
  /** "preset …" or the path. */
  source: string;
  /** What the model is, in words. */
  description: string;
  family: ModelFamily;
  config: ModelConfig;
  params: number;
  /** True for presets: seeded random weights. */
  randomWeights: boolean;
  model: PldrModel;
  tokenizer?: Tokenizer;
  endId: number;
  /** The prompt fed (tokenized paper prompt, or the fixed ids). */
  promptIds: number[];
  promptSource: 'tokenizer' | 'fixed ids';
}

/** A fixed prompt of `n` ids spread over the vocabulary, avoiding the special ids 0–3. */
export function fixedPromptIds(vocab: number, n = PAPER_PROMPT_LENGTH): number[] {
  if (vocab <= 4) throw new PldrError(`a vocabulary of ${vocab} has no ordinary token ids`);
  return Array.from({length: n}, (_, i) => 4 + ((i * 7919 + 101) % (vocab - 4)));
}

/** A constant G of `diag`·I per head and layer: the identity (SDPA), or any other G (its cost is that of every constant G). */
function diagonalG(cfg: ModelConfig, diag: number): HostTensor[] {
  const H = cfg.num_heads;
  const k = headWidth(cfg);
  return Array.from({length: cfg.num_layers}, () => {
    const data = new Float32Array(H * k * k);
    for (let h = 0; h < H; h++) for (let i = 0; i < k; i++) data[h * k * k + i * k + i] = diag;
    return {dtype: 'F32' as const, shape: [1, H, k, k], data};
  });
}

/** The model decides what it is: PLDR, or a constant G that is exactly the identity (SDPA) or not. */
function familyOf(model: PldrModel): ModelFamily {
  return !model.isG ? 'pldr' : model.isSdpa ? 'sdpa' : 'constant-g';
}

/** Load a model for timing: a directory (with its tokenizer, when it has one) or a preset with seeded random weights. */
export async function loadBenchModel(spec: ModelSpec, seed = 0): Promise<BenchModel> {
  if ('dir' in spec) {
    const files = readModelFiles(spec.dir);
    const cfg = files.config;
    const tokenizer = files.tokenizer ? await Tokenizer.load(files.tokenizer) : undefined;
    if (tokenizer && tokenizer.vocabSize > cfg.input_vocab_size)
      throw new PldrError(
        `${files.tokenizer}: the tokenizer has ${tokenizer.vocabSize} pieces, the model only ${cfg.input_vocab_size}`,
      );
    const endId = tokenizer?.endId ?? END_ID;
    const model = instantiate(files);
    const family = familyOf(model);
    const prompt = tokenizer ? tokenizer.promptIds(PAPER_PROMPT) : fixedPromptIds(cfg.input_vocab_size);
    return {
      label: basename(resolve(spec.dir)).replace(/\.pth$/, ''),
      source: spec.dir,
      description: `model directory ${spec.dir} (${cfg.variant}${cfg.source ? `, G from ${cfg.source}` : ''})`,
      family,
      config: cfg,
      params: paramCounts(cfg).total,
      randomWeights: false,
      model,
      ...(tokenizer ? {tokenizer} : {}),
      endId,
      promptIds: prompt,
      promptSource: tokenizer ? 'tokenizer' : 'fixed ids',
    };
  }
  const p = findBenchPreset(spec.preset);
  const cfg = p.config;
  const replacedG = cfg.variant === 'v510G' && cfg.source !== 'identity';
  const G = cfg.variant === 'v510G' ? diagonalG(cfg, replacedG ? 0.5 : 1) : undefined;
  const model = instantiate({
    config: cfg,
    weights: initWeights(cfg, seed),
    ...(G ? {G} : {}),
    source: `preset ${p.name}`,
  });
  return {
    label: p.name,
    source: `preset ${p.name} (seeded random weights, seed ${seed})`,
    description: p.description + (replacedG ? ' (its G replaced by 0.5·I for timing: the cost of any constant G)' : ''),
    family: familyOf(model),
    config: cfg,
    params: paramCounts(cfg).total,
    randomWeights: true,
    model,
    endId: END_ID,
    promptIds: fixedPromptIds(cfg.input_vocab_size),
    promptSource: 'fixed ids',
  };
}

/** Which modes make sense for a model: a PLDRv51G model's G is constant (g ≡ none, kv+g ≡ kv, an external G costs what kv costs). */
export function applicableModes(family: ModelFamily, modes: readonly BenchMode[]): BenchMode[] {
  return family === 'pldr' ? [...modes] : modes.filter((m) => m === 'none' || m === 'kv');
}

/**
 * A view of `model` whose logits never choose `endId`: one tensor add of a [V] row that holds
 * −1e10 at `endId` (the filters' own "removed" value), so every run generates exactly the tokens
 * asked for. The cost is one small op per step, the same in every mode.
 */
export function suppressEnd(model: PldrModel, endId: number): {model: PldrModel; dispose: () => void} {
  const V = model.cfg.input_vocab_size;
  const row = new Float32Array(V);
  if (endId >= 0 && endId < V) row[endId] = REMOVED;
  const bias = tf.tensor3d(row, [1, 1, V]);
  const view = Object.create(model) as PldrModel;
  Object.defineProperty(view, 'forward', {
    value: (ids: number[][], opts?: ForwardOptions): ForwardResult => {
      const r = model.forward(ids, opts);
      const logits = tf.add(r.logits, bias) as tf.Tensor3D;
      r.logits.dispose();
      return {...r, logits};
    },
  });
  return {model: view, dispose: () => bias.dispose()};
}

/** The external G list of the ext-g mode: the model's own A_LM and G_LM for the empty prompt. */
export function emptyPromptGList(m: BenchModel): GList | undefined {
  if (m.family !== 'pldr') return undefined;
  return gListOf(inferDeductive(m.model, feedRule([], m.endId)));
}
