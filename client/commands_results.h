/* commands_results.h: jobctl's commands that read the analysis results (roles, role,
 * violations, orphans, managers, manager, link) through MSG_CTL_RESULTS. */
#ifndef JOBSD_COMMANDS_RESULTS_H
#define JOBSD_COMMANDS_RESULTS_H

#include "client.h"

int cmd_roles(struct ctl *c, int argc, char **argv);
int cmd_role(struct ctl *c, int argc, char **argv);
int cmd_violations(struct ctl *c, int argc, char **argv);
int cmd_orphans(struct ctl *c, int argc, char **argv);
int cmd_managers(struct ctl *c, int argc, char **argv);
int cmd_manager(struct ctl *c, int argc, char **argv);
int cmd_link(struct ctl *c, int argc, char **argv);

#endif
