/* store.c: the Berkeley DB environment of jobsd: data directory checks and lock, opening
 * (with recovery for the writing roles), the databases, failchk after a dead child,
 * checkpoints, the transaction helper with deadlock retry, the meta database and the
 * cursor secret. Job records live in store_jobs.c, log lines in store_log.c, tokens in
 * store_tokens.c. */
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store_internal.h"

#define STORE_CACHE_BYTES (64u * 1024 * 1024)
#define STORE_TOOL_CACHE_BYTES (256u * 1024 * 1024) /* bulk loads (jobsd-datagen) */
#define STORE_JOBS_PAGESIZE 16384 /* jobs and jobs_idx: fewer levels and splits */
#define STORE_LOG_BUF_BYTES (4u * 1024 * 1024)
#define STORE_THREAD_COUNT 512
#define STORE_LOCKS_MAX 100000	/* locks and lock objects: upper bounds */
#define STORE_LOCKS_INIT 2000
#define STORE_LOCKERS_MAX 10000
#define STORE_LOCKERS_INIT 200
#define STORE_TXNS_MAX 1000
#define STORE_TXNS_INIT 50
#define STORE_THREADS_INIT 64
#define STORE_LOCK_TABLE 4096	/* lock object hash buckets */
/* Mutexes: ~8300 in use after opening (8191 of them the cache's hash buckets), one more
 * per cache buffer as the cache fills (64 MiB / 4 KiB pages); the computed default of
 * ~29000 were all initialized (touched) when the region was created. */
#define STORE_MUTEX_INIT 12000
#define STORE_MUTEX_MAX 60000
#define STORE_TXN_RETRIES 10
#define STORE_READ_RETRIES 40
#define STORE_LOCK_FILE "jobsd.lock"
#define STORE_KEY_FILE "cursor.key"
#define STORE_ENV_LOCK_FILE "jobsd.env.lock"

int store_recover_wait_ms = 30000;
int store_join_wait_ms = 10000;
#define STORE_FILE_MODE 0600

static int store_open_dbs(struct store *, char **);
static int store_open_one(struct store *, DB **, const char *, DBTYPE, uint32_t, bool,
			  char **);

bool
store_role_writes(enum store_role role)
{
	return (role == STORE_SUPERVISOR || role == STORE_TOOL);
}

int
store_check_writer(struct store *s, const char *what, char **cause)
{
	if (store_role_writes(s->role))
		return (0);
	store_set_cause(cause, xasprintf("%s: only the supervisor writes job records and tokens",
					 what));
	return (-1);
}

void
store_set_cause(char **cause, char *c)
{
	if (cause != NULL)
		*cause = c;
	else
		free(c);
}

bool
store_retryable(int ret)
{
	return (ret == DB_LOCK_DEADLOCK || ret == DB_LOCK_NOTGRANTED);
}

char *
store_cause(struct store *s, int ret, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (s != NULL && ret == DB_RUNRECOVERY)
		s->panicked = true;
	if (s != NULL && s->errbuf[0] != '\0') {
		char *c = xasprintf("%s: %s (%s)", what, db_strerror(ret), s->errbuf);
		s->errbuf[0] = '\0';
		return (c);
	}
	return (xasprintf("%s: %s", what, db_strerror(ret)));
}

int
store_txn_err(struct store *s, int ret, char **cause, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	if (store_retryable(ret))
		return (ret);
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	store_set_cause(cause, store_cause(s, ret, "%s", what));
	return (-1);
}

/* Berkeley DB's own messages: log them and keep the last one for the next cause. */
static void
store_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	struct store *s = env->app_private;

	/* Keep the cause of a panic (say, a checksum error) over the PANIC lines after it. */
	if (s != NULL && (s->errbuf[0] == '\0' || strstr(msg, "PANIC") == NULL))
		snprintf(s->errbuf, sizeof(s->errbuf), "%s", msg);
	log_warnx("%s%s%s", pfx != NULL ? pfx : "", pfx != NULL ? ": " : "", msg);
}

/* Informational messages (failchk reports what it freed). */
static void
store_msgcall(const DB_ENV *env, const char *msg)
{
	log_info("%s", msg);
}

/* The environment panicked (a corrupt page, a failed write, a process dead inside the
 * library), or one of our calls found it panicked by another process: Berkeley DB tells
 * us with DB_EVENT_PANIC, and every call returns DB_RUNRECOVERY from now on. */
static void
store_event(DB_ENV *env, uint32_t event, void *info)
{
	struct store *s = env->app_private;

	if (event == DB_EVENT_PANIC && s != NULL)
		s->panicked = true;
}

bool
store_panicked(struct store *s)
{
	return (s->panicked);
}

/* failchk's question: does the process still exist? A zombie counts as alive, so the
 * supervisor reaps a child before calling store_failchk. */
static int
store_isalive(DB_ENV *env, pid_t pid, db_threadid_t tid, uint32_t flags)
{
	if (pid == getpid())
		return (1);
	if (kill(pid, 0) == 0 || errno == EPERM)
		return (1);
	return (0);
}

/* The data directory holds the cursor secret and every job: group and others get nothing.
 * A looser directory of ours is tightened, anyone else's only reported. */
static void
store_check_dir_mode(const char *dir, const struct stat *st)
{
	mode_t mode = st->st_mode & 07777;

	if (st->st_uid == geteuid()) {
		if (chmod(dir, mode & ~(mode_t)077) == 0) {
			log_warnx("data directory %s had mode %04o: changed to %04o", dir,
				  (unsigned)mode, (unsigned)(mode & ~(mode_t)077));
			return;
		}
		log_warnx("data directory %s has mode %04o and chmod failed: %s", dir,
			  (unsigned)mode, strerror(errno));
		return;
	}
	log_warnx("data directory %s has mode %04o and belongs to uid %ld, not us: group "
		  "and others can read the jobs and the cursor secret", dir, (unsigned)mode,
		  (long)st->st_uid);
}

/* The data directory: created by the writing roles, writable and not full. */
static int
store_check_dir(const char *dir, enum store_role role, char **cause)
{
	struct stat st;
	struct statvfs vfs;
	char path[4096];
	char buf[512];
	int fd, serr;
	ssize_t n;

	if (stat(dir, &st) == -1) {
		if (errno != ENOENT || !store_role_writes(role)) {
			*cause = xasprintf("data directory %s: %s", dir, strerror(errno));
			return (-1);
		}
		if (mkdir(dir, 0700) == -1) {
			*cause = xasprintf("cannot create data directory %s: %s", dir,
					   strerror(errno));
			return (-1);
		}
		if (stat(dir, &st) == -1) {
			*cause = xasprintf("data directory %s: %s", dir, strerror(errno));
			return (-1);
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		*cause = xasprintf("data directory %s is not a directory", dir);
		return (-1);
	}
	if (store_role_writes(role) && (st.st_mode & 077) != 0)
		store_check_dir_mode(dir, &st);
	if (statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
		*cause = xasprintf("data directory %s is on a read-only file system", dir);
		return (-1);
	}
	/* Joining roles leave errors to Berkeley DB; the writing ones check up front.
	 * root passes access(W_OK) everywhere: probe with a real write instead. */
	if (!store_role_writes(role))
		return (0);
	if (snprintf(path, sizeof(path), "%s/.jobsd-probe.%ld", dir, (long)getpid()) >=
	    (int)sizeof(path)) {
		*cause = xasprintf("data directory %s: path too long", dir);
		return (-1);
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, STORE_FILE_MODE)) ==
	    -1) {
		*cause = xasprintf("data directory %s is not writable: %s", dir,
				   strerror(errno));
		return (-1);
	}
	memset(buf, 0, sizeof(buf));
	n = write(fd, buf, sizeof(buf));
	serr = errno;
	if (n == (ssize_t)sizeof(buf) && fsync(fd) == -1) {
		n = -1;
		serr = errno;
	}
	close(fd);
	unlink(path);
	if (n != (ssize_t)sizeof(buf)) {
		if (n >= 0)
			serr = ENOSPC;
		*cause = xasprintf("data directory %s is %s: %s", dir,
				   serr == ENOSPC || serr == EDQUOT ? "full" : "not writable",
				   strerror(serr));
		return (-1);
	}
	return (0);
}

/* The exclusive lock of the writing roles: data_dir/jobsd.lock holding our pid. */
static int
store_lock(struct store *s, char **cause)
{
	char path[4096], buf[32];
	ssize_t n;
	long pid;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", s->data_dir, STORE_LOCK_FILE);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, STORE_FILE_MODE)) == -1) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return (-1);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK) {
			*cause = xasprintf("%s: lock: %s", path, strerror(errno));
			close(fd);
			return (-1);
		}
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		pid = strtol(buf, NULL, 10);
		*cause = xasprintf("another jobsd is running on %s (pid %ld)", s->data_dir, pid);
		close(fd);
		return (-1);
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, n, 0) != n) {
		*cause = xasprintf("%s: write: %s", path, strerror(errno));
		close(fd);
		return (-1);
	}
	s->lock_fd = fd;
	return (0);
}

/*
 * Recovery rebuilds the environment's regions under anyone still attached, so it must
 * only run when nobody is: every process holds a shared flock on jobsd.env.lock while
 * attached; a writing role takes it exclusively for the recovery (waiting a bounded time
 * for stale workers or listeners of a killed supervisor to go), then shares it.
 */
static int
store_env_lock(struct store *s, char **cause)
{
	struct timespec ts = {0, 50 * 1000 * 1000};
	char path[4096];
	bool w = store_role_writes(s->role);
	int fd, waited, limit = w ? store_recover_wait_ms : store_join_wait_ms;
	bool told = false;

	snprintf(path, sizeof(path), "%s/%s", s->data_dir, STORE_ENV_LOCK_FILE);
	if ((fd = open(path, (w ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, STORE_FILE_MODE)) ==
	    -1) {
		if (errno == ENOENT)
			*cause = xasprintf("no database environment in %s (is jobsd running?)",
					   s->data_dir);
		else
			*cause = xasprintf("%s: %s", path, strerror(errno));
		return (-1);
	}
	for (waited = 0;; waited += 50) {
		if (flock(fd, (w ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			*cause = xasprintf("%s: lock: %s", path, strerror(errno));
			close(fd);
			return (-1);
		}
		if (waited >= limit) {
			if (w)
				*cause = xasprintf("the database environment in %s is still used "
				    "by other processes (a stale jobsd-http or jobsd-worker?)",
				    s->data_dir);
			else
				*cause = xasprintf("the database environment in %s is being "
				    "recovered", s->data_dir);
			close(fd);
			return (-1);
		}
		if (w && !told) {
			log_warnx("waiting for other processes to leave the database "
				  "environment in %s", s->data_dir);
			told = true;
		}
		nanosleep(&ts, NULL);
	}
	s->env_lock_fd = fd;
	return (0);
}

/* Read the cursor secret, creating it first when the role writes and it is absent. */
static int
store_load_key(struct store *s, char **cause)
{
	uint8_t key[CURSOR_KEY_LEN + 1];
	char path[4096], tmp[4200];
	size_t got;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", s->data_dir, STORE_KEY_FILE);
	if (store_role_writes(s->role) && access(path, F_OK) == -1 && errno == ENOENT) {
		for (got = 0; got < CURSOR_KEY_LEN; got += n) {
			n = getrandom(key + got, CURSOR_KEY_LEN - got, 0);
			if (n == -1 && errno == EINTR)
				n = 0;
			else if (n == -1) {
				*cause = xasprintf("getrandom: %s", strerror(errno));
				return (-1);
			}
		}
		/* Write a temporary file and rename it: never a short key after a crash. */
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, STORE_FILE_MODE);
		if (fd == -1 || write(fd, key, CURSOR_KEY_LEN) != CURSOR_KEY_LEN ||
		    fsync(fd) == -1 || close(fd) == -1 || rename(tmp, path) == -1) {
			*cause = xasprintf("%s: %s", tmp, strerror(errno));
			if (fd != -1)
				close(fd);
			unlink(tmp);
			return (-1);
		}
		explicit_bzero(key, sizeof(key));
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return (-1);
	}
	n = read(fd, key, sizeof(key));
	close(fd);
	memcpy(s->cursor_key, key, sizeof(s->cursor_key));
	explicit_bzero(key, sizeof(key));
	if (n != (ssize_t)CURSOR_KEY_LEN) {
		*cause = xasprintf("%s: expected %zu bytes", path, sizeof(s->cursor_key));
		return (-1);
	}
	return (0);
}

/*
 * The shared structures of the main region: small initial counts that grow on demand up to
 * the lk_max and tx_max bounds. Preallocating the bounds made the supervisor touch (and
 * count in its RSS) ~20 MiB of region pages at creation that a normal load never uses.
 */
static int
store_env_memory(DB_ENV *env)
{
	int ret;

	if ((ret = env->set_memory_init(env, DB_MEM_LOCK, STORE_LOCKS_INIT)) != 0 ||
	    (ret = env->set_memory_init(env, DB_MEM_LOCKOBJECT, STORE_LOCKS_INIT)) != 0 ||
	    (ret = env->set_memory_init(env, DB_MEM_LOCKER, STORE_LOCKERS_INIT)) != 0 ||
	    (ret = env->set_memory_init(env, DB_MEM_TRANSACTION, STORE_TXNS_INIT)) != 0 ||
	    (ret = env->set_memory_init(env, DB_MEM_THREAD, STORE_THREADS_INIT)) != 0 ||
	    (ret = env->set_lk_tablesize(env, STORE_LOCK_TABLE)) != 0 ||
	    (ret = env->set_lk_max_locks(env, STORE_LOCKS_MAX)) != 0 ||
	    (ret = env->set_lk_max_objects(env, STORE_LOCKS_MAX)) != 0 ||
	    (ret = env->set_lk_max_lockers(env, STORE_LOCKERS_MAX)) != 0 ||
	    (ret = env->set_tx_max(env, STORE_TXNS_MAX)) != 0 ||
	    (ret = env->mutex_set_init(env, STORE_MUTEX_INIT)) != 0 ||
	    (ret = env->mutex_set_max(env, STORE_MUTEX_MAX)) != 0)
		return (ret);
	return (0);
}

static int
store_env_open(struct store *s, char **cause)
{
	DB_ENV *env;
	uint32_t flags;
	int ret;

	if ((ret = db_env_create(&env, 0)) != 0) {
		*cause = xasprintf("db_env_create: %s", db_strerror(ret));
		return (-1);
	}
	s->env = env;
	env->app_private = s;
	env->set_errcall(env, store_errcall);
	env->set_msgcall(env, store_msgcall);
	env->set_event_notify(env, store_event);
	if ((ret = env->set_cachesize(env, 0, s->role == STORE_TOOL ? STORE_TOOL_CACHE_BYTES :
	    STORE_CACHE_BYTES, 1)) != 0 ||
	    (ret = env->set_lg_bsize(env, STORE_LOG_BUF_BYTES)) != 0 ||
	    (ret = env->set_lk_detect(env, DB_LOCK_MINWRITE)) != 0 ||
	    (ret = store_env_memory(env)) != 0 ||
	    (ret = env->set_thread_count(env, STORE_THREAD_COUNT)) != 0 ||
	    (ret = env->set_isalive(env, store_isalive)) != 0 ||
	    (ret = env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1)) != 0) {
		*cause = store_cause(s, ret, "configure environment in %s", s->data_dir);
		return (-1);
	}
	/* A worker's commits are written to the log file but not flushed by the worker: the
	 * log is shared, and the supervisor's durable commit of the job's end, which follows
	 * every commit the worker made, flushes the file up to and past them (DESIGN: durable
	 * before reported). Written, not left in the shared buffer: an in-place recovery
	 * (recovery.c) between the worker's exit and that commit replays them from the file.
	 * So no worker ever waits for the disk: every job's batches are committed this way, and
	 * a job's result goes out without an fsync of its own. The few small commits that pass
	 * DB_TXN_NOSYNC (a sync's generation and record numbers) stay in the buffer until the
	 * next written commit; lost, they stamp nothing. */
	if (s->role == STORE_WORKER &&
	    (ret = env->set_flags(env, DB_TXN_WRITE_NOSYNC, 1)) != 0) {
		*cause = store_cause(s, ret, "configure environment in %s", s->data_dir);
		return (-1);
	}
	/* Regions elsewhere (store_regions.c): databases and log files stay in data_dir. */
	if (strcmp(s->home, s->data_dir) != 0 &&
	    ((ret = env->set_data_dir(env, s->data_dir)) != 0 ||
	     (ret = env->set_lg_dir(env, s->data_dir)) != 0)) {
		*cause = store_cause(s, ret, "configure environment in %s", s->data_dir);
		return (-1);
	}
	flags = DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL;
	if (store_role_writes(s->role))
		flags |= DB_CREATE | DB_RECOVER;
	if ((ret = env->open(env, s->home, flags, STORE_FILE_MODE)) != 0) {
		if (ret == ENOENT && !store_role_writes(s->role))
			*cause = xasprintf("no database environment in %s (is jobsd running?)",
					   s->data_dir);
		else
			*cause = store_cause(s, ret, "open database environment in %s",
					     s->data_dir);
		return (-1);
	}
	s->env_open = true;
	return (0);
}

int
store_open(const char *data_dir, enum store_role role, struct store **out, char **cause)
{
	struct store *s;
	char *c = NULL;

	*out = NULL;
	s = xcalloc(1, sizeof(*s));
	s->data_dir = xstrdup(data_dir);
	s->role = role;
	s->lock_fd = -1;
	s->env_lock_fd = -1;

	if (store_check_dir(data_dir, role, &c) != 0)
		goto fail;
	if (store_role_writes(role) && store_lock(s, &c) != 0)
		goto fail;
	if (store_env_lock(s, &c) != 0)
		goto fail;
	s->home = store_role_writes(role) ? store_regions_prepare(data_dir) :
	    store_regions_home(data_dir);
	if (store_env_open(s, &c) != 0)
		goto fail;
	/* Recovered: others may join now. */
	if (store_role_writes(role) && flock(s->env_lock_fd, LOCK_SH) == -1) {
		c = xasprintf("%s: lock: %s", data_dir, strerror(errno));
		goto fail;
	}
	/* Workers never sign a cursor: they do not read the key (least privilege). */
	if (role != STORE_WORKER && store_load_key(s, &c) != 0)
		goto fail;
	if (store_open_dbs(s, &c) != 0)
		goto fail;
	*out = s;
	return (0);

fail:
	store_set_cause(cause, c);
	store_close(s);
	return (-1);
}

/* A joining role closes without writing the shared cache's dirty pages (DB_NOSYNC): what
 * it committed is durable in the log, and the supervisor's checkpoints write the pages.
 * Otherwise every worker's exit would sync meta.db (and the log before it). */
/* Berkeley DB cannot free the handles of a panicked environment (their close fails with
 * DB_RUNRECOVERY and leaves them allocated): a store closed in that state is kept on this
 * list with its handle pointers, so that the memory stays reachable instead of leaking
 * unseen (a few tens of KB per in-place recovery of the supervisor, recovery.c). */
static struct store *volatile store_graveyard; /* volatile: written, never read */

static void
store_close_db(struct store *s, DB **db)
{
	if (*db != NULL) {
		if ((*db)->close(*db, store_role_writes(s->role) ? 0 : DB_NOSYNC) ==
		    DB_RUNRECOVERY || s->panicked) {
			s->panicked = true;
			return; /* keep the pointer: see store_graveyard */
		}
		*db = NULL;
	}
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->seq != NULL) {
		if (s->seq->close(s->seq, 0) == DB_RUNRECOVERY || s->panicked)
			s->panicked = true;
		else
			s->seq = NULL;
	}
	store_close_db(s, &s->bulk_idx);
	store_close_db(s, &s->bulk_jobs);
	store_close_db(s, &s->jobs_idx);
	store_close_db(s, &s->jobs);
	store_close_db(s, &s->seqdb);
	store_close_db(s, &s->meta);
	store_close_db(s, &s->joblog);
	store_close_db(s, &s->token_hash);
	store_close_db(s, &s->tokens);
	if (s->env != NULL) {
		if (store_role_writes(s->role) && s->env_open && !s->panicked)
			s->env->txn_checkpoint(s->env, 0, 0, 0);
		s->env->close(s->env, 0);
	}
	/* The last one out of a cleanly closed environment removes its regions: nothing in
	 * them outlives the processes (every writer's open recovers and rebuilds them). */
	if (store_role_writes(s->role) && s->env_open && !s->panicked && s->home != NULL &&
	    strcmp(s->home, s->data_dir) != 0 &&
	    flock(s->env_lock_fd, LOCK_EX | LOCK_NB) == 0)
		store_regions_remove(s->data_dir);
	if (s->env_lock_fd != -1)
		close(s->env_lock_fd);
	if (s->lock_fd != -1)
		close(s->lock_fd);
	s->env_lock_fd = s->lock_fd = -1;
	explicit_bzero(s->cursor_key, sizeof(s->cursor_key));
	if (s->panicked) {
		s->grave_next = store_graveyard;
		store_graveyard = s;
		return;
	}
	free(s->home);
	free(s->data_dir);
	free(s);
}

DB_ENV *
store_env(struct store *s)
{
	return (s->env);
}

const char *
store_data_dir(const struct store *s)
{
	return (s->data_dir);
}

const uint8_t *
store_cursor_key(const struct store *s)
{
	return (s->cursor_key);
}

int
store_failchk(struct store *s, char **cause)
{
	int ret;

	if ((ret = s->env->failchk(s->env, 0)) == 0)
		return (0);
	if (ret == DB_RUNRECOVERY) {
		/* The dead process may hold region mutexes: make every process fail fast
		 * with DB_RUNRECOVERY instead of hanging on them. */
		s->env->set_flags(s->env, DB_PANIC_ENVIRONMENT, 1);
		s->panicked = true;
	}
	if (ret == DB_RUNRECOVERY)
		store_set_cause(cause, store_cause(s, ret,
		    "a process died inside Berkeley DB; %s needs recovery",
		    s->data_dir));
	else
		store_set_cause(cause, store_cause(s, ret, "failchk"));
	return (-1);
}

int
store_checkpoint(struct store *s)
{
	int ret;

	if ((ret = s->env->txn_checkpoint(s->env, 0, 0, 0)) != 0) {
		log_warnx("checkpoint %s: %s", s->data_dir, db_strerror(ret));
		return (-1);
	}
	return (0);
}

/* Open one database file of the environment. readonly opens it DB_RDONLY. */
static int
store_open_one(struct store *s, DB **out, const char *name, DBTYPE type, uint32_t flags,
	       bool readonly, char **cause)
{
	char file[256];
	DB *db;
	int ret;

	*out = NULL;
	if (snprintf(file, sizeof(file), "%s.db", name) >= (int)sizeof(file)) {
		*cause = xasprintf("database name too long: %s", name);
		return (-1);
	}
	if ((ret = db_create(&db, s->env, 0)) != 0) {
		*cause = store_cause(s, ret, "db_create %s", name);
		return (-1);
	}
	/* Only takes effect when the file is created. */
	if ((strcmp(name, "jobs") == 0 || strcmp(name, "jobs_idx") == 0) &&
	    (ret = db->set_pagesize(db, STORE_JOBS_PAGESIZE)) != 0) {
		*cause = store_cause(s, ret, "set_pagesize %s", name);
		db->close(db, 0);
		return (-1);
	}
	/* Checksummed pages (only when the file is created): a corrupt page is then an
	 * error (DB_RUNRECOVERY) instead of garbage that a search can loop on forever. */
	if ((ret = db->set_flags(db, DB_CHKSUM)) != 0) {
		*cause = store_cause(s, ret, "set_flags %s", name);
		db->close(db, 0);
		return (-1);
	}
	flags |= DB_AUTO_COMMIT;
	if (readonly)
		flags = (flags & ~DB_CREATE) | DB_RDONLY;
	if ((ret = db->open(db, NULL, file, NULL, type, flags, STORE_FILE_MODE)) != 0) {
		*cause = store_cause(s, ret, "open database %s in %s", file, s->data_dir);
		db->close(db, 0);
		return (-1);
	}
	*out = db;
	return (0);
}

int
store_db_open(struct store *s, const char *name, DBTYPE type, uint32_t flags, DB **out,
	      char **cause)
{
	char *c = NULL;

	if (s->role != STORE_READER)
		flags |= DB_CREATE;
	if (store_open_one(s, out, name, type, flags, s->role == STORE_READER, &c) != 0) {
		store_set_cause(cause, c);
		return (-1);
	}
	return (0);
}

/* The sequence of job numbers: strictly increasing, no cache, so every allocation is
 * its own durable update and a number is never handed out twice. */
static int
store_open_seq(struct store *s, char **cause)
{
	static const char name[] = "jobs_seq";
	DBT key;
	int ret;

	if ((ret = db_sequence_create(&s->seq, s->seqdb, 0)) != 0) {
		*cause = store_cause(s, ret, "db_sequence_create");
		return (-1);
	}
	memset(&key, 0, sizeof(key));
	key.data = store_unconst(name);
	key.size = sizeof(name) - 1;
	if ((ret = s->seq->initial_value(s->seq, 1)) != 0 ||
	    (ret = s->seq->set_range(s->seq, 1, INT64_MAX)) != 0 ||
	    (ret = s->seq->open(s->seq, NULL, &key, DB_CREATE | DB_AUTO_COMMIT)) != 0) {
		*cause = store_cause(s, ret, "open sequence %s", name);
		s->seq->close(s->seq, 0);
		s->seq = NULL;
		return (-1);
	}
	return (0);
}

static int
store_open_dbs(struct store *s, char **cause)
{
	bool w = store_role_writes(s->role);
	bool reader = s->role == STORE_READER;
	/* Multiversion: snapshot readers never lock, so they neither block the supervisor
	 * nor become deadlock victims of its updates of the newest jobs. */
	uint32_t create = (w ? DB_CREATE : 0) | DB_MULTIVERSION;
	DB_TXN *txn = NULL;
	int ret;

	/* Workers keep meta (sync watermarks) writable; jobs, joblog and tokens are written
	 * by the supervisor alone. A worker reads none of them, so it opens meta only (and
	 * its own databases through store_db_open): fewer opens in every job's start. */
	if (store_open_one(s, &s->meta, "meta", DB_BTREE, create, reader, cause) != 0)
		return (-1);
	if (s->role == STORE_WORKER)
		return (0);
	if (store_open_one(s, &s->jobs, "jobs", DB_BTREE, create, !w, cause) != 0 ||
	    store_open_one(s, &s->jobs_idx, "jobs_idx", DB_BTREE, create, !w, cause) != 0 ||
	    store_open_one(s, &s->seqdb, "jobs_seq", DB_BTREE, create, !w, cause) != 0 ||
	    store_open_one(s, &s->joblog, "joblog", DB_BTREE, create, reader, cause) != 0 ||
	    store_open_one(s, &s->tokens, "tokens", DB_BTREE, create, !w, cause) != 0 ||
	    store_open_one(s, &s->token_hash, "token_hash", DB_BTREE, create, !w, cause) != 0)
		return (-1);

	if (w && store_txn_begin(s, 0, &txn, cause) != 0)
		return (-1);
	ret = s->jobs->associate(s->jobs, txn, s->jobs_idx, store_idx_callback,
	    w ? DB_CREATE : 0);
	if (ret != 0) {
		if (txn != NULL)
			txn->abort(txn);
		*cause = store_cause(s, ret, "associate jobs_idx");
		return (-1);
	}
	if (txn != NULL && (ret = txn->commit(txn, 0)) != 0) {
		*cause = store_cause(s, ret, "associate jobs_idx: commit");
		return (-1);
	}
	if (w && store_open_seq(s, cause) != 0)
		return (-1);
	return (0);
}

int
store_txn_begin(struct store *s, uint32_t flags, DB_TXN **txn, char **cause)
{
	int ret;

	if ((ret = s->env->txn_begin(s->env, NULL, txn, flags)) != 0) {
		*txn = NULL;
		store_set_cause(cause, store_cause(s, ret, "txn_begin"));
		return (-1);
	}
	return (0);
}

/*
 * Run fn in a transaction. fn returns 0 to commit; a Berkeley DB lock conflict
 * (DB_LOCK_DEADLOCK, DB_LOCK_NOTGRANTED) aborts and retries, with a short growing
 * back-off, up to STORE_TXN_RETRIES times (STORE_READ_RETRIES for readers:
 * DB_READ_COMMITTED or DB_TXN_SNAPSHOT), then -1 with cause; anything else aborts and
 * is returned as is (with a cause when it is a Berkeley DB error code).
 */
int
store_with_txn(struct store *s, uint32_t flags, store_txn_fn fn, void *arg, char **cause)
{
	struct timespec ts;
	DB_TXN *txn;
	int attempt, retries, r, ret;

	/* Readers are the deadlock victims (DB_LOCK_MINWRITE), so they get more tries. */
	retries = (flags & (DB_READ_COMMITTED | DB_TXN_SNAPSHOT)) ? STORE_READ_RETRIES :
	    STORE_TXN_RETRIES;
	for (attempt = 0; attempt < retries; attempt++) {
		if (attempt > 0) {
			ts.tv_sec = 0;
			ts.tv_nsec = (long)(attempt < 10 ? attempt : 10) * 1000000;
			nanosleep(&ts, NULL);
		}
		if (store_txn_begin(s, flags, &txn, cause) != 0)
			return (-1);
		r = fn(s, txn, arg);
		if (r != 0) {
			txn->abort(txn);
			if (store_retryable(r))
				continue;
			if (r >= DB_BUFFER_SMALL && r <= -30800 && cause != NULL)
				*cause = store_cause(s, r, "transaction");
			return (r);
		}
		if ((ret = txn->commit(txn, 0)) != 0) {
			store_set_cause(cause, store_cause(s, ret, "commit"));
			return (-1);
		}
		return (0);
	}
	store_set_cause(cause, xasprintf("transaction: still conflicting after %d attempts",
					 retries));
	return (-1);
}

/* Inside a caller's transaction a lock conflict is returned as is, for its
 * store_with_txn to retry; without one the call runs in its own retried transaction. */
struct meta_arg {
	const char *key;
	void *val;
	const void *cval;
	size_t cap, len;
	char *cause;
};

static int
meta_get_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct meta_arg *a = arg;

	free(a->cause);
	a->cause = NULL;
	return (store_meta_get(s, txn, a->key, a->val, a->cap, &a->len, &a->cause));
}

static int
meta_put_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct meta_arg *a = arg;

	free(a->cause);
	a->cause = NULL;
	return (store_meta_put(s, txn, a->key, a->cval, a->len, &a->cause));
}

int
store_meta_get(struct store *s, DB_TXN *txn, const char *key, void *val, size_t cap,
	       size_t *len, char **cause)
{
	DBT k, d;
	int ret;

	if (txn == NULL) {
		struct meta_arg a = {key, val, NULL, cap, 0, NULL};

		ret = store_with_txn(s, STORE_READ_TXN, meta_get_txn, &a, cause);
		if (ret == 0 && len != NULL)
			*len = a.len;
		if (ret != 0 && ret != STORE_NOTFOUND) {
			if (a.cause != NULL)
				store_set_cause(cause, a.cause);
			return (-1);
		}
		return (ret);
	}

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = store_unconst(key);
	k.size = strlen(key);
	d.data = val;
	d.ulen = cap;
	d.flags = DB_DBT_USERMEM;
	ret = s->meta->get(s->meta, txn, &k, &d, 0);
	if (ret == DB_NOTFOUND)
		return (STORE_NOTFOUND);
	if (ret == DB_BUFFER_SMALL) {
		store_set_cause(cause, xasprintf("meta %s: value of %u bytes exceeds %zu", key,
						 d.size, cap));
		return (-1);
	}
	if (ret != 0) {
		return (store_txn_err(s, ret, cause, "meta get %s", key));
	}
	if (len != NULL)
		*len = d.size;
	return (0);
}

int
store_meta_put(struct store *s, DB_TXN *txn, const char *key, const void *val, size_t len,
	       char **cause)
{
	DBT k, d;
	int ret;

	if (txn == NULL) {
		struct meta_arg a = {key, NULL, val, 0, len, NULL};

		if (store_with_txn(s, 0, meta_put_txn, &a, cause) != 0) {
			if (a.cause != NULL)
				store_set_cause(cause, a.cause);
			return (-1);
		}
		return (0);
	}

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = store_unconst(key);
	k.size = strlen(key);
	d.data = store_unconst(val);
	d.size = len;
	if ((ret = s->meta->put(s->meta, txn, &k, &d, 0)) != 0) {
		return (store_txn_err(s, ret, cause, "meta put %s", key));
	}
	return (0);
}

/* Remove a meta value inside txn; an absent one is not an error. */
int
store_meta_del(struct store *s, DB_TXN *txn, const char *key, char **cause)
{
	DBT k;
	int ret;

	memset(&k, 0, sizeof(k));
	k.data = store_unconst(key);
	k.size = strlen(key);
	ret = s->meta->del(s->meta, txn, &k, 0);
	if (ret == 0 || ret == DB_NOTFOUND)
		return (0);
	return (store_txn_err(s, ret, cause, "meta del %s", key));
}
