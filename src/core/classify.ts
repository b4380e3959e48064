/**
 * Classification with a fine-tuned snapshot's task head (src/core/io/hf/heads.ts), as Transformers
 * computes it and as its pipelines report it:
 *
 * - The base model runs on the text's ids with the causal mask (plus padding, see lastHiddenState);
 *   its last hidden state h is [1, L, d].
 * - Sequence classification: logits = W · h[p] with p the rightmost token that is not the pad id
 *   (the last token when the config has no pad id). Scores: sigmoid for a multi-label head or a
 *   single label, softmax for a single-label head, the raw logits for regression — the
 *   text-classification pipeline's rule. Default output: the top label and its score; with top-k,
 *   the k best (all: every label), sorted by score.
 * - Token classification: logits = W · h[t] + b per token t; scores are the softmax of each row;
 *   one entry per token that is not a special token the tokenizer added, with its argmax label,
 *   skipping the label "O" unless asked (the token-classification pipeline, aggregation "none").
 */
import * as tf from '@tensorflow/tfjs';

import {PldrError} from './errors.js';
import type {TaskHead} from './io/hf/heads.js';
import {type PldrModel} from './model/pldr.js';
import {createMask} from './model/forward.js';
import {disposeAllBut} from './model/cache.js';
import type {Tokenizer} from './tokenizer.js';

export type ScoreFunction = 'softmax' | 'sigmoid' | 'none';

/** How the text-classification pipeline turns a head's logits into scores (its default function_to_apply). */
export function scoreFunction(head: TaskHead): ScoreFunction {
  if (head.problemType === 'regression') return 'none';
  if (head.problemType === 'multi_label_classification' || head.labels.length === 1) return 'sigmoid';
  return 'softmax';
}

/** Softmax of one row, shifted by its maximum (as the pipelines compute it). */
export function softmax(row: readonly number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

export function applyScore(fn: ScoreFunction, row: readonly number[]): number[] {
  if (fn === 'softmax') return softmax(row);
  if (fn === 'sigmoid') return row.map((x) => 1 / (1 + Math.exp(-x)));
  return [...row];
}

/** The ids the Transformers tokenizer gives a text: [bos] + SentencePiece ids + [eos], as its config adds them. */
export interface Encoding {
  ids: number[];
  /** true where the tokenizer added the token (bos, eos): the pipeline skips them. */
  special: boolean[];
}

export interface SpecialTokens {
  addBos: boolean;
  addEos: boolean;
  bosId: number | null;
  eosId: number | null;
}

export function encodeForHead(tok: Tokenizer, text: string, sp: SpecialTokens): Encoding {
  const body = tok.encode(text);
  const bos = sp.addBos && sp.bosId !== null ? [sp.bosId] : [];
  const eos = sp.addEos && sp.eosId !== null ? [sp.eosId] : [];
  const ids = [...bos, ...body, ...eos];
  const special = [...bos.map(() => true), ...body.map(() => false), ...eos.map(() => true)];
  if (ids.length === 0) throw new PldrError('the text gives no tokens to classify: give some text');
  return {ids, special};
}

/** The position sequence classification pools: the rightmost id that is not `pad`; the last when pad is null; 0 when every id is pad (Transformers' argmax of all zeros). */
export function pooledPosition(ids: readonly number[], pad: number | null): number {
  if (pad === null) return ids.length - 1;
  for (let i = ids.length - 1; i >= 0; i--) if (ids[i] !== pad) return i;
  return 0;
}

/**
 * The base model's last hidden state for one sequence, on the host: [L][d]. The mask is docs/spec.md §3.7's
 * (look-ahead, and keys with the padding id 0 blocked): what Transformers applies to a padded row
 * with its attention mask, and the plain causal mask for a text without padding (the pipeline's case).
 */
export function lastHiddenState(model: PldrModel, ids: number[]): Float32Array[] {
  const mask = createMask([ids]);
  try {
    const r = model.forward([ids], {mask, lastOnly: true});
    const h = r.decOutput.dataSync() as Float32Array; // [1, L, d]
    disposeAllBut(r);
    const d = model.cfg.d_model;
    return ids.map((_, t) => h.slice(t * d, (t + 1) * d));
  } finally {
    mask.dispose();
  }
}

/** The head's logits for the hidden states of some positions: rows [n][num_labels], W · h + b. */
export function headLogits(head: TaskHead, rows: Float32Array[]): number[][] {
  const [C, d] = head.weight.shape as [number, number];
  const x = tf.tensor2d(concat(rows, d), [rows.length, d]);
  const W = tf.tensor2d(head.weight.data as Float32Array, [C, d]);
  const b = head.bias ? tf.tensor1d(head.bias.data as Float32Array) : undefined;
  const y = tf.tidy(() => {
    const z = tf.matMul(x, W, false, true); // [n, C]
    return b ? tf.add(z, b) : z;
  });
  const out = y.arraySync() as number[][];
  tf.dispose([x, W, y, ...(b ? [b] : [])]);
  return out;
}

function concat(rows: Float32Array[], d: number): Float32Array {
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, i) => out.set(r, i * d));
  return out;
}

export interface LabelScore {
  label: string;
  score: number;
}

export interface SequenceResult {
  task: 'sequence-classification';
  ids: number[];
  /** The token whose hidden state was classified. */
  position: number;
  logits: number[];
  function: ScoreFunction;
  /** Every label with its score, in label order. */
  scores: LabelScore[];
}

export function classifySequence(model: PldrModel, head: TaskHead, enc: Encoding): SequenceResult {
  const position = pooledPosition(enc.ids, head.padTokenId);
  const h = lastHiddenState(model, enc.ids);
  const logits = headLogits(head, [h[position]!])[0]!;
  const fn = scoreFunction(head);
  const s = applyScore(fn, logits);
  return {
    task: 'sequence-classification',
    ids: enc.ids,
    position,
    logits,
    function: fn,
    scores: head.labels.map((label, i) => ({label, score: s[i]!})),
  };
}

/** The pipeline's answer: the top label (topK undefined), or the topK best sorted by score (null: all). */
export function topLabels(scores: readonly LabelScore[], topK: number | null | undefined): LabelScore[] {
  const sorted = [...scores].sort((a, b) => b.score - a.score);
  if (topK === undefined) return sorted.slice(0, 1);
  return topK === null ? sorted : sorted.slice(0, topK);
}

export interface TokenEntity {
  entity: string;
  score: number;
  /** Position in the ids (special tokens count). */
  index: number;
  /** The SentencePiece piece (the id itself, as text, for ids given without a tokenizer). */
  word: string;
  /** Character offsets of the token in the text, where they can be told; null otherwise. */
  start: number | null;
  end: number | null;
}

export interface TokenResult {
  task: 'token-classification';
  ids: number[];
  /** [L][num_labels] */
  logits: number[][];
  /** One entry per non-special token, labels in `ignore` left out. */
  entities: TokenEntity[];
}

/** `source`: the tokenizer and text the ids came from, for each token's piece and offsets (ids given as such have neither). */
export function classifyTokens(
  model: PldrModel,
  head: TaskHead,
  enc: Encoding,
  ignore: readonly string[] = ['O'],
  source?: {tok: Tokenizer; text: string},
): TokenResult {
  const h = lastHiddenState(model, enc.ids);
  const logits = headLogits(head, h);
  const offsets = source ? pieceOffsets(source.tok, source.text, enc) : [];
  const entities: TokenEntity[] = [];
  enc.ids.forEach((id, t) => {
    if (enc.special[t]) return;
    const s = softmax(logits[t]!);
    let best = 0;
    for (let c = 1; c < s.length; c++) if (s[c]! > s[best]!) best = c;
    const entity = head.labels[best]!;
    if (ignore.includes(entity)) return;
    const word = source ? source.tok.idToPiece(id) : String(id);
    entities.push({
      entity,
      score: s[best]!,
      index: t,
      word,
      start: offsets[t]?.[0] ?? null,
      end: offsets[t]?.[1] ?? null,
    });
  });
  return {task: 'token-classification', ids: enc.ids, logits, entities};
}

/**
 * Character offsets of each token in the text, found by walking the pieces' surface text ("▁" is
 * a space; the first piece's dummy-prefix space is not in the text) along it. A token whose text
 * cannot be found where expected (normalisation, byte pieces, [UNK]) gets none, and so does every
 * later one: then start and end are null, as the pipeline gives them without a fast tokenizer.
 */
function pieceOffsets(tok: Tokenizer, text: string, enc: Encoding): ([number, number] | undefined)[] {
  const out: ([number, number] | undefined)[] = [];
  let at = 0;
  let lost = false;
  let first = true;
  enc.ids.forEach((id, t) => {
    if (enc.special[t] || lost) return void out.push(undefined);
    let surface = tok.idToPiece(id).replace(/\u2581/g, ' ');
    if (first && tok.info.addDummyPrefix && surface.startsWith(' ') && !text.startsWith(' '))
      surface = surface.slice(1);
    first = false;
    if (text.startsWith(surface, at)) {
      out.push([at, at + surface.length]); // a piece's "▁" is the space before it in the text, as a fast tokenizer's offsets count it
      at += surface.length;
    } else {
      lost = true;
      out.push(undefined);
    }
  });
  return out;
}

/** What `pldr classify` shows of a head: --all, or --top-k (sequence classification). */
export interface ShowOptions {
  all: boolean;
  topK?: number;
}

/** One classification as pldr classify reports it (its JSON, field for field). */
export type Classification =
  | {
      task: 'sequence-classification';
      labels: LabelScore[];
      logits: number[];
      function: ScoreFunction;
      ids: number[];
      position: number;
    }
  | {task: 'token-classification'; entities: TokenEntity[]; ids: number[]};

/** Ids given as such: fed as they are, none of them special. */
export function idsEncoding(ids: number[]): Encoding {
  return {ids, special: ids.map(() => false)};
}

/**
 * Classify one encoded text with the head: the top label(s) of a sequence classifier, or the labelled tokens of a token
 * classifier ("O" left out unless `all`). `source`: the tokenizer and text the ids came from (none for ids given as such).
 */
export function classify(
  model: PldrModel,
  head: TaskHead,
  enc: Encoding,
  show: ShowOptions,
  source?: {tok: Tokenizer; text: string},
): Classification {
  if (head.task === 'sequence-classification') {
    const r = classifySequence(model, head, enc);
    return {
      task: r.task,
      labels: topLabels(r.scores, show.all ? null : show.topK),
      logits: r.logits,
      function: r.function,
      ids: r.ids,
      position: r.position,
    };
  }
  const r = classifyTokens(model, head, enc, show.all ? [] : ['O'], source);
  return {task: r.task, entities: r.entities, ids: r.ids};
}
