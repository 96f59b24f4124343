/*
 * context_int.h — the per-session context as forward.c and prefix.c share
 * it. Private to engine/.
 */
#ifndef HEARTH_ENGINE_CONTEXT_INT_H
#define HEARTH_ENGINE_CONTEXT_INT_H

#include "model_int.h"

/* Tokens per prefix-cache block: large enough that the hash table stays
 * small, small enough that a system prompt wastes little at its tail. */
#define PREFIX_BLOCK 32

struct engine_context {
	const engine_model *m;
	engine_context_params p;
	engine_threadpool *tp;
	int n_ctx;
	int n_past;
	int32_t *hist;       /* (n_ctx) tokens held, -1 for embedding inputs */

	/* KV cache, F16 */
	ggml_half *k_cache;  /* (n_layer, n_ctx, n_head_kv*head_dim) */
	ggml_half *v_cache;  /* (n_layer, n_ctx, n_head_kv*head_dim) */

	/* scratch, sized for n_batch tokens */
	float *x;            /* (n_batch, n_embd) residual stream */
	float *xn;           /* (n_batch, n_embd) normed input */
	float *q;            /* (n_batch, n_head*head_dim) */
	float *k;            /* (n_batch, n_kv_dim) */
	float *v;            /* (n_batch, n_kv_dim) */
	float *att;          /* (n_batch, n_head*head_dim) attention output */
	float *gate;         /* (n_batch, n_ff) */
	float *up;           /* (n_batch, n_ff) */
	float *scores;       /* (n_threads, n_head/n_head_kv, n_ctx) score rows
				of one GQA group per worker */
	float *logits;       /* (n_ctx if logits_all else n_batch, n_vocab) */
	int n_logits;        /* rows of logits valid after the last eval */
	void *mm_scratch;    /* engine_matmul activation scratch */
	engine_context **seq;/* (n_batch) context owning each row of a tile */
	int *pos;            /* (n_batch) position of each row of a tile */
	float *rope_cs;      /* (n_batch, n_rot) cos, sin of each row's RoPE
				angles, computed once per tile for all layers */

	/* prefix cache bookkeeping */
	uint64_t *block_hash;/* (n_ctx / PREFIX_BLOCK) chain hash of each
				complete block of hist */
	int n_hashed;        /* blocks of hist whose hash is known */
	bool shifted;        /* positions no longer match hist: no caching */
	int last_cached;     /* tokens the last eval took from the cache */
	char err[ENGINE_ERRLEN];
};

/* prefix.c */
uint64_t prefix_hash_block(uint64_t parent, const int32_t *toks);
/* Copy the block whose chain hash is h into c at c->n_past if cached
 * (tokens compared, not just hashes). Returns true when copied. */
bool prefix_fetch(engine_prefix_cache *pc, engine_context *c, uint64_t h,
		  const int32_t *toks);
/* Store c's block number b (positions b*PREFIX_BLOCK…) under hash h. */
void prefix_store(engine_prefix_cache *pc, const engine_context *c, int b,
		  uint64_t h);

#endif
