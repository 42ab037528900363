/* timeutil.c: clocks, and RFC 3339 formatting / ISO 8601 parsing of timestamps with plain
 * calendar arithmetic (days from the civil date, no timegm or TZ), so it is reentrant. */
#include <stdio.h>
#include <time.h>

#include "timeutil.h"

#define MS_PER_DAY INT64_C(86400000)

int64_t
time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

int64_t
time_monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (era * 146097 + (int64_t)doe - 719468);
}

/* The inverse: civil date of a day count. */
static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void
put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

void
time_format_rfc3339(int64_t ms, char *out, size_t outlen)
{
	int64_t days, secs, y;
	unsigned m, d;

	if (outlen == 0)
		return;
	/* Floor division, so that times before 1970 round down to their second. */
	days = ms / MS_PER_DAY;
	if (ms % MS_PER_DAY < 0)
		days--;
	secs = (ms - days * MS_PER_DAY) / 1000;
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999 || outlen < 21) {
		snprintf(out, outlen, "%04lld-%02u-%02uT%02d:%02d:%02dZ", (long long)y, m, d,
		    (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
		return;
	}
	/* The common case by hand: this is on the REST list path, twice per job. */
	put2(out, (unsigned)(y / 100));
	put2(out + 2, (unsigned)(y % 100));
	out[4] = '-';
	put2(out + 5, m);
	out[7] = '-';
	put2(out + 8, d);
	out[10] = 'T';
	put2(out + 11, (unsigned)(secs / 3600));
	out[13] = ':';
	put2(out + 14, (unsigned)(secs / 60 % 60));
	out[16] = ':';
	put2(out + 17, (unsigned)(secs % 60));
	out[19] = 'Z';
	out[20] = '\0';
}

static bool
is_leap(int y)
{
	return ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0);
}

static unsigned
days_in_month(int y, unsigned m)
{
	static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && is_leap(y))
		return (29);
	return (mdays[m - 1]);
}

/* n decimal digits at s[*i]; advances *i. */
static int
digits(const char *s, size_t len, size_t *i, int n, int *v)
{
	int k;

	if (len - *i < (size_t)n)
		return (-1);
	*v = 0;
	for (k = 0; k < n; k++) {
		if (s[*i] < '0' || s[*i] > '9')
			return (-1);
		*v = *v * 10 + (s[*i] - '0');
		(*i)++;
	}
	return (0);
}

static int
expect(const char *s, size_t len, size_t *i, char c)
{
	if (*i >= len || s[*i] != c)
		return (-1);
	(*i)++;
	return (0);
}

int
time_parse_iso8601(const char *s, size_t len, bool end_of_day, int64_t *ms)
{
	size_t i = 0;
	int y, mo, d, h, mi, sec = 0, frac = 0, oh, om, sign, scale;
	int64_t t, round_up = 59999; /* end of the stated minute, for end_of_day */

	if (s == NULL)
		return (-1);
	if (digits(s, len, &i, 4, &y) == -1 || expect(s, len, &i, '-') == -1 ||
	    digits(s, len, &i, 2, &mo) == -1 || expect(s, len, &i, '-') == -1 ||
	    digits(s, len, &i, 2, &d) == -1)
		return (-1);
	if (mo < 1 || mo > 12 || d < 1 || (unsigned)d > days_in_month(y, (unsigned)mo))
		return (-1);
	t = days_from_civil(y, (unsigned)mo, (unsigned)d) * MS_PER_DAY;
	if (i == len) {
		*ms = end_of_day ? t + MS_PER_DAY - 1 : t;
		return (0);
	}

	if (s[i] != 'T' && s[i] != 't')
		return (-1);
	i++;
	if (digits(s, len, &i, 2, &h) == -1 || expect(s, len, &i, ':') == -1 ||
	    digits(s, len, &i, 2, &mi) == -1)
		return (-1);
	if (i < len && s[i] == ':') {
		i++;
		if (digits(s, len, &i, 2, &sec) == -1)
			return (-1);
		round_up = 999; /* end of the stated second */
		if (i < len && s[i] == '.') {
			i++;
			if (i >= len || s[i] < '0' || s[i] > '9')
				return (-1);
			/* Milliseconds from the first three digits; the rest are dropped. */
			for (scale = 100; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
				frac += (s[i] - '0') * scale;
				scale /= 10;
			}
			/* ".5" ends at .599, ".25" at .259, three digits or more at that ms */
			round_up = scale > 0 ? scale * 10 - 1 : 0;
		}
	}
	if (h > 23 || mi > 59 || sec > 60)
		return (-1);
	if (sec == 60)
		sec = 59; /* a leap second is shown as the last second of its minute */
	t += ((int64_t)h * 3600 + mi * 60 + sec) * 1000 + frac;

	if (i >= len)
		return (-1); /* a date-time needs a zone */
	if (s[i] == 'Z' || s[i] == 'z')
		i++;
	else if (s[i] == '+' || s[i] == '-') {
		sign = s[i] == '+' ? 1 : -1;
		i++;
		if (digits(s, len, &i, 2, &oh) == -1 || expect(s, len, &i, ':') == -1 ||
		    digits(s, len, &i, 2, &om) == -1 || oh > 23 || om > 59)
			return (-1);
		t -= sign * ((int64_t)oh * 3600 + om * 60) * 1000;
	} else
		return (-1);
	if (i != len)
		return (-1);
	/* An upper bound covers everything shown as the stated time: timestamps are shown
	 * to the second, so ...T10:00:00Z includes 10:00:00.400. */
	*ms = end_of_day ? t + round_up : t;
	return (0);
}
