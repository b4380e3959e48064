/**
 * Model hyper-parameters: the config type, reading/writing the reference's hparams names,
 * validation, the state-dict layout implied by a config, parameter counts and presets.
 *
 * Everything here follows docs/spec.md §0 (names), §1 (variants), §3.11–§3.15 (keys, counts,
 * presets). Nothing here touches tensors' values, so it is instant and safe for `pldr info`.
 */
import {PldrError} from './errors.js';
import {numel, type StateDict} from './io/tensor.js';

// ---------------------------------------------------------------------------------------------
// Config type
// ---------------------------------------------------------------------------------------------

/**
 * The three networks of §1. v510Gi is not a network of its own: it is a v510G model whose
 * constant G_LM was inferred from a trained v510 model (recorded in `ModelConfig.source`).
 */
export type Variant = 'v510' | 'v510_dag' | 'v510G';
export const VARIANTS: readonly Variant[] = ['v510', 'v510_dag', 'v510G'];

/**
 * How RoPE pairs a head's components (docs/spec.md §3.4; rope.ts): 'reference' is the reference's
 * interleaved (2i, 2i+1) pairing (PLDR-LLM v51, Transformers' `reference_rope: true`), 'neox' the
 * GPT-NeoX rotate-half pairing (i, i + d_k/2) of PLDR-LLM v52 (`reference_rope: false`).
 */
export type RopeStyle = 'reference' | 'neox';
export const ROPE_STYLES: readonly RopeStyle[] = ['reference', 'neox'];

/** Field names are the reference's hpdict names (§0), so hparams.json maps 1:1. */
export interface ModelConfig {
  variant: Variant;
  num_layers: number; // N
  d_model: number; // d = H·d_k
  num_heads: number; // H
  dff: number; // F, FFN hidden width
  num_reslayerA: number; // R, residual units of the metric learner (0 for v510G)
  num_denseA: number; // D, GLUs per residual unit (0 for v510G)
  A_dff: number; // F_A, hidden width of the metric learner's GLUs (0 for v510G)
  input_vocab_size: number; // V
  max_seq_len: number; // P_max, size of the RoPE table
  /** RoPE pairing; absent means 'reference'. Read from the model's file, never guessed. */
  rope?: RopeStyle;
  /** (c_A, c_AP, c_G) of the DAG regulariser (§6.7); kept whenever the hparams carry it. */
  DAG_reg_coeffs?: [number, number, number];
  /**
   * Free-text note on where a v510G model's constant G_LM came from ("identity", "random",
   * "PLDRv51-104M (Gi)" ...). Not a reference hyper-parameter; informational only.
   */
  source?: string;
}

/** The model's RoPE style ('reference' unless its config says otherwise). */
export function ropeStyle(cfg: ModelConfig): RopeStyle {
  return cfg.rope ?? 'reference';
}

function checkRopeStyle(v: unknown, where: string): RopeStyle {
  if (typeof v === 'string' && (ROPE_STYLES as readonly string[]).includes(v)) return v as RopeStyle;
  throw new PldrError(`${where}: rope must be one of ${ROPE_STYLES.join(', ')}, got ${describe(v)}`);
}

/** Head width d_k = d_model / num_heads. */
export function dk(cfg: ModelConfig): number {
  return cfg.d_model / cfg.num_heads;
}

/** The reference's default FFN width: int(np.floor(num_heads*dk*4*2/3)) = floor(8d/3). */
export function defaultDff(d_model: number): number {
  // d*4*2 is an exact integer and /3 is correctly rounded, so the floor matches numpy's.
  return Math.floor((d_model * 4 * 2) / 3);
}

/** The reference's default metric-learner GLU width: int(np.floor(4*dk*2/3)) = floor(8·d_k/3). */
export function defaultAdff(d_k: number): number {
  return Math.floor((4 * d_k * 2) / 3);
}

/** The reference training script's defaults for R and D (also the paper's values). */
const DEFAULT_NUM_RESLAYER_A = 8;
const DEFAULT_NUM_DENSE_A = 2;

/** Special token ids of the paper tokenizer (§2); config.json records them. */
export const SPECIAL_TOKENS = {pad: 0, unk: 1, start: 2, end: 3} as const;

// ---------------------------------------------------------------------------------------------
// Reading and writing the reference's hparams
// ---------------------------------------------------------------------------------------------

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  try {
    const s = JSON.stringify(v);
    return s.length > 40 ? `${s.slice(0, 37)}...` : s;
  } catch {
    return String(v);
  }
}

/** A size: a whole number from 1 up to 2^53 − 1, beyond which JavaScript numbers skip integers (1e300 is "whole" too). */
function isPosInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

function sizeProblem(key: string, v: unknown): string {
  return typeof v === 'number' && Number.isInteger(v) && v > 0
    ? `${key} ${describe(v)} is over ${Number.MAX_SAFE_INTEGER}, the largest whole number JavaScript counts exactly`
    : `${key} must be a positive integer, got ${describe(v)}`;
}

function readPosInt(h: Record<string, unknown>, key: string, where: string, fallback?: number): number {
  const v = h[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new PldrError(`${where}: missing hyper-parameter ${key}`);
  }
  if (!isPosInt(v)) throw new PldrError(`${where}: ${sizeProblem(key, v)}`);
  return v;
}

function readDagCoeffs(v: unknown, where: string): [number, number, number] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length !== 3 || !v.every((c) => typeof c === 'number' && Number.isFinite(c) && c >= 0)) {
    throw new PldrError(`${where}: DAG_reg_coeffs must be 3 numbers >= 0 (c_A, c_AP, c_G), got ${describe(v)}`);
  }
  return [v[0], v[1], v[2]];
}

function checkVariant(v: unknown, where: string): Variant {
  if (typeof v === 'string' && (VARIANTS as readonly string[]).includes(v)) return v as Variant;
  throw new PldrError(`${where}: unknown variant ${describe(v)}: use one of ${VARIANTS.join(', ')}`);
}

/**
 * Build a ModelConfig from the reference's hyper-parameter dict (hparams.json / _hparams.pkl).
 *
 * The variant cannot always be read from the dict: a `Gcachelst` entry means v510G, but v510 and
 * v510_dag write the same keys (even `DAG_reg_coeffs` may appear for v510), so the caller's hint
 * decides between them; without one we assume v510. Training keys (epochs, learning_rate ...)
 * are ignored. Defaults are the reference training script's: dff = floor(8d/3),
 * A_dff = floor(8·d_k/3), num_reslayerA 8, num_denseA 2.
 */
export function configFromHparams(h: Record<string, unknown>, variantHint?: Variant, where = 'hparams'): ModelConfig {
  if (h === null || typeof h !== 'object' || Array.isArray(h)) {
    throw new PldrError(`${where}: hyper-parameters must be a JSON object, got ${describe(h)}`);
  }
  const hasG = h.Gcachelst !== undefined && h.Gcachelst !== null;
  if (variantHint !== undefined) checkVariant(variantHint, where);
  if (hasG && variantHint !== undefined && variantHint !== 'v510G') {
    throw new PldrError(`${where}: has Gcachelst (a v510G model) but variant ${variantHint} was asked for`);
  }
  const variant: Variant = variantHint ?? (hasG ? 'v510G' : 'v510');

  const num_layers = readPosInt(h, 'num_layers', where);
  const num_heads = readPosInt(h, 'num_heads', where);
  // The reference CLI takes dk and derives d_model = num_heads*dk; its hpdict stores d_model.
  let d_model: number;
  if (h.d_model === undefined && h.dk !== undefined) d_model = readPosInt(h, 'dk', where) * num_heads;
  else d_model = readPosInt(h, 'd_model', where);
  if (h.dk !== undefined && h.dk !== null && h.d_model !== undefined && h.dk !== d_model / num_heads) {
    throw new PldrError(`${where}: dk ${describe(h.dk)} disagrees with d_model / num_heads = ${d_model / num_heads}`);
  }
  checkHeads(d_model, num_heads, where);
  const d_k = d_model / num_heads;

  const isG = variant === 'v510G';
  const cfg: ModelConfig = {
    variant,
    num_layers,
    d_model,
    num_heads,
    dff: readPosInt(h, 'dff', where, defaultDff(d_model)),
    // v510G has no metric learner: whatever a v510 source left in the dict does not apply.
    num_reslayerA: isG ? 0 : readPosInt(h, 'num_reslayerA', where, DEFAULT_NUM_RESLAYER_A),
    num_denseA: isG ? 0 : readPosInt(h, 'num_denseA', where, DEFAULT_NUM_DENSE_A),
    A_dff: isG ? 0 : readPosInt(h, 'A_dff', where, defaultAdff(d_k)),
    input_vocab_size: readPosInt(h, 'input_vocab_size', where),
    max_seq_len: readPosInt(h, 'max_seq_len', where),
  };
  const dag = readDagCoeffs(h.DAG_reg_coeffs, where);
  if (dag !== undefined) cfg.DAG_reg_coeffs = dag;
  // not a reference hpdict key: pldr writes it for rotate-half (v52) models only
  if (h.rope !== undefined && h.rope !== null) cfg.rope = checkRopeStyle(h.rope, where);
  return validateConfig(cfg, where);
}

/**
 * The inverse of configFromHparams, with the reference's key names, e.g. for the hparams.json
 * written next to an exported .pth. `extra` entries (training settings, a Gcachelst path) are
 * merged in last. A v510G dict always carries `Gcachelst`, because that key is what marks a
 * v510G model to the reference and to configFromHparams.
 */
export function hparamsFromConfig(cfg: ModelConfig, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const h: Record<string, unknown> = {
    num_layers: cfg.num_layers,
    d_model: cfg.d_model,
    num_heads: cfg.num_heads,
    dff: cfg.dff,
  };
  if (cfg.variant !== 'v510G') {
    h.A_dff = cfg.A_dff;
    h.num_reslayerA = cfg.num_reslayerA;
    h.num_denseA = cfg.num_denseA;
  }
  h.input_vocab_size = cfg.input_vocab_size;
  h.max_seq_len = cfg.max_seq_len;
  if (cfg.DAG_reg_coeffs) h.DAG_reg_coeffs = [...cfg.DAG_reg_coeffs];
  if (ropeStyle(cfg) !== 'reference') h.rope = ropeStyle(cfg);
  if (cfg.variant === 'v510G') h.Gcachelst = 'G_LM.safetensors';
  return {...h, ...extra};
}

function checkHeads(d_model: number, num_heads: number, where: string): void {
  if (d_model % num_heads !== 0) {
    throw new PldrError(`${where}: d_model ${d_model} is not divisible by num_heads ${num_heads}`);
  }
  const d_k = d_model / num_heads;
  if (d_k % 2 !== 0) {
    throw new PldrError(`${where}: d_k = d_model / num_heads = ${d_k} must be even (RoPE rotates pairs of components)`);
  }
}

/** Check a config built by hand (or by a preset); returns it unchanged when it is valid. */
export function validateConfig(cfg: ModelConfig, where = 'config'): ModelConfig {
  if (cfg === null || typeof cfg !== 'object') throw new PldrError(`${where}: config must be an object`);
  checkVariant(cfg.variant, where);
  for (const key of ['num_layers', 'd_model', 'num_heads', 'dff', 'input_vocab_size', 'max_seq_len'] as const) {
    if (!isPosInt(cfg[key])) throw new PldrError(`${where}: ${sizeProblem(key, cfg[key])}`);
  }
  checkHeads(cfg.d_model, cfg.num_heads, where);
  for (const key of ['num_reslayerA', 'num_denseA', 'A_dff'] as const) {
    if (cfg.variant === 'v510G') {
      if (cfg[key] !== 0) {
        throw new PldrError(
          `${where}: ${key} must be 0 for a v510G model (it has no metric learner), got ${describe(cfg[key])}`,
        );
      }
    } else if (!isPosInt(cfg[key])) {
      throw new PldrError(`${where}: ${sizeProblem(key, cfg[key])}`);
    }
  }
  if (cfg.DAG_reg_coeffs !== undefined) readDagCoeffs(cfg.DAG_reg_coeffs, where);
  if (cfg.rope !== undefined) checkRopeStyle(cfg.rope, where);
  checkSizeLimits(cfg, where);
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// What any model pldr handles must fit in, whatever the backend (refuse, don't crash)
// ---------------------------------------------------------------------------------------------

/**
 * The most parameters (+ a v510G model's G list) pldr holds: a model file (model.safetensors, a
 * .pth) is read whole, Node reads at most 2 GiB at once, and 500,000,000 float32 values leave room
 * for the header within that.
 */
export const MAX_STORED_VALUES = 500_000_000;

/** The most tensors a state dict may have: a model file lists them all in a JSON header, which safetensors caps at 100 MB. */
export const MAX_TENSORS = 500_000;

/** The longest typed array V8 makes (Node 20): the RoPE table, a [max_seq_len, d_k] float32 array, must fit in one. */
export const MAX_TYPED_ARRAY_LENGTH = 2 ** 32;

const count = (n: number) => n.toLocaleString('en-US');

/** Number of state-dict keys, counted without listing them (a listing is what must not be made for an absurd config). */
export function tensorCount(cfg: ModelConfig): number {
  const full = cfg.variant !== 'v510G';
  // wq, wk, wv, dense and the GLU's three linears (2 tensors each), layernorm1 and layernorm2
  let perLayer = 4 * 2 + 3 * 2 + 2 * 2;
  // Wlst ... balst; per residual unit D GLUs and a LayerNorm; mha1.layernorm1
  if (full) perLayer += 5 + cfg.num_reslayerA * (cfg.num_denseA * 6 + 2) + 2;
  return 1 + cfg.num_layers * perLayer + 2 + 2;
}

/** float32 values in a model file: the parameters and, for v510G, the G list (N × H × d_k²). */
export function storedValues(cfg: ModelConfig): number {
  const G = cfg.variant === 'v510G' ? cfg.num_layers * cfg.d_model * dk(cfg) : 0;
  return paramCounts(cfg).total + G;
}

/** The largest part of the parameter count, named by the fields that make it, so an error can say which to lower. */
function largestPart(cfg: ModelConfig): string {
  const {num_layers: N, d_model: d, dff: F, input_vocab_size: V} = cfg;
  const c = paramCounts(cfg);
  const parts: [string, number][] = [
    [`input_vocab_size ${V} × d_model ${d}`, c.embedding + c.final_layer],
    [`num_layers ${N} × d_model ${d} squared`, N * c.per_layer.attention],
    [`num_layers ${N} × d_model ${d} × dff ${F}`, N * c.per_layer.ffn],
    [
      `num_layers ${N} × num_reslayerA ${cfg.num_reslayerA} × num_denseA ${cfg.num_denseA} × A_dff ${cfg.A_dff} × d_k ${dk(cfg)}`,
      N * c.per_layer.metric_learner,
    ],
    [
      `num_layers ${N} × d_model ${d} × d_k ${dk(cfg)}`,
      N * (c.per_layer.plga + (cfg.variant === 'v510G' ? d * dk(cfg) : 0)),
    ],
  ];
  return parts.reduce((a, b) => (b[1] > a[1] ? b : a))[0];
}

/**
 * Sizes that no backend can hold, checked with arithmetic alone (nothing is allocated or listed):
 * the tensor count, the stored values, the RoPE table. What one backend can hold is backend.ts's.
 */
function checkSizeLimits(cfg: ModelConfig, where: string): void {
  const tensors = tensorCount(cfg);
  if (tensors > MAX_TENSORS) {
    const units = cfg.variant === 'v510G' ? '' : `, num_reslayerA ${cfg.num_reslayerA}, num_denseA ${cfg.num_denseA}`;
    throw new PldrError(
      `${where}: num_layers ${cfg.num_layers}${units} make ${count(tensors)} tensors, over the ${count(MAX_TENSORS)} a model file can list (its safetensors header is capped at 100 MB): lower num_layers`,
    );
  }
  const values = storedValues(cfg);
  if (values > MAX_STORED_VALUES) {
    throw new PldrError(
      `${where}: ${count(values)} parameters, over the ${count(MAX_STORED_VALUES)} pldr can hold (a model file is read whole, at most 2 GiB): most come from ${largestPart(cfg)}, so lower those`,
    );
  }
  const rope = cfg.max_seq_len * dk(cfg);
  if (rope > MAX_TYPED_ARRAY_LENGTH) {
    throw new PldrError(
      `${where}: max_seq_len ${cfg.max_seq_len} × d_k ${dk(cfg)} = ${count(rope)} RoPE table entries, over the ${count(MAX_TYPED_ARRAY_LENGTH)} a JavaScript typed array holds: lower max_seq_len`,
    );
  }
}

/** A training micro-batch: `rows` windows of `context` positions. */
export interface Batch {
  rows: number;
  context: number;
  /** The flags that set rows and context, for messages (default train's --batch-size and --context). */
  flags?: [string, string];
}

/** A generation: a prompt pass over `prompt` positions, then a KV cache of `positions` in all. */
export interface Generation {
  prompt: number;
  positions: number;
}

/** Bytes a model asks of the backend, by part. */
export interface BackendBytes {
  /**
   * float32 parameters and a v510G model's G list. To train, 11 values per parameter: at a step's
   * peak the wasm heap held 12–14 (the parameters in two layouts, their gradients, the clipped
   * gradients, AdamW's two moments and its update's temporaries).
   */
  weights: number;
  /**
   * A training micro-batch: what its forward and backward pass hold at their peak, per
   * position ~12 copies of the logits' row (12·V) and per layer 64·d + 32·F values and ~10 copies
   * of the attention rows (10·H·T). Fitted under what a step on the wasm backend measured (its
   * heap peaked 1.1–1.3× higher at V 512–32000, T 128–2048), so what this refuses cannot fit.
   * A generation: its KV cache (K and V, [positions, d] per layer) and the prompt pass's attention
   * rows, 9·H·prompt² values (one layer at a time; the wasm heap grew by 10·H·prompt² at 2000–4000).
   */
  activations: number;
  /** The RoPE tables: cos and sin, [max_seq_len, d_k] each. */
  rope: number;
  total: number;
}

const TRAINING_VALUES_PER_PARAMETER = 11;

/** What a model takes on the backend: held, trained on micro-batches (`Batch`), or generating (`Generation`). */
export function backendBytes(cfg: ModelConfig, work?: Batch | Generation): BackendBytes {
  const params = paramCounts(cfg).total;
  const G = storedValues(cfg) - params;
  const training = work !== undefined && 'rows' in work ? work : undefined;
  const generation = work !== undefined && 'prompt' in work ? work : undefined;
  const weights = 4 * (params * (training ? TRAINING_VALUES_PER_PARAMETER : 1) + G);
  let activations = 0;
  if (training) {
    const {rows: B, context: T} = training;
    const perLayer = 64 * cfg.d_model + 32 * cfg.dff + 10 * cfg.num_heads * T;
    activations = 4 * B * T * (12 * cfg.input_vocab_size + cfg.num_layers * perLayer);
  } else if (generation) {
    activations =
      4 * (2 * cfg.num_layers * cfg.d_model * generation.positions + 9 * cfg.num_heads * generation.prompt ** 2);
  }
  const rope = 4 * 2 * cfg.max_seq_len * dk(cfg);
  return {weights, activations, rope, total: weights + activations + rope};
}

// ---------------------------------------------------------------------------------------------
// State-dict layout (§3.14)
// ---------------------------------------------------------------------------------------------

export interface KeySpec {
  key: string;
  shape: number[];
}

/** Every state-dict key with its shape, in the reference's state-dict (module registration) order. */
export function stateDictSpec(cfg: ModelConfig): KeySpec[] {
  const d = cfg.d_model;
  const H = cfg.num_heads;
  const d_k = dk(cfg);
  const F = cfg.dff;
  const FA = cfg.A_dff;
  const V = cfg.input_vocab_size;
  const spec: KeySpec[] = [];
  const linear = (name: string, out: number, inp: number) => {
    spec.push({key: `${name}.weight`, shape: [out, inp]}, {key: `${name}.bias`, shape: [out]});
  };
  const layerNorm = (name: string, n: number) => {
    spec.push({key: `${name}.weight`, shape: [n]}, {key: `${name}.bias`, shape: [n]});
  };
  const glu = (name: string, nIn: number, nHid: number, nOut: number) => {
    linear(`${name}.gluw1`, nHid, nIn);
    linear(`${name}.gluw2`, nHid, nIn);
    linear(`${name}.gluw3`, nOut, nHid);
  };
  const full = cfg.variant !== 'v510G';

  spec.push({key: 'decoder.embedding.weight', shape: [V, d]});
  for (let l = 0; l < cfg.num_layers; l++) {
    const p = `decoder.dec_layers.${l}`;
    linear(`${p}.mha1.wq`, d, d);
    linear(`${p}.mha1.wk`, d, d);
    linear(`${p}.mha1.wv`, d, d);
    if (full) {
      for (const t of ['Wlst', 'blst', 'pwlst', 'alst', 'balst']) {
        spec.push({key: `${p}.mha1.plgatt_layer.${t}`, shape: [H, d_k, d_k]});
      }
    }
    linear(`${p}.mha1.dense`, d, d);
    if (full) {
      for (let r = 0; r < cfg.num_reslayerA; r++) {
        for (let j = 0; j < cfg.num_denseA; j++) glu(`${p}.mha1.reslayerAs.${r}.denseAs.${j}`, d_k, FA, d_k);
        layerNorm(`${p}.mha1.reslayerAs.${r}.layernormA`, d_k);
      }
      layerNorm(`${p}.mha1.layernorm1`, d_k);
    }
    glu(`${p}.ffn`, d, F, d);
    layerNorm(`${p}.layernorm1`, d);
    layerNorm(`${p}.layernorm2`, d);
  }
  // Registered after the layers although it is applied first (right after the embedding).
  layerNorm('decoder.layernorm1', d);
  linear('final_layer', V, d);
  return spec;
}

/** Keys that only a full (PLGA) model has; their presence/absence tells v510 from v510G apart. */
function isPlgaKey(key: string): boolean {
  return key.includes('.plgatt_layer.') || key.includes('.reslayerAs.') || key.includes('.mha1.layernorm1.');
}

function listSome(keys: string[], max = 3): string {
  const head = keys.slice(0, max).join(', ');
  return keys.length > max ? `${head}, ... (${keys.length} in all)` : head;
}

/**
 * Check a loaded state dict against the keys and shapes the hyper-parameters imply. Throws one
 * PldrError that names the missing keys, the unexpected keys and the first shape mismatch, so a
 * wrong --hparams file or variant is caught before any tensor is used.
 */
export function checkStateDict(cfg: ModelConfig, sd: StateDict, source: string): void {
  const spec = stateDictSpec(cfg);
  const expected = new Set(spec.map((s) => s.key));
  const missing = spec.filter((s) => !sd.has(s.key)).map((s) => s.key);
  const unexpected = [...sd.keys()].filter((k) => !expected.has(k));
  let mismatch: string | undefined;
  for (const s of spec) {
    const t = sd.get(s.key);
    if (t && (t.shape.length !== s.shape.length || t.shape.some((n, i) => n !== s.shape[i]))) {
      mismatch = `${s.key} expected [${s.shape.join(',')}], found [${t.shape.join(',')}]`;
      break;
    }
  }
  if (missing.length === 0 && unexpected.length === 0 && mismatch === undefined) return;

  const parts: string[] = [];
  if (missing.length > 0) parts.push(`missing ${missing.length} key(s): ${listSome(missing)}`);
  if (unexpected.length > 0) parts.push(`unexpected ${unexpected.length} key(s): ${listSome(unexpected)}`);
  if (mismatch !== undefined) parts.push(`shape mismatch: ${mismatch}`);
  // The commonest cause is a variant mix-up: say so.
  let hint = '';
  if (cfg.variant !== 'v510G' && missing.length > 0 && missing.every(isPlgaKey) && unexpected.length === 0) {
    hint = ' (the checkpoint looks like a v510G/Gi model)';
  } else if (cfg.variant === 'v510G' && unexpected.length > 0 && unexpected.every(isPlgaKey) && missing.length === 0) {
    hint = ' (the checkpoint looks like a v510 model)';
  }
  throw new PldrError(
    `${source}: state dict does not match the hyper-parameters (${cfg.variant}, ${cfg.num_layers} layers, ` +
      `${cfg.num_heads} heads, d_model ${cfg.d_model})${hint}: ${parts.join('; ')}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Parameter counts (§3.15)
// ---------------------------------------------------------------------------------------------

export interface LayerParamCounts {
  attention: number; // wq, wk, wv, dense: 4·(d² + d)
  ffn: number; // 2·(d·F + F) + (F·d + d)
  layernorms: number; // layernorm1 + layernorm2: 4·d
  metric_learner: number; // #ResL: R·[D·(3·d_k·F_A + 2·F_A + d_k) + 2·d_k]
  plga: number; // Wlst, blst, pwlst, alst, balst: 5·H·d_k²
  layernorm_A: number; // mha1.layernorm1 on A⁰: 2·d_k
  total: number;
}

export interface ParamCounts {
  embedding: number; // decoder.embedding: V·d
  'decoder.layernorm1': number; // 2·d
  final_layer: number; // d·V + V
  per_layer: LayerParamCounts;
  layers: number; // N · per_layer.total
  total: number;
  /** #ResL / d_k², the paper's "#ResL/#A" column of Table 1 (0 for v510G). */
  resLOverDk2: number;
  /** N·(#ResL + PLGA + LayerNorm on A): what a constant G removes (0 for v510G). */
  replaced_by_G: number;
}

export function paramCounts(cfg: ModelConfig): ParamCounts {
  const {d_model: d, dff: F, A_dff: FA, num_heads: H, input_vocab_size: V} = cfg;
  const d_k = dk(cfg);
  const full = cfg.variant !== 'v510G';
  const R = cfg.num_reslayerA;
  const D = cfg.num_denseA;
  const metric_learner = full ? R * (D * (3 * d_k * FA + 2 * FA + d_k) + 2 * d_k) : 0;
  const plga = full ? 5 * H * d_k * d_k : 0;
  const layernorm_A = full ? 2 * d_k : 0;
  const per: Omit<LayerParamCounts, 'total'> = {
    attention: 4 * (d * d + d),
    ffn: 2 * (d * F + F) + (F * d + d),
    layernorms: 4 * d,
    metric_learner,
    plga,
    layernorm_A,
  };
  const perTotal = Object.values(per).reduce((a, b) => a + b, 0);
  const embedding = V * d;
  const embLn = 2 * d;
  const final_layer = d * V + V;
  const layers = cfg.num_layers * perTotal;
  return {
    embedding,
    'decoder.layernorm1': embLn,
    final_layer,
    per_layer: {...per, total: perTotal},
    layers,
    total: embedding + embLn + final_layer + layers,
    resLOverDk2: metric_learner / (d_k * d_k),
    replaced_by_G: cfg.num_layers * (metric_learner + plga + layernorm_A),
  };
}

/** Sum of numel over the state-dict layout; equals paramCounts(cfg).total. */
export function specTotal(cfg: ModelConfig): number {
  return stateDictSpec(cfg).reduce((a, s) => a + numel(s.shape), 0);
}

// ---------------------------------------------------------------------------------------------
// Presets: the paper's Table 1 models (§3.15) and small CPU models
// ---------------------------------------------------------------------------------------------

export interface Preset {
  name: string;
  description: string;
  config: ModelConfig;
}

/** The paper's shared settings: d_k = 64, R = 8, D = 2, V = 32000, P_max = 1024. */
function paperModel(variant: Variant, N: number, H: number, FA: number, extra: Partial<ModelConfig> = {}): ModelConfig {
  const d = H * 64;
  const full = variant !== 'v510G';
  return {
    variant,
    num_layers: N,
    d_model: d,
    num_heads: H,
    dff: defaultDff(d), // 2048 for d 768, 2389 for d 896
    num_reslayerA: full ? 8 : 0,
    num_denseA: full ? 2 : 0,
    A_dff: full ? FA : 0,
    input_vocab_size: 32000,
    max_seq_len: 1024,
    ...extra,
  };
}

function shape(c: ModelConfig): string {
  const base = `${c.num_layers} layers x ${c.num_heads} heads, d_model ${c.d_model}, dff ${c.dff}`;
  return c.variant === 'v510G' ? base : `${base}, A_dff ${c.A_dff} (SwiGLU:LU ${c.A_dff}:${dk(c)})`;
}

function v51(name: string, N: number, H: number, FA: number, warmup: number, data: string): Preset {
  const config = paperModel('v510', N, H, FA);
  return {name, config, description: `v510, ${shape(config)}; trainable G_LM; warm-up ${warmup} steps, data ${data}`};
}

function gi(name: string, N: number, H: number, from: string): Preset {
  const config = paperModel('v510G', N, H, 0, {source: `Gi: G_LM inferred from ${from}`});
  return {name, config, description: `v510Gi (inference only), ${shape(config)}; G_LM and weights from ${from}`};
}

function g(name: string, gSource: string, gText: string): Preset {
  const config = paperModel('v510G', 5, 14, 0, {source: gSource});
  return {
    name,
    config,
    description: `v510G, ${shape(config)}; constant G_LM = ${gText}; warm-up 2000 steps, data [16M,32M]`,
  };
}

const DAG_PAPER: [number, number, number] = [0.05, 0.05, 0.05];

const PRESET_LIST: Preset[] = [
  v51('PLDRv51-104M', 7, 12, 170, 8000, '[0,16M]'),
  v51('PLDRv51-110M-1', 5, 14, 170, 4000, '[0,16M]'),
  v51('PLDRv51-110M-2', 5, 14, 170, 4000, '[16M,32M]'),
  v51('PLDRv51-110M-3', 5, 14, 180, 2000, '[0,16M]'),
  v51('PLDRv51-110M-4', 5, 14, 181, 2000, '[0,16M]'),
  v51('PLDRv51-110M-5', 5, 14, 196, 2000, '[0,16M]'),
  (() => {
    const config = paperModel('v510_dag', 5, 14, 170, {DAG_reg_coeffs: [...DAG_PAPER]});
    return {
      name: 'PLDRv51-DAG-110M',
      config,
      description: `v510_dag, ${shape(config)}; trainable G_LM + DAG regulariser (0.05, 0.05, 0.05); warm-up 2000 steps, data [0,16M]`,
    };
  })(),
  gi('PLDRv51Gi-99M', 7, 12, 'PLDRv51-104M'),
  gi('PLDRv51Gi-106M-1', 5, 14, 'PLDRv51-110M-1'),
  gi('PLDRv51Gi-106M-2', 5, 14, 'PLDRv51-110M-2'),
  gi('PLDRv51Gi-106M-3', 5, 14, 'PLDRv51-110M-3'),
  gi('PLDRv51Gi-106M-4', 5, 14, 'PLDRv51-110M-4'),
  gi('PLDRv51Gi-106M-5', 5, 14, 'PLDRv51-110M-5'),
  gi('PLDRv51Gi-DAG-106M', 5, 14, 'PLDRv51-DAG-110M'),
  g('PLDRv51G-106M-1', 'PLDRv51-110M-1', 'G_LM of PLDRv51-110M-1'),
  g('PLDRv51G-106M-2', 'identity', 'identity (standard SDPA with RoPE)'),
  g('PLDRv51G-106M-3', 'random', '"random" (docs/spec.md §5.6)'),
  // CPU presets. The vocabulary stays 32000 so the paper tokenizer works as is; the output layer
  // then dominates both the count and the step time, which is what a small model costs anyway.
  {
    name: 'tiny',
    description:
      'CPU: v510, 2 layers x 2 heads, d_k 32, d_model 64, R 2, D 2, context 256; seconds per training step on 2 cores',
    config: {
      variant: 'v510',
      num_layers: 2,
      d_model: 64,
      num_heads: 2,
      dff: defaultDff(64), // 170
      num_reslayerA: 2,
      num_denseA: 2,
      A_dff: defaultAdff(32), // 85
      input_vocab_size: 32000,
      max_seq_len: 256,
    },
  },
  {
    name: 'small',
    description: 'CPU: v510, 5 layers x 4 heads, d_k 32, d_model 128, R 8, D 2, context 512; about 10M parameters',
    config: {
      variant: 'v510',
      num_layers: 5,
      d_model: 128,
      num_heads: 4,
      dff: defaultDff(128), // 341
      num_reslayerA: 8,
      num_denseA: 2,
      A_dff: defaultAdff(32), // 85
      input_vocab_size: 32000,
      max_seq_len: 512,
    },
  },
];

for (const p of PRESET_LIST) validateConfig(p.config, `preset ${p.name}`);

/** Presets by name, in the order of the paper's Table 1 followed by the CPU presets. */
export const PRESETS: Readonly<Record<string, Preset>> = Object.freeze(
  Object.fromEntries(PRESET_LIST.map((p) => [p.name, p])),
);

export function presetNames(): string[] {
  return PRESET_LIST.map((p) => p.name);
}

/** Look a preset up by name (case-insensitive); returns the full preset record. */
export function findPreset(name: string): Preset {
  const p = PRESETS[name] ?? PRESET_LIST.find((q) => q.name.toLowerCase() === name.toLowerCase());
  if (!p) throw new PldrError(`unknown preset "${name}": use one of ${presetNames().join(', ')}`);
  return p;
}

/** A fresh copy of a preset's config (callers may change it). */
export function getPreset(name: string): ModelConfig {
  const c = findPreset(name).config;
  return {...c, ...(c.DAG_reg_coeffs ? {DAG_reg_coeffs: [...c.DAG_reg_coeffs] as [number, number, number]} : {})};
}
