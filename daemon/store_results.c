/* store_results.c: the generic reader of a results database (results.h): one page in key
 * order after a given key, and one record by key. The database is opened read-only for
 * each call, in every role, so that a reader never creates it and a missing database (no
 * analysis has run yet) reads as empty. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_internal.h"
#include "store_results.h"

struct rec {
	char *key;
	size_t klen;
	void *val;
	size_t vlen;
};

struct list_arg {
	DB *db;
	const char *prefix;
	size_t plen;
	const char *after;
	size_t afterlen;
	size_t first;
	store_results_filter filter;
	void *farg;
	struct rec *recs;
	size_t n;
	bool more;
	char *cause;
};

/* Open db read-only; 0 with *out, STORE_NOTFOUND if it does not exist, -1 with cause. */
static int
results_open(struct store *s, const char *name, DB **out, char **cause)
{
	char file[256];
	DB *db;
	int ret;

	*out = NULL;
	if (snprintf(file, sizeof(file), "%s.db", name) >= (int)sizeof(file)) {
		store_set_cause(cause, xasprintf("database name too long: %s", name));
		return (-1);
	}
	if ((ret = db_create(&db, store_env(s), 0)) != 0) {
		store_set_cause(cause, store_cause(s, ret, "db_create %s", name));
		return (-1);
	}
	ret = db->open(db, NULL, file, NULL, DB_BTREE, DB_RDONLY | DB_AUTO_COMMIT, 0);
	if (ret == ENOENT) {
		db->close(db, 0);
		return (STORE_NOTFOUND);
	}
	if (ret != 0) {
		store_set_cause(cause, store_cause(s, ret, "open database %s in %s", file,
						   store_data_dir(s)));
		db->close(db, 0);
		return (-1);
	}
	*out = db;
	return (0);
}

static void
recs_free(struct list_arg *a)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		free(a->recs[i].key);
		free(a->recs[i].val);
	}
	a->n = 0;
}

/* Byte order, shorter first on a tie: Berkeley DB's default btree order. */
static int
bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n > 0 ? memcmp(a, b, n) : 0;

	if (c != 0)
		return (c);
	return (alen < blen ? -1 : alen > blen);
}

static bool
has_prefix(const struct list_arg *a, const DBT *k)
{
	return (a->plen == 0 ||
		(k->size >= a->plen && memcmp(k->data, a->prefix, a->plen) == 0));
}

static int
list_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct list_arg *a = arg;
	DBC *dbc = NULL;
	DBT k, v;
	struct rec *r;
	uint32_t op;
	int ret, take;

	recs_free(a);
	a->more = false;
	if ((ret = a->db->cursor(a->db, txn, &dbc, 0)) != 0)
		goto fail;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.flags = DB_DBT_REALLOC;
	v.flags = DB_DBT_REALLOC;
	op = DB_FIRST;
	/* Start at after when it is not before the prefix, else at the prefix. */
	if (a->after != NULL && bytes_cmp(a->after, a->afterlen, a->prefix, a->plen) >= 0) {
		k.data = xmalloc(a->afterlen > 0 ? a->afterlen : 1);
		memcpy(k.data, a->after, a->afterlen);
		k.size = (u_int32_t)a->afterlen;
		op = DB_SET_RANGE;
	} else if (a->plen > 0) {
		k.data = xmalloc(a->plen);
		memcpy(k.data, a->prefix, a->plen);
		k.size = (u_int32_t)a->plen;
		op = DB_SET_RANGE;
	}
	for (;;) {
		ret = dbc->get(dbc, &k, &v, op);
		if (ret == DB_NOTFOUND) {
			ret = 0;
			break;
		}
		if (ret != 0)
			goto fail;
		if (op == DB_SET_RANGE && a->after != NULL && k.size == a->afterlen &&
		    memcmp(k.data, a->after, a->afterlen) == 0) {
			op = DB_NEXT; /* the last key of the previous page */
			continue;
		}
		op = DB_NEXT;
		if (!has_prefix(a, &k))
			break;
		take = a->filter != NULL ? a->filter(k.data, k.size, v.data, v.size, a->farg) : 1;
		if (take <= 0)
			continue;
		if (a->n == a->first) {
			a->more = true;
			break;
		}
		r = &a->recs[a->n++];
		r->key = xmalloc(k.size + 1);
		memcpy(r->key, k.data, k.size);
		r->key[k.size] = '\0';
		r->klen = k.size;
		r->val = xmalloc(v.size > 0 ? v.size : 1);
		memcpy(r->val, v.data, v.size);
		r->vlen = v.size;
	}
	free(k.data);
	free(v.data);
	if ((ret = dbc->close(dbc)) != 0) {
		dbc = NULL;
		goto fail_nofree;
	}
	return (0);
fail:
	free(k.data);
	free(v.data);
	if (dbc != NULL)
		dbc->close(dbc);
fail_nofree:
	if (store_retryable(ret))
		return (ret);
	free(a->cause);
	a->cause = store_cause(s, ret, "read results");
	return (-1);
}

int
store_results_list(struct store *s, const char *db, const char *prefix,
		   const char *after_key, size_t afterlen, size_t first,
		   store_results_filter filter, void *farg, store_results_cb cb, void *arg,
		   bool *has_more, char **cause)
{
	struct list_arg a;
	char *c = NULL;
	size_t i;
	int rc, r = 0;

	*has_more = false;
	if (first == 0)
		return (0);
	memset(&a, 0, sizeof(a));
	if ((rc = results_open(s, db, &a.db, cause)) == STORE_NOTFOUND)
		return (0);
	if (rc != 0)
		return (-1);
	a.prefix = prefix;
	a.plen = prefix != NULL ? strlen(prefix) : 0;
	a.after = after_key;
	a.afterlen = afterlen;
	a.first = first;
	a.filter = filter;
	a.farg = farg;
	a.recs = xcalloc(first, sizeof(*a.recs));
	rc = store_with_txn(s, DB_READ_COMMITTED, list_txn, &a, &c);
	a.db->close(a.db, 0);
	if (rc != 0) {
		if (a.cause != NULL) {
			free(c);
			c = a.cause;
			a.cause = NULL;
		}
		store_set_cause(cause, c != NULL ? c : xstrdup("read results"));
		recs_free(&a);
		free(a.recs);
		return (-1);
	}
	*has_more = a.more;
	for (i = 0; i < a.n && r == 0; i++)
		r = cb(a.recs[i].key, a.recs[i].klen, a.recs[i].val, a.recs[i].vlen, arg);
	recs_free(&a);
	free(a.recs);
	free(a.cause);
	return (r);
}

struct get_arg {
	DB *db;
	const char *key;
	size_t klen;
	void *val;
	size_t vlen;
	char *cause;
};

static int
get_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct get_arg *a = arg;
	DBT k, v;
	int ret;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = store_unconst(a->key);
	k.size = (u_int32_t)a->klen;
	v.flags = DB_DBT_MALLOC;
	ret = a->db->get(a->db, txn, &k, &v, 0);
	if (ret == DB_NOTFOUND)
		return (0);
	if (ret != 0) {
		if (store_retryable(ret))
			return (ret);
		free(a->cause);
		a->cause = store_cause(s, ret, "read results");
		return (-1);
	}
	free(a->val);
	a->val = v.data;
	a->vlen = v.size;
	return (0);
}

int
store_results_get(struct store *s, const char *db, const char *key, size_t klen,
		  void **val, size_t *vlen, char **cause)
{
	struct get_arg a;
	char *c = NULL;
	int rc;

	*val = NULL;
	*vlen = 0;
	memset(&a, 0, sizeof(a));
	if ((rc = results_open(s, db, &a.db, cause)) != 0)
		return (rc);
	a.key = key;
	a.klen = klen;
	rc = store_with_txn(s, DB_READ_COMMITTED, get_txn, &a, &c);
	a.db->close(a.db, 0);
	if (rc != 0) {
		if (a.cause != NULL) {
			free(c);
			c = a.cause;
		}
		store_set_cause(cause, c != NULL ? c : xstrdup("read results"));
		free(a.val);
		return (-1);
	}
	free(a.cause);
	if (a.val == NULL)
		return (STORE_NOTFOUND);
	*val = a.val;
	*vlen = a.vlen;
	return (0);
}
