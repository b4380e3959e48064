/**
 * Reading a fine-tuned classifier snapshot for running it (pldr classify): the base model's files
 * and the task head of heads.ts.
 */
import {existsSync, statSync} from 'node:fs';

import type {SpecialTokens} from '../../classify.js';
import type {ModelConfig} from '../../config.js';
import {PldrError} from '../../errors.js';
import {checkModelFiles, type ModelFiles, writeHfModelDir} from '../model-files.js';
import type {StateDict} from '../tensor.js';
import {type HfArchitecture, HF_SEQUENCE_CLASSIFICATION, HF_TOKEN_CLASSIFICATION} from './config.js';
import {readTaskHead, type TaskHead, taskHeadConfig, taskHeadTensors, taskOf} from './heads.js';
import {isHfSnapshot, pastGValuesFromGList, readHfConfig, readHfSnapshot, snapshotGList} from './snapshot.js';

/** A classifier snapshot read: the base model's files (ModelFiles) and its head. */
export interface ClassifierFiles extends ModelFiles {
  head: TaskHead;
}

/**
 * Read a fine-tuned classifier snapshot (PldrllmForSequenceClassification / ...TokenClassification).
 * Anything else — a causal LM snapshot, our model directory, a .pth — is refused with one line.
 *
 * The base model runs on our PldrModel, which always ends in an LM head; a classifier has none, so
 * a zero `final_layer` stands in (its logits are never read: classification reads the hidden state).
 */
export function readClassifierFiles(path: string): ClassifierFiles {
  if (!existsSync(path)) throw new PldrError(`no such model: ${path} (give a Hugging Face classifier snapshot folder)`);
  if (!statSync(path).isDirectory() || !isHfSnapshot(path)) {
    throw new PldrError(
      `${path} is not a classifier: pldr classify needs a Hugging Face snapshot of a ${HF_SEQUENCE_CLASSIFICATION} or ${HF_TOKEN_CLASSIFICATION} (for text generation use pldr generate)`,
    );
  }
  const snap = readHfSnapshot(path);
  const {config, architecture, json, tokens} = snap.hf;
  const task = taskOf(architecture);
  if (!task)
    throw new PldrError(
      `${path} is a ${architecture}, not a classifier: pldr classify needs a ${HF_SEQUENCE_CLASSIFICATION} or ${HF_TOKEN_CLASSIFICATION} (for text generation use pldr generate)`,
    );
  const head = readTaskHead(architecture, json, snap.extras, config.d_model, tokens.pad, path)!;
  const files: ClassifierFiles = {
    config,
    weights: withStandInLmHead(snap.weights, config),
    source: path,
    hf: snap,
    head,
  };
  if (snap.tokenizer) files.tokenizer = snap.tokenizer;
  const G = snapshotGList(snap, path, taskHeadTensors(head).keys());
  if (G) files.G = G;
  if (snap.weights.has('final_layer.weight'))
    throw new PldrError(
      `${path} holds final_layer.weight, an LM head, but config.json's architectures say ${architecture}`,
    );
  checkModelFiles(files);
  return files;
}

/** The weights plus a zero final_layer [V, d] and bias [V], in state-dict order (last). */
function withStandInLmHead(weights: StateDict, cfg: ModelConfig): StateDict {
  const out: StateDict = new Map(weights);
  const V = cfg.input_vocab_size;
  const d = cfg.d_model;
  out.set('final_layer.weight', {dtype: 'F32', shape: [V, d], data: new Float32Array(V * d)});
  out.set('final_layer.bias', {dtype: 'F32', shape: [V], data: new Float32Array(V)});
  return out;
}

/**
 * How the snapshot's tokenizer adds special tokens (tokenizer_config.json; without one,
 * PldrllmTokenizer's defaults: bos added, eos not), with their ids from the SentencePiece model or
 * else config.json.
 */
export function headSpecialTokens(
  files: ClassifierFiles,
  pieceToId: (piece: string) => number | undefined,
): SpecialTokens {
  const s = files.hf?.tokenizerSettings;
  const tokens = files.hf!.hf.tokens;
  const id = (role: 'bos' | 'eos', fallback: number | null) => {
    const piece = s?.tokens[role];
    return (piece !== undefined ? pieceToId(piece) : undefined) ?? fallback;
  };
  return {
    addBos: s?.addBos ?? true,
    addEos: s?.addEos ?? false,
    bosId: id('bos', tokens.bos),
    eosId: id('eos', tokens.eos[0] ?? null),
  };
}

/**
 * Write a classifier snapshot folder (the base model without the stand-in LM head, the head's
 * `score` tensors and its config fields), atomically as writeHfModelDir. Returns the file names written.
 */
export function writeClassifierDir(dir: string, files: ClassifierFiles, opts: {replace?: boolean} = {}): string[] {
  const {head} = files;
  const weights: StateDict = new Map([...files.weights].filter(([k]) => !k.startsWith('final_layer.')));
  const extras: StateDict = new Map([
    ...(files.G ? pastGValuesFromGList(files.G, files.config) : []),
    ...taskHeadTensors(head),
  ]);
  const {architectures, ...fields} = taskHeadConfig(head);
  return writeHfModelDir(
    dir,
    {...files, weights},
    {replace: opts.replace, architecture: (architectures as HfArchitecture[])[0], extras, extra: fields},
  );
}

/** True for a Hugging Face snapshot folder whose architecture is a classifier. */
export function isClassifierSnapshot(path: string): boolean {
  return (
    existsSync(path) &&
    statSync(path).isDirectory() &&
    isHfSnapshot(path) &&
    taskOf(readHfConfig(path).architecture) !== undefined
  );
}
