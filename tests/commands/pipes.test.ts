/**
 * A closed output pipe does not stop the work: real processes, real pipes whose
 * reading end is closed early. Training still ends normally with its checkpoint; generation still
 * finishes; no stack trace, exit 0.
 */
import {spawn} from 'node:child_process';
import {EventEmitter} from 'node:events';
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {keepGoingWhenOutputCloses} from '../../src/cli/streams.js';
import {ROOT} from '../helpers.js';
import {TOKENIZER} from './models.js';

const CORPUS = join(ROOT, 'fixtures', 'tokenizer', 'corpus.txt');
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pldr-pipes-'));
});
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

interface Closed {
  code: number | null;
  /** What arrived on the stream left open. */
  other: string;
}

/** Runs pldr with piped stdout and stderr and closes our end of `close` once its first bytes arrive. */
function runClosing(close: 'stdout' | 'stderr', args: string[]): Promise<Closed> {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'run.js'), ...args], {
    cwd: ROOT,
    env: {...process.env, NODE_NO_WARNINGS: '1'},
  });
  const closing = close === 'stdout' ? child.stdout : child.stderr;
  const open = close === 'stdout' ? child.stderr : child.stdout;
  let other = '';
  open.on('data', (d) => (other += d));
  closing.once('data', () => closing.destroy());
  return new Promise((resolve) => child.on('close', (code) => resolve({code, other})));
}

const train = (out: string, ...rest: string[]) => [
  'train',
  '--corpus',
  CORPUS,
  '--tokenizer',
  TOKENIZER,
  '--out',
  out,
  '--layers',
  '1',
  '--d-model',
  '16',
  '--heads',
  '2',
  '--context',
  '16',
  '--batch-size',
  '2',
  '--max-steps',
  '20',
  '--log-every',
  '1',
  ...rest,
];
const updates = (run: string) => JSON.parse(readFileSync(join(run, 'checkpoint', 'progress.json'), 'utf8')).updates;

describe('a closed output pipe', () => {
  it('pldr train --json with stdout closed after the first line trains to the end and checkpoints', async () => {
    const run = join(tmp, 'stdout');
    const r = await runClosing('stdout', train(run, '--json'));
    expect(r.code, r.other).toBe(0);
    expect(r.other).not.toMatch(/\n\s+at /);
    expect(updates(run)).toBe(20);
  });

  it('pldr train with stderr closed (its progress display goes there) trains to the end and checkpoints', async () => {
    for (const json of [[], ['--json']]) {
      const run = join(tmp, `stderr${json.length}`);
      const r = await runClosing('stderr', train(run, ...json));
      expect(r.code, `${json}`).toBe(0);
      expect(updates(run)).toBe(20);
    }
  });

  it('pldr generate with stdout closed after a few bytes finishes without a stack trace', async () => {
    const r = await runClosing('stdout', ['generate', '--ids', '5,17,42', '-n', '60', '--stream']);
    expect(r.code, r.other).toBe(0);
    expect(r.other).toMatch(/^\[60 tokens, stop: length/);
  });

  it('stdout and stderr into one pipe that closes (`2>&1 | head -c 50`)', async () => {
    const run = join(tmp, 'both');
    const cmd = [process.execPath, join(ROOT, 'bin', 'run.js'), ...train(run)].map((a) => `'${a}'`).join(' ');
    const child = spawn('bash', ['-c', `${cmd} 2>&1 | head -c 50 >/dev/null; exit \${PIPESTATUS[0]}`], {cwd: ROOT});
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(updates(run)).toBe(20);
    const gen = spawn(
      'bash',
      [
        '-c',
        `'${process.execPath}' bin/run.js generate --ids 5,17,42 -n 60 --stream 2>&1 | head -c 5 >/dev/null; exit \${PIPESTATUS[0]}`,
      ],
      {cwd: ROOT},
    );
    expect(await new Promise((resolve) => gen.on('close', resolve))).toBe(0);
  });
});

/** `script` (util-linux) runs a command on a terminal of its own; killing it makes that terminal go away. */
const SCRIPT = ['/usr/bin/script', '/bin/script'].find((p) => existsSync(p));

describe('a terminal that goes away', () => {
  it.skipIf(!SCRIPT)('pldr train keeps going when its terminal is hung up, and checkpoints at the end', async () => {
    const run = join(tmp, 'hangup');
    const pidFile = join(tmp, 'hangup.pid');
    const cmd = [process.execPath, join(ROOT, 'bin', 'run.js'), ...train(run)].map((a) => `'${a}'`).join(' ');
    const term = spawn(SCRIPT!, ['-qfc', `echo $$ > '${pidFile}'; exec ${cmd}`, '/dev/null'], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    await new Promise((resolve) => term.stdout.once('data', resolve)); // training has started
    const pid = Number(readFileSync(pidFile, 'utf8'));
    term.kill('SIGKILL'); // the terminal's other end closes: SIGHUP, then EIO on every write
    // pldr, now without a terminal, still runs to its end
    const alive = () => {
      try {
        return process.kill(pid, 0) && !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); // a zombie has ended
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 1200 && alive(); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(alive()).toBe(false);
    expect(updates(run)).toBe(20);
  });
});

describe('keepGoingWhenOutputCloses', () => {
  it('drops the errors of a closed pipe or a hung-up terminal and rethrows any other', () => {
    const stream = new EventEmitter();
    keepGoingWhenOutputCloses([stream as unknown as NodeJS.WritableStream]);
    const fail = (code: string) => Object.assign(new Error(code), {code});
    for (const code of ['EPIPE', 'EIO', 'ECONNRESET'])
      expect(() => stream.emit('error', fail(code)), code).not.toThrow();
    expect(() => stream.emit('error', fail('ENOSPC'))).toThrow('ENOSPC');
  });
});
