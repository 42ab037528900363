/* check_http_cache.c: list pages served through the listener's render cache
 * (http/render_cache.c, store_jobs_list_cached) are byte-for-byte the pages rendered from
 * the records alone, on the first (cache filling) and later (cache hit) requests, for every
 * index kind and a cursor's second page; a job listed while running and listed again once
 * completed shows its final record. */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "log.h"
#include "http/render_cache.h"
#include "store.h"

#define JAN1_2026_MS INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define JAN1_2100_MS INT64_C(4102444800000) /* 2100-01-01T00:00:00Z */

static char root[64], dir[96];
static struct store *st;
static struct api fresh, cached; /* without and with a render cache */

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

static void
put(uint64_t no, enum job_type type, enum job_status status, int64_t start_ms,
    int64_t end_ms, int64_t created, int64_t updated, int64_t deleted)
{
	struct job j;
	char *cause = NULL;

	job_init(&j);
	j.no = no;
	j.type = type;
	j.status = status;
	j.created_ms = JAN1_2026_MS - 60000;
	j.start_ms = start_ms;
	j.end_ms = end_ms;
	j.progress = status == JOB_COMPLETED ? 100 : 0;
	j.records_created = created;
	j.records_updated = updated;
	j.records_deleted = deleted;
	j.error = status == JOB_FAILED ? xstrdup("source unreachable") : NULL;
	if (store_job_put(st, &j, false, &cause) != 0)
		ck_abort_msg("store_job_put: %s", cause);
	job_free(&j);
}

static void
setup(void)
{
	char *cause = NULL;
	uint64_t no;
	int i;

	log_init("check_http_cache", 1, LOG_LVL_WARN);
	ck_assert_msg(root[0] != '\0', "no temp root");
	snprintf(dir, sizeof(dir), "%s/t.XXXXXX", root);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	if (store_open(dir, STORE_SUPERVISOR, &st, &cause) != 0)
		ck_abort_msg("store_open: %s", cause);
	for (i = 1; i <= 5; i++) {
		ck_assert_int_eq(store_job_alloc(st, &no, NULL), 0);
		ck_assert_int_eq(no, (uint64_t)i);
	}
	/* 1: completed; 2: cancelled before it started; 3: failed; 4: running (started in
	 * 2100, so its running duration_ms is 0 whenever the test runs); 5: pending. */
	put(1, JOB_FULL_SYNC, JOB_COMPLETED, JAN1_2026_MS, JAN1_2026_MS + 5000, 1, 2, 3);
	put(2, JOB_OWNER_SYNC, JOB_CANCELLED, JOB_NULL, JAN1_2026_MS + 1000, JOB_NULL,
	    JOB_NULL, JOB_NULL);
	put(3, JOB_FULL_SYNC, JOB_FAILED, JAN1_2026_MS + 2000, JAN1_2026_MS + 2500, 0, 0, 0);
	put(4, JOB_FULL_SYNC, JOB_RUNNING, JAN1_2100_MS, JOB_NULL, 7, 0, 0);
	put(5, JOB_OWNER_SYNC, JOB_PENDING, JOB_NULL, JOB_NULL, JOB_NULL, JOB_NULL, JOB_NULL);
	api_init(&fresh);
	fresh.store = st;
	fresh.cursor_key = store_cursor_key(st);
	api_init(&cached);
	cached.store = st;
	cached.cursor_key = store_cursor_key(st);
	cached.cache = render_cache_new(4); /* small: jobs 1 and 5 share a slot */
}

/* Unchecked: a failed test ends without its teardown, so every test's dir lives under one
 * root that the runner removes at the end. */
static void
setup_all(void)
{
	snprintf(root, sizeof(root), "/tmp/check_http_cache.XXXXXX");
	if (mkdtemp(root) == NULL)
		root[0] = '\0';
}

static void
teardown_all(void)
{
	if (root[0] != '\0')
		nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
teardown(void)
{
	api_free(&fresh);
	api_free(&cached);
	store_close(st);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The body of GET /api/v1/jobs?qs through a; malloc'd, NUL-terminated. */
static char *
list(struct api *a, const char *qs)
{
	struct query q;
	struct http_response r;
	char *bad = NULL, *cause = NULL, *body;
	size_t len;

	http_response_init(&r);
	ck_assert_int_eq(query_parse(qs, strlen(qs), &q, &bad, &cause), 0);
	api_jobs_list(a, &q, &r);
	ck_assert_msg(r.status == 200, "%s: %d %.*s", qs, r.status, (int)r.body.len, r.body.p);
	body = buf_steal(&r.body, &len);
	ck_assert_uint_eq(strlen(body), len);
	query_free(&q);
	http_response_free(&r);
	return (body);
}

/* The cached listener's page equals the fresh one; returns the fresh one. */
static char *
same_page(const char *qs)
{
	char *want = list(&fresh, qs), *got = list(&cached, qs);

	ck_assert_msg(strcmp(want, got) == 0, "%s:\n fresh  %s\n cached %s", qs, want, got);
	free(got);
	return (want);
}

/* The endCursor of a page body, into out. */
static void
end_cursor(const char *body, char *out, size_t cap)
{
	const char *p = strstr(body, "\"endCursor\":\""), *e;

	ck_assert_ptr_nonnull(p);
	p += strlen("\"endCursor\":\"");
	ck_assert_ptr_nonnull((e = strchr(p, '"')));
	ck_assert_uint_lt((size_t)(e - p), cap);
	memcpy(out, p, e - p);
	out[e - p] = '\0';
}

static const char job1[] =
    "{\"id\":\"job-1\",\"job_type\":\"full_sync\",\"status\":\"completed\",\"progress\":100,"
    "\"start_time\":\"2026-01-01T00:00:00Z\",\"end_time\":\"2026-01-01T00:00:05Z\","
    "\"duration_ms\":5000,\"records_created\":1,\"records_updated\":2,"
    "\"records_deleted\":3}";

START_TEST(test_cached_pages_equal_fresh)
{
	static const char *const qs[] = {
		"first=2", "first=10", "status=completed", "status=failed",
		"job_type=full_sync&first=1", "job_type=owner_sync&status=cancelled",
		"start_date=2025-12-31&first=2", "status=completed&start_date=2025-12-31",
		"job_type=full_sync&start_date=2025-12-31&end_date=2026-01-02",
		"status=failed&job_type=full_sync&start_date=2026-01-01",
	};
	char *page, cur[CURSOR_MAX_LEN], qs2[CURSOR_MAX_LEN + 32];
	uint64_t hits, misses;
	size_t i, round;

	/* Round 0 fills the cache, rounds 1 and 2 are served from it. */
	for (round = 0; round < 3; round++) {
		for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
			free(same_page(qs[i]));
	}
	render_cache_stats(cached.cache, &hits, &misses);
	ck_assert_uint_gt(hits, 0);

	page = same_page("status=completed");
	ck_assert_ptr_nonnull(strstr(page, job1));
	ck_assert_int_eq(strncmp(page, "{\"jobs\":[", 9), 0);
	ck_assert_int_eq(strncmp(page + 9, job1, strlen(job1)), 0);
	ck_assert_int_eq(strncmp(page + 9 + strlen(job1), "],\"pageInfo\":{\"hasNextPage\":false,"
				 "\"endCursor\":\"", 42), 0);
	free(page);

	/* A second page through the cursor of the first, both ways. */
	page = same_page("first=2");
	ck_assert_ptr_nonnull(strstr(page, "\"id\":\"job-5\""));
	ck_assert_ptr_nonnull(strstr(page, "\"hasNextPage\":true"));
	end_cursor(page, cur, sizeof(cur));
	free(page);
	snprintf(qs2, sizeof(qs2), "first=2&after=%s", cur);
	free(same_page(qs2));
	page = same_page(qs2);
	ck_assert_ptr_nonnull(strstr(page, "\"id\":\"job-3\""));
	ck_assert_ptr_nonnull(strstr(page, "\"id\":\"job-2\""));
	free(page);

	/* The empty page. */
	page = same_page("status=completed&job_type=owner_sync");
	ck_assert_str_eq(page,
	    "{\"jobs\":[],\"pageInfo\":{\"hasNextPage\":false,\"endCursor\":null}}");
	free(page);
}
END_TEST

START_TEST(test_running_then_completed)
{
	char *page;
	const char *running =
	    "{\"id\":\"job-4\",\"job_type\":\"full_sync\",\"status\":\"running\",\"progress\":0,"
	    "\"start_time\":\"2100-01-01T00:00:00Z\",\"end_time\":null,\"duration_ms\":0,"
	    "\"records_created\":7,\"records_updated\":0,\"records_deleted\":0}";
	const char *done =
	    "{\"id\":\"job-4\",\"job_type\":\"full_sync\",\"status\":\"completed\","
	    "\"progress\":100,\"start_time\":\"2100-01-01T00:00:00Z\","
	    "\"end_time\":\"2100-01-01T00:00:07Z\",\"duration_ms\":7000,"
	    "\"records_created\":7,\"records_updated\":0,\"records_deleted\":0}";

	/* Listed twice while running (never cached)... */
	page = same_page("job_type=full_sync");
	ck_assert_msg(strstr(page, running) != NULL, "%s", page);
	free(page);
	free(same_page("job_type=full_sync"));
	/* ...then it completes: every later page shows the final record. */
	put(4, JOB_FULL_SYNC, JOB_COMPLETED, JAN1_2100_MS, JAN1_2100_MS + 7000, 7, 0, 0);
	page = same_page("job_type=full_sync");
	ck_assert_msg(strstr(page, done) != NULL, "%s", page);
	free(page);
	page = same_page("job_type=full_sync");
	ck_assert_msg(strstr(page, done) != NULL, "%s", page);
	ck_assert_ptr_null(strstr(page, "running"));
	free(page);
	page = same_page("status=completed");
	ck_assert_msg(strncmp(page, "{\"jobs\":[", 9) == 0 &&
		      strncmp(page + 9, done, strlen(done)) == 0, "%s", page);
	free(page);
}
END_TEST

Suite *http_cache_suite(void);

Suite *
http_cache_suite(void)
{
	Suite *s = suite_create("http_cache");
	TCase *tc = tcase_create("pages");

	tcase_add_unchecked_fixture(tc, setup_all, teardown_all);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cached_pages_equal_fresh);
	tcase_add_test(tc, test_running_then_completed);
	suite_add_tcase(s, tc);
	return (s);
}
