/*
 * chat.c — chat prompt rendering: messages (+ tool definitions, tool calls
 * and tool results) into the text a chat model was trained on.
 *
 *   ChatML   "<|im_start|>role\ncontent<|im_end|>\n" per message (Qwen2/2.5,
 *            SmolLM2). Tools follow Qwen2.5's Hermes-style template: a
 *            <tools> block in the system turn, assistant calls as
 *            <tool_call>{json}</tool_call>, results as <tool_response>
 *            blocks in a user turn.
 *   Llama 3  bos + "<|start_header_id|>role<|end_header_id|>\n\n" content
 *            "<|eot_id|>". Tools: see render_llama3_system() for our choice.
 *   RAW      contents concatenated (no markup, tools not rendered).
 *
 * JSON we re-emit (tool definitions, call arguments) is printed the way the
 * reference Jinja templates print it — Python's json.dumps defaults
 * (", " and ": " separators, non-ASCII kept as is) — because that is the
 * text the models saw in training. cJSON does not keep the source spelling
 * of numbers, so an integral float such as 1.0 comes out as 1.
 *
 * Threading: pure functions over their arguments; cJSON's parser records
 * its last error position in a process-wide variable, which we never read.
 */
#include "engine_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* ---------------------------------------------------------------------------
 * Output buffer
 */
struct sbuf {
	char *p;   /* (cap) NUL-terminated while !oom */
	size_t n, cap;
	bool oom;
};

static void sb_addn(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = (b->n + n + 1) * 2 + 256;
		char *p = realloc(b->p, cap);

		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void sb_add(struct sbuf *b, const char *s)
{
	if (s)
		sb_addn(b, s, strlen(s));
}

/* ---------------------------------------------------------------------------
 * JSON printed as Python's json.dumps(x, ensure_ascii=False)
 */
static void dump_string(struct sbuf *b, const char *s)
{
	sb_addn(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		switch (c) {
		case '"': sb_addn(b, "\\\"", 2); break;
		case '\\': sb_addn(b, "\\\\", 2); break;
		case '\n': sb_addn(b, "\\n", 2); break;
		case '\r': sb_addn(b, "\\r", 2); break;
		case '\t': sb_addn(b, "\\t", 2); break;
		case '\b': sb_addn(b, "\\b", 2); break;
		case '\f': sb_addn(b, "\\f", 2); break;
		default:
			if (c < 0x20) {
				snprintf(esc, sizeof(esc), "\\u%04x", c);
				sb_add(b, esc);
			} else {
				sb_addn(b, s, 1);
			}
		}
	}
	sb_addn(b, "\"", 1);
}

/* Integers as integers; other values in the shortest form that reads back
 * exactly (Python's float repr). */
static void dump_number(struct sbuf *b, double d)
{
	char tmp[40];

	if (d == floor(d) && fabs(d) < 1e16) {
		snprintf(tmp, sizeof(tmp), "%.0f", d);
	} else {
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
			if (strtod(tmp, NULL) == d)
				break;
		}
	}
	sb_add(b, tmp);
}

static void dump_json(struct sbuf *b, const cJSON *j)
{
	const cJSON *c;

	if (cJSON_IsObject(j) || cJSON_IsArray(j)) {
		bool obj = cJSON_IsObject(j);

		sb_add(b, obj ? "{" : "[");
		for (c = j->child; c; c = c->next) {
			if (obj) {
				dump_string(b, c->string ? c->string : "");
				sb_add(b, ": ");
			}
			dump_json(b, c);
			if (c->next)
				sb_add(b, ", ");
		}
		sb_add(b, obj ? "}" : "]");
	} else if (cJSON_IsString(j)) {
		dump_string(b, j->valuestring);
	} else if (cJSON_IsNumber(j)) {
		dump_number(b, j->valuedouble);
	} else if (cJSON_IsBool(j)) {
		sb_add(b, cJSON_IsTrue(j) ? "true" : "false");
	} else {
		sb_add(b, "null");
	}
}

/* ---------------------------------------------------------------------------
 * Tool definitions and tool calls
 */
static int parse_json(const char *text, const char *what, cJSON **out,
		      char *err, size_t errlen)
{
	const char *end = NULL;

	*out = cJSON_ParseWithOpts(text, &end, true);
	if (*out)
		return 0;
	return engine_errf(err, errlen, HEARTH_EINVAL,
			   "%s: malformed JSON at offset %ld", what,
			   end ? (long)(end - text) : 0L);
}

/* The tools: an array (or one object) of OpenAI tool objects
 * {"type":"function","function":{...}} or bare function objects. */
struct tools {
	cJSON *root;
	const cJSON **fns; /* (n) function objects, into root */
	int n;
};

static void tools_free(struct tools *t)
{
	cJSON_Delete(t->root);
	free(t->fns);
	memset(t, 0, sizeof(*t));
}

/* Keys named x-hearth-… are directives to Hearth's decoder (the JSON
 * guard's x-hearth-verbatim), not part of what the model is shown: a tool
 * renders the same with or without them. */
static void strip_directives(cJSON *v)
{
	cJSON *c = v ? v->child : NULL, *next;

	for (; c; c = next) {
		next = c->next;
		if (cJSON_IsObject(v) && c->string && !strncmp(c->string, "x-hearth-", 9))
			cJSON_Delete(cJSON_DetachItemViaPointer(v, c));
		else
			strip_directives(c);
	}
}

static int tools_parse(const char *json, struct tools *t, char *err,
		       size_t errlen)
{
	const cJSON *item;
	int rc, i = 0;

	memset(t, 0, sizeof(*t));
	if (!json)
		return 0;
	rc = parse_json(json, "tools_json", &t->root, err, errlen);
	if (rc)
		return rc;
	strip_directives(t->root);
	if (!cJSON_IsArray(t->root) && !cJSON_IsObject(t->root)) {
		rc = engine_errf(err, errlen, HEARTH_EINVAL,
				 "tools_json: expected an array of tool objects");
		goto out_free;
	}
	item = cJSON_IsArray(t->root) ? t->root->child : t->root;
	t->n = cJSON_IsArray(t->root) ? cJSON_GetArraySize(t->root) : 1;
	t->fns = calloc((size_t)(t->n ? t->n : 1), sizeof(*t->fns));
	if (!t->fns) {
		rc = engine_errf(err, errlen, HEARTH_ENOMEM, "tools_json: out of memory");
		goto out_free;
	}
	for (; i < t->n; i++, item = item->next) {
		const cJSON *fn = cJSON_GetObjectItemCaseSensitive(item, "function");

		if (!cJSON_IsObject(fn))
			fn = item;
		if (!cJSON_IsObject(fn) ||
		    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(fn, "name"))) {
			rc = engine_errf(err, errlen, HEARTH_EINVAL,
					 "tools_json[%d]: not a tool (no function name)", i);
			goto out_free;
		}
		t->fns[i] = fn;
	}
	return 0;
out_free:
	tools_free(t);
	return rc;
}

/* One tool as the templates print it: {"type": "function", "function": …} */
static void put_tool(struct sbuf *b, const cJSON *fn)
{
	sb_add(b, "{\"type\": \"function\", \"function\": ");
	dump_json(b, fn);
	sb_add(b, "}");
}

/* An assistant message's calls: [{"name":…, "arguments":{…}}], the OpenAI
 * form {"function":{"name","arguments"}} too; arguments given as a JSON
 * string (as OpenAI sends them) are parsed. */
struct call {
	const char *name;
	const cJSON *args;  /* NULL → {} */
	cJSON *owned;       /* args parsed from a string */
};

struct calls {
	cJSON *root;
	struct call *c; /* (n) */
	int n;
};

static void calls_free(struct calls *cs)
{
	for (int i = 0; i < cs->n; i++)
		cJSON_Delete(cs->c[i].owned);
	free(cs->c);
	cJSON_Delete(cs->root);
	memset(cs, 0, sizeof(*cs));
}

static int call_fill(const cJSON *item, struct call *c, int mi, int i,
		     char *err, size_t errlen)
{
	const cJSON *fn = cJSON_GetObjectItemCaseSensitive(item, "function");
	const cJSON *name, *args;

	if (!cJSON_IsObject(fn))
		fn = item;
	name = cJSON_GetObjectItemCaseSensitive(fn, "name");
	if (!cJSON_IsString(name))
		return engine_errf(err, errlen, HEARTH_EINVAL,
				   "msgs[%d].tool_calls[%d]: no function name", mi, i);
	c->name = name->valuestring;
	args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
	if (cJSON_IsString(args)) {
		c->owned = cJSON_Parse(args->valuestring);
		if (c->owned)
			args = c->owned;
	}
	c->args = args;
	return 0;
}

static int calls_parse(const char *json, int mi, struct calls *cs, char *err,
		       size_t errlen)
{
	char what[64];
	const cJSON *item;
	int rc, i = 0;

	memset(cs, 0, sizeof(*cs));
	if (!json)
		return 0;
	snprintf(what, sizeof(what), "msgs[%d].tool_calls", mi);
	rc = parse_json(json, what, &cs->root, err, errlen);
	if (rc)
		return rc;
	if (!cJSON_IsArray(cs->root)) {
		rc = engine_errf(err, errlen, HEARTH_EINVAL,
				 "%s: expected a JSON array", what);
		goto out_free;
	}
	cs->c = calloc((size_t)cJSON_GetArraySize(cs->root) + 1, sizeof(*cs->c));
	if (!cs->c) {
		rc = engine_errf(err, errlen, HEARTH_ENOMEM, "%s: out of memory", what);
		goto out_free;
	}
	for (item = cs->root->child; item; item = item->next, i++) {
		cs->n = i + 1; /* so calls_free sees what call_fill owns */
		rc = call_fill(item, &cs->c[i], mi, i, err, errlen);
		if (rc)
			goto out_free;
	}
	return 0;
out_free:
	calls_free(cs);
	return rc;
}

/* {"name": "get_weather", "<args_key>": {...}} */
static void put_call(struct sbuf *b, const struct call *c, const char *args_key)
{
	sb_add(b, "{\"name\": ");
	dump_string(b, c->name);
	sb_add(b, ", ");
	dump_string(b, args_key);
	sb_add(b, ": ");
	if (c->args)
		dump_json(b, c->args);
	else
		sb_add(b, "{}");
	sb_add(b, "}");
}

/* ---------------------------------------------------------------------------
 * Messages
 */
static bool role_is(const engine_chat_msg *m, const char *role)
{
	return m->role && !strcmp(m->role, role);
}

static int check_roles(const engine_chat_msg *msgs, int n, char *err,
		       size_t errlen)
{
	static const char *const roles[] = { "system", "user", "assistant", "tool" };

	if (n < 0 || (n > 0 && !msgs))
		return engine_errf(err, errlen, HEARTH_EINVAL,
				   "chat: %d messages at %p", n, (const void *)msgs);
	for (int i = 0; i < n; i++) {
		bool ok = false;

		for (size_t r = 0; r < sizeof(roles) / sizeof(roles[0]); r++)
			ok |= role_is(&msgs[i], roles[r]);
		if (!ok)
			return engine_errf(err, errlen, HEARTH_EINVAL,
					   "msgs[%d]: unknown role '%s' (expected system, "
					   "user, assistant or tool)",
					   i, msgs[i].role ? msgs[i].role : "(null)");
	}
	return 0;
}

/* ---------------------------------------------------------------------------
 * ChatML (Hermes tools, as Qwen2.5's template)
 */
static const char hermes_tools_head[] =
	"\n\n# Tools\n\nYou may call one or more functions to assist with the user "
	"query.\n\nYou are provided with function signatures within "
	"<tools></tools> XML tags:\n<tools>";
static const char hermes_tools_tail[] =
	"\n</tools>\n\nFor each function call, return a json object with function "
	"name and arguments within <tool_call></tool_call> XML tags:\n"
	"<tool_call>\n{\"name\": <function-name>, \"arguments\": "
	"<args-json-object>}\n</tool_call>";

static void chatml_system_with_tools(struct sbuf *b, const engine_chat_msg *sys,
				     const struct tools *t)
{
	sb_add(b, "<|im_start|>system\n");
	sb_add(b, sys ? sys->content : "You are a helpful assistant.");
	sb_add(b, hermes_tools_head);
	for (int i = 0; i < t->n; i++) {
		sb_add(b, "\n");
		put_tool(b, t->fns[i]);
	}
	sb_add(b, hermes_tools_tail);
	sb_add(b, "<|im_end|>\n");
}

static void chatml_assistant_calls(struct sbuf *b, const engine_chat_msg *m,
				   const struct calls *cs)
{
	sb_add(b, "<|im_start|>assistant");
	if (m->content && *m->content) {
		sb_add(b, "\n");
		sb_add(b, m->content);
	}
	for (int i = 0; i < cs->n; i++) {
		sb_add(b, "\n<tool_call>\n");
		put_call(b, &cs->c[i], "arguments");
		sb_add(b, "\n</tool_call>");
	}
	sb_add(b, "<|im_end|>\n");
}

/* Consecutive tool results share one user turn. */
static void chatml_tool_result(struct sbuf *b, const engine_chat_msg *msgs,
			       int n, int i)
{
	if (i == 0 || !role_is(&msgs[i - 1], "tool"))
		sb_add(b, "<|im_start|>user");
	sb_add(b, "\n<tool_response>\n");
	sb_add(b, msgs[i].content);
	sb_add(b, "\n</tool_response>");
	if (i == n - 1 || !role_is(&msgs[i + 1], "tool"))
		sb_add(b, "<|im_end|>\n");
}

static void chatml_turn(struct sbuf *b, const engine_chat_msg *m)
{
	sb_add(b, "<|im_start|>");
	sb_add(b, m->role);
	sb_add(b, "\n");
	sb_add(b, m->content);
	sb_add(b, "<|im_end|>\n");
}

/* The conversation's own system message, else the model's default (a
 * message of its own; NULL if the model has none). */
static const engine_chat_msg *system_msg(const engine_chat_msg *msgs, int n,
					 const char *default_system,
					 engine_chat_msg *dflt)
{
	if (n > 0 && role_is(&msgs[0], "system"))
		return &msgs[0];
	if (!default_system)
		return NULL;
	*dflt = (engine_chat_msg){ .role = "system", .content = default_system };
	return dflt;
}

static int render_chatml(struct sbuf *b, const char *default_system,
			 const engine_chat_msg *msgs, int n,
			 const struct tools *t, bool add_assistant, char *err,
			 size_t errlen)
{
	engine_chat_msg dflt;
	const engine_chat_msg *sys = system_msg(msgs, n, default_system, &dflt);
	int i = 0, rc = 0;

	if (t->n > 0) {
		chatml_system_with_tools(b, sys, t);
		i = n > 0 && sys == msgs;
	} else if (sys == &dflt) {
		chatml_turn(b, sys);
	}
	for (; !rc && i < n; i++) {
		const engine_chat_msg *m = &msgs[i];
		struct calls cs;

		if (role_is(m, "tool")) {
			chatml_tool_result(b, msgs, n, i);
			continue;
		}
		rc = calls_parse(role_is(m, "assistant") ? m->tool_calls : NULL,
				 i, &cs, err, errlen);
		if (!rc && cs.n > 0) {
			chatml_assistant_calls(b, m, &cs);
		} else if (!rc) {
			chatml_turn(b, m);
		}
		calls_free(&cs);
	}
	if (!rc && add_assistant)
		sb_add(b, "<|im_start|>assistant\n");
	return rc;
}

/* ---------------------------------------------------------------------------
 * Llama 3
 */
static void llama3_header(struct sbuf *b, const char *role)
{
	sb_add(b, "<|start_header_id|>");
	sb_add(b, role);
	sb_add(b, "<|end_header_id|>\n\n");
}

/*
 * Our choice for tools (Llama 3.1's own template puts them in the first
 * user turn by default, or in the system turn after an "Environment:
 * ipython" line): the system turn carries the system content, then an
 * instruction in the words of Llama 3.1's JSON tool-calling prompt, then
 * one tool definition per line. Calls are then expected — and rendered in
 * history — as Llama 3.1 emits them: {"name": …, "parameters": {…}}.
 */
static void render_llama3_system(struct sbuf *b, const engine_chat_msg *sys,
				 const struct tools *t)
{
	llama3_header(b, "system");
	if (sys && sys->content && *sys->content) {
		sb_add(b, sys->content);
		sb_add(b, "\n\n");
	}
	sb_add(b, "You have access to the following functions. To call a "
		  "function, respond with a JSON object of the form {\"name\": "
		  "function name, \"parameters\": dictionary of argument names "
		  "and their values}. Do not use variables.\n");
	for (int i = 0; i < t->n; i++) {
		sb_add(b, "\n");
		put_tool(b, t->fns[i]);
	}
	sb_add(b, "<|eot_id|>");
}

static int render_llama3(struct sbuf *b, const char *bos_text,
			 const char *default_system,
			 const engine_chat_msg *msgs, int n,
			 const struct tools *t, bool add_assistant, char *err,
			 size_t errlen)
{
	engine_chat_msg dflt;
	const engine_chat_msg *sys = system_msg(msgs, n, default_system, &dflt);
	int i = 0, rc = 0;

	sb_add(b, bos_text);
	if (t->n > 0) {
		render_llama3_system(b, sys, t);
		i = n > 0 && sys == msgs;
	} else if (sys == &dflt) {
		llama3_header(b, "system");
		sb_add(b, default_system);
		sb_add(b, "<|eot_id|>");
	}
	for (; !rc && i < n; i++) {
		const engine_chat_msg *m = &msgs[i];
		bool has_content = m->content && *m->content;
		struct calls cs;

		rc = calls_parse(role_is(m, "assistant") ? m->tool_calls : NULL,
				 i, &cs, err, errlen);
		if (rc)
			break;
		/* tool results go back in Llama 3's "ipython" role */
		llama3_header(b, role_is(m, "tool") ? "ipython" : m->role);
		sb_add(b, m->content);
		for (int k = 0; k < cs.n; k++) {
			if (k > 0 || has_content)
				sb_add(b, "\n");
			put_call(b, &cs.c[k], "parameters");
		}
		sb_add(b, "<|eot_id|>");
		calls_free(&cs);
	}
	if (!rc && add_assistant)
		llama3_header(b, "assistant");
	return rc;
}

/* ---------------------------------------------------------------------------
 * Entry points
 */
engine_chat_format engine_chat_detect(const char *chat_template,
				      const char *arch)
{
	if (chat_template && strstr(chat_template, "<|im_start|>"))
		return ENGINE_CHAT_CHATML;
	if (chat_template && strstr(chat_template, "<|start_header_id|>"))
		return ENGINE_CHAT_LLAMA3;
	/* no recognisable template: Qwen models are ChatML, and ChatML is
	 * the most common convention for the rest */
	(void)arch;
	return ENGINE_CHAT_CHATML;
}

int engine_chat_render_fmt(engine_chat_format fmt, const char *bos_text,
			   const char *default_system,
			   const engine_chat_msg *msgs, int n_msgs,
			   const char *tools_json, bool add_assistant,
			   char **out, char *err, size_t errlen)
{
	struct sbuf b = { 0 };
	struct tools t;
	int rc;

	if (!out)
		return engine_errf(err, errlen, HEARTH_EINVAL, "chat: out is NULL");
	*out = NULL;
	rc = check_roles(msgs, n_msgs, err, errlen);
	if (!rc)
		rc = tools_parse(tools_json, &t, err, errlen);
	if (rc)
		return rc;
	sb_addn(&b, "", 0); /* an empty prompt is still a string */
	switch (fmt) {
	case ENGINE_CHAT_CHATML:
		rc = render_chatml(&b, default_system, msgs, n_msgs, &t, add_assistant,
				   err, errlen);
		break;
	case ENGINE_CHAT_LLAMA3:
		rc = render_llama3(&b, bos_text, default_system, msgs, n_msgs, &t,
				   add_assistant, err, errlen);
		break;
	case ENGINE_CHAT_RAW:
		for (int i = 0; i < n_msgs; i++)
			sb_add(&b, msgs[i].content);
		break;
	default:
		rc = engine_errf(err, errlen, HEARTH_EINVAL,
				 "chat: format %d cannot be rendered", (int)fmt);
	}
	tools_free(&t);
	if (!rc && b.oom)
		rc = engine_errf(err, errlen, HEARTH_ENOMEM, "chat: out of memory");
	if (rc) {
		free(b.p);
		return rc;
	}
	*out = b.p;
	return 0;
}
