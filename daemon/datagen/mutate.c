/* mutate.c: jobsd-datagen --mutate. Two streaming passes over the source data set: the
 * first finds the newest modified_at, the row counts and the highest generated ids; the
 * second copies every row, unchanged ones byte for byte, and decides per row with the
 * PRNG whether to update, delete or add after it. Only the ids of deleted owners and
 * accounts (to cascade) and a few sampled accounts per new group are kept in memory.
 *
 * Per entity: applications are only updated; groups updated or added (deleting one would
 * strand memberships); owners and accounts updated, deleted or added; memberships deleted
 * or added (they have no attribute to update). Deleting an account deletes its
 * memberships too (listed in deletions.csv and counted as membership deletions). Deleting
 * an owner leaves its accounts as they are: their owner_id now dangles. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "csvio.h"
#include "rng.h"
#include "gen_identity.h"
#include "mutate.h"

enum entity { E_APP, E_OWNER, E_ACCOUNT, E_GROUP, E_MEMBER, E_COUNT };

static const char *const entity_file[E_COUNT] = {
	"applications.csv", "owners.csv", "accounts.csv", "groups.csv", "memberships.csv"
};
static const char *const entity_name[E_COUNT] = {
	"application", "owner", "account", "group", "membership"
};
static const char *const entity_plural[E_COUNT] = {
	"applications", "owners", "accounts", "groups", "memberships"
};

#define NEW_GROUP_SAMPLE	3

/* A set of strings (open addressing, FNV-1a). */
struct strset {
	char	**slot;
	size_t	  cap, n;
};

struct new_group {
	char	 id[32];
	char	 app[64];
	char	*members[NEW_GROUP_SAMPLE];
	uint64_t seen;
};

struct mutate_state {
	const struct mutate_opts *o;
	const char		*src, *out;
	double			 p;
	int64_t			 t0, src_max;
	uint64_t		 rows_before[E_COUNT], rows_after[E_COUNT];
	uint64_t		 updated[E_COUNT], added[E_COUNT], deleted[E_COUNT];
	uint64_t		 cascade_memberships, accounts_dangling_owner;
	uint64_t		 max_owner, max_account, max_group;
	uint64_t		 new_owner_first;	/* index of the first new owner */
	struct strset		 del_owners, del_accounts;
	struct new_group	*ngroups;
	size_t			 nngroups;
	struct csv_out		 dels;
	int64_t			 cmin, cmax;
};

static uint64_t
fnv1a(const char *s)
{
	uint64_t	h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (h);
}

static void
strset_add(struct strset *set, const char *s)
{
	size_t	i, j, ncap;
	char	**nslot;

	if ((set->n + 1) * 2 > set->cap) {
		ncap = set->cap ? set->cap * 2 : 1024;
		nslot = xcalloc(ncap, sizeof *nslot);
		for (i = 0; i < set->cap; i++) {
			if (set->slot[i] == NULL)
				continue;
			for (j = fnv1a(set->slot[i]) & (ncap - 1); nslot[j] != NULL;
			    j = (j + 1) & (ncap - 1))
				;
			nslot[j] = set->slot[i];
		}
		free(set->slot);
		set->slot = nslot;
		set->cap = ncap;
	}
	for (j = fnv1a(s) & (set->cap - 1); set->slot[j] != NULL;
	    j = (j + 1) & (set->cap - 1))
		if (strcmp(set->slot[j], s) == 0)
			return;
	set->slot[j] = xstrdup(s);
	set->n++;
}

static int
strset_has(const struct strset *set, const char *s)
{
	size_t	j;

	if (set->cap == 0)
		return (0);
	for (j = fnv1a(s) & (set->cap - 1); set->slot[j] != NULL;
	    j = (j + 1) & (set->cap - 1))
		if (strcmp(set->slot[j], s) == 0)
			return (1);
	return (0);
}

static void
strset_free(struct strset *set)
{
	size_t	i;

	for (i = 0; i < set->cap; i++)
		free(set->slot[i]);
	free(set->slot);
	memset(set, 0, sizeof *set);
}

/* The number after prefix in id ("own-0000012" with "own-" is 12), or 0. */
static uint64_t
id_number(const char *id, const char *prefix)
{
	size_t		 n = strlen(prefix);
	const char	*p;
	uint64_t	 v = 0;

	if (strncmp(id, prefix, n) != 0 || id[n] == '\0')
		return (0);
	for (p = id + n; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return (0);
		v = v * 10 + (uint64_t)(*p - '0');
	}
	return (v);
}

static int
column(struct csv_in *in, const char *name, int required, char **cause)
{
	int	c = csv_in_column(in, name);

	if (c == -1 && required)
		*cause = xasprintf("%s: no '%s' column in the header", in->path, name);
	return (c);
}

/* The newest deleted_at of SRC/deletions.csv, if SRC has one (it was itself mutated):
 * a sync's watermark covers deleted_at too, so changes must be newer than these. */
static int
scan_deletions(struct mutate_state *st, char **cause)
{
	struct csv_in	 in;
	char		*path;
	int		 dcol, r;
	int64_t		 t;

	path = xasprintf("%s/deletions.csv", st->src);
	r = access(path, F_OK);
	free(path);
	if (r == -1)
		return (0);
	if (csv_in_open(&in, st->src, "deletions.csv", cause) == -1)
		return (-1);
	if ((r = csv_in_read(&in, cause)) != 1) {
		csv_in_close(&in);
		return (r);
	}
	if ((dcol = column(&in, "deleted_at", 1, cause)) == -1)
		goto fail;
	while ((r = csv_in_read(&in, cause)) == 1) {
		if ((size_t)dcol >= in.nfields ||
		    dg_parse_time(in.fields[dcol], &t) == -1) {
			*cause = xasprintf("%s:%llu: bad deleted_at", in.path,
			    (unsigned long long)in.lineno);
			goto fail;
		}
		if (t > st->src_max)
			st->src_max = t;
	}
	if (r == -1)
		goto fail;
	csv_in_close(&in);
	return (0);
fail:
	csv_in_close(&in);
	return (-1);
}

/* Pass 1: rows, newest modified_at (and deleted_at), highest generated ids. */
static int
scan(struct mutate_state *st, char **cause)
{
	struct csv_in	 in;
	enum entity	 e;
	int		 mcol, idcol, r;
	int64_t		 t;
	uint64_t	 v;

	st->src_max = INT64_MIN;
	for (e = 0; e < E_COUNT; e++) {
		if (csv_in_open(&in, st->src, entity_file[e], cause) == -1)
			return (-1);
		if ((r = csv_in_read(&in, cause)) != 1) {
			if (r == 0)
				*cause = xasprintf("%s: empty file", in.path);
			goto fail;
		}
		if ((mcol = column(&in, "modified_at", 1, cause)) == -1)
			goto fail;
		idcol = column(&in, e == E_MEMBER ? "account_id" : "id", 1, cause);
		if (idcol == -1)
			goto fail;
		while ((r = csv_in_read(&in, cause)) == 1) {
			if ((size_t)mcol >= in.nfields ||
			    dg_parse_time(in.fields[mcol], &t) == -1) {
				*cause = xasprintf("%s:%llu: bad modified_at", in.path,
				    (unsigned long long)in.lineno);
				goto fail;
			}
			if (t > st->src_max)
				st->src_max = t;
			st->rows_before[e]++;
			if ((size_t)idcol >= in.nfields)
				continue;
			if (e == E_OWNER &&
			    (v = id_number(in.fields[idcol], "own-")) > st->max_owner)
				st->max_owner = v;
			if (e == E_ACCOUNT &&
			    (v = id_number(in.fields[idcol], "acc-")) > st->max_account)
				st->max_account = v;
			if (e == E_GROUP &&
			    (v = id_number(in.fields[idcol], "grp-new-")) > st->max_group)
				st->max_group = v;
		}
		if (r == -1)
			goto fail;
		csv_in_close(&in);
	}
	return (scan_deletions(st, cause));
fail:
	csv_in_close(&in);
	return (-1);
}

/* A time for a change: after every modified_at of the source (and --now). */
static int64_t
change_time(struct mutate_state *st, struct rng *r)
{
	int64_t	t = st->t0 + (int64_t)rng_below(r, 3600);

	if (t < st->cmin)
		st->cmin = t;
	if (t > st->cmax)
		st->cmax = t;
	return (t);
}

static void
record_deletion(struct mutate_state *st, struct rng *r, enum entity e, const char *id)
{
	csv_field(&st->dels, entity_name[e]);
	csv_field(&st->dels, id);
	csv_field_time(&st->dels, change_time(st, r));
	csv_end_row(&st->dels);
	st->deleted[e]++;
}

/* Rewrite the current row with value vals[c] for columns that have one. */
static void
write_row(struct csv_out *o, const struct csv_in *in, const char *const *vals)
{
	size_t	c;

	for (c = 0; c < in->nfields; c++)
		csv_field(o, vals[c] != NULL ? vals[c] : in->fields[c]);
	csv_end_row(o);
}

/* Write a new row: hdr holds the header's column names; values by name. */
struct named {
	const char	*name;
	const char	*value;
};

static void
write_new_row(struct csv_out *o, char **hdr, size_t ncols, const struct named *vals)
{
	const struct named	*v;
	size_t			 c;

	for (c = 0; c < ncols; c++) {
		for (v = vals; v->name != NULL; v++)
			if (strcmp(v->name, hdr[c]) == 0)
				break;
		csv_field(o, v->name != NULL ? v->value : "");
	}
	csv_end_row(o);
}

static char **
copy_header(const struct csv_in *in)
{
	char	**h;
	size_t	  c;

	h = xcalloc(in->nfields + 1, sizeof *h);
	for (c = 0; c < in->nfields; c++)
		h[c] = xstrdup(in->fields[c]);
	return (h);
}

static void
free_header(char **h)
{
	size_t	c;

	if (h == NULL)
		return;
	for (c = 0; h[c] != NULL; c++)
		free(h[c]);
	free(h);
}

/* Change one owner attribute to a different value. */
static void
owner_update(struct rng *r, const struct csv_in *in, int c_dept, int c_title,
    int c_loc, int c_status, const char **vals)
{
	const char	*dept = c_dept >= 0 ? in->fields[c_dept] : "";
	const char	*cur;
	size_t		 d, t, n, k;
	int		 kind = (int)rng_below(r, 3);

	for (d = 0; d < cat_ndepartments; d++)
		if (strcmp(cat_departments[d].name, dept) == 0)
			break;
	if (kind == 0 && (d == cat_ndepartments || c_title < 0))
		kind = 1;
	if (kind == 1 && c_loc < 0)
		kind = 2;
	if (kind == 0) {
		cur = in->fields[c_title];
		n = cat_ntitles(d);
		t = rng_below(r, n);
		if (strcmp(cat_departments[d].titles[t].name, cur) == 0)
			t = (t + 1) % n;
		vals[c_title] = cat_departments[d].titles[t].name;
	} else if (kind == 1) {
		cur = in->fields[c_loc];
		k = rng_below(r, cat_nlocations);
		if (strcmp(cat_locations[k], cur) == 0)
			k = (k + 1) % cat_nlocations;
		vals[c_loc] = cat_locations[k];
	} else if (c_status >= 0) {
		cur = in->fields[c_status];
		vals[c_status] = strcmp(cur, "active") == 0 ? "on_leave" : "active";
	}
}

/* An open pass over one entity file: the source reader, the output writer, the header. */
struct pass {
	struct csv_in	 in;
	struct csv_out	 out;
	char		**hdr;
	size_t		 ncols;
	struct rng	 r;
	int		 c_mod;
};

static int
pass_open(struct mutate_state *st, struct pass *ps, enum entity e, char **cause)
{
	int	rc;

	memset(ps, 0, sizeof *ps);
	rng_init(&ps->r, st->o->seed, TAG_MUTATE, (uint64_t)e);
	if (csv_in_open(&ps->in, st->src, entity_file[e], cause) == -1)
		return (-1);
	if (csv_out_open(&ps->out, st->out, entity_file[e], cause) == -1)
		return (-1);
	if ((rc = csv_in_read(&ps->in, cause)) != 1) {
		if (rc == 0)
			*cause = xasprintf("%s: empty file", ps->in.path);
		return (-1);
	}
	csv_raw(&ps->out, ps->in.raw, ps->in.rawlen);
	ps->hdr = copy_header(&ps->in);
	ps->ncols = ps->in.nfields;
	ps->c_mod = csv_in_column(&ps->in, "modified_at");
	return (0);
}

static int
pass_close(struct pass *ps, char **cause)
{
	int	rc;

	free_header(ps->hdr);
	csv_in_close(&ps->in);
	rc = csv_out_close(&ps->out, cause);
	memset(ps, 0, sizeof *ps);
	return (rc);
}

/* Read the next data row; a row whose column count differs from the header's is an
 * error (the source is not one of ours). */
static int
pass_next(struct pass *ps, char **cause)
{
	int	rc;

	if ((rc = csv_in_read(&ps->in, cause)) != 1)
		return (rc);
	if (ps->in.nfields != ps->ncols) {
		*cause = xasprintf("%s:%llu: %zu fields, the header has %zu", ps->in.path,
		    (unsigned long long)ps->in.lineno, ps->in.nfields, ps->ncols);
		return (-1);
	}
	return (1);
}

/* Write the current row updated with vals (and a new modified_at). */
static void
pass_update(struct mutate_state *st, struct pass *ps, const char **vals)
{
	char	tbuf[32];

	dg_format_time(change_time(st, &ps->r), tbuf);
	vals[ps->c_mod] = tbuf;
	write_row(&ps->out, &ps->in, vals);
}

/* Applications (updated) and groups (updated, added after a row in its application). */
static int
pass_catalog(struct mutate_state *st, enum entity e, char **cause)
{
	struct pass		 ps;
	struct new_group	*ng;
	char			 tbuf[32], namebuf[512];
	const char		**vals;
	int			 c_name, c_app, rc;
	size_t			 k;

	if (pass_open(st, &ps, e, cause) == -1)
		goto fail;
	c_name = csv_in_column(&ps.in, "name");
	c_app = csv_in_column(&ps.in, "application_id");
	while ((rc = pass_next(&ps, cause)) == 1) {
		if (rng_unit(&ps.r) < st->p * MUTATE_UPDATE_SHARE && c_name >= 0) {
			vals = xcalloc(ps.ncols, sizeof *vals);
			snprintf(namebuf, sizeof namebuf, "%s (updated)",
			    ps.in.fields[c_name]);
			vals[c_name] = namebuf;
			pass_update(st, &ps, vals);
			free(vals);
			st->updated[e]++;
		} else
			csv_raw(&ps.out, ps.in.raw, ps.in.rawlen);
		st->rows_after[e]++;
		if (e != E_GROUP || c_app < 0 ||
		    rng_unit(&ps.r) >= st->p * MUTATE_ADD_SHARE)
			continue;
		st->ngroups = xrealloc(st->ngroups,
		    (st->nngroups + 1) * sizeof *st->ngroups);
		ng = &st->ngroups[st->nngroups++];
		memset(ng, 0, sizeof *ng);
		snprintf(ng->id, sizeof ng->id, "grp-new-%06llu",
		    (unsigned long long)(st->max_group + st->nngroups));
		snprintf(ng->app, sizeof ng->app, "%s", ps.in.fields[c_app]);
	}
	if (rc == -1)
		goto fail;
	for (k = 0; e == E_GROUP && k < st->nngroups; k++) {
		ng = &st->ngroups[k];
		snprintf(namebuf, sizeof namebuf, "New Group %llu",
		    (unsigned long long)(st->max_group + k + 1));
		dg_format_time(change_time(st, &ps.r), tbuf);
		write_new_row(&ps.out, ps.hdr, ps.ncols, (const struct named[]){
		    { "id", ng->id }, { "application_id", ng->app },
		    { "name", namebuf }, { "modified_at", tbuf }, { NULL, NULL } });
		st->added[e]++;
		st->rows_after[e]++;
	}
	return (pass_close(&ps, cause));
fail:
	pass_close(&ps, NULL);
	return (-1);
}

/* New owners are regenerated from their index with a seed of their own. */
static uint64_t
new_seed(const struct mutate_state *st)
{
	return (st->o->seed ^ 0x6d75746174652121ULL);
}

static uint64_t
new_owner_accounts(uint64_t index)
{
	return (1 + index % 2);	/* Active Directory, and the HR system for every other */
}

/* Owners: updated, deleted, or followed by a new owner. */
static int
pass_owners(struct mutate_state *st, char **cause)
{
	struct pass		 ps;
	struct gen_person	 p;
	const char		**vals;
	char			 tbuf[32], mgr[32];
	int			 c_id, c_dept, c_title, c_loc, c_status, rc;
	uint64_t		 nnew = 0, k, idx;
	double			 u;

	if (pass_open(st, &ps, E_OWNER, cause) == -1)
		goto fail;
	c_id = csv_in_column(&ps.in, "id");
	c_dept = csv_in_column(&ps.in, "department");
	c_title = csv_in_column(&ps.in, "title");
	c_loc = csv_in_column(&ps.in, "location");
	c_status = csv_in_column(&ps.in, "status");
	while ((rc = pass_next(&ps, cause)) == 1) {
		u = rng_unit(&ps.r);
		if (u < st->p * MUTATE_DELETE_SHARE) {
			strset_add(&st->del_owners, ps.in.fields[c_id]);
			record_deletion(st, &ps.r, E_OWNER, ps.in.fields[c_id]);
		} else if (u < st->p * (MUTATE_DELETE_SHARE + MUTATE_UPDATE_SHARE)) {
			vals = xcalloc(ps.ncols, sizeof *vals);
			owner_update(&ps.r, &ps.in, c_dept, c_title, c_loc, c_status, vals);
			pass_update(st, &ps, vals);
			free(vals);
			st->updated[E_OWNER]++;
			st->rows_after[E_OWNER]++;
		} else {
			csv_raw(&ps.out, ps.in.raw, ps.in.rawlen);
			st->rows_after[E_OWNER]++;
		}
		if (rng_unit(&ps.r) < st->p * MUTATE_ADD_SHARE)
			nnew++;
	}
	if (rc == -1)
		goto fail;
	st->new_owner_first = st->max_owner + 1;
	for (k = 0; k < nnew; k++) {
		idx = st->new_owner_first + k;
		gen_person(new_seed(st), st->t0, idx, &p);
		dg_format_time(change_time(st, &ps.r), tbuf);
		snprintf(mgr, sizeof mgr, "E%07llu", (unsigned long long)((idx - 2) / 8 + 1));
		write_new_row(&ps.out, ps.hdr, ps.ncols, (const struct named[]){
		    { "id", p.id }, { "employee_id", p.employee_id },
		    { "display_name", p.display_name }, { "email", p.email },
		    { "department", cat_departments[p.dept].name },
		    { "title", cat_departments[p.dept].titles[p.title].name },
		    { "location", cat_locations[p.location] }, { "manager", mgr },
		    { "status", "active" }, { "modified_at", tbuf }, { NULL, NULL } });
		st->added[E_OWNER]++;
		st->rows_after[E_OWNER]++;
	}
	st->max_owner += nnew;
	return (pass_close(&ps, cause));
fail:
	pass_close(&ps, NULL);
	return (-1);
}

/* The k-th (0-based) account of new owner idx: its application index. */
static size_t
new_account_app(uint64_t k)
{
	return ((size_t)cat_app_index(k == 0 ? "app-ad" : "app-workday"));
}

/* Accounts: status toggled, deleted, plus the new owners' accounts at the end. */
static int
pass_accounts(struct mutate_state *st, char **cause)
{
	struct pass		 ps;
	struct gen_person	 p;
	struct new_group	*ng;
	const char		**vals, *cur;
	char			 tbuf[32], id[32], login[160];
	int			 c_id, c_app, c_owner, c_status, rc;
	uint64_t		 idx, k, seq;
	size_t			 g, app;
	double			 u;

	if (pass_open(st, &ps, E_ACCOUNT, cause) == -1)
		goto fail;
	c_id = csv_in_column(&ps.in, "id");
	c_app = csv_in_column(&ps.in, "application_id");
	c_owner = csv_in_column(&ps.in, "owner_id");
	c_status = csv_in_column(&ps.in, "status");
	if (c_status == -1) {
		*cause = xasprintf("%s: no 'status' column in the header", ps.in.path);
		goto fail;
	}
	while ((rc = pass_next(&ps, cause)) == 1) {
		u = rng_unit(&ps.r);
		if (u < st->p * MUTATE_DELETE_SHARE) {
			strset_add(&st->del_accounts, ps.in.fields[c_id]);
			record_deletion(st, &ps.r, E_ACCOUNT, ps.in.fields[c_id]);
			continue;
		}
		if (u < st->p * (MUTATE_DELETE_SHARE + MUTATE_UPDATE_SHARE)) {
			vals = xcalloc(ps.ncols, sizeof *vals);
			cur = ps.in.fields[c_status];
			vals[c_status] = strcmp(cur, "disabled") == 0 ? "active" : "disabled";
			pass_update(st, &ps, vals);
			free(vals);
			st->updated[E_ACCOUNT]++;
		} else
			csv_raw(&ps.out, ps.in.raw, ps.in.rawlen);
		st->rows_after[E_ACCOUNT]++;
		if (c_owner >= 0 && ps.in.fields[c_owner][0] != '\0' &&
		    strset_has(&st->del_owners, ps.in.fields[c_owner]))
			st->accounts_dangling_owner++;
		/* Sample surviving accounts of each new group's application. */
		for (g = 0; g < st->nngroups && c_app >= 0; g++) {
			ng = &st->ngroups[g];
			if (strcmp(ng->app, ps.in.fields[c_app]) != 0)
				continue;
			seq = ng->seen++;
			if (seq < NEW_GROUP_SAMPLE)
				ng->members[seq] = xstrdup(ps.in.fields[c_id]);
			else if ((k = rng_below(&ps.r, seq + 1)) < NEW_GROUP_SAMPLE) {
				free(ng->members[k]);
				ng->members[k] = xstrdup(ps.in.fields[c_id]);
			}
		}
	}
	if (rc == -1)
		goto fail;
	seq = st->max_account;
	for (idx = st->new_owner_first; idx <= st->max_owner; idx++) {
		gen_person(new_seed(st), st->t0, idx, &p);
		for (k = 0; k < new_owner_accounts(idx); k++) {
			app = new_account_app(k);
			snprintf(id, sizeof id, "acc-%08llu", (unsigned long long)++seq);
			gen_login(&p, idx, cat_applications[app].login, login, sizeof login);
			dg_format_time(change_time(st, &ps.r), tbuf);
			write_new_row(&ps.out, ps.hdr, ps.ncols, (const struct named[]){
			    { "id", id }, { "application_id", cat_applications[app].id },
			    { "login", login }, { "email", p.email }, { "owner_id", p.id },
			    { "display_name", p.display_name },
			    { "department", cat_departments[p.dept].name },
			    { "title", cat_departments[p.dept].titles[p.title].name },
			    { "status", "active" }, { "modified_at", tbuf },
			    { NULL, NULL } });
			st->added[E_ACCOUNT]++;
			st->rows_after[E_ACCOUNT]++;
		}
	}
	return (pass_close(&ps, cause));
fail:
	pass_close(&ps, NULL);
	return (-1);
}

static void
write_membership(struct mutate_state *st, struct pass *ps, const char *account,
    const char *group)
{
	char	tbuf[32];

	dg_format_time(change_time(st, &ps->r), tbuf);
	write_new_row(&ps->out, ps->hdr, ps->ncols, (const struct named[]){
	    { "account_id", account }, { "group_id", group }, { "modified_at", tbuf },
	    { NULL, NULL } });
	st->added[E_MEMBER]++;
	st->rows_after[E_MEMBER]++;
}

/* Memberships: deleted (and those of deleted accounts), plus the new accounts' cohort
 * groups and a few members for each new group. */
static int
pass_memberships(struct mutate_state *st, char **cause)
{
	struct pass		 ps;
	struct gen_person	 p;
	struct new_group	*ng;
	char			 id[160], acc[32];
	int			 c_acc, c_grp, rc;
	uint64_t		 idx, k, seq;
	size_t			 g, app;

	if (pass_open(st, &ps, E_MEMBER, cause) == -1)
		goto fail;
	c_acc = csv_in_column(&ps.in, "account_id");
	c_grp = csv_in_column(&ps.in, "group_id");
	if (c_grp == -1) {
		*cause = xasprintf("%s: no 'group_id' column in the header", ps.in.path);
		goto fail;
	}
	while ((rc = pass_next(&ps, cause)) == 1) {
		snprintf(id, sizeof id, "%s:%s", ps.in.fields[c_acc], ps.in.fields[c_grp]);
		if (strset_has(&st->del_accounts, ps.in.fields[c_acc])) {
			record_deletion(st, &ps.r, E_MEMBER, id);
			st->cascade_memberships++;
		} else if (rng_unit(&ps.r) < st->p * 0.5)
			record_deletion(st, &ps.r, E_MEMBER, id);
		else {
			csv_raw(&ps.out, ps.in.raw, ps.in.rawlen);
			st->rows_after[E_MEMBER]++;
		}
	}
	if (rc == -1)
		goto fail;
	seq = st->max_account;
	for (idx = st->new_owner_first; idx <= st->max_owner; idx++) {
		gen_person(new_seed(st), st->t0, idx, &p);
		for (k = 0; k < new_owner_accounts(idx); k++) {
			app = new_account_app(k);
			snprintf(acc, sizeof acc, "acc-%08llu", (unsigned long long)++seq);
			for (g = 0; g < cat_ngroups; g++)
				if (strcmp(cat_groups[g].app, cat_applications[app].id) == 0 &&
				    cat_group_matches(g, p.dept, p.title))
					write_membership(st, &ps, acc, cat_groups[g].id);
		}
	}
	for (g = 0; g < st->nngroups; g++) {
		ng = &st->ngroups[g];
		for (k = 0; k < NEW_GROUP_SAMPLE; k++)
			if (ng->members[k] != NULL)
				write_membership(st, &ps, ng->members[k], ng->id);
	}
	return (pass_close(&ps, cause));
fail:
	pass_close(&ps, NULL);
	return (-1);
}

static int
write_manifest(struct mutate_state *st, char **cause)
{
	FILE		*fp;
	char		*path, tsrc[32], t0[32], t1[32];
	enum entity	 e;
	uint64_t	 tu = 0, ta = 0, td = 0;
	int		 rc = 0;

	path = xasprintf("%s/manifest.json", st->out);
	if ((fp = fopen(path, "w")) == NULL) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		free(path);
		return (-1);
	}
	dg_format_time(st->src_max, tsrc);
	dg_format_time(st->cmin == INT64_MAX ? st->t0 : st->cmin, t0);
	dg_format_time(st->cmax == INT64_MIN ? st->t0 : st->cmax, t1);
	fprintf(fp, "{\n  \"generator\": \"jobsd-datagen\",\n  \"format\": 1,\n"
	    "  \"kind\": \"mutate\",\n  \"seed\": %llu,\n  \"pct\": %g,\n"
	    "  \"share\": {\"update\": %g, \"delete\": %g, \"add\": %g},\n"
	    "  \"source_max_modified_at\": \"%s\",\n"
	    "  \"changed_at\": {\"min\": \"%s\", \"max\": \"%s\"},\n",
	    (unsigned long long)st->o->seed, st->o->pct, MUTATE_UPDATE_SHARE,
	    MUTATE_DELETE_SHARE, MUTATE_ADD_SHARE, tsrc, t0, t1);
	fprintf(fp, "  \"rows_before\": {");
	for (e = 0; e < E_COUNT; e++)
		fprintf(fp, "%s\"%s\": %llu", e ? ", " : "", entity_plural[e],
		    (unsigned long long)st->rows_before[e]);
	fprintf(fp, "},\n  \"rows\": {");
	for (e = 0; e < E_COUNT; e++)
		fprintf(fp, "%s\"%s\": %llu", e ? ", " : "", entity_plural[e],
		    (unsigned long long)st->rows_after[e]);
	fprintf(fp, "},\n  \"changes\": {");
	for (e = 0; e < E_COUNT; e++) {
		fprintf(fp, "%s\n    \"%s\": {\"updated\": %llu, \"added\": %llu, "
		    "\"deleted\": %llu}", e ? "," : "", entity_plural[e],
		    (unsigned long long)st->updated[e], (unsigned long long)st->added[e],
		    (unsigned long long)st->deleted[e]);
		tu += st->updated[e];
		ta += st->added[e];
		td += st->deleted[e];
	}
	fprintf(fp, "\n  },\n  \"totals\": {\"created\": %llu, \"updated\": %llu, "
	    "\"deleted\": %llu},\n", (unsigned long long)ta, (unsigned long long)tu,
	    (unsigned long long)td);
	fprintf(fp, "  \"memberships_of_deleted_accounts\": %llu,\n"
	    "  \"accounts_with_deleted_owner\": %llu\n}\n",
	    (unsigned long long)st->cascade_memberships,
	    (unsigned long long)st->accounts_dangling_owner);
	if (ferror(fp) || fclose(fp) != 0) {
		*cause = xasprintf("%s: write failed", path);
		rc = -1;
	}
	free(path);
	return (rc);
}

static void
print_summary(struct mutate_state *st, FILE *out)
{
	enum entity	e;

	fprintf(out, "%-13s %9s %9s %9s %9s %9s\n", "entity", "before", "after",
	    "updated", "added", "deleted");
	for (e = 0; e < E_COUNT; e++)
		fprintf(out, "%-13s %9llu %9llu %9llu %9llu %9llu\n", entity_plural[e],
		    (unsigned long long)st->rows_before[e],
		    (unsigned long long)st->rows_after[e],
		    (unsigned long long)st->updated[e], (unsigned long long)st->added[e],
		    (unsigned long long)st->deleted[e]);
	fprintf(out, "memberships of deleted accounts: %llu; accounts whose owner was "
	    "deleted: %llu\n", (unsigned long long)st->cascade_memberships,
	    (unsigned long long)st->accounts_dangling_owner);
}

static int
same_dir(const char *a, const char *b)
{
	char	*ra, *rb;
	int	 same;

	ra = realpath(a, NULL);
	rb = realpath(b, NULL);
	same = ra != NULL && rb != NULL && strcmp(ra, rb) == 0;
	free(ra);
	free(rb);
	return (same);
}

int
mutate_identity(const char *src, const char *out, const struct mutate_opts *opts,
    FILE *summary, char **cause)
{
	struct mutate_state	st;
	size_t			g, k;
	int			rc = -1;
	char			*err = NULL;

	memset(&st, 0, sizeof st);
	st.o = opts;
	st.src = src;
	st.out = out;
	st.p = opts->pct / 100.0;
	st.cmin = INT64_MAX;
	st.cmax = INT64_MIN;

	if (scan(&st, cause) == -1)
		goto out;
	st.t0 = st.src_max + 1;
	if (opts->now != INT64_MIN && opts->now > st.t0)
		st.t0 = opts->now;
	if (gen_mkdir(out, cause) == -1)
		goto out;
	if (same_dir(src, out)) {
		*cause = xasprintf("--out %s is the --from directory", out);
		goto out;
	}
	if (csv_out_open(&st.dels, out, "deletions.csv", cause) == -1)
		goto out;
	csv_field(&st.dels, "entity");
	csv_field(&st.dels, "id");
	csv_field(&st.dels, "deleted_at");
	csv_end_row(&st.dels);

	if (pass_catalog(&st, E_APP, cause) == -1 ||
	    pass_catalog(&st, E_GROUP, cause) == -1 ||
	    pass_owners(&st, cause) == -1 ||
	    pass_accounts(&st, cause) == -1 ||
	    pass_memberships(&st, cause) == -1)
		goto out;
	rc = 0;
out:
	if (csv_out_close(&st.dels, &err) == -1 && rc == 0) {
		*cause = err;
		err = NULL;
		rc = -1;
	}
	free(err);
	if (rc == 0 && (rc = write_manifest(&st, cause)) == 0 && summary != NULL)
		print_summary(&st, summary);
	strset_free(&st.del_owners);
	strset_free(&st.del_accounts);
	for (g = 0; g < st.nngroups; g++)
		for (k = 0; k < NEW_GROUP_SAMPLE; k++)
			free(st.ngroups[g].members[k]);
	free(st.ngroups);
	return (rc);
}
