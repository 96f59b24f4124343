/*
 * cli.c — one table describes every flag: its name (also its config-file
 * key), type, the field it fills and the subcommands that accept it. The
 * flag parser and the JSON config loader both walk that table, so a flag
 * and its config key can never drift apart.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERRF(...) (snprintf(err, errlen, __VA_ARGS__), 2)

enum opt_kind { OPT_STR, OPT_INT, OPT_FLOAT, OPT_BOOL, OPT_LLONG };

#define M(cmd) (1u << (cmd))
#define M_GEN (M(CMD_CHAT) | M(CMD_SERVE) | M(CMD_BENCH))
#define M_MODEL (M(CMD_SERVE) | M(CMD_CHAT) | M(CMD_BENCH) | M(CMD_TOKENIZE) | \
		 M(CMD_PLAN) | M(CMD_DESCRIBE) | M(CMD_TRANSCRIBE))
#define M_ALL 0xffffffffu

struct opt {
	const char *name;      /* flag without "--", and config key */
	enum opt_kind kind;
	size_t off;            /* field in struct hearth_cli */
	size_t size;           /* for strings: buffer size */
	unsigned cmds;         /* subcommands that accept it */
	const char *arg;       /* metavariable for usage */
	const char *help;
};

#define F(field) offsetof(struct hearth_cli, field), sizeof(((struct hearth_cli *)0)->field)

static const struct opt opts[] = {
	{ "model", OPT_STR, F(model), M_MODEL, "FILE", "GGUF model (default: the embedded model in assets/)" },
	{ "threads", OPT_INT, F(threads), M_ALL, "N", "worker threads (0 = all cores)" },
	{ "ctx", OPT_INT, F(ctx), M_GEN, "N", "context length in tokens (0 = model default, at most 4096)" },
	{ "log-level", OPT_STR, F(log_level), M_ALL, "LEVEL", "error, warn, info or debug" },
	{ "listen", OPT_STR, F(listen), M(CMD_SERVE), "HOST:PORT", "address to serve on (default 127.0.0.1:8080)" },
	{ "token", OPT_STR, F(token), M(CMD_SERVE), "TOKEN", "bearer token required from non-loopback clients" },
	{ "trusted", OPT_STR, F(trusted), M(CMD_SERVE), "NETS", "clients served without a token: loopback (default) or none" },
	{ "max-sessions", OPT_INT, F(max_sessions), M(CMD_SERVE), "N", "concurrent sessions (default 10)" },
	{ "prompt", OPT_STR, F(prompt), M(CMD_CHAT) | M(CMD_BENCH), "TEXT", "chat: run once on TEXT; bench: prompt lengths, e.g. 128,512" },
	{ "system", OPT_STR, F(system), M(CMD_CHAT) | M(CMD_SERVE) | M(CMD_BENCH), "TEXT", "system prompt (serve: of conversations that bring none, instead of the model's default; bench serve: every client's)" },
	{ "raw", OPT_BOOL, F(raw), M(CMD_CHAT), NULL, "feed the prompt as is, without the chat template" },
	{ "max-tokens", OPT_INT, F(max_tokens), M_GEN, "N", "most tokens to generate" },
	{ "temperature", OPT_FLOAT, F(temperature), M_GEN, "T", "sampling temperature (0 = greedy)" },
	{ "top-k", OPT_INT, F(top_k), M_GEN, "K", "keep the K most likely tokens (0 = off)" },
	{ "top-p", OPT_FLOAT, F(top_p), M_GEN, "P", "nucleus sampling (1 = off)" },
	{ "min-p", OPT_FLOAT, F(min_p), M_GEN, "P", "drop tokens below P x the best probability (0 = off)" },
	{ "repeat-penalty", OPT_FLOAT, F(repeat_penalty), M_GEN, "R", "repetition penalty (1 = off)" },
	{ "seed", OPT_LLONG, F(seed), M_GEN, "S", "random seed (same seed, same output)" },
	{ "chat-format", OPT_STR, F(chat_format), M_GEN, "FMT", "auto, chatml, llama3 or raw" },
	{ "gen", OPT_INT, F(gen), M(CMD_BENCH), "N", "tokens to generate per measurement" },
	{ "repeat", OPT_INT, F(repeat), M(CMD_BENCH), "N", "repetitions per measurement" },
	{ "json", OPT_BOOL, F(json), M(CMD_BENCH), NULL, "print one JSON object per configuration" },
	{ "compare-llama", OPT_STR, F(compare_llama), M(CMD_BENCH), "PATH", "run this llama-bench binary on the same file" },
	{ "sessions", OPT_STR, F(sessions), M(CMD_BENCH), "LIST", "concurrent sessions to measure, e.g. 1,4,10" },
	{ "prefix", OPT_BOOL, F(prefix), M(CMD_BENCH), NULL, "measure warm-prefix prefill" },
	{ "data", OPT_STR, F(data), M(CMD_BENCH), "FILE", "bench tools: held-out JSONL (default assets/eval/heldout.jsonl)" },
	{ "no-guard", OPT_BOOL, F(no_guard), M(CMD_BENCH), NULL, "bench tools: decode tool calls without the JSON guard" },
	{ "no-spell", OPT_BOOL, F(no_spell), M_GEN, NULL, "leave typos in user messages as written (default: mended towards the model's lexicon, if it has one)" },
	{ "failures", OPT_INT, F(failures), M(CMD_BENCH), "N", "bench tools: print the first N failing items (default 10; 0 keeps a blind set's requests unread)" },
	{ "lookahead", OPT_INT, F(lookahead), M_GEN, "N", "greedy guarded JSON: follow N choices of an uncertain token to the end of the value (default 4, 0 = off)" },
	{ "no-verbatim", OPT_BOOL, F(no_verbatim), M(CMD_BENCH), NULL, "bench tools: guard without holding x-hearth-verbatim strings to the user's words" },
	{ "clients", OPT_STR, F(clients), M(CMD_BENCH), "LIST", "bench serve: concurrent streaming clients, e.g. 1,4,10" },
	{ "prefix-cache-mb", OPT_INT, F(prefix_cache_mb), M(CMD_SERVE) | M(CMD_BENCH), "N", "KV prefix cache shared by all sessions, MiB (default 64, 0 = off)" },
	{ "bos", OPT_BOOL, F(bos), M(CMD_TOKENIZE), NULL, "prepend the model's BOS token" },
	{ "special", OPT_BOOL, F(special), M(CMD_TOKENIZE), NULL, "parse special-token texts such as <|im_start|>" },
	{ "config", OPT_STR, F(config), M_ALL, "FILE", "JSON config file; keys mirror the flags" },
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static const struct {
	const char *name;
	const char *args;
	const char *help;
} cmds[CMD_COUNT] = {
	[CMD_SERVE] = { "serve", "", "run the daemon: HTTP API and realtime WebSocket" },
	[CMD_CHAT] = { "chat", "", "chat in the terminal (or once, with --prompt)" },
	[CMD_TRANSCRIBE] = { "transcribe", "FILE", "transcribe an audio file" },
	[CMD_DESCRIBE] = { "describe", "IMAGE QUESTION", "answer a question about an image" },
	[CMD_PLAN] = { "plan", "", "check that a model, context and sessions fit in memory" },
	[CMD_BENCH] = { "bench", "engine|serve|tools", "measure speed (figures and ratios)" },
	[CMD_TOKENIZE] = { "tokenize", "TEXT", "print the token ids of TEXT" },
	[CMD_VERSION] = { "version", "", "print the version" },
};

const char *cli_cmd_name(enum hearth_cmd cmd)
{
	return (cmd > CMD_NONE && cmd < CMD_COUNT) ? cmds[cmd].name : "";
}

void cli_defaults(struct hearth_cli *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof(c->listen), "127.0.0.1:8080");
	snprintf(c->log_level, sizeof(c->log_level), "warn");
	snprintf(c->chat_format, sizeof(c->chat_format), "auto");
	snprintf(c->trusted, sizeof(c->trusted), "loopback");
	c->max_sessions = 10;
	c->max_tokens = 256;
	c->temperature = 0.7;
	c->top_k = 40;
	c->top_p = 0.95;
	c->min_p = 0.05;
	c->repeat_penalty = 1.0;
	c->lookahead = 4;
	c->failures = 10;
	c->seed = -1;
	c->gen = 64;
	c->repeat = 3;
	c->prefix_cache_mb = 64;
}

void cli_usage(enum hearth_cmd cmd, void *fp)
{
	FILE *f = fp;
	size_t i;

	if (cmd <= CMD_NONE || cmd >= CMD_COUNT) {
		fprintf(f, "usage: hearth COMMAND [FLAGS]\n\ncommands:\n");
		for (i = 1; i < CMD_COUNT; i++)
			fprintf(f, "  %-11s %s\n", cmds[i].name, cmds[i].help);
		fprintf(f, "\n'hearth COMMAND --help' lists a command's flags.\n");
		return;
	}
	fprintf(f, "usage: hearth %s [FLAGS] %s\n%s\n\nflags:\n", cmds[cmd].name,
		cmds[cmd].args, cmds[cmd].help);
	for (i = 0; i < N_OPTS; i++) {
		char lhs[64];

		if (!(opts[i].cmds & M(cmd)))
			continue;
		snprintf(lhs, sizeof(lhs), "--%s%s%s", opts[i].name,
			 opts[i].arg ? " " : "", opts[i].arg ? opts[i].arg : "");
		fprintf(f, "  %-24s %s\n", lhs, opts[i].help);
	}
	fprintf(f, "  %-24s %s\n", "--help", "show this help");
}

static const struct opt *opt_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < N_OPTS; i++)
		if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len))
			return &opts[i];
	return NULL;
}

/* Store a flag's text value into its field. Returns 0 or 2 with err. */
static int opt_set_text(const struct opt *o, struct hearth_cli *c,
			const char *val, const char *where, char *err,
			size_t errlen)
{
	char *field = (char *)c + o->off;
	char *end;

	switch (o->kind) {
	case OPT_STR:
		if (strlen(val) >= o->size)
			return ERRF("%s: value of '%s' is too long (at most %zu bytes)",
				    where, o->name, o->size - 1);
		memcpy(field, val, strlen(val) + 1);
		return 0;
	case OPT_INT: {
		long v;

		errno = 0;
		v = strtol(val, &end, 10);
		if (errno || end == val || *end || v < INT_MIN || v > INT_MAX)
			return ERRF("%s: '%s' needs an integer, got '%s'", where, o->name, val);
		*(int *)field = (int)v;
		return 0;
	}
	case OPT_LLONG: {
		long long v;

		errno = 0;
		v = strtoll(val, &end, 10);
		if (errno || end == val || *end)
			return ERRF("%s: '%s' needs an integer, got '%s'", where, o->name, val);
		*(long long *)field = v;
		return 0;
	}
	case OPT_FLOAT: {
		double v;

		errno = 0;
		v = strtod(val, &end);
		if (errno || end == val || *end || !isfinite(v))
			return ERRF("%s: '%s' needs a number, got '%s'", where, o->name, val);
		*(double *)field = v;
		return 0;
	}
	case OPT_BOOL:
		if (!strcmp(val, "true") || !strcmp(val, "1"))
			*(bool *)field = true;
		else if (!strcmp(val, "false") || !strcmp(val, "0"))
			*(bool *)field = false;
		else
			return ERRF("%s: '%s' needs true or false, got '%s'", where, o->name, val);
		return 0;
	}
	return ERRF("%s: internal: bad kind for '%s'", where, o->name);
}

/* Store a JSON value into its field, checking its type. */
static int opt_set_json(const struct opt *o, struct hearth_cli *c,
			const cJSON *v, const char *path, char *err,
			size_t errlen)
{
	char *field = (char *)c + o->off;
	static const char *const want[] = {
		[OPT_STR] = "a string", [OPT_INT] = "an integer",
		[OPT_FLOAT] = "a number", [OPT_BOOL] = "true or false",
		[OPT_LLONG] = "an integer",
	};
	double d;

	switch (o->kind) {
	case OPT_STR:
		if (!cJSON_IsString(v))
			break;
		return opt_set_text(o, c, v->valuestring, path, err, errlen);
	case OPT_BOOL:
		if (!cJSON_IsBool(v))
			break;
		*(bool *)field = cJSON_IsTrue(v);
		return 0;
	case OPT_FLOAT:
		if (!cJSON_IsNumber(v))
			break;
		*(double *)field = v->valuedouble;
		return 0;
	case OPT_INT:
	case OPT_LLONG:
		if (!cJSON_IsNumber(v))
			break;
		d = v->valuedouble;
		if (d != floor(d) || fabs(d) > 9.0e15 ||
		    (o->kind == OPT_INT && (d < INT_MIN || d > INT_MAX)))
			break;
		if (o->kind == OPT_INT)
			*(int *)field = (int)d;
		else
			*(long long *)field = (long long)d;
		return 0;
	}
	return ERRF("%s: key '%s' must be %s", path, o->name, want[o->kind]);
}

static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f) {
		snprintf(err, errlen, "%s: cannot open config file: %s", path, strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || n > (1 << 20) ||
	    fseek(f, 0, SEEK_SET)) {
		snprintf(err, errlen, "%s: config file unreadable or larger than 1 MiB", path);
		goto out_close;
	}
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		snprintf(err, errlen, "%s: cannot read config file", path);
		free(buf);
		buf = NULL;
		goto out_close;
	}
	buf[n] = '\0';
out_close:
	fclose(f);
	return buf;
}

int cli_load_config(const char *path, struct hearth_cli *c, char *err,
		    size_t errlen)
{
	const cJSON *it;
	cJSON *root;
	char *text;
	int rc = 0;

	text = read_file(path, err, errlen);
	if (!text)
		return 2;
	root = cJSON_Parse(text);
	if (!root) {
		const char *at = cJSON_GetErrorPtr();
		size_t off = at ? (size_t)(at - text) : 0;

		free(text);
		return ERRF("%s: not valid JSON (near byte %zu)", path, off);
	}
	if (!cJSON_IsObject(root)) {
		rc = ERRF("%s: config must be a JSON object", path);
		goto out_free;
	}
	cJSON_ArrayForEach(it, root) {
		const struct opt *o = opt_find(it->string, strlen(it->string));

		if (!o || !strcmp(o->name, "config")) {
			rc = ERRF("%s: unknown key '%s'", path, it->string);
			goto out_free;
		}
		rc = opt_set_json(o, c, it, path, err, errlen);
		if (rc)
			goto out_free;
	}
out_free:
	cJSON_Delete(root);
	free(text);
	return rc;
}

static enum hearth_cmd cmd_find(const char *name)
{
	int i;

	for (i = 1; i < CMD_COUNT; i++)
		if (!strcmp(cmds[i].name, name))
			return (enum hearth_cmd)i;
	return CMD_NONE;
}

/* Find --config among the flags so the file is applied before them. */
static int preload_config(int argc, char **argv, struct hearth_cli *c,
			  char *err, size_t errlen)
{
	const char *path = NULL;
	int i;

	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
	}
	if (!path)
		return 0;
	return cli_load_config(path, c, err, errlen);
}

static int parse_flag(int argc, char **argv, int *i, struct hearth_cli *c,
		      char *err, size_t errlen)
{
	const char *a = argv[*i] + 2, *eq = strchr(a, '=');
	size_t len = eq ? (size_t)(eq - a) : strlen(a);
	const struct opt *o;
	const char *val;

	if (len == 4 && !strncmp(a, "help", 4)) {
		c->help = true;
		return 0;
	}
	o = opt_find(a, len);
	if (!o || !(o->cmds & M(c->cmd)))
		return ERRF("unknown flag '--%.*s' for '%s'", (int)len, a, cmds[c->cmd].name);
	if (o->kind == OPT_BOOL && !eq) {
		*(bool *)((char *)c + o->off) = true;
		return 0;
	}
	if (eq) {
		val = eq + 1;
	} else {
		if (*i + 1 >= argc)
			return ERRF("flag '--%s' needs a value (%s)", o->name, o->arg);
		val = argv[++*i];
	}
	return opt_set_text(o, c, val, "command line", err, errlen);
}

int cli_parse(int argc, char **argv, struct hearth_cli *c, char *err,
	      size_t errlen)
{
	bool only_args = false;
	int i, rc;

	cli_defaults(c);
	if (argc < 2)
		return ERRF("no command given");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		c->help = true;
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		c->cmd = CMD_VERSION;
		return 0;
	}
	c->cmd = cmd_find(argv[1]);
	if (c->cmd == CMD_NONE)
		return ERRF("unknown command '%s'", argv[1]);
	rc = preload_config(argc, argv, c, err, errlen);
	if (rc)
		return rc;
	for (i = 2; i < argc; i++) {
		if (!only_args && !strcmp(argv[i], "--")) {
			only_args = true;
		} else if (!only_args && !strcmp(argv[i], "-h")) {
			c->help = true;
		} else if (!only_args && !strncmp(argv[i], "--", 2)) {
			rc = parse_flag(argc, argv, &i, c, err, errlen);
			if (rc)
				return rc;
		} else if (!only_args && argv[i][0] == '-' && argv[i][1]) {
			return ERRF("unknown flag '%s' for '%s'", argv[i], cmds[c->cmd].name);
		} else {
			if (c->n_args == CLI_MAX_ARGS)
				return ERRF("too many arguments for '%s'", cmds[c->cmd].name);
			c->args[c->n_args++] = argv[i];
		}
	}
	return 0;
}
