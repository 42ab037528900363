/* check_token_cache.c: the token epoch (common/token_epoch.c) and the listener's cache of
 * checked tokens (http/token_cache.c). The epoch's memfd cannot be written, resized or
 * mapped writable through the descriptor a listener gets; a bump is seen through the
 * read-only mapping; the cache answers only for tokens put under the current epoch, drops
 * everything when the epoch moves, refuses a token looked up under an older epoch, and
 * replaces its oldest entry once full. */
#include <sys/mman.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/token_cache.h"
#include "log.h"
#include "token_epoch.h"

/* A token whose hash is 32 bytes of b, named "t<b>", with role. */
static struct token
tok(uint8_t b, const char *role)
{
	struct token t;

	memset(&t, 0, sizeof(t));
	memset(t.hash, b, sizeof(t.hash));
	snprintf(t.name, sizeof(t.name), "t%u", b);
	snprintf(t.role, sizeof(t.role), "%s", role);
	return (t);
}

/* The listener's side of e: its descriptor duplicated, as spawn_child passes it. */
static void
attach_copy(const struct token_epoch *e, struct token_epoch *r)
{
	char *cause = NULL;
	int fd = dup(e->fd);

	ck_assert_int_ge(fd, 0);
	ck_assert_msg(token_epoch_attach(r, fd, &cause) == 0, "%s", cause);
	ck_assert_int_eq(r->fd, -1); /* the descriptor is closed once mapped */
}

START_TEST(test_epoch_bump_seen_by_reader)
{
	struct token_epoch e, r;
	char *cause = NULL;

	ck_assert_msg(token_epoch_create(&e, &cause) == 0, "%s", cause);
	attach_copy(&e, &r);
	ck_assert_uint_eq(token_epoch_read(&r), 1);
	token_epoch_bump(&e);
	token_epoch_bump(&e);
	ck_assert_uint_eq(token_epoch_read(&r), 3);
	ck_assert_uint_eq(token_epoch_read(&e), 3);
	token_epoch_close(&r);
	token_epoch_close(&e);
	/* Closed: no epoch, reads 0, a bump does nothing. */
	ck_assert(!token_epoch_ok(&e));
	token_epoch_bump(&e);
	ck_assert_uint_eq(token_epoch_read(&e), 0);
}
END_TEST

START_TEST(test_epoch_sealed)
{
	struct token_epoch e, r;
	char *cause = NULL;
	uint64_t v = 99;
	void *p;
	int fd;

	ck_assert_msg(token_epoch_create(&e, &cause) == 0, "%s", cause);
	fd = dup(e.fd);
	/* What a listener holds cannot change the counter or the file. */
	p = mmap(NULL, sizeof(v), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_msg(p == MAP_FAILED && errno == EPERM, "writable mapping: %s",
	              p == MAP_FAILED ? strerror(errno) : "granted");
	ck_assert_int_eq(pwrite(fd, &v, sizeof(v), 0), -1);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(ftruncate(fd, 4096), -1);
	ck_assert_int_eq(ftruncate(fd, 0), -1);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1); /* F_SEAL_SEAL */
	ck_assert_msg(token_epoch_attach(&r, fd, &cause) == 0, "%s", cause);
	/* Nor can its read-only mapping be made writable. */
	ck_assert_int_eq(mprotect((void *)(uintptr_t)r.word, sizeof(v), PROT_READ | PROT_WRITE),
	                 -1);
	ck_assert_uint_eq(token_epoch_read(&r), 1);
	token_epoch_close(&r);
	token_epoch_close(&e);
}
END_TEST

START_TEST(test_epoch_attach_refuses)
{
	char path[] = "/tmp/jobsd-epoch-XXXXXX";
	struct token_epoch r;
	uint64_t v = 1;
	char *cause = NULL;
	int fd;

	/* A plain 8-byte file: right size, no seals. */
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(write(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	ck_assert_int_eq(token_epoch_attach(&r, fd, &cause), -1);
	ck_assert_msg(strstr(cause, "not a sealed 8-byte memfd") != NULL, "%s", cause);
	ck_assert(!token_epoch_ok(&r));
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1); /* closed all the same */
	free(cause);
	cause = NULL;

	/* A descriptor that is not open. */
	ck_assert_int_eq(token_epoch_attach(&r, fd, &cause), -1);
	ck_assert_msg(strstr(cause, "Bad file descriptor") != NULL, "%s", cause);
	free(cause);
}
END_TEST

START_TEST(test_cache_hit_and_miss)
{
	struct token_epoch e;
	struct token_cache c;
	struct token a = tok(1, "Administrator"), b = tok(2, "Auditor"), got;
	char *cause = NULL;
	uint64_t ep;

	ck_assert_msg(token_epoch_create(&e, &cause) == 0, "%s", cause);
	token_cache_init(&c, &e);
	ck_assert(!token_cache_find(&c, a.hash, &got, &ep));
	ck_assert_uint_eq(ep, 1);
	token_cache_put(&c, ep, &a);
	ck_assert(token_cache_find(&c, a.hash, &got, &ep));
	ck_assert_str_eq(got.name, "t1");
	ck_assert_str_eq(got.role, "Administrator");
	ck_assert_mem_eq(got.hash, a.hash, TOKEN_HASH_LEN);
	/* Another hash, and one that differs only in its last byte. */
	ck_assert(!token_cache_find(&c, b.hash, &got, &ep));
	b = tok(1, "Auditor");
	b.hash[TOKEN_HASH_LEN - 1] = 7;
	ck_assert(!token_cache_find(&c, b.hash, &got, &ep));
	ck_assert_uint_eq(c.hits, 1);
	ck_assert_uint_eq(c.misses, 3);
	token_epoch_close(&e);
}
END_TEST

START_TEST(test_cache_dropped_when_epoch_moves)
{
	struct token_epoch e, r;
	struct token_cache c;
	struct token a = tok(1, "Administrator"), b = tok(2, "Administrator"), got;
	char *cause = NULL;
	uint64_t ep, old;

	ck_assert_msg(token_epoch_create(&e, &cause) == 0, "%s", cause);
	attach_copy(&e, &r);
	token_cache_init(&c, &r); /* the listener reads through its read-only mapping */
	ck_assert(!token_cache_find(&c, a.hash, &got, &ep));
	token_cache_put(&c, ep, &a);
	ck_assert(token_cache_find(&c, a.hash, &got, &ep));

	/* A revoke elsewhere: the cached token is asked of the store again. */
	token_epoch_bump(&e);
	ck_assert(!token_cache_find(&c, a.hash, &got, &ep));
	ck_assert_uint_eq(ep, 2);
	ck_assert_uint_eq(c.drops, 1);

	/* A lookup that began before a bump is not kept (the cache has not seen the bump
	 * yet: only the put's own read of the epoch can tell)... */
	ck_assert(!token_cache_find(&c, b.hash, &got, &old));
	ck_assert_uint_eq(c.n, 0);
	token_epoch_bump(&e);
	token_cache_put(&c, old, &b);
	ck_assert_uint_eq(c.n, 0);
	ck_assert(!token_cache_find(&c, b.hash, &got, &ep));
	/* ...nor one put under the older epoch after the cache saw the new one. */
	token_cache_put(&c, old, &b);
	ck_assert_uint_eq(c.n, 0);
	ck_assert(!token_cache_find(&c, b.hash, &got, &ep));
	/* Under the current epoch it is. */
	token_cache_put(&c, ep, &b);
	ck_assert(token_cache_find(&c, b.hash, &got, &ep));
	ck_assert_str_eq(got.name, "t2");
	token_epoch_close(&r);
	token_epoch_close(&e);
}
END_TEST

START_TEST(test_cache_full_replaces_oldest)
{
	struct token_epoch e;
	struct token_cache c;
	struct token t, got;
	char *cause = NULL;
	uint64_t ep;
	unsigned i;

	ck_assert_msg(token_epoch_create(&e, &cause) == 0, "%s", cause);
	token_cache_init(&c, &e);
	for (i = 1; i <= TOKEN_CACHE_ENTRIES + 2; i++) {
		t = tok((uint8_t)i, "Reviewer");
		ck_assert(!token_cache_find(&c, t.hash, &got, &ep));
		token_cache_put(&c, ep, &t);
	}
	/* 18 put into 16 slots: the first two are gone, the rest answer. */
	for (i = 1; i <= TOKEN_CACHE_ENTRIES + 2; i++) {
		t = tok((uint8_t)i, "Reviewer");
		ck_assert_msg(token_cache_find(&c, t.hash, &got, &ep) == (i > 2), "token %u", i);
		if (i > 2)
			ck_assert_str_eq(got.name, t.name);
	}
	token_epoch_close(&e);
}
END_TEST

Suite *token_cache_suite(void);

Suite *
token_cache_suite(void)
{
	Suite *s = suite_create("token_cache");
	TCase *tc = tcase_create("token_cache");

	tcase_add_test(tc, test_epoch_bump_seen_by_reader);
	tcase_add_test(tc, test_epoch_sealed);
	tcase_add_test(tc, test_epoch_attach_refuses);
	tcase_add_test(tc, test_cache_hit_and_miss);
	tcase_add_test(tc, test_cache_dropped_when_epoch_moves);
	tcase_add_test(tc, test_cache_full_replaces_oldest);
	suite_add_tcase(s, tc);
	return (s);
}
