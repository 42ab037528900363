/* render_cache.c: direct-mapped cache of finished jobs' rendered summaries (see
 * render_cache.h). A slot holds one job; a newer job with the same low bits replaces it. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "render_cache.h"

struct render_cache {
	struct render_entry *slots;
	size_t mask;
	uint64_t hits;   /* counted by render_cache_get */
	uint64_t misses;
};

struct render_cache *
render_cache_new(size_t entries)
{
	struct render_cache *c;

	if (entries == 0 || (entries & (entries - 1)) != 0)
		fatalx("%s: %zu entries is not a power of two", __func__, entries);
	c = xcalloc(1, sizeof(*c));
	c->slots = xcalloc(entries, sizeof(*c->slots));
	c->mask = entries - 1;
	return (c);
}

void
render_cache_free(struct render_cache *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i <= c->mask; i++)
		free(c->slots[i].json);
	free(c->slots);
	free(c);
}

bool
render_cache_has(const struct render_cache *c, uint64_t no)
{
	return (no != 0 && c->slots[no & c->mask].no == no);
}

const struct render_entry *
render_cache_get(struct render_cache *c, uint64_t no)
{
	if (render_cache_has(c, no)) {
		c->hits++;
		return (&c->slots[no & c->mask]);
	}
	c->misses++;
	return (NULL);
}

bool
render_cache_cacheable(const struct job *j)
{
	/* duration_ms runs on the clock while start_time is set and end_time is not. */
	return (job_status_is_final(j->status) && j->no != 0 &&
		(j->start_ms == JOB_NULL || j->end_ms != JOB_NULL));
}

void
render_cache_put(struct render_cache *c, const struct job *j, const char *json, size_t len)
{
	struct render_entry *e;

	if (!render_cache_cacheable(j) || len > UINT32_MAX)
		return;
	e = &c->slots[j->no & c->mask];
	free(e->json);
	e->json = xmalloc(len);
	memcpy(e->json, json, len);
	e->len = (uint32_t)len;
	e->no = j->no;
	e->start_ms = j->start_ms;
}

void
render_cache_stats(const struct render_cache *c, uint64_t *hits, uint64_t *misses)
{
	*hits = c->hits;
	*misses = c->misses;
}
