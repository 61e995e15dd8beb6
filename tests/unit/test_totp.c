/* test_totp.c: HOTP and TOTP against the test vectors of RFC 4226 and RFC
 * 6238, Base32 both ways with bad input, the window and replay rules of
 * totp_check, and the otpauth:// address. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "totp.h"

static const uint8_t seed20[] = "12345678901234567890";
static const uint8_t seed32[] = "12345678901234567890123456789012";
static const uint8_t seed64[] =
	"1234567890123456789012345678901234567890123456789012345678901234";

/* RFC 4226, appendix D: HOTP-SHA1, 6 digits, counters 0 to 9. */
static void test_rfc4226_vectors(void **state)
{
	(void)state;
	static const uint32_t want[10] = { 755224, 287082, 359152, 969429, 338314,
					   254676, 287922, 162583, 399871, 520489 };
	for (uint64_t c = 0; c < 10; c++) {
		uint32_t code;
		struct err e;

		assert_int_equal(hotp_code(TOTP_SHA1, seed20, 20, c, 6, &code, &e), 0);
		assert_int_equal(code, want[c]);
	}
}

/* RFC 6238, appendix B: TOTP, 8 digits, 30-second steps, the three hashes
 * with seeds of 20, 32 and 64 bytes. */
static void test_rfc6238_vectors(void **state)
{
	(void)state;
	static const struct {
		int64_t t;
		uint32_t sha1, sha256, sha512;
	} v[] = {
		{ 59, 94287082, 46119246, 90693936 },
		{ 1111111109, 7081804, 68084774, 25091201 },
		{ 1111111111, 14050471, 67062674, 99943326 },
		{ 1234567890, 89005924, 91819424, 93441116 },
		{ 2000000000, 69279037, 90698825, 38618901 },
		{ 20000000000, 65353130, 77737706, 47863826 },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint32_t code;

		assert_int_equal(totp_code(TOTP_SHA1, seed20, 20, v[i].t, 30, 8, &code, NULL), 0);
		assert_int_equal(code, v[i].sha1);
		assert_int_equal(totp_code(TOTP_SHA256, seed32, 32, v[i].t, 30, 8, &code, NULL), 0);
		assert_int_equal(code, v[i].sha256);
		assert_int_equal(totp_code(TOTP_SHA512, seed64, 64, v[i].t, 30, 8, &code, NULL), 0);
		assert_int_equal(code, v[i].sha512);
	}
}

static void test_bad_arguments(void **state)
{
	(void)state;
	uint32_t code = 1;
	struct err e;

	assert_int_equal(hotp_code(TOTP_SHA1, seed20, 0, 0, 6, &code, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_int_equal(code, 0);
	assert_int_equal(hotp_code(TOTP_SHA1, seed64, 65, 0, 6, &code, &e), -1);
	assert_int_equal(hotp_code(TOTP_SHA1, seed20, 20, 0, 5, &code, &e), -1);
	assert_int_equal(hotp_code(TOTP_SHA1, seed20, 20, 0, 10, &code, &e), -1);
	assert_int_equal(hotp_code((enum totp_hash)7, seed20, 20, 0, 6, &code, &e), -1);
	assert_int_equal(totp_code(TOTP_SHA1, seed20, 20, -1, 30, 6, &code, &e), -1);
	assert_int_equal(totp_code(TOTP_SHA1, seed20, 20, 0, 0, 6, &code, &e), -1);
}

static void code_text(int64_t t, char out[7])
{
	uint32_t c;

	assert_int_equal(totp_code(TOTP_SHA1, seed20, 20, t, 30, 6, &c, NULL), 0);
	snprintf(out, 7, "%06u", c);
}

/* A code of now or one step either side is taken, with the step it
 * matched; one two steps away is not; a step at or before AFTER (a code
 * already used) is not. */
static void test_check_window_and_replay(void **state)
{
	(void)state;
	const int64_t now = 1700000015; /* step 56666667 */
	char c[7];
	int64_t step;

	code_text(now, c);
	assert_int_equal(totp_check(TOTP_SHA1, seed20, 20, c, now, 30, 6, 1, -1, &step, NULL), 1);
	assert_int_equal(step, now / 30);
	/* Used once: the same code again is a replay. */
	assert_int_equal(totp_check(TOTP_SHA1, seed20, 20, c, now, 30, 6, 1, step, &step, NULL), 0);
	assert_int_equal(step, -1);
	code_text(now - 30, c);
	assert_int_equal(totp_check(TOTP_SHA1, seed20, 20, c, now, 30, 6, 1, -1, &step, NULL), 1);
	assert_int_equal(step, now / 30 - 1);
	code_text(now + 30, c);
	assert_int_equal(totp_check(TOTP_SHA1, seed20, 20, c, now, 30, 6, 1, -1, &step, NULL), 1);
	code_text(now - 60, c);
	assert_int_equal(totp_check(TOTP_SHA1, seed20, 20, c, now, 30, 6, 1, -1, &step, NULL), 0);
	code_text(now + 60, c);
	assert_int_equal(totp_check(TOTP_SHA1, seed20, 20, c, now, 30, 6, 1, -1, &step, NULL), 0);
	/* An older step than the last one accepted is refused even inside the
	 * window: codes are used in order. */
	code_text(now - 30, c);
	assert_int_equal(totp_check(TOTP_SHA1, seed20, 20, c, now, 30, 6, 1, now / 30, &step, NULL),
			 0);
}

/* Typed codes: spaces are ignored; anything else malformed is simply
 * wrong, never an error. */
static void test_check_typed_text(void **state)
{
	(void)state;
	const int64_t now = 1700000015;
	char c[7], spaced[9];
	int64_t step;
	struct err e;

	code_text(now, c);
	snprintf(spaced, sizeof(spaced), "%.3s %.3s", c, c + 3);
	assert_int_equal(totp_check(TOTP_SHA1, seed20, 20, spaced, now, 30, 6, 1, -1, &step, &e),
			 1);
	const char *bad[] = { "", "12345", "1234567", "12345a", "-12345", "１２３４５６",
			      "123456\n" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(totp_check(TOTP_SHA1, seed20, 20, bad[i], now, 30, 6, 1, -1, &step,
					    &e), 0);
	assert_int_equal(totp_check(TOTP_SHA1, seed20, 20, c, -5, 30, 6, 1, -1, &step, &e), -1);
	/* A secret of a bad length is the caller's error. */
	assert_int_equal(totp_check(TOTP_SHA1, seed20, 0, c, now, 30, 6, 1, -1, &step, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
}

/* RFC 4648, section 10, without padding, and back. */
static void test_base32_vectors(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "", "" },           { "f", "MY" },          { "fo", "MZXQ" },
		{ "foo", "MZXW6" },   { "foob", "MZXW6YQ" },  { "fooba", "MZXW6YTB" },
		{ "foobar", "MZXW6YTBOI" },
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char text[32];
		uint8_t back[32];
		size_t n;

		assert_int_equal(totp_base32_encode((const uint8_t *)v[i].in, strlen(v[i].in), text,
						    sizeof(text), NULL), 0);
		assert_string_equal(text, v[i].out);
		assert_int_equal(totp_base32_decode(v[i].out, back, sizeof(back), &n, NULL), 0);
		assert_int_equal(n, strlen(v[i].in));
		assert_memory_equal(back, v[i].in, n);
	}
	/* Lower case, groups and padding as people paste them. */
	uint8_t back[32];
	size_t n;
	assert_int_equal(totp_base32_decode("mzxw 6ytb-oi======", back, sizeof(back), &n, NULL), 0);
	assert_int_equal(n, 6);
	assert_memory_equal(back, "foobar", 6);
}

static void test_base32_bad_input(void **state)
{
	(void)state;
	uint8_t out[8];
	size_t n = 99;
	struct err e;

	assert_int_equal(totp_base32_decode("MZXW1", out, sizeof(out), &n, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_non_null(strstr(e.msg, "'1'"));
	assert_int_equal(n, 0);
	assert_int_equal(totp_base32_decode("MZ=XW", out, sizeof(out), &n, &e), -1);
	assert_non_null(strstr(e.msg, "padding"));
	assert_int_equal(totp_base32_decode("MZ\x01", out, sizeof(out), &n, &e), -1);
	assert_non_null(strstr(e.msg, "0x01"));
	/* A dangling character (5 bits) is no byte; nonzero leftover bits are
	 * not padding. */
	assert_int_equal(totp_base32_decode("M", out, sizeof(out), &n, &e), -1);
	assert_int_equal(totp_base32_decode("MY", out, sizeof(out), &n, &e), 0);
	assert_int_equal(totp_base32_decode("MZ", out, sizeof(out), &n, &e), -1);
	/* More bytes than room. */
	assert_int_equal(totp_base32_decode("MZXW6YTBOIMZXW6YTBOI", out, sizeof(out), &n, &e), -1);
	assert_int_equal(e.code, ERR_TOO_LARGE);
	char small[4];
	assert_int_equal(totp_base32_encode((const uint8_t *)"foo", 3, small, sizeof(small), &e),
			 -1);
	assert_int_equal(e.code, ERR_TOO_LARGE);
}

static void test_uri(void **state)
{
	(void)state;
	char *u = totp_uri("arca", "ann@example.org", seed20, 20, NULL);

	assert_non_null(u);
	assert_string_equal(u, "otpauth://totp/arca:ann%40example.org"
			       "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=arca"
			       "&algorithm=SHA1&digits=6&period=30");
	free(u);
	assert_null(totp_uri("arca", "x", seed20, 0, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4226_vectors),
		cmocka_unit_test(test_rfc6238_vectors),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_check_window_and_replay),
		cmocka_unit_test(test_check_typed_text),
		cmocka_unit_test(test_base32_vectors),
		cmocka_unit_test(test_base32_bad_input),
		cmocka_unit_test(test_uri),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
