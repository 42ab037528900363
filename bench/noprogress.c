/* noprogress.c: progress reporting compiled out, for figure 6 of docs/benchmarks.md.
 * bench/run.sh links a second jobsd-worker from the normal build's objects with these
 * definitions in place of daemon/worker/jobctx.c's (whose copies it weakens with
 * objcopy), so the same sync can be timed with and without progress messages. The
 * project itself has no such switch yet: docs/benchmarks.md proposes -DJOBSD_NO_PROGRESS. */
#include "jobctx.h"

void
job_ctx_progress(struct job_ctx *ctx)
{
	(void)ctx;
}

void
job_ctx_progress_now(struct job_ctx *ctx)
{
	(void)ctx;
}
