/*
 * test_quant_numpy.c — the numpy quantizers (scripts/quants.py, used by the
 * GGUF writer) and the C reader agree on every block layout.
 *
 * The build runs `quants.py fixture OUT` (tests/engine/meson.build), which
 * writes a fixed matrix, its raw blocks for every type and numpy's
 * dequantization of them; the path comes as argv[1]. Two checks:
 *   1. engine_dequant_row() on numpy's bytes equals numpy's values: both
 *      sides evaluate the same float32 expressions, so the only allowed
 *      difference is an FMA contraction in C (one rounding).
 *   2. engine_quant_row() on the same input lands on the same levels as
 *      numpy: bit-identical bytes for the float types; for the block
 *      types quants.py repeats the C float32 arithmetic in the same order,
 *      so today every block is identical too, but a compiler that fuses
 *      multiply-adds (-Dnative=true, FMA) may flip a rounding tie or a
 *      close choice between two K-quant fits, so we require 90% identical
 *      blocks and the rest within one quantization step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

#define FIXTURE_VERSION 1
#define MAX_TYPES 16

typedef struct fixture_type {
	char name[9];
	uint32_t id;
	uint64_t n_raw;
	const uint8_t *raw;   /* (rows, row bytes) as numpy wrote them */
	const float *deq;     /* (rows, cols) numpy's dequantization */
} fixture_type;

typedef struct fixture {
	uint8_t *buf;         /* whole file, owns everything below */
	size_t len;
	uint32_t rows, cols, n_types;
	const float *input;   /* (rows, cols) the original matrix */
	fixture_type types[MAX_TYPES];
} fixture;

/* ---------------------------------------------------------------------------
 * Fixture file: b"HQFX", u32 version, rows, cols, n_types, f32 input; per
 * type: char name[8], u32 id, u64 n_raw, raw, f32 dequantized.
 */
typedef struct cursor {
	const uint8_t *p, *end;
} cursor;

static const void *take(cursor *c, size_t n)
{
	const void *p = c->p;

	if ((size_t)(c->end - c->p) < n)
		return NULL;
	c->p += n;
	return p;
}

static bool take_u32(cursor *c, uint32_t *v)
{
	const void *p = take(c, sizeof(*v));

	if (p)
		memcpy(v, p, sizeof(*v));
	return p != NULL;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0)
		goto out_close;
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	*len = (size_t)n;
out_close:
	fclose(f);
	return buf;
}

static bool parse_type(cursor *c, size_t n_vals, fixture_type *t)
{
	const void *name = take(c, 8);
	const void *n_raw;

	if (!name || !take_u32(c, &t->id) || !(n_raw = take(c, 8)))
		return false;
	memcpy(t->name, name, 8);
	t->name[8] = '\0';
	memcpy(&t->n_raw, n_raw, sizeof(t->n_raw));
	t->raw = take(c, (size_t)t->n_raw);
	t->deq = take(c, n_vals * sizeof(float));
	return t->raw && t->deq;
}

static int fixture_setup(void **state)
{
	fixture *fx = calloc(1, sizeof(*fx));
	const char *path = *state;
	uint32_t version;

	assert_non_null(fx);
	fx->buf = read_file(path, &fx->len);
	if (!fx->buf) {
		print_error("cannot read the numpy fixture %s\n", path);
		free(fx);
		return -1;
	}
	cursor c = { fx->buf, fx->buf + fx->len };
	const void *magic = take(&c, 4);

	/* the file is malloc'd, so the float arrays at 4-byte multiples
	 * from its start are aligned: every section length is a multiple
	 * of 4 bytes for the matrices we write (cols multiple of 256) */
	assert_true(magic && memcmp(magic, "HQFX", 4) == 0);
	assert_true(take_u32(&c, &version) && version == FIXTURE_VERSION);
	assert_true(take_u32(&c, &fx->rows) && take_u32(&c, &fx->cols) &&
		    take_u32(&c, &fx->n_types));
	assert_true(fx->n_types <= MAX_TYPES && fx->cols % QK_K == 0);
	size_t n_vals = (size_t)fx->rows * fx->cols;

	fx->input = take(&c, n_vals * sizeof(float));
	assert_non_null(fx->input);
	for (uint32_t i = 0; i < fx->n_types; i++)
		assert_true(parse_type(&c, n_vals, &fx->types[i]));
	assert_true(c.p == c.end);
	*state = fx;
	return 0;
}

static int fixture_teardown(void **state)
{
	fixture *fx = *state;

	free(fx->buf);
	free(fx);
	return 0;
}

static float row_amax(const float *x, uint32_t n)
{
	float m = 0.0f;

	for (uint32_t i = 0; i < n; i++)
		m = fmaxf(m, fabsf(x[i]));
	return m;
}

/* ---------------------------------------------------------------------------
 * 1. C decodes numpy's bytes to numpy's values.
 */
static void test_c_reads_numpy_blocks(void **state)
{
	const fixture *fx = *state;
	float *y = malloc(sizeof(float) * fx->cols);

	assert_non_null(y);
	/* every type Hearth supports is in the fixture */
	assert_int_equal(fx->n_types, 8);
	for (uint32_t t = 0; t < fx->n_types; t++) {
		const fixture_type *ft = &fx->types[t];
		const engine_type_traits *tr = engine_type_get(ft->id);
		size_t rb = engine_row_size(ft->id, fx->cols);

		assert_non_null(tr);
		assert_string_equal(tr->name, ft->name);
		assert_int_equal(ft->n_raw, rb * fx->rows);
		for (uint32_t r = 0; r < fx->rows; r++) {
			const float *want = ft->deq + (size_t)r * fx->cols;
			/* one rounding of d·sc·q − dmin·m may differ
			 * (FMA); near a cancellation the relative error of
			 * the element is meaningless, so it is measured
			 * against the row's magnitude as well */
			float tol = 1e-6f * row_amax(want, fx->cols);

			engine_dequant_row(ft->id, ft->raw + r * rb, y, fx->cols);
			for (uint32_t i = 0; i < fx->cols; i++) {
				float d = fabsf(y[i] - want[i]);

				if (d > 1e-6f * fabsf(want[i]) && d > tol)
					fail_msg("%s row %u elem %u: C %.9g numpy "
						 "%.9g", ft->name, r, i, y[i],
						 want[i]);
			}
		}
	}
	free(y);
}

/* ---------------------------------------------------------------------------
 * 2. C's quantizer lands where numpy's does.
 */

/*
 * One quantization step of a block, the unit the two quantizers may
 * disagree by: symmetric formats span [−amax, amax] in `levels` steps
 * (Q8_0 254: d = amax/127; Q4_0 16: d = amax/8; Q6_K 64: d·sc ≈ amax/32),
 * the K-quants with a min span [min(lo, 0), hi] in nmax steps.
 */
typedef struct type_grid {
	bool symmetric;
	int levels;
} type_grid;

static type_grid grid_of(uint32_t id)
{
	switch (id) {
	case GGML_T_Q8_0: return (type_grid){ true, 254 };
	case GGML_T_Q4_0: return (type_grid){ true, 16 };
	case GGML_T_Q6_K: return (type_grid){ true, 64 };
	case GGML_T_Q4_K: return (type_grid){ false, 15 };
	case GGML_T_Q5_K: return (type_grid){ false, 31 };
	default: return (type_grid){ true, 1 };
	}
}

/* max |a − b| over a block of blck elements, in steps of that block */
static float block_step_diff(const float *a, const float *b, const float *x,
			     uint32_t blck, type_grid g)
{
	float lo = 0.0f, hi = 0.0f, amax = 0.0f, d = 0.0f;

	for (uint32_t i = 0; i < blck; i++) {
		lo = fminf(lo, x[i]);
		hi = fmaxf(hi, x[i]);
		amax = fmaxf(amax, fabsf(x[i]));
		d = fmaxf(d, fabsf(a[i] - b[i]));
	}
	float step = (g.symmetric ? 2 * amax : hi - lo) / g.levels;

	return step > 0.0f ? d / step : d;
}

static void compare_quantizers(const fixture *fx, const fixture_type *ft)
{
	const engine_type_traits *tr = engine_type_get(ft->id);
	size_t rb = engine_row_size(ft->id, fx->cols);
	uint8_t *q = malloc(rb);
	float *y = malloc(sizeof(float) * fx->cols);
	uint32_t n_blocks = 0, n_same = 0;

	assert_non_null(q);
	assert_non_null(y);
	for (uint32_t r = 0; r < fx->rows; r++) {
		const float *x = fx->input + (size_t)r * fx->cols;
		const uint8_t *np_raw = ft->raw + r * rb;
		const float *np_deq = ft->deq + (size_t)r * fx->cols;

		engine_quant_row(ft->id, x, q, fx->cols);
		engine_dequant_row(ft->id, q, y, fx->cols);
		for (uint32_t b = 0; b < fx->cols / tr->blck; b++) {
			size_t off = (size_t)b * tr->type_size;
			uint32_t e0 = b * tr->blck;

			n_blocks++;
			if (memcmp(q + off, np_raw + off, tr->type_size) == 0) {
				n_same++;
				continue;
			}
			float steps = block_step_diff(y + e0, np_deq + e0,
						      x + e0, tr->blck,
						      grid_of(ft->id));

			if (!(steps <= 1.0f))
				fail_msg("%s row %u block %u: C and numpy "
					 "differ by %.2f steps", ft->name, r,
					 b, steps);
		}
	}
	print_message("%s: %u of %u blocks bit-identical to numpy\n",
		      ft->name, n_same, n_blocks);
	if (tr->blck == 1) /* float conversions: no freedom at all */
		assert_int_equal(n_same, n_blocks);
	else
		assert_true(n_same * 10 >= n_blocks * 9);
	free(q);
	free(y);
}

static void test_c_quantizer_matches_numpy(void **state)
{
	const fixture *fx = *state;

	for (uint32_t t = 0; t < fx->n_types; t++)
		compare_quantizers(fx, &fx->types[t]);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_quant_numpy FIXTURE (written by "
			"scripts/quants.py fixture)\n");
		return 1;
	}
	/* the fixture path reaches the setup as the prestate */
	const struct CMUnitTest with_fixture[] = {
		cmocka_unit_test_prestate_setup_teardown(
			test_c_reads_numpy_blocks, fixture_setup,
			fixture_teardown, argv[1]),
		cmocka_unit_test_prestate_setup_teardown(
			test_c_quantizer_matches_numpy, fixture_setup,
			fixture_teardown, argv[1]),
	};

	return cmocka_run_group_tests(with_fixture, NULL, NULL);
}
