/* check_integration_cancel.c: cancelling jobs through jobctl against a real jobsd: a
 * pending job (never starts, start_time null), a running job (stops at a batch boundary,
 * its committed records stay), a job whose worker is still starting (no store recovery),
 * an ended job (conflict), and the exit codes of watch and submit --wait. Slow jobs use the
 * worker's test parameters delay_ms and batch_size. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "lib/testlib.h"

#define JOBCTL(d, r, ...) tl_jobctl((d), (r), __VA_ARGS__, (const char *)NULL)
#define FIXTURE_TOTAL 24

static yajl_val
show_json(struct tl_daemon *d, const char *id)
{
	struct tl_run r;
	yajl_val v;

	ck_assert_int_eq(JOBCTL(d, &r, "--json", "show", id), 0);
	v = tl_json(r.out);
	ck_assert_msg(v != NULL, "not JSON: %s", r.out);
	tl_run_free(&r);
	return (v);
}

START_TEST(test_cancel_pending)
{
	struct tl_daemon *d = tl_daemon_new(&(struct tl_opts){.max_workers = 1});
	char slow[32], queued[32];
	struct tl_run r;
	struct job jb;
	yajl_val v;

	tl_daemon_start(d);
	tl_submit(d, slow, "full_sync", "delay_ms=200", "batch_size=1", NULL);
	ck_assert(tl_wait_status(d, slow, JOB_RUNNING, 10000, &jb) == 0);
	job_free(&jb);
	tl_submit(d, queued, "owner_sync", NULL);
	ck_assert_int_eq(tl_job(d, queued, false, &jb), 0);
	ck_assert_int_eq(jb.status, JOB_PENDING); /* max_workers = 1 */
	job_free(&jb);

	ck_assert_int_eq(JOBCTL(d, &r, "cancel", queued), 0);
	ck_assert_msg(strstr(r.out, queued) != NULL && strstr(r.out, "cancelled") != NULL, "%s",
		      r.out);
	tl_run_free(&r);

	v = show_json(d, queued);
	ck_assert_str_eq(tl_jstr(v, "status"), "cancelled");
	ck_assert(tl_jnull(v, "start_time"));
	ck_assert(tl_jstr(v, "end_time") != NULL);
	ck_assert(tl_jstr(v, "cancelled_by") != NULL);
	yajl_tree_free(v);

	/* The slow job was not disturbed. */
	ck_assert_int_eq(tl_job(d, slow, false, &jb), 0);
	ck_assert_int_eq(jb.status, JOB_RUNNING);
	job_free(&jb);

	/* Cancelling an ended job is a conflict; --json gives the REST error body. */
	ck_assert_int_eq(JOBCTL(d, &r, "cancel", queued), 1);
	ck_assert_str_eq(r.out, "");
	ck_assert(strncmp(r.err, "jobctl: ", 8) == 0);
	tl_run_free(&r);
	ck_assert_int_eq(JOBCTL(d, &r, "--json", "cancel", queued), 1);
	v = tl_json(r.out);
	ck_assert_msg(v != NULL, "%s", r.out);
	ck_assert_int_eq(tl_jint(tl_jget(v, "error"), "status"), 409);
	ck_assert_str_eq(tl_jstr(tl_jget(v, "error"), "code"), "conflict");
	yajl_tree_free(v);
	tl_run_free(&r);

	/* cancel --json prints nothing on success, like DELETE's 204. */
	ck_assert_int_eq(JOBCTL(d, &r, "cancel", "--json", slow), 0);
	ck_assert_str_eq(r.out, "");
	tl_run_free(&r);
}
END_TEST

START_TEST(test_cancel_running_keeps_committed)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	int64_t some = 4, processed, created;
	char id[32], id2[32];
	struct tl_run r;
	struct job jb;
	yajl_val v;

	tl_daemon_start(d);
	tl_submit(d, id, "full_sync", "delay_ms=250", "batch_size=2", NULL);
	ck_assert_msg(tl_wait_job(d, id, tl_pred_processed, &some, 15000, &jb) == 0,
		      "never processed %d records", (int)some);
	job_free(&jb);

	/* cancel returns once the job is cancelled. */
	ck_assert_int_eq(JOBCTL(d, &r, "cancel", id), 0);
	ck_assert_msg(strstr(r.out, "cancelled after") != NULL, "%s", r.out);
	tl_run_free(&r);
	ck_assert_int_eq(tl_job(d, id, false, &jb), 0);
	ck_assert_int_eq(jb.status, JOB_CANCELLED);
	job_free(&jb);

	v = show_json(d, id);
	ck_assert_str_eq(tl_jstr(v, "status"), "cancelled");
	ck_assert(tl_jstr(v, "start_time") != NULL && tl_jstr(v, "end_time") != NULL);
	processed = tl_jint(v, "records_processed");
	created = tl_jint(v, "records_created");
	ck_assert_msg(processed >= 4 && processed < FIXTURE_TOTAL, "processed %lld",
		      (long long)processed);
	/* Everything processed so far was new, and committed in whole batches. */
	ck_assert_int_eq(created, processed);
	ck_assert_int_eq(tl_jint(v, "records_updated"), 0);
	ck_assert_int_eq(tl_jint(v, "records_deleted"), 0);
	ck_assert_int_eq(tl_jint(v, "total_records"), FIXTURE_TOTAL);
	yajl_tree_free(v);

	/* watch of a cancelled job: exit 4. */
	ck_assert_int_eq(JOBCTL(d, &r, "watch", id), 4);
	ck_assert(strstr(r.out, "cancelled") != NULL);
	tl_run_free(&r);

	/* The committed records are still there: a new full sync creates only the rest. */
	ck_assert_int_eq(JOBCTL(d, &r, "--json", "submit", "full_sync", "--wait"), 0);
	v = tl_json(r.out);
	ck_assert_msg(v != NULL, "%s", r.out);
	snprintf(id2, sizeof(id2), "%s", tl_jstr(v, "id"));
	ck_assert_str_eq(tl_jstr(v, "status"), "completed");
	ck_assert_int_eq(tl_jint(v, "records_created"), FIXTURE_TOTAL - created);
	ck_assert_int_eq(tl_jint(v, "records_updated"), 0);
	ck_assert_int_eq(tl_jint(v, "records_deleted"), 0);
	yajl_tree_free(v);
	tl_run_free(&r);
}
END_TEST

START_TEST(test_watch_and_wait_exit_codes)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	char id[32], *last;
	struct tl_run r;
	int lines;

	tl_daemon_start(d);

	/* watch without a terminal: plain lines when the step or percentage moves, no \r. */
	tl_submit(d, id, "full_sync", "delay_ms=40", "batch_size=2", NULL);
	ck_assert_int_eq(JOBCTL(d, &r, "watch", id), 0);
	ck_assert(strchr(r.out, '\r') == NULL && strstr(r.out, "\033[") == NULL);
	last = tl_last_line(r.out);
	ck_assert_msg(strncmp(last, id, strlen(id)) == 0 &&
			  strstr(last, "completed in") != NULL &&
			  strstr(last, ": 24 created, 0 updated, 0 deleted") != NULL,
		      "last line: %s", last);
	free(last);
	lines = tl_count_lines(r.out, "%");
	ck_assert_msg(lines >= 1 && lines <= 60, "%d progress lines:\n%s", lines, r.out);
	tl_run_free(&r);

	/* On a terminal: one line redrawn in place, then the summary on its own line. */
	tl_submit(d, id, "full_sync", "delay_ms=40", "batch_size=2", NULL);
	ck_assert_int_eq(tl_jobctl_tty(d, &r, "watch", id, NULL), 0);
	ck_assert_msg(strstr(r.out, "\r[") != NULL && strstr(r.out, "\033[K") != NULL,
		      "no redraw: %s", r.out);
	ck_assert_msg(strstr(r.out, "[####################] 100% ") != NULL, "%s", r.out);
	last = tl_last_line(r.out);
	ck_assert_msg(strstr(last, " completed in ") != NULL &&
			  strstr(last, ": 0 created, 0 updated, 0 deleted") != NULL,
		      "last line: %s", last);
	free(last);
	tl_run_free(&r);

	/* A finished job: watch prints the summary and exits by its status. */
	ck_assert_int_eq(JOBCTL(d, &r, "watch", id), 0);
	ck_assert_int_eq(tl_count_lines(r.out, ""), 1);
	tl_run_free(&r);

	/* submit --wait of a job that fails (a parameter out of range): exit 3. */
	ck_assert_int_eq(JOBCTL(d, &r, "submit", "full_sync", "--param", "batch_size=0", "--wait"),
			 3);
	last = tl_last_line(r.out);
	ck_assert_msg(strstr(last, " failed ") != NULL && strstr(last, "batch_size") != NULL,
		      "last line: %s", last);
	free(last);
	tl_run_free(&r);
	ck_assert_int_eq(JOBCTL(d, &r, "--json", "submit", "full_sync", "--param",
				"batch_size=0", "--wait"),
			 3);
	{
		yajl_val v = tl_json(r.out);

		ck_assert_msg(v != NULL, "%s", r.out);
		ck_assert_str_eq(tl_jstr(v, "status"), "failed");
		ck_assert(strstr(tl_jstr(v, "error"), "batch_size") != NULL);
		yajl_tree_free(v);
	}
	tl_run_free(&r);

	/* Usage errors exit 2 before anything is sent. */
	ck_assert_int_eq(JOBCTL(d, &r, "submit", "full_sync", "--param", "novalue"), 2);
	tl_run_free(&r);
	ck_assert_int_eq(JOBCTL(d, &r, "watch"), 2);
	tl_run_free(&r);
}
END_TEST

static bool
pred_cancel_requested(const struct job *j, void *arg)
{
	return (j->cancel_requested);
}

/* A daemon whose workers are held before their exec by a wrapper until the file gate
 * appears; the wrapper creates passed when it lets one through (checkpoints go at once). */
struct gated {
	struct tl_daemon *d;
	char gate[PATH_MAX];
	char passed[PATH_MAX];
};

static void
gated_start(struct gated *g)
{
	char wrapper[PATH_MAX], *script;
	FILE *f;

	g->d = tl_daemon_new(NULL);
	snprintf(wrapper, sizeof(wrapper), "%s/worker-gated", g->d->dir);
	snprintf(g->gate, sizeof(g->gate), "%s/gate", g->d->dir);
	snprintf(g->passed, sizeof(g->passed), "%s/passed", g->d->dir);
	script = xasprintf("#!/bin/sh\n"
			   "case \"$1\" in --checkpoint) exec %s/jobsd-worker \"$@\" ;; esac\n"
			   "while [ ! -e %s ]; do sleep 0.01; done\n"
			   ": > %s\n"
			   "exec %s/jobsd-worker \"$@\"\n",
			   tl_bin_dir(), g->gate, g->passed, tl_bin_dir());
	tl_write_file(wrapper, script);
	free(script);
	ck_assert_int_eq(chmod(wrapper, 0755), 0);
	ck_assert_ptr_nonnull(f = fopen(g->d->config, "a"));
	fprintf(f, "\n[jobsd]\nworker_path = %s\n", wrapper);
	fclose(f);
	tl_daemon_start(g->d);
}

/* The daemon's log has no store recovery and no process dead inside Berkeley DB. */
static void
assert_no_panic(struct tl_daemon *d)
{
	char *log = tl_daemon_log(d);

	ck_assert_msg(strstr(log, "needs recovery") == NULL && strstr(log, "died in") == NULL,
		      "the store was hurt:\n%s", log);
	free(log);
}

/* A cancel that arrives while the job's worker is still starting (exec'd, joining the
 * store, no hello yet) must not kill it there: killed inside Berkeley DB, it would panic
 * the environment and force a recovery that stops every job and listener. With the
 * worker held at the gate, the cancel is recorded; the worker must then get past the
 * gate (it is stopped after its hello, when it only waits for its job) and the job must
 * end cancelled, without a store recovery. */
START_TEST(test_cancel_while_starting)
{
	struct gated g;
	struct tl_run r;
	struct job jb;
	char id[32];
	pid_t pid;
	int status;

	gated_start(&g);
	tl_submit(g.d, id, "full_sync", "delay_ms=100", "batch_size=1", NULL);
	/* jobctl cancel returns when the job has ended: run it beside the test */
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		_exit(JOBCTL(g.d, &r, "cancel", id) == 0 ? 0 : 1);
	ck_assert_int_eq(tl_wait_job(g.d, id, pred_cancel_requested, NULL, 10000, &jb), 0);
	job_free(&jb);
	tl_write_file(g.gate, "");
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	ck_assert_int_eq(tl_job(g.d, id, false, &jb), 0);
	ck_assert_msg(jb.status == JOB_CANCELLED, "%s ended %s: %s", id,
		      job_status_name(jb.status), jb.error ? jb.error : "");
	job_free(&jb);
	ck_assert_msg(access(g.passed, F_OK) == 0, "the worker was killed before its hello");
	assert_no_panic(g.d);
	ck_assert_int_eq(tl_ping(g.d, 5000), 0);
}
END_TEST

/* The same for a stop (SIGTERM) while a worker is starting: the daemon waits for the
 * worker's hello (within its stop grace) instead of signalling it inside the store. */
START_TEST(test_stop_while_starting)
{
	struct gated g;
	struct job jb;
	char id[32], *log;
	int64_t deadline;
	int status;

	gated_start(&g);
	tl_submit(g.d, id, "full_sync", "delay_ms=100", "batch_size=1", NULL);
	ck_assert(tl_wait_status(g.d, id, JOB_RUNNING, 10000, &jb) == 0);
	job_free(&jb);
	ck_assert_int_eq(kill(g.d->pid, SIGTERM), 0);
	/* the stop has been handled (and, before the fix, the worker signalled) */
	deadline = tl_now_ms() + 10000;
	for (;;) {
		log = tl_daemon_log(g.d);
		if (strstr(log, "stopping (SIGTERM)") != NULL)
			break;
		free(log);
		ck_assert_msg(tl_now_ms() < deadline, "the daemon did not start stopping");
		tl_sleep_ms(10);
	}
	free(log);
	tl_write_file(g.gate, "");
	ck_assert_int_eq(tl_wait_gone(g.d->pid, 20000), 0);
	ck_assert(tl_daemon_exited(g.d));
	status = g.d->last_status;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "jobsd status %d", status);
	ck_assert_msg(access(g.passed, F_OK) == 0, "the worker was signalled before its hello");
	assert_no_panic(g.d);
}
END_TEST

Suite *integration_cancel_suite(void);

Suite *
integration_cancel_suite(void)
{
	Suite *s = suite_create("integration_cancel");
	TCase *tc;

	tc = tl_tcase("cancel", 60);
	tcase_add_test(tc, test_cancel_pending);
	tcase_add_test(tc, test_cancel_running_keeps_committed);
	tcase_add_test(tc, test_cancel_while_starting);
	tcase_add_test(tc, test_stop_while_starting);
	suite_add_tcase(s, tc);

	tc = tl_tcase("watch", 60);
	tcase_add_test(tc, test_watch_and_wait_exit_codes);
	suite_add_tcase(s, tc);
	return (s);
}
