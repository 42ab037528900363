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
 * read error; 2 (only with a skip set, see csv_skip_set): no row yet. Bad rows are reported
 * and skipped inside. */
int csv_next(struct csv_reader *r, struct csv_row *row, char **cause);

/*
 * Rows the caller need not see (an incremental sync's rows not after its watermark). With
 * a skip set, csv_next passes over a record without returning it when it is one line
 * complete in the buffer (quoted fields allowed, "" escapes too except in column col; no
 * newline inside quotes), has exactly the header's number of fields, is valid UTF-8
 * without NUL, none of the req columns is empty and old() says true for the value of
 * column col. Such a record counts as a good row (csv_good_rows) and as skipped
 * (csv_skipped_rows). Any other record takes the usual path, so a bad row is reported
 * exactly as without a skip, whatever its age. csv_next then returns 2 (and no row) after
 * every CSV_SKIP_YIELD records skipped since it last returned, so that the caller can
 * report progress and look for a cancellation. A NULL skip removes it.
 */
struct csv_skip {
	int col;        /* the column old() looks at */
	const int *req; /* columns that must not be empty, ended by -1; NULL: none */
	bool (*old)(const char *s, size_t len, void *arg);
	void *arg;
};
#define CSV_SKIP_YIELD 4096
void csv_skip_set(struct csv_reader *r, const struct csv_skip *skip);
uint64_t csv_skipped_rows(const struct csv_reader *r);

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
 * too, blank lines not). -1 and *cause if it cannot be read. No state is shared between
 * calls: several files may be counted at once on different threads. */
int csv_count_records(const char *path, uint64_t *n, char **cause);
/* The same, asking stop(arg) every CSV_STOP_EVERY records: 1 if it said to stop. */
#define CSV_STOP_EVERY 65536
int csv_count_records_stop(const char *path, uint64_t *n, bool (*stop)(void *), void *arg,
			   char **cause);

/*
 * The counting pass of an incremental sync with its skip test done there, once: count the
 * records of path as csv_count_records_stop does, and note the stretches of consecutive
 * records the skip would pass over, so that the processing pass jumps over them instead
 * of reading them again (csv_plan_use). The skip is given by column names, looked up in
 * the file's header. A file whose header cannot be read, lacks one of the columns or is
 * not a regular file is counted plainly and *plan is NULL (the processing pass reports
 * what is wrong). At most CSV_PLAN_MAX stretches are noted; the records after the last
 * one are tested by the reader's skip one by one, as without a plan. Returns as
 * csv_count_records_stop; *plan only with 0.
 */
struct csv_plan;
struct csv_skip_names {
	const char *col;         /* the column old() looks at */
	const char *const *req;  /* columns that must not be empty, ended by NULL */
	bool (*old)(const char *s, size_t len, void *arg);
	void *arg;
};
#define CSV_PLAN_MAX 65536
#define CSV_PLAN_MAX_REQ 8
int csv_plan_file(const char *path, const struct csv_skip_names *skip, uint64_t *n,
		  struct csv_plan **plan, bool (*stop)(void *), void *arg, char **cause);
/* Let r (just opened, its header read, the same skip set as the plan's) jump over the
 * plan's stretches: they count as skipped and good rows, and csv_next returns 2 once
 * CSV_SKIP_YIELD or more were passed over since it last returned. false (and nothing
 * changes) when the file is not the one scanned: another file, size or modification
 * time. The plan must outlive r's reading. */
bool csv_plan_use(struct csv_reader *r, const struct csv_plan *plan);
size_t csv_plan_stretches(const struct csv_plan *plan);
uint64_t csv_plan_records(const struct csv_plan *plan); /* in its stretches */
void csv_plan_free(struct csv_plan *plan);

/* UTF-8 validity (no overlongs, no surrogates, <= U+10FFFF). */
bool csv_utf8_valid(const char *s, size_t len);

#endif
