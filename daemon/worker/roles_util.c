/* roles_util.c: string interner, role-name normalisation, and the merge writer of results
 * databases shared by role_generation and policy_analysis (see roles_util.h). */
#include <stdlib.h>
#include <string.h>

#include "roles_util.h"

/* --- string interner ------------------------------------------------------- */

void
strtab_init(struct strtab *t)
{
	memset(t, 0, sizeof *t);
	t->off = xmalloc(sizeof *t->off);
	t->off[0] = 0;
}

void
strtab_free(struct strtab *t)
{
	free(t->arena);
	free(t->off);
	free(t->slots);
	memset(t, 0, sizeof *t);
}

static uint32_t
hash_bytes(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}

const char *
strtab_str(const struct strtab *t, uint32_t i)
{
	return t->arena + t->off[i];
}

size_t
strtab_len(const struct strtab *t, uint32_t i)
{
	return (size_t)(t->off[i + 1] - t->off[i] - 1);
}

static bool
strtab_eq(const struct strtab *t, uint32_t i, const char *s, size_t len)
{
	return strtab_len(t, i) == len && memcmp(strtab_str(t, i), s, len) == 0;
}

static void
strtab_rehash(struct strtab *t)
{
	uint32_t n = t->nslots == 0 ? 64 : t->nslots * 2, i, h;

	free(t->slots);
	t->slots = xmalloc((size_t)n * sizeof *t->slots);
	memset(t->slots, 0xff, (size_t)n * sizeof *t->slots);
	t->nslots = n;
	for (i = 0; i < t->n; i++) {
		h = hash_bytes(strtab_str(t, i), strtab_len(t, i)) & (n - 1);
		while (t->slots[h] != RU_NONE)
			h = (h + 1) & (n - 1);
		t->slots[h] = i;
	}
}

uint32_t
strtab_find(const struct strtab *t, const char *s, size_t len)
{
	uint32_t h;

	if (t->nslots == 0)
		return RU_NONE;
	h = hash_bytes(s, len) & (t->nslots - 1);
	while (t->slots[h] != RU_NONE) {
		if (strtab_eq(t, t->slots[h], s, len))
			return t->slots[h];
		h = (h + 1) & (t->nslots - 1);
	}
	return RU_NONE;
}

uint32_t
strtab_intern(struct strtab *t, const char *s, size_t len)
{
	uint32_t i, h;

	if ((i = strtab_find(t, s, len)) != RU_NONE)
		return i;
	if (t->n == RU_NONE - 1)
		fatalx("strtab: too many strings");
	if ((uint64_t)(t->n + 1) * 2 > t->nslots)
		strtab_rehash(t);
	if (t->alen + len + 1 > t->acap) {
		t->acap = (t->alen + len + 1) * 2;
		t->arena = xrealloc(t->arena, t->acap);
	}
	if (t->n + 2 > t->cap) {
		t->cap = t->cap == 0 ? 64 : t->cap * 2;
		t->off = xrealloc(t->off, (size_t)(t->cap + 1) * sizeof *t->off);
	}
	memcpy(t->arena + t->alen, s, len);
	t->arena[t->alen + len] = '\0';
	t->alen += len + 1;
	i = t->n++;
	t->off[t->n] = t->alen;
	h = hash_bytes(s, len) & (t->nslots - 1);
	while (t->slots[h] != RU_NONE)
		h = (h + 1) & (t->nslots - 1);
	t->slots[h] = i;
	return i;
}

static int
bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static const struct strtab *sort_tab; /* qsort has no argument; single-threaded */

static int
cmp_tab(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return bytes_cmp(strtab_str(sort_tab, x), strtab_len(sort_tab, x),
	    strtab_str(sort_tab, y), strtab_len(sort_tab, y));
}

uint32_t *
strtab_ranks(const struct strtab *t)
{
	uint32_t *order, *rank, i;

	order = xcalloc(t->n + 1, sizeof *order);
	rank = xcalloc(t->n + 1, sizeof *rank);
	for (i = 0; i < t->n; i++)
		order[i] = i;
	sort_tab = t;
	qsort(order, t->n, sizeof *order, cmp_tab);
	sort_tab = NULL;
	for (i = 0; i < t->n; i++)
		rank[order[i]] = i;
	free(order);
	return rank;
}

/* --- role names ------------------------------------------------------------- */

/* Decode one UTF-8 character; its length, or 0 if invalid (or overlong/surrogate). */
static size_t
utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	uint32_t c;
	size_t n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		c = s[0] & 0x07;
	} else
		return 0;
	if (n > len)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static size_t
utf8_encode(uint32_t c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/* A letter or digit kept in role names (see ru_name_append); its lowercase in *lc. */
static bool
name_char(uint32_t c, uint32_t *lc)
{
	*lc = c;
	if (c < 0x80) {
		if (c >= 'A' && c <= 'Z')
			*lc = c + 32;
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9');
	}
	if (c >= 0xc0 && c <= 0x24f) { /* Latin-1 letters, Latin Extended-A and -B */
		if (c == 0xd7 || c == 0xf7)
			return false;
		if (c <= 0xde)
			*lc = c + 0x20;
		else if (c >= 0x100 && c <= 0x137 && c % 2 == 0)
			*lc = c + 1;
		else if (c >= 0x139 && c <= 0x148 && c % 2 == 1)
			*lc = c + 1;
		else if (c >= 0x14a && c <= 0x177 && c % 2 == 0)
			*lc = c + 1;
		else if (c == 0x178)
			*lc = 0xff;
		else if (c >= 0x179 && c <= 0x17e && c % 2 == 1)
			*lc = c + 1;
		return true;
	}
	if (c >= 0x386 && c <= 0x3ff && c != 0x387) { /* Greek */
		if (c >= 0x391 && c <= 0x3ab && c != 0x3a2)
			*lc = c + 0x20;
		return true;
	}
	if (c >= 0x400 && c <= 0x4ff && !(c >= 0x482 && c <= 0x489)) { /* Cyrillic */
		if (c <= 0x40f)
			*lc = c + 0x50;
		else if (c <= 0x42f)
			*lc = c + 0x20;
		return true;
	}
	if ((c >= 0x5d0 && c <= 0x5ea) || (c >= 0x620 && c <= 0x64a) ||
	    (c >= 0x660 && c <= 0x669) || (c >= 0x3041 && c <= 0x30ff && c != 0x30fb) ||
	    (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xac00 && c <= 0xd7a3))
		return true;
	return false;
}

void
ru_name_append(char **buf, size_t *len, size_t *cap, const char *v, size_t vlen)
{
	const unsigned char *s = (const unsigned char *)v;
	uint32_t c, lc;
	size_t i = 0, n;

	if (*len + vlen * 2 + 8 > *cap) {
		*cap = (*len + vlen * 2 + 8) * 2;
		*buf = xrealloc(*buf, *cap);
	}
	while (i < vlen) {
		n = utf8_decode(s + i, vlen - i, &c);
		if (n == 0) {
			(*buf)[(*len)++] = '_';
			i++;
			continue;
		}
		if (name_char(c, &lc))
			*len += utf8_encode(lc, *buf + *len);
		else
			(*buf)[(*len)++] = '_';
		i += n;
	}
	(*buf)[*len] = '\0';
}

/* --- msgpack ------------------------------------------------------------------ */

void
ru_pack_str(msgpack_packer *pk, const char *s, size_t len)
{
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

void
ru_pack_cstr(msgpack_packer *pk, const char *s)
{
	ru_pack_str(pk, s, strlen(s));
}

void
ru_pack_job_tail(msgpack_sbuffer *sb, uint64_t job)
{
	unsigned char b[RU_JOB_TAIL];
	int i;

	memcpy(b, "\xa4_job\xcf", 6);
	for (i = 0; i < 8; i++)
		b[6 + i] = (unsigned char)(job >> (56 - 8 * i));
	msgpack_sbuffer_write(sb, (const char *)b, sizeof b);
}

int
ru_parse_share(const char *s, uint64_t *num)
{
	uint64_t ip = 0, frac = 0, scale = RU_SHARE_DEN;
	const char *p = s;
	int digits = 0;

	if (*p == '\0')
		return -1;
	while (*p >= '0' && *p <= '9') {
		ip = ip * 10 + (uint64_t)(*p - '0');
		if (ip > 1)
			return -1;
		p++;
		digits++;
	}
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9') {
			if (scale == 1)
				return -1; /* more than 9 fractional digits */
			scale /= 10;
			frac += (uint64_t)(*p - '0') * scale;
			p++;
			digits++;
		}
	}
	if (*p != '\0' || digits == 0)
		return -1;
	*num = ip * RU_SHARE_DEN + frac;
	if (*num > RU_SHARE_DEN)
		return -1;
	return 0;
}

/* --- merge writer --------------------------------------------------------------- */

struct mstate {
	struct ru_merge *m;
	const void *nk, *nv;
	size_t nklen, nvlen;
	bool have_new, new_done;
	char *resume;
	size_t resumelen, resumecap;
	bool have_resume;
	msgpack_sbuffer val;
	uint64_t pending[4];
	uint64_t pos_before; /* tell() before the last fetch */
};

static void
set_resume(struct mstate *st, const void *k, size_t len)
{
	if (len > st->resumecap) {
		st->resumecap = len + 64;
		st->resume = xrealloc(st->resume, st->resumecap);
	}
	memmove(st->resume, k, len);
	st->resumelen = len;
	st->have_resume = true;
}

static int
fetch_new(struct mstate *st, char **error)
{
	int rv;

	if (st->have_new || st->new_done)
		return 0;
	st->pos_before = st->m->tell(st->m->arg);
	rv = st->m->next(st->m->arg, &st->nk, &st->nklen, &st->nv, &st->nvlen, error);
	if (rv < 0)
		return -1;
	if (rv == 0)
		st->new_done = true;
	else if (st->have_resume && bytes_cmp(st->nk, st->nklen, st->resume,
	    st->resumelen) <= 0) {
		/* Every key processed so far is below the next one of a sorted stream. */
		*error = xasprintf("%s: records out of key order (internal error)",
		    st->m->what);
		return -1;
	} else
		st->have_new = true;
	return 0;
}

static void
fate(struct mstate *st, enum ru_outcome o, const void *k, size_t klen)
{
	st->pending[o]++;
	if (st->m->outcome != NULL)
		st->m->outcome(st->m->arg, o, k, klen);
}

/* Build the full new value (body + kept tail of old + _job) into st->val. */
static void
build_value(struct mstate *st, const void *old, size_t oldlen)
{
	struct ru_merge *m = st->m;
	size_t keep = m->keep_tail;

	st->val.size = 0;
	if (keep > 0 && old != NULL && oldlen >= keep + RU_JOB_TAIL && st->nvlen >= keep) {
		msgpack_sbuffer_write(&st->val, st->nv, st->nvlen - keep);
		msgpack_sbuffer_write(&st->val, (const char *)old + oldlen - RU_JOB_TAIL - keep,
		    keep);
	} else
		msgpack_sbuffer_write(&st->val, st->nv, st->nvlen);
	ru_pack_job_tail(&st->val, m->ctx->job != NULL ? m->ctx->job->no : 0);
}

static bool
same_value(struct mstate *st, const void *old, size_t oldlen)
{
	return oldlen == st->val.size && oldlen >= RU_JOB_TAIL &&
	    memcmp(old, st->val.data, oldlen - RU_JOB_TAIL) == 0;
}

int
ru_merge_run(struct ru_merge *m, char **error)
{
	struct job_ctx *ctx = m->ctx;
	DB_ENV *env = store_env(ctx->store);
	struct mstate st;
	DB_TXN *txn = NULL;
	DBC *c = NULL;
	DBT k, v, nk, nv;
	size_t writes, scanned, saved_len = 0, saved_cap = 0;
	uint64_t batch_pos;
	char *saved = NULL;
	bool old_done, saved_have;
	int ret, cmp, res = JOB_RUN_FAILED, o, retries = 0;

	memset(&st, 0, sizeof st);
	st.m = m;
	msgpack_sbuffer_init(&st.val);
	for (;;) {
		if (ctx->aborted) {
			*error = xstrdup("stopped: the supervisor went away");
			goto out;
		}
		/* Where to redo this batch from after a lock conflict. */
		batch_pos = st.have_new ? st.pos_before : m->tell(m->arg);
		saved_have = st.have_resume;
		if (st.resumelen > saved_cap) {
			saved_cap = st.resumelen + 64;
			saved = xrealloc(saved, saved_cap);
		}
		if (st.have_resume)
			memcpy(saved, st.resume, st.resumelen);
		saved_len = st.resumelen;
		/* written to the log file at commit, not fsynced (store.c) */
		if (!m->dry && (ret = env->txn_begin(env, NULL, &txn, 0)) != 0) {
			*error = xasprintf("cannot begin a transaction: %s", db_strerror(ret));
			goto out;
		}
		if ((ret = m->db->cursor(m->db, txn, &c, m->dry ? DB_READ_COMMITTED : 0)) !=
		    0) {
			*error = xasprintf("%s cursor: %s", m->what, db_strerror(ret));
			goto out;
		}
		memset(&k, 0, sizeof k);
		memset(&v, 0, sizeof v);
		if (st.have_resume) {
			k.data = st.resume;
			k.size = (u_int32_t)st.resumelen;
			ret = c->get(c, &k, &v, DB_SET_RANGE);
			if (ret == 0 && k.size == st.resumelen &&
			    memcmp(k.data, st.resume, k.size) == 0)
				ret = c->get(c, &k, &v, DB_NEXT);
		} else
			ret = c->get(c, &k, &v, DB_FIRST);
		writes = scanned = 0;
		for (;;) {
			if (ret != 0 && ret != DB_NOTFOUND)
				break;
			old_done = ret == DB_NOTFOUND;
			if (fetch_new(&st, error) != 0) {
				ret = -1;
				break;
			}
			if (old_done && !st.have_new)
				break;
			if (old_done)
				cmp = 1;
			else if (!st.have_new)
				cmp = -1;
			else
				cmp = bytes_cmp(k.data, k.size, st.nk, st.nklen);
			if (cmp < 0) {
				/* Old record the stream no longer has. */
				set_resume(&st, k.data, k.size);
				if (!m->dry && (ret = c->del(c, 0)) != 0)
					break;
				fate(&st, RU_DELETED, k.data, k.size);
				if (!m->dry)
					writes++;
				ret = c->get(c, &k, &v, DB_NEXT);
			} else {
				build_value(&st, cmp == 0 ? v.data : NULL, cmp == 0 ? v.size : 0);
				if (cmp == 0 && same_value(&st, v.data, v.size))
					o = RU_SAME;
				else
					o = cmp == 0 ? RU_CHANGED : RU_CREATED;
				set_resume(&st, st.nk, st.nklen);
				if (o != RU_SAME && !m->dry) {
					memset(&nk, 0, sizeof nk);
					memset(&nv, 0, sizeof nv);
					nk.data = (void *)(uintptr_t)st.nk;
					nk.size = (u_int32_t)st.nklen;
					nv.data = st.val.data;
					nv.size = (u_int32_t)st.val.size;
					if ((ret = m->db->put(m->db, txn, &nk, &nv, 0)) != 0)
						break;
				}
				if (o != RU_SAME && !m->dry)
					writes++;
				fate(&st, (enum ru_outcome)o, st.nk, st.nklen);
				st.have_new = false;
				if (cmp == 0)
					ret = c->get(c, &k, &v, DB_NEXT);
				else
					ret = old_done ? DB_NOTFOUND : 0;
			}
			if (ctx->on_tick != NULL && scanned % JOB_TICK_ROWS == JOB_TICK_ROWS - 1)
				ctx->on_tick(ctx);
			if (writes >= ctx->batch_size || ++scanned >= ctx->batch_size * 16)
				break;
		}
		c->close(c);
		c = NULL;
		if (ret == -1)
			goto out;
		if ((ret == DB_LOCK_DEADLOCK || ret == DB_LOCK_NOTGRANTED) && retries++ < 20) {
			/* Redo the batch: nothing of it is committed. */
			if (txn != NULL)
				txn->abort(txn);
			txn = NULL;
			memset(st.pending, 0, sizeof st.pending);
			m->seek(m->arg, batch_pos);
			st.have_new = st.new_done = false;
			st.have_resume = saved_have;
			if (saved_have)
				set_resume(&st, saved, saved_len);
			st.have_resume = saved_have;
			continue;
		}
		if (ret != 0 && ret != DB_NOTFOUND) {
			*error = xasprintf("writing %s: %s", m->what, db_strerror(ret));
			goto out;
		}
		if (!m->dry) {
			int cret = txn->commit(txn, 0);

			txn = NULL;
			if (cret != 0) {
				*error = xasprintf("cannot commit %s: %s", m->what,
				    db_strerror(cret));
				goto out;
			}
		}
		for (o = 0; o < 4; o++) {
			m->counts[o] += st.pending[o];
			st.pending[o] = 0;
		}
		if (st.new_done && ret == DB_NOTFOUND && !st.have_new)
			break;
		job_ctx_progress(ctx);
		if (!m->dry && writes > 0)
			job_ctx_delay(ctx);
		if (job_ctx_cancelled(ctx)) {
			res = JOB_RUN_CANCELLED;
			goto out;
		}
	}
	res = JOB_RUN_OK;
out:
	if (c != NULL)
		c->close(c);
	if (txn != NULL)
		txn->abort(txn);
	free(st.resume);
	free(saved);
	msgpack_sbuffer_destroy(&st.val);
	return res;
}
