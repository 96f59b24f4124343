/*
 * job.c — what one chat job does in one scheduler turn: render and tokenize
 * the conversation, reuse the KV prefix (the context's own history, or the
 * shared prefix cache), prefill one tile, or sample one token that the
 * scheduler then evaluates together with every other decoding job's
 * (scheduler.c); generated text goes through the stop strings and the
 * tool-call parser before it becomes events.
 *
 * Threading: scheduler thread only (pl_job_step, pl_job_finish).
 */
#include "pipeline_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------------
 * Events
 */
static void emit(pipeline *pl, pipeline_event *ev)
{
	pipeline_event_cb cb;
	struct timespec t;
	void *ud;

	pthread_mutex_lock(&pl->mu);
	cb = pl->cb;
	ud = pl->cb_user_data;
	pthread_mutex_unlock(&pl->mu);
	clock_gettime(CLOCK_MONOTONIC, &t);
	ev->t_ns = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
	ev->t_mono = (double)t.tv_sec + (double)t.tv_nsec / 1e9;
	if (cb)
		cb(ev, ud);
}

static void parser_text(const char *s, size_t n, void *ud)
{
	struct pl_job *j = ud;
	pipeline_event ev = { .kind = PIPELINE_EV_TEXT, .job = j->id,
			      .text = s, .len = n };

	emit(j->pl, &ev);
}

static void parser_call(const tools_call *c, void *ud)
{
	struct pl_job *j = ud;
	pipeline_event ev = { .kind = PIPELINE_EV_TOOL_CALL, .job = j->id,
			      .tool_index = c->index, .tool_name = c->name,
			      .tool_args = c->arguments };

	emit(j->pl, &ev);
}

static void fail(struct pl_job *j, int code, const char *fmt, const char *arg)
{
	j->ended = true;
	j->finish = "error";
	j->error = code;
	snprintf(j->errmsg, sizeof(j->errmsg), fmt, arg);
}

/* ---------------------------------------------------------------------------
 * Start: render, tokenize, pick a context, reuse the prefix
 */
static char *forced_prefix(const struct pl_job *j)
{
	const char *fmt = NULL;
	size_t n;
	char *s;

	if (j->tool_choice == PIPELINE_TOOLS_REQUIRED)
		fmt = "<tool_call>\n";
	else if (j->tool_choice == PIPELINE_TOOLS_NAMED)
		fmt = "<tool_call>\n{\"name\": \"%s\", \"arguments\": ";
	if (!fmt)
		return NULL;
	n = strlen(fmt) + (j->tool_name ? strlen(j->tool_name) : 0) + 1;
	s = malloc(n);
	if (s)
		snprintf(s, n, fmt, j->tool_name ? j->tool_name : "");
	return s;
}

static int tokenize_prompt(pipeline *pl, struct pl_job *j)
{
	const char *tools = j->tool_choice == PIPELINE_TOOLS_NONE ? NULL : j->tools_json;
	char *text = NULL, *full;
	size_t tl, fl;
	int rc, n;

	rc = engine_chat_render_sys(pl->m, pl->fmt, pl->system, j->msgs, j->n_msgs, tools,
				    true, &text);
	if (rc)
		return rc;
	j->forced = forced_prefix(j);
	tl = strlen(text);
	fl = j->forced ? strlen(j->forced) : 0;
	full = realloc(text, tl + fl + 1);
	if (!full) {
		free(text);
		return HEARTH_ENOMEM;
	}
	memcpy(full + tl, j->forced ? j->forced : "", fl + 1);
	j->prompt = malloc((tl + fl + 8) * sizeof(*j->prompt));
	n = j->prompt ? engine_tokenize(pl->m, full, tl + fl, engine_add_bos(pl->m),
					true, j->prompt, (int)(tl + fl + 8)) : HEARTH_ENOMEM;
	free(full);
	if (n < 0)
		return n == HEARTH_ENOMEM ? n : HEARTH_EFORMAT;
	j->n_prompt = n;
	return 0;
}

static int common_prefix(const engine_context *c, const int32_t *t, int n)
{
	const int32_t *h = engine_history(c);
	int k = 0, np = engine_n_past(c);

	while (k < np && k < n && h[k] == t[k])
		k++;
	return k;
}

/*
 * The shared prefix cache may hold more of the prompt than the context's
 * own history (a new session, or a pooled context last used for another
 * conversation): then fall back to the last block boundary of what the
 * context keeps, and let the first prefill tile start there. That tile
 * carries the cached blocks along: engine_eval copies them and computes
 * only the tile's own tokens, so taking them costs no extra forward pass.
 * Costs at most one partial block of recomputation.
 */
static void plan_cached_prefix(pipeline *pl, struct pl_job *j)
{
	/* never the last prompt token: it must be evaluated for its logits */
	int avail = engine_prefix_cache_probe(pl->pc, j->prompt, j->n_prompt - 1);

	if (avail <= j->n_done)
		return;
	j->n_done -= j->n_done % ENGINE_PREFIX_BLOCK;
	j->cached = j->n_done;
	engine_kv_truncate(j->c->ctx, j->n_done);
	j->cache_upto = avail;
}

/* Steer the sampler with the job's guard. A forced start of a call (tool
 * choice required or named) is already in the prompt: the sampler is shown
 * its tokens, so the guard opens at its <tool_call> and has read the rest. */
static int start_guard(pipeline *pl, struct pl_job *j)
{
	size_t len = j->forced ? strlen(j->forced) : 0;
	int32_t *t;
	int rc, n;

	if (!j->guard)
		return 0;
	rc = engine_sampler_set_guard(j->smp, pl->m, j->guard,
				      j->guard_whole ? NULL : "<tool_call>");
	if (rc || !len || j->guard_whole)
		return rc;
	t = malloc((len + 8) * sizeof(*t));
	if (!t)
		return HEARTH_ENOMEM;
	n = engine_tokenize(pl->m, j->forced, len, false, true, t, (int)len + 8);
	for (int i = 0; i < n; i++)
		engine_sampler_accept(j->smp, t[i]);
	free(t);
	return n < 0 ? n : 0;
}

static int job_start(pipeline *pl, struct pl_job *j)
{
	engine_model_info info;
	int rc, keep;

	if (!j->prompt) {
		j->t_start = pl_now();
		rc = tokenize_prompt(pl, j);
		if (rc) {
			fail(j, rc, "cannot render the conversation: %s", hearth_strerror(rc));
			return 1;
		}
		if (j->n_prompt < 1) {
			fail(j, HEARTH_EINVAL, "%s", "the conversation rendered to no tokens");
			return 1;
		}
	}
	rc = 0;
	j->c = pl_ctx_acquire(pl, j, &rc);
	if (rc) {
		fail(j, rc, "%s", "cannot create a context (out of memory)");
		return 1;
	}
	if (!j->c)
		return 0;
	if (j->n_prompt >= engine_n_ctx(j->c->ctx)) {
		fail(j, HEARTH_EFULL, "%s", "the prompt does not fit in the context");
		return 1;
	}
	keep = common_prefix(j->c->ctx, j->prompt, j->n_prompt);
	if (keep == j->n_prompt)
		keep--; /* the last prompt token is re-evaluated for its logits */
	engine_kv_truncate(j->c->ctx, keep);
	j->n_done = j->cached = keep;
	j->t_prefill = pl_now();
	plan_cached_prefix(pl, j);
	engine_model_get_info(pl->m, &info);
	rc = engine_sampler_new(&j->sp, info.n_vocab, &j->smp);
	if (!rc)
		rc = start_guard(pl, j);
	if (!rc) {
		tools_parser_cbs cbs = { parser_text, parser_call, j };

		rc = tools_parser_new(&cbs, &j->parser);
	}
	if (!rc && j->forced)
		rc = tools_parser_feed(j->parser, j->forced, strlen(j->forced));
	if (rc)
		fail(j, rc, "cannot start the job: %s", hearth_strerror(rc));
	return 1;
}

/* ---------------------------------------------------------------------------
 * Output: stop strings, then the tool parser
 */
static int hold_add(struct pl_job *j, const char *s, size_t n)
{
	if (j->hold_len + n + 1 > j->hold_cap) {
		size_t cap = (j->hold_len + n + 1) * 2;
		char *p = realloc(j->hold, cap);

		if (!p)
			return HEARTH_ENOMEM;
		j->hold = p;
		j->hold_cap = cap;
	}
	memcpy(j->hold + j->hold_len, s, n);
	j->hold_len += n;
	j->hold[j->hold_len] = '\0';
	return 0;
}

/* Bytes at the end of hold that could begin a stop string. */
static size_t stop_partial(const struct pl_job *j)
{
	size_t best = 0;
	int i;

	for (i = 0; i < j->n_stop; i++) {
		size_t sl = strlen(j->stop[i]), k;

		for (k = sl - 1 < j->hold_len ? sl - 1 : j->hold_len; k > best; k--)
			if (!memcmp(j->hold + j->hold_len - k, j->stop[i], k)) {
				best = k;
				break;
			}
	}
	return best;
}

/* Bytes of a UTF-8 sequence whose first byte is c; 0 if c cannot start
 * one (a continuation byte, C0/C1, F5..FF). */
static int utf8_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return 2;
	if (c >= 0xE0 && c <= 0xEF)
		return 3;
	return c >= 0xF0 && c <= 0xF4 ? 4 : 0;
}

/*
 * The text the client will read, so that stop strings match it: invalid
 * UTF-8 becomes U+FFFD, one per byte as tools_parser does; a sequence cut
 * by a token boundary waits in j->u8 for its next bytes (with final it
 * gets none). s is at most PL_PIECE_MAX bytes; out holds 3 bytes per byte
 * of j->u8 + s.
 */
static size_t utf8_clean(struct pl_job *j, const char *s, size_t n, bool final,
			 char *out)
{
	unsigned char buf[sizeof(j->u8) + PL_PIECE_MAX];
	size_t len = j->u8_len, i = 0, o = 0, l;

	memcpy(buf, j->u8, len);
	memcpy(buf + len, s, n);
	len += n;
	j->u8_len = 0;
	while (i < len) {
		l = (size_t)utf8_len(buf[i]);
		if (l && i + l > len && !final) {
			memcpy(j->u8, buf + i, len - i);
			j->u8_len = len - i;
			break;
		}
		if (l && i + l <= len && tools_utf8_valid((const char *)buf + i, l)) {
			memcpy(out + o, buf + i, l);
			o += l;
			i += l;
		} else {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
		}
	}
	return o;
}

/* Push a piece; returns 1 when a stop string was reached, 0, or < 0. */
static int output_piece(struct pl_job *j, const char *s, size_t n)
{
	size_t cut = SIZE_MAX, release;
	int i, rc;

	if (hold_add(j, s, n))
		return HEARTH_ENOMEM;
	for (i = 0; i < j->n_stop; i++) {
		char *hit = memmem(j->hold, j->hold_len, j->stop[i], strlen(j->stop[i]));

		if (hit && (size_t)(hit - j->hold) < cut)
			cut = (size_t)(hit - j->hold);
	}
	release = cut != SIZE_MAX ? cut : j->hold_len - stop_partial(j);
	rc = tools_parser_feed(j->parser, j->hold, release);
	memmove(j->hold, j->hold + release, j->hold_len - release);
	j->hold_len -= release;
	if (rc)
		return rc;
	if (cut != SIZE_MAX) {
		j->hold_len = 0; /* the stop string itself is not output */
		return 1;
	}
	return 0;
}

/* ---------------------------------------------------------------------------
 * One turn
 */
/* At most prefill_tile computed tokens, plus the cached blocks the first
 * tile takes from the prefix cache (plan_cached_prefix). */
static void prefill_tile(pipeline *pl, struct pl_job *j)
{
	int cached = j->cache_upto > j->n_done ? j->cache_upto - j->n_done : 0;
	int n = j->n_prompt - j->n_done - cached, rc;
	double t0 = pl_now();

	if (n > pl->p.prefill_tile)
		n = pl->p.prefill_tile;
	rc = engine_eval(j->c->ctx, j->prompt + j->n_done, cached + n);
	j->prefill_s += pl_now() - t0;
	j->cache_upto = 0;
	if (rc) {
		fail(j, rc, "prefill failed: %s", engine_context_error(j->c->ctx));
		return;
	}
	j->cached += engine_last_cached(j->c->ctx);
	j->n_done += cached + n;
}

/* Sample the next token from the last logits and hand its text out.
 * Returns true when the token is to be evaluated (by the scheduler's
 * batched pass), false when the job ended. */
static bool decode_sample(pipeline *pl, struct pl_job *j)
{
	char piece[PL_PIECE_MAX], clean[3 * (PL_PIECE_MAX + 4)];
	int32_t tok = engine_sampler_sample_ctx(j->smp, j->c->ctx);
	size_t m = 0;
	int n, rc;

	if (tok < 0) {
		fail(j, tok, "%s", "sampling failed: no logits");
		return false;
	}
	j->t_last = pl_now();
	if (!j->n_gen && !j->t_first)
		j->t_first = j->t_last;
	if (engine_token_is_eog(pl->m, tok)) {
		j->ended = true;
		j->finish = "stop";
		return false;
	}
	j->n_gen++;
	engine_sampler_accept(j->smp, tok);
	n = engine_token_to_piece(pl->m, tok, piece, sizeof(piece), false);
	if (n > 0)
		m = utf8_clean(j, piece, (size_t)n, false, clean);
	rc = m ? output_piece(j, clean, m) : 0;
	if (rc < 0) {
		fail(j, rc, "%s", "output failed");
		return false;
	}
	/* a full context ends the reply here: no shift is configured */
	if (rc == 1 || (j->max_tokens > 0 && j->n_gen >= j->max_tokens) ||
	    engine_n_past(j->c->ctx) >= engine_n_ctx(j->c->ctx)) {
		j->ended = true;
		j->finish = rc == 1 ? "stop" : "length";
		return false;
	}
	j->next_tok = tok;
	return true;
}

void pl_job_decoded(struct pl_job *j, int rc, const engine_context *ws)
{
	if (rc == HEARTH_EFULL) {
		j->ended = true;
		j->finish = "length";
	} else if (rc) {
		fail(j, rc, "decode failed: %s", engine_context_error(ws));
	}
}

enum pl_step pl_job_step(pipeline *pl, struct pl_job *j)
{
	if (atomic_load(&j->cancel)) {
		j->ended = true;
		j->finish = "cancelled";
		return PL_STEP_RAN;
	}
	if (!j->c) {
		if (!job_start(pl, j))
			return PL_STEP_WAIT;
		if (j->ended)
			return PL_STEP_RAN;
	}
	if (j->n_done < j->n_prompt) {
		prefill_tile(pl, j);
		/* the prompt's last tile: sample now, join this pass's batch */
		if (j->ended || j->n_done < j->n_prompt)
			return PL_STEP_RAN;
	}
	return decode_sample(pl, j) ? PL_STEP_DECODE : PL_STEP_RAN;
}

/* ---------------------------------------------------------------------------
 * End
 */
static void fill_timings(const struct pl_job *j, pipeline_event *ev)
{
	pipeline_timings *t = &ev->timings;
	int uncached = j->n_prompt - j->cached;

	t->queue_ms = j->t_start ? (j->t_start - j->t_submit) * 1e3 : 0;
	t->ttft_ms = j->t_first ? (j->t_first - j->t_submit) * 1e3 : 0;
	t->prefill_ms = j->prefill_s * 1e3;
	t->prefill_tps = j->prefill_s > 0 ? uncached / j->prefill_s : 0;
	t->decode_ms = j->t_first ? (j->t_last - j->t_first) * 1e3 : 0;
	t->decode_tps = t->decode_ms > 0 ? (j->n_gen - 1) / (t->decode_ms / 1e3) : 0;
	ev->usage.prompt_tokens = j->n_prompt;
	ev->usage.cached_tokens = j->cached;
	ev->usage.completion_tokens = j->n_gen;
}

void pl_job_finish(pipeline *pl, struct pl_job *j)
{
	pipeline_event ev = { .kind = PIPELINE_EV_DONE, .job = j->id };
	/* a parser never fed (the first token ended the reply) has nothing to
	 * flush; j->hold exists once output_piece ran */
	bool flush = j->finish && strcmp(j->finish, "error") && j->parser &&
		     (j->hold || j->forced || j->u8_len);
	char clean[3 * sizeof(j->u8)];
	size_t m;

	/* a sequence the last token left incomplete will not be completed */
	if (flush && j->u8_len) {
		m = utf8_clean(j, "", 0, true, clean);
		if (hold_add(j, clean, m))
			fail(j, HEARTH_ENOMEM, "%s", "out of memory");
	}
	/* what the stop filter held back was not a stop string after all */
	if (flush && j->hold_len && tools_parser_feed(j->parser, j->hold, j->hold_len))
		fail(j, HEARTH_ENOMEM, "%s", "out of memory");
	if (flush && tools_parser_finish(j->parser))
		fail(j, HEARTH_ENOMEM, "%s", "out of memory");
	if (!j->finish)
		j->finish = "error";
	if (!strcmp(j->finish, "stop") && j->parser && tools_parser_n_calls(j->parser))
		j->finish = "tool_calls";
	ev.finish_reason = j->finish;
	ev.error = j->error;
	ev.error_msg = j->errmsg;
	fill_timings(j, &ev);
	emit(pl, &ev);
	pthread_mutex_lock(&pl->mu);
	pl->stats.jobs_done++;
	pl->stats.tokens_in += (uint64_t)j->n_prompt;
	pl->stats.tokens_cached += (uint64_t)j->cached;
	pl->stats.tokens_out += (uint64_t)j->n_gen;
	pthread_mutex_unlock(&pl->mu);
}

void pl_job_free(struct pl_job *j)
{
	int i;

	if (!j)
		return;
	for (i = 0; i < j->n_msgs; i++) {
		free((char *)j->msgs[i].role);
		free((char *)j->msgs[i].content);
		free((char *)j->msgs[i].tool_calls);
		free((char *)j->msgs[i].tool_call_id);
	}
	free(j->msgs);
	free(j->tools_json);
	free(j->tool_name);
	for (i = 0; i < j->n_stop; i++)
		free(j->stop[i]);
	free(j->prompt);
	free(j->forced);
	engine_sampler_free(j->smp);
	engine_json_guard_free(j->guard);
	tools_parser_free(j->parser);
	free(j->hold);
	free(j);
}
