/* analysis_fixture.c: the in-process analysis job fixture of analysis_fixture.h: a temp
 * store, identity and results records written and read straight through the store, and a
 * job run with recording callbacks. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_fixture.h"
#include "log.h"
#include "testlib.h"

struct af_fixture af;

void
af_setup(const char *prefix, int flags)
{
	char *cause = NULL;

	tl_mkdtemp(af.dir, prefix);
	if (store_open(af.dir, STORE_SUPERVISOR, &af.store, &cause) != 0)
		ck_abort_msg("store_open: %s", cause);
	af.ident = NULL;
	if ((flags & AF_IDENTITY) && identity_open(af.store, &af.ident, &cause) != 0)
		ck_abort_msg("identity_open: %s", cause);
}

void
af_teardown(void)
{
	if (af.ident != NULL)
		identity_close(af.ident);
	af.ident = NULL;
	store_close(af.store);
	af.store = NULL;
	tl_rm_rf(af.dir);
}

/* --- identity records --------------------------------------------------------------- */

/* The fixture's identity handle, or one opened for this call (*opened set). */
static struct identity *
ident_get(bool *opened)
{
	struct identity *ident;
	char *cause = NULL;

	*opened = false;
	if (af.ident != NULL)
		return af.ident;
	if (identity_open(af.store, &ident, &cause) != 0)
		ck_abort_msg("identity_open: %s", cause);
	*opened = true;
	return ident;
}

void
af_put(enum ident_type t, const void *key, size_t klen, struct ident_field *f, size_t n)
{
	struct identity *ident;
	msgpack_sbuffer sb;
	char *cause = NULL;
	bool opened;

	msgpack_sbuffer_init(&sb);
	identity_encode(&sb, f, n, 1);
	ident = ident_get(&opened);
	if (identity_put(ident, NULL, t, key, klen, sb.data, sb.size, &cause) != 0)
		ck_abort_msg("identity_put: %s", cause);
	if (opened)
		identity_close(ident);
	msgpack_sbuffer_destroy(&sb);
}

void
af_vrecord(enum ident_type t, const char *id, va_list ap)
{
	struct ident_field f[16];
	const char *name, *value;
	size_t n = 0;

	f[n].name = "id";
	f[n].value = id;
	f[n++].len = strlen(id);
	while ((name = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		if (value == NULL)
			continue;
		ck_assert_msg(n < sizeof f / sizeof f[0], "af_record: too many fields");
		f[n].name = name;
		f[n].value = value;
		f[n++].len = strlen(value);
	}
	af_put(t, id, strlen(id), f, n);
}

void
af_record(enum ident_type t, const char *id, ...)
{
	va_list ap;

	va_start(ap, id);
	af_vrecord(t, id, ap);
	va_end(ap);
}

static void
del_key(enum ident_type t, const void *key, size_t klen)
{
	struct identity *ident;
	char *cause = NULL;
	bool opened;
	int ret;

	ident = ident_get(&opened);
	ret = identity_del(ident, NULL, t, key, klen, &cause);
	if (ret != 0)
		ck_abort_msg("identity_del: %s", ret == -1 ? cause : "no such record");
	if (opened)
		identity_close(ident);
}

void
af_del(enum ident_type t, const char *id)
{
	del_key(t, id, strlen(id));
}

/* The membership key a '\0' g into k (256 bytes). */
static size_t
membership_key(char *k, const char *a, const char *g)
{
	size_t alen = strlen(a), glen = strlen(g);

	ck_assert(alen + 1 + glen <= 256);
	memcpy(k, a, alen + 1);
	memcpy(k + alen + 1, g, glen);
	return alen + 1 + glen;
}

void
af_membership(const char *a, const char *g)
{
	struct ident_field f[3] = {
		{.name = "account_id", .value = a, .len = strlen(a)},
		{.name = "group_id", .value = g, .len = strlen(g)},
		{.name = "modified_at", .value = "2025-01-01T00:00:00Z", .len = 20},
	};
	char k[256];
	size_t klen = membership_key(k, a, g);

	af_put(IDENT_MEMBERSHIP, k, klen, f, 3);
}

void
af_del_membership(const char *a, const char *g)
{
	char k[256];
	size_t klen = membership_key(k, a, g);

	del_key(IDENT_MEMBERSHIP, k, klen);
}

/* --- results records ---------------------------------------------------------------- */

static DB *
db_open(const char *dbname)
{
	DB *db;
	char *cause = NULL;

	if (store_db_open(af.store, dbname, DB_BTREE, 0, &db, &cause) != 0)
		ck_abort_msg("store_db_open %s: %s", dbname, cause);
	return db;
}

static void
dbt_str(DBT *d, const char *s)
{
	memset(d, 0, sizeof *d);
	d->data = (void *)(uintptr_t)s;
	d->size = (u_int32_t)strlen(s);
}

void
af_db_put(const char *dbname, const char *key, const msgpack_sbuffer *sb)
{
	DB *db = db_open(dbname);
	DBT k, v;

	dbt_str(&k, key);
	memset(&v, 0, sizeof v);
	v.data = sb->data;
	v.size = (u_int32_t)sb->size;
	ck_assert_int_eq(db->put(db, NULL, &k, &v, 0), 0);
	db->close(db, 0);
}

void
af_res_put(const char *dbname, const char *key, const char *f1, const char *v1,
    const char *f2, const char *v2)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, f2 != NULL ? 3 : 2);
	msgpack_pack_str_with_body(&pk, f1, strlen(f1));
	msgpack_pack_str_with_body(&pk, v1, strlen(v1));
	if (f2 != NULL) {
		msgpack_pack_str_with_body(&pk, f2, strlen(f2));
		msgpack_pack_str_with_body(&pk, v2, strlen(v2));
	}
	msgpack_pack_str_with_body(&pk, "_job", 4);
	msgpack_pack_uint64(&pk, 99);
	af_db_put(dbname, key, &sb);
	msgpack_sbuffer_destroy(&sb);
}

void
af_res_del(const char *dbname, const char *key)
{
	DB *db = db_open(dbname);
	DBT k;

	dbt_str(&k, key);
	ck_assert_int_eq(db->del(db, NULL, &k, 0), 0);
	db->close(db, 0);
}

/* A growing NUL-terminated string. */
struct text {
	char *s;
	size_t len, cap;
};

static void
tput(struct text *t, const char *p, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->s = xrealloc(t->s, t->cap);
	}
	memcpy(t->s + t->len, p, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static void
tputs(struct text *t, const char *p)
{
	tput(t, p, strlen(p));
}

static void __attribute__((format(printf, 2, 3)))
tprintf(struct text *t, const char *fmt, ...)
{
	char *add;
	va_list ap;

	va_start(ap, fmt);
	ck_assert(vasprintf(&add, fmt, ap) != -1);
	va_end(ap);
	tputs(t, add);
	free(add);
}

/* A value: strings bare, arrays [a,b], nil "nil", maps and the rest "?". */
static void
render(struct text *t, const msgpack_object *o)
{
	uint32_t i;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		tputs(t, "nil");
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		tprintf(t, "%llu", (unsigned long long)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		tprintf(t, "%lld", (long long)o->via.i64);
		break;
	case MSGPACK_OBJECT_STR:
		tput(t, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_ARRAY:
		tputs(t, "[");
		for (i = 0; i < o->via.array.size; i++) {
			if (i > 0)
				tputs(t, ",");
			render(t, &o->via.array.ptr[i]);
		}
		tputs(t, "]");
		break;
	default:
		tputs(t, "?");
		break;
	}
}

char *
af_dump(const char *dbname, bool raw)
{
	struct text t = {NULL, 0, 0};
	msgpack_unpacked u;
	DB *db = db_open(dbname);
	DBC *c;
	DBT k, v;
	size_t off, i;
	uint32_t j;

	tputs(&t, "");
	ck_assert_int_eq(db->cursor(db, NULL, &c, 0), 0);
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	msgpack_unpacked_init(&u);
	while (c->get(c, &k, &v, DB_NEXT) == 0) {
		for (i = 0; i < k.size; i++)
			tput(&t, ((char *)k.data)[i] == '\x1f' ? "/" : (char *)k.data + i, 1);
		if (raw) {
			tputs(&t, " ");
			for (i = 0; i < v.size; i++)
				tprintf(&t, "%02x", ((unsigned char *)v.data)[i]);
			tputs(&t, "\n");
			continue;
		}
		off = 0;
		ck_assert(msgpack_unpack_next(&u, v.data, v.size, &off) ==
		    MSGPACK_UNPACK_SUCCESS);
		ck_assert(u.data.type == MSGPACK_OBJECT_MAP);
		for (j = 0; j < u.data.via.map.size; j++) {
			const msgpack_object_kv *kv = &u.data.via.map.ptr[j];

			if (kv->key.via.str.size > 0 && kv->key.via.str.ptr[0] == '_')
				continue;
			tputs(&t, " ");
			tput(&t, kv->key.via.str.ptr, kv->key.via.str.size);
			tputs(&t, "=");
			render(&t, &kv->val);
		}
		tputs(&t, "\n");
	}
	msgpack_unpacked_destroy(&u);
	c->close(c);
	db->close(db, 0);
	return t.s;
}

void
af_expect_dump(const char *dbname, const char *want)
{
	char *got = af_dump(dbname, false);

	ck_assert_msg(strcmp(got, want) == 0, "%s:\n%s\nwant:\n%s", dbname, got, want);
	free(got);
}

char *
af_res(const char *dbname, const char *key)
{
	struct text t = {NULL, 0, 0};
	msgpack_unpacked u;
	msgpack_object_kv *kv;
	DB *db = db_open(dbname);
	DBT k, v;
	size_t off = 0;
	uint32_t i;
	int ret;

	dbt_str(&k, key);
	memset(&v, 0, sizeof v);
	v.flags = DB_DBT_MALLOC;
	ret = db->get(db, NULL, &k, &v, 0);
	db->close(db, 0);
	if (ret == DB_NOTFOUND)
		return NULL;
	ck_assert_int_eq(ret, 0);
	msgpack_unpacked_init(&u);
	ck_assert(msgpack_unpack_next(&u, v.data, v.size, &off) == MSGPACK_UNPACK_SUCCESS);
	ck_assert(u.data.type == MSGPACK_OBJECT_MAP);
	tputs(&t, "");
	for (i = 0; i < u.data.via.map.size; i++) {
		kv = &u.data.via.map.ptr[i];
		if (kv->key.via.str.size == 4 && memcmp(kv->key.via.str.ptr, "_job", 4) == 0) {
			ck_assert_int_eq(i, u.data.via.map.size - 1);
			continue;
		}
		tput(&t, kv->key.via.str.ptr, kv->key.via.str.size);
		tputs(&t, "=");
		render(&t, &kv->val);
		tputs(&t, ";");
	}
	msgpack_unpacked_destroy(&u);
	free(v.data);
	return t.s;
}

void
af_expect_res(const char *dbname, const char *key, const char *want)
{
	char *got = af_res(dbname, key);

	if (want == NULL) {
		ck_assert_msg(got == NULL, "%s %s: %s", dbname, key, got);
		return;
	}
	ck_assert_msg(got != NULL, "%s %s: no record", dbname, key);
	ck_assert_msg(strcmp(got, want) == 0, "%s %s:\n got  %s\n want %s", dbname, key, got,
	    want);
	free(got);
}

uint64_t
af_count_db(const char *dbname)
{
	DB *db = db_open(dbname);
	DBC *c;
	DBT k, v;
	uint64_t n = 0;

	ck_assert_int_eq(db->cursor(db, NULL, &c, 0), 0);
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	while (c->get(c, &k, &v, DB_NEXT) == 0)
		n++;
	c->close(c);
	db->close(db, 0);
	return n;
}

/* --- running a job ------------------------------------------------------------------- */

static void
t_step(struct job_ctx *ctx, const char *step, int64_t total)
{
	struct af_job *t = ctx->arg;
	size_t len = strlen(t->steps);

	snprintf(t->steps + len, sizeof t->steps - len, "%s;", step);
	if (!t->seen_write && strncmp(step, "Writing", 7) == 0) {
		t->seen_write = true;
		t->nprogress_before_write = t->nprogress;
	}
}

static void
t_progress(struct job_ctx *ctx)
{
	struct af_job *t = ctx->arg;

	if (ctx->processed < t->last_processed)
		t->progress_went_back = true;
	t->last_processed = ctx->processed;
	if (ctx->progress >= 0) {
		if (t->nprogress > 0 && ctx->progress < t->progress[t->nprogress - 1])
			t->progress_went_back = true;
		if ((t->nprogress == 0 || ctx->progress != t->progress[t->nprogress - 1]) &&
		    t->nprogress < sizeof t->progress / sizeof t->progress[0])
			t->progress[t->nprogress++] = ctx->progress;
	}
}

static void
t_log(struct job_ctx *ctx, int level, const char *text)
{
	struct af_job *t = ctx->arg;
	size_t len = strlen(t->log);

	snprintf(t->log + len, sizeof t->log - len, "%s\n", text);
}

static bool
t_cancelled(struct job_ctx *ctx)
{
	struct af_job *t = ctx->arg;

	return ++t->cancel_calls == t->cancel_on;
}

static struct af_job *
job_new(enum job_type type, uint64_t no)
{
	struct af_job *t = xcalloc(1, sizeof *t);

	job_init(&t->job);
	t->job.no = no;
	t->job.type = type;
	snprintf(t->conf.data_dir, sizeof t->conf.data_dir, "%s", af.dir);
	t->conf.progress_interval_ms = 0;
	return t;
}

/* Add the parameter "k=v". */
static void
job_param(struct af_job *t, const char *kv)
{
	const char *eq = strchr(kv, '=');
	char *k;

	ck_assert_msg(eq != NULL, "parameter %s: no =", kv);
	k = xstrndup(kv, (size_t)(eq - kv));
	job_param_add(&t->job, k, eq + 1);
	free(k);
}

struct af_job *
af_job_new(enum job_type type, uint64_t no, const char *const *params)
{
	struct af_job *t = job_new(type, no);

	for (; params != NULL && *params != NULL; params++)
		job_param(t, *params);
	return t;
}

struct af_job *
af_job_newv(enum job_type type, uint64_t no, va_list ap)
{
	struct af_job *t = job_new(type, no);
	const char *kv;

	while ((kv = va_arg(ap, const char *)) != NULL)
		job_param(t, kv);
	return t;
}

void
af_job_run(struct af_job *t, int cancel_on)
{
	char *cause = NULL;

	if (job_ctx_init(&t->ctx, af.store, &t->job, &t->conf, &cause) != 0)
		ck_abort_msg("job_ctx_init: %s", cause);
	t->ctx.on_step = t_step;
	t->ctx.on_progress = t_progress;
	t->ctx.on_log = t_log;
	t->ctx.on_cancelled = t_cancelled;
	t->ctx.arg = t;
	t->cancel_on = cancel_on;
	t->rv = job_run(&t->ctx, &t->error);
}

void
af_job_free(struct af_job *t)
{
	free(t->error);
	job_free(&t->job);
	free(t);
}

void
af_expect(struct af_job *t, int rv, int64_t c, int64_t u, int64_t d)
{
	ck_assert_msg(t->rv == rv, "rv %d, error %s, log:\n%s", t->rv,
	    t->error ? t->error : "-", t->log);
	ck_assert_msg(t->ctx.created == c && t->ctx.updated == u && t->ctx.deleted == d,
	    "counters %lld/%lld/%lld, want %lld/%lld/%lld; log:\n%s",
	    (long long)t->ctx.created, (long long)t->ctx.updated, (long long)t->ctx.deleted,
	    (long long)c, (long long)u, (long long)d, t->log);
}
