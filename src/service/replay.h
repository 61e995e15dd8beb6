/*
 * replay.h: remembers which (machine, nonce) pairs signed requests used
 * within the allowed clock skew, so that a captured request cannot be sent
 * again. Entries older than the window are forgotten; a request older than
 * the window is refused by its timestamp anyway. Thread-safe.
 */
#ifndef ARCA_REPLAY_H
#define ARCA_REPLAY_H

#include <stdint.h>

#include "err.h"

#define REPLAY_WINDOW 300 /* seconds of clock skew a signed request may have */

struct replay;

/* A cache that holds at most CAPACITY live entries. NULL when out of memory. */
struct replay *replay_new(size_t capacity);
void replay_free(struct replay *r);

/* Record KEY (machine id and nonce) seen at NOW. 0 the first time; -1 with
 * ERR_DENIED when it was seen within the window, or ERR_LIMIT when the
 * cache is full of live entries (too many requests: retry shortly). */
int replay_check(struct replay *r, const char *key, int64_t now, struct err *e);

#endif
