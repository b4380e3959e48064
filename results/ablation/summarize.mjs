#!/usr/bin/env node
// Draws the four validation-loss curves of results/ablation/run.sh on one plot and tabulates the
// final validation losses. Usage: node results/ablation/summarize.mjs WORK_DIR  (after npm run build)
import {readFileSync, writeFileSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const {lineChartSvg} = await import(join(here, '..', '..', 'dist', 'core', 'plot', 'svg.js'));
const {svgToPng} = await import(join(here, '..', '..', 'dist', 'core', 'plot', 'png.js'));
const work = process.argv[2];
const runs = [
  ['learned', 'PLDRv51: G_LM learned (PLGA)'],
  ['transferred', 'PLDRv51G: G transferred from the learned model'],
  ['identity', 'PLDRv51G: G = identity (SDPA)'],
  ['random', 'PLDRv51G: G random, uniform [0, 1)'],
];
const metrics = (run) =>
  readFileSync(join(work, run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const rows = runs.map(([run, label]) => {
  const m = metrics(run);
  const val = m.filter((x) => x.type === 'val');
  const train = m.filter((x) => x.type === 'train');
  const last = val.at(-1);
  const settings = JSON.parse(readFileSync(join(work, run, 'run.json'), 'utf8'));
  return {run, label, val, train, final: last, cfg: settings.config};
});
const series = rows.map((r) => ({name: r.label, points: r.val.map((v) => [v.update, v.loss])}));
const svg = await lineChartSvg({title: 'Validation loss: learned vs transferred vs identity vs random G (same data, budget, seed)', xLabel: 'update', yLabel: 'validation loss', series, width: 1000, height: 560});
writeFileSync(join(here, 'curves.svg'), svg);
writeFileSync(join(here, 'curves.png'), svgToPng(svg, {width: 1400}));
const table = [
  '| model | final validation loss | perplexity | accuracy | updates | training tokens |',
  '|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.label} | ${r.final.loss.toFixed(4)} | ${r.final.perplexity.toFixed(1)} | ${r.final.accuracy.toFixed(4)} | ${r.final.update} | ${r.final.tokens.toLocaleString('en-US')} |`),
].join('\n');
writeFileSync(join(here, 'summary.json'), JSON.stringify(rows.map((r) => ({run: r.run, label: r.label, final: r.final, val: r.val.map((v) => ({update: v.update, loss: v.loss}))})), null, 1) + '\n');
writeFileSync(join(here, 'table.md'), table + '\n');
console.log(table);
