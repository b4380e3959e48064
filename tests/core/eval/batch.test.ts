/**
 * Full-mode requests of equal length share one forward without padding: every log-likelihood and
 * is-greedy equals the one-at-a-time path's, on our own task items with the demo model and, when
 * ../shared is present, on the harness fixture's model and items.
 */
import {join} from 'node:path';

import * as tf from '@tensorflow/tfjs';
import {beforeAll, describe, expect, it} from 'vitest';

import {initBackend} from '../../../src/core/backend.js';
import {DEMO_MODEL} from '../../../src/core/demo.js';
import {loadTasks} from '../../../src/core/eval/load.js';
import {evaluate} from '../../../src/core/eval/run.js';
import {
  type EncodedRequest,
  encodeRequest,
  lengthBatches,
  type RequestScore,
  scoreFull,
  scoreFullAll,
} from '../../../src/core/eval/score.js';
import {TASK_NAMES} from '../../../src/core/eval/tasks.js';
import {gListOf, inferDeductive} from '../../../src/core/export-g.js';
import {gCacheFromList} from '../../../src/core/model/cache.js';
import {loadModel} from '../../../src/core/io/model-files.js';
import type {PldrModel} from '../../../src/core/model/pldr.js';
import type {GCache} from '../../../src/core/model/cache.js';
import {Tokenizer} from '../../../src/core/tokenizer.js';
import {oneLineError, pldr} from '../../commands/run.js';
import {EVAL, HAVE_HARNESS_FIXTURE, PAPER_TOKENIZER, ROOT} from '../../helpers.js';

const OWN_TASKS = join(ROOT, 'fixtures', 'eval-tasks');
const haveShared = HAVE_HARNESS_FIXTURE;
if (!haveShared)
  console.warn(`[tests/core/eval/batch] skipping the harness fixture: ${EVAL} or the paper tokenizer is absent`);

async function encodeAll(tok: Tokenizer, dataDir: string, maxLength?: number): Promise<EncodedRequest[]> {
  const tasks = await loadTasks([...TASK_NAMES], {dataDir});
  return tasks.flatMap((t) => t.docs.flatMap((d) => d.requests.map((r) => encodeRequest(tok, r, maxLength))));
}

/** Batched vs one at a time: is-greedy equal, and the largest |Δll| (0 when bit for bit). */
function compare(model: PldrModel, encs: EncodedRequest[], g?: GCache[]): {maxDiff: number; batched: number} {
  const before = tf.memory().numTensors;
  const one: RequestScore[] = encs.map((e) => scoreFull(model, e, g));
  const all = scoreFullAll(model, encs, 8, g);
  expect(tf.memory().numTensors).toBe(before);
  let maxDiff = 0;
  all.forEach((s, i) => {
    expect(s.isGreedy, `request ${i} is-greedy`).toBe(one[i].isGreedy);
    maxDiff = Math.max(maxDiff, Math.abs(s.ll - one[i].ll));
  });
  const batched = lengthBatches(encs, 8).filter((b) => b.length > 1).length;
  return {maxDiff, batched};
}

describe('full-mode batches of equal length', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });

  it('groups by input length, at most batchSize and maxTokens a batch, every request once', () => {
    const enc = (n: number) => ({inp: new Array(n).fill(1), ctxlen: 1, ctxIds: [1], contIds: []});
    const encs = [5, 7, 5, 5, 7, 5, 9].map(enc);
    const batches = lengthBatches(encs, 3);
    expect(batches).toEqual([[0, 2, 3], [5], [1, 4], [6]]);
    expect(lengthBatches(encs, 8, 10)).toEqual([[0, 2], [3, 5], [1], [4], [6]]); // 10 tokens: two of 5
  });

  it('the demo model on our task items: every ll and is-greedy as one at a time', async () => {
    const model = loadModel(DEMO_MODEL);
    const tok = await Tokenizer.load(join(DEMO_MODEL, 'tokenizer.model'));
    const encs = await encodeAll(tok, OWN_TASKS);
    const {maxDiff, batched} = compare(model, encs);
    console.log(
      `[tests/core/eval/batch] demo: ${encs.length} requests, ${batched} batches of 2+, max |Δll| ${maxDiff.toExponential(2)}`,
    );
    expect(batched).toBeGreaterThan(0);
    expect(maxDiff).toBe(0);
    model.dispose();
  }, 120_000);

  it('short and long synthetic requests (either side of the few-row kernel): bit for bit', () => {
    const model = loadModel(DEMO_MODEL);
    let seed = 7;
    const rand = (n: number) => Math.floor(((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * n);
    const V = model.cfg.input_vocab_size;
    const encs: EncodedRequest[] = [];
    for (const length of [2, 3, 5, 9, 17, 40])
      for (let i = 0; i < 5; i++) {
        const inp = Array.from({length}, () => 1 + rand(V - 1));
        const ctxlen = 1 + rand(length - 1);
        encs.push({inp, ctxlen, ctxIds: inp.slice(0, ctxlen), contIds: inp.slice(ctxlen)});
      }
    const {maxDiff} = compare(model, encs);
    console.log(`[tests/core/eval/batch] synthetic: max |Δll| ${maxDiff.toExponential(2)}`);
    expect(maxDiff).toBe(0);
    model.dispose();
  });

  it('evaluate: batch size 8 gives the results of batch size 1, in the same order; --batch-size 0 is refused', async () => {
    const model = loadModel(DEMO_MODEL);
    const tok = await Tokenizer.load(join(DEMO_MODEL, 'tokenizer.model'));
    const tasks = await loadTasks([...TASK_NAMES], {dataDir: OWN_TASKS});
    const setting = {name: 'full', mode: 'full'} as const;
    const seen: number[] = [];
    const one = await evaluate(model, tok, tasks, setting, {batchSize: 1});
    const eight = await evaluate(model, tok, tasks, setting, {batchSize: 8, onProgress: (p) => seen.push(p.done)});
    expect(eight.samples).toEqual(one.samples);
    expect(eight.lls).toEqual(one.lls);
    expect(eight.tasks).toEqual(one.tasks);
    expect(seen[seen.length - 1]).toBe(one.samples.length);
    model.dispose();
    expect(oneLineError(pldr(['eval', '--data-dir', OWN_TASKS, '--batch-size', '0']))).toMatch(/batch-size/);
  }, 120_000);

  it.skipIf(!haveShared)(
    'the harness fixture model, full and Gi: every ll and is-greedy as one at a time',
    async () => {
      const model = loadModel(join(EVAL, 'eval-tiny-32k', 'checkpoint.pth'));
      const tok = await Tokenizer.load(PAPER_TOKENIZER);
      const encs = await encodeAll(tok, join(EVAL, 'tasks'));
      const full = compare(model, encs);
      const g = gCacheFromList(model, gListOf(inferDeductive(model, [tok.endId])));
      const gi = compare(model, encs, g);
      tf.dispose(g.flatMap((c) => [c.A_LM, c.G_LM, c.A_P]).filter(Boolean) as tf.Tensor[]);
      console.log(
        `[tests/core/eval/batch] eval-tiny-32k: ${encs.length} requests, ${full.batched} batches of 2+, max |Δll| full ${full.maxDiff.toExponential(2)}, Gi ${gi.maxDiff.toExponential(2)}`,
      );
      expect(full.maxDiff).toBe(0);
      expect(gi.maxDiff).toBe(0);
      model.dispose();
    },
    300_000,
  );
});
