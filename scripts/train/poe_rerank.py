#!/usr/bin/env python3
"""Combining models by the product of their probabilities, measured on bench reports.

    poe_rerank.py --data A.jsonl B.jsonl ... \\
        --model M1.gguf M1-A.json M1-B.json ... --model M2.gguf M2-A.json M2-B.json ...

Each report is `hearth bench tools --json --no-spell` of that model on the
data file in the same place (without mending, so the text scored here is the
text the engine read). For every tool-call item the models' replies are the
candidates; each candidate is scored by every model (the log-probability of
the whole reply and <|im_end|> after the rendered prompt, on the GGUF's
dequantized weights) and the one the group finds likeliest is kept: what a
logit ensemble could at best choose among its members' replies. Prints each
model's exact-call rate, the union (an item right for any model), and the
product-of-experts choice (summed, and per-token normalised). Only the
per-item right/wrong of the reports is used: no request is printed, so a
blind set stays blind.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chatml  # noqa: E402
import import_gguf  # noqa: E402
from llama_model import Config, Llama  # noqa: E402


class Scorer:
    def __init__(self, path):
        cfg, sd, self.tok = import_gguf.load(path)
        self.m = Llama(Config(**cfg))
        self.m.load_state_dict(sd)
        self.m.eval()
        self.eos = self.tok.id[chatml.IM_END]
        self.prefix = {}

    def logprob(self, messages, tools, reply):
        """(log p(reply <|im_end|> | prompt), tokens scored)."""
        segs = chatml.render(messages, tools, add_generation_prompt=True)
        if segs[0][0] not in self.prefix:   # the system turn, shared by most items
            _, self.prefix[segs[0][0]] = self.m.forward_cached(
                torch.tensor(self.tok.encode(segs[0][0])), [None] * self.m.cfg.n_layers)
        rest = self.tok.encode("".join(t for t, _ in segs[1:]))
        rep = self.tok.encode(reply) + [self.eos]
        lg, _ = self.m.forward_cached(torch.tensor(rest + rep), list(self.prefix[segs[0][0]]), every=True)
        lp = torch.log_softmax(lg.float(), -1)[len(rest) - 1:-1]      # (len(rep), V)
        return float(lp[torch.arange(len(rep)), torch.tensor(rep)].sum()), len(rep)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--model", nargs="+", action="append", required=True, metavar="GGUF REPORT")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for m in a.model:
        if len(m) != len(a.data) + 1:
            ap.error("--model %s: one report per data file (%d), got %d" % (m[0], len(a.data), len(m) - 1))
    names = [os.path.basename(m[0]) for m in a.model]
    scorers = [Scorer(m[0]) for m in a.model]
    n = union = poe = poe_norm = differ = 0
    single = [0] * len(names)
    with torch.no_grad():
        for k, path in enumerate(a.data):
            with open(path) as f:
                items = {d["id"]: d for d in map(json.loads, f)}
            reps = []
            for m in a.model:
                with open(m[k + 1]) as f:
                    reps.append({r["id"]: r for r in json.load(f)["replies"] if r["kind"] == "tool_call"})
            for i in reps[0]:
                oks = [r[i]["ok"] for r in reps]
                n += 1
                union += any(oks)
                single = [s + o for s, o in zip(single, oks)]
                cands = {}
                for r, ok in zip(reps, oks):
                    cands.setdefault(r[i]["reply"], ok)
                if len(cands) == 1:
                    poe += oks[0]
                    poe_norm += oks[0]
                    continue
                differ += 1
                d = items[i]
                scored = []
                for reply, ok in cands.items():
                    s = [sc.logprob(d["messages"], d.get("tools"), reply) for sc in scorers]
                    scored.append((sum(x for x, _ in s), sum(x / t for x, t in s), ok))
                poe += max(scored, key=lambda x: x[0])[2]
                poe_norm += max(scored, key=lambda x: x[1])[2]
    pct = lambda x: 100.0 * x / max(n, 1)  # noqa: E731
    for name, s in zip(names, single):
        print("%-32s %5.1f %%" % (name, pct(s)))
    print("%d tool items, the replies differ in %d" % (n, differ))
    print("union %.1f %%, product of experts %.1f %% (per-token normalised %.1f %%)"
          % (pct(union), pct(poe), pct(poe_norm)))


if __name__ == "__main__":
    main()
