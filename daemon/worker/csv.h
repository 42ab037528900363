/* csv.h: a streaming RFC 4180 reader for the CSV source. Reads a file through a fixed
 * buffer (never the whole file), handles quoted fields, "" escapes, embedded commas and
 * newlines, CRLF or LF line ends and an optional UTF-8 byte order mark. The first record is
 * the header; columns are looked up by name. A malformed record (wrong number of fields,
 * invalid UTF-8, a NUL byte, unterminated quote, stray character after a closing quote, oversized
 * record) is reported through the error callback with the physical line where it starts,
 * counted, and skipped: the reader never stops on bad data, only on I/O errors. */
#ifndef JOBSD_CSV_H
#define JOBSD_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CSV_BUFSIZE (256u * 1024)    /* default read buffer */
#define CSV_MAX_RECORD (1u << 20)    /* a longer record is a bad row */

struct csv_reader;

/* One record; pointers stay valid until the next csv_next. Fields are NUL-terminated. */
struct csv_row {
	uint64_t line; /* physical line (1-based) where the record starts */
	size_t n;
	const char *const *f;
	const size_t *len;
};

/* Called for every bad row: file name, line where the record starts, reason. */
typedef void (*csv_error_cb)(const char *file, uint64_t line, const char *reason, void *arg);

/* Open path and read its header row. -1 and *cause ("cannot open /x/owners.csv: No such
 * file or directory", "/x/owners.csv: empty file, no header row", duplicate column...).
 * bufsize 0 means CSV_BUFSIZE. */
int csv_open(const char *path, size_t bufsize, csv_error_cb cb, void *arg,
	     struct csv_reader **out, char **cause);
void csv_close(struct csv_reader *r);

/* 1 and *row: a record with as many fields as the header; 0: end of file; -1 and *cause:
 * read error. Bad rows are reported and skipped inside. */
int csv_next(struct csv_reader *r, struct csv_row *row, char **cause);

/* Report a record as bad for a reason found by the caller (missing required field...):
 * calls the error callback and counts it. */
void csv_reject(struct csv_reader *r, const struct csv_row *row, const char *reason);

/* Header access. */
size_t csv_ncolumns(const struct csv_reader *r);
const char *csv_column_name(const struct csv_reader *r, size_t i);
int csv_column(const struct csv_reader *r, const char *name); /* -1 if absent */

const char *csv_path(const struct csv_reader *r);
uint64_t csv_bad_rows(const struct csv_reader *r);
uint64_t csv_good_rows(const struct csv_reader *r);

/* Count the data records of a file cheaply (no UTF-8 or column checks; bad rows counted
 * too, blank lines not). -1 and *cause if it cannot be read. */
int csv_count_records(const char *path, uint64_t *n, char **cause);
/* The same, asking stop(arg) every CSV_STOP_EVERY records: 1 if it said to stop. */
#define CSV_STOP_EVERY 65536
int csv_count_records_stop(const char *path, uint64_t *n, bool (*stop)(void *), void *arg,
			   char **cause);

/* UTF-8 validity (no overlongs, no surrogates, <= U+10FFFF). */
bool csv_utf8_valid(const char *s, size_t len);

#endif
