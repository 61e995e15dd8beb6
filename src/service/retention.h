/*
 * retention.h: which recovery points a policy keeps (docs/RETENTION.md).
 * A pure function of the policy, the service's clock and the commit times
 * the service itself recorded: no client time enters it. All dates are UTC
 * calendar dates of those times.
 *
 * - daily N: every point of the last N days (today counts as one);
 * - weekly N: of each of the N latest occurrences of the weekly weekday (up
 *   to today), the last point made on that day;
 * - monthly N: likewise for the monthly day (1..28 or the month's last day);
 * - yearly N: likewise for the yearly month and day;
 * - the newest point, always: a machine never loses its last point, however
 *   long ago it stopped backing up.
 * A point may be kept for several reasons at once.
 */
#ifndef ARCA_RETENTION_H
#define ARCA_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

enum {
	KEEP_DAILY = 1,
	KEEP_WEEKLY = 2,
	KEEP_MONTHLY = 4,
	KEEP_YEARLY = 8,
	KEEP_LAST = 16,
};

/* For N points created at CREATED[0..N) (ascending), set WHY[i] to the
 * KEEP_ bits that keep point i at time NOW under P (0: remove it). */
void retention_decide(const struct policy *p, int64_t now, const int64_t *created, size_t n,
		      unsigned *why);

/* For N points created at CREATED[0..N) (ascending), set UNTIL[i] to the
 * time until which P keeps point i for certain, seen at NOW: the latest end
 * of the calendar windows that keep it now (daily N: the start of the day
 * N days after its own; weekly, monthly, yearly N: the N-th later
 * occurrence of the anchor day, counted only once the point's day is over,
 * since a later point of that day would take its place). No later backup
 * can shorten these windows, so P never removes the point before UNTIL[i].
 * The newest point, kept at NOW whatever its age, gets at least NOW (it
 * is kept as long as it is the newest, which no time bounds); a point P
 * does not keep now gets its creation time, and always less than NOW. 0, or
 * -1 when out of memory (UNTIL then unspecified). */
int retention_until(const struct policy *p, int64_t now, const int64_t *created, size_t n,
		    int64_t *until);

/* Whether changing a machine's policy from OLD (NULL when it has none: then
 * nothing expires) to NEW would remove any recovery point sooner than OLD
 * would: policy_shortens, or, of the machine's live points created at
 * CREATED[0..N) (ascending), one that NEW removes at NOW and OLD keeps.
 * Such a change needs a person with a security PIN. 1 or 0; -1 when out of
 * memory. */
int retention_shortens(const struct policy *old, const struct policy *new_, int64_t now,
		       const int64_t *created, size_t n);

#endif
