/* check_datagen.c: tests of jobsd-datagen, run as the real binary ($JOBSD_BIN_DIR):
 * determinism, row counts against hand-derived formulas, RFC 4180 well-formedness (own
 * tiny checker), the planted manager/link/SoD facts, --mutate numbers against an
 * independent diff of the two directories, and argument errors. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <yajl/yajl_tree.h>

#include "job.h"
#include "store.h"
#include "worker/jobctx.h"

Suite *datagen_suite(void);

/* ---- helpers ------------------------------------------------------------ */

static char	 tmpdir[256];

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return (remove(path));
}

static void
setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/check_datagen.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void
teardown(void)
{
	if (tmpdir[0] != '\0')
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

static char *
path_in(const char *dir, const char *name)
{
	static char	buf[4][512];
	static int	n;
	char		*p = buf[n++ % 4];

	if (name == NULL)
		snprintf(p, 512, "%s/%s", tmpdir, dir);
	else
		snprintf(p, 512, "%s/%s/%s", tmpdir, dir, name);
	return (p);
}

/* Run jobsd-datagen with a NULL-terminated argument list; stderr into *err (malloc'd,
 * may be NULL). Returns the exit status, or -1 if it did not exit normally. */
static int
run_datagen(char **err, ...)
{
	const char	*bindir = getenv("JOBSD_BIN_DIR");
	char		 bin[512], errpath[600], *argv[32];
	va_list		 ap;
	int		 argc = 0, status, fd;
	pid_t		 pid;
	FILE		*fp;
	long		 len;

	snprintf(bin, sizeof bin, "%s/jobsd-datagen", bindir != NULL ? bindir : "build");
	argv[argc++] = bin;
	va_start(ap, err);
	while ((argv[argc] = va_arg(ap, char *)) != NULL && argc < 30)
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	snprintf(errpath, sizeof errpath, "%s/stderr.txt", tmpdir);

	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd == -1)
			_exit(127);
		dup2(fd, 2);
		close(fd);
		fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		close(fd);
		execv(bin, argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (err != NULL) {
		*err = NULL;
		if ((fp = fopen(errpath, "r")) != NULL) {
			fseek(fp, 0, SEEK_END);
			len = ftell(fp);
			rewind(fp);
			*err = calloc(1, (size_t)len + 1);
			if (fread(*err, 1, (size_t)len, fp) != (size_t)len)
				(*err)[0] = '\0';
			fclose(fp);
		}
	}
	unlink(errpath);
	return (WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static char *
slurp(const char *path, size_t *lenp)
{
	FILE	*fp;
	char	*buf;
	long	 len;

	fp = fopen(path, "rb");
	ck_assert_msg(fp != NULL, "cannot open %s", path);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)len + 1);
	ck_assert_int_eq(fread(buf, 1, (size_t)len, fp), (size_t)len);
	buf[len] = '\0';
	fclose(fp);
	if (lenp != NULL)
		*lenp = (size_t)len;
	return (buf);
}

static int
files_equal(const char *a, const char *b)
{
	size_t	la, lb;
	char	*x = slurp(a, &la), *y = slurp(b, &lb);
	int	 eq = la == lb && memcmp(x, y, la) == 0;

	free(x);
	free(y);
	return (eq);
}

static yajl_val
manifest(const char *dir)
{
	char		*text = slurp(path_in(dir, "manifest.json"), NULL), errbuf[256];
	yajl_val	 v = yajl_tree_parse(text, errbuf, sizeof errbuf);

	ck_assert_msg(v != NULL, "manifest.json: %s", errbuf);
	free(text);
	return (v);
}

/* A number in the manifest at path a.b.c. */
static long long
mnum(yajl_val root, const char *a, const char *b, const char *c)
{
	const char	*path[4] = { a, b, c, NULL };
	yajl_val	 v = yajl_tree_get(root, path, yajl_t_number);

	ck_assert_msg(v != NULL, "manifest: no number at %s.%s.%s", a, b ? b : "",
	    c ? c : "");
	return (YAJL_GET_INTEGER(v));
}

/* A string in the manifest at path a.b. */
static const char *
mstr(yajl_val root, const char *a, const char *b)
{
	const char	*path[3] = { a, b, NULL };
	yajl_val	 v = yajl_tree_get(root, path, yajl_t_string);

	ck_assert_msg(v != NULL, "manifest: no string at %s.%s", a, b ? b : "");
	return (YAJL_GET_STRING(v));
}

/* ---- a tiny RFC 4180 reader, independent of the generator's and the worker's ---- */

struct table {
	size_t	  ncols, nrows;	/* rows without the header */
	char	***rows;	/* rows[r][c]; rows[0] is the header */
};

/* Parse a whole file strictly: CRLF or LF record ends, quoted fields with "" escapes,
 * no quote inside an unquoted field, every record with the header's column count. */
static struct table *
parse_csv(const char *path)
{
	size_t		 len, i = 0, cap = 0, fcap, nf, flen;
	char		*s = slurp(path, &len), *field, **rec;
	struct table	*t = calloc(1, sizeof *t);
	int		 quoted;

	while (i < len) {
		rec = NULL;
		nf = fcap = 0;
		for (;;) {
			field = malloc(len + 1);
			flen = 0;
			quoted = 0;
			if (s[i] == '"') {
				quoted = 1;
				i++;
				for (;;) {
					ck_assert_msg(i < len, "%s: unterminated quote", path);
					if (s[i] == '"') {
						if (i + 1 < len && s[i + 1] == '"') {
							field[flen++] = '"';
							i += 2;
							continue;
						}
						i++;
						break;
					}
					field[flen++] = s[i++];
				}
			} else {
				while (i < len && s[i] != ',' && s[i] != '\r' && s[i] != '\n') {
					ck_assert_msg(s[i] != '"', "%s: bare quote at byte %zu",
					    path, i);
					field[flen++] = s[i++];
				}
			}
			field[flen] = '\0';
			if (nf == fcap) {
				fcap = fcap ? fcap * 2 : 16;
				rec = realloc(rec, fcap * sizeof *rec);
			}
			rec[nf++] = field;
			(void)quoted;
			if (i < len && s[i] == ',') {
				i++;
				continue;
			}
			if (i + 1 < len && s[i] == '\r' && s[i + 1] == '\n')
				i += 2;
			else if (i < len && s[i] == '\n')
				i++;
			else
				ck_assert_msg(i == len, "%s: junk after a field at byte %zu",
				    path, i);
			break;
		}
		if (t->nrows + 1 >= cap) {
			cap = cap ? cap * 2 : 64;
			t->rows = realloc(t->rows, cap * sizeof *t->rows);
		}
		if (t->ncols == 0)
			t->ncols = nf;
		ck_assert_msg(nf == t->ncols, "%s: record %zu has %zu fields, header %zu",
		    path, t->nrows, nf, t->ncols);
		t->rows[t->nrows++] = rec;
	}
	ck_assert_msg(len >= 2 && s[len - 2] == '\r' && s[len - 1] == '\n',
	    "%s: does not end with CRLF", path);
	free(s);
	ck_assert_uint_ge(t->nrows, 1);
	t->nrows--;	/* the header */
	return (t);
}

static void
free_table(struct table *t)
{
	size_t	r, c;

	for (r = 0; r <= t->nrows; r++) {
		for (c = 0; c < t->ncols; c++)
			free(t->rows[r][c]);
		free(t->rows[r]);
	}
	free(t->rows);
	free(t);
}

static int
col(const struct table *t, const char *name)
{
	size_t	c;

	for (c = 0; c < t->ncols; c++)
		if (strcmp(t->rows[0][c], name) == 0)
			return ((int)c);
	ck_abort_msg("no column %s", name);
	return (-1);
}

/* Cell of data row r (0-based) by column name. */
static const char *
cell(const struct table *t, size_t r, const char *name)
{
	return (t->rows[r + 1][col(t, name)]);
}

/* Data row whose column name equals value, or -1. */
static long
find_row(const struct table *t, const char *name, const char *value)
{
	size_t	r;
	int	c = col(t, name);

	for (r = 0; r < t->nrows; r++)
		if (strcmp(t->rows[r + 1][c], value) == 0)
			return ((long)r);
	return (-1);
}

/* Valid UTF-8 (no overlongs / surrogates checked loosely: lead and continuation bytes). */
static int
valid_utf8(const char *path)
{
	size_t			 len, i, n;
	char			*s = slurp(path, &len);
	const unsigned char	*u = (const unsigned char *)s;
	int			 ok = 1;

	for (i = 0; i < len && ok; i += n) {
		if (u[i] < 0x80)
			n = 1;
		else if ((u[i] & 0xe0) == 0xc0 && u[i] >= 0xc2)
			n = 2;
		else if ((u[i] & 0xf0) == 0xe0)
			n = 3;
		else if ((u[i] & 0xf8) == 0xf0 && u[i] <= 0xf4)
			n = 4;
		else {
			ok = 0;
			break;
		}
		for (size_t k = 1; k < n; k++)
			if (i + k >= len || (u[i + k] & 0xc0) != 0x80)
				ok = 0;
	}
	free(s);
	return (ok);
}

static const char *const files[] = {
	"applications.csv", "owners.csv", "accounts.csv", "groups.csv", "memberships.csv",
	"manifest.json", NULL
};

static void
generate(const char *dir, const char *owners, const char *seed)
{
	char	*err;
	int	 rc;

	rc = run_datagen(&err, "--owners", owners, "--seed", seed, "--out", path_in(dir, NULL),
	    NULL);
	ck_assert_msg(rc == 0, "datagen --owners %s failed (%d): %s", owners, rc, err);
	free(err);
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(test_deterministic)
{
	const char *const *f;

	generate("a", "120", "7");
	generate("b", "120", "7");
	generate("c", "120", "8");
	for (f = files; *f != NULL; f++)
		ck_assert_msg(files_equal(path_in("a", *f), path_in("b", *f)),
		    "%s differs between two runs with the same seed", *f);
	ck_assert(!files_equal(path_in("a", "owners.csv"), path_in("c", "owners.csv")));
	ck_assert(!files_equal(path_in("a", "memberships.csv"),
	    path_in("c", "memberships.csv")));
}
END_TEST

/* Every file parses as RFC 4180 with its header's columns, is UTF-8, and its row count
 * is the manifest's. */
START_TEST(test_wellformed)
{
	static const struct {
		const char	*file, *json, *header;
	} want[] = {
		{ "applications.csv", "applications", "id,name,type,modified_at" },
		{ "owners.csv", "owners", "id,employee_id,display_name,email,department,"
		    "title,location,manager,status,modified_at" },
		{ "accounts.csv", "accounts", "id,application_id,login,email,owner_id,"
		    "display_name,department,title,status,modified_at" },
		{ "groups.csv", "groups", "id,application_id,name,modified_at" },
		{ "memberships.csv", "memberships", "account_id,group_id,modified_at" },
	};
	struct table	*t;
	yajl_val	 m;
	size_t		 k, c, r;
	char		 hdr[512], *raw;

	generate("w", "400", "3");
	m = manifest("w");
	for (k = 0; k < sizeof want / sizeof want[0]; k++) {
		t = parse_csv(path_in("w", want[k].file));
		hdr[0] = '\0';
		for (c = 0; c < t->ncols; c++) {
			strcat(hdr, c ? "," : "");
			strcat(hdr, t->rows[0][c]);
		}
		ck_assert_str_eq(hdr, want[k].header);
		ck_assert_int_eq((long long)t->nrows, mnum(m, "rows", want[k].json, NULL));
		ck_assert(valid_utf8(path_in("w", want[k].file)));
		/* modified_at is RFC 3339 UTC in the year before 2026-01-01. */
		for (r = 0; r < t->nrows; r++) {
			const char *ts = cell(t, r, "modified_at");

			ck_assert_uint_eq(strlen(ts), 20);
			ck_assert_msg(strncmp(ts, "2025-", 5) == 0, "%s", ts);
			ck_assert_int_eq(ts[10], 'T');
			ck_assert_int_eq(ts[19], 'Z');
		}
		free_table(t);
	}
	/* The quoting cases are really exercised: a comma and an escaped quote. */
	raw = slurp(path_in("w", "owners.csv"), NULL);
	ck_assert_ptr_nonnull(strstr(raw, ", Jr.\""));
	ck_assert_ptr_nonnull(strstr(raw, "\"\"Kate\"\""));
	ck_assert_ptr_nonnull(strstr(raw, "\"CN=E"));
	ck_assert(strstr(raw, "Núñez") != NULL || strstr(raw, "Ångström") != NULL);
	free(raw);
	yajl_tree_free(m);
}
END_TEST

/*
 * N = 10 by hand (docs/datagen.md):
 * - owners 10; applications 8 and groups 44 (the catalog).
 * - accounts per owner 1 + i%3 for i = 1..10: 2,3,1,2,3,1,2,3,1,2 = 20, plus
 *   orphans 10/20 + 2 = 2: 22. By global account number a = 1..20: a%10 == 4 (4, 14)
 *   email only, a%10 == 8 (8, 18) login only, the other 16 explicit.
 * - cycles: 1 + 10/10000 = 1, of length 2: owners 9 and 10 manage each other.
 * - dangling: i%50 == 5 in 2..8: owner 5, by employee id E0000015 (10 + 5).
 * - tree: manager of i is (i-2)/8 + 1 = owner 1 for i = 2..9; owner 3 by email
 *   (i%10 == 3), owner 7 by DN (i%10 == 7), 2, 4, 6, 8 by employee id; owner 1 none.
 *   So employee id 4 + 1 (dangling) + 2 (cycle) = 7, email 1, DN 1, none 1.
 * - missing department/title: i%16 == 5 and i%3 != 0: owner 5.
 * - SoD conflicts: i%200 == 7: owner 7, pair (7/200)%4 = 0, Active Directory.
 */
START_TEST(test_known_numbers_n10)
{
	struct table	*own, *acc, *mem;
	yajl_val	 m;
	long		 r, r1;
	size_t		 k;
	char		 want[128];
	static const char *const unlinked[] = {
		"acc-00000004", "acc-00000008", "acc-00000014", "acc-00000018",
		"acc-00000021", "acc-00000022"
	};

	generate("n10", "10", "1");
	m = manifest("n10");
	ck_assert_int_eq(mnum(m, "rows", "applications", NULL), 8);
	ck_assert_int_eq(mnum(m, "rows", "owners", NULL), 10);
	ck_assert_int_eq(mnum(m, "rows", "accounts", NULL), 22);
	ck_assert_int_eq(mnum(m, "rows", "groups", NULL), 44);
	ck_assert_int_eq(mnum(m, "managers", "none", NULL), 1);
	ck_assert_int_eq(mnum(m, "managers", "by_employee_id", NULL), 7);
	ck_assert_int_eq(mnum(m, "managers", "by_email", NULL), 1);
	ck_assert_int_eq(mnum(m, "managers", "by_dn", NULL), 1);
	ck_assert_int_eq(mnum(m, "managers", "dangling", NULL), 1);
	ck_assert_int_eq(mnum(m, "managers", "resolvable", NULL), 8);
	ck_assert_int_eq(mnum(m, "managers", "cycles", NULL), 1);
	ck_assert_int_eq(mnum(m, "managers", "owners_in_cycles", NULL), 2);
	ck_assert_int_eq(mnum(m, "accounts", "explicit_owner_id", NULL), 16);
	ck_assert_int_eq(mnum(m, "accounts", "email_only", NULL), 2);
	ck_assert_int_eq(mnum(m, "accounts", "login_only", NULL), 2);
	ck_assert_int_eq(mnum(m, "accounts", "orphaned", NULL), 2);
	ck_assert_int_eq(mnum(m, "owners", "missing_department_title", NULL), 1);
	ck_assert_int_eq(mnum(m, "sod", "conflicting_owners", NULL), 1);
	ck_assert_int_eq(mnum(m, "enrichment", "linkable_accounts", NULL), 20);
	ck_assert_int_eq(mnum(m, "enrichment", "owners_to_fill", NULL), 1);

	own = parse_csv(path_in("n10", "owners.csv"));
	acc = parse_csv(path_in("n10", "accounts.csv"));
	mem = parse_csv(path_in("n10", "memberships.csv"));
	ck_assert_int_eq((long long)own->nrows, 10);
	ck_assert_int_eq((long long)acc->nrows, 22);
	ck_assert_int_eq((long long)mem->nrows, mnum(m, "rows", "memberships", NULL));

	ck_assert_str_eq(cell(own, 0, "manager"), "");
	ck_assert_str_eq(cell(own, 1, "manager"), "E0000001");
	ck_assert_str_eq(cell(own, 2, "manager"), cell(own, 0, "email"));
	ck_assert_str_eq(cell(own, 4, "manager"), "E0000015");
	ck_assert_str_eq(cell(own, 4, "department"), "");
	ck_assert_str_eq(cell(own, 4, "title"), "");
	ck_assert_int_eq(strncmp(cell(own, 6, "manager"), "CN=E0000001,OU=", 15), 0);
	ck_assert_str_eq(cell(own, 8, "manager"), "E0000010");
	ck_assert_str_eq(cell(own, 9, "manager"), "E0000009");
	for (r = 0; r < 10; r++) {
		snprintf(want, sizeof want, "own-%07ld", r + 1);
		ck_assert_str_eq(cell(own, (size_t)r, "id"), want);
		snprintf(want, sizeof want, "E%07ld", r + 1);
		ck_assert_str_eq(cell(own, (size_t)r, "employee_id"), want);
		ck_assert_ptr_nonnull(strstr(cell(own, (size_t)r, "email"), "@example.com"));
	}

	/* Exactly the six hand-listed accounts lack owner_id. */
	for (r = 0; r < (long)acc->nrows; r++) {
		int blank = cell(acc, (size_t)r, "owner_id")[0] == '\0';
		int listed = 0;

		for (k = 0; k < sizeof unlinked / sizeof unlinked[0]; k++)
			if (strcmp(unlinked[k], cell(acc, (size_t)r, "id")) == 0)
				listed = 1;
		ck_assert_msg(blank == listed, "%s", cell(acc, (size_t)r, "id"));
	}
	/* Email only: email equals an owner's; login only: login is an employee id. */
	r = find_row(acc, "id", "acc-00000004");
	ck_assert_int_ge(find_row(own, "email", cell(acc, (size_t)r, "email")), 0);
	ck_assert_int_lt(find_row(own, "employee_id", cell(acc, (size_t)r, "login")), 0);
	r = find_row(acc, "id", "acc-00000008");
	ck_assert_int_ge(find_row(own, "employee_id", cell(acc, (size_t)r, "login")), 0);
	ck_assert_str_eq(cell(acc, (size_t)r, "email"), "");
	for (k = 4; k < 6; k++) {
		r = find_row(acc, "id", unlinked[k]);
		ck_assert_int_lt(find_row(own, "employee_id", cell(acc, (size_t)r, "login")),
		    0);
		ck_assert_int_lt(find_row(own, "email", cell(acc, (size_t)r, "email")), 0);
	}

	/* Owner 7's Active Directory account holds both sides of the AD SoD pair. */
	r1 = find_row(acc, "owner_id", "own-0000007");
	ck_assert_str_eq(cell(acc, (size_t)r1, "application_id"), "app-ad");
	k = 0;
	for (r = 0; r < (long)mem->nrows; r++) {
		if (strcmp(cell(mem, (size_t)r, "account_id"), cell(acc, (size_t)r1, "id")))
			continue;
		if (strcmp(cell(mem, (size_t)r, "group_id"), "grp-ad-ap-invoice-entry") == 0 ||
		    strcmp(cell(mem, (size_t)r, "group_id"),
		    "grp-ad-ap-payment-approval") == 0)
			k++;
	}
	ck_assert_uint_eq(k, 2);

	free_table(own);
	free_table(acc);
	free_table(mem);
	yajl_tree_free(m);
}
END_TEST

/*
 * N = 1000 by hand: accounts sum(1 + i%3) = 1000 + 333*3 + 1 = 2000, plus 1000/20 + 2
 * = 52 orphans; email only a%10 == 4 for a <= 2000: 200, login only 200, explicit 1600.
 * Cycles 1 (owners 999, 1000). Dangling i%50 == 5 in 2..998: 20 (10 by employee id,
 * 10 by email). Email form i%10 == 3 in 2..998: 100; DN i%10 == 7: 100; employee id
 * 997 - 20 - 200 = 777 + 10 + 2 = 789. Missing department/title: i = 5 + 16k <= 1000
 * is 63 values, minus those divisible by 3 (k = 1, 4, .., 61: 21): 42. SoD: i%200 == 7:
 * 7, 207, 407, 607, 807: 5, and each of them really holds both sides of a pair.
 */
START_TEST(test_known_numbers_n1000)
{
	struct table	*own, *acc, *mem, *grp;
	yajl_val	 m;
	size_t		 r, a, p, nconf = 0, orphans = 0;
	static const char *const pairs[][2] = {
		{ "grp-ad-ap-invoice-entry", "grp-ad-ap-payment-approval" },
		{ "grp-workday-payroll-processor", "grp-workday-payroll-approver" },
		{ "grp-salesforce-quote-creator", "grp-salesforce-discount-approver" },
		{ "grp-sap-fi-vendor-maintain", "grp-sap-fi-payment-run" },
	};
	unsigned char	(*holds)[4][2];
	long		 o;
	const char	*oid;

	generate("n1000", "1000", "42");
	m = manifest("n1000");
	ck_assert_int_eq(mnum(m, "rows", "accounts", NULL), 2052);
	ck_assert_int_eq(mnum(m, "accounts", "explicit_owner_id", NULL), 1600);
	ck_assert_int_eq(mnum(m, "accounts", "email_only", NULL), 200);
	ck_assert_int_eq(mnum(m, "accounts", "login_only", NULL), 200);
	ck_assert_int_eq(mnum(m, "accounts", "orphaned", NULL), 52);
	ck_assert_int_eq(mnum(m, "managers", "cycles", NULL), 1);
	ck_assert_int_eq(mnum(m, "managers", "owners_in_cycles", NULL), 2);
	ck_assert_int_eq(mnum(m, "managers", "dangling", NULL), 20);
	ck_assert_int_eq(mnum(m, "managers", "by_email", NULL), 110);
	ck_assert_int_eq(mnum(m, "managers", "by_dn", NULL), 100);
	ck_assert_int_eq(mnum(m, "managers", "by_employee_id", NULL), 789);
	ck_assert_int_eq(mnum(m, "managers", "none", NULL), 1);
	ck_assert_int_eq(mnum(m, "owners", "missing_department_title", NULL), 42);
	ck_assert_int_eq(mnum(m, "sod", "conflicting_owners", NULL), 5);

	/* Link every account to an owner the way enrichment would (owner id, then email,
	 * then login = employee id), then count owners holding both sides of a pair. */
	own = parse_csv(path_in("n1000", "owners.csv"));
	acc = parse_csv(path_in("n1000", "accounts.csv"));
	mem = parse_csv(path_in("n1000", "memberships.csv"));
	grp = parse_csv(path_in("n1000", "groups.csv"));
	ck_assert_int_eq((long long)grp->nrows, 44);
	holds = calloc(own->nrows, sizeof *holds);
	for (r = 0, a = 0; r < mem->nrows; r++) {
		/* memberships are grouped by account, in account order */
		while (strcmp(cell(acc, a, "id"), cell(mem, r, "account_id")) != 0) {
			a++;
			ck_assert_uint_lt(a, acc->nrows);
		}
		ck_assert_int_ge(find_row(grp, "id", cell(mem, r, "group_id")), 0);
		oid = cell(acc, a, "owner_id");
		o = -1;
		if (oid[0] != '\0')
			o = find_row(own, "id", oid);
		else if (cell(acc, a, "email")[0] != '\0')
			o = find_row(own, "email", cell(acc, a, "email"));
		if (o < 0)
			o = find_row(own, "employee_id", cell(acc, a, "login"));
		if (o < 0)
			continue;
		for (p = 0; p < 4; p++) {
			if (strcmp(cell(mem, r, "group_id"), pairs[p][0]) == 0)
				holds[o][p][0] = 1;
			if (strcmp(cell(mem, r, "group_id"), pairs[p][1]) == 0)
				holds[o][p][1] = 1;
		}
	}
	for (r = 0; r < own->nrows; r++)
		for (p = 0; p < 4; p++)
			if (holds[r][p][0] && holds[r][p][1])
				nconf++;
	ck_assert_uint_eq(nconf, 5);
	for (a = 0; a < acc->nrows; a++) {
		if (cell(acc, a, "owner_id")[0] != '\0')
			continue;
		if (find_row(own, "email", cell(acc, a, "email")) < 0 &&
		    find_row(own, "employee_id", cell(acc, a, "login")) < 0)
			orphans++;
	}
	ck_assert_uint_eq(orphans, 52);
	free(holds);
	free_table(own);
	free_table(acc);
	free_table(mem);
	free_table(grp);
	yajl_tree_free(m);
}
END_TEST

/* ---- mutate: an independent diff ------------------------------------------ */

struct keyed {
	char	*key;
	char	*line;
};

static int
keyed_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct keyed *)a)->key, ((const struct keyed *)b)->key));
}

/* Load a file's data lines (our files never hold a newline inside a field) keyed by id,
 * or by account_id:group_id for memberships; sorted. Also the newest modified_at. */
static struct keyed *
load_keyed(const char *path, int membership, size_t *np, char *maxts)
{
	char		*s = slurp(path, NULL), *line, *save = NULL, *comma, *ts;
	struct keyed	*v = NULL;
	size_t		 n = 0, cap = 0;
	int		 first = 1;

	for (line = strtok_r(s, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (first) {
			first = 0;
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			v = realloc(v, cap * sizeof *v);
		}
		v[n].line = strdup(line);
		comma = strchr(line, ',');
		ck_assert_ptr_nonnull(comma);
		if (membership) {
			comma = strchr(comma + 1, ',');
			ck_assert_ptr_nonnull(comma);
		}
		v[n].key = strndup(line, (size_t)(comma - line));
		if (membership)
			v[n].key[strchr(v[n].key, ',') - v[n].key] = ':';
		/* modified_at is the last field in our files. */
		ts = strrchr(line, ',') + 1;
		if (maxts != NULL && strncmp(ts, maxts, 20) > 0)
			snprintf(maxts, 21, "%.20s", ts);
		n++;
	}
	free(s);
	qsort(v, n, sizeof *v, keyed_cmp);
	*np = n;
	return (v);
}

static void
free_keyed(struct keyed *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].line);
	}
	free(v);
}

START_TEST(test_mutate_matches_diff)
{
	static const char *const ent[][3] = {
		{ "applications.csv", "applications", "application" },
		{ "owners.csv", "owners", "owner" },
		{ "accounts.csv", "accounts", "account" },
		{ "groups.csv", "groups", "group" },
		{ "memberships.csv", "memberships", "membership" },
	};
	struct keyed	*a, *b, *d;
	size_t		 na, nb, nd, i, j, e, listed;
	long long	 upd, add, del, tu = 0, ta = 0, td = 0;
	char		 srcmax[32] = "", dstmax[32] = "", key[256], *err;
	yajl_val	 m;
	int		 c, rc;
	const char *const *f;

	generate("src", "300", "11");
	rc = run_datagen(&err, "--mutate", "20", "--from", path_in("src", NULL), "--out",
	    path_in("dst", NULL), "--seed", "4", NULL);
	ck_assert_msg(rc == 0, "mutate failed: %s", err);
	free(err);
	rc = run_datagen(NULL, "--mutate", "20", "--from", path_in("src", NULL), "--out",
	    path_in("dst2", NULL), "--seed", "4", NULL);
	ck_assert_int_eq(rc, 0);
	for (f = files; *f != NULL; f++)
		ck_assert_msg(files_equal(path_in("dst", *f), path_in("dst2", *f)), "%s", *f);
	ck_assert(files_equal(path_in("dst", "deletions.csv"),
	    path_in("dst2", "deletions.csv")));

	m = manifest("dst");
	d = load_keyed(path_in("dst", "deletions.csv"), 0, &nd, NULL);
	for (e = 0; e < 5; e++) {
		a = load_keyed(path_in("src", ent[e][0]), e == 4, &na, srcmax);
		free_keyed(a, na);
	}
	ck_assert_uint_eq(strlen(srcmax), 20);
	for (e = 0; e < 5; e++) {
		a = load_keyed(path_in("src", ent[e][0]), e == 4, &na, NULL);
		b = load_keyed(path_in("dst", ent[e][0]), e == 4, &nb, NULL);
		upd = add = del = 0;
		listed = 0;
		for (i = 0, j = 0; i < na || j < nb;) {
			c = i == na ? 1 : j == nb ? -1 : strcmp(a[i].key, b[j].key);
			if (c < 0) {
				del++;
				/* every deleted row is in deletions.csv */
				snprintf(key, sizeof key, "%s", ent[e][2]);
				for (size_t k = 0; k < nd; k++)
					if (strcmp(d[k].key, key) == 0 &&
					    strncmp(d[k].line + strlen(key) + 1, a[i].key,
					    strlen(a[i].key)) == 0 &&
					    d[k].line[strlen(key) + 1 + strlen(a[i].key)] ==
					    ',') {
						listed++;
						break;
					}
				i++;
			} else if (c > 0) {
				add++;
				ck_assert_msg(strncmp(strrchr(b[j].line, ',') + 1, srcmax,
				    20) > 0, "added row not newer: %s", b[j].line);
				j++;
			} else {
				if (strcmp(a[i].line, b[j].line) != 0) {
					upd++;
					ck_assert_msg(strncmp(strrchr(b[j].line, ',') + 1,
					    srcmax, 20) > 0, "updated row not newer: %s",
					    b[j].line);
				}
				i++;
				j++;
			}
		}
		ck_assert_msg(upd == mnum(m, "changes", ent[e][1], "updated"),
		    "%s updated %lld", ent[e][1], upd);
		ck_assert_msg(add == mnum(m, "changes", ent[e][1], "added"),
		    "%s added %lld", ent[e][1], add);
		ck_assert_msg(del == mnum(m, "changes", ent[e][1], "deleted"),
		    "%s deleted %lld", ent[e][1], del);
		ck_assert_uint_eq(listed, (size_t)del);
		ck_assert_int_eq((long long)nb, mnum(m, "rows", ent[e][1], NULL));
		tu += upd;
		ta += add;
		td += del;
		free_keyed(a, na);
		free_keyed(b, nb);
	}
	/* deletions.csv lists nothing else; a 20% mutation of 300 owners changes things */
	ck_assert_int_eq((long long)nd, td);
	ck_assert_int_eq(tu, mnum(m, "totals", "updated", NULL));
	ck_assert_int_eq(ta, mnum(m, "totals", "created", NULL));
	ck_assert_int_eq(td, mnum(m, "totals", "deleted", NULL));
	ck_assert_int_gt(mnum(m, "changes", "owners", "updated"), 0);
	ck_assert_int_gt(mnum(m, "changes", "owners", "added"), 0);
	ck_assert_int_gt(mnum(m, "changes", "owners", "deleted"), 0);
	ck_assert_int_gt(mnum(m, "changes", "memberships", "deleted"), 0);
	/* deleted_at is newer than the source too */
	for (i = 0; i < nd; i++) {
		snprintf(key, sizeof key, "%.20s", strrchr(d[i].line, ',') + 1);
		ck_assert_msg(strcmp(key, srcmax) > 0, "%s", d[i].line);
		if (strcmp(key, dstmax) > 0)
			snprintf(dstmax, sizeof dstmax, "%.20s", key);
	}
	free_keyed(d, nd);
	yajl_tree_free(m);

	/* The mutated set is itself a valid source: mutate it again. */
	rc = run_datagen(&err, "--mutate", "5", "--from", path_in("dst", NULL), "--out",
	    path_in("dst3", NULL), NULL);
	ck_assert_msg(rc == 0, "second mutate failed: %s", err);
	free(err);
	m = manifest("dst3");
	/* A sync's watermark covers deleted_at: the next changes are newer still. */
	ck_assert_msg(strcmp(mstr(m, "changed_at", "min"), dstmax) > 0, "%s <= %s",
	    mstr(m, "changed_at", "min"), dstmax);
	ck_assert_int_eq(mnum(m, "rows_before", "owners", NULL),
	    mnum(m, "rows", "owners", NULL) + mnum(m, "changes", "owners", "deleted") -
	    mnum(m, "changes", "owners", "added"));
	yajl_tree_free(m);
}
END_TEST

START_TEST(test_mutate_zero)
{
	const char *const	*f;
	yajl_val		 m;

	generate("z", "50", "2");
	ck_assert_int_eq(run_datagen(NULL, "--mutate", "0", "--from", path_in("z", NULL),
	    "--out", path_in("z0", NULL), NULL), 0);
	for (f = files; f[1] != NULL; f++)	/* all but manifest.json */
		ck_assert(files_equal(path_in("z", *f), path_in("z0", *f)));
	m = manifest("z0");
	ck_assert_int_eq(mnum(m, "totals", "created", NULL), 0);
	ck_assert_int_eq(mnum(m, "totals", "updated", NULL), 0);
	ck_assert_int_eq(mnum(m, "totals", "deleted", NULL), 0);
	yajl_tree_free(m);
	/* Generating over a mutated directory drops its stale deletions.csv. */
	ck_assert_int_eq(access(path_in("z0", "deletions.csv"), F_OK), 0);
	generate("z0", "50", "2");
	ck_assert_int_eq(access(path_in("z0", "deletions.csv"), F_OK), -1);
}
END_TEST

/* Run one sync job of the real worker code in-process on store s (data dir dd). */
static void
sync_dir(struct store *s, const char *dd, enum job_type type, const char *src,
    long long *c, long long *u, long long *d)
{
	struct job		 j;
	struct worker_conf	 conf;
	struct job_ctx		 ctx;
	char			*cause = NULL;
	int			 rv;

	memset(&conf, 0, sizeof conf);
	job_init(&j);
	j.no = 1;
	j.type = type;
	snprintf(conf.data_dir, sizeof conf.data_dir, "%s", dd);
	snprintf(conf.source_name, sizeof conf.source_name, "datagen");
	snprintf(conf.source_type, sizeof conf.source_type, "csv");
	snprintf(conf.source_path, sizeof conf.source_path, "%s", src);
	conf.max_delete_percent = 100;
	ck_assert_msg(job_ctx_init(&ctx, s, &j, &conf, &cause) == 0, "%s", cause);
	rv = job_run(&ctx, &cause);
	ck_assert_msg(rv == 0, "sync of %s: %s", src, cause ? cause : "-");
	*c = ctx.created;
	*u = ctx.updated;
	*d = ctx.deleted;
	free(cause);
	job_free(&j);
}

/* The contract with the sync jobs: after a sync of SRC, an incremental sync of the
 * mutated DIR, and (on another store) a full sync of it, report exactly the manifest's
 * created/updated/deleted; a full sync of SRC creates every row. */
START_TEST(test_mutate_sync_contract)
{
	struct store	*s;
	char		*cause = NULL;
	yajl_val	 m, g;
	long long	 c, u, d;
	const char	*mode;
	int		 pass;

	log_set_level(LOG_LVL_WARN);	/* the sync's per-type info lines */
	generate("src", "400", "21");
	ck_assert_int_eq(run_datagen(NULL, "--mutate", "15", "--from", path_in("src", NULL),
	    "--out", path_in("dst", NULL), "--seed", "3", "-q", NULL), 0);
	m = manifest("dst");
	g = manifest("src");
	for (pass = 0; pass < 2; pass++) {
		mode = pass == 0 ? "store-incr" : "store-full";
		ck_assert_int_eq(mkdir(path_in(mode, NULL), 0700), 0);
		ck_assert_msg(store_open(path_in(mode, NULL), STORE_SUPERVISOR, &s,
		    &cause) == 0, "store_open: %s", cause);
		sync_dir(s, path_in(mode, NULL), JOB_FULL_SYNC, path_in("src", NULL), &c, &u,
		    &d);
		ck_assert_int_eq(c, mnum(g, "rows", "applications", NULL) +
		    mnum(g, "rows", "owners", NULL) + mnum(g, "rows", "accounts", NULL) +
		    mnum(g, "rows", "groups", NULL) + mnum(g, "rows", "memberships", NULL));
		ck_assert_int_eq(u, 0);
		ck_assert_int_eq(d, 0);
		sync_dir(s, path_in(mode, NULL), pass == 0 ? JOB_INCREMENTAL_SYNC :
		    JOB_FULL_SYNC, path_in("dst", NULL), &c, &u, &d);
		ck_assert_int_eq(c, mnum(m, "totals", "created", NULL));
		ck_assert_int_eq(u, mnum(m, "totals", "updated", NULL));
		ck_assert_int_eq(d, mnum(m, "totals", "deleted", NULL));
		store_close(s);
	}
	yajl_tree_free(m);
	yajl_tree_free(g);
}
END_TEST

static void
expect_usage(const char *needle, ...)
{
	char		*argv[16] = { NULL }, *err;
	va_list		 ap;
	int		 n = 0, rc;

	va_start(ap, needle);
	while ((argv[n] = va_arg(ap, char *)) != NULL && n < 14)
		n++;
	va_end(ap);
	rc = run_datagen(&err, argv[0], argv[1], argv[2], argv[3], argv[4], argv[5],
	    argv[6], argv[7], NULL);
	ck_assert_msg(rc == 64, "exit %d for %s (want 64): %s", rc, needle, err);
	ck_assert_msg(err != NULL && strstr(err, needle) != NULL,
	    "stderr does not name %s: %s", needle, err);
	free(err);
}

START_TEST(test_bad_arguments)
{
	char	*out = path_in("x", NULL), *err;
	int	 rc;

	expect_usage("--owners", (char *)NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
	expect_usage("--owners", "--owners", "abc", "--out", out, NULL, NULL, NULL, NULL);
	expect_usage("--owners", "--owners", "0", "--out", out, NULL, NULL, NULL, NULL);
	expect_usage("--owners", "--owners", "-5", "--out", out, NULL, NULL, NULL, NULL);
	expect_usage("--out", "--owners", "10", NULL, NULL, NULL, NULL, NULL, NULL);
	expect_usage("--seed", "--owners", "10", "--out", out, "--seed", "x1", NULL, NULL);
	expect_usage("--now", "--owners", "10", "--out", out, "--now", "yesterday", NULL,
	    NULL);
	expect_usage("--bogus", "--bogus", NULL, NULL, NULL, NULL, NULL, NULL, NULL);
	expect_usage("--out", "--owners", "10", "--out", NULL, NULL, NULL, NULL, NULL);
	expect_usage("--mutate", "--mutate", "150", "--from", out, "--out", out, NULL,
	    NULL);
	expect_usage("--mutate", "--mutate", "ten", "--from", out, "--out", out, NULL,
	    NULL);
	expect_usage("--from", "--mutate", "10", "--out", out, NULL, NULL, NULL, NULL);
	expect_usage("--jobs", "--owners", "10", "--jobs", "5", "--out", out, NULL, NULL);
	expect_usage("--data-dir", "--jobs", "5", NULL, NULL, NULL, NULL, NULL, NULL);
	expect_usage("stray", "--owners", "10", "--out", out, "stray", NULL, NULL, NULL);

	/* Runtime errors exit 1 and say what failed. */
	rc = run_datagen(&err, "--mutate", "10", "--from", path_in("nonexistent", NULL),
	    "--out", out, NULL);
	ck_assert_int_eq(rc, 1);
	ck_assert_ptr_nonnull(strstr(err, "nonexistent"));
	free(err);
	rc = run_datagen(&err, "--owners", "3", "--out", "/proc/nope/x", NULL);
	ck_assert_int_eq(rc, 1);
	free(err);
	rc = run_datagen(&err, "--help", NULL);
	ck_assert_int_eq(rc, 0);
	free(err);
}
END_TEST

Suite *
datagen_suite(void)
{
	Suite	*s = suite_create("datagen");
	TCase	*tc = tcase_create("datagen");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_deterministic);
	tcase_add_test(tc, test_wellformed);
	tcase_add_test(tc, test_known_numbers_n10);
	tcase_add_test(tc, test_known_numbers_n1000);
	tcase_add_test(tc, test_mutate_matches_diff);
	tcase_add_test(tc, test_mutate_zero);
	tcase_add_test(tc, test_mutate_sync_contract);
	tcase_add_test(tc, test_bad_arguments);
	suite_add_tcase(s, tc);
	return (s);
}
