/*
 * policy.c: the policy_analysis job (DESIGN.md section 4, docs/analysis.md
 * "policy_analysis").
 *
 * Reads the policy file (the [analysis] policy_file of the configuration, or the one the
 * job parameter policy_file names: a file name in that file's directory, never a path, see
 * policy_file.h; no configured file is an error), the owners with the groups they hold
 * through their accounts (roles_load.h), the generated roles and the accounts, and evaluates:
 * separation-of-duties sets (a subject holding two or more entitlements of one set),
 * max_entitlements (more than limit), requires (holding an entitlement without an allowed
 * attribute value) and account rules (reject wins over approve; unmatched accounts are
 * pending). The violations replace the previous run's in RES_DB_VIOLATIONS by a merge in
 * key order that keeps first_seen_job: created = new, updated = still open, deleted =
 * resolved.
 */
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "policy_file.h"
#include "results.h"
#include "roles_load.h"
#include "roles_util.h"

/* "\xaefirst_seen_job" + 0xcf + 8 bytes, just before "_job". */
#define POL_FIRST_SEEN_TAIL 24

struct vrec {
	uint64_t koff, klen; /* into arena */
	uint64_t voff, vlen;
};

struct pol_run {
	struct job_ctx *ctx;
	struct policy_set ps;
	struct rl_model m;
	const char *attrs[RL_MAX_ATTRS];
	size_t nattrs;
	size_t *pattr; /* policy index -> attribute index (requires) */
	uint32_t **pents; /* policy index -> sorted group numbers (absent ones dropped) */
	size_t *npents;

	char *arena;
	size_t alen, acap;
	struct vrec *v;
	size_t nv, vcap;
	size_t cur;
	msgpack_sbuffer sb;
	uint64_t by_kind[4];

	/* Account decisions, compact (an account id arena and 12 bytes per account), put
	 * in key order and encoded only as they are written. */
	char *aids;
	size_t aidslen, aidscap;
	uint64_t *aoff;
	struct decision *dec;
	size_t ndec, deccap, dcur;
	uint32_t *prank; /* policy index (ps.n: the pending name) -> key order */
	bool dbuilt;     /* dkey/dsb hold dec[dcur] */
	char *dkey;
	size_t dklen;
	msgpack_sbuffer dsb;
};

struct decision {
	uint32_t acc;  /* number: aoff[acc] .. aoff[acc + 1] in aids */
	uint16_t pol;  /* deciding policy, or ps.n for pending */
	uint16_t nrej, napp;
	uint8_t reject;
};

static struct pol_run *sort_run; /* qsort has no argument; single-threaded */

static const char *
pol_name(const struct pol_run *r, size_t i)
{
	return i < r->ps.n ? r->ps.p[i].name : POL_RESERVED_NAME;
}

static const char *const viol_kind[] = { "sod", "max_entitlements", "requires_attribute",
	"account_rule" };

static uint64_t
arena_add(struct pol_run *r, const void *p, size_t n)
{
	uint64_t off = r->alen;

	if (r->alen + n > r->acap) {
		r->acap = (r->alen + n) * 2 + 4096;
		r->arena = xrealloc(r->arena, r->acap);
	}
	memcpy(r->arena + r->alen, p, n);
	r->alen += n;
	return off;
}

/* Encode one violation: its key into *key (malloc'd, *klen bytes), its value body into
 * sb. ents: n strings (sorted). */
static void
encode_violation(struct pol_run *r, msgpack_sbuffer *sb, char **key, size_t *klen,
    const struct policy *p, const char *skind, const char *sid, size_t sidlen,
    const char *const *ents, const size_t *entlen, size_t n, const char *detail,
    const char *decision)
{
	msgpack_packer pk;
	size_t i;
	const char *pname = p != NULL ? p->name : POL_RESERVED_NAME;
	unsigned char tail[POL_FIRST_SEEN_TAIL];
	uint64_t job = r->ctx->job != NULL ? r->ctx->job->no : 0;

	*klen = strlen(pname) + 1 + strlen(skind) + 1 + sidlen;
	*key = xrealloc(*key, *klen + 1);
	snprintf(*key, *klen + 1, "%s|%s|%.*s", pname, skind, (int)sidlen, sid);
	sb->size = 0;
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, decision != NULL ? 9 : 8);
	ru_pack_cstr(&pk, "policy");
	ru_pack_cstr(&pk, pname);
	ru_pack_cstr(&pk, "kind");
	ru_pack_cstr(&pk, viol_kind[p != NULL ? p->kind : POL_ACCOUNT_RULE]);
	ru_pack_cstr(&pk, "subject_kind");
	ru_pack_cstr(&pk, skind);
	ru_pack_cstr(&pk, "subject_id");
	ru_pack_str(&pk, sid, sidlen);
	ru_pack_cstr(&pk, "entitlements");
	msgpack_pack_array(&pk, n);
	for (i = 0; i < n; i++)
		ru_pack_str(&pk, ents[i], entlen[i]);
	ru_pack_cstr(&pk, "detail");
	ru_pack_cstr(&pk, detail);
	if (decision != NULL) {
		ru_pack_cstr(&pk, "decision");
		ru_pack_cstr(&pk, decision);
	}
	memcpy(tail, "\xae" "first_seen_job\xcf", 16);
	for (i = 0; i < 8; i++)
		tail[16 + i] = (unsigned char)(job >> (56 - 8 * i));
	msgpack_sbuffer_write(sb, (const char *)tail, sizeof tail);
}

/* Add one violation (owners and roles: kept encoded in the arena). */
static void
add_violation(struct pol_run *r, const struct policy *p, const char *skind,
    const char *sid, size_t sidlen, const char *const *ents, const size_t *entlen,
    size_t n, const char *detail, const char *decision)
{
	struct vrec *v;
	char *key = NULL;
	size_t klen;

	encode_violation(r, &r->sb, &key, &klen, p, skind, sid, sidlen, ents, entlen, n,
	    detail, decision);
	if (r->nv == r->vcap) {
		r->vcap = r->vcap == 0 ? 1024 : r->vcap * 2;
		r->v = xrealloc(r->v, r->vcap * sizeof *r->v);
	}
	v = &r->v[r->nv++];
	v->klen = klen;
	v->koff = arena_add(r, key, klen);
	v->vlen = r->sb.size;
	v->voff = arena_add(r, r->sb.data, r->sb.size);
	free(key);
	r->by_kind[p != NULL ? p->kind : POL_ACCOUNT_RULE]++;
}

/* --- owners ------------------------------------------------------------------------- */

static void
prepare(struct pol_run *r)
{
	struct policy *p;
	size_t i, a;

	r->pattr = xcalloc(r->ps.n + 1, sizeof *r->pattr);
	r->pents = xcalloc(r->ps.n + 1, sizeof *r->pents);
	r->npents = xcalloc(r->ps.n + 1, sizeof *r->npents);
	for (i = 0; i < r->ps.n; i++) {
		p = &r->ps.p[i];
		if (p->kind != POL_REQUIRES)
			continue;
		for (a = 0; a < r->nattrs; a++)
			if (strcmp(r->attrs[a], p->attribute) == 0)
				break;
		if (a == r->nattrs && r->nattrs < RL_MAX_ATTRS)
			r->attrs[r->nattrs++] = p->attribute;
		r->pattr[i] = a;
	}
}

/* After loading: the policies' group ids as the model's group numbers. */
static void
map_groups(struct pol_run *r)
{
	struct policy *p;
	size_t i, j;
	uint32_t g;

	for (i = 0; i < r->ps.n; i++) {
		p = &r->ps.p[i];
		r->pents[i] = xcalloc(p->nents + 1, sizeof **r->pents);
		for (j = 0; j < p->nents; j++) {
			g = strtab_find(&r->m.gids, p->ents[j], strlen(p->ents[j]));
			if (g != RU_NONE)
				r->pents[i][r->npents[i]++] = g;
		}
		/* Ids sorted by strcmp = byte order = group number order. */
	}
}

/* Groups of held (sorted) that are in set (sorted): into out, their count. */
static size_t
intersect(const uint32_t *held, size_t nheld, const uint32_t *set, size_t nset,
    uint32_t *out)
{
	size_t i = 0, j = 0, n = 0;

	while (i < nheld && j < nset) {
		if (held[i] < set[j])
			i++;
		else if (held[i] > set[j])
			j++;
		else {
			out[n++] = held[i];
			i++;
			j++;
		}
	}
	return n;
}

static void
add_group_violation(struct pol_run *r, const struct policy *p, const char *skind,
    const char *sid, size_t sidlen, const uint32_t *gs, size_t n, const char *detail)
{
	const char **ents = xcalloc(n + 1, sizeof *ents);
	size_t *lens = xcalloc(n + 1, sizeof *lens), i;

	for (i = 0; i < n; i++) {
		ents[i] = strtab_str(&r->m.gids, gs[i]);
		lens[i] = strtab_len(&r->m.gids, gs[i]);
	}
	add_violation(r, p, skind, sid, sidlen, ents, lens, n, detail, NULL);
	free(ents);
	free(lens);
}

static bool
value_allowed(const struct policy *p, const char *v, size_t len)
{
	size_t i;

	for (i = 0; i < p->nvalues; i++)
		if (strlen(p->values[i]) == len && memcmp(p->values[i], v, len) == 0)
			return true;
	return false;
}

static int
check_owners(struct pol_run *r, char **error)
{
	struct job_ctx *ctx = r->ctx;
	struct rl_model *m = &r->m;
	const struct policy *p;
	uint32_t o, *buf, v;
	const uint32_t *held;
	size_t nheld, n, i, maxbuf = 0;
	char *detail;
	const char *sid;
	size_t sidlen;
	uint64_t since = 0;

	for (i = 0; i < r->ps.n; i++)
		if (r->npents[i] > maxbuf)
			maxbuf = r->npents[i];
	buf = xcalloc(maxbuf + 1, sizeof *buf);
	for (o = 0; o < m->nowners; o++) {
		held = m->with_groups ? m->og + m->og_off[o] : NULL;
		nheld = m->with_groups ? m->og_off[o + 1] - m->og_off[o] : 0;
		sid = strtab_str(&m->oids, o);
		sidlen = strtab_len(&m->oids, o);
		for (i = 0; i < r->ps.n; i++) {
			p = &r->ps.p[i];
			switch (p->kind) {
			case POL_SOD:
				if (!(p->subjects & POL_SUBJ_OWNERS))
					break;
				n = intersect(held, nheld, r->pents[i], r->npents[i], buf);
				if (n < 2)
					break;
				detail = xasprintf("holds %zu of the %zu entitlements that must "
				    "not be held together", n, p->nents);
				add_group_violation(r, p, "owner", sid, sidlen, buf, n, detail);
				free(detail);
				break;
			case POL_MAX:
				if (!(p->subjects & POL_SUBJ_OWNERS) || nheld <= (size_t)p->limit)
					break;
				detail = xasprintf("holds %zu entitlements; the limit is %ld",
				    nheld, p->limit);
				add_group_violation(r, p, "owner", sid, sidlen, held, nheld,
				    detail);
				free(detail);
				break;
			case POL_REQUIRES:
				if (r->npents[i] == 0 ||
				    intersect(held, nheld, r->pents[i], 1, buf) == 0)
					break;
				v = r->pattr[i] < m->nattrs ?
				    m->oattr[(size_t)o * m->nattrs + r->pattr[i]] : RU_NONE;
				if (v != RU_NONE && value_allowed(p, strtab_str(&m->vals, v),
				    strtab_len(&m->vals, v)))
					break;
				if (v == RU_NONE)
					detail = xasprintf("holds %s but has no %s", p->ents[0],
					    p->attribute);
				else
					detail = xasprintf("holds %s but %s is '%s', not one of "
					    "the allowed values", p->ents[0], p->attribute,
					    strtab_str(&m->vals, v));
				add_group_violation(r, p, "owner", sid, sidlen, buf, 1, detail);
				free(detail);
				break;
			case POL_ACCOUNT_RULE:
				break;
			}
		}
		ctx->processed++;
		if (++since % ctx->batch_size == 0) {
			job_ctx_progress(ctx);
			if (job_ctx_cancelled(ctx)) {
				free(buf);
				return JOB_RUN_CANCELLED;
			}
		}
	}
	free(buf);
	(void)error;
	return JOB_RUN_OK;
}

/* --- roles --------------------------------------------------------------------------- */

static int
cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
dup_str(const char *s, size_t len)
{
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static int
check_roles(struct pol_run *r, char **error)
{
	struct job_ctx *ctx = r->ctx;
	const struct policy *p;
	msgpack_unpacked u;
	msgpack_object *ents = NULL;
	DB *db = NULL;
	DBC *c = NULL;
	DBT k, v;
	char **held = NULL, **hit, *detail;
	size_t nheld, nhit, i, j, e, off, *lens;
	uint32_t x;
	int ret, res = JOB_RUN_FAILED;

	if (store_db_open(ctx->store, RES_DB_ROLES, DB_BTREE, 0, &db, error) != 0)
		return JOB_RUN_FAILED;
	if ((ret = db->cursor(db, NULL, &c, DB_READ_COMMITTED)) != 0) {
		*error = xasprintf("roles cursor: %s", db_strerror(ret));
		goto out;
	}
	msgpack_unpacked_init(&u);
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	while ((ret = c->get(c, &k, &v, DB_NEXT)) == 0) {
		off = 0;
		nheld = 0;
		if (msgpack_unpack_next(&u, v.data, v.size, &off) == MSGPACK_UNPACK_SUCCESS &&
		    u.data.type == MSGPACK_OBJECT_MAP) {
			ents = NULL;
			for (x = 0; x < u.data.via.map.size; x++) {
				msgpack_object_kv *kv = &u.data.via.map.ptr[x];

				if (kv->key.type == MSGPACK_OBJECT_STR &&
				    kv->key.via.str.size == 12 &&
				    memcmp(kv->key.via.str.ptr, "entitlements", 12) == 0 &&
				    kv->val.type == MSGPACK_OBJECT_ARRAY)
					ents = &kv->val;
			}
			if (ents != NULL) {
				held = xcalloc(ents->via.array.size + 1, sizeof *held);
				for (x = 0; x < ents->via.array.size; x++)
					if (ents->via.array.ptr[x].type == MSGPACK_OBJECT_STR)
						held[nheld++] = dup_str(
						    ents->via.array.ptr[x].via.str.ptr,
						    ents->via.array.ptr[x].via.str.size);
				if (nheld > 1)
					qsort(held, nheld, sizeof *held, cmp_cstr);
			}
		}
		hit = xcalloc(nheld + 1, sizeof *hit);
		lens = xcalloc(nheld + 1, sizeof *lens);
		for (i = 0; i < r->ps.n; i++) {
			p = &r->ps.p[i];
			if (p->kind == POL_SOD && (p->subjects & POL_SUBJ_ROLES)) {
				nhit = 0;
				for (e = 0, j = 0; e < nheld && j < p->nents;) {
					int cmp = strcmp(held[e], p->ents[j]);

					if (cmp < 0)
						e++;
					else if (cmp > 0)
						j++;
					else {
						lens[nhit] = strlen(held[e]);
						hit[nhit++] = held[e];
						e++;
						j++;
					}
				}
				if (nhit < 2)
					continue;
				detail = xasprintf("grants %zu of the %zu entitlements that "
				    "must not be held together", nhit, p->nents);
				add_violation(r, p, "role", k.data, k.size,
				    (const char *const *)hit, lens, nhit, detail, NULL);
				free(detail);
			} else if (p->kind == POL_MAX && (p->subjects & POL_SUBJ_ROLES) &&
			    nheld > (size_t)p->limit) {
				for (e = 0; e < nheld; e++)
					lens[e] = strlen(held[e]);
				detail = xasprintf("grants %zu entitlements; the limit is %ld",
				    nheld, p->limit);
				add_violation(r, p, "role", k.data, k.size,
				    (const char *const *)held, lens, nheld, detail, NULL);
				free(detail);
			}
		}
		free(hit);
		free(lens);
		for (e = 0; e < nheld; e++)
			free(held[e]);
		free(held);
		held = NULL;
		ctx->processed++;
	}
	msgpack_unpacked_destroy(&u);
	if (ret != DB_NOTFOUND) {
		*error = xasprintf("reading roles: %s", db_strerror(ret));
		goto out;
	}
	job_ctx_progress(ctx);
	res = job_ctx_cancelled(ctx) ? JOB_RUN_CANCELLED : JOB_RUN_OK;
out:
	if (c != NULL)
		c->close(c);
	db->close(db, 0);
	return res;
}

/* --- accounts ------------------------------------------------------------------------- */

static bool
rule_matches(const struct policy *p, const void *data, size_t len)
{
	const char *v;
	size_t vlen, i;

	for (i = 0; i < p->nconds; i++) {
		if (identity_field(data, len, p->conds[i].field, &v, &vlen) != 0)
			vlen = 0;
		if (vlen != strlen(p->conds[i].value) ||
		    memcmp(v, p->conds[i].value, vlen) != 0)
			return false;
	}
	return true;
}

static int
check_accounts(struct pol_run *r, struct identity *id, char **error)
{
	struct job_ctx *ctx = r->ctx;
	DB *db = identity_db(id, IDENT_ACCOUNT);
	const struct policy *p, *rej, *app;
	struct decision *d;
	DBC *c;
	DBT k, v;
	size_t i, nrej, napp;
	uint64_t since = 0;
	int ret;

	if ((ret = db->cursor(db, NULL, &c, DB_READ_COMMITTED)) != 0) {
		*error = xasprintf("accounts cursor: %s", db_strerror(ret));
		return JOB_RUN_FAILED;
	}
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	while ((ret = c->get(c, &k, &v, DB_NEXT)) == 0) {
		rej = app = NULL;
		nrej = napp = 0;
		for (i = 0; i < r->ps.n; i++) {
			p = &r->ps.p[i];
			if (p->kind != POL_ACCOUNT_RULE || !rule_matches(p, v.data, v.size))
				continue;
			if (p->reject) {
				if (nrej++ == 0)
					rej = p;
			} else if (napp++ == 0)
				app = p;
		}
		if (r->ndec == r->deccap) {
			r->deccap = r->deccap == 0 ? 4096 : r->deccap * 2;
			r->dec = xrealloc(r->dec, r->deccap * sizeof *r->dec);
			r->aoff = xrealloc(r->aoff, (r->deccap + 1) * sizeof *r->aoff);
		}
		if (r->aidslen + k.size > r->aidscap) {
			r->aidscap = (r->aidslen + k.size) * 2 + 4096;
			r->aids = xrealloc(r->aids, r->aidscap);
		}
		if (r->ndec == 0)
			r->aoff[0] = 0;
		memcpy(r->aids + r->aidslen, k.data, k.size);
		r->aidslen += k.size;
		r->aoff[r->ndec + 1] = r->aidslen;
		d = &r->dec[r->ndec];
		d->acc = (uint32_t)r->ndec;
		r->ndec++;
		d->nrej = (uint16_t)(nrej > UINT16_MAX ? UINT16_MAX : nrej);
		d->napp = (uint16_t)(napp > UINT16_MAX ? UINT16_MAX : napp);
		d->reject = rej != NULL;
		d->pol = (uint16_t)(rej != NULL ? (size_t)(rej - r->ps.p) :
		    app != NULL ? (size_t)(app - r->ps.p) : r->ps.n);
		r->by_kind[POL_ACCOUNT_RULE]++;
		ctx->processed++;
		if (++since % ctx->batch_size == 0) {
			job_ctx_progress(ctx);
			job_ctx_delay(ctx);
			if (job_ctx_cancelled(ctx)) {
				c->close(c);
				return JOB_RUN_CANCELLED;
			}
		}
	}
	c->close(c);
	if (ret != DB_NOTFOUND) {
		*error = xasprintf("reading accounts: %s", db_strerror(ret));
		return JOB_RUN_FAILED;
	}
	return JOB_RUN_OK;
}

/* --- writing ---------------------------------------------------------------------------- */

static int
cmp_vrec(const void *a, const void *b)
{
	const struct vrec *x = a, *y = b;
	size_t n = x->klen < y->klen ? x->klen : y->klen;
	int c = memcmp(sort_run->arena + x->koff, sort_run->arena + y->koff, n);

	if (c != 0)
		return c;
	return x->klen < y->klen ? -1 : x->klen > y->klen;
}

static int
cmp_decision(const void *a, const void *b)
{
	const struct decision *x = a, *y = b;
	uint32_t rx = sort_run->prank[x->pol], ry = sort_run->prank[y->pol];

	if (rx != ry)
		return rx < ry ? -1 : 1;
	return x->acc < y->acc ? -1 : x->acc > y->acc;
}

static int
cmp_prank(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	const char *nx = pol_name(sort_run, x), *ny = pol_name(sort_run, y);
	size_t lx = strlen(nx), ly = strlen(ny), n = lx < ly ? lx : ly;
	int c = memcmp(nx, ny, n);

	/* As the keys "<name>|..." compare: a shorter name is followed by '|'. */
	if (c != 0)
		return c;
	if (lx == ly)
		return 0;
	return lx < ly ? ('|' < (unsigned char)ny[n] ? -1 : 1) :
	    ((unsigned char)nx[n] < '|' ? -1 : 1);
}

/* Decisions in key order: by policy (as "<name>|" sorts), then account id. */
static void
sort_decisions(struct pol_run *r)
{
	size_t *order = xcalloc(r->ps.n + 2, sizeof *order), i;

	r->prank = xcalloc(r->ps.n + 2, sizeof *r->prank);
	for (i = 0; i <= r->ps.n; i++)
		order[i] = i;
	sort_run = r;
	qsort(order, r->ps.n + 1, sizeof *order, cmp_prank);
	for (i = 0; i <= r->ps.n; i++)
		r->prank[order[i]] = (uint32_t)i;
	if (r->ndec > 1)
		qsort(r->dec, r->ndec, sizeof *r->dec, cmp_decision);
	sort_run = NULL;
	free(order);
}

static void
build_decision(struct pol_run *r)
{
	const struct decision *d = &r->dec[r->dcur];
	const struct policy *p = d->pol < r->ps.n ? &r->ps.p[d->pol] : NULL;
	const char *sid = r->aids + r->aoff[d->acc];
	size_t sidlen = (size_t)(r->aoff[d->acc + 1] - r->aoff[d->acc]);
	char *detail;

	if (p == NULL)
		detail = xstrdup("no account rule matches: awaiting a decision");
	else if (d->reject && d->napp > 0)
		detail = xasprintf("rejected by %s (%u reject and %u approve rules match; "
		    "reject wins)", p->name, d->nrej, d->napp);
	else if (d->reject)
		detail = xasprintf("rejected by %s", p->name);
	else
		detail = xasprintf("approved by %s", p->name);
	encode_violation(r, &r->dsb, &r->dkey, &r->dklen, p, "account", sid, sidlen, NULL,
	    NULL, 0, detail, p == NULL ? "pending" : d->reject ? "reject" : "approve");
	free(detail);
	r->dbuilt = true;
}

/* The owner/role violations (arena, sorted) merged with the account decisions. */
static int
next_violation(void *arg, const void **key, size_t *klen, const void **val, size_t *vlen,
    char **error)
{
	struct pol_run *r = arg;
	struct vrec *v = r->cur < r->nv ? &r->v[r->cur] : NULL;
	size_t n;
	int c;

	if (r->dcur < r->ndec && !r->dbuilt)
		build_decision(r);
	if (v == NULL && r->dcur >= r->ndec)
		return 0;
	if (v != NULL && r->dcur < r->ndec) {
		n = v->klen < r->dklen ? v->klen : r->dklen;
		c = memcmp(r->arena + v->koff, r->dkey, n);
		if (c == 0)
			c = v->klen < r->dklen ? -1 : v->klen > r->dklen;
	} else
		c = v != NULL ? -1 : 1;
	if (c < 0) {
		r->cur++;
		*key = r->arena + v->koff;
		*klen = v->klen;
		*val = r->arena + v->voff;
		*vlen = v->vlen;
	} else {
		r->dcur++;
		r->dbuilt = false; /* the buffers stay valid until the next call */
		*key = r->dkey;
		*klen = r->dklen;
		*val = r->dsb.data;
		*vlen = r->dsb.size;
	}
	return 1;
}

static uint64_t
tell_violation(void *arg)
{
	struct pol_run *r = arg;

	return (uint64_t)r->cur << 32 | r->dcur;
}

static void
seek_violation(void *arg, uint64_t pos)
{
	struct pol_run *r = arg;

	r->cur = (size_t)(pos >> 32);
	r->dcur = (size_t)(uint32_t)pos;
	r->dbuilt = false;
}

static bool
needs(const struct policy_set *ps, int what)
{
	size_t i;

	for (i = 0; i < ps->n; i++) {
		switch (what) {
		case 0: /* owner groups */
			if ((ps->p[i].kind == POL_SOD || ps->p[i].kind == POL_MAX) &&
			    (ps->p[i].subjects & POL_SUBJ_OWNERS))
				return true;
			if (ps->p[i].kind == POL_REQUIRES)
				return true;
			break;
		case 1: /* roles */
			if ((ps->p[i].kind == POL_SOD || ps->p[i].kind == POL_MAX) &&
			    (ps->p[i].subjects & POL_SUBJ_ROLES))
				return true;
			break;
		case 2: /* accounts */
			if (ps->p[i].kind == POL_ACCOUNT_RULE)
				return true;
			break;
		}
	}
	return false;
}

static int
count_db(struct job_ctx *ctx, const char *name, uint64_t *n, char **error)
{
	DB_BTREE_STAT *sp = NULL;
	DB *db;
	int ret;

	if (store_db_open(ctx->store, name, DB_BTREE, 0, &db, error) != 0)
		return -1;
	ret = db->stat(db, NULL, &sp, DB_READ_COMMITTED);
	if (ret != 0) {
		*error = xasprintf("counting %s: %s", name, db_strerror(ret));
		db->close(db, 0);
		return -1;
	}
	*n = sp->bt_ndata;
	free(sp);
	db->close(db, 0);
	return 0;
}

int
run_policy_analysis(struct job_ctx *ctx, char **error)
{
	struct pol_run r;
	struct identity *id = NULL;
	struct ru_merge mg;
	const char *conf_file, *param;
	char *shown = NULL;
	FILE *f = NULL;
	uint64_t owners = 0, accounts = 0, memberships = 0, roles = 0;
	bool owner_groups, do_roles, do_accounts;
	DB *vdb = NULL;
	int res = JOB_RUN_FAILED;

	memset(&r, 0, sizeof r);
	r.ctx = ctx;
	msgpack_sbuffer_init(&r.sb);
	msgpack_sbuffer_init(&r.dsb);

	conf_file = ctx->conf != NULL && ctx->conf->policy_file[0] != '\0' ?
	    ctx->conf->policy_file : NULL;
	param = job_param_get(ctx->job, "policy_file");
	if (param != NULL) {
		/* A file name in the configured file's directory, never a path. */
		if (policy_file_open_param(conf_file, param, &f, &shown, error) != 0)
			goto out;
	} else if (conf_file != NULL)
		shown = xstrdup(conf_file);
	else {
		*error = xstrdup("no policy file: set policy_file in the [analysis] section of "
		    "the configuration");
		goto out;
	}
	job_ctx_step(ctx, "Reading policies");
	if ((f != NULL ? policy_file_load_stream(f, shown, &r.ps, error) :
	    policy_file_load(shown, &r.ps, error)) != 0) {
		char *e = *error;

		*error = xasprintf("policy file %s", e);
		free(e);
		goto out;
	}
	if (f != NULL) {
		fclose(f);
		f = NULL;
	}
	job_ctx_log(ctx, LOG_LVL_INFO, "%zu policies from %s", r.ps.n, shown);
	owner_groups = needs(&r.ps, 0);
	do_roles = needs(&r.ps, 1);
	do_accounts = needs(&r.ps, 2);
	prepare(&r);

	if (identity_open(ctx->store, &id, error) != 0)
		goto out;
	job_ctx_step(ctx, "Counting records");
	if (rl_count(id, true, &owners, &accounts, &memberships, error) != 0)
		goto out;
	if (do_roles && count_db(ctx, RES_DB_ROLES, &roles, error) != 0)
		goto out;
	/* Owners are read (with their accounts and memberships) when an owner policy needs
	 * their groups, and checked; roles and accounts read once each. */
	ctx->total = (int64_t)(owners + roles);
	if (owner_groups)
		ctx->total += (int64_t)(owners + accounts + memberships);
	if (do_accounts)
		ctx->total += (int64_t)accounts;
	ctx->processed = 0;
	job_ctx_progress_now(ctx);

	if (owner_groups) {
		res = rl_load(&r.m, ctx, id, r.attrs, r.nattrs, true, true, error);
		if (res != JOB_RUN_OK)
			goto out;
		res = JOB_RUN_FAILED;
		map_groups(&r);
		job_ctx_step(ctx, "Checking owners");
		if ((res = check_owners(&r, error)) != JOB_RUN_OK)
			goto out;
		res = JOB_RUN_FAILED;
	} else
		ctx->processed += (int64_t)owners;
	if (do_roles) {
		job_ctx_step(ctx, "Checking roles");
		if ((res = check_roles(&r, error)) != JOB_RUN_OK)
			goto out;
		res = JOB_RUN_FAILED;
	}
	if (do_accounts) {
		job_ctx_step(ctx, "Checking accounts");
		if ((res = check_accounts(&r, id, error)) != JOB_RUN_OK)
			goto out;
		res = JOB_RUN_FAILED;
	}
	job_ctx_log(ctx, LOG_LVL_INFO, "found: %llu sod, %llu max_entitlements, %llu "
	    "requires_attribute violations, %llu account decisions",
	    (unsigned long long)r.by_kind[POL_SOD], (unsigned long long)r.by_kind[POL_MAX],
	    (unsigned long long)r.by_kind[POL_REQUIRES],
	    (unsigned long long)r.by_kind[POL_ACCOUNT_RULE]);

	job_ctx_step(ctx, "Writing violations");
	sort_run = &r;
	if (r.nv > 1)
		qsort(r.v, r.nv, sizeof *r.v, cmp_vrec);
	sort_run = NULL;
	sort_decisions(&r);
	if (store_db_open(ctx->store, RES_DB_VIOLATIONS, DB_BTREE, 0, &vdb, error) != 0)
		goto out;
	memset(&mg, 0, sizeof mg);
	mg.ctx = ctx;
	mg.db = vdb;
	mg.what = RES_DB_VIOLATIONS;
	mg.keep_tail = POL_FIRST_SEEN_TAIL;
	mg.next = next_violation;
	mg.tell = tell_violation;
	mg.seek = seek_violation;
	mg.arg = &r;
	res = ru_merge_run(&mg, error);
	ctx->created = (int64_t)mg.counts[RU_CREATED];
	ctx->updated = (int64_t)(mg.counts[RU_CHANGED] + mg.counts[RU_SAME]);
	ctx->deleted = (int64_t)mg.counts[RU_DELETED];
	if (res == JOB_RUN_OK)
		ctx->processed = ctx->total;
out:
	if (res == JOB_RUN_CANCELLED) {
		ctx->was_cancelled = true;
		if (!ctx->aborted)
			job_ctx_log(ctx, LOG_LVL_INFO, "cancelled: %lld of %lld records "
			    "processed; committed batches stay", (long long)ctx->processed,
			    (long long)ctx->total);
	}
	if (vdb != NULL)
		vdb->close(vdb, 0);
	if (id != NULL)
		identity_close(id);
	job_ctx_progress_now(ctx);
	if (f != NULL)
		fclose(f);
	free(shown);
	rl_free(&r.m);
	if (r.pents != NULL)
		for (size_t i = 0; i < r.ps.n; i++)
			free(r.pents[i]);
	free(r.pents);
	free(r.npents);
	free(r.pattr);
	policy_set_free(&r.ps);
	free(r.arena);
	free(r.v);
	free(r.aids);
	free(r.aoff);
	free(r.dec);
	free(r.prank);
	free(r.dkey);
	msgpack_sbuffer_destroy(&r.dsb);
	msgpack_sbuffer_destroy(&r.sb);
	return res;
}
