/* check_enrich.c: the enrichment job run in-process on hand-made applications, owners and
 * accounts written with identity_put into a store in a temp dir. Every expected link,
 * overlay, orphan and counter below is derived by hand from the records of the test. */
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

Suite *enrich_suite(void);

static void
setup(void)
{
	af_setup("enr", 0);
}

static void
teardown(void)
{
	af_teardown();
}

/* Run enrichment with the parameters "k=v"... NULL; cancelled() says yes on call cancel_on. */
static struct af_job *
run(int cancel_on, ...)
{
	struct af_job *t;
	va_list ap;

	va_start(ap, cancel_on);
	t = af_job_newv(JOB_ENRICHMENT, 7, ap);
	va_end(ap);
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

static void
app(const char *id, const char *type)
{
	af_record(IDENT_APPLICATION, id, "name", id, "type", type, NULL);
}

/* An account: application, owner_id, email, login (NULL: absent). */
static void
acc(const char *id, const char *appid, const char *owner_id, const char *email,
    const char *login)
{
	af_record(IDENT_ACCOUNT, id, "application_id", appid, "owner_id", owner_id, "email",
	    email, "login", login, NULL);
}

static void
expect_link(const char *acc_id, const char *owner_id, const char *rule, const char *appid)
{
	char *want = xasprintf("owner_id=%s;rule=%s;application_id=%s;", owner_id, rule, appid);

	af_expect_res(RES_DB_ACCOUNT_LINKS, acc_id, want);
	free(want);
}

/* An owner field as synced (NULL if absent). */
static char *
owner_field(const char *id, const char *name)
{
	struct identity *ident;
	void *data;
	size_t len, vlen;
	const char *v;
	char *cause = NULL, *out = NULL;

	ck_assert_int_eq(identity_open(af.store, &ident, &cause), 0);
	ck_assert_int_eq(identity_get(ident, NULL, IDENT_OWNER, id, strlen(id), &data, &len,
	    &cause), 0);
	if (identity_field(data, len, name, &v, &vlen) == 0)
		out = strndup(v, vlen);
	free(data);
	identity_close(ident);
	return out;
}

/*
 * Owners own-1 (E1, ada@, username ada), own-2 (E2, bob@), own-3 (E3, carol@), each with
 * every promotable field, so no overlay interferes. Accounts:
 *   acc-1 owner_id own-1, email ada@, login ada1
 *   acc-2 email BOB@Example.com, login bob
 *   acc-3 login e3 (own-3's employee id, another case)
 *   acc-4 owner_id own-9 (nobody), email carol@, login E1
 *   acc-5 login ada (own-1's username)
 *   acc-6 login svc-backup (nothing matches)
 */
static void
rules_data(void)
{
	app("app-ad", "directory");
	app("app-hr", "hr");
	af_record(IDENT_OWNER, "own-1", "employee_id", "E1", "email", "ada@example.com", "username",
	    "ada", "display_name", "Ada", "department", "eng", "title", "dev", "location", "X",
	    NULL);
	af_record(IDENT_OWNER, "own-2", "employee_id", "E2", "email", "bob@example.com",
	    "display_name", "Bob", "department", "eng", "title", "dev", "location", "X", NULL);
	af_record(IDENT_OWNER, "own-3", "employee_id", "E3", "email", "carol@example.com",
	    "display_name", "Carol", "department", "eng", "title", "dev", "location", "X",
	    NULL);
	acc("acc-1", "app-ad", "own-1", "ada@example.com", "ada1");
	acc("acc-2", "app-ad", NULL, "BOB@Example.com", "bob");
	acc("acc-3", "app-hr", NULL, NULL, "e3");
	acc("acc-4", "app-ad", "own-9", "carol@example.com", "E1");
	acc("acc-5", "app-ad", NULL, NULL, "ada");
	acc("acc-6", "app-ad", NULL, NULL, "svc-backup");
}

START_TEST(rules_alone_and_order)
{
	struct af_job *t;

	rules_data();

	/* owner_id alone: only acc-1 (acc-4's owner does not exist). */
	t = run(0, "match_rules=owner_id", NULL);
	expect(t, JOB_RUN_OK, 1, 0, 0);
	ck_assert_int_eq(t->ctx.total, 6);
	ck_assert_int_eq(t->ctx.processed, 6);
	ck_assert_msg(strstr(t->log, "5 orphaned accounts (no owner matched): acc-2, acc-3, "
	    "acc-4, acc-5, acc-6\n") != NULL, "%s", t->log);
	af_job_free(t);
	expect_link("acc-1", "own-1", "owner_id", "app-ad");
	ck_assert_uint_eq(af_count_db(RES_DB_ACCOUNT_LINKS), 1);
	ck_assert_uint_eq(af_count_db(RES_DB_ORPHANS), 5);
	ck_assert_uint_eq(af_count_db(RES_DB_OWNER_OVERLAY), 0);

	/* email alone (case-insensitive): acc-2 and acc-4 are new links; acc-1 keeps its
	 * owner (its rule changes: rewritten, not counted). */
	t = run(0, "match_rules=email", NULL);
	expect(t, JOB_RUN_OK, 2, 0, 0);
	af_job_free(t);
	expect_link("acc-1", "own-1", "email", "app-ad");
	expect_link("acc-2", "own-2", "email", "app-ad");
	expect_link("acc-4", "own-3", "email", "app-ad");
	ck_assert_uint_eq(af_count_db(RES_DB_ORPHANS), 3);

	/* login alone (employee id or username, case-insensitive): acc-3 and acc-5 new,
	 * acc-4 re-linked to own-1 (E1), acc-1 (ada1) and acc-2 (bob) lose their links. */
	t = run(0, "match_rules=login", NULL);
	expect(t, JOB_RUN_OK, 2, 1, 2);
	af_job_free(t);
	expect_link("acc-3", "own-3", "login", "app-hr");
	expect_link("acc-4", "own-1", "login", "app-ad");
	expect_link("acc-5", "own-1", "login", "app-ad");
	af_expect_res(RES_DB_ACCOUNT_LINKS, "acc-1", NULL);
	af_expect_res(RES_DB_ACCOUNT_LINKS, "acc-2", NULL);
	af_expect_res(RES_DB_ORPHANS, "acc-1",
	    "application_id=app-ad;login=ada1;email=ada@example.com;display_name=nil;");

	/* The default order owner_id,email,login: acc-1, acc-2 linked again; acc-4's owner id
	 * names nobody, so its email decides: re-linked to own-3. */
	t = run(0, NULL);
	expect(t, JOB_RUN_OK, 2, 1, 0);
	af_job_free(t);
	expect_link("acc-1", "own-1", "owner_id", "app-ad");
	expect_link("acc-2", "own-2", "email", "app-ad");
	expect_link("acc-3", "own-3", "login", "app-hr");
	expect_link("acc-4", "own-3", "email", "app-ad");
	expect_link("acc-5", "own-1", "login", "app-ad");
	ck_assert_uint_eq(af_count_db(RES_DB_ACCOUNT_LINKS), 5);
	ck_assert_uint_eq(af_count_db(RES_DB_ORPHANS), 1);
	af_expect_res(RES_DB_ORPHANS, "acc-6",
	    "application_id=app-ad;login=svc-backup;email=nil;display_name=nil;");

	/* Login first: acc-4 goes back to own-1 (E1); acc-1 by email (same owner). */
	t = run(0, "match_rules=login,email,owner_id", NULL);
	expect(t, JOB_RUN_OK, 0, 1, 0);
	af_job_free(t);
	expect_link("acc-4", "own-1", "login", "app-ad");
	expect_link("acc-1", "own-1", "email", "app-ad");

	/* Re-run without a change: nothing counted. */
	t = run(0, "match_rules=login,email,owner_id", NULL);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	af_job_free(t);

	/* Invalid rules fail at once, naming the parameter. */
	t = run(0, "match_rules=owner_id,owner_id", NULL);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_str_eq(t->error, "parameter match_rules: 'owner_id,owner_id' is not a list "
	    "of distinct rules owner_id, email, login separated by commas");
	af_job_free(t);
	t = run(0, "match_rules=", NULL);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_ptr_nonnull(strstr(t->error, "parameter match_rules"));
	af_job_free(t);
	t = run(0, "match_rules=email,upn", NULL);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_ptr_nonnull(strstr(t->error, "parameter match_rules"));
	af_job_free(t);
}
END_TEST

START_TEST(ambiguous)
{
	struct af_job *t;

	app("app-ad", "directory");
	af_record(IDENT_OWNER, "own-1", "employee_id", "E1", "email", "twin@example.com", NULL);
	af_record(IDENT_OWNER, "own-2", "employee_id", "E2", "email", "TWIN@example.com", NULL);
	af_record(IDENT_OWNER, "own-3", "employee_id", "X9", NULL);
	af_record(IDENT_OWNER, "own-4", "employee_id", "E4", "username", "x9", NULL);
	/* Ambiguous email, nothing else: an orphan. */
	acc("acc-1", "app-ad", NULL, "twin@example.com", NULL);
	/* Ambiguous email, then a login that decides. */
	acc("acc-2", "app-ad", NULL, "twin@example.com", "E2");
	/* A login that is one owner's employee id and another's username. */
	acc("acc-3", "app-ad", NULL, NULL, "X9");
	t = run(0, NULL);
	expect(t, JOB_RUN_OK, 1, 0, 0);
	ck_assert_msg(strstr(t->log, "acc-1: email 'twin@example.com' matches several owners "
	    "(ambiguous, not linked by it)\n") != NULL, "%s", t->log);
	ck_assert(strstr(t->log, "acc-3: login 'X9' matches several owners") != NULL);
	ck_assert(strstr(t->log, "3 ambiguous matches skipped") != NULL);
	ck_assert(strstr(t->log, "2 orphaned accounts (no owner matched): acc-1, acc-3\n") !=
	    NULL);
	af_job_free(t);
	expect_link("acc-2", "own-2", "login", "app-ad");
	af_expect_res(RES_DB_ORPHANS, "acc-1",
	    "application_id=app-ad;login=nil;email=twin@example.com;display_name=nil;");
	af_expect_res(RES_DB_ORPHANS, "acc-3",
	    "application_id=app-ad;login=X9;email=nil;display_name=nil;");
}
END_TEST

/* An account of application a, linked by owner_id, with promotable fields. */
static void
facc(const char *id, const char *a, const char *o, const char *dept, const char *title,
    const char *dname, const char *email, const char *loc)
{
	af_record(IDENT_ACCOUNT, id, "application_id", a, "owner_id", o, "department", dept, "title",
	    title, "display_name", dname, "email", email, "location", loc, NULL);
}

/*
 * Applications app-ad (directory), app-gh (saas), app-wd (hr: the default source of
 * truth). Default priority: app-wd, app-ad, app-gh. Owners:
 *   own-1: E1, a@, display_name Ann; no department, title, location
 *   own-2: everything set
 *   own-3: no email, no display_name
 */
static void
overlay_data(void)
{
	app("app-ad", "directory");
	app("app-gh", "saas");
	app("app-wd", "hr");
	af_record(IDENT_OWNER, "own-1", "employee_id", "E1", "email", "a@example.com",
	    "display_name", "Ann", NULL);
	af_record(IDENT_OWNER, "own-2", "employee_id", "E2", "email", "b@example.com",
	    "display_name", "Bo", "department", "sales", "title", "rep", "location", "Paris",
	    NULL);
	af_record(IDENT_OWNER, "own-3", "employee_id", "E3", "department", "it", "title", "admin",
	    "location", "Oslo", NULL);
	facc("acc-1", "app-ad", "own-1", "eng-ad", "Engineer AD", "Ann AD", NULL, "Zürich");
	facc("acc-2", "app-wd", "own-1", "engineering", NULL, "Ann WD", NULL, NULL);
	facc("acc-3", "app-gh", "own-1", "gh", "gh-title", NULL, NULL, "Kraków");
	facc("acc-4", "app-ad", "own-2", "other", "other", "Other", "o@example.com", "Rome");
	facc("acc-5", "app-gh", "own-3", NULL, NULL, "Cé", "c@example.com", NULL);
	facc("acc-6", "app-ad", "own-3", NULL, NULL, "C AD", NULL, NULL);
}

#define OV1_DEFAULT "department=engineering;title=Engineer AD;location=Zürich;" \
	"_from=[acc-1,acc-2];"
#define OV3_DEFAULT "display_name=C AD;email=c@example.com;_from=[acc-5,acc-6];"

START_TEST(overlay_priority)
{
	struct af_job *t;
	char *v;

	overlay_data();
	/* 6 links; 2 owners get an overlay. own-1: department from Workday, title and
	 * location from AD (Workday has none; AD beats GitHub); display_name stays the
	 * owner's. own-2: nothing empty. own-3: display_name from AD (beats GitHub), email
	 * from GitHub (the only one with it). */
	t = run(0, NULL);
	expect(t, JOB_RUN_OK, 6, 2, 0);
	ck_assert_msg(strstr(t->log, "source of truth: app-wd\n") != NULL, "%s", t->log);
	af_job_free(t);
	af_expect_res(RES_DB_OWNER_OVERLAY, "own-1", OV1_DEFAULT);
	af_expect_res(RES_DB_OWNER_OVERLAY, "own-2", NULL);
	af_expect_res(RES_DB_OWNER_OVERLAY, "own-3", OV3_DEFAULT);
	/* The synced owner records are untouched. */
	ck_assert_ptr_null(owner_field("own-1", "department"));
	v = owner_field("own-1", "display_name");
	ck_assert_str_eq(v, "Ann");
	free(v);

	/* Re-run: nothing. */
	t = run(0, NULL);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	af_job_free(t);

	/* GitHub as the source of truth: it fills whatever it has first. */
	t = run(0, "source_of_truth=app-gh", NULL);
	expect(t, JOB_RUN_OK, 0, 2, 0);
	af_job_free(t);
	af_expect_res(RES_DB_OWNER_OVERLAY, "own-1",
	    "department=gh;title=gh-title;location=Kraków;_from=[acc-3];");
	af_expect_res(RES_DB_OWNER_OVERLAY, "own-3", "display_name=Cé;email=c@example.com;"
	    "_from=[acc-5];");

	/* Back to the default. */
	t = run(0, NULL);
	expect(t, JOB_RUN_OK, 0, 2, 0);
	af_job_free(t);
	af_expect_res(RES_DB_OWNER_OVERLAY, "own-1", OV1_DEFAULT);

	/* The source now has own-1's department: never overwritten, the overlay drops it. */
	af_record(IDENT_OWNER, "own-1", "employee_id", "E1", "email", "a@example.com",
	    "display_name", "Ann", "department", "finance", NULL);
	t = run(0, NULL);
	expect(t, JOB_RUN_OK, 0, 1, 0);
	af_job_free(t);
	af_expect_res(RES_DB_OWNER_OVERLAY, "own-1",
	    "title=Engineer AD;location=Zürich;_from=[acc-1];");

	/* own-3 complete in the source: its overlay is removed. */
	af_record(IDENT_OWNER, "own-3", "employee_id", "E3", "email", "c3@example.com",
	    "display_name", "C", "department", "it", "title", "admin", "location", "Oslo",
	    NULL);
	t = run(0, NULL);
	expect(t, JOB_RUN_OK, 0, 0, 1);
	af_job_free(t);
	af_expect_res(RES_DB_OWNER_OVERLAY, "own-3", NULL);

	/* An unknown source of truth fails at once. */
	t = run(0, "source_of_truth=app-nope", NULL);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_str_eq(t->error, "parameter source_of_truth: there is no application "
	    "'app-nope'");
	af_job_free(t);
}
END_TEST

START_TEST(two_hr_applications)
{
	struct af_job *t;

	/* Two hr applications: no default source of truth, application id order. */
	app("app-b", "hr");
	app("app-a", "HR");
	af_record(IDENT_OWNER, "own-1", "employee_id", "E1", NULL);
	facc("acc-1", "app-b", "own-1", "B", NULL, NULL, NULL, NULL);
	facc("acc-2", "app-a", "own-1", "A", NULL, NULL, NULL, NULL);
	facc("acc-3", "app-zz", "own-1", NULL, "from an unknown app", NULL, NULL, NULL);
	t = run(0, NULL);
	expect(t, JOB_RUN_OK, 3, 1, 0);
	ck_assert_msg(strstr(t->log, "more than one application of type hr") != NULL, "%s",
	    t->log);
	af_job_free(t);
	af_expect_res(RES_DB_OWNER_OVERLAY, "own-1",
	    "department=A;title=from an unknown app;_from=[acc-2,acc-3];");
}
END_TEST

START_TEST(removed_records)
{
	struct af_job *t;

	overlay_data();
	acc("acc-7", "app-ad", NULL, NULL, "svc");
	t = run(0, NULL);
	expect(t, JOB_RUN_OK, 6, 2, 0);
	af_job_free(t);
	ck_assert_uint_eq(af_count_db(RES_DB_ORPHANS), 1);

	/* acc-6 and the orphan acc-7 are gone: one link deleted (the orphan record goes
	 * uncounted); own-3's display_name now comes from GitHub (overlay changed). */
	af_del(IDENT_ACCOUNT, "acc-6");
	af_del(IDENT_ACCOUNT, "acc-7");
	t = run(0, NULL);
	expect(t, JOB_RUN_OK, 0, 1, 1);
	af_job_free(t);
	af_expect_res(RES_DB_ACCOUNT_LINKS, "acc-6", NULL);
	ck_assert_uint_eq(af_count_db(RES_DB_ORPHANS), 0);
	af_expect_res(RES_DB_OWNER_OVERLAY, "own-3", "display_name=Cé;email=c@example.com;"
	    "_from=[acc-5];");

	/* own-3 is gone: acc-5's owner_id names nobody (no email, no login either), so its
	 * link goes and it is an orphan; own-3's overlay goes. */
	af_del(IDENT_OWNER, "own-3");
	t = run(0, NULL);
	expect(t, JOB_RUN_OK, 0, 0, 2);
	af_job_free(t);
	af_expect_res(RES_DB_OWNER_OVERLAY, "own-3", NULL);
	af_expect_res(RES_DB_ORPHANS, "acc-5",
	    "application_id=app-gh;login=nil;email=c@example.com;display_name=Cé;");
}
END_TEST

START_TEST(cancel_keeps_batches)
{
	struct af_job *t;

	rules_data();
	/* batch_size 2: acc-1 (owner_id) and acc-2 (email) commit, then cancelled. */
	t = run(1, "batch_size=2", NULL);
	expect(t, JOB_RUN_CANCELLED, 2, 0, 0);
	ck_assert(t->ctx.was_cancelled);
	ck_assert_int_eq(t->ctx.processed, 2);
	ck_assert_int_eq(t->ctx.total, 6);
	af_job_free(t);
	ck_assert_uint_eq(af_count_db(RES_DB_ACCOUNT_LINKS), 2);

	/* The rest later: acc-3, acc-4 (email), acc-5 new; acc-6 an orphan. */
	t = run(0, "batch_size=2", NULL);
	expect(t, JOB_RUN_OK, 3, 0, 0);
	af_job_free(t);
	ck_assert_uint_eq(af_count_db(RES_DB_ACCOUNT_LINKS), 5);
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

	rules_data();
	/* A lock that is not free fails at once with DB_LOCK_DEADLOCK, as a deadlock victim's
	 * request does; another transaction holds the (only) page of account_links. */
	ck_assert_int_eq(env->set_flags(env, DB_TXN_NOWAIT, 1), 0);
	ck_assert_int_eq(store_db_open(af.store, RES_DB_ACCOUNT_LINKS, DB_BTREE, 0, &d, &cause),
	    0);
	ck_assert_int_eq(env->txn_begin(env, NULL, &other, 0), 0);
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = "acc-3";
	k.size = 5;
	v.data = "x";
	v.size = 1;
	ck_assert_int_eq(d->put(d, other, &k, &v, 0), 0);

	/* The batch is redone MU_RETRIES times, then the job gives up, nothing counted. */
	t = run(0, NULL);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_str_eq(t->error, "account links: lock conflicts, giving up");
	ck_assert_int_eq(t->ctx.created, 0);
	ck_assert_int_eq(t->ctx.processed, 0);
	ck_assert_msg(strstr(t->log, "0 accounts: 0 linked by owner_id, 0 by email, 0 by "
	    "login") != NULL, "%s", t->log);
	af_job_free(t);

	/* Without the lock: the five linkable accounts, each counted once (acc-1 by owner
	 * id, acc-2 and acc-4 by email, acc-3 and acc-5 by login). */
	ck_assert_int_eq(other->abort(other), 0);
	d->close(d, 0);
	t = run(0, NULL);
	expect(t, JOB_RUN_OK, 5, 0, 0);
	ck_assert_msg(strstr(t->log, "6 accounts: 1 linked by owner_id, 2 by email, 2 by "
	    "login") != NULL, "%s", t->log);
	af_job_free(t);
	ck_assert_uint_eq(af_count_db(RES_DB_ACCOUNT_LINKS), 5);
	ck_assert_int_eq(env->set_flags(env, DB_TXN_NOWAIT, 0), 0);
}
END_TEST

/* 2000 owners without a department and one directory account each, linked by owner_id and
 * giving the department, batch_size 50: the job's own progress (ctx.progress) rises while
 * reading the owners and while writing the overlays too, not only while linking. */
START_TEST(progress_through_phases)
{
	struct identity *ident;
	struct ident_field f[4];
	msgpack_sbuffer buf;
	DB_ENV *env = store_env(af.store);
	DB_TXN *txn;
	struct af_job *t;
	char id[16], aid[16], *cause = NULL;
	size_t i, nread = 0;
	int n = 2000;

	app("app-ad", "directory");
	msgpack_sbuffer_init(&buf);
	ck_assert_int_eq(identity_open(af.store, &ident, &cause), 0);
	ck_assert_int_eq(env->txn_begin(env, NULL, &txn, DB_TXN_NOSYNC), 0);
	for (i = 1; i <= (size_t)n; i++) {
		snprintf(id, sizeof id, "own-%04zu", i);
		snprintf(aid, sizeof aid, "acc-%04zu", i);
		f[0] = (struct ident_field){ "id", id, strlen(id) };
		buf.size = 0;
		identity_encode(&buf, f, 1, 1);
		ck_assert_int_eq(identity_put(ident, txn, IDENT_OWNER, id, strlen(id), buf.data,
		    buf.size, &cause), 0);
		f[0] = (struct ident_field){ "application_id", "app-ad", 6 };
		f[1] = (struct ident_field){ "department", "eng", 3 };
		f[2] = (struct ident_field){ "id", aid, strlen(aid) };
		f[3] = (struct ident_field){ "owner_id", id, strlen(id) };
		buf.size = 0;
		identity_encode(&buf, f, 4, 1);
		ck_assert_int_eq(identity_put(ident, txn, IDENT_ACCOUNT, aid, strlen(aid),
		    buf.data, buf.size, &cause), 0);
	}
	ck_assert_int_eq(txn->commit(txn, 0), 0);
	identity_close(ident);
	msgpack_sbuffer_destroy(&buf);

	t = run(0, "batch_size=50", NULL);
	/* 2000 links created, 2000 overlays (department) written; nothing went back. */
	expect(t, JOB_RUN_OK, n, n, 0);
	ck_assert_int_eq(t->ctx.total, n);
	ck_assert_int_eq(t->ctx.processed, n);
	/* Reading the owners is 0..10, indexing ..12: 2000 owners tick 7 times. */
	for (i = 0; i < t->nprogress && t->progress[i] <= 12; i++)
		nread++;
	ck_assert_msg(nread >= 5, "%zu values while reading", nread);
	ck_assert_int_eq(t->progress[0], 0);
	/* Writing the overlays is 85..97: 40 batches of 50. */
	ck_assert_int_eq(t->progress[t->nprogress_before_write - 1], 85);
	ck_assert_uint_ge(t->nprogress - t->nprogress_before_write, 10);
	ck_assert_int_eq(t->progress[t->nprogress - 1], 100);
	af_job_free(t);
}
END_TEST

START_TEST(empty_store)
{
	struct af_job *t = run(0, NULL);

	expect(t, JOB_RUN_OK, 0, 0, 0);
	ck_assert_int_eq(t->ctx.total, 0);
	ck_assert(strstr(t->log, "no application of type hr") != NULL);
	af_job_free(t);
}
END_TEST

Suite *
enrich_suite(void)
{
	Suite *s = suite_create("enrich");
	TCase *tc = tcase_create("enrichment");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, rules_alone_and_order);
	tcase_add_test(tc, ambiguous);
	tcase_add_test(tc, overlay_priority);
	tcase_add_test(tc, two_hr_applications);
	tcase_add_test(tc, removed_records);
	tcase_add_test(tc, cancel_keeps_batches);
	tcase_add_test(tc, lock_conflict_retries);
	tcase_add_test(tc, empty_store);
	tcase_add_test(tc, progress_through_phases);
	suite_add_tcase(s, tc);
	return s;
}
