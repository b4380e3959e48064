import {Flags} from '@oclif/core';
import {cpus, totalmem} from 'node:os';

import * as tf from '@tensorflow/tfjs';

import {PldrCommand} from '../cli/base.js';
import {loadTokenizer} from '../cli/prompt.js';
import {withSpinner} from '../cli/spinner.js';
import {demoModel} from '../core/demo.js';
import {PldrError} from '../core/errors.js';
import {loadTasks, parseLimit} from '../core/eval/load.js';
import {agreement, type Agreement, evaluate, type Setting, type SettingResult} from '../core/eval/run.js';
import {DEFAULT_BATCH_SIZE} from '../core/eval/score.js';
import {resolveTasks} from '../core/eval/tasks.js';
import {gListOf, inferDeductive} from '../core/export-g.js';
import {checkOutputFile, writeFileAtomic} from '../core/io/fsutil.js';
import {readGList} from '../core/io/glist.js';
import {instantiate, readModelFiles, toGi} from '../core/io/model-files.js';

export default class Eval extends PldrCommand {
  static override summary = 'Zero-shot benchmarks scored exactly as lm-evaluation-harness v0.4.3 scores PLDR-LLMs; cache-invariance checks.';

  static override description = `Tasks: arc_easy, arc_challenge, hellaswag, openbookqa, piqa, social_iqa, winogrande, truthfulqa_mc2, and the
group pldr_zeroshot (all eight). Documents come from local files in each dataset's Hugging Face schema:
--data-dir DIR holding <task>.jsonl|.json|.parquet, or --task name=FILE. Nothing is downloaded.

Each choice's log-likelihood is computed as the authors' harness does for PLDR models (--mode full: one
uncached forward per request). --mode kv+g runs each context once with KV- and G-cache and scores the
continuations against it; --g-init FILE gives every call a fixed G (the Gi setting). Scores: acc,
acc_norm (by characters, as the harness), acc_bytes, mc2; Avg-1 (without TruthfulQA) and Avg-2.

--check-invariance evaluates the cache settings and exits non-zero when they disagree: those equal by
construction (kv vs kv+g; a given G with and without KV-cache; a Gi model vs its source given the same
G) must agree to --construction-tolerance; those the paper observes on trained models (full vs kv+g,
full vs a fixed G) must keep every task score and every log-likelihood within --tolerance.`;

  static override examples = [
    '# the paper\'s eight tasks from files you downloaded (e.g. the datasets\' validation/test splits as JSON lines)',
    '<%= config.bin %> eval --model my-model/ --data-dir benchmarks/ --output results.json',
    '<%= config.bin %> eval --model my-model/ --tasks arc_easy,piqa --task arc_easy=arc_easy.parquet --task piqa=piqa.jsonl --limit 100',
    '# scores with the empty-prompt G given to every request (the Gi setting), and every setting side by side',
    '<%= config.bin %> eval --model my-model/ --data-dir benchmarks/ --g-init g-empty.safetensors',
    '<%= config.bin %> eval --model my-model/ --data-dir benchmarks/ --compare-modes',
    '# the CI regression',
    '<%= config.bin %> eval --model my-model/ --data-dir fixtures/eval-tasks --check-invariance --tolerance 0.05',
  ];

  static override flags = {
    model: Flags.string({char: 'm', description: 'model directory or reference .pth (default: the embedded demo model)'}),
    hparams: Flags.string({description: "the reference's hparams.json for a .pth model"}),
    tokenizer: Flags.string({description: 'SentencePiece model (default: tokenizer.model of the model directory)'}),
    tasks: Flags.string({description: 'tasks or the group pldr_zeroshot, comma-separated', default: 'pldr_zeroshot'}),
    'data-dir': Flags.string({description: 'folder holding <task>.jsonl|.json|.parquet'}),
    task: Flags.string({description: 'a task file: name=FILE (repeatable; wins over --data-dir)', multiple: true}),
    limit: Flags.string({description: 'first N documents of each task, or a fraction in (0, 1)'}),
    mode: Flags.string({description: 'how log-likelihoods are computed', options: ['full', 'kv', 'kv+g'], default: 'full'}),
    'g-init': Flags.string({description: 'a G list given to every call (the Gi setting)'}),
    'compare-modes': Flags.boolean({description: 'evaluate full, kv+g and the fixed-G setting; print each score and the largest log-likelihood difference', default: false}),
    'check-invariance': Flags.boolean({description: 'evaluate the cache settings and exit non-zero when they disagree', default: false}),
    tolerance: Flags.string({description: 'allowed per-request |Δ log-likelihood| for the empirical agreements', default: '0.05'}),
    'score-tolerance': Flags.string({description: 'allowed change of a task score, in percentage points as the paper prints them (2 decimals), for the empirical agreements', default: '0'}),
    'construction-tolerance': Flags.string({description: 'allowed |Δ log-likelihood| for the agreements that hold by construction', default: '1e-4'}),
    'batch-size': Flags.integer({description: 'full mode: requests of equal token length scored in one forward, at most this many (no padding: each row is the one-request forward, bit for bit; 1 scores one at a time)', default: DEFAULT_BATCH_SIZE, min: 1}),
    'max-length': Flags.integer({description: 'context + continuation tokens kept (left truncation); default min(1024, max_seq_len + 1)'}),
    output: Flags.string({char: 'o', description: 'write the results JSON here'}),
    'log-samples': Flags.boolean({description: 'add every request (context, continuation, ids, log-likelihood, is-greedy) to --output', default: false}),
    json: Flags.boolean({description: 'print the results JSON to stdout', default: false}),
  };

  async run(): Promise<void> {
    const {flags} = await this.parse(Eval);
    const tolerance = Number(flags.tolerance);
    const constructionTolerance = Number(flags['construction-tolerance']);
    const scoreTolerance = Number(flags['score-tolerance']);
    if (!(tolerance >= 0) || !(constructionTolerance >= 0) || !(scoreTolerance >= 0)) throw new PldrError('--tolerance, --score-tolerance and --construction-tolerance must be numbers ≥ 0');
    if (flags['log-samples'] && !flags.output) throw new PldrError('--log-samples adds the samples to --output: give --output FILE');
    // a results file that cannot be written is found now, not after all the scoring
    if (flags.output) {
      const taskFiles = (flags.task ?? []).map((t) => t.slice(t.indexOf('=') + 1));
      checkOutputFile(flags.output, {inputs: [flags.model, flags['data-dir'], flags['g-init'], ...taskFiles].filter((p): p is string => p !== undefined), flag: '--output'});
    }
    if (flags['check-invariance'] && flags['compare-modes']) throw new PldrError('give --check-invariance or --compare-modes, not both');
    const taskNames = resolveTasks(flags.tasks.split(','));
    if (!flags['data-dir'] && !flags.task) throw new PldrError('give the task files: --data-dir DIR (with <task>.jsonl|.json|.parquet) or --task name=FILE');
    // everything that can be wrong with the inputs is found before any scoring
    const tasks = await loadTasks(taskNames, {dataDir: flags['data-dir'], files: flags.task, limit: parseLimit(flags.limit)});
    await this.useBackend(flags.backend, flags.threads, 'compute');
    const modelPath = flags.model ?? demoModel();
    const files = withSpinner('loading the model', () => readModelFiles(modelPath, {hparams: flags.hparams}));
    const tok = await loadTokenizer(flags.tokenizer, files.tokenizer, 'scoring text', files.config.input_vocab_size);
    const model = withSpinner('loading the model', () => instantiate(files));
    const given = flags['g-init'] ? readGList(flags['g-init']) : undefined;
    let started = performance.now();
    const progress = (p: {setting: string; done: number; total: number}) => {
      if (!process.stderr.isTTY) return;
      const s = (performance.now() - started) / 1000;
      const eta = p.done > 0 ? (s * (p.total - p.done)) / p.done : 0;
      const bar = '#'.repeat(Math.round((20 * p.done) / p.total)).padEnd(20, '.');
      process.stderr.write(`\r[${bar}] ${p.setting}: ${p.done}/${p.total} requests, ${(p.done / Math.max(s, 1e-9)).toFixed(1)}/s, ETA ${Math.ceil(eta)} s   `);
    };
    const run = async (s: Setting) => {
      started = performance.now();
      const r = await evaluate(model, tok, tasks, s, {maxLength: flags['max-length'], batchSize: flags['batch-size'], onProgress: progress});
      if (process.stderr.isTTY) process.stderr.write('\n');
      return r;
    };
    const owned: {dispose(): void}[] = [model];
    try {
      if (flags['check-invariance'] || flags['compare-modes']) {
        if (model.isG && flags['check-invariance']) throw new PldrError('--check-invariance needs a PLDRv51 model (it builds the cached and Gi settings from it)');
        const G = given ?? (model.isG ? undefined : gListOf(inferDeductive(model, [tok.endId]), {withAP: model.isDag}));
        const gName = given ? `G from ${flags['g-init']}` : 'G of the empty prompt';
        const full = await run({name: 'full', mode: 'full'});
        const kvg = await run({name: 'kv+g', mode: 'kv+g'});
        const fixed = G ? await run({name: `full, ${gName}`, mode: 'full', g: G}) : undefined;
        const results = [full, kvg, ...(fixed ? [fixed] : [])];
        const checks: Agreement[] = [];
        if (flags['check-invariance']) {
          const kv = await run({name: 'kv', mode: 'kv'});
          const fixedKv = await run({name: `kv, ${gName}`, mode: 'kv', g: G});
          const gi = instantiate(toGi(files, G!.layers.map((l) => l.G_LM), gName));
          owned.push(gi);
          const giRun = await run({name: `Gi model (${gName})`, mode: 'full', model: gi});
          results.push(kv, fixedKv, giRun);
          checks.push(
            agreement(kv, kvg, 'construction', constructionTolerance),
            agreement(fixed!, fixedKv, 'construction', constructionTolerance),
            agreement(fixed!, giRun, 'construction', constructionTolerance),
            agreement(full, kvg, 'empirical', tolerance, scoreTolerance),
            agreement(full, fixed!, 'empirical', tolerance, scoreTolerance),
          );
        }
        const report = {model: modelPath, settings: results.map(summaryOf), ...(checks.length ? {checks} : {}), largest_ll_difference_vs_full: results.slice(1).map((r) => ({setting: r.setting, ...agreement(full, r, 'empirical', tolerance)})).map((a) => ({setting: a.setting, max_abs_ll_diff: a.maxAbsLlDiff, score_changes: a.scoreChanges}))};
        if (flags.output) writeJson(flags.output, report);
        if (flags.json) this.log(JSON.stringify(report));
        else this.log(renderComparison(results, checks));
        if (checks.some((c) => !c.ok)) {
          this.fail(`invariance broken: ${checks.filter((c) => !c.ok).map((c) => `${c.a} vs ${c.b} (${c.kind})`).join('; ')}`);
        }
        return;
      }

      const setting: Setting = {name: flags['g-init'] ? `${flags.mode}, G from ${flags['g-init']}` : flags.mode, mode: flags.mode as Setting['mode'], g: given};
      const r = await run(setting);
      const out = resultsJson(r, {model: modelPath, tasks: taskNames, mode: flags.mode, g_init: flags['g-init'] ?? null, limit: flags.limit ?? null, max_length: flags['max-length'] ?? Math.min(1024, files.config.max_seq_len + 1)}, flags['log-samples']);
      if (flags.output) writeJson(flags.output, out);
      if (flags.json) this.log(JSON.stringify(out));
      else this.log(renderTable(r));
    } finally {
      for (const o of owned) o.dispose();
    }
  }
}

function summaryOf(r: SettingResult) {
  return {setting: r.setting, headline: r.summary.headline, avg1: r.summary.avg1, avg2: r.summary.avg2};
}

/** The results JSON: per task the harness's metrics with stderrs, the averages, settings, environment. */
function resultsJson(r: SettingResult, settings: Record<string, unknown>, samples: boolean): Record<string, unknown> {
  const results: Record<string, Record<string, number | null>> = {};
  for (const t of r.tasks) {
    if (t.task === 'truthfulqa_mc2') results[t.task] = {mc2: t.acc, mc2_stderr: t.acc_stderr};
    else results[t.task] = {acc: t.acc, acc_stderr: t.acc_stderr, acc_norm: t.acc_norm ?? null, acc_norm_stderr: t.acc_norm_stderr ?? null, acc_bytes: t.acc_bytes ?? null, acc_bytes_stderr: t.acc_bytes_stderr ?? null};
  }
  return {
    results,
    averages: {avg1: r.summary.avg1, avg2: r.summary.avg2},
    harness_group_pldr_zeroshot: r.summary.harnessGroup,
    n: Object.fromEntries(r.tasks.map((t) => [t.task, t.n])),
    settings,
    environment: {node: process.version, tfjs: tf.version_core, backend: tf.getBackend(), cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memory_gb: Math.round(totalmem() / 2 ** 30), date: new Date().toISOString()},
    ...(samples ? {samples: r.samples} : {}),
  };
}

function renderTable(r: SettingResult): string {
  const rows = ['|     Tasks      | n-shot |  Metric  | Value  |   | Stderr |', '|----------------|-------:|----------|-------:|---|-------:|'];
  const f = (x: number | null | undefined) => (x === null || x === undefined ? '   N/A' : x.toFixed(4));
  for (const t of r.tasks) {
    const metrics: [string, number, number | null | undefined][] = t.task === 'truthfulqa_mc2' ? [['mc2', t.acc, t.acc_stderr]] : [['acc', t.acc, t.acc_stderr], ['acc_norm', t.acc_norm!, t.acc_norm_stderr], ['acc_bytes', t.acc_bytes!, t.acc_bytes_stderr]];
    metrics.forEach(([name, v, s], i) => rows.push(`|${(i === 0 ? t.task : '').padEnd(16)}|${i === 0 ? '      0' : '       '} |${name.padEnd(10)}|${f(v).padStart(8)}|± |${f(s).padStart(8)}|`));
  }
  const avg = (x: number | null) => (x === null ? 'n/a (needs all tasks)' : (100 * x).toFixed(2));
  rows.push('', `Avg-1 (7 tasks, headline: acc_norm) ${avg(r.summary.avg1)}   Avg-2 (+ TruthfulQA mc2) ${avg(r.summary.avg2)}   [${r.setting}]`);
  return rows.join('\n');
}

function renderComparison(results: SettingResult[], checks: Agreement[]): string {
  const tasks = results[0].tasks.map((t) => t.task);
  const head = `| setting | ${tasks.join(' | ')} | Avg-1 | Avg-2 |`;
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : (100 * x).toFixed(2));
  const lines = [head, `|---|${tasks.map(() => '---:').join('|')}|---:|---:|`];
  for (const r of results) lines.push(`| ${r.setting} | ${r.tasks.map((t) => pct(t.headline)).join(' | ')} | ${pct(r.summary.avg1)} | ${pct(r.summary.avg2)} |`);
  const full = results[0];
  lines.push('', 'largest per-request |Δ log-likelihood| against full:');
  for (const r of results.slice(1)) lines.push(`  ${r.setting}: ${agreement(full, r, 'empirical', Infinity).maxAbsLlDiff.toExponential(2)}`);
  if (checks.length) {
    lines.push('', 'invariance checks:');
    for (const kind of ['construction', 'empirical'] as const) {
      lines.push(kind === 'construction' ? '  by construction (float tolerance):' : '  observed on trained models (paper):');
      for (const c of checks.filter((x) => x.kind === kind))
        lines.push(`    ${c.ok ? 'ok  ' : 'FAIL'} ${c.a} vs ${c.b}: max |Δll| ${c.maxAbsLlDiff.toExponential(2)} (≤ ${c.tolerance})${c.kind === 'empirical' ? `, scores within ${c.scoreTolerance} points` : ''}${c.scoreChanges.length ? `, scores changed: ${c.scoreChanges.map((s) => `${s.task} ${pct(s.a)}→${pct(s.b)}`).join(', ')}` : ''}`);
    }
  }
  return lines.join('\n');
}

function writeJson(path: string, value: unknown): void {
  writeFileAtomic(path, [Buffer.from(JSON.stringify(value, null, 1) + '\n')]);
}
