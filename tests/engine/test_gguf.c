/*
 * test_gguf.c — the GGUF reader (engine/gguf.c): accessors over a file built
 * byte by byte here, a corpus of corrupt and hostile files, truncation at
 * every length, random corruption, an allocation-failure sweep, the real
 * model files of /work/shared/models and a file written by
 * scripts/gguf_writer.py.
 *
 * The files are built with a tiny writer below that follows the GGUF layout
 * (engine/gguf.c's header comment), so expected values come from what the
 * test itself wrote. Buffers handed to gguf_open_buffer are malloc'd to the
 * exact file size, so ASan reports any read past the end.
 *
 * Linked with -Wl,--wrap=calloc (tests/engine/meson.build) so the sweep can
 * fail the reader's n-th allocation.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine_int.h"

/* ---------------------------------------------------------------------------
 * Allocation-failure injection (test-only state: the reader has none).
 */
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);

static long alloc_fail_at = -1; /* fail the call with this index; -1: never */
static long alloc_calls;

void *__wrap_calloc(size_t n, size_t size)
{
	if (alloc_fail_at >= 0 && alloc_calls++ == alloc_fail_at)
		return NULL;
	return __real_calloc(n, size);
}

/* ---------------------------------------------------------------------------
 * A growable byte buffer and GGUF writer primitives (little-endian).
 */
typedef struct wbuf {
	uint8_t *p;
	size_t n, cap;
} wbuf;

static void put(wbuf *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	if (n)
		memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void put_le(wbuf *b, uint64_t v, int bytes)
{
	uint8_t t[8];

	for (int i = 0; i < bytes; i++)
		t[i] = (uint8_t)(v >> (8 * i));
	put(b, t, (size_t)bytes);
}

static void put_u8(wbuf *b, uint8_t v) { put_le(b, v, 1); }
static void put_u16(wbuf *b, uint16_t v) { put_le(b, v, 2); }
static void put_u32(wbuf *b, uint32_t v) { put_le(b, v, 4); }
static void put_u64(wbuf *b, uint64_t v) { put_le(b, v, 8); }

static void put_f32(wbuf *b, float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	put_u32(b, u);
}

static void put_f64(wbuf *b, double f)
{
	uint64_t u;

	memcpy(&u, &f, sizeof(u));
	put_u64(b, u);
}

static void put_str(wbuf *b, const char *s)
{
	put_u64(b, strlen(s));
	put(b, s, strlen(s));
}

static void put_hdr(wbuf *b, uint32_t version, uint64_t n_tensors,
		    uint64_t n_kv)
{
	put(b, "GGUF", 4);
	put_u32(b, version);
	put_u64(b, n_tensors);
	put_u64(b, n_kv);
}

/* Key and value type; the caller writes the value. */
static void put_key(wbuf *b, const char *key, uint32_t vt)
{
	put_str(b, key);
	put_u32(b, vt);
}

static void put_arr_hdr(wbuf *b, const char *key, uint32_t et, uint64_t n)
{
	put_key(b, key, GGUF_VT_ARRAY);
	put_u32(b, et);
	put_u64(b, n);
}

static void put_tinfo(wbuf *b, const char *name, uint32_t n_dims,
		      const uint64_t *ne, uint32_t type, uint64_t offset)
{
	put_str(b, name);
	put_u32(b, n_dims);
	for (uint32_t d = 0; d < n_dims; d++)
		put_u64(b, ne[d]);
	put_u32(b, type);
	put_u64(b, offset);
}

static void pad_to(wbuf *b, size_t align)
{
	while (b->n % align)
		put_u8(b, 0);
}

/* Pattern bytes so tensor data can be recognised. */
static void put_pattern(wbuf *b, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		put_u8(b, (uint8_t)(seed + i * 7));
}

/* ---------------------------------------------------------------------------
 * Opening helpers: exact-size heap copies, expected failures.
 */
typedef struct opened {
	gguf *g;
	uint8_t *buf;  /* exact-size copy the handle points into */
	size_t len;
	int rc;
	char err[ENGINE_ERRLEN];
} opened;

static void open_copy(opened *o, const uint8_t *p, size_t n)
{
	memset(o, 0, sizeof(*o));
	o->buf = malloc(n ? n : 1);
	assert_non_null(o->buf);
	if (n)
		memcpy(o->buf, p, n);
	o->len = n;
	o->rc = gguf_open_buffer(o->buf, n, &o->g, o->err, sizeof(o->err));
}

static void close_copy(opened *o)
{
	gguf_close(o->g);
	free(o->buf);
	o->g = NULL;
	o->buf = NULL;
}

/* Open b and require failure with code and every given substring in the
 * message (NULL-terminated list). */
static void expect_fail(const wbuf *b, int code, ...)
{
	opened o;
	va_list ap;
	const char *want;

	open_copy(&o, b->p, b->n);
	if (o.rc != code)
		fail_msg("expected %s, got %s (%s)", hearth_errname(code),
			 hearth_errname(o.rc), o.err);
	assert_null(o.g);
	assert_true(strlen(o.err) > 0);
	va_start(ap, code);
	while ((want = va_arg(ap, const char *)) != NULL)
		if (!strstr(o.err, want))
			fail_msg("message \"%s\" lacks \"%s\"", o.err, want);
	va_end(ap);
	close_copy(&o);
}

static void expect_ok(const wbuf *b)
{
	opened o;

	open_copy(&o, b->p, b->n);
	if (o.rc != 0)
		fail_msg("expected success, got %s (%s)", hearth_errname(o.rc),
			 o.err);
	assert_non_null(o.g);
	close_copy(&o);
}

/* ---------------------------------------------------------------------------
 * The valid file: a kv of every value type (scalars, strings, an array of
 * each element type, an empty array) and five tensors of different types
 * and ranks under general.alignment = 64. The last tensor ends exactly at
 * the end of the file, so every truncation must be rejected.
 */
#define V_ALIGN 64
#define V_N_KV 28
#define V_N_TENSORS 5

static const struct {
	const char *name;
	uint32_t n_dims;
	uint64_t ne[4];
	uint32_t type;
	uint64_t offset; /* multiples of 64, gaps where the sizes are odd */
	uint64_t nbytes; /* (ne0 / blck) * type_size * ne1 * ne2 * ne3 */
} v_tensors[V_N_TENSORS] = {
	{ "token_embd.weight", 2, { 3, 2 }, GGML_T_F32, 0, 24 },     /* 6 x 4 */
	{ "output_norm.weight", 1, { 4 }, GGML_T_F16, 64, 8 },       /* 4 x 2 */
	{ "blk.0.attn_q.weight", 2, { 64, 2 }, GGML_T_Q8_0, 128, 136 },
						/* 2 blocks x 34 B x 2 rows */
	{ "blk.0.ffn_down.weight", 4, { 256, 1, 1, 2 }, GGML_T_Q4_K, 320, 288 },
						/* 1 block x 144 B x 2 */
	{ "rope_freqs.weight", 3, { 2, 1, 3 }, GGML_T_BF16, 640, 12 },
						/* 6 x 2, ends the file */
};

static void put_valid_kvs(wbuf *b)
{
	put_key(b, "general.architecture", GGUF_VT_STRING); put_str(b, "llama");
	put_key(b, "general.alignment", GGUF_VT_UINT32); put_u32(b, V_ALIGN);
	put_key(b, "t.u8", GGUF_VT_UINT8); put_u8(b, 200);
	put_key(b, "t.i8", GGUF_VT_INT8); put_u8(b, (uint8_t)-100);
	put_key(b, "t.u16", GGUF_VT_UINT16); put_u16(b, 60000);
	put_key(b, "t.i16", GGUF_VT_INT16); put_u16(b, (uint16_t)-30000);
	put_key(b, "t.u32", GGUF_VT_UINT32); put_u32(b, 4000000000u);
	put_key(b, "t.i32", GGUF_VT_INT32); put_u32(b, (uint32_t)-2000000000);
	put_key(b, "t.f32", GGUF_VT_FLOAT32); put_f32(b, 1.5f);
	put_key(b, "t.bool", GGUF_VT_BOOL); put_u8(b, 1);
	put_key(b, "t.u64", GGUF_VT_UINT64); put_u64(b, (1ull << 40) + 3);
	put_key(b, "t.i64", GGUF_VT_INT64); put_u64(b, (uint64_t)-5);
	put_key(b, "t.f64", GGUF_VT_FLOAT64); put_f64(b, 0.1);
	put_key(b, "t.str", GGUF_VT_STRING); put_str(b, "h\xc3\xa9llo");
	put_key(b, "t.empty", GGUF_VT_STRING); put_str(b, "");
	put_arr_hdr(b, "t.arr.u8", GGUF_VT_UINT8, 3);
	put_u8(b, 1); put_u8(b, 2); put_u8(b, 255);
	put_arr_hdr(b, "t.arr.i8", GGUF_VT_INT8, 2);
	put_u8(b, (uint8_t)-1); put_u8(b, 5);
	put_arr_hdr(b, "t.arr.u16", GGUF_VT_UINT16, 1); put_u16(b, 65535);
	put_arr_hdr(b, "t.arr.i16", GGUF_VT_INT16, 1); put_u16(b, (uint16_t)-2);
	put_arr_hdr(b, "t.arr.u32", GGUF_VT_UINT32, 2);
	put_u32(b, 1); put_u32(b, 4000000000u);
	put_arr_hdr(b, "t.arr.i32", GGUF_VT_INT32, 3);
	put_u32(b, (uint32_t)-7); put_u32(b, 0); put_u32(b, 7);
	put_arr_hdr(b, "t.arr.f32", GGUF_VT_FLOAT32, 2);
	put_f32(b, 0.5f); put_f32(b, -2.25f);
	put_arr_hdr(b, "t.arr.bool", GGUF_VT_BOOL, 2); put_u8(b, 1); put_u8(b, 0);
	put_arr_hdr(b, "t.arr.u64", GGUF_VT_UINT64, 1); put_u64(b, 1ull << 63);
	put_arr_hdr(b, "t.arr.i64", GGUF_VT_INT64, 2);
	put_u64(b, (uint64_t)-(1ll << 40)); put_u64(b, 3);
	put_arr_hdr(b, "t.arr.f64", GGUF_VT_FLOAT64, 1); put_f64(b, 3.25);
	put_arr_hdr(b, "t.arr.str", GGUF_VT_STRING, 3);
	put_str(b, "a"); put_str(b, ""); put_str(b, "<|im_end|>");
	put_arr_hdr(b, "t.arr.empty", GGUF_VT_INT32, 0);
}

/* Returns the file offset of the data section. */
static size_t build_valid(wbuf *b)
{
	size_t data_off;

	memset(b, 0, sizeof(*b));
	put_hdr(b, 3, V_N_TENSORS, V_N_KV);
	put_valid_kvs(b);
	for (int i = 0; i < V_N_TENSORS; i++)
		put_tinfo(b, v_tensors[i].name, v_tensors[i].n_dims,
			  v_tensors[i].ne, v_tensors[i].type,
			  v_tensors[i].offset);
	pad_to(b, V_ALIGN);
	data_off = b->n;
	for (int i = 0; i < V_N_TENSORS; i++) {
		while (b->n < data_off + v_tensors[i].offset)
			put_u8(b, 0xee);
		if (i == 0) /* F32 (2, 3) = 1..6 */
			for (int k = 1; k <= 6; k++)
				put_f32(b, (float)k);
		else
			put_pattern(b, v_tensors[i].nbytes, (uint8_t)(i * 16));
	}
	return data_off;
}

/* ---------------------------------------------------------------------------
 * (a) Every accessor over the valid file.
 */
static void check_scalar_getters(const gguf *g)
{
	uint32_t u32;
	int32_t i32;
	uint64_t u64;
	float f;
	bool bv;
	gguf_str s;

	assert_true(gguf_get_u32(g, "t.u8", &u32)); assert_int_equal(u32, 200);
	assert_true(gguf_get_u32(g, "t.u16", &u32)); assert_int_equal(u32, 60000);
	assert_true(gguf_get_u32(g, "t.u32", &u32));
	assert_true(u32 == 4000000000u);
	assert_true(gguf_get_u32(g, "general.alignment", &u32));
	assert_int_equal(u32, 64);
	assert_false(gguf_get_u32(g, "t.i32", &u32));   /* negative */
	assert_false(gguf_get_u32(g, "t.u64", &u32));   /* 2^40+3 > 2^32-1 */
	assert_false(gguf_get_u32(g, "t.bool", &u32));  /* not an integer */
	assert_false(gguf_get_u32(g, "t.str", &u32));
	assert_false(gguf_get_u32(g, "t.missing", &u32));
	assert_false(gguf_get_u32(g, "t.u8", NULL));

	assert_true(gguf_get_i32(g, "t.i8", &i32)); assert_int_equal(i32, -100);
	assert_true(gguf_get_i32(g, "t.i16", &i32)); assert_int_equal(i32, -30000);
	assert_true(gguf_get_i32(g, "t.i32", &i32));
	assert_int_equal(i32, -2000000000);
	assert_true(gguf_get_i32(g, "t.i64", &i32)); assert_int_equal(i32, -5);
	assert_true(gguf_get_i32(g, "t.u16", &i32)); assert_int_equal(i32, 60000);
	assert_false(gguf_get_i32(g, "t.u32", &i32));   /* 4e9 > INT32_MAX */
	assert_false(gguf_get_i32(g, "t.f32", &i32));   /* floats never */

	assert_true(gguf_get_u64(g, "t.u64", &u64));
	assert_true(u64 == (1ull << 40) + 3);
	assert_true(gguf_get_u64(g, "t.u8", &u64)); assert_true(u64 == 200);
	assert_false(gguf_get_u64(g, "t.i64", &u64));   /* negative */

	assert_true(gguf_get_f32(g, "t.f32", &f)); assert_true(f == 1.5f);
	assert_true(gguf_get_f32(g, "t.f64", &f)); assert_true(f == (float)0.1);
	assert_true(gguf_get_f32(g, "t.i32", &f)); assert_true(f == -2e9f);
	assert_false(gguf_get_f32(g, "t.bool", &f));
	assert_false(gguf_get_f32(g, "t.str", &f));

	assert_true(gguf_get_bool(g, "t.bool", &bv)); assert_true(bv);
	assert_false(gguf_get_bool(g, "t.u8", &bv));

	assert_true(gguf_get_str(g, "t.str", &s));
	assert_true(gguf_str_eq(s, "h\xc3\xa9llo"));
	assert_int_equal(s.len, 6); /* 'é' is two UTF-8 bytes */
	assert_false(gguf_str_eq(s, "h\xc3\xa9ll"));
	assert_false(gguf_str_eq(s, "h\xc3\xa9llo!"));
	assert_false(gguf_str_eq(s, NULL));
	assert_true(gguf_get_str(g, "general.architecture", &s));
	assert_true(gguf_str_eq(s, "llama"));
	assert_true(gguf_get_str(g, "t.empty", &s));
	assert_true(gguf_str_eq(s, ""));
	assert_false(gguf_get_str(g, "t.u8", &s));
}

static void check_array_getters(const gguf *g)
{
	const gguf_kv *kv;
	int32_t i;
	float f;

	kv = gguf_find_kv(g, "t.arr.i32");
	assert_non_null(kv);
	assert_int_equal(kv->type, GGUF_VT_ARRAY);
	assert_int_equal(kv->arr_type, GGUF_VT_INT32);
	assert_int_equal(kv->arr_n, 3);
	assert_true(gguf_arr_i32(kv, 0, &i)); assert_int_equal(i, -7);
	assert_true(gguf_arr_i32(kv, 2, &i)); assert_int_equal(i, 7);
	assert_false(gguf_arr_i32(kv, 3, &i));          /* out of range */
	assert_true(gguf_arr_f32(kv, 0, &f)); assert_true(f == -7.0f);

	kv = gguf_find_kv(g, "t.arr.f32");
	assert_true(gguf_arr_f32(kv, 1, &f)); assert_true(f == -2.25f);
	assert_false(gguf_arr_i32(kv, 0, &i));          /* floats never */

	kv = gguf_find_kv(g, "t.arr.u32");
	assert_true(gguf_arr_i32(kv, 0, &i)); assert_int_equal(i, 1);
	assert_false(gguf_arr_i32(kv, 1, &i));          /* 4e9 > INT32_MAX */
	assert_true(gguf_arr_f32(kv, 1, &f)); assert_true(f == 4e9f);

	kv = gguf_find_kv(g, "t.arr.u8");
	assert_true(gguf_arr_i32(kv, 2, &i)); assert_int_equal(i, 255);
	kv = gguf_find_kv(g, "t.arr.i8");
	assert_true(gguf_arr_i32(kv, 0, &i)); assert_int_equal(i, -1);
	kv = gguf_find_kv(g, "t.arr.u16");
	assert_true(gguf_arr_i32(kv, 0, &i)); assert_int_equal(i, 65535);
	kv = gguf_find_kv(g, "t.arr.i16");
	assert_true(gguf_arr_i32(kv, 0, &i)); assert_int_equal(i, -2);
	kv = gguf_find_kv(g, "t.arr.bool");             /* booleans as 0/1 */
	assert_true(gguf_arr_i32(kv, 0, &i)); assert_int_equal(i, 1);
	assert_true(gguf_arr_i32(kv, 1, &i)); assert_int_equal(i, 0);
	assert_false(gguf_arr_f32(kv, 0, &f));
	kv = gguf_find_kv(g, "t.arr.u64");
	assert_false(gguf_arr_i32(kv, 0, &i));          /* 2^63 */
	assert_true(gguf_arr_f32(kv, 0, &f)); assert_true(f == 0x1p63f);
	kv = gguf_find_kv(g, "t.arr.i64");
	assert_false(gguf_arr_i32(kv, 0, &i));          /* -2^40 */
	assert_true(gguf_arr_i32(kv, 1, &i)); assert_int_equal(i, 3);
	kv = gguf_find_kv(g, "t.arr.f64");
	assert_true(gguf_arr_f32(kv, 0, &f)); assert_true(f == 3.25f);

	kv = gguf_find_kv(g, "t.arr.str");
	assert_int_equal(kv->arr_type, GGUF_VT_STRING);
	assert_int_equal(kv->arr_n, 3);
	assert_true(gguf_str_eq(kv->arr_strs[0], "a"));
	assert_true(gguf_str_eq(kv->arr_strs[1], ""));
	assert_true(gguf_str_eq(kv->arr_strs[2], "<|im_end|>"));
	assert_false(gguf_arr_i32(kv, 0, &i));
	assert_false(gguf_arr_f32(kv, 0, &f));

	kv = gguf_find_kv(g, "t.arr.empty");
	assert_int_equal(kv->arr_n, 0);
	assert_false(gguf_arr_i32(kv, 0, &i));
	assert_false(gguf_arr_i32(gguf_find_kv(g, "t.i32"), 0, &i)); /* scalar */
	assert_false(gguf_arr_f32(NULL, 0, &f));
}

static void check_tensors(const gguf *g, const uint8_t *base, size_t len,
			  size_t data_off)
{
	float row[3];

	assert_int_equal(gguf_n_tensors(g), V_N_TENSORS);
	assert_int_equal(gguf_data_size(g), len - data_off);
	for (int i = 0; i < V_N_TENSORS; i++) {
		const gguf_tensor *t = gguf_find_tensor(g, v_tensors[i].name);

		assert_ptr_equal(t, gguf_tensor_at(g, (uint64_t)i));
		assert_string_equal(t->name, v_tensors[i].name);
		assert_int_equal(t->n_dims, v_tensors[i].n_dims);
		for (int d = 0; d < GGUF_MAX_DIMS; d++)
			assert_int_equal(t->ne[d], d < (int)t->n_dims ?
					 (int64_t)v_tensors[i].ne[d] : 1);
		assert_int_equal(t->type, v_tensors[i].type);
		assert_int_equal(t->offset, v_tensors[i].offset);
		assert_int_equal(t->nbytes, v_tensors[i].nbytes);
		assert_ptr_equal(t->data, base + data_off + t->offset);
		if (i > 0) /* pattern seed i * 16, step 7 */
			assert_int_equal(((const uint8_t *)t->data)[1],
					 (uint8_t)(i * 16 + 7));
		assert_int_equal(((uintptr_t)t->data - (uintptr_t)base) % V_ALIGN, 0);
	}
	/* row 1 of the F32 (2, 3) tensor written as 1..6 */
	memcpy(row, (const float *)gguf_find_tensor(g, "token_embd.weight")->data
	       + 3, sizeof(row));
	assert_true(row[0] == 4.0f && row[1] == 5.0f && row[2] == 6.0f);
	assert_int_equal(data_off + 640 + 12, len); /* last tensor ends the file */
	assert_null(gguf_find_tensor(g, "token_embd"));
	assert_null(gguf_find_tensor(g, "zzz"));
	assert_null(gguf_find_tensor(g, NULL));
	assert_null(gguf_tensor_at(g, V_N_TENSORS));
}

static void check_valid(const gguf *g, const uint8_t *base, size_t len,
			size_t data_off)
{
	const gguf_kv *kv;

	assert_int_equal(gguf_version(g), 3);
	assert_int_equal(gguf_n_kv(g), V_N_KV);
	kv = gguf_kv_at(g, 0);
	assert_true(gguf_str_eq(kv->key, "general.architecture"));
	assert_ptr_equal(gguf_find_kv(g, "general.architecture"), kv);
	assert_true(gguf_str_eq(gguf_kv_at(g, V_N_KV - 1)->key, "t.arr.empty"));
	assert_null(gguf_kv_at(g, V_N_KV));
	assert_null(gguf_find_kv(g, "t."));
	assert_null(gguf_find_kv(g, "t.u8x"));
	assert_null(gguf_find_kv(g, NULL));
	/* every kv is found by its own key */
	for (uint64_t i = 0; i < gguf_n_kv(g); i++) {
		char key[64];

		kv = gguf_kv_at(g, i);
		assert_true(kv->key.len < sizeof(key));
		memcpy(key, kv->key.ptr, kv->key.len);
		key[kv->key.len] = '\0';
		assert_ptr_equal(gguf_find_kv(g, key), kv);
	}
	check_scalar_getters(g);
	check_array_getters(g);
	check_tensors(g, base, len, data_off);
}

static void test_valid_buffer(void **state)
{
	wbuf b;
	size_t data_off = build_valid(&b);
	opened o;

	open_copy(&o, b.p, b.n);
	assert_int_equal(o.rc, 0);
	check_valid(o.g, o.buf, o.len, data_off);
	close_copy(&o);

	/* version 2 has the same layout and is accepted */
	b.p[4] = 2;
	open_copy(&o, b.p, b.n);
	assert_int_equal(o.rc, 0);
	assert_int_equal(gguf_version(o.g), 2);
	close_copy(&o);
	free(b.p);
}

static void test_valid_file(void **state)
{
	char dir[] = "/tmp/test_gguf_XXXXXX", path[64];
	char err[ENGINE_ERRLEN];
	wbuf b;
	size_t data_off = build_valid(&b);
	gguf *g = NULL;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/model.gguf", dir);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b.p, 1, b.n, f), b.n);
	fclose(f);
	assert_int_equal(gguf_open(path, &g, err, sizeof(err)), 0);
	/* tensor 0 sits at the start of the data section of the mapping */
	check_valid(g, (const uint8_t *)gguf_tensor_at(g, 0)->data - data_off,
		    b.n, data_off);
	gguf_close(g);

	/* a truncated file names the path and the tensor */
	assert_int_equal(truncate(path, (off_t)b.n - 1), 0);
	assert_int_equal(gguf_open(path, &g, err, sizeof(err)), HEARTH_EFORMAT);
	assert_null(g);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "tensor 'rope_freqs.weight'"));
	assert_non_null(strstr(err, "runs past end of file"));
	/* empty file, missing file, a directory */
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(gguf_open(path, &g, err, sizeof(err)), HEARTH_EFORMAT);
	assert_non_null(strstr(err, "empty"));
	unlink(path);
	assert_int_equal(gguf_open(path, &g, err, sizeof(err)), HEARTH_ENOTFOUND);
	assert_non_null(strstr(err, path));
	assert_int_equal(gguf_open(dir, &g, err, sizeof(err)), HEARTH_EIO);
	assert_null(g);
	rmdir(dir);
	assert_int_equal(gguf_open(NULL, &g, err, sizeof(err)), HEARTH_EINVAL);
	assert_int_equal(gguf_open_buffer(b.p, b.n, NULL, err, sizeof(err)),
			 HEARTH_EINVAL);
	gguf_close(NULL);
	free(b.p);
}

/* A file with no tensors may end right after its kvs, unpadded (vocab-only
 * files): valid, with an empty data section. */
static void test_no_tensors_unpadded(void **state)
{
	wbuf b = { 0 };
	opened o;

	put_hdr(&b, 3, 0, 1);
	put_key(&b, "general.architecture", GGUF_VT_STRING); put_str(&b, "qwen2");
	assert_true(b.n % 32 != 0);
	open_copy(&o, b.p, b.n);
	assert_int_equal(o.rc, 0);
	assert_int_equal(gguf_n_tensors(o.g), 0);
	assert_int_equal(gguf_data_size(o.g), 0);
	assert_null(gguf_find_tensor(o.g, "x"));
	close_copy(&o);
	/* and the empty file-with-header: no kvs, no tensors */
	b.n = 0;
	put_hdr(&b, 3, 0, 0);
	open_copy(&o, b.p, b.n);
	assert_int_equal(o.rc, 0);
	assert_null(gguf_find_kv(o.g, "general.architecture"));
	close_copy(&o);
	free(b.p);
}

/* ---------------------------------------------------------------------------
 * (b) Corruption corpus.
 */
static void test_truncated_every_length(void **state)
{
	wbuf b;
	opened o;

	build_valid(&b);
	for (size_t n = 0; n < b.n; n++) {
		open_copy(&o, b.p, n);
		if (o.rc >= 0 || o.g || o.err[0] == '\0')
			fail_msg("truncated at %zu of %zu: rc %d, err \"%s\"", n,
				 b.n, o.rc, o.err);
		close_copy(&o);
	}
	free(b.p);
}

static void test_bad_header(void **state)
{
	const uint64_t absurd[] = { 1ull << 40, 1ull << 63, UINT64_MAX, 3 };
	wbuf b = { 0 };

	put(&b, "GGML", 4); put_u32(&b, 3); put_u64(&b, 0); put_u64(&b, 0);
	expect_fail(&b, HEARTH_EFORMAT, "header", "bad magic", "47 47 4d 4c", NULL);
	b.n = 0; put_hdr(&b, 1, 0, 0);
	expect_fail(&b, HEARTH_EUNSUPPORTED, "version 1 ", NULL);
	b.n = 0; put_hdr(&b, 99, 0, 0);
	expect_fail(&b, HEARTH_EUNSUPPORTED, "version 99", NULL);
	b.n = 0; put_hdr(&b, 0x03000000u, 0, 0);
	expect_fail(&b, HEARTH_EUNSUPPORTED, "big-endian", NULL);
	/* counts that cannot fit in the file: each kv takes >= 13 bytes, each
	 * tensor info >= 33 */
	for (size_t i = 0; i < sizeof(absurd) / sizeof(absurd[0]); i++) {
		b.n = 0; put_hdr(&b, 3, 0, absurd[i]);
		put_pattern(&b, 30, 0);
		expect_fail(&b, HEARTH_EFORMAT, "header", "cannot fit", NULL);
		b.n = 0; put_hdr(&b, 3, absurd[i], 0);
		put_pattern(&b, 90, 0);
		expect_fail(&b, HEARTH_EFORMAT, "header", "cannot fit", NULL);
	}
	free(b.p);
}

static void test_bad_kvs(void **state)
{
	wbuf b = { 0 };

	/* key length far past the end */
	put_hdr(&b, 3, 0, 1); put_u64(&b, 1ull << 62); put_pattern(&b, 20, 0);
	expect_fail(&b, HEARTH_EFORMAT, "kv #0", "key", "offset 32", NULL);
	b.n = 0; put_hdr(&b, 3, 0, 1); put_u64(&b, UINT64_MAX);
	put_pattern(&b, 20, 0);
	expect_fail(&b, HEARTH_EFORMAT, "kv #0", NULL);
	/* string value length past the end */
	b.n = 0; put_hdr(&b, 3, 0, 1); put_key(&b, "general.name", GGUF_VT_STRING);
	put_u64(&b, 100); put(&b, "abc", 3);
	expect_fail(&b, HEARTH_EFORMAT, "kv #0 'general.name'", "string value",
		    "needs 100 bytes", NULL);
	/* unknown value type */
	b.n = 0; put_hdr(&b, 3, 0, 1); put_key(&b, "k", 13); put_u64(&b, 0);
	expect_fail(&b, HEARTH_EFORMAT, "kv #0 'k'", "unknown value type 13", NULL);
	/* numeric array whose byte size would wrap to 0 (2^61 x 8) */
	b.n = 0; put_hdr(&b, 3, 0, 1);
	put_arr_hdr(&b, "a", GGUF_VT_UINT64, 1ull << 61); put_u64(&b, 0);
	expect_fail(&b, HEARTH_EFORMAT, "kv #0 'a'", "array of", NULL);
	/* string array of 2^60 entries: must fail before allocating views */
	b.n = 0; put_hdr(&b, 3, 0, 1);
	put_arr_hdr(&b, "tokenizer.ggml.tokens", GGUF_VT_STRING, 1ull << 60);
	put_str(&b, "a");
	expect_fail(&b, HEARTH_EFORMAT, "tokenizer.ggml.tokens", "strings", NULL);
	/* a string element past the end */
	b.n = 0; put_hdr(&b, 3, 0, 1); put_arr_hdr(&b, "s", GGUF_VT_STRING, 2);
	put_str(&b, "a"); put_u64(&b, 50); put(&b, "bc", 2);
	expect_fail(&b, HEARTH_EFORMAT, "kv #0 's'", "array string element", NULL);
	/* nested and unknown element types */
	b.n = 0; put_hdr(&b, 3, 0, 1); put_arr_hdr(&b, "n", GGUF_VT_ARRAY, 1);
	put_u32(&b, GGUF_VT_INT32); put_u64(&b, 1); put_u32(&b, 5);
	expect_fail(&b, HEARTH_EUNSUPPORTED, "kv #0 'n'", "nested", NULL);
	b.n = 0; put_hdr(&b, 3, 0, 1); put_arr_hdr(&b, "n", 77, 1); put_u64(&b, 0);
	expect_fail(&b, HEARTH_EFORMAT, "unknown array element type 77", NULL);
	/* duplicate keys make lookups ambiguous */
	b.n = 0; put_hdr(&b, 3, 0, 3);
	put_key(&b, "x", GGUF_VT_UINT8); put_u8(&b, 1);
	put_key(&b, "y", GGUF_VT_UINT8); put_u8(&b, 1);
	put_key(&b, "x", GGUF_VT_UINT8); put_u8(&b, 2);
	expect_fail(&b, HEARTH_EFORMAT, "duplicate key 'x'", "#0 and #2", NULL);
	/* hostile bytes in a key are not printed raw */
	b.n = 0; put_hdr(&b, 3, 0, 1); put_key(&b, "a\nb'", 13); put_u64(&b, 0);
	expect_fail(&b, HEARTH_EFORMAT, "'a?b?'", NULL);
	free(b.p);
}

static void test_bad_alignment(void **state)
{
	const uint32_t bad[] = { 0, 3, 48, 0xffffffffu };
	wbuf b = { 0 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b.n = 0; put_hdr(&b, 3, 0, 1);
		put_key(&b, "general.alignment", GGUF_VT_UINT32);
		put_u32(&b, bad[i]);
		expect_fail(&b, HEARTH_EFORMAT, "general.alignment",
			    "not a power of two", NULL);
	}
	b.n = 0; put_hdr(&b, 3, 0, 1);
	put_key(&b, "general.alignment", GGUF_VT_UINT64); put_u64(&b, 32);
	expect_fail(&b, HEARTH_EFORMAT, "general.alignment", "expected u32", NULL);
	free(b.p);
}

/* One tensor after one kv, 32-aligned data of data_len pattern bytes. */
static void one_tensor(wbuf *b, const char *name, uint32_t n_dims,
		       const uint64_t *ne, uint32_t type, uint64_t offset,
		       size_t data_len)
{
	b->n = 0;
	put_hdr(b, 3, 1, 1);
	put_key(b, "general.architecture", GGUF_VT_STRING); put_str(b, "llama");
	put_tinfo(b, name, n_dims, ne, type, offset);
	pad_to(b, 32);
	put_pattern(b, data_len, 1);
}

static void test_bad_tensor_infos(void **state)
{
	wbuf b = { 0 };
	char name[200];

	one_tensor(&b, "w", 2, (uint64_t[]){ 8, 2 }, GGML_T_F32, 0, 64);
	expect_ok(&b); /* the baseline opens */
	one_tensor(&b, "w", 0, NULL, GGML_T_F32, 0, 64);
	expect_fail(&b, HEARTH_EFORMAT, "tensor 'w'", "n_dims 0", NULL);
	one_tensor(&b, "w", 5, (uint64_t[]){ 1, 1, 1, 1, 1 }, GGML_T_F32, 0, 64);
	expect_fail(&b, HEARTH_EFORMAT, "tensor 'w'", "n_dims 5", NULL);
	one_tensor(&b, "w", 2, (uint64_t[]){ 8, 0 }, GGML_T_F32, 0, 64);
	expect_fail(&b, HEARTH_EFORMAT, "tensor 'w'", "ne[1] = 0", NULL);
	one_tensor(&b, "w", 1, (uint64_t[]){ 1ull << 63 }, GGML_T_F32, 0, 64);
	expect_fail(&b, HEARTH_EFORMAT, "ne[0] = 9223372036854775808", NULL);
	/* 2^32 x 2^32 elements overflow int64 */
	one_tensor(&b, "w", 2, (uint64_t[]){ 1ull << 32, 1ull << 32 },
		   GGML_T_F32, 0, 64);
	expect_fail(&b, HEARTH_EFORMAT, "tensor 'w'", "element count overflows",
		    NULL);
	/* 2^62 F32 elements fit int64 but not their 2^64 bytes */
	one_tensor(&b, "w", 1, (uint64_t[]){ 1ull << 62 }, GGML_T_F32, 0, 64);
	expect_fail(&b, HEARTH_EFORMAT, "data size overflows", NULL);
	/* unknown and removed type ids name the tensor */
	one_tensor(&b, "weird.weight", 1, (uint64_t[]){ 32 }, 200, 0, 64);
	expect_fail(&b, HEARTH_EUNSUPPORTED, "tensor 'weird.weight'",
		    "type id 200", NULL);
	one_tensor(&b, "old.weight", 1, (uint64_t[]){ 32 }, 4, 0, 64); /* Q4_2 */
	expect_fail(&b, HEARTH_EUNSUPPORTED, "tensor 'old.weight'", "type id 4",
		    NULL);
	/* Q8_0 rows must be whole 32-element blocks */
	one_tensor(&b, "q", 1, (uint64_t[]){ 33 }, GGML_T_Q8_0, 0, 64);
	expect_fail(&b, HEARTH_EFORMAT, "tensor 'q'", "not a multiple of the Q8_0"
		    " block size 32", NULL);
	/* names: empty, NUL inside, 128 bytes (127 is the limit) */
	one_tensor(&b, "", 1, (uint64_t[]){ 4 }, GGML_T_F32, 0, 64);
	expect_fail(&b, HEARTH_EFORMAT, "tensor info #0", "empty tensor name", NULL);
	memset(name, 'n', 128); name[128] = '\0';
	one_tensor(&b, name, 1, (uint64_t[]){ 4 }, GGML_T_F32, 0, 64);
	expect_fail(&b, HEARTH_EFORMAT, "128 bytes long (max 127)", NULL);
	name[127] = '\0';
	one_tensor(&b, name, 1, (uint64_t[]){ 4 }, GGML_T_F32, 0, 64);
	expect_ok(&b);
	b.n = 0; put_hdr(&b, 3, 1, 0); put_u64(&b, 3); put(&b, "a\0b", 3);
	put_u32(&b, 1); put_u64(&b, 4); put_u32(&b, 0); put_u64(&b, 0);
	pad_to(&b, 32); put_pattern(&b, 16, 0);
	expect_fail(&b, HEARTH_EFORMAT, "NUL byte", NULL);
	free(b.p);
}

static void test_bad_tensor_data(void **state)
{
	wbuf b = { 0 };

	/* 16 bytes at offset 8: not 32-aligned */
	one_tensor(&b, "w", 1, (uint64_t[]){ 4 }, GGML_T_F32, 8, 64);
	expect_fail(&b, HEARTH_EFORMAT, "tensor 'w'", "offset 8 is not a multiple"
		    " of general.alignment 32", NULL);
	/* 64 bytes of data needed, 63 present */
	one_tensor(&b, "blk.0.attn_q.weight", 2, (uint64_t[]){ 4, 4 }, GGML_T_F32,
		   0, 63);
	expect_fail(&b, HEARTH_EFORMAT, "tensor 'blk.0.attn_q.weight'",
		    "data [offset 0, 64 bytes] runs past end of file", NULL);
	/* offset far past the end, and one that would wrap offset + size */
	one_tensor(&b, "w", 1, (uint64_t[]){ 4 }, GGML_T_F32, 1ull << 40, 64);
	expect_fail(&b, HEARTH_EFORMAT, "runs past end of file", NULL);
	one_tensor(&b, "w", 1, (uint64_t[]){ 8 }, GGML_T_F32,
		   UINT64_MAX - 31, 64); /* (2^64 - 32) + 32 bytes wraps to 0 */
	expect_fail(&b, HEARTH_EFORMAT, "runs past end of file", NULL);

	/* two tensors of 64 bytes at offsets 0 and 32 overlap */
	b.n = 0; put_hdr(&b, 3, 2, 0);
	put_tinfo(&b, "a", 1, (uint64_t[]){ 16 }, GGML_T_F32, 32);
	put_tinfo(&b, "b", 1, (uint64_t[]){ 16 }, GGML_T_F32, 0);
	pad_to(&b, 32); put_pattern(&b, 96, 0);
	expect_fail(&b, HEARTH_EFORMAT, "tensor 'a' [offset 32, 64 bytes] overlaps"
		    " tensor 'b' [offset 0, 64 bytes]", NULL);
	/* duplicate names */
	b.n = 0; put_hdr(&b, 3, 2, 0);
	put_tinfo(&b, "a", 1, (uint64_t[]){ 8 }, GGML_T_F32, 0);
	put_tinfo(&b, "a", 1, (uint64_t[]){ 8 }, GGML_T_F32, 32);
	pad_to(&b, 32); put_pattern(&b, 64, 0);
	expect_fail(&b, HEARTH_EFORMAT, "duplicate tensor name 'a'", NULL);
	/* the infos end, padded, past the end of the file */
	b.n = 0; put_hdr(&b, 3, 1, 0);
	put_tinfo(&b, "a", 1, (uint64_t[]){ 1 }, GGML_T_F32, 0);
	expect_fail(&b, HEARTH_EFORMAT, "data section: starts at offset 64",
		    "tensor infos end at 57", NULL);
	free(b.p);
}

/* ---------------------------------------------------------------------------
 * (c) Random corruption and the allocation-failure sweep.
 */
static uint64_t xorshift64(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Touch every byte a successful open hands out (ASan checks the reads) and
 * check tensors lie inside the buffer. */
static void walk_all(const gguf *g, const uint8_t *buf, size_t len)
{
	volatile uint8_t sink = 0;
	int32_t i32;
	float f;

	for (uint64_t i = 0; i < gguf_n_kv(g); i++) {
		const gguf_kv *kv = gguf_kv_at(g, i);

		for (uint64_t j = 0; j < kv->key.len; j++)
			sink ^= (uint8_t)kv->key.ptr[j];
		for (uint64_t j = 0; kv->type == GGUF_VT_STRING && j < kv->str.len; j++)
			sink ^= (uint8_t)kv->str.ptr[j];
		for (uint64_t j = 0; kv->type == GGUF_VT_ARRAY && j < kv->arr_n; j++) {
			if (kv->arr_type == GGUF_VT_STRING) {
				gguf_str s = kv->arr_strs[j];

				if (s.len)
					sink ^= (uint8_t)(s.ptr[0] ^ s.ptr[s.len - 1]);
				continue;
			}
			sink ^= (uint8_t)gguf_arr_i32(kv, j, &i32);
			sink ^= (uint8_t)gguf_arr_f32(kv, j, &f);
		}
	}
	for (uint64_t i = 0; i < gguf_n_tensors(g); i++) {
		const gguf_tensor *t = gguf_tensor_at(g, i);
		const uint8_t *d = t->data;

		assert_true(d >= buf && t->nbytes <= len &&
			    (size_t)(d - buf) <= len - t->nbytes);
		assert_ptr_equal(gguf_find_tensor(g, t->name), t);
		sink ^= d[0] ^ d[t->nbytes - 1];
	}
	(void)sink;
}

static void test_random_corruption(void **state)
{
	static const uint64_t specials[] = { 0, 1, 3, 5, 0x80, 1ull << 32,
					     1ull << 63, UINT64_MAX };
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	int n_ok = 0;
	wbuf b;
	opened o;

	build_valid(&b);
	for (int it = 0; it < 2000; it++) {
		uint8_t *c = malloc(b.n);
		size_t len = b.n;
		int flips = 1 + (int)(xorshift64(&seed) % 4);

		memcpy(c, b.p, b.n);
		for (int k = 0; k < flips; k++) {
			size_t at = xorshift64(&seed) % len;
			uint64_t r = xorshift64(&seed);

			if (r % 4 == 0 && at + 8 <= len) /* a whole 64-bit field */
				memcpy(c + at, &specials[(r >> 8) % 8], 8);
			else
				c[at] ^= (uint8_t)(1 + (r >> 8) % 255);
		}
		if (xorshift64(&seed) % 8 == 0)
			len = xorshift64(&seed) % len;
		open_copy(&o, c, len);
		if (o.rc == 0) {
			n_ok++;
			walk_all(o.g, o.buf, o.len);
		} else {
			assert_null(o.g);
			assert_true(o.rc < 0 && o.err[0] != '\0');
		}
		close_copy(&o);
		free(c);
	}
	print_message("random corruption: %d of 2000 mutants opened\n", n_ok);
	/* Flips inside tensor data or kv values leave the file valid, so some
	 * opens must succeed; if none did, the mutations never reached the
	 * success path and the test proved less than it claims. */
	assert_true(n_ok > 0);
	free(b.p);
}

static void test_alloc_failure_sweep(void **state)
{
	wbuf b;
	opened o;
	long k;

	build_valid(&b);
	for (k = 0; k < 100; k++) {
		alloc_calls = 0;
		alloc_fail_at = k;
		open_copy(&o, b.p, b.n);
		alloc_fail_at = -1;
		if (o.rc == 0) {
			close_copy(&o);
			break;
		}
		assert_int_equal(o.rc, HEARTH_ENOMEM);
		assert_null(o.g);
		assert_non_null(strstr(o.err, "out of memory"));
		close_copy(&o);
	}
	/* handle, kv table + index, one string array, tensor table + index:
	 * six allocations fail one by one, the seventh run succeeds */
	assert_int_equal(k, 6);
	free(b.p);
}

/* ---------------------------------------------------------------------------
 * (d) The real files in shared/models; (f) a file written by
 * scripts/gguf_writer.py.
 */
static int models_dir(char *dir, size_t len)
{
	const char *env = getenv("HEARTH_MODELS"), *src = getenv("HEARTH_SRC");
	struct stat st;

	if (env)
		snprintf(dir, len, "%s", env);
	else if (src)
		snprintf(dir, len, "%s/../shared/models", src);
	else
		return -1;
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static int open_real(const char *dir, const char *name, gguf **g)
{
	char path[2048], err[ENGINE_ERRLEN];
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	rc = gguf_open(path, g, err, sizeof(err));
	if (rc)
		print_error("%s\n", err);
	return rc;
}

static void check_vocab_dir(const char *models)
{
	char dir[1024], name[512];
	struct dirent *de;
	const gguf_kv *kv;
	int n_files = 0;
	gguf *g;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/vocab", models);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (n < 5 || strcmp(de->d_name + n - 5, ".gguf") != 0)
			continue;
		snprintf(name, sizeof(name), "vocab/%s", de->d_name);
		assert_int_equal(open_real(models, name, &g), 0);
		kv = gguf_find_kv(g, "tokenizer.ggml.tokens");
		assert_non_null(kv);
		assert_int_equal(kv->arr_type, GGUF_VT_STRING);
		/* the smallest of these vocabularies (llama-spm) has 32000 */
		assert_true(kv->arr_n >= 32000);
		assert_non_null(gguf_find_kv(g, "tokenizer.ggml.model"));
		assert_int_equal(gguf_n_tensors(g), 0); /* vocab-only files */
		gguf_close(g);
		n_files++;
	}
	closedir(d);
	assert_true(n_files >= 3); /* README lists three vocab files */
}

static void test_real_models(void **state)
{
	char models[900];
	const gguf_tensor *t;
	const gguf_kv *kv;
	gguf_str arch;
	uint32_t n_layer;
	gguf *g;

	if (models_dir(models, sizeof(models)) != 0) {
		print_message("shared/models not found (set HEARTH_MODELS): "
			      "skipping the real-file checks\n");
		skip();
	}
	check_vocab_dir(models);

	/* stories260K (README: 5 layers, dim 64, vocab 512, F32): 3 global
	 * tensors + 9 per layer = 48 */
	assert_int_equal(open_real(models, "real/stories260K.gguf", &g), 0);
	assert_int_equal(gguf_n_tensors(g), 48);
	assert_true(gguf_get_str(g, "general.architecture", &arch));
	assert_true(gguf_str_eq(arch, "llama"));
	assert_true(gguf_get_u32(g, "llama.block_count", &n_layer));
	assert_int_equal(n_layer, 5);
	kv = gguf_find_kv(g, "tokenizer.ggml.tokens");
	assert_int_equal(kv->arr_n, 512);
	assert_true(gguf_str_eq(kv->arr_strs[1], "<s>"));
	t = gguf_find_tensor(g, "token_embd.weight");
	assert_non_null(t);
	assert_int_equal(t->type, GGML_T_F32);
	assert_int_equal(t->ne[0], 64);
	assert_int_equal(t->ne[1], 512);
	assert_int_equal(t->nbytes, 64 * 512 * 4);
	assert_non_null(gguf_find_tensor(g, "blk.4.ffn_down.weight"));
	assert_null(gguf_find_tensor(g, "blk.5.ffn_down.weight"));
	gguf_close(g);
}

static void test_python_writer(void **state)
{
	const char *py = getenv("HEARTH_PYTHON"), *src = getenv("HEARTH_SRC");
	char dir[] = "/tmp/test_gguf_py_XXXXXX", path[64], cmd[1024];
	char err[ENGINE_ERRLEN];
	const gguf_tensor *t;
	const gguf_kv *kv;
	gguf_str s;
	uint32_t u32;
	int32_t i32;
	float f, row[3];
	bool bv;
	gguf *g;

	if (!py || !src) {
		print_message("HEARTH_PYTHON/HEARTH_SRC unset: skipping\n");
		skip();
	}
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sample.gguf", dir);
	snprintf(cmd, sizeof(cmd), "'%s' '%s/scripts/gguf_writer.py' --sample "
		 "'%s'", py, src, path);
	assert_int_equal(system(cmd), 0);
	if (gguf_open(path, &g, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	/* values from gguf_writer.py's write_sample() */
	assert_true(gguf_get_str(g, "general.architecture", &s));
	assert_true(gguf_str_eq(s, "llama"));
	assert_true(gguf_get_u32(g, "sample.u32", &u32));
	assert_int_equal(u32, 7);
	assert_true(gguf_get_i32(g, "sample.i32", &i32));
	assert_int_equal(i32, -3);
	assert_true(gguf_get_f32(g, "sample.f32", &f));
	assert_true(f == 0.25f);
	assert_true(gguf_get_bool(g, "sample.bool", &bv) && bv);
	kv = gguf_find_kv(g, "sample.tokens");
	assert_int_equal(kv->arr_n, 3);
	assert_true(gguf_str_eq(kv->arr_strs[2], "<|im_end|>"));
	kv = gguf_find_kv(g, "sample.scores");
	assert_true(gguf_arr_f32(kv, 1, &f) && f == -1.5f);
	/* F32 (2, 3) matrix arange(6) * 0.5: ne = [3, 2] */
	t = gguf_find_tensor(g, "sample.f32");
	assert_int_equal(t->ne[0], 3);
	assert_int_equal(t->ne[1], 2);
	memcpy(row, (const float *)t->data + 3, sizeof(row));
	assert_true(row[0] == 1.5f && row[1] == 2.0f && row[2] == 2.5f);
	/* F16 [1, -2, 0.5, 65504]: exact in binary16 */
	t = gguf_find_tensor(g, "sample.f16");
	assert_int_equal(t->type, GGML_T_F16);
	assert_int_equal(t->nbytes, 8);
	assert_int_equal(((const uint16_t *)t->data)[0], 0x3c00);
	assert_int_equal(((const uint16_t *)t->data)[3], 0x7bff);
	gguf_close(g);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_buffer),
		cmocka_unit_test(test_valid_file),
		cmocka_unit_test(test_no_tensors_unpadded),
		cmocka_unit_test(test_truncated_every_length),
		cmocka_unit_test(test_bad_header),
		cmocka_unit_test(test_bad_kvs),
		cmocka_unit_test(test_bad_alignment),
		cmocka_unit_test(test_bad_tensor_infos),
		cmocka_unit_test(test_bad_tensor_data),
		cmocka_unit_test(test_random_corruption),
		cmocka_unit_test(test_alloc_failure_sweep),
		cmocka_unit_test(test_real_models),
		cmocka_unit_test(test_python_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
