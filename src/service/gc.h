/*
 * gc.h: the space collector. Without keys and without a lock anyone must
 * clean up, it frees what no recovery point needs any more: a pack none of
 * whose objects a recovery point references is dropped; a pack mostly of
 * such objects has its live objects copied, still sealed, into a new pack,
 * and is dropped. A soft-deleted point still protects its objects (it can
 * come back); a machine with a backup in progress (a lease) is left alone
 * until the lease ends, since its agent may rely on any object it was told
 * is stored. Every step is one catalog transaction that re-checks these
 * rules, and pack files are deleted only an hour after the catalog stopped
 * naming them, so a reader already on its way still finds them; a crash at
 * any point leaves the store consistent (docs/RETENTION.md, "Space").
 */
#ifndef ARCA_GC_H
#define ARCA_GC_H

#include <stdint.h>

#include "err.h"
#include "service.h"

#define GC_REWRITE_BELOW 0.5 /* rewrite a pack when less than this share is live */
#define GC_GRACE 3600        /* seconds a dropped pack's file is kept for readers */

struct gc_stats {
	int64_t packs_seen, packs_dropped, packs_rewritten, machines_skipped;
	int64_t bytes_before, bytes_after; /* stored bytes of the packs looked at */
	int64_t files_deleted;             /* doomed pack files whose time had come */
};

/*
 * Pack uploads and the sweeper. Invariant: a pack file is deleted only
 * while no upload stands between storing that pack's file and recording it
 * in the catalog. An upload holds gc_upload_begin (shared, uploads run
 * side by side) from before it moves its file into the store until
 * catalog_pack_add, which cancels any doom of the pack, has committed; the
 * sweeper holds the lock exclusively from catalog_doomed_claim (still
 * doomed, not listed) through deleting the files. So either the upload
 * recorded the pack first (the claim sees it listed and keeps the file) or
 * the sweeper deleted the old file first (the upload then stores its own).
 * Without the lock, the sweeper could check, the upload rename and record,
 * and the sweeper then unlink the file the catalog just recorded.
 *
 * Between services on one catalog the same rule is kept by marks in the
 * catalog: an upload holds its pack (catalog_pack_hold) before it stores a
 * file and lets go after recording it; the sweeper's claim
 * (catalog_doomed_claim) refuses a held pack and marks a claimed one as
 * being swept, which a hold then waits out. So an upload at one service and
 * the sweeper at another never act on one pack's files at once.
 */
void gc_upload_begin(void);
void gc_upload_end(void);

/* One pass over the packs of vault VAULT_ID (NULL: all vaults) at NOW. One
 * pass runs at a time. 0, or -1 with E set (what was done before stays). */
int gc_run(struct service *s, const char *vault_id, int64_t now, struct gc_stats *st,
	   struct err *e);

/* What a pass over vault VAULT_ID (NULL: all vaults) would do now, leases
 * aside, changing nothing: packs_dropped and packs_rewritten count the
 * packs it would drop and rewrite, bytes_after the bytes left (a rewritten
 * pack's live objects). Reads only, so it may run beside a service's own
 * passes (`arcad space preview`). 0, or -1 with E set: a preview is never
 * made of part of the packs or part of the references. */
int gc_preview(struct service *s, const char *vault_id, struct gc_stats *st, struct err *e);

#endif
