/* token_cache.c: the listener's cache of checked tokens (see token_cache.h). Sixteen
 * entries: a deployment has a handful of API tokens, and a miss costs only the store
 * lookup every request paid before. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "token_cache.h"

static void
drop_all(struct token_cache *c)
{
	explicit_bzero(c->e, sizeof(c->e));
	c->n = 0;
	c->next = 0;
	c->drops++;
}

void
token_cache_init(struct token_cache *c, const struct token_epoch *epoch)
{
	memset(c, 0, sizeof(*c));
	c->epoch = epoch;
	c->seen = token_epoch_read(epoch);
}

bool
token_cache_find(struct token_cache *c, const uint8_t hash[TOKEN_HASH_LEN], struct token *t,
                 uint64_t *epoch_out)
{
	uint64_t now = token_epoch_read(c->epoch);
	int found = -1;
	unsigned i;

	*epoch_out = now;
	if (now != c->seen) {
		drop_all(c);
		c->seen = now;
	}
	for (i = 0; i < c->n; i++) {
		if (CRYPTO_memcmp(c->e[i].hash, hash, TOKEN_HASH_LEN) == 0)
			found = (int)i;
	}
	if (found < 0) {
		c->misses++;
		return (false);
	}
	memset(t, 0, sizeof(*t));
	memcpy(t->hash, hash, TOKEN_HASH_LEN);
	snprintf(t->name, sizeof(t->name), "%s", c->e[found].name);
	snprintf(t->role, sizeof(t->role), "%s", c->e[found].role);
	c->hits++;
	return (true);
}

void
token_cache_put(struct token_cache *c, uint64_t epoch, const struct token *t)
{
	struct token_cache_entry *e;

	/* A token read under an older epoch may have been revoked since: the epoch is read
	 * again because the cache learns of a bump only at its next find. */
	if (epoch != c->seen || epoch != token_epoch_read(c->epoch))
		return;
	if (c->n < TOKEN_CACHE_ENTRIES)
		e = &c->e[c->n++];
	else {
		e = &c->e[c->next];
		c->next = (c->next + 1) % TOKEN_CACHE_ENTRIES;
	}
	memcpy(e->hash, t->hash, TOKEN_HASH_LEN);
	snprintf(e->name, sizeof(e->name), "%s", t->name);
	snprintf(e->role, sizeof(e->role), "%s", t->role);
}
