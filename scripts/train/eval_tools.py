"""eval_tools.py — greedy-decode the held-out set and score tool calls, refusals and entities.

Reads the evaluation JSONL (assets/eval/heldout.jsonl; format in
assets/MODEL_CARD.md), renders each item's messages with its tools in ChatML
+ Hermes (chatml.py) plus the generation prompt, decodes greedily until
<|im_end|> and scores the reply against item["expected"]:

  tool_calls     every <tool_call> block parsed as JSON {"name", "arguments"};
                 tool-name accuracy (first call's name), exact match (the
                 list of calls equal to the expected list: names and argument
                 objects, numbers compared by value)
  refusal        no tool call, and the text says sorry / can't / cannot
  no_tool_call   chat replies: no tool call and not a refusal
  text_contains  answers after a tool result: no tool call, every listed
                 string present
  entities       the reply parsed as JSON {"people": [...], "places": [...]};
                 micro precision/recall/F1 over (kind, name) pairs
Valid-JSON rate: among all emitted tool-call blocks and entity replies, the
share that parse (tool calls also need a string "name" and an object
"arguments").

Weights come from a training checkpoint (--ckpt) or from an exported GGUF
(--gguf, dequantized with scripts/quants.py — measures what quantization
costs), run by llama_model.Llama in float32.

Usage: eval_tools.py (--ckpt model.pt | --gguf model.gguf) --tokenizer tok.json
                     --data heldout.jsonl [--limit N] [--json out.json]
"""

import argparse
import json
import os
import re
import sys
import time

import numpy as np
import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _HERE)
sys.path.insert(0, os.path.dirname(_HERE))
import bpe  # noqa: E402
import chatml  # noqa: E402
from llama_model import Config, Llama  # noqa: E402

TOOL_RE = re.compile(r"<tool_call>\n?(.*?)\n?</tool_call>", re.S)
REFUSAL_RE = re.compile(r"\b(sorry|can't|cannot|can not)\b", re.I)


# ---------------------------------------------------------------------------
# Model loading

def load_ckpt(path):
    ck = torch.load(path, map_location="cpu")
    m = Llama(Config(**ck["config"]))
    m.load_state_dict(ck["state"])
    return m


def load_gguf(path):
    import gguf_reader
    import quants
    g = gguf_reader.read(path)
    kv = lambda k: g.get("llama." + k)  # noqa: E731
    cfg = Config(vocab_size=int(kv("vocab_size")), dim=int(kv("embedding_length")),
                 n_layers=int(kv("block_count")), n_heads=int(kv("attention.head_count")),
                 n_kv_heads=int(kv("attention.head_count_kv")), ffn_dim=int(kv("feed_forward_length")),
                 max_seq=int(kv("context_length")), rope_base=float(kv("rope.freq_base")),
                 norm_eps=float(kv("attention.layer_norm_rms_epsilon")), tied=False)
    tensors = g.tensors                      # name -> gguf_reader.Tensor

    def arr(name):
        t = tensors[name]
        a = np.asarray(quants.dequantize(t.type_name, t.raw, t.shape), dtype=np.float32)
        return torch.from_numpy(a.reshape(t.shape).copy())

    m = Llama(cfg)
    sd = {"tok_emb.weight": arr("token_embd.weight"), "norm.weight": arr("output_norm.weight"),
          "output.weight": arr("output.weight")}
    names = {"attn_norm": "attn_norm.weight", "attn_q": "wq.weight", "attn_k": "wk.weight",
             "attn_v": "wv.weight", "attn_output": "wo.weight", "ffn_norm": "ffn_norm.weight",
             "ffn_gate": "w_gate.weight", "ffn_up": "w_up.weight", "ffn_down": "w_down.weight"}
    for i in range(cfg.n_layers):
        for gname, tname in names.items():
            sd["layers.%d.%s" % (i, tname)] = arr("blk.%d.%s.weight" % (i, gname))
    m.load_state_dict(sd)
    return m


# ---------------------------------------------------------------------------
# Decoding

class Decoder:
    """Greedy decoding with the system turn's KV cache computed once per distinct prefix."""

    def __init__(self, model, tok, max_new=96):
        self.m, self.tok, self.max_new = model, tok, max_new
        self.eos = tok.id[chatml.IM_END]
        self.prefix_cache = {}

    def generate(self, messages, tools):
        segs = chatml.render(messages, tools, add_generation_prompt=True)
        prefix = segs[0][0]
        rest = self.tok.encode("".join(t for t, _ in segs[1:]))
        if prefix not in self.prefix_cache:
            _, cache = self.m.forward_cached(torch.tensor(self.tok.encode(prefix)), [None] * self.m.cfg.n_layers)
            self.prefix_cache[prefix] = cache
        logits, cache = self.m.forward_cached(torch.tensor(rest), list(self.prefix_cache[prefix]))
        out = []
        for _ in range(self.max_new):
            nxt = int(torch.argmax(logits))
            if nxt == self.eos:
                break
            out.append(nxt)
            logits, cache = self.m.forward_cached(torch.tensor([nxt]), cache)
        return self.tok.decode(out)


# ---------------------------------------------------------------------------
# Scoring

def parse_calls(text):
    """(calls, n_blocks, n_valid)."""
    calls, n, ok = [], 0, 0
    for block in TOOL_RE.findall(text):
        n += 1
        try:
            c = json.loads(block)
        except ValueError:
            continue
        if isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("arguments"), dict):
            ok += 1
            calls.append({"name": c["name"], "arguments": c["arguments"]})
    if "<tool_call>" in text and n == 0:
        n = 1      # an unterminated block counts as invalid JSON
    return calls, n, ok


def score(items, outputs):
    s = {"n": len(items), "tool_items": 0, "tool_name_ok": 0, "tool_exact": 0, "json_blocks": 0,
         "json_valid": 0, "refusal_items": 0, "refusal_ok": 0, "chat_items": 0, "chat_ok": 0,
         "answer_items": 0, "answer_ok": 0, "ent_items": 0, "ent_tp": 0, "ent_fp": 0, "ent_fn": 0}
    failures = []
    for it, out in zip(items, outputs):
        exp = it["expected"]
        calls, nb, nv = parse_calls(out)
        s["json_blocks"] += nb
        s["json_valid"] += nv
        ok = True
        if "tool_calls" in exp:
            s["tool_items"] += 1
            name_ok = bool(calls) and calls[0]["name"] == exp["tool_calls"][0]["name"]
            exact = calls == exp["tool_calls"]
            s["tool_name_ok"] += name_ok
            s["tool_exact"] += exact
            ok = exact
        elif exp.get("refusal"):
            s["refusal_items"] += 1
            ok = not calls and nb == 0 and bool(REFUSAL_RE.search(out))
            s["refusal_ok"] += ok
        elif "entities" in exp:
            s["ent_items"] += 1
            s["json_blocks"] += 1
            try:
                got = json.loads(out)
                gp = {("people", x) for x in got.get("people", [])} | {("places", x) for x in got.get("places", [])}
                s["json_valid"] += 1
            except (ValueError, AttributeError, TypeError):
                gp = set()
            ep = {("people", x) for x in exp["entities"]["people"]} | \
                 {("places", x) for x in exp["entities"]["places"]}
            s["ent_tp"] += len(gp & ep)
            s["ent_fp"] += len(gp - ep)
            s["ent_fn"] += len(ep - gp)
            ok = gp == ep
        elif "text_contains" in exp:
            s["answer_items"] += 1
            ok = nb == 0 and all(x in out for x in exp["text_contains"])
            s["answer_ok"] += ok
        else:
            s["chat_items"] += 1
            ok = nb == 0 and not REFUSAL_RE.search(out)
            s["chat_ok"] += ok
        if not ok:
            failures.append({"id": it["id"], "kind": it["kind"], "user": it["messages"][-1]["content"],
                             "expected": exp, "got": out})
    return s, failures


def summary(s):
    div = lambda a, b: (a / b) if b else float("nan")  # noqa: E731
    p = div(s["ent_tp"], s["ent_tp"] + s["ent_fp"])
    r = div(s["ent_tp"], s["ent_tp"] + s["ent_fn"])
    return {
        "items": s["n"],
        "tool_name_accuracy": div(s["tool_name_ok"], s["tool_items"]),
        "tool_exact_match": div(s["tool_exact"], s["tool_items"]),
        "valid_json_rate": div(s["json_valid"], s["json_blocks"]),
        "refusal_accuracy": div(s["refusal_ok"], s["refusal_items"]),
        "chat_accuracy": div(s["chat_ok"], s["chat_items"]),
        "tool_answer_accuracy": div(s["answer_ok"], s["answer_items"]),
        "entity_precision": p, "entity_recall": r,
        "entity_f1": div(2 * p * r, p + r) if p == p and r == r else float("nan"),
        "counts": {k: s[k] for k in ("tool_items", "refusal_items", "chat_items", "answer_items",
                                     "ent_items", "json_blocks")},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt")
    src.add_argument("--gguf")
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the summary and failures here")
    ap.add_argument("--show", type=int, default=15, help="failures to print")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    tok = bpe.Tokenizer.load(a.tokenizer)
    model = load_ckpt(a.ckpt) if a.ckpt else load_gguf(a.gguf)
    model.eval()
    with open(a.data) as f:
        items = [json.loads(line) for line in f]
    if a.limit:
        items = items[:a.limit]
    dec = Decoder(model, tok)
    t0 = time.time()
    outputs = [dec.generate(it["messages"], it["tools"]) for it in items]
    s, failures = score(items, outputs)
    res = summary(s)
    res["seconds"] = round(time.time() - t0, 1)
    res["weights"] = a.ckpt or a.gguf
    print(json.dumps(res, indent=1))
    for f in failures[:a.show]:
        print("FAIL %(id)s %(kind)s: %(user)r\n  expected %(expected)s\n  got      %(got)r" % f)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"summary": res, "failures": failures}, f, indent=1)


if __name__ == "__main__":
    main()
