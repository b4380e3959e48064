/**
 * Comparing G lists (docs/spec.md §7): how far one per-layer G_LM list lies from another (compareG), and how
 * much G_LM moves across prompts (gVariation, the quantitative test of the paper's invariance
 * claim). Plain numbers, which may be non-finite: see json.ts before serialising.
 */
import {PldrError} from '../errors.js';

/** Per-layer arrays, all the same length across the lists being compared. */
export type GLayers = ArrayLike<number>[];

export interface GDiff {
  /** max |a − b|. */
  maxAbsDiff: number;
  /** sqrt(mean (a − b)²). */
  rmsDiff: number;
  /** rmsDiff / sqrt(mean a²) (∞ or NaN when a is all zeros). */
  relRms: number;
}

export interface GCompare {
  layers: GDiff[];
  /** Over every entry of every layer. */
  overall: GDiff;
}

function checkSameShape(a: GLayers, b: GLayers, what: string): void {
  if (a.length !== b.length)
    throw new PldrError(
      `${what}: ${a.length} layers against ${b.length}; the G lists must have the same number of layers`,
    );
  for (let l = 0; l < a.length; l++)
    if (a[l].length !== b[l].length)
      throw new PldrError(
        `${what}: layer ${l} has ${a[l].length} values against ${b[l].length}; the G lists must have the same shape`,
      );
}

/** Differences between two G lists (b against the reference a), per layer and overall. */
export function compareG(a: GLayers, b: GLayers): GCompare {
  checkSameShape(a, b, 'compare G');
  let tMax = 0;
  let tD2 = 0;
  let tA2 = 0;
  let tN = 0;
  const layers = a.map((x, l) => {
    const y = b[l];
    let mx = 0;
    let d2 = 0;
    let a2 = 0;
    for (let i = 0; i < x.length; i++) {
      const d = x[i] - y[i];
      const ad = Math.abs(d);
      if (ad > mx || Number.isNaN(ad)) mx = Number.isNaN(mx) ? mx : ad;
      d2 += d * d;
      a2 += x[i] * x[i];
    }
    tMax = Number.isNaN(tMax) || Number.isNaN(mx) ? NaN : Math.max(tMax, mx);
    tD2 += d2;
    tA2 += a2;
    tN += x.length;
    const n = x.length;
    return {maxAbsDiff: mx, rmsDiff: Math.sqrt(d2 / n), relRms: Math.sqrt(d2 / n) / Math.sqrt(a2 / n)};
  });
  return {
    layers,
    overall: {maxAbsDiff: tMax, rmsDiff: Math.sqrt(tD2 / tN), relRms: Math.sqrt(tD2 / tN) / Math.sqrt(tA2 / tN)},
  };
}

export interface GVariationLayer {
  /** max over prompts p of max |G_p − Ḡ|. */
  maxAbsDev: number;
  /** sqrt(mean over p of (‖G_p − Ḡ‖_F / ‖Ḡ‖_F)²). */
  relFrobRms: number;
  /** ‖Ḡ‖_F of the layer. */
  meanFrob: number;
}

export interface GVariation {
  /** Ḡ is the elementwise mean over the prompts, per layer. */
  layers: GVariationLayer[];
  overall: {
    maxAbsDev: number;
    /** As per layer, with every layer of a list taken together as one vector. */
    relFrobRms: number;
    /** Per prompt, ‖G_p − Ḡ‖_F / ‖Ḡ‖_F over all layers together: finds the outlying prompt. */
    perPromptRelFrob: number[];
  };
}

/**
 * How much G_LM moves across prompts (the quantitative test of the paper's invariance claim):
 * `lists[p]` is the per-layer G_LM list of prompt p. Needs at least one list; all of the same shape.
 */
export function gVariation(lists: GLayers[]): GVariation {
  if (lists.length === 0) throw new PldrError('G variation: no G lists given; export G_LM for at least one prompt');
  for (let p = 1; p < lists.length; p++)
    checkSameShape(lists[0], lists[p], `G variation, prompt ${p} against prompt 0`);
  const P = lists.length;
  const L = lists[0].length;
  const promptDev2 = new Float64Array(P);
  let totalMean2 = 0;
  let totalMax = 0;
  const layers: GVariationLayer[] = [];
  for (let l = 0; l < L; l++) {
    const n = lists[0][l].length;
    // Ḡ = G_0 + mean_p (G_p − G_0): exactly G_0 when every list is identical, so the deviations are 0.
    const X0 = lists[0][l];
    const mean = new Float64Array(n);
    for (let p = 1; p < P; p++) {
      const X = lists[p][l];
      for (let i = 0; i < n; i++) mean[i] += X[i] - X0[i];
    }
    let m2 = 0;
    for (let i = 0; i < n; i++) {
      mean[i] = X0[i] + mean[i] / P;
      m2 += mean[i] * mean[i];
    }
    totalMean2 += m2;
    let mx = 0;
    let rel2 = 0;
    for (let p = 0; p < P; p++) {
      const X = lists[p][l];
      let d2 = 0;
      for (let i = 0; i < n; i++) {
        const d = X[i] - mean[i];
        const ad = Math.abs(d);
        if (!(ad <= mx)) mx = Number.isNaN(mx) ? mx : ad;
        d2 += d * d;
      }
      promptDev2[p] += d2;
      if (d2 !== 0) rel2 += d2 / m2;
    }
    totalMax = Number.isNaN(totalMax) || Number.isNaN(mx) ? NaN : Math.max(totalMax, mx);
    layers.push({maxAbsDev: mx, relFrobRms: Math.sqrt(rel2 / P), meanFrob: Math.sqrt(m2)});
  }
  const perPromptRelFrob = Array.from(promptDev2, (d2) => (d2 === 0 ? 0 : Math.sqrt(d2 / totalMean2)));
  let r2 = 0;
  for (const r of perPromptRelFrob) r2 += r * r;
  return {layers, overall: {maxAbsDev: totalMax, relFrobRms: Math.sqrt(r2 / P), perPromptRelFrob}};
}
