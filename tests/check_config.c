/* check_config.c: daemon/config.c: defaults, every key, bounds, file:line:key errors,
 * sections, sources, listen addresses, relative paths. Expected values are written by
 * hand from the documented defaults and bounds (packaging/jobsd.conf). */
#include <sys/stat.h>

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char dir[PATH_MAX];
static char file[PATH_MAX + 16];

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/jobsd.conf", dir);
}

static void
teardown(void)
{
	unlink(file);
	rmdir(dir);
}

static void
write_conf(const char *text)
{
	FILE *f = fopen(file, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* Load text; on success return NULL, else the cause with the file name replaced by "F". */
static char *
load(const char *text, struct config *c)
{
	char *cause = NULL, *out;
	size_t n = strlen(file);

	write_conf(text);
	if (config_load(file, c, &cause) == 0) {
		ck_assert_ptr_null(cause);
		return (NULL);
	}
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strncmp(cause, file, n) == 0, "cause without the file: %s", cause);
	if (asprintf(&out, "F%s", cause + n) == -1)
		ck_abort();
	free(cause);
	return (out);
}

static void
expect_error(const char *text, const char *want)
{
	struct config c;
	char *got = load(text, &c);

	ck_assert_msg(got != NULL, "accepted: %s", text);
	ck_assert_str_eq(got, want);
	free(got);
}

START_TEST(test_defaults)
{
	struct config c;

	config_defaults(&c);
	ck_assert_str_eq(c.data_dir, "/var/lib/jobsd");
	ck_assert_str_eq(c.socket, "/run/jobsd/jobsd.sock");
	ck_assert_str_eq(c.pid_file, "/run/jobsd/jobsd.pid");
	ck_assert_str_eq(c.admin_group, "");
	ck_assert_str_eq(c.user, "");
	ck_assert_str_eq(c.worker_path, "");
	ck_assert_str_eq(c.http_path, "");
	ck_assert_int_eq(c.max_workers, 2);
	ck_assert_int_eq(c.cancel_grace_ms, 10000);
	ck_assert_int_eq(c.max_delete_percent, 20);
	ck_assert_int_eq(c.retention_days, 30);
	ck_assert_int_eq(c.retention_count, 10000);
	ck_assert_int_eq(c.progress_interval_ms, 250);
	ck_assert_int_eq(c.worker_start_timeout_ms, 10000);
	ck_assert_int_eq(c.checkpoint_log_mb, 256);
	ck_assert_int_eq(c.commit_delay_us, 2000);
	ck_assert_str_eq(c.log_level, "info");
	ck_assert_uint_eq(c.nsources, 0);
	ck_assert_uint_eq(c.nlisten, 0);
	ck_assert_int_eq(c.http_processes, 1);
	ck_assert_int_eq(c.http_max_connections, 1024);
	ck_assert_int_eq(c.http_idle_timeout_ms, 60000);
	ck_assert_int_eq(c.http_request_timeout_ms, 10000);
	ck_assert_uint_eq(c.http_max_header_bytes, 16384);
	ck_assert_uint_eq(c.http_max_body_bytes, 65536);
	ck_assert_str_eq(c.policy_file, "");
}
END_TEST

START_TEST(test_empty_file_is_defaults)
{
	struct config c;

	ck_assert_ptr_null(load("# nothing\n\n; still nothing\n", &c));
	ck_assert_str_eq(c.data_dir, "/var/lib/jobsd");
	ck_assert_int_eq(c.max_workers, 2);
	ck_assert_str_eq(c.path, file);
	ck_assert_ptr_null(config_source(&c, NULL));
}
END_TEST

START_TEST(test_every_key)
{
	struct config c;

	ck_assert_ptr_null(load("data_dir = /srv/jobs\n"
				"[jobsd]\n"
				"socket = /tmp/j.sock\n"
				"pid_file = /tmp/j.pid\n"
				"admin_group = root\n"
				"user = root\n"
				"worker_path = /opt/w\n"
				"http_path = /opt/h\n"
				"max_workers = 256\n"
				"cancel_grace = 0\n"
				"max_delete_percent = 100\n"
				"retention_days = 0\n"
				"retention_count = 0\n"
				"progress_interval_ms = 10\n"
				"worker_start_timeout = 600\n"
				"checkpoint_log_mb = 65536\n"
				"commit_delay_us = 0\n"
				"log_level = debug\n"
				"[http]\n"
				"listen = 127.0.0.1:8080\n"
				"listen = [::1]:8081, *:8082 :8083\n"
				"processes = 64\n"
				"max_connections = 5\n"
				"idle_timeout = 1\n"
				"request_timeout = 3600\n"
				"max_header_bytes = 1024\n"
				"max_body_bytes = 16777216\n"
				"[analysis]\n"
				"policy_file = /etc/jobsd/policies.json\n"
				"[source hr]\n"
				"type = csv\n"
				"path = /data/hr\n"
				"manager_ref = email\n"
				"[source ad-2]\n"
				"type=csv\n"
				"path=/data/ad\n",
				&c));
	ck_assert_str_eq(c.data_dir, "/srv/jobs");
	ck_assert_str_eq(c.socket, "/tmp/j.sock");
	ck_assert_str_eq(c.pid_file, "/tmp/j.pid");
	ck_assert_str_eq(c.admin_group, "root");
	ck_assert_str_eq(c.user, "root");
	ck_assert_str_eq(c.worker_path, "/opt/w");
	ck_assert_str_eq(c.http_path, "/opt/h");
	ck_assert_int_eq(c.max_workers, 256);
	ck_assert_int_eq(c.cancel_grace_ms, 0);
	ck_assert_int_eq(c.max_delete_percent, 100);
	ck_assert_int_eq(c.retention_days, 0);
	ck_assert_int_eq(c.retention_count, 0);
	ck_assert_int_eq(c.progress_interval_ms, 10);
	ck_assert_int_eq(c.worker_start_timeout_ms, 600000);
	ck_assert_int_eq(c.checkpoint_log_mb, 65536);
	ck_assert_int_eq(c.commit_delay_us, 0);
	ck_assert_str_eq(c.log_level, "debug");
	ck_assert_uint_eq(c.nlisten, 4);
	ck_assert_str_eq(c.listen[0], "127.0.0.1:8080");
	ck_assert_str_eq(c.listen[1], "[::1]:8081");
	ck_assert_str_eq(c.listen[2], "*:8082");
	ck_assert_str_eq(c.listen[3], ":8083");
	ck_assert_int_eq(c.http_processes, 64);
	ck_assert_int_eq(c.http_max_connections, 5);
	ck_assert_int_eq(c.http_idle_timeout_ms, 1000);
	ck_assert_int_eq(c.http_request_timeout_ms, 3600000);
	ck_assert_uint_eq(c.http_max_header_bytes, 1024);
	ck_assert_uint_eq(c.http_max_body_bytes, 16777216);
	ck_assert_str_eq(c.policy_file, "/etc/jobsd/policies.json");
	ck_assert_uint_eq(c.nsources, 2);
	ck_assert_str_eq(c.sources[0].name, "hr");
	ck_assert_str_eq(c.sources[0].type, "csv");
	ck_assert_str_eq(c.sources[0].path, "/data/hr");
	ck_assert_str_eq(c.sources[0].manager_ref, "email");
	ck_assert_str_eq(c.sources[1].name, "ad-2");
	ck_assert_str_eq(c.sources[1].path, "/data/ad");
	ck_assert_str_eq(c.sources[1].manager_ref, "auto");
	ck_assert_ptr_eq(config_source(&c, NULL), &c.sources[0]);
	ck_assert_ptr_eq(config_source(&c, "ad-2"), &c.sources[1]);
	ck_assert_ptr_null(config_source(&c, "nope"));
}
END_TEST

START_TEST(test_relative_paths)
{
	struct config c;
	char want[PATH_MAX + 32];

	ck_assert_ptr_null(load("data_dir = data\n[source s]\ntype = csv\npath = ./src\n", &c));
	snprintf(want, sizeof(want), "%s/data", dir);
	ck_assert_str_eq(c.data_dir, want);
	snprintf(want, sizeof(want), "%s/./src", dir);
	ck_assert_str_eq(c.sources[0].path, want);
}
END_TEST

/* Each integer key just outside its bounds, and its error. */
static const struct {
	const char *text;
	const char *want;
} bounds[] = {
	{"max_workers = 0\n", "F:1: key 'max_workers': 0 is out of range (1..256)"},
	{"max_workers = 257\n", "F:1: key 'max_workers': 257 is out of range (1..256)"},
	{"cancel_grace = -1\n", "F:1: key 'cancel_grace': -1 is out of range (0..3600)"},
	{"cancel_grace = 3601\n", "F:1: key 'cancel_grace': 3601 is out of range (0..3600)"},
	{"max_delete_percent = 101\n",
	 "F:1: key 'max_delete_percent': 101 is out of range (0..100)"},
	{"retention_days = 36501\n",
	 "F:1: key 'retention_days': 36501 is out of range (0..36500)"},
	{"retention_count = -1\n",
	 "F:1: key 'retention_count': -1 is out of range (0..100000000)"},
	{"progress_interval_ms = 9\n",
	 "F:1: key 'progress_interval_ms': 9 is out of range (10..60000)"},
	{"worker_start_timeout = 0\n",
	 "F:1: key 'worker_start_timeout': 0 is out of range (1..600)"},
	{"checkpoint_log_mb = 0\n",
	 "F:1: key 'checkpoint_log_mb': 0 is out of range (1..65536)"},
	{"commit_delay_us = 1000001\n",
	 "F:1: key 'commit_delay_us': 1000001 is out of range (0..1000000)"},
	{"commit_delay_us = -1\n",
	 "F:1: key 'commit_delay_us': -1 is out of range (0..1000000)"},
	{"[http]\nprocesses = 65\n", "F:2: key 'processes': 65 is out of range (1..64)"},
	{"[http]\nmax_connections = 0\n",
	 "F:2: key 'max_connections': 0 is out of range (1..1000000)"},
	{"[http]\nidle_timeout = 0\n", "F:2: key 'idle_timeout': 0 is out of range (1..3600)"},
	{"[http]\nrequest_timeout = 3601\n",
	 "F:2: key 'request_timeout': 3601 is out of range (1..3600)"},
	{"[http]\nmax_header_bytes = 1023\n",
	 "F:2: key 'max_header_bytes': 1023 is out of range (1024..1048576)"},
	{"[http]\nmax_body_bytes = 16777217\n",
	 "F:2: key 'max_body_bytes': 16777217 is out of range (1024..16777216)"},
	{"max_workers = two\n", "F:1: key 'max_workers': 'two' is not an integer"},
	{"max_workers = 3x\n", "F:1: key 'max_workers': '3x' is not an integer"},
	{"max_workers =\n", "F:1: key 'max_workers': '' is not an integer"},
	{"log_level = loud\n",
	 "F:1: key 'log_level': 'loud' is not one of error, warning, info, debug"},
	{"data_dir =\n", "F:1: key 'data_dir': must not be empty"},
	{"\n\nadmin_group = no-such-group-here\n",
	 "F:3: key 'admin_group': no such group 'no-such-group-here'"},
	{"user = no-such-user-here\n", "F:1: key 'user': no such user 'no-such-user-here'"},
};

START_TEST(test_bounds)
{
	expect_error(bounds[_i].text, bounds[_i].want);
}
END_TEST

START_TEST(test_unknown_key)
{
	expect_error("max_workers = 2\n\n# comment\nbogus = 1\n",
		     "F:4: key 'bogus': unknown key in section [jobsd]");
	expect_error("[http]\nmax_workers = 2\n",
		     "F:2: key 'max_workers': unknown key in section [http]");
	expect_error("[analysis]\nlisten = 1.2.3.4:5\n",
		     "F:2: key 'listen': unknown key in section [analysis]");
	expect_error("[source a]\ntype = csv\npath = /x\nmax_workers = 1\n",
		     "F:4: key 'max_workers': unknown key in section [source a]");
}
END_TEST

START_TEST(test_sections)
{
	expect_error("max_workers = 1\n[foo]\n",
		     "F:2: section 'foo': unknown section (expected jobsd, http, analysis or "
		     "source NAME)");
	expect_error("[source]\n", "F:1: section 'source': unknown section (expected jobsd, "
				   "http, analysis or source NAME)");
	expect_error("[source a/b]\n", "F:1: section 'source a/b': source name must be 1-63 "
				       "letters, digits, '.', '_' or '-'");
	expect_error("[source a]\ntype = csv\npath = /x\n\n[source a]\n",
		     "F:5: section 'source a': duplicate source (first at line 1)");
	expect_error("[source a]\ntype = csv\n",
		     "F:1: key 'path': missing in section [source a]");
	expect_error("[http]\n[source b]\npath = /x\n",
		     "F:2: key 'type': missing in section [source b]");
	expect_error("[source a]\ntype = ldap\n",
		     "F:2: key 'type': unknown source type 'ldap' (only csv)");
	expect_error("[source a]\nmanager_ref = phone\n",
		     "F:2: key 'manager_ref': 'phone' is not one of auto, employee_id, email, "
		     "dn");
}
END_TEST

START_TEST(test_listen)
{
	struct config c;

	expect_error("[http]\nlisten = localhost\n",
		     "F:2: key 'listen': 'localhost' is not HOST:PORT");
	expect_error("[http]\nlisten = 1.2.3.4:0\n",
		     "F:2: key 'listen': '1.2.3.4:0': port must be 1..65535");
	expect_error("[http]\nlisten = 1.2.3.4:65536\n",
		     "F:2: key 'listen': '1.2.3.4:65536': port must be 1..65535");
	expect_error("[http]\nlisten = ::1:80\n", "F:2: key 'listen': '::1:80' is not HOST:PORT");
	expect_error("[http]\nlisten = [::1]80\n",
		     "F:2: key 'listen': '[::1]80' is not [ADDRESS]:PORT");
	expect_error("[http]\nlisten = a:1 b:2 c:3 d:4 e:5\nlisten = f:6 g:7 h:8 i:9\n",
		     "F:3: key 'listen': more than 8 addresses");
	ck_assert_ptr_null(load("[http]\nlisten = a:1 b:2 c:3 d:4 e:5\nlisten = f:6 g:7 h:8\n",
				&c));
	ck_assert_uint_eq(c.nlisten, 8);
	ck_assert_str_eq(c.listen[7], "h:8");
}
END_TEST

START_TEST(test_syntax_and_files)
{
	struct config c;
	char *cause = NULL, want[PATH_MAX + 64];

	expect_error("max_workers = 2\nthis line has no equals sign\n",
		     "F:2: syntax error (expected key = value or [section])");
	snprintf(want, sizeof(want), "%s/missing.conf", dir);
	ck_assert_int_eq(config_load(want, &c, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	strcat(want, ": No such file or directory");
	ck_assert_str_eq(cause, want);
	free(cause);
}
END_TEST

START_TEST(test_error_keeps_old_config)
{
	struct config c;
	char *err;

	ck_assert_ptr_null(load("max_workers = 7\n", &c));
	ck_assert_int_eq(c.max_workers, 7);
	err = load("max_workers = 3\nbogus = 1\n", &c);
	ck_assert_ptr_nonnull(err);
	free(err);
	ck_assert_int_eq(c.max_workers, 7); /* untouched on error (reload keeps the old one) */
}
END_TEST

/* Whether the file names a pid file (jobsd -f writes one only then). */
START_TEST(test_pid_file_set)
{
	struct config c;

	config_defaults(&c);
	ck_assert(!c.pid_file_set);
	ck_assert_ptr_null(load("max_workers = 3\n", &c));
	ck_assert(!c.pid_file_set);
	ck_assert_str_eq(c.pid_file, "/run/jobsd/jobsd.pid");
	ck_assert_ptr_null(load("pid_file = /tmp/x.pid\n", &c));
	ck_assert(c.pid_file_set);
	ck_assert_str_eq(c.pid_file, "/tmp/x.pid");
	ck_assert_ptr_null(load("[jobsd]\npid_file =\n", &c));
	ck_assert(c.pid_file_set);
	ck_assert_str_eq(c.pid_file, "");
}
END_TEST

Suite *config_suite(void);

Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_empty_file_is_defaults);
	tcase_add_test(tc, test_every_key);
	tcase_add_test(tc, test_relative_paths);
	tcase_add_loop_test(tc, test_bounds, 0, sizeof(bounds) / sizeof(bounds[0]));
	tcase_add_test(tc, test_unknown_key);
	tcase_add_test(tc, test_sections);
	tcase_add_test(tc, test_listen);
	tcase_add_test(tc, test_syntax_and_files);
	tcase_add_test(tc, test_error_keeps_old_config);
	tcase_add_test(tc, test_pid_file_set);
	suite_add_tcase(s, tc);
	return (s);
}
