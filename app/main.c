/*
 * main.c — the hearth command line: parse flags and the config file, then
 * hand over to the subcommand. Exit codes: 0 success, 1 runtime failure
 * (e.g. port in use, model unreadable), 2 usage error or a stage that does
 * not exist yet.
 */
#include "app.h"
#include "cli.h"

#include "pipeline.h"
#include "services.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The one global: a signal handler can reach the server no other way. */
static services *g_server;

static void on_signal(int sig)
{
	(void)sig;
	if (g_server)
		services_stop(g_server);
}

/* The model for serve: --model must load; the embedded default may be
 * absent (then the server still answers /health and /v1 says 503). */
static int serve_pipeline(const struct hearth_cli *c, pipeline **pl)
{
	pipeline_params pp = pipeline_default_params();
	char err[512];

	*pl = NULL;
	pp.model_path = app_model_path(c);
	pp.n_ctx = c->ctx;
	pp.n_threads = c->threads;
	pp.max_sessions = c->max_sessions > 0 ? c->max_sessions : 10;
	pp.max_jobs = 4 * pp.max_sessions;
	pp.prefix_cache_bytes = c->prefix_cache_mb > 0 ? (size_t)c->prefix_cache_mb << 20 : 0;
	if (c->chat_format[0])
		pp.chat_format = c->chat_format;
	pp.lookahead = c->lookahead;
	pp.no_spell = c->no_spell;
	pp.system = c->system[0] ? c->system : NULL;
	if (!c->model[0] && access(pp.model_path, R_OK)) {
		fprintf(stderr, "hearth: no model at %s: serving without one "
			"(/v1 answers 503; pass --model FILE)\n", pp.model_path);
		return 0;
	}
	if (pipeline_new(&pp, pl, err, sizeof(err))) {
		fprintf(stderr, "hearth: %s\n", err);
		return 1;
	}
	return 0;
}

static int cmd_serve(const struct hearth_cli *c)
{
	services_params p = services_default_params();
	struct sigaction sa;
	char host[128], err[512];
	pipeline *pl;
	int port, rc;

	if (c->n_args)
		return app_usage_error(c->cmd, "serve takes no arguments");
	if (services_parse_listen(c->listen, host, sizeof(host), &port, err,
				  sizeof(err)))
		return app_usage_error(c->cmd, err);
	if (strcmp(c->trusted, "none") && strcmp(c->trusted, "loopback"))
		return app_usage_error(c->cmd, "--trusted must be loopback or none");
	if (serve_pipeline(c, &pl))
		return 1;
	p.host = host;
	p.port = port;
	p.token = c->token;
	p.trust_loopback = strcmp(c->trusted, "none") != 0;
	p.max_sessions = c->max_sessions;
	p.pipeline = pl;
	rc = services_new(&p, &g_server, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "hearth: %s\n", err);
		pipeline_free(pl);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal; /* no SA_RESTART: poll() must wake */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "hearth: serving on http://%s:%d (GET /health)%s%s\n",
		strchr(host, ':') ? "[::1]" : host, services_port(g_server),
		pl ? ", model " : "", pl ? pipeline_model_name(pl) : "");
	rc = services_run(g_server);
	services_free(g_server); /* before the pipeline it serves */
	g_server = NULL;
	pipeline_free(pl);
	fprintf(stderr, "hearth: stopped\n");
	return rc ? 1 : 0;
}

static int cmd_missing_stage(const struct hearth_cli *c, const char *stage)
{
	fprintf(stderr, "hearth %s: not available yet: the %s stage has not been "
		"built (see DESIGN.md and the open issues)\n",
		cli_cmd_name(c->cmd), stage);
	return 2;
}

int app_usage_error(enum hearth_cmd cmd, const char *msg)
{
	fprintf(stderr, "hearth: %s\n\n", msg);
	cli_usage(cmd, stderr);
	return 2;
}

int main(int argc, char **argv)
{
	struct hearth_cli c;
	char err[1024];

	if (cli_parse(argc, argv, &c, err, sizeof(err)))
		return app_usage_error(c.cmd, err);
	if (c.help) {
		cli_usage(c.cmd, stdout);
		return 0;
	}
	switch (c.cmd) {
	case CMD_VERSION:
		printf("hearth %s\n", HEARTH_VERSION);
		return 0;
	case CMD_SERVE:
		return cmd_serve(&c);
	case CMD_CHAT:
		return app_cmd_chat(&c);
	case CMD_TOKENIZE:
		return app_cmd_tokenize(&c);
	case CMD_BENCH:
		return app_cmd_bench(&c);
	case CMD_TRANSCRIBE:
		return cmd_missing_stage(&c, "audio (speech recognition)");
	case CMD_DESCRIBE:
		return cmd_missing_stage(&c, "vision (image encoder)");
	case CMD_PLAN:
		return cmd_missing_stage(&c, "memory planner");
	default:
		break;
	}
	return app_usage_error(CMD_NONE, "no command given");
}
