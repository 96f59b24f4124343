#!/usr/bin/env bash
# e2e: `hearth bench serve` runs the real server in-process against
# concurrent streaming clients on a random-weight qwen2 model written by
# scripts/make_test_model.py, and prints its figures: TTFT p50/p95,
# aggregate tokens/s, added latency engine → client p50/p99 (text), and the
# same as one JSON object per client count (--json). Figures, not values:
# only their presence and sanity are checked (a benchmark is not a test).
# Skips (exit 77) when the test model cannot be written (no numpy).
set -u
HEARTH=${HEARTH_BUILD:?}/app/hearth
PY=${HEARTH_PYTHON:-/usr/bin/python3}
fails=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAIL: $1"; fails=$((fails+1)); fi; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

if ! "$PY" "${HEARTH_SRC:?}/scripts/make_test_model.py" --arch qwen2 --type Q8_0 \
	--out "$tmp/qwen2-q8" >"$tmp/make.log" 2>&1; then
	echo "skipped: cannot write the test model: $(tail -n 3 "$tmp/make.log")"
	exit 77
fi
model=$tmp/qwen2-q8.gguf

timeout 300 "$HEARTH" bench serve --clients 1,2 --model "$model" --gen 8 \
	>"$tmp/out" 2>"$tmp/err1"
rc=$?
check "bench serve --clients 1,2 exits 0" '[ $rc -eq 0 ]'
for n in 1 2; do
	line=$(grep -E "^clients +$n:" "$tmp/out")
	check "a line for $n client(s) with TTFT p50/p95, tokens/s and added latency p50/p99" \
		'echo "$line" | grep -Eq "TTFT p50 +[0-9.]+ ms +p95 +[0-9.]+ ms \| aggregate +[0-9.]+ tokens/s .*added latency engine->client p50 [0-9.]+ ms +p99 [0-9.]+ ms"'
done
[ $rc -eq 0 ] || { cat "$tmp/out" "$tmp/err1"; }

timeout 300 "$HEARTH" bench serve --clients 1,2 --model "$model" --gen 8 --json \
	>"$tmp/json" 2>"$tmp/err2"
rc=$?
check "bench serve --json exits 0" '[ $rc -eq 0 ]'
"$PY" - "$tmp/json" <<'PYEOF' >"$tmp/jcheck" 2>&1
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert [r["clients"] for r in rows] == [1, 2], rows
for r in rows:
    for k in ("ttft_ms_p50", "ttft_ms_p95", "aggregate_tps", "added_latency_ms_p50",
              "added_latency_ms_p99", "completion_tokens", "latency_samples"):
        assert isinstance(r[k], (int, float)), (k, r)
    # every client completed; a p95 is never below its p50; the streams
    # carried stamped chunks (a random model may end a reply at its first
    # token, so not necessarily one per client)
    assert r["completed"] == r["clients"], r
    assert 0 < r["ttft_ms_p50"] <= r["ttft_ms_p95"], r
    assert 0 <= r["added_latency_ms_p50"] <= r["added_latency_ms_p99"], r
    assert r["latency_samples"] >= 1 and r["completion_tokens"] >= 1, r
print("json ok")
PYEOF
check "bench serve --json: one object per client count with the figures" 'grep -q "json ok" "$tmp/jcheck"'
grep -q "json ok" "$tmp/jcheck" || { cat "$tmp/jcheck" "$tmp/json" "$tmp/err2"; }

"$HEARTH" bench serve --clients 0 --model "$model" >/dev/null 2>"$tmp/err"
rc=$?
check "a bad --clients list is a usage error (exit 2)" '[ $rc -eq 2 ] && grep -q -- "--clients" "$tmp/err"'
check "no sanitizer reports" '! grep -q "ERROR: AddressSanitizer\|runtime error" "$tmp"/err*'

echo "$fails failure(s)"
[ $fails -eq 0 ]
