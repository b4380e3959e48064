import {Args, Flags} from '@oclif/core';
import {existsSync, statSync} from 'node:fs';
import {extname, join} from 'node:path';

import {PldrCommand} from '../cli/base.js';
import {PldrError} from '../core/errors.js';
import {checkOutputDir, checkOutputFile} from '../core/io/fsutil.js';
import {isClassifierSnapshot, readClassifierFiles, writeClassifierDir} from '../core/io/hf/classifier.js';
import {readModelFiles, referenceCheckpointWarning, writeHfModelDir, writeModelDir, writeReferenceCheckpoint} from '../core/io/model-files.js';
import {VARIANTS, type Variant} from '../core/config.js';

const TARGETS = ['pldr', 'pth', 'hf'] as const;
type Target = (typeof TARGETS)[number];

export default class Convert extends PldrCommand {
  static override summary = 'Convert between a reference .pth, a pldr model directory and a Hugging Face snapshot.';

  static override description = `SRC a .pth (with hparams.json or <stem>_hparams.json beside it, or --hparams) → DST a model
directory (config.json + model.safetensors under the reference's state-dict names).
SRC a model directory → DST a .pth in the reference's own format, loadable with torch.load and a strict
load_state_dict, with <stem>_hparams.json beside it (and <stem>_G_LM.safetensors for a PLDRv51G model).
A v52 model's RoPE style goes into that hparams.json as "rope", which pldr reads but the reference's code
ignores (it would use its interleaved RoPE): convert warns on stderr; --to hf keeps the style (reference_rope).
--to hf writes DST as a Hugging Face snapshot that Transformers' PldrllmForCausalLM.from_pretrained loads
(config.json, generation_config.json, model.safetensors, and the tokenizer files when SRC has a
tokenizer.model); a snapshot folder is accepted as SRC by every conversion. --to pldr / --to pth name
the other two targets explicitly. Tensor data is copied bit for bit both ways. A DST folder must be new or empty (--force replaces it, once
the new model is complete), and DST never lies inside or over SRC.`;

  static override examples = [
    '<%= config.bin %> convert fixtures/reference/tiny-public/checkpoint.pth tiny-public/',
    '<%= config.bin %> convert tiny-public/ exported/tiny-public.pth',
    '<%= config.bin %> convert runs/my-model/ my-model-hf/ --to hf      # for Transformers',
    '<%= config.bin %> convert PLDR-LLM-v51-110M-1/ ckpt/PLDRv51-110M-1.pth --to pth',
    '<%= config.bin %> convert run/ckpt.pth model/ --hparams run/hparams.json --variant v510_dag',
  ];

  static override args = {
    src: Args.string({ignoreStdin: true, description: 'a reference .pth, a model directory or a Hugging Face snapshot folder', required: true}),
    dst: Args.string({ignoreStdin: true, description: 'a folder (--to pldr or hf) or a .pth path (--to pth)', required: true}),
  };

  static override flags = {
    to: Flags.string({description: 'what to write: pldr (a model directory; the default from a .pth), pth (the default from a folder), hf (a Hugging Face snapshot)', options: [...TARGETS]}),
    hparams: Flags.string({description: "the reference's hparams.json for a .pth source"}),
    variant: Flags.string({description: 'v510 or v510_dag for a .pth source (the hparams cannot tell them apart)', options: VARIANTS as string[]}),
    force: Flags.boolean({description: 'replace a non-empty DST folder (once the new model is complete)', default: false}),
    json: Flags.boolean({description: 'print what was written as JSON', default: false}),
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Convert);
    if (!existsSync(args.src)) throw new PldrError(`no such file or directory: ${args.src}`);
    const fromDir = statSync(args.src).isDirectory();
    const to = (flags.to ?? (fromDir ? 'pth' : 'pldr')) as Target;
    // DST is checked before SRC is read: never the source itself, never a folder we did not create
    const inputs = [args.src, ...(flags.hparams ? [flags.hparams] : [])];
    if (to === 'pth') {
      if (extname(args.dst) !== '.pth') throw new PldrError(`--to pth writes a reference checkpoint: DST must end in .pth, got ${args.dst}`);
      checkOutputFile(args.dst, {inputs, flag: 'DST', createDir: true});
    } else {
      if (extname(args.dst) === '.pth') throw new PldrError(`--to ${to} writes a folder: DST must be a directory path, got ${args.dst} (for a checkpoint, use --to pth)`);
      checkOutputDir(args.dst, {force: flags.force, inputs, flag: '--force'});
    }
    if (isClassifierSnapshot(args.src)) {
      if (to !== 'hf') throw new PldrError(`${args.src} is a classifier: its task head has no place in a ${to === 'pth' ? 'reference .pth' : 'pldr model directory'}; convert it --to hf`);
      const c = readClassifierFiles(args.src);
      const written = writeClassifierDir(args.dst, c, {replace: flags.force}).map((f) => join(args.dst, f));
      if (flags.json) this.log(JSON.stringify({source: args.src, to, variant: c.config.variant, task: c.head.task, written}));
      else this.log(`wrote ${written.join(', ')} (${c.config.variant} ${c.head.task})`);
      return;
    }
    const files = readModelFiles(args.src, {hparams: flags.hparams, variant: flags.variant as Variant | undefined});
    let written: string[];
    if (to === 'pth') {
      written = writeReferenceCheckpoint(args.dst, files);
      const warning = referenceCheckpointWarning(files.config);
      if (warning) process.stderr.write(`warning: ${warning}\n`);
    } else if (to === 'hf') {
      written = writeHfModelDir(args.dst, files, {replace: flags.force}).map((f) => join(args.dst, f));
    } else {
      writeModelDir(args.dst, files, {}, {replace: flags.force});
      written = [args.dst];
    }
    if (flags.json) this.log(JSON.stringify({source: args.src, to, variant: files.config.variant, tensors: files.weights.size, written}));
    else this.log(`wrote ${written.join(', ')} (${files.config.variant}, ${files.weights.size} tensors)`);
  }
}
