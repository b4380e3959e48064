/** pldr info's text: a model's hyper-parameters and parameter counts, and what a snapshot or an older Hub folder holds, as tables. */
import {dk, type ModelConfig, type ParamCounts, ropeStyle} from '../core/config.js';
import type {TaskHeadDescription} from '../core/io/hf/heads.js';
import type {HfSnapshotDescription} from '../core/io/hf/snapshot.js';
import type {LegacyHubDescription} from '../core/io/legacy-hub.js';
import type {ModelInfo, presetList} from '../core/model-info.js';
import {tableLines} from '../core/table.js';

const fmt = (n: number): string => n.toLocaleString('en-US');

/** Rows of [label, value] under a heading: the values right-aligned in one column (numbers). */
const table = (rows: Array<[string, string]>): string[] => tableLines(rows, {indent: '  ', align: ['l', 'r']});

/** Rows of [label, value] under a heading: the values left-aligned after the labels (text). */
const list = (rows: Array<[string, string]>): string[] => tableLines(rows, {indent: '  ', align: ['l', 'l']});

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
  const rows: Array<[string, string]> = [
    ['checkpoint', d.checkpoint],
    ['hyper-parameters', `${d.hyperparameters} (read as data, never run)`],
    ['tokenizer', d.tokenizer ?? 'none in the folder (pass --tokenizer)'],
  ];
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
  rows.push(
    ['architecture', d.architecture],
    ['family', d.family],
    ['RoPE', d.rope === 'neox' ? 'neox (rotate-half, v52)' : 'reference (interleaved pairs, v51)'],
  );
  if (d.torch_dtype) rows.push(['torch_dtype', d.torch_dtype]);
  rows.push(['weights', d.weights.join(', ')]);
  if (d.tokenizer) {
    const flags = [
      d.tokenizer.add_bos_token !== undefined ? `add_bos_token ${d.tokenizer.add_bos_token}` : '',
      d.tokenizer.add_eos_token !== undefined ? `add_eos_token ${d.tokenizer.add_eos_token}` : '',
    ].filter(Boolean);
    rows.push(['tokenizer', `${d.tokenizer.file}${flags.length ? ` (${flags.join(', ')})` : ''}`]);
  } else rows.push(['tokenizer', 'none (give --tokenizer, or --ids)']);
  if (d.generation) {
    const keys = Object.keys(d.generation).filter((k) => !k.startsWith('_') && k !== 'transformers_version');
    rows.push([
      'generation_config.json',
      keys.map((k) => `${k} ${JSON.stringify(d.generation![k])}`).join(', ') || '(empty)',
    ]);
  }
  rows.push(['ignored', d.ignored.length ? d.ignored.join(', ') : 'nothing']);
  return rows;
}

/** The whole text of pldr info for one model. */
export function renderModelInfo(info: ModelInfo): string {
  const {name, description, source, snapshot, task, legacy, config, params} = info;
  const lines = [`${name}${description ? `: ${description}` : ''}`];
  if (source) lines.push(`(read from ${source})`);
  if (snapshot) lines.push('', 'snapshot', ...list(snapshotRows(snapshot)));
  if (task) lines.push('', 'task head (pldr classify)', ...list(taskRows(task)));
  if (legacy) lines.push('', legacy.layout, ...list(legacyRows(legacy)));
  lines.push('', 'hyper-parameters', ...table(hparamRows(config)), '', 'parameters', ...paramLines(config, params));
  return lines.join('\n');
}

/** One line per preset: name, parameter total, description. */
export function renderPresetList(rows: ReturnType<typeof presetList>): string[] {
  return tableLines(
    rows.map((r) => [r.name, fmt(r.total), r.description]),
    {align: ['l', 'r', 'l']},
  );
}
