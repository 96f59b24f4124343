"""llama_model.py — a small Llama-architecture transformer in torch, laid out like llama.cpp's.

The math is exactly what the C engine runs for general.architecture=llama,
so the trained weights export to GGUF without any permutation:
  - RMSNorm: x * rsqrt(mean(x^2) + eps) * w
  - RoPE "normal" (llama.cpp LLAMA_ROPE_TYPE_NORM, GPT-J style): rotates the
    adjacent pairs (x[2i], x[2i+1]) of each head by pos * base^(-2i/head_dim)
  - grouped-query attention: query head h reads KV head h // (n_head/n_kv)
  - SwiGLU FFN: down(silu(gate(x)) * up(x))
  - weights as nn.Linear (out, in): y = x @ W.T, stored in GGUF as-is
  - tied or separate output head

Training with a shared prefix: every conversation of a batch starts with
the same system turn (system prompt + tool block, ~1100 tokens), so
forward_shared_prefix() runs that prefix once (batch 1) and lets each
conversation's tokens attend to its keys/values; gradients flow into the
prefix through the broadcast. Same result as running B full sequences, at a
fraction of the cost. Generation uses forward_cached() with a per-layer
(k, v) cache.
"""

import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab_size: int = 2048
    dim: int = 256
    n_layers: int = 6
    n_heads: int = 8
    n_kv_heads: int = 2
    ffn_dim: int = 768
    max_seq: int = 2048
    rope_base: float = 10000.0
    norm_eps: float = 1e-5
    tied: bool = True

    @property
    def head_dim(self):
        return self.dim // self.n_heads

    def to_dict(self):
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight).to(x.dtype)


def rope_tables(cfg, n):
    """cos, sin: (n, head_dim/2) for positions 0..n-1."""
    half = cfg.head_dim // 2
    inv = cfg.rope_base ** (-torch.arange(0, half, dtype=torch.float64) * 2.0 / cfg.head_dim)
    ang = torch.arange(n, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    """x: (B, H, T, hd); cos/sin: (T, hd/2). Rotates adjacent pairs."""
    x2 = x.reshape(*x.shape[:-1], -1, 2)
    a, b = x2[..., 0], x2[..., 1]
    out = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1)
    return out.reshape(x.shape)


def causal_bias(T, S):
    """(T, S) additive mask: query i (the last T of S positions) sees keys <= its own."""
    keep = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)
    return torch.zeros(T, S).masked_fill(~keep, float("-inf"))


# Residual dropout while training (train_lm.py --dropout). Not part of
# Config: it changes nothing the exported model computes.
DROPOUT = [0.0]


def _drop(y, training):
    return F.dropout(y, DROPOUT[0], training) if DROPOUT[0] else y


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d, hd = cfg.dim, cfg.head_dim
        self.attn_norm = RMSNorm(d, cfg.norm_eps)
        self.wq = nn.Linear(d, cfg.n_heads * hd, bias=False)
        self.wk = nn.Linear(d, cfg.n_kv_heads * hd, bias=False)
        self.wv = nn.Linear(d, cfg.n_kv_heads * hd, bias=False)
        self.wo = nn.Linear(cfg.n_heads * hd, d, bias=False)
        self.ffn_norm = RMSNorm(d, cfg.norm_eps)
        self.w_gate = nn.Linear(d, cfg.ffn_dim, bias=False)
        self.w_up = nn.Linear(d, cfg.ffn_dim, bias=False)
        self.w_down = nn.Linear(cfg.ffn_dim, d, bias=False)

    def qkv(self, x, cos, sin):
        """x: (B, T, D) -> q (B, H, T, hd), k/v (B, Hkv, T, hd), RoPE applied."""
        B, T, _ = x.shape
        c = self.cfg
        h = self.attn_norm(x)
        q = self.wq(h).view(B, T, c.n_heads, c.head_dim).transpose(1, 2)
        k = self.wk(h).view(B, T, c.n_kv_heads, c.head_dim).transpose(1, 2)
        v = self.wv(h).view(B, T, c.n_kv_heads, c.head_dim).transpose(1, 2)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def attend(self, x, q, k, v, mask):
        """Attention over k/v (B, Hkv, S, hd) with an additive mask (T, S), then the FFN.

        The query heads that share a KV head are folded into the row axis,
        (B, Hkv, rep*T, hd), so K and V are never copied per query head.
        """
        c = self.cfg
        rep = c.n_heads // c.n_kv_heads
        B, H, T, hd = q.shape
        qg = q.reshape(B, c.n_kv_heads, rep * T, hd) * (1.0 / math.sqrt(hd))
        att = qg @ k.transpose(-1, -2)                      # (B, Hkv, rep*T, S)
        # under bf16 autocast the scores stay bf16 (softmax accumulates in
        # float inside the kernel): float copies of this, the largest tensor
        # of a training step, cost more than the matmuls themselves
        att = (att + mask.repeat(rep, 1).to(att.dtype)).softmax(-1).to(v.dtype)
        o = (att @ v).reshape(B, H, T, hd)
        B, _, T, _ = o.shape
        x = x + _drop(self.wo(o.transpose(1, 2).reshape(B, T, c.dim)), self.training)
        h = self.ffn_norm(x)
        return x + _drop(self.w_down(F.silu(self.w_gate(h)) * self.w_up(h)), self.training)


class Llama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = None if cfg.tied else nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        cos, sin = rope_tables(cfg, cfg.max_seq)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.apply(self._init)
        for blk in self.layers:   # scaled init of residual projections (GPT-2)
            for w in (blk.wo.weight, blk.w_down.weight):
                nn.init.normal_(w, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def logits(self, h):
        h = self.norm(h.float())
        w = self.tok_emb.weight if self.output is None else self.output.weight
        return h @ w.t()

    def forward_shared_prefix(self, prefix, suffix, pick, prefix_grad=True):
        """prefix (P,) ids shared by the batch; suffix (B, S) ids right after it.

        pick: bool (B, S), positions whose next-token logits are wanted.
        prefix_grad=False runs the prefix without autograd: its keys/values
        are still those of the current weights, but no gradient flows back
        through them, which saves the prefix's backward pass (the prefix is
        never a training target anyway).
        Returns logits (N, V) for those positions, in row-major order.
        """
        P, (B, S) = prefix.shape[0], suffix.shape
        hp = self.tok_emb(prefix)[None]            # (1, P, D)
        hs = self.tok_emb(suffix)                  # (B, S, D)
        cp, sp = self.cos[:P], self.sin[:P]
        cs, ss = self.cos[P:P + S], self.sin[P:P + S]
        # suffix query i sees the whole prefix and suffix keys j <= i
        mask = causal_bias(S, P + S)
        causal = causal_bias(P, P)
        for blk in self.layers:
            with torch.set_grad_enabled(prefix_grad and torch.is_grad_enabled()):
                qp, kp, vp = blk.qkv(hp, cp, sp)
            qs, ks, vs = blk.qkv(hs, cs, ss)
            k = torch.cat((kp.expand(B, -1, -1, -1), ks), dim=2)
            v = torch.cat((vp.expand(B, -1, -1, -1), vs), dim=2)
            hs_new = blk.attend(hs, qs, k, v, mask)
            if blk is not self.layers[-1]:    # the last layer's prefix output is unused
                with torch.set_grad_enabled(prefix_grad and torch.is_grad_enabled()):
                    hp = blk.attend(hp, qp, kp, vp, causal)
            hs = hs_new
        return self.logits(hs[pick])

    @torch.no_grad()
    def forward_cached(self, ids, cache, every=False):
        """ids (T,) appended after the cache; cache: list of (k, v) or None per layer.

        Returns (logits of the last position (V,), or of every position (T, V)
        when every is set, and the new cache).
        """
        T = ids.shape[0]
        pos = 0 if cache[0] is None else cache[0][0].shape[2]
        c, s = self.cos[pos:pos + T], self.sin[pos:pos + T]
        h = self.tok_emb(ids)[None]
        new = []
        for blk, kv in zip(self.layers, cache):
            q, k, v = blk.qkv(h, c, s)
            if kv is not None:
                k = torch.cat((kv[0], k), dim=2)
                v = torch.cat((kv[1], v), dim=2)
            mask = causal_bias(T, k.shape[2])
            h = blk.attend(h, q, k, v, mask)
            new.append((k, v))
        return self.logits(h[0] if every else h[0, -1]), new
