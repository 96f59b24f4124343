/*
 * test_kernels.c — every SIMD kernel path against the scalar reference,
 * for every weight type, and the forward pass's vector kernels (attention
 * over an F16 KV cache, softmax, SwiGLU, f32 → f16 rows).
 *
 * Paths: each of "avx512", "avx2", "neon" that is compiled in and that the
 * CPU runs (engine_kernels_find) is called directly, so one process covers
 * them all; a path this machine cannot run is reported and skipped.
 *
 * Matmul cases: weights of each type made by the scalar reference
 * quantizer (engine_quant_row) from random N(0,1) rows with a few large
 * outliers; activations N(0,1) with outliers; n_tok in {1, 3, 8, 33}
 * (under, at and over the 4-token tiles); row counts 1, 37 and 130 (not
 * multiples of the 2 or 4-row tiles nor of the 2 threads); row lengths
 * that leave every possible tail (Q4_0 groups of 4 blocks, Q8_0 pairs,
 * F types not a multiple of 16); with a 2-thread pool and without one.
 *
 * Two checks per output y[t][r]:
 *  1. "emulated": the quantized paths quantize activations on the fly
 *     exactly as kernels_avx512.c documents (blocks of 32 for Q4_0/Q8_0
 *     weights: d = amax/127, q = rne(x·(1/d)); blocks of 256 for K-quants:
 *     iscale = 127/amax, d = 1/iscale, q = rne(x·iscale)). The test
 *     redoes that in plain C and sums Σ w_i·d·q_i in double, w_i the
 *     scalar dequantization. What is left is float32 rounding: a term's
 *     scale product and FMA (2 roundings) and per-lane sums of at most
 *     ne0/32 terms plus a 16-lane reduction — under (ne0/32 + 8)·2^-23 of
 *     M = Σ|w_i·d·q_i|, far below 1e-5·M for these sizes, so 1e-5·M is
 *     the tolerance. A swapped nibble, a wrong scale or a block read at
 *     the wrong offset moves y by a sizeable fraction of M.
 *  2. "scalar": against engine_kernels_scalar (exact f32 activations).
 *     The difference is the activation quantization: |x − d·q| ≤ d/2 up
 *     to 1/id ≠ d rounding (relative 2^-17), so the bound is
 *     Σ_i |w_i|·0.5·d_i·1.001 plus 1e-5·(M + Σ|w_i·x_i|) for rounding.
 *  F32/F16/BF16 weights take f32 activations: only summation order
 *  differs. The tile path sums ne0/16 terms per lane then reduces 16
 *  lanes; the many-token path sums all ne0 terms of a row in one lane.
 *  Recursive summation of n terms is within n·2^-24·Σ|w_i·x_i|, so the
 *  bound is (ne0 + 16)·2^-23·Σ|w_i·x_i| (margin 2).
 * Outputs start as NaN, so an output a kernel skips fails. A path that
 * repacks weights at load time (engine_kernels.repack) is checked the
 * same way on its repacked copy, with the original overwritten.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <math.h>

#include "kernels_int.h"

static const char *const path_names[] = { "amx", "avx512", "avx2", "neon" };
#define N_PATH_NAMES (sizeof(path_names) / sizeof(path_names[0]))

static const int tok_counts[] = { 1, 3, 8, 33, 50 };
static const int row_counts[] = { 1, 37, 130 };

/* ---------------------------------------------------------------------------
 * Deterministic random numbers (xorshift64*, Box-Muller).
 */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double urand(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)((rng_state * 0x2545f4914f6cdd1dull) >> 11) * 0x1p-53;
}

static float nrand(void)
{
	double u = urand() + 1e-300, v = urand();

	return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* N(0,1) with 1 in 64 elements an outlier ×8, as activations have. */
static void fill_random(float *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		x[i] = nrand() * (urand() < 1.0 / 64 ? 8.0f : 1.0f);
}

/* ---------------------------------------------------------------------------
 * The activation quantization the SIMD paths document (see header).
 */
static bool type_k(uint32_t type)
{
	return type == GGML_T_Q4_K || type == GGML_T_Q5_K || type == GGML_T_Q6_K;
}

static bool type_quantized(uint32_t type)
{
	return type == GGML_T_Q4_0 || type == GGML_T_Q8_0 || type_k(type);
}

/* xq[i] = d·q_i and step[i] = d of element i's block. */
static void emulate_act(uint32_t type, const float *x, int64_t n, double *xq,
			double *step)
{
	int blk = type_k(type) ? 256 : 32;

	for (int64_t b = 0; b < n; b += blk) {
		float amax = 0.0f, d, id;

		for (int i = 0; i < blk; i++)
			amax = fmaxf(amax, fabsf(x[b + i]));
		if (type_k(type)) {
			id = amax != 0.0f ? 127.0f / amax : 0.0f;
			d = amax != 0.0f ? 1.0f / id : 0.0f;
		} else {
			d = amax / 127.0f;
			id = d != 0.0f ? 1.0f / d : 0.0f;
		}
		for (int i = 0; i < blk; i++) {
			float v = x[b + i] * id;

			xq[b + i] = (double)d * nearbyintf(v);
			step[b + i] = d;
		}
	}
}

/* ---------------------------------------------------------------------------
 * One matmul case.
 */
typedef struct mm_case {
	uint32_t type;
	int64_t ne0, ne1;
	int n_tok;
	uint8_t *wdata;  /* (ne1, row_bytes) */
	float *wdeq;     /* (ne1, ne0) scalar dequantization */
	float *x;        /* (n_tok, ne0) */
	float *y_ref;    /* (n_tok, ne1) scalar path */
	engine_mat w;
} mm_case;

static void case_make(mm_case *c, uint32_t type, int64_t ne0, int64_t ne1,
		      int n_tok)
{
	float *row = malloc((size_t)ne0 * sizeof(*row));

	memset(c, 0, sizeof(*c));
	c->type = type;
	c->ne0 = ne0;
	c->ne1 = ne1;
	c->n_tok = n_tok;
	c->w.type = type;
	c->w.ne0 = ne0;
	c->w.ne1 = ne1;
	c->w.row_bytes = engine_row_size(type, ne0);
	assert_true(c->w.row_bytes > 0);
	c->wdata = malloc(c->w.row_bytes * (size_t)ne1);
	c->wdeq = malloc((size_t)(ne0 * ne1) * sizeof(float));
	c->x = malloc((size_t)(ne0 * n_tok) * sizeof(float));
	c->y_ref = malloc((size_t)(ne1 * n_tok) * sizeof(float));
	assert_non_null(row);
	assert_non_null(c->wdata);
	for (int64_t r = 0; r < ne1; r++) {
		uint8_t *dst = c->wdata + (size_t)r * c->w.row_bytes;

		fill_random(row, ne0);
		engine_quant_row(type, row, dst, ne0);
		engine_dequant_row(type, dst, c->wdeq + r * ne0, ne0);
	}
	c->w.data = c->wdata;
	fill_random(c->x, ne0 * n_tok);
	engine_kernels_scalar.matmul(NULL, &c->w, c->x, n_tok, c->y_ref, NULL, 0);
	free(row);
}

static void case_free(mm_case *c)
{
	free(c->wdata);
	free(c->wdeq);
	free(c->x);
	free(c->y_ref);
}

/* Run path k on c's weights w (as stored, or repacked by k) with pool tp
 * (or NULL) and engine_matmul flags into a fresh NaN-filled y. */
static float *case_run_mat(const engine_kernels *k, const mm_case *c,
			   const engine_mat *w, engine_threadpool *tp,
			   unsigned flags)
{
	size_t ny = (size_t)(c->ne1 * c->n_tok);
	size_t ns = k->matmul_scratch(w, c->n_tok);
	float *y = malloc(ny * sizeof(*y));
	void *scratch = ns ? malloc(ns) : NULL;

	assert_non_null(y);
	for (size_t i = 0; i < ny; i++)
		y[i] = NAN;
	k->matmul(tp, w, c->x, c->n_tok, y, scratch, flags);
	free(scratch);
	return y;
}

static float *case_run(const engine_kernels *k, const mm_case *c,
		       engine_threadpool *tp)
{
	return case_run_mat(k, c, &c->w, tp, 0);
}

/* The same through k's load-time repacking, if it repacks this type:
 * NULL when it does not. The copy is 64-byte aligned as the contract says;
 * the original is overwritten with garbage first so a kernel that still
 * read it would fail. Run as a prompt (returned) and as decode
 * (ENGINE_MM_DECODE, into *y_decode): a path may round them differently. */
static float *case_run_repacked(const engine_kernels *k, mm_case *c,
				engine_threadpool *tp, float **y_decode)
{
	size_t n = k->repack_size ? k->repack_size(&c->w) : 0;
	engine_mat packed;
	float *y;
	void *dst;

	*y_decode = NULL;
	if (!n)
		return NULL;
	dst = aligned_alloc(64, (n + 63) / 64 * 64);
	assert_non_null(dst);
	k->repack(&c->w, dst, &packed);
	assert_true(packed.layout != 0 && packed.data == dst);
	memset(c->wdata, 0xa5, c->w.row_bytes * (size_t)c->ne1);
	y = case_run_mat(k, c, &packed, tp, 0);
	*y_decode = case_run_mat(k, c, &packed, tp, ENGINE_MM_DECODE);
	free(dst);
	return y;
}

/* float → bf16 → float, round to nearest even (finite inputs). */
static float bf16_round(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
	memcpy(&f, &u, sizeof(f));
	return f;
}

/* The "amx" path's prompt products on repacked Q4_0/Q8_0 (any token
 * count; decode keeps int8) multiply bf16 activations by bf16 weights (the
 * f32 dequantized value rounded) and sum in f32. */
static bool case_bf16(const char *path, const mm_case *c)
{
	return !strcmp(path, "amx") &&
	       (c->type == GGML_T_Q4_0 || c->type == GGML_T_Q8_0);
}

/* Check every output of y against both references; returns failures.
 * bf16: the emulation rounds activations and weights to bf16 instead
 * (each within 2^-8 relative: 8 significant bits, so the scalar bound is
 * 2^-7·Σ|w·x| plus rounding), and sums over ne0/2 pairs in f32 lanes. */
static int case_check(const char *path, const mm_case *c, const float *y, bool bf16)
{
	double *xq = malloc((size_t)c->ne0 * sizeof(double));
	double *step = malloc((size_t)c->ne0 * sizeof(double));
	int fails = 0;

	for (int t = 0; t < c->n_tok; t++) {
		const float *x = c->x + t * c->ne0;

		if (type_quantized(c->type))
			emulate_act(c->type, x, c->ne0, xq, step);
		for (int64_t r = 0; r < c->ne1; r++) {
			const float *w = c->wdeq + r * c->ne0;
			double emu = 0, m = 0, mx = 0, qerr = 0, tol_emu, tol_ref;
			double got = y[t * c->ne1 + r], ref = c->y_ref[t * c->ne1 + r];

			for (int64_t i = 0; i < c->ne0; i++) {
				mx += fabs((double)w[i] * x[i]);
				if (bf16) {
					double p = (double)bf16_round(w[i]) * bf16_round(x[i]);

					emu += p;
					m += fabs(p);
				} else if (type_quantized(c->type)) {
					emu += (double)w[i] * xq[i];
					m += fabs((double)w[i] * xq[i]);
					qerr += fabs((double)w[i]) * 0.5 * step[i] * 1.001;
				}
			}
			if (bf16) {
				tol_emu = ((double)c->ne0 / 2 + 16) * 0x1p-23 * m + 1e-30;
				tol_ref = 0x1p-7 * 1.01 * mx + 1e-5 * (m + mx) + 1e-30;
			} else if (type_quantized(c->type)) {
				tol_emu = 1e-5 * m + 1e-30;
				tol_ref = qerr + 1e-5 * (m + mx) + 1e-30;
			} else {
				emu = ref;
				tol_emu = tol_ref = ((double)c->ne0 + 16) *
						    0x1p-23 * mx + 1e-30;
			}
			if (!(fabs(got - emu) <= tol_emu) ||
			    !(fabs(got - ref) <= tol_ref)) {
				if (fails++ < 5)
					fprintf(stderr,
						"  %s %s ne0=%lld ne1=%lld n_tok=%d "
						"[t=%d r=%lld]: got %.9g emulated %.9g "
						"(tol %.3g) scalar %.9g (tol %.3g)\n",
						path, engine_type_get(c->type)->name,
						(long long)c->ne0, (long long)c->ne1,
						c->n_tok, t, (long long)r, got, emu,
						tol_emu, ref, tol_ref);
			}
		}
	}
	free(xq);
	free(step);
	return fails;
}

/* Every available path on every shape of type; row lengths per type. */
static void check_type(uint32_t type, const int64_t *lens, int n_lens)
{
	engine_threadpool *tp;
	int n_paths = 0, fails = 0;

	assert_int_equal(engine_threadpool_new(2, &tp), 0);
	for (size_t p = 0; p < N_PATH_NAMES; p++) {
		const engine_kernels *k = engine_kernels_find(path_names[p]);

		if (!k) {
			fprintf(stderr, "  path %s: not compiled in or not supported "
				"by this CPU, skipped\n", path_names[p]);
			continue;
		}
		n_paths++;
		for (int li = 0; li < n_lens; li++)
			for (size_t ri = 0; ri < sizeof(row_counts) / sizeof(*row_counts); ri++)
				for (size_t ti = 0; ti < sizeof(tok_counts) / sizeof(*tok_counts); ti++) {
					mm_case c;
					float *y, *yd;

					case_make(&c, type, lens[li], row_counts[ri], tok_counts[ti]);
					y = case_run(k, &c, (ti + ri) % 2 ? NULL : tp);
					fails += case_check(k->name, &c, y, false);
					free(y);
					y = case_run_repacked(k, &c, (ti + ri) % 2 ? tp : NULL,
							      &yd);
					if (y)
						fails += case_check(k->name, &c, y,
								    case_bf16(k->name, &c));
					if (yd)
						fails += case_check(k->name, &c, yd, false);
					free(y);
					free(yd);
					case_free(&c);
				}
	}
	engine_threadpool_free(tp);
	if (n_paths == 0)
		skip();
	assert_int_equal(fails, 0);
}

/* Block types: lengths leaving 0..3 blocks past the last group of 4. */
/* 8224: longer than the AMX-BF16 kernel's K slice (8192) */
static const int64_t lens_32[] = { 32, 96, 160, 448, 896, 1056, 8224 };
static const int64_t lens_256[] = { 256, 768, 1280 };
static const int64_t lens_1[] = { 5, 37, 64, 200, 301 };

static void test_q4_0(void **state) { (void)state; check_type(GGML_T_Q4_0, lens_32, 7); }
static void test_q8_0(void **state) { (void)state; check_type(GGML_T_Q8_0, lens_32, 7); }
static void test_q4_k(void **state) { (void)state; check_type(GGML_T_Q4_K, lens_256, 3); }
static void test_q5_k(void **state) { (void)state; check_type(GGML_T_Q5_K, lens_256, 3); }
static void test_q6_k(void **state) { (void)state; check_type(GGML_T_Q6_K, lens_256, 3); }
static void test_f32(void **state) { (void)state; check_type(GGML_T_F32, lens_1, 5); }
static void test_f16(void **state) { (void)state; check_type(GGML_T_F16, lens_1, 5); }
static void test_bf16(void **state) { (void)state; check_type(GGML_T_BF16, lens_1, 5); }

/* Extreme blocks: all-zero activations (d = 0 must not make NaN) and
 * weights whose blocks are all zero. */
static void test_zero_blocks(void **state)
{
	static const uint32_t types[] = { GGML_T_Q4_0, GGML_T_Q8_0, GGML_T_Q4_K,
					  GGML_T_Q5_K, GGML_T_Q6_K };
	int n_paths = 0;

	(void)state;
	for (size_t p = 0; p < N_PATH_NAMES; p++) {
		const engine_kernels *k = engine_kernels_find(path_names[p]);

		if (!k)
			continue;
		n_paths++;
		for (size_t i = 0; i < sizeof(types) / sizeof(*types); i++) {
			mm_case c;
			float *y;

			case_make(&c, types[i], 512, 5, 3);
			memset(c.x + 256, 0, 256 * sizeof(float)); /* token 0, half */
			memset(c.x + 512, 0, 512 * sizeof(float)); /* token 1, all */
			engine_kernels_scalar.matmul(NULL, &c.w, c.x, 3, c.y_ref, NULL, 0);
			y = case_run(k, &c, NULL);
			assert_int_equal(case_check(k->name, &c, y, false), 0);
			for (int r = 0; r < 5; r++)
				assert_true(y[5 + r] == 0.0f); /* 0 · w = 0 */
			free(y);
			case_free(&c);
		}
	}
	if (n_paths == 0)
		skip();
}

/* ---------------------------------------------------------------------------
 * Vector kernels. Reference in double; bounds as in each comment.
 */
static void check_attention(const engine_kernels *k)
{
	enum { HD_N = 4, NKV = 77 };
	static const int hds[HD_N] = { 64, 128, 80, 20 };

	for (int h = 0; h < HD_N; h++) {
		int hd = hds[h];
		size_t stride = (size_t)hd * 3 + 8; /* rows interleaved as in a cache */
		ggml_half *kv = malloc(stride * NKV * sizeof(*kv));
		float *q = malloc((size_t)hd * sizeof(*q)), s[NKV], p[NKV];
		float *o = malloc((size_t)hd * sizeof(*o));

		for (size_t i = 0; i < stride * NKV; i++)
			kv[i] = engine_fp32_to_fp16(nrand());
		fill_random(q, hd);
		for (int j = 0; j < NKV; j++)
			p[j] = (float)urand();
		k->attn_scores_f16(q, kv, stride, NKV, hd, 0.125f, s);
		for (int j = 0; j < NKV; j++) {
			double ref = 0, mag = 0;

			for (int d = 0; d < hd; d++) {
				double v = q[d] * (double)engine_fp16_to_fp32(kv[j * stride + d]);

				ref += v;
				mag += fabs(v);
			}
			/* float sums of ≤ hd/8 terms per lane + reduction */
			assert_true(fabs(s[j] - 0.125 * ref) <=
				    0.125 * ((double)hd / 8 + 16) * 0x1p-23 * mag + 1e-30);
		}
		k->attn_values_f16(p, kv, stride, NKV, hd, o);
		for (int d = 0; d < hd; d++) {
			double ref = 0, mag = 0;

			for (int j = 0; j < NKV; j++) {
				double v = p[j] * (double)engine_fp16_to_fp32(kv[j * stride + d]);

				ref += v;
				mag += fabs(v);
			}
			/* recursive float sum over NKV rows */
			assert_true(fabs(o[d] - ref) <= (NKV + 2) * 0x1p-23 * mag + 1e-30);
		}
		free(kv);
		free(q);
		free(o);
	}
}

/* Fused GQA attention (k->attn_f16, or the composition engine_attn_f16
 * falls back to) against softmax(scale·q·k)·v in double. Error budget: a
 * score is off by at most δ = (hd + 16)·2^-23·scale·Σ|q·k| (float sums), a
 * probability then by ≤ 2δ + 4e-6 relative (exp and the normalisation),
 * so output d is within Σ_j p_j·|v_jd|·(4δ_max + 8e-6) with margin 2. */
static void check_attn_fused(const engine_kernels *k)
{
	static const int cases[][3] = { /* n_q, hd, n_kv */
		{ 1, 64, 1 }, { 7, 64, 77 }, { 12, 128, 33 }, { 9, 20, 16 },
		{ 2, 21, 5 }, { 3, 80, 130 },
	};

	for (size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++) {
		int n_q = cases[c][0], hd = cases[c][1], n_kv = cases[c][2];
		size_t stride = (size_t)hd * 2 + 4;
		ggml_half *kc = malloc(stride * (size_t)n_kv * sizeof(*kc));
		ggml_half *vc = malloc(stride * (size_t)n_kv * sizeof(*vc));
		float *q = malloc((size_t)(n_q * hd) * sizeof(*q));
		float *o = malloc((size_t)(n_q * hd) * sizeof(*o));
		float *sc = malloc((size_t)(n_q * n_kv) * sizeof(*sc));
		double *p = malloc((size_t)n_kv * sizeof(*p));
		float scale = 1.0f / sqrtf((float)hd);

		for (size_t i = 0; i < stride * (size_t)n_kv; i++) {
			kc[i] = engine_fp32_to_fp16(nrand());
			vc[i] = engine_fp32_to_fp16(nrand());
		}
		fill_random(q, n_q * hd);
		if (k->attn_f16)
			k->attn_f16(q, n_q, kc, vc, stride, n_kv, hd, scale, sc, o);
		else
			engine_attn_f16(q, n_q, kc, vc, stride, n_kv, hd, scale, sc, o);
		for (int h = 0; h < n_q; h++) {
			double mx = -INFINITY, sum = 0, dmax = 0;

			for (int j = 0; j < n_kv; j++) {
				double s = 0, mag = 0;

				for (int d = 0; d < hd; d++) {
					double t = q[h * hd + d] *
						   (double)engine_fp16_to_fp32(kc[j * stride + d]);

					s += t;
					mag += fabs(t);
				}
				p[j] = s * scale;
				mx = p[j] > mx ? p[j] : mx;
				dmax = fmax(dmax, (hd + 16) * 0x1p-23 * scale * mag);
			}
			for (int j = 0; j < n_kv; j++)
				sum += (p[j] = exp(p[j] - mx));
			for (int d = 0; d < hd; d++) {
				double ref = 0, mag = 0;

				for (int j = 0; j < n_kv; j++) {
					double vv = engine_fp16_to_fp32(vc[j * stride + d]);

					ref += p[j] / sum * vv;
					mag += p[j] / sum * fabs(vv);
				}
				assert_true(fabs(o[h * hd + d] - ref) <=
					    mag * (4 * dmax + 8e-6) + 1e-30);
			}
		}
		free(kc);
		free(vc);
		free(q);
		free(o);
		free(sc);
		free(p);
	}
}

/* exp: the kernels' polynomial is within 6e-9 of e^r plus ~10 float
 * roundings (≈ 6e-7 relative); 2e-6 relative holds with margin. */
static void check_softmax_swiglu(const engine_kernels *k)
{
	static const int ns[] = { 1, 7, 16, 35, 300 };

	for (size_t i = 0; i < sizeof(ns) / sizeof(*ns); i++) {
		int n = ns[i];
		float *s = malloc((size_t)n * sizeof(*s)), *g = malloc((size_t)n * sizeof(*g));
		float *u = malloc((size_t)n * sizeof(*u)), *s0 = malloc((size_t)n * sizeof(*s0));
		float *g0 = malloc((size_t)n * sizeof(*g0));
		double mx = -INFINITY, sum = 0, got_sum;

		for (int j = 0; j < n; j++) {
			s[j] = s0[j] = nrand() * 30.0f; /* spans exp underflow */
			g[j] = g0[j] = nrand() * 8.0f;
			u[j] = nrand();
			mx = s0[j] > mx ? s0[j] : mx;
		}
		if (n > 3)
			g[3] = g0[3] = -120.0f; /* silu → −0, not NaN */
		got_sum = k->softmax(s, n);
		for (int j = 0; j < n; j++) {
			/* the kernels subtract in float; exp's accuracy is what
			 * is checked, so the reference starts from that input */
			double e = exp((double)(s0[j] - (float)mx));

			sum += e;
			assert_true(fabs(s[j] - e) <= 2e-6 * e + 1e-37);
		}
		assert_true(fabs(got_sum - sum) <= 2e-6 * sum);
		k->swiglu(g, u, (size_t)n);
		for (int j = 0; j < n; j++) {
			double ref = g0[j] / (1.0 + exp(-(double)g0[j])) * u[j];

			assert_true(fabs(g[j] - ref) <= 2e-6 * fabs(ref) + 1e-30);
		}
		free(s);
		free(g);
		free(u);
		free(s0);
		free(g0);
	}
}

/* f32 → f16 must be bit-exact with the scalar converter (both round to
 * nearest even): normals, halfway cases, subnormals, overflow, ±0. */
static void check_f16_rows(const engine_kernels *k)
{
	enum { N = 203 };
	float x[N];
	ggml_half h[N];

	for (int i = 0; i < N; i++)
		x[i] = nrand() * powf(2.0f, (float)(i % 40) - 26.0f);
	x[0] = 65504.0f;
	x[1] = 65520.0f;            /* rounds to inf */
	x[2] = -0.0f;
	x[3] = 0x1p-25f;            /* halfway to the smallest subnormal → 0 */
	x[4] = 0x1.8p-24f;          /* 1.5 subnormal steps → 2 */
	x[5] = 1.0f + 0x1p-11f;     /* halfway, ties to even → 1.0 */
	x[6] = 1.0f + 0x1.8p-11f;   /* halfway, ties to even → up */
	x[7] = 1e30f;
	k->f32_to_f16(x, h, N);
	for (int i = 0; i < N; i++)
		assert_int_equal(h[i], engine_fp32_to_fp16(x[i]));
}

static void test_vector_kernels(void **state)
{
	int n_paths = 0;

	(void)state;
	for (size_t p = 0; p < N_PATH_NAMES; p++) {
		const engine_kernels *k = engine_kernels_find(path_names[p]);

		if (!k)
			continue;
		n_paths++;
		assert_non_null(k->attn_scores_f16);
		check_attention(k);
		check_attn_fused(k);
		check_softmax_swiglu(k);
		check_f16_rows(k);
	}
	if (n_paths == 0)
		skip();
}

/* The public entry points reach the active path, and the scalar
 * fallbacks of kernels_vec.c agree with the same references. */
static void test_dispatch(void **state)
{
	float q[64], s[5], p[5] = { 1, 2, 3, 4, 5 }, o[64];
	ggml_half kv[5 * 64];

	(void)state;
	assert_non_null(engine_kernels_find("scalar"));
	assert_non_null(engine_simd_name());
	for (int i = 0; i < 5 * 64; i++)
		kv[i] = engine_fp32_to_fp16((float)(i % 7) - 3.0f);
	for (int i = 0; i < 64; i++)
		q[i] = (float)(i % 5) - 2.0f;
	engine_attn_scores_f16(q, kv, 64, 5, 64, 1.0f, s);
	engine_attn_values_f16(p, kv, 64, 5, 64, o);
	for (int j = 0; j < 5; j++) {
		double ref = 0;

		for (int d = 0; d < 64; d++)
			ref += q[d] * (double)engine_fp16_to_fp32(kv[j * 64 + d]);
		assert_true(fabs(s[j] - ref) < 1e-4); /* small integers: exact */
	}
	for (int d = 0; d < 64; d++) {
		double ref = 0;

		for (int j = 0; j < 5; j++)
			ref += p[j] * (double)engine_fp16_to_fp32(kv[j * 64 + d]);
		assert_true(fabs(o[d] - ref) < 1e-4);
	}
	/* e^(0 − ln 3) + e^0 = 4/3 */
	s[0] = 0.0f;
	s[1] = (float)log(3.0);
	assert_true(fabs(engine_softmax(s, 2) - 4.0 / 3.0) < 1e-6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_q4_0),
		cmocka_unit_test(test_q8_0),
		cmocka_unit_test(test_q4_k),
		cmocka_unit_test(test_q5_k),
		cmocka_unit_test(test_q6_k),
		cmocka_unit_test(test_f32),
		cmocka_unit_test(test_f16),
		cmocka_unit_test(test_bf16),
		cmocka_unit_test(test_zero_blocks),
		cmocka_unit_test(test_vector_kernels),
		cmocka_unit_test(test_dispatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
