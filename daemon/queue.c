/* queue.c: which pending job may start next. Pure functions over job types, no I/O, so the
 * rules are unit-tested on their own (tests/check_queue.c).
 *
 * Each job type reads and writes sets of identity data. Two jobs conflict when one writes
 * what the other reads or writes. The queue is FIFO: the oldest pending job starts first.
 * When it cannot start only because it conflicts with a running job, a later pending job
 * may start instead, provided it conflicts neither with a running job nor with any earlier
 * pending job it overtakes (so conflicting jobs always start in submission order and a
 * blocked job is never starved by a stream of jobs touching the same data). */
#include <stddef.h>

#include "jobsd.h"

#define SYNC_ALL                                                                           \
	(RES_OWNERS | RES_ACCOUNTS | RES_GROUPS | RES_APPLICATIONS | RES_MEMBERSHIPS)

static const struct {
	unsigned reads;
	unsigned writes;
} rules[JOB_TYPE_COUNT] = {
	[JOB_FULL_SYNC] = {SYNC_ALL, SYNC_ALL | RES_WATERMARK},
	[JOB_INCREMENTAL_SYNC] = {SYNC_ALL | RES_WATERMARK, SYNC_ALL | RES_WATERMARK},
	[JOB_ACCOUNT_SYNC] = {RES_ACCOUNTS, RES_ACCOUNTS},
	[JOB_OWNER_SYNC] = {RES_OWNERS, RES_OWNERS},
	/* memberships.csv is part of the groups */
	[JOB_GROUP_SYNC] = {RES_GROUPS | RES_MEMBERSHIPS, RES_GROUPS | RES_MEMBERSHIPS},
	[JOB_APPLICATION_SYNC] = {RES_APPLICATIONS, RES_APPLICATIONS},
	/* owners hold groups through their accounts */
	[JOB_ROLE_GENERATION] = {RES_OWNERS | RES_ACCOUNTS | RES_GROUPS | RES_MEMBERSHIPS |
					 RES_ROLES,
				 RES_ROLES},
	[JOB_POLICY_ANALYSIS] = {RES_ROLES | RES_OWNERS | RES_ACCOUNTS | RES_GROUPS |
					 RES_MEMBERSHIPS | RES_VIOLATIONS,
				 RES_VIOLATIONS},
	[JOB_MANAGER_RESOLUTION] = {RES_OWNERS, RES_OWNERS},
	/* links accounts to owners and fills owners' empty fields, applications first */
	[JOB_ENRICHMENT] = {RES_ACCOUNTS | RES_OWNERS | RES_APPLICATIONS,
			    RES_ACCOUNTS | RES_OWNERS},
};

unsigned
queue_reads(enum job_type t)
{
	return ((unsigned)t < JOB_TYPE_COUNT ? rules[t].reads : 0);
}

unsigned
queue_writes(enum job_type t)
{
	return ((unsigned)t < JOB_TYPE_COUNT ? rules[t].writes : 0);
}

bool
queue_is_sync(enum job_type t)
{
	return (t <= JOB_APPLICATION_SYNC);
}

bool
queue_conflicts(enum job_type a, enum job_type b)
{
	unsigned ra = queue_reads(a) | queue_writes(a);
	unsigned rb = queue_reads(b) | queue_writes(b);

	return ((queue_writes(a) & rb) != 0 || (queue_writes(b) & ra) != 0);
}

int
queue_pick(const enum job_type *pending, size_t npending, const enum job_type *running,
	   size_t nrunning, size_t max_workers)
{
	size_t i, j;

	if (nrunning >= max_workers)
		return (-1);
	for (i = 0; i < npending; i++) {
		bool blocked = false;

		for (j = 0; j < nrunning && !blocked; j++)
			blocked = queue_conflicts(pending[i], running[j]);
		for (j = 0; j < i && !blocked; j++)
			blocked = queue_conflicts(pending[i], pending[j]);
		if (!blocked)
			return ((int)i);
	}
	return (-1);
}
