/** Classifier snapshots built at test time: a base model's weights plus a seeded `score` head, laid out as Transformers saves them. */
import {mkdirSync} from 'node:fs';
import {join} from 'node:path';

import {HF_SEQUENCE_CLASSIFICATION, HF_TOKEN_CLASSIFICATION} from '../../../../src/core/io/hf/config.js';
import {
  type ProblemType,
  type TaskHead,
  type TaskKind,
  taskHeadConfig,
  taskHeadTensors,
} from '../../../../src/core/io/hf/heads.js';
import {pastGValuesFromGList, writeHfSnapshotFiles} from '../../../../src/core/io/hf/snapshot.js';
import {type ModelFiles, readModelFiles, writeHfModelDir} from '../../../../src/core/io/model-files.js';
import type {StateDict} from '../../../../src/core/io/tensor.js';
import {fixture} from '../../../helpers.js';

/** tiny-public's d_model, and the labels of the test heads. */
export const D = 16;
export const SEQ_LABELS = ['NEGATIVE', 'NEUTRAL', 'POSITIVE'];
export const TOK_LABELS = ['O', 'B-PER', 'I-PER', 'B-LOC'];

/** Uniform values in [-scale, scale) from a small LCG: the same head on every machine. */
export function seeded(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 2 * scale;
  }
  return out;
}

export function seededHead(
  task: TaskKind,
  labels: string[],
  d: number,
  seed: number,
  problemType: ProblemType | null = null,
  pad: number | null = 0,
): TaskHead {
  const C = labels.length;
  const head: TaskHead = {
    task,
    labels,
    problemType,
    padTokenId: pad,
    weight: {dtype: 'F32', shape: [C, d], data: seeded(C * d, seed, 0.25)},
  };
  if (task === 'token-classification') head.bias = {dtype: 'F32', shape: [C], data: seeded(C, seed + 1, 0.25)};
  return head;
}

/**
 * Write `base` (its LM head dropped) with `head` into a new snapshot folder DIR; `config` fields
 * are merged into config.json last (to break it on purpose), `drop`/`add` change the tensors.
 */
export function writeClassifierSnapshot(
  dir: string,
  base: ModelFiles,
  head: TaskHead,
  opts: {config?: Record<string, unknown>; drop?: string[]; add?: StateDict; tokenizer?: string; addBos?: boolean} = {},
): string {
  mkdirSync(dir, {recursive: true});
  const weights: StateDict = new Map([...base.weights].filter(([k]) => !k.startsWith('final_layer.')));
  const extras: StateDict = new Map([
    ...taskHeadTensors(head),
    ...(base.G ? pastGValuesFromGList(base.G, base.config) : []),
    ...(opts.add ?? []),
  ]);
  for (const k of opts.drop ?? []) {
    weights.delete(k);
    extras.delete(k);
  }
  writeHfSnapshotFiles(dir, base.config, weights, {
    architecture: head.task === 'sequence-classification' ? HF_SEQUENCE_CLASSIFICATION : HF_TOKEN_CLASSIFICATION,
    extras,
    extra: {...taskHeadConfig(head), ...opts.config},
    tokenizer: opts.tokenizer,
    tokenizerSettings: opts.tokenizer ? {addBos: opts.addBos ?? true, tokens: {}, files: []} : undefined,
  });
  return dir;
}

/** tiny-public in `tmp` as a sequence classifier (head seed 11), a token classifier (seed 23) and a causal LM snapshot. */
export function writeTinyPublicSnapshots(tmp: string): {seqDir: string; tokDir: string; lmDir: string} {
  const base = readModelFiles(fixture('tiny-public').checkpoint);
  const seqDir = writeClassifierSnapshot(
    join(tmp, 'seq'),
    base,
    seededHead('sequence-classification', SEQ_LABELS, D, 11),
  );
  const tokDir = writeClassifierSnapshot(join(tmp, 'tok'), base, seededHead('token-classification', TOK_LABELS, D, 23));
  const lmDir = join(tmp, 'lm');
  writeHfModelDir(lmDir, base);
  return {seqDir, tokDir, lmDir};
}
