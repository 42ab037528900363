/* check_results.c: reading the analysis results back (daemon/store_results.h,
 * common/results_json.h, common/results_cursor.h, the REST endpoints and the jobctl
 * commands). Records are written by hand in the exact daemon/results.h format into a temp
 * store (or, for the end-to-end test, into a running jobsd's store), then read back: pages
 * of first=2 yield each key once, prefixes filter, the JSON is byte-exact against
 * hand-written strings, jobctl --json prints the REST body, a tampered cursor is a 400,
 * an unknown id a 404 and a list nobody computed an empty 200. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "log.h"
#include "lib/testlib.h"
#include "results.h"
#include "results_cursor.h"
#include "results_json.h"
#include "store.h"
#include "store_results.h"

Suite *results_suite(void);

/* --- writing records by hand ----------------------------------------------------- */

struct rec {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void
rec_begin(struct rec *r, size_t nfields)
{
	msgpack_sbuffer_init(&r->sb);
	msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
	msgpack_pack_map(&r->pk, nfields);
}

static void
k(struct rec *r, const char *key)
{
	msgpack_pack_str(&r->pk, strlen(key));
	msgpack_pack_str_body(&r->pk, key, strlen(key));
}

static void
kstr(struct rec *r, const char *key, const char *v)
{
	k(r, key);
	if (v == NULL) {
		msgpack_pack_nil(&r->pk);
		return;
	}
	msgpack_pack_str(&r->pk, strlen(v));
	msgpack_pack_str_body(&r->pk, v, strlen(v));
}

static void
kint(struct rec *r, const char *key, int64_t v)
{
	k(r, key);
	msgpack_pack_int64(&r->pk, v);
}

/* An array of n strings (varargs). */
static void
kstrs(struct rec *r, const char *key, int n, ...)
{
	va_list ap;
	const char *s;
	int i;

	k(r, key);
	msgpack_pack_array(&r->pk, (size_t)n);
	va_start(ap, n);
	for (i = 0; i < n; i++) {
		s = va_arg(ap, const char *);
		msgpack_pack_str(&r->pk, strlen(s));
		msgpack_pack_str_body(&r->pk, s, strlen(s));
	}
	va_end(ap);
}

static void
rec_put(struct store *s, const char *dbname, const char *key, struct rec *r)
{
	char *cause = NULL;
	DBT kk, v;
	DB *db;

	ck_assert_msg(store_db_open(s, dbname, DB_BTREE, 0, &db, &cause) == 0, "%s", cause);
	memset(&kk, 0, sizeof(kk));
	memset(&v, 0, sizeof(v));
	kk.data = (void *)(uintptr_t)key;
	kk.size = (u_int32_t)strlen(key);
	v.data = r->sb.data;
	v.size = (u_int32_t)r->sb.size;
	ck_assert_int_eq(db->put(db, NULL, &kk, &v, DB_AUTO_COMMIT), 0);
	db->close(db, 0);
	msgpack_sbuffer_destroy(&r->sb);
}

static void
role(struct store *s, const char *name, int members, const char *v1, const char *v2)
{
	struct rec r;

	rec_begin(&r, 5);
	if (v2 != NULL) {
		kstrs(&r, "attributes", 2, "department", "title");
		kstrs(&r, "values", 2, v1, v2);
	} else {
		kstrs(&r, "attributes", 1, "department");
		kstrs(&r, "values", 1, v1);
	}
	kint(&r, "member_count", members);
	if (members > 0)
		kstrs(&r, "entitlements", 2, "g1", "g2");
	else
		kstrs(&r, "entitlements", 0);
	kint(&r, "_job", 7);
	rec_put(s, RES_DB_ROLES, name, &r);
}

static void
member(struct store *s, const char *rolename, const char *owner)
{
	char key[128];
	struct rec r;

	snprintf(key, sizeof(key), "%s\x1f%s", rolename, owner);
	rec_begin(&r, 3);
	kstr(&r, "role", rolename);
	kstr(&r, "owner_id", owner);
	kint(&r, "_job", 7);
	rec_put(s, RES_DB_ROLE_MEMBERS, key, &r);
}

static void
violation(struct store *s, const char *policy, const char *kind, const char *skind,
	  const char *sid)
{
	char key[128];
	struct rec r;
	bool acct = strcmp(skind, "account") == 0;

	snprintf(key, sizeof(key), "%s|%s|%s", policy, skind, sid);
	rec_begin(&r, acct ? 9 : 8);
	kstr(&r, "policy", policy);
	kstr(&r, "kind", kind);
	kstr(&r, "subject_kind", skind);
	kstr(&r, "subject_id", sid);
	kstrs(&r, "entitlements", 2, "g1", "g2");
	kstr(&r, "detail", "g1 and g2 together");
	kint(&r, "first_seen_job", 5);
	if (acct)
		kstr(&r, "decision", "pending");
	kint(&r, "_job", 7);
	rec_put(s, RES_DB_VIOLATIONS, key, &r);
}

/* The whole fixture: 3 roles, 3 members, 4 violations, 3 manager issues, 2 owner
 * managers, 1 account link; no orphans. */
static void
fixture(struct store *s)
{
	struct rec r;

	role(s, "eng-senior", 2, "eng", "senior");
	role(s, "ops-junior", 1, "ops", "junior");
	role(s, "sales", 0, "sales", NULL);
	member(s, "eng-senior", "o1");
	member(s, "eng-senior", "o2");
	member(s, "ops-junior", "o3");
	violation(s, "p1", "sod", "owner", "o1");
	violation(s, "p1", "sod", "role", "eng-senior");
	violation(s, "p2", "account_rule", "account", "a9");
	violation(s, "p2", "max_entitlements", "owner", "o3");

	rec_begin(&r, 4);
	kstr(&r, "kind", "cycle");
	kstrs(&r, "members", 2, "o5", "o6");
	kint(&r, "length", 2);
	kint(&r, "_job", 3);
	rec_put(s, RES_DB_MANAGER_ISSUES, "cycle:o5", &r);
	rec_begin(&r, 4);
	kstr(&r, "kind", "missing");
	kstr(&r, "owner_id", "o1");
	kstr(&r, "manager_ref", "E999");
	kint(&r, "_job", 3);
	rec_put(s, RES_DB_MANAGER_ISSUES, "missing:o1", &r);
	rec_begin(&r, 4);
	kstr(&r, "kind", "missing");
	kstr(&r, "owner_id", "o2");
	kstr(&r, "manager_ref", NULL);
	kint(&r, "_job", 3);
	rec_put(s, RES_DB_MANAGER_ISSUES, "missing:o2", &r);

	rec_begin(&r, 6);
	kstr(&r, "manager_ref", "E999");
	kstr(&r, "manager_id", NULL);
	kstr(&r, "ref_kind", "employee_id");
	kstr(&r, "depth", NULL);
	kstr(&r, "state", "missing");
	kint(&r, "_job", 3);
	rec_put(s, RES_DB_OWNER_MANAGERS, "o1", &r);
	rec_begin(&r, 6);
	kstr(&r, "manager_ref", "o4@example.com");
	kstr(&r, "manager_id", "o4");
	kstr(&r, "ref_kind", "email");
	kint(&r, "depth", 1);
	kstr(&r, "state", "ok");
	kint(&r, "_job", 3);
	rec_put(s, RES_DB_OWNER_MANAGERS, "o3", &r);

	rec_begin(&r, 4);
	kstr(&r, "owner_id", "o1");
	kstr(&r, "rule", "email");
	kstr(&r, "application_id", "app1");
	kint(&r, "_job", 4);
	rec_put(s, RES_DB_ACCOUNT_LINKS, "a1", &r);
}

/* --- the store reader ------------------------------------------------------------ */

static char tmpdir[256];
static struct store *store;

static void
unit_setup(void)
{
	char *cause = NULL;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_results.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_msg(store_open(tmpdir, STORE_SUPERVISOR, &store, &cause) == 0, "%s", cause);
}

static void
unit_teardown(void)
{
	store_close(store);
	store = NULL;
	tl_rm_rf(tmpdir);
}

struct keys {
	char buf[1024];
	int n;
};

static int
collect(const char *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct keys *ks = arg;
	size_t used = strlen(ks->buf);

	snprintf(ks->buf + used, sizeof(ks->buf) - used, "%.*s;", (int)klen, key);
	ks->n++;
	return (0);
}

/* Page through db with first=2; all keys ";"-joined into out, the page sizes into sizes. */
static void
pages(const char *db, const char *prefix, char *out, size_t outlen, char *sizes,
      size_t slen)
{
	char last[1024] = "", *cause = NULL;
	bool more = true, started = false;
	struct keys ks;
	const char *p;

	out[0] = sizes[0] = '\0';
	while (more) {
		memset(&ks, 0, sizeof(ks));
		ck_assert_msg(store_results_list(store, db, prefix, started ? last : NULL,
						 strlen(last), 2, NULL, NULL, collect, &ks, &more,
						 &cause) == 0,
			      "%s", cause);
		snprintf(out + strlen(out), outlen - strlen(out), "%s", ks.buf);
		snprintf(sizes + strlen(sizes), slen - strlen(sizes), "%d", ks.n);
		if (ks.n == 0)
			break;
		/* the last key of the page */
		ks.buf[strlen(ks.buf) - 1] = '\0';
		p = strrchr(ks.buf, ';');
		snprintf(last, sizeof(last), "%s", p != NULL ? p + 1 : ks.buf);
		started = true;
	}
}

START_TEST(test_list_pages)
{
	char keys[1024], sizes[32];

	fixture(store);
	pages(RES_DB_VIOLATIONS, NULL, keys, sizeof(keys), sizes, sizeof(sizes));
	ck_assert_str_eq(keys, "p1|owner|o1;p1|role|eng-senior;p2|account|a9;p2|owner|o3;");
	ck_assert_str_eq(sizes, "22");
	pages(RES_DB_ROLES, NULL, keys, sizeof(keys), sizes, sizeof(sizes));
	ck_assert_str_eq(keys, "eng-senior;ops-junior;sales;");
	ck_assert_str_eq(sizes, "21");
	pages(RES_DB_VIOLATIONS, "p2|", keys, sizeof(keys), sizes, sizeof(sizes));
	ck_assert_str_eq(keys, "p2|account|a9;p2|owner|o3;");
	ck_assert_str_eq(sizes, "2");
	pages(RES_DB_MANAGER_ISSUES, "missing:", keys, sizeof(keys), sizes, sizeof(sizes));
	ck_assert_str_eq(keys, "missing:o1;missing:o2;");
	pages(RES_DB_ROLE_MEMBERS, "eng-senior\x1f", keys, sizeof(keys), sizes, sizeof(sizes));
	ck_assert_str_eq(keys, "eng-senior\x1fo1;eng-senior\x1fo2;");
	pages(RES_DB_VIOLATIONS, "p9|", keys, sizeof(keys), sizes, sizeof(sizes));
	ck_assert_str_eq(keys, "");
	ck_assert_str_eq(sizes, "0");
	/* no analysis ran: no database, an empty list */
	pages(RES_DB_ORPHANS, NULL, keys, sizeof(keys), sizes, sizeof(sizes));
	ck_assert_str_eq(keys, "");
	ck_assert_str_eq(sizes, "0");
}
END_TEST

START_TEST(test_get)
{
	char *cause = NULL;
	void *v;
	size_t vlen;

	ck_assert_int_eq(store_results_get(store, RES_DB_ROLES, "x", 1, &v, &vlen, &cause),
			 STORE_NOTFOUND);
	fixture(store);
	ck_assert_int_eq(store_results_get(store, RES_DB_ROLES, "x", 1, &v, &vlen, &cause),
			 STORE_NOTFOUND);
	ck_assert_int_eq(store_results_get(store, RES_DB_ROLES, "sales", 5, &v, &vlen, &cause), 0);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_gt(vlen, 10);
	free(v);
}
END_TEST

/* --- JSON ----------------------------------------------------------------------------- */

static char *
render(const char *db, const char *key)
{
	char *cause = NULL, *out;
	const unsigned char *buf;
	size_t vlen, len;
	void *v;
	yajl_gen g;

	ck_assert_int_eq(store_results_get(store, db, key, strlen(key), &v, &vlen, &cause), 0);
	g = results_json_gen();
	ck_assert_int_eq(results_json_record_raw(g, key, strlen(key), v, vlen), 0);
	yajl_gen_get_buf(g, &buf, &len);
	out = xstrndup((const char *)buf, len);
	yajl_gen_free(g);
	free(v);
	return (out);
}

START_TEST(test_json)
{
	char *s;
	yajl_gen g;
	const unsigned char *buf;
	size_t len;

	fixture(store);
	s = render(RES_DB_VIOLATIONS, "p2|account|a9");
	ck_assert_str_eq(s, "{\"id\":\"p2|account|a9\",\"policy\":\"p2\",\"kind\":\"account_rule\","
			    "\"subject_kind\":\"account\",\"subject_id\":\"a9\","
			    "\"entitlements\":[\"g1\",\"g2\"],\"detail\":\"g1 and g2 together\","
			    "\"first_seen_job\":5,\"decision\":\"pending\"}");
	free(s);
	s = render(RES_DB_OWNER_MANAGERS, "o1");
	ck_assert_str_eq(s, "{\"id\":\"o1\",\"manager_ref\":\"E999\",\"manager_id\":null,"
			    "\"ref_kind\":\"employee_id\",\"depth\":null,\"state\":\"missing\"}");
	free(s);
	s = render(RES_DB_ROLES, "sales");
	ck_assert_str_eq(s, "{\"id\":\"sales\",\"attributes\":[\"department\"],"
			    "\"values\":[\"sales\"],\"member_count\":0,\"entitlements\":[]}");
	free(s);
	s = render(RES_DB_MANAGER_ISSUES, "cycle:o5");
	ck_assert_str_eq(s, "{\"id\":\"cycle:o5\",\"kind\":\"cycle\",\"members\":[\"o5\",\"o6\"],"
			    "\"length\":2}");
	free(s);

	g = results_json_gen();
	results_json_page_open(g, "orphans");
	results_json_page_close(g, false, NULL);
	yajl_gen_get_buf(g, &buf, &len);
	ck_assert_str_eq((const char *)buf,
			 "{\"orphans\":[],\"pageInfo\":{\"hasNextPage\":false,\"endCursor\":null}}");
	yajl_gen_free(g);
	/* not a map: refused */
	g = results_json_gen();
	ck_assert_int_eq(results_json_record_raw(g, "x", 1, "\x01", 1), -1);
	yajl_gen_free(g);
}
END_TEST

/* --- cursors and queries ----------------------------------------------------------------- */

static int
count_item(const char *id, size_t idlen, const msgpack_object *map, void *arg)
{
	struct keys *ks = arg;
	size_t used = strlen(ks->buf);

	snprintf(ks->buf + used, sizeof(ks->buf) - used, "%.*s;", (int)idlen, id);
	ks->n++;
	return (0);
}

START_TEST(test_cursor_and_query)
{
	uint8_t key[CURSOR_KEY_LEN], other[CURSOR_KEY_LEN];
	struct results_query q;
	struct results_err e;
	struct keys ks;
	char *c, *last = NULL, *cause = NULL, *end = NULL, *end2 = NULL;
	size_t lastlen;
	bool more;

	memset(key, 7, sizeof(key));
	memset(other, 8, sizeof(other));
	c = results_cursor_encode(key, "violations", "f", "p1|owner|o1", 11);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(results_cursor_decode(key, "violations", "f", c, strlen(c), &last,
					       &lastlen), 0);
	ck_assert_str_eq(last, "p1|owner|o1");
	ck_assert_uint_eq(lastlen, 11);
	free(last);
	/* another list, other filters, another secret */
	ck_assert_int_eq(results_cursor_decode(key, "orphans", "f", c, strlen(c), &last,
					       &lastlen), -1);
	ck_assert_int_eq(results_cursor_decode(key, "violations", "g", c, strlen(c), &last,
					       &lastlen), -1);
	ck_assert_int_eq(results_cursor_decode(other, "violations", "f", c, strlen(c), &last,
					       &lastlen), -1);
	/* one character changed */
	c[3] = c[3] == 'A' ? 'B' : 'A';
	ck_assert_int_eq(results_cursor_decode(key, "violations", "f", c, strlen(c), &last,
					       &lastlen), -1);
	ck_assert_int_eq(results_cursor_decode(key, "violations", "f", "!!", 2, &last,
					       &lastlen), -1);
	ck_assert_ptr_null(last);
	free(c);

	fixture(store);
	/* violations of owners, any policy: filtered by the key, first=1 */
	results_query_init(&q, RESULTS_VIOLATIONS);
	q.subject_kind = "owner";
	q.first = 1;
	memset(&ks, 0, sizeof(ks));
	ck_assert_int_eq(results_query_list(store, key, &q, count_item, &ks, &more, &end, &e,
					    &cause), 0);
	ck_assert_str_eq(ks.buf, "p1|owner|o1;");
	ck_assert(more);
	ck_assert_ptr_nonnull(end);
	q.after = end;
	q.afterlen = strlen(end);
	memset(&ks, 0, sizeof(ks));
	ck_assert_int_eq(results_query_list(store, key, &q, count_item, &ks, &more, &end2, &e,
					    &cause), 0);
	ck_assert_str_eq(ks.buf, "p2|owner|o3;");
	ck_assert(!more);
	free(end2);
	/* the cursor of the owner filter does not page the role filter */
	q.subject_kind = "role";
	ck_assert_int_eq(results_query_list(store, key, &q, count_item, &ks, &more, &end2, &e,
					    &cause), -1);
	ck_assert_int_eq(e.status, 400);
	ck_assert_str_eq(e.parameter, "after");
	free(end);

	/* members: ids are owner ids; an unknown role is a 404 */
	results_query_init(&q, RESULTS_ROLE_MEMBERS);
	q.id = "eng-senior";
	q.idlen = strlen(q.id);
	memset(&ks, 0, sizeof(ks));
	ck_assert_int_eq(results_query_list(store, key, &q, count_item, &ks, &more, &end, &e,
					    &cause), 0);
	ck_assert_str_eq(ks.buf, "o1;o2;");
	free(end);
	q.id = "nope";
	q.idlen = 4;
	ck_assert_int_eq(results_query_list(store, key, &q, count_item, &ks, &more, &end, &e,
					    &cause), -1);
	ck_assert_int_eq(e.status, 404);
	/* bad filter values */
	results_query_init(&q, RESULTS_MANAGER_ISSUES);
	q.kind = "other";
	ck_assert_int_eq(results_query_check(&q, &e), -1);
	ck_assert_str_eq(e.parameter, "kind");
	results_query_init(&q, RESULTS_ORPHANS);
	q.kind = "missing";
	ck_assert_int_eq(results_query_check(&q, &e), -1);
	ck_assert_str_eq(e.code, "unknown_parameter");
}
END_TEST

/* --- REST and jobctl against a real jobsd -------------------------------------------- */

static void
get(struct tl_daemon *d, const char *path, const char *tok, int want, char **body)
{
	int status = 0;

	ck_assert_msg(tl_http(d, "GET", path, tok, NULL, &status, body) == 0, "GET %s", path);
	ck_assert_msg(status == want, "GET %s: %d %s", path, status, *body);
}

/* The endCursor of a page body (malloc'd), or NULL. */
static char *
end_cursor(const char *body)
{
	const char *p = strstr(body, "\"endCursor\":\"");
	const char *q;

	if (p == NULL)
		return (NULL);
	p += 13;
	q = strchr(p, '"');
	return (xstrndup(p, (size_t)(q - p)));
}

/* jobctl --json ARGS prints exactly the REST body of path (plus a newline). */
static void
same(struct tl_daemon *d, const char *tok, const char *path, const char *const *args)
{
	struct tl_run r;
	char *body, *want;

	get(d, path, tok, 200, &body);
	ck_assert_int_eq(tl_jobctlv(d, &r, args), 0);
	want = xasprintf("%s\n", body);
	ck_assert_str_eq(r.out, want);
	free(want);
	free(body);
	tl_run_free(&r);
}

START_TEST(test_rest_and_jobctl)
{
	char listen[64], *tok, *body, *cur, path[512], *cause = NULL;
	struct tl_daemon *d;
	struct store *s;
	struct tl_run r;
	int port = tl_free_port();

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	d = tl_daemon_new(&(struct tl_opts){.max_workers = 1, .http_listen = listen});
	tl_daemon_start(d);
	ck_assert_int_eq(tl_http_wait(d, TL_START_TIMEOUT_MS), 0);
	ck_assert_int_eq(tl_jobctl(d, &r, "token", "create", "web", "--role", "Administrator",
				   NULL), 0);
	tok = tl_last_line(r.out);
	tl_run_free(&r);

	/* Nothing computed yet: empty lists, 404 records. */
	get(d, "/api/v1/roles", tok, 200, &body);
	ck_assert_str_eq(body, "{\"roles\":[],\"pageInfo\":{\"hasNextPage\":false,"
			       "\"endCursor\":null}}");
	free(body);
	get(d, "/api/v1/roles/eng-senior", tok, 404, &body);
	free(body);
	ck_assert_int_eq(tl_jobctl(d, &r, "roles", NULL), 0);
	ck_assert_str_eq(r.out, "no roles\n");
	tl_run_free(&r);

	/* Write the results as the analysis workers would. */
	ck_assert_msg(store_open(d->data_dir, STORE_WORKER, &s, &cause) == 0, "%s", cause);
	store = s;
	fixture(s);
	store = NULL;
	store_close(s);

	/* Roles, two pages of 2 and 1. */
	get(d, "/api/v1/roles?first=2", tok, 200, &body);
	cur = end_cursor(body);
	ck_assert_ptr_nonnull(cur);
	{
		const char *want = "{\"roles\":[{\"id\":\"eng-senior\",\"attributes\":[\"department\","
				   "\"title\"],\"values\":[\"eng\",\"senior\"],\"member_count\":2,"
				   "\"entitlements\":[\"g1\",\"g2\"]},{\"id\":\"ops-junior\","
				   "\"attributes\":[\"department\",\"title\"],\"values\":[\"ops\","
				   "\"junior\"],\"member_count\":1,\"entitlements\":[\"g1\",\"g2\"]}],"
				   "\"pageInfo\":{\"hasNextPage\":true,\"endCursor\":\"";
		char *full = xasprintf("%s%s\"}}", want, cur);

		ck_assert_str_eq(body, full);
		free(full);
	}
	free(body);
	snprintf(path, sizeof(path), "/api/v1/roles?first=2&after=%s", cur);
	get(d, path, tok, 200, &body);
	{
		char *c2 = end_cursor(body);
		char *full = xasprintf("{\"roles\":[{\"id\":\"sales\",\"attributes\":[\"department\"],"
				       "\"values\":[\"sales\"],\"member_count\":0,"
				       "\"entitlements\":[]}],\"pageInfo\":{\"hasNextPage\":false,"
				       "\"endCursor\":\"%s\"}}",
				       c2);

		ck_assert_str_eq(body, full);
		free(full);
		free(c2);
	}
	free(body);
	/* jobctl: the same bytes, first page and the next */
	same(d, tok, "/api/v1/roles?first=2",
	     (const char *const[]){"--json", "roles", "--limit", "2", NULL});
	snprintf(path, sizeof(path), "/api/v1/roles?first=2&after=%s", cur);
	same(d, tok, path,
	     (const char *const[]){"--json", "roles", "--limit", "2", "--after", cur, NULL});
	/* for people: a table and the command for the next page */
	ck_assert_int_eq(tl_jobctl(d, &r, "roles", "--limit", "2", NULL), 0);
	{
		char *full = xasprintf("ROLE        MEMBERS  ENTITLEMENTS  VALUES\n"
				       "eng-senior  2        2             eng,senior\n"
				       "ops-junior  1        2             ops,junior\n"
				       "more: jobctl roles --limit 2 --after %s\n",
				       cur);

		ck_assert_str_eq(r.out, full);
		free(full);
	}
	tl_run_free(&r);
	/* HEAD answers like GET without a body; other methods are refused */
	{
		int status = 0;

		ck_assert_int_eq(tl_http(d, "HEAD", "/api/v1/roles", tok, NULL, &status, &body), 0);
		ck_assert_int_eq(status, 200);
		ck_assert_str_eq(body, "");
		free(body);
		ck_assert_int_eq(tl_http(d, "POST", "/api/v1/roles", tok, "{}", &status, &body), 0);
		ck_assert_int_eq(status, 405);
		free(body);
	}
	/* a tampered cursor */
	cur[5] = cur[5] == 'A' ? 'B' : 'A';
	snprintf(path, sizeof(path), "/api/v1/roles?first=2&after=%s", cur);
	get(d, path, tok, 400, &body);
	ck_assert_ptr_nonnull(strstr(body, "\"code\":\"invalid_parameter\""));
	ck_assert_ptr_nonnull(strstr(body, "\"parameter\":\"after\""));
	free(body);
	ck_assert_int_eq(tl_jobctl(d, &r, "roles", "--after", cur, NULL), 1);
	tl_run_free(&r);
	free(cur);

	/* One role, its members, an unknown role. */
	get(d, "/api/v1/roles/sales", tok, 200, &body);
	ck_assert_str_eq(body, "{\"id\":\"sales\",\"attributes\":[\"department\"],"
			       "\"values\":[\"sales\"],\"member_count\":0,\"entitlements\":[]}");
	free(body);
	same(d, tok, "/api/v1/roles/sales", (const char *const[]){"--json", "role", "sales", NULL});
	get(d, "/api/v1/roles/eng-senior/members", tok, 200, &body);
	cur = end_cursor(body);
	{
		char *full = xasprintf("{\"members\":[{\"id\":\"o1\",\"role\":\"eng-senior\","
				       "\"owner_id\":\"o1\"},{\"id\":\"o2\",\"role\":\"eng-senior\","
				       "\"owner_id\":\"o2\"}],\"pageInfo\":{\"hasNextPage\":false,"
				       "\"endCursor\":\"%s\"}}",
				       cur);
		ck_assert_str_eq(body, full);
		free(full);
	}
	free(cur);
	free(body);
	same(d, tok, "/api/v1/roles/eng-senior/members",
	     (const char *const[]){"--json", "role", "eng-senior", "--members", NULL});
	get(d, "/api/v1/roles/nope/members", tok, 404, &body);
	free(body);
	get(d, "/api/v1/roles/nope", tok, 404, &body);
	ck_assert_str_eq(body, "{\"error\":{\"status\":404,\"code\":\"not_found\","
			       "\"message\":\"no such role\"}}");
	free(body);
	/* errors too: jobctl --json prints the REST error body */
	ck_assert_int_eq(tl_jobctl(d, &r, "--json", "role", "nope", NULL), 1);
	ck_assert_str_eq(r.out, "{\"error\":{\"status\":404,\"code\":\"not_found\","
				"\"message\":\"no such role\"}}\n");
	tl_run_free(&r);
	get(d, "/api/v1/managers/issues?kind=other", tok, 400, &body);
	ck_assert_int_eq(tl_jobctl(d, &r, "--json", "managers", "--kind", "other", NULL), 1);
	{
		char *want = xasprintf("%s\n", body);

		ck_assert_str_eq(r.out, want);
		free(want);
	}
	tl_run_free(&r);
	free(body);
	ck_assert_int_eq(tl_jobctl(d, &r, "role", "eng-senior", NULL), 0);
	ck_assert_str_eq(r.out, "id: eng-senior\nattributes: department,title\n"
				"values: eng,senior\nmember_count: 2\nentitlements: g1,g2\n\n"
				"MEMBER\no1\no2\n");
	tl_run_free(&r);
	get(d, "/api/v1/roles/eng-senior/members?first=1", tok, 200, &body);
	cur = end_cursor(body);
	free(body);
	ck_assert_int_eq(tl_jobctl(d, &r, "role", "eng-senior", "--limit", "1", NULL), 0);
	{
		char *full = xasprintf("id: eng-senior\nattributes: department,title\n"
				       "values: eng,senior\nmember_count: 2\nentitlements: g1,g2\n"
				       "\nMEMBER\no1\nmore: jobctl role eng-senior --limit 1 --after "
				       "%s\n",
				       cur);

		ck_assert_str_eq(r.out, full);
		free(full);
	}
	tl_run_free(&r);
	free(cur);

	/* Violations with filters. */
	get(d, "/api/v1/violations?subject_kind=owner", tok, 200, &body);
	ck_assert_ptr_nonnull(strstr(body, "{\"violations\":[{\"id\":\"p1|owner|o1\","));
	ck_assert_ptr_nonnull(strstr(body, "},{\"id\":\"p2|owner|o3\","));
	ck_assert_ptr_null(strstr(body, "a9"));
	free(body);
	same(d, tok, "/api/v1/violations?subject_kind=owner",
	     (const char *const[]){"--json", "violations", "--kind", "owner", NULL});
	same(d, tok, "/api/v1/violations?policy=p2&first=1",
	     (const char *const[]){"--json", "violations", "--policy", "p2", "--limit", "1", NULL});
	get(d, "/api/v1/violations?policy=p2&subject_kind=account", tok, 200, &body);
	ck_assert_ptr_nonnull(strstr(body, "{\"violations\":[{\"id\":\"p2|account|a9\",\"policy\":"
					   "\"p2\",\"kind\":\"account_rule\",\"subject_kind\":"
					   "\"account\",\"subject_id\":\"a9\",\"entitlements\":[\"g1\","
					   "\"g2\"],\"detail\":\"g1 and g2 together\",\"first_seen_job\":"
					   "5,\"decision\":\"pending\"}],\"pageInfo\":{\"hasNextPage\":"
					   "false,\"endCursor\":\""));
	free(body);
	get(d, "/api/v1/violations?subject_kind=group", tok, 400, &body);
	ck_assert_ptr_nonnull(strstr(body, "\"parameter\":\"subject_kind\""));
	free(body);
	get(d, "/api/v1/violations?color=red", tok, 400, &body);
	ck_assert_ptr_nonnull(strstr(body, "\"code\":\"unknown_parameter\""));
	free(body);
	get(d, "/api/v1/violations?first=0", tok, 400, &body);
	free(body);
	ck_assert_int_eq(tl_jobctl(d, &r, "violations", "--policy", "p1", NULL), 0);
	ck_assert_str_eq(r.out,
			 "POLICY  KIND  SUBJECT  ID          ENTITLEMENTS  DETAIL\n"
			 "p1      sod   owner    o1          g1,g2         g1 and g2 together\n"
			 "p1      sod   role     eng-senior  g1,g2         g1 and g2 together\n");
	tl_run_free(&r);

	/* Manager issues, owner managers, account links, orphans. */
	get(d, "/api/v1/managers/issues?kind=missing", tok, 200, &body);
	cur = end_cursor(body);
	{
		char *full = xasprintf("{\"issues\":[{\"id\":\"missing:o1\",\"kind\":\"missing\","
				       "\"owner_id\":\"o1\",\"manager_ref\":\"E999\"},"
				       "{\"id\":\"missing:o2\",\"kind\":\"missing\",\"owner_id\":\"o2\","
				       "\"manager_ref\":null}],\"pageInfo\":{\"hasNextPage\":false,"
				       "\"endCursor\":\"%s\"}}",
				       cur);
		ck_assert_str_eq(body, full);
		free(full);
	}
	free(cur);
	free(body);
	same(d, tok, "/api/v1/managers/issues?kind=missing",
	     (const char *const[]){"--json", "managers", "--kind", "missing", NULL});
	same(d, tok, "/api/v1/managers/issues",
	     (const char *const[]){"--json", "managers", NULL});
	get(d, "/api/v1/owners/o3/manager", tok, 200, &body);
	ck_assert_str_eq(body, "{\"id\":\"o3\",\"manager_ref\":\"o4@example.com\",\"manager_id\":"
			       "\"o4\",\"ref_kind\":\"email\",\"depth\":1,\"state\":\"ok\"}");
	free(body);
	same(d, tok, "/api/v1/owners/o3/manager",
	     (const char *const[]){"--json", "manager", "o3", NULL});
	get(d, "/api/v1/owners/o9/manager", tok, 404, &body);
	free(body);
	get(d, "/api/v1/accounts/a1/link", tok, 200, &body);
	ck_assert_str_eq(body, "{\"id\":\"a1\",\"owner_id\":\"o1\",\"rule\":\"email\","
			       "\"application_id\":\"app1\"}");
	free(body);
	same(d, tok, "/api/v1/accounts/a1/link", (const char *const[]){"--json", "link", "a1", NULL});
	get(d, "/api/v1/accounts/zz/link", tok, 404, &body);
	free(body);
	ck_assert_int_eq(tl_jobctl(d, &r, "link", "zz", NULL), 1);
	tl_run_free(&r);
	get(d, "/api/v1/accounts/a1/link?x=1", tok, 400, &body);
	free(body);
	get(d, "/api/v1/orphans", tok, 200, &body);
	ck_assert_str_eq(body, "{\"orphans\":[],\"pageInfo\":{\"hasNextPage\":false,"
			       "\"endCursor\":null}}");
	free(body);
	same(d, tok, "/api/v1/orphans", (const char *const[]){"--json", "orphans", NULL});
	/* the control request itself: bad resource, unknown field, a list's first page */
	{
		struct tl_reply rep;
		char buf[64];
		int64_t st = 0;
		bool more = true;

		ck_assert_int_eq(tl_call(d, MSG_CTL_RESULTS,
					 (const char *const[]){"resource", "nope", NULL}, 5000, &rep),
				 0);
		ck_assert(!rep.ok);
		ck_assert_int_eq(ipc_get_int(&rep.m.body, "status", &st), 0);
		ck_assert_int_eq(st, 400);
		ck_assert_int_eq(ipc_get_strbuf(&rep.m.body, "parameter", buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, "resource");
		tl_reply_free(&rep);
		ck_assert_int_eq(tl_call(d, MSG_CTL_RESULTS,
					 (const char *const[]){"resource", "orphans", "colour", "red",
							       NULL},
					 5000, &rep),
				 0);
		ck_assert(!rep.ok);
		ck_assert_int_eq(ipc_get_strbuf(&rep.m.body, "code", buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, "unknown_parameter");
		ck_assert_int_eq(ipc_get_strbuf(&rep.m.body, "parameter", buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, "colour");
		tl_reply_free(&rep);
		ck_assert_int_eq(tl_call(d, MSG_CTL_RESULTS,
					 (const char *const[]){"resource", "manager_issues", "kind",
							       "cycle", NULL},
					 5000, &rep),
				 0);
		ck_assert(rep.ok);
		ck_assert_int_eq(ipc_get(&rep.m.body, "items")->via.array.size, 1);
		ck_assert_int_eq(ipc_get_bool(&rep.m.body, "has_next", &more), 0);
		ck_assert(!more);
		tl_reply_free(&rep);
	}
	/* no token: 401 */
	get(d, "/api/v1/orphans", NULL, 401, &body);
	free(body);
	free(tok);
}
END_TEST

Suite *
results_suite(void)
{
	Suite *s = suite_create("results");
	TCase *tc = tcase_create("store");
	TCase *e2e;

	tcase_add_checked_fixture(tc, unit_setup, unit_teardown);
	tcase_add_test(tc, test_list_pages);
	tcase_add_test(tc, test_get);
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_cursor_and_query);
	suite_add_tcase(s, tc);
	e2e = tl_tcase("rest", 90);
	tcase_add_test(e2e, test_rest_and_jobctl);
	suite_add_tcase(s, e2e);
	return (s);
}
