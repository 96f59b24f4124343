/*
 * cli.h — the hearth command line: subcommands, flags and the JSON config
 * file whose keys mirror the flags. Parsing is separate from running so the
 * parser and config loader can be unit-tested on every error path.
 */
#ifndef HEARTH_APP_CLI_H
#define HEARTH_APP_CLI_H

#include <stdbool.h>
#include <stddef.h>

enum hearth_cmd {
	CMD_NONE = 0,
	CMD_SERVE,
	CMD_CHAT,
	CMD_TRANSCRIBE,
	CMD_DESCRIBE,
	CMD_PLAN,
	CMD_BENCH,
	CMD_TOKENIZE,
	CMD_VERSION,
	CMD_COUNT
};

#define CLI_MAX_ARGS 8
#define CLI_STR 512

/* Everything a subcommand can be told. Strings are owned copies. */
struct hearth_cli {
	enum hearth_cmd cmd;
	bool help;                 /* --help was given: print usage, exit 0 */
	char config[CLI_STR];      /* --config FILE */

	/* common */
	char model[CLI_STR];       /* --model FILE.gguf ("" = embedded default) */
	int threads;               /* --threads N (0 = all cores) */
	int ctx;                   /* --ctx N KV positions (0 = default) */
	char log_level[32];        /* --log-level error|warn|info|debug */

	/* serve */
	char listen[CLI_STR];      /* --listen HOST:PORT */
	char token[CLI_STR];       /* --token: required from non-loopback */
	int max_sessions;          /* --max-sessions */
	char trusted[32];          /* --trusted loopback|none */

	/* chat / generation */
	char prompt[4096];         /* --prompt TEXT (bench: list "128,512") */
	char system[4096];         /* --system TEXT */
	bool raw;                  /* --raw: no chat template */
	int max_tokens;            /* --max-tokens */
	double temperature;        /* --temperature */
	int top_k;                 /* --top-k */
	double top_p;              /* --top-p */
	double min_p;              /* --min-p */
	double repeat_penalty;     /* --repeat-penalty */
	long long seed;            /* --seed */
	char chat_format[32];      /* --chat-format auto|chatml|llama3|raw */

	/* bench */
	int gen;                   /* --gen N */
	int repeat;                /* --repeat N */
	bool json;                 /* --json */
	char compare_llama[CLI_STR]; /* --compare-llama PATH */
	char sessions[CLI_STR];    /* --sessions 1,4,10 */
	bool prefix;               /* --prefix */
	char data[CLI_STR];        /* --data FILE: bench tools' held-out set */
	bool no_guard;             /* --no-guard: bench tools without the JSON guard */
	bool no_verbatim;          /* --no-verbatim: the guard has no source text */
	int failures;              /* --failures N: failing items bench tools prints */
	bool no_spell;             /* --no-spell: leave typos in user messages alone */
	int lookahead;             /* --lookahead N: engine_sampler_params.lookahead */
	char clients[CLI_STR];     /* --clients 1,4,10 (bench serve) */
	int prefix_cache_mb;       /* --prefix-cache-mb N (0 = off) */

	/* tokenize */
	bool bos;                  /* --bos */
	bool special;              /* --special */

	int n_args;                /* positional arguments */
	char *args[CLI_MAX_ARGS];  /* borrowed from argv */
};

/* Fill defaults. */
void cli_defaults(struct hearth_cli *c);

/*
 * Parse argv (argv[0] is the program). Loads --config first, then applies
 * flags over it. Returns 0 on success, 2 on a usage error (unknown
 * subcommand/flag, missing or bad value) with the reason in err; the caller
 * prints usage and exits 2. A config error also returns 2 with a message
 * naming the key and the file.
 */
int cli_parse(int argc, char **argv, struct hearth_cli *c, char *err,
	      size_t errlen);

/* Load a JSON config file into c. Returns 0 or 2 with err set. */
int cli_load_config(const char *path, struct hearth_cli *c, char *err,
		    size_t errlen);

/* Print the usage of cmd (CMD_NONE: the overview) to f. */
void cli_usage(enum hearth_cmd cmd, void *f);

const char *cli_cmd_name(enum hearth_cmd cmd);

#endif
