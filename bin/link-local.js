#!/usr/bin/env node
// Run by `npm ci` / `npm install` in a checkout (the `prepare` script): links node_modules/.bin/pldr
// to bin/run.js so that `npx pldr` works inside the repository without a global install.
import {existsSync, mkdirSync, rmSync, symlinkSync} from 'node:fs';
import {dirname, join, relative} from 'node:path';
import {fileURLToPath} from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const binDir = join(root, 'node_modules', '.bin');
if (existsSync(join(root, 'node_modules'))) {
  mkdirSync(binDir, {recursive: true});
  const link = join(binDir, 'pldr');
  rmSync(link, {force: true});
  symlinkSync(relative(binDir, join(root, 'bin', 'run.js')), link);
}
