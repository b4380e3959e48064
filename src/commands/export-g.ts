import {Args, Flags} from '@oclif/core';
import {existsSync, statSync} from 'node:fs';
import {basename, extname} from 'node:path';

import {PldrCommand} from '../cli/base.js';
import {loadTokenizer, parseIds, readPrompts, readTextFile} from '../cli/prompt.js';
import {renderReport, renderCompare, renderVariation} from '../cli/report.js';
import {withSpinner} from '../cli/spinner.js';
import {VARIANTS, type Variant} from '../core/config.js';
import {compareG, deductiveReport, gVariation} from '../core/deductive.js';
import {PldrError} from '../core/errors.js';
import {exportTensors, gListOf, inferDeductive, type DeductiveSet} from '../core/export-g.js';
import {generate, promptIds} from '../core/generate.js';
import {checkOutputDir, checkOutputFile, isInside} from '../core/io/fsutil.js';
import {readGList, writeGListPickle} from '../core/io/glist.js';
import {instantiate, modelDigest, readModelFiles, toGi, writeModelDir} from '../core/io/model-files.js';
import {writeSafetensors} from '../core/io/safetensors.js';

export default class ExportG extends PldrCommand {
  static override summary = 'Infer the G-cache once from a prompt, save it, turn a model into a PLDRv51Gi model, and report on it.';

  static override description = `Runs the prompt once with KV- and G-cache on (default: the empty prompt, fed as [END], as the
paper's Gi models) and takes each layer's A_LM and G_LM (and A, A_P on request), each [1, H, dk, dk].

--out saves them as safetensors (keys layer.<i>.A_LM, layer.<i>.G_LM, with metadata: model digest,
prompt, prompt ids, date) or, with --format pkl, as the reference's pickled list (pairs for
Gcachelst_init, or with --pkl-list tensors the G_LM list that v510G takes as Gcachelst).
--to-gi writes a PLDRv51Gi model directory: every weight except the metric learner and PLGA, plus G.
--report prints the deductive-output metrics of spec §7; --compare and --prompts measure how much
G_LM differs between two files, or moves across many prompts.`;

  static override examples = [
    '# the G of the empty prompt, as safetensors, and a Gi model built from it',
    '<%= config.bin %> export-g my-model/ --out g-empty.safetensors --to-gi my-model-gi/',
    '# the reference\'s pickled list, to give to its generate_text(..., Gcachelst_init=...)',
    '<%= config.bin %> export-g run/ckpt.pth --out g.pkl --format pkl',
    '# the deductive-output report after 100 greedy tokens without caches',
    '<%= config.bin %> export-g my-model/ --prompt "Write a letter requesting people use language models responsibly." --report --report-mode none',
    '# how much G_LM moves across prompts, and between two G files',
    '<%= config.bin %> export-g my-model/ --prompts prompts.txt --json',
    '<%= config.bin %> export-g g-empty.safetensors --compare g-other.safetensors',
  ];

  static override args = {
    model: Args.string({ignoreStdin: true, description: 'model directory or reference .pth; or a G file to --compare', required: true}),
  };

  static override flags = {
    prompt: Flags.string({char: 'p', description: 'prompt text (default: the empty prompt)'}),
    'prompt-file': Flags.string({description: 'read the prompt from a file'}),
    ids: Flags.string({description: 'the prompt as token ids, comma-separated'}),
    tokenizer: Flags.string({description: 'SentencePiece model (default: tokenizer.model of the model directory)'}),
    hparams: Flags.string({description: "the reference's hparams.json for a .pth model"}),
    variant: Flags.string({description: 'v510 or v510_dag for a .pth model', options: VARIANTS as string[]}),
    out: Flags.string({char: 'o', description: 'write the G-cache to this file'}),
    format: Flags.string({description: 'file format of --out', options: ['safetensors', 'pkl'], default: 'safetensors'}),
    'pkl-list': Flags.string({description: 'with --format pkl: pairs [A_LM, G_LM] (Gcachelst_init) or tensors (G_LM only, v510G Gcachelst)', options: ['pairs', 'tensors']}),
    'with-a': Flags.boolean({description: 'also save A (the metric learner output) per layer', default: false}),
    'with-ap': Flags.boolean({description: 'also save A_P = A_LM^P per layer', default: false}),
    'to-gi': Flags.string({description: 'write a PLDRv51Gi model directory built from the model and this G (a new or empty folder, or --force)'}),
    force: Flags.boolean({description: 'let --to-gi replace a non-empty folder (once the new model is complete)', default: false}),
    report: Flags.boolean({description: 'print the deductive-output report (spec §7)', default: false}),
    'report-mode': Flags.string({description: 'kv+g: the prompt pass; none: the last call of a greedy run without caches', options: ['kv+g', 'none'], default: 'kv+g'}),
    'report-tokens': Flags.integer({description: 'greedy tokens before the report with --report-mode none', default: 100}),
    compare: Flags.string({description: 'compare G_LM with this G file (max and RMS differences)'}),
    prompts: Flags.string({description: 'a file of prompts (one per line, or JSON lines): report how much G_LM moves across them'}),
    json: Flags.boolean({description: 'print one JSON object', default: false}),
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(ExportG);
    if (isGFile(args.model)) return this.compareFiles(args.model, flags.compare, flags.json);
    if (flags.format === 'pkl' && !flags.out) throw new PldrError('--format pkl applies to --out: give --out FILE');
    if (flags['pkl-list'] && flags.format !== 'pkl') throw new PldrError('--pkl-list applies to --format pkl');
    const sources = [flags.prompt !== undefined, flags['prompt-file'] !== undefined, flags.ids !== undefined].filter(Boolean).length;
    if (sources > 1) throw new PldrError('give the prompt once: --prompt, --prompt-file or --ids');
    if (flags['report-tokens'] < 1) throw new PldrError('--report-tokens must be at least 1');
    // where the results go is checked before the model is read: a refusal costs nothing
    const inputs = [args.model, ...(flags.hparams ? [flags.hparams] : [])];
    if (flags.out) checkOutputFile(flags.out, {inputs, flag: '--out'});
    if (flags['to-gi']) checkOutputDir(flags['to-gi'], {force: flags.force, inputs, flag: '--force'});
    if (flags.out && flags['to-gi'] && isInside(flags.out, flags['to-gi']))
      throw new PldrError(`--out ${flags.out} lies inside --to-gi ${flags['to-gi']}, which is written as a whole: put the G file outside it`);

    await this.useBackend(flags.backend, flags.threads, 'compute');
    const files = withSpinner('loading the model', () => readModelFiles(args.model, {hparams: flags.hparams, variant: flags.variant as Variant | undefined}));
    if (files.config.variant === 'v510G' && (flags['with-a'] || flags['with-ap'] || flags['to-gi']))
      throw new PldrError(`${args.model} is a PLDRv51G model: its G_LM is constant, so there is no A, A_P or Gi model to export`);
    const model = withSpinner('loading the model', () => instantiate(files));
    try {
      const text = flags.prompt ?? (flags['prompt-file'] ? readTextFile(flags['prompt-file'], 'prompt file') : undefined);
      let fed: number[];
      if (flags.ids !== undefined) fed = promptIds(parseIds(flags.ids));
      else if (text === undefined || text === '') fed = promptIds([]);
      else fed = (await loadTokenizer(flags.tokenizer, files.tokenizer, 'a text prompt', files.config.input_vocab_size)).promptIds(text);

      const d = withSpinner(`running the prompt (${fed.length} tokens)`, () => inferDeductive(model, fed));
      const out: Record<string, unknown> = {model: args.model, variant: files.config.variant, prompt: text ?? '', prompt_ids: fed};
      const metadata = {
        model: basename(args.model),
        model_sha256: modelDigest(args.model),
        prompt: text ?? '',
        prompt_ids: JSON.stringify(fed),
        date: new Date().toISOString(),
        variant: files.config.variant,
        producer: 'pldr export-g',
      };

      if (flags.out) {
        if (flags.format === 'pkl') {
          const list = (flags['pkl-list'] ?? (d.layers[0].A_LM ? 'pairs' : 'tensors')) as 'pairs' | 'tensors';
          writeGListPickle(flags.out, gListOf(d, {withAP: model.isDag}), {list});
          out.out = {path: flags.out, format: 'pkl', list};
        } else {
          writeSafetensors(flags.out, exportTensors(d, {withA: flags['with-a'], withAP: flags['with-ap']}), metadata);
          out.out = {path: flags.out, format: 'safetensors'};
        }
      }
      if (flags['to-gi']) {
        const gi = toGi(files, gListOf(d).layers.map((l) => l.G_LM), `G_LM of ${basename(args.model)} on prompt ids ${JSON.stringify(fed)}`);
        writeModelDir(flags['to-gi'], gi, {g_source_sha256: metadata.model_sha256, g_prompt_ids: metadata.prompt_ids}, {replace: flags.force});
        out.to_gi = {path: flags['to-gi'], params: countParams(gi.weights), source_params: countParams(files.weights)};
      }
      if (flags.report) {
        const src = flags['report-mode'] === 'none' ? await lastCallWithoutCache(model, fed, flags['report-tokens']) : d;
        out.report = {mode: flags['report-mode'], ...(flags['report-mode'] === 'none' ? {tokens: flags['report-tokens']} : {}), ...deductiveReport(src)};
      }
      if (flags.compare) out.compare = compareG(gLayers(d), gLayersOfFile(flags.compare));
      if (flags.prompts) {
        const tok = await loadTokenizer(flags.tokenizer, files.tokenizer, '--prompts', files.config.input_vocab_size);
        const sets = readPrompts(flags.prompts).map((p) => gLayers(inferDeductive(model, tok.promptIds(p.prompt))));
        out.variation = {prompts: sets.length, ...gVariation(sets)};
      }
      this.print(out, flags.json);
    } finally {
      model.dispose();
    }
  }

  private print(out: Record<string, unknown>, json: boolean): void {
    if (json) {
      this.log(JSON.stringify(out));
      return;
    }
    const ids = out.prompt_ids as number[];
    this.log(`G inferred from ${out.model} (${out.variant}) on ${ids.length} prompt token${ids.length === 1 ? '' : 's'}`);
    const o = out.out as {path: string; format: string} | undefined;
    if (o) this.log(`wrote ${o.path} (${o.format})`);
    const gi = out.to_gi as {path: string; params: number; source_params: number} | undefined;
    if (gi) this.log(`wrote PLDRv51Gi model ${gi.path}: ${gi.params.toLocaleString('en-US')} parameters (source ${gi.source_params.toLocaleString('en-US')})`);
    if (out.report) this.log(renderReport(out.report as ReturnType<typeof deductiveReport>));
    if (out.compare) this.log(renderCompare(out.compare as ReturnType<typeof compareG>));
    if (out.variation) this.log(renderVariation(out.variation as ReturnType<typeof gVariation> & {prompts: number}));
  }

  private compareFiles(a: string, b: string | undefined, json: boolean): void {
    if (!b) throw new PldrError(`${a} is a G file: give --compare OTHER to compare it with another (export-g needs a model otherwise)`);
    const result = compareG(gLayersOfFile(a), gLayersOfFile(b));
    if (json) this.log(JSON.stringify({a, b, compare: result}));
    else this.log(renderCompare(result));
  }
}

function isGFile(path: string): boolean {
  if (!existsSync(path) || statSync(path).isDirectory()) return false;
  return ['.safetensors', '.pkl'].includes(extname(path));
}

/** Per-layer G_LM arrays of a deductive set. */
function gLayers(d: DeductiveSet): Float32Array[] {
  return d.layers.map((l) => l.G_LM);
}

function gLayersOfFile(path: string): Float32Array[] {
  return readGList(path).layers.map((l) => Float32Array.from(l.G_LM.data as Float32Array));
}

function countParams(sd: Map<string, {shape: number[]}>): number {
  let n = 0;
  for (const t of sd.values()) n += t.shape.reduce((a, b) => a * b, 1);
  return n;
}

/** Spec §7, nocache mode: a greedy run without caches; the report reads its last call. */
async function lastCallWithoutCache(model: Parameters<typeof inferDeductive>[0], fed: number[], tokens: number): Promise<DeductiveSet> {
  const room = model.cfg.max_seq_len - fed.length + 1;
  const r = await generate(model, fed, {maxNewTokens: Math.min(tokens, room), greedy: true, cache: 'none'});
  // the last call saw the prompt and every generated token but the last
  return inferDeductive(model, r.ids.slice(0, -1));
}
