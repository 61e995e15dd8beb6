/*
 * lease.h: a backup's lease on the service, kept alive while the backup
 * works. The lease keeps the space collector off the machine's objects
 * (docs/RETENTION.md, "Space"); it lasts a period the service chooses, so a
 * thread of its own, on a connection of its own, renews it a quarter of the
 * way through each period until the backup ends.
 *
 * A lease the service no longer knows (it expired while the service could
 * not be reached, say) has lapsed: the collector may have removed objects
 * the backup counts on. The renewer then begins a new lease at once, so
 * nothing more can go, and remembers the lapse; the backup must check every
 * object it references before it commits (backup.c).
 */
#ifndef ARCA_AGENT_LEASE_H
#define ARCA_AGENT_LEASE_H

#include <stdbool.h>
#include <stddef.h>

#include "client.h"
#include "err.h"
#include "reply.h"
#include "state.h"

#define LEASE_ID_MAX REPLY_ID_MAX /* the service's ids pass reply_id */

struct lease;

/* Begin a lease with C (POST /recovery-points/begin; C stays the
 * caller's) and start renewing it on a client of its own for S's machine.
 * The lease, or NULL with E set (nothing is left held on the service). */
struct lease *lease_begin(struct state *s, struct client *c, struct err *e);

/* Stop renewing and wait for the renewer to end (promptly: it is woken,
 * not polled). Copies the lease's id into ID ("" when a lapse left no
 * lease) and, when it lapsed during the backup, the first cause into WHY.
 * Returns true when it lapsed. L may not be NULL; call once. */
bool lease_stop(struct lease *l, char id[LEASE_ID_MAX + 1], char *why, size_t why_len);

/* Give the lease back with C (DELETE /recovery-points/lease/{id}), after a
 * failure: best effort, since an unreleased lease only expires later.
 * Stops the renewer first if it runs. Then, or without releasing, free L
 * with lease_free. */
void lease_release(struct lease *l, struct client *c);

/* Stop the renewer if it runs and free L. L may be NULL. */
void lease_free(struct lease *l);

#endif
