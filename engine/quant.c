/*
 * quant.c — tensor types: the traits of every GGUF/ggml type id, fp16/bf16
 * conversions, and the scalar reference quantizers, dequantizers and dot
 * product for the types Hearth runs (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K,
 * Q6_K, and Q8_K for activations).
 *
 * Block layouts are byte-for-byte those of ggml (engine_int.h structs), so
 * files quantized by llama.cpp load, and the quantizers follow ggml's
 * reference rules (the *_ref functions that llama-quantize uses without an
 * importance matrix), so a tensor we quantize looks like one it would write.
 * Everything here is the slow, obviously-correct path: the SIMD kernels are
 * tested against engine_vec_dot_f32() and engine_dequant_row().
 *
 * Alignment: block pointers are read through the block structs, so a row
 * must start at a 2-byte boundary (4 for F32 and Q8_K). GGUF tensor data is
 * 32-byte aligned and every row size is even, so rows of a mapped file
 * qualify.
 *
 * Threading: pure functions of their arguments; any thread.
 */
#include "kernels_int.h"

#include <math.h>
#include <string.h>

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 must be 18 bytes");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 must be 34 bytes");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K must be 144 bytes");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K must be 176 bytes");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K must be 210 bytes");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K must be 292 bytes");

/* ---------------------------------------------------------------------------
 * Traits of every type id GGUF defines. Ids 4, 5 (Q4_2/Q4_3), 31..33 and
 * 36..38 (repacked variants) were removed from the format and stay NULL,
 * like any id we do not know. Sizes follow ggml's block structs.
 */
static const engine_type_traits type_table[GGML_T_COUNT] = {
	[GGML_T_F32] = { "F32", 1, 4, true },
	[GGML_T_F16] = { "F16", 1, 2, true },
	[GGML_T_Q4_0] = { "Q4_0", QK4_0, sizeof(block_q4_0), true },
	[GGML_T_Q4_1] = { "Q4_1", 32, 20, false },
	[GGML_T_Q5_0] = { "Q5_0", 32, 22, false },
	[GGML_T_Q5_1] = { "Q5_1", 32, 24, false },
	[GGML_T_Q8_0] = { "Q8_0", QK8_0, sizeof(block_q8_0), true },
	[GGML_T_Q8_1] = { "Q8_1", 32, 36, false },
	[GGML_T_Q2_K] = { "Q2_K", QK_K, 84, false },
	[GGML_T_Q3_K] = { "Q3_K", QK_K, 110, false },
	[GGML_T_Q4_K] = { "Q4_K", QK_K, sizeof(block_q4_K), true },
	[GGML_T_Q5_K] = { "Q5_K", QK_K, sizeof(block_q5_K), true },
	[GGML_T_Q6_K] = { "Q6_K", QK_K, sizeof(block_q6_K), true },
	[GGML_T_Q8_K] = { "Q8_K", QK_K, sizeof(block_q8_K), true },
	[16] = { "IQ2_XXS", QK_K, 66, false },
	[17] = { "IQ2_XS", QK_K, 74, false },
	[18] = { "IQ3_XXS", QK_K, 98, false },
	[19] = { "IQ1_S", QK_K, 50, false },
	[20] = { "IQ4_NL", 32, 18, false },
	[21] = { "IQ3_S", QK_K, 110, false },
	[22] = { "IQ2_S", QK_K, 82, false },
	[23] = { "IQ4_XS", QK_K, 136, false },
	[24] = { "I8", 1, 1, false },
	[25] = { "I16", 1, 2, false },
	[26] = { "I32", 1, 4, false },
	[27] = { "I64", 1, 8, false },
	[28] = { "F64", 1, 8, false },
	[29] = { "IQ1_M", QK_K, 56, false },
	[GGML_T_BF16] = { "BF16", 1, 2, true },
	[34] = { "TQ1_0", QK_K, 54, false },
	[35] = { "TQ2_0", QK_K, 66, false },
	[39] = { "MXFP4", 32, 17, false },
};

const engine_type_traits *engine_type_get(uint32_t type)
{
	if (type >= GGML_T_COUNT || !type_table[type].name)
		return NULL;
	return &type_table[type];
}

size_t engine_row_size(uint32_t type, int64_t n)
{
	const engine_type_traits *t = engine_type_get(type);

	if (!t || n < 0 || n % t->blck)
		return 0;
	return (size_t)(n / t->blck) * t->type_size;
}

/* ---------------------------------------------------------------------------
 * Half and bfloat16 conversions, in integer arithmetic so the result does
 * not depend on the FPU's rounding mode or on F16C being present.
 */
static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static float f32_from_bits(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

float engine_fp16_to_fp32(ggml_half h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t man = h & 0x3ff;
	float sub;

	if (exp == 0x1f) /* inf, or NaN with its payload kept */
		return f32_from_bits(sign | 0x7f800000u | (man << 13));
	if (exp != 0) /* normal: rebias 15 → 127 */
		return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
	/* zero or subnormal: man · 2^-24, exact in float */
	sub = (float)man * 0x1p-24f;
	return sign ? -sub : sub;
}

/* Shift m right by s (1..31) rounding to nearest, ties to even. */
static uint32_t shift_rne(uint32_t m, unsigned s)
{
	uint32_t q = m >> s;
	uint32_t rem = m & ((1u << s) - 1);
	uint32_t half = 1u << (s - 1);

	if (rem > half || (rem == half && (q & 1)))
		q++;
	return q;
}

ggml_half engine_fp32_to_fp16(float f)
{
	uint32_t u = f32_bits(f);
	uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
	uint32_t a = u & 0x7fffffffu;
	uint32_t e = a >> 23;

	if (a > 0x7f800000u) /* NaN: keep it quiet and keep the top payload */
		return (ggml_half)(sign | 0x7e00 | ((a >> 13) & 0x3ff));
	if (a >= 0x47800000u) /* ≥ 65536 (or inf): beyond any rounding */
		return (ggml_half)(sign | 0x7c00);
	if (a >= 0x38800000u) {
		/* normal half (≥ 2^-14): rebias and round the 13 dropped
		 * mantissa bits; a carry into the exponent is the correct
		 * next binade, and past 65504 it reaches 0x7c00 = inf. */
		uint32_t h = ((e - 112) << 10) | ((a >> 13) & 0x3ff);
		uint32_t rem = a & 0x1fff;

		if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
			h++;
		return (ggml_half)(sign | h);
	}
	if (a <= 0x33000000u) /* ≤ 2^-25: rounds (ties even) to zero */
		return sign;
	/* subnormal half: value / 2^-24 = (1.man) · 2^(e-126), shift ≥ 14 */
	return (ggml_half)(sign |
			   shift_rne((a & 0x7fffffu) | 0x800000u, 126 - e));
}

float engine_bf16_to_fp32(uint16_t h)
{
	return f32_from_bits((uint32_t)h << 16);
}

uint16_t engine_fp32_to_bf16(float f)
{
	uint32_t u = f32_bits(f);

	if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: truncate, force quiet */
		return (uint16_t)((u >> 16) | 0x40);
	/* round to nearest even; overflow carries into inf as it should */
	return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

/* ---------------------------------------------------------------------------
 * Rounding helpers shared by the quantizers.
 */

/* Nearest integer, ties to even (ggml's nearest_int), clamped to [lo, hi]
 * in float first so NaN or huge inputs never reach an int conversion. */
static int round_clamp(float v, int lo, int hi)
{
	if (!(v >= (float)lo)) /* also catches NaN */
		return lo;
	if (v > (float)hi)
		return hi;
	return (int)rintf(v);
}

/* ---------------------------------------------------------------------------
 * F32, F16, BF16 rows.
 */
static void dequant_f32(const void *src, float *dst, int64_t n)
{
	memcpy(dst, src, (size_t)n * sizeof(*dst));
}

static void quant_f32(const float *src, void *dst, int64_t n)
{
	memcpy(dst, src, (size_t)n * sizeof(*src));
}

static void dequant_f16(const void *src, float *dst, int64_t n)
{
	const ggml_half *h = src; /* (n) binary16 */

	for (int64_t i = 0; i < n; i++)
		dst[i] = engine_fp16_to_fp32(h[i]);
}

static void quant_f16(const float *src, void *dst, int64_t n)
{
	ggml_half *h = dst;

	for (int64_t i = 0; i < n; i++)
		h[i] = engine_fp32_to_fp16(src[i]);
}

static void dequant_bf16(const void *src, float *dst, int64_t n)
{
	const uint16_t *h = src; /* (n) bfloat16 */

	for (int64_t i = 0; i < n; i++)
		dst[i] = engine_bf16_to_fp32(h[i]);
}

static void quant_bf16(const float *src, void *dst, int64_t n)
{
	uint16_t *h = dst;

	for (int64_t i = 0; i < n; i++)
		h[i] = engine_fp32_to_bf16(src[i]);
}

/* ---------------------------------------------------------------------------
 * Q8_0: 32 int8 q with one fp16 scale; x = d·q, d = amax/127.
 */
static void dequant_q8_0(const void *src, float *dst, int64_t n)
{
	const block_q8_0 *b = src;

	for (int64_t i = 0; i < n / QK8_0; i++, b++) {
		float d = engine_fp16_to_fp32(b->d);

		for (int j = 0; j < QK8_0; j++)
			dst[i * QK8_0 + j] = d * b->qs[j];
	}
}

static void quant_q8_0(const float *src, void *dst, int64_t n)
{
	block_q8_0 *b = dst;

	for (int64_t i = 0; i < n / QK8_0; i++, b++) {
		const float *x = src + i * QK8_0;
		float amax = 0.0f;

		for (int j = 0; j < QK8_0; j++)
			amax = fmaxf(amax, fabsf(x[j]));
		float d = amax / 127.0f;
		float id = d != 0.0f ? 1.0f / d : 0.0f;

		b->d = engine_fp32_to_fp16(d);
		/* ggml rounds half away from zero here (roundf) */
		for (int j = 0; j < QK8_0; j++)
			b->qs[j] = (int8_t)round_clamp(roundf(x[j] * id), -127,
						       127);
	}
}

/* ---------------------------------------------------------------------------
 * Q4_0: 32 4-bit q with one fp16 scale; x = d·(q − 8). Byte j holds
 * element j in its low nibble and element j+16 in its high nibble.
 */
static void dequant_q4_0(const void *src, float *dst, int64_t n)
{
	const block_q4_0 *b = src;

	for (int64_t i = 0; i < n / QK4_0; i++, b++) {
		float d = engine_fp16_to_fp32(b->d);
		float *y = dst + i * QK4_0;

		for (int j = 0; j < QK4_0 / 2; j++) {
			y[j] = d * ((b->qs[j] & 0x0f) - 8);
			y[j + QK4_0 / 2] = d * ((b->qs[j] >> 4) - 8);
		}
	}
}

static void quant_q4_0(const float *src, void *dst, int64_t n)
{
	block_q4_0 *b = dst;

	for (int64_t i = 0; i < n / QK4_0; i++, b++) {
		const float *x = src + i * QK4_0;
		float amax = 0.0f, max = 0.0f;

		/* the signed element of largest magnitude maps to q = 0, so
		 * its side of zero gets the full 8 steps */
		for (int j = 0; j < QK4_0; j++) {
			if (fabsf(x[j]) > amax) {
				amax = fabsf(x[j]);
				max = x[j];
			}
		}
		float d = max / -8.0f;
		float id = d != 0.0f ? 1.0f / d : 0.0f;

		b->d = engine_fp32_to_fp16(d);
		/* ggml: q = min(15, trunc(x/d + 8.5)); the argument is ≥ 0 so
		 * truncation is floor, i.e. round half up of x/d, plus 8 */
		for (int j = 0; j < QK4_0 / 2; j++) {
			int lo = round_clamp(floorf(x[j] * id + 8.5f), 0, 15);
			int hi = round_clamp(floorf(x[j + 16] * id + 8.5f),
					     0, 15);

			b->qs[j] = (uint8_t)(lo | (hi << 4));
		}
	}
}

/* ---------------------------------------------------------------------------
 * Q4_K and Q5_K: 256-element super-blocks of 8 sub-blocks of 32; each
 * sub-block has a 6-bit scale sc and min m (packed, engine_k4_scale_min),
 * x = d·sc·q − dmin·m. Q4_K: q in 0..15 from qs, where each 32-byte run of
 * qs covers 64 elements (low nibbles the first 32, high nibbles the next
 * 32). Q5_K adds bit 4 of q from qh: element 64c+l (l < 32) takes bit 2c of
 * qh[l], element 64c+32+l bit 2c+1.
 */
static void dequant_k4_block(const uint8_t *scales, float d, float dmin,
			     const uint8_t *qs, const uint8_t *qh, float *y)
{
	for (int c = 0; c < 4; c++) { /* 64-element chunks */
		uint8_t sc0, m0, sc1, m1;

		engine_k4_scale_min(scales, 2 * c, &sc0, &m0);
		engine_k4_scale_min(scales, 2 * c + 1, &sc1, &m1);
		for (int l = 0; l < 32; l++) {
			int q0 = qs[32 * c + l] & 0x0f;
			int q1 = qs[32 * c + l] >> 4;

			if (qh) {
				q0 |= ((qh[l] >> (2 * c)) & 1) << 4;
				q1 |= ((qh[l] >> (2 * c + 1)) & 1) << 4;
			}
			y[64 * c + l] = d * sc0 * q0 - dmin * m0;
			y[64 * c + 32 + l] = d * sc1 * q1 - dmin * m1;
		}
	}
}

static void dequant_q4_k(const void *src, float *dst, int64_t n)
{
	const block_q4_K *b = src;

	for (int64_t i = 0; i < n / QK_K; i++, b++)
		dequant_k4_block(b->scales, engine_fp16_to_fp32(b->d),
				 engine_fp16_to_fp32(b->dmin), b->qs, NULL,
				 dst + i * QK_K);
}

static void dequant_q5_k(const void *src, float *dst, int64_t n)
{
	const block_q5_K *b = src;

	for (int64_t i = 0; i < n / QK_K; i++, b++)
		dequant_k4_block(b->scales, engine_fp16_to_fp32(b->d),
				 engine_fp16_to_fp32(b->dmin), b->qs, b->qh,
				 dst + i * QK_K);
}

/* Levels L = clamp(round(iscale·(x − lo)), 0, nmax) of n elements. */
static void affine_levels(const float *x, int n, float iscale, float lo,
			  int nmax, uint8_t *L)
{
	for (int i = 0; i < n; i++)
		L[i] = (uint8_t)round_clamp(iscale * (x[i] - lo), 0, nmax);
}

/* Σ w·(scale·L + min − x)² */
static float affine_error(const float *x, const float *w, const uint8_t *L,
			  int n, float scale, float min)
{
	float err = 0.0f;

	for (int i = 0; i < n; i++) {
		float diff = scale * L[i] + min - x[i];

		err += w[i] * diff * diff;
	}
	return err;
}

/*
 * Fit x ≈ scale·L + min (min ≤ 0, L in 0..nmax) to one sub-block by
 * weighted least squares (ggml's make_qkx2_quants): start from the min/max
 * grid, then try nstep+1 grid widths (nmax + rmin + 0.1·is), solve the 2×2
 * normal equations for each and keep the lowest weighted error. Returns
 * the scale; *neg_min = −min ≥ 0; L holds the chosen levels.
 */
static float fit_scale_min(const float *x, const float *w, int n, int nmax,
			   float rmin, int nstep, uint8_t *L, float *neg_min)
{
	float lo = x[0], hi = x[0], sum_w = 0.0f, sum_x = 0.0f;
	uint8_t Laux[32];

	for (int i = 0; i < n; i++) {
		lo = fminf(lo, x[i]);
		hi = fmaxf(hi, x[i]);
		sum_w += w[i];
		sum_x += w[i] * x[i];
	}
	lo = fminf(lo, 0.0f);
	if (hi == lo) {
		memset(L, 0, (size_t)n);
		*neg_min = -lo;
		return 0.0f;
	}
	float iscale = nmax / (hi - lo), scale = 1.0f / iscale, min = lo;

	affine_levels(x, n, iscale, lo, nmax, L);
	float best = affine_error(x, w, L, n, scale, min);

	for (int is = 0; is <= nstep; is++) {
		float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;

		affine_levels(x, n, (rmin + 0.1f * is + nmax) / (hi - lo), lo,
			      nmax, Laux);
		for (int i = 0; i < n; i++) {
			sum_l += w[i] * Laux[i];
			sum_l2 += w[i] * Laux[i] * Laux[i];
			sum_xl += w[i] * Laux[i] * x[i];
		}
		float det = sum_w * sum_l2 - sum_l * sum_l;

		if (!(det > 0.0f))
			continue;
		float s = (sum_w * sum_xl - sum_x * sum_l) / det;
		float m = (sum_l2 * sum_x - sum_l * sum_xl) / det;

		if (m > 0.0f) { /* the model needs min ≤ 0: refit scale only */
			m = 0.0f;
			s = sum_xl / sum_l2;
		}
		float err = affine_error(x, w, Laux, n, s, m);

		if (err < best) {
			memcpy(L, Laux, (size_t)n);
			best = err;
			scale = s;
			min = m;
		}
	}
	*neg_min = -min;
	return scale;
}

/* Store 6-bit scale sc and min m of sub-block j (inverse of
 * engine_k4_scale_min); s must start zeroed. */
static void k4_pack_scale_min(uint8_t *s, int j, int sc, int m)
{
	if (j < 4) {
		s[j] |= (uint8_t)sc;
		s[j + 4] |= (uint8_t)m;
	} else {
		s[j + 4] = (uint8_t)((sc & 15) | ((m & 15) << 4));
		s[j - 4] |= (uint8_t)((sc >> 4) << 6);
		s[j] |= (uint8_t)((m >> 4) << 6);
	}
}

/*
 * Quantize one Q4_K/Q5_K super-block up to its levels: fit every
 * sub-block (weights av + |x| as ggml does, av = RMS of the sub-block),
 * quantize the 8 scales and 8 mins to 6 bits against the largest of each,
 * then recompute the levels L (0..nmax) against the rounded scales so the
 * stored q match what dequantization will multiply.
 */
static void k4_quant_block(const float *x, int nmax, float rmin, int nstep,
			   ggml_half *d, ggml_half *dmin, uint8_t *scales,
			   uint8_t *L)
{
	float sc[QK_K / 32], mn[QK_K / 32], w[32];
	float max_sc = 0.0f, max_mn = 0.0f;

	for (int j = 0; j < QK_K / 32; j++) {
		const float *xs = x + 32 * j;
		float sum_x2 = 0.0f;

		for (int l = 0; l < 32; l++)
			sum_x2 += xs[l] * xs[l];
		float av = sqrtf(sum_x2 / 32);

		for (int l = 0; l < 32; l++)
			w[l] = av + fabsf(xs[l]);
		sc[j] = fit_scale_min(xs, w, 32, nmax, rmin, nstep, L + 32 * j,
				      &mn[j]);
		/* strict compares: a −0 min (all-zero sub-block) must not
		 * become the maximum and store dmin as fp16 −0 */
		if (sc[j] > max_sc)
			max_sc = sc[j];
		if (mn[j] > max_mn)
			max_mn = mn[j];
	}
	float inv_sc = max_sc > 0.0f ? 63.0f / max_sc : 0.0f;
	float inv_mn = max_mn > 0.0f ? 63.0f / max_mn : 0.0f;

	memset(scales, 0, K_SCALE_SIZE);
	for (int j = 0; j < QK_K / 32; j++)
		k4_pack_scale_min(scales, j, round_clamp(inv_sc * sc[j], 0, 63),
				  round_clamp(inv_mn * mn[j], 0, 63));
	*d = engine_fp32_to_fp16(max_sc / 63.0f);
	*dmin = engine_fp32_to_fp16(max_mn / 63.0f);

	for (int j = 0; j < QK_K / 32; j++) {
		uint8_t s, m;

		engine_k4_scale_min(scales, j, &s, &m);
		float ds = engine_fp16_to_fp32(*d) * s;
		float dm = engine_fp16_to_fp32(*dmin) * m;

		if (ds == 0.0f) /* every level decodes to −dm: keep the fit's */
			continue;
		for (int l = 0; l < 32; l++)
			L[32 * j + l] = (uint8_t)round_clamp(
				(x[32 * j + l] + dm) / ds, 0, nmax);
	}
}

static void quant_q4_k(const float *src, void *dst, int64_t n)
{
	block_q4_K *b = dst;
	uint8_t L[QK_K];

	for (int64_t i = 0; i < n / QK_K; i++, b++) {
		k4_quant_block(src + i * QK_K, 15, -1.0f, 20, &b->d, &b->dmin,
			       b->scales, L);
		for (int c = 0; c < 4; c++)
			for (int l = 0; l < 32; l++)
				b->qs[32 * c + l] = (uint8_t)(
					L[64 * c + l] | (L[64 * c + 32 + l] << 4));
	}
}

static void quant_q5_k(const float *src, void *dst, int64_t n)
{
	block_q5_K *b = dst;
	uint8_t L[QK_K];

	for (int64_t i = 0; i < n / QK_K; i++, b++) {
		k4_quant_block(src + i * QK_K, 31, -0.5f, 15, &b->d, &b->dmin,
			       b->scales, L);
		memset(b->qh, 0, sizeof(b->qh));
		for (int c = 0; c < 4; c++) {
			for (int l = 0; l < 32; l++) {
				int q0 = L[64 * c + l], q1 = L[64 * c + 32 + l];

				b->qs[32 * c + l] =
					(uint8_t)((q0 & 15) | ((q1 & 15) << 4));
				b->qh[l] |= (uint8_t)(((q0 >> 4) << (2 * c)) |
						      ((q1 >> 4) << (2 * c + 1)));
			}
		}
	}
}

/* ---------------------------------------------------------------------------
 * Q6_K: 16 sub-blocks of 16 with int8 scales; x = d·sc·(q − 32), q 6 bits.
 * Per 128-element half h: ql[64h + l] holds elements l (low nibble) and
 * l+64 (high nibble) for l < 32, ql[64h + 32 + l] elements l+32 and l+96;
 * qh[32h + l] holds the top 2 bits of elements l, l+32, l+64, l+96 at bit
 * offsets 0, 2, 4, 6. Sub-block of element e is e/16.
 */
static void dequant_q6_k(const void *src, float *dst, int64_t n)
{
	const block_q6_K *b = src;

	for (int64_t i = 0; i < n / QK_K; i++, b++) {
		float d = engine_fp16_to_fp32(b->d);

		for (int h = 0; h < 2; h++) {
			const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
			float *y = dst + i * QK_K + 128 * h;

			for (int l = 0; l < 32; l++) {
				int q[4] = {
					(ql[l] & 15) | ((qh[l] & 3) << 4),
					(ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4),
					(ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4),
					(ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4),
				};

				for (int k = 0; k < 4; k++) {
					int e = 128 * h + 32 * k + l;

					y[32 * k + l] = d * b->scales[e / 16] *
							(q[k] - 32);
				}
			}
		}
	}
}

/* Σ w·x·l and Σ w·l² for l = clamp(round(iscale·x), −nmax, nmax−1), with
 * w = x² (ggml's rmse_type 1); levels stored as l + nmax if L non-NULL. */
static void sym_fit_sums(const float *x, int n, int nmax, float iscale,
			 float *sumlx, float *suml2, uint8_t *L)
{
	*sumlx = *suml2 = 0.0f;
	for (int i = 0; i < n; i++) {
		int l = round_clamp(iscale * x[i], -nmax, nmax - 1);
		float w = x[i] * x[i];

		*sumlx += w * x[i] * l;
		*suml2 += w * l * l;
		if (L)
			L[i] = (uint8_t)(l + nmax);
	}
}

/*
 * Symmetric fit x ≈ scale·(L − nmax) of one sub-block (ggml's
 * make_qx_quants, rmse_type 1): the signed max-abs element maps to −nmax;
 * 18 nearby grid widths are tried and the one with the best x²-weighted
 * least-squares fit kept. Returns the (signed) scale.
 */
static float fit_scale_sym(const float *x, int n, int nmax, uint8_t *L)
{
	float amax = 0.0f, max = 0.0f, sumlx, suml2;

	for (int i = 0; i < n; i++) {
		if (fabsf(x[i]) > amax) {
			amax = fabsf(x[i]);
			max = x[i];
		}
	}
	if (amax < 1e-15f) { /* ggml's GROUP_MAX_EPS */
		memset(L, (uint8_t)nmax, (size_t)n);
		return 0.0f;
	}
	sym_fit_sums(x, n, nmax, -nmax / max, &sumlx, &suml2, L);
	float scale = suml2 > 0.0f ? sumlx / suml2 : 0.0f;
	float best = scale * sumlx;

	for (int is = -9; is <= 9; is++) {
		float iscale = -(nmax + 0.1f * is) / max;

		if (is == 0)
			continue;
		sym_fit_sums(x, n, nmax, iscale, &sumlx, &suml2, NULL);
		if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
			sym_fit_sums(x, n, nmax, iscale, &sumlx, &suml2, L);
			scale = sumlx / suml2;
			best = scale * sumlx;
		}
	}
	return scale;
}

static void q6_k_pack(const uint8_t *L, block_q6_K *b)
{
	for (int h = 0; h < 2; h++) {
		const uint8_t *q = L + 128 * h; /* 128 levels, 0..63 */
		uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;

		for (int l = 0; l < 32; l++) {
			ql[l] = (uint8_t)((q[l] & 15) | ((q[l + 64] & 15) << 4));
			ql[l + 32] = (uint8_t)((q[l + 32] & 15) |
					       ((q[l + 96] & 15) << 4));
			qh[l] = (uint8_t)((q[l] >> 4) | ((q[l + 32] >> 4) << 2) |
					  ((q[l + 64] >> 4) << 4) |
					  ((q[l + 96] >> 4) << 6));
		}
	}
}

static void q6_k_quant_block(const float *x, block_q6_K *b)
{
	float sc[QK_K / 16], max_sc = 0.0f, amax_sc = 0.0f;
	uint8_t L[QK_K];

	for (int ib = 0; ib < QK_K / 16; ib++) {
		sc[ib] = fit_scale_sym(x + 16 * ib, 16, 32, L + 16 * ib);
		if (fabsf(sc[ib]) > amax_sc) {
			amax_sc = fabsf(sc[ib]);
			max_sc = sc[ib];
		}
	}
	if (amax_sc < 1e-15f) {
		memset(b, 0, sizeof(*b));
		return;
	}
	/* the largest scale becomes −128 (the int8 range is asymmetric) */
	float iscale = -128.0f / max_sc;

	b->d = engine_fp32_to_fp16(1.0f / iscale);
	for (int ib = 0; ib < QK_K / 16; ib++)
		b->scales[ib] = (int8_t)round_clamp(iscale * sc[ib], -128, 127);
	for (int ib = 0; ib < QK_K / 16; ib++) {
		float ds = engine_fp16_to_fp32(b->d) * b->scales[ib];

		if (ds == 0.0f)
			continue;
		for (int l = 0; l < 16; l++)
			L[16 * ib + l] = (uint8_t)(32 + round_clamp(
				x[16 * ib + l] / ds, -32, 31));
	}
	q6_k_pack(L, b);
}

static void quant_q6_k(const float *src, void *dst, int64_t n)
{
	block_q6_K *b = dst;

	for (int64_t i = 0; i < n / QK_K; i++)
		q6_k_quant_block(src + i * QK_K, b + i);
}

/* ---------------------------------------------------------------------------
 * Q8_K (activations): float d, 256 int8 q, bsums = Σq per 16. Like ggml's
 * reference, d = −max/127 for the signed max-abs element, so that element
 * becomes −127 and q stays within ±127.
 */
static void dequant_q8_k(const void *src, float *dst, int64_t n)
{
	const block_q8_K *b = src;

	for (int64_t i = 0; i < n / QK_K; i++, b++)
		for (int j = 0; j < QK_K; j++)
			dst[i * QK_K + j] = b->d * b->qs[j];
}

static void quant_q8_k(const float *src, void *dst, int64_t n)
{
	block_q8_K *b = dst;

	for (int64_t i = 0; i < n / QK_K; i++, b++) {
		const float *x = src + i * QK_K;
		float amax = 0.0f, max = 0.0f;

		for (int j = 0; j < QK_K; j++) {
			if (fabsf(x[j]) > amax) {
				amax = fabsf(x[j]);
				max = x[j];
			}
		}
		memset(b, 0, sizeof(*b));
		if (amax == 0.0f)
			continue;
		float iscale = -127.0f / max;

		b->d = 1.0f / iscale;
		for (int j = 0; j < QK_K; j++) {
			b->qs[j] = (int8_t)round_clamp(iscale * x[j], -127, 127);
			b->bsums[j / 16] = (int16_t)(b->bsums[j / 16] + b->qs[j]);
		}
	}
}

/* ---------------------------------------------------------------------------
 * Dispatch by type id.
 */
typedef struct type_ops {
	/* n elements (multiple of blck) from src blocks to dst floats */
	void (*dequant)(const void *src, float *dst, int64_t n);
	void (*quant)(const float *src, void *dst, int64_t n);
} type_ops;

static const type_ops ops_table[GGML_T_COUNT] = {
	[GGML_T_F32] = { dequant_f32, quant_f32 },
	[GGML_T_F16] = { dequant_f16, quant_f16 },
	[GGML_T_BF16] = { dequant_bf16, quant_bf16 },
	[GGML_T_Q8_0] = { dequant_q8_0, quant_q8_0 },
	[GGML_T_Q4_0] = { dequant_q4_0, quant_q4_0 },
	[GGML_T_Q4_K] = { dequant_q4_k, quant_q4_k },
	[GGML_T_Q5_K] = { dequant_q5_k, quant_q5_k },
	[GGML_T_Q6_K] = { dequant_q6_k, quant_q6_k },
	[GGML_T_Q8_K] = { dequant_q8_k, quant_q8_k },
};

/* The ops of a type we implement, for a valid length; NULL otherwise. */
static const type_ops *ops_for(uint32_t type, int64_t n)
{
	const engine_type_traits *t = engine_type_get(type);

	if (!t || !t->supported || n < 0 || n % t->blck)
		return NULL;
	return &ops_table[type];
}

/* Misuse (unsupported type, n not a multiple of the block) yields NaN so
 * it cannot pass for data. */
void engine_dequant_row(uint32_t type, const void *src, float *dst, int64_t n)
{
	const type_ops *ops = ops_for(type, n);

	if (!ops) {
		for (int64_t i = 0; i < n; i++)
			dst[i] = NAN;
		return;
	}
	ops->dequant(src, dst, n);
}

/* Misuse writes nothing (dst's size is unknown then). */
void engine_quant_row(uint32_t type, const float *src, void *dst, int64_t n)
{
	const type_ops *ops = ops_for(type, n);

	if (ops)
		ops->quant(src, dst, n);
}

/*
 * Dequantize a block (or 256 elements of a 1-element-block type) at a time
 * into a stack buffer and accumulate products in double, so the result is
 * the exact dot of the dequantized weights up to one final rounding.
 */
float engine_vec_dot_f32(uint32_t type, const void *w, const float *x,
			 int64_t n)
{
	const type_ops *ops = ops_for(type, n);
	const uint8_t *p = w;
	float buf[QK_K]; /* (chunk) dequantized weights */
	double sum = 0.0;

	if (!ops)
		return NAN;
	const engine_type_traits *t = engine_type_get(type);
	int64_t chunk = t->blck == 1 ? QK_K : t->blck;

	for (int64_t i = 0; i < n; i += chunk) {
		int64_t m = n - i < chunk ? n - i : chunk;

		ops->dequant(p, buf, m);
		p += engine_row_size(type, m);
		for (int64_t j = 0; j < m; j++)
			sum += (double)buf[j] * x[i + j];
	}
	return (float)sum;
}
