/**
 * A Hugging Face `pldrllm` snapshot folder, read and written.
 *
 *   config.json                      model_type "pldrllm" (hf/config.ts maps it)
 *   generation_config.json           generation defaults (optional)
 *   model.safetensors                or model-0000i-of-0000n.safetensors + model.safetensors.index.json,
 *                                    or pytorch_model.bin (older snapshots; also sharded with an index)
 *   tokenizer.model                  SentencePiece; tokenizer_config.json / special_tokens_map.json beside it
 *   *.py, tokenizer.json, README.md  read by nobody here (the custom code is never executed)
 */
import {existsSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {PldrError} from '../../errors.js';
import {readJson} from '../modelconfig.js';
import {readPth} from '../pth.js';
import {readSafetensors, writeSafetensors} from '../safetensors.js';
import {type StateDict} from '../tensor.js';
import {widen} from '../torch-serialization.js';
import {dk, type ModelConfig} from '../../config.js';
import {type HostTensor, numel} from '../tensor.js';
import {
  customGTypeOf,
  type HfConfig,
  hfConfigToModel,
  type HfConfigOptions,
  type HfCustomGType,
  hfKeyToRef,
  HF_G_STATUS,
  HF_G_VALUES,
  modelConfigToHf,
  refKeyToHf,
} from './config.js';

export const HF_CONFIG = 'config.json';
export const HF_GENERATION_CONFIG = 'generation_config.json';
export const HF_SAFETENSORS = 'model.safetensors';
export const HF_SAFETENSORS_INDEX = 'model.safetensors.index.json';
export const HF_BIN = 'pytorch_model.bin';
export const HF_BIN_INDEX = 'pytorch_model.bin.index.json';
export const HF_TOKENIZER = 'tokenizer.model';
export const HF_TOKENIZER_CONFIG = 'tokenizer_config.json';
export const HF_SPECIAL_TOKENS_MAP = 'special_tokens_map.json';

/** The tokenizer settings a snapshot's tokenizer_config.json / special_tokens_map.json give. */
export interface HfTokenizerSettings {
  /** Prepend the bos token to an encoded text (PldrllmTokenizer's add_bos_token). */
  addBos?: boolean;
  /** Append the eos token to an encoded text. */
  addEos?: boolean;
  /** Special tokens by role, as pieces ("[START]") — the ids come from the SentencePiece model. */
  tokens: Partial<Record<'bos' | 'eos' | 'unk' | 'pad', string>>;
  /** The file(s) these came from. */
  files: string[];
}

/** What a snapshot holds besides the reference weights. */
export interface HfSnapshot {
  hf: HfConfig;
  /** Reference-named weights, float32, in the snapshot's order. */
  weights: StateDict;
  /** Tensors that are not reference weights, under their snapshot names (past_G_values buffers, score.*). */
  extras: StateDict;
  /** The files the tensors were read from. */
  weightFiles: string[];
  generation?: Record<string, unknown>;
  tokenizer?: string;
  tokenizerSettings?: HfTokenizerSettings;
  /** Files in the folder that pldr does not read (custom code, tokenizer.json, README.md ...). */
  ignored: string[];
}

/** A folder whose config.json names a Transformers model_type (any: a foreign one is refused by the reader, with its name). */
export function isHfSnapshot(dir: string): boolean {
  const file = join(dir, HF_CONFIG);
  if (!existsSync(file)) return false;
  try {
    const obj = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    return obj !== null && typeof obj === 'object' && 'model_type' in obj && !('format' in obj);
  } catch {
    return false;
  }
}

/** The snapshot's config.json, mapped (no tensor is read). */
export function readHfConfig(dir: string): HfConfig {
  const file = join(dir, HF_CONFIG);
  return hfConfigToModel(readJson(file), file);
}

/** Tensors of a sharded checkpoint: every file the index names, each checked to hold the keys the index puts in it. */
function readSharded(
  dir: string,
  indexName: string,
  readShard: (path: string) => StateDict,
): {tensors: StateDict; files: string[]} {
  const indexPath = join(dir, indexName);
  const index = readJson(indexPath) as {weight_map?: unknown};
  const map = index?.weight_map;
  if (map === null || typeof map !== 'object' || Array.isArray(map))
    throw new PldrError(`${indexPath}: no "weight_map" object`);
  const byFile = new Map<string, string[]>();
  for (const [key, file] of Object.entries(map as Record<string, unknown>)) {
    if (typeof file !== 'string' || file.includes('/') || file.includes('\\') || file.startsWith('.')) {
      throw new PldrError(
        `${indexPath}: weight_map entry ${key} names ${JSON.stringify(file)}, not a file name in the snapshot`,
      );
    }
    byFile.set(file, [...(byFile.get(file) ?? []), key]);
  }
  const missing = [...byFile.keys()].filter((f) => !existsSync(join(dir, f)));
  if (missing.length > 0) {
    throw new PldrError(
      `${indexPath} names ${missing.length} shard(s) that are not in ${dir}: ${missing.slice(0, 3).join(', ')} (download the whole snapshot)`,
    );
  }
  const tensors: StateDict = new Map();
  for (const [file, keys] of byFile) {
    const shard = readShard(join(dir, file));
    for (const key of keys) {
      const t = shard.get(key);
      if (!t) throw new PldrError(`${indexPath} puts ${key} in ${file}, which does not hold it`);
      tensors.set(key, t);
    }
  }
  return {tensors, files: [indexName, ...byFile.keys()]};
}

function readBin(path: string): StateDict {
  return readPth(path).stateDict;
}

function readSafetensorsTensors(path: string): StateDict {
  return readSafetensors(path).tensors;
}

/** Where a snapshot keeps its weights, in the order Transformers looks: safetensors (sharded or not), then pytorch_model.bin. */
const WEIGHT_LAYOUTS = [
  {file: HF_SAFETENSORS_INDEX, sharded: true, read: readSafetensorsTensors},
  {file: HF_SAFETENSORS, sharded: false, read: readSafetensorsTensors},
  {file: HF_BIN_INDEX, sharded: true, read: readBin},
  {file: HF_BIN, sharded: false, read: readBin},
];

function weightLayout(dir: string): (typeof WEIGHT_LAYOUTS)[number] {
  const layout = WEIGHT_LAYOUTS.find((l) => existsSync(join(dir, l.file)));
  if (!layout)
    throw new PldrError(
      `${dir} has a Hugging Face config.json but no weights: expected ${HF_SAFETENSORS}, ${HF_SAFETENSORS_INDEX} or ${HF_BIN}`,
    );
  return layout;
}

/** The snapshot's tensors, from whichever weights file(s) it has. */
function readSnapshotTensors(dir: string): {tensors: StateDict; files: string[]} {
  const layout = weightLayout(dir);
  if (layout.sharded) return readSharded(dir, layout.file, layout.read);
  return {tensors: layout.read(join(dir, layout.file)), files: [layout.file]};
}

/** The weight files a snapshot names, without reading a tensor: the index's shards, or the single file. */
function weightFileNames(dir: string): string[] {
  const layout = weightLayout(dir);
  if (!layout.sharded) return [layout.file];
  const map = (readJson(join(dir, layout.file)) as {weight_map?: Record<string, unknown>})?.weight_map ?? {};
  return [layout.file, ...new Set(Object.values(map).map(String))];
}

/** The files pldr reads from every snapshot, besides its weights and tokenizer settings. */
const HF_READ = [HF_CONFIG, HF_GENERATION_CONFIG, HF_TOKENIZER];

/** Files in the folder that pldr does not read (custom code, tokenizer.json, README.md ...). */
function ignoredFiles(dir: string, read: Iterable<string>): string[] {
  const used = new Set(read);
  return readdirSync(dir)
    .filter((f) => !used.has(f) && statSync(join(dir, f)).isFile())
    .sort();
}

/** What `pldr info` says about a snapshot, read from its JSON files alone (no tensor is read). */
export interface HfSnapshotDescription {
  format: 'Hugging Face pldrllm snapshot';
  architecture: string;
  /** v51, v52, G (identity), G (random), G/Gi (external G) */
  family: string;
  rope: 'reference' | 'neox';
  /** config.json's _name_or_path and transformers_version, when present. */
  name_or_path?: string;
  transformers_version?: string;
  torch_dtype?: string;
  weights: string[];
  tokenizer?: {file: string; add_bos_token?: boolean; add_eos_token?: boolean; special_tokens: Record<string, string>};
  generation?: Record<string, unknown>;
  ignored: string[];
}

export function describeHfSnapshot(dir: string): HfSnapshotDescription {
  const hf = readHfConfig(dir);
  const family =
    hf.customGType === null
      ? hf.referenceRope
        ? 'v51'
        : 'v52'
      : hf.customGType === 'external'
        ? 'G/Gi (external G in past_G_values)'
        : `G (${hf.customGType} G)`;
  const weights = weightFileNames(dir);
  const settings = readTokenizerSettings(dir);
  const d: HfSnapshotDescription = {
    format: 'Hugging Face pldrllm snapshot',
    architecture: hf.architecture,
    family: hf.config.DAG_reg_coeffs && hf.customGType === null ? `${family} (DAG regulariser)` : family,
    rope: hf.referenceRope ? 'reference' : 'neox',
    weights,
    ignored: [],
  };
  for (const key of ['_name_or_path', 'transformers_version', 'torch_dtype'] as const) {
    const v = hf.json[key];
    if (typeof v === 'string' && v !== '') d[key === '_name_or_path' ? 'name_or_path' : key] = v;
  }
  if (existsSync(join(dir, HF_TOKENIZER))) {
    d.tokenizer = {file: HF_TOKENIZER, special_tokens: {...settings?.tokens}};
    if (settings?.addBos !== undefined) d.tokenizer.add_bos_token = settings.addBos;
    if (settings?.addEos !== undefined) d.tokenizer.add_eos_token = settings.addEos;
  }
  const gen = join(dir, HF_GENERATION_CONFIG);
  if (existsSync(gen)) d.generation = readJson(gen) as Record<string, unknown>;
  d.ignored = ignoredFiles(dir, [...HF_READ, ...weights, ...(settings?.files ?? [])]);
  return d;
}

/** Half-precision snapshots are widened to float32 (exactly); float64 is refused rather than rounded. */
function toF32(tensors: StateDict, where: string): StateDict {
  for (const [k, t] of tensors) {
    if (t.dtype === 'F16' || t.dtype === 'BF16') {
      const raw = t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength) as ArrayBuffer;
      tensors.set(k, {dtype: 'F32', shape: t.shape, data: widen(t.dtype, raw, t.data.length)});
    } else if (t.dtype !== 'F32' && hfKeyToRef(k) !== undefined) {
      throw new PldrError(`${where}: weight ${k} is ${t.dtype}, expected float32 (or float16/bfloat16)`);
    }
  }
  return tensors;
}

function readTokenizerSettings(dir: string): HfTokenizerSettings | undefined {
  const settings: HfTokenizerSettings = {tokens: {}, files: []};
  for (const name of [HF_SPECIAL_TOKENS_MAP, HF_TOKENIZER_CONFIG]) {
    const path = join(dir, name);
    if (!existsSync(path)) continue;
    const obj = readJson(path);
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
      throw new PldrError(`${path}: expected a JSON object`);
    const o = obj as Record<string, unknown>;
    settings.files.push(name);
    for (const role of ['bos', 'eos', 'unk', 'pad'] as const) {
      const v = o[`${role}_token`];
      // a token is a string or an AddedToken dict {"content": "[START]", ...}
      const piece =
        typeof v === 'string'
          ? v
          : v !== null && typeof v === 'object' && typeof (v as {content?: unknown}).content === 'string'
            ? (v as {content: string}).content
            : undefined;
      if (piece !== undefined) settings.tokens[role] = piece;
    }
    for (const [flag, field] of [
      ['add_bos_token', 'addBos'],
      ['add_eos_token', 'addEos'],
    ] as const) {
      const v = o[flag];
      if (v === undefined || v === null) continue;
      if (typeof v !== 'boolean')
        throw new PldrError(`${path}: ${flag} must be true or false, got ${JSON.stringify(v)}`);
      settings[field] = v;
    }
  }
  return settings.files.length > 0 ? settings : undefined;
}

/** Read a snapshot folder: config, tensors (mapped to reference names), tokenizer and generation settings. */
export function readHfSnapshot(dir: string): HfSnapshot {
  const hf = readHfConfig(dir);
  const {tensors, files} = readSnapshotTensors(dir);
  toF32(tensors, dir);
  const weights: StateDict = new Map();
  const extras: StateDict = new Map();
  for (const [k, t] of tensors) {
    const ref = hfKeyToRef(k);
    if (ref === undefined) extras.set(k, t);
    else weights.set(ref, t);
  }
  const snap: HfSnapshot = {hf, weights, extras, weightFiles: files, ignored: []};
  const gen = join(dir, HF_GENERATION_CONFIG);
  if (existsSync(gen)) {
    const g = readJson(gen);
    if (g === null || typeof g !== 'object' || Array.isArray(g)) throw new PldrError(`${gen}: expected a JSON object`);
    snap.generation = g as Record<string, unknown>;
  }
  if (existsSync(join(dir, HF_TOKENIZER))) snap.tokenizer = join(dir, HF_TOKENIZER);
  const settings = readTokenizerSettings(dir);
  if (settings) snap.tokenizerSettings = settings;
  snap.ignored = ignoredFiles(dir, [...HF_READ, ...files, ...(settings?.files ?? [])]);
  return snap;
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/** The paper tokenizer's special pieces (§2): [PAD] 0, [UNK] 1, [START] 2, [END] 3. */
const PAPER_PIECES = {pad: '[PAD]', unk: '[UNK]', bos: '[START]', eos: '[END]'} as const;

export interface HfWriteOptions extends HfConfigOptions {
  /** Tensors written beside the weights under their snapshot names (past_G_values buffers, score.*). */
  extras?: StateDict;
  /** generation_config.json fields beyond the token ids. */
  generation?: Record<string, unknown>;
  tokenizer?: string;
  tokenizerSettings?: HfTokenizerSettings;
}

/**
 * The order safetensors' torch writer (what save_pretrained calls) lays tensors out in: larger
 * dtypes first, then by name.
 */
const DTYPE_RANK: Record<string, number> = {F64: 8, I64: 8, F32: 4, I32: 4, F16: 2, BF16: 2, U8: 1, BOOL: 1};

/**
 * Write the files of a snapshot into `dir` (an existing, empty folder: the caller makes it atomic):
 * config.json, generation_config.json, model.safetensors (metadata {"format": "pt"}, tensors sorted
 * as save_pretrained writes them) and, with a tokenizer, tokenizer.model + tokenizer_config.json +
 * special_tokens_map.json. Returns the file names written.
 */
export function writeHfSnapshotFiles(
  dir: string,
  cfg: ModelConfig,
  weights: StateDict,
  opts: HfWriteOptions = {},
): string[] {
  const config = modelConfigToHf(cfg, opts);
  const json = (o: unknown) => JSON.stringify(o, null, 2) + '\n';
  writeFileSync(join(dir, HF_CONFIG), json(config));
  const generation = {
    _from_model_config: true,
    bos_token_id: config.bos_token_id,
    eos_token_id: config.eos_token_id,
    pad_token_id: config.pad_token_id,
    ...opts.generation,
  };
  writeFileSync(join(dir, HF_GENERATION_CONFIG), json(generation));

  const all: [string, StateDict extends Map<string, infer T> ? T : never][] = [...weights].map(([k, t]) => [
    refKeyToHf(k),
    t,
  ]);
  for (const [k, t] of opts.extras ?? []) all.push([k, t]);
  all.sort(
    ([a, ta], [b, tb]) => (DTYPE_RANK[tb.dtype] ?? 0) - (DTYPE_RANK[ta.dtype] ?? 0) || (a < b ? -1 : a > b ? 1 : 0),
  );
  writeSafetensors(join(dir, HF_SAFETENSORS), new Map(all), {format: 'pt'});
  const written = [HF_CONFIG, HF_GENERATION_CONFIG, HF_SAFETENSORS];

  if (opts.tokenizer) {
    writeFileSync(join(dir, HF_TOKENIZER), readFileSync(opts.tokenizer));
    const pieces = {...PAPER_PIECES, ...opts.tokenizerSettings?.tokens};
    const special = {bos_token: pieces.bos, eos_token: pieces.eos, pad_token: pieces.pad, unk_token: pieces.unk};
    writeFileSync(join(dir, HF_SPECIAL_TOKENS_MAP), json(special));
    const tokConfig = {
      add_bos_token: opts.tokenizerSettings?.addBos ?? false,
      add_eos_token: opts.tokenizerSettings?.addEos ?? false,
      ...special,
      clean_up_tokenization_spaces: false,
      legacy: true,
      model_max_length: cfg.max_seq_len,
      tokenizer_class: 'PldrllmTokenizer',
    };
    writeFileSync(join(dir, HF_TOKENIZER_CONFIG), json(tokConfig));
    written.push(HF_TOKENIZER, HF_SPECIAL_TOKENS_MAP, HF_TOKENIZER_CONFIG);
  }
  return written;
}

// ---------------------------------------------------------------------------------------------
// Fixed-G models: G_LM in the past_G_values buffer
// ---------------------------------------------------------------------------------------------

/** decoder.past_G_values [N, 3, 1, H, d_k, d_k] → G_LM per layer, each [1, H, d_k, d_k] (slot 2; slots 0 and 1 are A and A_LM). */
export function gListFromPastGValues(extras: StateDict, cfg: ModelConfig, where: string): HostTensor[] {
  const {num_layers: N, num_heads: H} = cfg;
  const d_k = dk(cfg);
  const t = extras.get(HF_G_VALUES);
  if (!t)
    throw new PldrError(
      `${where}: a fixed-G snapshot (custom_G_type ${cfg.source}) must hold ${HF_G_VALUES}, and this one does not`,
    );
  const want = [N, 3, 1, H, d_k, d_k];
  if (t.dtype !== 'F32' || t.shape.join(',') !== want.join(',')) {
    throw new PldrError(
      `${where}: ${HF_G_VALUES} is ${t.dtype} [${t.shape.join(',')}], expected F32 [${want.join(',')}]`,
    );
  }
  const size = H * d_k * d_k;
  const data = t.data as Float32Array;
  return Array.from({length: N}, (_, l) => ({
    dtype: 'F32' as const,
    shape: [1, H, d_k, d_k],
    data: data.slice((l * 3 + 2) * size, (l * 3 + 3) * size),
  }));
}

/**
 * The tensors a snapshot holds beyond the reference weights, checked: a fixed-G (v510G) model's
 * past_G_values become its G list (returned; undefined for other variants), `known` names those a
 * caller reads itself (a task head's score.*), and anything else is refused with one line.
 */
export function snapshotGList(snap: HfSnapshot, where: string, known: Iterable<string> = []): HostTensor[] | undefined {
  const {config, architecture} = snap.hf;
  const extras = new Set(snap.extras.keys());
  for (const k of known) extras.delete(k);
  let G: HostTensor[] | undefined;
  if (config.variant === 'v510G') {
    G = gListFromPastGValues(snap.extras, config, where);
    extras.delete(HF_G_VALUES);
    extras.delete(HF_G_STATUS);
  }
  if (extras.size > 0)
    throw new PldrError(`${where}: unexpected tensor(s) for a ${architecture}: ${[...extras].slice(0, 3).join(', ')}`);
  return G;
}

/** True when every head of g ([1, H, d_k, d_k]) is exactly the identity matrix. */
function isIdentityG(g: HostTensor, d_k: number): boolean {
  const v = g.data as Float32Array;
  for (let i = 0; i < v.length; i++) if (v[i] !== (Math.floor(i / d_k) % d_k === i % d_k ? 1 : 0)) return false;
  return true;
}

/**
 * The custom_G_type to write for a v510G model with this G: 'identity' when G is the identity in
 * every layer (what Transformers builds for that type, the SDPA special case), else what the
 * config's source says (customGTypeOf: 'random' or 'external'). The buffer carries G either way.
 */
export function customGTypeFor(cfg: ModelConfig, G: HostTensor[]): HfCustomGType {
  const d_k = dk(cfg);
  return G.every((g) => isIdentityG(g, d_k)) ? 'identity' : (customGTypeOf(cfg) ?? 'external');
}

/** The inverse: the two persistent buffers a fixed-G PldrllmModel saves (A and A_LM slots zero, every layer's status true). */
export function pastGValuesFromGList(G: HostTensor[], cfg: ModelConfig): StateDict {
  const {num_layers: N, num_heads: H} = cfg;
  const d_k = dk(cfg);
  const size = H * d_k * d_k;
  const values = new Float32Array(N * 3 * size);
  G.forEach((g, l) => values.set((g.data as Float32Array).subarray(0, size), (l * 3 + 2) * size));
  const shape = [N, 3, 1, H, d_k, d_k];
  if (numel(shape) !== values.length) throw new PldrError('internal: past_G_values size');
  return new Map([
    [HF_G_VALUES, {dtype: 'F32', shape, data: values}],
    [HF_G_STATUS, {dtype: 'BOOL', shape: [N], data: new Uint8Array(N).fill(1)}],
  ]);
}
