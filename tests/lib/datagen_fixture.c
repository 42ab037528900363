/* datagen_fixture.c: running jobsd-datagen and reading its manifest for the integration
 * tests (see datagen_fixture.h). */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "datagen_fixture.h"
#include "testlib.h"

void
dg_run(const char *const *args)
{
	const char *argv[16];
	char prog[PATH_MAX];
	struct tl_run r;
	size_t n = 0;

	snprintf(prog, sizeof prog, "%s/jobsd-datagen", tl_bin_dir());
	argv[n++] = prog;
	while (*args != NULL) {
		ck_assert_msg(n < 15, "dg_run: too many arguments");
		argv[n++] = *args++;
	}
	argv[n] = NULL;
	tl_run(&r, argv, NULL, 60000);
	ck_assert_msg(r.status == 0, "jobsd-datagen: exit %d: %s", r.status, r.err);
	tl_run_free(&r);
}

yajl_val
dg_manifest(const char *dir)
{
	char path[PATH_MAX], *text;
	yajl_val v;

	snprintf(path, sizeof path, "%s/manifest.json", dir);
	text = tl_read_file(path);
	ck_assert_msg(text != NULL, "no %s", path);
	v = tl_json(text);
	ck_assert_msg(v != NULL, "%s is not JSON", path);
	free(text);
	return v;
}
