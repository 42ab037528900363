/* jobs_ops.c: the job requests of the control protocol (ipc/PROTOCOL.md): validate exactly
 * as the REST API does, answer from memory for queued and running jobs (fresher than the
 * store) and from the store otherwise; submit and cancel commit durably before replying. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobsd.h"
#include "timeutil.h"

#define LIST_FIRST_MAX 1000

static void
internal_error(struct client *c, uint32_t id, const char *what, char *cause)
{
	log_warnx("%s: %s", what, cause != NULL ? cause : "?");
	free(cause);
	reply_fail(c, id, 500, IPC_ERR_INTERNAL, NULL, "internal error");
}

/* A string field: 0 and *s, 1 absent/nil, -1 wrong type (a 400 naming the field). */
static int
get_str(struct client *c, const struct ipc_msg *m, const char *key, const char **s,
	size_t *len)
{
	int rc = ipc_get_str(&m->body, key, s, len);

	if (rc == -1)
		reply_fail(c, m->id, 400, IPC_ERR_INVALID, key, "%s must be a string", key);
	return (rc);
}

/* The required "id": 0 and *no, or -1 after replying. */
static int
get_id(struct client *c, const struct ipc_msg *m, uint64_t *no)
{
	const char *s;
	size_t len;
	int rc;

	if ((rc = get_str(c, m, "id", &s, &len)) == -1)
		return (-1);
	if (rc == 1) {
		reply_fail(c, m->id, 400, IPC_ERR_INVALID, "id", "id is required");
		return (-1);
	}
	if (job_id_parse(s, len, no) == -1) {
		reply_fail(c, m->id, 400, IPC_ERR_INVALID, "id", "invalid job id '%.*s'",
			   (int)(len > 64 ? 64 : len), s);
		return (-1);
	}
	return (0);
}

static const struct job *
live_job(struct jobsd *jsd, uint64_t no)
{
	struct run *r;
	struct pend *p;

	if ((r = supervisor_find_run(jsd, no)) != NULL)
		return (&r->job);
	if ((p = supervisor_find_pend(jsd, no)) != NULL)
		return (&p->job);
	return (NULL);
}

int
ops_ping(struct client *c, const struct ipc_msg *m)
{
	msgpack_packer *pk = reply_begin(c, m->id);

	msgpack_pack_map(pk, 2);
	ipc_pack_kv_int(pk, "pid", getpid());
	ipc_pack_kv_str(pk, "version", JOBSD_VERSION);
	reply_end(c);
	return (0);
}

static void
show(struct client *c, const struct ipc_msg *m)
{
	const struct job *lj;
	struct job j;
	uint64_t no;
	char *cause = NULL, id[32];
	int rc;

	if (get_id(c, m, &no) == -1)
		return;
	if ((lj = live_job(c->jsd, no)) != NULL) {
		reply_job(c, m->id, lj);
		return;
	}
	rc = store_job_get(c->jsd->store, no, &j, &cause);
	if (rc == STORE_NOTFOUND) {
		job_id_format(no, id);
		reply_fail(c, m->id, 404, IPC_ERR_NOT_FOUND, NULL, "job %s not found", id);
		return;
	}
	if (rc != 0) {
		internal_error(c, m->id, "show", cause);
		return;
	}
	reply_job(c, m->id, &j);
	job_free(&j);
}

int
ops_show(struct client *c, const struct ipc_msg *m)
{
	show(c, m);
	return (0);
}

int
ops_progress(struct client *c, const struct ipc_msg *m)
{
	show(c, m);
	return (0);
}

int
ops_running(struct client *c, const struct ipc_msg *m)
{
	struct jobsd *jsd = c->jsd;
	msgpack_packer *pk;
	struct run *r;

	pk = reply_begin(c, m->id);
	msgpack_pack_map(pk, 1);
	ipc_pack_str(pk, "jobs");
	msgpack_pack_array(pk, jsd->nruns);
	TAILQ_FOREACH(r, &jsd->runs, entry)
		job_pack(pk, &r->job);
	reply_end(c);
	return (0);
}

int
ops_cancel(struct client *c, const struct ipc_msg *m)
{
	struct job j;
	uint64_t no;
	const char *by = NULL;
	char byb[JOB_WHO_MAX], *cause = NULL, id[32];
	size_t len;
	int rc, status = 500;

	if (get_id(c, m, &no) == -1)
		return (0);
	if (c->is_http) {
		if (get_str(c, m, "by", &by, &len) == -1)
			return (0);
		if (by != NULL) {
			snprintf(byb, sizeof(byb), "%.*s", (int)len, by);
			by = byb;
		}
	} else
		by = c->user;
	rc = run_cancel(c->jsd, no, by, c, m->id, &j, &status, &cause);
	switch (rc) {
	case 0:
		reply_job(c, m->id, &j);
		job_free(&j);
		break;
	case CANCEL_WAITING:
		break; /* answered when the worker has gone */
	case STORE_NOTFOUND:
		job_id_format(no, id);
		reply_fail(c, m->id, 404, IPC_ERR_NOT_FOUND, NULL, "job %s not found", id);
		break;
	default:
		reply_fail(c, m->id, status, status == 409 ? IPC_ERR_CONFLICT : IPC_ERR_INTERNAL,
			   NULL, "%s", cause);
		free(cause);
		break;
	}
	return (0);
}

int
ops_submit(struct client *c, const struct ipc_msg *m)
{
	struct jobsd *jsd = c->jsd;
	const msgpack_object *params;
	const char *s, *src;
	struct job j;
	size_t len, i;
	uint64_t no;
	char *cause = NULL;
	int type, rc;

	if ((rc = get_str(c, m, "job_type", &s, &len)) == -1)
		return (0);
	if (rc == 1) {
		reply_fail(c, m->id, 400, IPC_ERR_INVALID, "job_type", "job_type is required");
		return (0);
	}
	if ((type = job_type_parse(s, len)) == -1) {
		reply_fail(c, m->id, 400, IPC_ERR_INVALID, "job_type", "unknown job_type '%.*s'",
			   (int)(len > 64 ? 64 : len), s);
		return (0);
	}
	job_init(&j);
	j.type = (enum job_type)type;
	j.status = JOB_PENDING;

	params = ipc_get(&m->body, "parameters");
	if (params != NULL && params->type != MSGPACK_OBJECT_NIL) {
		if (params->type != MSGPACK_OBJECT_MAP) {
			reply_fail(c, m->id, 400, IPC_ERR_INVALID, "parameters",
				   "parameters must be an object of strings");
			goto out;
		}
		if (params->via.map.size > JOB_MAX_PARAMS) {
			reply_fail(c, m->id, 400, IPC_ERR_INVALID, "parameters",
				   "at most %d parameters", JOB_MAX_PARAMS);
			goto out;
		}
		for (i = 0; i < params->via.map.size; i++) {
			const msgpack_object_kv *kv = &params->via.map.ptr[i];
			char *k, *v;

			if (kv->key.type != MSGPACK_OBJECT_STR ||
			    kv->val.type != MSGPACK_OBJECT_STR || kv->key.via.str.size == 0 ||
			    kv->key.via.str.size > 64 || kv->val.via.str.size > 1024 ||
			    memchr(kv->key.via.str.ptr, '\0', kv->key.via.str.size) != NULL ||
			    memchr(kv->val.via.str.ptr, '\0', kv->val.via.str.size) != NULL) {
				reply_fail(c, m->id, 400, IPC_ERR_INVALID, "parameters",
					   "parameters must map names to strings");
				goto out;
			}
			k = xstrndup(kv->key.via.str.ptr, kv->key.via.str.size);
			v = xstrndup(kv->val.via.str.ptr, kv->val.via.str.size);
			if (job_param_get(&j, k) != NULL) {
				reply_fail(c, m->id, 400, IPC_ERR_INVALID, "parameters",
					   "duplicate parameter '%s'", k);
				free(k);
				free(v);
				goto out;
			}
			job_param_add(&j, k, v);
			free(k);
			free(v);
		}
	}
	src = job_param_get(&j, "source");
	if (src != NULL && config_source(&jsd->conf, src) == NULL) {
		reply_fail(c, m->id, 400, IPC_ERR_INVALID, "parameters.source",
			   "unknown source '%s'", src);
		goto out;
	}
	if (queue_is_sync(j.type) && jsd->conf.nsources == 0) {
		reply_fail(c, m->id, 400, IPC_ERR_INVALID, "job_type",
			   "%s needs a source and none is configured", job_type_name(j.type));
		goto out;
	}
	if (c->is_http) {
		if (get_str(c, m, "by", &s, &len) == -1)
			goto out;
		if (s != NULL)
			snprintf(j.requested_by, sizeof(j.requested_by), "%.*s", (int)len, s);
	} else
		snprintf(j.requested_by, sizeof(j.requested_by), "%s", c->user);

	if (commit_job_alloc(jsd, &no, &cause) != 0) {
		internal_error(c, m->id, "submit: job id", cause);
		goto out;
	}
	j.no = no;
	j.created_ms = time_now_ms();
	if (commit_job_put(jsd, &j, &cause) != 0) {
		internal_error(c, m->id, "submit", cause);
		goto out;
	}
	{
		char id[32];
		job_id_format(no, id);
		log_info("%s: %s submitted by %s", id, job_type_name(j.type),
			 j.requested_by[0] ? j.requested_by : "?");
	}
	reply_job(c, m->id, &j);
	supervisor_enqueue(jsd, &j);
	supervisor_schedule(jsd);
out:
	job_free(&j);
	return (0);
}

struct log_reply {
	msgpack_packer *pk;
	size_t n;
	int64_t *ts;
	int *level;
	char **text;
	size_t cap;
};

static int
log_cb(int64_t ts_ms, int level, const char *text, void *arg)
{
	struct log_reply *lr = arg;

	if (lr->n == lr->cap) {
		lr->cap = lr->cap ? lr->cap * 2 : 64;
		lr->ts = xrealloc(lr->ts, lr->cap * sizeof(*lr->ts));
		lr->level = xrealloc(lr->level, lr->cap * sizeof(*lr->level));
		lr->text = xrealloc(lr->text, lr->cap * sizeof(*lr->text));
	}
	lr->ts[lr->n] = ts_ms;
	lr->level[lr->n] = level;
	lr->text[lr->n] = xstrdup(text);
	lr->n++;
	return (0);
}

int
ops_log(struct client *c, const struct ipc_msg *m)
{
	struct log_reply lr;
	msgpack_packer *pk;
	struct job j;
	uint64_t no;
	char *cause = NULL, id[32];
	size_t i;
	int rc;

	if (get_id(c, m, &no) == -1)
		return (0);
	if (live_job(c->jsd, no) == NULL) {
		rc = store_job_get(c->jsd->store, no, &j, &cause);
		if (rc == STORE_NOTFOUND) {
			job_id_format(no, id);
			reply_fail(c, m->id, 404, IPC_ERR_NOT_FOUND, NULL, "job %s not found", id);
			return (0);
		}
		if (rc != 0) {
			internal_error(c, m->id, "log", cause);
			return (0);
		}
		job_free(&j);
	}
	memset(&lr, 0, sizeof(lr));
	if (store_job_log_read(c->jsd->store, no, log_cb, &lr, &cause) != 0) {
		internal_error(c, m->id, "log", cause);
		goto out;
	}
	pk = reply_begin(c, m->id);
	msgpack_pack_map(pk, 1);
	ipc_pack_str(pk, "lines");
	msgpack_pack_array(pk, lr.n);
	for (i = 0; i < lr.n; i++) {
		msgpack_pack_map(pk, 3);
		ipc_pack_kv_int(pk, "ts", lr.ts[i]);
		ipc_pack_kv_int(pk, "level", lr.level[i]);
		ipc_pack_kv_str(pk, "text", lr.text[i]);
	}
	reply_end(c);
out:
	for (i = 0; i < lr.n; i++)
		free(lr.text[i]);
	free(lr.ts);
	free(lr.level);
	free(lr.text);
	return (0);
}

/* --- list ------------------------------------------------------------------------ */

/* "first": an integer or a string of digits, 1..1000. */
static int
list_first(struct client *c, const struct ipc_msg *m, uint32_t *first)
{
	const msgpack_object *o = ipc_get(&m->body, "first");
	int64_t v = -1;
	size_t i;

	if (o == NULL || o->type == MSGPACK_OBJECT_NIL)
		return (0);
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		v = o->via.u64 > LIST_FIRST_MAX ? LIST_FIRST_MAX + 1 : (int64_t)o->via.u64;
	else if (o->type == MSGPACK_OBJECT_STR && o->via.str.size > 0 &&
		 o->via.str.size <= 4) {
		v = 0;
		for (i = 0; i < o->via.str.size; i++) {
			if (!isdigit((unsigned char)o->via.str.ptr[i])) {
				v = -1;
				break;
			}
			v = v * 10 + (o->via.str.ptr[i] - '0');
		}
		if (o->via.str.size > 1 && o->via.str.ptr[0] == '0')
			v = -1;
	}
	if (v < 1 || v > LIST_FIRST_MAX) {
		reply_fail(c, m->id, 400, IPC_ERR_INVALID, "first",
			   "first must be an integer from 1 to %d", LIST_FIRST_MAX);
		return (-1);
	}
	*first = (uint32_t)v;
	return (0);
}

static int
list_date(struct client *c, const struct ipc_msg *m, const char *key, bool end_of_day,
	  bool *has, int64_t *ms)
{
	const char *s;
	size_t len;
	int rc;

	if ((rc = get_str(c, m, key, &s, &len)) == -1)
		return (-1);
	if (rc == 1)
		return (0);
	if (time_parse_iso8601(s, len, end_of_day, ms) == -1) {
		reply_fail(c, m->id, 400, IPC_ERR_INVALID, key,
			   "%s must be an ISO 8601 date or date-time", key);
		return (-1);
	}
	*has = true;
	return (0);
}

int
ops_list(struct client *c, const struct ipc_msg *m)
{
	struct jobsd *jsd = c->jsd;
	struct job_query q;
	struct job *jobs = NULL;
	msgpack_packer *pk;
	const char *s;
	size_t len, n = 0, i;
	bool has_more = false;
	char *cause = NULL, cursor[CURSOR_MAX_LEN];
	int rc, v;

	job_query_init(&q);
	if ((rc = get_str(c, m, "status", &s, &len)) == -1)
		return (0);
	if (rc == 0) {
		if ((v = job_status_parse(s, len)) == -1) {
			reply_fail(c, m->id, 400, IPC_ERR_INVALID, "status",
				   "status must be one of pending, running, completed, failed, "
				   "cancelled");
			return (0);
		}
		q.status = v;
	}
	if ((rc = get_str(c, m, "job_type", &s, &len)) == -1)
		return (0);
	if (rc == 0) {
		if ((v = job_type_parse(s, len)) == -1) {
			reply_fail(c, m->id, 400, IPC_ERR_INVALID, "job_type",
				   "unknown job_type '%.*s'", (int)(len > 64 ? 64 : len), s);
			return (0);
		}
		q.type = v;
	}
	if (list_date(c, m, "start_date", false, &q.has_from, &q.from_ms) == -1 ||
	    list_date(c, m, "end_date", true, &q.has_to, &q.to_ms) == -1)
		return (0);
	if (q.has_from && q.has_to && q.from_ms > q.to_ms) {
		reply_fail(c, m->id, 400, IPC_ERR_INVALID, "start_date",
			   "start_date is after end_date");
		return (0);
	}
	if (list_first(c, m, &q.first) == -1)
		return (0);
	if ((rc = get_str(c, m, "after", &s, &len)) == -1)
		return (0);
	if (rc == 0 && cursor_decode(store_cursor_key(jsd->store), s, len, &q) == -1) {
		reply_fail(c, m->id, 400, IPC_ERR_INVALID, "after", "invalid cursor");
		return (0);
	}

	jobs = xcalloc(q.first, sizeof(*jobs));
	if (store_jobs_list(jsd->store, &q, jobs, &n, &has_more, &cause) != 0) {
		internal_error(c, m->id, "list", cause);
		free(jobs);
		return (0);
	}
	pk = reply_begin(c, m->id);
	msgpack_pack_map(pk, 3);
	ipc_pack_str(pk, "jobs");
	msgpack_pack_array(pk, n);
	for (i = 0; i < n; i++) {
		const struct job *lj = live_job(jsd, jobs[i].no);
		job_pack(pk, lj != NULL ? lj : &jobs[i]);
	}
	ipc_pack_kv_bool(pk, "has_next", has_more);
	if (n > 0) {
		q.has_after = true;
		q.after_no = jobs[n - 1].no;
		q.after_start_ms = jobs[n - 1].start_ms;
		cursor_encode(store_cursor_key(jsd->store), &q, cursor, sizeof(cursor));
		ipc_pack_kv_str(pk, "end_cursor", cursor);
	} else
		ipc_pack_kv_str(pk, "end_cursor", NULL);
	reply_end(c);
	for (i = 0; i < n; i++)
		job_free(&jobs[i]);
	free(jobs);
	return (0);
}
