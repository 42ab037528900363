/* check_checkpoint.c: `jobsd-worker --checkpoint DATA_DIR`, the short-lived process the
 * supervisor starts to checkpoint the store off its loop (daemon/checkpoint.c): it joins a
 * running daemon's environment, checkpoints and exits 0; it exits 1 on a data_dir it cannot
 * open; the daemon keeps answering afterwards. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

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

Suite *
checkpoint_suite(void)
{
	Suite *s = suite_create("checkpoint");
	TCase *tc = tl_tcase("checkpoint", 60);

	tcase_add_test(tc, test_checkpoint_running_daemon);
	tcase_add_test(tc, test_checkpoint_bad_dir);
	suite_add_tcase(s, tc);
	return (s);
}
