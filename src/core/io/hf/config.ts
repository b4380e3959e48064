/**
 * The Hugging Face `pldrllm` format, mapped onto ours: a Transformers `config.json` ⇄ ModelConfig,
 * and the Transformers weight names ⇄ the reference's state-dict names (stateDictSpec).
 *
 * Facts from the Transformers implementation (src/transformers/models/pldrllm/):
 * - PldrllmForCausalLM holds the base model as `decoder` (base_model_prefix) and the LM head as
 *   `final_layer`; below them every module keeps the reference's name (embedding, dec_layers.<l>.mha1.wq,
 *   ... plgatt_layer.Wlst, reslayerAs.<r>.denseAs.<j>.gluw1, layernorm1 ...), so a causal-LM snapshot's
 *   tensors carry exactly the reference's state-dict keys. A bare PldrllmModel saves them without the
 *   `decoder.` prefix.
 * - The RoPE tables are non-persistent buffers and never saved. A fixed-G model (custom_G_type set)
 *   saves the persistent buffers `decoder.past_G_values` [N, 3, 1, H, d_k, d_k] (slot 2 is G_LM) and
 *   `decoder.past_G_values_status` [N] (bool), and has no metric learner or PLGA weights.
 * - The task heads add `score.weight` [num_labels, d] (sequence classification, no bias) or
 *   `score.weight` + `score.bias` (token classification).
 * - Config defaults (used when a field is absent) are PldrllmConfig's: head_dim 64, A_dff 170,
 *   num_reslayerA 8, num_denseA 2, vocab_size 32000, max_position_embeddings 1024, layer_norm_eps 1e-6,
 *   rope_theta 10000, reference_rope true, all three bias flags true, tie_word_embeddings false.
 *
 * Nothing here reads files: see snapshot.ts.
 */
import {defaultDff, type ModelConfig, ropeStyle, validateConfig} from '../../config.js';
import {PldrError} from '../../errors.js';
import {isObject} from '../json.js';
import {LN_EPS, ROPE_THETA} from '../../model/constants.js';

export const HF_MODEL_TYPE = 'pldrllm';

/** The Transformers classes a snapshot's `architectures` may name. */
export const HF_CAUSAL_LM = 'PldrllmForCausalLM';
export const HF_BASE_MODEL = 'PldrllmModel';
export const HF_SEQUENCE_CLASSIFICATION = 'PldrllmForSequenceClassification';
export const HF_TOKEN_CLASSIFICATION = 'PldrllmForTokenClassification';
export const HF_ARCHITECTURES = [
  HF_CAUSAL_LM,
  HF_BASE_MODEL,
  HF_SEQUENCE_CLASSIFICATION,
  HF_TOKEN_CLASSIFICATION,
] as const;
export type HfArchitecture = (typeof HF_ARCHITECTURES)[number];

/** custom_G_type: null (G learned by the metric learner) or a fixed G stored as buffers. */
export const HF_CUSTOM_G_TYPES = ['identity', 'random', 'external'] as const;
export type HfCustomGType = (typeof HF_CUSTOM_G_TYPES)[number];

/** The PldrllmConfig defaults for the fields a snapshot may leave out. */
const HF_DEFAULTS = {
  vocab_size: 32000,
  hidden_size: 896,
  num_hidden_layers: 5,
  num_attention_heads: 14,
  head_dim: 64,
  max_position_embeddings: 1024,
  num_reslayerA: 8,
  num_denseA: 2,
  A_dff: 170,
  pad_token_id: 0,
  bos_token_id: 2,
  eos_token_id: 3,
} as const;

/** Special token ids as the snapshot's config.json gives them (eos may be a list in Transformers configs). */
export interface HfTokenIds {
  pad: number | null;
  bos: number | null;
  eos: number[];
}

/** A snapshot's config.json, read: our config plus what only the Hugging Face side says. */
export interface HfConfig {
  config: ModelConfig;
  architecture: HfArchitecture;
  /** true: the reference's interleaved-pair RoPE (v51); false: GPT-NeoX rotate-half (v52). */
  referenceRope: boolean;
  customGType: HfCustomGType | null;
  tokens: HfTokenIds;
  /** The parsed config.json as is, for fields other parts read (id2label, num_labels, torch_dtype ...). */
  json: Record<string, unknown>;
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** A positive whole number, or the default when the field is absent (null counts as absent only where `nullable`). */
function posInt(json: Record<string, unknown>, key: string, where: string, fallback: number | undefined): number {
  const v = json[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new PldrError(`${where}: missing ${key}`);
  }
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
    throw new PldrError(`${where}: ${key} must be a positive integer, got ${show(v)}`);
  return v;
}

function bool(json: Record<string, unknown>, key: string, where: string, fallback: boolean): boolean {
  const v = json[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new PldrError(`${where}: ${key} must be true or false, got ${show(v)}`);
  return v;
}

function tokenId(v: unknown, key: string, where: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw new PldrError(`${where}: ${key} must be a token id, got ${show(v)}`);
  return v;
}

/** Refuse a field whose value our model cannot reproduce; `fix` says what would work. */
function refuse(where: string, what: string, fix: string): never {
  throw new PldrError(`${where}: ${what}, which pldr does not support (${fix})`);
}

function readArchitecture(json: Record<string, unknown>, where: string): HfArchitecture {
  const a = json.architectures;
  if (a === undefined || a === null) return HF_CAUSAL_LM; // PretrainedConfig leaves it unset for a bare config
  if (!Array.isArray(a) || a.length === 0 || !a.every((s) => typeof s === 'string')) {
    throw new PldrError(`${where}: architectures must be a list of class names, got ${show(a)}`);
  }
  const known = a.find((s) => (HF_ARCHITECTURES as readonly string[]).includes(s));
  if (!known)
    refuse(where, `architectures ${show(a)} names no class pldr reads`, `use one of ${HF_ARCHITECTURES.join(', ')}`);
  return known as HfArchitecture;
}

function readCustomG(json: Record<string, unknown>, where: string): HfCustomGType | null {
  const v = json.custom_G_type;
  if (v === undefined || v === null) return null;
  if (typeof v === 'string' && (HF_CUSTOM_G_TYPES as readonly string[]).includes(v)) return v as HfCustomGType;
  return refuse(where, `custom_G_type ${show(v)} is unknown`, `use null, ${HF_CUSTOM_G_TYPES.join(', ')}`);
}

/**
 * A Transformers `config.json` (parsed) → our config, refusing with one line anything our model
 * cannot do: another model_type, head_dim ≠ hidden_size / num_attention_heads, grouped-query heads,
 * a layer_norm_eps or rope_theta other than the reference's, rope_scaling, tied embeddings, a bias
 * flag turned off, an activation other than silu, an unknown custom_G_type or architecture.
 */
export function hfConfigToModel(obj: unknown, where: string): HfConfig {
  if (!isObject(obj)) throw new PldrError(`${where}: expected a JSON object`);
  const json = obj;
  if (json.model_type !== HF_MODEL_TYPE) {
    throw new PldrError(
      `${where}: model_type is ${show(json.model_type ?? null)}, not "${HF_MODEL_TYPE}": this is not a PLDR-LLM snapshot`,
    );
  }
  const architecture = readArchitecture(json, where);
  const customGType = readCustomG(json, where);
  const referenceRope = bool(json, 'reference_rope', where, true);

  const H = posInt(json, 'num_attention_heads', where, HF_DEFAULTS.num_attention_heads);
  const headDim = posInt(json, 'head_dim', where, HF_DEFAULTS.head_dim);
  const d = json.hidden_size === null ? H * headDim : posInt(json, 'hidden_size', where, HF_DEFAULTS.hidden_size);
  if (headDim * H !== d) {
    refuse(
      where,
      `head_dim ${headDim} × num_attention_heads ${H} = ${headDim * H} is not hidden_size ${d}`,
      `head_dim must be hidden_size / num_attention_heads = ${d / H}`,
    );
  }
  const kv = json.num_key_value_heads;
  if (kv !== undefined && kv !== null && kv !== H)
    refuse(
      where,
      `num_key_value_heads ${show(kv)} differs from num_attention_heads ${H}`,
      'PLDR-LLM attention has one key/value head per query head',
    );

  const eps = json.layer_norm_eps ?? LN_EPS;
  if (eps !== LN_EPS) refuse(where, `layer_norm_eps is ${show(eps)}`, `the reference's LayerNorms use ${LN_EPS}`);
  const theta = json.rope_theta ?? ROPE_THETA;
  if (theta !== ROPE_THETA) refuse(where, `rope_theta is ${show(theta)}`, `the reference's RoPE uses ${ROPE_THETA}`);
  const scaling = json.rope_scaling;
  if (scaling !== undefined && scaling !== null) {
    const type = isObject(scaling) ? (scaling.rope_type ?? scaling.type) : undefined;
    if (type !== 'default') refuse(where, `rope_scaling is ${show(scaling)}`, 'set rope_scaling to null');
  }
  if (bool(json, 'tie_word_embeddings', where, false))
    refuse(where, 'tie_word_embeddings is true', 'final_layer must have weights of its own');
  for (const flag of ['attention_bias', 'glu_bias', 'final_bias']) {
    if (!bool(json, flag, where, true))
      refuse(where, `${flag} is false`, 'every linear layer of a PLDR-LLM has a bias');
  }
  const act = json.hidden_act ?? 'silu';
  if (act !== 'silu') refuse(where, `hidden_act is ${show(act)}`, 'the GLUs use silu');

  const fixedG = customGType !== null;
  const config: ModelConfig = {
    variant: fixedG ? 'v510G' : 'v510',
    num_layers: posInt(json, 'num_hidden_layers', where, HF_DEFAULTS.num_hidden_layers),
    d_model: d,
    num_heads: H,
    dff: json.intermediate_size === null ? defaultDff(d) : posInt(json, 'intermediate_size', where, defaultDff(d)),
    // a fixed-G model builds no metric learner, whatever the config says about it
    num_reslayerA: fixedG ? 0 : posInt(json, 'num_reslayerA', where, HF_DEFAULTS.num_reslayerA),
    num_denseA: fixedG ? 0 : posInt(json, 'num_denseA', where, HF_DEFAULTS.num_denseA),
    A_dff: fixedG ? 0 : posInt(json, 'A_dff', where, HF_DEFAULTS.A_dff),
    input_vocab_size: posInt(json, 'vocab_size', where, HF_DEFAULTS.vocab_size),
    max_seq_len: posInt(json, 'max_position_embeddings', where, HF_DEFAULTS.max_position_embeddings),
  };
  if (fixedG) config.source = customGType;
  // not a PldrllmConfig field: pldr writes it so a DAG model's regulariser survives a round trip
  const dag = json.DAG_reg_coeffs;
  if (Array.isArray(dag) && dag.length === 3 && dag.every((c) => typeof c === 'number'))
    config.DAG_reg_coeffs = [dag[0], dag[1], dag[2]];
  applyRopeStyle(config, referenceRope);
  validateConfig(config, where);

  const eosRaw = json.eos_token_id === undefined ? HF_DEFAULTS.eos_token_id : json.eos_token_id;
  const eos = (Array.isArray(eosRaw) ? eosRaw : [eosRaw])
    .map((v) => tokenId(v, 'eos_token_id', where))
    .filter((v): v is number => v !== null);
  const tokens: HfTokenIds = {
    pad: tokenId(json.pad_token_id === undefined ? HF_DEFAULTS.pad_token_id : json.pad_token_id, 'pad_token_id', where),
    bos: tokenId(json.bos_token_id === undefined ? HF_DEFAULTS.bos_token_id : json.bos_token_id, 'bos_token_id', where),
    eos,
  };
  for (const [name, id] of [
    ['pad_token_id', tokens.pad],
    ['bos_token_id', tokens.bos],
    ...eos.map((e) => ['eos_token_id', e] as const),
  ] as const) {
    if (id !== null && id >= config.input_vocab_size)
      throw new PldrError(`${where}: ${name} ${id} is outside the vocabulary (vocab_size ${config.input_vocab_size})`);
  }
  return {config, architecture, referenceRope, customGType, tokens, json};
}

/** reference_rope false (v52) is GPT-NeoX rotate-half RoPE: ModelConfig.rope 'neox'; the reference's is the default. */
function applyRopeStyle(config: ModelConfig, referenceRope: boolean): void {
  if (!referenceRope) config.rope = 'neox';
}

/** Options for writing a config.json: what our ModelConfig does not carry. */
export interface HfConfigOptions {
  architecture?: HfArchitecture;
  tokens?: Partial<HfTokenIds>;
  /** For a v510G model: how its G is described to Transformers ('external' unless identity/random). */
  customGType?: HfCustomGType;
  /** Extra fields merged in last (a task head's id2label/label2id, num_labels ...). */
  extra?: Record<string, unknown>;
}

/** For a v510G model: identity/random when that is where its G came from, else external (the G travels in the weights). */
export function customGTypeOf(cfg: ModelConfig): HfCustomGType | null {
  if (cfg.variant !== 'v510G') return null;
  return cfg.source === 'identity' || cfg.source === 'random' ? cfg.source : 'external';
}

/**
 * Our config → the config.json Transformers' PldrllmConfig reads, with every field it reads
 * (keys sorted, as save_pretrained writes them). v510_dag writes as v510: the DAG regulariser is
 * a training loss, not part of the network.
 */
export function modelConfigToHf(cfg: ModelConfig, opts: HfConfigOptions = {}): Record<string, unknown> {
  const customG = opts.customGType ?? customGTypeOf(cfg);
  const H = cfg.num_heads;
  const fixedG = cfg.variant === 'v510G';
  const tokens = {
    pad: HF_DEFAULTS.pad_token_id,
    bos: HF_DEFAULTS.bos_token_id,
    eos: [HF_DEFAULTS.eos_token_id],
    ...opts.tokens,
  };
  const out: Record<string, unknown> = {
    A_dff: fixedG ? 0 : cfg.A_dff,
    architectures: [opts.architecture ?? HF_CAUSAL_LM],
    attention_bias: true,
    attention_dropout: 0.0,
    bos_token_id: tokens.bos,
    cache_first_G: false,
    custom_G_type: customG,
    eos_token_id: tokens.eos.length === 1 ? tokens.eos[0] : tokens.eos,
    final_bias: true,
    glu_bias: true,
    head_dim: cfg.d_model / H,
    hidden_act: 'silu',
    hidden_size: cfg.d_model,
    initializer_range: 0.02,
    intermediate_size: cfg.dff,
    layer_norm_eps: LN_EPS,
    max_position_embeddings: cfg.max_seq_len,
    model_type: HF_MODEL_TYPE,
    num_attention_heads: H,
    num_denseA: fixedG ? 0 : cfg.num_denseA,
    num_hidden_layers: cfg.num_layers,
    num_reslayerA: fixedG ? 0 : cfg.num_reslayerA,
    output_pldr_attentions: false,
    pad_token_id: tokens.pad,
    reference_rope: ropeStyle(cfg) === 'reference',
    rope_scaling: null,
    rope_theta: ROPE_THETA,
    tie_word_embeddings: false,
    torch_dtype: 'float32',
    use_cache: true,
    vocab_size: cfg.input_vocab_size,
    ...(cfg.DAG_reg_coeffs ? {DAG_reg_coeffs: [...cfg.DAG_reg_coeffs]} : {}),
    ...opts.extra,
  };
  return Object.fromEntries(
    Object.keys(out)
      .sort()
      .map((k) => [k, out[k]]),
  );
}

// ---------------------------------------------------------------------------------------------
// Weight names
// ---------------------------------------------------------------------------------------------

/** The base model's prefix in every PldrllmFor* class (PldrllmPreTrainedModel.base_model_prefix). */
export const HF_BASE_PREFIX = 'decoder.';

/** Tensors of a snapshot that are not reference weights: fixed-G buffers and task heads. */
export const HF_G_VALUES = 'decoder.past_G_values';
export const HF_G_STATUS = 'decoder.past_G_values_status';
export const HF_SCORE = /^score\.(weight|bias)$/;

/**
 * A snapshot tensor's name → the reference's state-dict name, or undefined for a tensor that is not
 * a reference weight (past_G_values buffers, a task head's `score`): those are the callers' to read.
 * Causal-LM names are the reference's; a bare PldrllmModel's lack the `decoder.` prefix.
 */
export function hfKeyToRef(key: string): string | undefined {
  const full =
    key.startsWith(HF_BASE_PREFIX) || key.startsWith('final_layer.') || HF_SCORE.test(key) ? key : HF_BASE_PREFIX + key;
  if (full === HF_G_VALUES || full === HF_G_STATUS || HF_SCORE.test(full)) return undefined;
  return full;
}

/** The reference's state-dict name → its name in a PldrllmForCausalLM snapshot (the same: see the header). */
export function refKeyToHf(key: string): string {
  return key;
}
