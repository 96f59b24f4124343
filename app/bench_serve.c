/*
 * bench_serve.c — `hearth bench serve --clients 1,4,10`: the real server
 * (pipeline + services, in this process, on a free loopback port) under N
 * concurrent streaming clients (POST /v1/chat/completions with
 * "stream":true, over raw sockets). Prints per client count:
 *   - TTFT p50/p95 at the client: request sent → first content chunk read;
 *   - aggregate tokens/s: completion tokens of all clients / wall time;
 *   - the added latency of the serving path: every SSE chunk carries
 *     "hearth":{"t_engine_ns"} (CLOCK_MONOTONIC when the scheduler handed
 *     the token out); the client subtracts it from its own CLOCK_MONOTONIC
 *     receive time (same machine, same clock): p50/p99, target p99 < 2 ms.
 * One request runs first to warm the model's pages and the prefix cache; it
 * is not counted. Figures, not pass/fail (DESIGN.md §7).
 *
 * Threads: the services loop on its own thread, the scheduler (pipeline),
 * and one thread per client. Every socket wait is bounded (poll with a
 * deadline) and every buffer has a size limit.
 */
#include "app.h"

#include "pipeline.h"
#include "services.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BS_MAX_CLIENTS 64
#define BS_MAX_COUNTS 16
#define BS_RESP_MAX ((size_t)4 << 20) /* bytes of one response */
#define BS_DEADLINE_S 300.0          /* one client's whole request */

/* The same system prompt for every client, as a home assistant has: after
 * the warm-up request it comes from the shared prefix cache. --system
 * replaces it (a model with a small context may need a shorter one). */
static const char bs_system[] =
	"You are Hearth, a friendly voice assistant for a family home. You can "
	"switch lights, set timers, read the weather and tell short stories to "
	"children. Answer briefly and kindly, in plain sentences, without lists.";

static int64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* ---------------------------------------------------------------------------
 * The server under test
 */
struct bs_server {
	pipeline *pl;
	services *svc;
	pthread_t th;
	bool running;
	int port;
};

static void *server_main(void *arg)
{
	struct bs_server *sv = arg;

	if (services_run(sv->svc))
		fprintf(stderr, "hearth bench: the server loop failed\n");
	return NULL;
}

/* A loopback port free right now (the server binds it a moment later). */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	if (fd < 0)
		return 0;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &al))
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static int server_start(const struct hearth_cli *c, int max_clients,
			struct bs_server *sv)
{
	pipeline_params pp = pipeline_default_params();
	services_params sp = services_default_params();
	char err[512];
	int tries;

	pp.model_path = app_model_path(c);
	pp.n_ctx = c->ctx;
	pp.n_threads = c->threads;
	/* every client runs at once: an HTTP context each */
	pp.pool_size = max_clients > pp.pool_size ? max_clients : pp.pool_size;
	pp.max_jobs = 4 * (pp.max_sessions + pp.pool_size);
	pp.prefix_cache_bytes = c->prefix_cache_mb > 0 ? (size_t)c->prefix_cache_mb << 20 : 0;
	if (c->chat_format[0])
		pp.chat_format = c->chat_format;
	pp.lookahead = c->lookahead;
	pp.no_spell = c->no_spell;
	if (pipeline_new(&pp, &sv->pl, err, sizeof(err))) {
		fprintf(stderr, "hearth: %s\n", err);
		return 1;
	}
	sp.host = "127.0.0.1";
	sp.pipeline = sv->pl;
	for (tries = 0; tries < 5 && !sv->svc; tries++) {
		sp.port = free_port();
		if (sp.port && services_new(&sp, &sv->svc, err, sizeof(err)))
			sv->svc = NULL; /* taken in between: another port */
	}
	if (!sv->svc) {
		fprintf(stderr, "hearth bench: cannot start the server: %s\n", err);
		return 1;
	}
	sv->port = services_port(sv->svc);
	if (pthread_create(&sv->th, NULL, server_main, sv)) {
		fprintf(stderr, "hearth bench: cannot start the server thread\n");
		return 1;
	}
	sv->running = true;
	return 0;
}

static void server_stop(struct bs_server *sv)
{
	if (sv->running) {
		services_stop(sv->svc);
		pthread_join(sv->th, NULL);
	}
	services_free(sv->svc); /* before the pipeline it serves */
	pipeline_free(sv->pl);
}

/* ---------------------------------------------------------------------------
 * One streaming client
 */
/* Opened by the main thread once every client thread exists. */
struct bs_gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool open;
};

static void gate_wait(struct bs_gate *g)
{
	pthread_mutex_lock(&g->mu);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void gate_open(struct bs_gate *g)
{
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

struct bs_client {
	/* in */
	int port, index, max_tokens;
	const char *system;        /* the system prompt */
	double temperature;
	long long seed;
	struct bs_gate *gate;      /* all clients send at once */
	/* out */
	bool ok;
	char err[160];
	int64_t t_send, t_first, t_end;
	int tokens;                /* usage.completion_tokens */
	int64_t *lat;              /* (lat_cap) receive − t_engine_ns */
	int n_lat, lat_cap;
	/* response parsing */
	char *raw;                 /* (BS_RESP_MAX) bytes as received */
	size_t raw_len, raw_pos;   /* raw_pos: first byte not yet decoded */
	char *body;                /* (BS_RESP_MAX) de-chunked body */
	size_t body_len, body_pos; /* body_pos: first byte of the next event */
	bool headers_done, chunked, done;
	size_t chunk_left;         /* body bytes left in the current chunk */
};

static void client_fail(struct bs_client *cl, const char *what)
{
	if (!cl->err[0])
		snprintf(cl->err, sizeof(cl->err), "client %d: %s", cl->index, what);
	cl->ok = false;
}

static char *request_text(const struct bs_client *cl, size_t *len)
{
	cJSON *o = cJSON_CreateObject(), *msgs, *m;
	char user[128], *body, *req = NULL;
	size_t bl;

	snprintf(user, sizeof(user), "Request %d: tell me a short story about the "
		 "kitchen light.", cl->index);
	cJSON_AddStringToObject(o, "model", "bench");
	cJSON_AddBoolToObject(o, "stream", true);
	cJSON_AddBoolToObject(cJSON_AddObjectToObject(o, "stream_options"),
			      "include_usage", true);
	cJSON_AddNumberToObject(o, "max_tokens", cl->max_tokens);
	cJSON_AddNumberToObject(o, "temperature", cl->temperature);
	cJSON_AddNumberToObject(o, "seed", (double)(cl->seed + cl->index));
	msgs = cJSON_AddArrayToObject(o, "messages");
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "system");
	cJSON_AddStringToObject(m, "content", cl->system);
	cJSON_AddItemToArray(msgs, m);
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "role", "user");
	cJSON_AddStringToObject(m, "content", user);
	cJSON_AddItemToArray(msgs, m);
	body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!body)
		return NULL;
	bl = strlen(body);
	req = malloc(bl + 256);
	if (req)
		*len = (size_t)snprintf(req, bl + 256, "POST /v1/chat/completions HTTP/1.1\r\n"
					"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
					"Content-Length: %zu\r\nConnection: close\r\n\r\n%s", bl, body);
	free(body);
	return req;
}

/* One SSE event's data (NUL-terminated), received at t_recv. */
static void on_sse_data(struct bs_client *cl, const char *data, int64_t t_recv)
{
	cJSON *o, *h, *ch, *d, *u;

	if (!strcmp(data, "[DONE]")) {
		cl->done = true;
		return;
	}
	o = cJSON_Parse(data);
	if (!o) {
		client_fail(cl, "a chunk is not JSON");
		return;
	}
	h = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "error"), "message");
	if (h) {
		snprintf(cl->err, sizeof(cl->err), "client %d: the server streamed an error: %s",
			 cl->index, cJSON_IsString(h) ? h->valuestring : "?");
		cl->ok = false;
	}
	h = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "hearth"), "t_engine_ns");
	if (cJSON_IsNumber(h) && cl->n_lat < cl->lat_cap)
		cl->lat[cl->n_lat++] = t_recv - (int64_t)h->valuedouble;
	/* the first token: content, a tool call, or the end (a reply whose
	 * first token ended it has only its finish chunk) */
	ch = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0);
	d = cJSON_GetObjectItem(ch, "delta");
	if (!cl->t_first && (cJSON_GetObjectItem(d, "tool_calls") ||
			     cJSON_IsString(cJSON_GetObjectItem(ch, "finish_reason")) ||
			     (cJSON_IsString(cJSON_GetObjectItem(d, "content")) &&
			      cJSON_GetObjectItem(d, "content")->valuestring[0])))
		cl->t_first = t_recv;
	u = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "usage"), "completion_tokens");
	if (cJSON_IsNumber(u))
		cl->tokens = u->valueint;
	cJSON_Delete(o);
}

/* Hand every complete "data: …\n\n" event of the body to on_sse_data. */
static void parse_events(struct bs_client *cl, int64_t t_recv)
{
	char *ev, *end;

	while (!cl->done && cl->ok) {
		ev = cl->body + cl->body_pos;
		end = memmem(ev, cl->body_len - cl->body_pos, "\n\n", 2);
		if (!end)
			return;
		*end = '\0';
		if (!strncmp(ev, "data: ", 6))
			on_sse_data(cl, ev + 6, t_recv);
		cl->body_pos = (size_t)(end - cl->body) + 2;
	}
}

/* Move received bytes into the body, undoing chunked transfer coding.
 * Returns false on a malformed chunk header. */
static bool decode_body(struct bs_client *cl)
{
	while (cl->raw_pos < cl->raw_len) {
		size_t avail = cl->raw_len - cl->raw_pos, n;
		char *p = cl->raw + cl->raw_pos, *eol, *hexend;

		if (!cl->chunked || cl->chunk_left) {
			n = cl->chunked && cl->chunk_left < avail ? cl->chunk_left : avail;
			memcpy(cl->body + cl->body_len, p, n);
			cl->body_len += n;
			cl->body[cl->body_len] = '\0';
			cl->raw_pos += n;
			if (cl->chunked)
				cl->chunk_left -= n;
			continue;
		}
		/* "\r\n" ending the previous chunk, then "<hex>[;ext]\r\n" */
		eol = memmem(p, avail, "\r\n", 2);
		if (!eol)
			return true; /* wait for the rest of the line */
		if (eol == p) {
			cl->raw_pos += 2;
			continue;
		}
		cl->chunk_left = (size_t)strtoul(p, &hexend, 16);
		if (hexend == p)
			return false;
		if (!cl->chunk_left)
			cl->done = true; /* the last chunk */
		cl->raw_pos = (size_t)(eol - cl->raw) + 2;
	}
	return true;
}

/* The status line and headers, once complete. Returns false on a bad
 * response. */
static bool parse_headers(struct bs_client *cl)
{
	char *end = memmem(cl->raw, cl->raw_len, "\r\n\r\n", 4), *p;

	if (!end)
		return true;
	*end = '\0';
	if (strncmp(cl->raw, "HTTP/1.1 200", 12)) {
		client_fail(cl, "the server did not answer 200");
		return false;
	}
	for (p = cl->raw; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	cl->chunked = strstr(cl->raw, "transfer-encoding: chunked") != NULL;
	cl->headers_done = true;
	cl->raw_pos = (size_t)(end - cl->raw) + 4;
	return true;
}

/* Read until [DONE], the end of the stream, an error or the deadline. */
static void client_read(struct bs_client *cl, int fd)
{
	int64_t deadline = cl->t_send + (int64_t)(BS_DEADLINE_S * 1e9), t;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t got;

	while (cl->ok && !cl->done) {
		t = mono_ns();
		if (t >= deadline) {
			client_fail(cl, "timed out");
			return;
		}
		if (poll(&pfd, 1, (int)((deadline - t) / 1000000) + 1) <= 0)
			continue; /* the deadline check ends a silent server */
		if (cl->raw_len + 1 >= BS_RESP_MAX) {
			client_fail(cl, "response too large");
			return;
		}
		got = recv(fd, cl->raw + cl->raw_len, BS_RESP_MAX - 1 - cl->raw_len, 0);
		t = mono_ns();
		if (got <= 0) {
			if (got < 0 && errno == EINTR)
				continue;
			if (!cl->done)
				client_fail(cl, "the server closed the stream before [DONE]");
			return;
		}
		cl->raw_len += (size_t)got;
		cl->raw[cl->raw_len] = '\0';
		if (!cl->headers_done && !parse_headers(cl))
			return;
		if (cl->headers_done && !decode_body(cl)) {
			client_fail(cl, "malformed chunked body");
			return;
		}
		parse_events(cl, t);
	}
}

static int client_connect(struct bs_client *cl)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	a.sin_port = htons((uint16_t)cl->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *client_main(void *arg)
{
	struct bs_client *cl = arg;
	size_t len = 0, off = 0;
	char *req = request_text(cl, &len);
	int fd = client_connect(cl);
	ssize_t n;

	gate_wait(cl->gate);
	if (fd < 0 || !req || !cl->raw || !cl->body || !cl->lat) {
		client_fail(cl, fd < 0 ? "cannot connect" : "out of memory");
		goto out_close;
	}
	cl->t_send = mono_ns();
	while (off < len) {
		n = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (n <= 0) {
			client_fail(cl, "cannot send the request");
			goto out_close;
		}
		off += (size_t)n;
	}
	client_read(cl, fd);
	cl->t_end = mono_ns();
	if (cl->ok && !cl->t_first)
		client_fail(cl, "the stream had neither content nor a finish chunk");
out_close:
	if (fd >= 0)
		close(fd);
	free(req);
	return NULL;
}

/* ---------------------------------------------------------------------------
 * A round of N clients, and its figures
 */
struct bs_round {
	int n_clients, n_ok;
	double ttft_p50, ttft_p95;      /* ms */
	double lat_p50, lat_p99, lat_max; /* ms */
	int n_lat, tokens;
	double wall_s, tps;
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v (n > 0), in ms. */
static double pct_ms(const int64_t *v, int n, double p)
{
	int k = (int)(p / 100.0 * n + 0.999999) - 1;

	k = k < 0 ? 0 : (k >= n ? n - 1 : k);
	return (double)v[k] / 1e6;
}

static void round_figures(struct bs_client *cls, int n, struct bs_round *r)
{
	int64_t ttft[BS_MAX_CLIENTS], t0 = INT64_MAX, t1 = 0, *lat;
	int i, k, n_lat = 0;

	for (i = 0; i < n; i++)
		n_lat += cls[i].ok ? cls[i].n_lat : 0;
	lat = malloc(((size_t)n_lat + 1) * sizeof(*lat));
	for (i = 0; i < n; i++) {
		if (!cls[i].ok)
			continue;
		ttft[r->n_ok++] = cls[i].t_first - cls[i].t_send;
		r->tokens += cls[i].tokens;
		t0 = cls[i].t_send < t0 ? cls[i].t_send : t0;
		t1 = cls[i].t_end > t1 ? cls[i].t_end : t1;
		for (k = 0; lat && k < cls[i].n_lat; k++)
			lat[r->n_lat++] = cls[i].lat[k];
	}
	if (r->n_ok) {
		qsort(ttft, (size_t)r->n_ok, sizeof(*ttft), cmp_i64);
		r->ttft_p50 = pct_ms(ttft, r->n_ok, 50);
		r->ttft_p95 = pct_ms(ttft, r->n_ok, 95);
		r->wall_s = (double)(t1 - t0) / 1e9;
		r->tps = r->wall_s > 0 ? r->tokens / r->wall_s : 0;
	}
	if (r->n_lat) {
		qsort(lat, (size_t)r->n_lat, sizeof(*lat), cmp_i64);
		r->lat_p50 = pct_ms(lat, r->n_lat, 50);
		r->lat_p99 = pct_ms(lat, r->n_lat, 99);
		r->lat_max = (double)lat[r->n_lat - 1] / 1e6;
	}
	free(lat);
}

static void clients_free(struct bs_client *cls, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		free(cls[i].raw);
		free(cls[i].body);
		free(cls[i].lat);
	}
}

/* Run n clients at once against port, numbered from first (a request
 * never repeats an earlier one's user turn: only the system prompt is
 * shared); fills r. Returns 0 when every client completed its stream. */
static int run_round(const struct hearth_cli *c, int port, int n, int first,
		     struct bs_round *r)
{
	struct bs_client cls[BS_MAX_CLIENTS];
	pthread_t th[BS_MAX_CLIENTS];
	bool started[BS_MAX_CLIENTS];
	struct bs_gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false };
	int i, failed = 0;

	memset(cls, 0, sizeof(cls));
	memset(r, 0, sizeof(*r));
	r->n_clients = n;
	for (i = 0; i < n; i++) {
		cls[i] = (struct bs_client){ .port = port, .index = first + i, .gate = &gate,
			.max_tokens = c->gen > 0 ? c->gen : 64, .temperature = c->temperature,
			.system = c->system[0] ? c->system : bs_system,
			.seed = c->seed >= 0 ? c->seed : 1 };
		cls[i].lat_cap = 4 * cls[i].max_tokens + 64; /* text events per token: ~1 */
		cls[i].raw = malloc(BS_RESP_MAX);
		cls[i].body = malloc(BS_RESP_MAX);
		cls[i].lat = malloc((size_t)cls[i].lat_cap * sizeof(*cls[i].lat));
		cls[i].ok = true;
	}
	for (i = 0; i < n; i++) {
		started[i] = !pthread_create(&th[i], NULL, client_main, &cls[i]);
		if (!started[i])
			client_fail(&cls[i], "cannot start its thread");
	}
	gate_open(&gate);
	for (i = 0; i < n; i++)
		if (started[i])
			pthread_join(th[i], NULL);
	pthread_mutex_destroy(&gate.mu);
	pthread_cond_destroy(&gate.cv);
	for (i = 0; i < n; i++)
		if (!cls[i].ok) {
			fprintf(stderr, "hearth bench: %s\n", cls[i].err);
			failed++;
		}
	round_figures(cls, n, r);
	clients_free(cls, n);
	return failed ? 1 : 0;
}

static void round_print(const struct hearth_cli *c, const char *model,
			const struct bs_round *r)
{
	if (c->json) {
		printf("{\"bench\":\"serve\",\"model\":\"%s\",\"clients\":%d,\"completed\":%d,"
		       "\"ttft_ms_p50\":%.3f,\"ttft_ms_p95\":%.3f,\"completion_tokens\":%d,"
		       "\"wall_s\":%.3f,\"aggregate_tps\":%.2f,\"added_latency_ms_p50\":%.4f,"
		       "\"added_latency_ms_p99\":%.4f,\"added_latency_ms_max\":%.4f,"
		       "\"latency_samples\":%d}\n", model, r->n_clients, r->n_ok,
		       r->ttft_p50, r->ttft_p95, r->tokens, r->wall_s, r->tps, r->lat_p50,
		       r->lat_p99, r->lat_max, r->n_lat);
		return;
	}
	printf("clients %3d: TTFT p50 %8.2f ms  p95 %8.2f ms | aggregate %8.2f tokens/s "
	       "(%d tokens in %.2f s) | added latency engine->client p50 %.3f ms  p99 %.3f ms "
	       "(max %.3f, %d chunks)%s\n", r->n_clients, r->ttft_p50, r->ttft_p95, r->tps,
	       r->tokens, r->wall_s, r->lat_p50, r->lat_p99, r->lat_max, r->n_lat,
	       r->n_ok < r->n_clients ? "  [some clients failed]" : "");
}

/* "1,4,10" → counts; -1 on a bad list. */
static int parse_counts(const char *s, int *out)
{
	int n = 0;
	char *end;

	while (*s) {
		long v = strtol(s, &end, 10);

		if (end == s || v < 1 || v > BS_MAX_CLIENTS || n == BS_MAX_COUNTS ||
		    (*end && *end != ','))
			return -1;
		out[n++] = (int)v;
		s = *end ? end + 1 : end;
	}
	return n;
}

int app_bench_serve(const struct hearth_cli *c)
{
	struct bs_server sv = { 0 };
	struct bs_round r;
	int counts[BS_MAX_COUNTS], n, i, first, max = 1, rc = 0;

	n = parse_counts(c->clients[0] ? c->clients : "1,4,10", counts);
	if (n <= 0)
		return app_usage_error(c->cmd, "--clients needs a list of 1..64, e.g. 1,4,10");
	for (i = 0; i < n; i++)
		max = counts[i] > max ? counts[i] : max;
	if (server_start(c, max, &sv)) {
		server_stop(&sv);
		return 1;
	}
	if (!c->json)
		printf("bench serve: %s on 127.0.0.1:%d, %d tokens per request, temperature %.2f "
		       "(one warm-up request first, not counted)\n", pipeline_model_name(sv.pl),
		       sv.port, c->gen > 0 ? c->gen : 64, c->temperature);
	rc = run_round(c, sv.port, 1, 0, &r);
	for (i = 0, first = 1; i < n && !rc; first += counts[i++]) {
		rc = run_round(c, sv.port, counts[i], first, &r);
		round_print(c, app_model_path(c), &r);
		fflush(stdout);
	}
	server_stop(&sv);
	return rc ? 1 : 0;
}
