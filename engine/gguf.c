/*
 * gguf.c — the GGUF v2/v3 reader: every model and vocabulary the engine
 * loads comes through here.
 *
 * A GGUF file is, all little-endian:
 *   magic "GGUF", u32 version, u64 n_tensors, u64 n_kv
 *   n_kv      x { string key, u32 value type, value }
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type,
 *                 u64 offset }
 *   padding to general.alignment (default 32), then the data section;
 *   tensor offsets are relative to the start of the data section.
 *   string = u64 length + bytes; array = u32 element type, u64 count, items.
 * Versions 2 and 3 share this layout (v3 only added big-endian files, which
 * we refuse); version 1 had 32-bit counts and is refused.
 *
 * The file is mmap'd read-only and validated completely at open time: every
 * count is checked against the bytes left before anything is allocated (a
 * hostile count cannot make us allocate more than a few times the file
 * size), every tensor's data must lie inside the file, aligned and not
 * overlapping another. After a successful open the accessors never
 * over-read. Strings and arrays point into the mapping; only the tables
 * (kvs, tensors, string-array views, sorted indexes) are allocated.
 *
 * Threads: a gguf handle is immutable after open; any number of threads may
 * read it.
 */
#include "engine_int.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_DEFAULT_ALIGNMENT 32u
/* Smallest possible encodings, used to bound counts by the bytes left:
 * a kv is key length (8) + type (4) + a 1-byte value; a tensor info is name
 * length (8) + a 1-byte name + n_dims (4) + one ne (8) + type (4) +
 * offset (8). */
#define GGUF_KV_MIN_BYTES 13u
#define GGUF_TENSOR_INFO_MIN_BYTES 33u
#define GGUF_NAME_MAX 127u

/* ---------------------------------------------------------------------------
 * Type tables (GGUF specification / ggml.h). Kept private to this file so
 * the reader validates sizes on its own; quant.c owns what can be computed
 * with each type.
 */

/* Bytes of one scalar of each value type; 0 for STRING and ARRAY. */
static const uint8_t gguf_vt_size[GGUF_VT_COUNT] = {
	[GGUF_VT_UINT8] = 1, [GGUF_VT_INT8] = 1,
	[GGUF_VT_UINT16] = 2, [GGUF_VT_INT16] = 2,
	[GGUF_VT_UINT32] = 4, [GGUF_VT_INT32] = 4, [GGUF_VT_FLOAT32] = 4,
	[GGUF_VT_BOOL] = 1,
	[GGUF_VT_UINT64] = 8, [GGUF_VT_INT64] = 8, [GGUF_VT_FLOAT64] = 8,
};

typedef struct gguf_type_size {
	const char *name;   /* NULL: id undefined or removed from ggml */
	uint32_t blck;      /* elements per block */
	uint32_t size;      /* bytes per block */
} gguf_type_size;

/* Every ggml type id below GGML_T_COUNT. Ids 4-5 (Q4_2, Q4_3), 31-33
 * (Q4_0_4_4…) and 36-38 (IQ4_NL_4_4…) were removed from ggml; files using
 * them cannot be read by any current implementation. */
static const gguf_type_size gguf_types[GGML_T_COUNT] = {
	[0] = { "F32", 1, 4 },          [1] = { "F16", 1, 2 },
	[2] = { "Q4_0", 32, 18 },       [3] = { "Q4_1", 32, 20 },
	[6] = { "Q5_0", 32, 22 },       [7] = { "Q5_1", 32, 24 },
	[8] = { "Q8_0", 32, 34 },       [9] = { "Q8_1", 32, 36 },
	[10] = { "Q2_K", 256, 84 },     [11] = { "Q3_K", 256, 110 },
	[12] = { "Q4_K", 256, 144 },    [13] = { "Q5_K", 256, 176 },
	[14] = { "Q6_K", 256, 210 },    [15] = { "Q8_K", 256, 292 },
	[16] = { "IQ2_XXS", 256, 66 },  [17] = { "IQ2_XS", 256, 74 },
	[18] = { "IQ3_XXS", 256, 98 },  [19] = { "IQ1_S", 256, 50 },
	[20] = { "IQ4_NL", 32, 18 },    [21] = { "IQ3_S", 256, 110 },
	[22] = { "IQ2_S", 256, 82 },    [23] = { "IQ4_XS", 256, 136 },
	[24] = { "I8", 1, 1 },          [25] = { "I16", 1, 2 },
	[26] = { "I32", 1, 4 },         [27] = { "I64", 1, 8 },
	[28] = { "F64", 1, 8 },         [29] = { "IQ1_M", 256, 56 },
	[30] = { "BF16", 1, 2 },
	[34] = { "TQ1_0", 256, 54 },    [35] = { "TQ2_0", 256, 66 },
	[39] = { "MXFP4", 32, 17 },
};

static const gguf_type_size *type_size_of(uint32_t type)
{
	if (type >= GGML_T_COUNT || !gguf_types[type].name)
		return NULL;
	return &gguf_types[type];
}

/* ---------------------------------------------------------------------------
 * The handle.
 */
struct gguf {
	const uint8_t *base;        /* (size) bytes: mapping or caller buffer */
	uint64_t size;
	bool mapped;                /* base is ours to munmap */
	uint32_t version;
	uint32_t alignment;
	uint64_t n_kv;
	gguf_kv *kvs;               /* (n_kv), file order */
	const gguf_kv **kv_by_key;  /* (n_kv), sorted by key for lookups */
	uint64_t n_tensors;
	gguf_tensor *tensors;       /* (n_tensors), file order */
	const gguf_tensor **t_by_name; /* (n_tensors), sorted by name */
	uint64_t data_off;          /* file offset of the data section */
	uint64_t data_size;
};

/* ---------------------------------------------------------------------------
 * Bounded little-endian reader. Every read checks the bytes left first and
 * reports the failure with the file name, what was being parsed (ctx) and
 * the offset.
 */
typedef struct gguf_rd {
	const uint8_t *buf;
	uint64_t size;
	uint64_t off;
	const char *src;    /* file name for messages */
	char ctx[192];      /* "kv #3 'general.name'", "tensor 'x'"… */
	char *err;
	size_t errlen;
} gguf_rd;

static int rd_fail(gguf_rd *r, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int rd_fail(gguf_rd *r, int code, const char *fmt, ...)
{
	char msg[ENGINE_ERRLEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	engine_errf(r->err, r->errlen, code, "%s: %s: %s", r->src, r->ctx, msg);
	return code; /* visibly nonzero to the callers' flow analysis */
}

static void rd_ctx(gguf_rd *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void rd_ctx(gguf_rd *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->ctx, sizeof(r->ctx), fmt, ap);
	va_end(ap);
}

/* Printable copy of an untrusted name for messages: at most 80 bytes,
 * control bytes and quotes replaced by '?'. */
static void printable(char *dst, size_t dstlen, const char *s, uint64_t len)
{
	size_t n = 0;

	for (uint64_t i = 0; i < len && n + 4 < dstlen && i < 80; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[n++] = (c < 0x20 || c == 0x7f || c == '\'') ? '?' : (char)c;
	}
	if (len > 80 && n + 4 < dstlen) {
		memcpy(dst + n, "...", 3);
		n += 3;
	}
	dst[n] = '\0';
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint64_t rd_left(const gguf_rd *r)
{
	return r->size - r->off;
}

static int rd_bytes(gguf_rd *r, uint64_t n, const uint8_t **out,
		    const char *what)
{
	*out = NULL;
	if (n > rd_left(r))
		return rd_fail(r, HEARTH_EFORMAT,
			       "%s: needs %" PRIu64 " bytes at offset %" PRIu64
			       " but only %" PRIu64 " are left (file size %"
			       PRIu64 ")", what, n, r->off, rd_left(r),
			       r->size);
	*out = r->buf + r->off;
	r->off += n;
	return 0;
}

static int rd_u32(gguf_rd *r, uint32_t *v, const char *what)
{
	const uint8_t *p;
	int rc = rd_bytes(r, 4, &p, what);

	if (rc == 0)
		*v = le32(p);
	return rc;
}

static int rd_u64(gguf_rd *r, uint64_t *v, const char *what)
{
	const uint8_t *p;
	int rc = rd_bytes(r, 8, &p, what);

	if (rc == 0)
		*v = le64(p);
	return rc;
}

static int rd_str(gguf_rd *r, gguf_str *s, const char *what)
{
	const uint8_t *p;
	uint64_t len;
	int rc = rd_u64(r, &len, what);

	if (rc == 0)
		rc = rd_bytes(r, len, &p, what);
	if (rc == 0) {
		s->ptr = (const char *)p;
		s->len = len;
	}
	return rc;
}

/* ---------------------------------------------------------------------------
 * Numbers: one decoded scalar, and the conversions the getters allow.
 */
typedef struct gguf_num {
	enum { NUM_U, NUM_I, NUM_F, NUM_B } kind;
	uint64_t u;
	int64_t i;
	double f;
} gguf_num;

/* Decode a scalar of value type vt (not STRING/ARRAY) from p. */
static gguf_num num_decode(uint32_t vt, const uint8_t *p)
{
	gguf_num n = { .kind = NUM_U };
	uint32_t b32;
	uint64_t b64;
	float f32;

	switch (vt) {
	case GGUF_VT_UINT8: n.u = p[0]; break;
	case GGUF_VT_UINT16: n.u = le16(p); break;
	case GGUF_VT_UINT32: n.u = le32(p); break;
	case GGUF_VT_UINT64: n.u = le64(p); break;
	case GGUF_VT_INT8: n.kind = NUM_I; n.i = (int8_t)p[0]; break;
	case GGUF_VT_INT16: n.kind = NUM_I; n.i = (int16_t)le16(p); break;
	case GGUF_VT_INT32: n.kind = NUM_I; n.i = (int32_t)le32(p); break;
	case GGUF_VT_INT64: n.kind = NUM_I; n.i = (int64_t)le64(p); break;
	case GGUF_VT_FLOAT32:
		b32 = le32(p);
		memcpy(&f32, &b32, sizeof(f32));
		n.kind = NUM_F;
		n.f = f32;
		break;
	case GGUF_VT_FLOAT64:
		b64 = le64(p);
		memcpy(&n.f, &b64, sizeof(n.f));
		n.kind = NUM_F;
		break;
	default: /* GGUF_VT_BOOL */
		n.kind = NUM_B;
		n.u = p[0] != 0;
		break;
	}
	return n;
}

/* The scalar a kv holds, false for strings, arrays and NULL. */
static bool kv_num(const gguf_kv *kv, gguf_num *n)
{
	if (!kv)
		return false;
	switch (kv->type) {
	case GGUF_VT_UINT8: case GGUF_VT_UINT16: case GGUF_VT_UINT32:
	case GGUF_VT_UINT64:
		*n = (gguf_num){ .kind = NUM_U, .u = kv->v.u64 };
		return true;
	case GGUF_VT_INT8: case GGUF_VT_INT16: case GGUF_VT_INT32:
	case GGUF_VT_INT64:
		*n = (gguf_num){ .kind = NUM_I, .i = kv->v.i64 };
		return true;
	case GGUF_VT_FLOAT32: case GGUF_VT_FLOAT64:
		*n = (gguf_num){ .kind = NUM_F, .f = kv->v.f64 };
		return true;
	case GGUF_VT_BOOL:
		*n = (gguf_num){ .kind = NUM_B, .u = kv->v.b };
		return true;
	}
	return false;
}

/* Integers (and, where allow_bool, booleans as 0/1) that fit [0, max]. */
static bool num_to_u64(gguf_num n, uint64_t max, bool allow_bool,
		       uint64_t *out)
{
	if ((n.kind == NUM_U || (n.kind == NUM_B && allow_bool)) && n.u <= max) {
		*out = n.u;
		return true;
	}
	if (n.kind == NUM_I && n.i >= 0 && (uint64_t)n.i <= max) {
		*out = (uint64_t)n.i;
		return true;
	}
	return false;
}

static bool num_to_i64(gguf_num n, int64_t min, int64_t max, bool allow_bool,
		       int64_t *out)
{
	if ((n.kind == NUM_U || (n.kind == NUM_B && allow_bool)) &&
	    n.u <= (uint64_t)max) {
		*out = (int64_t)n.u;
		return true;
	}
	if (n.kind == NUM_I && n.i >= min && n.i <= max) {
		*out = n.i;
		return true;
	}
	return false;
}

/* Integers and floats; a finite f64 beyond the float range does not fit. */
static bool num_to_f32(gguf_num n, float *out)
{
	switch (n.kind) {
	case NUM_U: *out = (float)n.u; return true;
	case NUM_I: *out = (float)n.i; return true;
	case NUM_F:
		if (isfinite(n.f) && fabs(n.f) > FLT_MAX)
			return false;
		*out = (float)n.f;
		return true;
	case NUM_B: break;
	}
	return false;
}

/* ---------------------------------------------------------------------------
 * Header and key/values.
 */
static int parse_header(gguf *g, gguf_rd *r, uint64_t *n_tensors,
			uint64_t *n_kv)
{
	const uint8_t *m;
	uint32_t swapped;
	int rc;

	rd_ctx(r, "header");
	if ((rc = rd_bytes(r, 4, &m, "magic")))
		return rc;
	if (memcmp(m, "GGUF", 4) != 0)
		return rd_fail(r, HEARTH_EFORMAT,
			       "bad magic %02x %02x %02x %02x (expected 'GGUF'):"
			       " not a GGUF file", m[0], m[1], m[2], m[3]);
	if ((rc = rd_u32(r, &g->version, "version")))
		return rc;
	swapped = __builtin_bswap32(g->version);
	if (g->version != 2 && g->version != 3 && (swapped == 2 || swapped == 3))
		return rd_fail(r, HEARTH_EUNSUPPORTED,
			       "big-endian GGUF (version %u byte-swapped) is "
			       "not supported", swapped);
	if (g->version != 2 && g->version != 3)
		return rd_fail(r, HEARTH_EUNSUPPORTED,
			       "GGUF version %u is not supported (only 2 and 3)",
			       g->version);
	if ((rc = rd_u64(r, n_tensors, "tensor count")) ||
	    (rc = rd_u64(r, n_kv, "kv count")))
		return rc;
	/* Separately bounded first so the sum below cannot overflow. */
	if (*n_kv > rd_left(r) / GGUF_KV_MIN_BYTES ||
	    *n_tensors > rd_left(r) / GGUF_TENSOR_INFO_MIN_BYTES ||
	    *n_kv * GGUF_KV_MIN_BYTES +
	    *n_tensors * GGUF_TENSOR_INFO_MIN_BYTES > rd_left(r))
		return rd_fail(r, HEARTH_EFORMAT,
			       "%" PRIu64 " kvs and %" PRIu64 " tensors cannot "
			       "fit in the %" PRIu64 " bytes left after offset "
			       "%" PRIu64, *n_kv, *n_tensors, rd_left(r), r->off);
	return 0;
}

/* An array value: element type, count, then the packed elements (numeric)
 * or strings (one view each, allocated). */
static int parse_array(gguf_rd *r, gguf_kv *kv)
{
	const uint8_t *p;
	uint32_t esz;
	int rc;

	if ((rc = rd_u32(r, &kv->arr_type, "array element type")) ||
	    (rc = rd_u64(r, &kv->arr_n, "array count")))
		return rc;
	if (kv->arr_type == GGUF_VT_ARRAY)
		return rd_fail(r, HEARTH_EUNSUPPORTED,
			       "nested arrays are not supported (at offset %"
			       PRIu64 ")", r->off - 12);
	if (kv->arr_type >= GGUF_VT_COUNT)
		return rd_fail(r, HEARTH_EFORMAT,
			       "unknown array element type %u at offset %" PRIu64,
			       kv->arr_type, r->off - 12);
	if (kv->arr_type != GGUF_VT_STRING) {
		esz = gguf_vt_size[kv->arr_type];
		if (kv->arr_n > rd_left(r) / esz)
			return rd_fail(r, HEARTH_EFORMAT,
				       "array of %" PRIu64 " %u-byte elements "
				       "runs past end of file (%" PRIu64 " bytes"
				       " left at offset %" PRIu64 ")", kv->arr_n,
				       esz, rd_left(r), r->off);
		rc = rd_bytes(r, kv->arr_n * esz, &p, "array data");
		kv->arr_data = p;
		return rc;
	}
	/* Each string takes at least its 8-byte length. */
	if (kv->arr_n > rd_left(r) / 8)
		return rd_fail(r, HEARTH_EFORMAT,
			       "array of %" PRIu64 " strings cannot fit in the %"
			       PRIu64 " bytes left at offset %" PRIu64,
			       kv->arr_n, rd_left(r), r->off);
	kv->arr_strs = calloc(kv->arr_n ? kv->arr_n : 1, sizeof(*kv->arr_strs));
	if (!kv->arr_strs)
		return rd_fail(r, HEARTH_ENOMEM, "out of memory for %" PRIu64
			       " string views", kv->arr_n);
	for (uint64_t j = 0; j < kv->arr_n; j++)
		if ((rc = rd_str(r, &kv->arr_strs[j], "array string element")))
			return rc;
	return 0;
}

static int parse_kv(gguf_rd *r, gguf_kv *kv, uint64_t i)
{
	char key[96];
	const uint8_t *p;
	int rc;

	rd_ctx(r, "kv #%" PRIu64, i);
	if ((rc = rd_str(r, &kv->key, "key")))
		return rc;
	printable(key, sizeof(key), kv->key.ptr, kv->key.len);
	rd_ctx(r, "kv #%" PRIu64 " '%s'", i, key);
	if ((rc = rd_u32(r, &kv->type, "value type")))
		return rc;
	if (kv->type >= GGUF_VT_COUNT)
		return rd_fail(r, HEARTH_EFORMAT,
			       "unknown value type %u at offset %" PRIu64,
			       kv->type, r->off - 4);
	if (kv->type == GGUF_VT_STRING)
		return rd_str(r, &kv->str, "string value");
	if (kv->type == GGUF_VT_ARRAY)
		return parse_array(r, kv);
	if ((rc = rd_bytes(r, gguf_vt_size[kv->type], &p, "value")))
		return rc;
	gguf_num n = num_decode(kv->type, p);
	switch (n.kind) {
	case NUM_U: kv->v.u64 = n.u; break;
	case NUM_I: kv->v.i64 = n.i; break;
	case NUM_F: kv->v.f64 = n.f; break;
	case NUM_B: kv->v.b = n.u != 0; break;
	}
	return 0;
}

static int parse_kvs(gguf *g, gguf_rd *r)
{
	int rc;

	g->kvs = calloc(g->n_kv ? g->n_kv : 1, sizeof(*g->kvs));
	g->kv_by_key = calloc(g->n_kv ? g->n_kv : 1, sizeof(*g->kv_by_key));
	if (!g->kvs || !g->kv_by_key)
		return rd_fail(r, HEARTH_ENOMEM, "out of memory for %" PRIu64
			       " kvs", g->n_kv);
	for (uint64_t i = 0; i < g->n_kv; i++)
		if ((rc = parse_kv(r, &g->kvs[i], i)))
			return rc;
	return 0;
}

/* ---------------------------------------------------------------------------
 * Lookup indexes: sorted pointer arrays, which also expose duplicates.
 */
static int str_cmp(const char *a, uint64_t alen, const char *b, uint64_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int kv_ptr_cmp(const void *a, const void *b)
{
	const gguf_kv *x = *(const gguf_kv *const *)a;
	const gguf_kv *y = *(const gguf_kv *const *)b;

	return str_cmp(x->key.ptr, x->key.len, y->key.ptr, y->key.len);
}

static int tensor_name_cmp(const void *a, const void *b)
{
	const gguf_tensor *x = *(const gguf_tensor *const *)a;
	const gguf_tensor *y = *(const gguf_tensor *const *)b;

	return strcmp(x->name, y->name);
}

static int tensor_offset_cmp(const void *a, const void *b)
{
	const gguf_tensor *x = *(const gguf_tensor *const *)a;
	const gguf_tensor *y = *(const gguf_tensor *const *)b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int index_kvs(gguf *g, gguf_rd *r)
{
	char key[96];

	if (g->n_kv == 0)
		return 0;
	for (uint64_t i = 0; i < g->n_kv; i++)
		g->kv_by_key[i] = &g->kvs[i];
	qsort(g->kv_by_key, g->n_kv, sizeof(*g->kv_by_key), kv_ptr_cmp);
	for (uint64_t i = 1; i < g->n_kv; i++) {
		const gguf_kv *a = g->kv_by_key[i - 1], *b = g->kv_by_key[i];

		if (kv_ptr_cmp(&a, &b) != 0)
			continue;
		printable(key, sizeof(key), b->key.ptr, b->key.len);
		rd_ctx(r, "metadata");
		return rd_fail(r, HEARTH_EFORMAT,
			       "duplicate key '%s' (kvs #%td and #%td)", key,
			       a < b ? a - g->kvs : b - g->kvs,
			       a < b ? b - g->kvs : a - g->kvs);
	}
	return 0;
}

/* general.alignment: optional u32, a power of two; default 32. */
static int read_alignment(gguf *g, gguf_rd *r)
{
	const gguf_kv *kv = gguf_find_kv(g, "general.alignment");

	g->alignment = GGUF_DEFAULT_ALIGNMENT;
	if (!kv)
		return 0;
	rd_ctx(r, "kv 'general.alignment'");
	if (kv->type != GGUF_VT_UINT32)
		return rd_fail(r, HEARTH_EFORMAT,
			       "has value type %u, expected u32 (%u)", kv->type,
			       GGUF_VT_UINT32);
	if (kv->v.u64 == 0 || (kv->v.u64 & (kv->v.u64 - 1)) != 0)
		return rd_fail(r, HEARTH_EFORMAT,
			       "value %" PRIu64 " is not a power of two",
			       kv->v.u64);
	g->alignment = (uint32_t)kv->v.u64;
	return 0;
}

/* ---------------------------------------------------------------------------
 * Tensor infos.
 */
static int parse_tensor_name(gguf_rd *r, gguf_tensor *t)
{
	char shown[96];
	gguf_str name;
	int rc;

	if ((rc = rd_str(r, &name, "name")))
		return rc;
	if (name.len == 0)
		return rd_fail(r, HEARTH_EFORMAT, "empty tensor name at offset %"
			       PRIu64, r->off - 8);
	printable(shown, sizeof(shown), name.ptr, name.len);
	if (name.len > GGUF_NAME_MAX)
		return rd_fail(r, HEARTH_EFORMAT,
			       "name '%s' is %" PRIu64 " bytes long (max %u)",
			       shown, name.len, GGUF_NAME_MAX);
	if (memchr(name.ptr, '\0', name.len))
		return rd_fail(r, HEARTH_EFORMAT, "name '%s' contains a NUL byte",
			       shown);
	memcpy(t->name, name.ptr, name.len);
	t->name[name.len] = '\0';
	rd_ctx(r, "tensor '%s'", shown);
	return 0;
}

/* Dimensions: n_dims 1..4, each ne in 1..INT64_MAX, product too. */
static int parse_tensor_shape(gguf_rd *r, gguf_tensor *t)
{
	int64_t nel = 1;
	uint64_t ne;
	int rc;

	if ((rc = rd_u32(r, &t->n_dims, "n_dims")))
		return rc;
	if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
		return rd_fail(r, HEARTH_EFORMAT,
			       "n_dims %u out of range 1..%d (at offset %" PRIu64
			       ")", t->n_dims, GGUF_MAX_DIMS, r->off - 4);
	for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
		t->ne[d] = 1;
		if (d >= t->n_dims)
			continue;
		if ((rc = rd_u64(r, &ne, "ne")))
			return rc;
		if (ne == 0 || ne > INT64_MAX)
			return rd_fail(r, HEARTH_EFORMAT,
				       "ne[%u] = %" PRIu64 " out of range (at "
				       "offset %" PRIu64 ")", d, ne, r->off - 8);
		t->ne[d] = (int64_t)ne;
		if (__builtin_mul_overflow(nel, t->ne[d], &nel))
			return rd_fail(r, HEARTH_EFORMAT,
				       "element count overflows at ne[%u] = %"
				       PRIu64, d, ne);
	}
	return 0;
}

/* Type id known, row a whole number of blocks, byte size representable. */
static int parse_tensor_type(gguf_rd *r, gguf_tensor *t)
{
	const gguf_type_size *ts;
	uint64_t nb;
	int rc;

	if ((rc = rd_u32(r, &t->type, "type")))
		return rc;
	ts = type_size_of(t->type);
	if (!ts)
		return rd_fail(r, HEARTH_EUNSUPPORTED,
			       "unknown or removed tensor type id %u (at offset %"
			       PRIu64 ")", t->type, r->off - 4);
	if (t->ne[0] % ts->blck)
		return rd_fail(r, HEARTH_EFORMAT,
			       "row length ne[0] = %" PRId64 " is not a multiple "
			       "of the %s block size %u", t->ne[0], ts->name,
			       ts->blck);
	nb = ts->size;
	for (int d = 0; d < GGUF_MAX_DIMS; d++)
		if (__builtin_mul_overflow(nb, (uint64_t)t->ne[d] /
					   (d == 0 ? ts->blck : 1), &nb))
			return rd_fail(r, HEARTH_EFORMAT,
				       "data size overflows 64 bits (%s)",
				       ts->name);
	t->nbytes = nb;
	return 0;
}

static int parse_tensor_infos(gguf *g, gguf_rd *r)
{
	int rc;

	g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof(*g->tensors));
	g->t_by_name = calloc(g->n_tensors ? g->n_tensors : 1,
			      sizeof(*g->t_by_name));
	if (!g->tensors || !g->t_by_name)
		return rd_fail(r, HEARTH_ENOMEM, "out of memory for %" PRIu64
			       " tensors", g->n_tensors);
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		gguf_tensor *t = &g->tensors[i];

		rd_ctx(r, "tensor info #%" PRIu64, i);
		if ((rc = parse_tensor_name(r, t)) ||
		    (rc = parse_tensor_shape(r, t)) ||
		    (rc = parse_tensor_type(r, t)) ||
		    (rc = rd_u64(r, &t->offset, "offset")))
			return rc;
		g->t_by_name[i] = t;
	}
	return 0;
}

/* ---------------------------------------------------------------------------
 * Data section: where it starts, and every tensor inside it, aligned and
 * disjoint.
 */
static int place_tensor(gguf *g, gguf_rd *r, gguf_tensor *t)
{
	rd_ctx(r, "tensor '%s'", t->name);
	if (t->offset % g->alignment)
		return rd_fail(r, HEARTH_EFORMAT,
			       "data offset %" PRIu64 " is not a multiple of "
			       "general.alignment %u", t->offset, g->alignment);
	if (t->offset > g->data_size || t->nbytes > g->data_size - t->offset)
		return rd_fail(r, HEARTH_EFORMAT,
			       "data [offset %" PRIu64 ", %" PRIu64 " bytes] "
			       "runs past end of file (size %" PRIu64 ", data "
			       "section at %" PRIu64 ")", t->offset, t->nbytes,
			       g->size, g->data_off);
	t->data = g->base + g->data_off + t->offset;
	return 0;
}

static int place_data(gguf *g, gguf_rd *r)
{
	uint64_t end = r->off;
	int rc;

	/* end <= size, a real allocation: end + alignment cannot wrap. */
	g->data_off = (end + g->alignment - 1) / g->alignment * g->alignment;
	if (g->data_off > g->size) {
		rd_ctx(r, "data section");
		if (g->n_tensors > 0)
			return rd_fail(r, HEARTH_EFORMAT,
				       "starts at offset %" PRIu64 " (tensor infos"
				       " end at %" PRIu64 ", aligned to %u), past "
				       "end of file (size %" PRIu64 ")",
				       g->data_off, end, g->alignment, g->size);
		/* A file without tensors may end without the padding. */
		g->data_off = g->size;
	}
	g->data_size = g->size - g->data_off;
	for (uint64_t i = 0; i < g->n_tensors; i++)
		if ((rc = place_tensor(g, r, &g->tensors[i])))
			return rc;
	return 0;
}

/* Sort by offset to find overlaps, then by name for lookups (which also
 * brings duplicate names next to each other). */
static int index_tensors(gguf *g, gguf_rd *r)
{
	const gguf_tensor **ts = g->t_by_name;

	if (g->n_tensors == 0)
		return 0;
	rd_ctx(r, "tensor data");
	qsort(ts, g->n_tensors, sizeof(*ts), tensor_offset_cmp);
	for (uint64_t i = 1; i < g->n_tensors; i++)
		if (ts[i - 1]->offset + ts[i - 1]->nbytes > ts[i]->offset)
			return rd_fail(r, HEARTH_EFORMAT,
				       "tensor '%s' [offset %" PRIu64 ", %" PRIu64
				       " bytes] overlaps tensor '%s' [offset %"
				       PRIu64 ", %" PRIu64 " bytes]",
				       ts[i]->name, ts[i]->offset, ts[i]->nbytes,
				       ts[i - 1]->name, ts[i - 1]->offset,
				       ts[i - 1]->nbytes);
	rd_ctx(r, "tensor infos");
	qsort(ts, g->n_tensors, sizeof(*ts), tensor_name_cmp);
	for (uint64_t i = 1; i < g->n_tensors; i++)
		if (strcmp(ts[i - 1]->name, ts[i]->name) == 0)
			return rd_fail(r, HEARTH_EFORMAT,
				       "duplicate tensor name '%s'", ts[i]->name);
	return 0;
}

/* ---------------------------------------------------------------------------
 * Open / close.
 */
static int parse_all(gguf *g, gguf_rd *r)
{
	int rc;

	if ((rc = parse_header(g, r, &g->n_tensors, &g->n_kv)) ||
	    (rc = parse_kvs(g, r)) ||
	    (rc = index_kvs(g, r)) ||
	    (rc = read_alignment(g, r)) ||
	    (rc = parse_tensor_infos(g, r)) ||
	    (rc = place_data(g, r)) ||
	    (rc = index_tensors(g, r)))
		return rc;
	return 0;
}

/* Parse base[0..size) into a new handle; on failure nothing is kept (the
 * caller still owns base). */
static int open_bytes(const uint8_t *base, uint64_t size, const char *src,
		      gguf **out, char *err, size_t errlen)
{
	gguf_rd r = { .buf = base, .size = size, .src = src, .err = err,
		      .errlen = errlen };
	gguf *g = calloc(1, sizeof(*g));
	int rc;

	if (!g)
		return engine_errf(err, errlen, HEARTH_ENOMEM,
				   "%s: out of memory", src);
	g->base = base;
	g->size = size;
	rc = parse_all(g, &r);
	if (rc) {
		gguf_close(g);
		return rc;
	}
	*out = g;
	return 0;
}

int gguf_open_buffer(const void *buf, size_t len, gguf **out, char *err,
		     size_t errlen)
{
	if (!out)
		return engine_errf(err, errlen, HEARTH_EINVAL,
				   "gguf_open_buffer: out is NULL");
	*out = NULL;
	if (!buf && len)
		return engine_errf(err, errlen, HEARTH_EINVAL,
				   "gguf_open_buffer: NULL buffer of %zu bytes",
				   len);
	return open_bytes(buf ? buf : "", len, "gguf buffer", out, err, errlen);
}

/* Map path read-only; *size > 0 on success. */
static int map_file(const char *path, const uint8_t **map, uint64_t *size,
		    char *err, size_t errlen)
{
	char ebuf[128];
	struct stat st;
	void *p;
	int fd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		return engine_errf(err, errlen, e == ENOENT ? HEARTH_ENOTFOUND :
				   HEARTH_EIO, "%s: cannot open: %s", path,
				   strerror_r(e, ebuf, sizeof(ebuf)));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return engine_errf(err, errlen, HEARTH_EIO,
				   "%s: not a regular file", path);
	}
	if (st.st_size == 0) {
		close(fd);
		return engine_errf(err, errlen, HEARTH_EFORMAT,
				   "%s: empty file (0 bytes), not a GGUF file",
				   path);
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	e = errno;
	close(fd);
	if (p == MAP_FAILED)
		return engine_errf(err, errlen, HEARTH_EIO, "%s: mmap of %lld "
				   "bytes failed: %s", path,
				   (long long)st.st_size,
				   strerror_r(e, ebuf, sizeof(ebuf)));
	*map = p;
	*size = (uint64_t)st.st_size;
	return 0;
}

int gguf_open(const char *path, gguf **out, char *err, size_t errlen)
{
	const uint8_t *map;
	uint64_t size;
	int rc;

	if (!out || !path)
		return engine_errf(err, errlen, HEARTH_EINVAL,
				   "gguf_open: NULL %s", out ? "path" : "out");
	*out = NULL;
	if ((rc = map_file(path, &map, &size, err, errlen)))
		return rc;
	rc = open_bytes(map, size, path, out, err, errlen);
	if (rc) {
		munmap((void *)map, (size_t)size);
		return rc;
	}
	(*out)->mapped = true;
	return 0;
}

void gguf_close(gguf *g)
{
	if (!g)
		return;
	if (g->kvs)
		for (uint64_t i = 0; i < g->n_kv; i++)
			free(g->kvs[i].arr_strs);
	free(g->kvs);
	free(g->kv_by_key);
	free(g->tensors);
	free(g->t_by_name);
	if (g->mapped)
		munmap((void *)g->base, (size_t)g->size);
	free(g);
}

/* ---------------------------------------------------------------------------
 * Accessors.
 */
uint32_t gguf_version(const gguf *g)
{
	return g ? g->version : 0;
}

uint64_t gguf_n_kv(const gguf *g)
{
	return g ? g->n_kv : 0;
}

const gguf_kv *gguf_kv_at(const gguf *g, uint64_t i)
{
	return g && i < g->n_kv ? &g->kvs[i] : NULL;
}

const gguf_kv *gguf_find_kv(const gguf *g, const char *key)
{
	uint64_t lo = 0, hi, klen;

	if (!g || !key)
		return NULL;
	klen = strlen(key);
	hi = g->n_kv;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		const gguf_kv *kv = g->kv_by_key[mid];
		int c = str_cmp(kv->key.ptr, kv->key.len, key, klen);

		if (c == 0)
			return kv;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

uint64_t gguf_n_tensors(const gguf *g)
{
	return g ? g->n_tensors : 0;
}

const gguf_tensor *gguf_tensor_at(const gguf *g, uint64_t i)
{
	return g && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf *g, const char *name)
{
	uint64_t lo = 0, hi;

	if (!g || !name)
		return NULL;
	hi = g->n_tensors;
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		int c = strcmp(g->t_by_name[mid]->name, name);

		if (c == 0)
			return g->t_by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

uint64_t gguf_data_size(const gguf *g)
{
	return g ? g->data_size : 0;
}

/* ---------------------------------------------------------------------------
 * Typed getters.
 */
bool gguf_get_u32(const gguf *g, const char *key, uint32_t *out)
{
	gguf_num n;
	uint64_t v;

	if (!out || !kv_num(gguf_find_kv(g, key), &n) ||
	    !num_to_u64(n, UINT32_MAX, false, &v))
		return false;
	*out = (uint32_t)v;
	return true;
}

bool gguf_get_i32(const gguf *g, const char *key, int32_t *out)
{
	gguf_num n;
	int64_t v;

	if (!out || !kv_num(gguf_find_kv(g, key), &n) ||
	    !num_to_i64(n, INT32_MIN, INT32_MAX, false, &v))
		return false;
	*out = (int32_t)v;
	return true;
}

bool gguf_get_u64(const gguf *g, const char *key, uint64_t *out)
{
	gguf_num n;

	return out && kv_num(gguf_find_kv(g, key), &n) &&
	       num_to_u64(n, UINT64_MAX, false, out);
}

bool gguf_get_f32(const gguf *g, const char *key, float *out)
{
	gguf_num n;

	return out && kv_num(gguf_find_kv(g, key), &n) && num_to_f32(n, out);
}

bool gguf_get_bool(const gguf *g, const char *key, bool *out)
{
	const gguf_kv *kv = gguf_find_kv(g, key);

	if (!out || !kv || kv->type != GGUF_VT_BOOL)
		return false;
	*out = kv->v.b;
	return true;
}

bool gguf_get_str(const gguf *g, const char *key, gguf_str *out)
{
	const gguf_kv *kv = gguf_find_kv(g, key);

	if (!out || !kv || kv->type != GGUF_VT_STRING)
		return false;
	*out = kv->str;
	return true;
}

/* Element i of a numeric (or bool) array, decoded. */
static bool arr_num(const gguf_kv *kv, uint64_t i, gguf_num *n)
{
	if (!kv || kv->type != GGUF_VT_ARRAY || i >= kv->arr_n ||
	    kv->arr_type == GGUF_VT_STRING || kv->arr_type >= GGUF_VT_COUNT ||
	    kv->arr_type == GGUF_VT_ARRAY)
		return false;
	*n = num_decode(kv->arr_type,
			kv->arr_data + i * gguf_vt_size[kv->arr_type]);
	return true;
}

bool gguf_arr_f32(const gguf_kv *kv, uint64_t i, float *out)
{
	gguf_num n;

	return out && arr_num(kv, i, &n) && num_to_f32(n, out);
}

/* Booleans read as 0/1 here: there is no array getter of their own. */
bool gguf_arr_i32(const gguf_kv *kv, uint64_t i, int32_t *out)
{
	gguf_num n;
	int64_t v;

	if (!out || !arr_num(kv, i, &n) ||
	    !num_to_i64(n, INT32_MIN, INT32_MAX, true, &v))
		return false;
	*out = (int32_t)v;
	return true;
}

bool gguf_str_eq(gguf_str s, const char *c)
{
	size_t n;

	if (!c || (!s.ptr && s.len))
		return false;
	n = strlen(c);
	return n == s.len && (n == 0 || memcmp(s.ptr, c, n) == 0);
}
