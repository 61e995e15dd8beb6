/* test_passphrase.c: passphrase rules and the generator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "passphrase.h"

static void test_length_rule(void **state)
{
	(void)state;
	struct err e;

	assert_int_equal(passphrase_check("0123456789abcde", &e), -1); /* 15 */
	assert_int_equal(e.code, ERR_PASSPHRASE);
	assert_non_null(strstr(e.msg, "15 characters"));
	assert_non_null(strstr(e.msg, "at least 16"));
	assert_int_equal(passphrase_check("0123456789abcdef", &e), 0); /* 16 */
	assert_int_equal(passphrase_check("", &e), -1);
}

/* Characters are code points: 16 two-byte letters pass, 15 do not. */
static void test_counts_characters_not_bytes(void **state)
{
	(void)state;
	char p[64] = "";

	for (int i = 0; i < 15; i++)
		strcat(p, "\xc3\xa9"); /* é */
	assert_int_equal(passphrase_check(p, NULL), -1);
	strcat(p, "\xc3\xa9");
	assert_int_equal(passphrase_check(p, NULL), 0);
}

static void test_rejects_bad_bytes(void **state)
{
	(void)state;
	struct err e;
	char big[PASSPHRASE_MAX_BYTES + 2];

	assert_int_equal(passphrase_check("abcdefghijklmnop\xff", &e), -1);
	assert_non_null(strstr(e.msg, "UTF-8"));
	assert_int_equal(passphrase_check("abcdefghijklmnop\xc0\xaf", &e), -1); /* overlong */
	assert_int_equal(passphrase_check("abcdefghijklmnop\xed\xa0\x80", &e), -1); /* surrogate */
	assert_int_equal(passphrase_check("abcdefghijklmnop\xe2\x82", &e), -1); /* truncated */
	assert_int_equal(passphrase_check("abcdefgh\nijklmnopq", &e), -1);
	assert_non_null(strstr(e.msg, "control character"));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(passphrase_check(big, &e), -1);
	assert_non_null(strstr(e.msg, "limit"));
}

static void test_generate(void **state)
{
	(void)state;
	char a[PASSPHRASE_GEN_CHARS + 1], b[PASSPHRASE_GEN_CHARS + 1];
	int seen[256] = { 0 };

	for (int n = 0; n < 200; n++) {
		assert_int_equal(passphrase_generate(a, NULL), 0);
		assert_int_equal(strlen(a), PASSPHRASE_GEN_CHARS);
		assert_int_equal(passphrase_check(a, NULL), 0);
		for (int i = 0; i < PASSPHRASE_GEN_CHARS; i++) {
			assert_non_null(strchr(passphrase_alphabet, a[i]));
			seen[(unsigned char)a[i]]++;
		}
	}
	/* No look-alikes, and 7200 draws touch every symbol of 56. */
	assert_int_equal(seen['0'] + seen['O'] + seen['o'] + seen['1'] + seen['l'] + seen['I'], 0);
	for (const char *p = passphrase_alphabet; *p; p++)
		assert_true(seen[(unsigned char)*p] > 0);
	assert_int_equal(passphrase_generate(b, NULL), 0);
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_length_rule),
		cmocka_unit_test(test_counts_characters_not_bytes),
		cmocka_unit_test(test_rejects_bad_bytes),
		cmocka_unit_test(test_generate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
