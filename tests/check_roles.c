/* check_roles.c: role_generation run in-process on small hand-made identity data written
 * straight into a temp store (identity_put), with the expected roles, members and
 * entitlements worked out by hand in each test. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/analysis_fixture.h"
#include "lib/testlib.h"
#include "results.h"

Suite *roles_suite(void);

static void
setup(void)
{
	af_setup("roles", AF_IDENTITY);
}

static void
teardown(void)
{
	af_teardown();
}

/* --- data ------------------------------------------------------------------------- */

static void
own(const char *id, const char *dept, const char *title)
{
	af_record(IDENT_OWNER, id, "department", dept, "title", title, "modified_at",
	    "2025-01-01T00:00:00Z", NULL);
}

static void
acc(const char *id, const char *owner)
{
	af_record(IDENT_ACCOUNT, id, "application_id", "app", "owner_id", owner, "modified_at",
	    "2025-01-01T00:00:00Z", NULL);
}

/* --- running -------------------------------------------------------------------- */

/* Run role_generation as job number no with parameters "k=v" (NULL-terminated). */
static struct af_job *
run(uint64_t no, int cancel_on, const char *const *params)
{
	struct af_job *t = af_job_new(JOB_ROLE_GENERATION, no, params);

	af_job_run(t, cancel_on);
	return t;
}

/* The fixture of test_generate (see the comments for the hand-derived answers). */
static void
base_data(void)
{
	/* engineering / senior engineer: 5 owners (one spells the department
	 * "Engineering": the same role name). g-a held by 4 of 5 = 0.8 exactly (a tie:
	 * qualifies); g-b by 3 of 5 (no); g-c by all 5, o01 through two accounts. */
	own("o01", "engineering", "Senior Engineer");
	own("o02", "engineering", "Senior Engineer");
	own("o03", "engineering", "Senior Engineer");
	own("o04", "engineering", "Senior Engineer");
	own("o05", "Engineering", "Senior Engineer");
	acc("a01", "o01");
	acc("a01b", "o01");
	acc("a02", "o02");
	acc("a03", "o03");
	acc("a04", "o04");
	acc("a05", "o05");
	af_membership("a01", "g-a");
	af_membership("a02", "g-a");
	af_membership("a03", "g-a");
	af_membership("a04", "g-a");
	af_membership("a01", "g-b");
	af_membership("a02", "g-b");
	af_membership("a03", "g-b");
	af_membership("a01", "g-c");
	af_membership("a01b", "g-c");
	af_membership("a02", "g-c");
	af_membership("a03", "g-c");
	af_membership("a04", "g-c");
	af_membership("a05", "g-c");

	/* sales / rep: 4 owners with it in their record, o11 has only the title and the
	 * enrichment overlay supplies the department: 5 members. o09's account has no
	 * owner_id but an enrichment link. g-s: o06..o09 = 4 of 5 (qualifies). */
	own("o06", "sales", "rep");
	own("o07", "sales", "rep");
	own("o08", "sales", "rep");
	own("o09", "sales", "rep");
	own("o11", NULL, "rep");
	af_res_put(RES_DB_OWNER_OVERLAY, "o11", "department", "sales", NULL, NULL);
	acc("a06", "o06");
	acc("a07", "o07");
	acc("a08", "o08");
	acc("a09", NULL);
	af_res_put(RES_DB_ACCOUNT_LINKS, "a09", "owner_id", "o09", "rule", "email");
	af_membership("a06", "g-s");
	af_membership("a07", "g-s");
	af_membership("a08", "g-s");
	af_membership("a09", "g-s");

	/* o10 has no title: in no role. An account of nobody and a membership of an
	 * account that does not exist count for no one. */
	own("o10", "engineering", NULL);
	acc("ax", "nobody");
	af_membership("ax", "g-b");
	af_membership("aghost", "g-b");
}

static const char base_roles[] =
    "engineering-senior_engineer attributes=[department,title] "
    "values=[Engineering,Senior Engineer] member_count=5 entitlements=[g-a,g-c]\n"
    "sales-rep attributes=[department,title] values=[sales,rep] member_count=5 "
    "entitlements=[g-s]\n";
static const char base_members[] =
    "engineering-senior_engineer/o01 role=engineering-senior_engineer owner_id=o01\n"
    "engineering-senior_engineer/o02 role=engineering-senior_engineer owner_id=o02\n"
    "engineering-senior_engineer/o03 role=engineering-senior_engineer owner_id=o03\n"
    "engineering-senior_engineer/o04 role=engineering-senior_engineer owner_id=o04\n"
    "engineering-senior_engineer/o05 role=engineering-senior_engineer owner_id=o05\n"
    "sales-rep/o06 role=sales-rep owner_id=o06\n"
    "sales-rep/o07 role=sales-rep owner_id=o07\n"
    "sales-rep/o08 role=sales-rep owner_id=o08\n"
    "sales-rep/o09 role=sales-rep owner_id=o09\n"
    "sales-rep/o11 role=sales-rep owner_id=o11\n";

START_TEST(test_generate)
{
	struct af_job *t;

	base_data();
	t = run(1, 0, NULL);
	af_expect(t, JOB_RUN_OK, 2, 0, 0);
	/* 11 owners read and placed, 11 accounts, 19 memberships. */
	ck_assert_int_eq(t->ctx.total, 11 * 2 + 11 + 19);
	ck_assert_int_eq(t->ctx.processed, t->ctx.total);
	ck_assert(!t->progress_went_back);
	ck_assert_msg(strstr(t->log, "1 owners lack one of the attributes") != NULL, "%s",
	    t->log);
	ck_assert_msg(strstr(t->steps, "Counting records;Reading owners;") == t->steps,
	    "%s", t->steps);
	af_expect_dump(RES_DB_ROLES, base_roles);
	af_expect_dump(RES_DB_ROLE_MEMBERS, base_members);
	af_job_free(t);
}
END_TEST

/* Only the owner records' own values: o11 stays out, sales-rep has 4 owners: no role. */
START_TEST(test_attribute_source)
{
	struct af_job *t;

	base_data();
	t = run(1, 0, (const char *const[]){"attribute_source=source", NULL});
	af_expect(t, JOB_RUN_OK, 1, 0, 0);
	af_expect_dump(RES_DB_ROLES,
	    "engineering-senior_engineer attributes=[department,title] "
	    "values=[Engineering,Senior Engineer] member_count=5 entitlements=[g-a,g-c]\n");
	ck_assert_msg(strstr(t->log, "1 cohorts with 4 owners are below min_members 5") !=
	    NULL, "%s", t->log);
	af_job_free(t);
}
END_TEST

/* Without the enrichment link a09 belongs to nobody: g-s has 3 of 5 holders. */
START_TEST(test_owner_id_without_link)
{
	struct af_job *t;

	base_data();
	af_res_del(RES_DB_ACCOUNT_LINKS, "a09");
	t = run(1, 0, NULL);
	af_expect(t, JOB_RUN_OK, 2, 0, 0);
	af_expect_dump(RES_DB_ROLES, "engineering-senior_engineer attributes=[department,title] "
	    "values=[Engineering,Senior Engineer] member_count=5 entitlements=[g-a,g-c]\n"
	    "sales-rep attributes=[department,title] values=[sales,rep] member_count=5 "
	    "entitlements=[]\n");
	af_job_free(t);
}
END_TEST

/* Same data twice: byte-identical databases, 0/0/0; then one role gains a member, one
 * falls below min_members, one appears: exactly 1/1/1. */
START_TEST(test_rerun_and_changes)
{
	struct af_job *t;
	char *roles1, *members1, *roles2, *members2;

	base_data();
	t = run(1, 0, NULL);
	af_expect(t, JOB_RUN_OK, 2, 0, 0);
	af_job_free(t);
	roles1 = af_dump(RES_DB_ROLES, true);
	members1 = af_dump(RES_DB_ROLE_MEMBERS, true);

	t = run(2, 0, NULL);
	af_expect(t, JOB_RUN_OK, 0, 0, 0);
	af_job_free(t);
	roles2 = af_dump(RES_DB_ROLES, true);
	members2 = af_dump(RES_DB_ROLE_MEMBERS, true);
	ck_assert_str_eq(roles1, roles2);
	ck_assert_str_eq(members1, members2);
	free(roles1);
	free(roles2);
	free(members1);
	free(members2);

	/* o12 joins engineering-senior_engineer holding g-a: g-a 5/6, g-c 5/6 (>= 0.8):
	 * entitlements unchanged, members changed -> updated. Without its overlay value o11
	 * leaves sales-rep (4 owners) -> deleted. it-admin appears with 5 owners, all in
	 * g-i, 1 in g-x -> created. */
	own("o12", "engineering", "Senior Engineer");
	acc("a12", "o12");
	af_membership("a12", "g-a");
	af_res_del(RES_DB_OWNER_OVERLAY, "o11");
	own("o20", "IT", "Admin");
	own("o21", "IT", "Admin");
	own("o22", "IT", "Admin");
	own("o23", "IT", "Admin");
	own("o24", "IT", "Admin");
	acc("a20", "o20");
	acc("a21", "o21");
	acc("a22", "o22");
	acc("a23", "o23");
	acc("a24", "o24");
	af_membership("a20", "g-i");
	af_membership("a21", "g-i");
	af_membership("a22", "g-i");
	af_membership("a23", "g-i");
	af_membership("a24", "g-i");
	af_membership("a24", "g-x");
	t = run(3, 0, NULL);
	af_expect(t, JOB_RUN_OK, 1, 1, 1);
	af_job_free(t);
	af_expect_dump(RES_DB_ROLES,
	    "engineering-senior_engineer attributes=[department,title] "
	    "values=[Engineering,Senior Engineer] member_count=6 entitlements=[g-a,g-c]\n"
	    "it-admin attributes=[department,title] values=[IT,Admin] member_count=5 "
	    "entitlements=[g-i]\n");
	af_expect_dump(RES_DB_ROLE_MEMBERS,
	    "engineering-senior_engineer/o01 role=engineering-senior_engineer owner_id=o01\n"
	    "engineering-senior_engineer/o02 role=engineering-senior_engineer owner_id=o02\n"
	    "engineering-senior_engineer/o03 role=engineering-senior_engineer owner_id=o03\n"
	    "engineering-senior_engineer/o04 role=engineering-senior_engineer owner_id=o04\n"
	    "engineering-senior_engineer/o05 role=engineering-senior_engineer owner_id=o05\n"
	    "engineering-senior_engineer/o12 role=engineering-senior_engineer owner_id=o12\n"
	    "it-admin/o20 role=it-admin owner_id=o20\n"
	    "it-admin/o21 role=it-admin owner_id=o21\n"
	    "it-admin/o22 role=it-admin owner_id=o22\n"
	    "it-admin/o23 role=it-admin owner_id=o23\n"
	    "it-admin/o24 role=it-admin owner_id=o24\n");

	/* An entitlement change alone: o01..o03 lose g-c (g-c 3/6 < 0.8) -> updated. */
	af_del_membership("a01", "g-c");
	af_del_membership("a01b", "g-c");
	af_del_membership("a02", "g-c");
	af_del_membership("a03", "g-c");
	t = run(4, 0, NULL);
	af_expect(t, JOB_RUN_OK, 0, 1, 0);
	af_job_free(t);
	t = run(5, 0, NULL);
	af_expect(t, JOB_RUN_OK, 0, 0, 0);
	af_job_free(t);
}
END_TEST

/* 10 owners: with min_share 0.7 a group held by 7 qualifies (7 * 10^9 >= 0.7 * 10^9 * 10
 * exactly; in floating point 0.7 * 10 > 7), one held by 6 does not; 0.71 drops both. A
 * cohort of 10 with min_members 11 is just below: no role. */
START_TEST(test_share_ties_and_min_members)
{
	struct af_job *t;
	char id[16], a[16];
	int i;

	for (i = 0; i < 10; i++) {
		snprintf(id, sizeof id, "p%02d", i);
		snprintf(a, sizeof a, "b%02d", i);
		own(id, "ops", "clerk");
		acc(a, id);
		if (i < 7)
			af_membership(a, "g7");
		if (i < 6)
			af_membership(a, "g6");
	}
	t = run(1, 0, (const char *const[]){"min_share=0.7", NULL});
	af_expect(t, JOB_RUN_OK, 1, 0, 0);
	af_job_free(t);
	af_expect_dump(RES_DB_ROLES, "ops-clerk attributes=[department,title] "
	    "values=[ops,clerk] member_count=10 entitlements=[g7]\n");

	t = run(2, 0, (const char *const[]){"min_share=0.71", NULL});
	af_expect(t, JOB_RUN_OK, 0, 1, 0);
	af_job_free(t);
	af_expect_dump(RES_DB_ROLES, "ops-clerk attributes=[department,title] "
	    "values=[ops,clerk] member_count=10 entitlements=[]\n");

	t = run(3, 0, (const char *const[]){"min_share=0.6", "min_members=10", NULL});
	af_expect(t, JOB_RUN_OK, 0, 1, 0);
	af_job_free(t);
	af_expect_dump(RES_DB_ROLES, "ops-clerk attributes=[department,title] "
	    "values=[ops,clerk] member_count=10 entitlements=[g6,g7]\n");

	t = run(4, 0, (const char *const[]){"min_members=11", NULL});
	af_expect(t, JOB_RUN_OK, 0, 0, 1);
	af_job_free(t);
	af_expect_dump(RES_DB_ROLES, "");
	af_expect_dump(RES_DB_ROLE_MEMBERS, "");
}
END_TEST

/* Role names from non-ASCII values: letters kept and lowercased, the rest '_'. */
START_TEST(test_unicode_names)
{
	struct af_job *t;
	char id[16];
	int i;

	for (i = 0; i < 5; i++) {
		snprintf(id, sizeof id, "u%d", i);
		own(id, "Forschung & Entwicklung", "Ingénieur Zürich");
		snprintf(id, sizeof id, "v%d", i);
		own(id, "ÅNGSTRÖM", "Отдел продаж");
	}
	t = run(1, 0, NULL);
	af_expect(t, JOB_RUN_OK, 2, 0, 0);
	af_job_free(t);
	/* Byte order: 'f' (0x66) before 0xc3 ('å' in UTF-8). */
	af_expect_dump(RES_DB_ROLES,
	    "forschung___entwicklung-ingénieur_zürich attributes=[department,title] "
	    "values=[Forschung & Entwicklung,Ingénieur Zürich] member_count=5 "
	    "entitlements=[]\n"
	    "ångström-отдел_продаж attributes=[department,title] "
	    "values=[ÅNGSTRÖM,Отдел продаж] member_count=5 entitlements=[]\n");

	/* One attribute only. */
	t = run(2, 0, (const char *const[]){"attributes=title", NULL});
	af_expect(t, JOB_RUN_OK, 2, 0, 2);
	af_job_free(t);
	af_expect_dump(RES_DB_ROLES,
	    "ingénieur_zürich attributes=[title] values=[Ingénieur Zürich] member_count=5 "
	    "entitlements=[]\n"
	    "отдел_продаж attributes=[title] values=[Отдел продаж] member_count=5 "
	    "entitlements=[]\n");
}
END_TEST

/* No owners at all, and owners none of whom has the attributes: no roles, no error. */
START_TEST(test_empty)
{
	struct af_job *t;

	t = run(1, 0, NULL);
	af_expect(t, JOB_RUN_OK, 0, 0, 0);
	ck_assert_int_eq(t->ctx.total, 0);
	af_job_free(t);
	own("x1", NULL, NULL);
	own("x2", "d", NULL);
	t = run(2, 0, NULL);
	af_expect(t, JOB_RUN_OK, 0, 0, 0);
	ck_assert_msg(strstr(t->log, "2 owners lack one of the attributes") != NULL, "%s",
	    t->log);
	af_job_free(t);
	af_expect_dump(RES_DB_ROLES, "");
}
END_TEST

static void
expect_param_error(const char *param, const char *want)
{
	struct af_job *t = run(1, 0, (const char *const[]){param, NULL});

	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_msg(t->error != NULL && strstr(t->error, want) != NULL, "%s: %s", param,
	    t->error);
	af_job_free(t);
}

START_TEST(test_bad_parameters)
{
	expect_param_error("min_share=0", "parameter min_share");
	expect_param_error("min_share=1.5", "parameter min_share");
	expect_param_error("min_share=0.8x", "parameter min_share");
	expect_param_error("min_share=80%", "parameter min_share");
	expect_param_error("min_members=0", "parameter min_members");
	expect_param_error("min_members=five", "parameter min_members");
	expect_param_error("attributes=", "parameter attributes");
	expect_param_error("attributes=title,title", "parameter attributes");
	expect_param_error("attributes=ti tle", "parameter attributes");
	expect_param_error("attribute_source=hr", "parameter attribute_source");
}
END_TEST

/* Cancelled while writing members (batch_size 1): the roles are committed, some members
 * are; the next run finishes the members and counts the role updated. */
START_TEST(test_cancel)
{
	struct af_job *t;
	int calls;

	base_data();
	t = run(1, 0, (const char *const[]){"batch_size=1", NULL});
	af_expect(t, JOB_RUN_OK, 2, 0, 0);
	calls = t->cancel_calls;
	af_job_free(t);

	teardown();
	setup();
	base_data();
	/* The last few cancellation checks are in the member writing, one per member. */
	t = run(1, calls - 3, (const char *const[]){"batch_size=1", NULL});
	ck_assert_int_eq(t->rv, JOB_RUN_CANCELLED);
	ck_assert(t->ctx.was_cancelled);
	af_expect(t, JOB_RUN_CANCELLED, 2, 0, 0);
	af_job_free(t);
	af_expect_dump(RES_DB_ROLES, base_roles);
	/* 10 members: 7 written before the cancellation. */
	{
		char *m = af_dump(RES_DB_ROLE_MEMBERS, false);
		int n = tl_count_lines(m, "owner_id=");

		ck_assert_msg(n == 7, "%d members:\n%s", n, m);
		free(m);
	}
	t = run(2, 0, NULL);
	af_expect(t, JOB_RUN_OK, 0, 1, 0);
	af_job_free(t);
	af_expect_dump(RES_DB_ROLE_MEMBERS, base_members);
}
END_TEST

Suite *
roles_suite(void)
{
	Suite *s = suite_create("roles");
	TCase *tc = tcase_create("roles");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_generate);
	tcase_add_test(tc, test_attribute_source);
	tcase_add_test(tc, test_owner_id_without_link);
	tcase_add_test(tc, test_rerun_and_changes);
	tcase_add_test(tc, test_share_ties_and_min_members);
	tcase_add_test(tc, test_unicode_names);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_bad_parameters);
	tcase_add_test(tc, test_cancel);
	suite_add_tcase(s, tc);
	return s;
}
