/*
 * alloc_fail.h — allocation-failure injection for the engine's white-box
 * tests (STYLE.md: fail-the-Nth-allocation sweeps). The test executable is
 * linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc
 * (tests/engine/meson.build); failures are armed only around the engine
 * calls swept, so the test's own helpers allocate normally. Include from
 * one file per executable.
 */
#ifndef HEARTH_TESTS_ALLOC_FAIL_H
#define HEARTH_TESTS_ALLOC_FAIL_H

#include <stdbool.h>
#include <stddef.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static long alloc_fail_at = -1; /* fail the call with this index; -1 never */
static long alloc_calls;

static bool alloc_should_fail(void)
{
	return alloc_fail_at >= 0 && alloc_calls++ == alloc_fail_at;
}

void *__wrap_malloc(size_t n)
{
	return alloc_should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return alloc_should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	return alloc_should_fail() ? NULL : __real_realloc(p, n);
}

static void alloc_arm(long at)
{
	alloc_fail_at = at;
	alloc_calls = 0;
}

/* Disarm; true if the armed failure was hit. */
static bool alloc_disarm(void)
{
	bool hit = alloc_fail_at >= 0 && alloc_calls > alloc_fail_at;

	alloc_fail_at = -1;
	return hit;
}

#endif
