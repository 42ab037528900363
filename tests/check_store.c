/* check_store.c: the Berkeley DB store against a real environment in a temp dir: job
 * numbers, records, every list filter combination on a hand-built set of 30 jobs (expected
 * pages written out below), paging while jobs are added, counts, retention, job logs,
 * tokens, the data_dir lock, failchk after a killed process and unusable data dirs. */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "datagen/gen_jobs.h"
#include "log.h"
#include "store.h"
#include "store_internal.h" /* store_recover_wait_ms */
#include "timeutil.h"

#define BASE_MS INT64_C(1700000000000)
#define NONE (-1)

static char root[64]; /* per run, made and removed by the runner process */
static char dir[128];  /* per test, under root */

Suite *store_suite(void);
static struct store *st;

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return (remove(path));
}

static void
rm_rf(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Wait for a child for at most ms milliseconds; on timeout kill and reap it, return -1. */
static int
wait_bounded(pid_t pid, int ms, int *status)
{
	struct timespec ts = {0, 10 * 1000 * 1000};
	int waited;
	pid_t r;

	for (waited = 0; waited < ms; waited += 10) {
		if ((r = waitpid(pid, status, WNOHANG)) == pid)
			return (0);
		if (r == -1)
			return (-1);
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return (-1);
}

static void
open_store(void)
{
	char *cause = NULL;

	if (store_open(dir, STORE_SUPERVISOR, &st, &cause) != 0)
		ck_abort_msg("store_open: %s", cause);
}

/* Unchecked: a failed assertion ends a test without its teardown, so every test's dir
 * lives under one root that the runner removes at the end. */
static void
setup_all(void)
{
	snprintf(root, sizeof(root), "/tmp/check_store.XXXXXX");
	if (mkdtemp(root) == NULL)
		root[0] = '\0';
}

static void
teardown_all(void)
{
	if (root[0] != '\0')
		rm_rf(root);
}

static void
setup(void)
{
	log_init("check_store", 1, LOG_LVL_WARN);
	ck_assert_msg(root[0] != '\0', "no temp root");
	snprintf(dir, sizeof(dir), "%s/t.XXXXXX", root);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	open_store();
}

static void
teardown(void)
{
	store_close(st);
	st = NULL;
	rm_rf(dir);
}

/* --- the hand-built set -------------------------------------------------------- */

/* Job no, type, status, start in seconds after BASE_MS (NONE: never started). Created at
 * BASE_MS + no seconds. Ended (final statuses) 10 s after start, or 5 s after creation
 * when cancelled while pending. */
static const struct {
	enum job_type type;
	enum job_status status;
	int start_s;
} set[31] = {
	[1] = {JOB_FULL_SYNC, JOB_COMPLETED, 100},
	[2] = {JOB_ACCOUNT_SYNC, JOB_FAILED, 50},
	[3] = {JOB_ENRICHMENT, JOB_COMPLETED, 120},
	[4] = {JOB_FULL_SYNC, JOB_CANCELLED, NONE},
	[5] = {JOB_ACCOUNT_SYNC, JOB_COMPLETED, 200},
	[6] = {JOB_FULL_SYNC, JOB_FAILED, 150},
	[7] = {JOB_ENRICHMENT, JOB_COMPLETED, 300},
	[8] = {JOB_ACCOUNT_SYNC, JOB_CANCELLED, 250},
	[9] = {JOB_FULL_SYNC, JOB_COMPLETED, 400},
	[10] = {JOB_ENRICHMENT, JOB_FAILED, 350},
	[11] = {JOB_ACCOUNT_SYNC, JOB_COMPLETED, 500},
	[12] = {JOB_FULL_SYNC, JOB_COMPLETED, 450},
	[13] = {JOB_ENRICHMENT, JOB_CANCELLED, NONE},
	[14] = {JOB_ACCOUNT_SYNC, JOB_FAILED, 600},
	[15] = {JOB_FULL_SYNC, JOB_COMPLETED, 550},
	[16] = {JOB_ENRICHMENT, JOB_COMPLETED, 700},
	[17] = {JOB_ACCOUNT_SYNC, JOB_COMPLETED, 650},
	[18] = {JOB_FULL_SYNC, JOB_FAILED, 800},
	[19] = {JOB_ENRICHMENT, JOB_COMPLETED, 750},
	[20] = {JOB_ACCOUNT_SYNC, JOB_CANCELLED, 900},
	[21] = {JOB_FULL_SYNC, JOB_COMPLETED, 850},
	[22] = {JOB_ENRICHMENT, JOB_RUNNING, 1000},
	[23] = {JOB_ACCOUNT_SYNC, JOB_RUNNING, 950},
	[24] = {JOB_FULL_SYNC, JOB_RUNNING, 1100},
	[25] = {JOB_ENRICHMENT, JOB_COMPLETED, 1050},
	[26] = {JOB_ACCOUNT_SYNC, JOB_PENDING, NONE},
	[27] = {JOB_FULL_SYNC, JOB_PENDING, NONE},
	[28] = {JOB_ENRICHMENT, JOB_PENDING, NONE},
	[29] = {JOB_ACCOUNT_SYNC, JOB_PENDING, NONE},
	[30] = {JOB_FULL_SYNC, JOB_RUNNING, 1200},
};

static void
make_job(struct job *j, uint64_t no, enum job_type type, enum job_status status, int start_s)
{
	job_init(j);
	j->no = no;
	j->type = type;
	j->status = status;
	j->created_ms = BASE_MS + (int64_t)no * 1000;
	if (start_s != NONE) {
		j->start_ms = BASE_MS + (int64_t)start_s * 1000;
		j->progress = 40;
		snprintf(j->current_step, sizeof(j->current_step), "Processing accounts");
	}
	if (job_status_is_final(status)) {
		j->end_ms = start_s != NONE ? j->start_ms + 10000 : j->created_ms + 5000;
		j->progress = 100;
	}
	if (status == JOB_FAILED)
		job_set_error(j, "source unreachable");
	snprintf(j->requested_by, sizeof(j->requested_by), "admin");
	job_param_add(j, "source", "hr");
}

static void
put_job(uint64_t no, enum job_type type, enum job_status status, int start_s)
{
	struct job j;
	char *cause = NULL;

	make_job(&j, no, type, status, start_s);
	if (store_job_put(st, &j, true, &cause) != 0)
		ck_abort_msg("store_job_put job-%llu: %s", (unsigned long long)no, cause);
	job_free(&j);
}

static void
load_set(void)
{
	uint64_t no, got;
	char *cause = NULL;

	for (no = 1; no <= 30; no++) {
		ck_assert_int_eq(store_job_alloc(st, &got, &cause), 0);
		ck_assert_uint_eq(got, no);
		put_job(no, set[no].type, set[no].status, set[no].start_s);
	}
}

/* Run q (with its cursor, if any) and compare the page with want (0-terminated). */
static void
check_page(const struct job_query *q, const uint64_t *want, bool want_more, const char *what)
{
	struct job *out;
	size_t n, i, nwant = 0;
	bool more;
	char *cause = NULL;

	while (want[nwant] != 0)
		nwant++;
	out = xcalloc(q->first, sizeof(*out));
	if (store_jobs_list(st, q, out, &n, &more, &cause) != 0)
		ck_abort_msg("%s: store_jobs_list: %s", what, cause);
	ck_assert_msg(n == nwant, "%s: %zu jobs, want %zu", what, n, nwant);
	for (i = 0; i < n; i++)
		ck_assert_msg(out[i].no == want[i], "%s: [%zu] is job-%llu, want job-%llu", what,
			      i, (unsigned long long)out[i].no, (unsigned long long)want[i]);
	ck_assert_msg(more == want_more, "%s: has_more %d", what, more);
	for (i = 0; i < n; i++)
		job_free(&out[i]);
	free(out);
}

static struct job_query
query(int status, int type, int from_s, int to_s, uint32_t first)
{
	struct job_query q;

	job_query_init(&q);
	q.status = status;
	q.type = type;
	if (from_s != NONE) {
		q.has_from = true;
		q.from_ms = BASE_MS + (int64_t)from_s * 1000;
	}
	if (to_s != NONE) {
		q.has_to = true;
		q.to_ms = BASE_MS + (int64_t)to_s * 1000;
	}
	q.first = first;
	return (q);
}

/* --- tests ------------------------------------------------------------------------ */

START_TEST(test_alloc_survives_reopen)
{
	uint64_t a, b, c;
	char *cause = NULL;

	ck_assert_int_eq(store_job_alloc(st, &a, &cause), 0);
	ck_assert_int_eq(store_job_alloc(st, &b, &cause), 0);
	ck_assert_uint_eq(a, 1);
	ck_assert_uint_eq(b, 2);
	store_close(st);
	open_store();
	ck_assert_int_eq(store_job_alloc(st, &c, &cause), 0);
	ck_assert_uint_eq(c, 3);
}
END_TEST

START_TEST(test_put_get)
{
	struct job j, g;
	char *cause = NULL;
	void *raw;
	size_t len;

	make_job(&j, 7, JOB_ROLE_GENERATION, JOB_FAILED, 100);
	j.records_created = 12;
	j.cpu_ms = 345;
	ck_assert_int_eq(store_job_put(st, &j, true, &cause), 0);
	ck_assert_int_eq(store_job_get(st, 7, &g, &cause), 0);
	ck_assert_uint_eq(g.no, 7);
	ck_assert_int_eq(g.type, JOB_ROLE_GENERATION);
	ck_assert_int_eq(g.status, JOB_FAILED);
	ck_assert_int_eq(g.created_ms, BASE_MS + 7000);
	ck_assert_int_eq(g.start_ms, BASE_MS + 100000);
	ck_assert_int_eq(g.end_ms, BASE_MS + 110000);
	ck_assert_int_eq(g.records_created, 12);
	ck_assert_int_eq(g.records_updated, JOB_NULL);
	ck_assert_int_eq(g.cpu_ms, 345);
	ck_assert_str_eq(g.error, "source unreachable");
	ck_assert_str_eq(g.requested_by, "admin");
	ck_assert_str_eq(g.current_step, "Processing accounts");
	ck_assert_uint_eq(g.nparams, 1);
	ck_assert_str_eq(job_param_get(&g, "source"), "hr");
	job_free(&g);

	ck_assert_int_eq(store_job_get_raw(st, 7, &raw, &len, &cause), 0);
	ck_assert_int_eq(job_decode(raw, len, &g, &cause), 0);
	ck_assert_uint_eq(g.no, 7);
	free(raw);
	job_free(&g);

	/* Replace: progress update without a status change. */
	j.progress = 77;
	ck_assert_int_eq(store_job_put(st, &j, false, &cause), 0);
	ck_assert_int_eq(store_job_get(st, 7, &g, &cause), 0);
	ck_assert_int_eq(g.progress, 77);
	job_free(&g);
	job_free(&j);

	ck_assert_int_eq(store_job_get(st, 8, &g, &cause), STORE_NOTFOUND);
	ck_assert_int_eq(store_job_get_raw(st, 8, &raw, &len, &cause), STORE_NOTFOUND);
}
END_TEST

START_TEST(test_list_filters)
{
	static const uint64_t all[] = {30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
		16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
	static const uint64_t completed[] = {25, 21, 19, 17, 16, 15, 12, 11, 9, 7, 5, 3, 1, 0};
	static const uint64_t account[] = {29, 26, 23, 20, 17, 14, 11, 8, 5, 2, 0};
	static const uint64_t completed_enrich[] = {25, 19, 16, 7, 3, 0};
	static const uint64_t dates[] = {18, 19, 16, 17, 14, 15, 11, 12, 9, 10, 7, 8, 5, 6, 0};
	static const uint64_t completed_dates[] = {19, 16, 17, 15, 11, 12, 9, 7, 5, 0};
	static const uint64_t full_dates[] = {18, 15, 12, 9, 6, 0};
	static const uint64_t failed_account_dates[] = {14, 2, 0};
	static const uint64_t to_only[] = {7, 8, 5, 6, 3, 1, 2, 0};
	static const uint64_t from_only[] = {30, 24, 25, 22, 0};
	static const uint64_t running[] = {30, 24, 23, 22, 0};
	static const uint64_t pending_full[] = {27, 0};
	static const uint64_t none[] = {0};
	static const uint64_t cancelled[] = {20, 13, 8, 4, 0};
	static const uint64_t first5[] = {30, 29, 28, 27, 26, 0};
	struct job_query q;

	load_set();
	q = query(NONE, NONE, NONE, NONE, 1000);
	check_page(&q, all, false, "no filter");
	q = query(NONE, NONE, NONE, NONE, 5);
	check_page(&q, first5, true, "no filter, first 5");
	q = query(NONE, NONE, NONE, NONE, 30);
	check_page(&q, all, false, "no filter, first 30");
	q = query(JOB_COMPLETED, NONE, NONE, NONE, 1000);
	check_page(&q, completed, false, "status");
	q = query(NONE, JOB_ACCOUNT_SYNC, NONE, NONE, 1000);
	check_page(&q, account, false, "type");
	q = query(JOB_COMPLETED, JOB_ENRICHMENT, NONE, NONE, 1000);
	check_page(&q, completed_enrich, false, "status+type");
	/* Both date bounds are exact start times of jobs 6 and 18: inclusive. */
	q = query(NONE, NONE, 150, 800, 1000);
	check_page(&q, dates, false, "dates");
	q = query(JOB_COMPLETED, NONE, 150, 800, 1000);
	check_page(&q, completed_dates, false, "status+dates");
	q = query(NONE, JOB_FULL_SYNC, 150, 800, 1000);
	check_page(&q, full_dates, false, "type+dates");
	q = query(JOB_FAILED, JOB_ACCOUNT_SYNC, 50, 600, 1000);
	check_page(&q, failed_account_dates, false, "status+type+dates");
	q = query(NONE, NONE, NONE, 300, 1000);
	check_page(&q, to_only, false, "to only");
	q = query(NONE, NONE, 1000, NONE, 1000);
	check_page(&q, from_only, false, "from only");
	q = query(JOB_RUNNING, NONE, NONE, NONE, 1000);
	check_page(&q, running, false, "running");
	q = query(JOB_PENDING, JOB_FULL_SYNC, NONE, NONE, 1000);
	check_page(&q, pending_full, false, "pending full_sync");
	q = query(JOB_FAILED, JOB_ENRICHMENT, 400, NONE, 1000);
	check_page(&q, none, false, "failed enrichment from 400");
	q = query(JOB_CANCELLED, NONE, NONE, NONE, 1000);
	check_page(&q, cancelled, false, "cancelled");
	/* One millisecond inside the bounds drops the boundary jobs 6 and 18. */
	q = query(NONE, JOB_FULL_SYNC, 150, 800, 1000);
	q.from_ms++;
	q.to_ms--;
	{
		static const uint64_t inner[] = {15, 12, 9, 0};

		check_page(&q, inner, false, "type+dates, exclusive of the boundaries");
	}
}
END_TEST

/* Page with first = 3 through q, adding jobs between pages; every page is checked. */
static void
page_through(struct job_query *q, const uint64_t pages[][4], size_t npages,
	     void (*between)(size_t page))
{
	struct job out[3];
	size_t p, n, i, nwant;
	bool more;
	char *cause = NULL;

	for (p = 0; p < npages; p++) {
		if (store_jobs_list(st, q, out, &n, &more, &cause) != 0)
			ck_abort_msg("page %zu: %s", p, cause);
		for (nwant = 0; nwant < 3 && pages[p][nwant] != 0; nwant++)
			;
		ck_assert_msg(n == nwant, "page %zu: %zu jobs, want %zu", p, n, nwant);
		for (i = 0; i < n; i++)
			ck_assert_msg(out[i].no == pages[p][i], "page %zu [%zu]: job-%llu, want %llu",
				      p, i, (unsigned long long)out[i].no,
				      (unsigned long long)pages[p][i]);
		ck_assert_msg(more == (p + 1 < npages), "page %zu: has_more %d", p, more);
		q->has_after = true;
		q->after_no = out[n - 1].no;
		q->after_start_ms = out[n - 1].start_ms;
		for (i = 0; i < n; i++)
			job_free(&out[i]);
		if (between != NULL)
			between(p);
	}
}

static void
add_completed(size_t page)
{
	/* Newer jobs of the same filter: they sort before the cursor, never shown. */
	put_job(31 + page, JOB_FULL_SYNC, JOB_COMPLETED, 2000 + (int)page);
}

static void
add_dated(size_t page)
{
	if (page == 0) {
		/* Same start time as the cursor's job 16 but a higher number: before it. */
		put_job(31, JOB_ACCOUNT_SYNC, JOB_COMPLETED, 700);
		/* Started earlier than everything shown so far: shown once, later. */
		put_job(32, JOB_ACCOUNT_SYNC, JOB_COMPLETED, 160);
	}
}

START_TEST(test_paging_while_adding)
{
	static const uint64_t completed[][4] = {{25, 21, 19}, {17, 16, 15}, {12, 11, 9},
		{7, 5, 3}, {1}};
	static const uint64_t dated[][4] = {{18, 19, 16}, {17, 14, 15}, {11, 12, 9},
		{10, 7, 8}, {5, 32, 6}};
	struct job_query q;

	load_set();
	q = query(JOB_COMPLETED, NONE, NONE, NONE, 3);
	page_through(&q, completed, 5, add_completed);
	q = query(NONE, NONE, 150, 800, 3);
	page_through(&q, dated, 5, add_dated);
}
END_TEST

START_TEST(test_counts)
{
	uint64_t c[JOB_STATUS_COUNT][JOB_TYPE_COUNT];
	char *cause = NULL;

	load_set();
	ck_assert_int_eq(store_job_counts(st, c, &cause), 0);
	ck_assert_uint_eq(c[JOB_COMPLETED][JOB_FULL_SYNC], 5);  /* 1 9 12 15 21 */
	ck_assert_uint_eq(c[JOB_COMPLETED][JOB_ENRICHMENT], 5); /* 3 7 16 19 25 */
	ck_assert_uint_eq(c[JOB_FAILED][JOB_ACCOUNT_SYNC], 2);  /* 2 14 */
	ck_assert_uint_eq(c[JOB_RUNNING][JOB_FULL_SYNC], 2);    /* 24 30 */
	ck_assert_uint_eq(c[JOB_PENDING][JOB_FULL_SYNC], 1);    /* 27 */
	ck_assert_uint_eq(c[JOB_CANCELLED][JOB_FULL_SYNC], 1);  /* 4 */
	ck_assert_uint_eq(c[JOB_PENDING][JOB_ROLE_GENERATION], 0);

	put_job(24, JOB_FULL_SYNC, JOB_COMPLETED, 1100);
	put_job(27, JOB_FULL_SYNC, JOB_CANCELLED, NONE);
	put_job(27, JOB_FULL_SYNC, JOB_CANCELLED, NONE); /* same status again */
	ck_assert_int_eq(store_job_counts(st, c, &cause), 0);
	ck_assert_uint_eq(c[JOB_COMPLETED][JOB_FULL_SYNC], 6);
	ck_assert_uint_eq(c[JOB_RUNNING][JOB_FULL_SYNC], 1);
	ck_assert_uint_eq(c[JOB_PENDING][JOB_FULL_SYNC], 0);
	ck_assert_uint_eq(c[JOB_CANCELLED][JOB_FULL_SYNC], 2);
	ck_assert_uint_eq(c[JOB_COMPLETED][JOB_ENRICHMENT], 5);
}
END_TEST

struct collect {
	uint64_t no[64];
	size_t n;
	size_t stop_after;
};

static int
collect_cb(const struct job *j, void *arg)
{
	struct collect *c = arg;

	c->no[c->n++] = j->no;
	return (c->stop_after != 0 && c->n == c->stop_after);
}

/* A callback that writes the store (recovery marks running jobs failed). */
static int
fail_cb(const struct job *j, void *arg)
{
	struct job k;
	char *cause = NULL;

	job_copy(&k, j);
	k.status = JOB_FAILED;
	job_set_error(&k, "interrupted: daemon restarted");
	ck_assert_int_eq(store_job_put(st, &k, true, &cause), 0);
	job_free(&k);
	return (collect_cb(j, arg));
}

static struct {
	uint64_t prev;
	size_t n;
	bool ordered;
} order;

static int
order_cb(const struct job *j, void *arg)
{
	if (j->no <= order.prev)
		order.ordered = false;
	order.prev = j->no;
	order.n++;
	return (0);
}

START_TEST(test_by_status)
{
	struct collect c;
	char *cause = NULL;
	uint64_t n;

	load_set();
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(store_jobs_by_status(st, JOB_RUNNING, collect_cb, &c, &cause), 0);
	ck_assert_uint_eq(c.n, 4);
	ck_assert_uint_eq(c.no[0], 22);
	ck_assert_uint_eq(c.no[1], 23);
	ck_assert_uint_eq(c.no[2], 24);
	ck_assert_uint_eq(c.no[3], 30);

	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	ck_assert_int_eq(store_jobs_by_status(st, JOB_PENDING, collect_cb, &c, &cause), 0);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_uint_eq(c.no[0], 26);
	ck_assert_uint_eq(c.no[1], 27);

	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(store_jobs_by_status(st, JOB_RUNNING, fail_cb, &c, &cause), 0);
	ck_assert_uint_eq(c.n, 4);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(store_jobs_by_status(st, JOB_RUNNING, collect_cb, &c, &cause), 0);
	ck_assert_uint_eq(c.n, 0);

	/* More than one internal batch: 300 pending jobs, in order. */
	for (n = 100; n < 400; n++)
		put_job(n, JOB_GROUP_SYNC, JOB_PENDING, NONE);
	memset(&order, 0, sizeof(order));
	order.ordered = true;
	ck_assert_int_eq(store_jobs_by_status(st, JOB_PENDING, order_cb, &order, &cause), 0);
	ck_assert_uint_eq(order.n, 304); /* 26 27 28 29 and 100..399 */
	ck_assert(order.ordered);
}
END_TEST

static void
assert_exists(uint64_t no, bool want)
{
	struct job j;
	char *cause = NULL;
	int r;

	r = store_job_get(st, no, &j, &cause);
	ck_assert_msg(r == (want ? 0 : STORE_NOTFOUND), "job-%llu: get %d",
		      (unsigned long long)no, r);
	job_free(&j);
}

static int
count_lines(int64_t ts, int level, const char *text, void *arg)
{
	(*(int *)arg)++;
	return (0);
}

START_TEST(test_prune)
{
	uint64_t c[JOB_STATUS_COUNT][JOB_TYPE_COUNT];
	char *cause = NULL;
	size_t deleted;
	int lines = 0;
	uint64_t no;

	load_set();
	ck_assert_int_eq(store_job_log_append(st, 1, BASE_MS, LOG_LVL_INFO, "one", &cause), 0);
	ck_assert_int_eq(store_job_log_append(st, 1, BASE_MS, LOG_LVL_INFO, "two", &cause), 0);
	ck_assert_int_eq(store_job_log_append(st, 2, BASE_MS, LOG_LVL_INFO, "x", &cause), 0);

	/* 22 finished jobs (1..21, 25): keeping 20 deletes the oldest two. */
	ck_assert_int_eq(store_jobs_prune(st, INT64_MIN, 20, 100, &deleted, &cause), 0);
	ck_assert_uint_eq(deleted, 2);
	assert_exists(1, false);
	assert_exists(2, false);
	assert_exists(3, true);
	ck_assert_int_eq(store_job_log_read(st, 1, count_lines, &lines, &cause), 0);
	ck_assert_int_eq(lines, 0);
	ck_assert_int_eq(store_job_log_read(st, 2, count_lines, &lines, &cause), 0);
	ck_assert_int_eq(lines, 0);

	/* Ended before 200 s: 3 (130), 4 (9, cancelled pending), 6 (160), 13 (18). */
	ck_assert_int_eq(store_jobs_prune(st, BASE_MS + 200000, UINT64_MAX, 100, &deleted,
					  &cause), 0);
	ck_assert_uint_eq(deleted, 4);
	for (no = 3; no <= 30; no++)
		assert_exists(no, !(no == 3 || no == 4 || no == 6 || no == 13));

	/* At most 3 per call, oldest first: 5 7 8; never pending or running ones. */
	ck_assert_int_eq(store_jobs_prune(st, INT64_MIN, 0, 3, &deleted, &cause), 0);
	ck_assert_uint_eq(deleted, 3);
	assert_exists(5, false);
	assert_exists(7, false);
	assert_exists(8, false);
	assert_exists(9, true);
	ck_assert_int_eq(store_jobs_prune(st, INT64_MIN, 0, 1000, &deleted, &cause), 0);
	ck_assert_uint_eq(deleted, 22 - 2 - 4 - 3);
	for (no = 1; no <= 30; no++)
		assert_exists(no, no >= 22 && no != 25);
	ck_assert_int_eq(store_job_counts(st, c, &cause), 0);
	ck_assert_uint_eq(c[JOB_COMPLETED][JOB_FULL_SYNC], 0);
	ck_assert_uint_eq(c[JOB_FAILED][JOB_ACCOUNT_SYNC], 0);
	ck_assert_uint_eq(c[JOB_RUNNING][JOB_FULL_SYNC], 2);
	ck_assert_uint_eq(c[JOB_PENDING][JOB_ACCOUNT_SYNC], 2);
	ck_assert_int_eq(store_jobs_prune(st, INT64_MAX, 0, 1000, &deleted, &cause), 0);
	ck_assert_uint_eq(deleted, 0);
}
END_TEST

struct lines {
	int n;
	char last[128];
	char first[128];
	int last_level;
};

static int
lines_cb(int64_t ts, int level, const char *text, void *arg)
{
	struct lines *l = arg;

	if (l->n == 0)
		snprintf(l->first, sizeof(l->first), "%s", text);
	snprintf(l->last, sizeof(l->last), "%s", text);
	l->last_level = level;
	l->n++;
	return (0);
}

START_TEST(test_log_cap)
{
	struct lines l;
	char *cause = NULL, text[32];
	int i;

	for (i = 0; i < STORE_LOG_MAX_LINES + 5; i++) {
		snprintf(text, sizeof(text), "line %d", i);
		ck_assert_int_eq(store_job_log_append(st, 9, BASE_MS + i, LOG_LVL_INFO, text,
						      &cause), 0);
	}
	ck_assert_int_eq(store_job_log_append(st, 10, BASE_MS, LOG_LVL_WARN, "other", &cause),
			 0);
	ck_assert_int_eq(store_job_log_append(st, 8, BASE_MS, LOG_LVL_WARN, "before", &cause),
			 0);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(store_job_log_read(st, 9, lines_cb, &l, &cause), 0);
	ck_assert_int_eq(l.n, STORE_LOG_MAX_LINES + 1);
	ck_assert_str_eq(l.first, "line 0");
	ck_assert_str_eq(l.last, "... 5 more lines dropped");
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(store_job_log_read(st, 10, lines_cb, &l, &cause), 0);
	ck_assert_int_eq(l.n, 1);
	ck_assert_str_eq(l.last, "other");
	ck_assert_int_eq(l.last_level, LOG_LVL_WARN);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(store_job_log_read(st, 11, lines_cb, &l, &cause), 0);
	ck_assert_int_eq(l.n, 0);
}
END_TEST

struct names {
	char name[8][TOKEN_NAME_MAX];
	int n;
};

static int
names_cb(const struct token *t, void *arg)
{
	struct names *n = arg;

	snprintf(n->name[n->n++], TOKEN_NAME_MAX, "%s", t->name);
	return (0);
}

START_TEST(test_tokens)
{
	struct token t, u, f;
	struct names nm;
	uint8_t other[TOKEN_HASH_LEN];
	char *cause = NULL;

	memset(&t, 0, sizeof(t));
	snprintf(t.name, sizeof(t.name), "ci");
	snprintf(t.role, sizeof(t.role), "Administrator");
	memset(t.hash, 0xab, sizeof(t.hash));
	t.created_ms = BASE_MS;
	u = t;
	snprintf(u.name, sizeof(u.name), "audit");
	snprintf(u.role, sizeof(u.role), "Auditor");
	memset(u.hash, 0x11, sizeof(u.hash));

	ck_assert_int_eq(store_token_put(st, &t, &cause), 0);
	ck_assert_int_eq(store_token_put(st, &u, &cause), 0);
	ck_assert_int_eq(store_token_put(st, &t, &cause), STORE_EXISTS);

	ck_assert_int_eq(store_token_find(st, t.hash, &f, &cause), 0);
	ck_assert_str_eq(f.name, "ci");
	ck_assert_str_eq(f.role, "Administrator");
	ck_assert_int_eq(f.created_ms, BASE_MS);
	ck_assert_int_eq(memcmp(f.hash, t.hash, TOKEN_HASH_LEN), 0);
	memset(other, 0xab, sizeof(other));
	other[31] = 0xac;
	ck_assert_int_eq(store_token_find(st, other, &f, &cause), STORE_NOTFOUND);

	memset(&nm, 0, sizeof(nm));
	ck_assert_int_eq(store_token_list(st, names_cb, &nm, &cause), 0);
	ck_assert_int_eq(nm.n, 2);
	ck_assert_str_eq(nm.name[0], "audit"); /* by name */
	ck_assert_str_eq(nm.name[1], "ci");

	ck_assert_int_eq(store_token_delete(st, "ci", &cause), 0);
	ck_assert_int_eq(store_token_delete(st, "ci", &cause), STORE_NOTFOUND);
	ck_assert_int_eq(store_token_find(st, t.hash, &f, &cause), STORE_NOTFOUND);
	ck_assert_int_eq(store_token_find(st, u.hash, &f, &cause), 0);
	/* The name and the hash are free again. */
	ck_assert_int_eq(store_token_put(st, &t, &cause), 0);
}
END_TEST

START_TEST(test_second_supervisor)
{
	struct store *s2 = NULL, *r = NULL;
	char *cause = NULL, want[512];
	const uint8_t *k1;
	uint8_t saved[32];

	ck_assert_int_eq(store_open(dir, STORE_SUPERVISOR, &s2, &cause), -1);
	ck_assert_ptr_null(s2);
	snprintf(want, sizeof(want), "another jobsd is running on %s (pid %ld)", dir,
		 (long)getpid());
	ck_assert_str_eq(cause, want);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(store_open(dir, STORE_TOOL, &s2, &cause), -1);
	free(cause);
	cause = NULL;

	/* A reader joins and sees the same cursor key. */
	ck_assert_int_eq(store_open(dir, STORE_READER, &r, &cause), 0);
	k1 = store_cursor_key(st);
	memcpy(saved, k1, sizeof(saved));
	ck_assert_int_eq(memcmp(store_cursor_key(r), saved, 32), 0);
	store_close(r);

	/* Once the first is closed, a second opens; the key is kept. */
	store_close(st);
	st = NULL;
	ck_assert_int_eq(store_open(dir, STORE_SUPERVISOR, &st, &cause), 0);
	ck_assert_int_eq(memcmp(store_cursor_key(st), saved, 32), 0);
}
END_TEST

static int
kill_in_txn(struct store *s, DB_TXN *txn, void *arg)
{
	char *cause = NULL;

	if (store_meta_put(s, txn, "watermark", "child", 5, &cause) != 0)
		_exit(3);
	raise(SIGKILL);
	return (0);
}

START_TEST(test_failchk_after_kill)
{
	char *cause = NULL, buf[16];
	size_t len;
	pid_t pid;
	int status;

	ck_assert_int_eq(store_meta_put(st, NULL, "watermark", "parent0", 7, &cause), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct store *w;

		if (store_open(dir, STORE_WORKER, &w, &cause) != 0)
			_exit(2);
		store_with_txn(w, 0, kill_in_txn, NULL, &cause);
		_exit(4);
	}
	ck_assert_msg(wait_bounded(pid, 30000, &status) == 0, "child hangs");
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d",
		      status);
	if (store_failchk(st, &cause) != 0)
		ck_abort_msg("failchk: %s", cause);
	alarm(20); /* the deadline: without failchk this put waits forever */
	ck_assert_int_eq(store_meta_put(st, NULL, "watermark", "parent", 6, &cause), 0);
	alarm(0);
	ck_assert_int_eq(store_meta_get(st, NULL, "watermark", buf, sizeof(buf), &len, &cause),
			 0);
	ck_assert_uint_eq(len, 6);
	ck_assert_int_eq(memcmp(buf, "parent", 6), 0);
}
END_TEST

START_TEST(test_meta)
{
	char buf[4], *cause = NULL;
	size_t len;

	ck_assert_int_eq(store_meta_get(st, NULL, "nope", buf, sizeof(buf), &len, &cause),
			 STORE_NOTFOUND);
	ck_assert_int_eq(store_meta_put(st, NULL, "v", "12345", 5, &cause), 0);
	ck_assert_int_eq(store_meta_get(st, NULL, "v", buf, sizeof(buf), &len, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
}
END_TEST

START_TEST(test_reader_without_env)
{
	struct store *r = NULL;
	char *cause = NULL, sub[300];

	snprintf(sub, sizeof(sub), "%s/missing", dir);
	ck_assert_int_eq(store_open(sub, STORE_READER, &r, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, sub));
	free(cause);
	cause = NULL;
	/* A supervisor creates it 0700. */
	{
		struct store *s2;
		struct stat sb;

		ck_assert_int_eq(store_open(sub, STORE_SUPERVISOR, &s2, &cause), 0);
		ck_assert_int_eq(stat(sub, &sb), 0);
		ck_assert_int_eq(sb.st_mode & 0777, 0700);
		snprintf(sub + strlen(sub), sizeof(sub) - strlen(sub), "/cursor.key");
		ck_assert_int_eq(stat(sub, &sb), 0);
		ck_assert_int_eq(sb.st_mode & 0777, 0600);
		ck_assert_int_eq(sb.st_size, 32);
		store_close(s2);
	}
}
END_TEST

/* Read-only and full data dirs on a tiny tmpfs (needs mount privileges). */
START_TEST(test_unusable_dir)
{
	struct store *s2 = NULL;
	char mnt[300], *cause = NULL, want[400];
	int fd;

	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	ck_assert_int_eq(mkdir(mnt, 0700), 0);
	if (mount("tmpfs", mnt, "tmpfs", MS_RDONLY, "size=200k") != 0) {
		fprintf(stderr, "check_store: skipping read-only/full data dir test: mount: %s\n",
			strerror(errno));
		return;
	}
	ck_assert_int_eq(store_open(mnt, STORE_SUPERVISOR, &s2, &cause), -1);
	snprintf(want, sizeof(want), "data directory %s is on a read-only file system", mnt);
	ck_assert_str_eq(cause, want);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(umount(mnt), 0);

	ck_assert_int_eq(mount("tmpfs", mnt, "tmpfs", 0, "size=200k"), 0);
	{
		char fill[512];
		static char block[4096];

		snprintf(fill, sizeof(fill), "%s/fill", mnt);
		fd = open(fill, O_WRONLY | O_CREAT, 0600);
		ck_assert_int_ne(fd, -1);
		while (write(fd, block, sizeof(block)) > 0)
			;
		close(fd);
	}
	ck_assert_int_eq(store_open(mnt, STORE_SUPERVISOR, &s2, &cause), -1);
	ck_assert_msg(strstr(cause, mnt) != NULL && strstr(cause, "full") != NULL,
		      "cause: %s", cause);
	free(cause);
	ck_assert_int_eq(umount(mnt), 0);
}
END_TEST

/* A reader in another process sees the supervisor's jobs and cannot write them. */
static int
reader_child(void)
{
	struct store *r;
	struct job j, out[3];
	struct job_query q;
	char *cause = NULL;
	uint64_t no;
	size_t n, i;
	bool more;

	if (store_open(dir, STORE_READER, &r, &cause) != 0)
		return (10);
	if (store_job_get(r, 5, &j, &cause) != 0)
		return (11);
	if (j.type != JOB_ACCOUNT_SYNC || j.status != JOB_COMPLETED)
		return (12);
	q = query(JOB_COMPLETED, NONE, NONE, NONE, 3);
	if (store_jobs_list(r, &q, out, &n, &more, &cause) != 0)
		return (13);
	if (n != 3 || out[0].no != 25 || out[1].no != 21 || out[2].no != 19 || !more)
		return (14);
	for (i = 0; i < n; i++)
		job_free(&out[i]);
	if (store_job_alloc(r, &no, &cause) != -1)
		return (15);
	free(cause);
	cause = NULL;
	j.status = JOB_FAILED;
	if (store_job_put(r, &j, true, &cause) != -1)
		return (16);
	free(cause);
	job_free(&j);
	store_close(r);
	return (0);
}

START_TEST(test_reader_process)
{
	pid_t pid;
	int status;

	load_set();
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		_exit(reader_child());
	ck_assert_msg(wait_bounded(pid, 30000, &status) == 0, "reader child hangs");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader child status %d",
		      status);
}
END_TEST

START_TEST(test_gen_jobs)
{
	struct store *g;
	struct job *out;
	struct job_query q;
	uint64_t c[JOB_STATUS_COUNT][JOB_TYPE_COUNT], total = 0, no;
	char sub[256], *cause = NULL;
	int64_t now = time_now_ms(), prev = 0;
	size_t n, i;
	bool more;
	int x, y;

	snprintf(sub, sizeof(sub), "%s/gen", dir);
	ck_assert_int_eq(gen_jobs(sub, 500, 7, &cause), 0);
	ck_assert_int_eq(store_open(sub, STORE_SUPERVISOR, &g, &cause), 0);
	ck_assert_int_eq(store_job_counts(g, c, &cause), 0);
	for (x = 0; x < JOB_STATUS_COUNT; x++)
		for (y = 0; y < JOB_TYPE_COUNT; y++)
			total += c[x][y];
	ck_assert_uint_eq(total, 500);
	for (y = 0; y < JOB_TYPE_COUNT; y++) {
		ck_assert_uint_eq(c[JOB_PENDING][y], 0);
		ck_assert_uint_eq(c[JOB_RUNNING][y], 0);
	}
	out = xcalloc(1000, sizeof(*out));
	q = query(NONE, NONE, NONE, NONE, 1000);
	ck_assert_int_eq(store_jobs_list(g, &q, out, &n, &more, &cause), 0);
	ck_assert_uint_eq(n, 500);
	ck_assert(!more);
	for (i = 0; i < n; i++) {
		struct job *j = &out[i];

		ck_assert_uint_eq(j->no, 500 - i);
		ck_assert(job_status_is_final(j->status));
		ck_assert(j->created_ms > now - INT64_C(366) * 86400000 && j->created_ms <= now);
		if (i > 0)
			ck_assert(j->created_ms <= prev);
		prev = j->created_ms;
		ck_assert(j->end_ms != JOB_NULL);
		if (j->start_ms != JOB_NULL) {
			ck_assert(j->start_ms >= j->created_ms && j->end_ms >= j->start_ms);
			ck_assert(j->records_processed <= j->total_records);
		} else
			ck_assert_int_eq(j->status, JOB_CANCELLED);
		ck_assert((j->status == JOB_FAILED) == (j->error != NULL));
		ck_assert(j->requested_by[0] != '\0');
		job_free(j);
	}
	/* The bulk-written index agrees with the counts and the records. */
	for (x = 0; x < JOB_STATUS_COUNT; x++) {
		uint64_t want = 0;

		for (y = 0; y < JOB_TYPE_COUNT; y++)
			want += c[x][y];
		q = query(x, NONE, NONE, NONE, 1000);
		ck_assert_int_eq(store_jobs_list(g, &q, out, &n, &more, &cause), 0);
		ck_assert_uint_eq(n, want);
		for (i = 0; i < n; i++) {
			ck_assert_int_eq(out[i].status, x);
			if (i > 0)
				ck_assert(out[i].no < out[i - 1].no);
		}
		for (i = 0; i < n; i++)
			job_free(&out[i]);
	}
	q = query(JOB_COMPLETED, JOB_INCREMENTAL_SYNC, NONE, NONE, 1000);
	q.has_from = q.has_to = true;
	q.from_ms = 0;
	q.to_ms = now;
	ck_assert_int_eq(store_jobs_list(g, &q, out, &n, &more, &cause), 0);
	ck_assert_uint_eq(n, c[JOB_COMPLETED][JOB_INCREMENTAL_SYNC]);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(out[i].type, JOB_INCREMENTAL_SYNC);
		if (i > 0)
			ck_assert(out[i].start_ms <= out[i - 1].start_ms);
	}
	for (i = 0; i < n; i++)
		job_free(&out[i]);

	/* A supervisor's put replaces the bulk-written index entries of a job. */
	{
		struct job j;
		int old;

		ck_assert_int_eq(store_job_get(g, 250, &j, &cause), 0);
		old = j.status;
		j.status = JOB_PENDING;
		ck_assert_int_eq(store_job_put(g, &j, true, &cause), 0);
		job_free(&j);
		q = query(JOB_PENDING, NONE, NONE, NONE, 1000);
		ck_assert_int_eq(store_jobs_list(g, &q, out, &n, &more, &cause), 0);
		ck_assert_uint_eq(n, 1);
		ck_assert_uint_eq(out[0].no, 250);
		job_free(&out[0]);
		q = query(old, NONE, NONE, NONE, 1000);
		ck_assert_int_eq(store_jobs_list(g, &q, out, &n, &more, &cause), 0);
		ck_assert_uint_eq(n, c[old][0] + c[old][1] + c[old][2] + c[old][3] + c[old][4] +
			c[old][5] + c[old][6] + c[old][7] + c[old][8] + c[old][9] - 1);
		for (i = 0; i < n; i++) {
			ck_assert_uint_ne(out[i].no, 250);
			job_free(&out[i]);
		}
	}
	free(out);
	ck_assert_int_eq(store_job_alloc(g, &no, &cause), 0);
	ck_assert_uint_eq(no, 501);
	/* Not while a daemon holds the directory. */
	ck_assert_int_eq(gen_jobs(sub, 10, 7, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "another jobsd is running on"));
	free(cause);
	store_close(g);
}
END_TEST

/* An associate callback runs inside the library: dying there leaves the environment in a
 * state only recovery can fix. */
static int
die_cb(DB *sec, const DBT *key, const DBT *data, DBT *result)
{
	raise(SIGKILL);
	return (DB_DONOTINDEX);
}

static int
die_in_library_child(void)
{
	struct store *w;
	DB *p, *sec;
	DB_TXN *txn;
	DBT k, d;
	char *cause = NULL;

	if (store_open(dir, STORE_WORKER, &w, &cause) != 0 ||
	    store_db_open(w, "victim", DB_BTREE, 0, &p, &cause) != 0 ||
	    store_db_open(w, "victim_idx", DB_BTREE, 0, &sec, &cause) != 0)
		return (2);
	if (store_env(w)->txn_begin(store_env(w), NULL, &txn, 0) != 0 ||
	    p->associate(p, txn, sec, die_cb, DB_CREATE) != 0 || txn->commit(txn, 0) != 0)
		return (3);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = "k";
	k.size = 1;
	d.data = "v";
	d.size = 1;
	p->put(p, NULL, &k, &d, 0);
	return (4);
}

/* The supervisor side, in its own process: Berkeley DB leaks what it cannot free after a
 * panic, and this process leaves with _exit. */
static int
panic_supervisor(void)
{
	struct store *s;
	char *cause = NULL;
	pid_t pid;
	int status;

	if (store_open(dir, STORE_SUPERVISOR, &s, &cause) != 0)
		return (10);
	if ((pid = fork()) == -1)
		return (11);
	if (pid == 0)
		_exit(die_in_library_child());
	if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status) ||
	    WTERMSIG(status) != SIGKILL)
		return (12);
	if (store_failchk(s, &cause) != -1 || strstr(cause, "needs recovery") == NULL)
		return (13);
	free(cause);
	cause = NULL;
	/* Nothing may hang on the dead process's mutexes. */
	if (store_meta_put(s, NULL, "after", "2", 1, &cause) != -1)
		return (14);
	free(cause);
	store_close(s);
	return (0);
}

START_TEST(test_failchk_needs_recovery)
{
	char *cause = NULL, buf[8];
	size_t len;
	pid_t pid;
	int status;

	ck_assert_int_eq(store_meta_put(st, NULL, "before", "1", 1, &cause), 0);
	store_close(st);
	st = NULL;
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		_exit(panic_supervisor());
	ck_assert_msg(wait_bounded(pid, 30000, &status) == 0, "supervisor child hangs");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "supervisor status %d",
		      status);
	/* Recovery on the next supervisor start repairs it; committed data is kept. */
	open_store();
	ck_assert_int_eq(store_meta_get(st, NULL, "before", buf, sizeof(buf), &len, &cause),
			 0);
	ck_assert_uint_eq(len, 1);
	ck_assert_int_eq(store_meta_put(st, NULL, "after", "2", 1, &cause), 0);
	ck_assert_int_eq(store_failchk(st, &cause), 0);
}
END_TEST

/* A process still attached (a listener of a killed supervisor) keeps a new supervisor
 * from recovering the environment under it, for a bounded time. */
START_TEST(test_recover_waits_for_stale_reader)
{
	struct store *r = NULL;
	char *cause = NULL, c;
	int go[2], ready[2], status;
	pid_t pid;

	store_close(st); /* a clean close removes the regions: */
	st = NULL;
	/* the killed supervisor leaves them behind */
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		_exit(store_open(dir, STORE_SUPERVISOR, &r, &cause) == 0 ? 0 : 2);
	ck_assert_msg(wait_bounded(pid, 30000, &status) == 0, "supervisor child hangs");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "supervisor status %d",
		      status);
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(go[1]);
		close(ready[0]);
		if (store_open(dir, STORE_READER, &r, &cause) != 0)
			_exit(2);
		if (write(ready[1], "r", 1) != 1)
			_exit(3);
		(void)read(go[0], &c, 1); /* until the parent closes it */
		store_close(r);
		_exit(0);
	}
	close(go[0]);
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	store_recover_wait_ms = 300;
	ck_assert_int_eq(store_open(dir, STORE_SUPERVISOR, &st, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "still used by other processes"));
	free(cause);
	cause = NULL;
	close(go[1]); /* the reader goes */
	ck_assert_msg(wait_bounded(pid, 30000, &status) == 0, "reader child hangs");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader status %d",
		      status);
	close(ready[0]);
	open_store();
	/* The supervisor shares the lock once recovered: readers join again. */
	ck_assert_int_eq(store_open(dir, STORE_READER, &r, &cause), 0);
	store_close(r);
}
END_TEST

/* A reader process listing and reading while the supervisor updates the same jobs as
 * fast as it can: lock conflicts are retried, nobody sees an error. */
static int
busy_reader(void)
{
	struct store *r;
	struct job out[20], j;
	struct job_query q;
	char *cause = NULL;
	size_t n, x;
	bool more;
	int i, errs = 0;

	if (store_open(dir, STORE_READER, &r, &cause) != 0)
		return (100);
	for (i = 0; i < 1500; i++) {
		q = query(i % 3 == 0 ? NONE : JOB_RUNNING, NONE, i % 2 ? 0 : NONE, NONE, 20);
		if (store_jobs_list(r, &q, out, &n, &more, &cause) != 0) {
			fprintf(stderr, "busy reader: list: %s\n", cause);
			free(cause);
			cause = NULL;
			errs++;
		} else
			for (x = 0; x < n; x++)
				job_free(&out[x]);
		if (store_job_get(r, 1 + i % 30, &j, &cause) != 0) {
			fprintf(stderr, "busy reader: get: %s\n", cause);
			free(cause);
			cause = NULL;
			errs++;
		} else
			job_free(&j);
	}
	store_close(r);
	return (errs > 99 ? 99 : errs);
}

START_TEST(test_concurrent_reader)
{
	pid_t pid;
	int i, status;

	load_set();
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		_exit(busy_reader());
	for (i = 0; i < 3000; i++)
		put_job(1 + i % 30, JOB_FULL_SYNC, i % 2 ? JOB_RUNNING : JOB_PENDING,
			i % 2 ? i : NONE);
	ck_assert_msg(wait_bounded(pid, 60000, &status) == 0, "reader hangs");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "reader status %d (exit %d)", status, WEXITSTATUS(status));
}
END_TEST

/* --- memory of the environment ----------------------------------------------------- */

/* Resident KiB of this process's mappings of data_dir/name (smaps), -1 when unmapped. */
static long
mapped_rss_kb(const char *name)
{
	char file[300], want[PATH_MAX], line[512], path[400];
	FILE *f;
	long kb, total = -1;
	bool in = false;

	/* smaps names the file by its real path (the regions are behind a symlink). */
	snprintf(file, sizeof(file), "%s/%s", dir, name);
	ck_assert_ptr_nonnull(realpath(file, want));
	f = fopen("/proc/self/smaps", "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%*x-%*x %*s %*s %*s %*s %399s", path) == 1)
			in = strcmp(path, want) == 0;
		else if (in && sscanf(line, "Rss: %ld kB", &kb) == 1)
			total = (total < 0 ? 0 : total) + kb;
	}
	fclose(f);
	return (total);
}

/* The main region (__db.001) used to be created for 100000 locks and objects and 10000
 * lockers up front: an 18 MiB file, most of it touched at creation and counted in the
 * supervisor's RSS. Its structures now start small and grow on demand. */
START_TEST(test_env_region_small)
{
	char path[300];
	struct stat sb;
	long kb;

	snprintf(path, sizeof(path), "%s/regions/__db.001", dir);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_msg(sb.st_size <= 8 * 1024 * 1024, "__db.001 is %lld bytes",
		      (long long)sb.st_size);
	/* Residency varies with the build (sanitizers) and what was touched: seen 1.1-4.3 MiB
	 * now, 13.3 MiB before the regions started small. 8 MiB separates the two. */
	kb = mapped_rss_kb("regions/__db.001");
	ck_assert_msg(kb >= 0 && kb <= 8192, "__db.001 resident: %ld KiB", kb);
}
END_TEST

/* --- corruption, panic and data_dir mode ------------------------------------------ */

#define CORRUPT_JOBS 1000

/* CORRUPT_JOBS jobs (each started, so each has all seven index entries), then closed. */
static void
fill_and_close(void)
{
	struct job j;
	uint64_t no, got;
	char *cause = NULL;

	for (no = 1; no <= CORRUPT_JOBS; no++) {
		ck_assert_int_eq(store_job_alloc_nosync(st, &got, &cause), 0);
		ck_assert_uint_eq(got, no);
		make_job(&j, no, JOB_FULL_SYNC, JOB_COMPLETED, (int)no);
		if (store_job_put_nosync(st, &j, &cause) != 0)
			ck_abort_msg("put job-%llu: %s", (unsigned long long)no, cause);
		job_free(&j);
	}
	ck_assert_int_eq(store_log_flush(st, &cause), 0);
	store_close(st);
	st = NULL;
}

/* Overwrite every page of data_dir/name but the meta page (page 0, 16 KiB pages for jobs
 * and jobs_idx) with deterministic garbage. */
static void
garble(const char *name)
{
	char path[300];
	static uint8_t buf[16384];
	struct stat sb;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	off_t off;
	size_t i;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_int_eq(stat(path, &sb), 0);
	ck_assert_msg(sb.st_size >= 4 * (off_t)sizeof(buf), "%s: only %lld bytes", name,
		      (long long)sb.st_size);
	fd = open(path, O_WRONLY);
	ck_assert_int_ne(fd, -1);
	for (off = sizeof(buf); off < sb.st_size; off += sizeof(buf)) {
		for (i = 0; i < sizeof(buf); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (uint8_t)x;
		}
		ck_assert_int_eq(pwrite(fd, buf, sizeof(buf), off), (ssize_t)sizeof(buf));
	}
	close(fd);
}

/* Child: store_open on the corrupt store; its cause goes to fd. Exit 0 when it failed. */
static int
open_corrupt_child(int fd)
{
	struct store *s = NULL;
	char *cause = NULL;
	int rc;

	rc = store_open(dir, STORE_SUPERVISOR, &s, &cause);
	if (cause != NULL && write(fd, cause, strlen(cause)) < 0)
		return (3);
	if (rc == 0) {
		store_close(s);
		return (1);
	}
	return (0);
}

/* Garbage over the data pages of jobs.db and jobs_idx.db used to make store_open loop
 * forever in __bam_search (under DB->associate); with checksummed pages it fails, in a
 * child with a bounded wait, saying the environment needs recovery. */
START_TEST(test_corrupt_pages_fail_open)
{
	char cause[2048];
	int p[2], status;
	ssize_t n;
	pid_t pid;

	fill_and_close();
	garble("jobs.db");
	garble("jobs_idx.db");
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(p[0]);
		_exit(open_corrupt_child(p[1]));
	}
	close(p[1]);
	ck_assert_msg(wait_bounded(pid, 15000, &status) == 0,
		      "store_open still running after 15 s on a corrupt jobs.db");
	n = read(p[0], cause, sizeof(cause) - 1);
	close(p[0]);
	cause[n > 0 ? n : 0] = '\0';
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child status %d, cause '%s'", status, cause);
	ck_assert_msg(strstr(cause, "associate jobs_idx") != NULL &&
		      strstr(cause, "DB_RUNRECOVERY") != NULL &&
		      strstr(cause, "jobs_idx.db: pgin failed for page 1") != NULL,
		      "cause: %s", cause);
}
END_TEST

/* Child: the store opens (jobs_idx is intact, so associate reads nothing of jobs.db);
 * reading a job on a garbled page fails and marks the store panicked. */
static int
panicked_child(void)
{
	struct store *s = NULL;
	struct job j;
	char *cause = NULL;

	if (store_open(dir, STORE_SUPERVISOR, &s, &cause) != 0)
		return (10);
	if (store_panicked(s))
		return (11);
	if (store_job_get(s, CORRUPT_JOBS / 2, &j, &cause) == 0)
		return (12);
	if (cause == NULL || strstr(cause, "DB_RUNRECOVERY") == NULL)
		return (13);
	free(cause);
	if (!store_panicked(s))
		return (14);
	store_close(s);
	return (0);
}

START_TEST(test_corrupt_page_panics)
{
	pid_t pid;
	int status;

	fill_and_close();
	garble("jobs.db");
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		_exit(panicked_child());
	ck_assert_msg(wait_bounded(pid, 15000, &status) == 0, "child still running after 15 s");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d",
		      status);
}
END_TEST

/* An existing data_dir of ours with mode 0755 is tightened to 0700; one of another user
 * (when we are root and can make one) is used as is, with a warning. */
START_TEST(test_loose_dir_mode)
{
	struct store *s2 = NULL;
	struct stat sb;
	char loose[300], *cause = NULL;

	snprintf(loose, sizeof(loose), "%s/loose", dir);
	ck_assert_int_eq(mkdir(loose, 0700), 0);
	ck_assert_int_eq(chmod(loose, 0755), 0);
	if (store_open(loose, STORE_TOOL, &s2, &cause) != 0)
		ck_abort_msg("store_open: %s", cause);
	store_close(s2);
	ck_assert_int_eq(stat(loose, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0700);

	if (geteuid() != 0)
		return;
	snprintf(loose, sizeof(loose), "%s/theirs", dir);
	ck_assert_int_eq(mkdir(loose, 0700), 0);
	ck_assert_int_eq(chmod(loose, 0755), 0);
	ck_assert_int_eq(chown(loose, 65534, 65534), 0);
	if (store_open(loose, STORE_TOOL, &s2, &cause) != 0)
		ck_abort_msg("store_open: %s", cause);
	store_close(s2);
	ck_assert_int_eq(stat(loose, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0755);
}
END_TEST

Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_unchecked_fixture(tc, setup_all, teardown_all);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_alloc_survives_reopen);
	tcase_add_test(tc, test_put_get);
	tcase_add_test(tc, test_list_filters);
	tcase_add_test(tc, test_paging_while_adding);
	tcase_add_test(tc, test_counts);
	tcase_add_test(tc, test_by_status);
	tcase_add_test(tc, test_prune);
	tcase_add_test(tc, test_log_cap);
	tcase_add_test(tc, test_tokens);
	tcase_add_test(tc, test_second_supervisor);
	tcase_add_test(tc, test_failchk_after_kill);
	tcase_add_test(tc, test_failchk_needs_recovery);
	tcase_add_test(tc, test_meta);
	tcase_add_test(tc, test_reader_without_env);
	tcase_add_test(tc, test_unusable_dir);
	tcase_add_test(tc, test_reader_process);
	tcase_add_test(tc, test_concurrent_reader);
	tcase_add_test(tc, test_recover_waits_for_stale_reader);
	tcase_add_test(tc, test_gen_jobs);
	tcase_add_test(tc, test_env_region_small);
	tcase_add_test(tc, test_corrupt_pages_fail_open);
	tcase_add_test(tc, test_corrupt_page_panics);
	tcase_add_test(tc, test_loose_dir_mode);
	suite_add_tcase(s, tc);
	return (s);
}
