/**
 * What `pldr info` shows of a model without loading its weights: the hyper-parameters of a preset, a model directory, a
 * reference .pth or a Hugging Face snapshot, the parameter count of every component, and for a snapshot or a folder in
 * the older Hub layout, what it holds and what of it pldr reads.
 */
import {findPreset, type ModelConfig, paramCounts, type ParamCounts, PRESETS, type Variant} from './config.js';
import {PldrError} from './errors.js';
import {describeTaskHead, type TaskHeadDescription} from './io/hf/heads.js';
import {describeHfSnapshot, type HfSnapshotDescription, isHfSnapshot} from './io/hf/snapshot.js';
import {describeLegacyHub, findLegacyHub, type LegacyHubDescription} from './io/legacy-hub.js';
import {readModelConfig} from './io/modelconfig.js';

/** pldr info's answer (its --json, field for field). */
export interface ModelInfo {
  name: string;
  /** A preset's description. */
  description?: string;
  /** The file the hyper-parameters were read from. */
  source?: string;
  snapshot?: HfSnapshotDescription;
  task?: TaskHeadDescription;
  legacy?: LegacyHubDescription;
  config: ModelConfig;
  params: ParamCounts;
}

/** A MODEL path (directory, .pth or snapshot, with a .pth's hparams.json and variant) or a preset: one of the two. */
export interface ModelInfoQuery {
  model?: string;
  preset?: string;
  hparams?: string;
  variant?: Variant;
}

export function describeModel(q: ModelInfoQuery): ModelInfo {
  if (q.model !== undefined && q.preset !== undefined) throw new PldrError('give either a MODEL or --preset, not both');
  if (q.model === undefined && q.preset === undefined)
    throw new PldrError('nothing to show: give a MODEL (directory or .pth), --preset NAME, or --list-presets');
  if (q.preset !== undefined) {
    if (q.hparams !== undefined || q.variant !== undefined)
      throw new PldrError('--hparams and --variant apply to a MODEL, not to --preset');
    const {name, description, config} = findPreset(q.preset);
    return {name, ...(description ? {description} : {}), config: {...config}, params: paramCounts(config)};
  }
  const path = q.model!;
  const {config, source} = readModelConfig(path, q.hparams, q.variant);
  const snapshot = isHfSnapshot(path) ? describeHfSnapshot(path) : undefined;
  const task = snapshot ? describeTaskHead(path) : undefined;
  const hub = q.hparams === undefined ? findLegacyHub(path, q.variant) : undefined;
  const legacy = hub ? describeLegacyHub(hub) : undefined;
  return {
    name: path,
    ...(source ? {source} : {}),
    ...(snapshot ? {snapshot} : {}),
    ...(task ? {task} : {}),
    ...(legacy ? {legacy} : {}),
    config,
    params: paramCounts(config),
  };
}

/** Every preset with its variant and parameter total. */
export function presetList(): {name: string; variant: Variant; total: number; description: string}[] {
  return Object.values(PRESETS).map((p) => ({
    name: p.name,
    variant: p.config.variant,
    total: paramCounts(p.config).total,
    description: p.description,
  }));
}
