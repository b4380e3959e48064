/**
 * Generation at the level of token ids: the reference's `generate_text` loop (docs/spec.md §5.2, §4.3).
 *
 *   prompt call: the whole prompt with its mask → keep KV and/or G as the mode says
 *   later calls:  KV held → the one new token, no mask; otherwise the whole sequence, mask rebuilt
 *   each step:    filter the last position's logits (temperature → top-p → top-k), draw, append;
 *                 stop after appending [END].
 */
import * as tf from '@tensorflow/tfjs';

import {checkModelFits} from './backend.js';
import {PldrError} from './errors.js';
import type {GList} from './io/glist.js';
import {fusedKernelsActive} from './model/kernels.js';
import {
  disposeAllBut,
  gCacheFromList,
  gCacheOf,
  type GCache,
  type KVBuffer,
  type KVCache,
  kvBufferOf,
  tensorsOf,
} from './model/cache.js';
import {createMask} from './model/forward.js';
import type {PldrModel} from './model/pldr.js';
import {GREEDY, logSoftmaxAt, Rng, sampleNext, type SamplingOptions, validateSampling} from './sampling.js';

/** Where the external G list becomes a G-cache (docs/spec.md §4.3): importers of generation find it here too. */

export const CACHE_MODES = ['none', 'kv', 'g', 'kv+g'] as const;
export type CacheMode = (typeof CACHE_MODES)[number];
export const END_ID = 3;

export interface GenerateOptions {
  /** The reference's max_length: new tokens, the prompt call's included. */
  maxNewTokens: number;
  sampling?: SamplingOptions; // default temperature 1, top-k 0, top-p 1
  greedy?: boolean; // top-k 1, temperature 1, top-p 1 (as the reference)
  seed?: number;
  cache?: CacheMode; // default kv+g
  /** An external G list: every call uses it, PLGA is bypassed from the first call (docs/spec.md §4.3). */
  gInit?: GList;
  endId?: number;
  /** Keep each step's raw last-position logits (tests, probes). */
  keepLogits?: boolean;
  /** Record every model call: ids fed, mask shape, caches given (the fixtures' `calls`). */
  trace?: boolean;
  /** Called after each generated token, for streaming. */
  onToken?: (id: number, step: number) => void;
  /**
   * Hold the KV-cache in place (room for every position allocated after the prompt call) where the
   * fused kernels run; default true. False keeps the reference's concatenated cache.
   */
  inPlaceKV?: boolean;
}

export interface CallTrace {
  seq_in: number[];
  mask: number[] | null;
  kvcache_in: boolean;
  Gcache_in: boolean;
}

export interface GenerateResult {
  /** The prompt as fed (the empty prompt is [END]) followed by the generated ids. */
  ids: number[];
  generated: number[];
  /** log-softmax of the raw last-position logits at each generated token, before any filter. */
  logprobs: number[];
  stop: 'end' | 'length';
  logits?: Float32Array[];
  calls?: CallTrace[];
  /** With `trace`: per layer, the G_LM the last call used ([H, dk, dk] of batch row 0). */
  lastG?: Float32Array[];
  /** Positions the in-place KV-cache was allocated for, when one was used. */
  kvCapacity?: number;
  /** The G-cache held at the end (v510 modes g and kv+g, or an external G). */
  gCache?: {A_LM: Float32Array; G_LM: Float32Array; A_P?: Float32Array}[];
  timings: {promptMs: number; stepMs: number[]};
}

/** The reference's prompt rule: the empty prompt is fed as [END]; ids are otherwise fed as given. */
export function promptIds(ids: number[], endId = END_ID): number[] {
  return ids.length === 0 ? [endId] : ids;
}

export async function generate(model: PldrModel, prompt: number[], opts: GenerateOptions): Promise<GenerateResult> {
  const cfg = model.cfg;
  const endId = opts.endId ?? END_ID;
  const sampling = opts.greedy ? {...GREEDY} : {temperature: 1, topK: 0, topP: 1, ...opts.sampling};
  validateSampling(sampling, cfg.input_vocab_size);
  const mode = opts.cache ?? 'kv+g';
  if (!(CACHE_MODES as readonly string[]).includes(mode))
    throw new PldrError(`unknown cache mode "${mode}": use ${CACHE_MODES.join(', ')}`);
  const useKV = mode === 'kv' || mode === 'kv+g';
  const useG = (mode === 'g' || mode === 'kv+g') && !model.isG;
  const n = opts.maxNewTokens;
  if (!Number.isInteger(n) || n < 1) throw new PldrError(`max-new-tokens must be a positive integer, got ${n}`);

  const fed = promptIds(prompt, endId);
  for (const id of fed)
    if (!Number.isInteger(id) || id < 0 || id >= cfg.input_vocab_size)
      throw new PldrError(`token id ${id} is outside the vocabulary (0..${cfg.input_vocab_size - 1})`);
  // The last generated token is never fed back, so P + n − 1 positions are used (docs/spec.md §5.2).
  if (fed.length + n - 1 > cfg.max_seq_len)
    throw new PldrError(
      fed.length > cfg.max_seq_len
        ? `the prompt has ${fed.length} tokens, more than max_seq_len ${cfg.max_seq_len}`
        : `prompt (${fed.length} tokens) + max-new-tokens (${n}) − 1 exceeds max_seq_len ${cfg.max_seq_len}: use --max-new-tokens ${cfg.max_seq_len - fed.length + 1} or less`,
    );

  const rng = new Rng(opts.seed ?? 0);
  const gInit = opts.gInit ? gCacheFromList(model, opts.gInit) : undefined;
  // The last generated token is never fed, so the cache ends at P + n − 1 positions.
  const capacity = fed.length + n - 1;
  checkModelFits(cfg, {prompt: fed.length, positions: capacity});
  const inPlace = useKV && (opts.inPlaceKV ?? true) && capacity > fed.length && fusedKernelsActive();
  let kv: KVCache[] | KVBuffer | undefined;
  let g: GCache[] | undefined = gInit;
  let seq = fed.slice();
  const out = fed.slice();
  const result: GenerateResult = {
    ids: out,
    generated: [],
    logprobs: [],
    stop: 'length',
    timings: {promptMs: 0, stepMs: []},
  };
  if (opts.keepLogits) result.logits = [];
  if (opts.trace) result.calls = [];

  try {
    for (let step = 0; step < n; step++) {
      const t0 = performance.now();
      const cached = kv !== undefined;
      const mask = cached ? null : createMask([seq]);
      if (opts.trace) {
        const maskShape = mask ? [1, 1, seq.length, seq.length] : null;
        result.calls!.push({seq_in: seq.slice(), mask: maskShape, kvcache_in: cached, Gcache_in: g !== undefined});
      }
      const r = model.forward([seq], {mask, ...(Array.isArray(kv) ? {kv} : {kvBuffer: kv}), g, lastOnly: true});
      mask?.dispose();

      // Hand the caches over: keep what the mode keeps, dispose the rest (never gInit's tensors).
      // An in-place cache is made once from the prompt call's and then appended to by each call.
      let nextKV = kv;
      if (useKV && kv === undefined && inPlace) {
        nextKV = kvBufferOf(r.kv, capacity);
        result.kvCapacity = capacity;
      } else if (useKV && (kv === undefined || Array.isArray(kv))) nextKV = r.kv;
      const nextG = gInit ?? (useG ? gCacheOf(r.deductive!) : g);
      if (opts.trace) result.lastG = r.deductive?.map((d) => firstRow(d.G_LM));
      const z = (await r.logits.data()) as Float32Array; // [1, 1, V] → [V]
      disposeAllBut([kv, g, r], tensorsOf([nextKV, nextG, gInit]));
      kv = nextKV;
      g = nextG;

      const id = sampleNext(z, sampling, rng);
      result.logprobs.push(logSoftmaxAt(z, id));
      if (opts.keepLogits) result.logits!.push(z);
      seq = kv ? [id] : [...seq, id];
      out.push(id);
      result.generated.push(id);
      const ms = performance.now() - t0;
      if (step === 0) result.timings.promptMs = ms;
      else result.timings.stepMs.push(ms);
      opts.onToken?.(id, step);
      if (id === endId) {
        result.stop = 'end';
        break;
      }
    }
    if (g && !model.isG)
      result.gCache = g.map((c) => ({
        A_LM: firstRow(c.A_LM),
        G_LM: firstRow(c.G_LM),
        ...(c.A_P ? {A_P: firstRow(c.A_P)} : {}),
      }));
  } finally {
    disposeAllBut([kv, g, gInit]);
  }
  return result;
}

/** Batch row 0 of a [B, ...] tensor, copied to the host. */
function firstRow(t: tf.Tensor): Float32Array {
  const all = t.dataSync() as Float32Array;
  return all.slice(0, all.length / t.shape[0]);
}
