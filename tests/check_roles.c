/* check_roles.c: role_generation run in-process on small hand-made identity data written
 * straight into a temp store (identity_put), with the expected roles, members and
 * entitlements worked out by hand in each test. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "identity.h"
#include "lib/testlib.h"
#include "results.h"
#include "store.h"
#include "worker/jobctx.h"

Suite *roles_suite(void);

static char tmpdir[PATH_MAX];
static struct store *store;
static struct identity *ident;

struct tjob {
	struct job job;
	struct worker_conf conf;
	struct job_ctx ctx;
	char *error;
	int rv;
	char log[8192];
	char steps[1024];
	int cancel_calls;
	int cancel_on;
	int64_t last_processed;
	bool progress_went_back;
};

static void
setup(void)
{
	char *cause = NULL;

	tl_mkdtemp(tmpdir, "roles");
	if (store_open(tmpdir, STORE_SUPERVISOR, &store, &cause) != 0)
		ck_abort_msg("store_open: %s", cause);
	if (identity_open(store, &ident, &cause) != 0)
		ck_abort_msg("identity_open: %s", cause);
}

static void
teardown(void)
{
	identity_close(ident);
	ident = NULL;
	store_close(store);
	store = NULL;
	tl_rm_rf(tmpdir);
}

/* --- data ------------------------------------------------------------------------- */

static void
put(enum ident_type t, const char *key, size_t klen, struct ident_field *f, size_t n)
{
	msgpack_sbuffer sb;
	char *cause = NULL;

	msgpack_sbuffer_init(&sb);
	identity_encode(&sb, f, n, 1);
	if (identity_put(ident, NULL, t, key, klen, sb.data, sb.size, &cause) != 0)
		ck_abort_msg("identity_put: %s", cause);
	msgpack_sbuffer_destroy(&sb);
}

static void
addf(struct ident_field *f, size_t *n, const char *name, const char *v)
{
	if (v == NULL)
		return;
	f[*n].name = name;
	f[*n].value = v;
	f[*n].len = strlen(v);
	(*n)++;
}

static void
own(const char *id, const char *dept, const char *title)
{
	struct ident_field f[4];
	size_t n = 0;

	addf(f, &n, "id", id);
	addf(f, &n, "department", dept);
	addf(f, &n, "title", title);
	addf(f, &n, "modified_at", "2025-01-01T00:00:00Z");
	put(IDENT_OWNER, id, strlen(id), f, n);
}

static void
acc(const char *id, const char *owner)
{
	struct ident_field f[4];
	size_t n = 0;

	addf(f, &n, "id", id);
	addf(f, &n, "application_id", "app");
	addf(f, &n, "owner_id", owner);
	addf(f, &n, "modified_at", "2025-01-01T00:00:00Z");
	put(IDENT_ACCOUNT, id, strlen(id), f, n);
}

static void
mkey(char *k, size_t *len, const char *a, const char *g)
{
	*len = strlen(a) + 1 + strlen(g);
	memcpy(k, a, strlen(a) + 1);
	memcpy(k + strlen(a) + 1, g, strlen(g));
}

static void
mem(const char *a, const char *g)
{
	struct ident_field f[3];
	size_t n = 0, klen;
	char k[256];

	addf(f, &n, "account_id", a);
	addf(f, &n, "group_id", g);
	addf(f, &n, "modified_at", "2025-01-01T00:00:00Z");
	mkey(k, &klen, a, g);
	put(IDENT_MEMBERSHIP, k, klen, f, n);
}

static void
unmem(const char *a, const char *g)
{
	size_t klen;
	char k[256], *cause = NULL;

	mkey(k, &klen, a, g);
	ck_assert_int_eq(identity_del(ident, NULL, IDENT_MEMBERSHIP, k, klen, &cause), 0);
}

/* A results record {f1: v1, f2: v2, "_from"/"_job"} the way enrichment writes them. */
static void
res_put(const char *dbname, const char *key, const char *f1, const char *v1,
    const char *f2, const char *v2)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	DB *db;
	DBT k, v;
	char *cause = NULL;

	ck_assert_int_eq(store_db_open(store, dbname, DB_BTREE, 0, &db, &cause), 0);
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
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = (void *)(uintptr_t)key;
	k.size = (u_int32_t)strlen(key);
	v.data = sb.data;
	v.size = (u_int32_t)sb.size;
	ck_assert_int_eq(db->put(db, NULL, &k, &v, 0), 0);
	msgpack_sbuffer_destroy(&sb);
	db->close(db, 0);
}

static void
res_del(const char *dbname, const char *key)
{
	DB *db;
	DBT k;
	char *cause = NULL;

	ck_assert_int_eq(store_db_open(store, dbname, DB_BTREE, 0, &db, &cause), 0);
	memset(&k, 0, sizeof k);
	k.data = (void *)(uintptr_t)key;
	k.size = (u_int32_t)strlen(key);
	ck_assert_int_eq(db->del(db, NULL, &k, 0), 0);
	db->close(db, 0);
}

/* --- running -------------------------------------------------------------------- */

static void
t_step(struct job_ctx *ctx, const char *step, int64_t total)
{
	struct tjob *t = ctx->arg;
	size_t len = strlen(t->steps);

	snprintf(t->steps + len, sizeof t->steps - len, "%s;", step);
}

static void
t_progress(struct job_ctx *ctx)
{
	struct tjob *t = ctx->arg;

	if (ctx->processed < t->last_processed)
		t->progress_went_back = true;
	t->last_processed = ctx->processed;
}

static void
t_log(struct job_ctx *ctx, int level, const char *text)
{
	struct tjob *t = ctx->arg;
	size_t len = strlen(t->log);

	snprintf(t->log + len, sizeof t->log - len, "%s\n", text);
}

static bool
t_cancelled(struct job_ctx *ctx)
{
	struct tjob *t = ctx->arg;

	return ++t->cancel_calls == t->cancel_on;
}

/* Run role_generation as job number no with parameters "k=v" (NULL-terminated). */
static struct tjob *
run(uint64_t no, int cancel_on, const char *const *params)
{
	struct tjob *t = calloc(1, sizeof *t);
	char *cause = NULL, kv[256], *eq;

	job_init(&t->job);
	t->job.no = no;
	t->job.type = JOB_ROLE_GENERATION;
	for (; params != NULL && *params != NULL; params++) {
		snprintf(kv, sizeof kv, "%s", *params);
		eq = strchr(kv, '=');
		ck_assert(eq != NULL);
		*eq = '\0';
		job_param_add(&t->job, kv, eq + 1);
	}
	snprintf(t->conf.data_dir, sizeof t->conf.data_dir, "%s", tmpdir);
	t->conf.progress_interval_ms = 0;
	ck_assert_int_eq(job_ctx_init(&t->ctx, store, &t->job, &t->conf, &cause), 0);
	t->ctx.on_step = t_step;
	t->ctx.on_progress = t_progress;
	t->ctx.on_log = t_log;
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
	ck_assert_msg(t->ctx.created == c && t->ctx.updated == u && t->ctx.deleted == d,
	    "counters %lld/%lld/%lld, want %lld/%lld/%lld; log:\n%s",
	    (long long)t->ctx.created, (long long)t->ctx.updated, (long long)t->ctx.deleted,
	    (long long)c, (long long)u, (long long)d, t->log);
}

/* --- reading results --------------------------------------------------------------- */

struct text {
	char *s;
	size_t len, cap;
};

static void
tput(struct text *t, const char *p, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->s = realloc(t->s, t->cap);
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

static void
render(struct text *t, const msgpack_object *o)
{
	char num[32];
	uint32_t i;

	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		tput(t, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		snprintf(num, sizeof num, "%llu", (unsigned long long)o->via.u64);
		tputs(t, num);
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
	case MSGPACK_OBJECT_NIL:
		tputs(t, "nil");
		break;
	default:
		tputs(t, "?");
		break;
	}
}

/* Every record of a results db as "key field=value ...\n" (fields without "_"), or with
 * raw true the exact bytes of keys and values (hex). */
static char *
dump(const char *dbname, bool raw)
{
	struct text t = {NULL, 0, 0};
	msgpack_unpacked u;
	DB *db;
	DBC *c;
	DBT k, v;
	char *cause = NULL, hex[4];
	size_t off, i;
	uint32_t j;

	tputs(&t, "");
	ck_assert_int_eq(store_db_open(store, dbname, DB_BTREE, 0, &db, &cause), 0);
	ck_assert_int_eq(db->cursor(db, NULL, &c, 0), 0);
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	msgpack_unpacked_init(&u);
	while (c->get(c, &k, &v, DB_NEXT) == 0) {
		for (i = 0; i < k.size; i++)
			tput(&t, ((char *)k.data)[i] == '\x1f' ? "/" : (char *)k.data + i, 1);
		if (raw) {
			tputs(&t, " ");
			for (i = 0; i < v.size; i++) {
				snprintf(hex, sizeof hex, "%02x", ((unsigned char *)v.data)[i]);
				tputs(&t, hex);
			}
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

static void
expect_dump(const char *dbname, const char *want)
{
	char *got = dump(dbname, false);

	ck_assert_msg(strcmp(got, want) == 0, "%s:\n%s\nwant:\n%s", dbname, got, want);
	free(got);
}

/* The fixture of test_generate (see the comments for the hand-derived answers). */
static void
base_data(void)
{
	/* engineering / senior engineer: 5 owners (one spells the department
	 * "Engineering": the same role name). g-a held by 4 of 5 = 0.8 exactly (a tie:
	 * qualifies); g-b by 3 of 5 (no); g-c by all 5, o01 through two accounts. */
	own("o01", "engineering", "Senior Engineer");
	own("o02", "engineering", "Senior Engineer");
	own("o03", "engineering", "Senior Engineer");
	own("o04", "engineering", "Senior Engineer");
	own("o05", "Engineering", "Senior Engineer");
	acc("a01", "o01");
	acc("a01b", "o01");
	acc("a02", "o02");
	acc("a03", "o03");
	acc("a04", "o04");
	acc("a05", "o05");
	mem("a01", "g-a");
	mem("a02", "g-a");
	mem("a03", "g-a");
	mem("a04", "g-a");
	mem("a01", "g-b");
	mem("a02", "g-b");
	mem("a03", "g-b");
	mem("a01", "g-c");
	mem("a01b", "g-c");
	mem("a02", "g-c");
	mem("a03", "g-c");
	mem("a04", "g-c");
	mem("a05", "g-c");

	/* sales / rep: 4 owners with it in their record, o11 has only the title and the
	 * enrichment overlay supplies the department: 5 members. o09's account has no
	 * owner_id but an enrichment link. g-s: o06..o09 = 4 of 5 (qualifies). */
	own("o06", "sales", "rep");
	own("o07", "sales", "rep");
	own("o08", "sales", "rep");
	own("o09", "sales", "rep");
	own("o11", NULL, "rep");
	res_put(RES_DB_OWNER_OVERLAY, "o11", "department", "sales", NULL, NULL);
	acc("a06", "o06");
	acc("a07", "o07");
	acc("a08", "o08");
	acc("a09", NULL);
	res_put(RES_DB_ACCOUNT_LINKS, "a09", "owner_id", "o09", "rule", "email");
	mem("a06", "g-s");
	mem("a07", "g-s");
	mem("a08", "g-s");
	mem("a09", "g-s");

	/* o10 has no title: in no role. An account of nobody and a membership of an
	 * account that does not exist count for no one. */
	own("o10", "engineering", NULL);
	acc("ax", "nobody");
	mem("ax", "g-b");
	mem("aghost", "g-b");
}

static const char base_roles[] =
    "engineering-senior_engineer attributes=[department,title] "
    "values=[Engineering,Senior Engineer] member_count=5 entitlements=[g-a,g-c]\n"
    "sales-rep attributes=[department,title] values=[sales,rep] member_count=5 "
    "entitlements=[g-s]\n";
static const char base_members[] =
    "engineering-senior_engineer/o01 role=engineering-senior_engineer owner_id=o01\n"
    "engineering-senior_engineer/o02 role=engineering-senior_engineer owner_id=o02\n"
    "engineering-senior_engineer/o03 role=engineering-senior_engineer owner_id=o03\n"
    "engineering-senior_engineer/o04 role=engineering-senior_engineer owner_id=o04\n"
    "engineering-senior_engineer/o05 role=engineering-senior_engineer owner_id=o05\n"
    "sales-rep/o06 role=sales-rep owner_id=o06\n"
    "sales-rep/o07 role=sales-rep owner_id=o07\n"
    "sales-rep/o08 role=sales-rep owner_id=o08\n"
    "sales-rep/o09 role=sales-rep owner_id=o09\n"
    "sales-rep/o11 role=sales-rep owner_id=o11\n";

START_TEST(test_generate)
{
	struct tjob *t;

	base_data();
	t = run(1, 0, NULL);
	expect(t, JOB_RUN_OK, 2, 0, 0);
	/* 11 owners read and placed, 11 accounts, 19 memberships. */
	ck_assert_int_eq(t->ctx.total, 11 * 2 + 11 + 19);
	ck_assert_int_eq(t->ctx.processed, t->ctx.total);
	ck_assert(!t->progress_went_back);
	ck_assert_msg(strstr(t->log, "1 owners lack one of the attributes") != NULL, "%s",
	    t->log);
	ck_assert_msg(strstr(t->steps, "Counting records;Reading owners;") == t->steps,
	    "%s", t->steps);
	expect_dump(RES_DB_ROLES, base_roles);
	expect_dump(RES_DB_ROLE_MEMBERS, base_members);
	tfree(t);
}
END_TEST

/* Only the owner records' own values: o11 stays out, sales-rep has 4 owners: no role. */
START_TEST(test_attribute_source)
{
	struct tjob *t;

	base_data();
	t = run(1, 0, (const char *const[]){"attribute_source=source", NULL});
	expect(t, JOB_RUN_OK, 1, 0, 0);
	expect_dump(RES_DB_ROLES,
	    "engineering-senior_engineer attributes=[department,title] "
	    "values=[Engineering,Senior Engineer] member_count=5 entitlements=[g-a,g-c]\n");
	ck_assert_msg(strstr(t->log, "1 cohorts with 4 owners are below min_members 5") !=
	    NULL, "%s", t->log);
	tfree(t);
}
END_TEST

/* Without the enrichment link a09 belongs to nobody: g-s has 3 of 5 holders. */
START_TEST(test_owner_id_without_link)
{
	struct tjob *t;

	base_data();
	res_del(RES_DB_ACCOUNT_LINKS, "a09");
	t = run(1, 0, NULL);
	expect(t, JOB_RUN_OK, 2, 0, 0);
	expect_dump(RES_DB_ROLES, "engineering-senior_engineer attributes=[department,title] "
	    "values=[Engineering,Senior Engineer] member_count=5 entitlements=[g-a,g-c]\n"
	    "sales-rep attributes=[department,title] values=[sales,rep] member_count=5 "
	    "entitlements=[]\n");
	tfree(t);
}
END_TEST

/* Same data twice: byte-identical databases, 0/0/0; then one role gains a member, one
 * falls below min_members, one appears: exactly 1/1/1. */
START_TEST(test_rerun_and_changes)
{
	struct tjob *t;
	char *roles1, *members1, *roles2, *members2;

	base_data();
	t = run(1, 0, NULL);
	expect(t, JOB_RUN_OK, 2, 0, 0);
	tfree(t);
	roles1 = dump(RES_DB_ROLES, true);
	members1 = dump(RES_DB_ROLE_MEMBERS, true);

	t = run(2, 0, NULL);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	tfree(t);
	roles2 = dump(RES_DB_ROLES, true);
	members2 = dump(RES_DB_ROLE_MEMBERS, true);
	ck_assert_str_eq(roles1, roles2);
	ck_assert_str_eq(members1, members2);
	free(roles1);
	free(roles2);
	free(members1);
	free(members2);

	/* o12 joins engineering-senior_engineer holding g-a: g-a 5/6, g-c 5/6 (>= 0.8):
	 * entitlements unchanged, members changed -> updated. Without its overlay value o11
	 * leaves sales-rep (4 owners) -> deleted. it-admin appears with 5 owners, all in
	 * g-i, 1 in g-x -> created. */
	own("o12", "engineering", "Senior Engineer");
	acc("a12", "o12");
	mem("a12", "g-a");
	res_del(RES_DB_OWNER_OVERLAY, "o11");
	own("o20", "IT", "Admin");
	own("o21", "IT", "Admin");
	own("o22", "IT", "Admin");
	own("o23", "IT", "Admin");
	own("o24", "IT", "Admin");
	acc("a20", "o20");
	acc("a21", "o21");
	acc("a22", "o22");
	acc("a23", "o23");
	acc("a24", "o24");
	mem("a20", "g-i");
	mem("a21", "g-i");
	mem("a22", "g-i");
	mem("a23", "g-i");
	mem("a24", "g-i");
	mem("a24", "g-x");
	t = run(3, 0, NULL);
	expect(t, JOB_RUN_OK, 1, 1, 1);
	tfree(t);
	expect_dump(RES_DB_ROLES,
	    "engineering-senior_engineer attributes=[department,title] "
	    "values=[Engineering,Senior Engineer] member_count=6 entitlements=[g-a,g-c]\n"
	    "it-admin attributes=[department,title] values=[IT,Admin] member_count=5 "
	    "entitlements=[g-i]\n");
	expect_dump(RES_DB_ROLE_MEMBERS,
	    "engineering-senior_engineer/o01 role=engineering-senior_engineer owner_id=o01\n"
	    "engineering-senior_engineer/o02 role=engineering-senior_engineer owner_id=o02\n"
	    "engineering-senior_engineer/o03 role=engineering-senior_engineer owner_id=o03\n"
	    "engineering-senior_engineer/o04 role=engineering-senior_engineer owner_id=o04\n"
	    "engineering-senior_engineer/o05 role=engineering-senior_engineer owner_id=o05\n"
	    "engineering-senior_engineer/o12 role=engineering-senior_engineer owner_id=o12\n"
	    "it-admin/o20 role=it-admin owner_id=o20\n"
	    "it-admin/o21 role=it-admin owner_id=o21\n"
	    "it-admin/o22 role=it-admin owner_id=o22\n"
	    "it-admin/o23 role=it-admin owner_id=o23\n"
	    "it-admin/o24 role=it-admin owner_id=o24\n");

	/* An entitlement change alone: o01..o03 lose g-c (g-c 3/6 < 0.8) -> updated. */
	unmem("a01", "g-c");
	unmem("a01b", "g-c");
	unmem("a02", "g-c");
	unmem("a03", "g-c");
	t = run(4, 0, NULL);
	expect(t, JOB_RUN_OK, 0, 1, 0);
	tfree(t);
	t = run(5, 0, NULL);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	tfree(t);
}
END_TEST

/* 10 owners: with min_share 0.7 a group held by 7 qualifies (7 * 10^9 >= 0.7 * 10^9 * 10
 * exactly; in floating point 0.7 * 10 > 7), one held by 6 does not; 0.71 drops both. A
 * cohort of 10 with min_members 11 is just below: no role. */
START_TEST(test_share_ties_and_min_members)
{
	struct tjob *t;
	char id[16], a[16];
	int i;

	for (i = 0; i < 10; i++) {
		snprintf(id, sizeof id, "p%02d", i);
		snprintf(a, sizeof a, "b%02d", i);
		own(id, "ops", "clerk");
		acc(a, id);
		if (i < 7)
			mem(a, "g7");
		if (i < 6)
			mem(a, "g6");
	}
	t = run(1, 0, (const char *const[]){"min_share=0.7", NULL});
	expect(t, JOB_RUN_OK, 1, 0, 0);
	tfree(t);
	expect_dump(RES_DB_ROLES, "ops-clerk attributes=[department,title] "
	    "values=[ops,clerk] member_count=10 entitlements=[g7]\n");

	t = run(2, 0, (const char *const[]){"min_share=0.71", NULL});
	expect(t, JOB_RUN_OK, 0, 1, 0);
	tfree(t);
	expect_dump(RES_DB_ROLES, "ops-clerk attributes=[department,title] "
	    "values=[ops,clerk] member_count=10 entitlements=[]\n");

	t = run(3, 0, (const char *const[]){"min_share=0.6", "min_members=10", NULL});
	expect(t, JOB_RUN_OK, 0, 1, 0);
	tfree(t);
	expect_dump(RES_DB_ROLES, "ops-clerk attributes=[department,title] "
	    "values=[ops,clerk] member_count=10 entitlements=[g6,g7]\n");

	t = run(4, 0, (const char *const[]){"min_members=11", NULL});
	expect(t, JOB_RUN_OK, 0, 0, 1);
	tfree(t);
	expect_dump(RES_DB_ROLES, "");
	expect_dump(RES_DB_ROLE_MEMBERS, "");
}
END_TEST

/* Role names from non-ASCII values: letters kept and lowercased, the rest '_'. */
START_TEST(test_unicode_names)
{
	struct tjob *t;
	char id[16];
	int i;

	for (i = 0; i < 5; i++) {
		snprintf(id, sizeof id, "u%d", i);
		own(id, "Forschung & Entwicklung", "Ingénieur Zürich");
		snprintf(id, sizeof id, "v%d", i);
		own(id, "ÅNGSTRÖM", "Отдел продаж");
	}
	t = run(1, 0, NULL);
	expect(t, JOB_RUN_OK, 2, 0, 0);
	tfree(t);
	/* Byte order: 'f' (0x66) before 0xc3 ('å' in UTF-8). */
	expect_dump(RES_DB_ROLES,
	    "forschung___entwicklung-ingénieur_zürich attributes=[department,title] "
	    "values=[Forschung & Entwicklung,Ingénieur Zürich] member_count=5 "
	    "entitlements=[]\n"
	    "ångström-отдел_продаж attributes=[department,title] "
	    "values=[ÅNGSTRÖM,Отдел продаж] member_count=5 entitlements=[]\n");

	/* One attribute only. */
	t = run(2, 0, (const char *const[]){"attributes=title", NULL});
	expect(t, JOB_RUN_OK, 2, 0, 2);
	tfree(t);
	expect_dump(RES_DB_ROLES,
	    "ingénieur_zürich attributes=[title] values=[Ingénieur Zürich] member_count=5 "
	    "entitlements=[]\n"
	    "отдел_продаж attributes=[title] values=[Отдел продаж] member_count=5 "
	    "entitlements=[]\n");
}
END_TEST

/* No owners at all, and owners none of whom has the attributes: no roles, no error. */
START_TEST(test_empty)
{
	struct tjob *t;

	t = run(1, 0, NULL);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	ck_assert_int_eq(t->ctx.total, 0);
	tfree(t);
	own("x1", NULL, NULL);
	own("x2", "d", NULL);
	t = run(2, 0, NULL);
	expect(t, JOB_RUN_OK, 0, 0, 0);
	ck_assert_msg(strstr(t->log, "2 owners lack one of the attributes") != NULL, "%s",
	    t->log);
	tfree(t);
	expect_dump(RES_DB_ROLES, "");
}
END_TEST

static void
expect_param_error(const char *param, const char *want)
{
	struct tjob *t = run(1, 0, (const char *const[]){param, NULL});

	ck_assert_int_eq(t->rv, JOB_RUN_FAILED);
	ck_assert_msg(t->error != NULL && strstr(t->error, want) != NULL, "%s: %s", param,
	    t->error);
	tfree(t);
}

START_TEST(test_bad_parameters)
{
	expect_param_error("min_share=0", "parameter min_share");
	expect_param_error("min_share=1.5", "parameter min_share");
	expect_param_error("min_share=0.8x", "parameter min_share");
	expect_param_error("min_share=80%", "parameter min_share");
	expect_param_error("min_members=0", "parameter min_members");
	expect_param_error("min_members=five", "parameter min_members");
	expect_param_error("attributes=", "parameter attributes");
	expect_param_error("attributes=title,title", "parameter attributes");
	expect_param_error("attributes=ti tle", "parameter attributes");
	expect_param_error("attribute_source=hr", "parameter attribute_source");
}
END_TEST

/* Cancelled while writing members (batch_size 1): the roles are committed, some members
 * are; the next run finishes the members and counts the role updated. */
START_TEST(test_cancel)
{
	struct tjob *t;
	int calls;

	base_data();
	t = run(1, 0, (const char *const[]){"batch_size=1", NULL});
	expect(t, JOB_RUN_OK, 2, 0, 0);
	calls = t->cancel_calls;
	tfree(t);

	teardown();
	setup();
	base_data();
	/* The last few cancellation checks are in the member writing, one per member. */
	t = run(1, calls - 3, (const char *const[]){"batch_size=1", NULL});
	ck_assert_int_eq(t->rv, JOB_RUN_CANCELLED);
	ck_assert(t->ctx.was_cancelled);
	expect(t, JOB_RUN_CANCELLED, 2, 0, 0);
	tfree(t);
	expect_dump(RES_DB_ROLES, base_roles);
	/* 10 members: 7 written before the cancellation. */
	{
		char *m = dump(RES_DB_ROLE_MEMBERS, false);
		int n = tl_count_lines(m, "owner_id=");

		ck_assert_msg(n == 7, "%d members:\n%s", n, m);
		free(m);
	}
	t = run(2, 0, NULL);
	expect(t, JOB_RUN_OK, 0, 1, 0);
	tfree(t);
	expect_dump(RES_DB_ROLE_MEMBERS, base_members);
}
END_TEST

Suite *
roles_suite(void)
{
	Suite *s = suite_create("roles");
	TCase *tc = tcase_create("roles");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_generate);
	tcase_add_test(tc, test_attribute_source);
	tcase_add_test(tc, test_owner_id_without_link);
	tcase_add_test(tc, test_rerun_and_changes);
	tcase_add_test(tc, test_share_ties_and_min_members);
	tcase_add_test(tc, test_unicode_names);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_bad_parameters);
	tcase_add_test(tc, test_cancel);
	suite_add_tcase(s, tc);
	return s;
}
