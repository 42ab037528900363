/* peer.c: an IPC connection on a libev loop (supervisor, jobsd-http): a non-blocking fd,
 * a streaming reader dispatching whole messages, and a write queue with EV_WRITE armed
 * only while output is queued. A peer may be freed from inside its own callbacks.
 *
 * Lifetime: callbacks run with a reference held (p->refs); ipc_peer_free inside one only
 * marks the peer freed and stops its I/O, and the last reference destroys it. Failures
 * found while sending (queue limit, write error) never call back synchronously: they
 * mark the peer dead and feed an event to its write watcher, so on_close runs from the
 * loop and a caller of ipc_peer_send never sees the peer vanish under it. */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "ipc.h"
#include "log.h"

#define PEER_READ_CHUNK (16u << 10)
#define PEER_READ_BUDGET (64u << 10)   /* per callback, to stay fair to other fds */
#define PEER_QUEUE_LIMIT (16u << 20)   /* queued output beyond this closes the peer */
#define PEER_OUT_KEEP (256u << 10)     /* an empty queue bigger than this is freed */

struct ipc_peer {
	struct ev_loop *loop;
	int fd;
	ev_io rd;
	ev_io wr;
	struct ipc_reader in;

	char *out;
	size_t out_off, out_len, out_cap;

	ipc_msg_cb on_msg;
	ipc_close_cb on_close;
	void *arg;

	int refs;         /* callbacks in progress */
	bool freed;       /* ipc_peer_free was called */
	bool dead;        /* no more I/O; on_close owed or done */
	bool close_done;  /* on_close was called */
	bool paused;
	bool is_sock;     /* send(MSG_NOSIGNAL) works */
	char *reason;     /* why dead */
};

static void peer_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void peer_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void peer_hold(struct ipc_peer *p);
static void peer_release(struct ipc_peer *p);
static void peer_destroy(struct ipc_peer *p);
static void peer_fail(struct ipc_peer *p, char *reason);
static void peer_deliver_close(struct ipc_peer *p);
static bool peer_stopped(const struct ipc_peer *p);
static int peer_dispatch(struct ipc_peer *p);
static void peer_input(struct ipc_peer *p);
static void peer_flush(struct ipc_peer *p);
static ssize_t peer_write(struct ipc_peer *p, const char *data, size_t len);
static void peer_queue(struct ipc_peer *p, const char *data, size_t len);

struct ipc_peer *
ipc_peer_new(struct ev_loop *loop, int fd, ipc_msg_cb on_msg, ipc_close_cb on_close,
    void *arg)
{
	struct ipc_peer *p;
	int flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		log_warn("%s: fcntl(%d)", __func__, fd);
		return (NULL);
	}
	p = xcalloc(1, sizeof(*p));
	p->loop = loop;
	p->fd = fd;
	p->on_msg = on_msg;
	p->on_close = on_close;
	p->arg = arg;
	p->is_sock = true;
	ipc_reader_init(&p->in);
	ev_io_init(&p->rd, peer_read_cb, fd, EV_READ);
	p->rd.data = p;
	ev_io_init(&p->wr, peer_write_cb, fd, EV_WRITE);
	p->wr.data = p;
	ev_io_start(loop, &p->rd);
	return (p);
}

void
ipc_peer_free(struct ipc_peer *p)
{
	if (p == NULL || p->freed)
		return;
	p->freed = true;
	/* Best effort for a reply queued just before the owner hangs up. */
	if (!p->dead && p->fd != -1 && ipc_peer_queued(p) > 0)
		(void)peer_write(p, p->out + p->out_off, ipc_peer_queued(p));
	/* Stopping also clears any pending (fed) events for these watchers. */
	ev_io_stop(p->loop, &p->rd);
	ev_io_stop(p->loop, &p->wr);
	if (p->fd != -1) {
		close(p->fd);
		p->fd = -1;
	}
	if (p->refs == 0)
		peer_destroy(p);
}

static void
peer_destroy(struct ipc_peer *p)
{
	ipc_reader_destroy(&p->in);
	free(p->out);
	free(p->reason);
	free(p);
}

static void
peer_hold(struct ipc_peer *p)
{
	p->refs++;
}

static void
peer_release(struct ipc_peer *p)
{
	if (--p->refs == 0 && p->freed)
		peer_destroy(p);
}

int
ipc_peer_fd(const struct ipc_peer *p)
{
	return (p->fd);
}

size_t
ipc_peer_queued(const struct ipc_peer *p)
{
	return (p->out_len - p->out_off);
}

void
ipc_peer_pause(struct ipc_peer *p, bool paused)
{
	if (p->freed || p->dead) {
		p->paused = paused;
		return;
	}
	if (paused) {
		p->paused = true;
		ev_io_stop(p->loop, &p->rd);
		return;
	}
	if (!p->paused)
		return;
	p->paused = false;
	ev_io_start(p->loop, &p->rd);
	/* Messages already buffered would wait for new bytes otherwise. */
	if (p->in.len > p->in.off)
		ev_feed_event(p->loop, &p->rd, EV_READ);
}

/* Stop all I/O and owe the owner an on_close from the loop; the first reason wins. */
static void
peer_fail(struct ipc_peer *p, char *reason)
{
	if (p->dead || p->freed) {
		free(reason);
		return;
	}
	p->dead = true;
	p->reason = reason;
	ev_io_stop(p->loop, &p->rd);
	ev_io_stop(p->loop, &p->wr);
	ev_feed_event(p->loop, &p->wr, EV_CUSTOM);
}

static void
peer_deliver_close(struct ipc_peer *p)
{
	if (!p->dead || p->close_done || p->freed)
		return;
	p->close_done = true;
	ev_clear_pending(p->loop, &p->wr);
	if (p->on_close != NULL) {
		peer_hold(p);
		p->on_close(p, p->reason, p->arg);
		peer_release(p);
	}
}

static bool
peer_stopped(const struct ipc_peer *p)
{
	return (p->freed || p->dead || p->paused);
}

/* Hand every complete buffered message to on_msg. -1 once the peer is unusable. */
static int
peer_dispatch(struct ipc_peer *p)
{
	struct ipc_msg m;
	enum ipc_next rc;
	char *cause;

	while (!peer_stopped(p)) {
		rc = ipc_reader_next(&p->in, &m, &cause);
		if (rc == IPC_NEED_MORE)
			return (0);
		if (rc == IPC_BAD) {
			peer_fail(p, cause);
			return (-1);
		}
		p->on_msg(p, &m, p->arg);
	}
	return (p->freed || p->dead ? -1 : 0);
}

static void
peer_input(struct ipc_peer *p)
{
	size_t total = 0;
	ssize_t n;
	void *space;

	if (peer_dispatch(p) == -1)
		return;
	while (!peer_stopped(p) && total < PEER_READ_BUDGET) {
		space = ipc_reader_space(&p->in, PEER_READ_CHUNK);
		n = read(p->fd, space, PEER_READ_CHUNK);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			peer_fail(p, xasprintf("read: %s", strerror(errno)));
			return;
		}
		if (n == 0) {
			if (p->in.len > p->in.off)
				peer_fail(p, xasprintf("connection closed inside a frame"));
			else
				peer_fail(p, xasprintf("connection closed"));
			return;
		}
		ipc_reader_commit(&p->in, (size_t)n);
		total += (size_t)n;
		if (peer_dispatch(p) == -1)
			return;
	}
}

static void
peer_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ipc_peer *p = w->data;

	peer_hold(p);
	peer_input(p);
	if (p->dead)
		peer_deliver_close(p);
	peer_release(p);
}

static ssize_t
peer_write(struct ipc_peer *p, const char *data, size_t len)
{
	ssize_t n;

	if (p->is_sock) {
		n = send(p->fd, data, len, MSG_NOSIGNAL);
		if (n != -1 || errno != ENOTSOCK)
			return (n);
		p->is_sock = false;
	}
	return (write(p->fd, data, len));
}

/* Write queued output until the kernel pushes back; disarm EV_WRITE once empty. */
static void
peer_flush(struct ipc_peer *p)
{
	ssize_t n;

	while (p->out_off < p->out_len) {
		n = peer_write(p, p->out + p->out_off, p->out_len - p->out_off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				ev_io_start(p->loop, &p->wr);
				return;
			}
			peer_fail(p, xasprintf("write: %s", strerror(errno)));
			return;
		}
		p->out_off += (size_t)n;
	}
	p->out_off = p->out_len = 0;
	if (p->out_cap > PEER_OUT_KEEP) {
		free(p->out);
		p->out = NULL;
		p->out_cap = 0;
	}
	ev_io_stop(p->loop, &p->wr);
}

static void
peer_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ipc_peer *p = w->data;

	peer_hold(p);
	if (!p->dead && !p->freed && (revents & EV_WRITE))
		peer_flush(p);
	if (p->dead)
		peer_deliver_close(p);
	peer_release(p);
}

static void
peer_queue(struct ipc_peer *p, const char *data, size_t len)
{
	size_t need, ncap;

	if (p->out_off > 0 && p->out_off == p->out_len)
		p->out_off = p->out_len = 0;
	need = p->out_len + len;
	if (need > p->out_cap && p->out_off > 0) {
		memmove(p->out, p->out + p->out_off, p->out_len - p->out_off);
		p->out_len -= p->out_off;
		p->out_off = 0;
		need = p->out_len + len;
	}
	if (need > p->out_cap) {
		ncap = p->out_cap ? p->out_cap : 4096;
		while (ncap < need)
			ncap *= 2;
		p->out = xrealloc(p->out, ncap);
		p->out_cap = ncap;
	}
	memcpy(p->out + p->out_len, data, len);
	p->out_len += len;
}

int
ipc_peer_send(struct ipc_peer *p, struct ipc_writer *w)
{
	const char *data = w->buf.data;
	size_t len = w->buf.size;
	ssize_t n;

	if (p->dead || p->freed) {
		ipc_writer_reset(w);
		return (-1);
	}
	if (len == 0)
		return (0);
	if (ipc_peer_queued(p) + len > PEER_QUEUE_LIMIT) {
		ipc_writer_reset(w);
		peer_fail(p, xasprintf("output queue over %u bytes (peer not reading)",
		    PEER_QUEUE_LIMIT));
		return (-1);
	}
	/* Nothing queued: try the socket first and queue only what it would not take. */
	while (ipc_peer_queued(p) == 0 && len > 0) {
		n = peer_write(p, data, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			ipc_writer_reset(w);
			peer_fail(p, xasprintf("write: %s", strerror(errno)));
			return (-1);
		}
		data += n;
		len -= (size_t)n;
	}
	if (len > 0) {
		peer_queue(p, data, len);
		ev_io_start(p->loop, &p->wr);
	}
	ipc_writer_reset(w);
	return (0);
}
