/**
 * `pldr train` when things go wrong: the --out folder rule, resuming only from a whole
 * checkpoint, the run's own stopping rules on resume, elapsed time, one training per folder (with
 * real processes: a second one refused, a kill -9 not leaving the lock stuck), and one-line refusals
 * before any long work that leave nothing behind.
 */
import {type ChildProcess, spawn} from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import {Tokenizer} from '../../src/core/tokenizer.js';
import {findSpmTrain} from '../../src/core/train/spm.js';
import {ROOT, tempDir} from '../helpers.js';
import {TOKENIZER} from './models.js';
import {ok, oneLineError, pldr} from './run.js';

const CORPUS = join(ROOT, 'fixtures', 'tokenizer', 'corpus.txt');
const TINY =
  '--layers 1 --d-model 16 --heads 2 --context 16 --batch-size 2 --warmup 2 --log-every 1 --val-every 0'.split(' ');
/** TINY's flags, less those given in `args`. */
const tiny = (args: string[]) => {
  const given = new Set(args.filter((a) => a.startsWith('--')));
  const kept: string[] = [];
  for (let i = 0; i < TINY.length; i += 2) if (!given.has(TINY[i])) kept.push(TINY[i], TINY[i + 1]);
  return [...kept, ...args];
};
const train = (...args: string[]) => ['train', '--corpus', CORPUS, '--tokenizer', TOKENIZER, ...tiny(args)];
const events = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
const bytes = (run: string) =>
  Object.fromEntries(
    ['metrics.jsonl', 'run.json', 'checkpoint/model.safetensors', 'checkpoint/optimizer.safetensors'].map((f) => [
      f,
      existsSync(join(run, f)) ? readFileSync(join(run, f)).toString('base64') : null,
    ]),
  );
const progressOf = (run: string) => JSON.parse(readFileSync(join(run, 'checkpoint', 'progress.json'), 'utf8'));

const tmp = tempDir('train-rel');

/** Start a training in the background; resolves once its JSON events show `update`. */
function startRun(
  args: string[],
  update: number,
): {child: ChildProcess; reached: Promise<string>; exited: Promise<number | null>} {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'run.js'), ...args, '--json'], {cwd: ROOT});
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const reached = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (new RegExp(`"type":"step","update":${update}\\b`).test(out)) resolve(out);
    });
    void exited.then((c) => reject(new Error(`training exited (${c}) before update ${update}: ${err}`)));
  });
  return {child, reached, exited};
}

/** Start a new run in `run` with `args`, send it `signal` once it logged update 2: its exit status and the updates its checkpoint holds. */
async function stopRun(
  run: string,
  signal: NodeJS.Signals,
  ...args: string[]
): Promise<{code: number | null; at: number}> {
  const first = startRun(train('--out', run, ...args), 2);
  await first.reached;
  first.child.kill(signal);
  const code = await first.exited;
  return {code, at: progressOf(run).updates};
}

describe('train --out: never destroy what we did not create, never write into the input', () => {
  it('refuses a non-empty folder that is not a run, unless --force', () => {
    const dir = join(tmp, 'mine');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'my notes\n');
    expect(oneLineError(pldr(train('--out', dir, '--max-steps', '1', '--json')))).toMatch(
      /mine is not empty: choose a new folder, or add --force/,
    );
    expect(readdirSync(dir)).toEqual(['notes.txt']);
    ok(train('--out', dir, '--max-steps', '1', '--json', '--force'));
    expect(existsSync(join(dir, 'notes.txt'))).toBe(false);
    expect(progressOf(dir).updates).toBe(1);
    // a run with a checkpoint is refused without --force, replaced with it
    expect(oneLineError(pldr(train('--out', dir, '--max-steps', '2', '--json')))).toMatch(
      /already holds a run: resume it with --resume/,
    );
    ok(train('--out', dir, '--max-steps', '2', '--json', '--force'));
    expect(progressOf(dir).updates).toBe(2);
  });

  it('never writes into its own input: --out inside or equal to the corpus folder is refused', () => {
    const corpus = join(tmp, 'corpus-dir');
    mkdirSync(corpus);
    copyFileSync(CORPUS, join(corpus, 'a.txt'));
    for (const out of [join(corpus, 'run'), corpus]) {
      const r = pldr([
        'train',
        '--corpus',
        corpus,
        '--tokenizer',
        TOKENIZER,
        ...TINY,
        '--out',
        out,
        '--max-steps',
        '1',
        '--json',
      ]);
      expect(oneLineError(r)).toMatch(/would overlap the input/);
      expect(readdirSync(corpus)).toEqual(['a.txt']);
    }
  });
});

describe('train --resume: a whole checkpoint or a refusal that changes nothing', () => {
  it('refuses a checkpoint whose progress record is missing or unreadable', () => {
    const run = join(tmp, 'broken');
    ok(train('--out', run, '--max-steps', '3', '--ckpt-every', '1', '--json'));
    for (const breakIt of [
      () => rmSync(join(run, 'checkpoint', 'progress.json')),
      () => writeFileSync(join(run, 'checkpoint', 'progress.json'), '{"upd'),
    ]) {
      breakIt();
      const before = bytes(run);
      expect(oneLineError(pldr(['train', '--resume', run, '--max-steps', '6', '--json']))).toMatch(
        /cannot resume .*broken: its checkpoint is incomplete \(progress\.json .*\).*nothing was changed/,
      );
      expect(bytes(run)).toEqual(before);
    }
  });

  it('after a kill between the renames of a checkpoint write, resumes from the previous checkpoint and removes the leftovers', () => {
    const run = join(tmp, 'cut');
    ok(train('--out', run, '--max-steps', '3', '--ckpt-every', '1', '--json'));
    // what a kill after "checkpoint → checkpoint.old-PID" and before "checkpoint.tmp-PID → checkpoint" leaves
    renameSync(join(run, 'checkpoint'), join(run, 'checkpoint.old-999999'));
    mkdirSync(join(run, 'checkpoint.tmp-999999'));
    writeFileSync(join(run, 'checkpoint.tmp-999999', 'config.json'), '{');
    mkdirSync(join(run, 'checkpoint.tmp-888888')); // an older leftover
    const ev = events(ok(['train', '--resume', run, '--max-steps', '5', '--json']).stdout);
    expect(ev.find((e) => e.type === 'start').resumedAt).toBe(3);
    expect(ev.at(-1)).toMatchObject({type: 'stop', reason: 'max-steps', update: 5});
    expect(readdirSync(run).filter((n) => n.startsWith('checkpoint'))).toEqual(['checkpoint']);
    expect(progressOf(run).updates).toBe(5);
    const metrics = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(metrics.filter((m) => m.type === 'train').map((m) => m.update)).toEqual([1, 2, 3, 4, 5]);
  });

  it('refuses a run that never reached its first checkpoint', () => {
    const run = join(tmp, 'nockpt');
    ok(train('--out', run, '--max-steps', '2', '--json'));
    rmSync(join(run, 'checkpoint'), {recursive: true});
    const before = bytes(run);
    expect(oneLineError(pldr(['train', '--resume', run, '--max-steps', '4', '--json']))).toMatch(
      /has no checkpoint to resume from.*--out/,
    );
    expect(bytes(run)).toEqual(before);
  });
});

describe('a resumed run keeps its own stopping rules', () => {
  it("Ctrl-C, then --resume alone stops at the run's --max-steps; resuming a finished run says so and changes nothing", async () => {
    const run = join(tmp, 'rules');
    const {code, at} = await stopRun(run, 'SIGINT', '--max-steps', '6', '--ckpt-every', '0');
    expect(code).toBe(130);
    expect(at).toBeLessThan(6);
    const ev = events(ok(['train', '--resume', run, '--json']).stdout);
    expect(ev.find((e) => e.type === 'start').resumedAt).toBe(at);
    expect(ev.at(-1)).toMatchObject({type: 'stop', reason: 'max-steps', update: 6});

    const before = bytes(run);
    const done = ok(['train', '--resume', run]);
    expect(done.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/rules has already finished: it reached 6 updates \(--max-steps\); nothing to do/),
    ]);
    expect(done.stdout).toBe('');
    expect(bytes(run)).toEqual(before);
    // where it computes is not a setting of the run: --backend and --threads apply to a resume
    expect(ok(['train', '--resume', run, '--backend', 'wasm', '--threads', '1']).stderr).toMatch(
      /rules has already finished/,
    );

    // a limit given on the resume command line overrides the run's, and is kept for the next resume
    expect(events(ok(['train', '--resume', run, '--max-steps', '8', '--json']).stdout).at(-1)).toMatchObject({
      reason: 'max-steps',
      update: 8,
    });
    expect(JSON.parse(readFileSync(join(run, 'run.json'), 'utf8')).stop.maxSteps).toBe(8);
    expect(oneLineError(pldr(['train', '--resume', run, '--max-steps', '0']))).toMatch(
      /--max-steps must be at least 1/,
    );
    // the other settings are the run's: a resume does not silently ignore them
    expect(oneLineError(pldr(['train', '--resume', run, '--lr', '1e-4', '--max-steps', '9']))).toMatch(
      /^error: --lr does not apply to a resume .*a resume takes only --max-steps, --max-tokens, --time-limit, --total-steps, --json, --backend, --threads$/,
    );
    expect(progressOf(run).updates).toBe(8);
    // the schedule's length is the run's too, and a resume may change it
    ok(['train', '--resume', run, '--max-steps', '9', '--total-steps', '20', '--json']);
    expect(JSON.parse(readFileSync(join(run, 'run.json'), 'utf8')).recipe.totalSteps).toBe(20);
  }, 120_000);
});

describe('SIGTERM', () => {
  it('stops a training like Ctrl-C: a checkpoint, exit 143, and the run resumes from it', async () => {
    const run = join(tmp, 'sigterm');
    const {code, at} = await stopRun(run, 'SIGTERM', '--max-steps', '100000', '--ckpt-every', '0');
    expect(code).toBe(143);
    expect(at).toBeGreaterThanOrEqual(2);
    expect(existsSync(join(run, 'lock'))).toBe(false);
    const ev = events(ok(['train', '--resume', run, '--max-steps', String(at + 1), '--json']).stdout);
    expect(ev.find((e) => e.type === 'start').resumedAt).toBe(at);
  }, 120_000);
});

describe('elapsed time', () => {
  it('is counted once: logged elapsed_s never decreases and never exceeds the wall time of the process', () => {
    const run = join(tmp, 'elapsed');
    const t0 = performance.now();
    ok(train('--out', run, '--max-steps', '40', '--ckpt-every', '1', '--json'));
    const wallS = (performance.now() - t0) / 1000;
    const elapsed = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).elapsed_s as number);
    expect(elapsed.length).toBeGreaterThan(40);
    for (let i = 1; i < elapsed.length; i++) expect(elapsed[i]).toBeGreaterThanOrEqual(elapsed[i - 1]);
    expect(elapsed.at(-1)).toBeLessThanOrEqual(wallS);
    expect(progressOf(run).elapsedS).toBeLessThanOrEqual(wallS);
  }, 120_000);
});

describe('one training per run folder', () => {
  it('a second training in the same folder is refused naming the PID; after kill -9 of the first, --resume works', async () => {
    const run = join(tmp, 'locked');
    const first = startRun(train('--out', run, '--max-steps', '100000', '--ckpt-every', '1'), 2);
    try {
      await first.reached;
      const second = pldr(['train', '--resume', run, '--max-steps', '3', '--json']);
      expect(oneLineError(second)).toMatch(
        new RegExp(`locked is in use by another training \\(PID ${first.child.pid}\\)`),
      );
      expect(oneLineError(pldr(train('--out', run, '--max-steps', '3', '--json', '--force')))).toMatch(
        new RegExp(`PID ${first.child.pid}`),
      );
    } finally {
      first.child.kill('SIGKILL');
    }
    await first.exited;
    expect(existsSync(join(run, 'lock'))).toBe(true); // kill -9 leaves it behind...
    const at = progressOf(run).updates;
    const ev = events(ok(['train', '--resume', run, '--max-steps', String(at + 2), '--json']).stdout); // ...and it is taken over
    expect(ev.at(-1)).toMatchObject({reason: 'max-steps', update: at + 2});
    expect(existsSync(join(run, 'lock'))).toBe(false);
  }, 120_000);
});

describe('refusals that leave the user something to act on, and nothing behind', () => {
  it('checks every numeric flag up front, naming it, and creates nothing', () => {
    const out = join(tmp, 'never');
    const cases: [string[], RegExp][] = [
      [['--warmup', '-1'], /^error: --warmup must be at least 0, got -1$/],
      [['--ckpt-every', '-5'], /--ckpt-every must be at least 0/],
      [['--val-every', '-1'], /--val-every must be at least 0/],
      [['--time-limit', '0'], /--time-limit must be more than 0/],
      [['--total-steps', '0'], /--total-steps must be at least 1/],
      [['--lr', '-1'], /--lr must be a number above 0/],
      [['--lr-alpha', '2'], /--lr-alpha must be between 0 and 1/],
      [['--vocab-size', '100'], /--vocab-size must be at least 263/],
    ];
    for (const [flags, message] of cases) {
      expect(oneLineError(pldr(train('--out', out, '--max-steps', '1', ...flags)))).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
  });

  it('a run that fails before its first update removes the folder it made, and only what it made', () => {
    const out = join(tmp, 'too-big-batch');
    expect(oneLineError(pldr(train('--out', out, '--batch-size', '2000', '--json')))).toMatch(
      /fewer than one update needs/,
    );
    expect(existsSync(out)).toBe(false);
    const kept = join(tmp, 'empty-but-mine');
    mkdirSync(kept);
    expect(oneLineError(pldr(train('--out', kept, '--batch-size', '2000', '--json')))).toMatch(
      /fewer than one update needs/,
    );
    expect(readdirSync(kept)).toEqual([]);
  });

  it('a non-finite loss before the first checkpoint says nothing was saved, and leaves no run behind', () => {
    const out = join(tmp, 'nan-early');
    const r = pldr(
      train('--out', out, '--max-steps', '50', '--lr', '1e38', '--warmup', '1', '--ckpt-every', '0', '--json'),
    );
    expect(oneLineError(r)).toMatch(
      /^error: update \d+ (gave a non-finite loss or gradient|made a parameter non-finite).* before the run's first checkpoint, so nothing was saved: lower --lr/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('a folder that cannot be created is one line naming it', () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    expect(oneLineError(pldr(train('--out', join(file, 'run'), '--max-steps', '1')))).toMatch(
      /^error: cannot create the run folder .*a-file\/run: /,
    );
    if (process.getuid?.() === 0) return; // root writes anywhere: the read-only case needs another user
    const ro = join(tmp, 'read-only');
    mkdirSync(ro);
    chmodSync(ro, 0o555);
    expect(oneLineError(pldr(train('--out', join(ro, 'run'), '--max-steps', '1')))).toMatch(
      /^error: cannot create the run folder .*read-only\/run: permission denied$/,
    );
  });
});

describe('tokenizer training: sizes that fit, messages that say what is wrong, checks before it', () => {
  const spm = findSpmTrain();
  const skip = () =>
    console.warn(
      '[tests/commands/train-reliability] skipping: spm_train is not installed (apt-get install sentencepiece)',
    );
  const noTok = (...args: string[]) => ['train', '--corpus', CORPUS, ...tiny(['--max-steps', '1', ...args])];

  it('without --vocab-size, fits the vocabulary to a small corpus and says so in one line', async () => {
    if (!spm) return skip();
    const run = join(tmp, 'fit');
    const r = ok(noTok('--out', run, '--json'));
    const m = /the corpus allows at most (\d+) pieces: trained \1 instead of 4000 \(--vocab-size sets it\)/.exec(
      r.stderr,
    );
    expect(m, r.stderr).not.toBeNull();
    expect((await Tokenizer.load(join(run, 'tokenizer.model'))).vocabSize).toBe(Number(m![1]));
    // given explicitly, it is the user's to change: the error names the flag and the size that fits
    expect(r.stderr.split('\n').filter((l) => l.startsWith('error')).length).toBe(0);
    const given = pldr(noTok('--out', join(tmp, 'fit-given'), '--vocab-size', '4000'));
    expect(given.stderr.trim().split('\n').at(-1)).toBe(
      `error: --vocab-size 4000 is too large for this corpus: spm_train allows at most ${m![1]} pieces (give --vocab-size ${m![1]} or less, or more text)`,
    );
    expect(existsSync(join(tmp, 'fit-given'))).toBe(false);
  });

  it('a corpus of one long line is "too little text", not "no error message"', () => {
    if (!spm) return skip();
    const one = join(tmp, 'one-line.txt');
    writeFileSync(one, readFileSync(CORPUS, 'utf8').replace(/\s+/g, ' ').repeat(4) + '\n');
    const r = pldr(['train', '--corpus', one, ...TINY, '--max-steps', '1', '--out', join(tmp, 'one')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toMatch(
      /^error: spm_train failed: too little text to train a tokenizer on: spm_train kept no sentence \(it skipped 1 too long/,
    );
  });

  it('the model settings are checked before a tokenizer is trained', () => {
    // d_model 18 is not a multiple of 4 heads: refused at once, with no "training a tokenizer" line before it
    expect(oneLineError(pldr(noTok('--d-model', '18', '--heads', '4', '--out', join(tmp, 'bad-config'))))).toMatch(
      /d_model|heads/,
    );
    expect(existsSync(join(tmp, 'bad-config'))).toBe(false);
  });
});
