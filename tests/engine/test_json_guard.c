/*
 * test_json_guard.c — the JSON guard (constrained decoding) and its use by
 * the sampler.
 *
 * Guard: prefixes of tool calls and schema values it must accept and the
 * exact byte where a wrong one must be refused (wrong tool name, unknown
 * or repeated key, missing required key, wrong types, bad escapes and
 * UTF-8, numbers, nesting, whitespace limits). Expected verdicts follow
 * RFC 8259 (JSON grammar, \u surrogate pairs), RFC 3629 (UTF-8: no
 * overlongs, no surrogates) and the schemas written next to each case.
 *
 * Sampler: with the Qwen2 vocabulary (shared models; skipped without it)
 * and fabricated logits that favour tokens making invalid JSON, the
 * guarded greedy sampler must write the valid call; with stories260K (a
 * real model that only knows children's stories) engine_generate must be
 * guarded from a trigger at the end of the prompt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_fail.h"

/* The shape of Hearth's home tools, plus edge cases: "set" is a prefix of
 * "set_timer", a bare function object, a tool without parameters. */
static const char TOOLS[] =
	"[{\"type\": \"function\", \"function\": {\"name\": \"get_time\", "
	"\"description\": \"Current local time.\", \"parameters\": "
	"{\"type\": \"object\", \"properties\": {}}}},"
	" {\"type\": \"function\", \"function\": {\"name\": \"set_timer\", "
	"\"parameters\": {\"type\": \"object\", \"properties\": "
	"{\"duration_seconds\": {\"type\": \"integer\"}, \"label\": {\"type\": \"string\"}}, "
	"\"required\": [\"duration_seconds\"]}}},"
	" {\"type\": \"function\", \"function\": {\"name\": \"set_light\", "
	"\"parameters\": {\"type\": \"object\", \"properties\": "
	"{\"room\": {\"type\": \"string\"}, \"state\": {\"type\": \"string\", \"enum\": [\"on\", \"off\"]}, "
	"\"brightness\": {\"type\": \"integer\"}}, \"required\": [\"room\", \"state\"]}}},"
	" {\"type\": \"function\", \"function\": {\"name\": \"set_thermostat\", "
	"\"parameters\": {\"type\": \"object\", \"properties\": "
	"{\"room\": {\"type\": \"string\"}, \"temperature\": {\"type\": \"number\"}}, "
	"\"required\": [\"temperature\"]}}},"
	" {\"name\": \"set\", \"parameters\": {\"type\": \"object\", \"properties\": "
	"{\"x\": {\"type\": \"boolean\"}, \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}}, "
	"\"opt\": {\"type\": [\"string\", \"null\"]}}}},"
	" {\"name\": \"free\"}]";

static engine_json_guard *tools_guard(void)
{
	engine_json_guard *g = NULL;
	char err[256] = "";

	assert_int_equal(engine_json_guard_new_tools(TOOLS, &g, err, sizeof(err)), 0);
	assert_non_null(g);
	return g;
}

static engine_json_guard *schema_guard(const char *schema)
{
	engine_json_guard *g = NULL;
	char err[256] = "";

	if (engine_json_guard_new_schema(schema, &g, err, sizeof(err)))
		fail_msg("schema %s: %s", schema, err);
	return g;
}

/* The whole text is accepted, byte by byte too; complete says whether the
 * value is finished afterwards. */
static void accepts(engine_json_guard *g, const char *text, bool complete)
{
	size_t n = strlen(text);

	engine_json_guard_reset(g);
	if (!engine_json_guard_allows(g, text, n))
		fail_msg("refused: %s", text);
	for (size_t i = 0; i < n; i++)
		if (engine_json_guard_feed(g, text + i, 1))
			fail_msg("byte %zu refused: %s", i, text);
	if (engine_json_guard_complete(g) != complete)
		fail_msg("complete %d, want %d: %s", !complete, complete, text);
}

/* prefix is accepted; its next byte, bad[0], is refused (and feeding it
 * leaves the state as it was). */
static void refuses(engine_json_guard *g, const char *prefix, const char *bad)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s%s", prefix, bad);
	engine_json_guard_reset(g);
	if (!engine_json_guard_allows(g, prefix, strlen(prefix)))
		fail_msg("prefix refused: %s", prefix);
	if (engine_json_guard_allows(g, buf, strlen(prefix) + 1))
		fail_msg("accepted '%c' after: %s", bad[0], prefix);
	assert_int_equal(engine_json_guard_feed(g, prefix, strlen(prefix)), 0);
	assert_int_equal(engine_json_guard_feed(g, bad, 1), HEARTH_EINVAL);
	/* the refused byte left no trace: the prefix still continues */
	assert_false(engine_json_guard_allows(g, bad, 1));
}

/* ---------------------------------------------------------------------------
 * Verbatim strings: words of the source text
 */
static void set_src(engine_json_guard *g, const char *text)
{
	assert_int_equal(engine_json_guard_set_source(g, text, text ? strlen(text) : 0), 0);
}

static void test_verbatim(void **state)
{
	engine_json_guard *g = schema_guard(
		"{\"type\": \"object\", \"properties\": {\"place\": {\"type\": \"string\", "
		"\"x-hearth-verbatim\": true}, \"day\": {\"type\": \"string\"}}, \"required\": [\"place\"]}");

	(void)state;
	/* no source: any string */
	accepts(g, "{\"place\": \"mele\"}", true);
	set_src(g, "What's the weather in Marseille tomorrow?");
	accepts(g, "{\"place\": \"Marseille\"}", true);
	accepts(g, "{\"place\": \"marseille\"}", true);        /* the first letter */
	accepts(g, "{\"place\": \"what's the\"}", true);
	refuses(g, "{\"place\": \"M", "A");                    /* the others as said */
	refuses(g, "{\"place\": \"in ", "m");
	accepts(g, "{\"place\": \"in Marseille tomorrow\"}", true);
	accepts(g, "{\"place\": \"What's\"}", true);
	accepts(g, "{\"place\": \"tomorrow\", \"day\": \"mele\"}", true); /* day is free */
	refuses(g, "{\"place\": \"M", "e");                    /* the misspelling */
	refuses(g, "{\"place\": \"Marse", "\"");               /* not a word end */
	refuses(g, "{\"place\": \"", "\"");                    /* empty */
	refuses(g, "{\"place\": \"", "a");                     /* not a word start */
	refuses(g, "{\"place\": \"Marseille ", "\"");          /* nor a space after */
	refuses(g, "{\"place\": \"Marseille tomorrow", "?");   /* punctuation */
	refuses(g, "{\"place\": \"", "\\");                    /* no escapes */
	refuses(g, "{\"place\": \"What", "s");                 /* the apostrophe is copied */
	/* the source stays across resets; a new one replaces it */
	set_src(g, "lights off in the den");
	accepts(g, "{\"place\": \"den\"}", true);
	refuses(g, "{\"place\": \"", "m");
	set_src(g, NULL);
	accepts(g, "{\"place\": \"marseille\"}", true);
	/* a quote in the source ends what can be copied */
	set_src(g, "note: say \"hi there\" to bob");
	accepts(g, "{\"place\": \"hi there\"}", true);
	accepts(g, "{\"place\": \"to bob\"}", true);
	refuses(g, "{\"place\": \"say", " ");
	/* UTF-8 letters are part of a word */
	set_src(g, "un café au lait");
	accepts(g, "{\"place\": \"café au lait\"}", true);
	refuses(g, "{\"place\": \"caf", "\"");
	refuses(g, "{\"place\": \"caf\xc3", "\xa8");               /* è, not é */
	engine_json_guard_free(g);

	/* maxLength: only words that fit may start; none fits: any string */
	g = schema_guard("{\"type\": \"string\", \"maxLength\": 5, \"x-hearth-verbatim\": true}");
	set_src(g, "marseille is nice");
	accepts(g, "\"nice\"", true);
	accepts(g, "\"is\"", true);
	refuses(g, "\"", "m");
	refuses(g, "\"is", " ");                               /* "is nice" is 7 */
	set_src(g, "marseille");
	accepts(g, "\"abc\"", true);
	engine_json_guard_free(g);

	/* array items: the entity-extraction schema */
	g = schema_guard("{\"type\": \"object\", \"properties\": {\"people\": {\"type\": \"array\", "
			 "\"items\": {\"type\": \"string\", \"x-hearth-verbatim\": true}}}, "
			 "\"required\": [\"people\"]}");
	set_src(g, "amara wrote to me from oregon about chloe");
	accepts(g, "{\"people\": [\"amara\", \"chloe\"]}", true);
	refuses(g, "{\"people\": [\"amara\", \"chl", "a");
	engine_json_guard_free(g);

	/* tool mode: a tool's argument */
	g = NULL;
	assert_int_equal(engine_json_guard_new_tools(
		"[{\"name\": \"list_add\", \"parameters\": {\"type\": \"object\", \"properties\": "
		"{\"item\": {\"type\": \"string\", \"x-hearth-verbatim\": true}}}}]", &g, NULL, 0), 0);
	set_src(g, "add rice cooker cleaner to the list");
	accepts(g, "{\"name\": \"list_add\", \"arguments\": {\"item\": \"rice cooker cleaner\"}}", true);
	refuses(g, "{\"name\": \"list_add\", \"arguments\": {\"item\": \"rice ", "k");
	assert_int_equal(engine_json_guard_set_source(g, NULL, 3), HEARTH_EINVAL);
	assert_int_equal(engine_json_guard_set_source(NULL, "x", 1), HEARTH_EINVAL);
	engine_json_guard_free(g);
}

/* ---------------------------------------------------------------------------
 * Tool calls
 */
static void test_valid_calls(void **state)
{
	engine_json_guard *g = tools_guard();

	(void)state;
	/* as chatml.py / the Hermes template print them */
	accepts(g, "{\"name\": \"set_timer\", \"arguments\": {\"duration_seconds\": 300}}", true);
	accepts(g, "\n{\"name\": \"set_timer\", \"arguments\": {\"duration_seconds\": 300, "
		   "\"label\": \"tea\"}}", true);
	accepts(g, "{\"name\":\"get_time\",\"arguments\":{}}", true);
	/* properties in any order; enum value; optional integer */
	accepts(g, "{\"name\": \"set_light\", \"arguments\": {\"state\": \"off\", "
		   "\"brightness\": 40, \"room\": \"den\"}}", true);
	accepts(g, "{\"name\": \"set_thermostat\", \"arguments\": {\"temperature\": 21.5}}", true);
	accepts(g, "{\"name\": \"set\", \"arguments\": {\"x\": true, \"tags\": [\"a\", \"b\"], "
		   "\"opt\": null}}", true);
	/* a tool without parameters takes any object */
	accepts(g, "{\"name\": \"free\", \"arguments\": {\"anything\": [1, {\"k\": false}]}}", true);
	/* unfinished: a prefix, not complete */
	accepts(g, "{\"name\": \"set_timer\", \"arguments\": {\"duration_seconds\": 30", false);
	/* after the value only whitespace, at most two */
	accepts(g, "{\"name\": \"get_time\", \"arguments\": {}}\n ", true);
	refuses(g, "{\"name\": \"get_time\", \"arguments\": {}}", "x");
	refuses(g, "{\"name\": \"get_time\", \"arguments\": {}}", "}");
	engine_json_guard_free(g);
}

static void test_wrong_tool_name(void **state)
{
	engine_json_guard *g = tools_guard();

	(void)state;
	refuses(g, "{\"name\": \"set_tim", "3");
	refuses(g, "{\"name\": \"set_timer", "s");        /* no "set_timers" */
	refuses(g, "{\"name\": \"", "x");                /* no tool starts with x */
	refuses(g, "{\"name\": ", "3");                  /* a name is a string */
	refuses(g, "{\"", "a");                          /* "name" comes first */
	refuses(g, "{\"name\": \"get_time\"", "}");      /* arguments required */
	refuses(g, "{\"name\": \"get_time\", \"", "n");  /* no second name */
	/* "set" and "set_timer" are both names: the quote decides */
	accepts(g, "{\"name\": \"set\"", false);
	accepts(g, "{\"name\": \"set_timer\"", false);
	engine_json_guard_free(g);
}

static void test_keys(void **state)
{
	engine_json_guard *g = tools_guard();
	const char *t = "{\"name\": \"set_timer\", \"arguments\": {";
	char p[256];

	(void)state;

	snprintf(p, sizeof(p), "%s\"dur", t);
	accepts(g, p, false);
	refuses(g, p, "_");                              /* unknown key */
	snprintf(p, sizeof(p), "%s\"", t);
	refuses(g, p, "c");
	/* "duration" is only a prefix of a key */
	snprintf(p, sizeof(p), "%s\"duration", t);
	refuses(g, p, "\"");
	/* missing required key before '}' */
	refuses(g, t, "}");
	snprintf(p, sizeof(p), "%s\"label\": \"tea\"", t);
	refuses(g, p, "}");
	/* a key twice */
	snprintf(p, sizeof(p), "%s\"duration_seconds\": 1, \"", t);
	refuses(g, p, "d");
	/* ',' with no key left to write */
	snprintf(p, sizeof(p), "%s\"duration_seconds\": 1, \"label\": \"x\"", t);
	refuses(g, p, ",");
	/* no escapes in known keys */
	snprintf(p, sizeof(p), "%s\"", t);
	refuses(g, p, "\\");
	/* an empty object schema takes only {} */
	refuses(g, "{\"name\": \"get_time\", \"arguments\": {", "\"");
	engine_json_guard_free(g);
}

static void test_wrong_types(void **state)
{
	engine_json_guard *g = tools_guard();
	const char *light = "{\"name\": \"set_light\", \"arguments\": {\"room\": \"den\", \"state\": ";

	(void)state;
	refuses(g, "{\"name\": \"set_timer\", \"arguments\": {\"duration_seconds\": ", "\"");
	refuses(g, "{\"name\": \"set_timer\", \"arguments\": {\"duration_seconds\": 30", ".");
	refuses(g, "{\"name\": \"set_timer\", \"arguments\": {\"duration_seconds\": 3", "e");
	refuses(g, "{\"name\": \"set_timer\", \"arguments\": ", "[");
	refuses(g, "{\"name\": \"set_timer\", \"arguments\": {\"label\": ", "5");
	refuses(g, light, "t");                          /* enum: "on" or "off" */
	refuses(g, light, "1");
	accepts(g, "{\"name\": \"set_light\", \"arguments\": {\"room\": \"den\", \"state\": \"of", false);
	refuses(g, "{\"name\": \"set_light\", \"arguments\": {\"room\": \"den\", \"state\": \"o", "x");
	refuses(g, "{\"name\": \"set_light\", \"arguments\": {\"brightness\": ", "n");
	refuses(g, "{\"name\": \"set\", \"arguments\": {\"x\": tr", "i");
	refuses(g, "{\"name\": \"set\", \"arguments\": {\"x\": ", "n");
	refuses(g, "{\"name\": \"set\", \"arguments\": {\"tags\": [\"a\", ", "1");
	refuses(g, "{\"name\": \"set\", \"arguments\": {\"opt\": ", "1");
	accepts(g, "{\"name\": \"set\", \"arguments\": {\"opt\": \"s\"}}", true);
	/* number (not integer) takes fractions and exponents */
	accepts(g, "{\"name\": \"set_thermostat\", \"arguments\": {\"temperature\": -2.5e+1}}", true);
	engine_json_guard_free(g);
}

/* ---------------------------------------------------------------------------
 * Strings: escapes, UTF-8 (raw and split across feeds), surrogates
 */
static void test_strings(void **state)
{
	engine_json_guard *g = schema_guard("{\"type\": \"string\"}");
	const char *pre = "\"ab";

	(void)state;
	accepts(g, "\"tea \\\"green\\\" \\\\ \\/ \\b\\f\\n\\r\\t\"", true);
	accepts(g, "\"\\u00e9\\u20AC \\ud83d\\ude00\"", true);       /* é € 😀 */
	accepts(g, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xed\x9f\xbf\"", true);
	accepts(g, "\"\xf4\x8f\xbf\xbf\"", true);                    /* U+10FFFF */
	refuses(g, "\"ab\\", "x");             /* not an escape */
	refuses(g, pre, "\x01");                /* raw control character */
	refuses(g, pre, "\t");
	refuses(g, "\"\\u12", "g");             /* four hex digits */
	refuses(g, "\"\\ud", "c");              /* lone low surrogate DC00-DFFF */
	refuses(g, "\"\\ud83d", "\"");          /* high surrogate needs a low one */
	refuses(g, "\"\\ud83d\\", "n");
	refuses(g, "\"\\ud83d\\u", "0");        /* ... and it must be DC00-DFFF */
	refuses(g, "\"\\ud83d\\ud", "8");
	refuses(g, "\"\xc3", "(");              /* lead byte, no continuation */
	refuses(g, pre, "\xc0");                /* C0/C1 only start overlongs */
	refuses(g, "\"\xe0", "\x80");           /* overlong 3-byte form */
	refuses(g, "\"\xed", "\xa0");           /* UTF-8 of a surrogate */
	refuses(g, "\"\xf4", "\x90");           /* above U+10FFFF */
	refuses(g, pre, "\xf5");
	refuses(g, pre, "\x80");                /* stray continuation */
	/* a character split over two tokens */
	engine_json_guard_reset(g);
	assert_int_equal(engine_json_guard_feed(g, "\"caf\xc3", 5), 0);
	assert_false(engine_json_guard_allows(g, "\"", 1));
	assert_int_equal(engine_json_guard_feed(g, "\xa9\"", 2), 0);
	assert_true(engine_json_guard_complete(g));
	engine_json_guard_free(g);
}

/* ---------------------------------------------------------------------------
 * Numbers (RFC 8259 §6) and literals
 */
static void test_numbers(void **state)
{
	engine_json_guard *num = schema_guard("{\"type\": \"number\"}");
	engine_json_guard *in = schema_guard("{\"type\": \"integer\"}");
	char big[64];

	(void)state;
	accepts(num, "-0.5e+3 ", true);
	accepts(num, "0 ", true);
	accepts(num, "12E-7\n", true);
	/* a top-level number is finished only when something follows it */
	accepts(num, "12", false);
	refuses(num, "0", "1");                 /* no leading zeros */
	refuses(num, "-", "a");
	refuses(num, "", "+");
	refuses(num, "", ".");
	refuses(num, "1.", "e");
	refuses(num, "1e", " ");
	refuses(num, "1e+", "-");
	refuses(num, "1.5", "x");
	accepts(in, "-7 ", true);
	refuses(in, "1", ".");
	refuses(in, "1", "e");
	/* at most 24 characters, and a '.' or 'e' only with room for a digit */
	memset(big, '9', 24);
	big[24] = '\0';
	accepts(num, big, false);
	refuses(num, big, "9");
	big[23] = '\0';
	refuses(num, big, ".");
	refuses(num, big, "e");
	memcpy(big + 22, ".5", 3);
	accepts(num, big, false);
	engine_json_guard_free(num);
	engine_json_guard_free(in);
}

static void test_literals(void **state)
{
	engine_json_guard *e = schema_guard("{\"enum\": [10, 1, \"a b\", null, true, 1]}");
	engine_json_guard *c = schema_guard("{\"const\": \"x\"}");
	engine_json_guard *u = schema_guard("{\"type\": [\"string\", \"null\"]}");

	(void)state;
	/* 1 and 10: "1" is whole only once something other than 0 follows */
	accepts(e, "1", false);
	accepts(e, "1 ", true);
	accepts(e, "10", true);
	refuses(e, "10", "0");
	refuses(e, "1", "1");
	accepts(e, "\"a b\"", true);
	refuses(e, "\"a", "c");
	accepts(e, "null", true);
	accepts(e, "true", true);
	refuses(e, "", "f");
	accepts(c, "\"x\"", true);
	refuses(c, "\"", "y");
	accepts(u, "null", true);
	accepts(u, "\"s\"", true);
	refuses(u, "", "1");
	refuses(u, "nul", "1");
	engine_json_guard_free(e);
	engine_json_guard_free(c);
	engine_json_guard_free(u);
}

/* ---------------------------------------------------------------------------
 * Nesting, whitespace, any JSON
 */
static void test_nested(void **state)
{
	engine_json_guard *g = schema_guard(
		"{\"type\": \"object\", \"properties\": {"
		"\"people\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}},"
		"\"places\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}},"
		"\"meta\": {\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"integer\"},"
		"\"m\": {\"type\": \"array\", \"items\": {\"type\": \"array\"}}}, \"required\": [\"n\"]}},"
		"\"required\": [\"people\", \"places\"]}");

	(void)state;
	accepts(g, "{\"people\": [\"amara\", \"chloe nakamura\"], \"places\": [], "
		   "\"meta\": {\"n\": 2, \"m\": [[1, \"x\"], []]}}", true);
	accepts(g, "{\"places\":[\"oslo\"],\"people\":[]}", true);
	refuses(g, "{\"people\": [\"amara\", ", "3");
	refuses(g, "{\"people\": [\"amara\"", "}");
	refuses(g, "{\"people\": [\"amara\",", "]");     /* no trailing comma */
	refuses(g, "{\"people\": [], \"places\": [], \"meta\": {", "}");
	refuses(g, "{\"people\": [], \"places\": [], \"meta\": {\"m\": [", "1");
	refuses(g, "{\"people\": []", "}");
	refuses(g, "", "[");
	engine_json_guard_free(g);
}

static void test_any_json(void **state)
{
	engine_json_guard *g = schema_guard("{}");
	char deep[80];

	(void)state;
	accepts(g, "{\"a\": [1, {\"b\": null}, true, \"x\", -1.5e3], \"\": {}}", true);
	accepts(g, "[]", true);
	accepts(g, "\"s\"", true);
	accepts(g, "false", true);
	refuses(g, "{\"a\" ", "1");
	refuses(g, "[1,", "]");
	refuses(g, "{", ",");
	refuses(g, "{\"a\": 1", "]");
	refuses(g, "", "}");
	refuses(g, "", "'");
	/* 31 nested arrays fit (the root frame is the 32nd); one more does not */
	memset(deep, '[', 31);
	deep[31] = '\0';
	accepts(g, deep, false);
	refuses(g, deep, "[");
	memset(deep + 31, ']', 31);
	deep[62] = '\0';
	accepts(g, deep, true);
	engine_json_guard_free(g);
}

/* Bounds that make every value end: maxLength (characters: an escape or a
 * UTF-8 sequence counts one), maxItems; by default 256 characters and 64
 * items or free keys (json_guard.c DEFAULT_MAX_STR/ITEMS). */
static void test_bounds(void **state)
{
	engine_json_guard *g = schema_guard(
		"{\"type\": \"object\", \"properties\": {"
		"\"s\": {\"type\": \"string\", \"maxLength\": 3},"
		"\"a\": {\"type\": \"array\", \"maxItems\": 2},"
		"\"z\": {\"type\": \"string\", \"maxLength\": 0}}}");
	char buf[1024];
	int n;

	(void)state;
	accepts(g, "{\"s\": \"ab\\u00e9\"}", true);
	refuses(g, "{\"s\": \"abc", "d");
	refuses(g, "{\"s\": \"abc", "\\");
	accepts(g, "{\"s\": \"\xc3\xa9\xc3\xa9\xc3\xa9\"}", true);
	refuses(g, "{\"s\": \"\xc3\xa9\xc3\xa9\xc3\xa9", "\xc3");
	accepts(g, "{\"a\": [1, [2]]}", true);
	refuses(g, "{\"a\": [1, 2", ",");
	accepts(g, "{\"z\": \"\"}", true);
	refuses(g, "{\"z\": \"", "x");
	engine_json_guard_free(g);

	g = schema_guard("{}");
	buf[0] = '"';
	memset(buf + 1, 'x', 256);
	buf[257] = '\0';
	accepts(g, buf, false);
	refuses(g, buf, "x");
	strcpy(buf + 257, "\"");
	accepts(g, buf, true);
	n = snprintf(buf, sizeof(buf), "[0");
	for (int i = 1; i < 64; i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, ",0");
	accepts(g, buf, false);
	refuses(g, buf, ",");
	n = snprintf(buf, sizeof(buf), "{\"k0\":0");
	for (int i = 1; i < 64; i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, ",\"k%d\":0", i);
	accepts(g, buf, false);
	refuses(g, buf, ",");
	strcpy(buf + n, "}");
	accepts(g, buf, true);
	engine_json_guard_free(g);
}

static void test_whitespace(void **state)
{
	engine_json_guard *g = tools_guard();

	(void)state;
	accepts(g, "\n\n{  \"name\" :\t\"get_time\" ,\r\n\"arguments\":  {  }  }  ", true);
	refuses(g, "\n\n", "\n");
	refuses(g, "{  ", " ");
	refuses(g, "{\"name\"  ", " ");
	refuses(g, "{\"name\": \"get_time\", \"arguments\": {}}  ", " ");
	/* spaces inside strings are text, not padding */
	accepts(g, "{\"name\": \"set_timer\", \"arguments\": {\"label\": \"a    b\"", false);
	engine_json_guard_free(g);
}

static void test_allows_changes_nothing(void **state)
{
	engine_json_guard *g = tools_guard();

	(void)state;
	assert_true(engine_json_guard_allows(g, "{\"name\"", 7));
	assert_true(engine_json_guard_allows(g, "{\"name\"", 7));
	assert_true(engine_json_guard_allows(g, "", 0));
	assert_int_equal(engine_json_guard_feed(g, "{\"na", 4), 0);
	assert_int_equal(engine_json_guard_feed(g, "mex", 3), HEARTH_EINVAL);
	assert_int_equal(engine_json_guard_feed(g, "me\": \"get_time\", \"arguments\": {}}", 33), 0);
	assert_true(engine_json_guard_complete(g));
	engine_json_guard_reset(g);
	assert_false(engine_json_guard_complete(g));
	assert_true(engine_json_guard_allows(g, "{", 1));
	engine_json_guard_free(g);
	engine_json_guard_free(NULL);
}

static void test_errors(void **state)
{
	engine_json_guard *g = (engine_json_guard *)1;
	char err[256];

	(void)state;
	assert_int_equal(engine_json_guard_new_tools("[{\"name\": \"a\"}, ", &g, err, sizeof(err)),
			 HEARTH_EINVAL);
	assert_null(g);
	assert_non_null(strstr(err, "malformed JSON at offset"));
	assert_int_equal(engine_json_guard_new_tools("[{\"name\": \"a\"}, {\"parameters\": {}}]", &g,
						     err, sizeof(err)), HEARTH_EINVAL);
	assert_non_null(strstr(err, "tools_json[1]"));
	assert_int_equal(engine_json_guard_new_tools("[]", &g, err, sizeof(err)), HEARTH_EINVAL);
	assert_non_null(strstr(err, "no tools"));
	assert_int_equal(engine_json_guard_new_tools("42", &g, err, sizeof(err)), HEARTH_EINVAL);
	assert_int_equal(engine_json_guard_new_schema("{\"enum\": []}", &g, err, sizeof(err)),
			 HEARTH_EINVAL);
	assert_non_null(strstr(err, "empty enum"));
	assert_int_equal(engine_json_guard_new_schema(NULL, &g, err, sizeof(err)), HEARTH_EINVAL);
	/* unchecked keywords leave the value free, not an error */
	g = schema_guard("{\"anyOf\": [{\"type\": \"string\"}], \"pattern\": \"x\"}");
	accepts(g, "[1, \"two\"]", true);
	engine_json_guard_free(g);
	/* property names that would need escapes: the object is left free */
	g = schema_guard("{\"type\": \"object\", \"properties\": {\"a\\\"b\": {\"type\": \"integer\"}}}");
	accepts(g, "{\"q\": 1}", true);
	refuses(g, "", "[");
	engine_json_guard_free(g);
}

/* Fail every allocation of guard construction in turn: each failure is
 * HEARTH_ENOMEM with nothing returned and nothing leaked (ASan), and once
 * no failure is hit the guard works. */
static void test_alloc_failures(void **state)
{
	static const char schema[] =
		"{\"type\": \"object\", \"properties\": {\"a\": {\"enum\": [1, 2, \"x\"]},"
		"\"b\": {\"type\": \"array\", \"items\": {\"type\": \"object\", \"properties\": "
		"{\"c\": {\"type\": \"string\"}}, \"required\": [\"c\"]}}}, \"required\": [\"b\"]}";
	char err[256];
	int swept = 0;

	(void)state;
	for (int which = 0; which < 2; which++) {
		for (long at = 0;; at++) {
			engine_json_guard *g = (engine_json_guard *)1;
			int rc;

			alloc_arm(at);
			rc = which ? engine_json_guard_new_schema(schema, &g, err, sizeof(err))
				   : engine_json_guard_new_tools(TOOLS, &g, err, sizeof(err));
			if (!alloc_disarm()) {
				const char *ok = which ? "{\"b\": [{\"c\"" : "{\"name\": \"set_light\"";

				assert_int_equal(rc, 0);
				assert_true(engine_json_guard_allows(g, ok, strlen(ok)));
				engine_json_guard_free(g);
				break;
			}
			assert_int_equal(rc, HEARTH_ENOMEM);
			assert_null(g);
			assert_non_null(strstr(err, "out of memory"));
			swept++;
		}
	}
	/* both constructions allocate more than a few times */
	assert_true(swept > 10);
}

/* ---------------------------------------------------------------------------
 * Sampler with the Qwen2 vocabulary and fabricated logits
 */
static const char *models_dir(char *buf, size_t n)
{
	const char *m = getenv("HEARTH_MODELS"), *src = getenv("HEARTH_SRC");

	if (m && *m)
		return m;
	snprintf(buf, n, "%s/../shared/models", src ? src : ".");
	return buf;
}

static engine_model *load_shared(const char *rel, bool vocab_only)
{
	engine_model_params p = engine_model_default_params();
	engine_model *m = NULL;
	char dir[1024], path[1200], err[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", models_dir(dir, sizeof(dir)), rel);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	fclose(f);
	p.path = path;
	p.vocab_only = vocab_only;
	if (engine_model_load(&p, &m, err, sizeof(err)))
		fail_msg("%s", err);
	return m;
}

static int32_t one_token(const engine_model *m, const char *text, bool special)
{
	int32_t t[4];

	assert_int_equal(engine_tokenize(m, text, strlen(text), false, special, t, 4), 1);
	return t[0];
}

/* The longest token whose text starts rest (-1 if rest is empty). */
static int32_t longest_prefix_token(const engine_model *m, int n_vocab, const char *rest)
{
	size_t rl = strlen(rest), best_len = 0;
	int32_t best = -1;
	char piece[256];

	for (int32_t t = 0; t < n_vocab && rl; t++) {
		int n = engine_token_to_piece(m, t, piece, sizeof(piece), false);

		if (n > 0 && (size_t)n <= rl && (size_t)n > best_len && !memcmp(piece, rest, (size_t)n)) {
			best = t;
			best_len = (size_t)n;
		}
	}
	return best;
}

struct fake_lm {
	const engine_model *m;
	int n_vocab;
	const char *want;     /* what the fake model would like to write (invalid) */
	const char *valid;    /* a valid call it likes less */
	const int32_t *bad;   /* tokens it likes most: end, markup, a control byte */
	int n_bad;
	float *logits;        /* (n_vocab) */
};

/* Logits after text: the end token 13, other bad tokens 12, the next token
 * of `want` 10 (while the text is on its way), of `valid` 5, everything
 * else 0. */
static void fake_logits(struct fake_lm *f, const char *text)
{
	size_t n = strlen(text);
	int32_t t;

	memset(f->logits, 0, (size_t)f->n_vocab * sizeof(*f->logits));
	for (int i = 0; i < f->n_bad; i++)
		f->logits[f->bad[i]] = i == 0 ? 13.0f : 12.0f;
	if (!strncmp(f->want, text, n) && (t = longest_prefix_token(f->m, f->n_vocab, f->want + n)) >= 0)
		f->logits[t] = 10.0f;
	if (!strncmp(f->valid, text, n) && (t = longest_prefix_token(f->m, f->n_vocab, f->valid + n)) >= 0)
		f->logits[t] = 5.0f;
}

/* Run the sampler on the fake model for up to max tokens after the
 * trigger; returns the text written until an end token. */
static void run_fake(struct fake_lm *f, engine_sampler *s, char *text, size_t cap, int max)
{
	size_t n = 0;
	char piece[256];

	text[0] = '\0';
	for (int i = 0; i < max; i++) {
		int32_t t;
		int len;

		fake_logits(f, text);
		t = engine_sampler_sample(s, f->logits);
		if (engine_token_is_eog(f->m, t))
			break;
		len = engine_token_to_piece(f->m, t, piece, sizeof(piece), true);
		if (len < 0 || n + (size_t)len >= cap) {
			/* explicit return: the release build's -O3 must see that
			 * memcpy only runs with a fitting, non-negative length */
			fail_msg("piece of token %d does not fit (%d bytes)", t, len);
			return;
		}
		memcpy(text + n, piece, (size_t)len);
		text[n += (size_t)len] = '\0';
		engine_sampler_accept(s, t);
	}
}

static void test_sampler_qwen_vocab(void **state)
{
	engine_model *m = load_shared("vocab/ggml-vocab-qwen2.gguf", true);
	engine_sampler_params sp = engine_sampler_default_params();
	engine_json_guard *g = tools_guard(), *check = tools_guard();
	engine_sampler *s = NULL;
	engine_model_info info;
	struct fake_lm f;
	int32_t bad[4], trig;
	char text[1024];
	/* an unknown key and a string where an integer is due */
	const char *want = "\n{\"name\": \"set_timer\", \"arguments\": {\"duration\": \"5 min\"}}\n";
	const char *valid = "\n{\"name\": \"set_timer\", \"arguments\": {\"duration_seconds\": 300}}";

	(void)state;
	if (!m) {
		engine_json_guard_free(g);
		engine_json_guard_free(check);
		skip();
	}
	engine_model_get_info(m, &info);
	bad[0] = one_token(m, "<|im_end|>", true);      /* end of generation */
	bad[1] = one_token(m, "</tool_call>", true);    /* markup */
	bad[2] = one_token(m, "<|im_start|>", true);
	bad[3] = one_token(m, "\x01", false);           /* a raw control byte */
	trig = one_token(m, "<tool_call>", true);
	f = (struct fake_lm){ m, info.n_vocab, want, valid, bad, 4,
			      calloc((size_t)info.n_vocab, sizeof(float)) };
	assert_non_null(f.logits);
	sp.temperature = 0.0f;
	assert_int_equal(engine_sampler_new(&sp, info.n_vocab, &s), 0);

	/* without a guard the fake model ends at once */
	run_fake(&f, s, text, sizeof(text), 100);
	assert_string_equal(text, "");
	/* with the guard but before the trigger: nothing is constrained */
	assert_int_equal(engine_sampler_set_guard(s, m, g, "<tool_call>"), 0);
	assert_false(engine_sampler_guard_active(s));
	fake_logits(&f, "");
	assert_int_equal(engine_sampler_sample(s, f.logits), bad[0]);
	/* the trigger opens the span: the valid call comes out, then its
	 * closing tag (the fake model's favourite whitespace is none), then the
	 * end token is back */
	engine_sampler_accept(s, trig);
	assert_true(engine_sampler_guard_active(s));
	run_fake(&f, s, text, sizeof(text), 100);
	assert_string_equal(text, "\n{\"name\": \"set_timer\", \"arguments\": {\"duration_seconds\": 300}}"
			    "</tool_call>");
	assert_false(engine_sampler_guard_active(s));
	/* the fake model's favourite, unconstrained, is not valid */
	engine_json_guard_reset(check);
	assert_false(engine_json_guard_allows(check, want, strlen(want)));

	/* sampling: whatever is drawn stays valid */
	engine_sampler_free(s);
	sp.temperature = 1.5f;
	sp.top_k = 0;
	sp.top_p = 1.0f;
	sp.min_p = 0.0f;
	assert_int_equal(engine_sampler_new(&sp, info.n_vocab, &s), 0);
	assert_int_equal(engine_sampler_set_guard(s, m, g, "<tool_call>"), 0);
	for (int r = 0; r < 3; r++) {
		engine_sampler_accept(s, trig);
		engine_json_guard_reset(check);
		for (int i = 0; i < 40 && engine_sampler_guard_active(s); i++) {
			char piece[256];
			int32_t t;
			int len;

			fake_logits(&f, "");
			t = engine_sampler_sample(s, f.logits);
			len = engine_token_to_piece(m, t, piece, sizeof(piece), true);
			assert_false(engine_token_is_eog(m, t));
			assert_int_equal(engine_json_guard_feed(check, piece, (size_t)len), 0);
			engine_sampler_accept(s, t);
		}
		/* forced out of the span: an end token the caller accepts */
		engine_sampler_accept(s, bad[0]);
		assert_false(engine_sampler_guard_active(s));
	}

	/* JSON mode: no trigger, active at once */
	engine_json_guard_free(check);
	check = schema_guard("{\"type\": \"object\", \"properties\": {\"ok\": {\"type\": \"boolean\"}}, "
			     "\"required\": [\"ok\"]}");
	assert_int_equal(engine_sampler_set_guard(s, m, check, NULL), 0);
	assert_true(engine_sampler_guard_active(s));
	assert_int_equal(engine_sampler_set_guard(s, m, NULL, NULL), 0);
	assert_false(engine_sampler_guard_active(s));
	assert_int_equal(engine_sampler_set_guard(s, m, g, ""), HEARTH_EINVAL);

	free(f.logits);
	engine_sampler_free(s);
	engine_json_guard_free(g);
	engine_json_guard_free(check);
	engine_model_free(m);
}

/* ---------------------------------------------------------------------------
 * engine_generate with a real model that knows nothing of JSON
 */
struct gen_check {
	engine_json_guard *check;
	bool all_valid, complete;
	bool run_on;   /* go on after the value is complete */
	int n, after;  /* tokens; tokens after the value was complete */
};

static bool on_token(int32_t tok, const char *piece, size_t len, void *ud)
{
	struct gen_check *c = ud;

	(void)tok;
	c->n++;
	if (c->complete) {
		c->after++;
		return true;
	}
	if (engine_json_guard_feed(c->check, piece, len))
		c->all_valid = false;
	c->complete = engine_json_guard_complete(c->check);
	return c->all_valid && (!c->complete || c->run_on);
}

/* A tool set whose calls have bounded length: every string is an enum, the
 * one number is capped at 24 characters, whitespace at 2 in a row. */
static const char FINITE_TOOLS[] =
	"[{\"name\": \"get_time\", \"parameters\": {\"type\": \"object\", \"properties\": {}}},"
	" {\"name\": \"set_light\", \"parameters\": {\"type\": \"object\", \"properties\": "
	"{\"room\": {\"enum\": [\"kitchen\", \"den\"]}, \"state\": {\"enum\": [\"on\", \"off\"]}, "
	"\"level\": {\"type\": \"integer\"}}, \"required\": [\"room\", \"state\"]}}]";

static int generate_once(engine_context *ctx, engine_sampler *s, int32_t bos,
			 struct gen_check *c)
{
	engine_json_guard_reset(c->check);
	c->all_valid = true;
	c->complete = false;
	c->n = c->after = 0;
	assert_int_equal(engine_kv_truncate(ctx, 0), 0);
	return engine_generate(ctx, s, &bos, 1, 400, on_token, c);
}

static void test_generate_stories(void **state)
{
	engine_model *m = load_shared("real/stories260K.gguf", false);
	engine_context_params cp = engine_context_default_params();
	engine_sampler_params sp = engine_sampler_default_params();
	engine_json_guard *g = NULL, *check = NULL;
	engine_context *ctx = NULL;
	engine_sampler *s = NULL;
	engine_model_info info;
	struct gen_check c;
	char err[256];
	int32_t bos;

	(void)state;
	if (!m)
		skip();
	engine_model_get_info(m, &info);
	bos = engine_token_bos(m);
	assert_int_equal(engine_json_guard_new_tools(FINITE_TOOLS, &g, err, sizeof(err)), 0);
	assert_int_equal(engine_json_guard_new_tools(FINITE_TOOLS, &check, err, sizeof(err)), 0);
	cp.n_ctx = 512;
	cp.n_threads = 1;
	assert_int_equal(engine_context_new(m, &cp, &ctx), 0);
	sp.temperature = 0.0f;
	assert_int_equal(engine_sampler_new(&sp, info.n_vocab, &s), 0);
	c.check = check;
	c.run_on = false;

	/* unguarded, the model tells a story: not JSON */
	generate_once(ctx, s, bos, &c);
	assert_false(c.all_valid);
	/* the prompt ends with the trigger ("<s>" here): engine_generate's
	 * history replay opens the span, and every token is valid */
	assert_int_equal(engine_sampler_set_guard(s, m, g, "<s>"), 0);
	generate_once(ctx, s, bos, &c);
	assert_true(c.all_valid);
	assert_true(c.complete);
	/* sampled, several seeds */
	for (uint64_t seed = 1; seed <= 4; seed++) {
		engine_sampler_free(s);
		sp = engine_sampler_default_params();
		sp.temperature = 1.0f;
		sp.seed = seed;
		assert_int_equal(engine_sampler_new(&sp, info.n_vocab, &s), 0);
		assert_int_equal(engine_sampler_set_guard(s, m, g, "<s>"), 0);
		generate_once(ctx, s, bos, &c);
		assert_true(c.all_valid);
		assert_true(c.complete);
	}
	/* JSON mode (no trigger, as for a response_format): the reply is the
	 * value and nothing after it, even when the caller would take more */
	engine_json_guard_free(g);
	engine_json_guard_free(check);
	g = schema_guard("{\"type\": \"object\", \"properties\": {\"names\": {\"type\": \"array\", "
			 "\"items\": {\"type\": \"string\", \"maxLength\": 12}, \"maxItems\": 3}}, "
			 "\"required\": [\"names\"]}");
	check = schema_guard("{\"type\": \"object\", \"properties\": {\"names\": {\"type\": \"array\", "
			     "\"items\": {\"type\": \"string\", \"maxLength\": 12}, \"maxItems\": 3}}, "
			     "\"required\": [\"names\"]}");
	c.check = check;
	c.run_on = true;
	for (uint64_t seed = 1; seed <= 4; seed++) {
		engine_sampler_free(s);
		sp = engine_sampler_default_params();
		sp.temperature = seed == 1 ? 0.0f : 1.0f;
		sp.seed = seed;
		assert_int_equal(engine_sampler_new(&sp, info.n_vocab, &s), 0);
		assert_int_equal(engine_sampler_set_guard(s, m, g, NULL), 0);
		generate_once(ctx, s, bos, &c);
		assert_true(c.all_valid);
		assert_true(c.complete);
		assert_int_equal(c.after, 0);
	}
	engine_sampler_free(s);
	engine_context_free(ctx);
	engine_json_guard_free(g);
	engine_json_guard_free(check);
	engine_model_free(m);
}

/* ---------------------------------------------------------------------------
 * Lookahead (engine_sampler_params.lookahead) with stories260K
 */
#define LA_SCHEMA "{\"enum\": [\"once upon a time\", \"once there was a dog\", \"one day\", " \
		  "\"the little girl\", \"there was a big cat\", \"lily and tom\", \"the sun\"]}"

struct la_out {
	int32_t tok[64];
	int n;
};

static bool la_collect(int32_t tok, const char *piece, size_t len, void *ud)
{
	struct la_out *o = ud;

	(void)piece;
	(void)len;
	if (o->n < 64)
		o->tok[o->n++] = tok;
	return o->n < 64;
}

/* The guarded log-probabilities at logits lg, worked out apart from the
 * sampler: lp[t] over the tokens guard g allows there (non-empty text, not
 * markup), renormalized; -INFINITY for the rest. Returns how many. */
static int ref_lp(const engine_model *m, engine_json_guard *g, const float *lg, int n_vocab,
		  double *lp)
{
	double mx = -INFINITY, sum = 0.0;
	char piece[256];
	int n_ok = 0;

	for (int32_t t = 0; t < n_vocab; t++) {
		int n = engine_token_to_piece(m, t, piece, sizeof(piece), false);

		lp[t] = -INFINITY;
		if (n <= 0 || engine_token_is_eog(m, t) || !engine_json_guard_allows(g, piece, (size_t)n))
			continue;
		lp[t] = lg[t];
		mx = lp[t] > mx ? lp[t] : mx;
		n_ok++;
	}
	for (int32_t t = 0; t < n_vocab; t++)
		if (lp[t] > -INFINITY)
			sum += exp(lp[t] - mx);
	for (int32_t t = 0; t < n_vocab; t++)
		if (lp[t] > -INFINITY)
			lp[t] -= mx + log(sum);
	return n_ok;
}

/* The likeliest token in lp not among taken[0..n_taken) (the lower id of
 * equals), or -1 when none is allowed. */
static int32_t ref_best(const double *lp, int n_vocab, const int32_t *taken, int n_taken)
{
	int32_t b = -1;

	for (int32_t t = 0; t < n_vocab; t++) {
		bool is_taken = false;

		for (int j = 0; j < n_taken; j++)
			is_taken |= taken[j] == t;
		if (!is_taken && lp[t] > -INFINITY && (b < 0 || lp[t] > lp[b]))
			b = t;
	}
	return b;
}

/* A fresh guard fed the value's first n tokens. */
static engine_json_guard *ref_guard(const engine_model *m, const int32_t *v, int n)
{
	engine_json_guard *g = schema_guard(LA_SCHEMA);
	char piece[256];

	for (int i = 0; i < n; i++) {
		int len = engine_token_to_piece(m, v[i], piece, sizeof(piece), false);

		assert_int_equal(engine_json_guard_feed(g, piece, (size_t)len), 0);
	}
	return g;
}

/* ctx evaluated on prompt and the value's first n tokens. */
static void ref_eval(engine_context *ctx, const int32_t *prompt, int np, const int32_t *v, int n)
{
	assert_int_equal(engine_kv_truncate(ctx, 0), 0);
	assert_int_equal(engine_eval(ctx, prompt, np), 0);
	for (int i = 0; i < n; i++)
		assert_int_equal(engine_eval_next(ctx, v[i]), 0);
}

/* The lookahead done the slow way: at each token the k likeliest allowed
 * ones (within margin of the best) are each followed greedily to the end of
 * the value, and the one whose path has the highest mean log-probability
 * per token is kept. */
static void ref_lookahead(const engine_model *m, const int32_t *prompt, int np, int k,
			  double margin, struct la_out *o)
{
	engine_context_params cp = engine_context_default_params();
	engine_context *ctx = NULL;
	engine_model_info info;
	double *lp, *fl;   /* [n_vocab]: at the value's token, along a followed path */
	char piece[256];

	engine_model_get_info(m, &info);
	lp = malloc(sizeof(*lp) * (size_t)info.n_vocab);
	fl = malloc(sizeof(*fl) * (size_t)info.n_vocab);
	assert_non_null(lp);
	assert_non_null(fl);
	cp.n_ctx = 256;
	cp.n_threads = 1;
	assert_int_equal(engine_context_new(m, &cp, &ctx), 0);
	for (o->n = 0; o->n < 64;) {
		engine_json_guard *g = ref_guard(m, o->tok, o->n);
		int32_t cand[8], best;
		double top = -INFINITY;
		int nc = 0;

		ref_eval(ctx, prompt, np, o->tok, o->n);
		assert_true(ref_lp(m, g, engine_logits(ctx), info.n_vocab, lp) > 0);
		for (; nc < k && (cand[nc] = ref_best(lp, info.n_vocab, cand, nc)) >= 0; nc++)
			;   /* the k best */
		best = cand[0];
		for (int c = 0; nc > 1 && lp[cand[0]] - lp[cand[1]] < margin && c < nc; c++) {
			int32_t path[128];
			double cl = lp[cand[c]], sum = cl;
			int len = o->n, cnt = 1;

			if (cl - lp[cand[0]] < -margin)
				break;
			memcpy(path, o->tok, sizeof(int32_t) * (size_t)len);
			path[len++] = cand[c];
			while (len < 128) {
				engine_json_guard *h = ref_guard(m, path, len);
				int32_t b = -1;

				if (!engine_json_guard_complete(h)) {
					ref_eval(ctx, prompt, np, path, len);
					if (ref_lp(m, h, engine_logits(ctx), info.n_vocab, fl) > 0)
						b = ref_best(fl, info.n_vocab, NULL, 0);
				}
				engine_json_guard_free(h);
				if (b < 0)
					break;
				sum += fl[b];
				cnt++;
				path[len++] = b;
			}
			if (sum / cnt > top) {
				top = sum / cnt;
				best = cand[c];
			}
		}
		o->tok[o->n++] = best;
		int n = engine_token_to_piece(m, best, piece, sizeof(piece), false);
		assert_int_equal(engine_json_guard_feed(g, piece, (size_t)n), 0);
		bool done = engine_json_guard_complete(g);
		engine_json_guard_free(g);
		if (done)
			break;
	}
	engine_context_free(ctx);
	free(lp);
	free(fl);
}

static void la_generate(const engine_model *m, engine_context *ctx, int lookahead, int budget,
			const int32_t *prompt, int np, struct la_out *o)
{
	engine_sampler_params sp = engine_sampler_default_params();
	engine_json_guard *g = schema_guard(LA_SCHEMA);
	engine_model_info info;
	engine_sampler *s = NULL;

	engine_model_get_info(m, &info);
	sp.temperature = 0.0f;
	sp.lookahead = lookahead;
	sp.lookahead_margin = 20.0f; /* search at every token */
	sp.lookahead_budget = budget;
	assert_int_equal(engine_sampler_new(&sp, info.n_vocab, &s), 0);
	assert_int_equal(engine_sampler_set_guard(s, m, g, NULL), 0);
	assert_int_equal(engine_kv_truncate(ctx, 0), 0);
	o->n = 0;
	assert_true(engine_generate(ctx, s, prompt, np, 64, la_collect, o) > 0);
	engine_sampler_free(s);
	engine_json_guard_free(g);
}

static void test_lookahead_stories(void **state)
{
	static const char *starts[] = { "Once", "Lily went to the park", "The dog", "One day, Tom",
					"She said", "The sun was", "They played with a" };
	engine_model *m = load_shared("real/stories260K.gguf", false);
	engine_context_params cp = engine_context_default_params();
	engine_context *ctx = NULL, *fresh = NULL;
	engine_model_info info;
	int differs = 0;

	(void)state;
	if (!m)
		skip();
	engine_model_get_info(m, &info);
	cp.n_ctx = 256;
	cp.n_threads = 1;
	assert_int_equal(engine_context_new(m, &cp, &ctx), 0);
	assert_int_equal(engine_context_new(m, &cp, &fresh), 0);
	for (size_t k = 0; k < sizeof(starts) / sizeof(*starts); k++) {
		struct la_out greedy, la, none, ref;
		int32_t prompt[64];
		int np = engine_tokenize(m, starts[k], strlen(starts[k]), true, false, prompt, 64);

		assert_true(np > 0);
		la_generate(m, ctx, 0, 128, prompt, np, &greedy);
		/* no budget: plain greedy */
		la_generate(m, ctx, 4, 0, prompt, np, &none);
		assert_int_equal(none.n, greedy.n);
		assert_memory_equal(none.tok, greedy.tok, sizeof(int32_t) * (size_t)greedy.n);
		la_generate(m, ctx, 4, 4096, prompt, np, &la);
		/* the continuations were forgotten: the context holds the prompt
		 * and the value, and its logits after them are a fresh run's */
		assert_int_equal(engine_n_past(ctx), np + la.n);
		assert_memory_equal(engine_history(ctx), prompt, sizeof(int32_t) * (size_t)np);
		assert_memory_equal(engine_history(ctx) + np, la.tok, sizeof(int32_t) * (size_t)la.n);
		assert_int_equal(engine_kv_truncate(fresh, 0), 0);
		assert_int_equal(engine_eval(fresh, prompt, np), 0);
		for (int i = 0; i < la.n; i++)
			assert_int_equal(engine_eval_next(fresh, la.tok[i]), 0);
		assert_memory_equal(engine_logits(fresh), engine_logits(ctx), sizeof(float) * (size_t)info.n_vocab);
		/* it picks what the search done the slow way picks */
		ref_lookahead(m, prompt, np, 4, 20.0, &ref);
		assert_int_equal(la.n, ref.n);
		assert_memory_equal(la.tok, ref.tok, sizeof(int32_t) * (size_t)ref.n);
		differs += la.n != greedy.n || memcmp(la.tok, greedy.tok, sizeof(int32_t) * (size_t)la.n);
	}
	/* and somewhere that is not greedy's value */
	assert_true(differs > 0);
	engine_context_free(ctx);
	engine_context_free(fresh);
	engine_model_free(m);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_calls),
		cmocka_unit_test(test_wrong_tool_name),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_any_json),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_whitespace),
		cmocka_unit_test(test_verbatim),
		cmocka_unit_test(test_allows_changes_nothing),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_alloc_failures),
		cmocka_unit_test(test_sampler_qwen_vocab),
		cmocka_unit_test(test_generate_stories),
		cmocka_unit_test(test_lookahead_stories),
	};

	/* --skip=PATTERN: the memcheck run leaves out the lookahead search over
	 * stories260K, which takes it over half an hour (tests/meson.build) */
	if (argc > 1 && strncmp(argv[1], "--skip=", 7) == 0)
		cmocka_set_skip_filter(argv[1] + 7);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
