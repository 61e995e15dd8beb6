/* test_keys.c: master keys, subkeys and the wrapped-key blob. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "keys.h"

/* The cheapest Argon2id cost, so that tests which open many blobs stay fast. */
static const struct kdf_params cheap = { 1, 8192 };
static const char *pass = "correct horse battery staple";

static void test_generate_distinct(void **state)
{
	(void)state;
	struct err e;
	struct keys *a = keys_generate(&e), *b = keys_generate(&e);

	assert_non_null(a);
	assert_non_null(b);
	assert_memory_not_equal(a->master, b->master, KEY_LEN);
	/* Subkeys differ from each other and from the master key. */
	assert_memory_not_equal(a->object, a->id, KEY_LEN);
	assert_memory_not_equal(a->id, a->chunker, KEY_LEN);
	assert_memory_not_equal(a->object, a->master, KEY_LEN);
	keys_free(a);
	keys_free(b);
	keys_free(NULL);
}

static void test_from_master_deterministic(void **state)
{
	(void)state;
	uint8_t m[KEY_LEN];
	struct keys *a, *b;

	memset(m, 7, sizeof(m));
	a = keys_from_master(m, NULL);
	b = keys_from_master(m, NULL);
	assert_memory_equal(a->object, b->object, KEY_LEN);
	assert_memory_equal(a->id, b->id, KEY_LEN);
	assert_memory_equal(a->chunker, b->chunker, KEY_LEN);
	assert_memory_equal(a->key_id, b->key_id, KEY_ID_LEN);
	m[0] ^= 1;
	keys_free(b);
	b = keys_from_master(m, NULL);
	assert_memory_not_equal(a->object, b->object, KEY_LEN);
	keys_free(a);
	keys_free(b);
}

static void test_wrap_unwrap_roundtrip(void **state)
{
	(void)state;
	struct err e;
	struct buf blob = BUF_INIT;
	struct keys *k = keys_generate(&e), *u;
	uint8_t kid[KEY_ID_LEN];

	assert_int_equal(keys_wrap(k, pass, &cheap, &blob, &e), 0);
	assert_int_equal(blob.len, KEYS_WRAPPED_LEN);
	u = keys_unwrap(blob.data, blob.len, pass, &e);
	assert_non_null(u);
	assert_memory_equal(u->master, k->master, KEY_LEN);
	assert_memory_equal(u->object, k->object, KEY_LEN);
	assert_int_equal(keys_wrapped_key_id(blob.data, blob.len, kid, &e), 0);
	assert_memory_equal(kid, k->key_id, KEY_ID_LEN);
	keys_free(u);
	keys_free(k);
	buf_free(&blob);
}

static void test_default_params(void **state)
{
	(void)state;
	struct err e;
	struct buf blob = BUF_INIT;
	struct keys *k = keys_generate(&e), *u;

	/* NULL params: at least 64 MiB and 3 passes, recorded in the blob. */
	assert_int_equal(keys_wrap(k, pass, NULL, &blob, &e), 0);
	assert_true(blob.data[12] == 3 && blob.data[13] == 0);
	assert_int_equal(blob.data[16 + 3], 4); /* 64 MiB = 0x04000000 */
	u = keys_unwrap(blob.data, blob.len, pass, &e);
	assert_non_null(u);
	assert_memory_equal(u->master, k->master, KEY_LEN);
	keys_free(u);
	keys_free(k);
	buf_free(&blob);
}

static void test_wrong_passphrase(void **state)
{
	(void)state;
	struct err e;
	struct buf blob = BUF_INIT;
	struct keys *k = keys_generate(&e);

	assert_int_equal(keys_wrap(k, pass, &cheap, &blob, &e), 0);
	assert_null(keys_unwrap(blob.data, blob.len, "correct horse battery stapl3", &e));
	assert_int_equal(e.code, ERR_PASSPHRASE);
	assert_non_null(strstr(e.msg, "passphrase does not open"));
	keys_free(k);
	buf_free(&blob);
}

static void test_every_flipped_byte(void **state)
{
	(void)state;
	struct err e;
	struct buf blob = BUF_INIT;
	struct keys *k = keys_generate(&e);

	assert_int_equal(keys_wrap(k, pass, &cheap, &blob, &e), 0);
	for (size_t i = 0; i < blob.len; i++) {
		for (int bit = 0; bit < 8; bit += 7) {
			blob.data[i] ^= (uint8_t)(1u << bit);
			err_clear(&e);
			assert_null(keys_unwrap(blob.data, blob.len, pass, &e));
			assert_true(e.code == ERR_CORRUPT || e.code == ERR_UNSUPPORTED);
			assert_true(e.msg[0] != '\0');
			blob.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* And the intact blob still opens. */
	keys_free(keys_unwrap(blob.data, blob.len, pass, &e));
	keys_free(k);
	buf_free(&blob);
}

/* A flipped byte with a recomputed checksum models deliberate tampering:
 * the AEAD must still refuse it. */
static void test_tamper_with_fixed_checksum(void **state)
{
	(void)state;
	struct err e;
	struct buf blob = BUF_INIT;
	struct keys *k = keys_generate(&e);
	const size_t checked[] = { 24, 40, 56, 80, 100, 127 };

	assert_int_equal(keys_wrap(k, pass, &cheap, &blob, &e), 0);
	for (size_t j = 0; j < sizeof(checked) / sizeof(checked[0]); j++) {
		size_t i = checked[j];

		blob.data[i] ^= 0x20;
		crypto_generichash(blob.data + 128, 16, blob.data, 128, NULL, 0);
		assert_null(keys_unwrap(blob.data, blob.len, pass, &e));
		assert_int_equal(e.code, ERR_PASSPHRASE);
		blob.data[i] ^= 0x20;
		crypto_generichash(blob.data + 128, 16, blob.data, 128, NULL, 0);
	}
	keys_free(k);
	buf_free(&blob);
}

static void test_truncated_and_long(void **state)
{
	(void)state;
	struct err e;
	struct buf blob = BUF_INIT;
	struct keys *k = keys_generate(&e);
	uint8_t kid[KEY_ID_LEN];

	assert_int_equal(keys_wrap(k, pass, &cheap, &blob, &e), 0);
	for (size_t n = 0; n < blob.len; n += 13) {
		assert_null(keys_unwrap(blob.data, n, pass, &e));
		assert_int_equal(e.code, ERR_CORRUPT);
	}
	assert_int_equal(buf_append_u8(&blob, 0, &e), 0);
	assert_null(keys_unwrap(blob.data, blob.len, pass, &e));
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_int_equal(keys_wrapped_key_id(blob.data, blob.len, kid, &e), -1);
	keys_free(k);
	buf_free(&blob);
}

static void test_bad_params_refused(void **state)
{
	(void)state;
	struct err e;
	struct buf blob = BUF_INIT;
	struct keys *k = keys_generate(&e);
	struct kdf_params p = { 0, 8192 };

	assert_int_equal(keys_wrap(k, pass, &p, &blob, &e), -1);
	assert_int_equal(e.code, ERR_INVALID);
	p.opslimit = 1;
	p.memlimit = KDF_MEMLIMIT_MAX + 1;
	assert_int_equal(keys_wrap(k, pass, &p, &blob, &e), -1);
	assert_non_null(strstr(e.msg, "memory"));
	assert_int_equal(blob.len, 0);
	keys_free(k);
}

/* A blob that claims 4 TiB of Argon2 memory is refused as damaged before any
 * allocation, even with a valid checksum. */
static void test_params_bounded_on_read(void **state)
{
	(void)state;
	struct err e;
	struct buf blob = BUF_INIT;
	struct keys *k = keys_generate(&e);

	assert_int_equal(keys_wrap(k, pass, &cheap, &blob, &e), 0);
	blob.data[16 + 5] = 4;
	crypto_generichash(blob.data + 128, 16, blob.data, 128, NULL, 0);
	assert_null(keys_unwrap(blob.data, blob.len, pass, &e));
	assert_int_equal(e.code, ERR_CORRUPT);
	assert_non_null(strstr(e.msg, "damaged"));
	keys_free(k);
	buf_free(&blob);
}

/* Two passphrases wrap one master key; changing a passphrase is a new blob
 * over the same master key, so every subkey (and thus every object) stays. */
static void test_second_passphrase_and_change(void **state)
{
	(void)state;
	struct err e;
	struct buf b1 = BUF_INIT, b2 = BUF_INIT;
	struct keys *k = keys_generate(&e), *u1, *u2;
	uint8_t id1[KEY_ID_LEN], id2[KEY_ID_LEN];

	assert_int_equal(keys_wrap(k, pass, &cheap, &b1, &e), 0);
	assert_int_equal(keys_wrap(k, "an offline second passphrase", &cheap, &b2, &e), 0);
	assert_memory_not_equal(b1.data, b2.data, b1.len);
	u1 = keys_unwrap(b1.data, b1.len, pass, &e);
	u2 = keys_unwrap(b2.data, b2.len, "an offline second passphrase", &e);
	assert_non_null(u1);
	assert_non_null(u2);
	assert_memory_equal(u1->object, u2->object, KEY_LEN);
	assert_memory_equal(u1->id, u2->id, KEY_LEN);
	assert_memory_equal(u1->chunker, u2->chunker, KEY_LEN);
	assert_int_equal(keys_wrapped_key_id(b1.data, b1.len, id1, &e), 0);
	assert_int_equal(keys_wrapped_key_id(b2.data, b2.len, id2, &e), 0);
	assert_memory_equal(id1, id2, KEY_ID_LEN);
	/* The first passphrase does not open the second blob. */
	assert_null(keys_unwrap(b2.data, b2.len, pass, &e));
	assert_int_equal(e.code, ERR_PASSPHRASE);
	keys_free(u1);
	keys_free(u2);
	keys_free(k);
	buf_free(&b1);
	buf_free(&b2);
}

/* The registration verifier: the same master key gives the same verifier
 * (a reinstalled machine proves itself), another gives another, and a proof
 * holds only for its message and its verifier. */
static void test_verifier_and_proof(void **state)
{
	(void)state;
	uint8_t m[KEY_LEN], v1[KEYS_VERIFIER_LEN], v2[KEYS_VERIFIER_LEN], v3[KEYS_VERIFIER_LEN];
	uint8_t sig[KEYS_PROOF_LEN];
	static const char msg[] = "arca-register-v2\nvault\nserver-01\n";
	struct keys *a, *b, *other;
	struct err e;

	randombytes_buf(m, sizeof(m));
	a = keys_from_master(m, &e);
	b = keys_from_master(m, &e);
	other = keys_generate(&e);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(other);
	keys_verifier(a, v1);
	keys_verifier(b, v2);
	keys_verifier(other, v3);
	assert_memory_equal(v1, v2, sizeof(v1));
	assert_memory_not_equal(v1, v3, sizeof(v1));
	/* The verifier is none of the other subkeys, nor the key id. */
	assert_memory_not_equal(v1, a->object, sizeof(v1));
	assert_memory_not_equal(v1, a->id, sizeof(v1));
	assert_memory_not_equal(v1, a->chunker, sizeof(v1));
	keys_prove(b, msg, sizeof(msg) - 1, sig);
	assert_int_equal(keys_proof_check(v1, msg, sizeof(msg) - 1, sig, &e), 0);
	assert_int_equal(keys_proof_check(v3, msg, sizeof(msg) - 1, sig, &e), -1);
	assert_int_equal(e.code, ERR_DENIED);
	assert_int_equal(keys_proof_check(v1, msg, sizeof(msg) - 2, sig, &e), -1);
	sig[5] ^= 1;
	assert_int_equal(keys_proof_check(v1, msg, sizeof(msg) - 1, sig, &e), -1);
	keys_free(a);
	keys_free(b);
	keys_free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate_distinct),
		cmocka_unit_test(test_from_master_deterministic),
		cmocka_unit_test(test_wrap_unwrap_roundtrip),
		cmocka_unit_test(test_default_params),
		cmocka_unit_test(test_wrong_passphrase),
		cmocka_unit_test(test_every_flipped_byte),
		cmocka_unit_test(test_tamper_with_fixed_checksum),
		cmocka_unit_test(test_truncated_and_long),
		cmocka_unit_test(test_bad_params_refused),
		cmocka_unit_test(test_params_bounded_on_read),
		cmocka_unit_test(test_second_passphrase_and_change),
		cmocka_unit_test(test_verifier_and_proof),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
