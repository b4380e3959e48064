/**
 * Conversion between the three forms a model takes: a reference .pth (with its hparams.json), a pldr model directory and a
 * Hugging Face snapshot. Tensor data is copied bit for bit; where the result goes is checked before the source is read.
 */
import {existsSync, statSync} from 'node:fs';
import {extname, join} from 'node:path';

import type {Variant} from './config.js';
import {PldrError} from './errors.js';
import {checkOutputDir, checkOutputFile} from './io/fsutil.js';
import {isClassifierSnapshot, readClassifierFiles, writeClassifierDir} from './io/hf/classifier.js';
import {
  readModelFiles,
  referenceCheckpointWarning,
  writeHfModelDir,
  writeModelDir,
  writeReferenceCheckpoint,
} from './io/model-files.js';

export const CONVERT_TARGETS = ['pldr', 'pth', 'hf'] as const;
export type ConvertTarget = (typeof CONVERT_TARGETS)[number];

export interface ConvertOptions {
  /** Default: pth from a folder, pldr from a .pth. */
  to?: ConvertTarget;
  hparams?: string;
  variant?: Variant;
  /** Replace a non-empty DST folder once the new model is complete. */
  force?: boolean;
}

/** What a conversion wrote (as pldr convert --json reports it): a classifier snapshot with its task, or a model with its tensor count. */
export type ConvertReport = {source: string; to: ConvertTarget; variant: string} & (
  {task: string} | {tensors: number}
) & {written: string[]};

export interface Converted {
  report: ConvertReport;
  /** A caveat for stderr: what the reference's code will not read of the written .pth. */
  warning?: string;
}

export function convert(src: string, dst: string, opts: ConvertOptions = {}): Converted {
  if (!existsSync(src)) throw new PldrError(`no such file or directory: ${src}`);
  const to = opts.to ?? (statSync(src).isDirectory() ? 'pth' : 'pldr');
  // DST is checked before SRC is read: never the source itself, never a folder we did not create
  const inputs = [src, ...(opts.hparams ? [opts.hparams] : [])];
  if (to === 'pth') {
    if (extname(dst) !== '.pth')
      throw new PldrError(`--to pth writes a reference checkpoint: DST must end in .pth, got ${dst}`);
    checkOutputFile(dst, {inputs, flag: 'DST', createDir: true});
  } else {
    if (extname(dst) === '.pth')
      throw new PldrError(
        `--to ${to} writes a folder: DST must be a directory path, got ${dst} (for a checkpoint, use --to pth)`,
      );
    checkOutputDir(dst, {force: opts.force ?? false, inputs, flag: 'DST'});
  }
  if (isClassifierSnapshot(src)) {
    if (to !== 'hf')
      throw new PldrError(
        `${src} is a classifier: its task head has no place in a ${to === 'pth' ? 'reference .pth' : 'pldr model directory'}; convert it --to hf`,
      );
    const c = readClassifierFiles(src);
    const written = writeClassifierDir(dst, c, {replace: opts.force}).map((f) => join(dst, f));
    return {report: {source: src, to, variant: c.config.variant, task: c.head.task, written}};
  }
  const files = readModelFiles(src, {hparams: opts.hparams, variant: opts.variant});
  const done = {source: src, to, variant: files.config.variant, tensors: files.weights.size};
  if (to === 'pth')
    return {
      report: {...done, written: writeReferenceCheckpoint(dst, files)},
      warning: referenceCheckpointWarning(files.config),
    };
  if (to === 'hf')
    return {report: {...done, written: writeHfModelDir(dst, files, {replace: opts.force}).map((f) => join(dst, f))}};
  writeModelDir(dst, files, {}, {replace: opts.force});
  return {report: {...done, written: [dst]}};
}
