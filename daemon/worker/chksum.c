/*
 * chksum.c: Berkeley DB's checksum of pages and log records (DB_CHKSUM), computed faster
 * and bit for bit the same.
 *
 * libdb hashes every page it reads from or writes to a database file, and every log
 * record it writes, with __ham_func4: h = 33 * h + byte over the bytes, from h = 0,
 * modulo 2^32, one byte after the other (about a byte per nanosecond: a sixth of an
 * incremental sync's CPU, a quarter of an unchanged re-sync's). The hash is a polynomial
 * in 33: it is also the sum of each byte times 33 to the power of the bytes after it, and
 * AVX2 computes those products for 64 bytes at a time (eight lanes of eight 32-bit
 * products, one multiply by 33^64 per 64 bytes on the accumulator).
 *
 * The worker is linked with --wrap=__ham_func4 (GNUmakefile), so that libdb's calls from
 * its statically linked hmac.o come to __wrap___ham_func4. chksum_init, called at the
 * worker's start, checks the fast routine against libdb's own (__real___ham_func4) on test
 * data and keeps libdb's when they differ or the CPU has no AVX2. Either way the value is
 * the same, so the files stay what the supervisor (linked to the shared libdb, which keeps
 * its own routine), db5.3_verify and recovery read.
 */
#include <db.h>
#include <string.h>
#ifdef __x86_64__
#include <immintrin.h>
#include <sys/platform/x86.h>
#endif

#include "chksum.h"
#include "log.h"

u_int32_t __real___ham_func4(DB *dbp, const void *key, u_int32_t len);
u_int32_t __wrap___ham_func4(DB *dbp, const void *key, u_int32_t len);

#define CHKSUM_BLOCK 64
#define CHKSUM_TEST_BYTES 1040

/* This process's choice (chksum_init, before any store is opened; read-only after). */
static bool use_fast;
/* 33^k mod 2^32 for k <= CHKSUM_BLOCK, and the lanes' weights: kpow[q][l] = 33^(63 - 8q - l),
 * for byte 8q + l of a block. */
static uint32_t pow33[CHKSUM_BLOCK + 1];
static uint32_t kpow[8][8] __attribute__((aligned(32)));

uint32_t
chksum_bytes(const void *p, size_t len)
{
	const unsigned char *b = p;
	uint32_t h = 0;
	size_t i;

	for (i = 0; i < len; i++)
		h = 33 * h + b[i];
	return h;
}

static void
powers(void)
{
	int k, q, l;

	pow33[0] = 1;
	for (k = 1; k <= CHKSUM_BLOCK; k++)
		pow33[k] = 33 * pow33[k - 1];
	for (q = 0; q < 8; q++) {
		for (l = 0; l < 8; l++)
			kpow[q][l] = pow33[CHKSUM_BLOCK - 1 - 8 * q - l];
	}
}

#ifdef __x86_64__
/* Eight bytes from p, widened to eight lanes, times the weights w. */
__attribute__((target("avx2"))) static inline __m256i
weigh8(const unsigned char *p, const uint32_t *w)
{
	__m256i x = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));

	return _mm256_mullo_epi32(x, _mm256_load_si256((const __m256i *)(const void *)w));
}

__attribute__((target("avx2"))) static uint32_t
hash_avx2(const unsigned char *p, size_t len)
{
	const __m256i step = _mm256_set1_epi32((int)pow33[CHKSUM_BLOCK]);
	__m256i acc = _mm256_setzero_si256(), a, b, c, d;
	uint32_t lane[8] __attribute__((aligned(32))), h = 0;
	size_t i;
	int l;

	for (i = 0; i + CHKSUM_BLOCK <= len; i += CHKSUM_BLOCK) {
		a = _mm256_add_epi32(weigh8(p + i, kpow[0]), weigh8(p + i + 8, kpow[1]));
		b = _mm256_add_epi32(weigh8(p + i + 16, kpow[2]), weigh8(p + i + 24, kpow[3]));
		c = _mm256_add_epi32(weigh8(p + i + 32, kpow[4]), weigh8(p + i + 40, kpow[5]));
		d = _mm256_add_epi32(weigh8(p + i + 48, kpow[6]), weigh8(p + i + 56, kpow[7]));
		acc = _mm256_add_epi32(_mm256_mullo_epi32(acc, step),
		    _mm256_add_epi32(_mm256_add_epi32(a, b), _mm256_add_epi32(c, d)));
	}
	_mm256_store_si256((__m256i *)(void *)lane, acc);
	for (l = 0; l < 8; l++)
		h += lane[l];
	for (; i < len; i++)
		h = 33 * h + p[i];
	return h;
}

/* From what glibc found at its start: __builtin_cpu_supports links libgcc's constructor,
 * which runs CPUID again in every process, each a trap to the hypervisor in a VM (about
 * 50 us of CPU per exec on the benchmark machine, measured on a static program that only
 * asks; 5 to 10% of a turnaround job's worker). */
static bool
have_avx2(void)
{
	return CPU_FEATURE_ACTIVE(AVX2);
}
#else
static uint32_t
hash_avx2(const unsigned char *p, size_t len)
{
	return chksum_bytes(p, len);
}

static bool
have_avx2(void)
{
	return false;
}
#endif

uint32_t
chksum_fast(const void *p, size_t len)
{
	if (pow33[0] == 0)
		powers();
	return have_avx2() ? hash_avx2(p, len) : chksum_bytes(p, len);
}

u_int32_t
__wrap___ham_func4(DB *dbp, const void *key, u_int32_t len)
{
	if (use_fast)
		return hash_avx2(key, len);
	return __real___ham_func4(dbp, key, len);
}

void
chksum_init(void)
{
	/* Short, so that every worker's start pays a microsecond or two: no block, one and
	 * several blocks, with tails of 0 to 63 bytes. */
	static const size_t lens[] = { 0, 1, 7, 63, 64, 65, 127, 200, 1031 };
	unsigned char buf[CHKSUM_TEST_BYTES];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	size_t i;

	powers();
	if (!have_avx2())
		return;
	for (i = 0; i < sizeof buf; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
	for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		if (hash_avx2(buf + 3, lens[i]) !=
		    __real___ham_func4(NULL, buf + 3, (u_int32_t)lens[i])) {
			log_warnx("Berkeley DB's checksum routine is not the one expected (length "
			    "%zu); using it as it is", lens[i]);
			return;
		}
	}
	use_fast = true;
}

bool
chksum_fast_in_use(void)
{
	return use_fast;
}
