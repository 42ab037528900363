/* check_http_parser.c: the llhttp wiring of jobsd-http (http/parser.c): requests fed
 * whole, byte at a time and in odd chunks; pipelining; header and body limits; malformed
 * input; and the connection core (http/conn.c) answering in request order. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "http/conn.h"
#include "http/http.h"

Suite *http_parser_suite(void);

static const struct http_limits lim = {1024, 64};

/* Feed data in chunks of size step; collect up to 8 requests' method/url/body. */
struct got {
	int n;
	int method[8];
	char url[8][128];
	char body[8][128];
	char auth[8][64];
	bool keep_alive[8];
	int error;
};

static void
feed(const char *data, size_t len, size_t step, const struct http_limits *l, struct got *g)
{
	struct http_parser p;
	size_t off = 0, chunk, used, pos;
	enum http_parse r;
	const char *h;
	char *pending = NULL;
	size_t plen = 0;

	memset(g, 0, sizeof(*g));
	http_parser_init(&p, l);
	while (off < len && g->error == 0) {
		chunk = len - off < step ? len - off : step;
		pending = realloc(pending, plen + chunk);
		memcpy(pending + plen, data + off, chunk);
		plen += chunk;
		off += chunk;
		pos = 0;
		for (;;) {
			r = http_parser_feed(&p, pending + pos, plen - pos, &used);
			pos += used;
			if (r == HTTP_PARSE_ERROR) {
				g->error = p.error_status;
				break;
			}
			if (r == HTTP_PARSE_MORE)
				break;
			ck_assert_int_lt(g->n, 8);
			g->method[g->n] = p.req.method;
			snprintf(g->url[g->n], sizeof(g->url[0]), "%s", p.req.url);
			snprintf(g->body[g->n], sizeof(g->body[0]), "%.*s", (int)p.req.body_len,
				 p.req.body);
			h = http_request_header(&p.req, "authorization");
			snprintf(g->auth[g->n], sizeof(g->auth[0]), "%s", h != NULL ? h : "");
			g->keep_alive[g->n] = p.req.keep_alive;
			g->n++;
			http_parser_next(&p);
		}
		memmove(pending, pending + pos, plen - pos);
		plen -= pos;
	}
	free(pending);
	http_parser_free(&p);
}

static const char two[] =
    "GET /api/v1/jobs?status=running HTTP/1.1\r\nHost: x\r\n"
    "Authorization: Bearer abc\r\n\r\n"
    "POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n"
    "Connection: close\r\n\r\n{\"a\":\"b\"}\r\n";

START_TEST(test_pipelined_any_chunking)
{
	static const size_t steps[] = {1, 2, 3, 7, 13, 64, 4096};
	struct got g;
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		feed(two, strlen(two), steps[i], &lim, &g);
		ck_assert_int_eq(g.error, 0);
		ck_assert_int_eq(g.n, 2);
		ck_assert_int_eq(g.method[0], HTTP_GET);
		ck_assert_str_eq(g.url[0], "/api/v1/jobs?status=running");
		ck_assert_str_eq(g.auth[0], "Bearer abc");
		ck_assert(g.keep_alive[0]);
		ck_assert_int_eq(g.method[1], HTTP_POST);
		ck_assert_str_eq(g.url[1], "/api/v1/jobs");
		ck_assert_str_eq(g.body[1], "{\"a\":\"b\"}\r\n");
		ck_assert(!g.keep_alive[1]);
	}
}
END_TEST

START_TEST(test_http10)
{
	static const char a[] = "GET / HTTP/1.0\r\n\r\n";
	static const char b[] = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
	struct got g;

	feed(a, strlen(a), 1, &lim, &g);
	ck_assert_int_eq(g.n, 1);
	ck_assert(!g.keep_alive[0]);
	feed(b, strlen(b), 5, &lim, &g);
	ck_assert_int_eq(g.n, 1);
	ck_assert(g.keep_alive[0]);
}
END_TEST

START_TEST(test_chunked_body)
{
	static const char a[] = "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
	struct got g;

	feed(a, strlen(a), 1, &lim, &g);
	ck_assert_int_eq(g.error, 0);
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(g.body[0], "abcde");
}
END_TEST

START_TEST(test_header_limit)
{
	char req[2048];
	struct got g;

	/* 1100 bytes of one header value: over the 1024-byte limit. */
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX-Big: %01100d\r\n\r\n", 7);
	feed(req, strlen(req), 1, &lim, &g);
	ck_assert_int_eq(g.n, 0);
	ck_assert_int_eq(g.error, 431);
	feed(req, strlen(req), 4096, &lim, &g);
	ck_assert_int_eq(g.error, 431);
	/* A long URL counts too. */
	snprintf(req, sizeof(req), "GET /%01100d HTTP/1.1\r\n\r\n", 7);
	feed(req, strlen(req), 100, &lim, &g);
	ck_assert_int_eq(g.error, 431);
}
END_TEST

START_TEST(test_body_limit)
{
	static const char declared[] = "POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n";
	static const char exact[] = "POST / HTTP/1.1\r\nContent-Length: 64\r\n\r\n"
				    "0123456789012345678901234567890123456789012345678901234567890123";
	char chunked[512];
	struct got g;

	/* Refused from Content-Length alone, before any body byte. */
	feed(declared, strlen(declared), 1, &lim, &g);
	ck_assert_int_eq(g.error, 413);
	feed(exact, strlen(exact), 3, &lim, &g);
	ck_assert_int_eq(g.error, 0);
	ck_assert_int_eq(g.n, 1);
	/* Chunked: counted while the body arrives (40 + 40 > 64). */
	snprintf(chunked, sizeof(chunked),
		 "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n28\r\n%040d\r\n"
		 "28\r\n%040d\r\n0\r\n\r\n", 1, 2);
	feed(chunked, strlen(chunked), 1, &lim, &g);
	ck_assert_int_eq(g.error, 413);
}
END_TEST

START_TEST(test_garbage)
{
	static const char *const bad[] = {
	    "\x01\x02\x03 garbage\r\n\r\n",
	    "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
	    "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
	    "GET /\x7f HTTP/1.1\r\n\r\n",
	};
	struct got g;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		feed(bad[i], strlen(bad[i]), 1, &lim, &g);
		ck_assert_msg(g.error == 400, "case %zu: error %d", i, g.error);
		ck_assert_int_eq(g.n, 0);
	}
}
END_TEST

/* Strictness: obsolete line folding (400), transfer codings other than exactly "chunked"
 * (501), HTTP versions other than 1.x (505); each fed whole and a byte at a time. */
START_TEST(test_strict)
{
	static const struct {
		const char *req;
		int error;
	} cases[] = {
	    {"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nX: a\r\n\tb\r\nY: c\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nX: a\r\n  \r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nX:\r\n b\r\n\r\n", 400},
	    {"GET / HTTP/2.0\r\n\r\n", 505},
	    {"GET / HTTP/0.9\r\n\r\n", 505},
	    {"GET / HTTP/9.9\r\n\r\n", 505},
	    {"GET / HTTP/1.2\r\n\r\n", 505},
	    {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
	    {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
	    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 501},
	    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
	     "\r\n\r\n0\r\n\r\n", 501},
	    {"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", 501},
	    /* with a Content-Length too llhttp refuses it first: a plain 400 */
	    {"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\nContent-Length: 0\r\n\r\n",
	     400},
	    /* accepted */
	    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n", 0},
	    {"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked \r\n\r\n2\r\nab\r\n0\r\n\r\n", 0},
	    {"GET / HTTP/1.1\r\nX: a b\r\nY:  c\r\n\r\n", 0},
	    {"GET / HTTP/1.0\r\nX: a\tb\r\n\r\n", 0},
	};
	static const size_t steps[] = {1, 2, 3, 5, 4096};
	struct got g;
	size_t i, k;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
			feed(cases[i].req, strlen(cases[i].req), steps[k], &lim, &g);
			ck_assert_msg(g.error == cases[i].error, "case %zu step %zu: error %d", i,
				      steps[k], g.error);
			ck_assert_int_eq(g.n, cases[i].error == 0 ? 1 : 0);
		}
	}
	feed(cases[14].req, strlen(cases[14].req), 1, &lim, &g);
	ck_assert_str_eq(g.body[0], "ab");
}
END_TEST

START_TEST(test_too_many_headers)
{
	struct buf b;
	struct got g;
	struct http_limits big = {1 << 20, 64};
	int i;

	buf_init(&b);
	buf_adds(&b, "GET / HTTP/1.1\r\n");
	for (i = 0; i < HTTP_MAX_HEADERS + 1; i++)
		buf_printf(&b, "X-%d: v\r\n", i);
	buf_adds(&b, "\r\n");
	feed(b.p, b.len, 4096, &big, &g);
	ck_assert_int_eq(g.error, 431);
	buf_free(&b);
}
END_TEST

/* --- conn.c without a store: responses in order, errors close ---------------- */

static void
conn_feed(struct conn *c, const char *s)
{
	buf_adds(&c->in, s);
	while (conn_process(c))
		;
}

static int
count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return (n);
}

START_TEST(test_conn_order_and_close)
{
	struct api a;
	struct conn c;
	const char *p1, *p2, *p3;

	api_init(&a);
	conn_init(&c, &a, &lim);
	/* Three pipelined requests byte by byte: 404, 401, openapi (200). */
	const char *reqs = "GET /nope HTTP/1.1\r\n\r\nGET /api/v1/jobs HTTP/1.1\r\n\r\n"
			   "HEAD /api/v1/openapi.json HTTP/1.1\r\n\r\n";
	for (const char *q = reqs; *q != '\0'; q++) {
		char one[2] = {*q, '\0'};
		conn_feed(&c, one);
	}
	p1 = strstr(c.out.p, "HTTP/1.1 404 Not Found\r\n");
	p2 = strstr(c.out.p, "HTTP/1.1 401 Unauthorized\r\n");
	p3 = strstr(c.out.p, "HTTP/1.1 200 OK\r\n");
	ck_assert_ptr_nonnull(p1);
	ck_assert_ptr_nonnull(p2);
	ck_assert_ptr_nonnull(p3);
	ck_assert(p1 < p2 && p2 < p3);
	ck_assert_ptr_nonnull(strstr(p2, "WWW-Authenticate: Bearer realm=\"jobsd\"\r\n"));
	ck_assert_int_eq(count(c.out.p, "Server: jobsd/0.1\r\n"), 3);
	ck_assert_int_eq(count(c.out.p, "Date: "), 3);
	/* HEAD: headers with the length of the body that is not sent. */
	ck_assert_ptr_nonnull(strstr(p3, "Content-Length: "));
	ck_assert(c.out.p[c.out.len - 1] == '\n' && c.out.p[c.out.len - 2] == '\r' &&
		  c.out.p[c.out.len - 3] == '\n');
	ck_assert(!c.closing);

	/* Garbage: 400, Connection: close, nothing parsed after it. */
	buf_consume(&c.out, c.out.len);
	conn_feed(&c, "BLAH\x01\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(c.out.p, "HTTP/1.1 400 Bad Request\r\n"));
	ck_assert_ptr_nonnull(strstr(c.out.p, "Connection: close\r\n"));
	ck_assert_int_eq(count(c.out.p, "HTTP/1.1 "), 1);
	ck_assert(c.closing);
	conn_free(&c);
	api_free(&a);
}
END_TEST

/* The connection answers those with the status and closes. */
START_TEST(test_conn_strict)
{
	static const struct {
		const char *req;
		const char *line;
		const char *body;
	} cases[] = {
	    {"GET /healthz HTTP/2.0\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported\r\n",
	     "{\"error\":{\"status\":505,\"code\":\"http_version_not_supported\","
	     "\"message\":\"only HTTP/1.0 and HTTP/1.1 are supported\"}}"},
	    {"POST /api/v1/jobs HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
	     "HTTP/1.1 501 Not Implemented\r\n",
	     "{\"error\":{\"status\":501,\"code\":\"not_implemented\","
	     "\"message\":\"only the chunked transfer coding is implemented\"}}"},
	    {"GET /healthz HTTP/1.1\r\nX: a\r\n b\r\n\r\n", "HTTP/1.1 400 Bad Request\r\n",
	     "{\"error\":{\"status\":400,\"code\":\"bad_request\","
	     "\"message\":\"malformed HTTP request\"}}"},
	};
	struct api a;
	struct conn c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		api_init(&a);
		conn_init(&c, &a, &lim);
		conn_feed(&c, cases[i].req);
		ck_assert_msg(strncmp(c.out.p, cases[i].line, strlen(cases[i].line)) == 0,
			      "case %zu: %s", i, c.out.p);
		ck_assert_ptr_nonnull(strstr(c.out.p, "\r\nConnection: close\r\n\r\n"));
		ck_assert_str_eq(strstr(c.out.p, "\r\n\r\n") + 4, cases[i].body);
		ck_assert(c.closing);
		conn_free(&c);
		api_free(&a);
	}
}
END_TEST

START_TEST(test_conn_no_supervisor)
{
	struct api a;
	struct conn c;

	api_init(&a);
	conn_init(&c, &a, &lim);
	conn_feed(&c, "GET /healthz HTTP/1.0\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(c.out.p, "HTTP/1.1 503 Service Unavailable\r\n"));
	ck_assert_ptr_nonnull(strstr(c.out.p, "Content-Length: 24\r\n"));
	ck_assert_ptr_nonnull(strstr(c.out.p, "\r\n\r\n{\"status\":\"unavailable\"}"));
	/* HTTP/1.0 without keep-alive closes. */
	ck_assert_ptr_nonnull(strstr(c.out.p, "Connection: close\r\n"));
	ck_assert(c.closing);
	conn_free(&c);
	api_free(&a);
}
END_TEST

Suite *
http_parser_suite(void)
{
	Suite *s = suite_create("http_parser");
	TCase *tc = tcase_create("parser");

	tcase_add_test(tc, test_pipelined_any_chunking);
	tcase_add_test(tc, test_http10);
	tcase_add_test(tc, test_chunked_body);
	tcase_add_test(tc, test_header_limit);
	tcase_add_test(tc, test_body_limit);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_strict);
	tcase_add_test(tc, test_conn_strict);
	tcase_add_test(tc, test_too_many_headers);
	tcase_add_test(tc, test_conn_order_and_close);
	tcase_add_test(tc, test_conn_no_supervisor);
	suite_add_tcase(s, tc);
	return (s);
}
