/*
 * engine_int.h — declarations shared by the files of engine/ only. Never
 * included from another directory (they use engine.h).
 *
 * Sections in data-flow order: GGUF file → tensor types → kernels →
 * tokenizer → model → context.
 */
#ifndef HEARTH_ENGINE_INT_H
#define HEARTH_ENGINE_INT_H

#include "engine.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENGINE_ERRLEN 512

/* printf into a caller's error buffer (NULL-safe); returns code. */
int engine_errf(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* ---------------------------------------------------------------------------
 * GGUF v3 reader (gguf.c). The whole file is mmap'd read-only; every
 * pointer handed out points into the mapping and lives as long as the
 * gguf handle. Every offset/size/count is validated at open time, so the
 * accessors below never over-read.
 */
enum gguf_vtype {
	GGUF_VT_UINT8 = 0,
	GGUF_VT_INT8 = 1,
	GGUF_VT_UINT16 = 2,
	GGUF_VT_INT16 = 3,
	GGUF_VT_UINT32 = 4,
	GGUF_VT_INT32 = 5,
	GGUF_VT_FLOAT32 = 6,
	GGUF_VT_BOOL = 7,
	GGUF_VT_STRING = 8,
	GGUF_VT_ARRAY = 9,
	GGUF_VT_UINT64 = 10,
	GGUF_VT_INT64 = 11,
	GGUF_VT_FLOAT64 = 12,
	GGUF_VT_COUNT
};

typedef struct gguf_str {
	const char *ptr; /* into the mapping, NOT NUL-terminated */
	uint64_t len;
} gguf_str;

typedef struct gguf_kv {
	gguf_str key;
	uint32_t type;      /* enum gguf_vtype */
	/* scalars (type != ARRAY/STRING): the value widened */
	union {
		uint64_t u64;
		int64_t i64;
		double f64;
		bool b;
	} v;
	gguf_str str;       /* type == STRING */
	/* type == ARRAY */
	uint32_t arr_type;  /* element type (never ARRAY: nested arrays are
			       rejected as unsupported) */
	uint64_t arr_n;
	const uint8_t *arr_data; /* numeric elements, packed little-endian,
				    possibly unaligned: read with memcpy */
	gguf_str *arr_strs;      /* arr_type == STRING: arr_n entries */
} gguf_kv;

#define GGUF_MAX_DIMS 4

typedef struct gguf_tensor {
	char name[128];     /* NUL-terminated copy (names > 127 bytes rejected) */
	uint32_t n_dims;
	int64_t ne[GGUF_MAX_DIMS]; /* ne[0] innermost (row length); unused = 1 */
	uint32_t type;      /* GGUF/ggml tensor type id (GGML_T_*) */
	uint64_t offset;    /* relative to the data section */
	uint64_t nbytes;
	const void *data;   /* into the mapping, aligned to general.alignment */
} gguf_tensor;

typedef struct gguf gguf;

/* Open and validate. On error returns a negative code, *out = NULL and err
 * names what was wrong (section, key or tensor, offsets). */
int gguf_open(const char *path, gguf **out, char *err, size_t errlen);
/* Same over a caller buffer (not copied; must outlive the handle) — used by
 * the fuzz target and the corruption tests. */
int gguf_open_buffer(const void *buf, size_t len, gguf **out, char *err,
		     size_t errlen);
void gguf_close(gguf *g); /* NULL-safe */

uint32_t gguf_version(const gguf *g);
uint64_t gguf_n_kv(const gguf *g);
const gguf_kv *gguf_kv_at(const gguf *g, uint64_t i);
const gguf_kv *gguf_find_kv(const gguf *g, const char *key); /* NULL if absent */
uint64_t gguf_n_tensors(const gguf *g);
const gguf_tensor *gguf_tensor_at(const gguf *g, uint64_t i);
const gguf_tensor *gguf_find_tensor(const gguf *g, const char *name);
uint64_t gguf_data_size(const gguf *g); /* bytes of the tensor data section */

/* Typed getters: false if the key is absent or its type does not convert
 * (integers convert between widths when the value fits). */
bool gguf_get_u32(const gguf *g, const char *key, uint32_t *out);
bool gguf_get_i32(const gguf *g, const char *key, int32_t *out);
bool gguf_get_u64(const gguf *g, const char *key, uint64_t *out);
bool gguf_get_f32(const gguf *g, const char *key, float *out);
bool gguf_get_bool(const gguf *g, const char *key, bool *out);
bool gguf_get_str(const gguf *g, const char *key, gguf_str *out);
/* Arrays: element i of a numeric array converted; false if out of range or
 * not convertible. */
bool gguf_arr_f32(const gguf_kv *kv, uint64_t i, float *out);
bool gguf_arr_i32(const gguf_kv *kv, uint64_t i, int32_t *out);
/* true if s equals the NUL-terminated c */
bool gguf_str_eq(gguf_str s, const char *c);

/* ---------------------------------------------------------------------------
 * Tensor types (quant.c). Block layouts exactly as GGUF/ggml define them.
 */
enum ggml_type_id {
	GGML_T_F32 = 0,
	GGML_T_F16 = 1,
	GGML_T_Q4_0 = 2,
	GGML_T_Q4_1 = 3,
	GGML_T_Q5_0 = 6,
	GGML_T_Q5_1 = 7,
	GGML_T_Q8_0 = 8,
	GGML_T_Q8_1 = 9,
	GGML_T_Q2_K = 10,
	GGML_T_Q3_K = 11,
	GGML_T_Q4_K = 12,
	GGML_T_Q5_K = 13,
	GGML_T_Q6_K = 14,
	GGML_T_Q8_K = 15,
	GGML_T_BF16 = 30,
	GGML_T_COUNT = 40
};

#define QK4_0 32
#define QK8_0 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef uint16_t ggml_half; /* IEEE binary16 bits */

typedef struct { ggml_half d; uint8_t qs[QK4_0 / 2]; } block_q4_0;        /* 18 B */
typedef struct { ggml_half d; int8_t qs[QK8_0]; } block_q8_0;             /* 34 B */
typedef struct { ggml_half d, dmin; uint8_t scales[K_SCALE_SIZE];
		 uint8_t qs[QK_K / 2]; } block_q4_K;                        /* 144 B */
typedef struct { ggml_half d, dmin; uint8_t scales[K_SCALE_SIZE];
		 uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K;  /* 176 B */
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4];
		 int8_t scales[QK_K / 16]; ggml_half d; } block_q6_K;       /* 210 B */
/* Activation format for K-quant dot products (not stored in files by us). */
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K; /* 292 B */

typedef struct engine_type_traits {
	const char *name;
	uint32_t blck;       /* elements per block */
	uint32_t type_size;  /* bytes per block */
	bool supported;      /* we can dequantize/dot it */
} engine_type_traits;

/* Traits of a type id, or NULL for ids GGUF does not define. */
const engine_type_traits *engine_type_get(uint32_t type);
/* Bytes of a row of n elements (n a multiple of blck), 0 if invalid. */
size_t engine_row_size(uint32_t type, int64_t n);

float engine_fp16_to_fp32(ggml_half h);
ggml_half engine_fp32_to_fp16(float f);
float engine_bf16_to_fp32(uint16_t h);
uint16_t engine_fp32_to_bf16(float f);

/* Scalar reference: dequantize n elements (one row, n multiple of blck). */
void engine_dequant_row(uint32_t type, const void *src, float *dst, int64_t n);
/* Scalar reference quantizers (used by tests and to quantize activations). */
void engine_quant_row(uint32_t type, const float *src, void *dst, int64_t n);
/* Scalar reference dot of a weight row (type) with f32 activations x (n). */
float engine_vec_dot_f32(uint32_t type, const void *w, const float *x, int64_t n);

/* ---------------------------------------------------------------------------
 * Kernels (kernels.c dispatch; kernels_scalar.c, kernels_avx2.c, …). The
 * forward pass calls only these; the SIMD path is picked at run time.
 */
typedef struct engine_threadpool engine_threadpool;

int engine_threadpool_new(int n_threads, engine_threadpool **out);
void engine_threadpool_free(engine_threadpool *tp);
int engine_threadpool_size(const engine_threadpool *tp);
/* Run fn(ith, nth, arg) on every thread (the caller is thread 0) and wait. */
void engine_threadpool_run(engine_threadpool *tp,
			   void (*fn)(int ith, int nth, void *arg), void *arg);

/* A weight matrix view: rows of ne0 elements, ne1 rows. */
typedef struct engine_mat {
	uint32_t type;
	int64_t ne0;       /* row length (input features) */
	int64_t ne1;       /* rows (output features) */
	size_t row_bytes;
	const void *data;  /* (ne1, ne0) of type, row-major */
	uint32_t layout;   /* 0: data as GGUF stores it; otherwise repacked by
			      engine_matmul_repack for the active SIMD path */
} engine_mat;

/* engine_matmul flags. DECODE: the rows are tokens being generated, not a
 * prompt. A path whose many-token kernel rounds differently from its
 * few-token one (the AMX-BF16 prefill) gives every prompt call the former
 * and every decode call the latter, whatever their token counts, so a
 * token's logits do not depend on how its prompt was cut into calls
 * (prefix reuse, batching): same request, same output. */
#define ENGINE_MM_DECODE 1u

/*
 * y (n_tok, w->ne1) = x (n_tok, w->ne0) · wᵀ, f32 row-major. tp may be
 * NULL (single thread). scratch: at least engine_matmul_scratch(w, n_tok)
 * bytes, for on-the-fly activation quantization.
 */
void engine_matmul(engine_threadpool *tp, const engine_mat *w, const float *x,
		   int n_tok, float *y, void *scratch, unsigned flags);
size_t engine_matmul_scratch(const engine_mat *w, int n_tok);
/*
 * Load-time repacking of a weight matrix into the active SIMD path's own
 * layout (rows interleaved in groups so vector lanes are rows: decode then
 * streams one sequential run per thread with a fraction of the unpacking
 * work, and prefill needs no per-call gathers). _size returns the bytes of
 * the repacked matrix, or 0 when the path keeps w as it is. _repack writes
 * them to dst (64-byte aligned, owned by the caller, outliving *out) and
 * fills *out; engine_matmul then reads only dst. Rows are still looked up
 * (embeddings) in the original, which the repacked copy does not replace.
 * Rows repack independently in runs: the rows [r0, r0 + n) of w, r0 a
 * multiple of 64, repacked on their own land at byte r0·row_bytes of the
 * whole matrix's repacked copy (the loader repacks big matrices run by run).
 */
size_t engine_matmul_repack_size(const engine_mat *w);
/* Row r of w (any layout, repacked or not) as f32: dst (w->ne0). */
void engine_mat_row(const engine_mat *w, int64_t r, float *dst);
void engine_matmul_repack(const engine_mat *w, void *dst, engine_mat *out);
/* Name of the SIMD path in use ("scalar", "avx2", "avx512", "neon"). */
const char *engine_simd_name(void);

/* Vector kernels of the forward pass (kernels_vec.c dispatch, same SIMD
 * path as engine_matmul). Attention over an F16 KV cache: row j of k/v
 * starts at k + j·k_stride (elements), hd elements each.
 * s[j] = scale · Σ_d q[d]·k_j[d] for j < n_kv. */
void engine_attn_scores_f16(const float *q, const ggml_half *k,
			    size_t k_stride, int n_kv, int hd, float scale,
			    float *s);
/* o[d] = Σ_j p[j]·v_j[d] for d < hd (o overwritten). */
void engine_attn_values_f16(const float *p, const ggml_half *v,
			    size_t v_stride, int n_kv, int hd, float *o);
/*
 * Attention of one token's n_q query heads that share one KV head (GQA),
 * over n_kv cached positions: o[h] = Σ_j softmax_j(scale·q[h]·k_j)·v_j.
 * q, o: (n_q, hd) f32; k, v: F16, row j at k + j·kv_stride (elements);
 * sc: scratch of n_q·n_kv floats. The K and V rows are read once for all
 * n_q heads, which is where a GQA model's attention time goes.
 */
void engine_attn_f16(const float *q, int n_q, const ggml_half *k,
		     const ggml_half *v, size_t kv_stride, int n_kv, int hd,
		     float scale, float *sc, float *o);
/* s[i] = exp(s[i] − max s) in place (n ≥ 1); returns Σ s[i]. */
float engine_softmax(float *s, int n);
/* g[i] = silu(g[i]) · u[i] (SwiGLU's gate). */
void engine_swiglu(float *g, const float *u, size_t n);
/* h[i] = binary16(x[i]), round to nearest even (KV cache stores). */
void engine_f32_to_f16_row(const float *x, ggml_half *h, size_t n);

/* ---------------------------------------------------------------------------
 * Tokenizer (tokenizer.c).
 */
typedef struct engine_vocab engine_vocab;

/* Unicode classes the pre-tokenizer splits need (unicode_tables.c, generated
 * by scripts/gen_unicode_tables.py): a bit set of ENGINE_UC_*, 0 if none. */
#define ENGINE_UC_LETTER 1u /* \p{L} */
#define ENGINE_UC_NUMBER 2u /* \p{N} */
#define ENGINE_UC_SPACE 4u  /* White_Space (\s) */
uint32_t engine_unicode_flags(uint32_t cp);

/* Build from tokenizer.* metadata. On error, a message naming the key. */
int engine_vocab_load(const gguf *g, engine_vocab **out, char *err,
		      size_t errlen);
void engine_vocab_free(engine_vocab *v);
int engine_vocab_n(const engine_vocab *v);
int32_t engine_vocab_bos(const engine_vocab *v);
int32_t engine_vocab_eos(const engine_vocab *v);
bool engine_vocab_add_bos(const engine_vocab *v);
bool engine_vocab_is_eog(const engine_vocab *v, int32_t tok);
bool engine_vocab_is_control(const engine_vocab *v, int32_t tok);
/* Normal or byte token: text, not markup (control, user-defined such as
 * <tool_call>, unknown, unused). */
bool engine_vocab_is_text(const engine_vocab *v, int32_t tok);
const char *engine_vocab_text(const engine_vocab *v, int32_t tok);
int32_t engine_vocab_find(const engine_vocab *v, const char *text); /* -1 */
int engine_vocab_tokenize(const engine_vocab *v, const char *text, size_t len,
			  bool add_bos, bool parse_special, int32_t *out,
			  int n_max);
int engine_vocab_piece(const engine_vocab *v, int32_t tok, char *buf,
		       size_t len, bool render_special);
int engine_vocab_detokenize(const engine_vocab *v, const int32_t *toks,
			    int n, char *buf, size_t len, bool render_special);
/* The raw tokenizer.chat_template string or NULL; borrowed. */
const char *engine_vocab_chat_template(const engine_vocab *v);


/* ---------------------------------------------------------------------------
 * Chat templates (chat.c). engine_chat_render() in model.c resolves AUTO with
 * engine_chat_detect() and calls engine_chat_render_fmt().
 */
/* Pick the format from the tokenizer.chat_template text (may be NULL) and
 * general.architecture: "<|im_start|>" → ChatML, "<|start_header_id|>" →
 * Llama 3; otherwise by architecture (qwen* → ChatML), else ChatML. */
engine_chat_format engine_chat_detect(const char *chat_template,
				      const char *arch);
/* fmt is never AUTO here. bos_text is prepended for Llama 3 (may be NULL).
 * default_system (may be NULL) is the system turn of a conversation whose
 * first message is not a system message (ChatML, Llama 3). On success *out
 * is malloc'd (caller frees). Errors: HEARTH_EINVAL with a message in err
 * for an unknown role or malformed tools_json. */
int engine_chat_render_fmt(engine_chat_format fmt, const char *bos_text,
			   const char *default_system,
			   const engine_chat_msg *msgs, int n_msgs,
			   const char *tools_json, bool add_assistant,
			   char **out, char *err, size_t errlen);

/* ---------------------------------------------------------------------------
 * JSON guard parse state, for the sampler's lookahead (sampler.c): a
 * snapshot is a plain copy of the state, and a guard restored from one
 * accepts exactly what it accepted when the snapshot was taken.
 */
size_t json_guard_state_size(void);
void json_guard_save(const engine_json_guard *g, void *buf);
void json_guard_restore(engine_json_guard *g, const void *buf);

#endif
