/*
 * replicate.h: the GRS replicator. A GRS vault's pack is stored in its
 * region's store when it is uploaded, and recorded with a row of the
 * replication queue in the same catalog transaction (catalog.h, struct
 * replica); the replicator copies it to the paired region's store
 * afterwards, checked on the way (store_copy: the bytes hash to the id)
 * and after (the copy's size), and removes the row. A copy that fails
 * stays queued: the row counts the attempt, keeps the error (shown in the
 * vault's properties) and is retried after a back-off that doubles from
 * one second up to REPLICATE_BACKOFF_MAX; no error ever drops a row. A
 * primary copy that is missing or damaged is never copied; it raises an
 * alert of kind "replication" once (per row and cause) and its row waits,
 * retried, until the pack is sent again or forgotten.
 *
 * One service of a catalog at a time replicates: the duty "replicator"
 * (catalog_duty_take), held by arcad serve's replicator thread. The queue
 * is in the catalog, so a service that dies mid-copy leaves its rows
 * behind, and whichever service takes the duty next finishes them.
 */
#ifndef ARCA_REPLICATE_H
#define ARCA_REPLICATE_H

#include <signal.h>
#include <stdint.h>

#include "err.h"
#include "service.h"

#define REPLICATE_BACKOFF_MAX 300 /* seconds: the longest wait between two tries */
#define REPLICATE_BATCH 64        /* rows a pass takes at once */
#define REPLICATE_DUTY "replicator"
#define REPLICATE_DUTY_SECONDS 10 /* the duty's lease, renewed before every copy */

struct replicate_stats {
	int64_t copied;  /* rows done */
	int64_t failed;  /* rows that failed and wait for a later try */
	int64_t skipped; /* rows left for later: the collector is deleting the pack */
};

/* The seconds to wait before the try after ATTEMPTS failed ones. */
int64_t replicate_backoff(int64_t attempts);

/* One pass over the rows due at NOW, oldest first, as holder ME of the duty
 * (renewed before each copy: a pass that lost it stops), until *STOP (the
 * service stopping; NULL: never) is set. 0, or -1 with E set when the
 * catalog failed (what was done before stays done). */
int replicate_pass(struct service *s, const char *me, int64_t now,
		   const volatile sig_atomic_t *stop, struct replicate_stats *st, struct err *e);

#endif
