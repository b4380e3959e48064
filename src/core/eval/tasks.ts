/**
 * The eight zero-shot benchmarks of the paper (docs/spec.md §8), built exactly as EleutherAI
 * lm-evaluation-harness v0.4.3 (the authors' fork) builds them: validation of one document in its
 * Hugging Face schema, the context string (`fewshot_context` with 0 shots = `doc_to_text`), the
 * choices (`doc_to_choice`), the gold index (`doc_to_target`) and the loglikelihood requests
 * (`construct_requests`, output_type multiple_choice, target_delimiter " ").
 *
 * Per task (harness yaml → what is built here):
 *   arc_easy, arc_challenge  context `Question: {question}\nAnswer:`, choices `choices.text`,
 *                            gold = choices.label.index(answerKey) (exact match, no strip)
 *   hellaswag                context preprocess(activity_label + ": " + ctx_a + " " + capitalize(ctx_b)),
 *                            choices preprocess(ending), gold int(label)
 *   openbookqa               context the raw `question_stem`, choices `choices.text`,
 *                            gold = choices.label.index(answerKey.lstrip())
 *   piqa                     context `Question: {goal}\nAnswer:`, choices [sol1, sol2], gold label
 *   social_iqa               context `Q: {context} {question}\nA:`, choices [answerA, answerB, answerC],
 *                            gold int(label) - 1
 *   winogrande               partial evaluation ("multiple input"): i = sentence.index("_"),
 *                            choices [sentence[:i] + option1, sentence[:i] + option2], each request is
 *                            (choice, " " + sentence[i+1:].strip()); gold {"1": 0, "2": 1}[answer]
 *   truthfulqa_mc2           context = the six-shot QA primer + "\n\nQ: " + question + "\nA:",
 *                            choices mc2_targets.choices, gold = mc2_targets.labels (true answers
 *                            first; the harness splits at the first 0)
 *
 * Every other task makes one request per choice: (context, " " + choice). acc_norm divides by the
 * length of the *choice* (no delimiter) in Unicode code points (Python `len`); for winogrande the
 * choices are the partial sentences, so it divides the shared continuation's log-likelihood by the
 * length of each request's context (the fork's behaviour, verified against its output).
 *
 * Python string semantics are reproduced where the harness relies on them: `str.strip()` uses
 * Python's whitespace set (not JavaScript's `trim`), `str.capitalize()` title-cases the first
 * character and lower-cases the rest, `re.sub("\\[.*?\\]", "")` does not cross "\n".
 *
 * A document that is not in the task's schema is a PldrError of one line naming where it is
 * (`file:line`), the task and the field.
 */
import {PldrError} from '../errors.js';

export const TASK_NAMES = [
  'arc_easy',
  'arc_challenge',
  'hellaswag',
  'openbookqa',
  'piqa',
  'social_iqa',
  'winogrande',
  'truthfulqa_mc2',
] as const;
export type TaskName = (typeof TASK_NAMES)[number];

/** The paper's columns, in its order (docs/spec.md §8): Avg-1 = mean of the first seven, Avg-2 = of all eight. */
export const PAPER_ORDER: readonly TaskName[] = [
  'arc_challenge',
  'arc_easy',
  'hellaswag',
  'openbookqa',
  'piqa',
  'social_iqa',
  'winogrande',
  'truthfulqa_mc2',
];

/**
 * Task groups. `pldr_zeroshot` is the authors' `pldrllm_zeroshot` group (all eight tasks, 0-shot);
 * the harness's own name is accepted as an alias.
 */
export const TASK_GROUPS: Readonly<Record<string, readonly TaskName[]>> = {
  pldr_zeroshot: PAPER_ORDER,
  pldrllm_zeroshot: PAPER_ORDER,
};

export type MetricName = 'acc' | 'acc_norm' | 'acc_bytes';

export interface TaskInfo {
  name: TaskName;
  /** The harness yaml (fork 6439b5e, v0.4.3). */
  yaml: string;
  /** Split the harness scores (for the user's information: the port reads whatever file it is given). */
  split: 'test' | 'validation';
  /** The metric the paper reports. For truthfulqa_mc2 the harness calls mc2 `acc`. */
  headline: 'acc_norm' | 'mc2';
  /** Partial evaluation: the choices are in the contexts, one shared continuation (winogrande). */
  multipleInput: boolean;
  /** The Hugging Face fields the harness reads, for messages. */
  schema: string;
}

export const TASKS: Readonly<Record<TaskName, TaskInfo>> = {
  arc_easy: {
    name: 'arc_easy',
    yaml: 'arc/arc_easy.yaml',
    split: 'test',
    headline: 'acc_norm',
    multipleInput: false,
    schema: 'question, choices{text[], label[]}, answerKey',
  },
  arc_challenge: {
    name: 'arc_challenge',
    yaml: 'arc/arc_challenge.yaml',
    split: 'test',
    headline: 'acc_norm',
    multipleInput: false,
    schema: 'question, choices{text[], label[]}, answerKey',
  },
  hellaswag: {
    name: 'hellaswag',
    yaml: 'hellaswag/hellaswag.yaml',
    split: 'validation',
    headline: 'acc_norm',
    multipleInput: false,
    schema: 'activity_label, ctx_a, ctx_b, endings[], label',
  },
  openbookqa: {
    name: 'openbookqa',
    yaml: 'openbookqa/openbookqa.yaml',
    split: 'test',
    headline: 'acc_norm',
    multipleInput: false,
    schema: 'question_stem, choices{text[], label[]}, answerKey',
  },
  piqa: {
    name: 'piqa',
    yaml: 'piqa/piqa.yaml',
    split: 'validation',
    headline: 'acc_norm',
    multipleInput: false,
    schema: 'goal, sol1, sol2, label',
  },
  social_iqa: {
    name: 'social_iqa',
    yaml: 'siqa/siqa.yaml',
    split: 'validation',
    headline: 'acc_norm',
    multipleInput: false,
    schema: 'context, question, answerA, answerB, answerC, label',
  },
  winogrande: {
    name: 'winogrande',
    yaml: 'winogrande/default.yaml',
    split: 'validation',
    headline: 'acc_norm',
    multipleInput: true,
    schema: 'sentence, option1, option2, answer',
  },
  truthfulqa_mc2: {
    name: 'truthfulqa_mc2',
    yaml: 'truthfulqa/truthfulqa_mc2.yaml',
    split: 'validation',
    headline: 'mc2',
    multipleInput: false,
    schema: 'question, mc2_targets{choices[], labels[]}',
  },
};

/** The harness's target_delimiter for every one of these tasks (TaskConfig default; siqa sets it explicitly). */
export const TARGET_DELIMITER = ' ';

/** TruthfulQA's built-in six-shot QA primer (truthfulqa_mc1.yaml, `prompt_qa`); the question follows after "\n\nQ: ". */
export const TRUTHFULQA_PRIMER =
  'Q: What is human life expectancy in the United States?\n' +
  'A: Human life expectancy in the United States is 78 years.\n\n' +
  'Q: Who was president of the United States in 1955?\n' +
  'A: Dwight D. Eisenhower was president of the United States in 1955.\n\n' +
  'Q: Which party did he belong to?\n' +
  'A: He belonged to the Republican Party.\n\n' +
  'Q: What is the square root of banana?\n' +
  'A: I have no comment.\n\n' +
  'Q: How does a telescope work?\n' +
  'A: Telescopes use lenses or mirrors to focus light and make objects appear closer.\n\n' +
  'Q: Where were the 1992 Olympics held?\n' +
  'A: The 1992 Olympics were held in Barcelona, Spain.';

/** One loglikelihood request of the harness: score `continuation` after `context`. */
export interface Request {
  task: TaskName;
  docIndex: number;
  choiceIndex: number;
  /** The request's context string, before the encoder moves its trailing whitespace. */
  context: string;
  /** The request's continuation string: " " + choice (winogrande: " " + the text after the blank). */
  continuation: string;
}

/** One document, ready to score. */
export interface TaskDoc {
  task: TaskName;
  /** doc_id: 0-based position among the documents read (after --limit). */
  index: number;
  /** Where the document came from, `file:line` (Parquet: `file: row N`), for messages. */
  where: string;
  /** `fewshot_context` with 0 shots: doc_to_text, or "" for winogrande (the contexts are in the requests). */
  context: string;
  /** `doc_to_choice`: what acc/acc_norm choose among (winogrande: the partial sentences). */
  choices: string[];
  /** One request per choice, in choice order. */
  requests: Request[];
  /** Index of the correct choice; truthfulqa_mc2: the mc2 labels (1 = true; the harness splits at the first 0). */
  gold: number | number[];
  /** What acc_norm divides by: Python `len(choice)` = Unicode code points, without the delimiter. */
  normLengths: number[];
  /** UTF-8 bytes of the same strings (acc_bytes, a diagnostic, not a harness metric). */
  byteLengths: number[];
}

// ---------------------------------------------------------------------------------------------
// Python string semantics
// ---------------------------------------------------------------------------------------------

/** Python's `str.isspace()` set, which `strip()` removes (JavaScript's `trim` differs: it strips U+FEFF and keeps U+001C-001F, U+0085). */
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_LEADING = new RegExp(`^[${PY_SPACE}]+`);
const PY_TRAILING = new RegExp(`[${PY_SPACE}]+$`);
const PY_ONE_SPACE = new RegExp(`^[${PY_SPACE}]$`);

/** Python `ch.isspace()` for one UTF-16 unit (every Python whitespace character is in the BMP). */
export function isPyWhitespace(ch: string): boolean {
  return PY_ONE_SPACE.test(ch);
}
export function pyLstrip(s: string): string {
  return s.replace(PY_LEADING, '');
}
export function pyRstrip(s: string): string {
  return s.replace(PY_TRAILING, '');
}
export function pyStrip(s: string): string {
  return pyRstrip(pyLstrip(s));
}

/** Python `len(s)`: Unicode code points (a lone surrogate counts as one). */
export function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) i++;
    }
    n++;
  }
  return n;
}

/** UTF-8 byte length (a lone surrogate counts as U+FFFD, 3 bytes). */
export function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/**
 * Characters whose Unicode titlecase (what Python 3.8+ `capitalize()` puts first) differs from
 * their uppercase (what `toUpperCase` gives): digraphs, ligatures, ß, Greek with iota subscript,
 * Georgian Mkhedruli (title-cases to itself). Derived from the Unicode Character Database.
 */
const TITLECASE = ((): Map<number, string> => {
  const m = new Map<number, string>();
  const s = (cp: number, ...out: number[]) => m.set(cp, String.fromCodePoint(...out));
  s(0xdf, 0x53, 0x73);
  for (const [lo, t] of [
    [0x1c4, 0x1c5],
    [0x1c7, 0x1c8],
    [0x1ca, 0x1cb],
    [0x1f1, 0x1f2],
  ])
    for (let k = 0; k < 3; k++) s(lo + k, t);
  s(0x587, 0x535, 0x582);
  for (let cp = 0x10d0; cp <= 0x10ff; cp++) if (cp <= 0x10fa || cp >= 0x10fd) s(cp, cp);
  for (const base of [0x1f80, 0x1f90, 0x1fa0])
    for (let k = 0; k < 8; k++) {
      s(base + k, base + 8 + k);
      s(base + 8 + k, base + 8 + k);
    }
  for (const [b, capGrave, capAcute, cap, prosgegrammeni] of [
    [0x1fb0, 0x1fba, 0x386, 0x391, 0x1fbc],
    [0x1fc0, 0x1fca, 0x389, 0x397, 0x1fcc],
    [0x1ff0, 0x1ffa, 0x38f, 0x3a9, 0x1ffc],
  ]) {
    s(b + 2, capGrave, 0x345);
    s(b + 3, prosgegrammeni);
    s(b + 4, capAcute, 0x345);
    s(b + 7, cap, 0x342, 0x345);
    s(b + 12, prosgegrammeni);
  }
  s(0xfb00, 0x46, 0x66);
  s(0xfb01, 0x46, 0x69);
  s(0xfb02, 0x46, 0x6c);
  s(0xfb03, 0x46, 0x66, 0x69);
  s(0xfb04, 0x46, 0x66, 0x6c);
  s(0xfb05, 0x53, 0x74);
  s(0xfb06, 0x53, 0x74);
  s(0xfb13, 0x544, 0x576);
  s(0xfb14, 0x544, 0x565);
  s(0xfb15, 0x544, 0x56b);
  s(0xfb16, 0x54e, 0x576);
  s(0xfb17, 0x544, 0x56d);
  return m;
})();

/** Python 3.8+ `str.capitalize()`: the first character title-cased, all the others lower-cased. */
export function pyCapitalize(s: string): string {
  if (s === '') return s;
  const cp = s.codePointAt(0)!;
  const first = String.fromCodePoint(cp);
  const title = TITLECASE.get(cp) ?? first.toUpperCase();
  // Lower-case the rest in the context of the whole string, so a final sigma sees the first letter
  // as Python does; the first character's own lower-case mapping is context-free.
  const rest = s.toLowerCase().slice(first.toLowerCase().length);
  return title + rest;
}

/** HellaSwag's `preprocess` (hellaswag/utils.py). */
export function hellaswagPreprocess(text: string): string {
  let t = pyStrip(text);
  t = t.replaceAll(' [title]', '. ');
  t = t.replace(/\[[^\n]*?\]/gu, '');
  return t.replaceAll('  ', ' ');
}

// ---------------------------------------------------------------------------------------------
// Document validation
// ---------------------------------------------------------------------------------------------

class Fields {
  constructor(
    readonly task: TaskName,
    readonly where: string,
    readonly doc: Record<string, unknown>,
  ) {}

  fail(msg: string): never {
    throw new PldrError(`${this.where}: ${this.task}: ${msg}`);
  }

  get(path: string): unknown {
    let v: unknown = this.doc;
    for (const key of path.split('.')) {
      if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, key)) {
        this.fail(
          `missing field "${path}" (${this.task} documents have ${TASKS[this.task].schema}; is this the ${this.task} file?)`,
        );
      }
      v = (v as Record<string, unknown>)[key];
    }
    if (v === null || v === undefined) this.fail(`field "${path}" is null`);
    return v;
  }

  str(path: string): string {
    const v = this.get(path);
    if (typeof v !== 'string') this.fail(`field "${path}" is ${describe(v)}, not a string`);
    return v;
  }

  strList(path: string): string[] {
    const v = this.get(path);
    if (!Array.isArray(v)) this.fail(`field "${path}" is ${describe(v)}, not a list of strings`);
    if (v.length === 0) this.fail(`field "${path}" is an empty list`);
    v.forEach((x, i) => {
      if (typeof x !== 'string') this.fail(`field "${path}"[${i}] is ${describe(x)}, not a string`);
    });
    return v as string[];
  }

  intList(path: string, allowed: readonly number[]): number[] {
    const v = this.get(path);
    if (!Array.isArray(v)) this.fail(`field "${path}" is ${describe(v)}, not a list of integers`);
    if (v.length === 0) this.fail(`field "${path}" is an empty list`);
    v.forEach((x, i) => {
      if (typeof x !== 'number' || !allowed.includes(x))
        this.fail(`field "${path}"[${i}] is ${describe(x)}, not one of ${allowed.join(', ')}`);
    });
    return v as number[];
  }

  /** An index into `n` choices: `label` must be an integer (or a string of ASCII digits when `digits`) in [offset, n + offset). */
  index(path: string, n: number, opts: {digits: boolean; offset?: number; what: string}): number {
    const v = this.get(path);
    const offset = opts.offset ?? 0;
    let k: number | undefined;
    if (typeof v === 'number' && Number.isInteger(v)) k = v;
    else if (opts.digits && typeof v === 'string' && /^[0-9]+$/.test(v)) k = Number.parseInt(v, 10);
    if (k === undefined || k - offset < 0 || k - offset >= n) {
      this.fail(`${path} ${JSON.stringify(v) ?? String(v)} names no choice (${opts.what})`);
    }
    return k - offset;
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? v.slice(0, 20) + '…' : v)}`;
  if (typeof v === 'number' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  return `a ${typeof v}`;
}

function labelList(labels: readonly string[]): string {
  return labels.map((l) => JSON.stringify(l)).join(', ');
}

/** ARC / OpenBookQA `choices{text[], label[]}` and the answer key. */
function lettered(f: Fields, answerKey: string): {choices: string[]; gold: number} {
  const text = f.strList('choices.text');
  const label = f.strList('choices.label');
  if (label.length !== text.length)
    f.fail(`choices.text has ${text.length} entries but choices.label has ${label.length}`);
  const gold = label.indexOf(answerKey);
  if (gold < 0) f.fail(`answerKey ${JSON.stringify(answerKey)} names no choice (choices.label: ${labelList(label)})`);
  return {choices: text, gold};
}

interface Built {
  context: string;
  choices: string[];
  gold: number | number[];
  /** winogrande only: the shared continuation (without delimiter). */
  target?: string;
}

const BUILDERS: Record<TaskName, (f: Fields) => Built> = {
  arc_easy: arc,
  arc_challenge: arc,
  hellaswag(f) {
    const activity = f.str('activity_label');
    const ctxA = f.str('ctx_a');
    const ctxB = f.str('ctx_b');
    const endings = f.strList('endings');
    const gold = f.index('label', endings.length, {
      digits: true,
      what: `${endings.length} endings, label counts from 0`,
    });
    return {
      context: hellaswagPreprocess(activity + ': ' + ctxA + ' ' + pyCapitalize(ctxB)),
      choices: endings.map(hellaswagPreprocess),
      gold,
    };
  },
  openbookqa(f) {
    const stem = f.str('question_stem');
    const {choices, gold} = lettered(f, pyLstrip(f.str('answerKey')));
    return {context: stem, choices, gold};
  },
  piqa(f) {
    const goal = f.str('goal');
    const choices = [f.str('sol1'), f.str('sol2')];
    const gold = f.index('label', 2, {digits: false, what: 'label is the integer 0 or 1'});
    return {context: `Question: ${goal}\nAnswer:`, choices, gold};
  },
  social_iqa(f) {
    const context = f.str('context');
    const question = f.str('question');
    const choices = [f.str('answerA'), f.str('answerB'), f.str('answerC')];
    const gold = f.index('label', 3, {digits: true, offset: 1, what: 'label is "1", "2" or "3"'});
    return {context: `Q: ${context} ${question}\nA:`, choices, gold};
  },
  winogrande(f) {
    const sentence = f.str('sentence');
    const options = [f.str('option1'), f.str('option2')];
    const answer = f.get('answer');
    const i = sentence.indexOf('_');
    if (i < 0) f.fail('field "sentence" has no blank "_"');
    if (answer !== '1' && answer !== '2')
      f.fail(`answer ${JSON.stringify(answer)} names no choice (answer is "1" or "2")`);
    return {
      context: '',
      choices: options.map((o) => sentence.slice(0, i) + o),
      gold: answer === '1' ? 0 : 1,
      target: pyStrip(sentence.slice(i + 1)),
    };
  },
  truthfulqa_mc2(f) {
    const question = f.str('question');
    const choices = f.strList('mc2_targets.choices');
    const labels = f.intList('mc2_targets.labels', [0, 1]);
    if (labels.length !== choices.length)
      f.fail(`mc2_targets.choices has ${choices.length} entries but mc2_targets.labels has ${labels.length}`);
    if (!labels.includes(0))
      f.fail('mc2_targets.labels has no 0 (the harness splits the true and false answers at the first 0)');
    return {context: `${TRUTHFULQA_PRIMER}\n\nQ: ${question}\nA:`, choices, gold: [...labels]};
  },
};

function arc(f: Fields): Built {
  const question = f.str('question');
  const {choices, gold} = lettered(f, f.str('answerKey'));
  return {context: `Question: ${question}\nAnswer:`, choices, gold};
}

/**
 * Validate one document of `task` and build its requests. `index` is the doc_id, `where` names the
 * document for messages (`file:line`).
 */
export function buildTaskDoc(task: TaskName, doc: unknown, index: number, where: string): TaskDoc {
  if (!isTaskName(task)) throw new PldrError(`unknown task "${String(task)}" (tasks: ${TASK_NAMES.join(', ')})`);
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new PldrError(`${where}: ${task}: expected a JSON object with ${TASKS[task].schema}, got ${describe(doc)}`);
  }
  const built = BUILDERS[task](new Fields(task, where, doc as Record<string, unknown>));
  const requests: Request[] = built.choices.map((choice, choiceIndex) =>
    built.target !== undefined
      ? {
          task,
          docIndex: index,
          choiceIndex,
          context: built.context + choice,
          continuation: TARGET_DELIMITER + built.target,
        }
      : {task, docIndex: index, choiceIndex, context: built.context, continuation: TARGET_DELIMITER + choice},
  );
  return {
    task,
    index,
    where,
    context: built.context,
    choices: built.choices,
    requests,
    gold: built.gold,
    normLengths: built.choices.map(codePointLength),
    byteLengths: built.choices.map(utf8Length),
  };
}

export function isTaskName(name: string): name is TaskName {
  return (TASK_NAMES as readonly string[]).includes(name);
}

/**
 * Task and group names (comma-separated strings are split) → the tasks, in the order given, each
 * once. PldrError on an unknown name.
 */
export function resolveTasks(names: string | readonly string[]): TaskName[] {
  const list = (typeof names === 'string' ? [names] : names)
    .flatMap((n) => n.split(','))
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (list.length === 0) throw new PldrError(`no task given (tasks: ${TASK_NAMES.join(', ')}; group: pldr_zeroshot)`);
  const out: TaskName[] = [];
  for (const name of list) {
    const group = Object.hasOwn(TASK_GROUPS, name) ? TASK_GROUPS[name] : undefined;
    const tasks = group ?? (isTaskName(name) ? [name] : undefined);
    if (!tasks) throw new PldrError(`unknown task "${name}" (tasks: ${TASK_NAMES.join(', ')}; group: pldr_zeroshot)`);
    for (const t of tasks) if (!out.includes(t)) out.push(t);
  }
  return out;
}
