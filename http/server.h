/* server.h: jobsd-http's event loop side (server.c). */
#ifndef JOBSD_HTTP_SERVER_H
#define JOBSD_HTTP_SERVER_H

#include <ev.h>

#include "http.h"

#define SERVER_MAX_LISTENERS 16

struct sconn;
struct pending;
struct listener {
	int fd;
	ev_io io;
};

struct server {
	struct ev_loop *loop;
	struct api api;
	struct metrics metrics;
	struct http_limits limits;
	int max_connections;
	double idle_timeout_s;
	double request_timeout_s;
	double cancel_timeout_s; /* a DELETE waiting for the supervisor: cancel_grace + 30 s */
	double submit_timeout_s; /* a POST waiting for the supervisor */
	struct listener listeners[SERVER_MAX_LISTENERS];
	size_t nlisteners;
	bool accepting;
	bool stopping;
	bool exit_without_supervisor; /* leave the loop when the supervisor link closes */
	ev_timer sweep;
	ev_timer accept_retry;
	struct sconn *conns;
	size_t nconns;
	struct ipc_peer *peer;
	struct pending *pending;
};

/* server_init, set limits/api.store, add listeners and the supervisor link, run. */
void server_init(struct server *srv, struct ev_loop *loop);
int server_add_listener(struct server *srv, int fd, char **cause);
int server_set_supervisor(struct server *srv, int fd, char **cause);
void server_run(struct server *srv); /* until SIGTERM/SIGINT (or the supervisor leaves) */
void server_free(struct server *srv);

#endif
