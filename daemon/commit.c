/* commit.c: group commit of the supervisor's durable state transitions.
 *
 * A state transition (a job submitted, started, ended, cancelled, a cancel requested) is
 * committed with DB_TXN_WRITE_NOSYNC: written to the log file, not fsynced, and counted
 * (gen_written). Every message the supervisor sends — replies to control and jobsd-http
 * clients, MSG_JOB_CANCEL to workers; not MSG_JOB_START, which reports nothing (run.c) —
 * goes through commit_send, which holds it (per peer, in order, tagged with the count it
 * must wait for) while some transition is not yet durable. An ev_prepare watcher runs once per loop iteration,
 * after every callback of the iteration and before the loop waits: if transitions are
 * waiting and no flush is running, it hands one fdatasync of the current log file to the
 * flusher thread (flusher.c) and the loop goes on. When the thread is done, everything
 * committed before the request is durable (gen_durable) and the output held for it is
 * released; transitions committed meanwhile wait for the next flush. So N transitions cost
 * one fsync, nothing that reports a transition leaves the process before the transition is
 * durable, and the loop never waits for the disk. Log files before the current one were
 * synced by Berkeley DB itself when it switched files.
 *
 * Under a stream of transitions (jobs ending and starting every millisecond, pipelined
 * submits) a flush starts at the earliest commit_delay_us after the previous one returned,
 * so that one fsync covers the transitions of that whole time, not of one iteration: each
 * fsync costs CPU time in the kernel and the device, a few device requests. A transition
 * after a quiet period is flushed at once, so an idle daemon answers without the delay.
 *
 * Actions that are not messages (SIGKILL after a cancel request), the shutdown and the
 * end of a store recovery flush synchronously (commit_flush, Berkeley DB's log_flush).
 * A failed flush keeps everything held and is retried every COMMIT_RETRY_S, synchronously.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
		ipc_writer_init(&q->w); /* empty, owning nothing: never a freed buffer */
		q->peerp = NULL;
	}
	free(q->marks);
	q->marks = NULL;
	q->nmarks = q->capmarks = 0;
}

/* A commit failed: if the environment panicked, every later call fails too until it is
 * recovered, so recover in place now (recovery.c), whoever the caller was (a submit, a
 * cancel, a start, an end). */
static void
commit_failed_write(struct jobsd *jsd)
{
	if (jsd->store != NULL && store_panicked(jsd->store) && !jsd->stopping)
		recovery_begin(jsd, "the store panicked recording a job");
}

int
commit_job_alloc(struct jobsd *jsd, uint64_t *no, char **cause)
{
	if (store_job_alloc_nosync(jsd->store, no, cause) != 0) {
		commit_failed_write(jsd);
		return (-1);
	}
	jsd->gen_written++;
	return (0);
}

int
commit_job_put(struct jobsd *jsd, const struct job *j, char **cause)
{
	/* Counted before the commit: if it fails half-way, a flush costs nothing. */
	jsd->gen_written++;
	if (store_job_put_nosync(jsd->store, j, cause) != 0) {
		commit_failed_write(jsd);
		return (-1);
	}
	return (0);
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
	if ((!commit_pending(jsd) || jsd->recovering) && !q->queued)
		return (ipc_peer_send(peer, w));
	msgpack_sbuffer_write(&q->w.buf, w->buf.data, w->buf.size);
	ipc_writer_reset(w);
	/* Each message waits only for what was committed before it: a later one must not
	 * hold back the ones before it (a peer that talks during every flush would starve). */
	if (q->nmarks > 0 && q->marks[q->nmarks - 1].gen == jsd->gen_written)
		q->marks[q->nmarks - 1].end = q->w.buf.size;
	else {
		if (q->nmarks == q->capmarks) {
			q->capmarks = q->capmarks ? q->capmarks * 2 : 4;
			q->marks = xrealloc(q->marks, q->capmarks * sizeof(*q->marks));
		}
		q->marks[q->nmarks].gen = jsd->gen_written;
		q->marks[q->nmarks++].end = q->w.buf.size;
	}
	if (!q->queued) {
		TAILQ_INSERT_TAIL(&jsd->held, q, entry);
		q->queued = true;
	}
	return (0);
}

bool
commit_pending(const struct jobsd *jsd)
{
	return (jsd->gen_written > jsd->gen_durable);
}

void
commit_dirty(struct jobsd *jsd)
{
	jsd->gen_written++;
}

/* Send the first end bytes of q's held output (whole frames), keep the rest. */
static void
outq_send_prefix(struct outq *q, size_t end)
{
	struct ipc_peer *peer = *q->peerp;
	struct ipc_writer tmp;
	size_t rest;

	/* The marks are ends of whole frames in the buffer: past it, they are corrupt, and
	 * sending would garble the stream and moving would write outside the buffer. */
	if (end > q->w.buf.size)
		fatalx("%s: held output mark %zu past its %zu bytes", __func__, end,
		       q->w.buf.size);
	rest = q->w.buf.size - end;
	if (rest == 0) {
		ipc_peer_send(peer, &q->w);
		return;
	}
	ipc_writer_init(&tmp);
	msgpack_sbuffer_write(&tmp.buf, q->w.buf.data, end);
	ipc_peer_send(peer, &tmp);
	ipc_writer_destroy(&tmp);
	memmove(q->w.buf.data, q->w.buf.data + end, rest);
	q->w.buf.size = rest;
}

/* Send what waited for transitions that are durable now; the rest stays held. */
static void
commit_release(struct jobsd *jsd)
{
	struct outq *q, *next;
	size_t i, k, sent;

	if (jsd->log_broken)
		return; /* not durable: never told (the daemon is stopping) */
	for (q = TAILQ_FIRST(&jsd->held); q != NULL; q = next) {
		next = TAILQ_NEXT(q, entry);
		for (k = 0; k < q->nmarks && q->marks[k].gen <= jsd->gen_durable; k++)
			;
		if (k == 0)
			continue;
		if (q->peerp == NULL || *q->peerp == NULL) {
			/* the peer went away: nobody is left to tell */
			TAILQ_REMOVE(&jsd->held, q, entry);
			q->queued = false;
			ipc_writer_reset(&q->w);
			q->nmarks = 0;
			continue;
		}
		if (k == q->nmarks) {
			TAILQ_REMOVE(&jsd->held, q, entry);
			q->queued = false;
		}
		/* Read before the shift below, which overwrites marks[k - 1] when 2k or more
		 * marks are held: the ends after it would be off, a later release would cut a
		 * frame (a garbled stream for the peer) and move bytes past the buffer. */
		sent = q->marks[k - 1].end;
		outq_send_prefix(q, sent);
		for (i = k; i < q->nmarks; i++) {
			q->marks[i - k].gen = q->marks[i].gen;
			q->marks[i - k].end = q->marks[i].end - sent;
		}
		q->nmarks -= k;
	}
}

static void
commit_failed(struct jobsd *jsd, const char *cause)
{
	log_warnx("cannot make the job records durable: %s; holding %s replies", cause,
		  TAILQ_EMPTY(&jsd->held) ? "no" : "the");
	if (!ev_is_active(&jsd->commit_retry)) {
		ev_timer_set(&jsd->commit_retry, COMMIT_RETRY_S, 0.0);
		ev_timer_start(jsd->loop, &jsd->commit_retry);
	}
}

int
commit_flush(struct jobsd *jsd)
{
	uint64_t gen = jsd->gen_written;
	char *cause = NULL;

	if (jsd->recovering || jsd->store == NULL || jsd->log_broken)
		return (-1); /* held until the store is open again (recovery.c) */
	if (commit_pending(jsd)) {
		if (store_log_flush(jsd->store, &cause) != 0) {
			commit_failed(jsd, cause);
			free(cause);
			/* a panicked environment fails every call until it is recovered: recover
			 * in place; the held output goes out after the reopen (recovery.c) */
			if (store_panicked(jsd->store))
				recovery_begin(jsd, "the store panicked flushing the log");
			return (-1);
		}
		jsd->gen_durable = gen;
		jsd->flushes++;
		jsd->flush_ended = ev_time();
	}
	commit_release(jsd);
	return (0);
}

/* A descriptor of the current log file for the flusher, or -1 (then flush here). */
static int
commit_log_fd(struct jobsd *jsd)
{
	DB_ENV *env = store_env(jsd->store);
	DB_LOG_STAT *ls = NULL;
	char path[PATH_MAX];
	uint32_t file;

	if (env == NULL || env->log_stat(env, &ls, 0) != 0)
		return (-1);
	file = ls->st_cur_file;
	free(ls);
	if (file == jsd->log_file && (jsd->log_fd != -1 || jsd->log_fd_failed) &&
	    !jsd->log_reopen)
		return (jsd->log_fd);
	jsd->log_reopen = false;
	if (jsd->log_fd != -1)
		close(jsd->log_fd);
	jsd->log_fd = -1;
	jsd->log_file = file;
	jsd->log_fd_failed = true; /* until it opens: warned once per file */
	if (snprintf(path, sizeof(path), "%s/log.%010u", jsd->conf.data_dir, file) >=
	    (int)sizeof(path)) {
		log_warnx("log file path too long; flushing on the main loop");
		return (-1);
	}
	if ((jsd->log_fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("%s; flushing on the main loop", path);
		return (-1);
	}
	jsd->log_fd_failed = false;
	return (jsd->log_fd);
}

/* The flusher thread is done with the request made for gen_flushing. */
static void
commit_flushed(int err, void *arg)
{
	struct jobsd *jsd = arg;

	jsd->flushing = false;
	jsd->flush_ended = ev_time();
	if (jsd->recovering || jsd->store == NULL)
		return; /* recovery.c flushes and releases after the reopen */
	if (err != 0) {
		/* After a failed fdatasync the kernel may have dropped the dirty pages: a retry
		 * could succeed without writing them. Nothing held is ever sent; the daemon
		 * stops and the next start recovers from what is on disk. */
		log_warnx("cannot make the job records durable: fdatasync of the log: %s; "
			  "stopping", strerror(err));
		jsd->log_broken = true;
		jsd->exit_code = 1;
		supervisor_stop(jsd, "the log could not be made durable");
		return;
	}
	if (jsd->gen_flushing > jsd->gen_durable)
		jsd->gen_durable = jsd->gen_flushing;
	jsd->flushes++;
	commit_release(jsd);
}

/* Is it too soon after the last flush to start the next one? Then the delay timer is
 * running, and the loop wakes when it may. */
static bool
commit_too_soon(struct jobsd *jsd)
{
	ev_tstamp due, now;

	if (jsd->conf.commit_delay_us <= 0 || jsd->flush_ended == 0)
		return (false);
	due = jsd->flush_ended + jsd->conf.commit_delay_us / 1e6;
	now = ev_time();
	if (now >= due)
		return (false);
	if (!ev_is_active(&jsd->commit_delay)) {
		ev_timer_set(&jsd->commit_delay, due - now, 0.0);
		ev_timer_start(jsd->loop, &jsd->commit_delay);
	}
	return (true);
}

static void
commit_prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct jobsd *jsd = w->data;
	int fd;

	if (jsd->recovering || jsd->store == NULL || jsd->flushing || jsd->log_broken)
		return;
	if (!commit_pending(jsd)) {
		if (!TAILQ_EMPTY(&jsd->held))
			commit_release(jsd);
		return;
	}
	/* After a failed flush, retry on the loop (Berkeley DB's own flush), on the timer. */
	if (jsd->flush_failed) {
		if (ev_is_active(&jsd->commit_retry))
			return;
		if (commit_flush(jsd) == 0)
			jsd->flush_failed = false;
		return;
	}
	if (commit_too_soon(jsd))
		return;
	if (jsd->flusher == NULL || (fd = commit_log_fd(jsd)) == -1) {
		if (commit_flush(jsd) != 0)
			jsd->flush_failed = true;
		return;
	}
	jsd->gen_flushing = jsd->gen_written;
	jsd->flushing = true;
	flusher_request(jsd->flusher, fd);
}

/* Both timers only wake the loop: its prepare watcher then looks again. */
static void
commit_wake_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
}

void
commit_init(struct jobsd *jsd)
{
	char *cause = NULL;

	ev_prepare_init(&jsd->commit_prepare, commit_prepare_cb);
	jsd->commit_prepare.data = jsd;
	ev_prepare_start(jsd->loop, &jsd->commit_prepare);
	ev_init(&jsd->commit_retry, commit_wake_cb);
	jsd->commit_retry.data = jsd;
	ev_init(&jsd->commit_delay, commit_wake_cb);
	jsd->commit_delay.data = jsd;
	jsd->log_fd = -1;
	/* Without the thread every flush is made on the loop, as a fallback. */
	if ((jsd->flusher = flusher_start(jsd->loop, commit_flushed, jsd, &cause)) == NULL) {
		log_warnx("%s; flushing on the main loop", cause);
		free(cause);
	}
}

void
commit_forget_log(struct jobsd *jsd)
{
	/* commit_log_fd reopens it (never while the flusher uses the descriptor) */
	jsd->log_reopen = true;
}

void
commit_shutdown(struct jobsd *jsd)
{
	flusher_stop(jsd->flusher);
	jsd->flusher = NULL;
	jsd->flushing = false;
	ev_prepare_stop(jsd->loop, &jsd->commit_prepare);
	ev_timer_stop(jsd->loop, &jsd->commit_retry);
	ev_timer_stop(jsd->loop, &jsd->commit_delay);
	if (jsd->log_fd != -1)
		close(jsd->log_fd);
	jsd->log_fd = -1;
}
