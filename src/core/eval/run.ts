/**
 * Evaluating a model on loaded tasks in one setting (settings compared and the
 * invariance check: invariance.ts). The full forward is not causal (A sums over every input position), so padding
 * a request would change A and every log-likelihood: requests are never padded. In full mode, those
 * of equal input length may share one forward of batch B (`batchSize`; each row is the one-request
 * forward, bit for bit: tests/core/eval/batch.test.ts); the cached modes score one request at a time.
 */
import * as tf from '@tensorflow/tfjs';

import {gCacheFromList} from '../model/cache.js';
import type {GList} from '../io/glist.js';
import type {PldrModel} from '../model/pldr.js';
import type {Tokenizer} from '../tokenizer.js';
import type {LoadedTask} from './load.js';
import {
  type DocScore,
  type LoglikelihoodResult,
  scoreTask,
  summarize,
  type Summary,
  type TaskScore,
} from './metrics.js';
import {CachedScorer, DEFAULT_BATCH_SIZE, encodeRequest, type RequestScore, scoreFullBatches} from './score.js';
import type {TaskName} from './tasks.js';

export interface Setting {
  name: string;
  /** full: one uncached forward per request (the harness); kv / kv+g: context once, then cached steps. */
  mode: 'full' | 'kv' | 'kv+g';
  /** A G list given to every call (the Gi setting). */
  g?: GList;
  /** Score with another model (a Gi model built from this one). */
  model?: PldrModel;
}

export interface Sample {
  task: TaskName;
  doc: number;
  choice: number;
  context: string;
  continuation: string;
  context_ids: number[];
  continuation_ids: number[];
  ll: number;
  is_greedy: boolean;
}

export interface SettingResult {
  setting: string;
  tasks: TaskScore[];
  docs: Record<string, DocScore[]>;
  summary: Summary;
  /** Per task, per doc, per choice. */
  lls: Record<string, number[][]>;
  samples: Sample[];
}

export interface Progress {
  setting: string;
  done: number;
  total: number;
}

export async function evaluate(
  model: PldrModel,
  tok: Tokenizer,
  tasks: readonly LoadedTask[],
  setting: Setting,
  opts: {maxLength?: number; batchSize?: number; onProgress?: (p: Progress) => void} = {},
): Promise<SettingResult> {
  const m = setting.model ?? model;
  const maxLength = opts.maxLength ?? Math.min(1024, m.cfg.max_seq_len + 1);
  const total = tasks.reduce((s, t) => s + t.docs.reduce((a, d) => a + d.requests.length, 0), 0);
  const gCache = setting.g && setting.mode === 'full' ? gCacheFromList(m, setting.g) : undefined;
  const cached = setting.mode !== 'full' ? new CachedScorer(m, setting.mode, setting.g) : undefined;
  const out: SettingResult = {setting: setting.name, tasks: [], docs: {}, summary: summarize([]), lls: {}, samples: []};
  let done = 0;
  opts.onProgress?.({setting: setting.name, done, total}); // the setting starts
  try {
    const progress = async (n: number) => {
      done += n;
      opts.onProgress?.({setting: setting.name, done, total});
      await new Promise<void>((resolve) => setImmediate(resolve)); // let progress reach the terminal
    };
    for (const t of tasks) {
      const encs = t.docs.map((doc) => doc.requests.map((req) => encodeRequest(tok, req, maxLength)));
      const scores: RequestScore[][] = encs.map(() => []);
      if (cached) {
        for (const [d, doc] of encs.entries()) {
          for (const enc of doc) scores[d].push(cached.score(enc));
          cached.release();
          await progress(doc.length);
        }
      } else {
        // full mode: the task's requests batched by equal length, the scores put back in place
        const where = encs.flatMap((doc, d) => doc.map((_, c) => [d, c] as const));
        for (const {batch, scores: s} of scoreFullBatches(
          m,
          encs.flat(),
          opts.batchSize ?? DEFAULT_BATCH_SIZE,
          gCache,
        )) {
          batch.forEach((i, k) => (scores[where[i][0]][where[i][1]] = s[k]));
          await progress(batch.length);
        }
      }
      const results: LoglikelihoodResult[][] = scores;
      t.docs.forEach((doc, d) =>
        doc.requests.forEach((req, c) => {
          const [enc, s] = [encs[d][c], scores[d][c]];
          out.samples.push({
            task: t.task,
            doc: doc.index,
            choice: req.choiceIndex,
            context: req.context,
            continuation: req.continuation,
            context_ids: enc.ctxIds,
            continuation_ids: enc.contIds,
            ll: s.ll,
            is_greedy: s.isGreedy,
          });
        }),
      );
      const scored = scoreTask(t.docs, results);
      out.tasks.push(scored.task);
      out.docs[t.task] = scored.docs;
      out.lls[t.task] = results.map((r) => r.map((x) => x.ll));
    }
  } finally {
    cached?.dispose();
    if (gCache) tf.dispose(gCache.flatMap((c) => [c.A_LM, c.G_LM, c.A_P]).filter(Boolean) as tf.Tensor[]);
  }
  out.summary = summarize(out.tasks);
  return out;
}
