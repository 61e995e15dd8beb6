/*
 * staging.h: how much of the service's upload folder each machine may hold
 * at once. An upload is admitted only after its signature checked out and
 * before any of its body is stored; admission reserves its declared length
 * (plus what the machine's resumable uploads in progress hold already) and
 * one of the machine's upload slots, and the reservation is released when
 * the request ends, however it ends. Memory is a fixed table: one slot per
 * machine with an upload in flight, never more than the server has
 * connections. Thread-safe.
 */
#ifndef ARCA_STAGING_H
#define ARCA_STAGING_H

#include <stdint.h>

#include "err.h"

#define STAGING_UPLOADS_MAX 4             /* uploads in flight per machine */
#define STAGING_BYTES_MAX (4ull << 30)    /* staged bytes per machine: one whole pack */

struct staging;

/* A table for at most SLOTS machines with uploads in flight, each allowed
 * UPLOADS concurrent uploads and BYTES staged bytes. NULL with E set. */
struct staging *staging_new(int slots, int uploads, uint64_t bytes, struct err *e);

/* Release ST. ST may be NULL. */
void staging_free(struct staging *st);

/* Reserve one upload of LEN bytes for MACHINE, which holds HELD bytes in
 * uploads in progress on disk already (they count against its bytes).
 * 0; or -1 with ERR_LIMIT: the machine has UPLOADS in flight, or LEN,
 * HELD and its reservations together exceed BYTES, or the table is full
 * (more machines upload at once than it has slots); the message says which
 * and what to do. */
int staging_reserve(struct staging *st, const char *machine, uint64_t len, uint64_t held,
		    struct err *e);

/* Give back a reservation of LEN bytes that staging_reserve made for
 * MACHINE. Releasing what was not reserved does nothing. */
void staging_release(struct staging *st, const char *machine, uint64_t len);

/* What MACHINE has in flight now: uploads and reserved bytes (tests). */
void staging_usage(struct staging *st, const char *machine, int *uploads, uint64_t *bytes);

#endif
