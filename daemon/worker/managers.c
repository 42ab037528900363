/*
 * managers.c: the manager_resolution job (docs/analysis.md, "manager_resolution").
 *
 * Reads every owner into a compact table (managers_util.h), resolves each owner's manager
 * column to an owner number (by employee id, email or distinguished name: the
 * configuration's [source] manager_ref or the job's manager_ref parameter, "auto" deciding
 * per value), then walks the functional graph "owner -> manager" once, iteratively, to
 * find the depth of every owner, the cycles (a self-managed owner is a cycle of length 1)
 * and the broken chains. Results go to RES_DB_OWNER_MANAGERS and RES_DB_MANAGER_ISSUES
 * (daemon/results.h) in batched transactions; what the previous run stored and this one
 * no longer finds is deleted.
 *
 * Counters (owner_managers records only): created = owners resolved for the first time
 * (no record before); updated = owners whose resolved manager, depth or state changed (a
 * changed reference that resolves to the same manager is rewritten, not counted);
 * deleted = records of owners no longer present. Memory: about 40 bytes plus the strings
 * per owner, and 16 bytes per owner for the graph.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "analysis.h"
#include "managers_util.h"
#include "results.h"

#define MGR_LOG_MAX 100 /* issues logged one by one, per kind */

/* The job's own progress (ctx->progress) at the end of each phase, in percent: about each
 * phase's share of the run time (reading and resolving take a third of it at 1M owners,
 * writing the rest). processed stays the number of owners whose record is committed. */
#define MP_READ 18    /* reading the owners: 0..18 */
#define MP_INDEX 20   /* indexing them: ..20 */
#define MP_RESOLVE 30 /* resolving the references: ..30 */
#define MP_WALK 33    /* walking the graph: ..33 */
#define MP_OWNERS 95  /* writing owner_managers: ..95 */
#define MP_ISSUES 98  /* writing manager_issues: ..98; removing stale results: ..100 */

enum { F_EID, F_EMAIL, F_DNAME, F_MANAGER, NFIELDS };

enum ref_kind { REF_NONE, REF_EID, REF_EMAIL, REF_DN };
static const char *const kind_names[] = { NULL, "employee_id", "email", "dn" };

enum mstate { ST_UNSET, ST_OK, ST_TOP, ST_MISSING, ST_CYCLE, ST_SELF };
static const char *const state_names[] = { NULL, "ok", "top", "missing", "cycle", "self" };

#define MG_TOP UINT32_MAX          /* no manager */
#define MG_MISSING (UINT32_MAX - 1) /* a reference that resolves to nobody */

struct mrun {
	struct job_ctx *ctx;
	struct identity *id;
	struct otab ot;
	enum ref_kind mode; /* REF_NONE: auto */
	uint32_t *mgr;      /* owner -> manager, MG_TOP or MG_MISSING */
	int32_t *depth;     /* -1: nil */
	uint8_t *state;     /* enum mstate */
	uint8_t *kind;      /* enum ref_kind */
	uint8_t *head;      /* 1: smallest member of a cycle */
	uint32_t *cyc;      /* members of every cycle, each in cycle order */
	size_t ncyc_members;
	struct cycle {
		uint32_t first; /* into cyc */
		uint32_t len;
	} *cycles;
	size_t ncycles, cycles_cap;
	uint64_t nmissing, nambiguous, in_cycles;
	DB *mdb, *idb;
	struct resw w;
};

static int
parse_mode(const char *s, enum ref_kind *k)
{
	if (s == NULL || *s == '\0' || strcmp(s, "auto") == 0)
		*k = REF_NONE;
	else if (strcmp(s, "employee_id") == 0)
		*k = REF_EID;
	else if (strcmp(s, "email") == 0)
		*k = REF_EMAIL;
	else if (strcmp(s, "dn") == 0)
		*k = REF_DN;
	else
		return -1;
	return 0;
}

/* The value of the first RDN if it is CN=...: unescaped into out (cap bytes), trimmed.
 * -1 if ref is not a DN starting with CN=. */
static int
dn_cn(const char *ref, char *out, size_t cap, size_t *len)
{
	const char *p = ref;
	size_t n = 0;

	while (*p == ' ')
		p++;
	if (strncasecmp(p, "CN=", 3) != 0)
		return -1;
	p += 3;
	while (*p == ' ')
		p++;
	for (; *p != '\0' && *p != ',' && *p != '+'; p++) {
		if (*p == '\\' && p[1] != '\0')
			p++; /* RFC 4514 escapes of special characters */
		if (n + 1 < cap)
			out[n++] = *p;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	*len = n;
	return n > 0 ? 0 : -1;
}

/* Resolve owner o's reference: the manager's number, OT_NONE or OT_AMBIG. */
static uint32_t
resolve(struct mrun *mr, const char *ref, enum ref_kind *kind)
{
	const char *p = ref;
	char cn[1024];
	size_t len;
	uint32_t m;

	*kind = mr->mode;
	if (*kind == REF_NONE) {
		while (*p == ' ')
			p++;
		if (strchr(ref, '@') != NULL)
			*kind = REF_EMAIL;
		else if (strncasecmp(p, "CN=", 3) == 0)
			*kind = REF_DN;
		else
			*kind = REF_EID;
	}
	switch (*kind) {
	case REF_EMAIL:
		return otab_find(&mr->ot, F_EMAIL, ref, strlen(ref), NULL);
	case REF_DN:
		if (dn_cn(ref, cn, sizeof cn, &len) != 0)
			return OT_NONE;
		/* The CN names the employee id (as jobsd-datagen and directories that name
		 * entries by number write it); failing that, a unique display name. */
		m = otab_find(&mr->ot, F_EID, cn, len, NULL);
		if (m == OT_NONE)
			m = otab_find(&mr->ot, F_DNAME, cn, len, NULL);
		return m;
	default:
		return otab_find(&mr->ot, F_EID, ref, strlen(ref), NULL);
	}
}

static void
resolve_all(struct mrun *mr)
{
	struct job_ctx *ctx = mr->ctx;
	uint32_t o, m;
	enum ref_kind k;
	const char *ref;

	for (o = 0; o < mr->ot.n; o++) {
		if (o % JOB_TICK_ROWS == 0)
			mu_progress(ctx, MP_INDEX, MP_RESOLVE, o, mr->ot.n);
		ref = otab_str(&mr->ot, o, F_MANAGER);
		mr->kind[o] = REF_NONE;
		if (ref == NULL) {
			mr->mgr[o] = MG_TOP;
			continue;
		}
		m = resolve(mr, ref, &k);
		mr->kind[o] = (uint8_t)k;
		if (m == OT_NONE || m == OT_AMBIG) {
			mr->mgr[o] = MG_MISSING;
			mr->nmissing++;
			if (m == OT_AMBIG)
				mr->nambiguous++;
			if (mr->nmissing <= MGR_LOG_MAX)
				job_ctx_log(ctx, LOG_LVL_WARN, "%s: manager '%s' (%s) %s",
				    otab_id(&mr->ot, o), ref, kind_names[k],
				    m == OT_AMBIG ? "matches several owners (ambiguous, "
				    "not resolved)" : "matches no owner");
			else if (mr->nmissing == MGR_LOG_MAX + 1)
				job_ctx_log(ctx, LOG_LVL_WARN, "more missing managers; only the "
				    "first %d are logged", MGR_LOG_MAX);
		} else
			mr->mgr[o] = m;
	}
}

static void
add_cycle(struct mrun *mr, const uint32_t *members, uint32_t len)
{
	uint32_t i, min = 0;

	for (i = 1; i < len; i++)
		if (members[i] < members[min])
			min = i;
	if (mr->ncycles == mr->cycles_cap) {
		mr->cycles_cap = mr->cycles_cap == 0 ? 16 : mr->cycles_cap * 2;
		mr->cycles = mu_reallocarray(mr->cycles, mr->cycles_cap, sizeof *mr->cycles);
	}
	mr->cycles[mr->ncycles].first = (uint32_t)mr->ncyc_members;
	mr->cycles[mr->ncycles].len = len;
	mr->ncycles++;
	/* Cycle order (each member's manager follows it), starting with the smallest id. */
	for (i = 0; i < len; i++)
		mr->cyc[mr->ncyc_members++] = members[(min + i) % len];
	mr->head[members[min]] = 1;
	mr->in_cycles += len;
}

static int
cycle_cmp(const void *a, const void *b, void *arg)
{
	const uint32_t *cyc = arg;
	uint32_t x = cyc[((const struct cycle *)a)->first];
	uint32_t y = cyc[((const struct cycle *)b)->first];

	return x < y ? -1 : x > y;
}

/*
 * Walk "owner -> manager" from every owner not yet done, pushing the path on a stack
 * until it reaches a top, a missing manager, an owner already done, or an owner on the
 * path itself (a cycle: the path from there on). Then unwind: depth = manager's + 1, nil
 * when the chain above is broken or cyclic. Each owner is pushed once: O(n).
 */
static void
walk(struct mrun *mr)
{
	uint32_t n = mr->ot.n, s, x, top, j, *stack, *onpath, sp, pos;
	int32_t d;

	stack = mu_reallocarray(NULL, n > 0 ? n : 1, sizeof *stack);
	onpath = xcalloc(n > 0 ? n : 1, sizeof *onpath); /* walk number + 1, while on it */
	mr->cyc = mu_reallocarray(NULL, n > 0 ? n : 1, sizeof *mr->cyc);
	for (s = 0; s < n; s++) {
		if (s % JOB_TICK_ROWS == 0)
			mu_progress(mr->ctx, MP_RESOLVE, MP_WALK, s, n);
		if (mr->state[s] != ST_UNSET)
			continue;
		sp = 0;
		x = s;
		for (;;) {
			stack[sp++] = x;
			onpath[x] = s + 1;
			x = mr->mgr[x];
			if (x == MG_TOP || x == MG_MISSING || mr->state[x] != ST_UNSET ||
			    onpath[x] == s + 1)
				break;
		}
		top = stack[sp - 1];
		if (x == MG_TOP) {
			mr->state[top] = ST_TOP;
			mr->depth[top] = 0;
			sp--;
		} else if (x == MG_MISSING) {
			mr->state[top] = ST_MISSING;
			mr->depth[top] = -1;
			sp--;
		} else if (mr->state[x] == ST_UNSET) {
			/* A cycle: stack[pos..sp-1], x = stack[pos]. */
			for (pos = sp - 1; stack[pos] != x; pos--)
				;
			add_cycle(mr, stack + pos, sp - pos);
			for (j = pos; j < sp; j++) {
				mr->state[stack[j]] = sp - pos == 1 ? ST_SELF : ST_CYCLE;
				mr->depth[stack[j]] = -1;
			}
			sp = pos;
		}
		/* Unwind the rest: each one's manager is done now. */
		while (sp > 0) {
			x = stack[--sp];
			d = mr->depth[mr->mgr[x]];
			mr->depth[x] = d < 0 ? -1 : d + 1;
			mr->state[x] = ST_OK;
		}
	}
	if (mr->ncycles > 1)
		qsort_r(mr->cycles, mr->ncycles, sizeof *mr->cycles, cycle_cmp, mr->cyc);
	free(stack);
	free(onpath);
}

static void
log_cycles(struct mrun *mr)
{
	struct job_ctx *ctx = mr->ctx;
	const struct cycle *cy;
	char *line;
	size_t i, j, len, cap;

	for (i = 0; i < mr->ncycles && i < MGR_LOG_MAX; i++) {
		cy = &mr->cycles[i];
		cap = 64;
		for (j = 0; j < cy->len && j < 20; j++)
			cap += strlen(otab_id(&mr->ot, mr->cyc[cy->first + j])) + 4;
		line = xmalloc(cap);
		len = (size_t)snprintf(line, cap, "manager cycle of length %u:", cy->len);
		for (j = 0; j < cy->len && j < 20; j++)
			len += (size_t)snprintf(line + len, cap - len, " %s%s",
			    otab_id(&mr->ot, mr->cyc[cy->first + j]),
			    j + 1 < cy->len ? " ->" : "");
		if (cy->len > 20)
			snprintf(line + len, cap - len, " ...");
		job_ctx_log(ctx, LOG_LVL_WARN, "%s", line);
		free(line);
	}
	if (mr->ncycles > MGR_LOG_MAX)
		job_ctx_log(ctx, LOG_LVL_WARN, "more cycles; only the first %d are logged",
		    MGR_LOG_MAX);
}

/* Encode owner o's owner_managers record. */
static void
encode_owner(struct mrun *mr, uint32_t o)
{
	struct resw *w = &mr->w;
	uint32_t m = mr->mgr[o];

	res_begin(w, 5);
	res_str(w, "manager_ref", otab_str(&mr->ot, o, F_MANAGER));
	res_str(w, "manager_id", m == MG_TOP || m == MG_MISSING ? NULL : otab_id(&mr->ot, m));
	res_str(w, "ref_kind", kind_names[mr->kind[o]]);
	if (mr->depth[o] < 0)
		res_nil(w, "depth");
	else
		res_int(w, "depth", mr->depth[o]);
	res_str(w, "state", state_names[mr->state[o]]);
	res_end(w, mr->ctx->job->no);
}

/* Write a record if it differs: 0 unchanged, 1 created, 2 updated (counted), 3 rewritten
 * (not counted), MU_RETRY (lock conflict), -1 error. */
static int
upsert(struct mrun *mr, DB *db, DB_TXN *txn, const char *key, bool counted_fields,
    char **error)
{
	void *old = NULL;
	size_t oldlen = 0;
	int rv, ret;

	rv = res_get(db, txn, key, &old, &oldlen, error);
	if (rv < 0)
		return rv;
	if (rv == 0 && res_same(old, oldlen, &mr->w)) {
		free(old);
		return 0;
	}
	if (rv == STORE_NOTFOUND)
		rv = 1;
	else if (!counted_fields)
		rv = 2;
	else if (!res_field_same(old, oldlen, mr->w.buf.data, mr->w.buf.size, "manager_id") ||
	    !res_field_same(old, oldlen, mr->w.buf.data, mr->w.buf.size, "depth") ||
	    !res_field_same(old, oldlen, mr->w.buf.data, mr->w.buf.size, "state"))
		rv = 2;
	else
		rv = 3;
	free(old);
	if ((ret = res_put(db, txn, key, &mr->w, error)) != 0)
		return ret;
	return rv;
}

static int
write_owners(struct mrun *mr, char **error)
{
	struct job_ctx *ctx = mr->ctx;
	DB_TXN *txn = NULL;
	int64_t created = 0, updated = 0;
	uint32_t o = 0, o0 = 0;
	size_t rows = 0;
	int rv, ret, retries = 0;

	while (o < mr->ot.n) {
		if (ctx->aborted) {
			*error = xstrdup("stopped: the supervisor went away");
			goto fail;
		}
		if (txn == NULL) {
			if (res_txn_begin(ctx->store, &txn, error) != 0)
				return JOB_RUN_FAILED;
			o0 = o;
		}
		encode_owner(mr, o);
		rv = upsert(mr, mr->mdb, txn, otab_id(&mr->ot, o), true, error);
		if (rv == MU_RETRY && ++retries <= MU_RETRIES) {
			/* A lock conflict with a reader: redo the batch. */
			txn->abort(txn);
			txn = NULL;
			mu_backoff(retries);
			created = updated = 0;
			rows = 0;
			o = o0;
			continue;
		}
		if (rv < 0) {
			if (rv == MU_RETRY)
				*error = xstrdup("owner managers: lock conflicts, giving up");
			goto fail;
		}
		if (rv == 1)
			created++;
		else if (rv == 2)
			updated++;
		if (ctx->on_tick != NULL && rows % JOB_TICK_ROWS == JOB_TICK_ROWS - 1)
			ctx->on_tick(ctx);
		o++;
		if (++rows >= ctx->batch_size || o == mr->ot.n) {
			ret = txn->commit(txn, 0);
			txn = NULL;
			if (ret != 0) {
				*error = xasprintf("cannot commit a batch of owner managers: %s",
				    db_strerror(ret));
				return JOB_RUN_FAILED;
			}
			retries = 0;
			ctx->created += created;
			ctx->updated += updated;
			created = updated = 0;
			rows = 0;
			ctx->processed = (int64_t)o;
			mu_progress(ctx, MP_WALK, MP_OWNERS, o, mr->ot.n);
			if (o < mr->ot.n) {
				job_ctx_delay(ctx);
				if (job_ctx_cancelled(ctx))
					return JOB_RUN_CANCELLED;
			}
		}
	}
	return JOB_RUN_OK;
fail:
	if (txn != NULL)
		txn->abort(txn);
	return JOB_RUN_FAILED;
}

/* One issue record per missing manager and per cycle, in key order. */
static int
write_issues(struct mrun *mr, char **error)
{
	struct job_ctx *ctx = mr->ctx;
	const struct cycle *cy;
	DB_TXN *txn = NULL;
	char *key;
	size_t i = 0, i0 = 0, j, rows = 0, total = mr->ncycles + mr->nmissing;
	uint32_t o = 0, o0 = 0;
	int ret, retries = 0;

	while (i < total) {
		if (txn == NULL) {
			if (res_txn_begin(ctx->store, &txn, error) != 0)
				return JOB_RUN_FAILED;
			i0 = i;
			o0 = o;
		}
		if (i < mr->ncycles) {
			cy = &mr->cycles[i];
			key = xasprintf("cycle:%s", otab_id(&mr->ot, mr->cyc[cy->first]));
			res_begin(&mr->w, 3);
			res_str(&mr->w, "kind", "cycle");
			res_key(&mr->w, "members");
			msgpack_pack_array(&mr->w.pk, cy->len);
			for (j = 0; j < cy->len; j++) {
				const char *m = otab_id(&mr->ot, mr->cyc[cy->first + j]);

				msgpack_pack_str(&mr->w.pk, strlen(m));
				msgpack_pack_str_body(&mr->w.pk, m, strlen(m));
			}
			res_int(&mr->w, "length", cy->len);
		} else {
			while (mr->state[o] != ST_MISSING)
				o++;
			key = xasprintf("missing:%s", otab_id(&mr->ot, o));
			res_begin(&mr->w, 3);
			res_str(&mr->w, "kind", "missing");
			res_str(&mr->w, "owner_id", otab_id(&mr->ot, o));
			res_str(&mr->w, "manager_ref", otab_str(&mr->ot, o, F_MANAGER));
			o++;
		}
		res_end(&mr->w, ctx->job->no);
		ret = upsert(mr, mr->idb, txn, key, false, error);
		free(key);
		if (ret == MU_RETRY && ++retries <= MU_RETRIES) {
			txn->abort(txn);
			txn = NULL;
			mu_backoff(retries);
			rows = 0;
			i = i0;
			o = o0;
			continue;
		}
		if (ret < 0) {
			if (ret == MU_RETRY)
				*error = xstrdup("manager issues: lock conflicts, giving up");
			txn->abort(txn);
			return JOB_RUN_FAILED;
		}
		i++;
		if (++rows >= ctx->batch_size || i == total) {
			ret = txn->commit(txn, 0);
			txn = NULL;
			rows = 0;
			retries = 0;
			if (ret != 0) {
				*error = xasprintf("cannot commit manager issues: %s",
				    db_strerror(ret));
				return JOB_RUN_FAILED;
			}
			mu_progress(ctx, MP_OWNERS, MP_ISSUES, i, total);
			if (ctx->aborted || (i < total && job_ctx_cancelled(ctx)))
				return JOB_RUN_CANCELLED;
		}
	}
	return JOB_RUN_OK;
}

/* otab_load's tick: the owners read so far of the counted total. */
static void
read_rows(void *arg, uint32_t n)
{
	struct job_ctx *ctx = arg;

	mu_progress(ctx, 0, MP_READ, n, ctx->total > (int64_t)n ? (uint64_t)ctx->total : n);
}

static bool
keep_owner(const char *key, size_t klen, void *arg)
{
	struct mrun *mr = arg;

	return otab_find_id(&mr->ot, key, klen) != OT_NONE;
}

static bool
keep_issue(const char *key, size_t klen, void *arg)
{
	struct mrun *mr = arg;
	uint32_t o;

	if (strncmp(key, "missing:", 8) == 0) {
		o = otab_find_id(&mr->ot, key + 8, klen - 8);
		return o != OT_NONE && mr->state[o] == ST_MISSING;
	}
	if (strncmp(key, "cycle:", 6) == 0) {
		o = otab_find_id(&mr->ot, key + 6, klen - 6);
		return o != OT_NONE && mr->head[o];
	}
	return false;
}

int
run_manager_resolution(struct job_ctx *ctx, char **error)
{
	static const char *const fields[NFIELDS] = {
		"employee_id", "email", "display_name", "manager",
	};
	static const enum otf_mode modes[NFIELDS] = { OTF_FOLD, OTF_FOLD, OTF_FOLD, OTF_STR };
	struct mrun mr;
	const char *p;
	uint32_t n;
	uint64_t total, other, issues_deleted = 0;
	int res = JOB_RUN_FAILED;

	memset(&mr, 0, sizeof mr);
	mr.ctx = ctx;
	resw_init(&mr.w);
	otab_init(&mr.ot, fields, modes, NFIELDS);

	if ((p = job_param_get(ctx->job, "manager_ref")) != NULL) {
		if (parse_mode(p, &mr.mode) != 0 || *p == '\0') {
			*error = xasprintf("parameter manager_ref: '%s' is not auto, "
			    "employee_id, email or dn", p);
			goto out;
		}
	} else if (ctx->conf != NULL && parse_mode(ctx->conf->manager_ref, &mr.mode) != 0) {
		*error = xasprintf("[source] manager_ref: '%s' is not auto, employee_id, "
		    "email or dn", ctx->conf->manager_ref);
		goto out;
	}
	if (identity_open(ctx->store, &mr.id, error) != 0)
		goto out;
	if (res_open(ctx->store, RES_DB_OWNER_MANAGERS, &mr.mdb, error) != 0 ||
	    res_open(ctx->store, RES_DB_MANAGER_ISSUES, &mr.idb, error) != 0)
		goto out;

	job_ctx_step(ctx, "Counting owners");
	if (identity_count(mr.id, IDENT_OWNER, 0, &total, &other, error) != 0)
		goto out;
	ctx->total = (int64_t)total;
	ctx->processed = 0;
	ctx->progress = 0;
	job_ctx_progress_now(ctx);

	job_ctx_step(ctx, "Reading owners");
	mr.ot.on_rows = read_rows;
	mr.ot.rows_arg = ctx;
	if (otab_load(&mr.ot, mr.id, error) != 0)
		goto out;
	n = mr.ot.n;
	ctx->total = n; /* what the scan saw, if a sync changed it meanwhile */
	mu_progress(ctx, 0, MP_READ, 1, 1);
	otab_index(&mr.ot, F_EID);
	mu_progress(ctx, MP_READ, MP_INDEX, 1, 3);
	otab_index(&mr.ot, F_EMAIL);
	mu_progress(ctx, MP_READ, MP_INDEX, 2, 3);
	otab_index(&mr.ot, F_DNAME);
	mu_progress(ctx, MP_READ, MP_INDEX, 3, 3);
	if (job_ctx_cancelled(ctx)) {
		res = JOB_RUN_CANCELLED;
		goto out;
	}

	job_ctx_step(ctx, "Resolving managers");
	mr.mgr = mu_reallocarray(NULL, n > 0 ? n : 1, sizeof *mr.mgr);
	mr.depth = mu_reallocarray(NULL, n > 0 ? n : 1, sizeof *mr.depth);
	mr.state = xcalloc(n > 0 ? n : 1, 1);
	mr.kind = xcalloc(n > 0 ? n : 1, 1);
	mr.head = xcalloc(n > 0 ? n : 1, 1);
	resolve_all(&mr);
	mu_progress(ctx, MP_INDEX, MP_RESOLVE, 1, 1);
	walk(&mr);
	mu_progress(ctx, MP_RESOLVE, MP_WALK, 1, 1);
	log_cycles(&mr);

	job_ctx_step(ctx, "Writing owner managers");
	if ((res = write_owners(&mr, error)) != JOB_RUN_OK)
		goto out;
	job_ctx_step(ctx, "Writing manager issues");
	if ((res = write_issues(&mr, error)) != JOB_RUN_OK)
		goto out;
	job_ctx_step(ctx, "Removing stale results");
	if ((res = res_prune(ctx, mr.mdb, keep_owner, &mr, &ctx->deleted, NULL, error)) !=
	    JOB_RUN_OK)
		goto out;
	mu_progress(ctx, MP_ISSUES, 100, 1, 2);
	if ((res = res_prune(ctx, mr.idb, keep_issue, &mr, NULL, &issues_deleted, error)) !=
	    JOB_RUN_OK)
		goto out;
	mu_progress(ctx, MP_ISSUES, 100, 1, 1);
	res = JOB_RUN_OK;

out:
	if (res == JOB_RUN_CANCELLED)
		ctx->was_cancelled = true;
	if (mr.mgr != NULL) {
		job_ctx_log(ctx, LOG_LVL_INFO, "%u owners: %llu with a missing manager (%llu "
		    "ambiguous), %zu cycles with %llu owners", mr.ot.n,
		    (unsigned long long)mr.nmissing, (unsigned long long)mr.nambiguous,
		    mr.ncycles, (unsigned long long)mr.in_cycles);
		job_ctx_log(ctx, LOG_LVL_INFO, "owner managers: %lld created, %lld updated, "
		    "%lld deleted", (long long)ctx->created, (long long)ctx->updated,
		    (long long)ctx->deleted);
	}
	if (res == JOB_RUN_CANCELLED && !ctx->aborted)
		job_ctx_log(ctx, LOG_LVL_INFO, "cancelled: %lld of %lld owners processed "
		    "and committed", (long long)ctx->processed, (long long)ctx->total);
	job_ctx_progress_now(ctx);
	if (mr.mdb != NULL)
		mr.mdb->close(mr.mdb, 0);
	if (mr.idb != NULL)
		mr.idb->close(mr.idb, 0);
	identity_close(mr.id);
	otab_free(&mr.ot);
	resw_free(&mr.w);
	free(mr.mgr);
	free(mr.depth);
	free(mr.state);
	free(mr.kind);
	free(mr.head);
	free(mr.cyc);
	free(mr.cycles);
	return res;
}
