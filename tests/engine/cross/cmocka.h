/*
 * cmocka.h — the few cmocka entry points tests/engine/test_kernels.c uses,
 * for the arm64 cross build (tests/engine/run_neon_kernels.sh): Debian has
 * no cross-installable libcmocka, and the test needs nothing more than
 * this. Same names and behaviour: a failed assertion prints the condition
 * and its line and ends the test; skip() ends it as skipped; the runner
 * returns the number of failed tests.
 *
 * Only for that cross build; native builds use the real cmocka.
 */
#ifndef HEARTH_CROSS_CMOCKA_H
#define HEARTH_CROSS_CMOCKA_H

#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>

struct CMUnitTest {
	const char *name;
	void (*fn)(void **state);
};

#define cmocka_unit_test(f) { #f, f }

/* One test at a time: where a failing assertion or skip() returns to, and
 * why (1 failed, 2 skipped). Static state is fine in a test shim. */
static jmp_buf cross_cmocka_jmp;

static inline void cross_cmocka_fail(const char *what, const char *file,
				     int line)
{
	printf("[  ERROR   ] --- %s\n[   LINE   ] --- %s:%d: error: Failure!\n",
	       what, file, line);
	longjmp(cross_cmocka_jmp, 1);
}

#define assert_true(c)                                                         \
	do {                                                                   \
		if (!(c))                                                      \
			cross_cmocka_fail(#c, __FILE__, __LINE__);             \
	} while (0)
#define assert_int_equal(a, b)                                                 \
	do {                                                                   \
		if ((intmax_t)(a) != (intmax_t)(b))                            \
			cross_cmocka_fail(#a " == " #b, __FILE__, __LINE__);   \
	} while (0)
#define assert_non_null(p) assert_true((p) != NULL)
#define skip() longjmp(cross_cmocka_jmp, 2)

#define cmocka_run_group_tests(tests, setup, teardown)                         \
	cross_cmocka_run(tests, sizeof(tests) / sizeof((tests)[0]))

static inline int cross_cmocka_run(const struct CMUnitTest *t, size_t n)
{
	volatile int failed = 0; /* kept across longjmp */

	printf("[==========] Running %zu test(s).\n", n);
	for (size_t i = 0; i < n; i++) {
		void *state = NULL;
		volatile int how;

		printf("[ RUN      ] %s\n", t[i].name);
		fflush(stdout);
		how = setjmp(cross_cmocka_jmp);
		if (how == 0) {
			t[i].fn(&state);
			printf("[       OK ] %s\n", t[i].name);
		} else if (how == 2) {
			printf("[  SKIPPED ] %s\n", t[i].name);
		} else {
			printf("[  FAILED  ] %s\n", t[i].name);
			failed++;
		}
	}
	printf("[==========] %zu test(s) run, %d failed.\n", n, failed);
	return failed;
}

#endif
