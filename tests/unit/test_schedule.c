/*
 * test_schedule.c: the policy's schedule: next times across days, weeks and
 * the epoch, and damaged policies refused by field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "schedule.h"

static int parse(const char *text, struct schedule *s, struct err *e)
{
	json_t *j = json_loads(text, 0, NULL);
	int rc = schedule_parse(j, s, e);

	json_decref(j);
	return rc;
}

static void bad(const char *text, const char *msg)
{
	struct schedule s;
	struct err e;

	assert_int_equal(parse(text, &s, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_string_equal(e.msg, msg);
}

/* 2026-11-23 is a Monday. */
#define MON 1795392000ll

static void test_next(void **state)
{
	(void)state;
	struct schedule s;

	/* Times out of order: the earliest one after T comes first. */
	assert_int_equal(parse("{\"schedule\": [\"18:00\", \"06:30\"]}", &s, NULL), 0);
	assert_int_equal(s.days, 0x7f);
	assert_int_equal(schedule_next(&s, MON + 5 * 3600), MON + 6 * 3600 + 1800);
	assert_int_equal(schedule_next(&s, MON + 6 * 3600 + 1800), MON + 18 * 3600);
	assert_int_equal(schedule_next(&s, MON + 18 * 3600), MON + 86400 + 6 * 3600 + 1800);
	/* Only Sundays: from a Monday, six days later. */
	assert_int_equal(parse("{\"schedule\": [\"00:00\"], \"days\": [\"sun\"]}", &s, NULL), 0);
	assert_int_equal(schedule_next(&s, MON), MON + 6 * 86400);
	assert_int_equal(schedule_next(&s, MON + 6 * 86400), MON + 13 * 86400);
	/* Before the epoch (a clock set wrong): still a time after T. */
	assert_int_equal(parse("{\"schedule\": [\"23:59\"], \"days\": [\"thu\"]}", &s, NULL), 0);
	assert_int_equal(schedule_next(&s, -86400 * 3), 23 * 3600 + 59 * 60); /* Thu 1970-01-01 */
}

static void test_damaged(void **state)
{
	(void)state;
	struct schedule s;

	assert_int_equal(schedule_parse(NULL, &s, NULL), -1);
	bad("[]", "the policy is not a JSON object");
	bad("{}", "the policy's \"schedule\" is not a list of times");
	bad("{\"schedule\": []}", "the policy's \"schedule\" is not a list of times");
	bad("{\"schedule\": \"09:00\"}", "the policy's \"schedule\" is not a list of times");
	bad("{\"schedule\": [\"01:00\", \"02:00\", \"03:00\", \"04:00\"]}",
	    "the policy's \"schedule\" has 4 times, more than 3");
	bad("{\"schedule\": [\"24:00\"]}", "the policy's time 1 is not HH:MM within 00:00 to 23:59");
	bad("{\"schedule\": [\"09:00\", \"9:00\"]}",
	    "the policy's time 2 is not HH:MM within 00:00 to 23:59");
	bad("{\"schedule\": [\"2147483647:00\"]}",
	    "the policy's time 1 is not HH:MM within 00:00 to 23:59");
	bad("{\"schedule\": [\"-1:-5\"]}", "the policy's time 1 is not HH:MM within 00:00 to 23:59");
	bad("{\"schedule\": [900]}", "the policy's time 1 is not HH:MM within 00:00 to 23:59");
	bad("{\"schedule\": [\"09:00\"], \"days\": \"mon\"}",
	    "the policy's \"days\" is not a list of days");
	bad("{\"schedule\": [\"09:00\"], \"days\": [\"mon\", \"Tue\"]}",
	    "the policy's day 2 is not one of mon, tue, wed, thu, fri, sat, sun");
}

static void test_verify(void **state)
{
	(void)state;
	static const char *const v[] = {
		"1", "[]", "{}", "{\"every_days\": 7}", "{\"sample\": 5}",
		"{\"every_days\": 0, \"sample\": 5}", "{\"every_days\": 366, \"sample\": 5}",
		"{\"every_days\": 7, \"sample\": 0}", "{\"every_days\": 7, \"sample\": 101}",
		"{\"every_days\": \"7\", \"sample\": 5}", "{\"every_days\": 7, \"sample\": 5.5}",
	};
	struct schedule s;
	char text[160];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(text, sizeof(text), "{\"schedule\": [\"09:00\"], \"verify\": %s}", v[i]);
		bad(text, "the policy's \"verify\" is not {\"every_days\": 1 to 365, \"sample\": 1 to "
		    "100}");
	}
	assert_int_equal(parse("{\"schedule\": [\"09:00\"], \"verify\": {\"every_days\": 7, "
			       "\"sample\": 5}}", &s, NULL), 0);
	assert_int_equal(s.verify_days, 7);
	assert_int_equal(s.verify_sample, 5);
	assert_int_equal(parse("{\"schedule\": [\"09:00\"], \"verify\": null}", &s, NULL), 0);
	assert_int_equal(s.verify_days, 0);
	assert_int_equal(parse("{\"schedule\": [\"09:00\"]}", &s, NULL), 0);
	assert_int_equal(s.verify_days, 0);
	assert_int_equal(parse("{\"schedule\": [\"09:00\"], \"verify\": {\"every_days\": 365, "
			       "\"sample\": 100}}", &s, NULL), 0);
	assert_int_equal(s.verify_sample, 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next),
		cmocka_unit_test(test_damaged),
		cmocka_unit_test(test_verify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
