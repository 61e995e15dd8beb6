/* test_staging.c: per-machine bounds on uploads in flight: the count, the
 * bytes (resumable uploads on disk included), machines apart, every
 * reservation given back, a full table refusing instead of growing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "staging.h"

static void test_uploads_in_flight_are_counted_per_machine(void **state)
{
	struct staging *st = staging_new(8, 4, 1000, NULL);
	struct err e;
	int n;
	uint64_t b;

	(void)state;
	assert_non_null(st);
	for (int i = 0; i < 4; i++)
		assert_int_equal(staging_reserve(st, "a", 10, 0, &e), 0);
	assert_int_equal(staging_reserve(st, "a", 10, 0, &e), -1);
	assert_int_equal(e.code, ERR_LIMIT);
	assert_non_null(strstr(e.msg, "4 uploads in flight"));
	/* Another machine is not held back by the first. */
	assert_int_equal(staging_reserve(st, "b", 10, 0, &e), 0);
	staging_usage(st, "a", &n, &b);
	assert_int_equal(n, 4);
	assert_int_equal(b, 40);
	/* One ends: one more may start. */
	staging_release(st, "a", 10);
	assert_int_equal(staging_reserve(st, "a", 10, 0, &e), 0);
	for (int i = 0; i < 4; i++)
		staging_release(st, "a", 10);
	staging_release(st, "b", 10);
	staging_usage(st, "a", &n, &b);
	assert_int_equal(n, 0);
	assert_int_equal(b, 0);
	/* Releasing what was never reserved changes nothing. */
	staging_release(st, "a", 10);
	staging_release(st, "nobody", 10);
	staging_usage(st, "a", &n, &b);
	assert_int_equal(n, 0);
	staging_free(st);
}

static void test_staged_bytes_are_bounded(void **state)
{
	struct staging *st = staging_new(8, 4, 1000, NULL);
	struct err e;
	int n;
	uint64_t b;

	(void)state;
	assert_int_equal(staging_reserve(st, "a", 600, 0, &e), 0);
	assert_int_equal(staging_reserve(st, "a", 401, 0, &e), -1);
	assert_int_equal(e.code, ERR_LIMIT);
	assert_non_null(strstr(e.msg, "1000 bytes"));
	assert_int_equal(staging_reserve(st, "a", 400, 0, &e), 0);
	staging_release(st, "a", 400);
	/* What resumable uploads hold on disk counts too. */
	assert_int_equal(staging_reserve(st, "a", 300, 101, &e), -1);
	assert_int_equal(staging_reserve(st, "a", 300, 100, &e), 0);
	staging_release(st, "a", 300);
	/* Lengths from outside cannot wrap the sum. */
	assert_int_equal(staging_reserve(st, "a", UINT64_MAX, 0, &e), -1);
	assert_int_equal(staging_reserve(st, "a", 1, UINT64_MAX, &e), -1);
	assert_int_equal(staging_reserve(st, "b", 1000, 0, &e), 0);
	staging_release(st, "a", 600);
	staging_release(st, "b", 1000);
	staging_usage(st, "a", &n, &b);
	assert_int_equal(n + (int)b, 0);
	staging_free(st);
}

static void test_full_table_refuses(void **state)
{
	struct staging *st = staging_new(2, 4, 1000, NULL);
	struct err e;

	(void)state;
	assert_int_equal(staging_reserve(st, "a", 1, 0, &e), 0);
	assert_int_equal(staging_reserve(st, "b", 1, 0, &e), 0);
	assert_int_equal(staging_reserve(st, "c", 1, 0, &e), -1);
	assert_int_equal(e.code, ERR_LIMIT);
	/* A machine already in the table may still add an upload. */
	assert_int_equal(staging_reserve(st, "a", 1, 0, &e), 0);
	staging_release(st, "b", 1);
	assert_int_equal(staging_reserve(st, "c", 1, 0, &e), 0);
	assert_int_equal(staging_reserve(st, "", 1, 0, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	staging_free(st);
	staging_free(NULL);
	assert_null(staging_new(0, 4, 1000, &e));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uploads_in_flight_are_counted_per_machine),
		cmocka_unit_test(test_staged_bytes_are_bounded),
		cmocka_unit_test(test_full_table_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
