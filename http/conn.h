/* conn.h: one HTTP connection's protocol state, independent of any event loop (conn.c). */
#ifndef JOBSD_HTTP_CONN_H
#define JOBSD_HTTP_CONN_H

#include "http.h"

#define CONN_MAX_SLOTS 32 /* pipelined requests answered but not yet written */
#define CONN_OUT_MAX (256u << 10) /* stop parsing while this much output waits */

struct conn;
struct conn_slot {
	struct conn_slot *next;
	bool ready;
	bool head;      /* a HEAD request: headers only */
	bool close;     /* close the connection after this response */
	bool http10_ka; /* HTTP/1.0 with keep-alive: say so */
	enum api_wait wait;
	uint32_t ipc_id;
	double start;   /* monotonic seconds, for the latency histogram */
	char line[80];  /* "GET /api/v1/jobs" for the debug access log */
	struct http_response resp;
};

struct conn {
	struct http_parser parser;
	struct buf in;  /* bytes read, not yet parsed */
	struct buf out; /* bytes to write */
	struct conn_slot *head, **tailp;
	size_t nslots;
	unsigned long nrequests; /* dispatched so far */
	size_t nwaiting;         /* slots waiting for the supervisor */
	bool parked;       /* parser.req is complete, evaluated once nothing waits */
	bool stop_parsing; /* after an error or a request that closes the connection */
	bool closing;      /* the closing response is in out */
	struct api *api;
	/* A slot now waits for the supervisor (register s->ipc_id) / will never be answered. */
	void (*on_wait)(struct conn *c, struct conn_slot *s);
	void (*on_drop)(struct conn *c, struct conn_slot *s);
	void *owner;
};

void conn_init(struct conn *c, struct api *api, const struct http_limits *lim);
void conn_free(struct conn *c); /* the owner forgets the waiting slots first */
/* Parse what is in c->in, answer, serialize ready responses in order. True if it
 * consumed input. */
bool conn_process(struct conn *c);
/* Answer with an error (408, 400, 413, 431, 501, 505) and close after it. */
void conn_fail(struct conn *c, int status);
/* The supervisor answered (m NULL: it never will) slot s. */
void conn_reply(struct conn *c, struct conn_slot *s, const struct ipc_msg *m);
bool conn_request_started(const struct conn *c);
bool conn_idle(const struct conn *c);

#endif
