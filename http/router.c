/* router.c: the static route table: method + path pattern -> route; 404 for an unknown
 * path, 405 (with the Allow list) for a known path and a wrong method. A pattern is matched
 * segment by segment; "{id}" matches one non-empty segment; literal segments win over
 * {id} because the table lists them first. */
#include <stdio.h>
#include <string.h>

#include "http.h"

static const struct route routes[] = {
	{"/api/v1/jobs", ROUTE_JOBS, ROUTE_M_GET | ROUTE_M_POST, true},
	{"/api/v1/jobs/running", ROUTE_JOBS_RUNNING, ROUTE_M_GET, true},
	{"/api/v1/jobs/{id}", ROUTE_JOB, ROUTE_M_GET | ROUTE_M_DELETE, true},
	{"/api/v1/jobs/{id}/progress", ROUTE_JOB_PROGRESS, ROUTE_M_GET, true},
	{"/api/v1/openapi.json", ROUTE_OPENAPI, ROUTE_M_GET, false},
	{"/api/v1/roles", ROUTE_ROLES, ROUTE_M_GET, true},
	{"/api/v1/roles/{id}", ROUTE_ROLE, ROUTE_M_GET, true},
	{"/api/v1/roles/{id}/members", ROUTE_ROLE_MEMBERS, ROUTE_M_GET, true},
	{"/api/v1/violations", ROUTE_VIOLATIONS, ROUTE_M_GET, true},
	{"/api/v1/orphans", ROUTE_ORPHANS, ROUTE_M_GET, true},
	{"/api/v1/managers/issues", ROUTE_MANAGER_ISSUES, ROUTE_M_GET, true},
	{"/api/v1/owners/{id}/manager", ROUTE_OWNER_MANAGER, ROUTE_M_GET, true},
	{"/api/v1/accounts/{id}/link", ROUTE_ACCOUNT_LINK, ROUTE_M_GET, true},
	{"/healthz", ROUTE_HEALTHZ, ROUTE_M_GET, false},
	{"/metrics", ROUTE_METRICS, ROUTE_M_GET, true},
};

const struct route *
router_routes(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return (routes);
}

unsigned
router_method_bit(int method)
{
	switch (method) {
	case HTTP_GET:
		return (ROUTE_M_GET);
	case HTTP_HEAD:
		return (ROUTE_M_HEAD);
	case HTTP_POST:
		return (ROUTE_M_POST);
	case HTTP_DELETE:
		return (ROUTE_M_DELETE);
	default:
		return (0);
	}
}

/* Does path match pattern? On a match, the {id} segment goes to *id. */
static int
match(const char *pattern, const char *path, size_t len, const char **id, size_t *idlen)
{
	const char *pe, *se, *end = path + len;
	size_t plen;

	*id = NULL;
	*idlen = 0;
	for (;;) {
		if (*pattern != '/' || path >= end || *path != '/')
			return (0);
		pattern++;
		path++;
		pe = strchr(pattern, '/');
		if (pe == NULL)
			pe = pattern + strlen(pattern);
		se = memchr(path, '/', (size_t)(end - path));
		if (se == NULL)
			se = end;
		plen = (size_t)(pe - pattern);
		if (plen == 4 && memcmp(pattern, "{id}", 4) == 0) {
			if (se == path)
				return (0);
			*id = path;
			*idlen = (size_t)(se - path);
		} else if (plen != (size_t)(se - path) || memcmp(pattern, path, plen) != 0)
			return (0);
		pattern = pe;
		path = se;
		if (*pattern == '\0')
			return (path == end);
	}
}

int
router_match(int method, const char *path, size_t len, struct route_match *m)
{
	const struct route *r;
	size_t i, n, idlen;
	const char *id;
	unsigned bit = router_method_bit(method), allowed;

	memset(m, 0, sizeof(*m));
	n = sizeof(routes) / sizeof(routes[0]);
	for (i = 0; i < n; i++) {
		r = &routes[i];
		if (!match(r->pattern, path, len, &id, &idlen))
			continue;
		allowed = r->methods;
		if (allowed & ROUTE_M_GET)
			allowed |= ROUTE_M_HEAD;
		m->route = r;
		m->id = id;
		m->idlen = idlen;
		if (bit & allowed)
			return (0);
		snprintf(m->allow, sizeof(m->allow), "%s%s%s%s",
			 (allowed & ROUTE_M_GET) ? "GET, HEAD" : "",
			 (allowed & ROUTE_M_POST) ? ((allowed & ROUTE_M_GET) ? ", POST" : "POST") : "",
			 (allowed & ROUTE_M_DELETE) ? ", DELETE" : "", "");
		return (405);
	}
	return (404);
}
