/* testlib.h: helpers for integration tests that run the real programs: a private jobsd on a
 * temp dir (config, fixture source, socket), jobctl runs with captured output, direct
 * control-socket requests, polling for job states with deadlines, process inspection and
 * JSON checks. Everything a test starts is stopped and removed by tl_teardown (checked
 * fixture); if a test dies (a failed assertion _exits in Check's fork mode, or it times
 * out) its daemons get SIGTERM from the kernel (PR_SET_PDEATHSIG) and tl_teardown_all
 * (unchecked fixture, in the runner) kills what is left and removes the temp dirs.
 *
 *	tc = tl_tcase("cancel", 60);       (adds both fixtures and the timeout)
 *	struct tl_daemon *d = tl_daemon_new(&(struct tl_opts){.max_workers = 1});
 *	tl_daemon_start(d);
 *	tl_jobctl(d, &r, "submit", "full_sync", "--wait", NULL);
 *
 * Programs come from $JOBSD_BIN_DIR (set by `make unit` / `make check`); fixtures from
 * $JOBSD_FIXTURES_DIR, else ./tests/fixtures. */
#ifndef JOBSD_TESTLIB_H
#define JOBSD_TESTLIB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <check.h>
#include <yajl/yajl_tree.h>

#include "ipc.h"
#include "job.h"

#define TL_START_TIMEOUT_MS 20000 /* daemon start until it answers PING */
#define TL_STOP_TIMEOUT_MS 15000  /* SIGTERM until exit, then SIGKILL */
#define TL_RUN_TIMEOUT_MS 60000   /* one jobctl run */

struct tl_opts {
	int max_workers;         /* 0: 2 */
	int cancel_grace_s;      /* 0: 5 (use -1 for 0 s) */
	const char *fixture;     /* dir under fixtures/integration, or absolute; NULL: "small" */
	const char *http_listen; /* "127.0.0.1:PORT" for an [http] section; NULL: none */
	const char *extra;       /* appended verbatim to the config file */
};

struct tl_daemon {
	char dir[256];             /* the test's temp dir, removed at teardown */
	char data_dir[PATH_MAX];
	char socket[PATH_MAX];
	char config[PATH_MAX];
	char log_path[PATH_MAX];   /* the daemon's stdout+stderr, appended over restarts */
	char source_dir[PATH_MAX]; /* a copy of the fixture: tests may edit it */
	char http[64];             /* "127.0.0.1:PORT" of the [http] listener, or "" */
	pid_t pid;                 /* running daemon, or -1 */
	int last_status;           /* wait status of the last daemon that exited */
};

/* A finished program run. */
struct tl_run {
	int status; /* exit code, or 128 + signal */
	char *out;  /* NUL-terminated stdout */
	char *err;  /* NUL-terminated stderr */
};

/* A control-socket reply (MSG_CTL_OK or MSG_CTL_FAIL); body valid until tl_reply_free. */
struct tl_reply {
	int fd;
	struct ipc_reader r;
	struct ipc_msg m;
	bool ok; /* MSG_CTL_OK */
};

/* --- fixtures -------------------------------------------------------------- */
/* A TCase with tl_setup/tl_teardown (checked), tl_setup_all/tl_teardown_all (unchecked) and
 * a timeout in seconds (scaled by CK_TIMEOUT_MULTIPLIER as usual). */
TCase *tl_tcase(const char *name, double timeout_s);
void tl_setup_all(void);
void tl_teardown_all(void);
void tl_setup(void);
void tl_teardown(void);

const char *tl_bin_dir(void);     /* $JOBSD_BIN_DIR; the test fails if unset */
const char *tl_fixtures_dir(void); /* absolute */
/* Make a temp dir (under the run's root when there is one); path has PATH_MAX bytes. */
void tl_mkdtemp(char *path, const char *prefix);

/* --- the daemon ------------------------------------------------------------- */
struct tl_daemon *tl_daemon_new(const struct tl_opts *o); /* dir, config, source copy */
void tl_daemon_start(struct tl_daemon *d); /* fails the test unless it answers PING */
/* Start without waiting; returns the pid (the caller polls tl_ping). */
pid_t tl_daemon_spawn(struct tl_daemon *d);
/* SIGTERM and wait (bounded, then SIGKILL); returns the wait status. */
int tl_daemon_stop(struct tl_daemon *d);
void tl_daemon_kill9(struct tl_daemon *d); /* SIGKILL and reap */
/* Has the daemon exited on its own (reaps it)? */
bool tl_daemon_exited(struct tl_daemon *d);
char *tl_daemon_log(struct tl_daemon *d); /* its output so far (malloc'd) */
/* Note a pid the test learnt about (a worker) so the unchecked teardown can kill it. */
void tl_track_pid(struct tl_daemon *d, pid_t pid);

/* --- programs ----------------------------------------------------------------- */
/* Run $JOBSD_BIN_DIR/jobctl -s d->socket ARGS... NULL (d NULL: -s a dead path). Returns the
 * status; the run is bounded by TL_RUN_TIMEOUT_MS (killed and failed beyond it). */
int tl_jobctl(struct tl_daemon *d, struct tl_run *r, ...) __attribute__((sentinel));
int tl_jobctlv(struct tl_daemon *d, struct tl_run *r, const char *const *args);
/* Like tl_jobctl, with stdout and stderr on a pseudo-terminal (merged into r->out; the
 * terminal turns each \n into \r\n). */
int tl_jobctl_tty(struct tl_daemon *d, struct tl_run *r, ...) __attribute__((sentinel));
/* Run any program (argv[0] a path) with env additions "K=V" (NULL-terminated, may be NULL). */
int tl_run(struct tl_run *r, const char *const *argv, const char *const *env, int timeout_ms);
/* The same as another user (the caller must be root). */
int tl_run_as(struct tl_run *r, const char *const *argv, const char *const *env, uid_t uid,
	      gid_t gid, int timeout_ms);
void tl_run_free(struct tl_run *r);
/* The last non-empty line of s (malloc'd, without the newline). */
char *tl_last_line(const char *s);
/* Number of lines of s that contain needle. */
int tl_count_lines(const char *s, const char *needle);

/* jobctl --json submit TYPE --param P... (NULL-terminated "k=v"); the new id into id. The
 * test fails unless the submit succeeds. */
void tl_submit(struct tl_daemon *d, char id[32], const char *type, ...)
    __attribute__((sentinel));
/* The job id of a --json job object printed by jobctl (id has 32 bytes); fails otherwise. */
void tl_json_id(const char *json, char id[32]);

/* --- control socket ------------------------------------------------------------ */
int tl_connect(struct tl_daemon *d); /* a raw connection, or -1 */
int tl_ping(struct tl_daemon *d, int timeout_ms); /* 0 if it answers */
/* One request whose body is the string pairs kv ("key", "value", ..., NULL). 0 with a reply
 * (ok or fail), -1 on a transport error. */
int tl_call(struct tl_daemon *d, enum msg_type type, const char *const *kv, int timeout_ms,
	    struct tl_reply *rep);
void tl_reply_free(struct tl_reply *rep);
/* SHOW (progress false) or PROGRESS of one job: 0 with *j, 1 when refused (not found),
 * -1 transport error. */
int tl_job(struct tl_daemon *d, const char *id, bool progress, struct job *j);
/* Poll (every 20 ms) until pred is true; 0 with the job in *j, -1 on timeout with the last
 * state seen in *j (or job_init'ed). */
typedef bool (*tl_job_pred)(const struct job *j, void *arg);
int tl_wait_job(struct tl_daemon *d, const char *id, tl_job_pred pred, void *arg,
		int timeout_ms, struct job *j);
int tl_wait_status(struct tl_daemon *d, const char *id, enum job_status st, int timeout_ms,
		   struct job *j);
bool tl_pred_final(const struct job *j, void *arg);
bool tl_pred_processed(const struct job *j, void *arg); /* arg: int64_t *min processed */

/* --- HTTP (the REST listener) ------------------------------------------------------- */
/* Wait until d->http accepts connections; 0, or -1 after timeout_ms. */
int tl_http_wait(struct tl_daemon *d, int timeout_ms);
/* One HTTP/1.1 request (Connection: close) to d->http with an optional bearer token and
 * JSON body. 0 with the status and the body (malloc'd, NUL-terminated; Content-Length
 * honoured), -1 on a transport error or a malformed response. */
int tl_http(struct tl_daemon *d, const char *method, const char *path, const char *token,
	    const char *body, int *status, char **resp);

/* --- processes -------------------------------------------------------------------- */
/* Children of parent whose comm starts with comm_prefix (NULL: any), from /proc. */
size_t tl_children(pid_t parent, const char *comm_prefix, pid_t *out, size_t max);
bool tl_pid_alive(pid_t pid); /* exists and is not a zombie */
int tl_wait_gone(pid_t pid, int timeout_ms); /* 0 once gone */

/* --- JSON (yajl_tree) ----------------------------------------------------------------- */
yajl_val tl_json(const char *s); /* NULL if not JSON */
yajl_val tl_jget(yajl_val obj, const char *key); /* NULL if absent */
const char *tl_jstr(yajl_val obj, const char *key); /* NULL if absent or not a string */
bool tl_jnull(yajl_val obj, const char *key);  /* present and null */
/* Integer field; fails the test if absent or not an integer. */
long long tl_jint(yajl_val obj, const char *key);
/* Does obj have exactly these keys (NULL-terminated), in any order? *why gets the first
 * difference. */
bool tl_jkeys(yajl_val obj, const char *const *keys, char *why, size_t whylen);

/* --- files and time ---------------------------------------------------------------------- */
void tl_write_file(const char *path, const char *content);
char *tl_read_file(const char *path); /* NULL if missing */
int tl_rm_rf(const char *path);
int tl_copy_dir(const char *from, const char *to); /* flat copy of regular files */
int64_t tl_now_ms(void);     /* CLOCK_MONOTONIC */
void tl_sleep_ms(int ms);    /* only between polls */
int tl_free_port(void);      /* a loopback TCP port free right now */

#endif
