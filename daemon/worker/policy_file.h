/* policy_file.h: the policy file of policy_analysis (format: docs/analysis.md
 * "policy_analysis", example: packaging/policies.example), parsed with libinih, and the
 * resolution of the job's policy_file parameter inside the policy directory. */
#ifndef JOBSD_POLICY_FILE_H
#define JOBSD_POLICY_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

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
 * read). Error reasons quote the file's text (keys, values, names): only ever parse files
 * the operator chose (the configured policy file, or one policy_file_open_param let
 * through). */
int policy_file_load(const char *path, struct policy_set *ps, char **cause);
/* The same from an open stream; shown names it in errors. The caller closes f. */
int policy_file_load_stream(FILE *f, const char *shown, struct policy_set *ps,
    char **cause);

/* Open the file a job's policy_file parameter names. The parameter may only be a bare
 * file name (1 to NAME_MAX of A-Z a-z 0-9 . _ -, not starting with '.') in the directory
 * of conf_file (the configuration's [analysis] policy_file; NULL or "": the parameter is
 * refused). Its real path must still lie inside that directory (a symlink out is refused)
 * and be a regular file. 0 with *fp and *shown ("DIR/NAME" for errors, malloc'd), or -1
 * with *cause "parameters.policy_file: ...": a name that is not in the directory says so;
 * everything else (a bad name, a symlink out, dangling or looping, not a regular file) is
 * one refusal, so nothing outside the directory can be told apart through it. */
int policy_file_open_param(const char *conf_file, const char *name, FILE **fp,
    char **shown, char **cause);
void policy_set_free(struct policy_set *ps);
const char *policy_kind_name(enum pol_kind k); /* as in the section header */

#endif
