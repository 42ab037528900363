/* render_cache.h: a listener's cache of the rendered summary JSON of finished jobs, which
 * never change once completed, failed or cancelled, so a list page is an index walk plus
 * copies of these bytes. Direct-mapped by job number (numbers are never reused). */
#ifndef JOBSD_HTTP_RENDER_CACHE_H
#define JOBSD_HTTP_RENDER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "job.h"

#define RENDER_CACHE_ENTRIES 32768 /* a power of two; about 300 bytes of JSON each */

struct render_entry {
	uint64_t no;       /* 0: empty */
	int64_t start_ms;  /* for the page's end cursor */
	char *json;        /* the summary object, exactly as the page renders it */
	uint32_t len;
};

struct render_cache;

struct render_cache *render_cache_new(size_t entries); /* entries: a power of two */
void render_cache_free(struct render_cache *c);
/* Is job no held? (not counted) */
bool render_cache_has(const struct render_cache *c, uint64_t no);
/* The entry of job no, or NULL (counted as a hit or a miss). Valid until the next
 * render_cache_put. */
const struct render_entry *render_cache_get(struct render_cache *c, uint64_t no);
/* Would j's summary never change (final status, no running clock in it)? */
bool render_cache_cacheable(const struct job *j);
/* Keep json as j's summary if render_cache_cacheable(j); replaces the slot's entry. */
void render_cache_put(struct render_cache *c, const struct job *j, const char *json,
		      size_t len);
/* Hits and misses since creation (tests, metrics). */
void render_cache_stats(const struct render_cache *c, uint64_t *hits, uint64_t *misses);

#endif
