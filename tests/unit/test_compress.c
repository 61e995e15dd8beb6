/* test_compress.c: zstd when it shrinks, raw when it does not, bounded expansion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "compress.h"

static void test_compressible_roundtrip(void **state)
{
	(void)state;
	struct buf z = BUF_INIT, back = BUF_INIT;
	struct err e;
	uint8_t text[100000];
	bool comp;

	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)("a backup that restores "[i % 23]);
	assert_int_equal(compress_try(COMPRESS_LEVEL_DEFAULT, text, sizeof(text), &z, &comp, &e), 0);
	assert_true(comp);
	assert_true(z.len < sizeof(text) / 10);
	assert_int_equal(compress_expand(z.data, z.len, sizeof(text), &back, &e), 0);
	assert_int_equal(back.len, sizeof(text));
	assert_memory_equal(back.data, text, sizeof(text));
	buf_free(&z);
	buf_free(&back);
}

static void test_incompressible_stays_raw(void **state)
{
	(void)state;
	struct buf z = BUF_INIT;
	uint8_t *rnd = malloc(1 << 20);
	bool comp = true;

	randombytes_buf(rnd, 1 << 20);
	assert_int_equal(compress_try(3, rnd, 1 << 20, &z, &comp, NULL), 0);
	assert_false(comp);
	assert_int_equal(z.len, 0);
	/* Level none and empty input never compress. */
	assert_int_equal(compress_try(COMPRESS_LEVEL_NONE, (const uint8_t *)"aaaaaaaaaaaaaaaa", 16, &z, &comp, NULL), 0);
	assert_false(comp);
	assert_int_equal(compress_try(3, rnd, 0, &z, &comp, NULL), 0);
	assert_false(comp);
	assert_int_equal(z.len, 0);
	free(rnd);
	buf_free(&z);
}

static void test_bad_level(void **state)
{
	(void)state;
	struct buf z = BUF_INIT;
	struct err e;
	bool comp;

	assert_int_equal(compress_try(-1, (const uint8_t *)"xx", 2, &z, &comp, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_int_equal(compress_try(99, (const uint8_t *)"xx", 2, &z, &comp, &e), -1);
	assert_non_null(strstr(e.msg, "level 99"));
}

static void test_expand_bounds_and_garbage(void **state)
{
	(void)state;
	struct buf z = BUF_INIT, back = BUF_INIT;
	struct err e;
	uint8_t zeros[50000] = { 0 };
	bool comp;

	assert_int_equal(compress_try(3, zeros, sizeof(zeros), &z, &comp, &e), 0);
	assert_true(comp);
	/* Wrong expected length, both ways: refused, OUT untouched. */
	assert_int_equal(compress_expand(z.data, z.len, sizeof(zeros) - 1, &back, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_int_equal(compress_expand(z.data, z.len, sizeof(zeros) + 1, &back, &e), -1);
	assert_int_equal(back.len, 0);
	/* Truncated frames and trailing bytes. */
	for (size_t n = 0; n < z.len; n++)
		assert_int_equal(compress_expand(z.data, n, sizeof(zeros), &back, &e), -1);
	assert_int_equal(buf_append_u8(&z, 0, NULL), 0);
	assert_int_equal(compress_expand(z.data, z.len, sizeof(zeros), &back, &e), -1);
	assert_int_equal(compress_expand((const uint8_t *)"garbage!", 8, 10, &back, &e), -1);
	assert_non_null(strstr(e.msg, "zstd"));
	assert_int_equal(back.len, 0);
	buf_free(&z);
	buf_free(&back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compressible_roundtrip),
		cmocka_unit_test(test_incompressible_stays_raw),
		cmocka_unit_test(test_bad_level),
		cmocka_unit_test(test_expand_bounds_and_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
