/*
 * test_sampler.c — sampling on hand-made logits, where the right answer is
 * known: greedy is the argmax; a seed reproduces a sequence; top-k 1 and
 * min-p near 1 leave only the best token; top-p keeps the smallest set
 * reaching p; the repetition penalty divides positive logits; draw
 * frequencies follow softmax(logits / T).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine.h"

#include <math.h>
#include <string.h>

#define NV 8

static const float logits[NV] = { 1.0f, 3.0f, 0.5f, 2.9f, -1.0f, 0.0f, 2.0f, -3.0f };

static engine_sampler *make(float temp, int top_k, float top_p, float min_p,
			    float rep, uint64_t seed)
{
	engine_sampler_params p = engine_sampler_default_params();
	engine_sampler *s = NULL;

	p.temperature = temp;
	p.top_k = top_k;
	p.top_p = top_p;
	p.min_p = min_p;
	p.repeat_penalty = rep;
	p.seed = seed;
	assert_int_equal(engine_sampler_new(&p, NV, &s), 0);
	return s;
}

static void test_greedy(void **state)
{
	engine_sampler *s = make(0.0f, 0, 1.0f, 0.0f, 1.0f, 1);

	(void)state;
	assert_int_equal(engine_sampler_sample(s, logits), 1); /* 3.0 is the max */
	engine_sampler_free(s);
}

static void test_seed_reproduces(void **state)
{
	engine_sampler *a = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 42);
	engine_sampler *b = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 42);
	engine_sampler *c = make(1.0f, 0, 1.0f, 0.0f, 1.0f, 43);
	int i, same_c = 0;

	(void)state;
	for (i = 0; i < 200; i++) {
		int32_t x = engine_sampler_sample(a, logits);

		assert_int_equal(x, engine_sampler_sample(b, logits));
		same_c += x == engine_sampler_sample(c, logits);
	}
	/* another seed must give another sequence (it agrees only by chance) */
	assert_true(same_c < 200);
	engine_sampler_free(a);
	engine_sampler_free(b);
	engine_sampler_free(c);
}

static void test_filters_leave_best(void **state)
{
	engine_sampler *k1 = make(1.5f, 1, 1.0f, 0.0f, 1.0f, 7);
	/* min_p 0.99: p(3.0)/p(2.9) = e^-0.1 ≈ 0.905 < 0.99 → only token 1 */
	engine_sampler *mp = make(1.0f, 0, 1.0f, 0.99f, 1.0f, 7);
	int i;

	(void)state;
	for (i = 0; i < 100; i++) {
		assert_int_equal(engine_sampler_sample(k1, logits), 1);
		assert_int_equal(engine_sampler_sample(mp, logits), 1);
	}
	engine_sampler_free(k1);
	engine_sampler_free(mp);
}

static void test_top_k_selects(void **state)
{
	/* top_k 3 at a high temperature: only tokens 1 (3.0), 3 (2.9) and 6
	 * (2.0) may come out, and each does over 600 draws (p ≥ 0.2 each) */
	engine_sampler *s = make(5.0f, 3, 1.0f, 0.0f, 1.0f, 11);
	int i, seen[NV] = { 0 };

	(void)state;
	for (i = 0; i < 600; i++)
		seen[engine_sampler_sample(s, logits)]++;
	assert_true(seen[1] > 0 && seen[3] > 0 && seen[6] > 0);
	assert_int_equal(seen[1] + seen[3] + seen[6], 600);
	engine_sampler_free(s);
}

static void test_top_p(void **state)
{
	/* T=1: p(1)=e^3, p(3)=e^2.9 … their shares are ≈ 0.39 and 0.35 (0.74 together) of the
	 * total (softmax of the logits above), so top_p 0.6 keeps
	 * exactly tokens 1 and 3. */
	engine_sampler *s = make(1.0f, 0, 0.6f, 0.0f, 1.0f, 9);
	int i, seen[NV] = { 0 };

	(void)state;
	for (i = 0; i < 400; i++)
		seen[engine_sampler_sample(s, logits)]++;
	assert_true(seen[1] > 0 && seen[3] > 0);
	assert_int_equal(seen[1] + seen[3], 400);
	engine_sampler_free(s);
}

static void test_repeat_penalty(void **state)
{
	engine_sampler *s = make(0.0f, 0, 1.0f, 0.0f, 2.0f, 1);

	(void)state;
	/* 3.0 / 2 = 1.5 < 2.9: after seeing token 1, token 3 wins */
	engine_sampler_accept(s, 1);
	assert_int_equal(engine_sampler_sample(s, logits), 3);
	engine_sampler_free(s);
}

static void test_distribution(void **state)
{
	/* T=2 over all tokens: expected frequency softmax(l/2), checked within
	 * 5 standard errors over 20000 draws */
	engine_sampler *s = make(2.0f, 0, 1.0f, 0.0f, 1.0f, 123);
	int i, n = 20000, count[NV] = { 0 };
	double z = 0.0, p;

	(void)state;
	for (i = 0; i < NV; i++)
		z += exp(logits[i] / 2.0);
	for (i = 0; i < n; i++)
		count[engine_sampler_sample(s, logits)]++;
	for (i = 0; i < NV; i++) {
		p = exp(logits[i] / 2.0) / z;
		assert_true(fabs(count[i] / (double)n - p) < 5 * sqrt(p * (1 - p) / n) + 1e-3);
	}
	engine_sampler_free(s);
}

static void test_bad_params(void **state)
{
	engine_sampler_params p = engine_sampler_default_params();
	engine_sampler *s = NULL;

	(void)state;
	assert_int_equal(engine_sampler_new(&p, 0, &s), HEARTH_EINVAL);
	assert_null(s);
	p.temperature = NAN;
	assert_int_equal(engine_sampler_new(&p, NV, &s), HEARTH_EINVAL);
	engine_sampler_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_greedy),
		cmocka_unit_test(test_seed_reproduces),
		cmocka_unit_test(test_filters_leave_best),
		cmocka_unit_test(test_top_k_selects),
		cmocka_unit_test(test_top_p),
		cmocka_unit_test(test_repeat_penalty),
		cmocka_unit_test(test_distribution),
		cmocka_unit_test(test_bad_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
