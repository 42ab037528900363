/* roles_load.h: the compact in-memory model of who holds what, read by role_generation and
 * policy_analysis from the identity databases: owners (u32 by the byte order of their
 * ids), the effective values of a few owner attributes (the source record's, else the
 * enrichment overlay's), and for each owner the sorted set of groups it holds through its
 * accounts (an account belongs to the owner its enrichment link names, else to the owner
 * its owner_id column names). Groups are numbered by the byte order of their ids, so a
 * sorted array of group numbers is also sorted by id.
 *
 * Memory: about 12 bytes per owner plus its id, 4 bytes per attribute per owner, 8 bytes
 * per membership while building (then 4 per distinct owner/group pair); nothing per
 * account. */
#ifndef JOBSD_ROLES_LOAD_H
#define JOBSD_ROLES_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identity.h"
#include "jobctx.h"
#include "roles_util.h"

#define RL_MAX_ATTRS 16

struct rl_model {
	/* Owners: number = rank of the id. */
	uint32_t nowners;
	struct strtab oids; /* interned in key order, so number i is the i-th id */

	/* Attributes: oattr[o * nattrs + a] = value number in vals, RU_NONE if empty. */
	size_t nattrs;
	const char *attrs[RL_MAX_ATTRS];
	uint32_t *oattr;
	struct strtab vals;
	uint64_t from_overlay; /* attribute values taken from the overlay */

	/* Groups held: og[og_off[o] .. og_off[o + 1]) ascending group numbers. */
	bool with_groups;
	struct strtab gids; /* after loading, number i is the i-th id in byte order */
	uint64_t *og_off;
	uint32_t *og;

	uint64_t accounts, memberships;
	uint64_t accounts_linked;     /* owner taken from an enrichment link */
	uint64_t accounts_no_owner;   /* with memberships, but no known owner */
	uint64_t memberships_no_owner;
};

/* The number of owners, accounts and memberships (for total_records before reading). */
int rl_count(struct identity *id, bool with_groups, uint64_t *owners, uint64_t *accounts,
	     uint64_t *memberships, char **error);

/*
 * Read the model. attrs: the owner attributes to keep (may be 0); use_overlay: fill empty
 * ones from RES_DB_OWNER_OVERLAY; with_groups: read accounts and memberships. ctx->processed
 * advances by one per owner, account and membership read, with progress, the delay_ms hook
 * every batch_size records and a cancellation check there. JOB_RUN_OK, JOB_RUN_CANCELLED,
 * JOB_RUN_FAILED with *error.
 */
int rl_load(struct rl_model *m, struct job_ctx *ctx, struct identity *id,
	    const char *const *attrs, size_t nattrs, bool use_overlay, bool with_groups,
	    char **error);
void rl_free(struct rl_model *m);

/* The owner numbered by id, or RU_NONE (binary search). */
uint32_t rl_owner_find(const struct rl_model *m, const char *id, size_t len);

#endif
