/** Builds older-Hub-layout folders and tar archives (honest and hostile) for the legacy tests. */
import {copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {gzipSync} from 'node:zlib';

import {expect} from 'vitest';

import {PldrError} from '../../../src/core/errors.js';
import {removeExtractedTokenizers} from '../../../src/core/io/legacy-hub.js';
import {REFERENCE, ROOT} from '../../helpers.js';

export const TOKENIZER = join(ROOT, 'fixtures', 'tokenizer', 'pldr-tiny.model');

export interface TarItem {
  name: string;
  /** '0' file (default), '2' symlink, '5' directory. */
  type?: '0' | '2' | '5';
  data?: Uint8Array;
  linkName?: string;
  /** Claim this size in the header instead of the data's length. */
  claimSize?: number;
}

function writeOctal(h: Uint8Array, at: number, len: number, v: number): void {
  h.set(Buffer.from(v.toString(8).padStart(len - 1, '0') + '\0', 'ascii'), at);
}

/** A ustar archive; `claimSize` past 8 GiB is written in GNU base-256 like GNU tar does. */
export function makeTar(items: TarItem[]): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const it of items) {
    const data = it.data ?? new Uint8Array(0);
    const h = new Uint8Array(512);
    h.set(Buffer.from(it.name, 'utf8').subarray(0, 100), 0);
    writeOctal(h, 100, 8, 0o644);
    writeOctal(h, 108, 8, 0);
    writeOctal(h, 116, 8, 0);
    const size = it.claimSize ?? data.length;
    if (size >= 8 ** 11) {
      h[124] = 0x80;
      let v = size;
      for (let i = 135; i > 124; i--, v = Math.floor(v / 256)) h[i] = v % 256;
    } else writeOctal(h, 124, 12, size);
    writeOctal(h, 136, 12, 0);
    h.fill(32, 148, 156);
    h[156] = (it.type ?? '0').charCodeAt(0);
    if (it.linkName) h.set(Buffer.from(it.linkName, 'utf8'), 157);
    h.set(Buffer.from('ustar\x0000', 'latin1'), 257);
    let sum = 0;
    for (const b of h) sum += b;
    h.set(Buffer.from(sum.toString(8).padStart(6, '0') + '\0 ', 'ascii'), 148);
    blocks.push(h, data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  blocks.push(new Uint8Array(1024));
  return new Uint8Array(Buffer.concat(blocks));
}

export const gzip = (b: Uint8Array): Uint8Array => new Uint8Array(gzipSync(b));

const made: string[] = [];

/** A fresh temporary folder, removed by removeTempDirs (each test file's afterAll). */
export function tempDir(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `pldr-legacy-${tag}-`));
  made.push(d);
  return d;
}

export function removeTempDirs(): void {
  for (const d of made.splice(0)) rmSync(d, {recursive: true, force: true});
  removeExtractedTokenizers(); // a test worker may be stopped without an exit event
}

/** tiny-public's hpdict written the way the authors write theirs (README of the reference). */
export const HYPERPARAMETERS_PY = `'''
Hyperparameters of PLDR-LLM-v51-tiny (a PLDR-LLM v510 model).
Load with pldr_run_model_v510.dist_pldr_model_e2e(..., hpdict=hpdict, ...).
'''
import torch.nn.functional as F

hpdict={"num_layers": 2,
        "d_model": 16,
        "num_heads": 2,
        "dff": 42,
        "num_reslayerA":2,
        "num_denseA":2,
        "A_dff":12,
        "input_vocab_size": 97,
        "max_seq_len":64,
        "epochs":1,
        "save_model_path": "tiny-public",
        "warmup_steps": 2,
        "lr_total_steps": 10,
        "learning_rate": 1e-3,   # peak rate
        "lr_alpha":0.1,
        "adamw_decay":0.1,
        "activation":F.silu,
        "device":'cpu',
        "auto_size_minimum": None,
        "disable_amp":True,
        "disable_fsdp_mixed_precision":True,
        "fsdp_cpu_offload":False,
        "fsdp_sharding_strategy":"NO_SHARD",
        "backward_prefetch":"PRE",
        "save_type": "torch",
        "DAG_reg_coeffs": [0.5, 0.0, 0.125],
      }
`;

/**
 * A folder in the older Hub layout built from fixtures/reference/tiny-public: its checkpoint
 * renamed, its hparams as a .py in the authors' style, our test tokenizer packed into a .tar.gz.
 */
export function makeLegacyFolder(
  opts: {py?: string; tarball?: Uint8Array; name?: string; fixture?: string} = {},
): string {
  const name = opts.name ?? 'PLDR-LLM-v51-tiny';
  const dir = tempDir('folder');
  copyFileSync(
    join(REFERENCE, opts.fixture ?? 'tiny-public', 'checkpoint.pth'),
    join(dir, `${name}-model-checkpoint.pth`),
  );
  writeFileSync(join(dir, `${name}_hyperparameters.py`), opts.py ?? HYPERPARAMETERS_PY);
  const tar =
    opts.tarball ??
    gzip(
      makeTar([
        {name: 'tokenizer/', type: '5'},
        {name: 'tokenizer/pldr-tiny.model', data: readFileSync(TOKENIZER)},
        {name: 'tokenizer/pldr-tiny.vocab', data: readFileSync(TOKENIZER.replace(/\.model$/, '.vocab'))},
      ]),
    );
  writeFileSync(join(dir, `${name}-tokenizer.tar.gz`), tar);
  return dir;
}

/** The PldrError message of `f`, which must throw one, in one line. */
export function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(PldrError);
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('expected a refusal');
}

/** A JSON-like object written as a Python dict display, the authors' way (True/False/None). */
export function pythonDict(name: string, obj: Record<string, unknown>): string {
  const py = (v: unknown): string =>
    v === null || v === undefined
      ? 'None'
      : v === true
        ? 'True'
        : v === false
          ? 'False'
          : Array.isArray(v)
            ? `[${v.map(py).join(', ')}]`
            : JSON.stringify(v);
  return `import torch.nn.functional as F\n\n${name}={${Object.entries(obj)
    .map(([k, v]) => `"${k}": ${py(v)}`)
    .join(',\n        ')},\n        "activation": F.silu}\n`;
}
