/*
 * test_chat.c — chat prompt rendering (engine/chat.c).
 *
 * ChatML expectations are Qwen2.5's own chat template (the
 * tokenizer.chat_template of the shared ggml-vocab-qwen2.gguf) rendered
 * with jinja2 the way HF transformers does, by scripts/gen_chat_expected.py
 * (its default system sentence replaced by ours, "You are a helpful
 * assistant."). Llama 3 expectations follow Meta's Llama 3 Instruct
 * template for plain messages (bos, "<|start_header_id|>role
 * <|end_header_id|>\n\n", content, "<|eot_id|>") and our documented tool
 * convention (chat.c, render_llama3_system) for tools.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine_int.h"

static char *render(engine_chat_format fmt, const char *bos,
		    const engine_chat_msg *m, int n, const char *tools,
		    bool add_assistant)
{
	char err[ENGINE_ERRLEN] = "", *out = NULL;
	int rc = engine_chat_render_fmt(fmt, bos, NULL, m, n, tools, add_assistant,
					&out, err, sizeof(err));

	if (rc)
		fail_msg("render failed (%d): %s", rc, err);
	assert_non_null(out);
	return out;
}

static void expect(engine_chat_format fmt, const char *bos,
		   const engine_chat_msg *m, int n, const char *tools,
		   bool add_assistant, const char *want)
{
	char *got = render(fmt, bos, m, n, tools, add_assistant);

	if (strcmp(got, want)) {
		fprintf(stderr, "--- want ---\n%s\n--- got ---\n%s\n---\n", want, got);
		fail_msg("rendered prompt differs");
	}
	free(got);
}

static const engine_chat_msg plain_msgs[] = {
	{ "system", "You are terse.", NULL, NULL },
	{ "user", "Hi", NULL, NULL },
	{ "assistant", "Hello!", NULL, NULL },
	{ "user", "Weather?", NULL, NULL },
};

/* Tools: the first in OpenAI form, the second bare (normalised to the
 * OpenAI form, which is what the reference rendering was given). */
static const char tools_json[] =
	"[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
	"\"description\":\"Get the current weather\",\"parameters\":{\"type\":"
	"\"object\",\"properties\":{\"city\":{\"type\":\"string\"},\"unit\":"
	"{\"type\":\"string\",\"enum\":[\"c\",\"f\"]}},\"required\":[\"city\"]}}},"
	"{\"name\":\"set_timer\",\"description\":\"Start a timer (minutes)\","
	"\"parameters\":{\"type\":\"object\",\"properties\":{\"minutes\":"
	"{\"type\":\"number\"}}}}]";

#define TOOLS_BLOCK                                                            \
	"\n\n# Tools\n\nYou may call one or more functions to assist with the " \
	"user query.\n\nYou are provided with function signatures within "    \
	"<tools></tools> XML tags:\n<tools>\n"                                 \
	"{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "  \
	"\"description\": \"Get the current weather\", \"parameters\": "       \
	"{\"type\": \"object\", \"properties\": {\"city\": {\"type\": "        \
	"\"string\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"c\", "     \
	"\"f\"]}}, \"required\": [\"city\"]}}}\n"                              \
	"{\"type\": \"function\", \"function\": {\"name\": \"set_timer\", "    \
	"\"description\": \"Start a timer (minutes)\", \"parameters\": "       \
	"{\"type\": \"object\", \"properties\": {\"minutes\": {\"type\": "     \
	"\"number\"}}}}}\n</tools>\n\nFor each function call, return a json "  \
	"object with function name and arguments within "                     \
	"<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": "          \
	"<function-name>, \"arguments\": <args-json-object>}\n</tool_call>"

/* ---------------------------------------------------------------------------
 * ChatML
 */
static void test_chatml_plain(void **state)
{
	(void)state;
	/* reference case "plain" */
	expect(ENGINE_CHAT_CHATML, NULL, plain_msgs, 4, NULL, true,
	       "<|im_start|>system\nYou are terse.<|im_end|>\n"
	       "<|im_start|>user\nHi<|im_end|>\n"
	       "<|im_start|>assistant\nHello!<|im_end|>\n"
	       "<|im_start|>user\nWeather?<|im_end|>\n"
	       "<|im_start|>assistant\n");
	/* without the generation prompt; an empty tools array is no tools
	 * (the template's "if tools" is false for []) */
	expect(ENGINE_CHAT_CHATML, "<bos>", plain_msgs + 1, 1, "[]", false,
	       "<|im_start|>user\nHi<|im_end|>\n");
	/* no messages: an empty string, not NULL */
	expect(ENGINE_CHAT_CHATML, NULL, NULL, 0, NULL, false, "");
}

/* The same tools with x-hearth-… keys, the JSON guard's directives, at two
 * depths: the model is shown them exactly as without. */
static const char tools_marked[] =
	"[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
	"\"description\":\"Get the current weather\",\"parameters\":{\"type\":"
	"\"object\",\"properties\":{\"city\":{\"type\":\"string\","
	"\"x-hearth-verbatim\":true},\"unit\":"
	"{\"type\":\"string\",\"enum\":[\"c\",\"f\"]}},\"required\":[\"city\"]}}},"
	"{\"name\":\"set_timer\",\"description\":\"Start a timer (minutes)\","
	"\"x-hearth-note\":{\"a\":1},\"parameters\":{\"type\":\"object\",\"properties\":{\"minutes\":"
	"{\"type\":\"number\"}}}}]";

static void test_chatml_tools_no_system(void **state)
{
	const engine_chat_msg m[] = { { "user", "Weather in Paris?", NULL, NULL } };
	const char *const tools[] = { tools_json, tools_marked };

	(void)state;
	/* reference case "tools_no_system": the default system prompt */
	for (int i = 0; i < 2; i++)
		expect(ENGINE_CHAT_CHATML, NULL, m, 1, tools[i], true,
		       "<|im_start|>system\nYou are a helpful assistant." TOOLS_BLOCK
		       "<|im_end|>\n"
		       "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
		       "<|im_start|>assistant\n");
}

static void test_chatml_tool_round_trip(void **state)
{
	/* calls in both accepted shapes; the OpenAI one with its arguments
	 * as a JSON string, as the OpenAI API sends them */
	const engine_chat_msg m[] = {
		{ "system", "You are Hearth.", NULL, NULL },
		{ "user", "Weather in Paris and a 5 minute timer", NULL, NULL },
		{ "assistant", "",
		  "[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\",\"unit\":\"c\"}},"
		  "{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":"
		  "\"set_timer\",\"arguments\":\"{\\\"minutes\\\": 5}\"}}]",
		  NULL },
		{ "tool", "{\"temp\": 21}", NULL, "call_0" },
		{ "tool", "timer set", NULL, "call_1" },
		{ "assistant", "It is 21 \xC2\xB0" "C; timer running.", NULL, NULL },
		{ "user", "Thanks", NULL, NULL },
		{ "assistant", "Checking.",
		  "[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Z\\u00fcrich \\\"old\\\"\"}}]",
		  NULL },
		{ "tool", "rain", NULL, NULL },
	};

	(void)state;
	/* reference case "tools_round_trip" */
	expect(ENGINE_CHAT_CHATML, NULL, m, 9, tools_json, true,
	       "<|im_start|>system\nYou are Hearth." TOOLS_BLOCK "<|im_end|>\n"
	       "<|im_start|>user\nWeather in Paris and a 5 minute timer<|im_end|>\n"
	       "<|im_start|>assistant\n"
	       "<tool_call>\n"
	       "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}\n"
	       "</tool_call>\n"
	       "<tool_call>\n"
	       "{\"name\": \"set_timer\", \"arguments\": {\"minutes\": 5}}\n"
	       "</tool_call><|im_end|>\n"
	       "<|im_start|>user\n"
	       "<tool_response>\n{\"temp\": 21}\n</tool_response>\n"
	       "<tool_response>\ntimer set\n</tool_response><|im_end|>\n"
	       "<|im_start|>assistant\nIt is 21 \xC2\xB0" "C; timer running.<|im_end|>\n"
	       "<|im_start|>user\nThanks<|im_end|>\n"
	       "<|im_start|>assistant\nChecking.\n"
	       "<tool_call>\n"
	       "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Z\xC3\xBCrich \\\"old\\\"\"}}\n"
	       "</tool_call><|im_end|>\n"
	       "<|im_start|>user\n<tool_response>\nrain\n</tool_response><|im_end|>\n"
	       "<|im_start|>assistant\n");
}

/* Argument JSON re-emitted as Python's json.dumps(x, ensure_ascii=False)
 * prints it (hand-checked with python3: json.dumps({"x": 2.5, "y": -3,
 * "e": 1e-05, "big": 1e+20, "z": [True, False, None], "s": "a\x01b\\\t",
 * "o": {}})). */
static void test_chatml_json_style(void **state)
{
	const engine_chat_msg m[] = {
		{ "assistant", NULL,
		  "[{\"name\":\"f\",\"arguments\":{\"x\":2.5,\"y\":-3,\"e\":1e-5,"
		  "\"big\":1e20,\"z\":[true,false,null],\"s\":\"a\\u0001b\\\\\\t\","
		  "\"o\":{}}},{\"name\":\"g\"}]",
		  NULL },
	};

	(void)state;
	expect(ENGINE_CHAT_CHATML, NULL, m, 1, NULL, false,
	       "<|im_start|>assistant\n<tool_call>\n"
	       "{\"name\": \"f\", \"arguments\": {\"x\": 2.5, \"y\": -3, \"e\": 1e-05, "
	       "\"big\": 1e+20, \"z\": [true, false, null], \"s\": \"a\\u0001b\\\\\\t\", "
	       "\"o\": {}}}\n</tool_call>\n<tool_call>\n"
	       "{\"name\": \"g\", \"arguments\": {}}\n</tool_call><|im_end|>\n");
}

/* ---------------------------------------------------------------------------
 * Llama 3
 */
static void test_llama3_plain(void **state)
{
	(void)state;
	expect(ENGINE_CHAT_LLAMA3, "<|begin_of_text|>", plain_msgs, 4, NULL, true,
	       "<|begin_of_text|>"
	       "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
	       "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
	       "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
	       "<|start_header_id|>user<|end_header_id|>\n\nWeather?<|eot_id|>"
	       "<|start_header_id|>assistant<|end_header_id|>\n\n");
	/* bos_text NULL: nothing prepended */
	expect(ENGINE_CHAT_LLAMA3, NULL, plain_msgs + 1, 1, NULL, false,
	       "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
}

#define LLAMA3_TOOLS                                                           \
	"You have access to the following functions. To call a function, "    \
	"respond with a JSON object of the form {\"name\": function name, "    \
	"\"parameters\": dictionary of argument names and their values}. Do "  \
	"not use variables.\n\n"                                               \
	"{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "  \
	"\"description\": \"Get the current weather\", \"parameters\": "       \
	"{\"type\": \"object\", \"properties\": {\"city\": {\"type\": "        \
	"\"string\"}, \"unit\": {\"type\": \"string\", \"enum\": [\"c\", "     \
	"\"f\"]}}, \"required\": [\"city\"]}}}\n"                              \
	"{\"type\": \"function\", \"function\": {\"name\": \"set_timer\", "    \
	"\"description\": \"Start a timer (minutes)\", \"parameters\": "       \
	"{\"type\": \"object\", \"properties\": {\"minutes\": {\"type\": "     \
	"\"number\"}}}}}"

static void test_llama3_tools(void **state)
{
	const engine_chat_msg m[] = {
		{ "system", "You are Hearth.", NULL, NULL },
		{ "user", "Weather in Paris?", NULL, NULL },
		{ "assistant", NULL,
		  "[{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}},"
		  "{\"name\":\"set_timer\",\"arguments\":{\"minutes\":5}}]", NULL },
		{ "tool", "{\"temp\": 21}", NULL, NULL },
		{ "tool", "timer set", NULL, NULL },
	};

	(void)state;
	/* system content, blank line, instruction, one tool per line; calls
	 * one per line as {"name", "parameters"}; results as ipython turns */
	expect(ENGINE_CHAT_LLAMA3, "<|begin_of_text|>", m, 5, tools_json, true,
	       "<|begin_of_text|>"
	       "<|start_header_id|>system<|end_header_id|>\n\nYou are Hearth.\n\n"
	       LLAMA3_TOOLS "<|eot_id|>"
	       "<|start_header_id|>user<|end_header_id|>\n\nWeather in Paris?<|eot_id|>"
	       "<|start_header_id|>assistant<|end_header_id|>\n\n"
	       "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}\n"
	       "{\"name\": \"set_timer\", \"parameters\": {\"minutes\": 5}}<|eot_id|>"
	       "<|start_header_id|>ipython<|end_header_id|>\n\n{\"temp\": 21}<|eot_id|>"
	       "<|start_header_id|>ipython<|end_header_id|>\n\ntimer set<|eot_id|>"
	       "<|start_header_id|>assistant<|end_header_id|>\n\n");
	/* no system message: a system turn with only the tools */
	expect(ENGINE_CHAT_LLAMA3, NULL, m + 1, 1, tools_json, false,
	       "<|start_header_id|>system<|end_header_id|>\n\n" LLAMA3_TOOLS
	       "<|eot_id|>"
	       "<|start_header_id|>user<|end_header_id|>\n\nWeather in Paris?<|eot_id|>");
}

/* ---------------------------------------------------------------------------
 * RAW
 */
static void test_raw(void **state)
{
	const engine_chat_msg m[] = {
		{ "system", "Once upon", NULL, NULL },
		{ "user", " a time", NULL, NULL },
		{ "assistant", NULL, NULL, NULL },
	};

	(void)state;
	expect(ENGINE_CHAT_RAW, "<s>", m, 3, NULL, true, "Once upon a time");
	/* tools are not rendered, but still validated */
	expect(ENGINE_CHAT_RAW, NULL, m, 2, tools_json, false, "Once upon a time");
}

/* ---------------------------------------------------------------------------
 * Detection
 */
static void test_detect(void **state)
{
	const char *llama3_tmpl =
		"{% set loop_messages = messages %}{% for message in loop_messages %}"
		"{% set content = '<|start_header_id|>' + message['role'] + "
		"'<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}"
		"{{ content }}{% endfor %}";
	const char *chatml_tmpl =
		"{% for message in messages %}{{'<|im_start|>' + message['role'] + "
		"'\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}";
	char path[4096], err[ENGINE_ERRLEN];
	const char *dir = getenv("HEARTH_MODELS"), *src = getenv("HEARTH_SRC");
	gguf *g;
	engine_vocab *v;

	(void)state;
	assert_int_equal(engine_chat_detect(chatml_tmpl, "llama"), ENGINE_CHAT_CHATML);
	assert_int_equal(engine_chat_detect(llama3_tmpl, "llama"), ENGINE_CHAT_LLAMA3);
	assert_int_equal(engine_chat_detect(llama3_tmpl, "qwen2"), ENGINE_CHAT_LLAMA3);
	assert_int_equal(engine_chat_detect(NULL, "qwen2"), ENGINE_CHAT_CHATML);
	assert_int_equal(engine_chat_detect(NULL, "qwen3"), ENGINE_CHAT_CHATML);
	assert_int_equal(engine_chat_detect("{{ messages }}", "llama"), ENGINE_CHAT_CHATML);
	assert_int_equal(engine_chat_detect(NULL, NULL), ENGINE_CHAT_CHATML);
	/* the real Qwen2.5 template from the shared vocab file */
	if (dir && *dir)
		snprintf(path, sizeof(path), "%s/vocab/ggml-vocab-qwen2.gguf", dir);
	else
		snprintf(path, sizeof(path), "%s/../shared/models/vocab/ggml-vocab-qwen2.gguf",
			 src ? src : ".");
	if (gguf_open(path, &g, err, sizeof(err))) {
		fprintf(stderr, "test_chat: %s: %s: real-template check skipped\n",
			path, err);
		return;
	}
	assert_int_equal(engine_vocab_load(g, &v, err, sizeof(err)), 0);
	assert_int_equal(engine_chat_detect(engine_vocab_chat_template(v), "qwen2"),
			 ENGINE_CHAT_CHATML);
	engine_vocab_free(v);
	gguf_close(g);
}

/* ---------------------------------------------------------------------------
 * Errors
 */
static void expect_error(engine_chat_format fmt, const engine_chat_msg *m,
			 int n, const char *tools, const char *needle)
{
	char err[ENGINE_ERRLEN] = "", *out = (char *)"untouched";
	int rc = engine_chat_render_fmt(fmt, NULL, NULL, m, n, tools, true, &out, err,
					sizeof(err));

	assert_int_equal(rc, HEARTH_EINVAL);
	assert_null(out);
	if (!strstr(err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", err, needle);
}

static void test_errors(void **state)
{
	const engine_chat_msg bad_role[] = {
		{ "user", "hi", NULL, NULL }, { "bot", "hello", NULL, NULL },
	};
	const engine_chat_msg null_role[] = { { NULL, "hi", NULL, NULL } };
	const engine_chat_msg bad_calls[] = {
		{ "user", "hi", NULL, NULL },
		{ "assistant", NULL, "[{\"name\": \"f\", ", NULL },
	};
	const engine_chat_msg nameless_call[] = {
		{ "assistant", NULL, "[{\"arguments\": {}}]", NULL },
	};
	const engine_chat_msg calls_not_array[] = {
		{ "assistant", NULL, "{\"name\": \"f\"}", NULL },
	};

	(void)state;
	expect_error(ENGINE_CHAT_CHATML, bad_role, 2, NULL, "msgs[1]: unknown role 'bot'");
	expect_error(ENGINE_CHAT_LLAMA3, null_role, 1, NULL, "msgs[0]");
	expect_error(ENGINE_CHAT_CHATML, bad_role, 1, "[{\"type\":", "tools_json: malformed JSON");
	expect_error(ENGINE_CHAT_CHATML, bad_role, 1, "[{\"description\":\"x\"}]",
		     "tools_json[0]");
	expect_error(ENGINE_CHAT_CHATML, bad_role, 1, "42", "tools_json");
	expect_error(ENGINE_CHAT_RAW, bad_role, 1, "nope", "tools_json");
	expect_error(ENGINE_CHAT_CHATML, bad_calls, 2, NULL,
		     "msgs[1].tool_calls: malformed JSON");
	expect_error(ENGINE_CHAT_LLAMA3, bad_calls, 2, NULL,
		     "msgs[1].tool_calls: malformed JSON");
	expect_error(ENGINE_CHAT_CHATML, nameless_call, 1, NULL,
		     "msgs[0].tool_calls[0]: no function name");
	expect_error(ENGINE_CHAT_CHATML, calls_not_array, 1, NULL,
		     "msgs[0].tool_calls");
	expect_error(ENGINE_CHAT_AUTO, bad_role, 1, NULL, "format");
	expect_error(ENGINE_CHAT_CHATML, NULL, 2, NULL, "messages");
}

/* ---------------------------------------------------------------------------
 * A model's default system prompt (hearth.chat.default_system_prompt)
 */
static char *render_sys(engine_chat_format fmt, const char *bos, const char *sys,
			const engine_chat_msg *m, int n, const char *tools)
{
	char err[ENGINE_ERRLEN] = "", *out = NULL;

	if (engine_chat_render_fmt(fmt, bos, sys, m, n, tools, fmt != ENGINE_CHAT_RAW,
				   &out, err, sizeof(err)))
		fail_msg("render failed: %s", err);
	return out;
}

static void expect_start(char *out, const char *prefix)
{
	if (strncmp(out, prefix, strlen(prefix)))
		fail_msg("\"%s\" does not start with \"%s\"", out, prefix);
	free(out);
}

static void test_default_system(void **state)
{
	const engine_chat_msg user[] = { { "user", "hi", NULL, NULL } };
	const engine_chat_msg own[] = {
		{ "system", "Be terse.", NULL, NULL }, { "user", "hi", NULL, NULL },
	};
	const char *tools = "[{\"type\":\"function\",\"function\":{\"name\":\"f\","
			    "\"parameters\":{\"type\":\"object\"}}}]";
	const char *sys = "You are Hearth.";
	char *out;

	(void)state;
	/* none given: the default opens the conversation, alone or with tools */
	out = render_sys(ENGINE_CHAT_CHATML, NULL, sys, user, 1, NULL);
	assert_string_equal(out, "<|im_start|>system\nYou are Hearth.<|im_end|>\n"
			    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
	free(out);
	expect_start(render_sys(ENGINE_CHAT_CHATML, NULL, sys, user, 1, tools),
		     "<|im_start|>system\nYou are Hearth.\n\n# Tools\n");
	out = render_sys(ENGINE_CHAT_LLAMA3, "<B>", sys, user, 1, NULL);
	assert_string_equal(out, "<B><|start_header_id|>system<|end_header_id|>\n\n"
			    "You are Hearth.<|eot_id|>"
			    "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
			    "<|start_header_id|>assistant<|end_header_id|>\n\n");
	free(out);
	expect_start(render_sys(ENGINE_CHAT_LLAMA3, "<B>", sys, user, 1, tools),
		     "<B><|start_header_id|>system<|end_header_id|>\n\nYou are Hearth.\n\n");
	/* the conversation's own system message wins, once */
	out = render_sys(ENGINE_CHAT_CHATML, NULL, sys, own, 2, NULL);
	assert_string_equal(out, "<|im_start|>system\nBe terse.<|im_end|>\n"
			    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
	free(out);
	out = render_sys(ENGINE_CHAT_CHATML, NULL, sys, own, 2, tools);
	assert_null(strstr(out, "Hearth"));
	expect_start(out, "<|im_start|>system\nBe terse.\n\n# Tools\n");
	/* raw prompts stay raw */
	out = render_sys(ENGINE_CHAT_RAW, NULL, sys, user, 1, NULL);
	assert_string_equal(out, "hi");
	free(out);
}

/* The shipped default model carries its training system prompt, and
 * engine_chat_render() uses it when a conversation has none. */
static void test_default_system_model(void **state)
{
	const engine_chat_msg user[] = { { "user", "hi", NULL, NULL } };
	const char *src = getenv("HEARTH_SRC");
	engine_model_params p = engine_model_default_params();
	char path[4096], err[ENGINE_ERRLEN];
	engine_model *m = NULL;
	char *out = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/assets/hearth-tiny.q8_0.gguf", src ? src : ".");
	p.path = path;
	p.vocab_only = true;
	if (engine_model_load(&p, &m, err, sizeof(err))) {
		fprintf(stderr, "test_chat: %s: %s: default-model check skipped\n", path, err);
		return;
	}
	assert_int_equal(engine_chat_render(m, ENGINE_CHAT_AUTO, user, 1, NULL, true, &out), 0);
	expect_start(out, "<|im_start|>system\nYou are Hearth, a voice assistant for the home. "
		     "Use the tools to act. Answer briefly. Politely refuse requests the tools "
		     "cannot do.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n");
	engine_model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chatml_plain),
		cmocka_unit_test(test_chatml_tools_no_system),
		cmocka_unit_test(test_chatml_tool_round_trip),
		cmocka_unit_test(test_chatml_json_style),
		cmocka_unit_test(test_llama3_plain),
		cmocka_unit_test(test_llama3_tools),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_default_system),
		cmocka_unit_test(test_default_system_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
