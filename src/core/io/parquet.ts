/**
 * What the two Parquet readers (eval task files, training corpora) share: the decompressors hyparquet is given for
 * the codecs it lacks, and the one-line errors for a file it cannot read.
 */
import {brotliDecompressSync, gunzipSync} from 'node:zlib';

import {oneLine, PldrError} from '../errors.js';

/** Codecs hyparquet does not decode itself (it decodes snappy and uncompressed pages). */
export const COMPRESSORS = {
  GZIP: (input: Uint8Array) => new Uint8Array(gunzipSync(input)),
  BROTLI: (input: Uint8Array) => new Uint8Array(brotliDecompressSync(input)),
};

/** The footer could not be parsed: not a Parquet file, or a damaged one. */
export function notParquet(path: string, e: unknown): PldrError {
  return new PldrError(`${path} is not a readable Parquet file (${oneLine((e as Error).message)})`);
}

/** Reading `what` ("its rows", "rows 0-99") failed; a codec Node cannot decode gets its fix. */
export function unreadableRows(path: string, what: string, e: unknown): PldrError {
  const msg = oneLine((e as Error).message);
  const codec = /unsupported compression codec: (\w+)/.exec(msg);
  if (codec)
    return new PldrError(
      `${path} is compressed with ${codec[1]}, which Node 20 cannot decompress; re-save it with snappy or gzip compression`,
    );
  return new PldrError(`${path}: cannot read ${what} (${msg})`);
}
