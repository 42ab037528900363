/* store_results.h: reading the analysis jobs' results databases (results.h) back, for
 * jobctl (through the supervisor) and the REST API. Two layers:
 *   store_results_list/get: a generic paginated reader over one results database, in key
 *     order, that works for every role (read-only handles; a database that no analysis
 *     has created yet reads as empty);
 *   results_query_*: the resources the API exposes (roles, a role's members, violations,
 *     orphans, manager issues, and single records), their filters and their opaque
 *     cursors, so that the supervisor and jobsd-http answer the same question the same way.
 * Return convention as in store.h. */
#ifndef JOBSD_STORE_RESULTS_H
#define JOBSD_STORE_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "store.h"

/* One record: return 0 to go on, anything else to stop (returned by the reader). */
typedef int (*store_results_cb)(const char *key, size_t klen, const void *val, size_t vlen,
				void *arg);
/* Take this record into the page (1) or skip it (0)? Skipped records do not count. */
typedef int (*store_results_filter)(const char *key, size_t klen, const void *val,
				    size_t vlen, void *arg);

/* Up to first records of database db whose keys start with prefix (NULL: all), in key
 * order, starting just after after_key (NULL: from the start). The page is read in one
 * read-committed transaction (retried on a lock conflict), then handed to cb in order.
 * *has_more: another record follows the page. */
int store_results_list(struct store *s, const char *db, const char *prefix,
		       const char *after_key, size_t afterlen, size_t first,
		       store_results_filter filter, void *farg, store_results_cb cb, void *arg,
		       bool *has_more, char **cause);
/* The value of key in db (*val malloc'd); STORE_NOTFOUND when absent or no such db. */
int store_results_get(struct store *s, const char *db, const char *key, size_t klen,
		      void **val, size_t *vlen, char **cause);

/* --- the API's resources ---------------------------------------------------- */
enum results_res {
	RESULTS_ROLES,          /* list: roles */
	RESULTS_ROLE_MEMBERS,   /* list: role_members of one role (id = role name) */
	RESULTS_VIOLATIONS,     /* list: violations; filters policy, subject_kind */
	RESULTS_ORPHANS,        /* list: orphans */
	RESULTS_MANAGER_ISSUES, /* list: manager_issues; filter kind */
	RESULTS_ROLE,           /* one record of roles */
	RESULTS_OWNER_MANAGER,  /* one record of owner_managers */
	RESULTS_ACCOUNT_LINK,   /* one record of account_links */
	RESULTS_RES_COUNT,
};

/* "roles", "role_members", "violations", "orphans", "manager_issues", "role",
 * "owner_manager", "account_link" (the IPC names); -1 if unknown. */
int results_res_parse(const char *s, size_t len);
const char *results_res_name(enum results_res r);
bool results_res_is_list(enum results_res r);
/* The JSON array of a list page: "roles", "members", "violations", "orphans", "issues". */
const char *results_res_array(enum results_res r);
/* What a missing record is called in a 404 ("role", "owner", "account"). */
const char *results_res_thing(enum results_res r);

#define RESULTS_FIRST_DEFAULT 50
#define RESULTS_FIRST_MAX 1000
#define RESULTS_ID_MAX 1024 /* longest id/filter value accepted */

struct results_query {
	enum results_res res;
	const char *id; /* role name (members) or the record id (single records) */
	size_t idlen;
	const char *policy;       /* violations: NULL = any */
	const char *subject_kind; /* violations: "role" | "owner" | "account" */
	const char *kind;         /* manager issues: "missing" | "cycle" */
	uint32_t first;           /* 1..1000 */
	const char *after;        /* cursor, or NULL */
	size_t afterlen;
};
void results_query_init(struct results_query *q, enum results_res res);

/* Why a query was refused: status 400 (code invalid_parameter, parameter set), 404
 * (not_found) or 500 (internal_error; *cause of the call says why). */
struct results_err {
	int status;
	const char *code;
	const char *parameter; /* static, or NULL */
	char message[192];
};

/* One item: id is the record's id as shown (a member's owner id), map its msgpack value. */
typedef int (*results_item_cb)(const char *id, size_t idlen, const msgpack_object *map,
			       void *arg);

/* Check the filters' values (400 for a bad value). */
int results_query_check(const struct results_query *q, struct results_err *e);
/* One page of a list resource: items through cb, *has_more, and *end_cursor (malloc'd
 * base64url, NULL on an empty page) bound to the resource and its filters under ckey
 * (CURSOR_KEY_LEN bytes). -1 with *e (and *cause when e->status is 500). */
int results_query_list(struct store *s, const uint8_t *ckey, const struct results_query *q,
		       results_item_cb cb, void *arg, bool *has_more, char **end_cursor,
		       struct results_err *e, char **cause);
/* One record of a single-record resource (or the role of RESULTS_ROLE): cb once, or -1 with
 * *e (404 when absent). */
int results_query_get(struct store *s, const struct results_query *q, results_item_cb cb,
		      void *arg, struct results_err *e, char **cause);

#endif
