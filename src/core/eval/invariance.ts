/**
 * Cache settings compared, and the invariance check (pldr eval --compare-modes, --check-invariance).
 * Some settings agree by construction and must match to float tolerance: kv vs kv+g (a G-cache
 * returns the G it was given), a given G with and without KV-cache, and a Gi model vs its source
 * given the same G. Others agree as the paper observes on trained models, within a tolerance: full
 * vs kv+g, and full vs a fixed G.
 */
import {gListOf, inferDeductive} from '../export-g.js';
import type {GList} from '../io/glist.js';
import {instantiate, type ModelFiles, toGi} from '../io/model-files.js';
import type {PldrModel} from '../model/pldr.js';
import {PldrError} from '../errors.js';
import type {Tokenizer} from '../tokenizer.js';
import type {LoadedTask} from './load.js';
import {evaluate, type Progress, type Setting, type SettingResult} from './run.js';

export interface Agreement {
  a: string;
  b: string;
  /** by construction: must agree to float tolerance; empirical: the paper's observation on trained models. */
  kind: 'construction' | 'empirical';
  maxAbsLlDiff: number;
  /** Tasks whose headline score moved by more than scoreTolerance (percentage points at the paper's 2 decimals). */
  scoreChanges: {task: string; a: number; b: number}[];
  tolerance: number;
  scoreTolerance: number;
  ok: boolean;
}

/** A score as the paper prints it: a percentage with 2 decimals. */
const paperPoints = (x: number) => Math.round(x * 10000) / 100;

/**
 * Largest per-request |Δll| and the tasks whose headline score moved, between two settings. Scores
 * are compared as the paper prints them (percent, 2 decimals), with `scoreTolerance` points of slack.
 */
export function agreement(
  a: SettingResult,
  b: SettingResult,
  kind: Agreement['kind'],
  tolerance: number,
  scoreTolerance = 0,
): Agreement {
  let maxAbsLlDiff = 0;
  for (const [task, docs] of Object.entries(a.lls))
    docs.forEach((choices, d) =>
      choices.forEach((ll, c) => (maxAbsLlDiff = Math.max(maxAbsLlDiff, Math.abs(ll - b.lls[task][d][c])))),
    );
  const scoreChanges = a.tasks
    .map((t, i) => ({task: t.task, a: t.headline, b: b.tasks[i].headline}))
    .filter((x) => Math.abs(paperPoints(x.a) - paperPoints(x.b)) > scoreTolerance + 1e-9);
  const ok = maxAbsLlDiff <= tolerance && scoreChanges.length === 0;
  return {a: a.setting, b: b.setting, kind, maxAbsLlDiff, scoreChanges, tolerance, scoreTolerance, ok};
}

export interface CompareOptions {
  /** Also the settings equal by construction, and the agreements checked (--check-invariance). */
  check: boolean;
  /** A G list for the fixed-G settings, and the file it came from; default the G of the empty prompt. */
  given?: {g: GList; from: string};
  /** Per-request |Δll| for the empirical agreements, and their task scores' slack in points. */
  tolerance: number;
  scoreTolerance: number;
  /** Per-request |Δll| for the agreements by construction. */
  constructionTolerance: number;
  maxLength?: number;
  batchSize?: number;
  onProgress?: (p: Progress) => void;
}

export interface Comparison {
  /** Full first, then kv+g, the fixed-G setting, and with `check` kv, kv with the fixed G, the Gi model. */
  results: SettingResult[];
  checks: Agreement[];
  /** The results JSON: each setting's scores, the checks, and each setting's largest difference from full. */
  report: Record<string, unknown>;
}

/** The settings evaluated side by side from one model (its files, to build the Gi model), checked with `check`. */
export async function compareSettings(
  files: ModelFiles,
  model: PldrModel,
  tok: Tokenizer,
  tasks: readonly LoadedTask[],
  opts: CompareOptions,
): Promise<Comparison> {
  if (model.isG && opts.check)
    throw new PldrError('--check-invariance needs a PLDRv51 model (it builds the cached and Gi settings from it)');
  const run = (s: Setting) =>
    evaluate(model, tok, tasks, s, {maxLength: opts.maxLength, batchSize: opts.batchSize, onProgress: opts.onProgress});
  const G =
    opts.given?.g ?? (model.isG ? undefined : gListOf(inferDeductive(model, [tok.endId]), {withAP: model.isDag}));
  const gName = opts.given ? `G from ${opts.given.from}` : 'G of the empty prompt';
  const full = await run({name: 'full', mode: 'full'});
  const kvg = await run({name: 'kv+g', mode: 'kv+g'});
  const fixed = G ? await run({name: `full, ${gName}`, mode: 'full', g: G}) : undefined;
  const results = [full, kvg, ...(fixed ? [fixed] : [])];
  const checks: Agreement[] = [];
  if (opts.check) {
    const kv = await run({name: 'kv', mode: 'kv'});
    const fixedKv = await run({name: `kv, ${gName}`, mode: 'kv', g: G});
    const gi = instantiate(
      toGi(
        files,
        G!.layers.map((l) => l.G_LM),
        gName,
      ),
    );
    let giRun: SettingResult;
    try {
      giRun = await run({name: `Gi model (${gName})`, mode: 'full', model: gi});
    } finally {
      gi.dispose();
    }
    results.push(kv, fixedKv, giRun);
    checks.push(
      agreement(kv, kvg, 'construction', opts.constructionTolerance),
      agreement(fixed!, fixedKv, 'construction', opts.constructionTolerance),
      agreement(fixed!, giRun, 'construction', opts.constructionTolerance),
      agreement(full, kvg, 'empirical', opts.tolerance, opts.scoreTolerance),
      agreement(full, fixed!, 'empirical', opts.tolerance, opts.scoreTolerance),
    );
  }
  const report = {
    settings: results.map((r) => ({
      setting: r.setting,
      headline: r.summary.headline,
      avg1: r.summary.avg1,
      avg2: r.summary.avg2,
    })),
    ...(checks.length ? {checks} : {}),
    largest_ll_difference_vs_full: results
      .slice(1)
      .map((r) => agreement(full, r, 'empirical', opts.tolerance))
      .map((a) => ({setting: a.b, max_abs_ll_diff: a.maxAbsLlDiff, score_changes: a.scoreChanges})),
  };
  return {results, checks, report};
}
