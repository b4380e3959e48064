/** `pldr export-g`: the G-cache file and its provenance, pickles, Gi models, the report, comparisons. */
import {createHash} from 'node:crypto';
import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';

import {afterAll, beforeAll, describe, expect, it} from 'vitest';

import {readGList} from '../../src/core/io/glist.js';
import {readModelFiles, writeModelDir} from '../../src/core/io/model-files.js';
import {readSafetensors} from '../../src/core/io/safetensors.js';
import type {HostTensor} from '../../src/core/io/tensor.js';
import {Tokenizer} from '../../src/core/tokenizer.js';
import {fixture, maxAbsDiff} from '../helpers.js';
import {makeModelDir, TOKENIZER} from './models.js';
import {ok, okJson, oneLineError, pldr} from './run.js';

let tmp: string;
let model: string;
const H = 2;
const dk = 8;
const f32 = (t: HostTensor) => t.data as Float32Array;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'pldr-exportg-'));
  model = makeModelDir(join(tmp, 'model'));
});
afterAll(() => rmSync(tmp, {recursive: true, force: true}));

const json = okJson;

describe('pldr export-g', () => {
  it('saves A_LM and G_LM of the empty prompt with the model digest, prompt, ids and date', () => {
    const out = join(tmp, 'g-empty.safetensors');
    const res = json(['export-g', model, '--out', out]);
    expect(res.prompt_ids).toEqual([3]);
    const {tensors, metadata} = readSafetensors(out);
    expect([...tensors.keys()].sort()).toEqual(['layer.0.A_LM', 'layer.0.G_LM', 'layer.1.A_LM', 'layer.1.G_LM']);
    for (const t of tensors.values()) expect(t.shape).toEqual([1, H, dk, dk]);
    expect(metadata.model_sha256).toBe(
      createHash('sha256')
        .update(readFileSync(join(model, 'model.safetensors')))
        .digest('hex'),
    );
    expect(metadata.prompt).toBe('');
    expect(JSON.parse(metadata.prompt_ids)).toEqual([3]);
    expect(Date.now() - Date.parse(metadata.date)).toBeLessThan(10 * 60_000);
    // A_LM is positive (iSwiGLU + 1e-9)
    expect(Array.from(f32(tensors.get('layer.0.A_LM')!)).every((v) => v > 0)).toBe(true);
  });

  it('--with-a and --with-ap add A and A_P = A_LM^P; a text prompt changes G', async () => {
    const out = join(tmp, 'g-text.safetensors');
    const prompt = 'The old mill stands by the river';
    const res = json(['export-g', model, '--prompt', prompt, '--with-a', '--with-ap', '--out', out]);
    const tok = await Tokenizer.load(TOKENIZER);
    expect(res.prompt_ids).toEqual(tok.promptIds(prompt));
    const {tensors} = readSafetensors(out);
    const P = f32(readModelFiles(model).weights.get('decoder.dec_layers.1.mha1.plgatt_layer.pwlst')!);
    const A_LM = f32(tensors.get('layer.1.A_LM')!);
    const A_P = f32(tensors.get('layer.1.A_P')!);
    A_LM.forEach((a, i) => expect(Math.abs(A_P[i] - a ** P[i]) / Math.abs(a ** P[i])).toBeLessThan(1e-5));
    expect(tensors.get('layer.0.A')!.shape).toEqual([1, H, dk, dk]);
    const empty = readSafetensors(join(tmp, 'g-empty.safetensors')).tensors;
    const d = f32(tensors.get('layer.0.G_LM')!).reduce(
      (m, v, i) => Math.max(m, Math.abs(v - f32(empty.get('layer.0.G_LM')!)[i])),
      0,
    );
    expect(d).toBeGreaterThan(1e-4);
    // the file goes back in as --g-init (A is carried, not used)
    expect(readGList(out).kind).toBe('triples');
  });

  it('--format pkl writes the reference pickled list: pairs by default, G_LM tensors with --pkl-list tensors', () => {
    const pairs = join(tmp, 'g.pkl');
    ok(['export-g', model, '--out', pairs, '--format', 'pkl']);
    const safe = readGList(join(tmp, 'g-empty.safetensors'));
    const g = readGList(pairs);
    expect(g.kind).toBe('pairs');
    g.layers.forEach((l, i) => {
      expect(Array.from(f32(l.G_LM))).toEqual(Array.from(f32(safe.layers[i].G_LM)));
      expect(Array.from(f32(l.A_LM!))).toEqual(Array.from(f32(safe.layers[i].A_LM!)));
    });
    const tensors = join(tmp, 'g-tensors.pkl');
    ok(['export-g', model, '--out', tensors, '--format', 'pkl', '--pkl-list', 'tensors']);
    expect(readGList(tensors).kind).toBe('tensors');
  });

  it('--to-gi writes a smaller PLDRv51Gi model that generates exactly what its source does given the same G', () => {
    const gi = join(tmp, 'gi');
    const g = join(tmp, 'g-for-gi.safetensors');
    const res = json(['export-g', model, '--out', g, '--to-gi', gi]);
    expect(res.to_gi.params).toBeLessThan(res.to_gi.source_params);
    expect(statSync(join(gi, 'model.safetensors')).size).toBeLessThan(statSync(join(model, 'model.safetensors')).size);
    const files = readModelFiles(gi);
    expect(files.config.variant).toBe('v510G');
    expect([...files.weights.keys()].some((k) => /reslayerAs|plgatt_layer|mha1\.layernorm1/.test(k))).toBe(false);
    for (const prompt of ['Once upon a time', '']) {
      const a = json(['generate', '--model', gi, prompt, '--greedy', '-n', '12', '--cache', 'kv']);
      const b = json(['generate', '--model', model, prompt, '--greedy', '-n', '12', '--cache', 'kv', '--g-init', g]);
      expect(a.ids).toEqual(b.ids);
      a.logprobs.forEach((lp: number, i: number) => expect(Math.abs(lp - b.logprobs[i])).toBeLessThan(1e-5));
    }
  });

  it('--compare reports max and RMS differences: zero against itself, non-zero against another prompt', () => {
    const self = json(['export-g', model, '--compare', join(tmp, 'g-empty.safetensors')]);
    expect(self.compare.overall.maxAbsDiff).toBe(0);
    const other = json(['export-g', join(tmp, 'g-empty.safetensors'), '--compare', join(tmp, 'g-text.safetensors')]);
    const a = readGList(join(tmp, 'g-empty.safetensors')).layers.map((l) => f32(l.G_LM));
    const b = readGList(join(tmp, 'g-text.safetensors')).layers.map((l) => f32(l.G_LM));
    let mx = 0;
    let s = 0;
    let n = 0;
    a.forEach((x, l) =>
      x.forEach((v, i) => {
        mx = Math.max(mx, Math.abs(v - b[l][i]));
        s += (v - b[l][i]) ** 2;
        n++;
      }),
    );
    expect(other.compare.overall.maxAbsDiff).toBeCloseTo(mx, 6);
    expect(other.compare.overall.rmsDiff).toBeCloseTo(Math.sqrt(s / n), 6);
    expect(
      ok(['export-g', join(tmp, 'g-empty.safetensors'), '--compare', join(tmp, 'g-text.safetensors')]).stdout,
    ).toMatch(/max \|diff\|/);
  });

  it('--prompts reports how much G_LM moves: zero for repeated prompts, more for different ones', () => {
    const same = join(tmp, 'same.txt');
    writeFileSync(same, 'the river\nthe river\nthe river\n');
    expect(json(['export-g', model, '--prompts', same]).variation.overall.maxAbsDev).toBe(0);
    const diff = join(tmp, 'diff.txt');
    writeFileSync(diff, 'the river\nan old mill by the water\n7 cats and 12 dogs\n');
    const v = json(['export-g', model, '--prompts', diff]).variation;
    expect(v.prompts).toBe(3);
    expect(v.overall.maxAbsDev).toBeGreaterThan(0);
    expect(v.overall.perPromptRelFrob).toHaveLength(3);
  });

  it('--report: the docs/spec.md §7 metrics, checked on a hand-built G with known rank and determinant', () => {
    // layer 0: every head u vᵀ (rank 1, λ1 = v·u, singular); layer 1: diag(1..8) in head 0, 2·I in head 1
    const u = [1, 2, 3, 4, 5, 6, 7, 8].map((x) => x / 8);
    const v = [1, -1, 2, -2, 3, -3, 4, 1].map((x) => x / 4);
    const g0 = new Float32Array(H * dk * dk);
    const g1 = new Float32Array(H * dk * dk);
    for (let h = 0; h < H; h++)
      for (let i = 0; i < dk; i++)
        for (let j = 0; j < dk; j++) {
          g0[(h * dk + i) * dk + j] = u[i] * v[j];
          g1[(h * dk + i) * dk + j] = i === j ? (h === 0 ? i + 1 : 2) : 0;
        }
    const gdir = makeModelDir(
      join(tmp, 'handG'),
      'v510G',
      [g0, g1].map((data) => ({dtype: 'F32' as const, shape: [1, H, dk, dk], data})),
    );
    const r = json(['export-g', gdir, '--report']).report;
    const G = r.outputs.G_LM;
    // between heads: layer 0 heads are equal; layer 1 differs on the diagonal only: Σ (i+1−2)² / 64
    expect(G.rmse.perLayer[0]).toBe(0);
    const d2 = [1, 2, 3, 4, 5, 6, 7, 8].reduce((s, x) => s + (x - 2) ** 2, 0) / 64;
    expect(G.rmse.perLayer[1]).toBeCloseTo(Math.sqrt(d2), 6);
    expect(G.rmse.pooled).toBeCloseTo(Math.sqrt(d2 / 2), 6);
    // max |det|: 8! = 40320 in layer 1 head 0 (2⁸ = 256 in head 1; layer 0 singular)
    expect(Number(G.maxAbsDet.value)).toBeCloseTo(40320, 6);
    expect([G.maxAbsDet.layer, G.maxAbsDet.head]).toEqual([1, 0]);
    expect(G.maxAbsDet.singularHeads).toBe(2);
    const s0 = r.G_LM_spectral.layers[0];
    expect(s0.rank.max).toBe(1);
    expect(Number(s0.sigma2OverSigma1.max)).toBeLessThan(1e-6);
    expect(s0.rowSpreadWithinHeads.max).not.toBe(0); // rows of u vᵀ are multiples, not equal
    expect(r.G_LM_spectral.layers[1].rank.min).toBe(8);
    // the table
    const text = ok(['export-g', gdir, '--report']).stdout;
    expect(text).toMatch(/RMSE between heads/);
    expect(text).toMatch(/4\.032000e\+4|4\.032e\+4|40320/);
  });

  it('--report on a PLDRv51 model covers A, A_LM, A_P, G_LM; --report-mode none reads the last call of a run', () => {
    const r = json(['export-g', model, '--prompt', 'the river', '--report']).report;
    expect(Object.keys(r.outputs).sort()).toEqual(['A', 'A_LM', 'A_P', 'G_LM']);
    expect(r.A_LM_perron.overall.nonPositive).toBe(0);
    const n = json([
      'export-g',
      model,
      '--prompt',
      'the river',
      '--report',
      '--report-mode',
      'none',
      '--report-tokens',
      '5',
    ]).report;
    expect(n.mode).toBe('none');
    expect(n.outputs.G_LM.rmse.pooled).not.toBe(r.outputs.G_LM.rmse.pooled);
  });

  it('the prompt from --prompt, --prompt-file or --ids gives the same G; --tokenizer serves a model without one', async () => {
    const prompt = 'seven cats by the mill';
    const ids = (await Tokenizer.load(TOKENIZER)).promptIds(prompt);
    const file = join(tmp, 'p.txt');
    writeFileSync(file, prompt);
    const outs = [
      ['--prompt', prompt],
      ['--prompt-file', file],
      ['--ids', ids.join(',')],
    ].map((src, i) => {
      const out = join(tmp, `src-${i}.safetensors`);
      ok(['export-g', model, ...src, '--out', out]);
      return readGList(out).layers.map((l) => Array.from(f32(l.G_LM)));
    });
    expect(outs[1]).toEqual(outs[0]);
    expect(outs[2]).toEqual(outs[0]);
    // a model directory without tokenizer.model: the text prompt needs --tokenizer
    const bare = join(tmp, 'bare');
    const files = readModelFiles(model);
    writeModelDir(bare, {...files, tokenizer: undefined});
    expect(oneLineError(pldr(['export-g', bare, '--prompt', prompt]))).toMatch(/--tokenizer/);
    const out = join(tmp, 'bare.safetensors');
    ok(['export-g', bare, '--prompt', prompt, '--tokenizer', TOKENIZER, '--out', out]);
    expect(readGList(out).layers.map((l) => Array.from(f32(l.G_LM)))).toEqual(outs[0]);
    expect(json(['generate', '--model', bare, '--tokenizer', TOKENIZER, prompt, '--greedy', '-n', '5']).ids).toEqual(
      json(['generate', '--model', model, prompt, '--greedy', '-n', '5']).ids,
    );
  });

  it('a reference .pth with --hparams and --variant v510_dag exports the DAG cache (triples with A_P)', () => {
    const f = fixture('tiny-public');
    const out = join(tmp, 'dag.pkl');
    ok([
      'export-g',
      f.checkpoint,
      '--hparams',
      join(f.dir, 'hparams.json'),
      '--variant',
      'v510_dag',
      '--out',
      out,
      '--format',
      'pkl',
    ]);
    const g = readGList(out);
    expect(g.kind).toBe('triples');
    // the empty-prompt G of tiny-public is the reference's gen_empty G-cache
    g.layers.forEach((l, i) =>
      expect(maxAbsDiff(f32(l.G_LM), f.t(`gen_empty.kv_g.Gcache.layer.${i}.G_LM`))).toBeLessThanOrEqual(3e-4),
    );
  });

  it('refuses what it cannot do, with one line', () => {
    expect(oneLineError(pldr(['export-g', model, '--format', 'pkl']))).toMatch(/--out/);
    expect(oneLineError(pldr(['export-g', model, '--out', join(tmp, 'x.st'), '--pkl-list', 'tensors']))).toMatch(
      /--pkl-list/,
    );
    expect(oneLineError(pldr(['export-g', model, '--prompt', 'a', '--ids', '5']))).toMatch(/once/);
    expect(oneLineError(pldr(['export-g', model, '--report', '--report-tokens', '0']))).toMatch(/--report-tokens/);
    expect(oneLineError(pldr(['export-g', join(tmp, 'handG'), '--to-gi', join(tmp, 'nope')]))).toMatch(/PLDRv51G/);
    expect(oneLineError(pldr(['export-g', join(tmp, 'g-empty.safetensors')]))).toMatch(/--compare/);
    expect(
      oneLineError(
        pldr(['export-g', join(tmp, 'g-empty.safetensors'), '--compare', join(tmp, 'handG', 'model.safetensors')]),
      ),
    ).toMatch(/model\.safetensors/);
  });
});
