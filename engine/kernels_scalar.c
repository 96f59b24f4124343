/*
 * kernels_scalar.c — the reference kernel path: plain C, no intrinsics,
 * built on the scalar engine_vec_dot_f32() of quant.c. Every SIMD path is
 * tested against it; it is also what runs on a CPU no SIMD path accepts.
 *
 * Threading: matmul splits the output rows (weight rows) into one
 * contiguous range per pool thread; threads write disjoint columns of y.
 */
#include "kernels_int.h"

typedef struct matmul_job {
	const engine_mat *w;
	const float *x;    /* (n_tok, ne0) f32 */
	int n_tok;
	float *y;          /* (n_tok, ne1) f32 */
} matmul_job;

/* Rows [ith·per, (ith+1)·per) of the weight matrix, for every token. */
static void matmul_rows(int ith, int nth, void *arg)
{
	const matmul_job *job = arg;
	const engine_mat *w = job->w;
	int64_t per = (w->ne1 + nth - 1) / nth;
	int64_t r0 = per * ith;
	int64_t r1 = r0 + per < w->ne1 ? r0 + per : w->ne1;

	for (int64_t r = r0; r < r1; r++) {
		const void *row = (const uint8_t *)w->data + r * w->row_bytes;

		for (int t = 0; t < job->n_tok; t++)
			job->y[t * w->ne1 + r] = engine_vec_dot_f32(
				w->type, row, job->x + t * w->ne0, w->ne0);
	}
}

static void scalar_matmul(engine_threadpool *tp, const engine_mat *w,
			  const float *x, int n_tok, float *y, void *scratch, unsigned flags)
{
	matmul_job job = { .w = w, .x = x, .n_tok = n_tok, .y = y };

	(void)scratch; /* dequantizes on the stack, nothing to stage */
	(void)flags;   /* one rounding (none) for every call */
	engine_threadpool_run(tp, matmul_rows, &job);
}

static size_t scalar_matmul_scratch(const engine_mat *w, int n_tok)
{
	(void)w;
	(void)n_tok;
	return 0;
}

static bool scalar_cpu_ok(void)
{
	return true;
}

const engine_kernels engine_kernels_scalar = {
	.name = "scalar",
	.cpu_ok = scalar_cpu_ok,
	.matmul = scalar_matmul,
	.matmul_scratch = scalar_matmul_scratch,
};
