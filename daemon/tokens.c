/* tokens.c: API tokens for jobsd-http, managed only over the control socket. A token is
 * "jsd_" followed by 32 random bytes (getrandom) in base64url without padding; it is shown
 * once, and only its SHA-256 (of the whole string, prefix included) is stored. */
#include <sys/random.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "jobsd.h"
#include "timeutil.h"

#define TOKEN_RANDOM_BYTES 32

static const char *const roles[] = {"Administrator", "Reviewer", "Auditor", NULL};

void
token_hash(const char *token, size_t len, uint8_t hash[TOKEN_HASH_LEN])
{
	unsigned int n = TOKEN_HASH_LEN;

	EVP_Digest(token, len, hash, &n, EVP_sha256(), NULL);
}

int
token_generate(char *out, size_t outlen, uint8_t hash[TOKEN_HASH_LEN], char **cause)
{
	uint8_t raw[TOKEN_RANDOM_BYTES];
	char b64[64];
	size_t got = 0, i, n;
	ssize_t r;

	while (got < sizeof(raw)) {
		r = getrandom(raw + got, sizeof(raw) - got, 0);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			*cause = xasprintf("getrandom: %s", strerror(errno));
			return (-1);
		}
		got += (size_t)r;
	}
	n = (size_t)EVP_EncodeBlock((unsigned char *)b64, raw, sizeof(raw));
	while (n > 0 && b64[n - 1] == '=')
		n--;
	b64[n] = '\0';
	for (i = 0; i < n; i++) {
		if (b64[i] == '+')
			b64[i] = '-';
		else if (b64[i] == '/')
			b64[i] = '_';
	}
	if ((size_t)snprintf(out, outlen, "%s%s", TOKEN_PREFIX, b64) >= outlen) {
		*cause = xasprintf("token buffer too small");
		return (-1);
	}
	token_hash(out, strlen(out), hash);
	explicit_bzero(raw, sizeof(raw));
	return (0);
}

static bool
valid_token_name(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len >= TOKEN_NAME_MAX)
		return (false);
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.' &&
		    s[i] != '@')
			return (false);
	}
	return (true);
}

static int
get_name(struct client *c, const struct ipc_msg *m, char *out)
{
	const char *s;
	size_t len;

	if (ipc_get_str(&m->body, "name", &s, &len) != 0 || !valid_token_name(s, len)) {
		reply_fail(c, m->id, 400, IPC_ERR_INVALID, "name",
			   "name must be 1-%d letters, digits, '.', '_', '-' or '@'",
			   TOKEN_NAME_MAX - 1);
		return (-1);
	}
	snprintf(out, TOKEN_NAME_MAX, "%.*s", (int)len, s);
	return (0);
}

int
tokens_create(struct client *c, const struct ipc_msg *m)
{
	struct token t;
	const char *s;
	size_t len, i;
	char tok[128], *cause = NULL;
	msgpack_packer *pk;
	int rc;

	memset(&t, 0, sizeof(t));
	if (get_name(c, m, t.name) == -1)
		return (0);
	if (ipc_get_str(&m->body, "role", &s, &len) != 0)
		s = "", len = 0;
	for (i = 0; roles[i] != NULL; i++) {
		if (strlen(roles[i]) == len && strncmp(roles[i], s, len) == 0)
			break;
	}
	if (roles[i] == NULL) {
		reply_fail(c, m->id, 400, IPC_ERR_INVALID, "role",
			   "role must be one of Administrator, Reviewer, Auditor");
		return (0);
	}
	snprintf(t.role, sizeof(t.role), "%s", roles[i]);
	if (token_generate(tok, sizeof(tok), t.hash, &cause) != 0) {
		log_warnx("token: %s", cause);
		free(cause);
		reply_fail(c, m->id, 500, IPC_ERR_INTERNAL, NULL, "internal error");
		return (0);
	}
	t.created_ms = time_now_ms();
	rc = store_token_put(c->jsd->store, &t, &cause);
	if (rc == STORE_EXISTS) {
		reply_fail(c, m->id, 409, IPC_ERR_CONFLICT, NULL, "token '%s' already exists",
			   t.name);
		goto out;
	}
	if (rc != 0) {
		log_warnx("token: %s", cause);
		free(cause);
		reply_fail(c, m->id, 500, IPC_ERR_INTERNAL, NULL, "internal error");
		goto out;
	}
	token_epoch_bump(&c->jsd->token_epoch);
	log_info("token '%s' (%s) created by %s", t.name, t.role, c->user);
	pk = reply_begin(c, m->id);
	msgpack_pack_map(pk, 3);
	ipc_pack_kv_str(pk, "name", t.name);
	ipc_pack_kv_str(pk, "role", t.role);
	ipc_pack_kv_str(pk, "token", tok);
	reply_end(c);
out:
	explicit_bzero(tok, sizeof(tok));
	return (0);
}

struct token_acc {
	struct token *v;
	size_t n, cap;
};

static int
token_cb(const struct token *t, void *arg)
{
	struct token_acc *a = arg;

	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n++] = *t;
	return (0);
}

int
tokens_list(struct client *c, const struct ipc_msg *m)
{
	struct token_acc a = {NULL, 0, 0};
	msgpack_packer *pk;
	char *cause = NULL;
	size_t i;

	if (store_token_list(c->jsd->store, token_cb, &a, &cause) != 0) {
		log_warnx("token list: %s", cause);
		free(cause);
		reply_fail(c, m->id, 500, IPC_ERR_INTERNAL, NULL, "internal error");
		free(a.v);
		return (0);
	}
	pk = reply_begin(c, m->id);
	msgpack_pack_map(pk, 1);
	ipc_pack_str(pk, "tokens");
	msgpack_pack_array(pk, a.n);
	for (i = 0; i < a.n; i++) {
		msgpack_pack_map(pk, 3);
		ipc_pack_kv_str(pk, "name", a.v[i].name);
		ipc_pack_kv_str(pk, "role", a.v[i].role);
		ipc_pack_kv_int(pk, "created_ms", a.v[i].created_ms);
	}
	reply_end(c);
	free(a.v);
	return (0);
}

int
tokens_revoke(struct client *c, const struct ipc_msg *m)
{
	char name[TOKEN_NAME_MAX], *cause = NULL;
	msgpack_packer *pk;
	int rc;

	if (get_name(c, m, name) == -1)
		return (0);
	rc = store_token_delete(c->jsd->store, name, &cause);
	if (rc == STORE_NOTFOUND) {
		reply_fail(c, m->id, 404, IPC_ERR_NOT_FOUND, NULL, "token '%s' not found", name);
		return (0);
	}
	if (rc != 0) {
		log_warnx("token revoke: %s", cause);
		free(cause);
		reply_fail(c, m->id, 500, IPC_ERR_INTERNAL, NULL, "internal error");
		return (0);
	}
	/* Committed: from here on no listener may accept it, cache or not (the reply that
	 * tells the administrator it is revoked goes out after this). */
	token_epoch_bump(&c->jsd->token_epoch);
	log_info("token '%s' revoked by %s", name, c->user);
	pk = reply_begin(c, m->id);
	msgpack_pack_map(pk, 1);
	ipc_pack_kv_str(pk, "name", name);
	reply_end(c);
	return (0);
}
