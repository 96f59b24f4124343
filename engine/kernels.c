/*
 * kernels.c — run-time choice of the SIMD path and the engine_matmul()
 * entry point the forward pass calls.
 *
 * Every compiled-in path is listed below, best first. The first one whose
 * cpu_ok() accepts the running CPU wins, unless the HEARTH_SIMD environment
 * variable names another available path ("scalar" forces the reference;
 * an unknown or unavailable name is ignored and the best path used, so a
 * stale setting never stops the daemon).
 *
 * The choice is made once per process (pthread_once) and never changes
 * afterwards: CPU features are a property of the process, not of a handle,
 * and a per-call lookup would cost a getenv() per matmul. The cached
 * pointer is the one piece of static mutable state in the engine; it is
 * written once, before any reader can see it.
 *
 * Threading: any thread.
 */
#include "kernels_int.h"
#include "kernels_tiled.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Another SIMD file adds its table here, above scalar (best first); its
 * #if must match the meson condition that compiles the file. */
static const engine_kernels *const kernel_paths[] = {
#if defined(__x86_64__)
	&engine_kernels_amx,
	&engine_kernels_avx512,
	&engine_kernels_avx2,
#endif
#if defined(__aarch64__)
	&engine_kernels_neon,
#endif
	&engine_kernels_scalar,
};

#define N_PATHS (sizeof(kernel_paths) / sizeof(kernel_paths[0]))

static pthread_once_t kernels_once = PTHREAD_ONCE_INIT;
static const engine_kernels *kernels_active; /* see the file comment */

const engine_kernels *engine_kernels_find(const char *name)
{
	for (size_t i = 0; i < N_PATHS; i++)
		if (strcmp(kernel_paths[i]->name, name) == 0 &&
		    kernel_paths[i]->cpu_ok())
			return kernel_paths[i];
	return NULL;
}

static void kernels_pick(void)
{
	const char *force = getenv("HEARTH_SIMD");

	if (force && *force) {
		kernels_active = engine_kernels_find(force);
		if (kernels_active)
			return;
	}
	for (size_t i = 0; i < N_PATHS; i++) {
		if (kernel_paths[i]->cpu_ok()) {
			kernels_active = kernel_paths[i];
			return;
		}
	}
	kernels_active = &engine_kernels_scalar; /* scalar runs anywhere */
}

const engine_kernels *engine_kernels_active(void)
{
	pthread_once(&kernels_once, kernels_pick);
	return kernels_active;
}

const char *engine_simd_name(void)
{
	return engine_kernels_active()->name;
}

void engine_matmul(engine_threadpool *tp, const engine_mat *w, const float *x,
		   int n_tok, float *y, void *scratch, unsigned flags)
{
	engine_kernels_active()->matmul(tp, w, x, n_tok, y, scratch, flags);
}

size_t engine_matmul_scratch(const engine_mat *w, int n_tok)
{
	return engine_kernels_active()->matmul_scratch(w, n_tok);
}

size_t engine_matmul_repack_size(const engine_mat *w)
{
	const engine_kernels *k = engine_kernels_active();

	return k->repack_size ? k->repack_size(w) : 0;
}

void engine_mat_row(const engine_mat *w, int64_t r, float *dst)
{
	if (w->layout == KT_LAYOUT_R16)
		ktiled_r16_row(w, r, dst);
	else
		engine_dequant_row(w->type, (const uint8_t *)w->data +
				   (size_t)r * w->row_bytes, dst, w->ne0);
}

void engine_matmul_repack(const engine_mat *w, void *dst, engine_mat *out)
{
	const engine_kernels *k = engine_kernels_active();

	if (k->repack && k->repack_size && k->repack_size(w))
		k->repack(w, dst, out);
	else
		*out = *w;
}
