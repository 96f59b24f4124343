#!/usr/bin/env bash
# e2e: the engine from the command line, as a user runs it.
#   hearth chat --raw --prompt … --temperature 0 reproduces stories260K's
#   greedy continuations (llama.cpp's, listed in the shared models);
#   hearth tokenize prints the ids of the shared tokenizer vectors;
#   a broken model file is a clear error, exit 1.
# Skips (exit 77) when ../shared/models is absent.
set -u
HEARTH=${HEARTH_BUILD:?}/app/hearth
MODELS=${HEARTH_MODELS:-${HEARTH_SRC:?}/../shared/models}
PY=${HEARTH_PYTHON:-/usr/bin/python3}
if [ ! -f "$MODELS/real/stories260K.gguf" ]; then
	echo "skipped: $MODELS/real/stories260K.gguf not found (set HEARTH_MODELS)"
	exit 77
fi
fails=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fails=$((fails+1)); fi; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# every case of the expected file, through the real binary
"$PY" - "$MODELS/real/stories260K.expected.json" >"$tmp/cases" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
for c in d["cases"]:
    print(json.dumps([c["prompt"], c["max_tokens"], c["greedy_continuation"]]))
PYEOF
while IFS= read -r line; do
	prompt=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])[0])' "$line")
	n=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])[1])' "$line")
	"$PY" -c 'import json,sys; sys.stdout.write(json.loads(sys.argv[1])[2])' "$line" >"$tmp/want"
	"$HEARTH" chat --model "$MODELS/real/stories260K.gguf" --raw --prompt "$prompt" \
		--temperature 0 --max-tokens "$n" >"$tmp/got" 2>"$tmp/err"
	rc=$?
	check "chat greedy continuation of '$prompt'" '[ $rc -eq 0 ] && cmp -s "$tmp/want" "$tmp/got"'
	[ $rc -eq 0 ] && cmp -s "$tmp/want" "$tmp/got" || { echo "want: $(cat "$tmp/want")"; echo "got:  $(cat "$tmp/got")"; cat "$tmp/err"; }
done <"$tmp/cases"

# a seed makes sampling reproducible
a=$("$HEARTH" chat --model "$MODELS/real/stories260K.gguf" --raw --prompt "Once" --temperature 0.9 --seed 5 --max-tokens 20 2>/dev/null)
b=$("$HEARTH" chat --model "$MODELS/real/stories260K.gguf" --raw --prompt "Once" --temperature 0.9 --seed 5 --max-tokens 20 2>/dev/null)
check "same seed, same sampled text" '[ -n "$a" ] && [ "$a" = "$b" ]'

# regression: a conversation longer than the context (stories260K: 128
# positions) forgets its oldest exchanges instead of failing
printf 'Once upon a time\nThe dog\nA cat\nA bird\nThe sun\n' |
	"$HEARTH" chat --model "$MODELS/real/stories260K.gguf" --temperature 0 --max-tokens 40 \
	>"$tmp/conv" 2>"$tmp/err"; rc=$?
check "multi-turn chat past the context length keeps answering" \
	'[ $rc -eq 0 ] && [ $(wc -l <"$tmp/conv") -ge 5 ]'

# tokenize: the first vector of each shared vocabulary
for v in qwen2 gpt-2 llama-spm; do
	f="$MODELS/vocab/ggml-vocab-$v.gguf"
	[ -f "$f" ] || continue
	text=$("$PY" -c '
import sys
t = open(sys.argv[1], encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
print(next(x for x in t if x.strip() and "\n" not in x))' "$f.inp")
	idx=$("$PY" -c '
import sys
t = open(sys.argv[1], encoding="utf-8").read().split("\n__ggml_vocab_test__\n")
print(t.index(sys.argv[2]))' "$f.inp" "$text")
	want=$(sed -n "$((idx + 1))p" "$f.out" | xargs)
	got=$("$HEARTH" tokenize --model "$f" "$text" 2>&1)
	check "tokenize ($v) '$text' → $want" '[ "$got" = "$want" ]'
done

# bad model files
head -c 1000 "$MODELS/real/stories260K.gguf" >"$tmp/trunc.gguf"
"$HEARTH" chat --model "$tmp/trunc.gguf" --prompt hi >/dev/null 2>"$tmp/err"; rc=$?
check "truncated GGUF: exit 1 with a message naming the file" '[ $rc -eq 1 ] && grep -q "trunc.gguf" "$tmp/err"'
"$HEARTH" chat --model "$tmp/missing.gguf" --prompt hi >/dev/null 2>"$tmp/err"; rc=$?
check "missing file: exit 1" '[ $rc -eq 1 ] && grep -q "missing.gguf" "$tmp/err"'

echo "$fails failure(s)"
[ $fails -eq 0 ]
