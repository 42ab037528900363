/* check_http_openapi.c: the OpenAPI document: the embedded copy (http/openapi_doc.c) is
 * byte-identical to http/openapi.json, it is valid JSON, every route of the router is
 * documented with each of its methods, and every documented path and method is routed. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "http/http.h"

Suite *http_openapi_suite(void);

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	ck_assert_msg(f != NULL, "%s: cannot open (run from the source tree)", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	p = malloc((size_t)n + 1);
	ck_assert_int_eq(fread(p, 1, (size_t)n, f), (size_t)n);
	p[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return (p);
}

START_TEST(test_embedded_copy)
{
	size_t len;
	char *file = slurp("http/openapi.json", &len);

	ck_assert_msg(len == openapi_json_len && memcmp(file, openapi_json, len) == 0,
		      "http/openapi_doc.c is stale: run http/gen-openapi.sh");
	free(file);
}
END_TEST

static const char *const methods[] = {"get", "put", "post", "delete", "patch", "head",
				      "options", "trace"};
static const int method_codes[] = {HTTP_GET,   HTTP_PUT,  HTTP_POST,    HTTP_DELETE,
				   HTTP_PATCH, HTTP_HEAD, HTTP_OPTIONS, HTTP_TRACE};

/* "/api/v1/jobs/{id}/progress" -> "/api/v1/jobs/job-1/progress" */
static void
concrete(const char *pattern, char *out, size_t outlen)
{
	const char *p = strstr(pattern, "{id}");

	if (p == NULL)
		snprintf(out, outlen, "%s", pattern);
	else
		snprintf(out, outlen, "%.*sjob-1%s", (int)(p - pattern), pattern, p + 4);
}

START_TEST(test_routes_documented)
{
	char err[256], path[256];
	yajl_val doc, paths, item, op;
	const char *ppath[] = {"paths", NULL};
	const struct route *routes;
	struct route_match m;
	size_t n, i, k;

	doc = yajl_tree_parse(openapi_json, err, sizeof(err));
	ck_assert_msg(doc != NULL, "openapi.json: %s", err);
	ck_assert_str_eq(YAJL_GET_STRING(yajl_tree_get(doc, (const char *[]){"openapi", NULL},
						       yajl_t_string)),
			 "3.0.3");
	paths = yajl_tree_get(doc, ppath, yajl_t_object);
	ck_assert_ptr_nonnull(paths);

	/* Every route, every method it takes (HEAD is implied by GET). */
	routes = router_routes(&n);
	for (i = 0; i < n; i++) {
		const char *p1[] = {routes[i].pattern, NULL};

		item = yajl_tree_get(paths, p1, yajl_t_object);
		ck_assert_msg(item != NULL, "route %s is not documented", routes[i].pattern);
		for (k = 0; k < 4; k++) {
			static const unsigned bits[] = {ROUTE_M_GET, 0, ROUTE_M_POST, ROUTE_M_DELETE};
			const char *p2[] = {methods[k], NULL};

			if (bits[k] == 0)
				continue;
			op = yajl_tree_get(item, p2, yajl_t_object);
			ck_assert_msg((op != NULL) == ((routes[i].methods & bits[k]) != 0),
				      "%s %s: documented %d, routed %d", methods[k],
				      routes[i].pattern, op != NULL,
				      (routes[i].methods & bits[k]) != 0);
			/* Unauthenticated routes say so. */
			if (op != NULL && !routes[i].auth) {
				const char *p3[] = {"security", NULL};
				yajl_val sec = yajl_tree_get(op, p3, yajl_t_array);
				ck_assert_msg(sec != NULL && YAJL_GET_ARRAY(sec)->len == 0,
					      "%s has no auth but the document requires it",
					      routes[i].pattern);
			}
		}
	}

	/* Every documented path and method is routed to that very pattern. */
	for (i = 0; i < YAJL_GET_OBJECT(paths)->len; i++) {
		const char *key = YAJL_GET_OBJECT(paths)->keys[i];

		item = YAJL_GET_OBJECT(paths)->values[i];
		concrete(key, path, sizeof(path));
		for (k = 0; k < YAJL_GET_OBJECT(item)->len; k++) {
			const char *mk = YAJL_GET_OBJECT(item)->keys[k];
			size_t x;

			if (strcmp(mk, "parameters") == 0 || strcmp(mk, "summary") == 0 ||
			    strcmp(mk, "description") == 0)
				continue;
			for (x = 0; x < sizeof(methods) / sizeof(methods[0]); x++) {
				if (strcmp(methods[x], mk) == 0)
					break;
			}
			ck_assert_msg(x < sizeof(methods) / sizeof(methods[0]), "%s: key %s", key,
				      mk);
			ck_assert_msg(router_match(method_codes[x], path, strlen(path), &m) == 0,
				      "documented %s %s is not routed", mk, key);
			ck_assert_str_eq(m.route->pattern, key);
		}
	}
	yajl_tree_free(doc);
}
END_TEST

Suite *
http_openapi_suite(void)
{
	Suite *s = suite_create("http_openapi");
	TCase *tc = tcase_create("openapi");

	tcase_add_test(tc, test_embedded_copy);
	tcase_add_test(tc, test_routes_documented);
	suite_add_tcase(s, tc);
	return (s);
}
