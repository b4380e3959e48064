/**
 * The older Hub layout of the authors' models: one folder holding
 *
 *   <name>-model-checkpoint.pth      the reference's checkpoint (model_state_dict, loss, accuracy)
 *   <name>_hyperparameters.py        the hpdict, as Python source: read as data, never run (pyliteral.ts)
 *   <tokenizer>.tar.gz               a tarball with the SentencePiece .model (and its .vocab)
 *   [the G list a v510G model's Gcachelst names]
 *
 * The .py may hold the hyper-parameters as one dict (`hpdict = {...}`, the authors' name) or as
 * top-level `name = value` assignments; `"num_layers": num_layers` style references to earlier
 * assignments resolve. A value that is code (`int(num_heads*dk)`, `F.silu`) is skipped unless the
 * model needs it; then it is refused naming file:line (d_model alone may be code when `dk` is
 * a plain number: the reference derives d_model = num_heads·dk itself).
 *
 * The tokenizer's .model is taken out of the tarball into a private temporary folder (removed when
 * the process exits), since the rest of pldr loads tokenizers from a path.
 */
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {basename, dirname, join} from 'node:path';

import {configFromHparams, type ModelConfig, type Variant} from '../config.js';
import {PldrError} from '../errors.js';
import {PyRef, PyUnsupported, type PyValue, parsePythonData} from './pyliteral.js';
import {readTarball, type TarEntry} from './tar.js';

/** The hpdict keys a model's shape is read from (configFromHparams); any other key may be code. */
const MODEL_KEYS = [
  'num_layers',
  'd_model',
  'num_heads',
  'dk',
  'dff',
  'num_reslayerA',
  'num_denseA',
  'A_dff',
  'input_vocab_size',
  'max_seq_len',
  'DAG_reg_coeffs',
  'Gcachelst',
];
/** A tokenizer tarball holds a 0.8 MB model and its vocab; far more than that is no tokenizer archive. */
const MAX_TARBALL_BYTES = 64 * 2 ** 20;

const CHECKPOINT = /-model-checkpoint\.pth$/;
const HYPERPARAMETERS = /_hyperparameters\.py$/;
const TARBALL = /\.(tar\.gz|tgz|tar)$/;

export interface LegacyHub {
  dir: string;
  checkpoint: string;
  hyperparameters: string;
  config: ModelConfig;
  /** The hpdict as read (values that were code left out). */
  hparams: Record<string, unknown>;
  /** The tokenizer tarball (or a loose .model), if the folder has one. */
  tokenizerSource?: string;
  /** A v510G model's G list, from the folder. */
  gList?: string;
  /** What was read but not used: files of the folder, skipped lines and keys of the .py. */
  ignored: string[];
}

function listFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => statSync(join(dir, f)).isFile())
    .sort();
}

/**
 * The older Hub layout at `path`, or undefined when `path` is something else: a folder without a
 * config.json that holds a `*_hyperparameters.py` (or a `*-model-checkpoint.pth`), or a `.pth` with
 * no hparams JSON beside it but a `*_hyperparameters.py`.
 */
export function findLegacyHub(path: string, variant?: Variant): LegacyHub | undefined {
  if (!existsSync(path)) return undefined;
  const isDir = statSync(path).isDirectory();
  const dir = isDir ? path : dirname(path);
  if (isDir && existsSync(join(dir, 'config.json'))) return undefined;
  if (
    !isDir &&
    (!path.endsWith('.pth') ||
      existsSync(join(dir, 'hparams.json')) ||
      existsSync(path.replace(/\.pth$/, '_hparams.json')))
  )
    return undefined;
  const files = listFiles(dir);
  const pys = files.filter((f) => HYPERPARAMETERS.test(f));
  const pths = files.filter((f) => f.endsWith('.pth'));
  if (pys.length === 0 && (!isDir || !pths.some((f) => CHECKPOINT.test(f)))) return undefined;

  let checkpoint: string;
  if (!isDir) checkpoint = basename(path);
  else {
    const named = pths.filter((f) => CHECKPOINT.test(f));
    const candidates = named.length > 0 ? named : pths;
    if (candidates.length === 0)
      throw new PldrError(`${dir} has ${pys[0]} but no model checkpoint (*-model-checkpoint.pth)`);
    if (candidates.length > 1) {
      throw new PldrError(
        `${dir} holds ${candidates.length} checkpoints (${candidates.join(', ')}): say which, e.g. --model ${join(dir, candidates[0])}`,
      );
    }
    checkpoint = candidates[0];
  }
  const stem = checkpoint.replace(/(-model-checkpoint)?\.pth$/, '');
  const py = pys.find((f) => f === `${stem}_hyperparameters.py`) ?? (pys.length === 1 ? pys[0] : undefined);
  if (py === undefined) {
    throw new PldrError(
      pys.length === 0
        ? `${dir} has ${checkpoint} but no ${stem}_hyperparameters.py (or hparams.json) beside it: pass --hparams FILE`
        : `${dir} has ${pys.length} hyper-parameter files (${pys.join(', ')}) and none is named ${stem}_hyperparameters.py: pass --hparams FILE`,
    );
  }
  const hyperparameters = join(dir, py);
  const ignored: string[] = [];
  const hparams = readHyperparametersPy(hyperparameters, ignored);
  const config = configFromHparams(hparams, variant, hyperparameters);

  const hub: LegacyHub = {dir, checkpoint: join(dir, checkpoint), hyperparameters, config, hparams, ignored};
  const used = new Set([checkpoint, py]);
  if (config.variant === 'v510G') {
    const named = typeof hparams.Gcachelst === 'string' ? basename(hparams.Gcachelst) : 'G_LM.safetensors';
    if (!files.includes(named))
      throw new PldrError(
        `${hyperparameters}: the G list of this PLDRv51G model (Gcachelst ${JSON.stringify(hparams.Gcachelst)}) is not in ${dir}`,
      );
    hub.gList = join(dir, named);
    used.add(named);
  }
  const tokenizer = pickTokenizer(dir, files);
  if (tokenizer) {
    hub.tokenizerSource = join(dir, tokenizer);
    used.add(tokenizer);
  }
  for (const f of files) if (!used.has(f)) ignored.push(`${f} (not used)`);
  return hub;
}

/** The folder's tokenizer: one tarball (preferring a name with "tokenizer"), else one loose .model. */
function pickTokenizer(dir: string, files: string[]): string | undefined {
  const tars = files.filter((f) => TARBALL.test(f));
  const tokTars = tars.filter((f) => /tokeni[sz]er/i.test(f));
  const pick = tokTars.length > 0 ? tokTars : tars;
  if (pick.length > 1)
    throw new PldrError(
      `${dir} holds ${pick.length} tokenizer archives (${pick.join(', ')}): keep only the one the model was trained with`,
    );
  if (pick.length === 1) return pick[0];
  const models = files.filter((f) => f.endsWith('.model'));
  return models.length === 1 ? models[0] : undefined;
}

/** The hpdict of a `_hyperparameters.py`, as JSON-like data; notes what was skipped into `ignored`. */
export function readHyperparametersPy(file: string, ignored: string[] = []): Record<string, unknown> {
  const size = statSync(file).size;
  if (size > 1 << 20)
    throw new PldrError(`${file}: ${size} bytes is too large for a hyper-parameter file (limit 1 MiB)`);
  const mod = parsePythonData(readFileSync(file, 'utf8'), file);
  for (const s of mod.skipped) ignored.push(`${basename(file)} ${s}`);

  // the hpdict: the one top-level dict that has the model's keys (hpdict by name when several do)
  const dicts = [...mod.assignments].filter(
    ([, a]) => isDict(a.value) && 'num_layers' in a.value && 'num_heads' in a.value,
  );
  let entries: [string, PyValue][];
  if (dicts.length > 0) {
    const chosen = dicts.length === 1 ? dicts[0] : dicts.find(([n]) => n === 'hpdict');
    if (!chosen)
      throw new PldrError(
        `${file} defines ${dicts.length} hyper-parameter dicts (${dicts.map(([n]) => n).join(', ')}): keep one, or name it hpdict`,
      );
    entries = Object.entries(chosen[1].value as Record<string, PyValue>);
    for (const [n, a] of mod.assignments)
      if (n !== chosen[0]) ignored.push(`${basename(file)} line ${a.line}: ${n} (not in ${chosen[0]})`);
  } else {
    entries = [...mod.assignments].map(([n, a]) => [n, a.value]);
  }

  const out: Record<string, unknown> = {};
  const code = new Map<string, PyUnsupported | PyRef>();
  for (const [key, value] of entries) {
    const bad = firstNonData(value);
    if (bad) code.set(key, bad);
    else out[key] = value;
  }
  // d_model written as code (int(num_heads*dk)) is what the reference derives from dk itself
  const dk = mod.assignments.get('dk')?.value;
  if (code.has('d_model') && out.dk === undefined && typeof dk === 'number' && Number.isInteger(dk)) {
    out.dk = dk;
    code.delete('d_model');
    ignored.push(`${basename(file)}: d_model taken as num_heads × dk = ${out.num_heads as number} × ${dk}`);
  }
  for (const [key, bad] of code) {
    const line = bad.line;
    if (MODEL_KEYS.includes(key)) {
      const what = bad instanceof PyRef ? `the name ${bad.name}` : bad.why;
      throw new PldrError(
        `${file}:${line}: ${key} is ${what}, not a plain value (pldr reads this file as data and never runs it): write the number there, or pass --hparams FILE.json`,
      );
    }
    ignored.push(`${basename(file)} line ${line}: ${key} (${bad instanceof PyRef ? bad.name : bad.why}; not needed)`);
  }
  return out;
}

function isDict(v: PyValue): v is Record<string, PyValue> {
  return (
    v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof PyRef) && !(v instanceof PyUnsupported)
  );
}

/** The first part of a value that is not plain data, if any. */
function firstNonData(v: PyValue): PyUnsupported | PyRef | undefined {
  if (v instanceof PyUnsupported || v instanceof PyRef) return v;
  if (Array.isArray(v)) {
    for (const x of v) {
      const bad = firstNonData(x);
      if (bad) return bad;
    }
  } else if (isDict(v)) {
    for (const x of Object.values(v)) {
      const bad = firstNonData(x);
      if (bad) return bad;
    }
  }
  return undefined;
}

let tempDir: string | undefined;

/** A private temporary folder, removed when the process exits. */
function privateTempDir(): string {
  if (tempDir === undefined) {
    tempDir = mkdtempSync(join(tmpdir(), 'pldr-tokenizer-'));
    process.once('exit', removeExtractedTokenizers);
  }
  return tempDir;
}

/** Remove the tokenizers taken out of tarballs so far (at exit; a long-lived host such as a test runner may call it). */
export function removeExtractedTokenizers(): void {
  if (tempDir !== undefined) rmSync(tempDir, {recursive: true, force: true});
  tempDir = undefined;
}

/**
 * A path to the SentencePiece model of a legacy folder: a loose .model as it is, or the one .model
 * inside the tarball, written to a private temporary folder under a name of our own. Entries that
 * climb out of the archive, links and truncated entries are never used.
 */
export function legacyTokenizerPath(source: string): string {
  if (!TARBALL.test(source)) return source;
  const model = tarballModel(source);
  // named <temp>/<archive name>[.n]/<model name>, so that messages show where the model came from
  const taken = new Set(readdirSync(privateTempDir()));
  let sub = basename(source);
  for (let n = 2; taken.has(sub); n++) sub = `${basename(source)}.${n}`;
  const dir = join(privateTempDir(), sub);
  mkdirSync(dir);
  const out = join(dir, basename(model.name).replace(/[^\w.-]/g, '_'));
  writeFileSync(out, model.data!);
  return out;
}

/** The advice when a folder's tarball cannot serve: --tokenizer alone does not help, the folder still holds it. */
const MOVE_IT = 'move the archive out of the folder and pass --tokenizer FILE.model';

/** The one SentencePiece model inside a tokenizer tarball (a safe, complete, regular file). */
function tarballModel(source: string): TarEntry {
  let entries: TarEntry[];
  try {
    entries = readTarball(source, {maxBytes: MAX_TARBALL_BYTES});
  } catch (e) {
    if (e instanceof PldrError) throw new PldrError(`${e.message}: ${MOVE_IT}`); // too large, not gzip, not tar
    throw e;
  }
  const models = entries.filter(
    (e) => e.type === 'file' && e.name.endsWith('.model') && !e.unsafe && !e.truncated && e.data,
  );
  if (models.length === 0) {
    const why = entries.some((e) => e.name.endsWith('.model')) ? ' that is a regular file inside the archive' : '';
    throw new PldrError(`${source} holds no SentencePiece .model${why}: ${MOVE_IT}`);
  }
  if (models.length > 1)
    throw new PldrError(
      `${source} holds ${models.length} .model files (${models.map((m) => m.name).join(', ')}): ${MOVE_IT}`,
    );
  return models[0];
}

/** What `pldr info` shows for a folder in the older Hub layout. */
export interface LegacyHubDescription {
  layout: 'older Hub layout (.pth + _hyperparameters.py + tokenizer tarball)';
  checkpoint: string;
  hyperparameters: string;
  tokenizer?: string;
  g_list?: string;
  ignored: string[];
}

export function describeLegacyHub(hub: LegacyHub): LegacyHubDescription {
  let tokenizer: string | undefined;
  if (hub.tokenizerSource) {
    const name = basename(hub.tokenizerSource);
    tokenizer = TARBALL.test(name) ? `${name} (${tarballModel(hub.tokenizerSource).name} inside)` : name;
  }
  return {
    layout: 'older Hub layout (.pth + _hyperparameters.py + tokenizer tarball)',
    checkpoint: basename(hub.checkpoint),
    hyperparameters: basename(hub.hyperparameters),
    ...(tokenizer ? {tokenizer} : {}),
    ...(hub.gList ? {g_list: basename(hub.gList)} : {}),
    ignored: hub.ignored,
  };
}
