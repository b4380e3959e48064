import {Flags} from '@oclif/core';

import {PldrCommand} from '../cli/base.js';
import {PldrError} from '../core/errors.js';
import {CACHE_MODES, type CacheMode, generate} from '../core/generate.js';
import {readGList} from '../core/io/glist.js';
import {loadModel} from '../core/io/model-files.js';

export default class Generate extends PldrCommand {
  static override summary = 'Generate tokens from a PLDR-LLM with the cache mode of your choice.';

  static override description = `Runs the reference's generation loop (spec §5): the prompt call, then one call per new token,
with temperature → top-p → top-k filtering exactly as the reference applies them, stopping after [END] (id 3).

Cache modes: none (the whole sequence every step), kv (KV-cache), g (G-cache: PLGA skipped after the
prompt), kv+g (both: the metric learner and PLGA are skipped after the prompt). --g-init gives G_LM from
outside (a G file from pldr export-g, or the reference's pickled lists): PLGA is bypassed from the first call.

The prompt is given as token ids (--ids); an empty --ids "" is the empty prompt, fed as [END].`;

  static override examples = [
    '<%= config.bin %> generate --model fixtures/reference/tiny-public/checkpoint.pth --ids 74,82,59,13,45,84,61 --greedy --max-new-tokens 16 --cache kv+g --json',
    '<%= config.bin %> generate --model my-model/ --ids 5,17,42 --temperature 0.8 --top-p 0.9 --seed 7',
    '<%= config.bin %> generate --model my-model/ --ids "" --greedy --cache none --max-new-tokens 8',
    '<%= config.bin %> generate --model run/model.pth --hparams run/hparams.json --ids 5,17 --g-init g.safetensors --cache kv',
  ];

  static override flags = {
    model: Flags.string({char: 'm', description: 'model directory, or a reference .pth (hparams.json beside it, or --hparams)', required: true}),
    hparams: Flags.string({description: "the reference's hparams.json for a .pth model"}),
    ids: Flags.string({description: 'prompt token ids, comma-separated ("" = the empty prompt)', required: true}),
    'max-new-tokens': Flags.integer({char: 'n', description: 'new tokens to generate at most (the prompt call counts as the first)', default: 50}),
    temperature: Flags.string({char: 't', description: 'temperature in (0, 1]; applied only when < 1', default: '1'}),
    'top-k': Flags.integer({description: 'keep the k largest logits (0 = off)', default: 0}),
    'top-p': Flags.string({description: 'nucleus filter in (0, 1], reference semantics (1 = off)', default: '1'}),
    greedy: Flags.boolean({description: 'top-k 1, temperature 1, top-p 1 (overrides the three)', default: false}),
    seed: Flags.integer({description: 'seed of the sampler', default: 0}),
    cache: Flags.string({description: 'cache mode', options: [...CACHE_MODES], default: 'kv+g'}),
    'g-init': Flags.string({description: 'external G list (.safetensors or the reference .pkl) used by every call'}),
    json: Flags.boolean({description: 'print one JSON object: ids, generated, logprobs, stop, timings', default: false}),
  };

  async run(): Promise<void> {
    const {flags} = await this.parse(Generate);
    await this.useBackend(flags.backend);
    const prompt = parseIds(flags.ids);
    const temperature = parseNumber(flags.temperature, 'temperature');
    const topP = parseNumber(flags['top-p'], 'top-p');
    const model = loadModel(flags.model, {hparams: flags.hparams});
    try {
      const gInit = flags['g-init'] ? readGList(flags['g-init']) : undefined;
      const r = await generate(model, prompt, {
        maxNewTokens: flags['max-new-tokens'],
        sampling: {temperature, topK: flags['top-k'], topP},
        greedy: flags.greedy,
        seed: flags.seed,
        cache: flags.cache as CacheMode,
        gInit,
      });
      const steps = r.timings.stepMs;
      const msPerToken = steps.length ? steps.reduce((a, b) => a + b, 0) / steps.length : 0;
      if (flags.json) {
        const timings = {prompt_ms: r.timings.promptMs, ms_per_token: msPerToken, tokens_per_s: msPerToken ? 1000 / msPerToken : null};
        this.log(JSON.stringify({ids: r.ids, generated: r.generated, logprobs: r.logprobs, stop: r.stop, cache: flags.cache, timings}));
      } else {
        this.log(r.ids.join(','));
        process.stderr.write(`${r.generated.length} tokens, stop: ${r.stop}, prompt ${r.timings.promptMs.toFixed(1)} ms, ${msPerToken.toFixed(2)} ms/token\n`);
      }
    } finally {
      model.dispose();
    }
  }
}

function parseIds(s: string): number[] {
  if (s.trim() === '') return [];
  return s.split(',').map((x) => {
    const v = Number(x.trim());
    if (x.trim() === '' || !Number.isInteger(v) || v < 0) throw new PldrError(`--ids must be comma-separated non-negative integers, got "${x.trim()}"`);
    return v;
  });
}

function parseNumber(s: string, name: string): number {
  const v = Number(s);
  if (s.trim() === '' || Number.isNaN(v)) throw new PldrError(`--${name} must be a number, got "${s}"`);
  return v;
}
