/* policy_file.c: parses the policy file of policy_analysis with libinih. A reader
 * function feeds inih line by line, so every error names its line: bad section headers
 * are caught as the reader passes them, key errors in the handler, and missing keys are
 * reported at the section's header line once the file is read. Also: the job parameter
 * policy_file, a file name confined to the directory of the configured policy file (a
 * client names a policy, never a path: the worker may run as root). */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "log.h"
#include "policy_file.h"

#define PF_LINE_MAX 4096

struct pstate {
	FILE *f;
	const char *path;
	int line;
	bool cont; /* the current line starts with white space (a continuation) */
	char *cause;
	struct policy_set *ps;
	struct policy *cur;
	char last_key[32];
};

static const char *const kind_names[] = { "sod", "max_entitlements", "requires",
	"account_rule" };

const char *
policy_kind_name(enum pol_kind k)
{
	return kind_names[k];
}

static void
perr(struct pstate *st, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
perr(struct pstate *st, int line, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (st->cause != NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	st->cause = xasprintf("%s:%d: %s", st->path, line, msg);
	free(msg);
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static bool
valid_name(const char *s)
{
	const char *p;

	if (*s == '\0' || strlen(s) > POL_NAME_MAX)
		return false;
	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return false;
	return true;
}

/* A section header line: start a policy. */
static void
section(struct pstate *st, char *hdr)
{
	struct policy_set *ps = st->ps;
	struct policy *p;
	char *end, *type, *name, *sp;
	size_t i;
	int k = -1;

	st->cur = NULL;
	if ((end = strchr(hdr, ']')) == NULL) {
		perr(st, st->line, "section header without ']'");
		return;
	}
	*end = '\0';
	if (*trim(end + 1) != '\0' && *trim(end + 1) != '#' && *trim(end + 1) != ';') {
		perr(st, st->line, "text after the section header");
		return;
	}
	type = trim(hdr + 1);
	if ((sp = strpbrk(type, " \t")) == NULL) {
		perr(st, st->line, "section [%s] is not [TYPE NAME] (TYPE sod, "
		    "max_entitlements, requires or account_rule)", type);
		return;
	}
	*sp = '\0';
	name = trim(sp + 1);
	for (i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++)
		if (strcmp(type, kind_names[i]) == 0)
			k = (int)i;
	if (k == -1) {
		perr(st, st->line, "unknown policy type '%s' (sod, max_entitlements, "
		    "requires or account_rule)", type);
		return;
	}
	if (!valid_name(name)) {
		perr(st, st->line, "policy name '%s' is not 1 to %d letters, digits, _ - .",
		    name, POL_NAME_MAX);
		return;
	}
	if (strcmp(name, POL_RESERVED_NAME) == 0) {
		perr(st, st->line, "policy name '%s' is reserved", name);
		return;
	}
	for (i = 0; i < ps->n; i++) {
		if (strcmp(ps->p[i].name, name) == 0) {
			perr(st, st->line, "policy '%s' is defined twice (first at line %d)",
			    name, ps->p[i].line);
			return;
		}
	}
	ps->p = xrealloc(ps->p, (ps->n + 1) * sizeof *ps->p);
	p = &ps->p[ps->n++];
	memset(p, 0, sizeof *p);
	p->kind = (enum pol_kind)k;
	snprintf(p->name, sizeof p->name, "%s", name);
	p->line = st->line;
	p->limit = -1;
	p->subjects = k == POL_MAX ? POL_SUBJ_ROLES : POL_SUBJ_OWNERS | POL_SUBJ_ROLES;
	st->cur = p;
	st->last_key[0] = '\0';
}

/* inih's reader: one line at a time, counted; section headers handled here. */
static char *
reader(char *str, int num, void *stream)
{
	struct pstate *st = stream;
	char buf[PF_LINE_MAX], *s;
	size_t len;

	if (st->cause != NULL)
		return NULL;
	if (fgets(buf, sizeof buf, st->f) == NULL)
		return NULL;
	st->line++;
	len = strlen(buf);
	if ((len > 0 && buf[len - 1] != '\n' && !feof(st->f)) || len + 3 > (size_t)num) {
		perr(st, st->line, "line longer than %d characters (continue a list on "
		    "indented lines)", num - 3);
		return NULL;
	}
	memcpy(str, buf, len + 1); /* for inih; buf is ours to cut up */
	st->cont = buf[0] == ' ' || buf[0] == '\t';
	s = trim(buf);
	if (*s == '[') {
		section(st, s);
		if (st->cause != NULL)
			return NULL;
	}
	return str;
}

/* Split a comma-separated list, appending trimmed non-empty items. */
static void
add_list(char ***items, size_t *n, const char *v)
{
	char *copy = xstrdup(v), *tok, *save = NULL, *t;

	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		t = trim(tok);
		if (*t == '\0')
			continue;
		*items = xrealloc(*items, (*n + 1) * sizeof **items);
		(*items)[(*n)++] = xstrdup(t);
	}
	free(copy);
}

/* match = field=value AND field=value ... */
static int
add_match(struct pstate *st, struct policy *p, const char *v)
{
	const char *s = v, *and, *eq, *end;
	char *item, *f, *val;

	while (*s != '\0') {
		while (*s == ' ' || *s == '\t')
			s++;
		/* The next " AND " (any case) ends this condition. */
		for (and = s; *and != '\0'; and++)
			if ((and[0] == ' ' || and[0] == '\t') && strncasecmp(and + 1, "AND", 3) ==
			    0 && (and[4] == ' ' || and[4] == '\t'))
				break;
		end = and;
		item = strndup(s, (size_t)(end - s));
		if (item == NULL)
			fatal("strndup");
		if ((eq = strchr(item, '=')) == NULL) {
			perr(st, st->line, "match condition '%s' is not field=value",
			    trim(item));
			free(item);
			return -1;
		}
		item[eq - item] = '\0';
		f = trim(item);
		val = trim(item + (eq - item) + 1);
		if (!valid_name(f)) {
			perr(st, st->line, "match field '%s' is not an account field name", f);
			free(item);
			return -1;
		}
		p->conds = xrealloc(p->conds, (p->nconds + 1) * sizeof *p->conds);
		p->conds[p->nconds].field = xstrdup(f);
		p->conds[p->nconds].value = xstrdup(val);
		p->nconds++;
		free(item);
		s = *and != '\0' ? and + 4 : and;
	}
	return 0;
}

static int
handler(void *user, const char *sect, const char *name, const char *value)
{
	struct pstate *st = user;
	struct policy *p = st->cur;
	char *end, *copy, *tok, *save = NULL, *t;
	bool cont = st->cont && strcmp(name, st->last_key) == 0;
	long n;

	if (st->cause != NULL)
		return 0;
	if (p == NULL) {
		perr(st, st->line, "'%s' outside a policy section", name);
		return 0;
	}
	if (!cont && strlen(name) < sizeof st->last_key)
		snprintf(st->last_key, sizeof st->last_key, "%s", name);
	if (strcmp(name, "description") == 0)
		return 1;
	if (strcmp(name, "entitlements") == 0 && p->kind == POL_SOD) {
		if (p->nents > 0 && !cont)
			goto twice;
		add_list(&p->ents, &p->nents, value);
		return 1;
	}
	if (strcmp(name, "subjects") == 0 && (p->kind == POL_SOD || p->kind == POL_MAX)) {
		if (p->has_subjects)
			goto twice;
		p->has_subjects = true;
		p->subjects = 0;
		copy = xstrdup(value);
		for (tok = strtok_r(copy, ",", &save); tok != NULL;
		    tok = strtok_r(NULL, ",", &save)) {
			t = trim(tok);
			if (strcmp(t, "owners") == 0)
				p->subjects |= POL_SUBJ_OWNERS;
			else if (strcmp(t, "roles") == 0)
				p->subjects |= POL_SUBJ_ROLES;
			else {
				perr(st, st->line, "subjects: '%s' is not owners or roles", t);
				free(copy);
				return 0;
			}
		}
		free(copy);
		if (p->subjects == 0) {
			perr(st, st->line, "subjects: empty (owners, roles or both)");
			return 0;
		}
		return 1;
	}
	if (strcmp(name, "limit") == 0 && p->kind == POL_MAX) {
		if (p->limit != -1)
			goto twice;
		errno = 0;
		n = strtol(value, &end, 10);
		if (*value == '\0' || *end != '\0' || errno != 0 || n < 0 || n > 1000000) {
			perr(st, st->line, "limit: '%s' is not a number in 0..1000000", value);
			return 0;
		}
		p->limit = n;
		return 1;
	}
	if (strcmp(name, "entitlement") == 0 && p->kind == POL_REQUIRES) {
		if (p->nents > 0)
			goto twice;
		if (*value == '\0' || strchr(value, ',') != NULL) {
			perr(st, st->line, "entitlement: one group id");
			return 0;
		}
		add_list(&p->ents, &p->nents, value);
		return 1;
	}
	if (strcmp(name, "attribute") == 0 && p->kind == POL_REQUIRES) {
		if (p->attribute != NULL)
			goto twice;
		if (!valid_name(value) || value[0] == '_') {
			perr(st, st->line, "attribute: '%s' is not an owner attribute name",
			    value);
			return 0;
		}
		p->attribute = xstrdup(value);
		return 1;
	}
	if (strcmp(name, "values") == 0 && p->kind == POL_REQUIRES) {
		if (p->nvalues > 0 && !cont)
			goto twice;
		add_list(&p->values, &p->nvalues, value);
		return 1;
	}
	if (strcmp(name, "action") == 0 && p->kind == POL_ACCOUNT_RULE) {
		if (p->has_action)
			goto twice;
		if (strcmp(value, "approve") == 0)
			p->reject = false;
		else if (strcmp(value, "reject") == 0)
			p->reject = true;
		else {
			perr(st, st->line, "action: '%s' is not approve or reject", value);
			return 0;
		}
		p->has_action = true;
		return 1;
	}
	if (strcmp(name, "match") == 0 && p->kind == POL_ACCOUNT_RULE) {
		if (p->nconds > 0 && !cont)
			goto twice;
		if (cont && p->nconds > 0) {
			/* A continuation line goes on with "AND ...". */
			while (*value == ' ')
				value++;
			if (strncasecmp(value, "AND ", 4) != 0) {
				perr(st, st->line, "match: a continued condition starts "
				    "with AND");
				return 0;
			}
			value += 4;
		}
		return add_match(st, p, value) == 0;
	}
	perr(st, st->line, "unknown key '%s' in [%s]", name, sect);
	return 0;
twice:
	perr(st, st->line, "'%s' is given twice in [%s]", name, sect);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
cmp_policy(const void *a, const void *b)
{
	return strcmp(((const struct policy *)a)->name, ((const struct policy *)b)->name);
}

static void
validate(struct pstate *st, struct policy *p)
{
	size_t i, j;

	switch (p->kind) {
	case POL_SOD:
		if (p->nents > 1)
			qsort(p->ents, p->nents, sizeof *p->ents, cmp_str);
		for (i = j = 0; i < p->nents; i++) {
			if (j > 0 && strcmp(p->ents[j - 1], p->ents[i]) == 0) {
				free(p->ents[i]);
				continue;
			}
			p->ents[j++] = p->ents[i];
		}
		p->nents = j;
		if (p->nents < 2)
			perr(st, p->line, "[sod %s] needs entitlements = at least two "
			    "different group ids", p->name);
		break;
	case POL_MAX:
		if (p->limit < 0)
			perr(st, p->line, "[max_entitlements %s] needs limit = N", p->name);
		break;
	case POL_REQUIRES:
		if (p->nents != 1)
			perr(st, p->line, "[requires %s] needs entitlement = GROUP", p->name);
		else if (p->attribute == NULL)
			perr(st, p->line, "[requires %s] needs attribute = NAME", p->name);
		else if (p->nvalues == 0)
			perr(st, p->line, "[requires %s] needs values = V1, V2, ...", p->name);
		break;
	case POL_ACCOUNT_RULE:
		if (!p->has_action)
			perr(st, p->line, "[account_rule %s] needs action = approve|reject",
			    p->name);
		else if (p->nconds == 0)
			perr(st, p->line, "[account_rule %s] needs match = field=value "
			    "[AND ...]", p->name);
		break;
	}
}

int
policy_file_load_stream(FILE *f, const char *shown, struct policy_set *ps, char **cause)
{
	struct pstate st;
	size_t i;
	int rv;

	memset(ps, 0, sizeof *ps);
	memset(&st, 0, sizeof st);
	st.f = f;
	st.path = shown;
	st.ps = ps;
	rv = ini_parse_stream(reader, &st, handler, &st);
	if (st.cause == NULL && ferror(st.f))
		st.cause = xasprintf("%s: read error", shown);
	if (st.cause == NULL && rv > 0)
		perr(&st, rv, "syntax error (expected [TYPE NAME], key = value, or a "
		    "comment)");
	else if (st.cause == NULL && rv < 0)
		st.cause = xasprintf("%s: cannot parse (out of memory)", shown);
	for (i = 0; st.cause == NULL && i < ps->n; i++)
		validate(&st, &ps->p[i]);
	if (st.cause != NULL) {
		*cause = st.cause;
		policy_set_free(ps);
		return -1;
	}
	if (ps->n > 1)
		qsort(ps->p, ps->n, sizeof *ps->p, cmp_policy);
	return 0;
}

int
policy_file_load(const char *path, struct policy_set *ps, char **cause)
{
	FILE *f;
	int rv;

	memset(ps, 0, sizeof *ps);
	if ((f = fopen(path, "re")) == NULL) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	rv = policy_file_load_stream(f, path, ps, cause);
	fclose(f);
	return rv;
}

/* --- the policy_file parameter ------------------------------------------------------ */

#define PF_PARAM "parameters.policy_file"

static bool
valid_file_name(const char *s)
{
	const char *p;

	if (*s == '\0' || *s == '.' || strlen(s) > NAME_MAX)
		return false;
	for (p = s; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return false;
	return true;
}

/* The refusal for anything that is not a readable regular file of the directory: one
 * message whatever lies behind the name, so no path outside can be probed with it. */
static char *
refused(const char *dir)
{
	return xasprintf(PF_PARAM ": must be a file name in the policy directory %s", dir);
}

int
policy_file_open_param(const char *conf_file, const char *name, FILE **fp, char **shown,
    char **cause)
{
	char *dir = NULL, *rdir = NULL, *joined = NULL, *rfile = NULL, *slash;
	struct stat sb;
	size_t dlen;
	int fd = -1, rv = -1;

	*fp = NULL;
	*shown = NULL;
	if (conf_file == NULL || *conf_file == '\0') {
		*cause = xstrdup(PF_PARAM ": not allowed without a configured policy file (it "
		    "names a file in the directory of the [analysis] policy_file setting)");
		return -1;
	}
	/* The configured file's directory, as configured (config.c makes it absolute). */
	dir = xstrdup(conf_file);
	if ((slash = strrchr(dir, '/')) == NULL) {
		free(dir);
		dir = xstrdup(".");
	} else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (!valid_file_name(name)) {
		*cause = refused(dir);
		goto out;
	}
	if ((rdir = realpath(dir, NULL)) == NULL) {
		*cause = xasprintf(PF_PARAM ": policy directory %s: %s", dir,
		    strerror(errno));
		goto out;
	}
	joined = xasprintf("%s/%s", strcmp(rdir, "/") == 0 ? "" : rdir, name);
	if (lstat(joined, &sb) != 0 && errno == ENOENT) {
		/* Nothing by that name in the directory (the operator's: no secret). */
		*cause = xasprintf(PF_PARAM ": no file %s in the policy directory %s", name,
		    dir);
		goto out;
	}
	/* A symlink is followed only to a file inside the directory; a dangling one, a
	 * loop, an unreadable target, one outside: all the same refusal. */
	if ((rfile = realpath(joined, NULL)) == NULL) {
		*cause = refused(dir);
		goto out;
	}
	dlen = strlen(rdir);
	if (strcmp(rdir, "/") != 0 && (strncmp(rfile, rdir, dlen) != 0 ||
	    rfile[dlen] != '/')) {
		*cause = refused(dir);
		goto out;
	}
	/* Not following a symlink swapped in since, not blocking on a fifo. */
	if ((fd = open(rfile, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) == -1 ||
	    fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		*cause = refused(dir);
		goto out;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == -1 ||
	    (*fp = fdopen(fd, "r")) == NULL) {
		*cause = xasprintf(PF_PARAM ": %s/%s: %s", dir, name, strerror(errno));
		goto out;
	}
	fd = -1;
	*shown = xasprintf("%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name);
	rv = 0;
out:
	if (fd != -1)
		close(fd);
	free(rfile);
	free(joined);
	free(rdir);
	free(dir);
	return rv;
}

void
policy_set_free(struct policy_set *ps)
{
	struct policy *p;
	size_t i, j;

	for (i = 0; i < ps->n; i++) {
		p = &ps->p[i];
		for (j = 0; j < p->nents; j++)
			free(p->ents[j]);
		free(p->ents);
		for (j = 0; j < p->nvalues; j++)
			free(p->values[j]);
		free(p->values);
		for (j = 0; j < p->nconds; j++) {
			free(p->conds[j].field);
			free(p->conds[j].value);
		}
		free(p->conds);
		free(p->attribute);
	}
	free(ps->p);
	memset(ps, 0, sizeof *ps);
}
