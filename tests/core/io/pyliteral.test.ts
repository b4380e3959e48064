/** The hyperparameters.py reader: Python data is read, code is refused or skipped, nothing is ever run. */
import {existsSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {afterAll, describe, expect, it} from 'vitest';

import {readHyperparametersPy} from '../../../src/core/io/legacy-hub.js';
import {MAX_DEPTH, parsePythonData, PyRef, PyUnsupported} from '../../../src/core/io/pyliteral.js';
import {HYPERPARAMETERS_PY, refusal, removeTempDirs, tempDir} from './legacy-build.js';

afterAll(removeTempDirs);

const values = (src: string) =>
  Object.fromEntries([...parsePythonData(src, 'x.py').assignments].map(([k, a]) => [k, a.value]));

describe('Python literals', () => {
  it('reads numbers, strings, constants, lists, tuples, dicts, comments and continuations', () => {
    const v = values(String.raw`
# a comment
a = 42            # trailing comment
b = -3.5e-2
c = 1_000_000
d = 0x1F
e = 'single' "double" '''triple
quoted'''
f = r'raw\n' + ''
g = "esc\t\x41\u00e9\101\\"
h = [True, False, None, (1, 2), (3,), (4)]
i = {"k": [1, {'n': -0.0}], 2: 'two', None: 1e3,}
j = \
    7
k = .5; l = 5.
m = 1E+2
`);
    expect(v.a).toBe(42);
    expect(v.b).toBe(-0.035);
    expect(v.c).toBe(1000000);
    expect(v.d).toBe(31);
    expect(v.e).toBe('singledoubletriple\nquoted');
    expect(v.f).toBeInstanceOf(PyUnsupported); // an operator
    expect(v.g).toBe('esc\tAéA\\');
    expect(v.h).toEqual([true, false, null, [1, 2], [3], 4]);
    expect(v.i).toEqual({k: [1, {n: -0}], 2: 'two', None: 1000});
    expect(v.j).toBe(7);
    expect([v.k, v.l, v.m]).toEqual([0.5, 5, 100]);
  });

  it('resolves names bound earlier and keeps dotted names as text, never looked up', () => {
    const v = values('n = 5\nd = {"num_layers": n, "act": F.silu, "later": m}\nm = 1\n');
    expect((v.d as any).num_layers).toBe(5);
    expect((v.d as any).act).toEqual(new PyRef('F.silu', 2));
    expect((v.d as any).later).toBeInstanceOf(PyUnsupported);
  });

  it('turns code inside values into markers with their line and reason', () => {
    const v = values(
      [
        'a = int(3*4)',
        'b = 9**9**9**9',
        'c = [x for x in y]',
        'd = lambda: 0',
        "e = f'{x}'",
        "g = b'x'",
        'h = {1, 2}',
        'i = 1e999999',
        'j = ' + '9'.repeat(80),
        'k = x[0]',
        'l = 3j',
      ].join('\n'),
    );
    const why = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, (x as PyUnsupported).why]));
    expect(why).toEqual({
      a: 'a call of int',
      b: 'the operator "**"',
      c: 'a comprehension',
      d: 'a lambda',
      e: 'an f-string',
      g: 'a bytes literal',
      h: 'a set',
      i: '1e999999 overflows a float',
      j: 'a number literal of 80 digits',
      k: 'the name x, which the file does not assign',
      l: 'a complex number',
    });
    expect((v.c as PyUnsupported).line).toBe(3);
  });

  it('notes imports as skipped, never run', () => {
    const m = parsePythonData('import torch.nn.functional as F\nfrom os import system\nx = 1\n', 'h.py');
    expect(m.skipped).toEqual([
      'line 1: import torch.nn.functional as F (not run)',
      'line 2: from os import system (not run)',
    ]);
    expect(m.assignments.get('x')?.value).toBe(1);
  });

  it('refuses statements that are code, naming file:line', () => {
    const cases: [string, string][] = [
      ["x = 1\n__import__('os').system('touch marker')\n", 'h.py:2: a statement that is not an assignment, not data'],
      ["open('/tmp/x', 'w').write('y')\n", 'h.py:1: a statement'],
      ['def f():\n    return 1\n', 'h.py:1: "def" is code'],
      ['if True:\n    x = 1\n', 'h.py:1: "if" is code'],
      ['x = 1\n  y = 2\n', 'h.py:2: an indented line'],
      ['x += 1\n', 'h.py:1: not a plain "name = value" assignment'],
      ['a = b = 1\n', 'h.py:1: a chained assignment'],
      ['exec("print(1)")\n', 'h.py:1: "exec" is code'],
    ];
    for (const [src, msg] of cases) expect(refusal(() => parsePythonData(src, 'h.py'))).toContain(msg);
  });

  it('refuses hostile shapes of file with one line: deep nesting, unterminated strings, huge files, odd characters', () => {
    expect(refusal(() => parsePythonData('x = ' + '['.repeat(100000) + ']'.repeat(100000), 'h.py'))).toBe(
      `h.py:1: brackets nested more than ${MAX_DEPTH} deep (pldr reads this file as data and never runs it)`,
    );
    expect(refusal(() => parsePythonData('x = 1\ny = "abc\nz = 2\n', 'h.py'))).toContain('h.py:2: unterminated string');
    expect(refusal(() => parsePythonData('x = """abc\n\n', 'h.py'))).toContain('h.py:1: unterminated string');
    expect(refusal(() => parsePythonData('x = (1,\n2\n', 'h.py'))).toContain('h.py:1: "(" is never closed');
    expect(refusal(() => parsePythonData(`x = "${'a'.repeat(10 * 2 ** 20)}"`, 'h.py'))).toMatch(
      /^h\.py: 10485766 characters is too large/,
    );
    expect(refusal(() => parsePythonData('x = $1\n', 'h.py'))).toContain('h.py:1: unexpected character "$"');
  });
});

describe('the hpdict of a _hyperparameters.py', () => {
  const dir = tempDir('py');
  const write = (name: string, src: string) => {
    const p = join(dir, name);
    writeFileSync(p, src);
    return p;
  };

  it('reads the authors-style dict and lists what it skipped', () => {
    const ignored: string[] = [];
    const h = readHyperparametersPy(write('a_hyperparameters.py', HYPERPARAMETERS_PY), ignored);
    expect(h).toMatchObject({
      num_layers: 2,
      d_model: 16,
      num_heads: 2,
      dff: 42,
      A_dff: 12,
      input_vocab_size: 97,
      max_seq_len: 64,
      DAG_reg_coeffs: [0.5, 0, 0.125],
      learning_rate: 0.001,
    });
    expect(h.activation).toBeUndefined();
    expect(ignored).toEqual([
      'a_hyperparameters.py line 5: import torch.nn.functional as F (not run)',
      'a_hyperparameters.py line 23: activation (F.silu; not needed)',
    ]);
  });

  it('reads top-level assignments, and d_model written as num_heads*dk when dk is plain', () => {
    const ignored: string[] = [];
    const src =
      'import numpy as np\nnum_layers=2\nnum_heads=2\ndk=8\nhpdict={"num_layers": num_layers, "d_model": int(num_heads*dk), "num_heads": num_heads, "dff": 42, "input_vocab_size": 97, "max_seq_len": 64}\n';
    const h = readHyperparametersPy(write('b_hyperparameters.py', src), ignored);
    expect(h).toMatchObject({num_layers: 2, num_heads: 2, dk: 8, dff: 42});
    expect(h.d_model).toBeUndefined();
    expect(ignored).toContain('b_hyperparameters.py: d_model taken as num_heads × dk = 2 × 8');
    expect(
      readHyperparametersPy(write('c_hyperparameters.py', 'num_layers = 2\nnum_heads = 2\nd_model = 16\n')),
    ).toEqual({num_layers: 2, num_heads: 2, d_model: 16});
  });

  it('refuses a needed value that is code, naming file:line, and runs nothing', () => {
    const marker = join(dir, 'MARKER');
    const src = `import os\nhpdict = {"num_layers": 2,\n  "num_heads": 2, "d_model": 16,\n  "input_vocab_size": os.system("touch ${marker}"), "max_seq_len": 64}\n`;
    const file = write('d_hyperparameters.py', src);
    expect(refusal(() => readHyperparametersPy(file))).toBe(
      `${file}:4: input_vocab_size is a call of os.system, not a plain value (pldr reads this file as data and never runs it): write the number there, or pass --hparams FILE.json`,
    );
    expect(existsSync(marker)).toBe(false);
  });

  it('asks which dict when two look like hyper-parameters and neither is hpdict', () => {
    const file = write(
      'e_hyperparameters.py',
      'a = {"num_layers": 1, "num_heads": 2}\nb = {"num_layers": 3, "num_heads": 4}\n',
    );
    expect(refusal(() => readHyperparametersPy(file))).toBe(
      `${file} defines 2 hyper-parameter dicts (a, b): keep one, or name it hpdict`,
    );
  });
});
