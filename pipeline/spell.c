/*
 * spell.c — mend typos in a request towards the words the model knows.
 *
 * A model trained from scratch on generated requests (assets/hearth-tiny)
 * reads "tiemr" or "forecst" as a word it never saw, and gets such
 * requests wrong about three times as often as clean ones. Its file lists
 * the words of its training requests with their counts
 * (engine_model_lexicon); a word that is neither one of them nor an English
 * word (Debian's hunspell dictionary: whether a word is English is its job,
 * with plurals and other affixed forms) but is one edit (a letter dropped,
 * doubled, swapped with its neighbour or changed) from a known word is
 * taken as that word. Where two known words are that close and neither is
 * four times as common, the word is left as the user wrote it: a wrong
 * mend costs more than a typo. Names the dictionary knows ("paris") and
 * words shorter than four letters are never touched: too many real words
 * are one edit from a short one.
 *
 * Threading: pipeline_speller_fix from any thread (hunspell is not
 * re-entrant: its calls are serialized).
 */
#include "pipeline_int.h"

#include <hunspell.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SPELL_MIN_LEN 4
#define SPELL_MAX_LEN 32   /* longer runs of letters are not words to mend */
#define SPELL_RATIO 4      /* the best known word must be this much commoner */

struct lex_entry {
	char *word;       /* lower case, NUL-terminated; NULL = empty slot */
	size_t len;
	uint32_t count;
};

struct pipeline_speller {
	struct lex_entry *tab; /* open addressing, (cap) slots */
	size_t cap;
	Hunhandle *hs;
	pthread_mutex_t mu;    /* hs */
};

static uint64_t hash_word(const char *w, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)w[i]) * 1099511628211ull;
	return h;
}

static struct lex_entry *lex_slot(const pipeline_speller *sp, const char *w, size_t n)
{
	size_t i = (size_t)hash_word(w, n) & (sp->cap - 1);

	while (sp->tab[i].word && (sp->tab[i].len != n || memcmp(sp->tab[i].word, w, n)))
		i = (i + 1) & (sp->cap - 1);
	return &sp->tab[i];
}

/* Count of the known word w[0..n), 0 when unknown. */
static uint32_t lex_count(const pipeline_speller *sp, const char *w, size_t n)
{
	const struct lex_entry *e = lex_slot(sp, w, n);

	return e->word ? e->count : 0;
}

static int speller_open_dict(pipeline_speller *sp, const char *dict, char *err, size_t errlen)
{
	char aff[4096], dic[4096];
	struct stat st;

	if (!dict)
		dict = PIPELINE_SPELL_DICT;
	snprintf(aff, sizeof(aff), "%s.aff", dict);
	snprintf(dic, sizeof(dic), "%s.dic", dict);
	if (stat(aff, &st) || stat(dic, &st)) {
		snprintf(err, errlen, "spelling: no hunspell dictionary %s.{aff,dic} "
			 "(apt-get install hunspell-en-us, or turn spelling off)", dict);
		return HEARTH_ENOTFOUND;
	}
	sp->hs = Hunspell_create(aff, dic);
	if (!sp->hs) {
		snprintf(err, errlen, "spelling: hunspell could not load %s", dic);
		return HEARTH_EFORMAT;
	}
	return 0;
}

int pipeline_speller_new_words(const char *const *words, const size_t *lens,
			       const uint32_t *counts, int n, const char *dict,
			       pipeline_speller **out, char *err, size_t errlen)
{
	pipeline_speller *sp;
	int rc;

	if (!out || n < 0 || (n && (!words || !lens || !counts)))
		return HEARTH_EINVAL;
	*out = NULL;
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return HEARTH_ENOMEM;
	for (sp->cap = 16; sp->cap < 2 * (size_t)n + 16; sp->cap *= 2)
		;
	sp->tab = calloc(sp->cap, sizeof(*sp->tab));
	if (!sp->tab) {
		free(sp);
		return HEARTH_ENOMEM;
	}
	pthread_mutex_init(&sp->mu, NULL);
	for (int i = 0; i < n; i++) {
		struct lex_entry *e;
		size_t n_w;
		char *w;

		if (!lens[i] || lens[i] > SPELL_MAX_LEN)
			continue;
		w = strndup(words[i], lens[i]);
		if (!w) {
			pipeline_speller_free(sp);
			return HEARTH_ENOMEM;
		}
		for (char *c = w; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		n_w = strlen(w); /* a GGUF string may hold a NUL: the word ends there */
		e = lex_slot(sp, w, n_w);
		if (e->word) {
			e->count += counts[i];
			free(w);
		} else {
			e->word = w;
			e->len = n_w;
			e->count = counts[i];
		}
	}
	rc = speller_open_dict(sp, dict, err, errlen);
	if (rc) {
		pipeline_speller_free(sp);
		return rc;
	}
	*out = sp;
	return 0;
}

int pipeline_speller_new(const engine_model *m, const char *dict, pipeline_speller **out,
			 char *err, size_t errlen)
{
	int n = engine_model_lexicon(m, 0, NULL, NULL, NULL);
	const char **words;
	size_t *lens;
	uint32_t *counts;
	int rc;

	if (!out)
		return HEARTH_EINVAL;
	*out = NULL;
	if (!n)
		return 0; /* the model brings no lexicon: nothing to mend towards */
	words = calloc((size_t)n, sizeof(*words));
	lens = calloc((size_t)n, sizeof(*lens));
	counts = calloc((size_t)n, sizeof(*counts));
	rc = words && lens && counts ? 0 : HEARTH_ENOMEM;
	for (int i = 0; !rc && i < n; i++)
		engine_model_lexicon(m, i, &words[i], &lens[i], &counts[i]);
	if (!rc)
		rc = pipeline_speller_new_words(words, lens, counts, n, dict, out, err, errlen);
	free(words);
	free(lens);
	free(counts);
	return rc;
}

void pipeline_speller_free(pipeline_speller *sp)
{
	if (!sp)
		return;
	for (size_t i = 0; i < sp->cap; i++)
		free(sp->tab[i].word);
	free(sp->tab);
	if (sp->hs)
		Hunspell_destroy(sp->hs);
	pthread_mutex_destroy(&sp->mu);
	free(sp);
}

static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_letter(char c) { return is_lower(c) || is_upper(c); }
/* A character that makes the letters beside it part of something other
 * than a plain word: "couldn't" is not "could't", "tiemr2" no typo, and a
 * run of ASCII letters inside a non-ASCII word only part of it. */
static bool is_glue(char c)
{
	return (unsigned char)c >= 0x80 || c == '\'' || (c >= '0' && c <= '9');
}

/* Whether hunspell takes w (lower case) as English, as written or
 * capitalized (a name: "paris", "sam"). */
static bool is_english(pipeline_speller *sp, const char *w)
{
	char cap[SPELL_MAX_LEN + 1];
	bool ok;

	snprintf(cap, sizeof(cap), "%s", w);
	cap[0] = (char)(cap[0] - 'a' + 'A');
	pthread_mutex_lock(&sp->mu);
	ok = Hunspell_spell(sp->hs, w) || Hunspell_spell(sp->hs, cap);
	pthread_mutex_unlock(&sp->mu);
	return ok;
}

struct best {
	char word[SPELL_MAX_LEN + 2];
	uint32_t count, second;
};

static void consider(const pipeline_speller *sp, const char *c, size_t n, struct best *b)
{
	uint32_t k = lex_count(sp, c, n);

	if (!k || (b->count && strlen(b->word) == n && !memcmp(b->word, c, n)))
		return; /* unknown, or the same word reached by another edit */
	if (k > b->count) {
		b->second = b->count;
		b->count = k;
		memcpy(b->word, c, n);
		b->word[n] = '\0';
	} else if (k > b->second) {
		b->second = k;
	}
}

/* The known word one edit from w[0..n) (lower case), into b. */
static void nearest(const pipeline_speller *sp, const char *w, size_t n, struct best *b)
{
	char c[SPELL_MAX_LEN + 2];

	for (size_t i = 0; i <= n; i++) {
		if (i < n) { /* drop letter i */
			memcpy(c, w, i);
			memcpy(c + i, w + i + 1, n - i - 1);
			consider(sp, c, n - 1, b);
		}
		if (i + 1 < n) { /* swap letters i and i + 1 */
			memcpy(c, w, n);
			c[i] = w[i + 1];
			c[i + 1] = w[i];
			consider(sp, c, n, b);
		}
		for (char l = 'a'; l <= 'z'; l++) {
			if (i < n && l != w[i]) { /* change letter i */
				memcpy(c, w, n);
				c[i] = l;
				consider(sp, c, n, b);
			}
			memcpy(c, w, i); /* insert l before letter i */
			c[i] = l;
			memcpy(c + i + 1, w + i, n - i);
			consider(sp, c, n + 1, b);
		}
	}
}

/* The word w[0..n) as written: mended into dst (n + 2 bytes at most) and
 * true, or false to keep it. */
static bool mend(pipeline_speller *sp, const char *w, size_t n, char *dst)
{
	char low[SPELL_MAX_LEN + 1];
	struct best b = { .count = 0 };
	bool capital = is_upper(w[0]);

	if (n < SPELL_MIN_LEN || n > SPELL_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (i && is_upper(w[i]))
			return false; /* "TV", "McKay": not a typed typo */
		low[i] = is_upper(w[i]) ? (char)(w[i] - 'A' + 'a') : w[i];
	}
	low[n] = '\0';
	if (lex_count(sp, low, n) || is_english(sp, low))
		return false;
	nearest(sp, low, n, &b);
	if (!b.count || (uint64_t)b.second * SPELL_RATIO > b.count)
		return false;
	strcpy(dst, b.word);
	if (capital)
		dst[0] = (char)(dst[0] - 'a' + 'A');
	return true;
}

int pipeline_speller_fix(pipeline_speller *sp, const char *text, char **out)
{
	size_t len, o = 0, i = 0;
	char *buf;
	int fixed = 0;

	if (!sp || !text || !out)
		return HEARTH_EINVAL;
	len = strlen(text);
	buf = malloc(len + len / 2 + 2); /* a mend adds one letter to a word of four or more */
	if (!buf)
		return HEARTH_ENOMEM;
	while (i < len) {
		size_t j = i;

		if (!is_letter(text[i]) || (i && is_glue(text[i - 1]))) {
			/* not the start of a plain ASCII word: copy up to the next one */
			do
				buf[o++] = text[j++];
			while (j < len && is_letter(text[j]) && is_letter(text[j - 1]));
			i = j;
			continue;
		}
		while (j < len && is_letter(text[j]))
			j++;
		if ((j < len && is_glue(text[j])) || !mend(sp, text + i, j - i, buf + o)) {
			memcpy(buf + o, text + i, j - i);
			o += j - i;
		} else {
			o += strlen(buf + o);
			fixed++;
		}
		i = j;
	}
	buf[o] = '\0';
	*out = buf;
	return fixed;
}
