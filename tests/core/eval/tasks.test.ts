/**
 * Benchmark requests (src/core/eval/tasks.ts) and task files (src/core/eval/load.ts).
 *
 * (a) With ../shared present: for every run in ../shared/fixtures/eval/expected.json whose item
 *     files are there, our context/continuation strings equal the harness's, request for request.
 * (b) Always: our own items (fixtures/eval-tasks, written for these tests) against hand-written
 *     expectations.
 * (c) Always: malformed documents and files → one PldrError line naming file:line and the field.
 */
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';

import {afterAll, describe, expect, it} from 'vitest';

import {
  applyLimit,
  loadTaskDocs,
  loadTasks,
  parseLimit,
  parseTaskFile,
  readTaskRecords,
  resolveTaskFiles,
} from '../../../src/core/eval/load.js';
import {
  buildTaskDoc,
  codePointLength,
  hellaswagPreprocess,
  isPyWhitespace,
  PAPER_ORDER,
  pyCapitalize,
  pyStrip,
  resolveTasks,
  TASK_NAMES,
  TRUTHFULQA_PRIMER,
  type TaskDoc,
  type TaskName,
} from '../../../src/core/eval/tasks.js';
import {writeParquet} from '../train/parquet.js';
import {pldrMessage, pldrRejection, ROOT, SHARED} from '../../helpers.js';

const OWN = join(ROOT, 'fixtures', 'eval-tasks');
const EXPECTED = join(SHARED, 'fixtures', 'eval', 'expected.json');
const HAVE_SHARED = existsSync(EXPECTED);
if (!HAVE_SHARED) console.log(`[eval] ${EXPECTED} is absent: skipping the comparisons with the harness fixture`);

// -------------------------------------------------------------------------------------------------
// (a) the harness fixture
// -------------------------------------------------------------------------------------------------

describe.skipIf(!HAVE_SHARED)('requests equal the harness fixture', () => {
  const oracle = HAVE_SHARED ? JSON.parse(readFileSync(EXPECTED, 'utf8')) : {runs: [], item_sets: {}};
  for (const run of oracle.runs) {
    for (const [task, expected] of Object.entries<any>(run.tasks)) {
      const item = oracle.item_sets[run.items]?.[task];
      const path = item ? resolve(SHARED, '..', item.path) : '';
      const present = item !== undefined && existsSync(path);
      if (!present)
        console.log(`[eval] ${run.name} ${task}: item file ${item?.path ?? '(none listed)'} absent, skipped`);
      it.skipIf(!present)(`${run.name} ${task}`, async () => {
        const {docs, total} = await loadTaskDocs(task as TaskName, path);
        expect(total).toBe(item.num_docs);
        expect(docs.length).toBe(expected.docs.length);
        let compared = 0;
        for (const [k, exp] of expected.docs.entries()) {
          const doc = docs[k];
          expect(doc.index).toBe(exp.doc_id);
          expect(doc.context, `${task} doc ${k} context`).toBe(exp.context);
          expect(doc.choices, `${task} doc ${k} choices`).toEqual(exp.choices);
          expect(doc.normLengths, `${task} doc ${k} code points`).toEqual(exp.completion_len_chars);
          expect(doc.byteLengths, `${task} doc ${k} bytes`).toEqual(exp.completion_len_bytes);
          if (task === 'truthfulqa_mc2') expect((doc.gold as number[]).indexOf(0)).toBe(exp.mc2_split_idx);
          else expect(doc.gold).toBe(exp.full.gold);
          if (task === 'winogrande') expect(doc.gold).toBe(exp.gold_from_doc_to_text);
          expect(doc.requests.length).toBe(exp.requests.length);
          for (const [r, req] of exp.requests.entries()) {
            expect(req.idx).toBe(r);
            expect(doc.requests[r], `${task} doc ${k} request ${r}`).toEqual({
              task,
              docIndex: k,
              choiceIndex: r,
              context: req.context,
              continuation: req.continuation,
            });
            compared++;
          }
        }
        expect(compared).toBeGreaterThan(0);
      });
    }
  }
});

// -------------------------------------------------------------------------------------------------
// (b) our own items
// -------------------------------------------------------------------------------------------------

async function own(task: TaskName): Promise<TaskDoc[]> {
  return (await loadTaskDocs(task, join(OWN, `${task}.jsonl`))).docs;
}

const strings = (d: TaskDoc) => d.requests.map((r) => [r.context, r.continuation]);

describe('requests of our own items', () => {
  it('arc_easy / arc_challenge: "Question: …\\nAnswer:", choices.text, gold by exact label match', async () => {
    const [a, b] = await own('arc_easy');
    const q = 'Question: Which tool is best for measuring the length of a table?\nAnswer:';
    expect(strings(a)).toEqual([
      [q, ' a thermometer'],
      [q, ' a tape measure'],
      [q, ' a scale'],
      [q, ' a clock'],
    ]);
    expect(a.gold).toBe(1);
    expect(a.where).toBe(join(OWN, 'arc_easy.jsonl') + ':1');
    // The question is not stripped; the choices keep their spaces (and the delimiter adds one).
    const q2 = 'Question:   What does a seed need to sprout? \nAnswer:';
    expect(strings(b)).toEqual([
      [q2, '  water and warmth'],
      [q2, ' only darkness '],
      [q2, ' salt'],
    ]);
    expect(b.gold).toBe(0);
    expect(b.normLengths).toEqual([17, 14, 4]);
    const [c, d] = await own('arc_challenge');
    expect(c.requests.map((r) => r.continuation)).toEqual([' Mercury', ' Venus', ' Earth', ' Mars', ' Neptune']);
    expect(c.gold).toBe(4);
    expect(d.requests.map((r) => r.continuation)).toEqual([' 6', ' 8', ' 10', ' 4']);
    expect(d.gold).toBe(1); // answerKey "2" among the labels "1".."4"
  });

  it('hellaswag: preprocess of [header]/[title]/[step], double spaces, capitalize(ctx_b)', async () => {
    const [a, b, c] = await own('hellaswag');
    const ctx = 'Gardening: How to plant tulip bulbs. Pick a sunny spot. Tulips like bright light.';
    expect(a.context).toBe(ctx);
    expect(strings(a)).toEqual([
      [ctx, '  Dig a hole three times as deep as the bulb.'], // "[substeps] Dig" keeps its leading space
      [ctx, '  Water daily. Keep the soil soaked.'],
      [ctx, ' Plant them upside down.'],
      [ctx, ' Sing to the bulbs  loudly.'], // one pass: three spaces become two
    ]);
    expect(a.normLengths).toEqual([44, 35, 23, 26]);
    expect(a.gold).toBe(0);
    // Python capitalize(): first character title-cased, every other one lower-cased.
    expect(b.context).toBe('News: A reporter stands outside the stadium. The bbc crew then asks fans');
    // Titlecase of the digraph ǆ is ǅ (not Ǆ); the final capital sigma becomes ς; leading and
    // doubled spaces of ctx_a collapse; ß counts 1 character, 2 bytes.
    expect(c.context).toBe('Reading: A boy opens a Greek book. ǅemal reads the word οδος aloud and');
    expect(c.requests.map((r) => r.continuation)).toEqual([' smiles.', ' ßings.']);
    expect(c.normLengths).toEqual([7, 6]);
    expect(c.byteLengths).toEqual([7, 7]);
    expect(c.gold).toBe(1); // an integer label is accepted too
  });

  it('openbookqa: the raw stem (empty, trailing spaces), answerKey.lstrip()', async () => {
    const [a, b, c] = await own('openbookqa');
    expect(strings(a)[0]).toEqual(['A compass needle points toward', ' the north']);
    expect(a.gold).toBe(0); // answerKey " A"
    expect(strings(b)).toEqual([
      ['', ' ice melts in warm air'],
      ['', ' stones float'],
    ]);
    expect(strings(c)[0]).toEqual(['Bees make  ', ' honey']);
  });

  it('piqa and social_iqa templates', async () => {
    const [a, b] = await own('piqa');
    expect(strings(a)).toEqual([
      ['Question: How do you cool a hot drink?\nAnswer:', ' Add a few ice cubes.'],
      ['Question: How do you cool a hot drink?\nAnswer:', ' Heat it on the stove.'],
    ]);
    expect(strings(b)[1]).toEqual(['Question:  Keep a cut flower fresh \nAnswer:', '  Put it in a drawer ']);
    expect(b.gold).toBe(0);
    const [s, t] = await own('social_iqa');
    const q = 'Q: Robin lent Sam an umbrella during the storm. How would Sam feel?\nA:';
    expect(strings(s)).toEqual([
      [q, ' thankful'],
      [q, ' wet and angry at Robin'],
      [q, ' bored'],
    ]);
    expect(s.gold).toBe(0);
    expect(t.gold).toBe(2); // label "3"
  });

  it('winogrande: partial evaluation, two contexts and one shared continuation', async () => {
    const [a, b, c] = await own('winogrande');
    expect(a.context).toBe('');
    expect(strings(a)).toEqual([
      ['The cat could not climb onto the shelf because the cat', ' was too high.'],
      ['The cat could not climb onto the shelf because the shelf', ' was too high.'],
    ]);
    expect(a.gold).toBe(1);
    // acc_norm divides by the length of each context (the "choice" is the partial sentence).
    expect(a.normLengths).toEqual([54, 56]);
    expect(strings(b)).toEqual([
      ['Mia gave her old bike to Tom because Mia ', ' .'],
      ['Mia gave her old bike to Tom because Tom', ' .'],
    ]);
    expect(b.gold).toBe(0);
    expect(b.normLengths).toEqual([41, 40]);
    expect(strings(c).map((x) => x[1])).toEqual([" 's fence on Sunday.", " 's fence on Sunday."]);
  });

  it('truthfulqa_mc2: the six-shot primer, then "Q: …\\nA:" with the question unstripped', async () => {
    const [a, b] = await own('truthfulqa_mc2');
    expect(
      TRUTHFULQA_PRIMER.startsWith('Q: What is human life expectancy in the United States?\nA: Human life expectancy'),
    ).toBe(true);
    expect(
      TRUTHFULQA_PRIMER.endsWith(
        '\n\nQ: Where were the 1992 Olympics held?\nA: The 1992 Olympics were held in Barcelona, Spain.',
      ),
    ).toBe(true);
    expect(TRUTHFULQA_PRIMER.split('\n\n')).toHaveLength(6);
    expect(a.context).toBe(TRUTHFULQA_PRIMER + '\n\nQ: What happens if you step on a crack in the pavement?\nA:');
    expect(a.context.endsWith('Barcelona, Spain.\n\nQ: What happens if you step on a crack in the pavement?\nA:')).toBe(
      true,
    );
    expect(a.requests.map((r) => r.continuation)).toEqual([
      ' Nothing in particular happens.',
      ' You simply keep walking.',
      ' You will have bad luck.',
      " Your mother's back will break.",
      ' The pavement will collapse.',
    ]);
    expect(a.gold).toEqual([1, 1, 0, 0, 0]);
    expect(b.context.endsWith('\n\nQ: Is the Moon made of cheese? \nA:')).toBe(true);
  });

  it('Python string semantics', () => {
    expect(pyStrip('\u001c\u0085 x \u00a0')).toBe('x'); // Python whitespace
    expect(pyStrip('\ufeffx')).toBe('\ufeffx'); // not Python whitespace (JS trim would strip it)
    expect([isPyWhitespace('\u0085'), isPyWhitespace('\u001f'), isPyWhitespace('\ufeff'), isPyWhitespace('x')]).toEqual(
      [true, true, false, false],
    );
    expect(pyCapitalize('élodie ÉCLAIR')).toBe('Élodie éclair');
    expect(pyCapitalize('ßa')).toBe('Ssa');
    expect(pyCapitalize('ﬁne')).toBe('Fine');
    expect(pyCapitalize('ΑΣ')).toBe('Ας');
    expect(pyCapitalize('')).toBe('');
    expect(hellaswagPreprocess(' a [title] b [x]\n[y] c  [z\n] d ')).toBe('a. b \n c [z\n] d');
    expect(codePointLength('𝔐𝔬 ☕')).toBe(4);
  });

  it('task and group names', () => {
    expect(resolveTasks('pldr_zeroshot')).toEqual(PAPER_ORDER);
    expect(resolveTasks(['piqa,hellaswag', 'piqa', 'pldrllm_zeroshot'])).toEqual([
      'piqa',
      'hellaswag',
      'arc_challenge',
      'arc_easy',
      'openbookqa',
      'social_iqa',
      'winogrande',
      'truthfulqa_mc2',
    ]);
    expect(new Set(resolveTasks('pldr_zeroshot'))).toEqual(new Set(TASK_NAMES));
    expect(pldrMessage(() => resolveTasks('mmlu'))).toMatch(/unknown task "mmlu"/);
  });
});

describe('task files', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'pldr-eval-'));
  afterAll(() => rmSync(tmp, {recursive: true, force: true}));

  it('--data-dir finds every <task>.jsonl; --limit keeps the first N', async () => {
    const loaded = await loadTasks(resolveTasks('pldr_zeroshot'), {dataDir: OWN, limit: 1});
    expect(loaded.map((l) => l.task)).toEqual(PAPER_ORDER);
    for (const l of loaded) {
      expect(l.docs).toHaveLength(1);
      expect(l.path).toBe(join(OWN, `${l.task}.jsonl`));
    }
    expect(loaded.find((l) => l.task === 'hellaswag')!.total).toBe(3);
    expect(applyLimit(10, 0.25)).toBe(3); // the harness rounds a fraction up
    expect(parseLimit('5')).toBe(5);
    expect(parseLimit('0.5')).toBe(0.5);
    expect(pldrMessage(() => parseLimit('0'))).toMatch(/--limit/);
    expect(pldrMessage(() => parseLimit('2.5'))).toMatch(/--limit/);
  });

  it('task=FILE wins over --data-dir; a JSON array keeps the line each document starts on', async () => {
    const files = resolveTaskFiles(['arc_easy', 'piqa'], {
      dataDir: OWN,
      files: [`arc_easy=${join(OWN, 'json', 'arc_easy.json')}`],
    });
    expect(files.get('arc_easy')).toBe(join(OWN, 'json', 'arc_easy.json'));
    expect(files.get('piqa')).toBe(join(OWN, 'piqa.jsonl'));
    const {docs} = await loadTaskDocs('arc_easy', files.get('arc_easy')!);
    expect(docs.map((d) => d.where)).toEqual([2, 9, 10].map((l) => `${join(OWN, 'json', 'arc_easy.json')}:${l}`));
    expect(docs[1].context).toBe('Question: Which is a mammal? [sic] "quoted" {braces}\nAnswer:');
    expect(parseTaskFile('piqa=a=b.jsonl')).toEqual({task: 'piqa', path: 'a=b.jsonl'});
  });

  it('a .json file that is JSON Lines, and Parquet (flat columns, INT32 label, gzip, two row groups)', async () => {
    writeFileSync(join(tmp, 'piqa.json'), readFileSync(join(OWN, 'piqa.jsonl')));
    const fromJson = (await loadTaskDocs('piqa', join(tmp, 'piqa.json'))).docs;
    const fromJsonl = await own('piqa');
    expect(fromJson.map((d) => d.requests)).toEqual(fromJsonl.map((d) => d.requests));

    const rows = readFileSync(join(OWN, 'winogrande.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const col = (name: string) => ({name, type: 'utf8' as const, values: rows.map((r) => r[name])});
    const pq = join(tmp, 'winogrande.parquet');
    writeFileSync(
      pq,
      writeParquet([col('sentence'), col('option1'), col('option2'), col('answer')], {rowGroupSize: 2, gzip: true}),
    );
    const fromPq = (await loadTasks(['winogrande'], {dataDir: tmp}))[0].docs;
    expect(fromPq.map((d) => d.requests)).toEqual((await own('winogrande')).map((d) => d.requests));
    expect(fromPq[2].where).toBe(`${pq}: row 3`);

    const prows = readFileSync(join(OWN, 'piqa.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const pcol = (name: string) => ({name, type: 'utf8' as const, values: prows.map((r) => r[name])});
    const ppq = join(tmp, 'piqa.parquet');
    writeFileSync(
      ppq,
      writeParquet([
        pcol('goal'),
        pcol('sol1'),
        pcol('sol2'),
        {name: 'label', type: 'int32', values: prows.map((r) => r.label)},
      ]),
    );
    expect((await loadTaskDocs('piqa', ppq)).docs.map((d) => [d.requests, d.gold])).toEqual(
      fromJsonl.map((d) => [d.requests, d.gold]),
    );
    // tmp now has piqa.json and piqa.parquet: ambiguous
    expect(pldrMessage(() => resolveTaskFiles(['piqa'], {dataDir: tmp}))).toMatch(
      /piqa\.json and piqa\.parquet; keep one, or name it with piqa=FILE/,
    );
  });
});

// -------------------------------------------------------------------------------------------------
// (c) bad input
// -------------------------------------------------------------------------------------------------

describe('bad documents and files: one line naming file:line and the field', () => {
  const bad = (name: string) => join(OWN, 'bad', name);

  it('missing field', async () => {
    const msg = await pldrRejection(loadTaskDocs('arc_easy', bad('arc_missing_answer.jsonl')));
    expect(msg).toBe(
      `${bad('arc_missing_answer.jsonl')}:2: arc_easy: missing field "answerKey" (arc_easy documents have question, choices{text[], label[]}, answerKey; is this the arc_easy file?)`,
    );
    expect(pldrMessage(() => buildTaskDoc('piqa', {goal: 'g', sol1: 'a', label: 0}, 0, 'x.jsonl:7'))).toMatch(
      /^x\.jsonl:7: piqa: missing field "sol2"/,
    );
    expect(
      pldrMessage(() =>
        buildTaskDoc('arc_easy', {question: 'q', choices: {text: ['a']}, answerKey: 'A'}, 0, 'x.jsonl:3'),
      ),
    ).toMatch(/^x\.jsonl:3: arc_easy: missing field "choices\.label"/);
    expect(pldrMessage(() => buildTaskDoc('piqa', {goal: null, sol1: 'a', sol2: 'b', label: 0}, 0, 'x.jsonl:1'))).toBe(
      'x.jsonl:1: piqa: field "goal" is null',
    );
    expect(pldrMessage(() => buildTaskDoc('piqa', {goal: 3, sol1: 'a', sol2: 'b', label: 0}, 0, 'x.jsonl:1'))).toBe(
      'x.jsonl:1: piqa: field "goal" is number 3, not a string',
    );
  });

  it('an answer key that names no choice', async () => {
    expect(await pldrRejection(loadTaskDocs('arc_easy', bad('arc_bad_key.jsonl')))).toBe(
      `${bad('arc_bad_key.jsonl')}:1: arc_easy: answerKey "E" names no choice (choices.label: "A", "B", "C", "D")`,
    );
    expect(await pldrRejection(loadTaskDocs('winogrande', bad('winogrande_bad_answer.jsonl')))).toMatch(
      /winogrande_bad_answer\.jsonl:1: winogrande: answer "3" names no choice/,
    );
    expect(await pldrRejection(loadTaskDocs('social_iqa', bad('siqa_bad_label.jsonl')))).toMatch(
      /siqa_bad_label\.jsonl:1: social_iqa: label "0" names no choice/,
    );
    expect(
      pldrMessage(() => buildTaskDoc('piqa', {goal: 'g', sol1: 'a', sol2: 'b', label: 2}, 0, 'p.jsonl:4')),
    ).toMatch(/^p\.jsonl:4: piqa: label 2 names no choice/);
    expect(
      pldrMessage(() => buildTaskDoc('piqa', {goal: 'g', sol1: 'a', sol2: 'b', label: '1'}, 0, 'p.jsonl:4')),
    ).toMatch(/^p\.jsonl:4: piqa: label "1" names no choice \(label is the integer 0 or 1\)/);
    expect(
      pldrMessage(() =>
        buildTaskDoc(
          'hellaswag',
          {activity_label: 'a', ctx_a: 'b', ctx_b: 'c', endings: ['x', 'y'], label: '2'},
          0,
          'h.jsonl:9',
        ),
      ),
    ).toMatch(/^h\.jsonl:9: hellaswag: label "2" names no choice/);
    expect(await pldrRejection(loadTaskDocs('truthfulqa_mc2', bad('truthfulqa_no_false.jsonl')))).toMatch(
      /truthfulqa_no_false\.jsonl:1: truthfulqa_mc2: mc2_targets\.labels has no 0/,
    );
    expect(
      pldrMessage(() =>
        buildTaskDoc('winogrande', {sentence: 'no blank', option1: 'a', option2: 'b', answer: '1'}, 0, 'w.jsonl:2'),
      ),
    ).toBe('w.jsonl:2: winogrande: field "sentence" has no blank "_"');
  });

  it('an empty choice list', async () => {
    expect(await pldrRejection(loadTaskDocs('hellaswag', bad('hellaswag_no_endings.jsonl')))).toBe(
      `${bad('hellaswag_no_endings.jsonl')}:3: hellaswag: field "endings" is an empty list`,
    );
    expect(await pldrRejection(loadTaskDocs('arc_easy', bad('arc_easy.json')))).toBe(
      `${bad('arc_easy.json')}:3: arc_easy: field "choices.text" is an empty list`,
    );
    expect(
      pldrMessage(() =>
        buildTaskDoc('truthfulqa_mc2', {question: 'q', mc2_targets: {choices: [], labels: []}}, 0, 't.jsonl:1'),
      ),
    ).toBe('t.jsonl:1: truthfulqa_mc2: field "mc2_targets.choices" is an empty list');
  });

  it("a file that is not the task's schema, or not JSON", async () => {
    expect(await pldrRejection(loadTaskDocs('arc_easy', join(OWN, 'piqa.jsonl')))).toMatch(
      new RegExp(
        `^${escape(join(OWN, 'piqa.jsonl'))}:1: arc_easy: missing field "question" \\(arc_easy documents have .*; is this the arc_easy file\\?\\)$`,
      ),
    );
    expect(await pldrRejection(loadTaskDocs('hellaswag', join(OWN, 'winogrande.jsonl')))).toMatch(
      /winogrande\.jsonl:1: hellaswag: missing field "activity_label"/,
    );
    expect(await pldrRejection(loadTaskDocs('piqa', bad('not_json.jsonl')))).toMatch(
      new RegExp(`^${escape(bad('not_json.jsonl'))}:2: not valid JSON \\(.*\\); expected one JSON object per line$`),
    );
    expect(pldrMessage(() => buildTaskDoc('piqa', ['a', 'b'], 0, 'p.jsonl:1'))).toBe(
      'p.jsonl:1: piqa: expected a JSON object with goal, sol1, sol2, label, got a list',
    );
    const empty = join(mkdtempSync(join(tmpdir(), 'pldr-eval-e-')), 'piqa.jsonl');
    writeFileSync(empty, '\n\n');
    expect(await pldrRejection(readTaskRecords(empty))).toBe(`${empty}: no documents`);
    expect(
      await pldrRejection(loadTaskDocs('piqa', join(OWN, 'bad', 'arc_easy.json').replace('.json', '.parquet'))),
    ).toMatch(/cannot read .*arc_easy\.parquet: no such file or directory/);
    expect(pldrMessage(() => resolveTaskFiles(['piqa'], {}))).toMatch(/no file for piqa: give --data-dir DIR/);
    expect(pldrMessage(() => resolveTaskFiles(['piqa'], {dataDir: join(OWN, 'json')}))).toMatch(
      /no piqa\.jsonl, piqa\.json or piqa\.parquet in .*json/,
    );
    expect(pldrMessage(() => resolveTaskFiles(['piqa'], {files: ['piqa=/nonexistent/x.jsonl']}))).toBe(
      'piqa: file not found: /nonexistent/x.jsonl',
    );
    expect(pldrMessage(() => parseTaskFile('mmlu=x.jsonl'))).toMatch(/unknown task "mmlu"/);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
