#!/usr/bin/python3
"""frame_report.py — held-out tool-call results grouped by sentence frame.

`hearth bench tools --json` scores items; this groups its tool-call items by
the sentence they were made from, with the expected argument values put back
as {slot}s ("i need light in the {room}"), over one or more held-out samples
(one report per data file). Whether a model misses values or phrasings
shows here: a frame that fails whatever its values is a phrasing the model
does not understand.

Standard library only.

Usage: frame_report.py REPORT.json DATA.jsonl [REPORT.json DATA.jsonl ...] [--min N]
  REPORT.json  `hearth bench tools --model M --data DATA.jsonl --json` output
  --min N      list frames seen at least N times (default 3)
"""

import collections
import json
import re
import sys


def frame_of(text, arguments):
    """The request with its argument values as {name} and numbers as N."""
    t = re.sub(r"[?!.,]", "", text.lower())
    # longest values first, so "cat food" is replaced before "cat"
    for k, v in sorted(arguments.items(), key=lambda kv: -len(str(kv[1]))):
        if isinstance(v, str) and len(v) > 2:
            t = re.sub(r"\b%s\b" % re.escape(v.lower()), "{%s}" % k, t)
    return re.sub(r"\b\d+(:\d+)?\b", "N", t)


def tally(pairs):
    """pairs: [(report dict, [data items])] -> {(tool, frame): [right, seen]}."""
    stat = collections.defaultdict(lambda: [0, 0])
    for rep, items in pairs:
        by_id = {it["id"]: it for it in items}
        for r in rep["replies"]:
            it = by_id[r["id"]]
            if it["kind"] != "tool_call":
                continue
            user = [m for m in it["messages"] if m["role"] == "user"][-1]["content"]
            call = it["expected"]["tool_calls"][0]
            s = stat[(call["name"], frame_of(user, call["arguments"]))]
            s[0] += bool(r["ok"])
            s[1] += 1
    return stat


def main(argv):
    min_seen = 3
    if "--min" in argv:
        i = argv.index("--min")
        min_seen = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    if not argv or len(argv) % 2:
        sys.exit(__doc__)
    pairs = []
    for rp, dp in zip(argv[::2], argv[1::2]):
        with open(rp) as f:
            rep = json.load(f)
        with open(dp) as f:
            pairs.append((rep, [json.loads(line) for line in f if line.strip()]))
    stat = tally(pairs)
    seen = sum(n for _, n in stat.values())
    right = sum(o for o, _ in stat.values())
    common = sorted(((o / n, -n, k, o, n) for k, (o, n) in stat.items() if n >= min_seen))
    full = sum(1 for c in common if c[0] == 1)
    none = sum(1 for c in common if c[0] == 0)
    print("%d tool-call items, %d right (%.1f %%), %d frames; %d seen >= %d times: "
          "%d always right, %d always wrong, %d mixed"
          % (seen, right, 100.0 * right / max(1, seen), len(stat), len(common), min_seen, full, none,
             len(common) - full - none))
    for _, _, (tool, fr), o, n in common:
        if o < n:
            print("%3d/%-3d %-15s %s" % (o, n, tool, fr))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
