/*
 * kernels_avx512.c — the AVX-512 path (F, BW, VL, DQ, VNNI, VBMI: Ice Lake,
 * Sapphire Rapids, Zen 4 and later) and the "amx" path built on it (the
 * same kernels plus AMX-INT8 tiles for many-token products). Compiled with
 * its own -m flags (engine/meson.build) and only ever run after
 * kcpu_has_avx512() / kcpu_has_amx() said yes.
 *
 * Three ways through a matmul, by token count and by whether the matrix
 * was repacked at load time (engine_matmul_repack):
 *  - tiles (few tokens, GGUF layout): 4 rows × ≤4 tokens, weights unpacked
 *    per row and group of blocks, below;
 *  - gemm (≥ GEMM_MIN tokens, GGUF layout): 16 rows gathered into a
 *    rows-as-lanes layout once per call and K-slice, every token streamed
 *    past them (g_*, gk_*, fg_*);
 *  - repacked Q4_0/Q8_0 (KT_LAYOUT_R16): rows already interleaved in the
 *    file order of groups of 16, any token count (pk_*), and on AMX the
 *    tile kernels for 16 tokens at a time (amx_*).
 *
 * Quantized weights meet activations quantized on the fly to int8, and the
 * products are summed with VNNI's vpdpbusd (unsigned × signed bytes → int32)
 * or vpdpwssd (int16 pairs, which applies K-quant sub-block scales in the
 * same instruction). The activation layouts are this file's own, chosen so
 * that a weight block unpacks with no shuffles:
 *
 *   Q4_0 weights — groups of 4 blocks (128 elements), struct a4_group:
 *     lo[64]  int8 elements 0..15 of blocks 0..3 (16 each)
 *     hi[64]  int8 elements 16..31 of blocks 0..3
 *     corr[16] int32, lane i: −8·Σ of the 8 activation bytes lane i meets
 *              (the weights enter vpdpbusd unsigned as q+8; starting the
 *              accumulator at corr removes the +8 exactly)
 *     d[16]   float, lane i: scale of block i/4
 *   Q8_0 weights — groups of 2 blocks, struct a8_group: q[64] natural,
 *     corr[16] = −128·Σ of lane i's 4 bytes (weights enter as q XOR 0x80
 *     = q+128), d[16] with lane i → block i/8.
 *   K-quants — one struct ak_block per 256 elements (Q8_K-like): q[256]
 *     in the order the weight type unpacks (Q4_K/Q5_K: sub-blocks 0 2 1 3
 *     4 6 5 7; Q6_K: natural), Σq per 16 and per 32, and the scale.
 *
 * Activation quantization (per block of 32 for Q4_0/Q8_0 weights, of 256
 * for K-quants): amax = max|x|; Q8_0 family d = amax/127, id = 1/d (0 if
 * d = 0); K family iscale = 127/amax, d = 1/iscale; q = round-to-nearest-
 * even(x·id). test_kernels.c emulates exactly this.
 *
 * Every tile computes rmax weight rows × T tokens with one float
 * accumulator per pair; a row past nr re-reads the last valid row (no
 * over-read) and its sums are dropped. Row tails that are not a whole
 * group are read with masked loads, which never touch bytes past the row.
 *
 * Threading: pure functions of their arguments; kernels_tiled.c threads.
 */
#include "kernels_tiled.h"

#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))
/* Loops over tile rows, tokens and vector parts have small constant trip
 * counts: unrolled fully, their accumulators stay in registers (GCC does
 * not always do it by itself, at -O2 least of all). */
#define UNROLL _Pragma("GCC unroll 16")

/* Decode streams every weight byte from memory once, and one core is
 * latency-bound doing it: the hardware prefetchers alone keep too few
 * lines in flight (measured on the reference VM: single-thread decode
 * 0.67× llama.cpp without software prefetch, 0.85× at 4 KiB, ~0.95× at
 * 8 KiB into L2). So every stream fetches PF_DIST bytes ahead into L2,
 * whose queue holds more misses than L1's fill buffers. */
#ifndef PF_DIST
#define PF_DIST 8192
#endif
#ifndef PF_HINT
#define PF_HINT _MM_HINT_T1
#endif
/* The n bytes at p, PF_DIST ahead: every line they touch (a group or
 * block is rarely line-aligned), so none is left to a demand miss. */
#define PREFETCH(p, n)                                                         \
	do {                                                                   \
		const char *pf_ = (const char *)(p) + PF_DIST;                 \
		for (size_t o_ = 0; o_ < (size_t)(n); o_ += 64)                \
			_mm_prefetch(pf_ + o_, PF_HINT);                       \
		_mm_prefetch(pf_ + (n) - 1, PF_HINT);                          \
	} while (0)

/* Tile shapes (rows × tokens); see the register budget notes by each. */
#ifndef QROWS_X
#define QROWS 4
#else
#define QROWS QROWS_X
#endif
#ifndef QROWS_X
#define QTOK 4
#else
#define QTOK QTOK_X
#endif

#define KROWS 4
#define KTOK 4
#define FROWS 4
#define FTOK 4

/* ---------------------------------------------------------------------------
 * Small helpers
 */
AI float half_to_float(ggml_half h)
{
	return _cvtsh_ss(h);
}

AI __mmask64 first_bytes(int64_t n)
{
	return n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
}

AI __m512 zero_ps(void)
{
	return _mm512_setzero_ps();
}

/* Four bytes at p broadcast to every int32 lane. */
AI __m512i bcast4(const void *p)
{
	int32_t v;

	memcpy(&v, p, 4);
	return _mm512_set1_epi32(v);
}

/* Mask of the first min(n, 16) lanes. */
AI __mmask16 tail16(int64_t n)
{
	return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
}

/* Store the nr × T sums of a tile, acc[r][t] → y[t·ldy + r]. The row loop
 * runs to the array's constant bound so every index is a constant after
 * unrolling and the accumulators stay in registers. */
#define STORE_TILE(acc, nr, T, y, ldy)                                         \
	do {                                                                   \
		UNROLL for (int r_ = 0; r_ < (int)(sizeof(acc) / sizeof((acc)[0])); r_++) \
			UNROLL for (int t_ = 0; t_ < (T); t_++)                       \
				if (r_ < (nr))                                 \
					(y)[t_ * (ldy) + r_] =                 \
						_mm512_reduce_add_ps((acc)[r_][t_]);     \
	} while (0)

/* NAME(…, nt, …) over the instantiations NAME_t(…, T), T = 1..TM (4 or 8);
 * the driver never passes nt > tmax. */
#define TILE_CASE(NAME, T)                                                     \
	case T: NAME##_t(w, rb, nr, xa, xs, ne0, y, ldy, T); break;
#define TILE_SWITCH(NAME, TM)                                                  \
	static void NAME(const uint8_t *w, size_t rb, int nr,                 \
			 const uint8_t *xa, size_t xs, int nt, int64_t ne0,   \
			 float *y, int64_t ldy)                               \
	{                                                                      \
		switch (nt) {                                                  \
		TILE_CASE(NAME, 1) TILE_CASE(NAME, 2) TILE_CASE(NAME, 3)       \
		TILE_CASES(NAME, TM)                                           \
		}                                                              \
	}
#define TILE_CASES(NAME, TM) TILE_CASES_##TM(NAME)
#define TILE_CASES_4(NAME) default: NAME##_t(w, rb, nr, xa, xs, ne0, y, ldy, 4); break;
#define TILE_CASES_8(NAME)                                                     \
	TILE_CASE(NAME, 4) TILE_CASE(NAME, 5) TILE_CASE(NAME, 6)               \
	TILE_CASE(NAME, 7)                                                     \
	default: NAME##_t(w, rb, nr, xa, xs, ne0, y, ldy, 8); break;

/* Row pointers of a tile, rows past nr clamped to the last valid one. */
AI void tile_rows(const uint8_t *w, size_t rb, int nr, int R,
		  const uint8_t **wr)
{
	UNROLL for (int r = 0; r < R; r++)
		wr[r] = w + (size_t)(r < nr ? r : nr - 1) * rb;
}

/* Quantize 16 floats with inverse scale id to int32 lanes (RNE). */
AI __m512i quant16(const float *x, __m512 id)
{
	return _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x), id));
}

AI float amax_n(const float *x, int n)
{
	__m512 m = zero_ps();

	for (int i = 0; i < n; i += 16)
		m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
	return _mm512_reduce_max_ps(m);
}

/* ---------------------------------------------------------------------------
 * Q8_0-family activations (for Q4_0 and Q8_0 weights)
 */
typedef struct a4_group {
	int8_t lo[64];    /* blocks 0..3, elements 0..15 each */
	int8_t hi[64];    /* blocks 0..3, elements 16..31 each */
	int32_t corr[16]; /* −8·Σ of the bytes lane i meets */
	float d[16];      /* scale of block i/4 */
} a4_group;

typedef struct a8_group {
	int8_t q[64];     /* blocks 0..1, natural order */
	int32_t corr[16]; /* −128·Σ of bytes 4i..4i+3 */
	float d[16];      /* scale of block i/8 */
} a8_group;

_Static_assert(sizeof(a4_group) == 256, "a4_group is four cache lines");
_Static_assert(sizeof(a8_group) == 192, "a8_group is three cache lines");

/* One block of 32: scale d and 32 int32 levels (two vectors). */
AI float quant_block32(const float *x, __m512i *q0, __m512i *q1)
{
	float d = amax_n(x, 32) / 127.0f;
	__m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);

	*q0 = quant16(x, id);
	*q1 = quant16(x + 16, id);
	return d;
}

static size_t a4_bytes(int64_t ne0)
{
	return (size_t)((ne0 / QK8_0 + 3) / 4) * sizeof(a4_group);
}

static void a4_prep(const float *x, void *xa, int64_t ne0)
{
	a4_group *g = xa;
	int64_t nb = ne0 / QK8_0;

	memset(g, 0, a4_bytes(ne0)); /* padding blocks: q = 0, d = 0 */
	for (int64_t b = 0; b < nb; b++) {
		a4_group *gg = g + b / 4;
		int k = (int)(b % 4);
		__m512i q0, q1;
		float d = quant_block32(x + b * QK8_0, &q0, &q1);

		_mm_storeu_si128((__m128i *)(gg->lo + 16 * k),
				 _mm512_cvtepi32_epi8(q0));
		_mm_storeu_si128((__m128i *)(gg->hi + 16 * k),
				 _mm512_cvtepi32_epi8(q1));
		UNROLL for (int i = 0; i < 4; i++)
			gg->d[4 * k + i] = d;
	}
	for (int64_t i = 0; i < (nb + 3) / 4; i++) {
		const __m512i eight = _mm512_set1_epi8(8);
		__m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight,
						_mm512_loadu_si512(g[i].lo));

		s = _mm512_dpbusd_epi32(s, eight, _mm512_loadu_si512(g[i].hi));
		_mm512_storeu_si512(g[i].corr,
				    _mm512_sub_epi32(_mm512_setzero_si512(), s));
	}
}

static size_t a8_bytes(int64_t ne0)
{
	return (size_t)((ne0 / QK8_0 + 1) / 2) * sizeof(a8_group);
}

static void a8_prep(const float *x, void *xa, int64_t ne0)
{
	a8_group *g = xa;
	int64_t nb = ne0 / QK8_0;

	memset(g, 0, a8_bytes(ne0));
	for (int64_t b = 0; b < nb; b++) {
		a8_group *gg = g + b / 2;
		int k = (int)(b % 2);
		__m512i q0, q1;
		float d = quant_block32(x + b * QK8_0, &q0, &q1);

		_mm_storeu_si128((__m128i *)(gg->q + 32 * k),
				 _mm512_cvtepi32_epi8(q0));
		_mm_storeu_si128((__m128i *)(gg->q + 32 * k + 16),
				 _mm512_cvtepi32_epi8(q1));
		UNROLL for (int i = 0; i < 8; i++)
			gg->d[8 * k + i] = d;
	}
	for (int64_t i = 0; i < (nb + 1) / 2; i++) {
		__m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(),
						_mm512_set1_epi8((char)0x80),
						_mm512_loadu_si512(g[i].q));

		_mm512_storeu_si512(g[i].corr,
				    _mm512_sub_epi32(_mm512_setzero_si512(), s));
	}
}

/* ---------------------------------------------------------------------------
 * Q4_0 weights. A group of 4 blocks is 72 bytes: two loads (bytes 0..63
 * and 8..71) and one vpermt2b gather the 64 qs bytes; vpermb gathers the
 * four scales, each repeated for its 4 int32 lanes.
 */
static const uint8_t q4_0_qs_idx[64] __attribute__((aligned(64))) = {
	2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
	20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35,
	38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53,
	56, 57, 58, 59, 60, 61, 62, 63, 120, 121, 122, 123, 124, 125, 126, 127,
};
static const uint8_t q4_0_d_idx[64] __attribute__((aligned(64))) = {
	0, 1, 0, 1, 0, 1, 0, 1, 18, 19, 18, 19, 18, 19, 18, 19,
	36, 37, 36, 37, 36, 37, 36, 37, 54, 55, 54, 55, 54, 55, 54, 55,
};

/* Register budget (R=4, T=4): 16 accumulators + lo, hi, dw of one row +
 * 3 temporaries; activations are memory operands. */
AI void q4_0_group(__m512i A, __m512i B, const uint8_t *xa, size_t xs,
		   int64_t g, int T, __m512 *acc)
{
	const __m512i m4 = _mm512_set1_epi8(0x0f);
	__m512i qs = _mm512_permutex2var_epi8(
		A, _mm512_load_si512(q4_0_qs_idx), B);
	__m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(
		_mm512_permutexvar_epi8(_mm512_load_si512(q4_0_d_idx), A)));
	__m512i lo = _mm512_and_si512(qs, m4);
	__m512i hi = _mm512_and_si512(_mm512_srli_epi16(qs, 4), m4);

	UNROLL for (int t = 0; t < T; t++) {
		const a4_group *x = (const a4_group *)(xa + (size_t)t * xs) + g;
		__m512i c = _mm512_load_si512(x->corr);

		c = _mm512_dpbusd_epi32(c, lo, _mm512_load_si512(x->lo));
		c = _mm512_dpbusd_epi32(c, hi, _mm512_load_si512(x->hi));
		acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c),
					 _mm512_mul_ps(dw, _mm512_load_ps(x->d)),
					 acc[t]);
	}
}

AI void q4_0_tile_t(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
		    size_t xs, int64_t ne0, float *y, int64_t ldy, int T)
{
	const uint8_t *wr[QROWS];
	__m512 acc[QROWS][QTOK];
	int64_t nb = ne0 / QK4_0, ng = nb / 4, rem = nb % 4;

	tile_rows(w, rb, nr, QROWS, wr);
	UNROLL for (int r = 0; r < QROWS; r++)
		UNROLL for (int t = 0; t < QTOK; t++)
			acc[r][t] = zero_ps();
	for (int64_t g = 0; g < ng; g++) {
		UNROLL for (int r = 0; r < QROWS; r++) {
			const uint8_t *p = wr[r] + 72 * g;

			PREFETCH(p, 72);

			q4_0_group(_mm512_loadu_si512(p), _mm512_loadu_si512(p + 8),
				   xa, xs, g, T, acc[r]);
		}
	}
	if (rem) {
		UNROLL for (int r = 0; r < QROWS; r++) {
			const uint8_t *p = wr[r] + 72 * ng;

			q4_0_group(_mm512_maskz_loadu_epi8(first_bytes(18 * rem), p),
				   _mm512_maskz_loadu_epi8(first_bytes(18 * rem - 8),
							   p + 8),
				   xa, xs, ng, T, acc[r]);
		}
	}
	STORE_TILE(acc, nr, T, y, ldy);
}

TILE_SWITCH(q4_0_tile, QTOK)

/* ---------------------------------------------------------------------------
 * Q8_0 weights: a pair of blocks is 68 bytes (loads at 0 and 4).
 */
static const uint8_t q8_0_qs_idx[64] __attribute__((aligned(64))) = {
	2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
	18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33,
	36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 124, 125, 126, 127,
};
static const uint8_t q8_0_d_idx[64] __attribute__((aligned(64))) = {
	0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1,
	34, 35, 34, 35, 34, 35, 34, 35, 34, 35, 34, 35, 34, 35, 34, 35,
};

AI void q8_0_pair(__m512i A, __m512i B, const uint8_t *xa, size_t xs,
		  int64_t g, int T, __m512 *acc)
{
	__m512i qs = _mm512_xor_si512(
		_mm512_permutex2var_epi8(A, _mm512_load_si512(q8_0_qs_idx), B),
		_mm512_set1_epi8((char)0x80));
	__m512 dw = _mm512_cvtph_ps(_mm512_castsi512_si256(
		_mm512_permutexvar_epi8(_mm512_load_si512(q8_0_d_idx), A)));

	UNROLL for (int t = 0; t < T; t++) {
		const a8_group *x = (const a8_group *)(xa + (size_t)t * xs) + g;
		__m512i c = _mm512_dpbusd_epi32(_mm512_load_si512(x->corr), qs,
						_mm512_load_si512(x->q));

		acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c),
					 _mm512_mul_ps(dw, _mm512_load_ps(x->d)),
					 acc[t]);
	}
}

AI void q8_0_tile_t(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
		    size_t xs, int64_t ne0, float *y, int64_t ldy, int T)
{
	const uint8_t *wr[QROWS];
	__m512 acc[QROWS][QTOK];
	int64_t nb = ne0 / QK8_0, ng = nb / 2;

	tile_rows(w, rb, nr, QROWS, wr);
	UNROLL for (int r = 0; r < QROWS; r++)
		UNROLL for (int t = 0; t < QTOK; t++)
			acc[r][t] = zero_ps();
	for (int64_t g = 0; g < ng; g++) {
		UNROLL for (int r = 0; r < QROWS; r++) {
			const uint8_t *p = wr[r] + 68 * g;

			PREFETCH(p, 68);

			q8_0_pair(_mm512_loadu_si512(p), _mm512_loadu_si512(p + 4),
				  xa, xs, g, T, acc[r]);
		}
	}
	if (nb % 2) {
		UNROLL for (int r = 0; r < QROWS; r++) {
			const uint8_t *p = wr[r] + 68 * ng;

			q8_0_pair(_mm512_maskz_loadu_epi8(first_bytes(34), p),
				  _mm512_maskz_loadu_epi8(first_bytes(30), p + 4),
				  xa, xs, ng, T, acc[r]);
		}
	}
	STORE_TILE(acc, nr, T, y, ldy);
}

TILE_SWITCH(q8_0_tile, QTOK)

/* ---------------------------------------------------------------------------
 * Many-token path for Q4_0 and Q8_0 (ktype.gemm). GEMM_ROWS weight rows
 * become the 16 int32 lanes: a g_block holds one block of 32 elements of
 * each row as signed levels, w[k][4r + j] = element 4k + j of row r, so
 * vpdpbusd against activation bytes 4k..4k+3 broadcast to every lane
 * sums 4 products per row. The repacking (gathers, once per chunk and
 * K-slice) is shared by every token; per token and block the work is 8
 * vpdpbusd + convert + scale, 512 multiply-adds per ~12 instructions.
 * Activations here are u8 = q + 128 (vpdpbusd's unsigned operand; q from
 * the same quantization as the tile path), so each row's accumulator
 * starts at −128·Σ levels.
 */
#define GEMM_ROWS 16
#define GEMM_SLICE 32  /* blocks per repacked K-slice (20 KiB of stack) */
#define GEMM_TOK 8
#define GEMM_MIN 16    /* fewer tokens: the tile path (repacking costs
			  about as much as ~10 tokens of work) */

typedef struct g_block {
	int8_t w[8][64];    /* w[k][4r + j]: level of row r, element 4k + j */
	int32_t corr[16];   /* −128·Σ levels of row r */
	float d[16];        /* scale of row r */
} g_block;

_Static_assert(sizeof(g_block) == 640, "g_block is ten cache lines");

static size_t g_act_bytes(int64_t ne0)
{
	return (size_t)ne0 + (size_t)(ne0 / QK8_0) * sizeof(float);
}

/* u8 q + 128 (natural order) for each element, then float d per block. */
static void g_act_prep(const float *x, void *xa, int64_t ne0)
{
	uint8_t *q = xa;
	float *dv = (float *)(q + ne0);

	for (int64_t b = 0; b < ne0 / QK8_0; b++) {
		__m512i q0, q1;
		const __m128i off = _mm_set1_epi8((char)0x80);

		dv[b] = quant_block32(x + b * QK8_0, &q0, &q1);
		_mm_storeu_si128((__m128i *)(q + b * QK8_0),
				 _mm_xor_si128(_mm512_cvtepi32_epi8(q0), off));
		_mm_storeu_si128((__m128i *)(q + b * QK8_0 + 16),
				 _mm_xor_si128(_mm512_cvtepi32_epi8(q1), off));
	}
}

/* Byte offsets of the rows of a chunk; rows past nr repeat row 0 (their
 * lanes are never stored). */
AI __m512i g_row_offsets(size_t rb, int nr)
{
	__m512i r = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,
				     3, 2, 1, 0);

	r = _mm512_maskz_mov_epi32((__mmask16)((1u << nr) - 1), r);
	return _mm512_mullo_epi32(r, _mm512_set1_epi32((int)rb));
}

/* Scales (fp16 at byte offset 0 of each row's block) and the accumulator
 * start values from the 8 level vectors. */
AI void g_finish(g_block *g, const uint8_t *base, __m512i off, const __m512i *lv)
{
	__m512i s = _mm512_setzero_si512();
	__m512i h = _mm512_i32gather_epi32(off, (const void *)base, 1);

	UNROLL for (int k = 0; k < 8; k++) {
		_mm512_store_si512(g->w[k], lv[k]);
		/* Σ levels: |level| < 128 so u8 1 × s8 level is exact */
		s = _mm512_dpbusd_epi32(s, _mm512_set1_epi8(1), lv[k]);
	}
	_mm512_store_si512(g->corr, _mm512_sub_epi32(_mm512_setzero_si512(),
						      _mm512_slli_epi32(s, 7)));
	_mm512_store_ps(g->d, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(h)));
}

static void g_pack_q4_0(const uint8_t *w, size_t rb, int nr, int64_t b0,
			int nbs, g_block *out)
{
	const __m512i off = g_row_offsets(rb, nr);
	const __m512i m4 = _mm512_set1_epi8(0x0f), eight = _mm512_set1_epi8(8);

	for (int b = 0; b < nbs; b++) {
		const uint8_t *base = w + (b0 + b) * (int64_t)sizeof(block_q4_0);
		__m512i lv[8];

		UNROLL for (int k = 0; k < 4; k++) {
			/* qs bytes 4k..4k+3: elements 4k.. (low) and 16+4k.. (high) */
			__m512i g = _mm512_i32gather_epi32(off, (const void *)(base + 2 + 4 * k), 1);

			lv[k] = _mm512_sub_epi8(_mm512_and_si512(g, m4), eight);
			lv[k + 4] = _mm512_sub_epi8(
				_mm512_and_si512(_mm512_srli_epi16(g, 4), m4), eight);
		}
		g_finish(out + b, base, off, lv);
	}
}

static void g_pack_q8_0(const uint8_t *w, size_t rb, int nr, int64_t b0,
			int nbs, g_block *out)
{
	const __m512i off = g_row_offsets(rb, nr);

	for (int b = 0; b < nbs; b++) {
		const uint8_t *base = w + (b0 + b) * (int64_t)sizeof(block_q8_0);
		__m512i lv[8];

		UNROLL for (int k = 0; k < 8; k++)
			lv[k] = _mm512_i32gather_epi32(off, (const void *)(base + 2 + 4 * k), 1);
		g_finish(out + b, base, off, lv);
	}
}

/* acc[t] (16 rows) += token t0+t over blocks b0..b0+nbs of the slice. */
AI void g_tokens(const g_block *g, int nbs, const uint8_t *xa, size_t xs,
		 int64_t ne0, int64_t b0, int T, __m512 *acc)
{
	for (int b = 0; b < nbs; b++, g++) {
		__m512i wv[8];
		__m512i c0 = _mm512_load_si512(g->corr);
		__m512 dw = _mm512_load_ps(g->d);

		UNROLL for (int k = 0; k < 8; k++)
			wv[k] = _mm512_load_si512(g->w[k]);
		UNROLL for (int t = 0; t < T; t++) {
			const uint8_t *xq = xa + (size_t)t * xs + (b0 + b) * QK8_0;
			const float *dx = (const float *)(xa + (size_t)t * xs + ne0);
			__m512i c = c0;

			UNROLL for (int k = 0; k < 8; k++) {
				int32_t x4;

				memcpy(&x4, xq + 4 * k, 4);
				c = _mm512_dpbusd_epi32(c, _mm512_set1_epi32(x4), wv[k]);
			}
			acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c),
						 _mm512_mul_ps(dw, _mm512_set1_ps(dx[b0 + b])),
						 acc[t]);
		}
	}
}

/* y[t·ldy + r] (+)= the slice's sums for T tokens from t0. */
AI void g_slice_t(const g_block *g, int nbs, const uint8_t *xa, size_t xs,
		  int64_t ne0, int64_t b0, float *y, int64_t ldy,
		  __mmask16 m, int T)
{
	__m512 acc[GEMM_TOK];

	UNROLL for (int t = 0; t < GEMM_TOK; t++)
		acc[t] = zero_ps();
	g_tokens(g, nbs, xa, xs, ne0, b0, T, acc);
	UNROLL for (int t = 0; t < T; t++) {
		float *yt = y + t * ldy;
		__m512 prev = b0 ? _mm512_maskz_loadu_ps(m, yt) : zero_ps();

		_mm512_mask_storeu_ps(yt, m, _mm512_add_ps(prev, acc[t]));
	}
}

static void g_slice(const g_block *g, int nbs, const uint8_t *xa, size_t xs,
		    int64_t ne0, int64_t b0, float *y, int64_t ldy,
		    __mmask16 m, int nt)
{
	switch (nt) {
	case 1: g_slice_t(g, nbs, xa, xs, ne0, b0, y, ldy, m, 1); break;
	case 2: g_slice_t(g, nbs, xa, xs, ne0, b0, y, ldy, m, 2); break;
	case 3: g_slice_t(g, nbs, xa, xs, ne0, b0, y, ldy, m, 3); break;
	case 4: g_slice_t(g, nbs, xa, xs, ne0, b0, y, ldy, m, 4); break;
	case 5: g_slice_t(g, nbs, xa, xs, ne0, b0, y, ldy, m, 5); break;
	case 6: g_slice_t(g, nbs, xa, xs, ne0, b0, y, ldy, m, 6); break;
	case 7: g_slice_t(g, nbs, xa, xs, ne0, b0, y, ldy, m, 7); break;
	default: g_slice_t(g, nbs, xa, xs, ne0, b0, y, ldy, m, 8); break;
	}
}

AI void g_gemm(void (*pack)(const uint8_t *, size_t, int, int64_t, int, g_block *),
	       const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
	       size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	g_block buf[GEMM_SLICE] __attribute__((aligned(64)));
	__mmask16 m = (__mmask16)((1u << nr) - 1);
	int64_t nb = ne0 / QK8_0;

	for (int64_t b0 = 0; b0 < nb; b0 += GEMM_SLICE) {
		int nbs = nb - b0 < GEMM_SLICE ? (int)(nb - b0) : GEMM_SLICE;

		pack(w, rb, nr, b0, nbs, buf);
		for (int t0 = 0; t0 < n_tok; t0 += GEMM_TOK)
			g_slice(buf, nbs, xa + (size_t)t0 * xs, xs, ne0, b0,
				y + t0 * ldy, ldy, m,
				n_tok - t0 < GEMM_TOK ? n_tok - t0 : GEMM_TOK);
	}
}

static void q4_0_gemm(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
		      size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	g_gemm(g_pack_q4_0, w, rb, nr, xa, xs, n_tok, ne0, y, ldy);
}

static void q8_0_gemm(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
		      size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	g_gemm(g_pack_q8_0, w, rb, nr, xa, xs, n_tok, ne0, y, ldy);
}

/* ---------------------------------------------------------------------------
 * Repacked Q4_0 and Q8_0 (engine_matmul_repack, layout KT_LAYOUT_R16).
 * Rows are interleaved in groups of 16 — the 16 int32 lanes — block by
 * block: a group's block b holds qs dword k of each row r at qs[k][4r..]
 * and the 16 scales, exactly the bytes of the 16 GGUF blocks (288 B for
 * Q4_0, 544 B for Q8_0), so group g starts where row 16g did and the row
 * count rounds up to 16 (zero rows, scale 0). Q8_0 levels are stored as
 * u8 q + 128 and Q4_0's as their nibbles (0..15): vpdpbusd's unsigned side,
 * against the activations' signed bytes broadcast 4 at a time; the
 * offset (128 or 8)·Σx of each activation block starts the accumulator.
 * A group streams sequentially (one run per thread in decode) and costs
 * ~25 vector instructions per 288 bytes instead of ~50 in the tile path.
 * Blocks are 288/544 bytes, so their vectors are 32-byte aligned only.
 */
#define R16 16
#define PK_SLICE 32  /* blocks per K-slice when many tokens share them */
#define PK_TOK 8

typedef struct q4r16 {
	uint8_t qs[4][64];   /* [k][4r + i]: qs byte 4k + i of row r */
	ggml_half d[R16];
} q4r16;

typedef struct q8r16 {
	uint8_t qs[8][64];   /* [k][4r + i]: q + 128 of element 4k + i, row r */
	ggml_half d[R16];
} q8r16;

_Static_assert(sizeof(q4r16) == R16 * sizeof(block_q4_0), "q4r16 = 16 blocks");
_Static_assert(sizeof(q8r16) == R16 * sizeof(block_q8_0), "q8r16 = 16 blocks");

/* Activations: int8 q[ne0] (natural order), then per block of 32 its scale
 * and the accumulator start −offset·Σq. */
typedef struct pk_blk {
	float d;
	int32_t corr;
} pk_blk;

static size_t pk_act_bytes(int64_t ne0)
{
	return (size_t)ne0 + (size_t)(ne0 / QK8_0) * sizeof(pk_blk);
}

AI void pk_prep(const float *x, void *xa, int64_t ne0, int offset)
{
	int8_t *q = xa;
	pk_blk *pb = (pk_blk *)(q + ne0);

	for (int64_t b = 0; b < ne0 / QK8_0; b++) {
		__m512i q0, q1;

		pb[b].d = quant_block32(x + b * QK8_0, &q0, &q1);
		pb[b].corr = -offset * _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
		_mm_storeu_si128((__m128i *)(q + b * QK8_0), _mm512_cvtepi32_epi8(q0));
		_mm_storeu_si128((__m128i *)(q + b * QK8_0 + 16), _mm512_cvtepi32_epi8(q1));
	}
}

static void pk_prep_q4_0(const float *x, void *xa, int64_t ne0)
{
	pk_prep(x, xa, ne0, 8);
}

static void pk_prep_q8_0(const float *x, void *xa, int64_t ne0)
{
	pk_prep(x, xa, ne0, 128);
}

/* acc[t] (16 rows) += blocks b0..b0+nbs of group wg · T tokens. */
AI void pk_group_t(const uint8_t *wg, bool q8, int64_t b0, int nbs,
		   const uint8_t *xa, size_t xs, int64_t ne0, __m512 *acc, int T)
{
	const __m512i m4 = _mm512_set1_epi8(0x0f);
	size_t bs = q8 ? sizeof(q8r16) : sizeof(q4r16);

	for (int64_t b = b0; b < b0 + nbs; b++) {
		const uint8_t *blk = wg + (size_t)b * bs;
		__m512i lv[8];  /* lv[j]: levels of elements 4j..4j+3 */
		__m512 dw;

		PREFETCH(blk, bs);
		if (q8) {
			UNROLL for (int k = 0; k < 8; k++)
				lv[k] = _mm512_loadu_si512(((const q8r16 *)blk)->qs[k]);
			dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)((const q8r16 *)blk)->d));
		} else {
			UNROLL for (int k = 0; k < 4; k++) {
				__m512i v = _mm512_loadu_si512(((const q4r16 *)blk)->qs[k]);

				lv[k] = _mm512_and_si512(v, m4);
				lv[k + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
			}
			dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)((const q4r16 *)blk)->d));
		}
		UNROLL for (int t = 0; t < T; t++) {
			const int8_t *xq = (const int8_t *)(xa + (size_t)t * xs) + b * QK8_0;
			const pk_blk *pb = (const pk_blk *)(xa + (size_t)t * xs + ne0) + b;
			__m512i c = _mm512_set1_epi32(pb->corr);

			UNROLL for (int j = 0; j < 8; j++)
				c = _mm512_dpbusd_epi32(c, lv[j], bcast4(xq + 4 * j));
			acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c),
						 _mm512_mul_ps(dw, _mm512_set1_ps(pb->d)), acc[t]);
		}
	}
}

/* One group's slice for T tokens; y[t·ldy + r] (+)= the sums, rows m. */
AI void pk_tokens_t(const uint8_t *wg, bool q8, int64_t b0, int nbs,
		    const uint8_t *xa, size_t xs, int64_t ne0, float *y,
		    int64_t ldy, __mmask16 m, int T)
{
	__m512 acc[PK_TOK];

	UNROLL for (int t = 0; t < PK_TOK; t++)
		acc[t] = zero_ps();
	pk_group_t(wg, q8, b0, nbs, xa, xs, ne0, acc, T);
	UNROLL for (int t = 0; t < T; t++) {
		float *yt = y + t * ldy;

		if (b0)
			acc[t] = _mm512_add_ps(acc[t], _mm512_maskz_loadu_ps(m, yt));
		_mm512_mask_storeu_ps(yt, m, acc[t]);
	}
}

#define PK_CASE(N)                                                             \
	case N:                                                                \
		pk_tokens_t(wg, q8, b0, nbs, xa, xs, ne0, y, ldy, m, N);      \
		break;

AI void pk_tokens(const uint8_t *wg, bool q8, int64_t b0, int nbs,
		  const uint8_t *xa, size_t xs, int64_t ne0, float *y,
		  int64_t ldy, __mmask16 m, int nt)
{
	switch (nt) {
	PK_CASE(1) PK_CASE(2) PK_CASE(3) PK_CASE(4) PK_CASE(5) PK_CASE(6)
	PK_CASE(7)
	default: PK_CASE(8)
	}
}

/* ktype.gemm for repacked rows [0, nr) (whole groups from w) and every
 * token. Many tokens: K-slices of PK_SLICE blocks so every token's slice
 * of activations stays in L2 while the groups stream past; a few tokens:
 * one slice, so a thread reads its rows in one sequential run. */
AI void pk_gemm(bool q8, const uint8_t *w, size_t rb, int nr,
		const uint8_t *xa, size_t xs, int n_tok, int64_t ne0, float *y,
		int64_t ldy)
{
	int64_t nb = ne0 / QK8_0;
	int64_t slice = n_tok > PK_TOK ? PK_SLICE : nb;

	for (int64_t b0 = 0; b0 < nb; b0 += slice) {
		int nbs = (int)(nb - b0 < slice ? nb - b0 : slice);

		for (int g = 0; g * R16 < nr; g++) {
			__mmask16 m = tail16(nr - g * R16);

			for (int t0 = 0; t0 < n_tok; t0 += PK_TOK)
				pk_tokens(w + (size_t)g * R16 * rb, q8, b0, nbs,
					  xa + (size_t)t0 * xs, xs, ne0,
					  y + t0 * ldy + g * R16, ldy, m,
					  n_tok - t0 < PK_TOK ? n_tok - t0 : PK_TOK);
		}
	}
}

static void pk_gemm_q4_0(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
			 size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	pk_gemm(false, w, rb, nr, xa, xs, n_tok, ne0, y, ldy);
}

static void pk_gemm_q8_0(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
			 size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	pk_gemm(true, w, rb, nr, xa, xs, n_tok, ne0, y, ldy);
}

/* ---------------------------------------------------------------------------
 * AMX (the "amx" path: everything as "avx512" except many-token
 * products). Repacked Q4_0/Q8_0 take AMX-BF16 tiles (below, "AMX-BF16
 * prefill"); Q4_K/Q5_K take the int8 tiles of the K-quant section, whose
 * tile configuration and batching helpers these are: TDPBSSD/TDPBSUD make
 * 16 × 16 int32 block sums (8192 multiply-adds) and AVX-512 applies the
 * per-block scales, in batches that let the tile unit and the vector
 * units work at the same time (AMX_BATCH).
 */
#define AMX_TOK 16

typedef struct amx_tilecfg {
	uint8_t palette;
	uint8_t start_row;
	uint8_t reserved[14];
	uint16_t colsb[16];
	uint8_t rows[16];
} amx_tilecfg;

/* Tiles 0-3: C (16 tokens × 16 int32); 4, 5: A (16 tokens × k_bytes, one
 * scale block); 6, 7: B (k_bytes/4 × 64 bytes). Tile configuration is per-thread state that
 * other AMX code in the process (another library) may count on keeping,
 * so amx_gemm saves the caller's configuration in *saved and puts it back
 * when done (a thread that had none gets the init state back). */
static void amx_config(amx_tilecfg *saved, int k_bytes)
{
	amx_tilecfg c;

	_tile_storeconfig(saved);
	memset(&c, 0, sizeof(c));
	c.palette = 1;
	for (int i = 0; i < 4; i++) {
		c.rows[i] = 16;
		c.colsb[i] = 64;
	}
	for (int i = 4; i < 6; i++) {
		c.rows[i] = 16;
		c.colsb[i] = (uint16_t)k_bytes;
		c.rows[i + 2] = (uint8_t)(k_bytes / 4);
		c.colsb[i + 2] = 64;
	}
	_tile_loadconfig(&c);
}

/* The tile loads are inline asm without a memory operand the compiler can
 * see: make the stores that built their sources happen first. */
#define AMX_BARRIER() __asm__ volatile("" ::: "memory")

/*
 * Tile work in batches of AMX_BATCH scale blocks. A TILESTORED holds back
 * every later load until it completes, so a batch is issued as: the tile
 * loads and products of batch n+1 (the tile unit runs them), the vector
 * epilogue of batch n (stored earlier, so its loads do not wait), then the
 * stores of batch n+1 — the products overlap the epilogue instead of
 * serialising with it. DP is _tile_dpbssd (signed levels) or _tile_dpbsud
 * (unsigned); tile numbers are literals, part of the instruction.
 */
#define AMX_BATCH 4
#define AMX_DP(DP, C, A, B, bt, a, xs)                                         \
	do {                                                                   \
		_tile_loadd(B, (bt), 64);                                      \
		_tile_loadd(A, (a), (xs));                                     \
		_tile_zero(C);                                                 \
		DP(C, A, B);                                                   \
	} while (0)
/* Products of blocks k < n of a batch: bt[k] B tiles, a[k] A addresses. */
#define AMX_BATCH_DP(DP, bt, a, xs, n)                                         \
	do {                                                                   \
		AMX_DP(DP, 0, 4, 6, (bt)[0], (a)[0], xs);                      \
		if ((n) > 1)                                                   \
			AMX_DP(DP, 1, 5, 7, (bt)[1], (a)[1], xs);              \
		if ((n) > 2)                                                   \
			AMX_DP(DP, 2, 4, 6, (bt)[2], (a)[2], xs);              \
		if ((n) > 3)                                                   \
			AMX_DP(DP, 3, 5, 7, (bt)[3], (a)[3], xs);              \
	} while (0)
#define AMX_BATCH_STORE(cb, n)                                                 \
	do {                                                                   \
		_tile_stored(0, (cb)[0], 64);                                  \
		if ((n) > 1)                                                   \
			_tile_stored(1, (cb)[1], 64);                          \
		if ((n) > 2)                                                   \
			_tile_stored(2, (cb)[2], 64);                          \
		if ((n) > 3)                                                   \
			_tile_stored(3, (cb)[3], 64);                          \
	} while (0)

/* ---------------------------------------------------------------------------
 * AMX-BF16 prefill for repacked Q4_0/Q8_0 (the "amx" path, ≥ BF_MIN tokens).
 *
 * Int8 tiles would need the C tile stored and rescaled after every
 * 32-wide block (each block has its own scales), and that store-and-scale
 * epilogue, not the tile unit, bounded them (measured: pp512 ~400 t/s on
 * Qwen2.5-0.5B Q4_0, 2 threads, against ~800 here). Here the weights are
 * dequantized once per call to bf16 B tiles (scales applied), the
 * activations converted to bf16, and the C tiles accumulate in f32 over the
 * whole row with no epilogue: one store per 16×16 outputs. Dequantizing a
 * chunk's rows once is shared by every token of the call (from ~16 tokens
 * on that beats the VNNI kernel). Every prompt call takes it, even a short
 * one, and decode never (ENGINE_MM_DECODE), so a token's numerics do not
 * depend on how the prompt was split (prefix reuse, batching). bf16
 * keeps 8 significant bits, about what int8 activations keep; the weights
 * are rounded once more (relative 2^-8).
 *
 * Work unit: BF_ROWS = 2 groups of 16 rows × every token, 2 × 2 C tiles
 * (two token tiles × the two groups) sharing each A and B tile load.
 * Tiles: 0-3 C (16 tokens × 16 f32), 4-5 A (16 tokens × 32 bf16),
 * 6-7 B (16 pairs × 16 rows of bf16 pairs). Rows longer than BF_KMAX go in
 * slices (the B cache lives on the stack), later slices adding to y.
 */
#define BF_ROWS 32
#define BF_KMAX 8192
#define BF_TARGET __attribute__((target("avx512bf16,amx-bf16")))

typedef struct bf_btile {
	uint16_t v[16][32];  /* [j][2n + p]: bf16 of element 2j + p of row n */
} bf_btile;

/* lanes [n][i] (16 rows × 4 elements 4k+i, int8 in v) scaled by dw[n],
 * as B rows j0 (elements 4k, 4k+1) and j0 + 1 (4k+2, 4k+3) of bt. */
BF_TARGET AI void bf_rows(__m512i v, __m512 dw, bf_btile *bt, int j0)
{
	const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16,
					      14, 12, 10, 8, 6, 4, 2, 0);
	const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
	__m512 f[4];
	__m512i p0, p1;

	UNROLL for (int c = 0; c < 4; c++) {
		/* lane l of chunk c is row 4c + l/4 */
		__m512i idx = _mm512_add_epi32(_mm512_set1_epi32(4 * c),
			_mm512_srli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8,
							   7, 6, 5, 4, 3, 2, 1, 0), 2));

		f[c] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
					     _mm512_extracti32x4_epi32(v, c))),
				     _mm512_permutexvar_ps(idx, dw));
	}
	/* 32-bit units: p0 unit 2n + h = pair h of row n (n < 8), p1 rows 8.. */
	p0 = (__m512i)_mm512_cvtne2ps_pbh(f[1], f[0]);
	p1 = (__m512i)_mm512_cvtne2ps_pbh(f[3], f[2]);
	_mm512_store_si512(bt->v[j0], _mm512_permutex2var_epi32(p0, even, p1));
	_mm512_store_si512(bt->v[j0 + 1], _mm512_permutex2var_epi32(p0, odd, p1));
}

/* Blocks [0, nb) of one 16-row group wg as bf16 B tiles. */
BF_TARGET static void bf_prepare(const uint8_t *wg, bool q8, int64_t nb, bf_btile *bt)
{
	const __m512i m4 = _mm512_set1_epi8(0x0f), eight = _mm512_set1_epi8(8);
	const __m512i k80 = _mm512_set1_epi8((char)0x80);
	size_t bs = q8 ? sizeof(q8r16) : sizeof(q4r16);

	for (int64_t b = 0; b < nb; b++) {
		const uint8_t *blk = wg + (size_t)b * bs;
		__m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(
			(const __m256i *)(blk + bs - R16 * sizeof(ggml_half))));

		if (q8) {
			UNROLL for (int k = 0; k < 8; k++)
				bf_rows(_mm512_xor_si512(_mm512_loadu_si512(
						((const q8r16 *)blk)->qs[k]), k80),
					dw, &bt[b], 2 * k);
		} else {
			UNROLL for (int k = 0; k < 4; k++) {
				__m512i v = _mm512_loadu_si512(((const q4r16 *)blk)->qs[k]);

				bf_rows(_mm512_sub_epi8(_mm512_and_si512(v, m4), eight),
					dw, &bt[b], 2 * k);
				bf_rows(_mm512_sub_epi8(_mm512_and_si512(
						_mm512_srli_epi16(v, 4), m4), eight),
					dw, &bt[b], 8 + 2 * k);
			}
		}
	}
}

static size_t bf_act_bytes(int64_t ne0)
{
	return (size_t)ne0 * sizeof(uint16_t);
}

BF_TARGET static void bf_act_prep(const float *x, void *xa, int64_t ne0)
{
	for (int64_t i = 0; i < ne0; i += 32)
		_mm512_storeu_si512((uint8_t *)xa + i * 2, (__m512i)_mm512_cvtne2ps_pbh(
			_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i)));
}

/* Token tile tt (0, 1) has rows[tt] tokens; 0 rows: the tile is unused. */
static void bf_config(int rows0, int rows1)
{
	amx_tilecfg c;

	memset(&c, 0, sizeof(c));
	c.palette = 1;
	for (int i = 0; i < 8; i++)
		c.colsb[i] = 64;
	c.rows[0] = c.rows[1] = c.rows[4] = (uint8_t)rows0;
	c.rows[2] = c.rows[3] = c.rows[5] = (uint8_t)(rows1 ? rows1 : 1);
	c.rows[6] = c.rows[7] = 16;
	_tile_loadconfig(&c);
}

/* C tile (rows × 16 f32) to y rows t, columns of group g, m valid. */
#define BF_STORE(C, rows, yt, ldy, m, tmp)                                     \
	do {                                                                   \
		if ((m) == 0xffff) {                                           \
			_tile_stored(C, (yt), (ldy) * (int64_t)sizeof(float)); \
		} else {                                                       \
			_tile_stored(C, (tmp), 64);                            \
			for (int r_ = 0; r_ < (rows); r_++)                    \
				_mm512_mask_storeu_ps((yt) + r_ * (ldy), (m),  \
					_mm512_load_ps((tmp) + 16 * r_));      \
		}                                                              \
	} while (0)

/* C tile from y (acc) or zero; partial groups through tmp. */
#define BF_LOAD(C, acc, rows, yt, ldy, m, tmp)                                 \
	do {                                                                   \
		if (!(acc)) {                                                  \
			_tile_zero(C);                                         \
		} else if ((m) == 0xffff) {                                    \
			_tile_loadd(C, (yt), (ldy) * (int64_t)sizeof(float));  \
		} else {                                                       \
			for (int r_ = 0; r_ < (rows); r_++)                    \
				_mm512_store_ps((tmp) + 16 * r_,               \
					_mm512_maskz_loadu_ps((m), (yt) + r_ * (ldy))); \
			AMX_BARRIER();                                         \
			_tile_loadd(C, (tmp), 64);                             \
		}                                                              \
	} while (0)

/* Up to 32 tokens (xa = the first, n0/n1 in the two token tiles) × the
 * chunk's ng groups (prepared in bt[g]), nb blocks; acc: add to y. */
BF_TARGET static void bf_tok32(const bf_btile *const bt[2], int ng, int64_t nb,
			       const uint8_t *xa, size_t xs, int n1, float *y,
			       int64_t ldy, const __mmask16 m[2], int n0, bool acc)
{
	float tmp[16 * 16] __attribute__((aligned(64)));
	const uint8_t *xa1 = xa + 16 * xs;

	BF_LOAD(0, acc, n0, y, ldy, m[0], tmp);
	BF_LOAD(1, acc && ng > 1, n0, y + 16, ldy, m[1], tmp);
	BF_LOAD(2, acc && n1, n1, y + 16 * ldy, ldy, m[0], tmp);
	BF_LOAD(3, acc && n1 && ng > 1, n1, y + 16 * ldy + 16, ldy, m[1], tmp);
	AMX_BARRIER();
	for (int64_t b = 0; b < nb; b++) {
		_tile_loadd(4, xa + b * 64, xs);
		_tile_loadd(6, bt[0][b].v, 64);
		_tile_dpbf16ps(0, 4, 6);
		if (n1) {
			_tile_loadd(5, xa1 + b * 64, xs);
			_tile_dpbf16ps(2, 5, 6);
		}
		if (ng > 1) {
			_tile_loadd(7, bt[1][b].v, 64);
			_tile_dpbf16ps(1, 4, 7);
			if (n1)
				_tile_dpbf16ps(3, 5, 7);
		}
	}
	BF_STORE(0, n0, y, ldy, m[0], tmp);
	if (ng > 1)
		BF_STORE(1, n0, y + 16, ldy, m[1], tmp);
	if (n1) {
		BF_STORE(2, n1, y + 16 * ldy, ldy, m[0], tmp);
		if (ng > 1)
			BF_STORE(3, n1, y + 16 * ldy + 16, ldy, m[1], tmp);
	}
}

/* ktype.gemm: rows [0, nr ≤ BF_ROWS) of w (whole groups), every token. */
BF_TARGET static void bf_gemm(bool q8, const uint8_t *w, size_t rb, int nr,
			      const uint8_t *xa, size_t xs, int n_tok, int64_t ne0,
			      float *y, int64_t ldy)
{
	bf_btile cache[2][BF_KMAX / QK8_0] __attribute__((aligned(64)));
	const bf_btile *bt[2] = { cache[0], cache[1] };
	int64_t nb = ne0 / QK8_0;
	int ng = (nr + R16 - 1) / R16, cfg0 = -1, cfg1 = -1;
	__mmask16 m[2] = { tail16(nr), nr > R16 ? tail16(nr - R16) : 0 };
	amx_tilecfg saved;

	size_t bs = q8 ? sizeof(q8r16) : sizeof(q4r16);

	_tile_storeconfig(&saved);
	for (int64_t b0 = 0; b0 < nb; b0 += BF_KMAX / QK8_0) {
		int64_t nbs = nb - b0 < BF_KMAX / QK8_0 ? nb - b0 : BF_KMAX / QK8_0;

		for (int g = 0; g < ng; g++)
			bf_prepare(w + (size_t)g * R16 * rb + (size_t)b0 * bs, q8, nbs,
				   cache[g]);
		for (int t0 = 0; t0 < n_tok; t0 += 32) {
			int n = n_tok - t0 < 32 ? n_tok - t0 : 32;
			int n0 = n < 16 ? n : 16, n1 = n - n0;

			if (n0 != cfg0 || n1 != cfg1) {
				bf_config(n0, n1);
				cfg0 = n0;
				cfg1 = n1;
			}
			bf_tok32(bt, ng, nbs, xa + (size_t)t0 * xs + (size_t)b0 * 64, xs, n1,
				 y + t0 * ldy, ldy, m, n0, b0 > 0);
		}
	}
	_tile_loadconfig(&saved);
}

static void bf_gemm_q4_0(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
			 size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	bf_gemm(false, w, rb, nr, xa, xs, n_tok, ne0, y, ldy);
}

static void bf_gemm_q8_0(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
			 size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	bf_gemm(true, w, rb, nr, xa, xs, n_tok, ne0, y, ldy);
}

/* The tile path of repacked rows: one group, up to PK_TOK tokens. */
static void pk_tile_q4_0(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
			 size_t xs, int nt, int64_t ne0, float *y, int64_t ldy)
{
	(void)rb;
	pk_tokens(w, false, 0, (int)(ne0 / QK8_0), xa, xs, ne0, y, ldy, tail16(nr), nt);
}

static void pk_tile_q8_0(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
			 size_t xs, int nt, int64_t ne0, float *y, int64_t ldy)
{
	(void)rb;
	pk_tokens(w, true, 0, (int)(ne0 / QK8_0), xa, xs, ne0, y, ldy, tail16(nr), nt);
}

static size_t avx512_repack_size(const engine_mat *w)
{
	if (w->layout || (w->type != GGML_T_Q4_0 && w->type != GGML_T_Q8_0) ||
	    w->ne0 % QK8_0 || w->ne1 <= 0)
		return 0;
	return (size_t)((w->ne1 + R16 - 1) / R16) * R16 * w->row_bytes;
}

static void avx512_repack(const engine_mat *w, void *dst, engine_mat *out)
{
	bool q8 = w->type == GGML_T_Q8_0;
	size_t bs = q8 ? sizeof(block_q8_0) : sizeof(block_q4_0);
	int64_t nb = w->ne0 / QK8_0, ng = (w->ne1 + R16 - 1) / R16;
	uint8_t *o = dst;

	for (int64_t g = 0; g < ng; g++) {
		for (int64_t b = 0; b < nb; b++, o += R16 * bs) {
			ggml_half *d = (ggml_half *)(o + R16 * bs - R16 * sizeof(ggml_half));

			memset(o, q8 ? 0x80 : 0, R16 * bs);
			for (int r = 0; r < R16 && g * R16 + r < w->ne1; r++) {
				const uint8_t *src = (const uint8_t *)w->data +
						     (size_t)(g * R16 + r) * w->row_bytes + b * bs;

				memcpy(&d[r], src, sizeof(ggml_half));
				for (size_t k = 0; k < (bs - 2) / 4; k++)
					for (int i = 0; i < 4; i++)
						o[k * 64 + 4 * r + i] = (uint8_t)(
							src[2 + 4 * k + i] ^ (q8 ? 0x80 : 0));
			}
			if (g * R16 + R16 > w->ne1) /* padding rows: scale 0 */
				for (int64_t r = w->ne1 - g * R16; r < R16; r++)
					d[r] = 0;
		}
	}
	*out = *w;
	out->data = dst;
	out->layout = KT_LAYOUT_R16;
}

/* ---------------------------------------------------------------------------
 * K-quant activations: one ak_block per 256 elements.
 */
typedef struct ak_block {
	int8_t q[QK_K];     /* permuted per weight type, see the file comment */
	int16_t bsum16[16]; /* Σq over natural elements 16i..16i+15 */
	int16_t bsum32[8];  /* Σq over natural elements 32i..32i+31 */
	float d;
	uint8_t pad[12];
} ak_block;

_Static_assert(sizeof(ak_block) == 320, "ak_block is five cache lines");

static size_t ak_bytes(int64_t ne0)
{
	return (size_t)(ne0 / QK_K) * sizeof(ak_block);
}

/* Quantize 256 elements; order[i] is the natural sub-block (of 32) that
 * goes to position 32·i of q. */
AI void ak_quant(const float *x, ak_block *b, const int *order)
{
	float amax = amax_n(x, QK_K);
	float iscale = amax != 0.0f ? 127.0f / amax : 0.0f;
	__m512 is = _mm512_set1_ps(iscale);

	b->d = amax != 0.0f ? 1.0f / iscale : 0.0f;
	for (int j = 0; j < 8; j++) {
		int s = order[j];
		__m512i q0 = quant16(x + 32 * s, is);
		__m512i q1 = quant16(x + 32 * s + 16, is);
		int s0 = _mm512_reduce_add_epi32(q0);
		int s1 = _mm512_reduce_add_epi32(q1);

		_mm_storeu_si128((__m128i *)(b->q + 32 * j), _mm512_cvtepi32_epi8(q0));
		_mm_storeu_si128((__m128i *)(b->q + 32 * j + 16),
				 _mm512_cvtepi32_epi8(q1));
		b->bsum16[2 * s] = (int16_t)s0;
		b->bsum16[2 * s + 1] = (int16_t)s1;
		b->bsum32[s] = (int16_t)(s0 + s1);
	}
	memset(b->pad, 0, sizeof(b->pad));
}

static void ak_prep_k4(const float *x, void *xa, int64_t ne0)
{
	static const int order[8] = { 0, 2, 1, 3, 4, 6, 5, 7 };
	ak_block *b = xa;

	for (int64_t i = 0; i < ne0 / QK_K; i++)
		ak_quant(x + i * QK_K, b + i, order);
}

static void ak_prep_natural(const float *x, void *xa, int64_t ne0)
{
	static const int order[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	ak_block *b = xa;

	for (int64_t i = 0; i < ne0 / QK_K; i++)
		ak_quant(x + i * QK_K, b + i, order);
}

/* ---------------------------------------------------------------------------
 * Q4_K and Q5_K weights. A 64-byte half of qs holds chunks c, c+1 (32 bytes
 * each); its low nibbles are sub-blocks 2c | 2c+2, its high nibbles 2c+1 |
 * 2c+3 — the order ak_prep_k4 stores the activations in. maddubs makes
 * int16 pair sums (≤ 2·31·127, no saturation) and vpdpwssd multiplies them
 * by the 6-bit sub-block scales while accumulating.
 */
typedef struct k4_row {
	__m512i sc[4];  /* int16 scales for lo0, hi0, lo1, hi1 */
	__m128i mins;   /* int16 mins of sub-blocks 0..7 */
	__m512 d, dmin; /* broadcast d and −dmin */
} k4_row;

/* Scales and mins of one Q4_K/Q5_K block (layout: engine_k4_scale_min). */
AI void k4_scales(const uint8_t *s, ggml_half d, ggml_half dmin, k4_row *k)
{
	uint32_t a, b, c;

	memcpy(&a, s, 4);
	memcpy(&b, s + 4, 4);
	memcpy(&c, s + 8, 4);
	uint32_t sc_lo = a & 0x3f3f3f3fu;
	uint32_t sc_hi = (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u);
	uint32_t m_lo = b & 0x3f3f3f3fu;
	uint32_t m_hi = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u);
	__m128i sm = _mm_set_epi32((int)m_hi, (int)m_lo, (int)sc_hi, (int)sc_lo);
	__m512i smb = _mm512_broadcast_i32x4(sm);
	/* word = scale byte j, zero high byte (index bit 7 set → 0) */
	static const short sel[4][2] = { { 0, 2 }, { 1, 3 }, { 4, 6 }, { 5, 7 } };

	UNROLL for (int i = 0; i < 4; i++) {
		__m512i idx = _mm512_mask_blend_epi64(
			0xf0, _mm512_set1_epi16((short)(0x8000 | sel[i][0])),
			_mm512_set1_epi16((short)(0x8000 | sel[i][1])));

		k->sc[i] = _mm512_shuffle_epi8(smb, idx);
	}
	k->mins = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
	k->d = _mm512_set1_ps(half_to_float(d));
	k->dmin = _mm512_set1_ps(-half_to_float(dmin));
}

/* The per-token part shared by Q4_K and Q5_K: q[0..3] are the unsigned
 * levels lo0, hi0, lo1, hi1 of one block. */
AI void k4_tokens(const __m512i *q, const k4_row *k, const uint8_t *xa,
		  size_t xs, int64_t sb, int T, __m512 *acc)
{
	UNROLL for (int t = 0; t < T; t++) {
		const ak_block *x = (const ak_block *)(xa + (size_t)t * xs) + sb;
		__m512i ai = _mm512_setzero_si512();

		UNROLL for (int i = 0; i < 4; i++)
			ai = _mm512_dpwssd_epi32(
				ai, _mm512_maddubs_epi16(q[i],
					_mm512_load_si512(x->q + 64 * i)), k->sc[i]);
		__m128i am = _mm_madd_epi16(k->mins,
					    _mm_load_si128((const __m128i *)x->bsum32));
		__m512 f = _mm512_fmadd_ps(
			_mm512_cvtepi32_ps(ai), k->d,
			_mm512_mul_ps(_mm512_zextps128_ps512(_mm_cvtepi32_ps(am)),
				      k->dmin));

		acc[t] = _mm512_fmadd_ps(f, _mm512_set1_ps(x->d), acc[t]);
	}
}

AI void q4_k_block(const block_q4_K *b, const uint8_t *xa, size_t xs,
		   int64_t sb, int T, __m512 *acc)
{
	const __m512i m4 = _mm512_set1_epi8(0x0f);
	__m512i Q0 = _mm512_loadu_si512(b->qs), Q1 = _mm512_loadu_si512(b->qs + 64);
	__m512i q[4] = {
		_mm512_and_si512(Q0, m4),
		_mm512_and_si512(_mm512_srli_epi16(Q0, 4), m4),
		_mm512_and_si512(Q1, m4),
		_mm512_and_si512(_mm512_srli_epi16(Q1, 4), m4),
	};
	k4_row k;

	k4_scales(b->scales, b->d, b->dmin, &k);
	k4_tokens(q, &k, xa, xs, sb, T, acc);
}

/* Q5_K: bit 4 of q. qh[l] bit 2c is element l of chunk c's low nibbles,
 * bit 2c+1 of its high nibbles; both halves of H hold qh. */
AI void q5_k_block(const block_q5_K *b, const uint8_t *xa, size_t xs,
		   int64_t sb, int T, __m512 *acc)
{
	const __m512i m4 = _mm512_set1_epi8(0x0f), b4 = _mm512_set1_epi8(0x10);
	__m512i Q0 = _mm512_loadu_si512(b->qs), Q1 = _mm512_loadu_si512(b->qs + 64);
	__m512i H = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)b->qh));
	static const uint8_t bit[4][2] = { { 1, 4 }, { 2, 8 }, { 16, 64 }, { 32, 128 } };
	__m512i q[4] = {
		_mm512_and_si512(Q0, m4),
		_mm512_and_si512(_mm512_srli_epi16(Q0, 4), m4),
		_mm512_and_si512(Q1, m4),
		_mm512_and_si512(_mm512_srli_epi16(Q1, 4), m4),
	};
	k4_row k;

	UNROLL for (int i = 0; i < 4; i++) {
		__m512i sel = _mm512_mask_blend_epi64(
			0xf0, _mm512_set1_epi8((char)bit[i][0]),
			_mm512_set1_epi8((char)bit[i][1]));

		q[i] = _mm512_mask_add_epi8(q[i], _mm512_test_epi8_mask(H, sel),
					    q[i], b4);
	}
	k4_scales(b->scales, b->d, b->dmin, &k);
	k4_tokens(q, &k, xa, xs, sb, T, acc);
}

/* ---------------------------------------------------------------------------
 * Q6_K weights. Half h (128 elements): ql[64h..64h+64) low nibbles are
 * natural elements 0..63 of the half, high nibbles 64..127; qh[32h + l]
 * bits 0-1, 2-3, 4-5, 6-7 are the top bits of elements l, l+32, l+64,
 * l+96. With H = [qh, qh >> 2], bits 0-1 of H serve the low nibbles and
 * bits 4-5 the high ones. q is unsigned (0..63); the −32 offset is taken
 * out through Σ sc·(−32)·bsum16, the initial value of the accumulator.
 */
typedef struct k6_row {
	__m512i q[4];   /* levels of natural elements 0-63, 64-127, 128-191, 192-255 */
	__m512i sc[4];  /* int16 scales, 8 lanes per sub-block of 16 */
	__m256i neg32;  /* −32·scale of sub-blocks 0..15, int16 */
	__m512 d;
} k6_row;

AI void q6_k_unpack(const block_q6_K *b, k6_row *k)
{
	const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
	__m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
	__m512i scz = _mm512_castsi256_si512(sc16);

	for (int h = 0; h < 2; h++) {
		__m512i L = _mm512_loadu_si512(b->ql + 64 * h);
		__m256i Hh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
		__m512i H = _mm512_inserti64x4(_mm512_castsi256_si512(Hh),
					       _mm256_srli_epi16(Hh, 2), 1);

		k->q[2 * h] = _mm512_or_si512(
			_mm512_and_si512(L, m4),
			_mm512_and_si512(_mm512_slli_epi16(H, 4), m30));
		k->q[2 * h + 1] = _mm512_or_si512(
			_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
			_mm512_and_si512(H, m30));
	}
	UNROLL for (int i = 0; i < 4; i++) {
		/* word w of vector i: scale of sub-block 4i + w/8 */
		__m512i idx = _mm512_add_epi16(
			_mm512_set1_epi16((short)(4 * i)),
			_mm512_srli_epi16(_mm512_set_epi16(
				31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18,
				17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2,
				1, 0), 3));

		k->sc[i] = _mm512_permutexvar_epi16(idx, scz);
	}
	k->neg32 = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc16, 5));
	k->d = _mm512_set1_ps(half_to_float(b->d));
}

AI void q6_k_block(const block_q6_K *b, const uint8_t *xa, size_t xs,
		   int64_t sb, int T, __m512 *acc)
{
	k6_row k;

	q6_k_unpack(b, &k);
	UNROLL for (int t = 0; t < T; t++) {
		const ak_block *x = (const ak_block *)(xa + (size_t)t * xs) + sb;
		__m512i ai = _mm512_zextsi256_si512(_mm256_madd_epi16(
			k.neg32, _mm256_load_si256((const __m256i *)x->bsum16)));

		UNROLL for (int i = 0; i < 4; i++)
			ai = _mm512_dpwssd_epi32(
				ai, _mm512_maddubs_epi16(k.q[i],
					_mm512_load_si512(x->q + 64 * i)), k.sc[i]);
		acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai),
					 _mm512_mul_ps(k.d, _mm512_set1_ps(x->d)),
					 acc[t]);
	}
}

/* One tile function per K type; blocks of type BT, per-block body FN. */
#define K_TILE(NAME, BT, FN)                                                   \
	AI void NAME##_t(const uint8_t *w, size_t rb, int nr,                 \
			 const uint8_t *xa, size_t xs, int64_t ne0, float *y, \
			 int64_t ldy, int T)                                  \
	{                                                                      \
		const uint8_t *wr[KROWS];                                      \
		__m512 acc[KROWS][KTOK];                                       \
		tile_rows(w, rb, nr, KROWS, wr);                               \
		UNROLL for (int r = 0; r < KROWS; r++)                                \
			UNROLL for (int t = 0; t < KTOK; t++)                         \
				acc[r][t] = zero_ps();                         \
		for (int64_t sb = 0; sb < ne0 / QK_K; sb++)                    \
			UNROLL for (int r = 0; r < KROWS; r++)                        \
			{                                              \
				PREFETCH((const BT *)wr[r] + sb, sizeof(BT)); \
				FN((const BT *)wr[r] + sb, xa, xs, sb, T,      \
				   acc[r]);                                    \
			}                                              \
		STORE_TILE(acc, nr, T, y, ldy);                                \
	}                                                                      \
	TILE_SWITCH(NAME, KTOK)

K_TILE(q4_k_tile, block_q4_K, q4_k_block)
K_TILE(q5_k_tile, block_q5_K, q5_k_block)
K_TILE(q6_k_tile, block_q6_K, q6_k_block)

/* ---------------------------------------------------------------------------
 * Many-token path for the K-quants, rows as lanes as for Q4_0/Q8_0. The
 * levels are unsigned (Q4_K 0..15, Q5_K 0..31, Q6_K 0..63), so they are
 * vpdpbusd's u8 operand against the broadcast s8 activations; each
 * sub-block's int32 sum is converted and scaled by d·sc of its row. Q4_K/
 * Q5_K mins: Σ_j m_j·Σx_j through vpdpwssd on (m, m) int16 pairs; Q6_K's
 * −32 offset: the accumulator of each sub-block of 16 starts at −32·Σx.
 * Activations: gk_act per 256 elements (natural order, same quantization
 * as ak_block).
 */
#define GK_SLICE 4     /* super-blocks per repacked K-slice */
#define GK_TOK 6

typedef struct gk_act {
	int8_t q[QK_K];
	int32_t neg32[16];  /* −32·Σq of each 16 (Q6_K's offset) */
	int16_t bsum32[8];  /* Σq of each 32 (the mins) */
	float d;
	uint8_t pad[44];
} gk_act;

_Static_assert(sizeof(gk_act) == 384, "gk_act is six cache lines");

typedef struct gk4_block {
	uint8_t w[8][8][64]; /* [j][k][4r + i]: row r, element 32j + 4k + i */
	float sc[8][16];     /* d·sc_j of row r */
	int32_t mins[4][16]; /* int16 pair (m_2p, m_2p+1) of row r */
	float dmin[16];      /* −dmin of row r */
} gk4_block;

typedef struct gk6_block {
	uint8_t w[16][4][64]; /* [j][k][4r + i]: row r, element 16j + 4k + i */
	float sc[16][16];     /* d·sc_j of row r */
} gk6_block;

static size_t gk_act_bytes(int64_t ne0)
{
	return (size_t)(ne0 / QK_K) * sizeof(gk_act);
}

static void gk_act_prep(const float *x, void *xa, int64_t ne0)
{
	static const int order[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	gk_act *g = xa;
	ak_block b;

	for (int64_t i = 0; i < ne0 / QK_K; i++) {
		ak_quant(x + i * QK_K, &b, order);
		memcpy(g[i].q, b.q, QK_K);
		for (int j = 0; j < 16; j++)
			g[i].neg32[j] = -32 * b.bsum16[j];
		memcpy(g[i].bsum32, b.bsum32, sizeof(b.bsum32));
		g[i].d = b.d;
		memset(g[i].pad, 0, sizeof(g[i].pad));
	}
}

/* Scales and mins of the 16 rows of one Q4_K/Q5_K super-block column. */
static void gk4_scales(const uint8_t *w, size_t rb, int nr, int64_t sb,
		       size_t bsize, gk4_block *g)
{
	UNROLL for (int r = 0; r < 16; r++) {
		/* Q4_K and Q5_K share the leading d, dmin, scales[12] */
		const block_q4_K *b = (const block_q4_K *)(w + (size_t)(r < nr ? r : 0) * rb +
							   (size_t)sb * bsize);
		float d = half_to_float(b->d), dmin = half_to_float(b->dmin);
		uint8_t sc, m[8];

		for (int j = 0; j < 8; j++) {
			engine_k4_scale_min(b->scales, j, &sc, &m[j]);
			g->sc[j][r] = d * sc;
		}
		for (int p = 0; p < 4; p++)
			g->mins[p][r] = (int32_t)((uint32_t)m[2 * p] | ((uint32_t)m[2 * p + 1] << 16));
		g->dmin[r] = -dmin;
	}
}

/* Levels: chunk c's qs dword k holds elements 64c + 4k.. (low nibbles,
 * sub-block 2c) and 64c + 32 + 4k.. (high, 2c+1); Q5_K adds qh bit 2c /
 * 2c+1 of the same dword of qh as bit 4. */
static void gk_pack_k4(const uint8_t *w, size_t rb, int nr, int64_t sb0,
		       int nsb, gk4_block *out, bool q5)
{
	const __m512i off = g_row_offsets(rb, nr);
	const __m512i m4 = _mm512_set1_epi8(0x0f), one = _mm512_set1_epi8(1);
	size_t bsize = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
	size_t qs_off = q5 ? offsetof(block_q5_K, qs) : offsetof(block_q4_K, qs);

	for (int s = 0; s < nsb; s++) {
		const uint8_t *base = w + (size_t)(sb0 + s) * bsize;
		gk4_block *g = out + s;

		for (int k = 0; k < 8; k++) {
			__m512i h = q5 ? _mm512_i32gather_epi32(
				off, (const void *)(base + offsetof(block_q5_K, qh) + 4 * k), 1)
				       : _mm512_setzero_si512();

			UNROLL for (int c = 0; c < 4; c++) {
				__m512i q = _mm512_i32gather_epi32(
					off, (const void *)(base + qs_off + 32 * c + 4 * k), 1);
				__m512i lo = _mm512_and_si512(q, m4);
				__m512i hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);

				if (q5) {
					lo = _mm512_or_si512(lo, _mm512_slli_epi16(_mm512_and_si512(
						_mm512_srli_epi16(h, 2 * c), one), 4));
					hi = _mm512_or_si512(hi, _mm512_slli_epi16(_mm512_and_si512(
						_mm512_srli_epi16(h, 2 * c + 1), one), 4));
				}
				_mm512_store_si512(g->w[2 * c][k], lo);
				_mm512_store_si512(g->w[2 * c + 1][k], hi);
			}
		}
		gk4_scales(w, rb, nr, sb0 + s, bsize, g);
	}
}

static void gk_pack_q4_k(const uint8_t *w, size_t rb, int nr, int64_t sb0,
			 int nsb, void *out)
{
	gk_pack_k4(w, rb, nr, sb0, nsb, out, false);
}

static void gk_pack_q5_k(const uint8_t *w, size_t rb, int nr, int64_t sb0,
			 int nsb, void *out)
{
	gk_pack_k4(w, rb, nr, sb0, nsb, out, true);
}

/* Q6_K levels: element 128h + 32v + 4k + i comes from ql dword
 * 64h + 32(v&1) + 4k (low nibbles for v < 2, high for v ≥ 2) and qh
 * dword 32h + 4k (bits 2v, 2v+1). */
static void gk_pack_q6_k(const uint8_t *w, size_t rb, int nr, int64_t sb0,
			 int nsb, void *out)
{
	const __m512i off = g_row_offsets(rb, nr);
	const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(3);

	for (int s = 0; s < nsb; s++) {
		const uint8_t *base = w + (size_t)(sb0 + s) * sizeof(block_q6_K);
		gk6_block *g = (gk6_block *)out + s;

		for (int h = 0; h < 2; h++) {
			for (int k = 0; k < 8; k++) {
				__m512i l0 = _mm512_i32gather_epi32(off, (const void *)(base + 64 * h + 4 * k), 1);
				__m512i l1 = _mm512_i32gather_epi32(off, (const void *)(base + 64 * h + 32 + 4 * k), 1);
				__m512i qh = _mm512_i32gather_epi32(
					off, (const void *)(base + offsetof(block_q6_K, qh) + 32 * h + 4 * k), 1);
				__m512i nib[4] = {
					_mm512_and_si512(l0, m4), _mm512_and_si512(l1, m4),
					_mm512_and_si512(_mm512_srli_epi16(l0, 4), m4),
					_mm512_and_si512(_mm512_srli_epi16(l1, 4), m4),
				};

				UNROLL for (int v = 0; v < 4; v++) {
					int e = 128 * h + 32 * v + 4 * k; /* first element */
					__m512i top = _mm512_and_si512(_mm512_srli_epi16(qh, 2 * v), m3);

					_mm512_store_si512(g->w[e / 16][(e % 16) / 4],
							   _mm512_or_si512(nib[v], _mm512_slli_epi16(top, 4)));
				}
			}
		}
		for (int r = 0; r < 16; r++) {
			const block_q6_K *b = (const block_q6_K *)(w + (size_t)(r < nr ? r : 0) * rb) +
					      sb0 + s;
			float d = half_to_float(b->d);

			for (int j = 0; j < 16; j++)
				g->sc[j][r] = d * b->scales[j];
		}
	}
}

/* acc[t] += T tokens × one packed Q4_K/Q5_K super-block (16 rows). */
AI void gk4_tokens(const gk4_block *g, const uint8_t *xa, size_t xs,
		   int64_t sb, int T, __m512 *acc)
{
	__m512 f[GK_TOK];

	UNROLL for (int t = 0; t < T; t++)
		f[t] = zero_ps();
	for (int j = 0; j < 8; j++) {
		__m512i wv[8];
		__m512 sc = _mm512_load_ps(g->sc[j]);

		UNROLL for (int k = 0; k < 8; k++)
			wv[k] = _mm512_load_si512(g->w[j][k]);
		UNROLL for (int t = 0; t < T; t++) {
			const gk_act *x = (const gk_act *)(xa + (size_t)t * xs) + sb;
			__m512i c = _mm512_setzero_si512();

			UNROLL for (int k = 0; k < 8; k++)
				c = _mm512_dpbusd_epi32(c, wv[k], bcast4(x->q + 32 * j + 4 * k));
			f[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c), sc, f[t]);
		}
	}
	UNROLL for (int t = 0; t < T; t++) {
		const gk_act *x = (const gk_act *)(xa + (size_t)t * xs) + sb;
		__m512i m = _mm512_setzero_si512();

		UNROLL for (int p = 0; p < 4; p++)
			m = _mm512_dpwssd_epi32(m, _mm512_load_si512(g->mins[p]),
						bcast4(x->bsum32 + 2 * p));
		f[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(m), _mm512_load_ps(g->dmin), f[t]);
		acc[t] = _mm512_fmadd_ps(f[t], _mm512_set1_ps(x->d), acc[t]);
	}
}

AI void gk6_tokens(const gk6_block *g, const uint8_t *xa, size_t xs,
		   int64_t sb, int T, __m512 *acc)
{
	__m512 f[GK_TOK];

	UNROLL for (int t = 0; t < T; t++)
		f[t] = zero_ps();
	for (int j = 0; j < 16; j++) {
		__m512i wv[4];
		__m512 sc = _mm512_load_ps(g->sc[j]);

		UNROLL for (int k = 0; k < 4; k++)
			wv[k] = _mm512_load_si512(g->w[j][k]);
		UNROLL for (int t = 0; t < T; t++) {
			const gk_act *x = (const gk_act *)(xa + (size_t)t * xs) + sb;
			__m512i c = _mm512_set1_epi32(x->neg32[j]);

			UNROLL for (int k = 0; k < 4; k++)
				c = _mm512_dpbusd_epi32(c, wv[k], bcast4(x->q + 16 * j + 4 * k));
			f[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c), sc, f[t]);
		}
	}
	UNROLL for (int t = 0; t < T; t++) {
		const gk_act *x = (const gk_act *)(xa + (size_t)t * xs) + sb;

		acc[t] = _mm512_fmadd_ps(f[t], _mm512_set1_ps(x->d), acc[t]);
	}
}

/* One slice of nsb packed super-blocks for T tokens; y (+)= the sums. */
AI void gk_slice_t(const void *pk, bool q6, int nsb, const uint8_t *xa,
		   size_t xs, int64_t sb0, float *y, int64_t ldy, __mmask16 m,
		   int T)
{
	__m512 acc[GK_TOK];

	UNROLL for (int t = 0; t < GK_TOK; t++)
		acc[t] = zero_ps();
	for (int s = 0; s < nsb; s++) {
		if (q6)
			gk6_tokens((const gk6_block *)pk + s, xa, xs, sb0 + s, T, acc);
		else
			gk4_tokens((const gk4_block *)pk + s, xa, xs, sb0 + s, T, acc);
	}
	UNROLL for (int t = 0; t < T; t++) {
		float *yt = y + t * ldy;
		__m512 prev = sb0 ? _mm512_maskz_loadu_ps(m, yt) : zero_ps();

		_mm512_mask_storeu_ps(yt, m, _mm512_add_ps(prev, acc[t]));
	}
}

#define GK_SLICE_FN(NAME, Q6)                                                  \
	static void NAME(const void *pk, int nsb, const uint8_t *xa,          \
			 size_t xs, int64_t sb0, float *y, int64_t ldy,       \
			 __mmask16 m, int nt)                                 \
	{                                                                      \
		switch (nt) {                                                  \
		case 1: gk_slice_t(pk, Q6, nsb, xa, xs, sb0, y, ldy, m, 1); break; \
		case 2: gk_slice_t(pk, Q6, nsb, xa, xs, sb0, y, ldy, m, 2); break; \
		case 3: gk_slice_t(pk, Q6, nsb, xa, xs, sb0, y, ldy, m, 3); break; \
		case 4: gk_slice_t(pk, Q6, nsb, xa, xs, sb0, y, ldy, m, 4); break; \
		case 5: gk_slice_t(pk, Q6, nsb, xa, xs, sb0, y, ldy, m, 5); break; \
		default: gk_slice_t(pk, Q6, nsb, xa, xs, sb0, y, ldy, m, 6); break; \
		}                                                              \
	}

GK_SLICE_FN(gk4_slice, false)
GK_SLICE_FN(gk6_slice, true)

/* The packed slice: the larger of the two block kinds, GK_SLICE of them. */
typedef union gk_buf {
	gk4_block k4[GK_SLICE];
	gk6_block k6[GK_SLICE];
} gk_buf;

AI void gk_gemm(void (*pack)(const uint8_t *, size_t, int, int64_t, int, void *),
		void (*slice)(const void *, int, const uint8_t *, size_t, int64_t,
			      float *, int64_t, __mmask16, int),
		const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
		size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	gk_buf buf __attribute__((aligned(64)));
	__mmask16 m = (__mmask16)((1u << nr) - 1);
	int64_t nsb = ne0 / QK_K;

	for (int64_t sb0 = 0; sb0 < nsb; sb0 += GK_SLICE) {
		int n = nsb - sb0 < GK_SLICE ? (int)(nsb - sb0) : GK_SLICE;

		pack(w, rb, nr, sb0, n, &buf);
		for (int t0 = 0; t0 < n_tok; t0 += GK_TOK)
			slice(&buf, n, xa + (size_t)t0 * xs, xs, sb0, y + t0 * ldy,
			      ldy, m, n_tok - t0 < GK_TOK ? n_tok - t0 : GK_TOK);
	}
}

static void q4_k_gemm(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
		      size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	gk_gemm(gk_pack_q4_k, gk4_slice, w, rb, nr, xa, xs, n_tok, ne0, y, ldy);
}

static void q5_k_gemm(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
		      size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	gk_gemm(gk_pack_q5_k, gk4_slice, w, rb, nr, xa, xs, n_tok, ne0, y, ldy);
}

static void q6_k_gemm(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
		      size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	gk_gemm(gk_pack_q6_k, gk6_slice, w, rb, nr, xa, xs, n_tok, ne0, y, ldy);
}

/* ---------------------------------------------------------------------------
 * Q4_K and Q5_K on AMX (the "amx" path's many-token products): the
 * gathered super-blocks of gk_pack_k4 are already B tiles — gk4_block.w[j]
 * is 8 × 64 bytes of unsigned levels for sub-block j (32 elements) — so
 * each sub-block is one TDPBSUD (signed activations × unsigned levels)
 * into a C tile, then scaled per row by d·sc_j and per token by the
 * super-block's dx; the mins are added once per super-block (vpdpwssd, as
 * the VNNI kernel does). Batched over the sub-blocks like amx_tok16.
 * (Q6_K stays on VNNI: its 16-wide scale blocks halve each tile product
 * against the same epilogue, 84 vs 135 GMAC/s measured.)
 */
AI void amxk_epi(const int32_t *cb, const float *sc16, const uint8_t *xa,
		 size_t xs, int64_t sb, __m512 *acc)
{
	__m512 sc = _mm512_load_ps(sc16);

	UNROLL for (int t = 0; t < AMX_TOK; t++) {
		const gk_act *x = (const gk_act *)(xa + (size_t)t * xs) + sb;

		acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(cb + 16 * t)),
					 _mm512_mul_ps(sc, _mm512_set1_ps(x->d)), acc[t]);
	}
}

/* acc[t] += −dmin·dx_t · Σ_j m_j·Σx_j of super-block sb. */
AI void amxk_mins(const gk4_block *g, const uint8_t *xa, size_t xs, int64_t sb,
		  __m512 *acc)
{
	__m512 dmin = _mm512_load_ps(g->dmin);

	UNROLL for (int t = 0; t < AMX_TOK; t++) {
		const gk_act *x = (const gk_act *)(xa + (size_t)t * xs) + sb;
		__m512i m = _mm512_setzero_si512();

		UNROLL for (int p = 0; p < 4; p++)
			m = _mm512_dpwssd_epi32(m, _mm512_load_si512(g->mins[p]),
						bcast4(x->bsum32 + 2 * p));
		acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(m),
					 _mm512_mul_ps(dmin, _mm512_set1_ps(x->d)), acc[t]);
	}
}

/* Sub-block i (of 8 per super-block) of the slice: scales, epilogue, and
 * after the last sub-block of a super-block its mins. */
AI void amxk_finish(const gk4_block *pk, int i, const int32_t *cb,
		    const uint8_t *xa, size_t xs, int64_t sb0, __m512 *acc)
{
	int s = i / 8, j = i % 8;

	amxk_epi(cb, pk[s].sc[j], xa, xs, sb0 + s, acc);
	if (j == 7)
		amxk_mins(pk + s, xa, xs, sb0 + s, acc);
}

/* 16 tokens (xa = the first) × nsb packed super-blocks from sb0, in
 * batches of AMX_BATCH sub-blocks as amx_tok16 does. */
static void amxk_tok16(const gk4_block *pk, int nsb, const uint8_t *xa,
		       size_t xs, int64_t sb0, float *y, int64_t ldy, __mmask16 m)
{
	int32_t cb[2][AMX_BATCH][AMX_TOK * 16] __attribute__((aligned(64)));
	__m512 acc[AMX_TOK];
	const uint8_t *a0 = xa + (size_t)sb0 * sizeof(gk_act);
	int nsub = nsb * 8, nb_prev = 0;

	UNROLL for (int t = 0; t < AMX_TOK; t++)
		acc[t] = zero_ps();
	AMX_BARRIER();
	for (int i0 = 0; i0 < nsub + AMX_BATCH; i0 += AMX_BATCH) {
		int n = nsub - i0 < AMX_BATCH ? nsub - i0 : AMX_BATCH;
		const void *bt[AMX_BATCH];
		const uint8_t *a[AMX_BATCH];

		if (n > 0) {
			for (int k = 0; k < n; k++) {
				int i = i0 + k;

				bt[k] = pk[i / 8].w[i % 8][0];
				a[k] = a0 + (size_t)(i / 8) * sizeof(gk_act) + 32 * (size_t)(i % 8);
			}
			AMX_BATCH_DP(_tile_dpbsud, bt, a, xs, n);
		}
		for (int k = 0; k < nb_prev; k++)
			amxk_finish(pk, i0 - AMX_BATCH + k,
				    cb[(i0 / AMX_BATCH + 1) & 1][k], xa, xs, sb0, acc);
		if (n <= 0)
			break;
		AMX_BATCH_STORE(cb[(i0 / AMX_BATCH) & 1], n);
		nb_prev = n;
	}
	UNROLL for (int t = 0; t < AMX_TOK; t++) {
		float *yt = y + t * ldy;

		if (sb0)
			acc[t] = _mm512_add_ps(acc[t], _mm512_maskz_loadu_ps(m, yt));
		_mm512_mask_storeu_ps(yt, m, acc[t]);
	}
}

AI void amxk_gemm(void (*pack)(const uint8_t *, size_t, int, int64_t, int, void *),
		  const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
		  size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	gk_buf buf __attribute__((aligned(64)));
	__mmask16 m = (__mmask16)((1u << nr) - 1);
	int64_t nsb = ne0 / QK_K;
	int full = n_tok / AMX_TOK * AMX_TOK;
	amx_tilecfg saved;

	amx_config(&saved, 32);
	for (int64_t sb0 = 0; sb0 < nsb; sb0 += GK_SLICE) {
		int n = nsb - sb0 < GK_SLICE ? (int)(nsb - sb0) : GK_SLICE;

		pack(w, rb, nr, sb0, n, &buf);
		for (int t0 = 0; t0 < full; t0 += AMX_TOK)
			amxk_tok16(buf.k4, n, xa + (size_t)t0 * xs, xs, sb0,
				   y + t0 * ldy, ldy, m);
		for (int t0 = full; t0 < n_tok; t0 += GK_TOK)
			gk4_slice(&buf, n, xa + (size_t)t0 * xs, xs, sb0, y + t0 * ldy,
				  ldy, m, n_tok - t0 < GK_TOK ? n_tok - t0 : GK_TOK);
	}
	_tile_loadconfig(&saved);
}

static void amx_q4_k_gemm(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
			  size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	amxk_gemm(gk_pack_q4_k, w, rb, nr, xa, xs, n_tok, ne0, y, ldy);
}

static void amx_q5_k_gemm(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
			  size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	amxk_gemm(gk_pack_q5_k, w, rb, nr, xa, xs, n_tok, ne0, y, ldy);
}

/* ---------------------------------------------------------------------------
 * F32, F16, BF16 weights against f32 activations: convert 16 weights,
 * FMA them into every token of the tile. Exact products; only the order
 * of the float sums differs from the scalar reference.
 */
AI __m512 load_f32w(const uint8_t *p, int64_t i, __mmask16 m)
{
	return _mm512_maskz_loadu_ps(m, (const float *)p + i);
}

AI __m512 load_f16w(const uint8_t *p, int64_t i, __mmask16 m)
{
	return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const ggml_half *)p + i));
}

AI __m512 load_bf16w(const uint8_t *p, int64_t i, __mmask16 m)
{
	__m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)p + i);

	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* acc[t] += wv · token t's 16 activations from element i (mask m). */
AI void f_row(__m512 wv, const uint8_t *xa, size_t xs, int64_t i, __mmask16 m,
	      int T, __m512 *acc)
{
	UNROLL for (int t = 0; t < T; t++)
		acc[t] = _mm512_fmadd_ps(
			wv, _mm512_maskz_loadu_ps(m, (const float *)(xa + (size_t)t * xs) + i),
			acc[t]);
}

/* Masked loads cost the same as plain ones, so the row tail needs no
 * separate loop: the last step's mask covers what is left. */
#define F_TILE(NAME, LOADW, ESZ)                                                  \
	AI void NAME##_t(const uint8_t *w, size_t rb, int nr,                 \
			 const uint8_t *xa, size_t xs, int64_t ne0, float *y, \
			 int64_t ldy, int T)                                  \
	{                                                                      \
		const uint8_t *wr[FROWS];                                      \
		__m512 acc[FROWS][FTOK];                                       \
		tile_rows(w, rb, nr, FROWS, wr);                               \
		UNROLL for (int r = 0; r < FROWS; r++)                                \
			UNROLL for (int t = 0; t < FTOK; t++)                         \
				acc[r][t] = zero_ps();                         \
		for (int64_t i = 0; i < ne0; i += 16) {                        \
			__mmask16 m = tail16(ne0 - i);                         \
			UNROLL for (int r = 0; r < FROWS; r++) {                      \
				PREFETCH(wr[r] + i * ESZ, 16 * ESZ);           \
				f_row(LOADW(wr[r], i, m), xa, xs, i, m, T,     \
				      acc[r]);                                 \
			}                                                      \
		}                                                              \
		STORE_TILE(acc, nr, T, y, ldy);                                \
	}                                                                      \
	TILE_SWITCH(NAME, FTOK)

F_TILE(f32_tile, load_f32w, 4)
F_TILE(f16_tile, load_f16w, 2)
F_TILE(bf16_tile, load_bf16w, 2)

static size_t no_act(int64_t ne0)
{
	(void)ne0;
	return 0;
}

/* ---------------------------------------------------------------------------
 * Many-token path for F32/F16/BF16: FG_ROWS rows converted to f32 and
 * transposed (w[i][r], two vectors of 16 rows per element), then each
 * token's x[i] is broadcast into an FMA with both: 32 multiply-adds per
 * FMA and one load per two FMAs, where the tile path needs a load per
 * FMA. Gathers fetch two halves per dword; an odd last element of F16/
 * BF16 rows is read with scalar loads so no byte past a row is touched.
 */
#define FG_ROWS 32
#define FG_SLICE 256   /* elements per packed slice (32 KiB) */
#define FG_TOK 8

typedef float fg_col[FG_ROWS]; /* one element of FG_ROWS rows */

AI __m512i fg_offsets(size_t rb, int nr, int half)
{
	__m512i r = _mm512_add_epi32(_mm512_set1_epi32(16 * half),
				     _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6,
						      5, 4, 3, 2, 1, 0));

	r = _mm512_mask_mov_epi32(_mm512_setzero_si512(),
				  _mm512_cmplt_epi32_mask(r, _mm512_set1_epi32(nr)), r);
	return _mm512_mullo_epi32(r, _mm512_set1_epi32((int)rb));
}

/* Element pairs of 16-bit types: dword gathers, lo/hi halves → f32. */
AI void fg_pack16(const uint8_t *w, size_t rb, int nr, int64_t ne0,
		  int64_t i0, int n, fg_col *out, bool bf16)
{
	for (int h = 0; h < 2; h++) {
		__m512i off = fg_offsets(rb, nr, h);
		int i = 0;

		for (; i + 1 < n && i0 + i + 1 < ne0; i += 2) {
			__m512i g = _mm512_i32gather_epi32(off, (const void *)(w + 2 * (i0 + i)), 1);
			__m512 a, b;

			if (bf16) {
				a = _mm512_castsi512_ps(_mm512_slli_epi32(g, 16));
				b = _mm512_castsi512_ps(_mm512_and_si512(g, _mm512_set1_epi32((int)0xffff0000u)));
			} else {
				a = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));
				b = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(g, 16)));
			}
			_mm512_store_ps(out[i] + 16 * h, a);
			_mm512_store_ps(out[i + 1] + 16 * h, b);
		}
		for (; i < n; i++)
			for (int r = 0; r < 16; r++) {
				int rr = 16 * h + r < nr ? 16 * h + r : 0;
				uint16_t v;

				memcpy(&v, w + (size_t)rr * rb + 2 * (size_t)(i0 + i), 2);
				out[i][16 * h + r] = bf16 ? engine_bf16_to_fp32(v) : half_to_float(v);
			}
	}
}

static void fg_pack_f32(const uint8_t *w, size_t rb, int nr, int64_t ne0,
			int64_t i0, int n, fg_col *out)
{
	(void)ne0;
	for (int h = 0; h < 2; h++) {
		__m512i off = fg_offsets(rb, nr, h);

		for (int i = 0; i < n; i++)
			_mm512_store_ps(out[i] + 16 * h, _mm512_i32gather_ps(
				off, (const void *)(w + 4 * (i0 + i)), 1));
	}
}

static void fg_pack_f16(const uint8_t *w, size_t rb, int nr, int64_t ne0,
			int64_t i0, int n, fg_col *out)
{
	fg_pack16(w, rb, nr, ne0, i0, n, out, false);
}

static void fg_pack_bf16(const uint8_t *w, size_t rb, int nr, int64_t ne0,
			 int64_t i0, int n, fg_col *out)
{
	fg_pack16(w, rb, nr, ne0, i0, n, out, true);
}

AI void fg_slice_t(const fg_col *pk, int n, const float *x, int64_t ne0,
		   int64_t i0, float *y, int64_t ldy, __mmask16 m0,
		   __mmask16 m1, int T)
{
	__m512 a0[FG_TOK], a1[FG_TOK];

	UNROLL for (int t = 0; t < FG_TOK; t++)
		a0[t] = a1[t] = zero_ps();
	for (int i = 0; i < n; i++) {
		__m512 w0 = _mm512_load_ps(pk[i]), w1 = _mm512_load_ps(pk[i] + 16);

		UNROLL for (int t = 0; t < T; t++) {
			__m512 xb = _mm512_set1_ps(x[t * ne0 + i0 + i]);

			a0[t] = _mm512_fmadd_ps(w0, xb, a0[t]);
			a1[t] = _mm512_fmadd_ps(w1, xb, a1[t]);
		}
	}
	UNROLL for (int t = 0; t < T; t++) {
		float *yt = y + t * ldy;

		if (i0) {
			a0[t] = _mm512_add_ps(a0[t], _mm512_maskz_loadu_ps(m0, yt));
			a1[t] = _mm512_add_ps(a1[t], _mm512_maskz_loadu_ps(m1, yt + 16));
		}
		_mm512_mask_storeu_ps(yt, m0, a0[t]);
		_mm512_mask_storeu_ps(yt + 16, m1, a1[t]);
	}
}

static void fg_slice(const fg_col *pk, int n, const float *x, int64_t ne0,
		     int64_t i0, float *y, int64_t ldy, __mmask16 m0,
		     __mmask16 m1, int nt)
{
	switch (nt) {
	case 1: fg_slice_t(pk, n, x, ne0, i0, y, ldy, m0, m1, 1); break;
	case 2: fg_slice_t(pk, n, x, ne0, i0, y, ldy, m0, m1, 2); break;
	case 3: fg_slice_t(pk, n, x, ne0, i0, y, ldy, m0, m1, 3); break;
	case 4: fg_slice_t(pk, n, x, ne0, i0, y, ldy, m0, m1, 4); break;
	case 5: fg_slice_t(pk, n, x, ne0, i0, y, ldy, m0, m1, 5); break;
	case 6: fg_slice_t(pk, n, x, ne0, i0, y, ldy, m0, m1, 6); break;
	case 7: fg_slice_t(pk, n, x, ne0, i0, y, ldy, m0, m1, 7); break;
	default: fg_slice_t(pk, n, x, ne0, i0, y, ldy, m0, m1, 8); break;
	}
}

AI void fg_gemm(void (*pack)(const uint8_t *, size_t, int, int64_t, int64_t, int, fg_col *),
		const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
		size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	fg_col buf[FG_SLICE] __attribute__((aligned(64)));
	__mmask16 m0 = tail16(nr), m1 = nr > 16 ? tail16(nr - 16) : 0;
	const float *x = (const float *)xa;

	(void)xs; /* f32 activations: rows of ne0 */
	for (int64_t i0 = 0; i0 < ne0; i0 += FG_SLICE) {
		int n = ne0 - i0 < FG_SLICE ? (int)(ne0 - i0) : FG_SLICE;

		pack(w, rb, nr, ne0, i0, n, buf);
		for (int t0 = 0; t0 < n_tok; t0 += FG_TOK)
			fg_slice(buf, n, x + (int64_t)t0 * ne0, ne0, i0, y + t0 * ldy,
				 ldy, m0, m1, n_tok - t0 < FG_TOK ? n_tok - t0 : FG_TOK);
	}
}

static void f32_gemm(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
		     size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	fg_gemm(fg_pack_f32, w, rb, nr, xa, xs, n_tok, ne0, y, ldy);
}

static void f16_gemm(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
		     size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	fg_gemm(fg_pack_f16, w, rb, nr, xa, xs, n_tok, ne0, y, ldy);
}

static void bf16_gemm(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
		      size_t xs, int n_tok, int64_t ne0, float *y, int64_t ldy)
{
	fg_gemm(fg_pack_bf16, w, rb, nr, xa, xs, n_tok, ne0, y, ldy);
}

/* ---------------------------------------------------------------------------
 * Vector kernels for the forward pass (engine_int.h contracts).
 */

/* e^x for x ≤ 88.7: x = n·ln2 + r, |r| ≤ ln2/2, e^r by its degree-7
 * Taylor polynomial (truncation < 6e-9 relative), 2^n by vscalefps, which
 * also flushes to 0 for x below about −104 without NaN. */
AI __m512 exp_ps(__m512 x)
{
	x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.7f)),
			  _mm512_set1_ps(-104.0f));
	__m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504089f)),
					_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
	r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
	__m512 p = _mm512_set1_ps(1.0f / 5040);

	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
	p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
	return _mm512_scalef_ps(p, n);
}

static void avx512_attn_scores_f16(const float *q, const ggml_half *k,
				   size_t k_stride, int n_kv, int hd,
				   float scale, float *s)
{
	for (int j = 0; j < n_kv; j++) {
		const ggml_half *kj = k + (size_t)j * k_stride;
		__m512 a0 = zero_ps(), a1 = zero_ps();
		int i = 0;

		for (; i + 32 <= hd; i += 32) {
			a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i),
					     load_f16w((const uint8_t *)kj, i, 0xffff), a0);
			a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16),
					     load_f16w((const uint8_t *)kj, i + 16, 0xffff),
					     a1);
		}
		for (; i < hd; i += 16) {
			__mmask16 m = tail16(hd - i);

			a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, q + i),
					     load_f16w((const uint8_t *)kj, i, m), a0);
		}
		s[j] = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) * scale;
	}
}

static void avx512_attn_values_f16(const float *p, const ggml_half *v,
				   size_t v_stride, int n_kv, int hd, float *o)
{
	/* 64 outputs (4 vectors) per pass over the rows */
	for (int i0 = 0; i0 < hd; i0 += 64) {
		__m512 a[4] = { zero_ps(), zero_ps(), zero_ps(), zero_ps() };
		__mmask16 m[4];

		UNROLL for (int c = 0; c < 4; c++)
			m[c] = i0 + 16 * c < hd ? tail16(hd - i0 - 16 * c) : 0;
		for (int j = 0; j < n_kv; j++) {
			const uint8_t *vj = (const uint8_t *)(v + (size_t)j * v_stride);
			__m512 pj = _mm512_set1_ps(p[j]);

			UNROLL for (int c = 0; c < 4; c++)
				if (m[c])
					a[c] = _mm512_fmadd_ps(
						pj, load_f16w(vj, i0 + 16 * c, m[c]), a[c]);
		}
		UNROLL for (int c = 0; c < 4; c++)
			if (m[c])
				_mm512_mask_storeu_ps(o + i0 + 16 * c, m[c], a[c]);
	}
}

static float avx512_softmax(float *s, int n)
{
	__m512 mx = _mm512_set1_ps(-INFINITY), sum = zero_ps();
	int i;

	for (i = 0; i < n; i += 16)
		mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(
					       _mm512_set1_ps(-INFINITY), tail16(n - i),
					       s + i));
	__m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));

	for (i = 0; i < n; i += 16) {
		__mmask16 k = tail16(n - i);
		__m512 e = exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + i), m));

		_mm512_mask_storeu_ps(s + i, k, e);
		sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(k, e));
	}
	return _mm512_reduce_add_ps(sum);
}

/*
 * Fused GQA attention: the query heads sharing a KV head, ATT_HEADS at a
 * time. Scores: 16 keys per step, their rows gathered two dimensions per
 * dword (lanes = keys) and converted once, then one FMA per head and
 * dimension with the query element broadcast — no horizontal sums. Values:
 * each V row converted once and FMA'd into every head's output.
 */
#define ATT_HEADS 8

AI void att_scores_t(const float *q, int hd, const ggml_half *k, size_t stride,
		     int n_kv, float scale, float *sc, int NH)
{
	__m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,
					3, 2, 1, 0);

	for (int j0 = 0; j0 < n_kv; j0 += 16) {
		__mmask16 m = tail16(n_kv - j0);
		/* byte offsets of rows j0.., lanes past n_kv on row j0 */
		__m512i off = _mm512_mullo_epi32(_mm512_maskz_mov_epi32(m, lane),
						 _mm512_set1_epi32((int)(2 * stride)));
		const uint8_t *base = (const uint8_t *)(k + (size_t)j0 * stride);
		__m512 s[ATT_HEADS];

		UNROLL for (int h = 0; h < NH; h++)
			s[h] = zero_ps();
		for (int d = 0; d < hd; d += 2) {
			__m512i g = _mm512_i32gather_epi32(off, (const void *)(base + 2 * d), 1);
			__m512 k0 = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));
			__m512 k1 = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(g, 16)));

			UNROLL for (int h = 0; h < NH; h++) {
				s[h] = _mm512_fmadd_ps(_mm512_set1_ps(q[h * hd + d]), k0, s[h]);
				s[h] = _mm512_fmadd_ps(_mm512_set1_ps(q[h * hd + d + 1]), k1, s[h]);
			}
		}
		UNROLL for (int h = 0; h < NH; h++)
			_mm512_mask_storeu_ps(sc + (size_t)h * n_kv + j0, m,
					      _mm512_mul_ps(s[h], _mm512_set1_ps(scale)));
	}
}

AI void att_values_t(const float *sc, int n_kv, const ggml_half *v,
		     size_t stride, int hd, const float *inv, float *o, int NH)
{
	for (int d0 = 0; d0 < hd; d0 += 32) {
		__mmask16 m0 = tail16(hd - d0);
		__mmask16 m1 = hd - d0 > 16 ? tail16(hd - d0 - 16) : 0;
		__m512 a0[ATT_HEADS], a1[ATT_HEADS];

		UNROLL for (int h = 0; h < NH; h++)
			a0[h] = a1[h] = zero_ps();
		for (int j = 0; j < n_kv; j++) {
			const ggml_half *vj = v + (size_t)j * stride + d0;
			__m512 v0 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m0, vj));
			__m512 v1 = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m1, vj + 16));

			UNROLL for (int h = 0; h < NH; h++) {
				__m512 p = _mm512_set1_ps(sc[(size_t)h * n_kv + j]);

				a0[h] = _mm512_fmadd_ps(p, v0, a0[h]);
				a1[h] = _mm512_fmadd_ps(p, v1, a1[h]);
			}
		}
		UNROLL for (int h = 0; h < NH; h++) {
			__m512 iv = _mm512_set1_ps(inv[h]);

			_mm512_mask_storeu_ps(o + (size_t)h * hd + d0, m0, _mm512_mul_ps(a0[h], iv));
			if (m1)
				_mm512_mask_storeu_ps(o + (size_t)h * hd + d0 + 16, m1,
						      _mm512_mul_ps(a1[h], iv));
		}
	}
}

#define ATT_CASE(N)                                                            \
	case N:                                                                \
		att_scores_t(q, hd, k, stride, n_kv, scale, sc, N);           \
		for (int h = 0; h < N; h++)                                    \
			inv[h] = 1.0f / avx512_softmax(sc + (size_t)h * n_kv, n_kv); \
		att_values_t(sc, n_kv, v, stride, hd, inv, o, N);             \
		break;

/* Up to ATT_HEADS heads (nh) sharing one KV head. */
static void att_group(const float *q, int nh, const ggml_half *k,
		      const ggml_half *v, size_t stride, int n_kv, int hd,
		      float scale, float *sc, float *o)
{
	float inv[ATT_HEADS];

	switch (nh) {
	ATT_CASE(1) ATT_CASE(2) ATT_CASE(3) ATT_CASE(4)
	ATT_CASE(5) ATT_CASE(6) ATT_CASE(7)
	default: ATT_CASE(8)
	}
}

static void avx512_attn_f16(const float *q, int n_q, const ggml_half *k,
			    const ggml_half *v, size_t stride, int n_kv, int hd,
			    float scale, float *sc, float *o)
{
	/* odd head sizes (none in practice) take the per-head kernels */
	if (hd % 2) {
		for (int h = 0; h < n_q; h++) {
			float *s = sc + (size_t)h * n_kv, inv;

			avx512_attn_scores_f16(q + (size_t)h * hd, k, stride, n_kv, hd, scale, s);
			inv = 1.0f / avx512_softmax(s, n_kv);
			avx512_attn_values_f16(s, v, stride, n_kv, hd, o + (size_t)h * hd);
			for (int d = 0; d < hd; d++)
				o[(size_t)h * hd + d] *= inv;
		}
		return;
	}
	for (int h0 = 0; h0 < n_q; h0 += ATT_HEADS) {
		int nh = n_q - h0 < ATT_HEADS ? n_q - h0 : ATT_HEADS;

		att_group(q + (size_t)h0 * hd, nh, k, v, stride, n_kv, hd, scale,
			  sc + (size_t)h0 * n_kv, o + (size_t)h0 * hd);
	}
}

static void avx512_swiglu(float *g, const float *u, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		__mmask16 k = tail16((int64_t)(n - i));
		__m512 x = _mm512_maskz_loadu_ps(k, g + i);
		__m512 e = exp_ps(_mm512_sub_ps(zero_ps(), x));
		__m512 sx = _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));

		_mm512_mask_storeu_ps(g + i, k,
				      _mm512_mul_ps(sx, _mm512_maskz_loadu_ps(k, u + i)));
	}
}

static void avx512_f32_to_f16(const float *x, ggml_half *h, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		__mmask16 k = tail16((int64_t)(n - i));

		_mm256_mask_storeu_epi16(h + i, k, _mm512_cvtps_ph(
			_mm512_maskz_loadu_ps(k, x + i),
			_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	}
}

/* ---------------------------------------------------------------------------
 * Tables
 */
static const ktype t_q4_0 = {
	.rmax = QROWS, .tmax = QTOK, .act_bytes = a4_bytes, .act_prep = a4_prep,
	.tile = q4_0_tile, .gemm_min = GEMM_MIN, .gemm_rows = GEMM_ROWS,
	.gemm_act_bytes = g_act_bytes, .gemm_prep = g_act_prep, .gemm = q4_0_gemm,
};
static const ktype t_q8_0 = {
	.rmax = QROWS, .tmax = QTOK, .act_bytes = a8_bytes, .act_prep = a8_prep,
	.tile = q8_0_tile, .gemm_min = GEMM_MIN, .gemm_rows = GEMM_ROWS,
	.gemm_act_bytes = g_act_bytes, .gemm_prep = g_act_prep, .gemm = q8_0_gemm,
};
#define K_GEMM(FN) .gemm_min = GEMM_MIN, .gemm_rows = GEMM_ROWS,            \
	.gemm_act_bytes = gk_act_bytes, .gemm_prep = gk_act_prep, .gemm = FN
static const ktype t_q4_k = { .rmax = KROWS, .tmax = KTOK, .act_bytes = ak_bytes,
			      .act_prep = ak_prep_k4, .tile = q4_k_tile,
			      K_GEMM(q4_k_gemm) };
static const ktype t_q5_k = { .rmax = KROWS, .tmax = KTOK, .act_bytes = ak_bytes,
			      .act_prep = ak_prep_k4, .tile = q5_k_tile,
			      K_GEMM(q5_k_gemm) };
static const ktype t_q6_k = { .rmax = KROWS, .tmax = KTOK, .act_bytes = ak_bytes,
			      .act_prep = ak_prep_natural, .tile = q6_k_tile,
			      K_GEMM(q6_k_gemm) };
#define F_GEMM(FN) .gemm_min = GEMM_MIN, .gemm_rows = FG_ROWS,             \
	.gemm_act_bytes = no_act, .gemm = FN
static const ktype t_f32 = { .rmax = FROWS, .tmax = FTOK, .act_bytes = no_act,
			     .tile = f32_tile, F_GEMM(f32_gemm) };
static const ktype t_f16 = { .rmax = FROWS, .tmax = FTOK, .act_bytes = no_act,
			     .tile = f16_tile, F_GEMM(f16_gemm) };
static const ktype t_bf16 = { .rmax = FROWS, .tmax = FTOK, .act_bytes = no_act,
			      .tile = bf16_tile, F_GEMM(bf16_gemm) };

static const ktype t_q4_0_r16 = {
	.rmax = R16, .tmax = PK_TOK, .act_bytes = pk_act_bytes, .act_prep = pk_prep_q4_0,
	.gemm_min = 1, .gemm_rows = 0, .gemm_act_bytes = pk_act_bytes,
	.gemm_prep = pk_prep_q4_0, .gemm = pk_gemm_q4_0,
};
static const ktype t_q8_0_r16 = {
	.rmax = R16, .tmax = PK_TOK, .act_bytes = pk_act_bytes, .act_prep = pk_prep_q8_0,
	.gemm_min = 1, .gemm_rows = 0, .gemm_act_bytes = pk_act_bytes,
	.gemm_prep = pk_prep_q8_0, .gemm = pk_gemm_q8_0,
};

/* Matrices avx512_repack made (layout KT_LAYOUT_R16). */
static const ktype *const avx512_packed[GGML_T_COUNT] = {
	[GGML_T_Q4_0] = &t_q4_0_r16,
	[GGML_T_Q8_0] = &t_q8_0_r16,
};

/* Repacked Q4_0/Q8_0 on AMX: decode on the VNNI group kernel, prompts (any
 * length) on the AMX-BF16 tiles. */
static const ktype t_q4_0_r16_amx = {
	.rmax = R16, .tmax = PK_TOK, .act_bytes = pk_act_bytes, .act_prep = pk_prep_q4_0,
	.tile = pk_tile_q4_0, .gemm_prompt = true, .gemm_rows = BF_ROWS,
	.gemm_act_bytes = bf_act_bytes, .gemm_prep = bf_act_prep, .gemm = bf_gemm_q4_0,
};
static const ktype t_q8_0_r16_amx = {
	.rmax = R16, .tmax = PK_TOK, .act_bytes = pk_act_bytes, .act_prep = pk_prep_q8_0,
	.tile = pk_tile_q8_0, .gemm_prompt = true, .gemm_rows = BF_ROWS,
	.gemm_act_bytes = bf_act_bytes, .gemm_prep = bf_act_prep, .gemm = bf_gemm_q8_0,
};

static const ktype t_q4_k_amx = { .rmax = KROWS, .tmax = KTOK, .act_bytes = ak_bytes,
				  .act_prep = ak_prep_k4, .tile = q4_k_tile,
				  K_GEMM(amx_q4_k_gemm) };
static const ktype t_q5_k_amx = { .rmax = KROWS, .tmax = KTOK, .act_bytes = ak_bytes,
				  .act_prep = ak_prep_k4, .tile = q5_k_tile,
				  K_GEMM(amx_q5_k_gemm) };
static const ktype *const amx_packed[GGML_T_COUNT] = {
	[GGML_T_Q4_0] = &t_q4_0_r16_amx,
	[GGML_T_Q8_0] = &t_q8_0_r16_amx,
};

static const ktype *const avx512_types[GGML_T_COUNT] = {
	[GGML_T_F32] = &t_f32,
	[GGML_T_F16] = &t_f16,
	[GGML_T_BF16] = &t_bf16,
	[GGML_T_Q4_0] = &t_q4_0,
	[GGML_T_Q8_0] = &t_q8_0,
	[GGML_T_Q4_K] = &t_q4_k,
	[GGML_T_Q5_K] = &t_q5_k,
	[GGML_T_Q6_K] = &t_q6_k,
};

KTILED_HOOKS(avx512, avx512_types, avx512_packed)

/* Everything but the matmul tables is the same on "avx512" and "amx". */
#define AVX512_SHARED_HOOKS                                                    \
	.attn_scores_f16 = avx512_attn_scores_f16,                             \
	.attn_values_f16 = avx512_attn_values_f16,                             \
	.attn_f16 = avx512_attn_f16,                                           \
	.softmax = avx512_softmax,                                             \
	.swiglu = avx512_swiglu,                                               \
	.f32_to_f16 = avx512_f32_to_f16,                                       \
	.repack_size = avx512_repack_size,                                     \
	.repack = avx512_repack,

const engine_kernels engine_kernels_avx512 = {
	.name = "avx512",
	.cpu_ok = kcpu_has_avx512,
	.matmul = avx512_matmul,
	.matmul_scratch = avx512_matmul_scratch,
	AVX512_SHARED_HOOKS
};

/* The "amx" path: the avx512 kernels, with the many-token products of
 * repacked Q4_0/Q8_0 on AMX tiles. The same repacked layout as avx512. */
static const ktype *const amx_types[GGML_T_COUNT] = {
	[GGML_T_F32] = &t_f32,
	[GGML_T_F16] = &t_f16,
	[GGML_T_BF16] = &t_bf16,
	[GGML_T_Q4_0] = &t_q4_0,
	[GGML_T_Q8_0] = &t_q8_0,
	[GGML_T_Q4_K] = &t_q4_k_amx,
	[GGML_T_Q5_K] = &t_q5_k_amx,
	/* Q6_K's scale blocks are 16 wide: a half-size tile product per
	 * epilogue loses to the VNNI kernel (84 vs 135 GMAC/s measured) */
	[GGML_T_Q6_K] = &t_q6_k,
};

KTILED_HOOKS(amx, amx_types, amx_packed)

const engine_kernels engine_kernels_amx = {
	.name = "amx",
	.cpu_ok = kcpu_has_amx,
	.matmul = amx_matmul,
	.matmul_scratch = amx_matmul_scratch,
	AVX512_SHARED_HOOKS
};
