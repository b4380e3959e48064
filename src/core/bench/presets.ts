/** The bench's models by name: its own presets (the SDPA baselines), every config preset, and short aliases. */
import {existsSync} from 'node:fs';

import {defaultDff, findPreset, getPreset, type ModelConfig, presetNames, validateConfig} from '../config.js';
import {PldrError} from '../errors.js';

/** pldr: PLGA computes G from the input (v510, v510_dag); sdpa: constant G = identity; constant-g: any other constant G. */
export type ModelFamily = 'pldr' | 'sdpa' | 'constant-g';

export interface BenchPreset {
  name: string;
  description: string;
  config: ModelConfig;
}

function sdpaConfig(N: number, H: number, V: number, P: number, dff?: number): ModelConfig {
  const d = H * 64;
  return {
    variant: 'v510G',
    num_layers: N,
    d_model: d,
    num_heads: H,
    dff: dff ?? defaultDff(d),
    num_reslayerA: 0,
    num_denseA: 0,
    A_dff: 0,
    input_vocab_size: V,
    max_seq_len: P,
    source: 'identity',
  };
}

const TINY = getPreset('tiny');

/** Presets only the bench knows; every preset of `pldr info --presets` is accepted as well. */
const BENCH_PRESETS: Readonly<Record<string, BenchPreset>> = Object.freeze(
  Object.fromEntries(
    [
      {
        name: 'SDPA-110M',
        description:
          "the SDPA special case: PLDRv51G with G = identity at PLDRv51-110M-1's dimensions (5 layers, 14 heads, d 896, dff 2389, vocab 32000), i.e. the paper's PLDRv51G-106M-2",
        config: sdpaConfig(5, 14, 32000, 1024),
      },
      {
        name: 'SDPA-104M',
        description:
          "the SDPA special case: PLDRv51G with G = identity at PLDRv51-104M's dimensions (7 layers, 12 heads, d 768, dff 2048, vocab 32000)",
        config: sdpaConfig(7, 12, 32000, 1024),
      },
      {
        name: 'SDPA-GPT-Neo-125M',
        description:
          "the SDPA special case (PLDRv51G, G = identity) at GPT-Neo-125M's dimensions: 12 layers, 12 heads, d 768, vocab 50257, context 2048, GLU FFN width 2048 " +
          "(the parameters of GPT-Neo's 3072-wide MLP). It is not GPT-Neo: RoPE instead of learned positions, a GLU FFN instead of GELU, no local attention, an untied output layer",
        config: sdpaConfig(12, 12, 50257, 2048, defaultDff(768)),
      },
      {
        name: 'tiny-SDPA',
        description: `the SDPA special case (PLDRv51G, G = identity) at the tiny preset's dimensions (${TINY.num_layers} layers, ${TINY.num_heads} heads, d ${TINY.d_model}, vocab ${TINY.input_vocab_size})`,
        config: {
          ...TINY,
          variant: 'v510G',
          num_reslayerA: 0,
          num_denseA: 0,
          A_dff: 0,
          source: 'identity',
        } as ModelConfig,
      },
    ].map((p) => [p.name, {...p, config: validateConfig(p.config, `bench preset ${p.name}`)}]),
  ),
);

/** Short names people use for the paper's models. */
const ALIASES: Record<string, string> = {
  'pldrv51-110m': 'PLDRv51-110M-1',
  sdpa: 'SDPA-110M',
  'gpt-neo-125m': 'SDPA-GPT-Neo-125M',
  'sdpa-gpt-neo': 'SDPA-GPT-Neo-125M',
};

/** The paper's comparison: both PLDR models and the SDPA baselines. */
export const PAPER_DEFAULT_PRESETS = ['PLDRv51-104M', 'SDPA-104M', 'PLDRv51-110M-1', 'SDPA-110M', 'SDPA-GPT-Neo-125M'];
/** What `--quick` runs: a tiny PLDR model and its SDPA twin, so that every ratio is present. */
export const QUICK_PRESETS = ['tiny', 'tiny-SDPA'];

export function benchPresetNames(): string[] {
  return [...presetNames(), ...Object.keys(BENCH_PRESETS)];
}

/** A bench preset or any config preset, by name (case-insensitive). */
export function findBenchPreset(name: string): BenchPreset {
  const key = ALIASES[name.toLowerCase()] ?? name;
  const own =
    BENCH_PRESETS[key] ?? Object.values(BENCH_PRESETS).find((p) => p.name.toLowerCase() === key.toLowerCase());
  if (own) return {...own, config: {...own.config}};
  try {
    const p = findPreset(key);
    return {name: p.name, description: p.description, config: getPreset(p.name)};
  } catch {
    throw new PldrError(`unknown preset "${name}": use one of ${benchPresetNames().join(', ')}`);
  }
}

export type ModelSpec = {preset: string} | {dir: string};

/** Check every model before any is timed: unknown presets and missing directories fail at once. */
export function checkSpecs(specs: ModelSpec[]): void {
  for (const s of specs) {
    if ('preset' in s) findBenchPreset(s.preset);
    else if (!existsSync(s.dir))
      throw new PldrError(`no such model: ${s.dir} (give a model directory or a reference .pth)`);
  }
}
