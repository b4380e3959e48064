/**
 * The G-cache as an artifact (docs/spec.md §4.1, §5.4, §7): infer A, A_LM, A_P and G_LM once from a prompt
 * — the prompt call of generate_text with caches on, which is the call generate_Glst keeps — and
 * hand them over as host arrays (batch row 0, each [H, dk, dk]).
 */
import * as tf from '@tensorflow/tfjs';
import {existsSync, statSync} from 'node:fs';
import {basename, extname} from 'node:path';

import {compareG, type GCompare, type GVariation, gVariation} from './deductive/compare.js';
import {type DeductiveReport, deductiveReport} from './deductive/report.js';
import {PldrError} from './errors.js';
import {generate} from './generate.js';
import {checkOutputDir, checkOutputFile, isInside} from './io/fsutil.js';
import {type GList, readGList, writeGListPickle} from './io/glist.js';
import {type ModelFiles, modelDigest, toGi, writeModelDir} from './io/model-files.js';
import {writeSafetensors} from './io/safetensors.js';
import type {HostTensor, StateDict} from './io/tensor.js';
import {type PldrModel} from './model/pldr.js';
import {createMask} from './model/forward.js';

export interface DeductiveLayer {
  A?: Float32Array; // KV entry 2: the metric learner's output (v510 only)
  A_LM?: Float32Array;
  A_P?: Float32Array;
  G_LM: Float32Array;
}
export interface DeductiveSet {
  H: number;
  dk: number;
  layers: DeductiveLayer[];
}

/**
 * One model call on the fed ids with the standard mask: per layer A, A_LM, A_P = A_LM^∘P and G_LM.
 * A PLDRv51G model has only its constant G_LM.
 */
export function inferDeductive(model: PldrModel, fed: number[]): DeductiveSet {
  const H = model.cfg.num_heads;
  const dk = model.dk;
  if (fed.length === 0) throw new PldrError('inferring G needs at least one token (the empty prompt is fed as [END])');
  if (model.isG) return checkFinite({H, dk, layers: model.G!.map((g) => ({G_LM: g.dataSync() as Float32Array}))});
  const mask = createMask([fed]);
  const r = model.forward([fed], {mask, lastOnly: true});
  try {
    const layers = r.deductive!.map((d, l) => {
      const A_P = d.A_P ?? tf.tidy(() => tf.pow(d.A_LM, d.P));
      const out: DeductiveLayer = {
        A: r.kv[l].A!.dataSync() as Float32Array,
        A_LM: d.A_LM.dataSync() as Float32Array,
        A_P: A_P.dataSync() as Float32Array,
        G_LM: d.G_LM.dataSync() as Float32Array,
      };
      if (A_P !== d.A_P) A_P.dispose();
      return out;
    });
    return checkFinite({H, dk, layers});
  } finally {
    mask.dispose();
    tf.dispose(r as unknown as tf.TensorContainer);
  }
}

/**
 * A G (or A_LM) with a NaN or an infinity is no G: every later use of it would be silently wrong, so
 * it is refused here, before anything is written.
 */
function checkFinite(d: DeductiveSet): DeductiveSet {
  d.layers.forEach((layer, l) => {
    for (const name of ['A_LM', 'G_LM'] as const) {
      const v = layer[name];
      if (v && !v.every(Number.isFinite))
        throw new PldrError(
          `${name} of layer ${l} is not finite (NaN or infinity): the model's weights are probably not finite; check them, or retrain from a good checkpoint`,
        );
    }
  });
  return d;
}

/**
 * The G-cache list a v510 model takes as an external G: [A_LM, G_LM] pairs, or triples with A_P
 * (the DAG variant's cache, or on request). A PLDRv51G model gives a bare G_LM list.
 */
export function gListOf(d: DeductiveSet, opts: {withAP?: boolean} = {}): GList {
  const shape = [1, d.H, d.dk, d.dk];
  const t = (data: Float32Array): HostTensor => ({dtype: 'F32', shape, data});
  if (d.layers.every((l) => l.A_LM === undefined))
    return {kind: 'tensors', layers: d.layers.map((l) => ({G_LM: t(l.G_LM)})), metadata: {}};
  return {
    kind: opts.withAP ? 'triples' : 'pairs',
    layers: d.layers.map((l) => ({A_LM: t(l.A_LM!), G_LM: t(l.G_LM), ...(opts.withAP ? {A_P: t(l.A_P!)} : {})})),
    metadata: {},
  };
}

/** The export file's tensors: layer.<i>.A_LM and layer.<i>.G_LM, and on request .A and .A_P. */
export function exportTensors(d: DeductiveSet, opts: {withA?: boolean; withAP?: boolean} = {}): StateDict {
  const shape = [1, d.H, d.dk, d.dk];
  const out: StateDict = new Map();
  d.layers.forEach((l, i) => {
    if (l.A_LM === undefined) {
      out.set(`layer.${i}`, {dtype: 'F32', shape, data: l.G_LM});
      return;
    }
    out.set(`layer.${i}.A_LM`, {dtype: 'F32', shape, data: l.A_LM});
    out.set(`layer.${i}.G_LM`, {dtype: 'F32', shape, data: l.G_LM});
    if (opts.withA) out.set(`layer.${i}.A`, {dtype: 'F32', shape, data: l.A!});
    if (opts.withAP) out.set(`layer.${i}.A_P`, {dtype: 'F32', shape, data: l.A_P!});
  });
  return out;
}

/** What pldr export-g does with the G it inferred: files to write, a report, comparisons. */
export interface ExportGOptions {
  /** The G file to write, as safetensors or as the reference's pickled list. */
  out?: string;
  format: 'safetensors' | 'pkl';
  /** pkl: [A_LM, G_LM] pairs (Gcachelst_init), or G_LM tensors (v510G's Gcachelst); default: pairs where there is an A_LM. */
  pklList?: 'pairs' | 'tensors';
  withA: boolean;
  withAP: boolean;
  /** A PLDRv51Gi model directory to write, built from the model and this G. */
  toGi?: string;
  /** Let toGi replace a non-empty folder. */
  force: boolean;
  /** The deductive-output report (docs/spec.md §7) of the prompt pass (kv+g), or of the last call of a greedy run without caches. */
  report?: {mode: 'kv+g' | 'none'; tokens: number};
  /** A G file to compare G_LM with. */
  compare?: string;
  /** The model's other input file (a .pth's hparams.json): no output may land on it. */
  hparams?: string;
}

/** What export-g did, as its --json prints it. */
export interface ExportGResult {
  model: string;
  variant: string;
  prompt: string;
  prompt_ids: number[];
  out?: {path: string; format: 'safetensors' | 'pkl'; list?: 'pairs' | 'tensors'};
  to_gi?: {path: string; params: number; source_params: number};
  report?: {mode: 'kv+g' | 'none'; tokens?: number} & DeductiveReport;
  compare?: GCompare;
  variation?: {prompts: number} & GVariation;
}

/** A G file (safetensors or pickled list) rather than a model: export-g then only compares. */
export function isGFile(path: string): boolean {
  if (!existsSync(path) || statSync(path).isDirectory()) return false;
  return ['.safetensors', '.pkl'].includes(extname(path));
}

/** The options' own checks and where the results go, all before the model is read: a refusal costs nothing. */
export function checkExportG(modelPath: string, o: ExportGOptions): void {
  if (o.format === 'pkl' && !o.out) throw new PldrError('--format pkl applies to --out: give --out FILE');
  if (o.pklList && o.format !== 'pkl') throw new PldrError('--pkl-list applies to --format pkl');
  const inputs = [modelPath, ...(o.hparams ? [o.hparams] : [])];
  if (o.out) checkOutputFile(o.out, {inputs, flag: '--out'});
  if (o.toGi) checkOutputDir(o.toGi, {force: o.force, inputs, flag: '--to-gi'});
  if (o.out && o.toGi && isInside(o.out, o.toGi))
    throw new PldrError(
      `--out ${o.out} lies inside --to-gi ${o.toGi}, which is written as a whole: put the G file outside it`,
    );
}

/** What a model allows: a PLDRv51G model's G_LM is constant, with no A, A_P or Gi model behind it. */
export function checkExportGModel(modelPath: string, files: ModelFiles, o: ExportGOptions): void {
  if (files.config.variant === 'v510G' && (o.withA || o.withAP || o.toGi))
    throw new PldrError(
      `${modelPath} is a PLDRv51G model: its G_LM is constant, so there is no A, A_P or Gi model to export`,
    );
}

/**
 * Write, report and compare the G `d` inferred from the prompt `fed` (`text` where it was a text): the G file, the Gi model,
 * the deductive report, the comparison with another G file and, over `prompts` (each prompt's fed ids), how much G_LM moves.
 */
export async function exportG(
  model: PldrModel,
  files: ModelFiles,
  modelPath: string,
  prompt: {fed: number[]; text?: string; d: DeductiveSet},
  o: ExportGOptions,
  prompts?: number[][],
): Promise<ExportGResult> {
  const {fed, text, d} = prompt;
  const out: ExportGResult = {model: modelPath, variant: files.config.variant, prompt: text ?? '', prompt_ids: fed};
  const digest = modelDigest(modelPath);
  if (o.out) {
    if (o.format === 'pkl') {
      const list = o.pklList ?? (d.layers[0].A_LM ? 'pairs' : 'tensors');
      writeGListPickle(o.out, gListOf(d, {withAP: model.isDag}), {list});
      out.out = {path: o.out, format: 'pkl', list};
    } else {
      const metadata = {
        model: basename(modelPath),
        model_sha256: digest,
        prompt: text ?? '',
        prompt_ids: JSON.stringify(fed),
        date: new Date().toISOString(),
        variant: files.config.variant,
        producer: 'pldr export-g',
      };
      writeSafetensors(o.out, exportTensors(d, {withA: o.withA, withAP: o.withAP}), metadata);
      out.out = {path: o.out, format: 'safetensors'};
    }
  }
  if (o.toGi) {
    const gi = toGi(
      files,
      gListOf(d).layers.map((l) => l.G_LM),
      `G_LM of ${basename(modelPath)} on prompt ids ${JSON.stringify(fed)}`,
    );
    writeModelDir(o.toGi, gi, {g_source_sha256: digest, g_prompt_ids: JSON.stringify(fed)}, {replace: o.force});
    out.to_gi = {path: o.toGi, params: countParams(gi.weights), source_params: countParams(files.weights)};
  }
  if (o.report) {
    const none = o.report.mode === 'none';
    const src = none ? await lastCallWithoutCache(model, fed, o.report.tokens) : d;
    out.report = {mode: o.report.mode, ...(none ? {tokens: o.report.tokens} : {}), ...deductiveReport(src)};
  }
  if (o.compare) out.compare = compareG(gLayers(d), gLayersOfFile(o.compare));
  if (prompts) {
    const sets = prompts.map((ids) => gLayers(inferDeductive(model, ids)));
    out.variation = {prompts: sets.length, ...gVariation(sets)};
  }
  return out;
}

/** Per-layer G_LM arrays of a deductive set. */
function gLayers(d: DeductiveSet): Float32Array[] {
  return d.layers.map((l) => l.G_LM);
}

/** How much G_LM differs between two G files (max and RMS differences per layer). */
export function compareGFiles(a: string, b: string): GCompare {
  return compareG(gLayersOfFile(a), gLayersOfFile(b));
}

/** Per-layer G_LM arrays of a G file. */
function gLayersOfFile(path: string): Float32Array[] {
  return readGList(path).layers.map((l) => Float32Array.from(l.G_LM.data as Float32Array));
}

function countParams(sd: Map<string, {shape: number[]}>): number {
  let n = 0;
  for (const t of sd.values()) n += t.shape.reduce((a, b) => a * b, 1);
  return n;
}

/** Spec §7, nocache mode: a greedy run without caches; the report reads its last call. */
async function lastCallWithoutCache(model: PldrModel, fed: number[], tokens: number): Promise<DeductiveSet> {
  const room = model.cfg.max_seq_len - fed.length + 1;
  const r = await generate(model, fed, {maxNewTokens: Math.min(tokens, room), greedy: true, cache: 'none'});
  // the last call saw the prompt and every generated token but the last
  return inferDeductive(model, r.ids.slice(0, -1));
}
