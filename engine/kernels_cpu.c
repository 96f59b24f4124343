/*
 * kernels_cpu.c — which SIMD paths the running CPU (and OS) can execute.
 *
 * Compiled with the baseline flags only: these checks run before any path
 * is chosen, so nothing here may use an instruction the check is about.
 * x86: CPUID feature bits plus XGETBV, since an OS that does not save the
 * YMM/ZMM registers on a context switch makes the instructions unusable
 * even where CPUID lists them. arm64: the kernel's hwcaps.
 *
 * Threading: pure functions; any thread.
 */
#include "kernels_tiled.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

/* XCR0 bits: SSE, AVX (YMM upper), opmask, ZMM upper 256, ZMM 16-31. */
#define XCR0_YMM 0x06u
#define XCR0_ZMM 0xe6u

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

/* CPUID leaf 1 ECX and leaf 7 subleaf 0 EBX/ECX; false if unavailable or
 * the OS has not enabled XSAVE-managed AVX state. */
static bool cpuid_regs(uint32_t *l1_ecx, uint32_t *l7_ebx, uint32_t *l7_ecx)
{
	uint32_t a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return false;
	*l1_ecx = c;
	if (!(c & bit_OSXSAVE))
		return false;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return false;
	*l7_ebx = b;
	*l7_ecx = c;
	return true;
}

bool kcpu_has_avx2(void)
{
	uint32_t c1, b7, c7;

	if (!cpuid_regs(&c1, &b7, &c7))
		return false;
	return (c1 & bit_AVX) && (c1 & bit_FMA) && (c1 & bit_F16C) &&
	       (b7 & bit_AVX2) && (xgetbv0() & XCR0_YMM) == XCR0_YMM;
}

bool kcpu_has_avx512(void)
{
	uint32_t c1, b7, c7;

	if (!kcpu_has_avx2() || !cpuid_regs(&c1, &b7, &c7))
		return false;
	return (b7 & bit_AVX512F) && (b7 & bit_AVX512BW) &&
	       (b7 & bit_AVX512VL) && (b7 & bit_AVX512DQ) &&
	       (c7 & bit_AVX512VNNI) && (c7 & bit_AVX512VBMI) &&
	       (xgetbv0() & XCR0_ZMM) == XCR0_ZMM;
}

/*
 * AMX-TILE + AMX-INT8, and the tile data state granted to this process:
 * Linux keeps the 8 KiB of tile registers off until a process asks for
 * them (arch_prctl ARCH_REQ_XCOMP_PERM), so this check also asks. The
 * permission is per process and harmless to request twice.
 */
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
#define XCR0_TILE 0x60000u /* XTILECFG, XTILEDATA */

bool kcpu_has_amx(void)
{
	uint32_t a, b, c, d;

	if (!kcpu_has_avx512() || !__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return false;
	/* AMX-TILE, AMX-INT8, AMX-BF16 (the path's prefill is bf16 tiles) */
	if (!(d & (1u << 24)) || !(d & (1u << 25)) || !(d & (1u << 22)))
		return false;
	/* AVX512-BF16 (leaf 7 subleaf 1, EAX bit 5) converts its operands */
	if (!__get_cpuid_count(7, 1, &a, &b, &c, &d) || !(a & (1u << 5)))
		return false;
	if ((xgetbv0() & XCR0_TILE) != XCR0_TILE)
		return false;
	return syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

bool kcpu_has_neon(void)
{
	return false;
}

#elif defined(__aarch64__)
#include <sys/auxv.h>

#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif

bool kcpu_has_avx2(void)
{
	return false;
}

bool kcpu_has_avx512(void)
{
	return false;
}

bool kcpu_has_amx(void)
{
	return false;
}

bool kcpu_has_neon(void)
{
	return (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
}

#else

bool kcpu_has_avx2(void)
{
	return false;
}

bool kcpu_has_avx512(void)
{
	return false;
}

bool kcpu_has_amx(void)
{
	return false;
}

bool kcpu_has_neon(void)
{
	return false;
}
#endif
