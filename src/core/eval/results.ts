/**
 * The results JSON of one setting, shaped like lm-evaluation-harness's: per task its metrics with
 * stderrs (mc2 for TruthfulQA), the paper's averages, the settings, the environment, and with
 * `samples` every request scored.
 */
import {cpus, totalmem} from 'node:os';

import * as tf from '@tensorflow/tfjs';

import type {SettingResult} from './run.js';

export function resultsJson(
  r: SettingResult,
  settings: Record<string, unknown>,
  samples: boolean,
): Record<string, unknown> {
  const results: Record<string, Record<string, number | null>> = {};
  for (const t of r.tasks) {
    if (t.task === 'truthfulqa_mc2') results[t.task] = {mc2: t.acc, mc2_stderr: t.acc_stderr};
    else
      results[t.task] = {
        acc: t.acc,
        acc_stderr: t.acc_stderr,
        acc_norm: t.acc_norm ?? null,
        acc_norm_stderr: t.acc_norm_stderr ?? null,
        acc_bytes: t.acc_bytes ?? null,
        acc_bytes_stderr: t.acc_bytes_stderr ?? null,
      };
  }
  return {
    results,
    averages: {avg1: r.summary.avg1, avg2: r.summary.avg2},
    harness_group_pldr_zeroshot: r.summary.harnessGroup,
    n: Object.fromEntries(r.tasks.map((t) => [t.task, t.n])),
    settings,
    environment: {
      node: process.version,
      tfjs: tf.version_core,
      backend: tf.getBackend(),
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      memory_gb: Math.round(totalmem() / 2 ** 30),
      date: new Date().toISOString(),
    },
    ...(samples ? {samples: r.samples} : {}),
  };
}
