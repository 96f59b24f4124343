/*
 * prefix.c — the prefix cache: KV blocks of PREFIX_BLOCK tokens shared by
 * all contexts of one model, keyed by the chain hash of the whole history
 * up to and including the block. A new session whose prompt starts with a
 * cached system prompt + tool schemas copies those blocks (a memcpy per
 * layer) instead of recomputing them.
 *
 * Thread-safety: every entry point takes the cache's mutex; contexts on
 * different threads may share one cache.
 */
#include "context_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct prefix_entry {
	uint64_t hash;
	uint64_t last_use;
	int32_t toks[PREFIX_BLOCK];
	ggml_half *kv;    /* (n_layer, 2, PREFIX_BLOCK, kv_dim): K then V */
};

struct engine_prefix_cache {
	const engine_model *m;
	pthread_mutex_t mu;
	size_t block_bytes, max_blocks;
	struct prefix_entry *e;  /* (max_blocks) unordered; kv NULL = free */
	size_t n_used;
	uint64_t clock;
	uint64_t hits, stores;
};

static size_t kv_dim_of(const engine_model *m)
{
	return (size_t)m->hp.n_head_kv * (size_t)m->hp.head_dim;
}

int engine_prefix_cache_new(const engine_model *m, size_t max_bytes,
			    engine_prefix_cache **out)
{
	engine_prefix_cache *pc;

	if (!out)
		return HEARTH_EINVAL;
	*out = NULL;
	if (!m || !m->layers)
		return HEARTH_EINVAL;
	pc = calloc(1, sizeof(*pc));
	if (!pc)
		return HEARTH_ENOMEM;
	pc->m = m;
	pc->block_bytes = (size_t)m->hp.n_layer * 2 * PREFIX_BLOCK * kv_dim_of(m) *
			  sizeof(ggml_half);
	pc->max_blocks = max_bytes / pc->block_bytes;
	if (pc->max_blocks == 0)
		pc->max_blocks = 1;
	pc->e = calloc(pc->max_blocks, sizeof(*pc->e));
	if (!pc->e) {
		free(pc);
		return HEARTH_ENOMEM;
	}
	pthread_mutex_init(&pc->mu, NULL);
	*out = pc;
	return 0;
}

void engine_prefix_cache_free(engine_prefix_cache *pc)
{
	size_t i;

	if (!pc)
		return;
	for (i = 0; i < pc->max_blocks; i++)
		free(pc->e[i].kv);
	free(pc->e);
	pthread_mutex_destroy(&pc->mu);
	free(pc);
}

void engine_prefix_cache_stats(engine_prefix_cache *pc, uint64_t *hit_blocks,
			       uint64_t *stored_blocks, size_t *bytes)
{
	pthread_mutex_lock(&pc->mu);
	if (hit_blocks)
		*hit_blocks = pc->hits;
	if (stored_blocks)
		*stored_blocks = pc->stores;
	if (bytes)
		*bytes = pc->n_used * pc->block_bytes;
	pthread_mutex_unlock(&pc->mu);
}

/* FNV-1a over the parent hash and the block's tokens. */
uint64_t prefix_hash_block(uint64_t parent, const int32_t *toks)
{
	uint64_t h = 0xcbf29ce484222325ull ^ parent;
	int i, b;

	for (i = 0; i < PREFIX_BLOCK; i++)
		for (b = 0; b < 4; b++) {
			h ^= (uint8_t)((uint32_t)toks[i] >> (8 * b));
			h *= 0x100000001b3ull;
		}
	return h;
}

static struct prefix_entry *find(engine_prefix_cache *pc, uint64_t h,
				 const int32_t *toks)
{
	size_t i;

	for (i = 0; i < pc->max_blocks; i++)
		if (pc->e[i].kv && pc->e[i].hash == h &&
		    !memcmp(pc->e[i].toks, toks, sizeof(pc->e[i].toks)))
			return &pc->e[i];
	return NULL;
}

/* Copy one block between a context's cache (positions pos…) and an entry
 * (dir > 0: context → entry). */
static void copy_block(const engine_model *m, struct prefix_entry *e,
		       ggml_half *k_cache, ggml_half *v_cache, int n_ctx, int pos,
		       int dir)
{
	size_t kvd = kv_dim_of(m), n = PREFIX_BLOCK * kvd;
	int il;

	for (il = 0; il < m->hp.n_layer; il++) {
		size_t off = ((size_t)il * (size_t)n_ctx + (size_t)pos) * kvd;
		ggml_half *ek = e->kv + (size_t)il * 2 * n, *ev = ek + n;

		if (dir > 0) {
			memcpy(ek, k_cache + off, n * sizeof(ggml_half));
			memcpy(ev, v_cache + off, n * sizeof(ggml_half));
		} else {
			memcpy(k_cache + off, ek, n * sizeof(ggml_half));
			memcpy(v_cache + off, ev, n * sizeof(ggml_half));
		}
	}
}

_Static_assert(PREFIX_BLOCK == ENGINE_PREFIX_BLOCK, "engine.h states the block size");

int engine_prefix_cache_probe(engine_prefix_cache *pc, const int32_t *tokens,
			      int n)
{
	uint64_t h = 0; /* block 0's parent, as in forward.c's chain */
	int used = 0;

	if (!pc || !tokens)
		return 0;
	pthread_mutex_lock(&pc->mu);
	while (n - used >= PREFIX_BLOCK) {
		h = prefix_hash_block(h, tokens + used);
		if (!find(pc, h, tokens + used))
			break;
		used += PREFIX_BLOCK;
	}
	pthread_mutex_unlock(&pc->mu);
	return used;
}

bool prefix_fetch(engine_prefix_cache *pc, engine_context *c, uint64_t h,
		  const int32_t *toks)
{
	struct prefix_entry *e;

	if (pc->m != c->m)
		return false;
	pthread_mutex_lock(&pc->mu);
	e = find(pc, h, toks);
	if (e) {
		e->last_use = ++pc->clock;
		pc->hits++;
		copy_block(c->m, e, c->k_cache, c->v_cache, c->n_ctx, c->n_past, -1);
	}
	pthread_mutex_unlock(&pc->mu);
	return e != NULL;
}

/* A free slot, or the least recently used one. */
static struct prefix_entry *victim(engine_prefix_cache *pc)
{
	struct prefix_entry *best = NULL;
	size_t i;

	for (i = 0; i < pc->max_blocks; i++) {
		if (!pc->e[i].kv)
			return &pc->e[i];
		if (!best || pc->e[i].last_use < best->last_use)
			best = &pc->e[i];
	}
	return best;
}

void prefix_store(engine_prefix_cache *pc, const engine_context *c, int b,
		  uint64_t h)
{
	const int32_t *toks = c->hist + (size_t)b * PREFIX_BLOCK;
	struct prefix_entry *e;

	if (pc->m != c->m)
		return;
	pthread_mutex_lock(&pc->mu);
	e = find(pc, h, toks);
	if (e) {
		e->last_use = ++pc->clock;
		goto out_unlock;
	}
	e = victim(pc);
	if (!e->kv) {
		e->kv = malloc(pc->block_bytes);
		if (!e->kv)
			goto out_unlock; /* caching is an optimisation: skip */
		pc->n_used++;
	}
	e->hash = h;
	e->last_use = ++pc->clock;
	memcpy(e->toks, toks, sizeof(e->toks));
	copy_block(c->m, e, c->k_cache, c->v_cache, c->n_ctx, b * PREFIX_BLOCK, 1);
	pc->stores++;
out_unlock:
	pthread_mutex_unlock(&pc->mu);
}
