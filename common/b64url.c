/* b64url.c: unpadded base64url (RFC 4648, section 5), shared by the job cursors
 * (cursor.c) and the result cursors (results_cursor.c). */
#include "b64url.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
b64url_encode(const uint8_t *in, size_t n, char *out)
{
	uint32_t acc = 0;
	size_t i, o = 0;
	int bits = 0;

	for (i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = alphabet[(acc >> bits) & 0x3f];
		}
	}
	if (bits > 0)
		out[o++] = alphabet[(acc << (6 - bits)) & 0x3f];
	out[o] = '\0';
	return (o);
}

static int
value(char c)
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

ssize_t
b64url_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	size_t i, n = 0;
	int bits = 0, v;

	for (i = 0; i < len; i++) {
		if ((v = value(s[i])) == -1)
			return (-1);
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return (-1);
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	if ((acc & ((1u << bits) - 1)) != 0)
		return (-1);
	return ((ssize_t)n);
}
