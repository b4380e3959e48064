#!/usr/bin/env python3
"""
The reference measured in the same run: a float32 PyTorch implementation of PLDR-LLM (v510) that
does the reference's arithmetic in the reference's way, timed on the configuration `pldr bench`
times. Written from docs/spec.md (our account of the model spec) and scripts/v52-expected.py (whose RoPE table,
rotation, mask and safetensors reader it imports); the authors' code is not used.

The way of computing is that of the authors' PyTorch modules: nn.Linear / nn.LayerNorm /
nn.Embedding under the reference's state-dict names (so a reference checkpoint loads strictly),
per-head products as batched torch.matmul over [B, H, ...], the metric learner's GLUs as
nn.Linear products over the last axis of A [B, H, d_k, d_k], the KV-cache grown by torch.cat and
the G-cache taken from the previous call's outputs (spec §4), top-p by sort + cumsum (spec §5.3),
and training with masked cross-entropy, clip_grad_value_ and torch.optim.AdamW (spec §6.2-6.5).

Suites (one JSON object on stdout each):

  train    whole optimisation steps at batch x context on seeded random windows: tokens/s, step ms
  decode   the paper protocol (spec §9) from prompt ids: temperature 1, top-p 0.8, the end token
           suppressed, --tokens new tokens with the KV- and G-cache: total s, ms per cached step
  forward  uncached forwards of requests (the harness's full-mode scoring: forward, log-softmax,
           continuation log-likelihood, is-greedy) under torch.no_grad(): ms per request,
           requests/s, the metric learner's share
  check    the fixture model (--fixture DIR, e.g. fixtures/reference/tiny-public): its forward
           logits, greedy ids in every cache mode and one training step's losses, for
           tests/core/bench/reference.test.ts to compare with the fixture

  /usr/bin/python3 scripts/torch-reference.py train --config '{"variant": "v510", ...}' --batch 8 --context 256
  /usr/bin/python3 scripts/torch-reference.py decode --config CONFIG.json --prompt-ids 4,5,6 --tokens 100
  /usr/bin/python3 scripts/torch-reference.py forward --config CONFIG.json --requests REQUESTS.json
  /usr/bin/python3 scripts/torch-reference.py check --fixture fixtures/reference/tiny-public
"""
import argparse
import ctypes
import importlib.util
import json
import math
import os
import re
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location('v52_expected', ROOT / 'scripts' / 'v52-expected.py')
v52 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(v52)

EPS = v52.EPS  # every LayerNorm (spec §0)
END_ID = v52.END_ID
REMOVED = -1e10  # what a sampling filter writes (spec §5.3)
# Read by libgomp and OpenBLAS when torch loads. On 2 cores OMP_WAIT_POLICY matters most: torch's OpenMP workers
# spin after each parallel region by default, and take the cores OpenBLAS's own threads need.
THREAD_VARIABLES = ('OMP_WAIT_POLICY', 'OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'GOMP_SPINCOUNT')


# ------------------------------------------------------------------------------------------
# The model (spec §3, v510), as nn.Modules named after the reference's state dict
# ------------------------------------------------------------------------------------------

class GLU(nn.Module):
    """gluw3(silu(gluw1(x)) ∘ gluw2(x)) over the last axis (spec §0)."""

    def __init__(self, n_in, n_hid, n_out):
        super().__init__()
        self.gluw1, self.gluw2, self.gluw3 = nn.Linear(n_in, n_hid), nn.Linear(n_in, n_hid), nn.Linear(n_hid, n_out)

    def forward(self, x):
        return self.gluw3(F.silu(self.gluw1(x)) * self.gluw2(x))


class ResUnit(nn.Module):
    """One residual unit of the metric learner: D GLUs, then LN(Z + A) (spec §3.5)."""

    def __init__(self, dk, A_dff, D):
        super().__init__()
        self.denseAs = nn.ModuleList([GLU(dk, A_dff, dk) for _ in range(D)])
        self.layernormA = nn.LayerNorm(dk, eps=EPS)

    def forward(self, A):
        Z = A
        for glu in self.denseAs:
            Z = glu(Z)
        return self.layernormA(Z + A)


class PLGA(nn.Module):
    """Power law graph attention's per-head tensors [H, d_k, d_k] (spec §3.6)."""

    def __init__(self, H, dk):
        super().__init__()
        for name in ('Wlst', 'blst', 'pwlst', 'alst', 'balst'):
            setattr(self, name, nn.Parameter(torch.zeros(H, dk, dk)))
        self.register_buffer('floor', torch.tensor(1e-9, dtype=torch.float32), persistent=False)

    def forward(self, A):
        """A [B, H, dk, dk] → (A_LM, G_LM), per-head left products."""
        X = torch.matmul(self.Wlst, A) + self.blst
        A_LM = X * F.silu(X) + self.floor  # iSwiGLU + 1e-9
        G_LM = torch.matmul(self.alst, A_LM ** self.pwlst) + self.balst
        return A_LM, G_LM


class Attention(nn.Module):
    def __init__(self, cfg, table, clock):
        super().__init__()
        d, H = cfg['d_model'], cfg['num_heads']
        self.H, self.dk = H, d // H
        self.wq, self.wk, self.wv = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.plgatt_layer = PLGA(H, self.dk)
        self.dense = nn.Linear(d, d)
        self.reslayerAs = nn.ModuleList([ResUnit(self.dk, cfg['A_dff'], cfg['num_denseA']) for _ in range(cfg['num_reslayerA'])])
        self.layernorm1 = nn.LayerNorm(self.dk, eps=EPS)
        self.table = table
        self.sqrt_dk = torch.sqrt(torch.tensor(float(self.dk), dtype=torch.float32))
        self.clock = clock

    def metric_learner(self, q):
        """q [B, H, L, dk] (rotated) → A [B, H, dk, dk] (spec §3.5)."""
        t0 = time.perf_counter() if self.clock.on else 0.0
        A = self.layernorm1(torch.matmul(q.transpose(2, 3), q))
        for unit in self.reslayerAs:
            A = unit(A)
        if self.clock.on:
            self.clock.metric_learner += time.perf_counter() - t0
        return A

    def forward(self, h, mask, kv, G):
        B, L, d = h.shape
        split = lambda t: t.view(B, L, self.H, self.dk)  # noqa: E731
        start = kv[0].shape[1] if kv is not None else 0
        Q = v52.rotate(split(self.wq(h)), start, self.table, 'reference')
        K = v52.rotate(split(self.wk(h)), start, self.table, 'reference')
        V = split(self.wv(h))
        q = Q.permute(0, 2, 1, 3)  # [B, H, L, dk]
        if kv is not None:  # §4.2: A from the cache, keys and values appended
            A = kv[2]
            K, V = torch.cat([kv[0], K], 1), torch.cat([kv[1], V], 1)
        else:
            A = self.metric_learner(q)
        A_LM, G_LM = G if G is not None else self.plgatt_layer(A)
        k, v = K.permute(0, 2, 1, 3), V.permute(0, 2, 1, 3)
        S = torch.matmul(torch.matmul(q, G_LM), k.transpose(2, 3)) / self.sqrt_dk  # §3.7
        if mask is not None:
            S = S + (-1e9) * mask
        O = torch.matmul(torch.softmax(S, -1), v).permute(0, 2, 1, 3).reshape(B, L, d)
        return self.dense(O), (K, V, A), (A_LM, G_LM)


class DecoderLayer(nn.Module):
    def __init__(self, cfg, table, clock):
        super().__init__()
        d = cfg['d_model']
        self.mha1 = Attention(cfg, table, clock)
        self.ffn = GLU(d, cfg['dff'], d)
        self.layernorm1, self.layernorm2 = nn.LayerNorm(d, eps=EPS), nn.LayerNorm(d, eps=EPS)

    def forward(self, h, mask, kv, G):
        a, kv, G = self.mha1(h, mask, kv, G)
        u = self.layernorm1(a + h)
        return self.layernorm2(self.ffn(u) + u), kv, G


class Decoder(nn.Module):
    def __init__(self, cfg, table, clock):
        super().__init__()
        self.embedding = nn.Embedding(cfg['input_vocab_size'], cfg['d_model'])
        self.dec_layers = nn.ModuleList([DecoderLayer(cfg, table, clock) for _ in range(cfg['num_layers'])])
        self.layernorm1 = nn.LayerNorm(cfg['d_model'], eps=EPS)


class Clock:
    """Seconds spent in the metric learner, counted while `on`."""

    def __init__(self):
        self.on, self.metric_learner = False, 0.0


class PLDRModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        if cfg.get('variant', 'v510') not in ('v510', 'v510_dag'):
            raise SystemExit(f"torch-reference: variant {cfg.get('variant')} is not implemented here (v510 and v510_dag are)")
        self.cfg = cfg
        self.clock = Clock()
        table = v52.rope_table(cfg['max_seq_len'], cfg['d_model'] // cfg['num_heads'], torch.float32)
        self.decoder = Decoder(cfg, table, self.clock)
        self.final_layer = nn.Linear(cfg['d_model'], cfg['input_vocab_size'])
        self.sqrt_d = torch.sqrt(torch.tensor(float(cfg['d_model']), dtype=torch.float32))

    def forward(self, ids, mask=None, kv=None, G=None):
        """ids [B, L]; kv, G: per-layer caches or None. Returns logits [B, L, V], the per-layer KV list [K̃, Vv, A]
        and the per-layer G list [A_LM, G_LM] of this call."""
        h = self.decoder.layernorm1(self.decoder.embedding(ids) * self.sqrt_d)
        kvs, Gs = [], []
        for i, layer in enumerate(self.decoder.dec_layers):
            h, kv_i, G_i = layer(h, mask, kv[i] if kv is not None else None, G[i] if G is not None else None)
            kvs.append(kv_i)
            Gs.append(G_i)
        return self.final_layer(h), kvs, Gs


def init_weights(model, seed):
    """The reference's initial distributions (spec §3.13), seeded."""
    torch.manual_seed(seed)
    for name, p in model.named_parameters():
        base = name.rsplit('.', 1)[-1]
        if name == 'decoder.embedding.weight':
            nn.init.normal_(p)
        elif '.wv.' in name:
            bound = 1 / math.sqrt(p.shape[-1] if base == 'weight' else p.shape[0])
            nn.init.uniform_(p, -bound, bound)
        elif base in ('Wlst', 'pwlst', 'alst'):
            nn.init.xavier_normal_(p)
        elif base in ('blst', 'balst'):
            nn.init.zeros_(p)
        elif 'layernorm' in name:
            nn.init.ones_(p) if base == 'weight' else nn.init.zeros_(p)
        elif base == 'weight':
            nn.init.xavier_uniform_(p)
        else:
            nn.init.zeros_(p)


# ------------------------------------------------------------------------------------------
# Training (spec §6.2-6.5), generation (spec §5) and scoring, the reference's way
# ------------------------------------------------------------------------------------------

def make_optimizer(model, lr=1e-3, weight_decay=0.1):
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), eps=1e-5, weight_decay=weight_decay)


def loss_and_accuracy(model, window):
    """window [B, L+1] → mean cross-entropy and accuracy over targets ≠ 0 (spec §6.2), the forward under create_mask(input)."""
    inp, tar = window[:, :-1], window[:, 1:]
    logits = model(inp, mask=v52.make_mask(inp, torch.float32))[0]
    m = (tar != 0).to(logits.dtype)
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tar.reshape(-1), reduction='none').view_as(m)
    return (ce * m).sum() / m.sum(), ((logits.argmax(-1) == tar).to(m.dtype) * m).sum() / m.sum()


def train_step(model, opt, window):
    """window [B, L+1]: loss and accuracy, backward, clipping by value to ±1, AdamW. Returns (loss, accuracy) before the update."""
    opt.zero_grad()
    loss, accuracy = loss_and_accuracy(model, window)
    loss.backward()
    nn.utils.clip_grad_value_(model.parameters(), clip_value=1.0)
    opt.step()
    return float(loss), float(accuracy)


def top_p_filter(z, p):
    """Reference nucleus filter for batch 1 (spec §5.3): keep the longest prefix with cumulative probability ≤ p."""
    s, _ = torch.sort(z, dim=-1, descending=True)
    c = torch.cumsum(torch.softmax(s, -1), -1)
    n = max(int((c <= p).sum()) - 1, 0)
    return z.masked_fill(z < s[0, n], REMOVED)


def generate(model, prompt, n, kv_cache, g_cache, pick, suppress_end=None):
    """generate_text's loop (spec §5.2) on prompt ids: n new ids; `pick(z)` chooses from the last row's logits.
    Returns (new ids, ms of the first call and its pick, ms of every later step)."""
    seq = torch.tensor([prompt])
    kv, G, cached = None, None, False
    new, times = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        logits, kvs, Gs = model(seq, mask=None if cached else v52.make_mask(seq, torch.float32), kv=kv, G=G)
        if kv_cache:
            kv, cached = kvs, True
        if g_cache:
            G = Gs
        z = logits[:, -1, :]
        if suppress_end is not None:
            z = z.clone()
            z[:, suppress_end] = REMOVED
        nxt = pick(z)
        new.append(nxt)
        seq = torch.tensor([[nxt]]) if cached else torch.cat([seq, torch.tensor([[nxt]])], 1)
        times.append((time.perf_counter() - t0) * 1000)
    return new, times[0], times[1:]


def score(model, rows, ctxlen):
    """lm-evaluation-harness full mode for equal-length requests rows [b, n]: forward of rows[:, :-1], log-softmax,
    the continuation's summed log-likelihood (float64) and whether every continuation id is the argmax."""
    inp = rows[:, :-1]
    logp = F.log_softmax(model(inp, mask=v52.make_mask(inp, torch.float32))[0], dim=-1)
    cont = rows[:, ctxlen:]
    rowsp = logp[:, ctxlen - 1:]
    ll = torch.gather(rowsp, 2, cont.unsqueeze(-1)).squeeze(-1).double().sum(-1)
    greedy = (rowsp.argmax(-1) == cont).all(-1)
    return ll.tolist(), greedy.tolist()


# ------------------------------------------------------------------------------------------
# The suites
# ------------------------------------------------------------------------------------------

def blas_info():
    """Which BLAS torch actually calls: Debian's torch is built against the generic libblas.so.3, which the
    alternatives system points at netlib's reference BLAS, OpenBLAS, BLIS, ..."""
    build = re.search(r'BLAS_INFO=(\w+)', torch.__config__.show())
    info = {'torch_build': f'BLAS_INFO={build.group(1) if build else "unknown"}', 'name': 'unknown'}
    for line in Path('/proc/self/maps').read_text().splitlines():
        path = line.split()[-1]
        if 'blas' not in path.lower() or not path.startswith('/'):
            continue
        info['library'] = str(Path(path).resolve())
        so = ctypes.CDLL(path)
        if hasattr(so, 'openblas_get_config'):
            so.openblas_get_config.restype = ctypes.c_char_p
            info.update(name='OpenBLAS', openblas_config=so.openblas_get_config().decode().strip(), openblas_threads=so.openblas_get_num_threads())
        else:
            info['name'] = 'netlib reference BLAS' if '/blas/libblas' in path else Path(path).name
        break
    return info


def set_threads(n, blas_n):
    """torch's intra-op pool, and OpenBLAS's own pool (which reads OMP_NUM_THREADS when nothing sets it)."""
    torch.set_num_threads(n)
    for line in Path('/proc/self/maps').read_text().splitlines():
        path = line.split()[-1]
        if 'blas' in path.lower() and path.startswith('/'):
            so = ctypes.CDLL(path)
            if hasattr(so, 'openblas_set_num_threads'):
                so.openblas_set_num_threads(blas_n)
            break


def summary(xs):
    s = sorted(xs)
    return {'n': len(s), 'median': statistics.median(s), 'mean': statistics.fmean(s), 'min': s[0], 'max': s[-1]} if s else {'n': 0}


def r(x, digits=3):
    return round(x, digits)


def build(cfg, seed):
    model = PLDRModel(cfg)
    init_weights(model, seed)
    return model


def suite_train(a, cfg):
    model = build(cfg, a.seed)
    model.train()
    opt = make_optimizer(model)
    g = torch.Generator().manual_seed(a.seed)
    V = cfg['input_vocab_size']
    times, losses = [], []
    for i in range(a.warmup + a.steps):
        window = torch.randint(4, V, (a.batch, a.context + 1), generator=g)
        t0 = time.perf_counter()
        loss, _ = train_step(model, opt, window)
        ms = (time.perf_counter() - t0) * 1000
        if not math.isfinite(loss):
            raise SystemExit('torch-reference: a training step gave a non-finite loss')
        losses.append(loss)
        if i >= a.warmup:
            times.append(r(ms))
    st = summary(times)
    tokens = a.batch * a.context
    return {
        'protocol': {'batch': a.batch, 'context': a.context, 'steps': a.steps, 'warmup': a.warmup,
                     'optimiser': 'torch.optim.AdamW(lr 1e-3, betas (0.9, 0.95), eps 1e-5, weight_decay 0.1), nn.utils.clip_grad_value_(1.0), masked cross-entropy + accuracy, create_mask(input)'},
        'tokens_per_step': tokens,
        'step_ms': times,
        'stats': {k: r(v) for k, v in st.items()},
        'tokens_per_s': r(tokens * 1000 / st['median'], 1),
        'loss_first_last': [r(losses[0], 4), r(losses[-1], 4)],
    }


def suite_decode(a, cfg):
    model = build(cfg, a.seed)
    model.eval()
    prompt = [int(x) for x in a.prompt_ids.split(',')] if a.prompt_ids else [4 + (i * 7919 + 101) % (cfg['input_vocab_size'] - 4) for i in range(10)]
    kv_cache, g_cache = {'none': (False, False), 'kv': (True, False), 'kv+g': (True, True), 'g': (False, True)}[a.cache]
    if len(prompt) + a.tokens - 1 > cfg['max_seq_len']:
        raise SystemExit(f"torch-reference: prompt ({len(prompt)}) + {a.tokens} new tokens exceed max_seq_len {cfg['max_seq_len']}")
    torch.manual_seed(a.seed)
    sample = lambda z: int(torch.distributions.Categorical(logits=top_p_filter(z, a.top_p)).sample())  # noqa: E731
    samples = []
    with torch.no_grad():
        for i in range(a.warmup + a.repeats):
            t0 = time.perf_counter()
            ids, prompt_ms, step_ms = generate(model, prompt, a.tokens, kv_cache, g_cache, sample, suppress_end=a.end_id)
            total = (time.perf_counter() - t0) * 1000
            if i >= a.warmup:
                samples.append({'total_ms': r(total), 'prompt_ms': r(prompt_ms), 'ms_per_token': r(statistics.fmean(step_ms)) if step_ms else None,
                                'tokens': len(ids), 'step_ms': [r(x) for x in step_ms]})
    total = summary([s['total_ms'] for s in samples])
    steps = [x for s in samples for x in s['step_ms']]
    return {
        'protocol': {'prompt_ids': prompt, 'new_tokens': a.tokens, 'cache': a.cache, 'temperature': 1.0, 'top_k': 0, 'top_p': a.top_p,
                     'end_token': f'{a.end_id} suppressed (logit set to {REMOVED:g} before the filters)', 'repeats': a.repeats, 'warmup': a.warmup,
                     'timing': 'from the prompt ids to the last new id, under torch.no_grad(); no tokenizer'},
        'samples': samples,
        'stats': {'total_ms': {k: r(v) for k, v in total.items()},
                  'prompt_ms': {k: r(v) for k, v in summary([s['prompt_ms'] for s in samples]).items()},
                  'ms_per_token': {k: r(v) for k, v in summary(steps).items()}},
        'total_s': r(total['median'] / 1000, 4),
    }


def suite_forward(a, cfg):
    model = build(cfg, a.seed)
    model.eval()
    if a.requests:
        reqs = json.loads(Path(a.requests).read_text())
    else:
        g = torch.Generator().manual_seed(a.seed)
        reqs = [{'inp': torch.randint(4, cfg['input_vocab_size'], (n,), generator=g).tolist(), 'ctxlen': n - min(5, n - 1)}
                for n in (int(x) for x in a.lengths.split(',')) for _ in range(a.count)]
    # equal (length, ctxlen) requests share a forward of at most --batch rows, in order
    groups = {}
    for i, q in enumerate(reqs):
        groups.setdefault((len(q['inp']), q['ctxlen']), []).append(i)
    chunks = [(key, idx[j:j + a.batch]) for key, idx in groups.items() for j in range(0, len(idx), a.batch)]
    fed = sum(len(q['inp']) - 1 for q in reqs)
    seconds, ml = [], []
    with torch.no_grad():
        for rep in range(a.warmup + a.repeats):
            model.clock.on, model.clock.metric_learner = True, 0.0
            t0 = time.perf_counter()
            for (_, ctxlen), idx in chunks:
                score(model, torch.tensor([reqs[i]['inp'] for i in idx]), ctxlen)
            s = time.perf_counter() - t0
            if rep >= a.warmup:
                seconds.append(r(s, 4))
                ml.append(model.clock.metric_learner / s)
    med = statistics.median(seconds)
    return {
        'protocol': {'requests': len(reqs), 'batch': a.batch, 'repeats': a.repeats, 'warmup': a.warmup, 'tokens_fed': fed,
                     'scoring': 'forward of the request but its last token under create_mask, log_softmax over the vocabulary, continuation ll (float64 sum) and is-greedy; torch.no_grad()'},
        'seconds': seconds,
        'stats': {k: r(v, 4) for k, v in summary(seconds).items()},
        'ms_per_request': r(med * 1000 / len(reqs)),
        'requests_per_s': r(len(reqs) / med, 2),
        'tokens_per_s': r(fed / med, 1),
        'metric_learner_share': r(statistics.median(ml), 3),
    }


def suite_check(a):
    """The fixture model's function, for the test to compare with the fixture's expected values."""
    fx = Path(a.fixture)
    cfg = json.loads((fx / 'hparams.json').read_text())
    model = PLDRModel(cfg)
    model.load_state_dict(torch.load(fx / 'checkpoint.pth', map_location='cpu')['model_state_dict'], strict=True)
    model.eval()
    exp = json.loads((fx / 'expected.json').read_text())
    tensors = v52.read_safetensors(fx / 'expected.safetensors')
    out = {'config': cfg}
    with torch.no_grad():
        ids = torch.tensor(exp['forward']['ids'])
        out['forward_logits'] = model(ids, mask=v52.make_mask(ids, torch.float32))[0].flatten().tolist()
        greedy = lambda z: int(torch.argmax(z))  # noqa: E731
        modes = {'nocache': (False, False), 'kv': (True, False), 'kv_g': (True, True), 'g': (False, True)}
        out['generation'] = {}
        for name, case in exp['generation'].items():
            fed = case['fed_ids']
            runs = {}
            for mode, (kv, g) in modes.items():
                n = len(case['modes'][mode]['new_ids'])  # the reference stops on [END]; the same number of steps here
                runs[mode] = generate(model, fed, n, kv, g, greedy)[0]
            out['generation'][name] = runs
    model.train()
    opt = make_optimizer(model, lr=exp['train']['optimizer']['lr'], weight_decay=exp['train']['optimizer']['weight_decay'])
    loss_before, acc_before = train_step(model, opt, tensors['input.train_ids'])
    with torch.no_grad():
        loss_after, acc_after = (float(x) for x in loss_and_accuracy(model, tensors['input.train_ids']))
    out['train'] = {'loss_before': loss_before, 'accuracy_before': acc_before, 'loss_after': loss_after, 'accuracy_after': acc_after}
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('suite', choices=['train', 'decode', 'forward', 'check'])
    p.add_argument('--config', help='the model configuration: JSON text or a JSON file (pldr config keys)')
    p.add_argument('--threads', type=int, default=2, help='torch threads (default 2)')
    p.add_argument('--blas-threads', type=int, help="OpenBLAS threads (default: --threads, as OMP_NUM_THREADS would set both)")
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--warmup', type=int, default=1, help='untimed runs first (default 1)')
    p.add_argument('--batch', type=int, default=8, help='train: windows per step; forward: requests per forward (default 8 / give 1)')
    p.add_argument('--context', type=int, default=256, help='train: tokens per window (default 256)')
    p.add_argument('--steps', type=int, default=5, help='train: timed steps (default 5)')
    p.add_argument('--prompt-ids', help='decode: comma-separated prompt ids (default 10 fixed ids, as pldr bench)')
    p.add_argument('--tokens', type=int, default=100, help='decode: new tokens (default 100)')
    p.add_argument('--cache', choices=['none', 'kv', 'kv+g', 'g'], default='kv+g', help='decode: cache mode (default kv+g)')
    p.add_argument('--top-p', type=float, default=0.8)
    p.add_argument('--end-id', type=int, default=END_ID)
    p.add_argument('--repeats', type=int, default=3, help='decode, forward: timed runs (default 3)')
    p.add_argument('--requests', help='forward: a JSON file of requests [{"inp": [ids], "ctxlen": n}, ...]')
    p.add_argument('--lengths', default='16,32,64', help='forward without --requests: request lengths')
    p.add_argument('--count', type=int, default=16, help='forward without --requests: requests per length')
    p.add_argument('--fixture', default=str(ROOT / 'fixtures' / 'reference' / 'tiny-public'), help='check: a reference fixture folder')
    a = p.parse_args()
    set_threads(a.threads, a.blas_threads if a.blas_threads is not None else a.threads)
    head = {'suite': a.suite, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas': blas_info(), 'python': sys.version.split()[0],
            'environment': {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ}}
    if a.suite == 'check':
        print(json.dumps({**head, **suite_check(a)}))
        return
    if not a.config:
        p.error('--config is needed')
    cfg = json.loads(Path(a.config).read_text() if not a.config.lstrip().startswith('{') else a.config)
    t0 = time.perf_counter()
    res = {'train': suite_train, 'decode': suite_decode, 'forward': suite_forward}[a.suite](a, cfg)
    print(json.dumps({**head, 'config': cfg, 'seed': a.seed, **res, 'duration_s': r(time.perf_counter() - t0, 2)}))


if __name__ == '__main__':
    main()
