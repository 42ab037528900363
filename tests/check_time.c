/* check_time.c: clocks, RFC 3339 formatting and ISO 8601 parsing against a hand-computed
 * table (epoch milliseconds worked out from day counts: 2024-01-01 is day 19723). */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "timeutil.h"

struct time_case {
	const char *s;
	bool end_of_day;
	int64_t ms;
};

static const struct time_case valid[] = {
	{"2024-02-01T10:00:00Z", false, INT64_C(1706781600000)},
	/* end_of_day: the end of the stated precision (an inclusive upper bound) */
	{"2024-02-01T10:00:00Z", true, INT64_C(1706781600999)},
	{"2024-02-01T10:00Z", true, INT64_C(1706781659999)},
	{"2024-02-01T10:00:00.5Z", true, INT64_C(1706781600599)},
	{"2024-02-01T10:00:00.25Z", true, INT64_C(1706781600259)},
	{"2024-02-01T10:00:00.250Z", true, INT64_C(1706781600250)},
	{"2024-02-01T10:00:00.2509Z", true, INT64_C(1706781600250)},
	{"2024-02-01T12:00:00+02:00", true, INT64_C(1706781600999)},
	{"2024-02-01T23:59:60Z", true, INT64_C(1706831999999)},
	{"2024-02-01T03:32:11Z", true, INT64_C(1706758331999)},
	{"2024-02-01", false, INT64_C(1706745600000)},
	{"2024-02-01", true, INT64_C(1706831999999)},
	{"1970-01-01T00:00:00Z", false, 0},
	{"1970-01-01", true, INT64_C(86399999)},
	{"1969-12-31T23:59:59Z", false, INT64_C(-1000)},
	{"2024-02-29", false, INT64_C(1709164800000)},
	{"2000-02-29", false, INT64_C(951782400000)},
	{"2024-12-31T23:59:59Z", false, INT64_C(1735689599000)},
	{"2024-02-01T10:00Z", false, INT64_C(1706781600000)},
	{"2024-02-01t10:00:00z", false, INT64_C(1706781600000)},
	{"2024-02-01T10:00:00.250+02:00", false, INT64_C(1706774400250)},
	{"2024-02-01T10:00:00-05:30", false, INT64_C(1706801400000)},
	{"2024-02-01T00:30:00+01:00", false, INT64_C(1706743800000)},
	{"2024-02-01T10:00:00+00:00", false, INT64_C(1706781600000)},
	{"2024-02-01T10:00:00-00:00", false, INT64_C(1706781600000)},
	{"2024-02-01T10:00:00.1Z", false, INT64_C(1706781600100)},
	{"2024-02-01T10:00:00.123456789Z", false, INT64_C(1706781600123)},
	{"2024-02-01T10:00:00.05Z", false, INT64_C(1706781600050)},
	{"2024-02-01T23:59:60Z", false, INT64_C(1706831999000)},
	{"9999-12-31T23:59:59Z", false, INT64_C(253402300799000)},
};

static const char *const invalid[] = {
	"",
	"2024",
	"2024-02",
	"2024-2-01",
	"2024-02-1",
	"2024-13-01",
	"2024-00-10",
	"2024-01-00",
	"2024-01-32",
	"2024-04-31",
	"2023-02-29",
	"2100-02-29",
	"2024-02-01T10:00:00",
	"2024-02-01T10:00",
	"2024-02-01T",
	"2024-02-01T10Z",
	"2024-02-01T10:0Z",
	"2024-02-01T24:00:00Z",
	"2024-02-01T10:60:00Z",
	"2024-02-01T10:00:61Z",
	"2024-02-01 10:00:00Z",
	"2024-02-01T10:00:00Zx",
	"2024-02-01T10:00:00Z ",
	" 2024-02-01",
	"2024-02-01 ",
	"2024-02-01Z",
	"2024-02-01T10:00:00+0200",
	"2024-02-01T10:00:00+02",
	"2024-02-01T10:00:00+24:00",
	"2024-02-01T10:00:00+02:60",
	"2024-02-01T10:00:00.Z",
	"2024-02-01T10:00:00.5",
	"2024-02-01T10:00.5Z",
	"+2024-02-01",
	"2024/02/01",
	"20240201",
	"2024-02-01T10:00:00ZZ",
};

START_TEST(test_parse_valid)
{
	const struct time_case *c = &valid[_i];
	int64_t ms = 42;

	ck_assert_msg(time_parse_iso8601(c->s, strlen(c->s), c->end_of_day, &ms) == 0,
	    "rejected %s", c->s);
	ck_assert_msg(ms == c->ms, "%s: got %lld want %lld", c->s, (long long)ms,
	    (long long)c->ms);
}
END_TEST

START_TEST(test_parse_invalid)
{
	const char *s = invalid[_i];
	int64_t ms = 42;

	ck_assert_msg(time_parse_iso8601(s, strlen(s), false, &ms) == -1, "accepted \"%s\"", s);
	ck_assert_msg(time_parse_iso8601(s, strlen(s), true, &ms) == -1, "accepted \"%s\"", s);
	ck_assert_int_eq(ms, 42);
}
END_TEST

START_TEST(test_parse_length)
{
	int64_t ms;

	/* len is honoured: a NUL inside, or a prefix of a longer buffer. */
	ck_assert_int_eq(time_parse_iso8601("2024-02-01\0", 11, false, &ms), -1);
	ck_assert_int_eq(time_parse_iso8601("2024-02-01T10:00:00Zjunk", 20, false, &ms), 0);
	ck_assert(ms == INT64_C(1706781600000));
	ck_assert_int_eq(time_parse_iso8601("2024-02-01T10:00:00Z", 19, false, &ms), -1);
	ck_assert_int_eq(time_parse_iso8601("2024-02-01", 9, false, &ms), -1);
	ck_assert_int_eq(time_parse_iso8601(NULL, 0, false, &ms), -1);
}
END_TEST

static const struct {
	int64_t ms;
	const char *s;
} formats[] = {
	{INT64_C(1706781600000), "2024-02-01T10:00:00Z"},
	{INT64_C(1706781600999), "2024-02-01T10:00:00Z"},
	{INT64_C(1706782500000), "2024-02-01T10:15:00Z"},
	{0, "1970-01-01T00:00:00Z"},
	{-1, "1969-12-31T23:59:59Z"},
	{INT64_C(-1000), "1969-12-31T23:59:59Z"},
	{INT64_C(-1001), "1969-12-31T23:59:58Z"},
	{INT64_C(951782400000), "2000-02-29T00:00:00Z"},
	{INT64_C(1709164800000), "2024-02-29T00:00:00Z"},
	{INT64_C(1735689599000), "2024-12-31T23:59:59Z"},
	{INT64_C(253402300799000), "9999-12-31T23:59:59Z"},
	{INT64_C(253402300800000), "10000-01-01T00:00:00Z"},
	{INT64_C(-62167219200000), "0000-01-01T00:00:00Z"},
};

START_TEST(test_format)
{
	char buf[32];

	memset(buf, 'x', sizeof(buf));
	time_format_rfc3339(formats[_i].ms, buf, sizeof(buf));
	ck_assert_str_eq(buf, formats[_i].s);
}
END_TEST

START_TEST(test_format_short_buffer)
{
	char buf[8];

	time_format_rfc3339(INT64_C(1706781600000), buf, sizeof(buf));
	ck_assert_str_eq(buf, "2024-02");
}
END_TEST

START_TEST(test_clocks)
{
	int64_t a, b, now;

	now = time_now_ms();
	ck_assert(now > INT64_C(1700000000000)); /* after November 2023 */
	a = time_monotonic_ms();
	b = time_monotonic_ms();
	ck_assert(b >= a);
}
END_TEST

Suite *time_suite(void);

Suite *
time_suite(void)
{
	Suite *s = suite_create("time");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_parse_valid, 0, sizeof(valid) / sizeof(valid[0]));
	tcase_add_loop_test(tc, test_parse_invalid, 0, sizeof(invalid) / sizeof(invalid[0]));
	tcase_add_test(tc, test_parse_length);
	tcase_add_loop_test(tc, test_format, 0, sizeof(formats) / sizeof(formats[0]));
	tcase_add_test(tc, test_format_short_buffer);
	tcase_add_test(tc, test_clocks);
	suite_add_tcase(s, tc);
	return (s);
}
