/** An older-Hub-layout folder read into ModelFiles: same weights as the reference .pth, tokenizer out of the tarball. */
import {copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {basename, dirname, join, relative} from 'node:path';

import {afterAll, describe, expect, it} from 'vitest';

import {findLegacyHub} from '../../../src/core/io/legacy-hub.js';
import {readModelFiles} from '../../../src/core/io/model-files.js';
import {readModelConfig} from '../../../src/core/io/modelconfig.js';
import {Tokenizer} from '../../../src/core/tokenizer.js';
import {REFERENCE} from '../../helpers.js';
import {
  gzip,
  HYPERPARAMETERS_PY,
  makeLegacyFolder,
  makeTar,
  refusal,
  removeTempDirs,
  TOKENIZER,
} from './legacy-build.js';

afterAll(removeTempDirs);

describe('older Hub layout folder', () => {
  it('reads the same config and weights as the .pth with its hparams.json, and the tokenizer from the tarball', async () => {
    const dir = makeLegacyFolder();
    const legacy = readModelFiles(dir);
    const ref = readModelFiles(join(REFERENCE, 'tiny-public', 'checkpoint.pth'));
    expect(legacy.config).toEqual(ref.config);
    expect([...legacy.weights.keys()]).toEqual([...ref.weights.keys()]);
    for (const [k, t] of ref.weights)
      expect(Buffer.from(legacy.weights.get(k)!.data.buffer).equals(Buffer.from(t.data.buffer)), k).toBe(true);
    expect([legacy.loss, legacy.accuracy]).toEqual([ref.loss, ref.accuracy]);
    // the tokenizer: the tarball's .model, byte for byte, in a private temporary folder
    expect(legacy.tokenizer).toBeDefined();
    expect(legacy.tokenizer!.startsWith(dir)).toBe(false);
    expect(readFileSync(legacy.tokenizer!).equals(readFileSync(TOKENIZER))).toBe(true);
    const tok = await Tokenizer.load(legacy.tokenizer!);
    expect(tok.vocabSize).toBe(512);
    // readModelConfig (pldr info) sees the same config, read from the .py
    expect(readModelConfig(dir)).toEqual({
      config: ref.config,
      source: join(dir, 'PLDR-LLM-v51-tiny_hyperparameters.py'),
    });
  });

  it('a PLDRv51G folder: the G list its Gcachelst names, found in the folder, as with the .pth', () => {
    const py = HYPERPARAMETERS_PY.replace(/ *"(num_reslayerA|num_denseA|A_dff|DAG_reg_coeffs)".*\n/g, '').replace(
      '"save_type": "torch",',
      '"save_type": "torch",\n        "Gcachelst": "/home/someone/ablation/G_LM.safetensors",',
    );
    const dir = makeLegacyFolder({fixture: 'tiny-G-random', py});
    copyFileSync(join(REFERENCE, 'tiny-G-random', 'G_LM.safetensors'), join(dir, 'G_LM.safetensors'));
    const legacy = readModelFiles(dir);
    const ref = readModelFiles(join(REFERENCE, 'tiny-G-random', 'checkpoint.pth'));
    expect(legacy.config).toEqual(ref.config);
    expect(legacy.config.variant).toBe('v510G');
    for (const [k, t] of ref.weights)
      expect(Buffer.from(legacy.weights.get(k)!.data.buffer).equals(Buffer.from(t.data.buffer)), k).toBe(true);
    expect(legacy.G!.map((g) => Array.from(g.data))).toEqual(ref.G!.map((g) => Array.from(g.data)));
    rmSync(join(dir, 'G_LM.safetensors'));
    expect(refusal(() => readModelFiles(dir))).toBe(
      `${join(dir, 'PLDR-LLM-v51-tiny_hyperparameters.py')}: the G list of this PLDRv51G model (Gcachelst "/home/someone/ablation/G_LM.safetensors") is not in ${dir}`,
    );
  });

  it('lists what it did not use', () => {
    const dir = makeLegacyFolder();
    writeFileSync(join(dir, 'README.md'), '# model card');
    const hub = findLegacyHub(dir)!;
    expect(hub.ignored).toEqual([
      'PLDR-LLM-v51-tiny_hyperparameters.py line 5: import torch.nn.functional as F (not run)',
      'PLDR-LLM-v51-tiny_hyperparameters.py line 23: activation (F.silu; not needed)',
      'README.md (not used)',
    ]);
  });

  it('opens the checkpoint given as a file, and asks which when the folder holds two', () => {
    const dir = makeLegacyFolder();
    copyFileSync(
      join(dir, 'PLDR-LLM-v51-tiny-model-checkpoint.pth'),
      join(dir, 'PLDR-LLM-v51-tiny-2-model-checkpoint.pth'),
    );
    expect(refusal(() => readModelFiles(dir))).toBe(
      `${dir} holds 2 checkpoints (PLDR-LLM-v51-tiny-2-model-checkpoint.pth, PLDR-LLM-v51-tiny-model-checkpoint.pth): say which, e.g. --model ${join(dir, 'PLDR-LLM-v51-tiny-2-model-checkpoint.pth')}`,
    );
    const one = readModelFiles(join(dir, 'PLDR-LLM-v51-tiny-2-model-checkpoint.pth'));
    expect(one.config.num_layers).toBe(2);
  });

  it('uses only a safe regular .model from the tarball: not a symlink, not one outside the archive; a gzip bomb is refused', () => {
    const tokenizer = readFileSync(TOKENIZER);
    const hostile = gzip(
      makeTar([
        {name: '../../escaped.model', data: new Uint8Array([1, 2, 3])},
        {name: 'link.model', type: '2', linkName: '/etc/passwd'},
        {name: 'tok/pldr-tiny.model', data: tokenizer},
      ]),
    );
    const dir = makeLegacyFolder({tarball: hostile});
    const files = readModelFiles(dir);
    expect(readFileSync(files.tokenizer!).equals(tokenizer)).toBe(true);
    // Only the chosen .model is written, alone in its own folder under the temporary directory; the
    // escaping entry lands nowhere (not beside the folder, not in the temporary directory itself).
    // (Other test files create and remove folders in tmpdir() at the same time: no counting there.)
    expect(readdirSync(dirname(files.tokenizer!))).toEqual([basename(files.tokenizer!)]);
    expect(relative(tmpdir(), files.tokenizer!).startsWith('..')).toBe(false);
    for (const where of [
      join(dir, '..'),
      dir,
      tmpdir(),
      dirname(files.tokenizer!),
      join(dirname(files.tokenizer!), '..'),
    ])
      expect(existsSync(join(where, 'escaped.model')), where).toBe(false);

    const onlyBad = makeLegacyFolder({
      tarball: gzip(
        makeTar([
          {name: '../x.model', data: new Uint8Array(4)},
          {name: 'y.model', type: '2', linkName: '../x'},
        ]),
      ),
    });
    const tgz = join(onlyBad, 'PLDR-LLM-v51-tiny-tokenizer.tar.gz');
    const bomb = makeLegacyFolder({tarball: gzip(new Uint8Array(65 * 2 ** 20))}); // inflates past the 64 MiB cap
    expect(refusal(() => readModelFiles(bomb))).toBe(
      `${join(bomb, 'PLDR-LLM-v51-tiny-tokenizer.tar.gz')} inflates to more than ${64 * 2 ** 20} bytes, more than a tokenizer archive can hold: refusing it: move the archive out of the folder and pass --tokenizer FILE.model`,
    );
    expect(refusal(() => readModelFiles(onlyBad))).toBe(
      `${tgz} holds no SentencePiece .model that is a regular file inside the archive: move the archive out of the folder and pass --tokenizer FILE.model`,
    );
  });

  it('refuses a folder whose .py lacks a needed value, or that has no checkpoint, with one line', () => {
    const dir = makeLegacyFolder({py: 'hpdict = {"num_layers": 2, "num_heads": 2, "d_model": 16}\n'});
    expect(refusal(() => readModelFiles(dir))).toBe(
      `${join(dir, 'PLDR-LLM-v51-tiny_hyperparameters.py')}: missing hyper-parameter input_vocab_size`,
    );
    rmSync(join(dir, 'PLDR-LLM-v51-tiny-model-checkpoint.pth'));
    expect(refusal(() => readModelFiles(dir))).toBe(
      `${dir} has PLDR-LLM-v51-tiny_hyperparameters.py but no model checkpoint (*-model-checkpoint.pth)`,
    );
  });
});
