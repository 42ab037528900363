/* results.h: where the analysis jobs (role_generation, policy_analysis, manager_resolution,
 * enrichment) keep their results, so that jobctl and the REST API can read them back.
 *
 * Every results database is a btree in the store's environment, opened with store_db_open.
 * Key: a printable UTF-8 string id, unique in its database (no NUL). Value: a msgpack map
 * with string keys whose values are strings, integers, booleans, nil, or arrays of strings
 * or integers; plus "_job": the job number of the run that last wrote the record. Readers
 * render a value generically as a JSON object {"id": key, ...fields in map order, without
 * "_"-prefixed keys}. Records are written in the job's batched transactions; a run replaces
 * the previous run's results (what it no longer finds is deleted, counted in
 * records_deleted where the job's counters say so).
 *
 * The derived data never modifies synced identity records (a later full_sync would see
 * them as changed): it lives beside them. */
#ifndef JOBSD_RESULTS_H
#define JOBSD_RESULTS_H

/* manager_resolution */
#define RES_DB_OWNER_MANAGERS "owner_managers"
/* key owner id -> {manager_ref: str|nil (the source's reference), manager_id: str|nil
 *   (resolved owner id), ref_kind: "employee_id"|"email"|"dn"|nil, depth: int|nil (0 for a
 *   top of the hierarchy; nil when the chain is broken or cyclic),
 *   state: "ok"|"top"|"missing"|"cycle"|"self"} */
#define RES_DB_MANAGER_ISSUES "manager_issues"
/* key "missing:<owner id>" -> {kind: "missing", owner_id, manager_ref}
 * key "cycle:<smallest member id>" -> {kind: "cycle", members: [owner ids in cycle order,
 *   starting with the smallest id], length: int} */

/* enrichment */
#define RES_DB_ACCOUNT_LINKS "account_links"
/* key account id -> {owner_id: str, rule: "owner_id"|"email"|"login", application_id} */
#define RES_DB_OWNER_OVERLAY "owner_overlay"
/* key owner id -> {<field>: value promoted from an account (only fields the owner's source
 *   record leaves empty), "_from": [account ids the values came from]} */
#define RES_DB_ORPHANS "orphans"
/* key account id -> {application_id, login, email, display_name} for accounts no rule
 *   matched */

/* role_generation */
#define RES_DB_ROLES "roles"
/* key role name ("engineering-senior_engineer") -> {attributes: [attr names],
 *   values: [the cohort's values], member_count: int, entitlements: [group ids, sorted]} */
#define RES_DB_ROLE_MEMBERS "role_members"
/* key "<role name>\x1f<owner id>" -> {role, owner_id} */

/* policy_analysis */
#define RES_DB_VIOLATIONS "violations"
/* key "<policy id>|<subject kind>|<subject id>" -> {policy: str, kind: "sod"|"max_entitlements"
 *   |"requires_attribute"|"account_rule", subject_kind: "role"|"owner"|"account",
 *   subject_id, entitlements: [offending group ids, sorted], detail: str,
 *   first_seen_job: int, decision?: "approve"|"reject"|"pending" for account rules} */

#endif
