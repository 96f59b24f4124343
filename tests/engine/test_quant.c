/*
 * test_quant.c — tensor types (engine/quant.c), the thread pool and the
 * scalar matmul.
 *
 * Expected values come from three places, named at each test: the IEEE
 * binary16/bfloat16 encodings (bit patterns worked out by hand below), the
 * ggml block layouts (blocks assembled byte by byte here, independently of
 * the engine's packing code), and plain double-precision arithmetic on the
 * dequantized values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "kernels_int.h"

/* ---------------------------------------------------------------------------
 * Deterministic test data (splitmix64 + Box–Muller); state on the stack.
 */
typedef struct rng {
	uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_uniform(rng *r) /* (0, 1) */
{
	return ((double)(rng_next(r) >> 11) + 0.5) * 0x1p-53;
}

static float rng_gauss(rng *r)
{
	double u = rng_uniform(r), v = rng_uniform(r);

	return (float)(sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v));
}

static void fill_gauss(rng *r, float *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		x[i] = rng_gauss(r);
}

static float *quant_dequant(uint32_t type, const float *x, int64_t n)
{
	void *q = malloc(engine_row_size(type, n));
	float *y = malloc((size_t)n * sizeof(*y));

	assert_non_null(q);
	assert_non_null(y);
	engine_quant_row(type, x, q, n);
	engine_dequant_row(type, q, y, n);
	free(q);
	return y;
}

/* ---------------------------------------------------------------------------
 * Traits and row sizes: the ggml block structs (ggml-common.h).
 */
static void test_type_traits(void **state)
{
	static const struct {
		uint32_t id;
		const char *name;
		uint32_t blck, size;
		bool supported;
	} want[] = {
		{ GGML_T_F32, "F32", 1, 4, true },
		{ GGML_T_F16, "F16", 1, 2, true },
		{ GGML_T_BF16, "BF16", 1, 2, true },
		{ GGML_T_Q4_0, "Q4_0", 32, 2 + 16, true },
		{ GGML_T_Q8_0, "Q8_0", 32, 2 + 32, true },
		{ GGML_T_Q4_K, "Q4_K", 256, 2 + 2 + 12 + 128, true },
		{ GGML_T_Q5_K, "Q5_K", 256, 2 + 2 + 12 + 32 + 128, true },
		{ GGML_T_Q6_K, "Q6_K", 256, 128 + 64 + 16 + 2, true },
		{ GGML_T_Q8_K, "Q8_K", 256, 4 + 256 + 32, true },
		{ GGML_T_Q4_1, "Q4_1", 32, 20, false },
		{ GGML_T_Q2_K, "Q2_K", 256, 84, false },
		{ GGML_T_Q3_K, "Q3_K", 256, 110, false },
		{ 23, "IQ4_XS", 256, 136, false },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const engine_type_traits *t = engine_type_get(want[i].id);

		assert_non_null(t);
		assert_string_equal(t->name, want[i].name);
		assert_int_equal(t->blck, want[i].blck);
		assert_int_equal(t->type_size, want[i].size);
		assert_int_equal(t->supported, want[i].supported);
	}
	/* removed from the format (Q4_2, Q4_3, repacked Q4_0) or unknown */
	assert_null(engine_type_get(4));
	assert_null(engine_type_get(5));
	assert_null(engine_type_get(31));
	assert_null(engine_type_get(GGML_T_COUNT));
	assert_null(engine_type_get(UINT32_MAX));
}

static void test_row_size(void **state)
{
	(void)state;
	assert_int_equal(engine_row_size(GGML_T_F32, 7), 28);
	assert_int_equal(engine_row_size(GGML_T_F16, 3), 6);
	assert_int_equal(engine_row_size(GGML_T_Q4_0, 64), 36);
	assert_int_equal(engine_row_size(GGML_T_Q8_0, 4096), 128 * 34);
	assert_int_equal(engine_row_size(GGML_T_Q4_K, 4096), 16 * 144);
	assert_int_equal(engine_row_size(GGML_T_Q5_K, 512), 2 * 176);
	assert_int_equal(engine_row_size(GGML_T_Q6_K, 256), 210);
	/* not a whole number of blocks, negative, unknown type: 0 */
	assert_int_equal(engine_row_size(GGML_T_Q4_0, 33), 0);
	assert_int_equal(engine_row_size(GGML_T_Q4_K, 128), 0);
	assert_int_equal(engine_row_size(GGML_T_F32, -1), 0);
	assert_int_equal(engine_row_size(4, 32), 0);
}

/* ---------------------------------------------------------------------------
 * fp16: binary16 = 1 sign, 5 exponent (bias 15), 10 mantissa bits.
 */
static void test_fp16_known_values(void **state)
{
	static const struct {
		float f;
		uint16_t h;
	} exact[] = {
		{ 0.0f, 0x0000 },
		{ 1.0f, 0x3c00 },          /* exp 15, man 0 */
		{ -2.0f, 0xc000 },         /* sign, exp 16 */
		{ 0.5f, 0x3800 },
		{ 65504.0f, 0x7bff },      /* largest finite: (2 − 2^-10)·2^15 */
		{ 0x1p-14f, 0x0400 },      /* smallest normal */
		{ 0x1p-24f, 0x0001 },      /* smallest subnormal */
		{ 1023 * 0x1p-24f, 0x03ff }, /* largest subnormal */
		{ 0.333251953125f, 0x3555 }, /* 1.0101010101b · 2^-2 */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
		assert_int_equal(engine_fp32_to_fp16(exact[i].f), exact[i].h);
		assert_true(engine_fp16_to_fp32(exact[i].h) == exact[i].f);
	}
	/* −0 keeps its sign both ways */
	assert_int_equal(engine_fp32_to_fp16(-0.0f), 0x8000);
	assert_true(signbit(engine_fp16_to_fp32(0x8000)));
	/* 0.1 = 1.100110011001100…b · 2^-4; 10 bits 1001100110, the rest
	 * 011… < half → round down: exp 11 → 0x2e66 */
	assert_int_equal(engine_fp32_to_fp16(0.1f), 0x2e66);
}

static void test_fp16_rounding(void **state)
{
	(void)state;
	/* 1 + 2^-11 is exactly halfway between 0x3c00 and 0x3c01: ties to
	 * even → 0x3c00; 1 + 3·2^-11 halfway between 0x3c01 and 0x3c02 →
	 * 0x3c02; a hair above half rounds up */
	assert_int_equal(engine_fp32_to_fp16(1.0f + 0x1p-11f), 0x3c00);
	assert_int_equal(engine_fp32_to_fp16(1.0f + 3 * 0x1p-11f), 0x3c02);
	assert_int_equal(engine_fp32_to_fp16(1.0f + 0x1p-11f + 0x1p-23f),
			 0x3c01);
	/* 65519 rounds down to 65504; 65520 is halfway to 65536 (which is
	 * not representable) and the tie goes to the even mantissa 0 of the
	 * next binade = inf; beyond, inf */
	assert_int_equal(engine_fp32_to_fp16(65519.0f), 0x7bff);
	assert_int_equal(engine_fp32_to_fp16(65520.0f), 0x7c00);
	assert_int_equal(engine_fp32_to_fp16(1e6f), 0x7c00);
	assert_int_equal(engine_fp32_to_fp16(-FLT_MAX), 0xfc00);
	/* subnormals: 2^-25 is halfway between 0 and 2^-24 → 0 (even);
	 * slightly more → 0x0001; 3·2^-25 between 1 and 2 ulps → 2 (even);
	 * 2^-14 − 2^-25 is halfway between 0x03ff and 0x0400 → 0x0400 */
	assert_int_equal(engine_fp32_to_fp16(0x1p-25f), 0x0000);
	assert_int_equal(engine_fp32_to_fp16(-0x1p-25f), 0x8000);
	assert_int_equal(engine_fp32_to_fp16(0x1.000002p-25f), 0x0001);
	assert_int_equal(engine_fp32_to_fp16(3 * 0x1p-25f), 0x0002);
	assert_int_equal(engine_fp32_to_fp16(0x1p-14f - 0x1p-25f), 0x0400);
	assert_int_equal(engine_fp32_to_fp16(FLT_MIN), 0x0000);
}

static void test_fp16_inf_nan(void **state)
{
	(void)state;
	assert_int_equal(engine_fp32_to_fp16(INFINITY), 0x7c00);
	assert_int_equal(engine_fp32_to_fp16(-INFINITY), 0xfc00);
	assert_true(isinf(engine_fp16_to_fp32(0x7c00)));
	assert_true(engine_fp16_to_fp32(0xfc00) < 0);
	/* NaN stays NaN (exponent all ones, mantissa non-zero) */
	uint16_t h = engine_fp32_to_fp16(NAN);

	assert_int_equal(h & 0x7c00, 0x7c00);
	assert_int_not_equal(h & 0x03ff, 0);
	assert_true(isnan(engine_fp16_to_fp32(0x7e00)));
	assert_true(isnan(engine_fp16_to_fp32(0x7c01)));
	/* a signalling float NaN whose payload sits below bit 13 must not
	 * collapse to inf: 0x7f800001 */
	float snan;
	uint32_t bits = 0x7f800001u;

	memcpy(&snan, &bits, sizeof(snan));
	assert_true(isnan(engine_fp16_to_fp32(engine_fp32_to_fp16(snan))));
}

/* Every non-NaN half survives half → float → half unchanged. */
static void test_fp16_roundtrip_all(void **state)
{
	(void)state;
	for (uint32_t h = 0; h < 0x10000; h++) {
		float f = engine_fp16_to_fp32((uint16_t)h);

		if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff))
			assert_true(isnan(f));
		else
			assert_int_equal(engine_fp32_to_fp16(f), h);
	}
}

/* Random floats in the half range convert to the nearest half: no
 * neighbour of the result is closer (ties must be even). */
static void test_fp16_nearest(void **state)
{
	rng r = { 7 };

	(void)state;
	for (int i = 0; i < 200000; i++) {
		float f = (float)((rng_uniform(&r) - 0.5) *
				  ldexp(1.0, (int)(rng_next(&r) % 40) - 24));
		uint16_t h = engine_fp32_to_fp16(f);
		double err = fabs((double)engine_fp16_to_fp32(h) - f);

		for (int k = -1; k <= 1; k += 2) {
			uint16_t nb = (uint16_t)(h + k);

			if ((nb & 0x7fff) >= 0x7c00 || (nb & 0x8000) != (h & 0x8000))
				continue;
			double e2 = fabs((double)engine_fp16_to_fp32(nb) - f);

			assert_true(err < e2 || (err == e2 && !(h & 1)));
		}
	}
}

/* ---------------------------------------------------------------------------
 * bf16: the top 16 bits of a float, rounded to nearest even.
 */
static float from_bits(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

static void test_bf16(void **state)
{
	(void)state;
	assert_int_equal(engine_fp32_to_bf16(1.0f), 0x3f80);
	assert_int_equal(engine_fp32_to_bf16(-2.0f), 0xc000);
	/* 0x3f808000 is halfway between 0x3f80 and 0x3f81 → even 0x3f80;
	 * 0x3f818000 halfway between 0x3f81 and 0x3f82 → 0x3f82 */
	assert_int_equal(engine_fp32_to_bf16(from_bits(0x3f808000u)), 0x3f80);
	assert_int_equal(engine_fp32_to_bf16(from_bits(0x3f818000u)), 0x3f82);
	assert_int_equal(engine_fp32_to_bf16(from_bits(0x3f808001u)), 0x3f81);
	/* FLT_MAX (0x7f7fffff) is above the midpoint to 2^128 → inf */
	assert_int_equal(engine_fp32_to_bf16(FLT_MAX), 0x7f80);
	assert_int_equal(engine_fp32_to_bf16(-INFINITY), 0xff80);
	/* subnormal ties: 0x00008000 → 0; 0x00018000 → 2 */
	assert_int_equal(engine_fp32_to_bf16(from_bits(0x00008000u)), 0x0000);
	assert_int_equal(engine_fp32_to_bf16(from_bits(0x00018000u)), 0x0002);
	/* NaNs stay NaN, quiet, even when rounding would reach inf */
	assert_int_equal(engine_fp32_to_bf16(from_bits(0x7f800001u)), 0x7fc0);
	assert_int_equal(engine_fp32_to_bf16(from_bits(0xffffffffu)), 0xffff);
	/* 0x4049 = 1.1001001b · 2^1 = 3.140625 */
	assert_true(engine_bf16_to_fp32(0x4049) == 3.140625f);
	assert_true(isnan(engine_bf16_to_fp32(0x7fc0)));
}

/* ---------------------------------------------------------------------------
 * Hand-built blocks.
 */

/* Q4_0, d = 0.5 (fp16 0x3800); byte j = j | (15 − j) << 4, so elements
 * 0..15 (low nibbles) are q = 0..15 → (q − 8)·0.5 = −4 … 3.5 and elements
 * 16..31 (high nibbles) q = 15..0 → 3.5 … −4. */
static void test_q4_0_hand_block(void **state)
{
	uint8_t raw[18] = { 0x00, 0x38 }; /* d, little-endian */
	float y[32], x[32];
	uint8_t back[18];

	(void)state;
	for (int j = 0; j < 16; j++)
		raw[2 + j] = (uint8_t)(j | ((15 - j) << 4));
	engine_dequant_row(GGML_T_Q4_0, raw, y, 32);
	for (int j = 0; j < 16; j++) {
		assert_true(y[j] == -4.0f + 0.5f * j);
		assert_true(y[16 + j] == 3.5f - 0.5f * j);
	}
	/* quantizing these values gives the block back: the largest
	 * magnitude is −4 → d = −4/−8 = 0.5, q = x/0.5 + 8 exactly */
	memcpy(x, y, sizeof(x));
	engine_quant_row(GGML_T_Q4_0, x, back, 32);
	assert_memory_equal(back, raw, sizeof(raw));
}

/* Q8_0, d = 0.25 (0x3400), q_j = j − 16 → x_j = (j − 16)/4. */
static void test_q8_0_hand_block(void **state)
{
	uint8_t raw[34] = { 0x00, 0x34 };
	float y[32];

	(void)state;
	for (int j = 0; j < 32; j++)
		raw[2 + j] = (uint8_t)(int8_t)(j - 16);
	engine_dequant_row(GGML_T_Q8_0, raw, y, 32);
	for (int j = 0; j < 32; j++)
		assert_true(y[j] == (j - 16) * 0.25f);
}

/*
 * Q4_K with d = 1 (0x3c00), dmin = 0.5 (0x3800) and sub-block scales/mins
 *   sc = { 1, 2, 3, 63, 17, 33, 48, 63 },  m = { 0, 1, 62, 5, 16, 31, 47, 60 }
 * packed by hand into the 12 bytes:
 *   bytes 0..3  = sc[0..3] | (sc[4..7] >> 4) << 6:
 *                 1|1<<6 = 0x41, 2|2<<6 = 0x82, 3|3<<6 = 0xc3, 63|3<<6 = 0xff
 *   bytes 4..7  = m[0..3]  | (m[4..7] >> 4) << 6:
 *                 0|1<<6 = 0x40, 1|1<<6 = 0x41, 62|2<<6 = 0xbe, 5|3<<6 = 0xc5
 *   bytes 8..11 = (sc[4..7] & 15) | (m[4..7] & 15) << 4:
 *                 1|0<<4 = 0x01, 1|15<<4 = 0xf1, 0|15<<4 = 0xf0, 15|12<<4 = 0xcf
 * qs byte 32c + l holds element 64c + l (low nibble, sub-block 2c) and
 * element 64c + 32 + l (high nibble, sub-block 2c + 1); we store
 * low = l & 15, high = (l + c) & 15. Value = d·sc·q − dmin·m.
 */
static const uint8_t k4_scales[12] = { 0x41, 0x82, 0xc3, 0xff, 0x40, 0x41,
				       0xbe, 0xc5, 0x01, 0xf1, 0xf0, 0xcf };
static const int k4_sc[8] = { 1, 2, 3, 63, 17, 33, 48, 63 };
static const int k4_m[8] = { 0, 1, 62, 5, 16, 31, 47, 60 };

static int k4_hand_q(int e) /* the 4-bit q stored for element e */
{
	int j = e / 32, l = e % 32, c = j / 2;

	return j % 2 == 0 ? (l & 15) : ((l + c) & 15);
}

static void test_q4_k_hand_block(void **state)
{
	block_q4_K b;
	float y[QK_K];

	(void)state;
	b.d = 0x3c00;
	b.dmin = 0x3800;
	memcpy(b.scales, k4_scales, sizeof(b.scales));
	for (int c = 0; c < 4; c++)
		for (int l = 0; l < 32; l++)
			b.qs[32 * c + l] = (uint8_t)((l & 15) |
						     (((l + c) & 15) << 4));
	engine_dequant_row(GGML_T_Q4_K, &b, y, QK_K);
	for (int e = 0; e < QK_K; e++) {
		int j = e / 32;

		assert_true(y[e] == 1.0f * k4_sc[j] * k4_hand_q(e) -
					    0.5f * k4_m[j]);
	}
	/* spot checks by hand: e=0: 1·0 − 0 = 0; e=64 (sub-block 2, q 0):
	 * −0.5·62 = −31; e=96 (sub-block 3, l 0, c 1 → q 1): 63 − 2.5 = 60.5;
	 * e=255 (sub-block 7, l 31, c 3 → q 34&15 = 2): 126 − 30 = 96 */
	assert_true(y[0] == 0.0f);
	assert_true(y[64] == -31.0f);
	assert_true(y[96] == 60.5f);
	assert_true(y[255] == 96.0f);
	/* and the engine's unpacker agrees with the hand packing */
	for (int j = 0; j < 8; j++) {
		uint8_t sc, m;

		engine_k4_scale_min(k4_scales, j, &sc, &m);
		assert_int_equal(sc, k4_sc[j]);
		assert_int_equal(m, k4_m[j]);
	}
}

/* Q5_K: the Q4_K block above with qs = 0 and qh[l] = 0xaa for even l, 0x55
 * for odd l. Bit 2c of qh[l] is bit 4 of element 64c + l, bit 2c + 1 that
 * of element 64c + 32 + l: so even l set the bit in odd sub-blocks, odd l
 * in even sub-blocks; q = 16 there, 0 elsewhere. */
static void test_q5_k_hand_block(void **state)
{
	block_q5_K b;
	float y[QK_K];

	(void)state;
	memset(&b, 0, sizeof(b));
	b.d = 0x3c00;
	b.dmin = 0x3800;
	memcpy(b.scales, k4_scales, sizeof(b.scales));
	for (int l = 0; l < 32; l++)
		b.qh[l] = l % 2 == 0 ? 0xaa : 0x55;
	engine_dequant_row(GGML_T_Q5_K, &b, y, QK_K);
	for (int e = 0; e < QK_K; e++) {
		int j = e / 32, l = e % 32;
		int q = (j % 2) != (l % 2) ? 16 : 0;

		assert_true(y[e] == 1.0f * k4_sc[j] * q - 0.5f * k4_m[j]);
	}
	/* e=32 (sub-block 1, l 0): 2·16 − 0.5·1 = 31.5; e=0: 0 */
	assert_true(y[32] == 31.5f);
	assert_true(y[0] == 0.0f);
}

/*
 * Q6_K, d = 0.5, scales[i] = i − 8, ql[b] = b·7 mod 256, qh[b] = b·13 mod
 * 256. Element e: half h = e/128, quarter k = (e%128)/32, l = e%32; its low
 * 4 bits are the low (k < 2) or high (k ≥ 2) nibble of ql[64h + 32(k&1) + l],
 * its top 2 bits are bits 2k..2k+1 of qh[32h + l]; x = d·scales[e/16]·(q − 32).
 */
static int q6_hand_q(const block_q6_K *b, int e)
{
	int h = e / 128, k = (e % 128) / 32, l = e % 32;
	uint8_t lowb = b->ql[64 * h + 32 * (k & 1) + l];
	int low = k < 2 ? (lowb & 15) : (lowb >> 4);
	int high = (b->qh[32 * h + l] >> (2 * k)) & 3;

	return low | (high << 4);
}

static void test_q6_k_hand_block(void **state)
{
	block_q6_K b;
	float y[QK_K];

	(void)state;
	for (int i = 0; i < 128; i++)
		b.ql[i] = (uint8_t)(i * 7);
	for (int i = 0; i < 64; i++)
		b.qh[i] = (uint8_t)(i * 13);
	for (int i = 0; i < 16; i++)
		b.scales[i] = (int8_t)(i - 8);
	b.d = 0x3800;
	engine_dequant_row(GGML_T_Q6_K, &b, y, QK_K);
	for (int e = 0; e < QK_K; e++)
		assert_true(y[e] == 0.5f * (e / 16 - 8) * (q6_hand_q(&b, e) - 32));
	/* e=0: ql[0]=0, qh[0]=0 → q 0 → 0.5·(−8)·(−32) = 128.
	 * e=200: h 1, k 2, l 8: ql[64+8] = 72·7 = 504 mod 256 = 248 = 0xf8,
	 * high nibble 15; qh[40] = 520 mod 256 = 8 = 0b00001000, bits 4..5 =
	 * 0 → q 15; scale 200/16 − 8 = 4 → 0.5·4·(15 − 32) = −34 */
	assert_true(y[0] == 128.0f);
	assert_true(y[200] == -34.0f);
}

/* ---------------------------------------------------------------------------
 * Round trips on Gaussian data (fixed seed), against bounds that follow
 * from each format:
 *   F16: |err| ≤ 2^-11·|x| (half ulp, 11-bit significand) in the normal range
 *   BF16: |err| ≤ 2^-8·|x|
 *   Q8_0: |err| ≤ d/2 + 127·|d − fp16(d)| ≤ (amax/127)·(0.5 + 127·2^-11)
 *   Q4_0: |err| ≤ |d| = amax/8 (the clamp at q = 15 loses one step at the
 *         far end), + fp16 rounding of d (8·2^-11 relative)
 *   K-quants: the relative RMS of uniform rounding noise, step/√12, with
 *         step ≈ range/nmax of a sub-block (≈ 4σ/15 for Q4_K → 0.077σ,
 *         4σ/31 for Q5_K → 0.037σ, 2σ/32 for Q6_K → 0.018σ); we allow
 *         ~25% above that (the fits do a little better in practice) plus a
 *         per-element bound of one full step.
 */
#define RT_N (QK_K * 16)

static void test_roundtrip_float_types(void **state)
{
	float x[RT_N];
	rng r = { 1 };

	(void)state;
	fill_gauss(&r, x, RT_N);
	float *f32 = quant_dequant(GGML_T_F32, x, RT_N);
	float *f16 = quant_dequant(GGML_T_F16, x, RT_N);
	float *b16 = quant_dequant(GGML_T_BF16, x, RT_N);

	for (int i = 0; i < RT_N; i++) {
		assert_true(f32[i] == x[i]);
		if (fabsf(x[i]) >= 0x1p-14f)
			assert_true(fabsf(f16[i] - x[i]) <=
				    0x1p-11f * fabsf(x[i]));
		assert_true(fabsf(b16[i] - x[i]) <= 0x1p-8f * fabsf(x[i]));
	}
	free(f32);
	free(f16);
	free(b16);
}

static void test_roundtrip_q8_0_q4_0(void **state)
{
	float x[RT_N];
	rng r = { 2 };

	(void)state;
	fill_gauss(&r, x, RT_N);
	float *q8 = quant_dequant(GGML_T_Q8_0, x, RT_N);
	float *q4 = quant_dequant(GGML_T_Q4_0, x, RT_N);

	for (int b = 0; b < RT_N / 32; b++) {
		float amax = 0.0f;

		for (int j = 0; j < 32; j++)
			amax = fmaxf(amax, fabsf(x[32 * b + j]));
		for (int j = 0; j < 32; j++) {
			int i = 32 * b + j;

			assert_true(fabsf(q8[i] - x[i]) <=
				    amax / 127 * (0.5f + 127 * 0x1p-11f));
			assert_true(fabsf(q4[i] - x[i]) <=
				    amax / 8 * (1.0f + 8 * 0x1p-11f));
		}
	}
	free(q8);
	free(q4);
}

static double rel_rms(const float *a, const float *b, int64_t n)
{
	double se = 0.0, s = 0.0;

	for (int64_t i = 0; i < n; i++) {
		se += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
		s += (double)a[i] * a[i];
	}
	return sqrt(se / s);
}

/* Largest |error| over the data range of each sub-block of `sub`. */
static double worst_step_ratio(const float *x, const float *y, int64_t n,
			       int sub, int nmax)
{
	double worst = 0.0;

	for (int64_t b = 0; b < n / sub; b++) {
		float lo = 0.0f, hi = 0.0f, e = 0.0f;

		for (int j = 0; j < sub; j++) {
			lo = fminf(lo, x[b * sub + j]);
			hi = fmaxf(hi, x[b * sub + j]);
			e = fmaxf(e, fabsf(x[b * sub + j] - y[b * sub + j]));
		}
		worst = fmax(worst, e / ((hi - lo) / nmax));
	}
	return worst;
}

static void test_roundtrip_k_quants(void **state)
{
	static const struct {
		uint32_t type;
		double rms; /* relative RMS bound, see above */
		int sub, nmax;
	} cases[] = {
		{ GGML_T_Q4_K, 0.095, 32, 15 },
		{ GGML_T_Q5_K, 0.046, 32, 31 },
		{ GGML_T_Q6_K, 0.023, 16, 63 },
		{ GGML_T_Q8_K, 0.0075, 256, 254 },
	};
	float x[RT_N];
	rng r = { 3 };

	(void)state;
	fill_gauss(&r, x, RT_N);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		float *y = quant_dequant(cases[c].type, x, RT_N);
		double rms = rel_rms(x, y, RT_N);
		double step = worst_step_ratio(x, y, RT_N, cases[c].sub,
					       cases[c].nmax);

		print_message("type %u: relative RMS %.4f, worst error %.2f "
			      "steps\n", cases[c].type, rms, step);
		assert_true(rms < cases[c].rms);
		assert_true(step <= 1.0);
		free(y);
	}
}

/* Degenerate blocks: zeros decode to zeros; a constant positive block
 * fits with min 0 in the K-quants and comes back within one step. */
static void test_degenerate_blocks(void **state)
{
	static const uint32_t types[] = { GGML_T_F16, GGML_T_BF16,
		GGML_T_Q8_0, GGML_T_Q4_0, GGML_T_Q4_K, GGML_T_Q5_K,
		GGML_T_Q6_K, GGML_T_Q8_K };
	float zero[QK_K] = { 0 }, cst[QK_K];

	(void)state;
	for (int i = 0; i < QK_K; i++)
		cst[i] = 2.5f;
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		float *y = quant_dequant(types[t], zero, QK_K);
		float *z = quant_dequant(types[t], cst, QK_K);

		for (int i = 0; i < QK_K; i++) {
			assert_true(y[i] == 0.0f);
			assert_true(fabsf(z[i] - 2.5f) <= 2.5f / 15);
		}
		free(y);
		free(z);
	}
}

/* Q8_K: d = −max/127 for the signed max-abs element (so it becomes −127),
 * bsums are the sums of q over each 16. */
static void test_q8_k_layout(void **state)
{
	float x[QK_K];
	block_q8_K b;
	rng r = { 4 };

	(void)state;
	fill_gauss(&r, x, QK_K);
	x[77] = 9.0f; /* the max-abs element, positive */
	engine_quant_row(GGML_T_Q8_K, x, &b, QK_K);
	assert_true(fabsf(b.d - (-9.0f / 127)) <= 1e-7f);
	assert_int_equal(b.qs[77], -127);
	for (int g = 0; g < QK_K / 16; g++) {
		int sum = 0;

		for (int j = 0; j < 16; j++)
			sum += b.qs[16 * g + j];
		assert_int_equal(b.bsums[g], sum);
	}
}

/* Misuse is visible: unsupported type or a partial block decode to NaN. */
static void test_dequant_misuse(void **state)
{
	uint8_t raw[64] = { 0 };
	float y[33];

	(void)state;
	engine_dequant_row(GGML_T_Q4_1, raw, y, 32);
	assert_true(isnan(y[0]) && isnan(y[31]));
	engine_dequant_row(GGML_T_Q4_0, raw, y, 33);
	assert_true(isnan(y[0]) && isnan(y[32]));
	assert_true(isnan(engine_vec_dot_f32(GGML_T_Q2_K, raw, y, 256)));
}

/* ---------------------------------------------------------------------------
 * vec_dot_f32 equals the double-precision dot of the dequantized row.
 */
static void test_vec_dot_f32(void **state)
{
	static const uint32_t types[] = { GGML_T_F32, GGML_T_F16,
		GGML_T_BF16, GGML_T_Q8_0, GGML_T_Q4_0, GGML_T_Q4_K,
		GGML_T_Q5_K, GGML_T_Q6_K, GGML_T_Q8_K };
	enum { N = 1024 };
	float w[N], x[N], wd[N];
	uint8_t q[N * 4];
	rng r = { 5 };

	(void)state;
	fill_gauss(&r, w, N);
	fill_gauss(&r, x, N);
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		double ref = 0.0, mag = 0.0;

		engine_quant_row(types[t], w, q, N);
		engine_dequant_row(types[t], q, wd, N);
		for (int i = 0; i < N; i++) {
			ref += (double)wd[i] * x[i];
			mag += fabs((double)wd[i] * x[i]);
		}
		float got = engine_vec_dot_f32(types[t], q, x, N);

		/* both are double sums of the same products: only the final
		 * rounding to float differs */
		assert_true(fabs(got - ref) <= 1e-6 * mag);
	}
	/* F16 rows that are not a multiple of the 256-element chunk */
	engine_quant_row(GGML_T_F16, w, q, 300);
	engine_dequant_row(GGML_T_F16, q, wd, 300);
	double ref = 0.0;

	for (int i = 0; i < 300; i++)
		ref += (double)wd[i] * x[i];
	assert_true(fabs(engine_vec_dot_f32(GGML_T_F16, q, x, 300) - ref) <=
		    1e-5 * fabs(ref) + 1e-6);
}

/* ---------------------------------------------------------------------------
 * Thread pool.
 */
typedef struct count_job {
	atomic_int calls[8];   /* per ith */
	atomic_int bad_nth;
	int want_nth;
} count_job;

static void count_fn(int ith, int nth, void *arg)
{
	count_job *job = arg;

	if (nth != job->want_nth || ith < 0 || ith >= nth)
		atomic_fetch_add(&job->bad_nth, 1);
	else
		atomic_fetch_add(&job->calls[ith], 1);
}

static void test_threadpool_runs_each_thread_once(void **state)
{
	engine_threadpool *tp;
	count_job job = { .want_nth = 4 };

	(void)state;
	assert_int_equal(engine_threadpool_new(4, &tp), 0);
	assert_int_equal(engine_threadpool_size(tp), 4);
	for (int i = 0; i < 2000; i++)
		engine_threadpool_run(tp, count_fn, &job);
	assert_int_equal(atomic_load(&job.bad_nth), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(atomic_load(&job.calls[i]), 2000);
	engine_threadpool_free(tp);

	/* NULL pool: the caller alone, as thread 0 of 1 */
	count_job solo = { .want_nth = 1 };

	engine_threadpool_run(NULL, count_fn, &solo);
	assert_int_equal(atomic_load(&solo.calls[0]), 1);
	assert_int_equal(engine_threadpool_size(NULL), 1);
	engine_threadpool_free(NULL);
}

static void test_threadpool_default_size(void **state)
{
	engine_threadpool *tp;

	(void)state;
	assert_int_equal(engine_threadpool_new(0, &tp), 0);
	assert_true(engine_threadpool_size(tp) >= 1);
	engine_threadpool_free(tp);
	/* a pool of 1 never starts a thread and still runs the job */
	count_job job = { .want_nth = 1 };

	assert_int_equal(engine_threadpool_new(1, &tp), 0);
	engine_threadpool_run(tp, count_fn, &job);
	assert_int_equal(atomic_load(&job.calls[0]), 1);
	engine_threadpool_free(tp);
}

/* ---------------------------------------------------------------------------
 * Scalar matmul against the naive double loop over dequantized weights;
 * 1 and 2 threads must agree bit for bit (same per-element function).
 */
static void check_matmul(uint32_t type, int64_t ne0, int64_t ne1, int n_tok)
{
	size_t rb = engine_row_size(type, ne0);
	uint8_t *wq = malloc(rb * (size_t)ne1);
	float *w = malloc(sizeof(float) * (size_t)(ne0 * ne1));
	float *x = malloc(sizeof(float) * (size_t)(ne0 * n_tok));
	float *y1 = malloc(sizeof(float) * (size_t)(ne1 * n_tok));
	float *y2 = malloc(sizeof(float) * (size_t)(ne1 * n_tok));
	float *row = malloc(sizeof(float) * (size_t)ne0);
	engine_threadpool *tp;
	rng r = { 6 };

	fill_gauss(&r, w, ne0 * ne1);
	fill_gauss(&r, x, ne0 * n_tok);
	for (int64_t i = 0; i < ne1; i++)
		engine_quant_row(type, w + i * ne0, wq + i * rb, ne0);
	engine_mat m = { .type = type, .ne0 = ne0, .ne1 = ne1,
			 .row_bytes = rb, .data = wq };

	assert_int_equal(engine_matmul_scratch(&m, n_tok), 0);
	engine_matmul(NULL, &m, x, n_tok, y1, NULL, 0);
	assert_int_equal(engine_threadpool_new(2, &tp), 0);
	engine_matmul(tp, &m, x, n_tok, y2, NULL, 0);
	engine_threadpool_free(tp);
	assert_memory_equal(y1, y2, sizeof(float) * (size_t)(ne1 * n_tok));

	for (int64_t i = 0; i < ne1; i++) {
		engine_dequant_row(type, wq + i * rb, row, ne0);
		for (int t = 0; t < n_tok; t++) {
			double ref = 0.0, mag = 0.0;

			for (int64_t k = 0; k < ne0; k++) {
				ref += (double)row[k] * x[t * ne0 + k];
				mag += fabs((double)row[k] * x[t * ne0 + k]);
			}
			assert_true(fabs(y1[t * ne1 + i] - ref) <= 1e-6 * mag);
		}
	}
	free(wq);
	free(w);
	free(x);
	free(y1);
	free(y2);
	free(row);
}

static void test_matmul_scalar(void **state)
{
	(void)state;
	/* odd row counts so the 2-thread split is uneven */
	check_matmul(GGML_T_F32, 64, 7, 3);
	check_matmul(GGML_T_F16, 96, 5, 2);
	check_matmul(GGML_T_Q8_0, 128, 9, 3);
	check_matmul(GGML_T_Q4_0, 64, 3, 1);
	check_matmul(GGML_T_Q4_K, 512, 5, 2);
	check_matmul(GGML_T_Q6_K, 256, 1, 4); /* fewer rows than threads */
	assert_string_equal(engine_simd_name(), engine_kernels_active()->name);
	assert_non_null(engine_kernels_find("scalar"));
	assert_null(engine_kernels_find("no-such-path"));
}

int main(void)
{
	/* these tests are about the scalar reference; the SIMD paths are
	 * compared against it in test_kernels.c */
	setenv("HEARTH_SIMD", "scalar", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_traits),
		cmocka_unit_test(test_row_size),
		cmocka_unit_test(test_fp16_known_values),
		cmocka_unit_test(test_fp16_rounding),
		cmocka_unit_test(test_fp16_inf_nan),
		cmocka_unit_test(test_fp16_roundtrip_all),
		cmocka_unit_test(test_fp16_nearest),
		cmocka_unit_test(test_bf16),
		cmocka_unit_test(test_q4_0_hand_block),
		cmocka_unit_test(test_q8_0_hand_block),
		cmocka_unit_test(test_q4_k_hand_block),
		cmocka_unit_test(test_q5_k_hand_block),
		cmocka_unit_test(test_q6_k_hand_block),
		cmocka_unit_test(test_roundtrip_float_types),
		cmocka_unit_test(test_roundtrip_q8_0_q4_0),
		cmocka_unit_test(test_roundtrip_k_quants),
		cmocka_unit_test(test_degenerate_blocks),
		cmocka_unit_test(test_q8_k_layout),
		cmocka_unit_test(test_dequant_misuse),
		cmocka_unit_test(test_vec_dot_f32),
		cmocka_unit_test(test_threadpool_runs_each_thread_once),
		cmocka_unit_test(test_threadpool_default_size),
		cmocka_unit_test(test_matmul_scalar),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
