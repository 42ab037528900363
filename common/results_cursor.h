/* results_cursor.h: opaque pagination cursors for the analysis results lists. A cursor
 * carries the key of the last record of a page and is bound, by an HMAC-SHA256 under the
 * per-installation cursor secret (store_cursor_key), to the resource and the filters it was
 * issued for: a tampered cursor, or one reused for another list or other filters, fails to
 * decode (the API answers 400 invalid_parameter "after"). Base64url, no padding. */
#ifndef JOBSD_RESULTS_CURSOR_H
#define JOBSD_RESULTS_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "cursor.h"

#define RESULTS_CURSOR_KEY_MAX 1024 /* longest last key a cursor carries */

/* A malloc'd cursor for (resource, filter, last key); NULL if last is too long. */
char *results_cursor_encode(const uint8_t key[CURSOR_KEY_LEN], const char *resource,
			    const char *filter, const char *last, size_t lastlen);
/* 0 and the last key (*last malloc'd, NUL-terminated) if s is a cursor issued for exactly
 * this resource and filter; -1 otherwise. */
int results_cursor_decode(const uint8_t key[CURSOR_KEY_LEN], const char *resource,
			  const char *filter, const char *s, size_t len, char **last,
			  size_t *lastlen);

#endif
