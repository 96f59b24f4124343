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
 * loop allocates nothing. Attention walks the cache one (row, KV head)
 * group at a time with n_head/n_head_kv score rows of n_ctx per worker, so
 * long prompts cost linear memory.
 *
 * Threading: a context belongs to one thread; the matmuls and attention
 * fan out over the context's thread pool.
 */
#include "context_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		.prefix_cache = NULL,
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
	size_t n_logit_rows = c->p.logits_all ? (size_t)c->n_ctx : nb;

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
			   (size_t)(hp->n_head / hp->n_head_kv) * sizeof(float));
	c->logits = malloc(n_logit_rows * (size_t)hp->n_vocab * sizeof(float));
	c->mm_scratch = malloc(max_mm_scratch(c->m, c->p.n_batch) + 64);
	c->seq = malloc(nb * sizeof(*c->seq));
	c->pos = malloc(nb * sizeof(*c->pos));
	c->rope_cs = malloc(nb * (size_t)hp->n_rot * sizeof(*c->rope_cs));
	c->block_hash = malloc(((size_t)c->n_ctx / PREFIX_BLOCK + 1) * sizeof(*c->block_hash));
	if (!c->seq || !c->pos || !c->rope_cs || !c->block_hash || !c->hist || !c->k_cache || !c->v_cache || !c->x || !c->xn || !c->q ||
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
	free(c->seq);
	free(c->pos);
	free(c->rope_cs);
	free(c->block_hash);
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
	if (c->n_hashed > n_keep / PREFIX_BLOCK)
		c->n_hashed = n_keep / PREFIX_BLOCK;
	if (n_keep == 0)
		c->shifted = false;
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

/* cs (n_rot): cos and sin of the n_rot/2 RoPE angles at position pos. */
static void rope_angles(const engine_model *m, double pos, float *cs)
{
	const struct hparams *hp = &m->hp;
	int half = hp->n_rot / 2, i;

	pos /= hp->rope_scale;
	for (i = 0; i < half; i++) {
		double theta = pos * pow(hp->rope_base, -2.0 * i / hp->n_rot);

		if (m->rope_freqs)
			theta /= m->rope_freqs[i];
		cs[2 * i] = (float)cos(theta);
		cs[2 * i + 1] = (float)sin(theta);
	}
}

/* Rotate one head vector (head_dim) by the angles cs. NORM rotates
 * adjacent pairs (x[2i], x[2i+1]); NEOX rotates (x[i], x[i + n_rot/2]). */
static void rope_apply(const engine_model *m, float *v, const float *cs)
{
	int half = m->hp.n_rot / 2, i;

	for (i = 0; i < half; i++) {
		int ia = m->arch->rope == ROPE_NORM ? 2 * i : i;
		int ib = m->arch->rope == ROPE_NORM ? 2 * i + 1 : i + half;
		float a = v[ia], b = v[ib], c = cs[2 * i], s = cs[2 * i + 1];

		v[ia] = a * c - b * s;
		v[ib] = a * s + b * c;
	}
}

/* Rotate one head vector to position pos (context shift only; the tile
 * path computes each row's angles once, rope_angles). */
static void rope(const engine_model *m, float *v, double pos)
{
	float cs[1024];

	rope_angles(m, pos, cs);
	rope_apply(m, v, cs);
}

/* ---------------------------------------------------------------------------
 * A tile: up to n_batch rows, each row a token of some context at some
 * position. One context's prefill fills every row from itself; batched
 * decode puts one row per session. ws is the context whose scratch is used.
 */
struct tile {
	engine_context *ws;
	int n;
	unsigned mm_flags;  /* engine_matmul flags: ENGINE_MM_DECODE or 0 */
};

/* Attention: one task per (row, KV head) pair, spread over the workers. */
struct attn_job {
	struct tile *tl;
	int layer;
};

/* The query heads of row t that share KV head kvh, against that head's
 * history: one fused kernel call reads each cached K and V row once for
 * the whole group (sc: n_group × n_ctx scores). */
static void attend_group(engine_context *ws, int layer, int t, int kvh, float *sc)
{
	const engine_context *kc = ws->seq[t];
	const struct hparams *hp = &ws->m->hp;
	int hd = hp->head_dim, kvd = kv_dim(ws->m), n_kv = ws->pos[t] + 1;
	int group = hp->n_head / hp->n_head_kv, h0 = kvh * group;
	size_t base = (size_t)layer * kc->n_ctx * kvd + (size_t)kvh * hd;

	engine_attn_f16(ws->q + ((size_t)t * hp->n_head + h0) * hd, group,
			kc->k_cache + base, kc->v_cache + base, (size_t)kvd, n_kv,
			hd, 1.0f / sqrtf((float)hd), sc,
			ws->att + ((size_t)t * hp->n_head + h0) * hd);
}

static void attn_worker(int ith, int nth, void *arg)
{
	struct attn_job *job = arg;
	engine_context *ws = job->tl->ws;
	const struct hparams *hp = &ws->m->hp;
	int n_kvh = hp->n_head_kv, total = job->tl->n * n_kvh, i;
	/* the score rows must hold the longest history in the tile */
	float *sc = ws->scores + (size_t)ith * ws->n_ctx *
			       (size_t)(hp->n_head / hp->n_head_kv);

	for (i = ith; i < total; i += nth)
		attend_group(ws, job->layer, i / n_kvh, i % n_kvh, sc);
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

/* QK-norm (per head) and RoPE on the tile's q and k, then store k and v
 * into each row's own cache at its position. */
static void qk_prepare(struct tile *tl, const struct layer_w *w, int layer)
{
	engine_context *ws = tl->ws;
	const struct hparams *hp = &ws->m->hp;
	int hd = hp->head_dim, kvd = kv_dim(ws->m), t, h;

	for (t = 0; t < tl->n; t++) {
		engine_context *kc = ws->seq[t];
		float *q = ws->q + (size_t)t * hp->n_head * hd;
		float *k = ws->k + (size_t)t * kvd;
		float *v = ws->v + (size_t)t * kvd;
		const float *cs = ws->rope_cs + (size_t)t * hp->n_rot;
		size_t off = ((size_t)layer * kc->n_ctx + (size_t)ws->pos[t]) * kvd;

		for (h = 0; h < hp->n_head; h++) {
			if (w->q_norm)
				rmsnorm(q + h * hd, q + h * hd, w->q_norm, hd, hp->eps);
			rope_apply(ws->m, q + h * hd, cs);
		}
		for (h = 0; h < hp->n_head_kv; h++) {
			if (w->k_norm)
				rmsnorm(k + h * hd, k + h * hd, w->k_norm, hd, hp->eps);
			rope_apply(ws->m, k + h * hd, cs);
		}
		engine_f32_to_f16_row(k, kc->k_cache + off, (size_t)kvd);
		engine_f32_to_f16_row(v, kc->v_cache + off, (size_t)kvd);
	}
}

static void attention_block(struct tile *tl, int il)
{
	engine_context *c = tl->ws;
	const struct hparams *hp = &c->m->hp;
	const struct layer_w *w = &c->m->layers[il];
	int n_tok = tl->n, n_embd = hp->n_embd, nq = hp->n_head * hp->head_dim;
	int kvd = kv_dim(c->m), t, i;
	struct attn_job job = { tl, il };

	for (t = 0; t < n_tok; t++)
		rmsnorm(c->xn + (size_t)t * n_embd, c->x + (size_t)t * n_embd,
			w->attn_norm, n_embd, hp->eps);
	engine_matmul(c->tp, &w->wq, c->xn, n_tok, c->q,
		      c->mm_scratch, tl->mm_flags);
	engine_matmul(c->tp, &w->wk, c->xn, n_tok, c->k,
		      c->mm_scratch, tl->mm_flags);
	engine_matmul(c->tp, &w->wv, c->xn, n_tok, c->v,
		      c->mm_scratch, tl->mm_flags);
	add_bias(c->q, w->bq, n_tok, nq);
	add_bias(c->k, w->bk, n_tok, kvd);
	add_bias(c->v, w->bv, n_tok, kvd);
	qk_prepare(tl, w, il);
	engine_threadpool_run(c->tp, attn_worker, &job);
	/* the output projection goes through xn (free now) to add the residual */
	engine_matmul(c->tp, &w->wo, c->att, n_tok, c->xn,
		      c->mm_scratch, tl->mm_flags);
	for (i = 0; i < n_tok * n_embd; i++)
		c->x[i] += c->xn[i];
}

static void ffn_block(struct tile *tl, int il)
{
	engine_context *c = tl->ws;
	const struct hparams *hp = &c->m->hp;
	const struct layer_w *w = &c->m->layers[il];
	int n_tok = tl->n, n_embd = hp->n_embd, t;
	size_t i, n_ff_all = (size_t)n_tok * hp->n_ff;

	for (t = 0; t < n_tok; t++)
		rmsnorm(c->xn + (size_t)t * n_embd, c->x + (size_t)t * n_embd,
			w->ffn_norm, n_embd, hp->eps);
	engine_matmul(c->tp, &w->w_gate, c->xn, n_tok, c->gate,
		      c->mm_scratch, tl->mm_flags);
	engine_matmul(c->tp, &w->w_up, c->xn, n_tok, c->up,
		      c->mm_scratch, tl->mm_flags);
	engine_swiglu(c->gate, c->up, n_ff_all);
	engine_matmul(c->tp, &w->w_down, c->gate, n_tok, c->xn,
		      c->mm_scratch, tl->mm_flags);
	for (i = 0; i < (size_t)n_tok * n_embd; i++)
		c->x[i] += c->xn[i];
}

/*
 * Run the layers over a tile whose input embeddings are in ws->x, then the
 * output head for rows first…n-1 into logits (n - first rows).
 */
static int forward_tile(struct tile *tl, int first, float *logits)
{
	engine_context *c = tl->ws;
	const struct hparams *hp = &c->m->hp;
	int il, t;

	/* every layer rotates by the same angles: compute them once */
	for (t = 0; t < tl->n; t++)
		rope_angles(c->m, c->pos[t], c->rope_cs + (size_t)t * hp->n_rot);
	for (il = 0; il < hp->n_layer; il++) {
		if (c->p.abort_cb && c->p.abort_cb(c->p.abort_user_data))
			return HEARTH_ECANCELED;
		attention_block(tl, il);
		ffn_block(tl, il);
	}
	/* only the rows whose logits are wanted go through the output matmul */
	for (t = first; t < tl->n; t++)
		rmsnorm(c->xn + (size_t)(t - first) * hp->n_embd,
			c->x + (size_t)t * hp->n_embd, c->m->output_norm,
			hp->n_embd, hp->eps);
	engine_matmul(c->tp, &c->m->output, c->xn, tl->n - first, logits,
		      c->mm_scratch, tl->mm_flags);
	return 0;
}

static void embed_token(const engine_context *c, int32_t tok, float *x)
{
	const engine_mat *e = &c->m->tok_embd;

	engine_mat_row(e, tok, x);
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
	/* cached blocks are keyed by absolute positions, which just moved */
	c->shifted = true;
	c->n_hashed = 0;
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

/* ---------------------------------------------------------------------------
 * Prefix cache hooks: blocks of PREFIX_BLOCK tokens keyed by the chain hash
 * of every token before them, so a block is reused only after an identical
 * history.
 */
static bool prefix_usable(const engine_context *c)
{
	int i;

	if (!c->p.prefix_cache || c->shifted)
		return false;
	for (i = 0; i < c->n_past; i++)
		if (c->hist[i] < 0)
			return false;
	return true;
}

/* Bring block hashes up to date with the complete blocks of hist. */
static void prefix_rehash(engine_context *c)
{
	while (c->n_hashed < c->n_past / PREFIX_BLOCK) {
		int b = c->n_hashed;

		c->block_hash[b] = prefix_hash_block(b ? c->block_hash[b - 1] : 0,
						     c->hist + (size_t)b * PREFIX_BLOCK);
		c->n_hashed++;
	}
}

/* Take whole blocks of tokens from the cache while they match; always leave
 * at least one token to evaluate so there are logits. Returns tokens used. */
static int prefix_take(engine_context *c, const int32_t *toks, int n)
{
	int used = 0;

	if (!prefix_usable(c) || c->n_past % PREFIX_BLOCK)
		return 0;
	prefix_rehash(c);
	while (n - used > PREFIX_BLOCK && c->n_past + PREFIX_BLOCK <= c->n_ctx) {
		int b = c->n_past / PREFIX_BLOCK;
		uint64_t h = prefix_hash_block(b ? c->block_hash[b - 1] : 0, toks + used);

		if (!prefix_fetch(c->p.prefix_cache, c, h, toks + used))
			break;
		memcpy(c->hist + c->n_past, toks + used, PREFIX_BLOCK * sizeof(*toks));
		c->block_hash[b] = h;
		c->n_hashed = b + 1;
		c->n_past += PREFIX_BLOCK;
		used += PREFIX_BLOCK;
	}
	return used;
}

/* Offer every complete block of the history to the cache. */
static void prefix_offer(engine_context *c)
{
	int b, first = c->n_hashed;

	if (!prefix_usable(c))
		return;
	prefix_rehash(c);
	for (b = first; b < c->n_hashed; b++)
		prefix_store(c->p.prefix_cache, c, b, c->block_hash[b]);
}

/* ---------------------------------------------------------------------------
 * Evaluation
 */
static int check_tokens(engine_context *c, const int32_t *tokens, int n)
{
	int t;

	for (t = 0; t < n; t++)
		if (tokens[t] < 0 || tokens[t] >= c->m->hp.n_vocab) {
			snprintf(c->err, sizeof(c->err),
				 "token %d at index %d is outside the vocabulary (%d)",
				 tokens[t], t, c->m->hp.n_vocab);
			return HEARTH_EINVAL;
		}
	return 0;
}

/* Shared driver of engine_eval / engine_eval_embd / engine_eval_next:
 * tiles of n_batch; mm_flags for every matmul (ENGINE_MM_DECODE or 0). */
static int eval_tiles(engine_context *c, const int32_t *tokens,
		      const float *embd, int n, unsigned mm_flags)
{
	const struct hparams *hp = &c->m->hp;
	struct tile tl = { c, 0, mm_flags };
	int done = 0, rc, t, first;

	if (n <= 0 || (!tokens && !embd))
		return HEARTH_EINVAL;
	if (tokens && (rc = check_tokens(c, tokens, n)))
		return rc;
	if ((rc = reserve(c, n)))
		return rc;
	c->n_logits = 0;
	c->last_cached = (tokens && !c->p.logits_all) ? prefix_take(c, tokens, n) : 0;
	done = c->last_cached;
	while (done < n) {
		tl.n = n - done < c->p.n_batch ? n - done : c->p.n_batch;
		for (t = 0; t < tl.n; t++) {
			c->seq[t] = c;
			c->pos[t] = c->n_past + t;
			if (tokens) {
				embed_token(c, tokens[done + t], c->x + (size_t)t * hp->n_embd);
				c->hist[c->n_past + t] = tokens[done + t];
			} else {
				memcpy(c->x + (size_t)t * hp->n_embd,
				       embd + (size_t)(done + t) * hp->n_embd,
				       (size_t)hp->n_embd * sizeof(float));
				c->hist[c->n_past + t] = -1;
			}
		}
		first = c->p.logits_all ? 0 : tl.n - 1;
		rc = forward_tile(&tl, first, c->logits + (size_t)(c->p.logits_all ?
				  c->n_logits : 0) * hp->n_vocab);
		if (rc)
			return rc;
		c->n_past += tl.n;
		c->n_logits = c->p.logits_all ? c->n_logits + tl.n : 1;
		done += tl.n;
	}
	prefix_offer(c);
	return 0;
}

int engine_eval(engine_context *c, const int32_t *tokens, int n_tokens)
{
	if (!c)
		return HEARTH_EINVAL;
	return eval_tiles(c, tokens, NULL, n_tokens, 0);
}

int engine_eval_next(engine_context *c, int32_t token)
{
	if (!c)
		return HEARTH_EINVAL;
	return eval_tiles(c, &token, NULL, 1, ENGINE_MM_DECODE);
}

int engine_eval_embd(engine_context *c, const float *embd, int n_tokens)
{
	if (!c)
		return HEARTH_EINVAL;
	return eval_tiles(c, NULL, embd, n_tokens, 0);
}

int engine_last_cached(const engine_context *c)
{
	return c ? c->last_cached : 0;
}

/*
 * Batched decode: row i is ctxs[i]'s next token. The weights are read once
 * for all rows; attention reads each row's own cache. ctxs[0]'s scratch
 * holds the tile (row 0 is its own, so its logits are already in place),
 * so n must not exceed its n_batch nor any n_ctx its n_ctx.
 */
int engine_eval_multi(engine_context *const *ctxs, const int32_t *tokens, int n)
{
	engine_context *ws;
	struct tile tl;
	int i, j, rc;

	if (!ctxs || !tokens || n <= 0 || !ctxs[0] || n > ctxs[0]->p.n_batch)
		return HEARTH_EINVAL;
	ws = ctxs[0];
	for (i = 0; i < n; i++) {
		/* ws's score rows must fit every row's history */
		if (!ctxs[i] || ctxs[i]->m != ws->m || ctxs[i]->p.logits_all ||
		    ctxs[i]->n_ctx > ws->n_ctx)
			return HEARTH_EINVAL;
		for (j = 0; j < i; j++)
			if (ctxs[j] == ctxs[i])
				return HEARTH_EINVAL;
		if ((rc = check_tokens(ctxs[i], tokens + i, 1)) || (rc = reserve(ctxs[i], 1)))
			return rc;
	}
	for (i = 0; i < n; i++) {
		ws->seq[i] = ctxs[i];
		ws->pos[i] = ctxs[i]->n_past;
		embed_token(ws, tokens[i], ws->x + (size_t)i * ws->m->hp.n_embd);
	}
	tl = (struct tile){ ws, n, ENGINE_MM_DECODE };
	/* the logits land in ws->logits (n_batch rows) and are then copied */
	rc = forward_tile(&tl, 0, ws->logits);
	if (rc)
		return rc;
	for (i = n - 1; i >= 0; i--) {
		engine_context *c = ctxs[i];

		if (c != ws)
			memcpy(c->logits, ws->logits + (size_t)i * ws->m->hp.n_vocab,
			       (size_t)ws->m->hp.n_vocab * sizeof(float));
		c->hist[c->n_past++] = tokens[i];
		c->n_logits = 1;
		c->last_cached = 0;
	}
	return 0;
}
