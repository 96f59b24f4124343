#!/bin/sh
# compare.sh — Hearth and llama.cpp back to back on the same model file,
# with the same threads and sizes, for the side-by-side speed figures.
#
# Each round runs `hearth bench engine` and llbench (scripts/bench/llbench.c,
# which times llama.cpp with Hearth's protocol: prefill P pseudo-random
# tokens, then decode GEN tokens greedily after them) one after the other,
# and alternates which goes first so neither always gets the cooler CPU or
# the warmer page cache. Prints both engines' result lines for every round,
# headed by the time and the load average (other jobs skew the numbers).
#
# llama.cpp is not in this repository: install the reference OUTSIDE it
# with scripts/bench/llama_ref.sh DIR, which builds DIR/llbench.
#
# Usage:  LLAMA_REF=DIR scripts/bench/compare.sh MODEL [ROUNDS] [PROMPTS] [GEN] [REPS]
#         defaults: ROUNDS 3, PROMPTS 128,512, GEN 64, REPS 3
# Environment:
#   LLAMA_REF  folder given to llama_ref.sh; LLBENCH defaults to LLAMA_REF/llbench
#   LLBENCH    the llbench binary (overrides LLAMA_REF)
#   HEARTH     the hearth binary (default build-rel/app/hearth in this
#              repository: meson setup build-rel --buildtype=release)
#   THREADS    threads for both engines (default 2)
# Exit status: 0, 1 when an engine fails (its last stderr lines are shown),
# 2 on a usage error.

# "A && B || usage ...": usage is meant to run when A or B fails
# shellcheck disable=SC2015
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd -P) || exit 1

usage() {
	[ $# -eq 0 ] || printf 'compare.sh: %s\n' "$*" >&2
	printf 'usage: LLAMA_REF=DIR %s MODEL [ROUNDS] [PROMPTS] [GEN] [REPS]\n' "$0" >&2
	printf '       (DIR from scripts/bench/llama_ref.sh DIR; or LLBENCH=PATH; HEARTH=PATH, THREADS=N)\n' >&2
	exit 2
}

# $1 is a whole number from $2 up
is_count() {
	case $1 in '' | *[!0-9]*) return 1 ;; esac
	[ "$1" -ge "$2" ]
}

# -- arguments -----------------------------------------------------------------

[ $# -ge 1 ] && [ $# -le 5 ] || usage "expected 1 to 5 arguments, got $#"
MODEL=$1 ROUNDS=${2:-3} PROMPTS=${3:-128,512} GEN=${4:-64} REPS=${5:-3}
THREADS=${THREADS:-2}
HEARTH=${HEARTH:-$ROOT/build-rel/app/hearth}
if [ -z "${LLBENCH:-}" ]; then
	[ -n "${LLAMA_REF:-}" ] ||
		usage "set LLAMA_REF to the folder scripts/bench/llama_ref.sh installed, or LLBENCH to an llbench binary"
	LLBENCH=$LLAMA_REF/llbench
fi

[ -f "$MODEL" ] && [ -r "$MODEL" ] || usage "MODEL $MODEL is not a readable file"
is_count "$ROUNDS" 1 || usage "ROUNDS '$ROUNDS' is not a whole number >= 1"
is_count "$GEN" 0 || usage "GEN '$GEN' is not a whole number >= 0"
is_count "$REPS" 1 || usage "REPS '$REPS' is not a whole number >= 1"
is_count "$THREADS" 1 || usage "THREADS '$THREADS' is not a whole number >= 1"
case $PROMPTS in
'' | *[!0-9,]* | ,* | *, | *,,*) usage "PROMPTS '$PROMPTS' is not a list like 128,512" ;;
esac
[ -x "$HEARTH" ] ||
	usage "HEARTH $HEARTH is not an executable (build it: meson setup build-rel --buildtype=release && ninja -C build-rel)"
[ -x "$LLBENCH" ] ||
	usage "LLBENCH $LLBENCH is not an executable (build it: scripts/bench/llama_ref.sh DIR, outside the repository)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/compare.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# -- the two engines -------------------------------------------------------

# run NAME PATTERN COMMAND...: run COMMAND with output kept aside, then print
# its result lines (those matching PATTERN); a failure or no result line
# ends the comparison, since a round with one engine missing is no comparison
run() {
	name=$1 pattern=$2
	shift 2
	if ! "$@" >"$TMP/out" 2>"$TMP/err"; then
		printf 'compare.sh: %s failed (round %s): %s\n' "$name" "$round" "$*" >&2
		tail -n 5 "$TMP/err" >&2
		exit 1
	fi
	grep -E "$pattern" "$TMP/out" || {
		printf 'compare.sh: %s printed no result line (round %s): %s\n' "$name" "$round" "$*" >&2
		tail -n 5 "$TMP/out" "$TMP/err" >&2
		exit 1
	}
}

# result lines start with the weights' type: Q4_0, Q8_0, F16, BF16, ...
run_hearth() {
	run hearth '^(Q|F|B)[0-9A-Z_]* ' "$HEARTH" bench engine --model "$MODEL" \
		--threads "$THREADS" --prompt "$PROMPTS" --gen "$GEN" --repeat "$REPS"
}

run_llama() {
	run llbench '^llama\.cpp ' "$LLBENCH" "$MODEL" "$THREADS" "$PROMPTS" "$GEN" "$REPS"
}

# -- rounds ----------------------------------------------------------------------

printf '== %s: %s threads, prompts %s, gen %s, %s reps, %s rounds\n' \
	"$MODEL" "$THREADS" "$PROMPTS" "$GEN" "$REPS" "$ROUNDS"
printf '== hearth %s\n== llbench %s\n' "$HEARTH" "$LLBENCH"
round=1
while [ "$round" -le "$ROUNDS" ]; do
	load=
	[ -r /proc/loadavg ] && load=" load $(cut -d' ' -f1-3 /proc/loadavg)"
	printf '== round %s %s%s\n' "$round" "$(date +%T)" "$load"
	if [ $((round % 2)) -eq 1 ]; then
		run_hearth
		run_llama
	else
		run_llama
		run_hearth
	fi
	round=$((round + 1))
done
