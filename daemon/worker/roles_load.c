/* roles_load.c: reads the owner/group model of roles_load.h from the identity databases
 * with read-committed cursors, streaming: owners merged with the enrichment overlay (both
 * in owner id order), memberships merged with accounts and enrichment links (all three in
 * account id order: a membership key is account_id '\0' group_id, and '\0' sorts first). */
#include <stdlib.h>
#include <string.h>

#include "results.h"
#include "roles_load.h"

static int
db_records(DB *db, const char *what, uint64_t *n, char **error)
{
	DB_BTREE_STAT *sp = NULL;
	int ret;

	if ((ret = db->stat(db, NULL, &sp, DB_READ_COMMITTED)) != 0) {
		*error = xasprintf("counting %s: %s", what, db_strerror(ret));
		return -1;
	}
	*n = sp->bt_ndata;
	free(sp);
	return 0;
}

int
rl_count(struct identity *id, bool with_groups, uint64_t *owners, uint64_t *accounts,
    uint64_t *memberships, char **error)
{
	*owners = *accounts = *memberships = 0;
	if (db_records(identity_db(id, IDENT_OWNER), "owners", owners, error) != 0)
		return -1;
	if (!with_groups)
		return 0;
	if (db_records(identity_db(id, IDENT_ACCOUNT), "accounts", accounts, error) != 0 ||
	    db_records(identity_db(id, IDENT_MEMBERSHIP), "memberships", memberships,
	    error) != 0)
		return -1;
	return 0;
}

static int
key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* Count one record read; every batch_size of them: progress, delay, cancellation. */
static int
tick(struct job_ctx *ctx, uint64_t *n)
{
	ctx->processed++;
	if (ctx->on_tick != NULL && *n % JOB_TICK_ROWS == JOB_TICK_ROWS - 1)
		ctx->on_tick(ctx);
	if (++*n % ctx->batch_size != 0)
		return JOB_RUN_OK;
	job_ctx_progress(ctx);
	job_ctx_delay(ctx);
	if (job_ctx_cancelled(ctx))
		return JOB_RUN_CANCELLED;
	return JOB_RUN_OK;
}

static int
open_cursor(DB *db, const char *what, DBC **c, char **error)
{
	int ret;

	if ((ret = db->cursor(db, NULL, c, DB_READ_COMMITTED)) != 0) {
		*error = xasprintf("%s cursor: %s", what, db_strerror(ret));
		return -1;
	}
	return 0;
}

/* A cursor that follows a driving key: advance until its key >= the given one. */
struct follow {
	DBC *c;
	DBT k, v;
	int ret; /* of the last get; DB_NOTFOUND at the end */
	bool started;
	uint64_t passed; /* records stepped over or onto */
};

static int
follow_to(struct follow *f, const void *key, size_t klen, bool *found, char **error,
    const char *what)
{
	*found = false;
	if (!f->started) {
		memset(&f->k, 0, sizeof f->k);
		memset(&f->v, 0, sizeof f->v);
		f->ret = f->c->get(f->c, &f->k, &f->v, DB_FIRST);
		f->started = true;
		f->passed += f->ret == 0;
	}
	while (f->ret == 0 && key_cmp(f->k.data, f->k.size, key, klen) < 0) {
		f->ret = f->c->get(f->c, &f->k, &f->v, DB_NEXT);
		f->passed += f->ret == 0;
	}
	if (f->ret != 0 && f->ret != DB_NOTFOUND) {
		*error = xasprintf("reading %s: %s", what, db_strerror(f->ret));
		return -1;
	}
	*found = f->ret == 0 && key_cmp(f->k.data, f->k.size, key, klen) == 0;
	return 0;
}

static int
load_owners(struct rl_model *m, struct job_ctx *ctx, struct identity *id, DB *overlay,
    uint64_t *n, char **error)
{
	DB *db = identity_db(id, IDENT_OWNER);
	struct follow ov;
	DBC *c = NULL;
	DBT k, v;
	const char *s;
	size_t slen, a, cap = 0;
	uint32_t o;
	bool found;
	int ret, res = JOB_RUN_FAILED;

	memset(&ov, 0, sizeof ov);
	if (open_cursor(db, "owners", &c, error) != 0)
		return JOB_RUN_FAILED;
	if (overlay != NULL && open_cursor(overlay, RES_DB_OWNER_OVERLAY, &ov.c, error) != 0)
		goto out;
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	while ((ret = c->get(c, &k, &v, DB_NEXT)) == 0) {
		if (ctx->aborted) {
			*error = xstrdup("stopped: the supervisor went away");
			goto out;
		}
		o = strtab_intern(&m->oids, k.data, k.size);
		if (o != m->nowners) {
			*error = xstrdup("owners: duplicate key in a cursor scan");
			goto out;
		}
		m->nowners++;
		if (m->nattrs > 0) {
			if ((size_t)m->nowners * m->nattrs > cap) {
				cap = cap == 0 ? 1024 * m->nattrs : cap * 2;
				m->oattr = xrealloc(m->oattr, cap * sizeof *m->oattr);
			}
			found = false;
			for (a = 0; a < m->nattrs; a++) {
				m->oattr[(size_t)o * m->nattrs + a] = RU_NONE;
				if (identity_field(v.data, v.size, m->attrs[a], &s, &slen) == 0 &&
				    slen > 0)
					m->oattr[(size_t)o * m->nattrs + a] =
					    strtab_intern(&m->vals, s, slen);
				else
					found = true; /* something to look up in the overlay */
			}
			if (found && ov.c != NULL) {
				if (follow_to(&ov, k.data, k.size, &found, error,
				    RES_DB_OWNER_OVERLAY) != 0)
					goto out;
				for (a = 0; found && a < m->nattrs; a++) {
					if (m->oattr[(size_t)o * m->nattrs + a] != RU_NONE)
						continue;
					if (identity_field(ov.v.data, ov.v.size, m->attrs[a], &s,
					    &slen) == 0 && slen > 0) {
						m->oattr[(size_t)o * m->nattrs + a] =
						    strtab_intern(&m->vals, s, slen);
						m->from_overlay++;
					}
				}
			}
		}
		if ((res = tick(ctx, n)) != JOB_RUN_OK)
			goto out;
		res = JOB_RUN_FAILED;
	}
	if (ret != DB_NOTFOUND) {
		*error = xasprintf("reading owners: %s", db_strerror(ret));
		goto out;
	}
	res = JOB_RUN_OK;
out:
	if (ov.c != NULL)
		ov.c->close(ov.c);
	c->close(c);
	return res;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Accounts and links, driven by memberships; pairs (owner << 32 | group) collected. */
static int
load_groups(struct rl_model *m, struct job_ctx *ctx, struct identity *id, DB *links,
    uint64_t *n, uint64_t *acc_counted, char **error)
{
	DB *mdb = identity_db(id, IDENT_MEMBERSHIP);
	struct follow acc, lk;
	DBC *c = NULL;
	DBT k, v;
	uint64_t *pairs = NULL, npairs = 0, cappairs = 0, i, j;
	uint32_t owner = RU_NONE, g, *rank, o;
	const char *nul, *s;
	size_t alen, slen, glen;
	char *cur = NULL;
	size_t curlen = 0, curcap = 0;
	bool have_cur = false, found, lfound;
	int ret, res = JOB_RUN_FAILED;
	struct strtab sorted;

	memset(&acc, 0, sizeof acc);
	memset(&lk, 0, sizeof lk);
	if (open_cursor(mdb, "memberships", &c, error) != 0)
		return JOB_RUN_FAILED;
	if (open_cursor(identity_db(id, IDENT_ACCOUNT), "accounts", &acc.c, error) != 0)
		goto out;
	if (links != NULL && open_cursor(links, RES_DB_ACCOUNT_LINKS, &lk.c, error) != 0)
		goto out;
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	while ((ret = c->get(c, &k, &v, DB_NEXT)) == 0) {
		if (ctx->aborted) {
			*error = xstrdup("stopped: the supervisor went away");
			goto out;
		}
		m->memberships++;
		if ((nul = memchr(k.data, '\0', k.size)) == NULL)
			goto next; /* not a membership key */
		alen = (size_t)(nul - (const char *)k.data);
		glen = k.size - alen - 1;
		if (!have_cur || alen != curlen || memcmp(cur, k.data, alen) != 0) {
			/* A new account: find it, and its owner. */
			if (alen + 1 > curcap) {
				curcap = alen + 64;
				cur = xrealloc(cur, curcap);
			}
			memcpy(cur, k.data, alen);
			curlen = alen;
			have_cur = true;
			owner = RU_NONE;
			if (follow_to(&acc, cur, curlen, &found, error, "accounts") != 0)
				goto out;
			/* Accounts count as read as the account cursor passes them. */
			ctx->processed += (int64_t)(acc.passed - *acc_counted);
			*acc_counted = acc.passed;
			lfound = false;
			if (found && lk.c != NULL && follow_to(&lk, cur, curlen, &lfound, error,
			    RES_DB_ACCOUNT_LINKS) != 0)
				goto out;
			if (found) {
				m->accounts++;
				if (lfound && identity_field(lk.v.data, lk.v.size, "owner_id", &s,
				    &slen) == 0) {
					owner = strtab_find(&m->oids, s, slen);
					if (owner != RU_NONE)
						m->accounts_linked++;
				}
				if (owner == RU_NONE && identity_field(acc.v.data, acc.v.size,
				    "owner_id", &s, &slen) == 0)
					owner = strtab_find(&m->oids, s, slen);
				if (owner == RU_NONE)
					m->accounts_no_owner++;
			}
		}
		if (owner == RU_NONE) {
			m->memberships_no_owner++;
			goto next;
		}
		g = strtab_intern(&m->gids, nul + 1, glen);
		if (npairs == cappairs) {
			cappairs = cappairs == 0 ? 4096 : cappairs * 2;
			pairs = xrealloc(pairs, cappairs * sizeof *pairs);
		}
		pairs[npairs++] = (uint64_t)owner << 32 | g;
next:
		if ((res = tick(ctx, n)) != JOB_RUN_OK)
			goto out;
		res = JOB_RUN_FAILED;
	}
	if (ret != DB_NOTFOUND) {
		*error = xasprintf("reading memberships: %s", db_strerror(ret));
		goto out;
	}

	/* Renumber groups by id order, sort the pairs, drop duplicates (two accounts of one
	 * owner in the same group), and lay them out per owner. */
	rank = strtab_ranks(&m->gids);
	for (i = 0; i < npairs; i++)
		pairs[i] = (pairs[i] & 0xffffffff00000000ULL) | rank[(uint32_t)pairs[i]];
	strtab_init(&sorted);
	{
		uint32_t *order = xcalloc(m->gids.n + 1, sizeof *order);

		for (g = 0; g < m->gids.n; g++)
			order[rank[g]] = g;
		for (g = 0; g < m->gids.n; g++)
			strtab_intern(&sorted, strtab_str(&m->gids, order[g]),
			    strtab_len(&m->gids, order[g]));
		free(order);
	}
	free(rank);
	strtab_free(&m->gids);
	m->gids = sorted;
	if (npairs > 1)
		qsort(pairs, npairs, sizeof *pairs, cmp_u64);
	m->og_off = xcalloc((size_t)m->nowners + 1, sizeof *m->og_off);
	m->og = xcalloc(npairs + 1, sizeof *m->og);
	for (i = 0, j = 0; i < npairs; i++) {
		if (i > 0 && pairs[i] == pairs[i - 1])
			continue;
		o = (uint32_t)(pairs[i] >> 32);
		m->og_off[o + 1]++;
		m->og[j++] = (uint32_t)pairs[i];
	}
	for (o = 0; o < m->nowners; o++)
		m->og_off[o + 1] += m->og_off[o];
	res = JOB_RUN_OK;
out:
	free(pairs);
	free(cur);
	if (lk.c != NULL)
		lk.c->close(lk.c);
	if (acc.c != NULL)
		acc.c->close(acc.c);
	c->close(c);
	return res;
}

int
rl_load(struct rl_model *m, struct job_ctx *ctx, struct identity *id,
    const char *const *attrs, size_t nattrs, bool use_overlay, bool with_groups,
    char **error)
{
	DB *overlay = NULL, *links = NULL;
	uint64_t n = 0, owners, accounts, memberships, acc_counted = 0;
	size_t a;
	int res = JOB_RUN_FAILED;

	memset(m, 0, sizeof *m);
	strtab_init(&m->oids);
	strtab_init(&m->vals);
	strtab_init(&m->gids);
	if (nattrs > RL_MAX_ATTRS) {
		*error = xasprintf("at most %d attributes", RL_MAX_ATTRS);
		return JOB_RUN_FAILED;
	}
	m->nattrs = nattrs;
	for (a = 0; a < nattrs; a++)
		m->attrs[a] = attrs[a];
	m->with_groups = with_groups;
	if (use_overlay && nattrs > 0 && store_db_open(ctx->store, RES_DB_OWNER_OVERLAY,
	    DB_BTREE, 0, &overlay, error) != 0)
		goto out;
	if (with_groups && store_db_open(ctx->store, RES_DB_ACCOUNT_LINKS, DB_BTREE, 0,
	    &links, error) != 0)
		goto out;
	job_ctx_step(ctx, "Reading owners");
	if ((res = load_owners(m, ctx, id, overlay, &n, error)) != JOB_RUN_OK)
		goto out;
	if (with_groups) {
		job_ctx_step(ctx, "Reading accounts and memberships");
		if ((res = load_groups(m, ctx, id, links, &n, &acc_counted, error)) !=
		    JOB_RUN_OK)
			goto out;
		/* The accounts after the last one with memberships: count them as read. */
		if (rl_count(id, true, &owners, &accounts, &memberships, error) != 0) {
			res = JOB_RUN_FAILED;
			goto out;
		}
		(void)owners;
		(void)memberships;
		if (accounts > acc_counted)
			ctx->processed += (int64_t)(accounts - acc_counted);
	}
	job_ctx_progress(ctx);
	res = JOB_RUN_OK;
out:
	if (overlay != NULL)
		overlay->close(overlay, 0);
	if (links != NULL)
		links->close(links, 0);
	return res;
}

void
rl_free(struct rl_model *m)
{
	strtab_free(&m->oids);
	strtab_free(&m->vals);
	strtab_free(&m->gids);
	free(m->oattr);
	free(m->og_off);
	free(m->og);
	memset(m, 0, sizeof *m);
}

uint32_t
rl_owner_find(const struct rl_model *m, const char *id, size_t len)
{
	return strtab_find(&m->oids, id, len);
}
