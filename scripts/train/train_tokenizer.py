"""train_tokenizer.py — learn a byte-level BPE vocabulary from chat conversations.

Reads a JSONL of conversations (as gen_home_data.py writes them), renders
each in ChatML (chatml.py), counts qwen2 pre-tokens and learns merges until
the vocabulary (256 bytes + merges + special tokens) reaches --vocab-size.

The built-in tool block (its header, footer and each tool's JSON line, see
chatml.tool_block_tokens) becomes user-defined tokens: the system turn
with every tool is then ~70 tokens instead of ~1,100, which makes training
several times cheaper and spares the model from reading a long prompt that
never changes (and cuts the engine's prefill of it to match).
A system prompt shared by every conversation is counted once per
--prefix-every conversations, so its words get tokens without crowding out
the words of the conversations themselves.

Usage: train_tokenizer.py --data train.jsonl --out tokenizer.json [--vocab-size 2048]
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import chatml  # noqa: E402
import gen_home_data  # noqa: E402


def corpus(path, limit, prefix_every):
    seen_prefix = {}
    with open(path) as f:
        for n, line in enumerate(f):
            if n >= limit:
                break
            d = json.loads(line)
            segs = chatml.render(d["messages"], gen_home_data.TOOLSETS[d["toolset"]])
            head, rest = segs[0][0], "".join(t for t, _ in segs[1:])
            k = seen_prefix.get(head, 0)
            seen_prefix[head] = k + 1
            if k % prefix_every == 0:
                yield head, 1
            yield rest, 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab-size", type=int, default=2048)
    ap.add_argument("--limit", type=int, default=30000, help="conversations to count")
    ap.add_argument("--prefix-every", type=int, default=20)
    ap.add_argument("--word-pieces", action="store_true",
                    help="never merge letters/digits with spaces or punctuation (see bpe.train)")
    a = ap.parse_args()
    t0 = time.time()
    user = chatml.USER_DEFINED_TOKENS + chatml.tool_block_tokens(gen_home_data.TOOLS)
    specials = chatml.CONTROL_TOKENS + user
    counts = bpe.count_words(corpus(a.data, a.limit, a.prefix_every), specials)
    n_merges = a.vocab_size - 256 - len(specials)
    merges = bpe.train(counts, n_merges, a.word_pieces)
    tok = bpe.Tokenizer.build(merges, chatml.CONTROL_TOKENS, user, a.vocab_size)
    tok.save(a.out)
    print("tokenizer: %d distinct pre-tokens, %d merges, vocab %d, %.1f s -> %s"
          % (len(counts), len(merges), len(tok.tokens), time.time() - t0, a.out))


if __name__ == "__main__":
    main()
