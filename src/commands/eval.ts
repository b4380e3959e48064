import {Flags} from '@oclif/core';
import {switchFlag, demoModelFlag} from '../cli/flags.js';

import {PldrCommand} from '../cli/base.js';
import {formatDuration, ProgressDisplay} from '../cli/progress.js';
import {loadTokenizer} from '../cli/prompt.js';
import {withSpinner} from '../cli/spinner.js';
import {demoModel} from '../core/demo.js';
import {PldrError} from '../core/errors.js';
import {loadTasks, parseLimit} from '../core/eval/load.js';
import {agreement, type Agreement, compareSettings} from '../core/eval/invariance.js';
import {resultsJson} from '../core/eval/results.js';
import {evaluate, type Progress, type Setting, type SettingResult} from '../core/eval/run.js';
import {DEFAULT_BATCH_SIZE} from '../core/eval/score.js';
import {resolveTasks} from '../core/eval/tasks.js';
import {checkOutputFile, writeFileAtomic} from '../core/io/fsutil.js';
import {readGList} from '../core/io/glist.js';
import {instantiate, readModelFiles} from '../core/io/model-files.js';
import {table} from '../core/table.js';

export default class Eval extends PldrCommand {
  static override summary =
    'Zero-shot benchmarks scored exactly as lm-evaluation-harness v0.4.3 scores PLDR-LLMs; cache-invariance checks.';

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
    "# the paper's eight tasks from files you downloaded (e.g. the datasets' validation/test splits as JSON lines)",
    '<%= config.bin %> eval --model my-model/ --data-dir benchmarks/ --output results.json',
    '<%= config.bin %> eval --model my-model/ --tasks arc_easy,piqa --task arc_easy=arc_easy.parquet --task piqa=piqa.jsonl --limit 100',
    '# scores with the empty-prompt G given to every request (the Gi setting), and every setting side by side',
    '<%= config.bin %> eval --model my-model/ --data-dir benchmarks/ --g-init g-empty.safetensors',
    '<%= config.bin %> eval --model my-model/ --data-dir benchmarks/ --compare-modes',
    '# the CI regression',
    '<%= config.bin %> eval --model my-model/ --data-dir fixtures/eval-tasks --check-invariance --tolerance 0.05',
  ];

  static override flags = {
    model: demoModelFlag,
    hparams: Flags.string({description: "the reference's hparams.json for a .pth model"}),
    tokenizer: Flags.string({description: 'SentencePiece model (default: tokenizer.model of the model directory)'}),
    tasks: Flags.string({description: 'tasks or the group pldr_zeroshot, comma-separated', default: 'pldr_zeroshot'}),
    'data-dir': Flags.string({description: 'folder holding <task>.jsonl|.json|.parquet'}),
    task: Flags.string({description: 'a task file: name=FILE (repeatable; wins over --data-dir)', multiple: true}),
    limit: Flags.string({description: 'first N documents of each task, or a fraction in (0, 1)'}),
    mode: Flags.string({
      description: 'how log-likelihoods are computed',
      options: ['full', 'kv', 'kv+g'],
      default: 'full',
    }),
    'g-init': Flags.string({description: 'a G list given to every call (the Gi setting)'}),
    'compare-modes': Flags.boolean({
      description:
        'evaluate full, kv+g and the fixed-G setting; print each score and the largest log-likelihood difference',
      default: false,
    }),
    'check-invariance': switchFlag('evaluate the cache settings and exit non-zero when they disagree'),
    tolerance: Flags.string({
      description: 'allowed per-request |Δ log-likelihood| for the empirical agreements',
      default: '0.05',
    }),
    'score-tolerance': Flags.string({
      description:
        'allowed change of a task score, in percentage points as the paper prints them (2 decimals), for the empirical agreements',
      default: '0',
    }),
    'construction-tolerance': Flags.string({
      description: 'allowed |Δ log-likelihood| for the agreements that hold by construction',
      default: '1e-4',
    }),
    'batch-size': Flags.integer({
      description:
        'full mode: requests of equal token length scored in one forward, at most this many (no padding: each row is the one-request forward, bit for bit; 1 scores one at a time)',
      default: DEFAULT_BATCH_SIZE,
      min: 1,
    }),
    'max-length': Flags.integer({
      description: 'context + continuation tokens kept (left truncation); default min(1024, max_seq_len + 1)',
    }),
    output: Flags.string({char: 'o', description: 'write the results JSON here'}),
    'log-samples': switchFlag('add every request (context, continuation, ids, log-likelihood, is-greedy) to --output'),
    json: switchFlag('print the results JSON to stdout'),
  };

  async run(): Promise<void> {
    const {flags} = await this.parse(Eval);
    const tolerance = Number(flags.tolerance);
    const constructionTolerance = Number(flags['construction-tolerance']);
    const scoreTolerance = Number(flags['score-tolerance']);
    if (!(tolerance >= 0) || !(constructionTolerance >= 0) || !(scoreTolerance >= 0))
      throw new PldrError('--tolerance, --score-tolerance and --construction-tolerance must be numbers ≥ 0');
    if (flags['log-samples'] && !flags.output)
      throw new PldrError('--log-samples adds the samples to --output: give --output FILE');
    // a results file that cannot be written is found now, not after all the scoring
    if (flags.output) {
      const taskFiles = (flags.task ?? []).map((t) => t.slice(t.indexOf('=') + 1));
      checkOutputFile(flags.output, {
        inputs: [flags.model, flags['data-dir'], flags['g-init'], ...taskFiles].filter(
          (p): p is string => p !== undefined,
        ),
        flag: '--output',
      });
    }
    if (flags['check-invariance'] && flags['compare-modes'])
      throw new PldrError('give --check-invariance or --compare-modes, not both');
    const taskNames = resolveTasks(flags.tasks.split(','));
    if (!flags['data-dir'] && !flags.task)
      throw new PldrError('give the task files: --data-dir DIR (with <task>.jsonl|.json|.parquet) or --task name=FILE');
    // everything that can be wrong with the inputs is found before any scoring
    const tasks = await loadTasks(taskNames, {
      dataDir: flags['data-dir'],
      files: flags.task,
      limit: parseLimit(flags.limit),
    });
    await this.useBackend(flags.backend, flags.threads, 'compute');
    const modelPath = flags.model ?? demoModel();
    const files = withSpinner('loading the model', () => readModelFiles(modelPath, {hparams: flags.hparams}));
    const tok = await loadTokenizer(flags.tokenizer, files.tokenizer, 'scoring text', files.config.input_vocab_size);
    const model = withSpinner('loading the model', () => instantiate(files));
    const given = flags['g-init'] ? readGList(flags['g-init']) : undefined;
    const progress = evalProgress();
    const evalOpts = {maxLength: flags['max-length'], batchSize: flags['batch-size'], onProgress: progress};
    try {
      if (flags['check-invariance'] || flags['compare-modes']) {
        const check = flags['check-invariance'];
        const c = await compareSettings(files, model, tok, tasks, {
          check,
          given: given && {g: given, from: flags['g-init']!},
          tolerance,
          scoreTolerance,
          constructionTolerance,
          ...evalOpts,
        });
        const report = {model: modelPath, ...c.report};
        if (flags.output) writeJson(flags.output, report);
        if (flags.json) this.log(JSON.stringify(report));
        else this.log(renderComparison(c.results, c.checks));
        if (c.checks.some((x) => !x.ok)) {
          this.fail(
            `invariance broken: ${c.checks
              .filter((x) => !x.ok)
              .map((x) => `${x.a} vs ${x.b} (${x.kind})`)
              .join('; ')}`,
          );
        }
        return;
      }

      const setting: Setting = {
        name: flags['g-init'] ? `${flags.mode}, G from ${flags['g-init']}` : flags.mode,
        mode: flags.mode as Setting['mode'],
        g: given,
      };
      const r = await evaluate(model, tok, tasks, setting, evalOpts);
      const out = resultsJson(
        r,
        {
          model: modelPath,
          tasks: taskNames,
          mode: flags.mode,
          g_init: flags['g-init'] ?? null,
          limit: flags.limit ?? null,
          max_length: flags['max-length'] ?? Math.min(1024, files.config.max_seq_len + 1),
        },
        flags['log-samples'],
      );
      if (flags.output) writeJson(flags.output, out);
      if (flags.json) this.log(JSON.stringify(out));
      else this.log(renderTable(r));
    } finally {
      progress.display.done();
      model.dispose();
    }
  }
}

/** Requests scored on a bar with their rate and ETA, a terminal only; each setting ends its bar. */
function evalProgress(): ((p: Progress) => void) & {display: ProgressDisplay} {
  const display = new ProgressDisplay();
  let started = 0;
  const onProgress = (p: Progress) => {
    if (!display.tty) return;
    if (p.done === 0) started = performance.now();
    const s = (performance.now() - started) / 1000;
    const eta = p.done > 0 ? (s * (p.total - p.done)) / p.done : 0;
    display.update(
      `${p.setting}: ${p.done}/${p.total} requests, ${(p.done / Math.max(s, 1e-9)).toFixed(1)}/s, ETA ${formatDuration(eta)}`,
      p.total > 0 ? p.done / p.total : 1,
    );
    if (p.done === p.total) display.done();
  };
  return Object.assign(onProgress, {display});
}

/** lm-evaluation-harness's results table: a task's metrics on its rows, values and stderrs to 4 decimals. */
function renderTable(r: SettingResult): string {
  const f = (x: number | null | undefined) => (x === null || x === undefined ? '   N/A' : x.toFixed(4));
  const rows: string[][] = [];
  for (const t of r.tasks) {
    const metrics: [string, number, number | null | undefined][] =
      t.task === 'truthfulqa_mc2'
        ? [['mc2', t.acc, t.acc_stderr]]
        : [
            ['acc', t.acc, t.acc_stderr],
            ['acc_norm', t.acc_norm!, t.acc_norm_stderr],
            ['acc_bytes', t.acc_bytes!, t.acc_bytes_stderr],
          ];
    metrics.forEach(([name, v, s], i) =>
      rows.push([i === 0 ? t.task : '', i === 0 ? '0 ' : '', name, f(v), '± ', f(s)]),
    );
  }
  const grid = table(rows, {
    head: ['Tasks', 'n-shot', 'Metric', 'Value', '', 'Stderr'],
    align: ['l', 'r', 'l', 'r', 'l', 'r'],
    style: 'grid',
    minWidth: [16, 8, 10, 8, 3, 8],
    measure: (cell) => cell.length + (cell.match(/±/g)?.length ?? 0), // the harness's "± " fills its 3-wide column
  });
  const avg = (x: number | null) => (x === null ? 'n/a (needs all tasks)' : (100 * x).toFixed(2));
  return `${grid}\n\nAvg-1 (7 tasks, headline: acc_norm) ${avg(r.summary.avg1)}   Avg-2 (+ TruthfulQA mc2) ${avg(r.summary.avg2)}   [${r.setting}]`;
}

function renderComparison(results: SettingResult[], checks: Agreement[]): string {
  const tasks = results[0].tasks.map((t) => t.task);
  const head = `| setting | ${tasks.join(' | ')} | Avg-1 | Avg-2 |`;
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : (100 * x).toFixed(2));
  const lines = [head, `|---|${tasks.map(() => '---:').join('|')}|---:|---:|`];
  for (const r of results)
    lines.push(
      `| ${r.setting} | ${r.tasks.map((t) => pct(t.headline)).join(' | ')} | ${pct(r.summary.avg1)} | ${pct(r.summary.avg2)} |`,
    );
  const full = results[0];
  lines.push('', 'largest per-request |Δ log-likelihood| against full:');
  for (const r of results.slice(1))
    lines.push(`  ${r.setting}: ${agreement(full, r, 'empirical', Infinity).maxAbsLlDiff.toExponential(2)}`);
  if (checks.length) {
    lines.push('', 'invariance checks:');
    for (const kind of ['construction', 'empirical'] as const) {
      lines.push(
        kind === 'construction' ? '  by construction (float tolerance):' : '  observed on trained models (paper):',
      );
      for (const c of checks.filter((x) => x.kind === kind))
        lines.push(
          `    ${c.ok ? 'ok  ' : 'FAIL'} ${c.a} vs ${c.b}: max |Δll| ${c.maxAbsLlDiff.toExponential(2)} (≤ ${c.tolerance})${c.kind === 'empirical' ? `, scores within ${c.scoreTolerance} points` : ''}${c.scoreChanges.length ? `, scores changed: ${c.scoreChanges.map((s) => `${s.task} ${pct(s.a)}→${pct(s.b)}`).join(', ')}` : ''}`,
        );
    }
  }
  return lines.join('\n');
}

function writeJson(path: string, value: unknown): void {
  writeFileAtomic(path, [Buffer.from(JSON.stringify(value, null, 1) + '\n')]);
}
