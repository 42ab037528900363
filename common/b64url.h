/* b64url.h: unpadded base64url (RFC 4648, section 5), the spelling of pagination cursors. */
#ifndef JOBSD_B64URL_H
#define JOBSD_B64URL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Characters needed for n bytes, without the NUL. */
#define B64URL_LEN(n) (((n)*8 + 5) / 6)

/* Write the encoding of in[0..n) and a NUL to out (B64URL_LEN(n) + 1 bytes); its length. */
size_t b64url_encode(const uint8_t *in, size_t n, char *out);
/* Decode s[0..len) into out (at most cap bytes): the number of bytes, or -1 for a
 * character outside the alphabet, more than cap bytes, or unused low bits of the last
 * character that are not zero (so that every value has one spelling only). */
ssize_t b64url_decode(const char *s, size_t len, uint8_t *out, size_t cap);

#endif
