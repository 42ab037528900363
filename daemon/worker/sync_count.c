/*
 * sync_count.c: a sync's counting pass over its files (sync_count.h), side by side.
 *
 * A sync job is one thread and the counting pass is bound by memory bandwidth per core
 * (1-3 GB/s), so its files are counted on several threads: the slots, sorted biggest
 * first, are taken in turn through one atomic index by the calling thread and up to
 * SYNC_COUNT_THREADS - 1 helpers. The threads share nothing else but a stop flag; each
 * writes only the slots it took (and their files' plans, for an incremental sync: its
 * skip test runs here, side by side, once), read by the calling thread after it joined
 * them all.
 *
 * job_ctx_cancelled polls the job's IPC socket and is not thread-safe: only the calling
 * thread calls it, every CSV_STOP_EVERY records of its own files as before, and every
 * SYNC_COUNT_WAIT_MS while it waits for the helpers once it has no file left. When it
 * says cancelled the calling thread sets the stop flag, which the helpers' stop callback
 * reads. The outcome is the one of the sequential pass: the first file in array order
 * that failed or was stopped decides it.
 */
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "csv.h"
#include "log.h"
#include "sync_count.h"

#define SYNC_COUNT_WAIT_MS 50

struct count_slot {
	size_t index;  /* in the caller's array */
	uint64_t size; /* bytes (0 if unknown): the order they are taken in */
	int rv;        /* count_file's: 0, 1 (stopped), -1 (*error) */
	uint64_t n;
	char *error;
};

struct count_shared {
	struct job_ctx *ctx;
	struct sync_count_file *files;
	struct count_slot *slots; /* biggest first */
	size_t nslots;
	atomic_size_t next;       /* the next slot to take */
	atomic_bool stop;         /* cancelled: helpers stop at their next poll */

	pthread_mutex_t lock;
	pthread_cond_t done;      /* signalled when a helper ends */
	size_t running;           /* helpers not ended yet (under lock) */
};

/* The calling thread's stop callback: asks the job, and tells the helpers. */
static bool
caller_stop(void *arg)
{
	struct count_shared *sh = arg;

	if (atomic_load(&sh->stop))
		return true;
	if (job_ctx_cancelled(sh->ctx)) {
		atomic_store(&sh->stop, true);
		return true;
	}
	return false;
}

/* A helper's stop callback: the flag only. */
static bool
helper_stop(void *arg)
{
	struct count_shared *sh = arg;

	return atomic_load(&sh->stop);
}

/* Count one file, and plan it when it has a skip: as csv_count_records_stop. */
static int
count_file(struct sync_count_file *f, uint64_t *n, bool (*stop)(void *), void *arg,
    char **error)
{
	if (f->skip != NULL)
		return csv_plan_file(f->path, f->skip, n, &f->plan, stop, arg, error);
	return csv_count_records_stop(f->path, n, stop, arg, error);
}

static void
count_slot(struct count_shared *sh, struct count_slot *s, bool (*stop)(void *))
{
	if (atomic_load(&sh->stop)) {
		s->rv = 1; /* not started */
		return;
	}
	s->rv = count_file(&sh->files[s->index], &s->n, stop, sh, &s->error);
}

/* Take and count slots until none is left. */
static void
count_slots(struct count_shared *sh, bool (*stop)(void *))
{
	size_t i;

	while ((i = atomic_fetch_add(&sh->next, 1)) < sh->nslots)
		count_slot(sh, &sh->slots[i], stop);
}

static void *
helper_main(void *arg)
{
	struct count_shared *sh = arg;

	count_slots(sh, helper_stop);
	pthread_mutex_lock(&sh->lock);
	sh->running--;
	pthread_cond_signal(&sh->done);
	pthread_mutex_unlock(&sh->lock);
	return NULL;
}

static int
slot_cmp(const void *a, const void *b)
{
	const struct count_slot *x = a, *y = b;

	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Wait for the helpers to end, asking the job whether it was cancelled between waits. */
static void
wait_helpers(struct count_shared *sh)
{
	struct timespec ts;
	int ret;

	pthread_mutex_lock(&sh->lock);
	while (sh->running > 0) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += SYNC_COUNT_WAIT_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		ret = pthread_cond_timedwait(&sh->done, &sh->lock, &ts);
		if (ret == ETIMEDOUT && sh->running > 0 && !atomic_load(&sh->stop)) {
			pthread_mutex_unlock(&sh->lock);
			caller_stop(sh);
			pthread_mutex_lock(&sh->lock);
		}
	}
	pthread_mutex_unlock(&sh->lock);
}

/* How many threads to count on (the calling thread included). */
static size_t
count_threads(const struct count_slot *slots, size_t nslots)
{
	uint64_t rest = 0;
	size_t i, n;
	long cpus;

	/* slots is sorted: what is not the biggest file is what the others would count. */
	for (i = 1; i < nslots; i++)
		rest += slots[i].size;
	if (rest < SYNC_COUNT_PARALLEL_MIN)
		return 1;
	n = nslots < SYNC_COUNT_THREADS ? nslots : SYNC_COUNT_THREADS;
	cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (cpus >= 1 && (size_t)cpus < n)
		n = (size_t)cpus;
	return n;
}

/* The outcome of the sequential pass: the first slot in array order not counted. */
static int
count_result(struct count_shared *sh, char **error)
{
	struct count_slot *s, *first = NULL;
	size_t i;

	for (i = 0; i < sh->nslots; i++) {
		s = &sh->slots[i];
		if (s->rv != 0 && (first == NULL || s->index < first->index))
			first = s;
	}
	for (i = 0; i < sh->nslots; i++) {
		s = &sh->slots[i];
		if (s->rv == 0)
			sh->files[s->index].n = s->n;
		else if (s->rv == -1 && s == first) {
			*error = s->error;
			s->error = NULL;
		}
		free(s->error);
	}
	if (first != NULL)
		return first->rv == -1 ? JOB_RUN_FAILED : JOB_RUN_CANCELLED;
	/* Every file counted, but a cancel was seen meanwhile: the sequential pass would have
	 * stopped at it. */
	return atomic_load(&sh->stop) ? JOB_RUN_CANCELLED : JOB_RUN_OK;
}

/* One thread, in array order, stopping at the first file not counted (as ever). */
static int
count_alone(struct count_shared *sh, char **error)
{
	struct sync_count_file *f;
	size_t i;

	for (i = 0; i < sh->nslots; i++) {
		f = &sh->files[i];
		switch (count_file(f, &f->n, caller_stop, sh, error)) {
		case 0:
			break;
		case 1:
			return JOB_RUN_CANCELLED;
		default:
			return JOB_RUN_FAILED;
		}
	}
	return JOB_RUN_OK;
}

int
sync_count_files(struct job_ctx *ctx, struct sync_count_file *files, size_t nfiles,
    char **error)
{
	struct count_shared sh;
	struct stat st;
	pthread_t tids[SYNC_COUNT_THREADS];
	pthread_condattr_t ca;
	sigset_t all, old;
	size_t i, nthreads, started = 0;
	int res;

	memset(&sh, 0, sizeof sh);
	sh.ctx = ctx;
	sh.files = files;
	sh.nslots = nfiles;
	atomic_init(&sh.next, 0);
	atomic_init(&sh.stop, false);
	if (nfiles == 0)
		return JOB_RUN_OK;
	sh.slots = xcalloc(nfiles, sizeof *sh.slots);
	for (i = 0; i < nfiles; i++) {
		sh.slots[i].index = i;
		if (stat(files[i].path, &st) == 0 && S_ISREG(st.st_mode))
			sh.slots[i].size = (uint64_t)st.st_size;
	}
	qsort(sh.slots, nfiles, sizeof *sh.slots, slot_cmp);
	if ((nthreads = count_threads(sh.slots, nfiles)) <= 1) {
		res = count_alone(&sh, error);
		free(sh.slots);
		return res;
	}

	pthread_mutex_init(&sh.lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sh.done, &ca);
	pthread_condattr_destroy(&ca);

	/* The calling thread takes the biggest file; the helpers block every signal, so that
	 * signals keep going to it. */
	i = atomic_fetch_add(&sh.next, 1);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (; started < nthreads - 1; started++) {
		pthread_mutex_lock(&sh.lock);
		sh.running++;
		pthread_mutex_unlock(&sh.lock);
		if (pthread_create(&tids[started], NULL, helper_main, &sh) != 0) {
			pthread_mutex_lock(&sh.lock);
			sh.running--;
			pthread_mutex_unlock(&sh.lock);
			break; /* fewer helpers: the calling thread counts more */
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	count_slot(&sh, &sh.slots[i], caller_stop);
	count_slots(&sh, caller_stop);
	wait_helpers(&sh);
	for (i = 0; i < started; i++)
		pthread_join(tids[i], NULL);

	res = count_result(&sh, error);
	pthread_cond_destroy(&sh.done);
	pthread_mutex_destroy(&sh.lock);
	free(sh.slots);
	return res;
}
