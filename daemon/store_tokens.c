/* store_tokens.c: API tokens. "tokens" maps a name to {name, role, hash, created_ms} and
 * "token_hash" maps the SHA-256 hash to the name; only hashes are ever stored. Lookups by
 * hash end with a constant-time comparison. */
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <openssl/crypto.h>

#include "log.h"
#include "store_internal.h"

static void
pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void
token_encode(msgpack_sbuffer *buf, const struct token *t)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 4);
	pack_str(&pk, "name");
	pack_str(&pk, t->name);
	pack_str(&pk, "role");
	pack_str(&pk, t->role);
	pack_str(&pk, "hash");
	msgpack_pack_bin(&pk, TOKEN_HASH_LEN);
	msgpack_pack_bin_body(&pk, t->hash, TOKEN_HASH_LEN);
	pack_str(&pk, "created_ms");
	msgpack_pack_int64(&pk, t->created_ms);
}

static bool
key_is(const msgpack_object *k, const char *name)
{
	size_t n = strlen(name);

	return (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
		memcmp(k->via.str.ptr, name, n) == 0);
}

static int
token_decode(const void *data, size_t len, struct token *t)
{
	msgpack_unpacked u;
	msgpack_object *o;
	uint32_t i;
	int have = 0;

	memset(t, 0, sizeof(*t));
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, data, len, NULL) != MSGPACK_UNPACK_SUCCESS ||
	    u.data.type != MSGPACK_OBJECT_MAP) {
		msgpack_unpacked_destroy(&u);
		return (-1);
	}
	for (i = 0; i < u.data.via.map.size; i++) {
		msgpack_object_kv *kv = &u.data.via.map.ptr[i];

		o = &kv->val;
		if (key_is(&kv->key, "name") && o->type == MSGPACK_OBJECT_STR &&
		    o->via.str.size < sizeof(t->name)) {
			memcpy(t->name, o->via.str.ptr, o->via.str.size);
			have |= 1;
		} else if (key_is(&kv->key, "role") && o->type == MSGPACK_OBJECT_STR &&
			   o->via.str.size < sizeof(t->role)) {
			memcpy(t->role, o->via.str.ptr, o->via.str.size);
			have |= 2;
		} else if (key_is(&kv->key, "hash") && o->type == MSGPACK_OBJECT_BIN &&
			   o->via.bin.size == TOKEN_HASH_LEN) {
			memcpy(t->hash, o->via.bin.ptr, TOKEN_HASH_LEN);
			have |= 4;
		} else if (key_is(&kv->key, "created_ms") &&
			   (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
			    o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)) {
			t->created_ms = o->via.i64;
			have |= 8;
		}
	}
	msgpack_unpacked_destroy(&u);
	return (have == 15 ? 0 : -1);
}

static void
dbt_of(DBT *d, const void *data, size_t len)
{
	memset(d, 0, sizeof(*d));
	d->data = store_unconst(data);
	d->size = len;
}

static int
token_err(struct store *s, int ret, char **cause, const char *what, const char *name)
{
	if (store_retryable(ret))
		return (ret);
	*cause = store_cause(s, ret, "token %s: %s", name, what);
	return (-1);
}

struct token_arg {
	const struct token *t;
	const uint8_t *hash;
	const char *name;
	struct token *out;
	char *cause;
};

static int
put_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct token_arg *a = arg;
	msgpack_sbuffer buf;
	DBT k, d;
	int ret;

	dbt_of(&k, a->t->name, strlen(a->t->name));
	msgpack_sbuffer_init(&buf);
	token_encode(&buf, a->t);
	dbt_of(&d, buf.data, buf.size);
	ret = s->tokens->put(s->tokens, txn, &k, &d, DB_NOOVERWRITE);
	msgpack_sbuffer_destroy(&buf);
	if (ret == DB_KEYEXIST)
		return (STORE_EXISTS);
	if (ret != 0)
		return (token_err(s, ret, &a->cause, "write", a->t->name));
	dbt_of(&k, a->t->hash, TOKEN_HASH_LEN);
	dbt_of(&d, a->t->name, strlen(a->t->name));
	ret = s->token_hash->put(s->token_hash, txn, &k, &d, DB_NOOVERWRITE);
	if (ret == DB_KEYEXIST)
		return (STORE_EXISTS);
	if (ret != 0)
		return (token_err(s, ret, &a->cause, "write hash", a->t->name));
	return (0);
}

int
store_token_put(struct store *s, const struct token *t, char **cause)
{
	struct token_arg a;
	int r;

	if (store_check_writer(s, "store_token_put", cause) != 0)
		return (-1);
	if (t->name[0] == '\0' || memchr(t->name, '\0', sizeof(t->name)) == NULL ||
	    memchr(t->role, '\0', sizeof(t->role)) == NULL) {
		store_set_cause(cause, xstrdup("token: bad name or role"));
		return (-1);
	}
	memset(&a, 0, sizeof(a));
	a.t = t;
	r = store_with_txn(s, 0, put_txn, &a, cause);
	if (r == STORE_EXISTS)
		return (STORE_EXISTS);
	if (r != 0) {
		if (a.cause != NULL)
			store_set_cause(cause, a.cause);
		return (-1);
	}
	return (0);
}

static int
find_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct token_arg *a = arg;
	char name[TOKEN_NAME_MAX];
	DBT k, d;
	int ret;

	dbt_of(&k, a->hash, TOKEN_HASH_LEN);
	memset(&d, 0, sizeof(d));
	d.data = name;
	d.ulen = sizeof(name) - 1;
	d.flags = DB_DBT_USERMEM;
	ret = s->token_hash->get(s->token_hash, txn, &k, &d, 0);
	if (ret == DB_NOTFOUND || ret == DB_BUFFER_SMALL)
		return (STORE_NOTFOUND);
	if (ret != 0)
		return (token_err(s, ret, &a->cause, "lookup", "(by hash)"));
	name[d.size] = '\0';
	dbt_of(&k, name, d.size);
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_MALLOC;
	ret = s->tokens->get(s->tokens, txn, &k, &d, 0);
	if (ret == DB_NOTFOUND)
		return (STORE_NOTFOUND);
	if (ret != 0)
		return (token_err(s, ret, &a->cause, "read", name));
	ret = token_decode(d.data, d.size, a->out);
	free(d.data);
	if (ret != 0) {
		a->cause = xasprintf("token %s: malformed record", name);
		return (-1);
	}
	return (0);
}

int
store_token_find(struct store *s, const uint8_t hash[TOKEN_HASH_LEN], struct token *t,
		 char **cause)
{
	struct token_arg a;
	int r;

	memset(&a, 0, sizeof(a));
	a.hash = hash;
	a.out = t;
	r = store_with_txn(s, STORE_READ_TXN, find_txn, &a, cause);
	if (r == STORE_NOTFOUND) {
		memset(t, 0, sizeof(*t));
		return (STORE_NOTFOUND);
	}
	if (r != 0) {
		if (a.cause != NULL)
			store_set_cause(cause, a.cause);
		return (-1);
	}
	/* The index found it; confirm against the stored hash in constant time. */
	if (CRYPTO_memcmp(t->hash, hash, TOKEN_HASH_LEN) != 0) {
		memset(t, 0, sizeof(*t));
		return (STORE_NOTFOUND);
	}
	return (0);
}

struct list_arg {
	struct token *tokens;
	size_t n, cap;
	char *cause;
};

static int
list_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct list_arg *a = arg;
	DBT k, d;
	DBC *dbc;
	int ret;

	a->n = 0;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.flags = DB_DBT_REALLOC;
	d.flags = DB_DBT_REALLOC;
	if ((ret = s->tokens->cursor(s->tokens, txn, &dbc, 0)) != 0)
		return (token_err(s, ret, &a->cause, "list", "*"));
	while ((ret = dbc->get(dbc, &k, &d, DB_NEXT)) == 0) {
		if (a->n == a->cap) {
			a->cap = a->cap == 0 ? 16 : a->cap * 2;
			a->tokens = xrealloc(a->tokens, a->cap * sizeof(*a->tokens));
		}
		if (token_decode(d.data, d.size, &a->tokens[a->n]) != 0) {
			log_warnx("tokens: skipping a malformed record");
			continue;
		}
		a->n++;
	}
	dbc->close(dbc);
	free(k.data);
	free(d.data);
	if (ret != DB_NOTFOUND)
		return (token_err(s, ret, &a->cause, "list", "*"));
	return (0);
}

int
store_token_list(struct store *s, store_token_cb cb, void *arg, char **cause)
{
	struct list_arg a;
	size_t i;
	int r = 0;

	memset(&a, 0, sizeof(a));
	if (store_with_txn(s, STORE_READ_TXN, list_txn, &a, cause) != 0) {
		if (a.cause != NULL)
			store_set_cause(cause, a.cause);
		r = -1;
	} else {
		for (i = 0; i < a.n; i++)
			if (cb(&a.tokens[i], arg) != 0)
				break;
	}
	if (a.tokens != NULL)
		explicit_bzero(a.tokens, a.cap * sizeof(*a.tokens));
	free(a.tokens);
	return (r);
}

static int
delete_txn(struct store *s, DB_TXN *txn, void *arg)
{
	struct token_arg *a = arg;
	struct token t;
	DBT k, d;
	int ret, dec;

	dbt_of(&k, a->name, strlen(a->name));
	memset(&d, 0, sizeof(d));
	d.flags = DB_DBT_MALLOC;
	ret = s->tokens->get(s->tokens, txn, &k, &d, DB_RMW);
	if (ret == DB_NOTFOUND)
		return (STORE_NOTFOUND);
	if (ret != 0)
		return (token_err(s, ret, &a->cause, "read", a->name));
	dec = token_decode(d.data, d.size, &t);
	free(d.data);
	if ((ret = s->tokens->del(s->tokens, txn, &k, 0)) != 0)
		return (token_err(s, ret, &a->cause, "delete", a->name));
	if (dec == 0) {
		dbt_of(&k, t.hash, TOKEN_HASH_LEN);
		ret = s->token_hash->del(s->token_hash, txn, &k, 0);
		if (ret != 0 && ret != DB_NOTFOUND)
			return (token_err(s, ret, &a->cause, "delete hash", a->name));
	}
	return (0);
}

int
store_token_delete(struct store *s, const char *name, char **cause)
{
	struct token_arg a;
	int r;

	if (store_check_writer(s, "store_token_delete", cause) != 0)
		return (-1);
	memset(&a, 0, sizeof(a));
	a.name = name;
	r = store_with_txn(s, 0, delete_txn, &a, cause);
	if (r == STORE_NOTFOUND)
		return (STORE_NOTFOUND);
	if (r != 0) {
		if (a.cause != NULL)
			store_set_cause(cause, a.cause);
		return (-1);
	}
	return (0);
}
