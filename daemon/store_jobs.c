/* store_jobs.c: job records in the store: the job number sequence, the primary "jobs"
 * database and its secondary index "jobs_idx" (one composite key per filter combination,
 * see store_internal.h), list pages read backwards from a key position, the per
 * status/type counts and retention. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_internal.h"

#define COUNTS_KEY "counts"
#define BY_STATUS_BATCH 128

static uint64_t
start_enc(int64_t ms)
{
	return ((uint64_t)ms ^ (UINT64_C(1) << 63));
}

size_t
store_idx_prefix(enum store_idx kind, int status, int type, uint8_t *out)
{
	size_t n = 0;

	out[n++] = (uint8_t)kind;
	switch (kind) {
	case IDX_STATUS:
	case IDX_STATUS_START:
		out[n++] = (uint8_t)status;
		break;
	case IDX_TYPE:
	case IDX_TYPE_START:
		out[n++] = (uint8_t)type;
		break;
	case IDX_STATUS_TYPE:
	case IDX_STATUS_TYPE_START:
		out[n++] = (uint8_t)status;
		out[n++] = (uint8_t)type;
		break;
	case IDX_START:
		break;
	}
	return (n);
}

static bool
idx_by_start(enum store_idx kind)
{
	return (kind >= IDX_START);
}

size_t
store_idx_key(enum store_idx kind, int status, int type, int64_t start_ms, uint64_t no,
	      uint8_t *out)
{
	size_t n;

	n = store_idx_prefix(kind, status, type, out);
	if (idx_by_start(kind)) {
		store_be64(out + n, start_enc(start_ms));
		n += 8;
	}
	store_be64(out + n, no);
	return (n + 8);
}

/* Secondary key creator for jobs_idx: three keys for every job, four more once started. */
int
store_idx_callback(DB *sec, const DBT *key, const DBT *data, DBT *result)
{
	static const enum store_idx kinds[] = {IDX_STATUS, IDX_TYPE, IDX_STATUS_TYPE,
		IDX_START, IDX_STATUS_START, IDX_TYPE_START, IDX_STATUS_TYPE_START};
	struct job j;
	char *cause = NULL;
	uint8_t buf[IDX_KEY_MAX];
	uint64_t no;
	DBT *keys;
	size_t i, n, len;

	if (key->size != 8 || job_decode(data->data, data->size, &j, &cause) != 0) {
		log_warnx("jobs_idx: cannot index a record: %s",
			  cause != NULL ? cause : "bad key");
		free(cause);
		return (DB_DONOTINDEX);
	}
	no = store_get_be64(key->data);
	n = j.start_ms == JOB_NULL ? 3 : 7;
	if ((keys = calloc(n, sizeof(*keys))) == NULL) {
		job_free(&j);
		return (ENOMEM);
	}
	for (i = 0; i < n; i++) {
		len = store_idx_key(kinds[i], j.status, j.type, j.start_ms, no, buf);
		if ((keys[i].data = malloc(len)) == NULL) {
			while (i-- > 0)
				free(keys[i].data);
			free(keys);
			job_free(&j);
			return (ENOMEM);
		}
		memcpy(keys[i].data, buf, len);
		keys[i].size = len;
		keys[i].flags = DB_DBT_APPMALLOC;
	}
	job_free(&j);
	result->data = keys;
	result->size = n;
	result->flags = DB_DBT_MULTIPLE | DB_DBT_APPMALLOC;
	return (0);
}

/* --- sequence -------------------------------------------------------------- */

int
store_job_alloc_n(struct store *s, DB_TXN *txn, uint32_t n, uint64_t *first, char **cause)
{
	db_seq_t v;
	int ret;

	if (s->seq == NULL) {
		store_set_cause(cause, xstrdup("job numbers are allocated by the supervisor"));
		return (-1);
	}
	if ((ret = s->seq->get(s->seq, txn, n, &v, 0)) != 0) {
		return (store_txn_err(s, ret, cause, "jobs_seq"));
	}
	*first = (uint64_t)v;
	return (0);
}

struct alloc_arg {
	uint64_t no;
	char *cause;
};

static int
alloc_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct alloc_arg *a = arg;

	return (store_job_alloc_n(s, txn, 1, &a->no, &a->cause));
}

static int
job_alloc(struct store *s, uint64_t *no, uint32_t flags, char **cause)
{
	struct alloc_arg a = {0, NULL};

	if (store_with_txn(s, flags, alloc_txn, &a, cause) != 0) {
		if (a.cause != NULL)
			store_set_cause(cause, a.cause);
		return (-1);
	}
	*no = a.no;
	return (0);
}

int
store_job_alloc(struct store *s, uint64_t *no, char **cause)
{
	return (job_alloc(s, no, 0, cause));
}

int
store_job_alloc_nosync(struct store *s, uint64_t *no, char **cause)
{
	return (job_alloc(s, no, DB_TXN_WRITE_NOSYNC, cause));
}

/* --- bulk load (datagen) ---------------------------------------------------- */

struct bulk_key {
	uint8_t key[IDX_KEY_MAX];
	uint8_t len;
	uint8_t pk[8];
};

static int
bulk_key_cmp(const void *a, const void *b)
{
	const struct bulk_key *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c;

	if ((c = memcmp(x->key, y->key, n)) != 0)
		return (c);
	return ((int)x->len - (int)y->len);
}

static int
bulk_open(struct store *s, DB **db, const char *file, char **cause)
{
	int ret;

	if ((ret = db_create(db, s->env, 0)) != 0 ||
	    (ret = (*db)->open(*db, NULL, file, NULL, DB_BTREE,
	    DB_AUTO_COMMIT | DB_MULTIVERSION, 0)) != 0) {
		if (*db != NULL)
			(*db)->close(*db, 0);
		*db = NULL;
		store_set_cause(cause, store_cause(s, ret, "open %s for a bulk load", file));
		return (-1);
	}
	return (0);
}

int
store_jobs_bulk_open(struct store *s, char **cause)
{
	if (s->role != STORE_TOOL) {
		store_set_cause(cause, xstrdup("bulk loads are for the offline tool only"));
		return (-1);
	}
	if (s->bulk_jobs == NULL && bulk_open(s, &s->bulk_jobs, "jobs.db", cause) != 0)
		return (-1);
	if (s->bulk_idx == NULL && bulk_open(s, &s->bulk_idx, "jobs_idx.db", cause) != 0)
		return (-1);
	return (0);
}

int
store_jobs_bulk_put(struct store *s, DB_TXN *txn, const struct store_bulk *jobs, size_t n,
		    const void *buf, char **cause)
{
	static const enum store_idx kinds[] = {IDX_STATUS, IDX_TYPE, IDX_STATUS_TYPE,
		IDX_START, IDX_STATUS_START, IDX_TYPE_START, IDX_STATUS_TYPE_START};
	struct bulk_key *keys;
	size_t i, k, nkeys = 0;
	uint8_t kb[8];
	DBT key, data;
	int ret;

	if (s->bulk_jobs == NULL || s->bulk_idx == NULL) {
		store_set_cause(cause, xstrdup("store_jobs_bulk_open first"));
		return (-1);
	}
	memset(&key, 0, sizeof(key));
	memset(&data, 0, sizeof(data));
	keys = xcalloc(n * 7 + 1, sizeof(*keys));
	for (i = 0; i < n; i++) {
		const struct store_bulk *j = &jobs[i];
		size_t nk = j->start_ms == JOB_NULL ? 3 : 7;

		store_be64(kb, j->no);
		key.data = kb;
		key.size = sizeof(kb);
		data.data = (uint8_t *)store_unconst(buf) + j->off;
		data.size = j->len;
		if ((ret = s->bulk_jobs->put(s->bulk_jobs, txn, &key, &data, 0)) != 0)
			goto dberr;
		for (k = 0; k < nk; k++) {
			struct bulk_key *bk = &keys[nkeys++];

			bk->len = store_idx_key(kinds[k], j->status, j->type, j->start_ms, j->no,
						bk->key);
			memcpy(bk->pk, kb, sizeof(kb));
		}
	}
	qsort(keys, nkeys, sizeof(*keys), bulk_key_cmp);
	for (i = 0; i < nkeys; i++) {
		key.data = keys[i].key;
		key.size = keys[i].len;
		data.data = keys[i].pk;
		data.size = sizeof(keys[i].pk);
		if ((ret = s->bulk_idx->put(s->bulk_idx, txn, &key, &data, 0)) != 0)
			goto dberr;
	}
	free(keys);
	return (0);

dberr:
	free(keys);
	return (store_txn_err(s, ret, cause, "bulk load of jobs"));
}

/* --- counts ---------------------------------------------------------------- */

static int
counts_read(struct store *s, DB_TXN *txn, uint32_t flags,
	    uint64_t counts[JOB_STATUS_COUNT][JOB_TYPE_COUNT], char **cause)
{
	uint8_t buf[JOB_STATUS_COUNT * JOB_TYPE_COUNT * 8];
	DBT k, d;
	int ret, st, ty;

	memset(counts, 0, sizeof(uint64_t) * JOB_STATUS_COUNT * JOB_TYPE_COUNT);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = store_unconst(COUNTS_KEY);
	k.size = sizeof(COUNTS_KEY) - 1;
	d.data = buf;
	d.ulen = sizeof(buf);
	d.flags = DB_DBT_USERMEM;
	ret = s->meta->get(s->meta, txn, &k, &d, flags);
	if (ret == DB_NOTFOUND)
		return (0);
	if (ret != 0) {
		return (store_txn_err(s, ret, cause, "read job counts"));
	}
	if (d.size != sizeof(buf)) {
		store_set_cause(cause, xasprintf("job counts record has %u bytes", d.size));
		return (-1);
	}
	for (st = 0; st < JOB_STATUS_COUNT; st++)
		for (ty = 0; ty < JOB_TYPE_COUNT; ty++)
			counts[st][ty] = store_get_be64(buf + (st * JOB_TYPE_COUNT + ty) * 8);
	return (0);
}

int
store_counts_add(struct store *s, DB_TXN *txn,
		 const int64_t delta[JOB_STATUS_COUNT][JOB_TYPE_COUNT], char **cause)
{
	uint64_t counts[JOB_STATUS_COUNT][JOB_TYPE_COUNT];
	uint8_t buf[JOB_STATUS_COUNT * JOB_TYPE_COUNT * 8];
	DBT k, d;
	int ret, st, ty;

	if ((ret = counts_read(s, txn, DB_RMW, counts, cause)) != 0)
		return (ret);
	for (st = 0; st < JOB_STATUS_COUNT; st++)
		for (ty = 0; ty < JOB_TYPE_COUNT; ty++) {
			uint64_t v = counts[st][ty] + (uint64_t)delta[st][ty];

			if (delta[st][ty] < 0 && (uint64_t)-delta[st][ty] > counts[st][ty])
				v = 0; /* never wrap below zero */
			store_be64(buf + (st * JOB_TYPE_COUNT + ty) * 8, v);
		}
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = store_unconst(COUNTS_KEY);
	k.size = sizeof(COUNTS_KEY) - 1;
	d.data = buf;
	d.size = sizeof(buf);
	if ((ret = s->meta->put(s->meta, txn, &k, &d, 0)) != 0) {
		return (store_txn_err(s, ret, cause, "write job counts"));
	}
	return (0);
}

struct counts_arg {
	uint64_t (*counts)[JOB_TYPE_COUNT];
	char *cause;
};

static int
counts_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct counts_arg *a = arg;

	return (counts_read(s, txn, 0, a->counts, &a->cause));
}

int
store_job_counts(struct store *s, uint64_t counts[JOB_STATUS_COUNT][JOB_TYPE_COUNT],
		 char **cause)
{
	struct counts_arg a = {counts, NULL};

	if (store_with_txn(s, STORE_READ_TXN, counts_txn, &a, cause) != 0) {
		if (a.cause != NULL)
			store_set_cause(cause, a.cause);
		return (-1);
	}
	return (0);
}

/* --- put / get ------------------------------------------------------------- */

static bool
job_valid(const struct job *j)
{
	return (j->no > 0 && (int)j->status >= 0 && j->status < JOB_STATUS_COUNT &&
		(int)j->type >= 0 && j->type < JOB_TYPE_COUNT);
}

int
store_job_put_raw(struct store *s, DB_TXN *txn, uint64_t no, const void *data, size_t len,
		  char **cause)
{
	uint8_t kb[8];
	DBT k, d;
	int ret;

	store_be64(kb, no);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = kb;
	k.size = sizeof(kb);
	d.data = store_unconst(data);
	d.size = len;
	if ((ret = s->jobs->put(s->jobs, txn, &k, &d, 0)) != 0) {
		return (store_txn_err(s, ret, cause, "write job-%llu",
						   (unsigned long long)no));
	}
	return (0);
}

struct put_arg {
	const struct job *j;
	const msgpack_sbuffer *buf;
	DBT old;
	char *cause;
};

static int
put_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct put_arg *a = arg;
	int64_t delta[JOB_STATUS_COUNT][JOB_TYPE_COUNT];
	struct job old;
	uint8_t kb[8];
	DBT k;
	int ret;
	bool changed = true;

	memset(delta, 0, sizeof(delta));
	store_be64(kb, a->j->no);
	memset(&k, 0, sizeof(k));
	k.data = kb;
	k.size = sizeof(kb);
	ret = s->jobs->get(s->jobs, txn, &k, &a->old, DB_RMW);
	if (ret == 0) {
		if (job_decode(a->old.data, a->old.size, &old, NULL) == 0) {
			if (old.status == a->j->status && old.type == a->j->type)
				changed = false;
			else
				delta[old.status][old.type]--;
			job_free(&old);
		} else
			log_warnx("job-%llu: replacing an undecodable record",
				  (unsigned long long)a->j->no);
	} else if (ret != DB_NOTFOUND) {
		return (store_txn_err(s, ret, &a->cause, "read job-%llu", (unsigned long long)a->j->no));
	}
	if ((ret = store_job_put_raw(s, txn, a->j->no, a->buf->data, a->buf->size,
				     &a->cause)) != 0)
		return (ret);
	if (!changed)
		return (0);
	delta[a->j->status][a->j->type]++;
	return (store_counts_add(s, txn, (const int64_t (*)[JOB_TYPE_COUNT])delta, &a->cause));
}

static int
job_put(struct store *s, const struct job *j, uint32_t flags, char **cause)
{
	struct put_arg a;
	msgpack_sbuffer buf;
	int r;

	if (store_check_writer(s, "store_job_put", cause) != 0)
		return (-1);
	if (!job_valid(j)) {
		store_set_cause(cause, xasprintf("job-%llu: invalid job record",
						 (unsigned long long)j->no));
		return (-1);
	}
	msgpack_sbuffer_init(&buf);
	if (job_encode(j, &buf) != 0) {
		msgpack_sbuffer_destroy(&buf);
		store_set_cause(cause, xasprintf("job-%llu: cannot encode",
						 (unsigned long long)j->no));
		return (-1);
	}
	memset(&a, 0, sizeof(a));
	a.j = j;
	a.buf = &buf;
	a.old.flags = DB_DBT_REALLOC;
	r = store_with_txn(s, flags, put_txn, &a, cause);
	free(a.old.data);
	msgpack_sbuffer_destroy(&buf);
	if (r != 0) {
		if (a.cause != NULL)
			store_set_cause(cause, a.cause);
		return (-1);
	}
	/* No checkpoint here: it writes every dirty page of the cache and would stall the
	 * supervisor's loop (seconds under a large sync). The supervisor runs
	 * `jobsd-worker --checkpoint` in a child process instead (supervisor.c), and
	 * store_close checkpoints when a writing role closes. */
	return (0);
}

int
store_job_put(struct store *s, const struct job *j, bool durable, char **cause)
{
	return (job_put(s, j, durable ? 0 : DB_TXN_NOSYNC, cause));
}

int
store_job_put_nosync(struct store *s, const struct job *j, char **cause)
{
	return (job_put(s, j, DB_TXN_WRITE_NOSYNC, cause));
}

int
store_log_flush(struct store *s, char **cause)
{
	int ret;

	if ((ret = s->env->log_flush(s->env, NULL)) != 0) {
		store_set_cause(cause, store_cause(s, ret, "log flush"));
		return (-1);
	}
	return (0);
}

struct get_arg {
	uint64_t no;
	DBT d;
	char *cause;
};

static int
get_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct get_arg *a = arg;
	uint8_t kb[8];
	DBT k;
	int ret;

	store_be64(kb, a->no);
	memset(&k, 0, sizeof(k));
	k.data = kb;
	k.size = sizeof(kb);
	ret = s->jobs->get(s->jobs, txn, &k, &a->d, 0);
	if (ret == DB_NOTFOUND)
		return (STORE_NOTFOUND);
	if (ret != 0) {
		return (store_txn_err(s, ret, &a->cause, "read job-%llu", (unsigned long long)a->no));
	}
	return (0);
}

int
store_job_get_raw(struct store *s, uint64_t no, void **data, size_t *len, char **cause)
{
	struct get_arg a;
	int r;

	memset(&a, 0, sizeof(a));
	a.no = no;
	a.d.flags = DB_DBT_REALLOC;
	r = store_with_txn(s, STORE_READ_TXN, get_txn, &a, cause);
	if (r != 0) {
		free(a.d.data);
		if (r == STORE_NOTFOUND)
			return (STORE_NOTFOUND);
		if (a.cause != NULL)
			store_set_cause(cause, a.cause);
		return (-1);
	}
	*data = a.d.data;
	*len = a.d.size;
	return (0);
}

int
store_job_get(struct store *s, uint64_t no, struct job *j, char **cause)
{
	void *data;
	size_t len;
	int r;

	job_init(j);
	if ((r = store_job_get_raw(s, no, &data, &len, cause)) != 0)
		return (r);
	r = job_decode(data, len, j, cause);
	free(data);
	return (r == 0 ? 0 : -1);
}

/* --- list ------------------------------------------------------------------ */

struct list_arg {
	const struct job_query *q;
	struct job *out;
	size_t n;
	bool has_more;
	char *cause;
	store_list_have_fn have; /* store_jobs_list_cached: skip the records held */
	void *have_arg;
	bool *loaded;
};

static void
list_reset(struct list_arg *a)
{
	while (a->n > 0) {
		a->n--;
		if (a->loaded == NULL || a->loaded[a->n])
			job_free(&a->out[a->n]);
	}
	a->has_more = false;
}

/*
 * The index walk of store_jobs_list_cached: a second handle on jobs_idx.db that is not
 * associated with jobs, so a cursor step returns the index key and the job number stored
 * under it without searching the primary (a pget on the associated handle always does).
 * The records of the jobs the caller does not hold are then read by number in the same
 * snapshot. The handle is the one store_jobs_bulk_open uses for the offline tool (that
 * role never lists through here); store_close closes it.
 */
static int
list_idx_handle(struct store *s, DB **out, char **cause)
{
	uint32_t flags = DB_MULTIVERSION | DB_AUTO_COMMIT;
	int ret;

	if (s->bulk_idx == NULL) {
		if (s->role == STORE_READER)
			flags |= DB_RDONLY;
		if ((ret = db_create(&s->bulk_idx, s->env, 0)) != 0 ||
		    (ret = s->bulk_idx->open(s->bulk_idx, NULL, "jobs_idx.db", NULL, DB_BTREE,
		    flags, 0)) != 0) {
			if (s->bulk_idx != NULL)
				s->bulk_idx->close(s->bulk_idx, 0);
			s->bulk_idx = NULL;
			store_set_cause(cause, store_cause(s, ret, "open jobs_idx.db for lists"));
			return (-1);
		}
	}
	*out = s->bulk_idx;
	return (0);
}

/* The index kind answering q, or 0 for the primary (no filter at all). */
static enum store_idx
list_kind(const struct job_query *q)
{
	bool st = q->status >= 0, ty = q->type >= 0;

	if (job_query_by_start(q)) {
		if (st && ty)
			return (IDX_STATUS_TYPE_START);
		if (st)
			return (IDX_STATUS_START);
		return (ty ? IDX_TYPE_START : IDX_START);
	}
	if (st && ty)
		return (IDX_STATUS_TYPE);
	if (st)
		return (IDX_STATUS);
	return (ty ? IDX_TYPE : 0);
}

/* One entry of store_jobs_list_cached's walk: the job number (the primary key, 8 bytes);
 * its record read and decoded unless the caller holds the job. */
static int
list_entry(struct store *s, DB_TXN *txn, struct list_arg *a, const uint8_t *pkey,
	   size_t pklen, DBT *d)
{
	struct job *j = &a->out[a->n];
	DBT k;
	uint64_t no;
	int ret;

	if (pklen != 8) {
		a->cause = xasprintf("list jobs: index entry with a %zu-byte job key", pklen);
		return (-1);
	}
	no = store_get_be64(pkey);
	if (a->have(no, a->have_arg)) {
		j->no = no; /* nothing else: the caller renders it from what it holds */
		a->loaded[a->n] = false;
		return (0);
	}
	memset(&k, 0, sizeof(k));
	k.data = store_unconst(pkey);
	k.size = 8;
	if ((ret = s->jobs->get(s->jobs, txn, &k, d, 0)) != 0) {
		return (store_txn_err(s, ret, &a->cause, "list jobs: read job-%llu",
				       (unsigned long long)no));
	}
	if (job_decode(d->data, d->size, j, &a->cause) != 0)
		return (-1);
	a->loaded[a->n] = true;
	return (0);
}

/* The DBTs of an index walk: the key in kbuf (its first klen bytes set), the primary key
 * in pbuf, the record in d (reallocated; the caller frees d->data). */
static void
cursor_dbts(DBT *k, uint8_t *kbuf, size_t kcap, size_t klen, DBT *pk, uint8_t *pbuf,
	    size_t pcap, DBT *d)
{
	memset(k, 0, sizeof(*k));
	memset(pk, 0, sizeof(*pk));
	memset(d, 0, sizeof(*d));
	k->data = kbuf;
	k->size = (u_int32_t)klen;
	k->ulen = (u_int32_t)kcap;
	k->flags = DB_DBT_USERMEM;
	pk->data = pbuf;
	pk->ulen = (u_int32_t)pcap;
	pk->flags = DB_DBT_USERMEM;
	d->flags = DB_DBT_REALLOC;
}

/*
 * One page: build the exclusive upper bound S (prefix + cursor position, or + the "to"
 * bound, or + all ones), position on the greatest key below S, and walk backwards while
 * the key keeps the prefix and its start time is not below "from". Reads first + 1 index
 * entries; the last one only tells whether there is a next page.
 */
static int
list_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct list_arg *a = arg;
	const struct job_query *q = a->q;
	enum store_idx kind = list_kind(q);
	uint8_t sk[IDX_KEY_MAX], kbuf[64], pbuf[8], ub[16];
	size_t plen, slen, ord;
	DBT k, pk, d;
	DBC *dbc = NULL;
	DB *db;
	bool by_start;
	int ret, r = 0;
	uint32_t flag;

	list_reset(a);
	by_start = kind != 0 && idx_by_start(kind);
	plen = kind != 0 ? store_idx_prefix(kind, q->status, q->type, sk) : 0;
	ord = by_start ? 16 : 8;
	if (by_start) {
		memset(ub, 0xff, sizeof(ub));
		if (q->has_to)
			store_be64(ub, start_enc(q->to_ms));
		if (q->has_after) {
			uint8_t after[16];

			store_be64(after, start_enc(q->after_start_ms));
			store_be64(after + 8, q->after_no);
			if (memcmp(after, ub, 16) < 0)
				memcpy(ub, after, 16);
		}
	} else if (q->has_after)
		store_be64(ub, q->after_no);
	else
		memset(ub, 0xff, 8);
	memcpy(sk + plen, ub, ord);
	slen = plen + ord;

	db = kind != 0 ? s->jobs_idx : s->jobs;
	if (a->have != NULL && kind != 0)
		db = s->bulk_idx; /* list_idx_handle: entries without their records */
	memcpy(kbuf, sk, slen);
	/* before any goto: out frees d.data */
	cursor_dbts(&k, kbuf, sizeof(kbuf), slen, &pk, pbuf, sizeof(pbuf), &d);
	if ((ret = db->cursor(db, txn, &dbc, 0)) != 0)
		goto dberr;
	if (a->have != NULL && kind == 0) {
		/* The primary walked for its keys only. */
		pk.flags = DB_DBT_USERMEM | DB_DBT_PARTIAL;
		pk.dlen = 0;
	}

	flag = DB_SET_RANGE;
	for (;;) {
		if (a->have != NULL)
			ret = dbc->get(dbc, &k, &pk, flag);
		else if (kind != 0)
			ret = dbc->pget(dbc, &k, &pk, &d, flag);
		else
			ret = dbc->get(dbc, &k, &d, flag);
		if (flag == DB_SET_RANGE) {
			/* At the first key >= S (step back) or past the end (take the last). */
			flag = DB_PREV;
			if (ret == DB_NOTFOUND) {
				flag = DB_LAST;
				continue;
			}
			if (ret == 0)
				continue;
		}
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0)
			goto dberr;
		flag = DB_PREV;
		if (k.size != slen || memcmp(kbuf, sk, plen) != 0)
			break;
		if (by_start && q->has_from &&
		    store_get_be64(kbuf + plen) < start_enc(q->from_ms))
			break;
		if (a->n == q->first) {
			a->has_more = true;
			break;
		}
		if (a->have != NULL) {
			if ((r = list_entry(s, txn, a, kind == 0 ? kbuf : pbuf,
			    kind == 0 ? k.size : pk.size, &d)) != 0)
				goto out;
			a->n++;
			continue;
		}
		if (job_decode(d.data, d.size, &a->out[a->n], &a->cause) != 0) {
			r = -1;
			goto out;
		}
		a->n++;
	}
	goto out;

dberr:
	r = store_txn_err(s, ret, &a->cause, "list jobs");
out:
	if (dbc != NULL)
		dbc->close(dbc);
	free(d.data);
	return (r);
}

int
store_jobs_list(struct store *s, const struct job_query *q, struct job *out, size_t *n,
		bool *has_more, char **cause)
{
	struct list_arg a;

	*n = 0;
	*has_more = false;
	if (q->first == 0)
		return (0);
	memset(&a, 0, sizeof(a));
	a.q = q;
	a.out = out;
	if (store_with_txn(s, STORE_READ_TXN, list_txn, &a, cause) != 0) {
		list_reset(&a);
		if (a.cause != NULL)
			store_set_cause(cause, a.cause);
		return (-1);
	}
	*n = a.n;
	*has_more = a.has_more;
	return (0);
}

int
store_jobs_list_cached(struct store *s, const struct job_query *q, store_list_have_fn have,
		       void *arg, struct job *out, bool *loaded, size_t *n, bool *has_more,
		       char **cause)
{
	struct list_arg a;
	DB *idx;

	*n = 0;
	*has_more = false;
	if (q->first == 0)
		return (0);
	if (list_idx_handle(s, &idx, cause) != 0)
		return (-1);
	memset(&a, 0, sizeof(a));
	a.q = q;
	a.out = out;
	a.have = have;
	a.have_arg = arg;
	a.loaded = loaded;
	if (store_with_txn(s, STORE_READ_TXN, list_txn, &a, cause) != 0) {
		list_reset(&a);
		if (a.cause != NULL)
			store_set_cause(cause, a.cause);
		return (-1);
	}
	*n = a.n;
	*has_more = a.has_more;
	return (0);
}

/* --- by status -------------------------------------------------------------- */

struct status_arg {
	enum job_status st;
	uint8_t last[IDX_KEY_MAX]; /* position after the previous batch */
	size_t lastlen;
	struct job jobs[BY_STATUS_BATCH];
	size_t n;
	char *cause;
};

/* Read the next batch of jobs with the status, oldest first, after a->last. */
static int
status_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct status_arg *a = arg;
	uint8_t prefix[4], kbuf[64], pbuf[8];
	size_t plen;
	DBT k, pk, d;
	DBC *dbc = NULL;
	uint32_t flag = DB_SET_RANGE;
	int ret, r = 0;

	while (a->n > 0)
		job_free(&a->jobs[--a->n]);
	plen = store_idx_prefix(IDX_STATUS, a->st, 0, prefix);
	if (a->lastlen == 0)
		memcpy(kbuf, prefix, plen);
	else
		memcpy(kbuf, a->last, a->lastlen);
	cursor_dbts(&k, kbuf, sizeof(kbuf), a->lastlen == 0 ? plen : a->lastlen, &pk, pbuf,
		    sizeof(pbuf), &d);
	if ((ret = s->jobs_idx->cursor(s->jobs_idx, txn, &dbc, 0)) != 0)
		goto dberr;
	while (a->n < BY_STATUS_BATCH) {
		ret = dbc->pget(dbc, &k, &pk, &d, flag);
		flag = DB_NEXT;
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0)
			goto dberr;
		if (k.size < plen || memcmp(kbuf, prefix, plen) != 0)
			break;
		if (a->lastlen != 0 && k.size == a->lastlen &&
		    memcmp(kbuf, a->last, a->lastlen) == 0)
			continue; /* the previous batch's last entry */
		if (job_decode(d.data, d.size, &a->jobs[a->n], &a->cause) != 0) {
			r = -1;
			goto out;
		}
		a->n++;
	}
	goto out;

dberr:
	r = store_txn_err(s, ret, &a->cause, "jobs by status");
out:
	if (dbc != NULL)
		dbc->close(dbc);
	free(d.data);
	return (r);
}

int
store_jobs_by_status(struct store *s, enum job_status st, store_job_cb cb, void *arg,
		     char **cause)
{
	struct status_arg *a;
	size_t i, n;
	int r = 0, stop = 0;

	if ((int)st < 0 || st >= JOB_STATUS_COUNT) {
		store_set_cause(cause, xasprintf("bad job status %d", (int)st));
		return (-1);
	}
	a = xcalloc(1, sizeof(*a));
	a->st = st;
	/* Batches read in their own short transaction; callbacks run outside it, so they
	 * may write the store (recovery marks running jobs failed). */
	do {
		if (store_with_txn(s, STORE_READ_TXN, status_txn, a, cause) != 0) {
			if (a->cause != NULL)
				store_set_cause(cause, a->cause);
			r = -1;
			break;
		}
		n = a->n;
		if (n > 0)
			a->lastlen = store_idx_key(IDX_STATUS, st, 0, 0, a->jobs[n - 1].no,
						   a->last);
		for (i = 0; i < n && !stop; i++)
			stop = cb(&a->jobs[i], arg);
	} while (n == BY_STATUS_BATCH && !stop);
	while (a->n > 0)
		job_free(&a->jobs[--a->n]);
	free(a);
	return (r);
}

/* --- retention -------------------------------------------------------------- */

struct prune_arg {
	int64_t cutoff_ms;
	uint64_t keep_count;
	size_t max_delete;
	size_t deleted;
	char *cause;
};

static int
prune_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct prune_arg *a = arg;
	uint64_t counts[JOB_STATUS_COUNT][JOB_TYPE_COUNT];
	int64_t delta[JOB_STATUS_COUNT][JOB_TYPE_COUNT];
	uint64_t finished = 0, rank = 0;
	uint8_t kbuf[8];
	struct job j;
	DBT k, d;
	DBC *dbc = NULL;
	int ret, r = 0, st, ty;

	a->deleted = 0;
	memset(delta, 0, sizeof(delta));
	if ((r = counts_read(s, txn, DB_RMW, counts, &a->cause)) != 0)
		return (r);
	for (st = 0; st < JOB_STATUS_COUNT; st++)
		if (job_status_is_final(st))
			for (ty = 0; ty < JOB_TYPE_COUNT; ty++)
				finished += counts[st][ty];

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = kbuf;
	k.ulen = sizeof(kbuf);
	k.flags = DB_DBT_USERMEM;
	d.flags = DB_DBT_REALLOC;
	if ((ret = s->jobs->cursor(s->jobs, txn, &dbc, 0)) != 0)
		goto dberr;
	while (a->deleted < a->max_delete) {
		bool by_count, by_age;

		if ((ret = dbc->get(dbc, &k, &d, DB_NEXT | DB_RMW)) == DB_NOTFOUND)
			break;
		if (ret != 0)
			goto dberr;
		if (job_decode(d.data, d.size, &j, &a->cause) != 0) {
			r = -1;
			goto out;
		}
		/* Creation order: nothing later is old enough or beyond keep_count. */
		by_count = a->keep_count < finished && rank < finished - a->keep_count;
		if (!by_count && j.created_ms >= a->cutoff_ms) {
			job_free(&j);
			break;
		}
		if (!job_status_is_final(j.status)) {
			job_free(&j);
			continue;
		}
		rank++;
		by_age = j.end_ms != JOB_NULL && j.end_ms < a->cutoff_ms;
		if (by_count || by_age) {
			if ((ret = dbc->del(dbc, 0)) != 0) {
				job_free(&j);
				goto dberr;
			}
			if ((r = store_job_log_delete(s, txn, j.no, &a->cause)) != 0) {
				job_free(&j);
				goto out;
			}
			delta[j.status][j.type]--;
			a->deleted++;
		}
		job_free(&j);
	}
	dbc->close(dbc);
	dbc = NULL;
	if (a->deleted > 0)
		r = store_counts_add(s, txn, (const int64_t (*)[JOB_TYPE_COUNT])delta,
				     &a->cause);
	goto out;

dberr:
	r = store_txn_err(s, ret, &a->cause, "prune jobs");
out:
	if (dbc != NULL)
		dbc->close(dbc);
	free(d.data);
	return (r);
}

/* cutoff_ms INT64_MIN keeps every job by age; keep_count UINT64_MAX keeps any number. */
int
store_jobs_prune(struct store *s, int64_t cutoff_ms, uint64_t keep_count, size_t max_delete,
		 size_t *deleted, char **cause)
{
	struct prune_arg a;

	*deleted = 0;
	if (store_check_writer(s, "store_jobs_prune", cause) != 0)
		return (-1);
	if (max_delete == 0)
		return (0);
	memset(&a, 0, sizeof(a));
	a.cutoff_ms = cutoff_ms;
	a.keep_count = keep_count;
	a.max_delete = max_delete;
	if (store_with_txn(s, 0, prune_txn, &a, cause) != 0) {
		if (a.cause != NULL)
			store_set_cause(cause, a.cause);
		return (-1);
	}
	*deleted = a.deleted;
	return (0);
}
