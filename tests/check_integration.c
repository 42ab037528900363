/* check_integration.c: end-to-end tests of jobsd through jobctl: a real daemon on a temp dir
 * with the hand-written fixture source tests/fixtures/integration/small (24 records: 2
 * applications, 5 owners, 8 accounts, 3 groups, 6 memberships). Sync counters, list filters
 * and paging, the exact JSON field sets, errors, job logs and API tokens.
 * Cancellation: check_integration_cancel.c; crashes and hostile clients:
 * check_integration_crash.c. */
#include <sys/stat.h>

#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "lib/testlib.h"

#define JOBCTL(d, r, ...) tl_jobctl((d), (r), __VA_ARGS__, (const char *)NULL)
#define FIXTURE_TOTAL 24

static const char *const summary_keys[] = {
	"id", "job_type", "status", "progress", "start_time", "end_time", "duration_ms",
	"records_created", "records_updated", "records_deleted", NULL,
};
static const char *const full_keys[] = {
	"id", "job_type", "status", "progress", "start_time", "end_time", "duration_ms",
	"records_created", "records_updated", "records_deleted", "created_time",
	"current_step", "records_processed", "total_records", "error", "parameters",
	"requested_by", "cancelled_by", "cpu_ms", "max_rss_kb", NULL,
};
static const char *const progress_keys[] = {
	"id", "status", "progress", "current_step", "records_processed", "total_records",
	"elapsed_ms", NULL,
};
static const char *const running_keys[] = {
	"id", "job_type", "status", "progress", "start_time", NULL,
};

static void
assert_keys(yajl_val o, const char *const *keys, const char *what)
{
	char why[128];

	ck_assert_msg(tl_jkeys(o, keys, why, sizeof(why)), "%s: %s", what, why);
}

/* Run jobctl, require exit 0 and parse its stdout as JSON. */
static yajl_val
json_ok(struct tl_daemon *d, const char *const *args)
{
	struct tl_run r;
	yajl_val v;

	tl_jobctlv(d, &r, args);
	ck_assert_msg(r.status == 0, "jobctl %s %s: exit %d\nstdout: %s\nstderr: %s", args[0],
		      args[1] != NULL ? args[1] : "", r.status, r.out, r.err);
	v = tl_json(r.out);
	ck_assert_msg(v != NULL, "jobctl %s: not JSON: %s", args[0], r.out);
	tl_run_free(&r);
	return (v);
}

/* "2026-11-29T02:41:17.250Z" */
static void
fmt_ms(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char s[32];

	gmtime_r(&t, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03dZ", s, (int)(ms % 1000));
}

/* The ids of a --json list answer joined by spaces ("job-4 job-1"); *has_next, *cursor. */
static char *
list_ids(yajl_val v, bool *has_next, char *cursor, size_t clen)
{
	yajl_val jobs = tl_jget(v, "jobs"), page = tl_jget(v, "pageInfo"), hn;
	char *out = xstrdup("");
	const char *c;
	size_t i;

	ck_assert(jobs != NULL && YAJL_IS_ARRAY(jobs));
	assert_keys(v, (const char *const[]){"jobs", "pageInfo", NULL}, "list");
	assert_keys(page, (const char *const[]){"hasNextPage", "endCursor", NULL}, "pageInfo");
	for (i = 0; i < jobs->u.array.len; i++) {
		char *n;

		assert_keys(jobs->u.array.values[i], summary_keys, "list item");
		n = xasprintf("%s%s%s", out, i > 0 ? " " : "",
			      tl_jstr(jobs->u.array.values[i], "id"));
		free(out);
		out = n;
	}
	hn = tl_jget(page, "hasNextPage");
	ck_assert(hn != NULL && (YAJL_IS_TRUE(hn) || YAJL_IS_FALSE(hn)));
	if (has_next != NULL)
		*has_next = YAJL_IS_TRUE(hn);
	if (cursor != NULL) {
		c = tl_jstr(page, "endCursor");
		snprintf(cursor, clen, "%s", c != NULL ? c : "");
	}
	return (out);
}

/* jobctl --json list ARGS...: the ids on the page. */
static char *
list(struct tl_daemon *d, const char *a1, const char *a2, const char *a3, const char *a4)
{
	const char *args[] = {"--json", "list", a1, a2, a3, a4, NULL};
	yajl_val v = json_ok(d, args);
	char *ids = list_ids(v, NULL, NULL, 0);

	yajl_tree_free(v);
	return (ids);
}

static void
submit_wait(struct tl_daemon *d, const char *type, char id[32])
{
	const char *args[] = {"--json", "submit", type, "--wait", NULL};
	yajl_val v = json_ok(d, args);

	ck_assert_str_eq(tl_jstr(v, "status"), "completed");
	snprintf(id, 32, "%s", tl_jstr(v, "id"));
	yajl_tree_free(v);
}

/* VmHWM of a process, in kB, from its /proc status (read here by hand). */
static long long
proc_vmhwm_kb(pid_t pid)
{
	char path[64], *text, *p;
	long long kb = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	text = tl_read_file(path);
	ck_assert_msg(text != NULL, "cannot read %s", path);
	p = strstr(text, "\nVmHWM:");
	ck_assert_msg(p != NULL && sscanf(p + 7, "%lld", &kb) == 1, "no VmHWM in %s", path);
	free(text);
	return kb;
}

START_TEST(test_full_sync_counters)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	const char *args[] = {"--json", "submit", "full_sync", "--wait", NULL};
	struct passwd *pw = getpwuid(getuid());
	char id1[32], id2[32], path[PATH_MAX + 32], *last;
	struct tl_run r;
	yajl_val v, p;
	long long sup_kb;

	tl_daemon_start(d);
	sup_kb = proc_vmhwm_kb(d->pid);

	/* First sync of an empty store: everything is created. */
	v = json_ok(d, args);
	assert_keys(v, full_keys, "submit --wait --json");
	ck_assert_str_eq(tl_jstr(v, "job_type"), "full_sync");
	ck_assert_str_eq(tl_jstr(v, "status"), "completed");
	ck_assert_int_eq(tl_jint(v, "progress"), 100);
	ck_assert_int_eq(tl_jint(v, "records_created"), FIXTURE_TOTAL);
	ck_assert_int_eq(tl_jint(v, "records_updated"), 0);
	ck_assert_int_eq(tl_jint(v, "records_deleted"), 0);
	ck_assert_int_eq(tl_jint(v, "records_processed"), FIXTURE_TOTAL);
	ck_assert_int_eq(tl_jint(v, "total_records"), FIXTURE_TOTAL);
	ck_assert(tl_jint(v, "duration_ms") >= 0);
	ck_assert(tl_jstr(v, "start_time") != NULL && tl_jstr(v, "end_time") != NULL);
	ck_assert(tl_jstr(v, "created_time") != NULL);
	ck_assert(tl_jnull(v, "error"));
	ck_assert(tl_jnull(v, "cancelled_by"));
	p = tl_jget(v, "parameters");
	ck_assert(p != NULL && YAJL_IS_OBJECT(p) && p->u.object.len == 0);
	ck_assert(pw != NULL);
	ck_assert_str_eq(tl_jstr(v, "requested_by"), pw->pw_name);
	/* The worker's own peak. wait4's is the supervisor's peak when it spawned the worker
	 * (the child shared its memory until the exec): sup_kb or more, within the slack of
	 * the kernel's per-CPU RSS counters (8,560 against 8,724 here). An 18-record sync
	 * needs much less: about 4,000 kB, 13,200 under AddressSanitizer (sup_kb 17,300). */
	ck_assert_int_gt(tl_jint(v, "max_rss_kb"), 0);
	ck_assert_msg(tl_jint(v, "max_rss_kb") < sup_kb - sup_kb / 8,
		      "max_rss_kb %lld, the supervisor's peak before the job %lld kB",
		      tl_jint(v, "max_rss_kb"), sup_kb);
	snprintf(id1, sizeof(id1), "%s", tl_jstr(v, "id"));
	ck_assert(strncmp(id1, "job-", 4) == 0);
	yajl_tree_free(v);

	/* Second sync, for people: the id first, the summary last; nothing changed. */
	ck_assert_int_eq(JOBCTL(d, &r, "submit", "full_sync", "--wait"), 0);
	ck_assert(sscanf(r.out, "%31s", id2) == 1);
	ck_assert(strncmp(id2, "job-", 4) == 0 && strcmp(id1, id2) != 0);
	last = tl_last_line(r.out);
	ck_assert_msg(strncmp(last, id2, strlen(id2)) == 0 && strstr(last, " completed ") != NULL &&
			  strstr(last, ": 0 created, 0 updated, 0 deleted") != NULL,
		      "last line: %s", last);
	ck_assert_msg(strchr(r.out, '\r') == NULL, "no redraws without a terminal");
	free(last);
	tl_run_free(&r);

	/* Edit the source: one owner's title changes, account acc-8 and its one membership
	 * disappear: 1 updated, 2 deleted (below max_delete_percent: 1/8 and 1/6). */
	snprintf(path, sizeof(path), "%s/owners.csv", d->source_dir);
	tl_write_file(path,
		      "id,employee_id,display_name,email,department,title,location,manager,status,"
		      "modified_at\n"
		      "own-1,E001,Ada Lovelace,ada@example.com,Engineering,Director,London,,active,"
		      "2024-01-10T08:00:00Z\n"
		      "own-2,E002,Alan Turing,alan@example.com,Engineering,Senior Engineer,London,"
		      "E001,active,2024-01-10T08:00:00Z\n"
		      "own-3,E003,Grace Hopper,grace@example.com,Engineering,Principal Engineer,New "
		      "York,E001,active,2024-01-11T08:00:00Z\n"
		      "own-4,E004,\"Hamilton, Margaret\",margaret@example.com,Finance,Analyst,Boston,"
		      "ada@example.com,active,2024-01-10T08:00:00Z\n"
		      "own-5,E005,Linus Torvalds,linus@example.com,Engineering,Engineer,Portland,"
		      "E002,inactive,2024-01-10T08:00:00Z\n");
	snprintf(path, sizeof(path), "%s/accounts.csv", d->source_dir);
	tl_write_file(path,
		      "id,application_id,login,email,owner_id,display_name,department,title,status,"
		      "modified_at\n"
		      "acc-1,app-hr,ada,ada@example.com,own-1,Ada Lovelace,Engineering,Director,"
		      "active,2024-01-10T08:00:00Z\n"
		      "acc-2,app-hr,alan,alan@example.com,own-2,Alan Turing,Engineering,Senior "
		      "Engineer,active,2024-01-10T08:00:00Z\n"
		      "acc-3,app-hr,grace,grace@example.com,,Grace Hopper,Engineering,Senior "
		      "Engineer,active,2024-01-10T08:00:00Z\n"
		      "acc-4,app-hr,margaret,margaret@example.com,,Margaret Hamilton,Finance,Analyst,"
		      "active,2024-01-10T08:00:00Z\n"
		      "acc-5,app-git,ada-gh,ada@example.com,,,,,active,2024-01-10T08:00:00Z\n"
		      "acc-6,app-git,aturing,alan@example.com,,,,,active,2024-01-10T08:00:00Z\n"
		      "acc-7,app-git,linus,linus@example.com,,,,,active,2024-01-10T08:00:00Z\n");
	snprintf(path, sizeof(path), "%s/memberships.csv", d->source_dir);
	tl_write_file(path, "account_id,group_id,modified_at\n"
			    "acc-5,grp-1,2024-01-10T08:00:00Z\n"
			    "acc-5,grp-2,2024-01-10T08:00:00Z\n"
			    "acc-6,grp-2,2024-01-10T08:00:00Z\n"
			    "acc-7,grp-2,2024-01-10T08:00:00Z\n"
			    "acc-4,grp-3,2024-01-10T08:00:00Z\n");
	v = json_ok(d, args);
	ck_assert_str_eq(tl_jstr(v, "status"), "completed");
	ck_assert_int_eq(tl_jint(v, "records_created"), 0);
	ck_assert_int_eq(tl_jint(v, "records_updated"), 1);
	ck_assert_int_eq(tl_jint(v, "records_deleted"), 2);
	ck_assert_int_eq(tl_jint(v, "total_records"), FIXTURE_TOTAL - 2);
	yajl_tree_free(v);

	/* show for people: key/value lines, the first job still as it was. */
	ck_assert_int_eq(JOBCTL(d, &r, "show", id1), 0);
	ck_assert_int_eq(tl_count_lines(r.out, "status"), 1);
	ck_assert_msg(strstr(r.out, "\nstatus             completed\n") != NULL, "%s", r.out);
	ck_assert_msg(strstr(r.out, "\nrecords_created    24\n") != NULL, "%s", r.out);
	ck_assert_msg(strstr(r.out, "\nerror              -\n") != NULL, "%s", r.out);
	tl_run_free(&r);
	/* A bare number is accepted as an id. */
	ck_assert_int_eq(JOBCTL(d, &r, "--json", "show", id1 + 4), 0);
	v = tl_json(r.out);
	ck_assert_str_eq(tl_jstr(v, "id"), id1);
	yajl_tree_free(v);
	tl_run_free(&r);
}
END_TEST

/* Run jobsd-datagen with args (NULL-terminated); the test fails unless it exits 0. */
static void
datagen(const char *const *args)
{
	const char *argv[16];
	char prog[PATH_MAX];
	struct tl_run r;
	size_t n = 0;

	snprintf(prog, sizeof(prog), "%s/jobsd-datagen", tl_bin_dir());
	argv[n++] = prog;
	while (*args != NULL && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	tl_run(&r, argv, NULL, 60000);
	ck_assert_msg(r.status == 0, "jobsd-datagen: exit %d: %s", r.status, r.err);
	tl_run_free(&r);
}

static yajl_val
manifest(const char *dir)
{
	char path[PATH_MAX], *text;
	yajl_val v;

	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	text = tl_read_file(path);
	ck_assert_msg(text != NULL, "no %s", path);
	v = tl_json(text);
	ck_assert_msg(v != NULL, "%s is not JSON", path);
	free(text);
	return (v);
}

/* A generated data set: the counters of a full sync, then of an incremental sync of a
 * mutated copy, are the numbers datagen's manifest.json states. */
START_TEST(test_datagen_full_then_incremental)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	const char *const entities[] = {"applications", "owners", "accounts", "groups",
					"memberships", NULL};
	char mutated[PATH_MAX];
	long long total = 0;
	yajl_val m, rows, totals, v;
	size_t i;

	ck_assert_int_eq(tl_rm_rf(d->source_dir), 0);
	ck_assert_int_eq(mkdir(d->source_dir, 0700), 0);
	datagen((const char *const[]){"--owners", "50", "--seed", "7", "--out", d->source_dir,
				      "-q", NULL});
	m = manifest(d->source_dir);
	rows = tl_jget(m, "rows");
	for (i = 0; entities[i] != NULL; i++)
		total += tl_jint(rows, entities[i]);
	yajl_tree_free(m);
	ck_assert(total > 100);

	tl_daemon_start(d);
	v = json_ok(d, (const char *const[]){"--json", "submit", "full_sync", "--wait", NULL});
	ck_assert_str_eq(tl_jstr(v, "status"), "completed");
	ck_assert_int_eq(tl_jint(v, "total_records"), total);
	ck_assert_int_eq(tl_jint(v, "records_processed"), total);
	ck_assert_int_eq(tl_jint(v, "records_created"), total);
	ck_assert_int_eq(tl_jint(v, "records_updated"), 0);
	ck_assert_int_eq(tl_jint(v, "records_deleted"), 0);
	yajl_tree_free(v);

	/* 10% of the rows changed (updated, deleted, added), dated after the watermark. */
	snprintf(mutated, sizeof(mutated), "%s/mutated", d->dir);
	ck_assert_int_eq(mkdir(mutated, 0700), 0);
	datagen((const char *const[]){"--mutate", "10", "--seed", "7", "--from", d->source_dir,
				      "--out", mutated, "-q", NULL});
	ck_assert_int_eq(tl_copy_dir(mutated, d->source_dir), 0);
	m = manifest(mutated);
	totals = tl_jget(m, "totals");
	ck_assert(totals != NULL);

	v = json_ok(d, (const char *const[]){"--json", "submit", "incremental_sync", "--wait",
					     NULL});
	ck_assert_str_eq(tl_jstr(v, "status"), "completed");
	ck_assert_int_eq(tl_jint(v, "records_created"), tl_jint(totals, "created"));
	ck_assert_int_eq(tl_jint(v, "records_updated"), tl_jint(totals, "updated"));
	ck_assert_int_eq(tl_jint(v, "records_deleted"), tl_jint(totals, "deleted"));
	yajl_tree_free(v);
	yajl_tree_free(m);

	/* The incremental sync left the store equal to the export: a full sync finds nothing. */
	v = json_ok(d, (const char *const[]){"--json", "submit", "full_sync", "--wait", NULL});
	ck_assert_int_eq(tl_jint(v, "records_created"), 0);
	ck_assert_int_eq(tl_jint(v, "records_updated"), 0);
	ck_assert_int_eq(tl_jint(v, "records_deleted"), 0);
	yajl_tree_free(v);
}
END_TEST

START_TEST(test_list_filters_and_paging)
{
	struct tl_daemon *d = tl_daemon_new(&(struct tl_opts){.max_workers = 1});
	char j1[32], j2[32], j3[32], j4[32], s2[40], s3[40], cursor[256], *ids, *exp;
	const char *line;
	struct tl_run r;
	struct job jb;
	bool has_next;
	yajl_val v;
	int pages;

	tl_daemon_start(d);
	submit_wait(d, "full_sync", j1);
	submit_wait(d, "owner_sync", j2);
	submit_wait(d, "application_sync", j3);
	tl_submit(d, j4, "full_sync", "delay_ms=100", "batch_size=1", NULL);
	ck_assert_msg(tl_wait_status(d, j4, JOB_RUNNING, 10000, &jb) == 0, "j4 never ran");
	job_free(&jb);
	ck_assert_int_eq(JOBCTL(d, &r, "cancel", j4), 0);
	tl_run_free(&r);

	ck_assert_int_eq(tl_job(d, j2, false, &jb), 0);
	fmt_ms(jb.start_ms, s2, sizeof(s2));
	job_free(&jb);
	ck_assert_int_eq(tl_job(d, j3, false, &jb), 0);
	fmt_ms(jb.start_ms, s3, sizeof(s3));
	job_free(&jb);

	exp = xasprintf("%s %s %s %s", j4, j3, j2, j1);
	ids = list(d, NULL, NULL, NULL, NULL);
	ck_assert_str_eq(ids, exp);
	free(ids);
	free(exp);

	exp = xasprintf("%s %s", j4, j1);
	ids = list(d, "--type", "full_sync", NULL, NULL);
	ck_assert_str_eq(ids, exp);
	free(ids);
	free(exp);

	exp = xasprintf("%s %s %s", j3, j2, j1);
	ids = list(d, "--status", "completed", NULL, NULL);
	ck_assert_str_eq(ids, exp);
	free(ids);
	free(exp);

	ids = list(d, "--status", "cancelled", NULL, NULL);
	ck_assert_str_eq(ids, j4);
	free(ids);

	ids = list(d, "--type", "full_sync", "--status", "completed");
	ck_assert_str_eq(ids, j1);
	free(ids);

	ids = list(d, "--status", "running", NULL, NULL);
	ck_assert_str_eq(ids, "");
	free(ids);

	/* Start-time bounds are inclusive; only jobs that started match. */
	exp = xasprintf("%s %s", j4, j3);
	ids = list(d, "--since", s3, NULL, NULL);
	ck_assert_str_eq(ids, exp);
	free(ids);
	free(exp);

	exp = xasprintf("%s %s", j2, j1);
	ids = list(d, "--until", s2, NULL, NULL);
	ck_assert_str_eq(ids, exp);
	free(ids);
	free(exp);

	exp = xasprintf("%s %s", j3, j2);
	ids = list(d, "--since", s2, "--until", s3);
	ck_assert_str_eq(ids, exp);
	free(ids);
	free(exp);

	ids = list(d, "--until", "2000-01-01", NULL, NULL);
	ck_assert_str_eq(ids, "");
	free(ids);
	ids = list(d, "--since", "2100-01-01", NULL, NULL);
	ck_assert_str_eq(ids, "");
	free(ids);
	exp = xasprintf("%s %s %s %s", j4, j3, j2, j1);
	ids = list(d, "--since", "2000-01-01", NULL, NULL);
	ck_assert_str_eq(ids, exp);
	free(ids);
	free(exp);

	/* Paging one by one visits every job exactly once, newest first. */
	exp = xasprintf("%s %s %s %s ", j4, j3, j2, j1);
	ids = xstrdup("");
	cursor[0] = '\0';
	for (pages = 0, has_next = true; has_next; pages++) {
		const char *a1[] = {"--json", "list", "--limit", "1", NULL};
		const char *a2[] = {"--json", "list", "--limit", "1", "--after", cursor, NULL};
		char *page, *n;

		ck_assert_msg(pages < 8, "paging does not end");
		v = json_ok(d, pages == 0 ? a1 : a2);
		page = list_ids(v, &has_next, cursor, sizeof(cursor));
		ck_assert_msg(strchr(page, ' ') == NULL && *page != '\0', "page %d: '%s'", pages,
			      page);
		n = xasprintf("%s%s ", ids, page);
		free(ids);
		ids = n;
		free(page);
		yajl_tree_free(v);
	}
	ck_assert_int_eq(pages, 4);
	ck_assert_str_eq(ids, exp);
	free(ids);
	free(exp);

	/* A filtered list pages too; its cursor is bound to its filters. */
	{
		const char *a1[] = {"--json", "list", "--type", "full_sync", "--limit", "1", NULL};
		const char *a2[] = {"--json", "list", "--type", "full_sync", "--limit", "1",
				    "--after", cursor, NULL};

		v = json_ok(d, a1);
		ids = list_ids(v, &has_next, cursor, sizeof(cursor));
		ck_assert_str_eq(ids, j4);
		ck_assert(has_next);
		free(ids);
		yajl_tree_free(v);
		v = json_ok(d, a2);
		ids = list_ids(v, &has_next, NULL, 0);
		ck_assert_str_eq(ids, j1);
		ck_assert(!has_next);
		free(ids);
		yajl_tree_free(v);
	}

	/* For people: a table, and the command for the next page. */
	ck_assert_int_eq(JOBCTL(d, &r, "list", "--limit", "2"), 0);
	ck_assert_msg(strncmp(r.out, "ID ", 3) == 0, "header: %s", r.out);
	ck_assert_int_eq(tl_count_lines(r.out, "job-"), 2);
	ck_assert(tl_count_lines(r.out, j4) == 1 && tl_count_lines(r.out, j3) == 1);
	line = strstr(r.out, "more: jobctl list --limit 2 --after ");
	ck_assert_msg(line != NULL, "no next-page hint: %s", r.out);
	ck_assert(sscanf(line, "more: jobctl list --limit 2 --after %255s", cursor) == 1);
	tl_run_free(&r);
	ck_assert_int_eq(JOBCTL(d, &r, "list", "--limit", "2", "--after", cursor), 0);
	ck_assert_int_eq(tl_count_lines(r.out, "job-"), 2);
	ck_assert(tl_count_lines(r.out, j2) == 1 && tl_count_lines(r.out, j1) == 1);
	ck_assert(strstr(r.out, "more:") == NULL);
	tl_run_free(&r);
}
END_TEST

/* jobctl --json ARGS must fail with exit 1 and the REST error body (status, parameter). */
static void
expect_error(struct tl_daemon *d, const char *const *args, int status, const char *code,
	     const char *parameter)
{
	struct tl_run r;
	yajl_val v, e;

	tl_jobctlv(d, &r, args);
	ck_assert_msg(r.status == 1, "%s %s: exit %d, stdout %s", args[1], args[2], r.status,
		      r.out);
	ck_assert_msg(r.err[0] != '\0' && strncmp(r.err, "jobctl: ", 8) == 0, "stderr: %s",
		      r.err);
	v = tl_json(r.out);
	ck_assert_msg(v != NULL, "not JSON: %s", r.out);
	e = tl_jget(v, "error");
	ck_assert_msg(e != NULL && YAJL_IS_OBJECT(e), "no error object: %s", r.out);
	ck_assert_int_eq(tl_jint(e, "status"), status);
	ck_assert_str_eq(tl_jstr(e, "code"), code);
	ck_assert(tl_jstr(e, "message") != NULL && *tl_jstr(e, "message") != '\0');
	if (parameter != NULL)
		ck_assert_str_eq(tl_jstr(e, "parameter"), parameter);
	yajl_tree_free(v);
	tl_run_free(&r);
}

START_TEST(test_errors)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	struct tl_run r;

	tl_daemon_start(d);

	/* Unknown job: exit 1, "not found" on stderr, nothing on stdout. */
	ck_assert_int_eq(JOBCTL(d, &r, "show", "job-99"), 1);
	ck_assert_str_eq(r.out, "");
	ck_assert_msg(strstr(r.err, "job-99") != NULL && strstr(r.err, "not found") != NULL,
		      "stderr: %s", r.err);
	tl_run_free(&r);
	expect_error(d, (const char *const[]){"--json", "show", "job-99", NULL}, 404,
		     "not_found", NULL);
	expect_error(d, (const char *const[]){"--json", "progress", "job-99", NULL}, 404,
		     "not_found", NULL);
	expect_error(d, (const char *const[]){"--json", "cancel", "job-99", NULL}, 404,
		     "not_found", NULL);

	/* Unknown job type: refused, naming job_type; nothing was queued. */
	ck_assert_int_eq(JOBCTL(d, &r, "submit", "no_such_type"), 1);
	ck_assert_msg(strstr(r.err, "job_type") != NULL, "stderr: %s", r.err);
	tl_run_free(&r);
	expect_error(d, (const char *const[]){"--json", "submit", "no_such_type", NULL}, 400,
		     "invalid_parameter", "job_type");
	ck_assert_int_eq(JOBCTL(d, &r, "--json", "list"), 0);
	ck_assert_msg(strstr(r.out, "\"jobs\":[]") != NULL, "%s", r.out);
	tl_run_free(&r);

	/* Bad list filters, as the REST API answers them. */
	expect_error(d, (const char *const[]){"--json", "list", "--status", "bogus", NULL}, 400,
		     "invalid_parameter", "status");
	expect_error(d, (const char *const[]){"--json", "list", "--type", "bogus", NULL}, 400,
		     "invalid_parameter", "job_type");
	expect_error(d, (const char *const[]){"--json", "list", "--limit", "0", NULL}, 400,
		     "invalid_parameter", "first");
	expect_error(d, (const char *const[]){"--json", "list", "--limit", "1001", NULL}, 400,
		     "invalid_parameter", "first");
	expect_error(d, (const char *const[]){"--json", "list", "--since", "yesterday", NULL},
		     400, "invalid_parameter", "start_date");
	expect_error(d,
		     (const char *const[]){"--json", "list", "--since", "2024-02-02", "--until",
					   "2024-02-01", NULL},
		     400, "invalid_parameter", NULL);
	expect_error(d, (const char *const[]){"--json", "list", "--after", "garbage", NULL}, 400,
		     "invalid_parameter", "after");

	/* A daemon that is not there: exit 1 and a hint. */
	ck_assert_int_eq(JOBCTL(NULL, &r, "list"), 1);
	ck_assert_msg(strstr(r.err, "cannot connect") != NULL, "stderr: %s", r.err);
	tl_run_free(&r);
}
END_TEST

START_TEST(test_running_and_progress_json)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	int64_t two = 2;
	yajl_val v, jobs, o;
	struct tl_run r;
	struct job jb;
	char id[32];

	tl_daemon_start(d);
	tl_submit(d, id, "full_sync", "delay_ms=150", "batch_size=1", NULL);
	ck_assert_msg(tl_wait_job(d, id, tl_pred_processed, &two, 15000, &jb) == 0,
		      "the slow job did not get going");
	job_free(&jb);

	v = json_ok(d, (const char *const[]){"--json", "running", NULL});
	assert_keys(v, (const char *const[]){"jobs", NULL}, "running");
	jobs = tl_jget(v, "jobs");
	ck_assert(YAJL_IS_ARRAY(jobs) && jobs->u.array.len == 1);
	o = jobs->u.array.values[0];
	assert_keys(o, running_keys, "running item");
	ck_assert_str_eq(tl_jstr(o, "id"), id);
	ck_assert_str_eq(tl_jstr(o, "status"), "running");
	ck_assert_str_eq(tl_jstr(o, "job_type"), "full_sync");
	ck_assert(tl_jstr(o, "start_time") != NULL);
	yajl_tree_free(v);

	v = json_ok(d, (const char *const[]){"progress", id, "--json", NULL});
	assert_keys(v, progress_keys, "progress");
	ck_assert_str_eq(tl_jstr(v, "status"), "running");
	ck_assert_int_eq(tl_jint(v, "total_records"), FIXTURE_TOTAL);
	ck_assert(tl_jint(v, "records_processed") >= 2);
	ck_assert(tl_jint(v, "records_processed") < FIXTURE_TOTAL);
	ck_assert(tl_jint(v, "progress") < 100);
	ck_assert(tl_jint(v, "elapsed_ms") >= 0);
	ck_assert_msg(strncmp(tl_jstr(v, "current_step"), "Processing ", 11) == 0, "step %s",
		      tl_jstr(v, "current_step"));
	yajl_tree_free(v);

	v = json_ok(d, (const char *const[]){"--json", "show", id, NULL});
	assert_keys(v, full_keys, "show");
	ck_assert(tl_jnull(v, "end_time"));
	o = tl_jget(v, "parameters");
	ck_assert(YAJL_IS_OBJECT(o) && o->u.object.len == 2);
	ck_assert_str_eq(tl_jstr(o, "delay_ms"), "150");
	ck_assert_str_eq(tl_jstr(o, "batch_size"), "1");
	yajl_tree_free(v);

	/* For people. */
	ck_assert_int_eq(JOBCTL(d, &r, "running"), 0);
	ck_assert_int_eq(tl_count_lines(r.out, id), 1);
	tl_run_free(&r);
	ck_assert_int_eq(JOBCTL(d, &r, "progress", id), 0);
	ck_assert_msg(strncmp(r.out, id, strlen(id)) == 0 && strstr(r.out, "running [") != NULL &&
			  strstr(r.out, "/24 ") != NULL,
		      "%s", r.out);
	tl_run_free(&r);

	ck_assert_int_eq(JOBCTL(d, &r, "cancel", id), 0);
	tl_run_free(&r);
	v = json_ok(d, (const char *const[]){"--json", "running", NULL});
	ck_assert_int_eq(tl_jget(v, "jobs")->u.array.len, 0);
	yajl_tree_free(v);
}
END_TEST

/* jobctl --json ARGS prints exactly the body of REST GET path (plus a newline). */
static void
same_as_rest(struct tl_daemon *d, const char *token, const char *const *args,
	     const char *path)
{
	struct tl_run r;
	char *body, *want;
	int status;

	ck_assert_int_eq(tl_jobctlv(d, &r, args), 0);
	ck_assert_msg(tl_http(d, "GET", path, token, NULL, &status, &body) == 0, "GET %s",
		      path);
	ck_assert_msg(status == 200, "GET %s: %d %s", path, status, body);
	want = xasprintf("%s\n", body);
	ck_assert_msg(strcmp(r.out, want) == 0, "jobctl %s %s:\n%s\nREST %s:\n%s", args[1],
		      args[2] != NULL ? args[2] : "", r.out, path, want);
	free(want);
	free(body);
	tl_run_free(&r);
}

/* A refused request: jobctl's error body has the REST status, code and parameter. */
static void
same_error_as_rest(struct tl_daemon *d, const char *token, const char *const *args,
		   const char *path)
{
	yajl_val a, b, ea, eb;
	struct tl_run r;
	char *body;
	int status;

	ck_assert_int_eq(tl_jobctlv(d, &r, args), 1);
	ck_assert(tl_http(d, "GET", path, token, NULL, &status, &body) == 0);
	a = tl_json(r.out);
	b = tl_json(body);
	ck_assert_msg(a != NULL && b != NULL, "jobctl: %s REST: %s", r.out, body);
	ea = tl_jget(a, "error");
	eb = tl_jget(b, "error");
	ck_assert_int_eq(tl_jint(ea, "status"), status);
	ck_assert_int_eq(tl_jint(ea, "status"), tl_jint(eb, "status"));
	ck_assert_str_eq(tl_jstr(ea, "code"), tl_jstr(eb, "code"));
	ck_assert_msg((tl_jstr(ea, "parameter") == NULL) == (tl_jstr(eb, "parameter") == NULL) &&
			      (tl_jstr(ea, "parameter") == NULL ||
			       strcmp(tl_jstr(ea, "parameter"), tl_jstr(eb, "parameter")) == 0),
		      "jobctl: %s REST: %s", r.out, body);
	yajl_tree_free(a);
	yajl_tree_free(b);
	free(body);
	tl_run_free(&r);
}

/* jobsd_http_token_checks_total{cache=WHICH} from GET /metrics (one listener). */
static long long
token_checks(const char *metrics, const char *which)
{
	char key[96];
	const char *p;

	snprintf(key, sizeof(key), "jobsd_http_token_checks_total{cache=\"%s\"} ", which);
	p = strstr(metrics, key);
	ck_assert_msg(p != NULL, "no %s in:\n%s", key, metrics);
	return (strtoll(p + strlen(key), NULL, 10));
}

START_TEST(test_json_same_as_rest)
{
	char listen[64], j1[32], j2[32], path[512], cursor[256], *token, *body;
	struct tl_daemon *d;
	struct tl_run r;
	bool has_next;
	int status;
	yajl_val v;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", tl_free_port());
	d = tl_daemon_new(&(struct tl_opts){.http_listen = listen});
	tl_daemon_start(d);
	ck_assert_msg(tl_http_wait(d, 10000) == 0, "REST listener on %s never came up", listen);
	ck_assert_int_eq(JOBCTL(d, &r, "token", "create", "ci", "--role", "Administrator"), 0);
	token = tl_last_line(r.out);
	tl_run_free(&r);

	submit_wait(d, "full_sync", j1);
	submit_wait(d, "owner_sync", j2);

	snprintf(path, sizeof(path), "/api/v1/jobs/%s", j1);
	same_as_rest(d, token, (const char *const[]){"--json", "show", j1, NULL}, path);
	snprintf(path, sizeof(path), "/api/v1/jobs/%s/progress", j2);
	same_as_rest(d, token, (const char *const[]){"--json", "progress", j2, NULL}, path);
	same_as_rest(d, token, (const char *const[]){"--json", "list", NULL}, "/api/v1/jobs");
	same_as_rest(d, token, (const char *const[]){"--json", "running", NULL},
		     "/api/v1/jobs/running");
	same_as_rest(d, token,
		     (const char *const[]){"--json", "list", "--type", "owner_sync", "--status",
					   "completed", NULL},
		     "/api/v1/jobs?job_type=owner_sync&status=completed");
	same_as_rest(d, token,
		     (const char *const[]){"--json", "list", "--since", "2000-01-01", "--until",
					   "2100-12-31", NULL},
		     "/api/v1/jobs?start_date=2000-01-01&end_date=2100-12-31");

	/* Paging: the cursors agree, and each interface accepts the other's. */
	v = json_ok(d, (const char *const[]){"--json", "list", "--limit", "1", NULL});
	free(list_ids(v, &has_next, cursor, sizeof(cursor)));
	ck_assert(has_next);
	yajl_tree_free(v);
	same_as_rest(d, token, (const char *const[]){"--json", "list", "--limit", "1", NULL},
		     "/api/v1/jobs?first=1");
	snprintf(path, sizeof(path), "/api/v1/jobs?first=1&after=%s", cursor);
	same_as_rest(d, token,
		     (const char *const[]){"--json", "list", "--limit", "1", "--after", cursor,
					   NULL},
		     path);

	same_error_as_rest(d, token, (const char *const[]){"--json", "show", "job-99", NULL},
			   "/api/v1/jobs/job-99");
	same_error_as_rest(d, token,
			   (const char *const[]){"--json", "list", "--status", "bogus", NULL},
			   "/api/v1/jobs?status=bogus");
	same_error_as_rest(d, token,
			   (const char *const[]){"--json", "list", "--after", "xyz", NULL},
			   "/api/v1/jobs?after=xyz");

	/* The listener checked the token in the store once: the 11 requests above and this
	 * one after it were answered by its token cache. */
	ck_assert(tl_http(d, "GET", "/metrics", token, NULL, &status, &body) == 0);
	ck_assert_int_eq(status, 200);
	ck_assert_int_eq(token_checks(body, "miss"), 1);
	ck_assert_int_eq(token_checks(body, "hit"), 11);
	free(body);
	free(token);
}
END_TEST

START_TEST(test_job_log)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	yajl_val v, lines;
	struct tl_run r;
	char id[32];

	tl_daemon_start(d);
	submit_wait(d, "full_sync", id);
	ck_assert_int_eq(JOBCTL(d, &r, "log", id), 0);
	ck_assert_msg(tl_count_lines(r.out, "owners: 5 created, 0 updated, 0 deleted") == 1,
		      "log: %s", r.out);
	ck_assert_msg(tl_count_lines(r.out, "memberships: 6 created") == 1, "log: %s", r.out);
	tl_run_free(&r);

	v = json_ok(d, (const char *const[]){"--json", "log", id, NULL});
	lines = tl_jget(v, "lines");
	ck_assert(lines != NULL && YAJL_IS_ARRAY(lines) && lines->u.array.len >= 5);
	assert_keys(lines->u.array.values[0], (const char *const[]){"ts", "level", "text", NULL},
		    "log line");
	yajl_tree_free(v);

	ck_assert_int_eq(JOBCTL(d, &r, "log", "job-99"), 1);
	ck_assert_msg(strstr(r.err, "not found") != NULL, "%s", r.err);
	tl_run_free(&r);
}
END_TEST

START_TEST(test_tokens)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	struct tl_run r;
	char *token, *tok2;
	yajl_val v, toks, t;

	tl_daemon_start(d);
	ck_assert_int_eq(JOBCTL(d, &r, "token", "create", "ci-bot", "--role", "Administrator"), 0);
	token = tl_last_line(r.out);
	ck_assert_msg(strlen(token) >= 16 && strchr(token, ' ') == NULL, "token line: '%s'",
		      token);
	/* Shown once: only on that line. */
	ck_assert_int_eq(tl_count_lines(r.out, token), 1);
	ck_assert(strstr(r.err, token) == NULL);
	tl_run_free(&r);

	ck_assert_int_eq(JOBCTL(d, &r, "--json", "token", "create", "auditor", "--role",
				"Auditor"),
			 0);
	v = tl_json(r.out);
	assert_keys(v, (const char *const[]){"name", "role", "token", NULL}, "token create");
	tok2 = xstrdup(tl_jstr(v, "token"));
	ck_assert(strcmp(tok2, token) != 0);
	yajl_tree_free(v);
	tl_run_free(&r);

	ck_assert_int_eq(JOBCTL(d, &r, "token", "list"), 0);
	ck_assert_int_eq(tl_count_lines(r.out, "ci-bot"), 1);
	ck_assert_int_eq(tl_count_lines(r.out, "Administrator"), 1);
	ck_assert_int_eq(tl_count_lines(r.out, "Auditor"), 1);
	ck_assert(strstr(r.out, token) == NULL && strstr(r.out, tok2) == NULL);
	tl_run_free(&r);

	v = json_ok(d, (const char *const[]){"token", "list", "--json", NULL});
	toks = tl_jget(v, "tokens");
	ck_assert(YAJL_IS_ARRAY(toks) && toks->u.array.len == 2);
	t = toks->u.array.values[0];
	assert_keys(t, (const char *const[]){"name", "role", "created_time", NULL}, "token");
	yajl_tree_free(v);

	/* Duplicates and unknown roles are refused. */
	ck_assert_int_eq(JOBCTL(d, &r, "token", "create", "ci-bot", "--role", "Reviewer"), 1);
	tl_run_free(&r);
	ck_assert_int_eq(JOBCTL(d, &r, "token", "create", "x", "--role", "Superuser"), 1);
	ck_assert_msg(strstr(r.err, "role") != NULL, "%s", r.err);
	tl_run_free(&r);
	ck_assert_int_eq(JOBCTL(d, &r, "token", "create", "x"), 2);
	tl_run_free(&r);

	ck_assert_int_eq(JOBCTL(d, &r, "token", "revoke", "ci-bot"), 0);
	tl_run_free(&r);
	ck_assert_int_eq(JOBCTL(d, &r, "token", "list"), 0);
	ck_assert_int_eq(tl_count_lines(r.out, "ci-bot"), 0);
	ck_assert_int_eq(tl_count_lines(r.out, "auditor"), 1);
	tl_run_free(&r);
	ck_assert_int_eq(JOBCTL(d, &r, "token", "revoke", "ci-bot"), 1);
	ck_assert_msg(strstr(r.err, "not found") != NULL, "%s", r.err);
	tl_run_free(&r);
	free(token);
	free(tok2);
}
END_TEST

/* GET /api/v1/jobs with token: the status. */
static int
rest_status(struct tl_daemon *d, const char *token)
{
	char *body = NULL;
	int status = 0;

	ck_assert(tl_http(d, "GET", "/api/v1/jobs?first=1", token, NULL, &status, &body) == 0);
	free(body);
	return (status);
}

/* Each listener keeps the tokens it has checked; a revoke must still be refused by every
 * listener as soon as `jobctl token revoke` returns, while other tokens keep working. */
START_TEST(test_revoke_refused_at_once)
{
	char listen[64], *admin, *other, *again;
	struct tl_daemon *d;
	struct tl_run r;
	int i;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", tl_free_port());
	d = tl_daemon_new(&(struct tl_opts){.http_listen = listen, .extra = "processes = 2\n"});
	tl_daemon_start(d);
	ck_assert_msg(tl_http_wait(d, 10000) == 0, "REST listener on %s never came up", listen);
	ck_assert_int_eq(JOBCTL(d, &r, "token", "create", "ops", "--role", "Administrator"), 0);
	admin = tl_last_line(r.out);
	tl_run_free(&r);
	ck_assert_int_eq(JOBCTL(d, &r, "token", "create", "ci", "--role", "Administrator"), 0);
	other = tl_last_line(r.out);
	tl_run_free(&r);

	/* Enough requests that both listeners have checked both tokens. */
	for (i = 0; i < 12; i++) {
		ck_assert_int_eq(rest_status(d, admin), 200);
		ck_assert_int_eq(rest_status(d, other), 200);
	}
	ck_assert_int_eq(JOBCTL(d, &r, "token", "revoke", "ops"), 0);
	tl_run_free(&r);
	for (i = 0; i < 12; i++) {
		ck_assert_msg(rest_status(d, admin) == 401, "revoked token accepted (request %d)",
		              i);
		ck_assert_int_eq(rest_status(d, other), 200);
	}

	/* The name again: a new token, which works; the old one stays refused. */
	ck_assert_int_eq(JOBCTL(d, &r, "token", "create", "ops", "--role", "Auditor"), 0);
	again = tl_last_line(r.out);
	tl_run_free(&r);
	ck_assert(strcmp(again, admin) != 0);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(rest_status(d, again), 403);
		ck_assert_int_eq(rest_status(d, admin), 401);
	}
	free(again);
	free(other);
	free(admin);
}
END_TEST

Suite *integration_suite(void);

Suite *
integration_suite(void)
{
	Suite *s = suite_create("integration");
	TCase *tc;

	tc = tl_tcase("sync", 60);
	tcase_add_test(tc, test_full_sync_counters);
	tcase_add_test(tc, test_job_log);
	tcase_add_test(tc, test_datagen_full_then_incremental);
	suite_add_tcase(s, tc);

	tc = tl_tcase("list", 60);
	tcase_add_test(tc, test_list_filters_and_paging);
	suite_add_tcase(s, tc);

	tc = tl_tcase("json", 60);
	tcase_add_test(tc, test_running_and_progress_json);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);

	tc = tl_tcase("tokens", 60);
	tcase_add_test(tc, test_tokens);
	tcase_add_test(tc, test_json_same_as_rest);
	tcase_add_test(tc, test_revoke_refused_at_once);
	suite_add_tcase(s, tc);
	return (s);
}
