/* test_objid.c: keyed object ids and their hex form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "keys.h"
#include "objid.h"

static void test_equal_content_equal_id(void **state)
{
	(void)state;
	struct keys *k = keys_generate(NULL);
	struct objid a, b, c;

	objid_compute(k, "hello", 5, &a);
	objid_compute(k, "hello", 5, &b);
	objid_compute(k, "hellp", 5, &c);
	assert_int_equal(objid_cmp(&a, &b), 0);
	assert_int_not_equal(objid_cmp(&a, &c), 0);
	keys_free(k);
}

/* Another machine's key (or no key: a plain hash) gives another id, so the
 * service cannot confirm a guess of the content. */
static void test_keyed(void **state)
{
	(void)state;
	struct keys *k1 = keys_generate(NULL), *k2 = keys_generate(NULL);
	struct objid a, b;

	objid_compute(k1, "same", 4, &a);
	objid_compute(k2, "same", 4, &b);
	assert_int_not_equal(objid_cmp(&a, &b), 0);
	keys_free(k1);
	keys_free(k2);
}

/* RFC 4231 test case 2 pins the construction to HMAC-SHA-256. */
static void test_hmac_sha256_vector(void **state)
{
	(void)state;
	uint8_t m[KEY_LEN] = { 0 };
	struct keys *k = keys_from_master(m, NULL);
	struct objid id, want;
	char hex[OBJID_HEX_LEN + 1];

	memset(k->id, 0, KEY_LEN);
	memcpy(k->id, "Jefe", 4);
	/* HMAC pads short keys with zeros, so a 32-byte key "Jefe\0..." equals "Jefe". */
	objid_compute(k, "what do ya want for nothing?", 28, &id);
	assert_int_equal(objid_from_hex(
		"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", &want, NULL), 0);
	assert_int_equal(objid_cmp(&id, &want), 0);
	objid_to_hex(&id, hex);
	assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	keys_free(k);
}

static void test_empty_input(void **state)
{
	(void)state;
	struct keys *k = keys_generate(NULL);
	struct objid a, b;

	objid_compute(k, NULL, 0, &a);
	objid_compute(k, "", 0, &b);
	assert_int_equal(objid_cmp(&a, &b), 0);
	keys_free(k);
}

static void test_hex_roundtrip_and_errors(void **state)
{
	(void)state;
	struct objid a, b;
	struct err e;
	char hex[OBJID_HEX_LEN + 1], bad[OBJID_HEX_LEN + 2];

	for (int i = 0; i < OBJID_LEN; i++)
		a.b[i] = (uint8_t)(i * 37 + 1);
	objid_to_hex(&a, hex);
	assert_int_equal(objid_from_hex(hex, &b, &e), 0);
	assert_int_equal(objid_cmp(&a, &b), 0);
	/* Upper case is accepted. */
	for (char *p = hex; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 32);
	assert_int_equal(objid_from_hex(hex, &b, &e), 0);
	assert_int_equal(objid_cmp(&a, &b), 0);

	memcpy(bad, hex, sizeof(hex));
	bad[10] = 'g';
	assert_int_equal(objid_from_hex(bad, &b, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	assert_non_null(strstr(e.msg, "at 10"));
	assert_int_equal(objid_from_hex("abcd", &b, &e), -1); /* short */
	memcpy(bad, hex, sizeof(hex));
	bad[OBJID_HEX_LEN] = '0';
	bad[OBJID_HEX_LEN + 1] = '\0';
	assert_int_equal(objid_from_hex(bad, &b, &e), -1); /* long */
	assert_non_null(strstr(e.msg, "longer"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_equal_content_equal_id),
		cmocka_unit_test(test_keyed),
		cmocka_unit_test(test_hmac_sha256_vector),
		cmocka_unit_test(test_empty_input),
		cmocka_unit_test(test_hex_roundtrip_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
