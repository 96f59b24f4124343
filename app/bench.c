/*
 * bench.c — `hearth bench engine`: prefill and decode speed, load time,
 * peak RSS, the machine's measured memory bandwidth and decode as a
 * fraction of the bandwidth limit. Figures, not pass/fail: targets are
 * judged as ratios measured in one run (DESIGN.md §7).
 */
#include "app.h"

#include "engine.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONFIGS 16
#define MAX_REPEAT 64

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long long peak_rss_bytes(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (long long)ru.ru_maxrss * 1024;
}

/* "128,512" → {128, 512}; returns count or -1. */
static int parse_list(const char *s, int *out, int max)
{
	int n = 0;
	char *end;

	while (*s) {
		long v = strtol(s, &end, 10);

		if (end == s || v <= 0 || v > 1 << 20 || n == max)
			return -1;
		out[n++] = (int)v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return n;
}

/* ---------------------------------------------------------------------------
 * Memory bandwidth: a STREAM-style triad a = b + s·c over arrays far larger
 * than the caches, one slice per thread; best of several passes.
 */
struct triad {
	float *a, *b, *c;
	size_t lo, hi;
};

static void *triad_run(void *arg)
{
	struct triad *t = arg;
	size_t i;

	for (i = t->lo; i < t->hi; i++)
		t->a[i] = t->b[i] + 3.0f * t->c[i];
	return NULL;
}

static double triad_gbps(int n_threads)
{
	const size_t n = (size_t)32 << 20; /* 128 MiB per array */
	float *a = malloc(n * sizeof(*a)), *b = malloc(n * sizeof(*b));
	float *c = malloc(n * sizeof(*c));
	struct triad t[64];
	pthread_t th[64];
	double best = 0.0;
	int pass, i;

	if (!a || !b || !c)
		goto out_free;
	for (size_t k = 0; k < n; k++) {
		a[k] = 0.0f;
		b[k] = 1.0f;
		c[k] = 2.0f;
	}
	if (n_threads > 64)
		n_threads = 64;
	for (pass = 0; pass < 5; pass++) {
		double t0 = now_s(), dt;

		for (i = 0; i < n_threads; i++) {
			t[i] = (struct triad){ a, b, c, n * (size_t)i / (size_t)n_threads,
					       n * (size_t)(i + 1) / (size_t)n_threads };
			pthread_create(&th[i], NULL, triad_run, &t[i]);
		}
		for (i = 0; i < n_threads; i++)
			pthread_join(th[i], NULL);
		dt = now_s() - t0;
		if (3.0 * (double)n * sizeof(float) / dt / 1e9 > best)
			best = 3.0 * (double)n * sizeof(float) / dt / 1e9;
	}
out_free:
	free(a);
	free(b);
	free(c);
	return best;
}

/* The triad's arrays would dominate this process's peak RSS, which the
 * bench reports for the engine: measure in a child process instead. */
static double measure_bandwidth_gbps(int n_threads)
{
	double gbps = 0.0;
	int fd[2], st;
	pid_t pid;

	if (pipe(fd))
		return 0.0;
	pid = fork();
	if (pid == 0) {
		gbps = triad_gbps(n_threads);
		_exit(write(fd[1], &gbps, sizeof(gbps)) == sizeof(gbps) ? 0 : 1);
	}
	close(fd[1]);
	if (pid < 0 || read(fd[0], &gbps, sizeof(gbps)) != sizeof(gbps))
		gbps = 0.0;
	close(fd[0]);
	if (pid > 0)
		waitpid(pid, &st, 0);
	return gbps;
}

/* ---------------------------------------------------------------------------
 * Engine runs
 */
struct stats {
	double min, med, max;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct stats summarize(double *v, int n)
{
	struct stats s = { 0, 0, 0 };

	if (n <= 0)
		return s;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	s.min = v[0];
	s.max = v[n - 1];
	s.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}

/* One repetition: prefill n_prompt pseudo-random tokens, then decode n_gen
 * greedily. Returns 0 and the two rates in tokens/s. */
static int run_once(engine_context *ctx, const engine_model_info *info,
		    int n_prompt, int n_gen, unsigned seed, double *pp, double *tg)
{
	int32_t *toks = malloc((size_t)n_prompt * sizeof(*toks)), tok;
	double t0, t1;
	int i, rc;

	if (!toks)
		return HEARTH_ENOMEM;
	for (i = 0; i < n_prompt; i++) {
		seed = seed * 1103515245u + 12345u;
		toks[i] = (int32_t)((seed >> 8) % (unsigned)info->n_vocab);
	}
	engine_kv_truncate(ctx, 0);
	t0 = now_s();
	rc = engine_eval(ctx, toks, n_prompt);
	t1 = now_s();
	free(toks);
	if (rc)
		return rc;
	*pp = n_prompt / (t1 - t0);
	t0 = now_s();
	for (i = 0; i < n_gen; i++) {
		tok = engine_argmax(engine_logits(ctx), info->n_vocab);
		rc = engine_eval_next(ctx, tok);
		if (rc)
			return rc;
	}
	*tg = n_gen ? n_gen / (now_s() - t0) : 0.0;
	return 0;
}

struct bench_cfg {
	const struct hearth_cli *cli;
	double pp_med[MAX_CONFIGS], tg_med[MAX_CONFIGS];
	int n_done;
	const char *path;
	engine_model *m;
	engine_model_info info;
	int n_threads;
	double load_s, bw_gbps;
};

/* Bytes streamed from memory per decoded token: every weight except the
 * embedding table (one row is read), unless the output layer is tied to it,
 * plus the KV cache read by attention at the average position. */
static double bytes_per_token(const struct bench_cfg *b, int pos)
{
	const engine_model_info *in = &b->info;
	double kv = 2.0 * in->n_layer * (double)pos *
		    (in->n_embd / in->n_head) * in->n_head_kv * 2.0;

	return (double)in->weight_bytes + kv;
}

static void report(const struct bench_cfg *b, int n_prompt, int n_gen,
		   struct stats pp, struct stats tg)
{
	double limit = b->bw_gbps * 1e9 / bytes_per_token(b, n_prompt + n_gen / 2);

	if (b->cli->json) {
		printf("{\"model\":\"%s\",\"type\":\"%s\",\"threads\":%d,"
		       "\"prompt_tokens\":%d,\"gen_tokens\":%d,"
		       "\"prefill_tps\":%.2f,\"prefill_tps_min\":%.2f,\"prefill_tps_max\":%.2f,"
		       "\"decode_tps\":%.2f,\"decode_tps_min\":%.2f,\"decode_tps_max\":%.2f,"
		       "\"load_s\":%.3f,\"peak_rss_bytes\":%lld,\"bandwidth_gbps\":%.2f,"
		       "\"decode_bandwidth_fraction\":%.3f,\"simd\":\"%s\"}\n",
		       b->path, b->info.main_type_name, b->n_threads, n_prompt, n_gen,
		       pp.med, pp.min, pp.max, tg.med, tg.min, tg.max, b->load_s,
		       peak_rss_bytes(), b->bw_gbps, limit > 0 ? tg.med / limit : 0.0,
		       getenv("HEARTH_SIMD") ? getenv("HEARTH_SIMD") : "auto");
		return;
	}
	printf("%-6s %4d thr  pp%-5d %8.2f t/s (min %.2f max %.2f)   tg%-4d %8.2f t/s "
	       "(min %.2f max %.2f)   %.0f%% of bandwidth limit (%.1f t/s)\n",
	       b->info.main_type_name, b->n_threads, n_prompt, pp.med, pp.min, pp.max,
	       n_gen, tg.med, tg.min, tg.max, limit > 0 ? 100.0 * tg.med / limit : 0.0,
	       limit);
}

static int bench_config(struct bench_cfg *b, int n_prompt)
{
	const struct hearth_cli *c = b->cli;
	engine_context_params cp = engine_context_default_params();
	engine_context *ctx = NULL;
	double pp[MAX_REPEAT], tg[MAX_REPEAT];
	int r, rc, reps = c->repeat < 1 ? 1 : (c->repeat > MAX_REPEAT ? MAX_REPEAT : c->repeat);

	cp.n_ctx = n_prompt + c->gen + 1;
	cp.n_batch = n_prompt < 512 ? n_prompt : 512;
	cp.n_threads = b->n_threads;
	rc = engine_context_new(b->m, &cp, &ctx);
	if (rc) {
		fprintf(stderr, "hearth bench: cannot create a context: %s\n", hearth_strerror(rc));
		return rc;
	}
	for (r = 0; r < reps && !rc; r++)
		rc = run_once(ctx, &b->info, n_prompt, c->gen, 1234u + (unsigned)r,
			      &pp[r], &tg[r]);
	if (rc)
		fprintf(stderr, "hearth bench: run failed: %s (%s)\n", hearth_strerror(rc),
			engine_context_error(ctx));
	else {
		struct stats spp = summarize(pp, reps), stg = summarize(tg, reps);

		report(b, n_prompt, c->gen, spp, stg);
		b->pp_med[b->n_done] = spp.med;
		b->tg_med[b->n_done++] = stg.med;
	}
	engine_context_free(ctx);
	return rc;
}

/* ---------------------------------------------------------------------------
 * --compare-llama: run the user's llama-bench on the same file, threads and
 * sizes right after our runs, and print the ratios. llama-bench -o json
 * prints an array of objects with n_prompt, n_gen and avg_ts.
 */
static double llama_rate(const cJSON *arr, int n_prompt, int n_gen)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, arr) {
		const cJSON *p = cJSON_GetObjectItem(it, "n_prompt");
		const cJSON *g = cJSON_GetObjectItem(it, "n_gen");
		const cJSON *ts = cJSON_GetObjectItem(it, "avg_ts");

		if (cJSON_IsNumber(p) && cJSON_IsNumber(g) && cJSON_IsNumber(ts) &&
		    p->valueint == n_prompt && g->valueint == n_gen)
			return ts->valuedouble;
	}
	return 0.0;
}

static int compare_llama(struct bench_cfg *b, const int *prompts, int n)
{
	char cmd[4096], buf[65536];
	size_t len = 0, got;
	cJSON *arr;
	FILE *f;
	int i;

	/* arguments go through the shell: refuse anything but plain paths */
	if (strpbrk(b->cli->compare_llama, "'\"\\$`") || strpbrk(b->path, "'\"\\$`"))
		return app_usage_error(b->cli->cmd, "--compare-llama: path has quote characters");
	len = (size_t)snprintf(cmd, sizeof(cmd), "'%s' -m '%s' -t %d -r %d -o json -n %d -p ",
			       b->cli->compare_llama, b->path, b->n_threads,
			       b->cli->repeat < 1 ? 1 : b->cli->repeat, b->cli->gen);
	for (i = 0; i < n && len < sizeof(cmd) - 16; i++)
		len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, "%s%d", i ? "," : "", prompts[i]);
	fprintf(stderr, "hearth bench: running %s\n", cmd);
	f = popen(cmd, "r");
	if (!f) {
		fprintf(stderr, "hearth bench: cannot run %s\n", b->cli->compare_llama);
		return 1;
	}
	len = 0;
	while (len < sizeof(buf) - 1 && (got = fread(buf + len, 1, sizeof(buf) - 1 - len, f)) > 0)
		len += got;
	buf[len] = '\0';
	if (pclose(f) != 0 || !(arr = cJSON_Parse(buf)) ) {
		fprintf(stderr, "hearth bench: %s failed or printed no JSON\n", b->cli->compare_llama);
		return 1;
	}
	for (i = 0; i < n && i < b->n_done; i++) {
		double lpp = llama_rate(arr, prompts[i], 0), ltg = llama_rate(arr, 0, b->cli->gen);

		printf("vs llama.cpp: pp%-5d ours %8.2f  llama %8.2f  ratio %.2fx   "
		       "tg%-4d ours %8.2f  llama %8.2f  ratio %.2fx\n",
		       prompts[i], b->pp_med[i], lpp, lpp > 0 ? b->pp_med[i] / lpp : 0.0,
		       b->cli->gen, b->tg_med[i], ltg, ltg > 0 ? b->tg_med[i] / ltg : 0.0);
	}
	cJSON_Delete(arr);
	return 0;
}

/* ---------------------------------------------------------------------------
 * Concurrent sessions: each session prefills its own prompt, then all decode
 * together, one batched forward pass per step (continuous batching).
 */
static int bench_sessions_one(struct bench_cfg *b, int n_sess)
{
	const struct hearth_cli *c = b->cli;
	engine_context_params cp = engine_context_default_params();
	engine_context *ctx[64] = { 0 };
	int32_t toks[64], prompt[32];
	int i, step, rc = 0, n_prompt = 32;
	double t0, dt, single;

	cp.n_ctx = n_prompt + c->gen + 1;
	cp.n_batch = n_sess > n_prompt ? n_sess : n_prompt;
	cp.n_threads = b->n_threads;
	for (i = 0; i < n_sess && !rc; i++) {
		rc = engine_context_new(b->m, &cp, &ctx[i]);
		for (int j = 0; j < n_prompt && !rc; j++)
			prompt[j] = (int32_t)((j * 7919 + i * 104729) % b->info.n_vocab);
		if (!rc)
			rc = engine_eval(ctx[i], prompt, n_prompt);
	}
	t0 = now_s();
	for (step = 0; step < c->gen && !rc; step++) {
		for (i = 0; i < n_sess; i++)
			toks[i] = engine_argmax(engine_logits(ctx[i]), b->info.n_vocab);
		rc = engine_eval_multi(ctx, toks, n_sess);
	}
	dt = now_s() - t0;
	if (rc) {
		fprintf(stderr, "hearth bench: sessions run failed: %s\n", hearth_strerror(rc));
	} else {
		single = c->gen / dt;
		if (c->json)
			printf("{\"model\":\"%s\",\"type\":\"%s\",\"threads\":%d,"
			       "\"sessions\":%d,\"gen_tokens\":%d,\"aggregate_decode_tps\":%.2f,"
			       "\"per_session_decode_tps\":%.2f,\"peak_rss_bytes\":%lld}\n",
			       b->path, b->info.main_type_name, b->n_threads, n_sess, c->gen,
			       single * n_sess, single, peak_rss_bytes());
		else
			printf("sessions %3d: aggregate decode %8.2f t/s, every session %7.2f t/s "
			       "(%d tokens each, none behind)\n", n_sess, single * n_sess, single,
			       c->gen);
	}
	for (i = 0; i < n_sess; i++)
		engine_context_free(ctx[i]);
	return rc;
}

static int bench_sessions(struct bench_cfg *b)
{
	int list[MAX_CONFIGS], n, i, rc = 0;

	n = parse_list(b->cli->sessions, list, MAX_CONFIGS);
	if (n <= 0)
		return app_usage_error(b->cli->cmd, "--sessions needs a list, e.g. 1,4,10");
	for (i = 0; i < n && !rc; i++) {
		if (list[i] > 64)
			return app_usage_error(b->cli->cmd, "--sessions: at most 64");
		rc = bench_sessions_one(b, list[i]);
	}
	return rc;
}

/* ---------------------------------------------------------------------------
 * Warm prefix: a 20-token turn after a 1000-token prefix that is already
 * cached, against a bare 20-token prefill. Two warm cases: the same session
 * (its KV cache kept across turns) and a new session served by the shared
 * prefix cache.
 */
static double time_eval(engine_context *ctx, const int32_t *t, int n)
{
	double t0 = now_s();

	return engine_eval(ctx, t, n) ? -1.0 : now_s() - t0;
}

static int bench_prefix(struct bench_cfg *b)
{
	enum { PREFIX = 1000, TURN = 20, REPS = 5 };
	engine_context_params cp = engine_context_default_params();
	engine_prefix_cache *pc = NULL;
	engine_context *warm = NULL, *fresh = NULL;
	int32_t toks[PREFIX + TURN];
	double bare[REPS], same[REPS], cross[REPS];
	int i, r, rc;

	for (i = 0; i < PREFIX + TURN; i++)
		toks[i] = (int32_t)((i * 7919 + 17) % b->info.n_vocab);
	cp.n_ctx = PREFIX + TURN + 1;
	cp.n_batch = 256;
	cp.n_threads = b->n_threads;
	rc = engine_prefix_cache_new(b->m, 256u << 20, &pc);
	cp.prefix_cache = pc;
	if (!rc)
		rc = engine_context_new(b->m, &cp, &warm);
	if (!rc)
		rc = engine_context_new(b->m, &cp, &fresh);
	if (!rc && time_eval(warm, toks, PREFIX) < 0)
		rc = HEARTH_EIO;
	for (r = 0; r < REPS && !rc; r++) {
		engine_kv_truncate(fresh, 0);
		bare[r] = time_eval(fresh, toks + PREFIX, TURN);
		engine_kv_truncate(warm, PREFIX);
		same[r] = time_eval(warm, toks + PREFIX, TURN);
		engine_kv_truncate(fresh, 0);
		cross[r] = time_eval(fresh, toks, PREFIX + TURN);
		if (bare[r] < 0 || same[r] < 0 || cross[r] < 0)
			rc = HEARTH_EIO;
	}
	if (!rc) {
		struct stats sb = summarize(bare, REPS), ss = summarize(same, REPS);
		struct stats sc = summarize(cross, REPS);

		printf("warm prefix (%d cached + %d new tokens), median of %d:\n"
		       "  bare %d-token prefill          %8.2f ms\n"
		       "  same session, next turn        %8.2f ms  (%.2fx bare)\n"
		       "  new session, prefix cache      %8.2f ms  (%.2fx bare, %d tokens from the cache)\n",
		       PREFIX, TURN, REPS, TURN, sb.med * 1e3, ss.med * 1e3, ss.med / sb.med,
		       sc.med * 1e3, sc.med / sb.med, engine_last_cached(fresh));
	} else {
		fprintf(stderr, "hearth bench: prefix run failed: %s\n", hearth_strerror(rc));
	}
	engine_context_free(warm);
	engine_context_free(fresh);
	engine_prefix_cache_free(pc);
	return rc;
}

static int bench_engine(const struct hearth_cli *c)
{
	engine_model_params mp = engine_model_default_params();
	struct bench_cfg b = { .cli = c };
	int prompts[MAX_CONFIGS], n_prompts, i, rc = 0;
	char err[512];
	double t0;

	n_prompts = parse_list(c->prompt[0] ? c->prompt : "128", prompts, MAX_CONFIGS);
	if (n_prompts <= 0)
		return app_usage_error(c->cmd, "--prompt needs a list of lengths, e.g. 128,512");
	b.path = app_model_path(c);
	b.n_threads = c->threads > 0 ? c->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	mp.path = b.path;
	t0 = now_s();
	if (engine_model_load(&mp, &b.m, err, sizeof(err))) {
		fprintf(stderr, "hearth: %s\n", err);
		return 1;
	}
	b.load_s = now_s() - t0;
	engine_model_get_info(b.m, &b.info);
	b.bw_gbps = measure_bandwidth_gbps(b.n_threads);
	if (!c->json)
		printf("model %s (%s, %s, %.1f M params, %.1f MiB weights), load %.3f s, "
		       "bandwidth %.1f GB/s (triad, %d threads)\n", b.path, b.info.arch,
		       b.info.main_type_name, (double)b.info.n_params / 1e6,
		       (double)b.info.weight_bytes / 1048576.0, b.load_s, b.bw_gbps,
		       b.n_threads);
	if (c->sessions[0])
		rc = bench_sessions(&b);
	else if (c->prefix)
		rc = bench_prefix(&b);
	else
		for (i = 0; i < n_prompts && !rc; i++)
			rc = bench_config(&b, prompts[i]);
	if (!rc && c->compare_llama[0] && !c->sessions[0] && !c->prefix)
		rc = compare_llama(&b, prompts, n_prompts);
	if (!c->json && !rc)
		printf("peak RSS %.1f MiB\n", (double)peak_rss_bytes() / 1048576.0);
	engine_model_free(b.m);
	return rc ? 1 : 0;
}

int app_cmd_bench(const struct hearth_cli *c)
{
	if (c->n_args != 1)
		return app_usage_error(c->cmd, "bench needs a target: engine, serve or tools");
	if (!strcmp(c->args[0], "engine"))
		return bench_engine(c);
	if (!strcmp(c->args[0], "serve"))
		return app_bench_serve(c);
	if (!strcmp(c->args[0], "tools"))
		return app_bench_tools(c);
	return app_usage_error(c->cmd, "unknown bench target (engine, serve, tools)");
}
