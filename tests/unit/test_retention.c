/*
 * test_retention.c: retention decisions, table-driven. For each policy a
 * simulated run of scheduled backups (one to five years) applies
 * retention_decide after every commit, as the service does (raising each
 * point's retain-until time with retention_until first, and checking that
 * no point is removed before it), and removes what
 * it does not keep. At checkpoints the points left must be exactly those an
 * independent oracle names: the oracle walks back over calendar windows
 * (days, anchor weekdays, months, years) with timegm, where the code under
 * test classifies each point; never more than 366 points.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "policy.h"
#include "retention.h"

#define DAY 86400

struct set {
	int64_t *v;
	size_t n, cap;
};

static void push(struct set *s, int64_t t)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		assert_non_null(s->v);
	}
	s->v[s->n++] = t;
}

static int has(const struct set *s, int64_t t)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == t)
			return 1;
	return 0;
}

/* The last point of all created on the UTC date starting at DAY0, if any. */
static void last_on(const struct set *all, int64_t day0, int64_t now, struct set *out)
{
	int64_t best = -1;

	for (size_t i = 0; i < all->n; i++)
		if (all->v[i] >= day0 && all->v[i] < day0 + DAY && all->v[i] <= now)
			best = all->v[i];
	if (best >= 0 && !has(out, best))
		push(out, best);
}

static int64_t date(int y, int m, int d) /* d = 0: the last day of month m */
{
	struct tm tm = { 0 };

	if (d == 0) {
		tm.tm_year = y - 1900 + (m == 12);
		tm.tm_mon = m % 12;
		tm.tm_mday = 0; /* the day before the 1st of the next month */
	} else {
		tm.tm_year = y - 1900;
		tm.tm_mon = m - 1;
		tm.tm_mday = d;
	}
	return (int64_t)timegm(&tm);
}

/* What the policy keeps at NOW of the points ALL ever created. */
static void oracle(const struct policy *p, const struct set *all, int64_t now, struct set *out)
{
	time_t tn = (time_t)now;
	struct tm t;
	int64_t today;

	gmtime_r(&tn, &t);
	today = date(t.tm_year + 1900, t.tm_mon + 1, t.tm_mday);
	for (int k = 0; k < p->keep_daily; k++)
		for (size_t i = 0; i < all->n; i++)
			if (all->v[i] >= today - (int64_t)k * DAY && all->v[i] < today - (int64_t)k * DAY + DAY &&
			    !has(out, all->v[i]))
				push(out, all->v[i]);
	if (p->keep_weekly) {
		int64_t d = today;
		int wd = (t.tm_wday + 6) % 7; /* Monday = 0 */

		d -= (int64_t)((wd - p->weekly_day + 7) % 7) * DAY;
		for (int k = 0; k < p->keep_weekly; k++)
			last_on(all, d - (int64_t)k * 7 * DAY, now, out);
	}
	if (p->keep_monthly) {
		int y = t.tm_year + 1900, m = t.tm_mon + 1;

		if (date(y, m, p->monthly_day) > today)
			m--;
		for (int k = 0; k < p->keep_monthly; k++, m--) {
			while (m < 1)
				m += 12, y--;
			last_on(all, date(y, m, p->monthly_day), now, out);
		}
	}
	if (p->keep_yearly) {
		int y = t.tm_year + 1900;

		if (date(y, p->yearly_month, p->yearly_day) > today)
			y--;
		for (int k = 0; k < p->keep_yearly; k++)
			last_on(all, date(y - k, p->yearly_month, p->yearly_day), now, out);
	}
	if (all->n && !has(out, all->v[all->n - 1]))
		push(out, all->v[all->n - 1]);
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

struct run_case {
	const char *policy;
	int years;
};

static void simulate(const struct run_case *rc, size_t *checks, size_t *points_made)
{
	json_t *j = json_loads(rc->policy, 0, NULL);
	struct policy p;
	struct err e;
	struct set live = { 0 }, all = { 0 };
	int64_t start = date(2023, 1, 1) + 7 * 3600 + 17; /* a leap year comes along */
	unsigned *why = NULL;
	int64_t *held = NULL, *until = NULL; /* each live point's retain-until time */
	size_t peak = 0;

	assert_non_null(j);
	assert_int_equal(policy_parse(j, &p, &e), 0);
	for (int64_t d = 0; d < 366 * rc->years; d++) {
		int64_t day0 = start - start % DAY + d * DAY;
		time_t tt = (time_t)day0;
		struct tm tm;

		gmtime_r(&tt, &tm);
		if (!(p.days & (1u << ((tm.tm_wday + 6) % 7))))
			continue;
		for (int k = 0; k < p.times; k++) {
			int64_t t = day0 + p.minutes[k] * 60 + 7; /* commits land seconds later */
			size_t w = 0;

			push(&live, t);
			push(&all, t);
			(*points_made)++;
			why = realloc(why, live.n * sizeof(*why));
			held = realloc(held, live.n * sizeof(*held));
			until = realloc(until, live.n * sizeof(*until));
			held[live.n - 1] = 0;
			/* As the service does: raise every point's time, then
			 * remove; no point may go before its time. */
			assert_int_equal(retention_until(&p, t, live.v, live.n, until), 0);
			retention_decide(&p, t, live.v, live.n, why);
			for (size_t i = 0; i < live.n; i++) {
				if (until[i] > held[i])
					held[i] = until[i];
				if (why[i]) {
					assert_true(held[i] >= t);
					held[w] = held[i];
					live.v[w++] = live.v[i];
				} else if (held[i] > t) {
					fprintf(stderr, "policy %s: a point of %lld removed at %lld, "
						"retained until %lld\n", rc->policy,
						(long long)live.v[i], (long long)t, (long long)held[i]);
					fail();
				}
			}
			live.n = w;
			if (live.n > peak)
				peak = live.n;
			assert_true(live.n <= 366);
			assert_true((int)live.n <= policy_max_points(&p) + 1);
			if ((d % 37 == 5 && k == p.times - 1) || d == 366 * rc->years - 1) {
				struct set want = { 0 };

				oracle(&p, &all, t, &want);
				qsort(want.v, want.n, sizeof(int64_t), cmp64);
				if (want.n != live.n || memcmp(want.v, live.v, live.n * sizeof(int64_t))) {
					fprintf(stderr, "policy %s, day %lld: kept %zu, oracle %zu\n",
						rc->policy, (long long)d, live.n, want.n);
					fail();
				}
				(*checks)++;
				free(want.v);
			}
		}
	}
	print_message("# %s over %d years: at most %zu points kept\n", rc->policy, rc->years, peak);
	policy_clear(&p);
	json_decref(j);
	free(why);
	free(held);
	free(until);
	free(live.v);
	free(all.v);
}

static void test_simulated_years(void **state)
{
	(void)state;
	static const struct run_case cases[] = {
		{ "{\"schedule\":[\"02:00\"],\"keep_daily\":7}", 2 },
		{ "{\"schedule\":[\"09:30\",\"21:00\"],\"days\":[\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"],"
		  "\"keep_daily\":14,\"keep_weekly\":8,\"weekly_day\":\"fri\"}", 2 },
		{ "{\"schedule\":[\"01:00\",\"09:00\",\"17:00\"],\"keep_daily\":30,\"keep_weekly\":12,"
		  "\"weekly_day\":\"mon\",\"keep_monthly\":12,\"keep_yearly\":2}", 3 },
		{ "{\"schedule\":[\"23:59\"],\"keep_daily\":7,\"keep_weekly\":4,\"keep_monthly\":3,"
		  "\"monthly_day\":\"last\",\"keep_yearly\":1,\"yearly_month\":12,\"yearly_day\":\"last\"}", 3 },
		{ "{\"schedule\":[\"12:00\"],\"keep_daily\":180,\"keep_weekly\":52,\"keep_monthly\":60,"
		  "\"keep_yearly\":10,\"yearly_month\":2,\"yearly_day\":28}", 5 },
		{ "{\"schedule\":[\"00:00\",\"12:00\"],\"days\":[\"sat\",\"sun\"],\"keep_weekly\":26,"
		  "\"weekly_day\":\"sun\",\"keep_monthly\":24,\"monthly_day\":28}", 5 },
		{ "{\"schedule\":[\"06:00\"],\"keep_yearly\":5,\"yearly_month\":3,\"yearly_day\":15}", 5 },
	};
	size_t checks = 0, made = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		simulate(&cases[i], &checks, &made);
	print_message("# %zu scheduled backups simulated, %zu checkpoints compared with the "
		      "oracle\n", made, checks);
}

/* A machine that stopped backing up keeps its last point forever. */
static void test_last_point_is_never_removed(void **state)
{
	(void)state;
	json_t *j = json_loads("{\"schedule\":[\"02:00\"],\"keep_daily\":7}", 0, NULL);
	struct policy p;
	int64_t created[3] = { 1000000, 1000000 + DAY, 1000000 + 2 * DAY };
	unsigned why[3];

	assert_int_equal(policy_parse(j, &p, NULL), 0);
	retention_decide(&p, 1000000 + 4000 * (int64_t)DAY, created, 3, why);
	assert_int_equal(why[0], 0);
	assert_int_equal(why[1], 0);
	assert_int_equal(why[2], KEEP_LAST);
	retention_decide(&p, 0, created, 0, why); /* no points: nothing to do */
	json_decref(j);
}

/* One point can count for several kinds at once. */
static void test_kinds_overlap(void **state)
{
	(void)state;
	json_t *j = json_loads("{\"schedule\":[\"02:00\"],\"keep_daily\":7,\"keep_weekly\":4,"
			       "\"weekly_day\":\"mon\",\"keep_monthly\":3,\"keep_yearly\":1}", 0, NULL);
	struct policy p;
	int64_t t = date(2024, 1, 1) + 2 * 3600; /* a Monday, the 1st of January */
	unsigned why[1];

	assert_int_equal(policy_parse(j, &p, NULL), 0);
	retention_decide(&p, t + 60, &t, 1, why);
	assert_int_equal(why[0], KEEP_DAILY | KEEP_WEEKLY | KEEP_MONTHLY | KEEP_YEARLY | KEEP_LAST);
	json_decref(j);
}

static void test_anchor_rules(void **state)
{
	(void)state;
	static const char *bad[] = {
		"{\"schedule\":[\"02:00\"],\"keep_weekly\":4,\"weekly_day\":\"someday\"}",
		"{\"schedule\":[\"02:00\"],\"keep_monthly\":3,\"monthly_day\":31}",
		"{\"schedule\":[\"02:00\"],\"keep_yearly\":1,\"yearly_month\":13}",
		"{\"schedule\":[\"02:00\"],\"keep_daily\":7,\"paths\":[\"relative/path\"]}",
		"{\"schedule\":[\"02:00\"],\"keep_daily\":7,\"exclude\":[\"\"]}",
	};
	struct policy p;
	struct err e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_loads(bad[i], 0, NULL);

		assert_int_equal(policy_parse(j, &p, &e), -1);
		assert_int_equal(e.code, ERR_INVALID);
		json_decref(j);
	}
	json_t *j = json_loads("{\"schedule\":[\"02:00\"],\"keep_daily\":7,\"paths\":[\"/etc\"],"
			       "\"exclude\":[\"*.tmp\"]}", 0, NULL);
	assert_int_equal(policy_parse(j, &p, &e), 0);
	char *s = policy_json(&p);
	assert_non_null(strstr(s, "\"paths\":[\"/etc\"]"));
	assert_non_null(strstr(s, "\"weekly_day\":\"sun\""));
	free(s);
	policy_clear(&p);
	json_decref(j);
}

static void parse_policy(const char *text, struct policy *p)
{
	json_t *j = json_loads(text, 0, NULL);

	assert_int_equal(policy_parse(j, p, NULL), 0);
	json_decref(j);
}

/* Without a policy nothing expires: a first policy shortens retention
 * exactly when it would remove a point the machine has now. */
static void test_first_policy_shortens(void **state)
{
	(void)state;
	struct policy p;
	int64_t now = date(2024, 3, 20) + 13 * 3600, created[3];

	parse_policy("{\"schedule\":[\"12:00\"],\"keep_daily\":7}", &p);
	assert_int_equal(retention_shortens(NULL, &p, now, NULL, 0), 0);
	created[0] = date(2024, 3, 15) + 12 * 3600;
	created[1] = date(2024, 3, 20) + 12 * 3600;
	assert_int_equal(retention_shortens(NULL, &p, now, created, 2), 0);
	/* An old point alone is the newest: never removed. */
	created[0] = date(2023, 3, 15) + 12 * 3600;
	assert_int_equal(retention_shortens(NULL, &p, now, created, 1), 0);
	/* Beside a newer one, it would go. */
	assert_int_equal(retention_shortens(NULL, &p, now, created, 2), 1);
	/* A yearly point of its day keeps it. */
	parse_policy("{\"schedule\":[\"12:00\"],\"keep_daily\":7,\"keep_yearly\":2,"
		     "\"yearly_month\":3,\"yearly_day\":15}", &p);
	assert_int_equal(retention_shortens(NULL, &p, now, created, 2), 0);
	/* Two points on that day: the yearly point is the day's last one. */
	created[2] = created[1];
	created[1] = created[0] + 60;
	assert_int_equal(retention_shortens(NULL, &p, now, created, 3), 1);
}

/* A change shortens by its counts or anchors whatever the points, and by
 * the points it would remove. */
static void test_change_shortens(void **state)
{
	(void)state;
	struct policy a, b;
	int64_t now = date(2024, 3, 20) + 13 * 3600;
	/* 2024-03-10 is a Sunday: a weekly point of "sun", outside 7 days. */
	int64_t created[2] = { date(2024, 3, 10) + 12 * 3600, date(2024, 3, 20) + 12 * 3600 };

	parse_policy("{\"schedule\":[\"12:00\"],\"keep_daily\":7,\"keep_weekly\":4}", &a);
	parse_policy("{\"schedule\":[\"12:00\",\"18:00\"],\"keep_daily\":14,\"keep_weekly\":4}", &b);
	assert_int_equal(retention_shortens(&a, &b, now, created, 2), 0);
	assert_int_equal(retention_shortens(&b, &a, now, NULL, 0), 1);
	assert_int_equal(retention_shortens(&b, &a, now, created, 2), 1);
	parse_policy("{\"schedule\":[\"12:00\"],\"keep_daily\":7,\"keep_weekly\":4,"
		     "\"weekly_day\":\"mon\"}", &b);
	assert_int_equal(retention_shortens(&a, &b, now, NULL, 0), 1);
	assert_int_equal(retention_shortens(&a, &b, now, created, 2), 1);
}

/* The invariant policy_shortens rests on: a change it lets through keeps,
 * at every time, every point the old policy keeps. */
static void test_unshortened_keeps_a_superset(void **state)
{
	(void)state;
	static const char *const texts[] = {
		"{\"schedule\":[\"12:00\"],\"keep_daily\":7}",
		"{\"schedule\":[\"12:00\"],\"keep_daily\":30}",
		"{\"schedule\":[\"12:00\"],\"keep_daily\":7,\"keep_weekly\":4}",
		"{\"schedule\":[\"12:00\"],\"keep_daily\":7,\"keep_weekly\":8}",
		"{\"schedule\":[\"12:00\"],\"keep_daily\":7,\"keep_weekly\":4,\"weekly_day\":\"wed\"}",
		"{\"schedule\":[\"12:00\"],\"keep_weekly\":4,\"keep_monthly\":3,\"monthly_day\":\"last\"}",
		"{\"schedule\":[\"12:00\"],\"keep_daily\":7,\"keep_monthly\":6,\"monthly_day\":\"last\"}",
		"{\"schedule\":[\"12:00\"],\"keep_monthly\":3,\"keep_yearly\":2}",
		"{\"schedule\":[\"12:00\"],\"keep_monthly\":3,\"keep_yearly\":2,\"yearly_month\":6}",
	};
	enum { N = sizeof(texts) / sizeof(texts[0]), DAYS = 800 };
	static int64_t created[DAYS];
	static unsigned before[DAYS], after[DAYS];
	struct policy p[N];
	size_t pairs = 0;

	for (size_t i = 0; i < N; i++)
		parse_policy(texts[i], &p[i]);
	for (size_t d = 0; d < DAYS; d++)
		created[d] = date(2023, 1, 1) + (int64_t)d * DAY + 12 * 3600;
	for (size_t i = 0; i < N; i++)
		for (size_t k = 0; k < N; k++) {
			if (policy_shortens(&p[i], &p[k]))
				continue;
			pairs++;
			for (size_t now = 0; now < DAYS; now += 13) {
				retention_decide(&p[i], created[now] + 60, created, now + 1, before);
				retention_decide(&p[k], created[now] + 60, created, now + 1, after);
				for (size_t d = 0; d <= now; d++)
					assert_false(before[d] && !after[d]);
			}
		}
	assert_true(pairs > N);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simulated_years),
		cmocka_unit_test(test_last_point_is_never_removed),
		cmocka_unit_test(test_kinds_overlap),
		cmocka_unit_test(test_anchor_rules),
		cmocka_unit_test(test_first_policy_shortens),
		cmocka_unit_test(test_change_shortens),
		cmocka_unit_test(test_unshortened_keeps_a_superset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
