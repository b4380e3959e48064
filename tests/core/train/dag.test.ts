/**
 * The DAG regulariser (docs/spec.md §6.7, Appendix A15, A16): its terms and loss against the reference, and
 * expm with its gradient against a float64 reference.
 */
import * as tf from '@tensorflow/tfjs';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {initBackend} from '../../../src/core/backend.js';
import {instantiate, readModelFiles} from '../../../src/core/io/model-files.js';
import {type PldrModel} from '../../../src/core/model/pldr.js';
import {createMask, forwardWith} from '../../../src/core/model/forward.js';
import {dagLoss, dagTerm, type DagInputs, expm} from '../../../src/core/train/dag.js';
import {maskedLoss} from '../../../src/core/train/loss.js';
import {evalLoss} from '../../../src/core/train/step.js';
import {maxAbsDiff, TRAIN_BATCH_TOL} from '../../helpers.js';
import {f, rel, rows, scalar, tarInp, tarReal} from './recipe-fixture.js';

// ---------------------------------------------------------------------------------------------
// DAG regulariser (A15, A16)

/**
 * A float64 evaluation of docs/spec.md §3 on input.train_ids (numpy/scipy port of the forward, checked
 * against the fixture's forward64.logits to 1e-13; scipy.linalg.expm in float64). It shows the
 * reference's own float32 noise on this batch: its A_P of layer 1 is 1.2e-4 (relative) from exact
 * (TRAIN_BATCH_TOL), which moves its dagG by 3.8e-5 relative and its loss_total by 3.6e-6 — more
 * than the spec's 1e-5 and 1e-6. The exact d_AP is finite (58.5) but one head of layer 1 has
 * log tr = 341 > 88.7, so every float32 evaluation overflows to +inf.
 */
const EXACT = {ce: 4.340071870856588, dagA: 0.051204536117101525, dagG: 3.525461993258787, total: 4.806356888072487};

function dagLayers(model: PldrModel) {
  const r = forwardWith(model, model.w, tarInp, {mask: createMask(tarInp)});
  const tar = tf.tensor2d(tarReal, undefined, 'int32');
  return {ce: maskedLoss(r.logits, tar), deductive: r.deductive!};
}

describe('DAG terms on wasm', () => {
  let model: PldrModel;
  beforeAll(async () => {
    await initBackend('wasm');
    model = instantiate(readModelFiles(f.checkpoint, {variant: 'v510_dag'}));
  });
  afterAll(() => model?.dispose());

  it('through the DAG model, eval mode, coefficients (0.5, 0, 0.125) (A15)', () => {
    const J = f.json.dag;
    expect(Array.from(f.t('dag.coeffs'))).toEqual([0.5, 0, 0.125]);
    expect(model.cfg.DAG_reg_coeffs).toEqual([0.5, 0, 0.125]);
    // evalLoss uses the model's DAG_reg_coeffs
    const e = evalLoss(model, model.params, [rows]);
    expect(e.dag!.A_P).toBe(Infinity);
    expect(Number.isFinite(e.loss)).toBe(true); // c_AP = 0 skips the infinite term
    const dA = rel(e.dag!.A_LM, scalar('dag.dagA'));
    const dG = rel(e.dag!.G_LM, scalar('dag.dagG'));
    const dT = rel(e.loss, scalar('dag.loss_total'));
    const xG = rel(e.dag!.G_LM, EXACT.dagG);
    const xT = rel(e.loss, EXACT.total);
    console.log(
      `[wasm] dag: dagA rel ${dA.toExponential(2)}, dagG rel ${dG.toExponential(2)} (vs float64 ${xG.toExponential(2)}; ` +
        `reference vs float64 ${rel(J.dagG, EXACT.dagG).toExponential(2)}), loss_total rel ${dT.toExponential(2)} (vs float64 ${xT.toExponential(2)})`,
    );
    expect(dA).toBeLessThanOrEqual(1e-5);
    expect(rel(e.dag!.A_LM, EXACT.dagA)).toBeLessThanOrEqual(1e-5);
    // dagG and loss_total: the reference itself is 3.8e-5 / 3.6e-6 from exact (see EXACT). We hold
    // our value to exact at the spec's tolerances' scale and the fixture at 1e-4 / 1e-5 (measured
    // 4.9e-5 / 4.6e-6). The next test checks the DAG path itself at 1e-5 / 1e-6 on the reference's A_P.
    expect(xG).toBeLessThanOrEqual(2e-5);
    expect(xT).toBeLessThanOrEqual(2e-6);
    expect(dG).toBeLessThanOrEqual(1e-4);
    expect(dT).toBeLessThanOrEqual(1e-5);
    expect(e.ce).toBeCloseTo(J.masked_loss, 6);
    expect(e.accuracy).toBe(scalar('train.accuracy_before'));

    tf.tidy(() => {
      const {deductive} = dagLayers(model);
      deductive.forEach((d, l) => {
        const ap = d.A_P!.dataSync();
        const ref = f.t(`dag.layer.${l}.Ap`);
        let worst = 0;
        for (let i = 0; i < ap.length; i++) worst = Math.max(worst, Math.abs(ap[i] - ref[i]) / Math.abs(ref[i]));
        console.log(`[wasm] dag.layer.${l}.Ap max rel ${worst.toExponential(2)}`);
        expect(worst).toBeLessThanOrEqual(TRAIN_BATCH_TOL.A_P_rel); // spec A15 says 1e-4; the reference's own noise is 1.2e-4
      });
    });
  });

  it("the DAG path on the reference's own A_P meets the spec tolerances (A15)", () => {
    tf.tidy(() => {
      const {ce, deductive} = dagLayers(model);
      const H = model.cfg.num_heads;
      const dk = model.dk;
      const layers: DagInputs[] = deductive.map((d, l) => {
        const ApRef = tf.tensor4d(f.t(`dag.layer.${l}.Ap`), [2, H, dk, dk]);
        const a = tf.broadcastTo(d.a.reshape([1, H, dk, dk]), [2, H, dk, dk]);
        return {A_LM: d.A_LM, A_P: ApRef, G_LM: tf.add(tf.matMul(a, ApRef), d.ba)}; // G_LM = a·A_P + b_a
      });
      const {total, terms} = dagLoss(ce as tf.Scalar, layers, [0.5, 0, 0.125]);
      const dG = rel(terms.G_LM.dataSync()[0], scalar('dag.dagG'));
      const dT = rel(total.dataSync()[0], scalar('dag.loss_total'));
      console.log(
        `[wasm] dag on the reference's A_P: dagG rel ${dG.toExponential(2)}, loss_total rel ${dT.toExponential(2)}`,
      );
      expect(terms.A_P.dataSync()[0]).toBe(Infinity);
      expect(dG).toBeLessThanOrEqual(1e-5);
      expect(dT).toBeLessThanOrEqual(1e-6);
    });
  });

  it('synthetic finite inputs, coefficients (0.5, 0.25, 0.125) (A16)', () => {
    tf.tidy(() => {
      const shape = [2, 2, 8, 8];
      const layers = [0, 1].map((l) => ({
        A_LM: tf.tensor(f.t(`dag_synthetic.layer.${l}.A_LM`), shape),
        A_P: tf.tensor(f.t(`dag_synthetic.layer.${l}.Ap`), shape),
        G_LM: tf.tensor(f.t(`dag_synthetic.layer.${l}.G_LM`), shape),
      }));
      const ce = maskedLoss(
        tf.tensor3d(f.t('train.logits_before'), [2, 12, 97]),
        tf.tensor2d(tarReal, undefined, 'int32'),
      );
      expect(Array.from(f.t('dag_synthetic.coeffs'))).toEqual([0.5, 0.25, 0.125]);
      const {total, terms} = dagLoss(ce, layers, [0.5, 0.25, 0.125]);
      const d = {
        A: rel(terms.A_LM.dataSync()[0], scalar('dag_synthetic.dagA')),
        Ap: rel(terms.A_P.dataSync()[0], scalar('dag_synthetic.dagAp')),
        G: rel(terms.G_LM.dataSync()[0], scalar('dag_synthetic.dagG')),
        total: rel(total.dataSync()[0], scalar('dag_synthetic.loss_total')),
      };
      console.log(
        `[wasm] dag_synthetic rel: ${Object.entries(d)
          .map(([k, v]) => `${k} ${v.toExponential(2)}`)
          .join(', ')}`,
      );
      expect(Math.max(d.A, d.Ap, d.G)).toBeLessThanOrEqual(1e-5);
      expect(d.total).toBeLessThanOrEqual(1e-6);
    });
  });

  it('all-zero coefficients return the CE loss and still report the three terms (deviation from the reference)', () => {
    tf.tidy(() => {
      const {ce, deductive} = dagLayers(model);
      const {total, terms} = dagLoss(ce, deductive, [0, 0, 0]);
      expect(total.dataSync()[0]).toBe(ce.dataSync()[0]);
      expect(terms.A_P.dataSync()[0]).toBe(Infinity);
      expect(rel(terms.A_LM.dataSync()[0], scalar('dag.dagA'))).toBeLessThanOrEqual(1e-5);
      expect(() => dagLoss(ce, deductive, [0.1, -1, 0])).toThrow(/>= 0/);
    });
    const e = evalLoss(model, model.params, [rows], {dag: [0, 0, 0]});
    expect(e.loss).toBe(e.ce);
    expect(e.dag!.A_P).toBe(Infinity);
  });
});

// ---------------------------------------------------------------------------------------------
// expm and its gradient against a float64 reference

function matmul64(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) c[i * n + j] += a[i * n + k] * b[k * n + j];
  return c;
}
/** float64 expm: scaling to 1-norm ≤ 1/2, 30 Taylor terms, squaring. */
function expm64(m: Float64Array, n: number): Float64Array {
  let norm = 0;
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.abs(m[i * n + j]);
    norm = Math.max(norm, s);
  }
  const sq = norm > 0.5 ? Math.ceil(Math.log2(norm / 0.5)) : 0;
  const x = m.map((v) => v / 2 ** sq);
  let r = new Float64Array(n * n);
  let term = new Float64Array(n * n);
  for (let i = 0; i < n; i++) r[i * n + i] = term[i * n + i] = 1;
  for (let k = 1; k <= 30; k++) {
    term = matmul64(term, x, n).map((v) => v / k);
    r = r.map((v, i) => v + term[i]);
  }
  for (let i = 0; i < sq; i++) r = matmul64(r, r, n);
  return r;
}
/** d(X) of docs/spec.md §6.7 for matrices X [count, n, n] in float64. */
function dag64(x: Float64Array, count: number, n: number): number {
  let s = 0;
  for (let c = 0; c < count; c++) {
    const m = x.slice(c * n * n, (c + 1) * n * n).map((v) => v * v);
    const e = expm64(m, n);
    let tr = 0;
    for (let i = 0; i < n; i++) tr += e[i * n + i];
    s += Math.abs(Math.log(tr / n));
  }
  return s / count;
}

describe('expm (wasm)', () => {
  beforeAll(async () => {
    await initBackend('wasm');
  });
  // three 4×4 matrices needing 0, 1–2 and 3–4 squarings, so the per-matrix squaring path is exercised
  const n = 4;
  const count = 3;
  const rng = (() => {
    let s = 12345;
    return () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  })();
  const spread = [0.5, 2, 4];
  const X32 = Float32Array.from({length: count * n * n}, (_, i) => spread[Math.floor(i / (n * n))] * rng());
  const X64 = Float64Array.from(X32);
  // squarings each matrix needs (1-norm of X∘X against θ₁₈ = 3.01): they must differ
  const squarings = [0, 1, 2].map((c) => {
    let norm = 0;
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += X64[c * n * n + i * n + j] ** 2;
      norm = Math.max(norm, s);
    }
    return Math.max(0, Math.ceil(Math.log2(norm / 3.010066362817634)));
  });

  it('matches a float64 matrix exponential on signed and non-negative matrices', () => {
    tf.tidy(() => {
      for (const M of [X64, X64.map((v) => v * v)]) {
        const got = expm(tf.tensor3d(Float32Array.from(M), [count, n, n])).dataSync();
        for (let c = 0; c < count; c++) {
          const ref = expm64(M.slice(c * n * n, (c + 1) * n * n), n);
          const scale = Math.max(...Array.from(ref, Math.abs));
          const d = maxAbsDiff(got.slice(c * n * n, (c + 1) * n * n), ref);
          expect(d / scale, `matrix ${c}`).toBeLessThanOrEqual(2e-6);
        }
      }
    });
  });

  it('the gradient of d_X matches finite differences and the analytic gradient of docs/spec.md §6.7', () => {
    expect(new Set(squarings).size, `squarings ${squarings}`).toBe(3);
    const g = tf.tidy(() =>
      tf
        .grad((x: tf.Tensor) => dagTerm(x))(tf.tensor3d(X32, [count, n, n]))
        .dataSync(),
    );
    const h = 1e-6;
    const fd = new Float64Array(X64.length);
    for (let i = 0; i < X64.length; i++) {
      const p = X64.slice();
      const m = X64.slice();
      p[i] += h;
      m[i] -= h;
      fd[i] = (dag64(p, count, n) - dag64(m, count, n)) / (2 * h);
    }
    // analytic: sign(log(f/n))·(1/f)·2X∘expm(X∘X)ᵀ / count
    const an = new Float64Array(X64.length);
    for (let c = 0; c < count; c++) {
      const o = c * n * n;
      const e = expm64(
        X64.slice(o, o + n * n).map((v) => v * v),
        n,
      );
      let tr = 0;
      for (let i = 0; i < n; i++) tr += e[i * n + i];
      const sign = Math.sign(Math.log(tr / n));
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) an[o + i * n + j] = (sign * 2 * X64[o + i * n + j] * e[j * n + i]) / tr / count;
    }
    const scale = Math.max(...Array.from(fd, Math.abs));
    const dFd = maxAbsDiff(g, fd) / scale;
    console.log(
      `[wasm] d_X gradient: max |tf − fd|/max|fd| ${dFd.toExponential(2)}, |fd − analytic| ${(maxAbsDiff(fd, an) / scale).toExponential(2)}`,
    );
    expect(maxAbsDiff(fd, an) / scale).toBeLessThanOrEqual(1e-7);
    expect(dFd).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(g, an) / scale).toBeLessThanOrEqual(1e-5);
  });

  it('overflows to +inf (never NaN), and an exactly zero X gives 0', () => {
    tf.tidy(() => {
      expect(dagTerm(tf.fill([2, 8, 8], 10)).dataSync()[0]).toBe(Infinity);
      // a reducible matrix: inf meets exact zeros during squaring (inf·0 = NaN); the trace is +inf
      const diag = tf.mul(tf.eye(8), 40).reshape([1, 8, 8]);
      expect(dagTerm(diag).dataSync()[0]).toBe(Infinity);
      expect(dagTerm(tf.zeros([3, 8, 8])).dataSync()[0]).toBe(0);
      // a NaN input stays NaN
      expect(Number.isNaN(dagTerm(tf.fill([1, 4, 4], NaN)).dataSync()[0])).toBe(true);
    });
  });
});
