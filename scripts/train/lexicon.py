"""lexicon.py — the words of the training requests, with their counts, for the GGUF.

The model knows only the words its training requests used; a typed or
misheard word one letter off is to it a word never seen. export_gguf.py
stores these words (hearth.lexicon.words, hearth.lexicon.counts) so the
server can mend such typos towards them before the model reads a request
(pipeline/spell.c). Only words seen at least --min-count times are kept (a word the model saw
a handful of times is not worth mending towards), and not the generator's
own typos of common words: a word one edit from a word --typo-ratio times
commoner ("tmier" 38 times beside "timer" 10,431) is left out, so such a
typo is mended to the word it stands for. (An English word left out this
way, "whether" beside "weather", is still never mended: the server checks
a word against the English dictionary first.)

Usage: lexicon.py --data train.jsonl [...] [--min-count 30] [--typo-ratio 20]   (prints word count lines)
"""

import argparse
import collections
import json
import re

MIN_COUNT = 30
TYPO_RATIO = 20
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def edits1(w):
    """The strings one edit from w: a letter dropped, swapped with the next,
    changed or inserted (pipeline/spell.c mends across the same edits)."""
    out = set()
    for i in range(len(w) + 1):
        a, b = w[:i], w[i:]
        if b:
            out.add(a + b[1:])
        if len(b) > 1:
            out.add(a + b[1] + b[0] + b[2:])
        for c in _LETTERS:
            if b:
                out.add(a + c + b[1:])
            out.add(a + c + b)
    out.discard(w)
    return out


def lexicon(paths, min_count=MIN_COUNT, typo_ratio=TYPO_RATIO):
    """[(word, count)] of the lower-cased letter runs of the user turns in the
    training files, count >= min_count, less any one edit from a word
    typo_ratio times commoner; commonest first (ties by word)."""
    cnt = collections.Counter()
    for path in paths:
        with open(path) as f:
            for line in f:
                for m in json.loads(line)["messages"]:
                    if m.get("role") == "user" and isinstance(m.get("content"), str):
                        cnt.update(re.findall(r"[a-z]+", m["content"].lower()))
    keep = {w: n for w, n in cnt.items() if n >= min_count}
    typos = {w for w, n in keep.items() if any(keep.get(v, 0) >= typo_ratio * n for v in edits1(w))}
    return sorted(((w, n) for w, n in keep.items() if w not in typos), key=lambda x: (-x[1], x[0]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", required=True)
    ap.add_argument("--min-count", type=int, default=MIN_COUNT)
    ap.add_argument("--typo-ratio", type=float, default=TYPO_RATIO)
    a = ap.parse_args()
    for w, n in lexicon(a.data, a.min_count, a.typo_ratio):
        print(w, n)


if __name__ == "__main__":
    main()
