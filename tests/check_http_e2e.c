/* check_http_e2e.c: the REST API end to end: a real jobsd (which binds [http] listen and
 * spawns jobsd-http) on a temp dir, a token made with jobctl, real jobs submitted, watched
 * and cancelled over HTTP, and a listener killed with -9 and restarted by the supervisor.
 * Slow jobs use the worker's test parameters delay_ms and batch_size. */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "log.h"
#include "lib/testlib.h"

Suite *http_e2e_suite(void);

struct hresp {
	int status;
	char head[4096];
	char *body;
};

/* One request on a fresh connection; -1 if the connection fails or times out. */
static int
http(int port, const char *method, const char *path, const char *token, const char *body,
     struct hresp *r)
{
	struct sockaddr_in sin;
	char req[4096], buf[1 << 16], *end, *cl;
	size_t len = 0, want;
	struct pollfd pfd;
	int64_t deadline = tl_now_ms() + 10000;
	ssize_t n;
	int fd;

	memset(r, 0, sizeof(*r));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		close(fd);
		return (-1);
	}
	snprintf(req, sizeof(req),
		 "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s%s%s"
		 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		 method, path, token != NULL ? "Authorization: Bearer " : "",
		 token != NULL ? token : "", token != NULL ? "\r\n" : "",
		 body != NULL ? strlen(body) : 0, body != NULL ? body : "");
	if (ipc_write_all(fd, req, strlen(req)) != 0) {
		close(fd);
		return (-1);
	}
	/* Connection: close: read to EOF. */
	for (;;) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (tl_now_ms() > deadline || poll(&pfd, 1, 100) < 0) {
			close(fd);
			return (-1);
		}
		if (pfd.revents == 0)
			continue;
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if ((end = strstr(buf, "\r\n\r\n")) == NULL || sscanf(buf, "HTTP/1.1 %d", &r->status) != 1)
		return (-1);
	snprintf(r->head, sizeof(r->head), "%.*s", (int)(end - buf + 2), buf);
	r->body = xstrdup(end + 4);
	if ((cl = strcasestr(r->head, "\r\nContent-Length: ")) != NULL) {
		want = strtoul(cl + 18, NULL, 10);
		ck_assert_int_eq(strlen(r->body), want);
	}
	return (0);
}

static void
hfree(struct hresp *r)
{
	free(r->body);
	r->body = NULL;
}

static void
wait_healthy(int port)
{
	int64_t deadline = tl_now_ms() + TL_START_TIMEOUT_MS;
	struct hresp r;

	for (;;) {
		if (http(port, "GET", "/healthz", NULL, NULL, &r) == 0 && r.status == 200) {
			ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
			hfree(&r);
			return;
		}
		hfree(&r);
		ck_assert_msg(tl_now_ms() < deadline, "jobsd-http never became healthy");
		tl_sleep_ms(50);
	}
}

static char *
make_token(struct tl_daemon *d, const char *name, const char *role)
{
	struct tl_run r;
	char *tok;

	ck_assert_int_eq(tl_jobctl(d, &r, "token", "create", name, "--role", role, NULL), 0);
	tok = tl_last_line(r.out);
	tl_run_free(&r);
	return (tok);
}

/* GET the job until its status is st. */
static yajl_val
wait_http_status(int port, const char *tok, const char *id, const char *st)
{
	int64_t deadline = tl_now_ms() + 20000;
	char path[64];
	struct hresp r;
	yajl_val v;

	snprintf(path, sizeof(path), "/api/v1/jobs/%s", id);
	for (;;) {
		ck_assert_int_eq(http(port, "GET", path, tok, NULL, &r), 0);
		ck_assert_int_eq(r.status, 200);
		v = tl_json(r.body);
		ck_assert_ptr_nonnull(v);
		hfree(&r);
		if (strcmp(tl_jstr(v, "status"), st) == 0)
			return (v);
		ck_assert_msg(tl_now_ms() < deadline, "%s: still %s", id, tl_jstr(v, "status"));
		yajl_tree_free(v);
		tl_sleep_ms(20);
	}
}

static void
submit(int port, const char *tok, const char *body, char id[32])
{
	struct hresp r;
	yajl_val v;
	char loc[64];

	ck_assert_int_eq(http(port, "POST", "/api/v1/jobs", tok, body, &r), 0);
	ck_assert_msg(r.status == 201, "%d %s", r.status, r.body);
	v = tl_json(r.body);
	ck_assert_ptr_nonnull(v);
	snprintf(id, 32, "%s", tl_jstr(v, "id"));
	ck_assert_str_eq(tl_jstr(v, "status"), "pending");
	ck_assert_str_eq(tl_jstr(v, "requested_by"), "web");
	snprintf(loc, sizeof(loc), "\r\nLocation: /api/v1/jobs/%s\r\n", id);
	ck_assert_ptr_nonnull(strstr(r.head, loc));
	yajl_tree_free(v);
	hfree(&r);
}

START_TEST(test_api_end_to_end)
{
	int port = tl_free_port();
	char listen[64], slow[32], queued[32], path[96];
	struct tl_daemon *d;
	struct hresp r;
	char *tok, *rev;
	yajl_val v;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	d = tl_daemon_new(&(struct tl_opts){.max_workers = 1, .http_listen = listen});
	tl_daemon_start(d);
	wait_healthy(port);
	tok = make_token(d, "web", "Administrator");
	rev = make_token(d, "viewer", "Reviewer");

	ck_assert_int_eq(http(port, "GET", "/api/v1/jobs", NULL, NULL, &r), 0);
	ck_assert_int_eq(r.status, 401);
	hfree(&r);
	ck_assert_int_eq(http(port, "GET", "/api/v1/jobs", rev, NULL, &r), 0);
	ck_assert_int_eq(r.status, 403);
	hfree(&r);
	ck_assert_int_eq(http(port, "GET", "/api/v1/jobs", tok, NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "{\"jobs\":[],\"pageInfo\":{\"hasNextPage\":false,"
				 "\"endCursor\":null}}");
	hfree(&r);

	/* A slow running job and a queued one behind it (max_workers = 1). */
	submit(port, tok, "{\"job_type\":\"full_sync\",\"parameters\":{\"delay_ms\":200,"
			  "\"batch_size\":1}}", slow);
	v = wait_http_status(port, tok, slow, "running");
	ck_assert(tl_jstr(v, "start_time") != NULL);
	yajl_tree_free(v);
	submit(port, tok, "{\"job_type\":\"owner_sync\"}", queued);

	ck_assert_int_eq(http(port, "GET", "/api/v1/jobs/running", tok, NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, slow));
	ck_assert_ptr_null(strstr(r.body, queued));
	hfree(&r);
	snprintf(path, sizeof(path), "/api/v1/jobs/%s/progress", slow);
	ck_assert_int_eq(http(port, "GET", path, tok, NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	v = tl_json(r.body);
	ck_assert_str_eq(tl_jstr(v, "status"), "running");
	ck_assert(tl_jint(v, "elapsed_ms") >= 0);
	yajl_tree_free(v);
	hfree(&r);

	/* Cancel the pending one: at once, never started. */
	snprintf(path, sizeof(path), "/api/v1/jobs/%s", queued);
	ck_assert_int_eq(http(port, "DELETE", path, tok, NULL, &r), 0);
	ck_assert_msg(r.status == 204, "%d %s", r.status, r.body);
	ck_assert_str_eq(r.body, "");
	hfree(&r);
	v = wait_http_status(port, tok, queued, "cancelled");
	ck_assert(tl_jnull(v, "start_time"));
	ck_assert(tl_jstr(v, "end_time") != NULL);
	ck_assert_str_eq(tl_jstr(v, "cancelled_by"), "web");
	yajl_tree_free(v);

	/* Cancel the running one: the 204 comes once it is cancelled. */
	snprintf(path, sizeof(path), "/api/v1/jobs/%s", slow);
	ck_assert_int_eq(http(port, "DELETE", path, tok, NULL, &r), 0);
	ck_assert_msg(r.status == 204, "%d %s", r.status, r.body);
	hfree(&r);
	ck_assert_int_eq(http(port, "GET", path, tok, NULL, &r), 0);
	v = tl_json(r.body);
	ck_assert_str_eq(tl_jstr(v, "status"), "cancelled");
	ck_assert(tl_jstr(v, "start_time") != NULL);
	yajl_tree_free(v);
	hfree(&r);
	ck_assert_int_eq(http(port, "DELETE", path, tok, NULL, &r), 0);
	ck_assert_int_eq(r.status, 409);
	hfree(&r);

	/* A job that runs to completion. */
	submit(port, tok, "{\"job_type\":\"application_sync\"}", queued);
	v = wait_http_status(port, tok, queued, "completed");
	ck_assert_int_eq(tl_jint(v, "progress"), 100);
	yajl_tree_free(v);

	ck_assert_int_eq(http(port, "GET", "/api/v1/jobs?status=cancelled&first=1", tok, NULL,
			      &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"hasNextPage\":true"));
	hfree(&r);
	ck_assert_int_eq(http(port, "GET", "/metrics", tok, NULL, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(
	    strstr(r.body, "\njobsd_jobs{status=\"cancelled\",job_type=\"full_sync\"} 1\n"));
	hfree(&r);
	free(tok);
	free(rev);
}
END_TEST

/* Two listener processes share the port; one killed with -9: the other keeps serving,
 * the supervisor starts a replacement, no job is touched. */
START_TEST(test_listener_restarted)
{
	int port = tl_free_port();
	char listen[64], id[32];
	struct tl_daemon *d;
	struct hresp r;
	pid_t kids[8], again[8];
	size_t n, m, i;
	int64_t deadline;
	char *tok;
	yajl_val v;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	d = tl_daemon_new(&(struct tl_opts){.http_listen = listen, .extra = "processes = 2\n"});
	tl_daemon_start(d);
	wait_healthy(port);
	tok = make_token(d, "web", "Administrator");
	deadline = tl_now_ms() + 10000;
	while ((n = tl_children(d->pid, "jobsd-http", kids, 8)) != 2) {
		ck_assert_msg(tl_now_ms() < deadline, "%zu listeners", n);
		tl_sleep_ms(20);
	}
	for (i = 0; i < n; i++)
		tl_track_pid(d, kids[i]);
	submit(port, tok, "{\"job_type\":\"full_sync\",\"parameters\":{\"delay_ms\":50}}", id);

	ck_assert_int_eq(kill(kids[0], SIGKILL), 0);
	ck_assert_int_eq(tl_wait_gone(kids[0], 5000), 0);
	/* The survivor answers at once. */
	for (i = 0; i < 5; i++) {
		ck_assert_int_eq(http(port, "GET", "/api/v1/jobs", tok, NULL, &r), 0);
		ck_assert_int_eq(r.status, 200);
		hfree(&r);
	}
	/* The supervisor starts a replacement. */
	deadline = tl_now_ms() + 15000;
	for (;;) {
		m = tl_children(d->pid, "jobsd-http", again, 8);
		if (m == 2 && again[0] != kids[0] && again[1] != kids[0])
			break;
		ck_assert_msg(tl_now_ms() < deadline, "no replacement jobsd-http");
		tl_sleep_ms(20);
	}
	for (i = 0; i < m; i++)
		tl_track_pid(d, again[i]);
	wait_healthy(port);
	v = wait_http_status(port, tok, id, "completed");
	yajl_tree_free(v);
	ck_assert(!tl_daemon_exited(d));
	free(tok);
}
END_TEST

Suite *
http_e2e_suite(void)
{
	Suite *s = suite_create("http_e2e");
	TCase *tc = tl_tcase("http_e2e", 90);

	tcase_add_test(tc, test_api_end_to_end);
	tcase_add_test(tc, test_listener_restarted);
	suite_add_tcase(s, tc);
	return (s);
}
