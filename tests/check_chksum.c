/* check_chksum.c: the worker's faster Berkeley DB checksum (daemon/worker/chksum.c) gives
 * libdb's own value (__ham_func4) for every length and alignment, and the wrapper the
 * worker links in front of libdb's calls gives it too. */
#include <check.h>
#include <db.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/platform/x86.h>

#include "worker/chksum.h"

Suite *chksum_suite(void);

/* libdb's routine (the link's --wrap names it so) and the one in front of it. */
u_int32_t __real___ham_func4(DB *dbp, const void *key, u_int32_t len);
u_int32_t __wrap___ham_func4(DB *dbp, const void *key, u_int32_t len);

#define BIG (64u * 1024 + 64)

static unsigned char *
random_bytes(size_t n, uint64_t seed)
{
	unsigned char *b = malloc(n);
	size_t i;

	ck_assert_ptr_nonnull(b);
	for (i = 0; i < n; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		b[i] = (unsigned char)seed;
	}
	return b;
}

START_TEST(known_values)
{
	/* h = 33 * h + byte from 0, by hand: "a" 97, "ab" 97 * 33 + 98 = 3299, "abc"
	 * 3299 * 33 + 99 = 108966; 64 bytes of 0xff: (33^64 - 1) / 32 * 255 mod 2^32. */
	unsigned char ff[64];
	uint32_t want = 0, p = 1;
	int i;

	ck_assert_uint_eq(chksum_bytes("", 0), 0);
	ck_assert_uint_eq(chksum_bytes("a", 1), 97);
	ck_assert_uint_eq(chksum_bytes("ab", 2), 3299);
	ck_assert_uint_eq(chksum_bytes("abc", 3), 108966);
	ck_assert_uint_eq(chksum_fast("abc", 3), 108966);
	memset(ff, 0xff, sizeof ff);
	for (i = 0; i < 64; i++) {
		want += 255 * p;
		p *= 33;
	}
	ck_assert_uint_eq(chksum_bytes(ff, sizeof ff), want);
	ck_assert_uint_eq(chksum_fast(ff, sizeof ff), want);
	ck_assert_uint_eq(__real___ham_func4(NULL, ff, sizeof ff), want);
}
END_TEST

START_TEST(same_as_libdb)
{
	/* Every length up to 300 at every offset up to 7 (the tail after the last 64-byte
	 * block, unaligned loads), then pages of 4 and 16 KiB and 64 KiB. */
	unsigned char *b = random_bytes(BIG, 0x9e3779b97f4a7c15ull);
	static const size_t big[] = { 4096, 16384, 65536 };
	size_t len, off, i;
	uint32_t want;

	for (off = 0; off < 8; off++) {
		for (len = 0; len <= 300; len++) {
			want = __real___ham_func4(NULL, b + off, (u_int32_t)len);
			ck_assert_uint_eq(chksum_bytes(b + off, len), want);
			ck_assert_uint_eq(chksum_fast(b + off, len), want);
		}
	}
	for (i = 0; i < sizeof big / sizeof big[0]; i++) {
		want = __real___ham_func4(NULL, b + 1, (u_int32_t)big[i]);
		ck_assert_uint_eq(chksum_fast(b + 1, big[i]), want);
	}
	free(b);
}
END_TEST

START_TEST(wrapper)
{
	/* What libdb's own calls reach in the worker: after chksum_init, the fast routine
	 * (on a CPU with AVX2) or libdb's, and either way libdb's value. */
	unsigned char *b = random_bytes(16384, 42);
	size_t len;

	chksum_init();
	/* Where the CPU has AVX2 the fast routine is the one in use. */
	if (CPU_FEATURE_ACTIVE(AVX2))
		ck_assert(chksum_fast_in_use());
	for (len = 0; len <= 16384; len += len < 300 ? 1 : 1021)
		ck_assert_uint_eq(__wrap___ham_func4(NULL, b, (u_int32_t)len),
		    __real___ham_func4(NULL, b, (u_int32_t)len));
	free(b);
}
END_TEST

Suite *
chksum_suite(void)
{
	Suite *s = suite_create("chksum");
	TCase *tc = tcase_create("chksum");

	tcase_add_test(tc, known_values);
	tcase_add_test(tc, same_as_libdb);
	tcase_add_test(tc, wrapper);
	suite_add_tcase(s, tc);
	return s;
}
