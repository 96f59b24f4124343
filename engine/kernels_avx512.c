/*
 * kernels_avx512.c — the AVX-512 path (F, BW, VL, DQ, VNNI, VBMI: Ice Lake,
 * Sapphire Rapids, Zen 4 and later). Compiled with its own -m flags
 * (engine/meson.build) and only ever run after kcpu_has_avx512() said yes.
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
#include <string.h>

#define AI static inline __attribute__((always_inline))

/* Tile shapes (rows × tokens); see the register budget notes by each. */
#define QROWS 4
#define QTOK 4
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

/* Store the nr × T sums of a tile; acc[r][t] → y[t·ldy + r]. */
#define STORE_TILE(acc, nr, T, y, ldy)                                         \
	do {                                                                   \
		for (int r_ = 0; r_ < (nr); r_++)                              \
			for (int t_ = 0; t_ < (T); t_++)                       \
				(y)[t_ * (ldy) + r_] =                         \
					_mm512_reduce_add_ps((acc)[r_][t_]);   \
	} while (0)

/* Row pointers of a tile, rows past nr clamped to the last valid one. */
AI void tile_rows(const uint8_t *w, size_t rb, int nr, int R,
		  const uint8_t **wr)
{
	for (int r = 0; r < R; r++)
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
		for (int i = 0; i < 4; i++)
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
		for (int i = 0; i < 8; i++)
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

	for (int t = 0; t < T; t++) {
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
	for (int r = 0; r < QROWS; r++)
		for (int t = 0; t < QTOK; t++)
			acc[r][t] = zero_ps();
	for (int64_t g = 0; g < ng; g++) {
		for (int r = 0; r < QROWS; r++) {
			const uint8_t *p = wr[r] + 72 * g;

			q4_0_group(_mm512_loadu_si512(p), _mm512_loadu_si512(p + 8),
				   xa, xs, g, T, acc[r]);
		}
	}
	if (rem) {
		for (int r = 0; r < QROWS; r++) {
			const uint8_t *p = wr[r] + 72 * ng;

			q4_0_group(_mm512_maskz_loadu_epi8(first_bytes(18 * rem), p),
				   _mm512_maskz_loadu_epi8(first_bytes(18 * rem - 8),
							   p + 8),
				   xa, xs, ng, T, acc[r]);
		}
	}
	STORE_TILE(acc, nr, T, y, ldy);
}

static void q4_0_tile(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
		      size_t xs, int nt, int64_t ne0, float *y, int64_t ldy)
{
	switch (nt) {
	case 1: q4_0_tile_t(w, rb, nr, xa, xs, ne0, y, ldy, 1); break;
	case 2: q4_0_tile_t(w, rb, nr, xa, xs, ne0, y, ldy, 2); break;
	case 3: q4_0_tile_t(w, rb, nr, xa, xs, ne0, y, ldy, 3); break;
	default: q4_0_tile_t(w, rb, nr, xa, xs, ne0, y, ldy, 4); break;
	}
}

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

	for (int t = 0; t < T; t++) {
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
	for (int r = 0; r < QROWS; r++)
		for (int t = 0; t < QTOK; t++)
			acc[r][t] = zero_ps();
	for (int64_t g = 0; g < ng; g++) {
		for (int r = 0; r < QROWS; r++) {
			const uint8_t *p = wr[r] + 68 * g;

			q8_0_pair(_mm512_loadu_si512(p), _mm512_loadu_si512(p + 4),
				  xa, xs, g, T, acc[r]);
		}
	}
	if (nb % 2) {
		for (int r = 0; r < QROWS; r++) {
			const uint8_t *p = wr[r] + 68 * ng;

			q8_0_pair(_mm512_maskz_loadu_epi8(first_bytes(34), p),
				  _mm512_maskz_loadu_epi8(first_bytes(30), p + 4),
				  xa, xs, ng, T, acc[r]);
		}
	}
	STORE_TILE(acc, nr, T, y, ldy);
}

static void q8_0_tile(const uint8_t *w, size_t rb, int nr, const uint8_t *xa,
		      size_t xs, int nt, int64_t ne0, float *y, int64_t ldy)
{
	switch (nt) {
	case 1: q8_0_tile_t(w, rb, nr, xa, xs, ne0, y, ldy, 1); break;
	case 2: q8_0_tile_t(w, rb, nr, xa, xs, ne0, y, ldy, 2); break;
	case 3: q8_0_tile_t(w, rb, nr, xa, xs, ne0, y, ldy, 3); break;
	default: q8_0_tile_t(w, rb, nr, xa, xs, ne0, y, ldy, 4); break;
	}
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

	for (int i = 0; i < 4; i++) {
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
	for (int t = 0; t < T; t++) {
		const ak_block *x = (const ak_block *)(xa + (size_t)t * xs) + sb;
		__m512i ai = _mm512_setzero_si512();

		for (int i = 0; i < 4; i++)
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

	for (int i = 0; i < 4; i++) {
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
	for (int i = 0; i < 4; i++) {
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
	for (int t = 0; t < T; t++) {
		const ak_block *x = (const ak_block *)(xa + (size_t)t * xs) + sb;
		__m512i ai = _mm512_zextsi256_si512(_mm256_madd_epi16(
			k.neg32, _mm256_load_si256((const __m256i *)x->bsum16)));

		for (int i = 0; i < 4; i++)
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
		const uint8_t *wr[QROWS];                                      \
		__m512 acc[QROWS][QTOK];                                       \
		tile_rows(w, rb, nr, QROWS, wr);                               \
		for (int r = 0; r < QROWS; r++)                                \
			for (int t = 0; t < QTOK; t++)                         \
				acc[r][t] = zero_ps();                         \
		for (int64_t sb = 0; sb < ne0 / QK_K; sb++)                    \
			for (int r = 0; r < QROWS; r++)                        \
				FN((const BT *)wr[r] + sb, xa, xs, sb, T,      \
				   acc[r]);                                    \
		STORE_TILE(acc, nr, T, y, ldy);                                \
	}                                                                      \
	static void NAME(const uint8_t *w, size_t rb, int nr,                 \
			 const uint8_t *xa, size_t xs, int nt, int64_t ne0,   \
			 float *y, int64_t ldy)                               \
	{                                                                      \
		switch (nt) {                                                  \
		case 1: NAME##_t(w, rb, nr, xa, xs, ne0, y, ldy, 1); break;   \
		case 2: NAME##_t(w, rb, nr, xa, xs, ne0, y, ldy, 2); break;   \
		case 3: NAME##_t(w, rb, nr, xa, xs, ne0, y, ldy, 3); break;   \
		default: NAME##_t(w, rb, nr, xa, xs, ne0, y, ldy, 4); break;  \
		}                                                              \
	}

K_TILE(q4_k_tile, block_q4_K, q4_k_block)
K_TILE(q5_k_tile, block_q5_K, q5_k_block)
K_TILE(q6_k_tile, block_q6_K, q6_k_block)

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

#define F_TILE(NAME, LOADW)                                                    \
	AI void NAME##_t(const uint8_t *w, size_t rb, int nr,                 \
			 const uint8_t *xa, size_t xs, int64_t ne0, float *y, \
			 int64_t ldy, int T)                                  \
	{                                                                      \
		const uint8_t *wr[FROWS];                                      \
		__m512 acc[FROWS][FTOK];                                       \
		int64_t i;                                                     \
		tile_rows(w, rb, nr, FROWS, wr);                               \
		for (int r = 0; r < FROWS; r++)                                \
			for (int t = 0; t < FTOK; t++)                         \
				acc[r][t] = zero_ps();                         \
		for (i = 0; i + 16 <= ne0; i += 16)                            \
			NAME##_step(wr, xa, xs, i, 0xffff, T, acc);            \
		if (i < ne0)                                                   \
			NAME##_step(wr, xa, xs, i,                             \
				    (__mmask16)((1u << (ne0 - i)) - 1), T,     \
				    acc);                                      \
		STORE_TILE(acc, nr, T, y, ldy);                                \
	}                                                                      \
	static void NAME(const uint8_t *w, size_t rb, int nr,                 \
			 const uint8_t *xa, size_t xs, int nt, int64_t ne0,   \
			 float *y, int64_t ldy)                               \
	{                                                                      \
		switch (nt) {                                                  \
		case 1: NAME##_t(w, rb, nr, xa, xs, ne0, y, ldy, 1); break;   \
		case 2: NAME##_t(w, rb, nr, xa, xs, ne0, y, ldy, 2); break;   \
		case 3: NAME##_t(w, rb, nr, xa, xs, ne0, y, ldy, 3); break;   \
		default: NAME##_t(w, rb, nr, xa, xs, ne0, y, ldy, 4); break;  \
		}                                                              \
	}

#define F_STEP(NAME, LOADW)                                                    \
	AI void NAME##_step(const uint8_t *const *wr, const uint8_t *xa,      \
			    size_t xs, int64_t i, __mmask16 m, int T,         \
			    __m512 (*acc)[FTOK])                              \
	{                                                                      \
		for (int r = 0; r < FROWS; r++) {                              \
			__m512 wv = LOADW(wr[r], i, m);                        \
			for (int t = 0; t < T; t++)                            \
				acc[r][t] = _mm512_fmadd_ps(                   \
					wv,                                    \
					_mm512_maskz_loadu_ps(                 \
						m, (const float *)(xa +        \
							(size_t)t * xs) + i),  \
					acc[r][t]);                            \
		}                                                              \
	}

F_STEP(f32_tile, load_f32w)
F_TILE(f32_tile, load_f32w)
F_STEP(f16_tile, load_f16w)
F_TILE(f16_tile, load_f16w)
F_STEP(bf16_tile, load_bf16w)
F_TILE(bf16_tile, load_bf16w)

static size_t no_act(int64_t ne0)
{
	(void)ne0;
	return 0;
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

AI __mmask16 tail16(int64_t n)
{
	return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
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

		for (int c = 0; c < 4; c++)
			m[c] = i0 + 16 * c < hd ? tail16(hd - i0 - 16 * c) : 0;
		for (int j = 0; j < n_kv; j++) {
			const uint8_t *vj = (const uint8_t *)(v + (size_t)j * v_stride);
			__m512 pj = _mm512_set1_ps(p[j]);

			for (int c = 0; c < 4; c++)
				if (m[c])
					a[c] = _mm512_fmadd_ps(
						pj, load_f16w(vj, i0 + 16 * c, m[c]), a[c]);
		}
		for (int c = 0; c < 4; c++)
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
static const ktype t_q4_0 = { QROWS, QTOK, a4_bytes, a4_prep, q4_0_tile };
static const ktype t_q8_0 = { QROWS, QTOK, a8_bytes, a8_prep, q8_0_tile };
static const ktype t_q4_k = { QROWS, QTOK, ak_bytes, ak_prep_k4, q4_k_tile };
static const ktype t_q5_k = { QROWS, QTOK, ak_bytes, ak_prep_k4, q5_k_tile };
static const ktype t_q6_k = { QROWS, QTOK, ak_bytes, ak_prep_natural, q6_k_tile };
static const ktype t_f32 = { FROWS, FTOK, no_act, NULL, f32_tile };
static const ktype t_f16 = { FROWS, FTOK, no_act, NULL, f16_tile };
static const ktype t_bf16 = { FROWS, FTOK, no_act, NULL, bf16_tile };

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

static void avx512_matmul(engine_threadpool *tp, const engine_mat *w,
			  const float *x, int n_tok, float *y, void *scratch)
{
	ktiled_matmul(avx512_types, tp, w, x, n_tok, y, scratch);
}

static size_t avx512_matmul_scratch(const engine_mat *w, int n_tok)
{
	return ktiled_matmul_scratch(avx512_types, w, n_tok);
}

const engine_kernels engine_kernels_avx512 = {
	.name = "avx512",
	.cpu_ok = kcpu_has_avx512,
	.matmul = avx512_matmul,
	.matmul_scratch = avx512_matmul_scratch,
	.attn_scores_f16 = avx512_attn_scores_f16,
	.attn_values_f16 = avx512_attn_values_f16,
	.softmax = avx512_softmax,
	.swiglu = avx512_swiglu,
	.f32_to_f16 = avx512_f32_to_f16,
};
