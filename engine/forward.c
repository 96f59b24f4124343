/*
 * forward.c — the transformer forward pass over a per-session KV cache.
 *
 * One forward for every architecture (model_int.h's arch table switches
 * the few differences: biases, QK-norm, RoPE ordering). A call processes a
 * tile of up to n_batch tokens: embeddings → for each layer (RMSNorm →
 * Q/K/V → RoPE → KV cache → causal GQA attention → output projection →
 * residual → RMSNorm → SwiGLU FFN → residual) → final norm → logits.
 *
 * Memory: every buffer is sized when the context is created; the token
 * loop allocates nothing. Attention walks the cache one query at a time
 * with a (n_ctx) score row per worker, so long prompts cost linear memory.
 *
 * Threading: a context belongs to one thread; the matmuls and attention
 * fan out over the context's thread pool.
 */
#include "model_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct engine_context {
	const engine_model *m;
	engine_context_params p;
	engine_threadpool *tp;
	int n_ctx;
	int n_past;
	int32_t *hist;       /* (n_ctx) tokens held, -1 for embedding inputs */

	/* KV cache, F16, per layer: (n_ctx, n_head_kv*head_dim) */
	ggml_half *k_cache;  /* (n_layer, n_ctx, n_kv_dim) */
	ggml_half *v_cache;  /* (n_layer, n_ctx, n_kv_dim) */

	/* scratch, sized for n_batch tokens */
	float *x;            /* (n_batch, n_embd) residual stream */
	float *xn;           /* (n_batch, n_embd) normed input */
	float *q;            /* (n_batch, n_head*head_dim) */
	float *k;            /* (n_batch, n_kv_dim) */
	float *v;            /* (n_batch, n_kv_dim) */
	float *att;          /* (n_batch, n_head*head_dim) attention output */
	float *gate;         /* (n_batch, n_ff) */
	float *up;           /* (n_batch, n_ff) */
	float *scores;       /* (n_threads, n_ctx) one score row per worker */
	float *logits;       /* (n_ctx if logits_all else 1, n_vocab) */
	int n_logits;        /* rows of logits valid after the last eval */
	void *mm_scratch;    /* engine_matmul activation scratch */
	char err[ENGINE_ERRLEN];
};

engine_context_params engine_context_default_params(void)
{
	engine_context_params p = {
		.n_ctx = 0,
		.n_batch = 64,
		.n_threads = 0,
		.logits_all = false,
		.n_keep_on_shift = 0,
		.abort_cb = NULL,
		.abort_user_data = NULL,
	};
	return p;
}

static int kv_dim(const engine_model *m)
{
	return m->hp.n_head_kv * m->hp.head_dim;
}

static size_t max_mm_scratch(const engine_model *m, int n_batch)
{
	size_t best = engine_matmul_scratch(&m->output, n_batch);
	int il;

	for (il = 0; il < m->hp.n_layer; il++) {
		const struct layer_w *w = &m->layers[il];
		const engine_mat *mats[] = { &w->wq, &w->wk, &w->wv, &w->wo,
					     &w->w_gate, &w->w_up, &w->w_down };
		size_t i, s;

		for (i = 0; i < sizeof(mats) / sizeof(mats[0]); i++) {
			s = engine_matmul_scratch(mats[i], n_batch);
			if (s > best)
				best = s;
		}
	}
	return best;
}

static int ctx_alloc(engine_context *c)
{
	const struct hparams *hp = &c->m->hp;
	size_t nb = (size_t)c->p.n_batch, nq = (size_t)hp->n_head * (size_t)hp->head_dim;
	size_t kvd = (size_t)kv_dim(c->m), cache = (size_t)hp->n_layer * (size_t)c->n_ctx * kvd;
	/* logits_all keeps every position a call evaluates (tests, scoring) */
	size_t n_logit_rows = c->p.logits_all ? (size_t)c->n_ctx : 1;

	c->hist = malloc((size_t)c->n_ctx * sizeof(*c->hist));
	c->k_cache = malloc(cache * sizeof(ggml_half));
	c->v_cache = malloc(cache * sizeof(ggml_half));
	c->x = malloc(nb * (size_t)hp->n_embd * sizeof(float));
	c->xn = malloc(nb * (size_t)hp->n_embd * sizeof(float));
	c->q = malloc(nb * nq * sizeof(float));
	c->k = malloc(nb * kvd * sizeof(float));
	c->v = malloc(nb * kvd * sizeof(float));
	c->att = malloc(nb * nq * sizeof(float));
	c->gate = malloc(nb * (size_t)hp->n_ff * sizeof(float));
	c->up = malloc(nb * (size_t)hp->n_ff * sizeof(float));
	c->scores = malloc((size_t)engine_threadpool_size(c->tp) * (size_t)c->n_ctx *
			   sizeof(float));
	c->logits = malloc(n_logit_rows * (size_t)hp->n_vocab * sizeof(float));
	c->mm_scratch = malloc(max_mm_scratch(c->m, c->p.n_batch) + 64);
	if (!c->hist || !c->k_cache || !c->v_cache || !c->x || !c->xn || !c->q ||
	    !c->k || !c->v || !c->att || !c->gate || !c->up || !c->scores ||
	    !c->logits || !c->mm_scratch)
		return HEARTH_ENOMEM;
	return 0;
}

int engine_context_new(const engine_model *m, const engine_context_params *p,
		       engine_context **out)
{
	engine_context *c;
	int rc;

	if (!out)
		return HEARTH_EINVAL;
	*out = NULL;
	if (!m || !p || !m->layers || p->n_ctx < 0 || p->n_batch < 0 ||
	    p->n_keep_on_shift < 0)
		return HEARTH_EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return HEARTH_ENOMEM;
	c->m = m;
	c->p = *p;
	if (c->p.n_batch == 0)
		c->p.n_batch = 64;
	c->n_ctx = p->n_ctx ? p->n_ctx : (m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096);
	if (c->p.n_batch > c->n_ctx)
		c->p.n_batch = c->n_ctx;
	rc = engine_threadpool_new(p->n_threads, &c->tp);
	if (rc || (rc = ctx_alloc(c))) {
		engine_context_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void engine_context_free(engine_context *c)
{
	if (!c)
		return;
	engine_threadpool_free(c->tp);
	free(c->hist);
	free(c->k_cache);
	free(c->v_cache);
	free(c->x);
	free(c->xn);
	free(c->q);
	free(c->k);
	free(c->v);
	free(c->att);
	free(c->gate);
	free(c->up);
	free(c->scores);
	free(c->logits);
	free(c->mm_scratch);
	free(c);
}

const char *engine_context_error(const engine_context *c) { return c ? c->err : ""; }
const engine_model *engine_context_model(const engine_context *c) { return c->m; }
int engine_n_past(const engine_context *c) { return c->n_past; }
const int32_t *engine_history(const engine_context *c) { return c->hist; }
int engine_n_ctx(const engine_context *c) { return c->n_ctx; }

const float *engine_logits(const engine_context *c)
{
	if (!c || c->n_logits == 0)
		return NULL;
	return c->logits + (size_t)(c->n_logits - 1) * (size_t)c->m->hp.n_vocab;
}

const float *engine_logits_ith(const engine_context *c, int i)
{
	if (!c || !c->p.logits_all || i < 0 || i >= c->n_logits)
		return NULL;
	return c->logits + (size_t)i * (size_t)c->m->hp.n_vocab;
}

int engine_kv_truncate(engine_context *c, int n_keep)
{
	if (!c || n_keep < 0 || n_keep > c->n_past)
		return HEARTH_EINVAL;
	c->n_past = n_keep;
	return 0;
}

/* ---------------------------------------------------------------------------
 * Math
 */
static void rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
	double ss = 0.0;
	float scale;
	int i;

	for (i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	scale = (float)(1.0 / sqrt(ss / n + eps));
	for (i = 0; i < n; i++)
		out[i] = x[i] * scale * w[i];
}

/* Rotate one head vector (head_dim) to position pos. NORM rotates adjacent
 * pairs (x[2i], x[2i+1]); NEOX rotates (x[i], x[i + n_rot/2]). */
static void rope(const engine_model *m, float *v, double pos)
{
	const struct hparams *hp = &m->hp;
	int half = hp->n_rot / 2, i;

	pos /= hp->rope_scale;
	for (i = 0; i < half; i++) {
		double theta = pos * pow(hp->rope_base, -2.0 * i / hp->n_rot);
		float c, s, a, b;
		int ia, ib;

		if (m->rope_freqs)
			theta /= m->rope_freqs[i];
		c = (float)cos(theta);
		s = (float)sin(theta);
		ia = m->arch->rope == ROPE_NORM ? 2 * i : i;
		ib = m->arch->rope == ROPE_NORM ? 2 * i + 1 : i + half;
		a = v[ia];
		b = v[ib];
		v[ia] = a * c - b * s;
		v[ib] = a * s + b * c;
	}
}

static float silu(float x)
{
	return x / (1.0f + expf(-x));
}

/* ---------------------------------------------------------------------------
 * Attention: one task per (token, head) pair, spread over the workers.
 */
struct attn_job {
	engine_context *c;
	int layer;
	int n_tok;
	int pos0;
};

static void attend_one(engine_context *c, int layer, int t, int h, int pos0,
		       float *sc)
{
	const struct hparams *hp = &c->m->hp;
	int hd = hp->head_dim, kvd = kv_dim(c->m), n_kv = pos0 + t + 1;
	int kvh = h / (hp->n_head / hp->n_head_kv), j, d;
	const float *q = c->q + ((size_t)t * hp->n_head + h) * hd;
	size_t base = (size_t)layer * c->n_ctx * kvd + (size_t)kvh * hd;
	float *o = c->att + ((size_t)t * hp->n_head + h) * hd;
	float scale = 1.0f / sqrtf((float)hd), mx = -INFINITY;
	double sum = 0.0;

	for (j = 0; j < n_kv; j++) {
		const ggml_half *k = c->k_cache + base + (size_t)j * kvd;
		float s = 0.0f;

		for (d = 0; d < hd; d++)
			s += q[d] * engine_fp16_to_fp32(k[d]);
		sc[j] = s * scale;
		if (sc[j] > mx)
			mx = sc[j];
	}
	for (j = 0; j < n_kv; j++) {
		sc[j] = expf(sc[j] - mx);
		sum += sc[j];
	}
	memset(o, 0, (size_t)hd * sizeof(*o));
	for (j = 0; j < n_kv; j++) {
		const ggml_half *v = c->v_cache + base + (size_t)j * kvd;
		float w = (float)(sc[j] / sum);

		for (d = 0; d < hd; d++)
			o[d] += w * engine_fp16_to_fp32(v[d]);
	}
}

static void attn_worker(int ith, int nth, void *arg)
{
	struct attn_job *job = arg;
	engine_context *c = job->c;
	int n_head = c->m->hp.n_head, total = job->n_tok * n_head, i;
	float *sc = c->scores + (size_t)ith * c->n_ctx;

	for (i = ith; i < total; i += nth)
		attend_one(c, job->layer, i / n_head, i % n_head, job->pos0, sc);
}

/* ---------------------------------------------------------------------------
 * Layers
 */
static void add_bias(float *y, const float *b, int n_tok, int n)
{
	int t, i;

	if (!b)
		return;
	for (t = 0; t < n_tok; t++)
		for (i = 0; i < n; i++)
			y[(size_t)t * n + i] += b[i];
}

/* QK-norm (per head) and RoPE on this tile's q and k, then store k and v
 * into the cache at positions pos0… */
static void qk_prepare(engine_context *c, const struct layer_w *w, int layer,
		       int n_tok, int pos0)
{
	const struct hparams *hp = &c->m->hp;
	int hd = hp->head_dim, kvd = kv_dim(c->m), t, h, d;

	for (t = 0; t < n_tok; t++) {
		float *q = c->q + (size_t)t * hp->n_head * hd;
		float *k = c->k + (size_t)t * kvd;
		float *v = c->v + (size_t)t * kvd;
		size_t off = ((size_t)layer * c->n_ctx + (size_t)(pos0 + t)) * kvd;

		for (h = 0; h < hp->n_head; h++) {
			if (w->q_norm)
				rmsnorm(q + h * hd, q + h * hd, w->q_norm, hd, hp->eps);
			rope(c->m, q + h * hd, pos0 + t);
		}
		for (h = 0; h < hp->n_head_kv; h++) {
			if (w->k_norm)
				rmsnorm(k + h * hd, k + h * hd, w->k_norm, hd, hp->eps);
			rope(c->m, k + h * hd, pos0 + t);
		}
		for (d = 0; d < kvd; d++) {
			c->k_cache[off + d] = engine_fp32_to_fp16(k[d]);
			c->v_cache[off + d] = engine_fp32_to_fp16(v[d]);
		}
	}
}

static void attention_block(engine_context *c, int il, int n_tok, int pos0)
{
	const struct hparams *hp = &c->m->hp;
	const struct layer_w *w = &c->m->layers[il];
	int n_embd = hp->n_embd, nq = hp->n_head * hp->head_dim, kvd = kv_dim(c->m);
	struct attn_job job = { c, il, n_tok, pos0 };
	int t, i;

	for (t = 0; t < n_tok; t++)
		rmsnorm(c->xn + (size_t)t * n_embd, c->x + (size_t)t * n_embd,
			w->attn_norm, n_embd, hp->eps);
	engine_matmul(c->tp, &w->wq, c->xn, n_tok, c->q, c->mm_scratch);
	engine_matmul(c->tp, &w->wk, c->xn, n_tok, c->k, c->mm_scratch);
	engine_matmul(c->tp, &w->wv, c->xn, n_tok, c->v, c->mm_scratch);
	add_bias(c->q, w->bq, n_tok, nq);
	add_bias(c->k, w->bk, n_tok, kvd);
	add_bias(c->v, w->bv, n_tok, kvd);
	qk_prepare(c, w, il, n_tok, pos0);
	engine_threadpool_run(c->tp, attn_worker, &job);
	/* the output projection goes through xn (free now) to add the residual */
	engine_matmul(c->tp, &w->wo, c->att, n_tok, c->xn, c->mm_scratch);
	for (i = 0; i < n_tok * n_embd; i++)
		c->x[i] += c->xn[i];
}

static void ffn_block(engine_context *c, int il, int n_tok)
{
	const struct hparams *hp = &c->m->hp;
	const struct layer_w *w = &c->m->layers[il];
	int n_embd = hp->n_embd, t;
	size_t i, n_ff_all = (size_t)n_tok * hp->n_ff;

	for (t = 0; t < n_tok; t++)
		rmsnorm(c->xn + (size_t)t * n_embd, c->x + (size_t)t * n_embd,
			w->ffn_norm, n_embd, hp->eps);
	engine_matmul(c->tp, &w->w_gate, c->xn, n_tok, c->gate, c->mm_scratch);
	engine_matmul(c->tp, &w->w_up, c->xn, n_tok, c->up, c->mm_scratch);
	for (i = 0; i < n_ff_all; i++)
		c->gate[i] = silu(c->gate[i]) * c->up[i];
	engine_matmul(c->tp, &w->w_down, c->gate, n_tok, c->xn, c->mm_scratch);
	for (i = 0; i < (size_t)n_tok * n_embd; i++)
		c->x[i] += c->xn[i];
}

/* Run one tile whose input embeddings are already in c->x. */
static int forward_tile(engine_context *c, int n_tok)
{
	const struct hparams *hp = &c->m->hp;
	int pos0 = c->n_past, il, t, first;

	for (il = 0; il < hp->n_layer; il++) {
		if (c->p.abort_cb && c->p.abort_cb(c->p.abort_user_data))
			return HEARTH_ECANCELED;
		attention_block(c, il, n_tok, pos0);
		ffn_block(c, il, n_tok);
	}
	/* only the rows whose logits are wanted go through the output matmul */
	first = c->p.logits_all ? 0 : n_tok - 1;
	for (t = first; t < n_tok; t++)
		rmsnorm(c->xn + (size_t)(t - first) * hp->n_embd,
			c->x + (size_t)t * hp->n_embd, c->m->output_norm,
			hp->n_embd, hp->eps);
	engine_matmul(c->tp, &c->m->output, c->xn, n_tok - first,
		      c->logits + (size_t)(c->p.logits_all ? c->n_logits : 0) * hp->n_vocab,
		      c->mm_scratch);
	c->n_past += n_tok;
	return 0;
}

/* ---------------------------------------------------------------------------
 * Context shift: drop the oldest half of the positions after n_keep, move
 * the rest down and re-rotate their keys by the distance moved (RoPE of
 * position p then −d equals RoPE of p − d).
 */
static void kv_shift(engine_context *c)
{
	const struct hparams *hp = &c->m->hp;
	int keep = c->p.n_keep_on_shift, kvd = kv_dim(c->m), hd = hp->head_dim;
	int n_drop = (c->n_past - keep) / 2, il, j, h, d;
	float tmp[1024];

	for (il = 0; il < hp->n_layer; il++) {
		for (j = keep + n_drop; j < c->n_past; j++) {
			size_t src = ((size_t)il * c->n_ctx + (size_t)j) * kvd;
			size_t dst = ((size_t)il * c->n_ctx + (size_t)(j - n_drop)) * kvd;

			for (h = 0; h < hp->n_head_kv; h++) {
				for (d = 0; d < hd; d++)
					tmp[d] = engine_fp16_to_fp32(c->k_cache[src + h * hd + d]);
				rope(c->m, tmp, -(double)n_drop * hp->rope_scale);
				for (d = 0; d < hd; d++)
					c->k_cache[dst + h * hd + d] = engine_fp32_to_fp16(tmp[d]);
			}
			memmove(c->v_cache + dst, c->v_cache + src, (size_t)kvd * sizeof(ggml_half));
		}
	}
	memmove(c->hist + keep, c->hist + keep + n_drop,
		(size_t)(c->n_past - keep - n_drop) * sizeof(*c->hist));
	c->n_past -= n_drop;
}

/* Make room for n more positions, shifting if configured. */
static int reserve(engine_context *c, int n)
{
	while (c->n_past + n > c->n_ctx) {
		int keep = c->p.n_keep_on_shift;

		if (keep <= 0 || keep >= c->n_past || n > c->n_ctx - keep - 1 ||
		    (c->n_past - keep) / 2 == 0) {
			snprintf(c->err, sizeof(c->err),
				 "context full: %d positions held + %d new > %d",
				 c->n_past, n, c->n_ctx);
			return HEARTH_EFULL;
		}
		kv_shift(c);
	}
	return 0;
}

/* Shared driver of engine_eval / engine_eval_embd: tiles of n_batch. */
static int eval_tiles(engine_context *c, const int32_t *tokens,
		      const float *embd, int n)
{
	const struct hparams *hp = &c->m->hp;
	int done = 0, rc, t;

	if (n <= 0 || (!tokens && !embd))
		return HEARTH_EINVAL;
	if (tokens)
		for (t = 0; t < n; t++)
			if (tokens[t] < 0 || tokens[t] >= hp->n_vocab) {
				snprintf(c->err, sizeof(c->err),
					 "token %d at index %d is outside the vocabulary (%d)",
					 tokens[t], t, hp->n_vocab);
				return HEARTH_EINVAL;
			}
	if ((rc = reserve(c, n)))
		return rc;
	c->n_logits = 0;
	while (done < n) {
		int nt = n - done < c->p.n_batch ? n - done : c->p.n_batch;

		for (t = 0; t < nt; t++) {
			float *x = c->x + (size_t)t * hp->n_embd;

			if (tokens) {
				const engine_mat *e = &c->m->tok_embd;

				engine_dequant_row(e->type, (const uint8_t *)e->data +
						   (size_t)tokens[done + t] * e->row_bytes,
						   x, hp->n_embd);
				c->hist[c->n_past + t] = tokens[done + t];
			} else {
				memcpy(x, embd + (size_t)(done + t) * hp->n_embd,
				       (size_t)hp->n_embd * sizeof(float));
				c->hist[c->n_past + t] = -1;
			}
		}
		rc = forward_tile(c, nt);
		if (rc)
			return rc;
		c->n_logits = c->p.logits_all ? c->n_logits + nt : 1;
		done += nt;
	}
	return 0;
}

int engine_eval(engine_context *c, const int32_t *tokens, int n_tokens)
{
	if (!c)
		return HEARTH_EINVAL;
	return eval_tiles(c, tokens, NULL, n_tokens);
}

int engine_eval_embd(engine_context *c, const float *embd, int n_tokens)
{
	if (!c)
		return HEARTH_EINVAL;
	return eval_tiles(c, NULL, embd, n_tokens);
}
