/* log.h: logging for every jobsd process (stderr in the foreground/under systemd, syslog
 * otherwise) and the two error tiers: log_warn[x] for what we survive, fatal[x] for startup
 * failures and impossible states. The *x variants do not append strerror(errno). */
#ifndef JOBSD_LOG_H
#define JOBSD_LOG_H

#include <stdarg.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* name: process label ("jobsd", "jobsd-worker[job-12]"); to_stderr: 1 for stderr, 0 syslog. */
void log_init(const char *name, int to_stderr, enum log_level level);
void log_set_level(enum log_level level);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Allocation that cannot fail (fatal on ENOMEM). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Format into a new string; for char **cause out-parameters. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
