import {Flags} from '@oclif/core';

import {PldrCommand} from '../cli/base.js';
import {positionalArgs, promptFlags, pthFlags, switchFlag, tokenizerFlag} from '../cli/flags.js';
import {loadTokenizer, parseIds, readPrompts, readTextFile} from '../cli/prompt.js';
import {renderCompare, renderReport, renderVariation} from '../cli/report.js';
import {withSpinner} from '../cli/spinner.js';
import {PldrError} from '../core/errors.js';
import {
  checkExportG,
  checkExportGModel,
  compareGFiles,
  exportG,
  type ExportGOptions,
  type ExportGResult,
  inferDeductive,
  isGFile,
} from '../core/export-g.js';
import {promptIds} from '../core/generate.js';
import {instantiate, readModelFiles} from '../core/io/model-files.js';
import type {Variant} from '../core/config.js';

export default class ExportG extends PldrCommand {
  static override summary =
    'Infer the G-cache once from a prompt, save it, turn a model into a PLDRv51Gi model, and report on it.';

  static override description = `Runs the prompt once with KV- and G-cache on (default: the empty prompt, fed as [END], as the
paper's Gi models) and takes each layer's A_LM and G_LM (and A, A_P on request), each [1, H, dk, dk].

--out saves them as safetensors (keys layer.<i>.A_LM, layer.<i>.G_LM, with metadata: model digest,
prompt, prompt ids, date) or, with --format pkl, as the reference's pickled list (pairs for
Gcachelst_init, or with --pkl-list tensors the G_LM list that v510G takes as Gcachelst).
--to-gi writes a PLDRv51Gi model directory: every weight except the metric learner and PLGA, plus G.
--report prints the deductive-output metrics of docs/spec.md §7; --compare and --prompts measure how much
G_LM differs between two files, or moves across many prompts.`;

  static override examples = [
    '# the G of the empty prompt, as safetensors, and a Gi model built from it',
    '<%= config.bin %> export-g my-model/ --out g-empty.safetensors --to-gi my-model-gi/',
    "# the reference's pickled list, to give to its generate_text(..., Gcachelst_init=...)",
    '<%= config.bin %> export-g run/ckpt.pth --out g.pkl --format pkl',
    '# the deductive-output report after 100 greedy tokens without caches',
    '<%= config.bin %> export-g my-model/ --prompt "Write a letter requesting people use language models responsibly." --report --report-mode none',
    '# how much G_LM moves across prompts, and between two G files',
    '<%= config.bin %> export-g my-model/ --prompts prompts.txt --json',
    '<%= config.bin %> export-g g-empty.safetensors --compare g-other.safetensors',
  ];

  static override args = positionalArgs({model: 'model directory or reference .pth; or a G file to --compare'});

  static override flags = {
    prompt: Flags.string({char: 'p', description: 'prompt text (default: the empty prompt)'}),
    ...promptFlags,
    tokenizer: tokenizerFlag,
    ...pthFlags,
    out: Flags.string({char: 'o', description: 'write the G-cache to this file'}),
    format: Flags.string({
      description: 'file format of --out',
      options: ['safetensors', 'pkl'],
      default: 'safetensors',
    }),
    'pkl-list': Flags.string({
      description: 'with --format pkl: pairs [A_LM, G_LM] (Gcachelst_init) or tensors (G_LM only, v510G Gcachelst)',
      options: ['pairs', 'tensors'],
    }),
    'with-a': switchFlag('also save A (the metric learner output) per layer'),
    'with-ap': switchFlag('also save A_P = A_LM^P per layer'),
    'to-gi': Flags.string({
      description:
        'write a PLDRv51Gi model directory built from the model and this G (a new or empty folder, or --force)',
    }),
    force: switchFlag('let --to-gi replace a non-empty folder (once the new model is complete)'),
    report: switchFlag('print the deductive-output report (docs/spec.md §7)'),
    'report-mode': Flags.string({
      description: 'kv+g: the prompt pass; none: the last call of a greedy run without caches',
      options: ['kv+g', 'none'],
      default: 'kv+g',
    }),
    'report-tokens': Flags.integer({
      description: 'greedy tokens before the report with --report-mode none',
      default: 100,
    }),
    compare: Flags.string({description: 'compare G_LM with this G file (max and RMS differences)'}),
    prompts: Flags.string({
      description: 'a file of prompts (one per line, or JSON lines): report how much G_LM moves across them',
    }),
    json: switchFlag('print one JSON object'),
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(ExportG);
    if (isGFile(args.model)) return this.compareFiles(args.model, flags.compare, flags.json);
    const sources = [flags.prompt !== undefined, flags['prompt-file'] !== undefined, flags.ids !== undefined].filter(
      Boolean,
    ).length;
    if (sources > 1) throw new PldrError('give the prompt once: --prompt, --prompt-file or --ids');
    const opts: ExportGOptions = {
      out: flags.out,
      format: flags.format as ExportGOptions['format'],
      pklList: flags['pkl-list'] as ExportGOptions['pklList'],
      withA: flags['with-a'],
      withAP: flags['with-ap'],
      toGi: flags['to-gi'],
      force: flags.force,
      report: flags.report
        ? {mode: flags['report-mode'] as 'kv+g' | 'none', tokens: flags['report-tokens']}
        : undefined,
      compare: flags.compare,
      hparams: flags.hparams,
    };
    if (flags['report-tokens'] < 1) throw new PldrError('--report-tokens must be at least 1');
    checkExportG(args.model, opts);
    const many = flags.prompts !== undefined ? readPrompts(flags.prompts) : undefined;

    await this.useBackend(flags.backend, flags.threads, 'compute');
    const files = withSpinner('loading the model', () =>
      readModelFiles(args.model, {hparams: flags.hparams, variant: flags.variant as Variant | undefined}),
    );
    checkExportGModel(args.model, files, opts);
    const model = withSpinner('loading the model', () => instantiate(files));
    try {
      const text =
        flags.prompt ?? (flags['prompt-file'] ? readTextFile(flags['prompt-file'], 'prompt file') : undefined);
      let fed: number[];
      if (flags.ids !== undefined) fed = promptIds(parseIds(flags.ids));
      else if (text === undefined || text === '') fed = promptIds([]);
      else
        fed = (
          await loadTokenizer(flags.tokenizer, files.tokenizer, 'a text prompt', files.config.input_vocab_size)
        ).promptIds(text);
      const d = withSpinner(`running the prompt (${fed.length} tokens)`, () => inferDeductive(model, fed));
      let prompts: number[][] | undefined;
      if (many) {
        const tok = await loadTokenizer(flags.tokenizer, files.tokenizer, '--prompts', files.config.input_vocab_size);
        prompts = many.map((p) => tok.promptIds(p.prompt));
      }
      this.print(await exportG(model, files, args.model, {fed, text, d}, opts, prompts), flags.json);
    } finally {
      model.dispose();
    }
  }

  private print(out: ExportGResult, json: boolean): void {
    if (json) {
      this.log(JSON.stringify(out));
      return;
    }
    const n = out.prompt_ids.length;
    this.log(`G inferred from ${out.model} (${out.variant}) on ${n} prompt token${n === 1 ? '' : 's'}`);
    if (out.out) this.log(`wrote ${out.out.path} (${out.out.format})`);
    const gi = out.to_gi;
    if (gi)
      this.log(
        `wrote PLDRv51Gi model ${gi.path}: ${gi.params.toLocaleString('en-US')} parameters (source ${gi.source_params.toLocaleString('en-US')})`,
      );
    if (out.report) this.log(renderReport(out.report));
    if (out.compare) this.log(renderCompare(out.compare));
    if (out.variation) this.log(renderVariation(out.variation));
  }

  private compareFiles(a: string, b: string | undefined, json: boolean): void {
    if (!b)
      throw new PldrError(
        `${a} is a G file: give --compare OTHER to compare it with another (export-g needs a model otherwise)`,
      );
    const result = compareGFiles(a, b);
    if (json) this.log(JSON.stringify({a, b, compare: result}));
    else this.log(renderCompare(result));
  }
}
