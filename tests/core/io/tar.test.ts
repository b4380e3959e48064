/** The tar reader: honest archives (ours and GNU tar's), and hostile ones handled without writing anything. */
import {spawnSync} from 'node:child_process';
import {readdirSync, readFileSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {afterAll, describe, expect, it} from 'vitest';

import {PldrError} from '../../../src/core/errors.js';
import {parseTar, readTarball} from '../../../src/core/io/tar.js';
import {gzip, makeTar, removeTempDirs, tempDir, TOKENIZER} from './legacy-build.js';

afterAll(removeTempDirs);

const CAP = 64 * 2 ** 20;

describe('tar reader', () => {
  it('reads the entries of an archive made by GNU tar (gzip, nested folder)', (ctx) => {
    const dir = tempDir('gnutar');
    const src = join(dir, 'src', 'tokenizer');
    spawnSync('mkdir', ['-p', src]);
    writeFileSync(join(src, 'pldr-tiny.model'), readFileSync(TOKENIZER));
    writeFileSync(join(src, 'x'.repeat(120) + '.txt'), 'long name'); // needs a GNU long-name or pax record
    const tgz = join(dir, 'tok.tar.gz');
    const r = spawnSync('tar', ['czf', tgz, '-C', join(dir, 'src'), 'tokenizer']);
    if (r.status !== 0) return ctx.skip('no tar on this machine (the hand-built archives below still run)');
    const entries = readTarball(tgz, {maxBytes: CAP});
    const model = entries.find((e) => e.name === 'tokenizer/pldr-tiny.model')!;
    expect(Buffer.from(model.data!).equals(readFileSync(TOKENIZER))).toBe(true);
    expect(entries.find((e) => e.name.endsWith('.txt'))?.name).toBe(`tokenizer/${'x'.repeat(120)}.txt`);
  });

  it("reads Python tarfile's pax and GNU archives (long names, pax path records)", (ctx) => {
    const dir = tempDir('pytar');
    for (const format of ['PAX_FORMAT', 'GNU_FORMAT']) {
      const out = join(dir, `${format}.tar.gz`);
      const py = `import tarfile, io\nwith tarfile.open(${JSON.stringify(out)}, 'w:gz', format=tarfile.${format}) as t:\n  for name, data in [('tok/' + 'é' * 120 + '.model', b'abc'), ('tok/small.vocab', b'xy' * 300)]:\n    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))\n`;
      const r = spawnSync('python3', ['-c', py]);
      if (r.status !== 0) return ctx.skip('no python3 here (the other archives still run)');
      const entries = readTarball(out, {maxBytes: CAP});
      expect(entries.map((e) => [e.name, e.size, Buffer.from(e.data!).toString()])).toEqual([
        [`tok/${'é'.repeat(120)}.model`, 3, 'abc'],
        ['tok/small.vocab', 600, 'xy'.repeat(300)],
      ]);
    }
  });

  it('flags ../ and absolute names and symlinks; never follows or writes anything', () => {
    const dir = tempDir('hostile');
    const before = readdirSync(dir);
    const tar = makeTar([
      {name: '../../evil.model', data: new Uint8Array([1, 2, 3])},
      {name: '/etc/evil.model', data: new Uint8Array([4])},
      {name: 'link.model', type: '2', linkName: '/etc/passwd'},
      {name: 'ok/fine.model', data: new Uint8Array([5, 6])},
    ]);
    writeFileSync(join(dir, 't.tar'), tar);
    const entries = readTarball(join(dir, 't.tar'), {maxBytes: CAP});
    expect(entries.map((e) => [e.name, e.type, e.unsafe])).toEqual([
      ['../../evil.model', 'file', true],
      ['/etc/evil.model', 'file', true],
      ['link.model', 'symlink', false],
      ['ok/fine.model', 'file', false],
    ]);
    expect(entries[2].data).toBeUndefined();
    expect(readdirSync(dir)).toEqual([...before, 't.tar']);
  });

  it('an entry claiming gigabytes is truncated, not allocated', () => {
    const tar = makeTar([
      {name: 'big.model', data: new Uint8Array(10), claimSize: 5 * 2 ** 30},
      {name: 'after.model', data: new Uint8Array(3)},
    ]);
    const entries = parseTar(tar, 'x.tar');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({name: 'big.model', size: 5 * 2 ** 30, truncated: true, data: undefined});
    const huge = parseTar(makeTar([{name: 'huge', data: new Uint8Array(1), claimSize: 2 ** 40}]), 'x.tar'); // base-256 size field
    expect(huge[0]).toMatchObject({size: 2 ** 40, truncated: true});
  });

  it('stops inflating a gzip bomb at the cap with one line', () => {
    const dir = tempDir('bomb');
    const file = join(dir, 'bomb.tar.gz');
    writeFileSync(file, gzip(new Uint8Array(40 * 2 ** 20))); // 40 MiB of zeros in ~40 KB
    let msg = '';
    try {
      readTarball(file, {maxBytes: 4 * 2 ** 20});
    } catch (e) {
      expect(e).toBeInstanceOf(PldrError);
      msg = (e as Error).message;
    }
    expect(msg).toBe(
      `${file} inflates to more than ${4 * 2 ** 20} bytes, more than a tokenizer archive can hold: refusing it`,
    );
  });

  it('refuses a file that is not a tar archive, or a broken gzip', () => {
    expect(() => parseTar(new Uint8Array(1024).fill(7), 'x.tar')).toThrow(
      'x.tar is not a tar archive (bad header checksum at byte 0)',
    );
    const dir = tempDir('broken');
    const file = join(dir, 'b.tar.gz');
    writeFileSync(file, gzip(makeTar([{name: 'a', data: new Uint8Array(100)}])).subarray(0, 30));
    expect(() => readTarball(file, {maxBytes: CAP})).toThrow(/b\.tar\.gz is not a valid gzip file/);
  });
});
