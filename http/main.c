/* main.c: jobsd-http. Started by the supervisor as `jobsd-http -c CONFIG` with the
 * supervisor link on fd 3 (HTTP_IPC_FD) and JOBSD_HTTP_FDS=N pre-bound listening sockets on
 * fds 4..4+N-1, and the token epoch's memfd on the fd JOBSD_HTTP_EPOCH_FD names (for the
 * token cache); it exits when the supervisor link closes. Standalone (tests, debugging):
 * `--listen ADDR:PORT` binds itself (port 0 picks a free port, written to --port-file), and
 * without `--ipc-fd N` there is no supervisor: submit, cancel and /healthz answer 503. */
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "render_cache.h"
#include "server.h"
#include "store.h"
#include "token_cache.h"
#include "token_epoch.h"

#define HTTP_FDS_ENV "JOBSD_HTTP_FDS"
#define HTTP_FIRST_LISTEN_FD 4

static void
usage(void)
{
	fprintf(stderr, "usage: jobsd-http -c CONFIG [--listen ADDR:PORT]... [--ipc-fd FD] "
			"[--port-file PATH] [--supervisor-timeout SECONDS]\n");
	exit(64);
}

/* "127.0.0.1:8080", "[::1]:0", "localhost:8080" -> a bound, listening socket. */
static int
bind_listen(const char *spec, char **cause)
{
	char host[128], *colon;
	const char *port;
	struct addrinfo hints, *res, *ai;
	int fd = -1, on = 1, rc;

	if (spec[0] == '[') {
		snprintf(host, sizeof(host), "%s", spec + 1);
		if ((colon = strchr(host, ']')) == NULL || colon[1] != ':') {
			*cause = xasprintf("'%s' is not [ADDRESS]:PORT", spec);
			return (-1);
		}
		*colon = '\0';
		port = colon + 2;
	} else {
		snprintf(host, sizeof(host), "%s", spec);
		if ((colon = strrchr(host, ':')) == NULL) {
			*cause = xasprintf("'%s' is not HOST:PORT", spec);
			return (-1);
		}
		*colon = '\0';
		port = colon + 1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &res)) != 0) {
		*cause = xasprintf("%s: %s", spec, gai_strerror(rc));
		return (-1);
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 511) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		*cause = xasprintf("%s: %s", spec, strerror(errno));
	return (fd);
}

static int
local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return (-1);
	if (ss.ss_family == AF_INET)
		return (ntohs(((struct sockaddr_in *)&ss)->sin_port));
	if (ss.ss_family == AF_INET6)
		return (ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	return (-1);
}

static enum log_level
level_of(const char *s)
{
	if (strcmp(s, "error") == 0)
		return (LOG_LVL_ERR);
	if (strcmp(s, "warning") == 0)
		return (LOG_LVL_WARN);
	if (strcmp(s, "debug") == 0)
		return (LOG_LVL_DEBUG);
	return (LOG_LVL_INFO);
}

/* The token cache, on the supervisor's token epoch (TOKEN_EPOCH_FD_ENV), which can only be
 * fd `expected` (the one after the listening sockets; -1 when they were not passed in).
 * NULL without it, and then every request asks the store: a listener runs without its
 * cache rather than not at all, and never closes a descriptor that is not the epoch's. */
static struct token_cache *
token_cache_open(struct token_epoch *epoch, int expected)
{
	const char *env = getenv(TOKEN_EPOCH_FD_ENV);
	struct token_cache *tc;
	char *end, *cause = NULL;
	long fd;

	if (env == NULL)
		return (NULL);
	fd = strtol(env, &end, 10);
	if (expected == -1) {
		log_warnx("%s=%s ignored: not started by jobsd; every request's token is "
		          "checked in the store",
		          TOKEN_EPOCH_FD_ENV, env);
		return (NULL);
	}
	if (*env == '\0' || *end != '\0' || fd != expected) {
		log_warnx("%s=%s ignored: the epoch comes on fd %d; every request's token is "
		          "checked in the store",
		          TOKEN_EPOCH_FD_ENV, env, expected);
		return (NULL);
	}
	if (token_epoch_attach(epoch, (int)fd, &cause) != 0) {
		log_warnx("%s; every request's token is checked in the store", cause);
		free(cause);
		return (NULL);
	}
	tc = xcalloc(1, sizeof(*tc));
	token_cache_init(tc, epoch);
	return (tc);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"listen", required_argument, NULL, 'l'},
		{"ipc-fd", required_argument, NULL, 'i'},
		{"port-file", required_argument, NULL, 'p'},
		{"supervisor-timeout", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	const char *config_path = NULL, *port_file = NULL, *env;
	const char *listen_specs[SERVER_MAX_LISTENERS];
	size_t nlisten = 0, i;
	int ch, ipc_fd = -1, nfds = 0, fd;
	double sup_timeout = 30;
	struct config *conf;
	struct store *st = NULL;
	struct token_epoch epoch = {-1, NULL};
	struct server srv;
	char *cause = NULL, *end, *tmp;
	FILE *f;

	log_init("jobsd-http", 1, LOG_LVL_INFO);
	while ((ch = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'l':
			if (nlisten == SERVER_MAX_LISTENERS)
				usage();
			listen_specs[nlisten++] = optarg;
			break;
		case 'i':
			ipc_fd = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || ipc_fd < 0)
				usage();
			break;
		case 'p':
			port_file = optarg;
			break;
		case 't':
			/* tests: how long a submit waits for the supervisor (a cancel adds
			 * cancel_grace); 30 s by default */
			sup_timeout = strtod(optarg, &end);
			if (*end != '\0' || !(sup_timeout > 0 && sup_timeout <= 3600))
				usage();
			break;
		default:
			usage();
		}
	}
	if (optind != argc || config_path == NULL)
		usage();

	conf = xcalloc(1, sizeof(*conf));
	if (config_load(config_path, conf, &cause) != 0)
		fatalx("%s", cause);
	log_set_level(level_of(conf->log_level));
	signal(SIGPIPE, SIG_IGN);

	server_init(&srv, ev_default_loop(EVFLAG_AUTO));
	srv.limits.max_header_bytes = conf->http_max_header_bytes;
	srv.limits.max_body_bytes = conf->http_max_body_bytes;
	srv.max_connections = conf->http_max_connections;
	srv.idle_timeout_s = conf->http_idle_timeout_ms / 1000.0;
	srv.request_timeout_s = conf->http_request_timeout_ms / 1000.0;
	srv.submit_timeout_s = sup_timeout;
	srv.cancel_timeout_s = conf->cancel_grace_ms / 1000.0 + sup_timeout;

	if ((env = getenv(HTTP_FDS_ENV)) != NULL && nlisten == 0) {
		nfds = (int)strtol(env, &end, 10);
		if (*end != '\0' || nfds < 1 || nfds > SERVER_MAX_LISTENERS)
			fatalx("%s: bad value '%s'", HTTP_FDS_ENV, env);
		for (fd = HTTP_FIRST_LISTEN_FD; fd < HTTP_FIRST_LISTEN_FD + nfds; fd++) {
			if (server_add_listener(&srv, fd, &cause) != 0)
				fatalx("%s", cause);
		}
		if (ipc_fd == -1)
			ipc_fd = HTTP_IPC_FD;
		srv.exit_without_supervisor = true;
	} else {
		if (nlisten == 0)
			fatalx("no listening sockets: use --listen or start me from jobsd");
		for (i = 0; i < nlisten; i++) {
			if ((fd = bind_listen(listen_specs[i], &cause)) == -1)
				fatalx("listen %s", cause);
			if (server_add_listener(&srv, fd, &cause) != 0)
				fatalx("%s", cause);
		}
		if (ipc_fd != -1)
			srv.exit_without_supervisor = true;
	}
	if (ipc_fd != -1 && server_set_supervisor(&srv, ipc_fd, &cause) != 0)
		fatalx("%s", cause);

	if (store_open(conf->data_dir, STORE_READER, &st, &cause) != 0)
		fatalx("store %s: %s", conf->data_dir, cause);
	srv.api.store = st;
	srv.api.cursor_key = store_cursor_key(st);
	srv.api.cache = render_cache_new(RENDER_CACHE_ENTRIES);
	srv.api.tokens = token_cache_open(&epoch, nfds > 0 ? HTTP_FIRST_LISTEN_FD + nfds : -1);

	if (port_file != NULL) {
		/* Written whole, then renamed: a test polling for it never reads half. */
		tmp = xasprintf("%s.tmp", port_file);
		if ((f = fopen(tmp, "w")) == NULL)
			fatal("%s", tmp);
		fprintf(f, "%d\n", local_port(srv.listeners[0].fd));
		if (fclose(f) != 0 || rename(tmp, port_file) != 0)
			fatal("%s", port_file);
		free(tmp);
	}
	log_info("serving %zu listening socket(s), data_dir %s", srv.nlisteners, conf->data_dir);
	server_run(&srv);
	/* Exiting now: the supervisor may SIGTERM again when our link closes (server_free);
	 * that must not cut the store's close short. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	server_free(&srv);
	free(srv.api.tokens);
	token_epoch_close(&epoch);
	store_close(st);
	free(conf);
	ev_loop_destroy(ev_default_loop(0));
	return (0);
}
