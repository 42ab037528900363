/* sync_count.h: the counting pass of a sync (DESIGN.md: total_records is known before
 * processing starts): the record counts of its files, counted side by side, and for an
 * incremental sync where its rows to pass over are (csv_plan_file). */
#ifndef JOBSD_SYNC_COUNT_H
#define JOBSD_SYNC_COUNT_H

#include <stddef.h>
#include <stdint.h>

#include "csv.h"
#include "jobctx.h"

struct sync_count_file {
	const char *path;
	const struct csv_skip_names *skip; /* an incremental sync's skip, or NULL */
	uint64_t n;             /* out: its data records (csv_count_records) */
	struct csv_plan *plan;  /* out, with a skip: csv_plan_file's (the caller frees it) */
};

/*
 * Count the records of files[0, nfiles) (a file with a skip is planned too, by
 * csv_plan_file): JOB_RUN_OK with every n set, JOB_RUN_CANCELLED when job_ctx_cancelled
 * said so meanwhile, JOB_RUN_FAILED and *error (the cause of the first file in array order
 * that could not be read). The files are counted on up to
 * min(nfiles, online CPUs, SYNC_COUNT_THREADS) threads, the calling thread one of them,
 * biggest first; only the calling thread calls job_ctx_cancelled. When the files other
 * than the biggest hold fewer than SYNC_COUNT_PARALLEL_MIN bytes the calling thread counts
 * them alone, in array order, stopping at the first that fails or is cancelled.
 */
#define SYNC_COUNT_THREADS 4
#define SYNC_COUNT_PARALLEL_MIN (1u << 20)
int sync_count_files(struct job_ctx *ctx, struct sync_count_file *files, size_t nfiles,
    char **error);

#endif
