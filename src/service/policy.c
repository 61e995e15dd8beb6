/* policy.c: backup policies and their rules; see policy.h. */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const day_names[7] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };

static int keep(json_t *j, const char *key, int floor, int *out, struct err *e)
{
	json_t *v = json_object_get(j, key);

	if (v == NULL) {
		*out = 0;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 10000)
		return err_set(e, ERR_INVALID, "\"%s\" must be a whole number from 0 (not used) up", key);
	*out = (int)json_integer_value(v);
	if (*out > 0 && *out < floor)
		return err_set(e, ERR_INVALID, "\"%s\" is %d; retention can never be set below %d "
			       "for this kind of point", key, *out, floor);
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* A day of the month: 1..28 (every month has it) or "last" (0). */
static int month_day(json_t *j, const char *key, int *out, struct err *e)
{
	json_t *v = json_object_get(j, key);

	if (v == NULL)
		return 0;
	if (json_is_string(v) && strcmp(json_string_value(v), "last") == 0) {
		*out = 0;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 28)
		return err_set(e, ERR_INVALID, "\"%s\" must be a day from 1 to 28 (every month has "
			       "it) or \"last\"", key);
	*out = (int)json_integer_value(v);
	return 0;
}

static int anchors(json_t *j, struct policy *p, struct err *e)
{
	json_t *v;

	p->weekly_day = 6;
	p->monthly_day = 1;
	p->yearly_month = 1;
	p->yearly_day = 1;
	if ((v = json_object_get(j, "weekly_day")) != NULL) {
		int k;

		for (k = 0; k < 7 && !(json_is_string(v) &&
				       strcmp(json_string_value(v), day_names[k]) == 0); k++)
			;
		if (k == 7)
			return err_set(e, ERR_INVALID, "\"weekly_day\" must be one of mon, tue, wed, "
				       "thu, fri, sat, sun");
		p->weekly_day = k;
	}
	if ((v = json_object_get(j, "yearly_month")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 12)
			return err_set(e, ERR_INVALID, "\"yearly_month\" must be a month from 1 to 12");
		p->yearly_month = (int)json_integer_value(v);
	}
	return month_day(j, "monthly_day", &p->monthly_day, e) ||
	       month_day(j, "yearly_day", &p->yearly_day, e);
}

/* The backup selection: lists of strings, kept as given for the agent. */
static int selection(json_t *j, struct policy *p, struct err *e)
{
	static const char *const keys[] = { "paths", "include", "exclude" };
	json_t *sel = NULL;

	for (size_t k = 0; k < 3; k++) {
		json_t *v = json_object_get(j, keys[k]), *x;
		size_t i;

		if (v == NULL)
			continue;
		if (!json_is_array(v) || json_array_size(v) > POLICY_LIST_MAX)
			goto bad;
		json_array_foreach(v, i, x)
			if (!json_is_string(x) || json_string_length(x) == 0 ||
			    json_string_length(x) > 4096 ||
			    (k == 0 && json_string_value(x)[0] != '/'))
				goto bad;
		if (sel == NULL)
			sel = json_object();
		json_object_set(sel, keys[k], v);
		continue;
bad:
		json_decref(sel);
		return err_set(e, ERR_INVALID, "\"%s\" must list at most %d %s", keys[k],
			       POLICY_LIST_MAX, k == 0 ? "absolute paths" : "non-empty patterns");
	}
	p->selection = sel;
	return 0;
}

/* The scheduled verification: {"every_days": N, "sample": P}, both
 * required when "verify" is given; null or absent for none. */
static int verify_opt(json_t *j, struct policy *p, struct err *e)
{
	json_t *v = json_object_get(j, "verify"), *d, *s;
	const char *k;
	json_t *x;

	if (v == NULL || json_is_null(v))
		return 0;
	d = json_object_get(v, "every_days");
	s = json_object_get(v, "sample");
	if (!json_is_object(v) || !json_is_integer(d) || !json_is_integer(s))
		return err_set(e, ERR_INVALID, "\"verify\" must be {\"every_days\": N, \"sample\": "
			       "PERCENT} (whole numbers), or null for no scheduled verification");
	json_object_foreach(v, k, x)
		if (strcmp(k, "every_days") != 0 && strcmp(k, "sample") != 0)
			return err_set(e, ERR_INVALID, "\"verify\" has only \"every_days\" and "
				       "\"sample\"; \"%.64s\" is not one of them", k);
	if (json_integer_value(d) < 1 || json_integer_value(d) > POLICY_VERIFY_DAYS_MAX)
		return err_set(e, ERR_INVALID, "\"verify\".\"every_days\" must be from 1 to %d days",
			       POLICY_VERIFY_DAYS_MAX);
	if (json_integer_value(s) < 1 || json_integer_value(s) > 100)
		return err_set(e, ERR_INVALID, "\"verify\".\"sample\" must be a percentage from 1 "
			       "to 100 of the data read back");
	p->verify_every_days = (int)json_integer_value(d);
	p->verify_sample = (int)json_integer_value(s);
	return 0;
}

void policy_clear(struct policy *p)
{
	json_decref(p->selection);
	p->selection = NULL;
}

static int parse(json_t *j, struct policy *p, struct err *e);

int policy_parse(json_t *j, struct policy *p, struct err *e)
{
	if (parse(j, p, e) == 0)
		return 0;
	policy_clear(p);
	return -1;
}

static int parse(json_t *j, struct policy *p, struct err *e)
{
	json_t *sched, *days, *v;
	size_t i;
	int n;

	memset(p, 0, sizeof(*p));
	if (!json_is_object(j))
		return err_set(e, ERR_INVALID, "a policy is a JSON object");
	sched = json_object_get(j, "schedule");
	if (!json_is_array(sched) || json_array_size(sched) == 0)
		return err_set(e, ERR_INVALID, "\"schedule\" must list 1 to %d times of day, as \"HH:MM\"",
			       POLICY_TIMES_MAX);
	if (json_array_size(sched) > POLICY_TIMES_MAX)
		return err_set(e, ERR_LIMIT, "A machine can be backed up at most %d times a day; this "
			       "schedule has %zu times", POLICY_TIMES_MAX, json_array_size(sched));
	json_array_foreach(sched, i, v) {
		const char *t = json_string_value(v);
		int h, m;
		char tail;

		if (t == NULL || strlen(t) != 5 || sscanf(t, "%2d:%2d%c", &h, &m, &tail) != 2 ||
		    t[2] != ':' || h < 0 || h > 23 || m < 0 || m > 59)
			return err_set(e, ERR_INVALID, "schedule time %zu must be \"HH:MM\" (00:00 to 23:59)", i + 1);
		p->minutes[i] = h * 60 + m;
	}
	p->times = (int)json_array_size(sched);
	qsort(p->minutes, (size_t)p->times, sizeof(int), cmp_int);
	for (int k = 1; k < p->times; k++)
		if (p->minutes[k] == p->minutes[k - 1])
			return err_set(e, ERR_INVALID, "the schedule names the same time twice");
	days = json_object_get(j, "days");
	if (days == NULL) {
		p->days = 0x7f;
	} else {
		if (!json_is_array(days) || json_array_size(days) == 0)
			return err_set(e, ERR_INVALID, "\"days\" must list weekdays (\"mon\" to \"sun\"), "
				       "or be left out for every day");
		json_array_foreach(days, i, v) {
			const char *d = json_string_value(v);
			int k;

			for (k = 0; k < 7 && !(d && strcmp(d, day_names[k]) == 0); k++)
				;
			if (k == 7)
				return err_set(e, ERR_INVALID, "\"days\" entry %zu is not one of mon, tue, wed, "
					       "thu, fri, sat, sun", i + 1);
			p->days |= 1u << k;
		}
	}
	if (anchors(j, p, e) || selection(j, p, e) || verify_opt(j, p, e))
		return -1;
	if (keep(j, "keep_daily", 7, &p->keep_daily, e) || keep(j, "keep_weekly", 4, &p->keep_weekly, e) ||
	    keep(j, "keep_monthly", 3, &p->keep_monthly, e) || keep(j, "keep_yearly", 1, &p->keep_yearly, e))
		return -1;
	if (!p->keep_daily && !p->keep_weekly && !p->keep_monthly && !p->keep_yearly)
		return err_set(e, ERR_INVALID, "a policy keeps at least one kind of point "
			       "(keep_daily, keep_weekly, keep_monthly or keep_yearly)");
	if ((n = policy_max_points(p)) > POLICY_POINTS_MAX) {
		return err_set(e, ERR_LIMIT, "this policy could keep %d recovery points; A machine can "
			       "have at most %d recovery points", n, POLICY_POINTS_MAX);
	}
	return 0;
}

int policy_max_points(const struct policy *p)
{
	int days = __builtin_popcount(p->days);

	/* Daily points: every scheduled backup of the last keep_daily days, on
	 * the scheduled weekdays (rounded up). One point a week, month, year for
	 * the others; a point may count for several kinds, so this is a bound. */
	return (p->keep_daily * days + 6) / 7 * p->times + p->keep_weekly + p->keep_monthly +
	       p->keep_yearly;
}

bool policy_shortens(const struct policy *o, const struct policy *n)
{
	/* Invariant: with equal anchors, each kind's kept set only grows with
	 * its count, so these checks are all a change can shorten by itself. */
	if (n->keep_daily < o->keep_daily || n->keep_weekly < o->keep_weekly ||
	    n->keep_monthly < o->keep_monthly || n->keep_yearly < o->keep_yearly)
		return true;
	if (o->keep_weekly && n->weekly_day != o->weekly_day)
		return true;
	if (o->keep_monthly && n->monthly_day != o->monthly_day)
		return true;
	return o->keep_yearly &&
	       (n->yearly_month != o->yearly_month || n->yearly_day != o->yearly_day);
}

char *policy_json(const struct policy *p)
{
	json_t *sched = json_array(), *days = json_array(), *o;
	char *s;

	for (int i = 0; i < p->times; i++) {
		char t[16];

		snprintf(t, sizeof(t), "%02d:%02d", p->minutes[i] / 60 % 24, p->minutes[i] % 60);
		json_array_append_new(sched, json_string(t));
	}
	for (int k = 0; k < 7; k++)
		if (p->days & (1u << k))
			json_array_append_new(days, json_string(day_names[k]));
	o = json_pack("{s:o,s:o,s:i,s:i,s:i,s:i,s:s,s:o,s:i,s:o,s:i}", "schedule", sched, "days",
		      days, "keep_daily", p->keep_daily, "keep_weekly", p->keep_weekly,
		      "keep_monthly", p->keep_monthly, "keep_yearly", p->keep_yearly, "weekly_day",
		      day_names[p->weekly_day], "monthly_day",
		      p->monthly_day ? json_integer(p->monthly_day) : json_string("last"),
		      "yearly_month", p->yearly_month, "yearly_day",
		      p->yearly_day ? json_integer(p->yearly_day) : json_string("last"),
		      "max_points", policy_max_points(p));
	if (o && p->selection)
		json_object_update(o, p->selection);
	if (o && p->verify_every_days)
		json_object_set_new(o, "verify", json_pack("{s:i,s:i}", "every_days",
							   p->verify_every_days, "sample",
							   p->verify_sample));
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

int64_t policy_last_slot(const struct policy *p, int64_t t)
{
	int64_t day0 = t - ((t % 86400) + 86400) % 86400;

	for (int d = 0; d < 8; d++) {
		int64_t day = day0 - (int64_t)d * 86400;
		int wd = (int)((((day / 86400) + 3) % 7 + 7) % 7); /* Monday = 0 */

		if (!(p->days & (1u << wd)))
			continue;
		for (int k = p->times - 1; k >= 0; k--)
			if (day + p->minutes[k] * 60 <= t)
				return day + p->minutes[k] * 60;
	}
	return -1;
}
