/* check_peak_rss.c: the worker's own peak RSS (daemon/worker/peak_rss.c), which it sends
 * with its result as the job's max_rss_kb: VmHWM read from hand-made status texts, and
 * from this process after it touched a known amount of memory. */
#include <sys/mman.h>

#include <check.h>
#include <stdint.h>
#include <string.h>

#include "worker/peak_rss.h"

Suite *peak_rss_suite(void);

/* The lines around VmHWM in a real /proc/self/status (kernel 6.x). */
#define HEAD "Name:\tjobsd-worker\nUmask:\t0077\nState:\tR (running)\nVmPeak:\t   14280 kB\n"
#define TAIL "VmRSS:\t    3096 kB\nRssAnon:\t     124 kB\nThreads:\t1\n"

static int64_t
parse(const char *text)
{
	return peak_rss_parse(text, strlen(text));
}

START_TEST(parses_vmhwm)
{
	ck_assert_int_eq(parse(HEAD "VmHWM:\t    3552 kB\n" TAIL), 3552);
	ck_assert_int_eq(parse(HEAD "VmHWM:\t0 kB\n" TAIL), 0);
	ck_assert_int_eq(parse(HEAD "VmHWM: 9223372036854775807 kB\n"), INT64_MAX);
	/* The last line, without its newline. */
	ck_assert_int_eq(parse(HEAD "VmHWM:\t  77 kB"), 77);
	/* Only the field itself: VmPeak comes first and is not it. */
	ck_assert_int_eq(parse("Name:\tx\nVmPeak:\t 999 kB\nVmHWM:\t 12 kB\n"), 12);
}
END_TEST

START_TEST(rejects_what_is_not_vmhwm)
{
	ck_assert_int_eq(parse(HEAD TAIL), -1);                /* absent */
	ck_assert_int_eq(parse(""), -1);                       /* empty */
	ck_assert_int_eq(parse("VmHWM:\t 12 kB\n"), -1);       /* not at a line start */
	ck_assert_int_eq(parse(HEAD "xVmHWM:\t 12 kB\n"), -1); /* another key */
	ck_assert_int_eq(parse(HEAD "VmHWM:\t\n" TAIL), -1);   /* no value */
	ck_assert_int_eq(parse(HEAD "VmHWM:\t -5 kB\n"), -1);  /* not a count */
	ck_assert_int_eq(parse(HEAD "VmHWM:\t 12 MB\n"), -1);  /* another unit */
	ck_assert_int_eq(parse(HEAD "VmHWM:\t 12"), -1);       /* cut short */
	ck_assert_int_eq(parse(HEAD "VmHWM: 9223372036854775808 kB\n"), -1); /* too big */
	/* The length given is the end, whatever follows it in memory. */
	{
		const char t[] = HEAD "VmHWM:\t 3552 kB\n";
		ck_assert_int_eq(peak_rss_parse(t, strlen(t) - 4), -1);
		ck_assert_int_eq(peak_rss_parse(t, strlen(HEAD) + 5), -1);
	}
}
END_TEST

/* 64 MiB touched, then unmapped: the peak stays at least that much above the start. */
START_TEST(reads_this_process)
{
	const size_t size = 64u << 20;
	int64_t before, after;
	unsigned char *p;
	size_t i;

	before = peak_rss_kb();
	ck_assert_int_gt(before, 0);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(p != MAP_FAILED);
	for (i = 0; i < size; i += 4096)
		p[i] = 1;
	ck_assert_int_eq(munmap(p, size), 0);
	after = peak_rss_kb();
	ck_assert_msg(after >= (int64_t)(size >> 10), "peak %lld kB after touching %zu kB",
	              (long long)after, size >> 10);
	ck_assert_int_ge(after, before);
}
END_TEST

Suite *
peak_rss_suite(void)
{
	Suite *s = suite_create("peak_rss");
	TCase *tc = tcase_create("peak_rss");

	tcase_add_test(tc, parses_vmhwm);
	tcase_add_test(tc, rejects_what_is_not_vmhwm);
	tcase_add_test(tc, reads_this_process);
	suite_add_tcase(s, tc);
	return s;
}
