/* main.c: jobsd's entry point: options, the config check (-n), daemonizing (the original
 * process waits for the daemon to report that it started, so startup errors reach the
 * terminal and the exit status), sockets, privilege drop, the store and recovery, then the
 * supervisor's loop; a clean shutdown afterwards.
 *
 * Exit status: 0 clean stop (or -n with a valid config), 1 any startup error (bad config,
 * store unusable or locked by another instance, socket in use), 64 bad usage. */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobsd.h"

#define DEFAULT_CONFIG "/etc/jobsd/jobsd.conf"
#define EXIT_USAGE 64

static int report_fd = -1; /* to the waiting parent while daemonizing */
static bool pid_written;
static struct jobsd jsd;

static void
usage(void)
{
	fprintf(stderr, "usage: jobsd [-fn] [-c file]\n"
			"  -c file  configuration (default " DEFAULT_CONFIG ")\n"
			"  -f       stay in the foreground, log to stderr\n"
			"  -n       check the configuration and exit\n");
	exit(EXIT_USAGE);
}

/* A startup error: logged, and told to the waiting parent (or stderr). */
static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (report_fd != -1) {
		log_warnx("%s", msg);
		if (write(report_fd, "E", 1) == 1 && write(report_fd, msg, strlen(msg)) < 0)
			log_warn("report to parent");
	} else
		fprintf(stderr, "jobsd: %s\n", msg);
	if (jsd.ctl_fd != -1)
		unlink(jsd.conf.socket);
	if (pid_written)
		unlink(jsd.conf.pid_file);
	exit(1);
}

/* Double fork; the original process exits with the daemon's startup status. */
static void
daemonize(void)
{
	char buf[1100];
	ssize_t n;
	size_t got = 0;
	pid_t pid;
	int p[2], fd;

	if (pipe2(p, O_CLOEXEC) == -1) {
		fprintf(stderr, "jobsd: pipe: %s\n", strerror(errno));
		exit(1);
	}
	if ((pid = fork()) == -1) {
		fprintf(stderr, "jobsd: fork: %s\n", strerror(errno));
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		while (got < sizeof(buf) - 1 &&
		       ((n = read(p[0], buf + got, sizeof(buf) - 1 - got)) > 0 ||
			(n == -1 && errno == EINTR)))
			got += n > 0 ? (size_t)n : 0;
		buf[got] = '\0';
		waitpid(pid, NULL, 0);
		if (got >= 2 && buf[0] == 'O' && buf[1] == 'K')
			exit(0);
		if (got > 0 && buf[0] == 'E')
			fprintf(stderr, "jobsd: %s\n", buf + 1);
		else
			fprintf(stderr, "jobsd: the daemon died while starting (see syslog)\n");
		exit(1);
	}
	close(p[0]);
	if (setsid() == -1)
		_exit(1);
	if ((pid = fork()) == -1)
		_exit(1);
	if (pid > 0)
		_exit(0);
	if (chdir("/") == -1)
		_exit(1);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	report_fd = p[1];
}

static void
write_pid_file(const char *path)
{
	char tmp[PATH_MAX + 32], buf[32];
	int fd, n;

	if (*path == '\0')
		return;
	snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
	/* never through a link or into a file someone else put there (a stale one of ours,
	 * same pid, is removed first: unlink does not follow links) */
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)) == -1)
		die("pid file %s: %s", path, strerror(errno));
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n || fsync(fd) == -1 || close(fd) == -1) {
		unlink(tmp);
		die("pid file %s: %s", tmp, strerror(errno));
	}
	if (rename(tmp, path) == -1) {
		unlink(tmp);
		die("pid file %s: %s", path, strerror(errno));
	}
	pid_written = true;
}

static void
drop_privileges(const char *user)
{
	struct passwd *pw;

	if (*user == '\0')
		return;
	if (geteuid() != 0) {
		log_info("not root: ignoring user = %s", user);
		return;
	}
	if ((pw = getpwnam(user)) == NULL)
		die("user %s: no such user", user);
	/* the socket stays usable (and removable) by the daemon's own user */
	if (jsd.ctl_fd != -1 && fchownat(AT_FDCWD, jsd.conf.socket, pw->pw_uid, (gid_t)-1,
					 AT_SYMLINK_NOFOLLOW) == -1)
		die("chown %s: %s", jsd.conf.socket, strerror(errno));
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1)
		die("cannot switch to user %s: %s", user, strerror(errno));
	if (setuid(0) != -1)
		die("cannot drop root privileges");
	jsd.euid = geteuid();
	log_info("running as %s", user);
}

int
main(int argc, char **argv)
{
	const char *conf_arg = DEFAULT_CONFIG;
	bool check_only = false;
	char *cause = NULL;
	struct stat st;
	int ch;

	jsd.ctl_fd = -1;
	while ((ch = getopt(argc, argv, "c:fnh")) != -1) {
		switch (ch) {
		case 'c':
			conf_arg = optarg;
			break;
		case 'f':
			jsd.foreground = true;
			break;
		case 'n':
			check_only = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	if (config_load(conf_arg, &jsd.conf, &cause) != 0) {
		fprintf(stderr, "%s\n", cause);
		free(cause);
		return (1);
	}
	if (realpath(conf_arg, jsd.conf_path) == NULL) {
		fprintf(stderr, "%s: %s\n", conf_arg, strerror(errno));
		return (1);
	}
	if (spawn_resolve(jsd.conf.worker_path, "jobsd-worker", jsd.worker_path,
			  sizeof(jsd.worker_path), &cause) != 0) {
		fprintf(stderr, "%s: worker_path: %s\n", conf_arg, cause);
		free(cause);
		return (1);
	}
	if (check_only) {
		size_t i;

		/* not errors (they may appear later), but worth knowing */
		for (i = 0; i < jsd.conf.nsources; i++) {
			const struct source_conf *s = &jsd.conf.sources[i];

			if (stat(s->path, &st) == -1)
				fprintf(stderr, "%s: warning: source %s: %s: %s\n", conf_arg,
					s->name, s->path, strerror(errno));
			else if (!S_ISDIR(st.st_mode))
				fprintf(stderr, "%s: warning: source %s: %s: not a directory\n",
					conf_arg, s->name, s->path);
		}
		printf("%s: configuration OK\n", conf_arg);
		return (0);
	}

	if (!jsd.foreground)
		daemonize();
	log_init("jobsd", jsd.foreground, supervisor_log_level(jsd.conf.log_level));
	supervisor_init(&jsd);
	if ((jsd.loop = ev_loop_new(EVFLAG_AUTO)) == NULL)
		die("cannot create the event loop");

	if (control_open(&jsd, &cause) != 0)
		die("%s", cause);
	if (http_open_listeners(&jsd, &cause) != 0)
		die("%s", cause);
	drop_privileges(jsd.conf.user);

	if (stat(jsd.conf.data_dir, &st) == -1 && errno == ENOENT &&
	    mkdir(jsd.conf.data_dir, 0700) == -1)
		die("data_dir %s: %s", jsd.conf.data_dir, strerror(errno));
	store_set_region_base(jsd.conf.region_dir);
	if (store_open(jsd.conf.data_dir, STORE_SUPERVISOR, &jsd.store, &cause) != 0)
		die("store %s: %s", jsd.conf.data_dir, cause);
	if (supervisor_recover(&jsd, &cause) != 0)
		die("recovery: %s", cause);
	/* In the foreground the pid file is written only when the file names one: the
	 * default's directory (/run/jobsd) need not exist for a manual run. */
	if (!jsd.foreground || jsd.conf.pid_file_set)
		write_pid_file(jsd.conf.pid_file);

	supervisor_start(&jsd);
	control_start(&jsd);
	http_start(&jsd);
	log_info("started (pid %ld): socket %s, data %s, max_workers %d, %zu sources",
		 (long)getpid(), jsd.conf.socket, jsd.conf.data_dir, jsd.conf.max_workers,
		 jsd.conf.nsources);
	if (report_fd != -1) {
		if (write(report_fd, "OK", 2) != 2)
			log_warn("report to parent");
		close(report_fd);
		report_fd = -1;
	}

	ev_run(jsd.loop, 0);

	/* Shutdown: workers and listeners are gone (or were killed). What is still held
	 * for clients goes out once durable. */
	commit_flush(&jsd);
	control_close(&jsd);
	{
		struct client *c;
		struct pend *p;

		while ((c = TAILQ_FIRST(&jsd.clients)) != NULL) {
			control_client_free(c);
			TAILQ_REMOVE(&jsd.clients, c, entry);
			free(c);
		}
		while ((p = TAILQ_FIRST(&jsd.pending)) != NULL) {
			TAILQ_REMOVE(&jsd.pending, p, entry);
			job_free(&p->job);
			free(p);
		}
	}
	recovery_free(&jsd);
	warm_shutdown(&jsd);
	commit_shutdown(&jsd);
	store_close(jsd.store);
	if (pid_written)
		unlink(jsd.conf.pid_file);
	free(jsd.hprocs);
	token_epoch_close(&jsd.token_epoch);
	ipc_writer_destroy(&jsd.w);
	ev_loop_destroy(jsd.loop);
	log_info("stopped");
	return (jsd.exit_code);
}
