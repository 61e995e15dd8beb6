/*
 * clock.h: the time arca's programs go by. It is the system's clock; in
 * test builds (meson -Dtest_clock=true) it is shifted by the seconds in
 * ARCA_TEST_CLOCK_OFFSET, so that tests can move the service and the agent
 * through days and years together. Release builds ignore the variable.
 */
#ifndef ARCA_CLOCK_H
#define ARCA_CLOCK_H

#include <stdint.h>

/* Unix seconds, UTC. */
int64_t clock_now(void);

/* Whether this build takes ARCA_TEST_CLOCK_OFFSET. */
int clock_is_test(void);

#endif
