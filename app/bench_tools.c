/*
 * bench_tools.c — `hearth bench tools`: the held-out evaluation set
 * (assets/eval/heldout.jsonl, written by scripts/train/gen_home_data.py)
 * through the real engine, scored exactly as scripts/train/eval_tools.py
 * scores it, so the figures of the Python evaluation and of the shipped
 * C engine can be compared line for line.
 *
 * Each item is rendered with engine_chat_render and its tools, decoded
 * greedily until an end-of-generation token or TOOLS_MAX_NEW tokens, with
 * tool calls guarded by the JSON guard (the span after each <tool_call>
 * token must be a valid call of one of the item's tools). A call still open
 * at the cap may take up to TOOLS_MAX_FINISH more tokens to close: the
 * guard bounds every string, number and array in it, so it closes, and a
 * guarded call is never cut into invalid JSON. An item that carries an
 * OpenAI response_format (json_schema or json_object) has its whole reply
 * guarded instead, as a server honouring that field would. One context
 * serves every item; the shared prefix cache keeps the system prompt and
 * tool schemas, so they are prefilled once.
 *
 * Scoring (eval_tools.py):
 *   tool_calls     every <tool_call>…</tool_call> block parsed as JSON
 *                  {"name": str, "arguments": object}; tool-name accuracy
 *                  (first call's name), exact match (the list of calls equal
 *                  to the expected list, objects compared by value)
 *   refusal        no tool call, and the text says sorry/can't/cannot/can not
 *   no_tool_call   chat: no tool call and no refusal
 *   text_contains  answer after a tool result: no tool call, every string in
 *   entities       reply parsed as {"people": [...], "places": [...]};
 *                  micro precision/recall/F1 over (kind, name) pairs
 *   valid JSON     among tool-call blocks and entity replies, the share that
 *                  parse (calls also need the name and arguments types)
 * Figures with no item to count are NaN in the Python summary: "n/a" here,
 * null in --json.
 *
 * Threading: one thread drives the engine (its context uses --threads).
 */
#include "app.h"

#include "engine.h"
#include "pipeline.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define TOOLS_MAX_NEW 128   /* eval_tools.py decodes at most 96 */
#define TOOLS_MAX_FINISH 384 /* for a call open at the cap to close */
#define MAX_KINDS 16
#define TRIGGER "<tool_call>"

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------------------
 * Growing text buffer
 */
struct text {
	char *p;   /* (cap) NUL-terminated */
	size_t n, cap;
};

static bool text_add(struct text *t, const char *s, size_t n)
{
	if (t->n + n + 1 > t->cap) {
		size_t cap = (t->n + n + 1) * 2;
		char *p = realloc(t->p, cap);

		if (!p)
			return false;
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->n, s, n);
	t->n += n;
	t->p[t->n] = '\0';
	return true;
}

/* ---------------------------------------------------------------------------
 * Held-out items: one JSON object per line
 */
struct items {
	cJSON **v; /* (n) */
	int n;
};

static void items_free(struct items *it)
{
	for (int i = 0; i < it->n; i++)
		cJSON_Delete(it->v[i]);
	free(it->v);
	memset(it, 0, sizeof(*it));
}

static int items_add_line(struct items *it, char *line, const char *path, int lineno)
{
	cJSON **v, *j;

	while (*line && isspace((unsigned char)*line))
		line++;
	if (!*line)
		return 0;
	j = cJSON_Parse(line);
	if (!cJSON_IsObject(j) || !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(j, "messages")) ||
	    !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "expected"))) {
		fprintf(stderr, "hearth bench tools: %s:%d: not a held-out item "
			"(a JSON object with messages and expected)\n", path, lineno);
		cJSON_Delete(j);
		return -1;
	}
	v = realloc(it->v, ((size_t)it->n + 1) * sizeof(*v));
	if (!v) {
		cJSON_Delete(j);
		return -1;
	}
	it->v = v;
	it->v[it->n++] = j;
	return 0;
}

static int items_read(const char *path, struct items *it)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, rc = 0;

	memset(it, 0, sizeof(*it));
	if (!f) {
		fprintf(stderr, "hearth bench tools: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (!rc && getline(&line, &cap, f) >= 0)
		rc = items_add_line(it, line, path, ++lineno);
	free(line);
	fclose(f);
	if (!rc && it->n == 0) {
		fprintf(stderr, "hearth bench tools: %s: no items\n", path);
		rc = -1;
	}
	if (rc)
		items_free(it);
	return rc;
}

/* ---------------------------------------------------------------------------
 * Scoring, as scripts/train/eval_tools.py
 */
struct kind_count {
	char name[32];
	int n, ok;
};

struct score {
	int n, tool_items, tool_name_ok, tool_exact, json_blocks, json_valid;
	int refusal_items, refusal_ok, chat_items, chat_ok, answer_items, answer_ok;
	int ent_items, ent_tp, ent_fp, ent_fn, items_ok;
	struct kind_count kinds[MAX_KINDS];
	int n_kinds;
};

/* A block that json.loads accepts as {"name": str, "arguments": dict};
 * returns {"name", "arguments"} or NULL. */
static cJSON *parse_call(const char *b, size_t len)
{
	char *tmp = malloc(len + 1);
	cJSON *j, *call = NULL, *name, *args;

	if (!tmp)
		return NULL;
	memcpy(tmp, b, len);
	tmp[len] = '\0';
	j = cJSON_ParseWithOpts(tmp, NULL, true);
	free(tmp);
	name = cJSON_GetObjectItemCaseSensitive(j, "name");
	args = cJSON_GetObjectItemCaseSensitive(j, "arguments");
	if (cJSON_IsObject(j) && cJSON_IsString(name) && cJSON_IsObject(args)) {
		call = cJSON_CreateObject();
		cJSON_AddItemToObject(call, "name", cJSON_DetachItemViaPointer(j, name));
		cJSON_AddItemToObject(call, "arguments", cJSON_DetachItemViaPointer(j, args));
	}
	cJSON_Delete(j);
	return call;
}

/* TOOL_RE = <tool_call>\n?(.*?)\n?</tool_call> (re.S): every block, the
 * valid ones appended to calls. An unterminated block counts as one
 * invalid block. */
static void parse_calls(const char *text, cJSON *calls, int *n_blocks, int *n_valid)
{
	const char *p = text, *b, *e;

	*n_blocks = *n_valid = 0;
	while ((p = strstr(p, "<tool_call>"))) {
		cJSON *c;

		b = p + strlen("<tool_call>");
		if (*b == '\n')
			b++;
		e = strstr(b, "</tool_call>");
		if (!e)
			break;
		p = e + strlen("</tool_call>");
		if (e > b && e[-1] == '\n')
			e--;
		(*n_blocks)++;
		c = parse_call(b, (size_t)(e - b));
		if (c) {
			(*n_valid)++;
			cJSON_AddItemToArray(calls, c);
		}
	}
	if (*n_blocks == 0 && strstr(text, "<tool_call>"))
		*n_blocks = 1;
}

/* Python's \w on text: ASCII letters, digits, '_', and (approximately)
 * every non-ASCII byte, as non-ASCII letters are word characters. */
static bool is_word(unsigned char c)
{
	return isalnum(c) || c == '_' || c >= 0x80;
}

/* REFUSAL_RE = \b(sorry|can't|cannot|can not)\b, case-insensitive. */
static bool is_refusal(const char *text)
{
	static const char *const alt[] = { "sorry", "can't", "cannot", "can not" };

	for (size_t p = 0; text[p]; p++) {
		if (p > 0 && is_word((unsigned char)text[p - 1]))
			continue;
		for (size_t a = 0; a < sizeof(alt) / sizeof(alt[0]); a++) {
			size_t n = strlen(alt[a]);

			if (!strncasecmp(text + p, alt[a], n) && !is_word((unsigned char)text[p + n]))
				return true;
		}
	}
	return false;
}

static bool calls_equal(const cJSON *got, const cJSON *want)
{
	const cJSON *g = got ? got->child : NULL, *w = want ? want->child : NULL;

	for (; g && w; g = g->next, w = w->next)
		if (!cJSON_Compare(g, w, true))
			return false;
	return !g && !w && cJSON_IsArray(want);
}

/* A set of (kind, value) pairs as strings "people\x1fs:amara". */
struct pairs {
	char **v;
	int n;
};

static void pairs_free(struct pairs *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static bool pairs_has(const struct pairs *s, const char *x)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], x))
			return true;
	return false;
}

static void pairs_add(struct pairs *s, const char *kind, const char *tag, const char *val, size_t len)
{
	size_t n = strlen(kind) + strlen(tag) + len + 2;
	char *x = malloc(n), **v;

	if (!x)
		return;
	snprintf(x, n, "%s\x1f%s%.*s", kind, tag, (int)len, val);
	if (pairs_has(s, x) || !(v = realloc(s->v, ((size_t)s->n + 1) * sizeof(*v)))) {
		free(x);
		return;
	}
	s->v = v;
	s->v[s->n++] = x;
}

/* {(kind, x) for x in got.get(kind, [])}: a list's items, a string's
 * characters, an object's keys; false where Python raises (None, a
 * number, an unhashable list or dict item). */
static bool add_entities(struct pairs *s, const char *kind, const cJSON *v)
{
	const cJSON *x;

	if (!v)
		return true;
	if (cJSON_IsString(v)) {
		for (const char *p = v->valuestring; *p;) {
			size_t n = 1;

			while (((unsigned char)p[n] & 0xc0) == 0x80)
				n++;
			pairs_add(s, kind, "s:", p, n);
			p += n;
		}
		return true;
	}
	if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
		return false;
	cJSON_ArrayForEach(x, v) {
		char *j;

		if (cJSON_IsObject(v) || cJSON_IsString(x)) {
			const char *t = cJSON_IsObject(v) ? x->string : x->valuestring;

			pairs_add(s, kind, "s:", t, strlen(t));
			continue;
		}
		if (cJSON_IsArray(x) || cJSON_IsObject(x))
			return false;
		j = cJSON_PrintUnformatted(x);
		if (j)
			pairs_add(s, kind, "j:", j, strlen(j));
		cJSON_free(j);
	}
	return true;
}

/* Entity reply: returns whether got == expected; counts tp/fp/fn. */
static bool score_entities(const char *out, const cJSON *exp, struct score *s)
{
	struct pairs gp = { 0 }, ep = { 0 };
	cJSON *got = cJSON_ParseWithOpts(out, NULL, true);
	bool valid = cJSON_IsObject(got), same;
	int tp = 0;

	s->ent_items++;
	s->json_blocks++;
	valid = valid && add_entities(&gp, "people", cJSON_GetObjectItemCaseSensitive(got, "people")) &&
		add_entities(&gp, "places", cJSON_GetObjectItemCaseSensitive(got, "places"));
	if (!valid)
		pairs_free(&gp);
	s->json_valid += valid;
	add_entities(&ep, "people", cJSON_GetObjectItemCaseSensitive(exp, "people"));
	add_entities(&ep, "places", cJSON_GetObjectItemCaseSensitive(exp, "places"));
	for (int i = 0; i < gp.n; i++)
		tp += pairs_has(&ep, gp.v[i]);
	s->ent_tp += tp;
	s->ent_fp += gp.n - tp;
	s->ent_fn += ep.n - tp;
	same = tp == gp.n && tp == ep.n;
	pairs_free(&gp);
	pairs_free(&ep);
	cJSON_Delete(got);
	return same;
}

static bool contains_all(const char *out, const cJSON *want)
{
	const cJSON *x;

	cJSON_ArrayForEach(x, want)
		if (cJSON_IsString(x) && !strstr(out, x->valuestring))
			return false;
	return true;
}

static void count_kind(struct score *s, const char *kind, bool ok)
{
	int i;

	for (i = 0; i < s->n_kinds; i++)
		if (!strcmp(s->kinds[i].name, kind))
			break;
	if (i == s->n_kinds) {
		if (i == MAX_KINDS)
			return;
		snprintf(s->kinds[i].name, sizeof(s->kinds[i].name), "%s", kind);
		s->n_kinds++;
	}
	s->kinds[i].n++;
	s->kinds[i].ok += ok;
}

/* Score one reply; returns whether the item is right. */
static bool score_item(const cJSON *item, const char *out, struct score *s)
{
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(item, "expected");
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(item, "kind");
	const cJSON *want = cJSON_GetObjectItemCaseSensitive(exp, "tool_calls"), *x;
	cJSON *calls = cJSON_CreateArray();
	int nb, nv;
	bool ok;

	parse_calls(out, calls, &nb, &nv);
	s->n++;
	s->json_blocks += nb;
	s->json_valid += nv;
	if (want) {
		const cJSON *w0 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(want, 0), "name");
		const cJSON *g0 = cJSON_GetObjectItemCaseSensitive(calls->child, "name");

		s->tool_items++;
		s->tool_name_ok += g0 && w0 && cJSON_Compare(g0, w0, true);
		ok = calls_equal(calls, want);
		s->tool_exact += ok;
	} else if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(exp, "refusal"))) {
		s->refusal_items++;
		ok = !calls->child && nb == 0 && is_refusal(out);
		s->refusal_ok += ok;
	} else if ((x = cJSON_GetObjectItemCaseSensitive(exp, "entities"))) {
		ok = score_entities(out, x, s);
	} else if ((x = cJSON_GetObjectItemCaseSensitive(exp, "text_contains"))) {
		s->answer_items++;
		ok = nb == 0 && contains_all(out, x);
		s->answer_ok += ok;
	} else {
		s->chat_items++;
		ok = nb == 0 && !is_refusal(out);
		s->chat_ok += ok;
	}
	s->items_ok += ok;
	count_kind(s, cJSON_IsString(kind) ? kind->valuestring : "?", ok);
	cJSON_Delete(calls);
	return ok;
}

/* ---------------------------------------------------------------------------
 * Running the engine
 */
struct run {
	const struct hearth_cli *cli;
	engine_model *m;
	engine_context *ctx;
	engine_sampler *s;
	engine_prefix_cache *pc;
	engine_json_guard *guard;
	char *guard_spec;      /* what the guard was built from: 'T' + tools
				  JSON or 'S' + response schema */
	engine_chat_format fmt;
	int max_new;
	int32_t *toks;         /* (n_ctx) prompt tokens */
	struct text out;       /* the reply, special tokens rendered */
	long long prompt_tokens, cached_tokens, gen_tokens;
	bool guard_ok;         /* the vocabulary has the trigger token */
	bool finishing;        /* past the cap, inside a call */
	int after_close;       /* finishing: tokens since the call closed */
	int32_t last;          /* the last token generated */
	cJSON *replies;        /* --json: [{"id", "kind", "ok", "reply"}] */
	pipeline_speller *spell; /* mends user messages as the server does, or NULL */
	int mended;            /* words it mended, in all items */
};

static bool collect(int32_t tok, const char *piece, size_t len, void *ud)
{
	struct run *r = ud;
	char buf[256];
	int n;

	(void)piece;
	(void)len;
	/* once the call is closed: its </tool_call>, a few tokens at most */
	if (r->finishing && !engine_sampler_guard_active(r->s) && ++r->after_close > 4)
		return false;
	r->last = tok;
	n = engine_token_to_piece(r->m, tok, buf, sizeof(buf), true);
	if (n < 0 || !text_add(&r->out, buf, (size_t)n))
		return false;
	return !(r->finishing && n == 12 && !memcmp(buf, "</tool_call>", 12));
}

/* The cap came inside a guarded call: let it close. engine_generate
 * sampled the cap's token without evaluating it or showing it to the
 * sampler; do both, then go on while the call is open. Returns the tokens
 * added or a negative code. */
static int finish_call(struct run *r)
{
	int room = engine_n_ctx(r->ctx) - engine_n_past(r->ctx) - 2, rc;

	engine_sampler_accept(r->s, r->last);
	if (!engine_sampler_guard_active(r->s) || room <= 0)
		return 0;
	rc = engine_eval_next(r->ctx, r->last);
	if (rc)
		return rc;
	r->finishing = true;
	r->after_close = 0;
	rc = engine_generate(r->ctx, r->s, NULL, 0,
			     room < TOOLS_MAX_FINISH ? room : TOOLS_MAX_FINISH, collect, r);
	r->finishing = false;
	return rc;
}

/* The item's messages as engine_chat_msg; strings borrowed from the item,
 * assistant tool calls printed into owned[] (caller frees). */
static int item_msgs(const cJSON *msgs, engine_chat_msg *out, char **owned, int max)
{
	const cJSON *m;
	int n = 0;

	cJSON_ArrayForEach(m, msgs) {
		const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
		const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
		const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");

		if (n == max || !cJSON_IsString(role))
			return -1;
		out[n].role = role->valuestring;
		out[n].content = cJSON_IsString(content) ? content->valuestring : "";
		owned[n] = cJSON_IsArray(calls) && cJSON_GetArraySize(calls) ? cJSON_PrintUnformatted(calls) : NULL;
		out[n].tool_calls = owned[n];
		out[n].tool_call_id = NULL;
		n++;
	}
	return n;
}

/* The item's OpenAI response_format as a schema text (caller frees), or
 * NULL: {"type": "json_schema", "json_schema": {"schema": …}} or
 * {"type": "json_object"}. */
static char *response_schema(const cJSON *item)
{
	const cJSON *rf = cJSON_GetObjectItemCaseSensitive(item, "response_format");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(rf, "type");
	const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
	const cJSON *schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
	cJSON *obj;
	char *txt;

	if (!cJSON_IsString(type))
		return NULL;
	if (!strcmp(type->valuestring, "json_schema") && cJSON_IsObject(schema))
		return cJSON_PrintUnformatted(schema);
	if (strcmp(type->valuestring, "json_object"))
		return NULL;
	obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "type", "object");
	txt = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	return txt;
}

/* The item's guard (rebuilt only when it changes): its response_format,
 * the whole reply guarded; else its tools, each <tool_call> span guarded;
 * else (or for tools or a schema the guard cannot take) none. */
static int use_guard(struct run *r, const char *tools, const char *schema,
		     const char *user)
{
	const char *spec = schema ? schema : tools;
	char err[512], kind = schema ? 'S' : 'T';
	int rc;

	if (r->cli->no_guard || !spec || (!schema && !r->guard_ok))
		return engine_sampler_set_guard(r->s, r->m, NULL, NULL);
	if (!r->guard_spec || r->guard_spec[0] != kind || strcmp(r->guard_spec + 1, spec)) {
		engine_json_guard_free(r->guard);
		free(r->guard_spec);
		r->guard_spec = NULL;
		rc = schema ? engine_json_guard_new_schema(spec, &r->guard, err, sizeof(err))
			    : engine_json_guard_new_tools(spec, &r->guard, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "hearth bench tools: %s; decoding unguarded\n", err);
			return engine_sampler_set_guard(r->s, r->m, NULL, NULL);
		}
		if (asprintf(&r->guard_spec, "%c%s", kind, spec) < 0) {
			r->guard_spec = NULL;
			return HEARTH_ENOMEM;
		}
	}
	/* strings marked x-hearth-verbatim copy the user's words, as the
	 * server's do (pipeline_submit) */
	rc = engine_json_guard_set_source(r->guard, user, user && !r->cli->no_verbatim ?
					  strlen(user) : 0);
	if (rc)
		return rc;
	return engine_sampler_set_guard(r->s, r->m, r->guard, schema ? NULL : TRIGGER);
}

/* The content of the item's last user message, or NULL. */
static const char *last_user(const cJSON *item)
{
	const cJSON *m, *role, *content;
	const char *text = NULL;

	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(item, "messages")) {
		role = cJSON_GetObjectItemCaseSensitive(m, "role");
		content = cJSON_GetObjectItemCaseSensitive(m, "content");
		if (cJSON_IsString(role) && !strcmp(role->valuestring, "user") &&
		    cJSON_IsString(content))
			text = content->valuestring;
	}
	return text;
}

/* Render the item's prompt with its tools into *prompt (caller frees). */
static int render_item(struct run *r, const cJSON *item, char **prompt, char **tools)
{
	const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(item, "messages");
	const cJSON *tj = cJSON_GetObjectItemCaseSensitive(item, "tools");
	int n = cJSON_GetArraySize(msgs), k, rc;
	engine_chat_msg *cm = calloc((size_t)n + 1, sizeof(*cm));
	char **owned = calloc((size_t)n + 1, sizeof(*owned));

	*prompt = NULL;
	*tools = cJSON_IsArray(tj) && cJSON_GetArraySize(tj) ? cJSON_PrintUnformatted(tj) : NULL;
	rc = cm && owned ? 0 : HEARTH_ENOMEM;
	k = rc ? 0 : item_msgs(msgs, cm, owned, n);
	if (!rc && k < 0)
		rc = HEARTH_EINVAL;
	if (!rc)
		rc = engine_chat_render(r->m, r->fmt, cm, k, *tools, true, prompt);
	for (int i = 0; owned && i < n; i++)
		cJSON_free(owned[i]);
	free(owned);
	free(cm);
	return rc;
}

/* Decode one item into r->out. */
static int run_item(struct run *r, const cJSON *item)
{
	char *prompt = NULL, *tools = NULL, *schema = response_schema(item);
	int n, rc, n_ctx = engine_n_ctx(r->ctx);

	r->out.n = 0;
	if (r->out.p)
		r->out.p[0] = '\0';
	rc = render_item(r, item, &prompt, &tools);
	if (!rc)
		rc = use_guard(r, tools, schema, last_user(item));
	if (rc)
		goto out_free;
	n = engine_tokenize(r->m, prompt, strlen(prompt), engine_add_bos(r->m), true, r->toks, n_ctx);
	if (n < 0 || n + r->max_new > n_ctx) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");

		fprintf(stderr, "hearth bench tools: item %d: prompt of %d tokens does not fit "
			"the context (%d) with %d new tokens (--ctx)\n",
			cJSON_IsNumber(id) ? id->valueint : -1, n < 0 ? -n : n, n_ctx, r->max_new);
		rc = HEARTH_EFULL;
		goto out_free;
	}
	engine_kv_truncate(r->ctx, 0);
	rc = engine_eval(r->ctx, r->toks, n);
	r->prompt_tokens += n;
	r->cached_tokens += engine_last_cached(r->ctx);
	if (!rc)
		rc = engine_generate(r->ctx, r->s, NULL, 0, r->max_new, collect, r);
	if (rc > 0)
		r->gen_tokens += rc;
	if (rc == r->max_new && !r->cli->no_guard && (rc = finish_call(r)) > 0)
		r->gen_tokens += rc;
	rc = rc < 0 ? rc : 0;
out_free:
	free(prompt);
	cJSON_free(tools);
	cJSON_free(schema);
	return rc;
}

static int run_open(struct run *r)
{
	engine_model_params mp = engine_model_default_params();
	engine_context_params cp = engine_context_default_params();
	engine_sampler_params sp = engine_sampler_default_params();
	const struct hearth_cli *c = r->cli;
	engine_model_info info;
	char err[512];
	int32_t t[4];
	int rc = 0;

	mp.path = app_model_path(c);
	if (engine_model_load(&mp, &r->m, err, sizeof(err))) {
		fprintf(stderr, "hearth: %s\n", err);
		return HEARTH_EIO;
	}
	engine_model_get_info(r->m, &info);
	err[0] = '\0';
	if (!c->no_spell && (rc = pipeline_speller_new(r->m, NULL, &r->spell, err, sizeof(err)))) {
		fprintf(stderr, "hearth bench tools: %s\n", err[0] ? err : hearth_strerror(rc));
		return rc;
	}
	if (c->prefix_cache_mb > 0)
		rc = engine_prefix_cache_new(r->m, (size_t)c->prefix_cache_mb << 20, &r->pc);
	cp.n_ctx = c->ctx;
	cp.n_threads = c->threads;
	cp.prefix_cache = r->pc;
	if (!rc)
		rc = engine_context_new(r->m, &cp, &r->ctx);
	sp.temperature = 0.0f;          /* greedy, as eval_tools.py */
	sp.repeat_penalty = 1.0f;
	sp.repeat_last_n = 0;
	sp.lookahead = c->lookahead;    /* as the server's pipeline does */
	sp.lookahead_budget = pipeline_lookahead_budget(r->m);
	if (!rc)
		rc = engine_sampler_new(&sp, info.n_vocab, &r->s);
	if (!rc && !(r->toks = malloc((size_t)engine_n_ctx(r->ctx) * sizeof(*r->toks))))
		rc = HEARTH_ENOMEM;
	if (rc) {
		fprintf(stderr, "hearth bench tools: %s: %s\n", mp.path, hearth_strerror(rc));
		return rc;
	}
	r->max_new = c->max_tokens > 0 && c->max_tokens < TOOLS_MAX_NEW ? c->max_tokens : TOOLS_MAX_NEW;
	r->guard_ok = engine_tokenize(r->m, TRIGGER, strlen(TRIGGER), false, true, t, 4) == 1;
	if (!r->guard_ok && !c->no_guard)
		fprintf(stderr, "hearth bench tools: %s has no single " TRIGGER " token: "
			"tool calls are not guarded\n", mp.path);
	return 0;
}

static void run_close(struct run *r)
{
	pipeline_speller_free(r->spell);
	engine_sampler_free(r->s);
	engine_json_guard_free(r->guard);
	free(r->guard_spec);
	engine_context_free(r->ctx);
	engine_prefix_cache_free(r->pc);
	engine_model_free(r->m);
	free(r->toks);
	free(r->out.p);
	cJSON_Delete(r->replies);
}

/* ---------------------------------------------------------------------------
 * Report
 */
static double ratio(long long a, long long b)
{
	return b ? (double)a / (double)b : NAN;
}

/*
 * The Wilson score interval at 95 % (z = 1.96) around ok/n: how far the
 * true rate may lie from one sample's. A few hundred held-out calls cannot
 * tell 94 % from 95 %, and a reader comparing a figure with the bar should
 * see that at once (699 of 746 calls, 93.7 %: 91.7 to 95.2 %). Wilson rather
 * than the normal approximation, which runs past 1 near 100 %.
 */
static void wilson95(long long ok, long long n, double *lo, double *hi)
{
	const double z = 1.96;
	double p, d, mid, half;

	if (n <= 0) {
		*lo = *hi = NAN;
		return;
	}
	p = (double)ok / (double)n;
	d = 1.0 + z * z / (double)n;
	mid = (p + z * z / (2.0 * (double)n)) / d;
	half = z * sqrt(p * (1.0 - p) / (double)n + z * z / (4.0 * (double)n * (double)n)) / d;
	*lo = fmax(0.0, mid - half);
	*hi = fmin(1.0, mid + half);
}

struct entity_prf {
	double p, r, f1;
};

/* eval_tools.summary(): NaN where a denominator is 0. */
static struct entity_prf entity_figures(const struct score *s)
{
	struct entity_prf e;

	e.p = ratio(s->ent_tp, s->ent_tp + s->ent_fp);
	e.r = ratio(s->ent_tp, s->ent_tp + s->ent_fn);
	e.f1 = isnan(e.p) || isnan(e.r) || e.p + e.r == 0.0 ? NAN : 2 * e.p * e.r / (e.p + e.r);
	return e;
}

/* "0.950", or "n/a" for NaN (nothing to count) */
static const char *fmt3(double v, char *buf)
{
	if (isnan(v))
		return "n/a";
	snprintf(buf, 16, "%.3f", v);
	return buf;
}

static void print_figure(const char *label, int ok, int n, const char *what)
{
	if (n)
		printf("  %-22s %6.3f  (%d/%d %s)\n", label, (double)ok / n, ok, n, what);
	else
		printf("  %-22s    n/a  (no %s)\n", label, what);
}

static void print_text(const struct run *r, const struct score *s, const char *data,
		       double secs)
{
	struct entity_prf e = entity_figures(s);
	char b[3][16];

	printf("hearth bench tools: %s on %s (%d items, greedy, %s, at most %d new tokens)\n",
	       app_model_path(r->cli), data, s->n,
	       r->cli->no_guard || !r->guard_ok ? "tool calls unguarded" :
	       r->cli->no_verbatim ? "tool calls guarded, verbatim strings free" :
	       "tool calls guarded",
	       r->max_new);
	print_figure("tool-name accuracy", s->tool_name_ok, s->tool_items, "tool items");
	print_figure("exact argument match", s->tool_exact, s->tool_items, "tool items");
	if (s->tool_items) {
		double lo, hi;

		wilson95(s->tool_exact, s->tool_items, &lo, &hi);
		printf("  %-22s %6.3f to %.3f (Wilson)\n", "  95 % interval", lo, hi);
	}
	print_figure("valid JSON", s->json_valid, s->json_blocks, "tool-call blocks and entity replies");
	print_figure("refusal accuracy", s->refusal_ok, s->refusal_items, "refusal items");
	print_figure("chat accuracy", s->chat_ok, s->chat_items, "chat items, no tool call");
	print_figure("answer after a tool", s->answer_ok, s->answer_items, "tool-answer items");
	printf("  %-22s %6s  (P %s, R %s; %d entity items)\n", "entity F1 (micro)",
	       fmt3(e.f1, b[0]), fmt3(e.p, b[1]), fmt3(e.r, b[2]), s->ent_items);
	print_figure("items right", s->items_ok, s->n, "items");
	if (r->spell)
		printf("  typos mended: %d words (--no-spell: as written)\n", r->mended);
	else
		printf("  typos mended: none (%s)\n", r->cli->no_spell ? "--no-spell" : "the model has no lexicon");
	printf("  per kind:");
	for (int i = 0; i < s->n_kinds; i++)
		printf(" %s %d/%d", s->kinds[i].name, s->kinds[i].ok, s->kinds[i].n);
	printf("\n  %.2f s: %lld prompt tokens (%lld from the prefix cache), %lld generated "
	       "(%.1f tokens/s)\n", secs, r->prompt_tokens, r->cached_tokens, r->gen_tokens,
	       secs > 0 ? (double)r->gen_tokens / secs : 0.0);
}

static void print_json(const struct run *r, const struct score *s, const char *data,
		       double secs)
{
	struct entity_prf e = entity_figures(s);
	cJSON *o = cJSON_CreateObject(), *counts, *kinds;
	char *txt;

	cJSON_AddStringToObject(o, "model", app_model_path(r->cli));
	cJSON_AddStringToObject(o, "data", data);
	cJSON_AddBoolToObject(o, "guarded", !r->cli->no_guard && r->guard_ok);
	cJSON_AddBoolToObject(o, "spelling", r->spell != NULL);
	cJSON_AddNumberToObject(o, "mended_words", r->mended);
	cJSON_AddBoolToObject(o, "verbatim", !r->cli->no_guard && r->guard_ok &&
			      !r->cli->no_verbatim);
	cJSON_AddNumberToObject(o, "items", s->n);
	cJSON_AddNumberToObject(o, "items_ok", s->items_ok);
	/* cJSON prints NaN as null */
	cJSON_AddNumberToObject(o, "tool_name_accuracy", ratio(s->tool_name_ok, s->tool_items));
	cJSON_AddNumberToObject(o, "tool_exact_match", ratio(s->tool_exact, s->tool_items));
	{
		double ci[2];

		wilson95(s->tool_exact, s->tool_items, &ci[0], &ci[1]);
		cJSON_AddItemToObject(o, "tool_exact_interval", cJSON_CreateDoubleArray(ci, 2));
	}
	cJSON_AddNumberToObject(o, "valid_json_rate", ratio(s->json_valid, s->json_blocks));
	cJSON_AddNumberToObject(o, "refusal_accuracy", ratio(s->refusal_ok, s->refusal_items));
	cJSON_AddNumberToObject(o, "chat_accuracy", ratio(s->chat_ok, s->chat_items));
	cJSON_AddNumberToObject(o, "tool_answer_accuracy", ratio(s->answer_ok, s->answer_items));
	cJSON_AddNumberToObject(o, "entity_precision", e.p);
	cJSON_AddNumberToObject(o, "entity_recall", e.r);
	cJSON_AddNumberToObject(o, "entity_f1", e.f1);
	counts = cJSON_AddObjectToObject(o, "counts");
	cJSON_AddNumberToObject(counts, "tool_items", s->tool_items);
	cJSON_AddNumberToObject(counts, "tool_exact", s->tool_exact);
	cJSON_AddNumberToObject(counts, "refusal_items", s->refusal_items);
	cJSON_AddNumberToObject(counts, "chat_items", s->chat_items);
	cJSON_AddNumberToObject(counts, "answer_items", s->answer_items);
	cJSON_AddNumberToObject(counts, "ent_items", s->ent_items);
	cJSON_AddNumberToObject(counts, "json_blocks", s->json_blocks);
	cJSON_AddNumberToObject(counts, "json_valid", s->json_valid);
	kinds = cJSON_AddObjectToObject(o, "kinds");
	for (int i = 0; i < s->n_kinds; i++) {
		cJSON *k = cJSON_AddObjectToObject(kinds, s->kinds[i].name);

		cJSON_AddNumberToObject(k, "items", s->kinds[i].n);
		cJSON_AddNumberToObject(k, "ok", s->kinds[i].ok);
	}
	cJSON_AddNumberToObject(o, "seconds", secs);
	cJSON_AddNumberToObject(o, "prompt_tokens", (double)r->prompt_tokens);
	cJSON_AddNumberToObject(o, "cached_tokens", (double)r->cached_tokens);
	cJSON_AddNumberToObject(o, "gen_tokens", (double)r->gen_tokens);
	if (r->replies)
		cJSON_AddItemReferenceToObject(o, "replies", r->replies);
	txt = cJSON_PrintUnformatted(o);
	if (txt)
		printf("%s\n", txt);
	cJSON_free(txt);
	cJSON_Delete(o);
}

/* "FAIL id kind: user\n  expected …\n  got …" as eval_tools.py prints. */
static char *failure_line(const cJSON *item, const char *out)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(item, "kind");
	const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(item, "messages");
	const cJSON *last = cJSON_GetArrayItem(msgs, cJSON_GetArraySize(msgs) - 1);
	const cJSON *user = cJSON_GetObjectItemCaseSensitive(last, "content");
	char *exp = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(item, "expected"));
	char *line = NULL;

	if (asprintf(&line, "FAIL %d %s: %s\n  expected %s\n  got      %s\n",
		     cJSON_IsNumber(id) ? id->valueint : -1,
		     cJSON_IsString(kind) ? kind->valuestring : "?",
		     cJSON_IsString(user) ? user->valuestring : "",
		     exp ? exp : "?", out) < 0)
		line = NULL;
	cJSON_free(exp);
	return line;
}

/* Each item's reply in the --json object, so it can be rescored (the e2e
 * test checks these figures against eval_tools.py's own scoring). */
static void add_reply(cJSON *replies, const cJSON *item, const char *out, bool ok)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddItemToObject(o, "id", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(item, "id"), true));
	cJSON_AddItemToObject(o, "kind", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(item, "kind"), true));
	cJSON_AddBoolToObject(o, "ok", ok);
	cJSON_AddStringToObject(o, "reply", out);
	cJSON_AddItemToArray(replies, o);
}

/* Every user message of every item with its typos mended, as
 * pipeline_submit mends a request (the model reads, and verbatim strings
 * copy, the mended words). */
static int mend_items(struct run *r, const struct items *it)
{
	for (int i = 0; r->spell && i < it->n; i++) {
		cJSON *m;

		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(it->v[i], "messages")) {
			cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
			cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
			char *fixed = NULL;
			int n;

			if (!cJSON_IsString(role) || strcmp(role->valuestring, "user") ||
			    !cJSON_IsString(content))
				continue;
			n = pipeline_speller_fix(r->spell, content->valuestring, &fixed);
			if (n < 0)
				return n;
			if (n && !cJSON_ReplaceItemInObjectCaseSensitive(m, "content",
									 cJSON_CreateString(fixed))) {
				free(fixed);
				return HEARTH_ENOMEM;
			}
			r->mended += n;
			free(fixed);
		}
	}
	return 0;
}

/* Every item through the engine; failures kept for the report. */
static int run_all(struct run *r, const struct items *it, struct score *s,
		   char **fails, int max_fail, int *n_fail)
{
	for (int i = 0; i < it->n; i++) {
		int rc = run_item(r, it->v[i]);
		const char *out = r->out.p ? r->out.p : "";

		bool ok;

		if (rc && rc != HEARTH_EFULL)
			return rc;
		out = rc ? "" : out;
		ok = score_item(it->v[i], out, s);
		if (!ok && *n_fail < max_fail)
			fails[(*n_fail)++] = failure_line(it->v[i], out);
		if (r->replies)
			add_reply(r->replies, it->v[i], out, ok);
	}
	return 0;
}

int app_bench_tools(const struct hearth_cli *c)
{
	const char *data = c->data[0] ? c->data : HEARTH_ASSETS_DIR "/eval/heldout.jsonl";
	char **fails;
	struct run r = { .cli = c };
	struct score s = { 0 };
	struct items it;
	int rc, fmt, n_fail = 0, max_fail;
	double t0;

	fmt = engine_chat_format_parse(c->chat_format[0] ? c->chat_format : "auto");
	if (fmt < 0)
		return app_usage_error(c->cmd, "--chat-format needs auto, chatml, llama3 or raw");
	r.fmt = (engine_chat_format)fmt;
	if (c->failures < 0)
		return app_usage_error(c->cmd, "--failures needs a count of 0 or more");
	if (items_read(data, &it))
		return 1;
	max_fail = c->failures < it.n ? c->failures : it.n;
	fails = calloc((size_t)max_fail + 1, sizeof(*fails));
	if (!fails) {
		fprintf(stderr, "hearth bench tools: %s\n", hearth_strerror(HEARTH_ENOMEM));
		items_free(&it);
		return 1;
	}
	rc = run_open(&r); /* says what failed */
	if (!rc && c->json && !(r.replies = cJSON_CreateArray()))
		rc = HEARTH_ENOMEM;
	if (!rc)
		rc = mend_items(&r, &it);
	t0 = now_s();
	if (!rc && (rc = run_all(&r, &it, &s, fails, max_fail, &n_fail)) != 0)
		fprintf(stderr, "hearth bench tools: %s\n",
			*engine_context_error(r.ctx) ? engine_context_error(r.ctx)
						     : hearth_strerror(rc));
	if (!rc && c->json) {
		print_json(&r, &s, data, now_s() - t0);
	} else if (!rc) {
		print_text(&r, &s, data, now_s() - t0);
		for (int i = 0; i < n_fail; i++)
			if (fails[i])
				printf("%s", fails[i]);
	}
	for (int i = 0; i < n_fail; i++)
		free(fails[i]);
	free(fails);
	run_close(&r);
	items_free(&it);
	return rc ? 1 : 0;
}
