/*
 * roles.c: the role_generation job (DESIGN.md section 4, docs/analysis.md
 * "role_generation").
 *
 * Owners are grouped by the role-name form of their configured attributes (parameter
 * attributes, default department,title; the effective value is the owner record's, else
 * the enrichment overlay's unless attribute_source=source); owners missing any attribute
 * are in no role. Every cohort of at least min_members owners (default 5) is a role named
 * after its values; its entitlements are the groups held by at least min_share (default
 * 0.8, compared exactly: holders * 10^9 >= share * 10^9 * members) of its members.
 *
 * The roles and their members replace the previous generation's in RES_DB_ROLES and
 * RES_DB_ROLE_MEMBERS by a merge in key order; unchanged records are not rewritten, so
 * the same data gives byte-identical databases. Counters: created = new roles, updated =
 * roles whose entitlements, values or members changed, deleted = roles gone.
 */
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "results.h"
#include "roles_load.h"
#include "roles_util.h"

#define ROLES_DEFAULT_ATTRS "department,title"
#define ROLES_DEFAULT_MIN_MEMBERS 5
#define ROLES_MAX_MIN_MEMBERS 1000000000L

struct role {
	uint64_t name;      /* offset into names */
	uint32_t first, n;  /* members: order[first .. first + n) */
	uint64_t ent, nent; /* entitlements: ents[ent .. ent + nent) */
	uint32_t vals_owner; /* the member whose raw values the record shows */
	bool members_changed;
	bool same_but_members; /* record unchanged, members changed: updated */
};

struct roles_run {
	struct job_ctx *ctx;
	struct rl_model m;
	char *attrbuf;
	const char *attrs[RL_MAX_ATTRS];
	size_t nattrs;
	long min_members;
	uint64_t share;
	bool use_overlay;

	uint32_t *order; /* eligible owners sorted by role name, then id */
	uint32_t neligible;
	uint32_t *vnorm; /* value number -> normalised value number */
	struct strtab norms;
	uint32_t *nrank;
	uint32_t *vrank;

	struct role *roles;
	size_t nroles;
	char *names;
	size_t nameslen, namescap;
	uint32_t *ents;
	uint64_t nents, entscap;
	struct strtab rnames; /* role name -> role number (sorted order) */

	/* Stream state. */
	size_t cur_role;
	uint32_t cur_member;
	char *key;
	size_t keylen, keycap;
	msgpack_sbuffer val;
	int64_t members_base; /* processed before the first member (-1: not counting) */
};

static struct roles_run *sort_run; /* qsort has no argument; single-threaded */

static int
parse_params(struct roles_run *r, char **error)
{
	const struct job *j = r->ctx->job;
	const char *v;
	char *p, *tok, *end, *save = NULL;
	size_t i, len;
	long n;

	v = job_param_get(j, "attributes");
	if (v == NULL)
		v = ROLES_DEFAULT_ATTRS;
	r->attrbuf = xstrdup(v);
	for (tok = strtok_r(r->attrbuf, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ' || *tok == '\t')
			tok++;
		len = strlen(tok);
		while (len > 0 && (tok[len - 1] == ' ' || tok[len - 1] == '\t'))
			tok[--len] = '\0';
		if (len == 0)
			continue;
		for (p = tok; *p != '\0'; p++) {
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.')) {
				*error = xasprintf("parameter attributes: '%s' is not an "
				    "attribute name (letters, digits, _ - .)", tok);
				return -1;
			}
		}
		if (*tok == '_' || strcmp(tok, "id") == 0) {
			*error = xasprintf("parameter attributes: '%s' is not an owner "
			    "attribute", tok);
			return -1;
		}
		for (i = 0; i < r->nattrs; i++) {
			if (strcmp(r->attrs[i], tok) == 0) {
				*error = xasprintf("parameter attributes: '%s' is given twice",
				    tok);
				return -1;
			}
		}
		if (r->nattrs == RL_MAX_ATTRS) {
			*error = xasprintf("parameter attributes: more than %d attributes",
			    RL_MAX_ATTRS);
			return -1;
		}
		r->attrs[r->nattrs++] = tok;
	}
	if (r->nattrs == 0) {
		*error = xstrdup("parameter attributes: no attribute given");
		return -1;
	}

	r->min_members = ROLES_DEFAULT_MIN_MEMBERS;
	if ((v = job_param_get(j, "min_members")) != NULL) {
		n = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || n < 1 || n > ROLES_MAX_MIN_MEMBERS) {
			*error = xasprintf("parameter min_members: '%s' is not a number in "
			    "1..%ld", v, ROLES_MAX_MIN_MEMBERS);
			return -1;
		}
		r->min_members = n;
	}

	r->share = RU_SHARE_DEN / 10 * 8;
	if ((v = job_param_get(j, "min_share")) != NULL) {
		if (ru_parse_share(v, &r->share) != 0 || r->share == 0) {
			*error = xasprintf("parameter min_share: '%s' is not a decimal number "
			    "above 0 and at most 1 (at most 9 decimals)", v);
			return -1;
		}
	}

	r->use_overlay = true;
	if ((v = job_param_get(j, "attribute_source")) != NULL) {
		if (strcmp(v, "effective") == 0)
			r->use_overlay = true;
		else if (strcmp(v, "source") == 0)
			r->use_overlay = false;
		else {
			*error = xasprintf("parameter attribute_source: '%s' is not "
			    "'effective' or 'source'", v);
			return -1;
		}
	}
	return 0;
}

static int
cmp_cohort(const void *a, const void *b)
{
	struct roles_run *r = sort_run;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b, vx, vy;
	size_t i;

	for (i = 0; i < r->nattrs; i++) {
		vx = r->nrank[r->vnorm[r->m.oattr[(size_t)x * r->nattrs + i]]];
		vy = r->nrank[r->vnorm[r->m.oattr[(size_t)y * r->nattrs + i]]];
		if (vx != vy)
			return vx < vy ? -1 : 1;
	}
	return x < y ? -1 : x > y;
}

static bool
same_cohort(struct roles_run *r, uint32_t x, uint32_t y)
{
	size_t i;

	for (i = 0; i < r->nattrs; i++)
		if (r->vnorm[r->m.oattr[(size_t)x * r->nattrs + i]] !=
		    r->vnorm[r->m.oattr[(size_t)y * r->nattrs + i]])
			return false;
	return true;
}

/* Does x have smaller raw values than y (byte order, attribute by attribute)? */
static bool
raw_less(struct roles_run *r, uint32_t x, uint32_t y)
{
	uint32_t vx, vy;
	size_t i;

	for (i = 0; i < r->nattrs; i++) {
		vx = r->vrank[r->m.oattr[(size_t)x * r->nattrs + i]];
		vy = r->vrank[r->m.oattr[(size_t)y * r->nattrs + i]];
		if (vx != vy)
			return vx < vy;
	}
	return false;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_role_name(const void *a, const void *b)
{
	const struct role *x = a, *y = b;

	return strcmp(sort_run->names + x->name, sort_run->names + y->name);
}

/* Cohorts, roles and their entitlements, all in memory. */
static void
build_roles(struct roles_run *r)
{
	struct job_ctx *ctx = r->ctx;
	struct rl_model *m = &r->m;
	uint32_t o, i, start, *cnt, *touched, ntouched, g, v;
	uint64_t missing = 0, small_cohorts = 0, small_owners = 0, k;
	size_t a, cap = 0;
	char *nbuf = NULL;
	size_t nlen, ncap = 0;
	struct role *ro;

	/* Normalised values and their order. */
	strtab_init(&r->norms);
	r->vnorm = xcalloc(m->vals.n + 1, sizeof *r->vnorm);
	for (v = 0; v < m->vals.n; v++) {
		nlen = 0;
		ru_name_append(&nbuf, &nlen, &ncap, strtab_str(&m->vals, v),
		    strtab_len(&m->vals, v));
		r->vnorm[v] = strtab_intern(&r->norms, nbuf, nlen);
	}
	r->nrank = strtab_ranks(&r->norms);
	r->vrank = strtab_ranks(&m->vals);

	/* Eligible owners, sorted into cohorts. */
	r->order = xcalloc((size_t)m->nowners + 1, sizeof *r->order);
	for (o = 0; o < m->nowners; o++) {
		for (a = 0; a < r->nattrs; a++)
			if (m->oattr[(size_t)o * r->nattrs + a] == RU_NONE)
				break;
		if (a < r->nattrs) {
			missing++;
			continue;
		}
		r->order[r->neligible++] = o;
	}
	sort_run = r;
	if (r->neligible > 1)
		qsort(r->order, r->neligible, sizeof *r->order, cmp_cohort);
	sort_run = NULL;

	cnt = xcalloc(m->gids.n + 1, sizeof *cnt);
	touched = xcalloc(m->gids.n + 1, sizeof *touched);
	for (start = 0; start < r->neligible; start = i) {
		for (i = start + 1; i < r->neligible &&
		    same_cohort(r, r->order[start], r->order[i]); i++)
			;
		if (i - start < (uint32_t)r->min_members) {
			small_cohorts++;
			small_owners += i - start;
			continue;
		}
		if (r->nroles == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			r->roles = xrealloc(r->roles, cap * sizeof *r->roles);
		}
		ro = &r->roles[r->nroles++];
		memset(ro, 0, sizeof *ro);
		ro->first = start;
		ro->n = i - start;
		ro->vals_owner = r->order[start];
		ro->name = r->nameslen;
		for (a = 0; a < r->nattrs; a++) {
			if (a > 0) {
				/* ru_name_append keeps room for a few more bytes. */
				ru_name_append(&r->names, &r->nameslen, &r->namescap, "", 0);
				r->names[r->nameslen++] = '-';
				r->names[r->nameslen] = '\0';
			}
			v = r->vnorm[m->oattr[(size_t)r->order[start] * r->nattrs + a]];
			ru_name_append(&r->names, &r->nameslen, &r->namescap,
			    strtab_str(&r->norms, v), strtab_len(&r->norms, v));
		}
		r->nameslen++; /* keep the NUL */

		/* Count holders per group; keep those at or above the share. */
		ntouched = 0;
		for (k = start; k < i; k++) {
			o = r->order[k];
			if (raw_less(r, o, ro->vals_owner))
				ro->vals_owner = o;
			if (!m->with_groups)
				continue;
			for (uint64_t p = m->og_off[o]; p < m->og_off[o + 1]; p++) {
				g = m->og[p];
				if (cnt[g]++ == 0)
					touched[ntouched++] = g;
			}
		}
		ro->ent = r->nents;
		for (k = 0; k < ntouched; k++) {
			g = touched[k];
			if ((uint64_t)cnt[g] * RU_SHARE_DEN >= r->share * (uint64_t)ro->n) {
				if (r->nents == r->entscap) {
					r->entscap = r->entscap == 0 ? 256 : r->entscap * 2;
					r->ents = xrealloc(r->ents, r->entscap * sizeof *r->ents);
				}
				r->ents[r->nents++] = g;
			}
			cnt[g] = 0;
		}
		ro->nent = r->nents - ro->ent;
		if (ro->nent > 1)
			qsort(r->ents + ro->ent, ro->nent, sizeof *r->ents, cmp_u32);
	}
	free(cnt);
	free(touched);
	free(nbuf);

	sort_run = r;
	if (r->nroles > 1)
		qsort(r->roles, r->nroles, sizeof *r->roles, cmp_role_name);
	sort_run = NULL;
	strtab_init(&r->rnames);
	for (k = 0; k < r->nroles; k++)
		strtab_intern(&r->rnames, r->names + r->roles[k].name,
		    strlen(r->names + r->roles[k].name));

	if (missing > 0)
		job_ctx_log(ctx, LOG_LVL_INFO, "%llu owners lack one of the attributes (%s): "
		    "they are in no role", (unsigned long long)missing,
		    job_param_get(ctx->job, "attributes") != NULL ?
		    job_param_get(ctx->job, "attributes") : ROLES_DEFAULT_ATTRS);
	if (small_cohorts > 0)
		job_ctx_log(ctx, LOG_LVL_INFO, "%llu cohorts with %llu owners are below "
		    "min_members %ld: no role", (unsigned long long)small_cohorts,
		    (unsigned long long)small_owners, r->min_members);
	job_ctx_log(ctx, LOG_LVL_INFO, "%zu roles from %u owners in roles (%u owners, "
	    "%llu attribute values from the enrichment overlay)", r->nroles,
	    r->neligible - (uint32_t)small_owners, m->nowners,
	    (unsigned long long)m->from_overlay);
	if (m->accounts_no_owner > 0)
		job_ctx_log(ctx, LOG_LVL_INFO, "%llu accounts with %llu memberships have no "
		    "known owner: their groups count for nobody",
		    (unsigned long long)m->accounts_no_owner,
		    (unsigned long long)m->memberships_no_owner);
}

/* --- record streams ------------------------------------------------------------ */

static void
key_set(struct roles_run *r, const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen + (b != NULL ? 1 + blen : 0);

	if (n + 1 > r->keycap) {
		r->keycap = n + 64;
		r->key = xrealloc(r->key, r->keycap);
	}
	memcpy(r->key, a, alen);
	if (b != NULL) {
		r->key[alen] = '\x1f';
		memcpy(r->key + alen + 1, b, blen);
	}
	r->key[n] = '\0';
	r->keylen = n;
}

static int
next_role(void *arg, const void **key, size_t *klen, const void **val, size_t *vlen,
    char **error)
{
	struct roles_run *r = arg;
	struct rl_model *m = &r->m;
	struct role *ro;
	msgpack_packer pk;
	const char *name;
	size_t a;
	uint64_t e;
	uint32_t v;

	if (r->cur_role >= r->nroles)
		return 0;
	ro = &r->roles[r->cur_role++];
	name = r->names + ro->name;
	key_set(r, name, strlen(name), NULL, 0);
	r->val.size = 0;
	msgpack_packer_init(&pk, &r->val, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	ru_pack_cstr(&pk, "attributes");
	msgpack_pack_array(&pk, r->nattrs);
	for (a = 0; a < r->nattrs; a++)
		ru_pack_cstr(&pk, r->attrs[a]);
	ru_pack_cstr(&pk, "values");
	msgpack_pack_array(&pk, r->nattrs);
	for (a = 0; a < r->nattrs; a++) {
		v = m->oattr[(size_t)ro->vals_owner * r->nattrs + a];
		ru_pack_str(&pk, strtab_str(&m->vals, v), strtab_len(&m->vals, v));
	}
	ru_pack_cstr(&pk, "member_count");
	msgpack_pack_uint64(&pk, ro->n);
	ru_pack_cstr(&pk, "entitlements");
	msgpack_pack_array(&pk, ro->nent);
	for (e = ro->ent; e < ro->ent + ro->nent; e++)
		ru_pack_str(&pk, strtab_str(&m->gids, r->ents[e]),
		    strtab_len(&m->gids, r->ents[e]));
	*key = r->key;
	*klen = r->keylen;
	*val = r->val.data;
	*vlen = r->val.size;
	return 1;
}

static int
next_member(void *arg, const void **key, size_t *klen, const void **val, size_t *vlen,
    char **error)
{
	struct roles_run *r = arg;
	struct rl_model *m = &r->m;
	struct role *ro;
	msgpack_packer pk;
	const char *name;
	uint32_t o;

	while (r->cur_role < r->nroles && r->cur_member >= r->roles[r->cur_role].n) {
		r->cur_role++;
		r->cur_member = 0;
	}
	if (r->cur_role >= r->nroles)
		return 0;
	ro = &r->roles[r->cur_role];
	o = r->order[ro->first + r->cur_member++];
	name = r->names + ro->name;
	key_set(r, name, strlen(name), strtab_str(&m->oids, o), strtab_len(&m->oids, o));
	r->val.size = 0;
	msgpack_packer_init(&pk, &r->val, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	ru_pack_cstr(&pk, "role");
	ru_pack_cstr(&pk, name);
	ru_pack_cstr(&pk, "owner_id");
	ru_pack_str(&pk, strtab_str(&m->oids, o), strtab_len(&m->oids, o));
	if (r->members_base >= 0)
		r->ctx->processed++;
	*key = r->key;
	*klen = r->keylen;
	*val = r->val.data;
	*vlen = r->val.size;
	return 1;
}

/* Dry run over the members: which roles' member sets differ. */
static void
member_outcome(void *arg, enum ru_outcome o, const void *key, size_t klen)
{
	struct roles_run *r = arg;
	const char *sep;
	uint32_t i;

	if (o == RU_SAME)
		return;
	if ((sep = memchr(key, '\x1f', klen)) == NULL)
		return;
	i = strtab_find(&r->rnames, key, (size_t)(sep - (const char *)key));
	if (i != RU_NONE)
		r->roles[i].members_changed = true;
}

static void
role_outcome(void *arg, enum ru_outcome o, const void *key, size_t klen)
{
	struct roles_run *r = arg;
	uint32_t i;

	if (o != RU_SAME)
		return;
	i = strtab_find(&r->rnames, key, klen);
	if (i != RU_NONE && r->roles[i].members_changed)
		r->roles[i].same_but_members = true;
}

/* Stream positions: the role (roles), the role and member (members). */
static uint64_t
tell_stream(void *arg)
{
	struct roles_run *r = arg;

	return (uint64_t)r->cur_role << 32 | r->cur_member;
}

static void
seek_stream(void *arg, uint64_t pos)
{
	struct roles_run *r = arg;
	size_t i;

	r->cur_role = (size_t)(pos >> 32);
	r->cur_member = (uint32_t)pos;
	if (r->members_base < 0)
		return;
	r->ctx->processed = r->members_base + r->cur_member;
	for (i = 0; i < r->cur_role && i < r->nroles; i++)
		r->ctx->processed += r->roles[i].n;
}

/* One merge pass over db: the roles (next_role) or the members (next_member) streamed
 * from the start, with the shared tell/seek for resuming after a batch. */
static void
merge_pass(struct ru_merge *mg, struct roles_run *r, DB *db, bool members,
    bool with_outcome)
{
	memset(mg, 0, sizeof *mg);
	mg->ctx = r->ctx;
	mg->db = db;
	mg->what = members ? RES_DB_ROLE_MEMBERS : RES_DB_ROLES;
	mg->next = members ? next_member : next_role;
	if (with_outcome)
		mg->outcome = members ? member_outcome : role_outcome;
	mg->tell = tell_stream;
	mg->seek = seek_stream;
	mg->arg = r;
	r->cur_role = 0;
	r->cur_member = 0;
}

static int
write_results(struct roles_run *r, char **error)
{
	struct job_ctx *ctx = r->ctx;
	struct ru_merge mg;
	DB *roles = NULL, *members = NULL;
	uint64_t same;
	int res = JOB_RUN_FAILED;

	if (store_db_open(ctx->store, RES_DB_ROLES, DB_BTREE, 0, &roles, error) != 0 ||
	    store_db_open(ctx->store, RES_DB_ROLE_MEMBERS, DB_BTREE, 0, &members,
	    error) != 0)
		goto out;

	job_ctx_step(ctx, "Comparing role members");
	merge_pass(&mg, r, members, true, true);
	mg.dry = true;
	r->members_base = -1;
	if ((res = ru_merge_run(&mg, error)) != JOB_RUN_OK)
		goto out;

	job_ctx_step(ctx, "Writing roles");
	merge_pass(&mg, r, roles, false, true);
	res = ru_merge_run(&mg, error);
	same = 0;
	for (size_t i = 0; i < r->nroles; i++)
		same += r->roles[i].same_but_members;
	ctx->created = (int64_t)mg.counts[RU_CREATED];
	ctx->updated = (int64_t)(mg.counts[RU_CHANGED] + same);
	ctx->deleted = (int64_t)mg.counts[RU_DELETED];
	job_ctx_progress_now(ctx);
	if (res != JOB_RUN_OK)
		goto out;

	job_ctx_step(ctx, "Writing role members");
	merge_pass(&mg, r, members, true, false);
	for (size_t i = 0; i < r->nroles; i++) /* owners in no role: placed already */
		ctx->processed -= r->roles[i].n;
	ctx->processed += r->m.nowners;
	r->members_base = ctx->processed;
	if ((res = ru_merge_run(&mg, error)) != JOB_RUN_OK)
		goto out;
	job_ctx_log(ctx, LOG_LVL_INFO, "role members: %llu added, %llu removed",
	    (unsigned long long)mg.counts[RU_CREATED],
	    (unsigned long long)mg.counts[RU_DELETED]);
	ctx->processed = ctx->total;
	res = JOB_RUN_OK;
out:
	if (roles != NULL)
		roles->close(roles, 0);
	if (members != NULL)
		members->close(members, 0);
	return res;
}

int
run_role_generation(struct job_ctx *ctx, char **error)
{
	struct roles_run r;
	struct identity *id = NULL;
	uint64_t owners, accounts, memberships;
	int res = JOB_RUN_FAILED;

	memset(&r, 0, sizeof r);
	r.ctx = ctx;
	msgpack_sbuffer_init(&r.val);
	strtab_init(&r.norms);
	strtab_init(&r.rnames);
	if (parse_params(&r, error) != 0)
		goto out;
	if (identity_open(ctx->store, &id, error) != 0)
		goto out;

	job_ctx_step(ctx, "Counting records");
	if (rl_count(id, true, &owners, &accounts, &memberships, error) != 0)
		goto out;
	/* Read every owner, account and membership; then place every owner. */
	ctx->total = (int64_t)(owners * 2 + accounts + memberships);
	ctx->processed = 0;
	job_ctx_progress_now(ctx);

	res = rl_load(&r.m, ctx, id, r.attrs, r.nattrs, r.use_overlay, true, error);
	if (res != JOB_RUN_OK)
		goto out;
	res = JOB_RUN_FAILED;

	job_ctx_step(ctx, "Building roles");
	strtab_free(&r.norms);
	strtab_free(&r.rnames);
	build_roles(&r);
	job_ctx_progress_now(ctx);

	res = write_results(&r, error);
out:
	if (res == JOB_RUN_CANCELLED) {
		ctx->was_cancelled = true;
		if (!ctx->aborted)
			job_ctx_log(ctx, LOG_LVL_INFO, "cancelled: %lld of %lld records "
			    "processed; committed batches stay", (long long)ctx->processed,
			    (long long)ctx->total);
	}
	if (id != NULL)
		identity_close(id);
	job_ctx_progress_now(ctx);
	rl_free(&r.m);
	free(r.attrbuf);
	free(r.order);
	free(r.vnorm);
	free(r.nrank);
	free(r.vrank);
	strtab_free(&r.norms);
	strtab_free(&r.rnames);
	free(r.roles);
	free(r.names);
	free(r.ents);
	free(r.key);
	msgpack_sbuffer_destroy(&r.val);
	return res;
}
