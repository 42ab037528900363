/* job_query.c: a list query's defaults and ordering, apart from cursor.c so that code
 * which only queries jobs (store_jobs.c, linked into jobsd-worker) does not pull in
 * cursor.c's HMAC and with it libcrypto (about a millisecond of dynamic linking per
 * worker start). */
#include <string.h>

#include "cursor.h"

void
job_query_init(struct job_query *q)
{
	memset(q, 0, sizeof(*q));
	q->status = -1;
	q->type = -1;
	q->first = 50;
}

bool
job_query_by_start(const struct job_query *q)
{
	return (q->has_from || q->has_to);
}
