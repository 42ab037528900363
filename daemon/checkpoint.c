/* checkpoint.c: the supervisor's periodic checkpoint of the store, off its loop. A
 * checkpoint writes every dirty page of the shared cache and can take seconds after a large
 * sync, so it runs in a short-lived child, `jobsd-worker --checkpoint DATA_DIR`, every
 * CHECKPOINT_INTERVAL_S when the log has grown since the last one, at most one at a time.
 * It is not a job (not counted in max_workers); it is reaped with the other children and,
 * if it died abnormally, the store is failchk'ed (recovery if it died inside Berkeley DB).
 * The supervisor still checkpoints itself at a clean shutdown (store_close). */
#include <sys/wait.h>

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "jobsd.h"

/* The end of the log, or false if it cannot be read (then checkpoint anyway). */
static bool
log_end(struct jobsd *jsd, uint32_t *file, uint32_t *offset)
{
	DB_ENV *env = store_env(jsd->store);
	DB_LOG_STAT *ls = NULL;

	if (env == NULL || env->log_stat(env, &ls, 0) != 0)
		return (false);
	*file = ls->st_cur_file;
	*offset = ls->st_cur_offset;
	free(ls);
	return (true);
}

static void
checkpoint_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct jobsd *jsd = w->data;
	char a0[] = "jobsd-worker", a1[] = "--checkpoint", dir[PATH_MAX];
	char *argv[4], *cause = NULL;
	uint32_t file = 0, offset = 0;
	bool known;
	pid_t pid;
	int fd;

	if (jsd->stopping || jsd->recovering || jsd->ckp_pid != 0)
		return;
	known = log_end(jsd, &file, &offset);
	if (known && jsd->ckp_done && file == jsd->ckp_file && offset == jsd->ckp_offset)
		return; /* nothing written since the last one */
	/* fd 3 of a child must exist: the checkpoint uses no IPC, give it /dev/null */
	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1) {
		log_warn("checkpoint: /dev/null");
		return;
	}
	snprintf(dir, sizeof(dir), "%s", store_data_dir(jsd->store));
	argv[0] = a0;
	argv[1] = a1;
	argv[2] = dir;
	argv[3] = NULL;
	pid = spawn_child(jsd->worker_path, argv, fd, NULL, 0, NULL, &cause);
	close(fd);
	if (pid == -1) {
		log_warnx("checkpoint: %s", cause);
		free(cause);
		return;
	}
	log_debug("checkpoint: started process %ld", (long)pid);
	jsd->ckp_pid = pid;
	jsd->ckp_done = known;
	jsd->ckp_file = file;
	jsd->ckp_offset = offset;
}

void
checkpoint_init(struct jobsd *jsd)
{
	ev_timer_init(&jsd->ckp_timer, checkpoint_cb, CHECKPOINT_INTERVAL_S,
		      CHECKPOINT_INTERVAL_S);
	jsd->ckp_timer.data = jsd;
	ev_timer_start(jsd->loop, &jsd->ckp_timer);
}

void
checkpoint_stop(struct jobsd *jsd)
{
	ev_timer_stop(jsd->loop, &jsd->ckp_timer);
}

void
checkpoint_kill(struct jobsd *jsd)
{
	if (jsd->ckp_pid != 0)
		kill(jsd->ckp_pid, SIGKILL);
}

bool
checkpoint_reap(struct jobsd *jsd, pid_t pid, int wstatus)
{
	char *cause = NULL, desc[128];

	if (pid != jsd->ckp_pid || pid == 0)
		return (false);
	jsd->ckp_pid = 0;
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) {
		log_debug("checkpoint: done");
		return (true);
	}
	jsd->ckp_done = false; /* try again at the next tick */
	worker_exit_describe(wstatus, desc, sizeof(desc));
	log_warnx("checkpoint process %ld %s", (long)pid, desc);
	if (jsd->recovering) {
		recovery_check(jsd);
		return (true);
	}
	if (store_failchk(jsd->store, &cause) != 0) {
		log_warnx("the checkpoint process died inside the store: %s", cause);
		free(cause);
		recovery_begin(jsd, "the checkpoint process died inside Berkeley DB");
	}
	return (true);
}
