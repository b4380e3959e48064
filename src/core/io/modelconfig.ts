/**
 * Reading a model's hyper-parameters without touching its weights: from a model directory's
 * config.json (our format), or from the hparams.json that sits next to a reference .pth.
 *
 * config.json format (docs/design.md §3):
 *   {"format": "pldr-llm", "format_version": 1, "variant": "v510",
 *    "hparams": {reference hpdict names ...},
 *    "special_tokens": {"pad": 0, "unk": 1, "start": 2, "end": 3},
 *    "source": "..."}                      // optional: where a v510G model's G_LM came from
 */
import {existsSync, readFileSync, statSync} from 'node:fs';
import {basename, dirname, extname, join} from 'node:path';

import {
  configFromHparams,
  hparamsFromConfig,
  type ModelConfig,
  SPECIAL_TOKENS,
  type Variant,
  VARIANTS,
} from '../config.js';
import {oneLine, PldrError} from '../errors.js';
import {hfConfigToModel} from './hf/config.js';
import {fsMessage} from './fsutil.js';
import {isObject} from './json.js';
import {findLegacyHub, readHyperparametersPy} from './legacy-hub.js';

export const CONFIG_FORMAT = 'pldr-llm';
export const CONFIG_FORMAT_VERSION = 1;

export interface ConfigJson {
  format: typeof CONFIG_FORMAT;
  format_version: number;
  variant: Variant;
  hparams: Record<string, unknown>;
  special_tokens: {pad: number; unk: number; start: number; end: number};
  source?: string;
}

/** The config.json object for a model directory. `extraHparams` (training settings) are kept. */
export function makeConfigJson(cfg: ModelConfig, extraHparams: Record<string, unknown> = {}): ConfigJson {
  const hparams = hparamsFromConfig(cfg, extraHparams);
  // In a model directory the variant is explicit and a G model's G_LM lives in model.safetensors,
  // so the reference's Gcachelst path would only mislead.
  delete hparams.Gcachelst;
  const out: ConfigJson = {
    format: CONFIG_FORMAT,
    format_version: CONFIG_FORMAT_VERSION,
    variant: cfg.variant,
    hparams,
    special_tokens: {...SPECIAL_TOKENS},
  };
  if (cfg.source !== undefined) out.source = cfg.source;
  return out;
}

/** Validate a parsed config.json and turn it into a ModelConfig. */
export function parseConfigJson(obj: unknown, source: string): ModelConfig {
  if (!isObject(obj)) throw new PldrError(`${source}: expected a JSON object`);
  if (obj.format !== CONFIG_FORMAT) {
    throw new PldrError(
      `${source}: not a pldr-llm config (format is ${JSON.stringify(obj.format) ?? 'missing'}, expected "${CONFIG_FORMAT}")`,
    );
  }
  const version = obj.format_version;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw new PldrError(`${source}: format_version must be a positive integer`);
  }
  if (version > CONFIG_FORMAT_VERSION) {
    throw new PldrError(
      `${source}: format_version ${version} is newer than this pldr understands (${CONFIG_FORMAT_VERSION}): upgrade pldr`,
    );
  }
  if (typeof obj.variant !== 'string' || !(VARIANTS as readonly string[]).includes(obj.variant)) {
    throw new PldrError(
      `${source}: variant must be one of ${VARIANTS.join(', ')}, got ${JSON.stringify(obj.variant) ?? 'nothing'}`,
    );
  }
  if (!isObject(obj.hparams)) throw new PldrError(`${source}: missing "hparams" object`);
  // A Gcachelst left in the hparams of a directory must not fight the explicit variant.
  const hparams = {...obj.hparams};
  if (obj.variant === 'v510G') delete hparams.Gcachelst;
  else if (hparams.Gcachelst !== undefined && hparams.Gcachelst !== null) {
    throw new PldrError(`${source}: hparams has Gcachelst (a v510G model) but variant is ${obj.variant}`);
  }
  const cfg = configFromHparams(hparams, obj.variant as Variant, source);

  if (obj.special_tokens !== undefined) {
    const st = obj.special_tokens;
    if (!isObject(st)) throw new PldrError(`${source}: special_tokens must be an object`);
    for (const [name, id] of Object.entries(st)) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= cfg.input_vocab_size) {
        throw new PldrError(
          `${source}: special_tokens.${name} must be a token id in [0, ${cfg.input_vocab_size}), got ${JSON.stringify(id)}`,
        );
      }
    }
  }
  if (typeof obj.source === 'string') cfg.source = obj.source;
  return cfg;
}

/** A JSON file, or one PldrError line naming the file and the problem. */
export function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new PldrError(`cannot read ${path}: ${fsMessage(e)}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PldrError(`${path} is not valid JSON: ${oneLine((e as Error).message)}`);
  }
}

/** Where a reference checkpoint's hyper-parameters may sit, in the order we look. */
export function hparamsCandidates(checkpoint: string): string[] {
  const dir = dirname(checkpoint);
  const stem = basename(checkpoint, extname(checkpoint));
  return [join(dir, 'hparams.json'), join(dir, `${stem}_hparams.json`)];
}

/**
 * The config of a model without loading its weights.
 * - a directory: its config.json;
 * - a config.json file: that file;
 * - anything else (a reference .pth): `hparamsPath`, else hparams.json or <stem>_hparams.json
 *   next to it. `variantHint` tells v510 from v510_dag, which the reference's hparams cannot.
 * `source` is the file the config was read from.
 */
export function readModelConfig(
  path: string,
  hparamsPath?: string,
  variantHint?: Variant,
): {config: ModelConfig; source: string} {
  if (!existsSync(path)) throw new PldrError(`no such file or directory: ${path}`);
  const legacy = hparamsPath === undefined ? findLegacyHub(path, variantHint) : undefined;
  if (legacy) return {config: legacy.config, source: legacy.hyperparameters};
  const isDir = statSync(path).isDirectory();

  if (isDir || basename(path) === 'config.json') {
    const file = isDir ? join(path, 'config.json') : path;
    if (!existsSync(file)) {
      throw new PldrError(
        `${path} has no config.json, so it is not a pldr model directory (for a reference checkpoint, give the .pth file)`,
      );
    }
    const obj = readJson(file);
    // a Hugging Face snapshot's config.json names a model_type instead of our format
    const config =
      isObject(obj) && obj.format === undefined && obj.model_type !== undefined
        ? hfConfigToModel(obj, file).config
        : parseConfigJson(obj, file);
    if (variantHint !== undefined && variantHint !== config.variant) {
      throw new PldrError(`${file}: the model is ${config.variant}, not ${variantHint}`);
    }
    return {config, source: file};
  }

  let file = hparamsPath;
  if (file === undefined) {
    const candidates = hparamsCandidates(path);
    file = candidates.find((c) => existsSync(c));
    if (file === undefined) {
      throw new PldrError(
        `no hyper-parameters found for ${path} (looked for ${candidates.map((c) => basename(c)).join(' and ')} beside it): pass --hparams FILE`,
      );
    }
  } else if (!existsSync(file)) {
    throw new PldrError(`hyper-parameter file not found: ${file}`);
  }
  const h = file.endsWith('.py') ? readHyperparametersPy(file) : readJson(file);
  if (!isObject(h)) throw new PldrError(`${file}: hyper-parameters must be a JSON object`);
  return {config: configFromHparams(h, variantHint, file), source: file};
}
