import {Args, Flags} from '@oclif/core';
import {existsSync, statSync} from 'node:fs';
import {extname} from 'node:path';

import {PldrCommand} from '../cli/base.js';
import {PldrError} from '../core/errors.js';
import {checkOutputDir, checkOutputFile} from '../core/io/fsutil.js';
import {readModelFiles, writeModelDir, writeReferenceCheckpoint} from '../core/io/model-files.js';
import {VARIANTS, type Variant} from '../core/config.js';

export default class Convert extends PldrCommand {
  static override summary = 'Convert a reference .pth checkpoint into a model directory, and back.';

  static override description = `SRC a .pth (with hparams.json or <stem>_hparams.json beside it, or --hparams) → DST a model
directory (config.json + model.safetensors under the reference's state-dict names).
SRC a model directory → DST a .pth in the reference's own format, loadable with torch.load and a strict
load_state_dict, with <stem>_hparams.json beside it (and <stem>_G_LM.safetensors for a PLDRv51G model).
Tensor data is copied bit for bit both ways. A DST folder must be new or empty (--force replaces it, once
the new model is complete), and DST never lies inside or over SRC.`;

  static override examples = [
    '<%= config.bin %> convert fixtures/reference/tiny-public/checkpoint.pth tiny-public/',
    '<%= config.bin %> convert tiny-public/ exported/tiny-public.pth',
    '<%= config.bin %> convert run/ckpt.pth model/ --hparams run/hparams.json --variant v510_dag',
  ];

  static override args = {
    src: Args.string({ignoreStdin: true, description: 'a reference .pth or a model directory', required: true}),
    dst: Args.string({ignoreStdin: true, description: 'a model directory (from a .pth) or a .pth path (from a directory)', required: true}),
  };

  static override flags = {
    hparams: Flags.string({description: "the reference's hparams.json for a .pth source"}),
    variant: Flags.string({description: 'v510 or v510_dag for a .pth source (the hparams cannot tell them apart)', options: VARIANTS as string[]}),
    force: Flags.boolean({description: 'replace a non-empty DST folder (once the new model is complete)', default: false}),
    json: Flags.boolean({description: 'print what was written as JSON', default: false}),
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Convert);
    if (!existsSync(args.src)) throw new PldrError(`no such file or directory: ${args.src}`);
    const fromDir = statSync(args.src).isDirectory();
    // DST is checked before SRC is read: never the source itself, never a folder we did not create
    const inputs = [args.src, ...(flags.hparams ? [flags.hparams] : [])];
    if (fromDir) {
      if (extname(args.dst) !== '.pth') throw new PldrError(`converting a model directory writes a reference checkpoint: DST must end in .pth, got ${args.dst}`);
      checkOutputFile(args.dst, {inputs, flag: 'DST', createDir: true});
    } else {
      if (extname(args.dst) === '.pth') throw new PldrError(`converting a .pth writes a model directory: DST must be a directory path, got ${args.dst}`);
      checkOutputDir(args.dst, {force: flags.force, inputs, flag: '--force'});
    }
    const files = readModelFiles(args.src, {hparams: flags.hparams, variant: flags.variant as Variant | undefined});
    let written: string[];
    if (fromDir) {
      written = writeReferenceCheckpoint(args.dst, files);
    } else {
      writeModelDir(args.dst, files, {}, {replace: flags.force});
      written = [args.dst];
    }
    if (flags.json) this.log(JSON.stringify({source: args.src, variant: files.config.variant, tensors: files.weights.size, written}));
    else this.log(`wrote ${written.join(', ')} (${files.config.variant}, ${files.weights.size} tensors)`);
  }
}
