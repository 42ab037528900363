/* check_store_regions.c: where the environment's shared regions live (store_regions.c),
 * against real environments: on the memory file system under region_dir, named by the
 * data directory's device and inode, reached by the joining roles through data_dir/regions,
 * removed by a clean close; kept in data_dir when the base is unusable; stale directories
 * of deleted data directories swept by the next writer, live ones left alone. Each test
 * uses a base directory of its own under the run's temp root (testlib), never /dev/shm. */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "store.h"
#include "lib/testlib.h"

Suite *store_regions_suite(void);

static char dir[PATH_MAX];  /* per test: the data directory */
static char base[PATH_MAX]; /* per test: the region base */

/* snprintf that fails the test instead of truncating. */
static void pathf(char *out, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
pathf(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, len, fmt, ap);
	va_end(ap);
	ck_assert_msg(n >= 0 && (size_t)n < len, "path too long: %s", out);
}

static bool
exists(const char *fmt, const char *a)
{
	char path[2048];
	struct stat sb;

	pathf(path, sizeof(path), fmt, a);
	return (lstat(path, &sb) == 0);
}

/* The region directory the layout promises for the data directory d under base b. */
static void
expected_dir(const char *b, const char *d, char *out, size_t len)
{
	struct stat sb;

	ck_assert_int_eq(stat(d, &sb), 0);
	pathf(out, len, "%s/jobsd-%u-%llx-%llu", b, (unsigned)geteuid(),
	      (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino);
}

static struct store *
open_at(const char *data_dir, enum store_role role)
{
	struct store *s = NULL;
	char *cause = NULL;

	if (store_open(data_dir, role, &s, &cause) != 0)
		ck_abort_msg("store_open: %s", cause);
	return (s);
}

static struct store *
open_as(enum store_role role)
{
	return (open_at(dir, role));
}

/* A writer of data_dir that is killed (exits without closing): its regions stay. */
static void
killed_writer(const char *data_dir)
{
	struct store *s;
	char *cause = NULL;
	pid_t pid;
	int status;

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0)
		_exit(store_open(data_dir, STORE_SUPERVISOR, &s, &cause) == 0 ? 0 : 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void
setup(void)
{
	log_init("check_store_regions", 1, LOG_LVL_ERR);
	tl_mkdtemp(dir, "data");
	tl_mkdtemp(base, "base");
	store_set_region_base(base);
}

static void
teardown(void)
{
	tl_rm_rf(dir);
	tl_rm_rf(base);
}

START_TEST(test_regions_under_base)
{
	char want[1024], link[1100], got[1024], back[PATH_MAX];
	struct store *s, *r;
	struct stat sb;
	ssize_t n;

	s = open_as(STORE_SUPERVISOR);
	expected_dir(base, dir, want, sizeof(want));
	pathf(link, sizeof(link), "%s/regions", dir);
	n = readlink(link, got, sizeof(got) - 1);
	ck_assert_int_gt(n, 0);
	got[n] = '\0';
	ck_assert_str_eq(got, want);
	ck_assert_int_eq(lstat(want, &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_uint_eq(sb.st_mode & 07777, 0700);
	ck_assert(exists("%s/__db.001", want));
	ck_assert(!exists("%s/__db.001", dir));
	/* The databases and the log stay in the data directory. */
	ck_assert(exists("%s/meta.db", dir));
	ck_assert(exists("%s/log.0000000001", dir));
	ck_assert(!exists("%s/meta.db", want));
	/* The back link names the data directory. */
	pathf(link, sizeof(link), "%s/data_dir", want);
	ck_assert_ptr_nonnull(realpath(link, back));
	ck_assert_ptr_nonnull(realpath(dir, got));
	ck_assert_str_eq(back, got);

	/* A joining role finds them through the link, whatever its own base says. */
	store_set_region_base("/nonexistent");
	r = open_as(STORE_READER);
	store_close(r);
	/* A writer's clean close, nobody else attached, removes them. */
	store_close(s);
	ck_assert(!exists("%s/regions", dir));
	ck_assert(!exists("%s", want));
	ck_assert(exists("%s/meta.db", dir));
}
END_TEST

/* Still attached: the writer's close leaves the regions to the others. */
START_TEST(test_close_with_reader_keeps_regions)
{
	char want[1024];
	struct store *s, *r;

	s = open_as(STORE_SUPERVISOR);
	r = open_as(STORE_READER);
	expected_dir(base, dir, want, sizeof(want));
	store_close(s);
	ck_assert(exists("%s/__db.001", want));
	ck_assert(exists("%s/regions", dir));
	store_close(r);
	/* The next writer recovers and reuses the same directory. */
	s = open_as(STORE_TOOL);
	ck_assert(exists("%s/__db.001", want));
	store_close(s);
	ck_assert(!exists("%s", want));
}
END_TEST

/* No usable base: the regions stay in data_dir, as before, and joiners follow. */
START_TEST(test_fallback_to_data_dir)
{
	char want[1024], path[PATH_MAX];
	struct store *s, *r;
	FILE *f;

	/* The base is missing. */
	store_set_region_base("/nonexistent/regions");
	s = open_as(STORE_SUPERVISOR);
	ck_assert(exists("%s/__db.001", dir));
	ck_assert(!exists("%s/regions", dir));
	r = open_as(STORE_READER);
	store_close(r);
	store_close(s);

	/* The name is taken by something that is not a directory. */
	store_set_region_base(base);
	expected_dir(base, dir, want, sizeof(want));
	ck_assert_ptr_nonnull(f = fopen(want, "w"));
	fclose(f);
	s = open_as(STORE_SUPERVISOR);
	ck_assert(exists("%s/__db.001", dir));
	ck_assert(!exists("%s/regions", dir));
	store_close(s);
	ck_assert_int_eq(unlink(want), 0);

	/* A symlink at the name is not followed. */
	tl_mkdtemp(path, "elsewhere");
	ck_assert_int_eq(symlink(path, want), 0);
	s = open_as(STORE_SUPERVISOR);
	ck_assert(exists("%s/__db.001", dir));
	ck_assert(!exists("%s/__db.001", path));
	store_close(s);
	ck_assert_int_eq(unlink(want), 0);
	tl_rm_rf(path);

	/* "" keeps them in data_dir. */
	store_set_region_base("");
	s = open_as(STORE_SUPERVISOR);
	ck_assert(exists("%s/__db.001", dir));
	ck_assert(!exists("%s/regions", dir));
	store_close(s);
}
END_TEST

/* A memory file system with less than 128 MiB free is not used (a region page touched on
 * a full one would be a SIGBUS). */
START_TEST(test_small_base)
{
	struct store *s;
	bool in_data_dir, linked;

	if (mount("tmpfs", base, "tmpfs", 0, "size=64m") != 0) {
		fprintf(stderr, "check_store_regions: skipping the small base test: mount: %s\n",
		        strerror(errno));
		return;
	}
	/* Unmounted before any assertion: a failed one would end the test right there. */
	s = open_as(STORE_SUPERVISOR);
	in_data_dir = exists("%s/__db.001", dir);
	linked = exists("%s/regions", dir);
	store_close(s);
	ck_assert_int_eq(umount(base), 0);
	ck_assert(in_data_dir);
	ck_assert(!linked);
}
END_TEST

/* Regions an older layout left in data_dir are removed once they live under the base (and
 * nothing else of data_dir's); the job records are intact. */
START_TEST(test_moves_from_data_dir)
{
	char want[1024], tmpfile[PATH_MAX];
	struct store *s;
	uint64_t no = 0;
	char *cause = NULL;

	store_set_region_base("");
	s = open_as(STORE_SUPERVISOR);
	ck_assert_int_eq(store_job_alloc(s, &no, &cause), 0);
	store_close(s);
	ck_assert(exists("%s/__db.001", dir));

	/* what a database creation interrupted by a crash leaves: not a region file */
	pathf(tmpfile, sizeof(tmpfile), "%s/__db.8000002a.c7b0ffb2", dir);
	tl_write_file(tmpfile, "");
	store_set_region_base(base);
	s = open_as(STORE_SUPERVISOR);
	expected_dir(base, dir, want, sizeof(want));
	ck_assert(!exists("%s/__db.001", dir));
	ck_assert(exists("%s", tmpfile));
	ck_assert(exists("%s/__db.001", want));
	ck_assert_int_eq(store_job_alloc(s, &no, &cause), 0);
	ck_assert_uint_eq(no, 2);
	store_close(s);
}
END_TEST

/* A writer that finds the regions elsewhere than it puts them (region_dir changed, or
 * emptied) removes the old directory. */
START_TEST(test_base_changed)
{
	char first[1024], second[PATH_MAX], moved[1024];
	struct store *s;

	expected_dir(base, dir, first, sizeof(first));
	killed_writer(dir); /* its regions stay where they were */
	ck_assert(exists("%s/__db.001", first));

	tl_mkdtemp(second, "base2");
	store_set_region_base(second);
	s = open_as(STORE_SUPERVISOR);
	expected_dir(second, dir, moved, sizeof(moved));
	ck_assert(exists("%s/__db.001", moved));
	ck_assert(!exists("%s", first));
	store_close(s);

	/* and back into data_dir */
	killed_writer(dir);
	ck_assert(exists("%s/__db.001", moved));
	store_set_region_base("");
	s = open_as(STORE_SUPERVISOR);
	ck_assert(!exists("%s", moved));
	ck_assert(exists("%s/__db.001", dir));
	store_close(s);
	tl_rm_rf(second);
}
END_TEST

/* A killed writer's regions whose data directory was then deleted are swept by the next
 * writer of the same uid; a directory whose data directory exists is left alone. */
START_TEST(test_sweep_stale)
{
	char gone[PATH_MAX], live[PATH_MAX], stale[1024], kept[1024];
	struct store *s;

	tl_mkdtemp(gone, "gone");
	tl_mkdtemp(live, "live");
	expected_dir(base, gone, stale, sizeof(stale));
	expected_dir(base, live, kept, sizeof(kept));
	killed_writer(gone);
	killed_writer(live);
	ck_assert(exists("%s/__db.001", stale));
	ck_assert(exists("%s/__db.001", kept));
	tl_rm_rf(gone);

	s = open_as(STORE_SUPERVISOR);
	ck_assert(!exists("%s", stale));
	ck_assert(exists("%s/__db.001", kept));
	store_close(s);
	/* The one left behind is removed by its own writer's clean close. */
	s = open_at(live, STORE_SUPERVISOR);
	store_close(s);
	ck_assert(!exists("%s", kept));
	tl_rm_rf(live);
}
END_TEST

Suite *
store_regions_suite(void)
{
	Suite *s = suite_create("store_regions");
	TCase *tc = tl_tcase("store_regions", 60);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_regions_under_base);
	tcase_add_test(tc, test_close_with_reader_keeps_regions);
	tcase_add_test(tc, test_fallback_to_data_dir);
	tcase_add_test(tc, test_small_base);
	tcase_add_test(tc, test_moves_from_data_dir);
	tcase_add_test(tc, test_base_changed);
	tcase_add_test(tc, test_sweep_stale);
	suite_add_tcase(s, tc);
	return (s);
}
