/*
 * engine.h — Hearth's LLM engine: the only header other directories include
 * from engine/.
 *
 * The engine loads GGUF language models (mmap'd, validated), tokenizes text
 * with the tokenizer stored in the file, renders chat prompts, runs the
 * transformer forward pass over a per-session KV cache and samples tokens.
 *
 * Handles and threads:
 *   engine_model    immutable after load; shareable by any number of
 *                   contexts and threads.
 *   engine_context  mutable per-session state (KV cache, scratch, logits);
 *                   one thread at a time (the scheduler, DESIGN.md §4).
 *   engine_sampler  mutable sampling state (RNG, recent tokens); one thread.
 *
 * Errors: functions return 0 (or a count) on success and a negative
 * HEARTH_E* code on failure. Where a handle exists, a human message with
 * context (file, key, tensor) is kept on it; loaders that have no handle yet
 * write the message into a caller buffer.
 */
#ifndef HEARTH_ENGINE_H
#define HEARTH_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------
 * Errors: one table for the whole project (engine is the bottom layer, so the
 * table lives here and every other directory reuses it).
 */
#define HEARTH_ERRORS(X)                                                       \
	X(OK, 0, "success")                                                    \
	X(EINVAL, -1, "invalid argument")                                      \
	X(ENOMEM, -2, "out of memory")                                         \
	X(EIO, -3, "input/output error")                                       \
	X(EFORMAT, -4, "malformed file or data")                               \
	X(EUNSUPPORTED, -5, "unsupported feature")                             \
	X(ENOTFOUND, -6, "not found")                                          \
	X(ERANGE, -7, "value out of range")                                    \
	X(EFULL, -8, "context or queue full")                                  \
	X(ECANCELED, -9, "canceled")                                           \
	X(EBUSY, -10, "resource busy")                                         \
	X(ETIMEOUT, -11, "timed out")                                          \
	X(EAUTH, -12, "not authorized")                                        \
	X(ESTATE, -13, "operation not valid in this state")

enum hearth_err {
#define HEARTH_ERR_ENUM(name, code, msg) HEARTH_##name = (code),
	HEARTH_ERRORS(HEARTH_ERR_ENUM)
#undef HEARTH_ERR_ENUM
};

/* Static description of an error code ("unknown error" for others). */
const char *hearth_strerror(int code);
/* Static name of an error code, e.g. "HEARTH_EFORMAT". */
const char *hearth_errname(int code);

/* ---------------------------------------------------------------------------
 * Model (immutable, shared).
 */
typedef struct engine_model engine_model;

typedef struct engine_model_params {
	const char *path;      /* GGUF file; borrowed during load only */
	bool vocab_only;       /* load metadata + tokenizer, no weights */
} engine_model_params;

engine_model_params engine_model_default_params(void);

/*
 * Load a model. On success *out owns the model (free with
 * engine_model_free) and 0 is returned. On failure a negative code is
 * returned, *out is NULL and err (if non-NULL) holds a message naming the
 * file and the key/tensor at fault.
 */
int engine_model_load(const engine_model_params *p, engine_model **out,
		      char *err, size_t errlen);
void engine_model_free(engine_model *m); /* NULL-safe */

typedef struct engine_model_info {
	const char *arch;      /* "llama", "qwen2", "qwen3"; borrowed */
	const char *name;      /* general.name or ""; borrowed */
	int n_vocab;
	int n_ctx_train;
	int n_embd;
	int n_layer;
	int n_head;
	int n_head_kv;
	int n_ff;
	uint64_t n_params;
	uint64_t weight_bytes;  /* bytes of tensor data in the file */
	uint32_t main_type;     /* most common weight type (GGUF type id) */
	const char *main_type_name;
} engine_model_info;

void engine_model_get_info(const engine_model *m, engine_model_info *out);

/*
 * The words of the model's training requests (GGUF hearth.lexicon.words,
 * with hearth.lexicon.counts: how often each occurred), for mending typos
 * before the model reads a request. Returns how many there are (0 when the
 * file has none); for 0 <= i < that, word i (not NUL-terminated: *len
 * bytes) and its count. NULL outputs are skipped.
 */
int engine_model_lexicon(const engine_model *m, int i, const char **word, size_t *len,
			 uint32_t *count);

/* GGUF name of a tensor type id ("Q4_K", "F16"…), or "?" for unknown ones. */
const char *engine_type_name(uint32_t type);

/* ---------------------------------------------------------------------------
 * Tokenizer (part of the model; thread-safe, read-only).
 */
int32_t engine_token_bos(const engine_model *m); /* -1 when none */
int32_t engine_token_eos(const engine_model *m);
/* True for tokens that end a generation (eos, eot, <|im_end|>…). */
bool engine_token_is_eog(const engine_model *m, int32_t tok);
/* Whether the model's metadata asks for a BOS token at the start. */
bool engine_add_bos(const engine_model *m);

/*
 * Encode text (len bytes, UTF-8) into at most n_max tokens. add_bos
 * prepends the BOS token when the model has one; parse_special makes
 * special/control token texts (e.g. "<|im_start|>") map to their ids.
 * Returns the number of tokens; if n_max is too small returns
 * -(needed count) without writing past n_max. HEARTH_EINVAL on NULL input.
 */
int engine_tokenize(const engine_model *m, const char *text, size_t len,
		    bool add_bos, bool parse_special, int32_t *tokens,
		    int n_max);

/*
 * The bytes of one token as they appear in decoded text (byte-level BPE
 * bytes unmapped, SentencePiece '▁' turned into spaces, byte-fallback
 * tokens into their byte). Special tokens render their text only when
 * render_special. Returns the byte count written (≤ buf_len) or
 * -(needed size) when buf is too small.
 */
int engine_token_to_piece(const engine_model *m, int32_t tok, char *buf,
			  size_t buf_len, bool render_special);

/*
 * Decode a sequence into text; the SentencePiece leading space after BOS is
 * dropped as the reference tokenizers do. Returns bytes written or
 * -(needed size).
 */
int engine_detokenize(const engine_model *m, const int32_t *tokens,
		      int n_tokens, char *buf, size_t buf_len,
		      bool render_special);

/* Text of a token id as stored in the vocabulary; NULL if out of range. */
const char *engine_token_text(const engine_model *m, int32_t tok);

/* ---------------------------------------------------------------------------
 * Chat templates.
 */
typedef enum engine_chat_format {
	ENGINE_CHAT_AUTO = 0, /* from tokenizer.chat_template / architecture */
	ENGINE_CHAT_CHATML,
	ENGINE_CHAT_LLAMA3,
	ENGINE_CHAT_RAW,      /* contents concatenated, no markup */
} engine_chat_format;

typedef struct engine_chat_msg {
	const char *role;       /* "system", "user", "assistant", "tool" */
	const char *content;    /* may be NULL for an assistant tool call */
	const char *tool_calls; /* assistant: JSON array of
				   {"name":…,"arguments":{…}} or NULL */
	const char *tool_call_id; /* tool: id of the call answered, or NULL */
} engine_chat_msg;

/* The format a model uses when ENGINE_CHAT_AUTO is asked for. */
engine_chat_format engine_chat_format_of(const engine_model *m);
/* Parse "chatml" | "llama3" | "raw" | "auto"; -1 if unknown. */
int engine_chat_format_parse(const char *name);

/*
 * Render messages into a prompt string. tools_json is a JSON array of
 * OpenAI-style tool definitions or NULL; with ChatML they are rendered in
 * the Hermes <tools> block of the system turn. add_assistant appends the
 * header that starts the assistant's reply. A model whose file names a
 * default system prompt (GGUF string hearth.chat.default_system_prompt)
 * gets it as the first message when msgs do not start with a system
 * message (not in ENGINE_CHAT_RAW). On success *out is a NUL-terminated
 * string the caller frees; returns 0 or a negative code.
 */
int engine_chat_render(const engine_model *m, engine_chat_format fmt,
		       const engine_chat_msg *msgs, int n_msgs,
		       const char *tools_json, bool add_assistant, char **out);
/* The same with default_system in place of the model's own default system
 * prompt (NULL: the model's). */
int engine_chat_render_sys(const engine_model *m, engine_chat_format fmt,
			   const char *default_system,
			   const engine_chat_msg *msgs, int n_msgs,
			   const char *tools_json, bool add_assistant, char **out);

/* ---------------------------------------------------------------------------
 * Context (per session: KV cache, scratch, logits).
 */
typedef struct engine_context engine_context;

/*
 * Prefix cache: KV blocks of 32 tokens shared by the contexts of one model,
 * keyed by a hash of the whole history before and within the block, so a
 * new session (or a new HTTP request) whose prompt starts like an earlier
 * one — the system prompt and tool schemas — skips that prefill. Any thread
 * may use it (internally locked). Entries are evicted least-recently-used
 * beyond max_bytes.
 */
typedef struct engine_prefix_cache engine_prefix_cache;

int engine_prefix_cache_new(const engine_model *m, size_t max_bytes,
			    engine_prefix_cache **out);
void engine_prefix_cache_free(engine_prefix_cache *pc); /* NULL-safe */
void engine_prefix_cache_stats(engine_prefix_cache *pc, uint64_t *hit_blocks,
			       uint64_t *stored_blocks, size_t *bytes);

/* Tokens per prefix-cache block. */
#define ENGINE_PREFIX_BLOCK 32

/*
 * How many leading tokens of tokens[0..n) a context starting from position
 * 0 could take from the cache: a multiple of ENGINE_PREFIX_BLOCK, every
 * block before it cached. Only looks (no copy, recency unchanged); 0 for a
 * NULL cache. A scheduler uses it to decide whether to drop a partial block
 * of a context's own history in favour of a longer cached prefix; an
 * engine_eval of the tokens from a block boundary then takes the blocks.
 */
int engine_prefix_cache_probe(engine_prefix_cache *pc, const int32_t *tokens,
			      int n);

/* Polled between layers/batches; return true to stop the current call. */
typedef bool (*engine_abort_cb)(void *user_data);

typedef struct engine_context_params {
	int n_ctx;          /* KV positions; 0 = min(model's training ctx, 4096) */
	int n_batch;        /* max tokens per forward pass (prefill tile) */
	int n_threads;      /* 0 = number of online cores */
	bool logits_all;    /* keep logits for every evaluated position */
	int n_keep_on_shift;/* when the context is full: 0 = error (EFULL);
			       > 0 = keep this many first tokens and drop the
			       oldest half of the rest (context shift) */
	engine_abort_cb abort_cb;
	void *abort_user_data;
	engine_prefix_cache *prefix_cache; /* shared, or NULL; must outlive
					      the context */
} engine_context_params;

engine_context_params engine_context_default_params(void);

/* Create a context over a loaded model; caller frees with
 * engine_context_free. The model must outlive the context. */
int engine_context_new(const engine_model *m, const engine_context_params *p,
		       engine_context **out);
void engine_context_free(engine_context *c); /* NULL-safe */

/* The model a context runs; borrowed. */
const engine_model *engine_context_model(const engine_context *c);

/* Last error message on this context ("" when none); borrowed. */
const char *engine_context_error(const engine_context *c);

/*
 * Append n tokens at the current position and run the forward pass (in
 * n_batch tiles). Afterwards engine_logits() gives the last position's
 * logits. Returns 0, HEARTH_EFULL if the context cannot hold them (and no
 * shift is configured), HEARTH_ECANCELED if aborted (the context then holds
 * the tokens evaluated so far), HEARTH_EINVAL for an out-of-range token.
 */
int engine_eval(engine_context *c, const int32_t *tokens, int n_tokens);
/*
 * engine_eval of one token the model generated (decode). Prompts go through
 * engine_eval, generated tokens through this or engine_eval_multi: a SIMD
 * path may round prompt and decode products differently (bf16 tiles for
 * prompts), and keeping each token's numerics tied to its role, not to how
 * many tokens a call carries, is what makes a request's output independent
 * of prefix reuse and batching.
 */
int engine_eval_next(engine_context *c, int32_t token);

/* As engine_eval, but the inputs are embedding vectors (n_tokens, n_embd)
 * f32 row-major, e.g. from an image or audio encoder. */
int engine_eval_embd(engine_context *c, const float *embd, int n_tokens);

/* How many tokens of the last engine_eval came from the prefix cache. */
int engine_last_cached(const engine_context *c);

/*
 * Continuous batching: evaluate one token for each of n contexts (distinct,
 * same model) in one forward pass, so the weights are read once for all of
 * them. ctxs[0] lends its scratch: n ≤ its n_batch and every context's
 * n_ctx ≤ its n_ctx. Afterwards engine_logits(ctxs[i]) is row i's logits.
 * Returns 0 or a negative code (no context is changed on EINVAL).
 */
int engine_eval_multi(engine_context *const *ctxs, const int32_t *tokens, int n);

/* Logits of the last evaluated position: (n_vocab) f32, borrowed until the
 * next eval on this context. NULL before the first eval. */
const float *engine_logits(const engine_context *c);
/* With logits_all: logits of the i-th position of the last eval call. */
const float *engine_logits_ith(const engine_context *c, int i);

/* Number of positions held in the KV cache. */
int engine_n_past(const engine_context *c);
/* The tokens held (embedding inputs are recorded as -1); borrowed. */
const int32_t *engine_history(const engine_context *c);
/* Forget positions >= n_keep (n_keep ≤ n_past). */
int engine_kv_truncate(engine_context *c, int n_keep);
int engine_n_ctx(const engine_context *c);

/* ---------------------------------------------------------------------------
 * Sampling.
 */
typedef struct engine_sampler engine_sampler;

typedef struct engine_sampler_params {
	float temperature;     /* <= 0 means greedy */
	int top_k;             /* <= 0 disables */
	float top_p;           /* >= 1 disables */
	float min_p;           /* <= 0 disables */
	float repeat_penalty;  /* 1 disables */
	int repeat_last_n;     /* how many recent tokens the penalty sees */
	uint64_t seed;
	/* Greedy lookahead inside a guarded span (engine_sampler_sample_ctx):
	 * where the best allowed token leads the runner-up by less than
	 * lookahead_margin (natural log of the ratio of their probabilities),
	 * up to lookahead of the best allowed tokens are each followed
	 * greedily to the end of the value, and the one whose path there is
	 * likeliest per token (allowed tokens' log-probabilities,
	 * renormalized, averaged over the path: summed, a shorter value would
	 * win for being shorter) is picked. At most lookahead_budget tokens
	 * (128) are evaluated so per span; the margin's default is 2.
	 * lookahead ≤ 1 disables it (the default). */
	int lookahead;
	float lookahead_margin;
	int lookahead_budget;
} engine_sampler_params;

engine_sampler_params engine_sampler_default_params(void);
int engine_sampler_new(const engine_sampler_params *p, int n_vocab,
		       engine_sampler **out);
void engine_sampler_free(engine_sampler *s); /* NULL-safe */
/* Pick a token from logits (n_vocab); does not modify logits. */
int32_t engine_sampler_sample(engine_sampler *s, const float *logits);

/* The id of the largest of n logits, the first of equal ones: greedy
 * decoding without a sampler (benchmarks). */
int32_t engine_argmax(const float *logits, int n);
/*
 * As engine_sampler_sample from c's last logits, with the lookahead of
 * engine_sampler_params when it is on and a guarded span is open under
 * greedy decoding: the candidates' continuations are evaluated on c and
 * forgotten again (c then holds what it held, but its logits are the last
 * continuation's: evaluate the returned token next). A value decided token
 * by token goes wrong where the model is torn between two words ("strike
 * mozzarella" or "mozzarella"), and the likelier whole value is often the
 * one it would not have started. A continuation that cannot be evaluated
 * (context full, aborted) or would exceed the budget ends the search with
 * the greedy pick. Returns the token, or HEARTH_EINVAL when c has no
 * logits yet.
 */
int32_t engine_sampler_sample_ctx(engine_sampler *s, engine_context *c);
/* Record a token (prompt or generated) for the repetition penalty; with a
 * guard set, it also feeds or triggers the guard (see below). */
void engine_sampler_accept(engine_sampler *s, int32_t tok);

/* ---------------------------------------------------------------------------
 * Constrained decoding: the JSON guard.
 *
 * A character-level JSON automaton steered by a schema, so that a sampler
 * only picks tokens that keep the text a prefix of a valid value. Schema
 * subset: type (one or a list), properties + required (no other keys are
 * then accepted), items, enum, const, maxLength, maxItems, maxProperties,
 * and Hearth's x-hearth-verbatim (engine_json_guard_set_source); other
 * keywords are not checked (any value of the type). Tool mode: the
 * value must be {"name": <one of the tool names>, "arguments": <that tool's
 * parameters>} with "name" first. Whitespace between JSON tokens is
 * allowed, at most 2 characters in a row; after the value, only whitespace.
 * Strings hold at most 256 characters and arrays (and objects without
 * properties) 64 items unless the schema says otherwise, so a guarded value
 * always ends. Known keys and enum strings must be written byte for byte
 * (no \u spellings).
 *
 * Threading: a guard holds parse state; one thread at a time.
 */
typedef struct engine_json_guard engine_json_guard;

/*
 * Build a guard for tool calls from an OpenAI tools array (or one tool
 * object): {"type":"function","function":{"name","parameters"}} or bare
 * function objects. On success *out is reset (expects a value) and owned by
 * the caller (engine_json_guard_free); 0 is returned. On failure a negative
 * code, *out = NULL, and err names the tool or the JSON offset at fault.
 */
int engine_json_guard_new_tools(const char *tools_json, engine_json_guard **out,
				char *err, size_t errlen);
/* As above, for a value matching a JSON schema ("{}" = any JSON value). */
int engine_json_guard_new_schema(const char *schema_json,
				 engine_json_guard **out, char *err,
				 size_t errlen);
void engine_json_guard_free(engine_json_guard *g); /* NULL-safe */
/* Forget what was fed: the next byte starts the value (whitespace first is
 * fine). */
void engine_json_guard_reset(engine_json_guard *g);
/* Whether the len bytes of text can follow what was fed so far. Changes
 * nothing and allocates nothing. len 0: true. */
bool engine_json_guard_allows(const engine_json_guard *g, const char *text,
			      size_t len);
/* Append text: 0, or HEARTH_EINVAL if allows() would say no (the state is
 * then unchanged). */
int engine_json_guard_feed(engine_json_guard *g, const char *text, size_t len);
/* Whether the value is finished (only whitespace may follow). A top-level
 * number is finished once whitespace follows it. */
bool engine_json_guard_complete(const engine_json_guard *g);
/*
 * The text that verbatim strings copy from: a string whose schema has
 * "x-hearth-verbatim": true must then be a run of whole words of text
 * (byte for byte, but the first letter in either case; no escapes),
 * e.g. a place or an item the user named. Without a source, or when no word of it fits the
 * string's maxLength, such a string is any string. The text is copied (its
 * first 65,534 bytes); NULL/0 removes it. Kept across resets. 0, or
 * HEARTH_EINVAL / HEARTH_ENOMEM (the guard then has no source).
 */
int engine_json_guard_set_source(engine_json_guard *g, const char *text, size_t len);

/*
 * Steer a sampler with a guard (borrowed: it must outlive its use by the
 * sampler; NULL removes the guard). m (borrowed likewise) is the model
 * whose vocabulary the sampler picks from: the text of every token is
 * cached once per model (a later call with the same model reuses it).
 *
 * trigger_piece names the token that opens a guarded span, e.g.
 * "<tool_call>": when engine_sampler_accept sees a token whose text (special
 * tokens rendered) equals it, the guard is reset and becomes active. NULL
 * makes the guard active at once (the whole reply must match).
 * While active, engine_sampler_sample only returns tokens whose text the
 * guard allows (greedy: the best allowed logit; sampling: the chain runs
 * over the allowed tokens); markup tokens (control, user-defined) and
 * end-of-generation tokens are never allowed; engine_sampler_accept feeds
 * the guard, and the span ends when the value is complete (or when a token
 * the guard rejects is accepted, e.g. one forced by the caller). Should no
 * token be allowed, the guard is dropped for that pick. Without a trigger,
 * once the value is complete the sampler returns only end-of-generation
 * tokens (the reply is that one value).
 * engine_generate replays the prompt history, so a trigger at the end of
 * the prompt (a forced "<tool_call>") activates the guard too.
 * Returns 0, HEARTH_EINVAL (vocabulary size differs from the sampler's, no
 * trigger text) or HEARTH_ENOMEM (the sampler then has no guard).
 */
int engine_sampler_set_guard(engine_sampler *s, const engine_model *m,
			     engine_json_guard *g, const char *trigger_piece);
/* Whether the sampler is inside a guarded span now. */
bool engine_sampler_guard_active(const engine_sampler *s);
/* ---------------------------------------------------------------------------
 * Generation loop built from the pieces above.
 */

/* Called per generated token with its decoded bytes (may be a partial UTF-8
 * sequence; pieces concatenate to valid text). Return false to stop. */
typedef bool (*engine_token_cb)(int32_t tok, const char *piece, size_t len,
				void *user_data);

/*
 * Evaluate prompt (appended to what the context holds), then sample up to
 * max_tokens, evaluating each, until an end-of-generation token (not
 * passed to cb), cb returns false, or abort. Returns the number of tokens
 * generated or a negative code.
 */
int engine_generate(engine_context *c, engine_sampler *s,
		    const int32_t *prompt, int n_prompt, int max_tokens,
		    engine_token_cb cb, void *user_data);

#ifdef __cplusplus
}
#endif
#endif
