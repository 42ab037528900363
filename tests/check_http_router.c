/* check_http_router.c: jobsd-http's route table (404/405/Allow, {id} capture), URL and
 * query-string parsing (percent-decoding, '+', duplicates), error bodies, the list
 * endpoint's parameter validation and the POST body parser. No store, no sockets. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

Suite *http_router_suite(void);

static int
route(int method, const char *path, struct route_match *m)
{
	return (router_match(method, path, strlen(path), m));
}

START_TEST(test_routes)
{
	struct route_match m;

	ck_assert_int_eq(route(HTTP_GET, "/api/v1/jobs", &m), 0);
	ck_assert_int_eq(m.route->id, ROUTE_JOBS);
	ck_assert_int_eq(route(HTTP_POST, "/api/v1/jobs", &m), 0);
	ck_assert_int_eq(route(HTTP_HEAD, "/api/v1/jobs", &m), 0);
	ck_assert_int_eq(route(HTTP_GET, "/api/v1/jobs/running", &m), 0);
	ck_assert_int_eq(m.route->id, ROUTE_JOBS_RUNNING);
	ck_assert_int_eq(route(HTTP_GET, "/api/v1/jobs/job-42", &m), 0);
	ck_assert_int_eq(m.route->id, ROUTE_JOB);
	ck_assert_int_eq((int)m.idlen, 6);
	ck_assert(memcmp(m.id, "job-42", 6) == 0);
	ck_assert_int_eq(route(HTTP_DELETE, "/api/v1/jobs/job-42", &m), 0);
	ck_assert_int_eq(route(HTTP_GET, "/api/v1/jobs/job-7/progress", &m), 0);
	ck_assert_int_eq(m.route->id, ROUTE_JOB_PROGRESS);
	ck_assert_int_eq((int)m.idlen, 5);
	ck_assert_int_eq(route(HTTP_GET, "/healthz", &m), 0);
	ck_assert(!m.route->auth);
	ck_assert_int_eq(route(HTTP_GET, "/metrics", &m), 0);
	ck_assert(m.route->auth);
	ck_assert_int_eq(route(HTTP_GET, "/api/v1/openapi.json", &m), 0);

	ck_assert_int_eq(route(HTTP_GET, "/", &m), 404);
	ck_assert_int_eq(route(HTTP_GET, "", &m), 404);
	ck_assert_int_eq(route(HTTP_GET, "/api/v1/jobs/", &m), 404);
	ck_assert_int_eq(route(HTTP_GET, "/api/v1/jobs//progress", &m), 404);
	ck_assert_int_eq(route(HTTP_GET, "/api/v1/jobs/job-1/progress/x", &m), 404);
	ck_assert_int_eq(route(HTTP_GET, "/api/v1/job", &m), 404);
	ck_assert_int_eq(route(HTTP_GET, "/api/v1/jobsx", &m), 404);
	ck_assert_int_eq(route(HTTP_GET, "/API/v1/jobs", &m), 404);
	ck_assert_int_eq(route(HTTP_GET, "api/v1/jobs", &m), 404);
}
END_TEST

START_TEST(test_method_not_allowed)
{
	struct route_match m;

	ck_assert_int_eq(route(HTTP_PUT, "/api/v1/jobs", &m), 405);
	ck_assert_str_eq(m.allow, "GET, HEAD, POST");
	ck_assert_int_eq(route(HTTP_POST, "/api/v1/jobs/job-1", &m), 405);
	ck_assert_str_eq(m.allow, "GET, HEAD, DELETE");
	ck_assert_int_eq(route(HTTP_DELETE, "/api/v1/jobs/running", &m), 405);
	ck_assert_str_eq(m.allow, "GET, HEAD");
	ck_assert_int_eq(route(HTTP_PATCH, "/api/v1/jobs/job-1/progress", &m), 405);
	ck_assert_str_eq(m.allow, "GET, HEAD");
	ck_assert_int_eq(route(HTTP_OPTIONS, "/healthz", &m), 405);
}
END_TEST

START_TEST(test_url_split)
{
	const char *path, *qs;
	size_t pl, ql;
	const char *u = "/api/v1/jobs?status=running&first=2#frag";

	url_split(u, strlen(u), &path, &pl, &qs, &ql);
	ck_assert_int_eq((int)pl, 12);
	ck_assert(memcmp(qs, "status=running&first=2", ql) == 0);
	ck_assert_int_eq((int)ql, 22);
	url_split("/x", 2, &path, &pl, &qs, &ql);
	ck_assert_int_eq((int)pl, 2);
	ck_assert_int_eq((int)ql, 0);
}
END_TEST

START_TEST(test_pct_decode)
{
	char *out;
	size_t n;

	ck_assert_int_eq(pct_decode("a%20b+c%2Bd%2f", 14, true, &out, &n), 0);
	ck_assert_str_eq(out, "a b c+d/");
	ck_assert_int_eq((int)n, 8);
	free(out);
	ck_assert_int_eq(pct_decode("a+b", 3, false, &out, &n), 0);
	ck_assert_str_eq(out, "a+b");
	free(out);
	ck_assert_int_eq(pct_decode("%", 1, true, &out, &n), -1);
	ck_assert_int_eq(pct_decode("%4", 2, true, &out, &n), -1);
	ck_assert_int_eq(pct_decode("%zz", 3, true, &out, &n), -1);
	ck_assert_int_eq(pct_decode("ab%4", 4, true, &out, &n), -1);
	/* %00 decodes; its length tells it apart. */
	ck_assert_int_eq(pct_decode("a%00b", 5, true, &out, &n), 0);
	ck_assert_int_eq((int)n, 3);
	free(out);
}
END_TEST

START_TEST(test_query_parse)
{
	struct query q;
	char *bad, *cause;
	const char *s = "status=running&job_type=full%5Fsync&&start_date=2024-02-01T10%3A00%3A00Z"
			"&x&after=a+b";

	ck_assert_int_eq(query_parse(s, strlen(s), &q, &bad, &cause), 0);
	ck_assert_int_eq((int)q.n, 5);
	ck_assert_str_eq(query_get(&q, "status")->value, "running");
	ck_assert_str_eq(query_get(&q, "job_type")->value, "full_sync");
	ck_assert_str_eq(query_get(&q, "start_date")->value, "2024-02-01T10:00:00Z");
	ck_assert_str_eq(query_get(&q, "x")->value, "");
	ck_assert_str_eq(query_get(&q, "after")->value, "a b");
	ck_assert_ptr_null(query_get(&q, "first"));
	query_free(&q);

	s = "status=running&first=2&status=failed";
	ck_assert_int_eq(query_parse(s, strlen(s), &q, &bad, &cause), -1);
	ck_assert_str_eq(bad, "status");
	ck_assert_ptr_nonnull(strstr(cause, "more than once"));
	free(bad);
	free(cause);

	s = "first=%G1";
	ck_assert_int_eq(query_parse(s, strlen(s), &q, &bad, &cause), -1);
	ck_assert_str_eq(bad, "first");
	free(bad);
	free(cause);

	s = "a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1&j=1&k=1&l=1&m=1&n=1&o=1&p=1&q=1";
	ck_assert_int_eq(query_parse(s, strlen(s), &q, &bad, &cause), -1);
	ck_assert_ptr_null(bad);
	free(cause);
}
END_TEST

static char *
body_of(struct http_response *r)
{
	return (r->body.p);
}

START_TEST(test_error_body)
{
	struct http_response r;
	struct buf out;

	http_response_init(&r);
	http_response_error(&r, 400, "invalid_parameter", "bad \"status\"", "status");
	ck_assert_str_eq(body_of(&r), "{\"error\":{\"status\":400,\"code\":\"invalid_parameter\","
				      "\"message\":\"bad \\\"status\\\"\",\"parameter\":\"status\"}}");
	buf_init(&out);
	http_response_serialize(&r, false, true, false, &out);
	ck_assert(strncmp(out.p, "HTTP/1.1 400 Bad Request\r\nDate: ", 32) == 0);
	ck_assert_ptr_nonnull(strstr(out.p, "\r\nServer: jobsd/0.1\r\n"));
	ck_assert_ptr_nonnull(strstr(out.p, "\r\nContent-Type: application/json; charset=utf-8\r\n"));
	ck_assert_ptr_nonnull(strstr(out.p, "\r\nContent-Length: 99\r\n"));
	ck_assert_ptr_nonnull(strstr(out.p, "\r\nConnection: close\r\n\r\n{\"error\""));
	ck_assert_int_eq((int)r.body.len, 99);
	buf_free(&out);
	http_response_free(&r);

	/* Echoed client bytes that are not UTF-8 become U+FFFD, one per byte. */
	http_response_init(&r);
	http_response_error(&r, 400, "unknown_parameter", "unknown parameter '\xff\xfe'",
			    "\xff\xfe");
	ck_assert_str_eq(body_of(&r), "{\"error\":{\"status\":400,\"code\":\"unknown_parameter\","
				      "\"message\":\"unknown parameter '\xef\xbf\xbd\xef\xbf\xbd'\","
				      "\"parameter\":\"\xef\xbf\xbd\xef\xbf\xbd\"}}");
	http_response_free(&r);
	http_response_init(&r);
	http_response_error(&r, 400, "invalid_parameter", "caf\xc3\xa9 \xc3", "caf\xc3\xa9");
	ck_assert_str_eq(body_of(&r), "{\"error\":{\"status\":400,\"code\":\"invalid_parameter\","
				      "\"message\":\"caf\xc3\xa9 \xef\xbf\xbd\","
				      "\"parameter\":\"caf\xc3\xa9\"}}");
	http_response_free(&r);

	http_response_init(&r);
	r.status = 204;
	buf_init(&out);
	http_response_serialize(&r, false, false, false, &out);
	ck_assert_ptr_null(strstr(out.p, "Content-Length"));
	ck_assert_ptr_null(strstr(out.p, "Connection"));
	buf_free(&out);
	http_response_free(&r);
}
END_TEST

/* The list endpoint's validation: 400 with the right code and parameter. */
static void
list_error(const char *qs, const char *code, const char *param)
{
	struct api a;
	struct query q;
	struct job_query jq;
	struct http_response r;
	char *bad = NULL, *cause = NULL, want[128];

	api_init(&a);
	http_response_init(&r);
	ck_assert_int_eq(query_parse(qs, strlen(qs), &q, &bad, &cause), 0);
	ck_assert_msg(api_list_query(&a, &q, &jq, &r) == -1, "%s accepted", qs);
	ck_assert_int_eq(r.status, 400);
	snprintf(want, sizeof(want), "\"code\":\"%s\"", code);
	ck_assert_msg(strstr(r.body.p, want) != NULL, "%s: %s", qs, r.body.p);
	snprintf(want, sizeof(want), "\"parameter\":\"%s\"}}", param);
	ck_assert_msg(strstr(r.body.p, want) != NULL, "%s: %s", qs, r.body.p);
	query_free(&q);
	http_response_free(&r);
	api_free(&a);
}

START_TEST(test_list_params)
{
	struct api a;
	struct query q;
	struct job_query jq;
	struct http_response r;
	char *bad = NULL, *cause = NULL;
	const char *ok = "job_type=full_sync&status=completed&start_date=2024-02-01"
			 "&end_date=2024-02-01&first=1000";

	api_init(&a);
	http_response_init(&r);
	ck_assert_int_eq(query_parse(ok, strlen(ok), &q, &bad, &cause), 0);
	ck_assert_int_eq(api_list_query(&a, &q, &jq, &r), 0);
	ck_assert_int_eq(jq.type, JOB_FULL_SYNC);
	ck_assert_int_eq(jq.status, JOB_COMPLETED);
	ck_assert(jq.has_from && jq.has_to);
	ck_assert_int_eq(jq.from_ms, 1706745600000LL);  /* 2024-02-01T00:00:00Z */
	ck_assert_int_eq(jq.to_ms, 1706831999999LL);    /* 2024-02-01T23:59:59.999Z */
	ck_assert_int_eq((int)jq.first, 1000);
	ck_assert(!jq.has_after);
	query_free(&q);
	ck_assert_int_eq(query_parse("", 0, &q, &bad, &cause), 0);
	ck_assert_int_eq(api_list_query(&a, &q, &jq, &r), 0);
	ck_assert_int_eq((int)jq.first, 50);
	ck_assert_int_eq(jq.status, -1);
	ck_assert_int_eq(jq.type, -1);
	query_free(&q);
	http_response_free(&r);
	api_free(&a);

	list_error("foo=1", "unknown_parameter", "foo");
	list_error("status=done", "invalid_parameter", "status");
	list_error("status=", "invalid_parameter", "status");
	list_error("status=Running", "invalid_parameter", "status");
	list_error("job_type=sync", "invalid_parameter", "job_type");
	list_error("first=0", "invalid_parameter", "first");
	list_error("first=1001", "invalid_parameter", "first");
	list_error("first=-1", "invalid_parameter", "first");
	list_error("first=1.5", "invalid_parameter", "first");
	list_error("first=", "invalid_parameter", "first");
	list_error("first=99999999999999999999", "invalid_parameter", "first");
	list_error("start_date=yesterday", "invalid_parameter", "start_date");
	list_error("start_date=2024-02-30", "invalid_parameter", "start_date");
	list_error("end_date=2024-02-01T10:00:00", "invalid_parameter", "end_date");
	list_error("start_date=2024-02-02&end_date=2024-02-01", "invalid_parameter",
		   "start_date");
	list_error("after=not-a-cursor", "invalid_parameter", "after");
	list_error("after=", "invalid_parameter", "after");
	/* Unknown parameters are reported before bad values of known ones. */
	list_error("status=bad&zzz=1", "unknown_parameter", "zzz");
}
END_TEST

static void
submit_error(const char *body, const char *code, const char *param)
{
	struct http_response r;
	struct job p;
	int type;
	char want[128];

	http_response_init(&r);
	ck_assert_msg(api_submit_parse(body, strlen(body), &type, &p, &r) == -1, "%s accepted",
		      body);
	ck_assert_int_eq(r.status, 400);
	snprintf(want, sizeof(want), "\"code\":\"%s\"", code);
	ck_assert_msg(strstr(r.body.p, want) != NULL, "%s: %s", body, r.body.p);
	if (param != NULL) {
		snprintf(want, sizeof(want), "\"parameter\":\"%s\"}}", param);
		ck_assert_msg(strstr(r.body.p, want) != NULL, "%s: %s", body, r.body.p);
	} else
		ck_assert_msg(strstr(r.body.p, "\"parameter\"") == NULL, "%s: %s", body, r.body.p);
	http_response_free(&r);
}

START_TEST(test_submit_body)
{
	struct http_response r;
	struct job p;
	int type;
	const char *b = "{\"job_type\":\"owner_sync\",\"parameters\":{\"source\":\"hr\","
			"\"limit\":25,\"ratio\":0.5,\"dry_run\":true,\"x\":false}}";

	http_response_init(&r);
	ck_assert_int_eq(api_submit_parse(b, strlen(b), &type, &p, &r), 0);
	ck_assert_int_eq(type, JOB_OWNER_SYNC);
	ck_assert_int_eq((int)p.nparams, 5);
	ck_assert_str_eq(job_param_get(&p, "source"), "hr");
	ck_assert_str_eq(job_param_get(&p, "limit"), "25");
	ck_assert_str_eq(job_param_get(&p, "ratio"), "0.5");
	ck_assert_str_eq(job_param_get(&p, "dry_run"), "true");
	ck_assert_str_eq(job_param_get(&p, "x"), "false");
	job_free(&p);
	b = "{\"job_type\":\"enrichment\"}";
	ck_assert_int_eq(api_submit_parse(b, strlen(b), &type, &p, &r), 0);
	ck_assert_int_eq(type, JOB_ENRICHMENT);
	ck_assert_int_eq((int)p.nparams, 0);
	job_free(&p);
	http_response_free(&r);

	submit_error("", "invalid_parameter", NULL);
	submit_error("{", "invalid_parameter", NULL);
	submit_error("[]", "invalid_parameter", NULL);
	submit_error("\"full_sync\"", "invalid_parameter", NULL);
	submit_error("{}", "invalid_parameter", "job_type");
	submit_error("{\"job_type\":\"nope\"}", "invalid_parameter", "job_type");
	submit_error("{\"job_type\":1}", "invalid_parameter", "job_type");
	submit_error("{\"job_type\":\"full_sync\",\"parameters\":[]}", "invalid_parameter",
		     "parameters");
	submit_error("{\"job_type\":\"full_sync\",\"parameters\":{\"a\":{}}}",
		     "invalid_parameter", "parameters");
	submit_error("{\"job_type\":\"full_sync\",\"parameters\":{\"a\":null}}",
		     "invalid_parameter", "parameters");
	submit_error("{\"job_type\":\"full_sync\",\"parameters\":{\"a\":\"1\",\"a\":\"2\"}}",
		     "invalid_parameter", "parameters");
	submit_error("{\"job_type\":\"full_sync\",\"priority\":1}", "unknown_parameter",
		     "priority");
	submit_error("{\"job_type\":\"full_sync\",\"job_type\":\"full_sync\"}",
		     "invalid_parameter", "job_type");
	submit_error("{\"job_type\":\"full_sync\"} trailing", "invalid_parameter", NULL);
	submit_error("{\"job_type\":\"\xff\"}", "invalid_parameter", NULL);
	/* "\u0000" would end the string where it stands: refused, naming the field. */
	submit_error("{\"job_type\":\"full\\u0000_sync\"}", "invalid_parameter", "job_type");
	submit_error("{\"job_type\":\"full_sync\",\"parameters\":{\"a\":\"x\\u0000y\"}}",
		     "invalid_parameter", "parameters");
	submit_error("{\"job_type\":\"full_sync\",\"parameters\":{\"a\\u0000b\":\"x\"}}",
		     "invalid_parameter", "parameters");
	submit_error("{\"a\":\"x\\u0000y\"}", "invalid_parameter", "a");
	/* an escaped backslash before "u0000" is no NUL */
	b = "{\"job_type\":\"full_sync\",\"parameters\":{\"a\":\"x\\\\u0000y\"}}";
	ck_assert_int_eq(api_submit_parse(b, strlen(b), &type, &p, &r), 0);
	ck_assert_str_eq(job_param_get(&p, "a"), "x\\u0000y");
	job_free(&p);
	http_response_free(&r);
}
END_TEST

Suite *
http_router_suite(void)
{
	Suite *s = suite_create("http_router");
	TCase *tc = tcase_create("router");

	tcase_add_test(tc, test_routes);
	tcase_add_test(tc, test_method_not_allowed);
	tcase_add_test(tc, test_url_split);
	tcase_add_test(tc, test_pct_decode);
	tcase_add_test(tc, test_query_parse);
	tcase_add_test(tc, test_error_body);
	tcase_add_test(tc, test_list_params);
	tcase_add_test(tc, test_submit_body);
	suite_add_tcase(s, tc);
	return (s);
}
