/* roles_util.h: helpers shared by role_generation (roles.c) and policy_analysis
 * (policy.c): a string interner (ids and attribute values to u32, one arena, no
 * per-string allocation), role-name normalisation, and the merge writer that replaces a
 * results database (daemon/results.h) with a new sorted stream of records, counting what
 * it created, changed, kept and deleted, in batched transactions. */
#ifndef JOBSD_ROLES_UTIL_H
#define JOBSD_ROLES_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <db.h>
#include <msgpack.h>

#include "jobctx.h"

#define RU_NONE UINT32_MAX

/* Strings interned to u32 numbers in insertion order. */
struct strtab {
	char *arena;
	size_t alen, acap;
	uint64_t *off; /* n + 1 offsets into arena (each string NUL-terminated) */
	uint32_t n, cap;
	uint32_t *slots; /* open addressing, RU_NONE = empty */
	uint32_t nslots;
};
void strtab_init(struct strtab *t);
void strtab_free(struct strtab *t);
uint32_t strtab_intern(struct strtab *t, const char *s, size_t len);
uint32_t strtab_find(const struct strtab *t, const char *s, size_t len); /* RU_NONE */
const char *strtab_str(const struct strtab *t, uint32_t i);
size_t strtab_len(const struct strtab *t, uint32_t i);
/* rank[i] = position of string i in byte order (ties impossible: strings are unique). */
uint32_t *strtab_ranks(const struct strtab *t);

/* Append the role-name form of value v: ASCII letters lowercased, ASCII digits kept,
 * letters of the Latin, Greek and Cyrillic blocks (lowercased where they have a simple
 * lowercase) and of the CJK, kana, Hangul, Hebrew and Arabic blocks kept, every other
 * character (and every invalid UTF-8 byte) replaced by '_'. */
void ru_name_append(char **buf, size_t *len, size_t *cap, const char *v, size_t vlen);

/* msgpack string helpers. */
void ru_pack_str(msgpack_packer *pk, const char *s, size_t len);
void ru_pack_cstr(msgpack_packer *pk, const char *s);

/* The fixed-width tail every record of ours ends with: "_job" -> uint64 (0xcf + 8 bytes). */
#define RU_JOB_TAIL 14
void ru_pack_job_tail(msgpack_sbuffer *sb, uint64_t job);

/* Merge outcome of one key. */
enum ru_outcome { RU_CREATED, RU_CHANGED, RU_SAME, RU_DELETED };

/*
 * Replace the records of db with a stream of new ones given in strictly increasing key
 * order (Berkeley DB's default byte order). next() returns 1 with a key and a value body:
 * a msgpack map whose header already counts the "_job" entry the writer appends; 0 at the
 * end, -1 with *error. Old records whose key the stream lacks are deleted; equal keys are
 * rewritten only when the body differs (ignoring "_job", and after copying the old
 * record's keep_tail bytes just before its "_job" into the new body: fields such as
 * first_seen_job that must survive). outcome() (optional) is told each key's fate when it
 * is decided; counts[] add up the fates of committed batches only (dry: nothing is
 * written, every fate counts). Writes go in transactions of
 * ctx->batch_size writes, each followed by progress, the delay_ms hook and a cancellation
 * check. A batch that loses a lock conflict (DB_LOCK_DEADLOCK: a reader of the results
 * in the way) is aborted and redone from the stream position tell() gave at its start
 * (seek() goes back there; outcome() may then hear a key twice, so it must be
 * idempotent). JOB_RUN_OK, JOB_RUN_CANCELLED, JOB_RUN_FAILED.
 */
struct ru_merge {
	struct job_ctx *ctx;
	DB *db;
	const char *what;
	bool dry;
	size_t keep_tail;
	int (*next)(void *arg, const void **key, size_t *klen, const void **val,
		    size_t *vlen, char **error);
	void (*outcome)(void *arg, enum ru_outcome o, const void *key, size_t klen);
	uint64_t (*tell)(void *arg);
	void (*seek)(void *arg, uint64_t pos);
	void *arg;
	uint64_t counts[4]; /* by enum ru_outcome, committed */
};
int ru_merge_run(struct ru_merge *m, char **error);

/* Parse a decimal 0 <= x <= 1 with at most 9 fractional digits into num / 10^9. */
int ru_parse_share(const char *s, uint64_t *num);
#define RU_SHARE_DEN 1000000000ULL

#endif
