/** File access for the readers and writers: user-facing errors, and writes that never leave half a file. */
import * as fs from 'node:fs';
import {
  basename as basenamePath,
  dirname as dirnamePath,
  isAbsolute as isAbsolutePath,
  join as joinPath,
  relative as relativePath,
  resolve as resolvePath,
} from 'node:path';

import {oneLine, PldrError} from '../errors.js';

/**
 * A plain Uint8Array view of the same bytes. Node's Buffer overrides slice() to return a view, so
 * code that relies on slice() copying (for alignment and ownership) must not be handed a Buffer.
 */
export function plainBytes(buf: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(buf) === Uint8Array.prototype
    ? buf
    : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Whole-file read; any failure (missing, a directory, too large) becomes one PldrError line. */
export function readFileBytes(path: string): Uint8Array {
  try {
    const buf = fs.readFileSync(path);
    return plainBytes(buf);
  } catch (err) {
    throw new PldrError(`cannot read ${path}: ${fsMessage(err)}`);
  }
}

/**
 * Write `chunks` to `path` atomically: everything goes to `path.tmp-<pid>`, is flushed to disk, and is
 * then renamed over `path` (and the rename flushed), so a crash, a kill or a full disk leaves either
 * the old file or the new one. Chunks are written one by one so a large checkpoint never needs one
 * contiguous buffer. The one home for writing a file: writeDirAtomic does the same for a folder.
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
    syncFolder(dirnamePath(resolvePath(path)));
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
    throw new PldrError(`cannot write ${path}: ${fsMessage(err)}`);
  }
}

/**
 * Write a folder atomically: `fill` writes every file into a temporary sibling (`dir.tmp-<pid>`),
 * which is flushed to disk (each file, then the folder) and renamed to `dir`; the rename is flushed
 * too. An existing non-empty `dir` is refused unless `replace` (checkOutputDir); it is then moved
 * aside to `dir.old-<pid>` and removed only once the new folder is in place, so a kill at any moment
 * leaves a whole folder: `dir` itself or, between the two renames, `dir.old-<pid>` (which a reader
 * such as recoverCheckpoint may put back). On an error the temporary folder goes and the old one
 * comes back; a file-system error becomes one PldrError line naming `dir`, any other is rethrown as it is.
 */
export function writeDirAtomic(dir: string, fill: (tmp: string) => void, opts: {replace?: boolean} = {}): void {
  checkOutputDir(dir, {force: opts.replace});
  const base = dir.replace(/\/+$/, '');
  const tmp = `${base}.tmp-${process.pid}`;
  const old = `${base}.old-${process.pid}`;
  try {
    fs.rmSync(tmp, {recursive: true, force: true});
    fs.mkdirSync(tmp, {recursive: true});
    fill(tmp);
    syncTree(tmp);
    if (fs.existsSync(dir)) fs.renameSync(dir, old);
    fs.renameSync(tmp, dir);
    syncFolder(dirnamePath(resolvePath(base)));
    fs.rmSync(old, {recursive: true, force: true});
  } catch (e) {
    fs.rmSync(tmp, {recursive: true, force: true});
    if (fs.existsSync(old) && !fs.existsSync(dir)) fs.renameSync(old, dir); // the replaced folder comes back
    if (e instanceof PldrError || (e as NodeJS.ErrnoException).code === undefined) throw e;
    throw new PldrError(`cannot write ${dir}: ${fsMessage(e)}`);
  }
}

/**
 * Move a finished file (written by another program, e.g. spm_train) to `to` on the same file system,
 * as writeFileAtomic would have written it: flushed first, then renamed, and the rename flushed.
 * File-system errors are thrown as they are.
 */
export function moveFileAtomic(from: string, to: string): void {
  syncPath(from);
  fs.renameSync(from, to);
  syncFolder(dirnamePath(resolvePath(to)));
}

/** Flush a file's (or a folder's) contents to disk. */
function syncPath(path: string): void {
  const fd = fs.openSync(path, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Every file below `dir`, then every folder, `dir` last, flushed to disk. */
function syncTree(dir: string): void {
  for (const entry of fs.readdirSync(dir, {withFileTypes: true})) {
    const path = joinPath(dir, entry.name);
    if (entry.isDirectory()) syncTree(path);
    else if (entry.isFile()) syncPath(path);
  }
  syncFolder(dir);
}

/**
 * Flush a folder's entries (a rename into it) to disk. Best effort: some systems cannot open a
 * folder for fsync (Windows) or refuse it (EINVAL on some file systems), and the data itself is
 * already flushed by then.
 */
function syncFolder(dir: string): void {
  try {
    syncPath(dir);
  } catch {
    // nothing more can be done for the folder entry; the files it names are on disk
  }
}

/** A file-system error as a short phrase for a one-line message ("no such file or directory", ...). */
export function fsMessage(e: unknown): string {
  const err = e as NodeJS.ErrnoException | null | undefined;
  if (err?.code === 'ENOENT') return 'no such file or directory';
  if (err?.code === 'EISDIR') return 'is a directory';
  if (err?.code === 'EACCES' || err?.code === 'EPERM') return 'permission denied';
  if (err?.code === 'ERR_FS_FILE_TOO_LARGE') return 'file is too large to load into memory';
  return oneLine((err?.message || String(e)).split('\n')[0]);
}

/**
 * Where a command may write a folder (never destroy what we did not create).
 *
 * - `dir` must not be, contain, or lie inside any of `inputs` (a command never writes into its own input);
 * - a missing or empty folder is fine; a non-empty one is refused unless `force` (the user asked to
 *   replace it with --force), and then it is replaced only once the new folder is complete
 *   (writeDirAtomic swaps);
 * - a path that exists and is not a folder is refused.
 *
 * Call it before any long work, so a refusal costs the user nothing. `flag` names the option (or
 * argument) that gave `dir`, e.g. "--out", so that the message says which one to change.
 */
export function checkOutputDir(dir: string, opts: {force?: boolean; inputs?: string[]; flag?: string} = {}): void {
  const what = opts.flag ? `${opts.flag} ${dir}` : dir;
  const fix = opts.flag ? `give ${opts.flag} a folder outside it` : 'write to a folder outside it';
  for (const input of opts.inputs ?? [])
    if (isInside(dir, input) || isInside(input, dir))
      throw new PldrError(`${what} would overlap the input ${input}: ${fix}`);
  if (!fs.existsSync(dir)) return;
  if (!fs.statSync(dir).isDirectory()) throw new PldrError(`${dir} exists and is not a folder`);
  if (fs.readdirSync(dir).length > 0 && !opts.force)
    throw new PldrError(`${dir} is not empty: choose a new folder, or add --force to replace it`);
}

/**
 * Where a command may write a file, checked before any long work: never onto or into one of
 * `inputs`, never over a folder, and only into a folder that exists (or, with `createDir`, can be
 * created) and may be written to. The file itself may exist: writeFileAtomic replaces it only once
 * the new one is complete. `flag` names the option that gave the path, for the message.
 */
export function checkOutputFile(
  path: string,
  opts: {inputs?: string[]; flag?: string; createDir?: boolean} = {},
): void {
  const what = opts.flag ? `${opts.flag} ${path}` : path;
  for (const input of opts.inputs ?? [])
    if (isInside(path, input))
      throw new PldrError(`${what} would overwrite the input ${input}: write to a path outside it`);
  if (fs.existsSync(path) && fs.statSync(path).isDirectory())
    throw new PldrError(`${what} is a folder: give a file path`);
  checkWritableFolder(dirnamePath(path), what, opts.createDir);
}

/**
 * `dir` is a folder this process may write into; with `create`, a missing `dir` is fine when its
 * nearest existing parent is one. `what` opens the message (the flag and the path it gave).
 */
export function checkWritableFolder(dir: string, what: string, create = false): void {
  if (!fs.existsSync(dir) && !create) throw new PldrError(`${what}: the folder ${dir} does not exist: create it first`);
  let existing = resolvePath(dir);
  while (!fs.existsSync(existing)) existing = dirnamePath(existing);
  if (!fs.statSync(existing).isDirectory()) throw new PldrError(`${what}: ${existing} is not a folder`);
  try {
    fs.accessSync(existing, fs.constants.W_OK);
  } catch {
    throw new PldrError(`${what}: the folder ${existing} is not writable: choose another path`);
  }
}

/** Whether `path` is `folder` or lies inside it (symbolic links resolved). */
export function isInside(path: string, folder: string): boolean {
  const p = realish(path);
  const f = realish(folder);
  return p === f || within(p, f);
}

/** `path` made absolute, with symbolic links resolved for the part of it that exists. */
function realish(path: string): string {
  let p = resolvePath(path);
  const rest: string[] = [];
  while (!fs.existsSync(p)) {
    const parent = dirnamePath(p);
    if (parent === p) break;
    rest.unshift(basenamePath(p));
    p = parent;
  }
  return joinPath(fs.realpathSync(p), ...rest);
}

function within(child: string, parent: string): boolean {
  const rel = relativePath(parent, child);
  return rel !== '' && !rel.startsWith('..') && !isAbsolutePath(rel);
}
