/*
 * threadpool.c — persistent worker threads for the kernels.
 *
 * One job at a time: engine_threadpool_run() publishes (fn, arg), bumps a
 * generation counter, runs fn as thread 0 on the caller, then waits until
 * every worker has finished its share. Workers spin briefly on the
 * generation (a decode step issues hundreds of small matmuls back to back,
 * and a condvar wake-up per matmul would cost more than the work), then
 * sleep on a condition variable; the mutex guarding the sleep is held
 * while the dispatcher broadcasts, so no wake-up is lost.
 *
 * Threading: engine_threadpool_run() must be called from one thread at a
 * time (the owner, i.e. the scheduler) and never from inside a job.
 */
#include "engine_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax(void) { _mm_pause(); }
#elif defined(__aarch64__)
static inline void cpu_relax(void) { __asm__ __volatile__("yield"); }
#else
static inline void cpu_relax(void) { }
#endif

/* Iterations of cpu_relax() before a waiter goes to sleep: some tens of
 * microseconds, about the gap between two matmuls of a decode step. */
#define SPIN_ITERS 4096
/* More threads than this is a configuration mistake, not a machine. */
#define MAX_THREADS 512

typedef struct worker {
	struct engine_threadpool *tp;
	int ith;                   /* 1..n-1 */
	pthread_t thread;
} worker;

struct engine_threadpool {
	int n;                     /* threads, the caller included */
	worker *workers;           /* (n - 1) */
	int n_started;             /* workers actually created */
	pthread_mutex_t mu;
	pthread_cond_t cv_work;    /* generation changed */
	pthread_cond_t cv_done;    /* pending reached 0 */
	atomic_uint_fast64_t gen;  /* bumped once per job (and at shutdown) */
	atomic_int pending;        /* workers still inside the current job */
	atomic_bool stop;
	/* the current job; written before gen is bumped (release) */
	void (*fn)(int ith, int nth, void *arg);
	void *arg;
};

/* ---------------------------------------------------------------------------
 * Workers.
 */

/* Wait until gen differs from seen; returns the new generation. */
static uint64_t wait_for_job(engine_threadpool *tp, uint64_t seen)
{
	uint64_t g;

	for (int i = 0; i < SPIN_ITERS; i++) {
		g = atomic_load_explicit(&tp->gen, memory_order_acquire);
		if (g != seen)
			return g;
		cpu_relax();
	}
	pthread_mutex_lock(&tp->mu);
	while ((g = atomic_load_explicit(&tp->gen, memory_order_acquire)) ==
	       seen)
		pthread_cond_wait(&tp->cv_work, &tp->mu);
	pthread_mutex_unlock(&tp->mu);
	return g;
}

static void *worker_main(void *p)
{
	worker *w = p;
	engine_threadpool *tp = w->tp;
	uint64_t seen = 0;

	for (;;) {
		seen = wait_for_job(tp, seen);
		if (atomic_load_explicit(&tp->stop, memory_order_acquire))
			break;
		tp->fn(w->ith, tp->n, tp->arg);
		/* acq_rel: our writes in fn happen before the caller sees 0 */
		if (atomic_fetch_sub_explicit(&tp->pending, 1,
					      memory_order_acq_rel) == 1) {
			pthread_mutex_lock(&tp->mu);
			pthread_cond_signal(&tp->cv_done);
			pthread_mutex_unlock(&tp->mu);
		}
	}
	return NULL;
}

/* Bump the generation and wake any sleeping worker. */
static void publish(engine_threadpool *tp)
{
	atomic_fetch_add_explicit(&tp->gen, 1, memory_order_acq_rel);
	pthread_mutex_lock(&tp->mu);
	pthread_cond_broadcast(&tp->cv_work);
	pthread_mutex_unlock(&tp->mu);
}

/* ---------------------------------------------------------------------------
 * Lifetime.
 */
int engine_threadpool_new(int n_threads, engine_threadpool **out)
{
	engine_threadpool *tp;

	*out = NULL;
	if (n_threads <= 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		n_threads = cpus > 0 ? (int)(cpus < MAX_THREADS ? cpus :
						     MAX_THREADS) : 1;
	}
	if (n_threads > MAX_THREADS)
		return HEARTH_ERANGE;
	tp = calloc(1, sizeof(*tp));
	if (!tp)
		return HEARTH_ENOMEM;
	tp->n = n_threads;
	pthread_mutex_init(&tp->mu, NULL);
	pthread_cond_init(&tp->cv_work, NULL);
	pthread_cond_init(&tp->cv_done, NULL);
	atomic_init(&tp->gen, 0);
	atomic_init(&tp->pending, 0);
	atomic_init(&tp->stop, false);
	if (n_threads > 1) {
		tp->workers = calloc((size_t)n_threads - 1,
				     sizeof(*tp->workers));
		if (!tp->workers)
			goto out_free_pool;
	}
	for (int i = 0; i < n_threads - 1; i++) {
		tp->workers[i].tp = tp;
		tp->workers[i].ith = i + 1;
		if (pthread_create(&tp->workers[i].thread, NULL, worker_main,
				   &tp->workers[i]) != 0)
			goto out_free_pool;
		tp->n_started++;
	}
	*out = tp;
	return 0;

out_free_pool:
	engine_threadpool_free(tp);
	return HEARTH_ENOMEM;
}

void engine_threadpool_free(engine_threadpool *tp)
{
	if (!tp)
		return;
	atomic_store_explicit(&tp->stop, true, memory_order_release);
	publish(tp);
	for (int i = 0; i < tp->n_started; i++)
		pthread_join(tp->workers[i].thread, NULL);
	pthread_cond_destroy(&tp->cv_done);
	pthread_cond_destroy(&tp->cv_work);
	pthread_mutex_destroy(&tp->mu);
	free(tp->workers);
	free(tp);
}

int engine_threadpool_size(const engine_threadpool *tp)
{
	return tp ? tp->n : 1;
}

/* ---------------------------------------------------------------------------
 * Dispatch.
 */
void engine_threadpool_run(engine_threadpool *tp,
			   void (*fn)(int ith, int nth, void *arg), void *arg)
{
	if (!tp || tp->n == 1) {
		fn(0, 1, arg);
		return;
	}
	tp->fn = fn;
	tp->arg = arg;
	atomic_store_explicit(&tp->pending, tp->n - 1, memory_order_relaxed);
	publish(tp); /* release: fn, arg and pending visible to workers */

	fn(0, tp->n, arg);

	for (int i = 0; i < SPIN_ITERS; i++) {
		if (atomic_load_explicit(&tp->pending,
					 memory_order_acquire) == 0)
			return;
		cpu_relax();
	}
	pthread_mutex_lock(&tp->mu);
	while (atomic_load_explicit(&tp->pending, memory_order_acquire) != 0)
		pthread_cond_wait(&tp->cv_done, &tp->mu);
	pthread_mutex_unlock(&tp->mu);
}
