/* forkexec.c: the reference for job turnaround (docs/benchmarks.md, figure 3): the least a
 * supervisor can do per job, in a loop: socketpair, fork, exec a program with the socket
 * on fd 3, read the socket to EOF, wait for the child. Prints "N jobs in S s: R jobs/s".
 *
 *   forkexec N [PROGRAM]   (default /bin/true)
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

static int
one(const char *prog)
{
	int sv[2], status;
	char buf[256];
	ssize_t n;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		perror("socketpair");
		return (-1);
	}
	switch (pid = fork()) {
	case -1:
		perror("fork");
		close(sv[0]);
		close(sv[1]);
		return (-1);
	case 0:
		if (dup2(sv[1], 3) == -1)
			_exit(127);
		execl(prog, prog, (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	while ((n = read(sv[0], buf, sizeof buf)) != 0) {
		if (n == -1 && errno != EINTR)
			break;
	}
	close(sv[0]);
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			perror("waitpid");
			return (-1);
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "forkexec: %s did not exit 0\n", prog);
		return (-1);
	}
	return (0);
}

int
main(int argc, char **argv)
{
	const char *prog = argc > 2 ? argv[2] : "/bin/true";
	long i, n;
	double t0, dt;

	if (argc < 2 || (n = strtol(argv[1], NULL, 10)) <= 0) {
		fprintf(stderr, "usage: forkexec N [PROGRAM]\n");
		return (64);
	}
	t0 = now_s();
	for (i = 0; i < n; i++) {
		if (one(prog) != 0)
			return (1);
	}
	dt = now_s() - t0;
	printf("%ld jobs in %.3f s: %.1f jobs/s\n", n, dt, n / dt);
	return (0);
}
