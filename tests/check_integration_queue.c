/* check_integration_queue.c: scheduling by a real jobsd, observed through job records:
 * max_workers bounds concurrency, jobs touching different data run side by side, a job
 * that conflicts with a running one stays pending, and conflicting jobs start in
 * submission order (a later job never overtakes an earlier conflicting one). */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "lib/testlib.h"

#define JOBCTL(d, r, ...) tl_jobctl((d), (r), __VA_ARGS__, (const char *)NULL)

static void
expect_status(struct tl_daemon *d, const char *id, enum job_status st)
{
	struct job jb;

	ck_assert_int_eq(tl_job(d, id, false, &jb), 0);
	ck_assert_msg(jb.status == st, "%s is %s, expected %s", id, job_status_name(jb.status),
		      job_status_name(st));
	job_free(&jb);
}

static void
finished(struct tl_daemon *d, const char *id, struct job *jb)
{
	ck_assert_msg(tl_wait_job(d, id, tl_pred_final, NULL, 30000, jb) == 0, "%s never ended",
		      id);
	ck_assert_msg(jb->status == JOB_COMPLETED, "%s %s: %s", id, job_status_name(jb->status),
		      jb->error != NULL ? jb->error : "");
	ck_assert(jb->start_ms != JOB_NULL && jb->end_ms != JOB_NULL);
}

START_TEST(test_conflicts_and_max_workers)
{
	struct tl_daemon *d = tl_daemon_new(&(struct tl_opts){.max_workers = 2});
	char a[32], b[32], e[32], c[32], dd[32];
	struct job ja, jb, je, jc, jd;
	struct tl_run r;
	yajl_val v;

	tl_daemon_start(d);
	/* owners and applications: no shared data, both run at once. */
	tl_submit(d, a, "owner_sync", "delay_ms=300", "batch_size=1", NULL);
	tl_submit(d, b, "application_sync", "delay_ms=600", "batch_size=1", NULL);
	ck_assert(tl_wait_status(d, a, JOB_RUNNING, 10000, &ja) == 0);
	job_free(&ja);
	ck_assert(tl_wait_status(d, b, JOB_RUNNING, 10000, &jb) == 0);
	job_free(&jb);

	ck_assert_int_eq(JOBCTL(d, &r, "--json", "running"), 0);
	v = tl_json(r.out);
	ck_assert_msg(v != NULL && YAJL_IS_ARRAY(tl_jget(v, "jobs")) &&
			      tl_jget(v, "jobs")->u.array.len == 2,
		      "%s", r.out);
	yajl_tree_free(v);
	tl_run_free(&r);

	/* accounts conflict with neither, but both workers are busy. */
	tl_submit(d, e, "account_sync", "delay_ms=50", "batch_size=2", NULL);
	expect_status(d, e, JOB_PENDING);
	/* A full sync conflicts with everything; an owner sync after it must not overtake it. */
	tl_submit(d, c, "full_sync", NULL);
	tl_submit(d, dd, "owner_sync", NULL);
	expect_status(d, c, JOB_PENDING);
	expect_status(d, dd, JOB_PENDING);

	finished(d, a, &ja);
	finished(d, b, &jb);
	finished(d, e, &je);
	finished(d, c, &jc);
	finished(d, dd, &jd);

	/* e waited for a free worker, c for every job it conflicts with, dd for c. */
	ck_assert_msg(je.start_ms >= (ja.end_ms < jb.end_ms ? ja.end_ms : jb.end_ms),
		      "account_sync started before a worker was free");
	ck_assert_msg(jc.start_ms >= ja.end_ms && jc.start_ms >= jb.end_ms &&
			      jc.start_ms >= je.end_ms,
		      "full_sync overlapped a conflicting job");
	ck_assert_msg(jd.start_ms >= jc.end_ms, "owner_sync overtook the earlier full_sync");
	/* a ran alongside b. */
	ck_assert(ja.start_ms < jb.end_ms && jb.start_ms < ja.end_ms);

	/* Counters of the small fixture: the first owner/application/account syncs created
	 * 5, 2 and 8; the full sync then created only groups (3) and memberships (6). */
	ck_assert_int_eq(ja.records_created, 5);
	ck_assert_int_eq(jb.records_created, 2);
	ck_assert_int_eq(je.records_created, 8);
	ck_assert_int_eq(jc.records_created, 9);
	ck_assert_int_eq(jc.records_updated, 0);
	ck_assert_int_eq(jd.records_created, 0);
	job_free(&ja);
	job_free(&jb);
	job_free(&je);
	job_free(&jc);
	job_free(&jd);
}
END_TEST

Suite *integration_queue_suite(void);

Suite *
integration_queue_suite(void)
{
	Suite *s = suite_create("integration_queue");
	TCase *tc = tl_tcase("queue", 60);

	tcase_add_test(tc, test_conflicts_and_max_workers);
	suite_add_tcase(s, tc);
	return (s);
}
