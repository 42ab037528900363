/* gen_jobs.h: historical job records for demos and load tests, written straight into a
 * stopped daemon's data directory (jobsd-datagen --jobs N --data-dir DIR). */
#ifndef JOBSD_DATAGEN_GEN_JOBS_H
#define JOBSD_DATAGEN_GEN_JOBS_H

#include <stdint.h>

/* Append n finished jobs created over the last 365 days, in creation order, numbered from
 * the store's sequence: a realistic mix of types, mostly completed, some failed with an
 * error, some cancelled (a few while still pending). The same seed gives the same jobs
 * relative to the moment of the run. Takes the data_dir lock (STORE_TOOL): fails with
 * "another jobsd is running on DIR (pid N)" while the daemon runs. 0, or -1 and *cause. */
int gen_jobs(const char *data_dir, uint64_t n, uint64_t seed, char **cause);

#endif
