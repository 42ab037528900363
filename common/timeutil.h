/* timeutil.h: clocks and RFC 3339 / ISO 8601 timestamps. */
#ifndef JOBSD_TIMEUTIL_H
#define JOBSD_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int64_t time_now_ms(void);       /* CLOCK_REALTIME, Unix epoch ms */
int64_t time_monotonic_ms(void); /* CLOCK_MONOTONIC ms */

/* "2024-02-01T10:00:00Z" (UTC, whole seconds, as the API shows timestamps). out >= 32. */
void time_format_rfc3339(int64_t ms, char *out, size_t outlen);

/* ISO 8601 date ("2024-02-01") or date-time ("2024-02-01T10:00:00Z",
 * "2024-02-01T10:00:00.250+02:00", "2024-02-01T10:00Z"). A date-only value means the start
 * of that day (00:00:00.000Z) or, with end_of_day, its last millisecond
 * (23:59:59.999Z). end_of_day (for an inclusive upper bound) likewise rounds a date-time up
 * to the end of its stated precision: "T10:00Z" -> 10:00:59.999, "T10:00:00Z" ->
 * 10:00:00.999, "T10:00:00.5Z" -> 10:00:00.599. Returns 0 and *ms, or -1 for anything invalid (bad calendar date, bad
 * offset, trailing bytes, missing zone on a date-time). */
int time_parse_iso8601(const char *s, size_t len, bool end_of_day, int64_t *ms);

#endif
