/* supervisor.c: the supervisor's loop around the jobs: the pending queue and scheduling,
 * recovery at start, retention, signals (TERM/INT stop, HUP reload, CHLD reap). The life of
 * one running job is in run.c. */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobsd.h"
#include "timeutil.h"

#define QUEUE_SCAN_MAX 256 /* pending jobs considered per scheduling pass */


enum log_level
supervisor_log_level(const char *name)
{
	if (strcmp(name, "error") == 0)
		return (LOG_LVL_ERR);
	if (strcmp(name, "warning") == 0)
		return (LOG_LVL_WARN);
	if (strcmp(name, "debug") == 0)
		return (LOG_LVL_DEBUG);
	return (LOG_LVL_INFO);
}

static const char *
job_label(uint64_t no)
{
	static char buf[32];

	job_id_format(no, buf);
	return (buf);
}

struct run *
supervisor_find_run(struct jobsd *jsd, uint64_t no)
{
	struct run *r;

	TAILQ_FOREACH(r, &jsd->runs, entry) {
		if (r->job.no == no)
			return (r);
	}
	return (NULL);
}

struct pend *
supervisor_find_pend(struct jobsd *jsd, uint64_t no)
{
	struct pend *p;

	TAILQ_FOREACH(p, &jsd->pending, entry) {
		if (p->job.no == no)
			return (p);
	}
	return (NULL);
}

void
supervisor_enqueue(struct jobsd *jsd, const struct job *j)
{
	struct pend *p = xcalloc(1, sizeof(*p));

	job_copy(&p->job, j);
	TAILQ_INSERT_TAIL(&jsd->pending, p, entry);
	jsd->npending++;
}

void
supervisor_dequeue(struct jobsd *jsd, struct pend *p)
{
	TAILQ_REMOVE(&jsd->pending, p, entry);
	jsd->npending--;
	job_free(&p->job);
	free(p);
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	supervisor_schedule(w->data);
}

static void
schedule_some(struct jobsd *jsd)
{
	enum job_type pending[QUEUE_SCAN_MAX], *running;
	struct pend *p;
	struct run *r;
	size_t np, nr;
	int pick;

	if (jsd->stopping || jsd->recovering || ev_is_active(&jsd->retry_timer))
		return;
	for (;;) {
		if (jsd->npending == 0)
			return;
		/* A job whose worker has sent its result has ended: its worker is only closing
		 * the store and exiting, so it holds neither a slot nor its data any more. */
		running = xcalloc(jsd->nruns + 1, sizeof(*running));
		nr = 0;
		TAILQ_FOREACH(r, &jsd->runs, entry) {
			if (!r->have_result)
				running[nr++] = r->job.type;
		}
		if (nr >= (size_t)jsd->conf.max_workers) {
			free(running);
			return;
		}
		np = 0;
		TAILQ_FOREACH(p, &jsd->pending, entry) {
			if (np == QUEUE_SCAN_MAX)
				break;
			pending[np++] = p->job.type;
		}
		pick = queue_pick(pending, np, running, nr, (size_t)jsd->conf.max_workers);
		free(running);
		if (pick < 0)
			return;
		p = TAILQ_FIRST(&jsd->pending);
		while (pick-- > 0)
			p = TAILQ_NEXT(p, entry);
		if (run_start(jsd, p) == -1)
			return;
	}
}

void
supervisor_schedule(struct jobsd *jsd)
{
	schedule_some(jsd);
	warm_adjust(jsd); /* workers ahead of the jobs still waiting, or none */
}

static void
sigchld_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	run_reap(w->data);
}

/* --- recovery, retention ------------------------------------------------------ */

struct collect {
	struct job *jobs;
	size_t n, cap;
};

static int
collect_cb(const struct job *j, void *arg)
{
	struct collect *c = arg;

	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->jobs = xrealloc(c->jobs, c->cap * sizeof(*c->jobs));
	}
	job_copy(&c->jobs[c->n++], j);
	return (0);
}

int
supervisor_recover(struct jobsd *jsd, char **cause)
{
	struct collect running = {NULL, 0, 0}, pending = {NULL, 0, 0};
	size_t i;
	int rc = -1;

	if (store_jobs_by_status(jsd->store, JOB_RUNNING, collect_cb, &running, cause) != 0)
		goto out;
	for (i = 0; i < running.n; i++) {
		struct job *j = &running.jobs[i];

		if (j->cancel_requested)
			j->status = JOB_CANCELLED;
		else {
			j->status = JOB_FAILED;
			job_set_error(j, "interrupted: daemon restarted");
		}
		j->end_ms = time_now_ms();
		if (j->start_ms != JOB_NULL && j->end_ms < j->start_ms)
			j->end_ms = j->start_ms;
		j->worker_pid = JOB_NULL;
		if (store_job_put(jsd->store, j, true, cause) != 0)
			goto out;
		log_info("%s: was running when the daemon stopped: now %s", job_label(j->no),
			 job_status_name(j->status));
	}
	if (store_jobs_by_status(jsd->store, JOB_PENDING, collect_cb, &pending, cause) != 0)
		goto out;
	for (i = 0; i < pending.n; i++)
		supervisor_enqueue(jsd, &pending.jobs[i]);
	if (pending.n > 0)
		log_info("%zu pending jobs queued again", pending.n);
	rc = 0;
out:
	for (i = 0; i < running.n; i++)
		job_free(&running.jobs[i]);
	for (i = 0; i < pending.n; i++)
		job_free(&pending.jobs[i]);
	free(running.jobs);
	free(pending.jobs);
	return (rc);
}

static void
retention_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct jobsd *jsd = w->data;
	const struct config *c = &jsd->conf;
	int64_t cutoff = INT64_MIN;
	uint64_t keep = UINT64_MAX;
	size_t deleted = 0;
	char *cause = NULL;

	if (c->retention_days > 0)
		cutoff = time_now_ms() - (int64_t)c->retention_days * 86400000;
	if (c->retention_count > 0)
		keep = (uint64_t)c->retention_count;
	if (cutoff == INT64_MIN && keep == UINT64_MAX)
		return;
	if (jsd->recovering)
		return; /* the next tick */
	if (store_jobs_prune(jsd->store, cutoff, keep, RETENTION_MAX_DELETE, &deleted,
			     &cause) != 0) {
		log_warnx("retention: %s", cause);
		free(cause);
		return;
	}
	if (deleted > 0)
		log_info("retention: deleted %zu finished jobs", deleted);
	/* more to do: come back soon rather than holding the loop */
	ev_timer_stop(loop, w);
	ev_timer_set(w, deleted >= RETENTION_MAX_DELETE ? 1.0 : RETENTION_INTERVAL_S,
		     RETENTION_INTERVAL_S);
	ev_timer_start(loop, w);
}

/* --- signals, stop, reload ----------------------------------------------------- */

void
supervisor_maybe_exit(struct jobsd *jsd)
{
	if (jsd->stopping && jsd->nruns == 0 && http_alive(jsd) == 0 && jsd->ckp_pid == 0 &&
	    warm_alive(jsd) == 0)
		ev_break(jsd->loop, EVBREAK_ALL);
}

static void
stop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct jobsd *jsd = w->data;
	struct run *r;

	if (jsd->nruns > 0 || http_alive(jsd) > 0) {
		log_warnx("stop: %zu workers still alive after the grace period; killing",
			  jsd->nruns);
		TAILQ_FOREACH(r, &jsd->runs, entry)
			run_kill(r, SIGKILL);
		http_stop(jsd);
	}
	checkpoint_kill(jsd); /* store_close checkpoints anyway */
	warm_release_all(jsd, SIGKILL);
	/* one more round for the reaper, then give up waiting */
	if (w->repeat == 0.0) {
		ev_timer_set(w, 2.0, 1.0);
		ev_timer_start(loop, w);
		return;
	}
	/* unkillable workers: record their jobs anyway */
	TAILQ_FOREACH(r, &jsd->runs, entry) {
		char *cause = NULL;

		r->job.status = JOB_FAILED;
		job_set_error(&r->job, "interrupted: daemon stopped");
		r->job.end_ms = time_now_ms();
		r->job.worker_pid = JOB_NULL;
		if (store_job_put(jsd->store, &r->job, true, &cause) != 0) {
			log_warnx("%s: %s", job_label(r->job.no), cause);
			free(cause);
		}
	}
	ev_break(loop, EVBREAK_ALL);
}

void
supervisor_stop(struct jobsd *jsd, const char *why)
{
	struct run *r;
	int grace;

	if (jsd->stopping)
		return;
	jsd->stopping = true;
	log_info("stopping (%s): %zu running, %zu pending left pending", why, jsd->nruns,
		 jsd->npending);
	control_close(jsd);
	http_stop(jsd);
	ev_timer_stop(jsd->loop, &jsd->retention_timer);
	ev_timer_stop(jsd->loop, &jsd->retry_timer);
	checkpoint_stop(jsd);
	warm_release_all(jsd, 0); /* no job: they exit when their socket closes */
	/* Workers stop at a batch boundary like a cancel (a signal could catch them inside
	 * Berkeley DB); those still starting (joining the store) at their hello (run.c);
	 * those whose socket is gone get SIGTERM; SIGKILL after the grace. */
	TAILQ_FOREACH(r, &jsd->runs, entry) {
		ev_timer_stop(jsd->loop, &r->kill_timer);
		if (r->have_result || r->exited || (!r->hello && r->peer != NULL))
			continue;
		if (run_send_cancel(r) == -1)
			run_kill(r, SIGTERM);
	}
	grace = jsd->conf.cancel_grace_ms;
	if (grace < STOP_GRACE_MIN_MS)
		grace = STOP_GRACE_MIN_MS;
	if (grace > STOP_GRACE_MAX_MS)
		grace = STOP_GRACE_MAX_MS;
	ev_timer_init(&jsd->stop_timer, stop_timer_cb, grace / 1000.0, 0.0);
	jsd->stop_timer.data = jsd;
	ev_timer_start(jsd->loop, &jsd->stop_timer);
	supervisor_maybe_exit(jsd);
}

static void
sigterm_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct jobsd *jsd = w->data;
	struct run *r;

	if (!jsd->stopping) {
		supervisor_stop(jsd, w->signum == SIGINT ? "SIGINT" : "SIGTERM");
		return;
	}
	/* asked twice: no more grace */
	log_info("second stop signal: killing %zu workers now", jsd->nruns);
	TAILQ_FOREACH(r, &jsd->runs, entry)
		run_kill(r, SIGKILL);
	http_stop(jsd);
}

static void
keep_restart_key(const char *what, char *now, const char *then, size_t size)
{
	if (strcmp(now, then) != 0) {
		log_warnx("reload: %s changed; it takes effect after a restart", what);
		snprintf(now, size, "%s", then);
	}
}

void
supervisor_reload(struct jobsd *jsd)
{
	struct config nc;
	char *cause = NULL, path[PATH_MAX];
	size_t i;
	bool listen_changed, http_changed, admin_changed;

	if (config_load(jsd->conf_path, &nc, &cause) != 0) {
		log_warnx("reload: %s; keeping the old configuration", cause);
		free(cause);
		return;
	}
	if (spawn_resolve(nc.worker_path, "jobsd-worker", path, sizeof(path), &cause) != 0) {
		log_warnx("reload: worker: %s; keeping the old configuration", cause);
		free(cause);
		return;
	}
	keep_restart_key("data_dir", nc.data_dir, jsd->conf.data_dir, sizeof(nc.data_dir));
	keep_restart_key("socket", nc.socket, jsd->conf.socket, sizeof(nc.socket));
	keep_restart_key("pid_file", nc.pid_file, jsd->conf.pid_file, sizeof(nc.pid_file));
	keep_restart_key("region_dir", nc.region_dir, jsd->conf.region_dir,
			 sizeof(nc.region_dir));
	keep_restart_key("user", nc.user, jsd->conf.user, sizeof(nc.user));
	keep_restart_key("http_path", nc.http_path, jsd->conf.http_path, sizeof(nc.http_path));
	listen_changed = nc.nlisten != jsd->conf.nlisten;
	for (i = 0; i < nc.nlisten && !listen_changed; i++)
		listen_changed = strcmp(nc.listen[i], jsd->conf.listen[i]) != 0;
	if (listen_changed || nc.http_processes != jsd->conf.http_processes) {
		log_warnx("reload: [http] listen/processes changed; it takes effect after a "
			  "restart");
		memcpy(nc.listen, jsd->conf.listen, sizeof(nc.listen));
		nc.nlisten = jsd->conf.nlisten;
		nc.http_processes = jsd->conf.http_processes;
	}
	http_changed = nc.http_max_connections != jsd->conf.http_max_connections ||
		       nc.http_idle_timeout_ms != jsd->conf.http_idle_timeout_ms ||
		       nc.http_request_timeout_ms != jsd->conf.http_request_timeout_ms ||
		       nc.http_max_header_bytes != jsd->conf.http_max_header_bytes ||
		       nc.http_max_body_bytes != jsd->conf.http_max_body_bytes ||
		       strcmp(nc.log_level, jsd->conf.log_level) != 0 ||
		       strcmp(nc.data_dir, jsd->conf.data_dir) != 0;
	admin_changed = strcmp(nc.admin_group, jsd->conf.admin_group) != 0;
	snprintf(jsd->worker_path, sizeof(jsd->worker_path), "%s", path);
	jsd->conf = nc;
	warm_release_all(jsd, 0); /* started with the old worker_path and max_workers */
	if (admin_changed)
		control_set_group(jsd);
	control_forget_names();
	if (http_changed)
		http_restart(jsd); /* they read the file at start */
	log_set_level(supervisor_log_level(nc.log_level));
	log_info("configuration reloaded: max_workers %d, %zu sources", nc.max_workers,
		 nc.nsources);
	ev_timer_stop(jsd->loop, &jsd->retention_timer);
	ev_timer_set(&jsd->retention_timer, 0.0, RETENTION_INTERVAL_S);
	ev_timer_start(jsd->loop, &jsd->retention_timer);
	supervisor_schedule(jsd);
}

static void
sighup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	supervisor_reload(w->data);
}

void
supervisor_init(struct jobsd *jsd)
{
	TAILQ_INIT(&jsd->pending);
	TAILQ_INIT(&jsd->runs);
	TAILQ_INIT(&jsd->clients);
	TAILQ_INIT(&jsd->held);
	TAILQ_INIT(&jsd->deferred);
	ipc_writer_init(&jsd->w);
	jsd->ctl_fd = -1;
	jsd->token_epoch.fd = -1;
	jsd->euid = geteuid();
}

void
supervisor_start(struct jobsd *jsd)
{
	struct ev_loop *loop = jsd->loop;

	ev_signal_init(&jsd->sig_term, sigterm_cb, SIGTERM);
	ev_signal_init(&jsd->sig_int, sigterm_cb, SIGINT);
	ev_signal_init(&jsd->sig_hup, sighup_cb, SIGHUP);
	ev_signal_init(&jsd->sig_chld, sigchld_cb, SIGCHLD);
	jsd->sig_term.data = jsd->sig_int.data = jsd->sig_hup.data = jsd->sig_chld.data = jsd;
	ev_signal_start(loop, &jsd->sig_term);
	ev_signal_start(loop, &jsd->sig_int);
	ev_signal_start(loop, &jsd->sig_hup);
	ev_signal_start(loop, &jsd->sig_chld);
	signal(SIGPIPE, SIG_IGN);
	commit_init(jsd);
	warm_init(jsd);
	recovery_init(jsd);

	ev_timer_init(&jsd->retry_timer, retry_cb, SPAWN_RETRY_S, 0.0);
	jsd->retry_timer.data = jsd;
	ev_timer_init(&jsd->retention_timer, retention_cb, 0.0, RETENTION_INTERVAL_S);
	jsd->retention_timer.data = jsd;
	ev_timer_start(loop, &jsd->retention_timer);
	checkpoint_init(jsd);

	supervisor_schedule(jsd);
}
