/*
 * schedule.c: the policy's times and days. Times are parsed digit by digit
 * (two digits, a colon, two digits), so no value from the file can overflow
 * an int; the search for the next time steps day by day over at most eight
 * days, since every day of a week that is allowed has at least one time.
 */
#include <string.h>

#include "schedule.h"

static const char *const day_names[7] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };

static int two_digits(const char *p)
{
	if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9')
		return -1;
	return (p[0] - '0') * 10 + (p[1] - '0');
}

/* "verify": null or absent (none), or {"every_days": 1..365, "sample": 1..100}. */
static int verify_parse(json_t *v, struct schedule *s, struct err *e)
{
	json_t *d = json_object_get(v, "every_days"), *p = json_object_get(v, "sample");

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v) || !json_is_integer(d) || !json_is_integer(p) ||
	    json_integer_value(d) < 1 || json_integer_value(d) > 365 ||
	    json_integer_value(p) < 1 || json_integer_value(p) > 100)
		return err_set(e, ERR_CORRUPT, "the policy's \"verify\" is not {\"every_days\": 1 "
			       "to 365, \"sample\": 1 to 100}");
	s->verify_days = (int)json_integer_value(d);
	s->verify_sample = (int)json_integer_value(p);
	return 0;
}

int schedule_parse(json_t *policy, struct schedule *s, struct err *e)
{
	json_t *times = json_object_get(policy, "schedule"), *days = json_object_get(policy, "days");
	json_t *v;
	size_t i;

	memset(s, 0, sizeof(*s));
	if (!json_is_object(policy))
		return err_set(e, ERR_CORRUPT, "the policy is not a JSON object");
	if (!json_is_array(times) || json_array_size(times) == 0)
		return err_set(e, ERR_CORRUPT, "the policy's \"schedule\" is not a list of times");
	if (json_array_size(times) > SCHEDULE_MAX_TIMES)
		return err_set(e, ERR_CORRUPT, "the policy's \"schedule\" has %zu times, more than "
			       "%d", json_array_size(times), SCHEDULE_MAX_TIMES);
	json_array_foreach(times, i, v) {
		const char *t = json_string_value(v);
		int h, m;

		if (t == NULL || strlen(t) != 5 || t[2] != ':' || (h = two_digits(t)) < 0 ||
		    (m = two_digits(t + 3)) < 0 || h > 23 || m > 59)
			return err_set(e, ERR_CORRUPT, "the policy's time %zu is not HH:MM within "
				       "00:00 to 23:59", i + 1);
		s->mins[s->n++] = h * 60 + m;
	}
	if (days != NULL && !json_is_null(days) && !json_is_array(days))
		return err_set(e, ERR_CORRUPT, "the policy's \"days\" is not a list of days");
	json_array_foreach(days, i, v) {
		const char *d = json_string_value(v);
		int k;

		for (k = 0; k < 7 && (d == NULL || strcmp(d, day_names[k]) != 0); k++)
			;
		if (k == 7)
			return err_set(e, ERR_CORRUPT, "the policy's day %zu is not one of mon, tue, "
				       "wed, thu, fri, sat, sun", i + 1);
		s->days |= 1u << k;
	}
	if (s->days == 0)
		s->days = 0x7f;
	return verify_parse(json_object_get(policy, "verify"), s, e);
}

int64_t schedule_next(const struct schedule *s, int64_t t)
{
	int64_t day0 = t - ((t % 86400) + 86400) % 86400;

	/* Invariant: an allowed day comes within 7 days of day0, and each of
	 * its times is after T unless it is day0 itself. */
	for (int d = 0; d < 9; d++) {
		int64_t day = day0 + (int64_t)d * 86400;
		int wd = (int)((((day / 86400) + 3) % 7 + 7) % 7); /* Monday = 0 */
		int64_t best = 0;
		int found = 0;

		if (!(s->days & (1u << wd)))
			continue;
		for (int k = 0; k < s->n; k++) {
			int64_t at = day + (int64_t)s->mins[k] * 60;

			if (at > t && (!found || at < best))
				best = at, found = 1;
		}
		if (found)
			return best;
	}
	return -1; /* not reached for a parsed schedule */
}
