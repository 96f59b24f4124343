/*
 * services_int.h — private to services/: the server, its connections, the
 * per-connection output queue, and the pieces shared by services.c (loop,
 * auth, routing, writes), http_api.c (OpenAI HTTP routes), realtime.c
 * (WS /v1/realtime), format.c (JSON/SSE framing) and metrics.c.
 *
 * Threading: everything here runs on the services thread, except
 * svc_on_pipeline_event() (scheduler thread: it only queues a copy of the
 * event and wakes the loop).
 */
#ifndef HEARTH_SERVICES_INT_H
#define HEARTH_SERVICES_INT_H

#include "services.h"

#include "pipeline.h"

#include <cjson/cJSON.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

#define SVC_MAX_JSON_DEPTH 32
#define SVC_OUT_MAX_BYTES (1u << 20)   /* per-client queue before a drop */
#define SVC_OUT_MAX_MSGS 4096

/* ---------------------------------------------------------------------------
 * Metrics (services thread)
 */
enum svc_route {
	R_HEALTH, R_METRICS, R_MODELS, R_CHAT, R_REALTIME, R_OTHER, R_COUNT
};
#define SVC_HIST_N 12
struct svc_hist {
	uint64_t bucket[SVC_HIST_N + 1]; /* last: +Inf */
	uint64_t count;
	double sum;
};
struct svc_metrics {
	uint64_t requests[R_COUNT][10];  /* by status (svc_status_codes) */
	uint64_t errors[8];              /* by type (svc_error_types) */
	uint64_t ws_dropped_slow, ws_rejected;
	struct svc_hist ttft, token_latency;
};

/* ---------------------------------------------------------------------------
 * Connections
 */
struct svc_out {               /* one queued frame / body piece */
	struct svc_out *next;
	size_t len;
	unsigned char data[];      /* LWS_PRE bytes of headroom, then len */
};

enum conn_kind { CONN_NONE = 0, CONN_HTTP, CONN_WS };

struct rt_session;
struct http_job;

struct conn {
	enum conn_kind kind;
	struct lws *wsi;
	struct conn *prev, *next;  /* registry of live connections */
	struct svc_out *head, *tail;
	size_t out_bytes;
	int out_n;
	bool close_after;          /* close once the queue is written */
	bool dropped;              /* being killed (slow reader) */
	/* HTTP */
	enum svc_route route;
	int status;
	const char *ctype;
	bool headers_sent, complete, sse;
	bool is_post;
	char *body;
	size_t body_len;
	bool body_too_big;
	uint64_t job;
	struct http_job *hj;
	/* WS */
	struct rt_session *rt;
	char *rx;                  /* fragments of one message */
	size_t rx_len;
	bool rx_binary, rx_bad;
};

/* A pipeline event copied for the services thread. */
struct svc_event {
	struct svc_event *next;
	pipeline_event ev;         /* pointers below replace the borrowed ones */
	char *text, *name, *args, *msg;
};

struct services {
	struct lws_context *ctx;
	struct lws_vhost *vh;
	volatile sig_atomic_t stop;
	char host[64];
	char token[256];
	bool trust_loopback;
	char model_name[128];
	int port, max_sessions;
	size_t max_body;
	struct timespec started;
	struct lws_protocols protocols[3];
	pipeline *pl;              /* NULL: no model loaded */
	struct conn *conns;
	int n_ws;
	uint64_t next_id;          /* ids for responses, items, events */
	pthread_mutex_t ev_mu;     /* guards ev_head/ev_tail */
	struct svc_event *ev_head, *ev_tail;
	struct svc_metrics m;
};

/* services.c */
double svc_now(void);
/* Queue bytes for the connection and ask for WRITEABLE. Returns 0, or
 * HEARTH_EFULL when the client is too slow (it is then being dropped). */
int svc_queue(services *s, struct conn *c, const char *data, size_t len);
/* Queue a cJSON value as one message (WS text frame / HTTP body); frees
 * it. */
int svc_queue_json(services *s, struct conn *c, cJSON *v);
void svc_drop(services *s, struct conn *c, const char *why);
void svc_on_pipeline_event(const pipeline_event *ev, void *user_data);
/* A fresh id "<prefix>_<n>" into buf. */
void svc_new_id(services *s, const char *prefix, char *buf, size_t n);

/* format.c: JSON helpers used by both protocols */
/* Max nesting of brackets in text (strings skipped); > limit stops early. */
int svc_json_depth(const char *s, size_t n, int limit);
/* Parse a request body or WS message: UTF-8, depth, syntax. NULL with a
 * message in err on failure. */
cJSON *svc_json_parse(const char *s, size_t n, char *err, size_t errlen);
/* OpenAI error object {"error":{message,type,param,code}}; caller frees. */
cJSON *svc_oai_error(const char *msg, const char *type, const char *param,
		     const char *code);
/* One SSE frame "data: <json>\n\n" (caller frees), from v (not freed). */
char *svc_sse_frame(const cJSON *v, size_t *len);
/* The "timings" object of a DONE event. */
cJSON *svc_timings_json(const pipeline_timings *t);
/* Chat-completions tool call {"id","type":"function","function":{name,
 * arguments}} (with "index" when index >= 0). */
cJSON *svc_tool_call_json(int index, const char *id, const char *name,
			  const char *args);
/* Realtime tools (flat) → chat-completions tools array JSON text; NULL for
 * none; *bad gets the offending field. Caller frees. */
char *svc_tools_from_realtime(const cJSON *tools, const char **bad);

/* http_api.c */
void http_route(services *s, struct conn *c, const char *path);
void http_on_body_complete(services *s, struct conn *c);
void http_on_event(services *s, struct conn *c, const pipeline_event *ev);
void http_on_close(services *s, struct conn *c);
/* Queue a complete JSON response with a status. */
void http_respond_json(services *s, struct conn *c, int status, cJSON *body);
void http_respond_error(services *s, struct conn *c, int status,
			const char *type, const char *code, const char *param,
			const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* realtime.c */
int rt_open(services *s, struct conn *c);     /* after the upgrade */
void rt_on_message(services *s, struct conn *c, const char *msg, size_t len,
		   bool binary);
void rt_on_event(services *s, struct conn *c, const pipeline_event *ev);
void rt_close(services *s, struct conn *c);

/* metrics.c */
void svc_metrics_request(services *s, enum svc_route r, int status);
void svc_metrics_error(services *s, const char *type);
void svc_metrics_done(services *s, const pipeline_event *ev);
void svc_metrics_token_gap(services *s, double seconds);
char *svc_metrics_text(services *s, size_t *len); /* caller frees */

#endif
