/* spawn.c: start helper processes (jobsd-worker, jobsd-http) with posix_spawn, so the
 * supervisor's size never matters (no fork of its address space). The child gets its IPC
 * socket on fd 3, optional extra descriptors on fds 4.., nothing else open, its own process
 * group (the supervisor signals the whole group), default signal dispositions and an empty
 * signal mask, and a minimal environment. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobsd.h"
#include "log.h"

/* Passed through for sanitizer runs of the test suite. */
static const char *const keep_env[] = {
	"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TZ", "LANG", "LC_ALL", NULL,
};

#define SPAWN_TMP_FD 64 /* sources are moved above the target range first */

static bool
is_exec(const char *path)
{
	struct stat st;

	return (stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0);
}

int
spawn_resolve(const char *configured, const char *name, char *out, size_t outlen,
	      char **cause)
{
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (configured != NULL && *configured != '\0') {
		if (!is_exec(configured)) {
			*cause = xasprintf("%s: not an executable file", configured);
			return (-1);
		}
		snprintf(out, outlen, "%s", configured);
		return (0);
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		*cause = xasprintf("readlink /proc/self/exe: %s", strerror(errno));
		return (-1);
	}
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL)
		*slash = '\0';
	if ((size_t)snprintf(out, outlen, "%s/%s", self, name) < outlen && is_exec(out))
		return (0);
	/* installed: sbin/jobsd, libexec/jobsd/<name> */
	if ((size_t)snprintf(out, outlen, "%s/../libexec/jobsd/%s", self, name) < outlen &&
	    is_exec(out))
		return (0);
	*cause = xasprintf("%s not found beside %s or in ../libexec/jobsd", name, self);
	return (-1);
}

pid_t
spawn_child(const char *path, char *const argv[], int ipc_fd, const int *extra_fds,
	    size_t nextra, const char *const *env_extra, char **cause)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	char *env[32];
	int tmp[1 + SPAWN_MAX_EXTRA];
	size_t nenv = 0, ntmp = 0, i;
	pid_t pid = -1;
	int error, saved = 0;

	if (nextra > SPAWN_MAX_EXTRA) {
		*cause = xasprintf("too many descriptors");
		return (-1);
	}
	/* Environment: a fixed PATH, sanitizer options, then the caller's. */
	env[nenv++] = xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
	for (i = 0; keep_env[i] != NULL; i++) {
		const char *v = getenv(keep_env[i]);
		if (v != NULL && nenv < 24)
			env[nenv++] = xasprintf("%s=%s", keep_env[i], v);
	}
	for (i = 0; env_extra != NULL && env_extra[i] != NULL && nenv < 31; i++)
		env[nenv++] = xstrdup(env_extra[i]);
	env[nenv] = NULL;

	/* Copy every source above the target range so the dup2s cannot clobber each other. */
	if ((tmp[ntmp] = fcntl(ipc_fd, F_DUPFD_CLOEXEC, SPAWN_TMP_FD)) == -1) {
		saved = errno;
		*cause = xasprintf("fcntl: %s", strerror(errno));
		goto out_env;
	}
	ntmp++;
	for (i = 0; i < nextra; i++) {
		if ((tmp[ntmp] = fcntl(extra_fds[i], F_DUPFD_CLOEXEC, SPAWN_TMP_FD)) == -1) {
			saved = errno;
			*cause = xasprintf("fcntl: %s", strerror(errno));
			goto out_fds;
		}
		ntmp++;
	}

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	for (i = 0; i < ntmp; i++)
		posix_spawn_file_actions_adddup2(&fa, tmp[i], WORKER_IPC_FD + (int)i);
	posix_spawn_file_actions_addclosefrom_np(&fa, WORKER_IPC_FD + (int)ntmp);

	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_USEVFORK);

	error = posix_spawn(&pid, path, &fa, &attr, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (error != 0) {
		*cause = xasprintf("posix_spawn %s: %s", path, strerror(error));
		pid = -1;
	}
	saved = error;
out_fds:
	for (i = 0; i < ntmp; i++)
		close(tmp[i]);
out_env:
	for (i = 0; i < nenv; i++)
		free(env[i]);
	if (pid == -1)
		errno = saved;
	return (pid);
}
