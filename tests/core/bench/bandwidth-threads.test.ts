/**
 * The copy bandwidth of several threads: measured with worker threads, and the cached
 * step judged against it where the run's products were split over threads, the one-core figure kept.
 */
import {describe, expect, it} from 'vitest';

import type {BenchModelInfo, PaperScenario} from '../../../src/core/bench/paper.js';
import {findBenchPreset} from '../../../src/core/bench/presets.js';
import {
  cachedStepBytes,
  measureCopyBandwidthThreads,
  paperTargets,
  streamRatios,
} from '../../../src/core/bench/targets.js';
import {paramCounts} from '../../../src/core/config.js';

function kvg(msPerToken: number): PaperScenario {
  const sum = {n: 1, median: msPerToken, mean: 0, std: 0, min: 0, max: 0, spread_pct: 0};
  return {
    id: 'PLDRv51-104M/kv+g',
    model: 'PLDRv51-104M',
    family: 'pldr',
    mode: 'kv+g',
    mode_description: '',
    samples: [],
    stats: {
      total_ms: {...sum, median: 100 * msPerToken},
      repeat_mean_ms: [],
      prompt_ms: sum,
      ms_per_token: sum,
      tokens_per_s: 0,
      tokens: 100,
    },
    memory: {
      rss_before_mb: 0,
      rss_peak_mb: 0,
      process_max_rss_mb: 0,
      tensor_mb_before: 0,
      tensor_mb_peak: 0,
      tensors_before: 0,
      tensors_leaked: 0,
    },
  };
}

describe('copy bandwidth of several threads', () => {
  it('measureCopyBandwidthThreads copies with every thread and ends its workers', async () => {
    const gbs = await measureCopyBandwidthThreads(2, 8, 2);
    expect(gbs).toBeGreaterThan(0);
    expect(Number.isFinite(gbs)).toBe(true);
  });

  it('a run whose products ran on 2 threads is judged against 2 threads copying, and keeps the one-core figure', () => {
    const cfg = findBenchPreset('PLDRv51-104M').config;
    const model: BenchModelInfo = {
      label: 'PLDRv51-104M',
      source: '',
      description: '',
      family: 'pldr',
      variant: cfg.variant,
      params: paramCounts(cfg).total,
      random_weights: true,
      config: cfg,
      tokenizer: false,
      prompt_ids: [5],
      prompt_source: 'fixed ids',
      modes: ['kv+g'],
      skipped_modes: [],
    };
    const bw = {copy_gb_s: 20, gemv_gb_s: 22, buffer_mb: 128, repeats: 5, method: ''};
    const bytes = cachedStepBytes(cfg, true);
    const [one] = streamRatios([kvg(15)], [{...model, copy_bandwidth_gb_s: 30}], bw);
    expect(one).toMatchObject({bandwidth_gb_s: 30, stream_ms: Number(((bytes / 30e9) * 1000).toFixed(3))});
    expect(one!.threads).toBeUndefined();
    const two = {...model, copy_bandwidth_gb_s: 30, bandwidth_threads: 2, copy_bandwidth_threads_gb_s: 50};
    const [r] = streamRatios([kvg(15)], [two], bw);
    expect(r).toMatchObject({
      bandwidth_gb_s: 50,
      threads: 2,
      bandwidth_one_core_gb_s: 30,
      value: Number((15 / ((bytes / 50e9) * 1000)).toFixed(3)),
    });
    const target = paperTargets([kvg(15)], [two], [], [r!], 100).find((t) => t.id === 'stream/PLDRv51-104M')!;
    expect(target.measured).toMatch(/at 50 GB\/s \(2 threads copying; one core: 30 GB\/s\)/);
    // without a per-model figure, the one measured after the timings
    const [after] = streamRatios([kvg(15)], [model], {...bw, threads: 2, copy_threads_gb_s: 40});
    expect(after).toMatchObject({bandwidth_gb_s: 40, threads: 2, bandwidth_one_core_gb_s: 20});
  });
});
