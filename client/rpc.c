/* rpc.c: jobctl's side of the control socket: find the socket path, connect, send one
 * request at a time and wait for its reply with the blocking helpers of ipc/. */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "log.h"

struct rpc {
	int fd;
	uint32_t next_id;
	uint32_t pending_id; /* id of the request begun with rpc_begin */
	struct ipc_writer w;
	struct ipc_reader r;
	struct ipc_msg last; /* the latest reply; its body points into r */
};

/* -s PATH, else $JOBSD_SOCKET, else the default. */
const char *
rpc_socket_path(const char *opt)
{
	const char *env;

	if (opt != NULL && *opt != '\0')
		return (opt);
	env = getenv(JOBCTL_SOCKET_ENV);
	if (env != NULL && *env != '\0')
		return (env);
	return (JOBCTL_DEFAULT_SOCKET);
}

struct rpc *
rpc_connect(const char *path, char **cause)
{
	struct sockaddr_un sun;
	struct rpc *r;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		*cause = xasprintf("socket path too long: %s", path);
		return (NULL);
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		*cause = xasprintf("socket: %s", strerror(errno));
		return (NULL);
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int saved = errno;

		close(fd);
		if (saved == ENOENT || saved == ECONNREFUSED)
			*cause = xasprintf("cannot connect to %s: %s (is jobsd running?)", path,
					   strerror(saved));
		else
			*cause = xasprintf("cannot connect to %s: %s", path, strerror(saved));
		return (NULL);
	}

	r = xcalloc(1, sizeof(*r));
	r->fd = fd;
	r->next_id = 1;
	ipc_writer_init(&r->w);
	ipc_reader_init(&r->r);
	return (r);
}

void
rpc_close(struct rpc *r)
{
	if (r == NULL)
		return;
	close(r->fd);
	ipc_writer_destroy(&r->w);
	ipc_reader_destroy(&r->r);
	free(r);
}

msgpack_packer *
rpc_begin(struct rpc *r, enum msg_type type)
{
	ipc_writer_reset(&r->w);
	r->pending_id = r->next_id++;
	if (r->next_id == 0)
		r->next_id = 1;
	return (ipc_begin(&r->w, type, r->pending_id));
}

/* Copy a string field of a FAIL body into a fixed buffer ("" when absent or not a string). */
static void
fail_str(const msgpack_object *body, const char *key, char *out, size_t len)
{
	if (ipc_get_strbuf(body, key, out, len) != 0)
		out[0] = '\0';
}

void
rpc_fail_parse(const msgpack_object *body, struct rpc_fail *f)
{
	int64_t status = 0;

	memset(f, 0, sizeof(*f));
	if (ipc_get_int(body, "status", &status) != 0 || status < 100 || status > 599)
		status = 500;
	f->status = (int)status;
	fail_str(body, "code", f->code, sizeof(f->code));
	fail_str(body, "message", f->message, sizeof(f->message));
	fail_str(body, "parameter", f->parameter, sizeof(f->parameter));
	if (f->code[0] == '\0')
		snprintf(f->code, sizeof(f->code), "%s", IPC_ERR_INTERNAL);
	if (f->message[0] == '\0')
		snprintf(f->message, sizeof(f->message), "request refused (%s)", f->code);
}

int
rpc_call(struct rpc *r, int timeout_ms, const msgpack_object **body, struct rpc_fail *fail,
	 char **cause)
{
	struct ipc_msg *m = &r->last;
	enum ipc_next rv;
	char *why = NULL;

	if (ipc_end(&r->w) == -1) {
		*cause = xstrdup("request too large");
		return (-1);
	}
	if (ipc_write_all(r->fd, r->w.buf.data, r->w.buf.size) == -1) {
		*cause = xasprintf("write to jobsd: %s", strerror(errno));
		return (-1);
	}
	ipc_writer_reset(&r->w);

	for (;;) {
		rv = ipc_read_msg(r->fd, &r->r, m, timeout_ms, &why);
		if (rv == IPC_NEED_MORE) {
			*cause = xstrdup("no reply from jobsd (timed out)");
			return (-1);
		}
		if (rv == IPC_BAD) {
			*cause = xasprintf("connection to jobsd lost: %s",
					   why != NULL ? why : "closed");
			free(why);
			return (-1);
		}
		if (m->id != r->pending_id)
			continue; /* not ours (there is only ever one outstanding) */
		break;
	}
	if (m->body.type != MSGPACK_OBJECT_MAP) {
		*cause = xstrdup("malformed reply from jobsd");
		return (-1);
	}
	if (m->type == MSG_CTL_OK) {
		*body = &m->body;
		return (0);
	}
	if (m->type == MSG_CTL_FAIL) {
		rpc_fail_parse(&m->body, fail);
		return (1);
	}
	*cause = xasprintf("unexpected reply type %u from jobsd", m->type);
	return (-1);
}
