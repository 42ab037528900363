/* managers_util.h: helpers shared by manager_resolution (managers.c) and enrichment
 * (enrich.c): an in-memory table of the owners (their ids and a few string fields in one
 * arena, with sorted index arrays of u32 owner numbers for lookups: no per-record
 * allocation, no hashing), a batch-friendly scanner over a database, and the writing of
 * results records (daemon/results.h: msgpack maps ending with "_job"). */
#ifndef JOBSD_MANAGERS_UTIL_H
#define JOBSD_MANAGERS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <db.h>
#include <msgpack.h>

#include "identity.h"
#include "jobctx.h"

#define OT_NONE UINT32_MAX        /* lookup: no owner */
#define OT_AMBIG (UINT32_MAX - 1) /* lookup: more than one owner */
#define OT_MAXF 8

/* Returned by the results helpers for a lock conflict (DB_LOCK_DEADLOCK): the caller
 * aborts its transaction and redoes the batch, at most MU_RETRIES times in a row. */
#define MU_RETRY (-2)
#define MU_RETRIES 20
/* Sleep before redo number attempt (10 ms per attempt: about 2 s over all of them). */
void mu_backoff(int attempt);

/* How a field of the owner records is kept. */
enum otf_mode {
	OTF_STR,      /* the value as is */
	OTF_FOLD,     /* ASCII-lowercased (lookups fold the same way) */
	OTF_PRESENCE, /* only whether it is non-empty */
};

struct otab {
	uint32_t n, cap;
	size_t nf;
	const char *fname[OT_MAXF];
	enum otf_mode mode[OT_MAXF];
	uint64_t *off; /* n * (1 + nf): [0] the id, then the fields; OT_ABSENT if empty */
	char *arena;
	size_t alen, acap;
	uint32_t *idx[OT_MAXF]; /* sorted owner numbers having the field (otab_index) */
	uint32_t nidx[OT_MAXF];
	/* Called by otab_load every JOB_TICK_ROWS owners read (n: read so far); may be NULL. */
	void (*on_rows)(void *arg, uint32_t n);
	void *rows_arg;
};

/* Raise the job's own progress (ctx->progress, for phases that do not move processed) to
 * where a phase spanning lo..hi percent is when done of its total units are done (total 0:
 * the phase is done), never lowering it, and report it (job_ctx_progress, rate-limited). */
void mu_progress(struct job_ctx *ctx, int lo, int hi, uint64_t done, uint64_t total);

/* xrealloc of n * size bytes, fatal on overflow (like the x* allocators). */
void *mu_reallocarray(void *p, size_t n, size_t size);

/* Up to OT_MAXF fields of the owner records. */
void otab_init(struct otab *t, const char *const *fields, const enum otf_mode *mode,
	       size_t nf);
void otab_free(struct otab *t);
/* Read every owner (a read-committed scan, in key order: owner number = rank of the id). */
int otab_load(struct otab *t, struct identity *id, char **cause);
/* Build the sorted index of field f (for otab_find). */
void otab_index(struct otab *t, size_t f);
const char *otab_id(const struct otab *t, uint32_t o);
/* The field's value (folded if OTF_FOLD; "" for OTF_PRESENCE), NULL when empty. */
const char *otab_str(const struct otab *t, uint32_t o, size_t f);
bool otab_has(const struct otab *t, uint32_t o, size_t f);
/* The owner whose field f equals v (folded first for OTF_FOLD): its number, OT_NONE or
 * OT_AMBIG. *count gets the number of owners with that value (may be NULL). */
uint32_t otab_find(const struct otab *t, size_t f, const char *v, size_t len,
		   uint32_t *count);
uint32_t otab_find_id(const struct otab *t, const char *v, size_t len);

/* The string fields names[0..n-1] of an encoded record (identity or results): v[i] points
 * into data (NULL when absent or not a string), vlen[i] its length. u is the caller's
 * (msgpack_unpacked_init'ed; destroyed by the caller; valid until its next use). */
void rec_strings(msgpack_unpacked *u, const void *data, size_t len, const char *const *names,
		 size_t n, const char **v, size_t *vlen);

/* A scan over a database that can let go of its cursor between batches (scan_pause) and
 * continue after the last key it returned. Key and value stay valid until the next call. */
struct scan {
	DB *db;
	DB_TXN *txn; /* for the next cursor; NULL: read-committed without a transaction */
	DBC *c;
	char *last;
	size_t lastlen, lastcap;
	bool have_last, done;
	DBT k, v;
};
void scan_init(struct scan *s, DB *db);
/* 0 with the next record, 1 at the end, -1 with cause. */
int scan_next(struct scan *s, const void **k, size_t *klen, const void **v, size_t *vlen,
	      char **cause);
/* Delete the record scan_next returned last (the scan must have a transaction).
 * 0, MU_RETRY, -1. In a transaction scan_next returns MU_RETRY too. */
int scan_del(struct scan *s, char **cause);
void scan_pause(struct scan *s);
void scan_free(struct scan *s);
/* Where a batch started, to scan it again after MU_RETRY. */
struct scan_mark {
	char *last;
	size_t lastlen, lastcap;
	bool have_last, done;
};
void scan_mark(struct scan *s, struct scan_mark *m);
void scan_rewind(struct scan *s, const struct scan_mark *m); /* pauses the scan */
void scan_mark_free(struct scan_mark *m);

/* A results record being encoded: res_begin(n fields), the fields, res_end(job). */
struct resw {
	msgpack_sbuffer buf;
	msgpack_packer pk;
};
void resw_init(struct resw *w);
void resw_free(struct resw *w);
void res_begin(struct resw *w, size_t nfields);
void res_key(struct resw *w, const char *key);
void res_str(struct resw *w, const char *key, const char *v); /* NULL: nil */
void res_strn(struct resw *w, const char *key, const char *v, size_t len);
void res_int(struct resw *w, const char *key, int64_t v);
void res_nil(struct resw *w, const char *key);
void res_end(struct resw *w, uint64_t job);
/* Is the stored value old the same record as w, "_job" aside? */
bool res_same(const void *old, size_t oldlen, const struct resw *w);
/* Are the values of field name the same in the encoded records a and b (absent = nil)? */
bool res_field_same(const void *a, size_t alen, const void *b, size_t blen,
		    const char *name);

/* Open a results database (created when missing). */
int res_open(struct store *s, const char *name, DB **db, char **cause);
/* 0 with *data (malloc'd), STORE_NOTFOUND, -1; each of these three MU_RETRY too. */
int res_get(DB *db, DB_TXN *txn, const char *key, void **data, size_t *len, char **cause);
int res_put(DB *db, DB_TXN *txn, const char *key, const struct resw *w, char **cause);
int res_del(DB *db, DB_TXN *txn, const char *key, char **cause); /* 0, STORE_NOTFOUND, -1 */
int res_txn_begin(struct store *s, DB_TXN **txn, char **cause);

/* Delete, in batched transactions, every record of db whose key keep() refuses; each
 * committed batch's deletions are added to *counter (may be NULL). JOB_RUN_OK,
 * JOB_RUN_CANCELLED, JOB_RUN_FAILED with cause. */
typedef bool (*res_keep_fn)(const char *key, size_t klen, void *arg);
int res_prune(struct job_ctx *ctx, DB *db, res_keep_fn keep, void *arg, int64_t *counter,
	      uint64_t *ndeleted, char **cause);

#endif
