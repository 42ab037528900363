/* mutate.h: write a changed copy of a generated identity data set: a known split of
 * updates, additions and deletions, deletions.csv, and manifest.json with the exact
 * numbers a sync of the copy must report (docs/datagen.md). */
#ifndef JOBSD_DATAGEN_MUTATE_H
#define JOBSD_DATAGEN_MUTATE_H

#include <stdint.h>
#include <stdio.h>

struct mutate_opts {
	double		pct;	/* 0..100: percent of rows changed */
	uint64_t	seed;
	int64_t		now;	/* changes happen at or after this; INT64_MIN: no floor */
};

/* Of the changed rows: 60% updates, 20% deletions, 20% additions (memberships have no
 * attribute to update: 50% deletions, 50% additions). */
#define MUTATE_UPDATE_SHARE	0.6
#define MUTATE_DELETE_SHARE	0.2
#define MUTATE_ADD_SHARE	0.2

int	mutate_identity(const char *src, const char *out, const struct mutate_opts *opts,
	    FILE *summary, char **cause);

#endif
