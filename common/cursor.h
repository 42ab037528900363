/* cursor.h: opaque pagination cursors for the jobs list. A cursor carries the position of
 * the last job of a page and is bound, by an HMAC-SHA256 under a per-installation secret, to
 * the filters it was issued for: a tampered cursor, or one reused with other filters, fails
 * to decode (the API answers 400). Base64url, no padding. */
#ifndef JOBSD_CURSOR_H
#define JOBSD_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CURSOR_KEY_LEN 32
#define CURSOR_MAX_LEN 96 /* encoded, including NUL */

/* The filters of a list request, as the store answers them. -1 = not filtered. */
struct job_query {
	int status;        /* enum job_status or -1 */
	int type;          /* enum job_type or -1 */
	bool has_from;     /* start_date given */
	int64_t from_ms;   /* inclusive */
	bool has_to;       /* end_date given */
	int64_t to_ms;     /* inclusive */
	uint32_t first;    /* page size, 1..1000 */
	bool has_after;    /* continue after this position */
	uint64_t after_no; /* job number of the last job of the previous page */
	int64_t after_start_ms; /* its start time (date-filtered lists order by start time) */
};

void job_query_init(struct job_query *q); /* no filters, first = 50 */
bool job_query_by_start(const struct job_query *q); /* ordered by start time? */

/* Encode q's position (after_no/after_start_ms) bound to q's filters. */
void cursor_encode(const uint8_t key[CURSOR_KEY_LEN], const struct job_query *q, char *out,
		   size_t outlen);
/* Decode s, check it belongs to q's filters, set q->has_after/after_*; -1 if invalid. */
int cursor_decode(const uint8_t key[CURSOR_KEY_LEN], const char *s, size_t len,
		  struct job_query *q);

#endif
