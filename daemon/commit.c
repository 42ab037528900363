/* commit.c: group commit of the supervisor's durable state transitions.
 *
 * A state transition (a job submitted, started, ended, cancelled, a cancel requested) is
 * committed with DB_TXN_WRITE_NOSYNC: written to the log file, not fsynced. From then on
 * jsd->unflushed is set, and every message the supervisor sends — replies to control and
 * jobsd-http clients, MSG_JOB_START and MSG_JOB_CANCEL to workers — goes through
 * commit_send, which holds it (per peer, in order) instead of writing it. An ev_prepare
 * watcher runs once per loop iteration, after every callback of the iteration and before
 * the loop waits: it flushes the log once (fsync) and only then releases the held output.
 * So N transitions in one iteration cost one fsync, and nothing that reports a transition
 * leaves the process before the transition is durable. Actions that are not messages
 * (SIGKILL after a cancel request) call commit_flush first. Messages sent while nothing
 * is unflushed (and nothing is held for that peer) go out at once, as before.
 *
 * A failed flush keeps everything held and is retried every COMMIT_RETRY_S. */
#include <stdlib.h>
#include <string.h>

#include "jobsd.h"

#define COMMIT_RETRY_S 1.0

void
commit_outq_init(struct outq *q, struct ipc_peer **peerp)
{
	ipc_writer_init(&q->w);
	q->peerp = peerp;
	q->queued = false;
}

void
commit_outq_forget(struct jobsd *jsd, struct outq *q)
{
	if (q->queued) {
		TAILQ_REMOVE(&jsd->held, q, entry);
		q->queued = false;
	}
	if (q->peerp != NULL) { /* initialised, not yet forgotten */
		ipc_writer_destroy(&q->w);
		q->peerp = NULL;
	}
}

int
commit_job_alloc(struct jobsd *jsd, uint64_t *no, char **cause)
{
	if (store_job_alloc_nosync(jsd->store, no, cause) != 0)
		return (-1);
	jsd->unflushed = true;
	return (0);
}

int
commit_job_put(struct jobsd *jsd, const struct job *j, char **cause)
{
	/* Set before the commit: if it fails half-way, a flush costs nothing. */
	jsd->unflushed = true;
	return (store_job_put_nosync(jsd->store, j, cause));
}

int
commit_send(struct jobsd *jsd, struct outq *q, struct ipc_peer *peer, struct ipc_writer *w)
{
	if (peer == NULL) {
		ipc_writer_reset(w);
		return (-1);
	}
	/* While the store is recovered nothing new is committed (recovery.c): what is sent
	 * then reports nothing unflushed, unless it follows held output of the same peer. */
	if ((!jsd->unflushed || jsd->recovering) && !q->queued)
		return (ipc_peer_send(peer, w));
	msgpack_sbuffer_write(&q->w.buf, w->buf.data, w->buf.size);
	ipc_writer_reset(w);
	if (!q->queued) {
		TAILQ_INSERT_TAIL(&jsd->held, q, entry);
		q->queued = true;
	}
	return (0);
}

static void
commit_release(struct jobsd *jsd)
{
	struct outq *q;

	/* Pop one at a time: a send never closes a peer synchronously, but stay safe. */
	while ((q = TAILQ_FIRST(&jsd->held)) != NULL) {
		TAILQ_REMOVE(&jsd->held, q, entry);
		q->queued = false;
		if (q->peerp != NULL && *q->peerp != NULL)
			ipc_peer_send(*q->peerp, &q->w);
		else
			ipc_writer_reset(&q->w);
	}
}

int
commit_flush(struct jobsd *jsd)
{
	char *cause = NULL;

	if (jsd->recovering || jsd->store == NULL)
		return (-1); /* held until the store is open again (recovery.c) */
	if (jsd->unflushed) {
		if (store_log_flush(jsd->store, &cause) != 0) {
			log_warnx("cannot make the job records durable: %s; holding %s replies",
				  cause, TAILQ_EMPTY(&jsd->held) ? "no" : "the");
			free(cause);
			/* a panicked environment fails every call until it is recovered: recover
			 * in place; the held output goes out after the reopen (recovery.c) */
			if (store_panicked(jsd->store)) {
				recovery_begin(jsd, "the store panicked flushing the log");
				return (-1);
			}
			if (!ev_is_active(&jsd->commit_retry)) {
				ev_timer_set(&jsd->commit_retry, COMMIT_RETRY_S, 0.0);
				ev_timer_start(jsd->loop, &jsd->commit_retry);
			}
			return (-1);
		}
		jsd->unflushed = false;
		jsd->flushes++;
	}
	commit_release(jsd);
	return (0);
}

static void
commit_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct jobsd *jsd = w->data;

	if (jsd->unflushed || !TAILQ_EMPTY(&jsd->held))
		commit_flush(jsd);
}

static void
commit_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	/* nothing to do: waking the loop runs the prepare watcher again */
}

void
commit_init(struct jobsd *jsd)
{
	ev_prepare_init(&jsd->commit_prepare, commit_prepare_cb);
	jsd->commit_prepare.data = jsd;
	ev_prepare_start(jsd->loop, &jsd->commit_prepare);
	ev_init(&jsd->commit_retry, commit_retry_cb);
	jsd->commit_retry.data = jsd;
}
