/*
 * kernels_neon.c — the arm64 Advanced SIMD path (every ARMv8-A core: Pi 4
 * and 5, Rockchip and Amlogic boards). Built only for aarch64 hosts
 * (engine/meson.build); baseline ARMv8.0 instructions, no dot-product
 * extension, so one binary runs on every appliance.
 *
 * Quantized weights meet activations quantized on the fly to int8: bytes
 * are multiplied with smull/smlal2 into int16 (|w|·|x| ≤ 128·127, two of
 * them still fit) and pairwise-accumulated into int32 with sadalp. Weight
 * levels are made signed first (Q4_0: q−8; Q6_K: q−32; Q4_K/Q5_K levels
 * are 0..31 already), so no offset corrections are needed; K-quant
 * sub-block scales multiply the int32 partial sums (mla by scalar).
 *
 * Activation layouts are those of kernels_avx2.c: Q4_0/Q8_0 weights get
 * int8 q[ne0] + float d[ne0/32] (d = amax/127, id = 1/d, q = rne(x·id));
 * K-quants get ak_block (256 per block, natural order, iscale = 127/amax,
 * d = 1/iscale, Σq per 16 and 32).
 *
 * Tiles are R rows × T tokens; rows past nr re-read the last valid row
 * and their sums are dropped.
 *
 * Threading: pure functions of their arguments; kernels_tiled.c threads.
 */
#include "kernels_tiled.h"

#include <arm_neon.h>
#include <math.h>
#include <string.h>

#define AI static inline __attribute__((always_inline))
/* Loops over tile rows, tokens and vector parts have small constant trip
 * counts: unrolled fully, their accumulators stay in registers (GCC does
 * not always do it by itself, at -O2 least of all). */
#define UNROLL _Pragma("GCC unroll 16")

#define QROWS 2
#define QTOK 4
#define KROWS 1
#define KTOK 4
#define FROWS 2
#define FTOK 4
#define TMAX 4

/* ---------------------------------------------------------------------------
 * Small helpers
 */
AI float half_to_float(ggml_half h)
{
	return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
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
						vaddvq_f32((acc)[r_][t_]);     \
	} while (0)

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
	float32x4_t m = vdupq_n_f32(0.0f);

	for (int i = 0; i < n; i += 4)
		m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + i)));
	return vmaxvq_f32(m);
}

/* 16 floats → 16 int8 rne(x·id); returns Σq. */
AI int quant16(const float *x, float id, int8_t *q)
{
	int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x), id));
	int32x4_t b = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 4), id));
	int32x4_t c = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 8), id));
	int32x4_t d = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + 12), id));
	int16x8_t ab = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
	int16x8_t cd = vcombine_s16(vqmovn_s32(c), vqmovn_s32(d));

	vst1q_s8(q, vcombine_s8(vqmovn_s16(ab), vqmovn_s16(cd)));
	return vaddvq_s32(vaddq_s32(vaddq_s32(a, b), vaddq_s32(c, d)));
}

/* Σ of 16 signed products into 4 int32 lanes. */
AI int32x4_t dot16(int32x4_t acc, int8x16_t w, int8x16_t x)
{
	int16x8_t p = vmull_s8(vget_low_s8(w), vget_low_s8(x));

	p = vmlal_high_s8(p, w, x);
	return vpadalq_s16(acc, p);
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
		float id = d != 0.0f ? 1.0f / d : 0.0f;

		dv[b] = d;
		quant16(x + b * QK8_0, id, q + b * QK8_0);
		quant16(x + b * QK8_0 + 16, id, q + b * QK8_0 + 16);
	}
}

typedef struct qlev {
	int8x16_t a, b; /* elements 0..15, 16..31, signed */
} qlev;

AI qlev q4_0_levels(const block_q4_0 *b)
{
	uint8x16_t v = vld1q_u8(b->qs);
	int8x16_t eight = vdupq_n_s8(8);
	qlev l = {
		vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(0x0f))), eight),
		vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight),
	};

	return l;
}

AI qlev q8_0_levels(const block_q8_0 *b)
{
	qlev l = { vld1q_s8(b->qs), vld1q_s8(b->qs + 16) };

	return l;
}

AI void q_block_tokens(qlev w, float dw, const uint8_t *xa, size_t xs,
		       int64_t ne0, int64_t b, int T, float32x4_t *acc)
{
	UNROLL for (int t = 0; t < T; t++) {
		const int8_t *q = (const int8_t *)(xa + (size_t)t * xs);
		const float *dx = (const float *)(q + ne0);
		int32x4_t s = dot16(vdupq_n_s32(0), w.a, vld1q_s8(q + b * QK8_0));

		s = dot16(s, w.b, vld1q_s8(q + b * QK8_0 + 16));
		acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(s), dw * dx[b]);
	}
}

#define Q_TILE(NAME, BT, LEVELS)                                               \
	AI void NAME##_t(const uint8_t *w, size_t rb, int nr,                 \
			 const uint8_t *xa, size_t xs, int64_t ne0, float *y, \
			 int64_t ldy, int T)                                  \
	{                                                                      \
		const uint8_t *wr[QROWS];                                      \
		float32x4_t acc[QROWS][TMAX];                                  \
		tile_rows(w, rb, nr, QROWS, wr);                               \
		UNROLL for (int r = 0; r < QROWS; r++)                                \
			UNROLL for (int t = 0; t < TMAX; t++)                         \
				acc[r][t] = vdupq_n_f32(0.0f);                 \
		for (int64_t b = 0; b < ne0 / 32; b++)                         \
			UNROLL for (int r = 0; r < QROWS; r++) {                      \
				const BT *blk = (const BT *)wr[r] + b;         \
				q_block_tokens(LEVELS(blk),                    \
					       half_to_float(blk->d), xa, xs,  \
					       ne0, b, T, acc[r]);             \
			}                                                      \
		STORE_TILE(acc, nr, T, y, ldy);                                \
	}                                                                      \
	TILE_SWITCH(NAME)

Q_TILE(q4_0_tile, block_q4_0, q4_0_levels)
Q_TILE(q8_0_tile, block_q8_0, q8_0_levels)

/* ---------------------------------------------------------------------------
 * K-quants against ak_block (natural order).
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
		for (int j = 0; j < 16; j++)
			b->bsum16[j] = (int16_t)quant16(xs + 16 * j, iscale, b->q + 16 * j);
		for (int j = 0; j < 8; j++)
			b->bsum32[j] = (int16_t)(b->bsum16[2 * j] + b->bsum16[2 * j + 1]);
		memset(b->pad, 0, sizeof(b->pad));
	}
}

/* Unpack 6-bit scales and mins (layout: engine_k4_scale_min). */
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

/* Q4_K/Q5_K block: chunk c (32 qs bytes) low nibbles = sub-block 2c, high
 * nibbles = 2c+1; Q5_K's bit 4 from qh bit 2c / 2c+1. */
AI void k4_block(const uint8_t *scales, ggml_half dh, ggml_half dminh,
		 const uint8_t *qs, const uint8_t *qh, const uint8_t *xa,
		 size_t xs, int64_t sb, int T, float32x4_t *acc)
{
	const uint8x16_t m4 = vdupq_n_u8(0x0f), b4 = vdupq_n_u8(0x10);
	uint8_t sm[16];
	int32x4_t ai[TMAX];
	float d = half_to_float(dh), dmin = half_to_float(dminh);

	k4_scales(scales, sm);
	UNROLL for (int t = 0; t < T; t++)
		ai[t] = vdupq_n_s32(0);
	UNROLL for (int c = 0; c < 4; c++) {
		for (int h = 0; h < 2; h++) { /* bytes 16h..16h+15 of the chunk */
			uint8x16_t Q = vld1q_u8(qs + 32 * c + 16 * h);
			uint8x16_t lo = vandq_u8(Q, m4), hi = vshrq_n_u8(Q, 4);

			if (qh) {
				uint8x16_t H = vld1q_u8(qh + 16 * h);

				lo = vorrq_u8(lo, vandq_u8(vtstq_u8(H, vdupq_n_u8(
					(uint8_t)(1u << (2 * c)))), b4));
				hi = vorrq_u8(hi, vandq_u8(vtstq_u8(H, vdupq_n_u8(
					(uint8_t)(2u << (2 * c)))), b4));
			}
			UNROLL for (int t = 0; t < T; t++) {
				const ak_block *x = (const ak_block *)(xa + (size_t)t * xs) + sb;
				const int8_t *xq = x->q + 64 * c + 16 * h;
				int32x4_t s0 = dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(lo),
						     vld1q_s8(xq));
				int32x4_t s1 = dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(hi),
						     vld1q_s8(xq + 32));

				ai[t] = vmlaq_n_s32(ai[t], s0, sm[2 * c]);
				ai[t] = vmlaq_n_s32(ai[t], s1, sm[2 * c + 1]);
			}
		}
	}
	UNROLL for (int t = 0; t < T; t++) {
		const ak_block *x = (const ak_block *)(xa + (size_t)t * xs) + sb;
		int32_t msum = 0;

		for (int j = 0; j < 8; j++)
			msum += sm[8 + j] * x->bsum32[j];
		/* the mins term joins lane 0 */
		float32x4_t f = vmulq_n_f32(vcvtq_f32_s32(ai[t]), d);

		f = vsetq_lane_f32(vgetq_lane_f32(f, 0) - dmin * (float)msum, f, 0);
		acc[t] = vfmaq_n_f32(acc[t], f, x->d);
	}
}

AI void q4_k_block(const block_q4_K *b, const uint8_t *xa, size_t xs,
		   int64_t sb, int T, float32x4_t *acc)
{
	k4_block(b->scales, b->d, b->dmin, b->qs, NULL, xa, xs, sb, T, acc);
}

AI void q5_k_block(const block_q5_K *b, const uint8_t *xa, size_t xs,
		   int64_t sb, int T, float32x4_t *acc)
{
	k4_block(b->scales, b->d, b->dmin, b->qs, b->qh, xa, xs, sb, T, acc);
}

/* Q6_K (layout in kernels_avx2.c): levels made signed (q − 32); each
 * 16-byte vector is one sub-block of 16 with its int8 scale. */
AI void q6_k_block(const block_q6_K *b, const uint8_t *xa, size_t xs,
		   int64_t sb, int T, float32x4_t *acc)
{
	const uint8x16_t m4 = vdupq_n_u8(0x0f), m30 = vdupq_n_u8(0x30);
	const int8x16_t k32 = vdupq_n_s8(32);
	int32x4_t ai[TMAX];
	float d = half_to_float(b->d);

	UNROLL for (int t = 0; t < T; t++)
		ai[t] = vdupq_n_s32(0);
	for (int h = 0; h < 2; h++) {
		for (int l = 0; l < 32; l += 16) {
			uint8x16_t L0 = vld1q_u8(b->ql + 64 * h + l);
			uint8x16_t L1 = vld1q_u8(b->ql + 64 * h + 32 + l);
			uint8x16_t H = vld1q_u8(b->qh + 32 * h + l);
			uint8x16_t u[4] = {
				vorrq_u8(vandq_u8(L0, m4), vandq_u8(vshlq_n_u8(H, 4), m30)),
				vorrq_u8(vandq_u8(L1, m4), vandq_u8(vshlq_n_u8(H, 2), m30)),
				vorrq_u8(vshrq_n_u8(L0, 4), vandq_u8(H, m30)),
				vorrq_u8(vshrq_n_u8(L1, 4), vandq_u8(vshrq_n_u8(H, 2), m30)),
			};

			UNROLL for (int v = 0; v < 4; v++) {
				int e = 128 * h + 32 * v + l; /* first element */
				int8x16_t q = vsubq_s8(vreinterpretq_s8_u8(u[v]), k32);

				UNROLL for (int t = 0; t < T; t++) {
					const ak_block *x =
						(const ak_block *)(xa + (size_t)t * xs) + sb;

					ai[t] = vmlaq_n_s32(ai[t], dot16(vdupq_n_s32(0), q,
									 vld1q_s8(x->q + e)),
							    b->scales[e / 16]);
				}
			}
		}
	}
	UNROLL for (int t = 0; t < T; t++) {
		const ak_block *x = (const ak_block *)(xa + (size_t)t * xs) + sb;

		acc[t] = vfmaq_n_f32(acc[t], vcvtq_f32_s32(ai[t]), d * x->d);
	}
}

#define K_TILE(NAME, BT, FN)                                                   \
	AI void NAME##_t(const uint8_t *w, size_t rb, int nr,                 \
			 const uint8_t *xa, size_t xs, int64_t ne0, float *y, \
			 int64_t ldy, int T)                                  \
	{                                                                      \
		const uint8_t *wr[KROWS];                                      \
		float32x4_t acc[KROWS][TMAX];                                  \
		tile_rows(w, rb, nr, KROWS, wr);                               \
		UNROLL for (int r = 0; r < KROWS; r++)                                \
			UNROLL for (int t = 0; t < TMAX; t++)                         \
				acc[r][t] = vdupq_n_f32(0.0f);                 \
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
 * F32, F16, BF16 weights against f32 activations (tails through
 * zero-padded stack copies).
 */
AI float32x4_t load_f32w(const void *p)
{
	return vld1q_f32(p);
}

AI float32x4_t load_f16w(const void *p)
{
	return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

AI float32x4_t load_bf16w(const void *p)
{
	return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

#define F_TILE(NAME, LOADW, ESZ)                                               \
	AI void NAME##_t(const uint8_t *w, size_t rb, int nr,                 \
			 const uint8_t *xa, size_t xs, int64_t ne0, float *y, \
			 int64_t ldy, int T)                                  \
	{                                                                      \
		const uint8_t *wr[FROWS];                                      \
		float32x4_t acc[FROWS][TMAX];                                  \
		int64_t i;                                                     \
		tile_rows(w, rb, nr, FROWS, wr);                               \
		UNROLL for (int r = 0; r < FROWS; r++)                                \
			UNROLL for (int t = 0; t < TMAX; t++)                         \
				acc[r][t] = vdupq_n_f32(0.0f);                 \
		for (i = 0; i + 4 <= ne0; i += 4)                              \
			UNROLL for (int r = 0; r < FROWS; r++) {                      \
				float32x4_t wv = LOADW(wr[r] + i * ESZ);       \
				UNROLL for (int t = 0; t < T; t++)                    \
					acc[r][t] = vfmaq_f32(acc[r][t], wv,   \
						vld1q_f32((const float *)(xa + \
							(size_t)t * xs) + i)); \
			}                                                      \
		if (i < ne0) {                                                 \
			uint8_t wb[16] = { 0 };                                \
			float xb[4] = { 0 };                                   \
			UNROLL for (int r = 0; r < FROWS; r++) {                      \
				memcpy(wb, wr[r] + i * ESZ,                    \
				       (size_t)(ne0 - i) * ESZ);               \
				float32x4_t wv = LOADW(wb);                    \
				UNROLL for (int t = 0; t < T; t++) {                  \
					memcpy(xb, (const float *)(xa +        \
						(size_t)t * xs) + i,           \
					       (size_t)(ne0 - i) * 4);         \
					acc[r][t] = vfmaq_f32(acc[r][t], wv,   \
							      vld1q_f32(xb));  \
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
 * Vector kernels for the forward pass (engine_int.h contracts).
 */

/* e^x as in kernels_avx2.c: clamp to [−87.3, 88.3], x = n·ln2 + r,
 * degree-7 Taylor polynomial of e^r, 2^n in the exponent field. */
AI float32x4_t exp_f32(float32x4_t x)
{
	x = vmaxq_f32(vminq_f32(x, vdupq_n_f32(88.3f)), vdupq_n_f32(-87.3f));
	float32x4_t n = vrndnq_f32(vmulq_n_f32(x, 1.44269504089f));
	float32x4_t r = vfmsq_n_f32(x, n, 0.693145751953125f);
	r = vfmsq_n_f32(r, n, 1.428606765330187e-06f);
	float32x4_t p = vdupq_n_f32(1.0f / 5040);

	p = vfmaq_f32(vdupq_n_f32(1.0f / 720), p, r);
	p = vfmaq_f32(vdupq_n_f32(1.0f / 120), p, r);
	p = vfmaq_f32(vdupq_n_f32(1.0f / 24), p, r);
	p = vfmaq_f32(vdupq_n_f32(1.0f / 6), p, r);
	p = vfmaq_f32(vdupq_n_f32(0.5f), p, r);
	p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
	p = vfmaq_f32(vdupq_n_f32(1.0f), p, r);
	int32x4_t e = vshlq_n_s32(vaddq_s32(vcvtnq_s32_f32(n), vdupq_n_s32(127)), 23);

	return vmulq_f32(p, vreinterpretq_f32_s32(e));
}

static void neon_attn_scores_f16(const float *q, const ggml_half *k,
				 size_t k_stride, int n_kv, int hd, float scale,
				 float *s)
{
	for (int j = 0; j < n_kv; j++) {
		const ggml_half *kj = k + (size_t)j * k_stride;
		float32x4_t a = vdupq_n_f32(0.0f), b = vdupq_n_f32(0.0f);
		float tail = 0.0f;
		int i;

		for (i = 0; i + 8 <= hd; i += 8) {
			a = vfmaq_f32(a, vld1q_f32(q + i), load_f16w(kj + i));
			b = vfmaq_f32(b, vld1q_f32(q + i + 4), load_f16w(kj + i + 4));
		}
		for (; i < hd; i++)
			tail += q[i] * half_to_float(kj[i]);
		s[j] = (vaddvq_f32(vaddq_f32(a, b)) + tail) * scale;
	}
}

static void neon_attn_values_f16(const float *p, const ggml_half *v,
				 size_t v_stride, int n_kv, int hd, float *o)
{
	int i0;

	for (i0 = 0; i0 + 16 <= hd; i0 += 16) {
		float32x4_t a[4] = { vdupq_n_f32(0.0f), vdupq_n_f32(0.0f),
				     vdupq_n_f32(0.0f), vdupq_n_f32(0.0f) };

		for (int j = 0; j < n_kv; j++) {
			const ggml_half *vj = v + (size_t)j * v_stride + i0;

			UNROLL for (int c = 0; c < 4; c++)
				a[c] = vfmaq_n_f32(a[c], load_f16w(vj + 4 * c), p[j]);
		}
		UNROLL for (int c = 0; c < 4; c++)
			vst1q_f32(o + i0 + 4 * c, a[c]);
	}
	for (int i = i0; i < hd; i++) {
		float acc = 0.0f;

		for (int j = 0; j < n_kv; j++)
			acc += p[j] * half_to_float(v[(size_t)j * v_stride + i]);
		o[i] = acc;
	}
}

static float neon_softmax(float *s, int n)
{
	float mx = s[0], sum = 0.0f;
	float32x4_t acc = vdupq_n_f32(0.0f);
	int i;

	for (i = 1; i < n; i++)
		mx = s[i] > mx ? s[i] : mx;
	for (i = 0; i + 4 <= n; i += 4) {
		float32x4_t e = exp_f32(vsubq_f32(vld1q_f32(s + i), vdupq_n_f32(mx)));

		vst1q_f32(s + i, e);
		acc = vaddq_f32(acc, e);
	}
	sum = vaddvq_f32(acc);
	if (i < n) {
		float buf[4] = { 0 };

		memcpy(buf, s + i, (size_t)(n - i) * sizeof(float));
		vst1q_f32(buf, exp_f32(vsubq_f32(vld1q_f32(buf), vdupq_n_f32(mx))));
		for (int j = 0; j < n - i; j++) {
			s[i + j] = buf[j];
			sum += buf[j];
		}
	}
	return sum;
}

AI float32x4_t swiglu4(float32x4_t g, float32x4_t u)
{
	float32x4_t e = exp_f32(vnegq_f32(g));

	return vmulq_f32(vdivq_f32(g, vaddq_f32(vdupq_n_f32(1.0f), e)), u);
}

static void neon_swiglu(float *g, const float *u, size_t n)
{
	size_t i;

	for (i = 0; i + 4 <= n; i += 4)
		vst1q_f32(g + i, swiglu4(vld1q_f32(g + i), vld1q_f32(u + i)));
	if (i < n) {
		float gb[4] = { 0 }, ub[4] = { 0 };

		memcpy(gb, g + i, (n - i) * sizeof(float));
		memcpy(ub, u + i, (n - i) * sizeof(float));
		vst1q_f32(gb, swiglu4(vld1q_f32(gb), vld1q_f32(ub)));
		memcpy(g + i, gb, (n - i) * sizeof(float));
	}
}

/* fcvtn rounds with the FPCR mode, round-to-nearest-even by default. */
static void neon_f32_to_f16(const float *x, ggml_half *h, size_t n)
{
	size_t i;

	for (i = 0; i + 4 <= n; i += 4)
		vst1_u16(h + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
	for (; i < n; i++)
		h[i] = engine_fp32_to_fp16(x[i]);
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

static const ktype *const neon_types[GGML_T_COUNT] = {
	[GGML_T_F32] = &t_f32,
	[GGML_T_F16] = &t_f16,
	[GGML_T_BF16] = &t_bf16,
	[GGML_T_Q4_0] = &t_q4_0,
	[GGML_T_Q8_0] = &t_q8_0,
	[GGML_T_Q4_K] = &t_q4_k,
	[GGML_T_Q5_K] = &t_q5_k,
	[GGML_T_Q6_K] = &t_q6_k,
};

KTILED_HOOKS(neon, neon_types, NULL)

const engine_kernels engine_kernels_neon = {
	.name = "neon",
	.cpu_ok = kcpu_has_neon,
	.matmul = neon_matmul,
	.matmul_scratch = neon_matmul_scratch,
	.attn_scores_f16 = neon_attn_scores_f16,
	.attn_values_f16 = neon_attn_values_f16,
	.softmax = neon_softmax,
	.swiglu = neon_swiglu,
	.f32_to_f16 = neon_f32_to_f16,
};
