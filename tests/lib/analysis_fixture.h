/* analysis_fixture.h: helpers for the suites that run an analysis job in-process (no
 * supervisor, no worker process): a store in a temp dir, identity records written straight
 * into it, results records written and read back, and a job run through a job_ctx whose
 * callbacks record steps, log lines and progress.
 *
 *	static void setup(void) { af_setup("roles", AF_IDENTITY); }
 *	static void teardown(void) { af_teardown(); }
 *
 *	af_record(IDENT_OWNER, "o1", "department", "eng", "title", NULL, NULL);
 *	t = af_job_new(JOB_ROLE_GENERATION, 1, NULL);
 *	af_job_run(t, 0);
 *	af_expect(t, JOB_RUN_OK, 1, 0, 0);
 *	af_expect_dump(RES_DB_ROLES, "...");
 *	af_job_free(t);
 *
 * One fixture at a time (Check runs each test in its own process), held in the global af. */
#ifndef JOBSD_ANALYSIS_FIXTURE_H
#define JOBSD_ANALYSIS_FIXTURE_H

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "identity.h"
#include "job.h"
#include "store.h"
#include "worker/jobctx.h"

/* af_setup flags. */
#define AF_IDENTITY 0x1 /* keep an identity handle open from setup to teardown */

struct af_fixture {
	char dir[PATH_MAX];      /* the temp dir: the store's data dir */
	struct store *store;     /* opened STORE_SUPERVISOR */
	struct identity *ident;  /* with AF_IDENTITY, else NULL (opened per call) */
};
extern struct af_fixture af;

/* A temp dir named after prefix, the store in it, and with AF_IDENTITY an identity handle.
 * af_teardown closes them and removes the dir. */
void af_setup(const char *prefix, int flags);
void af_teardown(void);

/* --- identity records --------------------------------------------------------------- */
/* Encode the n fields f and put them as the record key (klen bytes) of type t. */
void af_put(enum ident_type t, const void *key, size_t klen, struct ident_field *f, size_t n);
/* The record id of type t with the fields "id" = id then the pairs name, value, ..., NULL
 * (a NULL value: the field is absent). At most 16 fields. */
void af_record(enum ident_type t, const char *id, ...) __attribute__((sentinel));
void af_vrecord(enum ident_type t, const char *id, va_list ap);
void af_del(enum ident_type t, const char *id); /* the record must exist */
/* The membership (account_id a, group_id g, modified_at 2025-01-01T00:00:00Z), keyed
 * a '\0' g; and its removal. */
void af_membership(const char *a, const char *g);
void af_del_membership(const char *a, const char *g);

/* --- results records ---------------------------------------------------------------- */
/* Put the value sb under key (a string) in the results db dbname. */
void af_db_put(const char *dbname, const char *key, const msgpack_sbuffer *sb);
/* A results record {f1: v1[, f2: v2], "_job": 99} the way enrichment writes them (f2 NULL:
 * one field). */
void af_res_put(const char *dbname, const char *key, const char *f1, const char *v1,
    const char *f2, const char *v2);
void af_res_del(const char *dbname, const char *key);
/* Every record of a results db as "key field=value ...\n" (fields without "_"; the key's
 * \x1f shown as '/'), or with raw true the keys and the exact bytes of the values (hex).
 * malloc'd. */
char *af_dump(const char *dbname, bool raw);
void af_expect_dump(const char *dbname, const char *want);
/* The record key rendered "k=v;k=v;" in map order without "_job" (which must be last);
 * NULL if there is no such record. malloc'd. */
char *af_res(const char *dbname, const char *key);
/* want NULL: there must be no record. */
void af_expect_res(const char *dbname, const char *key, const char *want);
uint64_t af_count_db(const char *dbname);

/* --- running a job ------------------------------------------------------------------- */
struct af_job {
	struct job job;
	struct worker_conf conf;
	struct job_ctx ctx;
	char *error;
	int rv;              /* enum job_run */
	char log[65536];     /* every log line, each ending in \n */
	char steps[1024];    /* every step, each ending in ; */
	int cancel_calls;    /* how often the job asked whether it is cancelled */
	int cancel_on;       /* ... and the call that says yes (0: never) */
	int64_t last_processed;
	bool progress_went_back; /* processed, or the job's own progress, went down */
	/* The distinct values of the job's own progress (ctx.progress, when set) in the
	 * order reported, and how many of them came before the first "Writing" step. */
	int progress[128];
	size_t nprogress, nprogress_before_write;
	bool seen_write;
};

/* A job of type number no with the parameters "k=v" (params NULL-terminated, may be NULL;
 * af_job_newv: a NULL-terminated va_list of them) and conf.data_dir the fixture's dir. The
 * caller may change job and conf before af_job_run. */
struct af_job *af_job_new(enum job_type type, uint64_t no, const char *const *params);
struct af_job *af_job_newv(enum job_type type, uint64_t no, va_list ap);
/* job_ctx_init with the recording callbacks and job_run: the outcome in rv and error. */
void af_job_run(struct af_job *t, int cancel_on);
void af_job_free(struct af_job *t);
/* The run's outcome is rv and its counters created/updated/deleted are c/u/d. */
void af_expect(struct af_job *t, int rv, int64_t c, int64_t u, int64_t d);

#endif
