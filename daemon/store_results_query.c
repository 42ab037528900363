/* store_results_query.c: the results resources of the API (store_results.h): which database
 * each reads, its filters (as a key prefix where the key format allows it), validation, and
 * the cursors that bind a page position to the resource and its filters. The supervisor
 * (MSG_CTL_RESULTS, for jobctl) and jobsd-http both answer through here. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "results.h"
#include "results_cursor.h"
#include "store_internal.h"
#include "store_results.h"

static const struct res_def {
	const char *name;
	const char *db;
	bool list;
	const char *array; /* list page array, or NULL */
	const char *thing; /* what a 404 names */
} defs[RESULTS_RES_COUNT] = {
	[RESULTS_ROLES] = {"roles", RES_DB_ROLES, true, "roles", "role"},
	[RESULTS_ROLE_MEMBERS] = {"role_members", RES_DB_ROLE_MEMBERS, true, "members", "role"},
	[RESULTS_VIOLATIONS] = {"violations", RES_DB_VIOLATIONS, true, "violations", NULL},
	[RESULTS_ORPHANS] = {"orphans", RES_DB_ORPHANS, true, "orphans", NULL},
	[RESULTS_MANAGER_ISSUES] = {"manager_issues", RES_DB_MANAGER_ISSUES, true, "issues",
				    NULL},
	[RESULTS_ROLE] = {"role", RES_DB_ROLES, false, NULL, "role"},
	[RESULTS_OWNER_MANAGER] = {"owner_manager", RES_DB_OWNER_MANAGERS, false, NULL, "owner"},
	[RESULTS_ACCOUNT_LINK] = {"account_link", RES_DB_ACCOUNT_LINKS, false, NULL, "account"},
};

#define MEMBER_SEP "\x1f"

int
results_res_parse(const char *s, size_t len)
{
	int i;

	for (i = 0; i < RESULTS_RES_COUNT; i++) {
		if (strlen(defs[i].name) == len && memcmp(defs[i].name, s, len) == 0)
			return (i);
	}
	return (-1);
}

const char *
results_res_name(enum results_res r)
{
	return ((unsigned)r < RESULTS_RES_COUNT ? defs[r].name : "unknown");
}

bool
results_res_is_list(enum results_res r)
{
	return ((unsigned)r < RESULTS_RES_COUNT && defs[r].list);
}

const char *
results_res_array(enum results_res r)
{
	return ((unsigned)r < RESULTS_RES_COUNT && defs[r].array != NULL ? defs[r].array
									 : "items");
}

const char *
results_res_thing(enum results_res r)
{
	return ((unsigned)r < RESULTS_RES_COUNT && defs[r].thing != NULL ? defs[r].thing
									 : "record");
}

void
results_query_init(struct results_query *q, enum results_res res)
{
	memset(q, 0, sizeof(*q));
	q->res = res;
	q->first = RESULTS_FIRST_DEFAULT;
}

static void err_set(struct results_err *e, int status, const char *code,
		    const char *parameter, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
err_set(struct results_err *e, int status, const char *code, const char *parameter,
	const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	e->code = code;
	e->parameter = parameter;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

static int
check_value(const char *v, const char *name, struct results_err *e)
{
	size_t len = strlen(v);

	if (len == 0 || len > RESULTS_ID_MAX) {
		err_set(e, 400, "invalid_parameter", name, "%s must be 1 to %d bytes", name,
			RESULTS_ID_MAX);
		return (-1);
	}
	return (0);
}

static int
not_taken(const char *v, const char *name, struct results_err *e)
{
	if (v == NULL)
		return (0);
	err_set(e, 400, "unknown_parameter", name, "unknown parameter '%s'", name);
	return (-1);
}

int
results_query_check(const struct results_query *q, struct results_err *e)
{
	memset(e, 0, sizeof(*e));
	if ((unsigned)q->res >= RESULTS_RES_COUNT) {
		err_set(e, 400, "invalid_parameter", "resource", "unknown resource");
		return (-1);
	}
	if (q->res != RESULTS_VIOLATIONS &&
	    (not_taken(q->policy, "policy", e) != 0 ||
	     not_taken(q->subject_kind, "subject_kind", e) != 0))
		return (-1);
	if (q->res != RESULTS_MANAGER_ISSUES && not_taken(q->kind, "kind", e) != 0)
		return (-1);
	if (!defs[q->res].list && q->after != NULL) {
		err_set(e, 400, "unknown_parameter", "after", "unknown parameter 'after'");
		return (-1);
	}
	if (q->res == RESULTS_ROLE_MEMBERS || !defs[q->res].list) {
		if (q->id == NULL || q->idlen == 0 || q->idlen > RESULTS_ID_MAX ||
		    memchr(q->id, '\0', q->idlen) != NULL) {
			err_set(e, 400, "invalid_parameter", "id", "id must be 1 to %d bytes",
				RESULTS_ID_MAX);
			return (-1);
		}
	}
	if (q->first < 1 || q->first > RESULTS_FIRST_MAX) {
		err_set(e, 400, "invalid_parameter", "first",
			"first must be an integer from 1 to %d", RESULTS_FIRST_MAX);
		return (-1);
	}
	if (q->policy != NULL) {
		if (check_value(q->policy, "policy", e) != 0)
			return (-1);
		if (strchr(q->policy, '|') != NULL) {
			err_set(e, 400, "invalid_parameter", "policy",
				"policy must not contain '|'");
			return (-1);
		}
	}
	if (q->subject_kind != NULL && strcmp(q->subject_kind, "role") != 0 &&
	    strcmp(q->subject_kind, "owner") != 0 && strcmp(q->subject_kind, "account") != 0) {
		err_set(e, 400, "invalid_parameter", "subject_kind",
			"subject_kind must be one of role, owner, account");
		return (-1);
	}
	if (q->kind != NULL && strcmp(q->kind, "missing") != 0 && strcmp(q->kind, "cycle") != 0) {
		err_set(e, 400, "invalid_parameter", "kind", "kind must be one of missing, cycle");
		return (-1);
	}
	return (0);
}

/* The key prefix that answers q's filters (malloc'd; "" for none) and the filter string a
 * cursor is bound to. */
static void
query_shape(const struct results_query *q, char **prefix, char **filter)
{
	switch (q->res) {
	case RESULTS_ROLE_MEMBERS:
		*prefix = xasprintf("%.*s" MEMBER_SEP, (int)q->idlen, q->id);
		*filter = xasprintf("role=%.*s", (int)q->idlen, q->id);
		break;
	case RESULTS_VIOLATIONS:
		if (q->policy != NULL && q->subject_kind != NULL)
			*prefix = xasprintf("%s|%s|", q->policy, q->subject_kind);
		else if (q->policy != NULL)
			*prefix = xasprintf("%s|", q->policy);
		else
			*prefix = xstrdup("");
		*filter = xasprintf("policy=%s" MEMBER_SEP "subject_kind=%s",
				    q->policy != NULL ? q->policy : "",
				    q->subject_kind != NULL ? q->subject_kind : "");
		break;
	case RESULTS_MANAGER_ISSUES:
		*prefix = q->kind != NULL ? xasprintf("%s:", q->kind) : xstrdup("");
		*filter = xasprintf("kind=%s", q->kind != NULL ? q->kind : "");
		break;
	default:
		*prefix = xstrdup("");
		*filter = xstrdup("");
		break;
	}
}

/* violations by subject kind alone: "<policy>|<kind>|<id>", the kind after the first '|'. */
static int
subject_kind_filter(const char *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	const char *kind = arg, *bar = memchr(key, '|', klen);
	size_t n = strlen(kind), rest;

	if (bar == NULL)
		return (0);
	rest = klen - (size_t)(bar + 1 - key);
	return (rest > n && memcmp(bar + 1, kind, n) == 0 && bar[1 + n] == '|');
}

struct page_arg {
	const struct results_query *q;
	size_t plen; /* the member prefix, stripped from the shown id */
	results_item_cb cb;
	void *arg;
	char *last;
	size_t lastlen;
	char *cause;
};

/* Unpack one value and hand it on; -1 with cause if it is not a msgpack map. */
static int
emit(const char *id, size_t idlen, const char *key, const void *val, size_t vlen,
     results_item_cb cb, void *arg, char **cause)
{
	msgpack_unpacked u;
	size_t off = 0;
	int r;

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, val, vlen, &off) != MSGPACK_UNPACK_SUCCESS ||
	    off != vlen || u.data.type != MSGPACK_OBJECT_MAP) {
		msgpack_unpacked_destroy(&u);
		*cause = xasprintf("record '%s' is not a msgpack map", key);
		return (-1);
	}
	r = cb(id, idlen, &u.data, arg);
	msgpack_unpacked_destroy(&u);
	return (r);
}

static int
page_cb(const char *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct page_arg *p = arg;
	size_t skip = p->plen <= klen ? p->plen : 0;

	free(p->last);
	p->last = xmalloc(klen + 1);
	memcpy(p->last, key, klen);
	p->last[klen] = '\0';
	p->lastlen = klen;
	return (emit(key + skip, klen - skip, key, val, vlen, p->cb, p->arg, &p->cause));
}

int
results_query_list(struct store *s, const uint8_t *ckey, const struct results_query *q,
		   results_item_cb cb, void *arg, bool *has_more, char **end_cursor,
		   struct results_err *e, char **cause)
{
	struct page_arg p;
	char *prefix = NULL, *filter = NULL, *after = NULL, *c = NULL;
	size_t afterlen = 0;
	void *v = NULL;
	size_t vlen;
	int rc, ret = -1;

	*has_more = false;
	*end_cursor = NULL;
	if (results_query_check(q, e) != 0)
		return (-1);
	if (!defs[q->res].list) {
		err_set(e, 400, "invalid_parameter", "resource", "not a list");
		return (-1);
	}
	query_shape(q, &prefix, &filter);
	if (q->after != NULL &&
	    results_cursor_decode(ckey, defs[q->res].name, filter, q->after, q->afterlen,
				  &after, &afterlen) != 0) {
		err_set(e, 400, "invalid_parameter", "after", "after is not a cursor of this query");
		goto out;
	}
	if (q->res == RESULTS_ROLE_MEMBERS) {
		/* The role must exist (an unknown role is a 404, not an empty list). */
		rc = store_results_get(s, RES_DB_ROLES, q->id, q->idlen, &v, &vlen, &c);
		free(v);
		if (rc == STORE_NOTFOUND) {
			err_set(e, 404, "not_found", NULL, "no such role");
			goto out;
		}
		if (rc != 0)
			goto internal;
	}
	memset(&p, 0, sizeof(p));
	p.q = q;
	p.plen = q->res == RESULTS_ROLE_MEMBERS ? strlen(prefix) : 0;
	p.cb = cb;
	p.arg = arg;
	rc = store_results_list(s, defs[q->res].db, prefix[0] != '\0' ? prefix : NULL, after,
				afterlen, q->first,
				q->res == RESULTS_VIOLATIONS && q->policy == NULL &&
				    q->subject_kind != NULL ? subject_kind_filter : NULL,
				store_unconst(q->subject_kind), page_cb, &p, has_more, &c);
	if (rc != 0) {
		free(p.last);
		if (p.cause != NULL) {
			free(c);
			c = p.cause;
		}
		if (c == NULL) {
			/* the caller's callback stopped the page */
			ret = rc;
			goto out;
		}
		goto internal;
	}
	if (p.last != NULL)
		*end_cursor = results_cursor_encode(ckey, defs[q->res].name, filter, p.last,
						    p.lastlen);
	free(p.last);
	ret = 0;
	goto out;
internal:
	err_set(e, 500, "internal_error", NULL, "internal error");
	store_set_cause(cause, c);
	c = NULL;
out:
	free(c);
	free(prefix);
	free(filter);
	free(after);
	return (ret);
}

int
results_query_get(struct store *s, const struct results_query *q, results_item_cb cb,
		  void *arg, struct results_err *e, char **cause)
{
	enum results_res res = q->res;
	char *c = NULL, *key;
	void *v = NULL;
	size_t vlen;
	int rc;

	if (results_query_check(q, e) != 0)
		return (-1);
	if (defs[res].list) {
		err_set(e, 400, "invalid_parameter", "resource", "not a single record");
		return (-1);
	}
	rc = store_results_get(s, defs[res].db, q->id, q->idlen, &v, &vlen, &c);
	if (rc == STORE_NOTFOUND) {
		err_set(e, 404, "not_found", NULL, "no such %s", defs[res].thing);
		return (-1);
	}
	if (rc != 0) {
		err_set(e, 500, "internal_error", NULL, "internal error");
		store_set_cause(cause, c);
		return (-1);
	}
	key = xstrndup(q->id, q->idlen);
	rc = emit(q->id, q->idlen, key, v, vlen, cb, arg, &c);
	free(key);
	free(v);
	if (rc == -1 && c != NULL) {
		err_set(e, 500, "internal_error", NULL, "internal error");
		store_set_cause(cause, c);
		return (-1);
	}
	return (rc);
}
