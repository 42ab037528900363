/* check_integration_warm.c: workers started ahead of their jobs (daemon/warm.c), with a
 * real jobsd: while a job waits in the queue a worker is exec'd for it in advance and the
 * job runs in that very process; once the queue is empty no idle worker is left; a warm
 * worker killed before it got a job costs nothing but itself; a stop with one waiting
 * ends cleanly. Observed through job records (worker_pid) and jobsd's children. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "lib/testlib.h"

#define WAIT_MS 15000

static size_t
workers(struct tl_daemon *d, pid_t *out, size_t max)
{
	return (tl_children(d->pid, "jobsd-worker", out, max));
}

/* The worker_pid of a running job. */
static pid_t
running_pid(struct tl_daemon *d, const char *id)
{
	struct job jb;
	pid_t pid;

	ck_assert_msg(tl_wait_status(d, id, JOB_RUNNING, WAIT_MS, &jb) == 0, "%s never ran", id);
	pid = jb.worker_pid != JOB_NULL ? (pid_t)jb.worker_pid : -1;
	job_free(&jb);
	ck_assert_msg(pid > 0, "%s runs without a worker pid", id);
	return (pid);
}

/* Poll until jobsd has exactly n worker children; the one that is not busy (or -1). */
static pid_t
wait_workers(struct tl_daemon *d, size_t n, pid_t busy)
{
	int64_t deadline = tl_now_ms() + WAIT_MS;
	pid_t kids[16], idle = -1;
	size_t got, i;

	for (;;) {
		got = workers(d, kids, 16);
		if (got == n)
			break;
		ck_assert_msg(tl_now_ms() < deadline, "jobsd has %zu workers, expected %zu", got,
		              n);
		tl_sleep_ms(20);
	}
	for (i = 0; i < got; i++) {
		if (kids[i] != busy)
			idle = kids[i];
	}
	return (idle);
}

/* Until pid waits for its job: asleep in poll(2) (7 on x86-64), its store joined and its
 * hello sent. Killing it earlier could catch it inside Berkeley DB, which is another test
 * (check_integration_recovery). */
static void
wait_idle(pid_t pid)
{
	int64_t deadline = tl_now_ms() + WAIT_MS;
	char path[64], *s;
	bool idle = false;

	snprintf(path, sizeof(path), "/proc/%ld/syscall", (long)pid);
	while (!idle) {
		ck_assert_msg(tl_now_ms() < deadline, "worker %d never waited for a job", (int)pid);
		if ((s = tl_read_file(path)) != NULL) {
#if defined(__x86_64__)
			idle = strncmp(s, "7 ", 2) == 0;
#else
			idle = strncmp(s, "running", 7) != 0;
#endif
			free(s);
		}
		if (!idle)
			tl_sleep_ms(10);
	}
}

/* A started daemon with one worker slot: job a running (delay_ms), job b waiting for the
 * slot, and the worker started ahead of b, idle. Its pid. */
static pid_t
one_waiting(struct tl_daemon *d, char a[32], char b[32], const char *delay)
{
	pid_t warm;

	tl_daemon_start(d);
	tl_submit(d, a, "owner_sync", delay, "batch_size=1", NULL);
	warm = running_pid(d, a);
	tl_submit(d, b, "application_sync", NULL);
	warm = wait_workers(d, 2, warm);
	wait_idle(warm);
	tl_track_pid(d, warm);
	return (warm);
}

static void
completed(struct tl_daemon *d, const char *id)
{
	struct job jb;

	if (tl_wait_job(d, id, tl_pred_final, NULL, 30000, &jb) != 0) {
		char *log = tl_daemon_log(d);
		size_t n = strlen(log);

		ck_abort_msg("%s never ended; the daemon's log ends:\n%s", id,
		             log + (n > 3000 ? n - 3000 : 0));
	}
	ck_assert_msg(jb.status == JOB_COMPLETED, "%s %s: %s", id, job_status_name(jb.status),
	              jb.error != NULL ? jb.error : "");
	job_free(&jb);
}

START_TEST(test_job_runs_in_its_warm_worker)
{
	struct tl_daemon *d = tl_daemon_new(&(struct tl_opts){.max_workers = 1});
	char a[32], b[32];
	pid_t wa, warm, wb;
	char *log;

	tl_daemon_start(d);
	tl_submit(d, a, "owner_sync", "delay_ms=400", "batch_size=1", NULL);
	wa = running_pid(d, a);
	/* b waits for the only slot: one worker is started ahead of it. */
	tl_submit(d, b, "application_sync", "delay_ms=400", "batch_size=1", NULL);
	warm = wait_workers(d, 2, wa);
	ck_assert(warm > 0 && warm != wa);
	wb = running_pid(d, b);
	ck_assert_msg(wb == warm, "b ran in worker %d, not in the one started for it (%d)", (int)wb,
	              (int)warm);
	completed(d, a);
	completed(d, b);
	/* The queue is empty: no worker is kept waiting. */
	wait_workers(d, 0, -1);
	log = tl_daemon_log(d);
	ck_assert_msg(strstr(log, "no job from the supervisor") == NULL &&
	                  strstr(log, "started ahead of its job") == NULL,
	              "%s", log);
	free(log);
	ck_assert_int_eq(tl_daemon_stop(d), 0);
}
END_TEST

START_TEST(test_warm_worker_killed)
{
	struct tl_daemon *d = tl_daemon_new(&(struct tl_opts){.max_workers = 1});
	char a[32], b[32], *log;
	pid_t warm = one_waiting(d, a, b, "delay_ms=400");

	ck_assert_int_eq(kill(warm, SIGKILL), 0);
	ck_assert_int_eq(tl_wait_gone(warm, WAIT_MS), 0);
	/* b still runs (in another worker) and completes; the daemon lives on. */
	completed(d, a);
	completed(d, b);
	ck_assert_int_eq(tl_ping(d, 5000), 0);
	log = tl_daemon_log(d);
	ck_assert_msg(strstr(log, "started ahead of its job") != NULL, "%s", log);
	free(log);
	ck_assert_int_eq(tl_daemon_stop(d), 0);
}
END_TEST

START_TEST(test_stop_with_a_warm_worker)
{
	struct tl_daemon *d = tl_daemon_new(&(struct tl_opts){.max_workers = 1});
	char a[32], b[32];
	pid_t warm = one_waiting(d, a, b, "delay_ms=300");
	struct job jb;

	ck_assert_int_eq(tl_daemon_stop(d), 0);
	ck_assert_int_eq(tl_wait_gone(warm, WAIT_MS), 0);
	/* b was never started: pending again at the next start. */
	tl_daemon_start(d);
	ck_assert_int_eq(tl_job(d, b, false, &jb), 0);
	ck_assert_msg(jb.status == JOB_PENDING || jb.status == JOB_RUNNING ||
	                  jb.status == JOB_COMPLETED,
	              "b is %s", job_status_name(jb.status));
	job_free(&jb);
	completed(d, b);
	ck_assert_int_eq(tl_daemon_stop(d), 0);
}
END_TEST

Suite *integration_warm_suite(void);

Suite *
integration_warm_suite(void)
{
	Suite *s = suite_create("integration_warm");
	TCase *tc = tl_tcase("warm", 90);

	tcase_add_test(tc, test_job_runs_in_its_warm_worker);
	tcase_add_test(tc, test_warm_worker_killed);
	tcase_add_test(tc, test_stop_with_a_warm_worker);
	suite_add_tcase(s, tc);
	return (s);
}
