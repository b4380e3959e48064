/** File access for the readers and writers: user-facing errors, and writes that never leave half a file. */
import * as fs from 'node:fs';

import {PldrError} from '../errors.js';

/**
 * A plain Uint8Array view of the same bytes. Node's Buffer overrides slice() to return a view, so
 * code that relies on slice() copying (for alignment and ownership) must not be handed a Buffer.
 */
export function plainBytes(buf: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(buf) === Uint8Array.prototype ? buf : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Whole-file read; any failure (missing, a directory, too large) becomes one PldrError line. */
export function readFileBytes(path: string): Uint8Array {
  try {
    const buf = fs.readFileSync(path);
    return plainBytes(buf);
  } catch (err) {
    throw new PldrError(`cannot read ${path}: ${describeFsError(err)}`);
  }
}

/**
 * Write `chunks` to `path` atomically: everything goes to `path.tmp-<pid>`, is flushed to disk, and is
 * then renamed over `path`, so a crash or a full disk leaves either the old file or the new one.
 * Chunks are written one by one so a large checkpoint never needs one contiguous buffer.
 */
export function writeFileAtomic(path: string, chunks: Iterable<Uint8Array>): void {
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'w');
    for (const chunk of chunks) {
      let done = 0;
      while (done < chunk.byteLength) done += fs.writeSync(fd, chunk, done, chunk.byteLength - done);
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        // already failing; the original error is the one worth reporting
      }
    }
    try {
      fs.rmSync(tmp, {force: true});
    } catch {
      // best effort: the temp name is unique to this process
    }
    if (err instanceof PldrError) throw err;
    throw new PldrError(`cannot write ${path}: ${describeFsError(err)}`);
  }
}

function describeFsError(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as {code?: string; message?: string};
    if (e.code === 'ENOENT') return 'no such file or directory';
    if (e.code === 'EISDIR') return 'is a directory';
    if (e.code === 'EACCES' || e.code === 'EPERM') return 'permission denied';
    if (e.code === 'ERR_FS_FILE_TOO_LARGE') return 'file is too large to load into memory';
    if (e.message) return e.message.split('\n')[0];
  }
  return String(err);
}

/** A file-system error as a short phrase for a one-line message ("no such file or directory", ...). */
export function fsMessage(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT') return 'no such file or directory';
  if (err?.code === 'EACCES' || err?.code === 'EPERM') return 'permission denied';
  if (err?.code === 'EISDIR') return 'is a directory';
  return (err?.message ?? String(e)).replace(/\s+/g, ' ').trim();
}
