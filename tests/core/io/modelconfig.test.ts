import {copyFileSync, mkdirSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import {pldrMessage, tempDir} from '../../helpers.js';

import {getPreset} from '../../../src/core/config.js';
import {makeConfigJson, parseConfigJson, readModelConfig} from '../../../src/core/io/modelconfig.js';

const REF = join(import.meta.dirname, '../../../fixtures/reference');
const tmp = tempDir('modelconfig');

describe('config.json', () => {
  it('round-trips every preset', () => {
    for (const name of ['PLDRv51-104M', 'PLDRv51-DAG-110M', 'PLDRv51Gi-99M', 'PLDRv51G-106M-2', 'tiny']) {
      const cfg = getPreset(name);
      const json = JSON.parse(JSON.stringify(makeConfigJson(cfg)));
      expect(json.format).toBe('pldr-llm');
      expect(json.format_version).toBe(1);
      expect(json.special_tokens).toEqual({pad: 0, unk: 1, start: 2, end: 3});
      expect(json.hparams).not.toHaveProperty('Gcachelst');
      expect(parseConfigJson(json, 'config.json')).toEqual(cfg);
    }
  });

  it('rejects foreign or broken config objects', () => {
    const good = makeConfigJson(getPreset('tiny'));
    expect(pldrMessage(() => parseConfigJson({...good, format: 'other'}, 'c.json'))).toContain('not a pldr-llm config');
    expect(pldrMessage(() => parseConfigJson({...good, format_version: 2}, 'c.json'))).toContain('newer');
    expect(pldrMessage(() => parseConfigJson({...good, variant: 'v9'}, 'c.json'))).toContain('variant');
    expect(pldrMessage(() => parseConfigJson({...good, hparams: undefined}, 'c.json'))).toContain('hparams');
    expect(pldrMessage(() => parseConfigJson({...good, hparams: {...good.hparams, num_heads: 3}}, 'c.json'))).toContain(
      'c.json',
    );
    expect(pldrMessage(() => parseConfigJson({...good, special_tokens: {pad: -1}}, 'c.json'))).toContain(
      'special_tokens.pad',
    );
    expect(pldrMessage(() => parseConfigJson(null, 'c.json'))).toContain('c.json');
  });
});

describe('readModelConfig', () => {
  it('reads a model directory', () => {
    const dir = join(tmp, 'model');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(makeConfigJson(getPreset('small'))));
    const {config, source} = readModelConfig(dir);
    expect(config).toEqual(getPreset('small'));
    expect(source).toBe(join(dir, 'config.json'));
  });

  it('reads the hparams.json beside a reference .pth', () => {
    const {config, source} = readModelConfig(join(REF, 'tiny-G-random', 'checkpoint.pth'));
    expect(config.variant).toBe('v510G');
    expect(source).toBe(join(REF, 'tiny-G-random', 'hparams.json'));
    expect(readModelConfig(join(REF, 'tiny-public', 'checkpoint.pth'), undefined, 'v510_dag').config.variant).toBe(
      'v510_dag',
    );
  });

  it('finds <stem>_hparams.json and honours --hparams', () => {
    const dir = join(tmp, 'stem');
    mkdirSync(dir);
    writeFileSync(join(dir, 'run7.pth'), '');
    copyFileSync(join(REF, 'tiny-public', 'hparams.json'), join(dir, 'run7_hparams.json'));
    expect(readModelConfig(join(dir, 'run7.pth')).source).toBe(join(dir, 'run7_hparams.json'));
    const other = join(REF, 'tiny-G-identity', 'hparams.json');
    expect(readModelConfig(join(dir, 'run7.pth'), other).config.variant).toBe('v510G');
  });

  it('explains missing and broken files', () => {
    const dir = join(tmp, 'bare');
    mkdirSync(dir);
    writeFileSync(join(dir, 'm.pth'), '');
    expect(pldrMessage(() => readModelConfig(join(dir, 'm.pth')))).toContain('pass --hparams');
    expect(pldrMessage(() => readModelConfig(join(dir, 'nope.pth')))).toContain('no such file');
    expect(pldrMessage(() => readModelConfig(dir))).toContain('no config.json');
    expect(pldrMessage(() => readModelConfig(join(dir, 'm.pth'), join(dir, 'missing.json')))).toContain('not found');
    writeFileSync(join(dir, 'bad.json'), '{"num_layers": 2,');
    expect(pldrMessage(() => readModelConfig(join(dir, 'm.pth'), join(dir, 'bad.json')))).toContain('not valid JSON');
    writeFileSync(join(dir, 'arr.json'), '[1, 2]');
    expect(pldrMessage(() => readModelConfig(join(dir, 'm.pth'), join(dir, 'arr.json')))).toContain('JSON object');
  });
});
