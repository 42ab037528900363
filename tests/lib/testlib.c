/* testlib.c: integration-test helpers (see testlib.h): private daemons on temp dirs, program
 * runs with captured output, direct control-socket requests, bounded polling, /proc
 * inspection, JSON checks, and the cleanup that survives a failed or timed-out test. */
#include <sys/prctl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "testlib.h"

#define TL_MAX_DAEMONS 8
#define TL_POLL_MS 20

/* The run's root (made by the unchecked fixture in the runner, inherited by each forked
 * test); "" when tests run without it. */
static char tl_root[64];
/* Daemons of the current test, stopped and removed by tl_teardown. */
static struct tl_daemon *tl_daemons[TL_MAX_DAEMONS];
static size_t tl_ndaemons;

/* --- small utilities --------------------------------------------------------- */

int64_t
tl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

void
tl_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

void
tl_write_file(const char *path, const char *content)
{
	FILE *f;

	if ((f = fopen(path, "w")) == NULL)
		ck_abort_msg("fopen %s: %s", path, strerror(errno));
	fputs(content, f);
	if (fclose(f) != 0)
		ck_abort_msg("write %s: %s", path, strerror(errno));
}

char *
tl_read_file(const char *path)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (NULL);
	for (;;) {
		if (cap - len < 4096) {
			cap = cap * 2 + 8192;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (buf);
}

int
tl_rm_rf(const char *path)
{
	struct dirent *de;
	struct stat st;
	char sub[PATH_MAX];
	DIR *dir;
	int rv = 0;

	if (lstat(path, &st) == -1)
		return (errno == ENOENT ? 0 : -1);
	if (!S_ISDIR(st.st_mode))
		return (unlink(path));
	if ((dir = opendir(path)) == NULL)
		return (-1);
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= sizeof(sub))
			continue;
		if (tl_rm_rf(sub) == -1)
			rv = -1;
	}
	closedir(dir);
	if (rmdir(path) == -1)
		rv = -1;
	return (rv);
}

int
tl_copy_dir(const char *from, const char *to)
{
	char src[PATH_MAX], dst[PATH_MAX], buf[8192];
	struct dirent *de;
	struct stat st;
	ssize_t n;
	int in, out, rv = 0;
	DIR *dir;

	if (mkdir(to, 0700) == -1 && errno != EEXIST)
		return (-1);
	if ((dir = opendir(from)) == NULL)
		return (-1);
	while (rv == 0 && (de = readdir(dir)) != NULL) {
		snprintf(src, sizeof(src), "%s/%s", from, de->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", to, de->d_name);
		if (stat(src, &st) == -1 || !S_ISREG(st.st_mode))
			continue;
		if ((in = open(src, O_RDONLY | O_CLOEXEC)) == -1) {
			rv = -1;
			break;
		}
		if ((out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1) {
			close(in);
			rv = -1;
			break;
		}
		while ((n = read(in, buf, sizeof(buf))) > 0) {
			if (write(out, buf, (size_t)n) != n) {
				rv = -1;
				break;
			}
		}
		if (n < 0)
			rv = -1;
		close(in);
		if (close(out) == -1)
			rv = -1;
	}
	closedir(dir);
	return (rv);
}

int
tl_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, port;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		ck_abort_msg("socket: %s", strerror(errno));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		ck_abort_msg("bind 127.0.0.1:0: %s", strerror(errno));
	port = ntohs(sin.sin_port);
	close(fd);
	return (port);
}

const char *
tl_bin_dir(void)
{
	const char *d = getenv("JOBSD_BIN_DIR");

	if (d == NULL || *d == '\0')
		ck_abort_msg("JOBSD_BIN_DIR is not set: run integration tests with "
			     "`make unit T=...` or `make check`, or export "
			     "JOBSD_BIN_DIR=/path/to/build");
	return (d);
}

const char *
tl_fixtures_dir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("JOBSD_FIXTURES_DIR");

	if (dir[0] != '\0')
		return (dir);
	if (realpath(env != NULL && *env != '\0' ? env : "tests/fixtures", dir) == NULL)
		ck_abort_msg("fixtures not found (%s): run from the source tree or set "
			     "JOBSD_FIXTURES_DIR",
			     env != NULL ? env : "tests/fixtures");
	return (dir);
}

void
tl_mkdtemp(char *path, const char *prefix)
{
	if (tl_root[0] != '\0')
		snprintf(path, PATH_MAX, "%s/%s-XXXXXX", tl_root, prefix);
	else
		snprintf(path, PATH_MAX, "/tmp/jobsd-%s-XXXXXX", prefix);
	if (mkdtemp(path) == NULL)
		ck_abort_msg("mkdtemp %s: %s", path, strerror(errno));
}

/* --- processes --------------------------------------------------------------- */

/* Fields of /proc/PID/stat: comm and state, ppid. -1 if gone. */
static int
proc_stat(pid_t pid, char *comm, size_t commlen, char *state, pid_t *ppid)
{
	char path[64], *buf, *l, *r;
	int pp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((buf = tl_read_file(path)) == NULL)
		return (-1);
	l = strchr(buf, '(');
	r = strrchr(buf, ')');
	if (l == NULL || r == NULL || r < l || sscanf(r + 1, " %c %d", state, &pp) != 2) {
		free(buf);
		return (-1);
	}
	if (comm != NULL)
		snprintf(comm, commlen, "%.*s", (int)(r - l - 1), l + 1);
	*ppid = pp;
	free(buf);
	return (0);
}

bool
tl_pid_alive(pid_t pid)
{
	char state;
	pid_t ppid;

	if (pid <= 0 || proc_stat(pid, NULL, 0, &state, &ppid) == -1)
		return (false);
	return (state != 'Z' && state != 'X');
}

int
tl_wait_gone(pid_t pid, int timeout_ms)
{
	int64_t deadline = tl_now_ms() + timeout_ms;

	while (tl_pid_alive(pid)) {
		if (tl_now_ms() > deadline)
			return (-1);
		tl_sleep_ms(TL_POLL_MS);
	}
	return (0);
}

size_t
tl_children(pid_t parent, const char *comm_prefix, pid_t *out, size_t max)
{
	struct dirent *de;
	char comm[64], state;
	pid_t pid, ppid;
	size_t n = 0;
	DIR *dir;

	if ((dir = opendir("/proc")) == NULL)
		return (0);
	while (n < max && (de = readdir(dir)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		pid = (pid_t)atoi(de->d_name);
		if (proc_stat(pid, comm, sizeof(comm), &state, &ppid) == -1 || ppid != parent ||
		    state == 'Z')
			continue;
		if (comm_prefix != NULL && strncmp(comm, comm_prefix, strlen(comm_prefix)) != 0)
			continue;
		out[n++] = pid;
	}
	closedir(dir);
	return (n);
}

/* Append a pid to the daemon's pid list (read by the unchecked teardown). */
void
tl_track_pid(struct tl_daemon *d, pid_t pid)
{
	char path[PATH_MAX], line[32];
	int fd;

	snprintf(path, sizeof(path), "%s/pids", d->dir);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) == -1)
		return;
	snprintf(line, sizeof(line), "%d\n", (int)pid);
	if (write(fd, line, strlen(line)) == -1)
		log_warn("write %s", path);
	close(fd);
}

/* In a freshly forked child: die with the test process, own process group, quiet stdin,
 * output to fd out/err, no other descriptors. */
static void
child_prepare(pid_t parent, int out, int err)
{
	int null;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	signal(SIGPIPE, SIG_DFL);
	if ((null = open("/dev/null", O_RDONLY)) != -1) {
		dup2(null, 0);
		if (null != 0)
			close(null);
	}
	if (out != 1) {
		dup2(out, 1);
		close(out);
	}
	if (err != 2) {
		if (err == out)
			dup2(1, 2);
		else {
			dup2(err, 2);
			close(err);
		}
	}
	closefrom(3);
}

/* --- running programs ---------------------------------------------------------- */

int
tl_run(struct tl_run *r, const char *const *argv, const char *const *env, int timeout_ms)
{
	return (tl_run_as(r, argv, env, (uid_t)-1, (gid_t)-1, timeout_ms));
}

int
tl_run_as(struct tl_run *r, const char *const *argv, const char *const *env, uid_t uid,
	  gid_t gid, int timeout_ms)
{
	int po[2], pe[2], status = 0, got, nopen;
	size_t len[2] = {0, 0}, cap[2] = {0, 0};
	char *buf[2] = {NULL, NULL};
	struct pollfd pfd[2];
	int64_t deadline;
	pid_t pid, self = getpid();
	bool killed = false;
	char **av;
	size_t i;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	if (pipe2(po, O_CLOEXEC) == -1 || pipe2(pe, O_CLOEXEC) == -1)
		ck_abort_msg("pipe: %s", strerror(errno));
	if ((pid = fork()) == -1)
		ck_abort_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		close(po[0]);
		close(pe[0]);
		dup2(po[1], 1);
		dup2(pe[1], 2);
		child_prepare(self, 1, 2);
		if (gid != (gid_t)-1 && (setgroups(0, NULL) == -1 || setgid(gid) == -1)) {
			fprintf(stderr, "setgid %d: %s\n", (int)gid, strerror(errno));
			_exit(126);
		}
		if (uid != (uid_t)-1 && setuid(uid) == -1) {
			fprintf(stderr, "setuid %d: %s\n", (int)uid, strerror(errno));
			_exit(126);
		}
		unsetenv("JOBSD_SOCKET");
		for (i = 0; env != NULL && env[i] != NULL; i++)
			putenv(xstrdup(env[i]));
		for (i = 0; argv[i] != NULL; i++)
			;
		av = xcalloc(i + 1, sizeof(*av));
		for (i = 0; argv[i] != NULL; i++)
			av[i] = xstrdup(argv[i]);
		execv(av[0], av);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);

	pfd[0].fd = po[0];
	pfd[1].fd = pe[0];
	pfd[0].events = pfd[1].events = POLLIN;
	nopen = 2;
	deadline = tl_now_ms() + timeout_ms;
	while (nopen > 0) {
		int64_t left = deadline - tl_now_ms();

		if (left <= 0) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		got = poll(pfd, 2, (int)left);
		if (got == -1 && errno == EINTR)
			continue;
		for (i = 0; i < 2 && got > 0; i++) {
			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			if (cap[i] - len[i] < 4096) {
				cap[i] = cap[i] * 2 + 8192;
				buf[i] = xrealloc(buf[i], cap[i]);
			}
			n = read(pfd[i].fd, buf[i] + len[i], cap[i] - len[i] - 1);
			if (n > 0)
				len[i] += (size_t)n;
			else if (n == 0 || errno != EINTR) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				nopen--;
			}
		}
	}
	for (i = 0; i < 2; i++) {
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
		if (buf[i] == NULL)
			buf[i] = xmalloc(1);
		buf[i][len[i]] = '\0';
	}
	r->out = buf[0];
	r->err = buf[1];
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status))
		r->status = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		r->status = 128 + WTERMSIG(status);
	if (killed)
		ck_abort_msg("%s did not finish within %d ms; stdout: %s stderr: %s", argv[0],
			     timeout_ms, r->out, r->err);
	return (r->status);
}

void
tl_run_free(struct tl_run *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

int
tl_jobctlv(struct tl_daemon *d, struct tl_run *r, const char *const *args)
{
	const char *argv[64];
	char prog[PATH_MAX];
	size_t n = 0, i;

	snprintf(prog, sizeof(prog), "%s/jobctl", tl_bin_dir());
	argv[n++] = prog;
	argv[n++] = "-s";
	argv[n++] = d != NULL ? d->socket : "/nonexistent/jobsd.sock";
	for (i = 0; args[i] != NULL && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return (tl_run(r, argv, NULL, TL_RUN_TIMEOUT_MS));
}

int
tl_jobctl(struct tl_daemon *d, struct tl_run *r, ...)
{
	const char *args[60];
	size_t n = 0;
	va_list ap;

	va_start(ap, r);
	while (n < 59 && (args[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	args[n] = NULL;
	return (tl_jobctlv(d, r, args));
}

void
tl_json_id(const char *json, char id[32])
{
	yajl_val v = tl_json(json);
	const char *s = tl_jstr(v, "id");

	if (s == NULL || strlen(s) >= 32) {
		yajl_tree_free(v);
		ck_abort_msg("no job id in jobctl output: %s", json);
	}
	snprintf(id, 32, "%s", s);
	yajl_tree_free(v);
}

void
tl_submit(struct tl_daemon *d, char id[32], const char *type, ...)
{
	const char *args[60];
	struct tl_run r;
	const char *p;
	size_t n = 0;
	va_list ap;

	args[n++] = "--json";
	args[n++] = "submit";
	args[n++] = type;
	va_start(ap, type);
	while (n < 57 && (p = va_arg(ap, const char *)) != NULL) {
		args[n++] = "--param";
		args[n++] = p;
	}
	va_end(ap);
	args[n] = NULL;
	if (tl_jobctlv(d, &r, args) != 0)
		ck_abort_msg("jobctl submit %s: exit %d: %s%s", type, r.status, r.out, r.err);
	tl_json_id(r.out, id);
	tl_run_free(&r);
}

int
tl_jobctl_tty(struct tl_daemon *d, struct tl_run *r, ...)
{
	char prog[PATH_MAX], *argv[64], *buf = NULL;
	size_t n = 0, len = 0, cap = 0;
	pid_t pid, self = getpid();
	struct pollfd pfd;
	int64_t deadline;
	const char *a;
	int master, status = 0;
	bool killed = false;
	ssize_t got;
	va_list ap;

	memset(r, 0, sizeof(*r));
	snprintf(prog, sizeof(prog), "%s/jobctl", tl_bin_dir());
	argv[n++] = prog;
	argv[n++] = xstrdup("-s");
	argv[n++] = xstrdup(d != NULL ? d->socket : "/nonexistent/jobsd.sock");
	va_start(ap, r);
	while (n < 63 && (a = va_arg(ap, const char *)) != NULL)
		argv[n++] = xstrdup(a);
	va_end(ap);
	argv[n] = NULL;

	if ((pid = forkpty(&master, NULL, NULL, NULL)) == -1)
		ck_abort_msg("forkpty: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != self)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		closefrom(3);
		unsetenv("JOBSD_SOCKET");
		execv(prog, argv);
		_exit(127);
	}
	while (n > 1)
		free(argv[--n]);

	pfd.fd = master;
	pfd.events = POLLIN;
	deadline = tl_now_ms() + TL_RUN_TIMEOUT_MS;
	for (;;) {
		int64_t left = deadline - tl_now_ms();

		if (left <= 0) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		if (cap - len < 4096) {
			cap = cap * 2 + 8192;
			buf = xrealloc(buf, cap);
		}
		got = read(master, buf + len, cap - len - 1);
		if (got > 0)
			len += (size_t)got;
		else if (got == 0 || errno != EINTR)
			break; /* EIO once the child has gone */
	}
	close(master);
	if (buf == NULL)
		buf = xmalloc(1);
	buf[len] = '\0';
	r->out = buf;
	r->err = xstrdup("");
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (killed)
		ck_abort_msg("jobctl on a tty did not finish: %s", r->out);
	return (r->status);
}

char *
tl_last_line(const char *s)
{
	const char *end = s + strlen(s), *start;

	while (end > s && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	start = end;
	while (start > s && start[-1] != '\n')
		start--;
	return (xstrndup(start, (size_t)(end - start)));
}

int
tl_count_lines(const char *s, const char *needle)
{
	const char *nl;
	int n = 0;
	char *line;

	while (*s != '\0') {
		nl = strchr(s, '\n');
		line = xstrndup(s, nl != NULL ? (size_t)(nl - s) : strlen(s));
		if (strstr(line, needle) != NULL)
			n++;
		free(line);
		if (nl == NULL)
			break;
		s = nl + 1;
	}
	return (n);
}

/* --- the daemon --------------------------------------------------------------- */

struct tl_daemon *
tl_daemon_new(const struct tl_opts *o)
{
	static const struct tl_opts none;
	struct tl_daemon *d;
	char fixture[PATH_MAX], *conf;
	const char *fx;
	int grace;

	if (o == NULL)
		o = &none;
	if (tl_ndaemons >= TL_MAX_DAEMONS)
		ck_abort_msg("too many daemons in one test");
	d = xcalloc(1, sizeof(*d));
	d->pid = -1;
	tl_mkdtemp(d->dir, "it");
	tl_daemons[tl_ndaemons++] = d;

	snprintf(d->data_dir, sizeof(d->data_dir), "%s/data", d->dir);
	snprintf(d->socket, sizeof(d->socket), "%s/jobsd.sock", d->dir);
	snprintf(d->config, sizeof(d->config), "%s/jobsd.conf", d->dir);
	snprintf(d->log_path, sizeof(d->log_path), "%s/jobsd.log", d->dir);
	snprintf(d->source_dir, sizeof(d->source_dir), "%s/source", d->dir);
	if (mkdir(d->data_dir, 0700) == -1)
		ck_abort_msg("mkdir %s: %s", d->data_dir, strerror(errno));

	fx = o->fixture != NULL ? o->fixture : "small";
	if (fx[0] == '/')
		snprintf(fixture, sizeof(fixture), "%s", fx);
	else
		snprintf(fixture, sizeof(fixture), "%s/integration/%s", tl_fixtures_dir(), fx);
	if (tl_copy_dir(fixture, d->source_dir) == -1)
		ck_abort_msg("copy fixture %s: %s", fixture, strerror(errno));

	if (o->http_listen != NULL)
		snprintf(d->http, sizeof(d->http), "%s", o->http_listen);
	grace = o->cancel_grace_s == 0 ? 5 : o->cancel_grace_s < 0 ? 0 : o->cancel_grace_s;
	conf = xasprintf("# written by tests/lib/testlib.c\n"
			 "[jobsd]\n"
			 "data_dir = %s\n"
			 "socket = %s\n"
			 "pid_file = %s/jobsd.pid\n"
			 "max_workers = %d\n"
			 "cancel_grace = %d\n"
			 "log_level = debug\n"
			 "\n"
			 "[source test]\n"
			 "type = csv\n"
			 "path = %s\n"
			 "%s%s%s"
			 "%s\n",
			 d->data_dir, d->socket, d->dir,
			 o->max_workers > 0 ? o->max_workers : 2, grace, d->source_dir,
			 o->http_listen != NULL ? "\n[http]\nlisten = " : "",
			 o->http_listen != NULL ? o->http_listen : "",
			 o->http_listen != NULL ? "\n" : "", o->extra != NULL ? o->extra : "");
	tl_write_file(d->config, conf);
	free(conf);
	return (d);
}

pid_t
tl_daemon_spawn(struct tl_daemon *d)
{
	char prog[PATH_MAX];
	pid_t pid, self = getpid();
	int fd;

	if (d->pid > 0)
		ck_abort_msg("daemon of %s already running", d->dir);
	snprintf(prog, sizeof(prog), "%s/jobsd", tl_bin_dir());
	if ((fd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) == -1)
		ck_abort_msg("open %s: %s", d->log_path, strerror(errno));
	if ((pid = fork()) == -1)
		ck_abort_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		child_prepare(self, fd, fd);
		unsetenv("JOBSD_SOCKET");
		execl(prog, prog, "-f", "-c", d->config, (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	close(fd);
	d->pid = pid;
	tl_track_pid(d, pid);
	return (pid);
}

/* The last bytes of the daemon's log, for failure messages. */
static char *
log_tail(struct tl_daemon *d)
{
	char *log = tl_read_file(d->log_path), *tail;
	size_t len;

	if (log == NULL)
		return (xstrdup("(no log)"));
	len = strlen(log);
	tail = xstrdup(len > 3000 ? log + len - 3000 : log);
	free(log);
	return (tail);
}

char *
tl_daemon_log(struct tl_daemon *d)
{
	char *log = tl_read_file(d->log_path);

	return (log != NULL ? log : xstrdup(""));
}

bool
tl_daemon_exited(struct tl_daemon *d)
{
	int status;

	if (d->pid <= 0)
		return (true);
	if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
		d->last_status = status;
		d->pid = -1;
		return (true);
	}
	return (false);
}

void
tl_daemon_start(struct tl_daemon *d)
{
	int64_t deadline;
	char *tail;

	tl_daemon_spawn(d);
	deadline = tl_now_ms() + TL_START_TIMEOUT_MS;
	for (;;) {
		if (tl_ping(d, 500) == 0)
			return;
		if (tl_daemon_exited(d)) {
			tail = log_tail(d);
			ck_abort_msg("jobsd exited at start (status 0x%x); log:\n%s",
				     d->last_status, tail);
		}
		if (tl_now_ms() > deadline) {
			tail = log_tail(d);
			ck_abort_msg("jobsd did not answer PING within %d ms; log:\n%s",
				     TL_START_TIMEOUT_MS, tail);
		}
		tl_sleep_ms(TL_POLL_MS);
	}
}

/* Send sig, wait up to timeout_ms for exit; 0 and the status, -1 if still running. */
static int
signal_wait(struct tl_daemon *d, int sig, int timeout_ms)
{
	int64_t deadline = tl_now_ms() + timeout_ms;

	if (d->pid <= 0)
		return (0);
	kill(d->pid, sig);
	while (!tl_daemon_exited(d)) {
		if (tl_now_ms() > deadline)
			return (-1);
		tl_sleep_ms(TL_POLL_MS / 2);
	}
	return (0);
}

/* Kill what the daemon left behind (workers, listeners), by the pids we saw. */
static void
kill_children(pid_t *kids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (tl_pid_alive(kids[i]))
			kill(kids[i], SIGKILL);
	}
}

int
tl_daemon_stop(struct tl_daemon *d)
{
	pid_t kids[64];
	size_t n;

	if (d->pid <= 0)
		return (d->last_status);
	n = tl_children(d->pid, "jobsd", kids, 64);
	if (signal_wait(d, SIGTERM, TL_STOP_TIMEOUT_MS) == -1) {
		kill(d->pid, SIGKILL);
		while (waitpid(d->pid, &d->last_status, 0) == -1 && errno == EINTR)
			;
		d->pid = -1;
		kill_children(kids, n);
		ck_abort_msg("jobsd did not stop within %d ms of SIGTERM", TL_STOP_TIMEOUT_MS);
	}
	return (d->last_status);
}

void
tl_daemon_kill9(struct tl_daemon *d)
{
	if (d->pid <= 0)
		return;
	kill(d->pid, SIGKILL);
	while (waitpid(d->pid, &d->last_status, 0) == -1 && errno == EINTR)
		;
	d->pid = -1;
}

/* A sanitizer report in the daemon's log (its workers and listeners log there too), as a
 * malloc'd excerpt, or NULL. */
static char *
sanitizer_report(struct tl_daemon *d)
{
	static const char *const marks[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
					    "runtime error:", NULL};
	char *log = tl_read_file(d->log_path), *at = NULL, *rep;
	size_t i;

	if (log == NULL)
		return (NULL);
	for (i = 0; marks[i] != NULL && at == NULL; i++)
		at = strstr(log, marks[i]);
	while (at != NULL && at > log && at[-1] != '\n')
		at--; /* from the start of its line */
	rep = at != NULL ? xstrndup(at, 2000) : NULL;
	free(log);
	return (rep);
}

/* Stop everything of d (quietly, for teardown) and remove its dir. */
static void
daemon_destroy(struct tl_daemon *d, char **report)
{
	pid_t kids[64];
	size_t n = 0;

	if (d->pid > 0) {
		n = tl_children(d->pid, "jobsd", kids, 64);
		if (signal_wait(d, SIGTERM, TL_STOP_TIMEOUT_MS) == -1)
			tl_daemon_kill9(d);
		kill_children(kids, n);
	}
	if (*report == NULL)
		*report = sanitizer_report(d);
	tl_rm_rf(d->dir);
	free(d);
}

/* --- fixtures --------------------------------------------------------------------- */

void
tl_setup_all(void)
{
	snprintf(tl_root, sizeof(tl_root), "/tmp/jobsd-tests-XXXXXX");
	if (mkdtemp(tl_root) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", tl_root, strerror(errno));
		tl_root[0] = '\0';
	}
}

/* Kill whatever pids a dead test recorded under dir (only jobsd* processes). */
static void
reap_dir(const char *dir)
{
	char path[PATH_MAX], comm[64], state, *pids, *p;
	pid_t pid, ppid;

	if ((size_t)snprintf(path, sizeof(path), "%s/pids", dir) >= sizeof(path))
		return;
	if ((pids = tl_read_file(path)) == NULL)
		return;
	for (p = pids; *p != '\0';) {
		pid = (pid_t)strtol(p, &p, 10);
		while (*p == '\n')
			p++;
		if (pid <= 0)
			break;
		if (proc_stat(pid, comm, sizeof(comm), &state, &ppid) == -1 ||
		    strncmp(comm, "jobsd", 5) != 0 || state == 'Z')
			continue;
		kill(pid, SIGTERM);
		if (tl_wait_gone(pid, 5000) == -1)
			kill(pid, SIGKILL);
	}
	free(pids);
}

void
tl_teardown_all(void)
{
	struct dirent *de;
	char sub[PATH_MAX];
	DIR *dir;

	if (tl_root[0] == '\0')
		return;
	if ((dir = opendir(tl_root)) != NULL) {
		while ((de = readdir(dir)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", tl_root, de->d_name);
			reap_dir(sub);
		}
		closedir(dir);
	}
	tl_rm_rf(tl_root);
	tl_root[0] = '\0';
}

void
tl_setup(void)
{
	tl_ndaemons = 0;
	signal(SIGPIPE, SIG_IGN);
}

void
tl_teardown(void)
{
	char *report = NULL;

	while (tl_ndaemons > 0)
		daemon_destroy(tl_daemons[--tl_ndaemons], &report);
	/* A sanitizer build's daemon, worker or listener reported an error: fail the test. */
	if (report != NULL)
		ck_abort_msg("sanitizer report in the daemon's log:\n%s", report);
}

TCase *
tl_tcase(const char *name, double timeout_s)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, tl_setup_all, tl_teardown_all);
	tcase_add_checked_fixture(tc, tl_setup, tl_teardown);
	tcase_set_timeout(tc, timeout_s);
	return (tc);
}

/* --- control socket ------------------------------------------------------------------ */

int
tl_connect(struct tl_daemon *d)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(d->socket) >= sizeof(sun.sun_path))
		return (-1);
	memcpy(sun.sun_path, d->socket, strlen(d->socket) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

int
tl_call(struct tl_daemon *d, enum msg_type type, const char *const *kv, int timeout_ms,
	struct tl_reply *rep)
{
	struct ipc_writer w;
	msgpack_packer *pk;
	enum ipc_next rv;
	char *cause = NULL;
	size_t n = 0, i;

	memset(rep, 0, sizeof(*rep));
	ipc_reader_init(&rep->r);
	if ((rep->fd = tl_connect(d)) == -1) {
		ipc_reader_destroy(&rep->r);
		return (-1);
	}
	while (kv != NULL && kv[n] != NULL && kv[n + 1] != NULL)
		n += 2;
	ipc_writer_init(&w);
	pk = ipc_begin(&w, type, 7);
	msgpack_pack_map(pk, n / 2);
	for (i = 0; i < n; i += 2)
		ipc_pack_kv_str(pk, kv[i], kv[i + 1]);
	ipc_end(&w);
	if (ipc_write_all(rep->fd, w.buf.data, w.buf.size) == -1) {
		ipc_writer_destroy(&w);
		tl_reply_free(rep);
		return (-1);
	}
	ipc_writer_destroy(&w);
	rv = ipc_read_msg(rep->fd, &rep->r, &rep->m, timeout_ms, &cause);
	free(cause);
	if (rv != IPC_MSG || rep->m.id != 7 ||
	    (rep->m.type != MSG_CTL_OK && rep->m.type != MSG_CTL_FAIL)) {
		tl_reply_free(rep);
		return (-1);
	}
	rep->ok = rep->m.type == MSG_CTL_OK;
	return (0);
}

void
tl_reply_free(struct tl_reply *rep)
{
	if (rep->fd >= 0)
		close(rep->fd);
	rep->fd = -1;
	ipc_reader_destroy(&rep->r);
}

int
tl_ping(struct tl_daemon *d, int timeout_ms)
{
	struct tl_reply rep;
	bool ok;

	if (tl_call(d, MSG_CTL_PING, NULL, timeout_ms, &rep) == -1)
		return (-1);
	ok = rep.ok;
	tl_reply_free(&rep);
	return (ok ? 0 : -1);
}

int
tl_job(struct tl_daemon *d, const char *id, bool progress, struct job *j)
{
	const char *kv[] = {"id", id, NULL};
	const msgpack_object *o;
	struct tl_reply rep;
	char *cause = NULL;
	int rv;

	job_init(j);
	if (tl_call(d, progress ? MSG_CTL_PROGRESS : MSG_CTL_SHOW, kv, 10000, &rep) == -1)
		return (-1);
	if (!rep.ok) {
		tl_reply_free(&rep);
		return (1);
	}
	rv = -1;
	if ((o = ipc_get(&rep.m.body, "job")) != NULL && job_unpack(o, j, &cause) == 0)
		rv = 0;
	free(cause);
	tl_reply_free(&rep);
	return (rv);
}

int
tl_wait_job(struct tl_daemon *d, const char *id, tl_job_pred pred, void *arg, int timeout_ms,
	    struct job *j)
{
	int64_t deadline = tl_now_ms() + timeout_ms;

	job_init(j);
	for (;;) {
		job_free(j);
		if (tl_job(d, id, true, j) == 0 && pred(j, arg))
			return (0);
		if (tl_now_ms() > deadline)
			return (-1);
		tl_sleep_ms(TL_POLL_MS);
	}
}

static bool
pred_status(const struct job *j, void *arg)
{
	return (j->status == *(enum job_status *)arg);
}

int
tl_wait_status(struct tl_daemon *d, const char *id, enum job_status st, int timeout_ms,
	       struct job *j)
{
	return (tl_wait_job(d, id, pred_status, &st, timeout_ms, j));
}

bool
tl_pred_final(const struct job *j, void *arg)
{
	return (job_status_is_final(j->status));
}

bool
tl_pred_processed(const struct job *j, void *arg)
{
	return (j->records_processed != JOB_NULL && j->records_processed >= *(int64_t *)arg);
}

/* --- HTTP ----------------------------------------------------------------------------- */

/* A TCP connection to d->http ("A.B.C.D:PORT"), or -1. */
static int
http_connect(struct tl_daemon *d)
{
	struct sockaddr_in sin;
	char host[64], *colon;
	int fd;

	snprintf(host, sizeof(host), "%s", d->http);
	if ((colon = strrchr(host, ':')) == NULL)
		return (-1);
	*colon = '\0';
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return (-1);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return (-1);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

int
tl_http_wait(struct tl_daemon *d, int timeout_ms)
{
	int64_t deadline = tl_now_ms() + timeout_ms;
	int fd;

	for (;;) {
		if ((fd = http_connect(d)) != -1) {
			close(fd);
			return (0);
		}
		if (tl_now_ms() > deadline)
			return (-1);
		tl_sleep_ms(TL_POLL_MS);
	}
}

int
tl_http(struct tl_daemon *d, const char *method, const char *path, const char *token,
	const char *body, int *status, char **resp)
{
	char *req, *buf = NULL, *hdr_end, *cl;
	size_t len = 0, cap = 0, blen;
	struct pollfd pfd;
	int64_t deadline;
	ssize_t n;
	int fd;

	*resp = NULL;
	if ((fd = http_connect(d)) == -1)
		return (-1);
	{
		char *auth = token != NULL ? xasprintf("Authorization: Bearer %s\r\n", token)
					   : xstrdup("");

		if (body != NULL)
			req = xasprintf("%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: "
					"application/json\r\nContent-Length: %zu\r\n"
					"Connection: close\r\n\r\n%s",
					method, path, d->http, auth, strlen(body), body);
		else
			req = xasprintf("%s %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n"
					"\r\n",
					method, path, d->http, auth);
		free(auth);
	}
	if (ipc_write_all(fd, req, strlen(req)) == -1) {
		free(req);
		close(fd);
		return (-1);
	}
	free(req);

	pfd.fd = fd;
	pfd.events = POLLIN;
	deadline = tl_now_ms() + 10000;
	for (;;) {
		int64_t left = deadline - tl_now_ms();

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
			if (tl_now_ms() < deadline)
				continue;
			free(buf);
			close(fd);
			return (-1);
		}
		if (cap - len < 4096) {
			cap = cap * 2 + 8192;
			buf = xrealloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (buf == NULL)
		return (-1);
	buf[len] = '\0';
	if (sscanf(buf, "HTTP/1.%*c %d", status) != 1 ||
	    (hdr_end = strstr(buf, "\r\n\r\n")) == NULL) {
		free(buf);
		return (-1);
	}
	*hdr_end = '\0';
	blen = len - (size_t)(hdr_end + 4 - buf);
	if ((cl = strcasestr(buf, "\r\nContent-Length:")) != NULL &&
	    (size_t)atol(cl + 17) < blen)
		blen = (size_t)atol(cl + 17);
	*resp = xstrndup(hdr_end + 4, blen);
	free(buf);
	return (0);
}

/* --- JSON ------------------------------------------------------------------------------ */

yajl_val
tl_json(const char *s)
{
	char err[256];

	return (yajl_tree_parse(s, err, sizeof(err)));
}

yajl_val
tl_jget(yajl_val obj, const char *key)
{
	size_t i;

	if (obj == NULL || !YAJL_IS_OBJECT(obj))
		return (NULL);
	for (i = 0; i < obj->u.object.len; i++) {
		if (strcmp(obj->u.object.keys[i], key) == 0)
			return (obj->u.object.values[i]);
	}
	return (NULL);
}

const char *
tl_jstr(yajl_val obj, const char *key)
{
	yajl_val v = tl_jget(obj, key);

	return (v != NULL && YAJL_IS_STRING(v) ? v->u.string : NULL);
}

bool
tl_jnull(yajl_val obj, const char *key)
{
	yajl_val v = tl_jget(obj, key);

	return (v != NULL && YAJL_IS_NULL(v));
}

long long
tl_jint(yajl_val obj, const char *key)
{
	yajl_val v = tl_jget(obj, key);

	if (v == NULL || !YAJL_IS_INTEGER(v))
		ck_abort_msg("JSON field \"%s\" is %s, not an integer", key,
			     v == NULL ? "absent" : "of another type");
	return (YAJL_GET_INTEGER(v));
}

bool
tl_jkeys(yajl_val obj, const char *const *keys, char *why, size_t whylen)
{
	size_t i, k, nkeys = 0;
	bool found;

	if (obj == NULL || !YAJL_IS_OBJECT(obj)) {
		snprintf(why, whylen, "not an object");
		return (false);
	}
	while (keys[nkeys] != NULL)
		nkeys++;
	for (k = 0; k < nkeys; k++) {
		if (tl_jget(obj, keys[k]) == NULL) {
			snprintf(why, whylen, "missing \"%s\"", keys[k]);
			return (false);
		}
	}
	for (i = 0; i < obj->u.object.len; i++) {
		found = false;
		for (k = 0; k < nkeys && !found; k++)
			found = strcmp(obj->u.object.keys[i], keys[k]) == 0;
		if (!found) {
			snprintf(why, whylen, "unexpected \"%s\"", obj->u.object.keys[i]);
			return (false);
		}
	}
	if (obj->u.object.len != nkeys) {
		snprintf(why, whylen, "duplicate keys (%zu fields, %zu expected)",
			 obj->u.object.len, nkeys);
		return (false);
	}
	return (true);
}
