/* control.c: the control socket (jobctl) and the request side of every client connection
 * (control clients and jobsd-http socketpairs): listen, authenticate the peer by
 * SO_PEERCRED, per-connection state, the request dispatch table, replies. A bad frame
 * closes that connection only. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control_results.h"
#include "jobsd.h"
#include "timeutil.h"

typedef int (*handler_fn)(struct client *, const struct ipc_msg *);

static const struct handler {
	uint32_t type;
	handler_fn fn;
	bool control_only; /* refused to jobsd-http */
} handlers[] = {
	{MSG_CTL_PING, ops_ping, false},
	{MSG_CTL_LIST, ops_list, false},
	{MSG_CTL_SHOW, ops_show, false},
	{MSG_CTL_PROGRESS, ops_progress, false},
	{MSG_CTL_RUNNING, ops_running, false},
	{MSG_CTL_CANCEL, ops_cancel, false},
	{MSG_CTL_SUBMIT, ops_submit, false},
	{MSG_CTL_LOG, ops_log, false},
	{MSG_CTL_RESULTS, ops_results, false},
	{MSG_CTL_TOKEN_CREATE, tokens_create, true},
	{MSG_CTL_TOKEN_LIST, tokens_list, true},
	{MSG_CTL_TOKEN_REVOKE, tokens_revoke, true},
};

/* --- replies ------------------------------------------------------------------ */

msgpack_packer *
reply_begin(struct client *c, uint32_t id)
{
	c->jsd->reply_id = id;
	return (ipc_begin(&c->jsd->w, MSG_CTL_OK, id));
}

void
reply_end(struct client *c)
{
	struct ipc_writer *w = &c->jsd->w;

	if (ipc_end(w) == -1) {
		/* the reply is over IPC_MAX_FRAME: say so instead */
		ipc_writer_reset(w);
		log_warnx("reply too large for the IPC frame limit");
		reply_fail(c, c->jsd->reply_id, 500, IPC_ERR_INTERNAL, NULL, "reply too large");
		return;
	}
	if (c->peer == NULL || c->dead) {
		ipc_writer_reset(w);
		return;
	}
	commit_send(c->jsd, &c->out, c->peer, w);
}

void
reply_fail(struct client *c, uint32_t id, int status, const char *code, const char *parameter,
	   const char *fmt, ...)
{
	struct ipc_writer *w = &c->jsd->w;
	msgpack_packer *pk;
	va_list ap;
	char msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pk = ipc_begin(w, MSG_CTL_FAIL, id);
	msgpack_pack_map(pk, 4);
	ipc_pack_kv_int(pk, "status", status);
	ipc_pack_kv_str(pk, "code", code);
	ipc_pack_kv_str(pk, "message", msg);
	ipc_pack_kv_str(pk, "parameter", parameter);
	if (ipc_end(w) == -1 || c->peer == NULL || c->dead) {
		ipc_writer_reset(w);
		return;
	}
	commit_send(c->jsd, &c->out, c->peer, w);
}

void
reply_job(struct client *c, uint32_t id, const struct job *j)
{
	msgpack_packer *pk = reply_begin(c, id);

	msgpack_pack_map(pk, 1);
	ipc_pack_str(pk, "job");
	job_pack(pk, j);
	reply_end(c);
}

/* --- clients ------------------------------------------------------------------- */

static void
gc_cb(struct ev_loop *loop, ev_check *w, int revents)
{
	struct jobsd *jsd = w->data;
	struct client *c, *next;

	if (!jsd->gc_needed)
		return;
	jsd->gc_needed = false;
	for (c = TAILQ_FIRST(&jsd->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->drop && !c->dead) {
			control_client_free(c);
			continue;
		}
		if (c->dead) {
			TAILQ_REMOVE(&jsd->clients, c, entry);
			free(c);
		}
	}
}

/* Close now (safe from any callback); the memory goes at the next loop iteration. */
void
control_client_free(struct client *c)
{
	struct jobsd *jsd = c->jsd;

	if (c->dead)
		return;
	c->dead = true;
	ev_timer_stop(jsd->loop, &c->idle_timer);
	commit_outq_forget(jsd, &c->out);
	if (c->peer != NULL) {
		ipc_peer_free(c->peer);
		c->peer = NULL;
	}
	run_forget_client(jsd, c);
	if (c->is_http)
		http_client_closed(jsd, c);
	jsd->gc_needed = true;
}

void
control_drop(struct client *c)
{
	c->drop = true;
	c->jsd->gc_needed = true;
	if (c->peer != NULL && !c->paused) {
		ipc_peer_pause(c->peer, true);
		c->paused = true;
	}
}

void
control_request_begin(struct client *c)
{
	int max = c->is_http ? CONTROL_HTTP_MAX_OUTSTANDING : CONTROL_MAX_OUTSTANDING;

	c->outstanding++;
	if (c->outstanding >= max && !c->paused && c->peer != NULL) {
		ipc_peer_pause(c->peer, true);
		c->paused = true;
	}
}

void
control_request_done(struct client *c)
{
	int max = c->is_http ? CONTROL_HTTP_MAX_OUTSTANDING : CONTROL_MAX_OUTSTANDING;

	if (c->outstanding > 0)
		c->outstanding--;
	if (c->paused && !c->drop && c->outstanding < max && c->peer != NULL) {
		ipc_peer_pause(c->peer, false);
		c->paused = false;
	}
}

static void
on_client_msg(struct ipc_peer *p, const struct ipc_msg *m, void *arg)
{
	struct client *c = arg;
	size_t i;

	if (c->dead || c->drop)
		return;
	if (!c->is_http)
		ev_timer_again(c->jsd->loop, &c->idle_timer);
	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (handlers[i].type == m->type)
			break;
	}
	if (i == sizeof(handlers) / sizeof(handlers[0])) {
		log_warnx("client %s: unknown request type %u", c->user, m->type);
		reply_fail(c, m->id, 400, IPC_ERR_INVALID, NULL, "unknown request type %u",
			   m->type);
		return;
	}
	if (!c->authorized) {
		reply_fail(c, m->id, 403, IPC_ERR_PERMISSION, NULL,
			   "permission denied: %s is not root, jobsd's user or in admin_group",
			   c->user);
		return;
	}
	if (handlers[i].control_only && c->is_http) {
		reply_fail(c, m->id, 403, IPC_ERR_PERMISSION, NULL,
			   "tokens are managed only over the control socket");
		return;
	}
	if (c->jsd->stopping && m->type != MSG_CTL_PING) {
		reply_fail(c, m->id, 503, IPC_ERR_UNAVAILABLE, NULL, "jobsd is stopping");
		return;
	}
	if (c->jsd->recovering && m->type != MSG_CTL_PING) {
		reply_fail(c, m->id, 503, IPC_ERR_UNAVAILABLE, NULL,
			   "jobsd is recovering its store; try again shortly");
		return;
	}
	if (handlers[i].fn(c, m) == -1)
		control_drop(c);
}

static void
on_client_close(struct ipc_peer *p, const char *reason, void *arg)
{
	struct client *c = arg;

	if (!c->is_http || !c->jsd->stopping)
		log_debug("client %s: closed: %s", c->user, reason);
	if (c->is_http && !c->jsd->stopping && !c->jsd->recovering && c->hproc != NULL &&
	    !c->hproc->restart_now)
		log_warnx("jobsd-http connection closed: %s", reason);
	control_client_free(c);
}

static void
idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct client *c = w->data;

	if (c->outstanding > 0) {
		ev_timer_again(loop, w);
		return;
	}
	log_debug("client %s: idle for %d ms: closing", c->user, CONTROL_IDLE_TIMEOUT_MS);
	control_client_free(c);
}

/* Names of peer uids for requested_by/cancelled_by: getpwuid is an NSS lookup that can
 * block the loop (LDAP, sssd), so a bounded cache, emptied at each reload, keeps it to the
 * first connection of each uid (that one lookup may still block: documented limit). */
#define UID_NAMES_MAX 64
static struct uid_name {
	uid_t uid;
	bool used;
	char name[JOB_WHO_MAX];
} uid_names[UID_NAMES_MAX];
static size_t uid_names_next; /* round-robin replacement once full */

void
control_forget_names(void)
{
	memset(uid_names, 0, sizeof(uid_names));
	uid_names_next = 0;
}

static void
uid_name(uid_t uid, char *out, size_t outlen)
{
	struct uid_name *e;
	struct passwd *pw;
	size_t i;

	for (i = 0; i < UID_NAMES_MAX; i++) {
		if (uid_names[i].used && uid_names[i].uid == uid) {
			snprintf(out, outlen, "%s", uid_names[i].name);
			return;
		}
	}
	e = &uid_names[uid_names_next];
	uid_names_next = (uid_names_next + 1) % UID_NAMES_MAX;
	e->used = true;
	e->uid = uid;
	if ((pw = getpwuid(uid)) != NULL)
		snprintf(e->name, sizeof(e->name), "%s", pw->pw_name);
	else
		snprintf(e->name, sizeof(e->name), "uid %lu", (unsigned long)uid);
	snprintf(out, outlen, "%s", e->name);
}

/* Is gid among the supplementary groups of the peer? The kernel's SO_PEERGROUPS (the groups
 * at connect time, no NSS lookup); before Linux 4.13, the Groups: line of
 * /proc/PID/status. */
static bool
peer_in_group(int fd, pid_t pid, gid_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);
	char path[64], line[4096], *p, *end;
	unsigned long v;
	size_t i, n;
	FILE *f;
	bool found = false;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0) {
		n = len / sizeof(gid_t);
		for (i = 0; i < n; i++) {
			if (groups[i] == gid)
				return (true);
		}
		return (false);
	}
	if (errno != ENOPROTOOPT || pid <= 0)
		return (false); /* ERANGE: more than 256 groups; refuse */
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return (false);
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		for (p = line + 7;; p = end) {
			errno = 0;
			v = strtoul(p, &end, 10);
			if (end == p || errno != 0)
				break;
			if ((gid_t)v == gid)
				found = true;
		}
		break;
	}
	fclose(f);
	return (found);
}

/* Root, our own user, or a member of admin_group (primary or supplementary). The group's
 * gid is resolved at start and at each reload (control_set_group), not per connection. */
static bool
peer_allowed(struct jobsd *jsd, int fd, const struct ucred *cred)
{
	if (cred->uid == 0 || cred->uid == jsd->euid)
		return (true);
	if (jsd->conf.admin_group[0] == '\0' || !jsd->admin_gid_ok)
		return (false);
	if (cred->gid == jsd->admin_gid)
		return (true);
	return (peer_in_group(fd, cred->pid, jsd->admin_gid));
}

struct client *
control_client_new(struct jobsd *jsd, int fd, bool is_http)
{
	struct client *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);

	c = xcalloc(1, sizeof(*c));
	c->jsd = jsd;
	c->is_http = is_http;
	if (is_http) {
		c->authorized = true;
		snprintf(c->user, sizeof(c->user), "jobsd-http");
	} else if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		c->uid = cred.uid;
		uid_name(cred.uid, c->user, sizeof(c->user));
		c->authorized = peer_allowed(jsd, fd, &cred);
	} else {
		snprintf(c->user, sizeof(c->user), "unknown");
		c->authorized = false;
	}
	c->peer = ipc_peer_new(jsd->loop, fd, on_client_msg, on_client_close, c);
	if (c->peer == NULL) {
		close(fd);
		free(c);
		return (NULL);
	}
	commit_outq_init(&c->out, &c->peer);
	ev_init(&c->idle_timer, idle_cb);
	c->idle_timer.repeat = CONTROL_IDLE_TIMEOUT_MS / 1000.0;
	c->idle_timer.data = c;
	if (!is_http)
		ev_timer_again(jsd->loop, &c->idle_timer);
	TAILQ_INSERT_TAIL(&jsd->clients, c, entry);
	return (c);
}

/* --- the listening socket -------------------------------------------------------- */

static void
resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct jobsd *jsd = w->data;

	if (jsd->ctl_fd != -1)
		ev_io_start(loop, &jsd->ctl_io);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct jobsd *jsd = w->data;
	int fd;

	for (;;) {
		fd = accept4(jsd->ctl_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				/* pause accept, or the loop spins on a readable socket */
				log_warn("control: accept");
				ev_io_stop(loop, w);
				ev_timer_set(&jsd->ctl_resume, 1.0, 0.0);
				ev_timer_start(loop, &jsd->ctl_resume);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
				   errno != ECONNABORTED)
				log_warn("control: accept");
			return;
		}
		control_client_new(jsd, fd, false);
	}
}

/* The socket's group: admin_group, else the daemon's own group. */
void
control_set_group(struct jobsd *jsd)
{
	const char *path = jsd->conf.socket;
	struct group *gr;

	jsd->admin_gid_ok = false;
	if (jsd->conf.admin_group[0] == '\0')
		return;
	if ((gr = getgrnam(jsd->conf.admin_group)) == NULL) {
		log_warnx("admin_group %s: no such group", jsd->conf.admin_group);
		return;
	}
	jsd->admin_gid = gr->gr_gid;
	jsd->admin_gid_ok = true;
	/* by name, but never through a symbolic link put in its place */
	if (fchownat(AT_FDCWD, path, (uid_t)-1, jsd->admin_gid, AT_SYMLINK_NOFOLLOW) == -1)
		log_warn("chown %s to group %lu", path, (unsigned long)jsd->admin_gid);
}

int
control_open(struct jobsd *jsd, char **cause)
{
	struct sockaddr_un sun;
	const char *path = jsd->conf.socket;
	mode_t old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*cause = xasprintf("socket %s: path too long", path);
		return (-1);
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);

	/* A live daemon answers on the socket: never steal it. A stale one is removed. */
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		*cause = xasprintf("socket: %s", strerror(errno));
		return (-1);
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		close(fd);
		*cause = xasprintf("socket %s: another jobsd is already running", path);
		return (-1);
	}
	close(fd);
	if (unlink(path) == -1 && errno != ENOENT) {
		*cause = xasprintf("socket %s: cannot remove the stale socket: %s", path,
				   strerror(errno));
		return (-1);
	}

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1) {
		*cause = xasprintf("socket: %s", strerror(errno));
		return (-1);
	}
	/* the socket is created 0660: its mode cannot be set on the descriptor, and a chmod
	 * by path after bind could follow a link put in its place */
	old = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		*cause = xasprintf("socket %s: bind: %s", path, strerror(errno));
		close(fd);
		return (-1);
	}
	umask(old);
	control_set_group(jsd);
	if (listen(fd, 128) == -1) {
		*cause = xasprintf("socket %s: listen: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return (-1);
	}
	jsd->ctl_fd = fd;
	return (0);
}

void
control_start(struct jobsd *jsd)
{
	ev_io_init(&jsd->ctl_io, accept_cb, jsd->ctl_fd, EV_READ);
	jsd->ctl_io.data = jsd;
	ev_io_start(jsd->loop, &jsd->ctl_io);
	ev_init(&jsd->ctl_resume, resume_cb);
	jsd->ctl_resume.data = jsd;
	ev_check_init(&jsd->gc, gc_cb);
	jsd->gc.data = jsd;
	ev_check_start(jsd->loop, &jsd->gc);
}

/* Stop accepting, close control clients (jobsd-http connections go with their process),
 * remove the socket. */
void
control_close(struct jobsd *jsd)
{
	struct client *c;

	if (jsd->ctl_fd == -1)
		return;
	ev_io_stop(jsd->loop, &jsd->ctl_io);
	ev_timer_stop(jsd->loop, &jsd->ctl_resume);
	close(jsd->ctl_fd);
	jsd->ctl_fd = -1;
	if (unlink(jsd->conf.socket) == -1 && errno != ENOENT)
		log_warn("unlink %s", jsd->conf.socket);
	TAILQ_FOREACH(c, &jsd->clients, entry) {
		if (!c->is_http)
			control_client_free(c);
	}
}
