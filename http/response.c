/* response.c: HTTP responses: status line, the headers every response carries (Date,
 * Server, Content-Length), JSON error bodies rendered with yajl. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_gen.h>

#include "http.h"
#include "log.h"

void
http_response_init(struct http_response *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body);
}

void
http_response_free(struct http_response *r)
{
	buf_free(&r->body);
	http_response_init(r);
}

void
http_response_header(struct http_response *r, const char *fmt, ...)
{
	size_t used = strlen(r->headers);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(r->headers + used, sizeof(r->headers) - used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(r->headers) - used - 2) {
		r->headers[used] = '\0'; /* too long: dropped (our own headers are short) */
		return;
	}
	strcat(r->headers, "\r\n");
}

void
http_response_json(struct http_response *r, int status, const char *json, size_t len)
{
	r->status = status;
	r->content_type = NULL;
	r->body.len = 0;
	buf_add(&r->body, json, len);
}

/* Client input may be echoed (a parameter name): never invalid UTF-8 in the body. */
static void
gen_str(yajl_gen g, const char *s)
{
	json_gen_utf8(g, s, strlen(s));
}

void
http_response_error(struct http_response *r, int status, const char *code, const char *message,
		    const char *parameter)
{
	const unsigned char *out;
	size_t len;
	yajl_gen g;

	g = yajl_gen_alloc(NULL);
	if (g == NULL)
		fatalx("yajl_gen_alloc");
	yajl_gen_map_open(g);
	gen_str(g, "error");
	yajl_gen_map_open(g);
	gen_str(g, "status");
	yajl_gen_integer(g, status);
	gen_str(g, "code");
	gen_str(g, code);
	gen_str(g, "message");
	gen_str(g, message);
	if (parameter != NULL) {
		gen_str(g, "parameter");
		gen_str(g, parameter);
	}
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	yajl_gen_get_buf(g, &out, &len);
	http_response_json(r, status, (const char *)out, len);
	yajl_gen_free(g);
}

const char *
http_status_text(int status)
{
	switch (status) {
	case 200: return ("OK");
	case 201: return ("Created");
	case 204: return ("No Content");
	case 400: return ("Bad Request");
	case 401: return ("Unauthorized");
	case 403: return ("Forbidden");
	case 404: return ("Not Found");
	case 405: return ("Method Not Allowed");
	case 408: return ("Request Timeout");
	case 409: return ("Conflict");
	case 413: return ("Content Too Large");
	case 415: return ("Unsupported Media Type");
	case 431: return ("Request Header Fields Too Large");
	case 500: return ("Internal Server Error");
	case 501: return ("Not Implemented");
	case 503: return ("Service Unavailable");
	case 505: return ("HTTP Version Not Supported");
	default: return ("Unknown");
	}
}

const char *
http_date_now(void)
{
	static char date[64];
	static time_t cached = -1;
	time_t now = time(NULL);
	struct tm tm;

	if (now != cached) {
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		cached = now;
	}
	return (date);
}

void
http_response_serialize(const struct http_response *r, bool head, bool close,
			bool http10_keepalive, struct buf *out)
{
	bool nobody = r->status == 204 || r->status == 304 || r->status < 200;

	buf_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: %s\r\n", r->status,
		   http_status_text(r->status), http_date_now(), HTTP_SERVER_NAME);
	if (!nobody) {
		if (r->body.len > 0 || r->content_type != NULL)
			buf_printf(out, "Content-Type: %s\r\n",
				   r->content_type != NULL ? r->content_type : HTTP_JSON);
		buf_printf(out, "Content-Length: %zu\r\n", r->body.len);
	}
	buf_adds(out, r->headers);
	if (close)
		buf_adds(out, "Connection: close\r\n");
	else if (http10_keepalive)
		buf_adds(out, "Connection: keep-alive\r\n");
	buf_adds(out, "\r\n");
	if (!head && !nobody && r->body.len > 0)
		buf_add(out, r->body.p, r->body.len);
}
