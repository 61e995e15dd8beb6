/*
 * replicate.c: the GRS replicator; see replicate.h.
 *
 * Why the replicator never brings back a pack the collector dropped, and
 * never copies while the collector deletes (the orders, one by one):
 *
 * - An upload holds its pack (catalog_pack_hold), stores it in the
 *   region's store, then records it with its queue row in one transaction
 *   (catalog_pack_add_replica, which also cancels a doom of the pack), and
 *   lets go. A crash between the store and the record leaves a file no row
 *   names (the agent sends the pack again); never a recorded pack without
 *   its row.
 * - Every transaction that dooms a pack (gc_drop, gc_move, purge,
 *   pack_forget) removes its queue row in the same transaction, and dooms
 *   its files in the region AND the pair. So whatever copy reaches the pair
 *   later is deleted with the rest by the sweep.
 * - The replicator holds the pack for the whole copy, the same hold as an
 *   upload's: the sweeper's claim (catalog_doomed_claim) refuses a held
 *   pack, and a hold is refused (ERR_LOCKED) while a claim stands. So a copy
 *   and a sweep of one pack never overlap: either the sweep claimed first
 *   (the replicator skips the row; it went with the doom anyway), or the
 *   hold came first and the sweep waits until the copy is done and let go,
 *   then deletes both copies.
 * - Holding, the replicator asks whether the pack is still listed: a pack
 *   doomed after the rows were read is not copied at all (had it been, the
 *   doom's sweep would delete that copy: the check only saves the work).
 * - The row goes (catalog_replica_done) only after the copy is in the pair
 *   and its size checked, still under the hold: a row re-queued meanwhile
 *   (the pack doomed and sent again) is for the same bytes, which the pair
 *   has, and no sweep could have come between.
 */
#include "replicate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "store.h"

#define HOLD_SECONDS 3600 /* the replicator's hold on a pack, should it die mid-copy */

int64_t replicate_backoff(int64_t attempts)
{
	int64_t wait;

	if (attempts <= 0)
		return 0;
	if (attempts > 9) /* 2^9 = 512 > REPLICATE_BACKOFF_MAX */
		return REPLICATE_BACKOFF_MAX;
	wait = (int64_t)1 << (attempts - 1);
	return wait < REPLICATE_BACKOFF_MAX ? wait : REPLICATE_BACKOFF_MAX;
}

/* Copy row R's pack from its region's store to its pair's and check the
 * copy. 0; or -1 with E set saying why, and *SOURCE true when the fault is
 * the primary copy's (missing, or damaged). */
static int copy_one(struct service *s, const struct replica *r, bool *source, struct err *e)
{
	const struct region *from = service_region(s, r->from), *to = service_region(s, r->to);
	uint64_t size = 0;
	int rc;

	*source = false;
	if (from == NULL || to == NULL)
		return err_set(e, ERR_NOT_FOUND, "region %s is not configured",
			       from == NULL ? r->from : r->to);
	if ((rc = store_stat(from->store, r->pack, &size, e)) < 0)
		return err_prefix(e, "reading region %s's copy: ", r->from);
	if (rc == 0 || size != (uint64_t)r->size) {
		*source = true;
		if (rc == 0)
			return err_set(e, ERR_NOT_FOUND, "the pack is missing from region %s's store; "
				       "it cannot be copied until it is sent again or forgotten",
				       r->from);
		return err_set(e, ERR_INVALID, "region %s's copy is damaged (%llu bytes, not %lld); "
			       "it cannot be copied until it is sent again or forgotten", r->from,
			       (unsigned long long)size, (long long)r->size);
	}
	if (store_copy(from->store, to->store, r->pack, e) != 0) {
		/* The source's fault (gone, or bytes that do not hash to the
		 * id: the copy's check), or the pair's. */
		*source = e->code == ERR_INVALID || e->code == ERR_NOT_FOUND;
		if (*source)
			return err_prefix(e, "region %s's copy: ", r->from);
		return err_prefix(e, "copying to region %s: ", r->to);
	}
	/* The copy as the pair now has it: whole (its put is atomic), of the
	 * pack's size. A copy there before ours was kept: the size catches one
	 * cut short. */
	if ((rc = store_stat(to->store, r->pack, &size, e)) < 0)
		return err_prefix(e, "checking region %s's copy: ", r->to);
	if (rc == 0 || size != (uint64_t)r->size) {
		if (rc == 1) /* damaged: removed, so the next try copies it afresh */
			store_remove(to->store, r->pack, NULL);
		return err_set(e, ERR_IO, "region %s's copy is %s after the copy", r->to,
			       rc == 0 ? "missing" : "of the wrong size");
	}
	return 0;
}

/* Record row R's failure E at NOW; raise the alert of a primary copy that
 * is missing or damaged once (when the row's last error was another). 0, or
 * -1 with CE set when the catalog failed. */
static int failed(struct service *s, const struct replica *r, const struct err *e, bool source,
		  int64_t now, struct err *ce)
{
	char msg[256], alert[512];
	struct vault v;

	snprintf(msg, sizeof(msg), "%.250s", e->msg);
	if (catalog_replica_fail(s->cat, r->pack, now + replicate_backoff(r->attempts + 1), msg,
				 ce) != 0)
		return ce->code == ERR_NOT_FOUND ? 0 : -1; /* doomed meanwhile: nothing to do */
	fprintf(stderr, "arcad: replicating pack %.16s to region %s (try %lld): %s\n", r->pack,
		r->to, (long long)r->attempts + 1, msg);
	if (!source || strcmp(r->error, msg) == 0)
		return 0;
	if (catalog_vault_by_id(s->cat, r->vault_id, &v, ce) != 0)
		return -1;
	snprintf(alert, sizeof(alert), "pack %.16s of vault %s is not replicated to region %s: %s",
		 r->pack, v.name, r->to, msg);
	return catalog_alert(s->cat, v.subscription, now, "replication", v.name, alert, ce);
}

int replicate_pass(struct service *s, const char *me, int64_t now,
		   const volatile sig_atomic_t *stop, struct replicate_stats *st, struct err *e)
{
	struct replica *r = NULL;
	size_t n = 0;
	int rc = 0;

	memset(st, 0, sizeof(*st));
	if (catalog_replica_list(s->cat, NULL, now, REPLICATE_BATCH, &r, &n, e) != 0)
		return err_prefix(e, "replication: the packs due: ");
	for (size_t i = 0; i < n && rc == 0 && !(stop && *stop); i++) {
		catalog_id holder, owner;
		struct err ce, fe;
		bool source;
		int d;

		/* Another service took the duty (ours ran out): it goes on. */
		if ((d = catalog_duty_take(s->cat, REPLICATE_DUTY, me, now,
					   now + REPLICATE_DUTY_SECONDS, e)) != 1) {
			rc = d < 0 ? err_prefix(e, "replication: keeping the duty: ") : 0;
			break;
		}
		catalog_new_id(holder);
		if (catalog_pack_hold(s->cat, r[i].pack, holder, now, now + HOLD_SECONDS, &ce) != 0) {
			if (ce.code == ERR_LOCKED) { /* being swept: its row went with its doom */
				st->skipped++;
				continue;
			}
			*e = ce;
			rc = err_prefix(e, "replication: holding pack %.16s: ", r[i].pack);
			break;
		}
		if (catalog_pack_owner(s->cat, r[i].pack, owner, &ce) != 0) {
			if (ce.code != ERR_NOT_FOUND) {
				*e = ce;
				rc = err_prefix(e, "replication: pack %.16s: ", r[i].pack);
			} else {
				st->skipped++; /* doomed since the rows were read */
			}
		} else if (copy_one(s, &r[i], &source, &fe) == 0) {
			if (catalog_replica_done(s->cat, r[i].pack, e) != 0)
				rc = err_prefix(e, "replication: pack %.16s copied, but: ", r[i].pack);
			else
				st->copied++;
		} else {
			st->failed++;
			if (failed(s, &r[i], &fe, source, now, &ce) != 0) {
				*e = ce;
				rc = err_prefix(e, "replication: recording pack %.16s's failure: ",
						r[i].pack);
			}
		}
		if (catalog_pack_unhold(s->cat, r[i].pack, holder, &ce) != 0)
			fprintf(stderr, "arcad: letting go of pack %.16s: %s\n", r[i].pack, ce.msg);
		now = service_now();
	}
	free(r);
	return rc;
}
