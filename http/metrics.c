/* metrics.c: Prometheus text exposition for GET /metrics: jobs by status and type (from
 * the store's counts), running workers and queue length, and this process's HTTP requests
 * by status code with a latency histogram and its token cache's hits and misses. Counters
 * are per jobsd-http process. */
#include <stdio.h>

#include "http.h"
#include "token_cache.h"

static const double bounds[METRICS_NBUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
						 0.1, 0.25, 0.5, 1, 2.5, 10};

void
metrics_observe(struct metrics *m, int status, double seconds)
{
	size_t i;

	if (status >= 100 && status < 600)
		m->by_status[status]++;
	for (i = 0; i < METRICS_NBUCKETS; i++) {
		if (seconds <= bounds[i]) {
			m->buckets[i]++;
			break;
		}
	}
	m->count++;
	m->sum_s += seconds;
}

void
metrics_render(const struct metrics *m, const uint64_t counts[JOB_STATUS_COUNT][JOB_TYPE_COUNT],
               const struct token_cache *tokens, struct buf *out)
{
	uint64_t cum = 0, total;
	int s, t;
	size_t i;

	if (counts != NULL) {
		buf_adds(out, "# HELP jobsd_jobs Jobs in the store by status and type.\n"
			      "# TYPE jobsd_jobs gauge\n");
		for (s = 0; s < JOB_STATUS_COUNT; s++) {
			for (t = 0; t < JOB_TYPE_COUNT; t++) {
				buf_printf(out, "jobsd_jobs{status=\"%s\",job_type=\"%s\"} %llu\n",
					   job_status_name(s), job_type_name(t),
					   (unsigned long long)counts[s][t]);
			}
		}
		total = 0;
		for (t = 0; t < JOB_TYPE_COUNT; t++)
			total += counts[JOB_RUNNING][t];
		buf_printf(out, "# HELP jobsd_workers_running Jobs running now (one worker each).\n"
				"# TYPE jobsd_workers_running gauge\n"
				"jobsd_workers_running %llu\n", (unsigned long long)total);
		total = 0;
		for (t = 0; t < JOB_TYPE_COUNT; t++)
			total += counts[JOB_PENDING][t];
		buf_printf(out, "# HELP jobsd_queue_length Jobs pending.\n"
				"# TYPE jobsd_queue_length gauge\n"
				"jobsd_queue_length %llu\n", (unsigned long long)total);
	}
	buf_adds(out, "# HELP jobsd_http_requests_total HTTP requests answered by this "
		      "listener process, by status code.\n"
		      "# TYPE jobsd_http_requests_total counter\n");
	for (s = 100; s < 600; s++) {
		if (m->by_status[s] != 0)
			buf_printf(out, "jobsd_http_requests_total{code=\"%d\"} %llu\n", s,
				   (unsigned long long)m->by_status[s]);
	}
	buf_adds(out, "# HELP jobsd_http_request_duration_seconds Time from a complete "
		      "request to its response being queued.\n"
		      "# TYPE jobsd_http_request_duration_seconds histogram\n");
	for (i = 0; i < METRICS_NBUCKETS; i++) {
		cum += m->buckets[i];
		buf_printf(out, "jobsd_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
			   bounds[i], (unsigned long long)cum);
	}
	buf_printf(out, "jobsd_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
			"jobsd_http_request_duration_seconds_sum %.6f\n"
			"jobsd_http_request_duration_seconds_count %llu\n",
		   (unsigned long long)m->count, m->sum_s, (unsigned long long)m->count);
	buf_printf(out, "# HELP jobsd_http_connections Open connections of this process.\n"
			"# TYPE jobsd_http_connections gauge\n"
			"jobsd_http_connections %llu\n"
			"# HELP jobsd_http_connections_total Connections accepted by this process.\n"
			"# TYPE jobsd_http_connections_total counter\n"
			"jobsd_http_connections_total %llu\n",
		   (unsigned long long)m->connections, (unsigned long long)m->connections_total);
	if (tokens != NULL)
		buf_printf(out,
		           "# HELP jobsd_http_token_checks_total Bearer tokens of this "
		           "process found in its token cache (hit) or looked up in the store "
		           "(miss).\n"
		           "# TYPE jobsd_http_token_checks_total counter\n"
		           "jobsd_http_token_checks_total{cache=\"hit\"} %llu\n"
		           "jobsd_http_token_checks_total{cache=\"miss\"} %llu\n",
		           (unsigned long long)tokens->hits, (unsigned long long)tokens->misses);
}
