/* datagen_fixture.h: generated data sets for the integration tests: run jobsd-datagen (from
 * $JOBSD_BIN_DIR, like every program of testlib.h) and read the manifest.json it writes,
 * whose numbers the tests expect.
 *
 *	dg_run((const char *const[]){"--owners", "2000", "--seed", "42", "--out", dir, "-q",
 *	    NULL});
 *	m = dg_manifest(dir);
 *	... tl_jint(tl_jget(m, "rows"), "owners") ...
 *	yajl_tree_free(m); */
#ifndef JOBSD_DATAGEN_FIXTURE_H
#define JOBSD_DATAGEN_FIXTURE_H

#include <yajl/yajl_tree.h>

/* jobsd-datagen ARGS... (NULL-terminated, at most 14); the test fails unless it exits 0. */
void dg_run(const char *const *args);
/* dir/manifest.json parsed (the caller frees with yajl_tree_free); the test fails if it is
 * missing or not JSON. */
yajl_val dg_manifest(const char *dir);

#endif
