#!/usr/bin/env bash
# Hearth set-up: the README's two commands.
#   ./run.sh [serve flags…]  install what is missing, build in build/, start `hearth serve`
#   ./run.sh test            install, build with ASan+UBSan in build-test/, run every test;
#                            then the valgrind suite in build-vg/ (no sanitizers) and the
#                            arm64 cross build with its tests under qemu (build-arm64/);
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
      gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user valgrind)

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

# meson's own summary is the source of truth for the counts: count_log adds
# one run's passes (expected failures included), failures (unexpected passes
# and timeouts included) and skips to the totals
OK=0 FAILED=0 SKIPPED=0
summary() { # testlog.txt, label → the count on meson's summary line (0 if none)
	local n
	n=$(sed -n "s/^$2: *\([0-9]*\).*/\1/p" "$1" | tail -1)
	echo "${n:-0}"
}
count_log() { # testlog.txt, meson's exit status
	local n
	n=$(( $(summary "$1" Fail) + $(summary "$1" 'Unexpected Pass') + $(summary "$1" Timeout) ))
	[ "$2" -ne 0 ] && [ "$n" -eq 0 ] && n=1
	OK=$(( OK + $(summary "$1" Ok) + $(summary "$1" 'Expected Fail') ))
	FAILED=$(( FAILED + n ))
	SKIPPED=$(( SKIPPED + $(summary "$1" Skipped) ))
}

run_tests() { # [meson test arguments: then build-test/ only]
	local rc vrc=0 arc=0
	step "test (meson test in build-test/, ASan+UBSan)"
	meson test -C build-test --print-errorlogs --num-processes 2 "$@"
	rc=$?
	count_log build-test/meson-logs/testlog.txt $rc
	# The C tests and the hearth binary again under valgrind's memcheck, in a
	# build without sanitizers (they do not mix): what ASan does not see,
	# reads of uninitialised memory, and leaks at exit.
	if [ $# -eq 0 ]; then
		configure build-vg -Dvalgrind=true -Dbuildtype=debugoptimized
		step "test (meson test --suite valgrind in build-vg/, memcheck)"
		meson test -C build-vg --suite valgrind --print-errorlogs --num-processes 2
		vrc=$?
		count_log build-vg/meson-logs/testlog.txt $vrc
		# Hearth must build on arm64 too: the cross build, its test
		# binaries under qemu (counted), the default model's answers the
		# same as here (one more test)
		step "arm64 (scripts/arm64-check.sh)"
		rm -f build-arm64/meson-logs/testlog.txt
		scripts/arm64-check.sh
		arc=$?
		[ -f build-arm64/meson-logs/testlog.txt ] && count_log build-arm64/meson-logs/testlog.txt 0
		case $arc in
		0) OK=$((OK + 1)) ;;
		77) SKIPPED=$((SKIPPED + 1)); arc=0 ;; # no arm64 packages to be had
		*) FAILED=$((FAILED + 1)) ;;
		esac
	fi
	echo "${OK} passed, ${FAILED} failed, ${SKIPPED} skipped"
	[ $rc -eq 0 ] && [ $vrc -eq 0 ] && [ $arc -eq 0 ]
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
