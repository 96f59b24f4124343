/*
 * tokenizer.c — the tokenizers a GGUF file describes in its tokenizer.*
 * metadata, and their inverse.
 *
 *   "gpt2"  byte-level BPE (GPT-2, Llama 3, Qwen2/3, SmolLM2): the text is
 *           split by the pre-tokenizer named in tokenizer.ggml.pre, every
 *           piece's bytes are mapped to printable code points (GPT-2's
 *           bytes_to_unicode) and merged by the rank of tokenizer.ggml.merges.
 *   "llama" SentencePiece BPE (Llama 2, TinyLlama): spaces become U+2581,
 *           one is prepended, adjacent symbols are merged while the merged
 *           text is a token, best score first; what never forms a token
 *           falls back to <0xXX> byte tokens.
 *
 * Special tokens (control, user-defined, unknown) are cut out of the text
 * before either algorithm runs, longest first. As in llama.cpp (whose
 * tokenizer produced the shared test vectors) and HF tokenizers,
 * user-defined tokens are always matched; control and unknown ones only
 * when the caller asks for parse_special.
 *
 * Deliberate difference from llama.cpp: invalid UTF-8 bytes are kept as
 * they are (byte-level BPE can spell any byte) instead of being replaced by
 * U+FFFD, so tokenize → detokenize is lossless for any input.
 *
 * Threading: an engine_vocab is immutable once loaded and may be used from
 * any number of threads; every call allocates its own scratch. The vocab
 * owns copies of all it needs: the gguf may be closed after loading.
 */
#include "engine_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------
 * Vocabulary storage
 */
enum vocab_kind { VOCAB_BPE, VOCAB_SPM };

/* Pre-tokenizer splits (regexes of the HF tokenizer.json, hand-coded). */
enum pre_kind {
	PRE_NONE,   /* SentencePiece: no split */
	PRE_GPT2,   /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
		       ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
	PRE_LLAMA3, /* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|
		       \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|
		       \s+(?!\S)|\s+ */
	PRE_QWEN2,  /* as LLAMA3 with \p{N} instead of \p{N}{1,3} */
	PRE_SMOLLM, /* \p{N} (every digit its own piece), then GPT2 */
};

/* tokenizer.ggml.token_type values */
enum tok_type {
	TT_UNDEFINED = 0,
	TT_NORMAL = 1,
	TT_UNKNOWN = 2,
	TT_CONTROL = 3,
	TT_USER = 4,
	TT_UNUSED = 5,
	TT_BYTE = 6,
};

struct tok_entry {
	uint32_t off;  /* text in vocab->arena, NUL-terminated there */
	uint32_t len;  /* bytes, without the NUL */
	float score;   /* SentencePiece merge priority (0 for BPE files) */
	uint8_t type;  /* enum tok_type */
	bool eog;      /* ends a generation */
};

struct merge_entry {
	uint32_t off;   /* "left right" in vocab->merge_arena (no NUL) */
	uint32_t len;
	uint32_t split; /* bytes of "left" (the space's offset) */
};

/* Open-addressing hash index over an entry array. */
struct strtab {
	uint32_t *slots; /* (mask + 1) entry index + 1; 0 = empty */
	uint32_t mask;   /* capacity - 1; capacity a power of two ≥ 2·n */
};

struct engine_vocab {
	enum vocab_kind kind;
	enum pre_kind pre;
	bool ignore_merges;    /* Llama 3: a piece that is a token stays whole */
	bool add_space_prefix; /* SentencePiece: prepend U+2581 */
	bool add_bos;

	int n_tokens;
	struct tok_entry *toks; /* (n_tokens) */
	char *arena;            /* token texts, each NUL-terminated */
	struct strtab tok_index;

	int n_merges;
	struct merge_entry *merges; /* (n_merges), rank = index */
	char *merge_arena;
	struct strtab merge_index;

	int32_t bos, eos, unk, pad, eot, eom; /* -1 = none */
	int32_t byte_tok[256];  /* SentencePiece byte fallback; -1 = none */
	int32_t *specials;      /* (n_specials) ids, longest text first */
	int n_specials;

	/* GPT-2 bytes_to_unicode: byte → code point and back */
	uint16_t byte_cp[256];
	int16_t cp_byte[512];   /* code point < 512 → byte, -1 if unmapped */

	char *chat_template;    /* NULL if the file has none */
};

#define FNV_SEED 2166136261u

static uint32_t fnv1a(uint32_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)s[i];
		h *= 16777619u;
	}
	return h;
}

static int strtab_init(struct strtab *t, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap <<= 1;
	t->slots = calloc(cap, sizeof(*t->slots));
	if (!t->slots)
		return HEARTH_ENOMEM;
	t->mask = (uint32_t)(cap - 1);
	return 0;
}

static int32_t vocab_lookup(const engine_vocab *v, const char *s, size_t n)
{
	uint32_t i = fnv1a(FNV_SEED, s, n) & v->tok_index.mask;

	for (;; i = (i + 1) & v->tok_index.mask) {
		uint32_t e = v->tok_index.slots[i];
		const struct tok_entry *t;

		if (!e)
			return -1;
		t = &v->toks[e - 1];
		if (t->len == n && memcmp(v->arena + t->off, s, n) == 0)
			return (int32_t)(e - 1);
	}
}

/* Later duplicates win, as in llama.cpp's token_to_id map. */
static void vocab_index_token(engine_vocab *v, uint32_t id)
{
	const struct tok_entry *t = &v->toks[id];
	const char *s = v->arena + t->off;
	uint32_t i = fnv1a(FNV_SEED, s, t->len) & v->tok_index.mask;

	for (;; i = (i + 1) & v->tok_index.mask) {
		uint32_t e = v->tok_index.slots[i];

		if (!e || (v->toks[e - 1].len == t->len &&
			   memcmp(v->arena + v->toks[e - 1].off, s, t->len) == 0)) {
			v->tok_index.slots[i] = id + 1;
			return;
		}
	}
}

/* Rank of the merge "l r", or -1. l and r are adjacent in memory or not. */
static int32_t merge_rank(const engine_vocab *v, const char *l, size_t nl,
			  const char *r, size_t nr)
{
	uint32_t h = fnv1a(fnv1a(fnv1a(FNV_SEED, l, nl), " ", 1), r, nr);
	uint32_t i = h & v->merge_index.mask;

	for (;; i = (i + 1) & v->merge_index.mask) {
		uint32_t e = v->merge_index.slots[i];
		const struct merge_entry *m;
		const char *s;

		if (!e)
			return -1;
		m = &v->merges[e - 1];
		s = v->merge_arena + m->off;
		if (m->split == nl && m->len == nl + 1 + nr &&
		    memcmp(s, l, nl) == 0 && memcmp(s + nl + 1, r, nr) == 0)
			return (int32_t)(e - 1);
	}
}

/* Earlier duplicates win (llama.cpp's bpe_ranks.emplace keeps the first). */
static void vocab_index_merge(engine_vocab *v, uint32_t rank)
{
	const struct merge_entry *m = &v->merges[rank];
	const char *s = v->merge_arena + m->off;
	uint32_t i = fnv1a(FNV_SEED, s, m->len) & v->merge_index.mask;

	for (;; i = (i + 1) & v->merge_index.mask) {
		uint32_t e = v->merge_index.slots[i];

		if (!e) {
			v->merge_index.slots[i] = rank + 1;
			return;
		}
		if (v->merges[e - 1].len == m->len &&
		    memcmp(v->merge_arena + v->merges[e - 1].off, s, m->len) == 0)
			return;
	}
}

/* ---------------------------------------------------------------------------
 * Loading from GGUF metadata
 */
static const struct {
	const char *name;
	enum pre_kind pre;
} pre_names[] = {
	{ "gpt-2", PRE_GPT2 },      { "phi-2", PRE_GPT2 },
	{ "roberta-bpe", PRE_GPT2 }, { "llama3", PRE_LLAMA3 },
	{ "llama-v3", PRE_LLAMA3 },  { "llama-bpe", PRE_LLAMA3 },
	{ "falcon3", PRE_LLAMA3 },   { "qwen2", PRE_QWEN2 },
	{ "smollm", PRE_SMOLLM },    { "starcoder", PRE_SMOLLM },
	{ "refact", PRE_SMOLLM },
};

static int load_kind(const gguf *g, engine_vocab *v, char *err, size_t errlen)
{
	gguf_str model, pre = { "default", 7 };

	if (!gguf_find_kv(g, "tokenizer.ggml.model"))
		return engine_errf(err, errlen, HEARTH_EFORMAT,
				   "tokenizer.ggml.model: missing (the file has no tokenizer)");
	if (!gguf_get_str(g, "tokenizer.ggml.model", &model))
		return engine_errf(err, errlen, HEARTH_EFORMAT,
				   "tokenizer.ggml.model: not a string");
	if (gguf_find_kv(g, "tokenizer.ggml.pre") &&
	    !gguf_get_str(g, "tokenizer.ggml.pre", &pre))
		return engine_errf(err, errlen, HEARTH_EFORMAT,
				   "tokenizer.ggml.pre: not a string");
	if (gguf_str_eq(model, "llama")) {
		v->kind = VOCAB_SPM;
		v->pre = PRE_NONE;
		return 0;
	}
	if (!gguf_str_eq(model, "gpt2"))
		return engine_errf(err, errlen, HEARTH_EUNSUPPORTED,
				   "tokenizer.ggml.model: '%.*s' is not supported (known: gpt2, llama)",
				   (int)(model.len > 64 ? 64 : model.len), model.ptr);
	v->kind = VOCAB_BPE;
	for (size_t i = 0; i < sizeof(pre_names) / sizeof(pre_names[0]); i++) {
		if (gguf_str_eq(pre, pre_names[i].name)) {
			v->pre = pre_names[i].pre;
			v->ignore_merges = v->pre == PRE_LLAMA3;
			return 0;
		}
	}
	/* "default" means llama.cpp's four-regex fallback split, which needs
	 * \p{P}; no model we target uses it. */
	return engine_errf(err, errlen, HEARTH_EUNSUPPORTED,
			   "tokenizer.ggml.pre: '%.*s' is not supported for a gpt2 tokenizer "
			   "(known: gpt-2, llama-bpe, llama3, qwen2, smollm, ...)",
			   (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
}

/* A string array of n entries under key (want_n 0 = any non-zero count). */
static int get_str_array(const gguf *g, const char *key, uint64_t want_n,
			 const gguf_kv **out, char *err, size_t errlen)
{
	const gguf_kv *kv = gguf_find_kv(g, key);

	*out = kv;
	if (!kv)
		return engine_errf(err, errlen, HEARTH_EFORMAT, "%s: missing", key);
	if (kv->type != GGUF_VT_ARRAY || kv->arr_type != GGUF_VT_STRING)
		return engine_errf(err, errlen, HEARTH_EFORMAT,
				   "%s: not an array of strings", key);
	if (kv->arr_n == 0 || kv->arr_n > INT32_MAX / 4 ||
	    (want_n && kv->arr_n != want_n))
		return engine_errf(err, errlen, HEARTH_EFORMAT,
				   "%s: %llu entries (expected %s%llu)", key,
				   (unsigned long long)kv->arr_n,
				   want_n ? "" : "1..",
				   (unsigned long long)(want_n ? want_n : INT32_MAX / 4));
	return 0;
}

/* An optional numeric array of exactly n entries; *out NULL if absent. */
static int get_num_array(const gguf *g, const char *key, uint64_t n,
			 const gguf_kv **out, char *err, size_t errlen)
{
	const gguf_kv *kv = gguf_find_kv(g, key);

	*out = kv;
	if (!kv)
		return 0;
	if (kv->type != GGUF_VT_ARRAY || kv->arr_type == GGUF_VT_STRING)
		return engine_errf(err, errlen, HEARTH_EFORMAT,
				   "%s: not a numeric array", key);
	if (kv->arr_n != n)
		return engine_errf(err, errlen, HEARTH_EFORMAT,
				   "%s: %llu entries, but tokenizer.ggml.tokens has %llu",
				   key, (unsigned long long)kv->arr_n,
				   (unsigned long long)n);
	return 0;
}

/* Copy the texts of a string array into one arena (NUL after each). */
static int copy_strings(const gguf_kv *kv, const char *key, char **arena,
			uint32_t *offs, uint32_t *lens, char *err, size_t errlen)
{
	uint64_t total = 0, pos = 0;

	for (uint64_t i = 0; i < kv->arr_n; i++)
		total += kv->arr_strs[i].len + 1;
	if (total > UINT32_MAX)
		return engine_errf(err, errlen, HEARTH_EFORMAT,
				   "%s: %llu bytes of text (limit 4 GiB)", key,
				   (unsigned long long)total);
	*arena = malloc(total ? total : 1);
	if (!*arena)
		return engine_errf(err, errlen, HEARTH_ENOMEM,
				   "%s: out of memory for %llu bytes", key,
				   (unsigned long long)total);
	for (uint64_t i = 0; i < kv->arr_n; i++) {
		const gguf_str *s = &kv->arr_strs[i];

		memcpy(*arena + pos, s->ptr, s->len);
		(*arena)[pos + s->len] = '\0';
		offs[i] = (uint32_t)pos;
		lens[i] = (uint32_t)s->len;
		pos += s->len + 1;
	}
	return 0;
}

/* Per-token score and type from the optional parallel arrays. */
static int load_token_attrs(const gguf *g, engine_vocab *v, char *err,
			    size_t errlen)
{
	const gguf_kv *ks, *kt;
	int rc;

	rc = get_num_array(g, "tokenizer.ggml.scores", (uint64_t)v->n_tokens,
			   &ks, err, errlen);
	if (!rc)
		rc = get_num_array(g, "tokenizer.ggml.token_type",
				   (uint64_t)v->n_tokens, &kt, err, errlen);
	if (rc)
		return rc;
	for (int i = 0; i < v->n_tokens; i++) {
		float score = 0.0f;
		int32_t type = TT_NORMAL;

		if (ks && !gguf_arr_f32(ks, (uint64_t)i, &score))
			return engine_errf(err, errlen, HEARTH_EFORMAT,
					   "tokenizer.ggml.scores[%d]: not a number", i);
		if (kt && (!gguf_arr_i32(kt, (uint64_t)i, &type) ||
			   type < TT_UNDEFINED || type > TT_BYTE))
			return engine_errf(err, errlen, HEARTH_EFORMAT,
					   "tokenizer.ggml.token_type[%d]: invalid type (expected 0..6)",
					   i);
		v->toks[i].score = score;
		/* UNDEFINED is what old converters wrote for plain tokens */
		v->toks[i].type = (uint8_t)(type == TT_UNDEFINED ? TT_NORMAL : type);
	}
	return 0;
}

/*
 * The string array under key, copied into a fresh arena: n strings, the
 * i-th at *offs[i] of *lens[i] bytes (offs and lens are the caller's to free,
 * also after an error). what names the entries in an error message.
 */
static int read_strings(const gguf *g, const char *key, const char *what,
			char **arena, int *n, uint32_t **offs, uint32_t **lens,
			char *err, size_t errlen)
{
	const gguf_kv *kv;
	int rc;

	*offs = *lens = NULL;
	rc = get_str_array(g, key, 0, &kv, err, errlen);
	if (rc)
		return rc;
	*n = (int)kv->arr_n;
	*offs = malloc((size_t)*n * sizeof(**offs));
	*lens = malloc((size_t)*n * sizeof(**lens));
	if (!*offs || !*lens)
		return engine_errf(err, errlen, HEARTH_ENOMEM,
				   "%s: out of memory for %d %s", key, *n, what);
	return copy_strings(kv, key, arena, *offs, *lens, err, errlen);
}

static int load_tokens(const gguf *g, engine_vocab *v, char *err, size_t errlen)
{
	const char *key = "tokenizer.ggml.tokens";
	uint32_t *offs, *lens;
	int rc;

	rc = read_strings(g, key, "tokens", &v->arena, &v->n_tokens, &offs, &lens,
			  err, errlen);
	if (rc)
		goto out_free_tmp;
	v->toks = calloc((size_t)v->n_tokens, sizeof(*v->toks));
	if (!v->toks) {
		rc = engine_errf(err, errlen, HEARTH_ENOMEM,
				 "%s: out of memory for %d tokens", key, v->n_tokens);
		goto out_free_tmp;
	}
	for (int i = 0; i < v->n_tokens; i++) {
		v->toks[i].off = offs[i];
		v->toks[i].len = lens[i];
	}
	rc = load_token_attrs(g, v, err, errlen);
	if (rc)
		goto out_free_tmp;
	if (strtab_init(&v->tok_index, (size_t)v->n_tokens)) {
		rc = engine_errf(err, errlen, HEARTH_ENOMEM,
				 "%s: out of memory for the index", key);
		goto out_free_tmp;
	}
	for (int i = 0; i < v->n_tokens; i++)
		vocab_index_token(v, (uint32_t)i);
out_free_tmp:
	free(offs);
	free(lens);
	return rc;
}

static int load_merges(const gguf *g, engine_vocab *v, char *err, size_t errlen)
{
	const char *key = "tokenizer.ggml.merges";
	uint32_t *offs, *lens;
	int rc;

	rc = read_strings(g, key, "merges", &v->merge_arena, &v->n_merges, &offs,
			  &lens, err, errlen);
	if (!rc) {
		v->merges = calloc((size_t)v->n_merges, sizeof(*v->merges));
		if (!v->merges)
			rc = engine_errf(err, errlen, HEARTH_ENOMEM,
					 "%s: out of memory for %d merges", key, v->n_merges);
	}
	for (int i = 0; !rc && i < v->n_merges; i++) {
		const char *s = v->merge_arena + offs[i];
		/* split at the first space after the first byte, as llama.cpp */
		const char *sp = lens[i] > 1 ? memchr(s + 1, ' ', lens[i] - 1) : NULL;

		if (!sp || sp == s + lens[i] - 1) {
			rc = engine_errf(err, errlen, HEARTH_EFORMAT,
					 "%s[%d]: malformed entry \"%.*s\" (expected \"left right\")",
					 key, i, (int)(lens[i] > 64 ? 64 : lens[i]), s);
			break;
		}
		v->merges[i] = (struct merge_entry){ offs[i], lens[i],
						     (uint32_t)(sp - s) };
	}
	if (!rc && strtab_init(&v->merge_index, (size_t)v->n_merges))
		rc = engine_errf(err, errlen, HEARTH_ENOMEM,
				 "%s: out of memory for the index", key);
	for (int i = 0; !rc && i < v->n_merges; i++)
		vocab_index_merge(v, (uint32_t)i);
	free(offs);
	free(lens);
	return rc;
}

/*
 * One special token id. -1 (or its u32 spelling) means none. An id outside
 * the vocabulary is an error when strict; otherwise (padding: llama.cpp
 * only warns, and some converters leave a stale one) it is dropped.
 */
static int load_id(const gguf *g, const char *key, int n, bool strict,
		   int32_t *out, char *err, size_t errlen)
{
	int32_t i32;
	uint32_t u32;
	int64_t val;

	if (!gguf_find_kv(g, key))
		return 0;
	if (gguf_get_i32(g, key, &i32))
		val = i32;
	else if (gguf_get_u32(g, key, &u32))
		val = u32;
	else
		return engine_errf(err, errlen, HEARTH_EFORMAT,
				   "%s: not a 32-bit integer", key);
	if (val == -1 || val == UINT32_MAX) {
		*out = -1;
		return 0;
	}
	if (val < 0 || val >= n) {
		if (!strict) {
			*out = -1;
			return 0;
		}
		return engine_errf(err, errlen, HEARTH_EFORMAT,
				   "%s: token id %lld out of range (vocabulary has %d tokens)",
				   key, (long long)val, n);
	}
	*out = (int32_t)val;
	return 0;
}

static int load_special_ids(const gguf *g, engine_vocab *v, char *err,
			    size_t errlen)
{
	const int n = v->n_tokens;
	int rc;

	v->bos = v->eos = v->unk = v->pad = v->eot = v->eom = -1;
	if (v->kind == VOCAB_SPM && n > 2) {
		/* SentencePiece's fixed defaults: <unk> 0, <s> 1, </s> 2 */
		v->unk = 0;
		v->bos = 1;
		v->eos = 2;
	}
	rc = load_id(g, "tokenizer.ggml.bos_token_id", n, true, &v->bos, err, errlen);
	if (!rc)
		rc = load_id(g, "tokenizer.ggml.eos_token_id", n, true, &v->eos, err, errlen);
	if (!rc)
		rc = load_id(g, "tokenizer.ggml.unknown_token_id", n, true, &v->unk, err, errlen);
	if (!rc)
		rc = load_id(g, "tokenizer.ggml.padding_token_id", n, false, &v->pad, err, errlen);
	if (!rc)
		rc = load_id(g, "tokenizer.ggml.eot_token_id", n, true, &v->eot, err, errlen);
	if (!rc)
		rc = load_id(g, "tokenizer.ggml.eom_token_id", n, true, &v->eom, err, errlen);
	return rc;
}

static int load_bool(const gguf *g, const char *key, bool *out, char *err,
		     size_t errlen)
{
	if (gguf_find_kv(g, key) && !gguf_get_bool(g, key, out))
		return engine_errf(err, errlen, HEARTH_EFORMAT, "%s: not a bool", key);
	return 0;
}

static int load_options(const gguf *g, engine_vocab *v, char *err, size_t errlen)
{
	gguf_str tmpl;
	int rc;

	/* Defaults as llama.cpp: SentencePiece models want BOS and the space
	 * prefix, byte-level BPE ones neither unless the file says so. */
	v->add_bos = v->kind == VOCAB_SPM;
	v->add_space_prefix = v->kind == VOCAB_SPM;
	rc = load_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos, err, errlen);
	if (!rc)
		rc = load_bool(g, "tokenizer.ggml.add_space_prefix",
			       &v->add_space_prefix, err, errlen);
	if (rc || !gguf_find_kv(g, "tokenizer.chat_template"))
		return rc;
	if (!gguf_get_str(g, "tokenizer.chat_template", &tmpl))
		return engine_errf(err, errlen, HEARTH_EFORMAT,
				   "tokenizer.chat_template: not a string");
	v->chat_template = malloc(tmpl.len + 1);
	if (!v->chat_template)
		return engine_errf(err, errlen, HEARTH_ENOMEM,
				   "tokenizer.chat_template: out of memory");
	memcpy(v->chat_template, tmpl.ptr, tmpl.len);
	v->chat_template[tmpl.len] = '\0';
	return 0;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the
 * other 68 to U+0100.. in byte order, so every byte is a visible char. */
static void build_byte_map(engine_vocab *v)
{
	uint16_t next = 256;

	for (int i = 0; i < 512; i++)
		v->cp_byte[i] = -1;
	for (int b = 0; b < 256; b++) {
		bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) ||
				 (b >= 0xAE && b <= 0xFF);

		v->byte_cp[b] = printable ? (uint16_t)b : next++;
		v->cp_byte[v->byte_cp[b]] = (int16_t)b;
	}
}

static void build_byte_tokens(engine_vocab *v)
{
	for (int b = 0; b < 256; b++) {
		char name[8];
		char one = (char)b;
		int32_t id;

		snprintf(name, sizeof(name), "<0x%02X>", b);
		id = vocab_lookup(v, name, 6);
		if (id < 0)
			id = vocab_lookup(v, &one, 1);
		v->byte_tok[b] = id >= 0 ? id : v->unk;
	}
}

static const char *const eog_texts[] = {
	"<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
	"<|endoftext|>", "<|end_of_text|>", "<EOT>",
};

static void mark_eog(engine_vocab *v)
{
	int32_t ids[] = { v->eos, v->eot, v->eom };

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		if (ids[i] >= 0)
			v->toks[ids[i]].eog = true;
	/* Chat models end a turn with a control token the eos key may not
	 * name (Qwen's eos is <|im_end|> but base models stop at
	 * <|endoftext|>; Llama 3 ends turns with <|eot_id|>). */
	for (size_t i = 0; i < sizeof(eog_texts) / sizeof(eog_texts[0]); i++) {
		int32_t id = vocab_lookup(v, eog_texts[i], strlen(eog_texts[i]));

		if (id >= 0 && v->toks[id].type == TT_CONTROL)
			v->toks[id].eog = true;
	}
}

static int cmp_special(const void *a, const void *b, void *ctx)
{
	const engine_vocab *v = ctx;
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	if (v->toks[x].len != v->toks[y].len)
		return v->toks[x].len > v->toks[y].len ? -1 : 1;
	return (x > y) - (x < y);
}

static int build_specials(engine_vocab *v, char *err, size_t errlen)
{
	int n = 0;

	for (int i = 0; i < v->n_tokens; i++) {
		uint8_t t = v->toks[i].type;

		n += (t == TT_CONTROL || t == TT_USER || t == TT_UNKNOWN) &&
		     v->toks[i].len > 0;
	}
	v->specials = malloc((size_t)(n ? n : 1) * sizeof(*v->specials));
	if (!v->specials)
		return engine_errf(err, errlen, HEARTH_ENOMEM,
				   "tokenizer.ggml.token_type: out of memory");
	for (int i = 0; i < v->n_tokens; i++) {
		uint8_t t = v->toks[i].type;

		if ((t == TT_CONTROL || t == TT_USER || t == TT_UNKNOWN) &&
		    v->toks[i].len > 0)
			v->specials[v->n_specials++] = i;
	}
	/* longest first, so "<|im_start|>" wins over a shorter prefix token */
	qsort_r(v->specials, (size_t)v->n_specials, sizeof(*v->specials),
		cmp_special, v);
	return 0;
}

int engine_vocab_load(const gguf *g, engine_vocab **out, char *err,
		      size_t errlen)
{
	engine_vocab *v;
	int rc;

	if (!out || !g)
		return engine_errf(err, errlen, HEARTH_EINVAL,
				   "engine_vocab_load: NULL argument");
	*out = NULL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return engine_errf(err, errlen, HEARTH_ENOMEM,
				   "tokenizer: out of memory");
	rc = load_kind(g, v, err, errlen);
	if (!rc)
		rc = load_tokens(g, v, err, errlen);
	if (!rc && v->kind == VOCAB_BPE)
		rc = load_merges(g, v, err, errlen);
	if (!rc)
		rc = load_special_ids(g, v, err, errlen);
	if (!rc)
		rc = load_options(g, v, err, errlen);
	if (!rc)
		rc = build_specials(v, err, errlen);
	if (rc)
		goto out_free_vocab;
	build_byte_map(v);
	build_byte_tokens(v);
	mark_eog(v);
	*out = v;
	return 0;
out_free_vocab:
	engine_vocab_free(v);
	return rc;
}

void engine_vocab_free(engine_vocab *v)
{
	if (!v)
		return;
	free(v->toks);
	free(v->arena);
	free(v->tok_index.slots);
	free(v->merges);
	free(v->merge_arena);
	free(v->merge_index.slots);
	free(v->specials);
	free(v->chat_template);
	free(v);
}

/* ---------------------------------------------------------------------------
 * Accessors
 */
int engine_vocab_n(const engine_vocab *v)
{
	return v->n_tokens;
}

int32_t engine_vocab_bos(const engine_vocab *v)
{
	return v->bos;
}

int32_t engine_vocab_eos(const engine_vocab *v)
{
	return v->eos;
}

bool engine_vocab_add_bos(const engine_vocab *v)
{
	return v->add_bos && v->bos >= 0;
}

static bool valid_tok(const engine_vocab *v, int32_t tok)
{
	return tok >= 0 && tok < v->n_tokens;
}

bool engine_vocab_is_eog(const engine_vocab *v, int32_t tok)
{
	return valid_tok(v, tok) && v->toks[tok].eog;
}

bool engine_vocab_is_control(const engine_vocab *v, int32_t tok)
{
	return valid_tok(v, tok) && v->toks[tok].type == TT_CONTROL;
}

bool engine_vocab_is_text(const engine_vocab *v, int32_t tok)
{
	return valid_tok(v, tok) &&
	       (v->toks[tok].type == TT_NORMAL || v->toks[tok].type == TT_BYTE);
}

const char *engine_vocab_text(const engine_vocab *v, int32_t tok)
{
	return valid_tok(v, tok) ? v->arena + v->toks[tok].off : NULL;
}

int32_t engine_vocab_find(const engine_vocab *v, const char *text)
{
	return text ? vocab_lookup(v, text, strlen(text)) : -1;
}

const char *engine_vocab_chat_template(const engine_vocab *v)
{
	return v->chat_template;
}

/* ---------------------------------------------------------------------------
 * Token output and special-token partition
 */
struct tok_out {
	int32_t *ids; /* (cap) */
	size_t n, cap;
};

static int out_push(struct tok_out *o, int32_t id)
{
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 64;
		int32_t *p = realloc(o->ids, cap * sizeof(*p));

		if (!p)
			return HEARTH_ENOMEM;
		o->ids = p;
		o->cap = cap;
	}
	o->ids[o->n++] = id;
	return 0;
}

/* A stretch of the input: raw text (tok < 0) or one special token. */
struct frag {
	size_t off, len;
	int32_t tok;
};

struct frag_list {
	struct frag *a; /* (cap) */
	size_t n, cap;
};

static int frag_push(struct frag_list *l, size_t off, size_t len, int32_t tok)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct frag *p = realloc(l->a, cap * sizeof(*p));

		if (!p)
			return HEARTH_ENOMEM;
		l->a = p;
		l->cap = cap;
	}
	l->a[l->n++] = (struct frag){ off, len, tok };
	return 0;
}

/* Cut every occurrence of special token id out of the text fragments of
 * src into dst (dst emptied first). */
static int split_on_special(const engine_vocab *v, const char *text, int32_t id,
			    const struct frag_list *src, struct frag_list *dst)
{
	const char *s = v->arena + v->toks[id].off;
	size_t slen = v->toks[id].len;
	int rc = 0;

	dst->n = 0;
	for (size_t i = 0; !rc && i < src->n; i++) {
		struct frag f = src->a[i];
		const char *p = text + f.off, *end = p + f.len, *hit;

		if (f.tok >= 0) {
			rc = frag_push(dst, f.off, f.len, f.tok);
			continue;
		}
		while (!rc && (hit = memmem(p, (size_t)(end - p), s, slen))) {
			if (hit > p)
				rc = frag_push(dst, (size_t)(p - text), (size_t)(hit - p), -1);
			if (!rc)
				rc = frag_push(dst, (size_t)(hit - text), slen, id);
			p = hit + slen;
		}
		if (!rc && p < end)
			rc = frag_push(dst, (size_t)(p - text), (size_t)(end - p), -1);
	}
	return rc;
}

static bool frags_have_text(const struct frag_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->a[i].tok < 0)
			return true;
	return false;
}

/* Special tokens first, longest first (llama.cpp's st_partition order). */
static int partition(const engine_vocab *v, const char *text, size_t len,
		     bool parse_special, struct frag_list *out)
{
	struct frag_list tmp = { 0 };
	int rc = 0;

	out->n = 0;
	if (len)
		rc = frag_push(out, 0, len, -1);
	for (int i = 0; !rc && i < v->n_specials && frags_have_text(out); i++) {
		int32_t id = v->specials[i];
		struct frag_list swap;

		if (!parse_special && v->toks[id].type != TT_USER)
			continue;
		rc = split_on_special(v, text, id, out, &tmp);
		swap = *out;
		*out = tmp;
		tmp = swap;
	}
	free(tmp.a);
	return rc;
}

/* ---------------------------------------------------------------------------
 * Shared merge loop: symbols in a doubly linked list over a text buffer,
 * candidate pairs in a binary heap (best first; ties: leftmost first).
 */
struct sym {
	int32_t prev, next; /* -1 at the ends */
	uint32_t off, n;    /* bytes of the text buffer; n = 0 once merged away */
};

struct bigram {
	double prio;        /* lower is better: BPE rank, or -SPM score */
	int32_t left, right;
	uint32_t size;      /* n of left + right when queued (staleness check) */
};

struct heap {
	struct bigram *a; /* (cap) */
	size_t n, cap;
};

static bool bigram_before(const struct bigram *x, const struct bigram *y)
{
	return x->prio < y->prio || (x->prio == y->prio && x->left < y->left);
}

static bool heap_push(struct heap *h, struct bigram b)
{
	size_t i;

	/* at most 3·n_symbols entries (n-1 initial pairs, 2 per merge), but
	 * usually far fewer: grow on demand */
	if (h->n == h->cap) {
		size_t cap = 2 * h->cap + 16;
		struct bigram *a = realloc(h->a, cap * sizeof(*a));

		if (!a)
			return false;
		h->a = a;
		h->cap = cap;
	}
	i = h->n++;
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!bigram_before(&b, &h->a[p]))
			break;
		h->a[i] = h->a[p];
		i = p;
	}
	h->a[i] = b;
	return true;
}

static struct bigram heap_pop(struct heap *h)
{
	struct bigram top = h->a[0], last = h->a[--h->n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && bigram_before(&h->a[c + 1], &h->a[c]))
			c++;
		if (!bigram_before(&h->a[c], &last))
			break;
		h->a[i] = h->a[c];
		i = c;
	}
	if (h->n)
		h->a[i] = last;
	return top;
}

struct merge_work {
	const engine_vocab *v;
	const char *text; /* the buffer symbols index into */
	struct sym *sy;   /* (n_sym) */
	struct heap h;
	bool spm;
	bool oom;         /* a heap push failed: the result is incomplete */
};

static void try_bigram(struct merge_work *w, int32_t l, int32_t r)
{
	const char *a;
	uint32_t nl, nr;
	double prio;

	if (l < 0 || r < 0)
		return;
	a = w->text + w->sy[l].off;
	nl = w->sy[l].n;
	nr = w->sy[r].n;
	if (w->spm) {
		/* SentencePiece: merge if the joined text is a token, by score */
		int32_t id = vocab_lookup(w->v, a, nl + nr);

		if (id < 0)
			return;
		prio = -(double)w->v->toks[id].score;
	} else {
		int32_t rank = merge_rank(w->v, a, nl, a + nl, nr);

		if (rank < 0)
			return;
		prio = rank;
	}
	if (!heap_push(&w->h, (struct bigram){ prio, l, r, nl + nr }))
		w->oom = true;
}

static int merge_symbols(struct merge_work *w, int32_t n_sym)
{
	w->h.n = 0;
	w->oom = false;
	for (int32_t i = 0; i + 1 < n_sym; i++)
		try_bigram(w, i, i + 1);
	while (w->h.n) {
		struct bigram b = heap_pop(&w->h);
		struct sym *l = &w->sy[b.left], *r = &w->sy[b.right];

		/* stale: a side was merged away or grew since it was queued */
		if (!l->n || !r->n || l->n + r->n != b.size)
			continue;
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			w->sy[r->next].prev = b.left;
		try_bigram(w, l->prev, b.left);
		try_bigram(w, b.left, l->next);
	}
	return w->oom ? HEARTH_ENOMEM : 0;
}

static int merge_work_init(struct merge_work *w, const engine_vocab *v,
			   size_t max_sym, bool spm)
{
	memset(w, 0, sizeof(*w));
	w->v = v;
	w->spm = spm;
	w->sy = malloc((max_sym ? max_sym : 1) * sizeof(*w->sy));
	w->h.cap = max_sym + 16;
	w->h.a = malloc(w->h.cap * sizeof(*w->h.a));
	return w->sy && w->h.a ? 0 : HEARTH_ENOMEM;
}

static void merge_work_free(struct merge_work *w)
{
	free(w->sy);
	free(w->h.a);
}

/* ---------------------------------------------------------------------------
 * Pre-tokenizer: code points with their classes, split into pieces.
 */
#define CP_NONE UINT32_MAX

struct cpts {
	uint32_t *cp;   /* (n) code points; invalid UTF-8 bytes become U+FFFD */
	uint8_t *fl;    /* (n) ENGINE_UC_* flags */
	size_t *boff;   /* (n + 1) byte offset of each code point */
	size_t n;
	size_t *ends;   /* (n) piece ends (code point index), n_ends of them */
	size_t n_ends;
};

/* Length of the UTF-8 sequence at s (1 for an invalid byte), with its code
 * point. Structure checks only, as llama.cpp's decoder. */
static size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xE0) == 0xC0) {
		len = 2;
		c = s[0] & 0x1F;
	} else if ((s[0] & 0xF0) == 0xE0) {
		len = 3;
		c = s[0] & 0x0F;
	} else if ((s[0] & 0xF8) == 0xF0) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		*cp = 0xFFFD;
		return 1;
	}
	if (len > n)
		goto out_invalid;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			goto out_invalid;
		c = (c << 6) | (s[i] & 0x3F);
	}
	*cp = c;
	return len;
out_invalid:
	*cp = 0xFFFD;
	return 1;
}

static int cpts_decode(const char *s, size_t n, struct cpts *c)
{
	size_t i = 0;

	memset(c, 0, sizeof(*c));
	c->cp = malloc((n + 1) * sizeof(*c->cp));
	c->fl = malloc(n + 1);
	c->boff = malloc((n + 1) * sizeof(*c->boff));
	c->ends = malloc((n + 1) * sizeof(*c->ends));
	if (!c->cp || !c->fl || !c->boff || !c->ends)
		return HEARTH_ENOMEM;
	while (i < n) {
		uint32_t cp;
		size_t len = utf8_decode((const uint8_t *)s + i, n - i, &cp);

		c->cp[c->n] = cp;
		c->fl[c->n] = (uint8_t)engine_unicode_flags(cp);
		c->boff[c->n++] = i;
		i += len;
	}
	c->boff[c->n] = n;
	return 0;
}

static void cpts_free(struct cpts *c)
{
	free(c->cp);
	free(c->fl);
	free(c->boff);
	free(c->ends);
}

/* Range-limited views: outside [lo, hi) a regex sees "end of text". */
struct span {
	const struct cpts *c;
	size_t lo, hi;
};

static uint32_t sp_cp(const struct span *s, size_t i)
{
	return i >= s->lo && i < s->hi ? s->c->cp[i] : CP_NONE;
}

static uint8_t sp_fl(const struct span *s, size_t i)
{
	return i >= s->lo && i < s->hi ? s->c->fl[i] : 0;
}

static void add_end(struct cpts *c, size_t end)
{
	c->ends[c->n_ends++] = end;
}

#define UC_SLN (ENGINE_UC_SPACE | ENGINE_UC_LETTER | ENGINE_UC_NUMBER)

/* 's 't 're 've 'm 'll 'd at i (ASCII case folded if icase): its length. */
static size_t contraction_len(const struct span *s, size_t i, bool icase)
{
	uint32_t c1 = sp_cp(s, i + 1), c2 = sp_cp(s, i + 2);

	if (sp_cp(s, i) != '\'' || c1 == CP_NONE)
		return 0;
	if (icase && c1 >= 'A' && c1 <= 'Z')
		c1 += 'a' - 'A';
	if (icase && c2 != CP_NONE && c2 >= 'A' && c2 <= 'Z')
		c2 += 'a' - 'A';
	if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
		return 2;
	if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') ||
	    (c1 == 'l' && c2 == 'l'))
		return 3;
	return 0;
}

/* Length of the whitespace run at i. */
static size_t space_run(const struct span *s, size_t i)
{
	size_t n = 0;

	while (sp_fl(s, i + n) & ENGINE_UC_SPACE)
		n++;
	return n;
}

/* \s+(?!\S)|\s+ : a run followed by text leaves its last space to the
 * next piece (so " world" keeps its space), unless it is a single one. */
static size_t space_piece_len(const struct span *s, size_t i)
{
	size_t n = space_run(s, i);

	if (n > 1 && i + n < s->hi)
		return n - 1;
	return n ? n : 1;
}

/* Length of the piece at i under the GPT-2 regex. */
static size_t gpt2_piece_len(const struct span *s, size_t i)
{
	uint32_t cp = sp_cp(s, i);
	size_t j = i + (cp == ' ');
	uint8_t f2 = sp_fl(s, j);
	size_t n = contraction_len(s, i, false);

	if (n)
		return n;
	if (j < s->hi && (f2 & ENGINE_UC_LETTER)) { /*  ?\p{L}+ */
		while (sp_fl(s, j) & ENGINE_UC_LETTER)
			j++;
		return j - i;
	}
	if (j < s->hi && (f2 & ENGINE_UC_NUMBER)) { /*  ?\p{N}+ */
		while (sp_fl(s, j) & ENGINE_UC_NUMBER)
			j++;
		return j - i;
	}
	if (j < s->hi && !(f2 & UC_SLN)) { /*  ?[^\s\p{L}\p{N}]+ */
		while (j < s->hi && !(sp_fl(s, j) & UC_SLN))
			j++;
		return j - i;
	}
	return space_piece_len(s, i);
}

/* Length of the piece at i under the Llama 3 regex (max_digits 3) or the
 * Qwen2 one (max_digits 1). */
static size_t llama3_piece_len(const struct span *s, size_t i, size_t max_digits)
{
	uint32_t cp = sp_cp(s, i);
	uint8_t f = sp_fl(s, i);
	size_t j, n = contraction_len(s, i, true);

	if (n)
		return n;
	/* [^\r\n\p{L}\p{N}]?\p{L}+ */
	if (cp != '\r' && cp != '\n' && !(f & ENGINE_UC_NUMBER) &&
	    ((f & ENGINE_UC_LETTER) || (sp_fl(s, i + 1) & ENGINE_UC_LETTER))) {
		for (j = i + 1; sp_fl(s, j) & ENGINE_UC_LETTER; j++)
			;
		return j - i;
	}
	if (f & ENGINE_UC_NUMBER) { /* \p{N}{1,max_digits} */
		for (j = i; j - i < max_digits && (sp_fl(s, j) & ENGINE_UC_NUMBER); j++)
			;
		return j - i;
	}
	/*  ?[^\s\p{L}\p{N}]+[\r\n]* */
	j = i + (cp == ' ');
	if (j < s->hi && !(sp_fl(s, j) & UC_SLN)) {
		while (j < s->hi && !(sp_fl(s, j) & UC_SLN))
			j++;
		while (sp_cp(s, j) == '\r' || sp_cp(s, j) == '\n')
			j++;
		return j - i;
	}
	/* \s*[\r\n]+ : up to the last line break of the whitespace run */
	n = space_run(s, i);
	for (j = n; j > 0; j--)
		if (sp_cp(s, i + j - 1) == '\r' || sp_cp(s, i + j - 1) == '\n')
			return j;
	return space_piece_len(s, i);
}

static void split_span(const engine_vocab *v, struct cpts *c, size_t lo,
		       size_t hi)
{
	struct span s = { c, lo, hi };

	for (size_t i = lo; i < hi;) {
		size_t n;

		switch (v->pre) {
		case PRE_LLAMA3:
			n = llama3_piece_len(&s, i, 3);
			break;
		case PRE_QWEN2:
			n = llama3_piece_len(&s, i, 1);
			break;
		default:
			n = gpt2_piece_len(&s, i);
			break;
		}
		i += n;
		add_end(c, i);
	}
}

static void pre_split(const engine_vocab *v, struct cpts *c)
{
	size_t lo = 0;

	c->n_ends = 0;
	if (v->pre != PRE_SMOLLM) {
		split_span(v, c, 0, c->n);
		return;
	}
	/* first \p{N}: each digit alone, the stretches between kept; then
	 * the GPT-2 regex inside every stretch */
	for (size_t i = 0; i < c->n; i++) {
		if (!(c->fl[i] & ENGINE_UC_NUMBER))
			continue;
		split_span(v, c, lo, i);
		add_end(c, i + 1);
		lo = i + 1;
	}
	split_span(v, c, lo, c->n);
}

/* ---------------------------------------------------------------------------
 * Byte-level BPE
 */

/* Append the token of a final symbol, or (never for a complete byte-level
 * vocabulary) the tokens of its single characters. */
static int bpe_emit(const engine_vocab *v, const char *s, size_t n,
		    struct tok_out *o)
{
	int32_t id = vocab_lookup(v, s, n);
	int rc = 0;

	if (id >= 0)
		return out_push(o, id);
	for (size_t i = 0; !rc && i < n;) {
		uint32_t cp;
		size_t len = utf8_decode((const uint8_t *)s + i, n - i, &cp);

		id = vocab_lookup(v, s + i, len);
		if (id < 0)
			id = v->unk;
		if (id >= 0)
			rc = out_push(o, id);
		i += len;
	}
	return rc;
}

/* One pre-tokenized piece: map bytes, merge by rank, emit. enc holds at
 * least 2 bytes per input byte. */
static int bpe_piece(struct merge_work *w, const char *bytes, size_t n,
		     char *enc, struct tok_out *o)
{
	const engine_vocab *v = w->v;
	size_t len = 0;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		uint16_t cp = v->byte_cp[(uint8_t)bytes[i]];

		/* code points < 0x800: one or two UTF-8 bytes */
		w->sy[i] = (struct sym){ (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1,
					 (uint32_t)len, cp < 0x80 ? 1u : 2u };
		if (cp < 0x80) {
			enc[len++] = (char)cp;
		} else {
			enc[len++] = (char)(0xC0 | (cp >> 6));
			enc[len++] = (char)(0x80 | (cp & 0x3F));
		}
	}
	if (v->ignore_merges) {
		int32_t id = vocab_lookup(v, enc, len);

		if (id >= 0)
			return out_push(o, id);
	}
	w->text = enc;
	rc = merge_symbols(w, (int32_t)n);
	for (int32_t i = 0; !rc && i >= 0; i = w->sy[i].next)
		rc = bpe_emit(v, enc + w->sy[i].off, w->sy[i].n, o);
	return rc;
}

static int bpe_fragment(const engine_vocab *v, const char *s, size_t n,
			struct tok_out *o)
{
	struct cpts c;
	struct merge_work w = { 0 };
	char *enc = NULL;
	size_t max_piece = 0, start = 0;
	int rc;

	rc = cpts_decode(s, n, &c);
	if (rc)
		goto out_free;
	pre_split(v, &c);
	for (size_t k = 0; k < c.n_ends; k++) {
		size_t bytes = c.boff[c.ends[k]] - c.boff[start];

		max_piece = bytes > max_piece ? bytes : max_piece;
		start = c.ends[k];
	}
	rc = merge_work_init(&w, v, max_piece, false);
	enc = malloc(2 * max_piece + 1);
	if (rc || !enc) {
		rc = HEARTH_ENOMEM;
		goto out_free;
	}
	start = 0;
	for (size_t k = 0; !rc && k < c.n_ends; k++) {
		size_t b0 = c.boff[start], b1 = c.boff[c.ends[k]];

		rc = bpe_piece(&w, s + b0, b1 - b0, enc, o);
		start = c.ends[k];
	}
out_free:
	free(enc);
	merge_work_free(&w);
	cpts_free(&c);
	return rc;
}

/* ---------------------------------------------------------------------------
 * SentencePiece BPE
 */
static const char spm_space[] = "\xE2\x96\x81"; /* U+2581 '▁' */

/* Bytes of the UTF-8 sequence starting with lead byte c, by its high
 * nibble (SentencePiece's rule; a stray continuation byte counts as 1). */
static size_t utf8_len_of(uint8_t c)
{
	static const uint8_t lens[16] = { 1, 1, 1, 1, 1, 1, 1, 1,
					  1, 1, 1, 1, 2, 2, 3, 4 };
	return lens[c >> 4];
}

static int spm_emit(const engine_vocab *v, const char *s, size_t n,
		    struct tok_out *o)
{
	int32_t id = vocab_lookup(v, s, n);
	int rc = 0;

	if (id >= 0)
		return out_push(o, id);
	/* never formed a token: byte fallback */
	for (size_t i = 0; !rc && i < n; i++)
		if (v->byte_tok[(uint8_t)s[i]] >= 0)
			rc = out_push(o, v->byte_tok[(uint8_t)s[i]]);
	return rc;
}

static int spm_fragment(const engine_vocab *v, const char *s, size_t n,
			bool prefix, struct tok_out *o)
{
	struct merge_work w = { 0 };
	char *esc = malloc(3 * n + 4);
	size_t len = 0, chars = 0;
	int32_t n_sym = 0;
	int rc = 0;

	if (!esc) {
		rc = HEARTH_ENOMEM;
		goto out_free;
	}
	if (prefix) {
		memcpy(esc, spm_space, 3);
		len = 3;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] == ' ') {
			memcpy(esc + len, spm_space, 3);
			len += 3;
		} else {
			esc[len++] = s[i];
		}
	}
	for (size_t i = 0; i < len; chars++)
		i += utf8_len_of((uint8_t)esc[i]);
	if (merge_work_init(&w, v, chars, true)) {
		rc = HEARTH_ENOMEM;
		goto out_free;
	}
	for (size_t i = 0; i < len; n_sym++) {
		size_t cl = utf8_len_of((uint8_t)esc[i]);

		cl = cl < len - i ? cl : len - i;
		w.sy[n_sym] = (struct sym){ n_sym - 1, -1, (uint32_t)i, (uint32_t)cl };
		if (n_sym > 0)
			w.sy[n_sym - 1].next = n_sym;
		i += cl;
	}
	w.text = esc;
	rc = merge_symbols(&w, n_sym);
	for (int32_t i = 0; !rc && n_sym && i >= 0; i = w.sy[i].next)
		rc = spm_emit(v, esc + w.sy[i].off, w.sy[i].n, o);
out_free:
	free(esc);
	merge_work_free(&w);
	return rc;
}

/* ---------------------------------------------------------------------------
 * Tokenize
 */
static int tokenize_frags(const engine_vocab *v, const char *text,
			  const struct frag_list *fl, struct tok_out *o)
{
	/* SentencePiece prefixes a space at the start and after every
	 * special token (llama.cpp: "is_prev_special") */
	bool prev_special = true;
	int rc = 0;

	for (size_t i = 0; !rc && i < fl->n; i++) {
		const struct frag *f = &fl->a[i];

		if (f->tok >= 0) {
			rc = out_push(o, f->tok);
			prev_special = true;
		} else if (v->kind == VOCAB_SPM) {
			rc = spm_fragment(v, text + f->off, f->len,
					  v->add_space_prefix && prev_special, o);
			prev_special = false;
		} else {
			rc = bpe_fragment(v, text + f->off, f->len, o);
		}
	}
	return rc;
}

int engine_vocab_tokenize(const engine_vocab *v, const char *text, size_t len,
			  bool add_bos, bool parse_special, int32_t *out,
			  int n_max)
{
	struct tok_out o = { 0 };
	struct frag_list fl = { 0 };
	int rc;

	if (!v || !text || n_max < 0 || (n_max > 0 && !out))
		return HEARTH_EINVAL;
	/* every byte yields at most one token (plus BOS); counts are int */
	if (len > (size_t)INT_MAX - 1)
		return HEARTH_ERANGE;
	rc = partition(v, text, len, parse_special, &fl);
	if (!rc && add_bos && v->bos >= 0)
		rc = out_push(&o, v->bos);
	if (!rc)
		rc = tokenize_frags(v, text, &fl, &o);
	if (!rc) {
		if (n_max > 0 && o.n > 0)
			memcpy(out, o.ids, (o.n < (size_t)n_max ? o.n : (size_t)n_max) *
					   sizeof(*out));
		rc = o.n <= (size_t)n_max ? (int)o.n : -(int)o.n;
	}
	free(fl.a);
	free(o.ids);
	return rc;
}

/* ---------------------------------------------------------------------------
 * Pieces and detokenize
 */

/* Bounded output: counts every byte, writes those that fit. */
struct sink {
	char *buf;
	size_t cap, n;
	bool lstrip; /* drop one leading ' ' of the next byte written */
};

static void sink_put(struct sink *k, const char *s, size_t n)
{
	if (!n)
		return;
	if (k->lstrip && *s == ' ') {
		s++;
		n--;
	}
	k->lstrip = false;
	for (size_t i = 0; i < n; i++, k->n++)
		if (k->n < k->cap)
			k->buf[k->n] = s[i];
}

/* "<0xAB>" → 0xAB, or -1. */
static int parse_byte_token(const char *s, uint32_t n)
{
	unsigned x;
	int used = 0;

	if (n != 6 || sscanf(s, "<0x%2X>%n", &x, &used) != 1 || used != 6)
		return -1;
	return (int)x;
}

/* SentencePiece text: '▁' back to ' '. */
static void put_spm_text(struct sink *k, const char *s, size_t n)
{
	size_t i = 0, start = 0;

	while (i < n) {
		if (i + 3 <= n && memcmp(s + i, spm_space, 3) == 0) {
			sink_put(k, s + start, i - start);
			sink_put(k, " ", 1);
			i += 3;
			start = i;
		} else {
			i++;
		}
	}
	sink_put(k, s + start, n - start);
}

/* Byte-level text: every code point back to its byte; code points outside
 * the map (not produced by our encoder) are copied as they are. */
static void put_bpe_text(const engine_vocab *v, struct sink *k, const char *s,
			 size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len = utf8_decode((const uint8_t *)s + i, n - i, &cp);

		if (cp < 512 && v->cp_byte[cp] >= 0 && len > 0) {
			char b = (char)v->cp_byte[cp];

			sink_put(k, &b, 1);
		} else {
			sink_put(k, s + i, len);
		}
		i += len;
	}
}

static void render_token(const engine_vocab *v, int32_t tok,
			 bool render_special, struct sink *k)
{
	const struct tok_entry *t = &v->toks[tok];
	const char *s = v->arena + t->off;
	int byte;

	switch (t->type) {
	case TT_CONTROL:
	case TT_UNKNOWN:
		if (render_special)
			sink_put(k, s, t->len);
		return;
	case TT_USER:
		sink_put(k, s, t->len);
		return;
	case TT_UNUSED:
		return;
	case TT_BYTE:
		byte = parse_byte_token(s, t->len);
		if (byte >= 0) {
			char b = (char)byte;

			sink_put(k, &b, 1);
			return;
		}
		break;
	default:
		break;
	}
	if (v->kind == VOCAB_SPM)
		put_spm_text(k, s, t->len);
	else
		put_bpe_text(v, k, s, t->len);
}

static int sink_result(const struct sink *k)
{
	if (k->n > (size_t)INT_MAX)
		return HEARTH_ERANGE;
	return k->n <= k->cap ? (int)k->n : -(int)k->n;
}

int engine_vocab_piece(const engine_vocab *v, int32_t tok, char *buf,
		       size_t len, bool render_special)
{
	struct sink k = { buf, buf ? len : 0, 0, false };

	if (!v || !valid_tok(v, tok))
		return HEARTH_EINVAL;
	render_token(v, tok, render_special, &k);
	return sink_result(&k);
}

int engine_vocab_detokenize(const engine_vocab *v, const int32_t *toks,
			    int n, char *buf, size_t len, bool render_special)
{
	struct sink k = { buf, buf ? len : 0, 0, false };
	int i = 0;

	if (!v || n < 0 || (n > 0 && !toks))
		return HEARTH_EINVAL;
	for (int j = 0; j < n; j++)
		if (!valid_tok(v, toks[j]))
			return HEARTH_EINVAL;
	/* SentencePiece: the space tokenize prepended goes away again. A
	 * hidden BOS in front does not count as the first piece (llama.cpp
	 * with remove_special); a rendered one does, so "<s> Hello" keeps
	 * its space as llama.cpp prints it. */
	if (n > 0 && toks[0] == v->bos && !render_special)
		i = 1;
	k.lstrip = v->kind == VOCAB_SPM && v->add_space_prefix;
	for (; i < n; i++) {
		render_token(v, toks[i], render_special, &k);
		k.lstrip = false; /* only the first piece, even if empty */
	}
	return sink_result(&k);
}
