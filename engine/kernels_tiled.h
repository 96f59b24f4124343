/*
 * kernels_tiled.h — the matmul driver the SIMD paths share (kernels_tiled.c)
 * and the per-type hooks each path fills in. Private to the kernel files of
 * engine/.
 *
 * A SIMD path describes each weight type it accelerates with a ktype: how
 * to prepare one token's activations (quantize them on the fly into the
 * path's own block layout, once per matmul call, not once per row) and a
 * tile function computing the dot products of up to rmax weight rows with
 * up to tmax tokens, reading each weight block once per tile rather than
 * once per token. The driver (plain C, no intrinsics) plans the scratch,
 * prepares the activations, and hands row chunks to the pool's threads.
 *
 * Types a path leaves NULL fall back to the scalar reference.
 */
#ifndef HEARTH_KERNELS_TILED_H
#define HEARTH_KERNELS_TILED_H

#include "kernels_int.h"

/* Every path's activation blocks start at 64-byte boundaries in scratch. */
#define KT_ALIGN 64
/* Upper bound on any path's tile sizes (the driver's loops assume it). */
#define KT_MAX_ROWS 8
#define KT_MAX_TOKENS 8

typedef struct ktype {
	int rmax;  /* weight rows per tile() call, 1..KT_MAX_ROWS */
	int tmax;  /* tokens per tile() call, 1..KT_MAX_TOKENS */
	/* Bytes of one token's prepared activations for rows of ne0
	 * elements (the driver rounds it up to KT_ALIGN); 0 means tile()
	 * reads the f32 activations directly and act_prep is NULL. */
	size_t (*act_bytes)(int64_t ne0);
	/* Prepare one token: x (ne0) f32 → xa (act_bytes(ne0)). */
	void (*act_prep)(const float *x, void *xa, int64_t ne0);
	/*
	 * y[t·ldy + r] = row r of the weights · token t, for r < nr ≤ rmax
	 * and t < nt ≤ tmax. Row r starts at w + r·row_bytes; token t's
	 * activations at xa + t·xa_stride (prepared, or ne0 f32 if
	 * act_bytes is 0). ne0 is a multiple of the type's block size.
	 */
	void (*tile)(const uint8_t *w, size_t row_bytes, int nr,
		     const uint8_t *xa, size_t xa_stride, int nt, int64_t ne0,
		     float *y, int64_t ldy);
	/*
	 * Optional many-token path (prefill), used when n_tok ≥ gemm_min
	 * (0: never): activations prepared by gemm_prep (gemm_act_bytes per
	 * token), then gemm() computes nr ≤ gemm_rows rows for all n_tok
	 * tokens, y[t·ldy + r] — it repacks those rows' weights once into a
	 * layout where rows are vector lanes and streams every token past
	 * them, which costs a fraction of the per-row-and-token unpacking
	 * the tile path does.
	 */
	int gemm_min;
	/* gemm rounds differently from tile (bf16 vs int8): take it for
	 * every prompt call and never for decode (ENGINE_MM_DECODE),
	 * whatever gemm_min says, so numerics follow the token's role, not
	 * how its prompt was split into calls */
	bool gemm_prompt;
	int gemm_rows;  /* rows per gemm() call; 0: any multiple of rmax
			   (chunks planned as for the tile path) */
	size_t (*gemm_act_bytes)(int64_t ne0);
	void (*gemm_prep)(const float *x, void *xa, int64_t ne0);
	void (*gemm)(const uint8_t *w, size_t row_bytes, int nr,
		     const uint8_t *xa, size_t xa_stride, int n_tok,
		     int64_t ne0, float *y, int64_t ldy);
} ktype;

/* The one repacked layout so far: the AVX-512 path's groups of 16 rows
 * (kernels_avx512.c). engine_mat.layout holds it. */
#define KT_LAYOUT_R16 1

/* Row r of a KT_LAYOUT_R16 matrix (Q4_0 or Q8_0) as f32: dst (w->ne0).
 * Layout: per group of 16 rows, per block of 32 columns, the 16 rows'
 * quant bytes interleaved 4 at a time ([k][4·row + i] = byte 4k + i of the
 * row's block, Q8_0 bytes stored + 128), then the 16 fp16 scales. */
void ktiled_r16_row(const engine_mat *w, int64_t r, float *dst);

/* engine_matmul() for a path whose types are described by types[] (indexed
 * by GGML type id; NULL entries run the scalar reference) and, for
 * matrices it repacked (w->layout != 0), packed[] (NULL if none). */
void ktiled_matmul(const ktype *const types[GGML_T_COUNT],
		   const ktype *const packed[GGML_T_COUNT],
		   engine_threadpool *tp, const engine_mat *w, const float *x,
		   int n_tok, float *y, void *scratch, unsigned flags);
size_t ktiled_matmul_scratch(const ktype *const types[GGML_T_COUNT],
			     const ktype *const packed[GGML_T_COUNT],
			     const engine_mat *w, int n_tok);

/* The engine_kernels matmul hooks NAME_matmul / NAME_matmul_scratch of a
 * path built on ktiled_matmul with its tables TYPES and PACKED. */
#define KTILED_HOOKS(NAME, TYPES, PACKED)                                      \
	static void NAME##_matmul(engine_threadpool *tp, const engine_mat *w,  \
				  const float *x, int n_tok, float *y,         \
				  void *scratch, unsigned flags)               \
	{                                                                      \
		ktiled_matmul(TYPES, PACKED, tp, w, x, n_tok, y, scratch,      \
			      flags);                                          \
	}                                                                      \
	static size_t NAME##_matmul_scratch(const engine_mat *w, int n_tok)    \
	{                                                                      \
		return ktiled_matmul_scratch(TYPES, PACKED, w, n_tok);         \
	}

/* CPU feature checks (kernels_cpu.c, compiled without SIMD flags so they
 * are safe to run on any CPU). */
bool kcpu_has_avx2(void);   /* AVX2 + FMA + F16C, OS saves YMM state */
bool kcpu_has_avx512(void); /* + AVX-512 F/BW/VL/DQ/VNNI/VBMI, OS saves ZMM */
bool kcpu_has_amx(void);    /* + AMX-TILE/INT8, tile state granted (asks) */
bool kcpu_has_neon(void);   /* arm64 Advanced SIMD */

#endif
