/* test_compress.c: zstd when it shrinks, raw when it does not, bounded expansion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>
#include <zstd.h>

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

/* A frame that does not declare its content size is refused, even when
 * its content has the expected length: ours always declare it. */
static void test_frame_without_size_refused(void **state)
{
	(void)state;
	uint8_t text[4096], frame[8192];
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	struct buf back = BUF_INIT;
	struct err e;
	size_t n;

	memset(text, 'q', sizeof(text));
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0)));
	n = ZSTD_compress2(cc, frame, sizeof(frame), text, sizeof(text));
	ZSTD_freeCCtx(cc);
	assert_false(ZSTD_isError(n));
	assert_true(ZSTD_getFrameContentSize(frame, n) == ZSTD_CONTENTSIZE_UNKNOWN);
	assert_int_equal(compress_expand(frame, n, sizeof(text), &back, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_non_null(strstr(e.msg, "declare"));
	assert_int_equal(back.len, 0);
}

/* A frame declaring a huge size is refused before anything is allocated:
 * the bound is the caller's expected length, not the frame's claim. */
static void test_expand_bound_enforced(void **state)
{
	(void)state;
	struct buf z = BUF_INIT, back = BUF_INIT;
	uint8_t *zeros = calloc(1, 1 << 20);
	struct err e;
	bool comp;

	assert_int_equal(compress_try(3, zeros, 1 << 20, &z, &comp, &e), 0);
	assert_true(comp);
	assert_true(z.len < 1000); /* a bomb: 1 MiB from a few hundred bytes */
	assert_int_equal(compress_expand(z.data, z.len, 4096, &back, &e), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_non_null(strstr(e.msg, "1048576"));
	assert_true(back.cap < 4096 + 1); /* nothing sized by the claim */
	free(zeros);
	buf_free(&z);
	buf_free(&back);
}

/* One context reused across many calls, mixed sizes and both directions,
 * gives the same results as temporary contexts; expansion appends. */
static void test_context_reuse(void **state)
{
	(void)state;
	struct compress_ctx *c = compress_ctx_new(NULL);
	struct buf z = BUF_INIT, back = BUF_INIT;
	uint8_t text[20000];
	bool comp;

	assert_non_null(c);
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)(i / 100);
	assert_int_equal(buf_append(&back, "prefix", 6, NULL), 0);
	for (size_t n = 1000; n <= sizeof(text); n += 1000) {
		size_t before = back.len;

		buf_reset(&z);
		assert_int_equal(compress_try_ctx(c, 3, text, n, &z, &comp, NULL), 0);
		assert_true(comp);
		assert_int_equal(compress_expand_ctx(c, z.data, z.len, n, &back, NULL), 0);
		assert_int_equal(back.len, before + n);
		assert_memory_equal(back.data + before, text, n);
	}
	assert_memory_equal(back.data, "prefix", 6);
	/* A failure keeps the context usable. */
	assert_int_equal(compress_expand_ctx(c, (const uint8_t *)"nope", 4, 3, &back, NULL), -1);
	assert_int_equal(compress_expand_ctx(c, z.data, z.len, sizeof(text), &back, NULL), 0);
	compress_ctx_free(c);
	compress_ctx_free(NULL);
	buf_free(&z);
	buf_free(&back);
}

/* Only a frame strictly smaller than the input counts: a 1-byte input can
 * never compress, and a short high-entropy input stays raw. */
static void test_never_larger(void **state)
{
	(void)state;
	struct buf z = BUF_INIT;
	uint8_t rnd[64];
	bool comp = true;

	assert_int_equal(compress_try(3, (const uint8_t *)"a", 1, &z, &comp, NULL), 0);
	assert_false(comp);
	randombytes_buf(rnd, sizeof(rnd));
	for (int level = 1; level <= COMPRESS_LEVEL_MAX; level++) {
		assert_int_equal(compress_try(level, rnd, sizeof(rnd), &z, &comp, NULL), 0);
		assert_false(comp);
	}
	assert_int_equal(z.len, 0);
	assert_int_equal(compress_try(COMPRESS_LEVEL_MAX + 1, rnd, sizeof(rnd), &z, &comp, NULL), -1);
	buf_free(&z);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compressible_roundtrip),
		cmocka_unit_test(test_incompressible_stays_raw),
		cmocka_unit_test(test_bad_level),
		cmocka_unit_test(test_expand_bounds_and_garbage),
		cmocka_unit_test(test_frame_without_size_refused),
		cmocka_unit_test(test_expand_bound_enforced),
		cmocka_unit_test(test_context_reuse),
		cmocka_unit_test(test_never_larger),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
