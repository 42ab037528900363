/* policy_file.h: the policy file of policy_analysis (format: docs/analysis.md
 * "policy_analysis", example: packaging/policies.example), parsed with libinih. */
#ifndef JOBSD_POLICY_FILE_H
#define JOBSD_POLICY_FILE_H

#include <stdbool.h>
#include <stddef.h>

enum pol_kind { POL_SOD, POL_MAX, POL_REQUIRES, POL_ACCOUNT_RULE };

#define POL_NAME_MAX 64
#define POL_RESERVED_NAME "account_rules" /* policy of pending account decisions */
#define POL_SUBJ_OWNERS 1
#define POL_SUBJ_ROLES 2

struct pol_cond {
	char *field;
	char *value; /* "" matches an empty or absent field */
};

struct policy {
	enum pol_kind kind;
	char name[POL_NAME_MAX + 1];
	int line;      /* of the section header */
	int subjects;  /* POL_SUBJ_* bits (sod, max_entitlements) */
	bool has_subjects;
	char **ents;   /* sod: the set (sorted, distinct); requires: one */
	size_t nents;
	long limit;    /* max_entitlements; -1 until set */
	char *attribute; /* requires */
	char **values;   /* requires: allowed values */
	size_t nvalues;
	bool reject;     /* account_rule: action */
	bool has_action;
	struct pol_cond *conds; /* account_rule: all must hold */
	size_t nconds;
};

struct policy_set {
	struct policy *p; /* sorted by name */
	size_t n;
};

/* Parse path. -1 with *cause "PATH:LINE: reason" (or "PATH: reason" when it cannot be
 * read). */
int policy_file_load(const char *path, struct policy_set *ps, char **cause);
void policy_set_free(struct policy_set *ps);
const char *policy_kind_name(enum pol_kind k); /* as in the section header */

#endif
