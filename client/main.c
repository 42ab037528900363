/* main.c: jobctl's entry point: global options (--json, -s SOCKET, --help, --version),
 * then the command (commands.c); the exit status is the command's (see client.h). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "log.h"

int
main(int argc, char **argv)
{
	struct ctl c;
	const char *sock = NULL, *arg;
	int i, rv;

	memset(&c, 0, sizeof(c));
	c.out = stdout;
	c.err = stderr;
	c.tty = isatty(STDOUT_FILENO) == 1;
	log_init("jobctl", 1, LOG_LVL_WARN);
	signal(SIGPIPE, SIG_IGN); /* a daemon that goes away is an error, not a signal */

	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (arg[0] != '-')
			break;
		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(arg, "--json") == 0)
			c.json = true;
		else if (strcmp(arg, "-s") == 0 || strcmp(arg, "--socket") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "jobctl: option '%s' needs a value\n", arg);
				return (JOBCTL_EXIT_USAGE);
			}
			sock = argv[++i];
		} else if (strncmp(arg, "-s", 2) == 0)
			sock = arg + 2;
		else if (strncmp(arg, "--socket=", 9) == 0)
			sock = arg + 9;
		else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			cmd_usage(stdout);
			return (JOBCTL_EXIT_OK);
		} else if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
			printf("jobctl %s (protocol %d)\n", JOBCTL_VERSION, IPC_PROTOCOL_VERSION);
			return (JOBCTL_EXIT_OK);
		} else {
			fprintf(stderr, "jobctl: unknown option '%s'\n", arg);
			cmd_usage(stderr);
			return (JOBCTL_EXIT_USAGE);
		}
	}
	if (i >= argc) {
		cmd_usage(stderr);
		return (JOBCTL_EXIT_USAGE);
	}
	c.socket_path = rpc_socket_path(sock);

	rv = cmd_run(&c, argc - i, argv + i);
	rpc_close(c.rpc);
	if (fflush(stdout) != 0 && rv == JOBCTL_EXIT_OK)
		rv = JOBCTL_EXIT_ERROR;
	return (rv);
}
