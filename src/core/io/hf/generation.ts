/**
 * A snapshot's generation_config.json as defaults for `pldr generate`: only where the user gave no
 * flag, and only values our sampler can honour (temperature in (0, 1], top_p in (0, 1], a whole
 * top_k ≥ 0, a whole max_new_tokens ≥ 1). `taken` and `ignored` say what happened, for one stderr line.
 */

/** The generate settings a generation_config.json can set. */
export interface GenerationSettings {
  temperature: number;
  topK: number;
  topP: number;
  maxNewTokens: number;
  greedy: boolean;
}

export type GenerationField = keyof GenerationSettings;

export interface GenerationDefaults {
  settings: GenerationSettings;
  /** "temperature 0.7", "greedy (do_sample false)" ... */
  taken: string[];
  /** "repetition_penalty (pldr has none)", "temperature 1.5 (not in (0, 1])" ... */
  ignored: string[];
}

/** Fields Transformers' generate reads that pldr's sampler has no counterpart for. */
const UNSUPPORTED = [
  'repetition_penalty',
  'no_repeat_ngram_size',
  'num_beams',
  'typical_p',
  'min_p',
  'length_penalty',
  'min_new_tokens',
  'penalty_alpha',
];

const isWhole = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
const inUnit = (v: unknown): v is number => typeof v === 'number' && v > 0 && v <= 1;

/**
 * `given` names the fields the user set on the command line (they win); `settings` holds the
 * command's values, defaults included.
 */
export function applyGenerationConfig(
  gen: Record<string, unknown>,
  settings: GenerationSettings,
  given: ReadonlySet<GenerationField>,
): GenerationDefaults {
  const out: GenerationDefaults = {settings: {...settings}, taken: [], ignored: []};
  const s = out.settings;
  const samplingGiven = given.has('greedy') || given.has('temperature') || given.has('topK') || given.has('topP');
  // do_sample false (Transformers' own default when the file says nothing) is greedy decoding
  if (gen.do_sample === false && !samplingGiven) {
    s.greedy = true;
    out.taken.push('greedy (do_sample false)');
  } else if (gen.do_sample === true || gen.do_sample === undefined) {
    const take = (
      field: 'temperature' | 'topK' | 'topP',
      key: string,
      ok: (v: unknown) => v is number,
      why: string,
    ) => {
      const v = gen[key];
      if (v === undefined || v === null || given.has(field) || given.has('greedy')) return;
      if (!ok(v)) out.ignored.push(`${key} ${JSON.stringify(v)} (${why})`);
      else if (v !== s[field]) {
        s[field] = v;
        out.taken.push(`${key} ${v}`);
      }
    };
    take('temperature', 'temperature', inUnit, 'not in (0, 1]');
    take('topK', 'top_k', (v): v is number => isWhole(v, 0), 'not a whole number >= 0');
    take('topP', 'top_p', inUnit, 'not in (0, 1]');
  }
  const n = gen.max_new_tokens;
  if (n !== undefined && n !== null && !given.has('maxNewTokens')) {
    if (!isWhole(n, 1)) out.ignored.push(`max_new_tokens ${JSON.stringify(n)} (not a whole number >= 1)`);
    else if (n !== s.maxNewTokens) {
      s.maxNewTokens = n;
      out.taken.push(`max_new_tokens ${n}`);
    }
  }
  for (const key of UNSUPPORTED) {
    const v = gen[key];
    // the neutral values change nothing
    if (v === undefined || v === null || v === 1 || v === 0 || v === 1.0) continue;
    out.ignored.push(`${key} ${JSON.stringify(v)} (pldr has no such setting)`);
  }
  return out;
}

/** One stderr line, or undefined when the file changed nothing and nothing was ignored. */
export function describeGenerationDefaults(d: GenerationDefaults, file: string): string | undefined {
  if (d.taken.length === 0 && d.ignored.length === 0) return undefined;
  const parts: string[] = [];
  if (d.taken.length > 0) parts.push(`using ${d.taken.join(', ')} (flags override)`);
  if (d.ignored.length > 0) parts.push(`ignored ${d.ignored.join(', ')}`);
  return `${file}: ${parts.join('; ')}`;
}
