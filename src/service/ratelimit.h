/*
 * ratelimit.h: how often something may fail, per key (a client's address, a
 * user name), kept in memory. Each key has a bucket of BURST tokens that
 * refills one token every REFILL seconds; a failure takes a token, and a key
 * whose bucket is empty is refused until a token comes back. The table has a
 * fixed number of slots: when it is full, the slot that would be fullest now
 * is reused, so memory never grows with the number of keys an attacker
 * invents (at worst such a flood forgets a key's failures early).
 */
#ifndef ARCA_RATELIMIT_H
#define ARCA_RATELIMIT_H

#include <stdint.h>

#include "err.h"

struct ratelimit;

/* A limiter of SLOTS keys, BURST failures, one more every REFILL seconds.
 * NULL with E set. */
struct ratelimit *ratelimit_new(int slots, int burst, int refill, struct err *e);

/* Release RL. RL may be NULL. */
void ratelimit_free(struct ratelimit *rl);

/* 0 when KEY may try at NOW; else the seconds until it may (at least 1). */
int ratelimit_wait(struct ratelimit *rl, const char *key, int64_t now);

/* Record a failure of KEY at NOW (takes one of its tokens). */
void ratelimit_fail(struct ratelimit *rl, const char *key, int64_t now);

#endif
