/* commands_results.c: jobctl roles | role NAME | violations | orphans | managers |
 * manager OWNER | link ACCOUNT: one MSG_CTL_RESULTS request each (role asks twice: the role,
 * then a page of its members), printed as a table for people or, with --json, as exactly
 * the body the REST API returns for the same question (common/results_json.c renders both). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "commands_results.h"
#include "log.h"
#include "results_json.h"

#define MAX_COLS 6

struct col {
	const char *title;
	const char *field; /* "id" = the item's id; "#f" = the length of array f */
};

struct opts {
	const char *limit, *after, *policy, *kind;
	bool members;
	const char *pos;
	long long first;
};

struct page {
	const msgpack_object *items; /* array of {id, value} */
	bool has_next;
	char *end_cursor;
};

static int
usage(struct ctl *c, const char *name, const char *synopsis, const char *fmt, const char *arg)
{
	fprintf(c->err, "jobctl: ");
	fprintf(c->err, fmt, arg);
	fprintf(c->err, "\nusage: jobctl %s %s\n", name, synopsis);
	return (JOBCTL_EXIT_USAGE);
}

/* Options: allowed is a string of letters: l(--limit) a(--after) p(--policy) k(--kind)
 * m(--members); pos_needed: one positional argument. */
static int
parse(struct ctl *c, const char *name, const char *synopsis, const char *allowed,
      bool pos_needed, int argc, char **argv, struct opts *o)
{
	static const struct {
		const char *name;
		char letter;
	} names[] = {{"--limit", 'l'}, {"--after", 'a'}, {"--policy", 'p'}, {"--kind", 'k'},
		     {"--members", 'm'}};
	const char **dst, *arg, *val;
	bool only_pos = false;
	size_t i, n;
	char *end;
	int a;

	memset(o, 0, sizeof(*o));
	for (a = 1; a < argc; a++) {
		arg = argv[a];
		if (only_pos || arg[0] != '-' || arg[1] == '\0') {
			if (!pos_needed || o->pos != NULL)
				return (usage(c, name, synopsis, "unexpected argument '%s'", arg));
			o->pos = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_pos = true;
			continue;
		}
		if (strcmp(arg, "--json") == 0) {
			c->json = true;
			continue;
		}
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			n = strlen(names[i].name);
			if (strchr(allowed, names[i].letter) != NULL &&
			    strncmp(arg, names[i].name, n) == 0 &&
			    (arg[n] == '\0' || (arg[n] == '=' && names[i].letter != 'm')))
				break;
		}
		if (i == sizeof(names) / sizeof(names[0]))
			return (usage(c, name, synopsis, "unknown option '%s'", arg));
		if (names[i].letter == 'm') {
			o->members = true;
			continue;
		}
		if (arg[n] == '=')
			val = arg + n + 1;
		else if (a + 1 < argc)
			val = argv[++a];
		else
			return (usage(c, name, synopsis, "option '%s' needs a value", arg));
		switch (names[i].letter) {
		case 'l':
			dst = &o->limit;
			break;
		case 'a':
			dst = &o->after;
			break;
		case 'p':
			dst = &o->policy;
			break;
		default:
			dst = &o->kind;
			break;
		}
		*dst = val;
	}
	if (pos_needed && o->pos == NULL)
		return (usage(c, name, synopsis, "missing argument%s", ""));
	if (o->limit != NULL) {
		errno = 0;
		o->first = strtoll(o->limit, &end, 10);
		if (errno != 0 || end == o->limit || *end != '\0')
			return (usage(c, name, synopsis, "--limit needs a number, not '%s'",
				      o->limit));
	}
	return (0);
}

/* Send {resource, id?, filters...} and wait; 0 with *body, or the exit code reported. */
static int
request(struct ctl *c, const char *resource, const char *id, const char *fk, const char *fv,
	const char *fk2, const char *fv2, const struct opts *o, const msgpack_object **body)
{
	msgpack_packer *pk;
	int n;

	if (cmd_connect(c) == -1)
		return (JOBCTL_EXIT_ERROR);
	n = 1 + (id != NULL) + (fv != NULL) + (fv2 != NULL) + (o->limit != NULL) +
	    (o->after != NULL);
	pk = rpc_begin(c->rpc, MSG_CTL_RESULTS);
	msgpack_pack_map(pk, n);
	ipc_pack_kv_str(pk, "resource", resource);
	if (id != NULL)
		ipc_pack_kv_str(pk, "id", id);
	if (fv != NULL)
		ipc_pack_kv_str(pk, fk, fv);
	if (fv2 != NULL)
		ipc_pack_kv_str(pk, fk2, fv2);
	if (o->limit != NULL)
		ipc_pack_kv_int(pk, "first", o->first);
	if (o->after != NULL)
		ipc_pack_kv_str(pk, "after", o->after);
	return (cmd_call(c, id, JOBCTL_TIMEOUT_MS, body));
}

/* An item {id: str, value: map}: 0 with its parts. */
static int
item_parts(const msgpack_object *o, const char **id, size_t *idlen, const msgpack_object **v)
{
	if (o->type != MSGPACK_OBJECT_MAP || ipc_get_str(o, "id", id, idlen) != 0 ||
	    (*v = ipc_get(o, "value")) == NULL || (*v)->type != MSGPACK_OBJECT_MAP)
		return (-1);
	return (0);
}

static int
page_parse(struct ctl *c, const msgpack_object *body, struct page *p)
{
	const msgpack_object *v, *it;
	const char *id, *cur;
	size_t idlen, len, i;

	memset(p, 0, sizeof(*p));
	if ((it = ipc_get(body, "items")) == NULL || it->type != MSGPACK_OBJECT_ARRAY)
		return (cmd_bad_reply(c, "no items"));
	for (i = 0; i < it->via.array.size; i++) {
		if (item_parts(&it->via.array.ptr[i], &id, &idlen, &v) != 0)
			return (cmd_bad_reply(c, "item"));
	}
	if (ipc_get_bool(body, "has_next", &p->has_next) == -1)
		return (cmd_bad_reply(c, "has_next"));
	if (ipc_get_str(body, "end_cursor", &cur, &len) == 0)
		p->end_cursor = xstrndup(cur, len);
	p->items = it;
	return (0);
}

static void
page_json(struct ctl *c, const char *array, const struct page *p)
{
	const msgpack_object *v;
	const char *id;
	size_t idlen, i;
	yajl_gen g = results_json_gen();

	results_json_page_open(g, array);
	for (i = 0; i < p->items->via.array.size; i++) {
		item_parts(&p->items->via.array.ptr[i], &id, &idlen, &v);
		results_json_record(g, id, idlen, v);
	}
	results_json_page_close(g, p->has_next, p->end_cursor);
	out_json_print(c->out, g);
}

/* A field as text: strings as they are, arrays comma-separated, nil and absent "-". */
static void
text(const msgpack_object *o, char *buf, size_t len)
{
	size_t off = 0, i;
	char one[256];

	buf[0] = '\0';
	if (o == NULL) {
		snprintf(buf, len, "-");
		return;
	}
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		snprintf(buf, len, "%.*s", (int)o->via.str.size, o->via.str.ptr);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		snprintf(buf, len, "%" PRIu64, o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		snprintf(buf, len, "%" PRId64, o->via.i64);
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		snprintf(buf, len, "%s", o->via.boolean ? "true" : "false");
		break;
	case MSGPACK_OBJECT_ARRAY:
		for (i = 0; i < o->via.array.size && off < len; i++) {
			text(&o->via.array.ptr[i], one, sizeof(one));
			off += (size_t)snprintf(buf + off, len - off, "%s%s", i > 0 ? "," : "",
						one);
		}
		if (o->via.array.size == 0)
			snprintf(buf, len, "-");
		break;
	default:
		snprintf(buf, len, "-");
		break;
	}
}

static void
cell(const msgpack_object *item, const struct col *col, char *buf, size_t len)
{
	const msgpack_object *v = NULL, *f;
	const char *id;
	size_t idlen;

	item_parts(item, &id, &idlen, &v);
	if (strcmp(col->field, "id") == 0) {
		snprintf(buf, len, "%.*s", (int)idlen, id);
		return;
	}
	if (col->field[0] == '#') {
		f = ipc_get(v, col->field + 1);
		snprintf(buf, len, "%u",
			 f != NULL && f->type == MSGPACK_OBJECT_ARRAY ? f->via.array.size : 0);
		return;
	}
	text(ipc_get(v, col->field), buf, len);
}

#define CELL_MAX 160

static void
put_cell(FILE *f, const char *s, size_t w, bool last)
{
	if (last)
		fprintf(f, "%s\n", s);
	else
		fprintf(f, "%-*s  ", (int)w, s);
}

static void
table(FILE *f, const msgpack_object *items, const struct col *cols, size_t ncols)
{
	size_t w[MAX_COLS], i, k, n = items->via.array.size;
	char buf[CELL_MAX];

	for (k = 0; k < ncols; k++)
		w[k] = strlen(cols[k].title);
	for (i = 0; i < n; i++) {
		for (k = 0; k < ncols; k++) {
			cell(&items->via.array.ptr[i], &cols[k], buf, sizeof(buf));
			if (strlen(buf) > w[k])
				w[k] = strlen(buf);
		}
	}
	for (k = 0; k < ncols; k++)
		put_cell(f, cols[k].title, w[k], k + 1 == ncols);
	for (i = 0; i < n; i++) {
		for (k = 0; k < ncols; k++) {
			cell(&items->via.array.ptr[i], &cols[k], buf, sizeof(buf));
			put_cell(f, buf, w[k], k + 1 == ncols);
		}
	}
}

/* "more: jobctl NAME [ARG] [--opt value]... --after CURSOR" */
static void
more_hint(FILE *f, const char *name, const char *pos, const struct opts *o, const char *cur)
{
	fprintf(f, "more: jobctl %s", name);
	if (pos != NULL)
		out_shell_word(f, pos);
	if (o->members)
		fprintf(f, " --members");
	if (o->policy != NULL) {
		fprintf(f, " --policy");
		out_shell_word(f, o->policy);
	}
	if (o->kind != NULL) {
		fprintf(f, " --kind");
		out_shell_word(f, o->kind);
	}
	if (o->limit != NULL)
		fprintf(f, " --limit %lld", o->first);
	fprintf(f, " --after %s\n", cur);
}

/* A list command: request, then JSON or a table with a "more:" hint. */
static int
list(struct ctl *c, const char *name, const char *resource, const char *array,
     const char *id, const char *fk, const char *fv, const char *fk2, const char *fv2,
     const struct opts *o, const struct col *cols, size_t ncols, const char *none)
{
	const msgpack_object *body;
	struct page p;
	int rv;

	if ((rv = request(c, resource, id, fk, fv, fk2, fv2, o, &body)) != 0)
		return (rv);
	if ((rv = page_parse(c, body, &p)) != 0)
		return (rv);
	if (c->json)
		page_json(c, array, &p);
	else {
		if (p.items->via.array.size == 0)
			fprintf(c->out, "%s\n", none);
		else
			table(c->out, p.items, cols, ncols);
		if (p.has_next && p.end_cursor != NULL)
			more_hint(c->out, name, id, o, p.end_cursor);
	}
	free(p.end_cursor);
	return (JOBCTL_EXIT_OK);
}

/* A single record: JSON, or "field: value" lines (internal fields left out). */
static int
one(struct ctl *c, const char *resource, const char *id, bool print)
{
	const msgpack_object *body, *item, *v;
	const msgpack_object_kv *kv;
	struct opts none;
	const char *rid;
	size_t ridlen;
	char buf[4096];
	uint32_t i;
	yajl_gen g;
	int rv;

	memset(&none, 0, sizeof(none));
	if ((rv = request(c, resource, id, NULL, NULL, NULL, NULL, &none, &body)) != 0)
		return (rv);
	if ((item = ipc_get(body, "item")) == NULL || item_parts(item, &rid, &ridlen, &v) != 0)
		return (cmd_bad_reply(c, "no item"));
	if (!print)
		return (0);
	if (c->json) {
		g = results_json_gen();
		results_json_record(g, rid, ridlen, v);
		out_json_print(c->out, g);
		return (0);
	}
	fprintf(c->out, "id: %.*s\n", (int)ridlen, rid);
	for (i = 0; i < v->via.map.size; i++) {
		kv = &v->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR || kv->key.via.str.size == 0 ||
		    kv->key.via.str.ptr[0] == '_')
			continue;
		text(&kv->val, buf, sizeof(buf));
		fprintf(c->out, "%.*s: %s\n", (int)kv->key.via.str.size, kv->key.via.str.ptr,
			buf);
	}
	return (0);
}

#define LIST_SYN "[--limit N] [--after CURSOR]"

int
cmd_roles(struct ctl *c, int argc, char **argv)
{
	static const struct col cols[] = {{"ROLE", "id"},
					  {"MEMBERS", "member_count"},
					  {"ENTITLEMENTS", "#entitlements"},
					  {"VALUES", "values"}};
	struct opts o;
	int rv;

	if ((rv = parse(c, "roles", LIST_SYN, "la", false, argc, argv, &o)) != 0)
		return (rv);
	return (list(c, "roles", "roles", "roles", NULL, NULL, NULL, NULL, NULL, &o, cols, 4,
		     "no roles"));
}

int
cmd_role(struct ctl *c, int argc, char **argv)
{
	static const struct col cols[] = {{"MEMBER", "id"}};
	struct opts o;
	int rv;

	if ((rv = parse(c, "role", "NAME [--members] " LIST_SYN, "lam", true, argc, argv, &o)) !=
	    0)
		return (rv);
	/* --json: the role (GET /roles/NAME), or with --members its members page (GET
	 * /roles/NAME/members); for people the role, then a page of its members. */
	if (c->json && !o.members) {
		if (o.limit != NULL || o.after != NULL)
			return (usage(c, "role", "NAME [--members] " LIST_SYN,
				      "--limit and --after page the members: add --members%s", ""));
		return (one(c, "role", o.pos, true));
	}
	if (!c->json && !o.members) {
		if ((rv = one(c, "role", o.pos, true)) != 0)
			return (rv);
		fputc('\n', c->out);
	}
	return (list(c, "role", "role_members", "members", o.pos, NULL, NULL, NULL, NULL, &o,
		     cols, 1, "no members"));
}

int
cmd_violations(struct ctl *c, int argc, char **argv)
{
	static const struct col cols[] = {{"POLICY", "policy"},	       {"KIND", "kind"},
					  {"SUBJECT", "subject_kind"}, {"ID", "subject_id"},
					  {"ENTITLEMENTS", "entitlements"}, {"DETAIL", "detail"}};
	struct opts o;
	int rv;

	if ((rv = parse(c, "violations", "[--policy P] [--kind role|owner|account] " LIST_SYN,
			"lapk", false, argc, argv, &o)) != 0)
		return (rv);
	return (list(c, "violations", "violations", "violations", NULL, "policy", o.policy,
		     "subject_kind", o.kind, &o, cols, 6, "no violations"));
}

int
cmd_orphans(struct ctl *c, int argc, char **argv)
{
	static const struct col cols[] = {{"ACCOUNT", "id"},
					  {"APPLICATION", "application_id"},
					  {"LOGIN", "login"},
					  {"EMAIL", "email"},
					  {"NAME", "display_name"}};
	struct opts o;
	int rv;

	if ((rv = parse(c, "orphans", LIST_SYN, "la", false, argc, argv, &o)) != 0)
		return (rv);
	return (list(c, "orphans", "orphans", "orphans", NULL, NULL, NULL, NULL, NULL, &o, cols,
		     5, "no orphans"));
}

int
cmd_managers(struct ctl *c, int argc, char **argv)
{
	static const struct col cols[] = {{"KIND", "kind"},
					  {"OWNER", "owner_id"},
					  {"MANAGER_REF", "manager_ref"},
					  {"CYCLE", "members"}};
	struct opts o;
	int rv;

	if ((rv = parse(c, "managers", "[--kind missing|cycle] " LIST_SYN, "lak", false, argc,
			argv, &o)) != 0)
		return (rv);
	return (list(c, "managers", "manager_issues", "issues", NULL, "kind", o.kind, NULL, NULL,
		     &o, cols, 4, "no manager issues"));
}

int
cmd_manager(struct ctl *c, int argc, char **argv)
{
	struct opts o;
	int rv;

	if ((rv = parse(c, "manager", "OWNER", "", true, argc, argv, &o)) != 0)
		return (rv);
	return (one(c, "owner_manager", o.pos, true));
}

int
cmd_link(struct ctl *c, int argc, char **argv)
{
	struct opts o;
	int rv;

	if ((rv = parse(c, "link", "ACCOUNT", "", true, argc, argv, &o)) != 0)
		return (rv);
	return (one(c, "account_link", o.pos, true));
}
