/**
 * Task heads of fine-tuned snapshots: PldrllmForSequenceClassification and
 * PldrllmForTokenClassification. Both put a linear `score` on the base model's last hidden state
 * (the output of the last decoder layer, [B, L, d]; there is no final norm):
 *
 *   sequence classification: score.weight [num_labels, d], no bias; the logits of the rightmost
 *     token that is not pad_token_id (the last token when pad_token_id is unset);
 *   token classification:    score.weight [num_labels, d] and score.bias [num_labels]; one row of
 *     logits per token (its dropout is training-only).
 *
 * Labels come from config.json as Transformers' PretrainedConfig reads them: `id2label`
 * ({"0": "NEGATIVE", ...}) decides num_labels; without it `num_labels` (default 2) and the names
 * LABEL_0, LABEL_1, ...; `problem_type` is null, "regression", "single_label_classification" or
 * "multi_label_classification".
 *
 * Nothing here loads tfjs (`pldr info` uses it): reading a classifier for running is classifier.ts.
 */
import {join} from 'node:path';

import {PldrError} from '../../errors.js';
import {isObject} from '../json.js';
import type {HostTensor, StateDict} from '../tensor.js';
import {type HfArchitecture, HF_SEQUENCE_CLASSIFICATION, HF_TOKEN_CLASSIFICATION} from './config.js';
import {readHfConfig} from './snapshot.js';

export type TaskKind = 'sequence-classification' | 'token-classification';
export const PROBLEM_TYPES = ['regression', 'single_label_classification', 'multi_label_classification'] as const;
export type ProblemType = (typeof PROBLEM_TYPES)[number];

export interface TaskHead {
  task: TaskKind;
  /** [num_labels, d] */
  weight: HostTensor;
  /** [num_labels]; token classification only */
  bias?: HostTensor;
  /** Label names by class index (id2label). */
  labels: string[];
  problemType: ProblemType | null;
  /** The padding id sequence classification skips when pooling; null pools the last token. */
  padTokenId: number | null;
}

const SCORE_WEIGHT = 'score.weight';
const SCORE_BIAS = 'score.bias';

export function taskOf(architecture: HfArchitecture): TaskKind | undefined {
  if (architecture === HF_SEQUENCE_CLASSIFICATION) return 'sequence-classification';
  if (architecture === HF_TOKEN_CLASSIFICATION) return 'token-classification';
  return undefined;
}

/** id2label (or num_labels) of a config.json → label names by index. */
export function readLabels(json: Record<string, unknown>, where: string): string[] {
  const map = json.id2label;
  if (map !== undefined && map !== null) {
    if (!isObject(map) || Object.keys(map).length === 0)
      throw new PldrError(`${where}: id2label must be an object {"0": "label", ...}`);
    const n = Object.keys(map).length;
    const labels: string[] = new Array(n);
    for (const [k, v] of Object.entries(map)) {
      const i = Number(k);
      if (!Number.isInteger(i) || i < 0 || i >= n || String(i) !== k)
        throw new PldrError(`${where}: id2label keys must be 0..${n - 1}, got "${k}"`);
      if (typeof v !== 'string')
        throw new PldrError(`${where}: id2label["${k}"] must be a label name, got ${JSON.stringify(v)}`);
      labels[i] = v;
    }
    const n2 = json.num_labels;
    if (n2 !== undefined && n2 !== null && n2 !== n)
      throw new PldrError(`${where}: num_labels ${JSON.stringify(n2)} disagrees with id2label's ${n} labels`);
    return labels;
  }
  const n = json.num_labels ?? 2;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0)
    throw new PldrError(`${where}: num_labels must be a positive integer, got ${JSON.stringify(n)}`);
  return Array.from({length: n}, (_, i) => `LABEL_${i}`);
}

function readProblemType(json: Record<string, unknown>, where: string): ProblemType | null {
  const p = json.problem_type;
  if (p === undefined || p === null) return null;
  if (typeof p === 'string' && (PROBLEM_TYPES as readonly string[]).includes(p)) return p as ProblemType;
  throw new PldrError(`${where}: problem_type ${JSON.stringify(p)} is unknown (use null, ${PROBLEM_TYPES.join(', ')})`);
}

function checkShape(t: HostTensor | undefined, name: string, want: number[], where: string): HostTensor {
  if (!t) throw new PldrError(`${where} lacks ${name}, the classifier's head: the snapshot is incomplete`);
  if (t.dtype !== 'F32') throw new PldrError(`${where}: ${name} is ${t.dtype}, expected float32`);
  if (t.shape.length !== want.length || t.shape.some((s, i) => s !== want[i]))
    throw new PldrError(
      `${where}: ${name} has shape [${t.shape.join(', ')}], the config needs [${want.join(', ')}] (num_labels ${want[0]}${want.length > 1 ? `, hidden_size ${want[1]}` : ''})`,
    );
  return t;
}

/**
 * The task head of a snapshot whose architecture is a classifier (undefined for any other), from
 * its config.json and tensors; `d` is hidden_size, `pad` the config's pad_token_id.
 */
export function readTaskHead(
  architecture: HfArchitecture,
  json: Record<string, unknown>,
  tensors: StateDict,
  d: number,
  pad: number | null,
  where: string,
): TaskHead | undefined {
  const task = taskOf(architecture);
  if (!task) {
    if (tensors.has(SCORE_WEIGHT))
      throw new PldrError(
        `${where} holds ${SCORE_WEIGHT}, a classifier's head, but config.json's architectures say ${architecture}`,
      );
    return undefined;
  }
  const labels = readLabels(json, where);
  const C = labels.length;
  const weight = checkShape(tensors.get(SCORE_WEIGHT), SCORE_WEIGHT, [C, d], where);
  const head: TaskHead = {task, weight, labels, problemType: readProblemType(json, where), padTokenId: pad};
  if (task === 'token-classification') head.bias = checkShape(tensors.get(SCORE_BIAS), SCORE_BIAS, [C], where);
  else if (tensors.has(SCORE_BIAS))
    throw new PldrError(`${where} holds ${SCORE_BIAS}, but a sequence classifier's score layer has no bias`);
  return head;
}

/** The head's tensors under their snapshot names (after the base model's, as save_pretrained lays them out). */
export function taskHeadTensors(head: TaskHead): StateDict {
  const out: StateDict = new Map([[SCORE_WEIGHT, head.weight]]);
  if (head.bias) out.set(SCORE_BIAS, head.bias);
  return out;
}

/** The config.json fields that describe the head (merged into the base model's). */
export function taskHeadConfig(head: TaskHead): Record<string, unknown> {
  return {
    id2label: Object.fromEntries(head.labels.map((l, i) => [String(i), l])),
    label2id: Object.fromEntries(head.labels.map((l, i) => [l, i])),
    num_labels: head.labels.length,
    problem_type: head.problemType,
    architectures: [head.task === 'sequence-classification' ? HF_SEQUENCE_CLASSIFICATION : HF_TOKEN_CLASSIFICATION],
  };
}

/** What `pldr info` says about a classifier snapshot's head, from its config.json alone. */
export interface TaskHeadDescription {
  task: TaskKind;
  /** Where the head reads the hidden state. */
  pooling: string;
  labels: string[];
  problem_type: ProblemType | null;
}

export function describeTaskHead(dir: string): TaskHeadDescription | undefined {
  const hf = readHfConfig(dir);
  const task = taskOf(hf.architecture);
  if (!task) return undefined;
  const where = join(dir, 'config.json');
  const pooling =
    task === 'token-classification'
      ? 'every token'
      : hf.tokens.pad === null
        ? 'the last token'
        : `the last token that is not pad_token_id ${hf.tokens.pad}`;
  return {task, pooling, labels: readLabels(hf.json, where), problem_type: readProblemType(hf.json, where)};
}
