/* check_integration_regions.c: the real daemon honours region_dir. Its supervisor puts
 * the environment's shared regions in region_dir/jobsd-UID-DEV-INO behind
 * data_dir/regions, its workers and REST listener join them there (a job completes, the
 * listener answers from the store), and a clean stop removes them. */
#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/testlib.h"

Suite *integration_regions_suite(void);

START_TEST(test_daemon_region_dir)
{
	char base[PATH_MAX], extra[PATH_MAX + 64], link[PATH_MAX + 128], want[PATH_MAX + 96];
	char got[PATH_MAX], listen[64], id[32], path[64], *log, *tok, *body;
	struct tl_daemon *d;
	struct tl_run r;
	int status;
	struct stat sb;
	struct job jb;
	ssize_t n;
	int port = tl_free_port();

	tl_mkdtemp(base, "regions");
	snprintf(extra, sizeof(extra), "\n[jobsd]\nregion_dir = %s\n", base);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	d = tl_daemon_new(&(struct tl_opts){.extra = extra, .http_listen = listen});
	tl_daemon_start(d);

	ck_assert_int_eq(stat(d->data_dir, &sb), 0);
	snprintf(want, sizeof(want), "%s/jobsd-%u-%llx-%llu", base, (unsigned)geteuid(),
	         (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino);
	snprintf(link, sizeof(link), "%s/regions", d->data_dir);
	n = readlink(link, got, sizeof(got) - 1);
	ck_assert_int_gt(n, 0);
	got[n] = '\0';
	ck_assert_str_eq(got, want);
	snprintf(link, sizeof(link), "%s/__db.001", want);
	ck_assert_int_eq(stat(link, &sb), 0);

	/* a worker joins there and completes its job; the listener reads it from the store */
	tl_submit(d, id, "full_sync", NULL);
	ck_assert_int_eq(tl_wait_status(d, id, JOB_COMPLETED, 30000, &jb), 0);
	job_free(&jb);
	ck_assert_int_eq(
	    tl_jobctl(d, &r, "token", "create", "reader", "--role", "Administrator", NULL), 0);
	tok = tl_last_line(r.out);
	tl_run_free(&r);
	ck_assert_int_eq(tl_http_wait(d, 10000), 0);
	snprintf(path, sizeof(path), "/api/v1/jobs/%s", id);
	ck_assert_int_eq(tl_http(d, "GET", path, tok, NULL, &status, &body), 0);
	ck_assert_msg(status == 200 && strstr(body, "\"completed\"") != NULL, "%d %s", status,
	              body);
	free(body);
	free(tok);

	ck_assert_int_eq(tl_daemon_stop(d), 0);
	ck_assert_int_eq(stat(want, &sb), -1);
	snprintf(link, sizeof(link), "%s/regions", d->data_dir);
	ck_assert_int_eq(lstat(link, &sb), -1);
	log = tl_daemon_log(d);
	ck_assert_msg(strstr(log, "keeping the database regions") == NULL, "%s", log);
	free(log);
	tl_rm_rf(base);
}
END_TEST

Suite *
integration_regions_suite(void)
{
	Suite *s = suite_create("integration_regions");
	TCase *tc = tl_tcase("regions", 60);

	tcase_add_test(tc, test_daemon_region_dir);
	suite_add_tcase(s, tc);
	return (s);
}
