/* check_queue.c: daemon/queue.c: the conflict table (written out by hand from DESIGN.md
 * section 4 and the reads/writes documented in queue.c), FIFO order, max_workers, and
 * overtaking a job blocked by a conflict. */
#include <check.h>
#include <stdlib.h>

#include "jobsd.h"

#define F JOB_FULL_SYNC
#define I JOB_INCREMENTAL_SYNC
#define AC JOB_ACCOUNT_SYNC
#define OW JOB_OWNER_SYNC
#define GR JOB_GROUP_SYNC
#define AP JOB_APPLICATION_SYNC
#define RG JOB_ROLE_GENERATION
#define PA JOB_POLICY_ANALYSIS
#define MR JOB_MANAGER_RESOLUTION
#define EN JOB_ENRICHMENT

/* 1 = may not run together. Rows and columns in enum order:
 * full incr account owner group application role policy manager enrichment */
static const int expect[JOB_TYPE_COUNT][JOB_TYPE_COUNT] = {
	/* full */ {1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
	/* incr */ {1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
	/* account */ {1, 1, 1, 0, 0, 0, 1, 1, 0, 1},
	/* owner */ {1, 1, 0, 1, 0, 0, 1, 1, 1, 1},
	/* group */ {1, 1, 0, 0, 1, 0, 1, 1, 0, 0},
	/* application */ {1, 1, 0, 0, 0, 1, 0, 0, 0, 1},
	/* role_generation */ {1, 1, 1, 1, 1, 0, 1, 1, 1, 1},
	/* policy_analysis */ {1, 1, 1, 1, 1, 0, 1, 1, 1, 1},
	/* manager_resolution */ {1, 1, 0, 1, 0, 0, 1, 1, 1, 1},
	/* enrichment */ {1, 1, 1, 1, 0, 1, 1, 1, 1, 1},
};

START_TEST(test_conflict_table)
{
	int a = _i / JOB_TYPE_COUNT, b = _i % JOB_TYPE_COUNT;

	ck_assert_msg(queue_conflicts((enum job_type)a, (enum job_type)b) == expect[a][b],
		      "%s vs %s: want %d", job_type_name((enum job_type)a),
		      job_type_name((enum job_type)b), expect[a][b]);
}
END_TEST

START_TEST(test_is_sync)
{
	ck_assert(queue_is_sync(F));
	ck_assert(queue_is_sync(I));
	ck_assert(queue_is_sync(AC));
	ck_assert(queue_is_sync(OW));
	ck_assert(queue_is_sync(GR));
	ck_assert(queue_is_sync(AP));
	ck_assert(!queue_is_sync(RG));
	ck_assert(!queue_is_sync(PA));
	ck_assert(!queue_is_sync(MR));
	ck_assert(!queue_is_sync(EN));
}
END_TEST

START_TEST(test_fifo)
{
	enum job_type p[] = {AC, OW, AP};

	ck_assert_int_eq(queue_pick(p, 3, NULL, 0, 2), 0);
	ck_assert_int_eq(queue_pick(NULL, 0, NULL, 0, 2), -1);
	/* the same type twice: one at a time, in order */
	{
		enum job_type q[] = {F, F}, r[] = {F};
		ck_assert_int_eq(queue_pick(q, 2, NULL, 0, 4), 0);
		ck_assert_int_eq(queue_pick(q + 1, 1, r, 1, 4), -1);
	}
}
END_TEST

START_TEST(test_max_workers)
{
	enum job_type p[] = {AP}, r[] = {AC, OW};

	ck_assert_int_eq(queue_pick(p, 1, r, 2, 2), -1);
	ck_assert_int_eq(queue_pick(p, 1, r, 2, 3), 0);
	ck_assert_int_eq(queue_pick(p, 1, r, 1, 1), -1);
}
END_TEST

START_TEST(test_overtake_blocked_head)
{
	/* manager_resolution waits for owner_sync; application_sync may go first */
	{
		enum job_type p[] = {MR, AP}, r[] = {OW};
		ck_assert_int_eq(queue_pick(p, 2, r, 1, 2), 1);
	}
	/* owner_sync does not conflict with the running account_sync, but it would overtake
	 * the blocked full_sync it conflicts with: nothing starts */
	{
		enum job_type p[] = {F, OW}, r[] = {AC};
		ck_assert_int_eq(queue_pick(p, 2, r, 1, 4), -1);
	}
	/* role_generation waits for group_sync; application_sync overtakes it, account_sync
	 * may not (role_generation reads accounts) */
	{
		enum job_type p[] = {RG, AP, AC}, r[] = {GR};
		ck_assert_int_eq(queue_pick(p, 3, r, 1, 4), 1);
	}
	{
		enum job_type p[] = {RG, AC}, r[] = {GR, AP};
		ck_assert_int_eq(queue_pick(p, 2, r, 2, 4), -1);
	}
	/* once the head may start it starts, even if later jobs could too */
	{
		enum job_type p[] = {RG, AP}, r[] = {AP};
		ck_assert_int_eq(queue_pick(p, 2, r, 1, 4), 0);
	}
}
END_TEST

Suite *queue_suite(void);

Suite *
queue_suite(void)
{
	Suite *s = suite_create("queue");
	TCase *tc = tcase_create("queue");

	tcase_add_loop_test(tc, test_conflict_table, 0, JOB_TYPE_COUNT * JOB_TYPE_COUNT);
	tcase_add_test(tc, test_is_sync);
	tcase_add_test(tc, test_fifo);
	tcase_add_test(tc, test_max_workers);
	tcase_add_test(tc, test_overtake_blocked_head);
	suite_add_tcase(s, tc);
	return (s);
}
