/* config.c: the configuration file (INI via libinih) into struct config. Every key lives in
 * one table with its section, type, default and bounds; anything not in the table is an
 * error naming the file, the line and the key. libinih's handler gets no line number in
 * Debian's build, so the file is fed through our own line reader that counts lines and
 * checks section headers itself (inih does not report empty sections). */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <ini.h>

#include "config.h"
#include "log.h"
#include "store.h" /* STORE_REGION_BASE_DEFAULT */

#define CONFIG_MAX_LINE 8192

enum sect { S_MAIN, S_HTTP, S_ANALYSIS, S_SOURCE };

enum ktype {
	K_PATH,    /* string, relative paths resolved against the config file's directory */
	K_STR,     /* string */
	K_INT,     /* integer, stored as is */
	K_SECONDS, /* integer seconds, stored as milliseconds */
	K_SIZE,    /* integer, stored as size_t */
	K_LEVEL,   /* log level name */
	K_GROUP,   /* an existing group name or "" */
	K_USER,    /* an existing user name or "" */
	K_LISTEN,  /* one or more addresses; repeatable */
};

struct key {
	enum sect sect;
	const char *name;
	enum ktype type;
	size_t off;
	size_t size; /* strings */
	long long min, max;
	bool empty_ok; /* strings: "" allowed */
};

#define F(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define I(f) offsetof(struct config, f), 0

static const struct key keys[] = {
	{S_MAIN, "data_dir", K_PATH, F(data_dir), 0, 0, false},
	{S_MAIN, "socket", K_PATH, F(socket), 0, 0, false},
	{S_MAIN, "pid_file", K_PATH, F(pid_file), 0, 0, true},
	{S_MAIN, "region_dir", K_PATH, F(region_dir), 0, 0, true},
	{S_MAIN, "admin_group", K_GROUP, F(admin_group), 0, 0, true},
	{S_MAIN, "user", K_USER, F(user), 0, 0, true},
	{S_MAIN, "worker_path", K_PATH, F(worker_path), 0, 0, true},
	{S_MAIN, "http_path", K_PATH, F(http_path), 0, 0, true},
	{S_MAIN, "max_workers", K_INT, I(max_workers), 1, 256, false},
	{S_MAIN, "cancel_grace", K_SECONDS, I(cancel_grace_ms), 0, 3600, false},
	{S_MAIN, "max_delete_percent", K_INT, I(max_delete_percent), 0, 100, false},
	{S_MAIN, "retention_days", K_INT, I(retention_days), 0, 36500, false},
	{S_MAIN, "retention_count", K_INT, I(retention_count), 0, 100000000, false},
	{S_MAIN, "progress_interval_ms", K_INT, I(progress_interval_ms), 10, 60000, false},
	{S_MAIN, "worker_start_timeout", K_SECONDS, I(worker_start_timeout_ms), 1, 600, false},
	{S_MAIN, "checkpoint_log_mb", K_INT, I(checkpoint_log_mb), 1, 65536, false},
	{S_MAIN, "commit_delay_us", K_INT, I(commit_delay_us), 0, 1000000, false},
	{S_MAIN, "log_level", K_LEVEL, F(log_level), 0, 0, false},

	{S_HTTP, "listen", K_LISTEN, 0, 0, 0, 0, false},
	{S_HTTP, "processes", K_INT, I(http_processes), 1, 64, false},
	{S_HTTP, "max_connections", K_INT, I(http_max_connections), 1, 1000000, false},
	{S_HTTP, "idle_timeout", K_SECONDS, I(http_idle_timeout_ms), 1, 3600, false},
	{S_HTTP, "request_timeout", K_SECONDS, I(http_request_timeout_ms), 1, 3600, false},
	{S_HTTP, "max_header_bytes", K_SIZE, I(http_max_header_bytes), 1024, 1048576, false},
	{S_HTTP, "max_body_bytes", K_SIZE, I(http_max_body_bytes), 1024, 16777216, false},

	{S_ANALYSIS, "policy_file", K_PATH, F(policy_file), 0, 0, true},
};

struct ctx {
	struct config *c;
	const char *path;
	FILE *f;
	int lineno;
	char dir[PATH_MAX]; /* of the config file, for relative paths */
	enum sect sect;
	struct source_conf *src; /* S_SOURCE */
	int src_line[CONFIG_MAX_SOURCES];
	char *cause;
};

static void
ctx_error(struct ctx *x, const char *what, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
ctx_error(struct ctx *x, const char *what, const char *name, const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	if (x->cause != NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	x->cause = xasprintf("%s:%d: %s '%s': %s", x->path, x->lineno, what, name, msg);
}

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->data_dir, sizeof(c->data_dir), "/var/lib/jobsd");
	snprintf(c->socket, sizeof(c->socket), "/run/jobsd/jobsd.sock");
	snprintf(c->pid_file, sizeof(c->pid_file), "/run/jobsd/jobsd.pid");
	snprintf(c->region_dir, sizeof(c->region_dir), "%s", STORE_REGION_BASE_DEFAULT);
	c->max_workers = 2;
	c->cancel_grace_ms = 10000;
	c->max_delete_percent = 20;
	c->retention_days = 30;
	c->retention_count = 10000;
	c->progress_interval_ms = 250;
	c->worker_start_timeout_ms = 10000;
	c->checkpoint_log_mb = 256;
	c->commit_delay_us = 2000;
	snprintf(c->log_level, sizeof(c->log_level), "info");
	c->http_processes = 1;
	c->http_max_connections = 1024;
	c->http_idle_timeout_ms = 60000;
	c->http_request_timeout_ms = 10000;
	c->http_max_header_bytes = 16384;
	c->http_max_body_bytes = 65536;
}

static bool
valid_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n >= max)
		return (false);
	for (; *s != '\0'; s++) {
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return (false);
	}
	return (true);
}

/* "host:port", "[v6]:port", "*:port" or ":port". */
static int
check_listen(const char *s, char **why)
{
	const char *colon, *port;
	char *end;
	long p;

	if (*s == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':' || rb == s + 1) {
			*why = xasprintf("'%s' is not [ADDRESS]:PORT", s);
			return (-1);
		}
		port = rb + 2;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL) {
			*why = xasprintf("'%s' is not HOST:PORT", s);
			return (-1);
		}
		port = colon + 1;
	}
	errno = 0;
	p = strtol(port, &end, 10);
	if (*port == '\0' || *end != '\0' || errno != 0 || p < 1 || p > 65535 ||
	    !isdigit((unsigned char)*port)) {
		*why = xasprintf("'%s': port must be 1..65535", s);
		return (-1);
	}
	return (0);
}

static int
set_listen(struct ctx *x, const char *value)
{
	char *copy, *tok, *save = NULL, *why = NULL;

	copy = xstrdup(value);
	for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t,", &save)) {
		if (strlen(tok) >= sizeof(x->c->listen[0])) {
			ctx_error(x, "key", "listen", "address too long");
			goto fail;
		}
		if (check_listen(tok, &why) == -1) {
			ctx_error(x, "key", "listen", "%s", why);
			free(why);
			goto fail;
		}
		if (x->c->nlisten == CONFIG_MAX_LISTEN) {
			ctx_error(x, "key", "listen", "more than %d addresses", CONFIG_MAX_LISTEN);
			goto fail;
		}
		snprintf(x->c->listen[x->c->nlisten++], sizeof(x->c->listen[0]), "%s", tok);
	}
	free(copy);
	return (0);
fail:
	free(copy);
	return (-1);
}

static int
set_path(struct ctx *x, const char *name, const char *value, char *out, size_t size)
{
	int n;

	if (*value == '/' || *value == '\0')
		n = snprintf(out, size, "%s", value);
	else
		n = snprintf(out, size, "%s/%s", x->dir, value);
	if (n < 0 || (size_t)n >= size) {
		ctx_error(x, "key", name, "path too long");
		return (-1);
	}
	return (0);
}

static int
parse_int(struct ctx *x, const struct key *k, const char *value, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(value, &end, 10);
	if (*value == '\0' || *end != '\0' || errno != 0 ||
	    (!isdigit((unsigned char)*value) && *value != '-')) {
		ctx_error(x, "key", k->name, "'%s' is not an integer", value);
		return (-1);
	}
	if (v < k->min || v > k->max) {
		ctx_error(x, "key", k->name, "%lld is out of range (%lld..%lld)", v, k->min,
			  k->max);
		return (-1);
	}
	*out = v;
	return (0);
}

static int
set_key(struct ctx *x, const struct key *k, const char *value)
{
	char *base = (char *)x->c;
	long long v;

	if (k->off == offsetof(struct config, pid_file) && k->sect == S_MAIN)
		x->c->pid_file_set = true;
	switch (k->type) {
	case K_PATH:
	case K_STR:
	case K_LEVEL:
	case K_GROUP:
	case K_USER:
		if (*value == '\0' && !k->empty_ok) {
			ctx_error(x, "key", k->name, "must not be empty");
			return (-1);
		}
		if (k->type == K_LEVEL && strcmp(value, "error") != 0 &&
		    strcmp(value, "warning") != 0 && strcmp(value, "info") != 0 &&
		    strcmp(value, "debug") != 0) {
			ctx_error(x, "key", k->name,
				  "'%s' is not one of error, warning, info, debug", value);
			return (-1);
		}
		if (k->type == K_GROUP && *value != '\0' && getgrnam(value) == NULL) {
			ctx_error(x, "key", k->name, "no such group '%s'", value);
			return (-1);
		}
		if (k->type == K_USER && *value != '\0' && getpwnam(value) == NULL) {
			ctx_error(x, "key", k->name, "no such user '%s'", value);
			return (-1);
		}
		if (k->type == K_PATH)
			return (set_path(x, k->name, value, base + k->off, k->size));
		if (strlen(value) >= k->size) {
			ctx_error(x, "key", k->name, "value too long (max %zu bytes)",
				  k->size - 1);
			return (-1);
		}
		snprintf(base + k->off, k->size, "%s", value);
		return (0);
	case K_INT:
	case K_SECONDS:
	case K_SIZE:
		if (parse_int(x, k, value, &v) == -1)
			return (-1);
		if (k->type == K_INT)
			*(int *)(base + k->off) = (int)v;
		else if (k->type == K_SECONDS)
			*(int *)(base + k->off) = (int)(v * 1000);
		else
			*(size_t *)(base + k->off) = (size_t)v;
		return (0);
	case K_LISTEN:
		return (set_listen(x, value));
	}
	return (-1);
}

static int
source_key(struct ctx *x, const char *name, const char *value)
{
	struct source_conf *s = x->src;

	if (strcmp(name, "type") == 0) {
		if (strcmp(value, "csv") != 0) {
			ctx_error(x, "key", name, "unknown source type '%s' (only csv)", value);
			return (0);
		}
		snprintf(s->type, sizeof(s->type), "%s", value);
	} else if (strcmp(name, "path") == 0) {
		if (*value == '\0') {
			ctx_error(x, "key", name, "must not be empty");
			return (0);
		}
		if (set_path(x, name, value, s->path, sizeof(s->path)) == -1)
			return (0);
	} else if (strcmp(name, "manager_ref") == 0) {
		if (strcmp(value, "auto") != 0 && strcmp(value, "employee_id") != 0 &&
		    strcmp(value, "email") != 0 && strcmp(value, "dn") != 0) {
			ctx_error(x, "key", name,
				  "'%s' is not one of auto, employee_id, email, dn", value);
			return (0);
		}
		snprintf(s->manager_ref, sizeof(s->manager_ref), "%s", value);
	} else {
		ctx_error(x, "key", name, "unknown key in section [source %s]", s->name);
		return (0);
	}
	return (1);
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct ctx *x = user;
	size_t i;

	if (x->cause != NULL)
		return (0);
	if (x->sect == S_SOURCE)
		return (source_key(x, name, value));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (keys[i].sect == x->sect && strcmp(keys[i].name, name) == 0)
			return (set_key(x, &keys[i], value) == 0);
	}
	ctx_error(x, "key", name, "unknown key in section [%s]",
		  *section == '\0' ? "jobsd" : section);
	return (0);
}

/* A section header, seen by the reader before inih parses it. */
static void
section_line(struct ctx *x, const char *line)
{
	char name[256], *p;
	const char *rb;
	size_t n, i;

	rb = strchr(line, ']');
	if (rb == NULL)
		return; /* inih reports it */
	n = (size_t)(rb - line - 1);
	if (n >= sizeof(name)) {
		ctx_error(x, "section", "?", "name too long");
		return;
	}
	memcpy(name, line + 1, n);
	name[n] = '\0';
	for (p = name + n; p > name && isspace((unsigned char)p[-1]); p--)
		p[-1] = '\0';
	for (p = name; isspace((unsigned char)*p); p++)
		;
	if (strcmp(p, "jobsd") == 0)
		x->sect = S_MAIN;
	else if (strcmp(p, "http") == 0)
		x->sect = S_HTTP;
	else if (strcmp(p, "analysis") == 0)
		x->sect = S_ANALYSIS;
	else if (strncmp(p, "source", 6) == 0 && isspace((unsigned char)p[6])) {
		const char *sname = p + 6;

		while (isspace((unsigned char)*sname))
			sname++;
		if (!valid_name(sname, sizeof(x->src->name))) {
			ctx_error(x, "section", p,
				  "source name must be 1-63 letters, digits, '.', '_' or '-'");
			return;
		}
		for (i = 0; i < x->c->nsources; i++) {
			if (strcmp(x->c->sources[i].name, sname) == 0) {
				ctx_error(x, "section", p, "duplicate source (first at line %d)",
					  x->src_line[i]);
				return;
			}
		}
		if (x->c->nsources == CONFIG_MAX_SOURCES) {
			ctx_error(x, "section", p, "more than %d sources", CONFIG_MAX_SOURCES);
			return;
		}
		x->src_line[x->c->nsources] = x->lineno;
		x->src = &x->c->sources[x->c->nsources++];
		memset(x->src, 0, sizeof(*x->src));
		snprintf(x->src->name, sizeof(x->src->name), "%s", sname);
		snprintf(x->src->manager_ref, sizeof(x->src->manager_ref), "auto");
		x->sect = S_SOURCE;
	} else
		ctx_error(x, "section", p,
			  "unknown section (expected jobsd, http, analysis or source NAME)");
}

static char *
reader(char *str, int num, void *stream)
{
	struct ctx *x = stream;
	const char *p;
	size_t n;

	if (x->cause != NULL)
		return (NULL); /* stop parsing */
	if (fgets(str, num, x->f) == NULL)
		return (NULL);
	x->lineno++;
	n = strlen(str);
	if (n > 0 && str[n - 1] != '\n' && !feof(x->f)) {
		ctx_error(x, "line", "?", "longer than %d bytes", num - 3);
		return (NULL);
	}
	for (p = str; isspace((unsigned char)*p); p++)
		;
	if (*p == '[')
		section_line(x, p);
	if (x->cause != NULL)
		return (NULL);
	return (str);
}

/* Checks needing the whole file. */
static int
config_finish(struct ctx *x)
{
	struct config *c = x->c;
	size_t i;

	for (i = 0; i < c->nsources; i++) {
		struct source_conf *s = &c->sources[i];
		const char *missing = NULL;

		if (s->type[0] == '\0')
			missing = "type";
		else if (s->path[0] == '\0')
			missing = "path";
		if (missing != NULL) {
			x->lineno = x->src_line[i];
			ctx_error(x, "key", missing, "missing in section [source %s]", s->name);
			return (-1);
		}
	}
	if (strlen(c->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		x->cause = xasprintf("%s: key 'socket': path longer than %zu bytes", x->path,
				     sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return (-1);
	}
	return (0);
}

int
config_load(const char *path, struct config *c, char **cause)
{
	struct ctx x;
	struct config *tmp;
	char *copy;
	int rc;

	tmp = xmalloc(sizeof(*tmp));
	config_defaults(tmp);
	memset(&x, 0, sizeof(x));
	x.c = tmp;
	x.path = path;
	x.sect = S_MAIN;
	if (strlen(path) >= sizeof(tmp->path)) {
		*cause = xasprintf("%s: path too long", path);
		free(tmp);
		return (-1);
	}
	snprintf(tmp->path, sizeof(tmp->path), "%s", path);
	copy = xstrdup(path);
	snprintf(x.dir, sizeof(x.dir), "%s", dirname(copy));
	free(copy);
	if (x.dir[0] != '/') {
		char cwd[PATH_MAX], joined[PATH_MAX];

		if (getcwd(cwd, sizeof(cwd)) != NULL &&
		    (size_t)snprintf(joined, sizeof(joined), "%s/%s", cwd, x.dir) <
			sizeof(joined))
			snprintf(x.dir, sizeof(x.dir), "%s", joined);
	}

	if ((x.f = fopen(path, "r")) == NULL) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		free(tmp);
		return (-1);
	}
	/* Debian's inih exposes its compile-time options as variables. */
	ini_use_stack = false;
	ini_max_line = CONFIG_MAX_LINE;
	ini_allow_realloc = false;
	ini_allow_multiline = false;
	ini_stop_on_first_error = true;
	ini_allow_no_value = false;

	rc = ini_parse_stream(reader, &x, handler, &x);
	if (x.cause == NULL && ferror(x.f))
		x.cause = xasprintf("%s: read error", path);
	fclose(x.f);
	if (x.cause == NULL && rc > 0)
		x.cause = xasprintf("%s:%d: syntax error (expected key = value or [section])",
				    path, rc);
	else if (x.cause == NULL && rc < 0)
		x.cause = xasprintf("%s: cannot parse (out of memory)", path);
	if (x.cause == NULL)
		config_finish(&x);
	if (x.cause != NULL) {
		*cause = x.cause;
		free(tmp);
		return (-1);
	}
	*c = *tmp;
	free(tmp);
	return (0);
}

const struct source_conf *
config_source(const struct config *c, const char *name)
{
	size_t i;

	if (name == NULL)
		return (c->nsources > 0 ? &c->sources[0] : NULL);
	for (i = 0; i < c->nsources; i++) {
		if (strcmp(c->sources[i].name, name) == 0)
			return (&c->sources[i]);
	}
	return (NULL);
}
