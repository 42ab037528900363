/* api.c: one request to one response: routing (404/405), authentication (401/403), query
 * parameters, dispatch to the Jobs API handlers, /healthz, /metrics, the OpenAPI document,
 * and turning the supervisor's replies into responses. No sockets here (conn.c and
 * server.c own them), so the whole path is testable and fuzzable without a loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "render_cache.h"
#include "store.h"
#include "timeutil.h"

void
api_init(struct api *a)
{
	memset(a, 0, sizeof(*a));
	a->next_id = 1;
	ipc_writer_init(&a->w);
}

void
api_free(struct api *a)
{
	ipc_writer_destroy(&a->w);
	render_cache_free(a->cache);
	a->cache = NULL;
}

static void
not_found(struct http_response *r)
{
	http_response_error(r, 404, "not_found", "no such resource", NULL);
}

static void
unauthorized(struct http_response *r, int status)
{
	switch (status) {
	case 401:
		http_response_error(r, 401, "unauthorized",
				    "a valid bearer token is required", NULL);
		http_response_header(r, "WWW-Authenticate: Bearer realm=\"jobsd\"");
		break;
	case 403:
		http_response_error(r, 403, "permission_denied",
				    "this endpoint requires the Administrator role", NULL);
		break;
	default:
		http_response_error(r, 500, "internal_error", "internal error", NULL);
		break;
	}
}

/* Endpoints other than the list take no query parameters at all. */
static int
no_params(const struct query *q, struct http_response *r)
{
	char msg[128];

	if (q->n == 0)
		return (0);
	snprintf(msg, sizeof(msg), "this endpoint takes no parameter '%.64s'", q->p[0].name);
	http_response_error(r, 400, "unknown_parameter", msg, q->p[0].name);
	return (-1);
}

static void
metrics(struct api *a, struct http_response *r)
{
	uint64_t counts[JOB_STATUS_COUNT][JOB_TYPE_COUNT];
	char *cause = NULL;
	struct metrics empty;
	const struct metrics *m = a->metrics != NULL ? a->metrics : &empty;

	memset(&empty, 0, sizeof(empty));
	r->status = 200;
	r->content_type = "text/plain; version=0.0.4; charset=utf-8";
	if (a->store != NULL && store_job_counts(a->store, counts, &cause) == 0)
		metrics_render(m, counts, a->tokens, &r->body);
	else {
		if (cause != NULL) {
			log_warnx("job counts: %s", cause);
			free(cause);
		}
		metrics_render(m, NULL, a->tokens, &r->body);
	}
}

static enum api_wait
healthz(struct api *a, struct http_response *r, uint32_t *ipc_id)
{
	if (a->send != NULL) {
		*ipc_id = a->next_id++;
		ipc_begin(&a->w, MSG_CTL_PING, *ipc_id);
		msgpack_pack_map(&a->w.pk, 0);
		if (ipc_end(&a->w) == 0 && a->send(a->send_arg, &a->w) == 0)
			return (API_WAIT_PING);
		ipc_writer_reset(&a->w);
	}
	api_reply(a, API_WAIT_PING, NULL, r);
	return (API_WAIT_NONE);
}

/* Routing (404, 405) and authentication (401, 403): what needs only the request line and
 * headers. 0 with *m and *who, or -1 with resp set. */
static int
gate(struct api *a, const struct http_request *req, struct http_response *resp,
     struct route_match *m, struct http_auth *who)
{
	const char *path, *qs;
	size_t pathlen, qslen;
	int rc;

	url_split(req->url, req->url_len, &path, &pathlen, &qs, &qslen);
	rc = router_match(req->method, path, pathlen, m);
	if (rc == 404) {
		not_found(resp);
		return (-1);
	}
	if (rc == 405) {
		http_response_error(resp, 405, "method_not_allowed",
				    "method not allowed on this resource", NULL);
		http_response_header(resp, "Allow: %s", m->allow);
		return (-1);
	}
	if (m->route->auth && !a->auth_bypass) {
		if ((rc = auth_check(a->store, a->tokens, req, who)) != 0) {
			unauthorized(resp, rc);
			return (-1);
		}
	} else {
		memset(who, 0, sizeof(*who));
		if (a->auth_bypass)
			snprintf(who->name, sizeof(who->name), "test");
	}
	return (0);
}

int
api_precheck(struct api *a, const struct http_request *req, struct http_response *resp)
{
	struct route_match m;
	struct http_auth who;

	if (gate(a, req, resp, &m, &who) != 0)
		return (-1);
	if (m.route->id == ROUTE_JOBS && req->method == HTTP_POST)
		return (api_submit_precheck(req, resp));
	return (0);
}

enum api_wait
api_handle(struct api *a, const struct http_request *req, struct http_response *resp,
	   uint32_t *ipc_id)
{
	const char *path, *qs;
	size_t pathlen, qslen;
	struct route_match m;
	struct http_auth who;
	struct query q;
	char *bad = NULL, *cause = NULL;
	uint64_t no;
	enum api_wait wait = API_WAIT_NONE;

	*ipc_id = 0;
	if (gate(a, req, resp, &m, &who) != 0)
		return (API_WAIT_NONE);
	url_split(req->url, req->url_len, &path, &pathlen, &qs, &qslen);
	if (query_parse(qs, qslen, &q, &bad, &cause) != 0) {
		http_response_error(resp, 400, "invalid_parameter", cause, bad);
		free(bad);
		free(cause);
		return (API_WAIT_NONE);
	}
	if (m.route->id >= ROUTE_ROLES) {
		/* the analysis results take their own parameters */
		api_results(a, m.route->id, m.id, m.idlen, &q, resp);
		goto out;
	}
	if (m.route->id != ROUTE_JOBS || req->method == HTTP_POST) {
		if (no_params(&q, resp) != 0)
			goto out;
	}

	switch (m.route->id) {
	case ROUTE_JOBS:
		if (req->method == HTTP_POST)
			wait = api_job_submit(a, req, &who, resp, ipc_id);
		else
			api_jobs_list(a, &q, resp);
		break;
	case ROUTE_JOBS_RUNNING:
		api_jobs_running(a, resp);
		break;
	case ROUTE_JOB:
	case ROUTE_JOB_PROGRESS:
		if (job_id_parse(m.id, m.idlen, &no) != 0) {
			http_response_error(resp, 404, "not_found", "no such job", NULL);
			break;
		}
		if (req->method == HTTP_DELETE)
			wait = api_job_cancel(a, no, &who, resp, ipc_id);
		else
			api_job_get(a, no, m.route->id == ROUTE_JOB_PROGRESS, resp);
		break;
	case ROUTE_HEALTHZ:
		wait = healthz(a, resp, ipc_id);
		break;
	case ROUTE_METRICS:
		metrics(a, resp);
		break;
	case ROUTE_OPENAPI:
		http_response_json(resp, 200, openapi_json, openapi_json_len);
		break;
	default:
		break;
	}
out:
	query_free(&q);
	return (wait);
}

/* A MSG_CTL_FAIL from the supervisor, as an error response. */
static void
forward_fail(const struct ipc_msg *m, struct http_response *r)
{
	char code[64] = "internal_error", message[256] = "internal error", param[64] = "";
	int64_t status = 500;

	if (ipc_get_int(&m->body, "status", &status) != 0 || status < 400 || status > 599)
		status = 500;
	ipc_get_strbuf(&m->body, "code", code, sizeof(code));
	ipc_get_strbuf(&m->body, "message", message, sizeof(message));
	ipc_get_strbuf(&m->body, "parameter", param, sizeof(param));
	if (status == 500) {
		log_warnx("supervisor: %s", message);
		http_response_error(r, 500, "internal_error", "internal error", NULL);
		return;
	}
	http_response_error(r, (int)status, code, message, param[0] != '\0' ? param : NULL);
}

void
api_reply(struct api *a, enum api_wait kind, const struct ipc_msg *m,
	  struct http_response *r)
{
	const msgpack_object *o;
	struct job j;
	char *cause = NULL, *json, id[32];
	size_t len;

	if (kind == API_WAIT_PING) {
		if (m != NULL && m->type == MSG_CTL_OK)
			http_response_json(r, 200, "{\"status\":\"ok\"}", 15);
		else
			http_response_json(r, 503, "{\"status\":\"unavailable\"}", 24);
		return;
	}
	if (m == NULL) {
		http_response_error(r, 503, "unavailable", "the supervisor is not available",
				    NULL);
		return;
	}
	if (m->type == MSG_CTL_FAIL) {
		forward_fail(m, r);
		return;
	}
	if (m->type != MSG_CTL_OK) {
		http_response_error(r, 500, "internal_error", "internal error", NULL);
		return;
	}
	if (kind == API_WAIT_CANCEL) {
		r->status = 204;
		return;
	}
	/* SUBMIT: {job: <record>} */
	if ((o = ipc_get(&m->body, "job")) == NULL || job_unpack(o, &j, &cause) != 0) {
		log_warnx("submit reply: %s", cause != NULL ? cause : "no job");
		free(cause);
		http_response_error(r, 500, "internal_error", "internal error", NULL);
		return;
	}
	json = job_json_string(&j, JOB_JSON_FULL, time_now_ms(), &len);
	http_response_json(r, 201, json, len);
	free(json);
	job_id_format(j.no, id);
	http_response_header(r, "Location: /api/v1/jobs/%s", id);
	job_free(&j);
}
