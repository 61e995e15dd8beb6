/* test_policy.c: backup policies: schedule, weekdays, retention floors, the
 * 3-a-day and 366-point limits, canonical output and shortening. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy.h"

static int parse(const char *text, struct policy *p, struct err *e)
{
	json_t *j = json_loads(text, 0, NULL);
	int rc = policy_parse(j, p, e);

	json_decref(j);
	return rc;
}

static void test_good_and_canonical(void **state)
{
	(void)state;
	struct policy p;
	char *s;

	assert_int_equal(parse("{\"schedule\":[\"21:00\",\"06:05\"],\"days\":[\"sun\",\"mon\"],"
			       "\"keep_daily\":14,\"keep_yearly\":1}", &p, NULL), 0);
	assert_int_equal(p.times, 2);
	assert_int_equal(p.minutes[0], 6 * 60 + 5);
	assert_int_equal(p.days, 0x41);
	/* 14 days on 2 weekdays: 4 days with backups, 2 a day, plus 1 yearly. */
	assert_int_equal(policy_max_points(&p), 9);
	s = policy_json(&p);
	assert_string_equal(s, "{\"schedule\":[\"06:05\",\"21:00\"],\"days\":[\"mon\",\"sun\"],"
			    "\"keep_daily\":14,\"keep_weekly\":0,\"keep_monthly\":0,\"keep_yearly\":1,"
			    "\"weekly_day\":\"sun\",\"monthly_day\":1,\"yearly_month\":1,"
			    "\"yearly_day\":1,\"max_points\":9}");
	free(s);
}

static void test_refusals(void **state)
{
	(void)state;
	struct {
		const char *text;
		enum err_code code;
		const char *word;
	} bad[] = {
		{ "[]", ERR_INVALID, "JSON object" },
		{ "{\"keep_daily\":7}", ERR_INVALID, "schedule" },
		{ "{\"schedule\":[],\"keep_daily\":7}", ERR_INVALID, "schedule" },
		{ "{\"schedule\":[\"1:00\",\"2:00\",\"03:00\",\"04:00\"],\"keep_daily\":7}", ERR_LIMIT, "at most 3 times a day" },
		{ "{\"schedule\":[\"24:00\"],\"keep_daily\":7}", ERR_INVALID, "HH:MM" },
		{ "{\"schedule\":[\"12:60\"],\"keep_daily\":7}", ERR_INVALID, "HH:MM" },
		{ "{\"schedule\":[\"12:00x\"],\"keep_daily\":7}", ERR_INVALID, "HH:MM" },
		{ "{\"schedule\":[\"12:00\",\"12:00\"],\"keep_daily\":7}", ERR_INVALID, "twice" },
		{ "{\"schedule\":[\"12:00\"],\"days\":[],\"keep_daily\":7}", ERR_INVALID, "days" },
		{ "{\"schedule\":[\"12:00\"],\"days\":[\"funday\"],\"keep_daily\":7}", ERR_INVALID, "mon" },
		{ "{\"schedule\":[\"12:00\"],\"keep_daily\":6}", ERR_INVALID, "below 7" },
		{ "{\"schedule\":[\"12:00\"],\"keep_weekly\":3}", ERR_INVALID, "below 4" },
		{ "{\"schedule\":[\"12:00\"],\"keep_monthly\":2}", ERR_INVALID, "below 3" },
		{ "{\"schedule\":[\"12:00\"],\"keep_daily\":-1}", ERR_INVALID, "whole number" },
		{ "{\"schedule\":[\"12:00\"],\"keep_daily\":\"7\"}", ERR_INVALID, "whole number" },
		{ "{\"schedule\":[\"12:00\"]}", ERR_INVALID, "at least one kind" },
		{ "{\"schedule\":[\"01:00\",\"02:00\",\"03:00\"],\"keep_daily\":123}", ERR_LIMIT, "at most 366" },
		{ "{\"schedule\":[\"01:00\"],\"keep_daily\":300,\"keep_weekly\":67}", ERR_LIMIT, "could keep 367" },
	};
	struct policy p;
	struct err e;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear(&e);
		assert_int_equal(parse(bad[i].text, &p, &e), -1);
		assert_int_equal(e.code, bad[i].code);
		assert_non_null(strstr(e.msg, bad[i].word));
	}
	/* Exactly 366 is fine. */
	assert_int_equal(parse("{\"schedule\":[\"01:00\"],\"keep_daily\":300,\"keep_weekly\":66}", &p, &e), 0);
	assert_int_equal(policy_max_points(&p), 366);
}

static void test_scheduled_verify(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"\"verify\":1", "\"verify\":{}", "\"verify\":{\"every_days\":7}",
		"\"verify\":{\"sample\":5}", "\"verify\":{\"every_days\":0,\"sample\":5}",
		"\"verify\":{\"every_days\":366,\"sample\":5}",
		"\"verify\":{\"every_days\":7,\"sample\":0}",
		"\"verify\":{\"every_days\":7,\"sample\":101}",
		"\"verify\":{\"every_days\":7,\"sample\":\"5\"}",
		"\"verify\":{\"every_days\":7.5,\"sample\":5}",
		"\"verify\":{\"every_days\":7,\"sample\":5,\"at\":\"mon\"}",
	};
	struct policy p;
	struct err e;
	char text[256], *s;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "{\"schedule\":[\"12:00\"],\"keep_daily\":7,%s}", bad[i]);
		err_clear(&e);
		assert_int_equal(parse(text, &p, &e), -1);
		assert_int_equal(e.code, ERR_INVALID);
		assert_non_null(strstr(e.msg, "verify"));
	}
	assert_int_equal(parse("{\"schedule\":[\"12:00\"],\"keep_daily\":7,\"verify\":"
			       "{\"sample\":5,\"every_days\":7}}", &p, &e), 0);
	assert_int_equal(p.verify_every_days, 7);
	assert_int_equal(p.verify_sample, 5);
	s = policy_json(&p);
	assert_non_null(strstr(s, "\"verify\":{\"every_days\":7,\"sample\":5}"));
	free(s);
	policy_clear(&p);
	/* Null or absent: none, and none in the canonical form. */
	assert_int_equal(parse("{\"schedule\":[\"12:00\"],\"keep_daily\":7,\"verify\":null}",
			       &p, &e), 0);
	assert_int_equal(p.verify_every_days, 0);
	s = policy_json(&p);
	assert_null(strstr(s, "verify"));
	free(s);
	/* The limits are inclusive. */
	assert_int_equal(parse("{\"schedule\":[\"12:00\"],\"keep_daily\":7,\"verify\":"
			       "{\"every_days\":365,\"sample\":100}}", &p, &e), 0);
	assert_int_equal(parse("{\"schedule\":[\"12:00\"],\"keep_daily\":7,\"verify\":"
			       "{\"every_days\":1,\"sample\":1}}", &p, &e), 0);
}

static void test_shortens(void **state)
{
	(void)state;
	struct policy a, b;

	assert_int_equal(parse("{\"schedule\":[\"01:00\"],\"keep_daily\":30,\"keep_weekly\":8}", &a, NULL), 0);
	assert_int_equal(parse("{\"schedule\":[\"01:00\",\"13:00\"],\"keep_daily\":30,\"keep_weekly\":9}", &b, NULL), 0);
	assert_false(policy_shortens(&a, &b));
	assert_true(policy_shortens(&b, &a));
	assert_int_equal(parse("{\"schedule\":[\"01:00\"],\"keep_daily\":30}", &b, NULL), 0);
	assert_true(policy_shortens(&a, &b)); /* dropping weekly points shortens */
}

/* Moving the anchor day of a kind the old policy keeps shortens: the
 * points of the old day stop being that kind's. Of a kind it does not
 * keep, it does not. */
static void test_moved_anchors_shorten(void **state)
{
	(void)state;
	static const struct {
		const char *old, *new_;
		bool shortens;
	} cases[] = {
		{ "\"keep_weekly\":4", "\"keep_weekly\":4,\"weekly_day\":\"sat\"", true },
		{ "\"keep_weekly\":4,\"weekly_day\":\"sun\"", "\"keep_weekly\":4", false },
		{ "\"keep_monthly\":3", "\"keep_monthly\":3,\"monthly_day\":\"last\"", true },
		{ "\"keep_monthly\":3,\"monthly_day\":\"last\"", "\"keep_monthly\":6,\"monthly_day\":28", true },
		{ "\"keep_yearly\":1", "\"keep_yearly\":1,\"yearly_month\":12", true },
		{ "\"keep_yearly\":1", "\"keep_yearly\":2,\"yearly_day\":\"last\"", true },
		{ "\"keep_yearly\":1", "\"keep_yearly\":3", false },
		/* Kinds the old policy does not keep have nothing to lose. */
		{ "\"keep_daily\":7", "\"keep_daily\":7,\"keep_weekly\":4,\"weekly_day\":\"mon\","
		  "\"keep_monthly\":3,\"monthly_day\":9,\"keep_yearly\":1,\"yearly_month\":5", false },
		{ "\"keep_daily\":7,\"weekly_day\":\"mon\",\"monthly_day\":9",
		  "\"keep_daily\":7,\"weekly_day\":\"tue\",\"monthly_day\":10", false },
	};
	struct policy a, b;
	char text[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "{\"schedule\":[\"01:00\"],%s}", cases[i].old);
		assert_int_equal(parse(text, &a, NULL), 0);
		snprintf(text, sizeof(text), "{\"schedule\":[\"01:00\"],%s}", cases[i].new_);
		assert_int_equal(parse(text, &b, NULL), 0);
		if (policy_shortens(&a, &b) != cases[i].shortens)
			fail_msg("case %zu: %s -> %s", i, cases[i].old, cases[i].new_);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_and_canonical),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_scheduled_verify),
		cmocka_unit_test(test_shortens),
		cmocka_unit_test(test_moved_anchors_shorten),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
