/* jobctx.c: the job context helpers and the table of job implementations.
 *
 * Built with -DJOBSD_NO_PROGRESS, job_ctx_progress and job_ctx_progress_now report nothing
 * (the benchmark's variant that measures what progress reporting costs). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis.h"
#include "jobctx.h"
#include "sync.h"
#include "timeutil.h"

static int
param_int(const struct job *j, const char *key, long min, long max, long *out, char **cause)
{
	const char *v;
	char *end;
	long n;

	if ((v = job_param_get(j, key)) == NULL)
		return 0;
	errno = 0;
	n = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || n < min || n > max) {
		*cause = xasprintf("parameter %s: '%s' is not a number in %ld..%ld", key, v,
		    min, max);
		return -1;
	}
	*out = n;
	return 0;
}

int
job_ctx_init(struct job_ctx *ctx, struct store *s, const struct job *j,
    const struct worker_conf *conf, char **cause)
{
	long batch = JOB_BATCH_DEFAULT, delay = 0, pct;

	memset(ctx, 0, sizeof *ctx);
	ctx->store = s;
	ctx->job = j;
	ctx->conf = conf;
	ctx->total = JOB_NULL;
	ctx->progress = -1;
	ctx->last_progress_ms = INT64_MIN;
	if (param_int(j, "batch_size", 1, JOB_BATCH_MAX, &batch, cause) != 0)
		return -1;
	if (param_int(j, "delay_ms", 0, JOB_DELAY_MAX, &delay, cause) != 0)
		return -1;
	pct = conf->max_delete_percent;
	if (param_int(j, "max_delete_percent", 0, 100, &pct, cause) != 0)
		return -1;
	ctx->max_delete_percent = (int)pct;
	ctx->batch_size = (size_t)batch;
	ctx->delay_ms = (int)delay;
	return 0;
}

void
job_ctx_step(struct job_ctx *ctx, const char *step)
{
	log_debug("%s", step);
	if (ctx->on_step != NULL)
		ctx->on_step(ctx, step, ctx->total);
}

void
job_ctx_progress_now(struct job_ctx *ctx)
{
#ifdef JOBSD_NO_PROGRESS
	(void)ctx;
#else
	ctx->last_progress_ms = time_monotonic_ms();
	if (ctx->on_progress != NULL)
		ctx->on_progress(ctx);
#endif
}

void
job_ctx_progress(struct job_ctx *ctx)
{
#ifdef JOBSD_NO_PROGRESS
	(void)ctx;
#else
	int64_t now = time_monotonic_ms();
	int iv = ctx->conf != NULL ? ctx->conf->progress_interval_ms : 0;

	if (ctx->last_progress_ms != INT64_MIN && now - ctx->last_progress_ms < iv)
		return;
	ctx->last_progress_ms = now;
	if (ctx->on_progress != NULL)
		ctx->on_progress(ctx);
#endif
}

void
job_ctx_log(struct job_ctx *ctx, int level, const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	switch (level) {
	case LOG_LVL_ERR:
	case LOG_LVL_WARN:
		log_warnx("%s", text);
		break;
	case LOG_LVL_INFO:
		log_info("%s", text);
		break;
	default:
		log_debug("%s", text);
		break;
	}
	if (ctx->on_log != NULL)
		ctx->on_log(ctx, level, text);
	free(text);
}

bool
job_ctx_cancelled(struct job_ctx *ctx)
{
	if (ctx->aborted)
		return true;
	if (ctx->on_cancelled != NULL && ctx->on_cancelled(ctx))
		return true;
	return ctx->aborted;
}

void
job_ctx_delay(struct job_ctx *ctx)
{
	int left = ctx->delay_ms, slice;
	struct timespec ts;

	while (left > 0) {
		slice = left < 50 ? left : 50;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)slice * 1000000L;
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
		left -= slice;
		if (left > 0 && job_ctx_cancelled(ctx))
			return;
	}
}

/* Job types whose implementation belongs to the analysis issue. */
static int
not_implemented(struct job_ctx *ctx, char **error)
{
	*error = xasprintf("job type %s is not implemented in this build",
	    job_type_name(ctx->job->type));
	return JOB_RUN_FAILED;
}

static const job_run_fn runners[JOB_TYPE_COUNT] = {
	[JOB_FULL_SYNC] = sync_full,
	[JOB_INCREMENTAL_SYNC] = sync_incremental,
	[JOB_ACCOUNT_SYNC] = sync_accounts,
	[JOB_OWNER_SYNC] = sync_owners,
	[JOB_GROUP_SYNC] = sync_groups,
	[JOB_APPLICATION_SYNC] = sync_applications,
	[JOB_ROLE_GENERATION] = run_role_generation,
	[JOB_POLICY_ANALYSIS] = run_policy_analysis,
	[JOB_MANAGER_RESOLUTION] = run_manager_resolution,
	[JOB_ENRICHMENT] = run_enrichment,
};

job_run_fn
job_runner(enum job_type t)
{
	if ((unsigned)t >= JOB_TYPE_COUNT || runners[t] == NULL)
		return not_implemented;
	return runners[t];
}

int
job_run(struct job_ctx *ctx, char **error)
{
	int rv;

	*error = NULL;
	rv = job_runner(ctx->job->type)(ctx, error);
	if (rv == JOB_RUN_FAILED && *error == NULL)
		*error = xstrdup("job failed");
	return rv;
}
