/**
 * Zip archives as PyTorch uses them.
 *
 * Reading goes through the central directory (entry order and local-header sizes are then
 * irrelevant, which covers data descriptors), supports zip64 and STORED/DEFLATED entries, and
 * checks every entry's CRC32 so a damaged checkpoint is reported instead of loaded.
 *
 * Writing reproduces what torch.save's writer (miniz inside PyTorchStreamWriter) emits: STORED
 * entries with zeroed local-header sizes plus a data descriptor, payloads aligned to 64 bytes by an
 * `FB` extra field padded with 'Z', zero timestamps, and zip64 end records after the directory.
 */
import {inflateSync} from 'fflate';

import {PldrError} from '../errors.js';
import {plainBytes} from './fsutil.js';

export interface ZipEntry {
  name: string;
  /** 0 = STORED, 8 = DEFLATED. */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256 * 4);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  // Slicing-by-4 tables: checkpoints are hundreds of MB, so the CRC is worth a little speed.
  for (let n = 0; n < 256; n++) {
    for (let s = 1; s < 4; s++) t[s * 256 + n] = (t[(s - 1) * 256 + n] >>> 8) ^ t[t[(s - 1) * 256 + n] & 0xff];
  }
  return t;
})();

export function crc32(data: Uint8Array, seed = 0): number {
  let c = ~seed >>> 0;
  const n = data.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    c ^= data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24);
    c =
      CRC_TABLE[768 + (c & 0xff)] ^
      CRC_TABLE[512 + ((c >>> 8) & 0xff)] ^
      CRC_TABLE[256 + ((c >>> 16) & 0xff)] ^
      CRC_TABLE[c >>> 24];
  }
  for (; i < n; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_DESCRIPTOR = 0x08074b50;

export interface ZipReadOptions {
  /**
   * The most bytes one entry may hold once inflated. An entry that claims more is refused before it
   * is inflated, and inflating never writes past what the entry claims, so a small file that would
   * inflate to gigabytes (a "zip bomb", or a damaged size field) costs no memory. Default 1 GiB.
   */
  maxEntryBytes?: number;
}

/** Larger than any tensor of the models this tool runs (the 110M models' embedding is 115 MB). */
export const DEFAULT_MAX_ENTRY_BYTES = 2 ** 30;

export class ZipArchive {
  readonly entries: ZipEntry[];
  private readonly byName: Map<string, ZipEntry>;
  private readonly view: DataView;
  private readonly buf: Uint8Array;
  private readonly maxEntryBytes: number;

  constructor(
    buf: Uint8Array,
    private readonly source: string,
    opts: ZipReadOptions = {},
  ) {
    this.maxEntryBytes = opts.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES;
    this.buf = plainBytes(buf);
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.entries = this.readDirectory();
    this.byName = new Map(this.entries.map((e) => [e.name, e]));
  }

  static isZip(buf: Uint8Array): boolean {
    return buf.length >= 4 && buf[0] === 0x50 && buf[1] === 0x4b && buf[2] === 0x03 && buf[3] === 0x04;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The entry's bytes, inflated if needed and CRC-checked. STORED data is a view, not a copy. */
  read(name: string): Uint8Array {
    const e = this.byName.get(name);
    if (!e) this.fail(`entry ${name} is missing`);
    return this.readEntry(e!);
  }

  readEntry(e: ZipEntry): Uint8Array {
    const at = e.localHeaderOffset;
    if (at + 30 > this.buf.length || this.view.getUint32(at, true) !== SIG_LOCAL) {
      this.fail(`local header of ${e.name} is missing or damaged`);
    }
    const start = at + 30 + this.view.getUint16(at + 26, true) + this.view.getUint16(at + 28, true);
    if (start + e.compressedSize > this.buf.length)
      this.fail(`data of ${e.name} runs past the end of the file (truncated?)`);
    const raw = this.buf.subarray(start, start + e.compressedSize);
    if (e.size > this.maxEntryBytes)
      throw new PldrError(
        `${this.source}: zip entry ${e.name} claims ${e.size} bytes, more than the ${this.maxEntryBytes} any record of this file may hold: refusing to inflate it (damaged or not a checkpoint)`,
      );
    let data: Uint8Array;
    if (e.method === 0) {
      if (e.compressedSize !== e.size) this.fail(`stored entry ${e.name} has inconsistent sizes`);
      data = raw;
    } else if (e.method === 8) {
      try {
        // a buffer of the claimed size: inflating stops writing there, however much the data would give
        data = inflateSync(raw, {out: new Uint8Array(e.size)});
      } catch (err) {
        return this.fail(`cannot inflate ${e.name}: ${(err as Error).message}`);
      }
      if (data.length !== e.size) this.fail(`entry ${e.name} inflates to ${data.length} bytes, expected ${e.size}`);
    } else {
      return this.fail(`entry ${e.name} uses unsupported compression method ${e.method}`);
    }
    if (crc32(data) !== e.crc32) this.fail(`CRC mismatch in ${e.name} (damaged file)`);
    return data;
  }

  private fail(problem: string): never {
    throw new PldrError(`${this.source}: corrupt zip archive: ${problem}`);
  }

  private readDirectory(): ZipEntry[] {
    const buf = this.buf;
    const v = this.view;
    let eocd = -1;
    for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
      if (v.getUint32(i, true) === SIG_EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) this.fail('end of central directory not found (truncated file?)');
    let count = v.getUint16(eocd + 10, true);
    let cdSize = v.getUint32(eocd + 12, true);
    let cdOffset = v.getUint32(eocd + 16, true);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || v.getUint32(loc, true) !== SIG_ZIP64_LOCATOR) this.fail('zip64 locator missing');
      const z = this.u64(loc + 8);
      if (z + 56 > buf.length || v.getUint32(z, true) !== SIG_ZIP64_EOCD) this.fail('zip64 end record missing');
      count = this.u64(z + 32);
      cdSize = this.u64(z + 40);
      cdOffset = this.u64(z + 48);
    }
    if (cdOffset + cdSize > buf.length) this.fail('central directory lies outside the file');
    const entries: ZipEntry[] = [];
    let p = cdOffset;
    for (let k = 0; k < count; k++) {
      if (p + 46 > buf.length || v.getUint32(p, true) !== SIG_CENTRAL)
        this.fail(`central directory entry ${k} is damaged`);
      const flags = v.getUint16(p + 8, true);
      const method = v.getUint16(p + 10, true);
      const crc = v.getUint32(p + 16, true);
      let compressedSize = v.getUint32(p + 20, true);
      let size = v.getUint32(p + 24, true);
      const nameLen = v.getUint16(p + 28, true);
      const extraLen = v.getUint16(p + 30, true);
      const commentLen = v.getUint16(p + 32, true);
      let localHeaderOffset = v.getUint32(p + 42, true);
      if (p + 46 + nameLen + extraLen > buf.length) this.fail(`central directory entry ${k} is damaged`);
      const name = new TextDecoder().decode(buf.subarray(p + 46, p + 46 + nameLen));
      if (flags & 1) this.fail(`entry ${name} is encrypted`);
      // zip64 extra field: only the fields whose 32-bit slot is saturated are present, in this order.
      let x = p + 46 + nameLen;
      const xEnd = x + extraLen;
      while (x + 4 <= xEnd) {
        const id = v.getUint16(x, true);
        const len = v.getUint16(x + 2, true);
        if (id === 0x0001) {
          let f = x + 4;
          if (size === 0xffffffff) {
            size = this.u64(f);
            f += 8;
          }
          if (compressedSize === 0xffffffff) {
            compressedSize = this.u64(f);
            f += 8;
          }
          if (localHeaderOffset === 0xffffffff) localHeaderOffset = this.u64(f);
        }
        x += 4 + len;
      }
      entries.push({name, method, crc32: crc, compressedSize, size, localHeaderOffset});
      p += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  }

  private u64(at: number): number {
    const x = this.view.getBigUint64(at, true);
    if (x > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('64-bit field out of range');
    return Number(x);
  }
}

/**
 * Builds a zip the way torch.save does. Records are kept by reference and returned as chunks, so a
 * large checkpoint is streamed to disk without being copied into one buffer.
 */
export class TorchZipWriter {
  private readonly chunks: Uint8Array[] = [];
  private readonly central: {name: Uint8Array; crc: number; size: number; offset: number}[] = [];
  private cursor = 0;

  constructor(private readonly alignment = 64) {}

  addRecord(name: string, data: Uint8Array): void {
    const nameBytes = new TextEncoder().encode(name);
    // torch's getPadding(): the payload after header + name + the FB field's own 4 bytes is aligned.
    const start = this.cursor + 30 + nameBytes.length + 4;
    const mod = start % this.alignment;
    const pad = mod === 0 ? 0 : this.alignment - mod;
    const header = new Uint8Array(30 + nameBytes.length + 4 + pad);
    const h = new DataView(header.buffer);
    h.setUint32(0, SIG_LOCAL, true);
    h.setUint16(4, 0, true); // version needed
    h.setUint16(6, 0x0808, true); // data descriptor follows; UTF-8 names
    // method, time, date, crc and sizes stay 0: they follow in the data descriptor
    h.setUint16(26, nameBytes.length, true);
    h.setUint16(28, 4 + pad, true);
    header.set(nameBytes, 30);
    header[30 + nameBytes.length] = 0x46; // 'F'
    header[31 + nameBytes.length] = 0x42; // 'B'
    h.setUint16(32 + nameBytes.length, pad, true);
    header.fill(0x5a, 34 + nameBytes.length); // 'Z'

    const crc = crc32(data);
    const descriptor = new Uint8Array(16);
    const d = new DataView(descriptor.buffer);
    d.setUint32(0, SIG_DESCRIPTOR, true);
    d.setUint32(4, crc, true);
    d.setUint32(8, data.length, true);
    d.setUint32(12, data.length, true);

    if (data.length >= 0xffffffff || this.cursor >= 0xffffffff) {
      throw new PldrError('checkpoint too large: entries of 4 GiB or more are not supported by this writer');
    }
    this.central.push({name: nameBytes, crc, size: data.length, offset: this.cursor});
    this.chunks.push(header, data, descriptor);
    this.cursor += header.length + data.length + descriptor.length;
  }

  finish(): Uint8Array[] {
    const cdOffset = this.cursor;
    let cdSize = 0;
    for (const e of this.central) {
      const rec = new Uint8Array(46 + e.name.length);
      const r = new DataView(rec.buffer);
      r.setUint32(0, SIG_CENTRAL, true);
      r.setUint16(8, 0x0808, true);
      r.setUint32(16, e.crc, true);
      r.setUint32(20, e.size, true);
      r.setUint32(24, e.size, true);
      r.setUint16(28, e.name.length, true);
      r.setUint32(42, e.offset, true);
      rec.set(e.name, 46);
      this.chunks.push(rec);
      cdSize += rec.length;
    }
    if (cdOffset + cdSize >= 0xffffffff) {
      throw new PldrError('checkpoint too large: archives of 4 GiB or more are not supported by this writer');
    }
    const n = BigInt(this.central.length);
    const tail = new Uint8Array(56 + 20 + 22);
    const t = new DataView(tail.buffer);
    // zip64 end of central directory record (miniz always writes it)
    t.setUint32(0, SIG_ZIP64_EOCD, true);
    t.setBigUint64(4, 44n, true);
    t.setUint16(12, 0x031e, true); // made by: Unix, spec 3.0
    t.setUint16(14, 0x002d, true); // needed: 4.5 (zip64)
    t.setBigUint64(24, n, true);
    t.setBigUint64(32, n, true);
    t.setBigUint64(40, BigInt(cdSize), true);
    t.setBigUint64(48, BigInt(cdOffset), true);
    // zip64 locator
    t.setUint32(56, SIG_ZIP64_LOCATOR, true);
    t.setBigUint64(64, BigInt(cdOffset + cdSize), true);
    t.setUint32(72, 1, true);
    // classic end of central directory
    t.setUint32(76, SIG_EOCD, true);
    t.setUint16(84, Math.min(this.central.length, 0xffff), true);
    t.setUint16(86, Math.min(this.central.length, 0xffff), true);
    t.setUint32(88, cdSize, true);
    t.setUint32(92, cdOffset, true);
    this.chunks.push(tail);
    return this.chunks;
  }
}
