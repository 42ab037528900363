/* store_internal.h: what the store_*.c files share and nothing else includes: the store
 * handle, the index key layout and small big-endian helpers. */
#ifndef JOBSD_STORE_INTERNAL_H
#define JOBSD_STORE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <db.h>

#include "cursor.h"
#include "job.h"
#include "store.h"

struct store {
	char *data_dir;
	char *home;		/* the environment's home: data_dir/regions or data_dir */
	enum store_role role;
	int lock_fd;		/* jobsd.lock, held by SUPERVISOR and TOOL; -1 otherwise */
	int env_lock_fd;	/* jobsd.env.lock: shared while attached, exclusive to recover */
	DB_ENV *env;
	bool env_open;
	bool panicked;		/* DB_RUNRECOVERY seen: DB_EVENT_PANIC, store_cause, failchk */
	struct store *grave_next; /* store.c: closed while panicked, kept reachable */
	DB *meta;		/* "meta": small named values and the job counts */
	DB *jobs;		/* "jobs": primary, [no BE] -> job_encode() */
	DB *jobs_idx;		/* "jobs_idx": secondary of jobs, composite keys below */
	DB *seqdb;		/* "jobs_seq": holds the DB_SEQUENCE record */
	DB_SEQUENCE *seq;	/* only for the writing roles */
	DB *joblog;		/* "joblog": [no BE][line u32 BE] -> {ts, level, text} */
	DB *tokens;		/* "tokens": name -> {name, role, hash, created_ms} */
	DB *token_hash;		/* "token_hash": hash -> name */
	DB *bulk_jobs;		/* TOOL bulk loads: jobs and jobs_idx without association */
	DB *bulk_idx;
	uint8_t cursor_key[CURSOR_KEY_LEN];
	char errbuf[512];	/* last message from Berkeley DB's errcall */
};

/* How long a writing role waits for other processes to leave the environment before
 * recovering it, and a joining role waits for a recovery to end (tests shorten them). */
extern int store_recover_wait_ms;
extern int store_join_wait_ms;

/* store_regions.c. A writing role, with the environment lock held exclusively: set up
 * the region directory and return the home to open (data_dir/regions, or data_dir when
 * regions stay there). A joining role: the home the writer chose. */
char *store_regions_prepare(const char *data_dir);
char *store_regions_home(const char *data_dir);
/* A writing role's clean close, nobody else attached: remove the region directory. */
void store_regions_remove(const char *data_dir);

/* Read-only transactions of the store: snapshot isolation on its multiversion
 * databases (no read locks), committed data only. */
#define STORE_READ_TXN DB_TXN_SNAPSHOT

/* Does this role write (create databases, run recovery, hold the lock)? */
bool store_role_writes(enum store_role role);

/* -1 with a cause unless the role may write job records and tokens. */
int store_check_writer(struct store *s, const char *what, char **cause);

/* Cause helper: "what: db_strerror(ret)[: last BDB message]". */
char *store_cause(struct store *s, int ret, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void store_set_cause(char **cause, char *c); /* frees c when cause is NULL */

/* Is ret a lock conflict that store_with_txn retries? */
bool store_retryable(int ret);
/* The end of a failed call inside store_with_txn's function: ret itself when the
 * transaction is to be retried (deadlock), else -1 with *cause = store_cause(fmt...). */
int store_txn_err(struct store *s, int ret, char **cause, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Begin a transaction, or -1 with cause. */
int store_txn_begin(struct store *s, uint32_t flags, DB_TXN **txn, char **cause);

/*
 * Secondary index keys of "jobs_idx" (all integers big-endian):
 *   IDX_STATUS            [1][status u8][no u64]
 *   IDX_TYPE              [2][type u8][no u64]
 *   IDX_STATUS_TYPE       [3][status u8][type u8][no u64]
 *   IDX_START             [4][start u64][no u64]
 *   IDX_STATUS_START      [5][status u8][start u64][no u64]
 *   IDX_TYPE_START        [6][type u8][start u64][no u64]
 *   IDX_STATUS_TYPE_START [7][status u8][type u8][start u64][no u64]
 * start = (uint64_t)start_ms ^ 2^63 (order-preserving for signed values); the start-time
 * kinds exist only for jobs with start_ms != JOB_NULL.
 */
enum store_idx {
	IDX_STATUS = 1,
	IDX_TYPE,
	IDX_STATUS_TYPE,
	IDX_START,
	IDX_STATUS_START,
	IDX_TYPE_START,
	IDX_STATUS_TYPE_START,
};
#define IDX_KEY_MAX 19

/* The prefix (kind and filter bytes) of an index key; returns its length. */
size_t store_idx_prefix(enum store_idx kind, int status, int type, uint8_t *out);
/* A full index key for a job; returns its length. */
size_t store_idx_key(enum store_idx kind, int status, int type, int64_t start_ms, uint64_t no,
		     uint8_t *out);
int store_idx_callback(DB *sec, const DBT *key, const DBT *data, DBT *result);

/* Allocate n consecutive job numbers inside txn (datagen); *first is the first. */
int store_job_alloc_n(struct store *s, DB_TXN *txn, uint32_t n, uint64_t *first, char **cause);
/* Add delta to the per status/type counts inside txn. */
int store_counts_add(struct store *s, DB_TXN *txn,
		     const int64_t delta[JOB_STATUS_COUNT][JOB_TYPE_COUNT], char **cause);
/* Put an encoded job inside txn without touching the counts (datagen batches them). */
int store_job_put_raw(struct store *s, DB_TXN *txn, uint64_t no, const void *data,
		      size_t len, char **cause);
/* Bulk load of new jobs (STORE_TOOL only), numbers ascending and all above any existing
 * job: records go in through a handle without association and the index entries are
 * written by us, sorted, so that Berkeley DB's sequential-insert fast path applies. The
 * encoded record of jobs[i] is buf[off, off + len). Counts are not touched. */
struct store_bulk {
	uint64_t no;
	enum job_status status;
	enum job_type type;
	int64_t start_ms;
	size_t off, len;
};
int store_jobs_bulk_open(struct store *s, char **cause); /* before the transaction */
int store_jobs_bulk_put(struct store *s, DB_TXN *txn, const struct store_bulk *jobs,
			size_t n, const void *buf, char **cause);

/* Delete every log line of job no inside txn. */
int store_job_log_delete(struct store *s, DB_TXN *txn, uint64_t no, char **cause);

/* DBT.data is not const; Berkeley DB does not write through it for keys and puts. */
static inline void *
store_unconst(const void *p)
{
	return ((void *)(uintptr_t)p);
}

static inline void
store_be64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = v & 0xff;
		v >>= 8;
	}
}

static inline uint64_t
store_get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return (v);
}

static inline void
store_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static inline uint32_t
store_get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

#endif
