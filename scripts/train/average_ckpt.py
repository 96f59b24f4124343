#!/usr/bin/python3
"""average_ckpt.py — the mean of the weights of checkpoints of one architecture.

Two stages trained one after the other from the same start sit close enough
in weight space that their mean is a model too, and on held-out requests it
scored better than either alone (see assets/MODEL_CARD.md). The output keeps
the first checkpoint's config, tokenizer path and metadata, and records its
sources.

Usage: average_ckpt.py --out OUT.pt CKPT.pt CKPT.pt [...]
"""

import argparse

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("ckpts", nargs="+")
    a = ap.parse_args()
    cks = [torch.load(p, map_location="cpu") for p in a.ckpts]
    for p, ck in zip(a.ckpts[1:], cks[1:]):
        if ck["config"] != cks[0]["config"] or ck["state"].keys() != cks[0]["state"].keys():
            raise SystemExit("average_ckpt: %s has another architecture than %s" % (p, a.ckpts[0]))
    out = dict(cks[0])
    out["state"] = {k: sum(ck["state"][k] for ck in cks) / len(cks) for k in cks[0]["state"]}
    out["meta"] = dict(cks[0].get("meta", {}), averaged=a.ckpts)
    torch.save(out, a.out)
    print("average_ckpt: %d checkpoints -> %s" % (len(cks), a.out))


if __name__ == "__main__":
    main()
