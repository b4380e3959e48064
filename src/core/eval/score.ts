/**
 * Log-likelihood of a continuation as the authors' harness wrapper computes it for PLDR models
 * (`../shared/fixtures/eval/README.md`, "Encoding" and "Log-likelihood"), and the cached variant.
 *
 *   full   one uncached forward of (context + continuation)[-maxLength:][:-1] per request; the
 *          forward is not causal (A sums over every input position), so nothing is shared
 *   kv+g   the context once with KV- and G-cache on, then each continuation token teacher-forced
 *          one at a time (the reference's generate_text path); the context pass is shared by all
 *          choices of an item with the same context ids
 *   gInit  either way with a G list given from outside (the Gi setting): every call uses it
 */
import * as tf from '@tensorflow/tfjs';

import {gCacheFromList} from '../generate.js';
import type {GList} from '../io/glist.js';
import {createMask, type GCache, type KVCache, type PldrModel} from '../model/pldr.js';
import type {Tokenizer} from '../tokenizer.js';
import type {Request} from './tasks.js';
import {isPyWhitespace} from './tasks.js';

export const HARNESS_MAX_LENGTH = 1024;
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
export function encodeRequest(tok: Tokenizer, req: Pick<Request, 'context' | 'continuation'>, maxLength = HARNESS_MAX_LENGTH): EncodedRequest {
  let ctxIds: number[];
  let contIds: number[];
  if (req.context === '') {
    ctxIds = [tok.endId];
    contIds = tok.encode(req.continuation);
  } else {
    let cut = req.context.length;
    const chars = Array.from(req.context);
    let n = chars.length;
    while (n > 0 && isPyWhitespace(chars[n - 1])) n--;
    cut = chars.slice(0, n).join('').length;
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

/** One uncached forward per request (the harness's way). */
export function scoreFull(model: PldrModel, enc: EncodedRequest, g?: GCache[]): RequestScore {
  const input = enc.inp.slice(0, -1);
  const from = Math.max(enc.ctxlen - 1, 0);
  const targets = enc.inp.slice(from + 1);
  const mask = createMask([input]);
  const r = model.forward([input], {mask, g, logitsFrom: from});
  try {
    return scoreRows(r.logits.dataSync() as Float32Array, model.cfg.input_vocab_size, targets);
  } finally {
    mask.dispose();
    // the outputs pass a given G through: free everything else
    const given = new Set<tf.Tensor>((g ?? []).flatMap((c) => [c.A_LM, c.G_LM, c.A_P].filter(Boolean) as tf.Tensor[]));
    const all: (tf.Tensor | undefined)[] = [r.logits, r.decOutput, ...r.kv.flatMap((c) => [c.K, c.V, c.A]), ...(r.deductive ?? []).flatMap((d) => [d.A_LM, d.P, d.a, d.ba, d.G_LM, d.S, d.A_P])];
    tf.dispose([...new Set(all.filter((t): t is tf.Tensor => t !== undefined && !given.has(t)))]);
  }
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
    let kv = pass.kv;
    let g = pass.g;
    const owned: tf.Tensor[] = [];
    try {
      for (let i = 1; i < cont.length; i++) {
        const r = this.model.forward([[cont[i - 1]]], {kv, g, lastOnly: true});
        rows.set(r.logits.dataSync() as Float32Array, i * V);
        kv = r.kv;
        if (this.mode === 'kv+g' && !this.gInit && r.deductive) g = r.deductive.map((d) => ({A_LM: d.A_LM, G_LM: d.G_LM, ...(d.A_P ? {A_P: d.A_P} : {})}));
        owned.push(...r.kv.flatMap((c) => [c.K, c.V]), r.logits, r.decOutput);
        for (const d of r.deductive ?? []) owned.push(...([d.S, d.P, d.a, d.ba, d.A_LM, d.G_LM, d.A_P].filter(Boolean) as tf.Tensor[]));
      }
      return scoreRows(rows, V, cont);
    } finally {
      tf.dispose([...new Set(owned)].filter((t) => !this.isHeld(t)));
    }
  }

  private isHeld(t: tf.Tensor): boolean {
    for (const p of this.passes.values()) {
      if (p.kv.some((c) => c.K === t || c.V === t || c.A === t)) return true;
      if (p.g?.some((c) => c.A_LM === t || c.G_LM === t || c.A_P === t)) return true;
    }
    return this.gInit?.some((c) => c.A_LM === t || c.G_LM === t || c.A_P === t) ?? false;
  }

  private contextPass(ctx: number[]): ContextPass {
    const key = ctx.join(',');
    const hit = this.passes.get(key);
    if (hit) return hit;
    const mask = createMask([ctx]);
    const r = this.model.forward([ctx], {mask, g: this.gInit, lastOnly: true});
    mask.dispose();
    const useG = this.mode === 'kv+g' || this.gInit !== undefined;
    const g = this.gInit ?? (useG && r.deductive ? r.deductive.map((d) => ({A_LM: d.A_LM, G_LM: d.G_LM, ...(d.A_P ? {A_P: d.A_P} : {})})) : undefined);
    const pass: ContextPass = {logits: r.logits.dataSync() as Float32Array, kv: r.kv, g};
    const keep = new Set<tf.Tensor>([...r.kv.flatMap((c) => [c.K, c.V, c.A].filter(Boolean) as tf.Tensor[]), ...(g ?? []).flatMap((c) => [c.A_LM, c.G_LM, c.A_P].filter(Boolean) as tf.Tensor[])]);
    const rest = [r.logits, r.decOutput, ...(r.deductive ?? []).flatMap((d) => [d.S, d.P, d.a, d.ba, d.A_LM, d.G_LM, d.A_P].filter(Boolean) as tf.Tensor[])];
    tf.dispose(rest.filter((t) => !keep.has(t)));
    this.passes.set(key, pass);
    return pass;
  }

  /** Free the context passes (after each item). */
  release(): void {
    for (const p of this.passes.values()) {
      const ts = [...p.kv.flatMap((c) => [c.K, c.V, c.A]), ...(p.g && p.g !== this.gInit ? p.g.flatMap((c) => [c.A_LM, c.G_LM, c.A_P]) : [])];
      tf.dispose(ts.filter(Boolean) as tf.Tensor[]);
    }
    this.passes.clear();
  }

  dispose(): void {
    this.release();
    if (this.gInit) tf.dispose(this.gInit.flatMap((c) => [c.A_LM, c.G_LM, c.A_P]).filter(Boolean) as tf.Tensor[]);
  }
}
