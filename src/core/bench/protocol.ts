/**
 * The paper's inference-time protocol (docs/spec.md §9, Appendix B): the prompt, the sampling settings, the number of new
 * tokens, and the timing modes every suite shares.
 */
import {PldrError} from '../errors.js';
import {type CacheMode} from '../generate.js';
import {type SamplingOptions} from '../sampling.js';

export const PAPER_PROMPT = 'Write a letter requesting people use language models responsibly.';
export const PAPER_SAMPLING: Readonly<SamplingOptions> = Object.freeze({temperature: 1.0, topK: 0, topP: 0.8});
export const PAPER_NEW_TOKENS = 100;
/** The paper prompt is 10 tokens with the paper tokenizer; models without a tokenizer get 10 fixed ids. */
export const PAPER_PROMPT_LENGTH = 10;

/** Timing modes: the four cache modes of `generate`, and an external G list with the KV-cache. */
export const BENCH_MODES = ['none', 'kv', 'kv+g', 'g', 'ext-g'] as const;
export type BenchMode = (typeof BENCH_MODES)[number];

export const MODE_INFO: Readonly<
  Record<BenchMode, {cache: CacheMode; external: boolean; title: string; description: string}>
> = {
  none: {
    cache: 'none',
    external: false,
    title: 'no cache',
    description: 'no cache: every step runs the whole sequence so far (metric learner and PLGA included)',
  },
  kv: {
    cache: 'kv',
    external: false,
    title: 'KV',
    description: "KV-cache: one new token per step; the prompt's A is reused, PLGA recomputed every step",
  },
  'kv+g': {
    cache: 'kv+g',
    external: false,
    title: 'KV+G',
    description: 'KV- and G-cache: one new token per step; metric learner and PLGA skipped after the prompt',
  },
  g: {
    cache: 'g',
    external: false,
    title: 'G',
    description:
      'G-cache only: the whole sequence every step, PLGA skipped after the prompt (the metric learner still runs)',
  },
  'ext-g': {
    cache: 'kv',
    external: true,
    title: 'external G + KV',
    description:
      "external G list (the model's own A_LM, G_LM for the empty prompt, as the reference's shipped lists) with the KV-cache: PLGA bypassed from the first call",
  },
};

export function parseModes(s: string | undefined, fallback: readonly BenchMode[] = BENCH_MODES): BenchMode[] {
  if (s === undefined || s.trim() === '') return [...fallback];
  const out: BenchMode[] = [];
  for (const raw of s.split(',')) {
    const m = raw.trim().toLowerCase();
    const alias: Record<string, BenchMode> = {
      nocache: 'none',
      'no-cache': 'none',
      kv_g: 'kv+g',
      kvg: 'kv+g',
      'kv-g': 'kv+g',
      external: 'ext-g',
      'external-g': 'ext-g',
      extg: 'ext-g',
    };
    const mode = (BENCH_MODES as readonly string[]).includes(m) ? (m as BenchMode) : alias[m];
    if (!mode)
      throw new PldrError(
        `unknown mode "${raw.trim()}" in --modes: use a comma-separated list of ${BENCH_MODES.join(', ')}`,
      );
    if (!out.includes(mode)) out.push(mode);
  }
  return out;
}
