/*
 * commands.c — `hearth chat` and `hearth tokenize`: the engine driven from
 * a terminal. Generated text goes to stdout and nothing else does, so the
 * commands can be scripted; progress and figures go to stderr.
 */
#include "app.h"

#include "engine.h"
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_TURNS 256

const char *app_model_path(const struct hearth_cli *c)
{
	static const char *const embedded = HEARTH_ASSETS_DIR "/hearth-tiny.q8_0.gguf";

	return c->model[0] ? c->model : embedded;
}

static int load_model(const struct hearth_cli *c, bool vocab_only,
		      engine_model **m)
{
	engine_model_params mp = engine_model_default_params();
	char err[512];
	int rc;

	mp.path = app_model_path(c);
	mp.vocab_only = vocab_only;
	rc = engine_model_load(&mp, m, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "hearth: %s\n", err);
		if (!c->model[0])
			fprintf(stderr, "hearth: (the embedded default model is "
				"built by scripts/train/train.sh; or pass --model FILE.gguf)\n");
	}
	return rc;
}

int app_cmd_tokenize(const struct hearth_cli *c)
{
	engine_model *m = NULL;
	int32_t *toks = NULL;
	int n, i, rc = 1;
	size_t len;

	if (c->n_args != 1)
		return app_usage_error(c->cmd, "tokenize takes one TEXT argument");
	if (load_model(c, true, &m))
		return 1;
	len = strlen(c->args[0]);
	n = engine_tokenize(m, c->args[0], len, c->bos, c->special, NULL, 0);
	if (n < 0)
		n = -n;
	toks = malloc(((size_t)n + 1) * sizeof(*toks));
	if (!toks)
		goto out_free;
	n = engine_tokenize(m, c->args[0], len, c->bos, c->special, toks, n + 1);
	if (n < 0) {
		fprintf(stderr, "hearth: tokenize failed: %s\n", hearth_strerror(n));
		goto out_free;
	}
	for (i = 0; i < n; i++)
		printf("%s%d", i ? " " : "", toks[i]);
	printf("\n");
	rc = 0;
out_free:
	free(toks);
	engine_model_free(m);
	return rc;
}

/* ---------------------------------------------------------------------------
 * chat
 */
struct chat {
	const struct hearth_cli *cli;
	engine_model *m;
	engine_context *ctx;
	engine_sampler *smp;
	engine_chat_format fmt;
	engine_chat_msg msgs[MAX_TURNS];
	int n_msgs;
	char *reply;           /* the assistant text being streamed */
	size_t reply_len, reply_cap;
	pipeline_speller *spell; /* mends what the user types, or NULL */
};

static bool on_token(int32_t tok, const char *piece, size_t len, void *ud)
{
	struct chat *ch = ud;
	char *grown;

	(void)tok;
	fwrite(piece, 1, len, stdout);
	fflush(stdout);
	if (ch->reply_len + len + 1 > ch->reply_cap) {
		size_t cap = (ch->reply_cap + len + 1) * 2;

		grown = realloc(ch->reply, cap);
		if (!grown)
			return false;
		ch->reply = grown;
		ch->reply_cap = cap;
	}
	memcpy(ch->reply + ch->reply_len, piece, len);
	ch->reply_len += len;
	ch->reply[ch->reply_len] = '\0';
	return true;
}

/* Tokens of the whole conversation rendered with the chat template (or the
 * raw prompt). Caller frees *out. */
static int render_tokens(struct chat *ch, const char *raw, int32_t **out)
{
	char *text = NULL;
	int n, rc;

	if (raw) {
		text = strdup(raw);
		if (!text)
			return HEARTH_ENOMEM;
	} else {
		rc = engine_chat_render(ch->m, ch->fmt, ch->msgs, ch->n_msgs, NULL,
					true, &text);
		if (rc)
			return rc;
	}
	/* a template carries its own BOS text; a raw prompt gets the model's */
	n = -engine_tokenize(ch->m, text, strlen(text),
			     raw && engine_add_bos(ch->m), !raw, NULL, 0);
	*out = malloc(((size_t)n + 1) * sizeof(**out));
	if (!*out) {
		free(text);
		return HEARTH_ENOMEM;
	}
	n = engine_tokenize(ch->m, text, strlen(text), raw && engine_add_bos(ch->m),
			    !raw, *out, n + 1);
	free(text);
	return n;
}

/* Run one turn: reuse the KV positions the new prompt shares with what the
 * context already holds, evaluate the rest and stream the reply. */
/* Drop the oldest exchange after the system prompt (a user message and
 * what answered it) so a long conversation keeps fitting the context. */
static bool chat_forget_oldest(struct chat *ch)
{
	int first = ch->n_msgs && !strcmp(ch->msgs[0].role, "system") ? 1 : 0;
	int end = first + 1, i;

	/* keep the user message being answered now */
	if (ch->n_msgs - first < 3)
		return false;
	while (end < ch->n_msgs - 1 && strcmp(ch->msgs[end].role, "user"))
		end++;
	for (i = first; i < end; i++)
		free((char *)ch->msgs[i].content);
	memmove(ch->msgs + first, ch->msgs + end,
		(size_t)(ch->n_msgs - end) * sizeof(ch->msgs[0]));
	ch->n_msgs -= end - first;
	return true;
}

/* Run one turn: reuse the KV positions the new prompt shares with what the
 * context already holds, evaluate the rest and stream the reply. The reply
 * gets at most --max-tokens and whatever room the context has left; old
 * exchanges are forgotten when the prompt would not leave room for one. */
static int chat_turn(struct chat *ch, const char *raw)
{
	const int32_t *hist = engine_history(ch->ctx);
	int n_ctx = engine_n_ctx(ch->ctx), room = ch->cli->max_tokens;
	int32_t *toks = NULL;
	int n, keep = 0, rc;
	struct timespec t0, t1;

	if (room > n_ctx / 2)
		room = n_ctx / 2;
	for (;;) {
		n = render_tokens(ch, raw, &toks);
		if (n < 0)
			return n;
		if (n + room <= n_ctx || raw || !chat_forget_oldest(ch))
			break;
		free(toks);
	}
	if (n >= n_ctx) {
		fprintf(stderr, "hearth: the prompt (%d tokens) does not fit the context "
			"(%d; see --ctx)\n", n, n_ctx);
		free(toks);
		return HEARTH_EFULL;
	}
	while (keep < n && keep < engine_n_past(ch->ctx) && hist[keep] == toks[keep])
		keep++;
	if (keep == n)
		keep--; /* at least one token must be evaluated to get logits */
	engine_kv_truncate(ch->ctx, keep);
	ch->reply_len = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = engine_generate(ch->ctx, ch->smp, toks + keep, n - keep,
			     n_ctx - n < ch->cli->max_tokens ? n_ctx - n : ch->cli->max_tokens,
			     on_token, ch);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	free(toks);
	if (rc < 0) {
		fprintf(stderr, "\nhearth: generation failed: %s (%s)\n",
			hearth_strerror(rc), engine_context_error(ch->ctx));
		return rc;
	}
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\n[%d prompt tokens (%d reused), %d generated, %.2f s]",
			n, keep, rc, (double)(t1.tv_sec - t0.tv_sec) +
			(double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	return 0;
}

static int chat_add(struct chat *ch, const char *role, const char *content)
{
	char *dup;

	if (ch->n_msgs == MAX_TURNS) {
		fprintf(stderr, "hearth: conversation too long (%d messages)\n", MAX_TURNS);
		return HEARTH_EFULL;
	}
	if (ch->spell && !strcmp(role, "user")) {
		/* typos mended as the server mends them, and said, so the user
		 * sees what the model read */
		int n = pipeline_speller_fix(ch->spell, content, &dup);

		if (n < 0)
			return n;
		if (n)
			fprintf(stderr, "(read as: %s)\n", dup);
	} else {
		dup = strdup(content);
	}
	if (!dup)
		return HEARTH_ENOMEM;
	ch->msgs[ch->n_msgs++] = (engine_chat_msg){ .role = role, .content = dup };
	return 0;
}

static int chat_interactive(struct chat *ch)
{
	char line[8192];

	if (isatty(STDIN_FILENO))
		fprintf(stderr, "hearth chat — type a message, Ctrl-D to quit\n");
	for (;;) {
		if (isatty(STDIN_FILENO))
			fprintf(stderr, "\n> ");
		if (!fgets(line, sizeof(line), stdin))
			return 0;
		line[strcspn(line, "\n")] = '\0';
		if (!line[0])
			continue;
		if (chat_add(ch, "user", line) || chat_turn(ch, NULL) ||
		    chat_add(ch, "assistant", ch->reply ? ch->reply : ""))
			return 1;
		printf("\n");
		fflush(stdout);
	}
}

static int chat_setup(struct chat *ch)
{
	const struct hearth_cli *c = ch->cli;
	engine_context_params cp = engine_context_default_params();
	engine_sampler_params sp = engine_sampler_default_params();
	engine_model_info info;
	int rc;

	engine_model_get_info(ch->m, &info);
	if (!c->no_spell && !c->raw) {
		char err[512] = "";

		rc = pipeline_speller_new(ch->m, NULL, &ch->spell, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "hearth: %s\n", err[0] ? err : hearth_strerror(rc));
			return rc;
		}
	}
	cp.n_ctx = c->ctx;
	cp.n_threads = c->threads;
	cp.n_keep_on_shift = 0;
	rc = engine_context_new(ch->m, &cp, &ch->ctx);
	if (rc)
		return rc;
	sp.temperature = (float)c->temperature;
	sp.top_k = c->top_k;
	sp.top_p = (float)c->top_p;
	sp.min_p = (float)c->min_p;
	sp.repeat_penalty = (float)c->repeat_penalty;
	sp.seed = c->seed >= 0 ? (uint64_t)c->seed : (uint64_t)time(NULL);
	rc = engine_sampler_new(&sp, info.n_vocab, &ch->smp);
	if (rc)
		return rc;
	rc = engine_chat_format_parse(c->chat_format);
	if (rc < 0) {
		fprintf(stderr, "hearth: unknown --chat-format '%s' (auto, chatml, llama3, raw)\n",
			c->chat_format);
		return HEARTH_EINVAL;
	}
	ch->fmt = rc == ENGINE_CHAT_AUTO ? engine_chat_format_of(ch->m)
					 : (engine_chat_format)rc;
	if (c->system[0])
		return chat_add(ch, "system", c->system);
	return 0;
}

int app_cmd_chat(const struct hearth_cli *c)
{
	struct chat ch = { .cli = c };
	int rc, i;

	if (c->n_args)
		return app_usage_error(c->cmd, "chat takes no arguments (use --prompt TEXT)");
	if (c->raw && !c->prompt[0])
		return app_usage_error(c->cmd, "--raw needs --prompt TEXT");
	if (load_model(c, false, &ch.m))
		return 1;
	rc = chat_setup(&ch);
	if (rc) {
		fprintf(stderr, "hearth: cannot start the chat: %s\n", hearth_strerror(rc));
		rc = 1;
		goto out_free;
	}
	if (c->prompt[0]) {
		rc = c->raw ? chat_turn(&ch, c->prompt)
			    : (chat_add(&ch, "user", c->prompt) ?: chat_turn(&ch, NULL));
		if (!rc && isatty(STDOUT_FILENO))
			printf("\n");
		rc = rc ? 1 : 0;
	} else {
		rc = chat_interactive(&ch);
	}
out_free:
	for (i = 0; i < ch.n_msgs; i++)
		free((char *)ch.msgs[i].content);
	free(ch.reply);
	pipeline_speller_free(ch.spell);
	engine_sampler_free(ch.smp);
	engine_context_free(ch.ctx);
	engine_model_free(ch.m);
	return rc;
}
