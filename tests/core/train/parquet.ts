/**
 * A minimal Parquet writer for the tests (no writer is installed: hyparquet only reads, and there is
 * no pyarrow here). It writes flat files of BYTE_ARRAY (UTF8) and INT32 columns, PLAIN encoded, one
 * v1 data page per column chunk, uncompressed or GZIP, in as many row groups as asked. Columns may be
 * OPTIONAL (null = null cell); definition levels are written as RLE runs. Thrift compact protocol for
 * the page headers and the footer, as the format specifies.
 */
import {gzipSync} from 'node:zlib';

type Column = {name: string; type: 'utf8' | 'int32'; optional?: boolean; values: (string | number | null)[]};

// ----- Thrift compact protocol -----
type TValue =
  | {t: 'i32'; v: number}
  | {t: 'i64'; v: number}
  | {t: 'bin'; v: Uint8Array | string}
  | {t: 'list'; elem: 'i32' | 'bin' | 'struct'; v: TValue[]}
  | {t: 'struct'; v: [number, TValue][]};

const TYPE_ID = {i32: 5, i64: 6, bin: 8, list: 9, struct: 12} as const;

class Out {
  bytes: number[] = [];
  byte(b: number) {
    this.bytes.push(b & 0xff);
  }
  varint(n: bigint) {
    let v = n;
    while (v >= 0x80n) {
      this.byte(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.byte(Number(v));
  }
  zigzag(n: number) {
    const b = BigInt(n);
    this.varint(b >= 0n ? b << 1n : (-b << 1n) - 1n);
  }
  raw(b: Uint8Array) {
    for (const x of b) this.byte(x);
  }
}

function writeValue(o: Out, val: TValue): void {
  switch (val.t) {
    case 'i32':
    case 'i64':
      o.zigzag(val.v);
      break;
    case 'bin': {
      const b = typeof val.v === 'string' ? new TextEncoder().encode(val.v) : val.v;
      o.varint(BigInt(b.length));
      o.raw(b);
      break;
    }
    case 'list': {
      const id = TYPE_ID[val.elem];
      if (val.v.length < 15) o.byte((val.v.length << 4) | id);
      else {
        o.byte(0xf0 | id);
        o.varint(BigInt(val.v.length));
      }
      for (const e of val.v) writeValue(o, e);
      break;
    }
    case 'struct': {
      let last = 0;
      for (const [id, f] of val.v) {
        const delta = id - last;
        if (delta <= 0 || delta > 15) throw new Error('field ids must increase by 1..15');
        o.byte((delta << 4) | TYPE_ID[f.t]);
        writeValue(o, f);
        last = id;
      }
      o.byte(0); // stop
      break;
    }
  }
}

function thrift(val: TValue): Uint8Array {
  const o = new Out();
  writeValue(o, val);
  return Uint8Array.from(o.bytes);
}

const i32 = (v: number): TValue => ({t: 'i32', v});
const i64 = (v: number): TValue => ({t: 'i64', v});
const str = (v: string): TValue => ({t: 'bin', v});

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function u32le(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** Definition levels (0 = null, 1 = present) as the RLE/bit-packed hybrid with bit width 1, length-prefixed (data page v1). */
function defLevels(present: boolean[]): Uint8Array {
  const o = new Out();
  for (let i = 0; i < present.length;) {
    let j = i;
    while (j < present.length && present[j] === present[i]) j++;
    o.varint(BigInt(j - i) << 1n); // RLE run header
    o.byte(present[i] ? 1 : 0);
    i = j;
  }
  const body = Uint8Array.from(o.bytes);
  return concat([u32le(body.length), body]);
}

function plainValues(col: Column, rows: (string | number | null)[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const v of rows) {
    if (v === null) continue;
    if (col.type === 'int32') parts.push(u32le((v as number) >>> 0));
    else {
      const b = new TextEncoder().encode(v as string);
      parts.push(u32le(b.length), b);
    }
  }
  return concat(parts);
}

/** Bytes of a Parquet file with these columns (all the same length), cut into row groups of `rowGroupSize` rows. */
export function writeParquet(columns: Column[], opts: {rowGroupSize?: number; gzip?: boolean} = {}): Uint8Array {
  const n = columns[0].values.length;
  const size = opts.rowGroupSize ?? n;
  const parts: Uint8Array[] = [new TextEncoder().encode('PAR1')];
  let offset = 4;
  const rowGroups: TValue[] = [];
  for (let start = 0; start < n; start += size) {
    const rows = Math.min(size, n - start);
    const chunks: TValue[] = [];
    let groupBytes = 0;
    for (const col of columns) {
      const vals = col.values.slice(start, start + rows);
      const levels = col.optional ? defLevels(vals.map((v) => v !== null)) : new Uint8Array(0);
      const page = concat([levels, plainValues(col, vals)]);
      const body = opts.gzip ? new Uint8Array(gzipSync(page)) : page;
      const header = thrift({
        t: 'struct',
        v: [
          [1, i32(0)], // DATA_PAGE
          [2, i32(page.length)],
          [3, i32(body.length)],
          [
            5,
            {
              t: 'struct',
              v: [
                [1, i32(rows)],
                [2, i32(0)],
                [3, i32(3)],
                [4, i32(3)],
              ],
            },
          ], // PLAIN, RLE levels
        ],
      });
      const chunkStart = offset;
      parts.push(header, body);
      offset += header.length + body.length;
      const total = header.length + body.length;
      const totalUncompressed = header.length + page.length;
      groupBytes += totalUncompressed;
      chunks.push({
        t: 'struct',
        v: [
          [2, i64(chunkStart)],
          [
            3,
            {
              t: 'struct',
              v: [
                [1, i32(col.type === 'int32' ? 1 : 6)],
                [2, {t: 'list', elem: 'i32', v: [i32(0), i32(3)]}],
                [3, {t: 'list', elem: 'bin', v: [str(col.name)]}],
                [4, i32(opts.gzip ? 2 : 0)],
                [5, i64(rows)],
                [6, i64(totalUncompressed)],
                [7, i64(total)],
                [9, i64(chunkStart)],
              ],
            },
          ],
        ],
      });
    }
    rowGroups.push({
      t: 'struct',
      v: [
        [1, {t: 'list', elem: 'struct', v: chunks}],
        [2, i64(groupBytes)],
        [3, i64(rows)],
      ],
    });
  }
  const schema: TValue[] = [
    {
      t: 'struct',
      v: [
        [4, str('schema')],
        [5, i32(columns.length)],
      ],
    },
  ];
  for (const col of columns) {
    const fields: [number, TValue][] = [
      [1, i32(col.type === 'int32' ? 1 : 6)],
      [3, i32(col.optional ? 1 : 0)],
      [4, str(col.name)],
    ];
    if (col.type === 'utf8') fields.push([6, i32(0)]); // converted type UTF8
    schema.push({t: 'struct', v: fields});
  }
  const footer = thrift({
    t: 'struct',
    v: [
      [1, i32(1)],
      [2, {t: 'list', elem: 'struct', v: schema}],
      [3, i64(n)],
      [4, {t: 'list', elem: 'struct', v: rowGroups}],
      [6, str('pldr-llm tests')],
    ],
  });
  parts.push(footer, u32le(footer.length), new TextEncoder().encode('PAR1'));
  return concat(parts);
}
