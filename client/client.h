/* client.h: jobctl, the command-line client of the control socket. One request per
 * command (watch polls), replies rendered as tables for people or, with --json, as exactly
 * the JSON the REST API returns for the same question. */
#ifndef JOBSD_CLIENT_H
#define JOBSD_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <msgpack.h>
#include <yajl/yajl_gen.h>

#include "ipc.h"
#include "job.h"

#define JOBCTL_VERSION "0.1.0"
#define JOBCTL_DEFAULT_SOCKET "/run/jobsd/jobsd.sock"
#define JOBCTL_SOCKET_ENV "JOBSD_SOCKET"
#define JOBCTL_POLL_MS 200       /* watch / submit --wait poll interval */
#define JOBCTL_TIMEOUT_MS 30000  /* reply deadline of every request but cancel */

/* Exit codes (documented in usage and docs/jobctl.md). */
enum jobctl_exit {
	JOBCTL_EXIT_OK = 0,        /* success; a watched job completed */
	JOBCTL_EXIT_ERROR = 1,     /* daemon unreachable, request refused (FAIL reply) */
	JOBCTL_EXIT_USAGE = 2,     /* bad command line */
	JOBCTL_EXIT_FAILED = 3,    /* a watched job failed */
	JOBCTL_EXIT_CANCELLED = 4, /* a watched job was cancelled */
	JOBCTL_EXIT_INTERRUPTED = 130, /* Ctrl-C while following a job on a terminal */
};

struct rpc;

/* One invocation's settings and connection. */
struct ctl {
	const char *socket_path; /* resolved: -s, else $JOBSD_SOCKET, else the default */
	bool json;
	bool tty;    /* stdout is a terminal: progress bar redraws in place */
	FILE *out;   /* stdout */
	FILE *err;   /* stderr */
	struct rpc *rpc; /* connected on first use */
};

/* A MSG_CTL_FAIL body. */
struct rpc_fail {
	int status;
	char code[48];
	char message[512];
	char parameter[64]; /* "" = none */
};

/* rpc.c */
const char *rpc_socket_path(const char *opt);
struct rpc *rpc_connect(const char *path, char **cause);
void rpc_close(struct rpc *r);
/* Start a request: pack exactly one map with the returned packer, then rpc_call. */
msgpack_packer *rpc_begin(struct rpc *r, enum msg_type type);
/* Send the request begun with rpc_begin and wait for its reply (timeout_ms -1: forever).
 * 0: MSG_CTL_OK, *body valid until the next rpc call. 1: MSG_CTL_FAIL, *fail filled.
 * -1: transport error or timeout, *cause. */
int rpc_call(struct rpc *r, int timeout_ms, const msgpack_object **body,
	     struct rpc_fail *fail, char **cause);
void rpc_fail_parse(const msgpack_object *body, struct rpc_fail *f);

/* commands.c */
struct cmd {
	const char *name;
	const char *args; /* synopsis after the name */
	const char *help; /* one line */
	int (*fn)(struct ctl *c, int argc, char **argv); /* argv[0] is the command name */
};
const struct cmd *cmd_find(const char *name);
/* Run argv[0] (a command name) with its arguments; returns the exit code. */
int cmd_run(struct ctl *c, int argc, char **argv);
void cmd_usage(FILE *f);
/* Connect c->rpc if not yet; on failure reports (human and --json) and returns -1. */
int cmd_connect(struct ctl *c);
/* Wait for the reply of the request begun with rpc_begin: 0 with *body, or the exit code
 * after reporting the failure (what: the id it is about, or NULL). */
int cmd_call(struct ctl *c, const char *what, int timeout_ms, const msgpack_object **body);
/* Report a reply that does not have the expected shape; the exit code. */
int cmd_bad_reply(struct ctl *c, const char *why);

/* output.c */
/* "450ms", "12s", "1m 12s", "2h 03m 04s", "3d 04h 05m". */
void out_duration(int64_t ms, char *buf, size_t len);
/* "00:12", "01:02:03" (elapsed clock of the progress bar). */
void out_clock(int64_t ms, char *buf, size_t len);
/* "[#####.....] 45% Processing accounts 450/1000 00:12" for a pending/running job. */
void out_progress_line(const struct job *j, int64_t now_ms, char *buf, size_t len);
/* The final summary line of watch/submit --wait ("job-5 completed in 1s: ..."). */
void out_final_line(const struct job *j, char *buf, size_t len);
void out_job_table(FILE *f, const struct job *jobs, size_t n, int64_t now_ms);
void out_running_table(FILE *f, const struct job *jobs, size_t n, int64_t now_ms);
void out_job_show(FILE *f, const struct job *j, int64_t now_ms);

yajl_gen out_json_new(void);
/* Print the generated document and a newline to f, free g. */
void out_json_print(FILE *f, yajl_gen g);
void out_json_str(yajl_gen g, const char *s); /* NULL: null */
void out_json_int(yajl_gen g, int64_t v);
/* The REST error body {"error":{"status","code","message","parameter"}}. */
void out_json_error(FILE *f, const struct rpc_fail *fail);
/* Report a refused request: stderr "jobctl: ID: message" (what may be NULL), and with
 * --json the error body on stdout. */
void out_fail(struct ctl *c, const char *what, const struct rpc_fail *fail);
/* Report a local/transport error the same way (code "unavailable", status 503). */
void out_error(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* " WORD": a space, then v quoted for a POSIX shell when it needs it (for "more:" hints). */
void out_shell_word(FILE *f, const char *v);

#endif
