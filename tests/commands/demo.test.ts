/** The embedded demo model: `pldr generate "..."` works with no other setup. */
import {readFileSync, statSync} from 'node:fs';
import {join} from 'node:path';

import {describe, expect, it} from 'vitest';

import {DEMO_MODEL} from '../../src/core/demo.js';
import {readModelFiles} from '../../src/core/io/model-files.js';
import {okJson} from './run.js';

describe('the embedded demo model', () => {
  it('is a PLDRv51 model directory with its tokenizer, at most 10 MB', () => {
    const files = readModelFiles(DEMO_MODEL);
    expect(files.config.variant).toBe('v510');
    expect(files.tokenizer).toBe(join(DEMO_MODEL, 'tokenizer.model'));
    const bytes = ['config.json', 'model.safetensors', 'tokenizer.model'].reduce(
      (s, f) => s + statSync(join(DEMO_MODEL, f)).size,
      0,
    );
    expect(bytes).toBeLessThanOrEqual(10 * 1024 * 1024);
    expect(readFileSync(join(DEMO_MODEL, 'README.md'), 'utf8')).toMatch(/pldr train/);
  });

  it('generates text without --model, the same text for the same seed', () => {
    const a = okJson(['generate', 'The old man said', '-n', '20', '--seed', '3', '--temperature', '0.8']);
    expect(a.text.startsWith('The old man said')).toBe(true);
    expect(a.generated.length).toBeGreaterThan(0);
    expect(okJson(['generate', 'The old man said', '-n', '20', '--seed', '3', '--temperature', '0.8']).text).toBe(
      a.text,
    );
    // greedy continuation stays English-like: mostly ASCII words, no byte soup
    const g = okJson(['generate', 'The committee said that', '-n', '30', '--greedy']);
    expect(g.completion).toMatch(/^[\x20-\x7e\n]*$/);
  });
});
