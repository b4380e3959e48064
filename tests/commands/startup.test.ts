/**
 * Start-up: the oclif manifest written by the build is in sync with the built commands, and a
 * command that computes nothing (--version, --help, info) starts without loading tfjs at all.
 * Also what every --help ends with: the exit codes.
 */
import {spawnSync} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {manifestIsCurrent} from '../../src/cli/manifest.js';
import {ROOT} from '../helpers.js';
import {ok} from './run.js';

const COMMANDS = [
  'bench:eval',
  'bench:micro',
  'bench:paper',
  'bench:scaling',
  'bench:train',
  'classify',
  'convert',
  'eval',
  'export-g',
  'generate',
  'info',
  'train',
];
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pldr-startup-'));
});
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

/** Every module a run of pldr loaded (ESM specifiers as resolved, CommonJS requests). */
function modulesLoaded(args: string[]): string[] {
  const log = join(tmp, `${args.join('_').replace(/\W/g, '')}.log`);
  const r = spawnSync(
    process.execPath,
    ['--import', join(ROOT, 'tests', 'commands', 'record-imports.mjs'), join(ROOT, 'bin', 'run.js'), ...args],
    {
      cwd: ROOT,
      encoding: 'utf8',
      env: {...process.env, NODE_NO_WARNINGS: '1', PLDR_IMPORT_LOG: log},
    },
  );
  expect(r.status, r.stderr).toBe(0);
  return readFileSync(log, 'utf8').trim().split('\n');
}

describe('start-up', () => {
  it('oclif.manifest.json lists the built commands with the same flags, arguments and help', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8'));
    expect(Object.keys(manifest.commands).sort()).toEqual(COMMANDS);
    expect(Object.keys(manifest.commands.generate.flags)).toEqual(
      expect.arrayContaining(['model', 'ids', 'json', 'backend']),
    );
    const check = spawnSync(process.execPath, [join(ROOT, 'scripts', 'manifest.mjs'), '--check'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(check.status, `${check.stderr}(rebuild with npm run build)`).toBe(0);
    expect(manifestIsCurrent(ROOT), 'the manifest is older than dist/: run npm run build').toBe(true);
  });

  it('--version, --help and info (a preset, the preset list) do not load tfjs; generate does', () => {
    for (const args of [
      ['--version'],
      ['--help'],
      ['generate', '--help'],
      ['info', '--preset', 'tiny'],
      ['info', '--list-presets', '--json'],
    ]) {
      const loaded = modulesLoaded(args);
      expect(
        loaded.some((m) => m.includes('@oclif/core')),
        args.join(' '),
      ).toBe(true);
      expect(
        loaded.filter((m) => m.includes('@tensorflow')),
        args.join(' '),
      ).toEqual([]);
    }
    // the recorder does see tfjs when a command computes
    expect(
      modulesLoaded(['generate', '--ids', '5', '-n', '1', '--json']).some((m) => m.includes('@tensorflow/tfjs')),
    ).toBe(true);
  });
});

describe('--help', () => {
  it('every command, the bench topic and pldr itself end with the exit codes', () => {
    for (const args of [['--help'], ['bench', '--help'], ...COMMANDS.map((c) => [...c.split(':'), '--help'])]) {
      const help = ok(args).stdout;
      const section = help.slice(help.lastIndexOf('EXIT CODES'));
      expect(help.lastIndexOf('EXIT CODES'), args.join(' ')).toBeGreaterThan(0);
      for (const code of ['0', '1', '2', '130', '143'])
        expect(section, args.join(' ')).toMatch(new RegExp(`^ +${code} +\\S`, 'm'));
      expect(section).toMatch(/check-invariance/);
    }
  });
});
