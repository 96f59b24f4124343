/*
 * test_real_models.c — a real trained model end to end: tokenizer, forward
 * pass and greedy sampling together must reproduce llama.cpp's output.
 *
 * stories260K.gguf (shared/models/real, see its README) is Karpathy's
 * 260K-parameter Llama-architecture TinyStories model with a SentencePiece
 * vocabulary. stories260K.expected.json lists prompts and the greedy
 * continuations (BOS added, 32 new tokens) that llama.cpp produced on this
 * exact file. A story only comes out word for word when RoPE, GQA, RMSNorm,
 * SwiGLU, the SPM tokenizer and greedy sampling are all right; scripts/
 * reference.py --selftest reproduces the same continuations in numpy.
 *
 * The models directory is $HEARTH_MODELS or $HEARTH_SRC/../shared/models;
 * when the files are absent the test exits 77 (meson: SKIP).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <limits.h>
#include <unistd.h>

#include "engine.h"

#define MAX_TOKENS 256
#define TEXT_MAX 4096

struct real {
	char gguf[PATH_MAX + 64];
	char json[PATH_MAX + 64];
	engine_model *model;
	cJSON *expected; /* the parsed .expected.json */
};

/* ---------------------------------------------------------------------------
 * Helpers.
 */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	if (fseek(f, 0, SEEK_END) == 0) {
		long n = ftell(f);
		if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
		    (buf = malloc((size_t)n + 1))) {
			if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
				free(buf);
				buf = NULL;
			} else {
				buf[n] = '\0';
			}
		}
	}
	fclose(f);
	return buf;
}

static int argmax(const float *x, int n)
{
	int best = 0;
	for (int i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

static int tokenize_prompt(const engine_model *m, const char *text,
			   int32_t *toks)
{
	int n = engine_tokenize(m, text, strlen(text), true, false, toks,
				MAX_TOKENS);
	assert_true(n > 1);
	assert_int_equal(toks[0], engine_token_bos(m));
	return n;
}

/* Appends the piece of tok to text (NUL-terminated, TEXT_MAX). */
static void append_piece(const engine_model *m, int32_t tok, char *text)
{
	size_t len = strlen(text);
	int n = engine_token_to_piece(m, tok, text + len, TEXT_MAX - 1 - len,
				      false);
	assert_true(n >= 0);
	text[len + (size_t)n] = '\0';
}

static engine_context *new_ctx(const engine_model *m)
{
	engine_context_params p = engine_context_default_params();
	p.n_ctx = 128; /* the model's training context; prompt + 32 fit */
	p.n_threads = 2;
	engine_context *c = NULL;
	assert_int_equal(engine_context_new(m, &p, &c), 0);
	return c;
}

/* ---------------------------------------------------------------------------
 * Tests.
 */

/* The prompt's tokens: SentencePiece BPE as llama.cpp encodes it (space
 * prefix, highest-score merges); the ids are what reference.py's
 * spm_encode gives on this vocabulary, e.g. "The little dog" ends in
 * "▁do" + "g" because this 512-token vocabulary has no "▁dog". */
static void test_tokenize(void **state)
{
	struct real *r = *state;
	static const int32_t once[] = {1, 403, 407, 261, 378};
	static const int32_t dog[] = {1, 291, 376, 400, 428};
	int32_t toks[MAX_TOKENS];
	int n = tokenize_prompt(r->model, "Once upon a time", toks);
	assert_int_equal(n, 5);
	assert_memory_equal(toks, once, sizeof(once));
	n = tokenize_prompt(r->model, "The little dog", toks);
	assert_int_equal(n, 5);
	assert_memory_equal(toks, dog, sizeof(dog));
}

/* Greedy by hand: argmax of engine_logits, one engine_eval per token. */
static void test_greedy_manual(void **state)
{
	struct real *r = *state;
	const cJSON *cs;
	cJSON_ArrayForEach(cs, cJSON_GetObjectItem(r->expected, "cases")) {
		const char *prompt = cJSON_GetObjectItem(cs, "prompt")->valuestring;
		const char *want = cJSON_GetObjectItem(
			cs, "greedy_continuation")->valuestring;
		int max = cJSON_GetObjectItem(cs, "max_tokens")->valueint;
		int32_t toks[MAX_TOKENS];
		char text[TEXT_MAX] = "", full[TEXT_MAX], expect[TEXT_MAX];
		int n = tokenize_prompt(r->model, prompt, toks);
		assert_true(n + max <= MAX_TOKENS);
		engine_model_info info;
		engine_model_get_info(r->model, &info);
		engine_context *c = new_ctx(r->model);
		assert_int_equal(engine_eval(c, toks, n), 0);
		for (int i = 0; i < max; i++) {
			int32_t t = argmax(engine_logits(c), info.n_vocab);
			toks[n++] = t;
			append_piece(r->model, t, text);
			assert_int_equal(engine_eval(c, &t, 1), 0);
		}
		if (strcmp(text, want))
			fail_msg("prompt \"%s\":\n  got  \"%s\"\n  want \"%s\"",
				 prompt, text, want);
		/* Whole sequence: the space SentencePiece puts before the
		 * first word after BOS is dropped, so it reads back as the
		 * prompt followed by the continuation. */
		int len = engine_detokenize(r->model, toks, n, full,
					    sizeof(full) - 1, false);
		assert_true(len > 0);
		full[len] = '\0';
		snprintf(expect, sizeof(expect), "%s%s", prompt, want);
		assert_string_equal(full, expect);
		engine_context_free(c);
	}
}

struct collect {
	char text[TEXT_MAX];
	int n;
};

static bool collect_cb(int32_t tok, const char *piece, size_t len, void *ud)
{
	struct collect *col = ud;
	size_t have = strlen(col->text);
	assert_true(have + len < sizeof(col->text));
	memcpy(col->text + have, piece, len);
	col->text[have + len] = '\0';
	col->n++;
	return true;
}

/* The same through engine_generate with a greedy sampler. */
static void test_generate_greedy(void **state)
{
	struct real *r = *state;
	const cJSON *cs;
	engine_model_info info;
	engine_model_get_info(r->model, &info);
	cJSON_ArrayForEach(cs, cJSON_GetObjectItem(r->expected, "cases")) {
		const char *prompt = cJSON_GetObjectItem(cs, "prompt")->valuestring;
		const char *want = cJSON_GetObjectItem(
			cs, "greedy_continuation")->valuestring;
		int max = cJSON_GetObjectItem(cs, "max_tokens")->valueint;
		int32_t toks[MAX_TOKENS];
		struct collect col = {.text = "", .n = 0};
		int n = tokenize_prompt(r->model, prompt, toks);
		engine_sampler_params sp = engine_sampler_default_params();
		sp.temperature = 0; /* greedy */
		engine_sampler *s = NULL;
		assert_int_equal(engine_sampler_new(&sp, info.n_vocab, &s), 0);
		engine_context *c = new_ctx(r->model);
		int got = engine_generate(c, s, toks, n, max, collect_cb, &col);
		assert_int_equal(got, max);
		assert_int_equal(col.n, max);
		if (strcmp(col.text, want))
			fail_msg("engine_generate, prompt \"%s\":\n  got  \"%s\"\n"
				 "  want \"%s\"", prompt, col.text, want);
		engine_context_free(c);
		engine_sampler_free(s);
	}
}

/* ---------------------------------------------------------------------------
 * Set-up: find the files (absent: skip the whole test with exit 77).
 */
static bool find_models(struct real *r)
{
	const char *dir = getenv("HEARTH_MODELS");
	const char *src = getenv("HEARTH_SRC");
	char base[PATH_MAX];
	if (dir && *dir)
		snprintf(base, sizeof(base), "%s", dir);
	else if (src && *src)
		snprintf(base, sizeof(base), "%s/../shared/models", src);
	else
		snprintf(base, sizeof(base), "../shared/models");
	snprintf(r->gguf, sizeof(r->gguf), "%s/real/stories260K.gguf", base);
	snprintf(r->json, sizeof(r->json), "%s/real/stories260K.expected.json",
		 base);
	return access(r->gguf, R_OK) == 0 && access(r->json, R_OK) == 0;
}

/* Parses the expected outputs and loads the model; false with a message. */
static bool load(struct real *r)
{
	char err[512] = "";
	char *txt = read_file(r->json);
	if (!txt) {
		fprintf(stderr, "cannot read %s\n", r->json);
		return false;
	}
	r->expected = cJSON_Parse(txt);
	free(txt);
	if (!r->expected) {
		fprintf(stderr, "%s: not valid JSON\n", r->json);
		return false;
	}
	engine_model_params p = engine_model_default_params();
	p.path = r->gguf;
	int rc = engine_model_load(&p, &r->model, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "engine_model_load(%s): %s: %s\n", r->gguf,
			hearth_errname(rc), err);
		return false;
	}
	return true;
}

int main(void)
{
	struct real r = {0};
	int rc = 1;
	if (!find_models(&r)) {
		fprintf(stderr, "test_real_models: %s or its .expected.json not "
			"found (set HEARTH_MODELS): skipped\n", r.gguf);
		return 77;
	}
	if (!load(&r))
		goto out_free;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_tokenize, &r),
		cmocka_unit_test_prestate(test_greedy_manual, &r),
		cmocka_unit_test_prestate(test_generate_greedy, &r),
	};
	rc = cmocka_run_group_tests(tests, NULL, NULL) ? 1 : 0;
out_free:
	engine_model_free(r.model);
	cJSON_Delete(r.expected);
	return rc;
}
