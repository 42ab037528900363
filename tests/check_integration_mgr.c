/* check_integration_mgr.c: manager_resolution and enrichment through a real jobsd and
 * jobctl on `jobsd-datagen --owners 2000 --seed 42` data: the counters, log lines and
 * stored results equal the numbers of datagen's manifest.json (managers, accounts and
 * enrichment sections); a second run changes nothing; a cancel mid-run keeps the
 * committed batches. */
#include <sys/stat.h>

#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "lib/datagen_fixture.h"
#include "lib/testlib.h"
#include "log.h"
#include "results.h"
#include "store.h"

#define JOBCTL(d, r, ...) tl_jobctl((d), (r), __VA_ARGS__, (const char *)NULL)

Suite *integration_mgr_suite(void);

/* A daemon on a fresh generated data set, fully synced; its manifest in *m. */
static struct tl_daemon *
synced_daemon(yajl_val *m)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	struct tl_run r;

	ck_assert_int_eq(tl_rm_rf(d->source_dir), 0);
	ck_assert_int_eq(mkdir(d->source_dir, 0700), 0);
	dg_run((const char *const[]){"--owners", "2000", "--seed", "42", "--out",
	    d->source_dir, "-q", NULL});
	*m = dg_manifest(d->source_dir);
	tl_daemon_start(d);
	ck_assert_int_eq(JOBCTL(d, &r, "submit", "full_sync", "--wait"), 0);
	tl_run_free(&r);
	return (d);
}

/* jobctl --json submit TYPE --wait [--param P]: the finished job. */
static yajl_val
submit_wait(struct tl_daemon *d, const char *type, const char *param)
{
	const char *args[] = {"--json", "submit", type, "--wait", param ? "--param" : NULL,
			      param, NULL};
	struct tl_run r;
	yajl_val v;

	tl_jobctlv(d, &r, args);
	ck_assert_msg(r.status == 0, "submit %s: exit %d: %s %s", type, r.status, r.out, r.err);
	v = tl_json(r.out);
	ck_assert_msg(v != NULL, "not JSON: %s", r.out);
	tl_run_free(&r);
	ck_assert_str_eq(tl_jstr(v, "status"), "completed");
	return (v);
}

static void
expect_counters(yajl_val v, long long c, long long u, long long dl)
{
	ck_assert_int_eq(tl_jint(v, "records_created"), c);
	ck_assert_int_eq(tl_jint(v, "records_updated"), u);
	ck_assert_int_eq(tl_jint(v, "records_deleted"), dl);
}

static char *
job_log(struct tl_daemon *d, const char *id)
{
	struct tl_run r;
	char *out;

	ck_assert_int_eq(JOBCTL(d, &r, "log", id), 0);
	out = xstrdup(r.out);
	tl_run_free(&r);
	return (out);
}

/* Number of records of results database db whose string field (NULL: any record) equals
 * value, read through a reader handle on the running daemon's store. */
static long long
tally(struct tl_daemon *d, const char *db, const char *field, const char *value)
{
	struct store *s;
	msgpack_unpacked u;
	DB *h;
	DBC *c;
	DBT k, v;
	char *cause = NULL;
	long long n = 0;
	size_t off, i;
	const msgpack_object_kv *kv;

	ck_assert_msg(store_open(d->data_dir, STORE_READER, &s, &cause) == 0, "%s", cause);
	ck_assert_msg(store_db_open(s, db, DB_BTREE, 0, &h, &cause) == 0, "%s", cause);
	ck_assert_int_eq(h->cursor(h, NULL, &c, 0), 0);
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	msgpack_unpacked_init(&u);
	while (c->get(c, &k, &v, DB_NEXT) == 0) {
		if (field == NULL) {
			n++;
			continue;
		}
		off = 0;
		ck_assert(msgpack_unpack_next(&u, v.data, v.size, &off) ==
			  MSGPACK_UNPACK_SUCCESS);
		for (i = 0; i < u.data.via.map.size; i++) {
			kv = &u.data.via.map.ptr[i];
			if (kv->key.via.str.size == strlen(field) &&
			    memcmp(kv->key.via.str.ptr, field, strlen(field)) == 0 &&
			    kv->val.type == MSGPACK_OBJECT_STR &&
			    kv->val.via.str.size == strlen(value) &&
			    memcmp(kv->val.via.str.ptr, value, strlen(value)) == 0)
				n++;
		}
	}
	msgpack_unpacked_destroy(&u);
	c->close(c);
	h->close(h, 0);
	store_close(s);
	return (n);
}

START_TEST(test_manager_resolution)
{
	yajl_val m, mg, v;
	struct tl_daemon *d = synced_daemon(&m);
	long long owners, none, dangling, cycles, in_cycles;
	char id[32], *log, *line;

	owners = tl_jint(tl_jget(m, "rows"), "owners");
	mg = tl_jget(m, "managers");
	none = tl_jint(mg, "none");
	dangling = tl_jint(mg, "dangling");
	cycles = tl_jint(mg, "cycles");
	in_cycles = tl_jint(mg, "owners_in_cycles");
	ck_assert_int_eq(owners, 2000);

	v = submit_wait(d, "manager_resolution", NULL);
	expect_counters(v, owners, 0, 0);
	ck_assert_int_eq(tl_jint(v, "total_records"), owners);
	ck_assert_int_eq(tl_jint(v, "records_processed"), owners);
	snprintf(id, sizeof(id), "%s", tl_jstr(v, "id"));
	yajl_tree_free(v);

	log = job_log(d, id);
	line = xasprintf("%lld owners: %lld with a missing manager (0 ambiguous), %lld cycles "
			 "with %lld owners", owners, dangling, cycles, in_cycles);
	ck_assert_msg(strstr(log, line) != NULL, "no '%s' in\n%s", line, log);
	ck_assert_int_eq(tl_count_lines(log, "matches no owner"), dangling);
	ck_assert_int_eq(tl_count_lines(log, "manager cycle of length"), cycles);
	free(line);
	free(log);

	/* The stored results: states and reference forms as the manifest counts them. */
	ck_assert_int_eq(tally(d, RES_DB_OWNER_MANAGERS, NULL, NULL), owners);
	ck_assert_int_eq(tally(d, RES_DB_OWNER_MANAGERS, "state", "top"), none);
	ck_assert_int_eq(tally(d, RES_DB_OWNER_MANAGERS, "state", "missing"), dangling);
	ck_assert_int_eq(tally(d, RES_DB_OWNER_MANAGERS, "state", "cycle"), in_cycles);
	ck_assert_int_eq(tally(d, RES_DB_OWNER_MANAGERS, "state", "ok"),
			 tl_jint(mg, "resolvable") - in_cycles);
	ck_assert_int_eq(tally(d, RES_DB_OWNER_MANAGERS, "ref_kind", "email"),
			 tl_jint(mg, "by_email"));
	ck_assert_int_eq(tally(d, RES_DB_OWNER_MANAGERS, "ref_kind", "dn"), tl_jint(mg, "by_dn"));
	ck_assert_int_eq(tally(d, RES_DB_OWNER_MANAGERS, "ref_kind", "employee_id"),
			 tl_jint(mg, "by_employee_id"));
	ck_assert_int_eq(tally(d, RES_DB_MANAGER_ISSUES, "kind", "missing"), dangling);
	ck_assert_int_eq(tally(d, RES_DB_MANAGER_ISSUES, "kind", "cycle"), cycles);

	/* Nothing changed: nothing counted. */
	v = submit_wait(d, "manager_resolution", NULL);
	expect_counters(v, 0, 0, 0);
	yajl_tree_free(v);
	yajl_tree_free(m);
}
END_TEST

START_TEST(test_enrichment)
{
	yajl_val m, ac, en, v;
	struct tl_daemon *d = synced_daemon(&m);
	long long accounts, orphaned, linkable, to_fill;
	char id[32], *log, *line;

	accounts = tl_jint(tl_jget(m, "rows"), "accounts");
	ac = tl_jget(m, "accounts");
	en = tl_jget(m, "enrichment");
	orphaned = tl_jint(ac, "orphaned");
	linkable = tl_jint(en, "linkable_accounts");
	to_fill = tl_jint(en, "owners_to_fill");
	ck_assert_int_eq(linkable + orphaned, accounts);

	v = submit_wait(d, "enrichment", NULL);
	expect_counters(v, linkable, to_fill, 0);
	ck_assert_int_eq(tl_jint(v, "total_records"), accounts);
	ck_assert_int_eq(tl_jint(v, "records_processed"), accounts);
	snprintf(id, sizeof(id), "%s", tl_jstr(v, "id"));
	yajl_tree_free(v);

	log = job_log(d, id);
	line = xasprintf("%lld orphaned accounts (no owner matched)", orphaned);
	ck_assert_msg(strstr(log, line) != NULL, "no '%s' in\n%s", line, log);
	free(line);
	line = xasprintf("%lld accounts: %lld linked by owner_id, %lld by email, %lld by login",
			 accounts, tl_jint(ac, "explicit_owner_id"), tl_jint(ac, "email_only"),
			 tl_jint(ac, "login_only"));
	ck_assert_msg(strstr(log, line) != NULL, "no '%s' in\n%s", line, log);
	free(line);
	ck_assert(strstr(log, "source of truth: app-workday") != NULL);
	free(log);

	ck_assert_int_eq(tally(d, RES_DB_ACCOUNT_LINKS, NULL, NULL), linkable);
	ck_assert_int_eq(tally(d, RES_DB_ACCOUNT_LINKS, "rule", "owner_id"),
			 tl_jint(ac, "explicit_owner_id"));
	ck_assert_int_eq(tally(d, RES_DB_ACCOUNT_LINKS, "rule", "email"),
			 tl_jint(ac, "email_only"));
	ck_assert_int_eq(tally(d, RES_DB_ACCOUNT_LINKS, "rule", "login"),
			 tl_jint(ac, "login_only"));
	ck_assert_int_eq(tally(d, RES_DB_ORPHANS, NULL, NULL), orphaned);
	ck_assert_int_eq(tally(d, RES_DB_OWNER_OVERLAY, NULL, NULL), to_fill);

	v = submit_wait(d, "enrichment", NULL);
	expect_counters(v, 0, 0, 0);
	yajl_tree_free(v);

	/* A rule subset: owner_id alone leaves the email-only and login-only accounts
	 * unmatched, so their links are deleted. */
	v = submit_wait(d, "enrichment", "match_rules=owner_id");
	ck_assert_int_eq(tl_jint(v, "records_created"), 0);
	ck_assert_int_eq(tl_jint(v, "records_deleted"),
			 tl_jint(ac, "email_only") + tl_jint(ac, "login_only"));
	yajl_tree_free(v);
	yajl_tree_free(m);
}
END_TEST

/* Cancel a slow run (batch_size 50, delay_ms 100) after some batches: the committed
 * batches stay, and a later run creates only the rest (but the unmatched rows). */
static void
cancel_case(struct tl_daemon *d, const char *type, long long total, long long unmatched)
{
	int64_t some = 100;
	long long processed, created;
	char id[32];
	struct tl_run r;
	struct job jb;
	yajl_val v;

	tl_submit(d, id, type, "batch_size=50", "delay_ms=100", NULL);
	ck_assert_msg(tl_wait_job(d, id, tl_pred_processed, &some, 20000, &jb) == 0,
		      "%s never processed %d records", type, (int)some);
	job_free(&jb);
	ck_assert_int_eq(JOBCTL(d, &r, "cancel", id), 0);
	tl_run_free(&r);
	ck_assert_int_eq(JOBCTL(d, &r, "--json", "show", id), 0);
	v = tl_json(r.out);
	tl_run_free(&r);
	ck_assert_str_eq(tl_jstr(v, "status"), "cancelled");
	processed = tl_jint(v, "records_processed");
	created = tl_jint(v, "records_created");
	ck_assert_msg(processed >= 100 && processed < total && processed % 50 == 0,
		      "%s processed %lld", type, processed);
	/* The first accounts and owners all link / resolve: one record per row. */
	ck_assert_int_eq(created, processed);
	ck_assert_int_eq(tl_jint(v, "total_records"), total);
	yajl_tree_free(v);

	v = submit_wait(d, type, NULL);
	ck_assert_int_eq(tl_jint(v, "records_created"), total - created - unmatched);
	ck_assert_int_eq(tl_jint(v, "records_deleted"), 0);
	yajl_tree_free(v);
}

START_TEST(test_cancel_keeps_batches)
{
	yajl_val m;
	struct tl_daemon *d = synced_daemon(&m);

	cancel_case(d, "manager_resolution", tl_jint(tl_jget(m, "rows"), "owners"), 0);
	cancel_case(d, "enrichment", tl_jint(tl_jget(m, "rows"), "accounts"),
		    tl_jint(tl_jget(m, "accounts"), "orphaned"));
	yajl_tree_free(m);
}
END_TEST

Suite *
integration_mgr_suite(void)
{
	Suite *s = suite_create("integration_mgr");
	TCase *tc;

	tc = tl_tcase("managers", 120);
	tcase_add_test(tc, test_manager_resolution);
	suite_add_tcase(s, tc);
	tc = tl_tcase("enrichment", 120);
	tcase_add_test(tc, test_enrichment);
	suite_add_tcase(s, tc);
	tc = tl_tcase("cancel", 120);
	tcase_add_test(tc, test_cancel_keeps_batches);
	suite_add_tcase(s, tc);
	return (s);
}
