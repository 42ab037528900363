/* check_integration_roles.c: role_generation and policy_analysis through a real jobsd on a
 * jobsd-datagen data set (2000 owners, seed 42): the roles equal the manifest's cohorts
 * of at least 5 owners with the groups their group_holders put at or above 80%, and
 * packaging/policies.example finds exactly the planted SoD owners of manifest "sod";
 * the policy_file parameter confined to the policy directory; plus a cancellation in the
 * middle of a run. */
#include <sys/stat.h>

#include <check.h>
#include <unistd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/datagen_fixture.h"
#include "lib/testlib.h"

Suite *integration_roles_suite(void);

#define OWNERS 2000

static yajl_val
json_ok(struct tl_daemon *d, const char *const *args)
{
	struct tl_run r;
	yajl_val v;

	tl_jobctlv(d, &r, args);
	ck_assert_msg(r.status == 0, "jobctl %s %s: exit %d\nstdout: %s\nstderr: %s", args[0],
	    args[1] != NULL ? args[1] : "", r.status, r.out, r.err);
	v = tl_json(r.out);
	ck_assert_msg(v != NULL, "jobctl %s: not JSON: %s", args[1], r.out);
	tl_run_free(&r);
	return v;
}

/* Submit and wait; the job object (the caller frees). */
static yajl_val
run_job(struct tl_daemon *d, const char *type, const char *param)
{
	const char *args[] = {"--json", "submit", type, "--wait", NULL, NULL, NULL};
	yajl_val v;

	if (param != NULL) {
		args[3] = "--param";
		args[4] = param;
		args[5] = "--wait";
	}
	v = json_ok(d, args);
	ck_assert_msg(strcmp(tl_jstr(v, "status"), "completed") == 0, "%s: %s (%s)", type,
	    tl_jstr(v, "status"), tl_jstr(v, "error") ? tl_jstr(v, "error") : "");
	return v;
}

/* The configuration's policy file: policies/policies.ini beside the config file (relative
 * paths are the config file's directory's), a copy of packaging/policies.example; the job
 * parameter policy_file names files in that policies directory. */
#define POLICY_CONF "[analysis]\npolicy_file = policies/policies.ini\n"

static struct tl_daemon *
new_daemon(void)
{
	struct tl_daemon *d = tl_daemon_new(&(struct tl_opts){.max_workers = 1,
	    .extra = POLICY_CONF});
	char path[PATH_MAX], *text;

	snprintf(path, sizeof path, "%s/policies", d->dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/../../packaging/policies.example", tl_fixtures_dir());
	text = tl_read_file(path);
	ck_assert_msg(text != NULL, "no %s", path);
	snprintf(path, sizeof path, "%s/policies/policies.ini", d->dir);
	tl_write_file(path, text);
	free(text);
	return d;
}

static struct tl_daemon *
start_with_data(void)
{
	struct tl_daemon *d = new_daemon();

	ck_assert_int_eq(tl_rm_rf(d->source_dir), 0);
	ck_assert_int_eq(mkdir(d->source_dir, 0700), 0);
	dg_run((const char *const[]){"--owners", "2000", "--seed", "42", "--out",
	    d->source_dir, "-q", NULL});
	tl_daemon_start(d);
	yajl_tree_free(run_job(d, "full_sync", NULL));
	return d;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "dept-title" -> "<count>|<entitlements, comma-separated>" expected, from the manifest. */
struct want {
	char name[128];
	long long owners;
	char ents[2048];
	bool seen;
};

static size_t
expected_roles(yajl_val m, struct want *w, size_t max)
{
	yajl_val cohorts = tl_jget(m, "cohorts"), holders, c;
	const char *gids[128];
	size_t i, j, n = 0, ng;
	long long owners, h;

	ck_assert(cohorts != NULL && YAJL_IS_ARRAY(cohorts));
	for (i = 0; i < YAJL_GET_ARRAY(cohorts)->len; i++) {
		c = YAJL_GET_ARRAY(cohorts)->values[i];
		owners = tl_jint(c, "owners");
		if (owners < 5)
			continue;
		ck_assert(n < max);
		/* datagen's values are lowercase with underscores: the role name is as is. */
		snprintf(w[n].name, sizeof w[n].name, "%s-%s", tl_jstr(c, "department"),
		    tl_jstr(c, "title"));
		w[n].owners = owners;
		holders = tl_jget(c, "group_holders");
		ng = 0;
		for (j = 0; j < YAJL_GET_OBJECT(holders)->len; j++) {
			h = YAJL_GET_INTEGER(YAJL_GET_OBJECT(holders)->values[j]);
			if (h * 100 >= 80 * owners)
				gids[ng++] = YAJL_GET_OBJECT(holders)->keys[j];
		}
		qsort(gids, ng, sizeof *gids, cmp_str);
		w[n].ents[0] = '\0';
		for (j = 0; j < ng; j++) {
			strcat(w[n].ents, j > 0 ? "," : "");
			strcat(w[n].ents, gids[j]);
		}
		n++;
	}
	return n;
}

START_TEST(test_roles_and_policies)
{
	struct tl_daemon *d = start_with_data();
	struct want w[128];
	yajl_val m, v, roles, r, ents, viols, sod, pairs, x;
	char ents_s[2048], planted[OWNERS / 200 + 1][16], pol_param[PATH_MAX + 32];
	size_t nw, i, j, k, nplanted = 0, owners_seen = 0;
	long long created, per_pair[4] = {0, 0, 0, 0};

	m = dg_manifest(d->source_dir);
	nw = expected_roles(m, w, 128);
	ck_assert(nw > 10);

	/* Enrichment first: the manifest's group_holders count every account as linked. */
	yajl_tree_free(run_job(d, "enrichment", NULL));

	/* The cohorts as owners.csv writes them (the overlay's filled-in owners are not in
	 * the manifest's cohorts): attribute_source=source. */
	v = run_job(d, "role_generation", "attribute_source=source");
	ck_assert_int_eq(tl_jint(v, "records_created"), (long long)nw);
	ck_assert_int_eq(tl_jint(v, "records_updated"), 0);
	ck_assert_int_eq(tl_jint(v, "records_deleted"), 0);
	ck_assert_int_eq(tl_jint(v, "records_processed"), tl_jint(v, "total_records"));
	yajl_tree_free(v);

	v = json_ok(d, (const char *const[]){"--json", "roles", "--limit", "1000", NULL});
	roles = tl_jget(v, "roles");
	ck_assert(roles != NULL && YAJL_IS_ARRAY(roles));
	ck_assert_int_eq(YAJL_GET_ARRAY(roles)->len, nw);
	for (i = 0; i < YAJL_GET_ARRAY(roles)->len; i++) {
		r = YAJL_GET_ARRAY(roles)->values[i];
		for (j = 0; j < nw && strcmp(w[j].name, tl_jstr(r, "id")) != 0; j++)
			;
		ck_assert_msg(j < nw, "unexpected role %s", tl_jstr(r, "id"));
		ck_assert(!w[j].seen);
		w[j].seen = true;
		ck_assert_int_eq(tl_jint(r, "member_count"), w[j].owners);
		ents = tl_jget(r, "entitlements");
		ents_s[0] = '\0';
		for (k = 0; k < YAJL_GET_ARRAY(ents)->len; k++) {
			strcat(ents_s, k > 0 ? "," : "");
			const char *e = YAJL_GET_STRING(YAJL_GET_ARRAY(ents)->values[k]);

			ck_assert(e != NULL);
			strcat(ents_s, e);
		}
		ck_assert_msg(strcmp(ents_s, w[j].ents) == 0, "%s: entitlements %s, want %s",
		    w[j].name, ents_s, w[j].ents);
	}
	yajl_tree_free(v);

	/* Same data: nothing changes. */
	v = run_job(d, "role_generation", "attribute_source=source");
	ck_assert_int_eq(tl_jint(v, "records_created"), 0);
	ck_assert_int_eq(tl_jint(v, "records_updated"), 0);
	ck_assert_int_eq(tl_jint(v, "records_deleted"), 0);
	yajl_tree_free(v);

	/* The default (effective attributes): the owners enrichment filled join cohorts. */
	v = run_job(d, "role_generation", NULL);
	ck_assert(tl_jint(v, "records_created") + tl_jint(v, "records_updated") > 0);
	ck_assert_int_eq(tl_jint(v, "records_deleted"), 0);
	yajl_tree_free(v);

	/* Policies (the configuration's packaging/policies.example): owners with violations
	 * are exactly the planted ones, i % 200 == 7, each with one sod violation in the
	 * pair the manifest counts. */
	for (i = 7; i <= OWNERS; i += 200)
		snprintf(planted[nplanted++], sizeof planted[0], "own-%07zu", i);
	sod = tl_jget(m, "sod");
	ck_assert_int_eq(tl_jint(sod, "conflicting_owners"), (long long)nplanted);
	pairs = tl_jget(sod, "pairs");
	v = run_job(d, "policy_analysis", NULL);
	created = tl_jint(v, "records_created");
	ck_assert(created > 0);
	yajl_tree_free(v);
	viols = json_ok(d, (const char *const[]){"--json", "violations", "--kind", "owner",
	    "--limit", "1000", NULL});
	x = tl_jget(viols, "violations");
	ck_assert(x != NULL && YAJL_IS_ARRAY(x));
	for (i = 0; i < YAJL_GET_ARRAY(x)->len; i++) {
		yajl_val vi = YAJL_GET_ARRAY(x)->values[i];
		const char *sid = tl_jstr(vi, "subject_id");

		for (j = 0; j < nplanted && strcmp(planted[j], sid) != 0; j++)
			;
		ck_assert_msg(j < nplanted, "owner %s has a violation (%s) but is not planted",
		    sid, tl_jstr(vi, "policy"));
		if (strcmp(tl_jstr(vi, "kind"), "sod") != 0)
			continue;
		owners_seen++;
		ents = tl_jget(vi, "entitlements");
		ck_assert_int_eq(YAJL_GET_ARRAY(ents)->len, 2);
		for (k = 0; k < YAJL_GET_ARRAY(pairs)->len; k++) {
			yajl_val g = tl_jget(YAJL_GET_ARRAY(pairs)->values[k], "groups");
			const char *a = YAJL_GET_STRING(YAJL_GET_ARRAY(g)->values[0]);
			const char *b = YAJL_GET_STRING(YAJL_GET_ARRAY(g)->values[1]);
			const char *e0 = YAJL_GET_STRING(YAJL_GET_ARRAY(ents)->values[0]);
			const char *e1 = YAJL_GET_STRING(YAJL_GET_ARRAY(ents)->values[1]);

			if ((strcmp(a, e0) == 0 && strcmp(b, e1) == 0) ||
			    (strcmp(a, e1) == 0 && strcmp(b, e0) == 0))
				per_pair[k]++;
		}
	}
	ck_assert_int_eq((long long)owners_seen, (long long)nplanted);
	for (k = 0; k < YAJL_GET_ARRAY(pairs)->len && k < 4; k++)
		ck_assert_int_eq(per_pair[k], tl_jint(YAJL_GET_ARRAY(pairs)->values[k],
		    "conflicting_owners"));
	yajl_tree_free(viols);

	/* No role grants both sides of a pair (the 80% threshold keeps them apart). */
	viols = json_ok(d, (const char *const[]){"--json", "violations", "--kind", "role",
	    "--limit", "1000", NULL});
	ck_assert_int_eq(YAJL_GET_ARRAY(tl_jget(viols, "violations"))->len, 0);
	yajl_tree_free(viols);

	/* Again: everything still open; then a policy file as a parameter. */
	v = run_job(d, "policy_analysis", NULL);
	ck_assert_int_eq(tl_jint(v, "records_created"), 0);
	ck_assert_int_eq(tl_jint(v, "records_updated"), created);
	ck_assert_int_eq(tl_jint(v, "records_deleted"), 0);
	yajl_tree_free(v);
	/* A file name in the policy directory, not a path. */
	snprintf(pol_param, sizeof pol_param, "policy_file=sod-only.ini");
	{
		char path[PATH_MAX];

		snprintf(path, sizeof path, "%s/policies/sod-only.ini", d->dir);
		tl_write_file(path, "[sod ad-ap-invoice-entry-vs-payment-approval]\n"
		    "entitlements = grp-ad-ap-invoice-entry, grp-ad-ap-payment-approval\n");
	}
	v = run_job(d, "policy_analysis", pol_param);
	ck_assert_int_eq(tl_jint(v, "records_created"), 0);
	ck_assert_int_eq(tl_jint(v, "records_updated"), per_pair[0]);
	ck_assert_int_eq(tl_jint(v, "records_deleted"), created - per_pair[0]);
	yajl_tree_free(v);
	yajl_tree_free(m);
}
END_TEST

/* Submit policy_analysis with parameter policy_file=name through jobctl; expect it to
 * fail with error want. */
static void
expect_failed(struct tl_daemon *d, const char *name, const char *want)
{
	char param[PATH_MAX + 32];
	const char *args[] = {"--json", "submit", "policy_analysis", "--param", param,
	    "--wait", NULL};
	struct tl_run r;
	yajl_val v;

	snprintf(param, sizeof param, "policy_file=%s", name);
	tl_jobctlv(d, &r, args);
	v = tl_json(r.out);
	ck_assert_msg(v != NULL, "%s %s", r.out, r.err);
	ck_assert_str_eq(tl_jstr(v, "status"), "failed");
	ck_assert_msg(tl_jstr(v, "error") != NULL && strcmp(tl_jstr(v, "error"), want) == 0,
	    "policy_file=%s: error '%s', want '%s'", name, tl_jstr(v, "error"), want);
	yajl_tree_free(v);
	tl_run_free(&r);
}

/* A broken policy file of the policy directory fails the job at once naming file and
 * line. A path (absolute or with ../) or a symlink out of the policy directory is refused
 * before anything is read, with one error that says nothing about the file named: the
 * parameter cannot read or probe the host's files through the job's error. */
START_TEST(test_policy_file_error)
{
	struct tl_daemon *d = new_daemon();
	char path[PATH_MAX], real[PATH_MAX], want[2 * PATH_MAX];

	/* The daemon resolves the config file's path: its directory as realpath has it. */
	ck_assert_msg(realpath(d->dir, real) != NULL, "realpath %s", d->dir);
	snprintf(path, sizeof path, "%s/policies/bad.ini", d->dir);
	tl_write_file(path, "[sod x]\nentitlements = a, b\nlimit = 3\n");
	snprintf(path, sizeof path, "%s/policies/passwd", d->dir);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
	snprintf(path, sizeof path, "%s/policies/nothing", d->dir);
	ck_assert_int_eq(symlink("/nonexistent/file", path), 0);
	tl_daemon_start(d);
	snprintf(want, sizeof want, "policy file %s/policies/bad.ini:3: unknown key 'limit' "
	    "in [sod x]", real);
	expect_failed(d, "bad.ini", want);
	snprintf(want, sizeof want, "parameters.policy_file: must be a file name in the "
	    "policy directory %s/policies", real);
	expect_failed(d, "/etc/passwd", want);
	expect_failed(d, "/proc/self/environ", want);
	expect_failed(d, "/nonexistent/file", want);
	expect_failed(d, "../jobsd.conf", want);
	expect_failed(d, "passwd", want);
	expect_failed(d, "nothing", want);
}
END_TEST

/* Cancelled in the middle (batch_size 50, delay_ms 100): cancelled, not everything
 * processed; the next run completes with every role. */
START_TEST(test_cancel_mid_run)
{
	struct tl_daemon *d = start_with_data();
	struct want w[128];
	int64_t some = 500;
	struct job jb;
	struct tl_run r;
	char id[32];
	yajl_val m, v;
	size_t nw;

	m = dg_manifest(d->source_dir);
	nw = expected_roles(m, w, 128);
	yajl_tree_free(m);
	tl_submit(d, id, "role_generation", "attribute_source=source", "batch_size=50",
	    "delay_ms=100", NULL);
	ck_assert_msg(tl_wait_job(d, id, tl_pred_processed, &some, 30000, &jb) == 0,
	    "never processed %lld records", (long long)some);
	job_free(&jb);
	ck_assert_int_eq(tl_jobctl(d, &r, "cancel", id, NULL), 0);
	tl_run_free(&r);
	ck_assert_int_eq(tl_job(d, id, false, &jb), 0);
	ck_assert_int_eq(jb.status, JOB_CANCELLED);
	ck_assert(jb.total_records > jb.records_processed);
	ck_assert(jb.records_processed >= 500);
	job_free(&jb);

	/* Nothing was written before the cancellation: the next run creates every role. */
	v = run_job(d, "role_generation", "attribute_source=source");
	ck_assert_int_eq(tl_jint(v, "records_created"), (long long)nw);
	yajl_tree_free(v);

	/* policy_analysis cancelled while reading: nothing written, so the next run
	 * creates what a run finds. */
	tl_submit(d, id, "policy_analysis", "batch_size=50", "delay_ms=100", NULL);
	ck_assert_msg(tl_wait_job(d, id, tl_pred_processed, &some, 30000, &jb) == 0,
	    "never processed %lld records", (long long)some);
	job_free(&jb);
	ck_assert_int_eq(tl_jobctl(d, &r, "cancel", id, NULL), 0);
	tl_run_free(&r);
	ck_assert_int_eq(tl_job(d, id, false, &jb), 0);
	ck_assert_int_eq(jb.status, JOB_CANCELLED);
	ck_assert(jb.total_records > jb.records_processed);
	ck_assert_int_eq(jb.records_created, 0);
	job_free(&jb);
	v = json_ok(d, (const char *const[]){"--json", "violations", "--limit", "1", NULL});
	ck_assert_int_eq(YAJL_GET_ARRAY(tl_jget(v, "violations"))->len, 0);
	yajl_tree_free(v);
	v = run_job(d, "policy_analysis", NULL);
	ck_assert(tl_jint(v, "records_created") > 0);
	ck_assert_int_eq(tl_jint(v, "records_updated"), 0);
	yajl_tree_free(v);
}
END_TEST

Suite *
integration_roles_suite(void)
{
	Suite *s = suite_create("integration_roles");
	TCase *tc = tl_tcase("roles", 240);

	tcase_add_test(tc, test_roles_and_policies);
	tcase_add_test(tc, test_policy_file_error);
	tcase_add_test(tc, test_cancel_mid_run);
	suite_add_tcase(s, tc);
	return s;
}
