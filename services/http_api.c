/*
 * http_api.c — the HTTP routes: GET /health, GET /metrics, GET /v1/models,
 * POST /v1/chat/completions (JSON or SSE streaming, tools) in OpenAI's
 * shapes, errors as {"error":{message,type,param,code}}.
 *
 * A chat request is validated and turned into a pipeline job here; the
 * job's events come back through http_on_event and become either one JSON
 * body at the end or one SSE frame each. Services thread only.
 */
#include "services_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MSGS 256

struct http_job {
	bool stream, include_usage;
	char id[48];
	long created;
	char *text;            /* non-streaming: the reply so far */
	size_t text_len;
	cJSON *tool_calls;     /* non-streaming: array */
	double t_last;         /* last delta, for the token-latency histogram */
};

/* ---------------------------------------------------------------------------
 * Responses
 */
static void respond_raw(services *s, struct conn *c, int status,
			const char *ctype, const char *body, size_t len)
{
	c->status = status;
	c->ctype = ctype;
	c->complete = true;
	svc_metrics_request(s, c->route, status);
	svc_queue(s, c, body, len);
}

void http_respond_json(services *s, struct conn *c, int status, cJSON *body)
{
	char *txt = cJSON_PrintUnformatted(body);
	size_t n = txt ? strlen(txt) : 0;

	if (txt) {
		txt[n] = '\n'; /* replaces the NUL: a body ends with a newline */
		respond_raw(s, c, status, "application/json", txt, n + 1);
	} else {
		respond_raw(s, c, 503, "application/json", "{}\n", 3);
	}
	free(txt);
	cJSON_Delete(body);
}

void http_respond_error(services *s, struct conn *c, int status,
			const char *type, const char *code, const char *param,
			const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	svc_metrics_error(s, type);
	http_respond_json(s, c, status, svc_oai_error(msg, type, param, code));
}

static double uptime_s(const services *s)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - s->started.tv_sec) +
	       (double)(now.tv_nsec - s->started.tv_nsec) / 1e9;
}

static void route_health(services *s, struct conn *c)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "status", "ok");
	cJSON_AddStringToObject(o, "version", HEARTH_VERSION);
	cJSON_AddNumberToObject(o, "uptime_s", uptime_s(s));
	cJSON_AddStringToObject(o, "model", s->model_name);
	cJSON_AddBoolToObject(o, "model_loaded", s->pl != NULL);
	cJSON_AddNumberToObject(o, "sessions", s->n_ws);
	http_respond_json(s, c, 200, o);
}

static void route_metrics(services *s, struct conn *c)
{
	size_t n;
	char *txt = svc_metrics_text(s, &n);

	if (!txt) {
		http_respond_error(s, c, 503, "server_error", NULL, NULL, "out of memory");
		return;
	}
	respond_raw(s, c, 200, "text/plain; version=0.0.4", txt, n);
	free(txt);
}

static void route_models(services *s, struct conn *c)
{
	cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "data"), *m;

	cJSON_AddStringToObject(o, "object", "list");
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "id", s->model_name);
	cJSON_AddStringToObject(m, "object", "model");
	cJSON_AddNumberToObject(m, "created", 0);
	cJSON_AddStringToObject(m, "owned_by", "hearth");
	cJSON_AddItemToArray(arr, m);
	http_respond_json(s, c, 200, o);
}

static enum svc_route route_of(const char *path)
{
	static const struct { const char *path; enum svc_route r; } t[] = {
		{ "/health", R_HEALTH }, { "/metrics", R_METRICS },
		{ "/v1/models", R_MODELS }, { "/v1/chat/completions", R_CHAT },
		{ "/v1/realtime", R_REALTIME },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(path, t[i].path))
			return t[i].r;
	return R_OTHER;
}

void http_route(services *s, struct conn *c, const char *path)
{
	bool want_post;
	char clen[32] = "";

	c->route = route_of(path);
	if (c->route == R_OTHER) {
		http_respond_error(s, c, 404, "invalid_request_error", "not_found", NULL,
				   "no route %s", path);
		return;
	}
	if (c->route == R_REALTIME) {
		http_respond_error(s, c, 400, "invalid_request_error", NULL, NULL,
				   "/v1/realtime is a WebSocket: send an Upgrade request");
		return;
	}
	want_post = c->route == R_CHAT;
	if (want_post != c->is_post) {
		http_respond_error(s, c, 405, "invalid_request_error", "method_not_allowed",
				   NULL, "use %s %s", want_post ? "POST" : "GET", path);
		return;
	}
	if ((c->route == R_MODELS || c->route == R_CHAT) && !s->pl) {
		http_respond_error(s, c, 503, "service_unavailable", "model_not_loaded",
				   NULL, "no model loaded");
		return;
	}
	if (c->route == R_HEALTH)
		route_health(s, c);
	else if (c->route == R_METRICS)
		route_metrics(s, c);
	else if (c->route == R_MODELS)
		route_models(s, c);
	else if (lws_hdr_copy(c->wsi, clen, sizeof(clen), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0 ||
		 !strtoull(clen, NULL, 10))
		http_on_body_complete(s, c); /* no body is coming */
}

/* ---------------------------------------------------------------------------
 * Request parsing: body → pipeline_request (errors name the param)
 */
struct chat_req {
	pipeline_request rq;
	engine_chat_msg msgs[MAX_MSGS];
	char *owned[3 * MAX_MSGS + 4]; /* strings built here */
	int n_owned;
	char *tools;
	bool stream, include_usage;
	char err[256];
	const char *param;
};

static bool bad(struct chat_req *r, const char *param, const char *msg)
{
	r->param = param;
	snprintf(r->err, sizeof(r->err), "%s", msg);
	return false;
}

static char *own(struct chat_req *r, char *s)
{
	if (s && r->n_owned < (int)(sizeof(r->owned) / sizeof(r->owned[0])))
		r->owned[r->n_owned++] = s;
	return s;
}

/* content: a string, null, or an array of {"type":"text","text"} parts. */
static bool parse_content(struct chat_req *r, const cJSON *v, const char **out)
{
	const cJSON *part;
	size_t n = 0;
	char *joined;

	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return true;
	if (cJSON_IsString(v)) {
		*out = v->valuestring;
		return true;
	}
	if (!cJSON_IsArray(v))
		return bad(r, "messages.content", "content must be a string or an array of parts");
	cJSON_ArrayForEach(part, v) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "type");
		const cJSON *tx = cJSON_GetObjectItemCaseSensitive(part, "text");

		if (!cJSON_IsString(t) || strcmp(t->valuestring, "text"))
			return bad(r, "messages.content.type",
				   "only text content parts are supported (images: not yet)");
		if (!cJSON_IsString(tx))
			return bad(r, "messages.content.text", "a text part needs a string text");
		n += strlen(tx->valuestring);
	}
	joined = own(r, calloc(1, n + 1));
	if (!joined)
		return bad(r, NULL, "out of memory");
	cJSON_ArrayForEach(part, v)
		strcat(joined, cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring);
	*out = joined;
	return true;
}

/* assistant tool_calls (OpenAI) → the engine's [{"name","arguments":{}}] */
static bool parse_tool_calls(struct chat_req *r, const cJSON *v, const char **out)
{
	cJSON *arr = cJSON_CreateArray();
	const cJSON *tc;

	cJSON_ArrayForEach(tc, v) {
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(tc, "function");
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(f, "name");
		const cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "arguments");
		cJSON *o, *parsed;

		if (!cJSON_IsString(nm) || (args && !cJSON_IsString(args))) {
			cJSON_Delete(arr);
			return bad(r, "messages.tool_calls",
				   "each tool call needs function.name and function.arguments strings");
		}
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", nm->valuestring);
		parsed = args ? cJSON_Parse(args->valuestring) : cJSON_CreateObject();
		if (!parsed)
			parsed = cJSON_CreateString(args->valuestring);
		cJSON_AddItemToObject(o, "arguments", parsed);
		cJSON_AddItemToArray(arr, o);
	}
	*out = own(r, cJSON_PrintUnformatted(arr));
	cJSON_Delete(arr);
	return *out != NULL;
}

static bool parse_message(struct chat_req *r, const cJSON *m, engine_chat_msg *out)
{
	static const char *const roles[] = { "system", "developer", "user", "assistant", "tool" };
	const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
	const cJSON *tcs = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
	const cJSON *tcid = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");
	size_t i;

	if (!cJSON_IsObject(m))
		return bad(r, "messages", "each message must be an object");
	if (!cJSON_IsString(role))
		return bad(r, "messages.role", "each message needs a string role");
	for (i = 0; i < 5 && strcmp(roles[i], role->valuestring); i++)
		;
	if (i == 5)
		return bad(r, "messages.role",
			   "role must be system, developer, user, assistant or tool");
	out->role = i == 1 ? "system" : roles[i];
	if (!parse_content(r, cJSON_GetObjectItemCaseSensitive(m, "content"), &out->content))
		return false;
	if (tcs && !cJSON_IsNull(tcs)) {
		if (i != 3 || !cJSON_IsArray(tcs))
			return bad(r, "messages.tool_calls",
				   "tool_calls must be an array, on assistant messages");
		if (!parse_tool_calls(r, tcs, &out->tool_calls))
			return false;
	}
	if (i == 4) {
		if (!cJSON_IsString(tcid))
			return bad(r, "messages.tool_call_id", "a tool message needs tool_call_id");
		out->tool_call_id = tcid->valuestring;
	}
	if (!out->content && !out->tool_calls && i != 3)
		return bad(r, "messages.content", "this message needs content");
	return true;
}

static bool parse_messages(struct chat_req *r, const cJSON *v)
{
	const cJSON *m;

	if (!cJSON_IsArray(v) || !cJSON_GetArraySize(v))
		return bad(r, "messages", "messages must be a non-empty array");
	if (cJSON_GetArraySize(v) > MAX_MSGS)
		return bad(r, "messages", "too many messages");
	cJSON_ArrayForEach(m, v) {
		if (!parse_message(r, m, &r->msgs[r->rq.n_msgs]))
			return false;
		r->rq.n_msgs++;
	}
	r->rq.msgs = r->msgs;
	return true;
}

static bool parse_tools(struct chat_req *r, const cJSON *tools, const cJSON *choice)
{
	const cJSON *t;

	if (tools && !cJSON_IsNull(tools)) {
		if (!cJSON_IsArray(tools))
			return bad(r, "tools", "tools must be an array");
		cJSON_ArrayForEach(t, tools) {
			const cJSON *f = cJSON_GetObjectItemCaseSensitive(t, "function");
			const cJSON *ty = cJSON_GetObjectItemCaseSensitive(t, "type");
			const cJSON *nm = cJSON_GetObjectItemCaseSensitive(f, "name");
			const cJSON *pa = cJSON_GetObjectItemCaseSensitive(f, "parameters");

			if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "function") ||
			    !cJSON_IsObject(f) || !cJSON_IsString(nm) || !nm->valuestring[0] ||
			    (pa && !cJSON_IsObject(pa)))
				return bad(r, "tools", "each tool must be {\"type\":\"function\","
					   "\"function\":{\"name\":…,\"parameters\":{…}}}");
		}
		if (cJSON_GetArraySize(tools))
			r->tools = own(r, cJSON_PrintUnformatted(tools));
		r->rq.tools_json = r->tools;
	}
	if (!choice || cJSON_IsNull(choice))
		return true;
	if (cJSON_IsString(choice)) {
		if (!strcmp(choice->valuestring, "none"))
			r->rq.tool_choice = PIPELINE_TOOLS_NONE;
		else if (!strcmp(choice->valuestring, "required"))
			r->rq.tool_choice = PIPELINE_TOOLS_REQUIRED;
		else if (strcmp(choice->valuestring, "auto"))
			return bad(r, "tool_choice", "tool_choice must be none, auto, required or "
				   "{\"type\":\"function\",\"function\":{\"name\":…}}");
	} else {
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(choice, "function");
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(f, "name");

		if (!cJSON_IsString(nm))
			return bad(r, "tool_choice", "a named tool_choice needs function.name");
		r->rq.tool_choice = PIPELINE_TOOLS_NAMED;
		r->rq.tool_name = nm->valuestring;
	}
	if (r->rq.tool_choice >= PIPELINE_TOOLS_REQUIRED && !r->tools)
		return bad(r, "tool_choice", "tool_choice asks for a tool but no tools are given");
	return true;
}

/* OpenAI's response_format: "json_object" holds the reply to a JSON object,
 * "json_schema" to its schema (pipeline_request.response_schema). */
static bool parse_response_format(struct chat_req *r, const cJSON *rf)
{
	const cJSON *ty = cJSON_GetObjectItemCaseSensitive(rf, "type"), *schema;

	if (!rf || cJSON_IsNull(rf))
		return true;
	if (!cJSON_IsObject(rf) || !cJSON_IsString(ty))
		return bad(r, "response_format", "response_format must be {\"type\": \"text\" | "
			   "\"json_object\" | \"json_schema\", …}");
	if (!strcmp(ty->valuestring, "text"))
		return true;
	if (r->rq.tool_choice >= PIPELINE_TOOLS_REQUIRED)
		return bad(r, "response_format", "a JSON response_format cannot be combined with "
			   "a tool_choice that forces a tool call");
	if (!strcmp(ty->valuestring, "json_object")) {
		r->rq.response_schema = "{\"type\": \"object\"}";
		return true;
	}
	if (strcmp(ty->valuestring, "json_schema"))
		return bad(r, "response_format", "response_format.type must be text, json_object "
			   "or json_schema");
	schema = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(rf, "json_schema"), "schema");
	if (!cJSON_IsObject(schema))
		return bad(r, "response_format", "response_format json_schema needs "
			   "json_schema.schema, an object");
	r->rq.response_schema = own(r, cJSON_PrintUnformatted(schema));
	return r->rq.response_schema != NULL;
}

static bool parse_number(struct chat_req *r, const cJSON *root, const char *key,
			 double lo, double hi, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	if (!v || cJSON_IsNull(v))
		return true;
	if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi) {
		snprintf(r->err, sizeof(r->err), "%s must be a number in [%g, %g]", key, lo, hi);
		r->param = key;
		return false;
	}
	*out = v->valuedouble;
	return true;
}

static bool parse_stop(struct chat_req *r, const cJSON *v)
{
	const cJSON *e;

	if (!v || cJSON_IsNull(v))
		return true;
	if (cJSON_IsString(v)) {
		r->rq.stop[r->rq.n_stop++] = v->valuestring;
		return true;
	}
	if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > PIPELINE_MAX_STOP)
		return bad(r, "stop", "stop must be a string or an array of up to 4 strings");
	cJSON_ArrayForEach(e, v) {
		if (!cJSON_IsString(e))
			return bad(r, "stop", "stop must be a string or an array of up to 4 strings");
		r->rq.stop[r->rq.n_stop++] = e->valuestring;
	}
	return true;
}

/* Fields we accept and ignore, so OpenAI clients' requests pass. */
static bool known_field(const char *k)
{
	static const char *const known[] = {
		"model", "messages", "tools", "tool_choice", "temperature", "top_p",
		"max_tokens", "max_completion_tokens", "seed", "stop", "stream",
		"stream_options", "n", "user", "frequency_penalty", "presence_penalty",
		"parallel_tool_calls", "logit_bias", "logprobs", "top_logprobs",
		"response_format", "metadata", "store", "service_tier", "top_k", "min_p",
		"repeat_penalty", "reasoning_effort", "modalities",
	};
	size_t i;

	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(k, known[i]))
			return true;
	return false;
}

static bool parse_sampling(struct chat_req *r, const cJSON *root)
{
	engine_sampler_params *sp = &r->rq.sampling;
	double t = sp->temperature, p = sp->top_p, mt = 0, seed = -1, tk = sp->top_k;

	if (!parse_number(r, root, "temperature", 0, 2, &t) ||
	    !parse_number(r, root, "top_p", 0, 1, &p) ||
	    !parse_number(r, root, "top_k", 0, 1e6, &tk) ||
	    !parse_number(r, root, "max_tokens", 1, 1e7, &mt) ||
	    !parse_number(r, root, "max_completion_tokens", 1, 1e7, &mt) ||
	    !parse_number(r, root, "seed", -9.2e18, 9.2e18, &seed))
		return false;
	sp->temperature = (float)t;
	sp->top_p = (float)p;
	sp->top_k = (int)tk;
	r->rq.max_tokens = (int)mt;
	sp->seed = seed >= 0 ? (uint64_t)seed : (uint64_t)(svc_now() * 1e9);
	return true;
}

static bool parse_flags(struct chat_req *r, const cJSON *root)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "stream");
	const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "n");
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");

	if (model && !cJSON_IsString(model))
		return bad(r, "model", "model must be a string");
	if (st && !cJSON_IsBool(st) && !cJSON_IsNull(st))
		return bad(r, "stream", "stream must be a boolean");
	r->stream = cJSON_IsTrue(st);
	if (so && cJSON_IsObject(so))
		r->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
	if (n && !cJSON_IsNull(n) && (!cJSON_IsNumber(n) || n->valuedouble != 1))
		return bad(r, "n", "only n = 1 is supported");
	return true;
}

static bool parse_chat(struct chat_req *r, const cJSON *root)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, root)
		if (!known_field(f->string)) {
			snprintf(r->err, sizeof(r->err), "unrecognized request argument: %s",
				 f->string);
			r->param = f->string;
			return false;
		}
	r->rq.sampling = engine_sampler_default_params();
	return parse_flags(r, root) &&
	       parse_messages(r, cJSON_GetObjectItemCaseSensitive(root, "messages")) &&
	       parse_tools(r, cJSON_GetObjectItemCaseSensitive(root, "tools"),
			   cJSON_GetObjectItemCaseSensitive(root, "tool_choice")) &&
	       parse_response_format(r, cJSON_GetObjectItemCaseSensitive(root, "response_format")) &&
	       parse_sampling(r, root) &&
	       parse_stop(r, cJSON_GetObjectItemCaseSensitive(root, "stop"));
}

/* ---------------------------------------------------------------------------
 * Submitting and streaming
 */
static cJSON *chunk_new(services *s, const struct http_job *hj, cJSON **delta);
static void sse_send(services *s, struct conn *c, cJSON *v);

/* OpenAI streams open with the role. */
static void first_chunk(services *s, struct conn *c)
{
	cJSON *delta, *o = chunk_new(s, c->hj, &delta);

	cJSON_AddStringToObject(delta, "role", "assistant");
	cJSON_AddStringToObject(delta, "content", "");
	sse_send(s, c, o);
}
static void start_job(services *s, struct conn *c, struct chat_req *r)
{
	struct http_job *hj = calloc(1, sizeof(*hj));
	int rc;

	if (!hj) {
		http_respond_error(s, c, 503, "server_error", NULL, NULL, "out of memory");
		return;
	}
	rc = pipeline_submit(s->pl, 0, &r->rq, &c->job);
	if (rc) {
		free(hj);
		if (rc == HEARTH_EFULL)
			http_respond_error(s, c, 429, "rate_limit_error", "queue_full", NULL,
					   "too many requests in progress; retry later");
		else
			http_respond_error(s, c, rc == HEARTH_EINVAL ? 400 : 503,
					   rc == HEARTH_EINVAL ? "invalid_request_error" : "server_error",
					   NULL, NULL, "cannot start the generation: %s",
					   hearth_strerror(rc));
		return;
	}
	hj->stream = r->stream;
	hj->include_usage = r->include_usage;
	svc_new_id(s, "chatcmpl", hj->id, sizeof(hj->id));
	hj->created = (long)time(NULL);
	hj->t_last = svc_now();
	c->hj = hj;
	if (hj->stream) {
		c->status = 200;
		c->sse = true;
		c->ctype = "text/event-stream";
		svc_metrics_request(s, R_CHAT, 200);
		first_chunk(s, c);
	}
}

void http_on_body_complete(services *s, struct conn *c)
{
	struct chat_req *r;
	char err[256];
	cJSON *root;
	int i;

	if (c->route != R_CHAT || c->status)
		return;
	root = svc_json_parse(c->body ? c->body : "", c->body_len, err, sizeof(err));
	if (!root) {
		http_respond_error(s, c, 400, "invalid_request_error", "invalid_json", NULL,
				   "%s", err);
		return;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		http_respond_error(s, c, 503, "server_error", NULL, NULL, "out of memory");
	} else if (!parse_chat(r, root)) {
		http_respond_error(s, c, 400, "invalid_request_error", "invalid_value",
				   r->param, "%s", r->err);
	} else {
		start_job(s, c, r);
	}
	for (i = 0; r && i < r->n_owned; i++)
		free(r->owned[i]);
	free(r);
	cJSON_Delete(root);
}

static cJSON *chunk_new(services *s, const struct http_job *hj, cJSON **delta)
{
	cJSON *o = cJSON_CreateObject(), *ch, *choices;

	cJSON_AddStringToObject(o, "id", hj->id);
	cJSON_AddStringToObject(o, "object", "chat.completion.chunk");
	cJSON_AddNumberToObject(o, "created", (double)hj->created);
	cJSON_AddStringToObject(o, "model", s->model_name);
	choices = cJSON_AddArrayToObject(o, "choices");
	ch = cJSON_CreateObject();
	cJSON_AddNumberToObject(ch, "index", 0);
	*delta = cJSON_AddObjectToObject(ch, "delta");
	cJSON_AddNullToObject(ch, "finish_reason");
	cJSON_AddItemToArray(choices, ch);
	return o;
}

static void sse_send(services *s, struct conn *c, cJSON *v)
{
	size_t n;
	char *f = svc_sse_frame(v, &n);

	if (f)
		svc_queue(s, c, f, n);
	free(f);
	cJSON_Delete(v);
}

static cJSON *usage_json(const pipeline_usage *u)
{
	cJSON *o = cJSON_CreateObject(), *d;

	cJSON_AddNumberToObject(o, "prompt_tokens", u->prompt_tokens);
	cJSON_AddNumberToObject(o, "completion_tokens", u->completion_tokens);
	cJSON_AddNumberToObject(o, "total_tokens", u->prompt_tokens + u->completion_tokens);
	d = cJSON_AddObjectToObject(o, "prompt_tokens_details");
	cJSON_AddNumberToObject(d, "cached_tokens", u->cached_tokens);
	return o;
}

static void stream_delta(services *s, struct conn *c, const pipeline_event *ev)
{
	struct http_job *hj = c->hj;
	cJSON *delta, *o = chunk_new(s, hj, &delta), *arr;
	char id[48], t_ns[32];

	if (ev->kind == PIPELINE_EV_TEXT) {
		cJSON_AddStringToObject(delta, "content", ev->text);
	} else {
		svc_new_id(s, "call", id, sizeof(id));
		arr = cJSON_AddArrayToObject(delta, "tool_calls");
		cJSON_AddItemToArray(arr, svc_tool_call_json(ev->tool_index, id,
							     ev->tool_name, ev->tool_args));
	}
	/* extension: when the scheduler handed this text out (CLOCK_MONOTONIC
	 * ns), so a client on the same machine can measure the serving path's
	 * added latency (hearth bench serve); raw keeps all 64 bits exact */
	snprintf(t_ns, sizeof(t_ns), "%lld", (long long)ev->t_ns);
	cJSON_AddRawToObject(cJSON_AddObjectToObject(o, "hearth"), "t_engine_ns", t_ns);
	sse_send(s, c, o);
}

static void stream_done(services *s, struct conn *c, const pipeline_event *ev)
{
	struct http_job *hj = c->hj;
	cJSON *delta, *o;

	if (ev->error) {
		o = svc_oai_error(ev->error_msg, ev->error == HEARTH_EFULL ?
				  "invalid_request_error" : "server_error", NULL,
				  ev->error == HEARTH_EFULL ? "context_length_exceeded" : NULL);
		svc_metrics_error(s, ev->error == HEARTH_EFULL ? "invalid_request_error"
							       : "server_error");
	} else {
		o = chunk_new(s, hj, &delta);
		cJSON_ReplaceItemInObject(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0),
					  "finish_reason", cJSON_CreateString(
						!strcmp(ev->finish_reason, "cancelled") ?
						"stop" : ev->finish_reason));
		cJSON_AddItemToObject(o, "timings", svc_timings_json(&ev->timings));
	}
	sse_send(s, c, o);
	if (hj->include_usage && !ev->error) {
		o = chunk_new(s, hj, &delta);
		cJSON_DeleteItemFromObject(o, "choices");
		cJSON_AddArrayToObject(o, "choices");
		cJSON_AddItemToObject(o, "usage", usage_json(&ev->usage));
		sse_send(s, c, o);
	}
	c->complete = true;
	svc_queue(s, c, "data: [DONE]\n\n", 14);
}

static void whole_done(services *s, struct conn *c, const pipeline_event *ev)
{
	struct http_job *hj = c->hj;
	cJSON *o, *ch, *msg;

	if (ev->error) {
		http_respond_error(s, c, ev->error == HEARTH_EFULL ? 400 : 500,
				   ev->error == HEARTH_EFULL ? "invalid_request_error" : "server_error",
				   ev->error == HEARTH_EFULL ? "context_length_exceeded" : NULL,
				   NULL, "%s", ev->error_msg);
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", hj->id);
	cJSON_AddStringToObject(o, "object", "chat.completion");
	cJSON_AddNumberToObject(o, "created", (double)hj->created);
	cJSON_AddStringToObject(o, "model", s->model_name);
	ch = cJSON_CreateObject();
	cJSON_AddNumberToObject(ch, "index", 0);
	msg = cJSON_AddObjectToObject(ch, "message");
	cJSON_AddStringToObject(msg, "role", "assistant");
	if (hj->text_len || !hj->tool_calls)
		cJSON_AddStringToObject(msg, "content", hj->text ? hj->text : "");
	else
		cJSON_AddNullToObject(msg, "content");
	if (hj->tool_calls) {
		cJSON_AddItemToObject(msg, "tool_calls", hj->tool_calls);
		hj->tool_calls = NULL;
	}
	cJSON_AddStringToObject(ch, "finish_reason", ev->finish_reason);
	cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), ch);
	cJSON_AddItemToObject(o, "usage", usage_json(&ev->usage));
	cJSON_AddItemToObject(o, "timings", svc_timings_json(&ev->timings));
	http_respond_json(s, c, 200, o);
}

static void collect(services *s, struct http_job *hj, const pipeline_event *ev)
{
	char id[48];
	char *p;

	if (ev->kind == PIPELINE_EV_TEXT) {
		p = realloc(hj->text, hj->text_len + ev->len + 1);
		if (!p)
			return;
		memcpy(p + hj->text_len, ev->text, ev->len);
		hj->text = p;
		hj->text_len += ev->len;
		p[hj->text_len] = '\0';
		return;
	}
	if (!hj->tool_calls)
		hj->tool_calls = cJSON_CreateArray();
	svc_new_id(s, "call", id, sizeof(id));
	cJSON_AddItemToArray(hj->tool_calls, svc_tool_call_json(-1, id, ev->tool_name,
								ev->tool_args));
}

void http_on_event(services *s, struct conn *c, const pipeline_event *ev)
{
	struct http_job *hj = c->hj;
	double now = svc_now();

	if (!hj)
		return;
	if (ev->kind != PIPELINE_EV_DONE) {
		svc_metrics_token_gap(s, now - hj->t_last);
		hj->t_last = now;
		if (hj->stream)
			stream_delta(s, c, ev);
		else
			collect(s, hj, ev);
		return;
	}
	c->job = 0;
	if (hj->stream)
		stream_done(s, c, ev);
	else
		whole_done(s, c, ev);
	http_on_close(s, c);
}

void http_on_close(services *s, struct conn *c)
{
	struct http_job *hj = c->hj;

	if (c->job && s->pl)
		pipeline_cancel(s->pl, c->job); /* client went away mid-generation */
	c->job = 0;
	if (!hj)
		return;
	free(hj->text);
	cJSON_Delete(hj->tool_calls);
	free(hj);
	c->hj = NULL;
}
