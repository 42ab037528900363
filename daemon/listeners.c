/* listeners.c: the jobsd-http processes. The supervisor binds the [http] listen addresses
 * itself (so privileged ports work and every process shares the same sockets), spawns
 * `processes` copies of jobsd-http with a socketpair on fd 3, the listening sockets on
 * fds 4.. (JOBSD_HTTP_FDS=N) and the token epoch's memfd after them (JOBSD_HTTP_EPOCH_FD),
 * and restarts one that dies, backing off when it crash-loops. A listener's death never
 * touches a job. */
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobsd.h"
#include "timeutil.h"

#define BIND_RETRIES 30 /* x 100 ms, at startup only */

static void hproc_spawn(struct hproc *);

/* "host:port", "[v6]:port", "*:port", ":port" -> a bound, listening socket. */
static int
listen_one(const char *spec, char **cause)
{
	char host[128], *port;
	struct addrinfo hints, *res = NULL;
	const char *h;
	int fd = -1, on = 1, rc, tries;

	snprintf(host, sizeof(host), "%s", spec);
	if (host[0] == '[') {
		char *rb = strchr(host, ']');
		if (rb == NULL || rb[1] != ':') {
			*cause = xasprintf("listen %s: bad address", spec);
			return (-1);
		}
		*rb = '\0';
		port = rb + 2;
		h = host + 1;
	} else {
		port = strrchr(host, ':');
		if (port == NULL) {
			*cause = xasprintf("listen %s: bad address", spec);
			return (-1);
		}
		*port++ = '\0';
		h = host;
	}
	if (*h == '\0' || strcmp(h, "*") == 0)
		h = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(h, port, &hints, &res)) != 0) {
		*cause = xasprintf("listen %s: %s", spec, gai_strerror(rc));
		return (-1);
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    res->ai_protocol);
	if (fd == -1) {
		*cause = xasprintf("listen %s: socket: %s", spec, strerror(errno));
		goto fail;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	/* listeners of a daemon that was just killed may still hold the address */
	for (tries = 0;; tries++) {
		if ((rc = bind(fd, res->ai_addr, res->ai_addrlen)) == 0 || errno != EADDRINUSE ||
		    tries == BIND_RETRIES)
			break;
		usleep(100 * 1000);
	}
	if (rc == -1) {
		*cause = xasprintf("listen %s: bind: %s", spec, strerror(errno));
		goto fail;
	}
	if (listen(fd, SOMAXCONN) == -1) {
		*cause = xasprintf("listen %s: %s", spec, strerror(errno));
		goto fail;
	}
	freeaddrinfo(res);
	return (fd);
fail:
	if (fd != -1)
		close(fd);
	freeaddrinfo(res);
	return (-1);
}

int
http_open_listeners(struct jobsd *jsd, char **cause)
{
	char *why = NULL;
	size_t i;
	int fd;

	if (jsd->conf.nlisten == 0)
		return (0);
	if (spawn_resolve(jsd->conf.http_path, "jobsd-http", jsd->http_path,
			  sizeof(jsd->http_path), &why) != 0) {
		log_warnx("[http] listen is set but %s: the REST API is off", why);
		free(why);
		jsd->http_path[0] = '\0';
		return (0);
	}
	for (i = 0; i < jsd->conf.nlisten; i++) {
		if ((fd = listen_one(jsd->conf.listen[i], cause)) == -1) {
			while (jsd->nhttp_fds > 0)
				close(jsd->http_fds[--jsd->nhttp_fds]);
			return (-1);
		}
		jsd->http_fds[jsd->nhttp_fds++] = fd;
	}
	return (0);
}

static void
restart_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct hproc *hp = w->data;

	if (!hp->jsd->stopping && !hp->jsd->recovering && hp->pid == 0)
		hproc_spawn(hp);
}

static void
hproc_retry(struct hproc *hp)
{
	struct jobsd *jsd = hp->jsd;
	int64_t delay = HTTP_RESTART_MIN_MS;
	int i;

	for (i = 0; i < hp->failures && delay < HTTP_RESTART_MAX_MS; i++)
		delay *= 2;
	if (delay > HTTP_RESTART_MAX_MS)
		delay = HTTP_RESTART_MAX_MS;
	ev_timer_stop(jsd->loop, &hp->restart_timer);
	ev_timer_set(&hp->restart_timer, (double)delay / 1000.0, 0.0);
	ev_timer_start(jsd->loop, &hp->restart_timer);
}

static void
hproc_spawn(struct hproc *hp)
{
	struct jobsd *jsd = hp->jsd;
	char env[64], env_epoch[64], *cause = NULL;
	const char *envv[3] = {env, NULL, NULL};
	char *argv[] = {(char *)"jobsd-http", (char *)"-c", jsd->conf_path, NULL};
	int sv[2], fds[CONFIG_MAX_LISTEN + 1];
	size_t nfds = jsd->nhttp_fds;
	pid_t pid;

	snprintf(env, sizeof(env), "JOBSD_HTTP_FDS=%zu", jsd->nhttp_fds);
	memcpy(fds, jsd->http_fds, nfds * sizeof(fds[0]));
	if (jsd->token_epoch.fd != -1) {
		/* After the listening sockets: fd 3 is the link, 4.. the sockets. */
		snprintf(env_epoch, sizeof(env_epoch), "%s=%zu", TOKEN_EPOCH_FD_ENV,
		         (size_t)HTTP_IPC_FD + 1 + nfds);
		envv[1] = env_epoch;
		fds[nfds++] = jsd->token_epoch.fd;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("jobsd-http: socketpair");
		hp->failures++;
		hproc_retry(hp);
		return;
	}
	pid = spawn_child(jsd->http_path, argv, sv[1], fds, nfds, envv, &cause);
	close(sv[1]);
	if (pid == -1) {
		log_warnx("jobsd-http: %s", cause);
		free(cause);
		close(sv[0]);
		hp->failures++;
		hproc_retry(hp);
		return;
	}
	hp->pid = pid;
	hp->started_ms = time_monotonic_ms();
	if ((hp->client = control_client_new(jsd, sv[0], true)) != NULL)
		hp->client->hproc = hp;
	else
		kill(-pid, SIGTERM);
	log_info("jobsd-http[%d] started (pid %ld)", hp->slot, (long)pid);
}

void
http_start(struct jobsd *jsd)
{
	char *cause = NULL;
	size_t i;

	if (jsd->nhttp_fds == 0)
		return;
	if (token_epoch_create(&jsd->token_epoch, &cause) != 0) {
		log_warnx("%s: listeners will check every token in the store", cause);
		free(cause);
	}
	jsd->nhprocs = (size_t)jsd->conf.http_processes;
	jsd->hprocs = xcalloc(jsd->nhprocs, sizeof(*jsd->hprocs));
	for (i = 0; i < jsd->nhprocs; i++) {
		struct hproc *hp = &jsd->hprocs[i];

		hp->jsd = jsd;
		hp->slot = (int)i;
		ev_init(&hp->restart_timer, restart_cb);
		hp->restart_timer.data = hp;
		hproc_spawn(hp);
	}
}

bool
http_reap(struct jobsd *jsd, pid_t pid, int wstatus)
{
	struct hproc *hp = NULL;
	char desc[128];
	size_t i;

	for (i = 0; i < jsd->nhprocs; i++) {
		if (jsd->hprocs[i].pid == pid)
			hp = &jsd->hprocs[i];
	}
	if (hp == NULL)
		return (false);
	hp->pid = 0;
	worker_exit_describe(wstatus, desc, sizeof(desc));
	if (jsd->stopping || jsd->recovering) {
		log_debug("jobsd-http[%d] %s", hp->slot, desc);
		recovery_check(jsd);
		return (true);
	}
	/* A listener that died abnormally may have left lockers, read locks or a snapshot
	 * transaction behind: release them before its replacement starts, or recover the
	 * store if it died inside Berkeley DB. */
	if (!(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0)) {
		char *cause = NULL;

		if (store_failchk(jsd->store, &cause) != 0) {
			log_warnx("jobsd-http[%d] died inside the store: %s", hp->slot, cause);
			free(cause);
			recovery_begin(jsd, "a REST listener died inside Berkeley DB");
			return (true);
		}
	}
	if (hp->restart_now) {
		hp->restart_now = false;
		hproc_spawn(hp);
		return (true);
	}
	if (time_monotonic_ms() - hp->started_ms < HTTP_EARLY_DEATH_MS)
		hp->failures++;
	else
		hp->failures = 0;
	log_warnx("jobsd-http[%d] (pid %ld) %s; restarting", hp->slot, (long)pid, desc);
	hproc_retry(hp);
	return (true);
}

void
http_client_closed(struct jobsd *jsd, struct client *c)
{
	struct hproc *hp = c->hproc;

	if (hp == NULL)
		return;
	hp->client = NULL;
	c->hproc = NULL;
	/* a listener without its supervisor connection is useless: replace it */
	if (hp->pid > 0 && !jsd->stopping)
		kill(-hp->pid, SIGTERM);
}

size_t
http_alive(const struct jobsd *jsd)
{
	size_t i, n = 0;

	for (i = 0; i < jsd->nhprocs; i++)
		n += jsd->hprocs[i].pid > 0;
	return (n);
}

/* Reload: replace every listener (the listening sockets stay open here, so connection
 * attempts wait in the backlog meanwhile; requests in flight on a replaced listener are
 * dropped). */
void
http_restart(struct jobsd *jsd)
{
	size_t i;

	for (i = 0; i < jsd->nhprocs; i++) {
		struct hproc *hp = &jsd->hprocs[i];

		if (hp->pid > 0) {
			hp->restart_now = true;
			if (kill(-hp->pid, SIGTERM) == -1)
				kill(hp->pid, SIGTERM);
		}
	}
	if (jsd->nhprocs > 0)
		log_info("restarting %zu jobsd-http processes for the new configuration",
			 jsd->nhprocs);
}

void
http_pause(struct jobsd *jsd, int sig)
{
	size_t i;

	for (i = 0; i < jsd->nhprocs; i++) {
		struct hproc *hp = &jsd->hprocs[i];

		ev_timer_stop(jsd->loop, &hp->restart_timer);
		hp->restart_now = false;
		if (hp->pid > 0 && kill(-hp->pid, sig) == -1)
			kill(hp->pid, sig);
	}
}

void
http_resume(struct jobsd *jsd)
{
	size_t i;

	for (i = 0; i < jsd->nhprocs; i++) {
		struct hproc *hp = &jsd->hprocs[i];

		if (hp->pid == 0 && !ev_is_active(&hp->restart_timer)) {
			hp->failures = 0;
			hproc_spawn(hp);
		}
	}
}

/* SIGTERM every listener (SIGKILL when called again), close the listening sockets. */
void
http_stop(struct jobsd *jsd)
{
	static bool again;
	size_t i;

	for (i = 0; i < jsd->nhprocs; i++) {
		struct hproc *hp = &jsd->hprocs[i];

		ev_timer_stop(jsd->loop, &hp->restart_timer);
		if (hp->pid > 0 && kill(-hp->pid, again ? SIGKILL : SIGTERM) == -1)
			kill(hp->pid, again ? SIGKILL : SIGTERM);
	}
	again = true;
	while (jsd->nhttp_fds > 0)
		close(jsd->http_fds[--jsd->nhttp_fds]);
	/* No listener starts again, so none needs the descriptor (the mapping goes at exit). */
	if (jsd->token_epoch.fd != -1) {
		close(jsd->token_epoch.fd);
		jsd->token_epoch.fd = -1;
	}
}
