/* ipc.h: the wire contract between jobsd processes (supervisor, workers, HTTP listeners,
 * jobctl). Frame: a 4-byte big-endian length, then that many bytes holding one msgpack
 * array [version, type, id, body] where body is a map (see ipc/PROTOCOL.md for every
 * message's fields). Also the worker's fd/environment/exit-code contract.
 *
 * Don't forget to bump IPC_PROTOCOL_VERSION if any message changes incompatibly. */
#ifndef JOBSD_IPC_H
#define JOBSD_IPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define IPC_PROTOCOL_VERSION 1
#define IPC_MAX_FRAME (4u << 20) /* larger frames drop the peer */

/* Message types, numbered in ranges per peer pair. */
enum msg_type {
	/* supervisor <-> worker */
	MSG_WORKER_HELLO = 100, /* w->s {pid} */
	MSG_JOB_START,          /* s->w {job, config} */
	MSG_JOB_STEP,           /* w->s {step, total} */
	MSG_JOB_PROGRESS,       /* w->s {processed, total, created, updated, deleted} */
	MSG_JOB_LOG,            /* w->s {level, text} */
	MSG_JOB_RESULT,         /* w->s {ok, error, counters as above, max_rss_kb} */
	MSG_JOB_CANCEL,         /* s->w {} */

	/* client (jobctl, jobsd-http) -> supervisor: requests */
	MSG_CTL_PING = 200,   /* {} -> OK {pid, version} */
	MSG_CTL_LIST,         /* {status?, job_type?, start_date?, end_date?, first?, after?} */
	MSG_CTL_SHOW,         /* {id} */
	MSG_CTL_PROGRESS,     /* {id} */
	MSG_CTL_RUNNING,      /* {} */
	MSG_CTL_CANCEL,       /* {id, by?}  answered once the job is cancelled */
	MSG_CTL_SUBMIT,       /* {job_type, parameters: {k: v}, by?} */
	MSG_CTL_TOKEN_CREATE, /* {name, role} */
	MSG_CTL_TOKEN_LIST,   /* {} */
	MSG_CTL_TOKEN_REVOKE, /* {name} */
	MSG_CTL_LOG,          /* {id} -> OK {lines: [..]} the job's log lines */
	MSG_CTL_RESULTS,      /* {resource, id?, policy?, subject_kind?, kind?, first?, after?}
				 -> OK {items, has_next, end_cursor} | {item} (analysis results) */

	/* supervisor -> client: replies, with the request's id */
	MSG_CTL_OK = 280, /* body depends on the request */
	MSG_CTL_FAIL,     /* {status, code, message, parameter?} */
};

/* Error codes in MSG_CTL_FAIL (the REST API's "code"; status is the HTTP status). */
#define IPC_ERR_INVALID "invalid_parameter"   /* 400 */
#define IPC_ERR_UNKNOWN "unknown_parameter"   /* 400 */
#define IPC_ERR_NOT_FOUND "not_found"         /* 404 */
#define IPC_ERR_CONFLICT "conflict"           /* 409 */
#define IPC_ERR_PERMISSION "permission_denied" /* 403 */
#define IPC_ERR_INTERNAL "internal_error"     /* 500 */
#define IPC_ERR_UNAVAILABLE "unavailable"     /* 503 */

/* --- worker contract ---------------------------------------------------- */
#define WORKER_IPC_FD 3               /* socketpair end to the supervisor */
#define WORKER_JOB_ENV "JOBSD_JOB_ID" /* "job-<n>", informational */
/* data_dir, so the worker joins the store while it waits for MSG_JOB_START; the START's
 * config.data_dir stays authoritative (the worker reopens if they differ). */
#define WORKER_DATA_DIR_ENV "JOBSD_DATA_DIR"
/* Set ("1") for a worker started ahead of its job (daemon/warm.c): it waits for its
 * MSG_JOB_START without a deadline and exits 0, quietly, if the socket closes first. */
#define WORKER_WARM_ENV "JOBSD_WORKER_WARM"
#define HTTP_IPC_FD 3                 /* jobsd-http: socketpair end to the supervisor */

enum worker_exit {
	WEXIT_OK = 0,         /* the job ran; its result message says how */
	WEXIT_JOB_FAILED = 1, /* failed before a result could be sent */
	WEXIT_BAD_IPC = 2,    /* the supervisor sent garbage or went away */
	WEXIT_STORE = 3,      /* the store could not be opened */
	WEXIT_USAGE = 64,
};
/* "exited with status 3 (store unavailable)"; out >= 96. */
void worker_exit_describe(int wait_status, char *out, size_t outlen);

/* --- encoding ------------------------------------------------------------ */
/* Build one frame: ipc_begin, pack exactly one body object (a map) with the returned
 * packer, ipc_end. Several frames may be built back to back in one writer. */
struct ipc_writer {
	msgpack_sbuffer buf;
	msgpack_packer pk;
	size_t start; /* offset of the frame being built */
};
void ipc_writer_init(struct ipc_writer *w);
void ipc_writer_destroy(struct ipc_writer *w);
void ipc_writer_reset(struct ipc_writer *w); /* drop the bytes, keep the memory */
msgpack_packer *ipc_begin(struct ipc_writer *w, enum msg_type type, uint32_t id);
int ipc_end(struct ipc_writer *w); /* -1 (frame dropped) if over IPC_MAX_FRAME */

/* Packing helpers for map bodies. */
void ipc_pack_str(msgpack_packer *pk, const char *s); /* NULL packs nil */
void ipc_pack_strn(msgpack_packer *pk, const char *s, size_t n);
void ipc_pack_kv_str(msgpack_packer *pk, const char *k, const char *v); /* NULL v -> nil */
void ipc_pack_kv_int(msgpack_packer *pk, const char *k, int64_t v);
void ipc_pack_kv_bool(msgpack_packer *pk, const char *k, bool v);

/* --- decoding ------------------------------------------------------------ */
/* A streaming decoder: feed bytes in any pieces, take whole messages out. A message's
 * body points into the reader's memory and stays valid until the next ipc_reader_next
 * (ipc_reader_space/feed may move that memory too: finish a message before reading more). */
struct ipc_msg {
	uint32_t version;
	uint32_t type;
	uint32_t id;
	msgpack_object body; /* always a map */
};
struct ipc_reader {
	char *buf;
	size_t len, off, cap;
	msgpack_zone zone;
	bool zone_used;
};
enum ipc_next { IPC_NEED_MORE = 0, IPC_MSG = 1, IPC_BAD = -1 };
void ipc_reader_init(struct ipc_reader *r);
void ipc_reader_destroy(struct ipc_reader *r);
/* Space for at least n more bytes: read(2) into *p, then ipc_reader_commit(r, got). */
void *ipc_reader_space(struct ipc_reader *r, size_t n);
void ipc_reader_commit(struct ipc_reader *r, size_t n);
int ipc_reader_feed(struct ipc_reader *r, const void *data, size_t n);
/* IPC_MSG and *m; IPC_NEED_MORE; or IPC_BAD and *cause (oversize frame, not msgpack, wrong
 * shape or version): the peer must be dropped. */
enum ipc_next ipc_reader_next(struct ipc_reader *r, struct ipc_msg *m, char **cause);

/* Body field access. get returns NULL when absent. The typed getters return 0 and the
 * value, 1 when the key is absent or nil (value untouched), -1 for a wrong type. */
const msgpack_object *ipc_get(const msgpack_object *map, const char *key);
int ipc_get_str(const msgpack_object *map, const char *key, const char **s, size_t *len);
int ipc_get_int(const msgpack_object *map, const char *key, int64_t *v);
int ipc_get_bool(const msgpack_object *map, const char *key, bool *v);
/* Copy a string field into out (NUL-terminated, truncated to outlen-1); same returns. */
int ipc_get_strbuf(const msgpack_object *map, const char *key, char *out, size_t outlen);

/* --- blocking helpers (jobctl, workers; never in the supervisor's loop) ------- */
int ipc_write_all(int fd, const void *data, size_t len); /* -1 with errno */
/* Read until a whole message is available or timeout_ms passes (-1 = forever).
 * IPC_MSG; IPC_NEED_MORE on timeout; IPC_BAD with *cause on EOF/error/garbage. */
enum ipc_next ipc_read_msg(int fd, struct ipc_reader *r, struct ipc_msg *m, int timeout_ms,
			   char **cause);

/* --- libev peer (supervisor, jobsd-http) ------------------------------- */
/* Non-blocking fd with a read buffer and a write queue (EV_WRITE armed only while output
 * is queued). on_msg runs per message; on_close once, with a reason, when the peer hangs
 * up, errors or sends a bad frame; the peer must not be used after on_close returns and is
 * freed by the caller with ipc_peer_free (allowed inside on_close). */
struct ev_loop;
struct ipc_peer;
typedef void (*ipc_msg_cb)(struct ipc_peer *p, const struct ipc_msg *m, void *arg);
typedef void (*ipc_close_cb)(struct ipc_peer *p, const char *reason, void *arg);
struct ipc_peer *ipc_peer_new(struct ev_loop *loop, int fd, ipc_msg_cb on_msg,
			      ipc_close_cb on_close, void *arg);
void ipc_peer_free(struct ipc_peer *p); /* stops watchers, closes fd */
/* Queue the writer's bytes (all frames in it) and reset the writer. -1 if the peer is
 * closed or its queue exceeds its limit (the peer is then closed). */
int ipc_peer_send(struct ipc_peer *p, struct ipc_writer *w);
int ipc_peer_fd(const struct ipc_peer *p);
size_t ipc_peer_queued(const struct ipc_peer *p);
/* Stop reading (backpressure) / resume. */
void ipc_peer_pause(struct ipc_peer *p, bool paused);

#endif
