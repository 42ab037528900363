/*
 * sync.c: the sync jobs over a directory of CSV exports (DESIGN.md section 4).
 *
 * full_sync processes applications, owners, accounts, groups and memberships in that
 * (dependency) order; owner_sync, account_sync, application_sync one type each; group_sync
 * groups and their memberships (memberships.csv), since a membership belongs to its group.
 *
 * Every row is upserted: created if its key is new, updated if any field differs (known
 * or extra column, modified_at included), otherwise unchanged and not counted. Rows are
 * written in transactions of batch_size rows (DB_TXN_NOSYNC); the log is flushed at the
 * end, so a cancelled job keeps exactly its committed batches.
 *
 * Deletion by absence streams with a generation: each full or one-type sync takes a new
 * generation number (meta "sync.gen") and stamps it into every record it sees, changed or
 * not. After all files are processed, records of the synced types with an older
 * generation are the ones the files no longer have. Before deleting anything their number
 * is checked against max_delete_percent of each type's records stored before the sync; if
 * any type would exceed it the job fails and nothing is deleted (the upserts already
 * committed stay: they are what the source says). Memory stays bounded by one record and
 * one batch, whatever the file sizes.
 *
 * incremental_sync applies only rows whose modified_at is after the watermark (meta
 * "sync.watermark": the greatest modified_at or deleted_at seen by the last successful
 * full or incremental sync), plus deletions.csv rows whose deleted_at is after it; it
 * never deletes by absence. A missing entity file is "no changes" for an incremental sync
 * but an error for a full one. The one-type syncs do not move the watermark (they did not
 * see the other types).
 *
 * Bad rows (wrong field count, invalid UTF-8, missing required field, bad timestamp,
 * unterminated quote) are logged with file:line, counted as processed and skipped.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv.h"
#include "identity.h"
#include "sync.h"
#include "timeutil.h"

#define SYNC_BAD_LOG_MAX 100 /* bad rows logged one by one, per job */

enum sync_mode { MODE_FULL, MODE_INCREMENTAL };

static const char *const files[IDENT_TYPE_COUNT] = {
	"applications.csv", "owners.csv", "accounts.csv", "groups.csv", "memberships.csv",
};
static const char *const required[IDENT_TYPE_COUNT][4] = {
	{ "id", "modified_at", NULL },
	{ "id", "modified_at", NULL },
	{ "id", "application_id", "modified_at", NULL },
	{ "id", "application_id", "modified_at", NULL },
	{ "account_id", "group_id", "modified_at", NULL },
};
#define DELETIONS_FILE "deletions.csv"

struct sync_run {
	struct job_ctx *ctx;
	struct identity *id;
	enum sync_mode mode;
	bool types[IDENT_TYPE_COUNT];
	bool present[IDENT_TYPE_COUNT]; /* file exists (incremental may skip) */
	bool deletions_present;
	uint64_t gen;
	int64_t watermark; /* previous, ms; INT64_MIN if none */
	int64_t seen_max;  /* greatest modified_at/deleted_at seen */
	uint64_t bad;
	uint64_t created[IDENT_TYPE_COUNT], updated[IDENT_TYPE_COUNT];
	uint64_t deleted[IDENT_TYPE_COUNT];
	msgpack_sbuffer val;
	char *key;
	size_t keycap;
	struct ident_field *fields;
	size_t nfields_cap;
	char *tcause; /* error inside a store_with_txn callback */
};

/* One row handler per kind of file; adds to the pending counters of the batch. */
struct batch {
	DB_TXN *txn;
	size_t rows;
	enum ident_type t; /* the file's type (entity files) */
	uint64_t created[IDENT_TYPE_COUNT], updated[IDENT_TYPE_COUNT];
	uint64_t deleted[IDENT_TYPE_COUNT];
};

static char *
path_of(struct sync_run *sr, const char *file)
{
	return xasprintf("%s/%s", sr->ctx->conf->source_path, file);
}

static void
bad_row(const char *file, uint64_t line, const char *reason, void *arg)
{
	struct sync_run *sr = arg;

	sr->bad++;
	if (sr->bad <= SYNC_BAD_LOG_MAX)
		job_ctx_log(sr->ctx, LOG_LVL_WARN, "%s:%llu: %s (row skipped)", file,
		    (unsigned long long)line, reason);
	else if (sr->bad == SYNC_BAD_LOG_MAX + 1)
		job_ctx_log(sr->ctx, LOG_LVL_WARN,
		    "more bad rows; only the first %d are logged", SYNC_BAD_LOG_MAX);
}

static void
key_reserve(struct sync_run *sr, size_t n)
{
	if (n > sr->keycap) {
		sr->keycap = n + 64;
		sr->key = xrealloc(sr->key, sr->keycap);
	}
}

static int
txn_begin(struct sync_run *sr, DB_TXN **txn, char **error)
{
	DB_ENV *env = store_env(sr->ctx->store);
	int ret;

	if ((ret = env->txn_begin(env, NULL, txn, DB_TXN_NOSYNC)) != 0) {
		*error = xasprintf("cannot begin a transaction: %s", db_strerror(ret));
		return -1;
	}
	return 0;
}

static void
batch_abort(struct batch *b)
{
	if (b->txn != NULL)
		b->txn->abort(b->txn);
	b->txn = NULL;
	b->rows = 0;
	memset(b->created, 0, sizeof b->created);
	memset(b->updated, 0, sizeof b->updated);
	memset(b->deleted, 0, sizeof b->deleted);
}

/* Commit the open batch and fold its counters into the job's. */
static int
batch_commit(struct sync_run *sr, struct batch *b, char **error)
{
	struct job_ctx *ctx = sr->ctx;
	int ret, t;

	if (b->txn != NULL) {
		ret = b->txn->commit(b->txn, 0);
		b->txn = NULL;
		if (ret != 0) {
			*error = xasprintf("cannot commit a batch of %s: %s",
			    ident_db_name(b->t), db_strerror(ret));
			batch_abort(b);
			return -1;
		}
	}
	for (t = 0; t < IDENT_TYPE_COUNT; t++) {
		ctx->created += (int64_t)b->created[t];
		ctx->updated += (int64_t)b->updated[t];
		ctx->deleted += (int64_t)b->deleted[t];
		sr->created[t] += b->created[t];
		sr->updated[t] += b->updated[t];
		sr->deleted[t] += b->deleted[t];
	}
	b->rows = 0;
	memset(b->created, 0, sizeof b->created);
	memset(b->updated, 0, sizeof b->updated);
	memset(b->deleted, 0, sizeof b->deleted);
	return 0;
}

/* Parse a timestamp field; false if it is not RFC 3339 / ISO 8601 with a zone. */
static bool
parse_ts(const char *s, size_t len, int64_t *ms)
{
	return time_parse_iso8601(s, len, false, ms) == 0;
}

/* Upsert one entity row. 0, 1 (row rejected), -1 error. */
static int
upsert_row(struct sync_run *sr, struct csv_reader *r, const struct csv_row *row,
    const int *req, struct batch *b, char **error)
{
	enum ident_type t = b->t;
	size_t i, n = 0, klen;
	void *old = NULL;
	size_t oldlen = 0;
	int64_t ms;
	uint64_t gen;
	char reason[128];
	int mcol, rv;

	for (i = 0; req[i] != -1; i++) {
		if (row->len[req[i]] == 0) {
			snprintf(reason, sizeof reason, "missing required field '%s'",
			    csv_column_name(r, (size_t)req[i]));
			csv_reject(r, row, reason);
			return 1;
		}
	}
	mcol = csv_column(r, "modified_at");
	if (!parse_ts(row->f[mcol], row->len[mcol], &ms)) {
		csv_reject(r, row, "modified_at is not an RFC 3339 timestamp");
		return 1;
	}
	if (ms > sr->seen_max)
		sr->seen_max = ms;
	if (sr->mode == MODE_INCREMENTAL && sr->watermark != INT64_MIN && ms <= sr->watermark)
		return 0;

	/* Key. */
	if (t == IDENT_MEMBERSHIP) {
		size_t a = row->len[req[0]], g = row->len[req[1]];

		klen = a + 1 + g;
		key_reserve(sr, klen);
		memcpy(sr->key, row->f[req[0]], a);
		sr->key[a] = '\0';
		memcpy(sr->key + a + 1, row->f[req[1]], g);
	} else {
		klen = row->len[req[0]];
		key_reserve(sr, klen);
		memcpy(sr->key, row->f[req[0]], klen);
	}

	/* Value: every non-empty column, known or extra. */
	for (i = 0; i < row->n; i++) {
		if (row->len[i] == 0 || strcmp(csv_column_name(r, i), IDENT_GEN_KEY) == 0)
			continue;
		sr->fields[n].name = csv_column_name(r, i);
		sr->fields[n].value = row->f[i];
		sr->fields[n].len = row->len[i];
		n++;
	}

	if (b->txn == NULL && txn_begin(sr, &b->txn, error) != 0)
		return -1;
	rv = identity_get(sr->id, b->txn, t, sr->key, klen, &old, &oldlen, error);
	if (rv == -1)
		return -1;
	gen = sr->gen;
	if (rv == 0 && sr->mode == MODE_INCREMENTAL)
		gen = identity_gen(old, oldlen); /* only full syncs stamp generations */
	identity_encode(&sr->val, sr->fields, n, gen);
	if (rv == 0 && identity_same(old, oldlen, sr->val.data, sr->val.size)) {
		rv = 0;
		/* Unchanged; if seen by a new sync, restamp just the generation. */
		if (identity_gen(old, oldlen) != gen)
			rv = identity_put_gen(sr->id, b->txn, t, sr->key, klen, oldlen, gen,
			    error);
		free(old);
		return rv;
	} else if (rv == 0)
		b->updated[t]++;
	else
		b->created[t]++;
	free(old);
	if (identity_put(sr->id, b->txn, t, sr->key, klen, sr->val.data, sr->val.size,
	    error) != 0)
		return -1;
	return 0;
}

/* Apply one deletions.csv row (incremental). 0, 1 rejected, -1 error. */
static int
deletion_row(struct sync_run *sr, struct csv_reader *r, const struct csv_row *row,
    const int *req, struct batch *b, char **error)
{
	const char *ent = row->f[req[0]], *id = row->f[req[1]], *colon;
	size_t idlen = row->len[req[1]], klen;
	int64_t ms;
	int t, rv;
	char reason[160];

	for (size_t i = 0; i < 3; i++) {
		if (row->len[req[i]] == 0) {
			snprintf(reason, sizeof reason, "missing required field '%s'",
			    csv_column_name(r, (size_t)req[i]));
			csv_reject(r, row, reason);
			return 1;
		}
	}
	if ((t = ident_type_parse_singular(ent)) == -1) {
		snprintf(reason, sizeof reason, "unknown entity '%.64s'", ent);
		csv_reject(r, row, reason);
		return 1;
	}
	if (!parse_ts(row->f[req[2]], row->len[req[2]], &ms)) {
		csv_reject(r, row, "deleted_at is not an RFC 3339 timestamp");
		return 1;
	}
	if (ms > sr->seen_max)
		sr->seen_max = ms;
	if (sr->watermark != INT64_MIN && ms <= sr->watermark)
		return 0;
	key_reserve(sr, idlen);
	memcpy(sr->key, id, idlen);
	klen = idlen;
	if (t == IDENT_MEMBERSHIP) {
		if ((colon = memchr(id, ':', idlen)) == NULL) {
			csv_reject(r, row, "membership id is not account_id:group_id");
			return 1;
		}
		sr->key[colon - id] = '\0';
	}
	if (b->txn == NULL && txn_begin(sr, &b->txn, error) != 0)
		return -1;
	rv = identity_del(sr->id, b->txn, (enum ident_type)t, sr->key, klen, error);
	if (rv == -1)
		return -1;
	if (rv == 0)
		b->deleted[t]++;
	return 0;
}

typedef int (*row_fn)(struct sync_run *sr, struct csv_reader *r, const struct csv_row *row,
    const int *req, struct batch *b, char **error);

/* Stream one file through fn in batches: JOB_RUN_OK, JOB_RUN_CANCELLED (after a committed
 * batch) or JOB_RUN_FAILED with *error. */
static int
process_file(struct sync_run *sr, const char *file, const char *const *reqnames,
    enum ident_type t, row_fn fn, char **error)
{
	struct job_ctx *ctx = sr->ctx;
	struct csv_reader *r;
	struct csv_row row;
	struct batch b;
	int64_t base = ctx->processed;
	int req[8], rv, res = JOB_RUN_FAILED;
	size_t i;
	char *path;

	path = path_of(sr, file);
	if (csv_open(path, 0, bad_row, sr, &r, error) != 0) {
		free(path);
		return JOB_RUN_FAILED;
	}
	for (i = 0; reqnames[i] != NULL; i++) {
		if ((req[i] = csv_column(r, reqnames[i])) == -1) {
			*error = xasprintf("%s: missing required column '%s'", path,
			    reqnames[i]);
			goto out;
		}
	}
	req[i] = -1;
	if (csv_ncolumns(r) > sr->nfields_cap) {
		sr->nfields_cap = csv_ncolumns(r);
		sr->fields = xrealloc(sr->fields, sr->nfields_cap * sizeof *sr->fields);
	}
	memset(&b, 0, sizeof b);
	b.t = t;
	for (;;) {
		if (ctx->aborted) {
			batch_abort(&b);
			*error = xstrdup("stopped: the supervisor went away");
			goto out;
		}
		if ((rv = csv_next(r, &row, error)) == -1) {
			batch_abort(&b);
			goto out;
		}
		if (rv == 0)
			break;
		if (fn(sr, r, &row, req, &b, error) == -1) {
			batch_abort(&b);
			goto out;
		}
		if (ctx->on_tick != NULL && b.rows % JOB_TICK_ROWS == JOB_TICK_ROWS - 1)
			ctx->on_tick(ctx);
		if (++b.rows >= ctx->batch_size) {
			if (batch_commit(sr, &b, error) != 0)
				goto out;
			ctx->processed = base + (int64_t)(csv_good_rows(r) + csv_bad_rows(r));
			job_ctx_progress(ctx);
			job_ctx_delay(ctx);
			if (job_ctx_cancelled(ctx)) {
				res = JOB_RUN_CANCELLED;
				goto out;
			}
		}
	}
	if (batch_commit(sr, &b, error) != 0)
		goto out;
	ctx->processed = base + (int64_t)(csv_good_rows(r) + csv_bad_rows(r));
	job_ctx_progress_now(ctx); /* the file is done: report its exact count */
	res = JOB_RUN_OK;
out:
	csv_close(r);
	free(path);
	return res;
}

/* Delete the records of type t not stamped with this sync's generation, in batches. */
static int
delete_absent(struct sync_run *sr, enum ident_type t, char **error)
{
	struct job_ctx *ctx = sr->ctx;
	DB *db = identity_db(sr->id, t);
	DB_TXN *txn;
	DBC *c;
	DBT k, v;
	char *last = NULL;
	size_t lastlen = 0, lastcap = 0, n, scanned;
	bool have_last = false, done;
	int ret, res = JOB_RUN_FAILED;

	for (;;) {
		if (ctx->aborted) {
			*error = xstrdup("stopped: the supervisor went away");
			goto out;
		}
		if (txn_begin(sr, &txn, error) != 0)
			goto out;
		if ((ret = db->cursor(db, txn, &c, 0)) != 0) {
			txn->abort(txn);
			*error = xasprintf("%s cursor: %s", ident_db_name(t), db_strerror(ret));
			goto out;
		}
		memset(&k, 0, sizeof k);
		memset(&v, 0, sizeof v);
		if (have_last) {
			k.data = last;
			k.size = (u_int32_t)lastlen;
			ret = c->get(c, &k, &v, DB_SET_RANGE);
		} else
			ret = c->get(c, &k, &v, DB_FIRST);
		n = scanned = 0;
		while (ret == 0) {
			if (k.size > lastcap) {
				lastcap = k.size + 64;
				last = xrealloc(last, lastcap);
			}
			memmove(last, k.data, k.size);
			lastlen = k.size;
			have_last = true;
			if (identity_gen(v.data, v.size) != sr->gen) {
				if ((ret = c->del(c, 0)) != 0)
					break;
				n++;
			}
			if (n >= ctx->batch_size || ++scanned >= ctx->batch_size * 16)
				break;
			ret = c->get(c, &k, &v, DB_NEXT);
		}
		done = ret == DB_NOTFOUND;
		if (ret != 0 && ret != DB_NOTFOUND) {
			c->close(c);
			txn->abort(txn);
			*error = xasprintf("deleting %s: %s", ident_db_name(t), db_strerror(ret));
			goto out;
		}
		c->close(c);
		if ((ret = txn->commit(txn, 0)) != 0) {
			*error = xasprintf("cannot commit deletions of %s: %s",
			    ident_db_name(t), db_strerror(ret));
			goto out;
		}
		ctx->deleted += (int64_t)n;
		sr->deleted[t] += n;
		job_ctx_progress(ctx);
		if (done)
			break;
		job_ctx_delay(ctx);
		if (job_ctx_cancelled(ctx)) {
			res = JOB_RUN_CANCELLED;
			goto out;
		}
	}
	res = JOB_RUN_OK;
out:
	free(last);
	return res;
}

/* Count what deletion by absence would remove; refuse beyond max_delete_percent. */
static int
check_deletions(struct sync_run *sr, uint64_t todel[IDENT_TYPE_COUNT], char **error)
{
	int pct = sr->ctx->max_delete_percent;
	uint64_t total, other, stored, shown;
	int t;

	for (t = 0; t < IDENT_TYPE_COUNT; t++) {
		todel[t] = 0;
		if (!sr->types[t])
			continue;
		if (identity_count(sr->id, (enum ident_type)t, sr->gen, &total, &other,
		    error) != 0)
			return -1;
		todel[t] = other;
		stored = total - sr->created[t]; /* records stored before this sync */
		if (other == 0 || stored == 0)
			continue;
		if (other * 100 > (uint64_t)pct * stored) {
			shown = (other * 100 + stored - 1) / stored;
			*error = xasprintf("refusing to delete %llu of %llu %s (%llu%% > "
			    "max_delete_percent %d): is the export truncated?",
			    (unsigned long long)other, (unsigned long long)stored,
			    ident_db_name((enum ident_type)t), (unsigned long long)shown, pct);
			return -1;
		}
	}
	return 0;
}

/* Watermark: int64 ms, big-endian; *ms = INT64_MIN when there is none yet. Returns 0, -1
 * with *error, or a retryable Berkeley DB code. */
static int
watermark_get(struct store *s, DB_TXN *txn, int64_t *ms, char **error)
{
	unsigned char b[8];
	size_t len = 0;
	uint64_t v = 0;
	int rv, i;

	rv = store_meta_get(s, txn, IDENT_META_WATERMARK, b, sizeof b, &len, error);
	if (rv == STORE_NOTFOUND) {
		*ms = INT64_MIN;
		return 0;
	}
	if (rv != 0)
		return rv;
	if (len != 8) {
		*error = xasprintf("meta %s: bad length %zu", IDENT_META_WATERMARK, len);
		return -1;
	}
	for (i = 0; i < 8; i++)
		v = (v << 8) | b[i];
	*ms = (int64_t)v;
	return 0;
}

static int
watermark_put(struct store *s, DB_TXN *txn, int64_t ms, char **error)
{
	unsigned char b[8];
	uint64_t v = (uint64_t)ms;
	int i;

	for (i = 7; i >= 0; i--) {
		b[i] = v & 0xff;
		v >>= 8;
	}
	return store_meta_put(s, txn, IDENT_META_WATERMARK, b, sizeof b, error);
}

/* In a transaction (store_with_txn retries it on lock conflicts): take a new generation
 * (full and one-type syncs) and read the watermark. */
static int
begin_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct sync_run *sr = arg;
	int rv;

	free(sr->tcause);
	sr->tcause = NULL;
	if ((rv = identity_meta_get_u64(s, txn, IDENT_META_GEN, &sr->gen, &sr->tcause)) != 0 ||
	    (rv = watermark_get(s, txn, &sr->watermark, &sr->tcause)) != 0)
		return rv;
	if (sr->mode == MODE_FULL) {
		sr->gen++;
		rv = identity_meta_put_u64(s, txn, IDENT_META_GEN, sr->gen, &sr->tcause);
	}
	return rv;
}

/* Move the watermark forward. */
static int
finish_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct sync_run *sr = arg;
	int64_t cur;
	int rv;

	free(sr->tcause);
	sr->tcause = NULL;
	if ((rv = watermark_get(s, txn, &cur, &sr->tcause)) != 0)
		return rv;
	if (sr->seen_max > cur)
		rv = watermark_put(s, txn, sr->seen_max, &sr->tcause);
	return rv;
}

static int
with_txn(struct sync_run *sr, uint32_t flags, store_txn_fn fn, const char *what,
    char **error)
{
	char *cause = NULL;

	if (store_with_txn(sr->ctx->store, flags, fn, sr, &cause) == 0)
		return 0;
	if (sr->tcause != NULL) {
		*error = sr->tcause;
		sr->tcause = NULL;
		free(cause);
	} else if (cause != NULL)
		*error = cause;
	else
		*error = xasprintf("%s failed", what);
	return -1;
}

/* The generation commit need not be synchronous; the watermark's is (and it makes every
 * batch before it durable). */
static int
sync_begin(struct sync_run *sr, char **error)
{
	return with_txn(sr, DB_TXN_NOSYNC, begin_txn, "taking a sync generation", error);
}

static int
sync_finish(struct sync_run *sr, char **error)
{
	return with_txn(sr, 0, finish_txn, "moving the sync watermark", error);
}

static bool
count_stop(void *arg)
{
	return job_ctx_cancelled(arg);
}

/* Count the records of one file: JOB_RUN_OK, JOB_RUN_CANCELLED, JOB_RUN_FAILED. */
static int
count_file(struct job_ctx *ctx, const char *path, uint64_t *n, char **error)
{
	switch (csv_count_records_stop(path, n, count_stop, ctx, error)) {
	case 0:
		return JOB_RUN_OK;
	case 1:
		return JOB_RUN_CANCELLED;
	default:
		return JOB_RUN_FAILED;
	}
}

static const char *const deletion_req[] = { "entity", "id", "deleted_at", NULL };

static int
sync_run(struct job_ctx *ctx, enum sync_mode mode, const bool types[IDENT_TYPE_COUNT],
    bool move_watermark, char **error)
{
	struct sync_run sr;
	struct stat st;
	uint64_t n, todel[IDENT_TYPE_COUNT];
	char *path, step[JOB_STEP_MAX];
	const char *type = ctx->conf->source_type, *dir = ctx->conf->source_path;
	int res = JOB_RUN_FAILED, t;

	memset(&sr, 0, sizeof sr);
	sr.ctx = ctx;
	sr.mode = mode;
	memcpy(sr.types, types, sizeof sr.types);
	sr.watermark = sr.seen_max = INT64_MIN;
	msgpack_sbuffer_init(&sr.val);

	if (*type != '\0' && strcmp(type, "csv") != 0) {
		*error = xasprintf("source %s: type '%s' is not supported (only csv)",
		    ctx->conf->source_name, type);
		goto out;
	}
	if (*dir == '\0') {
		if (job_param_get(ctx->job, "source") != NULL)
			*error = xasprintf("source '%s' is not configured",
			    job_param_get(ctx->job, "source"));
		else
			*error = xstrdup("no source configured");
		goto out;
	}
	if (stat(dir, &st) != 0) {
		*error = xasprintf("cannot open source directory %s: %s", dir, strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		*error = xasprintf("source path %s is not a directory", dir);
		goto out;
	}
	if (identity_open(ctx->store, &sr.id, error) != 0)
		goto out;

	/* Exact record counts first, so total_records is known before processing. */
	job_ctx_step(ctx, "Counting records");
	ctx->total = 0;
	for (t = 0; t < IDENT_TYPE_COUNT; t++) {
		if (!sr.types[t])
			continue;
		path = path_of(&sr, files[t]);
		if (mode == MODE_INCREMENTAL && access(path, F_OK) != 0 && errno == ENOENT) {
			job_ctx_log(ctx, LOG_LVL_INFO, "%s: not in the export, no changes",
			    files[t]);
			free(path);
			continue;
		}
		res = count_file(ctx, path, &n, error);
		free(path);
		if (res != JOB_RUN_OK)
			goto out;
		res = JOB_RUN_FAILED;
		sr.present[t] = true;
		ctx->total += (int64_t)n;
	}
	if (mode == MODE_INCREMENTAL) {
		path = path_of(&sr, DELETIONS_FILE);
		if (access(path, F_OK) == 0) {
			res = count_file(ctx, path, &n, error);
			if (res != JOB_RUN_OK) {
				free(path);
				goto out;
			}
			res = JOB_RUN_FAILED;
			sr.deletions_present = true;
			ctx->total += (int64_t)n;
		}
		free(path);
	}
	ctx->processed = 0;
	job_ctx_progress_now(ctx);

	if (sync_begin(&sr, error) != 0)
		goto out;

	for (t = 0; t < IDENT_TYPE_COUNT; t++) {
		if (!sr.types[t] || !sr.present[t])
			continue;
		snprintf(step, sizeof step, "Processing %s", ident_db_name((enum ident_type)t));
		job_ctx_step(ctx, step);
		res = process_file(&sr, files[t], required[t], (enum ident_type)t, upsert_row,
		    error);
		if (res != JOB_RUN_OK)
			goto out;
		res = JOB_RUN_FAILED;
	}
	if (sr.deletions_present) {
		job_ctx_step(ctx, "Applying deletions");
		res = process_file(&sr, DELETIONS_FILE, deletion_req, IDENT_TYPE_COUNT,
		    deletion_row, error);
		if (res != JOB_RUN_OK)
			goto out;
		res = JOB_RUN_FAILED;
	}
	if (mode == MODE_FULL) {
		job_ctx_step(ctx, "Checking for removed records");
		if (check_deletions(&sr, todel, error) != 0) {
			if (ctx->created + ctx->updated > 0)
				job_ctx_log(ctx, LOG_LVL_WARN, "nothing was deleted; the %lld "
				    "created and %lld updated records stay committed",
				    (long long)ctx->created, (long long)ctx->updated);
			goto out;
		}
		for (t = IDENT_TYPE_COUNT - 1; t >= 0; t--) {
			if (todel[t] == 0)
				continue;
			snprintf(step, sizeof step, "Deleting removed %s",
			    ident_db_name((enum ident_type)t));
			job_ctx_step(ctx, step);
			res = delete_absent(&sr, (enum ident_type)t, error);
			if (res != JOB_RUN_OK)
				goto out;
			res = JOB_RUN_FAILED;
		}
	}
	if (move_watermark && sync_finish(&sr, error) != 0)
		goto out;
	res = JOB_RUN_OK;

out:
	if (res == JOB_RUN_CANCELLED)
		ctx->was_cancelled = true;
	/* Make every committed batch durable, whatever the outcome. */
	if (sr.id != NULL) {
		DB_ENV *env = store_env(ctx->store);

		env->log_flush(env, NULL);
	}
	job_ctx_progress_now(ctx);
	for (t = 0; t < IDENT_TYPE_COUNT; t++) {
		if (sr.types[t] && (sr.created[t] || sr.updated[t] || sr.deleted[t]))
			job_ctx_log(ctx, LOG_LVL_INFO, "%s: %llu created, %llu updated, "
			    "%llu deleted", ident_db_name((enum ident_type)t),
			    (unsigned long long)sr.created[t], (unsigned long long)sr.updated[t],
			    (unsigned long long)sr.deleted[t]);
	}
	if (sr.bad > 0)
		job_ctx_log(ctx, LOG_LVL_WARN, "%llu bad rows skipped",
		    (unsigned long long)sr.bad);
	if (res == JOB_RUN_CANCELLED && !ctx->aborted)
		job_ctx_log(ctx, LOG_LVL_INFO, "cancelled: %lld of %lld records processed "
		    "and committed", (long long)ctx->processed, (long long)ctx->total);
	identity_close(sr.id);
	msgpack_sbuffer_destroy(&sr.val);
	free(sr.key);
	free(sr.fields);
	free(sr.tcause);
	return res;
}

int
sync_full(struct job_ctx *ctx, char **error)
{
	static const bool all[IDENT_TYPE_COUNT] = { true, true, true, true, true };

	return sync_run(ctx, MODE_FULL, all, true, error);
}

int
sync_incremental(struct job_ctx *ctx, char **error)
{
	static const bool all[IDENT_TYPE_COUNT] = { true, true, true, true, true };

	return sync_run(ctx, MODE_INCREMENTAL, all, true, error);
}

int
sync_owners(struct job_ctx *ctx, char **error)
{
	bool t[IDENT_TYPE_COUNT] = { false };

	t[IDENT_OWNER] = true;
	return sync_run(ctx, MODE_FULL, t, false, error);
}

int
sync_accounts(struct job_ctx *ctx, char **error)
{
	bool t[IDENT_TYPE_COUNT] = { false };

	t[IDENT_ACCOUNT] = true;
	return sync_run(ctx, MODE_FULL, t, false, error);
}

int
sync_groups(struct job_ctx *ctx, char **error)
{
	bool t[IDENT_TYPE_COUNT] = { false };

	t[IDENT_GROUP] = true;
	t[IDENT_MEMBERSHIP] = true;
	return sync_run(ctx, MODE_FULL, t, false, error);
}

int
sync_applications(struct job_ctx *ctx, char **error)
{
	bool t[IDENT_TYPE_COUNT] = { false };

	t[IDENT_APPLICATION] = true;
	return sync_run(ctx, MODE_FULL, t, false, error);
}
