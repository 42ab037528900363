/* warm.c: workers started ahead of their jobs. While jobs wait in the queue, up to
 * min(max_workers, WARM_MAX) jobsd-worker processes are exec'd in advance by a spawner
 * thread: each joins the store and sends its hello, then waits for MSG_JOB_START. When a
 * job starts (run.c) it takes one of them instead of spawning, so neither the exec and
 * store join of its worker nor the posix_spawn (the supervisor's thread is suspended until
 * the child execs, longer when both CPUs are busy) are on the loop's path any more.
 *
 * A warm worker still runs exactly one job: the one it is given, or none. It is told
 * WORKER_WARM_ENV, so it waits for its job without a deadline and exits quietly on EOF.
 * When the queue is empty, the daemon stops, recovers its store or reloads its
 * configuration, the warm workers are released: their sockets are closed (or, for a
 * recovery or a stop that ran out of time, they are killed) and they are reaped like any
 * child. A warm worker that died on its own is failchk'ed like a worker (run.c). */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobsd.h"
#include "timeutil.h"

#define WARM_MAX 4
#define WARM_BACKOFF_MS 1000 /* after a failed spawn, before trying again */

struct warm_proc {
	TAILQ_ENTRY(warm_proc) entry;
	pid_t pid; /* -1: the spawn failed (cause says why) */
	int fd;    /* the supervisor's end of its socket; -1 once released */
	char *cause;
	unsigned gen; /* warm->gen when it was spawned: older ones are released */
	bool reaped;  /* reaped before the loop saw it arrive (status says how it ended) */
	int status;
};
TAILQ_HEAD(warm_list, warm_proc);

struct warm {
	struct jobsd *jsd;
	pthread_t thread;
	bool thread_started;
	/* shared with the thread, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned requests; /* spawns not yet begun */
	unsigned gen;      /* bumped by warm_release_all: what was asked before is unwanted */
	bool quit;
	char path[PATH_MAX];
	char data_dir_env[PATH_MAX + 32];
	struct warm_list done; /* spawned (or failed), not yet seen by the loop */
	ev_async async;
	/* the loop's */
	unsigned inflight; /* requested, not yet back */
	struct warm_list ready, released;
	size_t nready, nreleased;
	int64_t backoff_until_ms;
};

static void warm_died(struct jobsd *, pid_t, int);

static void *
warm_thread(void *arg)
{
	struct warm *w = arg;
	struct warm_proc *wp;
	char path[PATH_MAX], denv[PATH_MAX + 32], *cause;
	const char *envv[3] = {denv, WORKER_WARM_ENV "=1", NULL};
	char *argv[] = {(char *)"jobsd-worker", NULL};
	unsigned gen;
	int sv[2];
	pid_t pid;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->requests == 0 && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->quit)
			break;
		w->requests--;
		gen = w->gen;
		memcpy(path, w->path, sizeof(path));
		memcpy(denv, w->data_dir_env, sizeof(denv));
		pthread_mutex_unlock(&w->mu);

		/* The worker's PR_SET_PDEATHSIG follows this thread, its parent: the thread
		 * lives until warm_shutdown, after every child is gone or killed. */
		cause = NULL;
		pid = -1;
		sv[0] = -1;
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
			cause = xasprintf("socketpair: %s", strerror(errno));
		else {
			pid = spawn_child(path, argv, sv[1], NULL, 0, envv, &cause);
			close(sv[1]);
			if (pid == -1) {
				close(sv[0]);
				sv[0] = -1;
			}
		}
		wp = xcalloc(1, sizeof(*wp));
		wp->pid = pid;
		wp->fd = sv[0];
		wp->cause = cause;
		wp->gen = gen;

		pthread_mutex_lock(&w->mu);
		TAILQ_INSERT_TAIL(&w->done, wp, entry);
		ev_async_send(w->jsd->loop, &w->async);
	}
	pthread_mutex_unlock(&w->mu);
	return (NULL);
}

static void
warm_free(struct warm_proc *wp)
{
	if (wp->fd != -1)
		close(wp->fd);
	free(wp->cause);
	free(wp);
}

/* Close its socket (it exits on EOF) and wait for it to be reaped; sig: kill it too. */
static void
warm_release(struct warm *w, struct warm_proc *wp, int sig)
{
	if (wp->fd != -1) {
		TAILQ_REMOVE(&w->ready, wp, entry);
		w->nready--;
		close(wp->fd);
		wp->fd = -1;
		TAILQ_INSERT_TAIL(&w->released, wp, entry);
		w->nreleased++;
	}
	if (sig != 0)
		kill(wp->pid, sig);
}

static unsigned
warm_target(const struct jobsd *jsd)
{
	unsigned n = (unsigned)jsd->conf.max_workers;

	if (jsd->stopping || jsd->recovering || jsd->npending == 0)
		return (0);
	return (n < WARM_MAX ? n : WARM_MAX);
}

void
warm_adjust(struct jobsd *jsd)
{
	struct warm *w = jsd->warm;
	unsigned target, more;

	if (w == NULL)
		return;
	target = warm_target(jsd);
	while (w->nready > target)
		warm_release(w, TAILQ_FIRST(&w->ready), 0);
	if (w->nready + w->inflight >= target || time_monotonic_ms() < w->backoff_until_ms)
		return;
	more = target - (unsigned)w->nready - w->inflight;
	w->inflight += more;
	pthread_mutex_lock(&w->mu);
	snprintf(w->path, sizeof(w->path), "%s", jsd->worker_path);
	snprintf(w->data_dir_env, sizeof(w->data_dir_env), "%s=%s", WORKER_DATA_DIR_ENV,
	         jsd->conf.data_dir);
	w->requests += more;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static void
warm_async_cb(struct ev_loop *loop, ev_async *a, int revents)
{
	struct warm *w = a->data;
	struct warm_list got;
	struct warm_proc *wp;

	TAILQ_INIT(&got);
	pthread_mutex_lock(&w->mu);
	while ((wp = TAILQ_FIRST(&w->done)) != NULL) {
		TAILQ_REMOVE(&w->done, wp, entry);
		TAILQ_INSERT_TAIL(&got, wp, entry);
	}
	pthread_mutex_unlock(&w->mu);

	while ((wp = TAILQ_FIRST(&got)) != NULL) {
		TAILQ_REMOVE(&got, wp, entry);
		w->inflight--;
		if (wp->pid == -1) {
			log_warnx("cannot start a worker ahead of its job: %s; retrying in %d ms",
			          wp->cause, WARM_BACKOFF_MS);
			w->backoff_until_ms = time_monotonic_ms() + WARM_BACKOFF_MS;
			warm_free(wp);
			continue;
		}
		if (wp->reaped) { /* gone already (warm_reap found it on its way here) */
			warm_died(w->jsd, wp->pid, wp->status);
			warm_free(wp);
			continue;
		}
		TAILQ_INSERT_TAIL(&w->ready, wp, entry);
		w->nready++;
		/* no longer wanted (the queue emptied, a stop, a reload or a recovery began) */
		if (wp->gen != w->gen || w->nready > warm_target(w->jsd))
			warm_release(w, wp, w->jsd->recovering ? SIGKILL : 0);
	}
}

bool
warm_take(struct jobsd *jsd, pid_t *pid, int *fd)
{
	struct warm *w = jsd->warm;
	struct warm_proc *wp;
	struct pollfd pfd;

	while (w != NULL && (wp = TAILQ_FIRST(&w->ready)) != NULL) {
		/* gone meanwhile (not yet reaped): its socket says so */
		pfd.fd = wp->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR))) {
			warm_release(w, wp, 0);
			continue;
		}
		TAILQ_REMOVE(&w->ready, wp, entry);
		w->nready--;
		*pid = wp->pid;
		*fd = wp->fd;
		wp->fd = -1;
		warm_free(wp);
		return (true);
	}
	return (false);
}

static struct warm_proc *
warm_find(struct warm_list *l, pid_t pid)
{
	struct warm_proc *wp;

	TAILQ_FOREACH(wp, l, entry)
	{
		if (wp->pid == pid)
			return (wp);
	}
	return (NULL);
}

/* A warm worker that was not released ended: say so, back off from starting more for a
 * while (a broken worker binary must not be exec'd in a loop), and failchk as for a
 * worker (run.c): one that died inside Berkeley DB is cleaned up. */
static void
warm_died(struct jobsd *jsd, pid_t pid, int status)
{
	struct warm *w = jsd->warm;
	char desc[128], *cause = NULL;

	if (!WIFSIGNALED(status) && !(WIFEXITED(status) && WEXITSTATUS(status) != 0))
		return;
	worker_exit_describe(status, desc, sizeof(desc));
	log_warnx("a worker started ahead of its job (pid %ld) %s", (long)pid, desc);
	w->backoff_until_ms = time_monotonic_ms() + WARM_BACKOFF_MS;
	if (!jsd->stopping && !jsd->recovering && store_failchk(jsd->store, &cause) != 0) {
		log_warnx("worker %ld died inside the store: %s", (long)pid, cause);
		free(cause);
		recovery_begin(jsd, "a worker died inside Berkeley DB");
	}
}

bool
warm_reap(struct jobsd *jsd, pid_t pid, int status)
{
	struct warm *w = jsd->warm;
	struct warm_proc *wp;
	bool found = false;

	if (w == NULL)
		return (false);
	if ((wp = warm_find(&w->ready, pid)) != NULL) {
		TAILQ_REMOVE(&w->ready, wp, entry);
		w->nready--;
		warm_died(jsd, pid, status);
		warm_free(wp);
	} else if ((wp = warm_find(&w->released, pid)) != NULL) {
		TAILQ_REMOVE(&w->released, wp, entry);
		w->nreleased--;
		warm_free(wp);
	} else {
		/* Spawned, not yet handed to the loop: warm_async_cb finishes it. */
		pthread_mutex_lock(&w->mu);
		if ((wp = warm_find(&w->done, pid)) != NULL) {
			wp->reaped = true;
			wp->status = status;
			found = true;
		}
		pthread_mutex_unlock(&w->mu);
		return (found);
	}
	recovery_check(jsd); /* a recovery waits for every process of the environment */
	return (true);
}

void
warm_release_all(struct jobsd *jsd, int sig)
{
	struct warm *w = jsd->warm;
	struct warm_proc *wp;

	if (w == NULL)
		return;
	/* Spawns asked for and not begun are not wanted any more; those under way are
	 * released when they arrive (older generation). */
	pthread_mutex_lock(&w->mu);
	w->inflight -= w->requests;
	w->requests = 0;
	w->gen++;
	pthread_mutex_unlock(&w->mu);
	while ((wp = TAILQ_FIRST(&w->ready)) != NULL)
		warm_release(w, wp, sig);
	if (sig != 0) {
		TAILQ_FOREACH(wp, &w->released, entry)
		kill(wp->pid, sig);
	}
}

/* Forget the released ones that would not die (given up on, like stuck workers). */
void
warm_forget_released(struct jobsd *jsd)
{
	struct warm *w = jsd->warm;
	struct warm_proc *wp;

	if (w == NULL)
		return;
	while ((wp = TAILQ_FIRST(&w->released)) != NULL) {
		log_warnx("worker %ld (started ahead of a job) did not die; giving up on it",
		          (long)wp->pid);
		TAILQ_REMOVE(&w->released, wp, entry);
		w->nreleased--;
		warm_free(wp);
	}
}

size_t
warm_alive(const struct jobsd *jsd)
{
	const struct warm *w = jsd->warm;

	return (w == NULL ? 0 : w->nready + w->nreleased + w->inflight);
}

void
warm_init(struct jobsd *jsd)
{
	struct warm *w;
	sigset_t all, old;
	int rc;

	w = xcalloc(1, sizeof(*w));
	w->jsd = jsd;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	TAILQ_INIT(&w->done);
	TAILQ_INIT(&w->ready);
	TAILQ_INIT(&w->released);
	ev_async_init(&w->async, warm_async_cb);
	w->async.data = w;
	ev_async_start(jsd->loop, &w->async);
	/* Signals stay with the loop's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&w->thread, NULL, warm_thread, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_warnx("cannot start the worker spawner thread: %s; every worker is "
		          "started with its job",
		          strerror(rc));
		ev_async_stop(jsd->loop, &w->async);
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return;
	}
	w->thread_started = true;
	jsd->warm = w;
}

void
warm_shutdown(struct jobsd *jsd)
{
	struct warm *w = jsd->warm;
	struct warm_proc *wp;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	ev_async_stop(jsd->loop, &w->async);
	/* whatever is left is killed (it has no job) and forgotten */
	while ((wp = TAILQ_FIRST(&w->done)) != NULL) {
		TAILQ_REMOVE(&w->done, wp, entry);
		TAILQ_INSERT_TAIL(&w->ready, wp, entry);
	}
	while ((wp = TAILQ_FIRST(&w->ready)) != NULL) {
		TAILQ_REMOVE(&w->ready, wp, entry);
		if (wp->pid > 0 && !wp->reaped)
			kill(wp->pid, SIGKILL);
		warm_free(wp);
	}
	while ((wp = TAILQ_FIRST(&w->released)) != NULL) {
		TAILQ_REMOVE(&w->released, wp, entry);
		warm_free(wp);
	}
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
	jsd->warm = NULL;
}
