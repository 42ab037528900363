/* submit.c: the client of the turnaround benchmark (docs/benchmarks.md, figure 3). It
 * submits N jobs to the Jobs API as fast as a client can — C keep-alive connections, up
 * to D requests pipelined on each — then polls until no job is pending or running, and
 * prints the figures. Loopback only; bounded by a deadline.
 *
 *   submit PORT TOKEN N C D DEADLINE_S TYPE...
 *
 * Output, one line: "submitted N (201: K) in S s; done in T s; R jobs/s". Exit 0 when
 * every submission answered 201 and the queue drained before the deadline.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAXCONN 64
#define RBUF 65536

struct conn {
	int fd;
	long to_send;  /* requests this connection still has to send */
	long inflight; /* sent, not yet answered */
	char *out;     /* pending output */
	size_t outlen, outoff;
	char in[RBUF];
	size_t inlen;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int
dial(int port)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* One complete response at the start of c->in: its length, its status; 0 if incomplete. */
static size_t
response(const char *buf, size_t len, int *status, const char **body, size_t *bodylen)
{
	const char *end, *cl;
	size_t hlen, clen = 0;

	if ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL)
		return 0;
	hlen = (size_t)(end - buf) + 4;
	if ((cl = memmem(buf, hlen, "Content-Length:", 15)) != NULL ||
	    (cl = memmem(buf, hlen, "content-length:", 15)) != NULL)
		clen = strtoul(cl + 15, NULL, 10);
	if (hlen + clen > len)
		return 0;
	*status = len > 12 ? atoi(buf + 9) : 0;
	if (body != NULL) {
		*body = buf + hlen;
		*bodylen = clen;
	}
	return hlen + clen;
}

static int
fill(struct conn *c)
{
	ssize_t n = read(c->fd, c->in + c->inlen, sizeof c->in - c->inlen);

	if (n <= 0)
		return -1;
	c->inlen += (size_t)n;
	return 0;
}

static void
consume(struct conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->inlen - n);
	c->inlen -= n;
}

/* Queue up to depth - inflight POSTs on c, rotating over the job types. */
static void
queue_posts(struct conn *c, long depth, const char *token, char **types, int ntypes, long *seq)
{
	char req[512], body[128];
	int bl, rl;

	while (c->to_send > 0 && c->inflight < depth) {
		bl = snprintf(body, sizeof body, "{\"job_type\":\"%s\"}", types[(*seq)++ % ntypes]);
		rl = snprintf(req, sizeof req,
		              "POST /api/v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		              "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
		              "Content-Length: %d\r\n\r\n%s",
		              token, bl, body);
		c->out = realloc(c->out, c->outlen + (size_t)rl);
		if (c->out == NULL) {
			perror("realloc");
			exit(1);
		}
		memcpy(c->out + c->outlen, req, (size_t)rl);
		c->outlen += (size_t)rl;
		c->to_send--;
		c->inflight++;
	}
}

static int
flush_out(struct conn *c)
{
	ssize_t n;

	while (c->outoff < c->outlen) {
		n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);
		if (n == -1)
			return errno == EAGAIN ? 0 : -1;
		c->outoff += (size_t)n;
	}
	c->outlen = c->outoff = 0;
	return 0;
}

/* GET path on fd; 1 if the body's "jobs" array is empty, 0 if not, -1 on error. */
static int
jobs_empty(struct conn *c, const char *path, const char *token)
{
	char req[512];
	const char *body;
	size_t n, bl;
	int rl, status;

	rl = snprintf(req, sizeof req,
	              "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n",
	              path, token);
	if (write(c->fd, req, (size_t)rl) != rl)
		return -1;
	while ((n = response(c->in, c->inlen, &status, &body, &bl)) == 0) {
		if (fill(c) != 0)
			return -1;
	}
	rl = status == 200 && memmem(body, bl, "\"jobs\":[]", 9) != NULL;
	consume(c, n);
	return status == 200 ? rl : -1;
}

int
main(int argc, char **argv)
{
	static struct conn conns[MAXCONN];
	struct pollfd pfd[MAXCONN];
	struct timespec nap = {0, 5 * 1000 * 1000};
	long n, depth, answered = 0, created = 0, seq = 0;
	double t0, ts, t1, deadline;
	const char *token;
	int port, nconn, i, status, drained = 0;
	size_t len;

	if (argc < 8) {
		fprintf(stderr, "usage: submit PORT TOKEN N C D DEADLINE_S TYPE...\n");
		return 64;
	}
	port = atoi(argv[1]);
	token = argv[2];
	n = atol(argv[3]);
	nconn = atoi(argv[4]);
	depth = atol(argv[5]);
	if (n <= 0 || nconn <= 0 || nconn > MAXCONN || depth <= 0) {
		fprintf(stderr, "submit: bad N, C or D\n");
		return 64;
	}
	t0 = now_s();
	deadline = t0 + atof(argv[6]);
	for (i = 0; i < nconn; i++) {
		if ((conns[i].fd = dial(port)) == -1) {
			perror("submit: connect");
			return 1;
		}
		conns[i].to_send = n / nconn + (i < n % nconn);
	}

	while (answered < n && now_s() < deadline) {
		for (i = 0; i < nconn; i++) {
			queue_posts(&conns[i], depth, token, argv + 7, argc - 7, &seq);
			if (flush_out(&conns[i]) != 0) {
				perror("submit: write");
				return 1;
			}
			pfd[i].fd = conns[i].inflight > 0 ? conns[i].fd : -1;
			pfd[i].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)nconn, 1000) == -1 && errno != EINTR)
			return 1;
		for (i = 0; i < nconn; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (fill(&conns[i]) != 0) {
				fprintf(stderr, "submit: connection %d closed\n", i);
				return 1;
			}
			while ((len = response(conns[i].in, conns[i].inlen, &status, NULL, NULL)) >
			       0) {
				consume(&conns[i], len);
				conns[i].inflight--;
				answered++;
				created += status == 201;
			}
		}
	}
	ts = now_s();

	/* Drained when nothing is pending and nothing is running (checked in that order, so
	 * a job that moves from pending to running between the two is still seen). */
	for (;;) {
		i = jobs_empty(&conns[0], "/api/v1/jobs?status=pending&first=1", token);
		if (i == 1)
			i = jobs_empty(&conns[0], "/api/v1/jobs/running", token);
		if (i == -1) {
			fprintf(stderr, "submit: polling failed\n");
			return 1;
		}
		if ((drained = i == 1) || now_s() >= deadline)
			break;
		nanosleep(&nap, NULL);
	}
	t1 = now_s();
	printf("submitted %ld (201: %ld) in %.3f s; done in %.3f s; %.1f jobs/s\n", answered,
	       created, ts - t0, t1 - t0, created / (t1 - t0));
	for (i = 0; i < nconn; i++) {
		close(conns[i].fd);
		free(conns[i].out);
	}
	return created == n && drained ? 0 : 1;
}
