/*
 * model_int.h — the loaded model as model.c builds it and forward.c reads
 * it. Private to engine/.
 */
#ifndef HEARTH_ENGINE_MODEL_INT_H
#define HEARTH_ENGINE_MODEL_INT_H

#include "engine_int.h"

enum rope_kind { ROPE_NORM, ROPE_NEOX };

/* One row of the architecture table: what differs between families. */
struct arch_desc {
	const char *name;
	enum rope_kind rope;
	bool qkv_bias;   /* attn_{q,k,v}.bias required (qwen2) */
	bool qk_norm;    /* attn_{q,k}_norm.weight required (qwen3) */
};

struct hparams {
	int n_vocab;
	int n_ctx_train;
	int n_embd;
	int n_layer;
	int n_head;
	int n_head_kv;
	int head_dim;     /* key_length; value_length must equal it */
	int n_ff;
	int n_rot;        /* rope.dimension_count (≤ head_dim) */
	float eps;        /* RMSNorm epsilon */
	float rope_base;
	float rope_scale; /* linear scaling: positions divided by this */
};

struct layer_w {
	const float *attn_norm;        /* (n_embd) */
	engine_mat wq;                 /* (n_head*head_dim, n_embd) */
	engine_mat wk;                 /* (n_head_kv*head_dim, n_embd) */
	engine_mat wv;                 /* (n_head_kv*head_dim, n_embd) */
	engine_mat wo;                 /* (n_embd, n_head*head_dim) */
	const float *bq, *bk, *bv;     /* biases (rows of wq/wk/wv) or NULL */
	const float *q_norm, *k_norm;  /* (head_dim) or NULL */
	const float *ffn_norm;         /* (n_embd) */
	engine_mat w_gate;             /* (n_ff, n_embd) */
	engine_mat w_up;               /* (n_ff, n_embd) */
	engine_mat w_down;             /* (n_embd, n_ff) */
};

struct engine_model {
	gguf *file;
	engine_vocab *vocab;
	const struct arch_desc *arch;
	char name[128];
	char *default_system;          /* hearth.chat.default_system_prompt or NULL */
	const gguf_kv *lex_words;      /* hearth.lexicon.words (n_lex strings) or NULL */
	const gguf_kv *lex_counts;     /* hearth.lexicon.counts (n_lex integers) */
	int n_lex;
	struct hparams hp;
	engine_mat tok_embd;           /* (n_vocab, n_embd) */
	engine_mat output;             /* (n_vocab, n_embd); tied → tok_embd */
	const float *output_norm;      /* (n_embd) */
	const float *rope_freqs;       /* (n_rot/2) frequency divisors or NULL */
	struct layer_w *layers;        /* (n_layer) */
	float **owned;                 /* f32 copies of vectors, freed with the model */
	void *packed;                  /* weight matrices repacked for the SIMD path
					  (engine_matmul_repack), or NULL */
	int n_owned, cap_owned;
	uint64_t n_params, weight_bytes;
	uint32_t main_type;
	/* Every token's text (special tokens rendered) and MODEL_TF_* flags,
	 * built once at load for the samplers' JSON guard: building it per
	 * request took 80-160 ms on a 152k vocabulary. */
	uint32_t *piece_off;           /* (n_vocab + 1) offsets into piece_buf */
	char *piece_buf;
	uint8_t *tok_flags;            /* (n_vocab) */
};

enum {
	MODEL_TF_MARKUP = 1, /* control/user-defined/unused: never inside a JSON span */
	MODEL_TF_EOG = 2,    /* ends a generation */
};

#endif
