/* check_policy.c: policy_analysis run in-process on small hand-made identity data and
 * roles written straight into a temp store, with policy files written by the tests; every
 * expected violation, decision and counter is worked out by hand in the comments. */
#include <sys/stat.h>

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>

#include "lib/analysis_fixture.h"
#include "lib/testlib.h"
#include "results.h"

Suite *policy_suite(void);

static void
setup(void)
{
	af_setup("policy", AF_IDENTITY);
}

static char outside[PATH_MAX]; /* a temp dir outside the policy directory, or "" */

static void
teardown(void)
{
	if (outside[0] != '\0')
		ck_assert_int_eq(tl_rm_rf(outside), 0);
	outside[0] = '\0';
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
acc(const char *id, const char *owner, const char *app, const char *status)
{
	af_record(IDENT_ACCOUNT, id, "application_id", app, "owner_id", owner, "status", status,
	    "modified_at", "2025-01-01T00:00:00Z", NULL);
}

/* A role record as role_generation writes it (only entitlements matter here). */
static void
role_put(const char *name, const char *const *ents)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t n = 0, i;

	while (ents[n] != NULL)
		n++;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	msgpack_pack_str_with_body(&pk, "member_count", 12);
	msgpack_pack_uint64(&pk, 5);
	msgpack_pack_str_with_body(&pk, "entitlements", 12);
	msgpack_pack_array(&pk, n);
	for (i = 0; i < n; i++)
		msgpack_pack_str_with_body(&pk, ents[i], strlen(ents[i]));
	msgpack_pack_str_with_body(&pk, "_job", 4);
	msgpack_pack_uint64(&pk, 1);
	af_db_put(RES_DB_ROLES, name, &sb);
	msgpack_sbuffer_destroy(&sb);
}

/* --- running -------------------------------------------------------------------- */

static const char *conf_policy; /* the configuration's policy_file for run() */

/* Run policy_analysis as job number no with parameters "k=v" (NULL-terminated). */
static struct af_job *
run(uint64_t no, int cancel_on, const char *const *params)
{
	struct af_job *t = af_job_new(JOB_POLICY_ANALYSIS, no, params);

	if (conf_policy != NULL)
		snprintf(t->conf.policy_file, sizeof t->conf.policy_file, "%s", conf_policy);
	af_job_run(t, cancel_on);
	return t;
}

static char *
write_policy(const char *name, const char *text)
{
	char *path;

	if (asprintf(&path, "%s/%s", af.dir, name) == -1)
		ck_abort_msg("asprintf");
	tl_write_file(path, text);
	return path;
}

/* The policies of the main test: a SoD pair, a SoD set continued on an indented line, a
 * requirement, caps for roles (the default subject) and owners, and two account rules. */
static const char main_policies[] =
    "# policies for check_policy\n"
    "[sod sod-pair]\n"
    "description = entry and approval\n"
    "entitlements = g-entry, g-approve\n"
    "\n"
    "[sod sod-set]\n"
    "entitlements = g-x,\n"
    "    g-y, g-z\n"
    "[requires admins-are-it]\n"
    "entitlement = g-admin\n"
    "attribute = department\n"
    "values = it, security\n"
    "[max_entitlements role-cap]\n"
    "limit = 2\n"
    "[max_entitlements owner-cap]\n"
    "subjects = owners\n"
    "limit = 3\n"
    "[account_rule approve-ad]\n"
    "action = approve\n"
    "match = application_id=app-ad\n"
    "[account_rule reject-disabled]\n"
    "action = reject\n"
    "match = status=disabled\n";

static void
main_data(void)
{
	own("o1", "finance", "clerk");
	own("o2", "hr", "clerk");
	own("o3", "it", "admin");
	own("o4", "it", "admin");
	own("o5", NULL, "admin");
	own("o6", NULL, "admin");
	af_res_put(RES_DB_OWNER_OVERLAY, "o6", "department", "security", NULL, NULL);
	acc("a1", "o1", "app-ad", "active");
	af_membership("a1", "g-entry");
	af_membership("a1", "g-approve");
	af_membership("a1", "g-admin");
	acc("a2", "o2", "app-ad", "disabled");
	af_membership("a2", "g-entry");
	acc("a3a", "o3", "app-sap", "active");
	af_membership("a3a", "g-x");
	af_membership("a3a", "g-admin");
	af_membership("a3a", "g-w");
	acc("a3b", "o3", "app-sap", "disabled");
	af_membership("a3b", "g-z");
	acc("a4", "o4", "app-hr", "active");
	af_membership("a4", "g-x");
	acc("a5", "o5", "app-ad", "active");
	af_membership("a5", "g-admin");
	acc("a6", NULL, "app-hr", "active");
	af_res_put(RES_DB_ACCOUNT_LINKS, "a6", "owner_id", "o6", "rule", "email");
	af_membership("a6", "g-admin");
	role_put("r-big", (const char *const[]){"g1", "g2", "g3", NULL});
	role_put("r-ok", (const char *const[]){"g1", "g2", NULL});
	role_put("r-sod", (const char *const[]){"g-approve", "g-entry", NULL});
	role_put("r-set", (const char *const[]){"g-w", "g-x", "g-y", NULL});
}

/*
 * By hand:
 *  sod-pair: o1 holds g-entry and g-approve; role r-sod grants both.
 *  sod-set {g-x, g-y, g-z}: o3 holds g-x (a3a) and g-z (a3b); o4 only g-x; role r-set
 *    grants g-x and g-y.
 *  admins-are-it: g-admin holders o1 (finance: violation), o3 (it), o5 (no department:
 *    violation), o6 (security from the overlay, through the link of a6).
 *  role-cap 2: r-big and r-set grant 3; r-ok and r-sod 2.  owner-cap 3: o3 holds 4 (g-admin, g-w,
 *    g-x, g-z); o1 holds exactly 3.
 *  accounts: a1, a5 app-ad -> approve; a2 app-ad and disabled -> reject wins; a3b
 *    disabled -> reject; a3a, a4, a6 -> pending.
 * 5 owner + 4 role violations + 7 account decisions = 16.
 */
static const char main_dump[] =
    "account_rules|account|a3a policy=account_rules kind=account_rule subject_kind=account "
    "subject_id=a3a entitlements=[] detail=no account rule matches: awaiting a decision "
    "decision=pending first_seen_job=1\n"
    "account_rules|account|a4 policy=account_rules kind=account_rule subject_kind=account "
    "subject_id=a4 entitlements=[] detail=no account rule matches: awaiting a decision "
    "decision=pending first_seen_job=1\n"
    "account_rules|account|a6 policy=account_rules kind=account_rule subject_kind=account "
    "subject_id=a6 entitlements=[] detail=no account rule matches: awaiting a decision "
    "decision=pending first_seen_job=1\n"
    "admins-are-it|owner|o1 policy=admins-are-it kind=requires_attribute "
    "subject_kind=owner subject_id=o1 entitlements=[g-admin] detail=holds g-admin but "
    "department is 'finance', not one of the allowed values first_seen_job=1\n"
    "admins-are-it|owner|o5 policy=admins-are-it kind=requires_attribute "
    "subject_kind=owner subject_id=o5 entitlements=[g-admin] detail=holds g-admin but "
    "has no department first_seen_job=1\n"
    "approve-ad|account|a1 policy=approve-ad kind=account_rule subject_kind=account "
    "subject_id=a1 entitlements=[] detail=approved by approve-ad decision=approve "
    "first_seen_job=1\n"
    "approve-ad|account|a5 policy=approve-ad kind=account_rule subject_kind=account "
    "subject_id=a5 entitlements=[] detail=approved by approve-ad decision=approve "
    "first_seen_job=1\n"
    "owner-cap|owner|o3 policy=owner-cap kind=max_entitlements subject_kind=owner "
    "subject_id=o3 entitlements=[g-admin,g-w,g-x,g-z] detail=holds 4 entitlements; the "
    "limit is 3 first_seen_job=1\n"
    "reject-disabled|account|a2 policy=reject-disabled kind=account_rule "
    "subject_kind=account subject_id=a2 entitlements=[] detail=rejected by "
    "reject-disabled (1 reject and 1 approve rules match; reject wins) decision=reject "
    "first_seen_job=1\n"
    "reject-disabled|account|a3b policy=reject-disabled kind=account_rule "
    "subject_kind=account subject_id=a3b entitlements=[] detail=rejected by "
    "reject-disabled decision=reject first_seen_job=1\n"
    "role-cap|role|r-big policy=role-cap kind=max_entitlements subject_kind=role "
    "subject_id=r-big entitlements=[g1,g2,g3] detail=grants 3 entitlements; the limit "
    "is 2 first_seen_job=1\n"
    "role-cap|role|r-set policy=role-cap kind=max_entitlements subject_kind=role "
    "subject_id=r-set entitlements=[g-w,g-x,g-y] detail=grants 3 entitlements; the "
    "limit is 2 first_seen_job=1\n"
    "sod-pair|owner|o1 policy=sod-pair kind=sod subject_kind=owner subject_id=o1 "
    "entitlements=[g-approve,g-entry] detail=holds 2 of the 2 entitlements that must "
    "not be held together first_seen_job=1\n"
    "sod-pair|role|r-sod policy=sod-pair kind=sod subject_kind=role subject_id=r-sod "
    "entitlements=[g-approve,g-entry] detail=grants 2 of the 2 entitlements that must "
    "not be held together first_seen_job=1\n"
    "sod-set|owner|o3 policy=sod-set kind=sod subject_kind=owner subject_id=o3 "
    "entitlements=[g-x,g-z] detail=holds 2 of the 3 entitlements that must not be held "
    "together first_seen_job=1\n"
    "sod-set|role|r-set policy=sod-set kind=sod subject_kind=role subject_id=r-set "
    "entitlements=[g-x,g-y] detail=grants 2 of the 3 entitlements that must not be held "
    "together first_seen_job=1\n";

START_TEST(test_evaluate)
{
	struct af_job *t;
	char *path, *raw1, *raw2, *d;

	main_data();
	path = write_policy("p.ini", main_policies);
	conf_policy = path;
	t = run(1, 0, NULL);
	af_expect(t, JOB_RUN_OK, 16, 0, 0);
	/* 6 owners read and checked, 7 accounts, 11 memberships, 4 roles, 7 accounts. */
	ck_assert_int_eq(t->ctx.total, 6 * 2 + 7 + 11 + 4 + 7);
	ck_assert_int_eq(t->ctx.processed, t->ctx.total);
	ck_assert(!t->progress_went_back);
	af_job_free(t);
	af_expect_dump(RES_DB_VIOLATIONS, main_dump);
	raw1 = af_dump(RES_DB_VIOLATIONS, true);

	/* Nothing changed: all 16 still open, the records untouched. */
	t = run(2, 0, NULL);
	af_expect(t, JOB_RUN_OK, 0, 16, 0);
	af_job_free(t);
	raw2 = af_dump(RES_DB_VIOLATIONS, true);
	ck_assert_str_eq(raw1, raw2);
	free(raw1);
	free(raw2);

	/* o1 gives up g-approve: sod-pair|owner|o1 resolved. a4 is disabled: its pending
	 * decision goes, a reject appears. 1 created, 14 still open, 2 resolved. */
	af_del_membership("a1", "g-approve");
	acc("a4", "o4", "app-hr", "disabled");
	t = run(3, 0, NULL);
	af_expect(t, JOB_RUN_OK, 1, 14, 2);
	af_job_free(t);
	d = af_dump(RES_DB_VIOLATIONS, false);
	ck_assert_msg(strstr(d, "sod-pair|owner|o1") == NULL, "%s", d);
	ck_assert_msg(strstr(d, "account_rules|account|a4") == NULL, "%s", d);
	ck_assert_msg(strstr(d, "reject-disabled|account|a4 policy=reject-disabled "
	    "kind=account_rule subject_kind=account subject_id=a4 entitlements=[] "
	    "detail=rejected by reject-disabled decision=reject first_seen_job=3\n") != NULL,
	    "%s", d);
	/* Still-open violations keep the job that first saw them. */
	ck_assert_msg(strstr(d, "sod-set|owner|o3 policy=sod-set kind=sod subject_kind=owner "
	    "subject_id=o3 entitlements=[g-x,g-z] detail=holds 2 of the 3 entitlements that "
	    "must not be held together first_seen_job=1\n") != NULL, "%s", d);
	free(d);
	conf_policy = NULL;
	free(path);
}
END_TEST

/* The job parameter (a file beside the configured one) overrides the configuration;
 * subjects = owners keeps a SoD set off roles; a set of three held completely is one violation naming all three. */
START_TEST(test_parameter_and_subjects)
{
	struct af_job *t;
	char *conf, *param;

	own("o1", "x", "y");
	acc("a1", "o1", "app", "active");
	af_membership("a1", "g1");
	af_membership("a1", "g2");
	af_membership("a1", "g3");
	role_put("r1", (const char *const[]){"g1", "g2", NULL});
	conf = write_policy("conf.ini", "[sod never-used]\nentitlements = q1, q2\n");
	param = write_policy("param.ini", "[sod three]\nsubjects = owners\n"
	    "entitlements = g1, g2, g3\n");
	conf_policy = conf;
	/* A file name in the directory of the configured file. */
	t = run(1, 0, (const char *const[]){"policy_file=param.ini", NULL});
	af_expect(t, JOB_RUN_OK, 1, 0, 0);
	af_job_free(t);
	af_expect_dump(RES_DB_VIOLATIONS, "three|owner|o1 policy=three kind=sod "
	    "subject_kind=owner subject_id=o1 entitlements=[g1,g2,g3] detail=holds 3 of the 3 "
	    "entitlements that must not be held together first_seen_job=1\n");

	/* The configuration's file finds nothing: the violation is resolved. */
	t = run(2, 0, NULL);
	af_expect(t, JOB_RUN_OK, 0, 0, 1);
	af_job_free(t);
	af_expect_dump(RES_DB_VIOLATIONS, "");
	conf_policy = NULL;
	free(conf);
	free(param);
}
END_TEST

static void
expect_file_error(const char *text, const char *want)
{
	struct af_job *t;
	char *path = write_policy("bad.ini", text), *exp;

	conf_policy = path;
	t = run(1, 0, NULL);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	if (asprintf(&exp, "policy file %s%s", path, want) == -1)
		ck_abort_msg("asprintf");
	ck_assert_msg(t->error != NULL && strcmp(t->error, exp) == 0, "got '%s'\nwant '%s'",
	    t->error, exp);
	free(exp);
	af_job_free(t);
	conf_policy = NULL;
	free(path);
}

START_TEST(test_file_errors)
{
	struct af_job *t;

	expect_file_error("[sod x]\nentitlements = a\n",
	    ":1: [sod x] needs entitlements = at least two different group ids");
	expect_file_error("[sod x]\nentitlements = a, a\n",
	    ":1: [sod x] needs entitlements = at least two different group ids");
	expect_file_error("[sod x]\nentitlements = a, b\nfoo = 1\n",
	    ":3: unknown key 'foo' in [sod x]");
	expect_file_error("# comment\n\n[bogus y]\n",
	    ":3: unknown policy type 'bogus' (sod, max_entitlements, requires or "
	    "account_rule)");
	expect_file_error("[sod x]\nentitlements a b\n",
	    ":2: syntax error (expected [TYPE NAME], key = value, or a comment)");
	expect_file_error("[max_entitlements m]\nlimit = -1\n",
	    ":2: limit: '-1' is not a number in 0..1000000");
	expect_file_error("[max_entitlements m]\n",
	    ":1: [max_entitlements m] needs limit = N");
	expect_file_error("[account_rule r]\naction = maybe\n",
	    ":2: action: 'maybe' is not approve or reject");
	expect_file_error("[account_rule r]\naction = reject\nmatch = status\n",
	    ":3: match condition 'status' is not field=value");
	expect_file_error("[account_rule r]\naction = reject\n",
	    ":1: [account_rule r] needs match = field=value [AND ...]");
	expect_file_error("[sod x]\nentitlements = a, b\n\n[max_entitlements x]\nlimit = 1\n",
	    ":4: policy 'x' is defined twice (first at line 1)");
	expect_file_error("[requires q]\nentitlement = g\nattribute = department\n",
	    ":1: [requires q] needs values = V1, V2, ...");
	expect_file_error("limit = 3\n", ":1: 'limit' outside a policy section");
	expect_file_error("[sod]\n", ":1: section [sod] is not [TYPE NAME] (TYPE sod, "
	    "max_entitlements, requires or account_rule)");
	expect_file_error("[sod a|b]\n", ":1: policy name 'a|b' is not 1 to 64 letters, "
	    "digits, _ - .");
	expect_file_error("[sod account_rules]\n", ":1: policy name 'account_rules' is "
	    "reserved");
	expect_file_error("[sod x]\nentitlements = a, b\nentitlements = c, d\n",
	    ":3: 'entitlements' is given twice in [sod x]");

	/* A missing file, and no file configured at all. */
	conf_policy = "/nonexistent/policies.ini";
	t = run(1, 0, NULL);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_str_eq(t->error, "policy file /nonexistent/policies.ini: No such file or "
	    "directory");
	af_job_free(t);
	conf_policy = NULL;
	t = run(1, 0, NULL);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_str_eq(t->error, "no policy file: set policy_file in the [analysis] "
	    "section of the configuration");
	af_job_free(t);
}
END_TEST

/* Run with the configuration's policy file conf_policy and parameter policy_file=name;
 * expect the job to fail with error want (NULL: the refusal naming the directory dir). */
static void
expect_param_error(const char *name, const char *dir, const char *want)
{
	struct af_job *t;
	char arg[PATH_MAX + 32], *exp;

	snprintf(arg, sizeof arg, "policy_file=%s", name);
	t = run(1, 0, (const char *const[]){arg, NULL});
	if (want != NULL)
		exp = strdup(want);
	else if (asprintf(&exp, "parameters.policy_file: must be a file name in the policy "
	    "directory %s", dir) == -1)
		exp = NULL;
	ck_assert(exp != NULL);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_msg(t->error != NULL && strcmp(t->error, exp) == 0,
	    "policy_file=%s: got '%s'\nwant '%s'", name, t->error, exp);
	ck_assert_int_eq(t->ctx.created, 0);
	free(exp);
	af_job_free(t);
}

/*
 * The policy_file parameter names a file in the directory of the configured policy file,
 * never a path: an absolute path, "../", a subdirectory, a hidden name, a symlink out of
 * the directory (to a file that exists or not: the same error, so the parameter cannot
 * probe the host), a directory and a fifo are refused; a missing name says so (the
 * directory is the operator's); a file or a symlink to a file inside is read, and its
 * errors name it as DIR/NAME. Without a configured policy file the parameter is refused.
 */
START_TEST(test_parameter_confined)
{
	char *out = outside, path[PATH_MAX + 64], want[2 * PATH_MAX];
	char *conf;
	struct af_job *t;

	own("o1", "x", "y");
	acc("a1", "o1", "app", "active");
	af_membership("a1", "g1");
	af_membership("a1", "g2");
	conf = write_policy("conf.ini", "[sod never-used]\nentitlements = q1, q2\n");
	free(write_policy("pair.ini", "[sod pair]\nentitlements = g1, g2\n"));
	free(write_policy("bad.ini", "[sod x]\nentitlements = a, b\nlimit = 3\n"));
	/* Outside the policy directory: a policy file that would parse, and a secret. */
	tl_mkdtemp(out, "policy-out");
	snprintf(path, sizeof path, "%s/outside.ini", out);
	tl_write_file(path, "[sod pair]\nentitlements = g1, g2\n");
	snprintf(path, sizeof path, "%s/secret", out);
	tl_write_file(path, "root:x:0:0\n");
	snprintf(path, sizeof path, "%s/link-out.ini", af.dir);
	ck_assert_int_eq(symlink(out, path), 0);
	snprintf(want, sizeof want, "%s/outside.ini", out);
	snprintf(path, sizeof path, "%s/link-file-out.ini", af.dir);
	ck_assert_int_eq(symlink(want, path), 0);
	snprintf(want, sizeof want, "%s/secret", out);
	snprintf(path, sizeof path, "%s/link-secret", af.dir);
	ck_assert_int_eq(symlink(want, path), 0);
	snprintf(want, sizeof want, "%s/nonexistent", out);
	snprintf(path, sizeof path, "%s/link-missing", af.dir);
	ck_assert_int_eq(symlink(want, path), 0);
	snprintf(path, sizeof path, "%s/link-loop", af.dir);
	ck_assert_int_eq(symlink("link-loop", path), 0);
	snprintf(path, sizeof path, "%s/link-in.ini", af.dir);
	ck_assert_int_eq(symlink("pair.ini", path), 0);
	snprintf(path, sizeof path, "%s/subdir", af.dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/fifo", af.dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	conf_policy = conf;

	expect_param_error("/etc/passwd", af.dir, NULL);
	expect_param_error(want, af.dir, NULL); /* absolute, missing */
	snprintf(path, sizeof path, "%s/pair.ini", af.dir);
	expect_param_error(path, af.dir, NULL); /* absolute, even inside */
	expect_param_error("../etc/passwd", af.dir, NULL);
	expect_param_error("..", af.dir, NULL);
	expect_param_error(".", af.dir, NULL);
	expect_param_error(".hidden.ini", af.dir, NULL);
	expect_param_error("subdir/../pair.ini", af.dir, NULL);
	expect_param_error("pair ini", af.dir, NULL);
	expect_param_error("", af.dir, NULL);
	expect_param_error("link-out.ini", af.dir, NULL);      /* a directory outside */
	expect_param_error("link-file-out.ini", af.dir, NULL); /* a policy file outside */
	expect_param_error("link-secret", af.dir, NULL);
	expect_param_error("link-missing", af.dir, NULL);      /* same: no oracle */
	expect_param_error("link-loop", af.dir, NULL);
	expect_param_error("subdir", af.dir, NULL);
	expect_param_error("fifo", af.dir, NULL);              /* refused, never blocks */
	snprintf(want, sizeof want, "parameters.policy_file: no file missing.ini in the "
	    "policy directory %s", af.dir);
	expect_param_error("missing.ini", af.dir, want);
	/* The operator's files: errors quote them, naming DIR/NAME. */
	snprintf(want, sizeof want, "policy file %s/bad.ini:3: unknown key 'limit' in "
	    "[sod x]", af.dir);
	expect_param_error("bad.ini", af.dir, want);

	/* Accepted: a file of the directory, and a symlink to one. o1 holds g1 and g2. */
	t = run(1, 0, (const char *const[]){"policy_file=pair.ini", NULL});
	af_expect(t, JOB_RUN_OK, 1, 0, 0);
	af_job_free(t);
	t = run(2, 0, (const char *const[]){"policy_file=link-in.ini", NULL});
	af_expect(t, JOB_RUN_OK, 0, 1, 0);
	af_job_free(t);
	af_expect_dump(RES_DB_VIOLATIONS, "pair|owner|o1 policy=pair kind=sod "
	    "subject_kind=owner subject_id=o1 entitlements=[g1,g2] detail=holds 2 of the 2 "
	    "entitlements that must not be held together first_seen_job=1\n");

	/* No configured policy file: the parameter is refused, whatever it names. */
	conf_policy = NULL;
	expect_param_error("pair.ini", NULL, "parameters.policy_file: not allowed without a "
	    "configured policy file (it names a file in the directory of the [analysis] "
	    "policy_file setting)");
	snprintf(path, sizeof path, "%s/pair.ini", af.dir);
	expect_param_error(path, NULL, "parameters.policy_file: not allowed without a "
	    "configured policy file (it names a file in the directory of the [analysis] "
	    "policy_file setting)");
	free(conf);
}
END_TEST

/* AND conditions, an empty value matching an absent field, and the match continued on an
 * indented line. */
START_TEST(test_account_conditions)
{
	struct af_job *t;
	char *path;

	acc("b1", NULL, "app-ad", "active");
	acc("b2", "o9", "app-ad", "active");
	acc("b3", NULL, "app-sap", "active");
	path = write_policy("p.ini", "[account_rule orphan-ad]\naction = reject\n"
	    "match = application_id=app-ad and owner_id=\n"
	    "[account_rule active]\naction = approve\nmatch = status=active\n"
	    "    AND application_id=app-sap\n");
	conf_policy = path;
	t = run(1, 0, NULL);
	af_expect(t, JOB_RUN_OK, 3, 0, 0);
	af_job_free(t);
	af_expect_dump(RES_DB_VIOLATIONS,
	    "account_rules|account|b2 policy=account_rules kind=account_rule "
	    "subject_kind=account subject_id=b2 entitlements=[] detail=no account rule "
	    "matches: awaiting a decision decision=pending first_seen_job=1\n"
	    "active|account|b3 policy=active kind=account_rule subject_kind=account "
	    "subject_id=b3 entitlements=[] detail=approved by active decision=approve "
	    "first_seen_job=1\n"
	    "orphan-ad|account|b1 policy=orphan-ad kind=account_rule subject_kind=account "
	    "subject_id=b1 entitlements=[] detail=rejected by orphan-ad decision=reject "
	    "first_seen_job=1\n");
	free(path);

	/* Policy names where one is a prefix of another: keys "ok-2|..." sort before
	 * "ok|..." ('-' < '|'); a rerun must find every record again. */
	path = write_policy("q.ini", "[account_rule ok]\naction = approve\n"
	    "match = application_id=app-ad\n"
	    "[account_rule ok-2]\naction = approve\nmatch = application_id=app-sap\n");
	conf_policy = path;
	t = run(2, 0, NULL);
	af_expect(t, JOB_RUN_OK, 3, 0, 3);
	af_job_free(t);
	t = run(3, 0, NULL);
	af_expect(t, JOB_RUN_OK, 0, 3, 0);
	af_job_free(t);
	{
		char *d = af_dump(RES_DB_VIOLATIONS, false);

		ck_assert_msg(strncmp(d, "ok-2|account|b3 ", 16) == 0, "%s", d);
		ck_assert_int_eq(tl_count_lines(d, "decision=approve"), 3);
		free(d);
	}
	conf_policy = NULL;
	free(path);
}
END_TEST

/* Cancelled while reading (batch_size 1, at the second cancellation check): nothing is
 * written, the previous run's violations stay. */
START_TEST(test_cancel)
{
	struct af_job *t;
	char *path;

	main_data();
	path = write_policy("p.ini", main_policies);
	conf_policy = path;
	t = run(1, 0, (const char *const[]){"batch_size=1", NULL});
	af_expect(t, JOB_RUN_OK, 16, 0, 0);
	af_job_free(t);
	t = run(2, 2, (const char *const[]){"batch_size=1", NULL});
	af_expect(t, JOB_RUN_CANCELLED, 0, 0, 0);
	ck_assert(t->ctx.was_cancelled);
	af_job_free(t);
	af_expect_dump(RES_DB_VIOLATIONS, main_dump);
	conf_policy = NULL;
	free(path);
}
END_TEST

Suite *
policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("policy");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_evaluate);
	tcase_add_test(tc, test_parameter_and_subjects);
	tcase_add_test(tc, test_file_errors);
	tcase_add_test(tc, test_parameter_confined);
	tcase_add_test(tc, test_account_conditions);
	tcase_add_test(tc, test_cancel);
	suite_add_tcase(s, tc);
	return s;
}
