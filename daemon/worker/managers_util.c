/* managers_util.c: the owner table, the pausable scanner and the results-record helpers
 * shared by manager_resolution and enrichment (see managers_util.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "managers_util.h"

#define OT_ABSENT UINT64_MAX
#define OT_PRESENT (UINT64_MAX - 1)

void
mu_backoff(int attempt)
{
	struct timespec ts;

	ts.tv_sec = 0;
	ts.tv_nsec = (long)attempt * 10000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

void *
mu_reallocarray(void *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / size)
		fatalx("mu_reallocarray: %zu * %zu overflows", n, size);
	return xrealloc(p, n * size);
}

void
otab_init(struct otab *t, const char *const *fields, const enum otf_mode *mode, size_t nf)
{
	size_t i;

	memset(t, 0, sizeof *t);
	if (nf > OT_MAXF)
		fatalx("otab_init: too many fields");
	t->nf = nf;
	for (i = 0; i < nf; i++) {
		t->fname[i] = fields[i];
		t->mode[i] = mode[i];
	}
}

void
otab_free(struct otab *t)
{
	size_t i;

	free(t->off);
	free(t->arena);
	for (i = 0; i < OT_MAXF; i++)
		free(t->idx[i]);
	memset(t, 0, sizeof *t);
}

static uint64_t
arena_add(struct otab *t, const char *s, size_t len, bool fold)
{
	uint64_t at = t->alen;
	size_t i;

	if (t->alen + len + 1 > t->acap) {
		t->acap = t->acap == 0 ? 65536 : t->acap;
		while (t->alen + len + 1 > t->acap)
			t->acap *= 2;
		t->arena = xrealloc(t->arena, t->acap);
	}
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c == '\0')
			break; /* cannot be a lookup key past a NUL */
		if (fold && c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		t->arena[t->alen++] = c;
	}
	t->arena[t->alen++] = '\0';
	return at;
}

void
mu_progress(struct job_ctx *ctx, int lo, int hi, uint64_t done, uint64_t total)
{
	int pct;

	if (total == 0 || done >= total)
		pct = hi;
	else
		pct = lo + (int)((uint64_t)(hi - lo) * done / total);
	if (pct > ctx->progress)
		ctx->progress = pct;
	job_ctx_progress(ctx);
}

int
otab_load(struct otab *t, struct identity *id, char **cause)
{
	struct scan s;
	msgpack_unpacked u;
	msgpack_object_kv *kv;
	const void *k, *v;
	uint64_t *row;
	size_t klen, vlen, i, f, stride = 1 + t->nf, off;
	int rv;

	scan_init(&s, identity_db(id, IDENT_OWNER));
	msgpack_unpacked_init(&u);
	while ((rv = scan_next(&s, &k, &klen, &v, &vlen, cause)) == 0) {
		if (t->n == UINT32_MAX - 2) {
			*cause = xstrdup("too many owners");
			rv = -1;
			break;
		}
		if (t->n == t->cap) {
			t->cap = t->cap == 0 ? 1024 : t->cap * 2;
			t->off = mu_reallocarray(t->off, (size_t)t->cap * stride, sizeof *t->off);
		}
		row = t->off + (size_t)t->n * stride;
		row[0] = arena_add(t, k, klen, false);
		for (f = 0; f < t->nf; f++)
			row[1 + f] = OT_ABSENT;
		off = 0;
		if (msgpack_unpack_next(&u, v, vlen, &off) == MSGPACK_UNPACK_SUCCESS &&
		    u.data.type == MSGPACK_OBJECT_MAP) {
			for (i = 0; i < u.data.via.map.size; i++) {
				kv = &u.data.via.map.ptr[i];
				if (kv->key.type != MSGPACK_OBJECT_STR ||
				    kv->val.type != MSGPACK_OBJECT_STR ||
				    kv->val.via.str.size == 0)
					continue;
				for (f = 0; f < t->nf; f++) {
					if (strlen(t->fname[f]) != kv->key.via.str.size ||
					    memcmp(t->fname[f], kv->key.via.str.ptr,
					    kv->key.via.str.size) != 0)
						continue;
					if (t->mode[f] == OTF_PRESENCE)
						row[1 + f] = OT_PRESENT;
					else
						row[1 + f] = arena_add(t, kv->val.via.str.ptr,
						    kv->val.via.str.size, t->mode[f] == OTF_FOLD);
					break;
				}
			}
		}
		t->n++;
		if (t->on_rows != NULL && t->n % JOB_TICK_ROWS == 0)
			t->on_rows(t->rows_arg, t->n);
	}
	msgpack_unpacked_destroy(&u);
	scan_free(&s);
	if (rv == -1) {
		char *c = *cause;

		*cause = xasprintf("reading owners: %s", c);
		free(c);
		return -1;
	}
	return 0;
}

const char *
otab_id(const struct otab *t, uint32_t o)
{
	return t->arena + t->off[(size_t)o * (1 + t->nf)];
}

const char *
otab_str(const struct otab *t, uint32_t o, size_t f)
{
	uint64_t at = t->off[(size_t)o * (1 + t->nf) + 1 + f];

	if (at == OT_ABSENT)
		return NULL;
	if (at == OT_PRESENT)
		return "";
	return t->arena + at;
}

bool
otab_has(const struct otab *t, uint32_t o, size_t f)
{
	return t->off[(size_t)o * (1 + t->nf) + 1 + f] != OT_ABSENT;
}

struct sort_arg {
	const struct otab *t;
	size_t f;
};

static int
idx_cmp(const void *a, const void *b, void *arg)
{
	const struct sort_arg *sa = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	int c = strcmp(otab_str(sa->t, x, sa->f), otab_str(sa->t, y, sa->f));

	if (c != 0)
		return c;
	return x < y ? -1 : x > y;
}

void
otab_index(struct otab *t, size_t f)
{
	struct sort_arg sa = { t, f };
	uint32_t o, n = 0;

	free(t->idx[f]);
	t->idx[f] = mu_reallocarray(NULL, t->n > 0 ? t->n : 1, sizeof *t->idx[f]);
	for (o = 0; o < t->n; o++) {
		if (otab_has(t, o, f))
			t->idx[f][n++] = o;
	}
	t->nidx[f] = n;
	qsort_r(t->idx[f], n, sizeof *t->idx[f], idx_cmp, &sa);
}

/* Compare the NUL-terminated s with the len bytes of v (folded when fold). */
static int
keycmp(const char *s, const char *v, size_t len, bool fold)
{
	size_t i;
	unsigned char a, b;

	for (i = 0; i < len; i++) {
		a = (unsigned char)s[i];
		b = (unsigned char)v[i];
		if (fold && b >= 'A' && b <= 'Z')
			b = (unsigned char)(b - 'A' + 'a');
		if (a != b || a == '\0')
			return a < b ? -1 : a > b ? 1 : -1;
	}
	return s[len] == '\0' ? 0 : 1;
}

uint32_t
otab_find(const struct otab *t, size_t f, const char *v, size_t len, uint32_t *count)
{
	const uint32_t *ix = t->idx[f];
	bool fold = t->mode[f] == OTF_FOLD;
	uint32_t lo = 0, hi = t->nidx[f], mid, first, n = 0;

	if (count != NULL)
		*count = 0;
	if (len == 0 || memchr(v, '\0', len) != NULL || ix == NULL)
		return OT_NONE;
	while (lo < hi) { /* the first entry >= v */
		mid = lo + (hi - lo) / 2;
		if (keycmp(otab_str(t, ix[mid], f), v, len, fold) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	first = lo;
	while (lo < t->nidx[f] && keycmp(otab_str(t, ix[lo], f), v, len, fold) == 0) {
		lo++;
		n++;
	}
	if (count != NULL)
		*count = n;
	if (n == 0)
		return OT_NONE;
	return n == 1 ? ix[first] : OT_AMBIG;
}

uint32_t
otab_find_id(const struct otab *t, const char *v, size_t len)
{
	uint32_t lo = 0, hi = t->n, mid;
	int c;

	if (memchr(v, '\0', len) != NULL)
		return OT_NONE;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = keycmp(otab_id(t, mid), v, len, false);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return OT_NONE;
}

void
rec_strings(msgpack_unpacked *u, const void *data, size_t len, const char *const *names,
    size_t n, const char **v, size_t *vlen)
{
	const msgpack_object_kv *kv;
	size_t i, j, off = 0;

	for (j = 0; j < n; j++) {
		v[j] = NULL;
		vlen[j] = 0;
	}
	if (msgpack_unpack_next(u, data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    u->data.type != MSGPACK_OBJECT_MAP)
		return;
	for (i = 0; i < u->data.via.map.size; i++) {
		kv = &u->data.via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR)
			continue;
		for (j = 0; j < n; j++) {
			if (strlen(names[j]) == kv->key.via.str.size &&
			    memcmp(names[j], kv->key.via.str.ptr, kv->key.via.str.size) == 0) {
				v[j] = kv->val.via.str.ptr;
				vlen[j] = kv->val.via.str.size;
				break;
			}
		}
	}
}

/* --- scanner --------------------------------------------------------------------- */

void
scan_init(struct scan *s, DB *db)
{
	memset(s, 0, sizeof *s);
	s->db = db;
}

/* Position a fresh cursor after the last key returned (or at the first). */
static int
scan_get(struct scan *s, bool fresh)
{
	int ret;

	if (!fresh)
		return s->c->get(s->c, &s->k, &s->v, DB_NEXT);
	if ((ret = s->db->cursor(s->db, s->txn, &s->c,
	    s->txn == NULL ? DB_READ_COMMITTED : 0)) != 0) {
		s->c = NULL;
		return ret;
	}
	memset(&s->k, 0, sizeof s->k);
	memset(&s->v, 0, sizeof s->v);
	if (!s->have_last)
		return s->c->get(s->c, &s->k, &s->v, DB_FIRST);
	s->k.data = s->last;
	s->k.size = (u_int32_t)s->lastlen;
	ret = s->c->get(s->c, &s->k, &s->v, DB_SET_RANGE);
	/* The last key itself was returned before: skip it if still there. */
	if (ret == 0 && s->k.size == s->lastlen && memcmp(s->k.data, s->last, s->lastlen) == 0)
		ret = s->c->get(s->c, &s->k, &s->v, DB_NEXT);
	return ret;
}

int
scan_next(struct scan *s, const void **k, size_t *klen, const void **v, size_t *vlen,
    char **cause)
{
	int ret, tries = 0;

	if (s->done)
		return 1;
	ret = scan_get(s, s->c == NULL);
	/* Without a transaction a lock conflict with a writer (a sync) only costs the
	 * cursor: reopen it after the last key and go on. */
	while (ret == DB_LOCK_DEADLOCK && s->txn == NULL && ++tries <= 100) {
		scan_pause(s);
		ret = scan_get(s, true);
	}
	if (ret == DB_NOTFOUND) {
		s->done = true;
		return 1;
	}
	if (ret == DB_LOCK_DEADLOCK && s->txn != NULL)
		return MU_RETRY;
	if (ret != 0) {
		*cause = xasprintf("%s: %s", s->c == NULL ? "cursor" : "scan", db_strerror(ret));
		return -1;
	}
	if (s->k.size > s->lastcap) {
		s->lastcap = s->k.size + 64;
		s->last = xrealloc(s->last, s->lastcap);
	}
	memcpy(s->last, s->k.data, s->k.size);
	s->lastlen = s->k.size;
	s->have_last = true;
	*k = s->k.data;
	*klen = s->k.size;
	*v = s->v.data;
	*vlen = s->v.size;
	return 0;
}

int
scan_del(struct scan *s, char **cause)
{
	int ret;

	if ((ret = s->c->del(s->c, 0)) == DB_LOCK_DEADLOCK)
		return MU_RETRY;
	if (ret != 0) {
		*cause = xasprintf("delete: %s", db_strerror(ret));
		return -1;
	}
	return 0;
}

void
scan_pause(struct scan *s)
{
	if (s->c != NULL)
		s->c->close(s->c);
	s->c = NULL;
}

void
scan_free(struct scan *s)
{
	scan_pause(s);
	free(s->last);
	s->last = NULL;
}

void
scan_mark(struct scan *s, struct scan_mark *m)
{
	if (s->lastlen > m->lastcap) {
		m->lastcap = s->lastlen + 64;
		m->last = xrealloc(m->last, m->lastcap);
	}
	if (s->lastlen > 0)
		memcpy(m->last, s->last, s->lastlen);
	m->lastlen = s->lastlen;
	m->have_last = s->have_last;
	m->done = s->done;
}

void
scan_rewind(struct scan *s, const struct scan_mark *m)
{
	scan_pause(s);
	if (m->lastlen > s->lastcap) {
		s->lastcap = m->lastlen + 64;
		s->last = xrealloc(s->last, s->lastcap);
	}
	if (m->lastlen > 0)
		memcpy(s->last, m->last, m->lastlen);
	s->lastlen = m->lastlen;
	s->have_last = m->have_last;
	s->done = m->done;
}

void
scan_mark_free(struct scan_mark *m)
{
	free(m->last);
	memset(m, 0, sizeof *m);
}

/* --- results records ---------------------------------------------------------------- */

void
resw_init(struct resw *w)
{
	msgpack_sbuffer_init(&w->buf);
	msgpack_packer_init(&w->pk, &w->buf, msgpack_sbuffer_write);
}

void
resw_free(struct resw *w)
{
	msgpack_sbuffer_destroy(&w->buf);
}

void
res_begin(struct resw *w, size_t nfields)
{
	msgpack_sbuffer_clear(&w->buf);
	msgpack_pack_map(&w->pk, nfields + 1);
}

void
res_key(struct resw *w, const char *key)
{
	size_t len = strlen(key);

	msgpack_pack_str(&w->pk, len);
	msgpack_pack_str_body(&w->pk, key, len);
}

void
res_strn(struct resw *w, const char *key, const char *v, size_t len)
{
	res_key(w, key);
	msgpack_pack_str(&w->pk, len);
	msgpack_pack_str_body(&w->pk, v, len);
}

void
res_str(struct resw *w, const char *key, const char *v)
{
	if (v == NULL)
		res_nil(w, key);
	else
		res_strn(w, key, v, strlen(v));
}

void
res_int(struct resw *w, const char *key, int64_t v)
{
	res_key(w, key);
	msgpack_pack_int64(&w->pk, v);
}

void
res_nil(struct resw *w, const char *key)
{
	res_key(w, key);
	msgpack_pack_nil(&w->pk);
}

/* "_job" with its value in the fixed 9-byte form, so records compare by their prefix. */
void
res_end(struct resw *w, uint64_t job)
{
	unsigned char b[9];
	int i;

	res_key(w, "_job");
	b[0] = 0xcf;
	for (i = 8; i >= 1; i--) {
		b[i] = job & 0xff;
		job >>= 8;
	}
	msgpack_sbuffer_write(&w->buf, (const char *)b, sizeof b);
}

bool
res_same(const void *old, size_t oldlen, const struct resw *w)
{
	return oldlen == w->buf.size && oldlen >= 9 &&
	    memcmp(old, w->buf.data, oldlen - 9) == 0;
}

/* The value of field name in an unpacked map; NULL when absent. */
static const msgpack_object *
map_field(const msgpack_object *o, const char *name)
{
	size_t i, len = strlen(name);
	const msgpack_object_kv *kv;

	if (o->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == len &&
		    memcmp(kv->key.via.str.ptr, name, len) == 0)
			return &kv->val;
	}
	return NULL;
}

bool
res_field_same(const void *a, size_t alen, const void *b, size_t blen, const char *name)
{
	msgpack_unpacked ua, ub;
	const msgpack_object *fa = NULL, *fb = NULL;
	size_t oa = 0, ob = 0;
	bool same;

	msgpack_unpacked_init(&ua);
	msgpack_unpacked_init(&ub);
	if (msgpack_unpack_next(&ua, a, alen, &oa) == MSGPACK_UNPACK_SUCCESS)
		fa = map_field(&ua.data, name);
	if (msgpack_unpack_next(&ub, b, blen, &ob) == MSGPACK_UNPACK_SUCCESS)
		fb = map_field(&ub.data, name);
	if (fa != NULL && fa->type == MSGPACK_OBJECT_NIL)
		fa = NULL;
	if (fb != NULL && fb->type == MSGPACK_OBJECT_NIL)
		fb = NULL;
	if (fa == NULL || fb == NULL)
		same = fa == fb;
	else
		same = msgpack_object_equal(*fa, *fb);
	msgpack_unpacked_destroy(&ua);
	msgpack_unpacked_destroy(&ub);
	return same;
}

int
res_open(struct store *s, const char *name, DB **db, char **cause)
{
	return store_db_open(s, name, DB_BTREE, 0, db, cause);
}

/* A result key as a DBT (the key's bytes, no NUL). */
static void
key_dbt(DBT *k, const char *key)
{
	memset(k, 0, sizeof *k);
	k->data = (void *)(uintptr_t)key;
	k->size = (u_int32_t)strlen(key);
}

/* 0, STORE_NOTFOUND, MU_RETRY (deadlock: the caller retries the transaction), or -1 with
 * *cause naming the operation and the key. */
static int
res_status(int ret, const char *op, const char *key, char **cause)
{
	if (ret == 0)
		return 0;
	if (ret == DB_NOTFOUND)
		return STORE_NOTFOUND;
	if (ret == DB_LOCK_DEADLOCK)
		return MU_RETRY;
	*cause = xasprintf("%s %s: %s", op, key, db_strerror(ret));
	return -1;
}

int
res_get(DB *db, DB_TXN *txn, const char *key, void **data, size_t *len, char **cause)
{
	DBT k, v;
	int rc;

	key_dbt(&k, key);
	memset(&v, 0, sizeof v);
	v.flags = DB_DBT_MALLOC;
	if ((rc = res_status(db->get(db, txn, &k, &v, 0), "get", key, cause)) != 0)
		return rc;
	*data = v.data;
	*len = v.size;
	return 0;
}

int
res_put(DB *db, DB_TXN *txn, const char *key, const struct resw *w, char **cause)
{
	DBT k, v;

	key_dbt(&k, key);
	memset(&v, 0, sizeof v);
	v.data = w->buf.data;
	v.size = (u_int32_t)w->buf.size;
	return res_status(db->put(db, txn, &k, &v, 0), "put", key, cause);
}

int
res_del(DB *db, DB_TXN *txn, const char *key, char **cause)
{
	DBT k;

	key_dbt(&k, key);
	return res_status(db->del(db, txn, &k, 0), "delete", key, cause);
}

int
res_txn_begin(struct store *s, DB_TXN **txn, char **cause)
{
	DB_ENV *env = store_env(s);
	int ret;

	/* Written to the log file at commit, not fsynced (store.c). */
	if ((ret = env->txn_begin(env, NULL, txn, 0)) != 0) {
		*cause = xasprintf("cannot begin a transaction: %s", db_strerror(ret));
		return -1;
	}
	return 0;
}

int
res_prune(struct job_ctx *ctx, DB *db, res_keep_fn keep, void *arg, int64_t *counter,
    uint64_t *ndeleted, char **cause)
{
	struct scan s;
	struct scan_mark m;
	const void *k, *v;
	size_t klen, vlen, n, seen;
	char *key = NULL;
	int rv, ret, res = JOB_RUN_FAILED, retries = 0;

	scan_init(&s, db);
	memset(&m, 0, sizeof m);
	for (;;) {
		if (ctx->aborted) {
			*cause = xstrdup("stopped: the supervisor went away");
			goto out;
		}
		if (res_txn_begin(ctx->store, &s.txn, cause) != 0)
			goto out;
		scan_mark(&s, &m);
		n = seen = 0;
		while ((rv = scan_next(&s, &k, &klen, &v, &vlen, cause)) == 0) {
			key = xrealloc(key, klen + 1);
			memcpy(key, k, klen);
			key[klen] = '\0';
			if (!keep(key, klen, arg)) {
				if ((rv = scan_del(&s, cause)) != 0)
					break;
				n++;
			}
			if (n >= ctx->batch_size || ++seen >= ctx->batch_size * 16)
				break;
		}
		if (rv == MU_RETRY && ++retries <= MU_RETRIES) {
			scan_pause(&s);
			s.txn->abort(s.txn);
			s.txn = NULL;
			scan_rewind(&s, &m);
			mu_backoff(retries);
			continue;
		}
		scan_pause(&s);
		if (rv < 0) {
			if (rv == MU_RETRY)
				*cause = xstrdup("lock conflicts: giving up after retries");
			s.txn->abort(s.txn);
			s.txn = NULL;
			goto out;
		}
		retries = 0;
		ret = s.txn->commit(s.txn, 0);
		s.txn = NULL;
		if (ret != 0) {
			*cause = xasprintf("cannot commit deletions: %s", db_strerror(ret));
			goto out;
		}
		if (counter != NULL)
			*counter += (int64_t)n;
		if (ndeleted != NULL)
			*ndeleted += n;
		if (rv == 1)
			break;
		if (n > 0) {
			job_ctx_progress(ctx);
			job_ctx_delay(ctx);
			if (job_ctx_cancelled(ctx)) {
				res = JOB_RUN_CANCELLED;
				goto out;
			}
		}
	}
	res = JOB_RUN_OK;
out:
	scan_free(&s);
	scan_mark_free(&m);
	free(key);
	return res;
}
