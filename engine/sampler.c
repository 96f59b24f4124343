/*
 * sampler.c — turning logits into a token, and the generation loop.
 *
 * Order of the chain (as the reference engines apply it): repetition
 * penalty → greedy shortcut → top-k → softmax with temperature → top-p →
 * min-p → draw. The RNG (splitmix64) lives on the sampler, so a given seed
 * reproduces the same tokens.
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
};

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
	if (!p || n_vocab <= 0 || p->repeat_last_n < 0 || !isfinite(p->temperature))
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
	if (!s->recent || !s->work || !s->idx || !s->prob) {
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
	free(s);
}

void engine_sampler_accept(engine_sampler *s, int32_t tok)
{
	if (!s || s->p.repeat_last_n == 0)
		return;
	s->recent[s->head] = tok;
	s->head = (s->head + 1) % s->p.repeat_last_n;
	if (s->n_recent < s->p.repeat_last_n)
		s->n_recent++;
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

static int32_t argmax(const float *v, int n)
{
	int32_t best = 0;
	int i;

	for (i = 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	return best;
}

/* Order candidate ids by descending logit (ties by id, so sampling is
 * deterministic). A partial selection would do for top-k; a full sort keeps
 * the code simple and costs well under a millisecond at 150k tokens. */
static int cmp_desc(const void *a, const void *b, void *arg)
{
	const float *w = arg;
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	if (w[x] != w[y])
		return w[x] > w[y] ? -1 : 1;
	return x < y ? -1 : 1;
}

int32_t engine_sampler_sample(engine_sampler *s, const float *logits)
{
	int n, i, keep;
	double sum = 0.0, cum = 0.0, r;
	float mx;

	memcpy(s->work, logits, (size_t)s->n_vocab * sizeof(*s->work));
	apply_penalty(s);
	if (s->p.temperature <= 0.0f)
		return argmax(s->work, s->n_vocab);
	n = s->n_vocab;
	for (i = 0; i < n; i++)
		s->idx[i] = i;
	qsort_r(s->idx, (size_t)n, sizeof(*s->idx), cmp_desc, s->work);
	if (s->p.top_k > 0 && s->p.top_k < n)
		n = s->p.top_k;
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
			engine_sampler_accept(s, hist[i]);
	while (n_gen < max_tokens) {
		tok = engine_sampler_sample(s, engine_logits(c));
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
		rc = engine_eval(c, &tok, 1);
		if (rc)
			return rc;
	}
	return n_gen;
}
