/* check_job.c: the job model: names, ids, lifecycle and parameters, the msgpack record codec
 * (round trip, and rejection of hostile records without leaks), and the JSON renderings
 * compared byte for byte with hand-written documents. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "job.h"

/* 2024-02-01T10:00:00Z and friends, worked out by hand (2024-02-01 is day 19754). */
#define T_0959 INT64_C(1706781540000) /* 09:59:00Z */
#define T_1000 INT64_C(1706781600000) /* 10:00:00Z */
#define T_1001 INT64_C(1706781660000) /* 10:01:00Z */
#define T_1015 INT64_C(1706782500000) /* 10:15:00Z */

/* --- names and ids ------------------------------------------------------------------- */

static const char *const type_names[] = {
	"full_sync", "incremental_sync", "account_sync", "owner_sync", "group_sync",
	"application_sync", "role_generation", "policy_analysis", "manager_resolution",
	"enrichment",
};
static const char *const status_names[] = {
	"pending", "running", "completed", "failed", "cancelled",
};

START_TEST(test_names)
{
	int i;

	ck_assert_int_eq(JOB_TYPE_COUNT, 10);
	for (i = 0; i < JOB_TYPE_COUNT; i++) {
		ck_assert_str_eq(job_type_name((enum job_type)i), type_names[i]);
		ck_assert_int_eq(job_type_parse(type_names[i], strlen(type_names[i])), i);
	}
	ck_assert_int_eq(JOB_STATUS_COUNT, 5);
	for (i = 0; i < JOB_STATUS_COUNT; i++) {
		ck_assert_str_eq(job_status_name((enum job_status)i), status_names[i]);
		ck_assert_int_eq(job_status_parse(status_names[i], strlen(status_names[i])), i);
	}
	ck_assert_int_eq(job_type_parse("full", 4), -1);
	ck_assert_int_eq(job_type_parse("full_sync_", 10), -1);
	ck_assert_int_eq(job_type_parse("FULL_SYNC", 9), -1);
	ck_assert_int_eq(job_type_parse("", 0), -1);
	ck_assert_int_eq(job_type_parse("full_sync", 4), -1);
	ck_assert_int_eq(job_type_parse("full_sync\0", 10), -1);
	ck_assert_int_eq(job_status_parse("Pending", 7), -1);
	ck_assert_int_eq(job_status_parse("cancelled ", 10), -1);
	ck_assert_int_eq(job_status_parse("canceled", 8), -1);
	ck_assert_int_eq(job_status_parse(NULL, 0), -1);

	ck_assert(!job_status_is_final(JOB_PENDING));
	ck_assert(!job_status_is_final(JOB_RUNNING));
	ck_assert(job_status_is_final(JOB_COMPLETED));
	ck_assert(job_status_is_final(JOB_FAILED));
	ck_assert(job_status_is_final(JOB_CANCELLED));
}
END_TEST

START_TEST(test_ids)
{
	static const struct {
		const char *s;
		uint64_t no;
	} good[] = {
		{"job-1", 1},
		{"job-9", 9},
		{"job-10", 10},
		{"job-123", 123},
		{"job-9223372036854775807", UINT64_C(9223372036854775807)},
		{"job-9999999999999999999", UINT64_C(9999999999999999999)},
	};
	static const char *const bad[] = {
		"", "job", "job-", "job-0", "job-00", "job-01", "job--1", "job-+1", "job- 1",
		"job-1 ", "job-1x", "job-x", "Job-1", "JOB-1", "jobs-1", "job_1", "1",
		"job-18446744073709551616", "job-18446744073709551615",
		"job-99999999999999999999", "job-00000000000000000001",
	};
	uint64_t no;
	char buf[32];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		no = 0;
		ck_assert_msg(job_id_parse(good[i].s, strlen(good[i].s), &no) == 0, "%s",
		    good[i].s);
		ck_assert(no == good[i].no);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		no = 77;
		ck_assert_msg(job_id_parse(bad[i], strlen(bad[i]), &no) == -1, "accepted %s",
		    bad[i]);
		ck_assert(no == 77);
	}
	/* The length is honoured. */
	ck_assert_int_eq(job_id_parse("job-1\0", 6, &no), -1);
	ck_assert_int_eq(job_id_parse("job-12", 5, &no), 0);
	ck_assert(no == 1);

	job_id_format(123, buf);
	ck_assert_str_eq(buf, "job-123");
	job_id_format(1, buf);
	ck_assert_str_eq(buf, "job-1");
	job_id_format(UINT64_MAX, buf);
	ck_assert_str_eq(buf, "job-18446744073709551615");
}
END_TEST

/* --- lifecycle and parameters ------------------------------------------------------- */

START_TEST(test_init_free)
{
	struct job j;

	memset(&j, 0xa5, sizeof(j));
	job_init(&j);
	ck_assert(j.no == 0);
	ck_assert_int_eq(j.status, JOB_PENDING);
	ck_assert_int_eq(j.progress, 0);
	ck_assert(j.created_ms == JOB_NULL);
	ck_assert(j.start_ms == JOB_NULL);
	ck_assert(j.end_ms == JOB_NULL);
	ck_assert(j.records_processed == JOB_NULL);
	ck_assert(j.total_records == JOB_NULL);
	ck_assert(j.records_created == JOB_NULL);
	ck_assert(j.records_updated == JOB_NULL);
	ck_assert(j.records_deleted == JOB_NULL);
	ck_assert(j.cpu_ms == JOB_NULL);
	ck_assert(j.max_rss_kb == JOB_NULL);
	ck_assert(j.worker_pid == JOB_NULL);
	ck_assert_str_eq(j.current_step, "");
	ck_assert_str_eq(j.requested_by, "");
	ck_assert_str_eq(j.cancelled_by, "");
	ck_assert_ptr_null(j.error);
	ck_assert_ptr_null(j.params);
	ck_assert_uint_eq(j.nparams, 0);
	ck_assert(!j.cancel_requested);

	job_set_error(&j, "boom");
	ck_assert_str_eq(j.error, "boom");
	job_set_error(&j, j.error); /* its own value */
	ck_assert_str_eq(j.error, "boom");
	job_set_error(&j, NULL);
	ck_assert_ptr_null(j.error);
	job_set_error(&j, "again");
	ck_assert_int_eq(job_param_add(&j, "k", "v"), 0);
	j.start_ms = 5;
	job_free(&j);
	ck_assert_ptr_null(j.error);
	ck_assert_uint_eq(j.nparams, 0);
	ck_assert(j.start_ms == JOB_NULL);
	job_free(&j); /* twice is harmless */
}
END_TEST

START_TEST(test_params)
{
	struct job j, c;
	char k[16];
	int i;

	job_init(&j);
	ck_assert_ptr_null(job_param_get(&j, "source"));
	ck_assert_int_eq(job_param_add(&j, "source", "hr"), 0);
	ck_assert_int_eq(job_param_add(&j, "dry_run", "true"), 0);
	ck_assert_int_eq(job_param_add(&j, "source", "ldap"), 0); /* replaces in place */
	ck_assert_uint_eq(j.nparams, 2);
	ck_assert_str_eq(j.params[0].key, "source");
	ck_assert_str_eq(j.params[0].value, "ldap");
	ck_assert_str_eq(j.params[1].key, "dry_run");
	ck_assert_str_eq(job_param_get(&j, "dry_run"), "true");
	ck_assert_ptr_null(job_param_get(&j, "dry"));
	for (i = 2; i < JOB_MAX_PARAMS; i++) {
		snprintf(k, sizeof(k), "p%d", i);
		ck_assert_int_eq(job_param_add(&j, k, "x"), 0);
	}
	ck_assert_uint_eq(j.nparams, JOB_MAX_PARAMS);
	ck_assert_int_eq(job_param_add(&j, "one_more", "x"), -1);
	ck_assert_int_eq(job_param_add(&j, "p5", "y"), 0); /* replacing still works */
	ck_assert_str_eq(job_param_get(&j, "p5"), "y");

	job_set_error(&j, "bad");
	job_copy(&c, &j);
	job_free(&j);
	ck_assert_uint_eq(c.nparams, JOB_MAX_PARAMS);
	ck_assert_str_eq(c.params[0].value, "ldap");
	ck_assert_str_eq(c.params[31].key, "p31");
	ck_assert_str_eq(c.error, "bad");
	job_free(&c);
}
END_TEST

/* --- msgpack codec ------------------------------------------------------------------ */

/* A job with every field set to a distinct value. */
static void
full_job(struct job *j)
{
	job_init(j);
	j->no = UINT64_C(9876543210);
	j->type = JOB_POLICY_ANALYSIS;
	j->status = JOB_FAILED;
	j->created_ms = T_0959;
	j->start_ms = T_1000;
	j->end_ms = T_1015;
	j->progress = 37;
	strcpy(j->current_step, "Evaluating policies");
	j->records_processed = 370;
	j->total_records = 1000;
	j->records_created = 11;
	j->records_updated = 0;
	j->records_deleted = 3;
	job_set_error(j, "exited with status 3");
	job_param_add(j, "source", "hr");
	job_param_add(j, "policy", "sod-finance");
	job_param_add(j, "empty", "");
	strcpy(j->requested_by, "alice");
	strcpy(j->cancelled_by, "bob");
	j->cancel_requested = true;
	j->cpu_ms = 1234;
	j->max_rss_kb = 56789;
	j->worker_pid = 4242;
}

static void
assert_same_job(const struct job *a, const struct job *b)
{
	size_t i;

	ck_assert(a->no == b->no);
	ck_assert_int_eq(a->type, b->type);
	ck_assert_int_eq(a->status, b->status);
	ck_assert(a->created_ms == b->created_ms);
	ck_assert(a->start_ms == b->start_ms);
	ck_assert(a->end_ms == b->end_ms);
	ck_assert_int_eq(a->progress, b->progress);
	ck_assert_str_eq(a->current_step, b->current_step);
	ck_assert(a->records_processed == b->records_processed);
	ck_assert(a->total_records == b->total_records);
	ck_assert(a->records_created == b->records_created);
	ck_assert(a->records_updated == b->records_updated);
	ck_assert(a->records_deleted == b->records_deleted);
	if (a->error == NULL)
		ck_assert_ptr_null(b->error);
	else
		ck_assert_str_eq(a->error, b->error);
	ck_assert_uint_eq(a->nparams, b->nparams);
	for (i = 0; i < a->nparams; i++) {
		ck_assert_str_eq(a->params[i].key, b->params[i].key);
		ck_assert_str_eq(a->params[i].value, b->params[i].value);
	}
	ck_assert_str_eq(a->requested_by, b->requested_by);
	ck_assert_str_eq(a->cancelled_by, b->cancelled_by);
	ck_assert_int_eq(a->cancel_requested, b->cancel_requested);
	ck_assert(a->cpu_ms == b->cpu_ms);
	ck_assert(a->max_rss_kb == b->max_rss_kb);
	ck_assert(a->worker_pid == b->worker_pid);
}

START_TEST(test_codec_roundtrip)
{
	struct job j, d;
	msgpack_sbuffer sb;
	char *cause = NULL;

	full_job(&j);
	msgpack_sbuffer_init(&sb);
	ck_assert_int_eq(job_encode(&j, &sb), 0);
	ck_assert_int_eq(job_decode(sb.data, sb.size, &d, &cause), 0);
	ck_assert_ptr_null(cause);
	assert_same_job(&j, &d);
	ck_assert(d.no == UINT64_C(9876543210));
	ck_assert_str_eq(d.params[1].value, "sod-finance");
	ck_assert_str_eq(d.params[2].value, "");
	job_free(&d);
	job_free(&j);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_codec_nulls)
{
	struct job j, d;
	msgpack_sbuffer sb;
	char *cause = NULL;

	job_init(&j);
	j.no = 1;
	j.type = JOB_ENRICHMENT;
	j.start_ms = INT64_C(-5); /* negative times survive */
	j.records_updated = INT64_MAX;
	msgpack_sbuffer_init(&sb);
	job_encode(&j, &sb);
	ck_assert_int_eq(job_decode(sb.data, sb.size, &d, &cause), 0);
	assert_same_job(&j, &d);
	ck_assert(d.created_ms == JOB_NULL);
	ck_assert(d.end_ms == JOB_NULL);
	ck_assert(d.start_ms == -5);
	ck_assert(d.records_updated == INT64_MAX);
	ck_assert_ptr_null(d.error);
	ck_assert_ptr_null(d.params);
	job_free(&d);
	job_free(&j);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* Every truncation of a valid record fails cleanly, as do trailing bytes. */
START_TEST(test_codec_truncated)
{
	struct job j, d;
	msgpack_sbuffer sb;
	char *cause;
	char *copy;
	size_t n;

	full_job(&j);
	msgpack_sbuffer_init(&sb);
	job_encode(&j, &sb);
	for (n = 0; n < sb.size; n++) {
		cause = NULL;
		copy = malloc(n + 1); /* exact size so ASan sees any over-read */
		memcpy(copy, sb.data, n);
		ck_assert_msg(job_decode(copy, n, &d, &cause) == -1, "length %zu", n);
		ck_assert_ptr_nonnull(cause);
		ck_assert_ptr_null(d.error);
		ck_assert_uint_eq(d.nparams, 0);
		free(cause);
		free(copy);
	}
	/* cause is optional. */
	ck_assert_int_eq(job_decode(sb.data, sb.size - 1, &d, NULL), -1);
	ck_assert_int_eq(job_decode(sb.data, sb.size, &d, NULL), 0);
	job_free(&d);
	msgpack_sbuffer_write(&sb, "\xc0", 1);
	cause = NULL;
	ck_assert_int_eq(job_decode(sb.data, sb.size, &d, &cause), -1);
	free(cause);
	job_free(&j);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* Hand-built records. Each builder writes a map of n entries; the base fields come first. */
static void
pk_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void
pk_base(msgpack_packer *pk, int extra, unsigned version)
{
	msgpack_pack_map(pk, 4 + (size_t)extra);
	pk_str(pk, "n");
	msgpack_pack_uint64(pk, 5);
	pk_str(pk, "t");
	msgpack_pack_uint32(pk, 2);
	pk_str(pk, "s");
	msgpack_pack_uint32(pk, 1);
	pk_str(pk, "v");
	msgpack_pack_uint32(pk, version);
}

static int
decode_sb(msgpack_sbuffer *sb, struct job *d)
{
	char *cause = NULL;
	int rv;

	rv = job_decode(sb->data, sb->size, d, &cause);
	if (rv == -1) {
		ck_assert_ptr_nonnull(cause);
		ck_assert_ptr_null(d->error);
		ck_assert_ptr_null(d->params);
		free(cause);
	} else
		ck_assert_ptr_null(cause);
	msgpack_sbuffer_clear(sb);
	return (rv);
}

START_TEST(test_codec_minimal)
{
	struct job d;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

	/* Only the required fields, in a different order, plus unknown keys of any kind. */
	pk_base(&pk, 4, JOB_RECORD_VERSION);
	pk_str(&pk, "zz_future");
	msgpack_pack_array(&pk, 2);
	msgpack_pack_nil(&pk);
	msgpack_pack_double(&pk, 1.5);
	pk_str(&pk, "xyz");
	msgpack_pack_map(&pk, 0);
	pk_str(&pk, "");
	msgpack_pack_true(&pk);
	pk_str(&pk, "cs");
	pk_str(&pk, "Loading");
	ck_assert_int_eq(decode_sb(&sb, &d), 0);
	ck_assert(d.no == 5);
	ck_assert_int_eq(d.type, JOB_ACCOUNT_SYNC);
	ck_assert_int_eq(d.status, JOB_RUNNING);
	ck_assert_str_eq(d.current_step, "Loading");
	ck_assert(d.start_ms == JOB_NULL);
	ck_assert(d.records_created == JOB_NULL);
	ck_assert_ptr_null(d.error);
	job_free(&d);

	/* Unknown keys holding every other msgpack shape (the pre-decode walk must skip them). */
	{
		char blob[70000];
		int i;

		memset(blob, 'b', sizeof(blob));
		pk_base(&pk, 13, JOB_RECORD_VERSION);
		pk_str(&pk, "u1");
		msgpack_pack_bin_with_body(&pk, blob, 10);
		pk_str(&pk, "u2");
		msgpack_pack_bin_with_body(&pk, blob, 300);
		pk_str(&pk, "u3");
		msgpack_pack_ext_with_body(&pk, blob, 4, 7);
		pk_str(&pk, "u4");
		msgpack_pack_ext_with_body(&pk, blob, 5, 7);
		pk_str(&pk, "u5");
		msgpack_pack_ext_with_body(&pk, blob, 300, 7);
		pk_str(&pk, "u6");
		msgpack_pack_float(&pk, 1.5f);
		pk_str(&pk, "u7");
		msgpack_pack_int64(&pk, INT64_C(-1000000000000));
		pk_str(&pk, "u8");
		msgpack_pack_str_with_body(&pk, blob, 40);
		pk_str(&pk, "u9");
		msgpack_pack_str_with_body(&pk, blob, sizeof(blob));
		pk_str(&pk, "ua");
		msgpack_pack_array(&pk, 20);
		for (i = 0; i < 20; i++)
			msgpack_pack_uint16(&pk, 60000);
		pk_str(&pk, "ub");
		msgpack_pack_map(&pk, 20);
		for (i = 0; i < 20; i++) {
			msgpack_pack_int8(&pk, -100);
			msgpack_pack_uint64(&pk, UINT64_MAX);
		}
		pk_str(&pk, "uc");
		msgpack_pack_ext_with_body(&pk, blob, 16, 1);
		pk_str(&pk, "ud");
		msgpack_pack_bin_with_body(&pk, blob, sizeof(blob));
		ck_assert_int_eq(decode_sb(&sb, &d), 0);
		ck_assert(d.no == 5);
		job_free(&d);
	}

	/* Longest strings that fit the fixed fields. */
	{
		char step[JOB_STEP_MAX], who[JOB_WHO_MAX];

		memset(step, 's', sizeof(step) - 1);
		step[sizeof(step) - 1] = '\0';
		memset(who, 'w', sizeof(who) - 1);
		who[sizeof(who) - 1] = '\0';
		pk_base(&pk, 3, JOB_RECORD_VERSION);
		pk_str(&pk, "cs");
		pk_str(&pk, step);
		pk_str(&pk, "rb");
		pk_str(&pk, who);
		pk_str(&pk, "cb");
		pk_str(&pk, who);
		ck_assert_int_eq(decode_sb(&sb, &d), 0);
		ck_assert_uint_eq(strlen(d.current_step), JOB_STEP_MAX - 1);
		ck_assert_uint_eq(strlen(d.requested_by), JOB_WHO_MAX - 1);
		ck_assert_uint_eq(strlen(d.cancelled_by), JOB_WHO_MAX - 1);
		job_free(&d);
	}

	/* Exactly JOB_MAX_PARAMS parameters. */
	{
		char k[16];
		int i;

		pk_base(&pk, 1, JOB_RECORD_VERSION);
		pk_str(&pk, "a");
		msgpack_pack_map(&pk, JOB_MAX_PARAMS);
		for (i = 0; i < JOB_MAX_PARAMS; i++) {
			snprintf(k, sizeof(k), "k%d", i);
			pk_str(&pk, k);
			pk_str(&pk, "v");
		}
		ck_assert_int_eq(decode_sb(&sb, &d), 0);
		ck_assert_uint_eq(d.nparams, JOB_MAX_PARAMS);
		ck_assert_str_eq(d.params[31].key, "k31");
		job_free(&d);
	}
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* One bad field per case, after a valid error string and parameters so that failure paths
 * must free what was already decoded. */
enum bad_case {
	BAD_VERSION_2, BAD_VERSION_0, BAD_VERSION_STR, BAD_NO_VERSION, BAD_TYPE_RANGE,
	BAD_TYPE_STR, BAD_TYPE_NEG, BAD_STATUS_RANGE, BAD_PROGRESS_101, BAD_PROGRESS_NEG,
	BAD_NO_ZERO, BAD_TIME_STR, BAD_TIME_FLOAT, BAD_TIME_HUGE, BAD_STEP_LONG, BAD_WHO_LONG,
	BAD_STEP_INT, BAD_STEP_NUL, BAD_ERROR_INT, BAD_PARAMS_ARRAY, BAD_PARAMS_TOO_MANY,
	BAD_PARAM_VALUE_INT, BAD_PARAM_KEY_INT, BAD_PARAM_DUP, BAD_CANCEL_INT, BAD_DUP_FIELD,
	BAD_KEY_INT, BAD_MISSING_TYPE, BAD_COUNT
};

START_TEST(test_codec_bad)
{
	struct job d;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char big[JOB_STEP_MAX + 1];
	int i;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';

	if (_i == BAD_VERSION_2 || _i == BAD_VERSION_0 || _i == BAD_VERSION_STR ||
	    _i == BAD_NO_VERSION || _i == BAD_MISSING_TYPE) {
		msgpack_pack_map(&pk, 4);
		pk_str(&pk, "n");
		msgpack_pack_uint64(&pk, 5);
		pk_str(&pk, "s");
		msgpack_pack_uint32(&pk, 1);
		pk_str(&pk, _i == BAD_MISSING_TYPE ? "e" : "t");
		if (_i == BAD_MISSING_TYPE)
			pk_str(&pk, "some error");
		else
			msgpack_pack_uint32(&pk, 2);
		pk_str(&pk, _i == BAD_NO_VERSION ? "w" : "v");
		if (_i == BAD_VERSION_STR)
			pk_str(&pk, "1");
		else
			msgpack_pack_uint32(&pk, _i == BAD_VERSION_2 ? 2 :
			    _i == BAD_VERSION_0 ? 0 : 1);
		ck_assert_int_eq(decode_sb(&sb, &d), -1);
		msgpack_sbuffer_destroy(&sb);
		return;
	}

	pk_base(&pk, 3, JOB_RECORD_VERSION);
	pk_str(&pk, "e");
	pk_str(&pk, "allocated before the bad field");
	pk_str(&pk, "a");
	msgpack_pack_map(&pk, 1);
	pk_str(&pk, "source");
	pk_str(&pk, "hr");
	switch (_i) {
	case BAD_TYPE_RANGE:
		pk_str(&pk, "t");
		msgpack_pack_uint32(&pk, JOB_TYPE_COUNT);
		break;
	case BAD_TYPE_STR:
		pk_str(&pk, "t");
		pk_str(&pk, "full_sync");
		break;
	case BAD_TYPE_NEG:
		pk_str(&pk, "t");
		msgpack_pack_int32(&pk, -1);
		break;
	case BAD_STATUS_RANGE:
		pk_str(&pk, "s");
		msgpack_pack_uint32(&pk, JOB_STATUS_COUNT);
		break;
	case BAD_PROGRESS_101:
		pk_str(&pk, "p");
		msgpack_pack_uint32(&pk, 101);
		break;
	case BAD_PROGRESS_NEG:
		pk_str(&pk, "p");
		msgpack_pack_int32(&pk, -1);
		break;
	case BAD_NO_ZERO:
		pk_str(&pk, "n");
		msgpack_pack_uint32(&pk, 0);
		break;
	case BAD_TIME_STR:
		pk_str(&pk, "b");
		pk_str(&pk, "2024-02-01T10:00:00Z");
		break;
	case BAD_TIME_FLOAT:
		pk_str(&pk, "c");
		msgpack_pack_double(&pk, 1.0);
		break;
	case BAD_TIME_HUGE:
		pk_str(&pk, "f");
		msgpack_pack_uint64(&pk, UINT64_C(9223372036854775808));
		break;
	case BAD_STEP_LONG:
		pk_str(&pk, "cs");
		pk_str(&pk, big);
		break;
	case BAD_WHO_LONG:
		big[JOB_WHO_MAX] = '\0';
		pk_str(&pk, "rb");
		pk_str(&pk, big);
		break;
	case BAD_STEP_INT:
		pk_str(&pk, "cs");
		msgpack_pack_uint32(&pk, 1);
		break;
	case BAD_STEP_NUL:
		pk_str(&pk, "cs");
		msgpack_pack_str_with_body(&pk, "a\0b", 3);
		break;
	case BAD_ERROR_INT:
		pk_str(&pk, "x");
		msgpack_pack_nil(&pk);
		/* a second "e" is a duplicate; use the parameters instead */
		msgpack_sbuffer_clear(&sb);
		pk_base(&pk, 1, JOB_RECORD_VERSION);
		pk_str(&pk, "e");
		msgpack_pack_uint32(&pk, 1);
		break;
	case BAD_PARAMS_ARRAY:
	case BAD_PARAMS_TOO_MANY:
	case BAD_PARAM_VALUE_INT:
	case BAD_PARAM_KEY_INT:
	case BAD_PARAM_DUP:
		msgpack_sbuffer_clear(&sb);
		pk_base(&pk, 2, JOB_RECORD_VERSION);
		pk_str(&pk, "e");
		pk_str(&pk, "allocated before the bad field");
		pk_str(&pk, "a");
		if (_i == BAD_PARAMS_ARRAY) {
			msgpack_pack_array(&pk, 1);
			pk_str(&pk, "x");
		} else if (_i == BAD_PARAMS_TOO_MANY) {
			msgpack_pack_map(&pk, JOB_MAX_PARAMS + 1);
			for (i = 0; i <= JOB_MAX_PARAMS; i++) {
				char k[16];

				snprintf(k, sizeof(k), "k%d", i);
				pk_str(&pk, k);
				pk_str(&pk, "v");
			}
		} else {
			msgpack_pack_map(&pk, 2);
			pk_str(&pk, "ok");
			pk_str(&pk, "v");
			if (_i == BAD_PARAM_KEY_INT)
				msgpack_pack_uint32(&pk, 1);
			else
				pk_str(&pk, _i == BAD_PARAM_DUP ? "ok" : "k");
			if (_i == BAD_PARAM_VALUE_INT)
				msgpack_pack_uint32(&pk, 1);
			else
				pk_str(&pk, "v");
		}
		break;
	case BAD_CANCEL_INT:
		pk_str(&pk, "k");
		msgpack_pack_uint32(&pk, 1);
		break;
	case BAD_DUP_FIELD:
		pk_str(&pk, "n");
		msgpack_pack_uint32(&pk, 6);
		break;
	case BAD_KEY_INT:
		msgpack_pack_uint32(&pk, 1);
		msgpack_pack_uint32(&pk, 1);
		break;
	}
	ck_assert_msg(decode_sb(&sb, &d) == -1, "case %d decoded", _i);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

START_TEST(test_codec_garbage)
{
	static const struct {
		const char *b;
		size_t n;
	} fixed[] = {
		{"", 0},
		{"\xc0", 1},                 /* nil */
		{"\x01", 1},                 /* an integer */
		{"\x90", 1},                 /* [] */
		{"\x80", 1},                 /* {} */
		{"\x81\xa1v\x01", 4},        /* {"v":1}: no other fields */
		{"\x81\xa1v\x02", 4},        /* {"v":2} */
		{"\xc1", 1},                 /* never used */
		{"\xdf\xff\xff\xff\xff", 5}, /* a map claiming 4G entries */
		{"\xdb\xff\xff\xff\xff", 5}, /* a string claiming 4 GiB */
		{"\xdd\xff\xff\xff\xff\xc0\xc0", 7},   /* an array claiming 4G */
		{"\xde\xff\xff\xc0\xc0\xc0\xc0", 7},   /* a map claiming 64K */
		{"\x81\xa1v\xdf\xff\xff\xff\xff", 8}, /* nested */
		{"\x81\xa1v\x01\x00", 5},             /* trailing byte */
	};
	struct job d;
	char *cause;
	uint8_t buf[256];
	uint32_t x = 12345;
	size_t i, k, n;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		cause = NULL;
		ck_assert_int_eq(job_decode(fixed[i].b, fixed[i].n, &d, &cause), -1);
		ck_assert_ptr_nonnull(cause);
		free(cause);
	}
	/* Deterministic pseudo-random bytes, mostly starting as a map. */
	for (i = 0; i < 20000; i++) {
		n = 1 + (x % sizeof(buf));
		for (k = 0; k < n; k++) {
			x = x * 1103515245 + 12345;
			buf[k] = (uint8_t)(x >> 16);
		}
		if (i % 2 == 0)
			buf[0] = 0x80 | (buf[0] & 0x0f);
		cause = NULL;
		if (job_decode(buf, n, &d, &cause) == 0)
			job_free(&d);
		else
			free(cause);
	}
}
END_TEST

/* --- JSON --------------------------------------------------------------------------- */

static void
assert_json(const struct job *j, enum job_json_kind kind, int64_t now, const char *want)
{
	char *s, err[256];
	size_t len = 0;
	yajl_val v;

	s = job_json_string(j, kind, now, &len);
	ck_assert_str_eq(s, want);
	ck_assert_uint_eq(len, strlen(want));
	v = yajl_tree_parse(s, err, sizeof(err));
	ck_assert_msg(v != NULL, "not JSON: %s", err);
	yajl_tree_free(v);
	free(s);
}

START_TEST(test_json_pending)
{
	struct job j;

	job_init(&j);
	j.no = 1;
	j.created_ms = T_1000;
	strcpy(j.requested_by, "admin");
	job_param_add(&j, "source", "hr");
	job_param_add(&j, "mode", "strict");
	assert_json(&j, JOB_JSON_SUMMARY, T_1015,
	    "{\"id\":\"job-1\",\"job_type\":\"full_sync\",\"status\":\"pending\",\"progress\":0,"
	    "\"start_time\":null,\"end_time\":null,\"duration_ms\":null,"
	    "\"records_created\":null,\"records_updated\":null,\"records_deleted\":null}");
	assert_json(&j, JOB_JSON_FULL, T_1015,
	    "{\"id\":\"job-1\",\"job_type\":\"full_sync\",\"status\":\"pending\",\"progress\":0,"
	    "\"start_time\":null,\"end_time\":null,\"duration_ms\":null,"
	    "\"records_created\":null,\"records_updated\":null,\"records_deleted\":null,"
	    "\"created_time\":\"2024-02-01T10:00:00Z\",\"current_step\":null,"
	    "\"records_processed\":null,\"total_records\":null,\"error\":null,"
	    "\"parameters\":{\"source\":\"hr\",\"mode\":\"strict\"},\"requested_by\":\"admin\","
	    "\"cancelled_by\":null,\"cpu_ms\":null,\"max_rss_kb\":null}");
	assert_json(&j, JOB_JSON_PROGRESS, T_1015,
	    "{\"id\":\"job-1\",\"status\":\"pending\",\"progress\":0,\"current_step\":null,"
	    "\"records_processed\":null,\"total_records\":null,\"elapsed_ms\":null}");
	job_free(&j);
}
END_TEST

START_TEST(test_json_running)
{
	struct job j;

	job_init(&j);
	j.no = 123;
	j.type = JOB_ACCOUNT_SYNC;
	j.status = JOB_RUNNING;
	j.created_ms = T_0959;
	j.start_ms = T_1000;
	j.progress = 65;
	strcpy(j.current_step, "Processing accounts");
	j.records_processed = 650;
	j.total_records = 1000;
	j.records_created = 10;
	j.records_updated = 5;
	j.records_deleted = 0;
	j.worker_pid = 999;
	/* The seed's progress example: 45 s after the start. */
	assert_json(&j, JOB_JSON_PROGRESS, T_1000 + 45000,
	    "{\"id\":\"job-123\",\"status\":\"running\",\"progress\":65,"
	    "\"current_step\":\"Processing accounts\",\"records_processed\":650,"
	    "\"total_records\":1000,\"elapsed_ms\":45000}");
	j.progress = 45;
	assert_json(&j, JOB_JSON_RUNNING, 0,
	    "{\"id\":\"job-123\",\"job_type\":\"account_sync\",\"status\":\"running\","
	    "\"progress\":45,\"start_time\":\"2024-02-01T10:00:00Z\"}");
	assert_json(&j, JOB_JSON_SUMMARY, T_1001,
	    "{\"id\":\"job-123\",\"job_type\":\"account_sync\",\"status\":\"running\","
	    "\"progress\":45,\"start_time\":\"2024-02-01T10:00:00Z\",\"end_time\":null,"
	    "\"duration_ms\":60000,\"records_created\":10,\"records_updated\":5,"
	    "\"records_deleted\":0}");
	/* A clock that went backwards never yields a negative duration. */
	assert_json(&j, JOB_JSON_PROGRESS, T_0959,
	    "{\"id\":\"job-123\",\"status\":\"running\",\"progress\":45,"
	    "\"current_step\":\"Processing accounts\",\"records_processed\":650,"
	    "\"total_records\":1000,\"elapsed_ms\":0}");
	job_free(&j);
}
END_TEST

START_TEST(test_json_completed)
{
	struct job j;

	job_init(&j);
	j.no = 123;
	j.type = JOB_FULL_SYNC;
	j.status = JOB_COMPLETED;
	j.created_ms = T_0959;
	j.start_ms = T_1000;
	j.end_ms = T_1015;
	j.progress = 100;
	j.records_processed = 205;
	j.total_records = 205;
	j.records_created = 150;
	j.records_updated = 45;
	j.records_deleted = 10;
	strcpy(j.requested_by, "root");
	j.cpu_ms = 1234;
	j.max_rss_kb = 5678;
	/* The seed's list example, minified. now is irrelevant once ended. */
	assert_json(&j, JOB_JSON_SUMMARY, T_1015 + 3600000,
	    "{\"id\":\"job-123\",\"job_type\":\"full_sync\",\"status\":\"completed\","
	    "\"progress\":100,\"start_time\":\"2024-02-01T10:00:00Z\","
	    "\"end_time\":\"2024-02-01T10:15:00Z\",\"duration_ms\":900000,"
	    "\"records_created\":150,\"records_updated\":45,\"records_deleted\":10}");
	assert_json(&j, JOB_JSON_FULL, T_1015 + 3600000,
	    "{\"id\":\"job-123\",\"job_type\":\"full_sync\",\"status\":\"completed\","
	    "\"progress\":100,\"start_time\":\"2024-02-01T10:00:00Z\","
	    "\"end_time\":\"2024-02-01T10:15:00Z\",\"duration_ms\":900000,"
	    "\"records_created\":150,\"records_updated\":45,\"records_deleted\":10,"
	    "\"created_time\":\"2024-02-01T09:59:00Z\",\"current_step\":null,"
	    "\"records_processed\":205,\"total_records\":205,\"error\":null,"
	    "\"parameters\":{},\"requested_by\":\"root\",\"cancelled_by\":null,"
	    "\"cpu_ms\":1234,\"max_rss_kb\":5678}");
	assert_json(&j, JOB_JSON_PROGRESS, T_1015 + 3600000,
	    "{\"id\":\"job-123\",\"status\":\"completed\",\"progress\":100,"
	    "\"current_step\":null,\"records_processed\":205,\"total_records\":205,"
	    "\"elapsed_ms\":900000}");
	job_free(&j);
}
END_TEST

START_TEST(test_json_cancelled_pending)
{
	struct job j;

	job_init(&j);
	j.no = 7;
	j.type = JOB_ROLE_GENERATION;
	j.status = JOB_CANCELLED;
	j.created_ms = T_1000;
	j.end_ms = T_1001;
	strcpy(j.requested_by, "alice");
	strcpy(j.cancelled_by, "bob");
	assert_json(&j, JOB_JSON_SUMMARY, T_1015,
	    "{\"id\":\"job-7\",\"job_type\":\"role_generation\",\"status\":\"cancelled\","
	    "\"progress\":0,\"start_time\":null,\"end_time\":\"2024-02-01T10:01:00Z\","
	    "\"duration_ms\":null,\"records_created\":null,\"records_updated\":null,"
	    "\"records_deleted\":null}");
	assert_json(&j, JOB_JSON_FULL, T_1015,
	    "{\"id\":\"job-7\",\"job_type\":\"role_generation\",\"status\":\"cancelled\","
	    "\"progress\":0,\"start_time\":null,\"end_time\":\"2024-02-01T10:01:00Z\","
	    "\"duration_ms\":null,\"records_created\":null,\"records_updated\":null,"
	    "\"records_deleted\":null,\"created_time\":\"2024-02-01T10:00:00Z\","
	    "\"current_step\":null,\"records_processed\":null,\"total_records\":null,"
	    "\"error\":null,\"parameters\":{},\"requested_by\":\"alice\","
	    "\"cancelled_by\":\"bob\",\"cpu_ms\":null,\"max_rss_kb\":null}");
	job_free(&j);
}
END_TEST

START_TEST(test_json_escaping)
{
	struct job j;

	job_init(&j);
	j.no = 9;
	j.type = JOB_ENRICHMENT;
	j.status = JOB_FAILED;
	j.start_ms = T_1000;
	j.end_ms = T_1000 + 1500;
	j.progress = 250; /* out of range: clamped */
	/* quote, backslash, newline, tab, two control bytes, slash, é, an emoji; then a lone
	 * 0xff, an overlong "/" (c0 af), a surrogate (ed a0 80) and a cut-off é (c3). */
	job_set_error(&j, "a\"b\\c\n\t\x01\x1f/\xc3\xa9\xf0\x9f\x98\x80|\xff|\xc0\xaf|"
			  "\xed\xa0\x80|\xc3");
	strcpy(j.current_step, "step \xe2\x82");
	job_param_add(&j, "k\xfe", "v\"");
	assert_json(&j, JOB_JSON_FULL, 0,
	    "{\"id\":\"job-9\",\"job_type\":\"enrichment\",\"status\":\"failed\","
	    "\"progress\":100,\"start_time\":\"2024-02-01T10:00:00Z\","
	    "\"end_time\":\"2024-02-01T10:00:01Z\",\"duration_ms\":1500,"
	    "\"records_created\":null,\"records_updated\":null,\"records_deleted\":null,"
	    "\"created_time\":null,\"current_step\":\"step \xef\xbf\xbd\xef\xbf\xbd\","
	    "\"records_processed\":null,\"total_records\":null,"
	    "\"error\":\"a\\\"b\\\\c\\n\\t\\u0001\\u001F/\xc3\xa9\xf0\x9f\x98\x80|"
	    "\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
	    "\xef\xbf\xbd\","
	    "\"parameters\":{\"k\xef\xbf\xbd\":\"v\\\"\"},\"requested_by\":null,"
	    "\"cancelled_by\":null,\"cpu_ms\":null,\"max_rss_kb\":null}");
	job_free(&j);
}
END_TEST

START_TEST(test_json_extremes)
{
	struct job j;

	job_init(&j);
	j.no = UINT64_MAX;
	j.type = JOB_MANAGER_RESOLUTION;
	j.status = JOB_COMPLETED;
	j.start_ms = 0;
	j.end_ms = 0;
	j.records_created = INT64_MAX;
	j.records_updated = INT64_MIN + 1;
	j.records_deleted = -1;
	j.progress = -3;
	assert_json(&j, JOB_JSON_SUMMARY, 0,
	    "{\"id\":\"job-18446744073709551615\",\"job_type\":\"manager_resolution\","
	    "\"status\":\"completed\",\"progress\":0,\"start_time\":\"1970-01-01T00:00:00Z\","
	    "\"end_time\":\"1970-01-01T00:00:00Z\",\"duration_ms\":0,"
	    "\"records_created\":9223372036854775807,"
	    "\"records_updated\":-9223372036854775807,\"records_deleted\":-1}");
	job_free(&j);
}
END_TEST

/* The renderers write into a caller's generator: two objects in one array. */
START_TEST(test_json_into_array)
{
	struct job a, b;
	yajl_gen g;
	const unsigned char *buf;
	size_t len;

	job_init(&a);
	a.no = 2;
	a.status = JOB_RUNNING;
	a.type = JOB_OWNER_SYNC;
	a.start_ms = T_1000;
	a.progress = 10;
	job_init(&b);
	b.no = 1;
	b.type = JOB_GROUP_SYNC;
	g = yajl_gen_alloc(NULL);
	yajl_gen_array_open(g);
	job_json_running(g, &a);
	job_json_running(g, &b);
	yajl_gen_array_close(g);
	ck_assert_int_eq(yajl_gen_get_buf(g, &buf, &len), yajl_gen_status_ok);
	ck_assert_str_eq((const char *)buf,
	    "[{\"id\":\"job-2\",\"job_type\":\"owner_sync\",\"status\":\"running\",\"progress\":10,"
	    "\"start_time\":\"2024-02-01T10:00:00Z\"},"
	    "{\"id\":\"job-1\",\"job_type\":\"group_sync\",\"status\":\"pending\",\"progress\":0,"
	    "\"start_time\":null}]");
	yajl_gen_free(g);
}
END_TEST

Suite *job_suite(void);

Suite *
job_suite(void)
{
	Suite *s = suite_create("job");
	TCase *tc;

	tc = tcase_create("model");
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_ids);
	tcase_add_test(tc, test_init_free);
	tcase_add_test(tc, test_params);
	suite_add_tcase(s, tc);

	tc = tcase_create("codec");
	tcase_add_test(tc, test_codec_roundtrip);
	tcase_add_test(tc, test_codec_nulls);
	tcase_add_test(tc, test_codec_truncated);
	tcase_add_test(tc, test_codec_minimal);
	tcase_add_loop_test(tc, test_codec_bad, 0, BAD_COUNT);
	tcase_add_test(tc, test_codec_garbage);
	suite_add_tcase(s, tc);

	tc = tcase_create("json");
	tcase_add_test(tc, test_json_pending);
	tcase_add_test(tc, test_json_running);
	tcase_add_test(tc, test_json_completed);
	tcase_add_test(tc, test_json_cancelled_pending);
	tcase_add_test(tc, test_json_escaping);
	tcase_add_test(tc, test_json_extremes);
	tcase_add_test(tc, test_json_into_array);
	suite_add_tcase(s, tc);
	return (s);
}
