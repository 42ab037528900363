/* sync_ts.c: the canonical-form timestamp test of the incremental sync (see sync_ts.h):
 * fixed positions checked a word at a time, then a bytewise comparison (as big-endian
 * words) with the bound; fixed-width digits compare bytewise in time order. */
#include <string.h>

#include "sync_ts.h"
#include "timeutil.h"

#define MS_0000 (-62167219200000LL)   /* 0000-01-01T00:00:00Z */
#define MS_10000 (253402300800000LL)  /* 10000-01-01T00:00:00Z */

bool
sync_ts_bound(int64_t ms, char bound[SYNC_TS_LEN + 1])
{
	if (ms < MS_0000)
		return false;
	if (ms >= MS_10000) {
		memcpy(bound, "9999-12-31T23:59:59Z", SYNC_TS_LEN + 1);
		return true;
	}
	time_format_rfc3339(ms, bound, SYNC_TS_LEN + 1); /* rounds down to its second */
	return true;
}

/* Every byte of x selected by m is an ASCII digit. */
static inline bool
digits(uint64_t x, uint64_t m)
{
	const uint64_t hi = 0xf0f0f0f0f0f0f0f0ull & m, d = 0x3030303030303030ull & m;

	/* 0x30..0x39: high nibble 3, and still 3 after adding 6 (no carry crosses a byte
	 * whose first test passed). */
	return (x & hi) == d && ((x + 0x0606060606060606ull) & hi) == d;
}

/* The 20 bytes loaded in a, b, c (host order) <= those of bound, bytewise. */
static inline bool
be_le(uint64_t a, uint64_t b, uint32_t c, const char *bound)
{
	uint64_t x, y;
	uint32_t u, v;

	memcpy(&x, bound, 8);
	memcpy(&y, bound + 8, 8);
	memcpy(&v, bound + 16, 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	a = __builtin_bswap64(a);
	b = __builtin_bswap64(b);
	u = __builtin_bswap32(c);
	x = __builtin_bswap64(x);
	y = __builtin_bswap64(y);
	v = __builtin_bswap32(v);
#else
	u = c;
#endif
	if (a != x)
		return a < x;
	if (b != y)
		return b < y;
	return u <= v;
}

bool
sync_ts_not_after(const char *s, size_t len, const char *bound)
{
	static const unsigned char mdays[13] = { 0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	uint64_t a, b;
	uint32_t c;
	unsigned y, mo, d;

	if (len != SYNC_TS_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != 'Z')
		return false;
	memcpy(&a, s, 8);     /* YYYY-MM- */
	memcpy(&b, s + 8, 8); /* DDTHH:MM */
	memcpy(&c, s + 16, 4); /* :SSZ */
	/* The masks select bytes in little-endian order. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (!digits(a, 0x00ffff00ffffffffull) || !digits(b, 0xffff00ffff00ffffull) ||
	    !digits(c, 0x00ffff00u))
		return false;
#else
	if (!digits(__builtin_bswap64(a), 0x00ffff00ffffffffull) ||
	    !digits(__builtin_bswap64(b), 0xffff00ffff00ffffull) ||
	    !digits(__builtin_bswap32(c), 0x00ffff00u))
		return false;
#endif
	mo = (unsigned)(s[5] - '0') * 10 + (unsigned)(s[6] - '0');
	d = (unsigned)(s[8] - '0') * 10 + (unsigned)(s[9] - '0');
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo] || s[14] > '5' || s[17] > '5' ||
	    s[11] > '2' || (s[11] == '2' && s[12] > '3'))
		return false;
	if (mo == 2 && d == 29) {
		y = (unsigned)(s[0] - '0') * 1000 + (unsigned)(s[1] - '0') * 100 +
		    (unsigned)(s[2] - '0') * 10 + (unsigned)(s[3] - '0');
		if (y % 4 != 0 || (y % 100 == 0 && y % 400 != 0))
			return false;
	}
	/* memcmp of the 20 bytes, as three big-endian words (both end in 'Z'). */
	return be_le(a, b, c, bound);
}
