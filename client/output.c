/* output.c: what jobctl prints: fixed-column tables and key/value listings for people,
 * the progress bar of watch and submit --wait, JSON documents (yajl) for --json, and error
 * reports in both forms. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "log.h"
#include "timeutil.h"

#define BAR_WIDTH 20

void
out_duration(int64_t ms, char *buf, size_t len)
{
	int64_t s, d, h, m;

	if (ms < 0)
		ms = 0;
	if (ms < 1000) {
		snprintf(buf, len, "%" PRId64 "ms", ms);
		return;
	}
	s = ms / 1000;
	d = s / 86400;
	h = (s / 3600) % 24;
	m = (s / 60) % 60;
	s %= 60;
	if (d > 0)
		snprintf(buf, len, "%" PRId64 "d %02" PRId64 "h %02" PRId64 "m", d, h, m);
	else if (h > 0)
		snprintf(buf, len, "%" PRId64 "h %02" PRId64 "m %02" PRId64 "s", h, m, s);
	else if (m > 0)
		snprintf(buf, len, "%" PRId64 "m %" PRId64 "s", m, s);
	else
		snprintf(buf, len, "%" PRId64 "s", s);
}

void
out_clock(int64_t ms, char *buf, size_t len)
{
	int64_t s = ms < 0 ? 0 : ms / 1000;

	if (s >= 3600)
		snprintf(buf, len, "%02" PRId64 ":%02" PRId64 ":%02" PRId64, s / 3600,
			 (s / 60) % 60, s % 60);
	else
		snprintf(buf, len, "%02" PRId64 ":%02" PRId64, s / 60, s % 60);
}

/* Time the job has been running (or ran), -1 if it never started. */
static int64_t
job_elapsed(const struct job *j, int64_t now_ms)
{
	if (j->start_ms == JOB_NULL)
		return (-1);
	if (j->end_ms != JOB_NULL)
		return (j->end_ms - j->start_ms);
	return (now_ms > j->start_ms ? now_ms - j->start_ms : 0);
}

static void
fmt_time(int64_t ms, char *buf, size_t len)
{
	if (ms == JOB_NULL)
		snprintf(buf, len, "-");
	else
		time_format_rfc3339(ms, buf, len);
}

static void
fmt_count(int64_t v, char *buf, size_t len)
{
	if (v == JOB_NULL)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%" PRId64, v);
}

void
out_progress_line(const struct job *j, int64_t now_ms, char *buf, size_t len)
{
	char bar[BAR_WIDTH + 1], clock[32], counts[64];
	int p = j->progress, fill, i;
	int64_t el;

	if (p < 0)
		p = 0;
	if (p > 100)
		p = 100;
	fill = p * BAR_WIDTH / 100;
	for (i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[BAR_WIDTH] = '\0';

	counts[0] = '\0';
	if (j->records_processed != JOB_NULL && j->total_records != JOB_NULL)
		snprintf(counts, sizeof(counts), " %" PRId64 "/%" PRId64, j->records_processed,
			 j->total_records);
	else if (j->records_processed != JOB_NULL)
		snprintf(counts, sizeof(counts), " %" PRId64, j->records_processed);

	el = job_elapsed(j, now_ms);
	out_clock(el < 0 ? 0 : el, clock, sizeof(clock));

	if (j->status == JOB_PENDING)
		snprintf(buf, len, "[%s] %3d%% waiting to start (pending) %s", bar, p, clock);
	else
		snprintf(buf, len, "[%s] %3d%% %s%s %s", bar, p,
			 j->current_step[0] != '\0' ? j->current_step : job_status_name(j->status),
			 counts, clock);
}

void
out_final_line(const struct job *j, char *buf, size_t len)
{
	char id[32], dur[32], c[24], u[24], d[24], p[24], t[24];
	int64_t el = job_elapsed(j, 0);

	job_id_format(j->no, id);
	if (el < 0)
		snprintf(dur, sizeof(dur), "-");
	else
		out_duration(el, dur, sizeof(dur));
	fmt_count(j->records_created, c, sizeof(c));
	fmt_count(j->records_updated, u, sizeof(u));
	fmt_count(j->records_deleted, d, sizeof(d));
	fmt_count(j->records_processed, p, sizeof(p));
	fmt_count(j->total_records, t, sizeof(t));

	switch (j->status) {
	case JOB_COMPLETED:
		snprintf(buf, len, "%s completed in %s: %s created, %s updated, %s deleted", id,
			 dur, c, u, d);
		break;
	case JOB_FAILED:
		snprintf(buf, len, "%s failed after %s: %s", id, dur,
			 j->error != NULL ? j->error : "unknown error");
		break;
	case JOB_CANCELLED:
		if (j->start_ms == JOB_NULL) {
			snprintf(buf, len, "%s cancelled before it started", id);
			break;
		}
		snprintf(buf, len,
			 "%s cancelled after %s (%s of %s records processed: %s created, %s "
			 "updated, %s deleted)",
			 id, dur, p, t, c, u, d);
		break;
	default:
		snprintf(buf, len, "%s %s", id, job_status_name(j->status));
		break;
	}
}

#define TABLE_FMT "%-10s %-18s %-9s %8s  %-20s %10s %8s %8s %8s\n"

void
out_job_table(FILE *f, const struct job *jobs, size_t n, int64_t now_ms)
{
	char id[32], prog[16], start[40], dur[32], c[24], u[24], d[24];
	const struct job *j;
	int64_t el;
	size_t i;

	fprintf(f, TABLE_FMT, "ID", "TYPE", "STATUS", "PROGRESS", "STARTED", "DURATION",
		"CREATED", "UPDATED", "DELETED");
	for (i = 0; i < n; i++) {
		j = &jobs[i];
		job_id_format(j->no, id);
		snprintf(prog, sizeof(prog), "%d%%", j->progress);
		fmt_time(j->start_ms, start, sizeof(start));
		el = job_elapsed(j, now_ms);
		if (el < 0)
			snprintf(dur, sizeof(dur), "-");
		else
			out_duration(el, dur, sizeof(dur));
		fmt_count(j->records_created, c, sizeof(c));
		fmt_count(j->records_updated, u, sizeof(u));
		fmt_count(j->records_deleted, d, sizeof(d));
		fprintf(f, TABLE_FMT, id, job_type_name(j->type), job_status_name(j->status), prog,
			start, dur, c, u, d);
	}
}

#define RUNNING_FMT "%-10s %-18s %-9s %8s  %-20s %10s  %s\n"

void
out_running_table(FILE *f, const struct job *jobs, size_t n, int64_t now_ms)
{
	char id[32], prog[16], start[40], el[32];
	const struct job *j;
	size_t i;

	fprintf(f, RUNNING_FMT, "ID", "TYPE", "STATUS", "PROGRESS", "STARTED", "ELAPSED", "STEP");
	for (i = 0; i < n; i++) {
		j = &jobs[i];
		job_id_format(j->no, id);
		snprintf(prog, sizeof(prog), "%d%%", j->progress);
		fmt_time(j->start_ms, start, sizeof(start));
		if (job_elapsed(j, now_ms) < 0)
			snprintf(el, sizeof(el), "-");
		else
			out_duration(job_elapsed(j, now_ms), el, sizeof(el));
		fprintf(f, RUNNING_FMT, id, job_type_name(j->type), job_status_name(j->status),
			prog, start, el, j->current_step[0] != '\0' ? j->current_step : "-");
	}
}

static void
show_kv(FILE *f, const char *k, const char *v)
{
	fprintf(f, "%-18s %s\n", k, v != NULL && *v != '\0' ? v : "-");
}

void
out_job_show(FILE *f, const struct job *j, int64_t now_ms)
{
	char buf[128], tmp[64];
	int64_t el;
	size_t i;

	job_id_format(j->no, buf);
	show_kv(f, "id", buf);
	show_kv(f, "job_type", job_type_name(j->type));
	show_kv(f, "status", job_status_name(j->status));
	snprintf(buf, sizeof(buf), "%d%%", j->progress);
	show_kv(f, "progress", buf);
	show_kv(f, "current_step", j->current_step);
	fmt_time(j->created_ms, buf, sizeof(buf));
	show_kv(f, "created_time", buf);
	fmt_time(j->start_ms, buf, sizeof(buf));
	show_kv(f, "start_time", buf);
	fmt_time(j->end_ms, buf, sizeof(buf));
	show_kv(f, "end_time", buf);
	el = job_elapsed(j, now_ms);
	if (el < 0)
		snprintf(buf, sizeof(buf), "-");
	else {
		out_duration(el, tmp, sizeof(tmp));
		snprintf(buf, sizeof(buf), "%s (%" PRId64 " ms%s)", tmp, el,
			 j->end_ms == JOB_NULL ? ", still running" : "");
	}
	show_kv(f, "duration", buf);
	fmt_count(j->records_processed, buf, sizeof(buf));
	show_kv(f, "records_processed", buf);
	fmt_count(j->total_records, buf, sizeof(buf));
	show_kv(f, "total_records", buf);
	fmt_count(j->records_created, buf, sizeof(buf));
	show_kv(f, "records_created", buf);
	fmt_count(j->records_updated, buf, sizeof(buf));
	show_kv(f, "records_updated", buf);
	fmt_count(j->records_deleted, buf, sizeof(buf));
	show_kv(f, "records_deleted", buf);
	show_kv(f, "error", j->error);
	show_kv(f, "requested_by", j->requested_by);
	show_kv(f, "cancelled_by", j->cancelled_by);
	fmt_count(j->cpu_ms, buf, sizeof(buf));
	show_kv(f, "cpu_ms", buf);
	fmt_count(j->max_rss_kb, buf, sizeof(buf));
	show_kv(f, "max_rss_kb", buf);
	if (j->nparams == 0)
		show_kv(f, "parameters", NULL);
	for (i = 0; i < j->nparams; i++)
		fprintf(f, "%-18s %s=%s\n", i == 0 ? "parameters" : "", j->params[i].key,
			j->params[i].value);
}

yajl_gen
out_json_new(void)
{
	yajl_gen g;

	if ((g = yajl_gen_alloc(NULL)) == NULL)
		fatalx("yajl_gen_alloc failed");
	yajl_gen_config(g, yajl_gen_validate_utf8, 0);
	return (g);
}

void
out_json_print(FILE *f, yajl_gen g)
{
	const unsigned char *buf;
	size_t len;

	if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok && len > 0) {
		fwrite(buf, 1, len, f);
		fputc('\n', f);
	}
	yajl_gen_free(g);
}

void
out_json_str(yajl_gen g, const char *s)
{
	if (s == NULL)
		yajl_gen_null(g);
	else
		yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

void
out_json_int(yajl_gen g, int64_t v)
{
	if (v == JOB_NULL)
		yajl_gen_null(g);
	else
		yajl_gen_integer(g, (long long)v);
}

void
out_json_error(FILE *f, const struct rpc_fail *fail)
{
	yajl_gen g = out_json_new();

	yajl_gen_map_open(g);
	out_json_str(g, "error");
	yajl_gen_map_open(g);
	out_json_str(g, "status");
	yajl_gen_integer(g, fail->status);
	out_json_str(g, "code");
	out_json_str(g, fail->code);
	out_json_str(g, "message");
	out_json_str(g, fail->message);
	/* As the REST API: only a 400 names a parameter (DESIGN.md section 3). */
	if (fail->parameter[0] != '\0' && fail->status == 400) {
		out_json_str(g, "parameter");
		out_json_str(g, fail->parameter);
	}
	yajl_gen_map_close(g);
	yajl_gen_map_close(g);
	out_json_print(f, g);
}

void
out_fail(struct ctl *c, const char *what, const struct rpc_fail *fail)
{
	if (what != NULL && strstr(fail->message, what) == NULL)
		fprintf(c->err, "jobctl: %s: %s\n", what, fail->message);
	else
		fprintf(c->err, "jobctl: %s\n", fail->message);
	if (c->json)
		out_json_error(c->out, fail);
}

void
out_error(struct ctl *c, const char *fmt, ...)
{
	struct rpc_fail fail;
	va_list ap;

	memset(&fail, 0, sizeof(fail));
	va_start(ap, fmt);
	vsnprintf(fail.message, sizeof(fail.message), fmt, ap);
	va_end(ap);
	fprintf(c->err, "jobctl: %s\n", fail.message);
	if (c->json) {
		fail.status = 503;
		snprintf(fail.code, sizeof(fail.code), "%s", IPC_ERR_UNAVAILABLE);
		out_json_error(c->out, &fail);
	}
}

void
out_shell_word(FILE *f, const char *v)
{
	const char *p;
	bool plain = *v != '\0';

	for (p = v; *p != '\0' && plain; p++)
		plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			       "_.:+-=/@%,",
			       *p) != NULL;
	fputc(' ', f);
	if (plain) {
		fputs(v, f);
		return;
	}
	fputc('\'', f);
	for (p = v; *p != '\0'; p++) {
		if (*p == '\'')
			fputs("'\\''", f);
		else
			fputc(*p, f);
	}
	fputc('\'', f);
}
