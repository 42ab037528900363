/* job_json.c: the JSON renderings of a job (exactly what the REST API returns and what
 * jobctl --json prints), written with yajl's generator. Strings that are not valid UTF-8
 * (a worker's error text, a parameter) are repaired with U+FFFD rather than breaking the
 * document. */
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "log.h"
#include "timeutil.h"

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0 if it is not one. Strict:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char c = p[0];

	if (c < 0x80)
		return (1);
	if (c >= 0xc2 && c <= 0xdf) {
		if (n >= 2 && (p[1] & 0xc0) == 0x80)
			return (2);
		return (0);
	}
	if (c >= 0xe0 && c <= 0xef) {
		if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return (0);
		if (c == 0xe0 && p[1] < 0xa0)
			return (0); /* overlong */
		if (c == 0xed && p[1] >= 0xa0)
			return (0); /* surrogate */
		return (3);
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80)
			return (0);
		if (c == 0xf0 && p[1] < 0x90)
			return (0); /* overlong */
		if (c == 0xf4 && p[1] >= 0x90)
			return (0); /* above U+10FFFF */
		return (4);
	}
	return (0);
}

/* A JSON string; invalid bytes become U+FFFD, one per byte. */
void
json_gen_utf8(yajl_gen g, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char *fixed;
	size_t i, k, n = 0;

	for (i = 0; i < len; i += k) {
		if ((k = utf8_seq(p + i, len - i)) == 0)
			break;
	}
	if (i >= len) {
		yajl_gen_string(g, p, len);
		return;
	}
	fixed = xmalloc(len * 3 + 1);
	for (i = 0; i < len; i += k) {
		if ((k = utf8_seq(p + i, len - i)) == 0) {
			memcpy(fixed + n, "\xef\xbf\xbd", 3);
			n += 3;
			k = 1;
		} else {
			memcpy(fixed + n, p + i, k);
			n += k;
		}
	}
	yajl_gen_string(g, fixed, n);
	free(fixed);
}

static void
gen_str(yajl_gen g, const char *s, size_t len)
{
	json_gen_utf8(g, s, len);
}

static void
gen_key(yajl_gen g, const char *k)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
}

/* A string, or null for NULL and "". */
static void
gen_nstr(yajl_gen g, const char *k, const char *v)
{
	gen_key(g, k);
	if (v == NULL || *v == '\0')
		yajl_gen_null(g);
	else
		gen_str(g, v, strlen(v));
}

/* An integer without printf (yajl_gen_integer uses sprintf; this is the list hot path). */
static void
gen_i64(yajl_gen g, int64_t v)
{
	char buf[24], *p = buf + sizeof(buf);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	yajl_gen_number(g, p, (size_t)(buf + sizeof(buf) - p));
}

static void
gen_int(yajl_gen g, const char *k, int64_t v)
{
	gen_key(g, k);
	if (v == JOB_NULL)
		yajl_gen_null(g);
	else
		gen_i64(g, v);
}

static void
gen_time(yajl_gen g, const char *k, int64_t ms)
{
	char buf[64];

	gen_key(g, k);
	if (ms == JOB_NULL)
		yajl_gen_null(g);
	else {
		time_format_rfc3339(ms, buf, sizeof(buf));
		yajl_gen_string(g, (const unsigned char *)buf, strlen(buf));
	}
}

/* Milliseconds since the start: to the end if ended, to now if not; null if never started. */
static int64_t
job_elapsed(const struct job *j, int64_t now_ms)
{
	int64_t d;

	if (j->start_ms == JOB_NULL)
		return (JOB_NULL);
	if (j->end_ms != JOB_NULL)
		d = j->end_ms - j->start_ms;
	else
		d = now_ms - j->start_ms;
	return (d < 0 ? 0 : d);
}

static void
gen_head(yajl_gen g, const struct job *j)
{
	char id[32];
	const char *s;

	job_id_format(j->no, id);
	gen_key(g, "id");
	yajl_gen_string(g, (const unsigned char *)id, strlen(id));
	gen_key(g, "job_type");
	s = job_type_name(j->type);
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
	gen_key(g, "status");
	s = job_status_name(j->status);
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
	gen_key(g, "progress");
	gen_i64(g, j->progress < 0 ? 0 : j->progress > 100 ? 100 : j->progress);
}

static void
gen_summary_fields(yajl_gen g, const struct job *j, int64_t now_ms)
{
	gen_head(g, j);
	gen_time(g, "start_time", j->start_ms);
	gen_time(g, "end_time", j->end_ms);
	gen_int(g, "duration_ms", job_elapsed(j, now_ms));
	gen_int(g, "records_created", j->records_created);
	gen_int(g, "records_updated", j->records_updated);
	gen_int(g, "records_deleted", j->records_deleted);
}

void
job_json_summary(yajl_gen g, const struct job *j, int64_t now_ms)
{
	yajl_gen_map_open(g);
	gen_summary_fields(g, j, now_ms);
	yajl_gen_map_close(g);
}

void
job_json_full(yajl_gen g, const struct job *j, int64_t now_ms)
{
	size_t i;

	yajl_gen_map_open(g);
	gen_summary_fields(g, j, now_ms);
	gen_time(g, "created_time", j->created_ms);
	gen_nstr(g, "current_step", j->current_step);
	gen_int(g, "records_processed", j->records_processed);
	gen_int(g, "total_records", j->total_records);
	gen_nstr(g, "error", j->error);
	gen_key(g, "parameters");
	yajl_gen_map_open(g);
	for (i = 0; i < j->nparams; i++) {
		gen_str(g, j->params[i].key, strlen(j->params[i].key));
		gen_str(g, j->params[i].value, strlen(j->params[i].value));
	}
	yajl_gen_map_close(g);
	gen_nstr(g, "requested_by", j->requested_by);
	gen_nstr(g, "cancelled_by", j->cancelled_by);
	gen_int(g, "cpu_ms", j->cpu_ms);
	gen_int(g, "max_rss_kb", j->max_rss_kb);
	yajl_gen_map_close(g);
}

void
job_json_progress(yajl_gen g, const struct job *j, int64_t now_ms)
{
	char id[32];
	const char *s;

	yajl_gen_map_open(g);
	job_id_format(j->no, id);
	gen_key(g, "id");
	yajl_gen_string(g, (const unsigned char *)id, strlen(id));
	gen_key(g, "status");
	s = job_status_name(j->status);
	yajl_gen_string(g, (const unsigned char *)s, strlen(s));
	gen_key(g, "progress");
	gen_i64(g, j->progress < 0 ? 0 : j->progress > 100 ? 100 : j->progress);
	gen_nstr(g, "current_step", j->current_step);
	gen_int(g, "records_processed", j->records_processed);
	gen_int(g, "total_records", j->total_records);
	gen_int(g, "elapsed_ms", job_elapsed(j, now_ms));
	yajl_gen_map_close(g);
}

void
job_json_running(yajl_gen g, const struct job *j)
{
	yajl_gen_map_open(g);
	gen_head(g, j);
	gen_time(g, "start_time", j->start_ms);
	yajl_gen_map_close(g);
}

char *
job_json_string(const struct job *j, enum job_json_kind kind, int64_t now_ms, size_t *len)
{
	yajl_gen g;
	const unsigned char *buf;
	size_t n;
	char *out;

	if ((g = yajl_gen_alloc(NULL)) == NULL)
		fatalx("%s: yajl_gen_alloc failed", __func__);
	yajl_gen_config(g, yajl_gen_beautify, 0);
	yajl_gen_config(g, yajl_gen_validate_utf8, 1);
	switch (kind) {
	case JOB_JSON_SUMMARY:
		job_json_summary(g, j, now_ms);
		break;
	case JOB_JSON_FULL:
		job_json_full(g, j, now_ms);
		break;
	case JOB_JSON_PROGRESS:
		job_json_progress(g, j, now_ms);
		break;
	case JOB_JSON_RUNNING:
		job_json_running(g, j);
		break;
	}
	yajl_gen_get_buf(g, &buf, &n);
	out = xmalloc(n + 1);
	memcpy(out, buf, n);
	out[n] = '\0';
	if (len != NULL)
		*len = n;
	yajl_gen_free(g);
	return (out);
}
