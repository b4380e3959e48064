import {Flags} from '@oclif/core';

import {PldrCommand} from '../cli/base.js';
import {positionalArgs, pthFlags, switchFlag} from '../cli/flags.js';
import {convert, CONVERT_TARGETS, type ConvertTarget} from '../core/convert.js';
import type {Variant} from '../core/config.js';

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

  static override args = positionalArgs({
    src: 'a reference .pth, a model directory or a Hugging Face snapshot folder',
    dst: 'a folder (--to pldr or hf) or a .pth path (--to pth)',
  });

  static override flags = {
    to: Flags.string({
      description:
        'what to write: pldr (a model directory; the default from a .pth), pth (the default from a folder), hf (a Hugging Face snapshot)',
      options: [...CONVERT_TARGETS],
    }),
    ...pthFlags,
    force: switchFlag('replace a non-empty DST folder (once the new model is complete)'),
    json: switchFlag('print what was written as JSON'),
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Convert);
    const opts = {
      to: flags.to as ConvertTarget | undefined,
      hparams: flags.hparams,
      variant: flags.variant as Variant | undefined,
      force: flags.force,
    };
    const {report: r, warning} = convert(args.src, args.dst, opts);
    if (warning) process.stderr.write(`warning: ${warning}\n`);
    if (flags.json) this.log(JSON.stringify(r));
    else
      this.log(
        `wrote ${r.written.join(', ')} (${'task' in r ? `${r.variant} ${r.task}` : `${r.variant}, ${r.tensors} tensors`})`,
      );
  }
}
