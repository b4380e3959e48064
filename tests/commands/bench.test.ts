/**
 * `pldr bench` is a topic of five commands, one per suite, each with its own flags and --help: the
 * topic lists the suites, a suite's help shows only the flags it takes, and a flag of another suite is
 * a usage error (exit 2) rather than something silently ignored.
 */
import {describe, expect, it} from 'vitest';

import {pldr} from './run.js';

const SUITES = ['paper', 'scaling', 'micro', 'train', 'eval'];

describe('pldr bench', () => {
  it('with no suite lists the five suites', () => {
    const r = pldr(['bench']);
    expect(r.code).toBe(0);
    for (const s of SUITES) expect(r.stdout).toMatch(new RegExp(`^\\s+bench ${s}\\s`, 'm'));
  });

  it("each suite's help has the flags it takes and no other suite's", () => {
    const help = (suite: string) => pldr(['bench', suite, '--help']).stdout;
    const micro = help('micro');
    expect(micro).toContain('--min-time');
    expect(micro).not.toContain('--reference');
    expect(micro).not.toContain('--lengths');
    const paper = help('paper');
    for (const f of ['--modes', '--tokens', '--long', '--reference', '--one-thread']) expect(paper).toContain(f);
    expect(paper).not.toContain('--min-time');
    expect(paper).not.toMatch(/paper:/); // no "paper:" prefixes now that the suite has its own help
    const evalHelp = help('eval');
    for (const f of ['--lengths', '--requests', '--batch', '--reference']) expect(evalHelp).toContain(f);
    expect(evalHelp).not.toContain('--one-thread');
  });

  it('a flag of another suite is a usage error', () => {
    const r = pldr(['bench', 'micro', '--quick', '--lengths', '8']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Nonexistent flag: --lengths/);
  });
});
