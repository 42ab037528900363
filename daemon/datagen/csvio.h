/* csvio.h: the data generator's CSV I/O: a buffered RFC 4180 writer, a record reader that
 * keeps each record's raw bytes (so unchanged rows are copied byte for byte), and the
 * whole-second RFC 3339 timestamps the generated files use. */
#ifndef JOBSD_DATAGEN_CSVIO_H
#define JOBSD_DATAGEN_CSVIO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CSVIO_BUFSZ	(1 << 20)

struct csv_out {
	FILE	*fp;
	char	*buf;
	char	*path;
	int	 col;
};

/* Create dir/name for writing with a large buffer. */
int	csv_out_open(struct csv_out *o, const char *dir, const char *name, char **cause);
/* Flush and close; reports any write error. Safe on a never-opened (zeroed) struct. */
int	csv_out_close(struct csv_out *o, char **cause);
/* Append one field, quoted only if RFC 4180 requires it. */
void	csv_field(struct csv_out *o, const char *s);
void	csv_fieldf(struct csv_out *o, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	csv_field_u64(struct csv_out *o, uint64_t v);
void	csv_field_time(struct csv_out *o, int64_t secs);
void	csv_end_row(struct csv_out *o);
/* Write raw bytes (a record copied from the source, newline included). */
void	csv_raw(struct csv_out *o, const char *s, size_t len);

struct csv_in {
	FILE	*fp;
	char	*path;
	char	*raw;		/* the record as read, CRLF or LF included */
	size_t	 rawlen, rawcap;
	char	*data;		/* unescaped fields, NUL-separated */
	size_t	 datacap;
	char	**fields;
	size_t	 nfields, fieldcap;
	uint64_t lineno;
};

int	csv_in_open(struct csv_in *in, const char *dir, const char *name, char **cause);
/* 1 a record, 0 end of file, -1 error (unterminated quote, read error). */
int	csv_in_read(struct csv_in *in, char **cause);
void	csv_in_close(struct csv_in *in);
/* Column index of a header name in the current record, or -1. */
int	csv_in_column(const struct csv_in *in, const char *name);

/* "2025-03-01T12:00:00Z" into out (>= 21 bytes). */
void	dg_format_time(int64_t secs, char *out);
/* RFC 3339 to seconds; -1 if invalid. */
int	dg_parse_time(const char *s, int64_t *secs);

#endif
