/* check_commit.c: the supervisor's held output (daemon/commit.c) against a real store and a
 * real socket: messages held for different commit generations go out whole and in order
 * when a flush makes only some of the generations durable, and the rest when the next one
 * does. A flush that released the first of several held generations used to shift the
 * remaining marks from an overwritten base: the peer then got a frame cut in two (seen as
 * a garbled stream by jobsd-http, then a memmove of a negative size in the supervisor).
 * Output held for a peer that went away is dropped at the next release. The flusher thread
 * and commit_delay_us: a flush right after another waits for the delay, one after a quiet
 * period does not. */
#include <sys/socket.h>

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "jobsd.h"
#include "lib/testlib.h"

Suite *commit_suite(void);

#define HELD 7 /* messages, one generation each */

/* Message i's body: a string of this many copies of 'a' + i (frames of different sizes). */
static size_t
pad_len(uint32_t i)
{
	return (5 + (7 * i) % 59);
}

struct fixture {
	struct jobsd *jsd;
	struct ipc_peer *peer;
	struct outq q;
	int far; /* the peer's other end, read with the blocking reader */
	char dir[PATH_MAX];
};

static void
ignore_msg(struct ipc_peer *p, const struct ipc_msg *m, void *arg)
{
}

static void
ignore_close(struct ipc_peer *p, const char *reason, void *arg)
{
}

static void
fixture_open(struct fixture *f)
{
	char *cause = NULL;
	int sv[2];

	memset(f, 0, sizeof(*f));
	f->jsd = xcalloc(1, sizeof(*f->jsd));
	f->jsd->loop = ev_loop_new(EVFLAG_AUTO);
	ck_assert_ptr_nonnull(f->jsd->loop);
	TAILQ_INIT(&f->jsd->held);
	ipc_writer_init(&f->jsd->w);
	tl_mkdtemp(f->dir, "commit");
	if (store_open(f->dir, STORE_SUPERVISOR, &f->jsd->store, &cause) != 0)
		ck_abort_msg("store_open: %s", cause);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->peer = ipc_peer_new(f->jsd->loop, sv[0], ignore_msg, ignore_close, NULL);
	ck_assert_ptr_nonnull(f->peer);
	f->far = sv[1];
	commit_outq_init(&f->q, &f->peer);
}

static void
fixture_close(struct fixture *f)
{
	commit_outq_forget(f->jsd, &f->q);
	ipc_peer_free(f->peer);
	close(f->far);
	store_close(f->jsd->store);
	ipc_writer_destroy(&f->jsd->w);
	ev_loop_destroy(f->jsd->loop);
	free(f->jsd);
	tl_rm_rf(f->dir);
}

/* Message i: MSG_CTL_OK with id i and a body whose size grows with i, committed in a
 * generation of its own and held for it. */
static void
send_held(struct fixture *f, uint32_t i)
{
	msgpack_packer *pk;
	char pad[64];

	memset(pad, 'a' + (int)i, sizeof(pad));
	commit_dirty(f->jsd);
	pk = ipc_begin(&f->jsd->w, MSG_CTL_OK, i);
	msgpack_pack_map(pk, 1);
	ipc_pack_str(pk, "pad");
	ipc_pack_strn(pk, pad, pad_len(i));
	ck_assert_int_eq(ipc_end(&f->jsd->w), 0);
	ck_assert_int_eq(commit_send(f->jsd, &f->q, f->peer, &f->jsd->w), 0);
}

/* Read n messages from the far end: ids from first on, each body as sent. */
static void
expect(struct fixture *f, struct ipc_reader *rd, uint32_t first, uint32_t n)
{
	const msgpack_object *pad;
	struct ipc_msg m;
	char *cause = NULL;
	uint32_t i;

	for (i = first; i < first + n; i++) {
		ck_assert_msg(ipc_read_msg(f->far, rd, &m, 5000, &cause) == IPC_MSG,
		              "message %u: %s", i, cause ? cause : "timed out");
		ck_assert_uint_eq(m.type, MSG_CTL_OK);
		ck_assert_uint_eq(m.id, i);
		pad = ipc_get(&m.body, "pad");
		ck_assert_ptr_nonnull(pad);
		ck_assert_uint_eq(pad->via.str.size, pad_len(i));
		ck_assert_int_eq(pad->via.str.ptr[0], 'a' + (int)i);
	}
}

/* Nothing more is waiting on the far end. */
static void
expect_nothing(struct fixture *f, struct ipc_reader *rd)
{
	struct ipc_msg m;
	char *cause = NULL;

	/* written synchronously: anything sent is readable already */
	ck_assert_int_eq(ipc_read_msg(f->far, rd, &m, 0, &cause), IPC_NEED_MORE);
	free(cause);
}

/* Make generations up to upto durable (a flush asked for when only they were
 * committed) and release what waited for them. */
static void
flush_upto(struct fixture *f, uint64_t upto)
{
	uint64_t written = f->jsd->gen_written;

	f->jsd->gen_written = upto;
	ck_assert_int_eq(commit_flush(f->jsd), 0);
	f->jsd->gen_written = written;
}

START_TEST(test_partial_release_keeps_frames)
{
	struct fixture f;
	struct ipc_reader rd;
	uint32_t i;

	fixture_open(&f);
	ipc_reader_init(&rd);
	for (i = 1; i <= HELD; i++)
		send_held(&f, i);
	expect_nothing(&f, &rd);

	flush_upto(&f, 1); /* the first of seven */
	expect(&f, &rd, 1, 1);
	expect_nothing(&f, &rd);
	flush_upto(&f, 3); /* two more */
	expect(&f, &rd, 2, 2);
	expect_nothing(&f, &rd);
	send_held(&f, HELD + 1); /* held behind the others */
	flush_upto(&f, f.jsd->gen_written);
	expect(&f, &rd, 4, HELD + 1 - 3);
	expect_nothing(&f, &rd);
	ck_assert(!f.q.queued);
	ck_assert_uint_eq(f.q.nmarks, 0);

	ipc_reader_destroy(&rd);
	fixture_close(&f);
}
END_TEST

/* The peer goes away while its output is held: the flush drops it (nothing is sent,
 * nothing is left queued), and a later flush has nothing to do. */
START_TEST(test_release_after_peer_gone)
{
	struct fixture f;
	uint32_t i;

	fixture_open(&f);
	for (i = 1; i <= 3; i++)
		send_held(&f, i);
	ck_assert(f.q.queued);
	ipc_peer_free(f.peer);
	f.peer = NULL;
	flush_upto(&f, 1);
	ck_assert(!f.q.queued);
	ck_assert_uint_eq(f.q.nmarks, 0);
	ck_assert_uint_eq(f.q.w.buf.size, 0);
	ck_assert(TAILQ_EMPTY(&f.jsd->held));
	flush_upto(&f, f.jsd->gen_written);
	ck_assert(TAILQ_EMPTY(&f.jsd->held));
	fixture_close(&f);
}
END_TEST

/* Run the loop (the prepare watcher, the flusher's wake-up, the delay timer) until the
 * held message arrives at the far end or 10 s pass; the time it arrived. */
static ev_tstamp
run_until_released(struct fixture *f, struct ipc_reader *rd, uint32_t i)
{
	ev_tstamp deadline = ev_time() + 10;

	while (f->q.queued) {
		ck_assert_msg(ev_time() < deadline, "message %u still held after 10 s", i);
		ev_run(f->jsd->loop, EVRUN_ONCE);
	}
	expect(f, rd, i, 1);
	return (ev_time());
}

/* Did the flush of everything written start in this iteration? The flusher may already
 * have answered within it, so a flush counted since counts as started. */
static bool
flush_started(struct fixture *f, uint64_t flushes_before)
{
	return (f->jsd->flushing || f->jsd->flushes > flushes_before);
}

#define DELAY_US 1500000 /* long enough that the steps between two flushes fit in it */

/* commit_delay_us: a transition right after a flush waits until the delay has passed since
 * that flush returned; one after a quiet period is flushed at once. */
START_TEST(test_flush_delay)
{
	struct fixture f;
	struct ipc_reader rd;
	ev_tstamp t1, t2;

	fixture_open(&f);
	snprintf(f.jsd->conf.data_dir, sizeof(f.jsd->conf.data_dir), "%s", f.dir);
	f.jsd->conf.commit_delay_us = DELAY_US;
	commit_init(f.jsd);
	ck_assert_ptr_nonnull(f.jsd->flusher);
	ipc_reader_init(&rd);

	/* Nothing flushed yet: the first flush starts in the first iteration. */
	send_held(&f, 1);
	ev_run(f.jsd->loop, EVRUN_NOWAIT);
	ck_assert(flush_started(&f, 0));
	run_until_released(&f, &rd, 1);
	ck_assert_uint_eq(f.jsd->flushes, 1);
	t1 = f.jsd->flush_ended; /* the delay counts from here */

	/* Right after it: held, no flush started, the delay timer running. */
	send_held(&f, 2);
	ev_run(f.jsd->loop, EVRUN_NOWAIT);
	ck_assert(!f.jsd->flushing);
	ck_assert_uint_eq(f.jsd->flushes, 1);
	ck_assert(ev_is_active(&f.jsd->commit_delay));
	expect_nothing(&f, &rd);
	t2 = run_until_released(&f, &rd, 2);
	ck_assert_msg(t2 - t1 >= DELAY_US / 1e6, "released %.3f s after the flush before", t2 - t1);
	ck_assert_uint_eq(f.jsd->flushes, 2);

	/* After a quiet period as long as the delay: at once again. */
	ev_sleep(DELAY_US / 1e6);
	send_held(&f, 3);
	ev_run(f.jsd->loop, EVRUN_NOWAIT);
	ck_assert(flush_started(&f, 2));
	run_until_released(&f, &rd, 3);

	commit_shutdown(f.jsd);
	ipc_reader_destroy(&rd);
	fixture_close(&f);
}
END_TEST

/* commit_delay_us = 0: every flush starts as soon as the one before it returned. */
START_TEST(test_flush_no_delay)
{
	struct fixture f;
	struct ipc_reader rd;
	uint32_t i;

	fixture_open(&f);
	snprintf(f.jsd->conf.data_dir, sizeof(f.jsd->conf.data_dir), "%s", f.dir);
	f.jsd->conf.commit_delay_us = 0;
	commit_init(f.jsd);
	ipc_reader_init(&rd);
	for (i = 1; i <= 3; i++) {
		send_held(&f, i);
		ev_run(f.jsd->loop, EVRUN_NOWAIT);
		ck_assert(flush_started(&f, i - 1));
		ck_assert(!ev_is_active(&f.jsd->commit_delay));
		run_until_released(&f, &rd, i);
	}
	ck_assert_uint_eq(f.jsd->flushes, 3);
	commit_shutdown(f.jsd);
	ipc_reader_destroy(&rd);
	fixture_close(&f);
}
END_TEST

Suite *
commit_suite(void)
{
	Suite *s = suite_create("commit");
	TCase *tc = tl_tcase("commit", 30);

	tcase_add_test(tc, test_partial_release_keeps_frames);
	tcase_add_test(tc, test_release_after_peer_gone);
	tcase_add_test(tc, test_flush_delay);
	tcase_add_test(tc, test_flush_no_delay);
	suite_add_tcase(s, tc);
	return (s);
}
