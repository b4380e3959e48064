import {Flags} from '@oclif/core';

import {PldrCommand} from '../cli/base.js';
import {demoModelFlag, positionalArgs, promptFlags, pthFlags, switchFlag, tokenizerFlag} from '../cli/flags.js';
import {loadTokenizer, parseNumber, readTextInput} from '../cli/prompt.js';
import {spinner, withSpinner} from '../cli/spinner.js';
import {demoModel} from '../core/demo.js';
import {CACHE_MODES, type CacheMode, generate, type GenerateResult, promptIds} from '../core/generate.js';
import {generationSummary, msPerToken, resolveGenerationSettings, textPromptIds} from '../core/generation-settings.js';
import {readGList} from '../core/io/glist.js';
import type {GenerationField} from '../core/io/hf/generation.js';
import {instantiate, readModelFiles} from '../core/io/model-files.js';
import type {PldrModel} from '../core/model/pldr.js';
import {type StreamDecoder, type Tokenizer} from '../core/tokenizer.js';

/** The flags a generation_config.json may stand in for, with the field each sets. */
const GIVEN_FLAGS = [
  ['temperature', 'temperature'],
  ['top-k', 'topK'],
  ['top-p', 'topP'],
  ['max-new-tokens', 'maxNewTokens'],
  ['greedy', 'greedy'],
] as const satisfies readonly (readonly [string, GenerationField])[];

export default class Generate extends PldrCommand {
  static override summary = 'Generate text (or token ids) from a PLDR-LLM, with the cache mode of your choice.';

  static override description = `Runs the reference's generation loop (docs/spec.md §5): the prompt call, then one call per new token,
with temperature → top-p → top-k filtering exactly as the reference applies them, stopping after [END].
Same seed and settings give the same text, run after run.

The prompt: an argument, --prompt-file, standard input, or token ids with --ids ("" = the empty
prompt, fed as [END]). --prompts FILE generates for many prompts (one per line, or JSON lines with a
"prompt" field) and prints one JSON line per prompt.

Cache modes: none (the whole sequence every step), kv (KV-cache), g (G-cache: PLGA skipped after the
prompt), kv+g (both; the default). --g-init gives G_LM from outside (a file from pldr export-g, or the
reference's pickled lists): PLGA is bypassed from the first call.

Text streams to the terminal as it is generated; --json prints one object instead (text, ids,
per-token log-probs, stop reason, timings).`;

  static override examples = [
    '<%= config.bin %> generate "The old man said"          # the embedded demo model',
    '<%= config.bin %> generate --model my-model/ "The meaning of life is"',
    '<%= config.bin %> generate --model my-model/ "Once upon a time" --temperature 0.8 --top-p 0.9 --seed 7 --max-new-tokens 100',
    'echo "Write a letter" | <%= config.bin %> generate --model my-model/ --greedy --json',
    '<%= config.bin %> generate --model my-model/ --prompts prompts.jsonl --greedy > outputs.jsonl',
    '<%= config.bin %> generate --model my-model/ "Hello" --cache none      # no cache: the whole sequence every step',
    '<%= config.bin %> generate --model my-model/ "Hello" --g-init g-empty.safetensors --cache kv',
    '<%= config.bin %> generate --model fixtures/reference/tiny-public/checkpoint.pth --ids 74,82,59,13,45,84,61 --greedy --max-new-tokens 16 --cache kv+g --json',
  ];

  static override args = positionalArgs(
    {},
    {prompt: 'the prompt text (or use --prompt-file, standard input, --ids or --prompts)'},
  );

  static override flags = {
    model: demoModelFlag,
    hparams: pthFlags.hparams,
    tokenizer: tokenizerFlag,
    ...promptFlags,
    prompts: Flags.string({
      description: 'generate for every prompt in a file (lines or JSON lines); one JSON line out per prompt',
    }),
    'max-new-tokens': Flags.integer({
      char: 'n',
      description: 'new tokens at most (the prompt call counts as the first)',
      default: 50,
    }),
    temperature: Flags.string({char: 't', description: 'temperature in (0, 1]; applied only when < 1', default: '1'}),
    'top-k': Flags.string({description: 'keep the k largest logits (0 = off)', default: '0'}),
    'top-p': Flags.string({description: 'nucleus filter in (0, 1], reference semantics (1 = off)', default: '1'}),
    greedy: switchFlag('top-k 1, temperature 1, top-p 1 (overrides the three)'),
    seed: Flags.integer({description: 'seed of the sampler', default: 0}),
    cache: Flags.string({description: 'cache mode', options: [...CACHE_MODES], default: 'kv+g'}),
    'g-init': Flags.string({
      description: 'external G list (.safetensors from export-g, or the reference .pkl) used by every call',
    }),
    stream: Flags.boolean({description: 'print text as it is generated (default: on a terminal)', allowNo: true}),
    json: switchFlag('print one JSON object: text, ids, logprobs, stop, timings'),
  };

  async run(): Promise<void> {
    const {args, flags, metadata} = await this.parse(Generate);
    const asked = {
      temperature: parseNumber(flags.temperature, '--temperature'),
      topK: parseNumber(flags['top-k'], '--top-k'),
      topP: parseNumber(flags['top-p'], '--top-p'),
      maxNewTokens: flags['max-new-tokens'],
      greedy: flags.greedy,
    };
    const sources = {arg: args.prompt, file: flags['prompt-file'], ids: flags.ids, prompts: flags.prompts};
    const {text, ids, many} = await readTextInput(sources, 'prompt'); // read and checked before the model is

    await this.useBackend(flags.backend, flags.threads);
    const files = withSpinner('loading the model', () =>
      readModelFiles(flags.model ?? demoModel(), {hparams: flags.hparams}),
    );
    const tokenizer =
      ids === undefined
        ? await loadTokenizer(flags.tokenizer, files.tokenizer, 'a text prompt', files.config.input_vocab_size)
        : undefined;
    const given = new Set(
      GIVEN_FLAGS.filter(([flag]) => !metadata.flags[flag]?.setFromDefault && flags[flag] !== undefined).map(
        ([, field]) => field,
      ),
    );
    const {settings: s, note} = resolveGenerationSettings(files, asked, given);
    if (note) process.stderr.write(`${note}\n`);
    const textIds =
      tokenizer && textPromptIds(tokenizer, flags.tokenizer === undefined ? files.hf?.tokenizerSettings : undefined);
    const model = withSpinner('loading the model', () => instantiate(files));
    try {
      const gInit = flags['g-init'] ? readGList(flags['g-init']) : undefined;
      const settings = {
        maxNewTokens: s.maxNewTokens,
        sampling: {temperature: s.temperature, topK: s.topK, topP: s.topP},
        greedy: s.greedy,
        seed: flags.seed,
        cache: flags.cache as CacheMode,
        gInit,
      };
      if (many) {
        for (const p of many) {
          const r = await generate(model, textIds!(p.prompt), settings);
          this.log(
            JSON.stringify({
              ...(p.id !== undefined ? {id: p.id} : {}),
              prompt: p.prompt,
              ...generationSummary(r, tokenizer),
            }),
          );
        }
        return;
      }
      const fed = ids !== undefined ? promptIds(ids) : textIds!(text!);
      const stream = !flags.json && (flags.stream ?? Boolean(process.stdout.isTTY));
      const r = await this.generateOne(model, fed, settings, stream ? tokenizer : undefined, ids !== undefined);
      if (flags.json)
        this.log(JSON.stringify({...(text !== undefined ? {prompt: text} : {}), ...generationSummary(r, tokenizer)}));
      else if (!stream) this.log(tokenizer ? tokenizer.decode(r.ids) : r.ids.join(','));
      if (!flags.json)
        process.stderr.write(
          `[${r.generated.length} tokens, stop: ${r.stop}, prompt ${r.timings.promptMs.toFixed(1)} ms, ${msPerToken(r).toFixed(2)} ms/token]\n`,
        );
    } finally {
      model.dispose();
    }
  }

  /**
   * Generate, streaming text (or ids) to stdout as tokens arrive when asked. A spinner shows on a
   * terminal while the prompt pass runs; it stops before the first token is written.
   */
  private async generateOne(
    model: PldrModel,
    fed: number[],
    settings: Parameters<typeof generate>[2],
    tokenizer: Tokenizer | undefined,
    idsOnly: boolean,
  ): Promise<GenerateResult> {
    const decoder: StreamDecoder | undefined = tokenizer && !idsOnly ? tokenizer.streamDecoder(fed) : undefined;
    const promptPass = spinner(`running the prompt (${fed.length} tokens)`);
    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      promptPass.stop();
      if (decoder) process.stdout.write(decoder.prefix());
    };
    try {
      const r = await generate(model, fed, {
        ...settings,
        onToken: (id) => {
          start();
          if (decoder) process.stdout.write(decoder.push(id));
        },
      });
      start();
      if (decoder) process.stdout.write(decoder.flush() + '\n');
      return r;
    } finally {
      promptPass.stop();
    }
  }
}
