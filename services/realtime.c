/*
 * realtime.c — WS /v1/realtime: the text part of the OpenAI Realtime API
 * (PROTOCOLS.md §1). Each WebSocket is one session: its own conversation
 * (a list of items) and its own KV context in the pipeline, kept across
 * responses so the conversation's prefix is never prefilled twice.
 *
 * Client events are validated field by field; every problem is answered
 * with an "error" event naming the param and the client's event_id, and
 * the session stays open. Services thread only.
 */
#include "services_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum item_type { IT_MESSAGE, IT_CALL, IT_CALL_OUTPUT };

struct rt_item {
	struct rt_item *next;
	enum item_type type;
	char id[48];
	char role[16];
	char *text;            /* message text / call arguments / call output */
	char call_id[64];
	char *name;            /* function name */
};

struct rt_session {
	uint64_t sid;
	char id[48];
	char *instructions;
	cJSON *tools;          /* as the client gave them (realtime shape) */
	char *tools_chat;      /* chat-completions shape for the engine */
	pipeline_tool_choice choice;
	char choice_name[128];
	double temperature;    /* < 0: the engine's default */
	int max_output;        /* 0 = "inf" */
	struct rt_item *items;
	/* the response in progress */
	uint64_t job;
	char resp_id[48];
	bool oob;              /* conversation "none": output not kept */
	cJSON *output;         /* items emitted, for response.done */
	struct rt_item *msg;   /* assistant text item being streamed */
	int n_out;
	double t_last;
};

/* ---------------------------------------------------------------------------
 * Emitting
 */
static void send_event(services *s, struct conn *c, const char *type, cJSON *ev)
{
	char id[48];

	svc_new_id(s, "event", id, sizeof(id));
	cJSON_AddStringToObject(ev, "type", type);
	cJSON_AddStringToObject(ev, "event_id", id);
	svc_queue_json(s, c, ev);
}

static void send_error(services *s, struct conn *c, const char *code,
		       const char *param, const char *client_evt, const char *msg)
{
	cJSON *ev = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(ev, "error");

	cJSON_AddStringToObject(e, "type", "invalid_request_error");
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", msg);
	if (param)
		cJSON_AddStringToObject(e, "param", param);
	else
		cJSON_AddNullToObject(e, "param");
	if (client_evt)
		cJSON_AddStringToObject(e, "event_id", client_evt);
	else
		cJSON_AddNullToObject(e, "event_id");
	svc_metrics_error(s, "invalid_request_error");
	send_event(s, c, "error", ev);
}

static cJSON *item_json(const struct rt_item *it, const char *status)
{
	cJSON *o = cJSON_CreateObject(), *content, *part;

	cJSON_AddStringToObject(o, "id", it->id);
	cJSON_AddStringToObject(o, "object", "realtime.item");
	if (it->type == IT_MESSAGE) {
		cJSON_AddStringToObject(o, "type", "message");
		cJSON_AddStringToObject(o, "status", status);
		cJSON_AddStringToObject(o, "role", it->role);
		content = cJSON_AddArrayToObject(o, "content");
		part = cJSON_CreateObject();
		cJSON_AddStringToObject(part, "type", !strcmp(it->role, "assistant") ?
					"output_text" : "input_text");
		cJSON_AddStringToObject(part, "text", it->text ? it->text : "");
		cJSON_AddItemToArray(content, part);
	} else if (it->type == IT_CALL) {
		cJSON_AddStringToObject(o, "type", "function_call");
		cJSON_AddStringToObject(o, "status", status);
		cJSON_AddStringToObject(o, "call_id", it->call_id);
		cJSON_AddStringToObject(o, "name", it->name ? it->name : "");
		cJSON_AddStringToObject(o, "arguments", it->text ? it->text : "");
	} else {
		cJSON_AddStringToObject(o, "type", "function_call_output");
		cJSON_AddStringToObject(o, "call_id", it->call_id);
		cJSON_AddStringToObject(o, "output", it->text ? it->text : "");
	}
	return o;
}

static const char *last_item_id(const struct rt_session *rs, const struct rt_item *before)
{
	const struct rt_item *it;
	const char *id = NULL;

	for (it = rs->items; it && it != before; it = it->next)
		id = it->id;
	return id;
}

static void send_item_event(services *s, struct conn *c, const char *type,
			    const struct rt_item *it, const char *status)
{
	cJSON *ev = cJSON_CreateObject();
	const char *prev = last_item_id(c->rt, it);

	if (prev)
		cJSON_AddStringToObject(ev, "previous_item_id", prev);
	else
		cJSON_AddNullToObject(ev, "previous_item_id");
	cJSON_AddItemToObject(ev, "item", item_json(it, status));
	send_event(s, c, type, ev);
}

static cJSON *session_json(services *s, const struct rt_session *rs)
{
	cJSON *o = cJSON_CreateObject(), *mods;

	cJSON_AddStringToObject(o, "id", rs->id);
	cJSON_AddStringToObject(o, "object", "realtime.session");
	cJSON_AddStringToObject(o, "type", "realtime");
	cJSON_AddStringToObject(o, "model", s->model_name);
	mods = cJSON_AddArrayToObject(o, "output_modalities");
	cJSON_AddItemToArray(mods, cJSON_CreateString("text"));
	cJSON_AddStringToObject(o, "instructions", rs->instructions ? rs->instructions : "");
	cJSON_AddItemToObject(o, "tools", rs->tools ? cJSON_Duplicate(rs->tools, true)
						    : cJSON_CreateArray());
	if (rs->choice == PIPELINE_TOOLS_NAMED) {
		cJSON *tc = cJSON_AddObjectToObject(o, "tool_choice");

		cJSON_AddStringToObject(tc, "type", "function");
		cJSON_AddStringToObject(tc, "name", rs->choice_name);
	} else {
		cJSON_AddStringToObject(o, "tool_choice", rs->choice == PIPELINE_TOOLS_NONE ?
					"none" : rs->choice == PIPELINE_TOOLS_REQUIRED ?
					"required" : "auto");
	}
	if (rs->temperature >= 0)
		cJSON_AddNumberToObject(o, "temperature", rs->temperature);
	if (rs->max_output)
		cJSON_AddNumberToObject(o, "max_output_tokens", rs->max_output);
	else
		cJSON_AddStringToObject(o, "max_output_tokens", "inf");
	return o;
}

/* ---------------------------------------------------------------------------
 * Items
 */
static void item_free(struct rt_item *it)
{
	if (!it)
		return;
	free(it->text);
	free(it->name);
	free(it);
}

static void item_append(struct rt_session *rs, struct rt_item *it)
{
	struct rt_item **pp = &rs->items;

	while (*pp)
		pp = &(*pp)->next;
	*pp = it;
}

static struct rt_item *item_new(services *s, enum item_type type, const char *id)
{
	struct rt_item *it = calloc(1, sizeof(*it));

	if (!it)
		return NULL;
	it->type = type;
	if (id)
		snprintf(it->id, sizeof(it->id), "%s", id);
	else
		svc_new_id(s, "item", it->id, sizeof(it->id));
	return it;
}

static bool item_text_append(struct rt_item *it, const char *t, size_t n)
{
	size_t have = it->text ? strlen(it->text) : 0;
	char *p = realloc(it->text, have + n + 1);

	if (!p)
		return false;
	memcpy(p + have, t, n);
	p[have + n] = '\0';
	it->text = p;
	return true;
}

/* ---------------------------------------------------------------------------
 * Session config (session.update and response.create overrides)
 */
struct rt_cfg {
	const char *instructions;
	const cJSON *tools;
	char *tools_chat;
	bool has_tools, has_choice;
	pipeline_tool_choice choice;
	const char *choice_name;
	double temperature;
	int max_output;
	bool has_max;
};

static const char *parse_cfg(const cJSON *o, struct rt_cfg *cfg)
{
	const cJSON *v;
	const char *bad = NULL;

	memset(cfg, 0, sizeof(*cfg));
	cfg->temperature = -1;
	v = cJSON_GetObjectItemCaseSensitive(o, "instructions");
	if (v && !cJSON_IsString(v))
		return "instructions";
	cfg->instructions = v ? v->valuestring : NULL;
	v = cJSON_GetObjectItemCaseSensitive(o, "tools");
	if (v) {
		cfg->tools_chat = svc_tools_from_realtime(v, &bad);
		if (bad)
			return bad;
		cfg->tools = v;
		cfg->has_tools = true;
	}
	v = cJSON_GetObjectItemCaseSensitive(o, "tool_choice");
	if (v) {
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(v, "name");

		cfg->has_choice = true;
		if (cJSON_IsString(v) && !strcmp(v->valuestring, "auto"))
			cfg->choice = PIPELINE_TOOLS_AUTO;
		else if (cJSON_IsString(v) && !strcmp(v->valuestring, "none"))
			cfg->choice = PIPELINE_TOOLS_NONE;
		else if (cJSON_IsString(v) && !strcmp(v->valuestring, "required"))
			cfg->choice = PIPELINE_TOOLS_REQUIRED;
		else if (cJSON_IsObject(v) && cJSON_IsString(nm) && nm->valuestring[0])
			cfg->choice = PIPELINE_TOOLS_NAMED, cfg->choice_name = nm->valuestring;
		else
			return "tool_choice";
	}
	v = cJSON_GetObjectItemCaseSensitive(o, "temperature");
	if (v && (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 2))
		return "temperature";
	if (v)
		cfg->temperature = v->valuedouble;
	v = cJSON_GetObjectItemCaseSensitive(o, "max_output_tokens");
	if (!v)
		v = cJSON_GetObjectItemCaseSensitive(o, "max_response_output_tokens");
	if (v) {
		cfg->has_max = true;
		if (cJSON_IsString(v) && !strcmp(v->valuestring, "inf"))
			cfg->max_output = 0;
		else if (cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 4096)
			cfg->max_output = (int)v->valuedouble;
		else
			return "max_output_tokens";
	}
	v = cJSON_GetObjectItemCaseSensitive(o, "output_modalities");
	if (!v)
		v = cJSON_GetObjectItemCaseSensitive(o, "modalities");
	if (v && !cJSON_IsArray(v))
		return "output_modalities";
	return NULL;
}

static void cfg_apply(struct rt_session *rs, struct rt_cfg *cfg)
{
	if (cfg->instructions) {
		free(rs->instructions);
		rs->instructions = strdup(cfg->instructions);
	}
	if (cfg->has_tools) {
		cJSON_Delete(rs->tools);
		rs->tools = cJSON_Duplicate(cfg->tools, true);
		free(rs->tools_chat);
		rs->tools_chat = cfg->tools_chat;
		cfg->tools_chat = NULL;
	}
	if (cfg->has_choice) {
		rs->choice = cfg->choice;
		snprintf(rs->choice_name, sizeof(rs->choice_name), "%s",
			 cfg->choice_name ? cfg->choice_name : "");
	}
	if (cfg->temperature >= 0)
		rs->temperature = cfg->temperature;
	if (cfg->has_max)
		rs->max_output = cfg->max_output;
}

/* ---------------------------------------------------------------------------
 * Client events
 */
struct rt_msg {
	services *s;
	struct conn *c;
	struct rt_session *rs;
	const cJSON *root;
	const char *evt;       /* the client's event_id or NULL */
};

static void ev_session_update(struct rt_msg *m)
{
	const cJSON *sess = cJSON_GetObjectItemCaseSensitive(m->root, "session");
	struct rt_cfg cfg;
	const char *bad;
	char param[64];
	cJSON *ev;

	if (!cJSON_IsObject(sess)) {
		send_error(m->s, m->c, "invalid_value", "session", m->evt,
			   "session.update needs a session object");
		return;
	}
	bad = parse_cfg(sess, &cfg);
	if (bad) {
		snprintf(param, sizeof(param), "session.%s", bad);
		free(cfg.tools_chat);
		send_error(m->s, m->c, "invalid_value", param, m->evt,
			   "invalid value or type for this field");
		return;
	}
	cfg_apply(m->rs, &cfg);
	free(cfg.tools_chat);
	ev = cJSON_CreateObject();
	cJSON_AddItemToObject(ev, "session", session_json(m->s, m->rs));
	send_event(m->s, m->c, "session.updated", ev);
}

static const char *item_content_text(const cJSON *content, const char **bad)
{
	const cJSON *part = cJSON_GetArrayItem(content, 0);
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");

	*bad = "item.content";
	if (!cJSON_IsArray(content) || cJSON_GetArraySize(content) != 1 || !cJSON_IsString(type))
		return NULL;
	if (strcmp(type->valuestring, "input_text") && strcmp(type->valuestring, "text") &&
	    strcmp(type->valuestring, "output_text")) {
		*bad = "item.content.type";
		return NULL;
	}
	if (!cJSON_IsString(text)) {
		*bad = "item.content.text";
		return NULL;
	}
	*bad = NULL;
	return text->valuestring;
}

static struct rt_item *parse_item(services *s, const cJSON *item, const char **bad)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(item, "type");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
	const cJSON *role = cJSON_GetObjectItemCaseSensitive(item, "role");
	const cJSON *call_id = cJSON_GetObjectItemCaseSensitive(item, "call_id");
	const cJSON *output = cJSON_GetObjectItemCaseSensitive(item, "output");
	const char *text;
	struct rt_item *it;

	*bad = "item";
	if (!cJSON_IsObject(item))
		return NULL;
	*bad = "item.id";
	if (id && (!cJSON_IsString(id) || !id->valuestring[0] || strlen(id->valuestring) > 40))
		return NULL;
	*bad = "item.type";
	if (!cJSON_IsString(type))
		return NULL;
	if (!strcmp(type->valuestring, "function_call_output")) {
		*bad = !cJSON_IsString(call_id) || strlen(call_id->valuestring) > 60 ?
		       "item.call_id" : !cJSON_IsString(output) ? "item.output" : NULL;
		if (*bad)
			return NULL;
		it = item_new(s, IT_CALL_OUTPUT, id ? id->valuestring : NULL);
		if (it) {
			snprintf(it->call_id, sizeof(it->call_id), "%s", call_id->valuestring);
			it->text = strdup(output->valuestring);
		}
		return it;
	}
	if (strcmp(type->valuestring, "message"))
		return NULL; /* function_call items come from the model only */
	*bad = "item.role";
	if (!cJSON_IsString(role) || (strcmp(role->valuestring, "user") &&
				      strcmp(role->valuestring, "system") &&
				      strcmp(role->valuestring, "assistant")))
		return NULL;
	text = item_content_text(cJSON_GetObjectItemCaseSensitive(item, "content"), bad);
	if (!text)
		return NULL;
	it = item_new(s, IT_MESSAGE, id ? id->valuestring : NULL);
	if (it) {
		snprintf(it->role, sizeof(it->role), "%s", role->valuestring);
		it->text = strdup(text);
	}
	return it;
}

static struct rt_item *find_item(struct rt_session *rs, const char *id, struct rt_item ***link)
{
	struct rt_item **pp;

	for (pp = &rs->items; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->id, id)) {
			if (link)
				*link = pp;
			return *pp;
		}
	return NULL;
}

static void ev_item_create(struct rt_msg *m)
{
	const char *bad = NULL;
	struct rt_item *it = parse_item(m->s, cJSON_GetObjectItemCaseSensitive(m->root, "item"),
					&bad);

	if (!it) {
		send_error(m->s, m->c, "invalid_value", bad ? bad : "item", m->evt,
			   bad && !strcmp(bad, "item.content.type") ?
			   "only text content is supported on this server (audio and images: not yet)" :
			   "invalid or missing field in the item");
		return;
	}
	if (find_item(m->rs, it->id, NULL)) {
		send_error(m->s, m->c, "duplicate_item_id", "item.id", m->evt,
			   "an item with this id already exists");
		item_free(it);
		return;
	}
	item_append(m->rs, it);
	send_item_event(m->s, m->c, "conversation.item.added", it, "completed");
	send_item_event(m->s, m->c, "conversation.item.done", it, "completed");
}

static void ev_item_delete(struct rt_msg *m, bool retrieve)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(m->root, "item_id");
	struct rt_item *it, **link = NULL;
	cJSON *ev;

	if (!cJSON_IsString(id)) {
		send_error(m->s, m->c, "invalid_value", "item_id", m->evt, "item_id must be a string");
		return;
	}
	it = find_item(m->rs, id->valuestring, &link);
	if (!it) {
		send_error(m->s, m->c, "item_not_found", "item_id", m->evt, "no item with this id");
		return;
	}
	ev = cJSON_CreateObject();
	if (retrieve) {
		cJSON_AddItemToObject(ev, "item", item_json(it, "completed"));
		send_event(m->s, m->c, "conversation.item.retrieved", ev);
		return;
	}
	*link = it->next;
	cJSON_AddStringToObject(ev, "item_id", it->id);
	item_free(it);
	send_event(m->s, m->c, "conversation.item.deleted", ev);
}

/* The conversation as chat messages: instructions, then items. */
static int build_msgs(struct rt_session *rs, const char *instructions,
		      engine_chat_msg *msgs, char **owned, int max)
{
	struct rt_item *it;
	int n = 0, n_owned = 0;

	if (instructions && instructions[0])
		msgs[n++] = (engine_chat_msg){ .role = "system", .content = instructions };
	for (it = rs->items; it && n < max - 1; it = it->next) {
		if (it->type == IT_MESSAGE) {
			msgs[n++] = (engine_chat_msg){ .role = it->role, .content = it->text };
		} else if (it->type == IT_CALL_OUTPUT) {
			msgs[n++] = (engine_chat_msg){ .role = "tool", .content = it->text,
						       .tool_call_id = it->call_id };
		} else {
			cJSON *arr = cJSON_CreateArray(), *o = cJSON_CreateObject(), *a;

			cJSON_AddStringToObject(o, "name", it->name);
			a = cJSON_Parse(it->text ? it->text : "{}");
			cJSON_AddItemToObject(o, "arguments", a ? a : cJSON_CreateObject());
			cJSON_AddItemToArray(arr, o);
			owned[n_owned] = cJSON_PrintUnformatted(arr);
			cJSON_Delete(arr);
			msgs[n++] = (engine_chat_msg){ .role = "assistant",
						       .tool_calls = owned[n_owned++] };
		}
	}
	return n;
}

#define RT_MAX_MSGS 512

static void submit_response(struct rt_msg *m, struct rt_cfg *cfg)
{
	struct rt_session *rs = m->rs;
	engine_chat_msg *msgs = calloc(RT_MAX_MSGS, sizeof(*msgs));
	char **owned = calloc(RT_MAX_MSGS, sizeof(*owned));
	pipeline_request rq = { 0 };
	int rc = HEARTH_ENOMEM, i;
	cJSON *ev, *r;

	if (msgs && owned) {
		rq.n_msgs = build_msgs(rs, cfg->instructions ? cfg->instructions :
				       rs->instructions, msgs, owned, RT_MAX_MSGS);
		rq.msgs = msgs;
		rq.tools_json = cfg->has_tools ? cfg->tools_chat : rs->tools_chat;
		rq.tool_choice = cfg->has_choice ? cfg->choice : rs->choice;
		rq.tool_name = cfg->has_choice ? cfg->choice_name : rs->choice_name;
		rq.sampling = engine_sampler_default_params();
		if (cfg->temperature >= 0 || rs->temperature >= 0)
			rq.sampling.temperature = (float)(cfg->temperature >= 0 ?
							  cfg->temperature : rs->temperature);
		rq.sampling.seed = (uint64_t)(svc_now() * 1e9);
		rq.max_tokens = cfg->has_max ? cfg->max_output : rs->max_output;
		if (rq.tool_choice >= PIPELINE_TOOLS_REQUIRED && !rq.tools_json)
			rc = HEARTH_EINVAL;
		else
			rc = rq.n_msgs ? pipeline_submit(m->s->pl, rs->sid, &rq, &rs->job)
				       : HEARTH_ESTATE;
	}
	for (i = 0; owned && i < RT_MAX_MSGS; i++)
		free(owned[i]);
	free(owned);
	free(msgs);
	if (rc) {
		rs->job = 0;
		send_error(m->s, m->c, rc == HEARTH_EFULL ? "server_busy" :
			   rc == HEARTH_ESTATE ? "conversation_empty" : "invalid_value",
			   rc == HEARTH_EINVAL ? "response.tool_choice" : NULL, m->evt,
			   rc == HEARTH_EFULL ? "too many generations in progress; retry later" :
			   rc == HEARTH_ESTATE ? "the conversation has no items to respond to" :
			   rc == HEARTH_EINVAL ? "tool_choice asks for a tool but there are no tools" :
			   "cannot start the response");
		return;
	}
	m->c->job = rs->job;
	svc_new_id(m->s, "resp", rs->resp_id, sizeof(rs->resp_id));
	rs->output = cJSON_CreateArray();
	rs->n_out = 0;
	rs->t_last = svc_now();
	ev = cJSON_CreateObject();
	r = cJSON_AddObjectToObject(ev, "response");
	cJSON_AddStringToObject(r, "id", rs->resp_id);
	cJSON_AddStringToObject(r, "object", "realtime.response");
	cJSON_AddStringToObject(r, "status", "in_progress");
	cJSON_AddArrayToObject(r, "output");
	send_event(m->s, m->c, "response.created", ev);
}

static void ev_response_create(struct rt_msg *m)
{
	const cJSON *resp = cJSON_GetObjectItemCaseSensitive(m->root, "response");
	const cJSON *conv = cJSON_GetObjectItemCaseSensitive(resp, "conversation");
	struct rt_cfg cfg;
	const char *bad;
	char param[64];

	if (m->rs->job) {
		send_error(m->s, m->c, "conversation_already_has_active_response", NULL,
			   m->evt, "a response is already in progress; cancel it first");
		return;
	}
	if (resp && !cJSON_IsObject(resp)) {
		send_error(m->s, m->c, "invalid_value", "response", m->evt,
			   "response must be an object");
		return;
	}
	bad = resp ? parse_cfg(resp, &cfg) : (parse_cfg(m->root, &cfg), NULL);
	if (!bad && conv && !(cJSON_IsString(conv) && (!strcmp(conv->valuestring, "auto") ||
						       !strcmp(conv->valuestring, "none"))))
		bad = "conversation";
	if (bad) {
		snprintf(param, sizeof(param), "response.%s", bad);
		send_error(m->s, m->c, "invalid_value", param, m->evt,
			   "invalid value or type for this field");
		free(cfg.tools_chat);
		return;
	}
	m->rs->oob = conv && !strcmp(conv->valuestring, "none");
	submit_response(m, &cfg);
	free(cfg.tools_chat);
}

static void ev_response_cancel(struct rt_msg *m)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(m->root, "response_id");

	if (id && (!cJSON_IsString(id) || strcmp(id->valuestring, m->rs->resp_id))) {
		send_error(m->s, m->c, "invalid_value", "response_id", m->evt,
			   "no response with this id is in progress");
		return;
	}
	if (!m->rs->job) {
		send_error(m->s, m->c, "response_cancel_not_active", NULL, m->evt,
			   "no response is in progress");
		return;
	}
	pipeline_cancel(m->s->pl, m->rs->job);
}

static void dispatch(struct rt_msg *m, const char *type)
{
	if (!strcmp(type, "session.update"))
		ev_session_update(m);
	else if (!strcmp(type, "conversation.item.create"))
		ev_item_create(m);
	else if (!strcmp(type, "conversation.item.delete"))
		ev_item_delete(m, false);
	else if (!strcmp(type, "conversation.item.retrieve"))
		ev_item_delete(m, true);
	else if (!strcmp(type, "response.create"))
		ev_response_create(m);
	else if (!strcmp(type, "response.cancel"))
		ev_response_cancel(m);
	else if (!strcmp(type, "output_audio_buffer.clear"))
		; /* WebRTC/SIP only: a no-op on WebSocket (PROTOCOLS.md §1.1) */
	else if (!strncmp(type, "input_audio_buffer.", 19) ||
		 !strcmp(type, "conversation.item.truncate"))
		send_error(m->s, m->c, "unsupported", "type", m->evt,
			   "audio input is not available on this server yet");
	else
		send_error(m->s, m->c, "unknown_event", "type", m->evt,
			   "unknown client event type");
}

void rt_on_message(services *s, struct conn *c, const char *msg, size_t len,
		   bool binary)
{
	struct rt_msg m = { s, c, c->rt, NULL, NULL };
	const cJSON *type, *evt;
	char err[256];
	cJSON *root;

	if (!c->rt)
		return;
	if (!msg) {
		send_error(s, c, "message_too_large", NULL, NULL,
			   "the message exceeds the frame size limit");
		return;
	}
	if (binary) {
		send_error(s, c, "binary_not_supported", NULL, NULL,
			   "binary frames are not accepted yet: send JSON text events");
		return;
	}
	root = svc_json_parse(msg, len, err, sizeof(err));
	if (!root) {
		send_error(s, c, "invalid_json", NULL, NULL, err);
		return;
	}
	m.root = root;
	evt = cJSON_GetObjectItemCaseSensitive(root, "event_id");
	m.evt = cJSON_IsString(evt) ? evt->valuestring : NULL;
	type = cJSON_GetObjectItemCaseSensitive(root, "type");
	if (!cJSON_IsString(type))
		send_error(s, c, "invalid_value", "type", m.evt,
			   "every event needs a string type");
	else
		dispatch(&m, type->valuestring);
	cJSON_Delete(root);
}

/* ---------------------------------------------------------------------------
 * Pipeline events → response.* events
 */
static cJSON *ids(const struct rt_session *rs, const char *item_id)
{
	cJSON *ev = cJSON_CreateObject();

	cJSON_AddStringToObject(ev, "response_id", rs->resp_id);
	cJSON_AddStringToObject(ev, "item_id", item_id);
	cJSON_AddNumberToObject(ev, "output_index", rs->n_out);
	return ev;
}

static void output_item_event(services *s, struct conn *c, const char *type,
			      const struct rt_item *it, const char *status)
{
	cJSON *ev = cJSON_CreateObject();

	cJSON_AddStringToObject(ev, "response_id", c->rt->resp_id);
	cJSON_AddNumberToObject(ev, "output_index", c->rt->n_out);
	cJSON_AddItemToObject(ev, "item", item_json(it, status));
	send_event(s, c, type, ev);
}

static void text_begin(services *s, struct conn *c)
{
	struct rt_session *rs = c->rt;
	cJSON *ev, *part;

	rs->msg = item_new(s, IT_MESSAGE, NULL);
	if (!rs->msg)
		return;
	snprintf(rs->msg->role, sizeof(rs->msg->role), "assistant");
	output_item_event(s, c, "response.output_item.added", rs->msg, "in_progress");
	ev = ids(rs, rs->msg->id);
	cJSON_AddNumberToObject(ev, "content_index", 0);
	part = cJSON_AddObjectToObject(ev, "part");
	cJSON_AddStringToObject(part, "type", "text");
	cJSON_AddStringToObject(part, "text", "");
	send_event(s, c, "response.content_part.added", ev);
}

/* Close the streamed text item, if any: text.done … output_item.done, and
 * the item joins the conversation. */
static void text_end(services *s, struct conn *c, const char *status)
{
	struct rt_session *rs = c->rt;
	struct rt_item *it = rs->msg;
	const char *text;
	cJSON *ev, *part;

	if (!it)
		return;
	text = it->text ? it->text : "";
	ev = ids(rs, it->id);
	cJSON_AddNumberToObject(ev, "content_index", 0);
	cJSON_AddStringToObject(ev, "text", text);
	send_event(s, c, "response.output_text.done", ev);
	ev = ids(rs, it->id);
	cJSON_AddNumberToObject(ev, "content_index", 0);
	part = cJSON_AddObjectToObject(ev, "part");
	cJSON_AddStringToObject(part, "type", "text");
	cJSON_AddStringToObject(part, "text", text);
	send_event(s, c, "response.content_part.done", ev);
	output_item_event(s, c, "response.output_item.done", it, status);
	cJSON_AddItemToArray(rs->output, item_json(it, status));
	rs->msg = NULL;
	rs->n_out++;
	if (rs->oob) {
		item_free(it);
		return;
	}
	item_append(rs, it);
	send_item_event(s, c, "conversation.item.done", it, status);
}

static void on_text(services *s, struct conn *c, const pipeline_event *ev)
{
	struct rt_session *rs = c->rt;
	cJSON *e;

	if (!rs->msg)
		text_begin(s, c);
	if (!rs->msg || !item_text_append(rs->msg, ev->text, ev->len))
		return;
	e = ids(rs, rs->msg->id);
	cJSON_AddNumberToObject(e, "content_index", 0);
	cJSON_AddStringToObject(e, "delta", ev->text);
	send_event(s, c, "response.output_text.delta", e);
}

static void on_call(services *s, struct conn *c, const pipeline_event *ev)
{
	struct rt_session *rs = c->rt;
	struct rt_item *it;
	cJSON *e;

	text_end(s, c, "completed");
	it = item_new(s, IT_CALL, NULL);
	if (!it)
		return;
	svc_new_id(s, "call", it->call_id, sizeof(it->call_id));
	it->name = strdup(ev->tool_name);
	output_item_event(s, c, "response.output_item.added", it, "in_progress");
	it->text = strdup(ev->tool_args);
	/* the arguments arrive whole from the parser: one delta */
	e = ids(rs, it->id);
	cJSON_AddStringToObject(e, "call_id", it->call_id);
	cJSON_AddStringToObject(e, "delta", ev->tool_args);
	send_event(s, c, "response.function_call_arguments.delta", e);
	e = ids(rs, it->id);
	cJSON_AddStringToObject(e, "call_id", it->call_id);
	cJSON_AddStringToObject(e, "name", ev->tool_name);
	cJSON_AddStringToObject(e, "arguments", ev->tool_args);
	send_event(s, c, "response.function_call_arguments.done", e);
	output_item_event(s, c, "response.output_item.done", it, "completed");
	cJSON_AddItemToArray(rs->output, item_json(it, "completed"));
	rs->n_out++;
	if (rs->oob) {
		item_free(it);
		return;
	}
	item_append(rs, it);
	send_item_event(s, c, "conversation.item.done", it, "completed");
}

static void on_done(services *s, struct conn *c, const pipeline_event *ev)
{
	struct rt_session *rs = c->rt;
	const char *fr = ev->finish_reason;
	const char *status = !strcmp(fr, "cancelled") ? "cancelled" :
			     !strcmp(fr, "length") ? "incomplete" :
			     !strcmp(fr, "error") ? "failed" : "completed";
	cJSON *e = cJSON_CreateObject(), *r, *u, *d;

	text_end(s, c, !strcmp(status, "completed") ? "completed" : "incomplete");
	r = cJSON_AddObjectToObject(e, "response");
	cJSON_AddStringToObject(r, "id", rs->resp_id);
	cJSON_AddStringToObject(r, "object", "realtime.response");
	cJSON_AddStringToObject(r, "status", status);
	if (strcmp(status, "completed")) {
		d = cJSON_AddObjectToObject(r, "status_details");
		cJSON_AddStringToObject(d, "type", status);
		if (!strcmp(status, "failed"))
			cJSON_AddItemToObject(d, "error", cJSON_CreateString(ev->error_msg));
		else
			cJSON_AddStringToObject(d, "reason", !strcmp(status, "cancelled") ?
						"client_cancelled" : "max_output_tokens");
	} else {
		cJSON_AddNullToObject(r, "status_details");
	}
	cJSON_AddItemToObject(r, "output", rs->output);
	rs->output = NULL;
	cJSON_AddItemToArray(cJSON_AddArrayToObject(r, "output_modalities"),
			     cJSON_CreateString("text"));
	cJSON_AddStringToObject(r, "conversation_id", rs->oob ? "" : rs->id);
	u = cJSON_AddObjectToObject(r, "usage");
	cJSON_AddNumberToObject(u, "total_tokens", ev->usage.prompt_tokens +
				ev->usage.completion_tokens);
	cJSON_AddNumberToObject(u, "input_tokens", ev->usage.prompt_tokens);
	cJSON_AddNumberToObject(u, "output_tokens", ev->usage.completion_tokens);
	d = cJSON_AddObjectToObject(u, "input_token_details");
	cJSON_AddNumberToObject(d, "cached_tokens", ev->usage.cached_tokens);
	cJSON_AddNumberToObject(d, "text_tokens", ev->usage.prompt_tokens);
	d = cJSON_AddObjectToObject(u, "output_token_details");
	cJSON_AddNumberToObject(d, "text_tokens", ev->usage.completion_tokens);
	cJSON_AddItemToObject(r, "timings", svc_timings_json(&ev->timings));
	rs->job = 0;
	c->job = 0;
	send_event(s, c, "response.done", e);
}

void rt_on_event(services *s, struct conn *c, const pipeline_event *ev)
{
	double now = svc_now();

	if (!c->rt || !c->rt->job)
		return;
	if (ev->kind == PIPELINE_EV_TEXT) {
		svc_metrics_token_gap(s, now - c->rt->t_last);
		c->rt->t_last = now;
		on_text(s, c, ev);
	} else if (ev->kind == PIPELINE_EV_TOOL_CALL) {
		on_call(s, c, ev);
	} else {
		on_done(s, c, ev);
	}
}

/* ---------------------------------------------------------------------------
 * Lifetime
 */
int rt_open(services *s, struct conn *c)
{
	struct rt_session *rs = calloc(1, sizeof(*rs));
	cJSON *ev;
	int rc;

	svc_metrics_request(s, R_REALTIME, 200); /* the upgrade was accepted */
	if (!rs)
		return HEARTH_ENOMEM;
	rs->temperature = -1;
	rc = s->pl ? pipeline_session_open(s->pl, &rs->sid) : HEARTH_ESTATE;
	c->rt = rs;
	if (rc || s->n_ws >= s->max_sessions) {
		if (!rc)
			pipeline_session_close(s->pl, rs->sid);
		rs->sid = 0;
		s->m.ws_rejected++;
		send_error(s, c, "session_limit_reached", NULL, NULL,
			   "too many sessions are open; try again later");
		c->close_after = true;
		return 0;
	}
	s->n_ws++;
	svc_new_id(s, "sess", rs->id, sizeof(rs->id));
	ev = cJSON_CreateObject();
	cJSON_AddItemToObject(ev, "session", session_json(s, rs));
	send_event(s, c, "session.created", ev);
	return 0;
}

void rt_close(services *s, struct conn *c)
{
	struct rt_session *rs = c->rt;
	struct rt_item *it, *next;

	if (!rs)
		return;
	if (rs->sid) {
		pipeline_session_close(s->pl, rs->sid); /* cancels its job */
		s->n_ws--;
	}
	for (it = rs->items; it; it = next) {
		next = it->next;
		item_free(it);
	}
	item_free(rs->msg);
	cJSON_Delete(rs->tools);
	cJSON_Delete(rs->output);
	free(rs->tools_chat);
	free(rs->instructions);
	free(rs);
	c->rt = NULL;
	c->job = 0;
}
