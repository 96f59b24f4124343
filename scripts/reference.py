#!/usr/bin/python3
"""reference.py — the numpy reference transformer the engine is tested against.

A deliberately plain float64 implementation of the forward pass llama.cpp
runs for the GGUF architectures Hearth supports, written for checking, not
speed:

  llama   RMSNorm -> Q/K/V (optional biases) -> RoPE "normal" (rotate the
          adjacent pairs x[2i], x[2i+1]) -> causal GQA softmax attention
          scaled by 1/sqrt(head_dim) -> output projection -> residual;
          RMSNorm -> SwiGLU down(silu(gate x) * up x) -> residual.
          Final RMSNorm, output.weight (absent: tied to token_embd).
  qwen2   as llama, with Q/K/V biases and RoPE NeoX ordering (rotate x[i]
          with x[i + n_rot/2]).
  qwen3   as qwen2 without biases, plus QK-norm: per-head RMSNorm of Q and
          K over head_dim (attn_q_norm / attn_k_norm) before RoPE; head_dim
          from {arch}.attention.key_length.

RoPE: theta_i = pos * freq_scale * base^(-2i/n_rot) / freq_factor_i for
i < n_rot/2; freq_scale = 1/{arch}.rope.scaling.factor for linear scaling
(1 otherwise); freq_factor_i from the optional rope_freqs.weight tensor (what
Llama 3.x GGUFs carry for their long-context scaling), else 1. Dimensions
past n_rot pass through unrotated. YaRN/LongRoPE are refused.

Weights: a GGUF tensor with ne = [in, out] is a numpy (out, in) matrix W and
a projection is y = x @ W.T. Quantized tensors are dequantized with
scripts/quants.py, so for quantized files the reference is the exact math on
the dequantized weights.

Numerics: "exact" (float64), or the same math with the roundings an engine
makes on purpose — an F16 KV cache ("f16kv"), int8 activations ("q8act"),
llama.cpp's CPU roundings ("llamacpp"); see the comment above round_f16()
for why tests need them.

Self-test (--selftest): batch vs one-token vs chunked vs truncated
evaluation, embedding input, causality, RoPE hand values and invariants,
rounding hand values, and the real stories260K model reproducing llama.cpp's
greedy continuations (skipped when shared/models is absent).

Usage:
  reference.py MODEL.gguf --tokens 1,2,3 [--gen 16] [--numerics NAME]
                                                      greedy continuation
  reference.py --selftest                             self-checks
Environment:
  REF_DEBUG=1   print per-layer statistics of the hidden state (rms, first
                values of the last position) while running, to locate the
                layer where an engine starts to diverge.
"""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_reader  # noqa: E402

SUPPORTED_ARCHS = ("llama", "qwen2", "qwen3")
# Archs whose llama.cpp graph uses the NeoX RoPE ordering.
NEOX_ARCHS = ("qwen2", "qwen3")


# ---------------------------------------------------------------------------
# Tensor decoding.

def _dequantize(t):
    """float64 numpy array of shape t.shape from a gguf_reader.Tensor."""
    raw = t.raw
    if t.type_name == "F32":
        a = np.frombuffer(raw, dtype="<f4")
    elif t.type_name == "F16":
        a = np.frombuffer(raw, dtype="<f2")
    elif t.type_name == "BF16":
        # bf16 is the top half of an IEEE binary32
        a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(
            np.float32)
    else:
        import quants  # scripts/quants.py; only needed for block types
        a = quants.dequantize(t.type_name, bytes(raw), t.shape)
    return np.asarray(a, dtype=np.float64).reshape(t.shape)


# ---------------------------------------------------------------------------
# Hyper-parameters.

class HParams:
    """What the forward needs from the metadata, named as llama.cpp does."""

    def __init__(self, kv, tensors):
        arch = kv.get("general.architecture")
        if arch not in SUPPORTED_ARCHS:
            raise ValueError("unsupported architecture %r" % (arch,))
        self.arch = arch

        def req(key):
            full = "%s.%s" % (arch, key)
            if full not in kv:
                raise ValueError("missing metadata key %s" % full)
            return kv[full]

        def opt(key, default):
            return kv.get("%s.%s" % (arch, key), default)

        self.n_embd = int(req("embedding_length"))
        self.n_layer = int(req("block_count"))
        self.n_ff = int(req("feed_forward_length"))
        self.n_head = int(req("attention.head_count"))
        self.n_head_kv = int(opt("attention.head_count_kv", self.n_head))
        self.head_dim_k = int(opt("attention.key_length",
                                  self.n_embd // self.n_head))
        self.head_dim_v = int(opt("attention.value_length",
                                  self.n_embd // self.n_head))
        self.n_rot = int(opt("rope.dimension_count", self.head_dim_k))
        self.eps = float(req("attention.layer_norm_rms_epsilon"))
        self.rope_base = float(opt("rope.freq_base", 10000.0))
        self.rope_neox = arch in NEOX_ARCHS
        self.freq_scale = _rope_freq_scale(arch, kv)
        self.n_ctx_train = int(opt("context_length", 0))
        if self.n_head % self.n_head_kv:
            raise ValueError("head_count %d not a multiple of head_count_kv %d"
                             % (self.n_head, self.n_head_kv))
        if self.n_rot % 2 or self.n_rot > self.head_dim_k:
            raise ValueError("bad rope.dimension_count %d" % self.n_rot)


def _rope_freq_scale(arch, kv):
    """1/factor for linear RoPE scaling, 1 when there is none."""
    kind = kv.get("%s.rope.scaling.type" % arch, "none")
    factor = float(kv.get("%s.rope.scaling.factor" % arch, 0.0) or 0.0)
    old = float(kv.get("%s.rope.scale_linear" % arch, 0.0) or 0.0)
    if kind == "none":
        # older converters wrote only rope.scale_linear
        return 1.0 / old if old > 0 else 1.0
    if kind == "linear":
        return 1.0 / factor if factor > 0 else 1.0
    raise ValueError("RoPE scaling type %r is not supported by the reference"
                     % kind)


# ---------------------------------------------------------------------------
# Building blocks. Shapes are noted as (rows, cols); n = tokens in the call.

def rms_norm(x, w, eps):
    """x (..., d) float64, w (d): x / sqrt(mean(x^2) + eps) * w."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def rope_angles(hp, positions, freq_factors):
    """(n, n_rot/2) rotation angles for the given absolute positions."""
    i = np.arange(hp.n_rot // 2, dtype=np.float64)
    inv_freq = hp.rope_base ** (-2.0 * i / hp.n_rot)
    if freq_factors is not None:
        inv_freq = inv_freq / freq_factors
    pos = np.asarray(positions, dtype=np.float64) * hp.freq_scale
    return pos[:, None] * inv_freq[None, :]


def rope(x, angles, n_rot, neox):
    """x (n, heads, head_dim) -> rotated copy; dims >= n_rot untouched.

    normal: pairs (x[2i], x[2i+1]); neox: pairs (x[i], x[i + n_rot/2])."""
    out = x.copy()
    cos = np.cos(angles)[:, None, :]   # (n, 1, n_rot/2)
    sin = np.sin(angles)[:, None, :]
    if neox:
        half = n_rot // 2
        x0, x1 = x[..., :half], x[..., half:n_rot]
        out[..., :half] = x0 * cos - x1 * sin
        out[..., half:n_rot] = x0 * sin + x1 * cos
    else:
        x0, x1 = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        out[..., 0:n_rot:2] = x0 * cos - x1 * sin
        out[..., 1:n_rot:2] = x0 * sin + x1 * cos
    return out


def attention(q, k, v, n_past, n_head_kv, rnd=None):
    """Causal GQA attention.

    q (n, n_head, hd_k) at positions n_past..n_past+n-1;
    k (n_past+n, n_head_kv, hd_k), v (n_past+n, n_head_kv, hd_v) for all
    positions so far. Returns (n, n_head * hd_v). rnd: None for exact math,
    or a rounding applied to q and to the softmax probabilities before they
    meet the F16 cache (numerics "llamacpp")."""
    n, n_head, hd_k = q.shape
    n_kv = k.shape[0]
    group = n_head // n_head_kv
    out = np.empty((n, n_head, v.shape[2]))
    # query row i sees keys 0 .. n_past + i
    allowed = (np.arange(n_kv)[None, :] <= (n_past + np.arange(n))[:, None])
    if rnd is not None:
        q = rnd(q)
    for h in range(n_head):
        hk = h // group  # GQA: consecutive query heads share one KV head
        s = q[:, h, :] @ k[:, hk, :].T / math.sqrt(hd_k)   # (n, n_kv)
        s = np.where(allowed, s, -np.inf)
        s = s - s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        if rnd is not None:
            p = rnd(p)
        out[:, h, :] = p @ v[:, hk, :]
    return out.reshape(n, -1)


# ---------------------------------------------------------------------------
# llama.cpp numerics. llama.cpp does not multiply f32 activations with the
# weights as they are: before each matmul the activation rows are converted to
# the weight type's "vec_dot type" (F16 weights: f16; BF16: bf16; Q4_0/Q8_0:
# Q8_0 blocks of 32; K-quants: Q8_K blocks of 256), and the KV cache holds
# F16, so q and the softmax probabilities are rounded to f16 to meet it.
# These roundings move logits by up to ~4 % of their range for the block
# types (measured on the test models), far more than f32-vs-f64 noise, and
# int8 rounding is discontinuous: ANY difference upstream of it (f16 vs f32
# attention, an f16 vs f32 block scale) flips some roundings and moves the
# logits by a good part of that 4 %. So a tolerance can only be tight
# against a reference that rounds exactly where and how the engine does;
# the reference offers four numerics:
#   "exact"     float64 math on the file's weights;
#   "f16kv"     the same with K and V rounded to f16 as they enter the cache
#               (an engine with an F16 KV cache and f32 activations, like
#               Hearth's scalar path);
#   "q8act"     f16kv, and the activations meeting block-quantized weights
#               rounded to int8 per block (32 for Q4_0/Q8_0, 256 for
#               K-quants): d = amax/127 in f32, q = nearest-even(x * (1/d))
#               — Hearth's SIMD paths (engine/kernels_avx512.c); F16/BF16
#               weights and attention take f32;
#   "llamacpp"  f16kv plus llama.cpp's CPU roundings, written from the block
#               definitions: Q8_0 d = amax/127 stored as f16, q = round half
#               away(x/d); Q8_K d = 1/(-127/max) with max the signed value of
#               largest magnitude, q = nearest(-127/max * x) clamped to 127;
#               activations meeting F16/BF16 weights in f16/bf16; q and the
#               softmax probabilities in f16.

def round_f16(x):
    return np.asarray(x, dtype=np.float32).astype(np.float16).astype(
        np.float64)


def round_bf16(x):
    """Round to nearest even bf16 (ggml's fp32->bf16 for finite values)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(
        np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
    return u.astype(np.uint32).view(np.float32).astype(np.float64)


def _blocks(x, blck):
    x = np.asarray(x, dtype=np.float32)
    if x.shape[-1] % blck:
        raise ValueError("row length %d not a multiple of %d"
                         % (x.shape[-1], blck))
    return x.reshape(-1, blck)


def round_q8_0(x):
    b = _blocks(x, 32)
    amax = np.abs(b).max(axis=1, keepdims=True)
    d = amax / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(d > 0, np.float32(1) / d, np.float32(0))
    xi = b * inv
    q = np.trunc(xi + np.copysign(np.float32(0.5), xi))  # roundf: half away
    d16 = d.astype(np.float16).astype(np.float64)
    return (q.astype(np.float64) * d16).reshape(np.shape(x))


def round_q8_sym(x, blck):
    """int8 per block of blck with an f32 scale: d = amax/127,
    q = nearest-even(x * (1/d)), value q * d (numerics "q8act")."""
    b = _blocks(x, blck)
    d = np.abs(b).max(axis=1, keepdims=True) / np.float32(127)
    with np.errstate(divide="ignore"):
        inv = np.where(d > 0, np.float32(1) / d, np.float32(0))
    q = np.rint(b * inv)
    return (q.astype(np.float64) * d.astype(np.float64)).reshape(np.shape(x))


def round_q8_K(x):
    b = _blocks(x, 256)
    idx = np.abs(b).argmax(axis=1)       # first of equal magnitudes
    mx = b[np.arange(b.shape[0]), idx][:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        iscale = np.where(mx != 0, np.float32(-127) / mx, np.float32(0))
        q = np.minimum(np.rint(iscale * b), 127)   # nearest, ties to even
        d = np.where(iscale != 0, np.float32(1) / iscale, np.float32(0))
    return (q.astype(np.float64) * d.astype(np.float64)).reshape(np.shape(x))


# weight type -> rounding of the activations that meet it (llama.cpp's
# vec_dot_type); F32 weights take f32 activations as they are.
ACT_ROUNDING = {
    "F16": round_f16, "BF16": round_bf16,
    "Q4_0": round_q8_0, "Q4_1": round_q8_0, "Q5_0": round_q8_0,
    "Q5_1": round_q8_0, "Q8_0": round_q8_0,
    "Q2_K": round_q8_K, "Q3_K": round_q8_K, "Q4_K": round_q8_K,
    "Q5_K": round_q8_K, "Q6_K": round_q8_K,
}
# numerics "q8act": only block-quantized weights round their activations
Q8ACT_ROUNDING = {
    t: (lambda x, b=blck: round_q8_sym(x, b))
    for t, blck in (("Q4_0", 32), ("Q4_1", 32), ("Q5_0", 32), ("Q5_1", 32),
                    ("Q8_0", 32), ("Q2_K", 256), ("Q3_K", 256),
                    ("Q4_K", 256), ("Q5_K", 256), ("Q6_K", 256))
}
ACT_TABLES = {"q8act": Q8ACT_ROUNDING, "llamacpp": ACT_ROUNDING}
NUMERICS = ("exact", "f16kv", "q8act", "llamacpp")


# ---------------------------------------------------------------------------
# The model.

class Model:
    """Weights (float64) and hyper-parameters of one GGUF model.

    numerics: one of NUMERICS (see above).
    types: tensor name -> GGUF type name of the stored tensor (only used by
    numerics="llamacpp"; missing names count as F32)."""

    def __init__(self, hp, weights, types=None, numerics="exact"):
        if numerics not in NUMERICS:
            raise ValueError("numerics must be one of %s" % (NUMERICS,))
        self.hp = hp
        self.w = weights          # name -> float64 array (numpy shape)
        self.types = types or {}
        self.numerics = numerics
        for name in ("token_embd.weight", "output_norm.weight"):
            if name not in self.w:
                raise ValueError("missing tensor %s" % name)
        # output.weight absent: the output projection is tied to token_embd
        self.output_name = ("output.weight" if "output.weight" in self.w
                            else "token_embd.weight")
        self.freq_factors = self.w.get("rope_freqs.weight")
        self.debug = os.environ.get("REF_DEBUG", "") not in ("", "0")

    @classmethod
    def load(cls, path, numerics="exact"):
        g = gguf_reader.read(path)
        hp = HParams(g.kv, g.tensors)
        weights = {name: _dequantize(t) for name, t in g.tensors.items()}
        types = {name: t.type_name for name, t in g.tensors.items()}
        m = cls(hp, weights, types, numerics)
        m.gguf = g
        return m

    def with_numerics(self, numerics):
        """The same weights under other numerics (shares the arrays)."""
        m = Model(self.hp, self.w, self.types, numerics)
        m.gguf = getattr(self, "gguf", None)
        return m

    @property
    def n_vocab(self):
        return self.w[self.output_name].shape[0]

    def embed(self, tokens):
        """(n, n_embd) rows of token_embd for the token ids."""
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.n_vocab):
            raise ValueError("token id out of range")
        return self.w["token_embd.weight"][tokens]

    def new_cache(self):
        return Cache(self.hp.n_layer,
                     None if self.numerics == "exact" else round_f16)

    def _mm(self, x, wname):
        """x @ W.T for the weight tensor wname."""
        table = ACT_TABLES.get(self.numerics)
        if table is not None:
            rnd = table.get(self.types.get(wname, "F32"))
            if rnd is not None:
                x = rnd(x)
        return x @ self.w[wname].T

    def _lin(self, x, name):
        """x @ W.T (+ bias when the file has one)."""
        y = self._mm(x, name + ".weight")
        b = self.w.get(name + ".bias")
        return y if b is None else y + b

    def _attn_block(self, il, x, cache, positions):
        hp = self.hp
        p = "blk.%d." % il
        n = x.shape[0]
        h = rms_norm(x, self.w[p + "attn_norm.weight"], hp.eps)
        q = self._lin(h, p + "attn_q").reshape(n, hp.n_head, hp.head_dim_k)
        k = self._lin(h, p + "attn_k").reshape(n, hp.n_head_kv, hp.head_dim_k)
        v = self._lin(h, p + "attn_v").reshape(n, hp.n_head_kv, hp.head_dim_v)
        if p + "attn_q_norm.weight" in self.w:   # qwen3 QK-norm, before RoPE
            q = rms_norm(q, self.w[p + "attn_q_norm.weight"], hp.eps)
            k = rms_norm(k, self.w[p + "attn_k_norm.weight"], hp.eps)
        ang = rope_angles(hp, positions, self.freq_factors)
        q = rope(q, ang, hp.n_rot, hp.rope_neox)
        k = rope(k, ang, hp.n_rot, hp.rope_neox)
        n_past = cache.n_past
        k_all, v_all = cache.append(il, k, v)
        o = attention(q, k_all, v_all, n_past, hp.n_head_kv,
                      round_f16 if self.numerics == "llamacpp" else None)
        return self._lin(o, p + "attn_output")

    def _ffn_block(self, il, x):
        p = "blk.%d." % il
        h = rms_norm(x, self.w[p + "ffn_norm.weight"], self.hp.eps)
        g = silu(self._mm(h, p + "ffn_gate.weight"))
        u = self._mm(h, p + "ffn_up.weight")
        return self._mm(g * u, p + "ffn_down.weight")

    def forward_embd(self, x, cache):
        """Run input rows x (n, n_embd) at positions cache.n_past.. ;
        appends to cache and returns logits (n, n_vocab) float64."""
        x = np.array(x, dtype=np.float64)
        n = x.shape[0]
        positions = np.arange(cache.n_past, cache.n_past + n)
        for il in range(self.hp.n_layer):
            x = x + self._attn_block(il, x, cache, positions)
            x = x + self._ffn_block(il, x)
            if self.debug:
                _debug_row("layer %d" % il, x[-1])
        cache.commit(n)
        h = rms_norm(x, self.w["output_norm.weight"], self.hp.eps)
        logits = self._mm(h, self.output_name)
        if self.debug:
            _debug_row("logits", logits[-1])
        return logits

    def forward(self, tokens, cache):
        return self.forward_embd(self.embed(tokens), cache)

    def greedy(self, prompt, n_gen, cache=None):
        """Prompt logits (n_prompt, n_vocab), generated ids (n_gen) and the
        logits after feeding each generated id (n_gen, n_vocab)."""
        cache = cache or self.new_cache()
        prompt_logits = self.forward(prompt, cache)
        last = prompt_logits[-1]
        gen, gen_logits = [], []
        for _ in range(n_gen):
            tok = int(np.argmax(last))
            gen.append(tok)
            last = self.forward([tok], cache)[-1]
            gen_logits.append(last)
        return prompt_logits, gen, np.array(gen_logits).reshape(n_gen, -1)

    def teacher_forced(self, prompt, gen):
        """Logits of the prompt and after each given token, one at a time:
        (n_prompt + len(gen), n_vocab)."""
        cache = self.new_cache()
        rows = [self.forward(prompt, cache)]
        rows += [self.forward([t], cache) for t in gen]
        return np.concatenate(rows)


class Cache:
    """Per-layer K (n_past, n_head_kv, hd_k) and V (n_past, n_head_kv, hd_v),
    float64. rnd: None keeps exact values; round_f16 stores what an F16
    cache (llama.cpp's default) holds."""

    def __init__(self, n_layer, rnd=None):
        self.k = [None] * n_layer
        self.v = [None] * n_layer
        self.n_past = 0
        self.rnd = rnd

    def append(self, il, k, v):
        if self.rnd is not None:
            k, v = self.rnd(k), self.rnd(v)
        if self.k[il] is not None:
            k = np.concatenate([self.k[il][:self.n_past], k])
            v = np.concatenate([self.v[il][:self.n_past], v])
        self.k[il], self.v[il] = k, v
        return k, v

    def commit(self, n):
        self.n_past += n

    def truncate(self, n_keep):
        """Forget positions >= n_keep."""
        self.n_past = min(self.n_past, n_keep)
        for il in range(len(self.k)):
            if self.k[il] is not None:
                self.k[il] = self.k[il][:self.n_past]
                self.v[il] = self.v[il][:self.n_past]


def _debug_row(label, row):
    print("REF_DEBUG %-10s rms=%.6e first=[%s]" % (
        label, float(np.sqrt(np.mean(row * row))),
        ", ".join("%.6f" % v for v in row[:6])), file=sys.stderr)


# ---------------------------------------------------------------------------
# A minimal SentencePiece-BPE tokenizer (llama vocabularies), used by the
# self-test to run the real stories260K model end to end. Encoding as
# llama.cpp's SPM path does: a space prefix, spaces -> U+2581, then merge the
# adjacent pair whose concatenation is a vocab token with the highest score
# (leftmost on ties) until none is left; unknown characters become
# <0xXX> byte tokens.

def spm_encode(vocab, scores, text):
    ids = {t: i for i, t in enumerate(vocab)}
    text = (" " + text).replace(" ", "\u2581")
    syms = list(text)
    while True:
        best, best_i = None, -1
        for i in range(len(syms) - 1):
            j = ids.get(syms[i] + syms[i + 1])
            if j is not None and (best is None or scores[j] > best):
                best, best_i = scores[j], i
        if best_i < 0:
            break
        syms[best_i:best_i + 2] = [syms[best_i] + syms[best_i + 1]]
    out = []
    for s in syms:
        if s in ids:
            out.append(ids[s])
        else:
            out.extend(ids["<0x%02X>" % b] for b in s.encode("utf-8"))
    return out


def spm_decode(vocab, tokens):
    buf = bytearray()
    for t in tokens:
        s = vocab[t]
        if len(s) == 6 and s.startswith("<0x") and s.endswith(">"):
            buf.append(int(s[3:5], 16))
        else:
            buf.extend(s.replace("\u2581", " ").encode("utf-8"))
    return buf.decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------
# Self-test.

def random_model(arch, seed=0, n_embd=64, n_layer=2, n_head=4, n_head_kv=2,
                 n_ff=96, n_vocab=50, head_dim=None, tied=False):
    """An in-memory random model (no GGUF) for the self-test."""
    rng = np.random.default_rng(seed)
    hd = head_dim or n_embd // n_head
    kv = {"general.architecture": arch,
          arch + ".embedding_length": n_embd, arch + ".block_count": n_layer,
          arch + ".feed_forward_length": n_ff,
          arch + ".attention.head_count": n_head,
          arch + ".attention.head_count_kv": n_head_kv,
          arch + ".attention.key_length": hd,
          arch + ".attention.value_length": hd,
          arch + ".attention.layer_norm_rms_epsilon": 1e-6,
          arch + ".rope.freq_base": 10000.0}
    hp = HParams(kv, {})

    def r(*shape, std=0.1):
        return rng.normal(0.0, std, shape)

    w = {"token_embd.weight": r(n_vocab, n_embd, std=1.0),
         "output_norm.weight": 1 + r(n_embd)}
    if not tied:
        w["output.weight"] = r(n_vocab, n_embd)
    for il in range(n_layer):
        p = "blk.%d." % il
        w[p + "attn_norm.weight"] = 1 + r(n_embd)
        w[p + "ffn_norm.weight"] = 1 + r(n_embd)
        w[p + "attn_q.weight"] = r(n_head * hd, n_embd)
        w[p + "attn_k.weight"] = r(n_head_kv * hd, n_embd)
        w[p + "attn_v.weight"] = r(n_head_kv * hd, n_embd)
        w[p + "attn_output.weight"] = r(n_embd, n_head * hd)
        w[p + "ffn_gate.weight"] = r(n_ff, n_embd)
        w[p + "ffn_up.weight"] = r(n_ff, n_embd)
        w[p + "ffn_down.weight"] = r(n_embd, n_ff)
        if arch == "qwen2":
            for t, rows in (("q", n_head), ("k", n_head_kv), ("v", n_head_kv)):
                w[p + "attn_%s.bias" % t] = r(rows * hd)
        if arch == "qwen3":
            w[p + "attn_q_norm.weight"] = 1 + r(hd)
            w[p + "attn_k_norm.weight"] = 1 + r(hd)
    return Model(hp, w)


def _check(cond, what):
    print("  %-62s %s" % (what, "ok" if cond else "FAIL"))
    return bool(cond)


def _selftest_model(arch, head_dim=None):
    m = random_model(arch, seed=len(arch), head_dim=head_dim)
    toks = np.random.default_rng(7).integers(0, m.n_vocab, 24)
    full = m.forward(toks, m.new_cache())
    c = m.new_cache()
    inc = np.concatenate([m.forward([t], c) for t in toks])
    c = m.new_cache()
    chunks = np.concatenate([m.forward(toks[:5], c), m.forward(toks[5:17], c),
                             m.forward(toks[17:], c)])
    c.truncate(10)
    again = m.forward(toks[10:], c)
    embd = m.forward_embd(m.embed(toks), m.new_cache())
    tag = "%s%s" % (arch, "" if head_dim is None else " head_dim=%d" % head_dim)
    ok = _check(np.abs(full - inc).max() < 1e-10,
                "%s: one token at a time == one batch" % tag)
    ok &= _check(np.abs(full - chunks).max() < 1e-10,
                 "%s: chunks 5+12+7 == one batch" % tag)
    ok &= _check(np.abs(full[10:] - again).max() < 1e-10,
                 "%s: truncate to 10 and re-eval == one batch" % tag)
    ok &= _check(np.abs(full - embd).max() < 1e-12,
                 "%s: embedding input == token input" % tag)
    # Causality: changing a later token leaves earlier logits unchanged.
    toks2 = toks.copy()
    toks2[15] = (toks2[15] + 1) % m.n_vocab
    other = m.forward(toks2, m.new_cache())
    ok &= _check(np.abs(full[:15] - other[:15]).max() == 0 and
                 np.abs(full[15:] - other[15:]).max() > 1e-6,
                 "%s: causal mask (position 15 changes only 15..)" % tag)
    return ok


def _selftest_rope():
    """RoPE rotates pairs: norms are kept and q.k depends only on the
    position difference (the property that makes it a relative encoding)."""
    ok = True
    for neox in (False, True):
        hp = random_model("qwen2" if neox else "llama").hp
        rng = np.random.default_rng(1)
        q = rng.normal(size=(1, 1, hp.head_dim_k))
        k = rng.normal(size=(1, 1, hp.head_dim_k))

        def dot(pq, pk):
            a = rope(q, rope_angles(hp, [pq], None), hp.n_rot, neox)
            b = rope(k, rope_angles(hp, [pk], None), hp.n_rot, neox)
            return float((a * b).sum())
        rq = rope(q, rope_angles(hp, [37], None), hp.n_rot, neox)
        name = "neox" if neox else "normal"
        ok &= _check(abs(np.linalg.norm(rq) - np.linalg.norm(q)) < 1e-12,
                     "rope %s keeps the norm" % name)
        ok &= _check(abs(dot(5, 2) - dot(45, 42)) < 1e-10,
                     "rope %s: q.k depends on the position difference" % name)
    # Hand check of the pair layout: head_dim 4, position 1, base 10000:
    # angle_0 = 1 rad, angle_1 = 1e-2 rad.
    hp = random_model("llama").hp
    hp.n_rot = 4
    x = np.array([[[1.0, 0.0, 1.0, 0.0]]])
    ang = rope_angles(hp, [1], None)
    n = rope(x, ang, 4, False)[0, 0]
    want_n = [math.cos(1), math.sin(1), math.cos(1e-2), math.sin(1e-2)]
    ok &= _check(np.allclose(n, want_n, atol=1e-12),
                 "rope normal rotates (x0,x1),(x2,x3): hand values")
    x = np.array([[[1.0, 1.0, 0.0, 0.0]]])
    nx = rope(x, ang, 4, True)[0, 0]
    want_x = [math.cos(1), math.cos(1e-2), math.sin(1), math.sin(1e-2)]
    ok &= _check(np.allclose(nx, want_x, atol=1e-12),
                 "rope neox rotates (x0,x2),(x1,x3): hand values")
    return ok


def _selftest_roundings():
    """The llama.cpp activation roundings on hand-checkable values."""
    ok = True
    x = np.zeros(32)
    x[:6] = [0.4, 0.6, -0.5, 2.5, -126.6, 127.0]   # amax 127 -> d = 1
    ok &= _check(np.array_equal(round_q8_0(x)[:6], [0, 1, -1, 3, -127, 127]),
                 "Q8_0: d = amax/127, q = round half away from zero")
    x = np.zeros(256)
    x[:5] = [0.5, 1.5, 2.5, -127.0, 126.4]   # max = -127 -> iscale = 1
    ok &= _check(np.array_equal(round_q8_K(x)[:5], [0, 2, 2, -127, 126]),
                 "Q8_K: iscale = -127/max, nearest with ties to even")
    x = np.array([1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, -(1 + 2.0 ** -8)])
    ok &= _check(np.array_equal(round_bf16(x), [1.0, 1 + 2.0 ** -6, -1.0]),
                 "bf16: round to nearest, ties to even")
    ok &= _check(round_f16(np.array([1 + 2.0 ** -11]))[0] == 1.0,
                 "f16: 1 + 2^-11 rounds (tie) to 1")
    x = np.zeros(32)
    x[:5] = [0.5, 1.5, 2.5, -127.0, 3.0]   # amax 127 -> d = 1
    ok &= _check(np.array_equal(round_q8_sym(x, 32)[:5], [0, 2, 2, -127, 3]),
                 "q8act: d = amax/127, nearest with ties to even")
    x = np.full(32, 0.1)
    x[0] = 0.3     # d = 0.3/127 in f32: 0.1 -> q = 42, value 42 * d
    d = np.float32(0.3) / np.float32(127)
    ok &= _check(round_q8_sym(x, 32)[1] == 42 * float(d),
                 "q8act: the value is q * d with d kept in f32")
    return ok


def _selftest_numerics(arch):
    """The rounding numerics on F32 weights: all round the KV cache
    (llamacpp also q and the probabilities; F32 weights take f32
    activations), so the logits move a little (< 1e-3 of their range) but
    do move, and each mode stays self-consistent between batch and
    incremental evaluation."""
    m = random_model(arch, seed=11, n_embd=64)
    toks = np.random.default_rng(3).integers(0, m.n_vocab, 16)
    exact = m.forward(toks, m.new_cache())
    rng = exact.max(axis=1) - exact.min(axis=1)
    ok = True
    for numerics in NUMERICS[1:]:
        lc = m.with_numerics(numerics)
        full = lc.forward(toks, lc.new_cache())
        c = lc.new_cache()
        inc = np.concatenate([lc.forward([t], c) for t in toks])
        rel = (np.abs(full - exact).max(axis=1) / rng).max()
        ok &= _check(0 < rel < 1e-3,
                     "%s: %s numerics (F32 weights) within 1e-3 of exact "
                     "(%.1e)" % (arch, numerics, rel))
        ok &= _check((np.abs(full - inc).max(axis=1) / rng).max() < 1e-6,
                     "%s: %s numerics batch == incremental" % (arch, numerics))
    return ok


def _models_dir():
    d = os.environ.get("HEARTH_MODELS")
    if d:
        return d
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "shared", "models")


def _selftest_stories():
    """End to end on a real trained model: the greedy continuations llama.cpp
    produced (stories260K.expected.json) must come out of the reference."""
    import json
    path = os.path.join(_models_dir(), "real", "stories260K.gguf")
    if not os.path.exists(path):
        print("  stories260K.gguf not found under %s: skipped" % _models_dir())
        return True
    with open(path[:-len(".gguf")] + ".expected.json") as f:
        expected = json.load(f)
    m = Model.load(path)
    vocab = m.gguf.kv["tokenizer.ggml.tokens"]
    scores = m.gguf.kv["tokenizer.ggml.scores"]
    bos = int(m.gguf.kv["tokenizer.ggml.bos_token_id"])
    ok = True
    for case in expected["cases"]:
        prompt = [bos] + spm_encode(vocab, scores, case["prompt"])
        _, gen, _ = m.greedy(prompt, case["max_tokens"])
        text = spm_decode(vocab, gen)
        ok &= _check(text == case["greedy_continuation"],
                     "stories260K %r -> llama.cpp's continuation"
                     % case["prompt"])
        if text != case["greedy_continuation"]:
            print("    got  %r\n    want %r" % (text,
                                              case["greedy_continuation"]))
    return ok


def selftest():
    print("reference.py self-test")
    ok = _selftest_rope()
    ok &= _selftest_roundings()
    for arch in SUPPORTED_ARCHS:
        ok &= _selftest_model(arch)
    ok &= _selftest_model("qwen3", head_dim=32)  # head_dim != n_embd/n_head
    for arch in SUPPORTED_ARCHS:
        ok &= _selftest_numerics(arch)
    ok &= _selftest_stories()
    print("self-test %s" % ("passed" if ok else "FAILED"))
    return 0 if ok else 1


# ---------------------------------------------------------------------------
# Command line.

def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", nargs="?")
    ap.add_argument("--tokens", help="comma-separated prompt token ids")
    ap.add_argument("--gen", type=int, default=16,
                    help="greedy tokens to generate (default 16)")
    ap.add_argument("--numerics", choices=NUMERICS, default="exact")
    ap.add_argument("--selftest", action="store_true")
    a = ap.parse_args(argv[1:])
    if a.selftest:
        return selftest()
    if not a.model or not a.tokens:
        ap.error("MODEL and --tokens are required (or --selftest)")
    m = Model.load(a.model, a.numerics)
    prompt = [int(t) for t in a.tokens.split(",")]
    logits, gen, _ = m.greedy(prompt, a.gen)
    last = logits[-1]
    top = np.argsort(-last)[:5]
    print("last prompt position top-5: %s" % ", ".join(
        "%d:%.4f" % (t, last[t]) for t in top))
    print("greedy: %s" % " ".join(str(t) for t in gen))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
