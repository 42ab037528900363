/* jobs2csv.c: dump every job of a jobsd data directory as CSV for the SQLite reference of
 * docs/benchmarks.md (figure 2): no, job_type, status, created_ms, start_ms, end_ms and
 * the job's complete JSON object (exactly what GET /api/v1/jobs/{id} returns). Reads
 * through the store's reader role; the daemon may be stopped or running.
 *
 *   jobs2csv DATA_DIR > jobs.csv
 */
#include <stdio.h>
#include <stdlib.h>

#include "job.h"
#include "log.h"
#include "store.h"

static void
put_ms(int64_t v)
{
	if (v != JOB_NULL)
		printf("%lld", (long long)v);
	putchar(',');
}

static int
dump_one(const struct job *j, void *arg)
{
	size_t len, i;
	char *json;

	printf("%llu,%s,%s,", (unsigned long long)j->no, job_type_name(j->type),
	    job_status_name(j->status));
	put_ms(j->created_ms);
	put_ms(j->start_ms);
	put_ms(j->end_ms);
	json = job_json_string(j, JOB_JSON_FULL, j->end_ms != JOB_NULL ? j->end_ms : 0, &len);
	putchar('"');
	for (i = 0; i < len; i++) {
		if (json[i] == '"')
			putchar('"');
		putchar(json[i]);
	}
	fputs("\"\n", stdout);
	free(json);
	(*(unsigned long *)arg)++;
	return (0);
}

int
main(int argc, char **argv)
{
	struct store *s;
	unsigned long n = 0;
	char *cause = NULL;
	int st;

	if (argc != 2) {
		fprintf(stderr, "usage: jobs2csv DATA_DIR\n");
		return (64);
	}
	if (store_open(argv[1], STORE_READER, &s, &cause) != 0) {
		fprintf(stderr, "jobs2csv: %s\n", cause);
		return (1);
	}
	puts("no,job_type,status,created_ms,start_ms,end_ms,json");
	for (st = 0; st < JOB_STATUS_COUNT; st++) {
		if (store_jobs_by_status(s, st, dump_one, &n, &cause) != 0) {
			fprintf(stderr, "jobs2csv: %s\n", cause);
			store_close(s);
			return (1);
		}
	}
	store_close(s);
	fprintf(stderr, "jobs2csv: %lu jobs\n", n);
	return (0);
}
