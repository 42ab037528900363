/* store.h: the Berkeley DB state of jobsd. One transactional environment in data_dir shared
 * by every process (DESIGN.md section 2). The supervisor opens it first, with recovery, and
 * is the only writer of job records; workers write identity data; HTTP listeners read.
 * Each process opens its own handles after exec (never across fork).
 *
 * Return convention: 0 success, STORE_NOTFOUND / STORE_EXISTS where stated, -1 error with a
 * malloc'd *cause (when cause != NULL) that the caller frees. */
#ifndef JOBSD_STORE_H
#define JOBSD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <db.h>

#include "cursor.h"
#include "job.h"

#define STORE_NOTFOUND 1
#define STORE_EXISTS 2

enum store_role {
	STORE_SUPERVISOR, /* create env and dbs, run recovery, take the data_dir lock */
	STORE_WORKER,     /* join the env; meta and identity data only (no jobs, joblog or
			     tokens: the job functions must not be called on it) */
	STORE_READER,     /* join the env; read jobs and tokens (jobsd-http, jobctl tools) */
	STORE_TOOL,       /* offline writer with recovery (jobsd-datagen --jobs on a stopped
			     daemon's data_dir); takes the data_dir lock like the supervisor */
};

struct store;

/* The environment's shared regions (store_regions.c) are kept under this memory file
 * system directory by the writing roles, in data_dir when it is "" or unusable. Set
 * before store_open (the supervisor's region_dir); the joining roles follow the writer's
 * choice through data_dir/regions. */
#define STORE_REGION_BASE_DEFAULT "/dev/shm"
void store_set_region_base(const char *dir);

int store_open(const char *data_dir, enum store_role role, struct store **out, char **cause);
void store_close(struct store *s); /* checkpoints when the role writes */
DB_ENV *store_env(struct store *s);
const char *store_data_dir(const struct store *s);
/* After a child process died: release what it held (locks, open txns). -1 with cause if the
 * environment needs a full recovery (all processes must close it). */
int store_failchk(struct store *s, char **cause);
int store_checkpoint(struct store *s);
/* Has the environment panicked (any store call saw DB_RUNRECOVERY: a corrupt page, a
 * process dead inside Berkeley DB)? Every later call fails until recovery (recovery.c). */
bool store_panicked(struct store *s);
/* The per-installation 32-byte secret that binds pagination cursors (created 0600 on the
 * first supervisor start, read by every role but the worker's, where it is all zeros). */
const uint8_t *store_cursor_key(const struct store *s);

/* Open (creating when the role writes) a database of the environment, for identity data:
 * btree unless type says otherwise, auto-commit. */
int store_db_open(struct store *s, const char *name, DBTYPE type, uint32_t flags, DB **out,
		  char **cause);
/* Run fn in a transaction, retrying on DB_LOCK_DEADLOCK (bounded). fn returns 0 to commit,
 * anything else to abort (returned as is). flags: DB_TXN_NOSYNC etc. for txn_begin. */
typedef int (*store_txn_fn)(struct store *s, DB_TXN *txn, void *arg);
int store_with_txn(struct store *s, uint32_t flags, store_txn_fn fn, void *arg, char **cause);

/* Small named values (sync watermarks, format versions): the "meta" database. */
int store_meta_get(struct store *s, DB_TXN *txn, const char *key, void *val, size_t cap,
		   size_t *len, char **cause); /* STORE_NOTFOUND */
int store_meta_put(struct store *s, DB_TXN *txn, const char *key, const void *val,
		   size_t len, char **cause);
int store_meta_del(struct store *s, DB_TXN *txn, const char *key, char **cause);

/* --- jobs ------------------------------------------------------------------ */
/* Next job number from the DB sequence (durable, strictly increasing, never reused). */
int store_job_alloc(struct store *s, uint64_t *no, char **cause);
/* Insert or replace j. durable: commit with fsync (state transitions); otherwise
 * DB_TXN_NOSYNC (progress). Keeps the secondary indices and the per status/type counts. */
int store_job_put(struct store *s, const struct job *j, bool durable, char **cause);
/* Group commit (the supervisor's state transitions): store_job_alloc and store_job_put
 * committed with DB_TXN_WRITE_NOSYNC (the log is written to the file, so a crash of the
 * process loses nothing, but not fsynced); store_log_flush then fsyncs the log up to
 * everything committed so far, by anyone. Durable only once store_log_flush returned 0. */
int store_job_alloc_nosync(struct store *s, uint64_t *no, char **cause);
int store_job_put_nosync(struct store *s, const struct job *j, char **cause);
int store_log_flush(struct store *s, char **cause);
int store_job_get(struct store *s, uint64_t no, struct job *j, char **cause); /* NOTFOUND */
/* The raw encoded record (for readers that only forward it); *data is malloc'd. */
int store_job_get_raw(struct store *s, uint64_t no, void **data, size_t *len, char **cause);
/* One page of the list endpoint: newest first by creation, or by start time when the query
 * has a date bound. Every filter combination is answered from an index, reading about
 * q->first records. out has room for q->first jobs; the caller job_free()s each. */
int store_jobs_list(struct store *s, const struct job_query *q, struct job *out, size_t *n,
		    bool *has_more, char **cause);
/* The same page for a caller that keeps what it rendered of finished jobs (which never
 * change): the index is walked without reading records, and have(no, arg) is asked for
 * each job on the page; for the jobs it holds, only out[i].no is set (nothing to free)
 * and loaded[i] is false; the others are read and decoded (loaded[i] true), and the
 * caller job_free()s those. have may be called again for the same job when the read is
 * retried. */
typedef bool (*store_list_have_fn)(uint64_t no, void *arg);
int store_jobs_list_cached(struct store *s, const struct job_query *q,
			   store_list_have_fn have, void *arg, struct job *out, bool *loaded,
			   size_t *n, bool *has_more, char **cause);
/* Every job with status st, oldest first (recovery, rebuilding the queue, running list).
 * cb returns nonzero to stop. */
typedef int (*store_job_cb)(const struct job *j, void *arg);
int store_jobs_by_status(struct store *s, enum job_status st, store_job_cb cb, void *arg,
			 char **cause);
/* Counts per status and type, maintained transactionally by store_job_put (metrics). */
int store_job_counts(struct store *s, uint64_t counts[JOB_STATUS_COUNT][JOB_TYPE_COUNT],
		     char **cause);
/* Retention: delete at most max_delete finished jobs (oldest first) that either ended before
 * cutoff_ms or are beyond the newest keep_count finished jobs; their log lines too. */
int store_jobs_prune(struct store *s, int64_t cutoff_ms, uint64_t keep_count,
		     size_t max_delete, size_t *deleted, char **cause);

/* Job log lines (from workers), capped per job (STORE_LOG_MAX_LINES, then one line saying
 * how many were dropped). Appends are not fsynced. */
#define STORE_LOG_MAX_LINES 1000
int store_job_log_append(struct store *s, uint64_t no, int64_t ts_ms, int level,
			 const char *text, char **cause);
typedef int (*store_log_cb)(int64_t ts_ms, int level, const char *text, void *arg);
int store_job_log_read(struct store *s, uint64_t no, store_log_cb cb, void *arg,
		       char **cause);

/* --- API tokens (only SHA-256 hashes are stored) --------------------------- */
#define TOKEN_NAME_MAX 64
#define TOKEN_HASH_LEN 32
struct token {
	char name[TOKEN_NAME_MAX];
	char role[16]; /* "Administrator", "Reviewer", "Auditor" */
	uint8_t hash[TOKEN_HASH_LEN];
	int64_t created_ms;
};
int store_token_put(struct store *s, const struct token *t, char **cause); /* STORE_EXISTS */
/* Look up by hash; the final comparison is constant-time. STORE_NOTFOUND. */
int store_token_find(struct store *s, const uint8_t hash[TOKEN_HASH_LEN], struct token *t,
		     char **cause);
typedef int (*store_token_cb)(const struct token *t, void *arg);
int store_token_list(struct store *s, store_token_cb cb, void *arg, char **cause);
int store_token_delete(struct store *s, const char *name, char **cause); /* STORE_NOTFOUND */

#endif
