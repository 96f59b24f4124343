"""export_gguf.py — write a trained llama_model.Llama checkpoint as a llama-architecture GGUF.

Follows llama.cpp's conventions for general.architecture = "llama", so the
C engine (and llama.cpp itself) load it like any Llama GGUF:
  keys    llama.context_length, embedding_length, block_count,
          feed_forward_length, attention.head_count, attention.head_count_kv,
          rope.freq_base, attention.layer_norm_rms_epsilon,
          rope.dimension_count, vocab_size; general.file_type
  tensors token_embd.weight, blk.N.{attn_norm, attn_q, attn_k, attn_v,
          attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}.weight,
          output_norm.weight, output.weight
Weights are nn.Linear (out, in) matrices, stored as-is (GGUF ne = [in, out]);
RoPE was trained in llama.cpp's "normal" adjacent-pair order, so Q and K need
no permutation. Norm weights stay F32; every matrix row is a multiple of 32
long, so Q8_0 applies to all matrices. A tied output head is written out as
output.weight too, so loaders that require the tensor work unchanged.

Tokenizer: byte-level BPE, tokenizer.ggml.model "gpt2", pre "qwen2",
tokens in GPT-2 byte-mapped form, merges "a b", token types (1 normal,
3 control, 4 user-defined), bos <|endoftext|>, eos <|im_end|>, no BOS added,
a ChatML chat template; hearth.chat.default_system_prompt, the system prompt
the model was trained behind, which the engine puts first when a
conversation has none (--system-prompt); with --lexicon, hearth.lexicon.words
and .counts, the words of the training requests (lexicon.py).

Usage: export_gguf.py --ckpt model.pt --out model.gguf --type F16|Q8_0|F32
"""

import argparse
import os
import sys

import numpy as np
import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.dirname(_HERE))
import bpe  # noqa: E402
import chatml  # noqa: E402
import gen_home_data  # noqa: E402
import lexicon as lexicon_mod  # noqa: E402
from gguf_writer import GGUFWriter  # noqa: E402

# GGUF tensor name within a block -> llama_model.Llama parameter name (import_gguf.py reads them back)
BLOCK_TENSORS = [("attn_norm", "attn_norm.weight"), ("attn_q", "wq.weight"), ("attn_k", "wk.weight"),
                 ("attn_v", "wv.weight"), ("attn_output", "wo.weight"), ("ffn_norm", "ffn_norm.weight"),
                 ("ffn_gate", "w_gate.weight"), ("ffn_up", "w_up.weight"), ("ffn_down", "w_down.weight")]

# llama.cpp's llama_ftype values for general.file_type
FILE_TYPES = {"F32": 0, "F16": 1, "Q8_0": 7}


def add_tokenizer(w, tok, default_system=""):
    w.add_kv("tokenizer.ggml.model", "gpt2")
    w.add_kv("tokenizer.ggml.pre", "qwen2")
    w.add_kv("tokenizer.ggml.tokens", tok.tokens, ("arr", "str"))
    w.add_kv("tokenizer.ggml.token_type", tok.types, ("arr", "i32"))
    w.add_kv("tokenizer.ggml.merges", tok.merges, ("arr", "str"))
    w.add_kv("tokenizer.ggml.bos_token_id", tok.id[chatml.ENDOFTEXT], "u32")
    w.add_kv("tokenizer.ggml.eos_token_id", tok.id[chatml.IM_END], "u32")
    w.add_kv("tokenizer.ggml.padding_token_id", tok.id[chatml.ENDOFTEXT], "u32")
    w.add_kv("tokenizer.ggml.add_bos_token", False)
    w.add_kv("tokenizer.chat_template", chatml.chat_template(default_system))
    if default_system:
        # the engine puts it first when a conversation has no system message
        # (engine_chat_render): the model never saw a conversation without it
        w.add_kv("hearth.chat.default_system_prompt", default_system)


def export(ckpt_path, out_path, type_name, name, tok_path=None, default_system="", lexicon=None):
    ck = torch.load(ckpt_path, map_location="cpu")
    cfg, sd = ck["config"], ck["state"]
    tok = bpe.Tokenizer.load(tok_path or ck["tokenizer"])
    if len(tok.tokens) != cfg["vocab_size"]:
        raise ValueError("tokenizer has %d tokens, model %d" % (len(tok.tokens), cfg["vocab_size"]))
    head_dim = cfg["dim"] // cfg["n_heads"]
    w = GGUFWriter(out_path, "llama")
    w.add_kv("general.name", name)
    w.add_kv("general.file_type", FILE_TYPES[type_name], "u32")
    w.add_kv("llama.context_length", cfg["max_seq"], "u32")
    w.add_kv("llama.embedding_length", cfg["dim"], "u32")
    w.add_kv("llama.block_count", cfg["n_layers"], "u32")
    w.add_kv("llama.feed_forward_length", cfg["ffn_dim"], "u32")
    w.add_kv("llama.attention.head_count", cfg["n_heads"], "u32")
    w.add_kv("llama.attention.head_count_kv", cfg["n_kv_heads"], "u32")
    w.add_kv("llama.rope.freq_base", float(cfg["rope_base"]), "f32")
    w.add_kv("llama.attention.layer_norm_rms_epsilon", float(cfg["norm_eps"]), "f32")
    w.add_kv("llama.rope.dimension_count", head_dim, "u32")
    w.add_kv("llama.vocab_size", cfg["vocab_size"], "u32")
    add_tokenizer(w, tok, default_system)
    if lexicon:
        # the words of the training requests, for mending typos (lexicon.py)
        w.add_kv("hearth.lexicon.words", [x for x, _ in lexicon], ("arr", "str"))
        w.add_kv("hearth.lexicon.counts", [n for _, n in lexicon], ("arr", "u32"))

    def t(key):
        return sd[key].float().numpy()

    w.add_tensor("token_embd.weight", t("tok_emb.weight"), type_name)     # (V, D)
    for i in range(cfg["n_layers"]):
        for gname, tname in BLOCK_TENSORS:
            a = t("layers.%d.%s" % (i, tname))
            w.add_tensor("blk.%d.%s.weight" % (i, gname), a, "F32" if a.ndim == 1 else type_name)
    w.add_tensor("output_norm.weight", t("norm.weight"), "F32")
    out = t("tok_emb.weight") if cfg["tied"] else t("output.weight")
    w.add_tensor("output.weight", out, type_name)                         # (V, D)
    w.write()
    return os.path.getsize(out_path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--type", default="F16", choices=sorted(FILE_TYPES))
    ap.add_argument("--name", default="hearth-tiny")
    ap.add_argument("--tokenizer")
    ap.add_argument("--system-prompt", default=gen_home_data.SYSTEM_PROMPT,
                    help="default system prompt stored in the file ('' for none; default: the "
                         "one the training conversations use)")
    ap.add_argument("--lexicon", nargs="+", metavar="TRAIN_JSONL",
                    help="store the words of these training files' requests (lexicon.py), "
                         "so the server mends typos towards them")
    a = ap.parse_args()
    lex = lexicon_mod.lexicon(a.lexicon) if a.lexicon else None
    size = export(a.ckpt, a.out, a.type, a.name, a.tokenizer, a.system_prompt, lex)
    print("wrote %s (%s, %.2f MB)" % (a.out, a.type, size / 1e6))


if __name__ == "__main__":
    main()
