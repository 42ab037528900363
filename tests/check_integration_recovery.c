/* check_integration_recovery.c: jobsd recovers its store in place when a process died
 * inside Berkeley DB (failchk: "needs recovery"), instead of exiting.
 *
 * Provoking it deterministically: killing a busy worker lands inside the library only by
 * chance, so the test makes a process die there on purpose. It joins the environment
 * itself (as a worker would), allocates and locks an environment mutex, and forks a child
 * that joins too and blocks in DB_ENV->mutex_lock on that mutex: a thread waiting on a
 * mutex is "in the API" for failchk (unlike one waiting for a lock, which failchk can clean
 * up). The child is killed with SIGKILL there (once /proc says it sleeps in futex) and
 * reaped. The environment is now poisoned, but nobody notices until the supervisor runs
 * failchk, which it does after one of its workers dies abnormally: the test then kills a
 * running worker with SIGKILL. */
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/testlib.h"
#include "store.h"

#define JOBCTL(d, r, ...) tl_jobctl((d), (r), __VA_ARGS__, (const char *)NULL)

Suite *integration_recovery_suite(void);

/* Is pid asleep in the futex system call (202 on x86-64; else any sleep)? */
static bool
in_futex(pid_t pid)
{
	char path[64], *s;
	bool yes = false;

	snprintf(path, sizeof(path), "/proc/%ld/syscall", (long)pid);
	if ((s = tl_read_file(path)) != NULL) {
#if defined(__x86_64__)
		yes = strncmp(s, "202 ", 4) == 0;
#else
		yes = strncmp(s, "running", 7) != 0;
#endif
		free(s);
	}
	return (yes);
}

/* A process joined to d's environment dies inside Berkeley DB (see the top comment). */
static void
die_inside_bdb(struct tl_daemon *d)
{
	struct store *s = NULL;
	char *cause = NULL, c;
	DB_ENV *env;
	db_mutex_t mtx;
	int p[2], st;
	int64_t t0;
	pid_t pid;

	ck_assert_msg(store_open(d->data_dir, STORE_WORKER, &s, &cause) == 0, "%s", cause);
	env = store_env(s);
	ck_assert_int_eq(env->mutex_alloc(env, 0, &mtx), 0);
	ck_assert_int_eq(env->mutex_lock(env, mtx), 0);
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct store *cs = NULL;
		DB_ENV *ce;

		close(p[0]);
		if (store_open(d->data_dir, STORE_WORKER, &cs, NULL) != 0)
			_exit(1);
		ce = store_env(cs);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		ce->mutex_lock(ce, mtx); /* blocks until killed */
		_exit(2);
	}
	close(p[1]);
	tl_track_pid(d, pid);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	close(p[0]);
	t0 = tl_now_ms();
	while (!in_futex(pid)) {
		ck_assert_msg(tl_now_ms() - t0 < 10000, "the child never blocked on the mutex");
		tl_sleep_ms(5);
	}
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	ck_assert_int_eq(env->mutex_unlock(env, mtx), 0);
	store_close(s); /* leave the environment: recovery needs everybody out */
}

/* The pid of the worker running job id (from its record, checked against /proc). */
static pid_t
worker_of(struct tl_daemon *d, const char *id)
{
	pid_t kids[16];
	struct job jb;
	size_t n, i;
	pid_t pid;

	ck_assert_int_eq(tl_job(d, id, false, &jb), 0);
	ck_assert(jb.worker_pid != JOB_NULL);
	pid = (pid_t)jb.worker_pid;
	job_free(&jb);
	n = tl_children(d->pid, "jobsd-worker", kids, 16);
	for (i = 0; i < n && kids[i] != pid; i++)
		;
	ck_assert_msg(i < n, "worker %d of %s is not a child of jobsd %d", (int)pid, id,
		      (int)d->pid);
	tl_track_pid(d, pid);
	return (pid);
}

/* SHOW id until it answers (503 while recovering); the job in *j. */
static void
show_after_recovery(struct tl_daemon *d, const char *id, struct job *j)
{
	int64_t t0 = tl_now_ms();
	int rc;

	while ((rc = tl_job(d, id, false, j)) != 0) {
		ck_assert_msg(rc == 1, "transport error asking for %s", id);
		ck_assert_msg(tl_now_ms() - t0 < 30000, "%s: no answer after 30 s", id);
		tl_sleep_ms(20);
	}
}

START_TEST(test_recover_in_place)
{
	struct tl_daemon *d = tl_daemon_new(&(struct tl_opts){.max_workers = 2});
	char killed[32], other[32], queued[32], after[32], *log;
	const char *kv_show[3] = {"id", NULL, NULL};
	struct tl_reply rep;
	int64_t one = 1, t0;
	struct tl_run r;
	struct job jb;
	pid_t pid, w;

	tl_daemon_start(d);
	pid = d->pid;
	/* Two slow one-type syncs run side by side; a third job waits behind them. */
	tl_submit(d, killed, "owner_sync", "delay_ms=300", "batch_size=1", NULL);
	tl_submit(d, other, "group_sync", "delay_ms=300", "batch_size=1", NULL);
	tl_submit(d, queued, "application_sync", NULL);
	ck_assert(tl_wait_job(d, killed, tl_pred_processed, &one, 15000, &jb) == 0);
	job_free(&jb);
	ck_assert(tl_wait_status(d, other, JOB_RUNNING, 15000, &jb) == 0);
	job_free(&jb);
	ck_assert(tl_wait_status(d, queued, JOB_PENDING, 1000, &jb) == 0);
	job_free(&jb);

	die_inside_bdb(d);
	w = worker_of(d, killed);
	ck_assert_int_eq(kill(w, SIGKILL), 0);

	/* The supervisor notices when it reaps the worker. */
	t0 = tl_now_ms();
	for (;;) {
		log = tl_daemon_log(d);
		if (strstr(log, "store needs recovery (a worker died inside Berkeley DB)") != NULL)
			break;
		ck_assert_msg(!tl_daemon_exited(d), "jobsd exited: %s", log);
		ck_assert_msg(tl_now_ms() - t0 < 15000, "no recovery after 15 s: %s", log);
		free(log);
		tl_sleep_ms(20);
	}
	free(log);

	/* Until the store is back, requests get 503; PING always answers. */
	kv_show[1] = queued;
	t0 = tl_now_ms();
	for (;;) {
		ck_assert_int_eq(tl_call(d, MSG_CTL_SHOW, kv_show, 5000, &rep), 0);
		if (rep.ok) {
			tl_reply_free(&rep);
			break;
		}
		{
			int64_t status = 0;
			const char *msg;
			size_t len;

			ck_assert_int_eq(ipc_get_int(&rep.m.body, "status", &status), 0);
			ck_assert_int_eq(status, 503);
			ck_assert_int_eq(ipc_get_str(&rep.m.body, "message", &msg, &len), 0);
			ck_assert_msg(len == strlen("jobsd is recovering its store; try again "
						    "shortly") &&
				      memcmp(msg, "jobsd is recovering its store; try again shortly",
					     len) == 0, "%.*s", (int)len, msg);
		}
		tl_reply_free(&rep);
		ck_assert_int_eq(tl_ping(d, 5000), 0);
		ck_assert_msg(tl_now_ms() - t0 < 30000, "still recovering after 30 s");
		tl_sleep_ms(20);
	}

	/* The same daemon, recovered. */
	ck_assert_msg(!tl_daemon_exited(d), "jobsd exited instead of recovering");
	ck_assert_int_eq(d->pid, pid);
	log = tl_daemon_log(d);
	ck_assert_msg(strstr(log, "store recovered in ") != NULL, "%s", log);
	free(log);

	/* The killed job keeps its own reason; the other running one was interrupted. */
	show_after_recovery(d, killed, &jb);
	ck_assert_int_eq(jb.status, JOB_FAILED);
	ck_assert_str_eq(jb.error, "killed by signal 9 (Killed)");
	ck_assert(jb.end_ms != JOB_NULL);
	job_free(&jb);
	show_after_recovery(d, other, &jb);
	ck_assert_int_eq(jb.status, JOB_FAILED);
	ck_assert_str_eq(jb.error, "interrupted: store recovery");
	job_free(&jb);

	/* The queued job runs after the recovery, and so do new ones. */
	ck_assert(tl_wait_status(d, queued, JOB_COMPLETED, 30000, &jb) == 0);
	job_free(&jb);
	ck_assert_int_eq(JOBCTL(d, &r, "--json", "submit", "full_sync", "--wait"), 0);
	tl_json_id(r.out, after);
	tl_run_free(&r);
	ck_assert(tl_wait_status(d, after, JOB_COMPLETED, 1000, &jb) == 0);
	job_free(&jb);

	/* And the ends recorded during the recovery survive a restart. */
	{
		int st = tl_daemon_stop(d);

		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			log = tl_daemon_log(d);
			fprintf(stderr, "%s", strstr(log, "stopping") != NULL ?
				strstr(log, "stopping") : log);
			free(log);
		}
		ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "jobsd exit status %d", st);
	}
	tl_daemon_start(d);
	ck_assert_int_eq(tl_job(d, other, false, &jb), 0);
	ck_assert_int_eq(jb.status, JOB_FAILED);
	ck_assert_str_eq(jb.error, "interrupted: store recovery");
	job_free(&jb);
}
END_TEST

Suite *
integration_recovery_suite(void)
{
	Suite *s = suite_create("integration_recovery");
	TCase *tc;

	tc = tl_tcase("recovery", 120);
	tcase_add_test(tc, test_recover_in_place);
	suite_add_tcase(s, tc);
	return (s);
}
