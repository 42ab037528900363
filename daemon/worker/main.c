/*
 * main.c: jobsd-worker, one process per job. The supervisor fork+execs it with a
 * socketpair on fd 3 (WORKER_IPC_FD). The worker says hello, receives its job and
 * configuration, opens the store, runs the job, reports steps, progress and log lines as
 * it goes, and ends with a result message (ipc/PROTOCOL.md). A cancel request is honoured
 * at the next batch boundary; if the supervisor goes away (EOF on fd 3) the worker aborts
 * its open transaction and exits WEXIT_BAD_IPC; PR_SET_PDEATHSIG kills it as a last resort.
 */
#include <sys/prctl.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chksum.h"
#include "ipc.h"
#include "jobctx.h"
#include "log.h"
#include "peak_rss.h"
#include "store.h"
#include "timeutil.h"

#define WORKER_START_TIMEOUT_MS 60000
/* A job's messages of its first moments go out together (worker_queue). */
#define WORKER_HOLD_MS 20

struct worker {
	int fd;
	struct ipc_reader rd;
	struct ipc_writer wr;
	bool gone;   /* the supervisor went away */
	bool cancel; /* MSG_JOB_CANCEL received */
	bool idle;   /* started ahead of a job, none given yet: going away is not an error */
	int64_t hold_until; /* monotonic ms: messages queued before then may wait */
};

static void
worker_send(struct worker *w)
{
	if (!w->gone && ipc_write_all(w->fd, w->wr.buf.data, w->wr.buf.size) == -1) {
		if (!w->idle)
			log_warn("supervisor socket");
		w->gone = true;
	}
	ipc_writer_reset(&w->wr);
}

/* Send what waits once the hold is over (also at cancel checks and row ticks). */
static void
worker_release(struct worker *w)
{
	if (w->hold_until != 0 && time_monotonic_ms() >= w->hold_until) {
		w->hold_until = 0;
		if (w->wr.buf.size > 0)
			worker_send(w);
	}
}

/*
 * Queue the message just packed. During the first WORKER_HOLD_MS of a job its steps,
 * progress and log lines wait in the buffer: a job that ends by then (an empty sync) sends
 * them with its result in one write, and the supervisor wakes once, not ten times. After
 * that every message goes out at once, and so does what waited, at the first message,
 * cancel check or row tick (every job makes those regularly: cancels are honoured
 * between batches).
 */
static void
worker_queue(struct worker *w)
{
	if (w->hold_until == 0)
		worker_send(w);
	else
		worker_release(w);
}

/* Read whatever the supervisor sent, without blocking. */
static void
worker_poll(struct worker *w)
{
	struct ipc_msg m;
	char *cause = NULL;
	enum ipc_next rc;

	while (!w->gone) {
		rc = ipc_read_msg(w->fd, &w->rd, &m, 0, &cause);
		if (rc == IPC_NEED_MORE)
			return;
		if (rc == IPC_BAD) {
			log_warnx("supervisor went away: %s", cause ? cause : "?");
			free(cause);
			w->gone = true;
			return;
		}
		if (m.type == MSG_JOB_CANCEL) {
			if (!w->cancel)
				log_info("cancel requested");
			w->cancel = true;
		} else
			log_debug("ignoring message type %u", m.type);
	}
}

static void
cb_step(struct job_ctx *ctx, const char *step, int64_t total)
{
	struct worker *w = ctx->arg;
	msgpack_packer *pk;

	pk = ipc_begin(&w->wr, MSG_JOB_STEP, 0);
	msgpack_pack_map(pk, 2);
	ipc_pack_kv_str(pk, "step", step);
	ipc_pack_str(pk, "total");
	if (total == JOB_NULL)
		msgpack_pack_nil(pk);
	else
		msgpack_pack_int64(pk, total);
	ipc_end(&w->wr);
	worker_queue(w);
}

static void
pack_counters(msgpack_packer *pk, const struct job_ctx *ctx)
{
	ipc_pack_kv_int(pk, "processed", ctx->processed);
	ipc_pack_str(pk, "total");
	if (ctx->total == JOB_NULL)
		msgpack_pack_nil(pk);
	else
		msgpack_pack_int64(pk, ctx->total);
	ipc_pack_kv_int(pk, "created", ctx->created);
	ipc_pack_kv_int(pk, "updated", ctx->updated);
	ipc_pack_kv_int(pk, "deleted", ctx->deleted);
	ipc_pack_str(pk, "progress");
	if (ctx->progress < 0)
		msgpack_pack_nil(pk);
	else
		msgpack_pack_int(pk, ctx->progress > 100 ? 100 : ctx->progress);
}

static void
cb_progress(struct job_ctx *ctx)
{
	struct worker *w = ctx->arg;
	msgpack_packer *pk;

	worker_poll(w);
	if (w->gone) {
		ctx->aborted = true;
		return;
	}
	pk = ipc_begin(&w->wr, MSG_JOB_PROGRESS, 0);
	msgpack_pack_map(pk, 6);
	pack_counters(pk, ctx);
	ipc_end(&w->wr);
	worker_queue(w);
}

static void
cb_log(struct job_ctx *ctx, int level, const char *text)
{
	struct worker *w = ctx->arg;
	msgpack_packer *pk;

	pk = ipc_begin(&w->wr, MSG_JOB_LOG, 0);
	msgpack_pack_map(pk, 2);
	ipc_pack_kv_int(pk, "level", level);
	ipc_pack_kv_str(pk, "text", text);
	ipc_end(&w->wr);
	worker_queue(w);
}

static bool
cb_cancelled(struct job_ctx *ctx)
{
	struct worker *w = ctx->arg;

	worker_poll(w);
	worker_release(w);
	if (w->gone)
		ctx->aborted = true;
	return w->cancel || w->gone;
}

static void
cb_tick(struct job_ctx *ctx)
{
	struct worker *w = ctx->arg;

	worker_poll(w);
	worker_release(w);
	if (w->gone)
		ctx->aborted = true;
}

static void
send_result(struct worker *w, const struct job_ctx *ctx, bool ok, bool cancelled,
    const char *error)
{
	msgpack_packer *pk;
	int64_t rss = peak_rss_kb();

	pk = ipc_begin(&w->wr, MSG_JOB_RESULT, 0);
	msgpack_pack_map(pk, 10);
	ipc_pack_kv_bool(pk, "ok", ok);
	ipc_pack_kv_bool(pk, "cancelled", cancelled);
	ipc_pack_kv_str(pk, "error", error);
	pack_counters(pk, ctx);
	ipc_pack_str(pk, "max_rss_kb");
	if (rss < 0)
		msgpack_pack_nil(pk);
	else
		msgpack_pack_int64(pk, rss);
	ipc_end(&w->wr);
	worker_send(w);
}

static int
conf_str(const msgpack_object *c, const char *key, char *out, size_t len, char **cause)
{
	if (ipc_get_strbuf(c, key, out, len) == -1) {
		*cause = xasprintf("config.%s: not a string", key);
		return -1;
	}
	return 0;
}

static int
conf_int(const msgpack_object *c, const char *key, int min, int max, int *out,
    char **cause)
{
	int64_t v;
	int rv;

	if ((rv = ipc_get_int(c, key, &v)) == 1)
		return 0;
	if (rv == -1 || v < min || v > max) {
		*cause = xasprintf("config.%s: not an integer in %d..%d", key, min, max);
		return -1;
	}
	*out = (int)v;
	return 0;
}

/* MSG_JOB_START body -> job and configuration. */
static int
parse_start(const msgpack_object *body, struct job *j, struct worker_conf *conf,
    char **cause)
{
	const msgpack_object *jo, *c;

	if ((jo = ipc_get(body, "job")) == NULL) {
		*cause = xstrdup("job start without a job");
		return -1;
	}
	if (job_unpack(jo, j, cause) != 0)
		return -1;
	if ((c = ipc_get(body, "config")) == NULL || c->type != MSGPACK_OBJECT_MAP) {
		*cause = xstrdup("job start without a config map");
		return -1;
	}
	memset(conf, 0, sizeof *conf);
	conf->max_delete_percent = 20;
	conf->progress_interval_ms = 250;
	if (conf_str(c, "data_dir", conf->data_dir, sizeof conf->data_dir, cause) != 0 ||
	    conf_str(c, "source_name", conf->source_name, sizeof conf->source_name,
	    cause) != 0 ||
	    conf_str(c, "source_type", conf->source_type, sizeof conf->source_type,
	    cause) != 0 ||
	    conf_str(c, "source_path", conf->source_path, sizeof conf->source_path,
	    cause) != 0 ||
	    conf_str(c, "manager_ref", conf->manager_ref, sizeof conf->manager_ref,
	    cause) != 0 ||
	    conf_str(c, "policy_file", conf->policy_file, sizeof conf->policy_file,
	    cause) != 0 ||
	    conf_int(c, "max_delete_percent", 0, 100, &conf->max_delete_percent,
	    cause) != 0 ||
	    conf_int(c, "progress_interval_ms", 0, 3600000, &conf->progress_interval_ms,
	    cause) != 0)
		return -1;
	if (*conf->data_dir == '\0') {
		*cause = xstrdup("config.data_dir is missing");
		return -1;
	}
	return 0;
}

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: jobsd-worker\n"
	    "jobsd-worker is started by jobsd with its IPC socket on fd %d; it is not run "
	    "by hand.\n", WORKER_IPC_FD);
	exit(WEXIT_USAGE);
}

/* `jobsd-worker --checkpoint DATA_DIR`: the supervisor's periodic checkpoint, run in a
 * short-lived child so that writing the cache's dirty pages never stalls its loop. Not a
 * job: no IPC. Exit 0, or 1 if the store cannot be opened or the checkpoint failed. */
static int
checkpoint_main(const char *data_dir)
{
	struct store *s = NULL;
	char *cause = NULL;
	int rv;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	log_init("jobsd-worker[checkpoint]", 1, LOG_LVL_INFO);
	if (store_open(data_dir, STORE_WORKER, &s, &cause) != 0) {
		log_warnx("checkpoint: %s", cause);
		free(cause);
		return (1);
	}
	rv = store_checkpoint(s) == 0 ? 0 : 1;
	store_close(s);
	return (rv);
}

int
main(int argc, char **argv)
{
	struct worker w;
	struct job job;
	struct worker_conf conf;
	struct job_ctx ctx;
	struct store *store = NULL;
	struct ipc_msg m;
	msgpack_packer *pk;
	const char *jid, *early_dir;
	char label[64], idbuf[32], *cause = NULL, *error = NULL;
	enum ipc_next rc;
	bool warm;
	int rv;

	chksum_init();
	if (argc == 3 && strcmp(argv[1], "--checkpoint") == 0)
		return (checkpoint_main(argv[2]));
	if (argc > 1 || fcntl(WORKER_IPC_FD, F_GETFD) == -1)
		usage();
	(void)argv;
	/* Die with the supervisor, whatever else happens. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);

	jid = getenv(WORKER_JOB_ENV);
	snprintf(label, sizeof label, "jobsd-worker[%s]", jid != NULL ? jid : "?");
	log_init(label, 1, LOG_LVL_INFO);

	memset(&w, 0, sizeof w);
	w.fd = WORKER_IPC_FD;
	ipc_reader_init(&w.rd);
	ipc_writer_init(&w.wr);
	job_init(&job);

	/* Join the store while the supervisor makes the job's start durable (its START
	 * waits for that flush); the START's data_dir stays authoritative below. */
	if ((early_dir = getenv(WORKER_DATA_DIR_ENV)) != NULL && *early_dir != '\0' &&
	    store_open(early_dir, STORE_WORKER, &store, &cause) != 0) {
		free(cause);
		cause = NULL;
		store = NULL;
	}

	/* Started ahead of its job (the supervisor's warm.c): wait as long as it takes; a
	 * closed socket means no job is coming, which is not an error. */
	warm = getenv(WORKER_WARM_ENV) != NULL;
	w.idle = warm;
	pk = ipc_begin(&w.wr, MSG_WORKER_HELLO, 0);
	msgpack_pack_map(pk, 1);
	ipc_pack_kv_int(pk, "pid", getpid());
	ipc_end(&w.wr);
	worker_send(&w);
	if (w.gone && warm)
		goto released;
	if (w.gone)
		goto bad_ipc;

	rc = ipc_read_msg(w.fd, &w.rd, &m, warm ? -1 : WORKER_START_TIMEOUT_MS, &cause);
	if (rc == IPC_BAD && warm && w.rd.len == 0) {
		free(cause);
		goto released;
	}
	w.idle = false;
	if (rc != IPC_MSG) {
		log_warnx("no job from the supervisor: %s", cause ? cause : "timed out");
		goto bad_ipc;
	}
	if (m.type != MSG_JOB_START) {
		log_warnx("expected a job start, got message type %u", m.type);
		goto bad_ipc;
	}
	if (parse_start(&m.body, &job, &conf, &cause) != 0) {
		log_warnx("bad job start: %s", cause);
		goto bad_ipc;
	}
	w.hold_until = time_monotonic_ms() + WORKER_HOLD_MS;
	job_id_format(job.no, idbuf);
	snprintf(label, sizeof label, "jobsd-worker[%s]", idbuf);
	log_init(label, 1, LOG_LVL_INFO);
	log_info("starting %s (source %s at %s)", job_type_name(job.type),
	    *conf.source_name ? conf.source_name : "-", *conf.source_path ?
	    conf.source_path : "-");

	if (store != NULL && strcmp(store_data_dir(store), conf.data_dir) != 0) {
		store_close(store);
		store = NULL;
	}
	if (store == NULL &&
	    store_open(conf.data_dir, STORE_WORKER, &store, &cause) != 0) {
		log_warnx("cannot open the store in %s: %s", conf.data_dir, cause);
		exit(WEXIT_STORE);
	}

	if (job_ctx_init(&ctx, store, &job, &conf, &cause) != 0) {
		memset(&ctx, 0, sizeof ctx);
		ctx.total = JOB_NULL;
		send_result(&w, &ctx, false, false, cause);
		free(cause);
		goto done;
	}
	ctx.on_step = cb_step;
	ctx.on_progress = cb_progress;
	ctx.on_log = cb_log;
	ctx.on_cancelled = cb_cancelled;
	ctx.on_tick = cb_tick;
	ctx.arg = &w;

	rv = job_run(&ctx, &error);
	if (ctx.aborted || w.gone) {
		log_warnx("supervisor went away; stopping");
		free(error);
		store_close(store);
		exit(WEXIT_BAD_IPC);
	}
	switch (rv) {
	case JOB_RUN_OK:
		log_info("completed: %lld processed, %lld created, %lld updated, %lld deleted",
		    (long long)ctx.processed, (long long)ctx.created, (long long)ctx.updated,
		    (long long)ctx.deleted);
		send_result(&w, &ctx, true, false, NULL);
		break;
	case JOB_RUN_CANCELLED:
		log_info("cancelled");
		send_result(&w, &ctx, false, true, NULL);
		break;
	default:
		log_warnx("failed: %s", error);
		send_result(&w, &ctx, false, false, error);
		break;
	}
	free(error);
done:
	store_close(store);
	job_free(&job);
	ipc_reader_destroy(&w.rd);
	ipc_writer_destroy(&w.wr);
	return w.gone ? WEXIT_BAD_IPC : WEXIT_OK;

released:
	/* Started ahead of a job that went to another worker, or the daemon stops. */
	store_close(store);
	job_free(&job);
	ipc_reader_destroy(&w.rd);
	ipc_writer_destroy(&w.wr);
	return (WEXIT_OK);

bad_ipc:
	/* Leave the environment the early join entered (its thread slot) before going. */
	if (store != NULL)
		store_close(store);
	exit(WEXIT_BAD_IPC);
}
