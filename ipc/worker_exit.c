/* worker_exit.c: turn a worker's wait(2) status into the words a job's error and the
 * log show ("exited with status 3 (store unavailable)", "killed by signal 9 (Killed)"). */
#include <sys/wait.h>

#include <stdio.h>
#include <string.h>

#include "ipc.h"

static const char *worker_exit_name(int code);

static const char *
worker_exit_name(int code)
{
	switch (code) {
	case WEXIT_OK:
		return ("ok");
	case WEXIT_JOB_FAILED:
		return ("job failed");
	case WEXIT_BAD_IPC:
		return ("bad ipc from the supervisor");
	case WEXIT_STORE:
		return ("store unavailable");
	case WEXIT_USAGE:
		return ("usage error");
	}
	return (NULL);
}

void
worker_exit_describe(int wait_status, char *out, size_t outlen)
{
	const char *name;
	int code, sig;

	if (outlen == 0)
		return;
	if (WIFEXITED(wait_status)) {
		code = WEXITSTATUS(wait_status);
		if ((name = worker_exit_name(code)) != NULL)
			snprintf(out, outlen, "exited with status %d (%s)", code, name);
		else
			snprintf(out, outlen, "exited with status %d", code);
	} else if (WIFSIGNALED(wait_status)) {
		sig = WTERMSIG(wait_status);
		name = strsignal(sig);
		snprintf(out, outlen, "killed by signal %d (%s)%s", sig,
		    name != NULL ? name : "unknown", WCOREDUMP(wait_status) ?
		    ", core dumped" : "");
	} else if (WIFSTOPPED(wait_status)) {
		sig = WSTOPSIG(wait_status);
		name = strsignal(sig);
		snprintf(out, outlen, "stopped by signal %d (%s)", sig,
		    name != NULL ? name : "unknown");
	} else
		snprintf(out, outlen, "unknown wait status 0x%x", (unsigned)wait_status);
}
