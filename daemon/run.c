/* run.c: one running job and its worker: start (posix_spawn, the job recorded running
 * durably), the worker's messages (progress coalesced into non-durable commits, log lines to
 * the store), cancel (durable request, MSG_JOB_CANCEL, SIGKILL after the grace), reaping
 * (wait4 for cpu time and peak memory) and the final state, committed durably before any
 * waiting client is answered. */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobsd.h"
#include "timeutil.h"

static void run_start_timer_cb(struct ev_loop *, ev_timer *, int);
static void run_kill_timer_cb(struct ev_loop *, ev_timer *, int);
static void run_flush_timer_cb(struct ev_loop *, ev_timer *, int);
static void run_finish(struct run *);

static const char *
job_label(uint64_t no)
{
	static char buf[32];

	job_id_format(no, buf);
	return (buf);
}

void
run_kill(struct run *r, int sig)
{
	if (r->pid > 0 && !r->exited) {
		/* a kill can follow a cancel request: the request is durable first */
		if (commit_pending(r->jsd))
			commit_flush(r->jsd);
		if (kill(-r->pid, sig) == -1 && errno == ESRCH)
			kill(r->pid, sig);
		if (sig == SIGKILL)
			r->killed = true;
	}
}

/* --- worker messages ------------------------------------------------------ */

static void
pack_kv_source(msgpack_packer *pk, const struct source_conf *s)
{
	ipc_pack_kv_str(pk, "source_name", s != NULL ? s->name : NULL);
	ipc_pack_kv_str(pk, "source_type", s != NULL ? s->type : NULL);
	ipc_pack_kv_str(pk, "source_path", s != NULL ? s->path : NULL);
	ipc_pack_kv_str(pk, "manager_ref", s != NULL ? s->manager_ref : NULL);
}

static int
run_send_start(struct run *r)
{
	struct jobsd *jsd = r->jsd;
	const struct config *c = &jsd->conf;
	msgpack_packer *pk;

	pk = ipc_begin(&jsd->w, MSG_JOB_START, 0);
	msgpack_pack_map(pk, 2);
	ipc_pack_str(pk, "job");
	job_pack(pk, &r->job);
	ipc_pack_str(pk, "config");
	msgpack_pack_map(pk, 8);
	ipc_pack_kv_str(pk, "data_dir", c->data_dir);
	pack_kv_source(pk, config_source(c, job_param_get(&r->job, "source")));
	ipc_pack_kv_int(pk, "max_delete_percent", c->max_delete_percent);
	ipc_pack_kv_int(pk, "progress_interval_ms", c->progress_interval_ms);
	ipc_pack_kv_str(pk, "policy_file", c->policy_file[0] != '\0' ? c->policy_file : NULL);
	if (ipc_end(&jsd->w) == -1) {
		ipc_writer_reset(&jsd->w);
		return (-1);
	}
	/* Not held for the flush of the job's running transition, unlike what reports a
	 * transition (commit.c): the START reports nothing, and whatever the worker commits
	 * follows that transition in the log. A crash cannot keep the job's writes and lose
	 * its start: a flush, a page write-back and recovery all keep a prefix of the log. */
	if (r->peer == NULL || r->out.queued)
		return (commit_send(jsd, &r->out, r->peer, &jsd->w));
	return (ipc_peer_send(r->peer, &jsd->w));
}

int
run_send_cancel(struct run *r)
{
	struct jobsd *jsd = r->jsd;
	msgpack_packer *pk;

	if (r->peer == NULL || !r->hello)
		return (-1);
	pk = ipc_begin(&jsd->w, MSG_JOB_CANCEL, 0);
	msgpack_pack_map(pk, 0);
	if (ipc_end(&jsd->w) == -1) {
		ipc_writer_reset(&jsd->w);
		return (-1);
	}
	return (commit_send(jsd, &r->out, r->peer, &jsd->w));
}

static void
run_flush(struct run *r)
{
	char *cause = NULL;

	r->dirty = false;
	r->last_flush_ms = time_monotonic_ms();
	if (r->jsd->recovering || r->jsd->store == NULL)
		return; /* the store is being recovered */
	if (store_job_put(r->jsd->store, &r->job, false, &cause) != 0) {
		log_warnx("%s: progress commit: %s", job_label(r->job.no), cause);
		free(cause);
		if (store_panicked(r->jsd->store) && !r->jsd->stopping)
			recovery_begin(r->jsd, "the store panicked recording progress");
	}
}

static void
run_dirty(struct run *r)
{
	int64_t now = time_monotonic_ms(), wait;

	r->dirty = true;
	if (ev_is_active(&r->flush_timer))
		return;
	wait = r->last_flush_ms + r->jsd->conf.progress_interval_ms - now;
	if (wait <= 0) {
		run_flush(r);
		return;
	}
	ev_timer_set(&r->flush_timer, (double)wait / 1000.0, 0.0);
	ev_timer_start(r->jsd->loop, &r->flush_timer);
}

static void
run_flush_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *r = w->data;

	if (r->dirty)
		run_flush(r);
}

/* Absolute counters; -1 on a wrong type. */
static int
get_counters(struct run *r, const msgpack_object *b)
{
	struct job *j = &r->job;
	int64_t processed = JOB_NULL, total = JOB_NULL, created = JOB_NULL, updated = JOB_NULL,
		deleted = JOB_NULL, pct = JOB_NULL;

	if (ipc_get_int(b, "processed", &processed) == -1 ||
	    ipc_get_int(b, "total", &total) == -1 ||
	    ipc_get_int(b, "created", &created) == -1 ||
	    ipc_get_int(b, "updated", &updated) == -1 ||
	    ipc_get_int(b, "deleted", &deleted) == -1 ||
	    ipc_get_int(b, "progress", &pct) == -1)
		return (-1);
	if (processed != JOB_NULL && processed >= 0)
		j->records_processed = processed;
	if (total != JOB_NULL && total >= 0)
		j->total_records = total;
	if (created != JOB_NULL && created >= 0)
		j->records_created = created;
	if (updated != JOB_NULL && updated >= 0)
		j->records_updated = updated;
	if (deleted != JOB_NULL && deleted >= 0)
		j->records_deleted = deleted;
	if (pct != JOB_NULL && pct >= 0) {
		/* The worker's own estimate (jobs with phases that do not move processed);
		 * never backwards. */
		if (pct > 100)
			pct = 100;
		if ((int)pct > j->progress)
			j->progress = (int)pct;
		if (j->progress == 100 && !r->have_result)
			j->progress = 99;
	} else if (j->total_records != JOB_NULL && j->total_records > 0 &&
	    j->records_processed != JOB_NULL) {
		int64_t pc = j->records_processed * 100 / j->total_records;
		j->progress = pc < 0 ? 0 : pc > 100 ? 100 : (int)pc;
		/* 100 only once the job has completed */
		if (j->progress == 100 && !r->have_result)
			j->progress = 99;
	}
	return (0);
}

static void
run_protocol_error(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
run_protocol_error(struct run *r, const char *fmt, ...)
{
	va_list ap;
	char msg[256];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("%s: worker %ld: %s", job_label(r->job.no), (long)r->pid, msg);
	if (r->peer_error == NULL)
		r->peer_error = xasprintf("worker protocol error: %s", msg);
	run_kill(r, SIGKILL);
}

static void
on_worker_msg(struct ipc_peer *p, const struct ipc_msg *m, void *arg)
{
	struct run *r = arg;
	struct job *j = &r->job;
	char step[JOB_STEP_MAX], *cause = NULL;
	const char *text;
	size_t len;
	int64_t level = LOG_LVL_INFO, total = JOB_NULL, rss = JOB_NULL;
	bool ok = false, cancelled = false;
	int rc;

	if (r->peer_error != NULL || r->have_result)
		return; /* being killed, or done: ignore the rest */
	if (!r->hello && m->type != MSG_WORKER_HELLO) {
		run_protocol_error(r, "message %u before hello", m->type);
		return;
	}
	switch (m->type) {
	case MSG_WORKER_HELLO:
		if (r->hello)
			return;
		r->hello = true;
		ev_timer_stop(r->jsd->loop, &r->start_timer);
		/* Cancelled, or the daemon is stopping, while it joined the store: now that it
		 * only waits for its job, it can be killed safely. */
		if (j->cancel_requested || r->jsd->stopping) {
			run_kill(r, SIGKILL);
			return;
		}
		if (run_send_start(r) == -1)
			run_protocol_error(r, "cannot send the job");
		break;
	case MSG_JOB_STEP:
		rc = ipc_get_strbuf(&m->body, "step", step, sizeof(step));
		if (rc == -1 || ipc_get_int(&m->body, "total", &total) == -1) {
			run_protocol_error(r, "bad step message");
			return;
		}
		if (rc == 0)
			snprintf(j->current_step, sizeof(j->current_step), "%s", step);
		if (total != JOB_NULL && total >= 0)
			j->total_records = total;
		run_dirty(r);
		break;
	case MSG_JOB_PROGRESS:
		if (get_counters(r, &m->body) == -1) {
			run_protocol_error(r, "bad progress message");
			return;
		}
		run_dirty(r);
		break;
	case MSG_JOB_LOG:
		if (ipc_get_int(&m->body, "level", &level) == -1 ||
		    ipc_get_str(&m->body, "text", &text, &len) != 0) {
			run_protocol_error(r, "bad log message");
			return;
		}
		if (level < LOG_LVL_ERR || level > LOG_LVL_DEBUG)
			level = LOG_LVL_INFO;
		{
			char *t = xstrndup(text, len);
			if (!r->jsd->recovering && store_job_log_append(r->jsd->store, j->no, time_now_ms(), (int)level,
						 t, &cause) != 0) {
				log_warnx("%s: log append: %s", job_label(j->no), cause);
				free(cause);
			}
			log_debug("%s: %s", job_label(j->no), t);
			free(t);
		}
		break;
	case MSG_JOB_RESULT:
		if (ipc_get_int(&m->body, "max_rss_kb", &rss) == -1 ||
		    ipc_get_bool(&m->body, "ok", &ok) == -1 ||
		    ipc_get_bool(&m->body, "cancelled", &cancelled) == -1 ||
		    ipc_get_str(&m->body, "error", &text, &len) == -1 ||
		    get_counters(r, &m->body) == -1) {
			run_protocol_error(r, "bad result message");
			return;
		}
		r->have_result = true;
		r->result_ms = time_now_ms();
		r->result_ok = ok;
		r->result_cancelled = cancelled;
		r->result_rss_kb = rss >= 0 ? rss : JOB_NULL;
		if (ipc_get_str(&m->body, "error", &text, &len) == 0)
			r->result_error = xstrndup(text, len);
		/* The job has ended (the worker only closes the store and exits now): its slot
		 * is free for the next one; its end is recorded once the worker is reaped, and
		 * a worker that does not exit is killed. */
		ev_timer_stop(r->jsd->loop, &r->start_timer);
		ev_timer_set(&r->start_timer, WORKER_EXIT_MS / 1000.0, 0.0);
		ev_timer_start(r->jsd->loop, &r->start_timer);
		supervisor_schedule(r->jsd);
		break;
	default:
		run_protocol_error(r, "unexpected message type %u", m->type);
		break;
	}
}

static void
run_schedule_finish(struct run *r)
{
	ev_timer_stop(r->jsd->loop, &r->start_timer);
	ev_timer_set(&r->start_timer, 0.0, 0.0);
	ev_timer_start(r->jsd->loop, &r->start_timer);
}

static void
on_worker_close(struct ipc_peer *p, const char *reason, void *arg)
{
	struct run *r = arg;

	log_debug("%s: worker connection closed: %s", job_label(r->job.no), reason);
	ipc_peer_free(p);
	r->peer = NULL;
	r->peer_closed = true;
	ev_timer_stop(r->jsd->loop, &r->start_timer);
	if (r->exited)
		run_schedule_finish(r);
	else {
		/* the process should follow; kill it if it lingers */
		ev_timer_set(&r->start_timer, WORKER_LINGER_MS / 1000.0, 0.0);
		ev_timer_start(r->jsd->loop, &r->start_timer);
	}
}

static void
run_start_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *r = w->data;

	if (r->exited) {
		run_finish(r);
		return;
	}
	if (!r->hello && !r->peer_closed) {
		log_warnx("%s: worker %ld did not say hello within %d ms", job_label(r->job.no),
			  (long)r->pid, r->jsd->conf.worker_start_timeout_ms);
		r->start_timed_out = true;
	} else if (r->have_result && !r->peer_closed)
		log_warnx("%s: worker %ld did not exit within %d ms of its result",
			  job_label(r->job.no), (long)r->pid, WORKER_EXIT_MS);
	else
		log_warnx("%s: worker %ld closed its socket but did not exit",
			  job_label(r->job.no), (long)r->pid);
	run_kill(r, SIGKILL);
}

static void
run_kill_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *r = w->data;

	log_info("%s: worker %ld still running after the grace period: killing it",
		 job_label(r->job.no), (long)r->pid);
	run_kill(r, SIGKILL);
}

/* The worker exited and its socket is closed (or lingered): record the end. */
static void
run_finish(struct run *r)
{
	struct jobsd *jsd = r->jsd;
	struct job *j = &r->job;
	char desc[128], *cause = NULL;
	bool abnormal;

	ev_timer_stop(jsd->loop, &r->start_timer);
	ev_timer_stop(jsd->loop, &r->kill_timer);
	ev_timer_stop(jsd->loop, &r->flush_timer);
	if (r->peer != NULL) {
		ipc_peer_free(r->peer);
		r->peer = NULL;
	}
	abnormal = WIFSIGNALED(r->wstatus) ||
		   (WIFEXITED(r->wstatus) && WEXITSTATUS(r->wstatus) != 0);
	worker_exit_describe(r->wstatus, desc, sizeof(desc));

	if (r->have_result && r->result_ok && !r->result_cancelled) {
		j->status = JOB_COMPLETED;
		j->progress = 100;
		job_set_error(j, NULL);
	} else if (jsd->stopping && !j->cancel_requested) {
		/* told to stop by us, not by a user: whatever it answered */
		j->status = JOB_FAILED;
		job_set_error(j, "interrupted: daemon stopped");
	} else if (jsd->recovering && !j->cancel_requested) {
		/* stopped by us for the store recovery (recovery.c) */
		j->status = JOB_FAILED;
		job_set_error(j, RECOVERY_REASON);
	} else if ((r->have_result && r->result_cancelled) || j->cancel_requested) {
		j->status = JOB_CANCELLED;
	} else if (r->have_result) {
		j->status = JOB_FAILED;
		job_set_error(j, r->result_error != NULL ? r->result_error : "job failed");
	} else if (r->start_timed_out) {
		j->status = JOB_FAILED;
		job_set_error(j, "worker did not start");
	} else {
		j->status = JOB_FAILED;
		job_set_error(j, r->peer_error != NULL ? r->peer_error : desc);
	}
	j->end_ms = r->have_result ? r->result_ms : time_now_ms();
	if (j->start_ms != JOB_NULL && j->end_ms < j->start_ms)
		j->end_ms = j->start_ms;
	j->cpu_ms = r->cpu_ms;
	/* The worker's own figure when it sent one: wait4's includes the supervisor's peak,
	 * which the spawned child shared until its exec (peak_rss.c). Without a result, that
	 * upper bound is all there is. */
	j->max_rss_kb =
	    r->have_result && r->result_rss_kb != JOB_NULL ? r->result_rss_kb : r->max_rss_kb;
	j->worker_pid = JOB_NULL;
	log_info("%s: %s %s%s%s (worker %ld %s)", job_label(j->no), job_type_name(j->type),
		 job_status_name(j->status), j->error != NULL ? ": " : "",
		 j->error != NULL ? j->error : "", (long)r->pid, desc);
	/* A worker that died may have died inside Berkeley DB: release what it held before
	 * touching the store (its mutexes could block us); if that is not enough, recover
	 * in place (recovery.c) and record this end afterwards. */
	if (abnormal && (!r->have_result || r->killed) && !jsd->stopping && !jsd->recovering &&
	    store_failchk(jsd->store, &cause) != 0) {
		log_warnx("worker %ld died inside the store: %s", (long)r->pid, cause);
		free(cause);
		cause = NULL;
		recovery_begin(jsd, "a worker died inside Berkeley DB");
	}
	if (jsd->recovering || (jsd->stopping && jsd->store == NULL))
		recovery_defer(jsd, j, &r->waiters);
	else {
		if (commit_job_put(jsd, j, &cause) != 0) {
			log_warnx("%s: cannot record the end of the job: %s", job_label(j->no),
				  cause);
			free(cause);
			cause = NULL;
			if (store_panicked(jsd->store) && !jsd->stopping) {
				/* recorded, and its waiters answered, after the recovery */
				recovery_begin(jsd, "the store panicked recording a job's end");
				recovery_defer(jsd, j, &r->waiters);
			} else /* not recorded: no one is told it was cancelled */
				run_answer_waiters_failed(&r->waiters, j);
		} else
			run_answer_waiters(&r->waiters, j);
	}
	TAILQ_REMOVE(&jsd->runs, r, entry);
	jsd->nruns--;
	commit_outq_forget(jsd, &r->out);
	job_free(j);
	free(r->result_error);
	free(r->peer_error);
	free(r);
	supervisor_schedule(jsd);
	supervisor_maybe_exit(jsd);
	recovery_check(jsd);
}

void
run_answer_waiters_failed(struct waiter_list *waiters, const struct job *j)
{
	struct waiter *wt;

	while ((wt = TAILQ_FIRST(waiters)) != NULL) {
		TAILQ_REMOVE(waiters, wt, entry);
		reply_fail(wt->client, wt->id, 500, IPC_ERR_INTERNAL, NULL,
			   "job %s ended but its end could not be recorded", job_label(j->no));
		control_request_done(wt->client);
		free(wt);
	}
}

void
run_answer_waiters(struct waiter_list *waiters, const struct job *j)
{
	struct waiter *wt;

	while ((wt = TAILQ_FIRST(waiters)) != NULL) {
		TAILQ_REMOVE(waiters, wt, entry);
		if (j->status == JOB_CANCELLED)
			reply_job(wt->client, wt->id, j);
		else
			reply_fail(wt->client, wt->id, 409, IPC_ERR_CONFLICT, NULL,
				   "job %s already %s", job_label(j->no), job_status_name(j->status));
		control_request_done(wt->client);
		free(wt);
	}
}

/* --- starting --------------------------------------------------------------- */


/* Out of descriptors, processes or memory: worth another try rather than failing. */
static bool
transient(int error)
{
	return (error == EMFILE || error == ENFILE || error == EAGAIN || error == ENOMEM);
}

/* -1 when the start should be retried later (the job stays first in line). */
int
run_start(struct jobsd *jsd, struct pend *p)
{
	struct run *r;
	struct job *j;
	char env[64], denv[PATH_MAX + 32], *cause = NULL;
	const char *envv[3] = {env, denv, NULL};
	char *argv[] = {(char *)"jobsd-worker", NULL};
	int sv[2], error = 0;
	pid_t pid = -1;

	snprintf(env, sizeof(env), "%s=%s", WORKER_JOB_ENV, job_label(p->job.no));
	/* The worker joins the store while this job's start is being made durable. */
	snprintf(denv, sizeof(denv), "%s=%s", WORKER_DATA_DIR_ENV, jsd->conf.data_dir);
	if (warm_take(jsd, &pid, &sv[0])) {
		/* exec'd ahead of this job (warm.c): joined, its hello waiting */
	} else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		error = errno;
		cause = xasprintf("socketpair: %s", strerror(errno));
	} else {
		pid = spawn_child(jsd->worker_path, argv, sv[1], NULL, 0, envv, &cause);
		error = errno;
		close(sv[1]);
		if (pid == -1)
			close(sv[0]);
	}
	if (pid == -1 && transient(error)) {
		log_warnx("%s: cannot start a worker now (%s); retrying in %.0f s",
			  job_label(p->job.no), cause, SPAWN_RETRY_S);
		free(cause);
		ev_timer_set(&jsd->retry_timer, SPAWN_RETRY_S, 0.0);
		ev_timer_start(jsd->loop, &jsd->retry_timer);
		return (-1);
	}

	r = xcalloc(1, sizeof(*r));
	r->jsd = jsd;
	TAILQ_INIT(&r->waiters);
	r->job = p->job; /* moved */
	job_init(&p->job);
	supervisor_dequeue(jsd, p);
	j = &r->job;
	j->start_ms = time_now_ms();
	if (pid == -1) {
		log_warnx("%s: cannot start a worker: %s", job_label(j->no), cause);
		j->status = JOB_FAILED;
		j->end_ms = j->start_ms;
		j->start_ms = JOB_NULL;
		{
			char *e = xasprintf("worker did not start: %s", cause);
			job_set_error(j, e);
			free(e);
		}
		free(cause);
		cause = NULL;
		if (commit_job_put(jsd, j, &cause) != 0) {
			log_warnx("%s: %s", job_label(j->no), cause);
			free(cause);
		}
		job_free(j);
		free(r);
		return (0);
	}
	r->pid = pid;
	j->status = JOB_RUNNING;
	j->progress = 0;
	j->worker_pid = pid;
	j->records_created = j->records_updated = j->records_deleted = 0;
	r->cpu_ms = r->max_rss_kb = r->result_rss_kb = JOB_NULL;
	r->last_flush_ms = time_monotonic_ms();

	ev_timer_init(&r->start_timer, run_start_timer_cb,
		      jsd->conf.worker_start_timeout_ms / 1000.0, 0.0);
	r->start_timer.data = r;
	ev_timer_init(&r->kill_timer, run_kill_timer_cb, 0.0, 0.0);
	r->kill_timer.data = r;
	ev_timer_init(&r->flush_timer, run_flush_timer_cb, 0.0, 0.0);
	r->flush_timer.data = r;
	ev_timer_start(jsd->loop, &r->start_timer);

	commit_outq_init(&r->out, &r->peer);
	r->peer = ipc_peer_new(jsd->loop, sv[0], on_worker_msg, on_worker_close, r);
	if (r->peer == NULL) {
		close(sv[0]);
		r->peer_closed = true;
		r->peer_error = xasprintf("cannot watch the worker's socket");
		run_kill(r, SIGKILL);
	}
	TAILQ_INSERT_TAIL(&jsd->runs, r, entry);
	jsd->nruns++;

	if (commit_job_put(jsd, j, &cause) != 0) {
		log_warnx("%s: cannot record the start: %s", job_label(j->no), cause);
		r->peer_error = xasprintf("cannot record the start: %s", cause);
		free(cause);
		run_kill(r, SIGKILL);
		return (0);
	}
	log_info("%s: %s started (worker %ld)", job_label(j->no), job_type_name(j->type),
		 (long)pid);
	return (0);
}

/* --- cancel ------------------------------------------------------------------ */

int
run_cancel(struct jobsd *jsd, uint64_t no, const char *by, struct client *c,
		  uint32_t id, struct job *out, int *status, char **cause)
{
	struct pend *p;
	struct run *r;
	struct waiter *wt;
	struct job j;
	char *err = NULL;
	int rc;

	if ((p = supervisor_find_pend(jsd, no)) != NULL) {
		job_copy(&j, &p->job);
		j.status = JOB_CANCELLED;
		j.end_ms = time_now_ms();
		snprintf(j.cancelled_by, sizeof(j.cancelled_by), "%s", by != NULL ? by : "");
		if (commit_job_put(jsd, &j, &err) != 0) {
			log_warnx("%s: cannot record the cancel: %s", job_label(no), err);
			free(err);
			job_free(&j);
			*status = 500;
			*cause = xasprintf("cannot record the cancel");
			return (-1);
		}
		supervisor_dequeue(jsd, p);
		log_info("%s: cancelled while pending by %s", job_label(no), by ? by : "?");
		*out = j;
		supervisor_schedule(jsd); /* it may have blocked a later job */
		return (0);
	}
	if ((r = supervisor_find_run(jsd, no)) != NULL) {
		if (!r->job.cancel_requested) {
			r->job.cancel_requested = true;
			snprintf(r->job.cancelled_by, sizeof(r->job.cancelled_by), "%s",
				 by != NULL ? by : "");
			if (commit_job_put(jsd, &r->job, &err) != 0) {
				log_warnx("%s: cannot record the cancel request: %s",
					  job_label(no), err);
				free(err);
				r->job.cancel_requested = false;
				r->job.cancelled_by[0] = '\0';
				*status = 500;
				*cause = xasprintf("cannot record the cancel request");
				return (-1);
			}
			r->dirty = false;
			log_info("%s: cancel requested by %s", job_label(no), by ? by : "?");
			if (!r->hello && r->peer != NULL) {
				/* Its worker is still joining the store, maybe inside Berkeley DB,
				 * where a kill would panic the environment (a recovery that stops
				 * every job). Its hello is answered with SIGKILL, when it only waits
				 * for its job; the grace (or the start timeout) bounds the wait. */
				if (jsd->conf.cancel_grace_ms > 0) {
					ev_timer_set(&r->kill_timer,
						     jsd->conf.cancel_grace_ms / 1000.0, 0.0);
					ev_timer_start(jsd->loop, &r->kill_timer);
				}
			} else if (run_send_cancel(r) == -1 || jsd->conf.cancel_grace_ms == 0)
				run_kill(r, SIGKILL);
			else {
				ev_timer_set(&r->kill_timer, jsd->conf.cancel_grace_ms / 1000.0, 0.0);
				ev_timer_start(jsd->loop, &r->kill_timer);
			}
		}
		wt = xcalloc(1, sizeof(*wt));
		wt->client = c;
		wt->id = id;
		TAILQ_INSERT_TAIL(&r->waiters, wt, entry);
		control_request_begin(c);
		return (CANCEL_WAITING);
	}
	rc = store_job_get(jsd->store, no, &j, &err);
	if (rc == STORE_NOTFOUND)
		return (STORE_NOTFOUND);
	if (rc != 0) {
		log_warnx("%s: %s", job_label(no), err);
		free(err);
		*status = 500;
		*cause = xasprintf("cannot read the job");
		return (-1);
	}
	*status = 409;
	*cause = xasprintf("job %s already %s", job_label(no), job_status_name(j.status));
	if (!job_status_is_final(j.status)) {
		*status = 500;
		free(*cause);
		*cause = xasprintf("job %s is %s but unknown to the supervisor", job_label(no),
				   job_status_name(j.status));
	}
	job_free(&j);
	return (-1);
}

void
run_forget_client(struct jobsd *jsd, struct client *c)
{
	struct run *r;
	struct waiter *wt, *next;

	recovery_forget_client(jsd, c);
	TAILQ_FOREACH(r, &jsd->runs, entry) {
		for (wt = TAILQ_FIRST(&r->waiters); wt != NULL; wt = next) {
			next = TAILQ_NEXT(wt, entry);
			if (wt->client == c) {
				TAILQ_REMOVE(&r->waiters, wt, entry);
				free(wt);
			}
		}
	}
}

/* --- reaping ---------------------------------------------------------------- */

void
run_reap(struct jobsd *jsd)
{
	struct rusage ru;
	struct run *r;
	int st;
	pid_t pid;

	while ((pid = wait4(-1, &st, WNOHANG, &ru)) > 0) {
		TAILQ_FOREACH(r, &jsd->runs, entry) {
			if (r->pid == pid)
				break;
		}
		if (r == NULL) {
			if (warm_reap(jsd, pid, st) || checkpoint_reap(jsd, pid, st))
				continue;
			if (!http_reap(jsd, pid, st))
				log_debug("reaped unknown child %ld", (long)pid);
			continue;
		}
		r->exited = true;
		r->wstatus = st;
		r->cpu_ms = (int64_t)ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000 +
			    (int64_t)ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000;
		r->max_rss_kb = ru.ru_maxrss;
		ev_timer_stop(jsd->loop, &r->kill_timer);
		if (r->peer_closed)
			run_schedule_finish(r);
		else {
			/* let the socket drain the last messages (the result) */
			ev_timer_stop(jsd->loop, &r->start_timer);
			ev_timer_set(&r->start_timer, WORKER_LINGER_MS / 1000.0, 0.0);
			ev_timer_start(jsd->loop, &r->start_timer);
		}
	}
	supervisor_maybe_exit(jsd);
}
