/**
 * The Hugging Face pldrllm mapping (src/core/io/hf/): config.json ⇄ ModelConfig, weight names, and a
 * snapshot written from a reference checkpoint read back bit for bit.
 */
import {readFileSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import {getPreset} from '../../../../src/core/config.js';
import {PldrError} from '../../../../src/core/errors.js';
import {hfConfigToModel, hfKeyToRef, modelConfigToHf} from '../../../../src/core/io/hf/config.js';
import {applyGenerationConfig, describeGenerationDefaults} from '../../../../src/core/io/hf/generation.js';
import {readModelFiles, writeHfModelDir} from '../../../../src/core/io/model-files.js';
import {readSafetensors} from '../../../../src/core/io/safetensors.js';
import {fixture, tempDir} from '../../../helpers.js';
import {expectSameBits} from './bits.js';

const tmp = tempDir('hf-map');

/** The Hub's PLDR-LLM-v51-110M-1 config.json fields (as PldrllmConfig writes them). */
const HUB_110M = {
  A_dff: 170,
  architectures: ['PldrllmForCausalLM'],
  attention_bias: true,
  attention_dropout: 0.0,
  bos_token_id: 2,
  cache_first_G: false,
  custom_G_type: null,
  eos_token_id: 3,
  final_bias: true,
  glu_bias: true,
  head_dim: 64,
  hidden_act: 'silu',
  hidden_size: 896,
  initializer_range: 0.02,
  intermediate_size: 2389,
  layer_norm_eps: 1e-6,
  max_position_embeddings: 1024,
  model_type: 'pldrllm',
  num_attention_heads: 14,
  num_denseA: 2,
  num_hidden_layers: 5,
  num_reslayerA: 8,
  output_pldr_attentions: false,
  pad_token_id: 0,
  reference_rope: true,
  rope_scaling: null,
  rope_theta: 10000.0,
  tie_word_embeddings: false,
  torch_dtype: 'float32',
  use_cache: true,
  vocab_size: 32000,
};

function oneLine(fn: () => unknown, pattern: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(PldrError);
  const msg = (err as Error).message;
  expect(msg).not.toContain('\n');
  expect(msg).toMatch(pattern);
}

describe('config.json ⇄ ModelConfig', () => {
  it('maps the Hub 110M config onto the PLDRv51-110M-1 preset', () => {
    const hf = hfConfigToModel(HUB_110M, 'config.json');
    expect(hf.config).toEqual(getPreset('PLDRv51-110M-1'));
    expect(hf.architecture).toBe('PldrllmForCausalLM');
    expect(hf.referenceRope).toBe(true);
    expect(hf.customGType).toBe(null);
    expect(hf.tokens).toEqual({pad: 0, bos: 2, eos: [3]});
  });

  it('writes every field it reads, and reads back what it wrote', () => {
    const cfg = getPreset('PLDRv51-104M');
    const json = modelConfigToHf(cfg);
    expect(Object.keys(json).sort()).toEqual(Object.keys(HUB_110M).sort());
    expect(hfConfigToModel(json, 'x').config).toEqual(cfg);
    expect(modelConfigToHf(hfConfigToModel(HUB_110M, 'x').config)).toEqual(HUB_110M);
  });

  it('takes PldrllmConfig defaults for absent fields, and a fixed-G type as a v510G model', () => {
    const hf = hfConfigToModel({model_type: 'pldrllm', custom_G_type: 'identity'}, 'x');
    expect(hf.config).toEqual({...getPreset('PLDRv51G-106M-2'), source: 'identity'});
    expect(modelConfigToHf(hf.config).custom_G_type).toBe('identity');
    expect(modelConfigToHf({...hf.config, source: 'PLDRv51-110M-1'}).custom_G_type).toBe('external');
  });

  it('reads reference_rope false as GPT-NeoX RoPE (v52), and writes it back', () => {
    const hf = hfConfigToModel({...HUB_110M, reference_rope: false}, 'x');
    expect(hf.config).toEqual({...getPreset('PLDRv51-110M-1'), rope: 'neox'});
    expect(hf.referenceRope).toBe(false);
    expect(modelConfigToHf(hf.config).reference_rope).toBe(false);
  });

  it('reads each size field', () => {
    const c = hfConfigToModel(
      {
        ...HUB_110M,
        hidden_size: 64,
        num_attention_heads: 2,
        head_dim: 32,
        intermediate_size: 7,
        A_dff: 5,
        num_reslayerA: 3,
        num_denseA: 1,
        vocab_size: 99,
        max_position_embeddings: 77,
        num_hidden_layers: 4,
      },
      'x',
    ).config;
    expect(c).toEqual({
      variant: 'v510',
      num_layers: 4,
      d_model: 64,
      num_heads: 2,
      dff: 7,
      num_reslayerA: 3,
      num_denseA: 1,
      A_dff: 5,
      input_vocab_size: 99,
      max_seq_len: 77,
    });
    expect(hfConfigToModel({...HUB_110M, eos_token_id: [3, 1], pad_token_id: null}, 'x').tokens).toEqual({
      pad: null,
      bos: 2,
      eos: [3, 1],
    });
  });

  it('refuses what pldr cannot run, one line each', () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{model_type: 'llama'}, /model_type is "llama", not "pldrllm"/],
      [{head_dim: 32}, /head_dim 32 .* is not hidden_size 896/],
      [{num_key_value_heads: 2}, /num_key_value_heads 2/],
      [{rope_scaling: {rope_type: 'linear', factor: 2}}, /rope_scaling/],
      [{tie_word_embeddings: true}, /tie_word_embeddings is true/],
      [{attention_bias: false}, /attention_bias is false/],
      [{glu_bias: false}, /glu_bias is false/],
      [{final_bias: false}, /final_bias is false/],
      [{custom_G_type: 'learned'}, /custom_G_type "learned" is unknown/],
      [{layer_norm_eps: 1e-5}, /layer_norm_eps/],
      [{rope_theta: 500000}, /rope_theta/],
      [{hidden_act: 'gelu'}, /hidden_act/],
      [{architectures: ['PldrllmForQuestionAnswering']}, /architectures/],
      [{vocab_size: 0}, /vocab_size must be a positive integer/],
      [{eos_token_id: 40000}, /eos_token_id 40000 is outside the vocabulary/],
    ];
    for (const [patch, pattern] of bad) oneLine(() => hfConfigToModel({...HUB_110M, ...patch}, 'config.json'), pattern);
  });
});

describe('weight names', () => {
  it('are the reference state-dict names; a bare model lacks decoder.; buffers and heads are extras', () => {
    expect(hfKeyToRef('decoder.dec_layers.0.mha1.plgatt_layer.Wlst')).toBe(
      'decoder.dec_layers.0.mha1.plgatt_layer.Wlst',
    );
    expect(hfKeyToRef('final_layer.bias')).toBe('final_layer.bias');
    expect(hfKeyToRef('embedding.weight')).toBe('decoder.embedding.weight');
    expect(hfKeyToRef('decoder.past_G_values')).toBeUndefined();
    expect(hfKeyToRef('past_G_values_status')).toBeUndefined();
    expect(hfKeyToRef('score.weight')).toBeUndefined();
  });
});

describe('a snapshot written from the reference checkpoint', () => {
  it('holds the reference tensors bit for bit, sorted by name, metadata format pt', () => {
    const src = readModelFiles(fixture('tiny-public').checkpoint);
    const out = join(tmp, 'snap');
    writeHfModelDir(out, src);
    const st = readSafetensors(join(out, 'model.safetensors'));
    expect(st.metadata).toEqual({format: 'pt'});
    const names = [...st.tensors.keys()];
    expect(names).toEqual([...names].sort());
    expectSameBits(src.weights, st.tensors);
    const back = readModelFiles(out);
    expect(back.config).toEqual(src.config);
    expectSameBits(src.weights, back.weights);
    expect(back.hf?.hf.architecture).toBe('PldrllmForCausalLM');
  });

  it('refuses a config that another model type wrote', () => {
    const dir = join(tmp, 'llama');
    writeHfModelDir(dir, readModelFiles(fixture('tiny-public').checkpoint));
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({...cfg, model_type: 'llama'}));
    oneLine(() => readModelFiles(dir), /model_type is "llama", not "pldrllm"/);
  });
});

describe('generation_config.json as generate defaults', () => {
  const base = {temperature: 1, topK: 0, topP: 1, maxNewTokens: 50, greedy: false};

  it('fills in what no flag set, and says what it took and ignored', () => {
    const d = applyGenerationConfig(
      {do_sample: true, temperature: 0.7, top_k: 40, top_p: 0.9, max_new_tokens: 64, repetition_penalty: 1.2},
      base,
      new Set(),
    );
    expect(d.settings).toEqual({temperature: 0.7, topK: 40, topP: 0.9, maxNewTokens: 64, greedy: false});
    expect(describeGenerationDefaults(d, 'g.json')).toBe(
      'g.json: using temperature 0.7, top_k 40, top_p 0.9, max_new_tokens 64 (flags override); ignored repetition_penalty 1.2 (pldr has no such setting)',
    );
  });

  it('a flag wins; do_sample false is greedy unless a sampling flag was given; values the sampler refuses are ignored', () => {
    expect(applyGenerationConfig({temperature: 0.5}, base, new Set(['temperature'])).settings.temperature).toBe(1);
    expect(applyGenerationConfig({do_sample: false}, base, new Set()).settings.greedy).toBe(true);
    expect(applyGenerationConfig({do_sample: false}, base, new Set(['topP'])).settings.greedy).toBe(false);
    const d = applyGenerationConfig({temperature: 1.5, top_k: -1, max_new_tokens: 0}, base, new Set());
    expect(d.settings).toEqual(base);
    expect(d.ignored).toEqual([
      'temperature 1.5 (not in (0, 1])',
      'top_k -1 (not a whole number >= 0)',
      'max_new_tokens 0 (not a whole number >= 1)',
    ]);
    expect(
      describeGenerationDefaults(applyGenerationConfig({bos_token_id: 2, eos_token_id: 3}, base, new Set()), 'g.json'),
    ).toBeUndefined();
  });
});
