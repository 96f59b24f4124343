"""check_gguf.py — cross-check an exported GGUF against the project's numpy reference.

Runs the first --items prompts of the held-out set through
scripts/reference.py (the float64 forward pass the C engine is tested
against, reading the GGUF as the engine will: llama arch, RoPE "normal",
GQA, tokenizer ids from this file's vocabulary) and through the torch model
that eval_tools.py uses, greedy for --gen tokens, and reports whether the
generated ids agree and the largest logit difference. Agreement means the
export conventions (tensor names, shapes, RoPE order, head layout) are
what the engine expects, not only what torch trained.

Usage: check_gguf.py --gguf model.gguf --tokenizer tok.json --data heldout.jsonl [--items 3]
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.dirname(_HERE))
import bpe  # noqa: E402
import chatml  # noqa: E402
import reference  # noqa: E402
from eval_tools import load_gguf  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--items", type=int, default=3)
    ap.add_argument("--gen", type=int, default=24)
    a = ap.parse_args()
    torch.set_num_threads(1)
    tok = bpe.Tokenizer.load(a.tokenizer)
    ref = reference.Model.load(a.gguf)
    tm = load_gguf(a.gguf)
    tm.eval()
    with open(a.data) as f:
        items = [json.loads(line) for line in f][:a.items]
    ok = True
    for it in items:
        ids = tok.encode(chatml.render_text(it["messages"], it["tools"], add_generation_prompt=True))
        _, ref_gen, ref_logits = ref.greedy(ids, a.gen)
        logits, cache = tm.forward_cached(torch.tensor(ids), [None] * tm.cfg.n_layers)
        t_gen, diffs = [], []
        for k in range(a.gen):
            nxt = int(torch.argmax(logits))
            t_gen.append(nxt)
            logits, cache = tm.forward_cached(torch.tensor([nxt]), cache)
            diffs.append(float(np.abs(logits.numpy() - ref_logits[k]).max()))
        same = ref_gen == t_gen
        ok &= same
        print("item %s (%d prompt tokens): %s, max |logit diff| %.2e\n  reference: %r"
              % (it["id"], len(ids), "same ids" if same else "DIFFERENT ids", max(diffs),
                 tok.decode(ref_gen)))
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
