/* check_managers.c: the manager_resolution job run in-process on hand-made owner records
 * written with identity_put into a store in a temp dir. Every expected depth, state,
 * cycle and counter below is derived by hand from the records written in the test. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "lib/analysis_fixture.h"
#include "lib/testlib.h"
#include "results.h"
#include "store.h"

Suite *managers_suite(void);

static void
setup(void)
{
	af_setup("mgr", 0);
}

static void
teardown(void)
{
	af_teardown();
}

/* Run manager_resolution with the parameters "k=v"... NULL; conf's manager_ref conf_ref. */
static struct af_job *
run(const char *conf_ref, int cancel_on, ...)
{
	struct af_job *t;
	va_list ap;

	va_start(ap, cancel_on);
	t = af_job_newv(JOB_MANAGER_RESOLUTION, 7, ap);
	va_end(ap);
	snprintf(t->conf.manager_ref, sizeof t->conf.manager_ref, "%s", conf_ref);
	t->conf.max_delete_percent = 20;
	af_job_run(t, cancel_on);
	return t;
}

/* The outcome and counters, and progress never went back. */
static void
expect(struct af_job *t, int rv, int64_t c, int64_t u, int64_t d)
{
	af_expect(t, rv, c, u, d);
	ck_assert(!t->progress_went_back);
}

/* The usual owner: id, employee id, display name, email, manager reference. */
static void
own(const char *id, const char *eid, const char *name, const char *email, const char *mgr)
{
	af_record(IDENT_OWNER, id, "employee_id", eid, "display_name", name, "email", email,
	    "manager", mgr, NULL);
}

/* owner_managers record of id: manager_ref, manager_id, ref_kind, depth, state. */
static void
expect_om(const char *id, const char *ref, const char *mid, const char *kind,
    const char *depth, const char *state)
{
	char *want = xasprintf("manager_ref=%s;manager_id=%s;ref_kind=%s;depth=%s;state=%s;",
	    ref ? ref : "nil", mid ? mid : "nil", kind ? kind : "nil", depth, state);

	af_expect_res(RES_DB_OWNER_MANAGERS, id, want);
	free(want);
}

/* A chain of depth 5 through every reference form, Unicode names and emails. */
static void
chain(void)
{
	own("own-1", "E1", "Ada Lovelace", "ada@example.com", NULL);
	own("own-2", "E2", "Zoë Núñez", "zoë.núñez@example.com", "E1");
	own("own-3", "E3", "Łukasz Ångström", "lukasz@example.com", "Zoë.Núñez@Example.COM");
	own("own-4", "E4", "O'Brien, Jr.", "obrien@example.com",
	    "CN=E3,OU=Engineering,DC=example,DC=com");
	/* A DN whose CN is no employee id: the unique display name, escapes undone. */
	own("own-5", "E5", "Dora Ünal", "dora@example.com",
	    "cn=O'Brien\\, Jr.,OU=Legal,DC=example,DC=com");
	own("own-6", "E6", "Sam Smith", "sam@example.com", "e5");
}

START_TEST(chain_and_forms)
{
	struct af_job *t;

	chain();
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 6, 0, 0);
	ck_assert_int_eq(t->ctx.total, 6);
	ck_assert_int_eq(t->ctx.processed, 6);
	af_job_free(t);
	expect_om("own-1", NULL, NULL, NULL, "0", "top");
	expect_om("own-2", "E1", "own-1", "employee_id", "1", "ok");
	expect_om("own-3", "Zoë.Núñez@Example.COM", "own-2", "email", "2", "ok");
	expect_om("own-4", "CN=E3,OU=Engineering,DC=example,DC=com", "own-3", "dn", "3", "ok");
	expect_om("own-5", "cn=O'Brien\\, Jr.,OU=Legal,DC=example,DC=com", "own-4", "dn", "4",
	    "ok");
	expect_om("own-6", "e5", "own-5", "employee_id", "5", "ok");
	ck_assert_uint_eq(af_count_db(RES_DB_MANAGER_ISSUES), 0);

	/* Second run, nothing changed: nothing counted, nothing rewritten. */
	t = run("", 0, NULL);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	af_job_free(t);
}
END_TEST

START_TEST(cycles)
{
	struct af_job *t;
	char id[16], eid[16], mgr[16], *want, *s;
	int i;

	/* Self-managed. */
	own("own-s", "ES", "Self", "self@example.com", "ES");
	/* Length 2 (by email both ways). */
	own("own-a1", "EA1", "A one", "a1@example.com", "a2@example.com");
	own("own-a2", "EA2", "A two", "a2@example.com", "a1@example.com");
	/* Length 3, entered from its largest id: b3 -> b1 -> b2 -> b3. */
	own("own-b1", "EB1", "B one", "b1@example.com", "EB2");
	own("own-b2", "EB2", "B two", "b2@example.com", "EB3");
	own("own-b3", "EB3", "B three", "b3@example.com", "EB1");
	/* Reporting into the 3-cycle without being in it, and one level below that. */
	own("own-b4", "EB4", "B four", "b4@example.com", "EB2");
	own("own-b5", "EB5", "B five", "b5@example.com", "EB4");
	/* Length 50: cyc-01 -> cyc-02 -> ... -> cyc-50 -> cyc-01. */
	for (i = 1; i <= 50; i++) {
		snprintf(id, sizeof id, "cyc-%02d", i);
		snprintf(eid, sizeof eid, "C%02d", i);
		snprintf(mgr, sizeof mgr, "C%02d", i % 50 + 1);
		own(id, eid, "Cyc", NULL, mgr);
	}
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 58, 0, 0);
	ck_assert_msg(strstr(t->log, "manager cycle of length 1: own-s\n") != NULL, "%s",
	    t->log);
	ck_assert(strstr(t->log, "manager cycle of length 2: own-a1 -> own-a2\n") != NULL);
	ck_assert(strstr(t->log, "manager cycle of length 3: own-b1 -> own-b2 -> own-b3\n") !=
	    NULL);
	ck_assert(strstr(t->log, "manager cycle of length 50: cyc-01 -> cyc-02") != NULL);
	ck_assert(strstr(t->log, "4 cycles with 56 owners") != NULL);
	af_job_free(t);

	expect_om("own-s", "ES", "own-s", "employee_id", "nil", "self");
	expect_om("own-a1", "a2@example.com", "own-a2", "email", "nil", "cycle");
	expect_om("own-a2", "a1@example.com", "own-a1", "email", "nil", "cycle");
	expect_om("own-b1", "EB2", "own-b2", "employee_id", "nil", "cycle");
	expect_om("own-b3", "EB1", "own-b1", "employee_id", "nil", "cycle");
	expect_om("own-b4", "EB2", "own-b2", "employee_id", "nil", "ok");
	expect_om("own-b5", "EB4", "own-b4", "employee_id", "nil", "ok");
	expect_om("cyc-50", "C01", "cyc-01", "employee_id", "nil", "cycle");
	expect_om("cyc-17", "C18", "cyc-18", "employee_id", "nil", "cycle");

	ck_assert_uint_eq(af_count_db(RES_DB_MANAGER_ISSUES), 4);
	af_expect_res(RES_DB_MANAGER_ISSUES, "cycle:own-s", "kind=cycle;members=[own-s];length=1;");
	af_expect_res(RES_DB_MANAGER_ISSUES, "cycle:own-a1",
	    "kind=cycle;members=[own-a1,own-a2];length=2;");
	af_expect_res(RES_DB_MANAGER_ISSUES, "cycle:own-b1",
	    "kind=cycle;members=[own-b1,own-b2,own-b3];length=3;");
	want = xstrdup("kind=cycle;members=[");
	for (i = 1; i <= 50; i++) {
		s = xasprintf("%scyc-%02d%s", want, i, i < 50 ? "," : "];length=50;");
		free(want);
		want = s;
	}
	af_expect_res(RES_DB_MANAGER_ISSUES, "cycle:cyc-01", want);
	free(want);
	af_expect_res(RES_DB_MANAGER_ISSUES, "cycle:cyc-02", NULL);

	/* Break the 3-cycle: b1 now reports to nobody. b1 top (0), b3 1, b2 2, b4 3, b5 4;
	 * five owners change; the cycle's issue goes (not counted: issues are not owners). */
	own("own-b1", "EB1", "B one", "b1@example.com", NULL);
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 0, 5, 0);
	af_job_free(t);
	expect_om("own-b1", NULL, NULL, NULL, "0", "top");
	expect_om("own-b3", "EB1", "own-b1", "employee_id", "1", "ok");
	expect_om("own-b2", "EB3", "own-b3", "employee_id", "2", "ok");
	expect_om("own-b4", "EB2", "own-b2", "employee_id", "3", "ok");
	expect_om("own-b5", "EB4", "own-b4", "employee_id", "4", "ok");
	af_expect_res(RES_DB_MANAGER_ISSUES, "cycle:own-b1", NULL);
	ck_assert_uint_eq(af_count_db(RES_DB_MANAGER_ISSUES), 3);
}
END_TEST

START_TEST(dangling_and_ambiguous)
{
	struct af_job *t;

	own("own-1", "E1", "Top", "top@example.com", NULL);
	own("own-2", "E2", "Dangling id", "d2@example.com", "E999");
	own("own-3", "E3", "Dangling email", "d3@example.com", "gone@example.com");
	own("own-4", "E4", "Dangling DN", "d4@example.com", "CN=E998,OU=X,DC=example,DC=com");
	own("own-5", "E5", "Under dangling", "d5@example.com", "E2");
	/* Two owners share an email: a reference by it is ambiguous, so not resolved. */
	own("own-6", "E6", "Twin one", "twin@example.com", "E1");
	own("own-7", "E7", "Twin two", "TWIN@example.com", "E1");
	own("own-8", "E8", "Reports to a twin", "r8@example.com", "twin@example.com");
	/* Missing attributes: no employee id, email or name at all; a manager by id. */
	af_record(IDENT_OWNER, "own-9", "manager", "E1", NULL);
	/* Nothing but its id. */
	af_record(IDENT_OWNER, "own-10", NULL);
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 10, 0, 0);
	ck_assert_msg(strstr(t->log, "own-2: manager 'E999' (employee_id) matches no owner") !=
	    NULL, "%s", t->log);
	ck_assert(strstr(t->log, "own-8: manager 'twin@example.com' (email) matches several "
	    "owners (ambiguous, not resolved)") != NULL);
	ck_assert(strstr(t->log, "10 owners: 4 with a missing manager (1 ambiguous), 0 cycles "
	    "with 0 owners") != NULL);
	af_job_free(t);
	expect_om("own-2", "E999", NULL, "employee_id", "nil", "missing");
	expect_om("own-3", "gone@example.com", NULL, "email", "nil", "missing");
	expect_om("own-4", "CN=E998,OU=X,DC=example,DC=com", NULL, "dn", "nil", "missing");
	expect_om("own-5", "E2", "own-2", "employee_id", "nil", "ok");
	expect_om("own-6", "E1", "own-1", "employee_id", "1", "ok");
	expect_om("own-8", "twin@example.com", NULL, "email", "nil", "missing");
	expect_om("own-9", "E1", "own-1", "employee_id", "1", "ok");
	expect_om("own-10", NULL, NULL, NULL, "0", "top");
	ck_assert_uint_eq(af_count_db(RES_DB_MANAGER_ISSUES), 4);
	af_expect_res(RES_DB_MANAGER_ISSUES, "missing:own-2",
	    "kind=missing;owner_id=own-2;manager_ref=E999;");
	af_expect_res(RES_DB_MANAGER_ISSUES, "missing:own-3",
	    "kind=missing;owner_id=own-3;manager_ref=gone@example.com;");
	af_expect_res(RES_DB_MANAGER_ISSUES, "missing:own-4",
	    "kind=missing;owner_id=own-4;manager_ref=CN=E998,OU=X,DC=example,DC=com;");
	af_expect_res(RES_DB_MANAGER_ISSUES, "missing:own-8",
	    "kind=missing;owner_id=own-8;manager_ref=twin@example.com;");

	/* The manager appears (depth 1): own-2 resolves (depth 2), own-5 gets depth 3; own-11
	 * is new. */
	own("own-11", "E999", "Found", "found@example.com", "E1");
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 1, 2, 0);
	af_job_free(t);
	expect_om("own-2", "E999", "own-11", "employee_id", "2", "ok");
	expect_om("own-5", "E2", "own-2", "employee_id", "3", "ok");
	af_expect_res(RES_DB_MANAGER_ISSUES, "missing:own-2", NULL);
	ck_assert_uint_eq(af_count_db(RES_DB_MANAGER_ISSUES), 3);

	/* An owner disappears: its record is deleted, its report's manager is missing. */
	af_del(IDENT_OWNER, "own-11");
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 0, 2, 1);
	af_job_free(t);
	af_expect_res(RES_DB_OWNER_MANAGERS, "own-11", NULL);
	expect_om("own-2", "E999", NULL, "employee_id", "nil", "missing");
	expect_om("own-5", "E2", "own-2", "employee_id", "nil", "ok");
	ck_assert_uint_eq(af_count_db(RES_DB_OWNER_MANAGERS), 10);
}
END_TEST

/* r (top); a, b under r; a1, a2 under a; a11 under a1. */
static void
tree(void)
{
	own("r", "R", "Root", "r@example.com", NULL);
	own("a", "A", "A", "a@example.com", "R");
	own("b", "B", "B", "b@example.com", "R");
	own("a1", "A1", "A1", "a1@example.com", "A");
	own("a2", "A2", "A2", "a2@example.com", "A");
	own("a11", "A11", "A11", "a11@example.com", "A1");
}

START_TEST(changed_manager)
{
	struct af_job *t;

	tree();
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 6, 0, 0);
	af_job_free(t);
	expect_om("a11", "A1", "a1", "employee_id", "3", "ok");

	/* a moves under b: a 1 -> 2 (and its manager), a1 2 -> 3, a2 2 -> 3, a11 3 -> 4; r and
	 * b are unchanged. Exactly 4 updated. */
	own("a", "A", "A", "a@example.com", "B");
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 0, 4, 0);
	af_job_free(t);
	expect_om("a", "B", "b", "employee_id", "2", "ok");
	expect_om("a1", "A", "a", "employee_id", "3", "ok");
	expect_om("a2", "A", "a", "employee_id", "3", "ok");
	expect_om("a11", "A1", "a1", "employee_id", "4", "ok");
	expect_om("b", "R", "r", "employee_id", "1", "ok");

	/* Same manager, another form of reference: rewritten, not counted. */
	own("a2", "A2", "A2", "a2@example.com", "a@example.com");
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	af_job_free(t);
	expect_om("a2", "a@example.com", "a", "email", "3", "ok");

	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	af_job_free(t);
}
END_TEST

START_TEST(reference_mode)
{
	struct af_job *t;

	/* own-3's manager column holds an email-looking employee id; own-4 a DN. */
	own("own-1", "E1", "One", "one@example.com", NULL);
	own("own-2", "x@y", "Two", "two@example.com", "E1");
	own("own-3", "E3", "Three", "three@example.com", "x@y");
	own("own-4", "E4", "Four", "four@example.com", "CN=E1,DC=example");

	/* auto: "x@y" is an email (nobody), the DN resolves. */
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 4, 0, 0);
	af_job_free(t);
	expect_om("own-3", "x@y", NULL, "email", "nil", "missing");
	expect_om("own-4", "CN=E1,DC=example", "own-1", "dn", "1", "ok");

	/* The parameter overrides the configuration: everything is an employee id. */
	t = run("email", 0, "manager_ref=employee_id", NULL);
	expect(t, JOB_RUN_OK, 0, 2, 0);
	af_job_free(t);
	expect_om("own-3", "x@y", "own-2", "employee_id", "2", "ok");
	expect_om("own-4", "CN=E1,DC=example", NULL, "employee_id", "nil", "missing");

	/* The configuration says dn: only own-4's reference is one. own-2 (ok -> missing),
	 * own-3 (ok -> missing) and own-4 (missing -> ok) change; own-1 stays the top. */
	t = run("dn", 0, NULL);
	expect(t, JOB_RUN_OK, 0, 3, 0);
	af_job_free(t);
	expect_om("own-2", "E1", NULL, "dn", "nil", "missing");
	expect_om("own-3", "x@y", NULL, "dn", "nil", "missing");
	expect_om("own-4", "CN=E1,DC=example", "own-1", "dn", "1", "ok");

	/* Invalid values fail at once, naming the parameter or the setting. */
	t = run("auto", 0, "manager_ref=upn", NULL);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_str_eq(t->error, "parameter manager_ref: 'upn' is not auto, employee_id, "
	    "email or dn");
	af_job_free(t);
	t = run("auto", 0, "manager_ref=", NULL);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_ptr_nonnull(strstr(t->error, "parameter manager_ref"));
	af_job_free(t);
	t = run("bogus", 0, NULL);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_ptr_nonnull(strstr(t->error, "manager_ref: 'bogus'"));
	af_job_free(t);
}
END_TEST

START_TEST(dn_details)
{
	struct af_job *t;

	own("own-1", "E1", "Smith, John", "john@example.com", NULL);
	/* Leading spaces, another case. */
	own("own-2", "E2", "Two", "two@example.com", "  cn=e1,OU=x");
	/* Escaped comma, a multi-valued RDN: the CN is "Smith, John" (display name). */
	own("own-3", "E3", "Three", "three@example.com", "CN=Smith\\, John+UID=7,DC=x");
	/* An empty CN names nobody. */
	own("own-4", "E4", "Four", "four@example.com", "CN=,DC=x");
	/* Nothing after the CN. */
	own("own-5", "E5", "Five", "five@example.com", "CN=E1");
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 5, 0, 0);
	af_job_free(t);
	expect_om("own-2", "  cn=e1,OU=x", "own-1", "dn", "1", "ok");
	expect_om("own-3", "CN=Smith\\, John+UID=7,DC=x", "own-1", "dn", "1", "ok");
	expect_om("own-4", "CN=,DC=x", NULL, "dn", "nil", "missing");
	expect_om("own-5", "CN=E1", "own-1", "dn", "1", "ok");
}
END_TEST

START_TEST(empty_store)
{
	struct af_job *t = run("auto", 0, NULL);

	expect(t, JOB_RUN_OK, 0, 0, 0);
	ck_assert_int_eq(t->ctx.total, 0);
	af_job_free(t);
}
END_TEST

START_TEST(cancel_keeps_batches)
{
	struct af_job *t;

	tree(); /* keys in order: a a1 a11 a2 b r */
	/* batch_size 2: cancelled() is asked once after reading the owners (no), then after
	 * the first batch (a, a1) commits (yes). */
	t = run("auto", 2, "batch_size=2", NULL);
	expect(t, JOB_RUN_CANCELLED, 2, 0, 0);
	ck_assert(t->ctx.was_cancelled);
	ck_assert_int_eq(t->ctx.processed, 2);
	ck_assert_int_eq(t->ctx.total, 6);
	af_job_free(t);
	ck_assert_uint_eq(af_count_db(RES_DB_OWNER_MANAGERS), 2);
	expect_om("a1", "A", "a", "employee_id", "2", "ok");

	t = run("auto", 0, "batch_size=2", NULL);
	expect(t, JOB_RUN_OK, 4, 0, 0);
	af_job_free(t);
	ck_assert_uint_eq(af_count_db(RES_DB_OWNER_MANAGERS), 6);
}
END_TEST

/* A chain of 20,000 owners (own-00001 at the top, own-i managed by E(i-1)) and a cycle of
 * 20,000 more (cyc-i managed by C(i+1), the last by C00001), in one transaction. */
START_TEST(deep_chain_and_long_cycle)
{
	struct identity *ident;
	struct ident_field f[3];
	msgpack_sbuffer buf;
	DB_ENV *env = store_env(af.store);
	DB_TXN *txn;
	struct af_job *t;
	char id[16], eid[16], mgr[16], *cause = NULL;
	int i, n = 20000;

	msgpack_sbuffer_init(&buf);
	ck_assert_int_eq(identity_open(af.store, &ident, &cause), 0);
	ck_assert_int_eq(env->txn_begin(env, NULL, &txn, DB_TXN_NOSYNC), 0);
	for (i = 1; i <= 2 * n; i++) {
		bool chain = i <= n;
		int j = chain ? i : i - n;

		snprintf(id, sizeof id, "%s-%05d", chain ? "own" : "cyc", j);
		snprintf(eid, sizeof eid, "%s%05d", chain ? "E" : "C", j);
		if (chain)
			snprintf(mgr, sizeof mgr, "E%05d", j - 1);
		else
			snprintf(mgr, sizeof mgr, "C%05d", j % n + 1);
		f[0] = (struct ident_field){ "employee_id", eid, strlen(eid) };
		f[1] = (struct ident_field){ "id", id, strlen(id) };
		f[2] = (struct ident_field){ "manager", mgr, strlen(mgr) };
		buf.size = 0;
		identity_encode(&buf, f, chain && j == 1 ? 2 : 3, 1);
		ck_assert_int_eq(identity_put(ident, txn, IDENT_OWNER, id, strlen(id), buf.data,
		    buf.size, &cause), 0);
	}
	ck_assert_int_eq(txn->commit(txn, 0), 0);
	identity_close(ident);
	msgpack_sbuffer_destroy(&buf);

	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 2 * n, 0, 0);
	ck_assert(strstr(t->log, "40000 owners: 0 with a missing manager (0 ambiguous), 1 "
	    "cycles with 20000 owners") != NULL);
	af_job_free(t);
	expect_om("own-00001", NULL, NULL, NULL, "0", "top");
	expect_om("own-00002", "E00001", "own-00001", "employee_id", "1", "ok");
	expect_om("own-20000", "E19999", "own-19999", "employee_id", "19999", "ok");
	expect_om("cyc-20000", "C00001", "cyc-00001", "employee_id", "nil", "cycle");
	ck_assert_uint_eq(af_count_db(RES_DB_MANAGER_ISSUES), 1);
}
END_TEST

/* 3000 owners in a binary tree (own-N's manager is E<N/2>), batch_size 50: the job's own
 * progress (ctx.progress) rises through reading and resolving too, not only while
 * writing, and processed/total stay owners committed / owners. */
START_TEST(progress_through_phases)
{
	struct identity *ident;
	struct ident_field f[3];
	msgpack_sbuffer buf;
	DB_ENV *env = store_env(af.store);
	DB_TXN *txn;
	struct af_job *t;
	char id[16], eid[16], mgr[16], *cause = NULL;
	size_t i;
	int n = 3000;

	msgpack_sbuffer_init(&buf);
	ck_assert_int_eq(identity_open(af.store, &ident, &cause), 0);
	ck_assert_int_eq(env->txn_begin(env, NULL, &txn, DB_TXN_NOSYNC), 0);
	for (i = 1; i <= (size_t)n; i++) {
		snprintf(id, sizeof id, "own-%04zu", i);
		snprintf(eid, sizeof eid, "E%04zu", i);
		snprintf(mgr, sizeof mgr, "E%04zu", i / 2);
		f[0] = (struct ident_field){ "employee_id", eid, strlen(eid) };
		f[1] = (struct ident_field){ "id", id, strlen(id) };
		f[2] = (struct ident_field){ "manager", mgr, strlen(mgr) };
		buf.size = 0;
		identity_encode(&buf, f, i == 1 ? 2 : 3, 1);
		ck_assert_int_eq(identity_put(ident, txn, IDENT_OWNER, id, strlen(id), buf.data,
		    buf.size, &cause), 0);
	}
	ck_assert_int_eq(txn->commit(txn, 0), 0);
	identity_close(ident);
	msgpack_sbuffer_destroy(&buf);

	t = run("auto", 0, "batch_size=50", NULL);
	expect(t, JOB_RUN_OK, n, 0, 0); /* and neither processed nor progress went back */
	ck_assert_int_eq(t->ctx.total, n);
	ck_assert_int_eq(t->ctx.processed, n);
	/* Reading (0..18), indexing (..20), resolving (..30) and walking (..33) report
	 * progress before the first write: 3000 owners tick 11 times in each loop. */
	ck_assert_msg(t->nprogress_before_write >= 5, "%zu values before writing",
	    t->nprogress_before_write);
	ck_assert_int_eq(t->progress[0], 0);
	ck_assert_int_eq(t->progress[t->nprogress_before_write - 1], 33);
	for (i = 0; i < t->nprogress_before_write; i++)
		ck_assert_int_le(t->progress[i], 33);
	/* Writing: 60 batches of 50 take it from 33 to 95, then 100 at the end. */
	ck_assert_uint_ge(t->nprogress - t->nprogress_before_write, 20);
	ck_assert_int_eq(t->progress[t->nprogress - 1], 100);
	af_job_free(t);
	expect_om("own-0001", NULL, NULL, NULL, "0", "top");
	expect_om("own-3000", "E1500", "own-1500", "employee_id", "11", "ok");
}
END_TEST

START_TEST(lock_conflict_retries)
{
	DB_ENV *env = store_env(af.store);
	DB_TXN *other;
	DB *d;
	DBT k, v;
	struct af_job *t;
	char *cause = NULL;

	tree(); /* keys in order: a a1 a11 a2 b r */
	/* A lock that is not free fails at once with DB_LOCK_DEADLOCK, as a deadlock victim's
	 * request does. */
	ck_assert_int_eq(env->set_flags(env, DB_TXN_NOWAIT, 1), 0);
	/* Another transaction holds a write lock on owner_managers "a2". */
	ck_assert_int_eq(store_db_open(af.store, RES_DB_OWNER_MANAGERS, DB_BTREE, 0, &d, &cause),
	    0);
	ck_assert_int_eq(env->txn_begin(env, NULL, &other, 0), 0);
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = "a2";
	k.size = 2;
	v.data = "x";
	v.size = 1;
	ck_assert_int_eq(d->put(d, other, &k, &v, 0), 0);

	/* Berkeley DB locks btree pages: the six records share the page of "a2", so the first
	 * batch conflicts; it is redone MU_RETRIES times, then the job gives up with nothing
	 * counted. */
	t = run("auto", 0, "batch_size=2", NULL);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_str_eq(t->error, "owner managers: lock conflicts, giving up");
	ck_assert_int_eq(t->ctx.created, 0);
	ck_assert_int_eq(t->ctx.processed, 0);
	af_job_free(t);

	/* The lock goes away: everything is created, each once. */
	ck_assert_int_eq(other->abort(other), 0);
	d->close(d, 0);
	t = run("auto", 0, "batch_size=2", NULL);
	expect(t, JOB_RUN_OK, 6, 0, 0);
	af_job_free(t);
	ck_assert_uint_eq(af_count_db(RES_DB_OWNER_MANAGERS), 6);
	expect_om("a2", "A", "a", "employee_id", "2", "ok");
	ck_assert_int_eq(env->set_flags(env, DB_TXN_NOWAIT, 0), 0);
}
END_TEST

Suite *
managers_suite(void)
{
	Suite *s = suite_create("managers");
	TCase *tc = tcase_create("resolution");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, chain_and_forms);
	tcase_add_test(tc, cycles);
	tcase_add_test(tc, dangling_and_ambiguous);
	tcase_add_test(tc, changed_manager);
	tcase_add_test(tc, reference_mode);
	tcase_add_test(tc, dn_details);
	tcase_add_test(tc, empty_store);
	tcase_add_test(tc, cancel_keeps_batches);
	tcase_add_test(tc, lock_conflict_retries);
	tcase_add_test(tc, progress_through_phases);
	tcase_add_test(tc, deep_chain_and_long_cycle);
	suite_add_tcase(s, tc);
	return s;
}
