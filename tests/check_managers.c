/* check_managers.c: the manager_resolution job run in-process on hand-made owner records
 * written with identity_put into a store in a temp dir. Every expected depth, state,
 * cycle and counter below is derived by hand from the records written in the test. */
#include <check.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "lib/testlib.h"
#include "results.h"
#include "store.h"
#include "worker/jobctx.h"

Suite *managers_suite(void);

static char tmpdir[PATH_MAX];
static struct store *store;

struct tjob {
	struct job job;
	struct worker_conf conf;
	struct job_ctx ctx;
	char *error;
	int rv;
	char log[65536];
	int cancel_calls;
	int cancel_on;
	int64_t last_processed;
	bool progress_went_back;
};

static void
setup(void)
{
	char *cause = NULL;

	tl_mkdtemp(tmpdir, "mgr");
	if (store_open(tmpdir, STORE_SUPERVISOR, &store, &cause) != 0)
		ck_abort_msg("store_open: %s", cause);
}

static void
teardown(void)
{
	store_close(store);
	store = NULL;
	tl_rm_rf(tmpdir);
}

static void
t_log(struct job_ctx *ctx, int level, const char *text)
{
	struct tjob *t = ctx->arg;
	size_t len = strlen(t->log);

	snprintf(t->log + len, sizeof t->log - len, "%s\n", text);
}

static void
t_progress(struct job_ctx *ctx)
{
	struct tjob *t = ctx->arg;

	if (ctx->processed < t->last_processed)
		t->progress_went_back = true;
	t->last_processed = ctx->processed;
}

static bool
t_cancelled(struct job_ctx *ctx)
{
	struct tjob *t = ctx->arg;

	return ++t->cancel_calls == t->cancel_on;
}

/* Run manager_resolution with the parameters "k=v"... NULL; conf's manager_ref conf_ref. */
static struct tjob *
run(const char *conf_ref, int cancel_on, ...)
{
	struct tjob *t = calloc(1, sizeof *t);
	const char *kv;
	char *cause = NULL, *k;
	va_list ap;

	job_init(&t->job);
	t->job.no = 7;
	t->job.type = JOB_MANAGER_RESOLUTION;
	va_start(ap, cancel_on);
	while ((kv = va_arg(ap, const char *)) != NULL) {
		k = strdup(kv);
		*strchr(k, '=') = '\0';
		job_param_add(&t->job, k, strchr(kv, '=') + 1);
		free(k);
	}
	va_end(ap);
	snprintf(t->conf.data_dir, sizeof t->conf.data_dir, "%s", tmpdir);
	snprintf(t->conf.manager_ref, sizeof t->conf.manager_ref, "%s", conf_ref);
	t->conf.max_delete_percent = 20;
	ck_assert_int_eq(job_ctx_init(&t->ctx, store, &t->job, &t->conf, &cause), 0);
	t->ctx.on_log = t_log;
	t->ctx.on_progress = t_progress;
	t->ctx.on_cancelled = t_cancelled;
	t->ctx.arg = t;
	t->cancel_on = cancel_on;
	t->rv = job_run(&t->ctx, &t->error);
	return t;
}

static void
tfree(struct tjob *t)
{
	free(t->error);
	job_free(&t->job);
	free(t);
}

static void
expect(struct tjob *t, int rv, int64_t c, int64_t u, int64_t d)
{
	ck_assert_msg(t->rv == rv, "rv %d, error %s, log:\n%s", t->rv,
	    t->error ? t->error : "-", t->log);
	ck_assert_int_eq(t->ctx.created, c);
	ck_assert_int_eq(t->ctx.updated, u);
	ck_assert_int_eq(t->ctx.deleted, d);
	ck_assert(!t->progress_went_back);
}

/* Write owner id with the field pairs name, value, ..., NULL (value NULL: absent). */
static void
owner(const char *id, ...)
{
	struct identity *ident;
	struct ident_field f[16];
	msgpack_sbuffer buf;
	const char *name, *value;
	char *cause = NULL;
	size_t n = 0;
	va_list ap;

	f[n].name = "id";
	f[n].value = id;
	f[n++].len = strlen(id);
	va_start(ap, id);
	while ((name = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		if (value == NULL)
			continue;
		f[n].name = name;
		f[n].value = value;
		f[n++].len = strlen(value);
	}
	va_end(ap);
	msgpack_sbuffer_init(&buf);
	identity_encode(&buf, f, n, 1);
	ck_assert_int_eq(identity_open(store, &ident, &cause), 0);
	ck_assert_int_eq(identity_put(ident, NULL, IDENT_OWNER, id, strlen(id), buf.data,
	    buf.size, &cause), 0);
	identity_close(ident);
	msgpack_sbuffer_destroy(&buf);
}

/* The usual owner: id, employee id, display name, email, manager reference. */
static void
own(const char *id, const char *eid, const char *name, const char *email, const char *mgr)
{
	owner(id, "employee_id", eid, "display_name", name, "email", email, "manager", mgr,
	    NULL);
}

static void
del_owner(const char *id)
{
	struct identity *ident;
	char *cause = NULL;

	ck_assert_int_eq(identity_open(store, &ident, &cause), 0);
	ck_assert_int_eq(identity_del(ident, NULL, IDENT_OWNER, id, strlen(id), &cause), 0);
	identity_close(ident);
}

/* Append to *out (malloc'd). */
static void
cat(char **out, const char *fmt, ...)
{
	char *add, *s;
	va_list ap;

	va_start(ap, fmt);
	ck_assert(vasprintf(&add, fmt, ap) != -1);
	va_end(ap);
	s = xasprintf("%s%s", *out, add);
	free(add);
	free(*out);
	*out = s;
}

static void
render_obj(char **out, const msgpack_object *o)
{
	uint32_t i;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		cat(out, "nil");
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		cat(out, "%llu", (unsigned long long)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		cat(out, "%lld", (long long)o->via.i64);
		break;
	case MSGPACK_OBJECT_STR:
		cat(out, "%.*s", (int)o->via.str.size, o->via.str.ptr);
		break;
	case MSGPACK_OBJECT_ARRAY:
		cat(out, "[");
		for (i = 0; i < o->via.array.size; i++) {
			if (i > 0)
				cat(out, ",");
			render_obj(out, &o->via.array.ptr[i]);
		}
		cat(out, "]");
		break;
	default:
		cat(out, "?");
		break;
	}
}

/* A results record rendered "k=v;k=v;" in map order without "_job"; NULL if absent. */
static char *
res(const char *db, const char *key)
{
	msgpack_unpacked u;
	msgpack_object_kv *kv;
	DB *d;
	DBT k, v;
	char *cause = NULL, *out;
	size_t off = 0;
	uint32_t i;
	int ret;

	ck_assert_int_eq(store_db_open(store, db, DB_BTREE, 0, &d, &cause), 0);
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = (void *)(uintptr_t)key;
	k.size = (u_int32_t)strlen(key);
	v.flags = DB_DBT_MALLOC;
	ret = d->get(d, NULL, &k, &v, 0);
	d->close(d, 0);
	if (ret == DB_NOTFOUND)
		return NULL;
	ck_assert_int_eq(ret, 0);
	msgpack_unpacked_init(&u);
	ck_assert(msgpack_unpack_next(&u, v.data, v.size, &off) == MSGPACK_UNPACK_SUCCESS);
	ck_assert(u.data.type == MSGPACK_OBJECT_MAP);
	out = xstrdup("");
	for (i = 0; i < u.data.via.map.size; i++) {
		kv = &u.data.via.map.ptr[i];
		if (kv->key.via.str.size == 4 && memcmp(kv->key.via.str.ptr, "_job", 4) == 0) {
			ck_assert_int_eq(i, u.data.via.map.size - 1);
			continue;
		}
		cat(&out, "%.*s=", (int)kv->key.via.str.size, kv->key.via.str.ptr);
		render_obj(&out, &kv->val);
		cat(&out, ";");
	}
	msgpack_unpacked_destroy(&u);
	free(v.data);
	return out;
}

static void
expect_res(const char *db, const char *key, const char *want)
{
	char *got = res(db, key);

	if (want == NULL) {
		ck_assert_msg(got == NULL, "%s %s: %s", db, key, got);
		return;
	}
	ck_assert_msg(got != NULL, "%s %s: no record", db, key);
	ck_assert_msg(strcmp(got, want) == 0, "%s %s:\n got  %s\n want %s", db, key, got, want);
	free(got);
}

/* owner_managers record of id: manager_ref, manager_id, ref_kind, depth, state. */
static void
expect_om(const char *id, const char *ref, const char *mid, const char *kind,
    const char *depth, const char *state)
{
	char *want = xasprintf("manager_ref=%s;manager_id=%s;ref_kind=%s;depth=%s;state=%s;",
	    ref ? ref : "nil", mid ? mid : "nil", kind ? kind : "nil", depth, state);

	expect_res(RES_DB_OWNER_MANAGERS, id, want);
	free(want);
}

static uint64_t
count_db(const char *db)
{
	DB *d;
	DBC *c;
	DBT k, v;
	char *cause = NULL;
	uint64_t n = 0;

	ck_assert_int_eq(store_db_open(store, db, DB_BTREE, 0, &d, &cause), 0);
	ck_assert_int_eq(d->cursor(d, NULL, &c, 0), 0);
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	while (c->get(c, &k, &v, DB_NEXT) == 0)
		n++;
	c->close(c);
	d->close(d, 0);
	return n;
}

/* A chain of depth 5 through every reference form, Unicode names and emails. */
static void
chain(void)
{
	own("own-1", "E1", "Ada Lovelace", "ada@example.com", NULL);
	own("own-2", "E2", "Zoë Núñez", "zoë.núñez@example.com", "E1");
	own("own-3", "E3", "Łukasz Ångström", "lukasz@example.com", "Zoë.Núñez@Example.COM");
	own("own-4", "E4", "O'Brien, Jr.", "obrien@example.com",
	    "CN=E3,OU=Engineering,DC=example,DC=com");
	/* A DN whose CN is no employee id: the unique display name, escapes undone. */
	own("own-5", "E5", "Dora Ünal", "dora@example.com",
	    "cn=O'Brien\\, Jr.,OU=Legal,DC=example,DC=com");
	own("own-6", "E6", "Sam Smith", "sam@example.com", "e5");
}

START_TEST(chain_and_forms)
{
	struct tjob *t;

	chain();
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 6, 0, 0);
	ck_assert_int_eq(t->ctx.total, 6);
	ck_assert_int_eq(t->ctx.processed, 6);
	tfree(t);
	expect_om("own-1", NULL, NULL, NULL, "0", "top");
	expect_om("own-2", "E1", "own-1", "employee_id", "1", "ok");
	expect_om("own-3", "Zoë.Núñez@Example.COM", "own-2", "email", "2", "ok");
	expect_om("own-4", "CN=E3,OU=Engineering,DC=example,DC=com", "own-3", "dn", "3", "ok");
	expect_om("own-5", "cn=O'Brien\\, Jr.,OU=Legal,DC=example,DC=com", "own-4", "dn", "4",
	    "ok");
	expect_om("own-6", "e5", "own-5", "employee_id", "5", "ok");
	ck_assert_uint_eq(count_db(RES_DB_MANAGER_ISSUES), 0);

	/* Second run, nothing changed: nothing counted, nothing rewritten. */
	t = run("", 0, NULL);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	tfree(t);
}
END_TEST

START_TEST(cycles)
{
	struct tjob *t;
	char id[16], eid[16], mgr[16], *want, *s;
	int i;

	/* Self-managed. */
	own("own-s", "ES", "Self", "self@example.com", "ES");
	/* Length 2 (by email both ways). */
	own("own-a1", "EA1", "A one", "a1@example.com", "a2@example.com");
	own("own-a2", "EA2", "A two", "a2@example.com", "a1@example.com");
	/* Length 3, entered from its largest id: b3 -> b1 -> b2 -> b3. */
	own("own-b1", "EB1", "B one", "b1@example.com", "EB2");
	own("own-b2", "EB2", "B two", "b2@example.com", "EB3");
	own("own-b3", "EB3", "B three", "b3@example.com", "EB1");
	/* Reporting into the 3-cycle without being in it, and one level below that. */
	own("own-b4", "EB4", "B four", "b4@example.com", "EB2");
	own("own-b5", "EB5", "B five", "b5@example.com", "EB4");
	/* Length 50: cyc-01 -> cyc-02 -> ... -> cyc-50 -> cyc-01. */
	for (i = 1; i <= 50; i++) {
		snprintf(id, sizeof id, "cyc-%02d", i);
		snprintf(eid, sizeof eid, "C%02d", i);
		snprintf(mgr, sizeof mgr, "C%02d", i % 50 + 1);
		own(id, eid, "Cyc", NULL, mgr);
	}
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 58, 0, 0);
	ck_assert_msg(strstr(t->log, "manager cycle of length 1: own-s\n") != NULL, "%s",
	    t->log);
	ck_assert(strstr(t->log, "manager cycle of length 2: own-a1 -> own-a2\n") != NULL);
	ck_assert(strstr(t->log, "manager cycle of length 3: own-b1 -> own-b2 -> own-b3\n") !=
	    NULL);
	ck_assert(strstr(t->log, "manager cycle of length 50: cyc-01 -> cyc-02") != NULL);
	ck_assert(strstr(t->log, "4 cycles with 56 owners") != NULL);
	tfree(t);

	expect_om("own-s", "ES", "own-s", "employee_id", "nil", "self");
	expect_om("own-a1", "a2@example.com", "own-a2", "email", "nil", "cycle");
	expect_om("own-a2", "a1@example.com", "own-a1", "email", "nil", "cycle");
	expect_om("own-b1", "EB2", "own-b2", "employee_id", "nil", "cycle");
	expect_om("own-b3", "EB1", "own-b1", "employee_id", "nil", "cycle");
	expect_om("own-b4", "EB2", "own-b2", "employee_id", "nil", "ok");
	expect_om("own-b5", "EB4", "own-b4", "employee_id", "nil", "ok");
	expect_om("cyc-50", "C01", "cyc-01", "employee_id", "nil", "cycle");
	expect_om("cyc-17", "C18", "cyc-18", "employee_id", "nil", "cycle");

	ck_assert_uint_eq(count_db(RES_DB_MANAGER_ISSUES), 4);
	expect_res(RES_DB_MANAGER_ISSUES, "cycle:own-s", "kind=cycle;members=[own-s];length=1;");
	expect_res(RES_DB_MANAGER_ISSUES, "cycle:own-a1",
	    "kind=cycle;members=[own-a1,own-a2];length=2;");
	expect_res(RES_DB_MANAGER_ISSUES, "cycle:own-b1",
	    "kind=cycle;members=[own-b1,own-b2,own-b3];length=3;");
	want = xstrdup("kind=cycle;members=[");
	for (i = 1; i <= 50; i++) {
		s = xasprintf("%scyc-%02d%s", want, i, i < 50 ? "," : "];length=50;");
		free(want);
		want = s;
	}
	expect_res(RES_DB_MANAGER_ISSUES, "cycle:cyc-01", want);
	free(want);
	expect_res(RES_DB_MANAGER_ISSUES, "cycle:cyc-02", NULL);

	/* Break the 3-cycle: b1 now reports to nobody. b1 top (0), b3 1, b2 2, b4 3, b5 4;
	 * five owners change; the cycle's issue goes (not counted: issues are not owners). */
	own("own-b1", "EB1", "B one", "b1@example.com", NULL);
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 0, 5, 0);
	tfree(t);
	expect_om("own-b1", NULL, NULL, NULL, "0", "top");
	expect_om("own-b3", "EB1", "own-b1", "employee_id", "1", "ok");
	expect_om("own-b2", "EB3", "own-b3", "employee_id", "2", "ok");
	expect_om("own-b4", "EB2", "own-b2", "employee_id", "3", "ok");
	expect_om("own-b5", "EB4", "own-b4", "employee_id", "4", "ok");
	expect_res(RES_DB_MANAGER_ISSUES, "cycle:own-b1", NULL);
	ck_assert_uint_eq(count_db(RES_DB_MANAGER_ISSUES), 3);
}
END_TEST

START_TEST(dangling_and_ambiguous)
{
	struct tjob *t;

	own("own-1", "E1", "Top", "top@example.com", NULL);
	own("own-2", "E2", "Dangling id", "d2@example.com", "E999");
	own("own-3", "E3", "Dangling email", "d3@example.com", "gone@example.com");
	own("own-4", "E4", "Dangling DN", "d4@example.com", "CN=E998,OU=X,DC=example,DC=com");
	own("own-5", "E5", "Under dangling", "d5@example.com", "E2");
	/* Two owners share an email: a reference by it is ambiguous, so not resolved. */
	own("own-6", "E6", "Twin one", "twin@example.com", "E1");
	own("own-7", "E7", "Twin two", "TWIN@example.com", "E1");
	own("own-8", "E8", "Reports to a twin", "r8@example.com", "twin@example.com");
	/* Missing attributes: no employee id, email or name at all; a manager by id. */
	owner("own-9", "manager", "E1", NULL);
	/* Nothing but its id. */
	owner("own-10", NULL);
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 10, 0, 0);
	ck_assert_msg(strstr(t->log, "own-2: manager 'E999' (employee_id) matches no owner") !=
	    NULL, "%s", t->log);
	ck_assert(strstr(t->log, "own-8: manager 'twin@example.com' (email) matches several "
	    "owners (ambiguous, not resolved)") != NULL);
	ck_assert(strstr(t->log, "10 owners: 4 with a missing manager (1 ambiguous), 0 cycles "
	    "with 0 owners") != NULL);
	tfree(t);
	expect_om("own-2", "E999", NULL, "employee_id", "nil", "missing");
	expect_om("own-3", "gone@example.com", NULL, "email", "nil", "missing");
	expect_om("own-4", "CN=E998,OU=X,DC=example,DC=com", NULL, "dn", "nil", "missing");
	expect_om("own-5", "E2", "own-2", "employee_id", "nil", "ok");
	expect_om("own-6", "E1", "own-1", "employee_id", "1", "ok");
	expect_om("own-8", "twin@example.com", NULL, "email", "nil", "missing");
	expect_om("own-9", "E1", "own-1", "employee_id", "1", "ok");
	expect_om("own-10", NULL, NULL, NULL, "0", "top");
	ck_assert_uint_eq(count_db(RES_DB_MANAGER_ISSUES), 4);
	expect_res(RES_DB_MANAGER_ISSUES, "missing:own-2",
	    "kind=missing;owner_id=own-2;manager_ref=E999;");
	expect_res(RES_DB_MANAGER_ISSUES, "missing:own-3",
	    "kind=missing;owner_id=own-3;manager_ref=gone@example.com;");
	expect_res(RES_DB_MANAGER_ISSUES, "missing:own-4",
	    "kind=missing;owner_id=own-4;manager_ref=CN=E998,OU=X,DC=example,DC=com;");
	expect_res(RES_DB_MANAGER_ISSUES, "missing:own-8",
	    "kind=missing;owner_id=own-8;manager_ref=twin@example.com;");

	/* The manager appears (depth 1): own-2 resolves (depth 2), own-5 gets depth 3; own-11
	 * is new. */
	own("own-11", "E999", "Found", "found@example.com", "E1");
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 1, 2, 0);
	tfree(t);
	expect_om("own-2", "E999", "own-11", "employee_id", "2", "ok");
	expect_om("own-5", "E2", "own-2", "employee_id", "3", "ok");
	expect_res(RES_DB_MANAGER_ISSUES, "missing:own-2", NULL);
	ck_assert_uint_eq(count_db(RES_DB_MANAGER_ISSUES), 3);

	/* An owner disappears: its record is deleted, its report's manager is missing. */
	del_owner("own-11");
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 0, 2, 1);
	tfree(t);
	expect_res(RES_DB_OWNER_MANAGERS, "own-11", NULL);
	expect_om("own-2", "E999", NULL, "employee_id", "nil", "missing");
	expect_om("own-5", "E2", "own-2", "employee_id", "nil", "ok");
	ck_assert_uint_eq(count_db(RES_DB_OWNER_MANAGERS), 10);
}
END_TEST

/* r (top); a, b under r; a1, a2 under a; a11 under a1. */
static void
tree(void)
{
	own("r", "R", "Root", "r@example.com", NULL);
	own("a", "A", "A", "a@example.com", "R");
	own("b", "B", "B", "b@example.com", "R");
	own("a1", "A1", "A1", "a1@example.com", "A");
	own("a2", "A2", "A2", "a2@example.com", "A");
	own("a11", "A11", "A11", "a11@example.com", "A1");
}

START_TEST(changed_manager)
{
	struct tjob *t;

	tree();
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 6, 0, 0);
	tfree(t);
	expect_om("a11", "A1", "a1", "employee_id", "3", "ok");

	/* a moves under b: a 1 -> 2 (and its manager), a1 2 -> 3, a2 2 -> 3, a11 3 -> 4; r and
	 * b are unchanged. Exactly 4 updated. */
	own("a", "A", "A", "a@example.com", "B");
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 0, 4, 0);
	tfree(t);
	expect_om("a", "B", "b", "employee_id", "2", "ok");
	expect_om("a1", "A", "a", "employee_id", "3", "ok");
	expect_om("a2", "A", "a", "employee_id", "3", "ok");
	expect_om("a11", "A1", "a1", "employee_id", "4", "ok");
	expect_om("b", "R", "r", "employee_id", "1", "ok");

	/* Same manager, another form of reference: rewritten, not counted. */
	own("a2", "A2", "A2", "a2@example.com", "a@example.com");
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	tfree(t);
	expect_om("a2", "a@example.com", "a", "email", "3", "ok");

	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	tfree(t);
}
END_TEST

START_TEST(reference_mode)
{
	struct tjob *t;

	/* own-3's manager column holds an email-looking employee id; own-4 a DN. */
	own("own-1", "E1", "One", "one@example.com", NULL);
	own("own-2", "x@y", "Two", "two@example.com", "E1");
	own("own-3", "E3", "Three", "three@example.com", "x@y");
	own("own-4", "E4", "Four", "four@example.com", "CN=E1,DC=example");

	/* auto: "x@y" is an email (nobody), the DN resolves. */
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 4, 0, 0);
	tfree(t);
	expect_om("own-3", "x@y", NULL, "email", "nil", "missing");
	expect_om("own-4", "CN=E1,DC=example", "own-1", "dn", "1", "ok");

	/* The parameter overrides the configuration: everything is an employee id. */
	t = run("email", 0, "manager_ref=employee_id", NULL);
	expect(t, JOB_RUN_OK, 0, 2, 0);
	tfree(t);
	expect_om("own-3", "x@y", "own-2", "employee_id", "2", "ok");
	expect_om("own-4", "CN=E1,DC=example", NULL, "employee_id", "nil", "missing");

	/* The configuration says dn: only own-4's reference is one. own-2 (ok -> missing),
	 * own-3 (ok -> missing) and own-4 (missing -> ok) change; own-1 stays the top. */
	t = run("dn", 0, NULL);
	expect(t, JOB_RUN_OK, 0, 3, 0);
	tfree(t);
	expect_om("own-2", "E1", NULL, "dn", "nil", "missing");
	expect_om("own-3", "x@y", NULL, "dn", "nil", "missing");
	expect_om("own-4", "CN=E1,DC=example", "own-1", "dn", "1", "ok");

	/* Invalid values fail at once, naming the parameter or the setting. */
	t = run("auto", 0, "manager_ref=upn", NULL);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_str_eq(t->error, "parameter manager_ref: 'upn' is not auto, employee_id, "
	    "email or dn");
	tfree(t);
	t = run("auto", 0, "manager_ref=", NULL);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_ptr_nonnull(strstr(t->error, "parameter manager_ref"));
	tfree(t);
	t = run("bogus", 0, NULL);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_ptr_nonnull(strstr(t->error, "manager_ref: 'bogus'"));
	tfree(t);
}
END_TEST

START_TEST(dn_details)
{
	struct tjob *t;

	own("own-1", "E1", "Smith, John", "john@example.com", NULL);
	/* Leading spaces, another case. */
	own("own-2", "E2", "Two", "two@example.com", "  cn=e1,OU=x");
	/* Escaped comma, a multi-valued RDN: the CN is "Smith, John" (display name). */
	own("own-3", "E3", "Three", "three@example.com", "CN=Smith\\, John+UID=7,DC=x");
	/* An empty CN names nobody. */
	own("own-4", "E4", "Four", "four@example.com", "CN=,DC=x");
	/* Nothing after the CN. */
	own("own-5", "E5", "Five", "five@example.com", "CN=E1");
	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 5, 0, 0);
	tfree(t);
	expect_om("own-2", "  cn=e1,OU=x", "own-1", "dn", "1", "ok");
	expect_om("own-3", "CN=Smith\\, John+UID=7,DC=x", "own-1", "dn", "1", "ok");
	expect_om("own-4", "CN=,DC=x", NULL, "dn", "nil", "missing");
	expect_om("own-5", "CN=E1", "own-1", "dn", "1", "ok");
}
END_TEST

START_TEST(empty_store)
{
	struct tjob *t = run("auto", 0, NULL);

	expect(t, JOB_RUN_OK, 0, 0, 0);
	ck_assert_int_eq(t->ctx.total, 0);
	tfree(t);
}
END_TEST

START_TEST(cancel_keeps_batches)
{
	struct tjob *t;

	tree(); /* keys in order: a a1 a11 a2 b r */
	/* batch_size 2: cancelled() is asked once after reading the owners (no), then after
	 * the first batch (a, a1) commits (yes). */
	t = run("auto", 2, "batch_size=2", NULL);
	expect(t, JOB_RUN_CANCELLED, 2, 0, 0);
	ck_assert(t->ctx.was_cancelled);
	ck_assert_int_eq(t->ctx.processed, 2);
	ck_assert_int_eq(t->ctx.total, 6);
	tfree(t);
	ck_assert_uint_eq(count_db(RES_DB_OWNER_MANAGERS), 2);
	expect_om("a1", "A", "a", "employee_id", "2", "ok");

	t = run("auto", 0, "batch_size=2", NULL);
	expect(t, JOB_RUN_OK, 4, 0, 0);
	tfree(t);
	ck_assert_uint_eq(count_db(RES_DB_OWNER_MANAGERS), 6);
}
END_TEST

/* A chain of 20,000 owners (own-00001 at the top, own-i managed by E(i-1)) and a cycle of
 * 20,000 more (cyc-i managed by C(i+1), the last by C00001), in one transaction. */
START_TEST(deep_chain_and_long_cycle)
{
	struct identity *ident;
	struct ident_field f[3];
	msgpack_sbuffer buf;
	DB_ENV *env = store_env(store);
	DB_TXN *txn;
	struct tjob *t;
	char id[16], eid[16], mgr[16], *cause = NULL;
	int i, n = 20000;

	msgpack_sbuffer_init(&buf);
	ck_assert_int_eq(identity_open(store, &ident, &cause), 0);
	ck_assert_int_eq(env->txn_begin(env, NULL, &txn, DB_TXN_NOSYNC), 0);
	for (i = 1; i <= 2 * n; i++) {
		bool chain = i <= n;
		int j = chain ? i : i - n;

		snprintf(id, sizeof id, "%s-%05d", chain ? "own" : "cyc", j);
		snprintf(eid, sizeof eid, "%s%05d", chain ? "E" : "C", j);
		if (chain)
			snprintf(mgr, sizeof mgr, "E%05d", j - 1);
		else
			snprintf(mgr, sizeof mgr, "C%05d", j % n + 1);
		f[0] = (struct ident_field){ "employee_id", eid, strlen(eid) };
		f[1] = (struct ident_field){ "id", id, strlen(id) };
		f[2] = (struct ident_field){ "manager", mgr, strlen(mgr) };
		buf.size = 0;
		identity_encode(&buf, f, chain && j == 1 ? 2 : 3, 1);
		ck_assert_int_eq(identity_put(ident, txn, IDENT_OWNER, id, strlen(id), buf.data,
		    buf.size, &cause), 0);
	}
	ck_assert_int_eq(txn->commit(txn, 0), 0);
	identity_close(ident);
	msgpack_sbuffer_destroy(&buf);

	t = run("auto", 0, NULL);
	expect(t, JOB_RUN_OK, 2 * n, 0, 0);
	ck_assert(strstr(t->log, "40000 owners: 0 with a missing manager (0 ambiguous), 1 "
	    "cycles with 20000 owners") != NULL);
	tfree(t);
	expect_om("own-00001", NULL, NULL, NULL, "0", "top");
	expect_om("own-00002", "E00001", "own-00001", "employee_id", "1", "ok");
	expect_om("own-20000", "E19999", "own-19999", "employee_id", "19999", "ok");
	expect_om("cyc-20000", "C00001", "cyc-00001", "employee_id", "nil", "cycle");
	ck_assert_uint_eq(count_db(RES_DB_MANAGER_ISSUES), 1);
}
END_TEST

START_TEST(lock_conflict_retries)
{
	DB_ENV *env = store_env(store);
	DB_TXN *other;
	DB *d;
	DBT k, v;
	struct tjob *t;
	char *cause = NULL;

	tree(); /* keys in order: a a1 a11 a2 b r */
	/* A lock that is not free fails at once with DB_LOCK_DEADLOCK, as a deadlock victim's
	 * request does. */
	ck_assert_int_eq(env->set_flags(env, DB_TXN_NOWAIT, 1), 0);
	/* Another transaction holds a write lock on owner_managers "a2". */
	ck_assert_int_eq(store_db_open(store, RES_DB_OWNER_MANAGERS, DB_BTREE, 0, &d, &cause),
	    0);
	ck_assert_int_eq(env->txn_begin(env, NULL, &other, 0), 0);
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = "a2";
	k.size = 2;
	v.data = "x";
	v.size = 1;
	ck_assert_int_eq(d->put(d, other, &k, &v, 0), 0);

	/* Berkeley DB locks btree pages: the six records share the page of "a2", so the first
	 * batch conflicts; it is redone MU_RETRIES times, then the job gives up with nothing
	 * counted. */
	t = run("auto", 0, "batch_size=2", NULL);
	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_str_eq(t->error, "owner managers: lock conflicts, giving up");
	ck_assert_int_eq(t->ctx.created, 0);
	ck_assert_int_eq(t->ctx.processed, 0);
	tfree(t);

	/* The lock goes away: everything is created, each once. */
	ck_assert_int_eq(other->abort(other), 0);
	d->close(d, 0);
	t = run("auto", 0, "batch_size=2", NULL);
	expect(t, JOB_RUN_OK, 6, 0, 0);
	tfree(t);
	ck_assert_uint_eq(count_db(RES_DB_OWNER_MANAGERS), 6);
	expect_om("a2", "A", "a", "employee_id", "2", "ok");
	ck_assert_int_eq(env->set_flags(env, DB_TXN_NOWAIT, 0), 0);
}
END_TEST

Suite *
managers_suite(void)
{
	Suite *s = suite_create("managers");
	TCase *tc = tcase_create("resolution");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, chain_and_forms);
	tcase_add_test(tc, cycles);
	tcase_add_test(tc, dangling_and_ambiguous);
	tcase_add_test(tc, changed_manager);
	tcase_add_test(tc, reference_mode);
	tcase_add_test(tc, dn_details);
	tcase_add_test(tc, empty_store);
	tcase_add_test(tc, cancel_keeps_batches);
	tcase_add_test(tc, lock_conflict_retries);
	tcase_add_test(tc, deep_chain_and_long_cycle);
	suite_add_tcase(s, tc);
	return s;
}
