/* conn.c: one HTTP connection without an event loop: bytes in, responses out, strictly in
 * request order. Each parsed request gets a slot in a queue; a slot waiting for the
 * supervisor (DELETE, POST, /healthz) holds back the responses behind it, which are
 * serialized once it is answered, and the requests behind it are evaluated only then,
 * except submits (passes_waiting). server.c owns the socket and the supervisor link; the
 * fuzzer and the unit tests drive this directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "log.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

void
conn_init(struct conn *c, struct api *api, const struct http_limits *lim)
{
	memset(c, 0, sizeof(*c));
	http_parser_init(&c->parser, lim);
	buf_init(&c->in);
	buf_init(&c->out);
	c->tailp = &c->head;
	c->api = api;
}

static void
slot_free(struct conn_slot *s)
{
	http_response_free(&s->resp);
	free(s);
}

void
conn_free(struct conn *c)
{
	struct conn_slot *s, *next;

	for (s = c->head; s != NULL; s = next) {
		next = s->next;
		slot_free(s);
	}
	c->head = NULL;
	c->tailp = &c->head;
	c->nslots = 0;
	http_parser_free(&c->parser);
	buf_free(&c->in);
	buf_free(&c->out);
}

static struct conn_slot *
slot_add(struct conn *c)
{
	struct conn_slot *s;

	s = xcalloc(1, sizeof(*s));
	http_response_init(&s->resp);
	s->start = now_s();
	*c->tailp = s;
	c->tailp = &s->next;
	c->nslots++;
	return (s);
}

/* Serialize every ready slot at the head of the queue into c->out. */
static void
conn_flush(struct conn *c)
{
	struct conn_slot *s;
	struct metrics *m = c->api != NULL ? c->api->metrics : NULL;
	double elapsed;

	while ((s = c->head) != NULL && s->ready) {
		if (s->resp.close)
			s->close = true;
		http_response_serialize(&s->resp, s->head, s->close, s->http10_ka, &c->out);
		elapsed = now_s() - s->start;
		if (m != NULL)
			metrics_observe(m, s->resp.status, elapsed);
		log_debug("%s %d %.1f ms", s->line[0] != '\0' ? s->line : "-", s->resp.status,
			  elapsed * 1000);
		c->head = s->next;
		if (c->head == NULL)
			c->tailp = &c->head;
		c->nslots--;
		if (s->close) {
			c->closing = true;
			c->stop_parsing = true;
		}
		slot_free(s);
		if (c->closing) {
			/* Nothing after a closing response is ever sent. */
			while ((s = c->head) != NULL) {
				if (s->wait != API_WAIT_NONE) {
					c->nwaiting--;
					if (c->on_drop != NULL)
						c->on_drop(c, s);
				}
				c->head = s->next;
				slot_free(s);
			}
			c->tailp = &c->head;
			c->nslots = 0;
			break;
		}
	}
}

void
conn_fail(struct conn *c, int status)
{
	struct conn_slot *s;

	if (c->stop_parsing)
		return;
	c->stop_parsing = true;
	s = slot_add(c);
	switch (status) {
	case 408:
		http_response_error(&s->resp, 408, "request_timeout",
				    "the request took too long to arrive", NULL);
		break;
	case 413:
		http_response_error(&s->resp, 413, "payload_too_large",
				    "the request body is too large", NULL);
		break;
	case 431:
		http_response_error(&s->resp, 431, "request_header_fields_too_large",
				    "the request headers are too large", NULL);
		break;
	case 501:
		http_response_error(&s->resp, 501, "not_implemented",
				    "only the chunked transfer coding is implemented", NULL);
		break;
	case 505:
		http_response_error(&s->resp, 505, "http_version_not_supported",
				    "only HTTP/1.0 and HTTP/1.1 are supported", NULL);
		break;
	default:
		http_response_error(&s->resp, 400, "bad_request", "malformed HTTP request", NULL);
		break;
	}
	s->close = true;
	s->ready = true;
	conn_flush(c);
}

/* The access log's "GET /api/v1/jobs". */
static void
slot_line(struct conn_slot *s, const struct http_request *req)
{
	/* Path only: the query may be long and is not needed to follow traffic. */
	snprintf(s->line, sizeof(s->line), "%s %.*s", http_method_name(req->method),
		 (int)strcspn(req->url, "?"), req->url);
	for (char *q = s->line; *q != '\0'; q++) {
		if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f)
			*q = '?';
	}
}

static void
dispatch(struct conn *c, struct http_request *req)
{
	struct conn_slot *s;
	uint32_t id = 0;

	c->nrequests++;
	s = slot_add(c);
	s->head = req->method == HTTP_HEAD;
	slot_line(s, req);
	s->close = !req->keep_alive;
	s->http10_ka = req->keep_alive && req->http_major == 1 && req->http_minor == 0;
	if (c->api == NULL) {
		http_response_error(&s->resp, 503, "unavailable", "unavailable", NULL);
		s->wait = API_WAIT_NONE;
	} else
		s->wait = api_handle(c->api, req, &s->resp, &id);
	if (s->close)
		c->stop_parsing = true;
	if (s->wait == API_WAIT_NONE)
		s->ready = true;
	else {
		s->ipc_id = id;
		c->nwaiting++;
		if (c->on_wait != NULL)
			c->on_wait(c, s);
	}
}

/* A request whose headers are in waits for permission to send its body: if it is refused
 * anyway (no such route, method, token or role; not JSON), answer now and close rather than
 * invite a body only to discard it; else send 100 Continue. */
static void
continue_or_refuse(struct conn *c)
{
	const struct http_request *req = &c->parser.req;
	struct http_response resp;
	struct conn_slot *s;

	c->parser.expect_continue = false;
	http_response_init(&resp);
	if (c->api == NULL || api_precheck(c->api, req, &resp) == 0) {
		http_response_free(&resp);
		buf_adds(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
		return;
	}
	c->nrequests++;
	s = slot_add(c);
	http_response_free(&s->resp);
	s->resp = resp; /* owns the body now */
	s->head = req->method == HTTP_HEAD;
	slot_line(s, req);
	s->close = true;
	s->ready = true;
	c->stop_parsing = true;
}

/* May req be evaluated while earlier requests of the connection wait for the supervisor?
 * Only a submit: the supervisor takes requests in the order they were sent, and nothing a
 * submit's answer depends on can be changed by a request before it. Anything else (a GET
 * pipelined after a DELETE must see the job cancelled) waits until they are answered. */
static bool
passes_waiting(const struct http_request *req)
{
	return (req->method == HTTP_POST);
}

/*
 * Bring the next request to be evaluated into c->parser.req: true if there is one that may
 * be evaluated now. A request parsed while earlier ones wait for the supervisor is parked
 * (parsed, not evaluated) until they are answered, unless it may pass them.
 */
static bool
next_request(struct conn *c, bool *progress)
{
	enum http_parse pr;
	size_t used;

	if (c->parked) {
		if (c->nwaiting > 0)
			return (false);
		c->parked = false;
		return (true);
	}
	if (c->in.len == 0) {
		/* A client whose headers asked for permission to send the body gets it when
		 * its request is next in line (nothing queued or unwritten before it). */
		if (c->parser.expect_continue && c->head == NULL && c->out.len == 0) {
			continue_or_refuse(c);
			*progress = true;
		}
		return (false);
	}
	pr = http_parser_feed(&c->parser, c->in.p, c->in.len, &used);
	buf_consume(&c->in, used);
	if (used > 0)
		*progress = true; /* the caller comes back: the check above runs then */
	if (pr == HTTP_PARSE_MORE)
		return (false);
	if (pr == HTTP_PARSE_ERROR) {
		conn_fail(c, c->parser.error_status);
		return (false);
	}
	if (c->nwaiting > 0 && !passes_waiting(&c->parser.req)) {
		c->parked = true;
		return (false);
	}
	return (true);
}

/* Requests are evaluated in order; pipelined submits reach the supervisor together, and
 * one flush makes them all durable instead of one flush each. */
bool
conn_process(struct conn *c)
{
	bool progress = false;

	while (!c->stop_parsing && c->nslots < CONN_MAX_SLOTS && c->out.len < CONN_OUT_MAX &&
	    next_request(c, &progress)) {
		dispatch(c, &c->parser.req);
		http_parser_next(&c->parser);
		progress = true;
	}
	conn_flush(c);
	return (progress);
}

void
conn_reply(struct conn *c, struct conn_slot *s, const struct ipc_msg *m)
{
	if (c->api != NULL)
		api_reply(c->api, s->wait, m, &s->resp);
	else
		http_response_error(&s->resp, 503, "unavailable", "unavailable", NULL);
	s->wait = API_WAIT_NONE;
	s->ready = true;
	c->nwaiting--;
	conn_flush(c);
}

bool
conn_request_started(const struct conn *c)
{
	/* Bytes held back unparsed (behind a waiting request) are not the client's delay. */
	return (c->parser.started && !c->parser.complete);
}

bool
conn_idle(const struct conn *c)
{
	return (c->head == NULL && c->out.len == 0 && c->in.len == 0 &&
		!conn_request_started(c));
}
