/* jobsd.h: the supervisor's internal structures and prototypes, grouped by file. Nothing
 * here is part of a wire or on-disk contract (see ipc/ipc.h, daemon/store.h for those). */
#ifndef JOBSD_JOBSD_H
#define JOBSD_JOBSD_H

#include <sys/queue.h>
#include <sys/types.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "config.h"
#include "ipc.h"
#include "job.h"
#include "log.h"
#include "store.h"
#include "token_epoch.h"

#define JOBSD_VERSION "0.1.0"

/* A control client that sends nothing for this long is disconnected. */
#define CONTROL_IDLE_TIMEOUT_MS 30000
/* Requests of one control client still waiting for a reply (cancel of a running job). */
#define CONTROL_MAX_OUTSTANDING 64
#define CONTROL_HTTP_MAX_OUTSTANDING 4096
/* Retention: one prune step every RETENTION_INTERVAL_S, at most this many jobs a step. */
#define RETENTION_INTERVAL_S 60.0
#define RETENTION_MAX_DELETE 1000
/* On SIGTERM: workers are told to stop (MSG_JOB_CANCEL), and get SIGKILL after
 * cancel_grace bounded to these. */
#define STOP_GRACE_MIN_MS 1000
#define STOP_GRACE_MAX_MS 20000
/* A worker start that failed for lack of descriptors/processes/memory is retried. */
#define SPAWN_RETRY_S 1.0
/* A worker that exited but whose socket stays open (a grandchild holds it). */
#define WORKER_LINGER_MS 2000
#define WORKER_EXIT_MS 10000 /* from its result to its exit (closing the store) */
/* jobsd-http: a listener that lived shorter than this crashed early; back off. */
#define HTTP_EARLY_DEATH_MS 1000
#define HTTP_RESTART_MIN_MS 200
#define HTTP_RESTART_MAX_MS 30000

struct jobsd;
struct client;

/* Output held back until the state transitions committed before it are durable (commit.c):
 * one per peer, so that what a peer is sent keeps its order. */
struct outq_mark {
	uint64_t gen; /* the bytes of w before end wait for gen_durable >= gen */
	size_t end;
};
struct outq {
	TAILQ_ENTRY(outq) entry;
	struct ipc_writer w;
	struct ipc_peer **peerp; /* the owner's peer pointer (NULL once closed) */
	bool queued;
	struct outq_mark *marks; /* in order; the longest durable prefix of w goes out */
	size_t nmarks, capmarks;
};
TAILQ_HEAD(outq_list, outq);

/* A request waiting for a job to end (cancel of a running job). */
struct waiter {
	TAILQ_ENTRY(waiter) entry;
	struct client *client;
	uint32_t id;
};
TAILQ_HEAD(waiter_list, waiter);

/* The end of a job that could not be recorded while the store was being recovered
 * (recovery.c), with the cancel requests waiting for it. */
struct deferred {
	TAILQ_ENTRY(deferred) entry;
	struct job job;
	struct waiter_list waiters;
};
TAILQ_HEAD(deferred_list, deferred);

/* A job waiting to start, in submission order. */
struct pend {
	TAILQ_ENTRY(pend) entry;
	struct job job;
};
TAILQ_HEAD(pend_list, pend);

/* A running job and its worker. */
struct run {
	TAILQ_ENTRY(run) entry;
	struct jobsd *jsd;
	struct job job; /* in-memory record: fresher than the store while running */
	pid_t pid;
	struct ipc_peer *peer;
	struct outq out;
	ev_timer start_timer; /* hello deadline, then linger after exit */
	ev_timer kill_timer;  /* cancel grace / stop grace */
	ev_timer flush_timer; /* coalesced progress commits */
	int64_t last_flush_ms;
	bool dirty;
	bool hello;
	bool start_timed_out;
	bool exited;
	bool peer_closed;
	bool killed; /* SIGKILL sent */
	int wstatus;
	int64_t cpu_ms, max_rss_kb; /* from wait4 */
	/* MSG_JOB_RESULT */
	bool have_result, result_ok, result_cancelled;
	int64_t result_ms;     /* when the result came: the job's end_ms */
	int64_t result_rss_kb; /* the worker's own peak RSS (peak_rss.c), or JOB_NULL */
	char *result_error;
	char *peer_error; /* why the worker's connection was dropped */
	struct waiter_list waiters;
};
TAILQ_HEAD(run_list, run);

/* A jobsd-http process slot. */
struct hproc {
	struct jobsd *jsd;
	int slot;
	pid_t pid; /* 0 when not running */
	struct client *client;
	int64_t started_ms;
	int failures;
	bool restart_now; /* stopped by us (reload): respawn at once */
	ev_timer restart_timer;
};

/* A control socket connection or a jobsd-http socketpair. */
struct client {
	TAILQ_ENTRY(client) entry;
	struct jobsd *jsd;
	struct ipc_peer *peer;
	struct outq out;
	bool is_http;
	bool authorized;
	bool paused;
	uid_t uid;
	char user[JOB_WHO_MAX];
	int outstanding;
	ev_timer idle_timer;
	struct hproc *hproc;
	bool dead; /* closed; freed by the gc watcher */
	bool drop; /* close at the next gc */
};
TAILQ_HEAD(client_list, client);

struct jobsd {
	struct ev_loop *loop;
	struct config conf;
	char conf_path[PATH_MAX];
	struct store *store;
	bool foreground;
	bool stopping;
	uid_t euid;
	char worker_path[PATH_MAX];
	struct warm *warm; /* warm.c: workers started ahead of their jobs (NULL: none) */
	char http_path[PATH_MAX];

	struct pend_list pending;
	size_t npending;
	struct run_list runs; /* in start order */
	size_t nruns;

	ev_signal sig_term, sig_int, sig_hup, sig_chld;
	ev_timer retention_timer;
	ev_timer retry_timer; /* worker start after a transient failure */
	ev_timer stop_timer;

	/* control.c */
	int ctl_fd;
	ev_io ctl_io;
	ev_timer ctl_resume;
	struct client_list clients;
	gid_t admin_gid; /* of conf.admin_group, resolved at start and reload */
	bool admin_gid_ok;

	/* http */
	int http_fds[CONFIG_MAX_LISTEN];
	size_t nhttp_fds;
	struct hproc *hprocs;
	size_t nhprocs;
	/* Bumped after every token change; listeners map it to know when their token cache
	 * is stale (common/token_epoch.h). */
	struct token_epoch token_epoch;

	struct ipc_writer w; /* scratch writer for replies and worker messages */
	uint32_t reply_id;    /* of the reply being built */
	ev_check gc;          /* frees closed clients outside their callbacks */

	/* commit.c: group commit */
	uint64_t gen_written;      /* transitions committed (written, not fsynced) */
	uint64_t gen_durable;      /* of those, the ones made durable */
	uint64_t gen_flushing;     /* what the running flush will make durable */
	bool flushing;             /* the flusher thread has a request */
	bool flush_failed;         /* retry on the loop */
	struct flusher *flusher;   /* flusher.c; NULL: flush on the loop */
	int log_fd;                /* the current log file, for the flusher */
	uint32_t log_file;
	bool log_fd_failed;        /* log_file could not be opened: flush on the loop */
	bool log_broken;           /* an fdatasync failed: nothing held is released */
	bool log_reopen;           /* the store was reopened: so is the log file */
	struct outq_list held;     /* output waiting for a flush */
	ev_prepare commit_prepare; /* once per loop iteration: start a flush */
	ev_timer commit_retry;     /* a failed flush is retried */
	ev_timer commit_delay;     /* the next flush may start (commit_delay_us) */
	ev_tstamp flush_ended;     /* when the last flush returned; 0: none yet */
	uint64_t flushes;

	/* recovery.c: in-place recovery of the store */
	bool recovering;
	int recovery_phase;
	ev_timer recovery_timer;
	struct deferred_list deferred;
	bool gc_needed;
	int exit_code;

	/* checkpoint.c: the periodic checkpoint process */
	ev_timer ckp_timer;
	pid_t ckp_pid; /* 0 when none runs */
	bool ckp_done; /* ckp_file/ckp_offset: the end of the log when the last one began */
	uint32_t ckp_file, ckp_offset;
	ev_tstamp ckp_at; /* when the last one began */
};

/* config.c: see config.h. */

/* queue.c: conflict rules and the start order (pure, unit-tested). */
enum queue_res {
	RES_OWNERS = 1 << 0,
	RES_ACCOUNTS = 1 << 1,
	RES_GROUPS = 1 << 2,
	RES_APPLICATIONS = 1 << 3,
	RES_MEMBERSHIPS = 1 << 4,
	RES_ROLES = 1 << 5,
	RES_VIOLATIONS = 1 << 6,
	RES_WATERMARK = 1 << 7, /* the incremental sync watermark */
};
unsigned queue_reads(enum job_type t);
unsigned queue_writes(enum job_type t);
bool queue_conflicts(enum job_type a, enum job_type b);
bool queue_is_sync(enum job_type t);
/* Index in pending[] (submission order) of the next job that may start given the types of
 * the running jobs, or -1. */
int queue_pick(const enum job_type *pending, size_t npending, const enum job_type *running,
	       size_t nrunning, size_t max_workers);

/* spawn.c */
/* Resolve a helper binary: configured path if set, else beside /proc/self/exe, else
 * ../libexec/jobsd/<name> relative to it. -1 and *cause if nothing executable exists. */
int spawn_resolve(const char *configured, const char *name, char *out, size_t outlen,
		  char **cause);
#define SPAWN_MAX_EXTRA (CONFIG_MAX_LISTEN + 1) /* the listening sockets and the token epoch */
/* posix_spawn path with argv, ipc_fd as fd 3, extra_fds as fds 4.., nothing else open, its
 * own process group, default signal dispositions, a minimal environment plus env_extra
 * (NULL-terminated "K=V" strings). Returns the pid, or -1 and *cause. */
pid_t spawn_child(const char *path, char *const argv[], int ipc_fd, const int *extra_fds,
		  size_t nextra, const char *const *env_extra, char **cause);

/* commit.c: group commit of the state transitions. Every transition is committed without
 * fsync (commit_job_put); every message to a worker or a client goes through commit_send,
 * which holds it while a transition is not yet durable; once per loop iteration (before
 * the loop waits) one log flush is handed to the flusher thread, and the output held for
 * the transitions it covers is released when it is done. So a transition is durable before
 * anyone is told, at one fsync per flush, and the loop never waits for the disk. */
void commit_init(struct jobsd *jsd);
void commit_shutdown(struct jobsd *jsd); /* stops the flusher thread */
bool commit_pending(const struct jobsd *jsd); /* transitions not yet durable */
void commit_dirty(struct jobsd *jsd); /* the next flush must be made (after recovery) */
void commit_forget_log(struct jobsd *jsd); /* the store is reopened: reopen the log file */
void commit_outq_init(struct outq *q, struct ipc_peer **peerp);
void commit_outq_forget(struct jobsd *jsd, struct outq *q); /* drop its held output */
int commit_job_alloc(struct jobsd *jsd, uint64_t *no, char **cause);
int commit_job_put(struct jobsd *jsd, const struct job *j, char **cause);
/* Send w's frames to peer through q now, or hold them; resets w. -1 if peer is NULL. */
int commit_send(struct jobsd *jsd, struct outq *q, struct ipc_peer *peer,
		struct ipc_writer *w);
/* Make every committed transition durable now and release the held output: before an
 * action that is not a message (SIGKILL after a cancel request). -1 if the flush failed
 * (nothing is released). */
int commit_flush(struct jobsd *jsd);

/* flusher.c: one thread that fdatasyncs a descriptor off the loop and calls cb(errno or 0,
 * arg) on the loop when done. One request at a time. */
struct flusher;
typedef void (*flusher_done_fn)(int err, void *arg);
struct flusher *flusher_start(struct ev_loop *loop, flusher_done_fn cb, void *arg,
			      char **cause);
void flusher_request(struct flusher *f, int fd);
void flusher_stop(struct flusher *f); /* waits for a running request */

/* recovery.c: when failchk says the environment needs recovery (a process died inside
 * Berkeley DB), recover in place: no job starts, workers are told to stop (SIGKILL after
 * RECOVERY_GRACE_MS), REST listeners are stopped, requests get 503; once every child is
 * gone (at most RECOVERY_WAIT_MS more) the store is closed and opened again with recovery,
 * the ends of the jobs that were running are recorded, the queue is rebuilt from the store
 * and everything resumes. If the store cannot be opened again, jobsd exits 1. */
#define RECOVERY_GRACE_MS 2000
#define RECOVERY_WAIT_MS 5000
#define RECOVERY_REASON "interrupted: store recovery"
void recovery_init(struct jobsd *jsd);
void recovery_begin(struct jobsd *jsd, const char *why);
/* Keep j's end (copied) and move its waiters, to be recorded after the recovery. */
void recovery_defer(struct jobsd *jsd, const struct job *j, struct waiter_list *waiters);
void recovery_check(struct jobsd *jsd); /* after a child was reaped */
void recovery_forget_client(struct jobsd *jsd, struct client *c);
void recovery_free(struct jobsd *jsd); /* at exit: ends never recorded (next start does) */

/* checkpoint.c: `jobsd-worker --checkpoint` CHECKPOINT_INTERVAL_S after the last one when
 * the log has grown, or once it has grown by checkpoint_log_mb (polled every
 * CHECKPOINT_POLL_S); at most one at a time, never counted in max_workers. */
#define CHECKPOINT_INTERVAL_S 60.0
#define CHECKPOINT_POLL_S 1.0
void checkpoint_init(struct jobsd *jsd);
void checkpoint_stop(struct jobsd *jsd);  /* no more checkpoints (stopping) */
void checkpoint_kill(struct jobsd *jsd);  /* SIGKILL the running one, if any */
/* true if pid was the checkpoint process (reaped: failchk after an abnormal exit). */
bool checkpoint_reap(struct jobsd *jsd, pid_t pid, int wstatus);

/* supervisor.c */
enum log_level supervisor_log_level(const char *name);
void supervisor_init(struct jobsd *jsd);
int supervisor_recover(struct jobsd *jsd, char **cause);
void supervisor_start(struct jobsd *jsd);
void supervisor_schedule(struct jobsd *jsd);
void supervisor_stop(struct jobsd *jsd, const char *why);
void supervisor_maybe_exit(struct jobsd *jsd);
void supervisor_reload(struct jobsd *jsd);
struct run *supervisor_find_run(struct jobsd *jsd, uint64_t no);
struct pend *supervisor_find_pend(struct jobsd *jsd, uint64_t no);
void supervisor_enqueue(struct jobsd *jsd, const struct job *j);
void supervisor_dequeue(struct jobsd *jsd, struct pend *p);

/* run.c */
/* Start p's job (p is consumed), or -1: a transient failure, p stays queued and the retry
 * timer is armed. */
int run_start(struct jobsd *jsd, struct pend *p);
void run_kill(struct run *r, int sig); /* the worker's whole process group */
int run_send_cancel(struct run *r);    /* MSG_JOB_CANCEL; -1 if it cannot be sent */
void run_reap(struct jobsd *jsd); /* wait4 every exited child */

/* warm.c: while jobs are pending, workers are exec'd ahead of them by a spawner thread
 * (they join the store, say hello and wait); run_start takes one instead of spawning. */
struct warm;
void warm_init(struct jobsd *jsd);
void warm_shutdown(struct jobsd *jsd);
void warm_adjust(struct jobsd *jsd); /* after scheduling: start or release some */
bool warm_take(struct jobsd *jsd, pid_t *pid, int *fd);
bool warm_reap(struct jobsd *jsd, pid_t pid, int status); /* true if it was one */
void warm_release_all(struct jobsd *jsd, int sig); /* sig 0: close their sockets only */
void warm_forget_released(struct jobsd *jsd);
size_t warm_alive(const struct jobsd *jsd); /* not yet reaped */
/* Cancel: 0 done (*out filled: the cancelled job), CANCEL_WAITING (the reply is sent when
 * the worker has gone), STORE_NOTFOUND, or -1 with an HTTP status and a cause. */
#define CANCEL_WAITING 100
int run_cancel(struct jobsd *jsd, uint64_t no, const char *by, struct client *c, uint32_t id,
	       struct job *out, int *status, char **cause);
void run_forget_client(struct jobsd *jsd, struct client *c); /* drop its waiters */
/* Answer (and free) the cancel requests waiting for j to end. */
void run_answer_waiters(struct waiter_list *waiters, const struct job *j);
/* The same when j's end could not be committed: 500 internal_error, never "cancelled". */
void run_answer_waiters_failed(struct waiter_list *waiters, const struct job *j);

/* listeners.c: jobsd-http processes and their listening sockets. */
int http_open_listeners(struct jobsd *jsd, char **cause);
void http_start(struct jobsd *jsd);
void http_stop(struct jobsd *jsd);
/* Recovery: signal every listener (no restart while jsd->recovering), keep the sockets;
 * then start them all again. */
void http_pause(struct jobsd *jsd, int sig);
void http_resume(struct jobsd *jsd);
void http_restart(struct jobsd *jsd);
bool http_reap(struct jobsd *jsd, pid_t pid, int wstatus);
void http_client_closed(struct jobsd *jsd, struct client *c);
size_t http_alive(const struct jobsd *jsd);

/* control.c */
int control_open(struct jobsd *jsd, char **cause);
void control_start(struct jobsd *jsd);
void control_close(struct jobsd *jsd);
void control_set_group(struct jobsd *jsd); /* resolve admin_group, chown the socket */
void control_forget_names(void);          /* reload: empty the uid -> user name cache */
struct client *control_client_new(struct jobsd *jsd, int fd, bool is_http);
void control_client_free(struct client *c);
void control_request_begin(struct client *c);
void control_request_done(struct client *c);
void control_drop(struct client *c);
/* Replies. */
msgpack_packer *reply_begin(struct client *c, uint32_t id);
void reply_end(struct client *c);
void reply_fail(struct client *c, uint32_t id, int status, const char *code,
		const char *parameter, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
void reply_job(struct client *c, uint32_t id, const struct job *j);

/* jobs_ops.c: the job requests (dispatched from control.c). Return -1 to drop the peer. */
int ops_ping(struct client *c, const struct ipc_msg *m);
int ops_list(struct client *c, const struct ipc_msg *m);
int ops_show(struct client *c, const struct ipc_msg *m);
int ops_progress(struct client *c, const struct ipc_msg *m);
int ops_running(struct client *c, const struct ipc_msg *m);
int ops_cancel(struct client *c, const struct ipc_msg *m);
int ops_submit(struct client *c, const struct ipc_msg *m);
int ops_log(struct client *c, const struct ipc_msg *m);

/* tokens.c */
int tokens_create(struct client *c, const struct ipc_msg *m);
int tokens_list(struct client *c, const struct ipc_msg *m);
int tokens_revoke(struct client *c, const struct ipc_msg *m);
/* "jsd_" + base64url(32 random bytes); hash = SHA-256 of the whole string. */
#define TOKEN_PREFIX "jsd_"
int token_generate(char *out, size_t outlen, uint8_t hash[TOKEN_HASH_LEN], char **cause);
void token_hash(const char *token, size_t len, uint8_t hash[TOKEN_HASH_LEN]);

#endif
