/* job.h: the job model shared by every process: types, statuses, the job record, its
 * msgpack encoding (the value stored in the jobs database and carried over IPC) and its JSON
 * renderings (exactly what the REST API returns; jobctl --json prints the same bytes). */
#ifndef JOBSD_JOB_H
#define JOBSD_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>
#include <yajl/yajl_gen.h>

enum job_type {
	JOB_FULL_SYNC,
	JOB_INCREMENTAL_SYNC,
	JOB_ACCOUNT_SYNC,
	JOB_OWNER_SYNC,
	JOB_GROUP_SYNC,
	JOB_APPLICATION_SYNC,
	JOB_ROLE_GENERATION,
	JOB_POLICY_ANALYSIS,
	JOB_MANAGER_RESOLUTION,
	JOB_ENRICHMENT,
	JOB_TYPE_COUNT
};

enum job_status {
	JOB_PENDING,
	JOB_RUNNING,
	JOB_COMPLETED,
	JOB_FAILED,
	JOB_CANCELLED,
	JOB_STATUS_COUNT
};

/* A null timestamp or counter ("does not apply yet", rendered as JSON null). */
#define JOB_NULL INT64_MIN
/* Format version of the encoded record; bump when the encoding changes incompatibly. */
#define JOB_RECORD_VERSION 1
#define JOB_MAX_PARAMS 32
#define JOB_STEP_MAX 96
#define JOB_WHO_MAX 64

struct job_param {
	char *key;   /* owned */
	char *value; /* owned */
};

struct job {
	uint64_t no; /* public id is "job-<no>" */
	enum job_type type;
	enum job_status status;
	int64_t created_ms; /* Unix epoch milliseconds, UTC */
	int64_t start_ms;   /* JOB_NULL until running */
	int64_t end_ms;     /* JOB_NULL until ended */
	int progress;       /* 0..100 */
	char current_step[JOB_STEP_MAX]; /* "" = null */
	int64_t records_processed;       /* JOB_NULL until known */
	int64_t total_records;           /* JOB_NULL until known */
	int64_t records_created;         /* JOB_NULL until running */
	int64_t records_updated;
	int64_t records_deleted;
	char *error; /* owned; NULL = null */
	size_t nparams;
	struct job_param *params; /* owned; in submission order */
	char requested_by[JOB_WHO_MAX]; /* "" = null */
	char cancelled_by[JOB_WHO_MAX]; /* "" = null */
	bool cancel_requested;          /* durable cancel request for a running job */
	int64_t cpu_ms;                 /* from wait4; JOB_NULL until ended */
	int64_t max_rss_kb;             /* the worker's peak RSS; JOB_NULL until ended */
	int64_t worker_pid;             /* JOB_NULL when no worker */
};

/* Names as the API spells them ("full_sync", "completed"); parse returns -1 if unknown. */
const char *job_type_name(enum job_type t);
int job_type_parse(const char *s, size_t len);
const char *job_status_name(enum job_status s);
int job_status_parse(const char *s, size_t len);
bool job_status_is_final(enum job_status s);

/* "job-123" <-> 123. parse returns -1 for anything but "job-" followed by 1-19 digits
 * without leading zeros that fits in uint64_t and is > 0. */
int job_id_parse(const char *s, size_t len, uint64_t *no);
void job_id_format(uint64_t no, char out[32]);

/* Lifecycle: init sets every nullable field to null; free releases owned memory and
 * re-inits; copy deep-copies. */
void job_init(struct job *j);
void job_free(struct job *j);
void job_copy(struct job *dst, const struct job *src);
int job_param_add(struct job *j, const char *key, const char *value); /* -1 if full */
const char *job_param_get(const struct job *j, const char *key);      /* NULL if absent */
void job_set_error(struct job *j, const char *error);                 /* NULL clears */

/* msgpack record: a map with short keys and "v" = JOB_RECORD_VERSION. encode appends to buf.
 * decode fills *j (job_init'ed by decode itself); -1 and *cause on a malformed record. */
void job_pack(msgpack_packer *pk, const struct job *j);
int job_encode(const struct job *j, msgpack_sbuffer *buf);
int job_unpack(const msgpack_object *o, struct job *j, char **cause);
int job_decode(const void *data, size_t len, struct job *j, char **cause);

/* JSON renderings (yajl generator; caller owns g). Field names, order, types and nulls are
 * exactly DESIGN.md section 3:
 *   summary:  id, job_type, status, progress, start_time, end_time, duration_ms,
 *             records_created, records_updated, records_deleted
 *   full:     summary + created_time, current_step, records_processed, total_records, error,
 *             parameters, requested_by, cancelled_by, cpu_ms, max_rss_kb
 *   progress: id, status, progress, current_step, records_processed, total_records, elapsed_ms
 *   running:  id, job_type, status, progress, start_time
 * now_ms is used for duration/elapsed of a job still running. */
void job_json_summary(yajl_gen g, const struct job *j, int64_t now_ms);
void job_json_full(yajl_gen g, const struct job *j, int64_t now_ms);
void job_json_progress(yajl_gen g, const struct job *j, int64_t now_ms);
void job_json_running(yajl_gen g, const struct job *j);

/* Convenience: render one object into a malloc'd NUL-terminated string. */
enum job_json_kind { JOB_JSON_SUMMARY, JOB_JSON_FULL, JOB_JSON_PROGRESS, JOB_JSON_RUNNING };
char *job_json_string(const struct job *j, enum job_json_kind kind, int64_t now_ms, size_t *len);

/* A JSON string value with invalid UTF-8 bytes replaced by U+FFFD, one per byte (for any
 * text of uncertain origin: client input echoed in an error, a worker's message). */
void json_gen_utf8(yajl_gen g, const char *s, size_t len);

#endif
