/* check_cursor.c: list queries and pagination cursors: golden cursors computed outside the
 * code (Python's hmac/base64 over the documented layout), round trips, and rejection of
 * tampered, re-filtered, truncated and random cursors; HMAC-SHA256 against RFC 4231. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "cursor.h"
#include "hmac.h"

static uint8_t key[CURSOR_KEY_LEN];

static void
setup_key(void)
{
	int i;

	for (i = 0; i < CURSOR_KEY_LEN; i++)
		key[i] = (uint8_t)i;
}

/* status any, type account_sync (2), start_date 2024-02-01, after job 42 started at
 * 2024-02-01T10:00:00Z. */
static void
query_a(struct job_query *q)
{
	job_query_init(q);
	q->type = 2;
	q->has_from = true;
	q->from_ms = INT64_C(1706745600000);
	q->after_no = 42;
	q->after_start_ms = INT64_C(1706781600000);
}

static const char golden_a[] =
    "Af8CAQAAAY1h9xgAAAAAAAAAAAAAAAAAAAAAKgAAAY1kHGkAvlFVJX2oOcqENHhcNdRAgw";
/* No filters, after job 7 with a null start time (INT64_MIN). */
static const char golden_b[] =
    "Af__AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB4AAAAAAAAAA_iSVIEks--CVzhYdlAbmQw";

START_TEST(test_query_init)
{
	struct job_query q;

	memset(&q, 0x5a, sizeof(q));
	job_query_init(&q);
	ck_assert_int_eq(q.status, -1);
	ck_assert_int_eq(q.type, -1);
	ck_assert(!q.has_from);
	ck_assert(!q.has_to);
	ck_assert(!q.has_after);
	ck_assert_uint_eq(q.first, 50);
	ck_assert(q.after_no == 0);
	ck_assert(!job_query_by_start(&q));
	q.status = 1;
	q.type = 3;
	ck_assert(!job_query_by_start(&q));
	q.has_to = true;
	ck_assert(job_query_by_start(&q));
	q.has_to = false;
	q.has_from = true;
	ck_assert(job_query_by_start(&q));
}
END_TEST

START_TEST(test_golden)
{
	struct job_query q;
	char out[CURSOR_MAX_LEN];

	query_a(&q);
	cursor_encode(key, &q, out, sizeof(out));
	ck_assert_str_eq(out, golden_a);

	job_query_init(&q);
	q.after_no = 7;
	q.after_start_ms = INT64_MIN;
	cursor_encode(key, &q, out, sizeof(out));
	ck_assert_str_eq(out, golden_b);

	job_query_init(&q);
	ck_assert_int_eq(cursor_decode(key, golden_b, strlen(golden_b), &q), 0);
	ck_assert(q.has_after);
	ck_assert(q.after_no == 7);
	ck_assert(q.after_start_ms == INT64_MIN);

	query_a(&q);
	q.after_no = 0;
	q.after_start_ms = 0;
	ck_assert_int_eq(cursor_decode(key, golden_a, strlen(golden_a), &q), 0);
	ck_assert(q.has_after);
	ck_assert(q.after_no == 42);
	ck_assert(q.after_start_ms == INT64_C(1706781600000));
	/* Filters and page size are the request's own, untouched. */
	ck_assert_int_eq(q.type, 2);
	ck_assert_int_eq(q.status, -1);
	ck_assert_uint_eq(q.first, 50);
}
END_TEST

START_TEST(test_roundtrip)
{
	struct job_query q, d;
	char out[CURSOR_MAX_LEN];
	size_t i;

	job_query_init(&q);
	q.status = 4;
	q.type = 9;
	q.has_from = true;
	q.from_ms = INT64_C(-1000);
	q.has_to = true;
	q.to_ms = INT64_C(253402300799000);
	q.first = 1000;
	q.after_no = UINT64_MAX;
	q.after_start_ms = INT64_MAX;
	cursor_encode(key, &q, out, sizeof(out));
	ck_assert_uint_eq(strlen(out), 70);
	for (i = 0; out[i] != '\0'; i++)
		ck_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				 "0123456789-_", out[i]) != NULL);

	d = q;
	d.has_after = false;
	d.after_no = 0;
	d.after_start_ms = 0;
	d.first = 3; /* the page size may change between pages */
	ck_assert_int_eq(cursor_decode(key, out, strlen(out), &d), 0);
	ck_assert(d.has_after);
	ck_assert(d.after_no == UINT64_MAX);
	ck_assert(d.after_start_ms == INT64_MAX);

	/* An absent bound's stale value is not part of the binding. */
	job_query_init(&q);
	q.from_ms = 123;
	q.after_no = 5;
	cursor_encode(key, &q, out, sizeof(out));
	job_query_init(&d);
	d.to_ms = 456;
	ck_assert_int_eq(cursor_decode(key, out, strlen(out), &d), 0);
	ck_assert(d.after_no == 5);
}
END_TEST

START_TEST(test_other_filters)
{
	struct job_query q;
	size_t n = strlen(golden_a);

	query_a(&q);
	q.status = 0;
	ck_assert_int_eq(cursor_decode(key, golden_a, n, &q), -1);
	ck_assert(!q.has_after);

	query_a(&q);
	q.type = 3;
	ck_assert_int_eq(cursor_decode(key, golden_a, n, &q), -1);

	query_a(&q);
	q.type = -1;
	ck_assert_int_eq(cursor_decode(key, golden_a, n, &q), -1);

	query_a(&q);
	q.from_ms += 1;
	ck_assert_int_eq(cursor_decode(key, golden_a, n, &q), -1);

	query_a(&q);
	q.has_from = false;
	ck_assert_int_eq(cursor_decode(key, golden_a, n, &q), -1);

	query_a(&q);
	q.has_to = true;
	q.to_ms = 0;
	ck_assert_int_eq(cursor_decode(key, golden_a, n, &q), -1);

	/* Another installation's key. */
	{
		uint8_t other[CURSOR_KEY_LEN];

		memcpy(other, key, sizeof(other));
		other[31] ^= 1;
		query_a(&q);
		ck_assert_int_eq(cursor_decode(other, golden_a, n, &q), -1);
	}
}
END_TEST

/* Every single-character change is refused, including changes to the last character's
 * unused low bits (which would decode to the same bytes). */
START_TEST(test_tamper)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	struct job_query q;
	char s[sizeof(golden_a)];
	size_t i, a, n = strlen(golden_a);

	for (i = 0; i < n; i++) {
		for (a = 0; a < 64; a++) {
			if (alphabet[a] == golden_a[i])
				continue;
			memcpy(s, golden_a, sizeof(s));
			s[i] = alphabet[a];
			query_a(&q);
			ck_assert_msg(cursor_decode(key, s, n, &q) == -1, "pos %zu -> %c", i,
			    alphabet[a]);
			ck_assert(!q.has_after);
		}
		/* Outside the alphabet: standard base64, padding, NUL, high bytes. */
		memcpy(s, golden_a, sizeof(s));
		s[i] = "+/=\0\x80 "[i % 6];
		query_a(&q);
		ck_assert_int_eq(cursor_decode(key, s, n, &q), -1);
	}
}
END_TEST

START_TEST(test_lengths)
{
	struct job_query q;
	char s[CURSOR_MAX_LEN * 2];
	size_t n;

	for (n = 0; n < strlen(golden_a); n++) {
		char *copy = malloc(n + 1); /* exact size for ASan */

		memcpy(copy, golden_a, n);
		query_a(&q);
		ck_assert_int_eq(cursor_decode(key, copy, n, &q), -1);
		free(copy);
	}
	snprintf(s, sizeof(s), "%sA", golden_a);
	ck_assert_int_eq(cursor_decode(key, s, strlen(s), &q), -1);
	snprintf(s, sizeof(s), "%s==", golden_a);
	ck_assert_int_eq(cursor_decode(key, s, strlen(s), &q), -1);
	snprintf(s, sizeof(s), "%s%s", golden_a, golden_a);
	ck_assert_int_eq(cursor_decode(key, s, strlen(s), &q), -1);
	ck_assert_int_eq(cursor_decode(key, NULL, 0, &q), -1);
	ck_assert_int_eq(cursor_decode(key, "cursor-token", 12, &q), -1);
}
END_TEST

START_TEST(test_garbage)
{
	struct job_query q;
	char s[128];
	uint32_t x = 777;
	size_t i, k, n;

	for (i = 0; i < 50000; i++) {
		x = x * 1103515245 + 12345;
		n = i % 2 == 0 ? 70 : (x >> 16) % sizeof(s);
		for (k = 0; k < n; k++) {
			x = x * 1103515245 + 12345;
			s[k] = (char)(x >> 16);
			if (i % 4 == 0) /* stay inside the alphabet to reach the MAC check */
				s[k] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				       "0123456789-_"[(x >> 16) % 64];
		}
		query_a(&q);
		ck_assert_int_eq(cursor_decode(key, s, n, &q), -1);
	}
}
END_TEST

START_TEST(test_small_buffer)
{
	struct job_query q;
	char out[70];

	query_a(&q);
	memset(out, 'x', sizeof(out));
	cursor_encode(key, &q, out, sizeof(out)); /* needs 71 */
	ck_assert_str_eq(out, "");
	cursor_encode(key, &q, out, 0); /* writes nothing */
	ck_assert_str_eq(out, "");
}
END_TEST

/* RFC 4648's test vectors (section 10), in the URL alphabet without padding. */
START_TEST(test_b64url_vectors)
{
	static const char *const plain[] = {"f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const coded[] = {"Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
	const uint8_t bin[] = {0xfb, 0xff, 0xbf};
	uint8_t back[16];
	char out[16];
	size_t i;

	for (i = 0; i < 6; i++) {
		ck_assert_uint_eq(b64url_encode((const uint8_t *)plain[i], strlen(plain[i]), out),
				  strlen(coded[i]));
		ck_assert_str_eq(out, coded[i]);
		ck_assert_int_eq(b64url_decode(coded[i], strlen(coded[i]), back, sizeof(back)),
				 (ssize_t)strlen(plain[i]));
		ck_assert(memcmp(back, plain[i], strlen(plain[i])) == 0);
	}
	/* the two characters that differ from standard base64: 0xfb 0xff 0xbf is "-_-_" */
	b64url_encode(bin, sizeof(bin), out);
	ck_assert_str_eq(out, "-_-_");
	ck_assert_int_eq(B64URL_LEN(6), 8);
}
END_TEST

START_TEST(test_b64url_refuses)
{
	uint8_t back[16];

	ck_assert_int_eq(b64url_decode("Zm9+", 4, back, sizeof(back)), -1); /* standard '+' */
	ck_assert_int_eq(b64url_decode("Zm9v=", 5, back, sizeof(back)), -1); /* padding */
	ck_assert_int_eq(b64url_decode("Zh", 2, back, sizeof(back)), -1);   /* "f" spelled twice */
	ck_assert_int_eq(b64url_decode("Zm9vYmFy", 8, back, 5), -1);        /* 6 bytes in 5 */
	ck_assert_int_eq(b64url_decode("Zm9vYmFy", 8, back, 6), 6);
	ck_assert_int_eq(b64url_decode("", 0, back, sizeof(back)), 0);
}
END_TEST

/* hmac_sha256 against RFC 4231's test cases 1, 2 and 6 (a key longer than a block, which
 * is not cached), in an order that makes the cached context change keys and come back. */
static void
hex_of(const uint8_t *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

START_TEST(test_hmac_vectors)
{
	static const char *const want[] = {
	    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"};
	static const char *const msg[] = {
	    "Hi There", "what do ya want for nothing?",
	    "Test Using Larger Than Block-Size Key - Hash Key First"};
	static const int order[] = {0, 1, 0, 2, 1, 1, 2, 0};
	uint8_t k1[20], k6[131], md[HMAC_SHA256_LEN];
	const uint8_t *keys[3] = {k1, (const uint8_t *)"Jefe", k6};
	const size_t keylens[3] = {sizeof(k1), 4, sizeof(k6)};
	char hex[2 * HMAC_SHA256_LEN + 1];
	size_t i;
	int t;

	memset(k1, 0x0b, sizeof(k1));
	memset(k6, 0xaa, sizeof(k6));
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		t = order[i];
		ck_assert_int_eq(hmac_sha256(keys[t], keylens[t], msg[t], strlen(msg[t]), md), 0);
		hex_of(md, sizeof(md), hex);
		ck_assert_msg(strcmp(hex, want[t]) == 0, "case %d (step %zu): %s", t, i, hex);
	}
}
END_TEST

Suite *cursor_suite(void);

Suite *
cursor_suite(void)
{
	Suite *s = suite_create("cursor");
	TCase *tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, setup_key, NULL);
	tcase_add_test(tc, test_query_init);
	tcase_add_test(tc, test_golden);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_other_filters);
	tcase_add_test(tc, test_tamper);
	tcase_add_test(tc, test_lengths);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_small_buffer);
	tcase_add_test(tc, test_b64url_vectors);
	tcase_add_test(tc, test_b64url_refuses);
	tcase_add_test(tc, test_hmac_vectors);
	suite_add_tcase(s, tc);
	return (s);
}
