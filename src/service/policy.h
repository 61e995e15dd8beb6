/*
 * policy.h: a machine's backup policy: when it backs up (one to three times
 * a day, on every day or chosen weekdays) and how long it keeps daily,
 * weekly, monthly and yearly recovery points. Parsing checks every rule of
 * SPEC sections 1 and 2: at most 3 backups a day, retention floors (7 daily,
 * 4 weekly, 3 monthly, 1 yearly when a kind is used), and no policy that
 * could keep more than 366 points.
 */
#ifndef ARCA_POLICY_H
#define ARCA_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

#define POLICY_TIMES_MAX 3
#define POLICY_POINTS_MAX 366

#define POLICY_LIST_MAX 64 /* paths, includes, excludes each */

struct policy {
	int times;                          /* backups a day, 1..3 */
	int minutes[POLICY_TIMES_MAX];      /* minutes after midnight, ascending */
	unsigned days;                      /* bit 0 = Monday .. bit 6 = Sunday */
	int keep_daily, keep_weekly, keep_monthly, keep_yearly; /* 0 = kind unused */
	int weekly_day;                     /* 0 = Monday .. 6 = Sunday (default) */
	int monthly_day;                    /* 1..28, or 0 for the last day (default 1) */
	int yearly_month, yearly_day;       /* 1..12 and 1..28 or 0 = last (default 1, 1) */
	json_t *selection; /* {"paths", "include", "exclude"} as given, or NULL; owned */
	int verify_every_days; /* a scheduled verify every N days (1..POLICY_VERIFY_DAYS_MAX), 0 none */
	int verify_sample;     /* its share of data objects read, percent (1..100) */
};

#define POLICY_VERIFY_DAYS_MAX 365

/* Parse and check a policy from its JSON object J:
 * {"schedule": ["HH:MM", ...], "days": ["mon", ...] (optional, default every
 * day), "keep_daily": N, "keep_weekly": N, "keep_monthly": N, "keep_yearly": N,
 * "weekly_day": "sun", "monthly_day": 1 | "last", "yearly_month": 1,
 * "yearly_day": 1 | "last", "paths": [...], "include": [...], "exclude": [...],
 * "verify": {"every_days": 1..365, "sample": 1..100}} (the anchors, the
 * selection and the scheduled verify optional; "verify": null is none). 0, or -1 with ERR_INVALID (a
 * rule, named) or ERR_LIMIT (3 a day, 366 points). Release with
 * policy_clear. */
int policy_parse(json_t *j, struct policy *p, struct err *e);

/* Release what P owns (the selection). */
void policy_clear(struct policy *p);

/* The canonical JSON of P (caller frees with free()). NULL when out of memory. */
char *policy_json(const struct policy *p);

/* The latest scheduled backup time of P at or before T (Unix seconds, UTC),
 * or -1 when there is none in the week before. */
int64_t policy_last_slot(const struct policy *p, int64_t t);

/* How many recovery points P could keep at most. */
int policy_max_points(const struct policy *p);

/* Whether NEW, on its own terms, would ever remove a point sooner than OLD:
 * it keeps some kind for fewer days, weeks, months or years, or moves the
 * weekly, monthly or yearly anchor day of a kind OLD keeps (the points of
 * the old day are then no longer that kind's). Schedules and selections do
 * not count: retention goes by calendar days, not by backups. The points a
 * machine has are retention_shortens's concern. */
bool policy_shortens(const struct policy *old, const struct policy *new_);

#endif
