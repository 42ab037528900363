/* cursor.c: list queries and their opaque pagination cursors. A cursor is
 *   payload = version(1) status(1) type(1) flags(1) from_ms(8) to_ms(8) after_no(8)
 *             after_start_ms(8), integers big-endian, absent filters as 0xff / zero
 *   mac     = HMAC-SHA256(key, payload) truncated to 16 bytes
 * in base64url without padding. Decoding checks the exact length and alphabet, the MAC in
 * constant time, and that the filters in the payload are the request's filters.
 * job_query_init and job_query_by_start are in job_query.c (no libcrypto for their users). */
#include <string.h>

#include <openssl/crypto.h>

#include "b64url.h"
#include "cursor.h"
#include "hmac.h"

#define CURSOR_VERSION 1
#define CURSOR_PAYLOAD_LEN 36
#define CURSOR_MAC_LEN 16
#define CURSOR_RAW_LEN (CURSOR_PAYLOAD_LEN + CURSOR_MAC_LEN)
#define CURSOR_B64_LEN ((CURSOR_RAW_LEN * 8 + 5) / 6)

#define FLAG_FROM 0x01
#define FLAG_TO 0x02


static void
put_u64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return (v);
}

/* The filter part of the payload (bytes 1..19), as q asks for it. */
static void
put_filters(uint8_t *p, const struct job_query *q)
{
	p[0] = q->status < 0 || q->status > 0xfe ? 0xff : (uint8_t)q->status;
	p[1] = q->type < 0 || q->type > 0xfe ? 0xff : (uint8_t)q->type;
	p[2] = (q->has_from ? FLAG_FROM : 0) | (q->has_to ? FLAG_TO : 0);
	put_u64(p + 3, q->has_from ? (uint64_t)q->from_ms : 0);
	put_u64(p + 11, q->has_to ? (uint64_t)q->to_ms : 0);
}

static int
cursor_mac(const uint8_t key[CURSOR_KEY_LEN], const uint8_t *payload,
    uint8_t out[CURSOR_MAC_LEN])
{
	uint8_t md[HMAC_SHA256_LEN];

	if (hmac_sha256(key, CURSOR_KEY_LEN, payload, CURSOR_PAYLOAD_LEN, md) != 0)
		return (-1);
	memcpy(out, md, CURSOR_MAC_LEN);
	OPENSSL_cleanse(md, sizeof(md));
	return (0);
}

void
cursor_encode(const uint8_t key[CURSOR_KEY_LEN], const struct job_query *q, char *out,
    size_t outlen)
{
	uint8_t raw[CURSOR_RAW_LEN];

	if (outlen == 0)
		return;
	out[0] = '\0';
	if (outlen < CURSOR_B64_LEN + 1)
		return;
	raw[0] = CURSOR_VERSION;
	put_filters(raw + 1, q);
	put_u64(raw + 20, q->after_no);
	put_u64(raw + 28, (uint64_t)q->after_start_ms);
	if (cursor_mac(key, raw, raw + CURSOR_PAYLOAD_LEN) == -1)
		return;
	b64url_encode(raw, CURSOR_RAW_LEN, out);
}

int
cursor_decode(const uint8_t key[CURSOR_KEY_LEN], const char *s, size_t len,
    struct job_query *q)
{
	uint8_t raw[CURSOR_RAW_LEN], mac[CURSOR_MAC_LEN], want[19];

	if (s == NULL || len != CURSOR_B64_LEN)
		return (-1);
	if (b64url_decode(s, len, raw, sizeof(raw)) != CURSOR_RAW_LEN)
		return (-1);
	if (cursor_mac(key, raw, mac) == -1 ||
	    CRYPTO_memcmp(mac, raw + CURSOR_PAYLOAD_LEN, CURSOR_MAC_LEN) != 0)
		return (-1);
	if (raw[0] != CURSOR_VERSION)
		return (-1);
	put_filters(want, q);
	if (memcmp(want, raw + 1, sizeof(want)) != 0)
		return (-1);
	q->has_after = true;
	q->after_no = get_u64(raw + 20);
	q->after_start_ms = (int64_t)get_u64(raw + 28);
	return (0);
}
