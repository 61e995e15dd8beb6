/*
 * schedule.h: when the resident agent backs up, from the machine's policy
 * (policy.json, the copy of the service's GET /machine/policy answer):
 * "schedule" holds up to three "HH:MM" times of day (UTC), "days" the
 * weekdays ("mon" ... "sun"; none or absent: every day), and "verify"
 * (optional) {"every_days": 1..365, "sample": 1..100}: a verification of
 * the machine's points that reads that percentage of their data back,
 * after a scheduled backup once that many days have passed since the
 * last. The policy is
 * checked whole before the agent acts on it, so a damaged copy is reported
 * by field and never half obeyed.
 */
#ifndef ARCA_AGENT_SCHEDULE_H
#define ARCA_AGENT_SCHEDULE_H

#include <stdint.h>

#include <jansson.h>

#include "err.h"

#define SCHEDULE_MAX_TIMES 3

struct schedule {
	unsigned days; /* bit 0 Monday ... bit 6 Sunday; never 0 */
	int mins[SCHEDULE_MAX_TIMES]; /* minutes after midnight UTC, 0..1439 */
	int n;          /* 1 to SCHEDULE_MAX_TIMES */
	int verify_days;   /* days between scheduled verifications; 0: none */
	int verify_sample; /* percent of the data objects they read, 1..100 */
};

/* Read POLICY's schedule into S. 0; or -1 with E set (ERR_CORRUPT) naming
 * the field: not an object, no times, more than SCHEDULE_MAX_TIMES, a time
 * not "HH:MM" within 00:00..23:59, a day name unknown, a field of the wrong
 * type, a "verify" that is not null or both its numbers within bounds. */
int schedule_parse(json_t *policy, struct schedule *s, struct err *e);

/* The first scheduled time of S strictly after T (seconds since the epoch;
 * any T with |T| < 2^62). Always within 8 days after T. */
int64_t schedule_next(const struct schedule *s, int64_t t);

#endif
