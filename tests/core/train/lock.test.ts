/** RUN_DIR/lock: one training per folder; a dead holder's lock is taken over, a live or remote one is not. */
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {hostname, tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterEach, beforeEach, describe, expect, it} from 'vitest';

import {lockRun} from '../../../src/core/train/lock.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pldr-lock-'));
});
afterEach(() => rmSync(dir, {recursive: true, force: true}));

const lockFile = () => join(dir, 'lock');
const holder = (pid: number, host = hostname()) => writeFileSync(lockFile(), JSON.stringify({pid, host}) + '\n');
/** A PID no process has: the largest PIDs Linux hands out are far below it. */
const DEAD = 2 ** 22 + 12345;

describe('lockRun', () => {
  it('writes our PID and host, refuses a second lock while held, and removes it on release', () => {
    const release = lockRun(dir);
    expect(JSON.parse(readFileSync(lockFile(), 'utf8'))).toEqual({pid: process.pid, host: hostname()});
    expect(() => lockRun(dir)).toThrow(new RegExp(`is in use by another training \\(PID ${process.pid}\\)`));
    release();
    expect(existsSync(lockFile())).toBe(false);
    lockRun(dir)();
  });

  it('takes over the lock of a process that is gone, and an unreadable one', () => {
    holder(DEAD);
    const release = lockRun(dir);
    expect(JSON.parse(readFileSync(lockFile(), 'utf8')).pid).toBe(process.pid);
    release();
    writeFileSync(lockFile(), '{"pi');
    lockRun(dir)();
  });

  it('never takes over a lock from another host, and says how to remove it', () => {
    holder(DEAD, 'elsewhere.example');
    expect(() => lockRun(dir)).toThrow(
      /in use by another training \(PID \d+ on elsewhere\.example\): .*delete .*lock$/,
    );
    expect(JSON.parse(readFileSync(lockFile(), 'utf8')).host).toBe('elsewhere.example');
  });

  it('release leaves a lock that is not ours alone', () => {
    const release = lockRun(dir);
    holder(DEAD); // someone removed ours and another run took the folder
    release();
    expect(existsSync(lockFile())).toBe(true);
  });
});
