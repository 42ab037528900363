/* store_log.c: per-job log lines in the "joblog" database, keyed [no BE][line u32 BE] so a
 * job's lines are one key range in order. Capped at STORE_LOG_MAX_LINES lines per job; then
 * one last line counts what was dropped. Values are msgpack {ts, level, text, dropped}. */
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "log.h"
#include "store_internal.h"

#define LOG_TEXT_MAX 4096

struct log_line {
	int64_t ts_ms;
	int level;
	char *text;
	uint64_t dropped; /* only on the final "... more lines dropped" line */
};

static void
log_key(uint8_t key[12], uint64_t no, uint32_t line)
{
	store_be64(key, no);
	store_be32(key + 8, line);
}

static void
log_encode(msgpack_sbuffer *buf, const struct log_line *l)
{
	msgpack_packer pk;
	size_t len = strlen(l->text);

	msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, l->dropped != 0 ? 4 : 3);
	msgpack_pack_str(&pk, 2);
	msgpack_pack_str_body(&pk, "ts", 2);
	msgpack_pack_int64(&pk, l->ts_ms);
	msgpack_pack_str(&pk, 5);
	msgpack_pack_str_body(&pk, "level", 5);
	msgpack_pack_int(&pk, l->level);
	msgpack_pack_str(&pk, 4);
	msgpack_pack_str_body(&pk, "text", 4);
	msgpack_pack_str(&pk, len);
	msgpack_pack_str_body(&pk, l->text, len);
	if (l->dropped != 0) {
		msgpack_pack_str(&pk, 7);
		msgpack_pack_str_body(&pk, "dropped", 7);
		msgpack_pack_uint64(&pk, l->dropped);
	}
}

static bool
key_is(const msgpack_object *k, const char *name)
{
	size_t n = strlen(name);

	return (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
		memcmp(k->via.str.ptr, name, n) == 0);
}

/* Decode a line; text is malloc'd. -1 on a malformed value. */
static int
log_decode(const void *data, size_t len, struct log_line *l)
{
	msgpack_unpacked u;
	msgpack_object *o;
	uint32_t i;
	int r = -1;

	memset(l, 0, sizeof(*l));
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, data, len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    u.data.type != MSGPACK_OBJECT_MAP)
		goto out;
	for (i = 0; i < u.data.via.map.size; i++) {
		msgpack_object_kv *kv = &u.data.via.map.ptr[i];

		o = &kv->val;
		if (key_is(&kv->key, "ts") && (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
					       o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER))
			l->ts_ms = o->via.i64;
		else if (key_is(&kv->key, "level") &&
			 (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
			  o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER))
			l->level = (int)o->via.i64;
		else if (key_is(&kv->key, "text") && o->type == MSGPACK_OBJECT_STR) {
			free(l->text);
			l->text = xstrndup(o->via.str.ptr, o->via.str.size);
		} else if (key_is(&kv->key, "dropped") &&
			   o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
			l->dropped = o->via.u64;
	}
	if (l->text != NULL)
		r = 0;
out:
	msgpack_unpacked_destroy(&u);
	return (r);
}

static int
log_put(struct store *s, DB_TXN *txn, uint64_t no, uint32_t line, const struct log_line *l,
	char **cause)
{
	msgpack_sbuffer buf;
	uint8_t kb[12];
	DBT k, d;
	int ret;

	msgpack_sbuffer_init(&buf);
	log_encode(&buf, l);
	log_key(kb, no, line);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = kb;
	k.size = sizeof(kb);
	d.data = buf.data;
	d.size = buf.size;
	ret = s->joblog->put(s->joblog, txn, &k, &d, 0);
	msgpack_sbuffer_destroy(&buf);
	if (ret != 0) {
		if (store_retryable(ret))
			return (ret);
		*cause = store_cause(s, ret, "append log line of job-%llu",
				     (unsigned long long)no);
		return (-1);
	}
	return (0);
}

struct append_arg {
	uint64_t no;
	struct log_line line;
	char *cause;
};

/* Find the job's last line (seek the next job's first key, step back), then append. */
static int
append_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct append_arg *a = arg;
	struct log_line last, drop;
	uint8_t kb[12], seek[12];
	DBT k, d;
	DBC *dbc = NULL;
	uint32_t next = 0;
	int ret, r = 0;
	char text[64];

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	log_key(seek, a->no + 1, 0);
	memcpy(kb, seek, sizeof(kb));
	k.data = kb;
	k.size = sizeof(kb);
	k.ulen = sizeof(kb);
	k.flags = DB_DBT_USERMEM;
	d.flags = DB_DBT_REALLOC;
	if ((ret = s->joblog->cursor(s->joblog, txn, &dbc, 0)) != 0)
		goto dberr;
	ret = dbc->get(dbc, &k, &d, DB_SET_RANGE | DB_RMW);
	if (ret == 0)
		ret = dbc->get(dbc, &k, &d, DB_PREV | DB_RMW);
	else if (ret == DB_NOTFOUND)
		ret = dbc->get(dbc, &k, &d, DB_LAST | DB_RMW);
	if (ret != 0 && ret != DB_NOTFOUND)
		goto dberr;
	if (ret == 0 && k.size == sizeof(kb) && store_get_be64(kb) == a->no)
		next = store_get_be32(kb + 8) + 1;
	dbc->close(dbc);
	dbc = NULL;

	if (next < STORE_LOG_MAX_LINES)
		r = log_put(s, txn, a->no, next, &a->line, &a->cause);
	else {
		memset(&drop, 0, sizeof(drop));
		drop.ts_ms = a->line.ts_ms;
		drop.level = LOG_LVL_WARN;
		drop.dropped = 1;
		if (next > STORE_LOG_MAX_LINES && log_decode(d.data, d.size, &last) == 0) {
			drop.dropped = last.dropped + 1;
			free(last.text);
		}
		snprintf(text, sizeof(text), "... %llu more lines dropped",
			 (unsigned long long)drop.dropped);
		drop.text = text;
		r = log_put(s, txn, a->no, STORE_LOG_MAX_LINES, &drop, &a->cause);
	}
	free(d.data);
	return (r);

dberr:
	if (dbc != NULL)
		dbc->close(dbc);
	free(d.data);
	return (store_txn_err(s, ret, &a->cause, "log of job-%llu", (unsigned long long)a->no));
}

int
store_job_log_append(struct store *s, uint64_t no, int64_t ts_ms, int level,
		     const char *text, char **cause)
{
	struct append_arg a;
	size_t len = strlen(text);

	if (s->role == STORE_READER) {
		store_set_cause(cause, xstrdup("store_job_log_append: read-only store"));
		return (-1);
	}
	memset(&a, 0, sizeof(a));
	a.no = no;
	a.line.ts_ms = ts_ms;
	a.line.level = level;
	a.line.text = xstrndup(text, len > LOG_TEXT_MAX ? LOG_TEXT_MAX : len);
	if (store_with_txn(s, DB_TXN_NOSYNC, append_txn, &a, cause) != 0) {
		free(a.line.text);
		if (a.cause != NULL)
			store_set_cause(cause, a.cause);
		return (-1);
	}
	free(a.line.text);
	return (0);
}

struct read_arg {
	uint64_t no;
	struct log_line *lines;
	size_t n, cap;
	char *cause;
};

static void
read_reset(struct read_arg *a)
{
	while (a->n > 0)
		free(a->lines[--a->n].text);
}

static int
read_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct read_arg *a = arg;
	uint8_t kb[12];
	DBT k, d;
	DBC *dbc = NULL;
	uint32_t flag = DB_SET_RANGE;
	int ret;

	read_reset(a);
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	log_key(kb, a->no, 0);
	k.data = kb;
	k.size = sizeof(kb);
	k.ulen = sizeof(kb);
	k.flags = DB_DBT_USERMEM;
	d.flags = DB_DBT_REALLOC;
	if ((ret = s->joblog->cursor(s->joblog, txn, &dbc, 0)) != 0)
		goto dberr;
	for (;;) {
		ret = dbc->get(dbc, &k, &d, flag);
		flag = DB_NEXT;
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0)
			goto dberr;
		if (k.size != sizeof(kb) || store_get_be64(kb) != a->no)
			break;
		if (a->n == a->cap) {
			a->cap = a->cap == 0 ? 64 : a->cap * 2;
			a->lines = xrealloc(a->lines, a->cap * sizeof(*a->lines));
		}
		if (log_decode(d.data, d.size, &a->lines[a->n]) != 0) {
			log_warnx("job-%llu: skipping a malformed log line",
				  (unsigned long long)a->no);
			continue;
		}
		a->n++;
	}
	dbc->close(dbc);
	free(d.data);
	return (0);

dberr:
	if (dbc != NULL)
		dbc->close(dbc);
	free(d.data);
	return (store_txn_err(s, ret, &a->cause, "read log of job-%llu", (unsigned long long)a->no));
}

int
store_job_log_read(struct store *s, uint64_t no, store_log_cb cb, void *arg, char **cause)
{
	struct read_arg a;
	size_t i;
	int r = 0;

	memset(&a, 0, sizeof(a));
	a.no = no;
	if (store_with_txn(s, STORE_READ_TXN, read_txn, &a, cause) != 0) {
		if (a.cause != NULL)
			store_set_cause(cause, a.cause);
		r = -1;
	} else {
		/* Callbacks run outside the transaction. */
		for (i = 0; i < a.n; i++)
			if (cb(a.lines[i].ts_ms, a.lines[i].level, a.lines[i].text, arg) != 0)
				break;
	}
	read_reset(&a);
	free(a.lines);
	return (r);
}

int
store_job_log_delete(struct store *s, DB_TXN *txn, uint64_t no, char **cause)
{
	uint8_t kb[12];
	DBT k, d;
	DBC *dbc = NULL;
	uint32_t flag = DB_SET_RANGE | DB_RMW;
	int ret;

	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	log_key(kb, no, 0);
	k.data = kb;
	k.size = sizeof(kb);
	k.ulen = sizeof(kb);
	k.flags = DB_DBT_USERMEM;
	d.flags = DB_DBT_PARTIAL; /* keys only */
	if ((ret = s->joblog->cursor(s->joblog, txn, &dbc, 0)) != 0)
		goto dberr;
	for (;;) {
		ret = dbc->get(dbc, &k, &d, flag);
		flag = DB_NEXT | DB_RMW;
		if (ret == DB_NOTFOUND)
			break;
		if (ret != 0)
			goto dberr;
		if (k.size != sizeof(kb) || store_get_be64(kb) != no)
			break;
		if ((ret = dbc->del(dbc, 0)) != 0)
			goto dberr;
	}
	dbc->close(dbc);
	return (0);

dberr:
	if (dbc != NULL)
		dbc->close(dbc);
	return (store_txn_err(s, ret, cause, "delete log of job-%llu",
					   (unsigned long long)no));
}
