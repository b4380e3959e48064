import {Flags} from '@oclif/core';
import {switchFlag} from '../cli/flags.js';
import {mkdtempSync, rmSync} from 'node:fs';
import {constants, tmpdir} from 'node:os';
import {join} from 'node:path';

import {PldrCommand} from '../cli/base.js';
import {formatDuration, ProgressDisplay} from '../cli/progress.js';
import {checkModelFits} from '../core/backend.js';
import {ROPE_STYLES, VARIANTS} from '../core/config.js';
import {PldrError} from '../core/errors.js';
import {lockRun} from '../core/train/lock.js';
import {trainRunTokenizer} from '../core/train/run-tokenizer.js';
import {checkResumeFlags, DEFAULT_VOCAB_SIZE, limitsFromFlags, planNewRun} from '../core/train/settings.js';
import {
  createRun,
  discardRunDir,
  makeRunDir,
  readRunSettings,
  type RunLimits,
  runTraining,
  type TrainEvent,
} from '../core/train/trainer.js';

export default class Train extends PldrCommand {
  static override summary = 'Pretrain a PLDR-LLM on a text corpus with the reference recipe; resumable.';

  static override description = `Tokenizes the corpus once (plain text, folders, globs, JSON lines with --text-field, Parquet) into a
token cache in RUN_DIR/data, packs it into windows of --context + 1 tokens as the reference does, holds out
a validation split, and trains with the reference's recipe: masked cross-entropy (+ the DAG terms with
--dag), AdamW (β 0.9/0.95, ε 1e-5, decoupled weight decay on every parameter), linear warm-up then cosine
decay to α·lr (the first update runs at lr 0, as the reference), gradients clipped by value at 1.0.

Without --tokenizer, a SentencePiece tokenizer is trained on the corpus with spm_train (--vocab-size).
Checkpoints go to RUN_DIR/checkpoint (a model directory pldr generate reads) every --ckpt-every updates
and at the end; Ctrl-C writes one and stops; --resume RUN_DIR continues exactly where it stopped, with the
run's own --max-steps, --max-tokens, --time-limit and --total-steps unless given again. One training at a
time per RUN_DIR (RUN_DIR/lock). --out refuses a folder that is not empty unless --force.
RUN_DIR/metrics.jsonl logs every --log-every updates; curves.svg and curves.png are drawn at the end.`;

  static override examples = [
    '# a tiny model on a folder of text, in minutes on 2 cores',
    '<%= config.bin %> train --corpus notes/ --out runs/tiny --preset tiny --vocab-size 2000 --context 128 --max-steps 300',
    '# continue it for another 300 updates',
    '<%= config.bin %> train --resume runs/tiny --max-steps 600',
    '# JSON lines with a "content" field, an existing tokenizer, a time budget',
    '<%= config.bin %> train --corpus "data/*.jsonl" --text-field content --tokenizer tok.model --out runs/a --layers 4 --d-model 128 --heads 4 --time-limit 30m',
    '# the SDPA ablation: PLDRv51G with G = identity',
    '<%= config.bin %> train --corpus data/ --tokenizer tok.model --out runs/sdpa --preset tiny --variant v510G --g-init identity --max-steps 1000',
  ];

  static override flags = {
    corpus: Flags.string({
      char: 'c',
      description: 'text files, folders, globs, .jsonl or .parquet (repeatable)',
      multiple: true,
    }),
    out: Flags.string({char: 'o', description: 'the run directory to create'}),
    force: switchFlag('let --out replace a folder that is not empty (or a run with a checkpoint)'),
    resume: Flags.string({description: 'continue the run in this directory from its last checkpoint'}),
    'text-field': Flags.string({description: 'field holding the text in JSON lines and Parquet', default: 'text'}),
    split: Flags.string({
      description: 'how plain text files become documents',
      options: ['paragraphs', 'lines', 'file'],
      default: 'paragraphs',
    }),
    tokenizer: Flags.string({description: 'reuse this SentencePiece model instead of training one'}),
    'init-from': Flags.string({
      description:
        "start from this model's weights to continue training or fine-tune it: a model directory, a reference .pth or a Hugging Face snapshot (its architecture, RoPE, G and tokenizer come with it)",
    }),
    'vocab-size': Flags.integer({
      description: `vocabulary of the tokenizer trained with spm_train (default ${DEFAULT_VOCAB_SIZE}, or what a small corpus allows)`,
    }),
    preset: Flags.string({char: 'p', description: 'a preset (pldr info --list-presets); the flags below override it'}),
    variant: Flags.string({description: 'model variant', options: VARIANTS as string[]}),
    layers: Flags.integer({description: 'decoder layers (num_layers)'}),
    'd-model': Flags.integer({description: 'model width (d_model)'}),
    heads: Flags.integer({description: 'attention heads (num_heads); d_k = d-model / heads'}),
    dff: Flags.integer({description: 'FFN width (default floor(8·d/3))'}),
    reslayers: Flags.integer({description: 'residual units of the metric learner (num_reslayerA)'}),
    'dense-a': Flags.integer({description: 'GLUs per residual unit (num_denseA)'}),
    'a-dff': Flags.integer({description: 'metric learner GLU width (A_dff, default floor(8·d_k/3))'}),
    rope: Flags.string({
      description: 'RoPE pairing: reference (PLDR-LLM v51, interleaved pairs) or neox (v52, rotate-half)',
      options: ROPE_STYLES as string[],
      default: 'reference',
    }),
    'g-init': Flags.string({
      description: 'PLDRv51G: the constant G — identity, random (uniform [0,1), as the reference), or a G file',
    }),
    dag: Flags.string({description: 'DAG coefficients c_A,c_AP,c_G for A_LM, A_P, G_LM (e.g. 0.05,0.05,0.05)'}),
    context: Flags.integer({
      description: 'model input positions per row (windows hold context + 1 tokens)',
      default: 256,
    }),
    'batch-size': Flags.integer({char: 'b', description: 'rows per micro-batch', default: 8}),
    'grad-accum': Flags.integer({description: 'micro-batches per update', default: 1}),
    lr: Flags.string({description: 'peak learning rate', default: '1e-3'}),
    warmup: Flags.integer({description: 'warm-up updates', default: 100}),
    'total-steps': Flags.integer({description: 'length of the schedule T (default: --max-steps, else one epoch)'}),
    'lr-alpha': Flags.string({description: 'final learning rate as a fraction of the peak', default: '0.1'}),
    'weight-decay': Flags.string({description: 'AdamW decoupled weight decay', default: '0.1'}),
    'max-steps': Flags.integer({description: 'stop after this many updates (in all, across resumes)'}),
    'max-tokens': Flags.integer({description: 'stop after this many training tokens'}),
    'time-limit': Flags.string({description: 'stop after this much training time, e.g. 90s, 30m, 2h'}),
    validation: Flags.string({description: 'windows held out: a count, or a fraction below 1', default: '0.02'}),
    'val-every': Flags.integer({description: 'validate every N updates (0: only at the end)', default: 100}),
    'val-batches': Flags.integer({description: 'validation batches per validation', default: 20}),
    'ckpt-every': Flags.integer({description: 'checkpoint every N updates (0: only at the end)', default: 200}),
    'log-every': Flags.integer({description: 'log every N updates', default: 10}),
    seed: Flags.integer({description: 'seed of initialisation, shuffling and the validation split', default: 1234}),
    json: switchFlag('print events as JSON lines instead of a progress display'),
  };

  async run(): Promise<void> {
    const {flags, raw} = await this.parse(Train);
    if (flags.resume && flags.out)
      throw new PldrError('give either --out (a new run) or --resume (an existing one), not both');
    if (!flags.resume && !flags.out) throw new PldrError('give --out RUN_DIR for a new run, or --resume RUN_DIR');
    const limits = limitsFromFlags(flags);

    if (flags.resume) {
      const runDir = flags.resume;
      checkResumeFlags(raw);
      readRunSettings(runDir); // a clear error before anything else
      await this.useBackend(flags.backend, flags.threads, 'compute');
      const release = lockRun(runDir);
      try {
        await this.train(runDir, {resume: true, limits}, flags.json);
      } finally {
        release();
      }
      return;
    }

    // A new run: every check before any long work (training a tokenizer can take minutes).
    const runDir = flags.out!;
    const {settings, tokenizer: given} = await planNewRun(runDir, flags, raw, limits);
    await this.useBackend(flags.backend, flags.threads, 'compute');
    checkModelFits(settings.config, {rows: settings.batchSize, context: settings.context});

    const made = makeRunDir(runDir, {force: flags.force});
    const onSigint = (sig: NodeJS.Signals) => {
      process.stderr.write(`\n${stoppedWord(sig)} before training began\n`);
      discardRunDir(runDir, made);
      process.exit(signalExit(sig));
    };
    for (const sig of STOP_SIGNALS) process.on(sig, onSigint);
    try {
      const tokenizer =
        given ??
        (await trainRunTokenizer(settings.corpus, settings.corpusOptions, flags['vocab-size'], spmDir(), (text) =>
          process.stderr.write(text + '\n'),
        ));
      await createRun(runDir, settings, tokenizer);
      for (const sig of STOP_SIGNALS) process.off(sig, onSigint);
      await this.train(runDir, {resume: false, limits}, flags.json);
    } catch (e) {
      discardRunDir(runDir, made); // a run that saved nothing leaves nothing behind
      throw e;
    } finally {
      for (const sig of STOP_SIGNALS) process.off(sig, onSigint);
      made.release();
    }
  }

  /** The training loop with its display; Ctrl-C (or SIGTERM) stops it after a checkpoint (exit 130, 143). */
  private async train(runDir: string, opts: {resume: boolean; limits: RunLimits}, json: boolean): Promise<void> {
    let stoppedBy: NodeJS.Signals | undefined;
    const display = json ? undefined : new ProgressDisplay();
    const onSigint = (sig: NodeJS.Signals) => {
      if (stoppedBy) process.exit(signalExit(sig)); // a second one: give up at once
      stoppedBy = sig;
      const message = `${stoppedWord(sig)}: finishing this update and writing a checkpoint (${sig === 'SIGINT' ? 'Ctrl-C' : sig} again to abort)`;
      if (display?.tty) display.line(message);
      else process.stderr.write(`\n${message}\n`);
    };
    for (const sig of STOP_SIGNALS) process.on(sig, onSigint);
    const onEvent = (e: TrainEvent) =>
      display ? showEvent(display, e) : process.stdout.write(JSON.stringify(e) + '\n');
    try {
      const r = await runTraining(runDir, opts, {onEvent, interrupted: () => stoppedBy !== undefined});
      display?.done();
      if (r.reason === 'finished') return;
      if (!json && r.curves) {
        this.log(r.curves.terminal);
        this.log(`curves: ${r.curves.svg}, ${r.curves.png}`);
      }
      if (!json)
        this.log(`model: ${join(runDir, 'checkpoint')} (pldr generate --model ${join(runDir, 'checkpoint')} "...")`);
      if (r.reason === 'non-finite') process.exitCode = 1;
      if (r.reason === 'interrupted') {
        process.stderr.write(`resume with: pldr train --resume ${runDir}\n`);
        process.exitCode = signalExit(stoppedBy!);
      }
    } finally {
      display?.done();
      for (const sig of STOP_SIGNALS) process.off(sig, onSigint);
    }
  }
}

/** Signals that stop a training after a checkpoint: Ctrl-C, and SIGTERM (kill, a scheduler's preemption). */
const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
/** The shell's exit status for a process stopped by `sig`: 130 for SIGINT, 143 for SIGTERM. */
const signalExit = (sig: NodeJS.Signals) => 128 + constants.signals[sig];
/** How the user is told a signal stopped the training: "interrupted" for Ctrl-C, "stopped by SIGTERM". */
const stoppedWord = (sig: NodeJS.Signals) => (sig === 'SIGINT' ? 'interrupted' : `stopped by ${sig}`);

/** A temporary folder for spm_train's output, removed when the process exits. */
function spmDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pldr-spm-'));
  process.on('exit', () => rmSync(dir, {recursive: true, force: true}));
  return dir;
}

/** A training event on the display: a bar on a terminal, plain log lines otherwise. */
function showEvent(display: ProgressDisplay, e: TrainEvent): void {
  switch (e.type) {
    case 'data':
      if (e.phase === 'done' || e.phase === 'reused')
        display.line(
          `data: ${e.tokens.toLocaleString('en-US')} tokens from ${e.documents.toLocaleString('en-US')} documents (${e.phase === 'reused' ? 'cached' : 'tokenized'})`,
        );
      else
        display.update(
          `tokenizing: ${e.documents} documents, ${e.tokens.toLocaleString('en-US')} tokens, ${((100 * e.bytesRead) / Math.max(e.bytesTotal, 1)).toFixed(0)}%`,
          null,
        );
      break;
    case 'start':
      display.line(
        `${e.resumedAt ? `resuming at update ${e.resumedAt}` : 'training'}: ${e.params.toLocaleString('en-US')} parameters, ${e.trainWindows} training windows (${e.batchesPerEpoch} batches per epoch), ${e.valWindows} validation windows`,
      );
      break;
    case 'step': {
      const pct = e.progress !== null ? `${(100 * e.progress).toFixed(1)}% ` : '';
      const text = `${pct}update ${e.update}  loss ${e.loss.toFixed(4)}  acc ${e.accuracy.toFixed(4)}  lr ${e.lr.toExponential(2)}  ${e.tokensPerS.toFixed(0)} tok/s  ETA ${formatDuration(e.etaS)}`;
      display.update(text, e.progress, {orLine: true});
      break;
    }
    case 'val':
      display.line(
        `validation at update ${e.update}: loss ${e.loss.toFixed(4)}, accuracy ${e.accuracy.toFixed(4)}, perplexity ${e.perplexity.toFixed(2)}`,
      );
      break;
    case 'checkpoint':
      if (!display.tty) display.line(`checkpoint at update ${e.update}: ${e.path}`);
      break;
    case 'stop':
      if (e.reason === 'finished') display.line(e.message);
      else display.line(`stopped (${e.reason}) after update ${e.update}${e.message ? `: ${e.message}` : ''}`);
      break;
  }
}
