#!/usr/bin/env bash
# Hearth set-up: the README's two commands.
#   ./run.sh [serve flags…]  install what is missing, build in build/, start `hearth serve`
#   ./run.sh test            install, build with ASan+UBSan in build-test/, run every test;
#                            the last line is "N passed, N failed, N skipped"
set -uo pipefail
cd "$(dirname "$0")" || exit 1

PKGS=(build-essential meson ninja-build pkg-config
      portaudio19-dev libsndfile1-dev libwebsockets-dev libopenblas-dev libopenblas0-pthread
      libcjson-dev libpng-dev libjpeg-dev libsqlite3-dev libmosquitto-dev libsoxr-dev
      libcmocka-dev libhunspell-dev hunspell-en-us python3)
# Only the tests need these: numpy references, a WebSocket client, curl,
# the word list the training generator draws invented slot values from and
# the WordNet database it draws verb synonyms from (scripts/train/synonyms.py),
# and the aarch64 cross compiler + qemu-user that run the NEON kernels.
TEST_PKGS=(python3-numpy python3-websockets curl wamerican wordnet-base
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)

step() { printf '==> %s\n' "$*"; }
fail() { printf 'run.sh: step failed: %s\n' "$*" >&2; exit 1; }

install_deps() { # packages…
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
			|| missing+=("$p")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		step "dependencies: all $# Debian packages present"
		return 0
	fi
	step "installing Debian packages: ${missing[*]}"
	local sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || fail "install packages (not root and no sudo): ${missing[*]}"
		sudo="sudo"
	fi
	$sudo apt-get update -q >/dev/null || fail "apt-get update"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
		"${missing[@]}" >/dev/null || fail "apt-get install ${missing[*]}"
}

configure() { # dir, meson options…
	local dir=$1; shift
	if [ -f "$dir/build.ninja" ]; then
		step "configure $dir (reconfigure)"
		meson setup --reconfigure "$dir" "$@" >"$dir.setup.log" 2>&1 \
			|| { cat "$dir.setup.log"; fail "meson setup $dir"; }
	else
		step "configure $dir"
		meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 \
			|| { cat "$dir.setup.log"; fail "meson setup $dir"; }
	fi
	rm -f "$dir.setup.log"
	step "build $dir"
	ninja -C "$dir" || fail "build ($dir)"
}

run_tests() {
	local log=build-test/meson-logs/testlog.txt rc ok fail skip
	step "test (meson test in build-test/, ASan+UBSan)"
	meson test -C build-test --print-errorlogs --num-processes 2 "$@"
	rc=$?
	# meson's own summary is the source of truth for the counts
	ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	skip=$(sed -n 's/^Skipped: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	local xfail xpass tout
	xpass=$(sed -n 's/^Unexpected Pass: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	tout=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	xfail=$(sed -n 's/^Expected Fail: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	ok=$(( ${ok:-0} + ${xfail:-0} ))
	fail=$(( ${fail:-0} + ${xpass:-0} + ${tout:-0} ))
	[ "$rc" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1
	echo "${ok} passed, ${fail} failed, ${skip:-0} skipped"
	return $rc
}

# The OpenAI client test uses the official `openai` npm package, pinned in
# tests/e2e/node/package-lock.json and installed into that folder only.
install_node_test_deps() {
	if ! command -v npm >/dev/null; then
		step "installing Debian packages: nodejs npm (for the OpenAI client test)"
		local sudo=""
		[ "$(id -u)" -ne 0 ] && sudo="sudo"
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q nodejs npm >/dev/null \
			|| { echo "run.sh: npm unavailable: the OpenAI client test will skip"; return 0; }
	fi
	if [ ! -d tests/e2e/node/node_modules ]; then
		step "npm ci --prefix tests/e2e/node"
		npm ci --prefix tests/e2e/node --no-audit --no-fund >/dev/null 2>&1 \
			|| echo "run.sh: npm ci failed: the OpenAI client test will skip"
	fi
}

case "${1:-serve}" in
test)
	shift
	install_deps "${PKGS[@]}" "${TEST_PKGS[@]}"
	install_node_test_deps
	configure build-test -Dsanitize=true -Dbuildtype=debugoptimized
	run_tests "$@" || exit 1
	;;
*)
	[ "${1:-}" = serve ] && shift
	install_deps "${PKGS[@]}"
	configure build -Dbuildtype=release
	step "start: build/app/hearth serve $*"
	exec build/app/hearth serve "$@"
	;;
esac
