/**
 * One training per run folder: RUN_DIR/lock names the process training in it, as
 * {"pid": …, "host": …}. The lock is written beside and hard-linked into place, so it appears whole
 * or not at all and only one process can create it (a file system without hard links gets an
 * exclusive create instead). It goes when the run ends (on any exit), and a lock whose process is
 * gone (kill -9, a crash) is taken over, so a dead run never leaves it stuck. A lock from another
 * host cannot be checked and is never taken over; the message says how to remove it.
 */
import {linkSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {hostname} from 'node:os';
import {join} from 'node:path';

import {PldrError} from '../errors.js';
import {fsMessage} from '../io/fsutil.js';

export const LOCK_FILE = 'lock';

interface Holder {
  pid: number;
  host: string;
}

/** Take RUN_DIR's lock, or refuse (one line naming the PID holding it). Returns the release. */
export function lockRun(runDir: string): () => void {
  const file = join(runDir, LOCK_FILE);
  const me: Holder = {pid: process.pid, host: hostname()};
  const mine = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(mine, JSON.stringify(me) + '\n');
  } catch (e) {
    throw new PldrError(`cannot write in ${runDir}: ${fsMessage(e)}`);
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        createWhole(mine, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
          throw new PldrError(`cannot lock ${runDir}: ${fsMessage(e)}`);
      }
      const holder = readHolder(file);
      if ((holder && (holder.host !== me.host || isAlive(holder.pid))) || attempt > 1) {
        const who = holder
          ? `PID ${holder.pid}${holder.host !== me.host ? ` on ${holder.host}` : ''}`
          : 'unreadable lock';
        throw new PldrError(
          `${runDir} is in use by another training (${who}): wait for it to end or stop it; if it is gone, delete ${file}`,
        );
      }
      rmSync(file, {force: true}); // the lock of a run that died (or an unreadable one)
    }
  } finally {
    rmSync(mine, {force: true});
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    const holder = readHolder(file);
    if (holder?.pid === me.pid && holder.host === me.host) rmSync(file, {force: true});
  };
  process.on('exit', release);
  return release;
}

/** `file` with the content of `written`, created only if it does not exist (EEXIST otherwise). */
function createWhole(written: string, file: string): void {
  try {
    linkSync(written, file); // appears whole
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw e;
    writeFileSync(file, readFileSync(written), {flag: 'wx'}); // a file system without hard links
  }
}

function readHolder(file: string): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as Holder;
    return Number.isInteger(h.pid) && typeof h.host === 'string' ? h : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, another user's
  }
}
