/*
 * test_format.c — the services' JSON/SSE framing on fixed inputs: SSE
 * frames, OpenAI error objects, request parsing limits (UTF-8, depth,
 * trailing data), realtime → chat tool conversion, tool-call objects.
 * White-box: includes services_int.h (the framing is private to services/,
 * and testing it here is cheaper than through a socket).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "services_int.h"

static void test_sse_frame(void **state)
{
	cJSON *v = cJSON_Parse("{\"a\":\"x\\ny\"}");
	size_t n = 0;
	char *f = svc_sse_frame(v, &n);

	(void)state;
	/* one line: the JSON newline stays escaped, so the frame cannot split;
	 * a blank line ends the event (SSE spec / OpenAI stream format) */
	assert_string_equal(f, "data: {\"a\":\"x\\ny\"}\n\n");
	assert_int_equal(n, strlen(f));
	free(f);
	cJSON_Delete(v);
}

static void test_oai_error_shape(void **state)
{
	cJSON *e = svc_oai_error("bad", "invalid_request_error", "messages", NULL);
	char *s = cJSON_PrintUnformatted(e);

	(void)state;
	/* OpenAI's error body: all four keys, null where unknown */
	assert_string_equal(s, "{\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\","
			       "\"param\":\"messages\",\"code\":null}}");
	free(s);
	cJSON_Delete(e);
}

static void test_json_parse_limits(void **state)
{
	char err[256], deep[256];
	cJSON *v;
	int i;

	(void)state;
	v = svc_json_parse("{\"a\":1}  \n", 10, err, sizeof(err));
	assert_non_null(v);
	cJSON_Delete(v);
	assert_null(svc_json_parse("{\"a\":1} x", 9, err, sizeof(err)));
	assert_non_null(strstr(err, "after the JSON"));
	assert_null(svc_json_parse("[1]", 3, err, sizeof(err)));
	assert_null(svc_json_parse("{\"a\":\"\xC3\"}", 8, err, sizeof(err)));
	assert_non_null(strstr(err, "UTF-8"));
	assert_null(svc_json_parse("{\"a\":\0}", 7, err, sizeof(err)));
	assert_null(svc_json_parse("", 0, err, sizeof(err)));
	/* 33 levels: one over SVC_MAX_JSON_DEPTH */
	for (i = 0; i < 33; i++)
		deep[i] = '[';
	for (i = 0; i < 33; i++)
		deep[33 + i] = ']';
	assert_int_equal(svc_json_depth(deep, 66, 100), 33);
	assert_null(svc_json_parse(deep, 66, err, sizeof(err)));
	assert_non_null(strstr(err, "deeper"));
	/* brackets inside strings do not count */
	assert_int_equal(svc_json_depth("{\"a\":\"[[[[\\\"[[\"}", 16, 100), 1);
}

static void test_tools_from_realtime(void **state)
{
	cJSON *t = cJSON_Parse("[{\"type\":\"function\",\"name\":\"set_light\",\"description\":\"d\","
			       "\"parameters\":{\"type\":\"object\"}}]");
	cJSON *bad = cJSON_Parse("[{\"type\":\"function\",\"name\":5}]");
	cJSON *empty = cJSON_Parse("[]");
	const char *param;
	char *s;

	(void)state;
	s = svc_tools_from_realtime(t, &param);
	assert_null(param);
	/* the chat-completions shape the chat template expects */
	assert_string_equal(s, "[{\"type\":\"function\",\"function\":{\"name\":\"set_light\","
			       "\"description\":\"d\",\"parameters\":{\"type\":\"object\"}}}]");
	free(s);
	assert_null(svc_tools_from_realtime(bad, &param));
	assert_string_equal(param, "tools.name");
	assert_null(svc_tools_from_realtime(empty, &param)); /* [] clears */
	assert_null(param);
	cJSON_Delete(t);
	cJSON_Delete(bad);
	cJSON_Delete(empty);
}

static void test_tool_call_json(void **state)
{
	cJSON *c = svc_tool_call_json(0, "call_1", "set_light", "{\"entity\":\"x\"}");
	char *s = cJSON_PrintUnformatted(c);

	(void)state;
	/* streaming delta shape: index + id + function{name, arguments string} */
	assert_string_equal(s, "{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":"
			       "{\"name\":\"set_light\",\"arguments\":\"{\\\"entity\\\":\\\"x\\\"}\"}}");
	free(s);
	cJSON_Delete(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sse_frame),
		cmocka_unit_test(test_oai_error_shape),
		cmocka_unit_test(test_json_parse_limits),
		cmocka_unit_test(test_tools_from_realtime),
		cmocka_unit_test(test_tool_call_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
