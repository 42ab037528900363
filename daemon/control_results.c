/* control_results.c: MSG_CTL_RESULTS {resource, id?, policy?, subject_kind?, kind?, first?,
 * after?}: one page of an analysis results list, or one record, read from the store with
 * the same resources, filters and cursors as the REST API (store_results_query.c). The
 * records go back as their stored msgpack maps; jobctl renders them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control_results.h"
#include "log.h"
#include "store_results.h"

static const char *const body_keys[] = {"resource", "id",    "policy", "subject_kind",
					"kind",     "first", "after"};

struct items {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t n;
};

static int
item_cb(const char *id, size_t idlen, const msgpack_object *map, void *arg)
{
	struct items *it = arg;

	msgpack_pack_map(&it->pk, 2);
	ipc_pack_str(&it->pk, "id");
	ipc_pack_strn(&it->pk, id, idlen);
	ipc_pack_str(&it->pk, "value");
	msgpack_pack_object(&it->pk, *map);
	it->n++;
	return (0);
}

/* Append already packed objects to the reply. */
static void
raw(msgpack_packer *pk, const msgpack_sbuffer *sb)
{
	if (sb->size > 0)
		pk->callback(pk->data, sb->data, sb->size);
}

/* An optional string field copied out (NUL-terminated); -1 after a 400. */
static int
opt_str(struct client *c, const struct ipc_msg *m, const char *key, char **out, size_t *len)
{
	const char *s;
	size_t n;
	int rc;

	*out = NULL;
	if ((rc = ipc_get_str(&m->body, key, &s, &n)) == -1 ||
	    (rc == 0 && memchr(s, '\0', n) != NULL)) {
		reply_fail(c, m->id, 400, IPC_ERR_INVALID, key, "%s must be a string", key);
		return (-1);
	}
	if (rc == 0) {
		*out = xstrndup(s, n);
		if (len != NULL)
			*len = n;
	}
	return (0);
}

static void
fail(struct client *c, uint32_t id, const struct results_err *e, char *cause)
{
	if (e->status == 500 || e->status == 0) {
		log_warnx("results: %s", cause != NULL ? cause : "error");
		free(cause);
		reply_fail(c, id, 500, IPC_ERR_INTERNAL, NULL, "internal error");
		return;
	}
	free(cause);
	reply_fail(c, id, e->status, e->code, e->parameter, "%s", e->message);
}

int
ops_results(struct client *c, const struct ipc_msg *m)
{
	const msgpack_object_kv *kv;
	struct results_query q;
	struct results_err e;
	struct items it;
	msgpack_packer *pk;
	char *res = NULL, *id = NULL, *policy = NULL, *skind = NULL, *kind = NULL;
	char *after = NULL, *cause = NULL, *end = NULL;
	size_t idlen = 0, afterlen = 0, i, k;
	int64_t first = RESULTS_FIRST_DEFAULT;
	bool more = false;
	int r, rc;

	for (i = 0; i < m->body.via.map.size; i++) {
		kv = &m->body.via.map.ptr[i];
		for (k = 0; k < sizeof(body_keys) / sizeof(body_keys[0]); k++) {
			if (kv->key.type == MSGPACK_OBJECT_STR &&
			    kv->key.via.str.size == strlen(body_keys[k]) &&
			    memcmp(kv->key.via.str.ptr, body_keys[k], kv->key.via.str.size) == 0)
				break;
		}
		if (k == sizeof(body_keys) / sizeof(body_keys[0])) {
			char name[64] = "";

			if (kv->key.type == MSGPACK_OBJECT_STR)
				snprintf(name, sizeof(name), "%.*s",
					 (int)(kv->key.via.str.size < 63 ? kv->key.via.str.size : 63),
					 kv->key.via.str.ptr);
			reply_fail(c, m->id, 400, IPC_ERR_UNKNOWN, name[0] != '\0' ? name : NULL,
				   "unknown parameter '%s'", name);
			return (0);
		}
	}
	if (opt_str(c, m, "resource", &res, NULL) == -1 || opt_str(c, m, "id", &id, &idlen) == -1 ||
	    opt_str(c, m, "policy", &policy, NULL) == -1 ||
	    opt_str(c, m, "subject_kind", &skind, NULL) == -1 ||
	    opt_str(c, m, "kind", &kind, NULL) == -1 ||
	    opt_str(c, m, "after", &after, &afterlen) == -1)
		goto out;
	if (res == NULL || (r = results_res_parse(res, strlen(res))) == -1) {
		reply_fail(c, m->id, 400, IPC_ERR_INVALID, "resource", "unknown resource");
		goto out;
	}
	if ((rc = ipc_get_int(&m->body, "first", &first)) == -1 || first < 1 ||
	    first > RESULTS_FIRST_MAX) {
		reply_fail(c, m->id, 400, IPC_ERR_INVALID, "first",
			   "first must be an integer from 1 to %d", RESULTS_FIRST_MAX);
		goto out;
	}
	results_query_init(&q, (enum results_res)r);
	q.id = id;
	q.idlen = idlen;
	q.policy = policy;
	q.subject_kind = skind;
	q.kind = kind;
	q.first = (uint32_t)first;
	q.after = after;
	q.afterlen = afterlen;

	memset(&it, 0, sizeof(it));
	msgpack_sbuffer_init(&it.sb);
	msgpack_packer_init(&it.pk, &it.sb, msgpack_sbuffer_write);
	if (results_res_is_list(q.res))
		rc = results_query_list(c->jsd->store, store_cursor_key(c->jsd->store), &q,
					item_cb, &it, &more, &end, &e, &cause);
	else
		rc = results_query_get(c->jsd->store, &q, item_cb, &it, &e, &cause);
	if (rc != 0) {
		msgpack_sbuffer_destroy(&it.sb);
		fail(c, m->id, &e, cause);
		goto out;
	}
	pk = reply_begin(c, m->id);
	if (results_res_is_list(q.res)) {
		msgpack_pack_map(pk, 3);
		ipc_pack_str(pk, "items");
		msgpack_pack_array(pk, it.n);
		raw(pk, &it.sb);
		ipc_pack_kv_bool(pk, "has_next", more);
		ipc_pack_kv_str(pk, "end_cursor", end);
	} else {
		msgpack_pack_map(pk, 1);
		ipc_pack_str(pk, "item");
		raw(pk, &it.sb);
	}
	reply_end(c);
	msgpack_sbuffer_destroy(&it.sb);
out:
	free(res);
	free(id);
	free(policy);
	free(skind);
	free(kind);
	free(after);
	free(end);
	return (0);
}
