/* token_cache.h: a listener's cache of tokens it has checked against the store, by
 * SHA-256 hash (never the token itself), so a request with a known token skips the
 * store's read transaction. Only tokens that were found are kept. The whole cache is
 * dropped whenever the supervisor's token epoch (common/token_epoch.h) has moved, which it
 * does after every token change and before `jobctl token revoke` returns. */
#ifndef JOBSD_HTTP_TOKEN_CACHE_H
#define JOBSD_HTTP_TOKEN_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"
#include "token_epoch.h"

#define TOKEN_CACHE_ENTRIES 16 /* replaced oldest first once full */

struct token_cache_entry {
	uint8_t hash[TOKEN_HASH_LEN];
	char name[TOKEN_NAME_MAX];
	char role[16];
};

struct token_cache {
	const struct token_epoch *epoch; /* not owned */
	uint64_t seen;                   /* the epoch the entries belong to */
	struct token_cache_entry e[TOKEN_CACHE_ENTRIES];
	unsigned n;    /* e[0..n) are held */
	unsigned next; /* the slot the next put takes once full */
	uint64_t hits, misses, drops;
};

/* epoch: must outlive c. */
void token_cache_init(struct token_cache *c, const struct token_epoch *epoch);
/*
 * Look hash up. First reads the epoch: if it moved, every entry is dropped. Returns true
 * with the token's name and role in *t on a hit. *epoch_out gets the epoch read, to be
 * passed to token_cache_put after a store lookup. Every entry held is compared, in
 * constant time, whether or not one matched earlier.
 */
bool token_cache_find(struct token_cache *c, const uint8_t hash[TOKEN_HASH_LEN], struct token *t,
                      uint64_t *epoch_out);
/* Keep t (found in the store after a find that read epoch). */
void token_cache_put(struct token_cache *c, uint64_t epoch, const struct token *t);

#endif
