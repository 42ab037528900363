/* config.h: the configuration file (INI, parsed with libinih) as a struct. Every key, its
 * default and its bounds are listed in README.md. */
#ifndef JOBSD_CONFIG_H
#define JOBSD_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define CONFIG_MAX_SOURCES 16
#define CONFIG_MAX_LISTEN 8

struct source_conf {
	char name[64];
	char type[16];        /* "csv" */
	char path[PATH_MAX];  /* directory of CSV exports */
	char manager_ref[16]; /* "auto", "employee_id", "email", "dn" */
};

struct config {
	char path[PATH_MAX]; /* the file it was read from */

	/* [jobsd] (keys may also appear before any section) */
	char data_dir[PATH_MAX];   /* default /var/lib/jobsd */
	char socket[PATH_MAX];     /* default /run/jobsd/jobsd.sock */
	char pid_file[PATH_MAX];   /* default /run/jobsd/jobsd.pid */
	char region_dir[PATH_MAX]; /* default /dev/shm; "" keeps the regions in data_dir */
	bool pid_file_set;         /* the file has a pid_file key (jobsd -f skips the default) */
	char admin_group[64];      /* default "" (root and the daemon's own user only) */
	char user[64];             /* default "": started as root, switch to this user */
	char worker_path[PATH_MAX]; /* default: jobsd-worker beside the jobsd binary */
	char http_path[PATH_MAX];   /* default: jobsd-http beside the jobsd binary */
	int max_workers;           /* default 2, 1..256 */
	int cancel_grace_ms;       /* cancel_grace in seconds, default 10, 0..3600 */
	int max_delete_percent;    /* default 20, 0..100 */
	int retention_days;        /* default 30, 0 = keep forever by age */
	int retention_count;       /* default 10000 finished jobs, 0 = unlimited */
	int progress_interval_ms;  /* progress commits coalesced to this, default 250 */
	int worker_start_timeout_ms; /* first message from a worker, default 10000 */
	int checkpoint_log_mb;       /* checkpoint after this much log, default 256 */
	int commit_delay_us;         /* flushes at most this long after the last, default 2000 */
	char log_level[16];        /* error|warning|info|debug, default info */

	/* [source NAME] sections; the first one is the default source of a sync */
	struct source_conf sources[CONFIG_MAX_SOURCES];
	size_t nsources;

	/* [http] */
	char listen[CONFIG_MAX_LISTEN][128]; /* "127.0.0.1:8080", "[::1]:8080"; none = off */
	size_t nlisten;
	int http_processes;         /* default 1, 1..64 */
	int http_max_connections;   /* per process, default 1024 */
	int http_idle_timeout_ms;   /* idle_timeout seconds, default 60 */
	int http_request_timeout_ms; /* request_timeout seconds: whole request, default 10 */
	size_t http_max_header_bytes; /* default 16384 */
	size_t http_max_body_bytes;   /* default 65536 */

	/* [analysis] for the analysis job types (issue 4) */
	char policy_file[PATH_MAX];
};

/* Defaults, then the file. -1 and *cause ("FILE:LINE: key 'x': reason") on any error:
 * unknown section or key, bad value, out of bounds, duplicate source. */
void config_defaults(struct config *c);
int config_load(const char *path, struct config *c, char **cause);
const struct source_conf *config_source(const struct config *c, const char *name); /* NULL=first */

#endif
