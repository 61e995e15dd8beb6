/* test_http.c: the HTTP module's parsing of what clients send: the Range
 * header, well formed or not, against resources of several sizes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "http.h"

static void expect_range(const char *v, uint64_t size, uint64_t first, uint64_t last)
{
	uint64_t a = 7, b = 7;

	if (http_range_parse(v, size, &a, &b) != 0)
		fail_msg("%s against %llu: refused", v, (unsigned long long)size);
	assert_int_equal(a, first);
	assert_int_equal(b, last);
}

static void test_good_ranges(void **state)
{
	(void)state;
	expect_range("bytes=0-0", 10, 0, 0);            /* first byte */
	expect_range("bytes=9-9", 10, 9, 9);            /* last byte */
	expect_range("bytes=0-", 10, 0, 9);             /* open-ended */
	expect_range("bytes=3-", 10, 3, 9);
	expect_range("bytes=2-5", 10, 2, 5);
	expect_range("bytes=4-1000", 10, 4, 9);         /* past the end: cut */
	expect_range("bytes=0-18446744073709551615", 10, 0, 9);
	expect_range("bytes=0009-0009", 10, 9, 9);      /* leading zeros are digits */
}

static void test_malformed_ranges_are_refused(void **state)
{
	static const char *bad[] = {
		"", "bytes", "bytes=", "bytes=-", "bytes=-5", "bytes=a-5", "bytes=5", "bytes=5-a",
		"bytes=5-6-", "bytes=5-6,8-9", "bytes= 5-6", "bytes=5 -6", "bytes=5- 6",
		"bytes=+5-6", "bytes=5-+6", "bytes=5--6", "Bytes=5-6", "items=5-6", "bytes=5-6 ",
		"bytes=18446744073709551616-", "bytes=0-18446744073709551616",
		"bytes=99999999999999999999999-",
	};
	uint64_t a = 7, b = 7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (http_range_parse(bad[i], 10, &a, &b) != -1)
			fail_msg("\"%s\" was taken", bad[i]);
	assert_int_equal(http_range_parse(NULL, 10, &a, &b), -1);
	assert_int_equal(a, 7); /* untouched when refused */
	assert_int_equal(b, 7);
}

static void test_unsatisfiable_ranges(void **state)
{
	uint64_t a, b;

	(void)state;
	assert_int_equal(http_range_parse("bytes=10-", 10, &a, &b), 1);   /* at the end */
	assert_int_equal(http_range_parse("bytes=11-20", 10, &a, &b), 1); /* beyond */
	assert_int_equal(http_range_parse("bytes=5-4", 10, &a, &b), 1);   /* backwards */
	assert_int_equal(http_range_parse("bytes=0-0", 0, &a, &b), 1);    /* empty resource */
	assert_int_equal(http_range_parse("bytes=18446744073709551615-", 10, &a, &b), 1);
}

/* Content-Length: plain decimal only, never a sign, a space or an
 * overflow taken for a smaller length. */
static void test_content_length(void **state)
{
	static const char *const bad[] = { "", "-1", "+5", " 5", "5 ", "0x10", "1e3",
					   "18446744073709551616", "99999999999999999999" };
	uint64_t n;

	(void)state;
	assert_int_equal(http_length(NULL, &n), 0);
	assert_true(n == 0);
	assert_int_equal(http_length("0", &n), 0);
	assert_true(n == 0);
	assert_int_equal(http_length("4294967296", &n), 0);
	assert_true(n == 4294967296ULL);
	assert_int_equal(http_length("18446744073709551615", &n), 0);
	assert_true(n == UINT64_MAX);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(http_length(bad[i], &n), -1);
		assert_true(n == 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_ranges),
		cmocka_unit_test(test_malformed_ranges_are_refused),
		cmocka_unit_test(test_unsatisfiable_ranges),
		cmocka_unit_test(test_content_length),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
