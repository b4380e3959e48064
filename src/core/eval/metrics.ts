/**
 * Scores from per-request log-likelihoods, computed as lm-evaluation-harness v0.4.3 (the authors'
 * fork) computes them, float operation for float operation:
 *
 * - per document (`ConfigurableTask.process_results`, multiple_choice):
 *   acc = [argmax(ll) == gold], acc_norm = [argmax(ll / len(choice)) == gold] with `len` in Unicode
 *   code points of the choice without the delimiter (winogrande: of the partial sentence, i.e. of
 *   each request's context), argmax = numpy's (first maximum; a NaN wins at its first position).
 *   acc_bytes divides by UTF-8 bytes instead: NOT a harness metric, reported for reference because
 *   the paper calls acc_norm "byte-length normalized".
 * - truthfulqa_mc2 (`truthfulqa/utils.py process_results_mc2`): split = labels.index(0),
 *   p = exp(ll), mc2 = Σ_i<split p_i / (Σ p_true + Σ p_false), each Σ a left-to-right float64 sum;
 *   the harness reports it as `acc`. exp is V8's `Math.exp` (an fdlibm port); the harness uses
 *   numpy's `np.exp`, which is glibc's exp or numpy's own SIMD kernel depending on the CPU. All are
 *   within 1 ulp but not always correctly rounded, so p (and mc2) can differ in the last bit or two
 *   on some inputs (on one AVX-512 machine: V8 vs glibc 10% of random inputs, numpy vs glibc 4.6%);
 *   the fixture's mc2 values are reproduced bit for bit.
 * - per task: `mean` = sum / n (left-to-right), stderr = `mean_stderr` = sample std (n − 1) / √n;
 *   for n = 1 the harness reports "N/A" (null here).
 * - summary: the paper's headline per task (acc_norm; mc2 for TruthfulQA), Avg-1 = mean of the
 *   seven headline values summed in the paper's column order (ARC-c, ARC-e, HS, OBQA, PIQA, SIQA,
 *   WG), Avg-2 = (that sum + TQA) / 8; and what the harness itself prints for the group
 *   (`aggregate_subtask_metrics`: size-weighted mean of every metric key, `pooled_sample_stderr`).
 *
 * is_greedy is carried through (the harness records it; no metric of these tasks uses it).
 */
import {PAPER_ORDER, type TaskDoc, type TaskName} from './tasks.js';

/** One request's result: Σ log p of the continuation tokens, and whether every one was the argmax. */
export interface LoglikelihoodResult {
  ll: number;
  isGreedy: boolean;
}

export interface DocScore {
  task: TaskName;
  index: number;
  /** 1 or 0; truthfulqa_mc2: mc2 (the harness's `acc`). */
  acc: number;
  acc_norm?: number;
  /** Not a harness metric: acc_norm with UTF-8 byte lengths. */
  acc_bytes?: number;
  /** truthfulqa_mc2 only (equal to acc). */
  mc2?: number;
  gold?: number;
  pred?: number;
  predNorm?: number;
  predBytes?: number;
  lls: number[];
  isGreedy: boolean[];
}

export interface TaskScore {
  task: TaskName;
  /** Number of documents. */
  n: number;
  acc: number;
  /** null where the harness prints "N/A" (n = 1). */
  acc_stderr: number | null;
  acc_norm?: number;
  acc_norm_stderr?: number | null;
  acc_bytes?: number;
  acc_bytes_stderr?: number | null;
  /** The paper's number for this task: acc_norm, or mc2 (= acc) for truthfulqa_mc2. */
  headline: number;
}

export interface GroupScore {
  n: number;
  acc: number;
  acc_stderr: number | null;
  acc_norm?: number;
  acc_norm_stderr?: number | null;
}

export interface Summary {
  headline: Partial<Record<TaskName, number>>;
  /** Mean of the seven headline values without TruthfulQA; null unless all seven were scored. */
  avg1: number | null;
  /** Mean of all eight; null unless all eight were scored. */
  avg2: number | null;
  /** What the harness reports for the group (size-weighted, every metric key); not the paper's averages. */
  harnessGroup: GroupScore | null;
}

/** numpy.argmax: index of the first maximum; a NaN counts as the maximum (first NaN wins). */
export function argmax(xs: ArrayLike<number>): number {
  if (xs.length === 0) throw new Error('argmax of an empty list');
  let best = 0;
  for (let i = 0; i < xs.length; i++) {
    if (Number.isNaN(xs[i])) return i;
    if (xs[i] > xs[best]) best = i;
  }
  return best;
}

/** Python `sum(xs)`: left to right from 0. */
export function pySum(xs: readonly number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s;
}

/** lm_eval.api.metrics.mean: sum / len. */
export function mean(xs: readonly number[]): number {
  return pySum(xs) / xs.length;
}

/** lm_eval.api.metrics.mean_stderr (sample std / √n); null ("N/A") for fewer than two values, as the harness reports. */
export function meanStderr(xs: readonly number[]): number | null {
  const n = xs.length;
  if (n < 2) return null;
  const mu = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - mu) * (x - mu);
  return Math.sqrt(ss / (n - 1)) / Math.sqrt(n);
}

/** TruthfulQA mc2 of one question: labels before the first 0 are the true answers. */
export function mc2Score(lls: readonly number[], labels: readonly number[]): number {
  const split = labels.indexOf(0);
  if (split < 0) throw new Error('mc2 labels without a 0');
  const p = lls.map((ll) => Math.exp(ll));
  const denom = pySum(p.slice(0, split)) + pySum(p.slice(split));
  return pySum(p.slice(0, split).map((x) => x / denom));
}

function normResults(
  doc: TaskDoc,
  results: readonly (LoglikelihoodResult | number)[],
): {lls: number[]; greedy: boolean[]} {
  if (results.length !== doc.requests.length) {
    throw new Error(`${doc.task} doc ${doc.index}: ${results.length} results for ${doc.requests.length} requests`);
  }
  const lls = results.map((r) => (typeof r === 'number' ? r : r.ll));
  const greedy = results.map((r) => (typeof r === 'number' ? false : r.isGreedy));
  return {lls, greedy};
}

/** Per-document metrics from the results of its requests (in request order). */
export function scoreDoc(doc: TaskDoc, results: readonly (LoglikelihoodResult | number)[]): DocScore {
  const {lls, greedy} = normResults(doc, results);
  if (doc.task === 'truthfulqa_mc2') {
    const mc2 = mc2Score(lls, doc.gold as number[]);
    return {task: doc.task, index: doc.index, acc: mc2, mc2, lls, isGreedy: greedy};
  }
  const gold = doc.gold as number;
  const pred = argmax(lls);
  const predNorm = argmax(lls.map((ll, i) => ll / doc.normLengths[i]));
  const predBytes = argmax(lls.map((ll, i) => ll / doc.byteLengths[i]));
  return {
    task: doc.task,
    index: doc.index,
    acc: pred === gold ? 1 : 0,
    acc_norm: predNorm === gold ? 1 : 0,
    acc_bytes: predBytes === gold ? 1 : 0,
    gold,
    pred,
    predNorm,
    predBytes,
    lls,
    isGreedy: greedy,
  };
}

/** Task metrics over its documents (in document order). */
export function aggregateTask(task: TaskName, docs: readonly DocScore[]): TaskScore {
  if (docs.length === 0) throw new Error(`${task}: no documents to aggregate`);
  const acc = docs.map((d) => d.acc);
  const out: TaskScore = {task, n: docs.length, acc: mean(acc), acc_stderr: meanStderr(acc), headline: NaN};
  if (task !== 'truthfulqa_mc2') {
    const norm = docs.map((d) => d.acc_norm!);
    const bytes = docs.map((d) => d.acc_bytes!);
    out.acc_norm = mean(norm);
    out.acc_norm_stderr = meanStderr(norm);
    out.acc_bytes = mean(bytes);
    out.acc_bytes_stderr = meanStderr(bytes);
  }
  out.headline = task === 'truthfulqa_mc2' ? out.acc : out.acc_norm!;
  return out;
}

/** lm_eval.api.metrics.pooled_sample_stderr. */
export function pooledSampleStderr(stderrs: readonly number[], sizes: readonly number[]): number {
  const total = pySum(sizes);
  const v = pySum(sizes.map((n, i) => (n - 1) * (stderrs[i] * stderrs[i]) * n)) / (total - sizes.length);
  return Math.sqrt(v / total);
}

function groupMetric(
  scores: readonly TaskScore[],
  key: 'acc' | 'acc_norm',
): {value: number; stderr: number | null} | undefined {
  const having = scores.filter((s) => s[key] !== undefined);
  if (having.length === 0) return undefined;
  const sizes = having.map((s) => s.n);
  const value = pySum(having.map((s) => s[key]! * s.n)) / pySum(sizes);
  const stderrs = having.map((s) => s[`${key}_stderr`]);
  const stderr = stderrs.some((e) => e === null || e === undefined)
    ? null
    : pooledSampleStderr(stderrs as number[], sizes);
  return {value, stderr};
}

/**
 * Headline values, Avg-1, Avg-2 and the harness's group line. `scores` in the order the group
 * lists its tasks (only the group line depends on it, and only in the last bits).
 */
export function summarize(scores: readonly TaskScore[]): Summary {
  const headline: Partial<Record<TaskName, number>> = {};
  for (const s of scores) headline[s.task] = s.headline;
  const seven = PAPER_ORDER.slice(0, 7);
  const have7 = seven.every((t) => headline[t] !== undefined);
  const sum7 = have7 ? pySum(seven.map((t) => headline[t]!)) : NaN;
  const avg1 = have7 ? sum7 / 7 : null;
  const avg2 = have7 && headline.truthfulqa_mc2 !== undefined ? (sum7 + headline.truthfulqa_mc2) / 8 : null;
  let harnessGroup: GroupScore | null = null;
  const acc = groupMetric(scores, 'acc');
  if (acc) {
    harnessGroup = {n: pySum(scores.map((s) => s.n)), acc: acc.value, acc_stderr: acc.stderr};
    const norm = groupMetric(scores, 'acc_norm');
    if (norm) {
      harnessGroup.acc_norm = norm.value;
      harnessGroup.acc_norm_stderr = norm.stderr;
    }
  }
  return {headline, avg1, avg2, harnessGroup};
}

/** Score every document of one task and aggregate: `results[i]` are the results of `docs[i].requests`. */
export function scoreTask(
  docs: readonly TaskDoc[],
  results: readonly (readonly (LoglikelihoodResult | number)[])[],
): {docs: DocScore[]; task: TaskScore} {
  if (docs.length === 0) throw new Error('no documents');
  if (results.length !== docs.length)
    throw new Error(`${docs[0].task}: results for ${results.length} of ${docs.length} documents`);
  const scored = docs.map((d, i) => scoreDoc(d, results[i]));
  return {docs: scored, task: aggregateTask(docs[0].task, scored)};
}
