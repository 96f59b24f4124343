/*
 * pipeline_int.h — private to pipeline/: the scheduler's state and the job
 * runner shared by scheduler.c (thread, queues, contexts) and job.c (what
 * one job does in one scheduler turn).
 */
#ifndef HEARTH_PIPELINE_INT_H
#define HEARTH_PIPELINE_INT_H

#include "pipeline.h"

#include <pthread.h>
#include <stdatomic.h>

/* A context owned by the scheduler thread. Every context is created with
 * the same n_ctx and an n_batch of at least max_sessions + pool_size, so
 * any of them can lend its scratch to a batched decode of all the others
 * (engine_eval_multi's rule for ctxs[0]). */
struct pl_ctx {
	engine_context *ctx;
	int n_batch;           /* rows it can lend to engine_eval_multi */
	uint64_t sid;          /* owning session, 0 = pooled */
	bool busy;             /* a job runs on it */
	struct pl_ctx *next;
};

/* Bytes of one token's text (engine_token_to_piece), at most. */
#define PL_PIECE_MAX 256

struct pl_job {
	pipeline *pl;
	uint64_t id, sid;
	atomic_bool cancel;
	/* the request, owned copies */
	engine_chat_msg *msgs;
	int n_msgs;
	char *tools_json;
	pipeline_tool_choice tool_choice;
	char *tool_name;
	/* Constrained decoding (engine_json_guard): with response_schema the
	 * whole reply; else, with tools shown, every <tool_call> block. NULL
	 * when neither (or the tools' schemas cannot be compiled). */
	engine_json_guard *guard;
	bool guard_whole;      /* the guard is response_schema's */
	engine_sampler_params sp;
	int max_tokens;
	char *stop[PIPELINE_MAX_STOP];
	int n_stop;
	/* run state: scheduler thread only */
	struct pl_ctx *c;
	int32_t *prompt;       /* (n_prompt) rendered conversation + forced prefix */
	int n_prompt, n_done;  /* n_done: prompt tokens in the KV cache */
	int32_t next_tok;      /* sampled, waiting for this pass's batch */
	int cache_upto;        /* the first tile takes prompt[n_done, cache_upto)
				  from the prefix cache (0: nothing to take) */
	char *forced;          /* text forced at the reply's start, or NULL */
	engine_sampler *smp;
	tools_parser *parser;
	char *hold;            /* generated text held back for stop strings */
	unsigned char u8[4];   /* the start of a UTF-8 sequence a token cut */
	size_t u8_len;
	size_t hold_len, hold_cap;
	int n_gen, cached;
	bool ended;
	const char *finish;
	int error;
	char errmsg[256];
	double t_submit, t_start, t_prefill, t_first, t_last;
	double prefill_s;
	struct pl_job *next;
};

struct pl_session {
	uint64_t sid;          /* 0 = free slot */
	bool has_job;
};

struct pipeline {
	pipeline_params p;
	engine_model *m;
	int la_budget;         /* lookahead tokens per guarded value */
	engine_chat_format fmt;
	char *system;          /* pipeline_params.system, owned, or NULL */
	pipeline_speller *spell; /* mends user messages' typos, or NULL */
	char name[128];
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* guarded by mu */
	bool stop;
	pipeline_event_cb cb;
	void *cb_user_data;
	struct pl_job *incoming;   /* submitted, FIFO */
	struct pl_job *active;     /* started or waiting for a context; only
				      the scheduler changes it (under mu) */
	struct pl_session *sessions; /* (max_sessions) */
	int n_sessions, n_jobs;
	uint64_t next_id;
	pipeline_stats stats;
	/* scheduler thread only */
	struct pl_ctx *ctxs;
	engine_prefix_cache *pc;   /* shared by every context, or NULL */
	/* one pass's batched decode, (batch_cap) each: planned at start so the
	 * token loop allocates nothing */
	int batch_cap;
	struct pl_job **batch;
	engine_context **bctx;
	int32_t *btok;
};

double pl_now(void);

/* What one turn of a job did. */
enum pl_step {
	PL_STEP_WAIT,   /* nothing: it waits for a context */
	PL_STEP_RAN,    /* a prefill tile, or it ended (j->ended) */
	PL_STEP_DECODE, /* it sampled j->next_tok: evaluate it in the batch */
};

/* job.c: run one turn of job j: start it, prefill one tile and, once the
 * prompt is in, sample the next token. Sets j->ended when it is over. */
enum pl_step pl_job_step(pipeline *pl, struct pl_job *j);
/* job.c: the batch that evaluated j->next_tok returned rc (0 or < 0). */
void pl_job_decoded(struct pl_job *j, int rc, const engine_context *ws);
/* Emit DONE for an ended job and release its resources (not the struct). */
void pl_job_finish(pipeline *pl, struct pl_job *j);
void pl_job_free(struct pl_job *j);

/* scheduler.c: a context for j (session's own or the best pooled one),
 * NULL when none is free now; *err = HEARTH_ENOMEM when none ever will be
 * (a new context could not be made and no other is busy). */
struct pl_ctx *pl_ctx_acquire(pipeline *pl, struct pl_job *j, int *err);

/* scheduler.c: the thread's body (arg: the pipeline). */
void *pl_scheduler_main(void *arg);

#endif
