/* check_http_live.c: the real jobsd-http process over real loopback HTTP, started the way
 * the supervisor starts it (a pre-bound listening socket on fd 4 with JOBSD_HTTP_FDS=1 and
 * the supervisor link on fd 3). The test process plays the supervisor: it owns the store
 * (STORE_SUPERVISOR: fills jobs and tokens) and answers PING/SUBMIT/CANCEL on the link,
 * while it waits for HTTP responses (one thread, poll on both). Two cases also pass a token
 * epoch on fd 5 (JOBSD_HTTP_EPOCH_FD), or name a wrong fd, to see the token cache follow
 * it, or be left off. */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ipc.h"
#include "job.h"
#include "store.h"
#include "timeutil.h"
#include "token_epoch.h"

Suite *http_live_suite(void);

#define ADMIN "Bearer admin-secret-token"
#define REVIEWER "Bearer reviewer-secret-token"
#define T0 1706781600000LL /* 2024-02-01T10:00:00Z */

static char root[128]; /* per suite run, removed by the unchecked teardown */
static char dir[160];   /* per test, under root */
static struct store *st;
static pid_t http_pid = -1;
static int port;
static int sup = -1;          /* our end of the supervisor link */
static struct ipc_reader sup_reader;
static bool hold_cancels;     /* keep CANCEL requests unanswered until released */
static uint32_t held_ids[16];
static char held_job[16][32];
static size_t nheld;
static int pings;
static bool ignore_pings;
static int cfg_max_connections = 700;
static int cfg_idle_timeout = 3;
static const char *cfg_sup_timeout; /* --supervisor-timeout, or NULL */
static int cfg_cancel_grace = -1;   /* cancel_grace seconds, or -1 for the default */
static const char *cfg_epoch_env;   /* JOBSD_HTTP_EPOCH_FD, or NULL */
static struct token_epoch cfg_epoch = {-1, NULL}; /* passed as fd 5 when it has one */
static bool hold_submits;           /* leave SUBMITs unanswered (held_submit: the last) */
static uint32_t held_submit;
static uint32_t held_sub_ids[16];   /* the first 16 held, answered by release_submits */
static char held_sub_type[16][32];
static size_t nheld_submits;

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* --- the fake supervisor ---------------------------------------------------- */

static void
sup_send(struct ipc_writer *w)
{
	ck_assert_int_eq(ipc_end(w), 0);
	ck_assert_int_eq(ipc_write_all(sup, w->buf.data, w->buf.size), 0);
	ipc_writer_reset(w);
}

static void
sup_fail(uint32_t id, int status, const char *code, const char *msg)
{
	struct ipc_writer w;
	msgpack_packer *pk;

	ipc_writer_init(&w);
	pk = ipc_begin(&w, MSG_CTL_FAIL, id);
	msgpack_pack_map(pk, 4);
	ipc_pack_kv_int(pk, "status", status);
	ipc_pack_kv_str(pk, "code", code);
	ipc_pack_kv_str(pk, "message", msg);
	ipc_pack_kv_str(pk, "parameter", NULL);
	sup_send(&w);
	ipc_writer_destroy(&w);
}

static void
sup_job(uint32_t id, const struct job *j)
{
	struct ipc_writer w;
	msgpack_packer *pk;

	ipc_writer_init(&w);
	pk = ipc_begin(&w, MSG_CTL_OK, id);
	msgpack_pack_map(pk, 1);
	ipc_pack_str(pk, "job");
	job_pack(pk, j);
	sup_send(&w);
	ipc_writer_destroy(&w);
}

static void
do_cancel(uint32_t id, const char *jid, const char *by)
{
	struct job j;
	uint64_t no;
	char *cause = NULL;

	ck_assert_int_eq(job_id_parse(jid, strlen(jid), &no), 0);
	if (store_job_get(st, no, &j, &cause) != 0) {
		free(cause);
		sup_fail(id, 404, "not_found", "no such job");
		return;
	}
	if (job_status_is_final(j.status)) {
		sup_fail(id, 409, "conflict", "job already ended");
		job_free(&j);
		return;
	}
	j.status = JOB_CANCELLED;
	j.end_ms = time_now_ms();
	snprintf(j.cancelled_by, sizeof(j.cancelled_by), "%s", by);
	ck_assert_int_eq(store_job_put(st, &j, true, &cause), 0);
	sup_job(id, &j);
	job_free(&j);
}

static void
sup_handle(const struct ipc_msg *m)
{
	struct ipc_writer w;
	msgpack_packer *pk;
	const msgpack_object *params;
	char type[32], by[64] = "", jid[32], k[64], v[256];
	struct job j;
	uint64_t no;
	uint32_t i;
	int t;
	char *cause = NULL;

	switch (m->type) {
	case MSG_CTL_PING:
		pings++;
		if (ignore_pings)
			break;
		ipc_writer_init(&w);
		pk = ipc_begin(&w, MSG_CTL_OK, m->id);
		msgpack_pack_map(pk, 2);
		ipc_pack_kv_int(pk, "pid", getpid());
		ipc_pack_kv_str(pk, "version", "test");
		sup_send(&w);
		ipc_writer_destroy(&w);
		break;
	case MSG_CTL_SUBMIT:
		ck_assert_int_eq(ipc_get_strbuf(&m->body, "job_type", type, sizeof(type)), 0);
		if (hold_submits) {
			held_submit = m->id;
			if (nheld_submits < 16) {
				held_sub_ids[nheld_submits] = m->id;
				snprintf(held_sub_type[nheld_submits], sizeof(held_sub_type[0]),
				         "%s", type);
				nheld_submits++;
			}
			break;
		}
		ipc_get_strbuf(&m->body, "by", by, sizeof(by));
		ck_assert_int_ge(t = job_type_parse(type, strlen(type)), 0);
		job_init(&j);
		ck_assert_int_eq(store_job_alloc(st, &no, &cause), 0);
		j.no = no;
		j.type = t;
		j.status = JOB_PENDING;
		j.created_ms = time_now_ms();
		snprintf(j.requested_by, sizeof(j.requested_by), "%s", by);
		params = ipc_get(&m->body, "parameters");
		ck_assert_ptr_nonnull(params);
		ck_assert_int_eq(params->type, MSGPACK_OBJECT_MAP);
		for (i = 0; i < params->via.map.size; i++) {
			const msgpack_object_kv *kv = &params->via.map.ptr[i];
			ck_assert_int_eq(kv->key.type, MSGPACK_OBJECT_STR);
			ck_assert_int_eq(kv->val.type, MSGPACK_OBJECT_STR);
			snprintf(k, sizeof(k), "%.*s", (int)kv->key.via.str.size, kv->key.via.str.ptr);
			snprintf(v, sizeof(v), "%.*s", (int)kv->val.via.str.size, kv->val.via.str.ptr);
			job_param_add(&j, k, v);
		}
		ck_assert_int_eq(store_job_put(st, &j, true, &cause), 0);
		sup_job(m->id, &j);
		job_free(&j);
		break;
	case MSG_CTL_CANCEL:
		ck_assert_int_eq(ipc_get_strbuf(&m->body, "id", jid, sizeof(jid)), 0);
		ipc_get_strbuf(&m->body, "by", by, sizeof(by));
		ck_assert_str_eq(by, "admin");
		if (hold_cancels && nheld < 16) {
			held_ids[nheld] = m->id;
			snprintf(held_job[nheld], sizeof(held_job[0]), "%s", jid);
			nheld++;
			break;
		}
		do_cancel(m->id, jid, by);
		break;
	default:
		ck_abort_msg("unexpected request type %u", m->type);
	}
}

static void
release_cancels(void)
{
	size_t i;

	for (i = 0; i < nheld; i++)
		do_cancel(held_ids[i], held_job[i], "admin");
	nheld = 0;
}

/* Answer the held submits in the order they came: each a new pending job of its type. */
static void
release_submits(void)
{
	struct job j;
	uint64_t no;
	size_t i;
	char *cause = NULL;

	for (i = 0; i < nheld_submits; i++) {
		job_init(&j);
		ck_assert_int_eq(store_job_alloc(st, &no, &cause), 0);
		j.no = no;
		j.type = job_type_parse(held_sub_type[i], strlen(held_sub_type[i]));
		ck_assert_int_ge(j.type, 0);
		j.status = JOB_PENDING;
		j.created_ms = time_now_ms();
		snprintf(j.requested_by, sizeof(j.requested_by), "admin");
		ck_assert_int_eq(store_job_put(st, &j, true, &cause), 0);
		sup_job(held_sub_ids[i], &j);
		job_free(&j);
	}
	nheld_submits = 0;
}

/* Read and answer what the supervisor link holds. */
static void
sup_service(void)
{
	struct ipc_msg m;
	char *cause = NULL;
	void *p;
	ssize_t n;
	enum ipc_next r;

	p = ipc_reader_space(&sup_reader, 65536);
	n = read(sup, p, 65536);
	if (n <= 0)
		return;
	ipc_reader_commit(&sup_reader, (size_t)n);
	while ((r = ipc_reader_next(&sup_reader, &m, &cause)) == IPC_MSG)
		sup_handle(&m);
	ck_assert_msg(r == IPC_NEED_MORE, "bad frame from jobsd-http: %s", cause);
}

/* Wait up to ms for fd to be readable, serving the supervisor link meanwhile. */
static bool
wait_readable(int fd, int ms)
{
	struct pollfd pfd[2];
	int64_t deadline = mono_ms() + ms;
	int left;

	for (;;) {
		left = (int)(deadline - mono_ms());
		if (left < 0)
			return (false);
		pfd[0].fd = fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = sup;
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, left) < 0)
			continue;
		if (pfd[1].revents != 0)
			sup_service();
		if (pfd[0].revents != 0)
			return (true);
	}
}

/* --- a small HTTP client ----------------------------------------------------- */

struct resp {
	int status;
	char *head; /* status line + headers */
	char *body;
	size_t body_len;
};

static void
resp_free(struct resp *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static int
connect_port(void)
{
	struct sockaddr_in sin;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return (fd);
}

static void
send_str(int fd, const char *s)
{
	ck_assert_int_eq(ipc_write_all(fd, s, strlen(s)), 0);
}

/* Per-connection read buffer, so pipelined responses can be read one by one. */
struct client {
	int fd;
	char buf[1 << 16];
	size_t len;
};

static struct client *
client_new(void)
{
	struct client *c = calloc(1, sizeof(*c));

	ck_assert_ptr_nonnull(c);
	c->fd = connect_port();
	return (c);
}

static void
client_free(struct client *c)
{
	if (c->fd != -1)
		close(c->fd);
	free(c);
}

/* Read more bytes; 0 on EOF, -1 on timeout. */
static ssize_t
client_fill(struct client *c, int ms)
{
	ssize_t n;

	if (!wait_readable(c->fd, ms))
		return (-1);
	n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (n < 0)
		return (0);
	c->len += (size_t)n;
	return (n);
}

static const char *
header_in(const char *head, const char *name, char *out, size_t outlen)
{
	const char *p = head;
	size_t n = strlen(name);

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1, *e;
			while (*v == ' ')
				v++;
			e = strstr(v, "\r\n");
			snprintf(out, outlen, "%.*s", (int)(e - v), v);
			return (out);
		}
	}
	return (NULL);
}

/* Read one response (head: a HEAD request's, with no body). 0, or -1 on EOF/timeout. */
static int
client_read(struct client *c, bool head, struct resp *r, int ms)
{
	char *end, cl[32];
	size_t hlen, blen = 0;

	memset(r, 0, sizeof(*r));
	for (;;) {
		c->buf[c->len] = '\0';
		if ((end = strstr(c->buf, "\r\n\r\n")) != NULL)
			break;
		if (client_fill(c, ms) <= 0)
			return (-1);
	}
	hlen = (size_t)(end - c->buf) + 2;
	r->head = strndup(c->buf, hlen);
	ck_assert(sscanf(r->head, "HTTP/1.1 %d ", &r->status) == 1);
	if (!head && header_in(r->head, "Content-Length", cl, sizeof(cl)) != NULL)
		blen = strtoul(cl, NULL, 10);
	while (c->len < hlen + 2 + blen) {
		if (client_fill(c, ms) <= 0)
			return (-1);
	}
	r->body = strndup(c->buf + hlen + 2, blen);
	r->body_len = blen;
	memmove(c->buf, c->buf + hlen + 2 + blen, c->len - hlen - 2 - blen);
	c->len -= hlen + 2 + blen;
	return (0);
}

/* Is the connection closed by the server (EOF within ms)? */
static bool
client_eof(struct client *c, int ms)
{
	ssize_t n;

	while ((n = client_fill(c, ms)) > 0)
		;
	return (n == 0);
}

/* One request on a new connection. */
static void
req(const char *method, const char *path, const char *auth, const char *extra,
    const char *body, struct resp *r)
{
	struct client *c = client_new();
	char buf[8192];

	snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nHost: test\r\n%s%s%s%s", method, path,
		 auth != NULL ? "Authorization: " : "", auth != NULL ? auth : "",
		 auth != NULL ? "\r\n" : "", extra != NULL ? extra : "");
	if (body != NULL)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
			 "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
	else
		strcat(buf, "\r\n");
	send_str(c->fd, buf);
	ck_assert_int_eq(client_read(c, strcmp(method, "HEAD") == 0, r, 5000), 0);
	client_free(c);
}

static void
get(const char *path, struct resp *r)
{
	req("GET", path, ADMIN, NULL, NULL, r);
}

/* --- fixture ---------------------------------------------------------------- */

static void
put_token(const char *name, const char *role, const char *secret)
{
	struct token t;
	unsigned int len;
	char *cause = NULL;

	memset(&t, 0, sizeof(t));
	snprintf(t.name, sizeof(t.name), "%s", name);
	snprintf(t.role, sizeof(t.role), "%s", role);
	ck_assert(EVP_Digest(secret, strlen(secret), t.hash, &len, EVP_sha256(), NULL) == 1);
	t.created_ms = time_now_ms();
	ck_assert_msg(store_token_put(st, &t, &cause) == 0, "%s", cause);
}

static uint64_t
put_job(enum job_type type, enum job_status status, int64_t created, int64_t start,
	int64_t end)
{
	struct job j;
	uint64_t no;
	char *cause = NULL;

	ck_assert_msg(store_job_alloc(st, &no, &cause) == 0, "%s", cause);
	job_init(&j);
	j.no = no;
	j.type = type;
	j.status = status;
	j.created_ms = created;
	j.start_ms = start;
	j.end_ms = end;
	if (start != JOB_NULL) {
		j.records_created = j.records_updated = j.records_deleted = 0;
	}
	ck_assert_msg(store_job_put(st, &j, true, &cause) == 0, "%s", cause);
	job_free(&j);
	return (no);
}

static void
setup(void)
{
	char conf[256], path[512], *cause = NULL, fds[] = "1";
	const char *bin = getenv("JOBSD_BIN_DIR");
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	int lfd, sp[2];
	FILE *f;
	struct resp r;
	int64_t deadline;

	ck_assert_msg(bin != NULL, "JOBSD_BIN_DIR is not set");
	snprintf(dir, sizeof(dir), "%s/t-XXXXXX", root);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/jobsd.conf", dir);
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	if (cfg_cancel_grace >= 0)
		fprintf(f, "cancel_grace = %d\n", cfg_cancel_grace);
	fprintf(f, "data_dir = %s/data\n[http]\nrequest_timeout = 1\nidle_timeout = %d\n"
		   "max_header_bytes = 2048\nmax_body_bytes = 1024\nmax_connections = %d\n",
		dir, cfg_idle_timeout, cfg_max_connections);
	fclose(f);
	snprintf(path, sizeof(path), "%s/data", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_msg(store_open(path, STORE_SUPERVISOR, &st, &cause) == 0, "%s", cause);
	put_token("admin", "Administrator", "admin-secret-token");
	put_token("reviewer", "Reviewer", "reviewer-secret-token");

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(lfd, 1024), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &slen), 0);
	port = ntohs(sin.sin_port);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	snprintf(path, sizeof(path), "%s/jobsd-http", bin);
	http_pid = fork();
	ck_assert_int_ge(http_pid, 0);
	if (http_pid == 0) {
		dup2(sp[1], 3);
		dup2(lfd, 4);
		setenv("JOBSD_HTTP_FDS", fds, 1);
		if (cfg_epoch.fd != -1)
			dup2(cfg_epoch.fd, 5);
		if (cfg_epoch_env != NULL)
			setenv("JOBSD_HTTP_EPOCH_FD", cfg_epoch_env, 1);
		if (cfg_sup_timeout != NULL)
			execl(path, "jobsd-http", "-c", conf, "--supervisor-timeout",
			      cfg_sup_timeout, (char *)NULL);
		else
			execl(path, "jobsd-http", "-c", conf, (char *)NULL);
		_exit(127);
	}
	close(sp[1]);
	close(lfd);
	sup = sp[0];
	ipc_reader_init(&sup_reader);
	hold_cancels = false;
	hold_submits = false;
	nheld_submits = 0;
	ignore_pings = false;
	pings = 0;
	nheld = 0;
	/* Ready when /healthz answers 200 (the store is open and we answered a PING). */
	deadline = mono_ms() + 10000;
	for (;;) {
		struct client *c;
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
		c = calloc(1, sizeof(*c));
		c->fd = fd;
		send_str(fd, "GET /healthz HTTP/1.1\r\n\r\n");
		if (client_read(c, false, &r, 2000) == 0 && r.status == 200) {
			resp_free(&r);
			client_free(c);
			break;
		}
		resp_free(&r);
		client_free(c);
		ck_assert_msg(mono_ms() < deadline, "jobsd-http did not become healthy");
	}
}

static void
teardown(void)
{
	int status;
	char cmd[256];

	if (http_pid > 0) {
		kill(http_pid, SIGTERM);
		waitpid(http_pid, &status, 0);
		http_pid = -1;
	}
	if (sup != -1)
		close(sup);
	sup = -1;
	ipc_reader_destroy(&sup_reader);
	if (st != NULL)
		store_close(st);
	st = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* --- tests --------------------------------------------------------------------- */

static bool
prefix(const char *s, const char *p)
{
	return (strncmp(s, p, strlen(p)) == 0);
}

/* The seed's own examples, byte for byte. */
START_TEST(test_seed_examples)
{
	struct job j;
	char *cause = NULL;
	struct resp r;
	uint64_t no;

	/* job-1: the seed's completed full_sync. */
	ck_assert_int_eq(store_job_alloc(st, &no, &cause), 0);
	ck_assert_int_eq((int)no, 1);
	job_init(&j);
	j.no = 1;
	j.type = JOB_FULL_SYNC;
	j.status = JOB_COMPLETED;
	j.created_ms = T0 - 1000;
	j.start_ms = T0;
	j.end_ms = T0 + 900000;
	j.progress = 100;
	j.records_created = 150;
	j.records_updated = 45;
	j.records_deleted = 10;
	j.records_processed = 205;
	j.total_records = 205;
	ck_assert_int_eq(store_job_put(st, &j, true, &cause), 0);
	job_free(&j);
	/* job-2: the seed's running account_sync. */
	ck_assert_int_eq(store_job_alloc(st, &no, &cause), 0);
	job_init(&j);
	j.no = 2;
	j.type = JOB_ACCOUNT_SYNC;
	j.status = JOB_RUNNING;
	j.created_ms = T0 - 500;
	j.start_ms = T0;
	j.progress = 45;
	j.records_created = j.records_updated = j.records_deleted = 0;
	snprintf(j.current_step, sizeof(j.current_step), "Processing accounts");
	j.records_processed = 650;
	j.total_records = 1000;
	ck_assert_int_eq(store_job_put(st, &j, true, &cause), 0);
	job_free(&j);

	get("/api/v1/jobs/running", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "{\"jobs\":[{\"id\":\"job-2\",\"job_type\":\"account_sync\","
				 "\"status\":\"running\",\"progress\":45,"
				 "\"start_time\":\"2024-02-01T10:00:00Z\"}]}");
	ck_assert_ptr_nonnull(strstr(r.head, "\r\nContent-Type: application/json; charset=utf-8"));
	resp_free(&r);

	get("/api/v1/jobs?status=completed", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(prefix(r.body, "{\"jobs\":[{\"id\":\"job-1\",\"job_type\":\"full_sync\","
				      "\"status\":\"completed\",\"progress\":100,"
				      "\"start_time\":\"2024-02-01T10:00:00Z\","
				      "\"end_time\":\"2024-02-01T10:15:00Z\",\"duration_ms\":900000,"
				      "\"records_created\":150,\"records_updated\":45,"
				      "\"records_deleted\":10}],\"pageInfo\":{\"hasNextPage\":false,"
				      "\"endCursor\":\""), "%s", r.body);
	resp_free(&r);

	get("/api/v1/jobs/job-2/progress", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(prefix(r.body, "{\"id\":\"job-2\",\"status\":\"running\",\"progress\":45,"
				      "\"current_step\":\"Processing accounts\","
				      "\"records_processed\":650,\"total_records\":1000,"
				      "\"elapsed_ms\":"), "%s", r.body);
	resp_free(&r);

	get("/api/v1/jobs/job-1", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"created_time\":\"2024-02-01T09:59:59Z\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"error\":null"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"parameters\":{}"));
	resp_free(&r);

	/* Newest first. */
	get("/api/v1/jobs", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(strstr(r.body, "job-2") < strstr(r.body, "job-1"));
	resp_free(&r);
}
END_TEST

static void
expect_error(const char *method, const char *path, const char *auth, const char *extra,
	     const char *body, int status, const char *want_body)
{
	struct resp r;

	req(method, path, auth, extra, body, &r);
	ck_assert_msg(r.status == status, "%s %s: %d %s", method, path, r.status, r.body);
	if (want_body != NULL)
		ck_assert_msg(strcmp(r.body, want_body) == 0, "%s %s: %s", method, path, r.body);
	resp_free(&r);
}

START_TEST(test_auth_and_errors)
{
	struct resp r;
	char h[128];

	put_job(JOB_FULL_SYNC, JOB_COMPLETED, T0, T0, T0 + 1000);
	req("GET", "/api/v1/jobs", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 401);
	ck_assert_str_eq(header_in(r.head, "WWW-Authenticate", h, sizeof(h)),
			 "Bearer realm=\"jobsd\"");
	resp_free(&r);
	expect_error("GET", "/api/v1/jobs", "Bearer wrong", NULL, NULL, 401, NULL);
	expect_error("GET", "/api/v1/jobs", "Basic YWRtaW46eA==", NULL, NULL, 401, NULL);
	expect_error("GET", "/api/v1/jobs/job-1", REVIEWER, NULL, NULL, 403,
		     "{\"error\":{\"status\":403,\"code\":\"permission_denied\",\"message\":"
		     "\"this endpoint requires the Administrator role\"}}");
	expect_error("GET", "/metrics", NULL, NULL, NULL, 401, NULL);
	expect_error("GET", "/nope", ADMIN, NULL, NULL, 404, NULL);
	expect_error("GET", "/api/v1/jobs/job-9", ADMIN, NULL, NULL, 404,
		     "{\"error\":{\"status\":404,\"code\":\"not_found\",\"message\":"
		     "\"job job-9 not found\"}}");
	expect_error("GET", "/api/v1/jobs/job-01", ADMIN, NULL, NULL, 404, NULL);
	expect_error("GET", "/api/v1/jobs/job-9/progress", ADMIN, NULL, NULL, 404, NULL);
	expect_error("DELETE", "/api/v1/jobs/job-9", ADMIN, NULL, NULL, 404, NULL);
	expect_error("DELETE", "/api/v1/jobs/job-1", ADMIN, NULL, NULL, 409, NULL);

	req("PUT", "/api/v1/jobs", ADMIN, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 405);
	ck_assert_str_eq(header_in(r.head, "Allow", h, sizeof(h)), "GET, HEAD, POST");
	resp_free(&r);

	expect_error("GET", "/api/v1/jobs?status=finished", ADMIN, NULL, NULL, 400,
		     "{\"error\":{\"status\":400,\"code\":\"invalid_parameter\",\"message\":"
		     "\"status must be one of pending, running, completed, failed, cancelled\","
		     "\"parameter\":\"status\"}}");
	expect_error("GET", "/api/v1/jobs?sort=asc", ADMIN, NULL, NULL, 400,
		     "{\"error\":{\"status\":400,\"code\":\"unknown_parameter\",\"message\":"
		     "\"unknown parameter 'sort'\",\"parameter\":\"sort\"}}");
	expect_error("GET", "/api/v1/jobs?first=2&first=3", ADMIN, NULL, NULL, 400,
		     "{\"error\":{\"status\":400,\"code\":\"invalid_parameter\",\"message\":"
		     "\"parameter 'first' given more than once\",\"parameter\":\"first\"}}");
	expect_error("GET", "/api/v1/jobs?after=bm9wZQ", ADMIN, NULL, NULL, 400, NULL);
	expect_error("GET", "/api/v1/jobs/running?x=1", ADMIN, NULL, NULL, 400, NULL);
	expect_error("GET", "/api/v1/jobs?start_date=2024-13-01", ADMIN, NULL, NULL, 400, NULL);

	expect_error("POST", "/api/v1/jobs", ADMIN, NULL, "{\"job_type\":\"full_sync\"}", 415,
		     NULL);
	expect_error("POST", "/api/v1/jobs", ADMIN, "Content-Type: text/plain\r\n",
		     "{\"job_type\":\"full_sync\"}", 415, NULL);
	expect_error("POST", "/api/v1/jobs", ADMIN, "Content-Type: application/json\r\n",
		     "{\"job_type\":", 400, NULL);
	expect_error("POST", "/api/v1/jobs", ADMIN, "Content-Type: application/json\r\n",
		     "{\"job_type\":\"bogus\"}", 400,
		     "{\"error\":{\"status\":400,\"code\":\"invalid_parameter\",\"message\":"
		     "\"job_type must be one of the job types\",\"parameter\":\"job_type\"}}");
	expect_error("POST", "/api/v1/jobs", ADMIN, "Content-Type: application/json\r\n",
		     "{\"job_type\":\"full_sync\",\"when\":\"now\"}", 400, NULL);
	expect_error("POST", "/api/v1/jobs", ADMIN, "Content-Type: application/json\r\n",
		     "{\"job_type\":\"full_sync\",\"parameters\":\"x\"}", 400, NULL);

	/* No auth on /healthz and the OpenAPI document. */
	req("GET", "/healthz", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
	resp_free(&r);
	req("GET", "/api/v1/openapi.json", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert(strncmp(r.body, "{", 1) == 0);
	resp_free(&r);

	req("GET", "/metrics", ADMIN, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body,
				     "\njobsd_jobs{status=\"completed\",job_type=\"full_sync\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(r.body, "\njobsd_http_requests_total{code=\"401\"} "));
	ck_assert_ptr_nonnull(strstr(r.body, "\njobsd_queue_length 0\n"));
	resp_free(&r);
}
END_TEST

START_TEST(test_submit_and_cancel)
{
	struct resp r;
	char loc[128], path[128];
	uint64_t run;

	req("POST", "/api/v1/jobs", ADMIN, "Content-Type: application/json; charset=utf-8\r\n",
	    "{\"job_type\":\"owner_sync\",\"parameters\":{\"source\":\"hr\",\"limit\":5,"
	    "\"dry\":true}}", &r);
	ck_assert_msg(r.status == 201, "%d %s", r.status, r.body);
	ck_assert_str_eq(header_in(r.head, "Location", loc, sizeof(loc)), "/api/v1/jobs/job-1");
	ck_assert_ptr_nonnull(strstr(r.body, "\"id\":\"job-1\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"status\":\"pending\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"start_time\":null"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"requested_by\":\"admin\""));
	ck_assert_ptr_nonnull(
	    strstr(r.body, "\"parameters\":{\"source\":\"hr\",\"limit\":\"5\",\"dry\":\"true\"}"));
	resp_free(&r);

	req("DELETE", "/api/v1/jobs/job-1", ADMIN, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 204);
	ck_assert_str_eq(r.body, "");
	resp_free(&r);
	get("/api/v1/jobs/job-1", &r);
	ck_assert_ptr_nonnull(strstr(r.body, "\"status\":\"cancelled\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"cancelled_by\":\"admin\""));
	resp_free(&r);
	expect_error("DELETE", "/api/v1/jobs/job-1", ADMIN, NULL, NULL, 409, NULL);

	/* Expect: 100-continue: the interim response, then the answer. */
	{
		struct client *c = client_new();
		const char *body = "{\"job_type\":\"enrichment\"}";
		char hdr[512];

		snprintf(hdr, sizeof(hdr),
			 "POST /api/v1/jobs HTTP/1.1\r\nAuthorization: " ADMIN "\r\n"
			 "Content-Type: application/json\r\nExpect: 100-continue\r\n"
			 "Content-Length: %zu\r\n\r\n", strlen(body));
		send_str(c->fd, hdr);
		ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
		ck_assert_int_eq(r.status, 100);
		ck_assert_str_eq(r.head, "HTTP/1.1 100 Continue\r\n");
		resp_free(&r);
		send_str(c->fd, body);
		ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
		ck_assert_int_eq(r.status, 201);
		ck_assert_str_eq(header_in(r.head, "Location", loc, sizeof(loc)),
				 "/api/v1/jobs/job-2");
		resp_free(&r);
		client_free(c);
	}

	/* A request that will be refused is refused before its body is invited (no 100
	 * Continue), and the connection closes (the body is not read). */
	{
		static const struct {
			const char *line, *auth, *ctype;
			int status;
		} early[] = {
		    {"POST /api/v1/jobs", NULL, "application/json", 401},
		    {"POST /api/v1/jobs", "Authorization: Bearer wrong\r\n", "application/json",
		     401},
		    {"POST /api/v1/jobs", "Authorization: " REVIEWER "\r\n", "application/json",
		     403},
		    {"POST /api/v1/jobs", "Authorization: " ADMIN "\r\n", "text/plain", 415},
		    {"PUT /api/v1/jobs", "Authorization: " ADMIN "\r\n", "application/json", 405},
		    {"POST /api/v1/nothing", "Authorization: " ADMIN "\r\n", "application/json",
		     404},
		};
		char hdr[512];
		size_t i;

		for (i = 0; i < sizeof(early) / sizeof(early[0]); i++) {
			struct client *c = client_new();

			snprintf(hdr, sizeof(hdr),
				 "%s HTTP/1.1\r\n%sContent-Type: %s\r\nExpect: 100-continue\r\n"
				 "Content-Length: 26\r\n\r\n", early[i].line,
				 early[i].auth != NULL ? early[i].auth : "", early[i].ctype);
			send_str(c->fd, hdr);
			ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
			ck_assert_msg(r.status == early[i].status, "%s: %d", early[i].line,
				      r.status);
			ck_assert_ptr_nonnull(strstr(r.head, "\r\nConnection: close\r\n"));
			resp_free(&r);
			ck_assert(client_eof(c, 3000));
			client_free(c);
		}
	}

	run = put_job(JOB_ROLE_GENERATION, JOB_RUNNING, T0, T0, JOB_NULL);
	snprintf(path, sizeof(path), "/api/v1/jobs/job-%llu", (unsigned long long)run);
	req("DELETE", path, ADMIN, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 204);
	resp_free(&r);
}
END_TEST

/* Keep-alive, pipelining with a DELETE held by the supervisor, HEAD, HTTP/1.0. */
START_TEST(test_connection_semantics)
{
	struct client *c;
	struct resp r, g;
	char cl[32];
	uint64_t no;

	no = put_job(JOB_ENRICHMENT, JOB_PENDING, T0, JOB_NULL, JOB_NULL);
	ck_assert_int_eq((int)no, 1);
	get("/api/v1/jobs/job-1", &g);

	/* HEAD: the GET's headers and length, no body. */
	c = client_new();
	send_str(c->fd, "HEAD /api/v1/jobs/job-1 HTTP/1.1\r\nAuthorization: " ADMIN "\r\n\r\n"
			"GET /api/v1/jobs/job-1 HTTP/1.1\r\nAuthorization: " ADMIN "\r\n\r\n");
	ck_assert_int_eq(client_read(c, true, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	snprintf(cl, sizeof(cl), "%zu", g.body_len);
	{
		char h[32];
		ck_assert_str_eq(header_in(r.head, "Content-Length", h, sizeof(h)), cl);
	}
	resp_free(&r);
	/* The next response follows immediately: the HEAD sent no body bytes. */
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, g.body);
	resp_free(&r);
	resp_free(&g);

	/* Pipelining: GET, DELETE (held), GET: answers stay in order. */
	hold_cancels = true;
	send_str(c->fd, "GET /api/v1/jobs/job-1 HTTP/1.1\r\nAuthorization: " ADMIN "\r\n\r\n"
			"DELETE /api/v1/jobs/job-1 HTTP/1.1\r\nAuthorization: " ADMIN "\r\n\r\n"
			"GET /api/v1/jobs/job-1/progress HTTP/1.1\r\nAuthorization: " ADMIN
			"\r\n\r\n");
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"status\":\"pending\""));
	resp_free(&r);
	/* Nothing more until the supervisor answers the cancel. */
	ck_assert_int_eq(client_read(c, false, &r, 300), -1);
	ck_assert_int_eq((int)nheld, 1);
	/* Meanwhile other connections are served. */
	get("/api/v1/jobs/running", &r);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	release_cancels();
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 204);
	resp_free(&r);
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	/* Read after the cancel was answered: the job is cancelled. */
	ck_assert_ptr_nonnull(strstr(r.body, "\"status\":\"cancelled\""));
	resp_free(&r);
	hold_cancels = false;
	client_free(c);

	/* HTTP/1.0: closed after the response unless keep-alive was asked for. */
	c = client_new();
	send_str(c->fd, "GET /healthz HTTP/1.0\r\n\r\n");
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.head, "\r\nConnection: close\r\n"));
	resp_free(&r);
	ck_assert(client_eof(c, 3000));
	client_free(c);
	c = client_new();
	send_str(c->fd, "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	ck_assert_ptr_nonnull(strstr(r.head, "\r\nConnection: keep-alive\r\n"));
	resp_free(&r);
	send_str(c->fd, "GET /healthz HTTP/1.0\r\n\r\n");
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	ck_assert(client_eof(c, 3000));
	client_free(c);

	/* HTTP/1.1 Connection: close. */
	c = client_new();
	send_str(c->fd, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	ck_assert_ptr_nonnull(strstr(r.head, "\r\nConnection: close\r\n"));
	resp_free(&r);
	ck_assert(client_eof(c, 3000));
	client_free(c);
}
END_TEST

START_TEST(test_limits_and_garbage)
{
	struct client *c;
	struct resp r;
	char big[4096];

	/* 431: headers over 2048 bytes. */
	c = client_new();
	memset(big, 'a', 3000);
	big[3000] = '\0';
	send_str(c->fd, "GET /healthz HTTP/1.1\r\nX-Big: ");
	send_str(c->fd, big);
	send_str(c->fd, "\r\n\r\n");
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 431);
	ck_assert_ptr_nonnull(strstr(r.head, "\r\nConnection: close\r\n"));
	resp_free(&r);
	ck_assert(client_eof(c, 3000));
	client_free(c);

	/* 413: a declared body over 1024 bytes is refused before it is sent. */
	c = client_new();
	send_str(c->fd, "POST /api/v1/jobs HTTP/1.1\r\nAuthorization: " ADMIN "\r\n"
			"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n");
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 413);
	resp_free(&r);
	ck_assert(client_eof(c, 3000));
	client_free(c);

	/* Garbage. */
	c = client_new();
	send_str(c->fd, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n");
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 400);
	resp_free(&r);
	ck_assert(client_eof(c, 3000));
	client_free(c);

	/* The server is fine afterwards. */
	req("GET", "/healthz", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
}
END_TEST

/* A byte-at-a-time client beside a normal one; a stalled request gets 408. */
START_TEST(test_slow_clients)
{
	static const char slow_req[] = "GET /healthz HTTP/1.1\r\nHost: slow\r\n\r\n";
	struct client *slow, *stall;
	struct resp r;
	size_t i;
	int64_t t0, worst = 0;

	slow = client_new();
	stall = client_new();
	send_str(stall->fd, "GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\n");
	for (i = 0; i < sizeof(slow_req) - 1; i++) {
		ck_assert_int_eq(write(slow->fd, slow_req + i, 1), 1);
		/* A normal client is answered at once meanwhile. */
		t0 = mono_ms();
		req("GET", "/healthz", NULL, NULL, NULL, &r);
		ck_assert_int_eq(r.status, 200);
		resp_free(&r);
		if (mono_ms() - t0 > worst)
			worst = mono_ms() - t0;
		if (mono_ms() - t0 < 10)
			usleep(10000); /* pace the slow client: 37 bytes in ~0.4 s */
	}
	ck_assert_msg(worst < 500, "a normal request took %lld ms", (long long)worst);
	ck_assert_int_eq(client_read(slow, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);

	/* The stalled request (headers never finished) times out: 408 and close. */
	t0 = mono_ms();
	ck_assert_int_eq(client_read(stall, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 408);
	ck_assert_ptr_nonnull(strstr(r.head, "\r\nConnection: close\r\n"));
	resp_free(&r);
	ck_assert(client_eof(stall, 3000));
	client_free(stall);
	client_free(slow);
}
END_TEST

/* Pagination over ~200 jobs while jobs are added between pages. */
START_TEST(test_pagination)
{
	static bool seen[400];
	struct resp r;
	char path[256], cursor[128];
	const char *p, *e;
	unsigned long no, last = 0;
	int i, pages = 0, total = 0;

	for (i = 0; i < 200; i++)
		put_job(i % 2 ? JOB_OWNER_SYNC : JOB_GROUP_SYNC, JOB_COMPLETED, T0 + i * 1000,
			T0 + i * 1000, T0 + i * 1000 + 500);
	cursor[0] = '\0';
	for (;;) {
		if (cursor[0] == '\0')
			snprintf(path, sizeof(path), "/api/v1/jobs?first=30");
		else
			snprintf(path, sizeof(path), "/api/v1/jobs?first=30&after=%s", cursor);
		get(path, &r);
		ck_assert_msg(r.status == 200, "%s: %s", path, r.body);
		pages++;
		for (p = r.body; (p = strstr(p, "{\"id\":\"job-")) != NULL; p++) {
			no = strtoul(p + 11, NULL, 10);
			ck_assert(no > 0 && no < 400);
			ck_assert_msg(!seen[no], "job-%lu twice", no);
			if (no <= 200) {
				/* Original jobs come newest first. */
				ck_assert(last == 0 || no < last);
				last = no;
			}
			seen[no] = true;
			total++;
		}
		/* New jobs arrive between pages; they do not disturb the walk. */
		put_job(JOB_FULL_SYNC, JOB_PENDING, T0 + 10000000, JOB_NULL, JOB_NULL);
		if (strstr(r.body, "\"hasNextPage\":false") != NULL) {
			resp_free(&r);
			break;
		}
		p = strstr(r.body, "\"endCursor\":\"");
		ck_assert_ptr_nonnull(p);
		p += 13;
		e = strchr(p, '"');
		snprintf(cursor, sizeof(cursor), "%.*s", (int)(e - p), p);
		resp_free(&r);
		ck_assert_int_lt(pages, 20);
	}
	for (i = 1; i <= 200; i++)
		ck_assert_msg(seen[i], "job-%d never listed", i);
	ck_assert_int_eq(pages, 7); /* 200 / 30 rounded up */
	ck_assert_int_eq(total, 200);

	/* A cursor is bound to its filters. */
	get("/api/v1/jobs?first=2&job_type=owner_sync", &r);
	p = strstr(r.body, "\"endCursor\":\"") + 13;
	e = strchr(p, '"');
	snprintf(path, sizeof(path), "/api/v1/jobs?first=2&job_type=group_sync&after=%.*s",
		 (int)(e - p), p);
	resp_free(&r);
	get(path, &r);
	ck_assert_int_eq(r.status, 400);
	resp_free(&r);
}
END_TEST

/* Filters and their combinations, against hand-counted expectations. */
START_TEST(test_filters)
{
	struct resp r;
	int i, n;
	const char *p;

	/* job-1..4 full_sync completed, started 2024-02-01 00:00 + i h (i = 0..3);
	 * job-5..6 owner_sync failed started 2024-02-02 12:00;
	 * job-7 owner_sync pending (never started); job-8 full_sync running 2024-02-03;
	 * job-9 group_sync cancelled, started 2024-02-01T03:32:11.400Z (shown as
	 * "03:32:11Z": an end_date of that second includes it). */
	for (i = 0; i < 4; i++)
		put_job(JOB_FULL_SYNC, JOB_COMPLETED, T0, 1706745600000LL + i * 3600000LL,
			1706745600000LL + i * 3600000LL + 1000);
	for (i = 0; i < 2; i++)
		put_job(JOB_OWNER_SYNC, JOB_FAILED, T0, 1706875200000LL, 1706875200000LL + 10);
	put_job(JOB_OWNER_SYNC, JOB_PENDING, T0, JOB_NULL, JOB_NULL);
	put_job(JOB_FULL_SYNC, JOB_RUNNING, T0, 1706918400000LL, JOB_NULL);
	put_job(JOB_GROUP_SYNC, JOB_CANCELLED, T0, 1706758331400LL, 1706758331500LL);

	static const struct {
		const char *q;
		int n;
	} cases[] = {
	    {"", 9},
	    {"job_type=full_sync", 5},
	    {"job_type=owner_sync", 3},
	    {"status=completed", 4},
	    {"status=pending", 1},
	    {"job_type=owner_sync&status=failed", 2},
	    {"job_type=full_sync&status=failed", 0},
	    {"start_date=2024-02-01&end_date=2024-02-01", 5},
	    {"start_date=2024-02-01T01:00:00Z&end_date=2024-02-01T02:00:00Z", 2},
	    {"start_date=2024-02-01T02:00:00%2B01:00", 7}, /* = 01:00Z: 4 on Feb 1, 3 later */
	    {"start_date=2024-02-01T02:00:00+01:00", 7},   /* a raw '+' in the offset */
	    {"start_date=2024-02-02", 3},
	    {"end_date=2024-02-02", 7},
	    /* end_date includes everything shown as its second / minute */
	    {"end_date=2024-02-01T03:32:11Z", 5},
	    {"end_date=2024-02-01T03:32:10Z", 4},
	    {"end_date=2024-02-01T03:32Z", 5},
	    {"end_date=2024-02-01T05:32:11+02:00", 5},
	    {"end_date=2024-02-01T05:32:10%2B02:00", 4},
	    {"start_date=2024-02-01T03:32:11Z&end_date=2024-02-01T03:32:11Z", 1},
	    {"start_date=2024-02-01T03:32:11.401Z&end_date=2024-02-01T03:32:12Z", 0},
	    {"end_date=2024-02-01T03:32:11.3Z", 4}, /* up to 11.399 */
	    {"status=running&start_date=2024-02-03", 1},
	    {"job_type=owner_sync&start_date=2024-02-01", 2},
	    {"first=3", 3},
	};
	for (i = 0; i < (int)(sizeof(cases) / sizeof(cases[0])); i++) {
		char path[256];

		snprintf(path, sizeof(path), "/api/v1/jobs?%s", cases[i].q);
		get(path, &r);
		ck_assert_msg(r.status == 200, "%s: %s", path, r.body);
		for (n = 0, p = r.body; (p = strstr(p, "{\"id\":")) != NULL; p++)
			n++;
		ck_assert_msg(n == cases[i].n, "%s: %d jobs: %s", path, n, r.body);
		resp_free(&r);
	}
}
END_TEST

/* 500 connections at once, each answered. */
START_TEST(test_many_connections)
{
	enum { N = 500 };
	static struct client *cs[N];
	struct resp r;
	int i;

	for (i = 0; i < N; i++) {
		cs[i] = client_new();
		send_str(cs[i]->fd, "GET /api/v1/jobs/running HTTP/1.1\r\nAuthorization: " ADMIN
				    "\r\n\r\n");
	}
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(client_read(cs[i], false, &r, 10000), 0);
		ck_assert_int_eq(r.status, 200);
		ck_assert_str_eq(r.body, "{\"jobs\":[]}");
		resp_free(&r);
		client_free(cs[i]);
	}
}
END_TEST

/* Without the supervisor: /healthz and submit answer 503, reads go on. */
START_TEST(test_supervisor_gone)
{
	struct resp r;
	int status;

	req("GET", "/healthz", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	close(sup);
	sup = -1;
	/* jobsd-http started by the supervisor exits when the link closes. */
	ck_assert_int_eq(waitpid(http_pid, &status, 0), http_pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	http_pid = -1;
}
END_TEST

/* The supervisor SIGTERMs a listener it replaces, and once more when that listener's link
 * closes (it closes while the listener shuts down, before the store is closed): the second
 * SIGTERM must not kill the listener half way through closing the store. */
START_TEST(test_sigterm_twice)
{
	struct pollfd pfd;
	char buf[256];
	ssize_t n = -1;
	int status;

	ck_assert_int_eq(kill(http_pid, SIGTERM), 0);
	pfd.fd = sup;
	pfd.events = POLLIN;
	for (;;) {
		ck_assert_msg(poll(&pfd, 1, 10000) == 1, "the link did not close");
		if ((n = read(sup, buf, sizeof(buf))) <= 0)
			break;
	}
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(kill(http_pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(http_pid, &status, 0), http_pid);
	http_pid = -1;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "jobsd-http ended with wait status %#x", status);
}
END_TEST

/* /healthz gives the supervisor about a second to answer a PING. */
START_TEST(test_healthz_timeout)
{
	struct resp r;
	int64_t t0;

	ignore_pings = true;
	t0 = mono_ms();
	req("GET", "/healthz", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(r.body, "{\"status\":\"unavailable\"}");
	resp_free(&r);
	ck_assert_msg(mono_ms() - t0 >= 900 && mono_ms() - t0 < 3000, "%lld ms",
		      (long long)(mono_ms() - t0));
	/* A late PONG for the abandoned request is ignored; the next one works. */
	ignore_pings = false;
	req("GET", "/healthz", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
}
END_TEST

/* Standalone (--listen, no --ipc-fd): reads work, submit/cancel/healthz answer 503. */
START_TEST(test_standalone)
{
	char conf[256], pf[256], path[256];
	const char *bin = getenv("JOBSD_BIN_DIR");
	int64_t deadline = mono_ms() + 10000;
	struct resp r;
	FILE *f;
	pid_t pid;
	int status, saved = port, pings_before = pings;

	put_job(JOB_FULL_SYNC, JOB_PENDING, T0, JOB_NULL, JOB_NULL);
	snprintf(conf, sizeof(conf), "%s/jobsd.conf", dir);
	snprintf(pf, sizeof(pf), "%s/port", dir);
	snprintf(path, sizeof(path), "%s/jobsd-http", bin);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		unsetenv("JOBSD_HTTP_FDS");
		execl(path, "jobsd-http", "-c", conf, "--listen", "127.0.0.1:0", "--port-file", pf,
		      (char *)NULL);
		_exit(127);
	}
	while ((f = fopen(pf, "r")) == NULL) {
		ck_assert_msg(mono_ms() < deadline, "no port file");
		usleep(10000);
	}
	ck_assert_int_eq(fscanf(f, "%d", &port), 1);
	fclose(f);
	ck_assert_int_gt(port, 0);
	ck_assert_int_ne(port, saved);

	get("/api/v1/jobs/job-1", &r);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	req("GET", "/healthz", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 503);
	resp_free(&r);
	req("POST", "/api/v1/jobs", ADMIN, "Content-Type: application/json\r\n",
	    "{\"job_type\":\"full_sync\"}", &r);
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(r.body, "{\"error\":{\"status\":503,\"code\":\"unavailable\","
				 "\"message\":\"the supervisor is not available\"}}");
	resp_free(&r);
	req("DELETE", "/api/v1/jobs/job-1", ADMIN, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 503);
	resp_free(&r);
	ck_assert_int_eq(pings, pings_before); /* nothing reached our supervisor link */

	port = saved;
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

/* In the runner process: a root for every test's dir, removed even when a test fails
 * (a failed test skips its checked teardown; its jobsd-http exits when the supervisor
 * link, our end of which died with the test process, closes). */
static void
suite_setup(void)
{
	snprintf(root, sizeof(root), "/tmp/jobsd-http-XXXXXX");
	if (mkdtemp(root) == NULL)
		ck_abort_msg("mkdtemp: %s", strerror(errno));
}

static void
suite_teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
}

/* The default limits, with whatever token epoch cfg_epoch_env names. */
static void
default_setup(void)
{
	cfg_max_connections = 700;
	cfg_idle_timeout = 3;
	cfg_sup_timeout = NULL;
	cfg_cancel_grace = -1;
	setup();
}

static void
no_sup_setup(void)
{
	cfg_epoch_env = NULL;
	default_setup();
}

static void
small_setup(void)
{
	cfg_max_connections = 4;
	cfg_idle_timeout = 1;
	cfg_sup_timeout = NULL;
	cfg_cancel_grace = -1;
	cfg_epoch_env = NULL;
	setup();
}

/* The supervisor's deadlines shortened: 1 s for a submit, cancel_grace 1 s + 1 s for a
 * cancel. */
static void
deadline_setup(void)
{
	cfg_max_connections = 700;
	cfg_idle_timeout = 10;
	cfg_sup_timeout = "1";
	cfg_cancel_grace = 1;
	cfg_epoch_env = NULL;
	setup();
}

/* A DELETE or POST the supervisor never answers gets a 503 at its deadline; the late
 * reply is dropped and the connection goes on in order. */
START_TEST(test_supervisor_deadline)
{
	static const char unavailable[] =
	    "{\"error\":{\"status\":503,\"code\":\"unavailable\","
	    "\"message\":\"the supervisor is not available\"}}";
	struct client *c = client_new();
	struct resp r;
	int64_t t0, dt;

	put_job(JOB_FULL_SYNC, JOB_PENDING, T0, JOB_NULL, JOB_NULL);
	hold_cancels = true;
	t0 = mono_ms();
	send_str(c->fd, "DELETE /api/v1/jobs/job-1 HTTP/1.1\r\nAuthorization: " ADMIN "\r\n\r\n"
			"GET /api/v1/jobs/running HTTP/1.1\r\nAuthorization: " ADMIN "\r\n\r\n");
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	dt = mono_ms() - t0;
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(r.body, unavailable);
	resp_free(&r);
	ck_assert_msg(dt >= 1900 && dt < 3500, "cancel deadline after %lld ms", (long long)dt);
	ck_assert_int_eq((int)nheld, 1);
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "{\"jobs\":[]}");
	resp_free(&r);
	/* The late answer goes nowhere. */
	release_cancels();
	hold_cancels = false;
	send_str(c->fd, "GET /healthz HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
	resp_free(&r);

	hold_submits = true;
	held_submit = 0;
	t0 = mono_ms();
	send_str(c->fd, "POST /api/v1/jobs HTTP/1.1\r\nAuthorization: " ADMIN "\r\n"
			"Content-Type: application/json\r\nContent-Length: 24\r\n\r\n"
			"{\"job_type\":\"full_sync\"}");
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	dt = mono_ms() - t0;
	ck_assert_int_eq(r.status, 503);
	ck_assert_str_eq(r.body, unavailable);
	resp_free(&r);
	ck_assert_msg(dt >= 900 && dt < 2500, "submit deadline after %lld ms", (long long)dt);
	ck_assert_uint_ne(held_submit, 0);
	sup_fail(held_submit, 409, "conflict", "late");
	hold_submits = false;
	send_str(c->fd, "GET /healthz HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	ck_assert(!client_eof(c, 200)); /* still open */
	client_free(c);
}
END_TEST

/* Serve the supervisor link until *count (nheld, nheld_submits) reaches n (bounded). */
static void
wait_count(const size_t *count, size_t n, const char *what)
{
	int64_t deadline = mono_ms() + 5000;
	struct pollfd pfd;

	while (*count < n) {
		ck_assert_msg(mono_ms() < deadline, "%zu of %zu %s arrived", *count, n, what);
		pfd.fd = sup;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 100) > 0)
			sup_service();
	}
}

static void
wait_held(size_t n)
{
	wait_count(&nheld, n, "cancels");
}

#define SUBMIT_REQ(len)                                                                            \
	"POST /api/v1/jobs HTTP/1.1\r\nAuthorization: " ADMIN "\r\n"                               \
	"Content-Type: application/json\r\nContent-Length: " len "\r\n\r\n"

/* Pipelined submits reach the supervisor together, before the first is answered (one
 * flush then makes them all durable); a GET pipelined after them is evaluated only once
 * they are answered, and the answers keep the order of the requests. */
START_TEST(test_pipelined_submits)
{
	static const char *const types[] = {"owner_sync", "account_sync", "group_sync"};
	struct client *c;
	struct resp r;
	char want[64];
	size_t i;

	c = client_new();
	hold_submits = true;
	nheld_submits = 0;
	send_str(c->fd, SUBMIT_REQ("25") "{\"job_type\":\"owner_sync\"}"
			SUBMIT_REQ("27") "{\"job_type\":\"account_sync\"}"
			SUBMIT_REQ("25") "{\"job_type\":\"group_sync\"}"
			"GET /api/v1/jobs?status=pending HTTP/1.1\r\nAuthorization: " ADMIN "\r\n\r\n");
	wait_count(&nheld_submits, 3, "submits");
	for (i = 0; i < 3; i++)
		ck_assert_str_eq(held_sub_type[i], types[i]);
	/* None is answered, so nothing is written, the GET's answer included. */
	ck_assert_int_eq(client_read(c, false, &r, 300), -1);
	hold_submits = false;
	release_submits();
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
		ck_assert_int_eq(r.status, 201);
		snprintf(want, sizeof(want), "\"id\":\"job-%zu\"", i + 1);
		ck_assert_msg(strstr(r.body, want) != NULL, "answer %zu: %s", i + 1, r.body);
		snprintf(want, sizeof(want), "\"job_type\":\"%s\"", types[i]);
		ck_assert_msg(strstr(r.body, want) != NULL, "answer %zu: %s", i + 1, r.body);
		resp_free(&r);
	}
	/* The GET was read after the three jobs were stored: it lists them, newest first. */
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strstr(r.body, "\"jobs\":[{\"id\":\"job-3\"") != NULL, "%s", r.body);
	ck_assert_ptr_nonnull(strstr(r.body, "\"id\":\"job-2\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"id\":\"job-1\""));
	resp_free(&r);
	client_free(c);
}
END_TEST

/* At max_connections the oldest idle keep-alive connection is closed to admit a new one;
 * with none idle the listener stops accepting until one is. Idle keep-alive connections
 * are closed after idle_timeout. */
START_TEST(test_connection_limit_and_idle)
{
	struct client *cs[4], *extra, *extra2;
	struct resp r;
	int i;
	int64_t t0;

	/* setup's probe connections are gone once they time out or close; wait for
	 * them by filling all four slots with answered keep-alive connections. */
	for (i = 0; i < 4; i++) {
		cs[i] = client_new();
		send_str(cs[i]->fd, "GET /healthz HTTP/1.1\r\n\r\n");
		ck_assert_int_eq(client_read(cs[i], false, &r, 5000), 0);
		ck_assert_int_eq(r.status, 200);
		resp_free(&r);
	}
	/* cs[1..3] busy (a DELETE of job-i held by the supervisor); cs[0] idle. */
	for (i = 1; i <= 4; i++)
		put_job(JOB_FULL_SYNC, JOB_PENDING, T0, JOB_NULL, JOB_NULL);
	hold_cancels = true;
	for (i = 1; i < 4; i++) {
		char line[256];

		snprintf(line, sizeof(line), "DELETE /api/v1/jobs/job-%d HTTP/1.1\r\n"
					     "Authorization: " ADMIN "\r\n\r\n", i);
		send_str(cs[i]->fd, line);
	}
	wait_held(3);
	/* A fifth client is admitted in place of the idle cs[0]. */
	extra = client_new();
	send_str(extra->fd, "GET /healthz HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(client_read(extra, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	ck_assert(client_eof(cs[0], 3000));
	/* Now nothing is idle: a sixth waits (the kernel completes the handshake only). */
	send_str(extra->fd, "DELETE /api/v1/jobs/job-4 HTTP/1.1\r\nAuthorization: " ADMIN
			    "\r\n\r\n");
	wait_held(4);
	extra2 = client_new();
	send_str(extra2->fd, "GET /healthz HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(client_read(extra2, false, &r, 300), -1);
	/* Answered, they are idle and the sixth gets in. */
	release_cancels();
	hold_cancels = false;
	for (i = 1; i < 4; i++) {
		ck_assert_int_eq(client_read(cs[i], false, &r, 5000), 0);
		ck_assert_int_eq(r.status, 204);
		resp_free(&r);
	}
	ck_assert_int_eq(client_read(extra, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 204);
	resp_free(&r);
	ck_assert_int_eq(client_read(extra2, false, &r, 5000), 0);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);

	/* Idle keep-alive connections are closed after idle_timeout (1 s). */
	t0 = mono_ms();
	ck_assert(client_eof(extra2, 5000));
	ck_assert_msg(mono_ms() - t0 < 3000, "idle close took %lld ms",
		      (long long)(mono_ms() - t0));
	for (i = 0; i < 4; i++)
		client_free(cs[i]);
	client_free(extra);
	client_free(extra2);
}
END_TEST

/* request_timeout (1 s) runs from accept until the first request is complete: a
 * connection that sends nothing is closed well before idle_timeout (3 s), and one that
 * starts its first request late gets its 408 one request_timeout after accept. */
START_TEST(test_first_request_timeout)
{
	struct client *c;
	struct resp r;
	int64_t t0, dt;

	t0 = mono_ms();
	c = client_new();
	ck_assert(client_eof(c, 5000));
	dt = mono_ms() - t0;
	ck_assert_msg(dt >= 900 && dt < 2500, "silent connection closed after %lld ms",
		      (long long)dt);
	client_free(c);

	t0 = mono_ms();
	c = client_new();
	ck_assert_int_eq(client_read(c, false, &r, 600), -1); /* nothing to read yet */
	send_str(c->fd, "GET /healthz HTTP/1.1\r\n");
	ck_assert_int_eq(client_read(c, false, &r, 5000), 0);
	dt = mono_ms() - t0;
	ck_assert_int_eq(r.status, 408);
	resp_free(&r);
	/* from accept: not one request_timeout after the first byte (>= 1600 ms) */
	ck_assert_msg(dt >= 900 && dt < 1500, "408 after %lld ms", (long long)dt);
	client_free(c);
}
END_TEST

/* A client that pipelines far more than it reads: output is bounded (jobsd-http stops
 * reading it), others are still served, and every response arrives in order once it
 * reads. */
START_TEST(test_pipelining_flood)
{
	enum { N = 400 };
	static const char one[] = "GET /api/v1/openapi.json HTTP/1.1\r\n\r\n";
	struct client *flood = client_new();
	struct resp r;
	char *all;
	size_t len = 0, first_len = 0;
	int64_t t0;
	int i;

	all = malloc(N * sizeof(one));
	for (i = 0; i < N; i++) {
		memcpy(all + len, one, sizeof(one) - 1);
		len += sizeof(one) - 1;
	}
	all[len] = '\0';
	send_str(flood->fd, all);
	free(all);
	t0 = mono_ms();
	req("GET", "/healthz", NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	ck_assert_msg(mono_ms() - t0 < 1000, "took %lld ms", (long long)(mono_ms() - t0));
	for (i = 0; i < N; i++) {
		ck_assert_msg(client_read(flood, false, &r, 5000) == 0, "response %d missing", i);
		ck_assert_int_eq(r.status, 200);
		if (i == 0)
			first_len = r.body_len;
		ck_assert_int_eq(r.body_len, first_len);
		ck_assert(r.body[0] == '{' && r.body[r.body_len - 2] == '}');
		resp_free(&r);
	}
	ck_assert_int_gt(first_len, 1000);
	client_free(flood);
}
END_TEST

/* As jobsd starts it: a token epoch on the fd after the listening socket. */
static void
epoch_setup(void)
{
	char *cause = NULL;

	int high;

	ck_assert_msg(token_epoch_create(&cfg_epoch, &cause) == 0, "%s", cause);
	/* Above the fds the child sets up (3, 4, 5), so its dup2s cannot clobber it. */
	high = fcntl(cfg_epoch.fd, F_DUPFD_CLOEXEC, 64);
	ck_assert_int_ge(high, 64);
	close(cfg_epoch.fd);
	cfg_epoch.fd = high;
	cfg_epoch_env = "5";
	default_setup();
}

/* JOBSD_HTTP_EPOCH_FD naming a descriptor that is not the one after the sockets. */
static void
bad_epoch_setup(void)
{
	cfg_epoch_env = "9";
	default_setup();
}

static void
epoch_teardown(void)
{
	teardown();
	token_epoch_close(&cfg_epoch);
	cfg_epoch_env = NULL;
}

static int
status_of(const char *path, const char *auth)
{
	struct resp r;
	int status;

	req("GET", path, auth, NULL, NULL, &r);
	status = r.status;
	resp_free(&r);
	return (status);
}

/* The listener keeps the tokens it has found until the epoch moves: a token deleted from
 * the store behind its back (no bump, which jobsd never does) is still accepted, and
 * refused once the epoch moves; a token put back is found again. */
START_TEST(test_token_cache_follows_epoch)
{
	char *cause = NULL;
	struct resp r;

	ck_assert_int_eq(status_of("/api/v1/jobs?first=1", ADMIN), 200);
	ck_assert_int_eq(status_of("/api/v1/jobs?first=1", REVIEWER), 403);
	ck_assert_int_eq(status_of("/api/v1/jobs?first=1", REVIEWER), 403); /* cached role */
	ck_assert_int_eq(store_token_delete(st, "admin", &cause), 0);
	ck_assert_int_eq(status_of("/api/v1/jobs?first=1", ADMIN), 200);
	token_epoch_bump(&cfg_epoch);
	ck_assert_int_eq(status_of("/api/v1/jobs?first=1", ADMIN), 401);
	ck_assert_int_eq(status_of("/api/v1/jobs?first=1", ADMIN), 401);
	put_token("admin", "Administrator", "admin-secret-token");
	ck_assert_int_eq(status_of("/api/v1/jobs?first=1", ADMIN), 200);
	/* From the cache: the second reviewer, the deleted admin, this /metrics request;
	 * from the store: the rest (the deleted token's two 401s included). */
	get("/metrics", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strstr(r.body, "jobsd_http_token_checks_total{cache=\"hit\"} 3\n") != NULL &&
	                  strstr(r.body, "jobsd_http_token_checks_total{cache=\"miss\"} 5\n") !=
	                      NULL,
	              "%s", r.body);
	resp_free(&r);
}
END_TEST

/* A listener given a bad JOBSD_HTTP_EPOCH_FD runs, without a cache. */
START_TEST(test_bad_epoch_fd_no_cache)
{
	char *cause = NULL;
	struct resp r;

	get("/metrics", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_null(strstr(r.body, "token_checks"));
	resp_free(&r);
	ck_assert_int_eq(status_of("/api/v1/jobs?first=1", ADMIN), 200);
	ck_assert_int_eq(store_token_delete(st, "admin", &cause), 0);
	ck_assert_int_eq(status_of("/api/v1/jobs?first=1", ADMIN), 401);
}
END_TEST

/* A test case with its own listener per test, started by set and stopped by tear. */
static TCase *
live_tcase(const char *name, void (*set)(void), void (*tear)(void))
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, set, tear);
	tcase_set_timeout(tc, 60);
	return (tc);
}

Suite *
http_live_suite(void)
{
	Suite *s = suite_create("http_live");
	TCase *tc = live_tcase("live", no_sup_setup, teardown);

	signal(SIGPIPE, SIG_IGN);
	tcase_add_test(tc, test_seed_examples);
	tcase_add_test(tc, test_auth_and_errors);
	tcase_add_test(tc, test_submit_and_cancel);
	tcase_add_test(tc, test_connection_semantics);
	tcase_add_test(tc, test_pipelined_submits);
	tcase_add_test(tc, test_limits_and_garbage);
	tcase_add_test(tc, test_slow_clients);
	tcase_add_test(tc, test_pagination);
	tcase_add_test(tc, test_filters);
	tcase_add_test(tc, test_many_connections);
	tcase_add_test(tc, test_supervisor_gone);
	tcase_add_test(tc, test_sigterm_twice);
	tcase_add_test(tc, test_pipelining_flood);
	tcase_add_test(tc, test_healthz_timeout);
	tcase_add_test(tc, test_first_request_timeout);
	tcase_add_test(tc, test_standalone);
	suite_add_tcase(s, tc);
	tc = live_tcase("limits", small_setup, teardown);
	tcase_add_test(tc, test_connection_limit_and_idle);
	suite_add_tcase(s, tc);
	tc = live_tcase("deadlines", deadline_setup, teardown);
	tcase_add_test(tc, test_supervisor_deadline);
	suite_add_tcase(s, tc);
	tc = live_tcase("token_epoch", epoch_setup, epoch_teardown);
	tcase_add_test(tc, test_token_cache_follows_epoch);
	suite_add_tcase(s, tc);
	tc = live_tcase("bad_epoch", bad_epoch_setup, epoch_teardown);
	tcase_add_test(tc, test_bad_epoch_fd_no_cache);
	suite_add_tcase(s, tc);
	return (s);
}
