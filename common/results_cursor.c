/* results_cursor.c: the results lists' cursors (results_cursor.h). A cursor is
 *   raw = version(1) last-key mac(16)
 *   mac = HMAC-SHA256(secret, "jobsd-results" 0 version resource 0 filter 0 last-key)
 *         truncated to 16 bytes
 * in base64url without padding. The resource and the filter are not carried: they are the
 * request's, so a cursor only verifies for the list it came from. Decoding checks the
 * alphabet, that the unused bits of the last character are zero (one spelling only) and the
 * MAC in constant time. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "b64url.h"
#include "hmac.h"
#include "log.h"
#include "results_cursor.h"

#define RC_VERSION 1
#define RC_MAC_LEN 16
#define RC_DOMAIN "jobsd-results"


static int
rc_mac(const uint8_t key[CURSOR_KEY_LEN], const char *resource, const char *filter,
       const uint8_t *last, size_t lastlen, uint8_t out[RC_MAC_LEN])
{
	uint8_t md[HMAC_SHA256_LEN], *msg, *p;
	size_t rlen = strlen(resource) + 1, flen = strlen(filter) + 1;
	size_t len = sizeof(RC_DOMAIN) + 1 + rlen + flen + lastlen;
	int ok;

	p = msg = xmalloc(len);
	memcpy(p, RC_DOMAIN, sizeof(RC_DOMAIN));
	p += sizeof(RC_DOMAIN);
	*p++ = RC_VERSION;
	memcpy(p, resource, rlen);
	p += rlen;
	memcpy(p, filter, flen);
	p += flen;
	if (lastlen > 0)
		memcpy(p, last, lastlen);
	ok = hmac_sha256(key, CURSOR_KEY_LEN, msg, len, md) == 0;
	free(msg);
	if (!ok)
		return (-1);
	memcpy(out, md, RC_MAC_LEN);
	OPENSSL_cleanse(md, sizeof(md));
	return (0);
}

char *
results_cursor_encode(const uint8_t key[CURSOR_KEY_LEN], const char *resource,
		      const char *filter, const char *last, size_t lastlen)
{
	uint8_t *raw;
	size_t rawlen = 1 + lastlen + RC_MAC_LEN;
	char *out;

	if (lastlen > RESULTS_CURSOR_KEY_MAX)
		return (NULL);
	raw = xmalloc(rawlen);
	raw[0] = RC_VERSION;
	if (lastlen > 0)
		memcpy(raw + 1, last, lastlen);
	if (rc_mac(key, resource, filter, raw + 1, lastlen, raw + 1 + lastlen) != 0) {
		free(raw);
		return (NULL);
	}
	out = xmalloc(B64URL_LEN(rawlen) + 1);
	b64url_encode(raw, rawlen, out);
	free(raw);
	return (out);
}

int
results_cursor_decode(const uint8_t key[CURSOR_KEY_LEN], const char *resource,
		      const char *filter, const char *s, size_t len, char **last,
		      size_t *lastlen)
{
	uint8_t *raw, mac[RC_MAC_LEN];
	size_t maxraw = 1 + RESULTS_CURSOR_KEY_MAX + RC_MAC_LEN, n, klen;
	ssize_t got;

	*last = NULL;
	*lastlen = 0;
	if (s == NULL || len == 0 || len > B64URL_LEN(maxraw) || len % 4 == 1)
		return (-1);
	raw = xmalloc(len);
	got = b64url_decode(s, len, raw, len);
	if (got < (ssize_t)(1 + RC_MAC_LEN) || raw[0] != RC_VERSION)
		goto bad;
	n = (size_t)got;
	klen = n - 1 - RC_MAC_LEN;
	if (rc_mac(key, resource, filter, raw + 1, klen, mac) != 0 ||
	    CRYPTO_memcmp(mac, raw + 1 + klen, RC_MAC_LEN) != 0)
		goto bad;
	*last = xmalloc(klen + 1);
	memcpy(*last, raw + 1, klen);
	(*last)[klen] = '\0';
	*lastlen = klen;
	free(raw);
	return (0);
bad:
	free(raw);
	return (-1);
}
