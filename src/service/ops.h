/*
 * ops.h: the service's operations that both the JSON API and the admin
 * command line perform, written once: create a vault (checking its name,
 * region and redundancy, and making its certificate authority) and issue
 * vault credentials. Each checks its input, acts on the catalog, writes the
 * audit log as ACTOR, and reports failure as a value.
 */
#ifndef ARCA_OPS_H
#define ARCA_OPS_H

#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "catalog.h"
#include "err.h"
#include "policy.h"
#include "service.h"
#include "vaultcred.h"

/* Whether R is a storage redundancy: "LRS" or "GRS". 0, or -1 with
 * ERR_INVALID saying what each means. */
int ops_check_redundancy(const char *r, struct err *e);

/* Create vault NAME in SUBSCRIPTION, in REGION, with REDUNDANCY ("LRS" or
 * "GRS"; NULL for GRS). Fills V. 0, or -1 with E set: ERR_INVALID for a bad
 * name, region or redundancy; ERR_EXISTS; ERR_LIMIT past 25 vaults. */
int ops_vault_create(struct service *s, const char *subscription, const char *actor,
		     const char *name, const char *region, const char *redundancy, int64_t now,
		     struct vault *v, struct err *e);

/* Issue vault credentials for vault NAME of SUBSCRIPTION: a new key pair, a
 * certificate from the vault's CA valid 48 hours, recorded as the vault's
 * only valid credentials. Appends the file to FILE (which then holds the
 * private key: release it with buf_wipe) and its name to FILENAME. 0 or -1. */
int ops_credentials_issue(struct service *s, const char *subscription, const char *actor,
			  const char *name, int64_t now, struct buf *file,
			  char filename[VAULTCRED_FILENAME_MAX], struct err *e);

/* Apply machine MACHINE_ID's retention policy at NOW (docs/RETENTION.md):
 * decide which live recovery points it keeps and, unless DRY_RUN, raise
 * every live point's retain-until time to what the policy keeps it for,
 * then soft-delete the others (restorable for 14 days), audited as
 * "point.expire" by "retention". In an immutable vault a point still
 * retained is kept (its "why" is "retained"). *REPORT (caller decrefs) is
 * {"keep": [{"id", "created", "why": [...]}], "remove": [{"id", "created"}]};
 * a machine without a policy keeps everything. 0 or -1. */
int ops_retention(struct service *s, const char *machine_id, int64_t now, int dry_run,
		  json_t **report, struct err *e);

/* Set vault NAME's immutability to STATE (enum immutability) as ACTOR at
 * NOW, through the catalog (which refuses, ERR_LOCKED, to unlock a locked
 * vault, whoever asks), audited as "vault.immutability"; locking raises
 * the alert "vault.locked". Fills V with the vault after the change. 0, or
 * -1 with E set. Turning an immutable vault back to mutable is the place a
 * second person's approval will hook in (docs/RETENTION.md). */
int ops_vault_immutability(struct service *s, const char *subscription, const char *actor,
			   const char *name, int state, int64_t now, struct vault *v,
			   struct err *e);

/* The catalog_keep_fn of a policy_set: ARG is the new struct policy;
 * fills UNTIL with retention_until's times. 0, or -1 with ERR_NOMEM. */
int ops_policy_keep(void *arg, const int64_t *created, size_t n, int64_t now, int64_t *until,
		    struct err *e);

/* Machine MACHINE_ID's stored policy, parsed into P (release with
 * policy_clear), and its stored text into *TEXT (caller frees). 1 when it
 * has one; 0 when it has none (P zeroed, *TEXT NULL), for which nothing
 * expires; -1 on a catalog error, or ERR_CORRUPT for a stored policy that
 * does not parse: never taken for "no policy". */
int ops_policy_get(struct service *s, const char *machine_id, struct policy *p, char **text,
		   struct err *e);

/* Whether changing machine MACHINE_ID's policy from OLD (NULL: it has
 * none) to NEW at NOW would remove any recovery point sooner than OLD
 * (retention_shortens over the machine's live points, as the preview
 * sees them). 1, 0, or -1 with E set. */
int ops_policy_shortens(struct service *s, const char *machine_id, const struct policy *old,
			const struct policy *new_, int64_t now, struct err *e);

/* Whether machine MACHINE_ID missed its latest scheduled backup: a slot
 * more than an hour before NOW (and after its policy was set) with no
 * backup job started since. Raises the alert "backup.missed" once per slot,
 * so that a machine that stopped (or whose agent did) is noticed. 1 when an
 * alert was raised, 0 when not, -1 on failure. */
int ops_check_missed(struct service *s, const char *machine_id, int64_t now, struct err *e);

/* Vault V's GRS replication at NOW as its properties show it (docs/API.md):
 * {"state": "up to date" or "waiting", "packs_waiting", "bytes_waiting",
 * "lag_seconds" (the age of the oldest pack waiting, 0 when none),
 * "attempts" (the most failed tries of a pack waiting), "last_error" (the
 * most recent failure of a pack waiting, or null)}; NULL
 * in *OUT for a vault that is not GRS. 0, or -1 with E set: a catalog
 * that cannot tell is an error, never "up to date". */
int ops_replication(struct service *s, const struct vault *v, int64_t now, json_t **out,
		    struct err *e);

/* The same as one line of text ("up to date", or "12 packs (40.0 MiB)
 * waiting, oldest 3 min, last error: ..."), into BUF of N bytes. */
void ops_replication_text(const json_t *rep, char *buf, size_t n);

#endif
