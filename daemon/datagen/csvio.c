/* csvio.c: buffered RFC 4180 writing and raw-preserving record reading for jobsd-datagen. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timeutil.h"
#include "csvio.h"

int
csv_out_open(struct csv_out *o, const char *dir, const char *name, char **cause)
{
	memset(o, 0, sizeof *o);
	o->path = xasprintf("%s/%s", dir, name);
	if ((o->fp = fopen(o->path, "w")) == NULL) {
		*cause = xasprintf("%s: %s", o->path, strerror(errno));
		free(o->path);
		o->path = NULL;
		return (-1);
	}
	o->buf = xmalloc(CSVIO_BUFSZ);
	setvbuf(o->fp, o->buf, _IOFBF, CSVIO_BUFSZ);
	return (0);
}

int
csv_out_close(struct csv_out *o, char **cause)
{
	int	rc = 0;

	if (o->fp != NULL) {
		int	bad = ferror(o->fp);

		if (fclose(o->fp) != 0 || bad) {
			if (cause != NULL && *cause == NULL)
				*cause = xasprintf("%s: write failed: %s", o->path,
				    strerror(errno ? errno : EIO));
			rc = -1;
		}
	}
	free(o->buf);
	free(o->path);
	memset(o, 0, sizeof *o);
	return (rc);
}

void
csv_field(struct csv_out *o, const char *s)
{
	const char	*p;

	if (o->col++ > 0)
		putc_unlocked(',', o->fp);
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs_unlocked(s, o->fp);
		return;
	}
	putc_unlocked('"', o->fp);
	for (p = s; *p != '\0'; p++) {
		if (*p == '"')
			putc_unlocked('"', o->fp);
		putc_unlocked(*p, o->fp);
	}
	putc_unlocked('"', o->fp);
}

void
csv_fieldf(struct csv_out *o, const char *fmt, ...)
{
	char	buf[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	csv_field(o, buf);
}

void
csv_field_u64(struct csv_out *o, uint64_t v)
{
	char	buf[24], *p = buf + sizeof buf;

	*--p = '\0';
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	csv_field(o, p);
}

void
csv_field_time(struct csv_out *o, int64_t secs)
{
	char	buf[32];

	dg_format_time(secs, buf);
	csv_field(o, buf);
}

void
csv_end_row(struct csv_out *o)
{
	fputs_unlocked("\r\n", o->fp);
	o->col = 0;
}

void
csv_raw(struct csv_out *o, const char *s, size_t len)
{
	fwrite_unlocked(s, 1, len, o->fp);
}

int
csv_in_open(struct csv_in *in, const char *dir, const char *name, char **cause)
{
	memset(in, 0, sizeof *in);
	in->path = xasprintf("%s/%s", dir, name);
	if ((in->fp = fopen(in->path, "r")) == NULL) {
		*cause = xasprintf("%s: %s", in->path, strerror(errno));
		free(in->path);
		in->path = NULL;
		return (-1);
	}
	return (0);
}

void
csv_in_close(struct csv_in *in)
{
	if (in->fp != NULL)
		fclose(in->fp);
	free(in->path);
	free(in->raw);
	free(in->data);
	free(in->fields);
	memset(in, 0, sizeof *in);
}

/* Split in->raw into unescaped fields. 0, or -1 if a quote is still open (need more). */
static int
csv_split(struct csv_in *in)
{
	const char	*p = in->raw, *end = in->raw + in->rawlen;
	char		*d;
	int		 quoted;

	if (in->datacap < in->rawlen + 1) {
		in->datacap = in->rawlen + 1;
		in->data = xrealloc(in->data, in->datacap);
	}
	/* Strip the record terminator. */
	if (end > p && end[-1] == '\n')
		end--;
	if (end > p && end[-1] == '\r')
		end--;
	d = in->data;
	in->nfields = 0;
	for (;;) {
		if (in->nfields == in->fieldcap) {
			in->fieldcap = in->fieldcap ? in->fieldcap * 2 : 16;
			in->fields = xrealloc(in->fields, in->fieldcap * sizeof *in->fields);
		}
		in->fields[in->nfields++] = d;
		quoted = 0;
		if (p < end && *p == '"') {
			quoted = 1;
			p++;
		}
		for (;;) {
			if (p >= end) {
				if (quoted)
					return (-1);
				break;
			}
			if (quoted && *p == '"') {
				if (p + 1 < end && p[1] == '"') {
					*d++ = '"';
					p += 2;
					continue;
				}
				quoted = 0;
				p++;
				continue;
			}
			if (!quoted && *p == ',')
				break;
			*d++ = *p++;
		}
		*d++ = '\0';
		if (p >= end)
			break;
		p++;	/* the comma */
	}
	return (0);
}

int
csv_in_read(struct csv_in *in, char **cause)
{
	int	c;

	in->rawlen = 0;
	for (;;) {
		/* Read one physical line. */
		while ((c = getc_unlocked(in->fp)) != EOF) {
			if (in->rawlen + 2 > in->rawcap) {
				in->rawcap = in->rawcap ? in->rawcap * 2 : 256;
				in->raw = xrealloc(in->raw, in->rawcap);
			}
			in->raw[in->rawlen++] = (char)c;
			if (c == '\n')
				break;
		}
		if (ferror(in->fp)) {
			*cause = xasprintf("%s: read failed: %s", in->path, strerror(errno));
			return (-1);
		}
		if (in->rawlen == 0)
			return (0);
		in->lineno++;
		in->raw[in->rawlen] = '\0';
		if (csv_split(in) == 0)
			return (1);
		if (c == EOF) {
			*cause = xasprintf("%s:%llu: unterminated quoted field", in->path,
			    (unsigned long long)in->lineno);
			return (-1);
		}
	}
}

int
csv_in_column(const struct csv_in *in, const char *name)
{
	size_t	i;

	for (i = 0; i < in->nfields; i++)
		if (strcmp(in->fields[i], name) == 0)
			return ((int)i);
	return (-1);
}

/* Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm). */
static void
civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t		era, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	yoe = z - era * 146097;
	yoe = (yoe - yoe / 1460 + yoe / 36524 - yoe / 146096) / 365;
	doy = z - era * 146097 - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static void
put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

void
dg_format_time(int64_t secs, char *out)
{
	int64_t	days = secs / 86400, rem = secs % 86400;
	int	y, m, d;

	if (rem < 0) {
		rem += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	put2(out, (y / 100) % 100);
	put2(out + 2, y % 100);
	out[4] = '-';
	put2(out + 5, m);
	out[7] = '-';
	put2(out + 8, d);
	out[10] = 'T';
	put2(out + 11, (int)(rem / 3600));
	out[13] = ':';
	put2(out + 14, (int)(rem / 60 % 60));
	out[16] = ':';
	put2(out + 17, (int)(rem % 60));
	out[19] = 'Z';
	out[20] = '\0';
}

int
dg_parse_time(const char *s, int64_t *secs)
{
	int64_t	ms;

	if (time_parse_iso8601(s, strlen(s), false, &ms) == -1 ||
	    strchr(s, 'T') == NULL)
		return (-1);
	*secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
	return (0);
}
