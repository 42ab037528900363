/* control_results.h: MSG_CTL_RESULTS, the supervisor's answer to reads of the analysis
 * results (jobctl roles, violations, orphans, managers, ...); see ipc/PROTOCOL.md. */
#ifndef JOBSD_CONTROL_RESULTS_H
#define JOBSD_CONTROL_RESULTS_H

#include "jobsd.h"

int ops_results(struct client *c, const struct ipc_msg *m);

#endif
