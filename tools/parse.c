/*
 * parse.c — the streaming Hermes tool-call parser (tools.h) and the UTF-8
 * checks the text path needs.
 *
 * Model output arrives one token piece at a time. The parser keeps one
 * buffer: outside a call it holds only what cannot be released yet (a
 * possible "<tool_call>" prefix, an incomplete UTF-8 sequence, whitespace
 * that may turn out to surround a call); inside a call it holds the call's
 * body until "</tool_call>". A body that is not a valid call goes out as
 * text, tags included, so nothing the model wrote is ever lost.
 *
 * Threading: a parser belongs to one generation on one thread.
 */
#include "tools.h"

#include "engine.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char OPEN_TAG[] = "<tool_call>";
static const char CLOSE_TAG[] = "</tool_call>";
#define OPEN_LEN (sizeof(OPEN_TAG) - 1)
#define CLOSE_LEN (sizeof(CLOSE_TAG) - 1)

struct buf {
	char *p;
	size_t len, cap;
};

struct tools_parser {
	tools_parser_cbs cbs;
	bool inside;        /* between <tool_call> and </tool_call> */
	int n_calls;
	struct buf in;      /* unreleased output (see the file comment) */
	struct buf ws;      /* whitespace held back outside calls */
	struct buf utf8;    /* trailing bytes of an incomplete sequence */
	struct buf out;     /* scratch for sanitized text */
};

/* ---------------------------------------------------------------------------
 * Buffers
 */
static int buf_reserve(struct buf *b, size_t extra)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (b->len + extra + 1 <= b->cap)
		return 0;
	while (cap < b->len + extra + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return HEARTH_ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

static int buf_add(struct buf *b, const char *s, size_t n)
{
	if (n == 0)
		return 0; /* s may be NULL then, and memcpy must not see it */
	if (buf_reserve(b, n))
		return HEARTH_ENOMEM;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

static void buf_consume(struct buf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
	if (b->p)
		b->p[b->len] = '\0';
}

/* ---------------------------------------------------------------------------
 * UTF-8
 */

/* Length of the valid sequence at s (n bytes available): > 0 valid, 0 a
 * valid but incomplete prefix, -1 invalid at the first byte. */
static int utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	int len, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		return -1;
	/* second-byte ranges exclude overlongs, surrogates and > U+10FFFF */
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	for (i = 1; i < len; i++) {
		if ((size_t)i >= n)
			return 0;
		if (s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xBF))
			return -1;
	}
	return len;
}

bool tools_utf8_valid(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		int l = utf8_seq((const unsigned char *)s + i, n - i);

		if (l <= 0)
			return false;
		i += (size_t)l;
	}
	return true;
}

/* Append s to out as valid UTF-8: invalid bytes become U+FFFD; with !final
 * an incomplete trailing sequence is stored in p->utf8 for the next call. */
static int sanitize(tools_parser *p, const char *s, size_t n, bool final)
{
	static const char repl[] = "\xEF\xBF\xBD";
	size_t i = 0;

	while (i < n) {
		int l = utf8_seq((const unsigned char *)s + i, n - i);

		if (l > 0) {
			if (buf_add(&p->out, s + i, (size_t)l))
				return HEARTH_ENOMEM;
			i += (size_t)l;
		} else if (l == 0 && !final) {
			return buf_add(&p->utf8, s + i, n - i);
		} else {
			if (buf_add(&p->out, repl, 3))
				return HEARTH_ENOMEM;
			i++;
		}
	}
	return 0;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Hand sanitized text to the callback; bytes of a sequence left incomplete
 * by the previous call are joined with s first. */
static int deliver(tools_parser *p, const char *s, size_t n, bool final)
{
	struct buf join = p->utf8;
	int rc = 0;

	p->out.len = 0;
	p->utf8 = (struct buf){ 0 };
	if (join.len) {
		rc = buf_add(&join, s, n);
		if (!rc)
			rc = sanitize(p, join.p, join.len, final);
	} else {
		rc = sanitize(p, s, n, final);
	}
	free(join.p);
	if (rc)
		return rc;
	if (p->out.len && p->cbs.text)
		p->cbs.text(p->out.p, p->out.len, p->cbs.user_data);
	return 0;
}

/* Release text outside calls: its trailing whitespace is held back, in
 * case a call follows. */
static int emit_text(tools_parser *p, const char *s, size_t n)
{
	size_t body = n;
	int rc;

	while (body && is_ws(s[body - 1]))
		body--;
	if (body) {
		if (p->ws.len) {
			rc = deliver(p, p->ws.p, p->ws.len, false);
			p->ws.len = 0;
			if (rc)
				return rc;
		}
		rc = deliver(p, s, body, false);
		if (rc)
			return rc;
	}
	return buf_add(&p->ws, s + body, n - body);
}

/* ---------------------------------------------------------------------------
 * Calls
 */
static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static int call_fields(const cJSON *root, char **name, char **arguments)
{
	const cJSON *nm = cJSON_GetObjectItemCaseSensitive(root, "name");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(root, "arguments");
	cJSON *parsed = NULL;
	int rc = HEARTH_EFORMAT;

	if (!args)
		args = cJSON_GetObjectItemCaseSensitive(root, "parameters");
	if (!cJSON_IsString(nm) || !nm->valuestring[0])
		return HEARTH_EFORMAT;
	if (cJSON_IsString(args)) {
		parsed = cJSON_Parse(args->valuestring);
		args = parsed;
	}
	if (args && !cJSON_IsObject(args))
		goto out_free_parsed;
	*arguments = args ? cJSON_PrintUnformatted(args) : dup_n("{}", 2);
	*name = dup_n(nm->valuestring, strlen(nm->valuestring));
	rc = *arguments && *name ? 0 : HEARTH_ENOMEM;
	if (rc) {
		free(*arguments);
		free(*name);
	}
out_free_parsed:
	cJSON_Delete(parsed);
	return rc;
}

int tools_parse_call(const char *json, size_t len, char **name,
		     char **arguments)
{
	const char *end = NULL;
	cJSON *root;
	int rc;

	*name = *arguments = NULL;
	if (!tools_utf8_valid(json, len))
		return HEARTH_EFORMAT;
	root = cJSON_ParseWithLengthOpts(json, len, &end, false);
	if (!root)
		return HEARTH_EFORMAT;
	while (end < json + len && is_ws(*end))
		end++;
	rc = end == json + len && cJSON_IsObject(root) ?
	     call_fields(root, name, arguments) : HEARTH_EFORMAT;
	cJSON_Delete(root);
	return rc;
}

/* The body of a call is complete: a call, or text with its tags. */
static int close_call(tools_parser *p, size_t body_len, bool closed)
{
	char *name, *args;
	int rc = tools_parse_call(p->in.p, body_len, &name, &args);

	if (rc == HEARTH_ENOMEM)
		return rc;
	if (rc == 0) {
		tools_call c = { p->n_calls++, name, args };

		p->ws.len = 0; /* whitespace before a call is dropped */
		if (p->cbs.call)
			p->cbs.call(&c, p->cbs.user_data);
		free(name);
		free(args);
		return 0;
	}
	rc = emit_text(p, OPEN_TAG, OPEN_LEN);
	if (!rc)
		rc = emit_text(p, p->in.p, body_len);
	if (!rc && closed)
		rc = emit_text(p, CLOSE_TAG, CLOSE_LEN);
	return rc;
}

/* ---------------------------------------------------------------------------
 * Streaming
 */

/* Length of the longest suffix of b that is a proper prefix of tag. */
static size_t partial_tag(const struct buf *b, const char *tag, size_t tag_len)
{
	size_t k = tag_len - 1 < b->len ? tag_len - 1 : b->len;

	for (; k > 0; k--)
		if (!memcmp(b->p + b->len - k, tag, k))
			return k;
	return 0;
}

static int step_outside(tools_parser *p, bool *progress)
{
	char *hit = memmem(p->in.p, p->in.len, OPEN_TAG, OPEN_LEN);
	size_t n;
	int rc;

	if (hit) {
		n = (size_t)(hit - p->in.p);
		rc = emit_text(p, p->in.p, n);
		buf_consume(&p->in, n + OPEN_LEN);
		p->inside = true;
		*progress = true;
		return rc;
	}
	n = p->in.len - partial_tag(&p->in, OPEN_TAG, OPEN_LEN);
	rc = emit_text(p, p->in.p, n);
	buf_consume(&p->in, n);
	return rc;
}

static int step_inside(tools_parser *p, bool *progress)
{
	char *hit = memmem(p->in.p, p->in.len, CLOSE_TAG, CLOSE_LEN);
	size_t n;
	int rc;

	if (!hit) {
		if (p->in.len <= TOOLS_CALL_MAX)
			return 0;
		/* too long to be a call: give it back as text */
		rc = emit_text(p, OPEN_TAG, OPEN_LEN);
		p->inside = false;
		*progress = true;
		return rc;
	}
	n = (size_t)(hit - p->in.p);
	rc = close_call(p, n, true);
	buf_consume(&p->in, n + CLOSE_LEN);
	p->inside = false;
	*progress = true;
	return rc;
}

int tools_parser_feed(tools_parser *p, const char *s, size_t n)
{
	bool progress = true;
	int rc;

	if (buf_add(&p->in, s, n))
		return HEARTH_ENOMEM;
	/* An empty buffer has nothing to step over, and before the first byte
	 * it has no storage either: memmem must not see its NULL. */
	while (progress && p->in.len) {
		progress = false;
		rc = p->inside ? step_inside(p, &progress)
			       : step_outside(p, &progress);
		if (rc)
			return rc;
	}
	return 0;
}

int tools_parser_finish(tools_parser *p)
{
	int rc = 0;

	if (p->inside)
		rc = close_call(p, p->in.len, false);
	else
		rc = emit_text(p, p->in.p, p->in.len);
	p->in.len = 0;
	p->inside = false;
	if (rc)
		return rc;
	if (p->n_calls == 0 && p->ws.len)
		rc = deliver(p, p->ws.p, p->ws.len, true);
	else
		rc = deliver(p, "", 0, true); /* flush an incomplete sequence */
	p->ws.len = 0;
	return rc;
}

int tools_parser_n_calls(const tools_parser *p)
{
	return p->n_calls;
}

int tools_parser_new(const tools_parser_cbs *cbs, tools_parser **out)
{
	tools_parser *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return HEARTH_ENOMEM;
	p->cbs = *cbs;
	*out = p;
	return 0;
}

void tools_parser_free(tools_parser *p)
{
	if (!p)
		return;
	free(p->in.p);
	free(p->ws.p);
	free(p->utf8.p);
	free(p->out.p);
	free(p);
}
