/* clock.c: see clock.h. */
#include "clock.h"

#include <stdlib.h>
#include <time.h>

int64_t clock_now(void)
{
	int64_t now = (int64_t)time(NULL);
#ifdef ARCA_TEST_CLOCK
	const char *off = getenv("ARCA_TEST_CLOCK_OFFSET");

	if (off)
		now += strtoll(off, NULL, 10);
#endif
	return now;
}

int clock_is_test(void)
{
#ifdef ARCA_TEST_CLOCK
	return 1;
#else
	return 0;
#endif
}
