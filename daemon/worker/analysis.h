/* analysis.h: entry points of the analysis job types (DESIGN.md section 4; results in
 * daemon/results.h). Each runs over the identity data the syncs stored. */
#ifndef JOBSD_ANALYSIS_H
#define JOBSD_ANALYSIS_H

#include "jobctx.h"

int run_manager_resolution(struct job_ctx *ctx, char **error); /* managers.c */
int run_enrichment(struct job_ctx *ctx, char **error);         /* enrich.c */
int run_role_generation(struct job_ctx *ctx, char **error);    /* roles.c */
int run_policy_analysis(struct job_ctx *ctx, char **error);    /* policy.c */

#endif
