/* check_checkpoint.c: `jobsd-worker --checkpoint DATA_DIR`, the short-lived process the
 * supervisor starts to checkpoint the store off its loop (daemon/checkpoint.c): it joins a
 * running daemon's environment, checkpoints and exits 0; it exits 1 on a data_dir it cannot
 * open; the daemon keeps answering afterwards. And the supervisor's trigger: once
 * checkpoint_log_mb of log were written it checkpoints without waiting for its 60 s
 * interval, and the log files before that checkpoint are removed. */
#include <sys/stat.h>

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/datagen_fixture.h"
#include "lib/testlib.h"

Suite *checkpoint_suite(void);

static int
run_checkpoint(const char *dir, struct tl_run *r)
{
	char prog[PATH_MAX];
	const char *argv[4];

	snprintf(prog, sizeof(prog), "%s/jobsd-worker", tl_bin_dir());
	argv[0] = prog;
	argv[1] = "--checkpoint";
	argv[2] = dir;
	argv[3] = NULL;
	return (tl_run(r, argv, NULL, 30000));
}

START_TEST(test_checkpoint_running_daemon)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	struct tl_run r;
	struct job jb;
	char id[32];

	tl_daemon_start(d);
	tl_submit(d, id, "full_sync", NULL);
	ck_assert_msg(tl_wait_status(d, id, JOB_COMPLETED, 30000, &jb) == 0,
		      "the sync did not complete");
	job_free(&jb);
	run_checkpoint(d->data_dir, &r);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	tl_run_free(&r);
	/* twice: nothing new to write is still a success */
	run_checkpoint(d->data_dir, &r);
	ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
	tl_run_free(&r);
	ck_assert_int_eq(tl_ping(d, 5000), 0);
	ck_assert_int_eq(tl_daemon_stop(d), 0);
}
END_TEST

START_TEST(test_checkpoint_bad_dir)
{
	char dir[PATH_MAX], missing[PATH_MAX + 8];
	struct tl_run r;

	tl_mkdtemp(dir, "ckp");
	snprintf(missing, sizeof(missing), "%s/none", dir);
	run_checkpoint(missing, &r);
	ck_assert_int_eq(r.status, 1);
	ck_assert_ptr_nonnull(strstr(r.err, "checkpoint"));
	tl_run_free(&r);
}
END_TEST

static int
count_logs(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		n += strncmp(e->d_name, "log.", 4) == 0;
	closedir(d);
	return (n);
}

/* A sync of 5,000 generated owners writes about 20 MB of log (two 10 MB log files and
 * more): with checkpoint_log_mb = 1 the supervisor checkpoints because of the log's size,
 * long before its 60 s interval, and the first log file goes away. */
START_TEST(test_checkpoint_by_log_size)
{
	struct tl_daemon *d;
	struct job jb;
	struct stat sb;
	char src[PATH_MAX], first[PATH_MAX + 32], id[32], *log;
	int64_t deadline;

	tl_mkdtemp(src, "ckpsrc");
	dg_run((const char *const[]){"--owners", "5000", "--seed", "7", "--out", src, "-q",
				     NULL});
	d = tl_daemon_new(&(struct tl_opts){.fixture = src,
					   .extra = "\n[jobsd]\ncheckpoint_log_mb = 1\n"});
	tl_daemon_start(d);
	tl_submit(d, id, "full_sync", NULL);
	ck_assert_msg(tl_wait_status(d, id, JOB_COMPLETED, 120000, &jb) == 0,
		      "the sync did not complete");
	job_free(&jb);

	snprintf(first, sizeof(first), "%s/log.0000000001", d->data_dir);
	/* The sync ends within checkpoint_log_mb of a checkpoint: at most that one's log file
	 * and the current one stay. */
	deadline = tl_now_ms() + 30000;
	while ((stat(first, &sb) == 0 || count_logs(d->data_dir) > 2) && tl_now_ms() < deadline)
		tl_sleep_ms(100);
	ck_assert_msg(stat(first, &sb) != 0, "log.0000000001 is still there 30 s after the sync");
	ck_assert_int_le(count_logs(d->data_dir), 2);
	log = tl_daemon_log(d);
	ck_assert_msg(strstr(log, "checkpoint: started process") != NULL &&
			  strstr(log, "(log size, ") != NULL,
		      "no checkpoint for the log's size in the daemon's log");
	free(log);
	ck_assert_int_eq(tl_daemon_stop(d), 0);
	tl_rm_rf(src);
}
END_TEST

Suite *
checkpoint_suite(void)
{
	Suite *s = suite_create("checkpoint");
	TCase *tc = tl_tcase("checkpoint", 60);

	tcase_add_test(tc, test_checkpoint_running_daemon);
	tcase_add_test(tc, test_checkpoint_bad_dir);
	tcase_add_test(tc, test_checkpoint_by_log_size);
	suite_add_tcase(s, tc);
	return (s);
}
