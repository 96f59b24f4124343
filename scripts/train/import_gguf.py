"""import_gguf.py — a llama GGUF written by export_gguf.py back into a checkpoint and tokenizer.

The inverse of export_gguf.py, so a training stage can go on from the
shipped assets/hearth-tiny.f16.gguf without rerunning train.sh's 8.5 hours
(checkpoints live in the git-ignored build-train*/ folders and do not
survive a fresh clone). F16 weights come back within F16 rounding (about
1e-3 relative), which continued training does not notice; Q8_0 also loads,
with its coarser rounding. The tokenizer's tokens, types and merges are
stored verbatim in the file, so the tokenizer.json written here encodes
exactly as the one the model was trained with.

Usage: import_gguf.py --gguf assets/hearth-tiny.f16.gguf --ckpt OUT.pt --tokenizer OUT.json
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
import reference  # noqa: E402  (scripts/reference.py: tensor decoding)
from export_gguf import BLOCK_TENSORS  # noqa: E402
from gguf_reader import GGUFFile  # noqa: E402
from llama_model import Config  # noqa: E402

def _f32(x):
    # GGUF stores these as f32: 1e-5 reads back 9.9999997e-06, and train_lm.py
    # compares an --init checkpoint's config to its own exactly
    return float("%.7g" % x)


def load(path):
    """(config dict, state dict of float32 tensors, bpe.Tokenizer) from a GGUF file."""
    g = GGUFFile(path)
    if g.get("general.architecture") != "llama":
        raise ValueError("%s: architecture %r, not llama" % (path, g.get("general.architecture")))

    def w(name):
        if name not in g.tensors:
            raise ValueError("%s: no tensor %s" % (path, name))
        return torch.from_numpy(reference._dequantize(g.tensors[name]).astype(np.float32))

    n_layers = int(g.get("llama.block_count"))
    emb = w("token_embd.weight")                                   # (V, D)
    # export_gguf writes a tied head out as output.weight: equal bytes (or none) mean tied
    tied = "output.weight" not in g.tensors \
        or bytes(g.tensors["token_embd.weight"].raw) == bytes(g.tensors["output.weight"].raw)
    cfg = Config(vocab_size=emb.shape[0], dim=int(g.get("llama.embedding_length")),
                 n_layers=n_layers, n_heads=int(g.get("llama.attention.head_count")),
                 n_kv_heads=int(g.get("llama.attention.head_count_kv")),
                 ffn_dim=int(g.get("llama.feed_forward_length")),
                 max_seq=int(g.get("llama.context_length")),
                 rope_base=_f32(g.get("llama.rope.freq_base")),
                 norm_eps=_f32(g.get("llama.attention.layer_norm_rms_epsilon")), tied=tied)
    sd = {"tok_emb.weight": emb, "norm.weight": w("output_norm.weight")}
    if not tied:
        sd["output.weight"] = w("output.weight")                    # (V, D)
    for i in range(n_layers):
        for gname, tname in BLOCK_TENSORS:
            sd["layers.%d.%s" % (i, tname)] = w("blk.%d.%s.weight" % (i, gname))
    tok = bpe.Tokenizer(list(g.get("tokenizer.ggml.tokens")), [int(t) for t in g.get("tokenizer.ggml.token_type")],
                        list(g.get("tokenizer.ggml.merges")))
    return cfg.to_dict(), sd, tok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--ckpt", required=True, help="checkpoint to write (train_lm.py --init reads it)")
    ap.add_argument("--tokenizer", required=True, help="tokenizer.json to write")
    a = ap.parse_args()
    cfg, sd, tok = load(a.gguf)
    tok.save(a.tokenizer)
    # the same keys train_lm.save writes; its loader checks the config against its flags
    torch.save({"config": cfg, "state": sd, "step": 0, "tokenizer": a.tokenizer,
                "meta": {"imported_from": os.path.basename(a.gguf)}}, a.ckpt)
    print("wrote %s (%d layers, dim %d, %d parameters) and %s (%d tokens)"
          % (a.ckpt, cfg["n_layers"], cfg["dim"], sum(t.numel() for t in sd.values()),
             a.tokenizer, len(tok.tokens)))


if __name__ == "__main__":
    main()
