/*
 * kernels_int.h — private to the kernel files of engine/ (kernels.c,
 * kernels_scalar.c, kernels_avx2.c, …, and quant.c for the shared K-quant
 * helpers). Never included from outside engine/.
 *
 * Dispatch: each SIMD path fills one const engine_kernels table in its own
 * file; kernels.c holds the list of compiled-in tables (best first), asks
 * each whether the running CPU supports it and picks the first that does
 * (or the one named by the HEARTH_SIMD environment variable). The scalar
 * table is the reference every other path is tested against.
 */
#ifndef HEARTH_KERNELS_INT_H
#define HEARTH_KERNELS_INT_H

#include "engine_int.h"

typedef struct engine_kernels {
	const char *name;     /* "scalar", "avx2", "avx512", "neon" */
	/* true if the running CPU can execute this path (cpuid/hwcaps). */
	bool (*cpu_ok)(void);
	/* engine_matmul() contract; tp may be NULL. */
	void (*matmul)(engine_threadpool *tp, const engine_mat *w,
		       const float *x, int n_tok, float *y, void *scratch,
		       unsigned flags);
	/* Bytes of scratch matmul needs for w and n_tok tokens (may be 0). */
	size_t (*matmul_scratch)(const engine_mat *w, int n_tok);
	/* Vector kernels of the forward pass, contracts in engine_int.h
	 * (engine_attn_scores_f16 …); NULL: the scalar reference of
	 * kernels_vec.c runs instead. */
	void (*attn_scores_f16)(const float *q, const ggml_half *k,
				size_t k_stride, int n_kv, int hd, float scale,
				float *s);
	void (*attn_values_f16)(const float *p, const ggml_half *v,
				size_t v_stride, int n_kv, int hd, float *o);
	void (*attn_f16)(const float *q, int n_q, const ggml_half *k,
			 const ggml_half *v, size_t kv_stride, int n_kv, int hd,
			 float scale, float *sc, float *o);
	float (*softmax)(float *s, int n);
	void (*swiglu)(float *g, const float *u, size_t n);
	void (*f32_to_f16)(const float *x, ggml_half *h, size_t n);
	/* Optional load-time repacking (engine_matmul_repack contract);
	 * NULL: the path reads every matrix as GGUF stores it. */
	size_t (*repack_size)(const engine_mat *w);
	void (*repack)(const engine_mat *w, void *dst, engine_mat *out);
} engine_kernels;

/* One table per kernel file. */
extern const engine_kernels engine_kernels_scalar;
/* SIMD paths (kernels_avx2.c, kernels_avx512.c on x86-64; kernels_neon.c
 * on arm64), compiled only for their architecture. */
extern const engine_kernels engine_kernels_avx2;
extern const engine_kernels engine_kernels_avx512;
extern const engine_kernels engine_kernels_amx;   /* avx512 + AMX tiles */
extern const engine_kernels engine_kernels_neon;

/* The path engine_matmul() uses (chosen once per process). */
const engine_kernels *engine_kernels_active(void);
/* A compiled-in path by name if the CPU supports it, else NULL (tests use
 * it to compare each SIMD path with "scalar"). */
const engine_kernels *engine_kernels_find(const char *name);

/*
 * 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block, unpacked
 * from the 12 packed bytes exactly as ggml stores them:
 *   j < 4:  scale = s[j] & 63,         min = s[j+4] & 63
 *   j >= 4: scale = (s[j+4] & 15) | (s[j-4] >> 6) << 4
 *           min   = (s[j+4] >> 4)  | (s[j]   >> 6) << 4
 * i.e. bytes 0..3 hold the scales of sub-blocks 0..3 (low 6 bits) plus the
 * top 2 bits of scales 4..7; bytes 4..7 the same for mins; bytes 8..11 the
 * low nibbles of scale (low half) and min (high half) of sub-blocks 4..7.
 */
static inline void engine_k4_scale_min(const uint8_t *s, int j, uint8_t *sc,
				       uint8_t *m)
{
	if (j < 4) {
		*sc = s[j] & 63;
		*m = s[j + 4] & 63;
	} else {
		*sc = (uint8_t)((s[j + 4] & 15) | ((s[j - 4] >> 6) << 4));
		*m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
	}
}

#endif
