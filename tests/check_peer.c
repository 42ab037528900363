/* check_peer.c: the libev IPC peer (ipc/peer.c) over a real socketpair and a real
 * ev_loop_new loop: ordering across partial writes, large messages both ways, the write
 * queue, hang-ups and garbage, pausing, and freeing the peer from inside its callbacks
 * (run with SAN=1: ASan catches any use after free). */
#include <sys/socket.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "ipc.h"

#define BIG (3u << 20)
#define DEADLINE_MS 10000

static struct ctx {
	struct ev_loop *loop;
	ev_timer tick;
	int sv[2];
	struct ipc_peer *p;
	struct ipc_reader other; /* what the far end reads */

	int nmsg;
	uint32_t last_id;
	bool order_ok;
	bool big_ok;
	int nclose;
	char reason[256];

	int free_at;  /* on_msg frees the peer at this count (0: never) */
	int pause_at; /* on_msg pauses the peer at this count */
	bool echo;    /* on_msg sends a reply */
	bool free_on_close;
	int send_rc;
} C;

static char *blob;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Keeps EVRUN_ONCE from blocking forever when nothing happens. */
static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
}

static void
on_msg(struct ipc_peer *p, const struct ipc_msg *m, void *arg)
{
	struct ctx *c = arg;
	struct ipc_writer w;
	msgpack_packer *pk;
	const char *s;
	size_t len;
	int64_t seq;

	ck_assert_ptr_eq(p, c->p);
	c->nmsg++;
	if (m->type == MSG_CTL_OK) {
		c->big_ok = ipc_get_str(&m->body, "blob", &s, &len) == 0 && len == BIG &&
		    memcmp(s, blob, BIG) == 0;
	} else {
		/* Sequenced messages: id counts up from 1 and seq repeats it. */
		if (m->id != c->last_id + 1 || ipc_get_int(&m->body, "seq", &seq) != 0 ||
		    seq != m->id)
			c->order_ok = false;
		c->last_id = m->id;
	}
	if (c->echo) {
		ipc_writer_init(&w);
		pk = ipc_begin(&w, MSG_CTL_OK, m->id);
		msgpack_pack_map(pk, 1);
		ipc_pack_kv_int(pk, "seq", m->id);
		ipc_end(&w);
		c->send_rc = ipc_peer_send(p, &w);
		ck_assert_uint_eq(w.buf.size, 0);
		ipc_writer_destroy(&w);
	}
	if (c->pause_at != 0 && c->nmsg == c->pause_at)
		ipc_peer_pause(p, true);
	if (c->free_at != 0 && c->nmsg == c->free_at) {
		ipc_peer_free(p);
		c->p = NULL;
		c->sv[0] = -1; /* closed by ipc_peer_free */
	}
}

static void
on_close(struct ipc_peer *p, const char *reason, void *arg)
{
	struct ctx *c = arg;

	ck_assert_ptr_eq(p, c->p);
	c->nclose++;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	if (c->free_on_close) {
		ipc_peer_free(p);
		c->p = NULL;
		c->sv[0] = -1;
	}
}

static void
setup(void)
{
	int bufsz = 65536;
	size_t i;

	memset(&C, 0, sizeof(C));
	C.order_ok = true;
	C.free_on_close = true;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, C.sv), 0);
	ck_assert_int_ne(fcntl(C.sv[1], F_SETFL, O_NONBLOCK), -1);
	/* Small kernel buffers, so 3 MiB can never fit and the queue is always used. */
	ck_assert_int_eq(setsockopt(C.sv[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz)), 0);
	ck_assert_int_eq(setsockopt(C.sv[1], SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz)), 0);
	C.loop = ev_loop_new(EVFLAG_AUTO);
	ck_assert_ptr_nonnull(C.loop);
	ev_timer_init(&C.tick, tick_cb, 0.005, 0.005);
	ev_timer_start(C.loop, &C.tick);
	C.p = ipc_peer_new(C.loop, C.sv[0], on_msg, on_close, &C);
	ck_assert_ptr_nonnull(C.p);
	ipc_reader_init(&C.other);
	blob = malloc(BIG);
	ck_assert_ptr_nonnull(blob);
	for (i = 0; i < BIG; i++)
		blob[i] = 'A' + (i * 7) % 53;
}

static void
teardown(void)
{
	if (C.p != NULL)
		ipc_peer_free(C.p); /* closes sv[0] */
	if (C.sv[1] != -1)
		close(C.sv[1]);
	ev_timer_stop(C.loop, &C.tick);
	ev_loop_destroy(C.loop);
	ipc_reader_destroy(&C.other);
	free(blob);
	blob = NULL;
}

/* Run the loop until *flag reaches want, within the deadline. */
static bool
run_until(const int *counter, int want)
{
	int64_t deadline = now_ms() + DEADLINE_MS;

	while (*counter < want && now_ms() < deadline)
		ev_run(C.loop, EVRUN_ONCE);
	return (*counter >= want);
}

/* Run the loop for a few ticks: nothing more may happen. */
static void
run_ticks(int n)
{
	while (n-- > 0)
		ev_run(C.loop, EVRUN_ONCE);
}

/* The far end writes in pieces of at most chunk bytes, letting the loop run between. */
static void
other_write(const void *data, size_t len, size_t chunk)
{
	const char *p = data;
	int64_t deadline = now_ms() + DEADLINE_MS;
	ssize_t n;

	while (len > 0) {
		ck_assert_msg(now_ms() < deadline, "far end could not write");
		n = write(C.sv[1], p, len < chunk ? len : chunk);
		if (n == -1) {
			ck_assert_msg(errno == EAGAIN || errno == EINTR, "write: %s",
			    strerror(errno));
			ev_run(C.loop, EVRUN_ONCE);
			continue;
		}
		p += n;
		len -= (size_t)n;
		ev_run(C.loop, EVRUN_NOWAIT);
	}
}

/* The far end reads one message, letting the loop run (and flush) meanwhile. */
static enum ipc_next
other_read(struct ipc_msg *m)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	enum ipc_next rc;
	char *cause = NULL;
	void *space;
	ssize_t n;

	while (now_ms() < deadline) {
		rc = ipc_reader_next(&C.other, m, &cause);
		if (rc == IPC_BAD)
			ck_abort_msg("far end: %s", cause);
		if (rc == IPC_MSG)
			return (rc);
		space = ipc_reader_space(&C.other, 65536);
		n = read(C.sv[1], space, 65536);
		if (n > 0)
			ipc_reader_commit(&C.other, (size_t)n);
		else if (n == 0)
			ck_abort_msg("far end: EOF");
		else
			ev_run(C.loop, EVRUN_ONCE);
	}
	return (IPC_NEED_MORE);
}

/* Frames id first..first+n-1, each {seq: id}, into w. */
static void
build_seq(struct ipc_writer *w, uint32_t first, int n)
{
	msgpack_packer *pk;
	int i;

	for (i = 0; i < n; i++) {
		pk = ipc_begin(w, MSG_JOB_PROGRESS, first + i);
		msgpack_pack_map(pk, 1);
		ipc_pack_kv_int(pk, "seq", first + i);
		ck_assert_int_eq(ipc_end(w), 0);
	}
}

static void
build_big(struct ipc_writer *w, uint32_t id)
{
	msgpack_packer *pk;

	pk = ipc_begin(w, MSG_CTL_OK, id);
	msgpack_pack_map(pk, 1);
	ipc_pack_str(pk, "blob");
	ipc_pack_strn(pk, blob, BIG);
	ck_assert_int_eq(ipc_end(w), 0);
}

START_TEST(test_order_partial_writes)
{
	static const size_t chunks[] = {1, 3, 7, 4096};
	struct ipc_writer w;
	int total = 0;
	size_t i;

	ipc_writer_init(&w);
	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		ipc_writer_reset(&w);
		build_seq(&w, total + 1, 200);
		total += 200;
		other_write(w.buf.data, w.buf.size, chunks[i]);
		ck_assert(run_until(&C.nmsg, total));
	}
	ck_assert_int_eq(C.nmsg, 800);
	ck_assert_uint_eq(C.last_id, 800);
	ck_assert(C.order_ok);
	ck_assert_int_eq(C.nclose, 0);
	ipc_writer_destroy(&w);
}
END_TEST

START_TEST(test_large_incoming)
{
	struct ipc_writer w;

	ipc_writer_init(&w);
	build_seq(&w, 1, 1);
	build_big(&w, 99);
	build_seq(&w, 2, 1);
	other_write(w.buf.data, w.buf.size, 1u << 20);
	ck_assert(run_until(&C.nmsg, 3));
	ck_assert(C.big_ok);
	ck_assert(C.order_ok);
	ck_assert_uint_eq(C.last_id, 2);
	ck_assert_int_eq(C.nclose, 0);
	ipc_writer_destroy(&w);
}
END_TEST

/* The peer sends more than the socket holds: the rest waits for EV_WRITE, in order. */
START_TEST(test_send_queue_flush)
{
	struct ipc_writer w;
	struct ipc_msg m;
	const char *s;
	size_t len;
	int64_t seq;
	int i;

	ipc_writer_init(&w);
	build_seq(&w, 1, 1);
	build_big(&w, 2);
	ck_assert_int_eq(ipc_peer_send(C.p, &w), 0);
	ck_assert_uint_eq(w.buf.size, 0); /* the writer was reset */
	/* A unix socket buffer is far below 3 MiB: some of it must be queued. */
	ck_assert_uint_gt(ipc_peer_queued(C.p), 0);
	build_seq(&w, 3, 5);
	ck_assert_int_eq(ipc_peer_send(C.p, &w), 0);

	ck_assert_int_eq(other_read(&m), IPC_MSG);
	ck_assert_uint_eq(m.id, 1);
	ck_assert_int_eq(other_read(&m), IPC_MSG);
	ck_assert_uint_eq(m.id, 2);
	ck_assert_int_eq(ipc_get_str(&m.body, "blob", &s, &len), 0);
	ck_assert_uint_eq(len, BIG);
	ck_assert(memcmp(s, blob, BIG) == 0);
	for (i = 3; i <= 7; i++) {
		ck_assert_int_eq(other_read(&m), IPC_MSG);
		ck_assert_uint_eq(m.id, i);
		ck_assert_int_eq(ipc_get_int(&m.body, "seq", &seq), 0);
		ck_assert_int_eq(seq, i);
	}
	ck_assert_uint_eq(ipc_peer_queued(C.p), 0);
	run_ticks(3);
	ck_assert_int_eq(C.nclose, 0);
	ipc_writer_destroy(&w);
}
END_TEST

/* on_msg answers through ipc_peer_send; the replies come back in order. */
START_TEST(test_echo_from_callback)
{
	struct ipc_writer w;
	struct ipc_msg m;
	int64_t seq;
	int i;

	C.echo = true;
	ipc_writer_init(&w);
	build_seq(&w, 1, 50);
	other_write(w.buf.data, w.buf.size, 100);
	ck_assert(run_until(&C.nmsg, 50));
	ck_assert_int_eq(C.send_rc, 0);
	for (i = 1; i <= 50; i++) {
		ck_assert_int_eq(other_read(&m), IPC_MSG);
		ck_assert_uint_eq(m.type, MSG_CTL_OK);
		ck_assert_uint_eq(m.id, i);
		ck_assert_int_eq(ipc_get_int(&m.body, "seq", &seq), 0);
		ck_assert_int_eq(seq, i);
	}
	ipc_writer_destroy(&w);
}
END_TEST

START_TEST(test_closed_by_other_side)
{
	struct ipc_writer w;

	ipc_writer_init(&w);
	build_seq(&w, 1, 2);
	other_write(w.buf.data, w.buf.size, 4096);
	close(C.sv[1]);
	C.sv[1] = -1;
	ck_assert(run_until(&C.nclose, 1));
	/* Messages before the hang-up are delivered first. */
	ck_assert_int_eq(C.nmsg, 2);
	ck_assert_str_eq(C.reason, "connection closed");
	ck_assert_ptr_null(C.p); /* freed inside on_close */
	run_ticks(5);
	ck_assert_int_eq(C.nclose, 1);
	ipc_writer_destroy(&w);
}
END_TEST

START_TEST(test_closed_mid_frame)
{
	struct ipc_writer w;

	ipc_writer_init(&w);
	build_seq(&w, 1, 1);
	other_write(w.buf.data, w.buf.size - 1, 4096);
	close(C.sv[1]);
	C.sv[1] = -1;
	ck_assert(run_until(&C.nclose, 1));
	ck_assert_int_eq(C.nmsg, 0);
	ck_assert_str_eq(C.reason, "connection closed inside a frame");
	run_ticks(5);
	ck_assert_int_eq(C.nclose, 1);
	ipc_writer_destroy(&w);
}
END_TEST

/* Closed but not freed in on_close: no second on_close, sends fail. */
START_TEST(test_close_without_free)
{
	struct ipc_writer w;

	C.free_on_close = false;
	close(C.sv[1]);
	C.sv[1] = -1;
	ck_assert(run_until(&C.nclose, 1));
	ck_assert_str_eq(C.reason, "connection closed");
	run_ticks(5);
	ck_assert_int_eq(C.nclose, 1);
	ipc_writer_init(&w);
	build_seq(&w, 1, 1);
	ck_assert_int_eq(ipc_peer_send(C.p, &w), -1);
	ck_assert_uint_eq(w.buf.size, 0);
	run_ticks(3);
	ck_assert_int_eq(C.nclose, 1);
	ipc_writer_destroy(&w);
	/* teardown frees it */
}
END_TEST

START_TEST(test_garbage)
{
	static const unsigned char junk[] = {0, 0, 0, 3, 0xc1, 0xc1, 0xc1};
	struct ipc_writer w;

	ipc_writer_init(&w);
	build_seq(&w, 1, 2);
	other_write(w.buf.data, w.buf.size, 4096);
	other_write(junk, sizeof(junk), 4096);
	ck_assert(run_until(&C.nclose, 1));
	ck_assert_int_eq(C.nmsg, 2);
	ck_assert_str_eq(C.reason, "frame of 3 bytes is not valid msgpack");
	run_ticks(5);
	ck_assert_int_eq(C.nclose, 1);
	ipc_writer_destroy(&w);
}
END_TEST

START_TEST(test_oversize_frame)
{
	/* 0x7f000000 bytes announced: dropped without waiting for them. */
	static const unsigned char huge[] = {0x7f, 0, 0, 0, 0x94};

	other_write(huge, sizeof(huge), 4096);
	ck_assert(run_until(&C.nclose, 1));
	ck_assert_str_eq(C.reason, "frame of 2130706432 bytes exceeds limit of 4194304");
	ck_assert_int_eq(C.nmsg, 0);
}
END_TEST

/* Five messages in one write; on_msg frees the peer at the second. */
START_TEST(test_free_inside_on_msg)
{
	struct ipc_writer w;

	C.free_at = 2;
	ipc_writer_init(&w);
	build_seq(&w, 1, 5);
	ck_assert_int_eq(write(C.sv[1], w.buf.data, w.buf.size), (ssize_t)w.buf.size);
	ck_assert(run_until(&C.nmsg, 2));
	run_ticks(5);
	ck_assert_int_eq(C.nmsg, 2);
	ck_assert_int_eq(C.nclose, 0);
	ck_assert_ptr_null(C.p);
	ipc_writer_destroy(&w);
}
END_TEST

/* on_msg replies and frees: the queued reply dies with the peer, nothing is touched. */
START_TEST(test_free_after_send_inside_on_msg)
{
	struct ipc_writer w;

	C.echo = true;
	C.free_at = 1;
	ipc_writer_init(&w);
	/* Fill the socket so the reply has to be queued. */
	build_big(&w, 100);
	ck_assert_int_eq(ipc_peer_send(C.p, &w), 0);
	ck_assert_uint_gt(ipc_peer_queued(C.p), 0);
	build_seq(&w, 1, 3);
	ck_assert_int_eq(write(C.sv[1], w.buf.data, w.buf.size), (ssize_t)w.buf.size);
	ck_assert(run_until(&C.nmsg, 1));
	ck_assert_int_eq(C.send_rc, 0);
	run_ticks(5);
	ck_assert_int_eq(C.nmsg, 1);
	ck_assert_int_eq(C.nclose, 0);
	ipc_writer_destroy(&w);
}
END_TEST

/* The far end never reads: past the queue limit a send fails, and on_close comes from
 * the loop, not from inside ipc_peer_send. */
START_TEST(test_queue_limit)
{
	struct ipc_writer w;
	int i, rc = 0;

	ipc_writer_init(&w);
	for (i = 0; i < 12 && rc == 0; i++) {
		build_big(&w, i + 1);
		rc = ipc_peer_send(C.p, &w);
		ck_assert_int_eq(C.nclose, 0);
	}
	ck_assert_int_eq(rc, -1);
	ck_assert_uint_eq(w.buf.size, 0);
	build_seq(&w, 1, 1);
	ck_assert_int_eq(ipc_peer_send(C.p, &w), -1);
	ck_assert_int_eq(C.nclose, 0);
	ck_assert(run_until(&C.nclose, 1));
	ck_assert_str_eq(C.reason, "output queue over 16777216 bytes (peer not reading)");
	run_ticks(5);
	ck_assert_int_eq(C.nclose, 1);
	ipc_writer_destroy(&w);
}
END_TEST

START_TEST(test_pause)
{
	struct ipc_writer w;

	ipc_writer_init(&w);
	ipc_peer_pause(C.p, true);
	build_seq(&w, 1, 3);
	other_write(w.buf.data, w.buf.size, 4096);
	run_ticks(5);
	ck_assert_int_eq(C.nmsg, 0);
	ipc_peer_pause(C.p, false);
	ck_assert(run_until(&C.nmsg, 3));
	ck_assert(C.order_ok);

	/* Paused from inside on_msg with more messages already buffered: they come out on
	 * resume even though no new bytes arrive. */
	C.pause_at = 4;
	ipc_writer_reset(&w);
	build_seq(&w, 4, 3);
	ck_assert_int_eq(write(C.sv[1], w.buf.data, w.buf.size), (ssize_t)w.buf.size);
	ck_assert(run_until(&C.nmsg, 4));
	run_ticks(5);
	ck_assert_int_eq(C.nmsg, 4);
	ipc_peer_pause(C.p, false);
	ck_assert(run_until(&C.nmsg, 6));
	ck_assert(C.order_ok);
	ck_assert_uint_eq(C.last_id, 6);
	ipc_writer_destroy(&w);
}
END_TEST

/* The far end hangs up while output is queued: one on_close, from the write side. */
START_TEST(test_close_with_queued_output)
{
	struct ipc_writer w;

	ipc_writer_init(&w);
	build_big(&w, 1);
	ck_assert_int_eq(ipc_peer_send(C.p, &w), 0);
	ck_assert_uint_gt(ipc_peer_queued(C.p), 0);
	close(C.sv[1]);
	C.sv[1] = -1;
	ck_assert(run_until(&C.nclose, 1));
	ck_assert_ptr_null(C.p);
	run_ticks(5);
	ck_assert_int_eq(C.nclose, 1);
	ipc_writer_destroy(&w);
}
END_TEST

/* Freeing a peer with output queued pushes what the socket takes before closing. */
START_TEST(test_free_flushes_best_effort)
{
	struct ipc_writer w;
	char buf[65536];
	size_t after = 0;
	ssize_t n;

	ipc_writer_init(&w);
	build_big(&w, 1);
	ck_assert_int_eq(ipc_peer_send(C.p, &w), 0);
	ck_assert_uint_gt(ipc_peer_queued(C.p), 0);
	/* Drain the socket without running the loop: only the free can refill it. */
	while (read(C.sv[1], buf, sizeof(buf)) > 0)
		;
	ipc_peer_free(C.p);
	C.p = NULL;
	while ((n = read(C.sv[1], buf, sizeof(buf))) > 0)
		after += (size_t)n;
	ck_assert_int_eq(n, 0); /* then EOF: the fd was closed */
	ck_assert_uint_gt(after, 0);
	ck_assert_int_eq(C.nclose, 0);
	ipc_writer_destroy(&w);
}
END_TEST

Suite *peer_suite(void);

Suite *
peer_suite(void)
{
	Suite *s = suite_create("peer");
	TCase *tc;

	tc = tcase_create("peer");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_order_partial_writes);
	tcase_add_test(tc, test_large_incoming);
	tcase_add_test(tc, test_send_queue_flush);
	tcase_add_test(tc, test_echo_from_callback);
	tcase_add_test(tc, test_closed_by_other_side);
	tcase_add_test(tc, test_closed_mid_frame);
	tcase_add_test(tc, test_close_without_free);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_oversize_frame);
	tcase_add_test(tc, test_free_inside_on_msg);
	tcase_add_test(tc, test_free_after_send_inside_on_msg);
	tcase_add_test(tc, test_queue_limit);
	tcase_add_test(tc, test_pause);
	tcase_add_test(tc, test_close_with_queued_output);
	tcase_add_test(tc, test_free_flushes_best_effort);
	suite_add_tcase(s, tc);
	return (s);
}
