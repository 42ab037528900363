/* blocking.c: blocking IPC helpers for processes without an event loop (jobctl, the
 * worker): write a whole buffer, read one whole message with a timeout. */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"

#define IPC_READ_CHUNK (64u << 10)

static int ipc_wait(int fd, short events, int timeout_ms);
static int64_t ipc_now_ms(void);

static int64_t
ipc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* poll(2) one fd: 1 ready, 0 timed out, -1 with errno. */
static int
ipc_wait(int fd, short events, int timeout_ms)
{
	struct pollfd pfd;
	int n;

	pfd.fd = fd;
	pfd.events = events;
	pfd.revents = 0;
	n = poll(&pfd, 1, timeout_ms);
	if (n == -1)
		return (-1);
	return (n > 0 ? 1 : 0);
}

/*
 * Write all of data. Sockets get send(MSG_NOSIGNAL) so a vanished peer is EPIPE rather
 * than SIGPIPE; anything else (a pipe in a test) falls back to write(2). A non-blocking
 * fd is waited on rather than failed.
 */
int
ipc_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	bool sock = true;
	ssize_t n;

	while (len > 0) {
		if (sock) {
			n = send(fd, p, len, MSG_NOSIGNAL);
			if (n == -1 && errno == ENOTSOCK) {
				sock = false;
				continue;
			}
		} else
			n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (ipc_wait(fd, POLLOUT, -1) == -1 && errno != EINTR)
					return (-1);
				continue;
			}
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

enum ipc_next
ipc_read_msg(int fd, struct ipc_reader *r, struct ipc_msg *m, int timeout_ms,
    char **cause)
{
	enum ipc_next rc;
	int64_t deadline = 0, left;
	void *space;
	ssize_t n;
	int ready, wait_ms;

	*cause = NULL;
	if (timeout_ms >= 0)
		deadline = ipc_now_ms() + timeout_ms;
	for (;;) {
		rc = ipc_reader_next(r, m, cause);
		if (rc != IPC_NEED_MORE)
			return (rc);

		wait_ms = -1;
		if (timeout_ms >= 0) {
			left = deadline - ipc_now_ms();
			wait_ms = left > 0 ? (int)left : 0;
		}
		ready = ipc_wait(fd, POLLIN, wait_ms);
		if (ready == -1) {
			if (errno == EINTR)
				continue;
			*cause = xasprintf("poll: %s", strerror(errno));
			return (IPC_BAD);
		}
		if (ready == 0)
			return (IPC_NEED_MORE);

		space = ipc_reader_space(r, IPC_READ_CHUNK);
		n = read(fd, space, IPC_READ_CHUNK);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			*cause = xasprintf("read: %s", strerror(errno));
			return (IPC_BAD);
		}
		if (n == 0) {
			*cause = xasprintf("connection closed");
			return (IPC_BAD);
		}
		ipc_reader_commit(r, (size_t)n);
	}
}
