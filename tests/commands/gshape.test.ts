/**
 * A G list (or a v510G model's constant G) must have exactly the shape the model
 * needs per layer, not merely the right number of values. The legitimate layouts are [1, H, dk, dk]
 * (the reference's pickles, our safetensors) and [H, dk, dk].
 */
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {writeGListSafetensors} from '../../src/core/io/glist.js';
import type {HostTensor} from '../../src/core/io/tensor.js';
import {constantG} from '../../src/core/train/trainer.js';
import {makeModelDir, tinyConfig} from './models.js';
import {ok, oneLineError, pldr} from './run.js';

const H = 2;
const dk = 8; // tinyConfig: d_model 16, 2 heads
let tmp: string;
let model: string;

const identity = (shape: number[]): HostTensor => {
  const data = new Float32Array(H * dk * dk);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(i / dk) % dk === i % dk ? 1 : 0;
  return {dtype: 'F32', shape, data};
};

/** A G list file whose every tensor has `shape` (H·dk·dk values whatever the shape). */
function gFile(name: string, shape: number[], kind: 'tensors' | 'pairs'): string {
  const path = join(tmp, `${name}.safetensors`);
  const layers = [0, 1].map(() =>
    kind === 'tensors' ? {G_LM: identity(shape)} : {A_LM: identity([1, H, dk, dk]), G_LM: identity(shape)},
  );
  writeGListSafetensors(path, {kind, layers, metadata: {}});
  return path;
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pldr-gshape-'));
  model = makeModelDir(join(tmp, 'model'));
});
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

const WRONG: number[][] = [
  [1, dk, H, dk], // heads and rows swapped: same count, same last dimension
  [H * dk, dk],
  [1, 1, H * dk, dk],
];

/** A two-token generation from the tiny model with `g` as --g-init. */
const generateWithG = (g: string) => ['generate', '--model', model, '--ids', '5,6', '-n', '2', '--g-init', g];

describe('G shapes are checked exactly', () => {
  it('generate --g-init: [1, H, dk, dk] and [H, dk, dk] are taken', () => {
    for (const shape of [
      [1, H, dk, dk],
      [H, dk, dk],
    ])
      ok([...generateWithG(gFile(`ok-${shape.length}`, shape, 'pairs')), '--greedy']);
  });

  it('generate --g-init with a G of the right size but the wrong shape: one line naming layer, tensor, shapes', () => {
    for (const shape of WRONG) {
      const line = oneLineError(pldr(generateWithG(gFile(`bad-${shape.join('x')}`, shape, 'pairs'))));
      expect(line).toContain(`layer 0 G_LM has shape [${shape.join(', ')}], the model needs [1, ${H}, ${dk}, ${dk}]`);
    }
  });

  it('the constant G of a v510G model directory', () => {
    const bad = makeModelDir(join(tmp, 'g-model'), 'v510G', [identity([1, dk, H, dk]), identity([1, dk, H, dk])]);
    expect(oneLineError(pldr(['generate', '--model', bad, '--ids', '5', '-n', '1']))).toMatch(
      /G_LM of layer 0 has shape \[1, 8, 2, 8\], the model needs \[1, 2, 8, 8\]/,
    );
  });

  it('train --g-init (the constant G of a new v510G run)', () => {
    const cfg = tinyConfig('v510G');
    expect(constantG(cfg, gFile('ok-tensors', [1, H, dk, dk], 'tensors'), 0).map((g) => g.shape)).toEqual([
      [1, H, dk, dk],
      [1, H, dk, dk],
    ]);
    expect(() => constantG(cfg, gFile('bad-tensors', [1, dk, H, dk], 'tensors'), 0)).toThrow(
      /layer 0 G_LM has shape \[1, 8, 2, 8\], the model needs \[1, 2, 8, 8\]/,
    );
  });
});
