/** Plain-text tables for export-g's reports (the JSON carries the same numbers). */
import type {GCompare, GVariation} from '../core/deductive/compare.js';
import type {JsonNum} from '../core/deductive/json.js';
import type {DeductiveReport, Stat} from '../core/deductive/report.js';

const num = (x: JsonNum | number | null | undefined, digits = 4): string => {
  if (x === null || x === undefined) return '—';
  if (typeof x === 'string') return x;
  if (!Number.isFinite(x)) return String(x);
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e5)) return x.toExponential(digits - 1);
  return x.toFixed(digits);
};
const stat = (s: Stat) => `${num(s.mean)} / ${num(s.max)}`;

/** Left column padded, the rest right-aligned. */
function table(header: string[], rows: string[][]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => '  ' + r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

export function renderReport(r: DeductiveReport & {mode?: string; tokens?: number}): string {
  const out: string[] = [];
  const L = Array.from({length: r.layers}, (_, l) => `layer ${l}`);
  const outputs = Object.entries(r.outputs);
  const src =
    r.mode === 'none'
      ? `last call of a ${r.tokens}-token greedy run without caches`
      : 'the prompt pass (KV- and G-cache on)';
  out.push(`\nDeductive outputs (docs/spec.md §7), from ${src}; H ${r.H}, d_k ${r.dk}`);
  out.push('\nRMSE between heads');
  out.push(
    table(
      ['output', ...L, 'pooled'],
      outputs.map(([name, o]) => [name, ...o!.rmse.perLayer.map((x) => num(x)), num(o!.rmse.pooled)]),
    ),
  );
  out.push('\nmaximum |det| over heads (float64)');
  out.push(
    table(
      ['output', '|det|', '15-decimal', 'where', 'singular heads'],
      outputs.map(([name, o]) => [
        name,
        o!.maxAbsDet.scientific,
        o!.maxAbsDet.fixed,
        `layer ${o!.maxAbsDet.layer} head ${o!.maxAbsDet.head}`,
        String(o!.maxAbsDet.singularHeads),
      ]),
    ),
  );
  if (r.G_LM_spectral) {
    out.push('\nG_LM spectra per layer (mean / max over heads)');
    out.push(
      table(
        ['layer', 'σ2/σ1', 'rank (min-max)', '|λ1 − row sum| / |λ1|', 'row spread in head', 'across heads'],
        r.G_LM_spectral.layers.map((g) => [
          String(g.layer),
          stat(g.sigma2OverSigma1),
          `${num(g.rank.min, 0)}-${num(g.rank.max, 0)}`,
          g.lambda1.converged ? stat(g.lambda1.relGapToRowSum) : `— (${g.lambda1.reasons[0] ?? 'no λ1'})`,
          stat(g.rowSpreadWithinHeads),
          num(g.rowSpreadAcrossHeads),
        ]),
      ),
    );
  }
  if (r.A_LM_perron) {
    out.push('\nA_LM positivity and Perron root per layer');
    out.push(
      table(
        [
          'layer',
          'min entry',
          'entries ≤ 0',
          'at 1e-9 floor',
          'ρ mean (min-max)',
          'ρ within row-sum bounds',
          'σmin/σ1 mean',
        ],
        r.A_LM_perron.layers.map((a) => [
          String(a.layer),
          num(a.minEntry),
          String(a.nonPositive),
          `${a.atFloor}/${a.entries}`,
          `${num(a.perron.rho.mean)} (${num(a.perron.rho.min)}-${num(a.perron.rho.max)})`,
          `${a.perron.withinRowSumBounds}/${a.perron.converged}`,
          num(a.sigmaMinOverSigma1.mean),
        ]),
      ),
    );
  }
  return out.join('\n');
}

export function renderCompare(c: GCompare): string {
  const rows = c.layers.map((l, i) => [`layer ${i}`, num(l.maxAbsDiff), num(l.rmsDiff), num(l.relRms)]);
  rows.push(['overall', num(c.overall.maxAbsDiff), num(c.overall.rmsDiff), num(c.overall.relRms)]);
  return `\nG_LM differences (relative RMS is against the first file)\n${table(['', 'max |diff|', 'RMS diff', 'relative RMS'], rows)}`;
}

export function renderVariation(v: GVariation & {prompts: number}): string {
  const rows = v.layers.map((l, i) => [`layer ${i}`, num(l.maxAbsDev), num(l.relFrobRms), num(l.meanFrob)]);
  rows.push(['overall', num(v.overall.maxAbsDev), num(v.overall.relFrobRms), '']);
  return `\nG_LM across ${v.prompts} prompts (deviation from the mean G)\n${table(['', 'max |G − mean|', 'RMS ‖G − mean‖/‖mean‖', '‖mean‖'], rows)}`;
}
