/*
 * llbench.c — llama.cpp prefill/decode timing: the reference side of
 * `hearth bench engine` comparisons.
 *
 * This file is ours; llama.cpp is not in the repository and never will be.
 * It is not part of the meson build: it needs llama.cpp's headers and
 * libraries, which scripts/bench/llama_ref.sh DIR installs OUTSIDE the
 * repository (the prebuilt libraries of the npm package node-llama-cpp and
 * the llama.cpp headers of the commit they were built from) before
 * compiling this file into DIR/llbench with an rpath to those libraries and
 * LLBENCH_DEFAULT_LIBDIR set to their folder.
 *
 * Two modes, both CPU only:
 *
 *  llbench MODEL THREADS P1,P2,... GEN REPS
 *	Hearth's protocol (app/bench.c run_once), for scripts/bench/compare.sh:
 *	per prompt length P and repetition, clear the KV cache, decode P
 *	pseudo-random tokens as one batch (prefill t/s), then decode GEN
 *	tokens one at a time, each the argmax of the previous logits (decode
 *	t/s, measured after the P-token prompt as Hearth measures it). One
 *	untimed warm-up per P. Prints one line per P:
 *	llama.cpp N thr  ppP   median t/s (min .. max ..)   tgG  median t/s (..)
 *
 *  llbench -m MODEL -t THREADS -r REPS -o json -n GEN -p P1,P2,...
 *	The subset of llama-bench's command line that `hearth bench engine
 *	--compare-llama PATH` passes, with llama-bench's protocol: a pp test
 *	per P (P tokens in one batch from an empty cache), one tg test (GEN
 *	single-token decodes from an empty cache), a warm-up run before each
 *	test. Prints llama-bench's JSON array with the fields Hearth reads:
 *	n_prompt, n_gen, avg_ts (mean of the per-run rates), stddev_ts.
 *
 * LLBENCH_LIBDIR, if set, overrides the folder the ggml CPU backends
 * (libggml-cpu-*.so, one per instruction-set level) are loaded from.
 *
 * Exit status: 0 success, 1 a llama.cpp or system failure (message on
 * stderr), 2 a usage error. Threading: one thread; llama.cpp runs its own
 * workers inside llama_decode.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#include "ggml-backend.h"
#include "llama.h"

#ifndef LLBENCH_DEFAULT_LIBDIR
#error "define LLBENCH_DEFAULT_LIBDIR to the llama.cpp libraries' folder (scripts/bench/llama_ref.sh does)"
#endif

enum {
	MAX_REPS = 64,		/* per-run rates live in stack arrays */
	MAX_PROMPTS = 31,	/* prompt lengths per run; JSON mode adds one tg test */
	MAX_BATCH = 512,	/* llama.cpp's default n_batch; longer prompts go in slices */
	CTX_SLACK = 256,	/* cache room beyond prompt + generation */
	MAX_THREADS = 1024,
	MAX_TOKENS = 1 << 20,	/* keeps n_prompt + n_gen + CTX_SLACK far from INT_MAX */
	EXIT_USAGE = 2,
};

/* What to measure, from the command line; the same for both modes. */
struct bench_args {
	const char *model_path;		/* borrowed from argv */
	int n_threads;
	int reps;			/* timed runs, after one untimed warm-up */
	int gen;			/* tokens decoded one at a time */
	int prompts[MAX_PROMPTS];	/* prompt lengths, tokens */
	int n_prompts;
};

/* A loaded model and what every measurement needs from it. */
struct bench {
	struct bench_args args;
	struct llama_model *model;	/* owned; immutable once loaded */
	int n_vocab;
};

/* Median, minimum and maximum of a set of rates, tokens/s. */
struct spread {
	double med, min, max;
};

/* ---------------------------------------------------------------------------
 * Command line
 */
static void usage(void)
{
	fprintf(stderr,
		"usage: llbench MODEL THREADS P1,P2,... GEN REPS\n"
		"       llbench -m MODEL [-t THREADS] [-r REPS] [-o json] [-n GEN] [-p P1,P2,...]\n");
}

/* 0 and *out set, or -1 after saying which argument is wrong and why. */
static int parse_int(const char *s, const char *what, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "llbench: %s: '%s' is not an integer in [%d, %d]\n",
			what, s, lo, hi);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/*
 * "128,512" -> a->prompts = {128, 512}. Lengths below lo are refused;
 * lengths of 0 (allowed in JSON mode) are skipped, as llama-bench skips
 * its pp test for -p 0. 0, or -1 after a message.
 */
static int parse_prompts(const char *list, int lo, struct bench_args *a)
{
	const char *p = list;
	char item[16];
	size_t n;
	int v;

	a->n_prompts = 0;
	for (;;) {
		n = strcspn(p, ",");
		if (n == 0 || n >= sizeof(item)) {
			fprintf(stderr, "llbench: prompt list '%s': empty or overlong item\n", list);
			return -1;
		}
		memcpy(item, p, n);
		item[n] = '\0';
		if (parse_int(item, "prompt length", lo, MAX_TOKENS, &v))
			return -1;
		if (v > 0 && a->n_prompts == MAX_PROMPTS) {
			fprintf(stderr, "llbench: prompt list '%s': more than %d lengths\n",
				list, MAX_PROMPTS);
			return -1;
		}
		if (v > 0)
			a->prompts[a->n_prompts++] = v;
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

/* llbench MODEL THREADS P1,P2 GEN REPS */
static int parse_hearth_args(int argc, char **argv, struct bench_args *a)
{
	if (argc != 6) {
		fprintf(stderr, "llbench: expected 5 arguments, got %d\n", argc - 1);
		return -1;
	}
	a->model_path = argv[1];
	if (parse_int(argv[2], "THREADS", 1, MAX_THREADS, &a->n_threads) ||
	    parse_prompts(argv[3], 1, a) ||
	    parse_int(argv[4], "GEN", 0, MAX_TOKENS, &a->gen) ||
	    parse_int(argv[5], "REPS", 1, MAX_REPS, &a->reps))
		return -1;
	return 0;
}

/* One "-x VALUE" pair of the llama-bench subset; 0, or -1 after a message. */
static int parse_flag(const char *flag, const char *val, struct bench_args *a,
		      const char **prompts)
{
	if (!strcmp(flag, "-m"))
		a->model_path = val;
	else if (!strcmp(flag, "-p"))
		*prompts = val;
	else if (!strcmp(flag, "-t"))
		return parse_int(val, "-t", 1, MAX_THREADS, &a->n_threads);
	else if (!strcmp(flag, "-r"))
		return parse_int(val, "-r", 1, MAX_REPS, &a->reps);
	else if (!strcmp(flag, "-n"))
		return parse_int(val, "-n", 0, MAX_TOKENS, &a->gen);
	else if (strcmp(flag, "-o")) {
		fprintf(stderr, "llbench: unknown option %s\n", flag);
		return -1;
	} else if (strcmp(val, "json")) {
		fprintf(stderr, "llbench: -o %s: only json output is supported\n", val);
		return -1;
	}
	return 0;
}

/* The llama-bench subset; defaults are llama-bench's except -t (Hearth's 2). */
static int parse_llama_bench_args(int argc, char **argv, struct bench_args *a)
{
	const char *prompts = "512";
	int i;

	a->n_threads = 2;
	a->reps = 5;
	a->gen = 128;
	for (i = 1; i < argc; i += 2) {
		if (i + 1 == argc) {
			fprintf(stderr, "llbench: %s needs a value\n", argv[i]);
			return -1;
		}
		if (parse_flag(argv[i], argv[i + 1], a, &prompts))
			return -1;
	}
	if (!a->model_path) {
		fprintf(stderr, "llbench: -m MODEL is required\n");
		return -1;
	}
	return parse_prompts(prompts, 0, a);
}

/* ---------------------------------------------------------------------------
 * Timing and statistics
 */

/* Monotonic so clock steps cannot skew a rate; clock_gettime only fails
 * for clock ids the kernel lacks, and CLOCK_MONOTONIC is always there. */
static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Sorts v[0..n-1] (n >= 1); the median of an even count is the mean of the
 * middle two, as Hearth's summarize() computes it. */
static struct spread spread_of(double *v, int n)
{
	struct spread s;

	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	s.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	s.min = v[0];
	s.max = v[n - 1];
	return s;
}

/* llama-bench's avg_ts and stddev_ts: mean and sample standard deviation. */
static void mean_sd(const double *v, int n, double *mean, double *sd)
{
	double s = 0, q = 0;
	int i;

	for (i = 0; i < n; i++)
		s += v[i];
	*mean = s / n;
	for (i = 0; i < n; i++)
		q += (v[i] - *mean) * (v[i] - *mean);
	*sd = n > 1 ? sqrt(q / (n - 1)) : 0;
}

/* ---------------------------------------------------------------------------
 * llama.cpp set-up
 */

/*
 * llama.cpp logs every load step at INFO level on stderr; keep errors only.
 * CONT messages continue the previous one (model loading's progress dots
 * continue an INFO line), so they take its level, which user_data carries
 * from call to call. llama.cpp logs from the thread that called into it.
 * user_data NULL (after main's state is gone): errors only, CONT dropped.
 */
static void log_errors(enum ggml_log_level level, const char *text, void *user_data)
{
	enum ggml_log_level *last = user_data;

	if (!last) {
		if (level == GGML_LOG_LEVEL_ERROR)
			fputs(text, stderr);
		return;
	}
	if (level != GGML_LOG_LEVEL_CONT)
		*last = level;
	if (*last >= GGML_LOG_LEVEL_ERROR)
		fputs(text, stderr);
}

/*
 * The prebuilt ggml keeps its CPU backends in plugins next to libggml, one
 * per instruction-set level, and picks the best one the CPU runs. Without
 * them there is no device and model loading fails with a vague message, so
 * check here and name the folder.
 */
static int load_backends(void)
{
	const char *dir = getenv("LLBENCH_LIBDIR");

	if (!dir || !*dir)
		dir = LLBENCH_DEFAULT_LIBDIR;
	ggml_backend_load_all_from_path(dir);
	if (ggml_backend_dev_count() == 0) {
		fprintf(stderr, "llbench: no ggml backend loaded from %s "
			"(set LLBENCH_LIBDIR to the folder of libggml-cpu-*.so)\n", dir);
		return -1;
	}
	llama_backend_init();
	return 0;
}

static int load_model(struct bench *b)
{
	struct llama_model_params mp = llama_model_default_params();

	mp.n_gpu_layers = 0;	/* Hearth runs on the CPU; so does its reference */
	b->model = llama_model_load_from_file(b->args.model_path, mp);
	if (!b->model) {
		fprintf(stderr, "llbench: cannot load model %s (llama.cpp's reason above)\n",
			b->args.model_path);
		return -1;
	}
	b->n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(b->model));
	if (b->n_vocab < 1) {
		fprintf(stderr, "llbench: model %s has no vocabulary\n", b->args.model_path);
		return -1;
	}
	return 0;
}

/* The whole prompt in one llama_decode up to llama.cpp's default batch. */
static int batch_size(int n_prompt)
{
	return n_prompt > 0 && n_prompt < MAX_BATCH ? n_prompt : MAX_BATCH;
}

/* One context per test, sized for it so cache size does not vary the cost
 * of a run; NULL after a message. */
static struct llama_context *new_ctx(const struct bench *b, int n_prompt, int n_gen)
{
	struct llama_context_params cp = llama_context_default_params();
	struct llama_context *ctx;

	cp.n_ctx = (uint32_t)(n_prompt + n_gen + CTX_SLACK);
	cp.n_batch = (uint32_t)batch_size(n_prompt);
	cp.n_ubatch = cp.n_batch;
	cp.n_threads = b->args.n_threads;
	cp.n_threads_batch = b->args.n_threads;
	cp.no_perf = true;
	ctx = llama_init_from_model(b->model, cp);
	if (!ctx)
		fprintf(stderr, "llbench: cannot create a context of %u tokens for pp%d tg%d\n",
			cp.n_ctx, n_prompt, n_gen);
	return ctx;
}

/* ---------------------------------------------------------------------------
 * Decoding
 */

/*
 * Prompt tokens from the LCG Hearth's bench uses, so both engines see the
 * same kind of input: content does not change the cost of a forward pass,
 * but one repeated token could favour caches no real prompt would.
 */
static void rand_tokens(llama_token *toks, int n, unsigned seed, int n_vocab)
{
	int i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		toks[i] = (llama_token)((seed >> 8) % (unsigned)n_vocab);
	}
}

/* toks: (n) token ids, decoded in batch_size(n) slices; 0 or -1. */
static int prefill(struct llama_context *ctx, llama_token *toks, int n)
{
	int nb = batch_size(n), i, k, rc;

	for (i = 0; i < n; i += nb) {
		k = n - i < nb ? n - i : nb;
		rc = llama_decode(ctx, llama_batch_get_one(toks + i, k));
		if (rc) {
			fprintf(stderr, "llbench: llama_decode of prompt tokens %d..%d returned %d\n",
				i, i + k - 1, rc);
			return -1;
		}
	}
	llama_synchronize(ctx);	/* the backend may still be computing */
	return 0;
}

/* The argmax of the last decoded position's logits: greedy sampling's
 * cost without a sampler chain, which Hearth's bench does not run either. */
static int argmax_last(struct llama_context *ctx, int n_vocab, llama_token *out)
{
	const float *lg = llama_get_logits_ith(ctx, -1);	/* (n_vocab) f32 */
	llama_token best = 0;
	int i;

	if (!lg) {
		fprintf(stderr, "llbench: llama.cpp kept no logits for the last position\n");
		return -1;
	}
	for (i = 1; i < n_vocab; i++)
		if (lg[i] > lg[best])
			best = i;
	*out = best;
	return 0;
}

/*
 * n_gen single-token decodes. first < 0: continue from the logits the
 * prompt left (Hearth's protocol); otherwise decode first as the opening
 * token into an empty cache (llama-bench's tg test). 0 or -1.
 */
static int greedy(struct llama_context *ctx, int n_vocab, int n_gen, llama_token first)
{
	llama_token tok = first;
	int g, rc;

	for (g = 0; g < n_gen; g++) {
		if ((g > 0 || first < 0) && argmax_last(ctx, n_vocab, &tok))
			return -1;
		rc = llama_decode(ctx, llama_batch_get_one(&tok, 1));
		if (rc) {
			fprintf(stderr, "llbench: llama_decode of generated token %d returned %d\n",
				g, rc);
			return -1;
		}
	}
	llama_synchronize(ctx);
	return 0;
}

/* ---------------------------------------------------------------------------
 * Hearth's protocol: prefill, then decode after that prompt
 */
static void print_hearth_line(const struct bench_args *a, int n_prompt, double *pp, double *tg)
{
	struct spread p = spread_of(pp, a->reps), t = spread_of(tg, a->reps);

	printf("llama.cpp %d thr  pp%-5d %8.2f t/s (min %.2f max %.2f)   "
	       "tg%-4d %8.2f t/s (min %.2f max %.2f)\n",
	       a->n_threads, n_prompt, p.med, p.min, p.max, a->gen, t.med, t.min, t.max);
	fflush(stdout);	/* compare.sh shows each line as it comes */
}

/* One prompt length. Timed run r decodes the prompt of seed 1234 + r, the
 * one Hearth's run r decodes; the warm-up uses seed 1234 + 99. */
static int hearth_one(const struct bench *b, int n_prompt)
{
	const struct bench_args *a = &b->args;
	double pp[MAX_REPS], tg[MAX_REPS], t0, t1, t2;
	struct llama_context *ctx;
	llama_token *toks;
	int r, rc = -1;

	ctx = new_ctx(b, n_prompt, a->gen);
	if (!ctx)
		return -1;
	toks = malloc(sizeof(*toks) * (size_t)n_prompt);
	if (!toks) {
		fprintf(stderr, "llbench: out of memory for %d prompt tokens\n", n_prompt);
		goto out_free_ctx;
	}
	for (r = -1; r < a->reps; r++) {	/* r = -1: warm-up, not timed */
		rand_tokens(toks, n_prompt, 1234u + (unsigned)(r < 0 ? 99 : r), b->n_vocab);
		llama_memory_clear(llama_get_memory(ctx), true);
		t0 = now_s();
		if (prefill(ctx, toks, n_prompt))
			goto out_free_toks;
		t1 = now_s();
		if (greedy(ctx, b->n_vocab, a->gen, -1))
			goto out_free_toks;
		t2 = now_s();
		if (r >= 0) {
			pp[r] = n_prompt / (t1 - t0);
			tg[r] = a->gen ? a->gen / (t2 - t1) : 0.0;
		}
	}
	print_hearth_line(a, n_prompt, pp, tg);
	rc = 0;
out_free_toks:
	free(toks);
out_free_ctx:
	llama_free(ctx);
	return rc;
}

static int hearth_mode(const struct bench *b)
{
	int i;

	for (i = 0; i < b->args.n_prompts; i++)
		if (hearth_one(b, b->args.prompts[i]))
			return -1;
	return 0;
}

/* ---------------------------------------------------------------------------
 * llama-bench's protocol and JSON output, for --compare-llama
 */

/*
 * One test: n_prompt > 0 is a pp test (the prompt from an empty cache),
 * otherwise a tg test (n_gen single-token decodes from an empty cache,
 * opening with an arbitrary mid-vocabulary token). A warm-up run first.
 * ts: (reps) rates in tokens/s. 0 or -1.
 */
static int llama_bench_test(const struct bench *b, int n_prompt, int n_gen, double *ts)
{
	struct llama_context *ctx;
	llama_token *toks = NULL;
	int r, rc = -1;
	double t0;

	ctx = new_ctx(b, n_prompt, n_gen);
	if (!ctx)
		return -1;
	if (n_prompt && !(toks = malloc(sizeof(*toks) * (size_t)n_prompt))) {
		fprintf(stderr, "llbench: out of memory for %d prompt tokens\n", n_prompt);
		goto out_free_ctx;
	}
	for (r = -1; r < b->args.reps; r++) {	/* r = -1: warm-up, not timed */
		if (n_prompt)
			rand_tokens(toks, n_prompt, 1234u + (unsigned)(r + 1), b->n_vocab);
		llama_memory_clear(llama_get_memory(ctx), true);
		t0 = now_s();
		if (n_prompt ? prefill(ctx, toks, n_prompt) :
			       greedy(ctx, b->n_vocab, n_gen, (llama_token)(b->n_vocab / 3)))
			goto out_free_toks;
		if (r >= 0)
			ts[r] = (n_prompt ? n_prompt : n_gen) / (now_s() - t0);
	}
	rc = 0;
out_free_toks:
	free(toks);
out_free_ctx:
	llama_free(ctx);
	return rc;
}

/* A JSON string; Hearth refuses quotes in paths, but a path may still hold
 * a backslash or a control character that would break the array. */
static void print_json_string(const char *s)
{
	const unsigned char *p;

	putchar('"');
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void print_json_row(const struct bench *b, int n_prompt, int n_gen,
			   const double *ts, bool last)
{
	double mean, sd;

	mean_sd(ts, b->args.reps, &mean, &sd);
	printf("  {\"model_filename\": ");
	print_json_string(b->args.model_path);
	printf(", \"n_threads\": %d, \"n_prompt\": %d, \"n_gen\": %d, "
	       "\"avg_ts\": %.6f, \"stddev_ts\": %.6f}%s\n",
	       b->args.n_threads, n_prompt, n_gen, mean, sd, last ? "" : ",");
}

/* The pp tests in list order, then the tg test (none for -n 0). */
static int llama_bench_mode(const struct bench *b)
{
	int n_tests = b->args.n_prompts + (b->args.gen > 0), k, n_prompt;
	double ts[MAX_REPS];

	printf("[\n");
	for (k = 0; k < n_tests; k++) {
		n_prompt = k < b->args.n_prompts ? b->args.prompts[k] : 0;
		if (llama_bench_test(b, n_prompt, n_prompt ? 0 : b->args.gen, ts))
			return -1;
		print_json_row(b, n_prompt, n_prompt ? 0 : b->args.gen, ts, k + 1 == n_tests);
	}
	printf("]\n");
	return 0;
}

/* ---------------------------------------------------------------------------
 * main: parse, load, measure, and make sure the output reached its reader
 */
int main(int argc, char **argv)
{
	enum ggml_log_level log_level = GGML_LOG_LEVEL_NONE;	/* log_errors' state */
	bool llama_bench = argc > 1 && argv[1][0] == '-';
	struct bench b = { 0 };
	int rc;

	if (llama_bench ? parse_llama_bench_args(argc, argv, &b.args) :
			  parse_hearth_args(argc, argv, &b.args)) {
		usage();
		return EXIT_USAGE;
	}
	llama_log_set(log_errors, &log_level);
	rc = load_backends();
	if (!rc)
		rc = load_model(&b);
	if (!rc)
		rc = llama_bench ? llama_bench_mode(&b) : hearth_mode(&b);
	llama_model_free(b.model);	/* NULL-safe (a C++ delete) */
	llama_backend_free();
	/* hearth reads this through a pipe: a lost write is a failed run */
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "llbench: writing the results failed: %s\n", strerror(errno));
		rc = -1;
	}
	llama_log_set(log_errors, NULL);	/* log_level goes out of scope */
	return rc ? EXIT_FAILURE : EXIT_SUCCESS;
}
