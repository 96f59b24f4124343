/*
 * format.c — JSON in and out for both protocols: request parsing with
 * UTF-8 and nesting checks, OpenAI error objects, SSE frames, tool calls
 * and timings. Pure functions (no sockets, no server state), so they are
 * unit-tested on fixed inputs (tests/services/test_format.c).
 */
#include "services_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int svc_json_depth(const char *s, size_t n, int limit)
{
	bool in_str = false, esc = false;
	int depth = 0, max = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (in_str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
			continue;
		}
		if (ch == '"') {
			in_str = true;
		} else if (ch == '{' || ch == '[') {
			if (++depth > max)
				max = depth;
			if (max > limit)
				return max;
		} else if (ch == '}' || ch == ']') {
			depth--;
		}
	}
	return max;
}

cJSON *svc_json_parse(const char *s, size_t n, char *err, size_t errlen)
{
	const char *end = NULL;
	cJSON *v;

	if (!n) {
		snprintf(err, errlen, "the body is empty: expected a JSON object");
		return NULL;
	}
	if (!tools_utf8_valid(s, n)) {
		snprintf(err, errlen, "the body is not valid UTF-8");
		return NULL;
	}
	if (memchr(s, '\0', n)) {
		snprintf(err, errlen, "the body contains a NUL byte");
		return NULL;
	}
	if (svc_json_depth(s, n, SVC_MAX_JSON_DEPTH) > SVC_MAX_JSON_DEPTH) {
		snprintf(err, errlen, "JSON nested deeper than %d levels", SVC_MAX_JSON_DEPTH);
		return NULL;
	}
	v = cJSON_ParseWithLengthOpts(s, n, &end, false);
	if (!v) {
		snprintf(err, errlen, "malformed JSON near byte %zu",
			 end ? (size_t)(end - s) : (size_t)0);
		return NULL;
	}
	while (end && end < s + n && (*end == ' ' || *end == '\n' || *end == '\r' ||
				      *end == '\t'))
		end++;
	if (end && end < s + n) {
		snprintf(err, errlen, "unexpected data after the JSON value at byte %zu",
			 (size_t)(end - s));
		cJSON_Delete(v);
		return NULL;
	}
	if (!cJSON_IsObject(v)) {
		snprintf(err, errlen, "expected a JSON object");
		cJSON_Delete(v);
		return NULL;
	}
	return v;
}

static void add_str_or_null(cJSON *o, const char *k, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, k, v);
	else
		cJSON_AddNullToObject(o, k);
}

cJSON *svc_oai_error(const char *msg, const char *type, const char *param,
		     const char *code)
{
	cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");

	if (!e)
		return root;
	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddStringToObject(e, "type", type);
	add_str_or_null(e, "param", param);
	add_str_or_null(e, "code", code);
	return root;
}

char *svc_sse_frame(const cJSON *v, size_t *len)
{
	char *txt = cJSON_PrintUnformatted(v), *out;
	size_t n;

	if (!txt)
		return NULL;
	n = strlen(txt);
	out = malloc(n + 9);
	if (out) {
		memcpy(out, "data: ", 6);
		memcpy(out + 6, txt, n);
		memcpy(out + 6 + n, "\n\n", 3);
		*len = n + 8;
	}
	free(txt);
	return out;
}

cJSON *svc_timings_json(const pipeline_timings *t)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "queue_ms", t->queue_ms);
	cJSON_AddNumberToObject(o, "ttft_ms", t->ttft_ms);
	cJSON_AddNumberToObject(o, "prefill_ms", t->prefill_ms);
	cJSON_AddNumberToObject(o, "prefill_tokens_per_s", t->prefill_tps);
	cJSON_AddNumberToObject(o, "decode_ms", t->decode_ms);
	cJSON_AddNumberToObject(o, "decode_tokens_per_s", t->decode_tps);
	return o;
}

cJSON *svc_tool_call_json(int index, const char *id, const char *name,
			  const char *args)
{
	cJSON *o = cJSON_CreateObject(), *f;

	if (index >= 0)
		cJSON_AddNumberToObject(o, "index", index);
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "type", "function");
	f = cJSON_AddObjectToObject(o, "function");
	cJSON_AddStringToObject(f, "name", name);
	cJSON_AddStringToObject(f, "arguments", args);
	return o;
}

/* One realtime tool {"type":"function","name","description","parameters"}
 * into the chat-completions shape. */
static cJSON *tool_from_realtime(const cJSON *t, const char **bad)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(t, "type");
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
	const cJSON *desc = cJSON_GetObjectItemCaseSensitive(t, "description");
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(t, "parameters");
	cJSON *o, *f;

	if (!cJSON_IsObject(t) || (type && (!cJSON_IsString(type) ||
					    strcmp(type->valuestring, "function")))) {
		*bad = "tools.type";
		return NULL;
	}
	if (!cJSON_IsString(name) || !name->valuestring[0]) {
		*bad = "tools.name";
		return NULL;
	}
	if ((desc && !cJSON_IsString(desc)) || (params && !cJSON_IsObject(params))) {
		*bad = desc && !cJSON_IsString(desc) ? "tools.description" : "tools.parameters";
		return NULL;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "type", "function");
	f = cJSON_AddObjectToObject(o, "function");
	cJSON_AddStringToObject(f, "name", name->valuestring);
	if (desc)
		cJSON_AddStringToObject(f, "description", desc->valuestring);
	if (params)
		cJSON_AddItemToObject(f, "parameters", cJSON_Duplicate(params, true));
	return o;
}

char *svc_tools_from_realtime(const cJSON *tools, const char **bad)
{
	cJSON *arr, *o;
	const cJSON *t;
	char *txt;

	*bad = NULL;
	if (!cJSON_IsArray(tools)) {
		*bad = "tools";
		return NULL;
	}
	if (!cJSON_GetArraySize(tools))
		return NULL;
	arr = cJSON_CreateArray();
	cJSON_ArrayForEach(t, tools) {
		o = tool_from_realtime(t, bad);
		if (!o) {
			cJSON_Delete(arr);
			return NULL;
		}
		cJSON_AddItemToArray(arr, o);
	}
	txt = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	return txt;
}
