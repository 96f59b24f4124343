/*
 * services.c — the libwebsockets server: context and vhost setup, the
 * service loop, auth, connection bookkeeping, the per-client output queue,
 * and the hand-off of pipeline events into the loop.
 *
 * Threading rule: everything here runs on the services thread (the one in
 * services_run), except services_stop() (stores a flag, wakes the loop) and
 * svc_on_pipeline_event() (scheduler thread: queues a copy under ev_mu and
 * wakes the loop with lws_cancel_service()). Bytes reach a socket only from
 * the WRITEABLE callbacks, never from a receive handler (STYLE.md); every
 * client has a bounded queue and a client that lets it fill is dropped.
 */
#include "services_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

services_params services_default_params(void)
{
	services_params p = {
		.host = "127.0.0.1",
		.port = 8080,
		.token = NULL,
		.trust_loopback = true,
		.max_sessions = 10,
		.max_body = 1u << 20,
		.model_name = NULL,
	};
	return p;
}

int services_parse_listen(const char *listen, char *host, size_t hostlen,
			  int *port, char *err, size_t errlen)
{
	const char *colon, *h = listen;
	size_t hl;
	char *end;
	long v;

	if (!listen || !*listen)
		goto out_bad;
	if (*listen == '[') {
		const char *rb = strchr(listen, ']');

		if (!rb || rb[1] != ':')
			goto out_bad;
		h = listen + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon)
			goto out_bad;
		hl = (size_t)(colon - listen);
	}
	if (hl == 0 || hl >= hostlen)
		goto out_bad;
	errno = 0;
	v = strtol(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || v < 1 || v > 65535)
		goto out_bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (int)v;
	return 0;
out_bad:
	snprintf(err, errlen, "bad listen address '%s': expected HOST:PORT "
		 "(e.g. 127.0.0.1:8080 or [::1]:8080)", listen ? listen : "");
	return HEARTH_EINVAL;
}

double svc_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void svc_new_id(services *s, const char *prefix, char *buf, size_t n)
{
	snprintf(buf, n, "%s_%llu", prefix, (unsigned long long)++s->next_id);
}

/* ---------------------------------------------------------------------------
 * Connection registry and output queue
 */
static void conn_register(services *s, struct conn *c, struct lws *wsi,
			  enum conn_kind kind)
{
	c->kind = kind;
	c->wsi = wsi;
	c->prev = NULL;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
}

static void out_clear(struct conn *c)
{
	struct svc_out *o, *next;

	for (o = c->head; o; o = next) {
		next = o->next;
		free(o);
	}
	c->head = c->tail = NULL;
	c->out_bytes = 0;
	c->out_n = 0;
}

static void conn_unregister(services *s, struct conn *c)
{
	if (c->kind == CONN_NONE)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->kind = CONN_NONE;
	out_clear(c);
	free(c->body);
	c->body = NULL;
	free(c->rx);
	c->rx = NULL;
}

static struct conn *conn_by_job(services *s, uint64_t job)
{
	struct conn *c;

	for (c = s->conns; c; c = c->next)
		if (c->job == job)
			return c;
	return NULL;
}

void svc_drop(services *s, struct conn *c, const char *why)
{
	if (c->dropped)
		return;
	c->dropped = true;
	out_clear(c);
	if (c->kind == CONN_WS)
		s->m.ws_dropped_slow++;
	fprintf(stderr, "hearth: dropping a client: %s\n", why);
	if (c->job && s->pl)
		pipeline_cancel(s->pl, c->job);
	/* close from outside its own callback: the lws way is a timeout */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

int svc_queue(services *s, struct conn *c, const char *data, size_t len)
{
	struct svc_out *o;

	if (c->dropped)
		return HEARTH_EFULL;
	if (c->out_bytes + len > SVC_OUT_MAX_BYTES || c->out_n >= SVC_OUT_MAX_MSGS) {
		svc_drop(s, c, "the client does not read fast enough");
		return HEARTH_EFULL;
	}
	o = malloc(sizeof(*o) + LWS_PRE + len);
	if (!o)
		return HEARTH_ENOMEM;
	o->next = NULL;
	o->len = len;
	memcpy(o->data + LWS_PRE, data, len);
	if (c->tail)
		c->tail->next = o;
	else
		c->head = o;
	c->tail = o;
	c->out_bytes += len;
	c->out_n++;
	lws_callback_on_writable(c->wsi);
	return 0;
}

int svc_queue_json(services *s, struct conn *c, cJSON *v)
{
	char *txt = v ? cJSON_PrintUnformatted(v) : NULL;
	int rc = txt ? svc_queue(s, c, txt, strlen(txt)) : HEARTH_ENOMEM;

	free(txt);
	cJSON_Delete(v);
	return rc;
}

static struct svc_out *out_pop(struct conn *c)
{
	struct svc_out *o = c->head;

	if (!o)
		return NULL;
	c->head = o->next;
	if (!c->head)
		c->tail = NULL;
	c->out_bytes -= o->len;
	c->out_n--;
	return o;
}

/* ---------------------------------------------------------------------------
 * Pipeline events: scheduler thread → queue → services thread
 */
static char *dup_n(const char *p, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, p ? p : "", n);
		d[n] = '\0';
	}
	return d;
}

void svc_on_pipeline_event(const pipeline_event *ev, void *user_data)
{
	services *s = user_data;
	struct svc_event *e = calloc(1, sizeof(*e));

	if (!e)
		return; /* the DONE of this job may be lost: see services_run */
	e->ev = *ev;
	e->text = dup_n(ev->text, ev->len);
	e->name = ev->tool_name ? dup_n(ev->tool_name, strlen(ev->tool_name)) : NULL;
	e->args = ev->tool_args ? dup_n(ev->tool_args, strlen(ev->tool_args)) : NULL;
	e->msg = ev->error_msg ? dup_n(ev->error_msg, strlen(ev->error_msg)) : NULL;
	e->ev.text = e->text;
	e->ev.tool_name = e->name;
	e->ev.tool_args = e->args;
	e->ev.error_msg = e->msg;
	pthread_mutex_lock(&s->ev_mu);
	if (s->ev_tail)
		s->ev_tail->next = e;
	else
		s->ev_head = e;
	s->ev_tail = e;
	pthread_mutex_unlock(&s->ev_mu);
	lws_cancel_service(s->ctx);
}

static void event_free(struct svc_event *e)
{
	free(e->text);
	free(e->name);
	free(e->args);
	free(e->msg);
	free(e);
}

static void drain_events(services *s)
{
	struct svc_event *e, *next;
	struct conn *c;

	pthread_mutex_lock(&s->ev_mu);
	e = s->ev_head;
	s->ev_head = s->ev_tail = NULL;
	pthread_mutex_unlock(&s->ev_mu);
	for (; e; e = next) {
		next = e->next;
		if (e->ev.kind == PIPELINE_EV_DONE)
			svc_metrics_done(s, &e->ev);
		c = conn_by_job(s, e->ev.job);
		if (c && !c->dropped && c->kind == CONN_HTTP)
			http_on_event(s, c, &e->ev);
		else if (c && !c->dropped && c->kind == CONN_WS)
			rt_on_event(s, c, &e->ev);
		event_free(e);
	}
}

/* ---------------------------------------------------------------------------
 * Auth: loopback is trusted; anyone else shows the token
 */
static bool peer_trusted(struct lws *wsi)
{
	char ip[64] = "";

	lws_get_peer_simple(wsi, ip, sizeof(ip));
	return !strncmp(ip, "127.", 4) || !strcmp(ip, "::1") ||
	       !strncmp(ip, "::ffff:127.", 11);
}

/* Constant-time in the token's content (the length is not secret). */
static bool token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char d = la != lb;

	for (i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return d == 0 && lb > 0;
}

static bool authorized(services *s, struct lws *wsi)
{
	char hdr[512] = "", arg[300] = "";
	const char *q;

	if (s->trust_loopback && peer_trusted(wsi))
		return true;
	if (!s->token[0])
		return false;
	if (lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
	    !strncasecmp(hdr, "Bearer ", 7) && token_equal(hdr + 7, s->token))
		return true;
	q = lws_get_urlarg_by_name(wsi, "token=", arg, sizeof(arg));
	return q && token_equal(q, s->token);
}

/* ---------------------------------------------------------------------------
 * HTTP and WS callbacks
 */
static int http_write(struct lws *wsi, struct conn *c)
{
	uint8_t hbuf[LWS_PRE + 1024];
	uint8_t *start = hbuf + LWS_PRE, *p = start, *end = hbuf + sizeof(hbuf) - 1;
	struct svc_out *o;
	bool last;

	if (!c->status)
		return 0;
	if (!c->headers_sent) {
		if (lws_add_http_common_headers(wsi, (unsigned)c->status, c->ctype,
				c->sse ? LWS_ILLEGAL_HTTP_CONTENT_LEN : c->out_bytes, &p, end))
			return -1;
		if (c->sse && lws_add_http_header_by_name(wsi,
				(const unsigned char *)"cache-control:",
				(const unsigned char *)"no-cache", 8, &p, end))
			return -1;
		if (lws_finalize_write_http_header(wsi, start, &p, end))
			return -1;
		c->headers_sent = true;
		lws_callback_on_writable(wsi);
		return 0;
	}
	o = out_pop(c);
	if (!o)
		return 0;
	last = !c->head && c->complete;
	if (lws_write(wsi, o->data + LWS_PRE, o->len,
		      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)o->len) {
		free(o);
		return -1;
	}
	free(o);
	if (!last) {
		if (c->head)
			lws_callback_on_writable(wsi);
		return 0;
	}
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int ws_write(struct lws *wsi, struct conn *c)
{
	struct svc_out *o = out_pop(c);
	int n;

	if (!o)
		goto out_maybe_close;
	n = lws_write(wsi, o->data + LWS_PRE, o->len, LWS_WRITE_TEXT);
	free(o);
	if (n < 0)
		return -1;
	if (c->head)
		lws_callback_on_writable(wsi);
out_maybe_close:
	if (!c->head && c->close_after) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, NULL, 0);
		return -1;
	}
	return 0;
}

static void http_begin(services *s, struct lws *wsi, struct conn *c,
		       const char *in, size_t len)
{
	char path[256], clen[32] = "";

	if (c->kind != CONN_HTTP)
		conn_register(s, c, wsi, CONN_HTTP);
	/* a new transaction on a kept-alive connection starts clean */
	out_clear(c);
	free(c->body);
	c->body = NULL;
	c->body_len = 0;
	c->status = 0;
	c->headers_sent = c->complete = c->sse = c->body_too_big = false;
	c->job = 0;
	snprintf(path, sizeof(path), "%.*s", (int)len, in);
	c->is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	if (!authorized(s, wsi)) {
		http_respond_error(s, c, 401, "invalid_request_error", "invalid_api_key",
				   NULL, "missing or wrong bearer token");
		return;
	}
	if (c->is_post && lws_hdr_copy(wsi, clen, sizeof(clen),
				       WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
	    strtoull(clen, NULL, 10) > s->max_body) {
		c->body_too_big = true;
		http_respond_error(s, c, 413, "invalid_request_error", "request_too_large",
				   NULL, "the body is larger than %zu bytes", s->max_body);
		return;
	}
	http_route(s, c, path);
}

static void http_body(services *s, struct conn *c, const char *in, size_t len)
{
	char *p;

	if (c->status || c->body_too_big)
		return; /* already answered (e.g. 401/404) */
	if (c->body_len + len > s->max_body) {
		c->body_too_big = true;
		http_respond_error(s, c, 413, "invalid_request_error", "request_too_large",
				   NULL, "the body is larger than %zu bytes", s->max_body);
		return;
	}
	p = realloc(c->body, c->body_len + len + 1);
	if (!p) {
		http_respond_error(s, c, 503, "server_error", NULL, NULL, "out of memory");
		return;
	}
	memcpy(p + c->body_len, in, len);
	c->body = p;
	c->body_len += len;
	c->body[c->body_len] = '\0';
}

static int upgrade_check(services *s, struct lws *wsi)
{
	char path[256] = "";

	lws_hdr_copy(wsi, path, sizeof(path), WSI_TOKEN_GET_URI);
	if (strcmp(path, "/v1/realtime")) {
		svc_metrics_request(s, R_OTHER, 404);
		lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
		return 1;
	}
	if (!s->pl) {
		svc_metrics_request(s, R_REALTIME, 503);
		lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "no model loaded");
		return 1;
	}
	if (!authorized(s, wsi)) {
		svc_metrics_request(s, R_REALTIME, 401);
		svc_metrics_error(s, "authentication_error");
		lws_return_http_status(wsi, HTTP_STATUS_UNAUTHORIZED, NULL);
		return 1;
	}
	return 0;
}

/* Reassemble fragments; a message larger than max_body is refused. */
static void ws_receive(services *s, struct lws *wsi, struct conn *c,
		       const char *in, size_t len)
{
	bool first = lws_is_first_fragment(wsi), final = lws_is_final_fragment(wsi);
	char *p;

	if (first) {
		c->rx_len = 0;
		c->rx_bad = false;
		c->rx_binary = lws_frame_is_binary(wsi);
	}
	if (!c->rx_bad && c->rx_len + len > s->max_body) {
		c->rx_bad = true;
		rt_on_message(s, c, NULL, c->rx_len + len, c->rx_binary);
	}
	if (c->rx_bad)
		return;
	p = realloc(c->rx, c->rx_len + len + 1);
	if (!p) {
		c->rx_bad = true;
		return;
	}
	c->rx = p;
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	c->rx[c->rx_len] = '\0';
	if (final)
		rt_on_message(s, c, c->rx, c->rx_len, c->rx_binary);
}

static int svc_cb(struct lws *wsi, enum lws_callback_reasons reason,
		  void *user, void *in, size_t len)
{
	struct lws_context *lc = lws_get_context(wsi);
	services *s = lc ? lws_context_user(lc) : NULL;
	struct conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (s)
			drain_events(s);
		return 0;
	case LWS_CALLBACK_HTTP:
		http_begin(s, wsi, c, in, len);
		return 0;
	case LWS_CALLBACK_HTTP_BODY:
		http_body(s, c, in, len);
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!c->status && !c->body_too_big)
			http_on_body_complete(s, c);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return c && c->kind == CONN_HTTP ? http_write(wsi, c) : 0;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL: /* lws frees the pss next */
	case LWS_CALLBACK_CLOSED_HTTP:
		if (c && c->kind == CONN_HTTP) {
			http_on_close(s, c);
			conn_unregister(s, c);
		}
		return 0;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return upgrade_check(s, wsi);
	case LWS_CALLBACK_ESTABLISHED:
		memset(c, 0, sizeof(*c));
		conn_register(s, c, wsi, CONN_WS);
		return rt_open(s, c) ? -1 : 0;
	case LWS_CALLBACK_RECEIVE:
		if (c->kind == CONN_WS && !c->dropped)
			ws_receive(s, wsi, c, in, len);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c->kind == CONN_WS ? ws_write(wsi, c) : 0;
	case LWS_CALLBACK_CLOSED:
		if (c && c->kind == CONN_WS) {
			rt_close(s, c);
			conn_unregister(s, c);
		}
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}
/* ---------------------------------------------------------------------------
 * Lifecycle
 */
static void lws_log_emit(int level, const char *line)
{
	fprintf(stderr, "hearth: lws: %s", line);
	(void)level;
}

/* lws reports a failed bind only in its log; probe the address ourselves to
 * give the operator the real reason (e.g. EADDRINUSE). */
static int bind_error(const char *host, int port)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, e = 0;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in6);
	} else if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
		((struct sockaddr_in *)&ss)->sin_family = AF_INET;
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
		sl = sizeof(struct sockaddr_in);
	} else {
		return EADDRNOTAVAIL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		e = errno;
	close(fd);
	return e;
}

int services_new(const services_params *p, services **out, char *err,
		 size_t errlen)
{
	struct lws_context_creation_info info;
	services *s;
	int e;

	*out = NULL;
	if (!p || !p->host || p->port < 1 || p->port > 65535)
		return HEARTH_EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return HEARTH_ENOMEM;
	snprintf(s->host, sizeof(s->host), "%s", p->host);
	snprintf(s->token, sizeof(s->token), "%s", p->token ? p->token : "");
	s->trust_loopback = p->trust_loopback;
	s->pl = p->pipeline;
	snprintf(s->model_name, sizeof(s->model_name), "%s",
		 p->model_name ? p->model_name :
		 s->pl ? pipeline_model_name(s->pl) : "");
	s->max_sessions = p->max_sessions > 0 ? p->max_sessions : 10;
	s->max_body = p->max_body ? p->max_body : 1u << 20;
	pthread_mutex_init(&s->ev_mu, NULL);
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	/* one callback for HTTP and WS; "realtime" also matches the
	 * subprotocol OpenAI's browser clients ask for */
	s->protocols[0] = (struct lws_protocols){
		.name = "http",
		.callback = svc_cb,
		.per_session_data_size = sizeof(struct conn),
		.rx_buffer_size = 0,
	};
	s->protocols[1] = (struct lws_protocols){
		.name = "realtime",
		.callback = svc_cb,
		.per_session_data_size = sizeof(struct conn),
		.rx_buffer_size = 0,
	};
	lws_set_log_level(LLL_ERR, lws_log_emit);

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
		       LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
	info.user = s;
	info.port = CONTEXT_PORT_NO_LISTEN;
	s->ctx = lws_create_context(&info);
	if (!s->ctx) {
		snprintf(err, errlen, "cannot create the libwebsockets context");
		pthread_mutex_destroy(&s->ev_mu);
		free(s);
		return HEARTH_ENOMEM;
	}
	memset(&info, 0, sizeof(info));
	info.port = p->port;
	info.iface = s->host;
	info.protocols = s->protocols;
	info.vhost_name = "hearth";
	info.options = LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
	s->vh = lws_create_vhost(s->ctx, &info);
	if (!s->vh) {
		e = bind_error(s->host, p->port);
		snprintf(err, errlen, "cannot listen on %s:%d: %s", s->host, p->port,
			 e ? strerror(e) : "libwebsockets refused the address");
		lws_context_destroy(s->ctx);
		pthread_mutex_destroy(&s->ev_mu);
		free(s);
		return HEARTH_EBUSY;
	}
	s->port = lws_get_vhost_listen_port(s->vh);
	if (s->pl)
		pipeline_set_event_cb(s->pl, svc_on_pipeline_event, s);
	*out = s;
	return 0;
}

int services_run(services *s)
{
	while (!s->stop) {
		if (lws_service(s->ctx, 0) < 0)
			return HEARTH_EIO;
	}
	return 0;
}

void services_stop(services *s)
{
	s->stop = 1;
	lws_cancel_service(s->ctx);
}

int services_port(const services *s)
{
	return s->port;
}

void services_free(services *s)
{
	struct svc_event *e, *next;

	if (!s)
		return;
	if (s->pl)
		pipeline_set_event_cb(s->pl, NULL, NULL);
	lws_context_destroy(s->ctx);
	for (e = s->ev_head; e; e = next) {
		next = e->next;
		event_free(e);
	}
	pthread_mutex_destroy(&s->ev_mu);
	free(s);
}
