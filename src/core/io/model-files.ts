/**
 * Model files (docs/design.md §3): a model directory (config.json, model.safetensors, optional
 * tokenizer.model) or a reference checkpoint (.pth + its hparams.json). Everything is read into
 * host memory and checked against the hyper-parameters before a tensor reaches the backend.
 *
 * In a directory, a v510G model keeps its constant G_LM in model.safetensors under
 * `G_LM.layer.<i>` (each [1, H, dk, dk]), beside the reference-named weights.
 */
import {createHash} from 'node:crypto';
import {existsSync, mkdirSync, readFileSync, statSync, writeFileSync} from 'node:fs';
import {basename, dirname, extname, isAbsolute, join, resolve} from 'node:path';

import * as tf from '@tensorflow/tfjs';

import {checkStateDict, type ModelConfig, ropeStyle, stateDictSpec} from '../config.js';
import {PldrError} from '../errors.js';
import {PldrModel} from '../model/pldr.js';
import {writeDirAtomic, writeFileAtomic} from './fsutil.js';
import {checkGShape, readGList} from './glist.js';
import {findLegacyHub, type LegacyHub, legacyTokenizerPath} from './legacy-hub.js';
import {HF_BASE_MODEL, HF_CAUSAL_LM, type HfArchitecture} from './hf/config.js';
import {
  customGTypeFor,
  HF_BIN,
  HF_SAFETENSORS,
  HF_SAFETENSORS_INDEX,
  type HfSnapshot,
  type HfWriteOptions,
  isHfSnapshot,
  pastGValuesFromGList,
  readHfSnapshot,
  snapshotGList,
  writeHfSnapshotFiles,
} from './hf/snapshot.js';
import {makeConfigJson, readModelConfig} from './modelconfig.js';
import {readPth, writePth} from './pth.js';
import {readSafetensors, writeSafetensors} from './safetensors.js';
import {type HostTensor, numel, type StateDict} from './tensor.js';

export interface ModelFiles {
  config: ModelConfig;
  /** Reference-named weights in state-dict order, float32. */
  weights: StateDict;
  /** v510G only: the constant G_LM per layer, each [1, H, dk, dk]. */
  G?: HostTensor[];
  /** A SentencePiece model that came with the model, if any. */
  tokenizer?: string;
  /** What was read, for messages and metadata. */
  source: string;
  /**
   * The state dict's torch `_metadata` (module name → version), kept so that a .pth → directory
   * → .pth round trip writes the reference's file byte for byte. Optional: torch loads without it.
   */
  moduleVersions?: Map<string, number>;
  /** The reference checkpoint's loss and accuracy scalars, kept across conversions. */
  loss?: number;
  accuracy?: number;
  /** A Hugging Face snapshot: its config, tokenizer and generation settings, extra tensors, ignored files. */
  hf?: HfSnapshot;
}

/** Where a model directory keeps the fields above that have no tensor of their own. */
const META_MODULES = 'torch_module_versions';
const META_LOSS = 'reference_loss';
const META_ACCURACY = 'reference_accuracy';

const G_KEY = /^G_LM\.layer\.(\d+)$/;

export interface ReadOptions {
  hparams?: string;
  /** Tell v510 from v510_dag for a .pth (the reference's hparams cannot). */
  variant?: ModelConfig['variant'];
}

export function readModelFiles(path: string, opts: ReadOptions = {}): ModelFiles {
  if (!existsSync(path)) throw new PldrError(`no such model: ${path} (give a model directory or a reference .pth)`);
  const legacy = opts.hparams === undefined ? findLegacyHub(path, opts.variant) : undefined;
  if (legacy) return readLegacyHubFiles(legacy);
  const {config, source: configSource} = readModelConfig(path, opts.hparams, opts.variant);
  if (statSync(path).isDirectory())
    return isHfSnapshot(path) ? readHfModelDir(path, opts.variant) : readModelDir(path, config);
  return readCheckpoint(path, config, config.variant === 'v510G' ? gListPath(path, configSource) : undefined);
}

/** A reference .pth read against `config`; a v510G model's G from `gList`. */
function readCheckpoint(path: string, config: ModelConfig, gList: string | undefined): ModelFiles {
  const ckpt = readPth(path, {maxEntryBytes: largestRecordBytes(config)});
  const files: ModelFiles = {
    config,
    weights: checkF32(ckpt.stateDict, path),
    source: path,
    moduleVersions: ckpt.moduleVersions,
    loss: ckpt.loss,
    accuracy: ckpt.accuracy,
  };
  if (gList !== undefined) files.G = readConstantG(gList);
  checkModelFiles(files);
  return files;
}

/** The older Hub layout (legacy-hub.ts): its checkpoint as a reference .pth, its tokenizer out of the tarball. */
function readLegacyHubFiles(hub: LegacyHub): ModelFiles {
  const files = readCheckpoint(hub.checkpoint, hub.config, hub.gList);
  if (hub.tokenizerSource) files.tokenizer = legacyTokenizerPath(hub.tokenizerSource);
  return files;
}

function readModelDir(dir: string, config: ModelConfig): ModelFiles {
  const file = join(dir, 'model.safetensors');
  if (!existsSync(file)) throw new PldrError(`${dir} has no model.safetensors`);
  const {tensors, metadata} = readSafetensors(file);
  const weights: StateDict = new Map();
  const G: HostTensor[] = [];
  for (const [k, t] of tensors) {
    const m = G_KEY.exec(k);
    if (m) G[Number(m[1])] = t;
    else weights.set(k, t);
  }
  const files: ModelFiles = {config, weights: checkF32(weights, file), source: dir, ...metaFields(metadata, file)};
  if (config.variant === 'v510G') {
    for (let l = 0; l < config.num_layers; l++)
      if (!G[l]) throw new PldrError(`${file} lacks G_LM.layer.${l}, which a PLDRv51G model needs`);
    files.G = G;
  } else if (G.length > 0) {
    throw new PldrError(`${file} holds G_LM.layer.* tensors but config.json says variant ${config.variant}`);
  }
  const tok = join(dir, 'tokenizer.model');
  if (existsSync(tok)) files.tokenizer = tok;
  checkModelFiles(files);
  return files;
}

/**
 * A Hugging Face snapshot folder (hf/snapshot.ts). A fixed-G snapshot's G_LM comes from its
 * past_G_values buffer; other tensors that are not reference weights (a task head's score) are
 * refused here unless a caller reads them from `hf.extras`.
 */
function readHfModelDir(dir: string, variantHint?: ModelConfig['variant']): ModelFiles {
  const snap = readHfSnapshot(dir);
  const {config, architecture} = snap.hf;
  if (variantHint === 'v510_dag' && config.variant === 'v510') config.variant = 'v510_dag';
  else if (variantHint !== undefined && variantHint !== config.variant)
    throw new PldrError(`${dir}: the model is ${config.variant}, not ${variantHint}`);
  if (architecture !== HF_CAUSAL_LM) refuseArchitecture(dir, architecture);
  const files: ModelFiles = {config, weights: snap.weights, source: dir, hf: snap};
  if (snap.tokenizer) files.tokenizer = snap.tokenizer;
  const G = snapshotGList(snap, dir);
  if (G) files.G = G;
  checkModelFiles(files);
  // a snapshot stores its tensors sorted by name: keep the reference's state-dict order, as a .pth has it
  files.weights = new Map(stateDictSpec(config).map(({key}) => [key, snap.weights.get(key)!]));
  return files;
}

/** The extension point for snapshots that are not causal LMs (the task heads read `hf.extras`). */
function refuseArchitecture(dir: string, architecture: HfArchitecture): never {
  if (architecture === HF_BASE_MODEL)
    throw new PldrError(`${dir} is a bare PldrllmModel (no final_layer): it cannot predict tokens`);
  throw new PldrError(
    `${dir} is a ${architecture} (a classifier, not a language model): run it with pldr classify; this command needs a PldrllmForCausalLM`,
  );
}

function metaFields(metadata: Record<string, string>, file: string): Partial<ModelFiles> {
  const out: Partial<ModelFiles> = {};
  try {
    if (metadata[META_MODULES])
      out.moduleVersions = new Map(Object.entries(JSON.parse(metadata[META_MODULES]) as Record<string, number>));
  } catch {
    throw new PldrError(`${file}: metadata ${META_MODULES} is not valid JSON`);
  }
  if (metadata[META_LOSS] !== undefined) out.loss = Number(metadata[META_LOSS]);
  if (metadata[META_ACCURACY] !== undefined) out.accuracy = Number(metadata[META_ACCURACY]);
  return out;
}

/**
 * The most bytes one record of a checkpoint for `config` may hold: its largest tensor as float64 (the
 * widest dtype a reader widens from), or 64 MiB for the pickle and small records, whichever is more.
 * A record that claims more is refused before it is inflated.
 */
function largestRecordBytes(config: ModelConfig): number {
  return Math.max(64 * 2 ** 20, ...stateDictSpec(config).map((s) => 8 * numel(s.shape)));
}

/** Where a v510G checkpoint's G list is: hparams.Gcachelst (relative to the hparams file), else G_LM.safetensors beside. */
function gListPath(checkpoint: string, hparamsFile: string): string {
  let hp: Record<string, unknown> = {};
  try {
    hp = JSON.parse(readFileSync(hparamsFile, 'utf8'));
  } catch {
    /* readModelConfig already validated the file */
  }
  const named = typeof hp.Gcachelst === 'string' ? hp.Gcachelst : undefined;
  if (named) {
    const p = isAbsolute(named) ? named : resolve(dirname(hparamsFile), named);
    if (existsSync(p)) return p;
    const beside = join(dirname(checkpoint), basename(named));
    if (existsSync(beside)) return beside;
    throw new PldrError(
      `the G list of this PLDRv51G model (Gcachelst = ${named}) was not found next to ${hparamsFile}`,
    );
  }
  const beside = join(dirname(checkpoint), 'G_LM.safetensors');
  if (existsSync(beside)) return beside;
  throw new PldrError(
    `${checkpoint} is a PLDRv51G model but no G list was found: set Gcachelst in its hparams or put G_LM.safetensors beside it`,
  );
}

function readConstantG(path: string): HostTensor[] {
  return readGList(path).layers.map((l) => l.G_LM);
}

/** Every weight must be float32 (the reference stores float32; the .pth reader widens half precision). */
function checkF32(sd: StateDict, source: string): StateDict {
  for (const [k, t] of sd)
    if (t.dtype !== 'F32') throw new PldrError(`${source}: weight ${k} is ${t.dtype}, expected float32`);
  return sd;
}

/** Keys and shapes against the hyper-parameters, and the G list against the model. */
export function checkModelFiles(f: ModelFiles): void {
  checkStateDict(f.config, f.weights, f.source);
  if (f.config.variant !== 'v510G') return;
  const {num_layers: N, num_heads: H, d_model: d} = f.config;
  const dk = d / H;
  if (!f.G || f.G.length !== N)
    throw new PldrError(`${f.source}: the G list has ${f.G?.length ?? 0} layers, the model has ${N}`);
  f.G.forEach((g, l) => checkGShape(g, H, dk, `${f.source}: G_LM of layer ${l}`));
}

/**
 * Write a model directory atomically (writeDirAtomic): an existing non-empty DST is refused unless
 * `replace` (the command's --force, checked up front with checkOutputDir); it is then replaced only
 * once the new folder is complete.
 */
export function writeModelDir(
  dir: string,
  f: ModelFiles,
  metadata: Record<string, string> = {},
  opts: {replace?: boolean} = {},
): void {
  writeDirAtomic(dir, (tmp) => writeModelFiles(tmp, f, metadata), {replace: opts.replace});
}

/** The files of a model directory (config.json, model.safetensors, tokenizer.model) written into the folder `dir`. */
export function writeModelFiles(dir: string, f: ModelFiles, metadata: Record<string, string> = {}): void {
  writeFileSync(join(dir, 'config.json'), JSON.stringify(makeConfigJson(f.config), null, 2) + '\n');
  const tensors: StateDict = new Map(f.weights);
  f.G?.forEach((g, l) =>
    tensors.set(`G_LM.layer.${l}`, {...g, shape: g.shape.length === 4 ? g.shape : [1, ...g.shape]}),
  );
  const meta: Record<string, string> = {format: 'pt', source: basename(f.source), ...metadata};
  if (f.moduleVersions) meta[META_MODULES] = JSON.stringify(Object.fromEntries(f.moduleVersions));
  if (f.loss !== undefined) meta[META_LOSS] = String(f.loss);
  if (f.accuracy !== undefined) meta[META_ACCURACY] = String(f.accuracy);
  writeSafetensors(join(dir, 'model.safetensors'), tensors, meta);
  if (f.tokenizer) writeFileSync(join(dir, 'tokenizer.model'), readFileSync(f.tokenizer));
}

/**
 * Write a Hugging Face snapshot folder (PldrllmForCausalLM.from_pretrained loads it with no missing
 * or unexpected keys), atomically as writeModelDir. A fixed-G model's G travels in past_G_values.
 * Returns the file names written.
 */
export function writeHfModelDir(dir: string, f: ModelFiles, opts: {replace?: boolean} & HfWriteOptions = {}): string[] {
  let written: string[] = [];
  const {replace, ...hfOpts} = opts;
  const fill = (tmp: string) => {
    written = writeHfSnapshotFiles(tmp, f.config, f.weights, {
      customGType: f.G ? customGTypeFor(f.config, f.G) : undefined,
      tokens: f.hf?.hf.tokens,
      generation: f.hf?.generation,
      tokenizer: f.tokenizer,
      tokenizerSettings: f.hf?.tokenizerSettings,
      extras: f.G ? pastGValuesFromGList(f.G, f.config) : undefined,
      ...hfOpts,
    });
  };
  writeDirAtomic(dir, fill, {replace});
  return written;
}

/**
 * What a reference .pth cannot carry: the authors' code has no RoPE switch and ignores our "rope" key
 * in the hparams file, so it would run a v52 (rotate-half) checkpoint with its interleaved RoPE and
 * silently give other outputs. One line for the user; undefined when nothing is lost.
 */
export function referenceCheckpointWarning(config: ModelConfig): string | undefined {
  if (ropeStyle(config) === 'reference') return undefined;
  return `this is a v52 model (rope ${ropeStyle(config)}, rotate-half): the reference's code ignores "rope" in the hparams file and would run it with its interleaved RoPE, giving wrong outputs; pldr reads it back correctly, and --to hf keeps it (reference_rope false)`;
}

/**
 * Write a reference checkpoint: DST.pth in the reference's own format (loads with torch.load and a
 * strict load_state_dict), <stem>_hparams.json beside it, and for v510G the G list as
 * <stem>_G_LM.safetensors, named by the hparams' Gcachelst.
 */
export function writeReferenceCheckpoint(dst: string, f: ModelFiles): string[] {
  const dir = dirname(dst);
  const stem = basename(dst, extname(dst));
  mkdirSync(dir, {recursive: true});
  const written = [dst];
  const hparams = makeConfigJson(f.config).hparams;
  hparams.save_model_path ??= stem;
  if (f.config.variant === 'v510G') {
    const gFile = `${stem}_G_LM.safetensors`;
    const g: StateDict = new Map();
    f.G!.forEach((t, l) => g.set(`layer.${l}`, t));
    writeSafetensors(join(dir, gFile), g, {source: basename(f.source)});
    hparams.Gcachelst = gFile;
    written.push(join(dir, gFile));
  }
  writePth(dst, {
    stateDict: f.weights,
    loss: f.loss,
    accuracy: f.accuracy,
    moduleVersions: f.moduleVersions,
    optimizerStateDictNone: true,
  });
  const hpFile = join(dir, `${stem}_hparams.json`);
  writeFileAtomic(hpFile, [Buffer.from(JSON.stringify(hparams, null, 1) + '\n')]);
  written.push(hpFile);
  return written;
}

/** Keys that a Gi model drops from its source (docs/spec.md §5.5). */
export function isPlgaKey(key: string): boolean {
  return key.includes('reslayerAs') || key.includes('plgatt_layer') || key.includes('mha1.layernorm1');
}

/** A PLDRv51Gi model: every weight of the v510 source except the PLGA network, plus a G list. */
export function toGi(src: ModelFiles, G: HostTensor[], note: string): ModelFiles {
  if (src.config.variant === 'v510G') throw new PldrError(`${src.source} is already a PLDRv51G model`);
  const weights: StateDict = new Map([...src.weights].filter(([k]) => !isPlgaKey(k)));
  const config: ModelConfig = {
    ...src.config,
    variant: 'v510G',
    num_reslayerA: 0,
    num_denseA: 0,
    A_dff: 0,
    source: note,
  };
  delete config.DAG_reg_coeffs;
  const gi: ModelFiles = {config, weights, G, tokenizer: src.tokenizer, source: src.source};
  // the source's module list names the PLGA modules a Gi model lacks: let the writer derive its own
  checkModelFiles(gi); // strict: the remaining keys must be exactly the v510G key set
  return gi;
}

/** Host files → a model on the current backend. */
export function instantiate(f: ModelFiles): PldrModel {
  const {num_heads: H, d_model: d} = f.config;
  const dk = d / H;
  const G = f.G?.map((g) => tf.tensor4d(g.data as Float32Array, [1, H, dk, dk]));
  return new PldrModel(f.config, f.weights, G);
}

export function loadModel(path: string, opts: ReadOptions = {}): PldrModel {
  return instantiate(readModelFiles(path, opts));
}

/** sha256 of the file that holds a model's weights (model.safetensors of a directory, or the .pth). */
export function modelDigest(path: string): string {
  // a sharded snapshot is named by its index (which names every shard)
  const file = statSync(path).isDirectory()
    ? ([HF_SAFETENSORS, HF_SAFETENSORS_INDEX, HF_BIN].map((f) => join(path, f)).find((p) => existsSync(p)) ??
      findLegacyHub(path)?.checkpoint ??
      join(path, HF_SAFETENSORS))
    : path;
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}
