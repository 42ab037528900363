/* commands.c: jobctl's command table: each command's arguments, usage line and handler.
 * A handler checks its command line (usage errors exit 2 before anything is sent), sends
 * one request over the control socket (watch and submit --wait poll), and prints the
 * reply for people or, with --json, as the REST API's JSON. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "commands_results.h"
#include "log.h"
#include "timeutil.h"

#define MAX_POS 4
#define TOKEN_NAME_BUF 128

/* --- argument parsing ------------------------------------------------------ */

enum opt_kind { OPT_FLAG, OPT_VALUE, OPT_MULTI };

struct multi {
	const char *v[JOB_MAX_PARAMS + 1];
	size_t n;
};

struct optdef {
	const char *name; /* "--type" */
	enum opt_kind kind;
	void *dst; /* bool *, const char **, struct multi * */
};

static int cmd_list(struct ctl *, int, char **);
static int cmd_show(struct ctl *, int, char **);
static int cmd_progress(struct ctl *, int, char **);
static int cmd_running(struct ctl *, int, char **);
static int cmd_cancel(struct ctl *, int, char **);
static int cmd_submit(struct ctl *, int, char **);
static int cmd_watch(struct ctl *, int, char **);
static int cmd_log(struct ctl *, int, char **);
static int cmd_token(struct ctl *, int, char **);
static int cmd_ping(struct ctl *, int, char **);
static int cmd_help(struct ctl *, int, char **);

static const struct cmd cmds[] = {
	{"list", "[--type TYPE] [--status STATUS] [--since DATE] [--until DATE] [--limit N] "
		 "[--after CURSOR]",
	 "list jobs, newest first, one page at a time", cmd_list},
	{"show", "ID", "show everything about one job", cmd_show},
	{"progress", "ID", "show a job's progress", cmd_progress},
	{"running", "", "list the running jobs", cmd_running},
	{"cancel", "ID", "cancel a pending or running job; returns once it is cancelled",
	 cmd_cancel},
	{"submit", "TYPE [--param KEY=VALUE]... [--wait]",
	 "queue a job (print its id); --wait follows it to its end", cmd_submit},
	{"watch", "ID", "follow a job until it ends, with a progress bar", cmd_watch},
	{"log", "ID", "print a job's log lines", cmd_log},
	{"roles", "[--limit N] [--after CURSOR]", "list the generated roles (role_generation)",
	 cmd_roles},
	{"role", "NAME [--members] [--limit N] [--after CURSOR]",
	 "show a generated role and a page of its members", cmd_role},
	{"violations", "[--policy P] [--kind role|owner|account] [--limit N] [--after CURSOR]",
	 "list policy violations (policy_analysis)", cmd_violations},
	{"orphans", "[--limit N] [--after CURSOR]",
	 "list accounts no owner was found for (enrichment)", cmd_orphans},
	{"managers", "[--kind missing|cycle] [--limit N] [--after CURSOR]",
	 "list missing managers and manager cycles (manager_resolution)", cmd_managers},
	{"manager", "OWNER", "show an owner's resolved manager (manager_resolution)",
	 cmd_manager},
	{"link", "ACCOUNT", "show the owner an account is linked to (enrichment)", cmd_link},
	{"token", "create NAME --role ROLE | list | revoke NAME",
	 "manage REST API tokens (the token is shown once, on the last line)", cmd_token},
	{"ping", "", "check that jobsd answers", cmd_ping},
	{"help", "[COMMAND]", "show this help", cmd_help},
};
#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

const struct cmd *
cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < NCMDS; i++) {
		if (strcmp(cmds[i].name, name) == 0)
			return (&cmds[i]);
	}
	return (NULL);
}

void
cmd_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: jobctl [--json] [-s SOCKET] COMMAND [ARGS]\n"
		   "       jobctl --help | --version\n\n"
		   "commands:\n");
	for (i = 0; i < NCMDS; i++)
		fprintf(f, "  %s %s\n      %s\n", cmds[i].name, cmds[i].args, cmds[i].help);
	fprintf(f, "\noptions:\n"
		   "  --json       print the REST API's JSON (also accepted after the command)\n"
		   "  -s SOCKET    control socket (default $" JOBCTL_SOCKET_ENV
		   ", else " JOBCTL_DEFAULT_SOCKET ")\n"
		   "\nexit status:\n"
		   "  0    success; a watched job completed\n"
		   "  1    jobsd unreachable or the request was refused\n"
		   "  2    usage error\n"
		   "  3    a watched job (watch, submit --wait) failed\n"
		   "  4    a watched job was cancelled\n"
		   "  130  interrupted while following a job (the job goes on)\n");
}

static int
usage_error(struct ctl *c, const struct cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("jobctl: ", c->err);
	va_start(ap, fmt);
	vfprintf(c->err, fmt, ap);
	va_end(ap);
	fputc('\n', c->err);
	if (cmd != NULL)
		fprintf(c->err, "usage: jobctl %s %s\n", cmd->name, cmd->args);
	return (JOBCTL_EXIT_USAGE);
}

/* Parse argv[1..] against defs (NULL-terminated) and collect between minpos and maxpos
 * positional arguments. --json is accepted everywhere. 0, or JOBCTL_EXIT_USAGE reported. */
static int
parse_args(struct ctl *c, const struct cmd *cmd, int argc, char **argv,
	   const struct optdef *defs, const char **pos, size_t minpos, size_t maxpos,
	   size_t *npos)
{
	const struct optdef *d;
	const char *arg, *val;
	struct multi *mu;
	bool only_pos = false;
	size_t nlen;
	int i;

	*npos = 0;
	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (only_pos || arg[0] != '-' || arg[1] == '\0') {
			if (*npos >= maxpos)
				return (usage_error(c, cmd, "unexpected argument '%s'", arg));
			pos[(*npos)++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (strcmp(arg, "--json") == 0) {
			c->json = true;
			continue;
		}
		for (d = defs; d != NULL && d->name != NULL; d++) {
			nlen = strlen(d->name);
			if (strncmp(arg, d->name, nlen) == 0 &&
			    (arg[nlen] == '\0' || (arg[nlen] == '=' && d->kind != OPT_FLAG)))
				break;
		}
		if (d == NULL || d->name == NULL)
			return (usage_error(c, cmd, "unknown option '%s'", arg));
		if (d->kind == OPT_FLAG) {
			*(bool *)d->dst = true;
			continue;
		}
		if (arg[nlen] == '=')
			val = arg + nlen + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			return (usage_error(c, cmd, "option '%s' needs a value", d->name));
		if (d->kind == OPT_VALUE) {
			*(const char **)d->dst = val;
			continue;
		}
		mu = d->dst;
		if (mu->n >= JOB_MAX_PARAMS)
			return (usage_error(c, cmd, "too many %s options (at most %d)", d->name,
					    JOB_MAX_PARAMS));
		mu->v[mu->n++] = val;
	}
	if (*npos < minpos)
		return (usage_error(c, cmd, "missing argument"));
	return (0);
}

/* A job id argument: "job-12", or just "12". */
static const char *
norm_id(const char *arg, char *buf, size_t len)
{
	size_t i, n = strlen(arg);

	if (n == 0 || n > 19)
		return (arg);
	for (i = 0; i < n; i++) {
		if (arg[i] < '0' || arg[i] > '9')
			return (arg);
	}
	snprintf(buf, len, "job-%s", arg);
	return (buf);
}

/* --- requests ---------------------------------------------------------------- */

int
cmd_connect(struct ctl *c)
{
	char *cause = NULL;

	if (c->rpc != NULL)
		return (0);
	if ((c->rpc = rpc_connect(c->socket_path, &cause)) == NULL) {
		out_error(c, "%s", cause);
		free(cause);
		return (-1);
	}
	return (0);
}

/* Send the request begun on c->rpc and wait. 0 with *body; JOBCTL_EXIT_ERROR after
 * reporting a FAIL (about what) or a transport error. */
int
cmd_call(struct ctl *c, const char *what, int timeout_ms, const msgpack_object **body)
{
	struct rpc_fail fail;
	char *cause = NULL;
	int rv;

	rv = rpc_call(c->rpc, timeout_ms, body, &fail, &cause);
	if (rv == 0)
		return (0);
	if (rv == 1)
		out_fail(c, what, &fail);
	else {
		out_error(c, "%s", cause);
		free(cause);
	}
	return (JOBCTL_EXIT_ERROR);
}

int
cmd_bad_reply(struct ctl *c, const char *why)
{
	out_error(c, "malformed reply from jobsd: %s", why);
	return (JOBCTL_EXIT_ERROR);
}

/* Decode body[key] as a job record. 0, or JOBCTL_EXIT_ERROR reported. */
static int
reply_job(struct ctl *c, const msgpack_object *body, struct job *j)
{
	const msgpack_object *o;
	char *cause = NULL;
	int rv;

	job_init(j);
	if ((o = ipc_get(body, "job")) == NULL)
		return (cmd_bad_reply(c, "no job"));
	if (job_unpack(o, j, &cause) == -1) {
		rv = cmd_bad_reply(c, cause);
		free(cause);
		return (rv);
	}
	return (0);
}

/* Decode body["jobs"] into a new array. 0, or JOBCTL_EXIT_ERROR reported. */
static int
reply_jobs(struct ctl *c, const msgpack_object *body, struct job **jobs, size_t *n)
{
	const msgpack_object *o;
	char *cause = NULL;
	struct job *js;
	size_t i, k;
	int rv;

	*jobs = NULL;
	*n = 0;
	if ((o = ipc_get(body, "jobs")) == NULL || o->type != MSGPACK_OBJECT_ARRAY)
		return (cmd_bad_reply(c, "no jobs"));
	js = xcalloc(o->via.array.size + 1, sizeof(*js));
	for (i = 0; i < o->via.array.size; i++) {
		if (job_unpack(&o->via.array.ptr[i], &js[i], &cause) == -1) {
			for (k = 0; k < i; k++)
				job_free(&js[k]);
			free(js);
			rv = cmd_bad_reply(c, cause);
			free(cause);
			return (rv);
		}
	}
	*jobs = js;
	*n = o->via.array.size;
	return (0);
}

static void
free_jobs(struct job *jobs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		job_free(&jobs[i]);
	free(jobs);
}

/* One request whose body is {id} and whose reply is {job}. */
static int
request_job(struct ctl *c, enum msg_type type, const char *id, int timeout_ms, struct job *j)
{
	const msgpack_object *body;
	msgpack_packer *pk;
	int rv;

	if (cmd_connect(c) == -1)
		return (JOBCTL_EXIT_ERROR);
	pk = rpc_begin(c->rpc, type);
	msgpack_pack_map(pk, 1);
	ipc_pack_kv_str(pk, "id", id);
	if ((rv = cmd_call(c, id, timeout_ms, &body)) != 0)
		return (rv);
	return (reply_job(c, body, j));
}

static void
print_job_json(struct ctl *c, const struct job *j, enum job_json_kind kind)
{
	char *s;
	size_t len;

	s = job_json_string(j, kind, time_now_ms(), &len);
	fwrite(s, 1, len, c->out);
	fputc('\n', c->out);
	free(s);
}

/* --- commands ------------------------------------------------------------------ */

/* Print " OPT VALUE", the value quoted for a POSIX shell when it needs it. */
static void
print_opt(FILE *f, const char *opt, const char *v)
{
	fprintf(f, " %s", opt);
	out_shell_word(f, v);
}

static int
cmd_list(struct ctl *c, int argc, char **argv)
{
	const char *type = NULL, *status = NULL, *since = NULL, *until = NULL;
	const char *limit = NULL, *after = NULL, *pos[MAX_POS], *cursor = NULL;
	const struct optdef defs[] = {
		{"--type", OPT_VALUE, &type},	{"--status", OPT_VALUE, &status},
		{"--since", OPT_VALUE, &since}, {"--until", OPT_VALUE, &until},
		{"--limit", OPT_VALUE, &limit}, {"--after", OPT_VALUE, &after},
		{NULL, OPT_FLAG, NULL},
	};
	const struct cmd *cmd = cmd_find("list");
	const msgpack_object *body;
	msgpack_packer *pk;
	struct job *jobs = NULL;
	long long first = 0;
	size_t npos, n = 0, i, cursor_len = 0;
	bool has_next = false;
	char *end, *cur = NULL;
	int rv, nkeys;
	yajl_gen g;

	if ((rv = parse_args(c, cmd, argc, argv, defs, pos, 0, 0, &npos)) != 0)
		return (rv);
	if (limit != NULL) {
		errno = 0;
		first = strtoll(limit, &end, 10);
		if (errno != 0 || end == limit || *end != '\0')
			return (usage_error(c, cmd, "--limit needs a number, not '%s'", limit));
	}
	if (cmd_connect(c) == -1)
		return (JOBCTL_EXIT_ERROR);

	nkeys = (type != NULL) + (status != NULL) + (since != NULL) + (until != NULL) +
		(limit != NULL) + (after != NULL);
	pk = rpc_begin(c->rpc, MSG_CTL_LIST);
	msgpack_pack_map(pk, nkeys);
	if (type != NULL)
		ipc_pack_kv_str(pk, "job_type", type);
	if (status != NULL)
		ipc_pack_kv_str(pk, "status", status);
	if (since != NULL)
		ipc_pack_kv_str(pk, "start_date", since);
	if (until != NULL)
		ipc_pack_kv_str(pk, "end_date", until);
	if (limit != NULL)
		ipc_pack_kv_int(pk, "first", first);
	if (after != NULL)
		ipc_pack_kv_str(pk, "after", after);
	if ((rv = cmd_call(c, NULL, JOBCTL_TIMEOUT_MS, &body)) != 0)
		return (rv);
	if ((rv = reply_jobs(c, body, &jobs, &n)) != 0)
		return (rv);
	if (ipc_get_bool(body, "has_next", &has_next) == -1) {
		free_jobs(jobs, n);
		return (cmd_bad_reply(c, "has_next"));
	}
	if (ipc_get_str(body, "end_cursor", &cursor, &cursor_len) != 0)
		cursor = NULL;
	if (cursor != NULL)
		cur = xstrndup(cursor, cursor_len);

	if (c->json) {
		int64_t now = time_now_ms();

		g = out_json_new();
		yajl_gen_map_open(g);
		out_json_str(g, "jobs");
		yajl_gen_array_open(g);
		for (i = 0; i < n; i++)
			job_json_summary(g, &jobs[i], now);
		yajl_gen_array_close(g);
		out_json_str(g, "pageInfo");
		yajl_gen_map_open(g);
		out_json_str(g, "hasNextPage");
		yajl_gen_bool(g, has_next);
		out_json_str(g, "endCursor");
		out_json_str(g, cur);
		yajl_gen_map_close(g);
		yajl_gen_map_close(g);
		out_json_print(c->out, g);
	} else {
		if (n == 0)
			fprintf(c->out, "no jobs\n");
		else
			out_job_table(c->out, jobs, n, time_now_ms());
		if (has_next && cur != NULL) {
			fprintf(c->out, "more: jobctl list");
			if (type != NULL)
				print_opt(c->out, "--type", type);
			if (status != NULL)
				print_opt(c->out, "--status", status);
			if (since != NULL)
				print_opt(c->out, "--since", since);
			if (until != NULL)
				print_opt(c->out, "--until", until);
			if (limit != NULL)
				fprintf(c->out, " --limit %lld", first);
			print_opt(c->out, "--after", cur);
			fputc('\n', c->out);
		}
	}
	free(cur);
	free_jobs(jobs, n);
	return (JOBCTL_EXIT_OK);
}

/* The common shape of show/progress: one ID argument, a {job} reply. */
static int
one_id(struct ctl *c, const char *name, int argc, char **argv, char *buf, size_t len,
       const char **id)
{
	const char *pos[MAX_POS];
	size_t npos;
	int rv;

	if ((rv = parse_args(c, cmd_find(name), argc, argv, NULL, pos, 1, 1, &npos)) != 0)
		return (rv);
	*id = norm_id(pos[0], buf, len);
	return (0);
}

static int
cmd_show(struct ctl *c, int argc, char **argv)
{
	char buf[32];
	const char *id;
	struct job j;
	int rv;

	if ((rv = one_id(c, "show", argc, argv, buf, sizeof(buf), &id)) != 0)
		return (rv);
	if ((rv = request_job(c, MSG_CTL_SHOW, id, JOBCTL_TIMEOUT_MS, &j)) != 0)
		return (rv);
	if (c->json)
		print_job_json(c, &j, JOB_JSON_FULL);
	else
		out_job_show(c->out, &j, time_now_ms());
	job_free(&j);
	return (JOBCTL_EXIT_OK);
}

static int
cmd_progress(struct ctl *c, int argc, char **argv)
{
	char buf[32], line[512], jid[32];
	const char *id;
	struct job j;
	int rv;

	if ((rv = one_id(c, "progress", argc, argv, buf, sizeof(buf), &id)) != 0)
		return (rv);
	if ((rv = request_job(c, MSG_CTL_PROGRESS, id, JOBCTL_TIMEOUT_MS, &j)) != 0)
		return (rv);
	if (c->json)
		print_job_json(c, &j, JOB_JSON_PROGRESS);
	else {
		job_id_format(j.no, jid);
		out_progress_line(&j, time_now_ms(), line, sizeof(line));
		fprintf(c->out, "%s %s %s\n", jid, job_status_name(j.status), line);
	}
	job_free(&j);
	return (JOBCTL_EXIT_OK);
}

static int
cmd_running(struct ctl *c, int argc, char **argv)
{
	const char *pos[MAX_POS];
	const msgpack_object *body;
	struct job *jobs;
	size_t npos, n, i;
	yajl_gen g;
	int rv;

	if ((rv = parse_args(c, cmd_find("running"), argc, argv, NULL, pos, 0, 0, &npos)) != 0)
		return (rv);
	if (cmd_connect(c) == -1)
		return (JOBCTL_EXIT_ERROR);
	msgpack_pack_map(rpc_begin(c->rpc, MSG_CTL_RUNNING), 0);
	if ((rv = cmd_call(c, NULL, JOBCTL_TIMEOUT_MS, &body)) != 0)
		return (rv);
	if ((rv = reply_jobs(c, body, &jobs, &n)) != 0)
		return (rv);
	if (c->json) {
		g = out_json_new();
		yajl_gen_map_open(g);
		out_json_str(g, "jobs");
		yajl_gen_array_open(g);
		for (i = 0; i < n; i++)
			job_json_running(g, &jobs[i]);
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
		out_json_print(c->out, g);
	} else if (n == 0)
		fprintf(c->out, "no running jobs\n");
	else
		out_running_table(c->out, jobs, n, time_now_ms());
	free_jobs(jobs, n);
	return (JOBCTL_EXIT_OK);
}

static int
cmd_cancel(struct ctl *c, int argc, char **argv)
{
	char buf[32], line[512];
	const char *id;
	struct job j;
	int rv;

	if ((rv = one_id(c, "cancel", argc, argv, buf, sizeof(buf), &id)) != 0)
		return (rv);
	/* Answered once the job is cancelled: a running job first finishes its batch. */
	if ((rv = request_job(c, MSG_CTL_CANCEL, id, -1, &j)) != 0)
		return (rv);
	if (!c->json) { /* like DELETE's 204, --json prints nothing */
		out_final_line(&j, line, sizeof(line));
		fprintf(c->out, "%s\n", line);
	}
	job_free(&j);
	return (JOBCTL_EXIT_OK);
}

/* Set by SIGINT while following a job on a terminal. */
static volatile sig_atomic_t follow_interrupted;

static void
follow_sigint(int sig)
{
	follow_interrupted = 1;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !follow_interrupted)
		;
}

/* Poll a job's progress until it ends, drawing the bar (people only); then print the
 * final line (people) or the full job object (--json). Exit code by the final status. */
static int
follow(struct ctl *c, const char *id)
{
	char line[512], last[512] = "", jid[32];
	bool drawn = false;
	struct sigaction sa;
	struct job j;
	int rv;

	if (c->tty) {
		/* Ctrl-C ends the bar's line cleanly; the job goes on. */
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = follow_sigint;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
	}
	for (;;) {
		if (follow_interrupted) {
			if (drawn)
				fputc('\n', c->out);
			fprintf(c->err, "jobctl: stopped following %s (the job goes on)\n", id);
			return (JOBCTL_EXIT_INTERRUPTED);
		}
		if ((rv = request_job(c, MSG_CTL_PROGRESS, id, JOBCTL_TIMEOUT_MS, &j)) != 0) {
			if (drawn)
				fputc('\n', c->out);
			return (rv);
		}
		if (job_status_is_final(j.status))
			break;
		if (!c->json) {
			out_progress_line(&j, time_now_ms(), line, sizeof(line));
			if (c->tty) {
				fprintf(c->out, "\r%s\033[K", line);
				drawn = true;
			} else {
				/* Without a terminal: a line when status, step or percent moves. */
				char key[512];

				snprintf(key, sizeof(key), "%d %d %s", j.status, j.progress,
					 j.current_step);
				if (strcmp(key, last) != 0) {
					job_id_format(j.no, jid);
					fprintf(c->out, "%s %s\n", jid, line);
					snprintf(last, sizeof(last), "%s", key);
				}
			}
			fflush(c->out);
		}
		job_free(&j);
		sleep_ms(JOBCTL_POLL_MS);
	}

	if (c->json)
		print_job_json(c, &j, JOB_JSON_FULL);
	else {
		if (drawn) {
			if (j.status == JOB_COMPLETED) {
				out_progress_line(&j, time_now_ms(), line, sizeof(line));
				fprintf(c->out, "\r%s\033[K", line);
			}
			fputc('\n', c->out);
		}
		out_final_line(&j, line, sizeof(line));
		fprintf(c->out, "%s\n", line);
	}
	switch (j.status) {
	case JOB_COMPLETED:
		rv = JOBCTL_EXIT_OK;
		break;
	case JOB_CANCELLED:
		rv = JOBCTL_EXIT_CANCELLED;
		break;
	default:
		rv = JOBCTL_EXIT_FAILED;
		break;
	}
	job_free(&j);
	return (rv);
}

static int
cmd_watch(struct ctl *c, int argc, char **argv)
{
	char buf[32];
	const char *id;
	int rv;

	if ((rv = one_id(c, "watch", argc, argv, buf, sizeof(buf), &id)) != 0)
		return (rv);
	if (cmd_connect(c) == -1)
		return (JOBCTL_EXIT_ERROR);
	return (follow(c, id));
}

static int
cmd_submit(struct ctl *c, int argc, char **argv)
{
	struct multi params = {.n = 0};
	bool wait = false;
	const struct optdef defs[] = {
		{"--param", OPT_MULTI, &params},
		{"--wait", OPT_FLAG, &wait},
		{NULL, OPT_FLAG, NULL},
	};
	const struct cmd *cmd = cmd_find("submit");
	const char *pos[MAX_POS], *eq;
	const msgpack_object *body;
	msgpack_packer *pk;
	char id[32];
	struct job j;
	size_t npos, i;
	int rv;

	if ((rv = parse_args(c, cmd, argc, argv, defs, pos, 1, 1, &npos)) != 0)
		return (rv);
	for (i = 0; i < params.n; i++) {
		eq = strchr(params.v[i], '=');
		if (eq == NULL || eq == params.v[i])
			return (usage_error(c, cmd, "--param needs KEY=VALUE, not '%s'",
					    params.v[i]));
	}
	if (cmd_connect(c) == -1)
		return (JOBCTL_EXIT_ERROR);

	pk = rpc_begin(c->rpc, MSG_CTL_SUBMIT);
	msgpack_pack_map(pk, params.n > 0 ? 2 : 1);
	ipc_pack_kv_str(pk, "job_type", pos[0]);
	if (params.n > 0) {
		ipc_pack_str(pk, "parameters");
		msgpack_pack_map(pk, params.n);
		for (i = 0; i < params.n; i++) {
			eq = strchr(params.v[i], '=');
			ipc_pack_strn(pk, params.v[i], (size_t)(eq - params.v[i]));
			ipc_pack_str(pk, eq + 1);
		}
	}
	if ((rv = cmd_call(c, NULL, JOBCTL_TIMEOUT_MS, &body)) != 0)
		return (rv);
	if ((rv = reply_job(c, body, &j)) != 0)
		return (rv);
	job_id_format(j.no, id);
	if (!wait) {
		if (c->json)
			print_job_json(c, &j, JOB_JSON_FULL);
		else
			fprintf(c->out, "%s\n", id);
		job_free(&j);
		return (JOBCTL_EXIT_OK);
	}
	job_free(&j);
	if (!c->json) {
		fprintf(c->out, "%s\n", id);
		fflush(c->out);
	}
	return (follow(c, id));
}

static const char *
level_name(int64_t level)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};

	if (level < 0 || level > 3)
		return ("unknown");
	return (names[level]);
}

static int
cmd_log(struct ctl *c, int argc, char **argv)
{
	char buf[32], ts[40], level[32];
	const msgpack_object *body, *lines, *l;
	const char *id, *text;
	msgpack_packer *pk;
	size_t i, tlen;
	int64_t ms, lv;
	yajl_gen g = NULL;
	int rv;

	if ((rv = one_id(c, "log", argc, argv, buf, sizeof(buf), &id)) != 0)
		return (rv);
	if (cmd_connect(c) == -1)
		return (JOBCTL_EXIT_ERROR);
	pk = rpc_begin(c->rpc, MSG_CTL_LOG);
	msgpack_pack_map(pk, 1);
	ipc_pack_kv_str(pk, "id", id);
	if ((rv = cmd_call(c, id, JOBCTL_TIMEOUT_MS, &body)) != 0)
		return (rv);
	if ((lines = ipc_get(body, "lines")) == NULL || lines->type != MSGPACK_OBJECT_ARRAY)
		return (cmd_bad_reply(c, "no lines"));

	if (c->json) {
		g = out_json_new();
		yajl_gen_map_open(g);
		out_json_str(g, "lines");
		yajl_gen_array_open(g);
	}
	for (i = 0; i < lines->via.array.size; i++) {
		l = &lines->via.array.ptr[i];
		if (l->type != MSGPACK_OBJECT_MAP)
			continue;
		if (ipc_get_int(l, "ts", &ms) == 0)
			time_format_rfc3339(ms, ts, sizeof(ts));
		else if (ipc_get_strbuf(l, "ts", ts, sizeof(ts)) != 0)
			snprintf(ts, sizeof(ts), "-");
		if (ipc_get_int(l, "level", &lv) == 0)
			snprintf(level, sizeof(level), "%s", level_name(lv));
		else if (ipc_get_strbuf(l, "level", level, sizeof(level)) != 0)
			snprintf(level, sizeof(level), "info");
		if (ipc_get_str(l, "text", &text, &tlen) != 0) {
			text = "";
			tlen = 0;
		}
		if (c->json) {
			yajl_gen_map_open(g);
			out_json_str(g, "ts");
			out_json_str(g, ts);
			out_json_str(g, "level");
			out_json_str(g, level);
			out_json_str(g, "text");
			yajl_gen_string(g, (const unsigned char *)text, tlen);
			yajl_gen_map_close(g);
		} else
			fprintf(c->out, "%s %-7s %.*s\n", ts, level, (int)tlen, text);
	}
	if (c->json) {
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
		out_json_print(c->out, g);
	}
	return (JOBCTL_EXIT_OK);
}

static int
token_create(struct ctl *c, const struct cmd *cmd, int argc, char **argv)
{
	const char *role = NULL, *pos[MAX_POS], *token;
	const struct optdef defs[] = {
		{"--role", OPT_VALUE, &role},
		{NULL, OPT_FLAG, NULL},
	};
	char name[TOKEN_NAME_BUF], rname[32];
	const msgpack_object *body;
	msgpack_packer *pk;
	size_t npos, tlen;
	yajl_gen g;
	int rv;

	if ((rv = parse_args(c, cmd, argc, argv, defs, pos, 1, 1, &npos)) != 0)
		return (rv);
	if (role == NULL)
		return (usage_error(c, cmd, "token create needs --role ROLE "
					    "(Administrator, Reviewer or Auditor)"));
	if (cmd_connect(c) == -1)
		return (JOBCTL_EXIT_ERROR);
	pk = rpc_begin(c->rpc, MSG_CTL_TOKEN_CREATE);
	msgpack_pack_map(pk, 2);
	ipc_pack_kv_str(pk, "name", pos[0]);
	ipc_pack_kv_str(pk, "role", role);
	if ((rv = cmd_call(c, pos[0], JOBCTL_TIMEOUT_MS, &body)) != 0)
		return (rv);
	if (ipc_get_str(body, "token", &token, &tlen) != 0 || tlen == 0)
		return (cmd_bad_reply(c, "no token"));
	if (ipc_get_strbuf(body, "name", name, sizeof(name)) != 0)
		snprintf(name, sizeof(name), "%s", pos[0]);
	if (ipc_get_strbuf(body, "role", rname, sizeof(rname)) != 0)
		snprintf(rname, sizeof(rname), "%s", role);
	if (c->json) {
		g = out_json_new();
		yajl_gen_map_open(g);
		out_json_str(g, "name");
		out_json_str(g, name);
		out_json_str(g, "role");
		out_json_str(g, rname);
		out_json_str(g, "token");
		yajl_gen_string(g, (const unsigned char *)token, tlen);
		yajl_gen_map_close(g);
		out_json_print(c->out, g);
	} else {
		fprintf(c->out, "created token '%s' with role %s\n", name, rname);
		fprintf(c->out, "it is shown only this once; store it now:\n");
		fprintf(c->out, "%.*s\n", (int)tlen, token);
	}
	return (JOBCTL_EXIT_OK);
}

static int
token_list(struct ctl *c, const struct cmd *cmd, int argc, char **argv)
{
	const msgpack_object *body, *toks, *t;
	char name[TOKEN_NAME_BUF], role[32], created[40];
	const char *pos[MAX_POS];
	size_t npos, i;
	int64_t ms;
	yajl_gen g = NULL;
	int rv;

	if ((rv = parse_args(c, cmd, argc, argv, NULL, pos, 0, 0, &npos)) != 0)
		return (rv);
	if (cmd_connect(c) == -1)
		return (JOBCTL_EXIT_ERROR);
	msgpack_pack_map(rpc_begin(c->rpc, MSG_CTL_TOKEN_LIST), 0);
	if ((rv = cmd_call(c, NULL, JOBCTL_TIMEOUT_MS, &body)) != 0)
		return (rv);
	if ((toks = ipc_get(body, "tokens")) == NULL || toks->type != MSGPACK_OBJECT_ARRAY)
		return (cmd_bad_reply(c, "no tokens"));
	if (c->json) {
		g = out_json_new();
		yajl_gen_map_open(g);
		out_json_str(g, "tokens");
		yajl_gen_array_open(g);
	} else if (toks->via.array.size == 0)
		fprintf(c->out, "no tokens\n");
	else
		fprintf(c->out, "%-32s %-14s %s\n", "NAME", "ROLE", "CREATED");
	for (i = 0; i < toks->via.array.size; i++) {
		t = &toks->via.array.ptr[i];
		if (t->type != MSGPACK_OBJECT_MAP ||
		    ipc_get_strbuf(t, "name", name, sizeof(name)) != 0)
			continue;
		if (ipc_get_strbuf(t, "role", role, sizeof(role)) != 0)
			snprintf(role, sizeof(role), "-");
		if (ipc_get_int(t, "created_ms", &ms) == 0)
			time_format_rfc3339(ms, created, sizeof(created));
		else
			snprintf(created, sizeof(created), "-");
		if (c->json) {
			yajl_gen_map_open(g);
			out_json_str(g, "name");
			out_json_str(g, name);
			out_json_str(g, "role");
			out_json_str(g, role);
			out_json_str(g, "created_time");
			out_json_str(g, strcmp(created, "-") == 0 ? NULL : created);
			yajl_gen_map_close(g);
		} else
			fprintf(c->out, "%-32s %-14s %s\n", name, role, created);
	}
	if (c->json) {
		yajl_gen_array_close(g);
		yajl_gen_map_close(g);
		out_json_print(c->out, g);
	}
	return (JOBCTL_EXIT_OK);
}

static int
token_revoke(struct ctl *c, const struct cmd *cmd, int argc, char **argv)
{
	const msgpack_object *body;
	const char *pos[MAX_POS];
	msgpack_packer *pk;
	size_t npos;
	int rv;

	if ((rv = parse_args(c, cmd, argc, argv, NULL, pos, 1, 1, &npos)) != 0)
		return (rv);
	if (cmd_connect(c) == -1)
		return (JOBCTL_EXIT_ERROR);
	pk = rpc_begin(c->rpc, MSG_CTL_TOKEN_REVOKE);
	msgpack_pack_map(pk, 1);
	ipc_pack_kv_str(pk, "name", pos[0]);
	if ((rv = cmd_call(c, pos[0], JOBCTL_TIMEOUT_MS, &body)) != 0)
		return (rv);
	if (!c->json) /* like a REST DELETE, --json prints nothing */
		fprintf(c->out, "revoked token '%s'\n", pos[0]);
	return (JOBCTL_EXIT_OK);
}

static int
cmd_token(struct ctl *c, int argc, char **argv)
{
	static const struct cmd sub[] = {
		{"token create", "NAME --role ROLE", "", NULL},
		{"token list", "", "", NULL},
		{"token revoke", "NAME", "", NULL},
	};
	const struct cmd *cmd = cmd_find("token");

	if (argc < 2)
		return (usage_error(c, cmd, "token needs a subcommand"));
	if (strcmp(argv[1], "create") == 0)
		return (token_create(c, &sub[0], argc - 1, argv + 1));
	if (strcmp(argv[1], "list") == 0)
		return (token_list(c, &sub[1], argc - 1, argv + 1));
	if (strcmp(argv[1], "revoke") == 0)
		return (token_revoke(c, &sub[2], argc - 1, argv + 1));
	return (usage_error(c, cmd, "unknown token subcommand '%s'", argv[1]));
}

static int
cmd_ping(struct ctl *c, int argc, char **argv)
{
	const msgpack_object *body;
	const char *pos[MAX_POS];
	char version[64];
	int64_t pid = 0;
	size_t npos;
	yajl_gen g;
	int rv;

	if ((rv = parse_args(c, cmd_find("ping"), argc, argv, NULL, pos, 0, 0, &npos)) != 0)
		return (rv);
	if (cmd_connect(c) == -1)
		return (JOBCTL_EXIT_ERROR);
	msgpack_pack_map(rpc_begin(c->rpc, MSG_CTL_PING), 0);
	if ((rv = cmd_call(c, NULL, JOBCTL_TIMEOUT_MS, &body)) != 0)
		return (rv);
	(void)ipc_get_int(body, "pid", &pid);
	if (ipc_get_strbuf(body, "version", version, sizeof(version)) != 0)
		snprintf(version, sizeof(version), "unknown");
	if (c->json) {
		g = out_json_new();
		yajl_gen_map_open(g);
		out_json_str(g, "pid");
		yajl_gen_integer(g, (long long)pid);
		out_json_str(g, "version");
		out_json_str(g, version);
		yajl_gen_map_close(g);
		out_json_print(c->out, g);
	} else
		fprintf(c->out, "jobsd %s answering, pid %" PRId64 "\n", version, pid);
	return (JOBCTL_EXIT_OK);
}

static int
cmd_help(struct ctl *c, int argc, char **argv)
{
	const struct cmd *cmd;

	if (argc > 1 && (cmd = cmd_find(argv[1])) != NULL) {
		fprintf(c->out, "usage: jobctl %s %s\n  %s\n", cmd->name, cmd->args, cmd->help);
		return (JOBCTL_EXIT_OK);
	}
	cmd_usage(c->out);
	return (JOBCTL_EXIT_OK);
}

int
cmd_run(struct ctl *c, int argc, char **argv)
{
	const struct cmd *cmd;
	int i;

	if (argc < 1) {
		cmd_usage(c->err);
		return (JOBCTL_EXIT_USAGE);
	}
	if ((cmd = cmd_find(argv[0])) == NULL) {
		fprintf(c->err, "jobctl: unknown command '%s' (try 'jobctl help')\n", argv[0]);
		return (JOBCTL_EXIT_USAGE);
	}
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fprintf(c->out, "usage: jobctl %s %s\n  %s\n", cmd->name, cmd->args,
				cmd->help);
			return (JOBCTL_EXIT_OK);
		}
	}
	return (cmd->fn(c, argc, argv));
}
