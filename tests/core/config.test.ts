import {readFileSync} from 'node:fs';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import {pldrMessage} from '../helpers.js';

import {
  checkStateDict,
  configFromHparams,
  dk,
  getPreset,
  hparamsFromConfig,
  type ModelConfig,
  paramCounts,
  PRESETS,
  presetNames,
  specTotal,
  stateDictSpec,
  validateConfig,
} from '../../src/core/config.js';
import {PldrError} from '../../src/core/errors.js';
import {numel, type StateDict} from '../../src/core/io/tensor.js';

const REF = join(import.meta.dirname, '../../fixtures/reference');
const FIXTURES = ['tiny-public', 'tiny-G-identity', 'tiny-G-random'] as const;

function readJson(path: string): any {
  return JSON.parse(readFileSync(path, 'utf8'));
}

function fixtureConfig(name: string): ModelConfig {
  return configFromHparams(readJson(join(REF, name, 'hparams.json')));
}

/** A zero-filled state dict with exactly the keys and shapes the config implies. */
function zeroStateDict(cfg: ModelConfig): StateDict {
  const sd: StateDict = new Map();
  for (const {key, shape} of stateDictSpec(cfg))
    sd.set(key, {dtype: 'F32', shape, data: new Float32Array(numel(shape))});
  return sd;
}

describe('paper presets (docs/spec.md §3.15, Table 1)', () => {
  const TOTALS: Record<string, number> = {
    'PLDRv51-104M': 104_237_120,
    'PLDRv51-110M-1': 109_689_362,
    'PLDRv51-110M-2': 109_689_362,
    'PLDRv51-110M-3': 109_844_562,
    'PLDRv51-110M-4': 109_860_082,
    'PLDRv51-110M-5': 110_092_882,
    'PLDRv51-DAG-110M': 109_689_362,
    'PLDRv51Gi-99M': 98_807_808,
    'PLDRv51Gi-106M-1': 105_606_482,
    'PLDRv51Gi-106M-2': 105_606_482,
    'PLDRv51Gi-106M-3': 105_606_482,
    'PLDRv51Gi-106M-4': 105_606_482,
    'PLDRv51Gi-106M-5': 105_606_482,
    'PLDRv51Gi-DAG-106M': 105_606_482,
    'PLDRv51G-106M-1': 105_606_482,
    'PLDRv51G-106M-2': 105_606_482,
    'PLDRv51G-106M-3': 105_606_482,
  };

  it('has every Table 1 model, then the CPU presets', () => {
    expect(presetNames()).toEqual([...Object.keys(TOTALS), 'tiny', 'small']);
  });

  for (const [name, total] of Object.entries(TOTALS)) {
    it(`${name} has ${total.toLocaleString('en-US')} parameters`, () => {
      const cfg = getPreset(name);
      expect(paramCounts(cfg).total).toBe(total);
      // The formula and the key layout agree.
      expect(specTotal(cfg)).toBe(total);
    });
  }

  it('reproduces the #ResL/d_k^2 column', () => {
    const ratio = (n: string) => paramCounts(getPreset(n)).resLOverDk2.toFixed(2);
    expect(ratio('PLDRv51-110M-1')).toBe('129.33');
    expect(ratio('PLDRv51-104M')).toBe('129.33');
    expect(ratio('PLDRv51-110M-3')).toBe('136.91');
    expect(ratio('PLDRv51-110M-4')).toBe('137.66');
    expect(ratio('PLDRv51-110M-5')).toBe('149.03');
    expect(paramCounts(getPreset('PLDRv51-110M-1')).per_layer.metric_learner).toBe(529_728);
    expect(paramCounts(getPreset('PLDRv51-110M-5')).per_layer.metric_learner).toBe(610_432);
  });

  it('the part G replaces is the difference between a v51 model and its Gi', () => {
    for (const [v51, gi] of [
      ['PLDRv51-104M', 'PLDRv51Gi-99M'],
      ['PLDRv51-110M-1', 'PLDRv51Gi-106M-1'],
      ['PLDRv51-DAG-110M', 'PLDRv51Gi-DAG-106M'],
    ]) {
      const p = paramCounts(getPreset(v51));
      expect(p.total - p.replaced_by_G).toBe(paramCounts(getPreset(gi)).total);
    }
    expect(paramCounts(getPreset('PLDRv51G-106M-2')).replaced_by_G).toBe(0);
  });

  it('records variants, DAG coefficients and G sources', () => {
    expect(getPreset('PLDRv51-DAG-110M').variant).toBe('v510_dag');
    expect(getPreset('PLDRv51-DAG-110M').DAG_reg_coeffs).toEqual([0.05, 0.05, 0.05]);
    const gi = getPreset('PLDRv51Gi-99M');
    expect(gi.variant).toBe('v510G');
    expect([gi.num_reslayerA, gi.num_denseA, gi.A_dff]).toEqual([0, 0, 0]);
    expect(gi.source).toContain('PLDRv51-104M');
    expect(getPreset('PLDRv51G-106M-2').source).toBe('identity');
    for (const p of Object.values(PRESETS)) {
      expect(p.description.length).toBeGreaterThan(10);
      expect(p.description).not.toContain('\n');
    }
    expect(PRESETS['PLDRv51-104M'].description).toContain('8000');
  });

  it('paper presets use d_k 64, V 32000, P_max 1024, dff floor(8d/3)', () => {
    for (const name of presetNames().filter((n) => n.startsWith('PLDR'))) {
      const cfg = getPreset(name);
      expect(dk(cfg)).toBe(64);
      expect(cfg.input_vocab_size).toBe(32000);
      expect(cfg.max_seq_len).toBe(1024);
      expect(cfg.dff).toBe(Math.floor((8 * cfg.d_model) / 3));
    }
    expect(getPreset('PLDRv51-110M-1').dff).toBe(2389);
    expect(getPreset('PLDRv51-104M').dff).toBe(2048);
  });

  it('CPU presets are small and valid', () => {
    const tiny = getPreset('tiny');
    expect(dk(tiny) % 2).toBe(0);
    expect(paramCounts(tiny).total).toBeLessThan(5_000_000);
    const small = paramCounts(getPreset('small')).total;
    expect(small).toBeGreaterThan(8_000_000);
    expect(small).toBeLessThan(12_000_000);
  });

  it('matches names case-insensitively and lists valid names on a miss', () => {
    expect(getPreset('pldrv51-110m-1')).toEqual(getPreset('PLDRv51-110M-1'));
    const msg = pldrMessage(() => getPreset('nope'));
    expect(msg).toContain('nope');
    expect(msg).toContain('PLDRv51-104M');
    expect(msg).toContain('tiny');
  });

  it('getPreset returns a copy', () => {
    const a = getPreset('PLDRv51-DAG-110M');
    a.num_layers = 99;
    a.DAG_reg_coeffs![0] = 9;
    expect(getPreset('PLDRv51-DAG-110M').num_layers).toBe(5);
    expect(getPreset('PLDRv51-DAG-110M').DAG_reg_coeffs).toEqual([0.05, 0.05, 0.05]);
  });
});

describe('fixture models', () => {
  it('reads the three hparams.json files', () => {
    const pub = fixtureConfig('tiny-public');
    expect(pub).toEqual({
      variant: 'v510',
      num_layers: 2,
      d_model: 16,
      num_heads: 2,
      dff: 42,
      num_reslayerA: 2,
      num_denseA: 2,
      A_dff: 12,
      input_vocab_size: 97,
      max_seq_len: 64,
      DAG_reg_coeffs: [0.5, 0, 0.125],
    });
    for (const name of ['tiny-G-identity', 'tiny-G-random']) {
      expect(fixtureConfig(name)).toEqual({
        variant: 'v510G',
        num_layers: 2,
        d_model: 16,
        num_heads: 2,
        dff: 42,
        num_reslayerA: 0,
        num_denseA: 0,
        A_dff: 0,
        input_vocab_size: 97,
        max_seq_len: 64,
      });
    }
  });

  for (const name of FIXTURES) {
    it(`${name}: stateDictSpec equals state_dict_keys.json (keys, shapes, order) and the totals agree`, () => {
      const ref = readJson(join(REF, name, 'state_dict_keys.json'));
      const cfg = fixtureConfig(name);
      const spec = stateDictSpec(cfg);
      expect(spec).toEqual(ref.keys.map((k: {key: string; shape: number[]}) => ({key: k.key, shape: k.shape})));
      expect(spec.length).toBe(ref.num_tensors);
      expect(paramCounts(cfg).total).toBe(ref.num_parameters);
      expect(specTotal(cfg)).toBe(ref.num_parameters);
      expect(checkStateDict(cfg, zeroStateDict(cfg), name)).toBeUndefined();
    });
  }

  it('totals are 13,705 and 9,769', () => {
    expect(paramCounts(fixtureConfig('tiny-public')).total).toBe(13_705);
    expect(paramCounts(fixtureConfig('tiny-G-identity')).total).toBe(9_769);
  });

  it('v510_dag has the same keys as v510', () => {
    const cfg = fixtureConfig('tiny-public');
    expect(stateDictSpec({...cfg, variant: 'v510_dag'})).toEqual(stateDictSpec(cfg));
  });

  it('Gi keys = v510 keys without reslayerAs, plgatt_layer, mha1.layernorm1', () => {
    const v510 = stateDictSpec(fixtureConfig('tiny-public')).map((s) => s.key);
    const g = stateDictSpec(fixtureConfig('tiny-G-identity')).map((s) => s.key);
    expect(v510.filter((k) => !/reslayerAs|plgatt_layer|mha1\.layernorm1/.test(k))).toEqual(g);
  });
});

describe('configFromHparams / hparamsFromConfig', () => {
  const base = {num_layers: 2, d_model: 16, num_heads: 2, input_vocab_size: 97, max_seq_len: 64};

  it('applies the reference defaults', () => {
    const cfg = configFromHparams({...base, d_model: 896, num_heads: 14});
    expect(cfg.dff).toBe(2389);
    expect(cfg.A_dff).toBe(170);
    expect(cfg.num_reslayerA).toBe(8);
    expect(cfg.num_denseA).toBe(2);
    expect(configFromHparams({...base, d_model: undefined, dk: 8}).d_model).toBe(16);
  });

  it('uses the variant hint (v510 and v510_dag write the same keys)', () => {
    expect(configFromHparams(base).variant).toBe('v510');
    expect(configFromHparams(base, 'v510_dag').variant).toBe('v510_dag');
    expect(configFromHparams({...base, Gcachelst: 'g.pkl'}).variant).toBe('v510G');
    expect(() => configFromHparams({...base, Gcachelst: 'g.pkl'}, 'v510')).toThrow(PldrError);
  });

  for (const name of FIXTURES) {
    it(`round-trips ${name}`, () => {
      const cfg = fixtureConfig(name);
      expect(configFromHparams(hparamsFromConfig(cfg))).toEqual(cfg);
    });
  }

  it('round-trips every preset (with the variant for DAG)', () => {
    for (const name of presetNames()) {
      const {source: _source, ...cfg} = getPreset(name);
      expect(configFromHparams(hparamsFromConfig(cfg), cfg.variant)).toEqual(cfg);
    }
  });

  it('writes the reference names and merges extras', () => {
    const h = hparamsFromConfig(getPreset('PLDRv51G-106M-2'), {epochs: 1});
    expect(h).toMatchObject({
      num_layers: 5,
      d_model: 896,
      num_heads: 14,
      dff: 2389,
      Gcachelst: 'G_LM.safetensors',
      epochs: 1,
    });
    expect(h).not.toHaveProperty('A_dff');
  });

  const BAD: Array<[string, Record<string, unknown>, string]> = [
    ['missing field', {...base, num_layers: undefined}, 'num_layers'],
    ['zero', {...base, num_heads: 0}, 'num_heads'],
    ['non-integer', {...base, dff: 41.5}, 'dff'],
    ['string', {...base, input_vocab_size: '97'}, 'input_vocab_size'],
    ['negative', {...base, max_seq_len: -1}, 'max_seq_len'],
    ['indivisible heads', {...base, num_heads: 3}, 'divisible'],
    ['odd d_k', {...base, d_model: 18}, 'even'],
    ['bad A_dff', {...base, A_dff: 0}, 'A_dff'],
    ['bad DAG coeffs', {...base, DAG_reg_coeffs: [0.1, -1, 0]}, 'DAG_reg_coeffs'],
    ['DAG coeffs of wrong length', {...base, DAG_reg_coeffs: [0.1]}, 'DAG_reg_coeffs'],
    ['dk disagrees', {...base, dk: 4}, 'dk'],
  ];
  for (const [what, h, field] of BAD) {
    it(`rejects ${what} with a one-line PldrError naming ${field}`, () => {
      expect(pldrMessage(() => configFromHparams(h, undefined, 'my/hparams.json'))).toMatch(
        new RegExp(`my/hparams\\.json.*${field}`),
      );
    });
  }

  it('rejects a non-object', () => {
    pldrMessage(() => configFromHparams([] as unknown as Record<string, unknown>));
  });

  it('validateConfig checks hand-built configs', () => {
    const cfg = fixtureConfig('tiny-public');
    expect(validateConfig(cfg)).toBe(cfg);
    expect(pldrMessage(() => validateConfig({...cfg, variant: 'v999' as never}))).toContain('variant');
    expect(pldrMessage(() => validateConfig({...cfg, variant: 'v510G'}))).toContain('must be 0');
    expect(pldrMessage(() => validateConfig({...cfg, num_layers: 1.5}))).toContain('num_layers');
  });
});

describe('checkStateDict', () => {
  const cfg = fixtureConfig('tiny-public');

  it('names a missing key', () => {
    const sd = zeroStateDict(cfg);
    sd.delete('decoder.dec_layers.1.ffn.gluw2.bias');
    const msg = pldrMessage(() => checkStateDict(cfg, sd, 'model.pth'));
    expect(msg).toContain('model.pth');
    expect(msg).toContain('hyper-parameters');
    expect(msg).toContain('missing 1 key(s): decoder.dec_layers.1.ffn.gluw2.bias');
  });

  it('summarises many missing keys with a count', () => {
    const sd = zeroStateDict(cfg);
    for (const k of [...sd.keys()].filter((k) => k.includes('dec_layers.1.'))) sd.delete(k);
    const msg = pldrMessage(() => checkStateDict(cfg, sd, 'model.pth'));
    expect(msg).toMatch(/missing 53 key\(s\): decoder\.dec_layers\.1\.mha1\.wq\.weight, .*\(53 in all\)/);
  });

  it('names an unexpected key', () => {
    const sd = zeroStateDict(cfg);
    sd.set('decoder.extra.weight', {dtype: 'F32', shape: [1], data: new Float32Array(1)});
    expect(pldrMessage(() => checkStateDict(cfg, sd, 'x'))).toContain('unexpected 1 key(s): decoder.extra.weight');
  });

  it('names the first shape mismatch with both shapes', () => {
    const sd = zeroStateDict(cfg);
    sd.set('decoder.dec_layers.0.mha1.plgatt_layer.alst', {dtype: 'F32', shape: [2, 8, 4], data: new Float32Array(64)});
    sd.set('final_layer.weight', {dtype: 'F32', shape: [96, 16], data: new Float32Array(96 * 16)});
    const msg = pldrMessage(() => checkStateDict(cfg, sd, 'x'));
    expect(msg).toContain(
      'shape mismatch: decoder.dec_layers.0.mha1.plgatt_layer.alst expected [2,8,8], found [2,8,4]',
    );
    expect(msg).not.toContain('final_layer');
  });

  it('hints at a variant mix-up', () => {
    const gcfg = fixtureConfig('tiny-G-identity');
    expect(pldrMessage(() => checkStateDict(cfg, zeroStateDict(gcfg), 'g.pth'))).toContain('looks like a v510G');
    expect(pldrMessage(() => checkStateDict(gcfg, zeroStateDict(cfg), 'p.pth'))).toContain('looks like a v510 model');
  });
});
