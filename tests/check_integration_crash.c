/* check_integration_crash.c: jobsd under failure, with real processes: a worker killed with
 * SIGKILL, the daemon killed with SIGKILL or stopped with SIGTERM while a job runs and then
 * restarted on the same data dir, and hostile control clients (garbage, empty and oversize
 * frames, wrong shapes and versions, idle and half-sent connections). */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "lib/testlib.h"

#define JOBCTL(d, r, ...) tl_jobctl((d), (r), __VA_ARGS__, (const char *)NULL)
#define FIXTURE_TOTAL 24

/* The pid of the worker running job id: from its record, checked against /proc. */
static pid_t
worker_of(struct tl_daemon *d, const char *id)
{
	pid_t kids[16];
	struct job jb;
	size_t n, i;
	pid_t pid;

	ck_assert_int_eq(tl_job(d, id, false, &jb), 0);
	pid = jb.worker_pid != JOB_NULL ? (pid_t)jb.worker_pid : -1;
	job_free(&jb);
	n = tl_children(d->pid, "jobsd-worker", kids, 16);
	if (pid == -1 && n == 1)
		pid = kids[0];
	for (i = 0; i < n && kids[i] != pid; i++)
		;
	ck_assert_msg(pid > 0 && i < n, "worker of %s (pid %d) is not a child of jobsd %d", id,
		      (int)pid, (int)d->pid);
	tl_track_pid(d, pid);
	return (pid);
}

START_TEST(test_worker_killed)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	int64_t one = 1;
	struct tl_run r;
	struct job jb;
	char id[32];
	pid_t w;

	tl_daemon_start(d);
	tl_submit(d, id, "full_sync", "delay_ms=200", "batch_size=1", NULL);
	ck_assert(tl_wait_job(d, id, tl_pred_processed, &one, 15000, &jb) == 0);
	job_free(&jb);
	w = worker_of(d, id);
	ck_assert_int_eq(kill(w, SIGKILL), 0);

	ck_assert_msg(tl_wait_job(d, id, tl_pred_final, NULL, 10000, &jb) == 0,
		      "job did not end after its worker was killed");
	ck_assert_int_eq(jb.status, JOB_FAILED);
	ck_assert_msg(jb.error != NULL && strstr(jb.error, "killed by signal 9") != NULL,
		      "error: %s", jb.error != NULL ? jb.error : "(null)");
	ck_assert(jb.end_ms != JOB_NULL);
	job_free(&jb);
	ck_assert_int_eq(tl_wait_gone(w, 5000), 0);

	/* watch of a failed job exits 3; show names the reason. */
	ck_assert_int_eq(JOBCTL(d, &r, "watch", id), 3);
	ck_assert_msg(strstr(r.out, "killed by signal 9") != NULL, "%s", r.out);
	tl_run_free(&r);
	ck_assert_int_eq(JOBCTL(d, &r, "show", id), 0);
	ck_assert_msg(strstr(r.out, "\nstatus             failed\n") != NULL, "%s", r.out);
	tl_run_free(&r);

	/* The daemon lives on and runs the next job. */
	ck_assert_int_eq(JOBCTL(d, &r, "submit", "full_sync", "--wait"), 0);
	tl_run_free(&r);
}
END_TEST

START_TEST(test_daemon_kill9_restart)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	char done[32], slow[32], *last;
	int64_t one = 1;
	struct tl_run r;
	struct job jb;
	pid_t w;

	tl_daemon_start(d);
	ck_assert_int_eq(JOBCTL(d, &r, "--json", "submit", "full_sync", "--wait"), 0);
	tl_json_id(r.out, done);
	tl_run_free(&r);

	tl_submit(d, slow, "full_sync", "delay_ms=200", "batch_size=1", NULL);
	ck_assert(tl_wait_job(d, slow, tl_pred_processed, &one, 15000, &jb) == 0);
	job_free(&jb);
	w = worker_of(d, slow);

	tl_daemon_kill9(d);
	/* The orphaned worker notices its supervisor is gone and exits. */
	ck_assert_msg(tl_wait_gone(w, 10000) == 0, "worker %d outlived the daemon", (int)w);

	tl_daemon_start(d);
	ck_assert_int_eq(tl_job(d, slow, false, &jb), 0);
	ck_assert_int_eq(jb.status, JOB_FAILED);
	ck_assert_msg(jb.error != NULL && strcmp(jb.error, "interrupted: daemon restarted") == 0,
		      "error: %s", jb.error != NULL ? jb.error : "(null)");
	ck_assert(jb.end_ms != JOB_NULL);
	job_free(&jb);

	/* The completed job and its counters survived. */
	ck_assert_int_eq(tl_job(d, done, false, &jb), 0);
	ck_assert_int_eq(jb.status, JOB_COMPLETED);
	ck_assert_int_eq(jb.records_created, FIXTURE_TOTAL);
	ck_assert_int_eq(jb.progress, 100);
	job_free(&jb);

	/* Nothing is running any more, and a new job runs (every record is still stored). */
	ck_assert_int_eq(JOBCTL(d, &r, "running"), 0);
	ck_assert_str_eq(r.out, "no running jobs\n");
	tl_run_free(&r);
	ck_assert_int_eq(JOBCTL(d, &r, "submit", "full_sync", "--wait"), 0);
	last = tl_last_line(r.out);
	ck_assert_msg(strstr(last, ": 0 created, 0 updated, 0 deleted") != NULL, "%s", last);
	free(last);
	tl_run_free(&r);
}
END_TEST

START_TEST(test_sigterm_running_and_pending)
{
	struct tl_daemon *d = tl_daemon_new(&(struct tl_opts){.max_workers = 1});
	char slow[32], queued[32];
	int64_t one = 1;
	struct job jb;
	int status;
	pid_t w;

	tl_daemon_start(d);
	tl_submit(d, slow, "full_sync", "delay_ms=200", "batch_size=1", NULL);
	ck_assert(tl_wait_job(d, slow, tl_pred_processed, &one, 15000, &jb) == 0);
	job_free(&jb);
	w = worker_of(d, slow);
	tl_submit(d, queued, "owner_sync", NULL);
	ck_assert_int_eq(tl_job(d, queued, false, &jb), 0);
	ck_assert_int_eq(jb.status, JOB_PENDING);
	job_free(&jb);

	status = tl_daemon_stop(d);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "jobsd exit status 0x%x after SIGTERM", status);
	ck_assert_msg(!tl_pid_alive(w) || tl_wait_gone(w, 2000) == 0,
		      "worker %d outlived a clean stop", (int)w);

	tl_daemon_start(d);
	ck_assert_int_eq(tl_job(d, slow, false, &jb), 0);
	ck_assert_int_eq(jb.status, JOB_FAILED);
	ck_assert_msg(jb.error != NULL && strcmp(jb.error, "interrupted: daemon stopped") == 0,
		      "error: %s", jb.error != NULL ? jb.error : "(null)");
	job_free(&jb);

	/* The pending job stayed queued across the restart and runs now. */
	ck_assert_int_eq(tl_job(d, queued, false, &jb), 0);
	ck_assert_msg(jb.status == JOB_PENDING || jb.status == JOB_RUNNING ||
			  jb.status == JOB_COMPLETED,
		      "queued job is %s", job_status_name(jb.status));
	job_free(&jb);
	ck_assert(tl_wait_job(d, queued, tl_pred_final, NULL, 15000, &jb) == 0);
	ck_assert_int_eq(jb.status, JOB_COMPLETED);
	ck_assert(jb.error == NULL);
	job_free(&jb);
}
END_TEST

/* Wait until the daemon closes fd: 0 when read gives EOF (or a reset) in time. */
static int
wait_closed(int fd, int timeout_ms)
{
	int64_t deadline = tl_now_ms() + timeout_ms;
	struct pollfd pfd = {fd, POLLIN, 0};
	char buf[512];
	ssize_t n;

	for (;;) {
		int64_t left = deadline - tl_now_ms();

		if (left <= 0)
			return (-1);
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			return (0);
		/* A FAIL reply before the close is allowed; keep reading. */
	}
}

struct bad_frame {
	const char *what;
	const char *bytes;
	size_t len;
};

static const struct bad_frame bad_frames[] = {
	{"not msgpack", "\x00\x00\x00\x05\xc1\xc1\xc1\xc1\xc1", 9},
	{"empty frame", "\x00\x00\x00\x00", 4},
	{"oversize header", "\xff\xff\xff\xff", 4},
	{"just over the limit", "\x00\x40\x00\x01", 4},
	{"array of 3", "\x00\x00\x00\x05\x93\x01\xcc\xc8\x01", 9},
	{"wrong version", "\x00\x00\x00\x06\x94\x02\xcc\xc8\x01\x80", 10},
	{"body not a map", "\x00\x00\x00\x07\x94\x01\xcc\xc8\x01\xa1x", 11},
	{"trailing bytes", "\x00\x00\x00\x07\x94\x01\xcc\xc8\x01\x80\xc0", 11},
	{"an HTTP request", "GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\n\r\n", 38},
};

START_TEST(test_malformed_frames)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	const struct bad_frame *b = &bad_frames[_i];
	struct tl_run r;
	int good, fd;

	tl_daemon_start(d);
	good = tl_connect(d); /* a bystander connection, opened before */
	ck_assert(good != -1);

	fd = tl_connect(d);
	ck_assert(fd != -1);
	ck_assert_int_eq(ipc_write_all(fd, b->bytes, b->len), 0);
	ck_assert_msg(wait_closed(fd, 5000) == 0, "%s: connection not closed", b->what);
	close(fd);

	ck_assert_msg(tl_ping(d, 2000) == 0, "%s: daemon does not answer PING", b->what);
	ck_assert_int_eq(JOBCTL(d, &r, "list"), 0);
	tl_run_free(&r);
	/* The bystander still works: a PING on it gets its reply. */
	{
		struct ipc_writer w;
		struct ipc_reader rd;
		struct ipc_msg m;
		char *cause = NULL;

		ipc_writer_init(&w);
		msgpack_pack_map(ipc_begin(&w, MSG_CTL_PING, 42), 0);
		ipc_end(&w);
		ck_assert_int_eq(ipc_write_all(good, w.buf.data, w.buf.size), 0);
		ipc_writer_destroy(&w);
		ipc_reader_init(&rd);
		ck_assert_int_eq(ipc_read_msg(good, &rd, &m, 5000, &cause), IPC_MSG);
		ck_assert_int_eq(m.id, 42);
		ck_assert_int_eq(m.type, MSG_CTL_OK);
		ipc_reader_destroy(&rd);
		free(cause);
	}
	close(good);
}
END_TEST

START_TEST(test_idle_and_partial_clients)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	int idle, half_header, half_body, i;
	struct tl_run r;
	int64_t t0;

	tl_daemon_start(d);
	idle = tl_connect(d);
	half_header = tl_connect(d);
	half_body = tl_connect(d);
	ck_assert(idle != -1 && half_header != -1 && half_body != -1);
	ck_assert_int_eq(ipc_write_all(half_header, "\x00\x00", 2), 0);
	ck_assert_int_eq(ipc_write_all(half_body, "\x00\x00\x00\x64\x94\x01", 6), 0);

	/* Others are served at once, several times over. */
	for (i = 0; i < 3; i++) {
		t0 = tl_now_ms();
		ck_assert_int_eq(JOBCTL(d, &r, "list"), 0);
		tl_run_free(&r);
		ck_assert_msg(tl_now_ms() - t0 < 5000, "list took %lld ms",
			      (long long)(tl_now_ms() - t0));
		ck_assert_int_eq(tl_ping(d, 2000), 0);
	}
	ck_assert_int_eq(JOBCTL(d, &r, "submit", "full_sync", "--wait"), 0);
	tl_run_free(&r);

	/* Clients that vanish mid-frame leave nothing behind. */
	close(half_header);
	close(half_body);
	close(idle);
	ck_assert_int_eq(tl_ping(d, 2000), 0);
}
END_TEST

/* Requests may be pipelined: many frames in one write, every one answered once, by id. */
START_TEST(test_pipelined_requests)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	bool seen[40] = {false};
	struct ipc_writer w;
	struct ipc_reader rd;
	msgpack_packer *pk;
	struct ipc_msg m;
	char *cause = NULL;
	uint32_t i;
	int fd;

	tl_daemon_start(d);
	fd = tl_connect(d);
	ck_assert(fd != -1);
	ipc_writer_init(&w);
	for (i = 0; i < 40; i++) {
		switch (i % 4) {
		case 0:
			msgpack_pack_map(ipc_begin(&w, MSG_CTL_PING, 1000 + i), 0);
			break;
		case 1:
			pk = ipc_begin(&w, MSG_CTL_SHOW, 1000 + i);
			msgpack_pack_map(pk, 1);
			ipc_pack_kv_str(pk, "id", "job-77");
			break;
		case 2:
			msgpack_pack_map(ipc_begin(&w, MSG_CTL_LIST, 1000 + i), 0);
			break;
		default:
			msgpack_pack_map(ipc_begin(&w, MSG_CTL_RUNNING, 1000 + i), 0);
			break;
		}
		ck_assert_int_eq(ipc_end(&w), 0);
	}
	ck_assert_int_eq(ipc_write_all(fd, w.buf.data, w.buf.size), 0);
	ipc_writer_destroy(&w);

	ipc_reader_init(&rd);
	for (i = 0; i < 40; i++) {
		ck_assert_int_eq(ipc_read_msg(fd, &rd, &m, 5000, &cause), IPC_MSG);
		ck_assert_msg(m.id >= 1000 && m.id < 1040 && !seen[m.id - 1000], "reply id %u",
			      m.id);
		seen[m.id - 1000] = true;
		/* SHOW of an unknown job fails, everything else succeeds. */
		ck_assert_int_eq(m.type, (m.id - 1000) % 4 == 1 ? MSG_CTL_FAIL : MSG_CTL_OK);
	}
	ipc_reader_destroy(&rd);
	close(fd);
}
END_TEST

/* The control socket authenticates its peer: another user that can reach the socket gets
 * permission_denied for every request (root only: it needs a second uid). */
START_TEST(test_peer_credentials)
{
	struct tl_daemon *d;
	char prog[PATH_MAX];
	struct tl_run r;
	yajl_val v;

	if (getuid() != 0)
		return; /* cannot act as another user */
	d = tl_daemon_new(NULL);
	tl_daemon_start(d);
	/* Let anyone reach the socket: only the daemon's own check stands in the way. */
	ck_assert_int_eq(chmod(d->dir, 0711), 0);
	{
		char parent[sizeof(d->dir)], *slash;

		snprintf(parent, sizeof(parent), "%s", d->dir);
		if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
			*slash = '\0';
			if (strcmp(parent, "/tmp") != 0) /* the run's root, mode 0700 */
				ck_assert_int_eq(chmod(parent, 0711), 0);
		}
	}
	ck_assert_int_eq(chmod(d->socket, 0666), 0);
	snprintf(prog, sizeof(prog), "%s/jobctl", tl_bin_dir());

	tl_run_as(&r, (const char *const[]){prog, "-s", d->socket, "--json", "list", NULL}, NULL,
		  65534, 65534, 30000);
	ck_assert_msg(r.status == 1, "exit %d: %s %s", r.status, r.out, r.err);
	v = tl_json(r.out);
	ck_assert_msg(v != NULL, "%s", r.out);
	ck_assert_int_eq(tl_jint(tl_jget(v, "error"), "status"), 403);
	ck_assert_str_eq(tl_jstr(tl_jget(v, "error"), "code"), "permission_denied");
	yajl_tree_free(v);
	tl_run_free(&r);

	tl_run_as(&r,
		  (const char *const[]){prog, "-s", d->socket, "submit", "full_sync", NULL},
		  NULL, 65534, 65534, 30000);
	ck_assert_int_eq(r.status, 1);
	ck_assert_msg(strstr(r.err, "permission denied") != NULL, "%s", r.err);
	tl_run_free(&r);

	/* Nothing was queued; root is still served. */
	ck_assert_int_eq(JOBCTL(d, &r, "list"), 0);
	ck_assert_str_eq(r.out, "no jobs\n");
	tl_run_free(&r);
}
END_TEST

Suite *integration_crash_suite(void);

Suite *
integration_crash_suite(void)
{
	Suite *s = suite_create("integration_crash");
	TCase *tc;

	tc = tl_tcase("crash", 90);
	tcase_add_test(tc, test_worker_killed);
	tcase_add_test(tc, test_daemon_kill9_restart);
	tcase_add_test(tc, test_sigterm_running_and_pending);
	suite_add_tcase(s, tc);

	tc = tl_tcase("hostile", 60);
	tcase_add_loop_test(tc, test_malformed_frames, 0,
			    (int)(sizeof(bad_frames) / sizeof(bad_frames[0])));
	tcase_add_test(tc, test_idle_and_partial_clients);
	tcase_add_test(tc, test_pipelined_requests);
	tcase_add_test(tc, test_peer_credentials);
	suite_add_tcase(s, tc);
	return (s);
}
