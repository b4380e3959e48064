/**
 * The embedded demo model: a small PLDRv51 trained on the Brown corpus with a tokenizer of our own,
 * shipped in models/demo so that `pldr generate "..."` works with no other setup.
 */
import {existsSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

import {PldrError} from './errors.js';

/** models/demo at the package root (this file is src/core/demo.ts, or dist/core/demo.js once built). */
export const DEMO_MODEL = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'models', 'demo');

export function demoModel(): string {
  if (!existsSync(join(DEMO_MODEL, 'config.json')))
    throw new PldrError(`no --model given and the embedded demo model is missing (${DEMO_MODEL}): pass --model DIR`);
  return DEMO_MODEL;
}
