/*
 * kernels_tiled.c — the matmul driver shared by the SIMD paths: plan the
 * scratch, prepare (quantize) the activations once per call, then split
 * the weight rows over the pool's threads.
 *
 * Work split: the rows are cut into chunks that threads claim from an
 * atomic counter, so a thread slowed by another process on its core (the
 * reference box has two, shared) does not hold the others up at a static
 * boundary. Inside a chunk the tokens are the outer loop and the rows the
 * inner one: a chunk's weights (≤ CHUNK_BYTES) stay in L2 while every
 * tile of tmax tokens sweeps them, and the tile's activations stay in L1.
 *
 * Many tokens (prefill) may take a type's gemm hook instead: the path
 * prepares its activations in the gemm layout and hands it whole chunks
 * (gemm_rows rows, or planned chunks when that is 0), all tokens at once.
 * Matrices the path repacked at load time (engine_mat.layout) always go
 * through its packed[] descriptions.
 *
 * Allocation: none; the prepared activations live in the caller's scratch
 * (ktiled_matmul_scratch bytes).
 *
 * Threading: any thread, one call at a time per thread pool.
 */
#include "kernels_tiled.h"

#include <stdatomic.h>
#include <string.h>

/* A chunk's weight bytes: small enough that the tiles re-reading it for
 * every token tile find it in L2 (1-2 MiB on current x86 cores). */
#define CHUNK_BYTES (192 * 1024)
/* Chunks per thread to aim for, so a late thread can catch up. */
#define CHUNKS_PER_THREAD 4
/* Below this many activation elements one thread prepares them all: the
 * pool round trip costs more than the quantization. */
#define PREP_PARALLEL_MIN 65536

typedef struct kjob {
	const ktype *kt;
	const engine_mat *w;
	const float *x;         /* (n_tok, ne0) f32 */
	const uint8_t *xa;      /* (n_tok, xa_stride) prepared, or x */
	uint8_t *xa_out;        /* the same, writable, while preparing */
	size_t xa_stride;
	int n_tok;
	bool gemm;              /* the many-token path (kt->gemm) */
	float *y;               /* (n_tok, ne1) f32 */
	int64_t chunk_rows;     /* multiple of kt->rmax */
	int64_t n_chunks;
	atomic_llong next;      /* next unclaimed chunk */
} kjob;

static bool use_gemm(const ktype *kt, int n_tok, unsigned flags)
{
	if (kt->gemm && kt->gemm_prompt)
		return !(flags & ENGINE_MM_DECODE);
	return kt->gemm && kt->gemm_min > 0 && n_tok >= kt->gemm_min;
}

static size_t act_stride(const ktype *kt, int64_t ne0, bool gemm)
{
	size_t b = gemm ? kt->gemm_act_bytes(ne0) : kt->act_bytes(ne0);

	return (b + KT_ALIGN - 1) / KT_ALIGN * KT_ALIGN;
}

static uint8_t *align_up(void *p)
{
	uintptr_t u = (uintptr_t)p;

	return (uint8_t *)((u + KT_ALIGN - 1) & ~(uintptr_t)(KT_ALIGN - 1));
}

/* Tokens [ith·n/nth, (ith+1)·n/nth) quantized into scratch. */
static void prep_tokens(int ith, int nth, void *arg)
{
	kjob *j = arg;
	int t0 = (int)((int64_t)j->n_tok * ith / nth);
	int t1 = (int)((int64_t)j->n_tok * (ith + 1) / nth);

	for (int t = t0; t < t1; t++)
		(j->gemm ? j->kt->gemm_prep : j->kt->act_prep)(
			j->x + (size_t)t * (size_t)j->w->ne0,
			j->xa_out + (size_t)t * j->xa_stride, j->w->ne0);
}

/* One chunk of rows [r0, r1) for every token. */
static void run_chunk(const kjob *j, int64_t r0, int64_t r1)
{
	const ktype *kt = j->kt;
	const engine_mat *w = j->w;

	if (j->gemm) {
		kt->gemm((const uint8_t *)w->data + r0 * (int64_t)w->row_bytes,
			 w->row_bytes, (int)(r1 - r0), j->xa, j->xa_stride,
			 j->n_tok, w->ne0, j->y + r0, w->ne1);
		return;
	}

	for (int t0 = 0; t0 < j->n_tok; t0 += kt->tmax) {
		int nt = j->n_tok - t0 < kt->tmax ? j->n_tok - t0 : kt->tmax;

		for (int64_t r = r0; r < r1; r += kt->rmax) {
			int nr = r1 - r < kt->rmax ? (int)(r1 - r) : kt->rmax;

			kt->tile((const uint8_t *)w->data + r * (int64_t)w->row_bytes,
				 w->row_bytes, nr, j->xa + (size_t)t0 * j->xa_stride,
				 j->xa_stride, nt, w->ne0,
				 j->y + (int64_t)t0 * w->ne1 + r, w->ne1);
		}
	}
}

static void matmul_worker(int ith, int nth, void *arg)
{
	kjob *j = arg;
	long long c;

	(void)ith;
	(void)nth;
	while ((c = atomic_fetch_add_explicit(&j->next, 1,
					      memory_order_relaxed)) < j->n_chunks) {
		int64_t r0 = c * j->chunk_rows;
		int64_t r1 = r0 + j->chunk_rows < j->w->ne1 ? r0 + j->chunk_rows
							     : j->w->ne1;

		run_chunk(j, r0, r1);
	}
}

/* Rows per chunk: a multiple of rmax, enough chunks to balance threads,
 * and at most CHUNK_BYTES of weights — so several token tiles find them in
 * L2, and in decode so the threads finish a big matrix (the output layer
 * is ~150 MB) within a small chunk of each other. */
static int64_t plan_chunk_rows(const ktype *kt, const engine_mat *w, int nth)
{
	int64_t rows = (w->ne1 + (int64_t)nth * CHUNKS_PER_THREAD - 1) /
		       ((int64_t)nth * CHUNKS_PER_THREAD);
	int64_t fit = CHUNK_BYTES / (int64_t)w->row_bytes;

	if (rows > fit)
		rows = fit;
	rows = (rows + kt->rmax - 1) / kt->rmax * kt->rmax;
	return rows > 0 ? rows : kt->rmax;
}

/* The description of w's type and layout on a path, NULL if it has none. */
static const ktype *ktype_of(const ktype *const types[GGML_T_COUNT],
			     const ktype *const packed[GGML_T_COUNT],
			     const engine_mat *w)
{
	if (w->type >= GGML_T_COUNT)
		return NULL;
	if (w->layout)
		return packed ? packed[w->type] : NULL;
	return types[w->type];
}

void ktiled_matmul(const ktype *const types[GGML_T_COUNT],
		   const ktype *const packed[GGML_T_COUNT],
		   engine_threadpool *tp, const engine_mat *w, const float *x,
		   int n_tok, float *y, void *scratch, unsigned flags)
{
	const ktype *kt = ktype_of(types, packed, w);
	int nth = engine_threadpool_size(tp);
	kjob j = { .kt = kt, .w = w, .x = x, .n_tok = n_tok, .y = y };

	if (!kt) {
		engine_kernels_scalar.matmul(tp, w, x, n_tok, y, scratch, flags);
		return;
	}
	if (n_tok <= 0 || w->ne1 <= 0)
		return;
	j.gemm = use_gemm(kt, n_tok, flags);
	if ((j.gemm ? kt->gemm_act_bytes : kt->act_bytes)(w->ne0) == 0) {
		j.xa = (const uint8_t *)x;
		j.xa_stride = (size_t)w->ne0 * sizeof(float);
	} else {
		j.xa_out = align_up(scratch);
		j.xa = j.xa_out;
		j.xa_stride = act_stride(kt, w->ne0, j.gemm);
		if ((int64_t)n_tok * w->ne0 >= PREP_PARALLEL_MIN && nth > 1)
			engine_threadpool_run(tp, prep_tokens, &j);
		else
			prep_tokens(0, 1, &j);
	}
	j.chunk_rows = j.gemm && kt->gemm_rows ? kt->gemm_rows
					       : plan_chunk_rows(kt, w, nth);
	j.n_chunks = (w->ne1 + j.chunk_rows - 1) / j.chunk_rows;
	atomic_init(&j.next, 0);
	engine_threadpool_run(tp, matmul_worker, &j);
}

size_t ktiled_matmul_scratch(const ktype *const types[GGML_T_COUNT],
			     const ktype *const packed[GGML_T_COUNT],
			     const engine_mat *w, int n_tok)
{
	const ktype *kt = ktype_of(types, packed, w);

	if (!kt)
		return engine_kernels_scalar.matmul_scratch(w, n_tok);
	size_t tile = 0, gemm = 0;

	if (n_tok <= 0)
		return 0;
	/* a call with fewer tokens may take the other path: cover both (a
	 * prompt call, flags 0, takes gemm whenever any call can) */
	if (kt->act_bytes && kt->act_bytes(w->ne0))
		tile = act_stride(kt, w->ne0, false);
	if (use_gemm(kt, n_tok, 0) && kt->gemm_act_bytes(w->ne0))
		gemm = act_stride(kt, w->ne0, true);
	if (tile == 0 && gemm == 0)
		return 0;
	/* + KT_ALIGN: the caller's buffer need not be aligned */
	return (size_t)n_tok * (tile > gemm ? tile : gemm) + KT_ALIGN;
}

/* ---------------------------------------------------------------------------
 * Row lookup in the R16 layout (embeddings tied to a repacked output):
 * each block is put back in GGML's layout and dequantized as such.
 */
void ktiled_r16_row(const engine_mat *w, int64_t r, float *dst)
{
	bool q8 = w->type == GGML_T_Q8_0;
	size_t bs = q8 ? sizeof(block_q8_0) : sizeof(block_q4_0);
	int64_t nb = w->ne0 / QK8_0, g = r / 16;
	int rr = (int)(r % 16);
	const uint8_t *grp = (const uint8_t *)w->data + (size_t)g * 16 * w->row_bytes;
	uint8_t blk[sizeof(block_q8_0)];

	for (int64_t b = 0; b < nb; b++) {
		const uint8_t *o = grp + (size_t)b * 16 * bs;

		memcpy(blk, o + 16 * bs - 16 * sizeof(ggml_half) + rr * sizeof(ggml_half),
		       sizeof(ggml_half));
		for (size_t k = 0; k < (bs - 2) / 4; k++)
			for (int i = 0; i < 4; i++)
				blk[2 + 4 * k + i] = (uint8_t)(o[k * 64 + 4 * rr + i] ^
							       (q8 ? 0x80 : 0));
		engine_dequant_row(w->type, blk, dst + b * QK8_0, QK8_0);
	}
}
