/*
 * test_parse.c — the streaming Hermes tool-call parser on fixed model
 * outputs: calls found whatever the piece boundaries, broken or partial
 * calls returned as text (never dropped), UTF-8 repaired and held back
 * across pieces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"
#include "tools.h"

struct got {
	char text[4096];
	size_t text_len;
	int n_text_cbs;
	int n_calls;
	char names[4][64];
	char args[4][256];
};

static void on_text(const char *s, size_t n, void *ud)
{
	struct got *g = ud;

	assert_true(g->text_len + n < sizeof(g->text));
	assert_true(tools_utf8_valid(s, n)); /* every delivery is valid UTF-8 */
	memcpy(g->text + g->text_len, s, n);
	g->text_len += n;
	g->text[g->text_len] = '\0';
	g->n_text_cbs++;
}

static void on_call(const tools_call *c, void *ud)
{
	struct got *g = ud;

	assert_int_equal(c->index, g->n_calls);
	snprintf(g->names[g->n_calls], sizeof(g->names[0]), "%s", c->name);
	snprintf(g->args[g->n_calls], sizeof(g->args[0]), "%s", c->arguments);
	g->n_calls++;
}

/* Feed `out` in pieces of `piece` bytes (0 = all at once). */
static void run(const char *out, size_t piece, struct got *g)
{
	tools_parser_cbs cbs = { on_text, on_call, g };
	tools_parser *p;
	size_t n = strlen(out), i;

	memset(g, 0, sizeof(*g));
	assert_int_equal(tools_parser_new(&cbs, &p), 0);
	for (i = 0; i < n; i += piece ? piece : n) {
		size_t k = piece && n - i > piece ? piece : n - i;

		assert_int_equal(tools_parser_feed(p, out + i, k), 0);
	}
	assert_int_equal(tools_parser_finish(p), 0);
	assert_int_equal(tools_parser_n_calls(p), g->n_calls);
	tools_parser_free(p);
}

static const size_t pieces[] = { 0, 1, 2, 3, 5, 7, 13 };
#define N_PIECES (sizeof(pieces) / sizeof(pieces[0]))

static void test_plain_text(void **state)
{
	struct got g;
	size_t i;

	(void)state;
	for (i = 0; i < N_PIECES; i++) {
		run("Sure, the light is <b>on</b>.\n", pieces[i], &g);
		/* no call: text passes through byte for byte, trailing ws kept */
		assert_string_equal(g.text, "Sure, the light is <b>on</b>.\n");
		assert_int_equal(g.n_calls, 0);
	}
}

static void test_one_call(void **state)
{
	/* Qwen2.5/Hermes format as the models write it */
	const char *out = "<tool_call>\n{\"name\": \"set_light\", \"arguments\": "
			  "{\"entity\": \"light.kitchen\", \"on\": true}}\n</tool_call>";
	struct got g;
	size_t i;

	(void)state;
	for (i = 0; i < N_PIECES; i++) {
		run(out, pieces[i], &g);
		assert_int_equal(g.n_calls, 1);
		assert_string_equal(g.names[0], "set_light");
		/* arguments re-serialized compact by cJSON */
		assert_string_equal(g.args[0], "{\"entity\":\"light.kitchen\",\"on\":true}");
		assert_int_equal(g.text_len, 0);
	}
}

static void test_text_then_two_calls(void **state)
{
	const char *out = "Doing both.\n<tool_call>\n{\"name\":\"a\",\"arguments\":{}}\n"
			  "</tool_call>\n<tool_call>\n{\"name\":\"b\",\"arguments\":"
			  "\"{\\\"x\\\": 1}\"}\n</tool_call>\n";
	struct got g;
	size_t i;

	(void)state;
	for (i = 0; i < N_PIECES; i++) {
		run(out, pieces[i], &g);
		assert_int_equal(g.n_calls, 2);
		assert_string_equal(g.names[0], "a");
		assert_string_equal(g.args[0], "{}");
		assert_string_equal(g.names[1], "b");
		/* arguments given as a JSON string are decoded to the object */
		assert_string_equal(g.args[1], "{\"x\":1}");
		/* whitespace around calls dropped, the sentence kept */
		assert_string_equal(g.text, "Doing both.");
	}
}

static void test_broken_json_is_text(void **state)
{
	const char *out = "<tool_call>\n{\"name\": \"set_light\", \"arguments\": {\"ent\n</tool_call>";
	struct got g;
	size_t i;

	(void)state;
	for (i = 0; i < N_PIECES; i++) {
		run(out, pieces[i], &g);
		assert_int_equal(g.n_calls, 0);
		assert_string_equal(g.text, out); /* verbatim, tags included */
	}
}

static void test_unterminated_partial_is_text(void **state)
{
	/* generation stopped (max_tokens) inside the call */
	const char *out = "ok <tool_call>\n{\"name\": \"set_li";
	struct got g;

	(void)state;
	run(out, 1, &g);
	assert_int_equal(g.n_calls, 0);
	assert_string_equal(g.text, out);
}

static void test_unterminated_complete_is_call(void **state)
{
	/* eos right after the JSON, closing tag never written */
	const char *out = "<tool_call>\n{\"name\": \"get_time\"}\n";
	struct got g;

	(void)state;
	run(out, 2, &g);
	assert_int_equal(g.n_calls, 1);
	assert_string_equal(g.names[0], "get_time");
	assert_string_equal(g.args[0], "{}");
}

static void test_wrong_shapes_are_text(void **state)
{
	static const char *bodies[] = {
		"<tool_call>[1,2]</tool_call>",                          /* not an object */
		"<tool_call>{\"arguments\":{}}</tool_call>",             /* no name */
		"<tool_call>{\"name\":\"\"}</tool_call>",                /* empty name */
		"<tool_call>{\"name\":5}</tool_call>",                   /* name not a string */
		"<tool_call>{\"name\":\"a\",\"arguments\":[1]}</tool_call>", /* args not object */
		"<tool_call>{\"name\":\"a\"} trailing</tool_call>",     /* junk after JSON */
	};
	struct got g;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		run(bodies[i], 3, &g);
		assert_int_equal(g.n_calls, 0);
		assert_string_equal(g.text, bodies[i]);
	}
}

static void test_tag_prefix_held_then_released(void **state)
{
	struct got g;

	(void)state;
	/* "<tool" could start a tag; it must come back once it cannot */
	run("a <tool is not <tool_cal", 1, &g);
	assert_string_equal(g.text, "a <tool is not <tool_cal");
}

static void test_utf8_split_and_invalid(void **state)
{
	struct got g;

	(void)state;
	/* "é" (C3 A9) split across pieces comes out whole */
	run("caf\xC3\xA9!", 1, &g);
	assert_string_equal(g.text, "caf\xC3\xA9!");
	/* a stray continuation byte and a truncated sequence at the end each
	 * become U+FFFD (EF BF BD) */
	run("a\x80" "b\xE2\x82", 1, &g);
	assert_string_equal(g.text, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD");
}

/* A token can decode to no bytes (a special token, half a character held
 * back): the pipeline then feeds an empty piece, first of all before any
 * text, when the parser's buffer has never been allocated. */
static void test_empty_pieces(void **state)
{
	tools_parser_cbs cbs;
	tools_parser *p;
	struct got g;

	(void)state;
	memset(&g, 0, sizeof(g));
	cbs = (tools_parser_cbs){ on_text, on_call, &g };
	assert_int_equal(tools_parser_new(&cbs, &p), 0);
	assert_int_equal(tools_parser_feed(p, "", 0), 0);
	assert_int_equal(tools_parser_feed(p, NULL, 0), 0);
	assert_int_equal(tools_parser_feed(p, "ok", 2), 0);
	assert_int_equal(tools_parser_feed(p, "", 0), 0);
	assert_int_equal(tools_parser_finish(p), 0);
	assert_string_equal(g.text, "ok");
	assert_int_equal(g.n_calls, 0);
	tools_parser_free(p);
}

static void test_utf8_valid(void **state)
{
	(void)state;
	assert_true(tools_utf8_valid("h\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", 10));
	assert_false(tools_utf8_valid("\xC0\xAF", 2));         /* overlong '/' */
	assert_false(tools_utf8_valid("\xED\xA0\x80", 3));     /* surrogate D800 */
	assert_false(tools_utf8_valid("\xF4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(tools_utf8_valid("\xE2\x82", 2));         /* truncated */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_text),
		cmocka_unit_test(test_one_call),
		cmocka_unit_test(test_text_then_two_calls),
		cmocka_unit_test(test_broken_json_is_text),
		cmocka_unit_test(test_unterminated_partial_is_text),
		cmocka_unit_test(test_unterminated_complete_is_call),
		cmocka_unit_test(test_wrong_shapes_are_text),
		cmocka_unit_test(test_tag_prefix_held_then_released),
		cmocka_unit_test(test_utf8_split_and_invalid),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_empty_pieces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
