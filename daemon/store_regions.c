/*
 * store_regions.c: where the Berkeley DB environment's shared regions (the __db.NNN files:
 * cache, locks, log buffer, transactions) live. Every process maps them MAP_SHARED; on a
 * disk file system each first write to a page of them costs a write-protect fault and a
 * journal handle, and the kernel writes the dirty pages back to disk for nothing (they
 * are rebuilt by every recovery). So the writing roles keep them on a memory file system:
 * REGION_BASE/jobsd-UID-DEV-INO (the data directory's device and inode), with the
 * symlink data_dir/regions pointing there, which is how the joining roles find them.
 * Databases and log files stay in data_dir (DB_ENV->set_data_dir, set_lg_dir). With no
 * usable base (not a directory, too little free space, a directory of that name that is
 * not ours) the regions stay in data_dir, as a warning says.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "store_internal.h"

#define REGIONS_LINK "regions"      /* data_dir/regions -> the region directory */
#define REGIONS_BACKLINK "data_dir" /* region dir/data_dir -> the data directory */
#define REGIONS_PREFIX "jobsd-"
/* The regions grow to about the cache (64 MiB) plus the log buffer (4 MiB) plus the lock
 * table; a memory file system with less free than this is not used. */
#define REGIONS_MIN_FREE (128ull * 1024 * 1024)
/* A region directory without its back link is someone's, being set up, for this long. */
#define REGIONS_SETUP_GRACE_S 60

static char region_base[PATH_MAX] = STORE_REGION_BASE_DEFAULT;

void
store_set_region_base(const char *dir)
{
	snprintf(region_base, sizeof(region_base), "%s", dir != NULL ? dir : "");
}

/* A region file's name: __db.NNN. Not the __db.XXXXXXXX.XXXXXXXX temporary files of a
 * database being created in data_dir, which recovery may need. */
static bool
regions_file(const char *name)
{
	return (strncmp(name, "__db.", 5) == 0 && strlen(name) == 8 &&
	        strspn(name + 5, "0123456789") == 3);
}

/* Remove the region files (__db.NNN) in dir; with rmdir_too, the back link and dir. */
static void
regions_remove_files(const char *dir, bool rmdir_too)
{
	char path[2 * PATH_MAX];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (!regions_file(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	if (!rmdir_too)
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, REGIONS_BACKLINK);
	unlink(path);
	if (rmdir(dir) == -1 && errno != ENOENT)
		log_warnx("cannot remove region directory %s: %s", dir, strerror(errno));
}

/* A region directory of ours whose data directory is gone: left by a daemon that was
 * killed and whose data directory was then deleted. Its processes, if any still run,
 * keep their mappings; nobody can join it any more. */
static bool
regions_stale(const char *dir, const struct stat *st)
{
	char link[2 * PATH_MAX];
	unsigned long long dev, ino;
	struct stat ds;
	unsigned uid;

	if (sscanf(strrchr(dir, '/') + 1, REGIONS_PREFIX "%u-%llx-%llu", &uid, &dev, &ino) != 3)
		return (false);
	if (snprintf(link, sizeof(link), "%s/%s", dir, REGIONS_BACKLINK) >= (int)sizeof(link))
		return (false);
	if (stat(link, &ds) == 0)
		return ((unsigned long long)ds.st_dev != dev ||
		        (unsigned long long)ds.st_ino != ino);
	if (errno != ENOENT)
		return (false);
	if (lstat(link, &ds) == 0) /* a dangling back link: the data directory is gone */
		return (true);
	return (time(NULL) - st->st_mtime > REGIONS_SETUP_GRACE_S);
}

/* Remove the stale region directories of our uid under the base. */
static void
regions_sweep(const char *base)
{
	char prefix[64], path[2 * PATH_MAX];
	struct dirent *de;
	struct stat st;
	size_t plen;
	DIR *d;

	plen = (size_t)snprintf(prefix, sizeof(prefix), REGIONS_PREFIX "%u-", (unsigned)geteuid());
	if ((d = opendir(base)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, plen) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, de->d_name);
		if (lstat(path, &st) == -1 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
			continue;
		if (regions_stale(path, &st)) {
			log_info("removing stale region directory %s", path);
			regions_remove_files(path, true);
		}
	}
	closedir(d);
}

/* mkdir the region directory, or accept an existing one only if it is a real directory
 * of ours that nobody else can enter. */
static int
regions_mkdir(const char *dir, char **why)
{
	struct stat st;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		*why = xasprintf("cannot create %s: %s", dir, strerror(errno));
		return (-1);
	}
	if (lstat(dir, &st) == -1) {
		*why = xasprintf("%s: %s", dir, strerror(errno));
		return (-1);
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
		*why = xasprintf("%s exists and is not a directory of uid %u", dir,
		                 (unsigned)geteuid());
		return (-1);
	}
	if ((st.st_mode & 077) != 0 && chmod(dir, 0700) == -1) {
		*why = xasprintf("%s has mode %04o and chmod failed: %s", dir,
		                 (unsigned)(st.st_mode & 07777), strerror(errno));
		return (-1);
	}
	return (0);
}

/* Replace the symlink at path with one to target (a temporary name, then rename). */
static int
regions_symlink(const char *target, const char *path, char **why)
{
	char tmp[2 * PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	unlink(tmp);
	if (symlink(target, tmp) == -1 || rename(tmp, path) == -1) {
		*why = xasprintf("symlink %s -> %s: %s", path, target, strerror(errno));
		unlink(tmp);
		return (-1);
	}
	return (0);
}

/* The region directory for data_dir under base, set up; NULL with *why if unusable. */
static char *
regions_make(const char *data_dir, const char *base, char **why)
{
	char dir[2 * PATH_MAX], link[2 * PATH_MAX], real[PATH_MAX];
	struct statvfs vfs;
	struct stat st;

	if (stat(base, &st) == -1 || !S_ISDIR(st.st_mode)) {
		*why = xasprintf("%s is not a directory", base);
		return (NULL);
	}
	if (statvfs(base, &vfs) == -1 ||
	    (unsigned long long)vfs.f_bavail * vfs.f_frsize < REGIONS_MIN_FREE) {
		*why = xasprintf("%s has less than %llu MiB free", base, REGIONS_MIN_FREE >> 20);
		return (NULL);
	}
	if (stat(data_dir, &st) == -1 || realpath(data_dir, real) == NULL) {
		*why = xasprintf("%s: %s", data_dir, strerror(errno));
		return (NULL);
	}
	if (snprintf(dir, sizeof(dir), "%s/" REGIONS_PREFIX "%u-%llx-%llu", base,
	             (unsigned)geteuid(), (unsigned long long)st.st_dev,
	             (unsigned long long)st.st_ino) >= (int)sizeof(dir) ||
	    snprintf(link, sizeof(link), "%s/%s", dir, REGIONS_BACKLINK) >= (int)sizeof(link)) {
		*why = xasprintf("%s: path too long", base);
		return (NULL);
	}
	if (regions_mkdir(dir, why) != 0 || regions_symlink(real, link, why) != 0)
		return (NULL);
	return (xstrdup(dir));
}

/* Where data_dir/regions points, if that is a region directory of ours (a name this
 * file makes, a real directory of our uid); else "". */
static void
regions_linked(const char *data_dir, char *out, size_t len)
{
	char link[2 * PATH_MAX], prefix[64];
	const char *name;
	struct stat st;
	ssize_t n;

	out[0] = '\0';
	snprintf(link, sizeof(link), "%s/%s", data_dir, REGIONS_LINK);
	if ((n = readlink(link, out, len - 1)) <= 0) {
		out[0] = '\0';
		return;
	}
	out[n] = '\0';
	snprintf(prefix, sizeof(prefix), REGIONS_PREFIX "%u-", (unsigned)geteuid());
	name = strrchr(out, '/') != NULL ? strrchr(out, '/') + 1 : out;
	if (strncmp(name, prefix, strlen(prefix)) != 0 || lstat(out, &st) == -1 ||
	    !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		out[0] = '\0';
}

char *
store_regions_prepare(const char *data_dir)
{
	char link[2 * PATH_MAX], prev[PATH_MAX], *dir = NULL, *why = NULL;

	snprintf(link, sizeof(link), "%s/%s", data_dir, REGIONS_LINK);
	regions_linked(data_dir, prev, sizeof(prev));
	if (region_base[0] != '\0') {
		regions_sweep(region_base);
		if ((dir = regions_make(data_dir, region_base, &why)) != NULL &&
		    regions_symlink(dir, link, &why) == 0) {
			/* Regions an older layout (or a fallback) left in data_dir, and the
			 * directory of a region_dir configured before. */
			regions_remove_files(data_dir, false);
			if (prev[0] != '\0' && strcmp(prev, dir) != 0)
				regions_remove_files(prev, true);
			free(dir);
			return (xstrdup(link));
		}
		log_warnx("keeping the database regions in %s: %s", data_dir, why);
		free(why);
		free(dir);
	}
	unlink(link);
	if (prev[0] != '\0')
		regions_remove_files(prev, true);
	return (xstrdup(data_dir));
}

char *
store_regions_home(const char *data_dir)
{
	char link[2 * PATH_MAX];
	struct stat st;

	snprintf(link, sizeof(link), "%s/%s", data_dir, REGIONS_LINK);
	if (lstat(link, &st) == 0 && S_ISLNK(st.st_mode))
		return (xstrdup(link));
	return (xstrdup(data_dir));
}

void
store_regions_remove(const char *data_dir)
{
	char link[2 * PATH_MAX], dir[PATH_MAX];

	snprintf(link, sizeof(link), "%s/%s", data_dir, REGIONS_LINK);
	regions_linked(data_dir, dir, sizeof(dir));
	unlink(link);
	if (dir[0] != '\0')
		regions_remove_files(dir, true);
}
