/* hmac.c: HMAC-SHA256 for the pagination cursors (cursor.c, results_cursor.c).
 *
 * OpenSSL's one-shot HMAC() looks the MAC and the digest up by name at every call
 * (EVP_Q_mac: EVP_MAC_fetch, the digest parameter, a context made and freed): 9% of
 * jobsd-http's CPU time serving a page of jobs, which signs the page's end cursor. A
 * process uses one cursor key, so the context initialised with the last key used is kept
 * and duplicated for each MAC; another key replaces it. The cache is the process's own,
 * behind a mutex (the supervisor's helper threads do not sign cursors, but nothing needs
 * to know that). */
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "hmac.h"

#define HMAC_CACHE_KEY_MAX 64 /* a longer key is not cached */

static struct {
	pthread_mutex_t mu;
	EVP_MAC_CTX *ctx; /* initialised with key */
	uint8_t key[HMAC_CACHE_KEY_MAX];
	size_t keylen;
} cache = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* A context initialised with key, or NULL. */
static EVP_MAC_CTX *
ctx_new(const uint8_t *key, size_t keylen)
{
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx;
	EVP_MAC *mac;

	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		return (NULL);
	ctx = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac); /* the context holds its own reference */
	if (ctx == NULL)
		return (NULL);
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(ctx, key, keylen, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		return (NULL);
	}
	return (ctx);
}

/* A context for key, ready for update: a duplicate of the cached one. Called locked. */
static EVP_MAC_CTX *
ctx_for(const uint8_t *key, size_t keylen)
{
	EVP_MAC_CTX *fresh;

	if (keylen > HMAC_CACHE_KEY_MAX)
		return (ctx_new(key, keylen));
	if (cache.ctx == NULL || cache.keylen != keylen ||
	    CRYPTO_memcmp(cache.key, key, keylen) != 0) {
		if ((fresh = ctx_new(key, keylen)) == NULL)
			return (NULL);
		EVP_MAC_CTX_free(cache.ctx);
		cache.ctx = fresh;
		memcpy(cache.key, key, keylen);
		cache.keylen = keylen;
	}
	return (EVP_MAC_CTX_dup(cache.ctx));
}

int
hmac_sha256(const uint8_t *key, size_t keylen, const void *msg, size_t len,
	    uint8_t out[HMAC_SHA256_LEN])
{
	EVP_MAC_CTX *ctx;
	size_t outlen = 0;
	int ok;

	pthread_mutex_lock(&cache.mu);
	ctx = ctx_for(key, keylen);
	pthread_mutex_unlock(&cache.mu);
	if (ctx == NULL)
		return (-1);
	ok = EVP_MAC_update(ctx, msg, len) == 1 &&
	     EVP_MAC_final(ctx, out, &outlen, HMAC_SHA256_LEN) == 1 && outlen == HMAC_SHA256_LEN;
	EVP_MAC_CTX_free(ctx);
	return (ok ? 0 : -1);
}
