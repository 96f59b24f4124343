"""train_lm.py — train a small Llama-architecture chat model on rendered conversations.

Input: a JSONL of conversations ({"messages", "toolset"} as gen_home_data.py
writes them) and a tokenizer (train_tokenizer.py). Each conversation is
rendered in ChatML (chatml.py); the loss is on assistant tokens only
(assistant content and its <|im_end|>).

Batches group conversations with the same system turn (the same tool set),
so the system turn is run once per batch as a shared prefix
(Llama.forward_shared_prefix) and only the rest is padded and batched.
Matmuls run in bfloat16 autocast (AMX/AVX512-BF16 make them ~10x faster
than float32 on CPUs that have them); weights and the optimizer stay float32.

With the tool block as user-defined tokens (train_tokenizer.py) the shared
system turn is ~70 tokens. For a long tool block (other tokenizers) two
optional remedies remain: --short-steps trains the first steps without the
tool block, and --subset-start/--subset-end show a share of the batches a
random subset of the tools.

Deterministic for a given seed, data and step count (one process, fixed
thread count). Writes OUT/model.pt (weights + config) every --ckpt-every
steps and at the end, and a log line per step.

Usage: train_lm.py --data train.jsonl --tokenizer tok.json --out DIR [--steps N] ...
"""

import argparse
import json
import math
import os
import random
import shutil
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import chatml  # noqa: E402
import gen_home_data  # noqa: E402
import llama_model  # noqa: E402
from llama_model import Config, Llama  # noqa: E402


# ---------------------------------------------------------------------------
# Data: conversations -> (prefix ids, suffix ids, trainable flags)

CALL_WEIGHT = [1.0]   # --call-weight


def tokenize_conversation(tok, conv):
    """Returns (prefix text, suffix ids, suffix loss weights: 0 = not trained).

    Replies that are a tool call or JSON (entity extraction) weigh
    CALL_WEIGHT: their few argument tokens are what a user's request hangs
    on, and the rest of such a reply is fixed syntax the model learns early.
    """
    segs = chatml.render(conv["messages"], gen_home_data.TOOLSETS[conv["toolset"]])
    prefix = segs[0][0]
    ids, flags = [], []
    for text, trainable in segs[1:]:
        t = tok.encode(text)
        ids += t
        w = 0.0
        if trainable:
            w = CALL_WEIGHT[0] if (text.startswith("<tool_call>") or text.startswith("{")) else 1.0
        flags += [w] * len(t)
    return prefix, ids, flags


def load_data(tok, path, limit, max_len, toolset_map=None, check=200):
    """Group conversations by their system turn: {prefix text: [(ids, flags)]}.

    toolset_map renames tool sets (e.g. {"home": "none"} renders the same
    conversations without the tool block).
    """
    groups = {}
    with open(path) as f:
        for n, line in enumerate(f):
            if n >= limit:
                break
            conv = json.loads(line)
            if toolset_map:
                conv["toolset"] = toolset_map.get(conv["toolset"], conv["toolset"])
            prefix, ids, flags = tokenize_conversation(tok, conv)
            if n < check:
                # Segment-wise tokenization must equal tokenizing the whole
                # text, or training would see token boundaries the engine never makes.
                full = chatml.render_text(conv["messages"], gen_home_data.TOOLSETS[conv["toolset"]])
                if tok.encode(full) != tok.encode(prefix) + ids:
                    raise RuntimeError("segment tokenization differs from whole-text tokenization")
            if len(ids) > max_len:
                continue
            groups.setdefault(prefix, []).append((ids, flags))
    return groups


def make_batches(rng, groups, batch_size, pad_id):
    """Length-bucketed batches, each from one prefix group, in shuffled order."""
    batches = []
    for prefix, items in groups.items():
        items = items[:]
        rng.shuffle(items)
        chunk = batch_size * 32
        for c in range(0, len(items), chunk):
            part = sorted(items[c:c + chunk], key=lambda x: len(x[0]))
            for b in range(0, len(part), batch_size):
                sel = part[b:b + batch_size]
                if len(sel) == batch_size:
                    batches.append((prefix, sel))
    rng.shuffle(batches)
    return batches


def collate(tok, prefix, sel, pad_id):
    S = max(len(ids) for ids, _ in sel)
    suffix = torch.full((len(sel), S), pad_id, dtype=torch.long)
    target = torch.full((len(sel), S), -1, dtype=torch.long)
    weight = torch.zeros((len(sel), S))
    for b, (ids, flags) in enumerate(sel):
        suffix[b, :len(ids)] = torch.tensor(ids)
        # position t predicts token t+1; keep only trainable targets
        for t in range(len(ids) - 1):
            if flags[t + 1]:
                target[b, t] = ids[t + 1]
                weight[b, t] = flags[t + 1]
    pick = target >= 0
    return torch.tensor(tok.encode(prefix)), suffix, pick, target[pick], weight[pick]


# ---------------------------------------------------------------------------
# Training loop

def lr_at(step, steps, peak, warmup, floor=0.1):
    if step < warmup:
        return peak * (step + 1) / warmup
    p = (step - warmup) / max(1, steps - warmup)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p)))


def save(path, model, cfg, tok_path, step, meta):
    tmp = path + ".tmp"
    torch.save({"config": cfg.to_dict(), "state": model.state_dict(), "step": step,
                "tokenizer": tok_path, "meta": meta}, tmp)
    os.replace(tmp, path)


def grow_layers(model, state, old_n):
    """Load a shallower model's weights into a deeper one without changing what it computes.

    The old layers keep their order; the new ones are spread among them,
    each a copy of the old layer before it with its two residual output
    projections (wo, w_down) zeroed, so at step 0 every new layer adds
    nothing and the model is exactly the old one. The zeroed projections
    get gradients at once (their inputs are not zero), so the new layers
    start to contribute from the first step: more capacity without
    throwing away what the old model learnt.
    """
    new_n = len(model.layers)
    src = []
    for j in range(old_n):
        extra = (j + 1) * new_n // old_n - j * new_n // old_n
        src += [(j, False)] + [(j, True)] * (extra - 1)
    mapped = {k: v for k, v in state.items() if not k.startswith("layers.")}
    for i, (j, fresh) in enumerate(src):
        pre = "layers.%d." % j
        for k, v in state.items():
            if k.startswith(pre):
                name = k[len(pre):]
                zero = fresh and name in ("wo.weight", "w_down.weight")
                mapped["layers.%d.%s" % (i, name)] = torch.zeros_like(v) if zero else v.clone()
    model.load_state_dict(mapped)
    print("grown: %d -> %d layers, new layers after old %s"
          % (old_n, new_n, [j for j, fresh in src if fresh]), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--wd", type=float, default=0.05)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=768)
    ap.add_argument("--max-seq", type=int, default=2048)
    ap.add_argument("--max-suffix", type=int, default=400)
    ap.add_argument("--limit", type=int, default=1000000, help="conversations to load")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--ckpt-every", type=int, default=25)
    ap.add_argument("--keep-from", type=int, default=0,
                    help="from this step on, also keep each checkpoint as OUT/model-STEP.pt "
                         "(for averaging the end of a run: average_ckpt.py)")
    ap.add_argument("--no-bf16", action="store_true")
    ap.add_argument("--init", help="start from this checkpoint's weights")
    ap.add_argument("--grow", action="store_true",
                    help="--init may have fewer layers: insert new ones that start as identity "
                         "(see grow_layers)")
    ap.add_argument("--stop-after", type=int, default=0,
                    help="stop after this many steps (the LR schedule still spans --steps)")
    ap.add_argument("--subset-start", type=float, default=0.0,
                    help="probability, at step 0, that a batch of tool conversations sees a random "
                         "subset of the tools instead of the whole tool block")
    ap.add_argument("--subset-end", type=float, default=0.0,
                    help="the same probability at the last step (linear in between)")
    ap.add_argument("--short-steps", type=int, default=0,
                    help="first steps train without the tool block (curriculum)")
    ap.add_argument("--call-weight", type=float, default=1.0,
                    help="loss weight of tool-call and JSON replies (see tokenize_conversation)")
    ap.add_argument("--dropout", type=float, default=0.0,
                    help="residual dropout (tried against the templates' ~0.01 training loss; "
                         "not used by train.sh: see assets/MODEL_CARD.md)")
    ap.add_argument("--prefix-grad", action="store_true",
                    help="backpropagate through the shared prefix (slower)")
    a = ap.parse_args()

    CALL_WEIGHT[0] = a.call_weight
    llama_model.DROPOUT[0] = a.dropout
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    t0 = time.time()
    tok = bpe.Tokenizer.load(a.tokenizer)
    pad_id = tok.id[chatml.ENDOFTEXT]
    groups = load_data(tok, a.data, a.limit, a.max_suffix)
    # Curriculum: with ~1100 tokens of tool block in front, attention starts
    # out spread over the whole prefix and the few tokens of the request get
    # almost no gradient; the model sits on a context-free plateau for
    # hundreds of steps. The first --short-steps steps therefore see the same
    # conversations without the tool block, where learning to read the
    # request is quick (and cheap); the rest train on the real prompt.
    short = load_data(tok, a.data, a.limit, a.max_suffix, {"home": "none"}) if a.short_steps else {}
    for name, g in (("full", groups), ("short", short)):
        print("data %s: %s conversations in %d prefix groups (%s), %.1f s"
              % (name, sum(len(v) for v in g.values()), len(g),
                 ", ".join("%d tok prefix: %d" % (len(tok.encode(p)), len(v)) for p, v in g.items()),
                 time.time() - t0), flush=True)

    cfg = Config(vocab_size=len(tok.tokens), dim=a.dim, n_layers=a.layers, n_heads=a.heads,
                 n_kv_heads=a.kv_heads, ffn_dim=a.ffn, max_seq=a.max_seq)
    model = Llama(cfg)
    if a.init:
        # continue from a checkpoint's weights (a new optimizer and LR schedule)
        ck = torch.load(a.init, map_location="cpu")
        if a.grow and dict(ck["config"], n_layers=cfg.n_layers) == cfg.to_dict() \
                and ck["config"]["n_layers"] < cfg.n_layers:
            grow_layers(model, ck["state"], ck["config"]["n_layers"])
        elif ck["config"] != cfg.to_dict():
            raise ValueError("--init checkpoint has config %s" % ck["config"])
        else:
            model.load_state_dict(ck["state"])
    n_params = sum(p.numel() for p in model.parameters())
    print("model: %s, %d parameters" % (cfg.to_dict(), n_params), flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)

    full_home = chatml.render([{"role": "system", "content": gen_home_data.SYSTEM_PROMPT}],
                              gen_home_data.TOOLS)[0][0]

    def subset_prob(step):
        return a.subset_start + (a.subset_end - a.subset_start) * step / a.steps

    batches = []
    step, seen, t_train = 0, 0, time.time()
    ckpt = os.path.join(a.out, "model.pt")
    meta = {"args": vars(a), "params": n_params}
    while step < min(a.steps, a.stop_after or a.steps):
        if step == a.short_steps:
            batches = []                 # phase change: drop the short-prompt batches
        if not batches:
            batches = make_batches(rng, short if step < a.short_steps else groups, a.batch, pad_id)
        prefix, sel = batches.pop()
        if prefix == full_home and (a.subset_start or a.subset_end) and rng.random() < subset_prob(step):
            # the same conversations behind a shorter tool block: a random
            # subset of the tools, in their usual order (see --subset-start)
            keep = sorted(rng.sample(range(len(gen_home_data.TOOLS)), rng.randrange(len(gen_home_data.TOOLS))))
            prefix = chatml.render([{"role": "system", "content": gen_home_data.SYSTEM_PROMPT}],
                                   [gen_home_data.TOOLS[i] for i in keep])[0][0]
        pre, suffix, pick, target, weight = collate(tok, prefix, sel, pad_id)
        lr = lr_at(step, a.steps, a.lr, a.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not a.no_bf16):
            logits = model.forward_shared_prefix(pre, suffix, pick, a.prefix_grad)
        loss = (F.cross_entropy(logits.float(), target, reduction="none") * weight).sum() / weight.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        seen += len(sel)
        el = time.time() - t_train
        print("step %d/%d loss %.4f lr %.2e gnorm %.2f seq %d convs %d elapsed %.0fs (%.1f s/step)"
              % (step, a.steps, loss.item(), lr, gn, suffix.shape[1], seen, el, el / step), flush=True)
        if step % a.ckpt_every == 0 or step == a.steps or step == a.stop_after:
            meta.update({"train_seconds": el, "conversations_seen": seen})
            save(ckpt, model, cfg, os.path.abspath(a.tokenizer), step, meta)
            if a.keep_from and step >= a.keep_from:
                shutil.copyfile(ckpt, os.path.join(a.out, "model-%d.pt" % step))
    print("done: %d steps, %d conversations, %.0f s" % (step, seen, time.time() - t_train), flush=True)


if __name__ == "__main__":
    main()
