/*
 * test_tokenizer.c — the tokenizers of engine/tokenizer.c.
 *
 * Acceptance: the test vectors of /work/shared/models/vocab (Qwen2 and
 * GPT-2 byte-level BPE, Llama SentencePiece; produced and checked with
 * llama.cpp on those exact files, see the README there) must all match
 * token for token, and every text must come back exactly from
 * detokenize(tokenize(text)).
 *
 * Then, on the same files: special-token parsing, SentencePiece byte
 * fallback and leading-space handling, buffer-size reporting. Without the
 * shared files those tests skip with a message.
 *
 * Finally, on vocabularies built here as GGUF bytes (a tiny writer below):
 * the pre-tokenizer splits (Llama 3, Qwen2, GPT-2, SmolLM2) with pieces
 * derived by hand from the regexes quoted in tokenizer.c, BPE merge order,
 * and load errors that must name the metadata key at fault.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine_int.h"

#include "alloc_fail.h"

/* ---------------------------------------------------------------------------
 * Shared model files
 */
static bool models_dir(char *buf, size_t len)
{
	const char *env = getenv("HEARTH_MODELS");
	const char *src = getenv("HEARTH_SRC");

	if (env && *env)
		snprintf(buf, len, "%s", env);
	else if (src && *src)
		snprintf(buf, len, "%s/../shared/models", src);
	else
		snprintf(buf, len, "../shared/models");
	return true;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

struct vocab_file {
	gguf *g;
	engine_vocab *v;
	char path[4096];
};

/* Open vocab/<name>; false (and the test skips) when the file is absent. */
static bool open_vocab(const char *name, struct vocab_file *vf)
{
	char dir[2048], err[ENGINE_ERRLEN];
	FILE *f;
	int rc;

	models_dir(dir, sizeof(dir));
	snprintf(vf->path, sizeof(vf->path), "%s/vocab/%s", dir, name);
	f = fopen(vf->path, "rb");
	if (!f) {
		fprintf(stderr, "test_tokenizer: %s not found (set HEARTH_MODELS "
			"to the shared models directory): skipped\n", vf->path);
		return false;
	}
	fclose(f);
	rc = gguf_open(vf->path, &vf->g, err, sizeof(err));
	if (rc)
		fail_msg("gguf_open %s: %s", vf->path, err);
	rc = engine_vocab_load(vf->g, &vf->v, err, sizeof(err));
	if (rc)
		fail_msg("engine_vocab_load %s: %s", vf->path, err);
	return true;
}

static void close_vocab(struct vocab_file *vf)
{
	engine_vocab_free(vf->v);
	gguf_close(vf->g);
}

/* tokenize into a malloc'd array; *n gets the count */
static int32_t *tokenize(const engine_vocab *v, const char *s, size_t len,
			 bool add_bos, bool special, int *n)
{
	int need = engine_vocab_tokenize(v, s, len, add_bos, special, NULL, 0);
	int32_t *ids;

	/* with n_max 0 the result is -(count), or 0 for no tokens */
	assert_true(need <= 0);
	ids = malloc(sizeof(*ids) * (size_t)(-need + 1));
	assert_non_null(ids);
	*n = engine_vocab_tokenize(v, s, len, add_bos, special, ids, -need);
	assert_int_equal(*n, -need);
	return ids;
}

static char *detokenize(const engine_vocab *v, const int32_t *ids, int n,
			bool special, int *len)
{
	int need = engine_vocab_detokenize(v, ids, n, NULL, 0, special);
	char *buf;

	assert_true(need <= 0);
	buf = malloc((size_t)-need + 1);
	assert_non_null(buf);
	*len = engine_vocab_detokenize(v, ids, n, buf, (size_t)-need, special);
	assert_int_equal(*len, -need);
	buf[*len] = '\0';
	return buf;
}

/* ---------------------------------------------------------------------------
 * Test vectors
 */
#define VOCAB_SEP "\n__ggml_vocab_test__\n"

static void print_escaped(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n')
			fputs("\\n", stderr);
		else if (c == '\t')
			fputs("\\t", stderr);
		else if (c < 0x20)
			fprintf(stderr, "\\x%02x", c);
		else
			fputc(c, stderr);
	}
}

static void print_ids(const char *what, const int32_t *ids, int n)
{
	fprintf(stderr, "  %s:", what);
	for (int i = 0; i < n; i++)
		fprintf(stderr, " %d", ids[i]);
	fputc('\n', stderr);
}

/* Expected ids of line `line` of .out into ids (cap entries). */
static int parse_ids(char *line, int32_t *ids, int cap)
{
	int n = 0;
	char *end;

	for (;;) {
		long x = strtol(line, &end, 10);

		if (end == line)
			return n;
		assert_true(n < cap);
		ids[n++] = (int32_t)x;
		line = end;
	}
}

/* One vector: tokens must equal the expected line, the text must come
 * back from detokenize. Returns the number of failures (0..2). */
static int check_vector(const engine_vocab *v, int idx, const char *text,
			size_t len, char *out_line)
{
	int32_t want[1024];
	int n_want = parse_ids(out_line, want, 1024), n_got, back_len, bad = 0;
	int32_t *got = tokenize(v, text, len, false, false, &n_got);
	char *back = detokenize(v, got, n_got, false, &back_len);

	if (n_got != n_want || memcmp(got, want, sizeof(*got) * (size_t)n_got)) {
		fprintf(stderr, "vector %d: \"", idx);
		print_escaped(text, len);
		fputs("\"\n", stderr);
		print_ids("want", want, n_want);
		print_ids("got ", got, n_got);
		bad++;
	}
	if ((size_t)back_len != len || memcmp(back, text, len)) {
		fprintf(stderr, "vector %d round trip: \"", idx);
		print_escaped(text, len);
		fputs("\" came back as \"", stderr);
		print_escaped(back, (size_t)back_len);
		fputs("\"\n", stderr);
		bad++;
	}
	free(got);
	free(back);
	return bad;
}

/*
 * X.gguf.inp: texts separated by the separator line, the first one from the
 * start of the file, each without the newline before the separator.
 * X.gguf.out: line i = the ids of text i.
 */
static void run_vectors(const char *name)
{
	struct vocab_file vf;
	char path[4200], *inp, *out, *p, *line;
	size_t inp_len, out_len;
	int n = 0, bad = 0;

	if (!open_vocab(name, &vf)) {
		skip();
		return;
	}
	snprintf(path, sizeof(path), "%s.inp", vf.path);
	inp = slurp(path, &inp_len);
	snprintf(path, sizeof(path), "%s.out", vf.path);
	out = slurp(path, &out_len);
	assert_non_null(inp);
	assert_non_null(out);
	p = inp;
	line = out;
	for (char *sep; (sep = strstr(p, VOCAB_SEP)); p = sep + strlen(VOCAB_SEP)) {
		char *nl = strchr(line, '\n');

		assert_non_null(nl);
		*nl = '\0';
		bad += check_vector(vf.v, n++, p, (size_t)(sep - p), line);
		line = nl + 1;
	}
	/* the files hold 46 vectors; all must have been seen */
	assert_int_equal(n, 46);
	assert_int_equal(*line, '\0');
	fprintf(stderr, "%s: %d vectors, %d failures\n", name, n, bad);
	assert_int_equal(bad, 0);
	free(inp);
	free(out);
	close_vocab(&vf);
}

static void test_vectors_qwen2(void **state)
{
	(void)state;
	run_vectors("ggml-vocab-qwen2.gguf");
}

static void test_vectors_gpt2(void **state)
{
	(void)state;
	run_vectors("ggml-vocab-gpt-2.gguf");
}

static void test_vectors_llama_spm(void **state)
{
	(void)state;
	run_vectors("ggml-vocab-llama-spm.gguf");
}

/* ---------------------------------------------------------------------------
 * Behaviour on the real vocabularies
 */
static void assert_ids(const int32_t *got, int n_got, const int32_t *want,
		       int n_want)
{
	if (n_got != n_want || memcmp(got, want, sizeof(*got) * (size_t)n_got)) {
		print_ids("want", want, n_want);
		print_ids("got ", got, n_got);
		fail_msg("token ids differ");
	}
}

static void check_tokens(const engine_vocab *v, const char *text, bool bos,
			 bool special, const int32_t *want, int n_want)
{
	int n;
	int32_t *got = tokenize(v, text, strlen(text), bos, special, &n);

	assert_ids(got, n, want, n_want);
	free(got);
}

static void check_detok(const engine_vocab *v, const int32_t *ids, int n,
			bool special, const char *want)
{
	int len;
	char *got = detokenize(v, ids, n, special, &len);

	assert_string_equal(got, want);
	assert_int_equal((size_t)len, strlen(want));
	free(got);
}

/*
 * Qwen2.5's tokenizer.json: <|im_start|> 151644 and <|im_end|> 151645 are
 * special (control), "user" 872, "\n" (Ċ) 198, "hi" 6023; <tool_call>
 * 151657 is a non-special added token (user-defined).
 */
static void test_qwen2_special(void **state)
{
	struct vocab_file vf;
	const char *chat = "<|im_start|>user\nhi<|im_end|>";
	const int32_t want[] = { 151644, 872, 198, 6023, 151645 };
	const int32_t call[] = { 151657, 87, 151658 }; /* "x" 87 */
	int32_t *ids;
	int n;

	(void)state;
	if (!open_vocab("ggml-vocab-qwen2.gguf", &vf)) {
		skip();
		return;
	}
	assert_int_equal(engine_vocab_find(vf.v, "user"), 872);
	assert_int_equal(engine_vocab_find(vf.v, "\xC4\x8A"), 198); /* Ċ = \n */
	assert_int_equal(engine_vocab_find(vf.v, "hi"), 6023);
	check_tokens(vf.v, chat, false, true, want, 5);
	check_detok(vf.v, want, 5, true, chat);
	check_detok(vf.v, want, 5, false, "user\nhi");
	/* without parse_special the markup is plain text: no control ids,
	 * and it still round-trips */
	ids = tokenize(vf.v, chat, strlen(chat), false, false, &n);
	assert_true(n > 5);
	for (int i = 0; i < n; i++)
		assert_false(engine_vocab_is_control(vf.v, ids[i]));
	check_detok(vf.v, ids, n, false, chat);
	free(ids);
	/* user-defined tokens are matched either way (llama.cpp, HF) */
	check_tokens(vf.v, "<tool_call>x</tool_call>", false, false, call, 3);
	check_detok(vf.v, call, 3, false, "<tool_call>x</tool_call>");
	/* Qwen2 has no BOS in use: add_bos_token false in the file */
	assert_false(engine_vocab_add_bos(vf.v));
	assert_int_equal(engine_vocab_eos(vf.v), 151645);
	assert_true(engine_vocab_is_eog(vf.v, 151645));
	assert_true(engine_vocab_is_eog(vf.v, 151643)); /* <|endoftext|> */
	assert_false(engine_vocab_is_eog(vf.v, 151644));
	assert_false(engine_vocab_is_eog(vf.v, 872));
	assert_string_equal(engine_vocab_text(vf.v, 151644), "<|im_start|>");
	assert_null(engine_vocab_text(vf.v, engine_vocab_n(vf.v)));
	assert_non_null(engine_vocab_chat_template(vf.v));
	assert_non_null(strstr(engine_vocab_chat_template(vf.v), "<|im_start|>"));
	close_vocab(&vf);
}

/* Qwen2 splits every digit (\p{N}); "2024" is 4 tokens: "2" 17, "0" 15,
 * "4" 19 (token id = ASCII code - 33 for these printable bytes). */
static void test_qwen2_digits(void **state)
{
	struct vocab_file vf;
	const int32_t want[] = { 17, 15, 17, 19 };

	(void)state;
	if (!open_vocab("ggml-vocab-qwen2.gguf", &vf)) {
		skip();
		return;
	}
	check_tokens(vf.v, "2024", false, false, want, 4);
	close_vocab(&vf);
}

/*
 * Llama 2 SentencePiece: <unk> 0, <s> 1, </s> 2, <0x00>.. <0xFF> = 3..258,
 * "▁" 29871, "▁Hello" 15043 (ids from the vocab file itself; see the
 * vectors: "Hello" → 15043).
 */
static void test_spm_bos_and_space(void **state)
{
	struct vocab_file vf;
	const int32_t hello[] = { 15043 }, bos_hello[] = { 1, 15043 };
	const int32_t special[] = { 1, 15043, 2 };

	(void)state;
	if (!open_vocab("ggml-vocab-llama-spm.gguf", &vf)) {
		skip();
		return;
	}
	assert_int_equal(engine_vocab_find(vf.v, "\xE2\x96\x81Hello"), 15043);
	assert_true(engine_vocab_add_bos(vf.v));
	assert_int_equal(engine_vocab_bos(vf.v), 1);
	check_tokens(vf.v, "Hello", false, false, hello, 1);
	check_tokens(vf.v, "Hello", true, false, bos_hello, 2);
	/* the prepended space is dropped again, also after a hidden BOS */
	check_detok(vf.v, hello, 1, false, "Hello");
	check_detok(vf.v, bos_hello, 2, false, "Hello");
	/* rendered BOS: llama.cpp prints "<s> Hello" */
	check_detok(vf.v, bos_hello, 2, true, "<s> Hello");
	/* a special token in the text is followed by a fresh space prefix */
	check_tokens(vf.v, "<s>Hello</s>", false, true, special, 3);
	assert_true(engine_vocab_is_eog(vf.v, 2));
	assert_true(engine_vocab_is_control(vf.v, 1));
	assert_false(engine_vocab_is_control(vf.v, 15043));
	close_vocab(&vf);
}

/* A llama (U+1F999 = F0 9F A6 99) and the rare CJK U+2A6D6 (F0 AA 9B 96)
 * are not in the vocab: "▁" then one <0xXX> token per byte (id 3 + byte). */
static void test_spm_byte_fallback(void **state)
{
	struct vocab_file vf;
	const int32_t llama[] = { 29871, 3 + 0xF0, 3 + 0x9F, 3 + 0xA6, 3 + 0x99 };
	const int32_t cjk[] = { 29871, 3 + 0xF0, 3 + 0xAA, 3 + 0x9B, 3 + 0x96 };
	char piece[8];

	(void)state;
	if (!open_vocab("ggml-vocab-llama-spm.gguf", &vf)) {
		skip();
		return;
	}
	assert_int_equal(engine_vocab_find(vf.v, "\xE2\x96\x81"), 29871);
	assert_int_equal(engine_vocab_find(vf.v, "\xF0\x9F\xA6\x99"), -1);
	check_tokens(vf.v, "\xF0\x9F\xA6\x99", false, false, llama, 5);
	check_detok(vf.v, llama, 5, false, "\xF0\x9F\xA6\x99");
	check_tokens(vf.v, "\xF0\xAA\x9B\x96", false, false, cjk, 5);
	check_detok(vf.v, cjk, 5, false, "\xF0\xAA\x9B\x96");
	/* a byte token's piece is its raw byte */
	assert_int_equal(engine_vocab_piece(vf.v, 3 + 0xF0, piece, sizeof(piece), false), 1);
	assert_int_equal((uint8_t)piece[0], 0xF0);
	close_vocab(&vf);
}

/* Too-small buffers report -(needed) and write nothing past them. */
static void test_buffer_sizes(void **state)
{
	struct vocab_file vf;
	const char *text = "Hello world";
	int32_t ids[4] = { -7, -7, -7, -7 };
	char buf[8];

	(void)state;
	if (!open_vocab("ggml-vocab-gpt-2.gguf", &vf)) {
		skip();
		return;
	}
	/* GPT-2: "Hello" 15496, " world" 995 (see the vectors) */
	assert_int_equal(engine_vocab_tokenize(vf.v, text, strlen(text), false,
					       false, ids, 1), -2);
	assert_int_equal(ids[1], -7);
	assert_int_equal(engine_vocab_tokenize(vf.v, text, strlen(text), false,
					       false, ids, 4), 2);
	assert_int_equal(ids[0], 15496);
	assert_int_equal(ids[1], 995);
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(engine_vocab_piece(vf.v, 995, buf, 3, false), -6);
	assert_int_equal(buf[3], 'x');
	assert_int_equal(engine_vocab_piece(vf.v, 995, buf, 6, false), 6);
	assert_memory_equal(buf, " world", 6);
	assert_int_equal(engine_vocab_detokenize(vf.v, ids, 2, buf, 5, false), -11);
	/* empty input: no tokens; bad arguments */
	assert_int_equal(engine_vocab_tokenize(vf.v, "", 0, false, false, ids, 4), 0);
	assert_int_equal(engine_vocab_tokenize(vf.v, NULL, 0, false, false, ids, 4),
			 HEARTH_EINVAL);
	assert_int_equal(engine_vocab_piece(vf.v, -1, buf, 8, false), HEARTH_EINVAL);
	ids[0] = engine_vocab_n(vf.v);
	assert_int_equal(engine_vocab_detokenize(vf.v, ids, 1, buf, 8, false),
			 HEARTH_EINVAL);
	/* invalid UTF-8 survives the round trip (raw bytes are kept) */
	{
		const char bad[] = "a\xFF\xC3 b\x80";
		int n, len;
		int32_t *t = tokenize(vf.v, bad, sizeof(bad) - 1, false, false, &n);
		char *back = detokenize(vf.v, t, n, false, &len);

		assert_int_equal(len, (int)sizeof(bad) - 1);
		assert_memory_equal(back, bad, sizeof(bad) - 1);
		free(t);
		free(back);
	}
	close_vocab(&vf);
}

/* ---------------------------------------------------------------------------
 * GGUF bytes for synthetic vocabularies
 */
struct wbuf {
	uint8_t *p;
	size_t n, cap;
	uint64_t n_kv;
};

static void put(struct wbuf *b, const void *d, size_t n)
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

static void put_le(struct wbuf *b, uint64_t v, int bytes)
{
	uint8_t t[8];

	for (int i = 0; i < bytes; i++)
		t[i] = (uint8_t)(v >> (8 * i));
	put(b, t, (size_t)bytes);
}

static void put_str(struct wbuf *b, const char *s)
{
	put_le(b, strlen(s), 8);
	put(b, s, strlen(s));
}

static void kv_head(struct wbuf *b, const char *key, uint32_t type)
{
	put_str(b, key);
	put_le(b, type, 4);
	b->n_kv++;
}

static void kv_str(struct wbuf *b, const char *key, const char *val)
{
	kv_head(b, key, GGUF_VT_STRING);
	put_str(b, val);
}

static void kv_u32(struct wbuf *b, const char *key, uint32_t val)
{
	kv_head(b, key, GGUF_VT_UINT32);
	put_le(b, val, 4);
}

static void kv_strs(struct wbuf *b, const char *key, char *const *vals, int n)
{
	kv_head(b, key, GGUF_VT_ARRAY);
	put_le(b, GGUF_VT_STRING, 4);
	put_le(b, (uint64_t)n, 8);
	for (int i = 0; i < n; i++)
		put_str(b, vals[i]);
}

static void kv_i32s(struct wbuf *b, const char *key, const int32_t *vals, int n)
{
	kv_head(b, key, GGUF_VT_ARRAY);
	put_le(b, GGUF_VT_INT32, 4);
	put_le(b, (uint64_t)n, 8);
	for (int i = 0; i < n; i++)
		put_le(b, (uint32_t)vals[i], 4);
}

/* Header + the kvs written so far; no tensors. Caller frees. */
static uint8_t *gguf_bytes(const struct wbuf *kvs, size_t *len)
{
	struct wbuf f = { 0 };

	put(&f, "GGUF", 4);
	put_le(&f, 3, 4);
	put_le(&f, 0, 8);
	put_le(&f, kvs->n_kv, 8);
	put(&f, kvs->p, kvs->n);
	*len = f.n;
	return f.p;
}

/* Load a vocab from kvs; returns the engine_vocab_load code. */
static int load_synth(struct wbuf *kvs, engine_vocab **v, char *err, size_t errlen)
{
	size_t len;
	uint8_t *bytes = gguf_bytes(kvs, &len);
	gguf *g = NULL;
	char gerr[ENGINE_ERRLEN];
	int rc = gguf_open_buffer(bytes, len, &g, gerr, sizeof(gerr));

	if (rc)
		fail_msg("gguf_open_buffer: %s", gerr);
	err[0] = '\0';
	*v = NULL;
	rc = engine_vocab_load(g, v, err, errlen);
	/* the vocab keeps copies: the file may go away */
	gguf_close(g);
	free(bytes);
	free(kvs->p);
	memset(kvs, 0, sizeof(*kvs));
	return rc;
}

/* GPT-2's bytes_to_unicode as UTF-8: printable Latin-1 bytes stay, the
 * other 68 become U+0100.. in byte order. */
static void byte_char(uint8_t b, char *out)
{
	unsigned cp = b, next = 256;

	if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)) {
		for (unsigned x = 0; x < b; x++)
			if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) ||
			      x >= 0xAE))
				next++;
		cp = next;
	}
	if (cp < 0x80) {
		out[0] = (char)cp;
		out[1] = '\0';
	} else {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		out[2] = '\0';
	}
}

static char *encode(const char *s)
{
	char *out = malloc(2 * strlen(s) + 1), c[3];

	assert_non_null(out);
	out[0] = '\0';
	for (; *s; s++) {
		byte_char((uint8_t)*s, c);
		strcat(out, c);
	}
	return out;
}

/* ---------------------------------------------------------------------------
 * Synthetic byte-level BPE: pre-tokenizer splits
 */
struct synth {
	char *strs[1024];
	int n;
};

static void synth_add(struct synth *s, char *str)
{
	for (int i = 0; i < s->n; i++) {
		if (!strcmp(s->strs[i], str)) {
			free(str);
			return;
		}
	}
	assert_true(s->n < 1024);
	s->strs[s->n++] = str;
}

static void synth_free(struct synth *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->strs[i]);
}

/*
 * A vocabulary whose tokens are the 256 byte characters plus each expected
 * piece, and whose merges build each piece left to right; plus, ranked
 * last, a merge joining every two adjacent pieces into one token. A correct
 * split gives exactly one token per piece; a missing boundary would show
 * as a joined token, a spurious one as a piece in several tokens.
 */
static engine_vocab *split_vocab(const char *pre, const char *const *pieces,
				 int n_pieces)
{
	struct synth tok = { 0 }, mrg = { 0 };
	struct wbuf kvs = { 0 };
	engine_vocab *v;
	char err[ENGINE_ERRLEN], c[3];
	int rc;

	for (int b = 0; b < 256; b++) {
		byte_char((uint8_t)b, c);
		synth_add(&tok, strdup(c));
	}
	for (int i = 0; i < n_pieces; i++) {
		char *e = encode(pieces[i]);

		synth_add(&tok, strdup(e));
		/* merge "prefix nextchar" for each growing prefix */
		for (size_t k = 0; e[k]; k += ((uint8_t)e[k] >= 0x80 ? 2 : 1)) {
			char m[512];

			if (k == 0)
				continue;
			snprintf(m, sizeof(m), "%.*s %.*s", (int)k, e,
				 (uint8_t)e[k] >= 0x80 ? 2 : 1, e + k);
			synth_add(&mrg, strdup(m));
		}
		free(e);
	}
	for (int i = 0; i + 1 < n_pieces; i++) {
		char *a = encode(pieces[i]), *b = encode(pieces[i + 1]), m[1024];

		snprintf(m, sizeof(m), "%s %s", a, b);
		synth_add(&mrg, strdup(m));
		snprintf(m, sizeof(m), "%s%s", a, b);
		synth_add(&tok, strdup(m));
		free(a);
		free(b);
	}
	if (!mrg.n)
		synth_add(&mrg, strdup("x y")); /* the key must not be empty */
	kv_str(&kvs, "tokenizer.ggml.model", "gpt2");
	kv_str(&kvs, "tokenizer.ggml.pre", pre);
	kv_strs(&kvs, "tokenizer.ggml.tokens", tok.strs, tok.n);
	kv_strs(&kvs, "tokenizer.ggml.merges", mrg.strs, mrg.n);
	rc = load_synth(&kvs, &v, err, sizeof(err));
	if (rc)
		fail_msg("synthetic vocab: %s", err);
	synth_free(&tok);
	synth_free(&mrg);
	return v;
}

static void check_split(const char *pre, const char *text,
			const char *const *pieces, int n_pieces)
{
	engine_vocab *v = split_vocab(pre, pieces, n_pieces);
	int32_t want[64];
	int n;
	int32_t *got = tokenize(v, text, strlen(text), false, false, &n);

	assert_true(n_pieces <= 64);
	for (int i = 0; i < n_pieces; i++) {
		char *e = encode(pieces[i]);

		want[i] = engine_vocab_find(v, e);
		assert_true(want[i] >= 0);
		free(e);
	}
	if (n != n_pieces || memcmp(got, want, sizeof(*got) * (size_t)n)) {
		fprintf(stderr, "pre '%s', text \"", pre);
		print_escaped(text, strlen(text));
		fputs("\": got pieces", stderr);
		for (int i = 0; i < n; i++)
			fprintf(stderr, " [%s]", engine_vocab_text(v, got[i]));
		fputc('\n', stderr);
		fail_msg("split differs");
	}
	free(got);
	engine_vocab_free(v);
}

#define SPLIT(pre, text, ...)                                                  \
	do {                                                                   \
		const char *const p_[] = { __VA_ARGS__ };                      \
		check_split(pre, text, p_, (int)(sizeof(p_) / sizeof(p_[0]))); \
	} while (0)

/*
 * Expected pieces derived by hand from the regexes (tokenizer.c header):
 * alternatives are tried in order at each position, the first that matches
 * wins; \s+(?!\S) leaves the last space of a run before text to the next
 * piece.
 */
static void test_split_llama3(void **state)
{
	(void)state;
	SPLIT("llama-bpe", "Hello world", "Hello", " world");
	/* contraction, lone space before digits, digits in threes */
	SPLIT("llama-bpe", "I'm 12345 ok", "I", "'m", " ", "123", "45", " ok");
	/* case-insensitive contractions */
	SPLIT("llama3", "HE'S", "HE", "'S");
	/* \s*[\r\n]+ takes the run up to its last newline */
	SPLIT("llama3", "a\n\n  b", "a", "\n\n", " ", " b");
	/* punctuation swallows the newlines after it */
	SPLIT("llama3", "x!!!\n\ny", "x", "!!!\n\n", "y");
	/* any one non-letter/digit/newline may lead a word */
	SPLIT("llama3", "(hello)", "(hello", ")");
	SPLIT("llama3", "\t x", "\t", " x");
	/* trailing whitespace stays one piece */
	SPLIT("llama3", "hi   ", "hi", "   ");
	/* U+20AC € is a symbol, U+00E9 é a letter, U+0663 ٣ a digit */
	SPLIT("llama3", "\xE2\x82\xAC" "100 caf\xC3\xA9\xD9\xA3", "\xE2\x82\xAC", "100",
	      " caf\xC3\xA9", "\xD9\xA3");
}

static void test_split_qwen2_gpt2_smollm(void **state)
{
	(void)state;
	/* Qwen2: one digit per piece */
	SPLIT("qwen2", "12345", "1", "2", "3", "4", "5");
	SPLIT("qwen2", "HE'S x\n\n", "HE", "'S", " x", "\n\n");
	/* GPT-2: digit runs whole, contractions case-sensitive */
	SPLIT("gpt-2", "12345", "12345");
	SPLIT("gpt-2", "HE'S", "HE", "'", "S");
	SPLIT("gpt-2", "Hello  world", "Hello", " ", " world");
	SPLIT("gpt-2", "a, b!!\n\nc", "a", ",", " b", "!!", "\n", "\n", "c");
	/* SmolLM2: every digit apart first (the space before it too), then
	 * GPT-2 in between */
	SPLIT("smollm", "a12 b", "a", "1", "2", " b");
	SPLIT("smollm", "x 42", "x", " ", "4", "2");
}

/* Merge order is by rank, not by position: with "b c" ranked before
 * "a b", "abc" becomes "a" + "bc"; swapped, "ab" + "c". */
static void test_bpe_merge_rank(void **state)
{
	char *toks[] = { "a", "b", "c", "ab", "bc" };
	char *m1[] = { "b c", "a b" }, *m2[] = { "a b", "b c" };
	struct wbuf kvs = { 0 };
	engine_vocab *v;
	char err[ENGINE_ERRLEN];
	const int32_t want1[] = { 0, 4 }, want2[] = { 3, 2 };

	(void)state;
	for (int pass = 0; pass < 2; pass++) {
		kv_str(&kvs, "tokenizer.ggml.model", "gpt2");
		kv_str(&kvs, "tokenizer.ggml.pre", "gpt-2");
		kv_strs(&kvs, "tokenizer.ggml.tokens", toks, 5);
		kv_strs(&kvs, "tokenizer.ggml.merges", pass ? m2 : m1, 2);
		assert_int_equal(load_synth(&kvs, &v, err, sizeof(err)), 0);
		check_tokens(v, "abc", false, false, pass ? want2 : want1, 2);
		check_detok(v, pass ? want2 : want1, 2, false, "abc");
		engine_vocab_free(v);
	}
}

/* ---------------------------------------------------------------------------
 * Load errors name the key
 */
static void expect_load_error(struct wbuf *kvs, int code, const char *needle)
{
	engine_vocab *v;
	char err[ENGINE_ERRLEN];
	int rc = load_synth(kvs, &v, err, sizeof(err));

	assert_int_equal(rc, code);
	assert_null(v);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void base_kvs(struct wbuf *kvs, const char *model)
{
	kv_str(kvs, "tokenizer.ggml.model", model);
	kv_str(kvs, "tokenizer.ggml.pre", "qwen2");
}

static void test_load_errors(void **state)
{
	char *toks[] = { "a", "b", "ab" };
	char *bad_merges[] = { "a b", "ab" }, *good_merges[] = { "a b" };
	char *empty_right[] = { "a " };
	const int32_t bad_types[] = { 1, 1, 9 }, short_types[] = { 1, 1 };
	struct wbuf kvs = { 0 };

	(void)state;
	base_kvs(&kvs, "gpt2");
	expect_load_error(&kvs, HEARTH_EFORMAT, "tokenizer.ggml.tokens");

	base_kvs(&kvs, "gpt2");
	kv_strs(&kvs, "tokenizer.ggml.tokens", toks, 3);
	expect_load_error(&kvs, HEARTH_EFORMAT, "tokenizer.ggml.merges");

	base_kvs(&kvs, "gpt2");
	kv_strs(&kvs, "tokenizer.ggml.tokens", toks, 3);
	kv_strs(&kvs, "tokenizer.ggml.merges", bad_merges, 2);
	expect_load_error(&kvs, HEARTH_EFORMAT, "tokenizer.ggml.merges[1]");

	base_kvs(&kvs, "gpt2");
	kv_strs(&kvs, "tokenizer.ggml.tokens", toks, 3);
	kv_strs(&kvs, "tokenizer.ggml.merges", empty_right, 1);
	expect_load_error(&kvs, HEARTH_EFORMAT, "tokenizer.ggml.merges[0]");

	/* tokens of the wrong type */
	base_kvs(&kvs, "gpt2");
	kv_u32(&kvs, "tokenizer.ggml.tokens", 3);
	expect_load_error(&kvs, HEARTH_EFORMAT, "tokenizer.ggml.tokens");

	base_kvs(&kvs, "bert");
	kv_strs(&kvs, "tokenizer.ggml.tokens", toks, 3);
	expect_load_error(&kvs, HEARTH_EUNSUPPORTED, "tokenizer.ggml.model");

	kv_str(&kvs, "tokenizer.ggml.model", "gpt2");
	kv_str(&kvs, "tokenizer.ggml.pre", "default");
	kv_strs(&kvs, "tokenizer.ggml.tokens", toks, 3);
	expect_load_error(&kvs, HEARTH_EUNSUPPORTED, "tokenizer.ggml.pre");

	kv_str(&kvs, "general.name", "no tokenizer");
	expect_load_error(&kvs, HEARTH_EFORMAT, "tokenizer.ggml.model");

	base_kvs(&kvs, "gpt2");
	kv_strs(&kvs, "tokenizer.ggml.tokens", toks, 3);
	kv_strs(&kvs, "tokenizer.ggml.merges", good_merges, 1);
	kv_u32(&kvs, "tokenizer.ggml.bos_token_id", 3);
	expect_load_error(&kvs, HEARTH_EFORMAT, "tokenizer.ggml.bos_token_id");

	base_kvs(&kvs, "gpt2");
	kv_strs(&kvs, "tokenizer.ggml.tokens", toks, 3);
	kv_strs(&kvs, "tokenizer.ggml.merges", good_merges, 1);
	kv_i32s(&kvs, "tokenizer.ggml.token_type", short_types, 2);
	expect_load_error(&kvs, HEARTH_EFORMAT, "tokenizer.ggml.token_type");

	base_kvs(&kvs, "gpt2");
	kv_strs(&kvs, "tokenizer.ggml.tokens", toks, 3);
	kv_strs(&kvs, "tokenizer.ggml.merges", good_merges, 1);
	kv_i32s(&kvs, "tokenizer.ggml.token_type", bad_types, 3);
	expect_load_error(&kvs, HEARTH_EFORMAT, "tokenizer.ggml.token_type[2]");

	kv_str(&kvs, "tokenizer.ggml.model", "llama");
	kv_strs(&kvs, "tokenizer.ggml.tokens", toks, 3);
	kv_str(&kvs, "tokenizer.ggml.scores", "not an array");
	expect_load_error(&kvs, HEARTH_EFORMAT, "tokenizer.ggml.scores");
}

/* A stale padding id is dropped (llama.cpp only warns), not fatal. */
static void test_padding_out_of_range(void **state)
{
	char *toks[] = { "a", "b", "ab" }, *merges[] = { "a b" };
	struct wbuf kvs = { 0 };
	engine_vocab *v;
	char err[ENGINE_ERRLEN];
	const int32_t ab[] = { 2 };

	(void)state;
	base_kvs(&kvs, "gpt2");
	kv_strs(&kvs, "tokenizer.ggml.tokens", toks, 3);
	kv_strs(&kvs, "tokenizer.ggml.merges", merges, 1);
	kv_u32(&kvs, "tokenizer.ggml.padding_token_id", 3);
	assert_int_equal(load_synth(&kvs, &v, err, sizeof(err)), 0);
	assert_int_equal(engine_vocab_bos(v), -1);
	assert_false(engine_vocab_add_bos(v));
	check_tokens(v, "ab", true, false, ab, 1); /* no BOS to add */
	engine_vocab_free(v);
}

/* ---------------------------------------------------------------------------
 * Allocation-failure sweeps: fail the n-th allocation of a load or a
 * tokenize call for every n until one succeeds; each failure must be
 * HEARTH_ENOMEM with nothing leaked (ASan checks at exit) and no output.
 */
static void sweep_load(struct wbuf *kvs, engine_vocab **out)
{
	size_t len;
	uint8_t *bytes = gguf_bytes(kvs, &len);
	char err[ENGINE_ERRLEN];
	gguf *g;
	int rc;

	assert_int_equal(gguf_open_buffer(bytes, len, &g, err, sizeof(err)), 0);
	for (long k = 0;; k++) {
		engine_vocab *v = NULL;
		bool hit;

		alloc_arm(k);
		rc = engine_vocab_load(g, &v, err, sizeof(err));
		hit = alloc_disarm();
		if (!hit) {
			assert_int_equal(rc, 0);
			*out = v;
			break;
		}
		assert_int_equal(rc, HEARTH_ENOMEM);
		assert_null(v);
	}
	gguf_close(g);
	free(bytes);
	free(kvs->p);
	memset(kvs, 0, sizeof(*kvs));
}

static void sweep_tokenize(const engine_vocab *v, const char *text)
{
	int n_ref, rc;
	int32_t *ref = tokenize(v, text, strlen(text), true, true, &n_ref);
	int32_t got[256];

	assert_true(n_ref > 0 && n_ref <= 256);
	for (long k = 0;; k++) {
		bool hit;

		alloc_arm(k);
		rc = engine_vocab_tokenize(v, text, strlen(text), true, true, got, 256);
		hit = alloc_disarm();
		if (!hit) {
			assert_ids(got, rc, ref, n_ref);
			break;
		}
		assert_int_equal(rc, HEARTH_ENOMEM);
	}
	free(ref);
}

static void test_alloc_failures(void **state)
{
	/* SentencePiece with specials, merges by score and byte fallback */
	char *toks[262 + 6];
	float scores[268];
	int32_t types[268];
	const char *extra[] = { "\xE2\x96\x81", "a", "b", "\xE2\x96\x81" "a", "ab",
				"\xE2\x96\x81" "ab" };
	const char *const pieces[] = { "Hello", " world", "123", "!\n" };
	struct wbuf kvs = { 0 };
	engine_vocab *v;
	char buf[16];
	int n = 0;

	(void)state;
	toks[n++] = strdup("<unk>");
	toks[n++] = strdup("<s>");
	toks[n++] = strdup("</s>");
	for (int b = 0; b < 256; b++) {
		snprintf(buf, sizeof(buf), "<0x%02X>", b);
		toks[n++] = strdup(buf);
	}
	for (int i = 0; i < 6; i++)
		toks[n++] = strdup(extra[i]);
	for (int i = 0; i < n; i++) {
		scores[i] = i < 259 ? 0.0f : (float)-i;
		types[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
	}
	kv_str(&kvs, "tokenizer.ggml.model", "llama");
	kv_strs(&kvs, "tokenizer.ggml.tokens", toks, n);
	kv_head(&kvs, "tokenizer.ggml.scores", GGUF_VT_ARRAY);
	put_le(&kvs, GGUF_VT_FLOAT32, 4);
	put_le(&kvs, (uint64_t)n, 8);
	for (int i = 0; i < n; i++) {
		uint32_t bits;

		memcpy(&bits, &scores[i], 4);
		put_le(&kvs, bits, 4);
	}
	kv_i32s(&kvs, "tokenizer.ggml.token_type", types, n);
	kv_str(&kvs, "tokenizer.chat_template", "{{ messages }}");
	sweep_load(&kvs, &v);
	{
		/* BOS, the parsed "<s>", then "▁ab▁abé": "▁a" (best score)
		 * merges first at both places, then "▁ab" twice; é has no
		 * token: bytes <0xC3><0xA9> (ids 3 + byte) */
		const int32_t want[] = { 1, 1, 264, 264, 3 + 0xC3, 3 + 0xA9 };

		check_tokens(v, "<s>ab ab\xC3\xA9", true, true, want, 6);
	}
	sweep_tokenize(v, "<s>ab ab\xC3\xA9</s>b");
	engine_vocab_free(v);
	for (int i = 0; i < n; i++)
		free(toks[i]);

	/* byte-level BPE: split, merges, ignore_merges */
	v = split_vocab("llama3", pieces, 4);
	sweep_tokenize(v, "Hello world123!\nHello world");
	engine_vocab_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors_qwen2),
		cmocka_unit_test(test_vectors_gpt2),
		cmocka_unit_test(test_vectors_llama_spm),
		cmocka_unit_test(test_qwen2_special),
		cmocka_unit_test(test_qwen2_digits),
		cmocka_unit_test(test_spm_bos_and_space),
		cmocka_unit_test(test_spm_byte_fallback),
		cmocka_unit_test(test_buffer_sizes),
		cmocka_unit_test(test_split_llama3),
		cmocka_unit_test(test_split_qwen2_gpt2_smollm),
		cmocka_unit_test(test_bpe_merge_rank),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_padding_out_of_range),
		cmocka_unit_test(test_alloc_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
