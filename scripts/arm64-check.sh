#!/usr/bin/env bash
# arm64-check.sh — Hearth must also build on arm64: cross-build the whole
# tree with Debian's aarch64 toolchain and arm64 libraries into
# build-arm64/ (-Werror as everywhere), run every native test binary under
# qemu-user, then run the arm64 `hearth bench tools` on the first held-out
# items with the default model and require at least 9 in 10 of its replies
# to be the ones this machine's build (build/, what ./run.sh serves) gives.
#
# Installs what it needs: dpkg's arm64 architecture (dpkg --add-architecture
# arm64), the arm64 -dev packages, gcc-aarch64-linux-gnu and qemu-user;
# exits 77 (skipped) when the package source cannot provide them.
# ./run.sh test runs it last (after the valgrind suite); its tests under
# qemu count among the test run's, the whole check as one more.
# Usage: scripts/arm64-check.sh [ITEMS]
set -euo pipefail
cd "$(dirname "$0")/.."
ITEMS=${1:-30}
OUT=build-arm64
step() { printf '==> arm64: %s\n' "$*"; }
fail() { printf 'arm64-check: %s\n' "$*" >&2; exit 1; }
skip() { printf 'arm64-check: skipped: %s\n' "$*" >&2; exit 77; }

# the -dev packages of meson.build's deps_table, for arm64; libwebsockets-dev
# is not co-installable across architectures (its lws_config.h names the
# library directory), so only its runtime library is installed, see below
ARM=(libc6-dev portaudio19-dev libsndfile1-dev libopenblas-dev libcjson-dev libpng-dev
     libjpeg-dev libsqlite3-dev libmosquitto-dev libsoxr-dev libcmocka-dev libhunspell-dev
     libwebsockets17 libcap-dev)
HOST=(gcc-aarch64-linux-gnu qemu-user file)
missing=()
for p in "${ARM[@]/%/:arm64}" "${HOST[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	step "installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo=sudo
	# a package source without arm64 is the machine's limit, not a fault
	# of the tree: skipped (77), as tests skip without their data
	dpkg --print-foreign-architectures | grep -qx arm64 || $sudo dpkg --add-architecture arm64
	$sudo apt-get update -q >/dev/null || skip "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
		"${missing[@]}" >/dev/null || skip "apt-get install ${missing[*]} failed"
fi

# libwebsockets for arm64: the host's headers (the same but for the libdir
# macro, which Hearth does not use) and a private .pc and link name for the
# arm64 library
# (in build-arm64-env/, with the cross file)
env=$PWD/$OUT-env
lws=$env/lws
mkdir -p "$lws/pkgconfig" "$lws/lib"
so=$(ls /usr/lib/aarch64-linux-gnu/libwebsockets.so.* 2>/dev/null | head -1)
[ -n "$so" ] || fail "libwebsockets17:arm64 has no library in /usr/lib/aarch64-linux-gnu"
ln -sf "$so" "$lws/lib/libwebsockets.so"
cat >"$lws/pkgconfig/libwebsockets.pc" <<EOF
Name: libwebsockets
Description: libwebsockets for arm64 (library of libwebsockets17:arm64, headers of the host's libwebsockets-dev)
Version: $(pkg-config --modversion libwebsockets)
Requires: libcap
Libs: -L$lws/lib -lwebsockets
Cflags: -I/usr/include
EOF
# the arm64 binaries run under qemu-user with the arm64 libc6's loader
# (not the cross toolchain's copy: -L /usr/aarch64-linux-gnu mixes the two
# and hangs the first pthread_create)
cat >"$env/cross.ini" <<EOF
[binaries]
c = 'aarch64-linux-gnu-gcc'
ar = 'aarch64-linux-gnu-ar'
strip = 'aarch64-linux-gnu-strip'
pkgconfig = 'aarch64-linux-gnu-pkg-config'
exe_wrapper = ['qemu-aarch64']

[host_machine]
system = 'linux'
cpu_family = 'aarch64'
cpu = 'aarch64'
endian = 'little'
EOF
step "configure and build $OUT/"
again=()
[ -f "$OUT/build.ninja" ] && again=(--reconfigure)
meson setup "${again[@]}" "$OUT" --cross-file "$env/cross.ini" -Dpkg_config_path="$lws/pkgconfig" \
	-Dbuildtype=debugoptimized >/dev/null || fail "meson setup $OUT"
ninja -C "$OUT" >/dev/null || { ninja -C "$OUT"; fail "build $OUT"; }
file -b "$OUT/app/hearth" | grep -q 'ARM aarch64' || fail "$OUT/app/hearth is not an arm64 binary"

# every test whose command is a binary of this build (the scripts' tests
# drive a hearth binary directly, which qemu-user cannot be slipped under)
mapfile -t native < <(meson introspect --tests "$OUT" | /usr/bin/python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if t["cmd"][0].startswith(sys.argv[1]):
        print(t["name"])' "$(cd "$OUT" && pwd)/")
[ ${#native[@]} -gt 0 ] || fail "no native tests found in $OUT"
step "meson test under qemu-aarch64: ${native[*]}"
meson test -C "$OUT" --print-errorlogs --num-processes 2 "${native[@]}" || fail "tests under qemu"

# the shipped model on arm64 and here: the same report
model=assets/hearth-tiny.q8_0.gguf
if [ -f "$model" ]; then
	step "hearth bench tools on the first $ITEMS held-out items: arm64 (qemu) and this machine"
	if [ ! -f build/build.ninja ]; then
		meson setup build -Dbuildtype=release >/dev/null || fail "meson setup build"
	fi
	ninja -C build app/hearth >/dev/null || fail "build build/"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	head -n "$ITEMS" assets/eval/heldout.jsonl >"$tmp/items.jsonl"
	for b in build "$OUT"; do
		w=""
		[ "$b" = "$OUT" ] && w=qemu-aarch64
		$w "$b/app/hearth" bench tools --model "$model" --data "$tmp/items.jsonl" --threads 2 \
			--failures 0 --json >"$tmp/$(basename "$b").json" || fail "hearth bench tools ($b)"
	done
	/usr/bin/python3 - "$tmp/build.json" "$tmp/$OUT.json" <<'EOF' || fail "arm64 and x86-64 reports differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
# what the model answered, item by item; not the timings
ka = {r["id"]: (r["ok"], r["reply"]) for r in a["replies"]}
kb = {r["id"]: (r["ok"], r["reply"]) for r in b["replies"]}
same = sum(ka[i] == kb.get(i) for i in ka)
print("arm64: %d of %d replies the same as this machine's; right: %d here, %d on arm64" %
      (same, len(ka), sum(v[0] for v in ka.values()), sum(v[0] for v in kb.values())))
# greedy decoding through different SIMD paths (NEON vs AVX2/AVX-512) may
# break a near tie differently, so not all of them need be equal
sys.exit(0 if same >= 0.9 * len(ka) else 1)
EOF
else
	echo "arm64: $model absent: bench comparison skipped"
fi
step "ok"
