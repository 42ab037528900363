/* check_integration_pidfile.c: jobsd's pid file. In the foreground (-f) it is written only
 * when the configuration names one (the default's directory, /run/jobsd, need not exist
 * for a manual run); a pid file that cannot be written is a one-line error ending in a
 * newline and exit status 1, in the foreground and when daemonizing. */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/testlib.h"

Suite *integration_pidfile_suite(void);

/* Replace the "pid_file = ..." line of d's configuration by line ("" drops it). */
static void
set_pid_line(struct tl_daemon *d, const char *line)
{
	char *conf = tl_read_file(d->config), *p, *eol, *out;

	ck_assert_ptr_nonnull(conf);
	p = strstr(conf, "pid_file = ");
	ck_assert_ptr_nonnull(p);
	eol = strchr(p, '\n');
	ck_assert_ptr_nonnull(eol);
	*p = '\0';
	if (asprintf(&out, "%s%s%s", conf, line, eol + 1) == -1)
		ck_abort();
	tl_write_file(d->config, out);
	free(out);
	free(conf);
}

START_TEST(test_foreground_default_pid_file)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	struct stat st;
	bool existed = stat("/run/jobsd/jobsd.pid", &st) == 0;
	char *log;

	set_pid_line(d, "");
	tl_daemon_start(d); /* fails unless it answers PING */
	ck_assert_msg(existed || stat("/run/jobsd/jobsd.pid", &st) == -1,
		      "jobsd -f wrote the default pid file");
	log = tl_daemon_log(d);
	ck_assert_msg(strstr(log, "pid file") == NULL, "%s", log);
	free(log);
}
END_TEST

START_TEST(test_foreground_named_pid_file)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	char path[PATH_MAX + 16], want[32], *got;

	/* testlib's configuration names DIR/jobsd.pid */
	tl_daemon_start(d);
	snprintf(path, sizeof(path), "%s/jobsd.pid", d->dir);
	got = tl_read_file(path);
	ck_assert_ptr_nonnull(got);
	snprintf(want, sizeof(want), "%ld\n", (long)d->pid);
	ck_assert_str_eq(got, want);
	free(got);
	ck_assert_int_eq(tl_daemon_stop(d), 0);
	ck_assert_int_eq(access(path, F_OK), -1); /* removed at exit */
}
END_TEST

/* A pid file in a missing directory, with -f (_i = 0) and daemonizing (_i = 1). */
START_TEST(test_pid_file_error)
{
	struct tl_daemon *d = tl_daemon_new(NULL);
	char line[PATH_MAX + 64], prog[PATH_MAX], want[PATH_MAX + 128];
	const char *argv_f[] = {prog, "-f", "-c", d->config, NULL};
	const char *argv_d[] = {prog, "-c", d->config, NULL};
	struct tl_run r;

	snprintf(line, sizeof(line), "pid_file = %s/missing/jobsd.pid\n", d->dir);
	set_pid_line(d, line);
	snprintf(prog, sizeof(prog), "%s/jobsd", tl_bin_dir());
	ck_assert_int_eq(tl_run(&r, _i == 0 ? argv_f : argv_d, NULL, 30000), 1);
	snprintf(want, sizeof(want), "jobsd: pid file %s/missing/jobsd.pid: No such file or "
		 "directory\n", d->dir);
	ck_assert_msg(strstr(r.err, want) != NULL, "stderr: [%s]", r.err);
	/* the message is the last thing written, newline included */
	ck_assert_msg(strlen(r.err) >= strlen(want) &&
		      strcmp(r.err + strlen(r.err) - strlen(want), want) == 0, "stderr: [%s]",
		      r.err);
	ck_assert_int_eq(access(d->socket, F_OK), -1); /* no socket left behind */
	tl_run_free(&r);
}
END_TEST

Suite *
integration_pidfile_suite(void)
{
	Suite *s = suite_create("integration_pidfile");
	TCase *tc;

	tc = tl_tcase("pidfile", 60);
	tcase_add_test(tc, test_foreground_default_pid_file);
	tcase_add_test(tc, test_foreground_named_pid_file);
	tcase_add_loop_test(tc, test_pid_file_error, 0, 2);
	suite_add_tcase(s, tc);
	return (s);
}
