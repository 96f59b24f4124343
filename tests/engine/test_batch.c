/*
 * test_batch.c — the session-level features of the context on a small
 * random-weight qwen2 model made by scripts/make_test_model.py:
 *   - prefix cache: a second context whose prompt starts with a cached
 *     prompt takes whole blocks from the cache and gets the same logits as
 *     a context that computed everything;
 *   - continuous batching: engine_eval_multi over three sessions gives each
 *     the logits it gets when decoding alone;
 *   - context shift keeps generating when the window is full;
 *   - misuse is refused (duplicate contexts, tokens out of range);
 *   - the abort callback stops an evaluation with HEARTH_ECANCELED.
 * The reference is the engine itself computing the same positions without
 * the feature: the features must not change results beyond float noise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static engine_model *model;
static int n_vocab;

static int setup(void **state)
{
	const char *src = getenv("HEARTH_SRC"), *build = getenv("HEARTH_BUILD");
	const char *py = getenv("HEARTH_PYTHON");
	engine_model_params mp = engine_model_default_params();
	engine_model_info info;
	char cmd[3 * PATH_MAX], path[PATH_MAX], err[512];

	(void)state;
	if (!src || !build || !py) {
		fprintf(stderr, "test_batch: run through meson test (HEARTH_* unset)\n");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/tests/engine/batch-model", build);
	snprintf(cmd, sizeof(cmd), "%s %s/scripts/make_test_model.py --arch qwen2 "
		 "--type F16 --out %s >/dev/null", py, src, path);
	if (system(cmd) != 0) {
		fprintf(stderr, "test_batch: %s failed\n", cmd);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/tests/engine/batch-model.gguf", build);
	mp.path = path;
	if (engine_model_load(&mp, &model, err, sizeof(err))) {
		fprintf(stderr, "test_batch: %s\n", err);
		return -1;
	}
	engine_model_get_info(model, &info);
	n_vocab = info.n_vocab;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	engine_model_free(model);
	return 0;
}

static engine_context *new_ctx(int n_ctx, int n_batch, engine_prefix_cache *pc,
			       int keep_on_shift)
{
	engine_context_params p = engine_context_default_params();
	engine_context *c = NULL;

	p.n_ctx = n_ctx;
	p.n_batch = n_batch;
	p.n_threads = 2;
	p.prefix_cache = pc;
	p.n_keep_on_shift = keep_on_shift;
	assert_int_equal(engine_context_new(model, &p, &c), 0);
	return c;
}

static void fill_tokens(int32_t *t, int n, unsigned seed)
{
	int i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		t[i] = (int32_t)((seed >> 8) % (unsigned)n_vocab);
	}
}

/* max |a-b| relative to the range of a */
static double rel_err(const float *a, const float *b)
{
	float lo = a[0], hi = a[0];
	double e = 0.0;
	int i;

	for (i = 0; i < n_vocab; i++) {
		lo = fminf(lo, a[i]);
		hi = fmaxf(hi, a[i]);
		e = fmax(e, fabs((double)a[i] - b[i]));
	}
	return e / (hi - lo);
}

static void test_prefix_cache(void **state)
{
	engine_prefix_cache *pc = NULL;
	engine_context *a, *b, *ref;
	int32_t toks[120];
	uint64_t hits = 0, stored = 0;

	(void)state;
	fill_tokens(toks, 120, 5);
	assert_int_equal(engine_prefix_cache_new(model, 8u << 20, &pc), 0);
	a = new_ctx(256, 64, pc, 0);
	b = new_ctx(256, 64, pc, 0);
	ref = new_ctx(256, 64, NULL, 0);
	/* a computes and stores the first 100 tokens: 3 whole blocks of 32 */
	assert_int_equal(engine_eval(a, toks, 100), 0);
	assert_int_equal(engine_last_cached(a), 0);
	engine_prefix_cache_stats(pc, &hits, &stored, NULL);
	assert_int_equal(stored, 3);
	/* b shares those 100 tokens and adds 20 more: 96 come from the cache */
	assert_int_equal(engine_eval(b, toks, 120), 0);
	assert_int_equal(engine_last_cached(b), 96);
	assert_int_equal(engine_n_past(b), 120);
	assert_int_equal(engine_eval(ref, toks, 120), 0);
	assert_true(rel_err(engine_logits(ref), engine_logits(b)) < 1e-4);
	/* a different history must not hit: change token 0 */
	toks[0] = (toks[0] + 1) % n_vocab;
	engine_kv_truncate(b, 0);
	assert_int_equal(engine_eval(b, toks, 120), 0);
	assert_int_equal(engine_last_cached(b), 0);
	engine_context_free(a);
	engine_context_free(b);
	engine_context_free(ref);
	engine_prefix_cache_free(pc);
}

static void test_eval_multi(void **state)
{
	engine_context *solo[3], *batch[3], *second;
	int32_t prompt[3][40], next[3];
	int i, step;

	(void)state;
	for (i = 0; i < 3; i++) {
		int n = 10 + 13 * i; /* different lengths: different positions */

		fill_tokens(prompt[i], n, 100 + (unsigned)i);
		solo[i] = new_ctx(128, 8, NULL, 0);
		batch[i] = new_ctx(128, 8, NULL, 0);
		assert_int_equal(engine_eval(solo[i], prompt[i], n), 0);
		assert_int_equal(engine_eval(batch[i], prompt[i], n), 0);
	}
	for (step = 0; step < 4; step++) {
		for (i = 0; i < 3; i++) {
			next[i] = (int32_t)((7 * step + 31 * i) % n_vocab);
			assert_int_equal(engine_eval_next(solo[i], next[i]), 0);
		}
		assert_int_equal(engine_eval_multi(batch, next, 3), 0);
		for (i = 0; i < 3; i++) {
			assert_int_equal(engine_n_past(batch[i]), engine_n_past(solo[i]));
			assert_true(rel_err(engine_logits(solo[i]), engine_logits(batch[i])) < 1e-4);
		}
	}
	/* the same context twice, or a bad token, is refused */
	second = batch[1];
	batch[1] = batch[0];
	assert_int_equal(engine_eval_multi(batch, next, 2), HEARTH_EINVAL);
	batch[1] = second;
	for (i = 0; i < 3; i++) {
		engine_context_free(solo[i]);
		engine_context_free(batch[i]);
	}
}

static void test_context_full_and_shift(void **state)
{
	engine_context *c = new_ctx(48, 16, NULL, 0);
	engine_context *s = new_ctx(48, 16, NULL, 8);
	int32_t toks[48];
	int i;

	(void)state;
	fill_tokens(toks, 48, 77);
	assert_int_equal(engine_eval(c, toks, 40), 0);
	assert_int_equal(engine_eval(c, toks, 9), HEARTH_EFULL);
	assert_int_equal(engine_n_past(c), 40); /* nothing was taken */
	assert_non_null(strstr(engine_context_error(c), "context full"));
	/* with a shift, decoding goes on past the window, keeping 8 tokens */
	assert_int_equal(engine_eval(s, toks, 40), 0);
	for (i = 0; i < 30; i++) {
		int32_t t = (int32_t)(i % n_vocab);

		assert_int_equal(engine_eval(s, &t, 1), 0);
		assert_true(engine_n_past(s) <= 48);
		assert_true(isfinite(engine_logits(s)[0]));
	}
	assert_int_equal(memcmp(engine_history(s), toks, 8 * sizeof(int32_t)), 0);
	toks[0] = n_vocab; /* out of range */
	assert_int_equal(engine_eval(c, toks, 1), HEARTH_EINVAL);
	engine_context_free(c);
	engine_context_free(s);
}

static bool abort_after(void *ud)
{
	int *calls = ud;

	return ++*calls >= 2; /* polled once per layer: stop at the second */
}

static void test_abort(void **state)
{
	engine_context_params p = engine_context_default_params();
	engine_context *c = NULL;
	int32_t toks[16];
	int calls = 0;

	(void)state;
	fill_tokens(toks, 16, 3);
	p.n_ctx = 64;
	p.abort_cb = abort_after;
	p.abort_user_data = &calls;
	assert_int_equal(engine_context_new(model, &p, &c), 0);
	assert_int_equal(engine_eval(c, toks, 16), HEARTH_ECANCELED);
	assert_int_equal(calls, 2);
	assert_int_equal(engine_n_past(c), 0); /* the aborted tile is not kept */
	engine_context_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_cache),
		cmocka_unit_test(test_eval_multi),
		cmocka_unit_test(test_context_full_and_shift),
		cmocka_unit_test(test_abort),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
