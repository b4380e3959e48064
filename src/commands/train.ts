import {Flags} from '@oclif/core';
import {existsSync, mkdtempSync, rmSync} from 'node:fs';
import {constants, tmpdir} from 'node:os';
import {join, resolve} from 'node:path';

import {PldrCommand} from '../cli/base.js';
import {parseNumber} from '../cli/prompt.js';
import {checkModelFits} from '../core/backend.js';
import {defaultAdff, defaultDff, getPreset, type ModelConfig, ROPE_STYLES, validateConfig, type Variant, VARIANTS} from '../core/config.js';
import {PldrError} from '../core/errors.js';
import {readModelFiles} from '../core/io/model-files.js';
import {Tokenizer} from '../core/tokenizer.js';
import {readDocuments, resolveCorpus} from '../core/train/corpus.js';
import {lockRun} from '../core/train/lock.js';
import {trainTokenizer, VocabSizeTooLarge} from '../core/train/spm.js';
import {checkRunOut, createRun, discardRunDir, makeRunDir, readRunSettings, type RunLimits, type RunSettings, runTraining, type TrainEvent} from '../core/train/trainer.js';

/** --vocab-size when not given: fitted down to what the corpus supports. */
const DEFAULT_VOCAB_SIZE = 4000;
/** The flags a resume takes (the run's limits, and where it computes); every other setting is fixed when the run is created. */
const RESUME_FLAGS = new Set(['resume', 'max-steps', 'max-tokens', 'time-limit', 'total-steps', 'json', 'backend', 'threads']);

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
    corpus: Flags.string({char: 'c', description: 'text files, folders, globs, .jsonl or .parquet (repeatable)', multiple: true}),
    out: Flags.string({char: 'o', description: 'the run directory to create'}),
    force: Flags.boolean({description: 'let --out replace a folder that is not empty (or a run with a checkpoint)', default: false}),
    resume: Flags.string({description: 'continue the run in this directory from its last checkpoint'}),
    'text-field': Flags.string({description: 'field holding the text in JSON lines and Parquet', default: 'text'}),
    split: Flags.string({description: 'how plain text files become documents', options: ['paragraphs', 'lines', 'file'], default: 'paragraphs'}),
    tokenizer: Flags.string({description: 'reuse this SentencePiece model instead of training one'}),
    'init-from': Flags.string({
      description: "start from this model's weights to continue training or fine-tune it: a model directory, a reference .pth or a Hugging Face snapshot (its architecture, RoPE, G and tokenizer come with it)",
    }),
    'vocab-size': Flags.integer({description: `vocabulary of the tokenizer trained with spm_train (default ${DEFAULT_VOCAB_SIZE}, or what a small corpus allows)`}),
    preset: Flags.string({char: 'p', description: 'a preset (pldr info --list-presets); the flags below override it'}),
    variant: Flags.string({description: 'model variant', options: VARIANTS as string[]}),
    layers: Flags.integer({description: 'decoder layers (num_layers)'}),
    'd-model': Flags.integer({description: 'model width (d_model)'}),
    heads: Flags.integer({description: 'attention heads (num_heads); d_k = d-model / heads'}),
    dff: Flags.integer({description: 'FFN width (default floor(8·d/3))'}),
    reslayers: Flags.integer({description: 'residual units of the metric learner (num_reslayerA)'}),
    'dense-a': Flags.integer({description: 'GLUs per residual unit (num_denseA)'}),
    'a-dff': Flags.integer({description: 'metric learner GLU width (A_dff, default floor(8·d_k/3))'}),
    rope: Flags.string({description: 'RoPE pairing: reference (PLDR-LLM v51, interleaved pairs) or neox (v52, rotate-half)', options: ROPE_STYLES as string[], default: 'reference'}),
    'g-init': Flags.string({description: 'PLDRv51G: the constant G — identity, random (uniform [0,1), as the reference), or a G file'}),
    dag: Flags.string({description: 'DAG coefficients c_A,c_AP,c_G for A_LM, A_P, G_LM (e.g. 0.05,0.05,0.05)'}),
    context: Flags.integer({description: 'model input positions per row (windows hold context + 1 tokens)', default: 256}),
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
    json: Flags.boolean({description: 'print events as JSON lines instead of a progress display', default: false}),
  };

  async run(): Promise<void> {
    const {flags, raw} = await this.parse(Train);
    if (flags.resume && flags.out) throw new PldrError('give either --out (a new run) or --resume (an existing one), not both');
    if (!flags.resume && !flags.out) throw new PldrError('give --out RUN_DIR for a new run, or --resume RUN_DIR');
    const limits = limitsFromFlags(flags);

    if (flags.resume) {
      const runDir = flags.resume;
      const fixed = raw.find((t) => t.type === 'flag' && !RESUME_FLAGS.has(t.flag));
      if (fixed?.type === 'flag')
        throw new PldrError(`--${fixed.flag} does not apply to a resume (a run's settings are fixed when it is created): a resume takes only ${[...RESUME_FLAGS].filter((f) => f !== 'resume').map((f) => `--${f}`).join(', ')}`);
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
    if (!flags.corpus || flags.corpus.length === 0) throw new PldrError('give the training text with --corpus PATH (files, folders, globs, .jsonl, .parquet)');
    const init = flags['init-from'] !== undefined ? initModel(flags['init-from'], raw, flags.tokenizer) : undefined;
    const settings = this.settingsFromFlags(flags, limits, init?.config);
    if (init) settings.initFrom = resolve(flags['init-from']!);
    const tokenizerFile = flags.tokenizer ?? init?.tokenizer;
    const sources = resolveCorpus(flags.corpus); // fail on a missing path before training a tokenizer
    const inputs = [...flags.corpus, tokenizerFile, settings.gInit, flags['init-from']].filter((p): p is string => p !== undefined && existsSync(p));
    checkRunOut(runDir, {force: flags.force, inputs: [...inputs, ...sources.map((src) => src.path)]});
    const vocab = tokenizerFile ? (await Tokenizer.load(tokenizerFile)).vocabSize : (flags['vocab-size'] ?? DEFAULT_VOCAB_SIZE);
    if (init && vocab !== init.config.input_vocab_size)
      throw new PldrError(`the tokenizer ${tokenizerFile} has ${vocab} pieces but the model ${flags['init-from']} has a vocabulary of ${init.config.input_vocab_size}: give the tokenizer it was trained with`);
    settings.config.input_vocab_size = vocab;
    validateConfig(settings.config, 'the model');
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
      const tokenizer = tokenizerFile ?? (await this.trainTokenizer(flags.corpus, settings, flags['vocab-size']));
      settings.config.input_vocab_size = (await Tokenizer.load(tokenizer)).vocabSize;
      validateConfig(settings.config, 'the model');
      createRun(runDir, settings, tokenizer);
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
    const onSigint = (sig: NodeJS.Signals) => {
      if (stoppedBy) process.exit(signalExit(sig)); // a second one: give up at once
      stoppedBy = sig;
      process.stderr.write(`\n${stoppedWord(sig)}: finishing this update and writing a checkpoint (${sig === 'SIGINT' ? 'Ctrl-C' : sig} again to abort)\n`);
    };
    for (const sig of STOP_SIGNALS) process.on(sig, onSigint);
    const display = new Display(json);
    try {
      const r = await runTraining(runDir, opts, {onEvent: (e) => display.event(e), interrupted: () => stoppedBy !== undefined});
      display.done();
      if (r.reason === 'finished') return;
      if (!json && r.curves) {
        this.log(r.curves.terminal);
        this.log(`curves: ${r.curves.svg}, ${r.curves.png}`);
      }
      if (!json) this.log(`model: ${join(runDir, 'checkpoint')} (pldr generate --model ${join(runDir, 'checkpoint')} "...")`);
      if (r.reason === 'non-finite') process.exitCode = 1;
      if (r.reason === 'interrupted') {
        process.stderr.write(`resume with: pldr train --resume ${runDir}\n`);
        process.exitCode = signalExit(stoppedBy!);
      }
    } finally {
      for (const sig of STOP_SIGNALS) process.off(sig, onSigint);
    }
  }

  private settingsFromFlags(flags: Record<string, unknown> & {corpus?: string[]}, limits: RunLimits, init?: ModelConfig): RunSettings {
    const f = flags as Record<string, string | number | undefined>;
    const base: ModelConfig = init ? {...init} : flags.preset
      ? getPreset(String(flags.preset))
      : {variant: 'v510', num_layers: 2, d_model: 64, num_heads: 2, dff: defaultDff(64), num_reslayerA: 2, num_denseA: 2, A_dff: defaultAdff(32), input_vocab_size: 4000, max_seq_len: 257};
    const variant = (f.variant as Variant | undefined) ?? base.variant;
    const d = (f['d-model'] as number | undefined) ?? base.d_model;
    const H = (f.heads as number | undefined) ?? base.num_heads;
    const full = variant !== 'v510G';
    const config: ModelConfig = {
      variant,
      num_layers: (f.layers as number | undefined) ?? base.num_layers,
      d_model: d,
      num_heads: H,
      dff: (f.dff as number | undefined) ?? (f['d-model'] !== undefined ? defaultDff(d) : base.dff),
      num_reslayerA: full ? ((f.reslayers as number | undefined) ?? (base.num_reslayerA || 2)) : 0,
      num_denseA: full ? ((f['dense-a'] as number | undefined) ?? (base.num_denseA || 2)) : 0,
      A_dff: full ? ((f['a-dff'] as number | undefined) ?? (f['d-model'] !== undefined || f.heads !== undefined || !base.A_dff ? defaultAdff(d / H) : base.A_dff)) : 0,
      input_vocab_size: base.input_vocab_size,
      max_seq_len: (f.context as number) + 1,
    };
    if (f.rope === 'neox') config.rope = 'neox';
    if (init) {
      // the model's own architecture, RoPE table and G; the context must fit its positions
      Object.assign(config, init); // --dag below may still set the regulariser
      if ((f.context as number) + 1 > init.max_seq_len)
        throw new PldrError(`--context ${f.context} needs ${(f.context as number) + 1} positions but the model was built for ${init.max_seq_len} (max_seq_len): lower --context to ${init.max_seq_len - 1} or less`);
    }
    if (variant !== 'v510G' && f['g-init'] !== undefined) throw new PldrError('--g-init sets the constant G of a PLDRv51G model: add --variant v510G');
    const dag = f.dag !== undefined ? parseDag(String(f.dag)) : base.DAG_reg_coeffs;
    if (dag) config.DAG_reg_coeffs = dag;
    const atLeast = (min: number, names: string[]) => {
      for (const k of names) if (f[k] !== undefined && (f[k] as number) < min) throw new PldrError(`--${k} must be at least ${min}, got ${f[k]}`);
    };
    atLeast(1, ['context', 'batch-size', 'grad-accum', 'log-every', 'val-batches', 'layers', 'd-model', 'heads', 'dff', 'a-dff']);
    atLeast(0, ['warmup', 'val-every', 'ckpt-every', 'reslayers', 'dense-a']);
    atLeast(263, ['vocab-size']); // 6 special and 256 byte pieces come first
    const validation = parseNumber(String(f.validation), '--validation');
    if (!(validation > 0) || (validation >= 1 && !Number.isInteger(validation))) throw new PldrError(`--validation must be a whole count ≥ 1 or a fraction in (0, 1), got ${f.validation}`);
    const lr = parseNumber(String(f.lr), '--lr');
    const alpha = parseNumber(String(f['lr-alpha']), '--lr-alpha');
    const weightDecay = parseNumber(String(f['weight-decay']), '--weight-decay');
    if (!(lr > 0 && Number.isFinite(lr))) throw new PldrError(`--lr must be a number above 0, got ${f.lr}`);
    if (!(alpha >= 0 && alpha <= 1)) throw new PldrError(`--lr-alpha must be between 0 and 1, got ${f['lr-alpha']}`);
    if (!(weightDecay >= 0 && Number.isFinite(weightDecay))) throw new PldrError(`--weight-decay must be a number ≥ 0, got ${f['weight-decay']}`);
    return {
      format: 'pldr-run',
      version: 1,
      corpus: flags.corpus!,
      corpusOptions: {split: f.split as 'paragraphs', textField: String(f['text-field'])},
      config,
      ...(variant === 'v510G' && !init ? {gInit: String(f['g-init'] ?? 'identity')} : {}),
      recipe: {
        lr,
        warmup: f.warmup as number,
        totalSteps: limits.totalSteps ?? limits.maxSteps ?? 0,
        alpha,
        weightDecay,
        clip: 1,
        gradAccum: f['grad-accum'] as number,
        ...(dag ? {dag} : {}),
      },
      batchSize: f['batch-size'] as number,
      context: f.context as number,
      seed: f.seed as number,
      validation,
      valEvery: f['val-every'] as number,
      valBatches: f['val-batches'] as number,
      ckptEvery: f['ckpt-every'] as number,
      logEvery: f['log-every'] as number,
      stop: {maxSteps: limits.maxSteps, maxTokens: limits.maxTokens, timeLimitS: limits.timeLimitS},
    };
  }

  /** A tokenizer trained on the corpus; without --vocab-size, as large as the corpus allows up to the default. */
  private async trainTokenizer(corpus: string[], settings: RunSettings, given: number | undefined): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'pldr-spm-'));
    process.on('exit', () => rmSync(dir, {recursive: true, force: true}));
    const vocabSize = given ?? DEFAULT_VOCAB_SIZE;
    process.stderr.write(`training a ${vocabSize}-piece SentencePiece tokenizer on the corpus (spm_train)...\n`);
    const docs = readDocuments(resolveCorpus(corpus), settings.corpusOptions);
    try {
      const r = await trainTokenizer({input: (async function* () {
        for await (const d of docs) yield d.text;
      })(), vocabSize, fitVocabSize: given === undefined, outPrefix: join(dir, 'tokenizer')});
      if (r.vocabSize !== vocabSize) process.stderr.write(`the corpus allows at most ${r.vocabSize} pieces: trained ${r.vocabSize} instead of ${vocabSize} (--vocab-size sets it)\n`);
      process.stderr.write(`tokenizer trained in ${r.seconds.toFixed(1)} s\n`);
      return r.model;
    } catch (e) {
      if (e instanceof VocabSizeTooLarge) throw new PldrError(`--vocab-size ${vocabSize} is too large for this corpus: spm_train allows at most ${e.max} pieces (give --vocab-size ${e.max} or less, or more text)`);
      if (e instanceof PldrError && /required_chars/.test(e.message)) throw new PldrError(`${e.message} (raise --vocab-size)`);
      throw e;
    }
  }
}

/** Signals that stop a training after a checkpoint: Ctrl-C, and SIGTERM (kill, a scheduler's preemption). */
const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
/** The shell's exit status for a process stopped by `sig`: 130 for SIGINT, 143 for SIGTERM. */
const signalExit = (sig: NodeJS.Signals) => 128 + constants.signals[sig];
/** How the user is told a signal stopped the training: "interrupted" for Ctrl-C, "stopped by SIGTERM". */
const stoppedWord = (sig: NodeJS.Signals) => (sig === 'SIGINT' ? 'interrupted' : `stopped by ${sig}`);

/** The run's limits from the command line: the stopping rules and --total-steps, each checked. */
function limitsFromFlags(flags: {'max-steps'?: number; 'max-tokens'?: number; 'time-limit'?: string; 'total-steps'?: number}): RunLimits {
  for (const k of ['max-steps', 'max-tokens', 'total-steps'] as const)
    if (flags[k] !== undefined && flags[k] < 1) throw new PldrError(`--${k} must be at least 1, got ${flags[k]}`);
  const timeLimitS = flags['time-limit'] !== undefined ? parseDuration(flags['time-limit']) : undefined;
  if (timeLimitS !== undefined && !(timeLimitS > 0)) throw new PldrError(`--time-limit must be more than 0, got "${flags['time-limit']}"`);
  return {maxSteps: flags['max-steps'], maxTokens: flags['max-tokens'], timeLimitS, totalSteps: flags['total-steps']};
}

/** "90", "90s", "30m", "2h", "1h30m" → seconds. */
export function parseDuration(s: string): number {
  const m = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$/.exec(s.trim());
  if (!m || s.trim() === '' || (m[1] === undefined && m[2] === undefined && m[3] === undefined)) throw new PldrError(`--time-limit must look like 90s, 30m, 2h or 1h30m, got "${s}"`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

function parseDag(s: string): [number, number, number] {
  const v = s.split(',').map((x) => Number(x.trim()));
  if (v.length !== 3 || v.some((x) => !Number.isFinite(x) || x < 0)) throw new PldrError(`--dag takes three coefficients ≥ 0 for A_LM,A_P,G_LM, e.g. 0.05,0.05,0.05; got "${s}"`);
  return v as [number, number, number];
}

const fmtTime = (s: number | null) => {
  if (s === null || !Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
};

/** A progress bar on a terminal; plain log lines otherwise; JSON lines with --json. All on stderr but JSON. */
class Display {
  private readonly tty = Boolean(process.stderr.isTTY);
  private barShown = false;

  constructor(private readonly json: boolean) {}

  event(e: TrainEvent): void {
    if (this.json) {
      process.stdout.write(JSON.stringify(e) + '\n');
      return;
    }
    switch (e.type) {
      case 'data':
        if (e.phase === 'done' || e.phase === 'reused') this.line(`data: ${e.tokens.toLocaleString('en-US')} tokens from ${e.documents.toLocaleString('en-US')} documents (${e.phase === 'reused' ? 'cached' : 'tokenized'})`);
        else if (this.tty) this.bar(`tokenizing: ${e.documents} documents, ${e.tokens.toLocaleString('en-US')} tokens, ${(100 * e.bytesRead / Math.max(e.bytesTotal, 1)).toFixed(0)}%`);
        break;
      case 'start':
        this.line(`${e.resumedAt ? `resuming at update ${e.resumedAt}` : 'training'}: ${e.params.toLocaleString('en-US')} parameters, ${e.trainWindows} training windows (${e.batchesPerEpoch} batches per epoch), ${e.valWindows} validation windows`);
        break;
      case 'step': {
        const pct = e.progress !== null ? `${(100 * e.progress).toFixed(1)}% ` : '';
        const text = `${pct}update ${e.update}  loss ${e.loss.toFixed(4)}  acc ${e.accuracy.toFixed(4)}  lr ${e.lr.toExponential(2)}  ${e.tokensPerS.toFixed(0)} tok/s  ETA ${fmtTime(e.etaS)}`;
        if (this.tty) this.bar(`${barOf(e.progress)} ${text}`);
        else this.line(text);
        break;
      }
      case 'val':
        this.line(`validation at update ${e.update}: loss ${e.loss.toFixed(4)}, accuracy ${e.accuracy.toFixed(4)}, perplexity ${e.perplexity.toFixed(2)}`);
        break;
      case 'checkpoint':
        if (!this.tty) this.line(`checkpoint at update ${e.update}: ${e.path}`);
        break;
      case 'stop':
        if (e.reason === 'finished') this.line(e.message);
        else this.line(`stopped (${e.reason}) after update ${e.update}${e.message ? `: ${e.message}` : ''}`);
        break;
    }
  }

  done(): void {
    if (this.barShown) process.stderr.write('\n');
    this.barShown = false;
  }

  private bar(text: string): void {
    const width = process.stderr.columns ?? 100;
    process.stderr.write(`\r${text.slice(0, width - 1).padEnd(Math.min(width - 1, text.length + 2))}`);
    this.barShown = true;
  }

  private line(text: string): void {
    if (this.barShown) process.stderr.write('\n');
    this.barShown = false;
    process.stderr.write(text + '\n');
  }
}

function barOf(p: number | null): string {
  if (p === null) return '';
  const n = 20;
  const full = Math.round(p * n);
  return `[${'#'.repeat(full)}${'.'.repeat(n - full)}]`;
}

/** Flags that shape the model: with --init-from the model brings its own. */
const ARCHITECTURE_FLAGS = ['preset', 'variant', 'layers', 'd-model', 'heads', 'dff', 'reslayers', 'dense-a', 'a-dff', 'rope', 'g-init', 'vocab-size'];

/**
 * The model --init-from names: its config and tokenizer (the weights are read again when training
 * starts). Flags that would reshape it are refused, and so is a model without a tokenizer when none is given.
 */
function initModel(path: string, raw: {type: string; flag?: string}[], tokenizer: string | undefined): {config: ModelConfig; tokenizer?: string} {
  const clash = raw.find((t) => t.type === 'flag' && ARCHITECTURE_FLAGS.includes(t.flag!));
  if (clash) throw new PldrError(`--${clash.flag} does not apply with --init-from: the model's architecture, RoPE, G and vocabulary come from ${path}`);
  const files = readModelFiles(path);
  if (!files.tokenizer && !tokenizer) throw new PldrError(`${path} has no tokenizer.model: give the tokenizer it was trained with, --tokenizer FILE`);
  return {config: files.config, tokenizer: files.tokenizer};
}
