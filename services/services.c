/*
 * services.c — the libwebsockets server: context and vhost setup, the
 * service loop, and HTTP routing.
 *
 * Threading rule: everything here runs on the services thread (the one in
 * services_run), except services_stop(), which only stores a flag and calls
 * lws_cancel_service() to wake the loop. Responses are written only from
 * LWS_CALLBACK_HTTP_WRITEABLE, never from the receive path (STYLE.md).
 */
#include "services.h"

#include "engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RESP_MAX 4096

struct services {
	struct lws_context *ctx;
	struct lws_vhost *vh;
	volatile sig_atomic_t stop;
	char host[64];
	char model_name[128];
	int port;
	struct timespec started;
	struct lws_protocols protocols[2];
};

/* Per HTTP connection: the response waiting for a WRITEABLE callback. */
struct http_conn {
	int status;
	bool headers_sent;
	size_t len;
	char body[RESP_MAX];
};

services_params services_default_params(void)
{
	services_params p = {
		.host = "127.0.0.1",
		.port = 8080,
		.token = NULL,
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

static double uptime_s(const services *s)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - s->started.tv_sec) +
	       (double)(now.tv_nsec - s->started.tv_nsec) / 1e9;
}

/* ---------------------------------------------------------------------------
 * HTTP routes
 */
static void route_health(services *s, struct http_conn *c)
{
	c->status = HTTP_STATUS_OK;
	c->len = (size_t)snprintf(c->body, sizeof(c->body),
		"{\"status\":\"ok\",\"version\":\"%s\",\"uptime_s\":%.3f,"
		"\"model\":\"%s\"}\n",
		HEARTH_VERSION, uptime_s(s), s->model_name);
}

static void route_error(struct http_conn *c, int status, const char *type,
			const char *msg)
{
	c->status = status;
	c->len = (size_t)snprintf(c->body, sizeof(c->body),
		"{\"error\":{\"message\":\"%s\",\"type\":\"%s\",\"param\":null,"
		"\"code\":null}}\n", msg, type);
}

static void route(services *s, struct lws *wsi, struct http_conn *c,
		  const char *path)
{
	bool is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;

	if (!strcmp(path, "/health")) {
		if (is_get)
			route_health(s, c);
		else
			route_error(c, HTTP_STATUS_METHOD_NOT_ALLOWED,
				    "invalid_request_error", "use GET /health");
		return;
	}
	route_error(c, HTTP_STATUS_NOT_FOUND, "invalid_request_error",
		    "no such route");
}

static int http_write(struct lws *wsi, struct http_conn *c)
{
	uint8_t buf[LWS_PRE + RESP_MAX + 512];
	uint8_t *start = buf + LWS_PRE, *p = start, *end = buf + sizeof(buf) - 1;

	if (!c->headers_sent) {
		if (lws_add_http_common_headers(wsi, (unsigned)c->status,
						"application/json", c->len, &p, end) ||
		    lws_finalize_write_http_header(wsi, start, &p, end))
			return -1;
		c->headers_sent = true;
		lws_callback_on_writable(wsi);
		return 0;
	}
	memcpy(start, c->body, c->len);
	if (lws_write(wsi, start, c->len, LWS_WRITE_HTTP_FINAL) != (int)c->len)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int http_cb(struct lws *wsi, enum lws_callback_reasons reason,
		   void *user, void *in, size_t len)
{
	services *s = lws_context_user(lws_get_context(wsi));
	struct http_conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP: {
		char path[256];

		snprintf(path, sizeof(path), "%.*s", (int)len, (const char *)in);
		memset(c, 0, sizeof(*c));
		route(s, wsi, c, path);
		lws_callback_on_writable(wsi);
		return 0;
	}
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return c ? http_write(wsi, c) : -1;
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
	snprintf(s->model_name, sizeof(s->model_name), "%s",
		 p->model_name ? p->model_name : "");
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	s->protocols[0] = (struct lws_protocols){
		.name = "http",
		.callback = http_cb,
		.per_session_data_size = sizeof(struct http_conn),
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
		free(s);
		return HEARTH_EBUSY;
	}
	s->port = lws_get_vhost_listen_port(s->vh);
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
	if (!s)
		return;
	lws_context_destroy(s->ctx);
	free(s);
}
