/** `pldr generate` for people: prompts from every source, JSON, streaming, batches, seeds, refusals. */
import {spawn, spawnSync} from 'node:child_process';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {Tokenizer} from '../../src/core/tokenizer.js';
import {fixture, ROOT} from '../helpers.js';
import {makeModelDir, TOKENIZER} from './models.js';
import {ok, okJson, oneLineError, pldr} from './run.js';

let tmp: string;
let model: string;
let tok: Tokenizer;
const PROMPT = 'The river runs past the old mill, and';

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'pldr-text-'));
  model = makeModelDir(join(tmp, 'model'));
  tok = await Tokenizer.load(TOKENIZER);
});
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

const json = okJson;
const gen = (...args: string[]) => ['generate', '--model', model, ...args];

describe('pldr generate with text', () => {
  it('a prompt argument: --json gives text, ids, log-probs, stop reason and timings', () => {
    const out = json(gen(PROMPT, '--greedy', '-n', '12'));
    const fed = tok.promptIds(PROMPT);
    expect(out.ids.slice(0, fed.length)).toEqual(fed);
    expect(out.ids).toHaveLength(fed.length + out.generated.length);
    expect(out.generated.length).toBeLessThanOrEqual(12);
    expect(out.stop).toBe(out.generated.at(-1) === 3 ? 'end' : 'length');
    expect(out.text).toBe(tok.decode(out.ids));
    expect(out.text.startsWith(tok.decode(fed))).toBe(true);
    expect(out.logprobs).toHaveLength(out.generated.length);
    expect(out.logprobs.every((x: number) => x <= 0)).toBe(true);
    expect(out.timings.prompt_ms).toBeGreaterThan(0);
    expect(out.timings.ms_per_token).toBeGreaterThan(0);
    expect(out.timings.tokens_per_s).toBeCloseTo(1000 / out.timings.ms_per_token, 0);
  });

  it('the same prompt from --prompt-file and from standard input gives the same result', () => {
    const a = json(gen(PROMPT, '--greedy', '-n', '8'));
    const file = join(tmp, 'prompt.txt');
    writeFileSync(file, PROMPT);
    expect(json(gen('--prompt-file', file, '--greedy', '-n', '8')).ids).toEqual(a.ids);
    const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'run.js'), ...gen('--greedy', '-n', '8', '--json')], {
      input: PROMPT,
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).ids).toEqual(a.ids);
  });

  it('a prompt on standard input that arrives in pieces is read whole', async () => {
    // The first piece (no newline) is in the pipe when the command starts; the rest comes 1.5 s later,
    // after the command has started reading. oclif's own read of standard input for a missing
    // argument held the first piece, gave up after 10 ms and dropped it (a CI failure); the command
    // must wait for the end of input instead.
    const pieces = ['The river runs\npast the', ' old mill, and'];
    const want = json(gen(pieces.join(''), '--greedy', '-n', '4'));
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'run.js'), ...gen('--greedy', '-n', '4', '--json')], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.write(pieces[0]);
    await new Promise((r) => setTimeout(r, 1500));
    child.stdin.end(pieces[1]);
    const killer = setTimeout(() => child.kill(), 60_000); // the old behaviour could also hang
    const code = await new Promise((r) => child.on('close', r));
    clearTimeout(killer);
    expect(code, stderr).toBe(0);
    const got = JSON.parse(stdout);
    expect(got.prompt).toBe(pieces.join(''));
    expect(got.ids).toEqual(want.ids);
  });

  it('the empty prompt is fed as [END]', () => {
    expect(json(gen('', '--greedy', '-n', '4')).ids[0]).toBe(3);
  });

  it('same seed and settings ⇒ same text; another seed samples differently; --top-k 1 is greedy', () => {
    const args = gen(PROMPT, '--temperature', '0.9', '--top-p', '0.95', '--seed', '5', '-n', '20');
    const a = json(args);
    expect(json(args).text).toBe(a.text);
    const others = [6, 7, 8].map(
      (s) => json(gen(PROMPT, '--temperature', '0.9', '--top-p', '0.95', '--seed', String(s), '-n', '20')).ids,
    );
    expect(others.some((ids) => JSON.stringify(ids) !== JSON.stringify(a.ids))).toBe(true);
    expect(json(gen(PROMPT, '--top-k', '1', '-n', '10')).ids).toEqual(json(gen(PROMPT, '--greedy', '-n', '10')).ids);
  });

  it('--max-new-tokens bounds the run', () => {
    for (const n of ['1', '5']) {
      const out = json(gen(PROMPT, '--greedy', '-n', n));
      expect(out.generated.length).toBeLessThanOrEqual(Number(n));
    }
  });

  it('--cache none and --cache kv+g with the prompt G given by --g-init agree', () => {
    const g = join(tmp, 'g.safetensors');
    ok(['export-g', model, '--prompt', PROMPT, '--out', g]);
    const a = json(gen(PROMPT, '--greedy', '-n', '10', '--cache', 'none', '--g-init', g));
    const b = json(gen(PROMPT, '--greedy', '-n', '10', '--cache', 'kv+g'));
    expect(a.ids).toEqual(b.ids);
  });

  it('streams the text as it is generated: the stream is the decoded text', () => {
    const streamed = ok(gen(PROMPT, '--greedy', '-n', '12', '--stream')).stdout;
    const out = json(gen(PROMPT, '--greedy', '-n', '12'));
    expect(streamed).toBe(out.text + '\n');
    // without a terminal and without --stream, the text is printed once at the end, the same
    expect(ok(gen(PROMPT, '--greedy', '-n', '12')).stdout).toBe(out.text + '\n');
  });

  it('--prompts FILE generates for every prompt, one JSON line each, as single runs do', () => {
    const prompts = ['Once upon a time', 'The cat sat', ''];
    const file = join(tmp, 'prompts.jsonl');
    writeFileSync(file, prompts.map((p, i) => JSON.stringify({id: `p${i}`, prompt: p})).join('\n') + '\n');
    const lines = ok(gen('--prompts', file, '--greedy', '-n', '6'))
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id)).toEqual(['p0', 'p1', 'p2']);
    lines.forEach((l, i) => {
      expect(l.prompt).toBe(prompts[i]);
      expect(l.ids).toEqual(json(gen(prompts[i], '--greedy', '-n', '6')).ids);
    });
    const plain = join(tmp, 'prompts.txt');
    writeFileSync(plain, 'Once upon a time\nThe cat sat\n');
    expect(
      ok(gen('--prompts', plain, '--greedy', '-n', '6'))
        .stdout.trim()
        .split('\n'),
    ).toHaveLength(2);
  });

  it('refuses out-of-range settings and ambiguous prompts with one line', () => {
    expect(oneLineError(pldr(gen(PROMPT, '--temperature', '0')))).toMatch(/temperature must be in \(0, 1\]/);
    expect(oneLineError(pldr(gen(PROMPT, '--temperature', '1.5')))).toMatch(/temperature/);
    expect(oneLineError(pldr(gen(PROMPT, '--top-p', '0')))).toMatch(/top_p must be in \(0, 1\]/);
    expect(oneLineError(pldr(gen(PROMPT, '--top-p', '1.2')))).toMatch(/top_p/);
    expect(oneLineError(pldr(gen(PROMPT, '--top-k', '-1')))).toMatch(/top_k/);
    expect(oneLineError(pldr(gen(PROMPT, '--top-k', '513')))).toMatch(/top_k/);
    expect(oneLineError(pldr(gen(PROMPT, '--ids', '5')))).toMatch(/one way/);
    expect(oneLineError(pldr(gen(PROMPT, '--max-new-tokens', '0')))).toMatch(/max-new-tokens/);
    const bad = join(tmp, 'bad.jsonl');
    writeFileSync(bad, '{"prompt": "fine"}\n{"text": 1}\n');
    expect(oneLineError(pldr(gen('--prompts', bad)))).toMatch(/bad\.jsonl:2/);
    // a text prompt needs a tokenizer: the fixture checkpoints have none
    const f = fixture('tiny-public');
    expect(oneLineError(pldr(['generate', '--model', f.checkpoint, 'hello']))).toMatch(/--tokenizer/);
    // ... and one that belongs to it: 512 pieces against a vocabulary of 97
    expect(oneLineError(pldr(['generate', '--model', f.checkpoint, '--tokenizer', TOKENIZER, 'hello']))).toMatch(
      /512 pieces.*97/,
    );
  });
});
