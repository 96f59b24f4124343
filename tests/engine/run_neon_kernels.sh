#!/bin/sh
# run_neon_kernels.sh — the arm64 (NEON) kernel path under test: build
# test_kernels.c and the kernel sources with Debian's aarch64 cross
# compiler (static, with tests/engine/cross/cmocka.h standing in for
# cmocka) and run it under qemu-user. Exit 77 (meson: skipped) when the
# cross tools are not installed:
#   apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
# Environment: HEARTH_SRC, HEARTH_BUILD (meson's test_env).
set -eu
CC=aarch64-linux-gnu-gcc
QEMU=$(command -v qemu-aarch64 || command -v qemu-aarch64-static || true)
if ! command -v "$CC" >/dev/null 2>&1 || [ -z "$QEMU" ]; then
	echo "skipped: $CC or qemu-aarch64 not installed" \
	     "(apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)"
	exit 77
fi
src=${HEARTH_SRC:?}
out=${HEARTH_BUILD:?}/tests/engine/test_kernels_arm64
e=$src/engine
$CC -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Wno-unused-parameter -D_GNU_SOURCE -static \
	-I "$src/tests/engine/cross" -I "$e" -o "$out" \
	"$src/tests/engine/test_kernels.c" "$e/quant.c" "$e/kernels.c" \
	"$e/kernels_scalar.c" "$e/kernels_tiled.c" "$e/kernels_cpu.c" \
	"$e/kernels_vec.c" "$e/kernels_neon.c" "$e/threadpool.c" \
	-lm -lpthread
# the CPU must report NEON, and the test must actually run the neon path
exec "$QEMU" -cpu max "$out"
