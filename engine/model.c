/*
 * model.c — load a GGUF language model: architecture table, hyperparameters,
 * weight views into the mapping, validation of every tensor's shape and
 * type; plus the model-level wrappers of the public API (tokenizer, chat).
 *
 * Adding an architecture is a row in arch_table plus, if it needs new
 * tensors, a hook in load_layer(); the forward pass is shared.
 */
#include "model_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const struct arch_desc arch_table[] = {
	{ "llama", ROPE_NORM, false, false },
	{ "qwen2", ROPE_NEOX, true, false },
	{ "qwen3", ROPE_NEOX, false, true },
};

engine_model_params engine_model_default_params(void)
{
	engine_model_params p = { .path = NULL, .vocab_only = false };
	return p;
}

const char *engine_type_name(uint32_t type)
{
	const engine_type_traits *t = engine_type_get(type);

	return t ? t->name : "?";
}

/* ---------------------------------------------------------------------------
 * Hyperparameters
 */
struct loader {
	engine_model *m;
	const char *path;
	char *err;
	size_t errlen;
};

static int get_u32(struct loader *L, const char *suffix, bool required,
		   uint32_t def, uint32_t *out)
{
	char key[128];

	snprintf(key, sizeof(key), "%s.%s", L->m->arch->name, suffix);
	if (gguf_get_u32(L->m->file, key, out))
		return 0;
	if (gguf_find_kv(L->m->file, key))
		return engine_errf(L->err, L->errlen, HEARTH_EFORMAT,
				   "%s: key '%s' has the wrong type", L->path, key);
	if (required)
		return engine_errf(L->err, L->errlen, HEARTH_EFORMAT,
				   "%s: missing key '%s'", L->path, key);
	*out = def;
	return 0;
}

static int get_f32(struct loader *L, const char *suffix, float def, float *out)
{
	char key[128];

	snprintf(key, sizeof(key), "%s.%s", L->m->arch->name, suffix);
	if (gguf_get_f32(L->m->file, key, out))
		return 0;
	if (gguf_find_kv(L->m->file, key))
		return engine_errf(L->err, L->errlen, HEARTH_EFORMAT,
				   "%s: key '%s' has the wrong type", L->path, key);
	*out = def;
	return 0;
}

static int load_rope_scaling(struct loader *L, struct hparams *hp)
{
	char key[128];
	gguf_str type;
	float f = 1.0f;

	hp->rope_scale = 1.0f;
	snprintf(key, sizeof(key), "%s.rope.scaling.type", L->m->arch->name);
	if (!gguf_get_str(L->m->file, key, &type) || gguf_str_eq(type, "none"))
		return 0;
	if (!gguf_str_eq(type, "linear"))
		return engine_errf(L->err, L->errlen, HEARTH_EUNSUPPORTED,
				   "%s: rope scaling '%.*s' is not supported (linear is)",
				   L->path, (int)type.len, type.ptr);
	if (get_f32(L, "rope.scaling.factor", 1.0f, &f))
		return HEARTH_EFORMAT;
	if (!(f > 0.0f))
		return engine_errf(L->err, L->errlen, HEARTH_EFORMAT,
				   "%s: rope.scaling.factor must be > 0", L->path);
	hp->rope_scale = f;
	return 0;
}

static int load_hparams(struct loader *L)
{
	struct hparams *hp = &L->m->hp;
	uint32_t v[10];
	int rc = 0;

	rc |= get_u32(L, "context_length", false, 2048, &v[0]);
	rc |= get_u32(L, "embedding_length", true, 0, &v[1]);
	rc |= get_u32(L, "block_count", true, 0, &v[2]);
	rc |= get_u32(L, "feed_forward_length", true, 0, &v[3]);
	rc |= get_u32(L, "attention.head_count", true, 0, &v[4]);
	if (rc)
		return HEARTH_EFORMAT;
	rc |= get_u32(L, "attention.head_count_kv", false, v[4], &v[5]);
	if (v[4] == 0 || v[1] == 0 || v[2] == 0 || v[3] == 0 || v[5] == 0 ||
	    v[4] % v[5] || v[1] > 65536 || v[2] > 1024 || v[3] > 1 << 20 || v[4] > 1024)
		return engine_errf(L->err, L->errlen, HEARTH_EFORMAT,
				   "%s: implausible hyperparameters (embd %u, layers %u, ff %u, "
				   "heads %u/%u kv)", L->path, v[1], v[2], v[3], v[4], v[5]);
	rc |= get_u32(L, "attention.key_length", false, v[1] / v[4], &v[6]);
	rc |= get_u32(L, "attention.value_length", false, v[6], &v[7]);
	rc |= get_u32(L, "rope.dimension_count", false, v[6], &v[8]);
	rc |= get_f32(L, "attention.layer_norm_rms_epsilon", 1e-5f, &hp->eps);
	rc |= get_f32(L, "rope.freq_base", 10000.0f, &hp->rope_base);
	if (rc)
		return HEARTH_EFORMAT;
	if (v[7] != v[6] || v[8] > v[6] || v[8] % 2 || v[6] == 0 || v[6] > 1024)
		return engine_errf(L->err, L->errlen, HEARTH_EUNSUPPORTED,
				   "%s: head dims key %u / value %u / rope %u not supported",
				   L->path, v[6], v[7], v[8]);
	hp->n_ctx_train = (int)(v[0] ? v[0] : 2048);
	hp->n_embd = (int)v[1];
	hp->n_layer = (int)v[2];
	hp->n_ff = (int)v[3];
	hp->n_head = (int)v[4];
	hp->n_head_kv = (int)v[5];
	hp->head_dim = (int)v[6];
	hp->n_rot = (int)v[8];
	return load_rope_scaling(L, hp);
}

/* ---------------------------------------------------------------------------
 * Tensors
 */
static const gguf_tensor *find_tensor(struct loader *L, const char *name,
				      bool required, int *rc)
{
	const gguf_tensor *t = gguf_find_tensor(L->m->file, name);

	if (!t && required)
		*rc = engine_errf(L->err, L->errlen, HEARTH_EFORMAT,
				  "%s: missing tensor '%s'", L->path, name);
	return t;
}

static int check_type(struct loader *L, const gguf_tensor *t)
{
	const engine_type_traits *tr = engine_type_get(t->type);

	if (!tr || !tr->supported)
		return engine_errf(L->err, L->errlen, HEARTH_EUNSUPPORTED,
				   "%s: tensor '%s' has type %s (id %u), which this engine "
				   "does not support", L->path, t->name, tr ? tr->name : "?",
				   t->type);
	return 0;
}

/* A 2-D weight of shape (rows, cols), i.e. ne = [cols, rows]. */
static int load_mat(struct loader *L, const char *name, int64_t rows,
		    int64_t cols, bool required, engine_mat *out)
{
	const gguf_tensor *t;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	t = find_tensor(L, name, required, &rc);
	if (!t)
		return rc;
	if ((rc = check_type(L, t)))
		return rc;
	if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1)
		return engine_errf(L->err, L->errlen, HEARTH_EFORMAT,
				   "%s: tensor '%s' has shape [%lld, %lld, %lld], expected "
				   "[%lld, %lld]", L->path, name, (long long)t->ne[0],
				   (long long)t->ne[1], (long long)t->ne[2],
				   (long long)cols, (long long)rows);
	out->type = t->type;
	out->ne0 = cols;
	out->ne1 = rows;
	out->row_bytes = engine_row_size(t->type, cols);
	out->data = t->data;
	L->m->n_params += (uint64_t)(rows * cols);
	return 0;
}

/* A 1-D tensor of n elements, converted to an owned f32 copy (norms and
 * biases are tiny, and a copy guarantees alignment and type). */
static int load_vec(struct loader *L, const char *name, int64_t n,
		    bool required, const float **out)
{
	engine_model *m = L->m;
	const gguf_tensor *t;
	float *v;
	int rc = 0;

	*out = NULL;
	t = find_tensor(L, name, required, &rc);
	if (!t)
		return rc;
	if ((rc = check_type(L, t)))
		return rc;
	if (t->ne[0] != n || t->n_dims != 1)
		return engine_errf(L->err, L->errlen, HEARTH_EFORMAT,
				   "%s: tensor '%s' has %lld elements in %u dims, expected a "
				   "vector of %lld", L->path, name, (long long)t->ne[0],
				   t->n_dims, (long long)n);
	if (m->n_owned == m->cap_owned) {
		int cap = m->cap_owned ? m->cap_owned * 2 : 64;
		float **grown = realloc(m->owned, (size_t)cap * sizeof(*grown));

		if (!grown)
			return HEARTH_ENOMEM;
		m->owned = grown;
		m->cap_owned = cap;
	}
	v = malloc((size_t)n * sizeof(*v));
	if (!v)
		return HEARTH_ENOMEM;
	engine_dequant_row(t->type, t->data, v, n);
	m->owned[m->n_owned++] = v;
	m->n_params += (uint64_t)n;
	*out = v;
	return 0;
}

static int load_layer(struct loader *L, int il, struct layer_w *w)
{
	const struct hparams *hp = &L->m->hp;
	const struct arch_desc *a = L->m->arch;
	int64_t nq = (int64_t)hp->n_head * hp->head_dim;
	int64_t nkv = (int64_t)hp->n_head_kv * hp->head_dim;
	char n[96];
	int rc;

#define T(suffix) (snprintf(n, sizeof(n), "blk.%d." suffix, il), n)
	if ((rc = load_vec(L, T("attn_norm.weight"), hp->n_embd, true, &w->attn_norm)) ||
	    (rc = load_mat(L, T("attn_q.weight"), nq, hp->n_embd, true, &w->wq)) ||
	    (rc = load_mat(L, T("attn_k.weight"), nkv, hp->n_embd, true, &w->wk)) ||
	    (rc = load_mat(L, T("attn_v.weight"), nkv, hp->n_embd, true, &w->wv)) ||
	    (rc = load_mat(L, T("attn_output.weight"), hp->n_embd, nq, true, &w->wo)) ||
	    (rc = load_vec(L, T("attn_q.bias"), nq, a->qkv_bias, &w->bq)) ||
	    (rc = load_vec(L, T("attn_k.bias"), nkv, a->qkv_bias, &w->bk)) ||
	    (rc = load_vec(L, T("attn_v.bias"), nkv, a->qkv_bias, &w->bv)) ||
	    (rc = load_vec(L, T("attn_q_norm.weight"), hp->head_dim, a->qk_norm, &w->q_norm)) ||
	    (rc = load_vec(L, T("attn_k_norm.weight"), hp->head_dim, a->qk_norm, &w->k_norm)) ||
	    (rc = load_vec(L, T("ffn_norm.weight"), hp->n_embd, true, &w->ffn_norm)) ||
	    (rc = load_mat(L, T("ffn_gate.weight"), hp->n_ff, hp->n_embd, true, &w->w_gate)) ||
	    (rc = load_mat(L, T("ffn_up.weight"), hp->n_ff, hp->n_embd, true, &w->w_up)) ||
	    (rc = load_mat(L, T("ffn_down.weight"), hp->n_embd, hp->n_ff, true, &w->w_down)))
		return rc;
#undef T
	return 0;
}

/* The weight type used by most parameters, for reports. */
static void find_main_type(engine_model *m)
{
	uint64_t count[GGML_T_COUNT] = { 0 }, i, best = 0;

	for (i = 0; i < gguf_n_tensors(m->file); i++) {
		const gguf_tensor *t = gguf_tensor_at(m->file, i);

		m->weight_bytes += t->nbytes;
		if (t->type < GGML_T_COUNT && t->n_dims == 2)
			count[t->type] += (uint64_t)(t->ne[0] * t->ne[1]);
	}
	for (i = 0; i < GGML_T_COUNT; i++)
		if (count[i] > best) {
			best = count[i];
			m->main_type = (uint32_t)i;
		}
}

static int load_weights(struct loader *L)
{
	engine_model *m = L->m;
	const struct hparams *hp = &m->hp;
	const gguf_tensor *rf;
	int il, rc;

	if ((rc = load_mat(L, "token_embd.weight", hp->n_vocab, hp->n_embd, true,
			   &m->tok_embd)) ||
	    (rc = load_vec(L, "output_norm.weight", hp->n_embd, true, &m->output_norm)) ||
	    (rc = load_mat(L, "output.weight", hp->n_vocab, hp->n_embd, false, &m->output)))
		return rc;
	if (!m->output.data)
		m->output = m->tok_embd; /* tied embeddings */
	rf = gguf_find_tensor(m->file, "rope_freqs.weight");
	if (rf && (rc = load_vec(L, "rope_freqs.weight", hp->n_rot / 2, true,
				 &m->rope_freqs)))
		return rc;
	m->layers = calloc((size_t)hp->n_layer, sizeof(*m->layers));
	if (!m->layers)
		return HEARTH_ENOMEM;
	for (il = 0; il < hp->n_layer; il++)
		if ((rc = load_layer(L, il, &m->layers[il])))
			return rc;
	find_main_type(m);
	return 0;
}

/* ---------------------------------------------------------------------------
 * Load-time repacking for the SIMD path (engine_matmul_repack): every
 * weight matrix the path has a better layout for is copied once into one
 * owned, 64-byte aligned buffer, and the file pages it was read from are
 * released from this process (MADV_DONTNEED: they stay in the page cache
 * and would fault back in if read), so resident memory stays about one copy
 * of the weights. The embedding table keeps its file view for row lookups;
 * a tied output gets a packed copy of its own, and the table's pages are
 * released all the same (a lookup faults back in only the rows it reads). Failing to allocate the
 * buffer is not an error: the matrices are then used as the file has them.
 */
static void release_pages(const void *p, size_t n)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t e = ((uintptr_t)p + n) & ~(page - 1);

	if (e > a)
		madvise((void *)a, e - a, MADV_DONTNEED);
}

/* The repackable matrices of m: the output, then 7 per layer. */
static int model_mats(engine_model *m, engine_mat **mats)
{
	int n = 0, il;

	mats[n++] = &m->output;
	for (il = 0; il < m->hp.n_layer; il++) {
		struct layer_w *w = &m->layers[il];

		mats[n++] = &w->wq;
		mats[n++] = &w->wk;
		mats[n++] = &w->wv;
		mats[n++] = &w->wo;
		mats[n++] = &w->w_gate;
		mats[n++] = &w->w_up;
		mats[n++] = &w->w_down;
	}
	return n;
}

#define HUGE_ALIGN ((size_t)2 << 20)
/* Rows repacked at a time: each run's file pages are released as soon as
 * it is copied, so the peak is one copy of the weights plus one run, not
 * plus the largest matrix (the output alone is ~140 MB for Qwen2.5-0.5B). */
#define REPACK_ROWS 1024

/* *w repacked into dst (engine_matmul_repack_size(w) bytes), run by run. */
static void repack_mat(engine_mat *w, uint8_t *dst)
{
	engine_mat sub = *w, out = *w;

	for (int64_t r0 = 0; r0 < w->ne1; r0 += REPACK_ROWS) {
		size_t off = (size_t)r0 * w->row_bytes;

		sub.ne1 = w->ne1 - r0 < REPACK_ROWS ? w->ne1 - r0 : REPACK_ROWS;
		sub.data = (const uint8_t *)w->data + off;
		engine_matmul_repack(&sub, dst + off, &out);
		/* a tied embedding too: its lookups fault back only the
		 * rows they read */
		release_pages(sub.data, w->row_bytes * (size_t)sub.ne1);
	}
	out.ne1 = w->ne1;
	out.data = dst;
	*w = out;
}

static size_t round64(size_t n)
{
	return (n + 63) / 64 * 64;
}

static void repack_weights(engine_model *m)
{
	int n_max = 1 + 7 * m->hp.n_layer, n, i;
	engine_mat **mats = malloc((size_t)n_max * sizeof(*mats));
	size_t total = 0, off = 0;
	bool tied = m->output.data == m->tok_embd.data;

	if (!mats)
		return;
	n = model_mats(m, mats);
	for (i = 0; i < n; i++)
		total += round64(engine_matmul_repack_size(mats[i]));
	if (total && posix_memalign(&m->packed, HUGE_ALIGN, total) == 0) {
		/* 2 MiB pages where the kernel has them: fewer TLB misses
		 * while decode streams every byte once per token */
		madvise(m->packed, total, MADV_HUGEPAGE);
		for (i = 0; i < n; i++) {
			size_t sz = engine_matmul_repack_size(mats[i]);

			if (!sz)
				continue;
			repack_mat(mats[i], (uint8_t *)m->packed + off);
			off += round64(sz);
		}
		/* A tied embedding looks its rows up in the packed copy:
		 * lookups in the released file view would fault its pages
		 * back (whole large page-cache folios at a time, so a few
		 * hundred prompt tokens bring back most of the table) and
		 * hold the table twice. */
		if (tied && m->output.layout)
			m->tok_embd = m->output;
	}
	free(mats);
}

static int load_arch(struct loader *L)
{
	gguf_str a;
	size_t i;

	if (!gguf_get_str(L->m->file, "general.architecture", &a))
		return engine_errf(L->err, L->errlen, HEARTH_EFORMAT,
				   "%s: missing key 'general.architecture'", L->path);
	for (i = 0; i < sizeof(arch_table) / sizeof(arch_table[0]); i++)
		if (gguf_str_eq(a, arch_table[i].name)) {
			L->m->arch = &arch_table[i];
			return 0;
		}
	return engine_errf(L->err, L->errlen, HEARTH_EUNSUPPORTED,
			   "%s: architecture '%.*s' is not supported (llama, qwen2, qwen3)",
			   L->path, (int)(a.len > 64 ? 64 : a.len), a.ptr);
}

/* m->piece_off/piece_buf/tok_flags (see model_int.h). */
static int build_pieces(engine_model *m)
{
	int n_vocab = engine_vocab_n(m->vocab), t, n;
	char tmp[512];
	size_t total = 0;

	m->piece_off = malloc(((size_t)n_vocab + 1) * sizeof(*m->piece_off));
	m->tok_flags = calloc((size_t)n_vocab + 1, 1);
	if (!m->piece_off || !m->tok_flags)
		return HEARTH_ENOMEM;
	for (t = 0; t < n_vocab; t++) {
		n = engine_token_to_piece(m, t, tmp, sizeof(tmp), true);
		m->piece_off[t] = (uint32_t)total;
		total += n < 0 ? (size_t)-n : (size_t)n;
		if (total > UINT32_MAX)
			return HEARTH_ENOMEM;
	}
	m->piece_off[n_vocab] = (uint32_t)total;
	m->piece_buf = malloc(total + 1);
	if (!m->piece_buf)
		return HEARTH_ENOMEM;
	for (t = 0; t < n_vocab; t++) {
		size_t len = m->piece_off[t + 1] - m->piece_off[t];

		engine_token_to_piece(m, t, m->piece_buf + m->piece_off[t], len, true);
		if (!engine_vocab_is_text(m->vocab, t))
			m->tok_flags[t] |= MODEL_TF_MARKUP;
		if (engine_token_is_eog(m, t))
			m->tok_flags[t] |= MODEL_TF_EOG;
	}
	return 0;
}

/*
 * A model trained behind one system prompt (Hearth's own, assets/) answers
 * noise without it, and clients of an OpenAI-style API often send none: the
 * file names the prompt to put first when a conversation has no system
 * message, as Qwen's chat templates carry "You are Qwen…" in their Jinja.
 */
#define DEFAULT_SYSTEM_KEY "hearth.chat.default_system_prompt"

static int load_default_system(engine_model *m, char *err, size_t errlen)
{
	gguf_str s;

	if (!gguf_find_kv(m->file, DEFAULT_SYSTEM_KEY))
		return 0;
	if (!gguf_get_str(m->file, DEFAULT_SYSTEM_KEY, &s))
		return engine_errf(err, errlen, HEARTH_EFORMAT,
				   DEFAULT_SYSTEM_KEY ": not a string");
	m->default_system = malloc(s.len + 1);
	if (!m->default_system)
		return engine_errf(err, errlen, HEARTH_ENOMEM,
				   DEFAULT_SYSTEM_KEY ": out of memory");
	memcpy(m->default_system, s.ptr, s.len);
	m->default_system[s.len] = '\0';
	return 0;
}

/*
 * A from-scratch model knows only the words of its training requests; one
 * letter off ("forecst", "tiemr") is a word it never saw. The file lists
 * those words with how often each occurred, so the pipeline can mend a typo
 * towards a word the model knows before it reads the request
 * (pipeline_speller); this only checks the two arrays agree.
 */
#define LEXICON_WORDS_KEY "hearth.lexicon.words"
#define LEXICON_COUNTS_KEY "hearth.lexicon.counts"

static int load_lexicon(engine_model *m, char *err, size_t errlen)
{
	const gguf_kv *w = gguf_find_kv(m->file, LEXICON_WORDS_KEY);
	const gguf_kv *c = gguf_find_kv(m->file, LEXICON_COUNTS_KEY);
	int32_t v;

	if (!w && !c)
		return 0;
	if (!w || !c || w->type != GGUF_VT_ARRAY || w->arr_type != GGUF_VT_STRING ||
	    c->type != GGUF_VT_ARRAY || c->arr_n != w->arr_n || w->arr_n > INT32_MAX)
		return engine_errf(err, errlen, HEARTH_EFORMAT,
				   LEXICON_WORDS_KEY " and " LEXICON_COUNTS_KEY
				   ": not a string array and an integer array of one length");
	for (uint64_t i = 0; i < c->arr_n; i++)
		if (!gguf_arr_i32(c, i, &v) || v < 0)
			return engine_errf(err, errlen, HEARTH_EFORMAT,
					   LEXICON_COUNTS_KEY "[%llu]: not a count",
					   (unsigned long long)i);
	m->lex_words = w;
	m->lex_counts = c;
	m->n_lex = (int)w->arr_n;
	return 0;
}

int engine_model_lexicon(const engine_model *m, int i, const char **word, size_t *len,
			 uint32_t *count)
{
	int32_t v = 0;

	if (!m)
		return 0;
	if (i >= 0 && i < m->n_lex) {
		if (word)
			*word = m->lex_words->arr_strs[i].ptr;
		if (len)
			*len = m->lex_words->arr_strs[i].len;
		gguf_arr_i32(m->lex_counts, (uint64_t)i, &v);
		if (count)
			*count = (uint32_t)v;
	}
	return m->n_lex;
}

int engine_model_load(const engine_model_params *p, engine_model **out,
		      char *err, size_t errlen)
{
	struct loader L = { .err = err, .errlen = errlen };
	engine_model *m;
	gguf_str name;
	int rc;

	if (!out)
		return HEARTH_EINVAL;
	*out = NULL;
	if (!p || !p->path)
		return engine_errf(err, errlen, HEARTH_EINVAL, "no model path given");
	L.path = p->path;
	m = calloc(1, sizeof(*m));
	if (!m)
		return HEARTH_ENOMEM;
	L.m = m;
	rc = gguf_open(p->path, &m->file, err, errlen);
	if (rc)
		goto out_free;
	if (gguf_get_str(m->file, "general.name", &name))
		snprintf(m->name, sizeof(m->name), "%.*s",
			 (int)(name.len > 127 ? 127 : name.len), name.ptr);
	rc = load_default_system(m, err, errlen);
	if (!rc)
		rc = load_lexicon(m, err, errlen);
	if (rc)
		goto out_free;
	rc = engine_vocab_load(m->file, &m->vocab, err, errlen);
	if (rc)
		goto out_free;
	m->hp.n_vocab = engine_vocab_n(m->vocab);
	rc = build_pieces(m);
	if (rc)
		goto out_free;
	if (p->vocab_only) {
		*out = m;
		return 0;
	}
	if ((rc = load_arch(&L)) || (rc = load_hparams(&L)) || (rc = load_weights(&L)))
		goto out_free;
	repack_weights(m);
	*out = m;
	return 0;
out_free:
	engine_model_free(m);
	return rc;
}

void engine_model_free(engine_model *m)
{
	int i;

	if (!m)
		return;
	for (i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->owned);
	free(m->layers);
	free(m->packed);
	free(m->piece_off);
	free(m->piece_buf);
	free(m->tok_flags);
	free(m->default_system);
	engine_vocab_free(m->vocab);
	gguf_close(m->file);
	free(m);
}

void engine_model_get_info(const engine_model *m, engine_model_info *out)
{
	const struct hparams *hp = &m->hp;

	memset(out, 0, sizeof(*out));
	out->arch = m->arch ? m->arch->name : "";
	out->name = m->name;
	out->n_vocab = hp->n_vocab;
	out->n_ctx_train = hp->n_ctx_train;
	out->n_embd = hp->n_embd;
	out->n_layer = hp->n_layer;
	out->n_head = hp->n_head;
	out->n_head_kv = hp->n_head_kv;
	out->n_ff = hp->n_ff;
	out->n_params = m->n_params;
	out->weight_bytes = m->weight_bytes;
	out->main_type = m->main_type;
	out->main_type_name = engine_type_name(m->main_type);
}

/* ---------------------------------------------------------------------------
 * Tokenizer and chat wrappers
 */
int32_t engine_token_bos(const engine_model *m) { return engine_vocab_bos(m->vocab); }
int32_t engine_token_eos(const engine_model *m) { return engine_vocab_eos(m->vocab); }
bool engine_add_bos(const engine_model *m) { return engine_vocab_add_bos(m->vocab); }

bool engine_token_is_eog(const engine_model *m, int32_t tok)
{
	return engine_vocab_is_eog(m->vocab, tok);
}

const char *engine_token_text(const engine_model *m, int32_t tok)
{
	return engine_vocab_text(m->vocab, tok);
}

int engine_tokenize(const engine_model *m, const char *text, size_t len,
		    bool add_bos, bool parse_special, int32_t *tokens, int n_max)
{
	if (!m || !text)
		return HEARTH_EINVAL;
	return engine_vocab_tokenize(m->vocab, text, len, add_bos, parse_special,
				     tokens, n_max);
}

int engine_token_to_piece(const engine_model *m, int32_t tok, char *buf,
			  size_t buf_len, bool render_special)
{
	return engine_vocab_piece(m->vocab, tok, buf, buf_len, render_special);
}

int engine_detokenize(const engine_model *m, const int32_t *tokens,
		      int n_tokens, char *buf, size_t buf_len,
		      bool render_special)
{
	return engine_vocab_detokenize(m->vocab, tokens, n_tokens, buf, buf_len,
				       render_special);
}

engine_chat_format engine_chat_format_of(const engine_model *m)
{
	return engine_chat_detect(engine_vocab_chat_template(m->vocab),
				  m->arch ? m->arch->name : NULL);
}

int engine_chat_format_parse(const char *name)
{
	static const char *const names[] = { "auto", "chatml", "llama3", "raw" };
	int i;

	for (i = 0; i < 4; i++)
		if (name && !strcmp(name, names[i]))
			return i;
	return -1;
}

int engine_chat_render_sys(const engine_model *m, engine_chat_format fmt,
			   const char *default_system,
			   const engine_chat_msg *msgs, int n_msgs,
			   const char *tools_json, bool add_assistant, char **out)
{
	int32_t bos = engine_vocab_bos(m->vocab);
	char err[256];

	if (fmt == ENGINE_CHAT_AUTO)
		fmt = engine_chat_format_of(m);
	return engine_chat_render_fmt(fmt, bos >= 0 ? engine_vocab_text(m->vocab, bos) : NULL,
				      default_system ? default_system : m->default_system,
				      msgs, n_msgs, tools_json, add_assistant, out, err,
				      sizeof(err));
}

int engine_chat_render(const engine_model *m, engine_chat_format fmt,
		       const engine_chat_msg *msgs, int n_msgs,
		       const char *tools_json, bool add_assistant, char **out)
{
	return engine_chat_render_sys(m, fmt, NULL, msgs, n_msgs, tools_json,
				      add_assistant, out);
}
