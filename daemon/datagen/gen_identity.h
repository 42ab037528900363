/* gen_identity.h: generate a deterministic identity data set (applications, owners,
 * accounts, groups, memberships as RFC 4180 CSV) plus manifest.json with its known numbers.
 * The data model and every rule are described in docs/datagen.md. */
#ifndef JOBSD_DATAGEN_GEN_IDENTITY_H
#define JOBSD_DATAGEN_GEN_IDENTITY_H

#include <stdint.h>
#include <stdio.h>

#include "catalog.h"

/* 2026-01-01T00:00:00Z: the fixed "now" the data is a year of history before. */
#define GEN_DEFAULT_NOW		1767225600LL
#define GEN_YEAR_SECS		(365LL * 86400)
#define GEN_MAX_OWNERS		100000000ULL

/* PRNG stream tags (rng_init): one per kind of row, so streams never overlap. */
enum gen_tag {
	TAG_APPLICATION = 1,
	TAG_GROUP,
	TAG_OWNER,
	TAG_ACCOUNTS,
	TAG_ORPHAN,
	TAG_MUTATE
};

struct gen_opts {
	uint64_t	owners;
	uint64_t	seed;
	int64_t		now;	/* seconds; rows are modified in [now - 1 year, now) */
};

/* An owner's attributes, all derived from (seed, index) alone. */
struct gen_person {
	const struct cat_name	*first;
	const struct cat_name	*last;
	size_t			 dept;
	size_t			 title;
	size_t			 location;
	const char		*status;	/* active, on_leave, terminated */
	int64_t			 modified_at;
	char			 id[32];	/* own-0000012 */
	char			 employee_id[32];	/* E0000012 */
	char			 display_name[160];
	char			 email[160];	/* ascii first.last12@example.com */
};

void	gen_person(uint64_t seed, int64_t now, uint64_t index, struct gen_person *p);
/* The owner's login in an application of the given style. */
void	gen_login(const struct gen_person *p, uint64_t index, enum cat_login_style style,
	    char *out, size_t outlen);

/* Create out_dir (if needed) and write the five CSV files and manifest.json. A short
 * summary goes to summary if not NULL. */
int	gen_identity(const char *out_dir, const struct gen_opts *opts, FILE *summary,
	    char **cause);

/* mkdir that accepts an existing directory. */
int	gen_mkdir(const char *dir, char **cause);

#endif
