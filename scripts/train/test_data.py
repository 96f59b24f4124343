#!/usr/bin/python3
"""test_data.py — checks of the training data generator and tokenizer options.

- The held-out set is disjoint from training: no training sentence frame,
  with lead-ins and tails stripped, is a held-out frame; no held-out slot
  value is ever a tool argument or an entity in training conversations.
- Invented slot values taken from the dictionary (--dict-share) are never
  a word of a held-out value or sentence frame.
- The generator is reproducible: the same seed writes the same held-out file.
- Arguments marked x-hearth-verbatim (the engine's guard holds them to the
  user's words) are whole words of the user's turn; the mark is not shown.
- bpe.train(word_pieces_only=True) never merges letters with spaces or
  punctuation, so " paris" and "\\"paris" share the pieces of "paris" (what
  lets the model copy a spoken value into a JSON string token for token).
- frame_report.py groups held-out results by the request's frame.
- The second held-out set (--heldout-set v2) draws from its own frames.
- Composed frames and invented first words (--composed-frames,
  --unk-verb-share) keep every call right and out of held-out frames;
  --fold-dev trains on the first set's frames, never the second's.
- WordNet synonyms (synonyms.py, --verb-synonyms) swap a request's opening
  verb for a common synonym, never into a held-out frame.
- Written frames (--written-frames) use exactly their kind's slots, become
  training frames only with the flag, and never when they equal a held-out
  frame of either set; the same for written small talk and requests to
  refuse (--written-chat) against the held-out ones.

Standard library only (no torch, no numpy). Exit 0 pass, 1 fail.
"""

import importlib
import json
import os
import re
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import chatml  # noqa: E402
import gen_home_data as g  # noqa: E402
import frame_report  # noqa: E402
import synonyms  # noqa: E402
import written_frames  # noqa: E402
import written_frames_b  # noqa: E402
import written_frames_c  # noqa: E402
import written_frames_d  # noqa: E402
import heldout_v2  # noqa: E402
import home_phrases  # noqa: E402

FAILS = []


def check(cond, what):
    print("%s %s" % ("ok  " if cond else "FAIL", what))
    if not cond:
        FAILS.append(what)


def heldout_values():
    pools = (g.ROOMS, g.DEVICES, g.CITIES, g.SHOP_ITEMS, g.TODO_ITEMS, g.NOTES, g.TIMER_LABELS,
             g.ALARM_LABELS, g.FIRST, g.LAST, g.PLACES_EXTRA)
    for p in pools:
        check(not set(p[0]) & set(p[1]), "slot pools disjoint: %s..." % p[1][0])
    return {v for p in pools for v in p[1]}


def strings(x):
    if isinstance(x, str):
        yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from strings(v)
    elif isinstance(x, list):
        for v in x:
            yield from strings(v)


_HELD = {}


def shipped_heldout(first_set=False):
    """The held-out items train.sh writes to assets/eval/heldout.jsonl (the second set,
    1,200, seed 1234), or the first set's 400 of seed 1234 (the file's previous content),
    generated anew once per run (a fresh list each call; the items are shared)."""
    if first_set not in _HELD:
        saved = g.HELDOUT_SET[0]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "h.jsonl")
            sys.argv = ["gen", "--out", d, "--train", "0", "--seed", "1234", "--heldout-out", path] + \
                (["--heldout", "400"] if first_set else ["--heldout", "1200", "--heldout-set", "v2"])
            g.main()
            g.HELDOUT_SET[0] = saved
            with open(path) as f:
                _HELD[first_set] = [json.loads(line) for line in f]
    return list(_HELD[first_set])


def reset_frames():
    """Forget gen_home_data's frame caches, so train_frames() follows flags set since."""
    for c in (g._TRAIN_T, g._COMPOSED_T, g._UNK_OK, g._HELD_NORMS, g._WRITTEN_SPLIT):
        c.clear()


def train_norms(frames):
    """Every training request frame of train_frames(), lead-ins and tails stripped."""
    return {home_phrases._norm(f) for k, v in frames.items() if k not in ("dropped", "chat")
            for f in v if isinstance(f, str)}


def test_disjoint():
    frames = g.train_frames()
    held = {home_phrases._norm(f) for f in g.heldout_frames()}
    train = train_norms(frames) | {home_phrases._norm(c) for c, _ in frames["chat"]}
    check(not (held & train), "no held-out frame among %d training frames (%s)"
          % (len(train), sorted(held & train)[:3]))
    heldout_values()
    # Held-out (argument, value) pairs against training's: a held-out value
    # is unseen in its role. (One word crosses roles: the held-out timer label
    # "potatoes" is a training shopping item.)
    held_pairs = set()
    for item in shipped_heldout():
        exp = item["expected"]
        for tc in exp.get("tool_calls", []):
            held_pairs.update(pairs(tc["arguments"]))
        held_pairs.update(pairs(exp.get("entities", {})))
    free = {kv for kv in held_pairs if kv[0] not in ("list", "state", "day", "time", "expression")}
    # also with most values invented, from the dictionary or as compounds
    # of training values (which must not join into a held-out one)
    saved = g.NOVEL_SHARE[0], g.DICT_SHARE[0], g.COMBO_SHARE[0]
    for novel, dict_share, combo in ((0.3, 0.0, 0.0), (0.7, 0.5, 0.0), (0.75, 0.7, 0.5)):
        g.NOVEL_SHARE[0], g.DICT_SHARE[0], g.COMBO_SHARE[0] = novel, dict_share, combo
        seen = training_values(3000)
        check(len(free) > 100 and not (seen & free),
              "%d held-out slot values, none in 3000 training conversations, %.0f %% invented, "
              "%.0f %% of those from the dictionary, %.0f %% compounds (%s)"
              % (len(free), novel * 100, dict_share * 100, combo * 100, sorted(seen & free)[:3]))
    g.NOVEL_SHARE[0], g.DICT_SHARE[0], g.COMBO_SHARE[0] = saved
    check(g._joins_heldout("upstairs bathroom", ["upstairs", "bathroom"])
          and not g._joins_heldout("potatoes honey", ["potatoes", "honey"]),
          "a compound that joins two training words into a held-out value is refused; "
          "one holding a training value that is held out in another role is not")


def training_values(n):
    """(argument, value) pairs of n training conversations' calls and entities."""
    rng = random.Random(7)
    seen = set()
    for _ in range(n):
        conv = g.conversation(rng, 0, entity_share=0.15)
        for m in conv["messages"]:
            for tc in m.get("tool_calls", []):
                seen.update(pairs(tc["arguments"]))
            if conv["kind"] == "entities" and m["role"] == "assistant":
                seen.update(pairs(json.loads(m["content"])))
    return seen


def test_dict_words():
    """Dictionary words for invented values: many, plain, and none a word of
    a held-out value or of any sentence frame (training or held-out)."""
    words = g._dict_words()
    frame_words = {w for f in g.heldout_frames(False) for w in re.findall(r"[a-z]+", f.lower())}
    check(len(words) > 20000 and all(re.fullmatch(r"[a-z]{3,12}", w) for w in words),
          "%d dictionary words, lower-case a-z, 3 to 12 letters" % len(words))
    clash = set(words) & (g._HELDOUT_WORDS | frame_words)
    check(not clash, "no dictionary word is a held-out value's or frame's word (%s)" % sorted(clash)[:3])
    # data evaluated on the second set: its words leave the dictionary too
    saved = g.HELDOUT_SET[0], list(g._DICT)
    g.HELDOUT_SET[0] = "v2"
    g._DICT.clear()
    v2_words = {w for f in g.heldout_frames() for w in re.findall(r"[a-z]+", f.lower())} - frame_words
    clash2 = set(g._dict_words()) & v2_words
    g.HELDOUT_SET[0] = saved[0]
    g._DICT[:] = saved[1]
    check(len(v2_words) > 20 and v2_words & set(words) and not clash2,
          "with --heldout-set v2 none of the %d words only the second set's frames hold is a "
          "dictionary word (%s)" % (len(v2_words), sorted(clash2)[:3]))


def pairs(args):
    for k, v in args.items():
        for s in strings(v):
            yield (k, s.lower())


def test_reproducible():
    with tempfile.TemporaryDirectory() as d:
        outs = []
        for k in range(2):
            path = os.path.join(d, "h%d.jsonl" % k)
            sys.argv = ["gen", "--out", d, "--train", "50", "--heldout", "60", "--seed", "99",
                        "--heldout-out", path]
            g.main()
            with open(path) as f:
                outs.append(f.read())
        check(outs[0] == outs[1] and outs[0].count("\n") == 60, "same seed, same held-out file")


def test_decimal_points():
    """Noise drops punctuation but not a decimal point: every call's number with a fraction
    (22.5 degrees, 23.1 + 10) is written in the user's turn as it is, or spoken ("point",
    "half"), in training and in both held-out sets alike; "225 degrees" never means 22.5."""
    rng = random.Random(12)
    convs = [g.conversation(rng, 0, entity_share=0) for _ in range(3000)]
    items = [(c, [tc for m in c["messages"] for tc in m.get("tool_calls", [])]) for c in convs]
    items += [(h, h["expected"].get("tool_calls", []))
              for h in shipped_heldout() + shipped_heldout(first_set=True)]
    n = bad = 0
    for conv, calls in items:
        user = " ".join(m["content"] for m in conv["messages"] if m["role"] == "user")
        for tc in calls:
            for v in tc["arguments"].values():
                nums = re.findall(r"\d+\.\d+", v) if isinstance(v, str) else \
                    ["%g" % v] if isinstance(v, float) and v != int(v) else []
                for x in nums:
                    n += 1
                    bad += x not in user and "point" not in user and "half" not in user
    check(n > 50 and bad == 0, "%d numbers with a fraction, all in the user's words (%d not)" % (n, bad))


def verbatim_props(conv, name):
    if conv["kind"] == "entities":
        return {"people", "places"}
    for t in conv.get("tools") or g.TOOLS:
        if t["function"]["name"] == name:
            return {k for k, v in t["function"]["parameters"]["properties"].items()
                    if v.get("x-hearth-verbatim")}
    return set()


def whole_words(value, text):
    """value is a run of whole words of text, as the guard copies: byte for
    byte but for the case of its first letter."""
    pat = "".join("[%s%s]" % (ch.lower(), ch.upper()) if i == 0 and ch.isalpha() else re.escape(ch)
                  for i, ch in enumerate(value))
    return re.search(r"(?<![A-Za-z0-9'])" + pat + r"(?![A-Za-z0-9'])", text) is not None


def test_verbatim():
    """Arguments marked x-hearth-verbatim are, in training and held-out
    alike, whole words of the user's turn (else the engine's guard would make
    the expected call impossible), and the marks are not shown to the model."""
    rng = random.Random(11)
    convs = [g.conversation(rng, 0, entity_share=0.15) for _ in range(2000)]
    held = shipped_heldout()
    asset = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../assets/eval/heldout.jsonl")
    with open(asset) as f:
        check([json.loads(line) for line in f] == held,
              "assets/eval/heldout.jsonl is what the generator writes (second set, seed 1234)")
    held += shipped_heldout(first_set=True)
    n = bad = 0
    for conv, calls in [(c, [tc for m in c["messages"] for tc in m.get("tool_calls", [])])
                        for c in convs] + \
            [(h, h["expected"].get("tool_calls", [])) for h in held]:
        user = [m["content"] for m in conv["messages"] if m["role"] == "user"]
        if conv["kind"] == "entities":
            ents = conv.get("expected", {}).get("entities") or \
                json.loads(conv["messages"][-1]["content"])
            calls = [{"name": "", "arguments": ents}]
        for tc in calls:
            marked = verbatim_props(conv, tc["name"])
            for k, v in tc["arguments"].items():
                if k in marked:
                    for s in strings(v):
                        n += 1
                        bad += not any(whole_words(s, u) for u in user)
    check(n > 1000 and bad == 0, "%d verbatim values, all whole words of the user's turn (%d not)"
          % (n, bad))
    shown = chatml.system_text("s", g.TOOLS)
    check("x-hearth" not in shown and "x-hearth-verbatim" in json.dumps(g.TOOLS),
          "x-hearth-verbatim marks the tools and is not rendered")


def test_word_pieces():
    text = ("turn on the light in paris. \"paris\": add parsley to the list, \"parsley\" "
            "set a timer for ten minutes {\"place\": \"paris\"} ") * 20
    counts = bpe.count_words([(text, 1)], [])
    plain = bpe.train(counts, 60)
    wp = bpe.train(counts, 60, word_pieces_only=True)
    mixed = [a + b for a, b in plain if bpe._wordish(a) != bpe._wordish(b)]
    check(bool(mixed), "plain BPE does merge across classes (%d such merges)" % len(mixed))
    check(all(bpe._wordish(a) == bpe._wordish(b) for a, b in wp), "word-piece merges stay in one class")
    tok = bpe.Tokenizer.build(wp, [], [], 256 + len(wp))
    a = tok.encode(" paris", special=False)
    b = tok.encode("\"paris", special=False)
    check(a[1:] == b[1:] and len(a) >= 2, "\" paris\" and '\"paris' share the word's pieces")


def test_extract_grammar():
    """--extract-grammar: composed extraction frames, still disjoint from the
    held-out ones, their words kept out of the dictionary, no held-out name
    or place in training conversations."""
    g.EXTRACT_GRAMMAR[0] = True
    g._TRAIN_T.clear()
    del g._DICT[:]
    try:
        ex = g.train_frames()["extract"]
        held = {home_phrases._norm(f) for f in g.heldout_frames()}
        check(len(ex) > 5000 and not held & {home_phrases._norm(f) for f in ex},
              "%d training extraction frames, none a held-out frame" % len(ex))
        check(sum("{" not in f for f in ex) > 100, "some training extraction sentences name nobody")
        words = set(g._dict_words())
        check(not words & {w for f in ex for w in re.findall(r"[a-z]+", f)},
              "no dictionary word is a word of a composed extraction frame")
        saved = g.NOVEL_SHARE[0], g.DICT_SHARE[0]
        g.NOVEL_SHARE[0], g.DICT_SHARE[0] = 0.75, 0.7
        rng = random.Random(11)
        seen = set()
        for _ in range(1500):
            msgs, info = g.extraction(rng, 0)
            seen.update(pairs(info["entities"]))
        g.NOVEL_SHARE[0], g.DICT_SHARE[0] = saved
        held_vals = {v for p in (g.FIRST, g.LAST, g.CITIES, g.PLACES_EXTRA) for v in p[1]}
        clash = [v for _, v in seen if any(w in held_vals for w in v.lower().split(" "))]
        check(len(seen) > 1000 and not clash,
              "1500 composed extraction sentences, no held-out name or place (%s)" % clash[:3])
    finally:
        g.EXTRACT_GRAMMAR[0] = False
        g._TRAIN_T.clear()
        del g._DICT[:]


def test_frame_report():
    """frame_report groups held-out items by request with the values taken out."""
    def item(i, text, name, args):
        return {"id": i, "kind": "tool_call", "messages": [{"role": "user", "content": text}],
                "expected": {"tool_calls": [{"name": name, "arguments": args}]}}
    items = [item(0, "Add cat food to the shopping list.", "list_add", {"list": "shopping", "item": "cat food"}),
             item(1, "add catnip to the shopping list", "list_add", {"list": "shopping", "item": "catnip"}),
             item(2, "set a timer for 12 minutes", "set_timer", {"duration_seconds": 720}),
             {"id": 3, "kind": "chat", "messages": [{"role": "user", "content": "hi"}], "expected": {}}]
    rep = {"replies": [{"id": 0, "ok": True}, {"id": 1, "ok": False}, {"id": 2, "ok": True},
                       {"id": 3, "ok": False}]}
    stat = frame_report.tally([(rep, items)])
    check(stat == {("list_add", "add {item} to the {list} list"): [1, 2],
                   ("set_timer", "set a timer for N minutes"): [1, 1]},
          "frame_report: one frame whatever the values, numbers as N, other kinds left out: %s"
          % dict(stat))


def _frame_re(f):
    """A regex for the user turns a frame makes (slots any text; lead-ins, tails, case and
    punctuation around it allowed)."""
    parts = [".+" if x.startswith("{") else re.escape(x) for x in g._split_template(f.lower())]
    return re.compile(r"(^|.* )%s( .*|$)" % "".join(parts))


def _turn(item):
    return re.sub(r"[?!.,]", "", [m for m in item["messages"] if m["role"] == "user"][-1]["content"].lower())


def test_heldout_v2():
    """--heldout-set v2 draws held-out requests from heldout_v2's frames (the blind test
    set), none of which is a training frame or a first-set frame."""
    v2 = [f for fs in heldout_v2.FRAMES.values() for f in fs]
    v1 = {home_phrases._norm(f) for k in g._OWN_FRAMES for f in g.T[k][1]}
    check(len(v2) > 100 and not v1 & {home_phrases._norm(f) for f in v2},
          "%d second-set frames, none a first-set frame" % len(v2))
    check(set(v2) <= set(g.heldout_frames()), "second-set frames are among those training excludes")
    saved = g.HELDOUT_SET[0]
    with tempfile.TemporaryDirectory() as d:
        got = {}
        for name in ("v1", "v2"):
            path = os.path.join(d, name + ".jsonl")
            sys.argv = ["gen", "--out", d, "--train", "0", "--heldout", "300", "--seed", "99",
                        "--heldout-set", name, "--heldout-out", path]
            g.main()
            with open(path) as f:
                got[name] = [_turn(it) for it in map(json.loads, f) if it["kind"] == "tool_call"]
    g.HELDOUT_SET[0] = saved
    only1 = [_frame_re(f) for k in g._OWN_FRAMES if k in heldout_v2.FRAMES for f in g.T[k][1]]
    only2 = [_frame_re(f) for f in v2]

    def share(turns, res):
        return sum(any(r.match(t) for r in res) for t in turns) / len(turns)
    a, b = share(got["v2"], only2), share(got["v2"], only1)
    c, e = share(got["v1"], only1), share(got["v1"], only2)
    check(a > 0.5 and c > 0.5 and b < 0.15 and e < 0.15,
          "v2 requests match second-set frames (%.0f %%; first-set %.0f %%), v1 requests first-set ones "
          "(%.0f %%; second-set %.0f %%)" % (100 * a, 100 * b, 100 * c, 100 * e))


def test_composed_and_unknown_verbs():
    """--composed-frames: labels before and after every unlabelled timer/alarm frame, none
    a held-out frame. --unk-verb-share: only frames whose other words fix the call get an
    invented first word, and that word never reaches an argument."""
    saved = g.COMPOSED_FRAMES[0], g.UNK_VERB_SHARE[0]
    g.COMPOSED_FRAMES[0], g.UNK_VERB_SHARE[0] = True, 1.0
    reset_frames()
    g.train_frames()
    comp = g._COMPOSED_T
    held = {home_phrases._norm(f) for f in g.heldout_frames()}
    n = sum(len(v) for v in comp.values())
    check(n > 1000 and "for {label}, set an alarm for {time}" in comp["set_alarm_label"]
          and "set a timer for {dur}, call it {label}" in comp["set_timer_label"]
          and not held & {home_phrases._norm(f) for v in comp.values() for f in v},
          "%d composed frames, labels before and after, none a held-out frame" % n)
    ok = g._UNK_OK
    check("remove {item} from the shopping list" in ok and "delete {todo} from the todo list" in ok
          and "turn on the {room} lights" in ok    # "on the {room} lights" says on
          and not {"activate the {room} lights", "kill the {room} lights", "activate the {room} lights please",
                   "open the {room} blinds", "close the {room} blinds", "start the {device}"} & ok,
          "%d frames may take an unknown verb; none where the verb decides the call" % len(ok))
    rng = random.Random(5)
    frame_words = set(re.findall(r"[a-z']+", " ".join(str(f) for v in g.train_frames().values()
                                                    if isinstance(v, list) for f in v).lower()))
    invented = leaked = 0
    for _ in range(1500):
        conv = g.conversation(rng, 0, noise=0.0, entity_share=0)
        ms = conv["messages"]
        for i, m in enumerate(ms[:-1]):
            if m["role"] != "user" or not ms[i + 1].get("tool_calls"):
                continue
            words = m["content"].lower().replace(",", "").split()
            new = [w for w in words if w.isalpha() and w not in frame_words]
            vals = [str(v).lower() for v in ms[i + 1]["tool_calls"][0]["arguments"].values()]
            if not new or words[0] != new[0]:
                continue
            # a frame that opens with its value ("{item} is bought, ...") is not a verb
            if any(" ".join(words).startswith(v) for v in vals):
                continue
            invented += 1
            leaked += any(new[0] in v.split() for v in vals)
    g.COMPOSED_FRAMES[0], g.UNK_VERB_SHARE[0] = saved
    reset_frames()
    check(invented > 50 and leaked < invented * 0.05,
          "%d requests open with an invented verb; in %d it is also an argument word (by chance: a "
          "value's own invented word)" % (invented, leaked))


def test_fold_dev():
    """--fold-dev trains on the first set's frames of the keys the second set covers, never on
    a second-set frame or the first set's other frames; it refuses to evaluate on the first set."""
    reset_frames()
    g.FOLD_DEV[0] = True
    fr = g.train_frames()
    v2 = {home_phrases._norm(f) for fs in heldout_v2.FRAMES.values() for f in fs}
    ok = ("illuminate the {room}" in fr["light_on"] and "abort the timer" not in fr["cancel_timer"]
          and not train_norms(fr) & v2)
    g.FOLD_DEV[0] = False
    reset_frames()
    check(ok, "--fold-dev: first-set frames of covered keys are training frames, others and the "
              "second set's are not")
    sys.argv = ["gen", "--out", tempfile.gettempdir(), "--train", "0", "--fold-dev"]
    try:
        g.main()
        refused = False
    except SystemExit:
        refused = True
    check(refused, "--fold-dev without --heldout-set v2 is refused")


def _use_written(opts, on):
    """Set gen_home_data's state as its options opts (one batch of written frames) would."""
    if opts[0] == "--written-frames":
        g.WRITTEN_FRAMES[0] = on
    else:
        g.WRITTEN_BATCHES[:] = [importlib.import_module("written_frames_" + opts[1])] if on else []


def _written_batch(frames, opts, least):
    """One batch of written frames: each frame has its kind's slots (those of the kind's training
    frames) and speech-like text; with its options opts training has them minus every held-out
    frame of both sets, and requests are drawn from them; without them they stay out."""
    opt = " ".join(opts)
    bad = []
    for k, fs in frames.items():
        # every slot once: a kind's training frames all use the same slots
        slots = {tuple(sorted(re.findall(r"\{(\w+)\}", f))) for f in g.T[k][0]} if k in g.T else set()
        bad += [(k, f) for f in fs if len(slots) != 1 or tuple(sorted(re.findall(r"\{(\w+)\}", f))) not in slots
                or not re.fullmatch(r"[a-z0-9' %{}]+", f)]
    n = sum(len(fs) for fs in frames.values())
    check(n >= least and not bad, "%s: %d written frames, each with its kind's slots (bad: %s)"
          % (opt, n, bad[:3]))
    held = {home_phrases._norm(f) for f in g.heldout_frames()}
    mine = {(k, f) for k, fs in frames.items() for f in fs}
    fresh = {(k, f) for k, f in mine if f not in g.train_frames()[k]}
    reset_frames()
    _use_written(opts, True)
    fr = g.train_frames()
    kept = {(k, f) for k, f in mine if f in fr[k]}
    with tempfile.TemporaryDirectory() as d:
        sys.argv = ["gen", "--out", d, "--train", "3000", "--heldout", "0", "--seed", "5"] + opts
        g.main()
        with open(os.path.join(d, "train.jsonl")) as f:
            turns = [_turn(c) for c in map(json.loads, f) if c["kind"] == "tool_call"]
    _use_written(opts, False)
    reset_frames()
    dropped = {(k, f) for k, f in mine if home_phrases._norm(f) in held}
    check(fresh and dropped and kept == mine - dropped and not train_norms(fr) & held,
          "%s trains on %d of them; the %d equal to a held-out frame stay out; "
          "%d were not training frames without the flag" % (opt, len(kept), len(dropped), len(fresh)))
    res = [_frame_re(f) for k, f in fresh - dropped if len(f.split(" ")) > 3]
    hits = sum(any(r.match(t) for r in res) for t in turns[:600])
    check(hits >= 20, "%s: %d of 600 training requests come from written frames the grammar lacks"
          % (opt, hits))


def test_written_frames():
    """The written batches (written_frames, _b to _h: --written-frames, --written-batches), and
    written_frames' small talk and requests to refuse (--written-chat)."""
    _written_batch(written_frames.FRAMES, ["--written-frames"], 1000)
    for b in g.BATCH_LETTERS:
        _written_batch(importlib.import_module("written_frames_" + b).FRAMES, ["--written-batches", b], 2000)
    reset_frames()
    g.WRITTEN_CHAT[0] = True
    fr = g.train_frames()
    chat, oos = {c for c, _ in fr["chat"]}, set(fr["oos"])
    g.WRITTEN_CHAT[0] = False
    reset_frames()
    held_chat = {home_phrases._norm(c) for c, _ in g.CHAT[1]} | {home_phrases._norm(o) for o in g.OUT_OF_SCOPE[1]}
    lines = [c for c, _ in written_frames.CHAT] + written_frames.OOS
    check(len(lines) > 400 and all((c in chat or c in oos) != (home_phrases._norm(c) in held_chat)
                                   for c in lines)
          and not {c for c, _ in written_frames.CHAT} & set(written_frames.OOS),
          "--written-chat trains on every written small-talk line and request to refuse but the "
          "held-out ones (%d of %d)" % (sum(home_phrases._norm(c) in held_chat for c in lines), len(lines)))


def test_written_share():
    """--written-share P: a kind's requests come from its written-only frames P of the time,
    not as often as their number says (add_note: most of its frames once every batch is in)."""
    reset_frames()
    g.WRITTEN_FRAMES[0] = True
    g.WRITTEN_BATCHES[:] = [written_frames_b, written_frames_c, written_frames_d]
    g.train_frames()
    fill = lambda f: home_phrases._norm(f.replace("{note}", "zzq"))  # noqa: E731
    mine = {fill(f) for f in g._WRITTEN_SPLIT["add_note"][0]}
    theirs = {fill(f) for f in g._WRITTEN_SPLIT["add_note"][1]}
    shares = []
    for p in (0.0, 0.5):
        g.WRITTEN_SHARE[0] = p
        rng = random.Random(3)
        turns = [home_phrases._norm(re.sub(r"[?!.,]", "", g.user_turn(rng, 0, "add_note", {"note": "zzq"},
                                                                     False).lower())) for _ in range(2000)]
        shares.append(sum(t in mine and t not in theirs for t in turns) / len(turns))
    g.WRITTEN_SHARE[0] = 0.0
    g.WRITTEN_FRAMES[0] = False
    g.WRITTEN_BATCHES[:] = []
    reset_frames()
    check(len(mine) > 100 and shares[0] > 0.7 and 0.4 < shares[1] < 0.6,
          "add_note: %d written-only frames; requests from them %.2f of the time, %.2f with "
          "--written-share 0.5" % (len(mine), shares[0], shares[1]))


def test_verb_synonyms():
    """synonyms.py reads WordNet's common senses only; a request's opening verb (a phrasal verb
    whole) becomes a synonym, never a modal or a slot; --verb-synonyms keeps held-out frames out."""
    wn = synonyms.WordNet()
    rng = random.Random(1)
    check("shut" in wn.synonyms("close", "verb") and "near" not in wn.synonyms("close", "verb")
          and wn.swap_verb(rng, "turn off the {room} lights") == "switch off the {room} lights"
          and wn.swap_verb(rng, "can you close the {room} blinds") is None
          and wn.swap_verb(rng, "{room} lights off") is None,
          "close -> shut (not near), turn off -> switch off, no swap of 'can' or a slot")
    reset_frames()
    g.HELDOUT_SET[0], g.VERB_SYNONYMS[0] = "v2", 1.0
    held = {home_phrases._norm(f) for f in g.heldout_frames()}
    fr = g.train_frames()
    out = [g._verb_synonym(rng, f) for k in g._OWN_FRAMES if k != "extract" for f in fr[k]]
    firsts = {f.split(" ")[0] for k in g._OWN_FRAMES for f in fr[k]}
    g.HELDOUT_SET[0], g.VERB_SYNONYMS[0] = "v1", 0.0
    reset_frames()
    new = [o for o in out if o.split(" ")[0] not in firsts]
    check(len(new) > 100 and not {home_phrases._norm(o) for o in out} & held,
          "%d of %d training frames open with a verb no frame opens with; none is a held-out frame"
          % (len(new), len(out)))


def test_lexicon():
    """lexicon.py: the words of the user turns, rare ones and typos of common ones left out."""
    import lexicon
    turns = (["set a timer"] * 400 + ["set a tmier"] * 40 + ["weather in lima"] * 35 +
             ["rare word"] * 5)
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for t in turns:
            f.write(json.dumps({"messages": [{"role": "system", "content": "ignored ignored"},
                                             {"role": "user", "content": t.upper()},
                                             {"role": "assistant", "content": "timer timer"}]}) + "\n")
    lex = lexicon.lexicon([f.name], min_count=30, typo_ratio=10)
    os.unlink(f.name)
    check(lex == [("a", 440), ("set", 440), ("timer", 400), ("in", 35), ("lima", 35), ("weather", 35)],
          "lexicon: user turns only, lower case, >= 30 times, 'tmier' left out as a typo of 'timer' "
          "(%s)" % lex)
    e = lexicon.edits1("ab")
    check("tmier" in lexicon.edits1("timer") and "ab" not in e and {"b", "ba", "xb", "abc"} <= e
          and "abcd" not in e and len(e) == 129,
          "edits1: drops, swaps, changes and inserts, the word itself not among them")


def test_entity_bounds():
    """The extraction schema bounds its lists and names (so a guarded reply
    always ends within the bench's allowance), and no expected reply, in
    training or either held-out set, needs more than the bounds allow."""
    schema = g.ENTITY_FORMAT["json_schema"]["schema"]["properties"]
    most = {k: (v["maxItems"], v["items"]["maxLength"]) for k, v in schema.items()}
    rng = random.Random(13)
    lists = []
    for _ in range(2000):
        c = g.conversation(rng, 0, entity_share=0.5)
        if c["kind"] == "entities":
            lists.append(json.loads(c["messages"][-1]["content"]))
    held = shipped_heldout() + shipped_heldout(first_set=True)
    lists += [h["expected"]["entities"] for h in held if h["kind"] == "entities"]
    over = [e for e in lists for k, (n, m) in most.items()
            if len(e[k]) > n or any(len(x) > m for x in e[k])]
    check(len(lists) > 500 and not over, "%d entity replies within %s (%d over: %s)"
          % (len(lists), most, len(over), over[:3]))


def main():
    test_entity_bounds()
    test_lexicon()
    test_written_share()
    test_verb_synonyms()
    test_written_frames()
    test_frame_report()
    test_heldout_v2()
    test_composed_and_unknown_verbs()
    test_fold_dev()
    test_word_pieces()
    test_dict_words()
    test_verbatim()
    test_decimal_points()
    test_disjoint()
    test_reproducible()
    test_extract_grammar()
    print("%d failed" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
