/* store_identity.c: the identity databases (applications, owners, accounts, groups,
 * memberships) and the encoding of their records; see identity.h. */
#include <stdlib.h>
#include <string.h>

#include "identity.h"
#include "log.h"
#include "store_internal.h"

#define IDENT_PAGESIZE 4096 /* for databases created from now on */

static const char *const db_names[IDENT_TYPE_COUNT] = {
	"applications", "owners", "accounts", "groups", "memberships",
};
static const char *const singular[IDENT_TYPE_COUNT] = {
	"application", "owner", "account", "group", "membership",
};

struct identity {
	struct store *store;
	DB *db[IDENT_TYPE_COUNT];
};

const char *
ident_db_name(enum ident_type t)
{
	return (unsigned)t < IDENT_TYPE_COUNT ? db_names[t] : "unknown";
}

const char *
ident_singular(enum ident_type t)
{
	return (unsigned)t < IDENT_TYPE_COUNT ? singular[t] : "unknown";
}

int
ident_type_parse_singular(const char *s)
{
	int i;

	for (i = 0; i < IDENT_TYPE_COUNT; i++) {
		if (strcmp(s, singular[i]) == 0)
			return i;
	}
	return -1;
}

/* Like store_db_open, with IDENT_PAGESIZE pages when the file is created. An incremental
 * sync changes records spread over the whole key space, and every page it touches is read
 * in, checksummed and written back whole: 4 KiB pages made the 1% incremental of the
 * 1,000,000-owner set 28% faster than 16 KiB ones (3.6 -> 2.6 s, same full sync; the
 * unchanged re-sync, which reads every page, 10 -> 13 s; 2 KiB: 23 s). */
static int
ident_db_open(struct store *s, const char *name, DB **out, char **cause)
{
	char file[64];
	uint32_t flags = DB_AUTO_COMMIT;
	DB *db;
	int ret;

	*out = NULL;
	snprintf(file, sizeof file, "%s.db", name);
	if ((ret = db_create(&db, s->env, 0)) != 0) {
		store_set_cause(cause, store_cause(s, ret, "db_create %s", name));
		return -1;
	}
	if ((ret = db->set_pagesize(db, IDENT_PAGESIZE)) != 0) {
		store_set_cause(cause, store_cause(s, ret, "set_pagesize %s", name));
		db->close(db, 0);
		return -1;
	}
	/* Checksummed pages, as in store.c (only when the file is created). */
	if ((ret = db->set_flags(db, DB_CHKSUM)) != 0) {
		store_set_cause(cause, store_cause(s, ret, "set_flags %s", name));
		db->close(db, 0);
		return -1;
	}
	if (s->role == STORE_READER)
		flags |= DB_RDONLY;
	else
		flags |= DB_CREATE;
	if ((ret = db->open(db, NULL, file, NULL, DB_BTREE, flags, 0600)) != 0) {
		store_set_cause(cause, store_cause(s, ret, "open database %s in %s", file,
		    s->data_dir));
		db->close(db, 0);
		return -1;
	}
	*out = db;
	return 0;
}

int
identity_open(struct store *s, struct identity **out, char **cause)
{
	static const bool all[IDENT_TYPE_COUNT] = { true, true, true, true, true };

	return identity_open_some(s, all, out, cause);
}

int
identity_open_some(struct store *s, const bool types[IDENT_TYPE_COUNT],
    struct identity **out, char **cause)
{
	struct identity *id;
	int i;

	id = xcalloc(1, sizeof *id);
	id->store = s;
	for (i = 0; i < IDENT_TYPE_COUNT; i++) {
		if (!types[i])
			continue;
		if (ident_db_open(s, db_names[i], &id->db[i], cause) != 0) {
			identity_close(id);
			return -1;
		}
	}
	*out = id;
	return 0;
}

void
identity_close(struct identity *id)
{
	int i;

	if (id == NULL)
		return;
	/* As store_close_db: a worker leaves the dirty pages in the shared cache (what it
	 * committed is in the log; checkpoints write them). Syncing them at close was about
	 * a second of a 1% incremental sync of 1,000,000 owners. */
	for (i = 0; i < IDENT_TYPE_COUNT; i++) {
		if (id->db[i] != NULL)
			id->db[i]->close(id->db[i],
			    store_role_writes(id->store->role) ? 0 : DB_NOSYNC);
	}
	free(id);
}

DB *
identity_db(struct identity *id, enum ident_type t)
{
	return id->db[t];
}

struct store *
identity_store(struct identity *id)
{
	return id->store;
}

static int
field_cmp(const void *a, const void *b)
{
	const struct ident_field *fa = a, *fb = b;

	return strcmp(fa->name, fb->name);
}

void
identity_encode(msgpack_sbuffer *buf, struct ident_field *f, size_t n, uint64_t gen)
{
	msgpack_packer pk;
	size_t i;

	qsort(f, n, sizeof *f, field_cmp);
	buf->size = 0;
	msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, n + 1);
	for (i = 0; i < n; i++) {
		msgpack_pack_str(&pk, strlen(f[i].name));
		msgpack_pack_str_body(&pk, f[i].name, strlen(f[i].name));
		msgpack_pack_str(&pk, f[i].len);
		msgpack_pack_str_body(&pk, f[i].value, f[i].len);
	}
	msgpack_pack_str(&pk, strlen(IDENT_GEN_KEY));
	msgpack_pack_str_body(&pk, IDENT_GEN_KEY, strlen(IDENT_GEN_KEY));
	msgpack_pack_fix_uint64(&pk, gen);
}

/* A msgpack str header as msgpack-c writes it (so records compare byte for byte). */
static unsigned char *
put_str_hdr(unsigned char *p, size_t l)
{
	if (l < 32)
		*p++ = 0xa0 | (unsigned char)l;
	else if (l < 256) {
		*p++ = 0xd9;
		*p++ = (unsigned char)l;
	} else if (l < 65536) {
		*p++ = 0xda;
		*p++ = (unsigned char)(l >> 8);
		*p++ = (unsigned char)l;
	} else {
		*p++ = 0xdb;
		*p++ = (unsigned char)(l >> 24);
		*p++ = (unsigned char)(l >> 16);
		*p++ = (unsigned char)(l >> 8);
		*p++ = (unsigned char)l;
	}
	return p;
}

static void
put_be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = v & 0xff;
		v >>= 8;
	}
}

static uint64_t
get_be64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* The encoded trailer: "_no" <number> "_gen" <generation>. */
static const unsigned char trailer_no[5] = { 0xa3, '_', 'n', 'o', 0xcf };
static const unsigned char trailer_gen[6] = { 0xa4, '_', 'g', 'e', 'n', 0xcf };

size_t
identity_encode_append(msgpack_sbuffer *buf, const struct ident_field *f, size_t n,
    uint64_t no, uint64_t gen)
{
	unsigned char *p, *start;
	size_t need = 5 + IDENT_NO_TRAILER, i, nl, m = n + 2;

	for (i = 0; i < n; i++)
		need += 10 + strlen(f[i].name) + f[i].len;
	if (buf->size + need > buf->alloc) {
		buf->alloc = (buf->size + need) * 2;
		buf->data = xrealloc(buf->data, buf->alloc);
	}
	start = p = (unsigned char *)buf->data + buf->size;
	if (m < 16)
		*p++ = 0x80 | (unsigned char)m;
	else if (m < 65536) {
		*p++ = 0xde;
		*p++ = (unsigned char)(m >> 8);
		*p++ = (unsigned char)m;
	} else {
		*p++ = 0xdf;
		*p++ = (unsigned char)(m >> 24);
		*p++ = (unsigned char)(m >> 16);
		*p++ = (unsigned char)(m >> 8);
		*p++ = (unsigned char)m;
	}
	for (i = 0; i < n; i++) {
		nl = strlen(f[i].name);
		p = put_str_hdr(p, nl);
		memcpy(p, f[i].name, nl);
		p += nl;
		p = put_str_hdr(p, f[i].len);
		if (f[i].len > 0)
			memcpy(p, f[i].value, f[i].len);
		p += f[i].len;
	}
	memcpy(p, trailer_no, sizeof trailer_no);
	put_be64(p + sizeof trailer_no, no);
	p += sizeof trailer_no + 8;
	memcpy(p, trailer_gen, sizeof trailer_gen);
	put_be64(p + sizeof trailer_gen, gen);
	p += sizeof trailer_gen + 8;
	buf->size += (size_t)(p - start);
	return (size_t)(p - start);
}

/* Does the value end with the "_no" "_gen" trailer? */
static bool
has_no_trailer(const unsigned char *p, size_t len)
{
	return len > IDENT_NO_TRAILER &&
	    memcmp(p + len - IDENT_NO_TRAILER, trailer_no, sizeof trailer_no) == 0 &&
	    memcmp(p + len - 14, trailer_gen, sizeof trailer_gen) == 0;
}

uint64_t
identity_no(const void *data, size_t len)
{
	const unsigned char *p = data;

	if (!has_no_trailer(p, len))
		return 0;
	return get_be64(p + len - 22);
}

void
identity_set_no_gen(void *data, size_t len, uint64_t no, uint64_t gen)
{
	unsigned char *p = data;

	put_be64(p + len - 22, no);
	put_be64(p + len - 8, gen);
}

/* The map header of an encoded value: entry count and header size; false if not a map. */
static bool
map_header(const unsigned char *p, size_t len, size_t *count, size_t *hlen)
{
	if (len < 1)
		return false;
	if ((p[0] & 0xf0) == 0x80) {
		*count = p[0] & 0x0f;
		*hlen = 1;
	} else if (p[0] == 0xde && len >= 3) {
		*count = (size_t)p[1] << 8 | p[2];
		*hlen = 3;
	} else if (p[0] == 0xdf && len >= 5) {
		*count = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
		*hlen = 5;
	} else
		return false;
	return true;
}

/* The fields of an encoded value: their number and byte range, without map header and
 * trailer. */
static bool
fields_of(const void *data, size_t len, size_t *nf, const unsigned char **body,
    size_t *blen)
{
	const unsigned char *p = data;
	size_t count, hlen, tail;

	if (!map_header(p, len, &count, &hlen))
		return false;
	if (has_no_trailer(p, len) && count >= 2) {
		tail = IDENT_NO_TRAILER;
		count -= 2;
	} else if (len >= 14 && memcmp(p + len - 14, trailer_gen, sizeof trailer_gen) == 0 &&
	    count >= 1) {
		tail = 14; /* "_gen" and the generation only */
		count -= 1;
	} else
		return false;
	if (len < hlen + tail)
		return false;
	*nf = count;
	*body = p + hlen;
	*blen = len - hlen - tail;
	return true;
}

bool
identity_same_fields(const void *a, size_t alen, const void *b, size_t blen)
{
	const unsigned char *ab, *bb;
	size_t an, bn, al, bl;

	if (!fields_of(a, alen, &an, &ab, &al) || !fields_of(b, blen, &bn, &bb, &bl))
		return false;
	return an == bn && al == bl && memcmp(ab, bb, al) == 0;
}

bool
identity_same(const void *a, size_t alen, const void *b, size_t blen)
{
	if (alen != blen || alen < IDENT_GEN_TAIL)
		return false;
	return memcmp(a, b, alen - IDENT_GEN_TAIL) == 0;
}

uint64_t
identity_gen(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t v = 0;
	size_t i;

	if (len < IDENT_GEN_TAIL || p[len - IDENT_GEN_TAIL] != 0xcf)
		return 0;
	for (i = len - 8; i < len; i++)
		v = (v << 8) | p[i];
	return v;
}

int
identity_field(const void *data, size_t len, const char *name, const char **v, size_t *vlen)
{
	msgpack_unpacked u;
	msgpack_object_kv *kv;
	size_t off = 0, nlen = strlen(name);
	uint32_t i;
	int rv = STORE_NOTFOUND;

	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
	    u.data.type != MSGPACK_OBJECT_MAP)
		goto out;
	for (i = 0; i < u.data.via.map.size; i++) {
		kv = &u.data.via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR || kv->val.type != MSGPACK_OBJECT_STR)
			continue;
		if (kv->key.via.str.size == nlen &&
		    memcmp(kv->key.via.str.ptr, name, nlen) == 0) {
			/* The strings point into data (msgpack references the input). */
			*v = kv->val.via.str.ptr;
			*vlen = kv->val.via.str.size;
			rv = 0;
			break;
		}
	}
out:
	msgpack_unpacked_destroy(&u);
	return rv;
}

int
identity_get(struct identity *id, DB_TXN *txn, enum ident_type t, const void *key,
    size_t klen, void **data, size_t *len, char **cause)
{
	DBT k, v;
	int ret;

	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = (void *)(uintptr_t)key;
	k.size = (u_int32_t)klen;
	v.flags = DB_DBT_MALLOC;
	ret = id->db[t]->get(id->db[t], txn, &k, &v, 0);
	if (ret == DB_NOTFOUND)
		return STORE_NOTFOUND;
	if (ret != 0) {
		if (cause != NULL)
			*cause = xasprintf("%s get: %s", db_names[t], db_strerror(ret));
		return -1;
	}
	*data = v.data;
	*len = v.size;
	return 0;
}

int
identity_put(struct identity *id, DB_TXN *txn, enum ident_type t, const void *key,
    size_t klen, const void *data, size_t len, char **cause)
{
	DBT k, v;
	int ret;

	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = (void *)(uintptr_t)key;
	k.size = (u_int32_t)klen;
	v.data = (void *)(uintptr_t)data;
	v.size = (u_int32_t)len;
	ret = id->db[t]->put(id->db[t], txn, &k, &v, 0);
	if (ret != 0) {
		if (cause != NULL)
			*cause = xasprintf("%s put: %s", db_names[t], db_strerror(ret));
		return -1;
	}
	return 0;
}

int
identity_put_gen(struct identity *id, DB_TXN *txn, enum ident_type t, const void *key,
    size_t klen, size_t len, uint64_t gen, char **cause)
{
	unsigned char b[8];
	DBT k, v;
	int i, ret;

	if (len < IDENT_GEN_TAIL) {
		*cause = xasprintf("%s: record without a generation", db_names[t]);
		return -1;
	}
	for (i = 7; i >= 0; i--) {
		b[i] = gen & 0xff;
		gen >>= 8;
	}
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	k.data = (void *)(uintptr_t)key;
	k.size = (u_int32_t)klen;
	v.data = b;
	v.size = 8;
	v.flags = DB_DBT_PARTIAL;
	v.doff = (u_int32_t)(len - 8);
	v.dlen = 8;
	ret = id->db[t]->put(id->db[t], txn, &k, &v, 0);
	if (ret != 0) {
		if (cause != NULL)
			*cause = xasprintf("%s put: %s", db_names[t], db_strerror(ret));
		return -1;
	}
	return 0;
}

int
identity_del(struct identity *id, DB_TXN *txn, enum ident_type t, const void *key,
    size_t klen, char **cause)
{
	DBT k;
	int ret;

	memset(&k, 0, sizeof k);
	k.data = (void *)(uintptr_t)key;
	k.size = (u_int32_t)klen;
	ret = id->db[t]->del(id->db[t], txn, &k, 0);
	if (ret == DB_NOTFOUND)
		return STORE_NOTFOUND;
	if (ret != 0) {
		if (cause != NULL)
			*cause = xasprintf("%s del: %s", db_names[t], db_strerror(ret));
		return -1;
	}
	return 0;
}

int
identity_count(struct identity *id, enum ident_type t, uint64_t gen, uint64_t *total,
    uint64_t *other, char **cause)
{
	DBC *c;
	DBT k, v;
	uint64_t n = 0, o = 0;
	int ret;

	if ((ret = id->db[t]->cursor(id->db[t], NULL, &c, DB_READ_COMMITTED)) != 0) {
		*cause = xasprintf("%s cursor: %s", db_names[t], db_strerror(ret));
		return -1;
	}
	memset(&k, 0, sizeof k);
	memset(&v, 0, sizeof v);
	/* Only the generation at the end of each value is needed. */
	while ((ret = c->get(c, &k, &v, DB_NEXT)) == 0) {
		n++;
		if (gen == 0 || identity_gen(v.data, v.size) != gen)
			o++;
	}
	c->close(c);
	if (ret != DB_NOTFOUND) {
		*cause = xasprintf("%s scan: %s", db_names[t], db_strerror(ret));
		return -1;
	}
	*total = n;
	*other = o;
	return 0;
}

int
identity_meta_get_u64(struct store *s, DB_TXN *txn, const char *key, uint64_t *v,
    char **cause)
{
	bool found;

	return identity_meta_find_u64(s, txn, key, v, &found, cause);
}

int
identity_meta_find_u64(struct store *s, DB_TXN *txn, const char *key, uint64_t *v,
    bool *found, char **cause)
{
	unsigned char b[8];
	size_t len = 0, i;
	int rv;

	*found = false;
	rv = store_meta_get(s, txn, key, b, sizeof b, &len, cause);
	if (rv == STORE_NOTFOUND) {
		*v = 0;
		return 0;
	}
	if (rv != 0)
		return rv; /* -1, or a retryable lock conflict inside txn */
	if (len != 8) {
		*cause = xasprintf("meta %s: bad length %zu", key, len);
		return -1;
	}
	*v = 0;
	for (i = 0; i < 8; i++)
		*v = (*v << 8) | b[i];
	*found = true;
	return 0;
}

int
identity_meta_put_u64(struct store *s, DB_TXN *txn, const char *key, uint64_t v,
    char **cause)
{
	unsigned char b[8];
	int i;

	for (i = 7; i >= 0; i--) {
		b[i] = v & 0xff;
		v >>= 8;
	}
	return store_meta_put(s, txn, key, b, sizeof b, cause);
}
