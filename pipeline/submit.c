/*
 * submit.c — pipeline lifetime and job submission: owned copies of the
 * request are made here, on the caller's thread, so the scheduler never
 * sees caller memory.
 *
 * Threading: any thread; shared state only under pl->mu.
 */
#include "pipeline_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_or_null(const char *s, bool *oom)
{
	char *d;

	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*oom = true;
	return d;
}

/* The content of the job's last user message, or NULL. */
static const char *last_user_text(const struct pl_job *j)
{
	for (int i = j->n_msgs - 1; i >= 0; i--)
		if (j->msgs[i].role && !strcmp(j->msgs[i].role, "user"))
			return j->msgs[i].content;
	return NULL;
}

/* The job's guard: the response schema's (one the guard cannot compile is
 * the caller's error, HEARTH_EINVAL), else the shown tools' (tools it
 * cannot compile leave the calls unguarded: the tool parser still reports
 * what the model wrote). Returns 0 or a negative code. */
static int job_guard(struct pl_job *j, const pipeline_request *rq)
{
	const char *user = last_user_text(j);
	char err[160];
	int rc;

	if (rq->response_schema) {
		j->guard_whole = true;
		rc = engine_json_guard_new_schema(rq->response_schema, &j->guard, err, sizeof(err));
		if (rc)
			return rc;
	} else if (!rq->tools_json || rq->tool_choice == PIPELINE_TOOLS_NONE) {
		return 0;
	} else {
		rc = engine_json_guard_new_tools(rq->tools_json, &j->guard, err, sizeof(err));
		if (rc)
			return rc == HEARTH_ENOMEM ? rc : 0;
	}
	/* strings marked x-hearth-verbatim copy the words the user said
	 * (typos mended: the words the model read) */
	return user ? engine_json_guard_set_source(j->guard, user, strlen(user)) : 0;
}

/* A user message's content with its typos mended (pipeline_speller), or
 * an owned copy as it was. */
static char *user_text_copy(pipeline *pl, const char *text, bool *oom)
{
	char *fixed = NULL;

	if (!pl->spell || !text)
		return dup_or_null(text, oom);
	if (pipeline_speller_fix(pl->spell, text, &fixed) < 0)
		*oom = true;
	return fixed;
}

static struct pl_job *job_copy(pipeline *pl, const pipeline_request *rq)
{
	struct pl_job *j = calloc(1, sizeof(*j));
	bool oom = false;
	int i;

	if (!j)
		return NULL;
	j->msgs = calloc((size_t)rq->n_msgs + 1, sizeof(*j->msgs));
	if (!j->msgs)
		goto out_oom;
	for (i = 0; i < rq->n_msgs; i++) {
		j->msgs[i].role = dup_or_null(rq->msgs[i].role, &oom);
		j->msgs[i].content = !strcmp(rq->msgs[i].role, "user")
					     ? user_text_copy(pl, rq->msgs[i].content, &oom)
					     : dup_or_null(rq->msgs[i].content, &oom);
		j->msgs[i].tool_calls = dup_or_null(rq->msgs[i].tool_calls, &oom);
		j->msgs[i].tool_call_id = dup_or_null(rq->msgs[i].tool_call_id, &oom);
		j->n_msgs++;
	}
	j->tools_json = dup_or_null(rq->tools_json, &oom);
	j->tool_name = dup_or_null(rq->tool_name, &oom);
	for (i = 0; i < rq->n_stop && i < PIPELINE_MAX_STOP; i++) {
		if (!rq->stop[i] || !rq->stop[i][0])
			continue;
		j->stop[j->n_stop++] = dup_or_null(rq->stop[i], &oom);
	}
	j->tool_choice = rq->tool_choice;
	j->sp = rq->sampling;
	j->max_tokens = rq->max_tokens;
	if (!oom)
		return j;
out_oom:
	pl_job_free(j);
	return NULL;
}

static bool request_ok(const pipeline_request *rq)
{
	int i;

	if (!rq || rq->n_msgs < 1 || !rq->msgs || rq->n_stop < 0 ||
	    rq->n_stop > PIPELINE_MAX_STOP)
		return false;
	if (rq->tool_choice == PIPELINE_TOOLS_NAMED && (!rq->tool_name || !rq->tool_name[0]))
		return false;
	for (i = 0; i < rq->n_msgs; i++)
		if (!rq->msgs[i].role)
			return false;
	return true;
}

int pipeline_submit(pipeline *pl, uint64_t sid, const pipeline_request *rq,
		    uint64_t *job)
{
	struct pl_session *s = NULL;
	struct pl_job *j, **tail;
	int i, rc = 0;

	if (!request_ok(rq))
		return HEARTH_EINVAL;
	j = job_copy(pl, rq);
	if (!j)
		return HEARTH_ENOMEM;
	rc = job_guard(j, rq);
	if (rc) {
		pl_job_free(j);
		return rc;
	}
	j->pl = pl;
	j->sid = sid;
	j->sp.lookahead = pl->p.lookahead;
	j->sp.lookahead_budget = pl->la_budget;
	j->t_submit = pl_now();
	pthread_mutex_lock(&pl->mu);
	for (i = 0; sid && i < pl->p.max_sessions; i++)
		if (pl->sessions[i].sid == sid)
			s = &pl->sessions[i];
	if (sid && !s)
		rc = HEARTH_ENOTFOUND;
	else if (s && s->has_job)
		rc = HEARTH_EBUSY;
	else if (pl->n_jobs >= pl->p.max_jobs)
		rc = HEARTH_EFULL;
	if (!rc) {
		if (s)
			s->has_job = true;
		j->id = *job = ++pl->next_id;
		for (tail = &pl->incoming; *tail; tail = &(*tail)->next)
			;
		*tail = j;
		pl->n_jobs++;
		pthread_cond_signal(&pl->cv);
	}
	pthread_mutex_unlock(&pl->mu);
	if (rc)
		pl_job_free(j);
	return rc;
}

/* ---------------------------------------------------------------------------
 * Lifetime
 */
static void set_name(pipeline *pl, const char *path)
{
	engine_model_info info;
	const char *base = strrchr(path, '/');

	engine_model_get_info(pl->m, &info);
	if (info.name && info.name[0])
		snprintf(pl->name, sizeof(pl->name), "%s", info.name);
	else
		snprintf(pl->name, sizeof(pl->name), "%s", base ? base + 1 : path);
}

/* The prefix cache and the batched decode's arrays: every context (one per
 * open session plus the pool) can decode in the same pass. */
static int plan_scheduler(pipeline *pl, char *err, size_t errlen)
{
	int rc;

	pl->batch_cap = pl->p.max_sessions + pl->p.pool_size;
	pl->batch = calloc((size_t)pl->batch_cap, sizeof(*pl->batch));
	pl->bctx = calloc((size_t)pl->batch_cap, sizeof(*pl->bctx));
	pl->btok = calloc((size_t)pl->batch_cap, sizeof(*pl->btok));
	if (!pl->batch || !pl->bctx || !pl->btok)
		return HEARTH_ENOMEM;
	if (!pl->p.prefix_cache_bytes)
		return 0;
	rc = engine_prefix_cache_new(pl->m, pl->p.prefix_cache_bytes, &pl->pc);
	if (rc)
		snprintf(err, errlen, "cannot create the prefix cache (%zu bytes): %s",
			 pl->p.prefix_cache_bytes, hearth_strerror(rc));
	return rc;
}

/* The lookahead's tokens per value, so that it reads at most LA_BYTES of
 * weights (a decode step reads them all): its worst case then costs about
 * 0.4 s at the reference box's ~10 GB/s, whatever the model. The embedded
 * model (6 MB) gets the engine's full 128; a 1 GB one gets 4. */
#define LA_BYTES ((uint64_t)4 << 30)

int pipeline_lookahead_budget(const engine_model *m)
{
	engine_model_info info;
	uint64_t n;

	engine_model_get_info(m, &info);
	n = info.weight_bytes ? LA_BYTES / info.weight_bytes : 0;
	return n < 128 ? (int)n : 128;
}

int pipeline_new(const pipeline_params *p, pipeline **out, char *err,
		 size_t errlen)
{
	engine_model_params mp = engine_model_default_params();
	pipeline *pl;
	int rc, fmt;

	*out = NULL;
	if (!p || !p->model_path || p->max_sessions < 1 || p->pool_size < 1 ||
	    p->max_jobs < 1 || p->prefill_tile < 1) {
		snprintf(err, errlen, "pipeline: invalid parameters");
		return HEARTH_EINVAL;
	}
	fmt = engine_chat_format_parse(p->chat_format ? p->chat_format : "auto");
	if (fmt < 0) {
		snprintf(err, errlen, "unknown chat format '%s'", p->chat_format);
		return HEARTH_EINVAL;
	}
	pl = calloc(1, sizeof(*pl));
	if (!pl)
		return HEARTH_ENOMEM;
	pl->p = *p;
	pl->p.model_path = NULL; /* borrowed during the call only */
	pl->p.system = NULL;
	if (p->system && *p->system && !(pl->system = strdup(p->system))) {
		free(pl);
		return HEARTH_ENOMEM;
	}
	pl->sessions = calloc((size_t)p->max_sessions, sizeof(*pl->sessions));
	pthread_mutex_init(&pl->mu, NULL);
	pthread_cond_init(&pl->cv, NULL);
	if (!pl->sessions) {
		rc = HEARTH_ENOMEM;
		goto out_free;
	}
	mp.path = p->model_path;
	rc = engine_model_load(&mp, &pl->m, err, errlen);
	if (rc)
		goto out_free;
	pl->fmt = fmt == ENGINE_CHAT_AUTO ? engine_chat_format_of(pl->m)
					  : (engine_chat_format)fmt;
	set_name(pl, p->model_path);
	pl->la_budget = pipeline_lookahead_budget(pl->m);
	pl->p.spell_dict = NULL; /* borrowed during the call only */
	rc = p->no_spell ? 0 : pipeline_speller_new(pl->m, p->spell_dict, &pl->spell, err, errlen);
	if (!rc)
		rc = plan_scheduler(pl, err, errlen);
	if (rc)
		goto out_free;
	if (pthread_create(&pl->thread, NULL, pl_scheduler_main, pl)) {
		snprintf(err, errlen, "cannot start the scheduler thread");
		rc = HEARTH_ENOMEM;
		goto out_free;
	}
	pl->thread_started = true;
	*out = pl;
	return 0;
out_free:
	pipeline_free(pl);
	return rc;
}

static void free_list(struct pl_job *j)
{
	struct pl_job *next;

	for (; j; j = next) {
		next = j->next;
		pl_job_free(j);
	}
}

void pipeline_free(pipeline *pl)
{
	if (!pl)
		return;
	if (pl->thread_started) {
		pthread_mutex_lock(&pl->mu);
		pl->stop = true;
		pl->cb = NULL; /* no events once we are shutting down */
		pthread_cond_signal(&pl->cv);
		pthread_mutex_unlock(&pl->mu);
		pthread_join(pl->thread, NULL);
	}
	free_list(pl->incoming);
	free_list(pl->active);
	while (pl->ctxs) {
		struct pl_ctx *c = pl->ctxs;

		pl->ctxs = c->next;
		engine_context_free(c->ctx);
		free(c);
	}
	engine_prefix_cache_free(pl->pc); /* after every context using it */
	free(pl->batch);
	free(pl->bctx);
	free(pl->btok);
	pipeline_speller_free(pl->spell);
	engine_model_free(pl->m);
	free(pl->system);
	free(pl->sessions);
	pthread_mutex_destroy(&pl->mu);
	pthread_cond_destroy(&pl->cv);
	free(pl);
}
