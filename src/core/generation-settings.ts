/**
 * What `pldr generate` settles before it generates: the sampling settings (the flags, with a Hugging Face snapshot's
 * generation_config.json filling in what no flag set), how a text prompt becomes ids (a snapshot's
 * tokenizer_config.json says whether bos/eos pieces wrap it), and the JSON a run reports.
 */
import {join} from 'node:path';

import type {GenerateResult} from './generate.js';
import {
  applyGenerationConfig,
  describeGenerationDefaults,
  type GenerationField,
  type GenerationSettings,
} from './io/hf/generation.js';
import {HF_GENERATION_CONFIG, type HfTokenizerSettings} from './io/hf/snapshot.js';
import type {ModelFiles} from './io/model-files.js';
import type {Tokenizer} from './tokenizer.js';

export interface ResolvedSettings {
  settings: GenerationSettings;
  /** One line for stderr saying what generation_config.json set and what of it was ignored; none without the file. */
  note?: string;
}

/** The command's settings, `given` those the user set on the command line; a snapshot's generation_config.json fills in the rest. */
export function resolveGenerationSettings(
  files: ModelFiles,
  settings: GenerationSettings,
  given: ReadonlySet<GenerationField>,
): ResolvedSettings {
  if (!files.hf?.generation) return {settings};
  const d = applyGenerationConfig(files.hf.generation, settings, given);
  const note = describeGenerationDefaults(d, join(files.source, HF_GENERATION_CONFIG));
  return note ? {settings: d.settings, note} : {settings: d.settings};
}

/**
 * The ids a text prompt is fed as. A snapshot's tokenizer settings (when no other tokenizer was given) say whether bos/eos
 * pieces wrap it, with PldrllmTokenizer's defaults (bos yes, eos no); otherwise the reference's convention.
 */
export function textPromptIds(
  tokenizer: Tokenizer,
  snapshot: HfTokenizerSettings | undefined,
): (text: string) => number[] {
  if (!snapshot) return (text) => tokenizer.promptIds(text);
  const opts = {
    addBos: snapshot.addBos ?? true,
    addEos: snapshot.addEos ?? false,
    bos: snapshot.tokens.bos,
    eos: snapshot.tokens.eos,
  };
  return (text) => tokenizer.snapshotPromptIds(text, opts);
}

/** The mean time of a generated token after the prompt call, in ms (0 when there was none). */
export function msPerToken(r: GenerateResult): number {
  const s = r.timings.stepMs;
  return s.length ? s.reduce((a, b) => a + b, 0) / s.length : 0;
}

/** The JSON a run reports: text (as the reference returns it: prompt and continuation decoded), ids, log-probs, stop, timings. */
export function generationSummary(r: GenerateResult, tokenizer: Tokenizer | undefined): Record<string, unknown> {
  const ms = msPerToken(r);
  return {
    ...(tokenizer ? decodeRun(r, tokenizer) : {}),
    ids: r.ids,
    generated: r.generated,
    logprobs: r.logprobs,
    stop: r.stop,
    timings: {
      prompt_ms: round(r.timings.promptMs),
      ms_per_token: round(ms),
      tokens_per_s: ms > 0 ? round(1000 / ms) : null,
    },
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** text: prompt and continuation decoded together (the reference's output); completion: what follows the prompt's text. */
function decodeRun(r: GenerateResult, tokenizer: Tokenizer): {text: string; completion: string} {
  const text = tokenizer.decode(r.ids);
  const head = tokenizer.decode(r.ids.slice(0, r.ids.length - r.generated.length));
  return {text, completion: text.startsWith(head) ? text.slice(head.length) : tokenizer.decode(r.generated)};
}
