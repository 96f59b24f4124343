/*
 * sampler.c — turning logits into a token, and the generation loop.
 *
 * Order of the chain (as the reference engines apply it): repetition
 * penalty → guard filter → greedy shortcut → top-k → softmax with
 * temperature → top-p → min-p → draw. The RNG (splitmix64) lives on the
 * sampler, so a given seed reproduces the same tokens.
 *
 * The guard filter (constrained decoding, json_guard.c) keeps only tokens
 * whose text the JSON guard allows while a guarded span is open. The text
 * of every token is cached when the guard is set, and the filter first asks
 * the guard about each possible first byte (256 questions), so most tokens
 * are dismissed by a table lookup and the sampling path allocates nothing.
 */
#include "model_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct engine_sampler {
	engine_sampler_params p;
	int n_vocab;
	uint64_t rng;
	int32_t *recent;     /* (repeat_last_n) ring of accepted tokens */
	int n_recent, head;
	float *work;         /* (n_vocab) penalized logits */
	int32_t *idx;        /* (n_vocab) candidate ids */
	float *prob;         /* (n_vocab) candidate probabilities */

	/* constrained decoding (engine_sampler_set_guard) */
	engine_json_guard *guard;   /* borrowed; NULL = none */
	bool guard_on;              /* inside a guarded span */
	bool has_trigger;           /* false: active from set_guard on */
	bool guard_done;            /* a whole-reply value is complete */
	int32_t closer;             /* the trigger's closing tag, or -1 */
	uint8_t closing;            /* after a span: 1 whitespace or the closer
				       may come, 2 only the closer; 0 done */
	const engine_model *gm;     /* the guard's model: token texts, flags */
	int32_t trigger;            /* the token that opens a span, or -1 */
	bool first_ok[256];         /* scratch: first bytes the guard accepts */

	/* lookahead (engine_sampler_sample_ctx) */
	int la_spent;               /* tokens evaluated in this span */
	int32_t *la_recent;         /* (repeat_last_n + 1) saved penalty ring */
	void *la_guard;             /* saved guard state */
};

enum { TF_MARKUP = MODEL_TF_MARKUP, TF_EOG = MODEL_TF_EOG };

engine_sampler_params engine_sampler_default_params(void)
{
	engine_sampler_params p = {
		.temperature = 0.7f,
		.top_k = 40,
		.top_p = 0.95f,
		.min_p = 0.05f,
		.repeat_penalty = 1.0f,
		.repeat_last_n = 64,
		.seed = 0x9e3779b97f4a7c15ull,
		.lookahead = 0,
		.lookahead_margin = 2.0f,
		.lookahead_budget = 128,
	};
	return p;
}

int engine_sampler_new(const engine_sampler_params *p, int n_vocab,
		       engine_sampler **out)
{
	engine_sampler *s;

	if (!out)
		return HEARTH_EINVAL;
	*out = NULL;
	if (!p || n_vocab <= 0 || p->repeat_last_n < 0 || !isfinite(p->temperature) ||
	    p->lookahead < 0 || p->lookahead_budget < 0 || !(p->lookahead_margin >= 0.0f))
		return HEARTH_EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return HEARTH_ENOMEM;
	s->p = *p;
	s->n_vocab = n_vocab;
	s->rng = p->seed;
	s->recent = malloc(((size_t)p->repeat_last_n + 1) * sizeof(*s->recent));
	s->work = malloc((size_t)n_vocab * sizeof(*s->work));
	s->idx = malloc((size_t)n_vocab * sizeof(*s->idx));
	s->prob = malloc((size_t)n_vocab * sizeof(*s->prob));
	if (p->lookahead > 1) {
		s->la_recent = malloc(((size_t)p->repeat_last_n + 1) * sizeof(*s->la_recent));
		s->la_guard = malloc(json_guard_state_size());
	}
	if (!s->recent || !s->work || !s->idx || !s->prob ||
	    (p->lookahead > 1 && (!s->la_recent || !s->la_guard))) {
		engine_sampler_free(s);
		return HEARTH_ENOMEM;
	}
	*out = s;
	return 0;
}

void engine_sampler_free(engine_sampler *s)
{
	if (!s)
		return;
	free(s->recent);
	free(s->work);
	free(s->idx);
	free(s->prob);
	free(s->la_recent);
	free(s->la_guard);
	free(s);
}

static void penalty_record(engine_sampler *s, int32_t tok)
{
	if (s->p.repeat_last_n == 0)
		return;
	s->recent[s->head] = tok;
	s->head = (s->head + 1) % s->p.repeat_last_n;
	if (s->n_recent < s->p.repeat_last_n)
		s->n_recent++;
}

/* ---------------------------------------------------------------------------
 * Guard: token texts, span tracking, the allowed-token filter
 */
static const char *piece_of(const engine_sampler *s, int32_t tok, size_t *len)
{
	*len = s->gm->piece_off[tok + 1] - s->gm->piece_off[tok];
	return s->gm->piece_buf + s->gm->piece_off[tok];
}

static uint8_t flags_of(const engine_sampler *s, int32_t tok)
{
	return s->gm->tok_flags[tok];
}

int engine_sampler_set_guard(engine_sampler *s, const engine_model *m,
			     engine_json_guard *g, const char *trigger_piece)
{
	size_t tlen = trigger_piece ? strlen(trigger_piece) : 0;
	int t;

	if (!s)
		return HEARTH_EINVAL;
	s->guard = NULL;
	s->guard_on = false;
	s->guard_done = false;
	s->closing = 0;
	s->closer = -1;
	if (!g)
		return 0;
	if (!m || engine_vocab_n(m->vocab) != s->n_vocab ||
	    (trigger_piece && !tlen))
		return HEARTH_EINVAL;
	s->gm = m;
	s->trigger = -1;
	for (t = 0; tlen && t < s->n_vocab; t++) {
		size_t len;
		const char *p = piece_of(s, t, &len);

		if (len == tlen && s->trigger < 0 && !memcmp(p, trigger_piece, len))
			s->trigger = t;
		/* "<tool_call>" closes with "</tool_call>" */
		if (tlen > 1 && trigger_piece[0] == '<' && len == tlen + 1 && p[0] == '<' &&
		    p[1] == '/' && !memcmp(p + 2, trigger_piece + 1, tlen - 1))
			s->closer = t;
	}
	s->guard = g;
	s->has_trigger = tlen > 0;
	s->la_spent = 0;
	if (!s->has_trigger) {
		engine_json_guard_reset(g);
		s->guard_on = true;
	}
	return 0;
}

bool engine_sampler_guard_active(const engine_sampler *s)
{
	return s && s->guard_on;
}

static bool is_blank(const char *p, size_t len)
{
	if (!len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] != ' ' && p[i] != '\n' && p[i] != '\t' && p[i] != '\r')
			return false;
	return true;
}

/* A token enters the text: feed the open span, or open one. */
static void guard_observe(engine_sampler *s, int32_t tok)
{
	size_t len;
	const char *p;

	if (!s->guard || tok < 0 || tok >= s->n_vocab)
		return;
	if (s->closing) {
		p = piece_of(s, tok, &len);
		s->closing = s->closing == 1 && tok != s->closer && is_blank(p, len) ? 2 : 0;
	}
	if (!s->guard_on) {
		if (tok == s->trigger) {
			engine_json_guard_reset(s->guard);
			s->guard_on = true;
			s->la_spent = 0;
		}
		return;
	}
	p = piece_of(s, tok, &len);
	if ((flags_of(s, tok) & (TF_MARKUP | TF_EOG)) ||
	    engine_json_guard_feed(s->guard, p, len) ||
	    engine_json_guard_complete(s->guard)) {
		s->guard_on = false;
		/* A whole reply held to a schema (response_format) is that one
		 * value: text after it would make the reply invalid JSON. */
		s->guard_done = !s->has_trigger && engine_json_guard_complete(s->guard);
		/* a finished call gets its closing tag (at most one whitespace
		 * token first, as the chat template writes it), so the reply's
		 * tool parser sees a whole call */
		s->closing = s->has_trigger && s->closer >= 0 &&
			     engine_json_guard_complete(s->guard) ? 1 : 0;
	}
}

void engine_sampler_accept(engine_sampler *s, int32_t tok)
{
	if (!s)
		return;
	penalty_record(s, tok);
	guard_observe(s, tok);
}

/* The span state a history implies: open iff the last trigger in it is
 * followed by an unfinished value. */
static void guard_replay(engine_sampler *s, const int32_t *hist, int n)
{
	int i;

	if (!s->guard || !s->has_trigger)
		return;
	s->guard_on = false;
	for (i = n - 1; i >= 0; i--)
		if (hist[i] >= 0 && hist[i] < s->n_vocab &&
		    hist[i] == s->trigger)
			break;
	for (; i >= 0 && i < n; i++)
		guard_observe(s, hist[i]);
}

/* After a finished call: the closer, or (first) the best whitespace token
 * if the model prefers it. */
static int32_t pick_closing(const engine_sampler *s)
{
	int32_t best = s->closer;

	for (int32_t t = 0; s->closing == 1 && t < s->n_vocab; t++) {
		size_t len;
		const char *p = piece_of(s, t, &len);

		if (!(flags_of(s, t) & (TF_MARKUP | TF_EOG)) && s->work[t] > s->work[best] &&
		    is_blank(p, len))
			best = t;
	}
	return best;
}

static bool guard_allows_tok(engine_sampler *s, int32_t t)
{
	size_t len;
	const char *p = piece_of(s, t, &len);

	if (flags_of(s, t) & (TF_MARKUP | TF_EOG))
		return false;
	if (len == 0 || !s->first_ok[(unsigned char)p[0]])
		return false;
	return len == 1 || engine_json_guard_allows(s->guard, p, len);
}

static void guard_first_bytes(engine_sampler *s)
{
	for (int c = 0; c < 256; c++) {
		char b = (char)c;

		s->first_ok[c] = engine_json_guard_allows(s->guard, &b, 1);
	}
}

/* idx[0..n) = the tokens the guard allows now; returns n. */
static int guard_candidates(engine_sampler *s)
{
	int n = 0;

	for (int32_t t = 0; t < s->n_vocab; t++)
		if (guard_allows_tok(s, t))
			s->idx[n++] = t;
	return n;
}

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Whether recent[i] already occurred earlier in the window: each distinct
 * token is penalized once, however often it repeats. */
static bool seen_before(const engine_sampler *s, int i)
{
	int j;

	for (j = 0; j < i; j++)
		if (s->recent[j] == s->recent[i])
			return true;
	return false;
}

static void apply_penalty(engine_sampler *s)
{
	int i;

	if (s->p.repeat_penalty == 1.0f || s->p.repeat_penalty <= 0.0f)
		return;
	for (i = 0; i < s->n_recent; i++) {
		int32_t t = s->recent[i];

		if (t < 0 || t >= s->n_vocab || seen_before(s, i))
			continue;
		if (s->work[t] > 0)
			s->work[t] /= s->p.repeat_penalty;
		else
			s->work[t] *= s->p.repeat_penalty;
	}
}

int32_t engine_argmax(const float *v, int n)
{
	int32_t best = 0;
	int i;

	for (i = 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	return best;
}

/* Candidate order: descending logit, ties by id, so sampling is
 * deterministic. */
static bool before(const float *w, int32_t x, int32_t y)
{
	return w[x] != w[y] ? w[x] > w[y] : x < y;
}

static int cmp_desc(const void *a, const void *b, void *arg)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return before(arg, x, y) ? -1 : 1;
}

/* Move the k first candidates (in before() order) to idx[0..k), unordered:
 * quickselect, O(n). Sorting a 150k vocabulary on every token cost ~40 ms
 * here; selecting the top-k first and sorting only those costs well under
 * one. */
static void select_top(int32_t *idx, int n, int k, const float *w)
{
	int lo = 0, hi = n - 1;

	while (lo < hi) {
		int32_t pivot = idx[lo + (hi - lo) / 2], t;
		int i = lo, j = hi;

		while (i <= j) {
			while (before(w, idx[i], pivot))
				i++;
			while (before(w, pivot, idx[j]))
				j--;
			if (i <= j) {
				t = idx[i];
				idx[i++] = idx[j];
				idx[j--] = t;
			}
		}
		if (k - 1 <= j)
			hi = j;
		else if (k - 1 >= i)
			lo = i;
		else
			return;
	}
}

/* Sort idx[0..n) by logit, then top-k → temperature → top-p → min-p →
 * draw. */
static int32_t draw(engine_sampler *s, int n)
{
	double sum = 0.0, cum = 0.0, r;
	int i, keep;
	float mx;

	if (s->p.top_k > 0 && s->p.top_k < n) {
		select_top(s->idx, n, s->p.top_k, s->work);
		n = s->p.top_k;
	}
	qsort_r(s->idx, (size_t)n, sizeof(*s->idx), cmp_desc, s->work);
	mx = s->work[s->idx[0]];
	for (i = 0; i < n; i++) {
		s->prob[i] = expf((s->work[s->idx[i]] - mx) / s->p.temperature);
		sum += s->prob[i];
	}
	keep = n;
	if (s->p.top_p < 1.0f) {
		for (i = 0; i < n; i++) {
			cum += s->prob[i] / sum;
			if (cum >= s->p.top_p) {
				keep = i + 1;
				break;
			}
		}
	}
	if (s->p.min_p > 0.0f) {
		/* prob[0] is the largest; it is exp(0) = 1 */
		for (i = 1; i < keep; i++)
			if (s->prob[i] < s->p.min_p * s->prob[0]) {
				keep = i;
				break;
			}
	}
	sum = 0.0;
	for (i = 0; i < keep; i++)
		sum += s->prob[i];
	r = (double)(splitmix64(&s->rng) >> 11) * (1.0 / 9007199254740992.0) * sum;
	cum = 0.0;
	for (i = 0; i < keep - 1; i++) {
		cum += s->prob[i];
		if (r < cum)
			break;
	}
	return s->idx[i];
}

/* Inside a guarded span: idx[0..n) = the allowed tokens (ascending ids);
 * returns n, 0 if none is allowed. Greedy asks about the argmax first:
 * usually the model already wants a valid token. */
static int guard_filter(engine_sampler *s, int32_t *pick)
{
	if (s->p.temperature <= 0.0f) {
		int32_t t = engine_argmax(s->work, s->n_vocab);
		size_t len;
		const char *p = piece_of(s, t, &len);

		if (!(flags_of(s, t) & (TF_MARKUP | TF_EOG)) && len &&
		    engine_json_guard_allows(s->guard, p, len)) {
			*pick = t;
			return 1;
		}
	}
	guard_first_bytes(s);
	return guard_candidates(s);
}

int32_t engine_sampler_sample(engine_sampler *s, const float *logits)
{
	int32_t pick = -1, best;
	int n = 0, i;

	memcpy(s->work, logits, (size_t)s->n_vocab * sizeof(*s->work));
	apply_penalty(s);
	if (s->guard_done) {
		/* the best end-of-generation token */
		for (best = -1, i = 0; i < s->n_vocab; i++)
			if ((flags_of(s, i) & TF_EOG) && (best < 0 || s->work[i] > s->work[best]))
				best = i;
		if (best >= 0)
			return best;
	}
	if (s->closing)
		return pick_closing(s);
	if (s->guard_on)
		n = guard_filter(s, &pick);
	if (pick >= 0)
		return pick;
	if (n > 0 && s->p.temperature <= 0.0f) {
		/* the first of equal logits wins, as in engine_argmax() */
		for (best = s->idx[0], i = 1; i < n; i++)
			if (s->work[s->idx[i]] > s->work[best])
				best = s->idx[i];
		return best;
	}
	if (n == 0) {
		if (s->p.temperature <= 0.0f)
			return engine_argmax(s->work, s->n_vocab);
		n = s->n_vocab;
		for (i = 0; i < n; i++)
			s->idx[i] = i;
	}
	return draw(s, n);
}

/* ---------------------------------------------------------------------------
 * Lookahead inside a guarded span
 */
#define LA_MAX 8

/* What a continuation changes in the sampler: the span, the guard's parse
 * state and the penalty ring (greedy draws no random numbers). */
struct la_state {
	bool guard_on, guard_done;
	uint8_t closing;
	int n_recent, head;
};

static void la_save(engine_sampler *s, struct la_state *st)
{
	*st = (struct la_state){ s->guard_on, s->guard_done, s->closing, s->n_recent, s->head };
	memcpy(s->la_recent, s->recent, (size_t)s->p.repeat_last_n * sizeof(*s->recent));
	json_guard_save(s->guard, s->la_guard);
}

static void la_restore(engine_sampler *s, const struct la_state *st)
{
	s->guard_on = st->guard_on;
	s->guard_done = st->guard_done;
	s->closing = st->closing;
	s->n_recent = st->n_recent;
	s->head = st->head;
	memcpy(s->recent, s->la_recent, (size_t)s->p.repeat_last_n * sizeof(*s->recent));
	json_guard_restore(s->guard, s->la_guard);
}

/* The allowed tokens for logits in idx[0..n): returns n; *lse is the log
 * of the sum of their exponentials (the renormalizer). */
static int la_allowed(engine_sampler *s, const float *logits, double *lse)
{
	float mx = -INFINITY;
	double sum = 0.0;
	int n, i;

	memcpy(s->work, logits, (size_t)s->n_vocab * sizeof(*s->work));
	apply_penalty(s);
	guard_first_bytes(s);
	n = guard_candidates(s);
	for (i = 0; i < n; i++)
		if (s->work[s->idx[i]] > mx)
			mx = s->work[s->idx[i]];
	for (i = 0; i < n; i++)
		sum += exp((double)(s->work[s->idx[i]] - mx));
	*lse = (double)mx + log(sum);
	return n;
}

/* Follow tok greedily to the end of the value on c; adds the allowed
 * tokens' log-probabilities to *score and their number to *len. 0, or -1
 * when the budget ran out or c could not evaluate (the score is then
 * incomplete). */
static int la_follow(engine_sampler *s, engine_context *c, int32_t tok, double *score, int *len)
{
	double lse;
	int n, i;

	for (;;) {
		engine_sampler_accept(s, tok);
		if (!s->guard_on)
			return 0;
		if (s->la_spent >= s->p.lookahead_budget || engine_eval_next(c, tok))
			return -1;
		s->la_spent++;
		n = la_allowed(s, engine_logits(c), &lse);
		if (!n)
			return 0; /* the sampler would drop the guard here */
		for (tok = s->idx[0], i = 1; i < n; i++)
			if (s->work[s->idx[i]] > s->work[tok])
				tok = s->idx[i];
		*score += s->work[tok] - lse;
		(*len)++;
	}
}

int32_t engine_sampler_sample_ctx(engine_sampler *s, engine_context *c)
{
	const float *logits = c ? engine_logits(c) : NULL;
	int32_t cand[LA_MAX] = { 0 }, best;
	double lp[LA_MAX], lse, top = -INFINITY, sc;
	struct la_state st;
	int n, k = 0, i, j, n0, len;

	if (!s || !logits)
		return HEARTH_EINVAL;
	if (s->p.lookahead < 2 || s->p.temperature > 0.0f || !s->guard_on ||
	    s->guard_done || s->closing || s->la_spent >= s->p.lookahead_budget)
		return engine_sampler_sample(s, logits);
	n = la_allowed(s, logits, &lse);
	if (!n)
		return engine_sampler_sample(s, logits); /* it drops the guard */
	/* the k best allowed tokens, best first; the first of equals wins, so
	 * cand[0] is the greedy pick */
	for (i = 0; i < n; i++) {
		int32_t t = s->idx[i];

		if (k < s->p.lookahead && k < LA_MAX)
			k++;
		else if (!(s->work[t] > s->work[cand[k - 1]]))
			continue;
		for (j = k - 1; j > 0 && s->work[t] > s->work[cand[j - 1]]; j--)
			cand[j] = cand[j - 1];
		cand[j] = t;
	}
	best = cand[0];
	if (k < 2 || s->work[cand[0]] - s->work[cand[1]] >= s->p.lookahead_margin)
		return best;
	for (i = 0; i < k; i++)
		lp[i] = s->work[cand[i]] - lse;
	n0 = engine_n_past(c);
	la_save(s, &st);
	for (i = 0; i < k; i++) {
		sc = lp[i];
		len = 1;
		if (lp[i] - lp[0] < -s->p.lookahead_margin)
			break; /* too unlikely to be worth following */
		j = la_follow(s, c, cand[i], &sc, &len);
		la_restore(s, &st);
		engine_kv_truncate(c, n0);
		if (j) {
			best = cand[0]; /* out of budget: a partial comparison is no better than greedy */
			break;
		}
		/* per token: summed, the shorter path wins for being short
		 * ("yoga" over "yoga class", a call without its label) */
		sc /= len;
		if (sc > top) {
			top = sc;
			best = cand[i];
		}
	}
	return best;
}

/* ---------------------------------------------------------------------------
 * Generation loop
 */
int engine_generate(engine_context *c, engine_sampler *s,
		    const int32_t *prompt, int n_prompt, int max_tokens,
		    engine_token_cb cb, void *user_data)
{
	const engine_model *m;
	const int32_t *hist;
	char piece[256];
	int n_gen = 0, rc, i, len;
	int32_t tok;

	if (!c || !s || n_prompt < 0 || max_tokens < 0 || (n_prompt && !prompt))
		return HEARTH_EINVAL;
	m = engine_context_model(c);
	if (n_prompt) {
		rc = engine_eval(c, prompt, n_prompt);
		if (rc)
			return rc;
	} else if (!engine_logits(c)) {
		return HEARTH_ESTATE;
	}
	hist = engine_history(c);
	for (i = engine_n_past(c) > s->p.repeat_last_n ? engine_n_past(c) - s->p.repeat_last_n : 0;
	     i < engine_n_past(c); i++)
		if (hist[i] >= 0)
			penalty_record(s, hist[i]);
	guard_replay(s, hist, engine_n_past(c));
	while (n_gen < max_tokens) {
		tok = engine_sampler_sample_ctx(s, c);
		if (tok < 0)
			return tok;
		if (engine_token_is_eog(m, tok))
			break;
		n_gen++;
		len = engine_token_to_piece(m, tok, piece, sizeof(piece), false);
		if (len < 0)
			len = 0;
		if (cb && !cb(tok, piece, (size_t)len, user_data))
			break;
		if (n_gen == max_tokens)
			break;
		engine_sampler_accept(s, tok);
		rc = engine_eval_next(c, tok);
		if (rc)
			return rc;
	}
	return n_gen;
}
