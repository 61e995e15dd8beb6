/*
 * ratelimit.h: how often something may fail, per key (a client's address, a
 * user name), kept in memory. Each key has a bucket of BURST tokens that
 * refills one token every REFILL seconds; a failure takes a token, and a key
 * whose bucket is empty is refused until a token comes back. The table has a
 * fixed number of slots: when it is full, the slot that would be fullest now
 * is reused, so memory never grows with the number of keys an attacker
 * invents (at worst such a flood forgets a key's failures early).
 *
 * A shared limiter keeps the same buckets in the catalog instead
 * (catalog_limit_wait and catalog_limit_fail), so that every service on
 * one catalog counts the same failures: an address that failed at one
 * service is refused at the others. Its answers can fail (a database
 * error), and a caller refuses what it cannot check.
 */
#ifndef ARCA_RATELIMIT_H
#define ARCA_RATELIMIT_H

#include <stdint.h>

#include "err.h"

struct ratelimit;
struct catalog;

/* A limiter of SLOTS keys, BURST failures, one more every REFILL seconds.
 * NULL with E set. */
struct ratelimit *ratelimit_new(int slots, int burst, int refill, struct err *e);

/* A limiter of BURST failures, one more every REFILL seconds, kept in CAT
 * under keys that start with KIND and ':' (KIND at most 32 bytes). NULL
 * with E set. */
struct ratelimit *ratelimit_shared(struct catalog *cat, const char *kind, int burst, int refill,
				   struct err *e);

/* Release RL. RL may be NULL. */
void ratelimit_free(struct ratelimit *rl);

/* In *WAIT, 0 when KEY may try at NOW, else the seconds until it may (at
 * least 1). 0, or -1 with E set when a shared limiter could not tell (the
 * caller then refuses the try: never "may try" from a failed read). */
int ratelimit_check(struct ratelimit *rl, const char *key, int64_t now, int *wait,
		    struct err *e);

/* Record a failure of KEY at NOW (takes one of its tokens). 0, or -1 with
 * E set when a shared limiter could not record it. */
int ratelimit_record(struct ratelimit *rl, const char *key, int64_t now, struct err *e);

/* The in-memory limiter's own forms, which cannot fail. */
int ratelimit_wait(struct ratelimit *rl, const char *key, int64_t now);
void ratelimit_fail(struct ratelimit *rl, const char *key, int64_t now);

#endif
