/*
 * services.h — Hearth's network face: one libwebsockets server on one port
 * serving the OpenAI-compatible HTTP API (POST /v1/chat/completions,
 * GET /v1/models), the realtime WebSocket (WS /v1/realtime, PROTOCOLS.md
 * §1, text events), GET /health and GET /metrics (DESIGN.md §5).
 *
 * Threads: services_run() runs the libwebsockets loop on the calling thread;
 * that thread is the only one that touches sockets. services_stop() is safe
 * from any thread and from a signal handler (it only sets a flag and wakes
 * the loop).
 */
#ifndef HEARTH_SERVICES_H
#define HEARTH_SERVICES_H

#include <stdbool.h>
#include <stddef.h>

struct pipeline;

typedef struct services services;

typedef struct services_params {
	const char *host;       /* IP address to bind ("127.0.0.1", "::1",
				   "0.0.0.0"); borrowed during services_new */
	int port;               /* 1..65535 */
	const char *token;      /* bearer token for non-loopback clients, or
				   NULL/"" (then only loopback is served) */
	bool trust_loopback;    /* loopback clients need no token (default);
				   false: everyone must show it */
	int max_sessions;
	size_t max_body;        /* bytes; larger requests get 413 */
	const char *model_name; /* reported by /health; NULL = the pipeline's */
	struct pipeline *pipeline; /* the engine's scheduler (pipeline.h), or
				   NULL: no model, the /v1 routes answer 503;
				   borrowed, must outlive the server */
} services_params;

services_params services_default_params(void);

/*
 * Parse "HOST:PORT" or "[V6]:PORT" into host (size hostlen) and *port.
 * Returns 0, or a negative HEARTH_E* code with a message in err.
 */
int services_parse_listen(const char *listen, char *host, size_t hostlen,
			  int *port, char *err, size_t errlen);

/*
 * Create the server and bind its port. Returns 0 and *out, or a negative
 * code with a message in err (e.g. "cannot listen on 127.0.0.1:8080:
 * Address already in use"); nothing is left open on failure.
 */
int services_new(const services_params *p, services **out, char *err,
		 size_t errlen);

/* Serve until services_stop(); returns 0 after a clean shutdown. */
int services_run(services *s);

/* Ask services_run() to return. Async-signal-safe. */
void services_stop(services *s);

/* Close the listening socket and every connection and free everything
 * (NULL-safe). Free the server before the pipeline it serves. */
void services_free(services *s);

/* The port actually bound (useful with port 0 in tests). */
int services_port(const services *s);

#endif
