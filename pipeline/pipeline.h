/*
 * pipeline.h — the scheduler that owns the engine, sessions and turns
 * (DESIGN.md §4, §5 pipeline/).
 *
 * Built now: one scheduler thread that owns the model and every
 * engine_context; chat jobs (a rendered conversation + sampling settings)
 * from any number of sessions run interleaved: each pass gives every job
 * still prefilling one bounded tile, then advances every decoding job by
 * one token in ONE batched forward pass (continuous batching,
 * engine_eval_multi), so a long generation never starves a new short turn
 * and a second user does not double the cost. HTTP requests take a context
 * from a pool (the one whose KV history shares the longest token prefix
 * with the new prompt); each session (a realtime WebSocket) has its own
 * context kept across turns. One prefix cache per model is shared by all
 * contexts: a new session or request whose prompt starts with a system
 * prompt + tools seen before copies those KV blocks instead of prefilling.
 * Model output goes through the tool-call parser (tools.h) and stop
 * strings; events come back through one callback.
 * Still to come: audio/vision stages, tool workers, remote backends.
 *
 * Threads: every function here may be called from any thread (the services
 * loop in practice); they only take a short lock and never run inference.
 * The event callback runs on the scheduler thread: it must copy what it
 * needs and return quickly (the services layer queues the event and wakes
 * its loop with lws_cancel_service()).
 */
#ifndef HEARTH_PIPELINE_H
#define HEARTH_PIPELINE_H

#include "audio.h"
#include "engine.h"
#include "tools.h"
#include "vision.h"

#include <stdint.h>

typedef struct pipeline pipeline;

/* ---------------------------------------------------------------------------
 * Events (scheduler thread → callback).
 */
typedef enum pipeline_event_kind {
	PIPELINE_EV_TEXT,      /* text delta: valid UTF-8, never empty */
	PIPELINE_EV_TOOL_CALL, /* one complete tool call */
	PIPELINE_EV_DONE,      /* the job ended; last event of a job */
} pipeline_event_kind;

typedef struct pipeline_usage {
	int prompt_tokens;     /* the whole rendered prompt */
	int cached_tokens;     /* of those, reused from the KV cache */
	int completion_tokens; /* tokens sampled */
} pipeline_usage;

typedef struct pipeline_timings {
	double queue_ms;       /* submit → the scheduler started the job */
	double ttft_ms;        /* submit → first token sampled */
	double prefill_ms;     /* evaluating the uncached prompt part */
	double decode_ms;      /* first token → last token */
	double prefill_tps;    /* uncached prompt tokens / prefill time */
	double decode_tps;     /* tokens after the first / decode time */
} pipeline_timings;

typedef struct pipeline_event {
	pipeline_event_kind kind;
	uint64_t job;
	double t_mono;          /* CLOCK_MONOTONIC seconds at emission */
	int64_t t_ns;           /* the same instant in CLOCK_MONOTONIC ns: when
				   the scheduler handed the token's text out */
	/* TEXT */
	const char *text;       /* borrowed during the callback */
	size_t len;
	/* TOOL_CALL */
	int tool_index;
	const char *tool_name;  /* borrowed */
	const char *tool_args;  /* compact JSON object; borrowed */
	/* DONE */
	const char *finish_reason; /* "stop" | "length" | "tool_calls" |
				      "cancelled" | "error"; static */
	int error;              /* 0 or the HEARTH_E* code with "error" */
	const char *error_msg;  /* borrowed; "" when none */
	pipeline_usage usage;
	pipeline_timings timings;
} pipeline_event;

typedef void (*pipeline_event_cb)(const pipeline_event *ev, void *user_data);

/* ---------------------------------------------------------------------------
 * Lifetime.
 */
typedef struct pipeline_params {
	const char *model_path; /* GGUF; borrowed during pipeline_new */
	int n_ctx;              /* KV positions per context; 0 = engine default */
	int n_threads;          /* kernel threads; 0 = all cores */
	int max_sessions;       /* sessions open at once (default 10) */
	int pool_size;          /* contexts kept for sessionless jobs (4) */
	int max_jobs;           /* jobs queued or running at once (32) */
	int prefill_tile;       /* prompt tokens per scheduler turn (64): bounds
				   how long one prefill delays the decodes */
	size_t prefix_cache_bytes; /* shared prefix cache budget (64 MiB);
				   0 = no prefix cache */
	int sched_nice;         /* nice value of the scheduler and its kernel
				   workers, so the services loop preempts them
				   (5); 0 = leave the priority alone */
	const char *chat_format;/* "auto" | "chatml" | "llama3" | "raw" */
	int lookahead;          /* greedy tool calls and guarded replies: at an
				   uncertain token, follow this many choices to
				   the end of the value and keep the likeliest
				   (engine_sampler_params.lookahead; 4), with a
				   budget that reads at most 4 GiB of weights per
				   value (128 tokens for the embedded model);
				   ≤ 1 = plain greedy */
	const char *system;     /* system prompt of conversations that bring
				   none (copied); NULL = the model's default
				   (engine_chat_render_sys) */
	bool no_spell;          /* leave typos in user messages alone; else a
				   model with a lexicon gets them mended
				   (pipeline_speller) */
	const char *spell_dict; /* hunspell dictionary, path without .aff/.dic;
				   NULL = PIPELINE_SPELL_DICT */
} pipeline_params;

pipeline_params pipeline_default_params(void);

/* The lookahead budget (tokens per guarded value) the pipeline gives a
 * model: as many decode steps as read 4 GiB of its weights, at most 128. */
int pipeline_lookahead_budget(const engine_model *m);

/* ---------------------------------------------------------------------------
 * Spelling: typos in a request mended towards the words the model was
 * trained on (engine_model_lexicon), before it reads them. A word is mended
 * only when it is neither a known word nor English (hunspell, with names),
 * is four letters or more, and one edit (a letter dropped, doubled, changed
 * or swapped with its neighbour) from exactly one known word four times
 * commoner than any other that close; its capital stays. The pipeline mends
 * every user message of a job (and holds verbatim strings to the mended
 * words); `hearth bench tools` does the same.
 */
#define PIPELINE_SPELL_DICT "/usr/share/hunspell/en_US"

typedef struct pipeline_speller pipeline_speller;

/* From model m's lexicon: 0 and *out, or *out = NULL when m has none;
 * HEARTH_ENOTFOUND when the dictionary (dict, NULL = PIPELINE_SPELL_DICT)
 * is missing, with a message in err. */
int pipeline_speller_new(const engine_model *m, const char *dict, pipeline_speller **out,
			 char *err, size_t errlen);
/* The same from n words (lens[i] bytes each, any case) and their counts. */
int pipeline_speller_new_words(const char *const *words, const size_t *lens,
			       const uint32_t *counts, int n, const char *dict,
			       pipeline_speller **out, char *err, size_t errlen);
void pipeline_speller_free(pipeline_speller *sp); /* NULL-safe */
/* text with its typos mended in *out (malloc'd, the caller frees); returns
 * how many words were mended, or a negative code. */
int pipeline_speller_fix(pipeline_speller *sp, const char *text, char **out);

/*
 * Load the model and start the scheduler thread. Returns 0 and *out (free
 * with pipeline_free), or a negative code with a message in err naming the
 * file; nothing is left running on failure.
 */
int pipeline_new(const pipeline_params *p, pipeline **out, char *err,
		 size_t errlen);

/* Where events go. Call once before the first submit. */
void pipeline_set_event_cb(pipeline *pl, pipeline_event_cb cb, void *user_data);

/* Cancel every job, stop the scheduler thread, free everything. No events
 * are delivered after it returns. NULL-safe. */
void pipeline_free(pipeline *pl);

/* The model's general.name, or the file name without directory; borrowed
 * for the pipeline's lifetime. */
const char *pipeline_model_name(const pipeline *pl);
const engine_model *pipeline_model(const pipeline *pl);

/* ---------------------------------------------------------------------------
 * Sessions: a conversation whose KV context is kept across its jobs.
 */

/* Returns 0 and *sid, or HEARTH_EFULL when max_sessions are open. */
int pipeline_session_open(pipeline *pl, uint64_t *sid);
/* Cancels the session's job, if any, and frees its context. */
void pipeline_session_close(pipeline *pl, uint64_t sid);

/* ---------------------------------------------------------------------------
 * Jobs: generate one assistant reply to a conversation.
 */
typedef enum pipeline_tool_choice {
	PIPELINE_TOOLS_AUTO = 0,
	PIPELINE_TOOLS_NONE,     /* tools are not shown to the model */
	PIPELINE_TOOLS_REQUIRED, /* the reply starts with a call */
	PIPELINE_TOOLS_NAMED,    /* the reply starts with a call to tool_name */
} pipeline_tool_choice;

#define PIPELINE_MAX_STOP 4

typedef struct pipeline_request {
	const engine_chat_msg *msgs; /* copied by pipeline_submit */
	int n_msgs;
	const char *tools_json;      /* OpenAI tools array JSON or NULL; copied */
	pipeline_tool_choice tool_choice;
	const char *tool_name;       /* with PIPELINE_TOOLS_NAMED; copied */
	/* JSON Schema the whole reply must match (an OpenAI response_format),
	 * or NULL; copied. Its subset is engine_json_guard_new_schema's. */
	const char *response_schema;
	engine_sampler_params sampling;
	int max_tokens;              /* <= 0: until the context is full */
	const char *stop[PIPELINE_MAX_STOP]; /* copied; stop text not emitted */
	int n_stop;
} pipeline_request;

/*
 * Queue a job on session sid (0 = a pooled context). Returns 0 and *job (a
 * non-zero id used in its events), HEARTH_EFULL when max_jobs are queued,
 * HEARTH_ENOTFOUND for an unknown session, HEARTH_EBUSY when the session
 * already has a job, HEARTH_EINVAL for a bad request (or a response_schema
 * the guard cannot compile), HEARTH_ENOMEM.
 * Decoding is guarded (engine_json_guard): with response_schema the whole
 * reply is one value of it and then ends; else, when tools are shown, each
 * <tool_call> block is a valid call of an offered tool, followed by its
 * </tool_call> tag. Tools whose schemas the guard cannot compile leave the
 * calls unguarded (the parser returns broken calls as text). Strings whose
 * schema says "x-hearth-verbatim": true must be whole words of the last
 * user message (engine_json_guard_set_source): a place, an item, a name
 * the user said, copied rather than spelled anew; the renderer does not
 * show the keyword to the model.
 * Every accepted job ends with exactly one PIPELINE_EV_DONE.
 */
int pipeline_submit(pipeline *pl, uint64_t sid, const pipeline_request *rq,
		    uint64_t *job);

/* Ask a job to stop; it ends with DONE "cancelled" (unless it already
 * ended). Unknown ids are ignored. */
void pipeline_cancel(pipeline *pl, uint64_t job);

/* Snapshot for /metrics and /health. */
typedef struct pipeline_stats {
	int sessions;     /* open */
	int jobs_queued;  /* waiting for a context */
	int jobs_running;
	int contexts;     /* alive, pooled and per session */
	uint64_t jobs_done, tokens_in, tokens_cached, tokens_out;
	uint64_t decode_passes; /* batched decode forward passes */
	uint64_t decode_rows;   /* tokens they evaluated (rows / passes = the
				   mean batch) */
	int decode_batch_max;   /* the largest batch so far */
	uint64_t prefix_hit_blocks; /* blocks the prefix cache served */
	size_t prefix_bytes;    /* held by the prefix cache now */
} pipeline_stats;

void pipeline_get_stats(pipeline *pl, pipeline_stats *out);

#endif
