/** fsutil: where a command may write, and the one atomic writer for files and folders (flushed before any rename). */
import * as realFs from 'node:fs';
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest';

import {checkOutputDir, moveFileAtomic, writeDirAtomic, writeFileAtomic} from '../../../src/core/io/fsutil.js';

/** What fsutil flushed, as the paths it opened before each fsync (fsync itself only sees a descriptor). */
const flushed: string[] = [];
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const opened = new Map<number, string>();
  const openSync = (path: realFs.PathLike, ...rest: unknown[]) => {
    const fd = (fs.openSync as (...a: unknown[]) => number)(path, ...rest);
    opened.set(fd, String(path));
    return fd;
  };
  const fsyncSync = (fd: number) => {
    fs.fsyncSync(fd);
    flushed.push(opened.get(fd) ?? `fd ${fd}`);
  };
  return {...fs, default: {...fs, openSync, fsyncSync}, openSync, fsyncSync};
});

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pldr-fsutil-'));
  flushed.length = 0;
});
afterEach(() => rmSync(dir, {recursive: true, force: true}));

describe('checkOutputDir', () => {
  it('names the flag that gave the folder when it overlaps an input', () => {
    const input = join(dir, 'model');
    mkdirSync(input);
    expect(() => checkOutputDir(join(input, 'gi'), {inputs: [input], flag: '--to-gi'})).toThrow(
      `--to-gi ${join(input, 'gi')} would overlap the input ${input}: give --to-gi a folder outside it`,
    );
    expect(() => checkOutputDir(dir, {inputs: [input]})).toThrow(
      `${dir} would overlap the input ${input}: write to a folder outside it`,
    );
  });

  it('refuses a non-empty folder unless force', () => {
    writeFileSync(join(dir, 'x'), '');
    expect(() => checkOutputDir(dir, {flag: '--out'})).toThrow(
      `${dir} is not empty: choose a new folder, or add --force to replace it`,
    );
    checkOutputDir(dir, {force: true});
  });
});

describe('writeFileAtomic', () => {
  it('flushes the file before the rename and the folder after it, leaving no temporary file', () => {
    const path = join(dir, 'a.json');
    writeFileAtomic(path, [Buffer.from('{"a":'), Buffer.from('1}')]);
    expect(readFileSync(path, 'utf8')).toBe('{"a":1}');
    expect(readdirSync(dir)).toEqual(['a.json']);
    expect(flushed).toEqual([`${path}.tmp-${process.pid}`, dir]);
  });

  it('names the path it could not write, in one line, and leaves nothing behind', () => {
    const path = join(dir, 'missing', 'a.json');
    expect(() => writeFileAtomic(path, [Buffer.from('{}')])).toThrow(`cannot write ${path}: no such file or directory`);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('writeDirAtomic', () => {
  const fill = (files: Record<string, string>) => (tmp: string) => {
    for (const [name, text] of Object.entries(files)) {
      mkdirSync(join(tmp, name, '..'), {recursive: true});
      writeFileSync(join(tmp, name), text);
    }
  };

  it('flushes every file the fill wrote, its folders, then the parent after the rename', () => {
    const out = join(dir, 'model');
    writeDirAtomic(out, fill({'config.json': '{}', 'sub/w.bin': 'w'}));
    expect(readFileSync(join(out, 'sub/w.bin'), 'utf8')).toBe('w');
    expect(readdirSync(dir)).toEqual(['model']);
    const tmp = `${out}.tmp-${process.pid}`;
    expect([...flushed].sort()).toEqual(
      [tmp, join(tmp, 'config.json'), join(tmp, 'sub'), join(tmp, 'sub/w.bin'), dir].sort(),
    );
    expect(flushed.indexOf(dir)).toBe(flushed.length - 1);
  });

  it('replaces a non-empty folder only with replace, and whole', () => {
    const out = join(dir, 'model');
    writeDirAtomic(out, fill({'old.txt': 'old'}));
    expect(() => writeDirAtomic(out, fill({'new.txt': 'new'}))).toThrow(/is not empty: .*--force/);
    writeDirAtomic(out, fill({'new.txt': 'new'}), {replace: true});
    expect(readdirSync(out)).toEqual(['new.txt']);
    expect(readdirSync(dir)).toEqual(['model']);
  });

  it('a fill that fails leaves the old folder as it was and no temporary folder', () => {
    const out = join(dir, 'model');
    writeDirAtomic(out, fill({'old.txt': 'old'}));
    const failing = (tmp: string) => {
      writeFileSync(join(tmp, 'half.txt'), 'h');
      throw new Error('disk full');
    };
    expect(() => writeDirAtomic(out, failing, {replace: true})).toThrow('disk full');
    expect(readdirSync(dir)).toEqual(['model']);
    expect(readdirSync(out)).toEqual(['old.txt']);
  });

  it('a file-system error in the fill is one line naming the folder', () => {
    const out = join(dir, 'model');
    const failing = (tmp: string) => writeFileSync(join(tmp, 'no', 'such.txt'), 'x');
    expect(() => writeDirAtomic(out, failing)).toThrow(`cannot write ${out}: no such file or directory`);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('moveFileAtomic', () => {
  it('flushes the finished file, renames it, and flushes the folder it lands in', () => {
    const work = join(dir, 'work');
    mkdirSync(work);
    writeFileSync(join(work, 'spm.model'), 'm');
    moveFileAtomic(join(work, 'spm.model'), join(dir, 'tok.model'));
    expect(readFileSync(join(dir, 'tok.model'), 'utf8')).toBe('m');
    expect(existsSync(join(work, 'spm.model'))).toBe(false);
    expect(flushed).toEqual([join(work, 'spm.model'), dir]);
  });
});
