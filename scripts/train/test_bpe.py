#!/usr/bin/python3
"""test_bpe.py — check bpe.py's qwen2 pre-tokenizer and BPE against llama.cpp's vectors.

Loads the Qwen2 vocabulary GGUF from the shared test models
(vocab/ggml-vocab-qwen2.gguf, with its .inp/.out vectors produced by
llama.cpp's own tokenizer), builds a bpe.Tokenizer from its tokens and merges
and requires every vector to encode to exactly llama.cpp's ids (special-token
parsing off, as the vectors were made). This is what makes the training
tokenization equal to the engine's. Also checks decode(encode(x)) == x.

Needs numpy only (no torch). Exit 0 pass, 1 fail, 77 skip (models absent).
Models: $HEARTH_MODELS, else ../shared/models next to the repository.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.dirname(_HERE))


def models_dir():
    d = os.environ.get("HEARTH_MODELS")
    if d:
        return d
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(_HERE))), "shared", "models")


def main():
    path = os.path.join(models_dir(), "vocab", "ggml-vocab-qwen2.gguf")
    if not os.path.exists(path) or not os.path.exists(path + ".inp"):
        print("SKIP: %s (and .inp/.out) not found; set HEARTH_MODELS" % path)
        return 77
    import bpe
    import gguf_reader
    g = gguf_reader.read(path)
    tok = bpe.Tokenizer(list(g.get("tokenizer.ggml.tokens")), list(g.get("tokenizer.ggml.token_type")),
                        list(g.get("tokenizer.ggml.merges")))
    with open(path + ".inp", encoding="utf-8") as f:
        texts = f.read().split("\n__ggml_vocab_test__\n")
    with open(path + ".out") as f:
        expected = f.read().split("\n")
    bad = 0
    for text, exp in zip(texts, expected):
        want = [int(x) for x in exp.split()]
        got = tok.encode(text, special=False)
        if got != want:
            bad += 1
            print("MISMATCH %r\n  got  %s\n  want %s" % (text[:60], got[:16], want[:16]))
        if tok.decode(got) != text:
            bad += 1
            print("ROUND-TRIP %r" % text[:60])
    print("%d/%d vectors match" % (len(texts) - bad, len(texts)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
