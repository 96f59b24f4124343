#!/usr/bin/python3
"""make_bench_model.py — random-weight GGUFs of the exact Qwen2.5 shapes for
`hearth bench engine` and the llama.cpp comparison (BENCHMARKS.md).

Speed does not depend on weight values, so the quantized blocks are random
bytes with sane scales (dequantized weights of std ~0.02, no inf/NaN), made
directly in numpy instead of by the (slow) reference quantizers. The
metadata and tensor set are those of a converted Qwen2.5-Instruct model:
qwen2 architecture, tied embeddings (no output.weight), q/k/v biases, RoPE
base 1e6, RMSNorm eps 1e-6, and a GPT-2-style byte-level vocabulary of
151936 synthetic tokens (256 byte tokens, then two- and three-token
concatenations with their merges, then Qwen's control tokens and padding
entries) so both engines load it.

Mixes (what llama-quantize would write for these shapes, see --help):
    Q4_0    every matrix Q4_0; token_embd (the tied output) Q8_0, as
            llama-quantize does: it wants Q6_K for the output, and 896 is
            not a multiple of 256, so it falls back to Q8_0.
    Q8_0    everything Q8_0.
    Q4_K_M  llama-quantize's Q4_K_M rules: ffn_down Q6_K in the
            "more bits" layers (first and last eighth, every third
            between), Q4_K elsewhere; attn_v likewise Q6_K/Q4_K;
            everything else Q4_K. Rows of 896 (n_embd) are not a multiple
            of 256, so those tensors cannot be K-quants: llama.cpp falls
            back to Q5_0 (for Q4_K) and Q8_0 (for Q6_K); Hearth has no
            Q5_0, so this writer uses Q4_0 and Q8_0. For the 0.5B shape
            only ffn_down (rows of 4864 = 19·256) is a K-quant; for the
            1.5B shape (1536 = 6·256) every matrix is.
    F16     everything F16.
Norm weights and biases are F32, as in converted files.

Usage:
    make_bench_model.py --out-dir /work/bench/models [--shape 0.5b|1.5b]
                        [--types Q4_0,Q8_0,Q4_K_M,F16]
Writes OUT_DIR/qwen2.5-<shape>-<type>.gguf.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_writer import GGUFWriter  # noqa: E402
import gguf_reader  # noqa: E402

SHAPES = {
    # n_embd, n_layer, n_head, n_head_kv, n_ff
    "0.5b": (896, 24, 14, 2, 4864),
    "1.5b": (1536, 28, 12, 2, 8960),
}
N_VOCAB = 151936
N_CTX_TRAIN = 32768
TYPES = ("Q4_0", "Q8_0", "Q4_K_M", "F16")
# llama_ftype values written to general.file_type
FILE_TYPE = {"Q4_0": 2, "Q8_0": 7, "Q4_K_M": 15, "F16": 1}
WEIGHT_STD = 0.02


# ---------------------------------------------------------------------------
# Random blocks. Each returns the raw bytes of a (rows, cols) matrix.

def _half(rng, n, scale):
    return (np.abs(rng.normal(scale, scale / 4, n)) + scale / 8).astype("<f2")


def blocks_q4_0(rng, rows, cols):
    nb = rows * cols // 32
    b = np.empty((nb, 18), np.uint8)
    b[:, 0:2] = _half(rng, nb, WEIGHT_STD / 4.6).view(np.uint8).reshape(nb, 2)
    b[:, 2:] = rng.integers(0, 256, (nb, 16), dtype=np.uint8)
    return b.tobytes()


def blocks_q8_0(rng, rows, cols):
    nb = rows * cols // 32
    b = np.empty((nb, 34), np.uint8)
    b[:, 0:2] = _half(rng, nb, WEIGHT_STD / 73).view(np.uint8).reshape(nb, 2)
    b[:, 2:] = rng.integers(-127, 128, (nb, 32), dtype=np.int8).view(np.uint8)
    return b.tobytes()


def blocks_q4_k(rng, rows, cols):
    nb = rows * cols // 256
    b = np.empty((nb, 144), np.uint8)
    b[:, 0:2] = _half(rng, nb, WEIGHT_STD / 140).view(np.uint8).reshape(nb, 2)
    b[:, 2:4] = _half(rng, nb, WEIGHT_STD / 140).view(np.uint8).reshape(nb, 2)
    b[:, 4:] = rng.integers(0, 256, (nb, 140), dtype=np.uint8)
    return b.tobytes()


def blocks_q6_k(rng, rows, cols):
    nb = rows * cols // 256
    b = np.empty((nb, 210), np.uint8)
    b[:, 0:208] = rng.integers(0, 256, (nb, 208), dtype=np.uint8)
    b[:, 208:210] = _half(rng, nb, WEIGHT_STD / 1300).view(np.uint8).reshape(nb, 2)
    return b.tobytes()


def blocks_f16(rng, rows, cols):
    return rng.normal(0, WEIGHT_STD, rows * cols).astype("<f2").tobytes()


BLOCKS = {"Q4_0": blocks_q4_0, "Q8_0": blocks_q8_0, "Q4_K": blocks_q4_k,
          "Q6_K": blocks_q6_k, "F16": blocks_f16}


# ---------------------------------------------------------------------------
# Which type each tensor gets.

def more_bits(il, n_layer):
    """llama-quantize's use_more_bits(): first/last eighth, every third."""
    return (il < n_layer // 8 or il >= 7 * n_layer // 8 or
            (il - n_layer // 8) % 3 == 2)


def k_or_fallback(want, cols):
    """A K-quant needs rows (cols) that are a multiple of 256."""
    if cols % 256 == 0:
        return want
    return "Q8_0" if want == "Q6_K" else "Q4_0"


def tensor_type(mix, name, il, n_layer, cols):
    if mix in ("Q8_0", "F16"):
        return mix
    if name == "token_embd":    # tied: the output matrix
        return k_or_fallback("Q6_K", cols)
    if mix == "Q4_0":
        return "Q4_0"
    want = "Q4_K"               # Q4_K_M
    if name in ("ffn_down", "attn_v") and more_bits(il, n_layer):
        want = "Q6_K"
    return k_or_fallback(want, cols)


# ---------------------------------------------------------------------------
# Vocabulary.

def bytes_to_unicode():
    """GPT-2's byte -> printable character table."""
    bs = (list(range(ord("!"), ord("~") + 1)) +
          list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def make_vocab():
    """tokens, token types, merges: 151643 regular tokens (bytes, then
    pairs, then triples), Qwen's 3 control tokens at 151643.., padding."""
    byte_tok = bytes_to_unicode()
    tokens, merges = list(byte_tok), []
    for a in byte_tok:
        for b in byte_tok:
            tokens.append(a + b)
            merges.append(a + " " + b)
    i = 0
    while len(tokens) < 151643:
        pair, c = tokens[256 + i // 256], byte_tok[i % 256]
        tokens.append(pair + c)
        merges.append(pair + " " + c)
        i += 1
    types = [1] * len(tokens)
    for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>"):
        tokens.append(t)
        types.append(3)
    while len(tokens) < N_VOCAB:
        tokens.append("[PAD%d]" % len(tokens))
        types.append(4)         # user defined, as Qwen's padding entries
    return tokens, types, merges


CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'"
    " + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


# ---------------------------------------------------------------------------
# The file.

def write_model(path, shape, mix, vocab, seed=0):
    n_embd, n_layer, n_head, n_head_kv, n_ff = SHAPES[shape]
    head_dim = n_embd // n_head
    rng = np.random.default_rng(seed)
    w = GGUFWriter(path, "qwen2")
    a = "qwen2"
    tokens, types, merges = vocab
    w.add_kv("general.name", "hearth-bench-qwen2.5-%s-%s" % (shape, mix), "str")
    w.add_kv("general.file_type", FILE_TYPE[mix], "u32")
    w.add_kv(a + ".context_length", N_CTX_TRAIN, "u32")
    w.add_kv(a + ".embedding_length", n_embd, "u32")
    w.add_kv(a + ".block_count", n_layer, "u32")
    w.add_kv(a + ".feed_forward_length", n_ff, "u32")
    w.add_kv(a + ".attention.head_count", n_head, "u32")
    w.add_kv(a + ".attention.head_count_kv", n_head_kv, "u32")
    w.add_kv(a + ".attention.layer_norm_rms_epsilon", 1e-6, "f32")
    w.add_kv(a + ".rope.freq_base", 1000000.0, "f32")
    w.add_kv("tokenizer.ggml.model", "gpt2", "str")
    w.add_kv("tokenizer.ggml.pre", "qwen2", "str")
    w.add_kv("tokenizer.ggml.tokens", tokens, ("arr", "str"))
    w.add_kv("tokenizer.ggml.token_type", types, ("arr", "i32"))
    w.add_kv("tokenizer.ggml.merges", merges, ("arr", "str"))
    w.add_kv("tokenizer.ggml.eos_token_id", 151645, "u32")
    w.add_kv("tokenizer.ggml.padding_token_id", 151643, "u32")
    w.add_kv("tokenizer.ggml.bos_token_id", 151643, "u32")
    w.add_kv("tokenizer.ggml.add_bos_token", False, "bool")
    w.add_kv("tokenizer.chat_template", CHAT_TEMPLATE, "str")

    def matrix(name, full, il, rows, cols):
        t = tensor_type(mix, name, il, n_layer, cols)
        w.add_tensor_raw(full, BLOCKS[t](rng, rows, cols), [cols, rows],
                         gguf_reader.GGML_TYPE_ID[t])

    def vector(full, n, mean, std):
        w.add_tensor(full, rng.normal(mean, std, n).astype(np.float32), "F32")

    matrix("token_embd", "token_embd.weight", -1, N_VOCAB, n_embd)
    vector("output_norm.weight", n_embd, 1.0, 0.1)
    q, kv = n_head * head_dim, n_head_kv * head_dim
    for il in range(n_layer):
        p = "blk.%d." % il
        vector(p + "attn_norm.weight", n_embd, 1.0, 0.1)
        matrix("attn_q", p + "attn_q.weight", il, q, n_embd)
        matrix("attn_k", p + "attn_k.weight", il, kv, n_embd)
        matrix("attn_v", p + "attn_v.weight", il, kv, n_embd)
        vector(p + "attn_q.bias", q, 0.0, 0.1)
        vector(p + "attn_k.bias", kv, 0.0, 0.1)
        vector(p + "attn_v.bias", kv, 0.0, 0.1)
        matrix("attn_output", p + "attn_output.weight", il, n_embd, q)
        vector(p + "ffn_norm.weight", n_embd, 1.0, 0.1)
        matrix("ffn_gate", p + "ffn_gate.weight", il, n_ff, n_embd)
        matrix("ffn_up", p + "ffn_up.weight", il, n_ff, n_embd)
        matrix("ffn_down", p + "ffn_down.weight", il, n_embd, n_ff)
    w.write()


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--shape", default="0.5b", choices=sorted(SHAPES))
    ap.add_argument("--types", default=",".join(TYPES))
    args = ap.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    vocab = make_vocab()
    for mix in args.types.split(","):
        if mix not in TYPES:
            ap.error("unknown type %r (one of %s)" % (mix, ", ".join(TYPES)))
        path = os.path.join(args.out_dir, "qwen2.5-%s-%s.gguf" % (args.shape, mix))
        write_model(path, args.shape, mix, vocab)
        print("wrote %s (%.1f MiB)" % (path, os.path.getsize(path) / 2**20))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
