/** The older Hub layout from outside: `pldr generate/convert/info --model FOLDER`, and hostile folders. */
import {createHash} from 'node:crypto';
import {existsSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {afterAll, describe, expect, it} from 'vitest';

import {hparamsFromConfig} from '../../src/core/config.js';
import {readGList} from '../../src/core/io/glist.js';
import {writeModelDir, writeReferenceCheckpoint} from '../../src/core/io/model-files.js';
import {initWeights} from '../../src/core/train/init.js';
import {tinyConfig, TOKENIZER} from './models.js';
import {fixture} from '../helpers.js';
import {ok, oneLineError, pldr} from './run.js';
import {HYPERPARAMETERS_PY, makeLegacyFolder, pythonDict, removeTempDirs, tempDir} from '../core/io/legacy-build.js';

const json = (args: string[]) => JSON.parse(ok(args).stdout);
afterAll(removeTempDirs);
const folder = makeLegacyFolder;

describe('pldr with a folder in the older Hub layout', () => {
  const f = fixture('tiny-public');
  const prompt = f.json.generation.gen.prompt_ids.join(',');

  it('generates the same ids and log-probs as the .pth with hparams.json, in every cache mode', () => {
    const dir = folder();
    for (const [mode, cache] of [
      ['nocache', 'none'],
      ['kv', 'kv'],
      ['kv_g', 'kv+g'],
      ['g', 'g'],
    ]) {
      const args = ['--ids', prompt, '--greedy', '--max-new-tokens', '16', '--cache', cache, '--json'];
      const fromFolder = json(['generate', '--model', dir, ...args]);
      const fromPth = json(['generate', '--model', f.checkpoint, ...args]);
      expect(fromFolder.ids, mode).toEqual(f.json.generation.gen.modes[mode].ids);
      expect(fromFolder.ids).toEqual(fromPth.ids);
      expect(fromFolder.logprobs).toEqual(fromPth.logprobs); // same weights, same code: exactly equal
    }
  });

  it('converts to a model directory that generates the same (tokenizer included) and back to the .pth byte for byte; info reads it', () => {
    const dir = folder();
    const out = tempDir('out');
    ok(['convert', dir, join(out, 'm'), '--to', 'pldr']);
    expect(existsSync(join(out, 'm', 'tokenizer.model'))).toBe(true);
    // --to pth gives back the reference's checkpoint byte for byte (its zip folder is named after the file)
    ok(['convert', dir, join(out, 'checkpoint.pth'), '--to', 'pth']);
    expect(readFileSync(join(out, 'checkpoint.pth')).equals(readFileSync(f.checkpoint))).toBe(true);
    const args = ['--ids', prompt, '--greedy', '--max-new-tokens', '8', '--json'];
    expect(json(['generate', '--model', join(out, 'm'), ...args]).ids).toEqual(
      json(['generate', '--model', dir, ...args]).ids,
    );
    const info = ok(['info', dir]).stdout;
    expect(info).toContain(
      'older Hub layout (.pth + _hyperparameters.py + tokenizer tarball)\n  checkpoint        PLDR-LLM-v51-tiny-model-checkpoint.pth\n',
    );
    expect(info).toContain(
      '  tokenizer         PLDR-LLM-v51-tiny-tokenizer.tar.gz (tokenizer/pldr-tiny.model inside)\n',
    );
    expect(json(['info', dir, '--json']).legacy.ignored).toEqual([
      'PLDR-LLM-v51-tiny_hyperparameters.py line 5: import torch.nn.functional as F (not run)',
      'PLDR-LLM-v51-tiny_hyperparameters.py line 23: activation (F.silu; not needed)',
    ]);
  });

  it('encodes a text prompt with the tokenizer from inside the tarball, as the same model with its tokenizer.model does', () => {
    // a 512-piece model (our test tokenizer's size) written in the older Hub layout
    const config = tinyConfig('v510');
    const files = {config, weights: initWeights(config, 3), tokenizer: TOKENIZER, source: 'test'};
    const dir = tempDir('text');
    writeModelDir(join(dir, 'as-dir'), files);
    const legacy = makeLegacyFolder({py: pythonDict('hpdict', hparamsFromConfig(config))});
    const pth = join(legacy, 'PLDR-LLM-v51-tiny-model-checkpoint.pth');
    writeReferenceCheckpoint(pth, files);
    rmSync(pth.replace(/\.pth$/, '_hparams.json'));
    const args = ['the cat sat on the mat', '--greedy', '--max-new-tokens', '6', '--json'];
    const a = json(['generate', '--model', legacy, ...args]);
    expect(a.ids.length).toBeGreaterThan(6);
    const b = json(['generate', '--model', join(dir, 'as-dir'), ...args]);
    for (const k of ['ids', 'text', 'logprobs']) expect(a[k], k).toEqual(b[k]);
  });

  it('export-g from the folder gives the G of the .pth, and names the checkpoint by its sha256', () => {
    const dir = folder();
    const out = tempDir('g');
    ok(['export-g', dir, '--ids', prompt, '-o', join(out, 'folder.safetensors')]);
    ok(['export-g', f.checkpoint, '--ids', prompt, '-o', join(out, 'pth.safetensors')]);
    const [a, b] = ['folder', 'pth'].map((n) => readGList(join(out, `${n}.safetensors`)));
    expect(a.layers.map((l) => Array.from(l.G_LM.data))).toEqual(b.layers.map((l) => Array.from(l.G_LM.data)));
    expect(a.metadata.model_sha256).toBe(createHash('sha256').update(readFileSync(f.checkpoint)).digest('hex'));
  });

  it('never runs a hostile hyperparameters.py: one error line, no marker file', () => {
    const scratch = tempDir('marker');
    const marker = join(scratch, 'MARKER');
    const hostile: [string, RegExp][] = [
      [
        `import os\nos.system("touch ${marker}")\n${HYPERPARAMETERS_PY}`,
        /_hyperparameters\.py:2: a statement that is not an assignment, not data/,
      ],
      [
        `__import__('os').system('touch ${marker}')\n${HYPERPARAMETERS_PY}`,
        /_hyperparameters\.py:1: a statement that is not an assignment/,
      ],
      [
        HYPERPARAMETERS_PY.replace('"max_seq_len":64', `"max_seq_len": open('${marker}', 'w').write('x')`),
        /_hyperparameters\.py:15: max_seq_len is a call of open, not a plain value/,
      ],
      [
        HYPERPARAMETERS_PY.replace('"num_layers": 2', '"num_layers": 9**9**9**9'),
        /_hyperparameters\.py:7: num_layers is the operator "\*\*", not a plain value/,
      ],
      [
        HYPERPARAMETERS_PY.replace('"num_layers": 2', `"num_layers": ${'['.repeat(5000)}`),
        /_hyperparameters\.py:7: brackets nested more than 32 deep/,
      ],
      [
        `x = "${'a'.repeat(10 * 2 ** 20)}"\n${HYPERPARAMETERS_PY}`,
        /_hyperparameters\.py: \d+ bytes is too large for a hyper-parameter file \(limit 1 MiB\)/,
      ],
      [`x = 'unterminated\n${HYPERPARAMETERS_PY}`, /_hyperparameters\.py:1: unterminated string/],
    ];
    for (const [py, msg] of hostile) {
      const dir = folder({py});
      expect(
        oneLineError(pldr(['generate', '--model', dir, '--ids', prompt, '--greedy', '--max-new-tokens', '2'])),
      ).toMatch(msg);
      expect(existsSync(marker)).toBe(false);
    }
    // an `import os` alone is skipped, not run: the model opens
    const dir = folder({py: `import os\n${HYPERPARAMETERS_PY}`});
    expect(
      json(['generate', '--model', dir, '--ids', prompt, '--greedy', '--max-new-tokens', '4', '--json']).ids,
    ).toHaveLength(f.json.generation.gen.prompt_ids.length + 4);
  });

  it('a folder with two checkpoints asks which, in one line', () => {
    const dir = folder();
    writeFileSync(join(dir, 'other-model-checkpoint.pth'), '');
    expect(oneLineError(pldr(['generate', '--model', dir, '--ids', prompt]))).toBe(
      `error: ${dir} holds 2 checkpoints (PLDR-LLM-v51-tiny-model-checkpoint.pth, other-model-checkpoint.pth): say which, e.g. --model ${join(dir, 'PLDR-LLM-v51-tiny-model-checkpoint.pth')}`,
    );
  });
});
