/**
 * A zip entry that claims (or would inflate to) far more than the weights need is
 * refused before it is inflated, with one line; reading it never allocates what it claims.
 */
import {copyFileSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {zipSync, type Zippable} from 'fflate';
import {afterAll, describe, expect, it} from 'vitest';

import {readModelFiles} from '../../../src/core/io/model-files.js';
import {ZipArchive} from '../../../src/core/io/zip.js';
import {REFERENCE, tempDir} from './helpers.js';

const tmp = tempDir();
afterAll(tmp.cleanup);

const CLAIM = 200_000_000;

/** A deflated zip of `entries`, with the central directory's uncompressed size of `name` set to `claim`. */
function zipClaiming(entries: Record<string, Uint8Array>, name: string, claim: number): Uint8Array {
  const files: Zippable = {};
  for (const [n, data] of Object.entries(entries)) files[n] = [data, {level: 6}];
  const buf = zipSync(files);
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const want = new TextEncoder().encode(name);
  for (let p = 0; p + 46 <= buf.length; p++) {
    if (v.getUint32(p, true) !== 0x02014b50 || v.getUint16(p + 28, true) !== want.length) continue;
    if (buf.subarray(p + 46, p + 46 + want.length).every((b, i) => b === want[i])) {
      v.setUint32(p + 24, claim, true);
      return buf;
    }
  }
  throw new Error(`no central directory record for ${name}`);
}

describe('zip entries larger than a record may be', () => {
  it('an entry that claims more than the caller allows is refused before inflating', () => {
    const zip = zipClaiming({'a/data/0': new Uint8Array(4096)}, 'a/data/0', CLAIM);
    const archive = new ZipArchive(zip, 'bomb.zip', {maxEntryBytes: 2 ** 20});
    expect(() => archive.read('a/data/0')).toThrow(
      /^bomb\.zip: zip entry a\/data\/0 claims 200000000 bytes, more than the 1048576 /,
    );
  });

  it('an entry that inflates to more than it claims is cut at the claim and refused', () => {
    const zip = zipClaiming({'a/data/0': new Uint8Array(2 ** 20)}, 'a/data/0', 1024);
    expect(() => new ZipArchive(zip, 'bomb.zip').read('a/data/0')).toThrow(/^bomb\.zip: corrupt zip archive: /);
  });

  it("a checkpoint whose record claims more than the model's largest tensor: one line, nothing inflated", () => {
    const src = new ZipArchive(
      new Uint8Array(readFileSync(join(REFERENCE, 'tiny-public', 'checkpoint.pth'))),
      'tiny-public',
    );
    const entries: Record<string, Uint8Array> = {};
    for (const e of src.entries) entries[e.name] = src.readEntry(e).slice();
    const record = src.entries.find((e) => /\/data\/0$/.test(e.name))!.name;
    const dir = join(tmp.dir, 'bomb');
    mkdirSync(dir, {recursive: true});
    writeFileSync(join(dir, 'checkpoint.pth'), zipClaiming(entries, record, CLAIM));
    copyFileSync(join(REFERENCE, 'tiny-public', 'hparams.json'), join(dir, 'hparams.json'));
    expect(() => readModelFiles(join(dir, 'checkpoint.pth'))).toThrow(
      new RegExp(`zip entry ${record} claims ${CLAIM} bytes, more than the ${64 * 2 ** 20} `),
    );
  });
});
