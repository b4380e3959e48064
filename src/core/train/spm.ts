/**
 * Tokenizer training with SentencePiece's own trainer, `spm_train`, run as a subprocess (no npm
 * package trains SentencePiece models; docs/design.md §2). The settings are the paper tokenizer's, read
 * from its model file (trainer_spec) and docs/spec.md §2:
 *
 *   unigram, byte_fallback, split_digits, nmt_nfkc normaliser, character_coverage 0.9995,
 *   pad 0 [PAD], unk 1 [UNK], bos 2 [START], eos 3 [END], user-defined [SEP] → 4, [CLS] → 5
 *   (so the byte pieces are 6–261), input_sentence_size 5,000,000 with shuffle_input_sentence,
 *   max_sentence_length 125,760 bytes (whole documents are sentences), num_threads = the cores here.
 *
 * One deliberate difference: the paper model was trained with hard_vocab_limit=false (vocab_size a
 * soft limit). Here the limit is hard by default, because the model's embedding table is sized from
 * the requested vocabulary; a corpus too small for it fails with VocabSizeTooLarge, which names the
 * largest size the corpus allows, or, with fitVocabSize, is trained again at that size. Pass
 * hardVocabLimit: false for the reference's behaviour (the result may then be smaller; see
 * `vocabSize` in the result).
 *
 * Documents are written to a temporary text file first, one document per line (line breaks inside a
 * document become spaces, which is what nmt_nfkc makes of them anyway). spm_train runs inside a
 * temporary folder next to the output, with relative file names (so the model does not record
 * temporary absolute paths), and the .model/.vocab pair is moved into place (flushed, then renamed:
 * moveFileAtomic) only on success.
 */
import {spawn} from 'node:child_process';
import * as fs from 'node:fs';
import {availableParallelism} from 'node:os';
import {basename, delimiter, dirname, join, resolve} from 'node:path';

import {oneLine, PldrError} from '../errors.js';
import {fsMessage, moveFileAtomic} from '../io/fsutil.js';

export type SpmInput = string | AsyncIterable<string | {text: string}> | Iterable<string | {text: string}>;

export interface TrainTokenizerOptions {
  /** A text file (one sentence per line, handed to spm_train as is), or documents (strings or {text}). */
  input: SpmInput;
  vocabSize: number;
  /** Output: <outPrefix>.model and <outPrefix>.vocab. */
  outPrefix: string;
  /** Default 'unigram' (the paper's). */
  modelType?: 'unigram' | 'bpe';
  /** Sentences spm_train samples from a large corpus (default 5,000,000, the paper's). */
  inputSentenceSize?: number;
  /** Sample them at random (default true, the paper's). */
  shuffleInputSentence?: boolean;
  /** Longest sentence in bytes; longer ones are skipped by spm_train (default 125,760, the paper's). */
  maxSentenceLength?: number;
  characterCoverage?: number;
  /** Default true (exact vocabulary size); the paper used false. */
  hardVocabLimit?: boolean;
  /** When the corpus is too small for vocabSize, train the largest vocabulary it allows instead (default false: VocabSizeTooLarge). */
  fitVocabSize?: boolean;
  /** Default: the cores available here. */
  numThreads?: number;
  /** spm_train's --random_seed (its sentence sampling); default spm_train's own. */
  seed?: number;
  /** Stop after this many documents when writing the training text (default: all). */
  maxDocuments?: number;
  /** The trainer binary: a name looked up on PATH or a path (default "spm_train"). */
  spmTrain?: string;
  /** Environment for the PATH lookup and the process (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** spm_train's log lines (stderr), as they come. */
  onLog?: (line: string) => void;
  /** More spm_train flags, e.g. ["--max_sentencepiece_length=16"]. */
  extraArgs?: readonly string[];
}

export interface TrainedTokenizer {
  model: string;
  vocab: string;
  /** Pieces in the trained model (the .vocab line count). */
  vocabSize: number;
  /** Documents written to the training text (undefined when a text file was given). */
  documents?: number;
  /** The exact command line (the trainer and its arguments; input/output names are relative to a temporary folder). */
  args: string[];
  seconds: number;
}

export const SPM_INSTALL_HINT =
  'install SentencePiece\'s command-line tools: "apt-get install sentencepiece" (Debian/Ubuntu), "brew install sentencepiece" (macOS), ' +
  'or build them from https://github.com/google/sentencepiece ("pip install sentencepiece" installs no spm_train)';

/** spm_train refused the vocabulary size: the corpus allows at most `max` pieces. */
export class VocabSizeTooLarge extends PldrError {
  constructor(
    message: string,
    readonly max: number,
  ) {
    super(message);
  }
}

/** The spm_train executable: a path, or `name` found on env.PATH; undefined when there is none. */
export function findSpmTrain(name = 'spm_train', env: NodeJS.ProcessEnv = process.env): string | undefined {
  const isExec = (p: string) => {
    try {
      if (!fs.statSync(p).isFile()) return false;
      fs.accessSync(p, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (name.includes('/') || name.includes('\\')) return isExec(resolve(name)) ? resolve(name) : undefined;
  const exts = process.platform === 'win32' ? ['', '.exe', '.cmd', '.bat'] : [''];
  for (const dir of (env.PATH ?? env.Path ?? '').split(delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const p = join(dir, name + ext);
      if (isExec(p)) return p;
    }
  }
  return undefined;
}

/** Train a SentencePiece tokenizer with the paper's settings. PldrError when spm_train is missing or fails. */
export async function trainTokenizer(opts: TrainTokenizerOptions): Promise<TrainedTokenizer> {
  const t0 = Date.now();
  const env = opts.env ?? process.env;
  const name = opts.spmTrain ?? 'spm_train';
  const bin = findSpmTrain(name, env);
  if (!bin)
    throw new PldrError(
      `${name} (SentencePiece's trainer) was not found${name.includes('/') ? '' : ' on PATH'}; ${SPM_INSTALL_HINT}`,
    );

  const vocabSize = opts.vocabSize;
  if (!Number.isInteger(vocabSize) || vocabSize < 1)
    throw new PldrError(`tokenizer vocabulary size must be a positive integer, got ${vocabSize}`);
  if (vocabSize <= 262)
    throw new PldrError(
      `tokenizer vocabulary size ${vocabSize} is too small: 6 special and 256 byte pieces take 262 ids`,
    );
  const numThreads = opts.numThreads ?? availableParallelism();
  const outPrefix = resolve(opts.outPrefix);
  const outDir = dirname(outPrefix);
  try {
    fs.mkdirSync(outDir, {recursive: true});
  } catch (e) {
    throw new PldrError(`cannot create ${outDir}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }

  let work: string;
  try {
    work = fs.mkdtempSync(join(outDir, `.${basename(outPrefix)}.spm-`));
  } catch (e) {
    throw new PldrError(`cannot write in ${outDir}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  try {
    let inputArg: string;
    let documents: number | undefined;
    if (typeof opts.input === 'string') {
      const p = resolve(opts.input);
      let st: fs.Stats;
      try {
        st = fs.statSync(p);
      } catch {
        throw new PldrError(`tokenizer training text not found: ${opts.input}`);
      }
      if (!st.isFile()) throw new PldrError(`tokenizer training text ${opts.input} is not a file`);
      if (st.size === 0) throw new PldrError(`tokenizer training text ${opts.input} is empty`);
      inputArg = p;
    } else {
      documents = await writeTrainingText(opts.input, join(work, 'train.txt'), opts.maxDocuments);
      if (documents === 0) throw new PldrError('no text to train the tokenizer on: the corpus has no documents');
      inputArg = 'train.txt';
    }

    const args = (size: number) => [
      `--input=${inputArg}`,
      '--model_prefix=spm',
      `--vocab_size=${size}`,
      `--model_type=${opts.modelType ?? 'unigram'}`,
      '--byte_fallback=true',
      '--split_digits=true',
      '--normalization_rule_name=nmt_nfkc',
      `--character_coverage=${opts.characterCoverage ?? 0.9995}`,
      '--pad_id=0',
      '--unk_id=1',
      '--bos_id=2',
      '--eos_id=3',
      '--pad_piece=[PAD]',
      '--unk_piece=[UNK]',
      '--bos_piece=[START]',
      '--eos_piece=[END]',
      '--user_defined_symbols=[SEP],[CLS]',
      `--input_sentence_size=${opts.inputSentenceSize ?? 5_000_000}`,
      `--shuffle_input_sentence=${opts.shuffleInputSentence ?? true}`,
      `--max_sentence_length=${opts.maxSentenceLength ?? 125_760}`,
      `--hard_vocab_limit=${opts.hardVocabLimit ?? true}`,
      `--num_threads=${numThreads}`,
      ...(opts.seed !== undefined ? [`--random_seed=${opts.seed}`] : []),
      ...(opts.extraArgs ?? []),
    ];
    let used = args(vocabSize);
    try {
      await runSpm(bin, used, work, env, opts.onLog);
    } catch (e) {
      if (!(e instanceof VocabSizeTooLarge && opts.fitVocabSize)) throw e;
      used = args(e.max);
      await runSpm(bin, used, work, env, opts.onLog);
    }

    const model = `${outPrefix}.model`;
    const vocab = `${outPrefix}.vocab`;
    try {
      moveFileAtomic(join(work, 'spm.vocab'), vocab);
      moveFileAtomic(join(work, 'spm.model'), model);
    } catch (e) {
      throw new PldrError(
        `spm_train finished but its output could not be moved to ${outPrefix}.model: ${fsMessage(e)}`,
      );
    }
    const pieces = fs
      .readFileSync(vocab, 'utf8')
      .split('\n')
      .filter((l) => l.length > 0).length;
    return {model, vocab, vocabSize: pieces, documents, args: [bin, ...used], seconds: (Date.now() - t0) / 1000};
  } finally {
    fs.rmSync(work, {recursive: true, force: true});
  }
}

async function writeTrainingText(
  input: Exclude<SpmInput, string>,
  path: string,
  maxDocuments?: number,
): Promise<number> {
  const fd = fs.openSync(path, 'w');
  let n = 0;
  try {
    let buf: string[] = [];
    let size = 0;
    const flush = () => {
      if (buf.length === 0) return;
      fs.writeSync(fd, buf.join(''));
      buf = [];
      size = 0;
    };
    for await (const d of input as AsyncIterable<string | {text: string}>) {
      if (maxDocuments !== undefined && n >= maxDocuments) break;
      const text = (typeof d === 'string' ? d : d.text).replace(/\r\n|[\r\n\u2028\u2029]/g, ' ');
      if (text.trim() === '') continue;
      buf.push(text, '\n');
      size += text.length + 1;
      n++;
      if (size >= 1 << 20) flush();
    }
    flush();
  } finally {
    fs.closeSync(fd);
  }
  return n;
}

function runSpm(
  bin: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  onLog?: (line: string) => void,
): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const tail: string[] = [];
    const skipped: string[] = []; // "Skipped N too long sentences" comes before hundreds of other lines
    let partial = '';
    const take = (chunk: Buffer) => {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        onLog?.(line);
        if (/Skipped \d+ too long sentences/.test(line)) skipped.push(line);
        tail.push(line);
        if (tail.length > 200) tail.shift();
      }
    };
    let child;
    try {
      child = spawn(bin, args, {cwd, env, stdio: ['ignore', 'pipe', 'pipe']});
    } catch (e) {
      reject(new PldrError(`cannot run ${bin}: ${(e as Error).message}; ${SPM_INSTALL_HINT}`));
      return;
    }
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        new PldrError(
          e.code === 'ENOENT' ? `${bin} was not found; ${SPM_INSTALL_HINT}` : `cannot run ${bin}: ${e.message}`,
        ),
      );
    });
    child.on('close', (code, signal) => {
      if (partial) {
        onLog?.(partial);
        tail.push(partial);
      }
      if (code === 0) resolveRun();
      else if (signal) reject(new PldrError(`spm_train was stopped by ${signal}`));
      else {
        const message = `spm_train failed: ${spmErrorLine([...skipped, ...tail])}`;
        const max = /Vocabulary size too high \(\d+\)\. Please set it to a value <= (\d+)/.exec(message);
        reject(max ? new VocabSizeTooLarge(message, Number(max[1])) : new PldrError(message));
      }
    });
  });
}

/**
 * spm_train's own error line, without its source-location prefixes: from
 * "spm_train_main.cc(275) [_status.ok()] Internal: ./src/trainer_interface.cc(660) [(a) == (b)] Vocabulary size too high (5000). …"
 * keeps "Vocabulary size too high (5000). …".
 */
export function spmErrorLine(lines: readonly string[]): string {
  // No sentence left to learn from: spm_train's check fails without a message.
  if (lines.some((l) => l.includes('[!sentences_.empty()]'))) {
    const skipped = lines.map((l) => /Skipped (\d+) too long sentences/.exec(l)).find(Boolean);
    return `too little text to train a tokenizer on: spm_train kept no sentence${skipped ? ` (it skipped ${skipped[1]} too long, one document being one sentence: split the text into shorter documents)` : ''}; give more text`;
  }
  const useful = lines
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^Program terminated with an unrecoverable error/.test(l) && !/LOG\(INFO\)/.test(l));
  let line =
    useful[useful.length - 1] ??
    lines
      .map((l) => l.trim())
      .filter(Boolean)
      .pop() ??
    'no error message';
  for (let prev = ''; prev !== line;) {
    prev = line;
    line = line
      .replace(/^\S+\.cc\(\d+\)\s+(\[[^\]]*\]\s*)?/, '')
      .replace(
        /^(Internal|Unknown|Invalid argument|Not found|Out of range|Failed precondition|Already exists|Permission denied|Unimplemented|Data loss|Resource exhausted|Aborted|Cancelled|Unavailable|Deadline exceeded):\s*/,
        '',
      );
  }
  return oneLine(line) || 'no error message';
}
