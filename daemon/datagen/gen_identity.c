/* gen_identity.c: the deterministic identity data generator. Rows are streamed out in one
 * pass over the owner index; every value comes from a PRNG stream seeded by (seed, kind,
 * index), so nothing per owner is kept in memory and any owner can be regenerated (a
 * manager's email) from its index. Structural facts (manager hierarchy, dangling
 * references, cycles, account counts, link kinds, orphans, planted conflicts) follow
 * index rules, so their numbers are simple formulas of N (docs/datagen.md). */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "csvio.h"
#include "rng.h"
#include "gen_identity.h"

#define MGR_FANOUT	8

enum mgr_kind { MGR_NONE, MGR_EMPLOYEE_ID, MGR_EMAIL, MGR_DN };
enum link_kind { LINK_EXPLICIT, LINK_EMAIL, LINK_LOGIN };

struct gen_state {
	const struct gen_opts	*o;
	struct csv_out		 apps, owners, accounts, groups, members;

	uint64_t		 ncycles, ncycle_members;
	uint64_t		 account_seq;

	/* Known numbers, counted as rows are written. */
	uint64_t		 rows_apps, rows_owners, rows_accounts, rows_groups;
	uint64_t		 rows_members;
	uint64_t		 mgr_forms[4], mgr_dangling;
	uint64_t		 links[3], orphans;
	uint64_t		 per_app[16];
	uint64_t		 status_active, status_leave, status_terminated;
	uint64_t		 missing_dept_title;
	uint64_t		 per_dept[16];
	uint64_t		 sod_per_pair[8];
	uint64_t		 cohort_owners[16][CAT_MAX_TITLES];
	uint64_t		*cohort_holders;	/* [dept][title][group] */
	int64_t			 tmin, tmax;
};

int
gen_mkdir(const char *dir, char **cause)
{
	struct stat	sb;

	if (mkdir(dir, 0777) == 0)
		return (0);
	if (errno == EEXIST && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
		return (0);
	*cause = xasprintf("%s: %s", dir, strerror(errno));
	return (-1);
}

static int64_t
rand_time(struct gen_state *st, struct rng *r)
{
	int64_t	t;

	t = st->o->now - GEN_YEAR_SECS + (int64_t)rng_below(r, GEN_YEAR_SECS);
	if (t < st->tmin)
		st->tmin = t;
	if (t > st->tmax)
		st->tmax = t;
	return (t);
}

void
gen_person(uint64_t seed, int64_t now, uint64_t index, struct gen_person *p)
{
	struct rng	r;
	double		u;

	rng_init(&r, seed, TAG_OWNER, index);
	/* Names first: regenerating a manager's email needs only these two draws. */
	p->first = &cat_first_names[rng_below(&r, cat_nfirst_names)];
	p->last = &cat_last_names[rng_below(&r, cat_nlast_names)];
	p->dept = cat_pick_department(&r);
	p->title = cat_pick_title(&r, p->dept);
	p->location = rng_below(&r, cat_nlocations);
	u = rng_unit(&r);
	if (u < 0.03)
		p->status = "terminated";
	else if (u < 0.05)
		p->status = "on_leave";
	else
		p->status = "active";
	p->modified_at = now - GEN_YEAR_SECS + (int64_t)rng_below(&r, GEN_YEAR_SECS);
	snprintf(p->id, sizeof p->id, "own-%07llu", (unsigned long long)index);
	snprintf(p->employee_id, sizeof p->employee_id, "E%07llu",
	    (unsigned long long)index);
	snprintf(p->display_name, sizeof p->display_name, "%s %s", p->first->utf8,
	    p->last->utf8);
	snprintf(p->email, sizeof p->email, "%s.%s%llu@example.com", p->first->ascii,
	    p->last->ascii, (unsigned long long)index);
}

void
gen_login(const struct gen_person *p, uint64_t index, enum cat_login_style style,
    char *out, size_t outlen)
{
	unsigned long long	 i = (unsigned long long)index;
	char			*c;

	switch (style) {
	case LOGIN_SAM:
		snprintf(out, outlen, "%c%s%llu", p->first->ascii[0], p->last->ascii, i);
		break;
	case LOGIN_DOTTED:
		snprintf(out, outlen, "%s.%s%llu", p->first->ascii, p->last->ascii, i);
		break;
	case LOGIN_EMAIL:
		snprintf(out, outlen, "%s", p->email);
		break;
	case LOGIN_HANDLE:
		snprintf(out, outlen, "%c%s-%llu", p->first->ascii[0], p->last->ascii, i);
		break;
	case LOGIN_UPPER:
		snprintf(out, outlen, "%c%s%llu", p->first->ascii[0], p->last->ascii, i);
		for (c = out; *c != '\0'; c++)
			*c = (char)toupper((unsigned char)*c);
		break;
	}
}

/* Cycles: 1 + N/10000 of them (none below 10 owners), lengths 2,3,2,3,..., made of the
 * last owners (all leaves of the tree, so nobody else reports into a cycle). */
static void
cycles_plan(uint64_t n, uint64_t *ncycles, uint64_t *nmembers)
{
	uint64_t	c = n >= 10 ? 1 + n / 10000 : 0;

	*ncycles = c;
	*nmembers = 2 * c + c / 2;
}

/* Owners i in the planted cycles: the index of i's manager within them. */
static uint64_t
cycle_next(uint64_t n, uint64_t nmembers, uint64_t i)
{
	uint64_t	base = n - nmembers + 1, q = i - base, b = q / 5, r = q % 5;
	uint64_t	start, len;

	if (r < 2) {
		start = b * 5;
		len = 2;
	} else {
		start = b * 5 + 2;
		len = 3;
	}
	return (base + start + (q - start + 1) % len);
}

/* Write owner i's manager reference into out; returns its form. */
static enum mgr_kind
manager_ref(struct gen_state *st, uint64_t i, char *out, size_t outlen)
{
	uint64_t		 n = st->o->owners, j;
	struct gen_person	 m;

	out[0] = '\0';
	if (i == 1)
		return (MGR_NONE);
	if (st->ncycles > 0 && i > n - st->ncycle_members) {
		snprintf(out, outlen, "E%07llu",
		    (unsigned long long)cycle_next(n, st->ncycle_members, i));
		return (MGR_EMPLOYEE_ID);
	}
	if (i % 50 == 5) {
		st->mgr_dangling++;
		if ((i / 50) % 2 == 0) {
			snprintf(out, outlen, "E%07llu", (unsigned long long)(n + i));
			return (MGR_EMPLOYEE_ID);
		}
		snprintf(out, outlen, "former.manager%llu@example.com",
		    (unsigned long long)i);
		return (MGR_EMAIL);
	}
	j = (i - 2) / MGR_FANOUT + 1;
	switch (i % 10) {
	case 3:
		gen_person(st->o->seed, st->o->now, j, &m);
		snprintf(out, outlen, "%s", m.email);
		return (MGR_EMAIL);
	case 7:
		gen_person(st->o->seed, st->o->now, j, &m);
		snprintf(out, outlen, "CN=E%07llu,OU=%s,DC=example,DC=com",
		    (unsigned long long)j, cat_departments[m.dept].ou);
		return (MGR_DN);
	default:
		snprintf(out, outlen, "E%07llu", (unsigned long long)j);
		return (MGR_EMPLOYEE_ID);
	}
}

static void
write_applications(struct gen_state *st)
{
	struct rng	r;
	size_t		k;

	csv_field(&st->apps, "id");
	csv_field(&st->apps, "name");
	csv_field(&st->apps, "type");
	csv_field(&st->apps, "modified_at");
	csv_end_row(&st->apps);
	for (k = 0; k < cat_napplications; k++) {
		rng_init(&r, st->o->seed, TAG_APPLICATION, k);
		csv_field(&st->apps, cat_applications[k].id);
		csv_field(&st->apps, cat_applications[k].name);
		csv_field(&st->apps, cat_applications[k].type);
		csv_field_time(&st->apps, rand_time(st, &r));
		csv_end_row(&st->apps);
		st->rows_apps++;
	}
}

static void
write_groups(struct gen_state *st)
{
	struct rng	r;
	size_t		g;

	csv_field(&st->groups, "id");
	csv_field(&st->groups, "application_id");
	csv_field(&st->groups, "name");
	csv_field(&st->groups, "modified_at");
	csv_end_row(&st->groups);
	for (g = 0; g < cat_ngroups; g++) {
		rng_init(&r, st->o->seed, TAG_GROUP, g);
		csv_field(&st->groups, cat_groups[g].id);
		csv_field(&st->groups, cat_groups[g].app);
		csv_field(&st->groups, cat_groups[g].name);
		csv_field_time(&st->groups, rand_time(st, &r));
		csv_end_row(&st->groups);
		st->rows_groups++;
	}
}

static void
write_membership(struct gen_state *st, struct rng *r, const char *account_id, size_t g)
{
	csv_field(&st->members, account_id);
	csv_field(&st->members, cat_groups[g].id);
	csv_field_time(&st->members, rand_time(st, r));
	csv_end_row(&st->members);
	st->rows_members++;
}

/* A random group of application app that is not one side of a SoD pair, or -1. */
static int
noise_group(struct rng *r, const char *app)
{
	size_t	g, n = 0, pick;

	for (g = 0; g < cat_ngroups; g++)
		if (strcmp(cat_groups[g].app, app) == 0 && !cat_groups[g].sod)
			n++;
	if (n == 0)
		return (-1);
	pick = rng_below(r, n);
	for (g = 0; g < cat_ngroups; g++)
		if (strcmp(cat_groups[g].app, app) == 0 && !cat_groups[g].sod &&
		    pick-- == 0)
			return ((int)g);
	return (-1);
}

/*
 * One account's memberships: the cohort's groups each with probability 0.9, one random
 * non-SoD group of the application with probability 0.1 (noise), and both sides of SoD
 * pair sod_pair if it is planted here (-1: none).
 */
static void
write_account_memberships(struct gen_state *st, struct rng *r, const char *account_id,
    size_t app, const struct gen_person *p, int cohort, int sod_pair)
{
	const char	*appid = cat_applications[app].id;
	int		 noise = -1, hold;
	size_t		 g;

	if (rng_unit(r) < 0.1)
		noise = noise_group(r, appid);
	for (g = 0; g < cat_ngroups; g++) {
		if (strcmp(cat_groups[g].app, appid) != 0)
			continue;
		hold = 0;
		if (p != NULL && cat_group_matches(g, p->dept, p->title) &&
		    rng_unit(r) < 0.9)
			hold = 1;
		if ((int)g == noise)
			hold = 1;
		if (sod_pair >= 0 &&
		    (strcmp(cat_groups[g].id, cat_sod_pairs[sod_pair].a) == 0 ||
		    strcmp(cat_groups[g].id, cat_sod_pairs[sod_pair].b) == 0))
			hold = 1;
		if (!hold)
			continue;
		write_membership(st, r, account_id, g);
		if (cohort)
			st->cohort_holders[(p->dept * CAT_MAX_TITLES + p->title) *
			    cat_ngroups + g]++;
	}
}

/* Owner i's accounts: 1 + i%3 of them, in AD, the HR system and a department app. */
static void
write_owner_accounts(struct gen_state *st, uint64_t i, const struct gen_person *p,
    int cohort)
{
	struct rng		 r;
	size_t			 apps[3], napps = 1 + i % 3, k;
	int			 sod = -1;
	char			 id[32], login[160];
	enum link_kind		 link;
	const char		*status;
	uint64_t		 a;

	rng_init(&r, st->o->seed, TAG_ACCOUNTS, i);
	apps[0] = (size_t)cat_app_index("app-ad");
	apps[1] = (size_t)cat_app_index("app-workday");
	apps[2] = cat_pick_dept_app(&r, p->dept);

	/* A planted SoD conflict, in the pair's application if the owner has an account
	 * there, otherwise in Active Directory (pair 0). */
	if (i % 200 == 7) {
		sod = (int)((i / 200) % cat_nsod_pairs);
		for (k = 0; k < napps; k++)
			if (strcmp(cat_applications[apps[k]].id,
			    cat_sod_pairs[sod].app) == 0)
				break;
		if (k == napps)
			sod = 0;
		st->sod_per_pair[sod]++;
	}

	status = strcmp(p->status, "terminated") == 0 ? "disabled" : "active";
	for (k = 0; k < napps; k++) {
		a = ++st->account_seq;
		if (a % 10 == 4)
			link = LINK_EMAIL;
		else if (a % 10 == 8)
			link = LINK_LOGIN;
		else
			link = LINK_EXPLICIT;
		st->links[link]++;
		st->per_app[apps[k]]++;
		snprintf(id, sizeof id, "acc-%08llu", (unsigned long long)a);
		if (link == LINK_LOGIN)
			snprintf(login, sizeof login, "%s", p->employee_id);
		else
			gen_login(p, i, cat_applications[apps[k]].login, login, sizeof login);

		csv_field(&st->accounts, id);
		csv_field(&st->accounts, cat_applications[apps[k]].id);
		csv_field(&st->accounts, login);
		csv_field(&st->accounts, link == LINK_LOGIN ? "" : p->email);
		csv_field(&st->accounts, link == LINK_EXPLICIT ? p->id : "");
		csv_field(&st->accounts, p->display_name);
		csv_field(&st->accounts, cat_departments[p->dept].name);
		csv_field(&st->accounts, cat_departments[p->dept].titles[p->title].name);
		csv_field(&st->accounts, status);
		csv_field_time(&st->accounts, rand_time(st, &r));
		csv_end_row(&st->accounts);
		st->rows_accounts++;

		write_account_memberships(st, &r, id, apps[k], p, cohort,
		    sod >= 0 && strcmp(cat_applications[apps[k]].id,
		    cat_sod_pairs[sod].app) == 0 ? sod : -1);
	}
}

static void
write_owner(struct gen_state *st, uint64_t i)
{
	struct gen_person	 p;
	char			 mgr[256];
	enum mgr_kind		 mk;
	int			 missing;

	gen_person(st->o->seed, st->o->now, i, &p);
	if (p.modified_at < st->tmin)
		st->tmin = p.modified_at;
	if (p.modified_at > st->tmax)
		st->tmax = p.modified_at;
	mk = manager_ref(st, i, mgr, sizeof mgr);
	st->mgr_forms[mk]++;
	/* Owners the HR feed left incomplete: enrichment fills them from their accounts. */
	missing = (i % 16 == 5 && i % 3 != 0);

	csv_field(&st->owners, p.id);
	csv_field(&st->owners, p.employee_id);
	csv_field(&st->owners, p.display_name);
	csv_field(&st->owners, p.email);
	csv_field(&st->owners, missing ? "" : cat_departments[p.dept].name);
	csv_field(&st->owners, missing ? "" : cat_departments[p.dept].titles[p.title].name);
	csv_field(&st->owners, cat_locations[p.location]);
	csv_field(&st->owners, mgr);
	csv_field(&st->owners, p.status);
	csv_field_time(&st->owners, p.modified_at);
	csv_end_row(&st->owners);
	st->rows_owners++;

	if (missing)
		st->missing_dept_title++;
	else {
		st->per_dept[p.dept]++;
		st->cohort_owners[p.dept][p.title]++;
	}
	if (strcmp(p.status, "active") == 0)
		st->status_active++;
	else if (strcmp(p.status, "on_leave") == 0)
		st->status_leave++;
	else
		st->status_terminated++;

	write_owner_accounts(st, i, &p, !missing);
}

/* Orphaned accounts: N/20 + 2 of them, owned by nobody (service accounts and leftovers
 * of former employees), whose login and email match no owner. */
static void
write_orphans(struct gen_state *st)
{
	uint64_t	 n = st->o->owners / 20 + 2, j, a;
	struct rng	 r;
	size_t		 app;
	int		 g;
	char		 id[32], login[96], email[96], name[96];

	for (j = 1; j <= n; j++) {
		rng_init(&r, st->o->seed, TAG_ORPHAN, j);
		app = (size_t)((j - 1) % cat_napplications);
		a = ++st->account_seq;
		snprintf(id, sizeof id, "acc-%08llu", (unsigned long long)a);
		if (j % 2 == 1) {
			snprintf(login, sizeof login, "svc-%s-%llu",
			    cat_applications[app].id + 4, (unsigned long long)j);
			email[0] = '\0';
			snprintf(name, sizeof name, "Service Account %llu",
			    (unsigned long long)j);
		} else {
			snprintf(login, sizeof login, "former.user%llu",
			    (unsigned long long)j);
			snprintf(email, sizeof email, "former.user%llu@example.com",
			    (unsigned long long)j);
			snprintf(name, sizeof name, "Former User %llu",
			    (unsigned long long)j);
		}
		csv_field(&st->accounts, id);
		csv_field(&st->accounts, cat_applications[app].id);
		csv_field(&st->accounts, login);
		csv_field(&st->accounts, email);
		csv_field(&st->accounts, "");
		csv_field(&st->accounts, name);
		csv_field(&st->accounts, "");
		csv_field(&st->accounts, "");
		csv_field(&st->accounts, j % 2 == 1 ? "active" : "disabled");
		csv_field_time(&st->accounts, rand_time(st, &r));
		csv_end_row(&st->accounts);
		st->rows_accounts++;
		st->orphans++;
		st->per_app[app]++;
		if ((g = noise_group(&r, cat_applications[app].id)) != -1)
			write_membership(st, &r, id, (size_t)g);
	}
}

static void
write_header(struct csv_out *o, const char *const *cols)
{
	for (; *cols != NULL; cols++)
		csv_field(o, *cols);
	csv_end_row(o);
}

static int
write_manifest(struct gen_state *st, const char *dir, char **cause)
{
	FILE		*fp;
	char		*path, t0[32], t1[32], now[32];
	size_t		 d, t, g, k, first;
	uint64_t	 sod_total = 0, *h;
	int		 rc = 0;

	path = xasprintf("%s/manifest.json", dir);
	if ((fp = fopen(path, "w")) == NULL) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		free(path);
		return (-1);
	}
	dg_format_time(st->tmin, t0);
	dg_format_time(st->tmax, t1);
	dg_format_time(st->o->now, now);
	fprintf(fp, "{\n  \"generator\": \"jobsd-datagen\",\n  \"format\": 1,\n"
	    "  \"kind\": \"generate\",\n  \"seed\": %llu,\n  \"owners_requested\": %llu,\n"
	    "  \"now\": \"%s\",\n",
	    (unsigned long long)st->o->seed, (unsigned long long)st->o->owners, now);
	fprintf(fp, "  \"rows\": {\"applications\": %llu, \"owners\": %llu, "
	    "\"accounts\": %llu, \"groups\": %llu, \"memberships\": %llu},\n",
	    (unsigned long long)st->rows_apps, (unsigned long long)st->rows_owners,
	    (unsigned long long)st->rows_accounts, (unsigned long long)st->rows_groups,
	    (unsigned long long)st->rows_members);
	fprintf(fp, "  \"modified_at\": {\"min\": \"%s\", \"max\": \"%s\"},\n", t0, t1);
	fprintf(fp, "  \"managers\": {\"none\": %llu, \"by_employee_id\": %llu, "
	    "\"by_email\": %llu, \"by_dn\": %llu, \"dangling\": %llu, "
	    "\"resolvable\": %llu, \"cycles\": %llu, \"owners_in_cycles\": %llu, "
	    "\"fanout\": %d},\n",
	    (unsigned long long)st->mgr_forms[MGR_NONE],
	    (unsigned long long)st->mgr_forms[MGR_EMPLOYEE_ID],
	    (unsigned long long)st->mgr_forms[MGR_EMAIL],
	    (unsigned long long)st->mgr_forms[MGR_DN],
	    (unsigned long long)st->mgr_dangling,
	    (unsigned long long)(st->rows_owners - st->mgr_forms[MGR_NONE] -
	    st->mgr_dangling),
	    (unsigned long long)st->ncycles, (unsigned long long)st->ncycle_members,
	    MGR_FANOUT);
	fprintf(fp, "  \"owners\": {\"active\": %llu, \"on_leave\": %llu, "
	    "\"terminated\": %llu, \"missing_department_title\": %llu, \"departments\": {",
	    (unsigned long long)st->status_active, (unsigned long long)st->status_leave,
	    (unsigned long long)st->status_terminated,
	    (unsigned long long)st->missing_dept_title);
	for (d = 0; d < cat_ndepartments; d++)
		fprintf(fp, "%s\"%s\": %llu", d ? ", " : "", cat_departments[d].name,
		    (unsigned long long)st->per_dept[d]);
	fprintf(fp, "}},\n");
	fprintf(fp, "  \"accounts\": {\"explicit_owner_id\": %llu, \"email_only\": %llu, "
	    "\"login_only\": %llu, \"orphaned\": %llu, \"per_application\": {",
	    (unsigned long long)st->links[LINK_EXPLICIT],
	    (unsigned long long)st->links[LINK_EMAIL],
	    (unsigned long long)st->links[LINK_LOGIN], (unsigned long long)st->orphans);
	for (k = 0; k < cat_napplications; k++)
		fprintf(fp, "%s\"%s\": %llu", k ? ", " : "", cat_applications[k].id,
		    (unsigned long long)st->per_app[k]);
	fprintf(fp, "}},\n");
	/* Enrichment links every owned account (by owner id, email or login) and fills the
	 * owners missing department and title from their Workday account. */
	fprintf(fp, "  \"enrichment\": {\"linkable_accounts\": %llu, "
	    "\"owners_to_fill\": %llu},\n",
	    (unsigned long long)(st->rows_accounts - st->orphans),
	    (unsigned long long)st->missing_dept_title);

	fprintf(fp, "  \"sod\": {\"pairs\": [");
	for (k = 0; k < cat_nsod_pairs; k++) {
		fprintf(fp, "%s\n    {\"application\": \"%s\", \"groups\": [\"%s\", \"%s\"], "
		    "\"conflicting_owners\": %llu}", k ? "," : "", cat_sod_pairs[k].app,
		    cat_sod_pairs[k].a, cat_sod_pairs[k].b,
		    (unsigned long long)st->sod_per_pair[k]);
		sod_total += st->sod_per_pair[k];
	}
	fprintf(fp, "],\n    \"conflicting_owners\": %llu},\n", (unsigned long long)sod_total);

	fprintf(fp, "  \"cohorts\": [");
	first = 1;
	for (d = 0; d < cat_ndepartments; d++) {
		for (t = 0; t < cat_ntitles(d); t++) {
			if (st->cohort_owners[d][t] == 0)
				continue;
			fprintf(fp, "%s\n    {\"department\": \"%s\", \"title\": \"%s\", "
			    "\"owners\": %llu, \"group_holders\": {", first ? "" : ",",
			    cat_departments[d].name, cat_departments[d].titles[t].name,
			    (unsigned long long)st->cohort_owners[d][t]);
			first = 0;
			h = &st->cohort_holders[(d * CAT_MAX_TITLES + t) * cat_ngroups];
			for (g = 0, k = 0; g < cat_ngroups; g++) {
				if (h[g] == 0)
					continue;
				fprintf(fp, "%s\"%s\": %llu", k++ ? ", " : "",
				    cat_groups[g].id, (unsigned long long)h[g]);
			}
			fprintf(fp, "}}");
		}
	}
	fprintf(fp, "\n  ]\n}\n");
	if (ferror(fp) || fclose(fp) != 0) {
		*cause = xasprintf("%s: write failed", path);
		rc = -1;
	}
	free(path);
	return (rc);
}

static void
print_summary(struct gen_state *st, FILE *out)
{
	fprintf(out, "applications.csv  %llu rows\nowners.csv        %llu rows\n"
	    "accounts.csv      %llu rows\ngroups.csv        %llu rows\n"
	    "memberships.csv   %llu rows\n",
	    (unsigned long long)st->rows_apps, (unsigned long long)st->rows_owners,
	    (unsigned long long)st->rows_accounts, (unsigned long long)st->rows_groups,
	    (unsigned long long)st->rows_members);
	fprintf(out, "managers: %llu none, %llu by employee_id, %llu by email, %llu by DN; "
	    "%llu dangling; %llu cycles (%llu owners)\n",
	    (unsigned long long)st->mgr_forms[MGR_NONE],
	    (unsigned long long)st->mgr_forms[MGR_EMPLOYEE_ID],
	    (unsigned long long)st->mgr_forms[MGR_EMAIL],
	    (unsigned long long)st->mgr_forms[MGR_DN],
	    (unsigned long long)st->mgr_dangling, (unsigned long long)st->ncycles,
	    (unsigned long long)st->ncycle_members);
	fprintf(out, "accounts: %llu explicit owner_id, %llu email only, %llu login only, "
	    "%llu orphaned\n", (unsigned long long)st->links[LINK_EXPLICIT],
	    (unsigned long long)st->links[LINK_EMAIL],
	    (unsigned long long)st->links[LINK_LOGIN], (unsigned long long)st->orphans);
	fprintf(out, "owners missing department/title: %llu\n",
	    (unsigned long long)st->missing_dept_title);
}

int
gen_identity(const char *out_dir, const struct gen_opts *opts, FILE *summary,
    char **cause)
{
	static const char *const h_owners[] = { "id", "employee_id", "display_name",
	    "email", "department", "title", "location", "manager", "status",
	    "modified_at", NULL };
	static const char *const h_accounts[] = { "id", "application_id", "login",
	    "email", "owner_id", "display_name", "department", "title", "status",
	    "modified_at", NULL };
	static const char *const h_members[] = { "account_id", "group_id",
	    "modified_at", NULL };
	struct gen_state	 st;
	uint64_t		 i;
	int			 rc = -1;
	char			*err = NULL, *path;

	memset(&st, 0, sizeof st);
	st.o = opts;
	st.tmin = INT64_MAX;
	st.tmax = INT64_MIN;
	cycles_plan(opts->owners, &st.ncycles, &st.ncycle_members);
	st.cohort_holders = xcalloc(cat_ndepartments * CAT_MAX_TITLES * cat_ngroups,
	    sizeof *st.cohort_holders);

	if (gen_mkdir(out_dir, cause) == -1)
		goto out;
	/* A full data set has no deletions: drop one left by an earlier --mutate here. */
	path = xasprintf("%s/deletions.csv", out_dir);
	if (unlink(path) == -1 && errno != ENOENT) {
		*cause = xasprintf("%s: %s", path, strerror(errno));
		free(path);
		goto out;
	}
	free(path);
	if (csv_out_open(&st.apps, out_dir, "applications.csv", cause) == -1 ||
	    csv_out_open(&st.owners, out_dir, "owners.csv", cause) == -1 ||
	    csv_out_open(&st.accounts, out_dir, "accounts.csv", cause) == -1 ||
	    csv_out_open(&st.groups, out_dir, "groups.csv", cause) == -1 ||
	    csv_out_open(&st.members, out_dir, "memberships.csv", cause) == -1)
		goto out;

	write_applications(&st);
	write_groups(&st);
	write_header(&st.owners, h_owners);
	write_header(&st.accounts, h_accounts);
	write_header(&st.members, h_members);
	for (i = 1; i <= opts->owners; i++)
		write_owner(&st, i);
	write_orphans(&st);

	rc = 0;
out:
	if (csv_out_close(&st.apps, &err) == -1)
		rc = -1;
	if (csv_out_close(&st.owners, &err) == -1)
		rc = -1;
	if (csv_out_close(&st.accounts, &err) == -1)
		rc = -1;
	if (csv_out_close(&st.groups, &err) == -1)
		rc = -1;
	if (csv_out_close(&st.members, &err) == -1)
		rc = -1;
	if (err != NULL) {
		if (*cause == NULL)
			*cause = err;
		else
			free(err);
	}
	if (rc == 0 && (rc = write_manifest(&st, out_dir, cause)) == 0 && summary != NULL)
		print_summary(&st, summary);
	free(st.cohort_holders);
	return (rc);
}
