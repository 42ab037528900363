/* rng.h: the data generator's own deterministic PRNG (splitmix64 seeding xoshiro256**).
 * Never rand() or time(): the same seed gives the same stream on every platform. A stream
 * can be derived from (seed, tag, index) so that any row's values can be regenerated from
 * its index alone, without keeping them in memory. */
#ifndef JOBSD_DATAGEN_RNG_H
#define JOBSD_DATAGEN_RNG_H

#include <stdint.h>

struct rng {
	uint64_t	s[4];
};

static inline uint64_t
rng_splitmix64(uint64_t *x)
{
	uint64_t z;

	z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

/* Seed a stream from the run's seed, a tag naming what it generates, and a row index. */
static inline void
rng_init(struct rng *r, uint64_t seed, uint64_t tag, uint64_t index)
{
	uint64_t	x;
	int		i;

	x = seed ^ (tag * 0xd1b54a32d192ed03ULL);
	x = rng_splitmix64(&x) ^ (index * 0x8cb92ba72f3d8dd7ULL);
	for (i = 0; i < 4; i++)
		r->s[i] = rng_splitmix64(&x);
}

static inline uint64_t
rng_rotl(uint64_t v, int k)
{
	return ((v << k) | (v >> (64 - k)));
}

/* xoshiro256** */
static inline uint64_t
rng_next(struct rng *r)
{
	uint64_t	result, t;

	result = rng_rotl(r->s[1] * 5, 7) * 9;
	t = r->s[1] << 17;
	r->s[2] ^= r->s[0];
	r->s[3] ^= r->s[1];
	r->s[1] ^= r->s[2];
	r->s[0] ^= r->s[3];
	r->s[2] ^= t;
	r->s[3] = rng_rotl(r->s[3], 45);
	return (result);
}

/* Uniform in [0, n); n > 0. Lemire's multiply-shift, bias < 2^-32 for our small n. */
static inline uint64_t
rng_below(struct rng *r, uint64_t n)
{
	return ((uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64));
}

/* Uniform in [0, 1) with 53 bits. */
static inline double
rng_unit(struct rng *r)
{
	return ((double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0));
}

#endif
