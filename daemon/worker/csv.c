/* csv.c: the streaming RFC 4180 reader of the CSV source (see csv.h). A record that is one
 * line without a quote (nearly all of them) is split in place in the read buffer (memchr
 * for the line end, then for each comma; one word-at-a-time pass checks for non-ASCII and
 * NUL bytes). Any other record goes through a byte-at-a-time state machine over the same
 * buffer and is assembled in a growable buffer capped at CSV_MAX_RECORD. With a skip set
 * (csv_skip_set), a one-line record is first checked without splitting it (comma offsets
 * only: 16 bytes at a time with SSE2, else a word at a time; a line with quotes field by
 * field) and passed over when the caller's test says it is old; anything unusual about
 * it leaves it to the paths above. The counting pass counts the lines between quotes with
 * memchr alone, a line with quotes that is one whole record by walking its quotes, and
 * runs the state machine only on the other records with a quote. An incremental sync's
 * counting pass (csv_plan_file) runs the skip test instead and notes the stretches of
 * records it passes over by file offset; the processing reader then jumps over them
 * (csv_plan_use), reading only up to the next stretch. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "csv.h"
#include "log.h"

#define CSV_MAX_FIELDS 4096
#define CSV_COUNT_BUFSIZE (1u << 20) /* the counting pass reads 1 MiB at a time */
#define CSV_SLACK 16 /* bytes after the buffer a 16-byte load may read (ignored) */
#define CSV_STRETCH_MAX (1u << 30) /* records in one stretch: skiprun cannot overflow */
#define CSV_SMALL_BUFSIZE 4096u /* the least buffer for a small file: one page */

/* A run of records csv_plan_file found the skip would pass over: len bytes from off,
 * lines line ends, recs records. */
struct csv_stretch {
	uint64_t off, len;
	uint32_t lines, recs;
};

struct csv_plan {
	struct csv_stretch *st;
	size_t n, cap;
	uint64_t data_off; /* where the records after the header start */
	struct stat st_file; /* the file scanned: a changed one is read without the plan */
};

struct csv_reader {
	int fd;
	char *path;
	char *buf;
	size_t bufsize, blen, bpos;
	uint64_t boff; /* the file offset of buf[0] */
	size_t qscan, qlimit; /* buf[qscan, qlimit) has no quote (when qvalid) */
	bool qvalid;
	bool eof;
	uint64_t line;   /* current physical line, 1-based */

	/* the record being assembled */
	char *rec;
	size_t reclen, reccap;
	size_t *foff; /* start offset of each field in rec */
	size_t nf, fcap;
	size_t fstart; /* offset where the current field starts */
	const char **fptr;
	size_t fpcap;
	size_t *flen;
	const char *bad; /* reason the record is bad, NULL if fine */
	char badbuf[160];
	bool quoted_any;

	/* header */
	char **cols;
	size_t ncols;

	csv_error_cb cb;
	void *cbarg;
	uint64_t nbad, ngood;

	/* csv_skip_set */
	bool skipping;
	struct csv_skip skip;
	int *req;       /* a copy of skip.req */
	size_t *cpos;   /* comma offsets of the line looked at, ncols - 1 of them */
	size_t *vpos;   /* a quoted line's values: start and end offsets, 2 * ncols */
	uint64_t nskip; /* records skipped */
	unsigned skiprun; /* records skipped since csv_next last returned */

	/* csv_plan_use: the stretches to jump over, the next one at pi */
	const struct csv_plan *plan;
	size_t pi;
};

enum rec_state { ST_START, ST_UNQUOTED, ST_QUOTED, ST_QUOTE, ST_CR };

/* How much of room to read at the end of the buffer: with a plan, no further than the
 * next stretch, which csv_next jumps over (the records before it end there). */
static size_t
read_size(const struct csv_reader *r, size_t room)
{
	uint64_t end = r->boff + r->blen, next;

	if (r->plan == NULL || r->pi == r->plan->n)
		return room;
	next = r->plan->st[r->pi].off;
	return next > end && next - end < room ? (size_t)(next - end) : room;
}

/* Next byte, -1 at end of file, -2 on read error (errno set). */
static int
csv_getc(struct csv_reader *r)
{
	ssize_t n;

	if (r->bpos == r->blen) {
		if (r->eof)
			return -1;
		r->qvalid = false; /* the buffer changes */
		r->boff += r->blen;
		r->blen = r->bpos = 0;
		do
			n = read(r->fd, r->buf, read_size(r, r->bufsize));
		while (n == -1 && errno == EINTR);
		if (n == -1)
			return -2;
		if (n == 0) {
			r->eof = true;
			return -1;
		}
		r->blen = (size_t)n;
	}
	return (unsigned char)r->buf[r->bpos++];
}

static void
rec_addc(struct csv_reader *r, char c)
{
	if (r->reclen + 2 > CSV_MAX_RECORD) {
		if (r->bad == NULL)
			r->bad = "record longer than 1 MiB";
		return;
	}
	if (r->reclen + 2 > r->reccap) {
		r->reccap = r->reccap ? r->reccap * 2 : 1024;
		r->rec = xrealloc(r->rec, r->reccap);
	}
	r->rec[r->reclen++] = c;
}

/* Append n bytes of plain field data. */
static void
rec_addn(struct csv_reader *r, const char *p, size_t n)
{
	if (r->reclen + n + 2 > CSV_MAX_RECORD) {
		if (r->bad == NULL)
			r->bad = "record longer than 1 MiB";
		return;
	}
	if (r->reclen + n + 2 > r->reccap) {
		while (r->reclen + n + 2 > r->reccap)
			r->reccap = r->reccap ? r->reccap * 2 : 1024;
		r->rec = xrealloc(r->rec, r->reccap);
	}
	memcpy(r->rec + r->reclen, p, n);
	r->reclen += n;
}

/* Fast path: the run of bytes in the buffer up to the next byte that matters in state st
 * (, CR LF outside quotes; " LF inside) is field data; copy it at once. */
static void
rec_span(struct csv_reader *r, enum rec_state st)
{
	const char *p = r->buf + r->bpos, *end = r->buf + r->blen, *q = p;

	if (st == ST_UNQUOTED) {
		while (q < end && *q != ',' && *q != '\n' && *q != '\r')
			q++;
	} else {
		while (q < end && *q != '"' && *q != '\n')
			q++;
	}
	if (q > p) {
		rec_addn(r, p, (size_t)(q - p));
		r->bpos += (size_t)(q - p);
	}
}

static void
rec_end_field(struct csv_reader *r)
{
	rec_addc(r, '\0');
	if (r->nf == CSV_MAX_FIELDS) {
		if (r->bad == NULL)
			r->bad = "too many fields";
		r->fstart = r->reclen;
		return;
	}
	if (r->nf == r->fcap) {
		r->fcap = r->fcap ? r->fcap * 2 : 16;
		r->foff = xrealloc(r->foff, r->fcap * sizeof *r->foff);
	}
	r->foff[r->nf++] = r->fstart;
	r->fstart = r->reclen;
}

/*
 * Read one record into rec/foff. 1: a record (r->bad says whether it is malformed), 0: end
 * of file before any byte of a record, -1: read error (errno). *start_line is the physical
 * line of its first byte. A quote inside an unquoted field is taken literally (lenient);
 * a character after a closing quote makes the record bad. A bare CR not followed by LF is
 * data.
 */
static int
rec_read(struct csv_reader *r, uint64_t *start_line)
{
	enum rec_state st = ST_START;
	bool any = false;
	int c;

	r->reclen = r->nf = r->fstart = 0;
	r->bad = NULL;
	r->quoted_any = false;
	*start_line = r->line;
	for (;;) {
		if (st == ST_UNQUOTED || st == ST_QUOTED)
			rec_span(r, st);
		c = csv_getc(r);
		if (c == -2)
			return -1;
		if (c == -1) {
			if (!any)
				return 0;
			if (st == ST_QUOTED && r->bad == NULL)
				r->bad = "unterminated quoted field at end of file";
			rec_end_field(r);
			return 1;
		}
		any = true;
		switch (st) {
		case ST_START:
			if (c == '"') {
				st = ST_QUOTED;
				r->quoted_any = true;
				break;
			}
			/* FALLTHROUGH */
		case ST_UNQUOTED:
			if (c == ',') {
				rec_end_field(r);
				st = ST_START;
			} else if (c == '\n') {
				r->line++;
				rec_end_field(r);
				return 1;
			} else if (c == '\r')
				st = ST_CR;
			else {
				rec_addc(r, (char)c);
				st = ST_UNQUOTED;
			}
			break;
		case ST_QUOTED:
			if (c == '"')
				st = ST_QUOTE;
			else {
				if (c == '\n')
					r->line++;
				rec_addc(r, (char)c);
			}
			break;
		case ST_QUOTE:
			if (c == '"') {
				rec_addc(r, '"');
				st = ST_QUOTED;
			} else if (c == ',') {
				rec_end_field(r);
				st = ST_START;
			} else if (c == '\n') {
				r->line++;
				rec_end_field(r);
				return 1;
			} else if (c == '\r')
				st = ST_CR;
			else {
				if (r->bad == NULL)
					r->bad = "unexpected character after a closing quote";
				rec_addc(r, (char)c);
				st = ST_UNQUOTED;
			}
			break;
		case ST_CR:
			if (c == '\n') {
				r->line++;
				rec_end_field(r);
				return 1;
			}
			/* A bare CR is data; look at c again as part of an unquoted field. */
			rec_addc(r, '\r');
			r->bpos--;
			st = ST_UNQUOTED;
			break;
		}
	}
}

/*
 * The fast path: the line at bpos, when it fits the buffer, is shorter than CSV_MAX_RECORD
 * and (if quotes) has no quote. 1 with *s (its start), *len (without the line end and a CR before
 * it) and *next (where the next record starts; the caller moves bpos there); 0 when the
 * state machine must read the record; 2 at end of file; -1 read error (errno).
 */
static int
line_fast(struct csv_reader *r, bool quotes, char **s, size_t *len, size_t *next, bool *nl)
{
	char *p, *e, *q;
	size_t avail, n;
	ssize_t got;

	for (;;) {
		p = r->buf + r->bpos;
		avail = r->blen - r->bpos;
		if ((e = memchr(p, '\n', avail)) != NULL) {
			*nl = true;
			*next = (size_t)(e - r->buf) + 1;
			break;
		}
		if (r->eof) {
			if (avail == 0)
				return 2;
			*nl = false;
			e = p + avail;
			*next = r->blen;
			break;
		}
		/* Move the partial line to the front and read more. */
		if (r->bpos == 0 && r->blen == r->bufsize)
			return 0;
		if (r->bpos > 0) {
			memmove(r->buf, p, avail);
			r->boff += r->bpos;
			r->bpos = 0;
			r->blen = avail;
		}
		r->qvalid = false; /* the buffer changes */
		do
			got = read(r->fd, r->buf + r->blen, read_size(r, r->bufsize - r->blen));
		while (got == -1 && errno == EINTR);
		if (got == -1)
			return -1;
		if (got == 0)
			r->eof = true;
		r->blen += (size_t)got;
	}
	n = (size_t)(e - p);
	if (n + 2 > CSV_MAX_RECORD)
		return 0;
	if (quotes) {
		/* One memchr per buffer and quote rather than one per line. */
		if (!r->qvalid || r->bpos < r->qscan || (size_t)(e - r->buf) > r->qlimit) {
			q = memchr(p, '"', avail);
			r->qscan = r->bpos;
			r->qlimit = q != NULL ? (size_t)(q - r->buf) : r->blen;
			r->qvalid = true;
		}
		if ((size_t)(e - r->buf) > r->qlimit)
			return 0;
	}
	if (n > 0 && p[n - 1] == '\r')
		n--;
	*s = p;
	*len = n;
	return 1;
}

static void
fields_reserve(struct csv_reader *r, size_t n)
{
	if (n > r->fpcap) {
		r->fpcap = n < 16 ? 16 : n * 2;
		r->fptr = xrealloc(r->fptr, r->fpcap * sizeof *r->fptr);
		r->flen = xrealloc(r->flen, r->fpcap * sizeof *r->flen);
	}
}

/* 0x80 in each byte of w that is zero, 0 elsewhere. */
static inline uint64_t
zero_bytes(uint64_t w)
{
	const uint64_t low7 = 0x7f7f7f7f7f7f7f7full;

	return ~(((w & low7) + low7) | w | low7);
}

/* A field of a line being split: it ends at offset pos. */
static inline void
line_field(struct csv_reader *r, char *s, size_t *start, size_t pos)
{
	if (r->nf == CSV_MAX_FIELDS) {
		r->bad = "too many fields";
		return;
	}
	fields_reserve(r, r->nf + 1);
	r->fptr[r->nf] = s + *start;
	r->flen[r->nf] = pos - *start;
	r->nf++;
	*start = pos + 1;
}

/*
 * Split the line [s, s + len) at its commas in place (each field NUL-terminated), reading
 * it a word at a time. 0 (and nothing written) if the line has a quote: the state machine
 * takes it. 1 otherwise, with *clean telling whether it is valid UTF-8 without NUL.
 */
static int
line_split(struct csv_reader *r, char *s, size_t len, bool *clean)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	const uint64_t quotes = ones * '"', commas = ones * ',';
	uint64_t w, m, hi = 0, zero = 0;
	size_t i = 0, start = 0, k;
	unsigned char c;

	r->nf = 0;
	r->bad = NULL;
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, s + i, 8);
		hi |= w;
		zero |= zero_bytes(w);
		if (zero_bytes(w ^ quotes) != 0)
			return 0;
		for (m = zero_bytes(w ^ commas); m != 0; m &= m - 1)
			line_field(r, s, &start, i + (size_t)__builtin_ctzll(m) / 8);
	}
	for (; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '"')
			return 0;
		if (c >= 0x80)
			hi |= high;
		if (c == 0)
			zero |= high;
		if (c == ',')
			line_field(r, s, &start, i);
	}
	line_field(r, s, &start, len);
	/* Commas are ASCII: the line is valid UTF-8 iff its fields are. */
	*clean = zero == 0 && ((hi & high) == 0 || csv_utf8_valid(s, len));
	for (k = 0; k < r->nf; k++)
		((char *)(uintptr_t)r->fptr[k])[r->flen[k]] = '\0';
	return 1;
}

/* The field checks of line_skip once the commas are known. */
static bool
skip_fields(struct csv_reader *r, const char *s, size_t len)
{
	const size_t *cp = r->cpos, maxc = r->ncols - 1;
	size_t start, end, k;

	for (k = 0; r->req[k] != -1; k++) {
		start = r->req[k] == 0 ? 0 : cp[r->req[k] - 1] + 1;
		end = (size_t)r->req[k] == maxc ? len : cp[r->req[k]];
		if (start == end)
			return false;
	}
	k = (size_t)r->skip.col;
	start = k == 0 ? 0 : cp[k - 1] + 1;
	end = k == maxc ? len : cp[k];
	return r->skip.old(s + start, end - start, r->skip.arg);
}

/*
 * The skip test for a line with a quote, field by field: a field that starts with a quote
 * must end with one followed by a comma or the line end ("" inside is an escaped quote;
 * a newline inside quotes, or "" in the tested column, leaves the record to the state
 * machine); a quote inside an unquoted field is data, as there. [s, e) is the line as
 * read, without its LF but with a CR before it, if any.
 */
static bool
line_skip_quoted(struct csv_reader *r, const char *s, const char *e)
{
	const char *p, *q, *fs, *fe;
	size_t *vp = r->vpos, k = 0, len = (size_t)(e - s), i;
	bool last = false;

	if (len + 2 > CSV_MAX_RECORD || memchr(s, '\0', len) != NULL)
		return false;
	for (p = s; !last; k++) {
		if (k == r->ncols)
			return false;
		if (p < e && *p == '"') {
			fs = p + 1;
			for (q = fs;; q += 2) { /* past "" escapes */
				if ((q = memchr(q, '"', (size_t)(e - q))) == NULL)
					return false;
				if (q + 1 == e || q[1] != '"')
					break;
				if (k == (size_t)r->skip.col)
					return false; /* its value is not the raw bytes */
			}
			fe = q;
			p = q + 1;
			if (p == e || (p + 1 == e && *p == '\r'))
				last = true;
			else if (*p != ',')
				return false; /* a character after the closing quote */
			p++;
		} else if ((q = memchr(p, ',', (size_t)(e - p))) != NULL) {
			fs = p;
			fe = q;
			p = q + 1;
		} else {
			fs = p;
			fe = e;
			if (fe > fs && fe[-1] == '\r')
				fe--;
			last = true;
		}
		vp[2 * k] = (size_t)(fs - s);
		vp[2 * k + 1] = (size_t)(fe - s);
	}
	if (k != r->ncols)
		return false;
	for (i = 0; i < len && (unsigned char)s[i] < 0x80; i++)
		;
	if (i < len && !csv_utf8_valid(s + i, len - i))
		return false;
	for (i = 0; r->req[i] != -1; i++) {
		if (vp[2 * r->req[i]] == vp[2 * r->req[i] + 1])
			return false;
	}
	k = (size_t)r->skip.col;
	return r->skip.old(s + vp[2 * k], vp[2 * k + 1] - vp[2 * k], r->skip.arg);
}

/*
 * Whether the line [s, s + len) (no line end; raw bytes with a CR before the LF) may be
 * skipped (see csv_skip_set): one pass a word at a time noting where its commas are, then
 * the checks on the fields.
 */
static bool
line_skip(struct csv_reader *r, const char *s, size_t len, size_t raw)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	const uint64_t quotes = ones * '"', commas = ones * ',';
	size_t *cp = r->cpos, nc = 0, maxc = r->ncols - 1, i;
	uint64_t w, m, hi = 0, zero = 0;
	unsigned char c;

	for (i = 0; i + 8 <= len; i += 8) {
		memcpy(&w, s + i, 8);
		hi |= w;
		zero |= zero_bytes(w);
		if (zero_bytes(w ^ quotes) != 0)
			return line_skip_quoted(r, s, s + raw);
		for (m = zero_bytes(w ^ commas); m != 0; m &= m - 1) {
			if (nc == maxc)
				return false;
			cp[nc++] = i + (size_t)__builtin_ctzll(m) / 8;
		}
	}
	for (; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '"')
			return line_skip_quoted(r, s, s + raw);
		if (c == 0)
			return false;
		hi |= c;
		if (c == ',') {
			if (nc == maxc)
				return false;
			cp[nc++] = i;
		}
	}
	if (nc != maxc || zero != 0)
		return false;
	if ((hi & high) != 0 && !csv_utf8_valid(s, len))
		return false;
	return skip_fields(r, s, len);
}

#ifdef __SSE2__
enum { SKIP_NO, SKIP_DONE, SKIP_UNKNOWN };

/*
 * line_skip 16 bytes at a time, finding the line end in the same pass, for a line that
 * ends inside the buffer: SKIP_DONE (passed over: bpos and line moved), SKIP_NO (the usual
 * path reads it) or SKIP_UNKNOWN (no line end in the buffer: line_fast reads more).
 */
static int
line_skip_sse(struct csv_reader *r)
{
	const __m128i nlv = _mm_set1_epi8('\n'), qv = _mm_set1_epi8('"');
	const __m128i cv = _mm_set1_epi8(','), zv = _mm_setzero_si128();
	const char *s = r->buf + r->bpos, *e;
	size_t avail = r->blen - r->bpos, *cp = r->cpos, nc = 0, maxc = r->ncols - 1;
	size_t i, len, hipos = (size_t)-1;
	unsigned valid, nl, lim, m, hi;
	__m128i x;

	for (i = 0;; i += 16) {
		if (i >= avail)
			return SKIP_UNKNOWN;
		x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		valid = avail - i >= 16 ? 0xffffu : (1u << (avail - i)) - 1;
		nl = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, nlv)) & valid;
		lim = nl != 0 ? (nl & -nl) - 1 : valid; /* the bytes before the line end */
		m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, qv),
		    _mm_cmpeq_epi8(x, zv))) & lim;
		if (m != 0) {
			/* A quote (or a NUL, which it refuses): field by field. */
			if ((e = memchr(s + i, '\n', avail - i)) == NULL)
				return SKIP_UNKNOWN;
			if (!line_skip_quoted(r, s, e))
				return SKIP_NO;
			r->bpos += (size_t)(e - s) + 1;
			r->line++;
			return SKIP_DONE;
		}
		hi = (unsigned)_mm_movemask_epi8(x) & lim;
		if (hi != 0 && hipos == (size_t)-1)
			hipos = i + (size_t)__builtin_ctz(hi);
		for (m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, cv)) & lim; m != 0;
		    m &= m - 1) {
			if (nc == maxc)
				return SKIP_NO;
			cp[nc++] = i + (size_t)__builtin_ctz(m);
		}
		if (nl != 0)
			break;
	}
	len = i + (size_t)__builtin_ctz(nl);
	if (len > 0 && s[len - 1] == '\r')
		len--;
	if (len == 0 || nc != maxc || len + 2 > CSV_MAX_RECORD)
		return SKIP_NO;
	/* Bytes before the first non-ASCII one are ASCII: validate from there. */
	if (hipos != (size_t)-1 && (hipos >= len || !csv_utf8_valid(s + hipos, len - hipos)))
		return SKIP_NO;
	if (!skip_fields(r, s, len))
		return SKIP_NO;
	r->bpos += i + (size_t)__builtin_ctz(nl) + 1;
	r->line++;
	return SKIP_DONE;
}
#endif

static bool
rec_blank(const struct csv_reader *r)
{
	return r->bad == NULL && r->nf == 1 && r->reclen == 1 && !r->quoted_any;
}

static struct csv_reader *
reader_new(const char *path, size_t bufsize, char **cause)
{
	struct csv_reader *r;
	unsigned char bom[3];
	struct stat st;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		*cause = xasprintf("cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	/* Skip a UTF-8 byte order mark. */
	n = pread(fd, bom, sizeof bom, 0);
	if (n == 3 && memcmp(bom, "\xef\xbb\xbf", 3) == 0) {
		if (lseek(fd, 3, SEEK_SET) == -1) {
			*cause = xasprintf("cannot read %s: %s", path, strerror(errno));
			close(fd);
			return NULL;
		}
	} else
		n = 0;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	r = xcalloc(1, sizeof *r);
	r->fd = fd;
	r->boff = n == 3 ? 3 : 0;
	r->path = xstrdup(path);
	r->bufsize = bufsize ? bufsize : CSV_BUFSIZE;
	/* A small file gets a small buffer: zeroing a whole CSV_BUFSIZE for a file of a few
	 * lines was most of an empty sync's time (turnaround benchmark). */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size < r->bufsize / 2 && r->bufsize > CSV_SMALL_BUFSIZE)
		r->bufsize = (uint64_t)st.st_size * 2 > CSV_SMALL_BUFSIZE ?
		    (size_t)st.st_size * 2 : CSV_SMALL_BUFSIZE;
	/* + the NUL after a last line without LF; zeroed so that a load past the data reads
	 * defined bytes */
	r->buf = xcalloc(1, r->bufsize + 1 + CSV_SLACK);
	r->line = 1;
	return r;
}

void
csv_close(struct csv_reader *r)
{
	size_t i;

	if (r == NULL)
		return;
	close(r->fd);
	for (i = 0; i < r->ncols; i++)
		free(r->cols[i]);
	free(r->cols);
	free(r->path);
	free(r->buf);
	free(r->rec);
	free(r->foff);
	free(r->fptr);
	free(r->flen);
	free(r->req);
	free(r->cpos);
	free(r->vpos);
	free(r);
}

static void
rec_fields(struct csv_reader *r)
{
	size_t i, end;

	if (r->nf > r->fpcap) {
		r->fpcap = r->nf;
		r->fptr = xrealloc(r->fptr, r->fpcap * sizeof *r->fptr);
		r->flen = xrealloc(r->flen, r->fpcap * sizeof *r->flen);
	}
	for (i = 0; i < r->nf; i++) {
		r->fptr[i] = r->rec + r->foff[i];
		end = i + 1 < r->nf ? r->foff[i + 1] : r->reclen;
		r->flen[i] = end - r->foff[i] - 1;
	}
}

int
csv_open(const char *path, size_t bufsize, csv_error_cb cb, void *arg,
    struct csv_reader **out, char **cause)
{
	struct csv_reader *r;
	uint64_t line;
	size_t i, j;
	int rv;

	if ((r = reader_new(path, bufsize, cause)) == NULL)
		return -1;
	r->cb = cb;
	r->cbarg = arg;
	do
		rv = rec_read(r, &line);
	while (rv == 1 && rec_blank(r));
	if (rv == -1) {
		*cause = xasprintf("cannot read %s: %s", path, strerror(errno));
		goto fail;
	}
	if (rv == 0) {
		*cause = xasprintf("%s: empty file, no header row", path);
		goto fail;
	}
	if (r->bad != NULL) {
		*cause = xasprintf("%s:%llu: bad header row: %s", path,
		    (unsigned long long)line, r->bad);
		goto fail;
	}
	rec_fields(r);
	r->ncols = r->nf;
	r->cols = xcalloc(r->ncols, sizeof *r->cols);
	for (i = 0; i < r->nf; i++)
		r->cols[i] = xstrndup(r->fptr[i], r->flen[i]);
	for (i = 0; i < r->ncols; i++) {
		if (!csv_utf8_valid(r->cols[i], strlen(r->cols[i]))) {
			*cause = xasprintf("%s:%llu: invalid UTF-8 in header", path,
			    (unsigned long long)line);
			goto fail;
		}
		if (strlen(r->cols[i]) != r->flen[i]) {
			*cause = xasprintf("%s:%llu: NUL byte in header", path,
			    (unsigned long long)line);
			goto fail;
		}
		if (*r->cols[i] == '\0') {
			*cause = xasprintf("%s:%llu: empty column name in header (column %zu)",
			    path, (unsigned long long)line, i + 1);
			goto fail;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(r->cols[i], r->cols[j]) == 0) {
				*cause = xasprintf("%s:%llu: duplicate column '%s' in header",
				    path, (unsigned long long)line, r->cols[i]);
				goto fail;
			}
		}
	}
	*out = r;
	return 0;

fail:
	csv_close(r);
	return -1;
}

static void
report(struct csv_reader *r, uint64_t line, const char *reason)
{
	r->nbad++;
	if (r->cb != NULL)
		r->cb(r->path, line, reason, r->cbarg);
}

/* With a skip set, pass over the record at bpos if the skip says so: 1 (bpos and line
 * moved past it), 0 (nothing moved: the usual path reads it), -1 read error (errno). */
static int
skip_record(struct csv_reader *r)
{
	size_t len, next;
	char *s;
	bool nl;
	int rv;

#ifdef __SSE2__
	if (r->bpos < r->blen) {
		switch (line_skip_sse(r)) {
		case SKIP_DONE:
			return 1;
		case SKIP_NO:
			return 0;
		}
	}
#endif
	if ((rv = line_fast(r, false, &s, &len, &next, &nl)) != 1)
		return rv == -1 ? -1 : 0;
	if (len == 0 || !line_skip(r, s, len, next - r->bpos - (nl ? 1 : 0)))
		return 0;
	r->bpos = next;
	if (nl)
		r->line++;
	return 1;
}

/* At the start of the plan's next stretch, jump past it: 1 (the stretch's records count
 * as skipped), 0 (not at one), -1 read error (errno). */
static int
plan_jump(struct csv_reader *r)
{
	const struct csv_stretch *st;
	uint64_t pos = r->boff + r->bpos, to;

	while (r->pi < r->plan->n && r->plan->st[r->pi].off < pos)
		r->pi++; /* behind us: only if the file is not what was planned */
	if (r->pi == r->plan->n || r->plan->st[r->pi].off != pos)
		return 0;
	st = &r->plan->st[r->pi++];
	to = st->off + st->len;
	if (to <= r->boff + r->blen)
		r->bpos = (size_t)(to - r->boff);
	else {
		if (lseek(r->fd, (off_t)to, SEEK_SET) == -1)
			return -1;
		r->boff = to;
		r->bpos = r->blen = 0;
		r->eof = false;
		r->qvalid = false;
	}
	r->line += st->lines;
	r->ngood += st->recs;
	r->nskip += st->recs;
	r->skiprun += st->recs;
	return 1;
}

int
csv_next(struct csv_reader *r, struct csv_row *row, char **cause)
{
	uint64_t line;
	size_t i, len, next;
	char *s;
	bool nl, clean;
	int rv;

	for (;;) {
		rv = r->plan != NULL ? plan_jump(r) : 0;
		if (rv == 0 && r->skipping && (rv = skip_record(r)) == 1) {
			r->ngood++;
			r->nskip++;
			r->skiprun++;
		}
		if (rv == -1) {
			*cause = xasprintf("cannot read %s: %s", r->path, strerror(errno));
			return -1;
		}
		if (rv == 1) {
			if (r->skiprun >= CSV_SKIP_YIELD) {
				r->skiprun = 0;
				return 2;
			}
			continue;
		}
		rv = line_fast(r, false, &s, &len, &next, &nl);
		if (rv == 1 && len > 0 && (rv = line_split(r, s, len, &clean)) == 0)
			r->nf = 0; /* a quote: the state machine reads it from bpos */
		if (rv == 1) {
			line = r->line;
			r->bpos = next;
			if (nl)
				r->line++;
			if (len == 0)
				continue; /* blank line */
			if (r->bad == NULL && r->nf != r->ncols) {
				snprintf(r->badbuf, sizeof r->badbuf,
				    "expected %zu fields, found %zu", r->ncols, r->nf);
				r->bad = r->badbuf;
			}
			if (r->bad == NULL && clean)
				goto good;
			goto check; /* the fields' UTF-8 and NUL checks, one by one */
		}
		if (rv == 2)
			return 0;
		if (rv == 0)
			rv = rec_read(r, &line);
		if (rv == -1) {
			*cause = xasprintf("cannot read %s: %s", r->path, strerror(errno));
			return -1;
		}
		if (rv == 0)
			return 0;
		if (rec_blank(r))
			continue;
		if (r->bad == NULL && r->nf != r->ncols) {
			snprintf(r->badbuf, sizeof r->badbuf,
			    "expected %zu fields, found %zu", r->ncols, r->nf);
			r->bad = r->badbuf;
		}
		if (r->bad != NULL) {
			report(r, line, r->bad);
			continue;
		}
		rec_fields(r);
check:
		if (r->bad != NULL) {
			report(r, line, r->bad);
			continue;
		}
		for (i = 0; i < r->nf; i++) {
			if (!csv_utf8_valid(r->fptr[i], r->flen[i])) {
				snprintf(r->badbuf, sizeof r->badbuf,
				    "invalid UTF-8 in column '%s'", r->cols[i]);
				r->bad = r->badbuf;
				break;
			}
			if (memchr(r->fptr[i], '\0', r->flen[i]) != NULL) {
				snprintf(r->badbuf, sizeof r->badbuf,
				    "NUL byte in column '%s'", r->cols[i]);
				r->bad = r->badbuf;
				break;
			}
		}
		if (r->bad != NULL) {
			report(r, line, r->bad);
			continue;
		}
good:
		r->ngood++;
		r->skiprun = 0;
		row->line = line;
		row->n = r->nf;
		row->f = r->fptr;
		row->len = r->flen;
		return 1;
	}
}

void
csv_skip_set(struct csv_reader *r, const struct csv_skip *skip)
{
	size_t n = 0;

	free(r->req);
	r->req = NULL;
	r->skipping = false;
	r->skiprun = 0;
	if (skip == NULL || skip->col < 0 || (size_t)skip->col >= r->ncols)
		return;
	if (skip->req != NULL) {
		while (skip->req[n] != -1)
			n++;
	}
	r->req = xcalloc(n + 1, sizeof *r->req);
	if (n > 0)
		memcpy(r->req, skip->req, n * sizeof *r->req);
	r->req[n] = -1;
	for (n = 0; r->req[n] != -1; n++) {
		if (r->req[n] < 0 || (size_t)r->req[n] >= r->ncols)
			return; /* not a column: never skip */
	}
	if (r->cpos == NULL) {
		r->cpos = xcalloc(r->ncols, sizeof *r->cpos);
		r->vpos = xcalloc(2 * r->ncols, sizeof *r->vpos);
	}
	r->skip = *skip;
	r->skip.req = r->req;
	r->skipping = true;
}

uint64_t
csv_skipped_rows(const struct csv_reader *r)
{
	return r->nskip;
}

void
csv_reject(struct csv_reader *r, const struct csv_row *row, const char *reason)
{
	if (r->ngood > 0)
		r->ngood--;
	report(r, row->line, reason);
}

size_t
csv_ncolumns(const struct csv_reader *r)
{
	return r->ncols;
}

const char *
csv_column_name(const struct csv_reader *r, size_t i)
{
	return i < r->ncols ? r->cols[i] : NULL;
}

int
csv_column(const struct csv_reader *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->ncols; i++) {
		if (strcmp(r->cols[i], name) == 0)
			return (int)i;
	}
	return -1;
}

const char *
csv_path(const struct csv_reader *r)
{
	return r->path;
}

uint64_t
csv_bad_rows(const struct csv_reader *r)
{
	return r->nbad;
}

uint64_t
csv_good_rows(const struct csv_reader *r)
{
	return r->ngood;
}

int
csv_count_records(const char *path, uint64_t *n, char **cause)
{
	return csv_count_records_stop(path, n, NULL, NULL, cause);
}

/*
 * Whether the line [s, e) (e at its LF) holding a quote at q (the first one) is one whole
 * record as rec_read reads it: walking its fields, every field that starts with a quote
 * ends with one ("" inside is an escaped quote) on this line, followed by a comma or the
 * line end (CRLF too). A quote inside an unquoted field is data (rec_read is lenient
 * there): only the quotes matter, so the walk goes from quote to quote. false for
 * anything else (a quoted field over several lines, a character after a closing quote):
 * rec_read must read it.
 */
static bool
line_one_record(const char *s, const char *q, const char *e)
{
	for (;;) {
		if (q == s || q[-1] == ',') {
			/* A quoted field: outside quotes every comma separates fields. */
			for (q++;; q += 2) {
				if ((q = memchr(q, '"', (size_t)(e - q))) == NULL)
					return false; /* it goes on past the line end */
				if (q + 1 == e || q[1] != '"')
					break;
			}
			q++;
			if (q == e || (*q == '\r' && q + 1 == e))
				return true;
			if (*q != ',')
				return false;
		}
		q++; /* past a quote of an unquoted field, or the comma after a quoted one */
		if ((q = memchr(q, '"', (size_t)(e - q))) == NULL)
			return true;
	}
}

int
csv_count_records_stop(const char *path, uint64_t *n, bool (*stop)(void *), void *arg,
    char **cause)
{
	struct csv_reader *r;
	uint64_t line, count = 0, before;
	size_t len, next;
	char *s, *p, *e, *q, *end;
	bool nl;
	int rv;

	if ((r = reader_new(path, CSV_COUNT_BUFSIZE, cause)) == NULL)
		return -1;
	for (;;) {
		/* The lines of the buffer before the one holding the next quote: one memchr
		 * each, nothing else. Then that line, when it is one whole record (nearly
		 * always: a quoted field with a comma): on to the next quote. */
		p = r->buf + r->bpos;
		end = r->buf + r->blen;
		for (;;) {
			if ((q = memchr(p, '"', (size_t)(end - p))) == NULL)
				q = end;
			while ((e = memchr(p, '\n', (size_t)(q - p))) != NULL) {
				if (e > p && (e != p + 1 || *p != '\r')) {
					count++;
					if (stop != NULL && count % CSV_STOP_EVERY == 0 &&
					    stop(arg)) {
						csv_close(r);
						return 1;
					}
				}
				p = e + 1;
			}
			if (q == end || (e = memchr(q, '\n', (size_t)(end - q))) == NULL ||
			    !line_one_record(p, q, e))
				break;
			count++; /* not blank: it has a quote */
			if (stop != NULL && count % CSV_STOP_EVERY == 0 && stop(arg)) {
				csv_close(r);
				return 1;
			}
			p = e + 1;
		}
		r->bpos = (size_t)(p - r->buf);
		r->qvalid = false;
		/* Then one record the usual way from the start of its line: a line crossing
		 * the end of the buffer, or one with a quote that is not one line (the state
		 * machine). */
		before = count;
		rv = line_fast(r, true, &s, &len, &next, &nl);
		if (rv == 1) {
			r->bpos = next;
			if (len > 0)
				count++;
		} else if (rv == 2)
			rv = 0;
		else if (rv == 0 && (rv = rec_read(r, &line)) == 1 && !rec_blank(r))
			count++;
		if (rv != 1)
			break;
		if (stop != NULL && count != before && count % CSV_STOP_EVERY == 0 && stop(arg)) {
			csv_close(r);
			return 1;
		}
	}
	if (rv == -1) {
		*cause = xasprintf("cannot read %s: %s", path, strerror(errno));
		csv_close(r);
		return -1;
	}
	csv_close(r);
	*n = count > 0 ? count - 1 : 0; /* minus the header */
	return 0;
}

static void
plan_add(struct csv_plan *p, const struct csv_stretch *st)
{
	if (p->n == CSV_PLAN_MAX)
		return; /* the records after the last stretch are tested one by one */
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 1024;
		p->st = xrealloc(p->st, p->cap * sizeof *p->st);
	}
	p->st[p->n++] = *st;
}

/*
 * The scan of csv_plan_file from the first record after the header: every record counted
 * as csv_count_records_stop counts it, the ones the skip passes over gathered in
 * stretches. 0 with *count, 1 stopped, -1 read error (errno).
 */
static int
plan_scan(struct csv_reader *r, struct csv_plan *p, uint64_t *count, bool (*stop)(void *),
    void *arg)
{
	struct csv_stretch cur = { 0, 0, 0, 0 };
	uint64_t n = 0, polled = 0, at, line;
	size_t len, next;
	char *s;
	bool nl;
	int rv;

	for (;;) {
		at = r->boff + r->bpos;
		line = r->line;
		if ((rv = skip_record(r)) == 1) {
			if (cur.recs == 0) {
				cur.off = at;
				cur.lines = 0;
			}
			cur.recs++;
			cur.lines += (uint32_t)(r->line - line);
			cur.len = r->boff + r->bpos - cur.off;
			if (cur.recs == CSV_STRETCH_MAX) {
				plan_add(p, &cur);
				cur.recs = 0;
			}
			n++;
		} else if (rv == 0) {
			if (cur.recs > 0) {
				plan_add(p, &cur);
				cur.recs = 0;
			}
			/* One record the way the counting pass reads it. */
			if ((rv = line_fast(r, true, &s, &len, &next, &nl)) == 1) {
				r->bpos = next;
				if (nl)
					r->line++;
				if (len > 0)
					n++;
			} else if (rv == 0 && (rv = rec_read(r, &line)) == 1 && !rec_blank(r))
				n++;
			if (rv == 2 || rv == 0)
				break;
		}
		if (rv == -1)
			return -1;
		if (stop != NULL && n - polled >= CSV_STOP_EVERY) {
			polled = n;
			if (stop(arg))
				return 1;
		}
	}
	if (cur.recs > 0)
		plan_add(p, &cur);
	*count = n;
	return 0;
}

int
csv_plan_file(const char *path, const struct csv_skip_names *skip, uint64_t *n,
    struct csv_plan **plan, bool (*stop)(void *), void *arg, char **cause)
{
	struct csv_reader *r;
	struct csv_skip sk;
	struct csv_plan *p;
	int req[CSV_PLAN_MAX_REQ + 1], rv;
	size_t i;
	char *why = NULL;

	*plan = NULL;
	/* A header that cannot be read, or without the columns: counted plainly, and left to
	 * the processing pass to report. */
	if (csv_open(path, CSV_COUNT_BUFSIZE, NULL, NULL, &r, &why) != 0) {
		free(why);
		return csv_count_records_stop(path, n, stop, arg, cause);
	}
	sk.col = csv_column(r, skip->col);
	sk.req = req;
	sk.old = skip->old;
	sk.arg = skip->arg;
	for (i = 0; skip->req[i] != NULL && i < CSV_PLAN_MAX_REQ; i++) {
		if ((req[i] = csv_column(r, skip->req[i])) == -1)
			break;
	}
	req[i] = -1;
	p = xcalloc(1, sizeof *p);
	csv_skip_set(r, skip->req[i] == NULL ? &sk : NULL);
	if (!r->skipping || fstat(r->fd, &p->st_file) != 0 || !S_ISREG(p->st_file.st_mode)) {
		csv_close(r);
		free(p);
		return csv_count_records_stop(path, n, stop, arg, cause);
	}
	p->data_off = r->boff + r->bpos;
	rv = plan_scan(r, p, n, stop, arg);
	if (rv == -1)
		*cause = xasprintf("cannot read %s: %s", path, strerror(errno));
	csv_close(r);
	if (rv != 0)
		csv_plan_free(p);
	else
		*plan = p;
	return rv;
}

bool
csv_plan_use(struct csv_reader *r, const struct csv_plan *plan)
{
	struct stat st;

	if (fstat(r->fd, &st) != 0 || st.st_dev != plan->st_file.st_dev ||
	    st.st_ino != plan->st_file.st_ino || st.st_size != plan->st_file.st_size ||
	    st.st_mtim.tv_sec != plan->st_file.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != plan->st_file.st_mtim.tv_nsec ||
	    r->boff + r->bpos != plan->data_off)
		return false;
	r->plan = plan;
	r->pi = 0;
	return true;
}

size_t
csv_plan_stretches(const struct csv_plan *plan)
{
	return plan->n;
}

uint64_t
csv_plan_records(const struct csv_plan *plan)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < plan->n; i++)
		n += plan->st[i].recs;
	return n;
}

void
csv_plan_free(struct csv_plan *plan)
{
	if (plan == NULL)
		return;
	free(plan->st);
	free(plan);
}

bool
csv_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, k, need;
	uint32_t cp, min;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			/* Skip ASCII a word at a time. */
			while (i + 8 <= len) {
				uint64_t w;

				memcpy(&w, s + i, 8);
				if ((w & 0x8080808080808080ull) != 0)
					break;
				i += 8;
			}
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			need = 1;
			cp = s[i] & 0x1f;
			min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			need = 2;
			cp = s[i] & 0x0f;
			min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			need = 3;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else
			return false;
		if (i + need >= len)
			return false;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}
