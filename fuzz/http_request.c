/* http_request.c: libFuzzer target for jobsd-http's raw bytes -> responses path: the
 * llhttp parser with its limits, routing, query and body validation, auth, the handlers
 * (without a store: they answer 503/500 after validating) and the in-order response queue.
 * The first input byte chooses the mode (auth bypass, a supervisor that accepts requests)
 * and how the rest is split into reads. Build and run: fuzz/run.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/conn.h"
#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
accept_send(void *arg, struct ipc_writer *w)
{
	ipc_writer_reset(w);
	return (0);
}

static struct conn_slot *waiting[64];
static size_t nwaiting;

static void
on_wait(struct conn *c, struct conn_slot *s)
{
	if (nwaiting < 64)
		waiting[nwaiting++] = s;
}

static void
on_drop(struct conn *c, struct conn_slot *s)
{
	size_t i;

	for (i = 0; i < nwaiting; i++) {
		if (waiting[i] == s)
			waiting[i] = waiting[--nwaiting];
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_limits lim = {2048, 1024};
	struct metrics m;
	struct api a;
	struct conn c;
	size_t off, chunk, step;
	uint8_t mode;

	if (size < 1)
		return (0);
	mode = data[0];
	data++;
	size--;
	memset(&m, 0, sizeof(m));
	api_init(&a);
	a.metrics = &m;
	a.auth_bypass = (mode & 1) != 0;
	if (mode & 2) {
		a.send = accept_send;
		a.send_arg = NULL;
	}
	step = (size_t)(mode >> 2) + 1; /* 1..64 bytes per read */
	nwaiting = 0;
	conn_init(&c, &a, &lim);
	c.on_wait = on_wait;
	c.on_drop = on_drop;
	for (off = 0; off < size; off += chunk) {
		chunk = size - off < step ? size - off : step;
		buf_add(&c.in, data + off, chunk);
		while (conn_process(&c))
			;
		/* The supervisor answers (here: never can) whatever waits. */
		while (nwaiting > 0 && !c.closing) {
			struct conn_slot *s = waiting[--nwaiting];
			conn_reply(&c, s, NULL);
			while (conn_process(&c))
				;
		}
		if (c.out.len > 0 && memcmp(c.out.p, "HTTP/1.1 ", c.out.len < 9 ? c.out.len : 9) != 0)
			abort();
		c.out.len = 0; /* "written" */
	}
	if (conn_request_started(&c))
		conn_fail(&c, 408);
	conn_free(&c);
	api_free(&a);
	return (0);
}
