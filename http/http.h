/* http.h: jobsd-http, the REST listener. Internal interfaces between its modules:
 * buf.c (growable byte buffers), parser.c (llhttp wiring, request accumulation and limits),
 * query.c (URL/query splitting and percent-decoding), router.c (route table), response.c
 * (status line, headers, JSON error bodies), auth.c (bearer tokens), metrics.c (Prometheus
 * counters), api.c/api_jobs.c (the Jobs API handlers), conn.c (one connection without any
 * event loop: bytes in, responses out in request order), server.c (libev: listeners,
 * sockets, timeouts, the supervisor link). */
#ifndef JOBSD_HTTP_H
#define JOBSD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "cursor.h"
#include "ipc.h"
#include "job.h"

struct store;

#define HTTP_SERVER_NAME "jobsd/0.1"
#define HTTP_JSON "application/json; charset=utf-8"
#define HTTP_MAX_HEADERS 64
#define HTTP_MAX_QUERY_PARAMS 16

/* buf.c */
struct buf {
	char *p;
	size_t len;
	size_t cap;
};
void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_consume(struct buf *b, size_t n); /* drop n bytes from the front */
char *buf_steal(struct buf *b, size_t *len); /* NUL-terminated; b is reset */

/* parser.c */
struct http_header {
	char *name;
	char *value;
};
struct http_request {
	int method; /* enum llhttp_method */
	int http_major, http_minor;
	bool keep_alive;
	char *url;
	size_t url_len;
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t nheaders;
	char *body;
	size_t body_len;
};
struct http_limits {
	size_t max_header_bytes; /* request line + headers */
	size_t max_body_bytes;
};
enum http_parse {
	HTTP_PARSE_MORE,    /* all bytes consumed, no complete request */
	HTTP_PARSE_REQUEST, /* p->req is complete; http_parser_next() before feeding more */
	HTTP_PARSE_ERROR,   /* p->error_status (400, 413, 431, 501, 505); the connection must
			     * close */
};
struct http_parser {
	llhttp_t ll;
	struct http_limits lim;
	struct http_request req;
	struct buf field, value, url, body;
	bool started;  /* bytes of a request have arrived */
	bool complete; /* on_message_complete fired */
	bool upgrade;
	bool expect_continue; /* Expect: 100-continue with a body still to come */
	size_t header_bytes;
	int error_status;
	const char *feed_start; /* the buffer llhttp_execute() is parsing */
	char prev_byte;         /* the last non-blank byte parsed before it */
};
void http_parser_init(struct http_parser *p, const struct http_limits *lim);
void http_parser_free(struct http_parser *p);
/* Feed bytes; *used says how many were consumed (the rest must be fed again later). */
enum http_parse http_parser_feed(struct http_parser *p, const char *data, size_t len,
				 size_t *used);
void http_parser_next(struct http_parser *p); /* release the request, resume parsing */
void http_request_clear(struct http_request *r);
const char *http_request_header(const struct http_request *r, const char *name);
const char *http_method_name(int method);

/* query.c */
struct query_param {
	char *name;
	char *value; /* percent-decoded, NUL-terminated (may contain NUL: see value_len) */
	size_t value_len;
};
struct query {
	struct query_param p[HTTP_MAX_QUERY_PARAMS];
	size_t n;
};
/* Split url into its path (*path, *pathlen point into url) and query string. */
void url_split(const char *url, size_t len, const char **path, size_t *pathlen,
	       const char **qs, size_t *qslen);
/* Percent-decode (and '+' to space when plus) into a malloc'd string; -1 if malformed. */
int pct_decode(const char *s, size_t len, bool plus, char **out, size_t *outlen);
/* Parse a query string. -1 with *bad_param (malloc'd, may be NULL) and *cause on a
 * malformed encoding, a duplicate parameter or too many parameters. */
int query_parse(const char *qs, size_t len, struct query *q, char **bad_param, char **cause);
void query_free(struct query *q);
const struct query_param *query_get(const struct query *q, const char *name);

/* router.c */
enum route_id {
	ROUTE_JOBS,
	ROUTE_JOBS_RUNNING,
	ROUTE_JOB,
	ROUTE_JOB_PROGRESS,
	ROUTE_HEALTHZ,
	ROUTE_METRICS,
	ROUTE_OPENAPI,
	/* analysis results (api_results.c) */
	ROUTE_ROLES,
	ROUTE_ROLE,
	ROUTE_ROLE_MEMBERS,
	ROUTE_VIOLATIONS,
	ROUTE_ORPHANS,
	ROUTE_MANAGER_ISSUES,
	ROUTE_OWNER_MANAGER,
	ROUTE_ACCOUNT_LINK,
};
#define ROUTE_M_GET (1u << 0)
#define ROUTE_M_HEAD (1u << 1)
#define ROUTE_M_POST (1u << 2)
#define ROUTE_M_DELETE (1u << 3)
struct route {
	const char *pattern; /* "/api/v1/jobs/{id}" */
	enum route_id id;
	unsigned methods;    /* ROUTE_M_*; GET implies HEAD */
	bool auth;           /* needs an Administrator token */
};
struct route_match {
	const struct route *route;
	const char *id; /* the {id} segment (points into the path) */
	size_t idlen;
	char allow[64]; /* for 405: "GET, HEAD, DELETE" */
};
const struct route *router_routes(size_t *n);
/* 0 and *m, or 404 (no such path) or 405 (m->allow filled). */
int router_match(int method, const char *path, size_t len, struct route_match *m);
unsigned router_method_bit(int method);

/* response.c */
struct http_response {
	int status;
	const char *content_type; /* NULL: HTTP_JSON (ignored without a body) */
	struct buf body;
	char headers[512]; /* extra header lines, each ending in \r\n */
	bool close;        /* close the connection after this response */
};
void http_response_init(struct http_response *r);
void http_response_free(struct http_response *r);
void http_response_header(struct http_response *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void http_response_json(struct http_response *r, int status, const char *json, size_t len);
/* {"error":{"status":..,"code":..,"message":..[,"parameter":..]}} */
void http_response_error(struct http_response *r, int status, const char *code,
			 const char *message, const char *parameter);
const char *http_status_text(int status);
/* Status line, headers (Date, Server, Content-Type, Content-Length, extra, Connection)
 * and, unless head, the body. */
void http_response_serialize(const struct http_response *r, bool head, bool close,
			     bool http10_keepalive, struct buf *out);
const char *http_date_now(void); /* cached per second */

/* auth.c */
struct http_auth {
	char name[64];
	char role[16];
};
/* 0 (Administrator), 401, 403 or 500; *who filled on 0/403. tc: the listener's token
 * cache, or NULL to ask the store every time. */
struct token_cache;
int auth_check(struct store *st, struct token_cache *tc, const struct http_request *req,
               struct http_auth *who);

/* metrics.c */
#define METRICS_NBUCKETS 12
struct metrics {
	uint64_t by_status[600];
	uint64_t buckets[METRICS_NBUCKETS]; /* cumulative on render, stored per bucket */
	uint64_t count;
	double sum_s;
	uint64_t connections;
	uint64_t connections_total;
};
void metrics_observe(struct metrics *m, int status, double seconds);
/* counts: NULL leaves the job gauges out; tokens: the token cache, NULL if none. */
void metrics_render(const struct metrics *m,
                    const uint64_t counts[JOB_STATUS_COUNT][JOB_TYPE_COUNT],
                    const struct token_cache *tokens, struct buf *out);

/* api.c: dispatch of one request. */
enum api_wait {
	API_WAIT_NONE,
	API_WAIT_SUBMIT,
	API_WAIT_CANCEL,
	API_WAIT_PING,
};
struct api {
	struct store *store;         /* NULL: store endpoints answer 503 */
	const uint8_t *cursor_key;   /* CURSOR_KEY_LEN bytes */
	struct metrics *metrics;
	bool auth_bypass;            /* fuzzing only: every request is an Administrator */
	/* The supervisor link; send NULL: submit/cancel answer 503, healthz 503. */
	int (*send)(void *arg, struct ipc_writer *w);
	void *send_arg;
	uint32_t next_id;
	struct ipc_writer w;
	/* Rendered summaries of finished jobs for list pages (render_cache.h); NULL: every
	 * page is rendered from the records. Freed by api_free. */
	struct render_cache *cache;
	/* Tokens already checked (token_cache.h); NULL: every request asks the store. Not
	 * owned. */
	struct token_cache *tokens;
};
void api_init(struct api *a);
void api_free(struct api *a);
/* Answer req into *resp. Returns API_WAIT_NONE when *resp is complete; otherwise a request
 * with id *ipc_id went to the supervisor and api_reply() completes *resp. */
enum api_wait api_handle(struct api *a, const struct http_request *req,
			 struct http_response *resp, uint32_t *ipc_id);
/* Before inviting a body (100 Continue): routing, authentication and, for a submit, the
 * Content-Type. 0, or -1 with *resp the refusal (404, 405, 401, 403, 415). */
int api_precheck(struct api *a, const struct http_request *req, struct http_response *resp);
/* m NULL: no answer (supervisor gone or timed out). */
void api_reply(struct api *a, enum api_wait kind, const struct ipc_msg *m,
	       struct http_response *resp);

/* api_jobs.c: the Jobs API handlers (called by api.c after routing and auth). */
void api_jobs_list(struct api *a, const struct query *q, struct http_response *r);
void api_jobs_running(struct api *a, struct http_response *r);
void api_job_get(struct api *a, uint64_t no, bool progress, struct http_response *r);
enum api_wait api_job_cancel(struct api *a, uint64_t no, const struct http_auth *who,
			     struct http_response *r, uint32_t *ipc_id);
enum api_wait api_job_submit(struct api *a, const struct http_request *req,
			     const struct http_auth *who, struct http_response *r,
			     uint32_t *ipc_id);
/* A submit's headers: 0, or -1 with r set to the 415. */
int api_submit_precheck(const struct http_request *req, struct http_response *r);
/* Parse a POST body: 0, or -1 with r set to the 400. On success *type and the params. */
int api_submit_parse(const char *body, size_t len, int *type, struct job *params,
		     struct http_response *r);
/* Validate list query parameters into *jq; -1 with r set to the 400. */
int api_list_query(struct api *a, const struct query *q, struct job_query *jq,
		   struct http_response *r);

/* api_results.c: the analysis results endpoints (read-only; called after routing and auth).
 * id: the route's {id} segment, still percent-encoded. */
void api_results(struct api *a, enum route_id route, const char *id, size_t idlen,
		 const struct query *q, struct http_response *r);

/* openapi_doc.c: the OpenAPI document (identical to http/openapi.json). */
extern const char openapi_json[];
extern const size_t openapi_json_len;

#endif
