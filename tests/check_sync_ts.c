/* check_sync_ts.c: the incremental sync's canonical timestamp test (daemon/worker/sync_ts.c):
 * the watermark's bound string, which strings it takes and which it leaves to the full
 * parser, and that it never disagrees with time_parse_iso8601. Expected values by hand. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "timeutil.h"
#include "worker/sync_ts.h"

Suite *sync_ts_suite(void);

START_TEST(bound)
{
	char b[SYNC_TS_LEN + 1];

	ck_assert(sync_ts_bound(0, b));
	ck_assert_str_eq(b, "1970-01-01T00:00:00Z");
	ck_assert(sync_ts_bound(999, b)); /* .999 s: the last whole second is still 00 */
	ck_assert_str_eq(b, "1970-01-01T00:00:00Z");
	ck_assert(sync_ts_bound(-1, b));
	ck_assert_str_eq(b, "1969-12-31T23:59:59Z");
	/* 2024-01-10: 19732 days after 1970-01-01, 1704844800 s. */
	ck_assert(sync_ts_bound(1704844800000LL, b));
	ck_assert_str_eq(b, "2024-01-10T00:00:00Z");
	ck_assert(sync_ts_bound(1704844800500LL, b));
	ck_assert_str_eq(b, "2024-01-10T00:00:00Z");
	/* 0000-01-01T00:00:00Z is -62167219200 s; one ms before it nothing is older. */
	ck_assert(sync_ts_bound(-62167219200000LL, b));
	ck_assert_str_eq(b, "0000-01-01T00:00:00Z");
	ck_assert(!sync_ts_bound(-62167219200001LL, b));
	ck_assert(sync_ts_bound(INT64_MAX, b));
	ck_assert_str_eq(b, "9999-12-31T23:59:59Z");
}
END_TEST

#define NA(s, bnd) sync_ts_not_after(s, strlen(s), bnd)

START_TEST(not_after)
{
	const char *b = "2024-01-10T00:00:00Z";

	ck_assert(NA("2024-01-10T00:00:00Z", b)); /* equal to the watermark: not after */
	ck_assert(NA("2024-01-09T23:59:59Z", b));
	ck_assert(NA("1999-12-31T23:59:59Z", b));
	ck_assert(NA("0000-01-01T00:00:00Z", b));
	ck_assert(!NA("2024-01-10T00:00:01Z", b));
	ck_assert(!NA("2024-02-01T00:00:00Z", b));
	ck_assert(!NA("2025-01-01T00:00:00Z", b));
	/* Valid dates at the edges of months. */
	ck_assert(NA("2024-02-29T12:00:00Z", "2024-03-01T00:00:00Z")); /* leap year */
	ck_assert(NA("2000-02-29T12:00:00Z", b));                      /* 400 rule */
	ck_assert(NA("2023-12-31T23:59:59Z", b));
	ck_assert(NA("2023-04-30T00:00:00Z", b));
	/* Not canonical (the full parser decides these): fractions, offsets, lower case,
	 * date-only, a leap second, no zone, other lengths. */
	ck_assert(!NA("2024-01-05T00:00:00.000Z", b));
	ck_assert(!NA("2024-01-05T00:00:00.5Z", b));
	ck_assert(!NA("2024-01-05T02:00:00+02:00", b));
	ck_assert(!NA("2024-01-05T00:00:00-00:00", b));
	ck_assert(!NA("2024-01-05t00:00:00Z", b));
	ck_assert(!NA("2024-01-05T00:00:00z", b));
	ck_assert(!NA("2024-01-05", b));
	ck_assert(!NA("2024-01-05T23:59:60Z", b));
	ck_assert(!NA("2024-01-05T00:00:00", b));
	ck_assert(!NA("2024-01-05T00:00Z", b));
	ck_assert(!NA(" 2024-01-05T00:00:00Z", b));
	ck_assert(!NA("2024-01-05T00:00:00Z ", b));
	/* Invalid: the parser rejects these, so must this test. */
	ck_assert(!NA("2023-02-29T00:00:00Z", b));
	ck_assert(!NA("1900-02-29T00:00:00Z", b)); /* 100 rule */
	ck_assert(!NA("2024-02-30T00:00:00Z", b));
	ck_assert(!NA("2024-04-31T00:00:00Z", b));
	ck_assert(!NA("2024-00-10T00:00:00Z", b));
	ck_assert(!NA("2024-13-10T00:00:00Z", b));
	ck_assert(!NA("2024-01-00T00:00:00Z", b));
	ck_assert(!NA("2024-01-32T00:00:00Z", b));
	ck_assert(!NA("2024-01-05T24:00:00Z", b));
	ck_assert(!NA("2024-01-05T19:60:00Z", b));
	ck_assert(!NA("2024-01-05T00:00:61Z", b));
	ck_assert(!NA("2O24-01-05T00:00:00Z", b));
	ck_assert(!NA("2024-01-05T0:00:000Z", b));
	ck_assert(!NA("2024/01/05T00:00:00Z", b));
	ck_assert(!NA("2024-01-05T00:0\xff:00Z", b));
	ck_assert(!NA("2024-01-05T00:00:0:Z", b)); /* ':' is '9' + 1 */
	ck_assert(!NA("2024-01-05T00:00:0/Z", b)); /* '/' is '0' - 1 */
	ck_assert(!sync_ts_not_after("2024-01-05T00:00:00Z", 19, b));
}
END_TEST

/* Every string of the canonical shape with digits varied over interesting values: when the
 * test says "not after", the parser agrees the time is valid and not after the watermark;
 * when the parser finds a valid time of second <= 59, the test says exactly that. */
START_TEST(agrees_with_parser)
{
	static const char *const years[] = { "0000", "1900", "1969", "1970", "2000", "2023",
	    "2024", "2100", "9999" };
	static const char *const mons[] = { "00", "01", "02", "04", "09", "12", "13", "1a" };
	static const char *const days[] = { "00", "01", "28", "29", "30", "31", "32" };
	static const char *const hours[] = { "00", "09", "19", "23", "24", "29" };
	static const char *const mins[] = { "00", "59", "60" };
	static const int64_t wms[] = { 0, 1704844800000LL, 1704844800999LL, 951782400000LL,
	    -2208988800000LL };
	char s[64], b[SYNC_TS_LEN + 1];
	size_t y, mo, d, h, mi, w;
	int64_t ms;
	bool fast, parsed;
	long n = 0;

	for (w = 0; w < sizeof wms / sizeof wms[0]; w++) {
		ck_assert(sync_ts_bound(wms[w], b));
		for (y = 0; y < sizeof years / sizeof years[0]; y++)
		for (mo = 0; mo < sizeof mons / sizeof mons[0]; mo++)
		for (d = 0; d < sizeof days / sizeof days[0]; d++)
		for (h = 0; h < sizeof hours / sizeof hours[0]; h++)
		for (mi = 0; mi < sizeof mins / sizeof mins[0]; mi++) {
			snprintf(s, sizeof s, "%s-%s-%sT%s:%s:%sZ", years[y], mons[mo], days[d],
			    hours[h], mins[mi], mins[mi]);
			fast = sync_ts_not_after(s, strlen(s), b);
			parsed = time_parse_iso8601(s, strlen(s), false, &ms) == 0;
			if (fast)
				ck_assert_msg(parsed && ms <= wms[w], "%s vs %s", s, b);
			else if (parsed && strcmp(mins[mi], "60") != 0)
				ck_assert_msg(ms > wms[w], "%s vs %s", s, b);
			n++;
		}
	}
	ck_assert_int_eq(n, 5 * 9 * 8 * 7 * 6 * 3);
}
END_TEST

Suite *
sync_ts_suite(void)
{
	Suite *s = suite_create("sync_ts");
	TCase *tc = tcase_create("canonical");

	tcase_add_test(tc, bound);
	tcase_add_test(tc, not_after);
	tcase_add_test(tc, agrees_with_parser);
	suite_add_tcase(s, tc);
	return s;
}
