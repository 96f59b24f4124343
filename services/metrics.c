/*
 * metrics.c — counters and histograms for GET /metrics (Prometheus text
 * exposition format 0.0.4). Counters live on the services thread; the
 * pipeline's own figures are read through pipeline_get_stats().
 */
#include "services_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int status_codes[10] = { 200, 400, 401, 404, 405, 413, 429, 500, 503, 0 };
static const char *const route_names[R_COUNT] = {
	"/health", "/metrics", "/v1/models", "/v1/chat/completions",
	"/v1/realtime", "other",
};
static const char *const error_types[8] = {
	"invalid_request_error", "authentication_error", "not_found_error",
	"rate_limit_error", "server_error", "service_unavailable", "other", NULL,
};
/* seconds; TTFT spans queueing + prefill, per-token spans one decode step */
static const double ttft_bounds[SVC_HIST_N] = {
	0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5, 10,
};
static const double token_bounds[SVC_HIST_N] = {
	0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1,
};

void svc_metrics_request(services *s, enum svc_route r, int status)
{
	int i;

	for (i = 0; status_codes[i] && status_codes[i] != status; i++)
		;
	s->m.requests[r][i]++; /* index 9: any other status */
}

void svc_metrics_error(services *s, const char *type)
{
	int i;

	for (i = 0; error_types[i] && strcmp(error_types[i], type); i++)
		;
	s->m.errors[error_types[i] ? i : 6]++;
}

static void hist_add(struct svc_hist *h, const double *bounds, double v)
{
	int i;

	for (i = 0; i < SVC_HIST_N && v > bounds[i]; i++)
		;
	h->bucket[i]++;
	h->count++;
	h->sum += v;
}

void svc_metrics_done(services *s, const pipeline_event *ev)
{
	if (ev->usage.completion_tokens > 0)
		hist_add(&s->m.ttft, ttft_bounds, ev->timings.ttft_ms / 1e3);
}

void svc_metrics_token_gap(services *s, double seconds)
{
	hist_add(&s->m.token_latency, token_bounds, seconds);
}

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void __attribute__((format(printf, 2, 3))) sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 0) + 256;
		char *np = realloc(b->p, b->cap);

		if (!np) {
			b->oom = true;
			return;
		}
		b->p = np;
	}
}

static void hist_print(struct sbuf *b, const char *name, const char *help,
		       const struct svc_hist *h, const double *bounds)
{
	uint64_t cum = 0;
	int i;

	sb_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (i = 0; i < SVC_HIST_N; i++) {
		cum += h->bucket[i];
		sb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
			  (unsigned long long)cum);
	}
	cum += h->bucket[SVC_HIST_N];
	sb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n",
		  name, (unsigned long long)cum, name, h->sum, name,
		  (unsigned long long)h->count);
}

static void requests_print(struct sbuf *b, const services *s)
{
	int r, i;

	sb_printf(b, "# HELP hearth_http_requests_total Requests by route and status.\n"
		  "# TYPE hearth_http_requests_total counter\n");
	for (r = 0; r < R_COUNT; r++)
		for (i = 0; i < 10; i++)
			if (s->m.requests[r][i])
				sb_printf(b, "hearth_http_requests_total{route=\"%s\",status=\"%s%d\"} %llu\n",
					  route_names[r], status_codes[i] ? "" : "other",
					  status_codes[i], (unsigned long long)s->m.requests[r][i]);
	sb_printf(b, "# HELP hearth_errors_total Errors returned, by type.\n"
		  "# TYPE hearth_errors_total counter\n");
	for (i = 0; error_types[i]; i++)
		sb_printf(b, "hearth_errors_total{type=\"%s\"} %llu\n", error_types[i],
			  (unsigned long long)s->m.errors[i]);
}

/* Continuous batching and the shared prefix cache, from the scheduler. */
static void engine_print(struct sbuf *b, const pipeline_stats *st)
{
	sb_printf(b, "# HELP hearth_decode_passes_total Batched decode forward passes.\n"
		  "# TYPE hearth_decode_passes_total counter\nhearth_decode_passes_total %llu\n",
		  (unsigned long long)st->decode_passes);
	sb_printf(b, "# HELP hearth_decode_rows_total Tokens evaluated by them (rows / passes "
		  "= mean batch).\n# TYPE hearth_decode_rows_total counter\n"
		  "hearth_decode_rows_total %llu\n", (unsigned long long)st->decode_rows);
	sb_printf(b, "# HELP hearth_decode_batch_max Largest decode batch so far.\n"
		  "# TYPE hearth_decode_batch_max gauge\nhearth_decode_batch_max %d\n",
		  st->decode_batch_max);
	sb_printf(b, "# HELP hearth_prefix_cache_hit_blocks_total KV blocks served by the "
		  "shared prefix cache.\n# TYPE hearth_prefix_cache_hit_blocks_total counter\n"
		  "hearth_prefix_cache_hit_blocks_total %llu\n",
		  (unsigned long long)st->prefix_hit_blocks);
	sb_printf(b, "# HELP hearth_prefix_cache_bytes Bytes held by the prefix cache.\n"
		  "# TYPE hearth_prefix_cache_bytes gauge\nhearth_prefix_cache_bytes %zu\n",
		  st->prefix_bytes);
}

char *svc_metrics_text(services *s, size_t *len)
{
	struct sbuf b = { 0 };
	pipeline_stats st = { 0 };

	if (s->pl)
		pipeline_get_stats(s->pl, &st);
	requests_print(&b, s);
	sb_printf(&b, "# HELP hearth_sessions_active Realtime WebSocket sessions open.\n"
		  "# TYPE hearth_sessions_active gauge\nhearth_sessions_active %d\n", s->n_ws);
	sb_printf(&b, "# HELP hearth_jobs_queued Generations waiting for a context.\n"
		  "# TYPE hearth_jobs_queued gauge\nhearth_jobs_queued %d\n", st.jobs_queued);
	sb_printf(&b, "# HELP hearth_jobs_running Generations running.\n"
		  "# TYPE hearth_jobs_running gauge\nhearth_jobs_running %d\n", st.jobs_running);
	sb_printf(&b, "# HELP hearth_contexts KV contexts alive.\n"
		  "# TYPE hearth_contexts gauge\nhearth_contexts %d\n", st.contexts);
	sb_printf(&b, "# HELP hearth_tokens_in_total Prompt tokens (cached included).\n"
		  "# TYPE hearth_tokens_in_total counter\nhearth_tokens_in_total %llu\n",
		  (unsigned long long)st.tokens_in);
	sb_printf(&b, "# HELP hearth_tokens_cached_total Prompt tokens reused from KV caches.\n"
		  "# TYPE hearth_tokens_cached_total counter\nhearth_tokens_cached_total %llu\n",
		  (unsigned long long)st.tokens_cached);
	sb_printf(&b, "# HELP hearth_tokens_out_total Generated tokens.\n"
		  "# TYPE hearth_tokens_out_total counter\nhearth_tokens_out_total %llu\n",
		  (unsigned long long)st.tokens_out);
	engine_print(&b, &st);
	sb_printf(&b, "# HELP hearth_clients_dropped_total Clients dropped for reading too slowly.\n"
		  "# TYPE hearth_clients_dropped_total counter\nhearth_clients_dropped_total %llu\n",
		  (unsigned long long)s->m.ws_dropped_slow);
	hist_print(&b, "hearth_ttft_seconds", "Submit to first token, per generation.",
		   &s->m.ttft, ttft_bounds);
	hist_print(&b, "hearth_token_latency_seconds", "Time between streamed tokens.",
		   &s->m.token_latency, token_bounds);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
