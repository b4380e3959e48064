#!/usr/bin/env python3
"""
Expected numbers for PLDR-LLM v52 (GPT-NeoX "rotate-half" RoPE) on the tiny-public weights.

There is no v52 reference code here, so this is an independent forward pass of PLDR-LLM written
from docs/spec.md (§3 forward, §4 caches, §5 greedy generation), in torch,
in float64 and float32. It first checks itself against tiny-public's own fixture (reference,
interleaved RoPE): logits of the forward batch and the greedy ids of every prompt in every
cache mode. Then it swaps the pairing for rotate-half (component i with i + d_k/2, same
frequencies, applied to Q and K where the reference applies RoPE, so A is built from the
rotated queries) and writes fixtures/v52/expected.json.

  /usr/bin/python3 scripts/v52-expected.py            # writes fixtures/v52/expected.json
  /usr/bin/python3 scripts/v52-expected.py --check    # only the self-check against tiny-public
"""
import json
import math
import struct
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
REF = ROOT / 'fixtures' / 'reference' / 'tiny-public'
OUT = ROOT / 'fixtures' / 'v52' / 'expected.json'
EPS = 1e-6  # every LayerNorm (spec §0)
END_ID = 3
MAX_NEW = 16


def read_safetensors(path):
    raw = path.read_bytes()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    kinds = {'F64': torch.float64, 'F32': torch.float32, 'I64': torch.int64, 'I32': torch.int32}
    out = {}
    for name, h in header.items():
        if name == '__metadata__':
            continue
        a, b = h['data_offsets']
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=kinds[h['dtype']]).reshape(h['shape'])
    return out


# ------------------------------------------------------------------------------------------
# RoPE (spec §3.4): one float32 table, two pairings
# ------------------------------------------------------------------------------------------

def rope_table(max_len, dk, dtype):
    """(cos, sin) [P, dk/2]: float32 θ and angles as the reference; float64 computes them in float64."""
    if dtype == torch.float32:
        theta = 1.0 / (10000 ** (torch.arange(0, dk, 2)[: dk // 2].float() / dk))
        angle = torch.outer(torch.arange(max_len, dtype=torch.float32), theta)
    else:
        theta = 1.0 / (10000.0 ** (torch.arange(0, dk, 2, dtype=torch.float64) / dk))
        angle = torch.outer(torch.arange(max_len, dtype=torch.float64), theta)
    return torch.cos(angle), torch.sin(angle)


def rotate(x, start, table, style):
    """x [B, L, H, dk] at positions start..start+L-1."""
    L, dk = x.shape[1], x.shape[3]
    c = table[0][start:start + L][None, :, None, :]  # [1, L, 1, dk/2]
    s = table[1][start:start + L][None, :, None, :]
    if style == 'reference':  # interleaved pairs (2i, 2i+1)
        x0, x1 = x[..., 0::2], x[..., 1::2]
        return torch.stack([x0 * c - x1 * s, x1 * c + x0 * s], dim=-1).flatten(3)
    # neox: x·cos + rotate_half(x)·sin with cos, sin = (c, c), (s, s) and rotate_half(x) = (-x2, x1)
    x1, x2 = x[..., : dk // 2], x[..., dk // 2:]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)


# ------------------------------------------------------------------------------------------
# The model (spec §3, v510)
# ------------------------------------------------------------------------------------------

class Model:
    def __init__(self, sd, hp, dtype, style):
        self.w = {k: v.to(dtype) for k, v in sd.items()}
        self.N, self.d, self.H = hp['num_layers'], hp['d_model'], hp['num_heads']
        self.dk = self.d // self.H
        self.R, self.D = hp['num_reslayerA'], hp['num_denseA']
        self.dtype, self.style = dtype, style
        self.table = rope_table(hp['max_seq_len'], self.dk, dtype)
        self.sqrt_d = torch.sqrt(torch.tensor(float(self.d), dtype=dtype))
        self.sqrt_dk = torch.sqrt(torch.tensor(float(self.dk), dtype=dtype))
        self.floor = torch.tensor(1e-9, dtype=torch.float32).to(dtype)

    def lin(self, x, name):
        return x @ self.w[name + '.weight'].T + self.w[name + '.bias']

    def ln(self, x, name):
        return torch.nn.functional.layer_norm(x, x.shape[-1:], self.w[name + '.weight'], self.w[name + '.bias'], EPS)

    def glu(self, x, name):
        return self.lin(torch.nn.functional.silu(self.lin(x, name + '.gluw1')) * self.lin(x, name + '.gluw2'), name + '.gluw3')

    def forward(self, ids, kv=None, G=None, mask=None):
        """ids [B, L]; kv: per layer (K̃ [B,Lc,H,dk], Vv, A) or None; G: per layer G_LM or None.
        Returns logits [B, L, V], the new per-layer kv and the per-layer G_LM used."""
        B, L = ids.shape
        start = kv[0][0].shape[1] if kv else 0
        h = self.ln(self.w['decoder.embedding.weight'][ids] * self.sqrt_d, 'decoder.layernorm1')
        new_kv, used_G = [], []
        for l in range(self.N):
            p = f'decoder.dec_layers.{l}'
            split = lambda t: t.reshape(B, L, self.H, self.dk)  # noqa: E731
            Q = rotate(split(self.lin(h, p + '.mha1.wq')), start, self.table, self.style)
            K = rotate(split(self.lin(h, p + '.mha1.wk')), start, self.table, self.style)
            V = split(self.lin(h, p + '.mha1.wv'))
            if kv:  # §4.2: A from the cache, keys/values appended
                A = kv[l][2]
                K, V = torch.cat([kv[l][0], K], 1), torch.cat([kv[l][1], V], 1)
            else:  # §3.5 metric learner over the rotated queries
                q = Q.permute(0, 2, 1, 3)  # [B, H, L, dk]
                A = self.ln(q.transpose(2, 3) @ q, p + '.mha1.layernorm1')
                for r in range(self.R):
                    Z = A
                    for j in range(self.D):
                        Z = self.glu(Z, f'{p}.mha1.reslayerAs.{r}.denseAs.{j}')
                    A = self.ln(Z + A, f'{p}.mha1.reslayerAs.{r}.layernormA')
            new_kv.append((K, V, A))
            if G is not None:
                G_LM = G[l]
            else:  # §3.6 PLGA
                pl = p + '.mha1.plgatt_layer.'
                X = self.w[pl + 'Wlst'] @ A + self.w[pl + 'blst']
                A_LM = X * torch.nn.functional.silu(X) + self.floor
                G_LM = self.w[pl + 'alst'] @ (A_LM ** self.w[pl + 'pwlst']) + self.w[pl + 'balst']
            used_G.append(G_LM)
            q, k, v = (t.permute(0, 2, 1, 3) for t in (Q, K, V))  # [B, H, L, dk]
            S = ((q @ G_LM) @ k.transpose(2, 3)) / self.sqrt_dk  # §3.7
            if mask is not None:
                S = S + (-1e9) * mask
            O = (torch.softmax(S, -1) @ v).permute(0, 2, 1, 3).reshape(B, L, self.d)
            u = self.ln(self.lin(O, p + '.mha1.dense') + h, p + '.layernorm1')
            h = self.ln(self.glu(u, p + '.ffn') + u, p + '.layernorm2')
        return self.lin(h, 'final_layer'), new_kv, used_G


def make_mask(ids, dtype):
    """§3.7: 1 = blocked; key padding (id 0) and look-ahead, [B, 1, L, L]."""
    L = ids.shape[1]
    pad = (ids == 0).to(dtype)[:, None, None, :]
    look = torch.triu(torch.ones(L, L, dtype=dtype), 1)[None, None]
    return torch.maximum(pad, look)


def generate(model, prompt, mode):
    """Greedy generation (§4.3, §5): mode nocache | kv | kv_g | g. Returns new ids and the min top-1/top-2 margin."""
    seq = list(prompt) if prompt else [END_ID]  # an empty prompt is fed as [END]
    ids = torch.tensor([seq])
    logits, kv, G = model.forward(ids, mask=make_mask(ids, model.dtype))
    new, margins = [], []
    for step in range(MAX_NEW):
        last = logits[0, -1]
        top = torch.topk(last, 2).values
        margins.append(float(top[0] - top[1]))
        nxt = int(torch.argmax(last))
        new.append(nxt)
        seq.append(nxt)
        if nxt == END_ID or step == MAX_NEW - 1:
            break
        if mode == 'nocache':
            ids = torch.tensor([seq])
            logits, _, _ = model.forward(ids, mask=make_mask(ids, model.dtype))
        elif mode == 'g':
            ids = torch.tensor([seq])
            logits, _, _ = model.forward(ids, G=G, mask=make_mask(ids, model.dtype))
        else:  # kv: A cached, PLGA recomputed from it; kv_g: G cached too (same numbers)
            logits, kv, _ = model.forward(torch.tensor([[nxt]]), kv=kv, G=G if mode == 'kv_g' else None)
    return new, min(margins)


MODES = ['nocache', 'kv', 'kv_g', 'g']


def main():
    check_only = '--check' in sys.argv
    ck = torch.load(REF / 'checkpoint.pth', map_location='cpu')
    sd = ck['model_state_dict']
    hp = json.loads((REF / 'hparams.json').read_text())
    exp = json.loads((REF / 'expected.json').read_text())
    tensors = read_safetensors(REF / 'expected.safetensors')
    fwd_ids = torch.tensor(exp['forward']['ids'])
    prompts = {name: g['prompt_ids'] for name, g in exp['generation'].items()}

    # 1. Self-check with the reference's RoPE against the reference's own numbers
    report = {}
    for dtype, key in ((torch.float32, 'forward.logits'), (torch.float64, 'forward64.logits')):
        m = Model(sd, hp, dtype, 'reference')
        logits, _, _ = m.forward(fwd_ids, mask=make_mask(fwd_ids, dtype))
        diff = float((logits.double() - tensors[key].double()).abs().max())
        report[f'{dtype}'] = diff
        assert diff < 1e-5, f'self-check failed: {key} differs by {diff}'
        for name, prompt in prompts.items():
            for mode in MODES:
                got, _ = generate(m, prompt, mode)
                want = exp['generation'][name]['modes'][mode]['new_ids']
                assert got == want, f'self-check failed: {name} {mode} {dtype}: {got} != {want}'
    print(f'self-check against tiny-public passed: logits max |diff| {report}; greedy ids of {list(prompts)} equal in {MODES}')
    if check_only:
        return

    # 2. Rotate-half RoPE
    out = {
        'description': 'PLDR-LLM v52 (reference_rope: false, GPT-NeoX rotate-half RoPE) on the tiny-public weights; see fixtures/v52/README.md',
        'weights': 'fixtures/reference/tiny-public/checkpoint.pth (+ hparams.json)',
        'rope': 'neox',
        'made_by': f'/usr/bin/python3 scripts/v52-expected.py (torch {torch.__version__})',
        'self_check': {'logits_max_abs_diff_vs_reference': report, 'generation': 'all prompts x modes equal to tiny-public expected.json'},
        'end_id': END_ID,
        'max_new_tokens': MAX_NEW,
        'forward': {'ids': exp['forward']['ids'], 'mask': 'padding id 0 + look-ahead (spec §3.7)'},
        'generation': {},
    }
    models = {t: Model(sd, hp, t, 'neox') for t in (torch.float64, torch.float32)}
    res = {}
    for t, m in models.items():
        logits, _, _ = m.forward(fwd_ids, mask=make_mask(fwd_ids, t))
        res[t] = logits.double()
    out['forward']['logits_float64'] = [[[float(f'{v:.10g}') for v in row] for row in b] for b in res[torch.float64].tolist()]
    out['forward']['float32_vs_float64_max_abs_diff'] = float((res[torch.float32] - res[torch.float64]).abs().max())
    out['forward']['max_abs_diff_vs_reference_rope'] = float((res[torch.float64] - tensors['forward64.logits'].double()).abs().max())
    for name, prompt in prompts.items():
        entry = {'prompt_ids': prompt, 'fed_ids': prompt or [END_ID], 'modes': {}}
        for mode in MODES:
            ids64, margin64 = generate(models[torch.float64], prompt, mode)
            ids32, margin32 = generate(models[torch.float32], prompt, mode)
            assert ids64 == ids32, f'{name} {mode}: float32 and float64 disagree ({ids32} vs {ids64})'
            entry['modes'][mode] = {'new_ids': ids64, 'min_top1_top2_margin_float64': margin64, 'min_top1_top2_margin_float32': margin32}
        ref_ids = exp['generation'][name]['modes']['nocache']['new_ids']
        entry['nocache_differs_from_reference_rope'] = entry['modes']['nocache']['new_ids'] != ref_ids
        out['generation'][name] = entry
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + '\n')
    print(f'wrote {OUT.relative_to(ROOT)}')
    for name, e in out['generation'].items():
        for mode, r in e['modes'].items():
            print(f'  {name:9s} {mode:7s} {r["new_ids"]} margin {r["min_top1_top2_margin_float64"]:.4g}')


if __name__ == '__main__':
    main()
