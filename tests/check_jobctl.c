/* check_jobctl.c: unit tests of jobctl without a daemon: human durations and clocks, the
 * progress bar and final lines, the REST error body, socket path precedence, and command
 * lines that must be refused (exit 2) before anything is sent, or fail to connect (exit 1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "client/client.h"
#include "log.h"

/* A ctl writing into memory streams, pointed at a socket that does not exist. */
struct cap {
	struct ctl c;
	char *out, *err;
	size_t outlen, errlen;
};

static void
cap_init(struct cap *k)
{
	memset(k, 0, sizeof(*k));
	k->c.out = open_memstream(&k->out, &k->outlen);
	k->c.err = open_memstream(&k->err, &k->errlen);
	k->c.socket_path = "/nonexistent/jobsd.sock";
	ck_assert(k->c.out != NULL && k->c.err != NULL);
}

static void
cap_close(struct cap *k)
{
	fclose(k->c.out);
	fclose(k->c.err);
	rpc_close(k->c.rpc);
}

static void
cap_free(struct cap *k)
{
	free(k->out);
	free(k->err);
}

/* cmd_run with a NULL-terminated argv; the exit code. */
static int
run(struct cap *k, const char *const *argv)
{
	char *copy[32];
	int argc = 0, rv;

	while (argv[argc] != NULL && argc < 31) {
		copy[argc] = xstrdup(argv[argc]);
		argc++;
	}
	copy[argc] = NULL;
	cap_init(k);
	rv = cmd_run(&k->c, argc, copy);
	while (argc > 0)
		free(copy[--argc]);
	cap_close(k);
	return (rv);
}

START_TEST(test_duration)
{
	char b[32];

	out_duration(0, b, sizeof(b));
	ck_assert_str_eq(b, "0ms");
	out_duration(450, b, sizeof(b));
	ck_assert_str_eq(b, "450ms");
	out_duration(1000, b, sizeof(b));
	ck_assert_str_eq(b, "1s");
	out_duration(59999, b, sizeof(b));
	ck_assert_str_eq(b, "59s");
	out_duration(72000, b, sizeof(b));
	ck_assert_str_eq(b, "1m 12s");
	out_duration(3600000 + 180000 + 4000, b, sizeof(b));
	ck_assert_str_eq(b, "1h 03m 04s");
	out_duration(3LL * 86400000 + 4 * 3600000 + 5 * 60000 + 6000, b, sizeof(b));
	ck_assert_str_eq(b, "3d 04h 05m");
	out_duration(-5, b, sizeof(b));
	ck_assert_str_eq(b, "0ms");

	out_clock(12345, b, sizeof(b));
	ck_assert_str_eq(b, "00:12");
	out_clock(62000, b, sizeof(b));
	ck_assert_str_eq(b, "01:02");
	out_clock(3723000, b, sizeof(b));
	ck_assert_str_eq(b, "01:02:03");
}
END_TEST

START_TEST(test_progress_line)
{
	struct job j;
	char b[256];

	job_init(&j);
	j.no = 5;
	j.status = JOB_RUNNING;
	j.progress = 45;
	snprintf(j.current_step, sizeof(j.current_step), "Processing accounts");
	j.records_processed = 450;
	j.total_records = 1000;
	j.start_ms = 1000000;
	out_progress_line(&j, 1012500, b, sizeof(b));
	ck_assert_str_eq(b, "[#########...........]  45% Processing accounts 450/1000 00:12");

	j.progress = 100;
	out_progress_line(&j, 1012500, b, sizeof(b));
	ck_assert_str_eq(b, "[####################] 100% Processing accounts 450/1000 00:12");

	job_free(&j);
	j.no = 6;
	j.status = JOB_PENDING;
	out_progress_line(&j, 5000, b, sizeof(b));
	ck_assert_str_eq(b, "[....................]   0% waiting to start (pending) 00:00");
	job_free(&j);
}
END_TEST

START_TEST(test_final_line)
{
	struct job j;
	char b[256];

	job_init(&j);
	j.no = 12;
	j.status = JOB_COMPLETED;
	j.start_ms = 10000;
	j.end_ms = 82000;
	j.records_created = 150;
	j.records_updated = 45;
	j.records_deleted = 10;
	out_final_line(&j, b, sizeof(b));
	ck_assert_str_eq(b, "job-12 completed in 1m 12s: 150 created, 45 updated, 10 deleted");

	j.status = JOB_FAILED;
	job_set_error(&j, "killed by signal 9");
	out_final_line(&j, b, sizeof(b));
	ck_assert_str_eq(b, "job-12 failed after 1m 12s: killed by signal 9");

	j.status = JOB_CANCELLED;
	j.records_processed = 200;
	j.total_records = 1000;
	out_final_line(&j, b, sizeof(b));
	ck_assert_str_eq(b, "job-12 cancelled after 1m 12s (200 of 1000 records processed: "
			    "150 created, 45 updated, 10 deleted)");
	j.start_ms = JOB_NULL;
	out_final_line(&j, b, sizeof(b));
	ck_assert_str_eq(b, "job-12 cancelled before it started");
	job_free(&j);
}
END_TEST

START_TEST(test_error_json)
{
	struct rpc_fail f;
	char *buf = NULL;
	size_t len = 0;
	FILE *m;

	memset(&f, 0, sizeof(f));
	f.status = 400;
	snprintf(f.code, sizeof(f.code), "invalid_parameter");
	snprintf(f.message, sizeof(f.message), "status: \"x\" is not a status");
	snprintf(f.parameter, sizeof(f.parameter), "status");
	m = open_memstream(&buf, &len);
	out_json_error(m, &f);
	f.parameter[0] = '\0';
	f.status = 404;
	snprintf(f.code, sizeof(f.code), "not_found");
	snprintf(f.message, sizeof(f.message), "job-99 not found");
	out_json_error(m, &f);
	fclose(m);
	ck_assert_str_eq(buf, "{\"error\":{\"status\":400,\"code\":\"invalid_parameter\","
			      "\"message\":\"status: \\\"x\\\" is not a status\","
			      "\"parameter\":\"status\"}}\n"
			      "{\"error\":{\"status\":404,\"code\":\"not_found\","
			      "\"message\":\"job-99 not found\"}}\n");
	free(buf);
}
END_TEST

START_TEST(test_socket_path)
{
	unsetenv(JOBCTL_SOCKET_ENV);
	ck_assert_str_eq(rpc_socket_path(NULL), "/run/jobsd/jobsd.sock");
	setenv(JOBCTL_SOCKET_ENV, "/tmp/env.sock", 1);
	ck_assert_str_eq(rpc_socket_path(NULL), "/tmp/env.sock");
	ck_assert_str_eq(rpc_socket_path("/tmp/opt.sock"), "/tmp/opt.sock");
	unsetenv(JOBCTL_SOCKET_ENV);
}
END_TEST

/* Command lines refused before connecting: exit 2, a reason and the usage line. */
static const char *const *const usage_cases[] = {
	(const char *const[]){"nosuchcommand", NULL},
	(const char *const[]){"show", NULL},
	(const char *const[]){"show", "job-1", "job-2", NULL},
	(const char *const[]){"list", "--limit", "ten", NULL},
	(const char *const[]){"list", "--limit", NULL},
	(const char *const[]){"list", "--bogus", NULL},
	(const char *const[]){"list", "extra", NULL},
	(const char *const[]){"submit", NULL},
	(const char *const[]){"submit", "full_sync", "--param", "novalue", NULL},
	(const char *const[]){"submit", "full_sync", "--param", "=v", NULL},
	(const char *const[]){"submit", "full_sync", "--wait=yes", NULL},
	(const char *const[]){"cancel", NULL},
	(const char *const[]){"running", "x", NULL},
	(const char *const[]){"token", NULL},
	(const char *const[]){"token", "create", "x", NULL},
	(const char *const[]){"token", "frob", NULL},
	(const char *const[]){"token", "revoke", NULL},
};

START_TEST(test_usage_errors)
{
	struct cap k;

	ck_assert_int_eq(run(&k, usage_cases[_i]), JOBCTL_EXIT_USAGE);
	ck_assert_msg(strncmp(k.err, "jobctl: ", 8) == 0, "stderr: %s", k.err);
	ck_assert_str_eq(k.out, "");
	cap_free(&k);
}
END_TEST

/* Well-formed command lines get as far as connecting: exit 1, with --json the body. */
static const char *const *const connect_cases[] = {
	(const char *const[]){"list", NULL},
	(const char *const[]){"list", "--type=full_sync", "--status", "failed", "--since",
			      "2024-01-01", "--until=2024-02-01", "--limit", "5", "--after", "c",
			      NULL},
	(const char *const[]){"show", "job-1", NULL},
	(const char *const[]){"show", "-", NULL},
	(const char *const[]){"progress", "7", NULL},
	(const char *const[]){"running", NULL},
	(const char *const[]){"cancel", "job-1", NULL},
	(const char *const[]){"submit", "full_sync", "--param", "a=b=c", "--param=x=",
			      "--wait", NULL},
	(const char *const[]){"watch", "job-3", NULL},
	(const char *const[]){"log", "job-3", NULL},
	(const char *const[]){"token", "create", "n", "--role", "Auditor", NULL},
	(const char *const[]){"token", "list", NULL},
	(const char *const[]){"token", "revoke", "n", NULL},
	(const char *const[]){"ping", NULL},
};

START_TEST(test_connect_errors)
{
	const char *argv[16];
	struct cap k;
	size_t n = 0;

	while (connect_cases[_i][n] != NULL) {
		argv[n] = connect_cases[_i][n];
		n++;
	}
	argv[n] = NULL;
	ck_assert_int_eq(run(&k, argv), JOBCTL_EXIT_ERROR);
	ck_assert_msg(strstr(k.err, "cannot connect to /nonexistent/jobsd.sock") != NULL,
		      "stderr: %s", k.err);
	ck_assert_str_eq(k.out, "");
	cap_free(&k);

	/* --json after the command: the error body on stdout too. */
	argv[n++] = "--json";
	argv[n] = NULL;
	ck_assert_int_eq(run(&k, argv), JOBCTL_EXIT_ERROR);
	{
		const char *want = "{\"error\":{\"status\":503,\"code\":\"unavailable\",";

		ck_assert_msg(strncmp(k.out, want, strlen(want)) == 0, "stdout: %s", k.out);
	}
	cap_free(&k);
}
END_TEST

START_TEST(test_help)
{
	struct cap k;

	ck_assert_int_eq(run(&k, (const char *const[]){"help", NULL}), 0);
	ck_assert(strstr(k.out, "exit status:") != NULL);
	ck_assert(strstr(k.out, "  4    a watched job was cancelled") != NULL);
	cap_free(&k);
	ck_assert_int_eq(run(&k, (const char *const[]){"list", "--help", NULL}), 0);
	ck_assert(strncmp(k.out, "usage: jobctl list [--type TYPE]", 32) == 0);
	cap_free(&k);
	ck_assert(cmd_find("watch") != NULL && cmd_find("wat") == NULL);
}
END_TEST

Suite *jobctl_suite(void);

Suite *
jobctl_suite(void)
{
	Suite *s = suite_create("jobctl");
	TCase *tc = tcase_create("output");

	tcase_add_test(tc, test_duration);
	tcase_add_test(tc, test_progress_line);
	tcase_add_test(tc, test_final_line);
	tcase_add_test(tc, test_error_json);
	suite_add_tcase(s, tc);

	tc = tcase_create("args");
	tcase_add_test(tc, test_socket_path);
	tcase_add_loop_test(tc, test_usage_errors, 0,
			    (int)(sizeof(usage_cases) / sizeof(usage_cases[0])));
	tcase_add_loop_test(tc, test_connect_errors, 0,
			    (int)(sizeof(connect_cases) / sizeof(connect_cases[0])));
	tcase_add_test(tc, test_help);
	suite_add_tcase(s, tc);
	return (s);
}
