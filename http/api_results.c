/* api_results.c: the analysis results endpoints (read-only, Administrator token): roles and
 * their members, policy violations, orphan accounts, manager issues, an owner's resolved
 * manager and an account's owner link. Lists are paginated like the jobs list (first
 * 1..1000, default 50; after = an opaque cursor) and answer {"<resource>": [...],
 * "pageInfo": {...}}; a resource nobody has computed yet reads as an empty list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "results_json.h"
#include "store.h"
#include "store_results.h"

static const uint8_t zero_key[CURSOR_KEY_LEN];

struct route_res {
	enum route_id route;
	enum results_res res;
	const char *params[5]; /* accepted query parameters, NULL-terminated */
};

static const struct route_res table[] = {
	{ROUTE_ROLES, RESULTS_ROLES, {"first", "after", NULL}},
	{ROUTE_ROLE, RESULTS_ROLE, {NULL}},
	{ROUTE_ROLE_MEMBERS, RESULTS_ROLE_MEMBERS, {"first", "after", NULL}},
	{ROUTE_VIOLATIONS, RESULTS_VIOLATIONS, {"first", "after", "policy", "subject_kind", NULL}},
	{ROUTE_ORPHANS, RESULTS_ORPHANS, {"first", "after", NULL}},
	{ROUTE_MANAGER_ISSUES, RESULTS_MANAGER_ISSUES, {"first", "after", "kind", NULL}},
	{ROUTE_OWNER_MANAGER, RESULTS_OWNER_MANAGER, {NULL}},
	{ROUTE_ACCOUNT_LINK, RESULTS_ACCOUNT_LINK, {NULL}},
};

/* first: 1..1000, decimal digits only. */
static int
parse_first(const char *s, size_t len, uint32_t *out)
{
	uint32_t v = 0;
	size_t i;

	if (len == 0 || len > 6)
		return (-1);
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (-1);
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v < 1 || v > RESULTS_FIRST_MAX)
		return (-1);
	*out = v;
	return (0);
}

/* Every parameter known to the route, values without NUL bytes; 0 or r set to the 400. */
static int
check_params(const struct route_res *rr, const struct query *q, struct http_response *r)
{
	char msg[128];
	size_t i, k;

	for (i = 0; i < q->n; i++) {
		for (k = 0; rr->params[k] != NULL; k++) {
			if (strcmp(q->p[i].name, rr->params[k]) == 0)
				break;
		}
		if (rr->params[k] == NULL) {
			snprintf(msg, sizeof(msg), "unknown parameter '%.64s'", q->p[i].name);
			http_response_error(r, 400, "unknown_parameter", msg, q->p[i].name);
			return (-1);
		}
		if (strlen(q->p[i].value) != q->p[i].value_len) {
			snprintf(msg, sizeof(msg), "%s must not contain NUL", q->p[i].name);
			http_response_error(r, 400, "invalid_parameter", msg, q->p[i].name);
			return (-1);
		}
	}
	return (0);
}

static const char *
param(const struct query *q, const char *name)
{
	const struct query_param *p = query_get(q, name);

	return (p != NULL ? p->value : NULL);
}

static int
item_cb(const char *id, size_t idlen, const msgpack_object *map, void *arg)
{
	return (results_json_record(arg, id, idlen, map) == 0 ? 0 : -1);
}

static void
fail(struct http_response *r, const struct results_err *e, char *cause)
{
	if (e->status == 500 || e->status == 0) {
		log_warnx("results: %s", cause != NULL ? cause : "error");
		free(cause);
		http_response_error(r, 500, "internal_error", "internal error", NULL);
		return;
	}
	free(cause);
	http_response_error(r, e->status, e->code, e->message, e->parameter);
}

static void
done(yajl_gen g, struct http_response *r)
{
	const unsigned char *out;
	size_t len;

	yajl_gen_get_buf(g, &out, &len);
	http_response_json(r, 200, (const char *)out, len);
	yajl_gen_free(g);
}

void
api_results(struct api *a, enum route_id route, const char *id, size_t idlen,
	    const struct query *q, struct http_response *r)
{
	const struct route_res *rr = NULL;
	const struct query_param *p;
	struct results_query rq;
	struct results_err e;
	char *dec = NULL, *cause = NULL, *end = NULL;
	size_t declen = 0, i;
	bool more = false;
	yajl_gen g;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (table[i].route == route)
			rr = &table[i];
	}
	if (rr == NULL) {
		http_response_error(r, 404, "not_found", "no such resource", NULL);
		return;
	}
	if (check_params(rr, q, r) != 0)
		return;
	if (a->store == NULL) {
		http_response_error(r, 503, "unavailable", "the job store is not available",
				    NULL);
		return;
	}
	results_query_init(&rq, rr->res);
	if (id != NULL) {
		if (pct_decode(id, idlen, false, &dec, &declen) != 0 ||
		    memchr(dec, '\0', declen) != NULL) {
			free(dec);
			http_response_error(r, 404, "not_found", "no such resource", NULL);
			return;
		}
		rq.id = dec;
		rq.idlen = declen;
	}
	if ((p = query_get(q, "first")) != NULL &&
	    parse_first(p->value, p->value_len, &rq.first) != 0) {
		free(dec);
		http_response_error(r, 400, "invalid_parameter",
				    "first must be an integer from 1 to 1000", "first");
		return;
	}
	if ((p = query_get(q, "after")) != NULL) {
		rq.after = p->value;
		rq.afterlen = p->value_len;
	}
	rq.policy = param(q, "policy");
	rq.subject_kind = param(q, "subject_kind");
	rq.kind = param(q, "kind");

	g = results_json_gen();
	if (results_res_is_list(rq.res)) {
		results_json_page_open(g, results_res_array(rq.res));
		if (results_query_list(a->store, a->cursor_key != NULL ? a->cursor_key : zero_key,
				       &rq, item_cb, g, &more, &end, &e, &cause) != 0) {
			yajl_gen_free(g);
			free(dec);
			fail(r, &e, cause);
			return;
		}
		results_json_page_close(g, more, end);
		free(end);
	} else if (results_query_get(a->store, &rq, item_cb, g, &e, &cause) != 0) {
		yajl_gen_free(g);
		free(dec);
		fail(r, &e, cause);
		return;
	}
	free(dec);
	done(g, r);
}
