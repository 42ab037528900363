/*
 * peak_rss.c: the worker's own peak resident set size.
 *
 * The supervisor's wait4 cannot tell it: workers are started with posix_spawn, whose
 * child shares the supervisor's memory until it execs, and at exec Linux folds the peak
 * RSS of the memory it leaves (the supervisor's) into the process's ru_maxrss. So a job
 * that never grew past the supervisor's size would report the supervisor's. The peak of
 * the process's own memory since the exec is VmHWM; the worker reads it when it sends its
 * result (about 15 microseconds), and the supervisor records it as the job's max_rss_kb.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "peak_rss.h"

#define STATUS_MAX 4096 /* VmHWM is in the first 1.5 KB of the file */

int64_t
peak_rss_parse(const char *text, size_t len)
{
	static const char key[] = "\nVmHWM:";
	const char *p, *end = text + len;
	int64_t v = 0;

	for (p = text; p + sizeof(key) - 1 <= end; p++) {
		if (memcmp(p, key, sizeof(key) - 1) == 0)
			break;
	}
	if (p + sizeof(key) - 1 > end)
		return (-1);
	p += sizeof(key) - 1;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p >= end || *p < '0' || *p > '9')
		return (-1);
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (v > (INT64_MAX - (*p - '0')) / 10)
			return (-1);
		v = v * 10 + (*p - '0');
	}
	if (end - p < 3 || memcmp(p, " kB", 3) != 0)
		return (-1);
	return (v);
}

int64_t
peak_rss_kb(void)
{
	char buf[STATUS_MAX];
	ssize_t n;
	size_t len = 0;
	int fd;

	if ((fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			close(fd);
			return (-1);
		}
		len += (size_t)n;
	}
	close(fd);
	return (peak_rss_parse(buf, len));
}
