/* check_frame.c: the IPC frame codec (ipc/frame.c), the blocking helpers
 * (ipc/blocking.c) and worker_exit_describe (ipc/worker_exit.c). Hostile input is fed
 * whole, byte by byte and in odd chunks; expected bytes are derived by hand from the
 * msgpack spec. */
#include <sys/socket.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"

/* A 4-byte big-endian length then the payload, into r. */
static void
feed_frame(struct ipc_reader *r, const unsigned char *payload, uint32_t len)
{
	unsigned char hdr[4] = {len >> 24, len >> 16, len >> 8, len};

	ipc_reader_feed(r, hdr, 4);
	ipc_reader_feed(r, payload, len);
}

/* Expect IPC_BAD for this payload and a cause containing want. */
static void
expect_bad(const unsigned char *payload, uint32_t len, const char *want)
{
	struct ipc_reader r;
	struct ipc_msg m;
	char *cause = NULL;

	ipc_reader_init(&r);
	feed_frame(&r, payload, len);
	ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_BAD);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, want) != NULL, "cause \"%s\" lacks \"%s\"", cause, want);
	free(cause);
	ipc_reader_destroy(&r);
}

/* Three frames back to back: PING id 7 {}, PROGRESS id 0 {...}, SUBMIT id 2^32-1 {...}. */
static void
build_three(struct ipc_writer *w)
{
	msgpack_packer *pk;

	pk = ipc_begin(w, MSG_CTL_PING, 7);
	msgpack_pack_map(pk, 0);
	ck_assert_int_eq(ipc_end(w), 0);

	pk = ipc_begin(w, MSG_JOB_PROGRESS, 0);
	msgpack_pack_map(pk, 3);
	ipc_pack_kv_int(pk, "processed", 1500);
	ipc_pack_kv_str(pk, "total", NULL);
	ipc_pack_kv_int(pk, "deleted", -2);
	ck_assert_int_eq(ipc_end(w), 0);

	pk = ipc_begin(w, MSG_CTL_SUBMIT, UINT32_MAX);
	msgpack_pack_map(pk, 3);
	ipc_pack_kv_str(pk, "job_type", "sync");
	ipc_pack_kv_bool(pk, "ok", true);
	ipc_pack_str(pk, "by");
	ipc_pack_strn(pk, "alice-and-more", 5);
	ck_assert_int_eq(ipc_end(w), 0);
}

/* Check message i (0..2) of build_three. */
static void
check_three(int i, const struct ipc_msg *m)
{
	const char *s;
	size_t len;
	int64_t v;
	bool b;

	ck_assert_uint_eq(m->version, 1);
	ck_assert_int_eq(m->body.type, MSGPACK_OBJECT_MAP);
	switch (i) {
	case 0:
		ck_assert_uint_eq(m->type, 200);
		ck_assert_uint_eq(m->id, 7);
		ck_assert_uint_eq(m->body.via.map.size, 0);
		break;
	case 1:
		ck_assert_uint_eq(m->type, 103);
		ck_assert_uint_eq(m->id, 0);
		ck_assert_uint_eq(m->body.via.map.size, 3);
		ck_assert_int_eq(ipc_get_int(&m->body, "processed", &v), 0);
		ck_assert_int_eq(v, 1500);
		ck_assert_int_eq(ipc_get_int(&m->body, "total", &v), 1);
		ck_assert_int_eq(ipc_get_int(&m->body, "deleted", &v), 0);
		ck_assert_int_eq(v, -2);
		break;
	case 2:
		ck_assert_uint_eq(m->type, 206);
		ck_assert_uint_eq(m->id, 4294967295u);
		ck_assert_int_eq(ipc_get_str(&m->body, "job_type", &s, &len), 0);
		ck_assert_uint_eq(len, 4);
		ck_assert(memcmp(s, "sync", 4) == 0);
		ck_assert_int_eq(ipc_get_bool(&m->body, "ok", &b), 0);
		ck_assert(b);
		ck_assert_int_eq(ipc_get_str(&m->body, "by", &s, &len), 0);
		ck_assert_uint_eq(len, 5);
		ck_assert(memcmp(s, "alice", 5) == 0);
		break;
	default:
		ck_abort_msg("no message %d", i);
	}
}

START_TEST(test_encode_bytes)
{
	/* [1, 200, 7, {}]: fixarray 4, fixint 1, uint8 0xcc 200, fixint 7, fixmap 0. */
	static const unsigned char want[] = {0, 0, 0, 6, 0x94, 0x01, 0xcc, 0xc8, 0x07, 0x80};
	/* [1, 100, 0, {"pid": 42}] */
	static const unsigned char want2[] = {0, 0, 0, 10, 0x94, 0x01, 0x64, 0x00, 0x81,
	    0xa3, 'p', 'i', 'd', 0x2a};
	struct ipc_writer w;
	msgpack_packer *pk;

	ipc_writer_init(&w);
	pk = ipc_begin(&w, MSG_CTL_PING, 7);
	msgpack_pack_map(pk, 0);
	ck_assert_int_eq(ipc_end(&w), 0);
	ck_assert_uint_eq(w.buf.size, sizeof(want));
	ck_assert(memcmp(w.buf.data, want, sizeof(want)) == 0);

	ipc_writer_reset(&w);
	ck_assert_uint_eq(w.buf.size, 0);
	pk = ipc_begin(&w, MSG_WORKER_HELLO, 0);
	msgpack_pack_map(pk, 1);
	ipc_pack_kv_int(pk, "pid", 42);
	ck_assert_int_eq(ipc_end(&w), 0);
	ck_assert_uint_eq(w.buf.size, sizeof(want2));
	ck_assert(memcmp(w.buf.data, want2, sizeof(want2)) == 0);
	ipc_writer_destroy(&w);
}
END_TEST

START_TEST(test_round_trip)
{
	struct ipc_writer w;
	struct ipc_reader r;
	struct ipc_msg m;
	char *cause = NULL;
	int i;

	ipc_writer_init(&w);
	build_three(&w);
	ipc_reader_init(&r);
	ipc_reader_feed(&r, w.buf.data, w.buf.size);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_MSG);
		ck_assert_ptr_null(cause);
		check_three(i, &m);
	}
	ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_NEED_MORE);
	ck_assert_ptr_null(cause);
	ipc_reader_destroy(&r);
	ipc_writer_destroy(&w);
}
END_TEST

static const size_t chunk_sizes[] = {1, 2, 3, 7, 4096};

START_TEST(test_chunks)
{
	struct ipc_writer w;
	struct ipc_reader r;
	struct ipc_msg m;
	char *cause = NULL;
	size_t chunk = chunk_sizes[_i], off, n;
	enum ipc_next rc;
	int got = 0, round;

	ipc_writer_init(&w);
	/* Twice the three frames so frames straddle chunk boundaries at every offset. */
	build_three(&w);
	build_three(&w);
	ipc_reader_init(&r);
	for (off = 0; off < w.buf.size; off += n) {
		n = w.buf.size - off < chunk ? w.buf.size - off : chunk;
		ipc_reader_feed(&r, w.buf.data + off, n);
		for (round = 0; round < 10; round++) {
			rc = ipc_reader_next(&r, &m, &cause);
			ck_assert_int_ne(rc, IPC_BAD);
			if (rc == IPC_NEED_MORE)
				break;
			check_three(got % 3, &m);
			got++;
		}
	}
	ck_assert_int_eq(got, 6);
	ipc_reader_destroy(&r);
	ipc_writer_destroy(&w);
}
END_TEST

START_TEST(test_space_commit)
{
	struct ipc_writer w;
	struct ipc_reader r;
	struct ipc_msg m;
	char *cause = NULL;
	void *p;
	int i;

	ipc_writer_init(&w);
	build_three(&w);
	ipc_reader_init(&r);
	p = ipc_reader_space(&r, w.buf.size);
	memcpy(p, w.buf.data, w.buf.size);
	ipc_reader_commit(&r, w.buf.size);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_MSG);
		check_three(i, &m);
	}
	ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_NEED_MORE);
	ipc_reader_destroy(&r);
	ipc_writer_destroy(&w);
}
END_TEST

START_TEST(test_oversize)
{
	/* 4 MiB + 1 = 0x00400001: refused as soon as the prefix is in. */
	static const unsigned char over[] = {0x00, 0x40, 0x00, 0x01, 0x94};
	/* Exactly 4 MiB is allowed: it just needs more bytes. */
	static const unsigned char limit[] = {0x00, 0x40, 0x00, 0x00, 0x94};
	static const unsigned char huge[] = {0xff, 0xff, 0xff, 0xff};
	struct ipc_reader r;
	struct ipc_msg m;
	char *cause = NULL;

	ipc_reader_init(&r);
	ipc_reader_feed(&r, over, sizeof(over));
	ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_BAD);
	ck_assert_str_eq(cause, "frame of 4194305 bytes exceeds limit of 4194304");
	free(cause);
	ipc_reader_destroy(&r);

	ipc_reader_init(&r);
	ipc_reader_feed(&r, huge, sizeof(huge));
	ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_BAD);
	ck_assert_str_eq(cause, "frame of 4294967295 bytes exceeds limit of 4194304");
	free(cause);
	ipc_reader_destroy(&r);

	ipc_reader_init(&r);
	ipc_reader_feed(&r, limit, sizeof(limit));
	ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_NEED_MORE);
	ck_assert_ptr_null(cause);
	ipc_reader_destroy(&r);
}
END_TEST

START_TEST(test_zero_length)
{
	static const unsigned char zero[] = {0, 0, 0, 0, 0x94};
	struct ipc_reader r;
	struct ipc_msg m;
	char *cause = NULL;

	ipc_reader_init(&r);
	ipc_reader_feed(&r, zero, sizeof(zero));
	ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_BAD);
	ck_assert_str_eq(cause, "empty frame");
	free(cause);
	ipc_reader_destroy(&r);
}
END_TEST

START_TEST(test_garbage)
{
	/* 0xc1 is "never used" in msgpack. */
	static const unsigned char never[] = {0xc1, 0xc1, 0xc1};
	/* str8 of 5 bytes with only 1 present: runs out inside the frame. */
	static const unsigned char trunc[] = {0xd9, 0x05, 'a'};
	/* fixarray 2 with only one element. */
	static const unsigned char short2[] = {0x92, 0x01};
	static const unsigned char text[] = "GET / HTTP/1.1\r\n";

	expect_bad(never, sizeof(never), "not valid msgpack");
	expect_bad(trunc, sizeof(trunc), "truncated msgpack");
	expect_bad(short2, sizeof(short2), "declares a container of 2 elements");
	/* 'G' (0x47) is fixint 71: one object, then trailing bytes. */
	expect_bad(text, sizeof(text) - 1, "trailing bytes");
}
END_TEST

START_TEST(test_wrong_shape)
{
	static const unsigned char map[] = {0x80};
	static const unsigned char arr3[] = {0x93, 0x01, 0x01, 0x01};
	static const unsigned char arr5[] = {0x95, 0x01, 0x01, 0x01, 0x80, 0x80};
	static const unsigned char v2[] = {0x94, 0x02, 0xcc, 0xc8, 0x01, 0x80};
	static const unsigned char v0[] = {0x94, 0x00, 0xcc, 0xc8, 0x01, 0x80};
	static const unsigned char vstr[] = {0x94, 0xa1, '1', 0xcc, 0xc8, 0x01, 0x80};
	static const unsigned char body_arr[] = {0x94, 0x01, 0xcc, 0xc8, 0x01, 0x90};
	static const unsigned char body_nil[] = {0x94, 0x01, 0xcc, 0xc8, 0x01, 0xc0};
	static const unsigned char trailing[] = {0x94, 0x01, 0xcc, 0xc8, 0x01, 0x80, 0xc0};
	static const unsigned char neg_type[] = {0x94, 0x01, 0xff, 0x01, 0x80};
	static const unsigned char float_id[] = {0x94, 0x01, 0xcc, 0xc8, 0xca, 0x3f, 0x80,
	    0x00, 0x00, 0x80};
	/* id 2^32 as uint64. */
	static const unsigned char big_id[] = {0x94, 0x01, 0xcc, 0xc8, 0xcf, 0, 0, 0, 1, 0, 0,
	    0, 0, 0x80};
	/* body {1: 1}: keys must be strings. */
	static const unsigned char int_key[] = {0x94, 0x01, 0xcc, 0xc8, 0x01, 0x81, 0x01,
	    0x01};

	expect_bad(map, sizeof(map), "not an array");
	expect_bad(arr3, sizeof(arr3), "array of 3, not 4");
	expect_bad(arr5, sizeof(arr5), "array of 5, not 4");
	expect_bad(v2, sizeof(v2), "protocol version 2, expected 1");
	expect_bad(v0, sizeof(v0), "protocol version 0, expected 1");
	expect_bad(vstr, sizeof(vstr), "version is not");
	expect_bad(body_arr, sizeof(body_arr), "body is not a map");
	expect_bad(body_nil, sizeof(body_nil), "body is not a map");
	expect_bad(trailing, sizeof(trailing), "1 trailing bytes");
	expect_bad(neg_type, sizeof(neg_type), "type is not");
	expect_bad(float_id, sizeof(float_id), "id is not");
	expect_bad(big_id, sizeof(big_id), "id 4294967296 out of range");
	expect_bad(int_key, sizeof(int_key), "key that is not a string");
}
END_TEST

START_TEST(test_bombs)
{
	/* array32 of 0x04000000 elements in a 5-byte frame. */
	static const unsigned char arr[] = {0xdd, 0x04, 0x00, 0x00, 0x00};
	/* map32 of 2^32-1 entries inside a valid-looking message. */
	static const unsigned char map[] = {0x94, 0x01, 0xcc, 0xc8, 0x01, 0xdf, 0xff, 0xff,
	    0xff, 0xff, 0xc0, 0xc0};
	/* fixarray 4 claims 4 elements but only 3 bytes follow. */
	static const unsigned char short4[] = {0x94, 0x01, 0x01, 0x01};
	/* str32 longer than the frame. */
	static const unsigned char str[] = {0x94, 0x01, 0xcc, 0xc8, 0x01, 0x81, 0xdb, 0x7f,
	    0xff, 0xff, 0xff, 'k'};
	unsigned char deep[64];
	size_t i, n;

	expect_bad(arr, sizeof(arr), "declares a container of 67108864 elements");
	expect_bad(map, sizeof(map), "declares a container of 8589934590 elements");
	expect_bad(short4, sizeof(short4), "declares a container of 4 elements");
	expect_bad(str, sizeof(str), "truncated msgpack");

	/* [1, 200, 1, {"a": [[[...]]]}]: 2 + d containers. 32 in all is fine, 33 not. */
	for (n = 30; n <= 31; n++) {
		i = 0;
		deep[i++] = 0x94; deep[i++] = 0x01; deep[i++] = 0xcc; deep[i++] = 0xc8;
		deep[i++] = 0x01; deep[i++] = 0x81; deep[i++] = 0xa1; deep[i++] = 'a';
		memset(deep + i, 0x91, n);
		i += n;
		deep[i++] = 0xc0;
		if (n == 31) {
			expect_bad(deep, (uint32_t)i, "nests deeper than 32");
		} else {
			struct ipc_reader r;
			struct ipc_msg m;
			char *cause = NULL;

			ipc_reader_init(&r);
			feed_frame(&r, deep, (uint32_t)i);
			ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_MSG);
			ck_assert_ptr_null(cause);
			ipc_reader_destroy(&r);
		}
	}
}
END_TEST

/* A complete frame of garbage after a good one: the good one still comes out first. */
START_TEST(test_good_then_bad)
{
	static const unsigned char bad[] = {0xc1};
	struct ipc_writer w;
	struct ipc_reader r;
	struct ipc_msg m;
	char *cause = NULL;

	ipc_writer_init(&w);
	build_three(&w);
	ipc_reader_init(&r);
	ipc_reader_feed(&r, w.buf.data, w.buf.size);
	feed_frame(&r, bad, sizeof(bad));
	ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_MSG);
	ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_MSG);
	ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_MSG);
	check_three(2, &m);
	ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_BAD);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	ipc_reader_destroy(&r);
	ipc_writer_destroy(&w);
}
END_TEST

/* A body using every msgpack type, so the scanner walks each encoding. */
static void
build_all_types(struct ipc_writer *w)
{
	static const char bin[3] = {1, 2, 3};
	char s40[40], s300[300];
	msgpack_packer *pk;
	int i;

	memset(s40, 'a', sizeof(s40));
	memset(s300, 'b', sizeof(s300));
	pk = ipc_begin(w, MSG_JOB_START, 5);
	msgpack_pack_map(pk, 25);
	ipc_pack_str(pk, "bin"); msgpack_pack_bin(pk, 3); msgpack_pack_bin_body(pk, bin, 3);
	ipc_pack_str(pk, "ext8"); msgpack_pack_ext(pk, 3, 7); msgpack_pack_ext_body(pk, bin, 3);
	ipc_pack_str(pk, "fx1"); msgpack_pack_ext(pk, 1, 7); msgpack_pack_ext_body(pk, bin, 1);
	ipc_pack_str(pk, "fx2"); msgpack_pack_ext(pk, 2, 7); msgpack_pack_ext_body(pk, s40, 2);
	ipc_pack_str(pk, "fx4"); msgpack_pack_ext(pk, 4, 7); msgpack_pack_ext_body(pk, s40, 4);
	ipc_pack_str(pk, "fx8"); msgpack_pack_ext(pk, 8, 7); msgpack_pack_ext_body(pk, s40, 8);
	ipc_pack_str(pk, "fx16"); msgpack_pack_ext(pk, 16, 7); msgpack_pack_ext_body(pk, s40, 16);
	ipc_pack_str(pk, "f32"); msgpack_pack_float(pk, 0.5f);
	ipc_pack_str(pk, "f64"); msgpack_pack_double(pk, 0.25);
	ipc_pack_kv_int(pk, "i8", -100);
	ipc_pack_kv_int(pk, "i16", -1000);
	ipc_pack_kv_int(pk, "i32", -100000);
	ipc_pack_kv_int(pk, "i64", -10000000000LL);
	ipc_pack_kv_int(pk, "u8", 200);
	ipc_pack_kv_int(pk, "u16", 60000);
	ipc_pack_kv_int(pk, "u32", 4000000000LL);
	ipc_pack_kv_int(pk, "u64", 10000000000LL);
	ipc_pack_str(pk, "s40"); ipc_pack_strn(pk, s40, sizeof(s40));
	ipc_pack_str(pk, "s300"); ipc_pack_strn(pk, s300, sizeof(s300));
	ipc_pack_str(pk, "a20");
	msgpack_pack_array(pk, 20);
	for (i = 0; i < 20; i++)
		msgpack_pack_int(pk, i);
	ipc_pack_str(pk, "m20");
	msgpack_pack_map(pk, 20);
	for (i = 0; i < 20; i++) {
		msgpack_pack_int(pk, i);
		msgpack_pack_nil(pk);
	}
	ipc_pack_kv_str(pk, "nil", NULL);
	ipc_pack_kv_bool(pk, "t", true);
	ipc_pack_kv_bool(pk, "f", false);
	ipc_pack_str(pk, "empty");
	msgpack_pack_array(pk, 0);
	ck_assert_int_eq(ipc_end(w), 0);
}

START_TEST(test_all_types)
{
	struct ipc_writer w;
	struct ipc_reader r;
	struct ipc_msg m;
	char *cause = NULL;
	const char *s;
	size_t len;
	int64_t v;

	ipc_writer_init(&w);
	build_all_types(&w);
	ipc_reader_init(&r);
	ipc_reader_feed(&r, w.buf.data, w.buf.size);
	ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_MSG);
	ck_assert_uint_eq(m.body.via.map.size, 25);
	ck_assert_int_eq(ipc_get_int(&m.body, "i64", &v), 0);
	ck_assert(v == -10000000000LL);
	ck_assert_int_eq(ipc_get_int(&m.body, "u32", &v), 0);
	ck_assert(v == 4000000000LL);
	ck_assert_int_eq(ipc_get_str(&m.body, "s300", &s, &len), 0);
	ck_assert_uint_eq(len, 300);
	ck_assert_int_eq(ipc_get_str(&m.body, "bin", &s, &len), -1);
	ck_assert_int_eq(ipc_get(&m.body, "fx16")->type, MSGPACK_OBJECT_EXT);
	ck_assert_int_eq(ipc_get(&m.body, "m20")->via.map.size, 20);
	ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_NEED_MORE);
	ipc_reader_destroy(&r);
	ipc_writer_destroy(&w);
}
END_TEST

/* Every truncation of a valid payload, presented as a whole frame, is refused. */
START_TEST(test_every_prefix)
{
	struct ipc_writer w;
	struct ipc_reader r;
	struct ipc_msg m;
	char *cause;
	uint32_t k, plen;

	ipc_writer_init(&w);
	build_all_types(&w);
	plen = (uint32_t)w.buf.size - 4;
	for (k = 1; k < plen; k++) {
		ipc_reader_init(&r);
		feed_frame(&r, (const unsigned char *)w.buf.data + 4, k);
		cause = NULL;
		ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_BAD);
		ck_assert_ptr_nonnull(cause);
		free(cause);
		ipc_reader_destroy(&r);
	}
	ipc_writer_destroy(&w);
}
END_TEST

/* Random byte flips never crash (ASan watches) and never yield a bad-shaped message. */
START_TEST(test_mutations)
{
	struct ipc_writer w;
	struct ipc_reader r;
	struct ipc_msg m;
	unsigned char *copy;
	unsigned int seed = 12345;
	char *cause;
	size_t plen;
	int i, j, good = 0;

	ipc_writer_init(&w);
	build_all_types(&w);
	plen = w.buf.size - 4;
	copy = malloc(plen);
	ck_assert_ptr_nonnull(copy);
	for (i = 0; i < 20000; i++) {
		memcpy(copy, w.buf.data + 4, plen);
		for (j = 0; j < 1 + i % 4; j++)
			copy[rand_r(&seed) % plen] = (unsigned char)rand_r(&seed);
		ipc_reader_init(&r);
		feed_frame(&r, copy, (uint32_t)plen);
		cause = NULL;
		if (ipc_reader_next(&r, &m, &cause) == IPC_MSG) {
			ck_assert_uint_eq(m.version, 1);
			ck_assert_int_eq(m.body.type, MSGPACK_OBJECT_MAP);
			good++;
		} else {
			ck_assert_ptr_nonnull(cause);
			free(cause);
		}
		ipc_reader_destroy(&r);
	}
	/* Flips inside string bodies leave the frame valid: some must survive. */
	ck_assert_int_gt(good, 0);
	free(copy);
	ipc_writer_destroy(&w);
}
END_TEST

START_TEST(test_getters)
{
	struct ipc_writer w;
	struct ipc_reader r;
	struct ipc_msg m;
	msgpack_packer *pk;
	char *cause = NULL, out[4];
	const char *s = "untouched";
	size_t len = 99;
	int64_t v = 77;
	bool b = false;

	ipc_writer_init(&w);
	pk = ipc_begin(&w, MSG_JOB_RESULT, 3);
	msgpack_pack_map(pk, 10);
	ipc_pack_kv_str(pk, "s", "abcdef");
	ipc_pack_kv_int(pk, "neg", INT64_MIN);
	ipc_pack_kv_int(pk, "max", INT64_MAX);
	ipc_pack_str(pk, "u64");
	msgpack_pack_uint64(pk, UINT64_MAX);
	ipc_pack_str(pk, "f");
	msgpack_pack_double(pk, 1.5);
	ipc_pack_kv_bool(pk, "t", true);
	ipc_pack_kv_bool(pk, "no", false);
	ipc_pack_kv_str(pk, "nil", NULL);
	ipc_pack_str(pk, "arr");
	msgpack_pack_array(pk, 0);
	ipc_pack_kv_str(pk, "empty", "");
	ck_assert_int_eq(ipc_end(&w), 0);
	ipc_reader_init(&r);
	ipc_reader_feed(&r, w.buf.data, w.buf.size);
	ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_MSG);

	ck_assert_ptr_nonnull(ipc_get(&m.body, "arr"));
	ck_assert_int_eq(ipc_get(&m.body, "arr")->type, MSGPACK_OBJECT_ARRAY);
	ck_assert_ptr_null(ipc_get(&m.body, "missing"));
	ck_assert_ptr_null(ipc_get(&m.body, "a")); /* prefix of "arr" */
	ck_assert_ptr_null(ipc_get(&m.body, "arrx"));

	/* strings */
	ck_assert_int_eq(ipc_get_str(&m.body, "missing", &s, &len), 1);
	ck_assert_str_eq(s, "untouched");
	ck_assert_uint_eq(len, 99);
	ck_assert_int_eq(ipc_get_str(&m.body, "nil", &s, &len), 1);
	ck_assert_int_eq(ipc_get_str(&m.body, "t", &s, &len), -1);
	ck_assert_int_eq(ipc_get_str(&m.body, "max", &s, &len), -1);
	ck_assert_int_eq(ipc_get_str(&m.body, "s", &s, &len), 0);
	ck_assert_uint_eq(len, 6);
	ck_assert(memcmp(s, "abcdef", 6) == 0);
	ck_assert_int_eq(ipc_get_str(&m.body, "empty", &s, NULL), 0);
	ck_assert_int_eq(ipc_get_strbuf(&m.body, "s", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "abc");
	ck_assert_int_eq(ipc_get_strbuf(&m.body, "empty", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(ipc_get_strbuf(&m.body, "nil", out, sizeof(out)), 1);
	ck_assert_int_eq(ipc_get_strbuf(&m.body, "neg", out, sizeof(out)), -1);

	/* integers */
	ck_assert_int_eq(ipc_get_int(&m.body, "missing", &v), 1);
	ck_assert_int_eq(ipc_get_int(&m.body, "nil", &v), 1);
	ck_assert_int_eq(v, 77);
	ck_assert_int_eq(ipc_get_int(&m.body, "neg", &v), 0);
	ck_assert(v == INT64_MIN);
	ck_assert_int_eq(ipc_get_int(&m.body, "max", &v), 0);
	ck_assert(v == INT64_MAX);
	ck_assert_int_eq(ipc_get_int(&m.body, "u64", &v), -1);
	ck_assert_int_eq(ipc_get_int(&m.body, "f", &v), -1);
	ck_assert_int_eq(ipc_get_int(&m.body, "s", &v), -1);
	ck_assert_int_eq(ipc_get_int(&m.body, "t", &v), -1);
	ck_assert(v == INT64_MAX);

	/* booleans */
	ck_assert_int_eq(ipc_get_bool(&m.body, "missing", &b), 1);
	ck_assert_int_eq(ipc_get_bool(&m.body, "nil", &b), 1);
	ck_assert_int_eq(ipc_get_bool(&m.body, "t", &b), 0);
	ck_assert(b);
	ck_assert_int_eq(ipc_get_bool(&m.body, "no", &b), 0);
	ck_assert(!b);
	ck_assert_int_eq(ipc_get_bool(&m.body, "max", &b), -1);
	ck_assert_int_eq(ipc_get_bool(&m.body, "s", &b), -1);

	/* not a map */
	ck_assert_ptr_null(ipc_get(ipc_get(&m.body, "arr"), "x"));
	ck_assert_ptr_null(ipc_get(NULL, "x"));

	ipc_reader_destroy(&r);
	ipc_writer_destroy(&w);
}
END_TEST

START_TEST(test_writer_oversize)
{
	struct ipc_writer w;
	msgpack_packer *pk;
	size_t before, big = IPC_MAX_FRAME;
	char *blob;

	blob = calloc(1, big);
	ck_assert_ptr_nonnull(blob);
	ipc_writer_init(&w);
	pk = ipc_begin(&w, MSG_CTL_PING, 1);
	msgpack_pack_map(pk, 0);
	ck_assert_int_eq(ipc_end(&w), 0);
	before = w.buf.size;
	ck_assert_uint_eq(before, 10);

	/* The body alone is 4 MiB of string plus its header: over the limit. */
	pk = ipc_begin(&w, MSG_CTL_OK, 2);
	msgpack_pack_map(pk, 1);
	ipc_pack_str(pk, "blob");
	ipc_pack_strn(pk, blob, big);
	ck_assert_int_eq(ipc_end(&w), -1);
	ck_assert_uint_eq(w.buf.size, before);

	/* The writer still works after a dropped frame. */
	pk = ipc_begin(&w, MSG_CTL_PING, 7);
	msgpack_pack_map(pk, 0);
	ck_assert_int_eq(ipc_end(&w), 0);
	ck_assert_uint_eq(w.buf.size, 20);
	ipc_writer_destroy(&w);
	free(blob);
}
END_TEST

/* 100k messages through one reader: its buffer stays small. */
START_TEST(test_bounded_memory)
{
	struct ipc_writer w;
	struct ipc_reader r;
	struct ipc_msg m;
	char *cause = NULL;
	static const uint32_t want_type[3] = {200, 103, 206};
	size_t off, n, maxcap = 0;
	int i, got = 0, bad = 0;

	ipc_writer_init(&w);
	build_three(&w);
	ipc_reader_init(&r);
	/* Whole batches: the buffer empties after each. */
	for (i = 0; i < 34000; i++) {
		ipc_reader_feed(&r, w.buf.data, w.buf.size);
		/* Plain checks in the hot loop: ck_assert is costly per call. */
		while (ipc_reader_next(&r, &m, &cause) == IPC_MSG) {
			if (m.type != want_type[got % 3])
				bad++;
			got++;
		}
		if (r.cap > maxcap)
			maxcap = r.cap;
	}
	ck_assert_int_eq(got, 102000);
	ck_assert_int_eq(bad, 0);
	ck_assert_uint_le(maxcap, 4096);

	/* 7-byte pieces: a partial frame is always left, so compaction must keep up. */
	got = 0;
	maxcap = 0;
	for (i = 0; i < 34000; i++) {
		for (off = 0; off < w.buf.size; off += n) {
			n = w.buf.size - off < 7 ? w.buf.size - off : 7;
			ipc_reader_feed(&r, w.buf.data + off, n);
			while (ipc_reader_next(&r, &m, &cause) == IPC_MSG) {
				if (m.type != want_type[got % 3])
					bad++;
				got++;
			}
		}
		if (r.cap > maxcap)
			maxcap = r.cap;
	}
	ck_assert_int_eq(got, 102000);
	ck_assert_int_eq(bad, 0);
	ck_assert_uint_le(maxcap, 4096);
	ipc_reader_destroy(&r);
	ipc_writer_destroy(&w);
}
END_TEST

/* After one big message the reader gives its memory back once it is drained. */
START_TEST(test_shrink_after_big)
{
	struct ipc_writer w;
	struct ipc_reader r;
	struct ipc_msg m;
	msgpack_packer *pk;
	char *cause = NULL, *blob;
	const char *s;
	size_t len;
	int i;

	blob = malloc(3u << 20);
	ck_assert_ptr_nonnull(blob);
	memset(blob, 'x', 3u << 20);
	ipc_writer_init(&w);
	pk = ipc_begin(&w, MSG_CTL_OK, 9);
	msgpack_pack_map(pk, 1);
	ipc_pack_str(pk, "blob");
	ipc_pack_strn(pk, blob, 3u << 20);
	ck_assert_int_eq(ipc_end(&w), 0);

	ipc_reader_init(&r);
	ipc_reader_feed(&r, w.buf.data, w.buf.size);
	ck_assert_uint_ge(r.cap, 3u << 20);
	ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_MSG);
	ck_assert_int_eq(ipc_get_str(&m.body, "blob", &s, &len), 0);
	ck_assert_uint_eq(len, 3u << 20);
	ck_assert(memcmp(s, blob, len) == 0);
	ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_NEED_MORE);
	ck_assert_uint_eq(r.cap, 0);

	ipc_writer_reset(&w);
	build_three(&w);
	ipc_reader_feed(&r, w.buf.data, w.buf.size);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(ipc_reader_next(&r, &m, &cause), IPC_MSG);
		check_three(i, &m);
	}
	ck_assert_uint_le(r.cap, 4096);
	ipc_reader_destroy(&r);
	ipc_writer_destroy(&w);
	free(blob);
}
END_TEST

/* --- blocking helpers ----------------------------------------------------- */

START_TEST(test_blocking_socketpair)
{
	struct ipc_writer w;
	struct ipc_reader r;
	struct ipc_msg m;
	char *cause = NULL;
	int sv[2], i;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ipc_writer_init(&w);
	build_three(&w);
	ck_assert_int_eq(ipc_write_all(sv[0], w.buf.data, w.buf.size), 0);
	ipc_reader_init(&r);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(ipc_read_msg(sv[1], &r, &m, 5000, &cause), IPC_MSG);
		check_three(i, &m);
	}
	/* Nothing more: a timeout, not an error. */
	ck_assert_int_eq(ipc_read_msg(sv[1], &r, &m, 20, &cause), IPC_NEED_MORE);
	ck_assert_ptr_null(cause);
	/* Half a frame, then the writer goes away. */
	ck_assert_int_eq(ipc_write_all(sv[0], w.buf.data, 5), 0);
	close(sv[0]);
	ck_assert_int_eq(ipc_read_msg(sv[1], &r, &m, 5000, &cause), IPC_BAD);
	ck_assert_str_eq(cause, "connection closed");
	free(cause);
	/* Writing to a socket whose peer is gone is EPIPE, not SIGPIPE. */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv + 0), 0);
	close(sv[1]);
	errno = 0;
	ck_assert_int_eq(ipc_write_all(sv[0], w.buf.data, w.buf.size), -1);
	ck_assert_int_eq(errno, EPIPE);
	close(sv[0]);
	ipc_reader_destroy(&r);
	ipc_writer_destroy(&w);
}
END_TEST

/* A 3 MiB message through a pipe (write(2) fallback), written by a child process. */
START_TEST(test_blocking_pipe_large)
{
	struct ipc_writer w;
	struct ipc_reader r;
	struct ipc_msg m;
	msgpack_packer *pk;
	char *cause = NULL, *blob;
	const char *s;
	size_t len, i;
	int fds[2], status;
	pid_t pid;

	blob = malloc(3u << 20);
	ck_assert_ptr_nonnull(blob);
	for (i = 0; i < (3u << 20); i++)
		blob[i] = 'a' + i % 26;
	ipc_writer_init(&w);
	pk = ipc_begin(&w, MSG_CTL_OK, 11);
	msgpack_pack_map(pk, 1);
	ipc_pack_str(pk, "blob");
	ipc_pack_strn(pk, blob, 3u << 20);
	ck_assert_int_eq(ipc_end(&w), 0);
	build_three(&w);

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(fds[0]);
		_exit(ipc_write_all(fds[1], w.buf.data, w.buf.size) == 0 ? 0 : 1);
	}
	close(fds[1]);
	ipc_reader_init(&r);
	ck_assert_int_eq(ipc_read_msg(fds[0], &r, &m, 10000, &cause), IPC_MSG);
	ck_assert_uint_eq(m.id, 11);
	ck_assert_int_eq(ipc_get_str(&m.body, "blob", &s, &len), 0);
	ck_assert_uint_eq(len, 3u << 20);
	ck_assert(memcmp(s, blob, len) == 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(ipc_read_msg(fds[0], &r, &m, 10000, &cause), IPC_MSG);
		check_three((int)i, &m);
	}
	ck_assert_int_eq(ipc_read_msg(fds[0], &r, &m, 10000, &cause), IPC_BAD);
	ck_assert_str_eq(cause, "connection closed");
	free(cause);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fds[0]);
	ipc_reader_destroy(&r);
	ipc_writer_destroy(&w);
	free(blob);
}
END_TEST

START_TEST(test_blocking_garbage)
{
	static const unsigned char junk[] = {0, 0, 0, 2, 0xc1, 0xc1};
	struct ipc_reader r;
	struct ipc_msg m;
	char *cause = NULL;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(ipc_write_all(sv[0], junk, sizeof(junk)), 0);
	ipc_reader_init(&r);
	ck_assert_int_eq(ipc_read_msg(sv[1], &r, &m, 5000, &cause), IPC_BAD);
	ck_assert_str_eq(cause, "frame of 2 bytes is not valid msgpack");
	free(cause);
	ipc_reader_destroy(&r);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* --- worker exit ---------------------------------------------------------- */

START_TEST(test_worker_exit)
{
	char out[128];

	/* Linux wait status: exit code << 8; a signal in the low 7 bits; 0x80 core. */
	worker_exit_describe(3 << 8, out, sizeof(out));
	ck_assert_str_eq(out, "exited with status 3 (store unavailable)");
	worker_exit_describe(0, out, sizeof(out));
	ck_assert_str_eq(out, "exited with status 0 (ok)");
	worker_exit_describe(1 << 8, out, sizeof(out));
	ck_assert_str_eq(out, "exited with status 1 (job failed)");
	worker_exit_describe(2 << 8, out, sizeof(out));
	ck_assert_str_eq(out, "exited with status 2 (bad ipc from the supervisor)");
	worker_exit_describe(64 << 8, out, sizeof(out));
	ck_assert_str_eq(out, "exited with status 64 (usage error)");
	worker_exit_describe(7 << 8, out, sizeof(out));
	ck_assert_str_eq(out, "exited with status 7");
	worker_exit_describe(9, out, sizeof(out));
	ck_assert_str_eq(out, "killed by signal 9 (Killed)");
	worker_exit_describe(15, out, sizeof(out));
	ck_assert_str_eq(out, "killed by signal 15 (Terminated)");
	worker_exit_describe(11 | 0x80, out, sizeof(out));
	ck_assert_str_eq(out, "killed by signal 11 (Segmentation fault), core dumped");
	/* Truncation is safe. */
	worker_exit_describe(3 << 8, out, 10);
	ck_assert_str_eq(out, "exited wi");
}
END_TEST

/* A real child, really killed. */
START_TEST(test_worker_exit_real)
{
	char out[128];
	int status;
	pid_t pid;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	worker_exit_describe(status, out, sizeof(out));
	ck_assert_str_eq(out, "killed by signal 9 (Killed)");

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		_exit(WEXIT_STORE);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	worker_exit_describe(status, out, sizeof(out));
	ck_assert_str_eq(out, "exited with status 3 (store unavailable)");
}
END_TEST

Suite *frame_suite(void);

Suite *
frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc;

	tc = tcase_create("codec");
	tcase_add_test(tc, test_encode_bytes);
	tcase_add_test(tc, test_round_trip);
	tcase_add_loop_test(tc, test_chunks, 0, sizeof(chunk_sizes) / sizeof(chunk_sizes[0]));
	tcase_add_test(tc, test_space_commit);
	tcase_add_test(tc, test_writer_oversize);
	tcase_add_test(tc, test_getters);
	tcase_add_test(tc, test_all_types);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_oversize);
	tcase_add_test(tc, test_zero_length);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_wrong_shape);
	tcase_add_test(tc, test_good_then_bad);
	tcase_add_test(tc, test_bombs);
	tcase_add_test(tc, test_every_prefix);
	tcase_add_test(tc, test_mutations);
	suite_add_tcase(s, tc);

	tc = tcase_create("memory");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_bounded_memory);
	tcase_add_test(tc, test_shrink_after_big);
	suite_add_tcase(s, tc);

	tc = tcase_create("blocking");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_blocking_socketpair);
	tcase_add_test(tc, test_blocking_pipe_large);
	tcase_add_test(tc, test_blocking_garbage);
	suite_add_tcase(s, tc);

	tc = tcase_create("worker_exit");
	tcase_add_test(tc, test_worker_exit);
	tcase_add_test(tc, test_worker_exit_real);
	suite_add_tcase(s, tc);
	return (s);
}
