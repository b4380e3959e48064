import {Args, Flags} from '@oclif/core';

import {PldrCommand} from '../cli/base.js';
import {loadTokenizer, parseIds, readPrompts, readStdin, readTextFile} from '../cli/prompt.js';
import {withSpinner} from '../cli/spinner.js';
import {classifySequence, classifyTokens, type Encoding, encodeForHead, topLabels} from '../core/classify.js';
import {PldrError} from '../core/errors.js';
import {headSpecialTokens, readClassifierFiles} from '../core/io/hf/classifier.js';
import {instantiate} from '../core/io/model-files.js';

export default class Classify extends PldrCommand {
  static override summary = 'Classify a text with a fine-tuned PLDR-LLM snapshot (sequence or token classification).';

  static override description = `MODEL is a Hugging Face snapshot folder whose config.json names PldrllmForSequenceClassification
or PldrllmForTokenClassification (e.g. fromthesky/PLDR-LLM-v52-81M-FT-SC-1 / -FT-TC-1). The output
follows Transformers' pipelines:

Sequence classification pools the last token that is not padding; scores are the softmax of the
labels (sigmoid for a multi-label or one-label head, raw values for regression). It prints the top
label and its score; --top-k K the K best, --all every label.

Token classification prints one row per token (special tokens the tokenizer adds left out): its
label, score (softmax), index and piece, without tokens labelled "O" unless --all (aggregation
"none").

The text: an argument, --prompt-file, or standard input; or token ids with --ids (fed as given, no
special tokens added). --json prints the result as JSON. --prompts FILE classifies every text of a
file (one per line, or JSON lines with a "prompt" field and an optional "id") and prints one JSON
line per text.`;

  static override examples = [
    '<%= config.bin %> classify PLDR-LLM-v52-81M-FT-SC-1/ "A wonderful, moving film."',
    '<%= config.bin %> classify PLDR-LLM-v52-81M-FT-SC-1/ "A wonderful, moving film." --all --json',
    'echo "George Washington went to Washington" | <%= config.bin %> classify PLDR-LLM-v52-81M-FT-TC-1/',
    '<%= config.bin %> classify PLDR-LLM-v52-81M-FT-SC-1/ --prompts reviews.jsonl --all > scores.jsonl',
  ];

  static override args = {
    model: Args.string({ignoreStdin: true, description: 'a classifier snapshot folder', required: true}),
    text: Args.string({ignoreStdin: true, description: 'the text (or use --prompt-file, or standard input)'}),
  };

  static override flags = {
    'prompt-file': Flags.string({description: 'read the text from a file'}),
    ids: Flags.string({description: 'token ids to classify, comma-separated (fed as given)'}),
    prompts: Flags.string({description: 'classify every text in a file (lines or JSON lines); one JSON line out per text'}),
    tokenizer: Flags.string({description: 'SentencePiece model (default: tokenizer.model of the snapshot)'}),
    'top-k': Flags.integer({description: 'sequence classification: the K best labels, sorted by score', min: 1}),
    all: Flags.boolean({description: 'every label (sequence), or every token including those labelled "O" (token)', default: false}),
    json: Flags.boolean({description: 'print the result as JSON', default: false}),
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Classify);
    const given = [args.text !== undefined, flags['prompt-file'] !== undefined, flags.ids !== undefined, flags.prompts !== undefined];
    if (given.filter(Boolean).length > 1) throw new PldrError('give the text one way: an argument, --prompt-file, --ids or --prompts');
    if (flags['top-k'] !== undefined && flags.all) throw new PldrError('give --top-k or --all, not both');
    const ids = flags.ids !== undefined ? parseIds(flags.ids) : undefined;
    if (ids?.length === 0) throw new PldrError('--ids is empty: give at least one token id to classify');
    let text = args.text ?? (flags['prompt-file'] !== undefined ? readTextFile(flags['prompt-file'], 'text file') : undefined);
    const files = readClassifierFiles(args.model);
    const head = files.head;
    if (head.task === 'token-classification' && flags['top-k'] !== undefined) throw new PldrError('--top-k is for sequence classification; this is a token classifier');
    const many = flags.prompts !== undefined ? readPrompts(flags.prompts) : undefined;
    if (text === undefined && ids === undefined && many === undefined) {
      if (process.stdin.isTTY) throw new PldrError('no text: give it as an argument, with --prompt-file, on standard input, or as --ids');
      text = await readStdin();
    }

    await this.useBackend(flags.backend, flags.threads, 'compute');
    const tok = ids === undefined ? await loadTokenizer(flags.tokenizer, files.tokenizer, 'classifying text', files.config.input_vocab_size) : undefined;
    const special = tok && headSpecialTokens(files, (p) => tok.pieceToId(p));
    const model = withSpinner('loading the model', () => instantiate(files));
    /** One text (or the --ids) classified: the JSON object, and the plain lines. */
    const classify = (t: string | undefined): {json: Record<string, unknown>; lines: string[]} => {
      const enc: Encoding = t !== undefined ? encodeForHead(tok!, t, special!) : {ids: ids!, special: ids!.map(() => false)};
      if (head.task === 'sequence-classification') {
        const r = classifySequence(model, head, enc);
        const shown = topLabels(r.scores, flags.all ? null : flags['top-k']);
        return {json: {task: r.task, labels: shown, logits: r.logits, function: r.function, ids: r.ids, position: r.position}, lines: shown.map((x) => `${x.label}\t${x.score.toFixed(4)}`)};
      }
      const r = classifyTokens(model, head, enc, flags.all ? [] : ['O'], t !== undefined ? {tok: tok!, text: t} : undefined);
      return {json: {task: r.task, entities: r.entities, ids: r.ids}, lines: r.entities.map((e) => `${e.index}\t${e.word}\t${e.entity}\t${e.score.toFixed(4)}`)};
    };
    try {
      if (many) {
        for (const p of many) this.log(JSON.stringify({...(p.id !== undefined ? {id: p.id} : {}), text: p.prompt, ...classify(p.prompt).json}));
        return;
      }
      const r = classify(text);
      if (flags.json) this.log(JSON.stringify(r.json));
      else for (const line of r.lines) this.log(line);
    } finally {
      model.dispose();
    }
  }
}
