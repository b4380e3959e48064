/**
 * Log-likelihood parity with the authors' harness (../shared/fixtures/eval): every request's token
 * ids exactly, every ll within the fixtures' float32 bound |Δ| ≤ 1e-4 + 2e-6·|ll|, is-greedy and every
 * prediction exactly, in the harness's mode (full), the Gi mode (the empty-prompt G given to every
 * request), and the cached modes (kv+g, and kv with the Gi G).
 */
import {join} from 'node:path';

import * as tf from '@tensorflow/tfjs';
import {beforeAll, describe, expect, it} from 'vitest';

import {initBackend} from '../../../src/core/backend.js';
import {loadTasks} from '../../../src/core/eval/load.js';
import {scoreTask} from '../../../src/core/eval/metrics.js';
import {CachedScorer, encodeRequest, scoreFull} from '../../../src/core/eval/score.js';
import {TASK_NAMES} from '../../../src/core/eval/tasks.js';
import {gListOf, inferDeductive} from '../../../src/core/export-g.js';
import {gCacheFromList} from '../../../src/core/model/cache.js';
import {loadModel} from '../../../src/core/io/model-files.js';
import type {PldrModel} from '../../../src/core/model/pldr.js';
import {Tokenizer} from '../../../src/core/tokenizer.js';
import {EVAL, HAVE_HARNESS_FIXTURE, PAPER_TOKENIZER} from '../../helpers.js';

const present = HAVE_HARNESS_FIXTURE;
if (!present) console.warn(`[tests/core/eval/score] skipping harness parity: ${EVAL} or the paper tokenizer is absent`);

const close = (ours: number, ref: number) => Math.abs(ours - ref) <= 1e-4 + 2e-6 * Math.abs(ref);

describe.skipIf(!present)("log-likelihoods as the authors' harness computes them (eval-tiny-32k)", () => {
  let run: any;
  let model: PldrModel;
  let tok: Tokenizer;
  let tasks: Awaited<ReturnType<typeof loadTasks>>;
  beforeAll(async () => {
    await initBackend('wasm');
    const {readFileSync} = await import('node:fs');
    run = JSON.parse(readFileSync(join(EVAL, 'expected.json'), 'utf8')).runs.find(
      (r: any) => r.name === 'eval-tiny-32k/public',
    );
    model = loadModel(join(EVAL, 'eval-tiny-32k', 'checkpoint.pth'));
    tok = await Tokenizer.load(PAPER_TOKENIZER);
    tasks = await loadTasks([...TASK_NAMES], {dataDir: join(EVAL, 'tasks')});
  });

  const variants = [
    ['full', 'the harness: one uncached forward per request'],
    ['gi', 'Gi: the empty-prompt G given to every request'],
    ['kv_g', 'kv+g: the context once, then the continuation teacher-forced with KV- and G-cache'],
    ['gi_kv', 'Gi with the KV-cache'],
  ] as const;

  for (const [variant, what] of variants) {
    it(`${variant} (${what}): ids exact, ll within tolerance, is-greedy and every metric exact`, () => {
      const before = tf.memory().numTensors;
      const G = variant.startsWith('gi') ? gListOf(inferDeductive(model, [tok.endId])) : undefined;
      const gCache = G && variant === 'gi' ? gCacheFromList(model, G) : undefined;
      const cached =
        variant === 'kv_g'
          ? new CachedScorer(model, 'kv+g')
          : variant === 'gi_kv'
            ? new CachedScorer(model, 'kv', G)
            : undefined;
      let worst = 0;
      for (const t of tasks) {
        const ref = run.tasks[t.task];
        const results = t.docs.map((doc, d) => {
          const out = doc.requests.map((req, i) => {
            const r = ref.docs[d].requests[i];
            const enc = encodeRequest(tok, req);
            expect(enc.ctxIds, `${t.task} doc ${d} choice ${i} context ids`).toEqual(r.context_ids);
            expect(enc.contIds, `${t.task} doc ${d} choice ${i} continuation ids`).toEqual(r.continuation_ids);
            expect(enc.ctxlen).toBe(r.ctxlen);
            const s = cached ? cached.score(enc) : scoreFull(model, enc, gCache);
            const want = r[variant];
            worst = Math.max(worst, Math.abs(s.ll - want.ll));
            expect(close(s.ll, want.ll), `${t.task} doc ${d} choice ${i}: ll ${s.ll} vs ${want.ll}`).toBe(true);
            expect(s.isGreedy).toBe(want.is_greedy);
            return s;
          });
          cached?.release();
          return out;
        });
        const {task} = scoreTask(t.docs, results);
        const m = ref.metrics[variant];
        for (const key of ['acc', 'acc_norm', 'acc_bytes'] as const)
          if (m[key] !== undefined && t.task !== 'truthfulqa_mc2')
            expect((task as any)[key], `${t.task} ${key}`).toBe(m[key]);
        if (t.task === 'truthfulqa_mc2') expect(Math.abs((task as any).acc - m.acc)).toBeLessThanOrEqual(1e-4);
      }
      cached?.dispose();
      if (gCache) tf.dispose(gCache.flatMap((c) => [c.A_LM, c.G_LM]));
      expect(tf.memory().numTensors).toBe(before);
      console.log(`[tests/core/eval/score] ${variant}: max |Δll| ${worst.toExponential(2)}`);
    }, 300_000);
  }
});

describe('why requests are never padded (equal lengths are batched without padding: tests/core/eval/batch.test.ts)', () => {
  it('right-padding a request, as a batch would, moves its logits: A sums over every position, padding included', async () => {
    await initBackend('wasm');
    const {fixture, maxAbsDiff} = await import('../../helpers.js');
    const {createMask} = await import('../../../src/core/model/forward.js');
    const f = fixture('tiny-public');
    const model = loadModel(f.checkpoint);
    const input = [74, 82, 59, 13, 45, 84, 61];
    const logitsOf = (ids: number[]) => {
      const mask = createMask([ids]);
      const r = model.forward([ids], {mask});
      const out = (r.logits.dataSync() as Float32Array).slice(0, input.length * model.cfg.input_vocab_size);
      tf.dispose([mask, r as unknown as tf.TensorContainer]);
      return out;
    };
    // the padding is masked as keys and the look-ahead mask hides it from the real rows, yet the
    // density matrix A = LN(QᵀQ) sums over it, so the real positions' logits change
    expect(maxAbsDiff(logitsOf(input), logitsOf([...input, 0, 0, 0]))).toBeGreaterThan(1e-3);
    model.dispose();
  });
});
