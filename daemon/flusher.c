/* flusher.c: the supervisor's log flusher thread. Group commit (commit.c) writes every state
 * transition to the log file without fsync; making the transitions durable is then one
 * fdatasync of that file, which takes from 0.3 ms to several ms under I/O load. Done on the
 * loop, that time stalled everything else (workers' messages, spawns, replies), once or
 * twice per job. Here one thread does the fdatasync and wakes the loop (ev_async) when it is
 * done; the loop keeps serving in the meantime.
 *
 * The thread calls nothing of Berkeley DB: it syncs a descriptor the loop opened on the
 * current log file by name (commit.c), and only one request is outstanding at a time. It
 * runs with every signal blocked, so signals are still handled on the loop's thread. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobsd.h"

struct flusher {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd; /* the request: sync this descriptor (-1: none) */
	bool quit;
	int err; /* the answer: 0 or an errno, valid once done */
	bool done;
	ev_async async; /* thread to loop: the request is done */
	struct ev_loop *loop;
	flusher_done_fn cb;
	void *arg;
};

static void *
flusher_main(void *arg)
{
	struct flusher *f = arg;
	int fd, err;

	pthread_mutex_lock(&f->mu);
	for (;;) {
		while (f->fd == -1 && !f->quit)
			pthread_cond_wait(&f->cv, &f->mu);
		if (f->quit)
			break;
		fd = f->fd;
		pthread_mutex_unlock(&f->mu);

		err = 0;
		while (fdatasync(fd) == -1) {
			if (errno != EINTR) {
				err = errno;
				break;
			}
		}

		pthread_mutex_lock(&f->mu);
		f->fd = -1;
		f->err = err;
		f->done = true;
		ev_async_send(f->loop, &f->async);
	}
	pthread_mutex_unlock(&f->mu);
	return (NULL);
}

static void
flusher_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct flusher *f = w->data;
	bool done;
	int err;

	pthread_mutex_lock(&f->mu);
	done = f->done;
	err = f->err;
	f->done = false;
	pthread_mutex_unlock(&f->mu);
	if (done)
		f->cb(err, f->arg);
}

struct flusher *
flusher_start(struct ev_loop *loop, flusher_done_fn cb, void *arg, char **cause)
{
	struct flusher *f;
	sigset_t all, old;
	int rc;

	f = xcalloc(1, sizeof(*f));
	f->fd = -1;
	f->loop = loop;
	f->cb = cb;
	f->arg = arg;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	ev_async_init(&f->async, flusher_async_cb);
	f->async.data = f;
	ev_async_start(loop, &f->async);

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&f->thread, NULL, flusher_main, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		*cause = xasprintf("cannot start the log flusher thread: %s", strerror(rc));
		ev_async_stop(loop, &f->async);
		pthread_cond_destroy(&f->cv);
		pthread_mutex_destroy(&f->mu);
		free(f);
		return (NULL);
	}
	return (f);
}

void
flusher_request(struct flusher *f, int fd)
{
	pthread_mutex_lock(&f->mu);
	f->fd = fd;
	f->done = false;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

void
flusher_stop(struct flusher *f)
{
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	f->quit = true;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->thread, NULL);
	ev_async_stop(f->loop, &f->async);
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
	free(f);
}
