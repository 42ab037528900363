/*
 * sync.c: the sync jobs over a directory of CSV exports (DESIGN.md section 4).
 *
 * full_sync processes applications, owners, accounts, groups and memberships in that
 * (dependency) order; owner_sync, account_sync, application_sync one type each; group_sync
 * groups and their memberships (memberships.csv), since a membership belongs to its group.
 *
 * Every row is upserted: created if its key is new, updated if any field differs (known
 * or extra column, modified_at included), otherwise unchanged and not counted. Rows are
 * written in transactions of batch_size rows, each written to the log file when it
 * commits and made durable by the supervisor's commit of the job's end (store.c), so a
 * cancelled job keeps exactly its committed batches.
 *
 * A batch's rows are buffered (keys and encoded values), sorted by key (stably: rows of one
 * key keep their file order) and applied in key order through one cursor: existing records
 * are read in bulk (DB_MULTIPLE_KEY windows from DB_SET_RANGE), so sorted or nearly sorted
 * exports read each page once, and appends go to the last page. A row is compared with the
 * stored record field by field and written only if it differs.
 *
 * Deletion by absence: every record carries a number unique within its type (identity.h
 * "_no"); a full or one-type sync sets a bit for each record it sees (a bitmap of
 * numbers, one bit per record ever numbered) and writes nothing for an unchanged record.
 * Each also takes a new generation (meta "sync.gen"), stamped into what it writes. After
 * all files are processed, the records of the synced types whose bit is not set are the
 * ones the files no longer have. How many there are is the type's stored count (meta
 * IDENT_META_COUNT_PREFIX, kept in the transactions that create and delete records) less
 * the bits set, so an unchanged sync reads no record twice; only a store without a count
 * (written before it) is scanned, and then given one. Before deleting anything their
 * number is checked against max_delete_percent of each type's records stored before the
 * sync; if any type would exceed it the job fails and nothing is deleted (the upserts
 * already committed stay: they are what the source says). Memory stays bounded by one
 * batch and the bitmaps, whatever the file sizes.
 *
 * incremental_sync applies only rows whose modified_at is after the watermark (meta
 * "sync.watermark": the greatest modified_at or deleted_at seen by the last successful
 * full or incremental sync), plus deletions.csv rows whose deleted_at is after it; it
 * never deletes by absence. A missing entity file is "no changes" for an incremental sync
 * but an error for a full one. The one-type syncs do not move the watermark (they did not
 * see the other types).
 *
 * The incremental sync's reader passes over most old rows without splitting them (see
 * csv_skip_set): a one-line row, well-formed (field count, quotes, UTF-8, no NUL,
 * required fields present) whose modified_at has the canonical form YYYY-MM-DDTHH:MM:SSZ
 * and compares bytewise <= the watermark's (sync_ts.c). Every other row is split and its
 * modified_at parsed as before, so the outcome is the same as reading every row: the same
 * rows applied, the same counts, and bad rows reported with file:line whether they are
 * older than the watermark or not. A batch is batch_size rows applied (not read); a batch
 * whose rows are fewer than one in 8 of those read looks each key up alone instead of
 * reading ahead in bulk (which would read pages holding none of them).
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
#include "sync_count.h"
#include "sync_ts.h"
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
	char *key;
	size_t keycap;
	struct ident_field *fields;
	size_t nfields_cap;
	size_t *cols; /* the current file's stored columns, sorted by name */
	size_t ncols;
	int mcol;     /* its modified_at column */
	char *tcause; /* error inside a store_with_txn callback */

	/* Types whose database was empty when the sync began: all their records are its own
	 * (no other job writes them meanwhile: DESIGN.md section 4, conflicting jobs). */
	bool empty_at_start[IDENT_TYPE_COUNT];
	/* Types whose stored count exists: every commit that creates or deletes keeps it. */
	bool count_known[IDENT_TYPE_COUNT];
	enum ident_type count_t; /* for count_set_txn and count_fix_txn */
	uint64_t count_n, count_was;
	/* Full mode: the records seen, as bits of their numbers. */
	uint8_t *seen[IDENT_TYPE_COUNT];
	size_t seen_bytes[IDENT_TYPE_COUNT];
	/* Record numbers taken from meta and not used yet: [next, limit). */
	uint64_t next_no[IDENT_TYPE_COUNT], limit_no[IDENT_TYPE_COUNT];
	enum ident_type alloc_t; /* for alloc_txn */
	uint64_t alloc_n;

	/* Incremental: the watermark's bound for the skip test, and each file's plan from
	 * the counting pass (csv_plan_file), NULL without one. */
	char bound[SYNC_TS_LEN + 1];
	bool skipping;
	struct csv_plan *plan[IDENT_TYPE_COUNT];

	char *wbuf; /* bulk read window */
	size_t wcap;
	size_t *order; /* the pending rows in key order */
	size_t ordcap;
};

/* A buffered row: key and encoded value in the batch's arena. */
struct pend {
	size_t koff, voff;
	uint32_t klen, vlen;
};

/* One row handler per kind of file; adds to the pending counters of the batch. */
struct batch {
	DB_TXN *txn;
	size_t rows;
	enum ident_type t; /* the file's type (entity files) */
	uint64_t created[IDENT_TYPE_COUNT], updated[IDENT_TYPE_COUNT];
	uint64_t deleted[IDENT_TYPE_COUNT];
	msgpack_sbuffer arena; /* keys and values of the pending rows */
	struct pend *pend;
	size_t npend, pendcap;
	uint64_t span; /* records read while the batch filled (set before a commit) */
};

/* Stored records read ahead in key order, in one bulk buffer. */
struct window {
	DBC *c;
	DBT v;
	void *p;
	bool loaded, end, have;
	const void *ck, *cd; /* the current entry */
	u_int32_t ckl, cdl;
	size_t ulen; /* bytes to read at a time: fewer for sparse rows */
};

#define SYNC_WINDOW_BYTES (64u * 1024)

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

	/* Written to the log file at commit, not fsynced (store.c). */
	if ((ret = env->txn_begin(env, NULL, txn, 0)) != 0) {
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
	b->npend = 0;
	b->arena.size = 0;
	memset(b->created, 0, sizeof b->created);
	memset(b->updated, 0, sizeof b->updated);
	memset(b->deleted, 0, sizeof b->deleted);
}

/* Byte order, shorter first on a common prefix: Berkeley DB's default btree order. */
static int
keycmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static void
mark_seen(struct sync_run *sr, enum ident_type t, uint64_t no)
{
	size_t i = (size_t)(no / 8), n;

	if (no == 0)
		return;
	if (i >= sr->seen_bytes[t]) {
		n = sr->seen_bytes[t] ? sr->seen_bytes[t] : 4096;
		while (n <= i)
			n *= 2;
		sr->seen[t] = xrealloc(sr->seen[t], n);
		memset(sr->seen[t] + sr->seen_bytes[t], 0, n - sr->seen_bytes[t]);
		sr->seen_bytes[t] = n;
	}
	sr->seen[t][i] |= (uint8_t)(1u << (no % 8));
}

static bool
was_seen(const struct sync_run *sr, enum ident_type t, uint64_t no)
{
	size_t i = (size_t)(no / 8);

	return no != 0 && i < sr->seen_bytes[t] && (sr->seen[t][i] & (1u << (no % 8))) != 0;
}

static int with_txn(struct sync_run *, uint32_t, store_txn_fn, const char *, char **);

static void
count_key(enum ident_type t, char *key, size_t size)
{
	snprintf(key, size, "%s%s", IDENT_META_COUNT_PREFIX, ident_db_name(t));
}

/* The stored count of type t: 0 and *known, 0 and !*known when there is none, -1 with
 * *error or a retryable lock conflict inside txn (as store_meta_get). */
static int
count_get(struct store *s, DB_TXN *txn, enum ident_type t, bool *known, uint64_t *n,
    char **error)
{
	char key[64];

	count_key(t, key, sizeof key);
	return identity_meta_find_u64(s, txn, key, n, known, error);
}

static int
count_put(struct store *s, DB_TXN *txn, enum ident_type t, uint64_t n, char **error)
{
	char key[64];

	count_key(t, key, sizeof key);
	return identity_meta_put_u64(s, txn, key, n, error);
}

/* Add plus and take minus records from type t's stored count, inside the transaction that
 * created and deleted them. A count that would go below zero is wrong: it is removed, and
 * the next full sync counts the records again. */
static int
count_add(struct sync_run *sr, DB_TXN *txn, enum ident_type t, uint64_t plus, uint64_t minus,
    char **error)
{
	struct store *s = sr->ctx->store;
	char key[64], *cause = NULL;
	uint64_t n;
	bool known;
	int rv;

	if (!sr->count_known[t] || plus == minus)
		return 0;
	if ((rv = count_get(s, txn, t, &known, &n, &cause)) == 0 && known && n + plus >= minus)
		rv = count_put(s, txn, t, n + plus - minus, &cause);
	else if (rv == 0) {
		job_ctx_log(sr->ctx, LOG_LVL_WARN, "%s: the stored count is off (%llu + %llu - "
		    "%llu); the next full sync counts the records again", ident_db_name(t),
		    (unsigned long long)n, (unsigned long long)plus, (unsigned long long)minus);
		count_key(t, key, sizeof key);
		rv = store_meta_del(s, txn, key, &cause);
		sr->count_known[t] = false;
	}
	if (rv != 0) {
		*error = cause != NULL ? cause : xasprintf("%s: updating the stored count: %s",
		    ident_db_name(t), db_strerror(rv));
		return -1;
	}
	return 0;
}

/* Take alloc_n record numbers of type alloc_t from meta (numbers start at 1). */
static int
alloc_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct sync_run *sr = arg;
	char key[64];
	uint64_t next;
	int rv;

	free(sr->tcause);
	sr->tcause = NULL;
	snprintf(key, sizeof key, "%s%s", IDENT_META_NO_PREFIX, ident_db_name(sr->alloc_t));
	if ((rv = identity_meta_get_u64(s, txn, key, &next, &sr->tcause)) != 0)
		return rv;
	if (next == 0)
		next = 1;
	if ((rv = identity_meta_put_u64(s, txn, key, next + sr->alloc_n, &sr->tcause)) != 0)
		return rv;
	sr->next_no[sr->alloc_t] = next;
	sr->limit_no[sr->alloc_t] = next + sr->alloc_n;
	return 0;
}

/* A new record number; when none is left, take up to want more (a short transaction of
 * its own: numbers taken and not used are only gaps). */
static int
new_no(struct sync_run *sr, enum ident_type t, size_t want, uint64_t *no, char **error)
{
	if (sr->next_no[t] == sr->limit_no[t]) {
		sr->alloc_t = t;
		sr->alloc_n = want > 0 ? want : 1;
		if (with_txn(sr, DB_TXN_NOSYNC, alloc_txn, "allocating record numbers",
		    error) != 0)
			return -1;
	}
	*no = sr->next_no[t]++;
	return 0;
}

static void
window_next(struct window *w)
{
	void *rk, *rd;
	u_int32_t rkl, rdl;

	DB_MULTIPLE_KEY_NEXT(w->p, &w->v, rk, rkl, rd, rdl);
	if (w->p == NULL) {
		w->have = false;
		return;
	}
	w->have = true;
	w->ck = rk;
	w->ckl = rkl;
	w->cd = rd;
	w->cdl = rdl;
}

/* Read the stored records from key on into the window. */
static int
window_load(struct sync_run *sr, struct window *w, enum ident_type t, const char *key,
    size_t klen, char **error)
{
	DBT k;
	int ret;

	for (;;) {
		memset(&k, 0, sizeof k);
		k.data = (void *)(uintptr_t)key;
		k.size = (u_int32_t)klen;
		memset(&w->v, 0, sizeof w->v);
		w->v.data = sr->wbuf;
		w->v.ulen = (u_int32_t)(w->ulen < sr->wcap ? w->ulen : sr->wcap);
		w->v.flags = DB_DBT_USERMEM;
		ret = w->c->get(w->c, &k, &w->v, DB_SET_RANGE | DB_MULTIPLE_KEY);
		if (ret != DB_BUFFER_SMALL)
			break;
		if (w->v.size + 4096 > sr->wcap) {
			sr->wcap = ((w->v.size + 4096) * 2 + 1023) & ~(size_t)1023;
			sr->wbuf = xrealloc(sr->wbuf, sr->wcap);
		}
		w->ulen = sr->wcap;
	}
	w->loaded = true;
	w->have = false;
	if (ret == DB_NOTFOUND) {
		w->end = true;
		return 0;
	}
	if (ret != 0) {
		*error = xasprintf("reading %s: %s", ident_db_name(t), db_strerror(ret));
		return -1;
	}
	w->end = false;
	DB_MULTIPLE_INIT(w->p, &w->v);
	window_next(w);
	return 0;
}

/* Look a key up; keys must come in ascending order (and nothing at or after the window's
 * current entry may have been written since it was loaded). 1 and the stored value, 0 if
 * there is none, -1 error. */
static int
window_find(struct sync_run *sr, struct window *w, enum ident_type t, const char *key,
    size_t klen, const void **val, size_t *vlen, char **error)
{
	int c;

	if (!w->loaded && window_load(sr, w, t, key, klen, error) != 0)
		return -1;
	for (;;) {
		if (!w->have) {
			if (w->end)
				return 0;
			if (window_load(sr, w, t, key, klen, error) != 0)
				return -1;
			continue;
		}
		c = keycmp(w->ck, w->ckl, key, klen);
		if (c < 0) {
			window_next(w);
			continue;
		}
		if (c > 0)
			return 0;
		*val = w->cd;
		*vlen = w->cdl;
		window_next(w);
		return 1;
	}
}

/* Look a key up alone (a sparse batch: the next key is seldom on the same page, so a bulk
 * read would only read pages for nothing). 1 and the stored value (in sr->wbuf), 0 if there
 * is none, -1 error. */
static int
point_find(struct sync_run *sr, DBC *c, enum ident_type t, const char *key, size_t klen,
    const void **val, size_t *vlen, char **error)
{
	DBT k, v;
	int ret;

	for (;;) {
		memset(&k, 0, sizeof k);
		memset(&v, 0, sizeof v);
		k.data = (void *)(uintptr_t)key;
		k.size = (u_int32_t)klen;
		v.data = sr->wbuf;
		v.ulen = (u_int32_t)sr->wcap;
		v.flags = DB_DBT_USERMEM;
		ret = c->get(c, &k, &v, DB_SET);
		if (ret != DB_BUFFER_SMALL)
			break;
		sr->wcap = ((v.size + 4096) * 2 + 1023) & ~(size_t)1023;
		sr->wbuf = xrealloc(sr->wbuf, sr->wcap);
	}
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret != 0) {
		*error = xasprintf("reading %s: %s", ident_db_name(t), db_strerror(ret));
		return -1;
	}
	*val = sr->wbuf;
	*vlen = v.size;
	return 1;
}

static int
pend_cmp(const void *a, const void *b, void *arg)
{
	const struct batch *bt = arg;
	const struct pend *pa = &bt->pend[*(const size_t *)a];
	const struct pend *pb = &bt->pend[*(const size_t *)b];
	const char *base = bt->arena.data;
	int c;

	c = keycmp(base + pa->koff, pa->klen, base + pb->koff, pb->klen);
	if (c != 0)
		return c;
	return pa < pb ? -1 : pa > pb; /* stable: file order */
}

/* Sort the pending rows by key (they usually are already). */
static void
pend_sort(struct sync_run *sr, struct batch *b)
{
	const char *base = b->arena.data;
	const struct pend *p, *q;
	bool sorted = true;
	size_t i;

	if (b->npend > sr->ordcap) {
		sr->ordcap = b->npend;
		sr->order = xrealloc(sr->order, sr->ordcap * sizeof *sr->order);
	}
	for (i = 0; i < b->npend; i++) {
		sr->order[i] = i;
		if (i > 0 && sorted) {
			p = &b->pend[i - 1];
			q = &b->pend[i];
			if (keycmp(base + p->koff, p->klen, base + q->koff, q->klen) > 0)
				sorted = false;
		}
	}
	if (!sorted)
		qsort_r(sr->order, b->npend, sizeof *sr->order, pend_cmp, b);
}

static int
put_rec(DBC *c, enum ident_type t, const char *key, size_t klen, const void *val,
    size_t vlen, char **error)
{
	DBT k, v;
	int ret;

	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = (void *)(uintptr_t)key;
	k.size = (u_int32_t)klen;
	v.data = (void *)(uintptr_t)val;
	v.size = (u_int32_t)vlen;
	if ((ret = c->put(c, &k, &v, DB_KEYFIRST)) != 0) {
		*error = xasprintf("%s put: %s", ident_db_name(t), db_strerror(ret));
		return -1;
	}
	return 0;
}

/* Apply the pending rows of a batch in key order. */
static int
apply_pending(struct sync_run *sr, struct batch *b, char **error)
{
	enum ident_type t = b->t;
	DB *db;
	struct window w;
	DBC *wc = NULL;
	const struct pend *p;
	const void *cur;
	char *base, *key, *val;
	size_t i, j, curlen;
	uint64_t curno, curgen, no, gen;
	u_int32_t pgsz;
	bool present, same, sparse;
	int ret, rv = -1;

	if (b->npend == 0)
		return 0; /* always so for deletions.csv (t is IDENT_TYPE_COUNT) */
	db = identity_db(sr->id, t);
	pend_sort(sr, b);
	if (b->txn == NULL && txn_begin(sr, &b->txn, error) != 0)
		return -1;
	memset(&w, 0, sizeof w);
	if ((ret = db->cursor(db, b->txn, &w.c, 0)) != 0 ||
	    (ret = db->cursor(db, b->txn, &wc, 0)) != 0) {
		*error = xasprintf("%s cursor: %s", ident_db_name(t), db_strerror(ret));
		goto out;
	}
	if (sr->wbuf == NULL) {
		sr->wcap = SYNC_WINDOW_BYTES;
		sr->wbuf = xmalloc(sr->wcap);
	}
	/* Dense rows (a full sync) read 64 KiB at a time, sparse ones (an incremental) less. */
	w.ulen = b->npend * 64;
	if (w.ulen > SYNC_WINDOW_BYTES)
		w.ulen = SYNC_WINDOW_BYTES;
	/* Bulk buffers are multiples of 1 KiB, at least a page. */
	if (db->get_pagesize(db, &pgsz) != 0 || pgsz < 8192)
		pgsz = 8192;
	if (w.ulen < pgsz)
		w.ulen = pgsz;
	w.ulen &= ~(size_t)1023;
	/* Fewer than one row in 8 of those read: look each key up alone. */
	sparse = b->span > 0 && (uint64_t)b->npend * 8 < b->span;
	base = b->arena.data;
	for (i = 0; i < b->npend; i = j) {
		p = &b->pend[sr->order[i]];
		key = base + p->koff;
		if (sparse)
			ret = point_find(sr, w.c, t, key, p->klen, &cur, &curlen, error);
		else
			ret = window_find(sr, &w, t, key, p->klen, &cur, &curlen, error);
		if (ret == -1)
			goto out;
		present = ret == 1;
		curno = present ? identity_no(cur, curlen) : 0;
		curgen = present ? identity_gen(cur, curlen) : 0;
		/* Every row of this key, in file order, against what the previous left. */
		for (j = i; j < b->npend; j++) {
			p = &b->pend[sr->order[j]];
			if (j > i && keycmp(base + p->koff, p->klen, key, b->pend[sr->order[i]].klen)
			    != 0)
				break;
			val = base + p->voff;
			same = present && identity_same_fields(cur, curlen, val, p->vlen);
			if (same && curno != 0)
				continue; /* unchanged */
			no = curno;
			if (no == 0 && new_no(sr, t, b->npend - j, &no, error) != 0)
				goto out;
			gen = sr->gen;
			if (present && sr->mode == MODE_INCREMENTAL)
				gen = curgen; /* only full syncs stamp generations */
			identity_set_no_gen(val, p->vlen, no, gen);
			if (put_rec(wc, t, key, p->klen, val, p->vlen, error) != 0)
				goto out;
			if (!present)
				b->created[t]++;
			else if (!same)
				b->updated[t]++;
			present = true;
			cur = val;
			curlen = p->vlen;
			curno = no;
			curgen = gen;
		}
		if (sr->mode == MODE_FULL)
			mark_seen(sr, t, curno);
	}
	rv = 0;
out:
	if (wc != NULL)
		wc->close(wc);
	if (w.c != NULL)
		w.c->close(w.c);
	return rv;
}

/* Commit the open batch and fold its counters into the job's. */
static int
batch_commit(struct sync_run *sr, struct batch *b, char **error)
{
	struct job_ctx *ctx = sr->ctx;
	int ret, t;

	if (apply_pending(sr, b, error) != 0) {
		batch_abort(b);
		return -1;
	}
	b->npend = 0;
	b->arena.size = 0;
	for (t = 0; t < IDENT_TYPE_COUNT && b->txn != NULL; t++) {
		if (count_add(sr, b->txn, (enum ident_type)t, b->created[t], b->deleted[t],
		    error) != 0) {
			batch_abort(b);
			return -1;
		}
	}
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

/* The reader's skip test (incremental): a canonical modified_at not after the watermark.
 * Any other form goes through upsert_row, which parses it. */
static bool
row_old(const char *s, size_t len, void *arg)
{
	return sync_ts_not_after(s, len, arg);
}

/* Buffer one entity row for its batch. 0, 1 (row rejected), -1 error. */
static int
upsert_row(struct sync_run *sr, struct csv_reader *r, const struct csv_row *row,
    const int *req, struct batch *b, char **error)
{
	enum ident_type t = b->t;
	struct pend *p;
	size_t i, n = 0, klen, c;
	int64_t ms;
	char reason[128];
	int mcol = sr->mcol;

	for (i = 0; req[i] != -1; i++) {
		if (row->len[req[i]] == 0) {
			snprintf(reason, sizeof reason, "missing required field '%s'",
			    csv_column_name(r, (size_t)req[i]));
			csv_reject(r, row, reason);
			return 1;
		}
	}
	if (!parse_ts(row->f[mcol], row->len[mcol], &ms)) {
		csv_reject(r, row, "modified_at is not an RFC 3339 timestamp");
		return 1;
	}
	if (ms > sr->seen_max)
		sr->seen_max = ms;
	if (sr->mode == MODE_INCREMENTAL && sr->watermark != INT64_MIN && ms <= sr->watermark)
		return 0;

	if (b->npend == b->pendcap) {
		b->pendcap = b->pendcap ? b->pendcap * 2 : 256;
		b->pend = xrealloc(b->pend, b->pendcap * sizeof *b->pend);
	}
	p = &b->pend[b->npend];

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
	p->koff = b->arena.size;
	p->klen = (u_int32_t)klen;
	msgpack_sbuffer_write(&b->arena, sr->key, klen);

	/* Value: every non-empty column, known or extra, in name order. */
	for (i = 0; i < sr->ncols; i++) {
		c = sr->cols[i];
		if (row->len[c] == 0)
			continue;
		sr->fields[n].name = csv_column_name(r, c);
		sr->fields[n].value = row->f[c];
		sr->fields[n].len = row->len[c];
		n++;
	}
	p->voff = b->arena.size;
	p->vlen = (u_int32_t)identity_encode_append(&b->arena, sr->fields, n, 0, 0);
	b->npend++;
	(void)error;
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

/* The columns stored for the file's records (all but our own "_no" and "_gen"), sorted by
 * name, and its modified_at column. */
static void
file_columns(struct sync_run *sr, struct csv_reader *r)
{
	size_t i, j, n = 0;
	const char *name;

	for (i = 0; i < csv_ncolumns(r); i++) {
		name = csv_column_name(r, i);
		if (strcmp(name, IDENT_GEN_KEY) == 0 || strcmp(name, IDENT_NO_KEY) == 0)
			continue;
		/* insertion sort: headers are short */
		for (j = n; j > 0 && strcmp(csv_column_name(r, sr->cols[j - 1]), name) > 0; j--)
			sr->cols[j] = sr->cols[j - 1];
		sr->cols[j] = i;
		n++;
	}
	sr->ncols = n;
	sr->mcol = csv_column(r, "modified_at");
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
	struct csv_skip skip;
	struct batch b;
	int64_t base = ctx->processed;
	uint64_t mark = 0;
	int req[8], rv, res = JOB_RUN_FAILED;
	size_t i;
	char *path;

	memset(&b, 0, sizeof b);
	msgpack_sbuffer_init(&b.arena);
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
		sr->cols = xrealloc(sr->cols, sr->nfields_cap * sizeof *sr->cols);
	}
	file_columns(sr, r);
	b.t = t;
	/* An incremental sync lets the reader pass over the rows it would skip: well-formed
	 * ones whose modified_at is canonical and not after the watermark, jumping over the
	 * stretches of them its counting pass found. */
	if (sr->skipping && t < IDENT_TYPE_COUNT) {
		skip.col = sr->mcol;
		skip.req = req;
		skip.old = row_old;
		skip.arg = sr->bound;
		csv_skip_set(r, &skip);
		if (sr->plan[t] != NULL && csv_plan_use(r, sr->plan[t]))
			job_ctx_log(ctx, LOG_LVL_DEBUG, "%s: %llu records in %zu stretches passed "
			    "over as planned", file,
			    (unsigned long long)csv_plan_records(sr->plan[t]),
			    csv_plan_stretches(sr->plan[t]));
		else if (sr->plan[t] != NULL)
			job_ctx_log(ctx, LOG_LVL_INFO, "%s changed since it was counted: "
			    "reading all of it", file);
	}
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
		if (rv == 2) {
			/* Rows passed over: progress, and a chance to stop between batches. */
			ctx->processed = base + (int64_t)(csv_good_rows(r) + csv_bad_rows(r));
			job_ctx_progress(ctx);
			if (job_ctx_cancelled(ctx)) {
				if (ctx->aborted) {
					batch_abort(&b);
					*error = xstrdup("stopped: the supervisor went away");
					goto out;
				}
				b.span = csv_good_rows(r) + csv_bad_rows(r) - mark;
				if (batch_commit(sr, &b, error) != 0)
					goto out;
				res = JOB_RUN_CANCELLED;
				goto out;
			}
			continue;
		}
		if (fn(sr, r, &row, req, &b, error) == -1) {
			batch_abort(&b);
			goto out;
		}
		if (ctx->on_tick != NULL && b.rows % JOB_TICK_ROWS == JOB_TICK_ROWS - 1)
			ctx->on_tick(ctx);
		if (++b.rows >= ctx->batch_size) {
			b.span = csv_good_rows(r) + csv_bad_rows(r) - mark;
			mark += b.span;
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
	b.span = csv_good_rows(r) + csv_bad_rows(r) - mark;
	if (batch_commit(sr, &b, error) != 0)
		goto out;
	ctx->processed = base + (int64_t)(csv_good_rows(r) + csv_bad_rows(r));
	job_ctx_progress_now(ctx); /* the file is done: report its exact count */
	res = JOB_RUN_OK;
out:
	msgpack_sbuffer_destroy(&b.arena);
	free(b.pend);
	csv_close(r);
	free(path);
	return res;
}

static uint64_t seen_count(const struct sync_run *, enum ident_type);
static int count_fix_txn(struct store *, DB_TXN *, void *);

/* Delete the records of type t this sync did not see, in batches. */
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
			if (!was_seen(sr, t, identity_no(v.data, v.size))) {
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
		if (count_add(sr, txn, t, 0, n, error) != 0) {
			txn->abort(txn);
			goto out;
		}
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
	/* Every record left is one the sync saw: a stored count that says otherwise was off. */
	if (sr->count_known[t]) {
		sr->count_t = t;
		sr->count_n = seen_count(sr, t);
		sr->count_was = sr->count_n;
		if (with_txn(sr, DB_TXN_NOSYNC, count_fix_txn, "correcting a record count",
		    error) != 0)
			goto out;
		if (sr->count_was != sr->count_n)
			job_ctx_log(ctx, LOG_LVL_WARN, "%s: the stored count was %llu, %llu records "
			    "are left: corrected", ident_db_name(t),
			    (unsigned long long)sr->count_was, (unsigned long long)sr->count_n);
	}
	res = JOB_RUN_OK;
out:
	free(last);
	return res;
}

/* Count the records of type t and those this sync did not see: a scan in bulk reads,
 * outside any transaction. */
static int
count_unseen(struct sync_run *sr, enum ident_type t, uint64_t *total, uint64_t *other,
    char **error)
{
	DB *db = identity_db(sr->id, t);
	DBC *c;
	DBT k, v;
	void *p, *rk, *rd;
	u_int32_t rkl, rdl;
	uint64_t n = 0, o = 0;
	int ret;

	if (sr->wbuf == NULL) {
		sr->wcap = SYNC_WINDOW_BYTES;
		sr->wbuf = xmalloc(sr->wcap);
	}
	if ((ret = db->cursor(db, NULL, &c, DB_READ_COMMITTED)) != 0) {
		*error = xasprintf("%s cursor: %s", ident_db_name(t), db_strerror(ret));
		return -1;
	}
	for (;;) {
		memset(&k, 0, sizeof k);
		memset(&v, 0, sizeof v);
		v.data = sr->wbuf;
		v.ulen = (u_int32_t)sr->wcap;
		v.flags = DB_DBT_USERMEM;
		ret = c->get(c, &k, &v, DB_NEXT | DB_MULTIPLE_KEY);
		if (ret == DB_BUFFER_SMALL) {
			sr->wcap = ((v.size + 4096) * 2 + 1023) & ~(size_t)1023;
			sr->wbuf = xrealloc(sr->wbuf, sr->wcap);
			continue;
		}
		if (ret != 0)
			break;
		DB_MULTIPLE_INIT(p, &v);
		for (;;) {
			DB_MULTIPLE_KEY_NEXT(p, &v, rk, rkl, rd, rdl);
			if (p == NULL)
				break;
			(void)rk;
			(void)rkl;
			n++;
			if (!was_seen(sr, t, identity_no(rd, rdl)))
				o++;
		}
	}
	c->close(c);
	if (ret != DB_NOTFOUND) {
		*error = xasprintf("%s scan: %s", ident_db_name(t), db_strerror(ret));
		return -1;
	}
	*total = n;
	*other = o;
	return 0;
}

/* The number of records this sync saw of type t: the bits set. */
static uint64_t
seen_count(const struct sync_run *sr, enum ident_type t)
{
	uint64_t n = 0, w;
	size_t i;

	for (i = 0; i + 8 <= sr->seen_bytes[t]; i += 8) {
		memcpy(&w, sr->seen[t] + i, 8);
		n += (uint64_t)__builtin_popcountll(w);
	}
	for (; i < sr->seen_bytes[t]; i++)
		n += (uint64_t)__builtin_popcount(sr->seen[t][i]);
	return n;
}

/* Records of type t and those this sync did not see, from the stored count: false if
 * there is none, or if it is below what the sync saw (then the caller counts). */
static bool
counted(struct sync_run *sr, enum ident_type t, uint64_t *total, uint64_t *other)
{
	uint64_t n, seen;
	char *cause = NULL;
	bool known;

	if (!sr->count_known[t])
		return false;
	if (count_get(sr->ctx->store, NULL, t, &known, &n, &cause) != 0 || !known) {
		free(cause);
		return false;
	}
	seen = seen_count(sr, t);
	if (seen > n) {
		job_ctx_log(sr->ctx, LOG_LVL_WARN, "%s: the stored count (%llu) is below the "
		    "records seen (%llu): counting them", ident_db_name(t),
		    (unsigned long long)n, (unsigned long long)seen);
		return false;
	}
	*total = n;
	*other = n - seen;
	job_ctx_log(sr->ctx, LOG_LVL_DEBUG, "%s: %llu records, %llu not in the export (from the "
	    "stored count)", ident_db_name(t), (unsigned long long)n,
	    (unsigned long long)*other);
	return true;
}

/* Whether each synced type has a stored count; a full sync gives one to a type whose
 * database is empty (0, kept by this sync from there on). Part of begin_txn. */
static int
counts_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct sync_run *sr = arg;
	uint64_t n;
	int t, rv;

	free(sr->tcause);
	sr->tcause = NULL;
	for (t = 0; t < IDENT_TYPE_COUNT; t++) {
		if (!sr->types[t])
			continue;
		rv = count_get(s, txn, (enum ident_type)t, &sr->count_known[t], &n, &sr->tcause);
		if (rv != 0)
			return rv;
		if (sr->empty_at_start[t] && (!sr->count_known[t] || n != 0)) {
			if ((rv = count_put(s, txn, (enum ident_type)t, 0, &sr->tcause)) != 0)
				return rv;
			sr->count_known[t] = true;
		}
	}
	return 0;
}

/* After a scan: the count from now on (nothing else writes this type meanwhile). */
static int
count_set_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct sync_run *sr = arg;

	free(sr->tcause);
	sr->tcause = NULL;
	return count_put(s, txn, sr->count_t, sr->count_n, &sr->tcause);
}

/* After a complete deletion pass: the count is what the sync saw (count_n). */
static int
count_fix_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct sync_run *sr = arg;
	bool known;
	int rv;

	free(sr->tcause);
	sr->tcause = NULL;
	rv = count_get(s, txn, sr->count_t, &known, &sr->count_was, &sr->tcause);
	if (rv != 0 || !known || sr->count_was == sr->count_n) {
		sr->count_was = sr->count_n;
		return rv;
	}
	return count_put(s, txn, sr->count_t, sr->count_n, &sr->tcause);
}

/* Count the records of type t by a scan, and store the count from now on. */
static int
scan_count(struct sync_run *sr, enum ident_type t, uint64_t *total, uint64_t *other,
    char **error)
{
	if (count_unseen(sr, t, total, other, error) != 0)
		return -1;
	job_ctx_log(sr->ctx, LOG_LVL_DEBUG, "%s: %llu records, %llu not in the export (counted)",
	    ident_db_name(t), (unsigned long long)*total, (unsigned long long)*other);
	sr->count_t = t;
	sr->count_n = *total;
	if (with_txn(sr, DB_TXN_NOSYNC, count_set_txn, "storing a record count", error) != 0)
		return -1;
	sr->count_known[t] = true;
	return 0;
}

static bool
too_many(uint64_t other, uint64_t stored, int pct)
{
	return other != 0 && stored != 0 && other * 100 > (uint64_t)pct * stored;
}

/* Count what deletion by absence would remove; refuse beyond max_delete_percent. */
static int
check_deletions(struct sync_run *sr, uint64_t todel[IDENT_TYPE_COUNT], char **error)
{
	int pct = sr->ctx->max_delete_percent;
	uint64_t total, other, stored, shown;
	bool from_count;
	int t;

	for (t = 0; t < IDENT_TYPE_COUNT; t++) {
		todel[t] = 0;
		if (!sr->types[t])
			continue;
		from_count = false;
		if (sr->empty_at_start[t]) {
			/* Every record is one this sync created (and saw): nothing to scan. */
			total = sr->created[t];
			other = 0;
		} else if (!(from_count = counted(sr, (enum ident_type)t, &total, &other)) &&
		    scan_count(sr, (enum ident_type)t, &total, &other, error) != 0)
			return -1;
		stored = total - sr->created[t]; /* records stored before this sync */
		/* Never refuse on the stored count alone: count the records first. */
		if (from_count && too_many(other, stored, pct)) {
			if (scan_count(sr, (enum ident_type)t, &total, &other, error) != 0)
				return -1;
			stored = total - sr->created[t];
		}
		todel[t] = other;
		if (too_many(other, stored, pct)) {
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
	uint64_t v;
	bool found;
	int rv;

	if ((rv = identity_meta_find_u64(s, txn, IDENT_META_WATERMARK, &v, &found, error)) != 0)
		return rv;
	*ms = found ? (int64_t)v : INT64_MIN;
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
 * (full and one-type syncs), read the watermark and the record counts. */
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
		if ((rv = identity_meta_put_u64(s, txn, IDENT_META_GEN, sr->gen, &sr->tcause)) != 0)
			return rv;
	}
	return counts_txn(s, txn, sr);
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

/* Neither commit is flushed here: the watermark's is written to the log file (the
 * worker's default, store.c) and made durable, with every batch before it, by the
 * supervisor's durable commit of the job's end. */
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

/* Which of the synced types' databases are empty. */
static int
note_empty(struct sync_run *sr, char **error)
{
	DB *db;
	DBC *c;
	DBT k, v;
	int t, ret;

	for (t = 0; t < IDENT_TYPE_COUNT; t++) {
		if (!sr->types[t])
			continue;
		db = identity_db(sr->id, (enum ident_type)t);
		if ((ret = db->cursor(db, NULL, &c, DB_READ_COMMITTED)) != 0) {
			*error = xasprintf("%s cursor: %s", ident_db_name((enum ident_type)t),
			    db_strerror(ret));
			return -1;
		}
		memset(&k, 0, sizeof k);
		memset(&v, 0, sizeof v);
		v.flags = DB_DBT_PARTIAL; /* no data needed */
		k.flags = DB_DBT_PARTIAL;
		ret = c->get(c, &k, &v, DB_FIRST);
		c->close(c);
		if (ret != 0 && ret != DB_NOTFOUND) {
			*error = xasprintf("%s: %s", ident_db_name((enum ident_type)t),
			    db_strerror(ret));
			return -1;
		}
		sr->empty_at_start[t] = ret == DB_NOTFOUND;
	}
	return 0;
}

static const char *const deletion_req[] = { "entity", "id", "deleted_at", NULL };

static int
sync_run(struct job_ctx *ctx, enum sync_mode mode, const bool types[IDENT_TYPE_COUNT],
    bool move_watermark, char **error)
{
	struct sync_run sr;
	struct stat st;
	struct sync_count_file counts[IDENT_TYPE_COUNT + 1];
	struct csv_skip_names skips[IDENT_TYPE_COUNT];
	int ktype[IDENT_TYPE_COUNT + 1];
	uint64_t todel[IDENT_TYPE_COUNT];
	char *path, *paths[IDENT_TYPE_COUNT + 1], step[JOB_STEP_MAX];
	const char *type = ctx->conf->source_type, *dir = ctx->conf->source_path;
	size_t ncounts = 0, k;
	int res = JOB_RUN_FAILED, t;

	memset(&sr, 0, sizeof sr);
	memset(counts, 0, sizeof counts);
	sr.ctx = ctx;
	sr.mode = mode;
	memcpy(sr.types, types, sizeof sr.types);
	sr.watermark = sr.seen_max = INT64_MIN;

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
	if (identity_open_some(ctx->store, sr.types, &sr.id, error) != 0)
		goto out;
	/* An incremental sync reads its watermark first: its counting pass also finds the
	 * rows the processing pass will pass over. */
	if (mode == MODE_INCREMENTAL) {
		if (sync_begin(&sr, error) != 0)
			goto out;
		sr.skipping = sr.watermark != INT64_MIN && sync_ts_bound(sr.watermark, sr.bound);
	}

	/* Exact record counts first, so total_records is known before processing. The files
	 * are counted side by side (sync_count.c); counts[k] is the k-th file counted, of
	 * type ktype[k]. */
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
		counts[ncounts].path = paths[ncounts] = path;
		if (sr.skipping) {
			skips[t].col = "modified_at";
			skips[t].req = required[t];
			skips[t].old = row_old;
			skips[t].arg = sr.bound;
			counts[ncounts].skip = &skips[t];
		}
		ktype[ncounts++] = t;
		sr.present[t] = true;
	}
	if (mode == MODE_INCREMENTAL) {
		path = path_of(&sr, DELETIONS_FILE);
		if (access(path, F_OK) == 0) {
			counts[ncounts].path = paths[ncounts] = path;
			ktype[ncounts++] = IDENT_TYPE_COUNT;
			sr.deletions_present = true;
		} else
			free(path);
	}
	res = sync_count_files(ctx, counts, ncounts, error);
	for (k = 0; k < ncounts; k++) {
		if (ktype[k] < IDENT_TYPE_COUNT)
			sr.plan[ktype[k]] = counts[k].plan;
	}
	if (res != JOB_RUN_OK)
		goto out;
	res = JOB_RUN_FAILED;
	for (k = 0; k < ncounts; k++)
		ctx->total += (int64_t)counts[k].n;
	ctx->processed = 0;
	job_ctx_progress_now(ctx);

	if (mode == MODE_FULL &&
	    (note_empty(&sr, error) != 0 || sync_begin(&sr, error) != 0))
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
	for (k = 0; k < ncounts; k++)
		free(paths[k]);
	for (t = 0; t < IDENT_TYPE_COUNT; t++) {
		free(sr.seen[t]);
		csv_plan_free(sr.plan[t]);
	}
	free(sr.cols);
	free(sr.wbuf);
	free(sr.order);
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
