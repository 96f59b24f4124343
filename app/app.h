/*
 * app.h — the subcommands of the hearth executable (app/ is the top of the
 * include graph: it may use every stage's public header).
 */
#ifndef HEARTH_APP_H
#define HEARTH_APP_H

#include "cli.h"

/* Print msg and the command's usage to stderr; returns 2. */
int app_usage_error(enum hearth_cmd cmd, const char *msg);

int app_cmd_chat(const struct hearth_cli *c);
int app_cmd_tokenize(const struct hearth_cli *c);
int app_cmd_bench(const struct hearth_cli *c);
/* `hearth bench tools` (bench_tools.c): the held-out tool-call set. */
int app_bench_tools(const struct hearth_cli *c);
/* bench_serve.c: `hearth bench serve` (dispatched by app_cmd_bench). */
int app_bench_serve(const struct hearth_cli *c);

/* The model path to use: --model, else the embedded default in assets/.
 * Returns a borrowed string. */
const char *app_model_path(const struct hearth_cli *c);

#endif
