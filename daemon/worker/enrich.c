/*
 * enrich.c: the enrichment job (docs/analysis.md, "enrichment").
 *
 * Links every account to its owner by the match rules of the job parameter match_rules
 * (default owner_id,email,login, tried in that order: the account's owner_id naming an
 * existing owner; its email equal to exactly one owner's email; its login equal to
 * exactly one owner's employee_id or username), then promotes the linked accounts'
 * department, title, display_name, email and location into the owner fields the synced
 * owner record leaves empty, taking each field from the highest-priority application
 * that has it (source_of_truth first, then the others in application id order; accounts
 * of one application in account id order). Links go to RES_DB_ACCOUNT_LINKS, promoted
 * values to RES_DB_OWNER_OVERLAY and unmatched accounts to RES_DB_ORPHANS
 * (daemon/results.h); owner records are never modified.
 *
 * Counters: created = accounts linked for the first time (no link record before);
 * updated = accounts re-linked to another owner + owners whose overlay record is new or
 * changed; deleted = link records removed (account gone or no longer matched) + overlay
 * records removed (nothing left to promote, or owner gone). Orphan records are not
 * counted. Memory: the owner table (managers_util.h) plus the promoted values of the
 * owners that have empty fields; accounts are streamed.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analysis.h"
#include "managers_util.h"
#include "results.h"

/* The job's own progress (ctx->progress) at the end of each phase, in percent: about each
 * phase's share of the run time. processed stays the number of accounts whose links are
 * committed (total: the accounts counted), which moves only while linking. */
#define EP_READ 10   /* reading the owners: 0..10 */
#define EP_INDEX 12  /* indexing them: ..12 */
#define EP_LINK 85   /* linking the accounts: ..85 */
#define EP_OVERLAY 97 /* writing the owner overlays: ..97; removing stale results: ..100 */

#define ENR_LOG_MAX 100 /* ambiguous matches and orphans logged one by one */

/* Owner table fields. */
enum { F_EID, F_EMAIL, F_USER, F_DEPT, F_TITLE, F_DNAME, F_LOC, NFIELDS };

/* The promoted fields, in record order, and their owner table field. */
#define NOV 5
static const char *const ov_names[NOV] = {
	"department", "title", "display_name", "email", "location",
};
static const int ov_field[NOV] = { F_DEPT, F_TITLE, F_DNAME, F_EMAIL, F_LOC };

/* Account fields read. */
enum { A_APP, A_OWNER, A_EMAIL, A_LOGIN, A_DNAME, A_DEPT, A_TITLE, A_LOC, NAF };
static const char *const acc_names[NAF] = {
	"application_id", "owner_id", "email", "login", "display_name", "department", "title",
	"location",
};
static const int ov_acc[NOV] = { A_DEPT, A_TITLE, A_DNAME, A_EMAIL, A_LOC };

enum rule { R_OWNER_ID, R_EMAIL, R_LOGIN, NRULES };
static const char *const rule_names[NRULES] = { "owner_id", "email", "login" };

struct app {
	char *id;
	uint32_t prio;
	bool hr; /* type "hr" */
};

struct ovslot {
	uint32_t prio[NOV];
	char *val[NOV];
	char *acc[NOV];
};

struct erun {
	struct job_ctx *ctx;
	struct identity *id;
	struct otab ot;
	enum rule rules[NRULES];
	size_t nrules;
	struct app *apps;
	size_t napps;
	uint32_t *slotno; /* owner -> slot, OT_NONE */
	struct ovslot *slots;
	uint32_t nslots, slots_cap;
	uint64_t owners; /* counted before reading them, for the progress */
	uint64_t linked[NRULES], orphans, ambiguous;
	DB *ldb, *odb, *xdb; /* links, overlay, orphans */
	struct resw w;
	msgpack_unpacked u;
};

static int
parse_rules(struct erun *er, const char *s, char **error)
{
	const char *p = s, *e;
	size_t len, i, r;

	er->nrules = 0;
	for (;;) {
		e = strchr(p, ',');
		len = e != NULL ? (size_t)(e - p) : strlen(p);
		for (r = 0; r < NRULES; r++)
			if (strlen(rule_names[r]) == len && strncmp(p, rule_names[r], len) == 0)
				break;
		if (r == NRULES)
			goto bad;
		for (i = 0; i < er->nrules; i++)
			if (er->rules[i] == (enum rule)r)
				goto bad;
		er->rules[er->nrules++] = (enum rule)r;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return 0;
bad:
	*error = xasprintf("parameter match_rules: '%s' is not a list of distinct rules "
	    "owner_id, email, login separated by commas", s);
	return -1;
}

static int
app_cmp(const void *a, const void *b)
{
	return strcmp(((const struct app *)a)->id, ((const struct app *)b)->id);
}

/* Read the applications and order them: source of truth first, then by id. */
static int
load_apps(struct erun *er, char **error)
{
	const char *sot = job_param_get(er->ctx->job, "source_of_truth");
	const char *names[1] = { "type" }, *v[1];
	struct scan s;
	const void *k, *val;
	size_t klen, vlen, vl[1], i, cap = 0, nhr = 0, first = SIZE_MAX;
	uint32_t p;
	int rv;

	scan_init(&s, identity_db(er->id, IDENT_APPLICATION));
	while ((rv = scan_next(&s, &k, &klen, &val, &vlen, error)) == 0) {
		if (er->napps == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			er->apps = mu_reallocarray(er->apps, cap, sizeof *er->apps);
		}
		er->apps[er->napps].id = xstrndup(k, klen);
		rec_strings(&er->u, val, vlen, names, 1, v, vl);
		er->apps[er->napps].hr = v[0] != NULL && vl[0] == 2 &&
		    strncasecmp(v[0], "hr", 2) == 0;
		if (er->apps[er->napps].hr)
			nhr++;
		er->napps++;
	}
	scan_free(&s);
	if (rv == -1)
		return -1;
	/* Keys come in byte order already; sort by strcmp, the order lookups use. */
	if (er->napps > 0)
		qsort(er->apps, er->napps, sizeof *er->apps, app_cmp);
	if (sot != NULL) {
		for (i = 0; i < er->napps; i++)
			if (strcmp(er->apps[i].id, sot) == 0)
				first = i;
		if (first == SIZE_MAX) {
			*error = xasprintf("parameter source_of_truth: there is no application "
			    "'%s'", sot);
			return -1;
		}
	} else if (nhr == 1) {
		for (i = 0; i < er->napps; i++)
			if (er->apps[i].hr)
				first = i;
	} else
		job_ctx_log(er->ctx, LOG_LVL_INFO, "%s application of type hr: no source of "
		    "truth, applications in id order", nhr == 0 ? "no" : "more than one");
	p = 0;
	if (first != SIZE_MAX) {
		er->apps[first].prio = p++;
		job_ctx_log(er->ctx, LOG_LVL_INFO, "source of truth: %s", er->apps[first].id);
	}
	for (i = 0; i < er->napps; i++)
		if (i != first)
			er->apps[i].prio = p++;
	return 0;
}

/* Priority of an account's application: lower wins; unknown applications last. */
static uint32_t
app_prio(struct erun *er, const char *id, size_t len)
{
	size_t lo = 0, hi = er->napps, mid;
	int c;

	if (id == NULL)
		return (uint32_t)er->napps;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strncmp(er->apps[mid].id, id, len);
		if (c == 0 && er->apps[mid].id[len] != '\0')
			c = 1;
		if (c == 0)
			return er->apps[mid].prio;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (uint32_t)er->napps;
}

static void
log_ambiguous(struct erun *er, const char *acc, const char *what, const char *v, size_t len)
{
	if (++er->ambiguous <= ENR_LOG_MAX)
		job_ctx_log(er->ctx, LOG_LVL_WARN, "%s: %s '%.*s' matches several owners "
		    "(ambiguous, not linked by it)", acc, what, (int)len, v);
	else if (er->ambiguous == ENR_LOG_MAX + 1)
		job_ctx_log(er->ctx, LOG_LVL_WARN, "more ambiguous matches; only the first "
		    "%d are logged", ENR_LOG_MAX);
}

/* The owner an account links to by the rules, and the rule; OT_NONE if none. */
static uint32_t
match(struct erun *er, const char *acc, const char **v, const size_t *vl, enum rule *how)
{
	uint32_t o, a, b;
	size_t i;

	for (i = 0; i < er->nrules; i++) {
		*how = er->rules[i];
		switch (er->rules[i]) {
		case R_OWNER_ID:
			if (v[A_OWNER] == NULL)
				break;
			if ((o = otab_find_id(&er->ot, v[A_OWNER], vl[A_OWNER])) != OT_NONE)
				return o;
			break;
		case R_EMAIL:
			if (v[A_EMAIL] == NULL)
				break;
			o = otab_find(&er->ot, F_EMAIL, v[A_EMAIL], vl[A_EMAIL], NULL);
			if (o == OT_AMBIG)
				log_ambiguous(er, acc, "email", v[A_EMAIL], vl[A_EMAIL]);
			else if (o != OT_NONE)
				return o;
			break;
		case R_LOGIN:
			if (v[A_LOGIN] == NULL)
				break;
			a = otab_find(&er->ot, F_EID, v[A_LOGIN], vl[A_LOGIN], NULL);
			b = otab_find(&er->ot, F_USER, v[A_LOGIN], vl[A_LOGIN], NULL);
			if (a == OT_NONE)
				o = b;
			else if (b == OT_NONE || a == b)
				o = a;
			else
				o = OT_AMBIG;
			if (o == OT_AMBIG)
				log_ambiguous(er, acc, "login", v[A_LOGIN], vl[A_LOGIN]);
			else if (o != OT_NONE)
				return o;
			break;
		default:
			break;
		}
	}
	return OT_NONE;
}

/* Offer an account's values for the empty fields of owner o. */
static void
offer(struct erun *er, uint32_t o, const char *acc, const char **v, const size_t *vl)
{
	struct ovslot *sl;
	uint32_t prio;
	size_t f;

	for (f = 0; f < NOV; f++)
		if (!otab_has(&er->ot, o, (size_t)ov_field[f]) && v[ov_acc[f]] != NULL)
			break;
	if (f == NOV)
		return;
	if (er->slotno[o] == OT_NONE) {
		if (er->nslots == er->slots_cap) {
			er->slots_cap = er->slots_cap == 0 ? 64 : er->slots_cap * 2;
			er->slots = mu_reallocarray(er->slots, er->slots_cap, sizeof *er->slots);
		}
		sl = &er->slots[er->nslots];
		memset(sl, 0, sizeof *sl);
		for (f = 0; f < NOV; f++)
			sl->prio[f] = UINT32_MAX;
		er->slotno[o] = er->nslots++;
	}
	sl = &er->slots[er->slotno[o]];
	prio = app_prio(er, v[A_APP], vl[A_APP]);
	for (f = 0; f < NOV; f++) {
		if (otab_has(&er->ot, o, (size_t)ov_field[f]) || v[ov_acc[f]] == NULL)
			continue;
		/* Strictly better only: of equal priority the first account (id order) wins. */
		if (sl->val[f] != NULL && sl->prio[f] <= prio)
			continue;
		free(sl->val[f]);
		free(sl->acc[f]);
		sl->val[f] = xstrndup(v[ov_acc[f]], vl[ov_acc[f]]);
		sl->acc[f] = xstrdup(acc);
		sl->prio[f] = prio;
	}
}

/* Write a record if it differs: 0 unchanged, 1 created, 2 changed, MU_RETRY, -1 error.
 * *owner_changed (may be NULL) tells whether the owner_id field differs. */
static int
upsert(struct erun *er, DB *db, DB_TXN *txn, const char *key, bool *owner_changed,
    char **error)
{
	void *old = NULL;
	size_t oldlen = 0;
	int rv, ret;

	rv = res_get(db, txn, key, &old, &oldlen, error);
	if (rv < 0)
		return rv;
	if (rv == 0 && res_same(old, oldlen, &er->w)) {
		free(old);
		return 0;
	}
	if (owner_changed != NULL)
		*owner_changed = rv == 0 && !res_field_same(old, oldlen, er->w.buf.data,
		    er->w.buf.size, "owner_id");
	rv = rv == STORE_NOTFOUND ? 1 : 2;
	free(old);
	if ((ret = res_put(db, txn, key, &er->w, error)) != 0)
		return ret;
	return rv;
}

static void
put_str(struct resw *w, const char *key, const char *v, size_t len)
{
	if (v == NULL)
		res_nil(w, key);
	else
		res_strn(w, key, v, len);
}

/* One account: link or orphan. Adds to the batch's counters. 0, MU_RETRY, -1. */
static int
account(struct erun *er, DB_TXN *txn, const char *acc, const void *val, size_t vlen,
    int64_t *created, int64_t *updated, int64_t *deleted, char **error)
{
	const char *v[NAF];
	size_t vl[NAF];
	enum rule how = R_OWNER_ID;
	uint32_t o;
	bool changed = false;
	int rv;

	rec_strings(&er->u, val, vlen, acc_names, NAF, v, vl);
	for (rv = 0; rv < NAF; rv++)
		if (v[rv] != NULL && vl[rv] == 0)
			v[rv] = NULL;
	o = match(er, acc, v, vl, &how);
	if (o == OT_NONE) {
		er->orphans++;
		if ((rv = res_del(er->ldb, txn, acc, error)) < 0)
			return rv;
		if (rv == 0)
			(*deleted)++;
		res_begin(&er->w, 4);
		put_str(&er->w, "application_id", v[A_APP], vl[A_APP]);
		put_str(&er->w, "login", v[A_LOGIN], vl[A_LOGIN]);
		put_str(&er->w, "email", v[A_EMAIL], vl[A_EMAIL]);
		put_str(&er->w, "display_name", v[A_DNAME], vl[A_DNAME]);
		res_end(&er->w, er->ctx->job->no);
		rv = upsert(er, er->xdb, txn, acc, NULL, error);
		return rv < 0 ? rv : 0;
	}
	er->linked[how]++;
	offer(er, o, acc, v, vl);
	if ((rv = res_del(er->xdb, txn, acc, error)) < 0)
		return rv;
	res_begin(&er->w, 3);
	res_str(&er->w, "owner_id", otab_id(&er->ot, o));
	res_str(&er->w, "rule", rule_names[how]);
	put_str(&er->w, "application_id", v[A_APP], vl[A_APP]);
	res_end(&er->w, er->ctx->job->no);
	if ((rv = upsert(er, er->ldb, txn, acc, &changed, error)) < 0)
		return rv;
	if (rv == 1)
		(*created)++;
	else if (rv == 2 && changed)
		(*updated)++;
	return 0;
}

static int
link_accounts(struct erun *er, char **error)
{
	struct job_ctx *ctx = er->ctx;
	struct scan s;
	struct scan_mark m;
	DB_TXN *txn = NULL;
	const void *k, *v;
	size_t klen, vlen, rows = 0, keycap = 0;
	int64_t created = 0, updated = 0, deleted = 0;
	uint64_t saved[NRULES + 2] = { 0 };
	char *key = NULL;
	int rv, ret, res = JOB_RUN_FAILED, retries = 0;

	scan_init(&s, identity_db(er->id, IDENT_ACCOUNT));
	memset(&m, 0, sizeof m);
	for (;;) {
		if (ctx->aborted) {
			*error = xstrdup("stopped: the supervisor went away");
			goto out;
		}
		if (txn == NULL) {
			if (res_txn_begin(ctx->store, &txn, error) != 0)
				goto out;
			scan_mark(&s, &m);
			memcpy(saved, er->linked, sizeof er->linked);
			saved[NRULES] = er->orphans;
			saved[NRULES + 1] = er->ambiguous;
		}
		if ((rv = scan_next(&s, &k, &klen, &v, &vlen, error)) == -1)
			goto out;
		if (rv == 0) {
			if (klen + 1 > keycap) {
				keycap = klen + 64;
				key = xrealloc(key, keycap);
			}
			memcpy(key, k, klen);
			key[klen] = '\0';
			rv = account(er, txn, key, v, vlen, &created, &updated, &deleted, error);
			if (rv == MU_RETRY && ++retries <= MU_RETRIES) {
				/* A lock conflict with a reader: redo the batch. */
				txn->abort(txn);
				txn = NULL;
				scan_rewind(&s, &m); /* lets go of the accounts cursor too */
				mu_backoff(retries);
				memcpy(er->linked, saved, sizeof er->linked);
				er->orphans = saved[NRULES];
				er->ambiguous = saved[NRULES + 1];
				created = updated = deleted = 0;
				rows = 0;
				continue;
			}
			if (rv < 0) {
				if (rv == MU_RETRY)
					*error = xstrdup("account links: lock conflicts, giving up");
				/* Report only what was committed. */
				memcpy(er->linked, saved, sizeof er->linked);
				er->orphans = saved[NRULES];
				er->ambiguous = saved[NRULES + 1];
				goto out;
			}
			rows++;
			if (ctx->on_tick != NULL && rows % JOB_TICK_ROWS == 0)
				ctx->on_tick(ctx);
		}
		if (rows >= ctx->batch_size || rv == 1) {
			scan_pause(&s); /* hold no lock on accounts between batches */
			ret = txn->commit(txn, 0);
			txn = NULL;
			if (ret != 0) {
				*error = xasprintf("cannot commit a batch of account links: %s",
				    db_strerror(ret));
				goto out;
			}
			retries = 0;
			ctx->created += created;
			ctx->updated += updated;
			ctx->deleted += deleted;
			ctx->processed += (int64_t)rows;
			created = updated = deleted = 0;
			rows = 0;
			mu_progress(ctx, EP_INDEX, EP_LINK, (uint64_t)ctx->processed,
			    ctx->total > ctx->processed ? (uint64_t)ctx->total :
			    (uint64_t)ctx->processed);
			if (rv == 0) {
				job_ctx_delay(ctx);
				if (job_ctx_cancelled(ctx)) {
					res = JOB_RUN_CANCELLED;
					goto out;
				}
			}
		}
		if (rv == 1)
			break;
	}
	res = JOB_RUN_OK;
out:
	scan_pause(&s);
	if (txn != NULL)
		txn->abort(txn);
	scan_free(&s);
	scan_mark_free(&m);
	free(key);
	return res;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
encode_overlay(struct erun *er, const struct ovslot *sl)
{
	const char *from[NOV];
	size_t f, n = 0, nf = 0, i;

	for (f = 0; f < NOV; f++) {
		if (sl->val[f] == NULL)
			continue;
		nf++;
		for (i = 0; i < n; i++)
			if (strcmp(from[i], sl->acc[f]) == 0)
				break;
		if (i == n)
			from[n++] = sl->acc[f];
	}
	qsort(from, n, sizeof *from, str_cmp);
	res_begin(&er->w, nf + 1);
	for (f = 0; f < NOV; f++)
		if (sl->val[f] != NULL)
			res_str(&er->w, ov_names[f], sl->val[f]);
	res_key(&er->w, "_from");
	msgpack_pack_array(&er->w.pk, n);
	for (i = 0; i < n; i++) {
		msgpack_pack_str(&er->w.pk, strlen(from[i]));
		msgpack_pack_str_body(&er->w.pk, from[i], strlen(from[i]));
	}
	res_end(&er->w, er->ctx->job->no);
}

static int
write_overlays(struct erun *er, uint64_t *changed, char **error)
{
	struct job_ctx *ctx = er->ctx;
	DB_TXN *txn = NULL;
	uint32_t o = 0, o0 = 0, last = 0, written = 0;
	size_t rows = 0;
	int64_t updated = 0;
	int rv, ret, retries = 0;

	for (o = 0; o < er->ot.n; o++)
		if (er->slotno[o] != OT_NONE)
			last = o;
	for (o = 0; o < er->ot.n; o++) {
		if (er->slotno[o] == OT_NONE)
			continue;
		if (ctx->aborted) {
			*error = xstrdup("stopped: the supervisor went away");
			goto fail;
		}
		if (txn == NULL) {
			if (res_txn_begin(ctx->store, &txn, error) != 0)
				return JOB_RUN_FAILED;
			o0 = o;
		}
		encode_overlay(er, &er->slots[er->slotno[o]]);
		rv = upsert(er, er->odb, txn, otab_id(&er->ot, o), NULL, error);
		if (rv == MU_RETRY && ++retries <= MU_RETRIES) {
			txn->abort(txn);
			txn = NULL;
			mu_backoff(retries);
			updated = 0;
			rows = 0;
			o = o0 - 1; /* the loop's o++ brings it back to o0 */
			continue;
		}
		if (rv < 0) {
			if (rv == MU_RETRY)
				*error = xstrdup("owner overlays: lock conflicts, giving up");
			goto fail;
		}
		if (rv != 0)
			updated++;
		if (++rows >= ctx->batch_size || o == last) {
			ret = txn->commit(txn, 0);
			txn = NULL;
			if (ret != 0) {
				*error = xasprintf("cannot commit owner overlays: %s",
				    db_strerror(ret));
				return JOB_RUN_FAILED;
			}
			retries = 0;
			ctx->updated += updated;
			*changed += (uint64_t)updated;
			updated = 0;
			written += (uint32_t)rows;
			rows = 0;
			mu_progress(ctx, EP_LINK, EP_OVERLAY, written, er->nslots);
			if (o != last && job_ctx_cancelled(ctx))
				return JOB_RUN_CANCELLED;
		}
	}
	return JOB_RUN_OK;
fail:
	if (txn != NULL)
		txn->abort(txn);
	return JOB_RUN_FAILED;
}

static bool
keep_overlay(const char *key, size_t klen, void *arg)
{
	struct erun *er = arg;
	uint32_t o = otab_find_id(&er->ot, key, klen);

	return o != OT_NONE && er->slotno[o] != OT_NONE;
}

/* Links and orphans of accounts that still exist (the account pass handled those). */
static bool
keep_account(const char *key, size_t klen, void *arg)
{
	struct erun *er = arg;
	DB *db = identity_db(er->id, IDENT_ACCOUNT);
	DBT k, v;

	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = (void *)(uintptr_t)key;
	k.size = (u_int32_t)klen;
	v.flags = DB_DBT_PARTIAL; /* existence only */
	v.dlen = 0;
	return db->get(db, NULL, &k, &v, DB_READ_COMMITTED) != DB_NOTFOUND;
}

static void
log_orphans(struct erun *er)
{
	struct scan s;
	const void *k, *v;
	size_t klen, vlen, n = 0;
	char *cause = NULL, *line = xstrdup(""), *t;

	scan_init(&s, er->xdb);
	while (n < 20 && scan_next(&s, &k, &klen, &v, &vlen, &cause) == 0) {
		t = xasprintf("%s%s%.*s", line, n > 0 ? ", " : "", (int)klen, (const char *)k);
		free(line);
		line = t;
		n++;
	}
	scan_free(&s);
	free(cause);
	if (er->orphans == 0)
		job_ctx_log(er->ctx, LOG_LVL_INFO, "0 orphaned accounts (no owner matched)");
	else
		job_ctx_log(er->ctx, LOG_LVL_WARN, "%llu orphaned accounts (no owner matched): "
		    "%s%s", (unsigned long long)er->orphans, line,
		    er->orphans > n ? ", ... (see the orphans results)" : "");
	free(line);
}

/* otab_load's tick: the owners read so far of the counted ones. */
static void
read_rows(void *arg, uint32_t n)
{
	struct erun *er = arg;

	mu_progress(er->ctx, 0, EP_READ, n, er->owners > n ? er->owners : n);
}

int
run_enrichment(struct job_ctx *ctx, char **error)
{
	static const char *const fields[NFIELDS] = {
		"employee_id", "email", "username", "department", "title", "display_name",
		"location",
	};
	static const enum otf_mode modes[NFIELDS] = {
		OTF_FOLD, OTF_FOLD, OTF_FOLD, OTF_PRESENCE, OTF_PRESENCE, OTF_PRESENCE,
		OTF_PRESENCE,
	};
	struct erun er;
	const char *p;
	uint64_t total, other, owners = 0, overlays = 0, odel = 0;
	uint32_t i;
	size_t f;
	int res = JOB_RUN_FAILED;
	bool counted = false;

	memset(&er, 0, sizeof er);
	er.ctx = ctx;
	resw_init(&er.w);
	msgpack_unpacked_init(&er.u);
	otab_init(&er.ot, fields, modes, NFIELDS);

	p = job_param_get(ctx->job, "match_rules");
	if (parse_rules(&er, p != NULL ? p : "owner_id,email,login", error) != 0)
		goto out;
	if ((p = job_param_get(ctx->job, "source_of_truth")) != NULL && *p == '\0') {
		*error = xstrdup("parameter source_of_truth: empty application id");
		goto out;
	}
	if (identity_open(ctx->store, &er.id, error) != 0)
		goto out;
	if (load_apps(&er, error) != 0)
		goto out;
	if (res_open(ctx->store, RES_DB_ACCOUNT_LINKS, &er.ldb, error) != 0 ||
	    res_open(ctx->store, RES_DB_OWNER_OVERLAY, &er.odb, error) != 0 ||
	    res_open(ctx->store, RES_DB_ORPHANS, &er.xdb, error) != 0)
		goto out;

	job_ctx_step(ctx, "Counting accounts");
	if (identity_count(er.id, IDENT_ACCOUNT, 0, &total, &other, error) != 0)
		goto out;
	ctx->total = (int64_t)total;
	ctx->processed = 0;
	ctx->progress = 0;
	job_ctx_progress_now(ctx);
	/* For the progress of reading them. */
	if (identity_count(er.id, IDENT_OWNER, 0, &owners, &other, error) != 0)
		goto out;

	job_ctx_step(ctx, "Reading owners");
	er.owners = owners;
	er.ot.on_rows = read_rows;
	er.ot.rows_arg = &er;
	if (otab_load(&er.ot, er.id, error) != 0)
		goto out;
	mu_progress(ctx, 0, EP_READ, 1, 1);
	otab_index(&er.ot, F_EID);
	mu_progress(ctx, EP_READ, EP_INDEX, 1, 3);
	otab_index(&er.ot, F_EMAIL);
	mu_progress(ctx, EP_READ, EP_INDEX, 2, 3);
	otab_index(&er.ot, F_USER);
	mu_progress(ctx, EP_READ, EP_INDEX, 3, 3);
	er.slotno = mu_reallocarray(NULL, er.ot.n > 0 ? er.ot.n : 1, sizeof *er.slotno);
	for (i = 0; i < er.ot.n; i++)
		er.slotno[i] = OT_NONE;
	counted = true;

	job_ctx_step(ctx, "Linking accounts");
	if ((res = link_accounts(&er, error)) != JOB_RUN_OK)
		goto out;
	if (ctx->processed > ctx->total)
		ctx->total = ctx->processed; /* a sync added accounts meanwhile */
	job_ctx_step(ctx, "Writing owner overlays");
	if ((res = write_overlays(&er, &overlays, error)) != JOB_RUN_OK)
		goto out;
	mu_progress(ctx, EP_LINK, EP_OVERLAY, 1, 1);
	job_ctx_step(ctx, "Removing stale results");
	if ((res = res_prune(ctx, er.odb, keep_overlay, &er, &ctx->deleted, &odel, error)) !=
	    JOB_RUN_OK ||
	    (res = res_prune(ctx, er.ldb, keep_account, &er, &ctx->deleted, NULL, error)) !=
	    JOB_RUN_OK ||
	    (res = res_prune(ctx, er.xdb, keep_account, &er, NULL, NULL, error)) != JOB_RUN_OK)
		goto out;
	mu_progress(ctx, EP_OVERLAY, 100, 1, 1);
	res = JOB_RUN_OK;

out:
	if (res == JOB_RUN_CANCELLED)
		ctx->was_cancelled = true;
	if (counted) {
		job_ctx_log(ctx, LOG_LVL_INFO, "%lld accounts: %llu linked by owner_id, %llu "
		    "by email, %llu by login; %llu ambiguous matches skipped",
		    (long long)ctx->processed, (unsigned long long)er.linked[R_OWNER_ID],
		    (unsigned long long)er.linked[R_EMAIL],
		    (unsigned long long)er.linked[R_LOGIN], (unsigned long long)er.ambiguous);
		if (res == JOB_RUN_OK) {
			log_orphans(&er);
			job_ctx_log(ctx, LOG_LVL_INFO, "owner overlays: %u owners with promoted "
			    "values, %llu new or changed, %llu removed", er.nslots,
			    (unsigned long long)overlays, (unsigned long long)odel);
		}
		job_ctx_log(ctx, LOG_LVL_INFO, "enrichment: %lld created, %lld updated, "
		    "%lld deleted", (long long)ctx->created, (long long)ctx->updated,
		    (long long)ctx->deleted);
	}
	if (res == JOB_RUN_CANCELLED && !ctx->aborted)
		job_ctx_log(ctx, LOG_LVL_INFO, "cancelled: %lld of %lld accounts processed "
		    "and committed", (long long)ctx->processed, (long long)ctx->total);
	job_ctx_progress_now(ctx);
	if (er.ldb != NULL)
		er.ldb->close(er.ldb, 0);
	if (er.odb != NULL)
		er.odb->close(er.odb, 0);
	if (er.xdb != NULL)
		er.xdb->close(er.xdb, 0);
	identity_close(er.id);
	otab_free(&er.ot);
	resw_free(&er.w);
	msgpack_unpacked_destroy(&er.u);
	for (i = 0; i < er.nslots; i++) {
		for (f = 0; f < NOV; f++) {
			free(er.slots[i].val[f]);
			free(er.slots[i].acc[f]);
		}
	}
	free(er.slots);
	free(er.slotno);
	for (f = 0; f < er.napps; f++)
		free(er.apps[f].id);
	free(er.apps);
	return res;
}
