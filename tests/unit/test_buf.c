/* test_buf.c: the error record, the byte buffer and the read cursor. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "bytes.h"
#include "err.h"

static void test_err_set_and_prefix(void **state)
{
	(void)state;
	struct err e;
	char longmsg[2 * ERR_MSG_MAX];

	assert_int_equal(err_set(&e, ERR_CORRUPT, "pack %d is damaged", 7), -1);
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_string_equal(e.msg, "pack 7 is damaged");
	assert_int_equal(err_prefix(&e, "reading %s: ", "x"), -1);
	assert_string_equal(e.msg, "reading x: pack 7 is damaged");
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_string_equal(err_code_name(e.code), "corrupt");
	errno = ENOENT;
	assert_int_equal(err_errno(&e, "open %s", "/nope"), -1);
	assert_int_equal(e.code, ERR_IO);
	assert_non_null(strstr(e.msg, "open /nope: "));
	assert_non_null(strstr(e.msg, "No such file"));
	/* A full file system is told apart: it reaches a person as itself. */
	errno = ENOSPC;
	err_errno(&e, "write %s", "pack");
	assert_int_equal(e.code, ERR_FULL);
	assert_string_equal(err_code_name(e.code), "full");
	assert_non_null(strstr(e.msg, "No space left"));
	errno = EDQUOT;
	err_errno(&e, "write %s", "pack");
	assert_int_equal(e.code, ERR_FULL);
	/* Over-long messages are cut, never overflow. */
	memset(longmsg, 'x', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	err_set(&e, ERR_INVALID, "%s", longmsg);
	assert_int_equal(strlen(e.msg), ERR_MSG_MAX - 1);
	err_prefix(&e, "%s", "head: ");
	assert_int_equal(strlen(e.msg), ERR_MSG_MAX - 1);
	assert_int_equal(strncmp(e.msg, "head: ", 6), 0);
	/* NULL error records are allowed. */
	assert_int_equal(err_set(NULL, ERR_IO, "x"), -1);
	assert_int_equal(err_oom(NULL), -1);
	err_clear(&e);
	assert_int_equal(e.code, ERR_OK);
	assert_string_equal(e.msg, "");
}

static void test_buf_append_and_le(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	struct rd r;
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	const uint8_t *p;

	assert_int_equal(buf_append_u8(&b, 0xab, NULL), 0);
	assert_int_equal(buf_append_le16(&b, 0x1234, NULL), 0);
	assert_int_equal(buf_append_le32(&b, 0xdeadbeef, NULL), 0);
	assert_int_equal(buf_append_le64(&b, 0x0102030405060708ull, NULL), 0);
	assert_int_equal(buf_append(&b, "xyz", 3, NULL), 0);
	assert_int_equal(b.len, 18);
	assert_int_equal(b.data[1], 0x34); /* little-endian */
	assert_int_equal(b.data[3], 0xef);

	r = rd_make(b.data, b.len);
	assert_int_equal(rd_u8(&r, &u8), 0);
	assert_int_equal(u8, 0xab);
	assert_int_equal(rd_le16(&r, &u16), 0);
	assert_int_equal(u16, 0x1234);
	assert_int_equal(rd_le32(&r, &u32), 0);
	assert_int_equal(u32, 0xdeadbeef);
	assert_int_equal(rd_le64(&r, &u64), 0);
	assert_true(u64 == 0x0102030405060708ull);
	assert_int_equal(rd_bytes(&r, 4, &p), -1); /* only 3 left: cursor unmoved */
	assert_int_equal(rd_left(&r), 3);
	assert_int_equal(rd_bytes(&r, 3, &p), 0);
	assert_memory_equal(p, "xyz", 3);
	assert_int_equal(rd_u8(&r, &u8), -1);
	assert_int_equal(rd_le64(&r, &u64), -1);
	buf_free(&b);
	buf_free(&b); /* twice is harmless */
	buf_free(NULL);
}

static void test_buf_growth_and_wipe(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	uint8_t *p;

	for (int i = 0; i < 100000; i++)
		assert_int_equal(buf_append_u8(&b, (uint8_t)i, NULL), 0);
	assert_int_equal(b.len, 100000);
	assert_true(b.cap >= b.len);
	assert_int_equal(b.data[99999], (uint8_t)99999);
	p = buf_extend(&b, 10, NULL);
	assert_non_null(p);
	assert_int_equal(p[9], 0);
	assert_int_equal(b.len, 100010);
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	buf_wipe(&b);
	assert_null(b.data);
	assert_int_equal(b.cap, 0);
}

static void test_buf_overflow(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	struct err e;

	assert_int_equal(buf_append_u8(&b, 1, NULL), 0);
	assert_int_equal(buf_reserve(&b, SIZE_MAX, &e), -1);
	assert_int_equal(e.code, ERR_TOO_LARGE);
	assert_int_equal(buf_reserve(&b, SIZE_MAX / 2, &e), -1);
	assert_int_equal(e.code, ERR_NOMEM);
	assert_int_equal(b.len, 1);
	buf_free(&b);
}

static void test_varint(void **state)
{
	(void)state;
	const uint64_t vals[] = { 0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX,
				  (uint64_t)1 << 63, UINT64_MAX };
	struct buf b = BUF_INIT;
	struct rd r;
	uint64_t v;

	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		buf_reset(&b);
		assert_int_equal(buf_append_varint(&b, vals[i], NULL), 0);
		r = rd_make(b.data, b.len);
		assert_int_equal(rd_varint(&r, &v), 0);
		assert_true(v == vals[i]);
		assert_int_equal(rd_left(&r), 0);
		/* Every truncation fails and leaves the cursor alone. */
		for (size_t n = 0; n < b.len; n++) {
			r = rd_make(b.data, n);
			assert_int_equal(rd_varint(&r, &v), -1);
			assert_int_equal(r.off, 0);
		}
	}
	assert_int_equal(b.len, 10); /* UINT64_MAX takes 10 bytes */
	buf_free(&b);

	/* Non-minimal and over-long encodings are refused. */
	{
		const uint8_t nonmin[] = { 0x80, 0x00 };
		const uint8_t nonmin2[] = { 0xff, 0x80, 0x00 };
		const uint8_t over[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };
		const uint8_t eleven[] = { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 };

		r = rd_make(nonmin, sizeof(nonmin));
		assert_int_equal(rd_varint(&r, &v), -1);
		r = rd_make(nonmin2, sizeof(nonmin2));
		assert_int_equal(rd_varint(&r, &v), -1);
		r = rd_make(over, sizeof(over));
		assert_int_equal(rd_varint(&r, &v), -1);
		r = rd_make(eleven, sizeof(eleven));
		assert_int_equal(rd_varint(&r, &v), -1);
	}
}

static void test_checked_arithmetic(void **state)
{
	(void)state;
	size_t r = 5;

	assert_true(size_add(1, 2, &r) && r == 3);
	assert_false(size_add(SIZE_MAX, 1, &r));
	assert_int_equal(r, 3);
	assert_true(size_mul(0, SIZE_MAX, &r) && r == 0);
	assert_false(size_mul(SIZE_MAX / 2 + 1, 2, &r));
	assert_true(size_mul(1u << 20, 16, &r) && r == (size_t)16 << 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_set_and_prefix),
		cmocka_unit_test(test_buf_append_and_le),
		cmocka_unit_test(test_buf_growth_and_wipe),
		cmocka_unit_test(test_buf_overflow),
		cmocka_unit_test(test_varint),
		cmocka_unit_test(test_checked_arithmetic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
