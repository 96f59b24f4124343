/*
 * kernels_avx2.c — the AVX2 + FMA + F16C path (Haswell, Zen 1 and later).
 * Compiled with its own -m flags (engine/meson.build) and only ever run
 * after kcpu_has_avx2() said yes.
 *
 * Quantized weights meet activations quantized on the fly to int8 and the
 * bytes are multiplied with vpmaddubsw (unsigned × signed → int16 pairs)
 * and summed to int32 with vpmaddwd. vpmaddubsw wants one unsigned side,
 * so Q4_0/Q8_0 use the sign trick: |w| × (x with w's sign), exact since
 * 2·128·127 < 2^15. K-quant levels are unsigned already; vpmaddwd against
 * the broadcast sub-block scale applies it while summing.
 *
 * Activation layouts (this file's own):
 *   Q4_0/Q8_0 weights: per token int8 q[ne0] (natural order) followed by
 *     float d[ne0/32], blocks of 32 quantized as in kernels_avx512.c
 *     (d = amax/127, id = 1/d, q = rne(x·id)).
 *   K-quants: the same ak_block as the AVX-512 path, natural order
 *     (256 per block, iscale = 127/amax, d = 1/iscale, Σq per 16 and 32).
 *
 * Tiles are R weight rows × T tokens (rows past nr re-read the last valid
 * row, their sums dropped); sixteen YMM registers bound R·T.
 *
 * Threading: pure functions of their arguments; kernels_tiled.c threads.
 */
#include "kernels_tiled.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))
/* Loops over tile rows, tokens and vector parts have small constant trip
 * counts: unrolled fully, their accumulators stay in registers (GCC does
 * not always do it by itself, at -O2 least of all). */
#define UNROLL _Pragma("GCC unroll 16")

#define QROWS 2   /* Q4_0/Q8_0: 8 accumulators + 2 weight registers */
#define QTOK 4
#define KROWS 1   /* K-quants: 4 float + 4 int accumulators + unpacked q */
#define KTOK 4
#define FROWS 2
#define FTOK 4
#define TMAX 4    /* largest T above */

/* ---------------------------------------------------------------------------
 * Small helpers
 */
AI float hsum256(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

AI int hsum256_epi32(__m256i v)
{
	__m128i s = _mm_add_epi32(_mm256_castsi256_si128(v),
				  _mm256_extracti128_si256(v, 1));

	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
	s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
	return _mm_cvtsi128_si32(s);
}

AI float half_to_float(ggml_half h)
{
	return _cvtsh_ss(h);
}

AI void tile_rows(const uint8_t *w, size_t rb, int nr, int R,
		  const uint8_t **wr)
{
	UNROLL for (int r = 0; r < R; r++)
		wr[r] = w + (size_t)(r < nr ? r : nr - 1) * rb;
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
						hsum256((acc)[r_][t_]);     \
	} while (0)

/* Instantiate NAME(…, nt, …) over NAME_t(…, T) for T = 1..4. */
#define TILE_SWITCH(NAME)                                                      \
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

AI float amax_n(const float *x, int n)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256 m = _mm256_setzero_ps();
	__m128 s;

	for (int i = 0; i < n; i += 8)
		m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
	s = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
	s = _mm_max_ps(s, _mm_movehl_ps(s, s));
	s = _mm_max_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* 32 floats → 32 int8 levels rne(x·id), natural order; returns Σq. */
AI int quant32(const float *x, float id, int8_t *q)
{
	__m256 v = _mm256_set1_ps(id);
	__m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), v));
	__m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), v));
	__m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), v));
	__m256i d = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), v));
	int sum = hsum256_epi32(_mm256_add_epi32(_mm256_add_epi32(a, b),
						 _mm256_add_epi32(c, d)));
	/* packs interleave 128-bit lanes: ab = a0 b0 a1 b1 (words), then
	 * bytes a0 b0 c0 d0 a1 b1 c1 d1; the permute restores order */
	__m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
	__m256i q8 = _mm256_packs_epi16(ab, cd);

	q8 = _mm256_permutevar8x32_epi32(q8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
	_mm256_storeu_si256((__m256i *)q, q8);
	return sum;
}

/* ---------------------------------------------------------------------------
 * Q4_0 and Q8_0 weights against int8 q[ne0] + float d[nb].
 */
static size_t a8_bytes(int64_t ne0)
{
	return (size_t)ne0 + (size_t)(ne0 / QK8_0) * sizeof(float);
}

static void a8_prep(const float *x, void *xa, int64_t ne0)
{
	int8_t *q = xa;
	float *dv = (float *)(q + ne0);

	for (int64_t b = 0; b < ne0 / QK8_0; b++) {
		float d = amax_n(x + b * QK8_0, QK8_0) / 127.0f;

		dv[b] = d;
		quant32(x + b * QK8_0, d != 0.0f ? 1.0f / d : 0.0f, q + b * QK8_0);
	}
}

/* One weight block as signed levels (32 int8) and its scale. */
AI __m256i q4_0_levels(const block_q4_0 *b)
{
	const __m128i m4 = _mm_set1_epi8(0x0f);
	__m128i v = _mm_loadu_si128((const __m128i *)b->qs);
	__m256i q = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m4),
				     _mm_and_si128(v, m4));

	return _mm256_sub_epi8(q, _mm256_set1_epi8(8));
}

AI __m256i q8_0_levels(const block_q8_0 *b)
{
	return _mm256_loadu_si256((const __m256i *)b->qs);
}

/* acc[t] += dw·dx_t · Σ w·x_t for one block of signed levels w. */
AI void q_block_tokens(__m256i w, float dw, const uint8_t *xa, size_t xs,
		       int64_t ne0, int64_t b, int T, __m256 *acc)
{
	const __m256i ones = _mm256_set1_epi16(1);
	__m256i aw = _mm256_sign_epi8(w, w);

	UNROLL for (int t = 0; t < T; t++) {
		const int8_t *q = (const int8_t *)(xa + (size_t)t * xs);
		const float *dx = (const float *)(q + ne0);
		__m256i x = _mm256_loadu_si256((const __m256i *)(q + b * QK8_0));
		__m256i p = _mm256_madd_epi16(
			_mm256_maddubs_epi16(aw, _mm256_sign_epi8(x, w)), ones);

		acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p),
					 _mm256_set1_ps(dw * dx[b]), acc[t]);
	}
}

#define Q_TILE(NAME, BT, LEVELS)                                               \
	AI void NAME##_t(const uint8_t *w, size_t rb, int nr,                 \
			 const uint8_t *xa, size_t xs, int64_t ne0, float *y, \
			 int64_t ldy, int T)                                  \
	{                                                                      \
		const uint8_t *wr[QROWS];                                      \
		__m256 acc[QROWS][TMAX];                                       \
		tile_rows(w, rb, nr, QROWS, wr);                               \
		UNROLL for (int r = 0; r < QROWS; r++)                                \
			UNROLL for (int t = 0; t < TMAX; t++)                         \
				acc[r][t] = _mm256_setzero_ps();               \
		for (int64_t b = 0; b < ne0 / 32; b++) {                       \
			UNROLL for (int r = 0; r < QROWS; r++) {                      \
				const BT *blk = (const BT *)wr[r] + b;         \
				q_block_tokens(LEVELS(blk),                    \
					       half_to_float(blk->d), xa, xs,  \
					       ne0, b, T, acc[r]);             \
			}                                                      \
		}                                                              \
		STORE_TILE(acc, nr, T, y, ldy);                                \
	}                                                                      \
	TILE_SWITCH(NAME)

Q_TILE(q4_0_tile, block_q4_0, q4_0_levels)
Q_TILE(q8_0_tile, block_q8_0, q8_0_levels)

/* ---------------------------------------------------------------------------
 * K-quant activations (natural order; same block as kernels_avx512.c).
 */
typedef struct ak_block {
	int8_t q[QK_K];
	int16_t bsum16[16];
	int16_t bsum32[8];
	float d;
	uint8_t pad[12];
} ak_block;

_Static_assert(sizeof(ak_block) == 320, "ak_block is five cache lines");

static size_t ak_bytes(int64_t ne0)
{
	return (size_t)(ne0 / QK_K) * sizeof(ak_block);
}

static void ak_prep(const float *x, void *xa, int64_t ne0)
{
	ak_block *b = xa;

	for (int64_t i = 0; i < ne0 / QK_K; i++, b++) {
		const float *xs = x + i * QK_K;
		float amax = amax_n(xs, QK_K);
		float iscale = amax != 0.0f ? 127.0f / amax : 0.0f;

		b->d = amax != 0.0f ? 1.0f / iscale : 0.0f;
		for (int j = 0; j < 8; j++) {
			int s = quant32(xs + 32 * j, iscale, b->q + 32 * j);
			int s0 = 0;

			for (int l = 0; l < 16; l++)
				s0 += b->q[32 * j + l];
			b->bsum16[2 * j] = (int16_t)s0;
			b->bsum16[2 * j + 1] = (int16_t)(s - s0);
			b->bsum32[j] = (int16_t)s;
		}
		memset(b->pad, 0, sizeof(b->pad));
	}
}

/* Σ over one 32-byte vector of levels × 32 activations × int16 scale sc
 * (or a per-128-bit-lane scale vector), as 8 int32. */
AI __m256i dot32_scaled(__m256i q, const int8_t *x, __m256i sc)
{
	return _mm256_madd_epi16(
		_mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)x)), sc);
}

/* Unpack the 6-bit scales and mins of a Q4_K/Q5_K block (layout:
 * engine_k4_scale_min) into bytes sc[0..7], m[0..7]. */
AI void k4_scales(const uint8_t *s, uint8_t *sm)
{
	uint32_t a, b, c, u[4];

	memcpy(&a, s, 4);
	memcpy(&b, s + 4, 4);
	memcpy(&c, s + 8, 4);
	u[0] = a & 0x3f3f3f3fu;
	u[1] = (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u);
	u[2] = b & 0x3f3f3f3fu;
	u[3] = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u);
	memcpy(sm, u, 16);
}

/* Q4_K/Q5_K: chunk c (32 qs bytes) low nibbles = natural sub-block 2c,
 * high nibbles = 2c+1; Q5_K's bit 4 comes from qh bit 2c / 2c+1. */
AI void k4_block(const uint8_t *scales, ggml_half dh, ggml_half dminh,
		 const uint8_t *qs, const uint8_t *qh, const uint8_t *xa,
		 size_t xs, int64_t sb, int T, __m256 *acc)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	uint8_t sm[16];
	__m256i ai[TMAX];
	__m128i mins;
	float d = half_to_float(dh), dmin = half_to_float(dminh);

	k4_scales(scales, sm);
	mins = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(sm + 8)));
	UNROLL for (int t = 0; t < T; t++)
		ai[t] = _mm256_setzero_si256();
	UNROLL for (int c = 0; c < 4; c++) {
		__m256i Q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
		__m256i lo = _mm256_and_si256(Q, m4);
		__m256i hi = _mm256_and_si256(_mm256_srli_epi16(Q, 4), m4);
		__m256i s0 = _mm256_set1_epi16(sm[2 * c]);
		__m256i s1 = _mm256_set1_epi16(sm[2 * c + 1]);

		if (qh) {
			__m256i H = _mm256_loadu_si256((const __m256i *)qh);
			const __m256i b4 = _mm256_set1_epi8(0x10);
			__m256i m0 = _mm256_set1_epi8((char)(1 << (2 * c)));
			__m256i m1 = _mm256_set1_epi8((char)(2 << (2 * c)));

			lo = _mm256_or_si256(lo, _mm256_and_si256(
				_mm256_cmpeq_epi8(_mm256_and_si256(H, m0), m0), b4));
			hi = _mm256_or_si256(hi, _mm256_and_si256(
				_mm256_cmpeq_epi8(_mm256_and_si256(H, m1), m1), b4));
		}
		UNROLL for (int t = 0; t < T; t++) {
			const ak_block *x = (const ak_block *)(xa + (size_t)t * xs) + sb;

			ai[t] = _mm256_add_epi32(ai[t], _mm256_add_epi32(
				dot32_scaled(lo, x->q + 64 * c, s0),
				dot32_scaled(hi, x->q + 64 * c + 32, s1)));
		}
	}
	UNROLL for (int t = 0; t < T; t++) {
		const ak_block *x = (const ak_block *)(xa + (size_t)t * xs) + sb;
		__m128i am = _mm_madd_epi16(mins, _mm_loadu_si128((const __m128i *)x->bsum32));
		__m256 f = _mm256_fmadd_ps(
			_mm256_cvtepi32_ps(ai[t]), _mm256_set1_ps(d),
			_mm256_set_m128(_mm_setzero_ps(),
					_mm_mul_ps(_mm_cvtepi32_ps(am), _mm_set1_ps(-dmin))));

		acc[t] = _mm256_fmadd_ps(f, _mm256_set1_ps(x->d), acc[t]);
	}
}

AI void q4_k_block(const block_q4_K *b, const uint8_t *xa, size_t xs,
		   int64_t sb, int T, __m256 *acc)
{
	k4_block(b->scales, b->d, b->dmin, b->qs, NULL, xa, xs, sb, T, acc);
}

AI void q5_k_block(const block_q5_K *b, const uint8_t *xa, size_t xs,
		   int64_t sb, int T, __m256 *acc)
{
	k4_block(b->scales, b->d, b->dmin, b->qs, b->qh, xa, xs, sb, T, acc);
}

/* Q6_K: per half h, ql[64h..+32) low/high nibbles are elements l / l+64,
 * ql[64h+32..+32) elements l+32 / l+96, qh[32h + l] bits 0-1, 2-3, 4-5,
 * 6-7 the top bits of l, l+32, l+64, l+96. Levels are unsigned (0..63);
 * the −32 offset is taken out with Σ sc·bsum16. */
AI void q6_k_block(const block_q6_K *b, const uint8_t *xa, size_t xs,
		   int64_t sb, int T, __m256 *acc)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
	__m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
	__m256i ai[TMAX];
	float d = half_to_float(b->d);

	UNROLL for (int t = 0; t < T; t++) {
		const ak_block *x = (const ak_block *)(xa + (size_t)t * xs) + sb;

		ai[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(
			_mm256_madd_epi16(sc16, _mm256_loadu_si256(
				(const __m256i *)x->bsum16)), 5));
	}
	for (int h = 0; h < 2; h++) {
		__m256i L0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
		__m256i L1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
		__m256i H = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
		__m256i q[4] = {
			_mm256_or_si256(_mm256_and_si256(L0, m4),
					_mm256_and_si256(_mm256_slli_epi16(H, 4), m30)),
			_mm256_or_si256(_mm256_and_si256(L1, m4),
					_mm256_and_si256(_mm256_slli_epi16(H, 2), m30)),
			_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L0, 4), m4),
					_mm256_and_si256(H, m30)),
			_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(L1, 4), m4),
					_mm256_and_si256(_mm256_srli_epi16(H, 2), m30)),
		};

		UNROLL for (int v = 0; v < 4; v++) {
			int k = 8 * h + 2 * v; /* first sub-block of 16 */
			__m256i sc = _mm256_set_m128i(_mm_set1_epi16(b->scales[k + 1]),
						      _mm_set1_epi16(b->scales[k]));

			UNROLL for (int t = 0; t < T; t++) {
				const ak_block *x =
					(const ak_block *)(xa + (size_t)t * xs) + sb;

				ai[t] = _mm256_add_epi32(ai[t], dot32_scaled(
					q[v], x->q + 128 * h + 32 * v, sc));
			}
		}
	}
	UNROLL for (int t = 0; t < T; t++) {
		const ak_block *x = (const ak_block *)(xa + (size_t)t * xs) + sb;

		acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai[t]),
					 _mm256_set1_ps(d * x->d), acc[t]);
	}
}

#define K_TILE(NAME, BT, FN)                                                   \
	AI void NAME##_t(const uint8_t *w, size_t rb, int nr,                 \
			 const uint8_t *xa, size_t xs, int64_t ne0, float *y, \
			 int64_t ldy, int T)                                  \
	{                                                                      \
		const uint8_t *wr[KROWS];                                      \
		__m256 acc[KROWS][TMAX];                                       \
		tile_rows(w, rb, nr, KROWS, wr);                               \
		UNROLL for (int r = 0; r < KROWS; r++)                                \
			UNROLL for (int t = 0; t < TMAX; t++)                         \
				acc[r][t] = _mm256_setzero_ps();               \
		for (int64_t sb = 0; sb < ne0 / QK_K; sb++)                    \
			UNROLL for (int r = 0; r < KROWS; r++)                        \
				FN((const BT *)wr[r] + sb, xa, xs, sb, T,      \
				   acc[r]);                                    \
		STORE_TILE(acc, nr, T, y, ldy);                                \
	}                                                                      \
	TILE_SWITCH(NAME)

K_TILE(q4_k_tile, block_q4_K, q4_k_block)
K_TILE(q5_k_tile, block_q5_K, q5_k_block)
K_TILE(q6_k_tile, block_q6_K, q6_k_block)

/* ---------------------------------------------------------------------------
 * F32, F16, BF16 weights against f32 activations. A row tail shorter than
 * 8 is converted through a zero-padded stack copy.
 */
AI __m256 load_f32w(const void *p)
{
	return _mm256_loadu_ps(p);
}

AI __m256 load_f16w(const void *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128(p));
}

AI __m256 load_bf16w(const void *p)
{
	return _mm256_castsi256_ps(_mm256_slli_epi32(
		_mm256_cvtepu16_epi32(_mm_loadu_si128(p)), 16));
}

#define F_TILE(NAME, LOADW, ESZ)                                               \
	AI void NAME##_t(const uint8_t *w, size_t rb, int nr,                 \
			 const uint8_t *xa, size_t xs, int64_t ne0, float *y, \
			 int64_t ldy, int T)                                  \
	{                                                                      \
		const uint8_t *wr[FROWS];                                      \
		__m256 acc[FROWS][TMAX];                                       \
		int64_t i;                                                     \
		tile_rows(w, rb, nr, FROWS, wr);                               \
		UNROLL for (int r = 0; r < FROWS; r++)                                \
			UNROLL for (int t = 0; t < TMAX; t++)                         \
				acc[r][t] = _mm256_setzero_ps();               \
		for (i = 0; i + 8 <= ne0; i += 8)                              \
			UNROLL for (int r = 0; r < FROWS; r++) {                      \
				__m256 wv = LOADW(wr[r] + i * ESZ);            \
				UNROLL for (int t = 0; t < T; t++)                    \
					acc[r][t] = _mm256_fmadd_ps(           \
						wv, _mm256_loadu_ps(           \
							(const float *)(xa +   \
							(size_t)t * xs) + i),  \
						acc[r][t]);                    \
			}                                                      \
		if (i < ne0) {                                                 \
			uint8_t wb[8 * 4] = { 0 };                             \
			float xb[8] = { 0 };                                   \
			UNROLL for (int r = 0; r < FROWS; r++) {                      \
				memcpy(wb, wr[r] + i * ESZ,                    \
				       (size_t)(ne0 - i) * ESZ);               \
				__m256 wv = LOADW(wb);                         \
				UNROLL for (int t = 0; t < T; t++) {                  \
					memcpy(xb, (const float *)(xa +        \
						(size_t)t * xs) + i,           \
					       (size_t)(ne0 - i) * 4);         \
					acc[r][t] = _mm256_fmadd_ps(           \
						wv, _mm256_loadu_ps(xb),       \
						acc[r][t]);                    \
				}                                              \
			}                                                      \
		}                                                              \
		STORE_TILE(acc, nr, T, y, ldy);                                \
	}                                                                      \
	TILE_SWITCH(NAME)

F_TILE(f32_tile, load_f32w, 4)
F_TILE(f16_tile, load_f16w, 2)
F_TILE(bf16_tile, load_bf16w, 2)

static size_t no_act(int64_t ne0)
{
	(void)ne0;
	return 0;
}

/* ---------------------------------------------------------------------------
 * Vector kernels for the forward pass (engine_int.h contracts). Tails
 * shorter than 8 run the same arithmetic through zero-padded stack copies.
 */

/* e^x: x clamped to [−87.3, 88.3] so 2^n stays a normal float; then
 * x = n·ln2 + r, e^r by its degree-7 Taylor polynomial (truncation
 * < 6e-9 relative), 2^n built in the exponent field. */
AI __m256 exp_ps(__m256 x)
{
	x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.3f)),
			  _mm256_set1_ps(-87.3f));
	__m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504089f)),
				   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
	__m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
	r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-06f), r);
	__m256 p = _mm256_set1_ps(1.0f / 5040);

	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
	p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
	__m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n),
						       _mm256_set1_epi32(127)), 23);

	return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static void avx2_attn_scores_f16(const float *q, const ggml_half *k,
				 size_t k_stride, int n_kv, int hd, float scale,
				 float *s)
{
	for (int j = 0; j < n_kv; j++) {
		const ggml_half *kj = k + (size_t)j * k_stride;
		__m256 a = _mm256_setzero_ps();
		float tail = 0.0f;
		int i;

		for (i = 0; i + 8 <= hd; i += 8)
			a = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), load_f16w(kj + i), a);
		for (; i < hd; i++)
			tail += q[i] * half_to_float(kj[i]);
		s[j] = (hsum256(a) + tail) * scale;
	}
}

static void avx2_attn_values_f16(const float *p, const ggml_half *v,
				 size_t v_stride, int n_kv, int hd, float *o)
{
	int i0;

	for (i0 = 0; i0 + 32 <= hd; i0 += 32) {
		__m256 a[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(),
				_mm256_setzero_ps(), _mm256_setzero_ps() };

		for (int j = 0; j < n_kv; j++) {
			const ggml_half *vj = v + (size_t)j * v_stride + i0;
			__m256 pj = _mm256_set1_ps(p[j]);

			UNROLL for (int c = 0; c < 4; c++)
				a[c] = _mm256_fmadd_ps(pj, load_f16w(vj + 8 * c), a[c]);
		}
		UNROLL for (int c = 0; c < 4; c++)
			_mm256_storeu_ps(o + i0 + 8 * c, a[c]);
	}
	for (int i = i0; i < hd; i++) {
		float acc = 0.0f;

		for (int j = 0; j < n_kv; j++)
			acc += p[j] * half_to_float(v[(size_t)j * v_stride + i]);
		o[i] = acc;
	}
}

static float avx2_softmax(float *s, int n)
{
	float mx = s[0], sum;
	__m256 acc = _mm256_setzero_ps();
	int i;

	for (i = 1; i < n; i++)
		mx = s[i] > mx ? s[i] : mx;
	for (i = 0; i + 8 <= n; i += 8) {
		__m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(s + i), _mm256_set1_ps(mx)));

		_mm256_storeu_ps(s + i, e);
		acc = _mm256_add_ps(acc, e);
	}
	sum = hsum256(acc);
	if (i < n) {
		float buf[8] = { 0 };

		memcpy(buf, s + i, (size_t)(n - i) * sizeof(float));
		_mm256_storeu_ps(buf, exp_ps(_mm256_sub_ps(_mm256_loadu_ps(buf),
							   _mm256_set1_ps(mx))));
		for (int j = 0; j < n - i; j++) {
			s[i + j] = buf[j];
			sum += buf[j];
		}
	}
	return sum;
}

AI __m256 swiglu8(__m256 g, __m256 u)
{
	__m256 e = exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), g));

	return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

static void avx2_swiglu(float *g, const float *u, size_t n)
{
	size_t i;

	for (i = 0; i + 8 <= n; i += 8)
		_mm256_storeu_ps(g + i, swiglu8(_mm256_loadu_ps(g + i),
						_mm256_loadu_ps(u + i)));
	if (i < n) {
		float gb[8] = { 0 }, ub[8] = { 0 };

		memcpy(gb, g + i, (n - i) * sizeof(float));
		memcpy(ub, u + i, (n - i) * sizeof(float));
		_mm256_storeu_ps(gb, swiglu8(_mm256_loadu_ps(gb), _mm256_loadu_ps(ub)));
		memcpy(g + i, gb, (n - i) * sizeof(float));
	}
}

static void avx2_f32_to_f16(const float *x, ggml_half *h, size_t n)
{
	size_t i;

	for (i = 0; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *)(h + i),
				 _mm256_cvtps_ph(_mm256_loadu_ps(x + i),
						 _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
	for (; i < n; i++)
		h[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* ---------------------------------------------------------------------------
 * Tables
 */
static const ktype t_q4_0 = { .rmax = QROWS, .tmax = QTOK, .act_bytes = a8_bytes,
			     .act_prep = a8_prep, .tile = q4_0_tile };
static const ktype t_q8_0 = { .rmax = QROWS, .tmax = QTOK, .act_bytes = a8_bytes,
			     .act_prep = a8_prep, .tile = q8_0_tile };
static const ktype t_q4_k = { .rmax = KROWS, .tmax = KTOK, .act_bytes = ak_bytes,
			     .act_prep = ak_prep, .tile = q4_k_tile };
static const ktype t_q5_k = { .rmax = KROWS, .tmax = KTOK, .act_bytes = ak_bytes,
			     .act_prep = ak_prep, .tile = q5_k_tile };
static const ktype t_q6_k = { .rmax = KROWS, .tmax = KTOK, .act_bytes = ak_bytes,
			     .act_prep = ak_prep, .tile = q6_k_tile };
static const ktype t_f32 = { .rmax = FROWS, .tmax = FTOK, .act_bytes = no_act,
			     .tile = f32_tile };
static const ktype t_f16 = { .rmax = FROWS, .tmax = FTOK, .act_bytes = no_act,
			     .tile = f16_tile };
static const ktype t_bf16 = { .rmax = FROWS, .tmax = FTOK, .act_bytes = no_act,
			     .tile = bf16_tile };

static const ktype *const avx2_types[GGML_T_COUNT] = {
	[GGML_T_F32] = &t_f32,
	[GGML_T_F16] = &t_f16,
	[GGML_T_BF16] = &t_bf16,
	[GGML_T_Q4_0] = &t_q4_0,
	[GGML_T_Q8_0] = &t_q8_0,
	[GGML_T_Q4_K] = &t_q4_k,
	[GGML_T_Q5_K] = &t_q5_k,
	[GGML_T_Q6_K] = &t_q6_k,
};

KTILED_HOOKS(avx2, avx2_types, NULL)

const engine_kernels engine_kernels_avx2 = {
	.name = "avx2",
	.cpu_ok = kcpu_has_avx2,
	.matmul = avx2_matmul,
	.matmul_scratch = avx2_matmul_scratch,
	.attn_scores_f16 = avx2_attn_scores_f16,
	.attn_values_f16 = avx2_attn_values_f16,
	.softmax = avx2_softmax,
	.swiglu = avx2_swiglu,
	.f32_to_f16 = avx2_f32_to_f16,
};
