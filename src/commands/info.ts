import {Flags} from '@oclif/core';

import {PldrCommand} from '../cli/base.js';
import {positionalArgs, pthFlags} from '../cli/flags.js';
import {renderModelInfo, renderPresetList} from '../cli/model-info.js';
import type {Variant} from '../core/config.js';
import {describeModel, presetList} from '../core/model-info.js';

export default class Info extends PldrCommand {
  static override summary = "Show a model's hyper-parameters and parameter counts (no weights are loaded).";

  static override description =
    'Prints the hyper-parameters of a paper preset, a pldr model directory, or a reference .pth checkpoint ' +
    '(read from the hparams.json beside it), followed by the parameter count of every component: embedding, ' +
    'decoder.layernorm1, final_layer and, per decoder layer, the attention projections, the FFN, the two ' +
    'LayerNorms, the metric learner (#ResL), the PLGA tensors and the LayerNorm on A. It also gives ' +
    "#ResL/d_k^2 (the paper's Table 1 column) and how many parameters a constant G_LM replaces (the v510G/Gi " +
    'size). Only the config is read, so it is instant even for large checkpoints.';

  static override examples = [
    {description: 'Counts for a paper model', command: '<%= config.bin %> <%= command.id %> --preset PLDRv51-110M-1'},
    {
      description: 'The same as one JSON object',
      command: '<%= config.bin %> <%= command.id %> --preset PLDRv51-110M-1 --json',
    },
    {description: 'All presets with their sizes', command: '<%= config.bin %> <%= command.id %> --list-presets'},
    {
      description: 'A model directory written by pldr train',
      command: '<%= config.bin %> <%= command.id %> runs/tiny-brown',
    },
    {
      description: 'A reference checkpoint with hparams.json beside it',
      command: '<%= config.bin %> <%= command.id %> ckpt/PLDRv51-110M-1.pth',
    },
    {
      description: 'A reference DAG checkpoint whose hyper-parameters live elsewhere',
      command:
        '<%= config.bin %> <%= command.id %> ckpt/model.pth --hparams ckpt/model_hparams.json --variant v510_dag',
    },
  ];

  static override args = positionalArgs(
    {},
    {model: 'model directory (with config.json) or reference .pth checkpoint (with hparams.json beside it)'},
  );

  static override flags = {
    preset: Flags.string({
      char: 'p',
      description: 'show a named preset instead of a model (see --list-presets; case-insensitive)',
    }),
    'list-presets': Flags.boolean({description: 'list the preset names with their parameter totals and descriptions'}),
    ...pthFlags,
    json: Flags.boolean({description: 'print one JSON object instead of tables'}),
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Info);
    if (flags['list-presets']) {
      const rows = presetList();
      this.log(flags.json ? JSON.stringify(rows) : renderPresetList(rows).join('\n'));
      return;
    }
    const info = describeModel({
      model: args.model,
      preset: flags.preset,
      hparams: flags.hparams,
      variant: flags.variant as Variant | undefined,
    });
    this.log(flags.json ? JSON.stringify(info) : renderModelInfo(info));
  }
}
