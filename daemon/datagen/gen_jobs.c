/* gen_jobs.c: write a history of finished jobs into a stopped daemon's data directory
 * (STORE_TOOL role), fast: batches of GEN_BATCH jobs per transaction committed without
 * fsync, numbers taken from the sequence a batch at a time, counts adjusted once per
 * batch, periodic checkpoints so log files are removed, and one flush at the end. Every
 * job's values come from its own PRNG stream (seed, index), so a retried batch is
 * regenerated identically. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "gen_jobs.h"
#include "log.h"
#include "rng.h"
#include "store_internal.h"
#include "timeutil.h"

#define GEN_BATCH 10000
#define GEN_CHECKPOINT_EVERY 25 /* batches */
#define GEN_SPAN_MS (INT64_C(365) * 24 * 3600 * 1000)
#define GEN_TAG_JOB 0x6a6f6273 /* "jobs" */

struct profile {
	enum job_type type;
	int weight;
	const char *last_step;
	int64_t total_min, total_max; /* records */
	int64_t dur_min_s, dur_max_s;
	double created, updated, deleted; /* upper bounds of the changed share */
};

static const struct profile profiles[] = {
	{JOB_FULL_SYNC, 6, "Checking for removed records", 50000, 400000, 600, 3600, 0.02,
	 0.25, 0.01},
	{JOB_INCREMENTAL_SYNC, 35, "Applying deletions", 100, 20000, 20, 300, 0.3, 0.7, 0.05},
	{JOB_ACCOUNT_SYNC, 12, "Processing accounts", 20000, 200000, 180, 1200, 0.02, 0.2, 0.01},
	{JOB_OWNER_SYNC, 10, "Processing owners", 5000, 50000, 60, 480, 0.02, 0.2, 0.01},
	{JOB_GROUP_SYNC, 8, "Processing groups", 1000, 30000, 60, 360, 0.02, 0.15, 0.01},
	{JOB_APPLICATION_SYNC, 4, "Processing applications", 50, 2000, 5, 60, 0.05, 0.2, 0.02},
	{JOB_ROLE_GENERATION, 5, "Assigning role members", 5000, 50000, 60, 600, 0.005, 0.01,
	 0.002},
	{JOB_POLICY_ANALYSIS, 5, "Evaluating policies", 5000, 100000, 120, 900, 0.005, 0.01,
	 0.005},
	{JOB_MANAGER_RESOLUTION, 6, "Resolving managers", 5000, 50000, 30, 300, 0.0, 0.05, 0.0},
	{JOB_ENRICHMENT, 9, "Linking accounts to owners", 20000, 200000, 120, 1200, 0.0, 0.3,
	 0.0},
};
#define NPROFILES (sizeof(profiles) / sizeof(profiles[0]))

static const char *const errors[] = {
	"source unreachable: /srv/exports/hr: No such file or directory",
	"accounts.csv:1832: missing value for required column modified_at",
	"owners.csv:77: unterminated quoted field",
	"killed by signal 9",
	"exited with status 3",
	"interrupted: daemon restarted",
	"policy set sod-default: unknown entitlement grp-4411",
	"manager references form a cycle of 14 owners",
};
#define NERRORS (sizeof(errors) / sizeof(errors[0]))

static const char *const requesters[] = {"scheduler", "scheduler", "scheduler", "admin",
					 "alice", "bob", "ci-token"};
#define NREQUESTERS (sizeof(requesters) / sizeof(requesters[0]))

static int64_t
between(struct rng *r, int64_t lo, int64_t hi)
{
	return (lo + (int64_t)rng_below(r, (uint64_t)(hi - lo + 1)));
}

static const struct profile *
pick_profile(struct rng *r)
{
	int total = 0, x;
	size_t i;

	for (i = 0; i < NPROFILES; i++)
		total += profiles[i].weight;
	x = (int)rng_below(r, total);
	for (i = 0; i < NPROFILES; i++) {
		if (x < profiles[i].weight)
			return (&profiles[i]);
		x -= profiles[i].weight;
	}
	return (&profiles[0]);
}

/* Job index i (0-based) of n, created in [t0, t0 + GEN_SPAN_MS). */
static void
make_job(struct job *j, uint64_t no, uint64_t i, uint64_t n, int64_t t0, uint64_t seed)
{
	const struct profile *p;
	struct rng r;
	int64_t step, total, dur, x;
	unsigned roll;

	rng_init(&r, seed, GEN_TAG_JOB, i);
	job_init(j);
	j->no = no;
	step = GEN_SPAN_MS / (int64_t)n;
	j->created_ms = t0 + (int64_t)i * step + (step > 1 ? between(&r, 0, step - 1) : 0);
	p = pick_profile(&r);
	j->type = p->type;
	snprintf(j->requested_by, sizeof(j->requested_by), "%s",
		 requesters[rng_below(&r, NREQUESTERS)]);
	switch (p->type) {
	case JOB_ROLE_GENERATION:
		job_param_add(j, "attributes", "department,title");
		job_param_add(j, "min_owners", "5");
		break;
	case JOB_POLICY_ANALYSIS:
		job_param_add(j, "policy_set", "sod-default");
		break;
	case JOB_MANAGER_RESOLUTION:
	case JOB_ENRICHMENT:
		break;
	default:
		job_param_add(j, "source", rng_below(&r, 4) == 0 ? "ad-export" : "hr-csv");
		break;
	}

	roll = (unsigned)rng_below(&r, 100);
	j->status = roll < 88 ? JOB_COMPLETED : roll < 96 ? JOB_FAILED : JOB_CANCELLED;
	if (j->status == JOB_CANCELLED && rng_below(&r, 4) == 0) {
		/* Cancelled while still pending. */
		j->end_ms = j->created_ms + between(&r, 2000, 600000);
		snprintf(j->cancelled_by, sizeof(j->cancelled_by), "%s",
			 rng_below(&r, 2) ? "admin" : "alice");
		return;
	}

	/* Most jobs start at once; some wait for a conflicting job. */
	if (rng_below(&r, 20) == 0)
		x = between(&r, 5000, 600000);
	else
		x = between(&r, 20, 1500);
	j->start_ms = j->created_ms + x;
	total = between(&r, p->total_min, p->total_max);
	dur = between(&r, p->dur_min_s * 1000, p->dur_max_s * 1000);
	j->total_records = total;
	j->progress = 100;
	if (j->status != JOB_COMPLETED) {
		j->progress = (int)between(&r, 1, 97);
		dur = dur * j->progress / 100 + 1;
	}
	j->records_processed = total * j->progress / 100;
	j->records_created = (int64_t)(j->records_processed * p->created * rng_unit(&r));
	j->records_updated = (int64_t)(j->records_processed * p->updated * rng_unit(&r));
	j->records_deleted = (int64_t)(j->records_processed * p->deleted * rng_unit(&r));
	j->end_ms = j->start_ms + dur;
	j->cpu_ms = (int64_t)(dur * (0.2 + 0.7 * rng_unit(&r)));
	j->max_rss_kb = between(&r, 12000, 420000);
	snprintf(j->current_step, sizeof(j->current_step), "%s",
		 j->status == JOB_COMPLETED ? p->last_step : "Counting records");
	if (j->status == JOB_FAILED)
		job_set_error(j, errors[rng_below(&r, NERRORS)]);
	else if (j->status == JOB_CANCELLED)
		snprintf(j->cancelled_by, sizeof(j->cancelled_by), "%s",
			 rng_below(&r, 2) ? "admin" : "alice");
}

struct batch {
	uint64_t done, count, n, seed;
	int64_t t0;
	msgpack_sbuffer buf;
	struct store_bulk *jobs;
	char *cause;
};

static int
batch_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct batch *b = arg;
	int64_t delta[JOB_STATUS_COUNT][JOB_TYPE_COUNT];
	uint64_t first, k;
	struct job j;
	int r;

	memset(delta, 0, sizeof(delta));
	if ((r = store_job_alloc_n(s, txn, (uint32_t)b->count, &first, &b->cause)) != 0)
		return (r);
	msgpack_sbuffer_clear(&b->buf);
	for (k = 0; k < b->count; k++) {
		struct store_bulk *e = &b->jobs[k];

		make_job(&j, first + k, b->done + k, b->n, b->t0, b->seed);
		e->no = j.no;
		e->status = j.status;
		e->type = j.type;
		e->start_ms = j.start_ms;
		e->off = b->buf.size;
		job_encode(&j, &b->buf);
		e->len = b->buf.size - e->off;
		delta[j.status][j.type]++;
		job_free(&j);
	}
	if ((r = store_jobs_bulk_put(s, txn, b->jobs, b->count, b->buf.data, &b->cause)) != 0)
		return (r);
	return (store_counts_add(s, txn, (const int64_t (*)[JOB_TYPE_COUNT])delta, &b->cause));
}

int
gen_jobs(const char *data_dir, uint64_t n, uint64_t seed, char **cause)
{
	struct store *s;
	struct batch b;
	uint64_t nbatch = 0;
	int ret, r = 0;

	if (store_open(data_dir, STORE_TOOL, &s, cause) != 0)
		return (-1);
	if (store_jobs_bulk_open(s, cause) != 0) {
		store_close(s);
		return (-1);
	}
	memset(&b, 0, sizeof(b));
	b.jobs = xcalloc(GEN_BATCH, sizeof(*b.jobs));
	b.n = n;
	b.seed = seed;
	b.t0 = time_now_ms() - GEN_SPAN_MS;
	msgpack_sbuffer_init(&b.buf);
	while (b.done < n) {
		b.count = n - b.done < GEN_BATCH ? n - b.done : GEN_BATCH;
		if (store_with_txn(s, DB_TXN_NOSYNC, batch_txn, &b, cause) != 0) {
			if (b.cause != NULL)
				store_set_cause(cause, b.cause);
			r = -1;
			break;
		}
		b.done += b.count;
		if (++nbatch % GEN_CHECKPOINT_EVERY == 0)
			store_checkpoint(s);
	}
	msgpack_sbuffer_destroy(&b.buf);
	free(b.jobs);
	if ((ret = store_env(s)->log_flush(store_env(s), NULL)) != 0 && r == 0) {
		store_set_cause(cause, xasprintf("log flush: %s", db_strerror(ret)));
		r = -1;
	}
	store_close(s); /* checkpoints */
	return (r);
}
