/* hmac.h: HMAC-SHA256 with the key's context prepared once (hmac.c). */
#ifndef JOBSD_HMAC_H
#define JOBSD_HMAC_H

#include <stddef.h>
#include <stdint.h>

#define HMAC_SHA256_LEN 32

/* out = HMAC-SHA256(key, msg); 0, or -1 if libcrypto failed. */
int hmac_sha256(const uint8_t *key, size_t keylen, const void *msg, size_t len,
		uint8_t out[HMAC_SHA256_LEN]);

#endif
