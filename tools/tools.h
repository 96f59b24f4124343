/*
 * tools.h — the assistant's callable tools (DESIGN.md §5 tools/). NOT BUILT
 * YET: the intended API, recorded for planning only.
 *
 * Intended API (prefix tools_):
 *   tools_registry_new(params, &reg)           built-ins: clock/date, timers,
 *       alarms, notes, lists, reminders (SQLite, WAL, durable before the
 *       acknowledgement), calculator, home control (MQTT / Home Assistant),
 *       weather provider.
 *   tools_schemas_json(reg)                    OpenAI-style tool array for
 *       the prompt (engine_chat_render's tools_json).
 *   tools_parse(text, &calls)                  <tool_call> blocks found in
 *       streamed output, validated against the schemas.
 *   tools_call(reg, call, timeout_ms, done_cb, user_data)  runs on a tool
 *       worker; a failing or hanging tool yields an error result.
 */
#ifndef HEARTH_TOOLS_H
#define HEARTH_TOOLS_H

#include <stdbool.h>
#include <stddef.h>

/* ---------------------------------------------------------------------------
 * Tool-call parser (built): finds Hermes-format calls
 *     <tool_call>\n{"name": "set_light", "arguments": {"entity": "x"}}\n</tool_call>
 * in a model's streamed output, piece by piece as the tokens arrive.
 *
 * Everything that is not a well-formed call comes back as text: a broken or
 * unterminated call is returned verbatim (tags included), never dropped.
 * Text handed to the text callback is always valid UTF-8 (an invalid byte
 * becomes U+FFFD; a sequence split across pieces is held back until it
 * completes), and a possible "<tool_call>" prefix at the end of a piece is
 * held back until the next piece says what it is. Whitespace around calls is
 * dropped when the output contains at least one call.
 *
 * Threads: one parser per generation, used by one thread at a time.
 */
typedef struct tools_parser tools_parser;

typedef struct tools_call {
	int index;             /* 0, 1, … in the order the calls appear */
	const char *name;      /* borrowed during the callback */
	const char *arguments; /* compact JSON object text; borrowed */
} tools_call;

typedef struct tools_parser_cbs {
	/* s: n bytes of valid UTF-8 (not NUL-terminated); borrowed. */
	void (*text)(const char *s, size_t n, void *user_data);
	void (*call)(const tools_call *c, void *user_data);
	void *user_data;
} tools_parser_cbs;

/* Calls longer than this many bytes are given up on and returned as text. */
#define TOOLS_CALL_MAX (64 * 1024)

/* Returns 0 and *out (free with tools_parser_free) or HEARTH_ENOMEM. */
int tools_parser_new(const tools_parser_cbs *cbs, tools_parser **out);
void tools_parser_free(tools_parser *p); /* NULL-safe */
/* Feed n bytes of model output. Returns 0 or HEARTH_ENOMEM (the parser is
 * then unusable). */
int tools_parser_feed(tools_parser *p, const char *s, size_t n);
/* End of output: flush what is held back (an unterminated call that is
 * complete JSON counts as a call, anything else as text). Returns 0 or
 * HEARTH_ENOMEM. */
int tools_parser_finish(tools_parser *p);
/* Number of calls emitted so far. */
int tools_parser_n_calls(const tools_parser *p);

/*
 * Parse one call body (the JSON between the tags): an object with a string
 * "name" and an "arguments" (alias "parameters") object, or a string holding
 * one, or nothing (= {}). On success returns 0 with *name and *arguments
 * (compact JSON) allocated, caller frees both; else HEARTH_EFORMAT or
 * HEARTH_ENOMEM.
 */
int tools_parse_call(const char *json, size_t len, char **name,
		     char **arguments);

/* Whether s[0..n) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool tools_utf8_valid(const char *s, size_t n);

#endif
