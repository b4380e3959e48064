import {Args, Flags} from '@oclif/core';

import {PldrCommand} from '../cli/base.js';
import {dk, findPreset, type ModelConfig, paramCounts, type ParamCounts, PRESETS, ropeStyle, type Variant, VARIANTS} from '../core/config.js';
import {PldrError} from '../core/errors.js';
import {describeTaskHead, type TaskHeadDescription} from '../core/io/hf/heads.js';
import {describeHfSnapshot, type HfSnapshotDescription, isHfSnapshot} from '../core/io/hf/snapshot.js';
import {describeLegacyHub, findLegacyHub, type LegacyHubDescription} from '../core/io/legacy-hub.js';
import {readModelConfig} from '../core/io/modelconfig.js';

const fmt = (n: number): string => n.toLocaleString('en-US');

/** Rows of [label, value] with the values right-aligned in one column (numbers), or left-aligned after the labels (text). */
function table(rows: Array<[string, string]>, indent = '  ', align: 'right' | 'left' = 'right'): string[] {
  const wl = Math.max(...rows.map(([l]) => l.length));
  const wv = align === 'right' ? Math.max(...rows.map(([, v]) => v.length)) : 0;
  return rows.map(([l, v]) => `${indent}${l.padEnd(wl)}  ${v.padStart(wv)}`);
}

/** table() for text values. */
const list = (rows: Array<[string, string]>): string[] => table(rows, '  ', 'left');

function hparamRows(cfg: ModelConfig): Array<[string, string]> {
  const rows: Array<[string, string]> = [
    ['variant', cfg.variant],
    ['num_layers', String(cfg.num_layers)],
    ['d_model', String(cfg.d_model)],
    ['num_heads', String(cfg.num_heads)],
    ['dk (d_model / num_heads)', String(dk(cfg))],
    ['dff', String(cfg.dff)],
  ];
  if (cfg.variant !== 'v510G') {
    rows.push(
      ['num_reslayerA', String(cfg.num_reslayerA)],
      ['num_denseA', String(cfg.num_denseA)],
      ['A_dff', String(cfg.A_dff)],
    );
  }
  rows.push(['input_vocab_size', String(cfg.input_vocab_size)], ['max_seq_len', String(cfg.max_seq_len)]);
  rows.push(['rope', ropeStyle(cfg) === 'neox' ? 'neox (rotate-half, v52)' : 'reference (interleaved pairs)']);
  if (cfg.DAG_reg_coeffs) rows.push(['DAG_reg_coeffs', cfg.DAG_reg_coeffs.join(', ')]);
  if (cfg.source) rows.push(['G_LM source', cfg.source]);
  return rows;
}

function paramLines(cfg: ModelConfig, p: ParamCounts): string[] {
  const full = cfg.variant !== 'v510G';
  const top: Array<[string, string]> = [
    ['decoder.embedding', fmt(p.embedding)],
    ['decoder.layernorm1', fmt(p['decoder.layernorm1'])],
    ['final_layer', fmt(p.final_layer)],
  ];
  const layer: Array<[string, string]> = [
    ['attention projections (wq, wk, wv, dense)', fmt(p.per_layer.attention)],
    ['FFN (gluw1, gluw2, gluw3)', fmt(p.per_layer.ffn)],
    ['layernorm1 + layernorm2', fmt(p.per_layer.layernorms)],
  ];
  if (full) {
    layer.push(
      ['metric learner (#ResL)', fmt(p.per_layer.metric_learner)],
      ['PLGA tensors (Wlst, blst, pwlst, alst, balst)', fmt(p.per_layer.plga)],
      ['LayerNorm on A (mha1.layernorm1)', fmt(p.per_layer.layernorm_A)],
    );
  }
  layer.push(['layer total', fmt(p.per_layer.total)]);
  const totals: Array<[string, string]> = [
    [`all ${cfg.num_layers} layers`, fmt(p.layers)],
    ['total', fmt(p.total)],
  ];
  if (full) {
    totals.push(
      ['#ResL / d_k^2', p.resLOverDk2.toFixed(2)],
      ['replaced by a constant G (v510G/Gi)', fmt(p.replaced_by_G)],
      ['total as a v510G/Gi model', fmt(p.total - p.replaced_by_G)],
    );
  }
  // One value column for the whole block, so the numbers line up across the sections.
  const all = table([...top, ...layer, ...totals]);
  return [
    ...all.slice(0, top.length),
    `  per layer (x${cfg.num_layers}):`,
    ...all.slice(top.length, top.length + layer.length).map((l) => `  ${l}`),
    ...all.slice(top.length + layer.length),
  ];
}

/** The files of a folder in the older Hub layout, and what of it pldr ignores. */
function legacyRows(d: LegacyHubDescription): Array<[string, string]> {
  const rows: Array<[string, string]> = [['checkpoint', d.checkpoint], ['hyper-parameters', `${d.hyperparameters} (read as data, never run)`], ['tokenizer', d.tokenizer ?? 'none in the folder (pass --tokenizer)']];
  if (d.g_list) rows.push(['G list', d.g_list]);
  d.ignored.forEach((note, i) => rows.push([i === 0 ? 'ignored' : '', note]));
  return rows;
}

function taskRows(t: TaskHeadDescription): Array<[string, string]> {
  return [
    ['task', t.task.replace('-', ' ')],
    ['reads', t.pooling],
    ['labels', t.labels.map((l, i) => `${i} ${l}`).join(', ')],
    ['problem_type', t.problem_type ?? 'null'],
  ];
}

/** Where a Hugging Face snapshot came from and what of it pldr uses. */
function snapshotRows(d: HfSnapshotDescription): Array<[string, string]> {
  const rows: Array<[string, string]> = [['format', d.format]];
  if (d.name_or_path) rows.push(['from', d.name_or_path]);
  if (d.transformers_version) rows.push(['transformers_version', d.transformers_version]);
  rows.push(['architecture', d.architecture], ['family', d.family], ['RoPE', d.rope === 'neox' ? 'neox (rotate-half, v52)' : 'reference (interleaved pairs, v51)']);
  if (d.torch_dtype) rows.push(['torch_dtype', d.torch_dtype]);
  rows.push(['weights', d.weights.join(', ')]);
  if (d.tokenizer) {
    const flags = [d.tokenizer.add_bos_token !== undefined ? `add_bos_token ${d.tokenizer.add_bos_token}` : '', d.tokenizer.add_eos_token !== undefined ? `add_eos_token ${d.tokenizer.add_eos_token}` : ''].filter(Boolean);
    rows.push(['tokenizer', `${d.tokenizer.file}${flags.length ? ` (${flags.join(', ')})` : ''}`]);
  } else rows.push(['tokenizer', 'none (give --tokenizer, or --ids)']);
  if (d.generation) {
    const keys = Object.keys(d.generation).filter((k) => !k.startsWith('_') && k !== 'transformers_version');
    rows.push(['generation_config.json', keys.map((k) => `${k} ${JSON.stringify(d.generation![k])}`).join(', ') || '(empty)']);
  }
  rows.push(['ignored', d.ignored.length ? d.ignored.join(', ') : 'nothing']);
  return rows;
}

export default class Info extends PldrCommand {
  static override summary = 'Show a model\'s hyper-parameters and parameter counts (no weights are loaded).';

  static override description =
    'Prints the hyper-parameters of a paper preset, a pldr model directory, or a reference .pth checkpoint ' +
    '(read from the hparams.json beside it), followed by the parameter count of every component: embedding, ' +
    'decoder.layernorm1, final_layer and, per decoder layer, the attention projections, the FFN, the two ' +
    'LayerNorms, the metric learner (#ResL), the PLGA tensors and the LayerNorm on A. It also gives ' +
    "#ResL/d_k^2 (the paper's Table 1 column) and how many parameters a constant G_LM replaces (the v510G/Gi " +
    'size). Only the config is read, so it is instant even for large checkpoints.';

  static override examples = [
    {description: 'Counts for a paper model', command: '<%= config.bin %> <%= command.id %> --preset PLDRv51-110M-1'},
    {description: 'The same as one JSON object', command: '<%= config.bin %> <%= command.id %> --preset PLDRv51-110M-1 --json'},
    {description: 'All presets with their sizes', command: '<%= config.bin %> <%= command.id %> --list-presets'},
    {description: 'A model directory written by pldr train', command: '<%= config.bin %> <%= command.id %> runs/tiny-brown'},
    {description: 'A reference checkpoint with hparams.json beside it', command: '<%= config.bin %> <%= command.id %> ckpt/PLDRv51-110M-1.pth'},
    {
      description: 'A reference DAG checkpoint whose hyper-parameters live elsewhere',
      command: '<%= config.bin %> <%= command.id %> ckpt/model.pth --hparams ckpt/model_hparams.json --variant v510_dag',
    },
  ];

  static override args = {
    model: Args.string({
      ignoreStdin: true,
      description: 'model directory (with config.json) or reference .pth checkpoint (with hparams.json beside it)',
      required: false,
    }),
  };

  static override flags = {
    preset: Flags.string({
      char: 'p',
      description: 'show a named preset instead of a model (see --list-presets; case-insensitive)',
    }),
    'list-presets': Flags.boolean({description: 'list the preset names with their parameter totals and descriptions'}),
    hparams: Flags.string({
      description: 'hyper-parameter JSON for a .pth checkpoint (default: hparams.json or <stem>_hparams.json beside it)',
    }),
    variant: Flags.string({
      description: 'model variant for a .pth whose hparams cannot tell (v510 and v510_dag write the same keys)',
      options: [...VARIANTS],
    }),
    json: Flags.boolean({description: 'print one JSON object instead of tables'}),
  };

  async run(): Promise<void> {
    const {args, flags} = await this.parse(Info);

    if (flags['list-presets']) {
      this.listPresets(flags.json);
      return;
    }
    if (args.model !== undefined && flags.preset !== undefined) {
      throw new PldrError('give either a MODEL or --preset, not both');
    }
    if (args.model === undefined && flags.preset === undefined) {
      throw new PldrError('nothing to show: give a MODEL (directory or .pth), --preset NAME, or --list-presets');
    }
    if (flags.preset !== undefined && (flags.hparams !== undefined || flags.variant !== undefined)) {
      throw new PldrError('--hparams and --variant apply to a MODEL, not to --preset');
    }

    let name: string;
    let config: ModelConfig;
    let description: string | undefined;
    let source: string | undefined;
    let snapshot: HfSnapshotDescription | undefined;
    let task: TaskHeadDescription | undefined;
    let legacy: LegacyHubDescription | undefined;
    if (flags.preset !== undefined) {
      const preset = findPreset(flags.preset);
      ({name, description} = preset);
      config = {...preset.config};
    } else {
      name = args.model!;
      ({config, source} = readModelConfig(args.model!, flags.hparams, flags.variant as Variant | undefined));
      if (isHfSnapshot(args.model!)) snapshot = describeHfSnapshot(args.model!);
      if (snapshot) task = describeTaskHead(args.model!);
      const hub = flags.hparams === undefined ? findLegacyHub(args.model!, flags.variant as Variant | undefined) : undefined;
      if (hub) legacy = describeLegacyHub(hub);
    }
    const params = paramCounts(config);

    if (flags.json) {
      this.log(JSON.stringify({name, ...(description ? {description} : {}), ...(source ? {source} : {}), ...(snapshot ? {snapshot} : {}), ...(task ? {task} : {}), ...(legacy ? {legacy} : {}), config, params}));
      return;
    }
    const lines = [`${name}${description ? `: ${description}` : ''}`];
    if (source) lines.push(`(read from ${source})`);
    if (snapshot) lines.push('', 'snapshot', ...list(snapshotRows(snapshot)));
    if (task) lines.push('', 'task head (pldr classify)', ...list(taskRows(task)));
    if (legacy) lines.push('', legacy.layout, ...list(legacyRows(legacy)));
    lines.push('', 'hyper-parameters', ...table(hparamRows(config)), '', 'parameters', ...paramLines(config, params));
    this.log(lines.join('\n'));
  }

  private listPresets(json: boolean): void {
    const rows = Object.values(PRESETS).map((p) => ({
      name: p.name,
      variant: p.config.variant,
      total: paramCounts(p.config).total,
      description: p.description,
    }));
    if (json) {
      this.log(JSON.stringify(rows));
      return;
    }
    const wn = Math.max(...rows.map((r) => r.name.length));
    const wt = Math.max(...rows.map((r) => fmt(r.total).length));
    for (const r of rows) this.log(`${r.name.padEnd(wn)}  ${fmt(r.total).padStart(wt)}  ${r.description}`);
  }
}
