/* retention.c: retention decisions; see retention.h. */
#include "retention.h"

#include <stdlib.h>
#include <time.h>

#define DAY 86400

static int64_t day_of(int64_t t)
{
	return t >= 0 ? t / DAY : -((-t + DAY - 1) / DAY);
}

/* 0 = Monday .. 6 = Sunday; day 0 (1970-01-01) was a Thursday. */
static int weekday(int64_t d)
{
	return (int)(((d + 3) % 7 + 7) % 7);
}

static void civil(int64_t d, int *y, int *m, int *md, int *last)
{
	time_t t = (time_t)(d * DAY);
	struct tm tm;
	static const int len[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	gmtime_r(&t, &tm);
	*y = tm.tm_year + 1900;
	*m = tm.tm_mon + 1;
	*md = tm.tm_mday;
	*last = len[tm.tm_mon] + (tm.tm_mon == 1 && ((*y % 4 == 0 && *y % 100 != 0) || *y % 400 == 0));
}

/* Whether day D is the anchor day DAY_ (0 = last day of its month). */
static int is_day(int md, int last, int day)
{
	return day ? md == day : md == last;
}

void retention_decide(const struct policy *p, int64_t now, const int64_t *created, size_t n,
		      unsigned *why)
{
	int64_t today = day_of(now);
	int ty, tm, tmd, tlast;
	int64_t last_week_day;
	int last_month, last_year; /* month index and year of the latest anchors */

	civil(today, &ty, &tm, &tmd, &tlast);
	/* The latest occurrence of each anchor up to today. */
	last_week_day = today - (weekday(today) - p->weekly_day + 7) % 7;
	last_month = ty * 12 + (tm - 1);
	if (p->monthly_day ? tmd < p->monthly_day : tmd < tlast)
		last_month--;
	last_year = ty;
	if (tm < p->yearly_month ||
	    (tm == p->yearly_month && (p->yearly_day ? tmd < p->yearly_day : tmd < tlast)))
		last_year--;

	for (size_t i = 0; i < n; i++) {
		int64_t d = day_of(created[i]);
		int y, m, md, last;
		/* The last point of its day: the next one is on a later day. */
		int last_of_day = i + 1 == n || day_of(created[i + 1]) != d;

		why[i] = 0;
		civil(d, &y, &m, &md, &last);
		if (p->keep_daily && today - d < p->keep_daily)
			why[i] |= KEEP_DAILY;
		if (p->keep_weekly && last_of_day && weekday(d) == p->weekly_day && d <= today &&
		    last_week_day - d < 7 * (int64_t)p->keep_weekly)
			why[i] |= KEEP_WEEKLY;
		if (p->keep_monthly && last_of_day && is_day(md, last, p->monthly_day) && d <= today &&
		    last_month - (y * 12 + m - 1) < p->keep_monthly)
			why[i] |= KEEP_MONTHLY;
		if (p->keep_yearly && last_of_day && m == p->yearly_month &&
		    is_day(md, last, p->yearly_day) && d <= today && last_year - y < p->keep_yearly)
			why[i] |= KEEP_YEARLY;
	}
	if (n > 0)
		why[n - 1] |= KEEP_LAST;
}

/* 00:00 UTC of day MD (0: the last) of month M (1..12) of year Y. */
static int64_t anchor_time(int y, int m, int md)
{
	static const int len[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	struct tm tm = { 0 };

	if (md == 0)
		md = len[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = md;
	return (int64_t)timegm(&tm);
}

int retention_until(const struct policy *p, int64_t now, const int64_t *created, size_t n,
		    int64_t *until)
{
	int64_t today = day_of(now);
	unsigned *why;

	if (n == 0)
		return 0;
	if ((why = calloc(n, sizeof(*why))) == NULL)
		return -1;
	retention_decide(p, now, created, n, why);
	for (size_t i = 0; i < n; i++) {
		int64_t d = day_of(created[i]), u = created[i], t;
		int y, m, md, last;

		civil(d, &y, &m, &md, &last);
		if ((why[i] & KEEP_DAILY) && (t = (d + p->keep_daily) * DAY) > u)
			u = t;
		/* The anchors count once the day is over: till then a later
		 * point of the same day would be the day's last. */
		if (d < today) {
			if ((why[i] & KEEP_WEEKLY) && (t = (d + 7 * (int64_t)p->keep_weekly) * DAY) > u)
				u = t;
			if (why[i] & KEEP_MONTHLY) {
				int mi = y * 12 + (m - 1) + p->keep_monthly;

				if ((t = anchor_time(mi / 12, mi % 12 + 1, p->monthly_day)) > u)
					u = t;
			}
			if ((why[i] & KEEP_YEARLY) &&
			    (t = anchor_time(y + p->keep_yearly, p->yearly_month, p->yearly_day)) > u)
				u = t;
		}
		/* Kept only as the newest: for as long as it is the newest,
		 * which no time bounds, so the certain part is NOW alone. */
		if ((why[i] & KEEP_LAST) && u < now)
			u = now;
		until[i] = why[i] ? u : (created[i] < now ? created[i] : now - 1);
	}
	free(why);
	return 0;
}

int retention_shortens(const struct policy *old, const struct policy *new_, int64_t now,
		       const int64_t *created, size_t n)
{
	unsigned *before, *after;
	int rc = 0;

	if (old && policy_shortens(old, new_))
		return 1;
	if (n == 0)
		return 0;
	if ((before = calloc(n, sizeof(*before))) == NULL ||
	    (after = calloc(n, sizeof(*after))) == NULL) {
		free(before);
		return -1;
	}
	/* Why the points too: no policy keeps every point, so a first policy
	 * shortens exactly when it would remove one that exists. */
	if (old)
		retention_decide(old, now, created, n, before);
	else
		for (size_t i = 0; i < n; i++)
			before[i] = KEEP_LAST;
	retention_decide(new_, now, created, n, after);
	for (size_t i = 0; i < n && !rc; i++)
		rc = before[i] && !after[i];
	free(before);
	free(after);
	return rc;
}
