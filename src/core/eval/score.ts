/**
 * Log-likelihood of a continuation as the authors' harness wrapper computes it for PLDR models
 * (`../shared/fixtures/eval/README.md`, "Encoding" and "Log-likelihood"), and the cached variant.
 *
 *   full   one uncached forward of (context + continuation)[-maxLength:][:-1] per request; the
 *          forward is not causal (A sums over every input position), so nothing is shared and
 *          nothing may be padded; requests of equal length share a forward of batch B, whose
 *          rows are each the one-request forward (scoreFullBatch)
 *   kv+g   the context once with KV- and G-cache on, then each continuation token teacher-forced
 *          one at a time (the reference's generate_text path); the context pass is shared by all
 *          choices of an item with the same context ids
 *   gInit  either way with a G list given from outside (the Gi setting): every call uses it
 */
import * as tf from '@tensorflow/tfjs';

import {gCacheFromList} from '../model/cache.js';
import type {GList} from '../io/glist.js';
import {type PldrModel} from '../model/pldr.js';
import {createMask, type ForwardResult} from '../model/forward.js';
import {disposeAllBut, type GCache, gCacheOf, type KVCache, tensorsOf} from '../model/cache.js';
import type {Tokenizer} from '../tokenizer.js';
import type {Request} from './tasks.js';
import {isPyWhitespace} from './tasks.js';

export const HARNESS_MAX_LENGTH = 1024;
/**
 * Requests a full-mode batch takes by default, and the tokens (B × L) it may hold (bounds the
 * [B, H, L, L] scores). Sixteen: on a PLDRv51-104M (`pldr bench eval`, requests of 10 to 64 tokens)
 * batch 16 scored as many requests a second as batch 8 on one thread and more on two, both above
 * batch 1 (the metric learner's products run on B·H·dk rows at once; the linears on B·L rows).
 */
export const DEFAULT_BATCH_SIZE = 16;
export const MAX_BATCH_TOKENS = 4096;
export type ScoreMode = 'full' | 'kv+g' | 'kv';

export interface EncodedRequest {
  /** The model input plus the last token: (ctx_ids + cont_ids)[-maxLength:]. */
  inp: number[];
  /** Tokens of inp that belong to the context (after left truncation). */
  ctxlen: number;
  /** The context's own ids (cache key for kv+g). */
  ctxIds: number[];
  contIds: number[];
}

export interface RequestScore {
  ll: number;
  isGreedy: boolean;
}

/** The wrapper's _encode_pair: trailing context whitespace moves to the continuation; empty context → [END]. */
export function encodeRequest(
  tok: Tokenizer,
  req: Pick<Request, 'context' | 'continuation'>,
  maxLength = HARNESS_MAX_LENGTH,
): EncodedRequest {
  let ctxIds: number[];
  let contIds: number[];
  if (req.context === '') {
    ctxIds = [tok.endId];
    contIds = tok.encode(req.continuation);
  } else {
    const chars = Array.from(req.context);
    let n = chars.length;
    while (n > 0 && isPyWhitespace(chars[n - 1])) n--;
    const cut = chars.slice(0, n).join('').length;
    const context = req.context.slice(0, cut);
    const continuation = req.context.slice(cut) + req.continuation;
    const whole = tok.encode(context + continuation);
    ctxIds = tok.encode(context);
    contIds = whole.slice(ctxIds.length);
  }
  const all = [...ctxIds, ...contIds];
  const inp = all.slice(-maxLength);
  const ctxlen = ctxIds.length - Math.max(0, all.length - maxLength);
  return {inp, ctxlen, ctxIds, contIds};
}

/** Sum of float32 log-softmax values of the scored tokens (float64 accumulation, token order) and is-greedy. */
function scoreRows(logits: Float32Array, V: number, targets: number[]): RequestScore {
  let ll = 0;
  let greedy = true;
  for (let r = 0; r < targets.length; r++) {
    const row = logits.subarray(r * V, (r + 1) * V);
    let max = -Infinity;
    let arg = 0;
    for (let j = 0; j < V; j++)
      if (row[j] > max) {
        max = row[j];
        arg = j;
      }
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(row[j] - max);
    ll += Math.fround(Math.fround(row[targets[r]] - max) - Math.fround(Math.log(sum)));
    if (arg !== targets[r]) greedy = false;
  }
  return {ll, isGreedy: greedy};
}

/** One uncached forward per request (the harness's way): the batch of one. */
export function scoreFull(model: PldrModel, enc: EncodedRequest, g?: GCache[]): RequestScore {
  return scoreFullBatch(model, [enc], g)[0];
}

/**
 * Full-mode scores of requests whose model inputs have one length, in one forward of batch B.
 * Nothing is padded, so each row's forward is that request's own forward: A sums over the row's
 * own positions only. The logits start at the earliest scored position of the batch; each row
 * reads its own from there. Results come in the order given.
 */
export function scoreFullBatch(model: PldrModel, encs: EncodedRequest[], g?: GCache[]): RequestScore[] {
  const L = encs[0].inp.length - 1;
  if (encs.some((e) => e.inp.length - 1 !== L)) throw new Error('scoreFullBatch takes requests of one length'); // a bug, not user input
  const inputs = encs.map((e) => e.inp.slice(0, -1)); // [B, L]
  const froms = encs.map((e) => Math.max(e.ctxlen - 1, 0));
  const from = Math.min(...froms);
  const V = model.cfg.input_vocab_size;
  const mask = createMask(inputs); // [B, 1, L, L]
  const r = model.forward(inputs, {mask, g, logitsFrom: from, noCache: true});
  try {
    const logits = r.logits.dataSync() as Float32Array; // [B, L − from, V]
    const rowsPer = L - from;
    return encs.map((e, b) => {
      const start = (b * rowsPer + froms[b] - from) * V;
      return scoreRows(logits.subarray(start, (b + 1) * rowsPer * V), V, e.inp.slice(froms[b] + 1));
    });
  } finally {
    mask.dispose();
    disposeAllBut(r, tensorsOf(g));
  }
}

/** Requests grouped for batching: indices of equal input length, at most `batchSize` and `maxTokens` tokens a group. */
export function lengthBatches(
  encs: readonly EncodedRequest[],
  batchSize: number,
  maxTokens = MAX_BATCH_TOKENS,
): number[][] {
  const byLength = new Map<number, number[]>();
  encs.forEach((e, i) => {
    const bucket = byLength.get(e.inp.length);
    if (bucket) bucket.push(i);
    else byLength.set(e.inp.length, [i]);
  });
  const batches: number[][] = [];
  for (const [length, idx] of byLength) {
    const size = Math.max(1, Math.min(batchSize, Math.floor(maxTokens / length)));
    for (let i = 0; i < idx.length; i += size) batches.push(idx.slice(i, i + size));
  }
  return batches;
}

/** Full-mode scores of any requests, one batch of equal length at a time: the indices of `encs` scored and their scores. */
export function* scoreFullBatches(
  model: PldrModel,
  encs: readonly EncodedRequest[],
  batchSize: number,
  g?: GCache[],
): Generator<{batch: number[]; scores: RequestScore[]}> {
  for (const batch of lengthBatches(encs, batchSize)) {
    const requests = batch.map((i) => encs[i]);
    yield {batch, scores: scoreFullBatch(model, requests, g)};
  }
}

/** Full-mode scores of any requests, batched by equal length; results in the order given. */
export function scoreFullAll(
  model: PldrModel,
  encs: readonly EncodedRequest[],
  batchSize: number,
  g?: GCache[],
): RequestScore[] {
  const out = new Array<RequestScore>(encs.length);
  for (const {batch, scores} of scoreFullBatches(model, encs, batchSize, g))
    batch.forEach((i, k) => (out[i] = scores[k]));
  return out;
}

interface ContextPass {
  logits: Float32Array; // last row of the context pass [V]
  kv: KVCache[];
  g?: GCache[];
}

/**
 * Scorer for the cached modes. The context pass of each distinct context is kept for the choices
 * that share it (call `release` when an item is done).
 */
export class CachedScorer {
  private readonly passes = new Map<string, ContextPass>();
  private readonly gInit?: GCache[];

  constructor(
    private readonly model: PldrModel,
    private readonly mode: 'kv' | 'kv+g',
    gList?: GList,
  ) {
    if (gList) this.gInit = gCacheFromList(model, gList);
  }

  score(enc: EncodedRequest): RequestScore {
    const V = this.model.cfg.input_vocab_size;
    const ctx = enc.inp.slice(0, enc.ctxlen);
    const cont = enc.inp.slice(enc.ctxlen);
    const pass = this.contextPass(ctx);
    // first continuation token from the context's last row; then each predecessor fed alone
    const rows = new Float32Array(cont.length * V);
    rows.set(pass.logits, 0);
    // A G-cache returns itself (docs/spec.md §4.1), so pass.g serves every step; only the KV-cache grows.
    let kv = pass.kv;
    const steps: ForwardResult[] = [];
    try {
      for (let i = 1; i < cont.length; i++) {
        const r = this.model.forward([[cont[i - 1]]], {kv, g: pass.g, lastOnly: true});
        steps.push(r);
        rows.set(r.logits.dataSync() as Float32Array, i * V);
        kv = r.kv;
      }
      return scoreRows(rows, V, cont);
    } finally {
      disposeAllBut(steps, this.held());
    }
  }

  /** What outlives a request: the context passes and the given G. */
  private held(): Set<tf.Tensor> {
    return tensorsOf([[...this.passes.values()].map((p) => [p.kv, p.g]), this.gInit]);
  }

  private contextPass(ctx: number[]): ContextPass {
    const key = ctx.join(',');
    const hit = this.passes.get(key);
    if (hit) return hit;
    const mask = createMask([ctx]);
    const r = this.model.forward([ctx], {mask, g: this.gInit, lastOnly: true});
    mask.dispose();
    const useG = this.mode === 'kv+g' || this.gInit !== undefined;
    const g = this.gInit ?? (useG && r.deductive ? gCacheOf(r.deductive) : undefined);
    const pass: ContextPass = {logits: r.logits.dataSync() as Float32Array, kv: r.kv, g};
    disposeAllBut(r, tensorsOf([r.kv, g]));
    this.passes.set(key, pass);
    return pass;
  }

  /** Free the context passes (after each item). */
  release(): void {
    disposeAllBut([...this.passes.values()], tensorsOf(this.gInit));
    this.passes.clear();
  }

  dispose(): void {
    this.release();
    disposeAllBut(this.gInit);
  }
}
