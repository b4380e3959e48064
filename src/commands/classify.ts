import {Flags} from '@oclif/core';

import {PldrCommand} from '../cli/base.js';
import {positionalArgs, switchFlag, tokenizerFlag} from '../cli/flags.js';
import {loadTokenizer, readTextInput} from '../cli/prompt.js';
import {withSpinner} from '../cli/spinner.js';
import {classify, type Classification, encodeForHead, idsEncoding} from '../core/classify.js';
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

  static override args = positionalArgs(
    {model: 'a classifier snapshot folder'},
    {text: 'the text (or use --prompt-file, or standard input)'},
  );

  static override flags = {
    'prompt-file': Flags.string({description: 'read the text from a file'}),
    ids: Flags.string({description: 'token ids to classify, comma-separated (fed as given)'}),
    prompts: Flags.string({
      description: 'classify every text in a file (lines or JSON lines); one JSON line out per text',
    }),
    tokenizer: tokenizerFlag,
    'top-k': Flags.integer({description: 'sequence classification: the K best labels, sorted by score', min: 1}),
    all: switchFlag('every label (sequence), or every token including those labelled "O" (token)'),
    json: switchFlag('print the result as JSON'),
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Classify);
    if (flags['top-k'] !== undefined && flags.all) throw new PldrError('give --top-k or --all, not both');
    // every input is read and checked before the model: a bad prompts file costs no model load
    const sources = {arg: args.text, file: flags['prompt-file'], ids: flags.ids, prompts: flags.prompts};
    const {text, ids, many} = await readTextInput(sources, 'text');
    if (ids?.length === 0) throw new PldrError('--ids is empty: give at least one token id to classify');
    const files = readClassifierFiles(args.model);
    const head = files.head;
    if (head.task === 'token-classification' && flags['top-k'] !== undefined)
      throw new PldrError('--top-k is for sequence classification; this is a token classifier');

    await this.useBackend(flags.backend, flags.threads, 'compute');
    const tok =
      ids === undefined
        ? await loadTokenizer(flags.tokenizer, files.tokenizer, 'classifying text', files.config.input_vocab_size)
        : undefined;
    const special = tok && headSpecialTokens(files, (p) => tok.pieceToId(p));
    const model = withSpinner('loading the model', () => instantiate(files));
    const show = {all: flags.all, topK: flags['top-k']};
    const one = (t: string | undefined): Classification =>
      t !== undefined
        ? classify(model, head, encodeForHead(tok!, t, special!), show, {tok: tok!, text: t})
        : classify(model, head, idsEncoding(ids!), show);
    try {
      if (many) {
        for (const p of many)
          this.log(JSON.stringify({...(p.id !== undefined ? {id: p.id} : {}), text: p.prompt, ...one(p.prompt)}));
        return;
      }
      const r = one(text);
      if (flags.json) this.log(JSON.stringify(r));
      else for (const line of lines(r)) this.log(line);
    } finally {
      model.dispose();
    }
  }
}

/** The plain output: one line per label shown (label, score) or per token (index, piece, label, score). */
function lines(r: Classification): string[] {
  if (r.task === 'sequence-classification') return r.labels.map((x) => `${x.label}\t${x.score.toFixed(4)}`);
  return r.entities.map((e) => `${e.index}\t${e.word}\t${e.entity}\t${e.score.toFixed(4)}`);
}
