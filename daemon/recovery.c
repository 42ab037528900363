/* recovery.c: in-place recovery of the store after a process died inside Berkeley DB
 * (store_failchk failed: the environment is panicked, every call in every process returns
 * DB_RUNRECOVERY). Berkeley DB recovery needs every process out of the environment, so:
 *
 *   1. begin: no job starts, control requests get 503 (PING still answers), workers get
 *      MSG_JOB_CANCEL (they mostly fail on their own at their next store call), the REST
 *      listeners get SIGTERM; nothing is written to the store from here on: the ends of the
 *      jobs that stop meanwhile are kept in memory (jsd->deferred) with their waiters;
 *   2. after RECOVERY_GRACE_MS: SIGKILL to what is left (workers' process groups and
 *      listeners);
 *   3. once every child is reaped (or RECOVERY_WAIT_MS after the SIGKILL: given up on and
 *      recorded anyway), the store is closed and opened again as STORE_SUPERVISOR, which
 *      runs recovery; the kept ends are committed durably (the job whose worker died keeps
 *      its own reason, the others end RECOVERY_REASON, or cancelled when a user asked),
 *      their cancel requests are answered, the pending queue is rebuilt from the store,
 *      held replies are released (commit.c: the transitions committed before the panic were
 *      written to the log file, so recovery kept them), the listeners restart and jobs run
 *      again. The control socket stays open throughout.
 *
 * If the store cannot be opened again, jobsd stops with exit status 1. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "jobsd.h"
#include "timeutil.h"

enum {
	PHASE_GRACE = 1, /* waiting for workers and listeners to stop */
	PHASE_KILLED,    /* SIGKILL sent, waiting for them to be reaped */
	PHASE_REOPEN,    /* everything gone: reopen at the next loop iteration */
};

static void recovery_reopen(struct jobsd *);

static void
recovery_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct jobsd *jsd = w->data;
	struct run *r, *next;

	if (!jsd->recovering || jsd->stopping)
		return;
	switch (jsd->recovery_phase) {
	case PHASE_GRACE:
		log_warnx("store recovery: %zu workers and %zu listeners still running after "
			  "%d ms: killing them", jsd->nruns, http_alive(jsd), RECOVERY_GRACE_MS);
		TAILQ_FOREACH(r, &jsd->runs, entry)
			run_kill(r, SIGKILL);
		http_pause(jsd, SIGKILL);
		jsd->recovery_phase = PHASE_KILLED;
		ev_timer_set(w, RECOVERY_WAIT_MS / 1000.0, 0.0);
		ev_timer_start(loop, w);
		recovery_check(jsd);
		return;
	case PHASE_KILLED:
		/* Unkillable (stuck in the kernel): record their jobs and go on without them. */
		for (r = TAILQ_FIRST(&jsd->runs); r != NULL; r = next) {
			next = TAILQ_NEXT(r, entry);
			log_warnx("store recovery: worker %ld did not die; giving up on it",
				  (long)r->pid);
			run_kill(r, SIGKILL);
			r->exited = true;
			r->wstatus = SIGKILL; /* as if killed */
		}
		/* run_finish via the start timer of each run */
		TAILQ_FOREACH(r, &jsd->runs, entry) {
			ev_timer_stop(loop, &r->start_timer);
			ev_timer_set(&r->start_timer, 0.0, 0.0);
			ev_timer_start(loop, &r->start_timer);
		}
		warm_forget_released(jsd);
		jsd->recovery_phase = PHASE_REOPEN;
		if (jsd->nruns > 0)
			return; /* recovery_check runs after the last run_finish */
		recovery_reopen(jsd);
		return;
	case PHASE_REOPEN:
		recovery_reopen(jsd);
		return;
	}
}

void
recovery_init(struct jobsd *jsd)
{
	ev_init(&jsd->recovery_timer, recovery_timer_cb);
	jsd->recovery_timer.data = jsd;
}

void
recovery_begin(struct jobsd *jsd, const char *why)
{
	struct run *r;

	if (jsd->recovering || jsd->stopping)
		return;
	jsd->recovering = true;
	jsd->recovery_phase = PHASE_GRACE;
	log_warnx("store needs recovery (%s): stopping %zu workers and %zu REST listeners, "
		  "then recovering in place", why, jsd->nruns, http_alive(jsd));
	ev_timer_stop(jsd->loop, &jsd->retry_timer);
	TAILQ_FOREACH(r, &jsd->runs, entry) {
		ev_timer_stop(jsd->loop, &r->kill_timer);
		ev_timer_stop(jsd->loop, &r->flush_timer);
		if (r->exited)
			continue;
		if (r->have_result || run_send_cancel(r) == -1)
			run_kill(r, SIGTERM);
	}
	http_pause(jsd, SIGTERM);
	warm_release_all(jsd, SIGKILL); /* no job: joined the old environment */
	checkpoint_kill(jsd); /* the checkpoint is redone after the recovery */
	ev_timer_stop(jsd->loop, &jsd->recovery_timer);
	ev_timer_set(&jsd->recovery_timer, RECOVERY_GRACE_MS / 1000.0, 0.0);
	ev_timer_start(jsd->loop, &jsd->recovery_timer);
}

void
recovery_defer(struct jobsd *jsd, const struct job *j, struct waiter_list *waiters)
{
	struct deferred *d = xcalloc(1, sizeof(*d));
	struct waiter *wt;

	job_copy(&d->job, j);
	TAILQ_INIT(&d->waiters);
	while ((wt = TAILQ_FIRST(waiters)) != NULL) {
		TAILQ_REMOVE(waiters, wt, entry);
		TAILQ_INSERT_TAIL(&d->waiters, wt, entry);
	}
	TAILQ_INSERT_TAIL(&jsd->deferred, d, entry);
}

void
recovery_free(struct jobsd *jsd)
{
	struct deferred *d;
	struct waiter *wt;

	while ((d = TAILQ_FIRST(&jsd->deferred)) != NULL) {
		TAILQ_REMOVE(&jsd->deferred, d, entry);
		while ((wt = TAILQ_FIRST(&d->waiters)) != NULL) {
			TAILQ_REMOVE(&d->waiters, wt, entry);
			free(wt);
		}
		job_free(&d->job);
		free(d);
	}
	ev_timer_stop(jsd->loop, &jsd->recovery_timer);
}

void
recovery_forget_client(struct jobsd *jsd, struct client *c)
{
	struct deferred *d;
	struct waiter *wt, *next;

	TAILQ_FOREACH(d, &jsd->deferred, entry) {
		for (wt = TAILQ_FIRST(&d->waiters); wt != NULL; wt = next) {
			next = TAILQ_NEXT(wt, entry);
			if (wt->client == c) {
				TAILQ_REMOVE(&d->waiters, wt, entry);
				free(wt);
			}
		}
	}
}

/* Everything gone: reopen at the next iteration (not inside run_finish's stack). */
void
recovery_check(struct jobsd *jsd)
{
	if (!jsd->recovering || jsd->stopping || jsd->nruns > 0 || jsd->ckp_pid != 0)
		return;
	if (warm_alive(jsd) > 0 && jsd->recovery_phase != PHASE_REOPEN)
		return;
	if (http_alive(jsd) > 0 && jsd->recovery_phase != PHASE_REOPEN)
		return;
	jsd->recovery_phase = PHASE_REOPEN;
	ev_timer_stop(jsd->loop, &jsd->recovery_timer);
	ev_timer_set(&jsd->recovery_timer, 0.0, 0.0);
	ev_timer_start(jsd->loop, &jsd->recovery_timer);
}

static void
recovery_reopen(struct jobsd *jsd)
{
	struct deferred *d;
	struct pend *p;
	char *cause = NULL, id[32];
	int64_t t0 = time_monotonic_ms();
	size_t n = 0;

	ev_timer_stop(jsd->loop, &jsd->recovery_timer);
	store_close(jsd->store);
	jsd->store = NULL;
	if (store_open(jsd->conf.data_dir, STORE_SUPERVISOR, &jsd->store, &cause) != 0) {
		log_warnx("store recovery failed: %s", cause);
		free(cause);
		jsd->store = NULL;
		jsd->exit_code = 1;
		jsd->recovering = false;
		supervisor_stop(jsd, "store recovery failed");
		return;
	}
	/* The ends kept meanwhile, durably, before anyone is told. */
	while ((d = TAILQ_FIRST(&jsd->deferred)) != NULL) {
		TAILQ_REMOVE(&jsd->deferred, d, entry);
		job_id_format(d->job.no, id);
		if (store_job_put(jsd->store, &d->job, true, &cause) != 0) {
			log_warnx("%s: cannot record the end of the job: %s", id, cause);
			free(cause);
			cause = NULL;
			run_answer_waiters_failed(&d->waiters, &d->job);
		} else {
			log_info("%s: recorded %s after the store recovery", id,
				 job_status_name(d->job.status));
			run_answer_waiters(&d->waiters, &d->job);
		}
		job_free(&d->job);
		free(d);
		n++;
	}
	/* The queue again from the store (it also ends anything still recorded running). */
	while ((p = TAILQ_FIRST(&jsd->pending)) != NULL)
		supervisor_dequeue(jsd, p);
	jsd->recovering = false;
	jsd->recovery_phase = 0;
	if (supervisor_recover(jsd, &cause) != 0) {
		log_warnx("store recovery: %s", cause);
		free(cause);
		jsd->exit_code = 1;
		supervisor_stop(jsd, "store recovery failed");
		return;
	}
	/* What was held for clients goes out once the log is flushed in the new env. */
	commit_forget_log(jsd);
	commit_dirty(jsd);
	commit_flush(jsd);
	log_info("store recovered in %lld ms: %zu job ends recorded, %zu pending; resuming",
		 (long long)(time_monotonic_ms() - t0), n, jsd->npending);
	http_resume(jsd);
	supervisor_schedule(jsd);
}
