/* policy.c: placeholder until the analysis job lands; fails the job explicitly. */
#include "analysis.h"

int
run_policy_analysis(struct job_ctx *ctx, char **error)
{
	*error = xasprintf("job type %s is not implemented in this build",
	    job_type_name(ctx->job->type));
	return JOB_RUN_FAILED;
}
