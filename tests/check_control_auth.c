/* check_control_auth.c: who may use the control socket (root only: it needs other uids).
 * The socket is created 0660 (umask at bind, no chmod by path) and given to admin_group;
 * a member of admin_group is served whether it is the peer's primary group or only a
 * supplementary one (read from the kernel, SO_PEERGROUPS, not from NSS per connection);
 * a user outside it gets permission_denied. */
#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/testlib.h"

#define ADMIN_GID 1 /* group "daemon" on Debian and Ubuntu */
#define OTHER 65534 /* nobody / nogroup */

Suite *control_auth_suite(void);

/* Put "admin_group = daemon" in the main section of d's configuration. */
static void
set_admin_group(struct tl_daemon *d)
{
	char *conf = tl_read_file(d->config), *p, *out;

	ck_assert_ptr_nonnull(conf);
	p = strstr(conf, "data_dir = ");
	ck_assert_ptr_nonnull(p);
	*p = '\0';
	if (asprintf(&out, "%sadmin_group = daemon\ndata_dir = %s", conf,
		     p + strlen("data_dir = ")) == -1)
		ck_abort();
	tl_write_file(d->config, out);
	free(out);
	free(conf);
}

/* jobctl list as OTHER with primary group gid and supplementary groups groups ("" none). */
static int
list_as(struct tl_daemon *d, const char *gid, const char *groups, struct tl_run *r)
{
	char prog[PATH_MAX], regid[32], grp[64];

	snprintf(prog, sizeof(prog), "%s/jobctl", tl_bin_dir());
	snprintf(regid, sizeof(regid), "--regid=%s", gid);
	if (*groups != '\0')
		snprintf(grp, sizeof(grp), "--groups=%s", groups);
	else
		snprintf(grp, sizeof(grp), "--clear-groups");
	return (tl_run(r,
		       (const char *const[]){"/usr/bin/setpriv", "--reuid=65534", regid, grp,
					     prog, "-s", d->socket, "list", NULL},
		       NULL, 30000));
}

START_TEST(test_admin_group)
{
	struct tl_daemon *d;
	struct tl_run r;
	struct stat st;
	char parent[PATH_MAX], *slash;

	if (getuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0)
		return; /* cannot act as another user */
	d = tl_daemon_new(NULL);
	set_admin_group(d);
	tl_daemon_start(d);

	ck_assert_int_eq(lstat(d->socket, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0660);
	ck_assert_int_eq(st.st_gid, ADMIN_GID);

	/* let the others reach the socket's directory */
	ck_assert_int_eq(chmod(d->dir, 0711), 0);
	snprintf(parent, sizeof(parent), "%s", d->dir);
	if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
		*slash = '\0';
		if (strcmp(parent, "/tmp") != 0)
			ck_assert_int_eq(chmod(parent, 0711), 0);
	}

	/* primary group */
	list_as(d, "1", "", &r);
	ck_assert_msg(r.status == 0, "exit %d: %s %s", r.status, r.out, r.err);
	ck_assert_str_eq(r.out, "no jobs\n");
	tl_run_free(&r);
	/* supplementary group only (the socket's mode lets it connect, the daemon decides) */
	list_as(d, "65534", "1", &r);
	ck_assert_msg(r.status == 0, "exit %d: %s %s", r.status, r.out, r.err);
	ck_assert_str_eq(r.out, "no jobs\n");
	tl_run_free(&r);
	/* outside: the socket's mode refuses it before the daemon does */
	list_as(d, "65534", "", &r);
	ck_assert_int_eq(r.status, 1);
	tl_run_free(&r);
	ck_assert_int_eq(tl_daemon_stop(d), 0);
}
END_TEST

Suite *
control_auth_suite(void)
{
	Suite *s = suite_create("control_auth");
	TCase *tc = tl_tcase("control_auth", 60);

	tcase_add_test(tc, test_admin_group);
	suite_add_tcase(s, tc);
	return (s);
}
