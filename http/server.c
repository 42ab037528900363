/* server.c: jobsd-http's libev side: listening sockets (at max_connections the oldest idle
 * keep-alive connection makes room for a new one; with none, accepting pauses), nonblocking connections with bounded input and output, idle / slow-request /
 * linger timeouts from one sweep timer, and the supervisor link (an ipc_peer on the
 * socketpair) with the table of requests waiting for its replies, keyed by IPC id. */
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "conn.h"
#include "log.h"
#include "server.h"

#define IN_MAX (64u << 10)   /* stop reading with this much unparsed input */
#define OUT_MAX (256u << 10) /* stop reading while this much output is queued */
#define READ_CHUNK 16384
#define SWEEP_S 0.1
#define LINGER_S 2.0
#define PING_TIMEOUT_S 1.0
#define SUPERVISOR_TIMEOUT_S 30.0 /* a submit; a cancel adds cancel_grace */
#define PEER_SEND_MAX (8u << 20) /* bytes queued to the supervisor */

struct sconn {
	struct conn c;
	struct server *srv;
	int fd;
	ev_io rio, wio;
	bool reading, writing;
	bool eof;       /* the client sent EOF */
	bool lingering; /* write side shut down; draining input until EOF or timeout */
	double last_io;
	double accepted;     /* until its first request completes, request_timeout runs */
	double req_start;    /* when the request being received began (0: none) */
	double linger_until;
	struct sconn *prev, *next;
};

struct pending {
	struct pending *prev, *next;
	uint32_t id;
	struct sconn *sc;
	struct conn_slot *slot;
	double deadline; /* 0: none */
};

static void conn_update(struct sconn *sc);
static void sconn_run(struct sconn *sc);
static void sconn_close(struct sconn *sc);

static double
now(struct server *srv)
{
	return (ev_now(srv->loop));
}

/* --- the supervisor link -------------------------------------------------- */

static void
pending_remove(struct server *srv, struct pending *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		srv->pending = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	free(p);
}

static void
on_wait(struct conn *c, struct conn_slot *s)
{
	struct sconn *sc = c->owner;
	struct server *srv = sc->srv;
	struct pending *p;

	p = xcalloc(1, sizeof(*p));
	p->id = s->ipc_id;
	p->sc = sc;
	p->slot = s;
	/* Never wait forever: past the deadline the client gets a 503 and a late reply is
	 * dropped (its id is no longer pending). */
	if (s->wait == API_WAIT_PING)
		p->deadline = now(srv) + PING_TIMEOUT_S;
	else if (s->wait == API_WAIT_CANCEL)
		p->deadline = now(srv) + srv->cancel_timeout_s;
	else
		p->deadline = now(srv) + srv->submit_timeout_s;
	p->next = srv->pending;
	if (p->next != NULL)
		p->next->prev = p;
	srv->pending = p;
}

static void
on_drop(struct conn *c, struct conn_slot *s)
{
	struct sconn *sc = c->owner;
	struct pending *p;

	for (p = sc->srv->pending; p != NULL; p = p->next) {
		if (p->slot == s) {
			pending_remove(sc->srv, p);
			return;
		}
	}
}

static void
pending_answer(struct server *srv, struct pending *p, const struct ipc_msg *m)
{
	struct sconn *sc = p->sc;
	struct conn_slot *slot = p->slot;

	pending_remove(srv, p);
	conn_reply(&sc->c, slot, m);
	sconn_run(sc);
}

static void
peer_msg(struct ipc_peer *peer, const struct ipc_msg *m, void *arg)
{
	struct server *srv = arg;
	struct pending *p;

	if (m->type != MSG_CTL_OK && m->type != MSG_CTL_FAIL) {
		log_warnx("supervisor sent message type %u; ignored", m->type);
		return;
	}
	for (p = srv->pending; p != NULL; p = p->next) {
		if (p->id == m->id) {
			pending_answer(srv, p, m);
			return;
		}
	}
	/* A reply to a request whose client went away or timed out. */
}

static void
peer_close(struct ipc_peer *peer, const char *reason, void *arg)
{
	struct server *srv = arg;

	log_warnx("supervisor link closed: %s", reason);
	ipc_peer_free(peer);
	srv->peer = NULL;
	srv->api.send = NULL;
	while (srv->pending != NULL)
		pending_answer(srv, srv->pending, NULL);
	if (srv->exit_without_supervisor)
		ev_break(srv->loop, EVBREAK_ALL);
}

static int
peer_send(void *arg, struct ipc_writer *w)
{
	struct server *srv = arg;

	if (srv->peer == NULL)
		return (-1);
	/* Rather a 503 than overflowing the link (which would drop it). */
	if (ipc_peer_queued(srv->peer) + w->buf.size > PEER_SEND_MAX)
		return (-1);
	return (ipc_peer_send(srv->peer, w));
}

/* --- connections ---------------------------------------------------------- */

static void
listeners_enable(struct server *srv, bool on)
{
	size_t i;

	if (srv->accepting == on)
		return;
	srv->accepting = on;
	for (i = 0; i < srv->nlisteners; i++) {
		if (on)
			ev_io_start(srv->loop, &srv->listeners[i].io);
		else
			ev_io_stop(srv->loop, &srv->listeners[i].io);
	}
}

static void
sconn_close(struct sconn *sc)
{
	struct server *srv = sc->srv;
	struct pending *p, *next;

	for (p = srv->pending; p != NULL; p = next) {
		next = p->next;
		if (p->sc == sc)
			pending_remove(srv, p);
	}
	ev_io_stop(srv->loop, &sc->rio);
	ev_io_stop(srv->loop, &sc->wio);
	close(sc->fd);
	conn_free(&sc->c);
	if (sc->prev != NULL)
		sc->prev->next = sc->next;
	else
		srv->conns = sc->next;
	if (sc->next != NULL)
		sc->next->prev = sc->prev;
	free(sc);
	srv->nconns--;
	srv->metrics.connections = srv->nconns;
	if (srv->nconns < (size_t)srv->max_connections && !srv->stopping &&
	    !ev_is_active(&srv->accept_retry))
		listeners_enable(srv, true);
}

/* Write as much of the output as the socket takes. -1 if the connection is gone. */
static int
sconn_write(struct sconn *sc)
{
	ssize_t n;

	while (sc->c.out.len > 0) {
		n = write(sc->fd, sc->c.out.p, sc->c.out.len);
		if (n > 0) {
			buf_consume(&sc->c.out, (size_t)n);
			sc->last_io = now(sc->srv);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return (0);
		return (-1);
	}
	return (0);
}

/* Decide, after any change, what the connection waits for. May free sc. */
static void
conn_update(struct sconn *sc)
{
	struct server *srv = sc->srv;
	struct conn *c = &sc->c;
	bool want_read, want_write;

	if (sconn_write(sc) != 0) {
		sconn_close(sc);
		return;
	}
	if (c->closing && c->out.len == 0 && !sc->lingering) {
		/* Half-close and drain, so the client reads the last response rather than
		 * a reset. */
		shutdown(sc->fd, SHUT_WR);
		sc->lingering = true;
		sc->linger_until = now(srv) + LINGER_S;
	}
	if (sc->eof && c->out.len == 0 && c->head == NULL) {
		sconn_close(sc);
		return;
	}
	if (sc->lingering)
		want_read = !sc->eof;
	else
		want_read = !sc->eof && !c->stop_parsing && c->in.len < IN_MAX &&
			    c->out.len < OUT_MAX && c->nslots < CONN_MAX_SLOTS;
	want_write = c->out.len > 0;
	if (want_read != sc->reading) {
		if (want_read)
			ev_io_start(srv->loop, &sc->rio);
		else
			ev_io_stop(srv->loop, &sc->rio);
		sc->reading = want_read;
	}
	if (want_write != sc->writing) {
		if (want_write)
			ev_io_start(srv->loop, &sc->wio);
		else
			ev_io_stop(srv->loop, &sc->wio);
		sc->writing = want_write;
	}
	if (!conn_request_started(c))
		sc->req_start = 0;
}

/* Parse and answer what the input holds, then update the watchers. May free sc. */
static void
sconn_run(struct sconn *sc)
{
	unsigned long before;

	for (;;) {
		if (sconn_write(sc) != 0) {
			sconn_close(sc);
			return;
		}
		before = sc->c.nrequests;
		if (!conn_process(&sc->c))
			break;
		/* A request completed: the clock of the next one starts now. */
		if (sc->c.nrequests != before)
			sc->req_start = conn_request_started(&sc->c) ? now(sc->srv) : 0;
	}
	conn_update(sc);
}

static void
read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct sconn *sc = w->data;
	struct conn *c = &sc->c;
	char discard[4096];
	ssize_t n;

	if (sc->lingering) {
		n = read(sc->fd, discard, sizeof(discard));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			sconn_close(sc);
		return;
	}
	buf_reserve(&c->in, READ_CHUNK);
	n = read(sc->fd, c->in.p + c->in.len, READ_CHUNK);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		sconn_close(sc);
		return;
	}
	sc->last_io = now(sc->srv);
	if (n == 0) {
		sc->eof = true;
		/* Answer what arrived complete; a half-received request never completes. */
		sconn_run(sc);
		return;
	}
	c->in.len += (size_t)n;
	c->in.p[c->in.len] = '\0';
	if (sc->req_start == 0)
		sc->req_start = now(sc->srv);
	sconn_run(sc);
}

static void
write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	/* Output drained: parsing may go on with input held back. */
	sconn_run(w->data);
}

/* The keep-alive connection idle the longest (answered at least one request, nothing in
 * flight), or NULL. */
static struct sconn *
oldest_idle(struct server *srv)
{
	struct sconn *sc, *best = NULL;

	for (sc = srv->conns; sc != NULL; sc = sc->next) {
		if (sc->lingering || sc->c.nrequests == 0 || !conn_idle(&sc->c))
			continue;
		if (best == NULL || sc->last_io <= best->last_io)
			best = sc;
	}
	return (best);
}

/* Close the oldest idle keep-alive connection to admit a new one. */
static bool
evict_idle(struct server *srv)
{
	struct sconn *sc;

	if ((sc = oldest_idle(srv)) == NULL)
		return (false);
	log_debug("at max_connections: closing an idle keep-alive connection");
	sconn_close(sc);
	return (true);
}

static void
accept_one(struct server *srv, int lfd)
{
	struct sconn *sc;
	int fd, on = 1;

	/* At the limit, an idle keep-alive connection makes room; with none, wait. */
	if (srv->nconns >= (size_t)srv->max_connections && !evict_idle(srv)) {
		listeners_enable(srv, false);
		return;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
			log_warn("accept");
			/* Pause accepting for a moment instead of spinning. */
			listeners_enable(srv, false);
			ev_timer_set(&srv->accept_retry, 0.1, 0.);
			ev_timer_start(srv->loop, &srv->accept_retry);
		}
		return;
	}
	/* Responses go out whole; do not let Nagle hold back the next pipelined one. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	sc = xcalloc(1, sizeof(*sc));
	sc->srv = srv;
	sc->fd = fd;
	conn_init(&sc->c, &srv->api, &srv->limits);
	sc->c.owner = sc;
	sc->c.on_wait = on_wait;
	sc->c.on_drop = on_drop;
	sc->last_io = sc->accepted = now(srv);
	ev_io_init(&sc->rio, read_cb, fd, EV_READ);
	ev_io_init(&sc->wio, write_cb, fd, EV_WRITE);
	sc->rio.data = sc;
	sc->wio.data = sc;
	sc->next = srv->conns;
	if (sc->next != NULL)
		sc->next->prev = sc;
	srv->conns = sc;
	srv->nconns++;
	srv->metrics.connections = srv->nconns;
	srv->metrics.connections_total++;
	conn_update(sc);
	if (srv->nconns >= (size_t)srv->max_connections && oldest_idle(srv) == NULL)
		listeners_enable(srv, false);
}

static void
listen_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct server *srv = w->data;
	int i;

	/* A few per wakeup, so that one busy listener does not starve the rest. */
	for (i = 0; i < 64 && srv->accepting; i++) {
		size_t before = srv->nconns;

		accept_one(srv, w->fd);
		if (srv->nconns == before)
			break;
	}
}

static void
accept_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *srv = w->data;

	if (srv->nconns < (size_t)srv->max_connections && !srv->stopping)
		listeners_enable(srv, true);
}

static void
sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct server *srv = w->data;
	struct sconn *sc, *next;
	struct pending *p, *pnext;
	double t = now(srv);

	for (p = srv->pending; p != NULL; p = pnext) {
		pnext = p->next;
		if (p->deadline != 0 && t >= p->deadline)
			pending_answer(srv, p, NULL);
	}
	for (sc = srv->conns; sc != NULL; sc = next) {
		next = sc->next;
		if (sc->lingering) {
			if (t >= sc->linger_until)
				sconn_close(sc);
			continue;
		}
		/* request_timeout runs from accept until the first request completes, so
		 * that connections which send nothing do not hold a slot for idle_timeout. */
		if (sc->c.nrequests == 0 && sc->reading &&
		    t - sc->accepted >= srv->request_timeout_s) {
			if (conn_request_started(&sc->c)) {
				conn_fail(&sc->c, 408);
				conn_update(sc);
			} else
				sconn_close(sc);
			continue;
		}
		/* Only while waiting for the client: held-back pipelined input is ours. */
		if (sc->req_start != 0 && sc->reading && conn_request_started(&sc->c) &&
		    t - sc->req_start >= srv->request_timeout_s) {
			conn_fail(&sc->c, 408);
			conn_update(sc);
			continue;
		}
		if (sc->c.out.len > 0 && t - sc->last_io >= srv->idle_timeout_s) {
			sconn_close(sc); /* the client stopped reading */
			continue;
		}
		if (conn_idle(&sc->c) && t - sc->last_io >= srv->idle_timeout_s)
			sconn_close(sc);
	}
	/* Paused at the limit: a connection that has gone idle since can make room. */
	if (!srv->accepting && !srv->stopping && !ev_is_active(&srv->accept_retry) &&
	    oldest_idle(srv) != NULL)
		listeners_enable(srv, true);
}

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct server *srv = w->data;

	log_info("signal %d: exiting", w->signum);
	srv->stopping = true;
	ev_break(loop, EVBREAK_ALL);
}

void
server_init(struct server *srv, struct ev_loop *loop)
{
	memset(srv, 0, sizeof(*srv));
	srv->loop = loop;
	api_init(&srv->api);
	srv->api.metrics = &srv->metrics;
	srv->max_connections = 1024;
	srv->idle_timeout_s = 60;
	srv->request_timeout_s = 10;
	srv->cancel_timeout_s = 10 + SUPERVISOR_TIMEOUT_S;
	srv->submit_timeout_s = SUPERVISOR_TIMEOUT_S;
	srv->limits.max_header_bytes = 16384;
	srv->limits.max_body_bytes = 65536;
}

int
server_add_listener(struct server *srv, int fd, char **cause)
{
	struct listener *l;
	int fl;

	if (srv->nlisteners == SERVER_MAX_LISTENERS) {
		*cause = xstrdup("too many listening sockets");
		return (-1);
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		*cause = xasprintf("listening fd %d: %s", fd, strerror(errno));
		return (-1);
	}
	l = &srv->listeners[srv->nlisteners++];
	l->fd = fd;
	ev_io_init(&l->io, listen_cb, fd, EV_READ);
	l->io.data = srv;
	return (0);
}

int
server_set_supervisor(struct server *srv, int fd, char **cause)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		*cause = xasprintf("supervisor fd %d: %s", fd, strerror(errno));
		return (-1);
	}
	srv->peer = ipc_peer_new(srv->loop, fd, peer_msg, peer_close, srv);
	if (srv->peer == NULL) {
		*cause = xstrdup("cannot set up the supervisor link");
		return (-1);
	}
	srv->api.send = peer_send;
	srv->api.send_arg = srv;
	return (0);
}

void
server_run(struct server *srv)
{
	ev_signal sigterm, sigint;

	ev_timer_init(&srv->sweep, sweep_cb, SWEEP_S, SWEEP_S);
	srv->sweep.data = srv;
	ev_timer_start(srv->loop, &srv->sweep);
	ev_timer_init(&srv->accept_retry, accept_retry_cb, 0.1, 0.);
	srv->accept_retry.data = srv;
	ev_signal_init(&sigterm, signal_cb, SIGTERM);
	ev_signal_init(&sigint, signal_cb, SIGINT);
	sigterm.data = srv;
	sigint.data = srv;
	ev_signal_start(srv->loop, &sigterm);
	ev_signal_start(srv->loop, &sigint);
	listeners_enable(srv, true);
	ev_run(srv->loop, 0);
	srv->stopping = true;
	listeners_enable(srv, false);
	ev_signal_stop(srv->loop, &sigterm);
	ev_signal_stop(srv->loop, &sigint);
	ev_timer_stop(srv->loop, &srv->sweep);
	ev_timer_stop(srv->loop, &srv->accept_retry);
}

void
server_free(struct server *srv)
{
	size_t i;

	while (srv->conns != NULL)
		sconn_close(srv->conns);
	while (srv->pending != NULL)
		pending_remove(srv, srv->pending);
	if (srv->peer != NULL)
		ipc_peer_free(srv->peer);
	srv->peer = NULL;
	for (i = 0; i < srv->nlisteners; i++)
		close(srv->listeners[i].fd);
	srv->nlisteners = 0;
	api_free(&srv->api);
}
