/* checkpoint.c: the supervisor's periodic checkpoint of the store, off its loop. A
 * checkpoint writes every dirty page of the shared cache and can take seconds after a large
 * sync, so it runs in a short-lived child, `jobsd-worker --checkpoint DATA_DIR`, at most one
 * at a time: CHECKPOINT_INTERVAL_S after the last one began if the log has grown since, or
 * as soon as it has grown by checkpoint_log_mb (checked every CHECKPOINT_POLL_S). The log
 * files a checkpoint no longer needs are removed (DB_LOG_AUTO_REMOVE), so a large sync
 * keeps about checkpoint_log_mb of log on disk instead of all it wrote, and the file
 * system reuses the memory of the removed files' pages instead of growing its cache.
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

/* Log bytes written since the end recorded when the last checkpoint began. */
static uint64_t
log_grown(struct jobsd *jsd, uint32_t file, uint32_t offset)
{
	DB_ENV *env = store_env(jsd->store);
	uint32_t max = 0;

	if (env == NULL || env->get_lg_max(env, &max) != 0 || max == 0)
		max = 10u * 1024 * 1024; /* Berkeley DB's default */
	if (file < jsd->ckp_file || (file == jsd->ckp_file && offset < jsd->ckp_offset))
		return (0);
	return ((uint64_t)(file - jsd->ckp_file) * max + offset - jsd->ckp_offset);
}

static void
checkpoint_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct jobsd *jsd = w->data;
	char a0[] = "jobsd-worker", a1[] = "--checkpoint", dir[PATH_MAX];
	char *argv[4], *cause = NULL;
	uint32_t file = 0, offset = 0;
	uint64_t grown;
	bool known, by_size;
	pid_t pid;
	int fd;

	if (jsd->stopping || jsd->recovering || jsd->ckp_pid != 0)
		return;
	known = log_end(jsd, &file, &offset);
	if (known && jsd->ckp_done && file == jsd->ckp_file && offset == jsd->ckp_offset)
		return; /* nothing written since the last one */
	grown = known ? log_grown(jsd, file, offset) : 0;
	by_size = grown >= ((uint64_t)jsd->conf.checkpoint_log_mb << 20);
	if (!by_size && ev_now(loop) - jsd->ckp_at < CHECKPOINT_INTERVAL_S)
		return; /* not due yet */
	/* The next one is counted from now even if this one cannot start: a failure is
	 * retried when the next is due, not at every poll. */
	jsd->ckp_at = ev_now(loop);
	jsd->ckp_done = false;
	jsd->ckp_file = file;
	jsd->ckp_offset = offset;
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
	log_debug("checkpoint: started process %ld (%s, %llu MiB of log since the last)",
		  (long)pid, by_size ? "log size" : "interval",
		  (unsigned long long)(grown >> 20));
	jsd->ckp_pid = pid;
	jsd->ckp_done = known;
}

void
checkpoint_init(struct jobsd *jsd)
{
	/* The first is due CHECKPOINT_INTERVAL_S from now, or sooner if the log grows. */
	jsd->ckp_at = ev_now(jsd->loop);
	(void)log_end(jsd, &jsd->ckp_file, &jsd->ckp_offset);
	ev_timer_init(&jsd->ckp_timer, checkpoint_cb, CHECKPOINT_POLL_S, CHECKPOINT_POLL_S);
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
	jsd->ckp_done = false; /* try again when the next one is due */
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
