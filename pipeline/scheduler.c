/*
 * scheduler.c — the one thread that owns the engine (DESIGN.md §4): job
 * queue, sessions, the context pool, and the round-robin loop.
 *
 * Each pass of the loop gives every runnable job one step, in submission
 * order: a job still prefilling evaluates one tile of at most prefill_tile
 * tokens (so a long prompt delays the others by one bounded tile per pass,
 * and a new short turn starts on the next pass however long the running
 * generations are); a job in its decode phase samples its next token, and
 * all those tokens are then evaluated together in ONE forward pass
 * (engine_eval_multi: the weights are read once for every session).
 *
 * Threading: the public functions run on any thread and only touch state
 * under pl->mu; the scheduler thread runs jobs outside the lock. Contexts
 * (pl->ctxs) and a job's run state belong to the scheduler thread alone.
 */
#include "pipeline_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>


double pl_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

pipeline_params pipeline_default_params(void)
{
	pipeline_params p = {
		.model_path = NULL,
		.n_ctx = 0,
		.n_threads = 0,
		.max_sessions = 10,
		.pool_size = 4,
		.max_jobs = 32,
		.prefill_tile = 64,
		.prefix_cache_bytes = (size_t)64 << 20,
		.sched_nice = 5,
		.chat_format = "auto",
		.lookahead = 4,
	};
	return p;
}

/* ---------------------------------------------------------------------------
 * Contexts (scheduler thread)
 */
static struct pl_ctx *ctx_new(pipeline *pl, uint64_t sid)
{
	engine_context_params cp = engine_context_default_params();
	struct pl_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	/* equal n_ctx everywhere and room for every context's row: any
	 * context can be the workspace of a batched decode */
	cp.n_ctx = pl->p.n_ctx;
	cp.n_batch = pl->p.prefill_tile > pl->batch_cap ? pl->p.prefill_tile : pl->batch_cap;
	cp.n_threads = pl->p.n_threads;
	cp.prefix_cache = pl->pc;
	if (engine_context_new(pl->m, &cp, &c->ctx)) {
		free(c);
		return NULL;
	}
	/* the engine caps n_batch at n_ctx */
	c->n_batch = cp.n_batch < engine_n_ctx(c->ctx) ? cp.n_batch : engine_n_ctx(c->ctx);
	c->sid = sid;
	c->next = pl->ctxs;
	pl->ctxs = c;
	return c;
}

static void ctx_unlink_free(pipeline *pl, struct pl_ctx *dead)
{
	struct pl_ctx **pp;

	for (pp = &pl->ctxs; *pp; pp = &(*pp)->next)
		if (*pp == dead) {
			*pp = dead->next;
			break;
		}
	engine_context_free(dead->ctx);
	free(dead);
}

/* Length of the common prefix of a context's history and a prompt. */
static int shared_prefix(const struct pl_ctx *c, const struct pl_job *j)
{
	const int32_t *h = engine_history(c->ctx);
	int k = 0, n = engine_n_past(c->ctx);

	while (k < n && k < j->n_prompt && h[k] == j->prompt[k])
		k++;
	return k;
}

/*
 * A session's job runs on the session's own context (created on its first
 * job; a new one starts from the shared prefix cache, not from another
 * conversation's context). A sessionless job takes the idle pooled context
 * whose history shares the longest prefix with its prompt, or a new one
 * while the pool is below pool_size.
 */
struct pl_ctx *pl_ctx_acquire(pipeline *pl, struct pl_job *j, int *err)
{
	struct pl_ctx *c, *best = NULL;
	int n_pool = 0, n_busy = 0, best_len = -1, len;

	for (c = pl->ctxs; c; c = c->next) {
		if (j->sid && c->sid == j->sid) {
			best = c->busy ? NULL : c;
			goto out_take;
		}
		if (c->sid || j->sid)
			continue;
		n_pool++;
		n_busy += c->busy;
		len = c->busy ? -1 : shared_prefix(c, j);
		if (len > best_len) {
			best = c;
			best_len = len;
		}
	}
	/* a fresh context when the best idle one shares nothing, if allowed */
	if ((!best || best_len == 0) && (j->sid || n_pool < pl->p.pool_size)) {
		c = ctx_new(pl, j->sid);
		if (c)
			best = c;
		else if (!best && (j->sid || !n_busy))
			*err = HEARTH_ENOMEM; /* no context will come free */
	}
out_take:
	if (best)
		best->busy = true;
	return best;
}

/* Free the contexts of sessions that were closed (under pl->mu). */
static void reap_sessions_locked(pipeline *pl)
{
	struct pl_ctx *c = pl->ctxs, *next;
	int i;

	for (; c; c = next) {
		bool open = false;

		next = c->next;
		if (!c->sid || c->busy)
			continue;
		for (i = 0; i < pl->p.max_sessions && !open; i++)
			open = pl->sessions[i].sid == c->sid;
		if (!open)
			ctx_unlink_free(pl, c);
	}
}

/* ---------------------------------------------------------------------------
 * The loop
 */
static struct pl_session *session_find_locked(pipeline *pl, uint64_t sid)
{
	int i;

	for (i = 0; sid && i < pl->p.max_sessions; i++)
		if (pl->sessions[i].sid == sid)
			return &pl->sessions[i];
	return NULL;
}

/* Move submitted jobs to the end of the active list (under pl->mu). */
static void admit_locked(pipeline *pl)
{
	struct pl_job **tail = &pl->active;

	while (*tail)
		tail = &(*tail)->next;
	*tail = pl->incoming;
	pl->incoming = NULL;
}

/* Drop ended jobs from the active list (under pl->mu). */
static void retire_locked(pipeline *pl, struct pl_job **done)
{
	struct pl_job **pp = &pl->active, *j;

	/* the session was freed by job_end: it may have a new job already */
	while ((j = *pp)) {
		if (!j->ended) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		pl->n_jobs--;
		j->next = *done;
		*done = j;
	}
}

static void count_locked(pipeline *pl)
{
	struct pl_job *j;
	struct pl_ctx *c;

	pl->stats.jobs_queued = pl->stats.jobs_running = pl->stats.contexts = 0;
	for (j = pl->incoming; j; j = j->next)
		pl->stats.jobs_queued++;
	for (j = pl->active; j; j = j->next) {
		if (j->c)
			pl->stats.jobs_running++;
		else
			pl->stats.jobs_queued++;
	}
	for (c = pl->ctxs; c; c = c->next)
		pl->stats.contexts++;
	pl->stats.sessions = pl->n_sessions;
	if (pl->pc)
		engine_prefix_cache_stats(pl->pc, &pl->stats.prefix_hit_blocks, NULL,
					  &pl->stats.prefix_bytes);
}

/* An ended job gives its context and its session back BEFORE its DONE
 * goes out: a client that answers DONE with its next response.create at
 * once must find the session free, not busy until the end of this pass. */
static void job_end(pipeline *pl, struct pl_job *j)
{
	struct pl_session *s;

	if (j->c)
		j->c->busy = false;
	pthread_mutex_lock(&pl->mu);
	s = session_find_locked(pl, j->sid);
	if (s)
		s->has_job = false;
	pthread_mutex_unlock(&pl->mu);
	pl_job_finish(pl, j);
}

/* Evaluate rows [0, n) of the pass's batch: the context with the most
 * rows to lend goes first (engine_eval_multi's workspace); more rows than
 * it can hold run as further batches (only with a tiny n_ctx). */
static int decode_chunk(pipeline *pl, int off, int n)
{
	struct pl_ctx *wc = pl->batch[off]->c;
	int i, w = off, cnt, rc;
	struct pl_job *tj;

	for (i = off + 1; i < off + n; i++)
		if (pl->batch[i]->c->n_batch > wc->n_batch) {
			wc = pl->batch[i]->c;
			w = i;
		}
	tj = pl->batch[off];
	pl->batch[off] = pl->batch[w];
	pl->batch[w] = tj;
	cnt = n < wc->n_batch ? n : wc->n_batch;
	for (i = off; i < off + cnt; i++) {
		pl->bctx[i - off] = pl->batch[i]->c->ctx;
		pl->btok[i - off] = pl->batch[i]->next_tok;
	}
	rc = engine_eval_multi(pl->bctx, pl->btok, cnt);
	for (i = off; i < off + cnt; i++) {
		pl_job_decoded(pl->batch[i], rc, wc->ctx);
		if (pl->batch[i]->ended)
			job_end(pl, pl->batch[i]);
	}
	pthread_mutex_lock(&pl->mu);
	pl->stats.decode_passes++;
	pl->stats.decode_rows += (uint64_t)cnt;
	if (cnt > pl->stats.decode_batch_max)
		pl->stats.decode_batch_max = cnt;
	pthread_mutex_unlock(&pl->mu);
	return cnt;
}

static bool decoding(const struct pl_job *j)
{
	return j->c && j->n_done >= j->n_prompt;
}

/* Step j; a sampled token joins the pass's batch (n rows so far). */
static int step_into_batch(pipeline *pl, struct pl_job *j, int n)
{
	int off;

	if (pl_job_step(pl, j) != PL_STEP_DECODE) {
		if (j->ended)
			job_end(pl, j);
		return n;
	}
	/* one job per context and batch_cap covers every context, so this
	 * flush is only a guard */
	if (n == pl->batch_cap) {
		for (off = 0; off < n; )
			off += decode_chunk(pl, off, n - off);
		n = 0;
	}
	pl->batch[n++] = j;
	return n;
}

/*
 * One pass. First every decoding job samples its token from the logits the
 * last pass left, so the tokens go out to the clients at once; then every
 * other job starts or prefills one tile (a job whose prompt is now in
 * samples too); then one batched forward pass evaluates all sampled tokens.
 */
static void run_pass(pipeline *pl)
{
	struct pl_job *j;
	int n = 0, off;

	for (j = pl->active; j; j = j->next)
		if (!j->ended && decoding(j))
			n = step_into_batch(pl, j, n);
	for (j = pl->active; j; j = j->next)
		if (!j->ended && !decoding(j))
			n = step_into_batch(pl, j, n);
	for (off = 0; off < n; )
		off += decode_chunk(pl, off, n - off);
}

/*
 * The scheduler's forward passes are throughput work; the services loop
 * (and the audio callback) are latency work. Run this thread — and the
 * kernel workers of the contexts it creates, which inherit the value — a
 * few nice levels below them, so a token handed to the services loop gets
 * a core at once instead of after the next forward pass's time slice
 * (measured with `hearth bench serve`: the added latency's p50 fell from
 * ~0.1-0.4 ms to ~0.02-0.07 ms on a busy 2-core box). The price: against
 * other programs at nice 0 the engine gets a smaller CPU share. Raising
 * one's own nice value needs no privilege; failure only costs latency.
 */
static void lower_priority(int nice)
{
	int tid = (int)gettid(), cur;

	errno = 0;
	cur = getpriority(PRIO_PROCESS, (id_t)tid);
	if (nice > 0 && errno == 0 && cur < nice)
		setpriority(PRIO_PROCESS, (id_t)tid, nice);
}

void *pl_scheduler_main(void *arg)
{
	pipeline *pl = arg;
	struct pl_job *done = NULL, *j;

	lower_priority(pl->p.sched_nice);
	pthread_mutex_lock(&pl->mu);
	while (!pl->stop) {
		admit_locked(pl);
		reap_sessions_locked(pl);
		count_locked(pl);
		if (!pl->active) {
			pthread_cond_wait(&pl->cv, &pl->mu);
			continue;
		}
		pthread_mutex_unlock(&pl->mu);
		run_pass(pl);
		pthread_mutex_lock(&pl->mu);
		retire_locked(pl, &done);
		while ((j = done)) {
			done = j->next;
			pl_job_free(j);
		}
	}
	pthread_mutex_unlock(&pl->mu);
	return NULL;
}

/* ---------------------------------------------------------------------------
 * Public API (any thread)
 */
int pipeline_session_open(pipeline *pl, uint64_t *sid)
{
	int i, rc = HEARTH_EFULL;

	pthread_mutex_lock(&pl->mu);
	for (i = 0; i < pl->p.max_sessions; i++)
		if (!pl->sessions[i].sid) {
			pl->sessions[i] = (struct pl_session){ ++pl->next_id, false };
			*sid = pl->sessions[i].sid;
			pl->n_sessions++;
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&pl->mu);
	return rc;
}

static void cancel_where_locked(pipeline *pl, uint64_t job, uint64_t sid)
{
	struct pl_job *lists[2] = { pl->incoming, pl->active }, *j;
	int i;

	for (i = 0; i < 2; i++)
		for (j = lists[i]; j; j = j->next)
			if ((job && j->id == job) || (sid && j->sid == sid))
				atomic_store(&j->cancel, true);
}

void pipeline_session_close(pipeline *pl, uint64_t sid)
{
	struct pl_session *s;

	pthread_mutex_lock(&pl->mu);
	s = session_find_locked(pl, sid);
	if (s) {
		cancel_where_locked(pl, 0, sid);
		*s = (struct pl_session){ 0, false };
		pl->n_sessions--;
		pthread_cond_signal(&pl->cv); /* its context gets reaped */
	}
	pthread_mutex_unlock(&pl->mu);
}

void pipeline_cancel(pipeline *pl, uint64_t job)
{
	if (!job)
		return;
	pthread_mutex_lock(&pl->mu);
	cancel_where_locked(pl, job, 0);
	pthread_mutex_unlock(&pl->mu);
}

void pipeline_set_event_cb(pipeline *pl, pipeline_event_cb cb, void *user_data)
{
	pthread_mutex_lock(&pl->mu);
	pl->cb = cb;
	pl->cb_user_data = user_data;
	pthread_mutex_unlock(&pl->mu);
}

void pipeline_get_stats(pipeline *pl, pipeline_stats *out)
{
	pthread_mutex_lock(&pl->mu);
	count_locked(pl);
	*out = pl->stats;
	pthread_mutex_unlock(&pl->mu);
}

const char *pipeline_model_name(const pipeline *pl)
{
	return pl->name;
}

const engine_model *pipeline_model(const pipeline *pl)
{
	return pl->m;
}
