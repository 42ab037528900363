/* jobctx.h: what a job implementation sees: the store, the job, the worker configuration,
 * the counters it reports, and callbacks for steps, progress, log lines and cancellation.
 * The worker's main.c binds the callbacks to IPC messages; tests bind them to plain
 * functions, so every job runs in-process without a supervisor. */
#ifndef JOBSD_JOBCTX_H
#define JOBSD_JOBCTX_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job.h"
#include "log.h"
#include "store.h"

struct worker_conf {
	char data_dir[PATH_MAX];
	char source_name[64];
	char source_type[16]; /* "csv" */
	char source_path[PATH_MAX];
	char manager_ref[16];
	int max_delete_percent;   /* 0..100 */
	int progress_interval_ms; /* PROGRESS messages at most this often */
	char policy_file[PATH_MAX];
};

#define JOB_BATCH_DEFAULT 1000
#define JOB_BATCH_MAX 100000
#define JOB_DELAY_MAX 10000
#define JOB_TICK_ROWS 256

struct job_ctx;
typedef void (*job_step_cb)(struct job_ctx *ctx, const char *step, int64_t total);
typedef void (*job_progress_cb)(struct job_ctx *ctx);
typedef void (*job_log_cb)(struct job_ctx *ctx, int level, const char *text);
typedef bool (*job_cancelled_cb)(struct job_ctx *ctx);
typedef void (*job_tick_cb)(struct job_ctx *ctx);

struct job_ctx {
	struct store *store;
	const struct job *job;
	const struct worker_conf *conf;

	/* Counters, absolute. created/updated/deleted count committed changes only. total is
	 * JOB_NULL until known. */
	int64_t processed, total, created, updated, deleted;
	/* The job's own estimate of how far it is, 0..100, for jobs whose phases do not all
	 * move processed (reading, resolving): sent as PROGRESS's "progress" and used by
	 * the supervisor instead of processed * 100 / total. -1 (the default): not set. */
	int progress;

	/* From the job's parameters (test hooks, see job_ctx_init). */
	size_t batch_size;
	int delay_ms;
	int max_delete_percent; /* conf's, or the job's max_delete_percent parameter */

	/* Callbacks; any may be NULL. */
	job_step_cb on_step;
	job_progress_cb on_progress;
	job_log_cb on_log;
	job_cancelled_cb on_cancelled;
	job_tick_cb on_tick; /* every JOB_TICK_ROWS rows inside a batch: may set aborted */
	void *arg;

	/* Set by the binding when the supervisor went away: stop at once, abort the open
	 * transaction, commit nothing more. */
	bool aborted;
	/* Set by the job when it stopped because cancelled() said so. */
	bool was_cancelled;

	int64_t last_progress_ms; /* monotonic */
};

/* Fill ctx with the defaults and the job's parameters batch_size=N (1..100000, default
 * 1000), delay_ms=N (0..10000; each batch then sleeps that long: a test hook to make
 * jobs slow enough to cancel) and max_delete_percent=N (0..100, overrides the
 * configuration for this job: the operator's way past a refused deletion).
 * -1 and *cause for an invalid value. */
int job_ctx_init(struct job_ctx *ctx, struct store *s, const struct job *j,
		 const struct worker_conf *conf, char **cause);

void job_ctx_step(struct job_ctx *ctx, const char *step);
void job_ctx_progress(struct job_ctx *ctx); /* rate-limited to progress_interval_ms */
void job_ctx_progress_now(struct job_ctx *ctx);
void job_ctx_log(struct job_ctx *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Should the job stop at this batch boundary? (cancel requested or supervisor gone) */
bool job_ctx_cancelled(struct job_ctx *ctx);
/* Sleep delay_ms (if any) in slices, returning early when cancelled. */
void job_ctx_delay(struct job_ctx *ctx);

/* Run outcome. */
enum job_run { JOB_RUN_OK = 0, JOB_RUN_FAILED = -1, JOB_RUN_CANCELLED = 1 };
typedef int (*job_run_fn)(struct job_ctx *ctx, char **error);

/* The implementation of a job type (never NULL for a valid type: types not built in fail
 * with "job type <x> is not implemented in this build"). */
job_run_fn job_runner(enum job_type t);
/* Run ctx->job: JOB_RUN_OK, JOB_RUN_CANCELLED, or JOB_RUN_FAILED with *error. */
int job_run(struct job_ctx *ctx, char **error);

#endif
