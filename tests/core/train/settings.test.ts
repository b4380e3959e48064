/**
 * A run's settings from train's flags (src/core/train/settings.ts): the default model is the tiny
 * preset, the flags override it, a resume takes only its limits, durations parse.
 */
import {describe, expect, it} from 'vitest';

import {getPreset} from '../../../src/core/config.js';
import {
  checkResumeFlags,
  limitsFromFlags,
  parseDuration,
  settingsFromFlags,
  type TrainFlags,
} from '../../../src/core/train/settings.js';

/** train's flags with their defaults, as oclif parses them. */
const DEFAULTS: TrainFlags = {
  corpus: ['notes/'],
  force: false,
  split: 'paragraphs',
  'text-field': 'text',
  rope: 'reference',
  context: 256,
  'batch-size': 8,
  'grad-accum': 1,
  lr: '1e-3',
  warmup: 100,
  'lr-alpha': '0.1',
  'weight-decay': '0.1',
  validation: '0.02',
  'val-every': 100,
  'val-batches': 20,
  'ckpt-every': 200,
  'log-every': 10,
  seed: 1234,
};

describe('train settings', () => {
  it('without a preset the model is the tiny preset; its width flags recompute the widths they imply', () => {
    const tiny = getPreset('tiny');
    const s = settingsFromFlags(DEFAULTS, {maxSteps: 300});
    expect(s.config).toEqual({...tiny, max_seq_len: 257});
    expect(s.recipe).toEqual({
      lr: 1e-3,
      warmup: 100,
      totalSteps: 300,
      alpha: 0.1,
      weightDecay: 0.1,
      clip: 1,
      gradAccum: 1,
    });
    const wide = settingsFromFlags({...DEFAULTS, 'd-model': 128}, {}).config;
    expect([wide.d_model, wide.dff, wide.A_dff]).toEqual([128, 341, 170]);
    expect(() => settingsFromFlags({...DEFAULTS, lr: '0'}, {})).toThrow(/--lr must be a number above 0/);
    expect(() => settingsFromFlags({...DEFAULTS, 'g-init': 'identity'}, {})).toThrow(/--variant v510G/);
  });

  it('a resume takes its limits and where it computes, nothing else', () => {
    expect(() =>
      checkResumeFlags([
        {type: 'flag', flag: 'resume'},
        {type: 'flag', flag: 'max-steps'},
        {type: 'flag', flag: 'backend'},
      ]),
    ).not.toThrow();
    expect(() => checkResumeFlags([{type: 'flag', flag: 'context'}])).toThrow(
      /^--context does not apply to a resume .*: a resume takes only --max-steps, --max-tokens, --time-limit, --total-steps, --json, --backend, --threads$/,
    );
  });

  it('limits and durations', () => {
    expect(limitsFromFlags({'max-steps': 5, 'time-limit': '1h30m'})).toEqual({
      maxSteps: 5,
      maxTokens: undefined,
      timeLimitS: 5400,
      totalSteps: undefined,
    });
    expect([parseDuration('90'), parseDuration('90s'), parseDuration('2m'), parseDuration('1.5h')]).toEqual([
      90, 90, 120, 5400,
    ]);
    expect(() => parseDuration('soon')).toThrow(/--time-limit must look like/);
    expect(() => limitsFromFlags({'max-steps': 0})).toThrow(/--max-steps must be at least 1/);
  });
});
