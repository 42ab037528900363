/* api_jobs.c: the Jobs API handlers (DESIGN.md section 3): list with filters and cursors,
 * running, one job, progress (read straight from the store; progress there may lag the
 * supervisor by up to progress_interval_ms), cancel and submit (sent to the supervisor). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_tree.h>

#include "http.h"
#include "log.h"
#include "render_cache.h"
#include "store.h"
#include "timeutil.h"

static const char *const list_params[] = {"job_type", "status", "start_date", "end_date",
					  "first", "after"};

static const uint8_t zero_key[CURSOR_KEY_LEN];

static void bad(struct http_response *r, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The cursor key (a zero key when running without a store, e.g. under the fuzzer). */
static const uint8_t *
key(const struct api *a)
{
	return (a->cursor_key != NULL ? a->cursor_key : zero_key);
}
static void
bad(struct http_response *r, const char *param, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_response_error(r, 400, "invalid_parameter", msg, param);
}

static void
internal(struct http_response *r, const char *what, char *cause)
{
	log_warnx("%s: %s", what, cause != NULL ? cause : "error");
	free(cause);
	http_response_error(r, 500, "internal_error", "internal error", NULL);
}

static bool
no_store(struct api *a, struct http_response *r)
{
	if (a->store != NULL)
		return (false);
	http_response_error(r, 503, "unavailable", "the job store is not available", NULL);
	return (true);
}

static yajl_gen
gen_new(void)
{
	yajl_gen g;

	if ((g = yajl_gen_alloc(NULL)) == NULL)
		fatalx("yajl_gen_alloc");
	return (g);
}

static void
gen_str(yajl_gen g, const char *s)
{
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static void
gen_done(yajl_gen g, int status, struct http_response *r)
{
	const unsigned char *out;
	size_t len;

	yajl_gen_get_buf(g, &out, &len);
	http_response_json(r, status, (const char *)out, len);
	yajl_gen_free(g);
}

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
	if (v < 1 || v > 1000)
		return (-1);
	*out = v;
	return (0);
}

/* A date parameter. A raw '+' of a zone offset ("T05:00:00+02:00") arrives as a space
 * after form decoding, so a space exactly where the offset sign belongs (before a
 * trailing "HH:MM", after the time) is read as '+'. */
static int
parse_date_param(const struct query_param *p, bool end_of_day, int64_t *ms)
{
	char v[64];
	size_t len = p->value_len;

	if (len < 17 || len >= sizeof(v) || p->value[len - 6] != ' ')
		return (time_parse_iso8601(p->value, len, end_of_day, ms));
	memcpy(v, p->value, len);
	v[len - 6] = '+';
	return (time_parse_iso8601(v, len, end_of_day, ms));
}

int
api_list_query(struct api *a, const struct query *q, struct job_query *jq,
	       struct http_response *r)
{
	const struct query_param *p;
	size_t i, k;
	int v;
	char msg[128];

	job_query_init(jq);
	for (i = 0; i < q->n; i++) {
		for (k = 0; k < sizeof(list_params) / sizeof(list_params[0]); k++) {
			if (strcmp(q->p[i].name, list_params[k]) == 0)
				break;
		}
		if (k == sizeof(list_params) / sizeof(list_params[0])) {
			snprintf(msg, sizeof(msg), "unknown parameter '%.64s'", q->p[i].name);
			http_response_error(r, 400, "unknown_parameter", msg, q->p[i].name);
			return (-1);
		}
	}
	if ((p = query_get(q, "job_type")) != NULL) {
		if ((v = job_type_parse(p->value, p->value_len)) < 0) {
			bad(r, "job_type", "job_type must be one of the job types");
			return (-1);
		}
		jq->type = v;
	}
	if ((p = query_get(q, "status")) != NULL) {
		if ((v = job_status_parse(p->value, p->value_len)) < 0) {
			bad(r, "status", "status must be one of pending, running, completed, "
					 "failed, cancelled");
			return (-1);
		}
		jq->status = v;
	}
	if ((p = query_get(q, "start_date")) != NULL) {
		if (parse_date_param(p, false, &jq->from_ms) != 0) {
			bad(r, "start_date", "start_date must be an ISO 8601 date or date-time");
			return (-1);
		}
		jq->has_from = true;
	}
	if ((p = query_get(q, "end_date")) != NULL) {
		if (parse_date_param(p, true, &jq->to_ms) != 0) {
			bad(r, "end_date", "end_date must be an ISO 8601 date or date-time");
			return (-1);
		}
		jq->has_to = true;
	}
	if (jq->has_from && jq->has_to && jq->from_ms > jq->to_ms) {
		bad(r, "start_date", "start_date is after end_date");
		return (-1);
	}
	if ((p = query_get(q, "first")) != NULL) {
		if (parse_first(p->value, p->value_len, &jq->first) != 0) {
			bad(r, "first", "first must be an integer from 1 to 1000");
			return (-1);
		}
	}
	if ((p = query_get(q, "after")) != NULL) {
		if (p->value_len == 0 || p->value_len >= CURSOR_MAX_LEN ||
		    cursor_decode(key(a), p->value,
				  p->value_len, jq) != 0) {
			bad(r, "after", "after is not a cursor of this query");
			return (-1);
		}
	}
	return (0);
}

/* The page rendered from decoded records alone (no cache). */
static void
list_plain(struct api *a, const struct job_query *jq, int64_t now, struct http_response *r)
{
	struct job_query endq;
	struct job *jobs;
	size_t n = 0, i;
	bool more = false;
	char *cause = NULL, cursor[CURSOR_MAX_LEN];
	yajl_gen g;

	jobs = xcalloc(jq->first, sizeof(*jobs));
	if (store_jobs_list(a->store, jq, jobs, &n, &more, &cause) != 0) {
		free(jobs);
		internal(r, "list jobs", cause);
		return;
	}
	g = gen_new();
	yajl_gen_map_open(g);
	gen_str(g, "jobs");
	yajl_gen_array_open(g);
	for (i = 0; i < n; i++)
		job_json_summary(g, &jobs[i], now);
	yajl_gen_array_close(g);
	gen_str(g, "pageInfo");
	yajl_gen_map_open(g);
	gen_str(g, "hasNextPage");
	yajl_gen_bool(g, more);
	gen_str(g, "endCursor");
	if (n == 0)
		yajl_gen_null(g);
	else {
		endq = *jq;
		endq.has_after = true;
		endq.after_no = jobs[n - 1].no;
		endq.after_start_ms = jobs[n - 1].start_ms;
		cursor_encode(key(a), &endq, cursor, sizeof(cursor));
		gen_str(g, cursor);
	}
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	for (i = 0; i < n; i++)
		job_free(&jobs[i]);
	free(jobs);
	gen_done(g, 200, r);
}

static bool
list_have(uint64_t no, void *arg)
{
	return (render_cache_has(arg, no));
}

/* Append job's summary to b as the page renders it (yajl without beautify, so the bytes
 * of an object are the same alone as inside the array). */
static void
list_render(yajl_gen *g, const struct job *j, int64_t now, struct buf *b)
{
	const unsigned char *out;
	size_t len;

	if (*g == NULL)
		*g = gen_new();
	else {
		yajl_gen_clear(*g);
		yajl_gen_reset(*g, NULL);
	}
	job_json_summary(*g, j, now);
	yajl_gen_get_buf(*g, &out, &len);
	buf_add(b, out, len);
}

/* Of a page's jobs, those read from the store (the others have only their number). */
static void
free_loaded(struct job *jobs, const bool *loaded, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (loaded[i])
			job_free(&jobs[i]);
	}
}

/*
 * The page from the listener's cache: the store walks the index and decodes only the
 * jobs the cache does not hold; held summaries are copied into the body as they are.
 * Jobs rendered here go into the cache only after the page is built, so no entry the
 * page still needs is replaced while it is being copied.
 */
static void
list_cached(struct api *a, const struct job_query *jq, int64_t now, struct http_response *r)
{
	struct job_query endq;
	struct job *jobs;
	const struct render_entry *e;
	struct buf *b = &r->body;
	size_t n = 0, i, *off;
	bool more = false, *loaded;
	char *cause = NULL, cursor[CURSOR_MAX_LEN];
	yajl_gen g = NULL;

	jobs = xcalloc(jq->first, sizeof(*jobs));
	loaded = xcalloc(jq->first, sizeof(*loaded));
	off = xcalloc(jq->first + 1, sizeof(*off));
	if (store_jobs_list_cached(a->store, jq, list_have, a->cache, jobs, loaded, &n, &more,
				   &cause) != 0) {
		free(off);
		free(loaded);
		free(jobs);
		internal(r, "list jobs", cause);
		return;
	}
	r->status = 200;
	r->content_type = NULL;
	b->len = 0;
	buf_reserve(b, 64 + n * 320);
	buf_add(b, "{\"jobs\":[", 9);
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_add(b, ",", 1);
		off[i] = b->len;
		if (!loaded[i] && (e = render_cache_get(a->cache, jobs[i].no)) != NULL) {
			buf_add(b, e->json, e->len);
			jobs[i].start_ms = e->start_ms;
			continue;
		}
		if (!loaded[i]) {
			/* Not reachable while nothing is put during a page; read it anyway. */
			if (store_job_get(a->store, jobs[i].no, &jobs[i], &cause) != 0) {
				b->len = 0;
				free_loaded(jobs, loaded, n);
				free(off);
				free(loaded);
				free(jobs);
				if (g != NULL)
					yajl_gen_free(g);
				internal(r, "list jobs", cause);
				return;
			}
			loaded[i] = true;
		}
		list_render(&g, &jobs[i], now, b);
	}
	off[n] = b->len;
	for (i = 0; i < n; i++) {
		if (loaded[i])
			render_cache_put(a->cache, &jobs[i], b->p + off[i],
					 (i + 1 < n ? off[i + 1] - 1 : off[n]) - off[i]);
	}
	buf_adds(b, "],\"pageInfo\":{\"hasNextPage\":");
	buf_adds(b, more ? "true" : "false");
	buf_adds(b, ",\"endCursor\":");
	if (n == 0)
		buf_adds(b, "null");
	else {
		endq = *jq;
		endq.has_after = true;
		endq.after_no = jobs[n - 1].no;
		endq.after_start_ms = jobs[n - 1].start_ms;
		cursor_encode(key(a), &endq, cursor, sizeof(cursor));
		buf_add(b, "\"", 1);
		buf_adds(b, cursor); /* base64url: nothing to escape */
		buf_add(b, "\"", 1);
	}
	buf_adds(b, "}}");
	if (g != NULL)
		yajl_gen_free(g);
	free_loaded(jobs, loaded, n);
	free(off);
	free(loaded);
	free(jobs);
}

void
api_jobs_list(struct api *a, const struct query *q, struct http_response *r)
{
	struct job_query jq;
	int64_t now = time_now_ms();

	if (api_list_query(a, q, &jq, r) != 0)
		return;
	if (no_store(a, r))
		return;
	if (a->cache != NULL)
		list_cached(a, &jq, now, r);
	else
		list_plain(a, &jq, now, r);
}

static int
running_cb(const struct job *j, void *arg)
{
	job_json_running(arg, j);
	return (0);
}

void
api_jobs_running(struct api *a, struct http_response *r)
{
	char *cause = NULL;
	yajl_gen g;

	if (no_store(a, r))
		return;
	g = gen_new();
	yajl_gen_map_open(g);
	gen_str(g, "jobs");
	yajl_gen_array_open(g);
	if (store_jobs_by_status(a->store, JOB_RUNNING, running_cb, g, &cause) != 0) {
		yajl_gen_free(g);
		internal(r, "running jobs", cause);
		return;
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	gen_done(g, 200, r);
}

/* 0 and *j; or the response set (404/500) and -1. */
static int
load(struct api *a, uint64_t no, struct job *j, struct http_response *r)
{
	char *cause = NULL, id[32], msg[80];
	int rc;

	if (no_store(a, r))
		return (-1);
	rc = store_job_get(a->store, no, j, &cause);
	if (rc == STORE_NOTFOUND) {
		job_id_format(no, id);
		snprintf(msg, sizeof(msg), "job %s not found", id);
		http_response_error(r, 404, "not_found", msg, NULL);
		return (-1);
	}
	if (rc != 0) {
		internal(r, "get job", cause);
		return (-1);
	}
	return (0);
}

void
api_job_get(struct api *a, uint64_t no, bool progress, struct http_response *r)
{
	struct job j;
	char *json;
	size_t len;

	if (load(a, no, &j, r) != 0)
		return;
	json = job_json_string(&j, progress ? JOB_JSON_PROGRESS : JOB_JSON_FULL, time_now_ms(),
			       &len);
	http_response_json(r, 200, json, len);
	free(json);
	job_free(&j);
}

static enum api_wait
send_or_503(struct api *a, enum api_wait kind, struct http_response *r)
{
	if (ipc_end(&a->w) == 0 && a->send(a->send_arg, &a->w) == 0)
		return (kind);
	ipc_writer_reset(&a->w);
	http_response_error(r, 503, "unavailable", "the supervisor is not available", NULL);
	return (API_WAIT_NONE);
}

enum api_wait
api_job_cancel(struct api *a, uint64_t no, const struct http_auth *who,
	       struct http_response *r, uint32_t *ipc_id)
{
	msgpack_packer *pk;
	struct job j;
	char id[32], msg[96];

	if (load(a, no, &j, r) != 0)
		return (API_WAIT_NONE);
	job_id_format(no, id);
	if (job_status_is_final(j.status)) {
		snprintf(msg, sizeof(msg), "job %s already ended (%s)", id,
			 job_status_name(j.status));
		job_free(&j);
		http_response_error(r, 409, "conflict", msg, NULL);
		return (API_WAIT_NONE);
	}
	job_free(&j);
	if (a->send == NULL) {
		http_response_error(r, 503, "unavailable", "the supervisor is not available",
				    NULL);
		return (API_WAIT_NONE);
	}
	*ipc_id = a->next_id++;
	pk = ipc_begin(&a->w, MSG_CTL_CANCEL, *ipc_id);
	msgpack_pack_map(pk, 2);
	ipc_pack_kv_str(pk, "id", id);
	ipc_pack_kv_str(pk, "by", who->name[0] != '\0' ? who->name : NULL);
	return (send_or_503(a, API_WAIT_CANCEL, r));
}

static bool
is_json(const char *ct)
{
	const char *want = "application/json";
	size_t n = strlen(want);

	if (ct == NULL)
		return (false);
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, want, n) != 0)
		return (false);
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return (*ct == '\0' || *ct == ';');
}

/* A NUL ("\u0000") in a string of the body: yajl's tree hands out NUL-terminated strings
 * that would silently end there, so the body is first run through the event parser, which
 * gives lengths. The top-level field it is in goes to field. */
struct nul_scan {
	int depth;
	bool found;
	char field[65];
};

static void
nul_scan_field(struct nul_scan *ns, const unsigned char *s, size_t len)
{
	size_t n = strnlen((const char *)s, len);

	if (n >= sizeof(ns->field))
		n = sizeof(ns->field) - 1;
	memcpy(ns->field, s, n);
	ns->field[n] = '\0';
}

static int
nul_scan_string(void *ctx, const unsigned char *s, size_t len)
{
	struct nul_scan *ns = ctx;

	if (memchr(s, '\0', len) == NULL)
		return (1);
	ns->found = true;
	return (0);
}

static int
nul_scan_key(void *ctx, const unsigned char *s, size_t len)
{
	struct nul_scan *ns = ctx;

	if (ns->depth == 1)
		nul_scan_field(ns, s, len);
	return (nul_scan_string(ctx, s, len));
}

static int
nul_scan_open(void *ctx)
{
	((struct nul_scan *)ctx)->depth++;
	return (1);
}

static int
nul_scan_close(void *ctx)
{
	((struct nul_scan *)ctx)->depth--;
	return (1);
}

static const yajl_callbacks nul_scan_callbacks = {
	.yajl_string = nul_scan_string,
	.yajl_start_map = nul_scan_open,
	.yajl_map_key = nul_scan_key,
	.yajl_end_map = nul_scan_close,
	.yajl_start_array = nul_scan_open,
	.yajl_end_array = nul_scan_close,
};

/* True if a string in the (valid JSON) body holds a NUL; field names its top-level field. */
static bool
body_has_nul(const char *body, size_t len, char *field, size_t fieldlen)
{
	struct nul_scan ns;
	yajl_handle h;

	memset(&ns, 0, sizeof(ns));
	if ((h = yajl_alloc(&nul_scan_callbacks, NULL, &ns)) == NULL)
		fatalx("yajl_alloc");
	if (yajl_parse(h, (const unsigned char *)body, len) == yajl_status_ok)
		yajl_complete_parse(h);
	yajl_free(h);
	snprintf(field, fieldlen, "%s", ns.field);
	return (ns.found);
}

int
api_submit_parse(const char *body, size_t len, int *type, struct job *params,
		 struct http_response *r)
{
	char errbuf[128], *text, *key;
	yajl_val root, v, pv;
	size_t i, k;
	char msg[160], field[65];
	const char *val;

	*type = -1;
	job_init(params);
	if (len == 0) {
		bad(r, NULL, "the request body must be a JSON object");
		return (-1);
	}
	if (memchr(body, '\0', len) != NULL) {
		bad(r, NULL, "the request body is not valid JSON");
		return (-1);
	}
	text = xstrndup(body, len);
	root = yajl_tree_parse(text, errbuf, sizeof(errbuf));
	free(text);
	if (root == NULL) {
		bad(r, NULL, "the request body is not valid JSON");
		return (-1);
	}
	if (!YAJL_IS_OBJECT(root)) {
		bad(r, NULL, "the request body must be a JSON object");
		goto fail;
	}
	if (body_has_nul(body, len, field, sizeof(field))) {
		snprintf(msg, sizeof(msg), "field '%s' contains a NUL character", field);
		http_response_error(r, 400, "invalid_parameter", msg, field);
		goto fail;
	}
	for (i = 0; i < root->u.object.len; i++) {
		key = (char *)(uintptr_t)root->u.object.keys[i];
		v = root->u.object.values[i];
		for (k = 0; k < i; k++) {
			if (strcmp(root->u.object.keys[k], key) == 0) {
				snprintf(msg, sizeof(msg), "field '%.64s' given more than once", key);
				http_response_error(r, 400, "invalid_parameter", msg, key);
				goto fail;
			}
		}
		if (strcmp(key, "job_type") == 0) {
			if (!YAJL_IS_STRING(v) ||
			    (*type = job_type_parse(v->u.string, strlen(v->u.string))) < 0) {
				*type = -1;
				bad(r, "job_type", "job_type must be one of the job types");
				goto fail;
			}
		} else if (strcmp(key, "parameters") == 0) {
			if (!YAJL_IS_OBJECT(v)) {
				bad(r, "parameters", "parameters must be an object");
				goto fail;
			}
			for (k = 0; k < v->u.object.len; k++) {
				pv = v->u.object.values[k];
				if (YAJL_IS_STRING(pv))
					val = pv->u.string;
				else if (YAJL_IS_NUMBER(pv))
					val = pv->u.number.r;
				else if (YAJL_IS_TRUE(pv))
					val = "true";
				else if (YAJL_IS_FALSE(pv))
					val = "false";
				else {
					bad(r, "parameters", "parameter values must be strings, "
							     "numbers or booleans");
					goto fail;
				}
				if (v->u.object.keys[k][0] == '\0' ||
				    job_param_get(params, v->u.object.keys[k]) != NULL) {
					bad(r, "parameters", "parameter names must be non-empty "
							     "and unique");
					goto fail;
				}
				if (job_param_add(params, v->u.object.keys[k], val) != 0) {
					bad(r, "parameters", "too many parameters");
					goto fail;
				}
			}
		} else {
			snprintf(msg, sizeof(msg), "unknown field '%.64s'", key);
			http_response_error(r, 400, "unknown_parameter", msg, key);
			goto fail;
		}
	}
	if (*type < 0) {
		bad(r, "job_type", "job_type is required");
		goto fail;
	}
	yajl_tree_free(root);
	return (0);

fail:
	yajl_tree_free(root);
	job_free(params);
	*type = -1;
	return (-1);
}

int
api_submit_precheck(const struct http_request *req, struct http_response *r)
{
	if (!is_json(http_request_header(req, "Content-Type"))) {
		http_response_error(r, 415, "unsupported_media_type",
				    "the request body must be application/json", NULL);
		return (-1);
	}
	return (0);
}

enum api_wait
api_job_submit(struct api *a, const struct http_request *req, const struct http_auth *who,
	       struct http_response *r, uint32_t *ipc_id)
{
	msgpack_packer *pk;
	struct job params;
	int type;
	size_t i;

	if (api_submit_precheck(req, r) != 0)
		return (API_WAIT_NONE);
	if (api_submit_parse(req->body, req->body_len, &type, &params, r) != 0)
		return (API_WAIT_NONE);
	if (a->send == NULL) {
		job_free(&params);
		http_response_error(r, 503, "unavailable", "the supervisor is not available",
				    NULL);
		return (API_WAIT_NONE);
	}
	*ipc_id = a->next_id++;
	pk = ipc_begin(&a->w, MSG_CTL_SUBMIT, *ipc_id);
	msgpack_pack_map(pk, 3);
	ipc_pack_kv_str(pk, "job_type", job_type_name(type));
	ipc_pack_str(pk, "parameters");
	msgpack_pack_map(pk, params.nparams);
	for (i = 0; i < params.nparams; i++) {
		ipc_pack_str(pk, params.params[i].key);
		ipc_pack_str(pk, params.params[i].value);
	}
	ipc_pack_kv_str(pk, "by", who->name[0] != '\0' ? who->name : NULL);
	job_free(&params);
	return (send_or_503(a, API_WAIT_SUBMIT, r));
}
