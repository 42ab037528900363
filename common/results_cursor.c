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
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "log.h"
#include "results_cursor.h"

#define RC_VERSION 1
#define RC_MAC_LEN 16
#define RC_DOMAIN "jobsd-results"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
rc_mac(const uint8_t key[CURSOR_KEY_LEN], const char *resource, const char *filter,
       const uint8_t *last, size_t lastlen, uint8_t out[RC_MAC_LEN])
{
	uint8_t md[EVP_MAX_MD_SIZE], *msg, *p;
	size_t rlen = strlen(resource) + 1, flen = strlen(filter) + 1;
	size_t len = sizeof(RC_DOMAIN) + 1 + rlen + flen + lastlen;
	unsigned int mdlen = 0;
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
	ok = HMAC(EVP_sha256(), key, CURSOR_KEY_LEN, msg, len, md, &mdlen) != NULL &&
	     mdlen >= RC_MAC_LEN;
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
	size_t rawlen = 1 + lastlen + RC_MAC_LEN, i, n = 0;
	uint32_t acc = 0;
	int bits = 0;
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
	out = xmalloc((rawlen * 8 + 5) / 6 + 1);
	for (i = 0; i < rawlen; i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[n++] = b64url[(acc >> bits) & 0x3f];
		}
	}
	if (bits > 0)
		out[n++] = b64url[(acc << (6 - bits)) & 0x3f];
	out[n] = '\0';
	free(raw);
	return (out);
}

static int
b64url_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (c - 'a' + 26);
	if (c >= '0' && c <= '9')
		return (c - '0' + 52);
	if (c == '-')
		return (62);
	if (c == '_')
		return (63);
	return (-1);
}

int
results_cursor_decode(const uint8_t key[CURSOR_KEY_LEN], const char *resource,
		      const char *filter, const char *s, size_t len, char **last,
		      size_t *lastlen)
{
	uint8_t *raw, mac[RC_MAC_LEN];
	size_t maxraw = 1 + RESULTS_CURSOR_KEY_MAX + RC_MAC_LEN, i, n = 0, klen;
	uint32_t acc = 0;
	int bits = 0, v;

	*last = NULL;
	*lastlen = 0;
	if (s == NULL || len == 0 || len > (maxraw * 8 + 5) / 6 || len % 4 == 1)
		return (-1);
	raw = xmalloc(len);
	for (i = 0; i < len; i++) {
		if ((v = b64url_value(s[i])) == -1)
			goto bad;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			raw[n++] = (uint8_t)(acc >> bits);
		}
	}
	if ((acc & ((1u << bits) - 1)) != 0 || n < 1 + RC_MAC_LEN || raw[0] != RC_VERSION)
		goto bad;
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
