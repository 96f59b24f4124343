/*
 * test_spell.c — pipeline_speller: typos mended towards a lexicon, and
 * only typos: English words, names, short words, ambiguous mends and
 * words glued to digits or other scripts stay as written. Uses Debian's
 * hunspell en_US dictionary (run.sh installs hunspell-en-us), and the
 * shipped model's lexicon where assets/ has it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline.h"

static const char *const WORDS[] = { "set", "a", "timer", "for", "the", "forecast", "list",
				     "lists", "shopping", "pairs", "need", "that", "lights", "could" };
static const uint32_t COUNTS[] = { 900, 5000, 800, 3000, 6000, 200, 400,
				   300, 700, 50, 100, 600, 500, 100 };
#define N_WORDS ((int)(sizeof(WORDS) / sizeof(WORDS[0])))

static pipeline_speller *make(const uint32_t *counts)
{
	size_t lens[N_WORDS];
	pipeline_speller *sp = NULL;
	char err[256] = "";

	for (int i = 0; i < N_WORDS; i++)
		lens[i] = strlen(WORDS[i]);
	if (pipeline_speller_new_words(WORDS, lens, counts, N_WORDS, NULL, &sp, err, sizeof(err)))
		fail_msg("pipeline_speller_new_words: %s", err);
	return sp;
}

/* text through the speller: the mended text, and how many words */
static void expect(pipeline_speller *sp, const char *text, const char *want, int n)
{
	char *out = NULL;
	int rc = pipeline_speller_fix(sp, text, &out);

	if (rc != n || strcmp(out, want))
		fail_msg("'%s' -> '%s' (%d mended), want '%s' (%d)", text, out ? out : "(null)", rc,
			 want, n);
	free(out);
}

static void test_mends_typos(void **state)
{
	pipeline_speller *sp = make(COUNTS);

	(void)state;
	expect(sp, "set a tiemr", "set a timer", 1);               /* swapped letters */
	expect(sp, "set a timmer", "set a timer", 1);              /* a doubled one */
	expect(sp, "forecst", "forecast", 1);                      /* a dropped one */
	expect(sp, "Forecsat for the lihgts!", "Forecast for the lights!", 2); /* capital and punctuation kept */
	expect(sp, "do i nede a timr, thta's all", "do i need a timer, thta's all", 2); /* "thta" is glued to 's: as "couldn't" is not "could't" */
	expect(sp, "", "", 0);
	pipeline_speller_free(sp);
}

static void test_leaves_words(void **state)
{
	pipeline_speller *sp = make(COUNTS);

	(void)state;
	expect(sp, "set a timer for the lights", "set a timer for the lights", 0); /* known */
	expect(sp, "add avocados", "add avocados", 0);   /* English, though not known */
	expect(sp, "weather in paris", "weather in paris", 0); /* a name, one swap from "pairs" */
	expect(sp, "tht nte", "tht nte", 0);             /* under four letters */
	expect(sp, "couldn't", "couldn't", 0);           /* glued to an apostrophe */
	expect(sp, "tiemr2 2tiemr", "tiemr2 2tiemr", 0); /* glued to digits */
	expect(sp, "caf\xc3\xa9tiemr tiemr\xc3\xa9", "caf\xc3\xa9tiemr tiemr\xc3\xa9", 0); /* to other letters */
	expect(sp, "TIEMR tiEmr", "TIEMR tiEmr", 0);     /* not typed as a typo is */
	expect(sp, "lisst", "lisst", 0); /* "list" and "lists" both one edit off, neither 4x commoner */
	expect(sp, "zzzzqqq", "zzzzqqq", 0);             /* nothing near */
	pipeline_speller_free(sp);
}

static void test_commoner_wins(void **state)
{
	uint32_t counts[N_WORDS];
	pipeline_speller *sp;

	(void)state;
	memcpy(counts, COUNTS, sizeof(counts));
	counts[7] = 10; /* "lists" now rare against "list" (400) */
	sp = make(counts);
	expect(sp, "shopping lisst", "shopping list", 1);
	pipeline_speller_free(sp);
}

static void test_errors(void **state)
{
	size_t len = 5;
	const char *w = "timer";
	uint32_t c = 1;
	pipeline_speller *sp = NULL;
	char err[256] = "", *out = NULL;

	(void)state;
	assert_int_equal(pipeline_speller_new_words(&w, &len, &c, 1, "/nonexistent/xx_XX", &sp, err,
						    sizeof(err)), HEARTH_ENOTFOUND);
	assert_null(sp);
	assert_non_null(strstr(err, "hunspell-en-us"));
	assert_int_equal(pipeline_speller_new_words(NULL, NULL, NULL, 1, NULL, &sp, err, sizeof(err)),
			 HEARTH_EINVAL);
	sp = make(COUNTS);
	assert_int_equal(pipeline_speller_fix(sp, NULL, &out), HEARTH_EINVAL);
	assert_int_equal(pipeline_speller_fix(NULL, "x", &out), HEARTH_EINVAL);
	pipeline_speller_free(sp);
	pipeline_speller_free(NULL);
}

/* The shipped model's file carries its lexicon; the speller built from it
 * mends towards the words the model was trained on. */
static void test_shipped_lexicon(void **state)
{
	engine_model_params p = engine_model_default_params();
	const char *src = getenv("HEARTH_SRC");
	char path[4096], err[256] = "";
	engine_model *m = NULL;
	pipeline_speller *sp = NULL;
	const char *w;
	size_t len;
	uint32_t count, prev = UINT32_MAX;
	int n;

	(void)state;
	snprintf(path, sizeof(path), "%s/assets/hearth-tiny.q8_0.gguf", src ? src : ".");
	if (access(path, R_OK)) {
		print_message("skipped: %s not found\n", path);
		skip();
	}
	p.path = path;
	p.vocab_only = true;
	if (engine_model_load(&p, &m, err, sizeof(err)))
		fail_msg("%s: %s", path, err);
	n = engine_model_lexicon(m, 0, NULL, NULL, NULL);
	assert_true(n > 500);
	for (int i = 0; i < n; i++) {
		engine_model_lexicon(m, i, &w, &len, &count);
		assert_true(len > 0 && count >= 30 && count <= prev); /* commonest first */
		for (size_t k = 0; k < len; k++)
			assert_true(w[k] >= 'a' && w[k] <= 'z');
		prev = count;
	}
	assert_int_equal(engine_model_lexicon(m, n, &w, &len, &count), n); /* out of range: untouched */
	assert_int_equal(pipeline_speller_new(m, NULL, &sp, err, sizeof(err)), 0);
	assert_non_null(sp);
	expect(sp, "set a tmier for ten minutes", "set a timer for ten minutes", 1);
	expect(sp, "turn on the bedrom lights", "turn on the bedroom lights", 1);
	pipeline_speller_free(sp);
	engine_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mends_typos),
		cmocka_unit_test(test_leaves_words),
		cmocka_unit_test(test_commoner_wins),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_shipped_lexicon),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
