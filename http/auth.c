/* auth.c: bearer tokens. "Authorization: Bearer TOKEN" -> SHA-256 of the token bytes
 * (OpenSSL EVP) -> the listener's token cache, else the token store (both compare in
 * constant time). Every jobs endpoint requires the Administrator role. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "http.h"
#include "log.h"
#include "store.h"
#include "token_cache.h"

/* SHA-256, fetched once: EVP_sha256() makes every EVP_Digest look the algorithm up
 * again in OpenSSL 3, a measurable part of each request. Never freed (one per process). */
static const EVP_MD *
sha256(void)
{
	static EVP_MD *md;

	if (md == NULL)
		md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	return (md != NULL ? md : EVP_sha256());
}

static bool
token_char(unsigned char c)
{
	/* RFC 6750 b64token plus anything printable but space. */
	return (c > 0x20 && c < 0x7f);
}

/* The token whose SHA-256 is hash: from tc when it holds it, else from the store (kept in
 * tc when found). 0, STORE_NOTFOUND, or -1 (logged). */
static int
token_lookup(struct store *st, struct token_cache *tc, const uint8_t *hash, struct token *t)
{
	uint64_t epoch = 0;
	char *cause = NULL;
	int rc;

	if (tc != NULL && token_cache_find(tc, hash, t, &epoch))
		return (0);
	rc = store_token_find(st, hash, t, &cause);
	if (rc == 0 && tc != NULL)
		token_cache_put(tc, epoch, t);
	if (rc != 0 && rc != STORE_NOTFOUND) {
		log_warnx("token lookup: %s", cause != NULL ? cause : "error");
		free(cause);
		return (-1);
	}
	return (rc);
}

int
auth_check(struct store *st, struct token_cache *tc, const struct http_request *req,
           struct http_auth *who)
{
	const char *h, *tok;
	size_t toklen, i;
	uint8_t hash[TOKEN_HASH_LEN];
	unsigned int hlen = 0;
	struct token t;
	int rc;

	memset(who, 0, sizeof(*who));
	if ((h = http_request_header(req, "Authorization")) == NULL)
		return (401);
	while (*h == ' ' || *h == '\t')
		h++;
	if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
		return (401);
	tok = h + 6;
	while (*tok == ' ' || *tok == '\t')
		tok++;
	toklen = strlen(tok);
	while (toklen > 0 && (tok[toklen - 1] == ' ' || tok[toklen - 1] == '\t'))
		toklen--;
	if (toklen == 0 || toklen > 512)
		return (401);
	for (i = 0; i < toklen; i++) {
		if (!token_char((unsigned char)tok[i]))
			return (401);
	}
	if (st == NULL)
		return (500);
	if (EVP_Digest(tok, toklen, hash, &hlen, sha256(), NULL) != 1 ||
	    hlen != TOKEN_HASH_LEN)
		return (500);
	rc = token_lookup(st, tc, hash, &t);
	if (rc == STORE_NOTFOUND)
		return (401);
	if (rc != 0)
		return (500);
	snprintf(who->name, sizeof(who->name), "%s", t.name);
	snprintf(who->role, sizeof(who->role), "%s", t.role);
	if (strcmp(t.role, "Administrator") != 0)
		return (403);
	return (0);
}
