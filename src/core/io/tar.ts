/**
 * A small reader for .tar and .tar.gz archives (ustar, GNU long names, pax path records), for the
 * tokenizer tarball of the older Hub layout. It lists entries and hands back their bytes; it never
 * writes an entry to disk under the entry's own name and never follows a link, so an entry named
 * `../x`, `/etc/x` or a symlink cannot reach outside anything. Entries whose names would climb out of
 * the archive are flagged `unsafe` so callers can skip them.
 *
 * Limits: the inflated archive may hold at most `maxBytes` (the gzip stream is inflated in small
 * steps and abandoned as soon as it passes the cap, so a gzip bomb costs at most the cap plus one
 * step); an entry that claims more bytes than the archive holds is reported as `truncated`, and
 * reading stops there.
 */
import {readFileSync, statSync} from 'node:fs';

import {Gunzip} from 'fflate';

import {PldrError} from '../errors.js';

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface TarEntry {
  name: string;
  type: TarEntryType;
  /** The size the header claims. */
  size: number;
  /** The entry's bytes (files only; a view into the archive). */
  data?: Uint8Array;
  /** An absolute name or one with a `..` component. */
  unsafe: boolean;
  /** The header claims more bytes than the archive holds. */
  truncated: boolean;
}

const BLOCK = 512;
/** Compressed bytes handed to the inflater per step. */
const GZIP_STEP = 16 * 1024;

/** Gunzip `gz` into one buffer, giving up once the output passes `maxBytes`. */
function gunzipCapped(gz: Uint8Array, maxBytes: number, file: string): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let over = false;
  const inflater = new Gunzip((chunk) => {
    total += chunk.length;
    if (total > maxBytes) over = true;
    else chunks.push(chunk);
  });
  try {
    for (let i = 0; i < gz.length && !over; i += GZIP_STEP)
      inflater.push(gz.subarray(i, i + GZIP_STEP), i + GZIP_STEP >= gz.length);
  } catch (e) {
    throw new PldrError(`${file} is not a valid gzip file (${(e as Error).message})`);
  }
  if (over)
    throw new PldrError(
      `${file} inflates to more than ${maxBytes} bytes, more than a tokenizer archive can hold: refusing it`,
    );
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) out.set(c, (at += c.length) - c.length);
  return out;
}

function field(h: Uint8Array, start: number, len: number): string {
  const bytes = h.subarray(start, start + len);
  const nul = bytes.indexOf(0);
  return Buffer.from(nul < 0 ? bytes : bytes.subarray(0, nul)).toString('utf8');
}

/** A numeric header field: octal text, or GNU base-256 when the top bit of the first byte is set. */
function numberField(h: Uint8Array, start: number, len: number): number {
  if (h[start] & 0x80) {
    let v = h[start] & 0x7f;
    for (let i = start + 1; i < start + len; i++) v = v * 256 + h[i]; // inexact past 2^53, which is far past any cap
    return v;
  }
  const text = field(h, start, len).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function checksumOk(h: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  return sum === numberField(h, 148, 8);
}

/** `len key=value\n` records of a pax extended header. */
function paxRecords(data: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const text = Buffer.from(data).toString('utf8');
  for (const rec of text.split('\n')) {
    const m = /^\d+ ([^=]+)=(.*)$/s.exec(rec);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

function isUnsafeName(name: string): boolean {
  return name.startsWith('/') || /^[A-Za-z]:/.test(name) || name.split(/[/\\]/).includes('..');
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '5': 'dir',
  '2': 'symlink',
  '1': 'hardlink',
};

/** The entries of a tar archive held in memory. */
export function parseTar(buf: Uint8Array, file: string): TarEntry[] {
  const entries: TarEntry[] = [];
  let pos = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  let paxSize: number | undefined;
  while (pos + BLOCK <= buf.length) {
    const h = buf.subarray(pos, pos + BLOCK);
    if (h.every((b) => b === 0)) break; // end of archive
    if (!checksumOk(h)) throw new PldrError(`${file} is not a tar archive (bad header checksum at byte ${pos})`);
    const size = paxSize ?? numberField(h, 124, 12);
    const flag = String.fromCharCode(h[156]);
    const dataStart = pos + BLOCK;
    const truncated = !Number.isFinite(size) || size < 0 || size > buf.length - dataStart;
    const data = truncated ? undefined : buf.subarray(dataStart, dataStart + size);
    if (!truncated && (flag === 'L' || flag === 'x')) {
      if (flag === 'L') longName = field(data!, 0, data!.length);
      else {
        const pax = paxRecords(data!);
        paxPath = pax.path ?? paxPath;
        if (pax.size !== undefined) paxSize = /^\d+$/.test(pax.size) ? Number(pax.size) : NaN;
      }
    } else if (flag !== 'g') {
      const prefix = field(h, 345, 155);
      const name = paxPath ?? longName ?? (prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100));
      const type = TYPES[flag] ?? 'other';
      entries.push({name, type, size, unsafe: isUnsafeName(name), truncated, data: type === 'file' ? data : undefined});
      longName = paxPath = paxSize = undefined;
    }
    if (truncated) {
      if (flag === 'L' || flag === 'x')
        entries.push({name: '(extended header)', type: 'other', size, unsafe: false, truncated});
      break;
    }
    pos = dataStart + Math.ceil(size / BLOCK) * BLOCK;
  }
  return entries;
}

/** The entries of a .tar or .tar.gz file (gzip is recognised by its magic bytes). */
export function readTarball(path: string, opts: {maxBytes: number}): TarEntry[] {
  const onDisk = statSync(path).size;
  if (onDisk > opts.maxBytes)
    throw new PldrError(
      `${path} is ${onDisk} bytes, more than a tokenizer archive can hold (${opts.maxBytes}): refusing it`,
    );
  const raw = new Uint8Array(readFileSync(path));
  const tar = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipCapped(raw, opts.maxBytes, path) : raw;
  return parseTar(tar, path);
}
