/* test_pki.c: the cache of machines' parsed public keys (pki.h): a key is
 * parsed once and then shared, a machine's new key (another PEM text)
 * replaces its old one at once, machines apart, text that is no key kept
 * nowhere, and many machines in a fixed table checking signatures right. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "pki.h"

/* The SubjectPublicKeyInfo PEM of K, NUL-terminated (caller frees). */
static char *pub_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	assert_non_null(b);
	assert_int_equal(PEM_write_bio_PUBKEY(b, k), 1);
	n = BIO_get_mem_data(b, &p);
	assert_true(n > 0);
	assert_non_null(out = malloc((size_t)n + 1));
	memcpy(out, p, (size_t)n);
	out[n] = 0;
	BIO_free(b);
	return out;
}

/* KEY's DER ECDSA signature of MSG with SHA-256 into SIG. */
static size_t sign(EVP_PKEY *key, const char *msg, uint8_t *sig, size_t cap)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t n = cap;

	assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &n, (const uint8_t *)msg, strlen(msg)), 1);
	EVP_MD_CTX_free(ctx);
	return n;
}

static void test_a_key_is_parsed_once_and_a_new_one_replaces_it(void **state)
{
	struct pki_key_cache *kc = pki_key_cache_new(NULL);
	EVP_PKEY *k1 = pki_key_new(NULL), *k2 = pki_key_new(NULL), *a, *b, *c;
	char *p1 = pub_pem(k1), *p2 = pub_pem(k2);
	uint8_t sig[128];
	size_t n = sign(k2, "request", sig, sizeof(sig));
	struct err e;

	(void)state;
	assert_non_null(kc);
	assert_non_null(a = pki_key_cache_get(kc, "m1", p1, &e));
	assert_non_null(b = pki_key_cache_get(kc, "m1", p1, &e));
	assert_ptr_equal(a, b); /* shared, not parsed again */
	assert_int_equal(EVP_PKEY_eq(a, k1), 1);
	/* Registered again with a new key: the new key at once. */
	assert_non_null(c = pki_key_cache_get(kc, "m1", p2, &e));
	assert_int_equal(EVP_PKEY_eq(c, k2), 1);
	assert_int_equal(pki_check_signature(c, (const uint8_t *)"request", 7, sig, n, &e), 0);
	assert_int_equal(pki_check_signature(a, (const uint8_t *)"request", 7, sig, n, &e), -1);
	EVP_PKEY_free(c);
	/* Another machine with the first key's text has its own entry. */
	assert_non_null(c = pki_key_cache_get(kc, "m2", p1, &e));
	assert_int_equal(EVP_PKEY_eq(c, k1), 1);
	EVP_PKEY_free(c);
	/* The references handed out outlive the cache. */
	pki_key_cache_free(kc);
	assert_int_equal(EVP_PKEY_eq(a, k1), 1);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	free(p1);
	free(p2);
}

static void test_text_that_is_no_key_is_refused_and_kept_nowhere(void **state)
{
	struct pki_key_cache *kc = pki_key_cache_new(NULL);
	EVP_PKEY *k = pki_key_new(NULL), *a;
	char *p = pub_pem(k);
	struct err e;

	(void)state;
	assert_null(pki_key_cache_get(kc, "m1", "not a key", &e));
	assert_int_equal(e.code, ERR_INVALID);
	assert_non_null(a = pki_key_cache_get(kc, "m1", p, &e));
	EVP_PKEY_free(a);
	p[40] ^= 1; /* damaged on its way: no longer the cached text */
	assert_null(pki_key_cache_get(kc, "m1", p, &e));
	pki_key_cache_free(kc);
	EVP_PKEY_free(k);
	free(p);
}

/* More machines than the table has slots: each still gets its own key. */
static void test_many_machines_each_get_their_own_key(void **state)
{
	struct pki_key_cache *kc = pki_key_cache_new(NULL);
	enum { N = 600 };
	EVP_PKEY *keys[2];
	char *pems[2], id[32];
	struct err e;

	(void)state;
	for (int i = 0; i < 2; i++) {
		keys[i] = pki_key_new(NULL);
		pems[i] = pub_pem(keys[i]);
	}
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			EVP_PKEY *k;

			snprintf(id, sizeof(id), "machine-%d", i);
			assert_non_null(k = pki_key_cache_get(kc, id, pems[i % 2], &e));
			assert_int_equal(EVP_PKEY_eq(k, keys[i % 2]), 1);
			EVP_PKEY_free(k);
		}
	}
	pki_key_cache_free(kc);
	for (int i = 0; i < 2; i++) {
		EVP_PKEY_free(keys[i]);
		free(pems[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_key_is_parsed_once_and_a_new_one_replaces_it),
		cmocka_unit_test(test_text_that_is_no_key_is_refused_and_kept_nowhere),
		cmocka_unit_test(test_many_machines_each_get_their_own_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
