/* check_sync.c: the sync jobs run in-process against a real store in a temp dir, on the
 * hand-made CSV exports of tests/fixtures/sync (every expected count below is derived by
 * hand from those files), and jobsd-worker end to end over its fd-3 IPC socket. */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "identity.h"
#include "ipc.h"
#include "lib/testlib.h"
#include "store.h"
#include "worker/jobctx.h"

Suite *sync_suite(void);

static char tmpdir[PATH_MAX];
static struct store *store;

struct tjob {
	struct job job;
	struct worker_conf conf;
	struct job_ctx ctx;
	char *error;
	int rv;
	char log[8192];
	char steps[1024];
	int cancel_calls;
	int cancel_on; /* cancelled() returns true on this call (0: never) */
	int64_t last_processed;
	bool progress_went_back;
	int64_t total_at_first_processing; /* ctx->total when "Processing" first started */
};

static void
setup(void)
{
	char *cause = NULL;

	tl_mkdtemp(tmpdir, "sync");
	if (store_open(tmpdir, STORE_SUPERVISOR, &store, &cause) != 0)
		ck_abort_msg("store_open: %s", cause);
}

static void
teardown(void)
{
	store_close(store);
	store = NULL;
	tl_rm_rf(tmpdir);
}

static void
t_step(struct job_ctx *ctx, const char *step, int64_t total)
{
	struct tjob *t = ctx->arg;
	size_t len = strlen(t->steps);

	snprintf(t->steps + len, sizeof t->steps - len, "%s;", step);
	if (strncmp(step, "Processing", 10) == 0 && t->total_at_first_processing == JOB_NULL)
		t->total_at_first_processing = total;
}

static void
t_progress(struct job_ctx *ctx)
{
	struct tjob *t = ctx->arg;

	if (ctx->processed < t->last_processed)
		t->progress_went_back = true;
	t->last_processed = ctx->processed;
}

static void
t_log(struct job_ctx *ctx, int level, const char *text)
{
	struct tjob *t = ctx->arg;
	size_t len = strlen(t->log);

	snprintf(t->log + len, sizeof t->log - len, "%s\n", text);
}

static bool
t_cancelled(struct job_ctx *ctx)
{
	struct tjob *t = ctx->arg;

	return ++t->cancel_calls == t->cancel_on;
}

/* Run one job of type on fixture dir (under fixtures/sync, or absolute). */
static const char *extra_key, *extra_value; /* one more job parameter for the next run */

static struct tjob *
run(enum job_type type, const char *fixture, int max_delete_percent, const char *batch,
    int cancel_on)
{
	struct tjob *t = calloc(1, sizeof *t);
	char *cause = NULL;

	job_init(&t->job);
	t->job.no = 1;
	t->job.type = type;
	if (batch != NULL)
		job_param_add(&t->job, "batch_size", batch);
	if (extra_key != NULL)
		job_param_add(&t->job, extra_key, extra_value);
	extra_key = extra_value = NULL;
	snprintf(t->conf.data_dir, sizeof t->conf.data_dir, "%s", tmpdir);
	snprintf(t->conf.source_name, sizeof t->conf.source_name, "test");
	snprintf(t->conf.source_type, sizeof t->conf.source_type, "csv");
	if (fixture[0] == '/')
		snprintf(t->conf.source_path, sizeof t->conf.source_path, "%s", fixture);
	else
		snprintf(t->conf.source_path, sizeof t->conf.source_path, "%s/sync/%s",
		    tl_fixtures_dir(), fixture);
	t->conf.max_delete_percent = max_delete_percent;
	t->conf.progress_interval_ms = 0;
	ck_assert_int_eq(job_ctx_init(&t->ctx, store, &t->job, &t->conf, &cause), 0);
	t->ctx.on_step = t_step;
	t->ctx.on_progress = t_progress;
	t->ctx.on_log = t_log;
	t->ctx.on_cancelled = t_cancelled;
	t->ctx.arg = t;
	t->cancel_on = cancel_on;
	t->total_at_first_processing = JOB_NULL;
	t->rv = job_run(&t->ctx, &t->error);
	return t;
}

static void
tfree(struct tjob *t)
{
	free(t->error);
	job_free(&t->job);
	free(t);
}

static void
expect(struct tjob *t, int rv, int64_t c, int64_t u, int64_t d)
{
	ck_assert_msg(t->rv == rv, "rv %d, error %s, log:\n%s", t->rv,
	    t->error ? t->error : "-", t->log);
	ck_assert_int_eq(t->ctx.created, c);
	ck_assert_int_eq(t->ctx.updated, u);
	ck_assert_int_eq(t->ctx.deleted, d);
}

static uint64_t
count(enum ident_type type)
{
	struct identity *id;
	uint64_t total, other;
	char *cause = NULL;

	ck_assert_int_eq(identity_open(store, &id, &cause), 0);
	ck_assert_int_eq(identity_count(id, type, 0, &total, &other, &cause), 0);
	identity_close(id);
	return total;
}

/* A field of a stored record ("" if the record has no such field, NULL if no record). */
static char *
field(enum ident_type type, const char *key, size_t klen, const char *name)
{
	struct identity *id;
	void *data;
	size_t len, vlen;
	const char *v;
	char *cause = NULL, *out = NULL;
	int rv;

	ck_assert_int_eq(identity_open(store, &id, &cause), 0);
	rv = identity_get(id, NULL, type, key, klen, &data, &len, &cause);
	ck_assert_int_ne(rv, -1);
	if (rv == 0) {
		if (identity_field(data, len, name, &v, &vlen) == 0)
			out = strndup(v, vlen);
		else
			out = strdup("");
		free(data);
	}
	identity_close(id);
	return out;
}

static void
expect_field(enum ident_type type, const char *key, const char *name, const char *want)
{
	char *v = field(type, key, strlen(key), name);

	if (want == NULL)
		ck_assert_msg(v == NULL, "%s %s exists", ident_singular(type), key);
	else {
		ck_assert_msg(v != NULL, "%s %s missing", ident_singular(type), key);
		ck_assert_str_eq(v, want);
	}
	free(v);
}

static void
count_meta_key(enum ident_type type, char *key, size_t size)
{
	snprintf(key, size, "%s%s", IDENT_META_COUNT_PREFIX, ident_db_name(type));
}

/* The sync's stored record count of a type (meta), false if there is none. */
static bool
stored_count(enum ident_type type, uint64_t *n)
{
	unsigned char b[8];
	char key[64], *cause = NULL;
	size_t len = 0, i;
	int rv;

	count_meta_key(type, key, sizeof key);
	rv = store_meta_get(store, NULL, key, b, sizeof b, &len, &cause);
	if (rv == STORE_NOTFOUND)
		return false;
	ck_assert_msg(rv == 0 && len == 8, "meta %s: %d, %zu bytes", key, rv, len);
	for (*n = 0, i = 0; i < 8; i++)
		*n = (*n << 8) | b[i];
	return true;
}

static void
set_stored_count(enum ident_type type, uint64_t n)
{
	unsigned char b[8];
	char key[64], *cause = NULL;
	int i;

	count_meta_key(type, key, sizeof key);
	for (i = 7; i >= 0; i--, n >>= 8)
		b[i] = n & 0xff;
	ck_assert_int_eq(store_meta_put(store, NULL, key, b, sizeof b, &cause), 0);
}

static int
del_count_txn(struct store *s, DB_TXN *txn, void *arg)
{
	char key[64], *cause = NULL;
	int rv;

	count_meta_key(*(enum ident_type *)arg, key, sizeof key);
	rv = store_meta_del(s, txn, key, &cause);
	free(cause);
	return rv;
}

/* What a store written before the counts looks like. */
static void
drop_stored_counts(void)
{
	char *cause = NULL;
	enum ident_type t;

	for (t = 0; t < IDENT_TYPE_COUNT; t++)
		ck_assert_int_eq(store_with_txn(store, 0, del_count_txn, &t, &cause), 0);
}

/* The records of each type (a scan), and the stored count wherever there is one. */
static void
expect_counts(uint64_t apps, uint64_t owners, uint64_t accounts, uint64_t groups,
    uint64_t memberships)
{
	const uint64_t want[IDENT_TYPE_COUNT] = { apps, owners, accounts, groups, memberships };
	uint64_t n;
	enum ident_type t;

	for (t = 0; t < IDENT_TYPE_COUNT; t++) {
		ck_assert_msg(count(t) == want[t], "%s: %llu records, want %llu",
		    ident_db_name(t), (unsigned long long)count(t), (unsigned long long)want[t]);
		if (stored_count(t, &n))
			ck_assert_msg(n == want[t], "%s: stored count %llu, want %llu",
			    ident_db_name(t), (unsigned long long)n,
			    (unsigned long long)want[t]);
	}
}

/* Every type has a stored count (the first sync into an empty store starts them). */
static void
expect_stored_counts(void)
{
	uint64_t n;
	enum ident_type t;

	for (t = 0; t < IDENT_TYPE_COUNT; t++)
		ck_assert_msg(stored_count(t, &n), "%s: no stored count", ident_db_name(t));
}

START_TEST(full_then_identical)
{
	struct tjob *t;

	/* base: 2 applications, 5 owners, 4 accounts, 3 groups, 4 memberships = 18 rows. */
	t = run(JOB_FULL_SYNC, "base", 20, NULL, 0);
	expect(t, JOB_RUN_OK, 18, 0, 0);
	ck_assert_int_eq(t->ctx.total, 18);
	ck_assert_int_eq(t->ctx.processed, 18);
	ck_assert_int_eq(t->total_at_first_processing, 18);
	ck_assert(!t->progress_went_back);
	ck_assert_str_eq(t->steps, "Counting records;Processing applications;"
	    "Processing owners;Processing accounts;Processing groups;"
	    "Processing memberships;Checking for removed records;");
	tfree(t);
	expect_counts(2, 5, 4, 3, 4);
	/* Quoting, embedded newline, extra column, empty = absent. */
	expect_field(IDENT_OWNER, "o1", "display_name", "Smith, John");
	expect_field(IDENT_OWNER, "o1", "cost_center", "CC1");
	expect_field(IDENT_OWNER, "o2", "display_name", "Jane \"JJ\" Doe");
	expect_field(IDENT_OWNER, "o2", "cost_center", "");
	expect_field(IDENT_OWNER, "o3", "title", "Account\nManager");
	expect_field(IDENT_APPLICATION, "app2", "name", "Payroll, EU");
	{
		char *v = field(IDENT_MEMBERSHIP, "a1\0g3", 5, "modified_at");

		ck_assert_ptr_nonnull(v);
		ck_assert_str_eq(v, "2024-01-03T00:00:00Z");
		free(v);
	}

	/* The same export again changes nothing. */
	t = run(JOB_FULL_SYNC, "base", 20, "3", 0);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	ck_assert_int_eq(t->ctx.processed, 18);
	tfree(t);
	expect_counts(2, 5, 4, 3, 4);
}
END_TEST

/* With the owners' stored count set to n (the store holds base), a full sync of base
 * changes nothing, logs want, and leaves every count right. */
static void
base_with_owner_count(uint64_t n, const char *want)
{
	struct tjob *t;

	set_stored_count(IDENT_OWNER, n);
	t = run(JOB_FULL_SYNC, "base", 20, NULL, 0);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	ck_assert_msg(strstr(t->log, want) != NULL, "want \"%s\", log:\n%s", want, t->log);
	tfree(t);
	expect_counts(2, 5, 4, 3, 4);
}

/* Deletion by absence knows how many records a type has from the count the syncs keep in
 * meta, so an unchanged full sync does not scan the records again; a store without
 * counts (written before them) is scanned once and given them; a count below what the
 * sync saw is not trusted. */
START_TEST(stored_counts)
{
	struct tjob *t;

	t = run(JOB_FULL_SYNC, "base", 20, NULL, 0);
	expect(t, JOB_RUN_OK, 18, 0, 0);
	tfree(t);
	expect_stored_counts();
	expect_counts(2, 5, 4, 3, 4);

	t = run(JOB_FULL_SYNC, "base", 20, NULL, 0);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	ck_assert_msg(strstr(t->log, "owners: 5 records, 0 not in the export (from the stored "
	    "count)") != NULL && strstr(t->log, "(counted)") == NULL, "log:\n%s", t->log);
	tfree(t);

	/* modified (see full_modified): o6 new, o3 gone, so 6 owners of which 1 unseen. */
	t = run(JOB_FULL_SYNC, "modified", 50, "2", 0);
	expect(t, JOB_RUN_OK, 3, 2, 4);
	ck_assert_msg(strstr(t->log, "owners: 6 records, 1 not in the export (from the stored "
	    "count)") != NULL, "log:\n%s", t->log);
	tfree(t);
	expect_counts(2, 5, 5, 2, 3);

	/* Back to base without counts: o3, g3, a1:g3, a3:g3 again; o2, a1 back; o6, a5, a5:g1
	 * gone. */
	drop_stored_counts();
	t = run(JOB_FULL_SYNC, "base", 100, NULL, 0);
	expect(t, JOB_RUN_OK, 4, 2, 3);
	ck_assert_msg(strstr(t->log, "owners: 6 records, 1 not in the export (counted)") != NULL,
	    "log:\n%s", t->log);
	tfree(t);
	expect_stored_counts();
	expect_counts(2, 5, 4, 3, 4);

	/* Too low: not trusted. */
	base_with_owner_count(1, "owners: the stored count (1) is below the records seen (5)");
	/* Far too high: 95 of 100 "unseen" would be refused; a refusal is checked by a scan. */
	base_with_owner_count(100, "owners: 5 records, 0 not in the export (counted)");
	/* Slightly too high (1 of 6 "unseen", allowed): the deletion pass finds nothing to
	 * delete and sets the count to the records left. */
	base_with_owner_count(6, "owners: the stored count was 6, 5 records are left: corrected");
}
END_TEST

/* The stored value of a record (malloc'd), or NULL. */
static void *
raw(enum ident_type type, const char *key, size_t *len)
{
	struct identity *id;
	void *data = NULL;
	char *cause = NULL;
	int rv;

	ck_assert_int_eq(identity_open(store, &id, &cause), 0);
	rv = identity_get(id, NULL, type, key, strlen(key), &data, len, &cause);
	ck_assert_int_ne(rv, -1);
	identity_close(id);
	return rv == 0 ? data : NULL;
}

START_TEST(record_numbers)
{
	struct identity *id;
	struct tjob *t;
	unsigned char *v1, *v2, *legacy;
	size_t l1, l2, ll;
	char *cause = NULL;

	/* Owners o1..o5 come sorted in one batch: numbers 1..5, generation 1. */
	t = run(JOB_FULL_SYNC, "base", 20, NULL, 0);
	expect(t, JOB_RUN_OK, 18, 0, 0);
	tfree(t);
	v1 = raw(IDENT_OWNER, "o1", &l1);
	ck_assert_ptr_nonnull(v1);
	ck_assert_uint_eq(identity_no(v1, l1), 1);
	ck_assert_uint_eq(identity_gen(v1, l1), 1);
	v2 = raw(IDENT_OWNER, "o5", &l2);
	ck_assert_uint_eq(identity_no(v2, l2), 5);
	free(v2);

	/* An identical sync (generation 2) writes nothing: o1 keeps generation 1. */
	t = run(JOB_FULL_SYNC, "base", 20, NULL, 0);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	tfree(t);
	v2 = raw(IDENT_OWNER, "o1", &l2);
	ck_assert_uint_eq(l2, l1);
	ck_assert(memcmp(v1, v2, l1) == 0);
	free(v2);

	/* o1 as written before record numbers: 9 fields + "_gen" (fixmap 0x8a), no "_no".
	 * A sync sees the same fields: not an update, but o1 gets the next free number (6). */
	ck_assert_uint_eq(v1[0], 0x8b);
	ll = l1 - 13;
	legacy = malloc(ll);
	legacy[0] = 0x8a;
	memcpy(legacy + 1, v1 + 1, l1 - 27 - 1);
	memcpy(legacy + l1 - 27, v1 + l1 - 14, 14);
	ck_assert_uint_eq(identity_no(legacy, ll), 0);
	ck_assert(identity_same_fields(legacy, ll, v1, l1));
	ck_assert_int_eq(identity_open(store, &id, &cause), 0);
	ck_assert_int_eq(identity_put(id, NULL, IDENT_OWNER, "o1", 2, legacy, ll, &cause), 0);
	identity_close(id);
	t = run(JOB_FULL_SYNC, "base", 20, NULL, 0);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	tfree(t);
	v2 = raw(IDENT_OWNER, "o1", &l2);
	ck_assert_uint_eq(identity_no(v2, l2), 6);
	ck_assert_uint_eq(identity_gen(v2, l2), 3);
	ck_assert(identity_same_fields(v1, l1, v2, l2));
	free(v2);
	free(legacy);
	free(v1);
	expect_counts(2, 5, 4, 3, 4);
}
END_TEST

START_TEST(full_modified)
{
	struct tjob *t;

	t = run(JOB_FULL_SYNC, "base", 20, NULL, 0);
	expect(t, JOB_RUN_OK, 18, 0, 0);
	tfree(t);
	/* modified: owner o6, account a5, membership a5:g1 new; o2 (title) and a1 (login)
	 * changed; owner o3, group g3, memberships a1:g3 and a3:g3 gone. Column order of
	 * owners.csv differs from base, which changes nothing by itself. Deleting 2 of 4
	 * memberships is 50%: allowed at max 50. */
	t = run(JOB_FULL_SYNC, "modified", 50, "2", 0);
	expect(t, JOB_RUN_OK, 3, 2, 4);
	ck_assert_int_eq(t->ctx.processed, 17);
	ck_assert_ptr_nonnull(strstr(t->steps, "Deleting removed memberships;"
	    "Deleting removed groups;Deleting removed owners;"));
	tfree(t);
	expect_counts(2, 5, 5, 2, 3);
	expect_field(IDENT_OWNER, "o2", "title", "Staff Engineer");
	expect_field(IDENT_ACCOUNT, "a1", "login", "john.smith");
	expect_field(IDENT_OWNER, "o3", "id", NULL);
	expect_field(IDENT_GROUP, "g3", "id", NULL);
	expect_field(IDENT_OWNER, "o6", "display_name", "Mallory");

	t = run(JOB_FULL_SYNC, "modified", 50, NULL, 0);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	tfree(t);
}
END_TEST

START_TEST(delete_safety)
{
	struct tjob *t;

	t = run(JOB_FULL_SYNC, "base", 20, NULL, 0);
	expect(t, JOB_RUN_OK, 18, 0, 0);
	tfree(t);
	/* truncated: owners.csv has 2 of the 5 owners: 3 of 5 = 60% > 20. */
	t = run(JOB_FULL_SYNC, "truncated", 20, NULL, 0);
	expect(t, JOB_RUN_FAILED, 0, 0, 0);
	ck_assert_str_eq(t->error, "refusing to delete 3 of 5 owners (60% > "
	    "max_delete_percent 20): is the export truncated?");
	tfree(t);
	expect_counts(2, 5, 4, 3, 4);

	/* The one-type sync checks the same way; at max 60 the 60% go through. */
	t = run(JOB_OWNER_SYNC, "truncated", 19, NULL, 0);
	expect(t, JOB_RUN_FAILED, 0, 0, 0);
	tfree(t);
	/* The job parameter overrides the configuration. */
	extra_key = "max_delete_percent";
	extra_value = "60";
	t = run(JOB_OWNER_SYNC, "truncated", 20, NULL, 0);
	expect(t, JOB_RUN_OK, 0, 0, 3);
	ck_assert_str_eq(t->steps, "Counting records;Processing owners;"
	    "Checking for removed records;Deleting removed owners;");
	tfree(t);
	expect_counts(2, 2, 4, 3, 4);
}
END_TEST

START_TEST(incremental)
{
	struct tjob *t;

	t = run(JOB_FULL_SYNC, "base", 20, NULL, 0);
	expect(t, JOB_RUN_OK, 18, 0, 0);
	tfree(t);
	/* Watermark 2024-01-10T00:00:00Z (o5). owners.csv: o1 is older (skipped even though
	 * it differs), o2 updated, o7 created. deletions.csv: o5 deleted, a4 too old, gX does
	 * not exist, membership a2:g2 deleted. 3 + 4 rows. */
	t = run(JOB_INCREMENTAL_SYNC, "incremental", 0, NULL, 0);
	expect(t, JOB_RUN_OK, 1, 1, 2);
	ck_assert_int_eq(t->ctx.total, 7);
	ck_assert_int_eq(t->ctx.processed, 7);
	ck_assert_str_eq(t->steps, "Counting records;Processing owners;Applying deletions;");
	tfree(t);
	expect_counts(2, 5, 4, 3, 3);
	expect_field(IDENT_OWNER, "o1", "display_name", "Smith, John");
	expect_field(IDENT_OWNER, "o2", "title", "Principal Engineer");
	expect_field(IDENT_OWNER, "o5", "id", NULL);
	expect_field(IDENT_ACCOUNT, "a4", "id", "a4");

	/* The watermark moved to 2024-02-03: the same files are now all old. */
	t = run(JOB_INCREMENTAL_SYNC, "incremental", 0, NULL, 0);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	tfree(t);

	/* An incremental sync never deletes by absence; a following full sync does, and
	 * restores o5, removes o7 (owners 5 -> 5: o5 back, o7 gone) and puts back a2:g2. */
	t = run(JOB_FULL_SYNC, "base", 100, NULL, 0);
	expect(t, JOB_RUN_OK, 2, 1, 1);
	tfree(t);
	expect_counts(2, 5, 4, 3, 4);
}
END_TEST

START_TEST(bad_rows)
{
	struct tjob *t;

	/* bad/owners.csv: lines 3 (4 fields), 4 (no id), 7 (bad time), 8 (invalid UTF-8),
	 * 11 (unterminated quote) are bad; o1, o3 (lines 5-6), o6 good; line 9 blank. */
	t = run(JOB_OWNER_SYNC, "bad", 20, NULL, 0);
	expect(t, JOB_RUN_OK, 3, 0, 0);
	ck_assert_int_eq(t->ctx.total, 8);
	ck_assert_int_eq(t->ctx.processed, 8);
	ck_assert_ptr_nonnull(strstr(t->log, "owners.csv:3: expected 3 fields, found 4 (row skipped)"));
	ck_assert_ptr_nonnull(strstr(t->log, "owners.csv:4: missing required field 'id'"));
	ck_assert_ptr_nonnull(strstr(t->log, "owners.csv:7: modified_at is not an RFC 3339"));
	ck_assert_ptr_nonnull(strstr(t->log, "owners.csv:8: invalid UTF-8 in column 'display_name'"));
	ck_assert_ptr_nonnull(strstr(t->log, "owners.csv:11: unterminated quoted field"));
	ck_assert_ptr_nonnull(strstr(t->log, "5 bad rows skipped"));
	tfree(t);
	ck_assert_uint_eq(count(IDENT_OWNER), 3);
	expect_field(IDENT_OWNER, "o3", "display_name", "Multi\nline");

	/* A full sync of the same directory fails: applications.csv is missing. */
	t = run(JOB_FULL_SYNC, "bad", 20, NULL, 0);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_ptr_nonnull(strstr(t->error, "/sync/bad/applications.csv: No such file or directory"));
	ck_assert(strncmp(t->error, "cannot open /", 13) == 0);
	tfree(t);
}
END_TEST

START_TEST(cancel_keeps_committed_batches)
{
	struct tjob *t;

	/* batch_size 2: applications (2 rows) are batch 1, then cancelled() is false; owners
	 * o1, o2 are batch 2, then cancelled() is true. */
	t = run(JOB_FULL_SYNC, "base", 20, "2", 2);
	expect(t, JOB_RUN_CANCELLED, 4, 0, 0);
	ck_assert(t->ctx.was_cancelled);
	ck_assert_int_eq(t->ctx.processed, 4);
	ck_assert_int_eq(t->ctx.total, 18);
	tfree(t);
	expect_counts(2, 2, 0, 0, 0);
	expect_field(IDENT_OWNER, "o2", "id", "o2");

	/* Finishing later: the rest is created, the first four are unchanged. */
	t = run(JOB_FULL_SYNC, "base", 20, NULL, 0);
	expect(t, JOB_RUN_OK, 14, 0, 0);
	tfree(t);
	expect_counts(2, 5, 4, 3, 4);
}
END_TEST

START_TEST(errors)
{
	struct tjob *t;
	char dir[PATH_MAX + 16];

	t = run(JOB_FULL_SYNC, "/nonexistent/jobsd-source", 20, NULL, 0);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_str_eq(t->error, "cannot open source directory /nonexistent/jobsd-source: "
	    "No such file or directory");
	tfree(t);

	/* A file without a required column fails the job. */
	snprintf(dir, sizeof dir, "%s/src", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	{
		char f[PATH_MAX + 64];

		snprintf(f, sizeof f, "%s/owners.csv", dir);
		tl_write_file(f, "id,name\no1,x\n");
	}
	t = run(JOB_OWNER_SYNC, dir, 20, NULL, 0);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_ptr_nonnull(strstr(t->error, "owners.csv: missing required column 'modified_at'"));
	tfree(t);
}
END_TEST

/* Write owners.csv into dir with those of the owners o00..o49 whose number is a multiple
 * of every. */
static void
write_owners(const char *dir, int every)
{
	char path[PATH_MAX + 32], *buf = malloc(8192);
	size_t len = 0;
	int i;

	len += (size_t)snprintf(buf + len, 8192 - len, "id,display_name,modified_at\n");
	for (i = 0; i < 50; i++) {
		if (i % every == 0)
			len += (size_t)snprintf(buf + len, 8192 - len,
			    "o%02d,Owner %d,2024-01-01T00:00:00Z\n", i, i);
	}
	snprintf(path, sizeof path, "%s/owners.csv", dir);
	tl_write_file(path, buf);
	free(buf);
}

START_TEST(delete_many_in_batches)
{
	struct tjob *t;
	char dir[PATH_MAX + 16], key[16];
	int i;

	snprintf(dir, sizeof dir, "%s/src", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	write_owners(dir, 1);
	t = run(JOB_OWNER_SYNC, dir, 20, "3", 0);
	expect(t, JOB_RUN_OK, 50, 0, 0);
	tfree(t);
	/* Keep o00, o05, ..., o45: 40 of 50 go, in transactions of 3 deletions. */
	write_owners(dir, 5);
	t = run(JOB_OWNER_SYNC, dir, 80, "3", 0);
	expect(t, JOB_RUN_OK, 0, 0, 40);
	tfree(t);
	ck_assert_uint_eq(count(IDENT_OWNER), 10);
	for (i = 0; i < 50; i++) {
		snprintf(key, sizeof key, "o%02d", i);
		expect_field(IDENT_OWNER, key, "id", i % 5 == 0 ? key : NULL);
	}
}
END_TEST

/* A source dir under tmpdir with the five entity files: applications.csv holds one
 * application modified at 2024-01-01, owners.csv the given text (NULL: none), the others a
 * header only. */
static void
write_source(const char *dir, const char *owners)
{
	char path[PATH_MAX + 32];

	mkdir(dir, 0700);
	snprintf(path, sizeof path, "%s/applications.csv", dir);
	tl_write_file(path, "id,name,modified_at\napp1,App,2024-01-01T00:00:00Z\n");
	snprintf(path, sizeof path, "%s/accounts.csv", dir);
	tl_write_file(path, "id,application_id,modified_at\n");
	snprintf(path, sizeof path, "%s/groups.csv", dir);
	tl_write_file(path, "id,application_id,modified_at\n");
	snprintf(path, sizeof path, "%s/memberships.csv", dir);
	tl_write_file(path, "account_id,group_id,modified_at\n");
	snprintf(path, sizeof path, "%s/owners.csv", dir);
	if (owners != NULL)
		tl_write_file(path, owners);
	else
		unlink(path);
}

/* The base of the incremental tests: o1, o2, o3, o6, o13; the newest modified_at (o3,
 * 2024-01-10T00:00:00Z) becomes the watermark. */
static void
incremental_base(char *dir, size_t len)
{
	struct tjob *t;

	snprintf(dir, len, "%s/base", tmpdir);
	write_source(dir, "id,modified_at,display_name\n"
	    "o1,2024-01-01T00:00:00Z,A\n"
	    "o2,2024-01-02T00:00:00Z,B\n"
	    "o3,2024-01-10T00:00:00Z,C\n"
	    "o6,2024-01-03T00:00:00Z,F\n"
	    "o13,2024-01-04T00:00:00Z,M\n");
	t = run(JOB_FULL_SYNC, dir, 20, NULL, 0);
	expect(t, JOB_RUN_OK, 6, 0, 0);
	tfree(t);
}

START_TEST(incremental_skips)
{
	struct tjob *t;
	char dir[PATH_MAX + 16];
	int pass;

	incremental_base(dir, sizeof dir);
	/* Only owners.csv (modified_at is not the last column). By line:
	 * 2  o1 older than the watermark: not applied although it differs
	 * 3  o2 exactly the watermark: not applied (only rows after it are)
	 * 4  o3 one second after: updated
	 * 5  o4 +02:00, the same instant as the watermark: not applied
	 * 6  o5 half a second after (a fraction): created
	 * 7  o6 quoted fields, older: not applied
	 * 8-9 o7 a newline inside quotes, newer: created
	 * 10 o8 older, two fields: bad row
	 * 11 no id, older: bad row (missing required field)
	 * 12 o9 older, invalid UTF-8: bad row
	 * 13 o10 month 13: bad row (not a timestamp)
	 * 14 o11 newer, invalid UTF-8: bad row
	 * 15 o12 lower-case t and z, older: not applied
	 * 16 o13 older, non-ASCII name: not applied
	 * 17 o14 newer, CRLF: created
	 * 15 records, 3 created, 1 updated, 5 bad; the watermark moves to 2024-02-01. */
	snprintf(dir, sizeof dir, "%s/inc", tmpdir);
	mkdir(dir, 0700);
	{
		char path[PATH_MAX + 32];

		snprintf(path, sizeof path, "%s/owners.csv", dir);
		tl_write_file(path, "id,modified_at,display_name\n"
		    "o1,2024-01-05T00:00:00Z,Changed A\n"
		    "o2,2024-01-10T00:00:00Z,Changed B\n"
		    "o3,2024-01-10T00:00:01Z,Changed C\n"
		    "o4,2024-01-10T02:00:00+02:00,Created D\n"
		    "o5,2024-01-10T00:00:00.500Z,Created E\n"
		    "o6,\"2024-01-09T00:00:00Z\",\"Quoted, old\"\n"
		    "o7,2024-01-11T00:00:00Z,\"Multi\nline\"\n"
		    "o8,2024-01-05T00:00:00Z\n"
		    ",2024-01-05T00:00:00Z,No id\n"
		    "o9,2024-01-05T00:00:00Z,Bad \xc3\x28\n"
		    "o10,2024-13-05T00:00:00Z,Bad month\n"
		    "o11,2024-02-01T00:00:00Z,Bad \xff\n"
		    "o12,2024-01-05t00:00:00z,Lower\n"
		    "o13,2024-01-05T00:00:00Z,Zo\xc3\xab\n"
		    "o14,2024-02-01T00:00:00Z,Zo\xc3\xab New\r\n");
	}
	/* The second pass finds everything at or before the new watermark: nothing applied,
	 * the same bad rows reported (a malformed row is reported whatever its age). */
	for (pass = 0; pass < 2; pass++) {
		t = run(JOB_INCREMENTAL_SYNC, dir, 0, NULL, 0);
		if (pass == 0)
			expect(t, JOB_RUN_OK, 3, 1, 0);
		else
			expect(t, JOB_RUN_OK, 0, 0, 0);
		ck_assert_int_eq(t->ctx.total, 15);
		ck_assert_int_eq(t->ctx.processed, 15);
		ck_assert(!t->progress_went_back);
		ck_assert_ptr_nonnull(strstr(t->log, "owners.csv:10: expected 3 fields, found 2"));
		ck_assert_ptr_nonnull(strstr(t->log, "owners.csv:11: missing required field 'id'"));
		ck_assert_ptr_nonnull(strstr(t->log, "owners.csv:12: invalid UTF-8 in column 'display_name'"));
		ck_assert_ptr_nonnull(strstr(t->log, "owners.csv:13: modified_at is not an RFC 3339"));
		ck_assert_ptr_nonnull(strstr(t->log, "owners.csv:14: invalid UTF-8 in column 'display_name'"));
		ck_assert_ptr_nonnull(strstr(t->log, "5 bad rows skipped"));
		tfree(t);
	}
	expect_counts(1, 8, 0, 0, 0);
	expect_field(IDENT_OWNER, "o1", "display_name", "A");
	expect_field(IDENT_OWNER, "o2", "display_name", "B");
	expect_field(IDENT_OWNER, "o3", "display_name", "Changed C");
	expect_field(IDENT_OWNER, "o4", "id", NULL);
	expect_field(IDENT_OWNER, "o5", "display_name", "Created E");
	expect_field(IDENT_OWNER, "o6", "display_name", "F");
	expect_field(IDENT_OWNER, "o7", "display_name", "Multi\nline");
	expect_field(IDENT_OWNER, "o12", "id", NULL);
	expect_field(IDENT_OWNER, "o13", "display_name", "M");
	expect_field(IDENT_OWNER, "o14", "display_name", "Zo\xc3\xab New");
	expect_field(IDENT_OWNER, "o14", "modified_at", "2024-02-01T00:00:00Z");
}
END_TEST

/* owners.csv of n old rows o00000.. (2024-01-05) with the rows of extra after row at. */
static void
write_many(const char *dir, int n, int at, const char *extra)
{
	char path[PATH_MAX + 32];
	FILE *f;
	int i;

	snprintf(path, sizeof path, "%s/owners.csv", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("id,display_name,modified_at\n", f);
	for (i = 0; i < n; i++) {
		fprintf(f, "o%05d,Old %d,2024-01-05T00:00:00Z\n", i, i);
		if (i == at)
			fputs(extra, f);
	}
	fclose(f);
}

START_TEST(incremental_sparse)
{
	struct tjob *t;
	char dir[PATH_MAX + 16];

	incremental_base(dir, sizeof dir);
	/* 10000 old rows, with o1 (exists: updated) and o9 (created) after row 7000: two
	 * rows of 10002 applied in one batch, each looked up alone; progress is reported
	 * while the old rows are passed over and never goes back. */
	snprintf(dir, sizeof dir, "%s/many", tmpdir);
	mkdir(dir, 0700);
	write_many(dir, 10000, 7000, "o1,New A,2024-01-20T00:00:00Z\n"
	    "o9,New I,2024-01-20T00:00:00Z\n");
	t = run(JOB_INCREMENTAL_SYNC, dir, 0, NULL, 0);
	expect(t, JOB_RUN_OK, 1, 1, 0);
	ck_assert_int_eq(t->ctx.total, 10002);
	ck_assert_int_eq(t->ctx.processed, 10002);
	ck_assert(!t->progress_went_back);
	/* cancelled() is asked after each run of 4096 rows skipped since a row was last
	 * returned (there is no batch boundary before the end): once in rows 0-7000, and
	 * not in the 2999 after o1 and o9. */
	ck_assert_int_eq(t->cancel_calls, 1);
	tfree(t);
	expect_counts(1, 6, 0, 0, 0); /* the base's 5 and o9 */
	expect_field(IDENT_OWNER, "o1", "display_name", "New A");
	expect_field(IDENT_OWNER, "o9", "display_name", "New I");
	expect_field(IDENT_OWNER, "o00005", "id", NULL);
}
END_TEST

START_TEST(incremental_cancel_while_skipping)
{
	struct tjob *t;
	char dir[PATH_MAX + 16];

	incremental_base(dir, sizeof dir);
	/* o9 (new) comes after row 100; cancelled() says stop at its first call. The
	 * counting pass planned two stretches of old rows (101, then 9899): the reader jumps
	 * over the second at once and yields, the batch holding o9 is committed, and all
	 * 10001 records were processed. */
	snprintf(dir, sizeof dir, "%s/many", tmpdir);
	mkdir(dir, 0700);
	write_many(dir, 10000, 100, "o9,New I,2024-01-20T00:00:00Z\n");
	t = run(JOB_INCREMENTAL_SYNC, dir, 0, NULL, 1);
	expect(t, JOB_RUN_CANCELLED, 1, 0, 0);
	ck_assert(t->ctx.was_cancelled);
	ck_assert_int_eq(t->ctx.total, 10001);
	ck_assert_int_eq(t->ctx.processed, 10001);
	tfree(t);
	expect_field(IDENT_OWNER, "o9", "display_name", "New I");
}
END_TEST

/*
 * The files of the counting tests: each row carries a 1000-byte note, so that a few
 * thousand rows make the megabytes that are counted side by side (sync_count.h).
 * owners.csv: 2000 owners o00000..o01999; row i has a display name quoted over two lines
 * when i % 7 == 0, else quoted with a comma and "" escapes when i % 5 == 0, else plain; a
 * blank line (not a record) after every 100th row. accounts.csv: 1200 accounts, CRLF, the
 * note quoted, a blank CRLF line after every 50th. memberships.csv: 1100 rows. ~2.1, 1.3
 * and 1.1 MB: 4300 records.
 */
static void
write_count_file(const char *dir, const char *name, int n)
{
	char path[PATH_MAX + 32], note[1001];
	FILE *f;
	int i;

	memset(note, 'x', 1000);
	note[1000] = '\0';
	snprintf(path, sizeof path, "%s/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	if (strcmp(name, "owners.csv") == 0) {
		fputs("id,display_name,modified_at,note\n", f);
		for (i = 0; i < n; i++) {
			if (i % 7 == 0)
				fprintf(f, "o%05d,\"Owner %d\nsecond line\",", i, i);
			else if (i % 5 == 0)
				fprintf(f, "o%05d,\"Smith, Jr. \"\"%d\"\"\",", i, i);
			else
				fprintf(f, "o%05d,Owner %d,", i, i);
			fprintf(f, "2024-01-05T00:00:00Z,%s\n", note);
			if (i % 100 == 0)
				fputc('\n', f);
		}
	} else if (strcmp(name, "accounts.csv") == 0) {
		fputs("id,application_id,modified_at,note\r\n", f);
		for (i = 0; i < n; i++) {
			fprintf(f, "a%05d,app1,2024-01-05T00:00:00Z,\"%s\"\r\n", i, note);
			if (i % 50 == 0)
				fputs("\r\n", f);
		}
	} else {
		fputs("account_id,group_id,modified_at,note\n", f);
		for (i = 0; i < n; i++)
			fprintf(f, "a%05d,g1,2024-01-05T00:00:00Z,%s\n", i, note);
	}
	fclose(f);
}

START_TEST(count_side_by_side)
{
	struct tjob *t;
	char dir[PATH_MAX + 16];

	/* An incremental sync on an empty store applies every row: 4300 records counted
	 * (on two threads where there are two CPUs) before processing starts, all created. */
	snprintf(dir, sizeof dir, "%s/big", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	write_count_file(dir, "owners.csv", 2000);
	write_count_file(dir, "accounts.csv", 1200);
	write_count_file(dir, "memberships.csv", 1100);
	t = run(JOB_INCREMENTAL_SYNC, dir, 0, NULL, 0);
	expect(t, JOB_RUN_OK, 4300, 0, 0);
	ck_assert_int_eq(t->total_at_first_processing, 4300);
	ck_assert_int_eq(t->ctx.total, 4300);
	ck_assert_int_eq(t->ctx.processed, 4300);
	ck_assert(!t->progress_went_back);
	tfree(t);
	expect_counts(0, 2000, 1200, 0, 1100);
	expect_field(IDENT_OWNER, "o00007", "display_name", "Owner 7\nsecond line");
	expect_field(IDENT_OWNER, "o00005", "display_name", "Smith, Jr. \"5\"");
}
END_TEST

START_TEST(count_errors_in_order)
{
	struct tjob *t;
	char dir[PATH_MAX + 16], path[PATH_MAX + 64], want[PATH_MAX + 128];

	/* accounts.csv and deletions.csv cannot be read (directories), owners.csv and
	 * memberships.csv are counted meanwhile: the error is the one of accounts.csv, the
	 * first of them in the sequential order (owners, accounts, memberships, deletions). */
	snprintf(dir, sizeof dir, "%s/bad", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	write_count_file(dir, "owners.csv", 2000);
	write_count_file(dir, "memberships.csv", 1100);
	snprintf(path, sizeof path, "%s/accounts.csv", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof path, "%s/deletions.csv", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	t = run(JOB_INCREMENTAL_SYNC, dir, 0, NULL, 0);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	snprintf(want, sizeof want, "cannot read %s/accounts.csv: Is a directory", dir);
	ck_assert_str_eq(t->error, want);
	ck_assert_ptr_null(strstr(t->steps, "Processing"));
	tfree(t);
	ck_assert_uint_eq(count(IDENT_OWNER), 0);
}
END_TEST

START_TEST(count_cancelled)
{
	struct tjob *t;
	char dir[PATH_MAX + 16], path[PATH_MAX + 64];
	pid_t pid;
	int status, fd;

	/* memberships.csv is a FIFO that a child fills with rows for ever: the counting pass
	 * cannot end by itself. owners.csv has fewer than CSV_STOP_EVERY records, so the
	 * first cancelled() call is made either while the calling thread waits for the one
	 * reading the FIFO, or by the calling thread reading it (one CPU, or it took the
	 * FIFO itself). cancelled() says stop at that first call: the job ends cancelled
	 * before processing anything. */
	snprintf(dir, sizeof dir, "%s/fifo", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	write_count_file(dir, "owners.csv", 2000);
	write_count_file(dir, "accounts.csv", 1200);
	snprintf(path, sizeof path, "%s/memberships.csv", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		static const char row[] = "a1,g1,2024-01-05T00:00:00Z\n";
		char buf[27 * 1000];
		size_t i;

		signal(SIGPIPE, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* if the test dies first */
		if ((fd = open(path, O_WRONLY)) == -1)
			_exit(1);
		for (i = 0; i < sizeof buf; i += sizeof row - 1)
			memcpy(buf + i, row, sizeof row - 1);
		if (write(fd, "account_id,group_id,modified_at\n", 32) != 32)
			_exit(1);
		while (write(fd, buf, sizeof buf) > 0)
			;
		_exit(0);
	}
	t = run(JOB_INCREMENTAL_SYNC, dir, 0, NULL, 1);
	/* The reader has closed the FIFO (the child then dies of SIGPIPE); if the job did
	 * not open it, the child still waits in open(): kill it either way. */
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	expect(t, JOB_RUN_CANCELLED, 0, 0, 0);
	ck_assert(t->ctx.was_cancelled);
	ck_assert_int_eq(t->cancel_calls, 1);
	ck_assert_str_eq(t->steps, "Counting records;");
	ck_assert_int_eq(t->total_at_first_processing, JOB_NULL);
	tfree(t);
	ck_assert_uint_eq(count(IDENT_OWNER), 0);
}
END_TEST

START_TEST(bad_parameters)
{
	struct job j;
	struct worker_conf conf;
	struct job_ctx ctx;
	char *cause = NULL;

	memset(&conf, 0, sizeof conf);
	job_init(&j);
	j.type = JOB_FULL_SYNC;
	job_param_add(&j, "batch_size", "0");
	ck_assert_int_eq(job_ctx_init(&ctx, store, &j, &conf, &cause), -1);
	ck_assert_str_eq(cause, "parameter batch_size: '0' is not a number in 1..100000");
	free(cause);
	job_free(&j);
	job_init(&j);
	job_param_add(&j, "delay_ms", "10001");
	ck_assert_int_eq(job_ctx_init(&ctx, store, &j, &conf, &cause), -1);
	free(cause);
	job_free(&j);
}
END_TEST

/* --- jobsd-worker over IPC ------------------------------------------------------- */

struct wproc {
	pid_t pid;
	int fd;
	struct ipc_reader r;
};

static void
wspawn(struct wproc *w)
{
	char path[PATH_MAX + 32];
	int sv[2];

	snprintf(path, sizeof path, "%s/jobsd-worker", tl_bin_dir());
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	w->pid = fork();
	ck_assert_int_ne(w->pid, -1);
	if (w->pid == 0) {
		if (dup2(sv[1], WORKER_IPC_FD) == -1)
			_exit(127);
		setenv(WORKER_JOB_ENV, "job-1", 1);
		execl(path, "jobsd-worker", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	w->fd = sv[0];
	ipc_reader_init(&w->r);
}

static void
wsend_start(struct wproc *w, const struct job *j, const char *source)
{
	struct ipc_writer wr;
	msgpack_packer *pk;

	ipc_writer_init(&wr);
	pk = ipc_begin(&wr, MSG_JOB_START, 0);
	msgpack_pack_map(pk, 2);
	ipc_pack_str(pk, "job");
	job_pack(pk, j);
	ipc_pack_str(pk, "config");
	msgpack_pack_map(pk, 6);
	ipc_pack_kv_str(pk, "data_dir", tmpdir);
	ipc_pack_kv_str(pk, "source_name", "test");
	ipc_pack_kv_str(pk, "source_type", "csv");
	ipc_pack_kv_str(pk, "source_path", source);
	ipc_pack_kv_int(pk, "max_delete_percent", 20);
	ipc_pack_kv_int(pk, "progress_interval_ms", 0);
	ck_assert_int_eq(ipc_end(&wr), 0);
	ck_assert_int_eq(ipc_write_all(w->fd, wr.buf.data, wr.buf.size), 0);
	ipc_writer_destroy(&wr);
}

static void
wsend_cancel(struct wproc *w)
{
	struct ipc_writer wr;
	msgpack_packer *pk;

	ipc_writer_init(&wr);
	pk = ipc_begin(&wr, MSG_JOB_CANCEL, 0);
	msgpack_pack_map(pk, 0);
	ipc_end(&wr);
	ck_assert_int_eq(ipc_write_all(w->fd, wr.buf.data, wr.buf.size), 0);
	ipc_writer_destroy(&wr);
}

/* Next message, within 20 s. */
static void
wread(struct wproc *w, struct ipc_msg *m)
{
	char *cause = NULL;
	enum ipc_next rc;

	rc = ipc_read_msg(w->fd, &w->r, m, 20000, &cause);
	ck_assert_msg(rc == IPC_MSG, "worker message: %s", cause ? cause : "timeout");
}

static int
wwait(struct wproc *w)
{
	int status, i;
	pid_t p;

	for (i = 0; i < 2000; i++) { /* 20 s */
		if ((p = waitpid(w->pid, &status, WNOHANG)) == w->pid)
			return status;
		tl_sleep_ms(10);
	}
	kill(w->pid, SIGKILL);
	waitpid(w->pid, &status, 0);
	ck_abort_msg("worker did not exit");
	return -1;
}

static void
wclose(struct wproc *w)
{
	if (w->fd != -1)
		close(w->fd);
	w->fd = -1;
	ipc_reader_destroy(&w->r);
}

static int64_t
mint(const msgpack_object *body, const char *key)
{
	int64_t v = -1;

	ck_assert_int_eq(ipc_get_int(body, key, &v), 0);
	return v;
}

START_TEST(worker_ipc_full_sync)
{
	struct wproc w;
	struct ipc_msg m;
	struct job j;
	char src[PATH_MAX];
	bool ok = false, cancelled = true, saw_step = false;
	int64_t hello_pid, total_in_step = -1;
	int status;

	snprintf(src, sizeof src, "%s/sync/base", tl_fixtures_dir());
	job_init(&j);
	j.no = 1;
	j.type = JOB_FULL_SYNC;
	j.status = JOB_RUNNING;
	wspawn(&w);
	wread(&w, &m);
	ck_assert_uint_eq(m.type, MSG_WORKER_HELLO);
	hello_pid = mint(&m.body, "pid");
	ck_assert_int_eq(hello_pid, w.pid);
	wsend_start(&w, &j, src);
	for (;;) {
		wread(&w, &m);
		if (m.type == MSG_JOB_STEP) {
			char step[JOB_STEP_MAX];

			ck_assert_int_eq(ipc_get_strbuf(&m.body, "step", step, sizeof step), 0);
			if (strcmp(step, "Processing owners") == 0) {
				saw_step = true;
				total_in_step = mint(&m.body, "total");
			}
			continue;
		}
		if (m.type == MSG_JOB_RESULT)
			break;
		ck_assert(m.type == MSG_JOB_PROGRESS || m.type == MSG_JOB_LOG);
	}
	ck_assert_int_eq(ipc_get_bool(&m.body, "ok", &ok), 0);
	ck_assert_int_eq(ipc_get_bool(&m.body, "cancelled", &cancelled), 0);
	ck_assert(ok);
	ck_assert(!cancelled);
	ck_assert_int_eq(mint(&m.body, "created"), 18);
	ck_assert_int_eq(mint(&m.body, "processed"), 18);
	ck_assert_int_eq(mint(&m.body, "total"), 18);
	ck_assert(saw_step);
	ck_assert_int_eq(total_in_step, 18);
	status = wwait(&w);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	wclose(&w);
	job_free(&j);
	expect_counts(2, 5, 4, 3, 4);
}
END_TEST

START_TEST(worker_ipc_cancel_and_eof)
{
	struct wproc w;
	struct ipc_msg m;
	struct job j;
	char src[PATH_MAX];
	bool cancelled = false, ok = true;
	int status;

	snprintf(src, sizeof src, "%s/sync/base", tl_fixtures_dir());
	job_init(&j);
	j.no = 1;
	j.type = JOB_FULL_SYNC;
	job_param_add(&j, "batch_size", "1");
	job_param_add(&j, "delay_ms", "100");

	/* Cancel after the first progress with a record processed: the result says cancelled
	 * and the worker exits 0. */
	wspawn(&w);
	wread(&w, &m);
	wsend_start(&w, &j, src);
	for (;;) {
		wread(&w, &m);
		if (m.type == MSG_JOB_PROGRESS && mint(&m.body, "processed") >= 1)
			break;
	}
	wsend_cancel(&w);
	do
		wread(&w, &m);
	while (m.type != MSG_JOB_RESULT);
	ck_assert_int_eq(ipc_get_bool(&m.body, "ok", &ok), 0);
	ck_assert_int_eq(ipc_get_bool(&m.body, "cancelled", &cancelled), 0);
	ck_assert(!ok);
	ck_assert(cancelled);
	ck_assert_int_lt(mint(&m.body, "processed"), 18);
	ck_assert_int_ge(mint(&m.body, "created"), 1);
	status = wwait(&w);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	wclose(&w);

	/* The supervisor going away (EOF on fd 3) stops the worker with WEXIT_BAD_IPC. */
	wspawn(&w);
	wread(&w, &m);
	wsend_start(&w, &j, src);
	do
		wread(&w, &m);
	while (m.type != MSG_JOB_PROGRESS);
	wclose(&w);
	status = wwait(&w);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), WEXIT_BAD_IPC);
	job_free(&j);
}
END_TEST

START_TEST(worker_store_unavailable)
{
	struct wproc w;
	struct ipc_msg m;
	struct job j;
	struct ipc_writer wr;
	msgpack_packer *pk;
	int status;

	job_init(&j);
	j.no = 1;
	j.type = JOB_FULL_SYNC;
	wspawn(&w);
	wread(&w, &m);
	ipc_writer_init(&wr);
	pk = ipc_begin(&wr, MSG_JOB_START, 0);
	msgpack_pack_map(pk, 2);
	ipc_pack_str(pk, "job");
	job_pack(pk, &j);
	ipc_pack_str(pk, "config");
	msgpack_pack_map(pk, 1);
	ipc_pack_kv_str(pk, "data_dir", "/nonexistent/jobsd-data");
	ipc_end(&wr);
	ck_assert_int_eq(ipc_write_all(w.fd, wr.buf.data, wr.buf.size), 0);
	ipc_writer_destroy(&wr);
	status = wwait(&w);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), WEXIT_STORE);
	wclose(&w);
	job_free(&j);
}
END_TEST

Suite *
sync_suite(void)
{
	Suite *s = suite_create("sync");
	TCase *tc = tcase_create("jobs");
	TCase *ti = tcase_create("worker");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, full_then_identical);
	tcase_add_test(tc, stored_counts);
	tcase_add_test(tc, record_numbers);
	tcase_add_test(tc, full_modified);
	tcase_add_test(tc, delete_safety);
	tcase_add_test(tc, incremental);
	tcase_add_test(tc, bad_rows);
	tcase_add_test(tc, cancel_keeps_committed_batches);
	tcase_add_test(tc, errors);
	tcase_add_test(tc, delete_many_in_batches);
	tcase_add_test(tc, bad_parameters);
	tcase_add_test(tc, incremental_skips);
	tcase_add_test(tc, incremental_sparse);
	tcase_add_test(tc, incremental_cancel_while_skipping);
	tcase_add_test(tc, count_side_by_side);
	tcase_add_test(tc, count_errors_in_order);
	tcase_add_test(tc, count_cancelled);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(ti, setup, teardown);
	tcase_set_timeout(ti, 60);
	tcase_add_test(ti, worker_ipc_full_sync);
	tcase_add_test(ti, worker_ipc_cancel_and_eof);
	tcase_add_test(ti, worker_store_unavailable);
	suite_add_tcase(s, ti);
	return s;
}
