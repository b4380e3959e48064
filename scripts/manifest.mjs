#!/usr/bin/env node
// Writes oclif.manifest.json from the built commands (run by `npm run build`, `prepare` and
// `pretest`, after tsc). With --check it writes nothing: it lists where the manifest on disk
// differs from the built commands and exits 1 if it does.
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

import {MANIFEST, manifestDifferences, writeManifest} from '../dist/cli/manifest.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
if (process.argv.includes('--check')) {
  const differences = await manifestDifferences(root);
  for (const d of differences) console.error(`${MANIFEST}: ${d}`);
  process.exitCode = differences.length > 0 ? 1 : 0;
} else {
  console.log(`wrote ${await writeManifest(root)}`);
}
