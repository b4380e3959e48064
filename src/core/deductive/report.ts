/**
 * The docs/spec.md §7 report for one set of deductive outputs (A, A_LM, A_P, G_LM per layer): the metrics of
 * metrics.ts gathered per layer and overall into one object that survives JSON.stringify unchanged
 * (non-finite numbers as json.ts writes them; null marks a value that could not be established, with
 * the reasons beside it).
 */
import {PldrError} from '../errors.js';
import {type JsonNum, jsonNum} from './json.js';
import {allFinite, type IterationOptions, perronRoot, rowSpread, singularValues} from './linalg.js';
import {
  checkDims,
  checkLayer,
  countNonFinite,
  formatDet,
  headMatrix,
  maxAbsDet,
  pooledRmse,
  positivity,
  rmseBetweenHeads,
  spectralFacts,
} from './metrics.js';

export const DEDUCTIVE_OUTPUTS = ['A', 'A_LM', 'A_P', 'G_LM'] as const;
export type DeductiveOutput = (typeof DEDUCTIVE_OUTPUTS)[number];

export interface DeductiveInput {
  H: number;
  dk: number;
  /** Per layer, each present output [H, dk, dk] row-major. An output is in every layer or in none. */
  layers: Array<Partial<Record<DeductiveOutput, ArrayLike<number>>>>;
}

export interface ReportOptions {
  /** Power-iteration cap for λ₁ and ρ (default 1000). */
  maxIterations?: number;
  /** Relative tolerance of λ₁'s residual (default 1e-10). */
  tol?: number;
  /** Add per-head detail to the G_LM and A_LM sections (default false). */
  includeHeads?: boolean;
}

export interface Stat {
  mean: JsonNum;
  max: JsonNum;
}
export interface StatMin extends Stat {
  min: JsonNum;
}

export interface OutputReport {
  /** docs/spec.md §7: per layer RMSE_ℓ, and pooled sqrt(mean RMSE_ℓ²). */
  rmse: {perLayer: JsonNum[]; pooled: JsonNum};
  maxAbsDet: {
    value: JsonNum;
    log10: JsonNum;
    /** Scientific notation and the paper's 15-decimal fixed style (formatDet). */
    scientific: string;
    fixed: string;
    layer: number;
    head: number;
    singularHeads: number;
    nonFiniteHeads: number;
    perLayer: Array<{log10: JsonNum; head: number}>;
  };
  /** Non-finite entries over all layers (e.g. A_P = A_LM^P overflowing at the floor, T15). */
  nonFiniteEntries: number;
}

export interface GHeadReport {
  head: number;
  sigma2OverSigma1: JsonNum;
  sigmaMinOverSigma1: JsonNum;
  rank: JsonNum;
  lambda1: JsonNum | null;
  lambda1Reason?: string;
  meanRowSum: JsonNum;
  lambdaRowSumRelGap: JsonNum | null;
  rowSpread: JsonNum;
}

export interface GLayerReport {
  layer: number;
  sigma2OverSigma1: Stat;
  sigmaMinOverSigma1: Stat;
  rank: StatMin;
  /** λ₁ against the mean row sum, over the heads where λ₁ converged. */
  lambda1: {
    converged: number;
    notConverged: number;
    /** Distinct reasons for the heads without λ₁. */
    reasons: string[];
    relGapToRowSum: Stat;
  };
  rowSpreadWithinHeads: Stat;
  /** max over all H·dk rows of the layer, against the layer's mean row. */
  rowSpreadAcrossHeads: JsonNum;
  /** Heads skipped for non-finite entries. */
  nonFiniteHeads: number;
  heads?: GHeadReport[];
}

export interface GSpectralReport {
  layers: GLayerReport[];
  overall: {
    sigma2OverSigma1: Stat;
    sigmaMinOverSigma1: Stat;
    rank: StatMin;
    lambda1: {converged: number; notConverged: number; relGapToRowSum: Stat};
    rowSpreadWithinHeads: Stat;
    rowSpreadAcrossHeads: Stat;
  };
}

export interface ALMHeadReport {
  head: number;
  minEntry: JsonNum;
  rho: JsonNum | null;
  rhoReason?: string;
  minRowSum: JsonNum;
  maxRowSum: JsonNum;
  withinRowSumBounds: boolean | null;
  sigmaMinOverSigma1: JsonNum;
}

export interface ALMLayerReport {
  layer: number;
  minEntry: JsonNum;
  nonPositive: number;
  atFloor: number;
  entries: number;
  perron: {
    rho: StatMin;
    converged: number;
    notConverged: number;
    reasons: string[];
    /** Heads whose ρ lies within [min row sum, max row sum] (all converged heads, by theory). */
    withinRowSumBounds: number;
  };
  sigmaMinOverSigma1: StatMin;
  heads?: ALMHeadReport[];
}

export interface ALMReport {
  layers: ALMLayerReport[];
  overall: {
    minEntry: JsonNum;
    nonPositive: number;
    atFloor: number;
    entries: number;
    rho: StatMin;
    converged: number;
    notConverged: number;
    withinRowSumBounds: number;
    sigmaMinOverSigma1: StatMin;
  };
}

export interface DeductiveReport {
  H: number;
  dk: number;
  layers: number;
  /** How non-finite numbers are written in this object. */
  encoding: string;
  /** One entry per output present in the input. */
  outputs: Partial<Record<DeductiveOutput, OutputReport>>;
  /** When G_LM is present. */
  G_LM_spectral?: GSpectralReport;
  /** When A_LM is present. */
  A_LM_perron?: ALMReport;
}

const ENCODING =
  'non-finite numbers are the strings "inf", "-inf", "nan"; null marks a value that could not be established (see the reasons)';

class Acc {
  private s = 0;
  private n = 0;
  private mx = -Infinity;
  private mn = Infinity;
  private nan = false;
  add(x: number): void {
    if (Number.isNaN(x)) {
      this.nan = true;
      return;
    }
    this.s += x;
    this.n++;
    this.mx = Math.max(this.mx, x);
    this.mn = Math.min(this.mn, x);
  }
  stat(): Stat {
    if (this.n === 0) return {mean: 'nan', max: 'nan'};
    return {mean: jsonNum(this.s / this.n), max: jsonNum(this.mx)};
  }
  statMin(): StatMin {
    if (this.n === 0) return {mean: 'nan', max: 'nan', min: 'nan'};
    return {mean: jsonNum(this.s / this.n), max: jsonNum(this.mx), min: jsonNum(this.mn)};
  }
  get sawNaN(): boolean {
    return this.nan;
  }
}

function outputReport(layers: ArrayLike<number>[], H: number, dk: number): OutputReport {
  const per = layers.map((X) => rmseBetweenHeads(X, H, dk));
  const md = maxAbsDet(layers, H, dk);
  const f = formatDet(md);
  let nonFiniteEntries = 0;
  for (const X of layers) nonFiniteEntries += countNonFinite(X);
  return {
    rmse: {perLayer: per.map(jsonNum), pooled: jsonNum(pooledRmse(per))},
    maxAbsDet: {
      value: jsonNum(md.value),
      log10: jsonNum(md.log10),
      scientific: f.scientific,
      fixed: f.fixed,
      layer: md.layer,
      head: md.head,
      singularHeads: md.singularHeads,
      nonFiniteHeads: md.nonFiniteHeads,
      perLayer: md.perLayer.map((p) => ({log10: jsonNum(p.log10), head: p.head})),
    },
    nonFiniteEntries,
  };
}

function gSpectral(layers: ArrayLike<number>[], H: number, dk: number, opts: ReportOptions): GSpectralReport {
  const it: IterationOptions = {maxIterations: opts.maxIterations, tol: opts.tol};
  const o = {
    s2: new Acc(),
    smin: new Acc(),
    rank: new Acc(),
    gap: new Acc(),
    within: new Acc(),
    across: new Acc(),
    conv: 0,
    notConv: 0,
  };
  const out: GLayerReport[] = layers.map((X, l) => {
    const s2 = new Acc();
    const smin = new Acc();
    const rank = new Acc();
    const gap = new Acc();
    const within = new Acc();
    let conv = 0;
    let notConv = 0;
    let nonFiniteHeads = 0;
    const reasons = new Set<string>();
    const heads: GHeadReport[] = [];
    for (let h = 0; h < H; h++) {
      const G = headMatrix(X, h, dk);
      if (!allFinite(G)) {
        nonFiniteHeads++;
        continue;
      }
      const f = spectralFacts(G, dk, it);
      s2.add(f.sigma2OverSigma1);
      o.s2.add(f.sigma2OverSigma1);
      smin.add(f.sigmaMinOverSigma1);
      o.smin.add(f.sigmaMinOverSigma1);
      rank.add(f.rank);
      o.rank.add(f.rank);
      within.add(f.rowSpread);
      o.within.add(f.rowSpread);
      if (f.lambdaRowSumRelGap !== null) {
        conv++;
        gap.add(f.lambdaRowSumRelGap);
        o.gap.add(f.lambdaRowSumRelGap);
      } else {
        notConv++;
        if (f.lambda1.reason) reasons.add(f.lambda1.reason.replace(/ \(relative residual [^)]*\)/, ''));
      }
      if (opts.includeHeads) {
        heads.push({
          head: h,
          sigma2OverSigma1: jsonNum(f.sigma2OverSigma1),
          sigmaMinOverSigma1: jsonNum(f.sigmaMinOverSigma1),
          rank: jsonNum(f.rank),
          lambda1: f.lambda1.value === null ? null : jsonNum(f.lambda1.value),
          ...(f.lambda1.reason ? {lambda1Reason: f.lambda1.reason} : {}),
          meanRowSum: jsonNum(f.meanRowSum),
          lambdaRowSumRelGap: f.lambdaRowSumRelGap === null ? null : jsonNum(f.lambdaRowSumRelGap),
          rowSpread: jsonNum(f.rowSpread),
        });
      }
    }
    o.conv += conv;
    o.notConv += notConv;
    const across = allFinite(X) ? rowSpread(X, H * dk, dk) : NaN;
    o.across.add(across);
    return {
      layer: l,
      sigma2OverSigma1: s2.stat(),
      sigmaMinOverSigma1: smin.stat(),
      rank: rank.statMin(),
      lambda1: {converged: conv, notConverged: notConv, reasons: [...reasons], relGapToRowSum: gap.stat()},
      rowSpreadWithinHeads: within.stat(),
      rowSpreadAcrossHeads: jsonNum(across),
      nonFiniteHeads,
      ...(opts.includeHeads ? {heads} : {}),
    };
  });
  return {
    layers: out,
    overall: {
      sigma2OverSigma1: o.s2.stat(),
      sigmaMinOverSigma1: o.smin.stat(),
      rank: o.rank.statMin(),
      lambda1: {converged: o.conv, notConverged: o.notConv, relGapToRowSum: o.gap.stat()},
      rowSpreadWithinHeads: o.within.stat(),
      rowSpreadAcrossHeads: o.across.stat(),
    },
  };
}

function almReport(layers: ArrayLike<number>[], H: number, dk: number, opts: ReportOptions): ALMReport {
  const it: IterationOptions = {maxIterations: opts.maxIterations};
  const o = {
    rho: new Acc(),
    smin: new Acc(),
    conv: 0,
    notConv: 0,
    within: 0,
    minEntry: Infinity,
    nonPositive: 0,
    atFloor: 0,
    entries: 0,
  };
  const out: ALMLayerReport[] = layers.map((X, l) => {
    const pos = positivity(X);
    o.minEntry = Math.min(o.minEntry, pos.minEntry);
    o.nonPositive += pos.nonPositive;
    o.atFloor += pos.atFloor;
    o.entries += pos.entries;
    const rho = new Acc();
    const smin = new Acc();
    let conv = 0;
    let notConv = 0;
    let within = 0;
    const reasons = new Set<string>();
    const heads: ALMHeadReport[] = [];
    for (let h = 0; h < H; h++) {
      const A = headMatrix(X, h, dk);
      const p = perronRoot(A, dk, it);
      const sv = singularValues(A, dk, dk);
      const sm = sv[dk - 1] / sv[0];
      smin.add(sm);
      o.smin.add(sm);
      if (p.rho !== null) {
        conv++;
        rho.add(p.rho);
        o.rho.add(p.rho);
        if (p.withinRowSumBounds) within++;
      } else {
        notConv++;
        if (p.reason) reasons.add(p.reason.replace(/ \([^)]*ρ[^)]*\)/, ''));
      }
      if (opts.includeHeads) {
        heads.push({
          head: h,
          minEntry: jsonNum(positivity(A).minEntry),
          rho: p.rho === null ? null : jsonNum(p.rho),
          ...(p.reason ? {rhoReason: p.reason} : {}),
          minRowSum: jsonNum(p.minRowSum),
          maxRowSum: jsonNum(p.maxRowSum),
          withinRowSumBounds: p.withinRowSumBounds,
          sigmaMinOverSigma1: jsonNum(sm),
        });
      }
    }
    o.conv += conv;
    o.notConv += notConv;
    o.within += within;
    return {
      layer: l,
      minEntry: jsonNum(pos.minEntry),
      nonPositive: pos.nonPositive,
      atFloor: pos.atFloor,
      entries: pos.entries,
      perron: {
        rho: rho.statMin(),
        converged: conv,
        notConverged: notConv,
        reasons: [...reasons],
        withinRowSumBounds: within,
      },
      sigmaMinOverSigma1: smin.statMin(),
      ...(opts.includeHeads ? {heads} : {}),
    };
  });
  return {
    layers: out,
    overall: {
      minEntry: jsonNum(o.entries === 0 ? NaN : o.minEntry),
      nonPositive: o.nonPositive,
      atFloor: o.atFloor,
      entries: o.entries,
      rho: o.rho.statMin(),
      converged: o.conv,
      notConverged: o.notConv,
      withinRowSumBounds: o.within,
      sigmaMinOverSigma1: o.smin.statMin(),
    },
  };
}

/**
 * The docs/spec.md §7 report for one set of deductive outputs: per output present, the per-layer and
 * pooled RMSE between heads, the maximum |det| (value, log10, where, both print styles); for G_LM
 * the spectral summary per layer and overall; for A_LM positivity and Perron facts. The result is
 * JSON-safe (see the module comment).
 */
export function deductiveReport(input: DeductiveInput, opts: ReportOptions = {}): DeductiveReport {
  const {H, dk, layers} = input;
  checkDims(H, dk, 'deductive report');
  const report: DeductiveReport = {H, dk, layers: layers.length, encoding: ENCODING, outputs: {}};
  for (const name of DEDUCTIVE_OUTPUTS) {
    const present = layers.filter((l) => l[name] !== undefined).length;
    if (present === 0) continue;
    if (present !== layers.length)
      throw new PldrError(
        `deductive report: ${name} is given for ${present} of ${layers.length} layers; give it for every layer or for none`,
      );
    const arrays = layers.map((l, i) => {
      const X = l[name]!;
      checkLayer(X, H, dk, `deductive report, ${name} of layer ${i}`);
      return X;
    });
    report.outputs[name] = outputReport(arrays, H, dk);
    if (name === 'G_LM') report.G_LM_spectral = gSpectral(arrays, H, dk, opts);
    if (name === 'A_LM') report.A_LM_perron = almReport(arrays, H, dk, opts);
  }
  return report;
}
