#!/usr/bin/env bash
# e2e: the shipped default model, assets/hearth-tiny.q8_0.gguf, on forty
# (guard mode) or 1,200 (accuracy mode) held-out requests made fresh
# by scripts/train/gen_home_data.py (the blind second held-out set's
# templates, --heldout-set v2, and held-out slot values, with a seed the
# shipped set does not use, so nothing can be a memorised string), run
# greedily through the real binary (`hearth bench tools`, tool calls guarded):
#   mode "guard" (must pass whatever the model's quality):
#   - every tool-call block in a reply to an item that offered tools is
#     valid JSON naming an offered tool, with arguments that match its
#     schema (only known keys, every required key): constrained decoding
#     guarantees it;
#   - `hearth chat --prompt hello` with no system message answers in words
#     (the model's default system prompt is rendered);
#   - the figures the binary prints equal scripts/train/eval_tools.py's own
#     scoring of the same replies (its score()/summary(), imported with
#     torch stubbed out: scoring does not use it).
#   mode "accuracy" (issue 7's acceptance bar, on these items):
#   - at least 95 % of the tool-call items' calls exactly right;
#   - every tool-call block and entity reply valid JSON.
#   (It was "8 of 10 items right"; with the shipped model at 7 of 10 a
#   single item decided it, so a float rounding on another CPU could have
#   flipped the expected failure. Forty items, about 20 of them tool calls,
#   still left it to chance once the model was near 90 %: at 89 % per call,
#   20 of 21 right happens about one time in three. Four hundred items,
#   about 250 calls, put the bar some three standard deviations away; once
#   typos were mended ahead of the model, at 94 % per call, those 400 came
#   to 227 of 238 calls, 95.4 %, while the shipped 1,200-item set stood at
#   93.7 %: one sample of 238 calls cannot tell 94 from 95 %. Now 1,200
#   items, as many as the shipped set, about 730 calls.)
#   The shipped hearth-tiny is undertrained (assets/MODEL_CARD.md), so
#   meson marks the accuracy run should_fail until a better model ships; a
#   pass then shows up as an unexpected pass, which ./run.sh counts as a
#   failure, so the mark cannot be forgotten.
# Skips (exit 77) while the model is absent (scripts/train/train.sh makes
# it). HEARTH_DEFAULT_MODEL overrides the file (e.g. a checkpoint export).
set -u
HEARTH=${HEARTH_BUILD:?}/app/hearth
SRC=${HEARTH_SRC:?}
PY=${HEARTH_PYTHON:-/usr/bin/python3}
MODEL=${HEARTH_DEFAULT_MODEL:-$SRC/assets/hearth-tiny.q8_0.gguf}
SEED=20261126   # train.sh makes the shipped held-out set with --seed 1234
MODE=${1:-guard}
ITEMS=40
[ "$MODE" = accuracy ] && ITEMS=1200

if [ ! -f "$MODEL" ]; then
	echo "skipped: $MODEL not found (scripts/train/train.sh builds the default model)"
	exit 77
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

if ! "$PY" "$SRC/scripts/train/gen_home_data.py" --out "$tmp" --train 0 --heldout "$ITEMS" \
	--seed "$SEED" --heldout-set v2 >"$tmp/gen.log" 2>&1; then
	echo "FAIL: gen_home_data.py"; cat "$tmp/gen.log"; exit 1
fi
if ! "$HEARTH" bench tools --model "$MODEL" --data "$tmp/heldout.jsonl" --json \
	--threads 2 >"$tmp/bench.json" 2>"$tmp/bench.err"; then
	echo "FAIL: hearth bench tools"; cat "$tmp/bench.err"; exit 1
fi

if [ "$MODE" = guard ]; then
	# With no system message the engine renders the model's own
	# (hearth.chat.default_system_prompt): a greeting gets words, not the
	# noise of a model shown a prompt unlike any it was trained on.
	reply=$("$HEARTH" chat --model "$MODEL" --prompt "hello" --temperature 0 \
		--max-tokens 40 --threads 2 2>"$tmp/chat.err")
	case "$reply" in
	"" | *[{}\"\[\]\<]*)   # empty, or JSON or markup pieces
		echo "FAIL: hearth chat --prompt hello (no system message): '$reply'"
		cat "$tmp/chat.err"; exit 1 ;;
	*) echo "ok: hearth chat --prompt hello, no system message: '$reply'" ;;
	esac
	# The text report lists at most --failures failing items; 0 lists none,
	# so a run on a blind set can show its figures without its requests.
	for n in 0 2; do
		if ! "$HEARTH" bench tools --model "$MODEL" --data "$tmp/heldout.jsonl" --failures "$n" \
			--threads 2 >"$tmp/bench-$n.txt" 2>"$tmp/bench.err"; then
			echo "FAIL: hearth bench tools --failures $n"; cat "$tmp/bench.err"; exit 1
		fi
	done
	wrong=$("$PY" -c 'import json,sys; print(sum(not r["ok"] for r in json.load(open(sys.argv[1]))["replies"]))' "$tmp/bench.json")
	want=$(( wrong < 2 ? wrong : 2 ))
	got0=$(grep -c '^FAIL ' "$tmp/bench-0.txt"); got2=$(grep -c '^FAIL ' "$tmp/bench-2.txt")
	if ! grep -q 'exact' "$tmp/bench-0.txt" || ! grep -q '95 % interval' "$tmp/bench-0.txt" || [ "$got0" -ne 0 ] || [ "$got2" -ne "$want" ]; then
		echo "FAIL: --failures 0 listed $got0 items, --failures 2 listed $got2 (want 0 and $want of $wrong)"
		cat "$tmp/bench-0.txt"; exit 1
	fi
	echo "ok: bench tools --failures 0 lists none, --failures 2 lists $got2 of $wrong failing items"
	if "$HEARTH" bench tools --model "$MODEL" --data "$tmp/heldout.jsonl" --failures -1 \
		>/dev/null 2>"$tmp/bench.err" || ! grep -q -- '--failures' "$tmp/bench.err"; then
		echo "FAIL: --failures -1 was not refused with a message"; cat "$tmp/bench.err"; exit 1
	fi
	echo "ok: --failures -1 refused: $(head -1 "$tmp/bench.err")"
fi

"$PY" - "$SRC" "$tmp/heldout.jsonl" "$tmp/bench.json" "$MODE" <<'PYEOF'
import json, math, re, sys, types

src, data, bench, mode = sys.argv[1:5]
sys.path.insert(0, src + "/scripts/train")
# eval_tools imports torch and the model only to decode; its scoring is
# plain Python. Stubs keep this test free of torch.
sys.modules["torch"] = types.ModuleType("torch")
stub = types.ModuleType("llama_model")
stub.Config = stub.Llama = None
sys.modules["llama_model"] = stub
import eval_tools  # noqa: E402

items = [json.loads(line) for line in open(data)]
res = json.load(open(bench))
replies = res["replies"]
fails = 0


def check(what, ok):
    global fails
    print(("ok: " if ok else "FAIL: ") + what)
    fails += not ok


check("one reply per item, in order",
      [r["id"] for r in replies] == [it["id"] for it in items])
s, failures = eval_tools.score(items, [r["reply"] for r in replies])
py = eval_tools.summary(s)
for k in ("tool_name_accuracy", "tool_exact_match", "valid_json_rate", "refusal_accuracy",
          "chat_accuracy", "tool_answer_accuracy", "entity_precision", "entity_recall",
          "entity_f1"):
    a, b = res[k], py[k]
    same = (a is None and math.isnan(b)) or (a is not None and abs(a - b) < 1e-9)
    check("%s: hearth %s, eval_tools.py %s" % (k, a, b), same)
for k, v in py["counts"].items():
    check("count %s: hearth %s, eval_tools.py %s" % (k, res["counts"][k], v),
          res["counts"][k] == v)
check("items right: hearth %d, eval_tools.py %d" % (res["items_ok"], len(items) - len(failures)),
      res["items_ok"] == len(items) - len(failures))

# The exact-call rate's 95 % Wilson interval, worked out here independently.
k, n = res["counts"]["tool_exact"], res["counts"]["tool_items"]
p, z = k / n, 1.96
mid = (p + z * z / (2 * n)) / (1 + z * z / n)
half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
lo, hi = res["tool_exact_interval"]
check("exact-call interval %.4f to %.4f around %.4f (Wilson: %.4f to %.4f)"
      % (lo, hi, p, mid - half, mid + half),
      abs(lo - max(0.0, mid - half)) < 1e-9 and abs(hi - min(1.0, mid + half)) < 1e-9
      and lo <= p <= hi and (p == 1.0 or hi < 1.0))

print("per kind:", ", ".join("%s %d/%d" % (k, v["ok"], v["items"]) for k, v in res["kinds"].items()))
for r, it in zip(replies, items):
    if not r["ok"]:
        print("  wrong: %s %r -> %r (expected %s)" % (
            it["kind"], it["messages"][-1]["content"], r["reply"], json.dumps(it["expected"])))


def call_matches_schema(block, tools):
    try:
        call = json.loads(block)
    except ValueError:
        return False
    if not isinstance(call, dict) or not isinstance(call.get("arguments"), dict):
        return False
    fns = {t["function"]["name"]: t["function"].get("parameters", {}) for t in tools}
    if call.get("name") not in fns:
        return False
    params = fns[call["name"]]
    props = params.get("properties", {})
    return (all(k in props for k in call["arguments"]) and
            all(k in call["arguments"] for k in params.get("required", [])))


if mode == "accuracy":
    c = res["counts"]
    check("at least 95 %% of tool calls exact (%d/%d)" % (c["tool_exact"], c["tool_items"]),
          c["tool_items"] >= 10 and c["tool_exact"] >= 0.95 * c["tool_items"])
    check("tool-call blocks and entity replies all valid JSON (%d/%d)"
          % (res["counts"]["json_valid"], res["counts"]["json_blocks"]),
          res["counts"]["json_valid"] == res["counts"]["json_blocks"])
else:
    check("tool calls were guarded", res["guarded"])
    n = 0
    for r, it in zip(replies, items):
        if not it.get("tools"):
            continue
        for block in re.findall(r"<tool_call>\n?(.*?)\n?</tool_call>", r["reply"], re.S):
            n += 1
            check("guarded call is valid JSON matching its tool's schema: %s" % block,
                  call_matches_schema(block, it["tools"]))
    print("%d guarded tool calls checked" % n)
sys.exit(1 if fails else 0)
PYEOF
