/** The bench's model pieces: the end-token suppression, the presets, the modes, the fixed prompt. */
import * as tf from '@tensorflow/tfjs';
import {describe, expect, it} from 'vitest';

import {initBackend} from '../../../src/core/backend.js';
import {fixedPromptIds, suppressEnd} from '../../../src/core/bench/models.js';
import {findBenchPreset} from '../../../src/core/bench/presets.js';
import {BENCH_MODES, parseModes} from '../../../src/core/bench/protocol.js';
import {END_ID} from '../../../src/core/generate.js';
import {instantiate} from '../../../src/core/io/model-files.js';
import {initWeights} from '../../../src/core/train/init.js';
import {tinyConfig} from '../../commands/models.js';

describe('bench models', () => {
  it('suppressEnd pushes only the end logit down, and frees what it made', async () => {
    await initBackend('wasm');
    const cfg = tinyConfig();
    const model = instantiate({config: cfg, weights: initWeights(cfg, 3), source: 'test'});
    const before = tf.memory().numTensors;
    const view = suppressEnd(model, END_ID);
    const ids = [fixedPromptIds(cfg.input_vocab_size)];
    const a = model.forward(ids, {lastOnly: true});
    const b = view.model.forward(ids, {lastOnly: true});
    const za = a.logits.dataSync();
    const zb = b.logits.dataSync();
    expect(zb[END_ID]).toBeLessThan(-1e9);
    expect(Array.from(zb).filter((_, i) => i !== END_ID)).toEqual(Array.from(za).filter((_, i) => i !== END_ID));
    tf.dispose([a, b] as unknown as tf.TensorContainer);
    view.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('presets and modes', () => {
    expect(findBenchPreset('SDPA-GPT-Neo-125M').config).toMatchObject({
      variant: 'v510G',
      num_layers: 12,
      num_heads: 12,
      d_model: 768,
      input_vocab_size: 50257,
    });
    expect(findBenchPreset('PLDRv51-110M').name).toBe('PLDRv51-110M-1');
    expect(findBenchPreset('sdpa-110m').config).toMatchObject({
      variant: 'v510G',
      num_layers: 5,
      num_heads: 14,
      d_model: 896,
      source: 'identity',
    });
    expect(parseModes('nocache, kv_g,external')).toEqual(['none', 'kv+g', 'ext-g']);
    expect(parseModes(undefined)).toEqual([...BENCH_MODES]);
    const ids = fixedPromptIds(32000);
    expect(ids).toHaveLength(10);
    ids.forEach((id) => expect(id >= 4 && id < 32000).toBe(true));
  });
});
