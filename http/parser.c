/* parser.c: llhttp wired the way node does it (one static settings table, the parser
 * embedded in our struct, pieces of URL and headers appended until their *_complete
 * callback). Enforces the header and body limits inside the callbacks and pauses after
 * each message so that pipelined requests are handed out one at a time. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "log.h"

#define PARSER(ll) ((struct http_parser *)(void *)((char *)(ll)-offsetof(struct http_parser, ll)))

static int
fail(struct http_parser *p, int status, const char *reason)
{
	p->error_status = status;
	llhttp_set_error_reason(&p->ll, reason);
	return (HPE_USER);
}

/* Count request-line and header bytes against the limit. */
static int
count_header(struct http_parser *p, size_t len)
{
	p->header_bytes += len;
	if (p->header_bytes > p->lim.max_header_bytes)
		return (fail(p, 431, "header overflow"));
	return (0);
}

static int
on_message_begin(llhttp_t *ll)
{
	struct http_parser *p = PARSER(ll);

	p->started = true;
	p->header_bytes = 0;
	return (0);
}

static int
on_url(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = PARSER(ll);

	if (count_header(p, len) != 0)
		return (HPE_USER);
	buf_add(&p->url, at, len);
	return (0);
}

static int
on_header_field(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = PARSER(ll);

	if (count_header(p, len + 4) != 0)
		return (HPE_USER);
	buf_add(&p->field, at, len);
	return (0);
}

static int
on_header_value(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = PARSER(ll);
	const char *q = at;

	if (count_header(p, len) != 0)
		return (HPE_USER);
	/* llhttp accepts obsolete line folding ("X: a\r\n b", "X:\r\n b"), handing the
	 * continuation over as a piece of value with only blanks between it and a LF:
	 * refuse it (RFC 9112 5.2 allows a 400). Otherwise a value follows the colon. */
	while (q > p->feed_start && (q[-1] == ' ' || q[-1] == '\t'))
		q--;
	if (len > 0 && (q > p->feed_start ? q[-1] : p->prev_byte) == '\n')
		return (fail(p, 400, "obsolete line folding"));
	buf_add(&p->value, at, len);
	return (0);
}

static int
on_header_value_complete(llhttp_t *ll)
{
	struct http_parser *p = PARSER(ll);
	struct http_request *r = &p->req;
	struct http_header *h;

	if (r->nheaders == HTTP_MAX_HEADERS)
		return (fail(p, 431, "too many headers"));
	h = &r->headers[r->nheaders++];
	h->name = buf_steal(&p->field, NULL);
	h->value = buf_steal(&p->value, NULL);
	return (0);
}

/* No Transfer-Encoding, or exactly one that is exactly "chunked" (we implement no other
 * transfer coding: 501). */
static bool
transfer_encoding_ok(const struct http_request *r)
{
	const char *v = NULL;
	size_t i, n = 0, len;

	for (i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->headers[i].name, "Transfer-Encoding") == 0) {
			v = r->headers[i].value;
			n++;
		}
	}
	if (n == 0)
		return (true);
	if (n > 1)
		return (false);
	while (*v == ' ' || *v == '\t')
		v++;
	len = strlen(v);
	while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	return (len == 7 && strncasecmp(v, "chunked", 7) == 0);
}

static int
on_headers_complete(llhttp_t *ll)
{
	struct http_parser *p = PARSER(ll);
	struct http_request *r = &p->req;
	const char *h;

	r->method = llhttp_get_method(ll);
	r->http_major = llhttp_get_http_major(ll);
	r->http_minor = llhttp_get_http_minor(ll);
	r->keep_alive = llhttp_should_keep_alive(ll);
	r->url = buf_steal(&p->url, &r->url_len);
	if (r->http_major != 1)
		return (fail(p, 505, "HTTP version not supported"));
	if (!transfer_encoding_ok(r))
		return (fail(p, 501, "transfer coding not implemented"));
	if ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > p->lim.max_body_bytes)
		return (fail(p, 413, "body too large"));
	if (ll->upgrade)
		p->upgrade = true;
	if ((h = http_request_header(r, "Expect")) != NULL && strcasecmp(h, "100-continue") == 0 &&
	    (ll->flags & (F_CONTENT_LENGTH | F_CHUNKED)) &&
	    (ll->content_length > 0 || (ll->flags & F_CHUNKED)))
		p->expect_continue = true;
	/* Never switch protocols: treat an Upgrade request as a plain request. */
	return (0);
}

static int
on_body(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = PARSER(ll);

	if (p->body.len + len > p->lim.max_body_bytes)
		return (fail(p, 413, "body too large"));
	buf_add(&p->body, at, len);
	return (0);
}

static int
on_message_complete(llhttp_t *ll)
{
	struct http_parser *p = PARSER(ll);

	p->req.body = buf_steal(&p->body, &p->req.body_len);
	/* llhttp updates keep-alive after the body (e.g. Connection: close). */
	p->req.keep_alive = llhttp_should_keep_alive(ll);
	p->complete = true;
	return (HPE_PAUSED);
}

static const llhttp_settings_t settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_header_value_complete = on_header_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void
http_parser_init(struct http_parser *p, const struct http_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->lim = *lim;
	llhttp_init(&p->ll, HTTP_REQUEST, &settings);
	buf_init(&p->field);
	buf_init(&p->value);
	buf_init(&p->url);
	buf_init(&p->body);
}

void
http_request_clear(struct http_request *r)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++) {
		free(r->headers[i].name);
		free(r->headers[i].value);
	}
	free(r->url);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

void
http_parser_free(struct http_parser *p)
{
	http_request_clear(&p->req);
	buf_free(&p->field);
	buf_free(&p->value);
	buf_free(&p->url);
	buf_free(&p->body);
}

/* Remember the last byte parsed that is not a blank (for the line folding check). */
static void
note_prev_byte(struct http_parser *p, const char *data, size_t used)
{
	while (used > 0 && (data[used - 1] == ' ' || data[used - 1] == '\t'))
		used--;
	if (used > 0)
		p->prev_byte = data[used - 1];
}

enum http_parse
http_parser_feed(struct http_parser *p, const char *data, size_t len, size_t *used)
{
	llhttp_errno_t e;
	const char *pos;

	*used = 0;
	if (p->error_status != 0)
		return (HTTP_PARSE_ERROR);
	if (p->complete)
		return (HTTP_PARSE_REQUEST);
	if (len == 0)
		return (HTTP_PARSE_MORE);
	p->feed_start = data;
	e = llhttp_execute(&p->ll, data, len);
	switch (e) {
	case HPE_OK:
		*used = len;
		note_prev_byte(p, data, len);
		return (HTTP_PARSE_MORE);
	case HPE_PAUSED:
	case HPE_PAUSED_UPGRADE:
		pos = llhttp_get_error_pos(&p->ll);
		*used = pos != NULL ? (size_t)(pos - data) : len;
		note_prev_byte(p, data, *used);
		if (!p->complete) {
			p->error_status = 400;
			return (HTTP_PARSE_ERROR);
		}
		if (e == HPE_PAUSED_UPGRADE || p->upgrade)
			p->req.keep_alive = false;
		return (HTTP_PARSE_REQUEST);
	default:
		pos = llhttp_get_error_pos(&p->ll);
		*used = pos != NULL && pos >= data && pos <= data + len ? (size_t)(pos - data) : len;
		if (p->error_status == 0) {
			/* HTTP/1.2, HTTP/3.0: llhttp knows only 0.9, 1.0, 1.1 and 2.0 */
			if (e == HPE_INVALID_VERSION)
				p->error_status = 505;
			else if (e == HPE_INVALID_TRANSFER_ENCODING)
				p->error_status = 501;
			else
				p->error_status = 400;
		}
		return (HTTP_PARSE_ERROR);
	}
}

void
http_parser_next(struct http_parser *p)
{
	http_request_clear(&p->req);
	buf_free(&p->field);
	buf_free(&p->value);
	buf_free(&p->url);
	buf_free(&p->body);
	p->complete = false;
	p->expect_continue = false;
	p->started = false;
	p->header_bytes = 0;
	if (p->upgrade) {
		/* An upgraded connection carries no further HTTP; it is closed. */
		p->error_status = 400;
		return;
	}
	llhttp_resume(&p->ll);
}

const char *
http_request_header(const struct http_request *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->headers[i].name, name) == 0)
			return (r->headers[i].value);
	}
	return (NULL);
}

const char *
http_method_name(int method)
{
	return (llhttp_method_name((llhttp_method_t)method));
}
