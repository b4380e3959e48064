import {spawnSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {join} from 'node:path';

import {beforeAll, describe, expect, it} from 'vitest';

const ROOT = join(import.meta.dirname, '../..');

function pldr(...args: string[]) {
  // NODE_NO_WARNINGS: oclif reports commands it cannot load (e.g. another command mid-edit) as
  // process warnings on stderr; they are not what these tests check.
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/run.js'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: {...process.env, NODE_NO_WARNINGS: '1'},
  });
  return {code: r.status, stdout: r.stdout, stderr: r.stderr};
}

beforeAll(() => {
  // `npm test` builds first (pretest); when run directly, build once if dist is missing. tsc still
  // emits when unrelated files have type errors, so only the presence of the output matters here.
  if (!existsSync(join(ROOT, 'dist/commands/info.js'))) {
    spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {cwd: ROOT});
  }
  expect(existsSync(join(ROOT, 'dist/commands/info.js'))).toBe(true);
});

describe('pldr info', () => {
  it('--preset --json prints one JSON object with the total', () => {
    const r = pldr('info', '--preset', 'PLDRv51-110M-1', '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.name).toBe('PLDRv51-110M-1');
    expect(out.config.num_heads).toBe(14);
    expect(out.params.total).toBe(109_689_362);
    expect(out.params.per_layer.metric_learner).toBe(529_728);
  });

  it('prints readable tables', () => {
    const r = pldr('info', '--preset', 'PLDRv51Gi-99M');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('98,807,808');
    expect(r.stdout).toContain('hyper-parameters');
  });

  it('reads a reference checkpoint config', () => {
    const r = pldr('info', 'fixtures/reference/tiny-public/checkpoint.pth', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).params.total).toBe(13_705);
  });

  it('--list-presets lists names with totals', () => {
    const r = pldr('info', '--list-presets');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/PLDRv51-104M\s+104,237,120/);
    expect(r.stdout).toMatch(/small\s+9,990,066/);
  });

  it('an unknown preset is one error line, exit 1, no stack trace', () => {
    const r = pldr('info', '--preset', 'nope');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: unknown preset "nope": use one of .*PLDRv51-104M.*\n$/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
  });

  it('no MODEL and no --preset is an error', () => {
    const r = pldr('info');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: nothing to show/);
  });
});
