/* sync.h: the sync job family over the CSV source (DESIGN.md section 4): full_sync,
 * incremental_sync and the one-type syncs. See sync.c for the semantics. */
#ifndef JOBSD_SYNC_H
#define JOBSD_SYNC_H

#include "jobctx.h"

int sync_full(struct job_ctx *ctx, char **error);        /* full_sync */
int sync_incremental(struct job_ctx *ctx, char **error); /* incremental_sync */
int sync_owners(struct job_ctx *ctx, char **error);      /* owner_sync */
int sync_accounts(struct job_ctx *ctx, char **error);    /* account_sync */
int sync_groups(struct job_ctx *ctx, char **error);      /* group_sync: groups+memberships */
int sync_applications(struct job_ctx *ctx, char **error); /* application_sync */

#endif
