/**
 * Python source read as data, never run: the `<name>_hyperparameters.py` files of the older Hub
 * layout. Nothing here evaluates, imports or calls anything; the file is tokenized and
 * only a small data subset of Python is understood:
 *
 *   values      numbers (ints, floats, hex/octal/binary, underscores, exponents), strings (quotes,
 *               triple quotes, r/u prefixes, escapes, implicit concatenation), True/False/None,
 *               lists, tuples, dicts, a unary minus or plus on a number, and a bare name bound by an
 *               earlier top-level assignment of the file (that value)
 *   statements  `name = value` at top level, `import …` / `from … import …` (skipped: noted, not
 *               run), a lone string (a docstring), comments, blank lines, `\` continuations
 *
 * The decisions for everything else:
 *   - a value outside that subset (a call, attribute access, an operator beyond unary minus, a
 *     comprehension, an f-string, bytes, lambda, a subscript, an undefined name) is not an error
 *     by itself: it becomes a `PyUnsupported` marker that remembers its line and why. The caller
 *     refuses it, naming file:line, only if it needs that value (see legacy-hub.ts), and skips it
 *     otherwise (`"activation": F.silu` in the authors' files is never needed). A dotted name
 *     (`F.silu`) is kept as its text (`PyRef`), never looked up.
 *   - any other statement (an expression statement such as `__import__('os').system(…)`, `def`,
 *     `class`, `if`, `for`, `with`, augmented or chained assignment, an indented line) is refused
 *     with one line naming file:line: a data file has no business holding code.
 *   - hard limits refuse the whole file: more than MAX_FILE_CHARS characters, brackets nested more
 *     than MAX_DEPTH deep, an unterminated string or bracket, a character Python would not accept.
 */
import {PldrError} from '../errors.js';

/** A hyper-parameter file is a few kilobytes; a megabyte is far more than any real one. */
export const MAX_FILE_CHARS = 1 << 20;
/** Deeper nesting than this is no hyper-parameter dict. */
export const MAX_DEPTH = 32;
/** Number literals longer than this are refused as values (no hyper-parameter needs them). */
const MAX_NUMBER_CHARS = 64;

/** A value the file holds as code rather than data: kept with its line and the reason. */
export class PyUnsupported {
  constructor(
    readonly line: number,
    readonly why: string,
  ) {}
}

/** A dotted name such as `F.silu`: its text, never resolved. */
export class PyRef {
  constructor(
    readonly name: string,
    readonly line: number,
  ) {}
}

export type PyValue = null | boolean | number | string | PyValue[] | PyDict | PyRef | PyUnsupported;
export interface PyDict {
  [key: string]: PyValue;
}

export interface PyAssignment {
  value: PyValue;
  line: number;
}

export interface PyModule {
  /** Top-level `name = value` assignments, in file order (a later one replaces an earlier one). */
  assignments: Map<string, PyAssignment>;
  /** What was read but not used, one note each ("line 1: import torch (not run)"). */
  skipped: string[];
}

type TokKind = 'name' | 'number' | 'string' | 'op' | 'newline' | 'eof';
interface Token {
  kind: TokKind;
  text: string;
  line: number;
  /** Strings: the decoded value; undefined when the literal is not plain data (f-string, bytes). */
  value?: string;
  /** Strings: why `value` is missing. */
  why?: string;
  /** First token of a logical line that starts indented. */
  indented?: boolean;
}

const OPERATORS = [
  '**=',
  '//=',
  '>>=',
  '<<=',
  '...',
  '->',
  ':=',
  '**',
  '//',
  '==',
  '!=',
  '<=',
  '>=',
  '<<',
  '>>',
  '+=',
  '-=',
  '*=',
  '/=',
  '%=',
  '&=',
  '|=',
  '^=',
  '@=',
  '+',
  '-',
  '*',
  '/',
  '%',
  '@',
  '&',
  '|',
  '^',
  '~',
  '<',
  '>',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  ',',
  ':',
  '.',
  ';',
  '=',
  '!',
];
const OPEN = new Set(['(', '[', '{']);
const CLOSE: Record<string, string> = {')': '(', ']': '[', '}': '{'};
const NAME_START = /[\p{L}\p{Nl}_]/u;
const NAME_REST = /[\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]/u;
const NUMBER =
  /(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?)[jJ]?/y;
const STRING_PREFIX = /(?:[rRuUbBfF]|[rR][bBfF]|[bBfF][rR])?(?='|")/y;

/** Split Python source into tokens; newlines inside brackets and after `\` are not tokens. */
function tokenize(src: string, file: string): Token[] {
  const out: Token[] = [];
  const brackets: {ch: string; line: number}[] = [];
  let i = 0;
  let line = 1;
  let lineStart = true; // at the start of a logical line
  let indented = false;
  const fail = (msg: string, at = line): never => {
    throw new PldrError(`${file}:${at}: ${msg} (pldr reads this file as data and never runs it)`);
  };
  const push = (t: Token) => {
    if (lineStart) t.indented = indented;
    lineStart = false;
    out.push(t);
  };
  while (i < src.length) {
    const c = src[i];
    if (c === '\n') {
      if (brackets.length === 0 && !lineStart) out.push({kind: 'newline', text: '\n', line});
      if (brackets.length === 0) {
        lineStart = true;
        indented = false;
      }
      line++;
      i++;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\f' || c === '\r') {
      if (lineStart && brackets.length === 0) indented = true;
      i++;
      continue;
    }
    if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (c === '\\') {
      const next = src[i + 1] === '\r' ? src[i + 2] : src[i + 1];
      if (next !== '\n') fail('a "\\" outside a string must end its line');
      i += src[i + 1] === '\r' ? 3 : 2;
      line++;
      continue;
    }
    STRING_PREFIX.lastIndex = i;
    const prefix = STRING_PREFIX.exec(src);
    if (prefix) {
      const startLine = line;
      const {end, value, why, lines} = readString(src, i + prefix[0].length, prefix[0].toLowerCase(), () =>
        fail('unterminated string', startLine),
      );
      push({kind: 'string', text: src.slice(i, end), line: startLine, value, why});
      line += lines;
      i = end;
      continue;
    }
    NUMBER.lastIndex = i;
    const num = /[\d.]/.test(c) ? NUMBER.exec(src) : null;
    if (num && num[0] !== '.' && num[0].length > 0) {
      push({kind: 'number', text: num[0], line});
      i += num[0].length;
      continue;
    }
    if (NAME_START.test(c)) {
      let j = i + 1;
      while (j < src.length && NAME_REST.test(src[j])) j++;
      push({kind: 'name', text: src.slice(i, j), line});
      i = j;
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (op === undefined) fail(`unexpected character ${JSON.stringify(c)}`);
    if (OPEN.has(op!)) {
      if (brackets.length >= MAX_DEPTH) fail(`brackets nested more than ${MAX_DEPTH} deep`);
      brackets.push({ch: op!, line});
    } else if (CLOSE[op!]) {
      const open = brackets.pop();
      if (open?.ch !== CLOSE[op!]) fail(`unmatched "${op}"`);
    }
    push({kind: 'op', text: op!, line});
    i += op!.length;
  }
  if (brackets.length > 0)
    fail(`"${brackets[brackets.length - 1].ch}" is never closed`, brackets[brackets.length - 1].line);
  if (!lineStart) out.push({kind: 'newline', text: '\n', line});
  out.push({kind: 'eof', text: '', line});
  return out;
}

/** Python's one-letter string escapes (\n, \t, ...): the pickle reader's STRING opcode reads the same. */
export const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

/** A string literal from its opening quote at `start`; `prefix` is lower-case. */
function readString(
  src: string,
  start: number,
  prefix: string,
  unterminated: () => never,
): {end: number; value?: string; why?: string; lines: number} {
  const q = src[start];
  const triple = src.startsWith(q.repeat(3), start);
  const close = triple ? q.repeat(3) : q;
  const raw = prefix.includes('r');
  let i = start + close.length;
  let value = '';
  let lines = 0;
  for (;;) {
    if (i >= src.length) unterminated();
    if (src.startsWith(close, i)) break;
    const c = src[i];
    if (c === '\n') {
      if (!triple) unterminated();
      lines++;
    }
    if (c === '\\' && i + 1 < src.length) {
      const e = src[i + 1];
      if (e === '\n') lines++;
      if (raw) {
        value += c + e;
        i += 2;
        continue;
      }
      i += 2;
      if (e === '\n') continue;
      if (SIMPLE_ESCAPES[e] !== undefined) value += SIMPLE_ESCAPES[e];
      else if (e === 'x' || e === 'u' || e === 'U') {
        const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const hex = src.slice(i, i + n);
        const code = /^[0-9a-fA-F]+$/.test(hex) && hex.length === n ? parseInt(hex, 16) : NaN;
        if (code <= 0x10ffff) {
          value += String.fromCodePoint(code);
          i += n;
        } else value += '\\' + e; // malformed: kept as written (Python would refuse the file)
      } else if (/[0-7]/.test(e)) {
        let oct = e;
        while (oct.length < 3 && /[0-7]/.test(src[i] ?? '')) oct += src[i++];
        value += String.fromCodePoint(parseInt(oct, 8));
      } else value += '\\' + e; // Python keeps unknown escapes (and \N{…}) as written
      continue;
    }
    value += c;
    i++;
  }
  const end = i + close.length;
  if (prefix.includes('f')) return {end, why: 'an f-string', lines};
  if (prefix.includes('b')) return {end, why: 'a bytes literal', lines};
  return {end, value, lines};
}

const TERMINATORS = new Set([',', ')', ']', '}', ':', '=']);

class Parser {
  private pos = 0;
  constructor(
    private readonly toks: Token[],
    private readonly file: string,
    private readonly names: Map<string, PyAssignment>,
  ) {}

  private get tok(): Token {
    return this.toks[this.pos];
  }

  private fail(msg: string, line = this.tok.line): never {
    throw new PldrError(`${this.file}:${line}: ${msg} (pldr reads this file as data and never runs it)`);
  }

  private isOp(text: string): boolean {
    return this.tok.kind === 'op' && this.tok.text === text;
  }

  private atEnd(): boolean {
    const t = this.tok;
    return t.kind === 'newline' || t.kind === 'eof' || (t.kind === 'op' && (TERMINATORS.has(t.text) || t.text === ';'));
  }

  /** The rest of an expression that is not data: tokens up to the next terminator outside brackets. */
  private skipExpr(line: number, why: string, colonEnds = true): PyUnsupported {
    let depth = 0;
    while (this.tok.kind !== 'eof') {
      const t = this.tok;
      if (depth === 0 && this.atEnd() && (colonEnds || !this.isOp(':'))) break;
      if (t.kind === 'op' && OPEN.has(t.text)) depth++;
      else if (t.kind === 'op' && CLOSE[t.text]) depth--;
      this.pos++;
    }
    return new PyUnsupported(line, why);
  }

  /** One expression; whatever is not data comes back as PyUnsupported. */
  value(): PyValue {
    const start = this.tok;
    const v = this.primary();
    if (this.atEnd()) return v;
    const t = this.tok;
    const why =
      t.kind === 'op' && t.text === '('
        ? 'a call'
        : t.kind === 'op' && t.text === '['
          ? 'a subscript'
          : t.kind === 'op' && t.text === '.'
            ? 'attribute access'
            : t.kind === 'name' && t.text === 'for'
              ? 'a comprehension'
              : t.kind === 'name' && t.text === 'if'
                ? 'a conditional expression'
                : t.kind === 'op'
                  ? `the operator "${t.text}"`
                  : `"${t.text}" after a value`;
    return this.skipExpr(start.line, v instanceof PyUnsupported && why !== 'a comprehension' ? v.why : why);
  }

  private primary(): PyValue {
    const t = this.tok;
    if (t.kind === 'op' && (t.text === '-' || t.text === '+')) {
      this.pos++;
      const n = this.tok;
      if (n.kind !== 'number')
        return this.skipExpr(t.line, `the operator "${t.text}" on something other than a number`);
      const v = this.number();
      return typeof v === 'number' ? (t.text === '-' ? -v : v) : v;
    }
    if (t.kind === 'number') return this.number();
    if (t.kind === 'string') {
      let s = '';
      let why: string | undefined;
      while (this.tok.kind === 'string') {
        if (this.tok.value === undefined) why ??= this.tok.why;
        else s += this.tok.value;
        this.pos++;
      }
      return why ? this.skipExpr(t.line, why) : s;
    }
    if (t.kind === 'name') return this.name();
    if (t.kind === 'op' && t.text === '[') return this.sequence(']');
    if (t.kind === 'op' && t.text === '(') return this.sequence(')');
    if (t.kind === 'op' && t.text === '{') return this.dict();
    return this.skipExpr(t.line, t.kind === 'op' ? `the operator "${t.text}"` : `"${t.text}"`);
  }

  private number(): PyValue {
    const t = this.tok;
    this.pos++;
    const text = t.text.replace(/_/g, '');
    if (/[jJ]$/.test(text)) return new PyUnsupported(t.line, 'a complex number');
    if (text.length > MAX_NUMBER_CHARS) return new PyUnsupported(t.line, `a number literal of ${text.length} digits`);
    const isInt = !/[.eE]/.test(text) || /^0[xX]/.test(text);
    let v: number;
    if (/^0[xXoObB]/.test(text)) v = Number(text);
    else if (isInt && /^0\d/.test(text) && /[1-9]/.test(text))
      return new PyUnsupported(t.line, 'an integer with a leading zero (not Python 3)');
    else v = Number(text);
    if (!Number.isFinite(v)) return new PyUnsupported(t.line, `${t.text} overflows a float`);
    if (isInt && !Number.isSafeInteger(v)) return new PyUnsupported(t.line, `${t.text} is too large an integer`);
    return v;
  }

  private name(): PyValue {
    const t = this.tok;
    this.pos++;
    if (t.text === 'True') return true;
    if (t.text === 'False') return false;
    if (t.text === 'None') return null;
    if (t.text === 'lambda') return this.skipExpr(t.line, 'a lambda', false);
    let dotted = t.text;
    while (this.isOp('.') && this.toks[this.pos + 1].kind === 'name') {
      dotted += '.' + this.toks[this.pos + 1].text;
      this.pos += 2;
    }
    if (this.isOp('(')) return this.skipExpr(t.line, `a call of ${dotted}`);
    if (dotted !== t.text) return new PyRef(dotted, t.line);
    const bound = this.names.get(t.text);
    if (bound) return bound.value; // values are never mutated, so sharing is safe
    return new PyUnsupported(t.line, `the name ${t.text}, which the file does not assign`);
  }

  /** A list `[…]` or a tuple / parenthesised value `(…)`; both become arrays. */
  private sequence(close: string): PyValue {
    const open = this.tok;
    this.pos++;
    const items: PyValue[] = [];
    let sawComma = false;
    while (!this.isOp(close)) {
      const v = this.value();
      if (this.tok.kind === 'name' && this.tok.text === 'for') return this.skipUntilClose(open, 'a comprehension');
      items.push(v);
      if (this.isOp(',')) {
        sawComma = true;
        this.pos++;
      } else if (!this.isOp(close)) return this.skipUntilClose(open, `"${this.tok.text}" inside ${open.text}${close}`);
    }
    this.pos++;
    if (close === ')' && items.length === 1 && !sawComma) return items[0]; // (x) is x
    if (items.some((v) => v instanceof PyUnsupported && v.why.startsWith('a comprehension')))
      return new PyUnsupported(open.line, 'a comprehension');
    return items;
  }

  private dict(): PyValue {
    const open = this.tok;
    this.pos++;
    const out: PyDict = {};
    while (!this.isOp('}')) {
      const keyTok = this.tok;
      const key = this.value();
      if (!this.isOp(':'))
        return this.skipUntilClose(open, this.isOp(',') || this.isOp('}') ? 'a set' : 'a dict that is not plain data');
      this.pos++;
      const v = this.value();
      if (this.tok.kind === 'name' && this.tok.text === 'for') return this.skipUntilClose(open, 'a dict comprehension');
      if (typeof key === 'string' || typeof key === 'number') out[String(key)] = v;
      else if (typeof key === 'boolean' || key === null)
        out[key === null ? 'None' : key ? 'True' : 'False'] = v; // as str() writes them
      else return this.skipUntilClose(open, `a dict key that is not a plain value (line ${keyTok.line})`);
      if (this.isOp(',')) this.pos++;
      else if (!this.isOp('}')) return this.skipUntilClose(open, `"${this.tok.text}" inside {}`);
    }
    this.pos++;
    return out;
  }

  /** Give up on a bracketed value: skip to its closing bracket (then to the end of the expression). */
  private skipUntilClose(open: Token, why: string): PyUnsupported {
    let depth = 1;
    while (depth > 0 && this.tok.kind !== 'eof') {
      if (this.tok.kind === 'op' && OPEN.has(this.tok.text)) depth++;
      else if (this.tok.kind === 'op' && CLOSE[this.tok.text]) depth--;
      this.pos++;
    }
    return this.skipExpr(open.line, why);
  }

  /** The whole module: statements up to the end. */
  module(skipped: string[]): void {
    while (this.tok.kind !== 'eof') {
      if (this.tok.kind === 'newline' || this.isOp(';')) {
        this.pos++;
        continue;
      }
      this.statement(skipped);
      if (this.isOp(';')) continue;
      if (!this.atEndOfStatement()) this.fail(`unexpected "${this.tok.text}"`);
    }
  }

  private statement(skipped: string[]): void {
    const t = this.tok;
    if (t.indented) this.fail('an indented line belongs to a block of code');
    if (t.kind === 'name' && (t.text === 'import' || t.text === 'from')) {
      const words: string[] = [];
      while (this.tok.kind !== 'newline' && this.tok.kind !== 'eof' && !this.isOp(';')) {
        words.push(this.tok.text);
        this.pos++;
      }
      skipped.push(`line ${t.line}: ${words.join(' ').replace(/ \. /g, '.').replace(/ ,/g, ',')} (not run)`);
      return;
    }
    if (t.kind === 'string') {
      const v = this.value(); // a docstring
      if (typeof v !== 'string') this.fail('not a plain assignment');
      return;
    }
    const next = this.toks[this.pos + 1];
    if (t.kind === 'name' && next.kind === 'op' && next.text === '=') {
      this.pos += 2;
      const value = this.value();
      if (this.isOp('=')) this.fail('a chained assignment is not a plain assignment');
      if (!this.atEndOfStatement()) this.fail(`unexpected "${this.tok.text}"`);
      this.names.set(t.text, {value, line: t.line});
      return;
    }
    const what =
      t.kind === 'name' &&
      [
        'def',
        'class',
        'if',
        'for',
        'while',
        'with',
        'try',
        'async',
        'global',
        'del',
        'exec',
        'return',
        'assert',
        'raise',
        'lambda',
      ].includes(t.text)
        ? `"${t.text}" is code`
        : next.kind === 'op' && next.text.endsWith('=') && next.text !== '=='
          ? 'not a plain "name = value" assignment'
          : 'a statement that is not an assignment';
    this.fail(`${what}, not data`);
  }

  private atEndOfStatement(): boolean {
    return this.tok.kind === 'newline' || this.tok.kind === 'eof' || this.isOp(';');
  }
}

/** Read Python source as data (see the header). `file` names it in messages. */
export function parsePythonData(src: string, file: string): PyModule {
  if (src.length > MAX_FILE_CHARS) {
    throw new PldrError(
      `${file}: ${src.length} characters is too large for a hyper-parameter file (limit ${MAX_FILE_CHARS})`,
    );
  }
  const text = src.startsWith('\ufeff') ? src.slice(1) : src;
  const assignments = new Map<string, PyAssignment>();
  const skipped: string[] = [];
  new Parser(tokenize(text, file), file, assignments).module(skipped);
  return {assignments, skipped};
}
