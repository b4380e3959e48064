/** Small model directories built at test time from our own tokenizer (fixtures/tokenizer/). */
import {copyFileSync, mkdirSync} from 'node:fs';
import {join} from 'node:path';

import type {ModelConfig} from '../../src/core/config.js';
import {writeModelDir} from '../../src/core/io/model-files.js';
import type {HostTensor} from '../../src/core/io/tensor.js';
import {initWeights} from '../../src/core/train/init.js';
import {ROOT} from '../helpers.js';

export const TOKENIZER = join(ROOT, 'fixtures', 'tokenizer', 'pldr-tiny.model');
export const TOKENIZER_VOCAB = 512;

export function tinyConfig(variant: ModelConfig['variant'] = 'v510'): ModelConfig {
  const full = variant !== 'v510G';
  return {
    variant,
    num_layers: 2,
    d_model: 16,
    num_heads: 2,
    dff: 42,
    num_reslayerA: full ? 2 : 0,
    num_denseA: full ? 2 : 0,
    A_dff: full ? 12 : 0,
    input_vocab_size: TOKENIZER_VOCAB,
    max_seq_len: 64,
  };
}

/** A freshly initialised model directory with our tokenizer; v510G models get the G given. */
export function makeModelDir(
  dir: string,
  variant: ModelConfig['variant'] = 'v510',
  G?: HostTensor[],
  seed = 7,
): string {
  const config = tinyConfig(variant);
  const weights = initWeights(config, seed);
  mkdirSync(dir, {recursive: true});
  const tok = join(dir, '..', `tok-${seed}.model`);
  copyFileSync(TOKENIZER, tok);
  writeModelDir(dir, {config, weights, G, tokenizer: tok, source: 'test'});
  return dir;
}
