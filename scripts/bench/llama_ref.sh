#!/bin/sh
# llama_ref.sh — install the llama.cpp reference for Hearth's benchmarks
# OUTSIDE the repository, and build scripts/bench/llbench.c against it.
#
# Hearth's speed is measured side by side with llama.cpp
# (scripts/bench/compare.sh, `hearth bench engine --compare-llama`), but
# nothing of llama.cpp, neither code nor binaries, is committed to this
# repository. This script puts a pinned reference into DIR instead:
#
#   DIR/node_modules/  node-llama-cpp@3.22.1 from npm and its prebuilt CPU
#                      libraries for this machine (@node-llama-cpp/linux-x64
#                      or linux-arm64, bins/<platform>/)
#   DIR/llama-src/     the llama.cpp tree those libraries were built from,
#                      cloned from the git bundle node-llama-cpp ships
#                      (llama/gitRelease.bundle); only its headers are used
#   DIR/llbench        scripts/bench/llbench.c compiled against those headers
#                      and linked to those libraries, with an rpath to them
#
# Usage:  scripts/bench/llama_ref.sh DIR        (DIR outside the repository)
# Then:   LLAMA_REF=DIR scripts/bench/compare.sh MODEL
#         build-rel/app/hearth bench engine --model MODEL --compare-llama DIR/llbench
#
# Needs npm (Node.js >= 18) and network access to the npm registry, git, and
# a C compiler (CC, default cc; CFLAGS are appended). Idempotent: a step
# whose result is already in DIR is skipped, and llbench is rebuilt only
# when llbench.c or the libraries are newer than it. Progress goes to
# stderr; the only line on stdout is the path of the built llbench, so
# LLBENCH=$(scripts/bench/llama_ref.sh DIR) works.

# "A && B || die ...": die is meant to run when A or B fails
# shellcheck disable=SC2015
set -eu

# The version Hearth's published comparisons used. node-llama-cpp pins its
# platform packages to its own version, checked below.
NLC_VERSION=3.22.1

say() { printf 'llama_ref: %s\n' "$*" >&2; }
die() { printf 'llama_ref: error: %s\n' "$*" >&2; exit 1; }

# The absolute, symlink-free form of $1, which need not exist yet: resolve
# the deepest folder that exists, then append the missing components.
abspath() {
	p=$1 rest=
	case $p in /*) ;; *) p=$PWD/$p ;; esac
	while [ ! -d "$p" ]; do
		name=${p##*/}
		case $name in
		..) die "DIR $1: '..' after a folder that does not exist" ;;
		''|.) ;;
		*) rest=/$name$rest ;;
		esac
		p=${p%/*}
		[ -n "$p" ] || p=/
	done
	p=$(cd "$p" && pwd -P) || die "DIR $1: cannot enter $p"
	[ "$p" = / ] && p=
	printf '%s%s\n' "$p" "$rest"
}

# The one file in LIBDIR matching the glob $1 (the names carry the llama.cpp
# release, e.g. libllama.v0.5.0.so).
one_lib() {
	# shellcheck disable=SC2086 # $1 is a glob
	set -- "$LIBDIR"/$1
	[ $# -eq 1 ] && [ -f "$1" ] || die "expected one library $1 in $LIBDIR, found: $*"
	printf '%s\n' "$1"
}

# The "version" of the package.json in folder $1, or nothing.
pkg_version() {
	[ -f "$1/package.json" ] || return 0
	node -p 'require(process.argv[1]).version' "$1/package.json"
}

# -- arguments and platform -------------------------------------------------

[ $# -eq 1 ] && [ -n "$1" ] || {
	printf 'usage: %s DIR   (install the llama.cpp reference into DIR, outside the repository)\n' "$0" >&2
	exit 2
}
for tool in npm node git "${CC:-cc}"; do
	command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH (needed to install the reference)"
done

ROOT=$(cd "$(dirname "$0")/../.." && pwd -P)
SRC_C=$ROOT/scripts/bench/llbench.c
[ -f "$SRC_C" ] || die "$SRC_C missing: run this script from a Hearth checkout"
D=$(abspath "$1")
case $D/ in
"$ROOT"/*) die "DIR $D is inside the repository $ROOT; install the reference outside it (nothing of llama.cpp is committed)" ;;
esac
# DIR ends up in a C string literal, an rpath (':' separates entries, '$'
# expands) and hearth's --compare-llama (refuses quotes and backslashes)
case $D in
*[\"\'\\\$\`:]*) die "DIR $D: choose a path without quotes, backslashes, '\$', '\`' or ':'" ;;
esac

case $(uname -s)-$(uname -m) in
Linux-x86_64) PLAT=linux-x64 ;;
Linux-aarch64 | Linux-arm64) PLAT=linux-arm64 ;;
*) die "node-llama-cpp ships no prebuilt CPU libraries used here for $(uname -s) $(uname -m)" ;;
esac

NLC=$D/node_modules/node-llama-cpp
PLAT_PKG=$D/node_modules/@node-llama-cpp/$PLAT
LIBDIR=$PLAT_PKG/bins/$PLAT
LLSRC=$D/llama-src
OUT=$D/llbench

mkdir -p "$D" || die "cannot create $D"

# -- 1. npm packages ---------------------------------------------------------

# --omit=optional: node-llama-cpp lists every platform's binaries (CUDA and
# Vulkan builds, over 600 MB) as optional dependencies; we name the one CPU
# package we link. --ignore-scripts: its postinstall may decide to build
# llama.cpp from source, which we do not want on a benchmark machine; the
# prebuilt files and the git bundle are in the package tarballs themselves.
install_npm() {
	if [ "$(pkg_version "$NLC")" = "$NLC_VERSION" ] &&
	   [ "$(pkg_version "$PLAT_PKG")" = "$NLC_VERSION" ]; then
		say "1/3 node-llama-cpp $NLC_VERSION and @node-llama-cpp/$PLAT already in $D/node_modules"
		return 0
	fi
	# a package.json makes DIR the npm project root (npm would otherwise
	# look for one in the parent folders) and records what was installed
	[ -f "$D/package.json" ] ||
		printf '{ "name": "hearth-llama-ref", "private": true }\n' >"$D/package.json" ||
		die "cannot write $D/package.json"
	say "1/3 npm install node-llama-cpp@$NLC_VERSION @node-llama-cpp/$PLAT@$NLC_VERSION into $D"
	(cd "$D" && npm install --prefix "$D" --save-exact --omit=optional --ignore-scripts \
		--no-audit --no-fund "node-llama-cpp@$NLC_VERSION" \
		"@node-llama-cpp/$PLAT@$NLC_VERSION") >&2 ||
		die "npm install into $D failed (is the npm registry reachable?)"
}
install_npm
pinned=$(node -p 'require(process.argv[1]).optionalDependencies[process.argv[2]]' \
	"$NLC/package.json" "@node-llama-cpp/$PLAT")
[ "$pinned" = "$(pkg_version "$PLAT_PKG")" ] ||
	die "node-llama-cpp $NLC_VERSION wants @node-llama-cpp/$PLAT $pinned, $PLAT_PKG has $(pkg_version "$PLAT_PKG")"
[ -d "$LIBDIR" ] || die "$LIBDIR missing: @node-llama-cpp/$PLAT has no prebuilt libraries"

# -- 2. llama.cpp headers from the package's git bundle ----------------------

BUNDLE=$NLC/llama/gitRelease.bundle
INFO=$NLC/llama/llama.cpp.info.json
[ -f "$BUNDLE" ] && [ -f "$INFO" ] || die "$NLC/llama lacks gitRelease.bundle or llama.cpp.info.json"
RELEASE=$(node -p 'require(process.argv[1]).tag' "$INFO")
# The bundle carries the release as one squashed commit at HEAD; use the
# release tag instead if a later bundle ships it.
COMMIT=$(git bundle list-heads "$BUNDLE" |
	awk -v t="refs/tags/$RELEASE" '$2 == t { tag = $1 } $2 == "HEAD" { head = $1 }
		END { print tag != "" ? tag : head }')
[ -n "$COMMIT" ] || die "$BUNDLE lists neither refs/tags/$RELEASE nor HEAD"

clone_headers() {
	if [ -d "$LLSRC/.git" ] && [ "$(git -C "$LLSRC" rev-parse HEAD)" = "$COMMIT" ]; then
		say "2/3 llama.cpp $RELEASE ($COMMIT) already checked out in $LLSRC"
		return 0
	fi
	if [ -d "$LLSRC/.git" ]; then
		say "2/3 moving $LLSRC to llama.cpp $RELEASE ($COMMIT)"
		# a bundle serves refs, not arbitrary commits: fetch them all
		git -C "$LLSRC" fetch --quiet "$BUNDLE" '+refs/*:refs/llama-ref/*' HEAD &&
			git -C "$LLSRC" checkout --quiet --detach "$COMMIT" ||
			die "cannot check out $COMMIT of $BUNDLE in $LLSRC"
		return 0
	fi
	[ ! -e "$LLSRC" ] || die "$LLSRC exists but is not a git checkout; remove it"
	say "2/3 git clone $BUNDLE -> $LLSRC, llama.cpp $RELEASE ($COMMIT)"
	# clone beside the target and rename, so an interrupted clone is never
	# mistaken for a finished one
	rm -rf "$LLSRC.partial"
	git clone --quiet --no-checkout "$BUNDLE" "$LLSRC.partial" &&
		git -C "$LLSRC.partial" checkout --quiet --detach "$COMMIT" &&
		mv "$LLSRC.partial" "$LLSRC" ||
		die "cannot clone $BUNDLE into $LLSRC"
}
clone_headers
for h in include/llama.h ggml/include/ggml-backend.h; do
	[ -f "$LLSRC/$h" ] || die "$LLSRC/$h missing after checkout of $COMMIT"
done

# -- 3. llbench ---------------------------------------------------------------

LLAMA_SO=$(one_lib 'libllama.*so')
GGML_SO=$(one_lib 'libggml.*so')
GGML_BASE_SO=$(one_lib 'libggml-base*.so')
set -- "$LIBDIR"/libggml-cpu*.so
[ -f "$1" ] || die "no CPU backend (libggml-cpu*.so) in $LIBDIR"

if [ -x "$OUT" ] && [ -z "$(find "$SRC_C" "$LLAMA_SO" "$GGML_SO" -newer "$OUT")" ]; then
	say "3/3 $OUT is newer than llbench.c and the libraries"
else
	say "3/3 ${CC:-cc} $SRC_C -> $OUT"
	# -isystem: warnings in llama.cpp's headers are not ours to fix
	# shellcheck disable=SC2086 # CFLAGS is a list of words
	"${CC:-cc}" -std=c11 -O2 -Wall -Wextra -Wshadow -Wstrict-prototypes \
		-Wmissing-prototypes ${CFLAGS:-} \
		-isystem "$LLSRC/include" -isystem "$LLSRC/ggml/include" \
		-DLLBENCH_DEFAULT_LIBDIR="\"$LIBDIR\"" \
		-o "$OUT.partial" "$SRC_C" "$LLAMA_SO" "$GGML_SO" "$GGML_BASE_SO" -lm \
		-Wl,-rpath,"$LIBDIR" &&
		mv "$OUT.partial" "$OUT" ||
		die "compiling $SRC_C failed"
fi

# Without arguments llbench prints its usage and exits 2; anything else
# (127: a library the dynamic loader cannot find) means a broken build.
rc=0
"$OUT" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || die "$OUT does not start (exit status $rc); check ldd $OUT"
say "built against llama.cpp $RELEASE ($COMMIT), libraries in $LIBDIR"
printf '%s\n' "$OUT"
