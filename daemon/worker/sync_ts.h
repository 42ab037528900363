/* sync_ts.h: the cheap test an incremental sync makes on the modified_at of every row
 * before deciding to skip it: a byte comparison of the canonical UTC form with the
 * watermark's; any other form is left to time_parse_iso8601. */
#ifndef JOBSD_SYNC_TS_H
#define JOBSD_SYNC_TS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SYNC_TS_LEN 20 /* "YYYY-MM-DDTHH:MM:SSZ" */

/* The canonical form of the last whole second not after ms (the watermark): a canonical
 * timestamp t is <= ms exactly when its first 19 bytes are <= bound's. false when ms is
 * before 0000-01-01T00:00:00Z (no canonical timestamp is that old); a bound after year
 * 9999 is "9999-12-31T23:59:59Z". */
bool sync_ts_bound(int64_t ms, char bound[SYNC_TS_LEN + 1]);

/* true when s is exactly "YYYY-MM-DDTHH:MM:SSZ" (upper-case T and Z, a valid calendar date,
 * hour <= 23, minute and second <= 59; time_parse_iso8601 accepts it) and not after
 * bound. false for everything else, valid or not (fractions, offsets, leap seconds,
 * date-only values): the caller parses those fully. */
bool sync_ts_not_after(const char *s, size_t len, const char *bound);

#endif
