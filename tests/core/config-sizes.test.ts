/**
 * Absurd sizes are refused with one line naming the field and the limit, by
 * arithmetic alone (nothing listed or allocated), instead of crawling into V8's heap limit.
 */
import {describe, expect, it} from 'vitest';

import {checkModelFits, initBackend} from '../../src/core/backend.js';
import {
  backendBytes,
  configFromHparams,
  getPreset,
  MAX_STORED_VALUES,
  MAX_TENSORS,
  type ModelConfig,
  paramCounts,
  stateDictSpec,
  storedValues,
  tensorCount,
  validateConfig,
} from '../../src/core/config.js';
import {pldrMessage} from '../helpers.js';

const small = (over: Partial<ModelConfig> = {}): ModelConfig => ({
  ...getPreset('tiny'),
  input_vocab_size: 512,
  ...over,
});

/** A reference hparams dict of a tiny model, with `over` on top. */
const hparams = (over: Record<string, unknown>) => ({
  num_layers: 2,
  d_model: 16,
  num_heads: 2,
  dff: 42,
  A_dff: 12,
  num_reslayerA: 2,
  num_denseA: 2,
  input_vocab_size: 512,
  max_seq_len: 64,
  ...over,
});

describe('sizes a config may give', () => {
  it.each([
    [
      'num_layers',
      1e300,
      /num_layers 1e\+300 is over 9007199254740991, the largest whole number JavaScript counts exactly/,
    ],
    ['input_vocab_size', 2 ** 60, /input_vocab_size 1152921504606847000 is over 9007199254740991/],
    ['d_model', '64', /d_model must be a positive integer, got "64"/],
    ['max_seq_len', 0, /max_seq_len must be a positive integer, got 0/],
    ['dff', -5, /dff must be a positive integer, got -5/],
    ['num_heads', 2.5, /num_heads must be a positive integer, got 2.5/],
    ['A_dff', true, /A_dff must be a positive integer, got true/],
  ])('%s = %j is refused with one line naming it', (key, value, pattern) => {
    expect(pldrMessage(() => configFromHparams(hparams({[key]: value}), 'v510', 'hparams.json'))).toMatch(pattern);
  });

  it('a hand-built config gets the same checks (NaN, Infinity, huge)', () => {
    expect(pldrMessage(() => validateConfig(small({num_layers: NaN})))).toMatch(
      /^config: num_layers must be a positive integer, got null/,
    );
    expect(pldrMessage(() => validateConfig(small({d_model: Infinity})))).toMatch(
      /^config: d_model must be a positive integer/,
    );
    expect(pldrMessage(() => validateConfig(small({max_seq_len: 2 ** 53})))).toMatch(
      /^config: max_seq_len 9007199254740992 is over 9007199254740991/,
    );
  });

  it('d_model not divisible by num_heads is refused', () => {
    expect(pldrMessage(() => configFromHparams(hparams({d_model: 18, num_heads: 4}), 'v510', 'h'))).toBe(
      'h: d_model 18 is not divisible by num_heads 4',
    );
  });
});

describe('what no backend can hold', () => {
  it('tensorCount is the length of stateDictSpec, without listing it', () => {
    for (const cfg of [
      small(),
      small({num_layers: 7, num_reslayerA: 3, num_denseA: 4}),
      small({variant: 'v510G', num_reslayerA: 0, num_denseA: 0, A_dff: 0}),
    ]) {
      expect(tensorCount(cfg)).toBe(stateDictSpec(cfg).length);
    }
  });

  it('storedValues is the parameter count, plus the G list of a v510G model', () => {
    expect(storedValues(small())).toBe(paramCounts(small()).total);
    const g = small({variant: 'v510G', num_reslayerA: 0, num_denseA: 0, A_dff: 0});
    expect(storedValues(g)).toBe(paramCounts(g).total + 2 * 2 * 32 * 32);
  });

  it('too many layers for a model file: the tensor count, refused at once (2^31 layers used to fill the heap)', () => {
    const msg = pldrMessage(() => validateConfig(small({num_layers: 2 ** 31}), 'config.json'));
    expect(msg).toMatch(
      /^config\.json: num_layers 2147483648, num_reslayerA 2, num_denseA 2 make [\d,]+ tensors, over the 500,000 a model file can list .*: lower num_layers$/,
    );
    // the largest count that passes is a real model
    const N = Math.floor((MAX_TENSORS - 5) / (tensorCount(small({num_layers: 1})) - 5));
    expect(() => validateConfig(small({num_layers: N, d_model: 2, num_heads: 1, dff: 2, A_dff: 2}))).not.toThrow();
    expect(() => validateConfig(small({num_layers: N + 1, d_model: 2, num_heads: 1, dff: 2, A_dff: 2}))).toThrow(
      /tensors/,
    );
  });

  it('too many parameters for a model file names the part that makes most of them', () => {
    expect(
      pldrMessage(() => validateConfig(small({d_model: 1_000_000, num_heads: 2, dff: 42, A_dff: 12}), 'the model')),
    ).toMatch(
      /^the model: [\d,]+ parameters, over the 500,000,000 pldr can hold \(a model file is read whole, at most 2 GiB\): most come from num_layers 2 × d_model 1000000 squared, so lower those$/,
    );
    expect(pldrMessage(() => validateConfig(small({input_vocab_size: 10_000_000})))).toMatch(
      /most come from input_vocab_size 10000000 × d_model 64/,
    );
    expect(
      pldrMessage(() => validateConfig(small({num_layers: 100, d_model: 2048, num_heads: 16, dff: 5461, A_dff: 85}))),
    ).toMatch(/most come from num_layers 100 × d_model 2048 × dff 5461/);
    // just under the limit passes
    const V = Math.floor((MAX_STORED_VALUES - paramCounts(small({input_vocab_size: 0 + 1})).total) / 129);
    expect(() => validateConfig(small({input_vocab_size: V}))).not.toThrow();
  });

  it('a RoPE table longer than a typed array is refused, naming max_seq_len', () => {
    expect(pldrMessage(() => validateConfig(small({max_seq_len: 1e9})))).toBe(
      'config: max_seq_len 1000000000 × d_k 32 = 32,000,000,000 RoPE table entries, over the 4,294,967,296 a JavaScript typed array holds: lower max_seq_len',
    );
  });

  it('the presets are all within the limits', () => {
    for (const name of ['PLDRv51-104M', 'PLDRv51G-106M-1', 'tiny', 'small'])
      expect(() => validateConfig(getPreset(name))).not.toThrow();
  });
});

describe('what the backend can hold', () => {
  it("backendBytes: float32 weights (× 4 to train), a micro-batch's activations, two RoPE tables", () => {
    const cfg = small();
    const P = paramCounts(cfg).total;
    const rope = 4 * 2 * cfg.max_seq_len * 32;
    expect(backendBytes(cfg)).toEqual({weights: 4 * P, activations: 0, rope, total: 4 * P + rope});
    const perPosition = 12 * 512 + 2 * (64 * 64 + 32 * 170 + 10 * 2 * 128);
    const t = backendBytes(cfg, {rows: 8, context: 128});
    expect(t).toEqual({
      weights: 44 * P,
      activations: 4 * 8 * 128 * perPosition,
      rope,
      total: 44 * P + 4 * 8 * 128 * perPosition + rope,
    });
    const g = backendBytes(cfg, {prompt: 100, positions: 150});
    expect(g.activations).toBe(4 * (2 * 2 * 64 * 150 + 9 * 2 * 100 ** 2)); // K and V of 150 positions, a 100-token prompt pass
    expect(g.weights).toBe(4 * P);
  });

  it('on wasm, a paper model is held for inference but refused for training (a step aborted even at 1 × 128)', async () => {
    await initBackend('wasm');
    const cfg = getPreset('PLDRv51-110M-1');
    expect(() => checkModelFits(cfg)).not.toThrow();
    expect(pldrMessage(() => checkModelFits(cfg, {rows: 1, context: 128}))).toBe(
      "the model: training needs about 5.4 GB (4.8 GB for 109,689,362 parameters, their gradients, AdamW's moments and a step's temporaries; 585.0 MB for the activations of 1 × 128 positions; 0.5 MB for the RoPE tables of max_seq_len 1024), over the 4 GiB heap of the wasm backend: use a smaller model, --batch-size or --context, or --backend tensorflow",
    );
  });

  it('on wasm, a micro-batch too large is refused, and the usual ones pass', async () => {
    await initBackend('wasm');
    const cfg = small({input_vocab_size: 4000, max_seq_len: 257});
    expect(() => checkModelFits(cfg, {rows: 8, context: 256})).not.toThrow();
    expect(() => checkModelFits(validateConfig(getPreset('small')), {rows: 4, context: 128})).not.toThrow();
    expect(pldrMessage(() => checkModelFits(cfg, {rows: 8, context: 4096}))).toMatch(
      /^the model: training needs about 30\.3 GB \(.*; 30\.3 GB for the activations of 8 × 4096 positions; .*\), over the 4 GiB heap of the wasm backend/,
    );
  });
});
