/* catalog.h: the fixed vocabulary of the identity data generator: departments and their
 * titles, locations, person names (with their ASCII folding for emails and logins), the
 * applications and each application's groups with the cohort rule that grants them. */
#ifndef JOBSD_DATAGEN_CATALOG_H
#define JOBSD_DATAGEN_CATALOG_H

#include <stddef.h>
#include <stdint.h>

struct rng;

#define CAT_MAX_TITLES	8

struct cat_title {
	const char	*name;
	unsigned	 weight;
};

struct cat_department {
	const char		*name;	/* "engineering" */
	const char		*ou;	/* "Engineering", the directory OU */
	unsigned		 weight;
	struct cat_title	 titles[CAT_MAX_TITLES];	/* ends with a NULL name */
};

struct cat_name {
	const char	*utf8;	/* as displayed, may hold non-ASCII, commas, quotes */
	const char	*ascii;	/* folded for emails and logins */
};

enum cat_login_style {
	LOGIN_SAM,	/* jnunez12 */
	LOGIN_DOTTED,	/* jose.nunez12 */
	LOGIN_EMAIL,	/* the owner's email */
	LOGIN_HANDLE,	/* jnunez-12 */
	LOGIN_UPPER	/* JNUNEZ12 */
};

struct cat_application {
	const char		*id;
	const char		*name;
	const char		*type;
	enum cat_login_style	 login;
};

/*
 * A group is granted to an account by its owner's cohort: depts and titles are
 * space-separated lists, empty means any. sod marks one side of a separation-of-duties
 * pair: never granted as noise, only by its cohort rule or by a planted conflict.
 */
struct cat_group {
	const char	*id;
	const char	*app;
	const char	*name;
	const char	*depts;
	const char	*titles;
	int		 sod;
};

/* A separation-of-duties pair: two groups of one application nobody should hold both of. */
struct cat_sod_pair {
	const char	*app;
	const char	*a;
	const char	*b;
};

extern const struct cat_department	 cat_departments[];
extern const size_t			 cat_ndepartments;
extern const char *const		 cat_locations[];
extern const size_t			 cat_nlocations;
extern const struct cat_name		 cat_first_names[];
extern const size_t			 cat_nfirst_names;
extern const struct cat_name		 cat_last_names[];
extern const size_t			 cat_nlast_names;
extern const struct cat_application	 cat_applications[];
extern const size_t			 cat_napplications;
extern const struct cat_group		 cat_groups[];
extern const size_t			 cat_ngroups;
extern const struct cat_sod_pair	 cat_sod_pairs[];
extern const size_t			 cat_nsod_pairs;

/* Index of an application or group by id, or -1. */
int	cat_app_index(const char *id);
int	cat_group_index(const char *id);
/* Number of titles of department d. */
size_t	cat_ntitles(size_t d);
/* Weighted picks. */
size_t	cat_pick_department(struct rng *r);
size_t	cat_pick_title(struct rng *r, size_t d);
/* Does group g's cohort rule grant it to department d, title t? */
int	cat_group_matches(size_t g, size_t d, size_t t);
/* The application (index) of the department-specific third account of an owner. */
size_t	cat_pick_dept_app(struct rng *r, size_t d);

#endif
