/* identity.h: the identity databases written by sync jobs and read by the analysis jobs:
 * applications, owners, accounts, groups, memberships. One btree per entity type in the
 * store's environment. Key: the record's id (a membership: account_id '\0' group_id).
 * Value: a msgpack map of the record's fields (strings; columns of the source, known and
 * extra, absent when empty; modified_at as the source wrote it), keys in byte order, then
 * as its last entry "_gen" -> uint64 in the fixed 9-byte form (0xcf + 8 bytes big-endian):
 * the generation of the sync that last wrote the record.
 *
 * Records written by the syncs also carry, just before "_gen", "_no" -> uint64 in the same
 * fixed form: the record's number, unique within its type and never reused (meta
 * "sync.no.<db name>" holds the next free one; 0 means none). A full sync keeps the set of
 * records it saw as a bitmap of these numbers and deletes by absence the records whose
 * number it did not see, so an unchanged record is never rewritten. Records without "_no"
 * (written before it existed, or by identity_encode) get one the next time a sync sees them.
 *
 * Meta values (store_meta_*): "sync.watermark" (int64 ms big-endian, the greatest
 * modified_at/deleted_at seen by the last successful full or incremental sync) and
 * "sync.gen" (uint64 big-endian, the last generation handed out). */
#ifndef JOBSD_IDENTITY_H
#define JOBSD_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <db.h>
#include <msgpack.h>

#include "store.h"

enum ident_type {
	IDENT_APPLICATION,
	IDENT_OWNER,
	IDENT_ACCOUNT,
	IDENT_GROUP,
	IDENT_MEMBERSHIP,
	IDENT_TYPE_COUNT
};

#define IDENT_GEN_KEY "_gen"
#define IDENT_GEN_TAIL 9 /* bytes of the encoded generation at the end of a value */
#define IDENT_META_WATERMARK "sync.watermark"
#define IDENT_META_GEN "sync.gen"
#define IDENT_NO_KEY "_no"
#define IDENT_NO_TRAILER 27 /* "_no" + number + "_gen" + generation, encoded */
#define IDENT_META_NO_PREFIX "sync.no." /* + ident_db_name(): next free record number */
/* + ident_db_name(): records stored, kept by the syncs (the only writers that create or
 * delete identity records) in the transactions that do; absent in stores written before. */
#define IDENT_META_COUNT_PREFIX "sync.count."

/* "applications" (the database name), "application" (singular, as deletions.csv spells it). */
const char *ident_db_name(enum ident_type t);
const char *ident_singular(enum ident_type t);
int ident_type_parse_singular(const char *s); /* -1 if unknown */

struct identity;

/* Open (creating) every identity database of the store. */
int identity_open(struct store *s, struct identity **out, char **cause);
/* Only the databases of the types set (a database open is ~0.1 ms of a short job);
 * identity_db of any other type is NULL. */
int identity_open_some(struct store *s, const bool types[IDENT_TYPE_COUNT],
    struct identity **out, char **cause);
void identity_close(struct identity *id);
DB *identity_db(struct identity *id, enum ident_type t);
struct store *identity_store(struct identity *id);

/* A record field for encoding; value need not be NUL-terminated. */
struct ident_field {
	const char *name;
	const char *value;
	size_t len;
};
/* Encode fields (sorted here by name) and gen into buf (reset first). */
void identity_encode(msgpack_sbuffer *buf, struct ident_field *f, size_t n, uint64_t gen);
/* Append to buf (not reset) a record of fields already sorted by name, with its number and
 * generation ("_no", "_gen"; the last IDENT_NO_TRAILER bytes); returns the bytes appended. */
size_t identity_encode_append(msgpack_sbuffer *buf, const struct ident_field *f, size_t n,
			      uint64_t no, uint64_t gen);
/* Same fields (everything but the generation)? */
bool identity_same(const void *a, size_t alen, const void *b, size_t blen);
/* Same fields, ignoring "_no" and "_gen" (either value may have a number or not)? */
bool identity_same_fields(const void *a, size_t alen, const void *b, size_t blen);
/* The record number of an encoded value; 0 if the value has none. */
uint64_t identity_no(const void *data, size_t len);
/* Set the number and generation of a value encoded by identity_encode_append. */
void identity_set_no_gen(void *data, size_t len, uint64_t no, uint64_t gen);
/* The generation of an encoded value; 0 if the value has none. */
uint64_t identity_gen(const void *data, size_t len);
/* Look a string field up in an encoded value: 0 and the value (pointing into data), or STORE_NOTFOUND. */
int identity_field(const void *data, size_t len, const char *name, const char **v,
		   size_t *vlen);

/* Get a record (data malloc'd into *data). 0, STORE_NOTFOUND, -1 with cause. */
int identity_get(struct identity *id, DB_TXN *txn, enum ident_type t, const void *key,
		 size_t klen, void **data, size_t *len, char **cause);
int identity_put(struct identity *id, DB_TXN *txn, enum ident_type t, const void *key,
		 size_t klen, const void *data, size_t len, char **cause);
/* Restamp the generation of an existing record whose value is len bytes long: a partial
 * put of its last 8 bytes (logs 8 bytes instead of the record). */
int identity_put_gen(struct identity *id, DB_TXN *txn, enum ident_type t, const void *key,
		     size_t klen, size_t len, uint64_t gen, char **cause);
/* 0, STORE_NOTFOUND, -1. */
int identity_del(struct identity *id, DB_TXN *txn, enum ident_type t, const void *key,
		 size_t klen, char **cause);
/* Number of records of a type and how many of them have a generation other than gen
 * (gen 0: count all as "other"). A scan without a transaction (read-committed). */
int identity_count(struct identity *id, enum ident_type t, uint64_t gen, uint64_t *total,
		   uint64_t *other, char **cause);

/* Meta helpers; a missing value reads as 0 (find: and *found false). Inside a transaction
 * a lock conflict is returned as the Berkeley DB code (DB_LOCK_DEADLOCK) for
 * store_with_txn to retry. */
int identity_meta_get_u64(struct store *s, DB_TXN *txn, const char *key, uint64_t *v,
			  char **cause);
int identity_meta_find_u64(struct store *s, DB_TXN *txn, const char *key, uint64_t *v,
			   bool *found, char **cause);
int identity_meta_put_u64(struct store *s, DB_TXN *txn, const char *key, uint64_t v,
			  char **cause);

#endif
