/* peak_rss.h: the worker's own peak resident set size, for its job's max_rss_kb. */
#ifndef JOBSD_PEAK_RSS_H
#define JOBSD_PEAK_RSS_H

#include <stddef.h>
#include <stdint.h>

/* The process's peak RSS in KiB (VmHWM in /proc/self/status), or -1 if it cannot be read. */
int64_t peak_rss_kb(void);

/* The VmHWM value in the text of a /proc/PID/status file (len bytes), or -1 if there is
 * none or it is not a number of kB. */
int64_t peak_rss_parse(const char *text, size_t len);

#endif
